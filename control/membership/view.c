/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "membership/view.h"

static int cmp_member(const void *a, const void *b)
{
	const struct dsm_member *x = a, *y = b;

	return (x->node > y->node) - (x->node < y->node);
}

int dsm_view_normalize(struct dsm_view *v)
{
	if (v->n > DSM_VIEW_MAX)
		return -EINVAL;
	qsort(v->m, v->n, sizeof(v->m[0]), cmp_member);
	for (uint32_t i = 0; i < v->n; i++) {
		if (v->m[i].node == 0 || v->m[i].node >= DSM_VIEW_MAX)
			return -EINVAL;
		if (i && v->m[i].node == v->m[i - 1].node)
			return -EINVAL;
	}
	return 0;
}

bool dsm_view_has(const struct dsm_view *v, uint16_t node, uint64_t incarnation)
{
	for (uint32_t i = 0; i < v->n; i++)
		if (v->m[i].node == node)
			return v->m[i].incarnation == incarnation;
	return false;
}

static bool same_members(const struct dsm_view *a, const struct dsm_view *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (a->m[i].node != b->m[i].node || a->m[i].incarnation != b->m[i].incarnation)
			return false;
	return true;
}

int dsm_view_next(const struct dsm_view *cur, const struct dsm_view *live,
		  struct dsm_view *next)
{
	if (cur->epoch && same_members(cur, live))
		return 0;
	*next = *live;
	next->epoch = cur->epoch + 1;
	return 1;
}

uint32_t dsm_view_departed(const struct dsm_view *old, const struct dsm_view *new_view,
			   struct dsm_member *out, uint32_t max)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < old->n; i++)
		if (!dsm_view_has(new_view, old->m[i].node, old->m[i].incarnation) && n < max)
			out[n++] = old->m[i];
	return n;
}

/* ------------------------------------------------------------------ JSON */

/* An unsigned 64-bit value as a number or a decimal string (the etcd
 * gateway writes int64 as strings; our own writer uses numbers). */
static int get_u64(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(o, key);
	char *end;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && json_string_value(v)[0]) {
		errno = 0;
		*out = strtoull(json_string_value(v), &end, 10);
		return errno || *end || json_string_value(v)[0] == '-' ? -EPROTO : 0;
	}
	return -EPROTO;
}

static int member_from(json_t *node, json_t *inc, struct dsm_member *m)
{
	json_t *o = json_object();
	uint64_t id;
	int ret;

	json_object_set(o, "n", node);
	json_object_set(o, "i", inc);
	ret = get_u64(o, "n", &id);
	if (ret == 0)
		ret = get_u64(o, "i", &m->incarnation);
	json_decref(o);
	if (ret == 0 && (id == 0 || id >= DSM_VIEW_MAX))
		ret = -EPROTO;
	m->node = (uint16_t)id;
	return ret;
}

int dsm_view_decode(const char *json, size_t len, struct dsm_view *v)
{
	json_t *root = json_loadb(json, len, 0, NULL), *members;
	size_t i;
	int ret = -EPROTO;

	memset(v, 0, sizeof(*v));
	if (!json_is_object(root) || get_u64(root, "epoch", &v->epoch) || !v->epoch)
		goto out;
	members = json_object_get(root, "members");
	if (!json_is_array(members) || json_array_size(members) > DSM_VIEW_MAX)
		goto out;
	for (i = 0; i < json_array_size(members); i++) {
		json_t *pair = json_array_get(members, i);

		if (!json_is_array(pair) || json_array_size(pair) != 2 ||
		    member_from(json_array_get(pair, 0), json_array_get(pair, 1), &v->m[i]))
			goto out;
	}
	v->n = (uint32_t)i;
	ret = dsm_view_normalize(v) ? -EPROTO : 0;
out:
	json_decref(root);
	return ret;
}

int dsm_view_encode(const struct dsm_view *v, char *buf, size_t len)
{
	size_t off;
	/* 64-bit values as strings, as the etcd gateway does: JSON numbers
	 * are not exact beyond 2^53 for every reader. */
	int n = snprintf(buf, len, "{\"epoch\":\"%lu\",\"members\":[", (unsigned long)v->epoch);

	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	off = (size_t)n;
	for (uint32_t i = 0; i < v->n; i++) {
		n = snprintf(buf + off, len - off, "%s[%u,\"%lu\"]", i ? "," : "",
			     v->m[i].node, (unsigned long)v->m[i].incarnation);
		if (n < 0 || (size_t)n >= len - off)
			return -ENOSPC;
		off += (size_t)n;
	}
	n = snprintf(buf + off, len - off, "]}");
	if (n < 0 || (size_t)n >= len - off)
		return -ENOSPC;
	return (int)(off + (size_t)n);
}

int dsm_member_encode(const struct dsm_member *m, char *buf, size_t len)
{
	int n = snprintf(buf, len, "{\"node\":%u,\"incarnation\":\"%lu\"}", m->node,
			 (unsigned long)m->incarnation);

	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

int dsm_member_decode(const char *json, size_t len, struct dsm_member *m)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	uint64_t id = 0;
	int ret = -EPROTO;

	if (json_is_object(root) && get_u64(root, "node", &id) == 0 &&
	    get_u64(root, "incarnation", &m->incarnation) == 0 && id && id < DSM_VIEW_MAX) {
		m->node = (uint16_t)id;
		ret = 0;
	}
	json_decref(root);
	return ret;
}
