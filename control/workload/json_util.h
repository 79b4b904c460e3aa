/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Lenient JSON field readers shared by records.c and hotlist.c: int64 as a
 * number or a decimal string (the etcd gateway's habit), null or absent as
 * "not there".  Each returns 1 (found), 0 (absent), -EPROTO (wrong type)
 * or -EINVAL (out of range).
 */
#ifndef DSM_CONTROL_WORKLOAD_JSON_UTIL_H
#define DSM_CONTROL_WORKLOAD_JSON_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

static inline int wl_json_i64(const json_t *v, int64_t *out)
{
	const char *s;
	char *end;
	long long x;

	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 1;
	}
	if (!json_is_string(v))
		return -EPROTO;
	s = json_string_value(v);
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -EPROTO;
	*out = x;
	return 1;
}

static inline int wl_get_i64(const json_t *o, const char *key, int64_t *out)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return 0;
	return wl_json_i64(v, out);
}

/* An integer field within [min, max]. */
static inline int wl_get_range(const json_t *o, const char *key, int64_t min,
			       int64_t max, int64_t *out)
{
	int ret = wl_get_i64(o, key, out);

	if (ret == 1 && (*out < min || *out > max))
		return -EINVAL;
	return ret;
}

#endif /* DSM_CONTROL_WORKLOAD_JSON_UTIL_H */
