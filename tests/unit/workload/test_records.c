/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * control/workload/records.c and hotlist.c: spec and status JSON (lenient
 * int64-as-string, strict where the supervisor acts), hot-list runs built
 * from recency-ordered pages, their JSON and file form, and the count of
 * hot pages held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cunit_main.h"
#include "workload/hotlist.h"
#include "workload/records.h"

#define DECODE_SPEC(js, s) dsm_wl_spec_decode(js, strlen(js), s)
#define DECODE_STATUS(js, s) dsm_wl_status_decode(js, strlen(js), s)

/* ----------------------------------------------------------------- spec */

static void test_spec_decode(void)
{
	const char *js = "{\"name\":\"w1\",\"argv\":[\"/bin/prog\",\"a b\"],\"node\":2,"
			 "\"gen\":\"3\",\"env\":{\"K\":\"V\",\"X\":\"\"},\"extra\":[1]}";
	struct dsm_wl_spec s;

	CU_ASSERT_EQUAL_FATAL(DECODE_SPEC(js, &s), 0);
	CU_ASSERT_STRING_EQUAL(s.name, "w1");
	CU_ASSERT_EQUAL(s.node, 2);
	CU_ASSERT_EQUAL(s.gen, 3);
	CU_ASSERT_EQUAL(s.argc, 2);
	CU_ASSERT_STRING_EQUAL(s.argv[1], "a b");
	CU_ASSERT_PTR_NULL(s.argv[2]);
	CU_ASSERT_EQUAL(s.nenv, 2);
	CU_ASSERT_STRING_EQUAL(s.env[0], "K=V");
	CU_ASSERT_STRING_EQUAL(s.env[1], "X=");
	CU_ASSERT_PTR_NULL(s.env[2]);
	dsm_wl_spec_free(&s);
}

static void test_spec_roundtrip(void)
{
	const char *js = "{\"name\":\"w-2.x_y\",\"argv\":[\"prog\"],\"node\":\"65535\",\"gen\":1}";
	struct dsm_wl_spec s, t;
	char *out = NULL;

	CU_ASSERT_EQUAL_FATAL(DECODE_SPEC(js, &s), 0);
	CU_ASSERT_EQUAL(s.nenv, 0);
	CU_ASSERT_PTR_NOT_NULL(s.env);
	CU_ASSERT_EQUAL_FATAL(dsm_wl_spec_encode(&s, &out), 0);
	CU_ASSERT_EQUAL_FATAL(DECODE_SPEC(out, &t), 0);
	CU_ASSERT_STRING_EQUAL(t.name, "w-2.x_y");
	CU_ASSERT_EQUAL(t.node, 65535);
	CU_ASSERT_STRING_EQUAL(t.argv[0], "prog");
	free(out);
	dsm_wl_spec_free(&s);
	dsm_wl_spec_free(&t);
}

static void test_spec_rejects(void)
{
	static const struct {
		const char *js;
		int err;
	} bad[] = {
		{ "not json", -EPROTO },
		{ "[1,2]", -EPROTO },
		{ "{\"argv\":[\"p\"],\"node\":1,\"gen\":1}", -EPROTO },
		{ "{\"name\":\"../x\",\"argv\":[\"p\"],\"node\":1,\"gen\":1}", -EINVAL },
		{ "{\"name\":\"..\",\"argv\":[\"p\"],\"node\":1,\"gen\":1}", -EINVAL },
		{ "{\"name\":\"w\",\"argv\":[\"p\"],\"gen\":1}", -EPROTO },
		{ "{\"name\":\"w\",\"argv\":[\"p\"],\"node\":0,\"gen\":1}", -EINVAL },
		{ "{\"name\":\"w\",\"argv\":[\"p\"],\"node\":70000,\"gen\":1}", -EINVAL },
		{ "{\"name\":\"w\",\"argv\":[\"p\"],\"node\":1,\"gen\":0}", -EINVAL },
		{ "{\"name\":\"w\",\"argv\":[\"p\"],\"node\":\"1x\",\"gen\":1}", -EPROTO },
		{ "{\"name\":\"w\",\"argv\":[\"p\"],\"node\":1.5,\"gen\":1}", -EPROTO },
		{ "{\"name\":\"w\",\"argv\":[],\"node\":1,\"gen\":1}", -EINVAL },
		{ "{\"name\":\"w\",\"argv\":[\"\"],\"node\":1,\"gen\":1}", -EINVAL },
		{ "{\"name\":\"w\",\"argv\":[1],\"node\":1,\"gen\":1}", -EPROTO },
		{ "{\"name\":\"w\",\"argv\":\"p\",\"node\":1,\"gen\":1}", -EPROTO },
		{ "{\"name\":\"w\",\"argv\":[\"p\"],\"node\":1,\"gen\":1,\"env\":[]}", -EPROTO },
		{ "{\"name\":\"w\",\"argv\":[\"p\"],\"node\":1,\"gen\":1,\"env\":{\"A\":1}}", -EPROTO },
		{ "{\"name\":\"w\",\"argv\":[\"p\"],\"node\":1,\"gen\":1,\"env\":{\"A=B\":\"x\"}}",
		  -EINVAL },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dsm_wl_spec s;
		int ret = DECODE_SPEC(bad[i].js, &s);

		if (ret != bad[i].err)
			fprintf(stderr, "\n  %s: %d, expected %d\n", bad[i].js, ret, bad[i].err);
		CU_ASSERT_EQUAL(ret, bad[i].err);
		CU_ASSERT_PTR_NULL(s.argv);   /* nothing left allocated */
	}
}

