/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A small etcd v3 client over the JSON gateway (etcd 3.4: POST /v3/...).
 *
 * The control plane keeps node membership and ownership epochs in etcd; it
 * needs put/get/range/delete, one compare-and-swap transaction, leases and
 * a watch.  The gateway rather than gRPC keeps the dependency list to
 * libcurl + jansson, both in Debian.
 *
 * Gateway quirks this code is written against (checked on etcd 3.4.23):
 *  - keys and values are base64 (standard alphabet, padded);
 *  - int64 fields are JSON strings ("revision":"12"); numbers are accepted
 *    too, because other marshalers emit them;
 *  - default-valued fields are omitted ("count", "kvs", "succeeded",
 *    "value" of an empty value, "type" of a PUT event, "TTL" of a dead
 *    lease), so a missing field means its default, never an error;
 *  - streaming RPCs (watch, lease keepalive) wrap every message in
 *    {"result":{...}}; errors are {"error":"...","code":N,"message":"..."}
 *    with a gRPC code, or, inside a stream, {"error":{"grpc_code":N,
 *    "message":"..."}};
 *  - a watch on a compacted revision is not an HTTP error: the stream says
 *    "created", then "canceled" with "compact_revision", and stays open.
 *
 * Errors are negative errno values; the server's or transport's message is
 * kept in the client (dsm_etcd_last_error).  Mapping of gRPC codes:
 * NOT_FOUND (lease not found) -ENOENT, OUT_OF_RANGE (compacted or future
 * revision) -ERANGE, INVALID_ARGUMENT -EINVAL, DEADLINE_EXCEEDED
 * -ETIMEDOUT, UNAVAILABLE -EAGAIN, PERMISSION_DENIED/UNAUTHENTICATED
 * -EACCES, anything else -EIO.  A response that does not parse, or a field
 * of the wrong type, is -EPROTO.
 *
 * A client is not thread-safe (one curl handle, one last_error): use one
 * client per thread.  Keys are NUL-terminated strings; values are bytes.
 */
#ifndef DSM_CONTROL_ETCD_H
#define DSM_CONTROL_ETCD_H

#include <stddef.h>
#include <stdint.h>

/*
 * How requests reach etcd.  post() sends one JSON body to url_path (e.g.
 * "/v3/kv/put") and returns 0 once any HTTP response arrived, with the
 * body in *resp (malloc'd, NUL-terminated, freed by the caller) and its
 * status in *http_status; or -errno if no response came (-ECONNREFUSED,
 * -ETIMEDOUT, ...).  timeout_ms bounds the whole exchange.
 *
 * stream() is optional: the same request, but the body is handed to
 * on_data piece by piece as it arrives (a watch never ends by itself).
 * *http_status is set before the first on_data call.  When on_data
 * returns non-zero the transfer is abandoned and stream() returns that
 * value.  A timeout after data started flowing is a normal
 * end of a watch and returns -ETIMEDOUT like any other timeout; the caller
 * tells the cases apart.  Without stream(), a watch falls back to post()
 * and parses the whole body at once (enough for canned test responses).
 */
typedef int (*dsm_etcd_data_fn)(void *arg, const char *data, size_t len);

struct dsm_etcd_transport {
	int (*post)(void *ctx, const char *url_path, const char *body,
		    char **resp, long *http_status, unsigned timeout_ms);
	void *ctx;
	int (*stream)(void *ctx, const char *url_path, const char *body,
		      dsm_etcd_data_fn on_data, void *arg, long *http_status,
		      unsigned timeout_ms);
	void (*destroy)(void *ctx);   /* optional: called by dsm_etcd_free */
};

/*
 * libcurl transport.  endpoints: "http://h:p[,http://h2:p2...]".  One easy
 * handle (so one kept-alive connection), proxies ignored, connect and total
 * timeouts always set.  A request goes to the endpoint that last answered;
 * if that one cannot be connected to, the next ones are tried in order.
 * Only failures where the request was certainly not sent fail over: a
 * put or a transaction must never be applied twice.  Returns 0 or -errno
 * (-EINVAL: bad endpoint list).  Free with t->destroy(t->ctx).
 */
int dsm_etcd_transport_curl(const char *endpoints,
			    struct dsm_etcd_transport *t);

struct dsm_etcd;

/*
 * endpoints: see dsm_etcd_transport_curl (ignored when t is given).
 * timeout_ms: per request (watch has its own); 0 means 5000.
 * t: NULL for libcurl; otherwise copied, and its destroy() (if any) is
 * called by dsm_etcd_free.  Returns NULL with errno set on failure.
 */
struct dsm_etcd *dsm_etcd_new(const char *endpoints, unsigned timeout_ms,
			      const struct dsm_etcd_transport *t);
void dsm_etcd_free(struct dsm_etcd *c);

/* Message of the last failed call ("" after a successful one). */
const char *dsm_etcd_last_error(const struct dsm_etcd *c);

/* One key-value as etcd stores it.  key and value are malloc'd and
 * NUL-terminated (value may also contain NUL bytes: use value_len). */
struct dsm_etcd_kv {
	char    *key;
	size_t   key_len;
	char    *value;
	size_t   value_len;
	int64_t  create_revision;    /* 0: the key does not exist */
	int64_t  mod_revision;
	int64_t  version;
	int64_t  lease;              /* 0: none */
};

