/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of control/dsmctl/records.c: node records, specs, statuses
 * and drain marks, as numbers or strings, with fields missing or wrong.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cunit_main.h"
#include "dsmctl/records.h"

static int rec(const char *json, struct dsmctl_node_rec *r)
{
	return dsmctl_node_rec_decode(json, strlen(json), r);
}

static void test_node_record(void)
{
	struct dsmctl_node_rec r;

	CU_ASSERT_EQUAL(rec("{\"node\":1,\"incarnation\":\"1234\",\"host\":\"h1\",\"pid\":4321,"
			    "\"socket\":\"/s\","
			    "\"telemetry\":\"/var/run/dpdk/n1/dpdk_telemetry.v2\","
			    "\"started_ms\":1700000000000,\"draining\":false,\"new\":[1]}", &r), 0);
	CU_ASSERT_EQUAL(r.node, 1);
	CU_ASSERT_EQUAL(r.incarnation, 1234);
	CU_ASSERT_STRING_EQUAL(r.host, "h1");
	CU_ASSERT_EQUAL(r.pid, 4321);
	CU_ASSERT_STRING_EQUAL(r.socket, "/s");
	CU_ASSERT_STRING_EQUAL(r.telemetry, "/var/run/dpdk/n1/dpdk_telemetry.v2");
	CU_ASSERT_EQUAL(r.started_ms, 1700000000000ULL);
	CU_ASSERT_FALSE(r.draining);
	/* int64 as strings, as the etcd gateway writes them; 2^63 fits. */
	CU_ASSERT_EQUAL(rec("{\"node\":\"63\",\"incarnation\":\"18446744073709551615\","
			    "\"pid\":\"-1\",\"started_ms\":\"5\",\"draining\":true}", &r), 0);
	CU_ASSERT_EQUAL(r.node, 63);
	CU_ASSERT_EQUAL(r.incarnation, UINT64_MAX);
	CU_ASSERT_EQUAL(r.pid, -1);
	CU_ASSERT_TRUE(r.draining);
	/* Only node is required. */
	CU_ASSERT_EQUAL(rec("{\"node\":2}", &r), 0);
	CU_ASSERT_EQUAL(r.incarnation, 0);
	CU_ASSERT_STRING_EQUAL(r.host, "");
	CU_ASSERT_STRING_EQUAL(r.telemetry, "");
	CU_ASSERT_EQUAL(rec("{\"node\":2,\"host\":null}", &r), 0);
}

static void test_node_record_bad(void)
{
	struct dsmctl_node_rec r;
	char json[400];

	CU_ASSERT_EQUAL(rec("{\"incarnation\":1}", &r), -EPROTO);
	CU_ASSERT_EQUAL(rec("{\"node\":0}", &r), -EPROTO);
	CU_ASSERT_EQUAL(rec("{\"node\":64}", &r), -EPROTO);
	CU_ASSERT_EQUAL(rec("{\"node\":\"1x\"}", &r), -EPROTO);
	CU_ASSERT_EQUAL(rec("{\"node\":\"\"}", &r), -EPROTO);
	CU_ASSERT_EQUAL(rec("{\"node\":1,\"pid\":\"x\"}", &r), -EPROTO);
	CU_ASSERT_EQUAL(rec("{\"node\":1,\"host\":5}", &r), -EPROTO);
	CU_ASSERT_EQUAL(rec("{\"node\":1,\"draining\":\"yes\"}", &r), -EPROTO);
	CU_ASSERT_EQUAL(rec("{\"node\":1,\"incarnation\":-3}", &r), -EPROTO);
	CU_ASSERT_EQUAL(rec("[1]", &r), -EPROTO);
	CU_ASSERT_EQUAL(rec("{\"node\":1", &r), -EPROTO);
	CU_ASSERT_EQUAL(rec("", &r), -EPROTO);
	/* A socket path too long for sun_path is dropped, not cut. */
	snprintf(json, sizeof(json), "{\"node\":1,\"telemetry\":\"/%0150d\"}", 0);
	CU_ASSERT_EQUAL(rec(json, &r), 0);
	CU_ASSERT_STRING_EQUAL(r.telemetry, "");
}

