/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of control/dsmctl/progress.c: the progress lines and the end
 * of a start or a migration, from sequences of statuses (in order, with
 * repeats, with states skipped, from other generations and nodes).
 */
#include <string.h>

#include "cunit_main.h"
#include "dsmctl/progress.h"

static struct dsmctl_track t;
static char out[4096];

/* A status: node, gen, state, then optional fields. */
static struct dsmctl_status st(unsigned node, uint64_t gen, enum dsmctl_state s)
{
	struct dsmctl_status x = { .node = node, .gen = gen, .state = s };

	snprintf(x.state_str, sizeof(x.state_str), "%s", dsmctl_state_name(s));
	return x;
}

static struct dsmctl_status ws(unsigned node, uint64_t gen, uint64_t pages, uint64_t moved)
{
	struct dsmctl_status x = st(node, gen, DSMCTL_ST_RUNNING);

	x.has = DSMCTL_HAS_PID | DSMCTL_HAS_DOWNTIME | DSMCTL_HAS_START |
		DSMCTL_HAS_WS_PAGES | DSMCTL_HAS_WS_MOVED;
	x.pid = 200;
	x.downtime_ms = 12;
	x.start_ms = 1000;
	x.ws_pages = pages;
	x.ws_moved = moved;
	return x;
}

/* Feed one status; out gets only the lines it caused. */
static bool feed(struct dsmctl_status s, uint64_t elapsed)
{
	out[0] = '\0';
	return dsmctl_track_status(&t, &s, elapsed, out, sizeof(out));
}

static void test_migration_in_order(void)
{
	struct dsmctl_status s;

	dsmctl_track_init(&t, "w", 1, 2, 5);
	CU_ASSERT_FALSE(feed(st(1, 4, DSMCTL_ST_STOPPING), 1));
	CU_ASSERT_STRING_EQUAL(out, "w: stopping on node 1\n");
	CU_ASSERT_FALSE(feed(st(1, 4, DSMCTL_ST_STOPPING), 2));
	CU_ASSERT_STRING_EQUAL(out, "");                      /* repeated: nothing */
	CU_ASSERT_FALSE(feed(st(1, 4, DSMCTL_ST_STOPPED), 3));
	CU_ASSERT_STRING_EQUAL(out, "w: stopped at safe point on node 1\n");
	CU_ASSERT_FALSE(feed(st(2, 5, DSMCTL_ST_STARTING), 4));
	CU_ASSERT_STRING_EQUAL(out, "w: starting on node 2\n");
	s = st(2, 5, DSMCTL_ST_RUNNING);
	s.has = DSMCTL_HAS_PID | DSMCTL_HAS_DOWNTIME;
	s.pid = 200;
	s.downtime_ms = 12;
	CU_ASSERT_FALSE(feed(s, 5));                          /* no ws_pages yet */
	CU_ASSERT_STRING_EQUAL(out, "w: running on node 2, pid 200 (downtime 12 ms)\n");
	CU_ASSERT_FALSE(feed(ws(2, 5, 10, 3), 6));
	CU_ASSERT_STRING_EQUAL(out, "w: working set 3/10 pages\n");
	CU_ASSERT_FALSE(feed(ws(2, 5, 10, 3), 7));
	CU_ASSERT_STRING_EQUAL(out, "");
	s = ws(2, 5, 10, 10);
	s.has |= DSMCTL_HAS_WS_DONE;
	s.ws_done_ms = 1040;
	CU_ASSERT_TRUE(feed(s, 77));
	CU_ASSERT_STRING_EQUAL(out, "w: working set 10/10 pages\n"
			       "w: done in 77 ms (downtime 12 ms, "
			       "working set 10 pages in 40 ms)\n");
	CU_ASSERT_EQUAL(t.phase, DSMCTL_PH_DONE);
	CU_ASSERT_EQUAL(t.pid, 200);
	CU_ASSERT_EQUAL(t.downtime_ms, 12);
	CU_ASSERT_EQUAL(t.ws_pages, 10);
	CU_ASSERT_EQUAL(t.ws_ms, 40);
	CU_ASSERT_EQUAL(t.total_ms, 77);
	/* Finished: later statuses change nothing. */
	CU_ASSERT_TRUE(feed(st(2, 5, DSMCTL_ST_FAILED), 90));
	CU_ASSERT_EQUAL(t.phase, DSMCTL_PH_DONE);
}

/* A supervisor may write fewer statuses than there are phases. */
static void test_skipped_states_and_empty_working_set(void)
{
	dsmctl_track_init(&t, "w", 1, 3, 2);
	CU_ASSERT_TRUE(feed(ws(3, 2, 0, 0), 9));
	CU_ASSERT_STRING_EQUAL(out, "w: running on node 3, pid 200 (downtime 12 ms)\n"
			       "w: done in 9 ms (downtime 12 ms, working set 0 pages in 0 ms)\n");
	CU_ASSERT_EQUAL(t.ws_ms, 0);
	/* Late source statuses after the target started show nothing. */
	dsmctl_track_init(&t, "w", 1, 3, 2);
	CU_ASSERT_FALSE(feed(st(3, 2, DSMCTL_ST_STARTING), 1));
	CU_ASSERT_FALSE(feed(st(1, 1, DSMCTL_ST_STOPPED), 2));
	CU_ASSERT_STRING_EQUAL(out, "");
}