void dsm_etcd_kv_clear(struct dsm_etcd_kv *kv);        /* frees, zeroes */
void dsm_etcd_kvs_free(struct dsm_etcd_kv *kvs, size_t n);

/* Put key=value (lease 0: none).  *revision (may be NULL): the store
 * revision of this put, i.e. the key's new mod_revision. */
int dsm_etcd_put(struct dsm_etcd *c, const char *key, const void *value,
		 size_t len, int64_t lease, int64_t *revision);

/* Read one key into *kv (clear it with dsm_etcd_kv_clear).  -ENOENT if
 * the key does not exist. */
int dsm_etcd_get(struct dsm_etcd *c, const char *key, struct dsm_etcd_kv *kv);

/* All keys starting with prefix ("" = every key), sorted by key.  *kvs is
 * malloc'd (NULL when *n == 0); free with dsm_etcd_kvs_free.  *revision
 * (may be NULL): the store revision the range was read at. */
int dsm_etcd_range(struct dsm_etcd *c, const char *prefix,
		   struct dsm_etcd_kv **kvs, size_t *n, int64_t *revision);

/* Delete one key.  Returns the number of keys deleted (0 or 1). */
int dsm_etcd_delete(struct dsm_etcd *c, const char *key);

/*
 * Compare-and-swap, the primitive of epochs: put key=value iff the key's
 * mod_revision == expected; expected 0 means the key must not exist
 * (create_revision == 0).  One transaction, so of two racing callers with
 * the same expected revision exactly one wins.
 *
 * Returns 1 if the put happened (*new_rev, may be NULL: its revision), 0
 * if the compare failed, -errno on error.  On 0, *cur (may be NULL)
 * receives the key as it was when the compare failed (read in the same
 * transaction, so it is the value that beat us); cur->create_revision == 0
 * means the key does not exist.  Clear *cur with dsm_etcd_kv_clear.
 */
int dsm_etcd_cas(struct dsm_etcd *c, const char *key, const void *value,
		 size_t len, int64_t lease, int64_t expected,
		 int64_t *new_rev, struct dsm_etcd_kv *cur);

/* Leases.  grant: *id of a new lease living ttl_s seconds.  keepalive:
 * renews it, *ttl (may be NULL) = its TTL again; -ENOENT once the lease has
 * expired or been revoked.  revoke: -ENOENT if it does not exist. */
int dsm_etcd_lease_grant(struct dsm_etcd *c, int64_t ttl_s, int64_t *id);
int dsm_etcd_lease_keepalive(struct dsm_etcd *c, int64_t id, int64_t *ttl);
int dsm_etcd_lease_revoke(struct dsm_etcd *c, int64_t id);

/* Drop history older than revision: a watch from before it then fails
 * with -ERANGE.  (Tests need it; the control plane may bound history.) */
int dsm_etcd_compact(struct dsm_etcd *c, int64_t revision);

enum dsm_etcd_event_type {
	DSM_ETCD_PUT = 0,
	DSM_ETCD_DELETE = 1,
};

/* A watch event.  For a DELETE, kv.value is empty and kv.mod_revision is
 * the revision of the delete.  The pointers live only during the
 * callback. */
struct dsm_etcd_event {
	enum dsm_etcd_event_type type;
	struct dsm_etcd_kv kv;
};

/* Non-zero return: stop watching, dsm_etcd_watch returns that value. */
typedef int (*dsm_etcd_watch_cb)(void *arg, const struct dsm_etcd_event *ev);

/*
 * Watch every key starting with prefix from start_revision (0: from now),
 * calling cb for each event in revision order.  Blocks until
 *  - cb returns non-zero: returns that value (make it positive);
 *  - timeout_ms passes, or the server ends the stream: returns 0;
 *  - an error: -errno.  A start_revision already compacted away is -ERANGE
 *    (*next_rev is then the oldest revision still available).
 *
 * *next_rev (may be NULL) is where to resume so that nothing is missed:
 * after the last event delivered (or, if cb stopped in the middle of a
 * transaction's events, at that transaction's revision again, so the rest
 * of it is not lost; events are delivered at least once).
 */
int dsm_etcd_watch(struct dsm_etcd *c, const char *prefix,
		   int64_t start_revision, dsm_etcd_watch_cb cb, void *arg,
		   unsigned timeout_ms, int64_t *next_rev);

/*
 * Base64, standard alphabet with padding (what the gateway speaks).
 * encode: writes dsm_etcd_b64_enc_len(len) bytes + NUL to out.
 * decode: out needs dsm_etcd_b64_dec_max(inlen) bytes; returns the decoded
 * length, or -EINVAL unless in is canonical padded base64 (length a
 * multiple of 4, '=' only at the end, unused bits zero).
 */
static inline size_t dsm_etcd_b64_enc_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

static inline size_t dsm_etcd_b64_dec_max(size_t inlen)
{
	return inlen / 4 * 3;
}

void dsm_etcd_b64_encode(const void *in, size_t len, char *out);
long dsm_etcd_b64_decode(const char *in, size_t inlen, void *out);

#endif /* DSM_CONTROL_ETCD_H */
