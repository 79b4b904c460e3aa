/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The client: one request/response per call over the transport, requests
 * built with jansson, answers read with the defensive readers of parse.c.
 * Every int64 is sent as a string, as the gateway itself writes them: a
 * JSON number above 2^53 would not survive every parser on the way.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/etcd_internal.h"

#define DEFAULT_TIMEOUT_MS 5000

struct dsm_etcd *dsm_etcd_new(const char *endpoints, unsigned timeout_ms,
			      const struct dsm_etcd_transport *t)
{
	struct dsm_etcd *c = calloc(1, sizeof(*c));
	int rc = 0;

	if (c == NULL)
		return NULL;
	c->timeout_ms = timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS;
	if (t != NULL)
		c->t = *t;
	else
		rc = dsm_etcd_transport_curl(endpoints, &c->t);
	if (rc == 0 && c->t.post == NULL)
		rc = -EINVAL;
	if (rc < 0) {
		free(c);
		errno = -rc;
		return NULL;
	}
	return c;
}

void dsm_etcd_free(struct dsm_etcd *c)
{
	if (c == NULL)
		return;
	if (c->t.destroy != NULL)
		c->t.destroy(c->t.ctx);
	free(c);
}

const char *dsm_etcd_last_error(const struct dsm_etcd *c)
{
	return c->last_error;
}

/* Body + status -> checked JSON, or -errno with last_error set. */
static int parse_resp(struct dsm_etcd *c, const char *resp, long status,
		      json_t **root, json_t **inner)
{
	json_error_t jerr;
	int rc;

	*root = json_loads(resp, 0, &jerr);
	if (*root == NULL)
		return etcd_fail(c, status / 100 == 2 ? -EPROTO : -EIO,
				 "HTTP %ld, bad JSON: %s", status, jerr.text);
	rc = etcd_check(c, *root, status, inner);
	if (rc < 0) {
		json_decref(*root);
		*root = NULL;
	}
	return rc;
}

int etcd_call(struct dsm_etcd *c, const char *path, json_t *req,
	      json_t **root, json_t **inner)
{
	char *body, *resp = NULL;
	long status = 0;
	int rc;

	c->last_error[0] = '\0';
	*root = NULL;
	if (req == NULL)
		return etcd_fail(c, -ENOMEM, "%s: out of memory", path);
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (body == NULL)
		return etcd_fail(c, -ENOMEM, "%s: out of memory", path);
	rc = c->t.post(c->t.ctx, path, body, &resp, &status, c->timeout_ms);
	free(body);
	if (rc < 0)
		return etcd_fail(c, rc, "%s: %s", path, strerror(-rc));
	rc = parse_resp(c, resp != NULL ? resp : "", status, root, inner);
	free(resp);
	return rc;
}

static json_t *i64_json(int64_t v)
{
	return json_sprintf("%" PRId64, v);
}

static json_t *key_json(const char *key)
{
	return etcd_b64_json(key, strlen(key));
}

/* The body of a put, alone or inside a transaction. */
static json_t *put_req(const char *key, const void *value, size_t len,
		       int64_t lease)
{
	json_t *req = json_pack("{s:o,s:o}", "key", key_json(key),
				"value", etcd_b64_json(value, len));

	if (req != NULL && lease != 0 &&
	    json_object_set_new(req, "lease", i64_json(lease)) < 0) {
		json_decref(req);
		return NULL;
	}
	return req;
}

/* The header's revision, which a put or a successful transaction cannot
 * lack: 0 there means the answer is not what we asked for. */
static int need_rev(struct dsm_etcd *c, const json_t *resp, int64_t *rev)
{
	if (etcd_header_rev(resp, rev) < 0 || *rev <= 0)
		return etcd_fail(c, -EPROTO, "response without a valid header.revision");
	return 0;
}

int dsm_etcd_put(struct dsm_etcd *c, const char *key, const void *value,
		 size_t len, int64_t lease, int64_t *revision)
{
	json_t *root, *resp;
	int64_t rev;
	int rc;

	rc = etcd_call(c, "/v3/kv/put", put_req(key, value, len, lease),
		       &root, &resp);
	if (rc < 0)
		return rc;
	rc = need_rev(c, resp, &rev);
	json_decref(root);
	if (rc == 0 && revision != NULL)
		*revision = rev;
	return rc;
}

