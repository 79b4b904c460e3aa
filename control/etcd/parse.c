/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Defensive reading of gateway responses.  proto3 JSON omits every field
 * that has its default value and writes 64-bit integers as strings, so
 * each reader treats "missing" (and null) as the default, accepts an int64
 * as either a decimal string or a JSON integer, and rejects anything else
 * with -EPROTO rather than guessing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/etcd_internal.h"

int etcd_fail(struct dsm_etcd *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
	va_end(ap);
	return rc;
}

/* Whole-string decimal: strtoll alone would accept " 12", "+12", "12x". */
static int parse_dec(const char *s, int64_t *out)
{
	const char *d = s[0] == '-' ? s + 1 : s;
	char *end;
	long long v;

	if (*d < '0' || *d > '9')
		return -EPROTO;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EPROTO;
	*out = v;
	return 0;
}

int etcd_get_i64(const json_t *obj, const char *name, int64_t *out)
{
	json_t *v = json_object_get(obj, name);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v))
		return parse_dec(json_string_value(v), out);
	return -EPROTO;
}

int etcd_get_bool(const json_t *obj, const char *name, bool *out)
{
	json_t *v = json_object_get(obj, name);

	*out = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return -EPROTO;
	*out = json_is_true(v);
	return 0;
}

int etcd_get_obj(const json_t *obj, const char *name, json_t **out)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return -EPROTO;
	*out = v;
	return 0;
}

int etcd_get_arr(const json_t *obj, const char *name, json_t **out)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return -EPROTO;
	*out = v;
	return 0;
}

/* Base64 field -> malloc'd, NUL-terminated bytes ("" when missing). */
int etcd_get_bytes(const json_t *obj, const char *name, char **out,
		   size_t *len)
{
	json_t *v = json_object_get(obj, name);
	const char *s = "";
	size_t slen = 0;
	long n;

	*out = NULL;
	*len = 0;
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v))
			return -EPROTO;
		s = json_string_value(v);
		slen = json_string_length(v);
	}
	*out = malloc(dsm_etcd_b64_dec_max(slen) + 1);
	if (*out == NULL)
		return -ENOMEM;
	n = dsm_etcd_b64_decode(s, slen, *out);
	if (n < 0) {
		free(*out);
		*out = NULL;
		return -EPROTO;
	}
	(*out)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

void dsm_etcd_kv_clear(struct dsm_etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void dsm_etcd_kvs_free(struct dsm_etcd_kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dsm_etcd_kv_clear(&kvs[i]);
	free(kvs);
}

int etcd_parse_kv(const json_t *o, struct dsm_etcd_kv *kv)
{
	int rc;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(o))
		return -EPROTO;
	rc = etcd_get_bytes(o, "key", &kv->key, &kv->key_len);
	if (rc == 0)
		rc = etcd_get_bytes(o, "value", &kv->value, &kv->value_len);
	if (rc == 0)
		rc = etcd_get_i64(o, "create_revision", &kv->create_revision);
	if (rc == 0)
		rc = etcd_get_i64(o, "mod_revision", &kv->mod_revision);
	if (rc == 0)
		rc = etcd_get_i64(o, "version", &kv->version);
	if (rc == 0)
		rc = etcd_get_i64(o, "lease", &kv->lease);
	if (rc < 0)
		dsm_etcd_kv_clear(kv);
	return rc;
}

int etcd_parse_kvs(const json_t *resp, struct dsm_etcd_kv **kvs, size_t *n)
{
	json_t *arr;
	size_t i;
	int rc;

	*kvs = NULL;
	*n = 0;
	rc = etcd_get_arr(resp, "kvs", &arr);
	if (rc < 0 || arr == NULL || json_array_size(arr) == 0)
		return rc;
	*kvs = calloc(json_array_size(arr), sizeof(**kvs));
	if (*kvs == NULL)
		return -ENOMEM;
	for (i = 0; i < json_array_size(arr); i++) {
		rc = etcd_parse_kv(json_array_get(arr, i), &(*kvs)[i]);
		if (rc < 0) {
			dsm_etcd_kvs_free(*kvs, i);
			*kvs = NULL;
			return rc;
		}
	}
	*n = i;
	return 0;
}

