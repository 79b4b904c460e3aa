/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * control/membership/agent.c against a real etcd (control/etcd/local.c
 * starts one on free loopback ports and stops it by pid): nodes (threads,
 * each with its own agent and etcd client) join at once and agree on one
 * view; a crashed node (lease left to expire) is written off within twice
 * the TTL; a node that leaves gracefully at once; a paused node finds itself
 * fenced when it resumes and rejoins with a new incarnation.  Every epoch
 * seen by any two nodes has the same members (consistent epochs).
 * Exits non-zero on any failure; never skips.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd/local.h"
#include "membership/agent.h"
#include "live_clock.h"

#define NODES 3
#define TTL_S 2
#define MAX_HISTORY 64

struct node {
	struct dsm_agent a;
	pthread_t thread;
	pthread_mutex_t lock;
	volatile int run;        /* 1: step, 0: pause, -1: exit */
	volatile bool fenced;
	volatile bool idle;      /* the thread saw run == 0 and is not stepping */
	struct dsm_view history[MAX_HISTORY];
	unsigned nhist;
	uint16_t id;
};

static struct node nodes[NODES + 1];
static struct dsm_etcd_local etcd;
static int failures;

#define CHECK(cond, ...) do {                                             \
	if (!(cond)) {                                                    \
		fprintf(stderr, "agent_live: FAIL %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__);                             \
		fprintf(stderr, "\n");                                    \
		failures++;                                               \
		return;                                                   \
	}                                                                 \
} while (0)

static void on_view(void *ctx, const struct dsm_view *old, const struct dsm_view *cur)
{
	struct node *n = ctx;

	(void)old;
	pthread_mutex_lock(&n->lock);
	if (n->nhist < MAX_HISTORY)
		n->history[n->nhist++] = *cur;
	pthread_mutex_unlock(&n->lock);
}

static void on_fenced(void *ctx)
{
	((struct node *)ctx)->fenced = true;
}

static void *node_main(void *arg)
{
	struct node *n = arg;
	struct timespec idle = { 0, 10 * 1000000L };

	while (n->run >= 0) {
		n->idle = n->run == 0;
		if (n->run)
			dsm_agent_step(&n->a, 100);
		else
			nanosleep(&idle, NULL);   /* paused: a stopped process */
	}
	return NULL;
}

static int start_node(uint16_t id, uint64_t incarnation)
{
	const struct dsm_agent_cfg cfg = { .endpoints = etcd.url, .cluster = "live",
					   .node = id, .incarnation = incarnation, .ttl_s = TTL_S };
	const struct dsm_agent_ops ops = { .on_view = on_view, .on_fenced = on_fenced,
					   .ctx = &nodes[id] };
	struct node *n = &nodes[id];
	int ret;

	n->id = id;
	pthread_mutex_init(&n->lock, NULL);
	ret = dsm_agent_start(&n->a, &cfg, &ops);
	if (ret == 0) {
		n->run = 1;
		pthread_create(&n->thread, NULL, node_main, n);
	}
	return ret;
}

/* Pause a node's thread and wait until it no longer steps (its agent and
 * etcd client are then ours to use). */
static void pause_node(struct node *n)
{
	struct timespec ts = { 0, 2 * 1000000L };

	n->idle = false;
	n->run = 0;
	while (!n->idle)
		nanosleep(&ts, NULL);
}

static void stop_thread(struct node *n)
{
	n->run = -1;
	pthread_join(n->thread, NULL);
}

static struct dsm_view current(struct node *n)
{
	struct dsm_view v = { 0 };

	pthread_mutex_lock(&n->lock);
	if (n->nhist)
		v = n->history[n->nhist - 1];
	pthread_mutex_unlock(&n->lock);
	return v;
}

/* Wait until node id's view has exactly the members listed (0-ended). */
static bool await_members(uint16_t id, const uint16_t *want, unsigned ms, uint64_t *took)
{
	uint64_t t0 = now_ms();

	while (now_ms() - t0 < ms) {
		struct dsm_view v = current(&nodes[id]);
		unsigned k = 0;
		bool same = true;

		for (; want[k]; k++)
			same = same && k < v.n && v.m[k].node == want[k];
		if (same && v.n == k) {
			*took = now_ms() - t0;
			return true;
		}
		struct timespec ts = { 0, 5 * 1000000L };

		nanosleep(&ts, NULL);   /* polling another thread's state */
	}
	return false;
}

/* Every epoch number two nodes both saw has the same members; epochs only
 * grow at every node. */
static void check_consistent(void)
{
	for (int i = 1; i <= NODES; i++) {
		for (unsigned h = 1; h < nodes[i].nhist; h++)
			CHECK(nodes[i].history[h].epoch > nodes[i].history[h - 1].epoch,
			      "node %d: epoch went from %lu to %lu", i,
			      (unsigned long)nodes[i].history[h - 1].epoch,
			      (unsigned long)nodes[i].history[h].epoch);
		for (int j = i + 1; j <= NODES; j++)
			for (unsigned x = 0; x < nodes[i].nhist; x++)
				for (unsigned y = 0; y < nodes[j].nhist; y++) {
					const struct dsm_view *a = &nodes[i].history[x];
					const struct dsm_view *b = &nodes[j].history[y];
					bool same = a->n == b->n;

					if (a->epoch != b->epoch)
						continue;
					for (unsigned k = 0; same && k < a->n; k++)
						same = a->m[k].node == b->m[k].node &&
						       a->m[k].incarnation == b->m[k].incarnation;
					CHECK(same, "epoch %lu differs between nodes %d and %d",
					      (unsigned long)a->epoch, i, j);
				}
	}
}

static void test_join_together(void)
{
	static const uint16_t all[] = { 1, 2, 3, 0 };
	uint64_t took;

	for (uint16_t id = 1; id <= NODES; id++)
		CHECK(start_node(id, 100 + id) == 0, "node %u did not start", id);
	for (uint16_t id = 1; id <= NODES; id++)
		CHECK(await_members(id, all, 10000, &took), "node %u: no view of all three", id);
	CHECK(current(&nodes[1]).epoch == current(&nodes[2]).epoch &&
	      current(&nodes[2]).epoch == current(&nodes[3]).epoch, "nodes disagree on the epoch");
	printf("agent_live: three nodes joined together: epoch %lu, %lu proposals won, "
	       "%lu lost\n", (unsigned long)current(&nodes[1]).epoch,
	       (unsigned long)(nodes[1].a.st.cas_won + nodes[2].a.st.cas_won + nodes[3].a.st.cas_won),
	       (unsigned long)(nodes[1].a.st.cas_lost + nodes[2].a.st.cas_lost + nodes[3].a.st.cas_lost));
}

static void test_crash_detected(void)
{
	static const uint16_t survivors[] = { 1, 2, 0 };
	uint64_t took;

	/* A crash: no more renewals, no revoke. */
	stop_thread(&nodes[3]);
	dsm_agent_abandon(&nodes[3].a);
	uint64_t took2;

	CHECK(await_members(1, survivors, 4 * TTL_S * 1000, &took) &&
	      await_members(2, survivors, 1000, &took2), "node 3 not written off");
	CHECK(took <= 2 * TTL_S * 1000, "detected after %lu ms (TTL %d s)", (unsigned long)took, TTL_S);
	printf("agent_live: crashed node written off after %lu ms (lease TTL %d s)\n",
	       (unsigned long)took, TTL_S);
}

static void test_pause_fenced_rejoin(void)
{
	static const uint16_t one[] = { 1, 0 }, both[] = { 1, 2, 0 };
	uint64_t took;

	pause_node(&nodes[2]);               /* SIGSTOP */
	CHECK(await_members(1, one, 4 * TTL_S * 1000, &took), "paused node not written off");
	nodes[2].run = 1;                    /* SIGCONT */
	{
		uint64_t t0 = now_ms();

		while (!nodes[2].fenced && now_ms() - t0 < 5000) {
			struct timespec ts = { 0, 5 * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	CHECK(nodes[2].fenced, "the paused node did not find itself fenced");
	pause_node(&nodes[2]);
	CHECK(dsm_agent_rejoin(&nodes[2].a, 999) == 0, "rejoin failed");
	nodes[2].run = 1;
	CHECK(await_members(1, both, 5000, &took), "rejoined node not taken back");
	CHECK(dsm_view_has(&nodes[1].history[nodes[1].nhist - 1], 2, 999),
	      "rejoined with the old incarnation");
	printf("agent_live: paused node fenced on resume, rejoined with a new incarnation\n");
}

static void test_graceful_leave(void)
{
	static const uint16_t one[] = { 1, 0 };
	uint64_t took;

	stop_thread(&nodes[2]);
	dsm_agent_leave(&nodes[2].a);
	CHECK(await_members(1, one, 2000, &took), "left node still in the view");
	CHECK(took < TTL_S * 1000, "a graceful leave took %lu ms", (unsigned long)took);
	printf("agent_live: graceful leave seen after %lu ms\n", (unsigned long)took);
}

int main(void)
{
	int ret = dsm_etcd_local_start(&etcd, NULL, 0, 20000);

	if (ret) {
		fprintf(stderr, "agent_live: etcd did not start: %s (%s/etcd.log)\n",
			strerror(-ret), etcd.dir);
		return 1;
	}
	test_join_together();
	if (!failures)
		test_crash_detected();
	if (!failures)
		test_pause_fenced_rejoin();
	if (!failures)
		test_graceful_leave();
	check_consistent();
	for (int i = 1; i <= NODES; i++)
		if (nodes[i].thread && nodes[i].run >= 0) {
			stop_thread(&nodes[i]);
			dsm_agent_leave(&nodes[i].a);
		}
	dsm_etcd_local_stop(&etcd, failures != 0);
	printf("agent_live: %s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