int dsm_etcd_range(struct dsm_etcd *c, const char *prefix,
		   struct dsm_etcd_kv **kvs, size_t *n, int64_t *revision)
{
	char *end = malloc(strlen(prefix) + 1);
	json_t *root, *resp;
	int64_t rev;
	int rc;

	*kvs = NULL;
	*n = 0;
	if (end == NULL)
		return etcd_fail(c, -ENOMEM, "out of memory");
	rc = etcd_call(c, "/v3/kv/range",
		       json_pack("{s:o,s:o}", "key", key_json(prefix), "range_end",
				 etcd_b64_json(end, etcd_prefix_end(prefix, end))),
		       &root, &resp);
	free(end);
	if (rc < 0)
		return rc;
	rc = etcd_header_rev(resp, &rev);
	if (rc == 0)
		rc = etcd_parse_kvs(resp, kvs, n);
	json_decref(root);
	if (rc < 0)
		return etcd_fail(c, rc, "bad range response");
	if (revision != NULL)
		*revision = rev;
	return 0;
}

/* First kv of a range-shaped response into *kv; -ENOENT if none. */
static int first_kv(const json_t *resp, struct dsm_etcd_kv *kv)
{
	struct dsm_etcd_kv *kvs;
	size_t n;
	int rc = etcd_parse_kvs(resp, &kvs, &n);

	if (rc < 0)
		return rc;
	if (n == 0)
		return -ENOENT;
	*kv = kvs[0];
	memset(&kvs[0], 0, sizeof(kvs[0]));
	dsm_etcd_kvs_free(kvs, n);
	return 0;
}

int dsm_etcd_get(struct dsm_etcd *c, const char *key, struct dsm_etcd_kv *kv)
{
	json_t *root, *resp;
	int rc;

	memset(kv, 0, sizeof(*kv));
	rc = etcd_call(c, "/v3/kv/range", json_pack("{s:o}", "key", key_json(key)),
		       &root, &resp);
	if (rc < 0)
		return rc;
	rc = first_kv(resp, kv);
	json_decref(root);
	if (rc == -ENOENT)
		return etcd_fail(c, rc, "%s: no such key", key);
	return rc < 0 ? etcd_fail(c, rc, "bad range response") : 0;
}

int dsm_etcd_delete(struct dsm_etcd *c, const char *key)
{
	json_t *root, *resp;
	int64_t deleted;
	int rc;

	rc = etcd_call(c, "/v3/kv/deleterange",
		       json_pack("{s:o}", "key", key_json(key)), &root, &resp);
	if (rc < 0)
		return rc;
	rc = etcd_get_i64(resp, "deleted", &deleted);
	json_decref(root);
	if (rc == 0 && (deleted < 0 || deleted > 1))
		rc = -EPROTO;   /* one key asked, not a range */
	return rc < 0 ? etcd_fail(c, rc, "bad deleterange response") : (int)deleted;
}

/* ---------------------------------------------------------------- txn */

/* expected 0 compares create_revision (absent key) rather than
 * mod_revision: it says what is meant, and is what etcd's own
 * concurrency recipes do. */
static json_t *cas_compare(const char *key, int64_t expected)
{
	return json_pack("{s:s,s:o,s:s,s:o}",
			 "target", expected == 0 ? "CREATE" : "MOD",
			 "key", key_json(key), "result", "EQUAL",
			 expected == 0 ? "create_revision" : "mod_revision",
			 i64_json(expected));
}

static json_t *cas_req(const char *key, const void *value, size_t len,
		       int64_t lease, int64_t expected)
{
	return json_pack("{s:[o],s:[{s:o}],s:[{s:{s:o}}]}",
			 "compare", cas_compare(key, expected),
			 "success", "request_put", put_req(key, value, len, lease),
			 "failure", "request_range", "key", key_json(key));
}

