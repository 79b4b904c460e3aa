/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsmctl/cluster.h"

void dsmctl_key(const struct dsmctl *c, char *buf, size_t len, const char *fmt, ...)
{
	size_t off;
	va_list ap;

	snprintf(buf, len, "%s", c->prefix);
	off = strlen(buf);
	va_start(ap, fmt);
	vsnprintf(buf + off, len - off, fmt, ap);
	va_end(ap);
}

static int read_epoch(struct dsmctl *c, struct dsmctl_cluster *cl)
{
	struct dsm_etcd_kv kv = { 0 };
	char key[160];
	int ret;

	dsmctl_key(c, key, sizeof(key), "epoch");
	ret = dsm_etcd_get(c->etcd, key, &kv);
	if (ret == -ENOENT)
		return 0;   /* no node ever joined */
	if (ret == 0 && dsm_view_decode(kv.value, kv.value_len, &cl->view))
		cl->bad++;
	dsm_etcd_kv_clear(&kv);
	return ret;
}

/* Node id at the end of a key ("P" "nodes/12"), or 0. */
static unsigned id_of(const char *key, size_t plen)
{
	const char *s = key + plen;
	unsigned v = 0;

	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > DSMCTL_MAX_NODE)
			return 0;
		v = v * 10 + (unsigned)(*s - '0');
	}
	return v <= DSMCTL_MAX_NODE ? v : 0;
}

typedef void (*kv_fn)(struct dsmctl_cluster *cl, unsigned id, const struct dsm_etcd_kv *kv);

/* Every key of P+what, by node id. */
static int read_range(struct dsmctl *c, struct dsmctl_cluster *cl, const char *what, kv_fn fn)
{
	struct dsm_etcd_kv *kvs = NULL;
	char prefix[160];
	size_t n = 0;
	int ret;

	dsmctl_key(c, prefix, sizeof(prefix), "%s", what);
	ret = dsm_etcd_range(c->etcd, prefix, &kvs, &n, NULL);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		unsigned id = id_of(kvs[i].key, strlen(prefix));

		if (id)
			fn(cl, id, &kvs[i]);
		else
			cl->bad++;
	}
	dsm_etcd_kvs_free(kvs, n);
	return ret;
}

static void on_member(struct dsmctl_cluster *cl, unsigned id, const struct dsm_etcd_kv *kv)
{
	struct dsm_member m;

	if (cl->live.n < DSM_VIEW_MAX && !dsm_member_decode(kv->value, kv->value_len, &m) &&
	    m.node == id)
		cl->live.m[cl->live.n++] = m;
	else
		cl->bad++;
}

static void on_record(struct dsmctl_cluster *cl, unsigned id, const struct dsm_etcd_kv *kv)
{
	if (!dsmctl_node_rec_decode(kv->value, kv->value_len, &cl->rec[id]) &&
	    cl->rec[id].node == id)
		cl->has_rec |= UINT64_C(1) << id;
	else
		cl->bad++;
}

static void on_drain(struct dsmctl_cluster *cl, unsigned id, const struct dsm_etcd_kv *kv)
{
	(void)kv;   /* the key's presence is the mark; since_ms is for people */
	cl->drained |= UINT64_C(1) << id;
}

int dsmctl_cluster_read(struct dsmctl *c, struct dsmctl_cluster *cl)
{
	int ret;

	memset(cl, 0, sizeof(*cl));
	ret = read_epoch(c, cl);
	if (ret == 0)
		ret = read_range(c, cl, "members/", on_member);
	if (ret == 0 && dsm_view_normalize(&cl->live))
		cl->bad++;
	if (ret == 0)
		ret = read_range(c, cl, "nodes/", on_record);
	if (ret == 0)
		ret = read_range(c, cl, "drain/", on_drain);
	return ret;
}

bool dsmctl_in_view(const struct dsmctl_cluster *cl, unsigned node)
{
	for (uint32_t i = 0; i < cl->view.n; i++)
		if (cl->view.m[i].node == node)
			return true;
	return false;
}

bool dsmctl_known(const struct dsmctl_cluster *cl, unsigned node)
{
	for (uint32_t i = 0; i < cl->live.n; i++)
		if (cl->live.m[i].node == node)
			return true;
	return dsmctl_in_view(cl, node) || dsmctl_bit(cl->has_rec, node);
}