/* --------------------------------------------------------------- status */

static void test_status_roundtrip(void)
{
	struct dsm_wl_status s = { .name = "w1", .gen = 7, .node = 3, .state = DSM_WL_STOPPED,
				   .pid = 4321, .has_exit = true, .exit = 0,
				   .start_ms = 1700000000000, .stop_ms = 1700000001000,
				   .has_downtime = true, .downtime_ms = 0, .safepoint_ms = 12,
				   .has_ws = true, .ws_pages = 65536, .ws_moved = 100,
				   .ws_done_ms = 1700000002000, .spec_rev = 55 };
	struct dsm_wl_status t;
	char *out = NULL;

	strcpy(s.error, "a \"quoted\" error");
	CU_ASSERT_EQUAL_FATAL(dsm_wl_status_encode(&s, &out), 0);
	CU_ASSERT_EQUAL_FATAL(DECODE_STATUS(out, &t), 0);
	CU_ASSERT_STRING_EQUAL(t.name, s.name);
	CU_ASSERT_STRING_EQUAL(t.error, s.error);
	CU_ASSERT(t.gen == s.gen && t.node == s.node && t.state == s.state && t.pid == s.pid);
	CU_ASSERT(t.has_exit && t.exit == 0 && t.has_downtime && t.downtime_ms == 0);
	CU_ASSERT(t.start_ms == s.start_ms && t.stop_ms == s.stop_ms &&
		  t.safepoint_ms == s.safepoint_ms);
	CU_ASSERT(t.has_ws && t.ws_pages == s.ws_pages && t.ws_moved == s.ws_moved &&
		  t.ws_done_ms == s.ws_done_ms && t.spec_rev == s.spec_rev);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"state\":\"stopped\""));
	free(out);
}

static void test_status_lenient(void)
{
	const char *js = "{\"name\":\"w1\",\"gen\":\"2\",\"node\":\"1\",\"state\":\"running\","
			 "\"pid\":\"99\",\"start_ms\":\"1700000000000\",\"error\":null,"
			 "\"stop_ms\":null,\"future\":{}}";
	struct dsm_wl_status s;

	CU_ASSERT_EQUAL_FATAL(DECODE_STATUS(js, &s), 0);
	CU_ASSERT_EQUAL(s.gen, 2);
	CU_ASSERT_EQUAL(s.pid, 99);
	CU_ASSERT_EQUAL(s.start_ms, 1700000000000);
	CU_ASSERT_EQUAL(s.stop_ms, 0);
	CU_ASSERT_FALSE(s.has_exit);
	CU_ASSERT_FALSE(s.has_downtime);
	CU_ASSERT_FALSE(s.has_ws);
	CU_ASSERT_EQUAL(s.state, DSM_WL_RUNNING);
}

static void test_status_rejects(void)
{
	static const char *const bad[] = {
		"{\"name\":\"w1\",\"gen\":1,\"node\":1,\"state\":\"dancing\"}",
		"{\"name\":\"w1\",\"gen\":1,\"node\":1}",
		"{\"name\":\"w1\",\"node\":1,\"state\":\"running\"}",
		"{\"name\":\"w1\",\"gen\":1,\"node\":1,\"state\":\"running\",\"pid\":\"x\"}",
		"{\"name\":\"w1\",\"gen\":1,\"node\":1,\"state\":\"running\",\"error\":5}",
		"{\"gen\":1,\"node\":1,\"state\":\"running\"}",
		"",
	};
	struct dsm_wl_status s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_TRUE(DECODE_STATUS(bad[i], &s) < 0);
}