static int spec(const char *json, struct dsmctl_spec *s)
{
	return dsmctl_spec_decode(json, strlen(json), s);
}

static void test_spec_round_trip(void)
{
	char *argv[] = { "/bin/prog", "-x", "a b" };
	const char *env[] = { "K=V", "E=a=b" };
	char *json = dsmctl_spec_encode("w1", argv, 3, env, 2, 2, 3);
	struct dsmctl_spec s;

	CU_ASSERT_PTR_NOT_NULL_FATAL(json);
	CU_ASSERT_STRING_EQUAL(json, "{\"name\":\"w1\",\"argv\":[\"/bin/prog\",\"-x\",\"a b\"],"
			       "\"node\":2,\"gen\":3,\"env\":{\"K\":\"V\",\"E\":\"a=b\"}}");
	CU_ASSERT_EQUAL(spec(json, &s), 0);
	CU_ASSERT_STRING_EQUAL(s.name, "w1");
	CU_ASSERT_EQUAL(s.node, 2);
	CU_ASSERT_EQUAL(s.gen, 3);
	CU_ASSERT_EQUAL(s.argc, 3);
	CU_ASSERT_STRING_EQUAL(s.argv[2], "a b");
	CU_ASSERT_PTR_NULL(s.argv[3]);
	CU_ASSERT_EQUAL(s.nenv, 2);
	CU_ASSERT_STRING_EQUAL(s.env[1], "E=a=b");
	dsmctl_spec_clear(&s);
	free(json);
	json = dsmctl_spec_encode("w", argv, 1, NULL, 0, 1, 1);
	CU_ASSERT_STRING_EQUAL(json, "{\"name\":\"w\",\"argv\":[\"/bin/prog\"],\"node\":1,"
			       "\"gen\":1,\"env\":{}}");
	free(json);
}

static void test_spec_lenient_and_strict(void)
{
	struct dsmctl_spec s;

	/* gen as a string, no name, no env, unknown keys. */
	CU_ASSERT_EQUAL(spec("{\"argv\":[\"/p\"],\"node\":\"4\",\"gen\":\"9\",\"x\":{}}", &s), 0);
	CU_ASSERT_EQUAL(s.gen, 9);
	CU_ASSERT_EQUAL(s.node, 4);
	CU_ASSERT_STRING_EQUAL(s.name, "");
	CU_ASSERT_EQUAL(s.nenv, 0);
	dsmctl_spec_clear(&s);
	CU_ASSERT_EQUAL(spec("{\"argv\":[\"/p\"],\"node\":1,\"gen\":1,\"env\":null}", &s), 0);
	dsmctl_spec_clear(&s);
	/* Required: argv (non-empty, strings), node, gen. */
	CU_ASSERT_EQUAL(spec("{\"node\":1,\"gen\":1}", &s), -EPROTO);
	CU_ASSERT_EQUAL(spec("{\"argv\":[],\"node\":1,\"gen\":1}", &s), -EPROTO);
	CU_ASSERT_EQUAL(spec("{\"argv\":[\"/p\",2],\"node\":1,\"gen\":1}", &s), -EPROTO);
	CU_ASSERT_EQUAL(spec("{\"argv\":\"/p\",\"node\":1,\"gen\":1}", &s), -EPROTO);
	CU_ASSERT_EQUAL(spec("{\"argv\":[\"/p\"],\"gen\":1}", &s), -EPROTO);
	CU_ASSERT_EQUAL(spec("{\"argv\":[\"/p\"],\"node\":1}", &s), -EPROTO);
	CU_ASSERT_EQUAL(spec("{\"argv\":[\"/p\"],\"node\":1,\"gen\":1,\"env\":{\"K\":1}}", &s),
			-EPROTO);
	CU_ASSERT_EQUAL(spec("{\"argv\":[\"/p\"],\"node\":1,\"gen\":1,\"env\":[]}", &s), -EPROTO);
	CU_ASSERT_EQUAL(spec("{\"argv\":[\"/p\"],\"node\":1,\"gen\":1,\"name\":3}", &s), -EPROTO);
	CU_ASSERT_EQUAL(spec("null", &s), -EPROTO);
	/* A failed decode leaves nothing to free. */
	CU_ASSERT_PTR_NULL(s.argv);
}

