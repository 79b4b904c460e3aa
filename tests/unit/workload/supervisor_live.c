/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * control/workload's supervisor against a real etcd (control/etcd/local.c
 * starts one on free loopback ports and stops it by pid), without a
 * dataplane: two supervisors (nodes 1 and 2, threads of this process) with
 * fake hooks, and fake_workload as the workload.  It covers: run; migrate
 * (stopping -> hot list -> stopped -> running elsewhere with DSM_RESUME
 * and the hot-list file, downtime); working-set arrival (ws_moved, then
 * ws_done_ms); migrating back; a workload that ends by itself; one that
 * ignores the stop request (killed, failed, restarted on the destination);
 * a spawn failure; a deleted spec (terminated, records removed); a spec
 * that does not decode and int64-as-string; a previous node that is not a
 * member (restart); supervisor stop (workloads terminated, status failed).
 * Exits non-zero on any failure; never skips.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "etcd/etcd.h"
#include "etcd/local.h"
#include "workload/hotlist.h"
#include "workload/records.h"
#include "workload/supervisor.h"
#include "live_clock.h"

#define P "/dsm/live/"
#define WP P "workloads/"
#define HOT_PAGES 1000
#define SEG 7
#define WAIT_MS 10000

struct fake_node {
	pthread_mutex_t lock;
	uint64_t held[HOT_PAGES];
	size_t nheld;
	unsigned pid_calls;
};

static struct dsm_etcd_local etcd;
static struct dsm_etcd *cli;
static struct fake_node fake[3];
static struct dsm_supervisor *sup[3];
static char tmpdir[64], dirs[3][128], sock[3][128];
static const char *fake_prog;
static int failures;