static void test_state_names(void)
{
	enum dsm_wl_state st;

	for (int i = DSM_WL_STARTING; i <= DSM_WL_FAILED; i++) {
		CU_ASSERT_EQUAL(dsm_wl_state_parse(dsm_wl_state_name(i), &st), 0);
		CU_ASSERT_EQUAL(st, i);
	}
	CU_ASSERT_EQUAL(dsm_wl_state_parse("none", &st), -EINVAL);
	CU_ASSERT_TRUE(dsm_wl_state_terminal(DSM_WL_STOPPED));
	CU_ASSERT_FALSE(dsm_wl_state_terminal(DSM_WL_STOPPING));
}

/* ------------------------------------------------------------ hot runs */

static void test_runs_exact_order(void)
{
	static const uint64_t pg[] = { 5, 6, 7, 1, 2, 9, 9, 3 };
	struct dsm_hot_run *r;
	size_t n;

	CU_ASSERT_EQUAL_FATAL(dsm_hot_runs_build(pg, 8, 1, &r, &n), 0);
	/* window 1: recency order kept exactly; consecutive pages merge. */
	CU_ASSERT_EQUAL_FATAL(n, 5);
	CU_ASSERT_EQUAL(r[0].first, 5);
	CU_ASSERT_EQUAL(r[0].count, 3);
	CU_ASSERT_EQUAL(r[1].first, 1);
	CU_ASSERT_EQUAL(r[1].count, 2);
	CU_ASSERT_EQUAL(r[2].first, 9);
	CU_ASSERT_EQUAL(r[3].first, 9);   /* a duplicate across windows stays */
	CU_ASSERT_EQUAL(r[4].first, 3);
	free(r);
}

/* A walk in page order leaves pages in reverse recency order: windows
 * make one run per window instead of one per page. */