static void test_spec_retarget_keeps_other_keys(void)
{
	const char *in = "{\"name\":\"w\",\"argv\":[\"/p\"],\"node\":1,\"gen\":\"7\","
			 "\"env\":{},\"future\":{\"a\":1}}";
	char *out = dsmctl_spec_retarget(in, strlen(in), 3, 8);
	struct dsmctl_spec s;
	json_t *o;

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(spec(out, &s), 0);
	CU_ASSERT_EQUAL(s.node, 3);
	CU_ASSERT_EQUAL(s.gen, 8);
	dsmctl_spec_clear(&s);
	o = json_loads(out, 0, NULL);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(o, "future"), "a")), 1);
	CU_ASSERT_TRUE(json_is_integer(json_object_get(o, "gen")));
	json_decref(o);
	free(out);
	CU_ASSERT_PTR_NULL(dsmctl_spec_retarget("[1]", 3, 1, 1));
	CU_ASSERT_PTR_NULL(dsmctl_spec_retarget("{", 1, 1, 1));
}

static int status(const char *json, struct dsmctl_status *st)
{
	return dsmctl_status_decode(json, strlen(json), st);
}

static void test_status_full(void)
{
	struct dsmctl_status st;

	CU_ASSERT_EQUAL(status("{\"name\":\"w1\",\"gen\":\"3\",\"node\":2,\"state\":\"running\","
			       "\"pid\":\"123\",\"exit\":0,\"start_ms\":\"1700000000100\","
			       "\"stop_ms\":1700000000000,\"downtime_ms\":\"100\",\"ws_pages\":10,"
			       "\"ws_moved\":\"4\",\"ws_done_ms\":1700000000200,\"error\":\"\","
			       "\"spec_rev\":\"77\"}", &st), 0);
	CU_ASSERT_STRING_EQUAL(st.name, "w1");
	CU_ASSERT_EQUAL(st.gen, 3);
	CU_ASSERT_EQUAL(st.node, 2);
	CU_ASSERT_EQUAL(st.state, DSMCTL_ST_RUNNING);
	CU_ASSERT_EQUAL(st.pid, 123);
	CU_ASSERT_EQUAL(st.exit_code, 0);
	CU_ASSERT_EQUAL(st.start_ms, 1700000000100ULL);
	CU_ASSERT_EQUAL(st.downtime_ms, 100);
	CU_ASSERT_EQUAL(st.ws_pages, 10);
	CU_ASSERT_EQUAL(st.ws_moved, 4);
	CU_ASSERT_EQUAL(st.ws_done_ms, 1700000000200ULL);
	CU_ASSERT_EQUAL(st.has, DSMCTL_HAS_PID | DSMCTL_HAS_EXIT | DSMCTL_HAS_START |
			DSMCTL_HAS_STOP | DSMCTL_HAS_DOWNTIME | DSMCTL_HAS_WS_PAGES |
			DSMCTL_HAS_WS_MOVED | DSMCTL_HAS_WS_DONE);
}

