/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * control/workload/supervisor_logic.c: what a node supervisor decides for
 * every combination of spec, status and local process that matters.
 */
#include <string.h>

#include "../cunit_main.h"
#include "workload/supervisor_logic.h"

#define SELF 2

static struct dsm_wl_spec spec;
static struct dsm_wl_status status;
static struct dsm_sup_view view;
static struct dsm_sup_local local;

static void setup(void)
{
	memset(&spec, 0, sizeof(spec));
	memset(&status, 0, sizeof(status));
	memset(&local, 0, sizeof(local));
	strcpy(spec.name, "w1");
	spec.node = SELF;
	spec.gen = 1;
	strcpy(status.name, "w1");
	view = (struct dsm_sup_view){ .spec = &spec, .spec_rev = 10, .prev_alive = -1 };
}

static void set_status(uint64_t gen, uint16_t node, enum dsm_wl_state state)
{
	status.gen = gen;
	status.node = node;
	status.state = state;
	view.status = &status;
}

static void run_local(uint64_t gen, bool stopping)
{
	local = (struct dsm_sup_local){ .running = true, .stopping = stopping, .gen = gen,
					.spec_rev = 10 };
}

static struct dsm_sup_decision decide(void)
{
	return dsm_sup_decide(SELF, &view, &local);
}

static void test_new_workload_starts_fresh(void)
{
	struct dsm_sup_decision d = decide();

	CU_ASSERT_EQUAL(d.action, DSM_SUP_START);
	CU_ASSERT_FALSE(d.resume);
	CU_ASSERT_FALSE(d.restart);
}

static void test_other_node_spec_ignored(void)
{
	spec.node = 3;
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_NONE);
	set_status(1, 3, DSM_WL_RUNNING);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_NONE);
}

static void test_running_same_gen_keeps_running(void)
{
	run_local(1, false);
	set_status(1, SELF, DSM_WL_RUNNING);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_NONE);
}

static void test_migrate_away_stops_at_safe_point(void)
{
	run_local(1, false);
	spec.node = 3;
	spec.gen = 2;
	set_status(1, SELF, DSM_WL_RUNNING);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_STOP_MIGRATE);
	/* Once asked, nothing more until it exits. */
	run_local(1, true);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_NONE);
}

static void test_new_gen_here_restarts_in_place(void)
{
	run_local(1, false);
	spec.gen = 2;
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_STOP_MIGRATE);
	/* After it stopped: the same node starts gen 2, resuming. */
	local = (struct dsm_sup_local){ 0 };
	set_status(1, SELF, DSM_WL_STOPPED);
	struct dsm_sup_decision d = decide();

	CU_ASSERT_EQUAL(d.action, DSM_SUP_START);
	CU_ASSERT_TRUE(d.resume);
	CU_ASSERT_FALSE(d.restart);
}

static void test_node_change_without_gen_stops(void)
{
	run_local(1, false);
	spec.node = 3;
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_STOP_MIGRATE);
}

static void test_destination_waits_for_stop(void)
{
	spec.gen = 2;
	set_status(1, 1, DSM_WL_RUNNING);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_ASK_LIVENESS);
	view.prev_alive = 1;
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_WAIT);
	set_status(1, 1, DSM_WL_STOPPING);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_WAIT);
}

static void test_destination_starts_after_stop(void)
{
	struct dsm_sup_decision d;

	spec.gen = 2;
	set_status(1, 1, DSM_WL_STOPPED);
	d = decide();
	CU_ASSERT_EQUAL(d.action, DSM_SUP_START);
	CU_ASSERT_TRUE(d.resume);
	CU_ASSERT_FALSE(d.restart);
}

static void test_destination_restarts_after_failure(void)
{
	struct dsm_sup_decision d;

	spec.gen = 2;
	set_status(1, 1, DSM_WL_FAILED);
	d = decide();
	CU_ASSERT_EQUAL(d.action, DSM_SUP_START);
	CU_ASSERT_TRUE(d.resume);
	CU_ASSERT_TRUE(d.restart);
	set_status(1, 1, DSM_WL_EXITED);
	CU_ASSERT_TRUE(decide().restart);
}

static void test_dead_source_node_restarts(void)
{
	struct dsm_sup_decision d;

	spec.gen = 2;
	set_status(1, 1, DSM_WL_RUNNING);
	view.prev_alive = 0;
	d = decide();
	CU_ASSERT_EQUAL(d.action, DSM_SUP_START);
	CU_ASSERT_TRUE(d.restart);
}

static void test_missing_status_of_later_gen_restarts(void)
{
	struct dsm_sup_decision d;

	spec.gen = 3;
	d = decide();
	CU_ASSERT_EQUAL(d.action, DSM_SUP_START);
	CU_ASSERT_TRUE(d.resume);
	CU_ASSERT_TRUE(d.restart);
}

static void test_ended_generation_stays_ended(void)
{
	set_status(1, SELF, DSM_WL_EXITED);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_NONE);
	set_status(1, SELF, DSM_WL_FAILED);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_NONE);
	set_status(1, SELF, DSM_WL_STOPPED);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_NONE);
}

