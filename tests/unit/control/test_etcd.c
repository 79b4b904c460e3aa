/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of control/etcd: the client against canned gateway responses
 * (a fake transport), including everything the real gateway does that a
 * naive client trips on: omitted default fields, int64 as strings, error
 * bodies, and a watch stream cut at arbitrary places.  Base64 too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cunit_main.h"
#include "etcd/etcd.h"

/* ---------------------------------------------------- fake transport */

#define MAX_REPLIES 8

struct canned {
	struct {
		const char *body;
		long status;
		int rc;           /* transport result: 0 or -errno */
	} r[MAX_REPLIES];
	size_t n, next;
	size_t chunk;         /* non-zero: offer stream(), in pieces this big */
	int end_rc;           /* what stream() returns after the body */
	char path[64];        /* last request */
	char *body;
	int calls;
};

static struct canned cn;

static void reply(const char *body, long status)
{
	CU_ASSERT_FATAL(cn.n < MAX_REPLIES);
	cn.r[cn.n].body = body;
	cn.r[cn.n].status = status;
	cn.r[cn.n++].rc = 0;
}

static void reply_rc(int rc)
{
	CU_ASSERT_FATAL(cn.n < MAX_REPLIES);
	cn.r[cn.n].body = NULL;
	cn.r[cn.n++].rc = rc;
}

/* Record the request, pick the next canned reply. */
static int take(const char *path, const char *body)
{
	cn.calls++;
	snprintf(cn.path, sizeof(cn.path), "%s", path);
	free(cn.body);
	cn.body = strdup(body);
	CU_ASSERT_FATAL(cn.next < cn.n);
	return (int)cn.next++;
}

static int fake_post(void *ctx, const char *path, const char *body,
		     char **resp, long *status, unsigned timeout_ms)
{
	int i = take(path, body);

	(void)ctx;
	CU_ASSERT(timeout_ms > 0);
	if (cn.r[i].rc < 0)
		return cn.r[i].rc;
	*resp = strdup(cn.r[i].body);
	*status = cn.r[i].status;
	return 0;
}

static int fake_stream(void *ctx, const char *path, const char *body,
		       dsm_etcd_data_fn fn, void *arg, long *status,
		       unsigned timeout_ms)
{
	int i = take(path, body);
	const char *b = cn.r[i].body;
	size_t len;

	(void)ctx;
	(void)timeout_ms;
	if (cn.r[i].rc < 0)
		return cn.r[i].rc;
	*status = cn.r[i].status;
	len = strlen(b);
	for (size_t off = 0; off < len; off += cn.chunk) {
		size_t n = len - off < cn.chunk ? len - off : cn.chunk;
		int rc = fn(arg, b + off, n);

		if (rc != 0)
			return rc;
	}
	return cn.end_rc;
}

static struct dsm_etcd *client(void)
{
	struct dsm_etcd_transport t = { .post = fake_post, .ctx = &cn,
		.stream = cn.chunk ? fake_stream : NULL };
	struct dsm_etcd *c = dsm_etcd_new(NULL, 1000, &t);

	CU_ASSERT_FATAL(c != NULL);
	return c;
}

static void setup(void)
{
	free(cn.body);
	memset(&cn, 0, sizeof(cn));
}

/* The last request body, parsed (json_decref it). */
static json_t *sent(void)
{
	json_t *j = json_loads(cn.body, 0, NULL);

	CU_ASSERT_FATAL(j != NULL);
	return j;
}

static const char *sent_str(json_t *j, const char *path1, const char *path2)
{
	json_t *v = json_object_get(j, path1);

	if (path2 != NULL)
		v = json_object_get(v, path2);
	return json_string_value(v);
}

#define HDR "\"header\":{\"cluster_id\":\"32495259\",\"member_id\":\"33198146\"," \
	    "\"revision\":\"12\",\"raft_term\":\"2\"}"

/* --------------------------------------------------------------- base64 */

static void check_b64(const char *plain, size_t len, const char *enc)
{
	char out[64], dec[64];

	dsm_etcd_b64_encode(plain, len, out);
	CU_ASSERT_STRING_EQUAL(out, enc);
	CU_ASSERT_EQUAL(dsm_etcd_b64_enc_len(len), strlen(enc));
	CU_ASSERT_EQUAL(dsm_etcd_b64_decode(enc, strlen(enc), dec), (long)len);
	CU_ASSERT(memcmp(dec, plain, len) == 0);
}

static void test_b64_rfc4648_vectors(void)
{
	check_b64("", 0, "");
	check_b64("f", 1, "Zg==");
	check_b64("fo", 2, "Zm8=");
	check_b64("foo", 3, "Zm9v");
	check_b64("foob", 4, "Zm9vYg==");
	check_b64("fooba", 5, "Zm9vYmE=");
	check_b64("foobar", 6, "Zm9vYmFy");
	check_b64("\xff\xff\xfe", 3, "///+");
	check_b64("\0\0\0", 3, "AAAA");
	check_b64("\xfb\xef", 2, "++8=");
}