static void test_status_missing_and_bad(void)
{
	static const char *const states[] = {
		"starting", "running", "stopping", "stopped", "exited", "failed",
	};
	struct dsmctl_status st;
	char json[128];

	/* Optional fields absent: their bits clear, values zero. */
	CU_ASSERT_EQUAL(status("{\"gen\":1,\"node\":1,\"state\":\"starting\"}", &st), 0);
	CU_ASSERT_EQUAL(st.has, 0);
	CU_ASSERT_EQUAL(st.state, DSMCTL_ST_STARTING);
	CU_ASSERT_EQUAL(status("{\"gen\":1,\"node\":1,\"state\":\"failed\",\"exit\":\"-9\","
			       "\"error\":\"exec: ENOENT\",\"pid\":null}", &st), 0);
	CU_ASSERT_EQUAL(st.has, DSMCTL_HAS_EXIT);
	CU_ASSERT_EQUAL(st.exit_code, -9);
	CU_ASSERT_STRING_EQUAL(st.error, "exec: ENOENT");
	for (unsigned i = 0; i < 6; i++) {
		snprintf(json, sizeof(json), "{\"gen\":1,\"node\":1,\"state\":\"%s\"}", states[i]);
		CU_ASSERT_EQUAL(status(json, &st), 0);
		CU_ASSERT_EQUAL(st.state, (enum dsmctl_state)(i + 1));
		CU_ASSERT_STRING_EQUAL(dsmctl_state_name(st.state), states[i]);
	}
	/* A state from a newer writer: kept as text, unknown to the logic. */
	CU_ASSERT_EQUAL(status("{\"gen\":1,\"node\":1,\"state\":\"paused\"}", &st), 0);
	CU_ASSERT_EQUAL(st.state, DSMCTL_ST_UNKNOWN);
	CU_ASSERT_STRING_EQUAL(st.state_str, "paused");
	/* Required: gen, node, state. */
	CU_ASSERT_EQUAL(status("{\"node\":1,\"state\":\"running\"}", &st), -EPROTO);
	CU_ASSERT_EQUAL(status("{\"gen\":1,\"state\":\"running\"}", &st), -EPROTO);
	CU_ASSERT_EQUAL(status("{\"gen\":1,\"node\":1}", &st), -EPROTO);
	CU_ASSERT_EQUAL(status("{\"gen\":1,\"node\":1,\"state\":\"\"}", &st), -EPROTO);
	CU_ASSERT_EQUAL(status("{\"gen\":1,\"node\":1,\"state\":7}", &st), -EPROTO);
	CU_ASSERT_EQUAL(status("{\"gen\":-1,\"node\":1,\"state\":\"running\"}", &st), -EPROTO);
	CU_ASSERT_EQUAL(status("{\"gen\":\"1.5\",\"node\":1,\"state\":\"running\"}", &st), -EPROTO);
	CU_ASSERT_EQUAL(status("{\"gen\":1,\"node\":1,\"state\":\"running\",\"ws_pages\":\"x\"}",
			       &st), -EPROTO);
	CU_ASSERT_EQUAL(status("{\"gen\":1,\"node\":1,\"state\":\"running\",\"pid\":1.5}", &st),
			-EPROTO);
	CU_ASSERT_EQUAL(status("not json", &st), -EPROTO);
}

static void test_drain_encode(void)
{
	char buf[64];

	CU_ASSERT_EQUAL(dsmctl_drain_encode(1700000000000ULL, buf, sizeof(buf)), 26);
	CU_ASSERT_STRING_EQUAL(buf, "{\"since_ms\":1700000000000}");
	CU_ASSERT_EQUAL(dsmctl_drain_encode(1, buf, 8), -ENOSPC);
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "node_record", test_node_record },
		{ "node_record_bad", test_node_record_bad },
		{ "spec_round_trip", test_spec_round_trip },
		{ "spec_lenient_and_strict", test_spec_lenient_and_strict },
		{ "spec_retarget_keeps_other_keys", test_spec_retarget_keeps_other_keys },
		{ "status_full", test_status_full },
		{ "status_missing_and_bad", test_status_missing_and_bad },
		{ "drain_encode", test_drain_encode },
	};

	return DSM_CUNIT_MAIN("dsmctl_records", tests, NULL);
}
