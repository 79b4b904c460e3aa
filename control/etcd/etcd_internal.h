/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared between the client's files; not part of the API. */
#ifndef DSM_CONTROL_ETCD_INTERNAL_H
#define DSM_CONTROL_ETCD_INTERNAL_H

#include <stdbool.h>

#include <jansson.h>

#include "etcd/etcd.h"

#define ETCD_ERR_LEN 256
/* A response larger than this is refused rather than buffered: a range
 * over the control plane's keys is a few KiB, etcd's request limit is
 * 1.5 MiB, so this only stops a runaway peer from eating memory. */
#define ETCD_MAX_BODY (64u << 20)

struct dsm_etcd {
	struct dsm_etcd_transport t;
	unsigned timeout_ms;
	char last_error[ETCD_ERR_LEN];
};

/* Record a message in c->last_error and return rc (a -errno). */
int etcd_fail(struct dsm_etcd *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Field readers: a missing or null field is its default (0, false, empty,
 * NULL), a field of the wrong type is -EPROTO. */
int etcd_get_i64(const json_t *obj, const char *name, int64_t *out);
int etcd_get_bool(const json_t *obj, const char *name, bool *out);
int etcd_get_obj(const json_t *obj, const char *name, json_t **out);
int etcd_get_arr(const json_t *obj, const char *name, json_t **out);
int etcd_get_bytes(const json_t *obj, const char *name, char **out,
		   size_t *len);
int etcd_parse_kv(const json_t *o, struct dsm_etcd_kv *kv);

/* "kvs" of a range response into a malloc'd array. */
int etcd_parse_kvs(const json_t *resp, struct dsm_etcd_kv **kvs, size_t *n);

/* The header's revision (0 if absent). */
int etcd_header_rev(const json_t *resp, int64_t *rev);

/* base64 of bytes as a new JSON string (NULL: out of memory). */
json_t *etcd_b64_json(const void *data, size_t len);

/* The end of the range of keys starting with prefix, as etcd wants it:
 * the prefix with its last byte below 0xff incremented and the rest cut;
 * "\0" (every key) when there is none.  Returns its length. */
size_t etcd_prefix_end(const char *prefix, char *end);

/*
 * Turn a parsed message into a result: unwraps {"result":{...}} (streaming
 * RPCs), maps an error body to -errno with the message in last_error, and
 * treats a non-2xx status without an error body as -EIO.  On 0, *inner is
 * the object to read (borrowed from root).
 */
int etcd_check(struct dsm_etcd *c, json_t *root, long status, json_t **inner);

/* Serialize req (stolen), POST it, parse and check the answer.  On 0,
 * *root holds the parsed response (json_decref it) and *inner the object
 * to read within it. */
int etcd_call(struct dsm_etcd *c, const char *path, json_t *req,
	      json_t **root, json_t **inner);

/*
 * Splits a byte stream into top-level JSON objects.  It tracks braces
 * outside strings instead of looking for newlines, so it needs no
 * delimiter at all and objects split anywhere across chunks (even inside
 * a string or an escape) come out whole.
 */
struct etcd_splitter {
	char  *buf;
	size_t len, cap;
	size_t pos;      /* scanned up to here */
	size_t start;    /* start of the current object */
	int    depth;
	bool   in_str, esc;
};

typedef int (*etcd_obj_fn)(void *arg, const char *obj, size_t len);

/* Append data; call fn for every complete object (stops at fn's non-zero
 * return and returns it).  -EPROTO on bytes outside an object that are
 * not whitespace, -EMSGSIZE past ETCD_MAX_BODY. */
int etcd_split_feed(struct etcd_splitter *s, const char *data, size_t len,
		    etcd_obj_fn fn, void *arg);
/* Non-whitespace left that is not a whole object? */
bool etcd_split_partial(const struct etcd_splitter *s);
void etcd_split_free(struct etcd_splitter *s);

#endif /* DSM_CONTROL_ETCD_INTERNAL_H */