const char *dsmctl_local_tel(const struct dsmctl *c, const struct dsmctl_cluster *cl,
			     unsigned node)
{
	const struct dsmctl_node_rec *r = &cl->rec[node];

	if (!dsmctl_bit(cl->has_rec, node) || !r->telemetry[0])
		return NULL;
	/* A record without a host is taken as local: trying costs one
	 * failed connect. */
	if (r->host[0] && strcmp(r->host, c->host))
		return NULL;
	return r->telemetry;
}

/* ---------------------------------------------------------- workloads */

bool dsmctl_workload_key(const struct dsmctl *c, const char *key, char *name, size_t nlen,
			 const char **what)
{
	size_t plen = strlen(c->prefix), n;
	const char *s, *slash;

	if (strncmp(key, c->prefix, plen) || strncmp(key + plen, "workloads/", 10))
		return false;
	s = key + plen + 10;
	slash = strchr(s, '/');
	if (!slash || slash == s || (n = (size_t)(slash - s)) >= nlen)
		return false;
	memcpy(name, s, n);
	name[n] = '\0';
	*what = slash + 1;
	return true;
}

struct dsmctl_workload *dsmctl_workload_find(struct dsmctl_workload *w, size_t n,
					     const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(w[i].name, name))
			return &w[i];
	return NULL;
}

static char *dup_value(const struct dsm_etcd_kv *kv)
{
	char *s = malloc(kv->value_len + 1);

	if (s)
		memcpy(s, kv->value, kv->value_len + 1);   /* value is NUL-terminated */
	return s;
}

static int take_spec(struct dsmctl_workload *w, const struct dsm_etcd_kv *kv)
{
	w->has_spec = true;
	w->spec_rev = kv->mod_revision;
	w->spec_json = dup_value(kv);
	if (!w->spec_json)
		return -ENOMEM;
	w->spec_len = kv->value_len;
	w->bad_spec = dsmctl_spec_decode(kv->value, kv->value_len, &w->spec) != 0;
	return 0;
}

static int take_status(struct dsmctl_workload *w, const struct dsm_etcd_kv *kv)
{
	w->has_status = true;
	w->status_json = dup_value(kv);
	if (!w->status_json)
		return -ENOMEM;
	w->status_len = kv->value_len;
	w->bad_status = dsmctl_status_decode(kv->value, kv->value_len, &w->status) != 0;
	return 0;
}

static int take_kv(struct dsmctl *c, struct dsmctl_workload **w, size_t *n,
		   const struct dsm_etcd_kv *kv)
{
	char name[DSMCTL_NAME_MAX];
	struct dsmctl_workload *x, *grown;
	const char *what;

	if (!dsmctl_workload_key(c, kv->key, name, sizeof(name), &what))
		return 0;
	x = dsmctl_workload_find(*w, *n, name);
	if (!x) {
		grown = realloc(*w, (*n + 1) * sizeof(**w));
		if (!grown)
			return -ENOMEM;
		*w = grown;
		x = &grown[(*n)++];
		memset(x, 0, sizeof(*x));
		memcpy(x->name, name, sizeof(name));
	}
	if (!strcmp(what, "spec"))
		return take_spec(x, kv);
	if (!strcmp(what, "status"))
		return take_status(x, kv);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct dsmctl_workload *)a)->name,
		      ((const struct dsmctl_workload *)b)->name);
}

int dsmctl_workloads_read(struct dsmctl *c, struct dsmctl_workload **w, size_t *n,
			  int64_t *rev)
{
	struct dsm_etcd_kv *kvs = NULL;
	char prefix[160];
	size_t nkv = 0;
	int ret;

	*w = NULL;
	*n = 0;
	dsmctl_key(c, prefix, sizeof(prefix), "workloads/");
	ret = dsm_etcd_range(c->etcd, prefix, &kvs, &nkv, rev);
	for (size_t i = 0; ret == 0 && i < nkv; i++)
		ret = take_kv(c, w, n, &kvs[i]);
	dsm_etcd_kvs_free(kvs, nkv);
	if (ret) {
		dsmctl_workloads_free(*w, *n);
		*w = NULL;
		*n = 0;
	} else if (*n > 1) {
		/* Key order is not name order: "a.b/" sorts before "a/". */
		qsort(*w, *n, sizeof(**w), by_name);
	}
	return ret;
}

void dsmctl_workloads_free(struct dsmctl_workload *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		dsmctl_spec_clear(&w[i].spec);
		free(w[i].spec_json);
		free(w[i].status_json);
	}
	free(w);
}