static void test_b64_roundtrip_all_lengths_all_bytes(void)
{
	unsigned char in[256], dec[256];
	char enc[400];

	for (int i = 0; i < 256; i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (size_t len = 0; len <= 256; len++) {
		dsm_etcd_b64_encode(in, len, enc);
		CU_ASSERT_EQUAL(strlen(enc), dsm_etcd_b64_enc_len(len));
		CU_ASSERT_EQUAL(dsm_etcd_b64_decode(enc, strlen(enc), dec), (long)len);
		CU_ASSERT(memcmp(in, dec, len) == 0);
	}
}

static void test_b64_rejects_non_canonical(void)
{
	static const char *const bad[] = {
		"Zg=", "Zg", "Z", "Zm9vY", /* length not a multiple of 4 */
		"Z===", "====", "=AAA", "Zg=a", "Zm=v",  /* padding misplaced */
		"Zg==Zm9v",                /* padding before the end */
		"Zm9v!A==", "Zm 9v", "Zm9v\n", "Zm9-", "Zm9_", /* alphabet */
		"Zh==", "Zm9=",            /* unused bits not zero */
	};
	char out[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(dsm_etcd_b64_decode(bad[i], strlen(bad[i]), out),
				-EINVAL);
}

/* ------------------------------------------------------------ put / get */

static void test_put_sends_base64_and_string_lease(void)
{
	struct dsm_etcd *c = client();
	int64_t rev = 0;
	json_t *j;

	reply("{" HDR "}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_put(c, "foo", "bar", 3, 7587868490393426441LL, &rev), 0);
	CU_ASSERT_EQUAL(rev, 12);
	CU_ASSERT_STRING_EQUAL(cn.path, "/v3/kv/put");
	j = sent();
	CU_ASSERT_STRING_EQUAL(sent_str(j, "key", NULL), "Zm9v");
	CU_ASSERT_STRING_EQUAL(sent_str(j, "value", NULL), "YmFy");
	CU_ASSERT_STRING_EQUAL(sent_str(j, "lease", NULL), "7587868490393426441");
	json_decref(j);
	CU_ASSERT_STRING_EQUAL(dsm_etcd_last_error(c), "");
	dsm_etcd_free(c);
}

static void test_put_without_lease_and_empty_value(void)
{
	struct dsm_etcd *c = client();
	json_t *j;

	reply("{\"header\":{\"revision\":5}}", 200);   /* a number, not a string */
	CU_ASSERT_EQUAL(dsm_etcd_put(c, "k", "", 0, 0, NULL), 0);
	j = sent();
	CU_ASSERT_PTR_NULL(json_object_get(j, "lease"));
	CU_ASSERT_STRING_EQUAL(sent_str(j, "value", NULL), "");
	json_decref(j);
	dsm_etcd_free(c);
}

static void test_put_response_without_revision_is_eproto(void)
{
	struct dsm_etcd *c = client();

	reply("{}", 200);
	reply("{\"header\":{\"revision\":\"12x\"}}", 200);
	reply("{\"header\":\"12\"}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_put(c, "k", "v", 1, 0, NULL), -EPROTO);
	CU_ASSERT_EQUAL(dsm_etcd_put(c, "k", "v", 1, 0, NULL), -EPROTO);
	CU_ASSERT_EQUAL(dsm_etcd_put(c, "k", "v", 1, 0, NULL), -EPROTO);
	CU_ASSERT(strlen(dsm_etcd_last_error(c)) > 0);
	dsm_etcd_free(c);
}

static void test_get_strings_as_gateway_sends_them(void)
{
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv kv;

	reply("{" HDR ",\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\","
	      "\"mod_revision\":\"9\",\"version\":\"3\",\"value\":\"YmFy\","
	      "\"lease\":\"7587868490393426441\"}],\"count\":\"1\"}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_get(c, "foo", &kv), 0);
	CU_ASSERT_STRING_EQUAL(kv.key, "foo");
	CU_ASSERT_EQUAL(kv.key_len, 3);
	CU_ASSERT_STRING_EQUAL(kv.value, "bar");
	CU_ASSERT_EQUAL(kv.value_len, 3);
	CU_ASSERT_EQUAL(kv.create_revision, 2);
	CU_ASSERT_EQUAL(kv.mod_revision, 9);
	CU_ASSERT_EQUAL(kv.version, 3);
	CU_ASSERT_EQUAL(kv.lease, 7587868490393426441LL);
	CU_ASSERT_STRING_EQUAL(cn.path, "/v3/kv/range");
	dsm_etcd_kv_clear(&kv);
	CU_ASSERT_PTR_NULL(kv.key);
	dsm_etcd_free(c);
}

static void test_get_numbers_and_omitted_fields(void)
{
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv kv;

	/* Empty value, no lease, version 0: all omitted; ints as numbers;
	 * null where a default is meant. */
	reply("{\"header\":{\"revision\":3},\"kvs\":[{\"key\":\"Zm9v\","
	      "\"create_revision\":2,\"mod_revision\":3,\"lease\":null}],"
	      "\"count\":1}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_get(c, "foo", &kv), 0);
	CU_ASSERT_STRING_EQUAL(kv.value, "");
	CU_ASSERT_EQUAL(kv.value_len, 0);
	CU_ASSERT_EQUAL(kv.mod_revision, 3);
	CU_ASSERT_EQUAL(kv.version, 0);
	CU_ASSERT_EQUAL(kv.lease, 0);
	dsm_etcd_kv_clear(&kv);
	dsm_etcd_free(c);
}

static void test_get_binary_value_with_nul(void)
{
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv kv;

	/* "a\0b\xff" */
	reply("{\"kvs\":[{\"key\":\"aw==\",\"value\":\"YQBi/w==\",\"mod_revision\":\"4\"}]}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_get(c, "k", &kv), 0);
	CU_ASSERT_EQUAL(kv.value_len, 4);
	CU_ASSERT(memcmp(kv.value, "a\0b\xff", 5) == 0);   /* + our NUL */
	dsm_etcd_kv_clear(&kv);
	dsm_etcd_free(c);
}

static void test_get_absent_key_is_enoent(void)
{
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv kv;

	reply("{" HDR "}", 200);                           /* kvs, count omitted */
	reply("{" HDR ",\"kvs\":[],\"count\":\"0\"}", 200);  /* or explicit */
	CU_ASSERT_EQUAL(dsm_etcd_get(c, "nope", &kv), -ENOENT);
	CU_ASSERT_PTR_NULL(kv.key);
	CU_ASSERT_EQUAL(dsm_etcd_get(c, "nope", &kv), -ENOENT);
	dsm_etcd_free(c);
}

static void test_wrong_types_are_eproto(void)
{
	static const char *const bodies[] = {
		"{\"kvs\":{}}",
		"{\"kvs\":[5]}",
		"{\"kvs\":[{\"key\":5}]}",
		"{\"kvs\":[{\"key\":\"Zm9v\",\"mod_revision\":true}]}",
		"{\"kvs\":[{\"key\":\"Zm9v\",\"mod_revision\":1.5}]}",
		"{\"kvs\":[{\"key\":\"Zm9v\",\"mod_revision\":\" 3\"}]}",
		"{\"kvs\":[{\"key\":\"Zm9v\",\"mod_revision\":\"+3\"}]}",
		"{\"kvs\":[{\"key\":\"Zm9v\",\"mod_revision\":\"\"}]}",
		"{\"kvs\":[{\"key\":\"Zm9v\",\"mod_revision\":\"99999999999999999999\"}]}",
		"{\"kvs\":[{\"key\":\"Zm9v\",\"value\":\"not base64!\"}]}",
		"{\"kvs\":[{\"key\":\"Zm9v\",\"value\":[]}]}",
		"{\"result\":5}",
	};
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv kv;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		setup();
		dsm_etcd_free(c);
		c = client();
		reply(bodies[i], 200);
		CU_ASSERT_EQUAL(dsm_etcd_get(c, "foo", &kv), -EPROTO);
		CU_ASSERT_PTR_NULL(kv.key);
	}
	dsm_etcd_free(c);
}

static void test_malformed_json(void)
{
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv kv;

	reply("{\"header\":", 200);
	reply("", 200);
	reply("[1,2]", 200);
	reply("<html>bad gateway</html>", 502);
	reply("{}", 503);
	CU_ASSERT_EQUAL(dsm_etcd_get(c, "k", &kv), -EPROTO);
	CU_ASSERT(strstr(dsm_etcd_last_error(c), "bad JSON") != NULL);
	CU_ASSERT_EQUAL(dsm_etcd_get(c, "k", &kv), -EPROTO);
	CU_ASSERT_EQUAL(dsm_etcd_get(c, "k", &kv), -EPROTO);
	CU_ASSERT_EQUAL(dsm_etcd_get(c, "k", &kv), -EIO);   /* non-2xx, not JSON */
	CU_ASSERT(strstr(dsm_etcd_last_error(c), "502") != NULL);
	CU_ASSERT_EQUAL(dsm_etcd_get(c, "k", &kv), -EIO);   /* non-2xx, no error */
	CU_ASSERT(strstr(dsm_etcd_last_error(c), "503") != NULL);
	dsm_etcd_free(c);
}

/* ---------------------------------------------------------- error bodies */

static void check_error(const char *body, long status, int want,
			const char *msg)
{
	struct dsm_etcd *c;
	struct dsm_etcd_kv kv;

	setup();
	c = client();
	reply(body, status);
	CU_ASSERT_EQUAL(dsm_etcd_get(c, "k", &kv), want);
	if (msg != NULL)
		CU_ASSERT(strstr(dsm_etcd_last_error(c), msg) != NULL);
	dsm_etcd_free(c);
}

static void test_error_bodies_map_to_errno(void)
{
	check_error("{\"error\":\"etcdserver: requested lease not found\","
		    "\"message\":\"etcdserver: requested lease not found\",\"code\":5}",
		    404, -ENOENT, "requested lease not found");
	check_error("{\"error\":\"etcdserver: mvcc: required revision has been compacted\","
		    "\"message\":\"etcdserver: mvcc: required revision has been compacted\","
		    "\"code\":11}", 400, -ERANGE, "compacted");
	check_error("{\"error\":\"illegal base64 data at input byte 0\",\"code\":3}",
		    400, -EINVAL, "illegal base64");
	check_error("{\"error\":\"x\",\"code\":\"14\"}", 503, -EAGAIN, "x");
	check_error("{\"error\":\"x\",\"code\":4}", 504, -ETIMEDOUT, NULL);
	check_error("{\"error\":\"x\",\"code\":7}", 403, -EACCES, NULL);
	check_error("{\"error\":\"invalid character\",\"code\":2}", 500, -EIO,
		    "invalid character");
	/* 200 with an error body is still an error. */
	check_error("{\"error\":\"etcdserver: too many requests\",\"code\":14}",
		    200, -EAGAIN, "too many requests");
	/* The streaming form. */
	check_error("{\"error\":{\"grpc_code\":5,\"http_code\":404,\"message\":"
		    "\"lease gone\",\"http_status\":\"Not Found\"}}", 200, -ENOENT,
		    "lease gone");
	/* No code: the HTTP status decides. */
	check_error("{\"error\":\"not found\"}", 404, -ENOENT, "not found");
	check_error("{\"code\":11,\"message\":\"future revision\"}", 400, -ERANGE,
		    "future revision");
	/* An error field of a type that is neither. */
	check_error("{\"error\":5}", 500, -EPROTO, NULL);
}

static void test_transport_failure_is_returned(void)
{
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv kv;

	reply_rc(-ECONNREFUSED);
	reply("{" HDR "}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_get(c, "k", &kv), -ECONNREFUSED);
	CU_ASSERT(strstr(dsm_etcd_last_error(c), "/v3/kv/range") != NULL);
	/* last_error describes the last call only. */
	CU_ASSERT_EQUAL(dsm_etcd_get(c, "k", &kv), -ENOENT);
	CU_ASSERT(strstr(dsm_etcd_last_error(c), "no such key") != NULL);
	dsm_etcd_free(c);
}

/* ------------------------------------------------------ range / delete */

static void check_range_end(const char *prefix, const char *key_b64,
			    const char *end_b64)
{
	struct dsm_etcd *c;
	struct dsm_etcd_kv *kvs;
	size_t n;
	json_t *j;

	setup();
	c = client();
	reply("{}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_range(c, prefix, &kvs, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_PTR_NULL(kvs);
	j = sent();
	CU_ASSERT_STRING_EQUAL(sent_str(j, "key", NULL), key_b64);
	CU_ASSERT_STRING_EQUAL(sent_str(j, "range_end", NULL), end_b64);
	json_decref(j);
	dsm_etcd_free(c);
}

static void test_range_prefix_end(void)
{
	check_range_end("a/", "YS8=", "YTA=");            /* "a/" -> "a0" */
	check_range_end("", "", "AA==");                  /* every key: "\0" */
	check_range_end("a\xff", "Yf8=", "Yg==");         /* "a\xff" -> "b" */
	check_range_end("\xff\xff", "//8=", "AA==");      /* no end: "\0" */
}

static void test_range_returns_all_kvs(void)
{
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv *kvs;
	int64_t rev;
	size_t n;

	reply("{" HDR ",\"kvs\":[{\"key\":\"YS8x\",\"value\":\"MQ==\",\"mod_revision\":\"3\"},"
	      "{\"key\":\"YS8y\",\"mod_revision\":4}],\"count\":\"2\"}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_range(c, "a/", &kvs, &n, &rev), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(rev, 12);
	CU_ASSERT_STRING_EQUAL(kvs[0].key, "a/1");
	CU_ASSERT_STRING_EQUAL(kvs[0].value, "1");
	CU_ASSERT_STRING_EQUAL(kvs[1].key, "a/2");
	CU_ASSERT_EQUAL(kvs[1].value_len, 0);
	CU_ASSERT_EQUAL(kvs[1].mod_revision, 4);
	dsm_etcd_kvs_free(kvs, n);
	dsm_etcd_free(c);
}

static void test_range_bad_second_kv_frees_first(void)
{
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv *kvs;
	size_t n;

	reply("{\"kvs\":[{\"key\":\"YS8x\",\"value\":\"MQ==\"},{\"key\":\"@@@@\"}]}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_range(c, "a/", &kvs, &n, NULL), -EPROTO);
	CU_ASSERT_PTR_NULL(kvs);
	CU_ASSERT_EQUAL(n, 0);
	dsm_etcd_free(c);
}

static void test_delete_counts(void)
{
	struct dsm_etcd *c = client();

	reply("{" HDR ",\"deleted\":\"1\"}", 200);
	reply("{" HDR "}", 200);                   /* deleted 0: omitted */
	reply("{" HDR ",\"deleted\":\"7\"}", 200);  /* one key cannot be 7 */
	CU_ASSERT_EQUAL(dsm_etcd_delete(c, "k"), 1);
	CU_ASSERT_STRING_EQUAL(cn.path, "/v3/kv/deleterange");
	CU_ASSERT_EQUAL(dsm_etcd_delete(c, "k"), 0);
	CU_ASSERT_EQUAL(dsm_etcd_delete(c, "k"), -EPROTO);
	dsm_etcd_free(c);
}

/* -------------------------------------------------------------------- cas */

static void test_cas_create_request_and_success(void)
{
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv cur;
	int64_t rev = 0;
	json_t *j, *cmp;

	reply("{\"header\":{\"revision\":\"13\"},\"succeeded\":true,\"responses\":"
	      "[{\"response_put\":{\"header\":{\"revision\":\"13\"}}}]}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_cas(c, "epoch", "e1", 2, 0, 0, &rev, &cur), 1);
	CU_ASSERT_EQUAL(rev, 13);
	CU_ASSERT_PTR_NULL(cur.key);
	CU_ASSERT_STRING_EQUAL(cn.path, "/v3/kv/txn");
	j = sent();
	cmp = json_array_get(json_object_get(j, "compare"), 0);
	CU_ASSERT_STRING_EQUAL(sent_str(cmp, "target", NULL), "CREATE");
	CU_ASSERT_STRING_EQUAL(sent_str(cmp, "result", NULL), "EQUAL");
	CU_ASSERT_STRING_EQUAL(sent_str(cmp, "create_revision", NULL), "0");
	CU_ASSERT_STRING_EQUAL(sent_str(cmp, "key", NULL), "ZXBvY2g=");
	CU_ASSERT_STRING_EQUAL(sent_str(json_array_get(json_object_get(j, "success"), 0),
					"request_put", "value"), "ZTE=");
	CU_ASSERT_STRING_EQUAL(sent_str(json_array_get(json_object_get(j, "failure"), 0),
					"request_range", "key"), "ZXBvY2g=");
	json_decref(j);
	dsm_etcd_free(c);
}

static void test_cas_compare_failed_returns_current(void)
{
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv cur;
	int64_t rev = -1;
	json_t *j, *cmp;

	/* succeeded:false is omitted, as the gateway does. */
	reply("{" HDR ",\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"12\"},"
	      "\"kvs\":[{\"key\":\"ZXBvY2g=\",\"create_revision\":\"2\",\"mod_revision\":\"11\","
	      "\"version\":\"4\",\"value\":\"ZTI=\"}],\"count\":\"1\"}}]}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_cas(c, "epoch", "e9", 2, 0, 7, &rev, &cur), 0);
	CU_ASSERT_EQUAL(rev, -1);   /* untouched */
	CU_ASSERT_STRING_EQUAL(cur.value, "e2");
	CU_ASSERT_EQUAL(cur.mod_revision, 11);
	CU_ASSERT_EQUAL(cur.create_revision, 2);
	j = sent();
	cmp = json_array_get(json_object_get(j, "compare"), 0);
	CU_ASSERT_STRING_EQUAL(sent_str(cmp, "target", NULL), "MOD");
	CU_ASSERT_STRING_EQUAL(sent_str(cmp, "mod_revision", NULL), "7");
	json_decref(j);
	dsm_etcd_kv_clear(&cur);
	dsm_etcd_free(c);
}

static void test_cas_failed_key_deleted(void)
{
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv cur;

	reply("{" HDR ",\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"12\"}}}]}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_cas(c, "epoch", "x", 1, 0, 7, NULL, &cur), 0);
	CU_ASSERT_EQUAL(cur.create_revision, 0);
	CU_ASSERT_EQUAL(cur.mod_revision, 0);
	dsm_etcd_kv_clear(&cur);
	dsm_etcd_free(c);
}

static void test_cas_bad_responses(void)
{
	static const char *const bodies[] = {
		"{" HDR "}",                                      /* no responses */
		"{" HDR ",\"responses\":[{\"response_put\":{}}]}", /* wrong branch */
		"{" HDR ",\"responses\":[5]}",
		"{" HDR ",\"responses\":{}}",
		"{" HDR ",\"succeeded\":\"true\"}",               /* bool as string */
		"{\"succeeded\":true}",                           /* no revision */
	};
	struct dsm_etcd_kv cur;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct dsm_etcd *c;

		setup();
		c = client();
		reply(bodies[i], 200);
		CU_ASSERT_EQUAL(dsm_etcd_cas(c, "k", "v", 1, 0, 3, NULL, &cur), -EPROTO);
		CU_ASSERT_PTR_NULL(cur.key);
		dsm_etcd_free(c);
	}
}

static void test_cas_passes_errors_and_null_cur(void)
{
	struct dsm_etcd *c = client();

	reply("{\"error\":\"etcdserver: requested lease not found\",\"code\":5}", 404);
	reply("{" HDR ",\"responses\":[{\"response_range\":{\"kvs\":[{\"key\":\"aw==\"}]}}]}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_cas(c, "k", "v", 1, 99, 0, NULL, NULL), -ENOENT);
	CU_ASSERT_EQUAL(dsm_etcd_cas(c, "k", "v", 1, 0, 3, NULL, NULL), 0);
	CU_ASSERT_EQUAL(dsm_etcd_cas(c, "k", "v", 1, 0, -1, NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(cn.calls, 2);
	dsm_etcd_free(c);
}

/* ----------------------------------------------------------------- leases */

static void test_lease_grant(void)
{
	struct dsm_etcd *c = client();
	int64_t id;
	json_t *j;

	reply("{" HDR ",\"ID\":\"7587868490393426441\",\"TTL\":\"5\"}", 200);
	reply("{" HDR ",\"TTL\":\"5\"}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_lease_grant(c, 5, &id), 0);
	CU_ASSERT_EQUAL(id, 7587868490393426441LL);
	j = sent();
	CU_ASSERT_STRING_EQUAL(sent_str(j, "TTL", NULL), "5");
	json_decref(j);
	CU_ASSERT_EQUAL(dsm_etcd_lease_grant(c, 5, &id), -EPROTO);  /* no ID */
	CU_ASSERT_EQUAL(dsm_etcd_lease_grant(c, 0, &id), -EINVAL);
	CU_ASSERT_EQUAL(cn.calls, 2);
	dsm_etcd_free(c);
}

static void test_lease_keepalive(void)
{
	struct dsm_etcd *c = client();
	int64_t ttl = 0;

	/* Streaming RPC: wrapped in "result". */
	reply("{\"result\":{" HDR ",\"ID\":\"42\",\"TTL\":\"5\"}}\n", 200);
	/* A gone lease: TTL omitted, no error. */
	reply("{\"result\":{" HDR ",\"ID\":\"42\"}}", 200);
	/* Unwrapped, numbers: accepted too. */
	reply("{\"ID\":42,\"TTL\":3}", 200);
	reply("{\"result\":{\"TTL\":\"-1\"}}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_lease_keepalive(c, 42, &ttl), 0);
	CU_ASSERT_EQUAL(ttl, 5);
	CU_ASSERT_STRING_EQUAL(cn.path, "/v3/lease/keepalive");
	CU_ASSERT_EQUAL(dsm_etcd_lease_keepalive(c, 42, &ttl), -ENOENT);
	CU_ASSERT(strstr(dsm_etcd_last_error(c), "42") != NULL);
	CU_ASSERT_EQUAL(dsm_etcd_lease_keepalive(c, 42, &ttl), 0);
	CU_ASSERT_EQUAL(ttl, 3);
	CU_ASSERT_EQUAL(dsm_etcd_lease_keepalive(c, 42, NULL), -ENOENT);
	dsm_etcd_free(c);
}

static void test_lease_revoke(void)
{
	struct dsm_etcd *c = client();
	json_t *j;

	reply("{" HDR "}", 200);
	reply("{\"error\":\"etcdserver: requested lease not found\",\"message\":"
	      "\"etcdserver: requested lease not found\",\"code\":5}", 404);
	CU_ASSERT_EQUAL(dsm_etcd_lease_revoke(c, 42), 0);
	CU_ASSERT_STRING_EQUAL(cn.path, "/v3/lease/revoke");
	j = sent();
	CU_ASSERT_STRING_EQUAL(sent_str(j, "ID", NULL), "42");
	json_decref(j);
	CU_ASSERT_EQUAL(dsm_etcd_lease_revoke(c, 42), -ENOENT);
	dsm_etcd_free(c);
}

static void test_compact(void)
{
	struct dsm_etcd *c = client();

	reply("{" HDR "}", 200);
	reply("{\"error\":\"etcdserver: mvcc: required revision has been compacted\","
	      "\"code\":11}", 400);
	CU_ASSERT_EQUAL(dsm_etcd_compact(c, 10), 0);
	CU_ASSERT_STRING_EQUAL(cn.path, "/v3/kv/compaction");
	CU_ASSERT_EQUAL(dsm_etcd_compact(c, 10), -ERANGE);
	dsm_etcd_free(c);
}

/* ------------------------------------------------------------------ watch */

#define WCREATED "{\"result\":{" HDR ",\"created\":true}}\n"
/* Three messages: a put; a transaction (put with an empty value + delete,
 * type as an integer on one of them); a put whose header has braces and
 * escapes inside strings, which must not confuse the splitter. */
#define WEVENTS \
	"{\"result\":{\"header\":{\"revision\":\"13\"},\"events\":[{\"kv\":{" \
	"\"key\":\"YS8x\",\"create_revision\":\"13\",\"mod_revision\":\"13\"," \
	"\"version\":\"1\",\"value\":\"MQ==\"}}]}}\n" \
	"{\"result\":{\"header\":{\"revision\":\"14\"},\"events\":[{\"kv\":{" \
	"\"key\":\"YS8y\",\"create_revision\":\"14\",\"mod_revision\":\"14\"}}," \
	"{\"type\":\"DELETE\",\"kv\":{\"key\":\"YS8x\",\"mod_revision\":\"14\"}}]}}\n" \
	"{\"result\":{\"header\":{\"revision\":\"15\",\"x\":\"}{\\\"]\\\\\"}," \
	"\"events\":[{\"type\":1,\"kv\":{\"key\":\"YS8y\",\"mod_revision\":15}}]}}\n"

struct seen {
	int n;
	int stop_at;          /* return stop_ret at this event (1-based) */
	int stop_ret;
	enum dsm_etcd_event_type type[8];
	char key[8][8];
	char value[8][8];
	int64_t rev[8];
};

static int on_event(void *arg, const struct dsm_etcd_event *ev)
{
	struct seen *s = arg;

	if (s->n < 8) {
		s->type[s->n] = ev->type;
		snprintf(s->key[s->n], sizeof(s->key[0]), "%s", ev->kv.key);
		snprintf(s->value[s->n], sizeof(s->value[0]), "%s", ev->kv.value);
		s->rev[s->n] = ev->kv.mod_revision;
	}
	s->n++;
	return s->n == s->stop_at ? s->stop_ret : 0;
}

static void check_all_events(const struct seen *s)
{
	CU_ASSERT_EQUAL_FATAL(s->n, 4);
	CU_ASSERT_EQUAL(s->type[0], DSM_ETCD_PUT);
	CU_ASSERT_STRING_EQUAL(s->key[0], "a/1");
	CU_ASSERT_STRING_EQUAL(s->value[0], "1");
	CU_ASSERT_EQUAL(s->rev[0], 13);
	CU_ASSERT_EQUAL(s->type[1], DSM_ETCD_PUT);
	CU_ASSERT_STRING_EQUAL(s->key[1], "a/2");
	CU_ASSERT_STRING_EQUAL(s->value[1], "");
	CU_ASSERT_EQUAL(s->type[2], DSM_ETCD_DELETE);
	CU_ASSERT_STRING_EQUAL(s->key[2], "a/1");
	CU_ASSERT_EQUAL(s->rev[2], 14);
	CU_ASSERT_EQUAL(s->type[3], DSM_ETCD_DELETE);
	CU_ASSERT_EQUAL(s->rev[3], 15);
}

static void test_watch_whole_body_via_post(void)
{
	struct dsm_etcd *c = client();
	struct seen s = { 0 };
	int64_t next = 0;
	json_t *j;

	reply(WCREATED WEVENTS, 200);
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 0, on_event, &s, 1000, &next), 0);
	check_all_events(&s);
	CU_ASSERT_EQUAL(next, 16);
	CU_ASSERT_STRING_EQUAL(cn.path, "/v3/watch");
	j = sent();
	CU_ASSERT_STRING_EQUAL(sent_str(j, "create_request", "key"), "YS8=");
	CU_ASSERT_STRING_EQUAL(sent_str(j, "create_request", "range_end"), "YTA=");
	CU_ASSERT_STRING_EQUAL(sent_str(j, "create_request", "start_revision"), "0");
	json_decref(j);
	dsm_etcd_free(c);
}

/* Every chunk size from 1 byte up: objects split inside strings, inside
 * escapes, between "}" and "\n", ... all must come out the same. */
static void test_watch_stream_split_everywhere(void)
{
	static const char body[] = WCREATED WEVENTS;

	for (size_t chunk = 1; chunk <= sizeof(body); chunk++) {
		struct dsm_etcd *c;
		struct seen s = { 0 };
		int64_t next = 0;

		setup();
		cn.chunk = chunk;
		c = client();
		reply(body, 200);
		CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 0, on_event, &s, 1000, &next), 0);
		check_all_events(&s);
		CU_ASSERT_EQUAL(next, 16);
		dsm_etcd_free(c);
	}
}

static void test_watch_no_newlines_between_objects(void)
{
	struct dsm_etcd *c;
	struct seen s = { 0 };

	cn.chunk = 5;
	c = client();
	reply("{\"result\":{\"created\":true}}{\"result\":{\"events\":[{\"kv\":"
	      "{\"key\":\"YS8x\",\"mod_revision\":\"3\"}}]}} \r\n\t", 200);
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 2, on_event, &s, 1000, NULL), 0);
	CU_ASSERT_EQUAL(s.n, 1);
	dsm_etcd_free(c);
}

static void test_watch_callback_stop_and_resume_point(void)
{
	struct dsm_etcd *c = client();
	struct seen s = { .stop_at = 1, .stop_ret = 7 };
	int64_t next = 0;

	reply(WCREATED WEVENTS, 200);
	reply(WCREATED WEVENTS, 200);
	reply(WCREATED WEVENTS, 200);
	/* After a whole revision: resume after it. */
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 0, on_event, &s, 1000, &next), 7);
	CU_ASSERT_EQUAL(s.n, 1);
	CU_ASSERT_EQUAL(next, 14);
	/* In the middle of revision 14's two events: resume at 14. */
	s = (struct seen){ .stop_at = 2, .stop_ret = 1 };
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 10, on_event, &s, 1000, &next), 1);
	CU_ASSERT_EQUAL(next, 14);
	/* At the last event of revision 14. */
	s = (struct seen){ .stop_at = 3, .stop_ret = 2 };
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 10, on_event, &s, 1000, &next), 2);
	CU_ASSERT_EQUAL(next, 15);
	dsm_etcd_free(c);
}

static void test_watch_resume_point_without_events(void)
{
	struct dsm_etcd *c;
	struct seen s = { 0 };
	int64_t next = 0;

	cn.chunk = 64;
	cn.end_rc = -ETIMEDOUT;   /* nothing happens until the timeout */
	c = client();
	reply(WCREATED, 200);
	reply(WCREATED, 200);
	/* From now: after the revision the watch was created at. */
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 0, on_event, &s, 1000, &next), 0);
	CU_ASSERT_EQUAL(next, 13);
	/* From a given revision: still that one. */
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 5, on_event, &s, 1000, &next), 0);
	CU_ASSERT_EQUAL(next, 5);
	CU_ASSERT_EQUAL(s.n, 0);
	dsm_etcd_free(c);
}

static void test_watch_compacted_is_erange(void)
{
	struct dsm_etcd *c;
	struct seen s = { 0 };
	int64_t next = 0;

	cn.chunk = 3;
	cn.end_rc = -ETIMEDOUT;   /* the real stream stays open after cancel */
	c = client();
	reply(WCREATED "{\"result\":{\"header\":{\"raft_term\":\"2\"},"
	      "\"canceled\":true,\"compact_revision\":\"4\"}}\n", 200);
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 2, on_event, &s, 1000, &next), -ERANGE);
	CU_ASSERT_EQUAL(next, 4);
	CU_ASSERT(strstr(dsm_etcd_last_error(c), "compacted") != NULL);
	dsm_etcd_free(c);
}