#define CHECK(cond, ...) do {                                                     \
	if (!(cond)) {                                                            \
		fprintf(stderr, "supervisor_live: FAIL %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__);                                     \
		fprintf(stderr, "\n");                                            \
		failures++;                                                       \
		return;                                                           \
	}                                                                         \
} while (0)

/* ------------------------------------------------------------ fake hooks */

static int fake_pid_segments(void *ctx, int pid, uint32_t *ids, uint32_t max)
{
	struct fake_node *n = ctx;

	(void)pid;
	pthread_mutex_lock(&n->lock);
	n->pid_calls++;
	pthread_mutex_unlock(&n->lock);
	if (max < 2)
		return -ENOSPC;
	ids[0] = SEG;
	ids[1] = SEG + 2;   /* attached, but nothing of it held */
	return 2;
}

/* A small max forces the supervisor's buffer growth path too. */
static int fake_held_pages(void *ctx, uint32_t seg, uint64_t *pgnos, uint32_t max)
{
	struct fake_node *n = ctx;
	size_t k;

	if (seg != SEG)
		return 0;
	pthread_mutex_lock(&n->lock);
	k = n->nheld < max ? n->nheld : max;
	memcpy(pgnos, n->held, k * sizeof(*pgnos));
	pthread_mutex_unlock(&n->lock);
	return (int)k;
}

/* Node holds pages [0, count) of SEG, most recently faulted first as a
 * walk in page order leaves them: descending. */
static void set_held(int node, size_t count)
{
	struct fake_node *n = &fake[node];

	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < count; i++)
		n->held[i] = count - 1 - i;
	n->nheld = count;
	pthread_mutex_unlock(&n->lock);
}

static int start_sup(int node, unsigned stop_timeout_ms)
{
	struct dsm_supervisor_cfg cfg = {
		.endpoints = etcd.url, .cluster = "live", .node = (uint16_t)node,
		.socket_path = sock[node], .state_dir = dirs[node],
		.stop_timeout_ms = stop_timeout_ms, .ws_timeout_ms = 20000,
		.hooks = { .pid_segments = fake_pid_segments,
			   .held_pages = fake_held_pages, .ctx = &fake[node] },
	};

	return dsm_supervisor_start(&cfg, &sup[node]);
}

/* --------------------------------------------------------------- records */

static int put(const char *key, const char *fmt, ...)
{
	char val[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	return dsm_etcd_put(cli, key, val, strlen(val), 0, NULL);
}

static int64_t put_spec(const char *name, int node, int gen, const char *argv_json)
{
	char key[128], val[1024];
	int64_t rev = 0;

	snprintf(key, sizeof(key), WP "%s/spec", name);
	snprintf(val, sizeof(val), "{\"name\":\"%s\",\"argv\":%s,\"node\":%d,\"gen\":%d,"
		 "\"env\":{\"WL_X\":\"hello\"}}", name, argv_json, node, gen);
	return dsm_etcd_put(cli, key, val, strlen(val), 0, &rev) ? -1 : rev;
}

static bool get_status(const char *name, struct dsm_wl_status *st)
{
	struct dsm_etcd_kv kv = { 0 };
	char key[128];
	bool ok;

	snprintf(key, sizeof(key), WP "%s/status", name);
	ok = dsm_etcd_get(cli, key, &kv) == 0 &&
	     dsm_wl_status_decode(kv.value, kv.value_len, st) == 0;
	dsm_etcd_kv_clear(&kv);
	return ok;
}

/* Wait until name's status has gen, node and state (DSM_WL_NONE: any). */
static bool await_status(const char *name, uint64_t gen, uint16_t node,
			 enum dsm_wl_state state, struct dsm_wl_status *st)
{
	uint64_t deadline = now_ms() + WAIT_MS;

	while (now_ms() < deadline) {
		if (get_status(name, st) && st->gen == gen && st->node == node &&
		    (state == DSM_WL_NONE || st->state == state))
			return true;
		poll_pause_ms(10);
	}
	return false;
}

static bool await_gone(const char *key)
{
	uint64_t deadline = now_ms() + WAIT_MS;

	while (now_ms() < deadline) {
		struct dsm_etcd_kv kv = { 0 };
		int ret = dsm_etcd_get(cli, key, &kv);

		dsm_etcd_kv_clear(&kv);
		if (ret == -ENOENT)
			return true;
		poll_pause_ms(10);
	}
	return false;
}

/* The states a status key went through since rev, as "running:1 ...". */
struct history {
	char text[2048];
	unsigned writes;
};

static int on_hist(void *arg, const struct dsm_etcd_event *ev)
{
	struct history *h = arg;
	struct dsm_wl_status st;
	size_t len = strlen(h->text);

	if (ev->type == DSM_ETCD_PUT &&
	    dsm_wl_status_decode(ev->kv.value, ev->kv.value_len, &st) == 0)
		snprintf(h->text + len, sizeof(h->text) - len, "%s%s:%" PRIu64 "@%u",
			 len ? " " : "", dsm_wl_state_name(st.state), st.gen, st.node);
	h->writes++;
	return 0;
}

static void history(const char *name, int64_t from_rev, struct history *h)
{
	char key[128];

	memset(h, 0, sizeof(*h));
	snprintf(key, sizeof(key), WP "%s/status", name);
	/* Replays the key's history from from_rev; ends at the timeout. */
	dsm_etcd_watch(cli, key, from_rev, on_hist, h, 300, NULL);
}

/* ------------------------------------------------------------- workload log */

/* The first JSON line of <dir>/<name>.<gen>.log whose "event" is event. */
static json_t *log_event(int node, const char *name, int gen, const char *event)
{
	uint64_t deadline = now_ms() + WAIT_MS;
	char path[256], line[1024];

	snprintf(path, sizeof(path), "%s/%s.%d.log", dirs[node], name, gen);
	while (now_ms() < deadline) {
		FILE *f = fopen(path, "r");

		while (f && fgets(line, sizeof(line), f)) {
			json_t *o = json_loads(line, 0, NULL);
			const char *e = json_string_value(json_object_get(o, "event"));

			if (e && strcmp(e, event) == 0) {
				fclose(f);
				return o;
			}
			json_decref(o);
		}
		if (f)
			fclose(f);
		poll_pause_ms(10);
	}
	return NULL;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static long long jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* ------------------------------------------------------------------ tests */

static char argv_plain[512];

static void test_run(void)
{
	struct dsm_wl_status st;
	json_t *start;

	CHECK(put_spec("w1", 1, 1, argv_plain) > 0, "put spec: %s", dsm_etcd_last_error(cli));
	CHECK(await_status("w1", 1, 1, DSM_WL_RUNNING, &st), "w1 not running on node 1");
	CHECK(st.pid > 0 && st.start_ms > 0 && !st.has_downtime && !st.has_ws,
	      "bad running status (pid %d)", st.pid);
	start = log_event(1, "w1", 1, "start");
	CHECK(start, "no start line in w1.1.log");
	CHECK(jint(start, "installed") == 1 && jint(start, "resumed") == 0 &&
	      strcmp(jstr(start, "gen"), "1") == 0 && strcmp(jstr(start, "workload"), "w1") == 0 &&
	      strcmp(jstr(start, "socket"), sock[1]) == 0 && strcmp(jstr(start, "x"), "hello") == 0 &&
	      jint(start, "hot_lines") == -1, "wrong environment: %s",
	      json_dumps(start, JSON_COMPACT));
	json_decref(start);
	printf("supervisor_live: w1 runs on node 1, pid %d\n", st.pid);
}

static void check_hot(const char *name, uint64_t gen, uint16_t node, uint64_t pages)
{
	struct dsm_etcd_kv kv = { 0 };
	struct dsm_hotlist hl = { 0 };
	char key[128];
	int ret;

	snprintf(key, sizeof(key), WP "%s/hot", name);
	ret = dsm_etcd_get(cli, key, &kv);
	if (ret == 0)
		ret = dsm_hotlist_decode(kv.value, kv.value_len, &hl);
	dsm_etcd_kv_clear(&kv);
	CHECK(ret == 0, "no hot list for %s: %d", name, ret);
	CHECK(hl.gen == gen && hl.node == node && hl.nsegs == 2 && hl.segs[0].seg == SEG &&
	      hl.segs[1].nruns == 0 && dsm_hotlist_pages(&hl) == pages,
	      "hot list: gen %" PRIu64 " node %u segs %zu pages %" PRIu64, hl.gen, hl.node,
	      hl.nsegs, dsm_hotlist_pages(&hl));
	/* A walk in page order: the most recent window first. */
	CHECK(hl.segs[0].runs[0].first + hl.segs[0].runs[0].count == pages,
	      "first run [%" PRIu64 ", +%" PRIu64 ")", hl.segs[0].runs[0].first,
	      hl.segs[0].runs[0].count);
	dsm_hotlist_free(&hl);
}

static void test_migrate(void)
{
	struct dsm_wl_status st, old;
	struct history h;
	int64_t rev;
	json_t *start, *stop;

	CHECK(get_status("w1", &old), "no status");
	set_held(1, HOT_PAGES);
	rev = put_spec("w1", 2, 2, argv_plain);
	CHECK(rev > 0, "put spec");
	CHECK(await_status("w1", 2, 2, DSM_WL_RUNNING, &st), "w1 gen 2 not running on node 2");
	stop = log_event(1, "w1", 1, "stop");
	CHECK(stop, "gen 1 did not reach its safe point");
	json_decref(stop);
	CHECK(kill(old.pid, 0) == -1 && errno == ESRCH, "gen 1 (pid %d) still exists", old.pid);
	history("w1", rev, &h);
	CHECK(strncmp(h.text, "stopping:1@1 stopped:1@1 running:2@2",
		      strlen("stopping:1@1 stopped:1@1 running:2@2")) == 0,
	      "status went: %s", h.text);
	check_hot("w1", 1, 1, HOT_PAGES);
	CHECK(st.has_downtime && st.downtime_ms >= 0 && st.downtime_ms < 5000,
	      "downtime %" PRId64, st.downtime_ms);
	CHECK(st.has_ws && st.ws_pages == HOT_PAGES, "ws_pages %" PRIu64, st.ws_pages);
	start = log_event(2, "w1", 2, "start");
	CHECK(start, "no start line in node 2's w1.2.log");
	CHECK(jint(start, "resumed") == 1 && strcmp(jstr(start, "gen"), "2") == 0 &&
	      jint(start, "hot_lines") == 4 && jint(start, "hot_pages") == HOT_PAGES,
	      "resumed workload saw: %s", json_dumps(start, JSON_COMPACT));
	json_decref(start);
	printf("supervisor_live: migrated 1 -> 2: %s; downtime %" PRId64 " ms\n", h.text,
	       st.downtime_ms);
}

static void test_working_set(void)
{
	struct dsm_wl_status st;
	uint64_t t0 = now_ms(), deadline = t0 + WAIT_MS;
	struct dsm_etcd_kv kv = { 0 };
	struct history h;
	int64_t rev;
	bool half = false;

	CHECK(dsm_etcd_get(cli, WP "w1/status", &kv) == 0, "no status");
	rev = kv.mod_revision + 1;
	dsm_etcd_kv_clear(&kv);
	set_held(2, HOT_PAGES / 2);
	while (now_ms() < deadline && !half)
		half = get_status("w1", &st) && st.ws_moved == HOT_PAGES / 2 && !st.ws_done_ms;
	CHECK(half, "ws_moved never reached %d", HOT_PAGES / 2);
	set_held(2, HOT_PAGES);
	deadline = now_ms() + WAIT_MS;
	while (now_ms() < deadline && !(get_status("w1", &st) && st.ws_done_ms))
		poll_pause_ms(10);
	CHECK(st.ws_done_ms && st.ws_moved == HOT_PAGES && st.state == DSM_WL_RUNNING,
	      "working set not done: moved %" PRIu64 " done %" PRId64, st.ws_moved,
	      st.ws_done_ms);
	/* At most ~10 status writes a second while tracking. */
	history("w1", rev, &h);
	CHECK(h.writes >= 2 && h.writes <= (now_ms() - t0) / 100 + 2,
	      "%u status writes in %" PRIu64 " ms", h.writes, now_ms() - t0);
	printf("supervisor_live: working set tracked: %" PRIu64 "/%" PRIu64 " pages, done %" PRId64
	       " ms after start\n", st.ws_moved, st.ws_pages, st.ws_done_ms - st.start_ms);
}

static void test_migrate_back(void)
{
	struct dsm_wl_status st;

	CHECK(put_spec("w1", 1, 3, argv_plain) > 0, "put spec");
	CHECK(await_status("w1", 3, 1, DSM_WL_RUNNING, &st), "w1 gen 3 not on node 1");
	check_hot("w1", 2, 2, HOT_PAGES);
	CHECK(st.ws_pages == HOT_PAGES, "ws_pages %" PRIu64, st.ws_pages);
	printf("supervisor_live: migrated back 2 -> 1, downtime %" PRId64 " ms\n", st.downtime_ms);
}

static void test_exit_by_itself(void)
{
	char argv[600];
	struct dsm_wl_status st;

	snprintf(argv, sizeof(argv), "[\"%s\",\"--exit-after\",\"30\",\"--code\",\"3\"]",
		 fake_prog);
	CHECK(put_spec("w2", 2, 1, argv) > 0, "put spec");
	CHECK(await_status("w2", 1, 2, DSM_WL_EXITED, &st), "w2 did not exit");
	CHECK(st.has_exit && st.exit == 3 && st.stop_ms >= st.start_ms, "exit %d", st.exit);
	printf("supervisor_live: a workload that ends by itself: exited, status %d\n", st.exit);
}

static void test_stop_timeout(void)
{
	struct dsm_supervisor_stats s1;
	char argv[600];
	struct dsm_wl_status st;
	struct history h;
	int64_t rev;

	snprintf(argv, sizeof(argv), "[\"%s\",\"--ignore-stop\"]", fake_prog);
	CHECK(put_spec("w3", 1, 1, argv) > 0, "put spec");
	CHECK(await_status("w3", 1, 1, DSM_WL_RUNNING, &st), "w3 not running");
	rev = put_spec("w3", 2, 2, argv);
	CHECK(await_status("w3", 2, 2, DSM_WL_RUNNING, &st), "w3 not restarted on node 2");
	history("w3", rev, &h);
	CHECK(strncmp(h.text, "stopping:1@1 failed:1@1 running:2@2",
		      strlen("stopping:1@1 failed:1@1 running:2@2")) == 0,
	      "status went: %s", h.text);
	dsm_supervisor_stats(sup[1], &s1);
	CHECK(s1.stop_timeouts == 1, "stop_timeouts %" PRIu64, s1.stop_timeouts);
	printf("supervisor_live: no safe point in time: killed, failed, restarted on node 2 (%s)\n",
	       h.text);
}

static void test_spawn_failure(void)
{
	struct dsm_wl_status st;

	CHECK(put_spec("w6", 1, 1, "[\"/nonexistent/prog\"]") > 0, "put spec");
	CHECK(await_status("w6", 1, 1, DSM_WL_NONE, &st) &&
	      (st.state == DSM_WL_FAILED || st.state == DSM_WL_EXITED), "w6 not failed");
	/* glibc's posix_spawn reports a failed exec; under valgrind the child
	 * just exits non-zero, which is reported as such. */
	if (st.state == DSM_WL_EXITED)
		CHECK(st.exit != 0, "w6 exited %d", st.exit);
	else
		CHECK(strstr(st.error, "spawn /nonexistent/prog") != NULL, "error: %s", st.error);
	printf("supervisor_live: spawn failure reported: %s\n", st.error);
}

static void test_delete(void)
{
	struct dsm_wl_status st;
	json_t *log;

	CHECK(get_status("w1", &st) && st.state == DSM_WL_RUNNING, "w1 not running");
	CHECK(dsm_etcd_delete(cli, WP "w1/spec") == 1, "delete");
	CHECK(await_gone(WP "w1/status") && await_gone(WP "w1/hot"), "w1 records not removed");
	log = log_event(1, "w1", 3, "start");
	CHECK(log, "no log");
	json_decref(log);
	CHECK(kill(st.pid, 0) == -1 && errno == ESRCH, "w1 (pid %d) still exists", st.pid);
	/* w2 ended by itself and w6 never started: their records go too. */
	CHECK(dsm_etcd_delete(cli, WP "w2/spec") == 1 && dsm_etcd_delete(cli, WP "w6/spec") == 1,
	      "delete");
	CHECK(await_gone(WP "w2/status") && await_gone(WP "w6/status"), "records not removed");
	printf("supervisor_live: deleted specs: workload terminated, records removed\n");
}

static void test_bad_and_lenient(void)
{
	struct dsm_supervisor_stats s1, s2;
	struct dsm_wl_status st;
	char val[600];

	CHECK(put(WP "w4/spec", "{not json") == 0, "put");
	snprintf(val, sizeof(val), "{\"name\":\"w7\",\"argv\":[\"%s\"],\"node\":\"2\","
		 "\"gen\":\"1\"}", fake_prog);
	CHECK(put(WP "w7/spec", "%s", val) == 0, "put");
	CHECK(await_status("w7", 1, 2, DSM_WL_RUNNING, &st), "w7 (int64 as strings) not running");
	dsm_supervisor_stats(sup[1], &s1);
	dsm_supervisor_stats(sup[2], &s2);
	CHECK(s1.json_errors >= 1 && s2.json_errors >= 1, "json_errors %" PRIu64 " %" PRIu64,
	      s1.json_errors, s2.json_errors);
	printf("supervisor_live: bad spec counted (json_errors %" PRIu64 "), strings accepted\n",
	       s1.json_errors);
}

static void test_dead_previous_node(void)
{
	struct dsm_wl_status st;

	CHECK(put(WP "w5/status", "{\"name\":\"w5\",\"gen\":1,\"node\":5,\"state\":\"running\","
		  "\"stop_ms\":1}") == 0, "put");
	CHECK(put_spec("w5", 1, 2, argv_plain) > 0, "put spec");
	CHECK(await_status("w5", 2, 1, DSM_WL_RUNNING, &st), "w5 not restarted on node 1");
	printf("supervisor_live: previous node not a member: restarted on node 1\n");
}

static void test_supervisor_stop(void)
{
	struct dsm_wl_status w5, w7;

	CHECK(get_status("w5", &w5) && get_status("w7", &w7) && w5.state == DSM_WL_RUNNING &&
	      w7.state == DSM_WL_RUNNING, "w5/w7 not running");
	dsm_supervisor_stop(sup[1]);
	dsm_supervisor_stop(sup[2]);
	sup[1] = sup[2] = NULL;
	CHECK(kill(w5.pid, 0) == -1 && kill(w7.pid, 0) == -1, "workloads survive");
	CHECK(get_status("w5", &w5) && w5.state == DSM_WL_FAILED &&
	      strstr(w5.error, "supervisor stopped"), "w5: %s", dsm_wl_state_name(w5.state));
	printf("supervisor_live: supervisors stopped: workloads terminated, status failed\n");
}

static int setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/dsm-suplive-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -errno;
	for (int n = 1; n <= 2; n++) {
		snprintf(dirs[n], sizeof(dirs[n]), "%s/node%d", tmpdir, n);
		snprintf(sock[n], sizeof(sock[n]), "%s/node%d.sock", tmpdir, n);
		pthread_mutex_init(&fake[n].lock, NULL);
	}
	snprintf(argv_plain, sizeof(argv_plain), "[\"%s\"]", fake_prog);
	cli = dsm_etcd_new(etcd.url, 2000, NULL);
	if (!cli || put(P "members/1", "{}") || put(P "members/2", "{}"))
		return -EIO;
	if (start_sup(1, 500) || start_sup(2, 500))
		return -EIO;
	return 0;
}

int main(int argc, char **argv)
{
	int ret;

	if (argc != 2) {
		fprintf(stderr, "usage: supervisor_live /path/to/fake_workload\n");
		return 2;
	}
	fake_prog = argv[1];
	ret = dsm_etcd_local_start(&etcd, NULL, 0, 20000);
	if (ret) {
		fprintf(stderr, "supervisor_live: etcd did not start: %s (%s/etcd.log)\n",
			strerror(-ret), etcd.dir);
		return 1;
	}
	ret = setup();
	if (ret) {
		fprintf(stderr, "supervisor_live: setup: %s\n", strerror(-ret));
		failures++;
	}
	void (*const tests[])(void) = {
		test_run, test_migrate, test_working_set, test_migrate_back,
		test_exit_by_itself, test_stop_timeout, test_spawn_failure, test_delete,
		test_bad_and_lenient, test_dead_previous_node, test_supervisor_stop,
	};
	for (size_t i = 0; !failures && i < sizeof(tests) / sizeof(tests[0]); i++)
		tests[i]();
	dsm_supervisor_stop(sup[1]);
	dsm_supervisor_stop(sup[2]);
	dsm_etcd_free(cli);
	dsm_etcd_local_stop(&etcd, failures != 0);
	if (!failures) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "supervisor_live: could not remove %s\n", tmpdir);
	}
	printf("supervisor_live: %s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