static void test_runs_windowed_reverse_walk(void)
{
	uint64_t pg[1024];
	struct dsm_hot_run *r;
	size_t n;

	for (int i = 0; i < 1024; i++)
		pg[i] = 1023 - i;
	CU_ASSERT_EQUAL_FATAL(dsm_hot_runs_build(pg, 1024, 256, &r, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	CU_ASSERT_EQUAL(r[0].first, 768);
	CU_ASSERT_EQUAL(r[0].count, 256);
	CU_ASSERT_EQUAL(r[3].first, 0);
	free(r);
	CU_ASSERT_EQUAL_FATAL(dsm_hot_runs_build(pg, 0, 256, &r, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_PTR_NULL(r);
}

static void test_runs_dedup_in_window(void)
{
	static const uint64_t pg[] = { 4, 4, 3, 5, 3 };
	struct dsm_hot_run *r;
	size_t n;

	CU_ASSERT_EQUAL_FATAL(dsm_hot_runs_build(pg, 5, 8, &r, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(r[0].first, 3);
	CU_ASSERT_EQUAL(r[0].count, 3);
	free(r);
}

static void make_list(struct dsm_hotlist *hl)
{
	static const uint64_t a[] = { 10, 11, 12, 40 }, b[] = { 7 };

	memset(hl, 0, sizeof(*hl));
	hl->gen = 4;
	hl->node = 2;
	CU_ASSERT_EQUAL(dsm_hotlist_add_seg(hl, 0x10001, a, 4, 1), 0);
	CU_ASSERT_EQUAL(dsm_hotlist_add_seg(hl, 0x20002, b, 1, 1), 0);
}

static void test_hot_json_roundtrip(void)
{
	struct dsm_hotlist hl, back;
	char *js = NULL;

	make_list(&hl);
	CU_ASSERT_EQUAL(dsm_hotlist_pages(&hl), 5);
	CU_ASSERT_EQUAL_FATAL(dsm_hotlist_encode(&hl, &js), 0);
	CU_ASSERT_STRING_EQUAL(js, "{\"gen\":4,\"node\":2,\"segs\":[{\"seg\":65537,\"runs\":"
			       "[[10,3],[40,1]]},{\"seg\":131074,\"runs\":[[7,1]]}]}");
	CU_ASSERT_EQUAL_FATAL(dsm_hotlist_decode(js, strlen(js), &back), 0);
	CU_ASSERT_EQUAL(back.gen, 4);
	CU_ASSERT_EQUAL(back.nsegs, 2);
	CU_ASSERT_EQUAL(back.segs[0].nruns, 2);
	CU_ASSERT_EQUAL(back.segs[0].runs[1].first, 40);
	CU_ASSERT_EQUAL(dsm_hotlist_pages(&back), 5);
	free(js);
	dsm_hotlist_free(&hl);
	dsm_hotlist_free(&back);
}

static void test_hot_json_lenient_and_bad(void)
{
	const char *ok = "{\"gen\":\"4\",\"node\":\"2\",\"segs\":[{\"seg\":\"9\","
			 "\"runs\":[[\"1\",\"2\"],[5,0]]}]}";
	static const char *const bad[] = {
		"{\"gen\":1,\"segs\":[{\"seg\":1,\"runs\":[[1]]}]}",
		"{\"gen\":1,\"segs\":[{\"seg\":1,\"runs\":[[1,-2]]}]}",
		"{\"gen\":1,\"segs\":[{\"runs\":[]}]}",
		"{\"gen\":1,\"segs\":[{\"seg\":1}]}",
		"{\"gen\":1,\"segs\":[3]}",
		"{\"gen\":1,\"segs\":{}}",
		"{\"gen\":\"x\"}",
		"nope",
	};
	struct dsm_hotlist hl;

	CU_ASSERT_EQUAL_FATAL(dsm_hotlist_decode(ok, strlen(ok), &hl), 0);
	CU_ASSERT_EQUAL(hl.segs[0].seg, 9);
	CU_ASSERT_EQUAL(hl.segs[0].nruns, 1);   /* the empty run is dropped */
	dsm_hotlist_free(&hl);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_TRUE(dsm_hotlist_decode(bad[i], strlen(bad[i]), &hl) < 0);
		CU_ASSERT_PTR_NULL(hl.segs);
	}
}

static void test_hot_file(void)
{
	char path[] = "/tmp/dsm-hot-test-XXXXXX", buf[256] = { 0 };
	struct dsm_hotlist hl;
	int fd = mkstemp(path);
	FILE *f;

	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	make_list(&hl);
	CU_ASSERT_EQUAL(dsm_hotlist_write_file(&hl, path), 0);
	f = fopen(path, "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_TRUE(fread(buf, 1, sizeof(buf) - 1, f) > 0);
	fclose(f);
	CU_ASSERT_STRING_EQUAL(buf, "# dsm hotlist gen 4 node 2\n65537 10 3\n65537 40 1\n"
			       "131074 7 1\n");
	unlink(path);
	dsm_hotlist_free(&hl);
	CU_ASSERT_TRUE(dsm_hotlist_write_file(&hl, "/nonexistent/dir/f") < 0);
}

static void test_hot_held_count(void)
{
	struct dsm_hot_run runs[] = { { 10, 3 }, { 40, 1 }, { 100, 50 } };
	struct dsm_hot_seg seg = { .seg = 1, .nruns = 3, .runs = runs };
	uint64_t held[] = { 149, 41, 12, 10, 7, 100, 10, 150, 40 };

	/* 10, 12 (10 twice counts once), 40, 100, 149; not 7, 41, 150 */
	CU_ASSERT_EQUAL(dsm_hot_seg_held(&seg, held, 9), 5);
	CU_ASSERT_EQUAL(dsm_hot_seg_held(&seg, held, 0), 0);
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "spec decode", test_spec_decode },
		{ "spec round trip", test_spec_roundtrip },
		{ "spec rejects", test_spec_rejects },
		{ "status round trip", test_status_roundtrip },
		{ "status lenient", test_status_lenient },
		{ "status rejects", test_status_rejects },
		{ "state names", test_state_names },
		{ "runs, exact order", test_runs_exact_order },
		{ "runs, windowed reverse walk", test_runs_windowed_reverse_walk },
		{ "runs, dedup within a window", test_runs_dedup_in_window },
		{ "hot list JSON round trip", test_hot_json_roundtrip },
		{ "hot list JSON lenient and bad", test_hot_json_lenient_and_bad },
		{ "hot list file", test_hot_file },
		{ "hot pages held", test_hot_held_count },
	};

	return DSM_CUNIT_MAIN("workload_records", tests, NULL);
}