static void test_other_statuses_ignored(void)
{
	dsmctl_track_init(&t, "w", 1, 2, 5);
	/* The old generation still running on the source, another node, the
	 * target with an old generation: no line, not finished. */
	CU_ASSERT_FALSE(feed(st(1, 4, DSMCTL_ST_RUNNING), 1));
	CU_ASSERT_FALSE(feed(st(3, 5, DSMCTL_ST_RUNNING), 1));
	CU_ASSERT_FALSE(feed(st(2, 4, DSMCTL_ST_RUNNING), 1));
	CU_ASSERT_FALSE(feed(st(2, 5, DSMCTL_ST_UNKNOWN), 1));
	CU_ASSERT_EQUAL(t.phase, DSMCTL_PH_NONE);
	/* The old process ending by itself counts as stopped. */
	CU_ASSERT_FALSE(feed(st(1, 4, DSMCTL_ST_EXITED), 1));
	CU_ASSERT_STRING_EQUAL(out, "w: stopped on node 1 (exited)\n");
}

static void test_failures(void)
{
	struct dsmctl_status s = st(2, 5, DSMCTL_ST_FAILED);
	char where[128];

	dsmctl_track_init(&t, "w", 1, 2, 5);
	snprintf(s.error, sizeof(s.error), "exec: No such file");
	CU_ASSERT_TRUE(feed(s, 1));
	CU_ASSERT_EQUAL(t.phase, DSMCTL_PH_FAILED);
	CU_ASSERT_STRING_EQUAL(t.error, "workload w failed on node 2: exec: No such file");
	dsmctl_track_init(&t, "w", 0, 2, 1);
	s = st(2, 1, DSMCTL_ST_EXITED);
	s.has = DSMCTL_HAS_EXIT;
	s.exit_code = 3;
	CU_ASSERT_TRUE(feed(s, 1));
	CU_ASSERT_STRING_EQUAL(t.error, "workload w exited with status 3 on node 2");
	/* A newer generation in a status: someone else moved it. */
	dsmctl_track_init(&t, "w", 1, 2, 5);
	CU_ASSERT_TRUE(feed(st(3, 6, DSMCTL_ST_STARTING), 1));
	CU_ASSERT_STRING_EQUAL(t.error, "workload w was changed by someone else "
			       "(generation 6, expected 5)");
	dsmctl_track_init(&t, "w", 1, 2, 5);
	dsmctl_track_spec_changed(&t, 0);
	CU_ASSERT_TRUE(t.finished);
	CU_ASSERT_STRING_EQUAL(t.error, "workload w was stopped (its spec was deleted)");
	dsmctl_track_init(&t, "w", 1, 2, 5);
	feed(st(1, 4, DSMCTL_ST_STOPPING), 1);
	dsmctl_track_where(&t, where, sizeof(where));
	CU_ASSERT_STRING_EQUAL(where, "w on node 2: stopping on the source node");
}

static void test_start_is_over_when_running(void)
{
	struct dsmctl_status s = st(4, 1, DSMCTL_ST_RUNNING);

	dsmctl_track_init(&t, "w", 0, 4, 1);
	CU_ASSERT_FALSE(feed(st(4, 1, DSMCTL_ST_STARTING), 1));
	CU_ASSERT_STRING_EQUAL(out, "w: starting on node 4\n");
	s.has = DSMCTL_HAS_PID;
	s.pid = 42;
	CU_ASSERT_TRUE(feed(s, 2));   /* no working set for a first start */
	CU_ASSERT_STRING_EQUAL(out, "w: running on node 4, pid 42\n");
	CU_ASSERT_EQUAL(t.pid, 42);
	CU_ASSERT_EQUAL(t.phase, DSMCTL_PH_RUNNING);
}

static void test_small_buffer_never_overflows(void)
{
	char tiny[8] = "";

	dsmctl_track_init(&t, "a-rather-long-workload-name", 1, 2, 2);
	struct dsmctl_status s = st(1, 1, DSMCTL_ST_STOPPING);

	dsmctl_track_status(&t, &s, 1, tiny, sizeof(tiny));
	CU_ASSERT(strlen(tiny) < sizeof(tiny));
	CU_ASSERT_EQUAL(t.phase, DSMCTL_PH_STOPPING);
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "migration_in_order", test_migration_in_order },
		{ "skipped_states_and_empty_working_set",
		  test_skipped_states_and_empty_working_set },
		{ "other_statuses_ignored", test_other_statuses_ignored },
		{ "failures", test_failures },
		{ "start_is_over_when_running", test_start_is_over_when_running },
		{ "small_buffer_never_overflows", test_small_buffer_never_overflows },
	};

	return DSM_CUNIT_MAIN("dsmctl_progress", tests, NULL);
}