/* The failure branch's range: what the key is now. */
static int cas_current(const json_t *resp, struct dsm_etcd_kv *cur)
{
	json_t *arr, *rr;
	int rc = etcd_get_arr(resp, "responses", &arr);

	if (rc < 0 || arr == NULL || json_array_size(arr) != 1)
		return -EPROTO;
	if (!json_is_object(json_array_get(arr, 0)))
		return -EPROTO;
	rc = etcd_get_obj(json_array_get(arr, 0), "response_range", &rr);
	if (rc < 0 || rr == NULL)
		return -EPROTO;
	rc = first_kv(rr, cur);
	return rc == -ENOENT ? 0 : rc;
}

int dsm_etcd_cas(struct dsm_etcd *c, const char *key, const void *value,
		 size_t len, int64_t lease, int64_t expected,
		 int64_t *new_rev, struct dsm_etcd_kv *cur)
{
	struct dsm_etcd_kv kv = { 0 };
	json_t *root, *resp;
	bool ok;
	int64_t rev = 0;
	int rc;

	if (cur != NULL)
		memset(cur, 0, sizeof(*cur));
	if (expected < 0)
		return etcd_fail(c, -EINVAL, "negative expected revision");
	rc = etcd_call(c, "/v3/kv/txn", cas_req(key, value, len, lease, expected),
		       &root, &resp);
	if (rc < 0)
		return rc;
	rc = etcd_get_bool(resp, "succeeded", &ok);
	if (rc == 0 && ok)
		rc = need_rev(c, resp, &rev);
	else if (rc == 0)
		rc = cas_current(resp, &kv);
	json_decref(root);
	if (rc < 0)
		return etcd_fail(c, rc, "bad txn response");
	if (ok && new_rev != NULL)
		*new_rev = rev;
	if (cur != NULL)
		*cur = kv;
	else
		dsm_etcd_kv_clear(&kv);
	return ok;
}

/* ------------------------------------------------------------- leases */

int dsm_etcd_lease_grant(struct dsm_etcd *c, int64_t ttl_s, int64_t *id)
{
	json_t *root, *resp;
	int rc;

	*id = 0;
	if (ttl_s <= 0)
		return etcd_fail(c, -EINVAL, "lease TTL must be positive");
	rc = etcd_call(c, "/v3/lease/grant",
		       json_pack("{s:o}", "TTL", i64_json(ttl_s)), &root, &resp);
	if (rc < 0)
		return rc;
	rc = etcd_get_i64(resp, "ID", id);
	json_decref(root);
	if (rc < 0 || *id <= 0)
		return etcd_fail(c, -EPROTO, "response without a valid lease ID");
	return 0;
}

/*
 * The gateway maps the keepalive stream onto one POST: one request in,
 * one {"result":...} out, then the stream closes.  A lease that is gone
 * is not an error there: the answer just has no TTL (TTL 0 omitted).
 */
int dsm_etcd_lease_keepalive(struct dsm_etcd *c, int64_t id, int64_t *ttl)
{
	json_t *root, *resp;
	int64_t t;
	int rc;

	rc = etcd_call(c, "/v3/lease/keepalive",
		       json_pack("{s:o}", "ID", i64_json(id)), &root, &resp);
	if (rc < 0)
		return rc;
	rc = etcd_get_i64(resp, "TTL", &t);
	json_decref(root);
	if (rc < 0)
		return etcd_fail(c, rc, "bad keepalive response");
	if (t <= 0)
		return etcd_fail(c, -ENOENT, "lease %" PRId64 " expired or revoked", id);
	if (ttl != NULL)
		*ttl = t;
	return 0;
}

int dsm_etcd_lease_revoke(struct dsm_etcd *c, int64_t id)
{
	json_t *root, *resp;
	int rc;

	/* The current path; etcd 3.4 also answers the older
	 * /v3/kv/lease/revoke. */
	rc = etcd_call(c, "/v3/lease/revoke",
		       json_pack("{s:o}", "ID", i64_json(id)), &root, &resp);
	if (rc == 0)
		json_decref(root);
	return rc;
}

int dsm_etcd_compact(struct dsm_etcd *c, int64_t revision)
{
	json_t *root, *resp;
	int rc;

	rc = etcd_call(c, "/v3/kv/compaction",
		       json_pack("{s:o}", "revision", i64_json(revision)),
		       &root, &resp);
	if (rc == 0)
		json_decref(root);
	return rc;
}