static void test_watch_canceled_other_reason_is_eio(void)
{
	struct dsm_etcd *c = client();
	struct seen s = { 0 };

	reply(WCREATED "{\"result\":{\"canceled\":true,\"cancel_reason\":\"no auth\"}}", 200);
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 0, on_event, &s, 1000, NULL), -EIO);
	CU_ASSERT(strstr(dsm_etcd_last_error(c), "no auth") != NULL);
	dsm_etcd_free(c);
}

static void test_watch_timeouts(void)
{
	struct dsm_etcd *c;
	struct seen s = { 0 };

	cn.chunk = 10;
	cn.end_rc = -ETIMEDOUT;
	c = client();
	reply(WCREATED WEVENTS, 200);
	reply("", 200);                 /* connected, but never created */
	reply_rc(-ETIMEDOUT);          /* never connected */
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 0, on_event, &s, 1000, NULL), 0);
	CU_ASSERT_EQUAL(s.n, 4);
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 0, on_event, &s, 1000, NULL), -ETIMEDOUT);
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 0, on_event, &s, 1000, NULL), -ETIMEDOUT);
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 0, on_event, &s, 0, NULL), -EINVAL);
	dsm_etcd_free(c);
}

static void test_watch_errors(void)
{
	static const struct {
		const char *body;
		long status;
		int want;
	} cases[] = {
		{ "{\"error\":\"illegal base64 data\",\"code\":3}", 400, -EINVAL },
		{ WCREATED "{\"error\":{\"grpc_code\":14,\"message\":\"leader lost\"}}", 200, -EAGAIN },
		{ WCREATED "{\"result\":{\"events\":[{\"kv\":{\"key\":\"YS8x\"", 200, -EPROTO },
		{ WCREATED "garbage", 200, -EPROTO },
		{ WCREATED "{\"result\":{\"events\":[{\"type\":\"RENAME\",\"kv\":{}}]}}", 200, -EPROTO },
		{ WCREATED "{\"result\":{\"events\":[{\"type\":\"PUT\"}]}}", 200, -EPROTO },
		{ WCREATED "{\"result\":{\"events\":{}}}", 200, -EPROTO },
		{ WCREATED "{\"result\":{\"canceled\":1}}", 200, -EPROTO },
		{ WCREATED "{\"result\":{\"x\":}}", 200, -EPROTO },
		{ "<html>proxy error</html>", 502, -EIO },
		{ "", 503, -EIO },
	};

	for (size_t chunk = 0; chunk <= 7; chunk += 7)
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct dsm_etcd *c;
			struct seen s = { 0 };

			setup();
			cn.chunk = chunk;
			c = client();
			reply(cases[i].body, cases[i].status);
			CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 0, on_event, &s, 1000, NULL),
					cases[i].want);
			CU_ASSERT(strlen(dsm_etcd_last_error(c)) > 0);
			dsm_etcd_free(c);
		}
}