static void test_orphaned_generation_restarts(void)
{
	struct dsm_sup_decision d;

	set_status(1, SELF, DSM_WL_RUNNING);
	d = decide();
	CU_ASSERT_EQUAL(d.action, DSM_SUP_START);
	CU_ASSERT_TRUE(d.resume);
	/* Another node claims this generation: not ours to start. */
	set_status(1, 3, DSM_WL_RUNNING);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_WAIT);
}

static void test_stale_claim_marked_failed(void)
{
	spec.node = 3;
	spec.gen = 2;
	set_status(1, SELF, DSM_WL_RUNNING);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_MARK_FAILED);
	set_status(1, SELF, DSM_WL_STOPPED);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_NONE);
}

static void test_status_newer_than_spec(void)
{
	set_status(4, SELF, DSM_WL_STOPPED);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_NONE);
}

static void test_spec_deleted(void)
{
	view.spec = NULL;
	run_local(1, false);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_STOP_DELETE);
	local = (struct dsm_sup_local){ 0 };
	set_status(1, SELF, DSM_WL_RUNNING);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_FORGET);
	set_status(1, 3, DSM_WL_RUNNING);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_NONE);
}

static void test_spec_replaced(void)
{
	struct dsm_sup_decision d;

	run_local(3, false);
	view.spec_rev = 99;   /* deleted and created again */
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_STOP_DELETE);
	/* The old incarnation's status says nothing about the new one. */
	local = (struct dsm_sup_local){ 0 };
	set_status(3, SELF, DSM_WL_STOPPED);
	status.spec_rev = 10;
	d = decide();
	CU_ASSERT_EQUAL(d.action, DSM_SUP_START);
	CU_ASSERT_FALSE(d.resume);
}

static void test_spec_went_back(void)
{
	run_local(3, false);
	spec.gen = 2;
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_STOP_DELETE);
}

static void test_bad_spec_changes_nothing(void)
{
	view.spec = NULL;
	view.spec_bad = true;
	run_local(1, false);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_NONE);
	local = (struct dsm_sup_local){ 0 };
	set_status(1, SELF, DSM_WL_RUNNING);
	CU_ASSERT_EQUAL(decide().action, DSM_SUP_NONE);
}

static void test_ws_write_rate(void)
{
	CU_ASSERT_FALSE(dsm_sup_ws_write_due(1050, 1000, 100, true, false));
	CU_ASSERT_TRUE(dsm_sup_ws_write_due(1100, 1000, 100, true, false));
	CU_ASSERT_FALSE(dsm_sup_ws_write_due(5000, 1000, 100, false, false));
	CU_ASSERT_TRUE(dsm_sup_ws_write_due(1001, 1000, 100, false, true));
}

static void test_downtime(void)
{
	struct dsm_wl_status prev = { .gen = 1, .stop_ms = 1000 };
	int64_t dt = -1;

	CU_ASSERT_TRUE(dsm_sup_downtime(&prev, 2, 1234, &dt));
	CU_ASSERT_EQUAL(dt, 234);
	CU_ASSERT_FALSE(dsm_sup_downtime(&prev, 1, 1234, &dt));
	CU_ASSERT_FALSE(dsm_sup_downtime(NULL, 2, 1234, &dt));
	prev.stop_ms = 0;
	CU_ASSERT_FALSE(dsm_sup_downtime(&prev, 2, 1234, &dt));
}

static void test_action_names(void)
{
	CU_ASSERT_STRING_EQUAL(dsm_sup_action_name(DSM_SUP_START), "start");
	CU_ASSERT_STRING_EQUAL(dsm_sup_action_name(DSM_SUP_MARK_FAILED), "mark-failed");
	CU_ASSERT_STRING_EQUAL(dsm_sup_action_name((enum dsm_sup_action)99), "?");
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "new workload starts fresh", test_new_workload_starts_fresh },
		{ "spec for another node ignored", test_other_node_spec_ignored },
		{ "running, same generation", test_running_same_gen_keeps_running },
		{ "migrate away: stop at safe point", test_migrate_away_stops_at_safe_point },
		{ "new generation on the same node", test_new_gen_here_restarts_in_place },
		{ "node changed without a new gen", test_node_change_without_gen_stops },
		{ "destination waits for the stop", test_destination_waits_for_stop },
		{ "destination starts after stopped", test_destination_starts_after_stop },
		{ "destination restarts after failure", test_destination_restarts_after_failure },
		{ "dead source node: restart", test_dead_source_node_restarts },
		{ "no status for gen > 1: restart", test_missing_status_of_later_gen_restarts },
		{ "an ended generation stays ended", test_ended_generation_stays_ended },
		{ "orphaned generation restarts", test_orphaned_generation_restarts },
		{ "stale claim marked failed", test_stale_claim_marked_failed },
		{ "status newer than spec", test_status_newer_than_spec },
		{ "spec deleted", test_spec_deleted },
		{ "spec replaced", test_spec_replaced },
		{ "spec went back a generation", test_spec_went_back },
		{ "undecodable spec changes nothing", test_bad_spec_changes_nothing },
		{ "working-set write rate", test_ws_write_rate },
		{ "downtime", test_downtime },
		{ "action names", test_action_names },
	};

	return DSM_CUNIT_MAIN("workload_logic", tests, setup);
}