int etcd_header_rev(const json_t *resp, int64_t *rev)
{
	json_t *hdr;
	int rc = etcd_get_obj(resp, "header", &hdr);

	*rev = 0;
	if (rc < 0 || hdr == NULL)
		return rc;
	return etcd_get_i64(hdr, "revision", rev);
}

json_t *etcd_b64_json(const void *data, size_t len)
{
	char *s = malloc(dsm_etcd_b64_enc_len(len) + 1);
	json_t *j;

	if (s == NULL)
		return NULL;
	dsm_etcd_b64_encode(data, len, s);
	j = json_string(s);
	free(s);
	return j;
}

size_t etcd_prefix_end(const char *prefix, char *end)
{
	size_t n = strlen(prefix);

	while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
		n--;
	if (n == 0) {
		end[0] = '\0';
		return 1;
	}
	memcpy(end, prefix, n);
	end[n - 1]++;
	return n;
}

/* ------------------------------------------------------------- errors */

/* gRPC status code -> errno; see the table in etcd.h. */
static int grpc_errno(int64_t code, long status)
{
	switch (code) {
	case 3:  return -EINVAL;
	case 4:  return -ETIMEDOUT;
	case 5:  return -ENOENT;
	case 7:  return -EACCES;
	case 11: return -ERANGE;
	case 14: return -EAGAIN;
	case 16: return -EACCES;
	case 0:  /* no code: fall back on the HTTP status */
		return status == 404 ? -ENOENT : status == 400 ? -EINVAL : -EIO;
	default: return -EIO;
	}
}

static const char *str_or(const json_t *obj, const char *name, const char *dflt)
{
	json_t *v = json_object_get(obj, name);

	return json_is_string(v) && json_string_length(v) > 0 ?
	       json_string_value(v) : dflt;
}

/*
 * An error body: unary RPCs answer {"error":"msg","code":N,"message":
 * "msg"}, a stream that fails midway sends {"error":{"grpc_code":N,
 * "message":"msg",...}}.  Returns 0 if root is not an error.
 */
static int body_error(struct dsm_etcd *c, const json_t *root, long status)
{
	json_t *e = json_object_get(root, "error");
	const json_t *src = root;
	const char *code_name = "code";
	int64_t code;

	if (json_is_object(e)) {
		src = e;
		code_name = "grpc_code";
	} else if (e == NULL || json_is_null(e) ||
		   (json_is_string(e) && json_string_length(e) == 0)) {
		if (etcd_get_i64(root, "code", &code) < 0 || code == 0)
			return 0;
	} else if (!json_is_string(e)) {
		return etcd_fail(c, -EPROTO, "error field of unexpected type");
	}
	if (etcd_get_i64(src, code_name, &code) < 0)
		code = 2;   /* unreadable code: UNKNOWN */
	return etcd_fail(c, grpc_errno(code, status), "etcd: %s (code %" PRId64 ")",
			 str_or(src, "message", str_or(root, "error", "no message")),
			 code);
}

int etcd_check(struct dsm_etcd *c, json_t *root, long status, json_t **inner)
{
	json_t *res;
	int rc;

	*inner = NULL;
	if (!json_is_object(root))
		return etcd_fail(c, status / 100 == 2 ? -EPROTO : -EIO,
				 "HTTP %ld: response is not a JSON object", status);
	rc = body_error(c, root, status);
	if (rc < 0)
		return rc;
	if (status / 100 != 2)
		return etcd_fail(c, -EIO, "HTTP %ld", status);
	rc = etcd_get_obj(root, "result", &res);
	if (rc < 0)
		return etcd_fail(c, rc, "result is not an object");
	*inner = res != NULL ? res : root;
	return 0;
}