static void test_new_rejects_bad_endpoints(void)
{
	static const char *const bad[] = {
		"", "localhost:2379", "http://", "http://a:1,", ",http://a:1",
		"ftp://a:1", "http://a:1,,http://b:2",
	};
	struct dsm_etcd *c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		CU_ASSERT_PTR_NULL(dsm_etcd_new(bad[i], 100, NULL));
		CU_ASSERT_EQUAL(errno, EINVAL);
	}
	CU_ASSERT_PTR_NULL(dsm_etcd_new(NULL, 100, NULL));
	c = dsm_etcd_new(" http://127.0.0.1:1/ , https://h:2", 100, NULL);
	CU_ASSERT_PTR_NOT_NULL(c);
	dsm_etcd_free(c);
	dsm_etcd_free(NULL);
}

static const struct dsm_test tests[] = {
	{ "b64_rfc4648_vectors", test_b64_rfc4648_vectors },
	{ "b64_roundtrip_all_lengths_all_bytes", test_b64_roundtrip_all_lengths_all_bytes },
	{ "b64_rejects_non_canonical", test_b64_rejects_non_canonical },
	{ "put_sends_base64_and_string_lease", test_put_sends_base64_and_string_lease },
	{ "put_without_lease_and_empty_value", test_put_without_lease_and_empty_value },
	{ "put_response_without_revision_is_eproto", test_put_response_without_revision_is_eproto },
	{ "get_strings_as_gateway_sends_them", test_get_strings_as_gateway_sends_them },
	{ "get_numbers_and_omitted_fields", test_get_numbers_and_omitted_fields },
	{ "get_binary_value_with_nul", test_get_binary_value_with_nul },
	{ "get_absent_key_is_enoent", test_get_absent_key_is_enoent },
	{ "wrong_types_are_eproto", test_wrong_types_are_eproto },
	{ "malformed_json", test_malformed_json },
	{ "error_bodies_map_to_errno", test_error_bodies_map_to_errno },
	{ "transport_failure_is_returned", test_transport_failure_is_returned },
	{ "range_prefix_end", test_range_prefix_end },
	{ "range_returns_all_kvs", test_range_returns_all_kvs },
	{ "range_bad_second_kv_frees_first", test_range_bad_second_kv_frees_first },
	{ "delete_counts", test_delete_counts },
	{ "cas_create_request_and_success", test_cas_create_request_and_success },
	{ "cas_compare_failed_returns_current", test_cas_compare_failed_returns_current },
	{ "cas_failed_key_deleted", test_cas_failed_key_deleted },
	{ "cas_bad_responses", test_cas_bad_responses },
	{ "cas_passes_errors_and_null_cur", test_cas_passes_errors_and_null_cur },
	{ "lease_grant", test_lease_grant },
	{ "lease_keepalive", test_lease_keepalive },
	{ "lease_revoke", test_lease_revoke },
	{ "compact", test_compact },
	{ "watch_whole_body_via_post", test_watch_whole_body_via_post },
	{ "watch_stream_split_everywhere", test_watch_stream_split_everywhere },
	{ "watch_no_newlines_between_objects", test_watch_no_newlines_between_objects },
	{ "watch_callback_stop_and_resume_point", test_watch_callback_stop_and_resume_point },
	{ "watch_resume_point_without_events", test_watch_resume_point_without_events },
	{ "watch_compacted_is_erange", test_watch_compacted_is_erange },
	{ "watch_canceled_other_reason_is_eio", test_watch_canceled_other_reason_is_eio },
	{ "watch_timeouts", test_watch_timeouts },
	{ "watch_errors", test_watch_errors },
	{ "new_rejects_bad_endpoints", test_new_rejects_bad_endpoints },
};

int main(void)
{
	int rc = DSM_CUNIT_MAIN("etcd", tests, setup);

	free(cn.body);
	return rc;
}
