/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsmctl stats [--node N] [--segment S]: per node, from /dsm/stats, and
 * per segment, from /dsm/segstats, of the nodes on this host.
 *
 * From /dsm/stats: faults local = local_hits (served from the cache state),
 * faults remote = local_misses (a transaction with a home), pages in =
 * installs (page data installed here), pages out = grants_tx less
 * zero_grants and nodata_grants (grants that carried a page), latency =
 * uffd_remote_p50_ns/p99_ns (fault service time of the userfaultfd front
 * end), drops = every non-zero drop_<reason>.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsmctl/nodetel.h"
#include "dsmctl/table.h"

/* A number, or null when the node does not report it. */
static json_t *maybe(json_t *st, const char *key)
{
	return json_object_get(st, key) ? json_integer((json_int_t)dsmctl_tel_u64(st, key)) :
					  json_null();
}

static json_t *drops_of(json_t *st)
{
	json_t *drops = json_object(), *v;
	const char *k;

	json_object_foreach(st, k, v) {
		uint64_t n = dsmctl_tel_u64(st, k);

		if (!strncmp(k, "drop_", 5) && n)
			json_object_set_new(drops, k + 5, json_integer((json_int_t)n));
	}
	return drops;
}

/* One node's figures as the JSON output has them. */
static json_t *node_figures(unsigned id, json_t *st)
{
	uint64_t grants = dsmctl_tel_u64(st, "grants_tx");
	uint64_t empty = dsmctl_tel_u64(st, "zero_grants") +
			 dsmctl_tel_u64(st, "nodata_grants");

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}",
		"node", (json_int_t)id,
		"faults_local", (json_int_t)dsmctl_tel_u64(st, "local_hits"),
		"faults_remote", (json_int_t)dsmctl_tel_u64(st, "local_misses"),
		"pages_in", (json_int_t)dsmctl_tel_u64(st, "installs"),
		"pages_out", (json_int_t)(grants > empty ? grants - empty : 0),
		"p50_ns", maybe(st, "uffd_remote_p50_ns"),
		"p99_ns", maybe(st, "uffd_remote_p99_ns"),
		"drops", drops_of(st));
}

static bool seg_matches(const char *s, uint32_t id, const char *name)
{
	bool digits = strspn(s, "0123456789") == strlen(s);

	return (digits && strtoull(s, NULL, 10) == id) || (name && !strcmp(s, name));
}

/* One node's /dsm/segstats rows (only S when given) appended to rows. */
static void seg_figures(unsigned id, json_t *ss, const char *only, json_t *rows)
{
	const char *k;
	json_t *v;

	json_object_foreach(ss, k, v) {
		uint32_t seg = (uint32_t)strtoul(k, NULL, 10);
		const char *name = json_string_value(json_object_get(v, "name"));

		if (!json_is_object(v) || (only && !seg_matches(only, seg, name)))
			continue;
		json_array_append_new(rows, json_pack("{s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:I}",
			"node", (json_int_t)id, "seg", (json_int_t)seg, "name", name ? name : "",
			"faults", (json_int_t)dsmctl_tel_u64(v, "faults"),
			"remote", (json_int_t)dsmctl_tel_u64(v, "remote"),
			"pages_in", (json_int_t)dsmctl_tel_u64(v, "pages_in"),
			"pages_out", (json_int_t)dsmctl_tel_u64(v, "pages_out"),
			"lost", (json_int_t)dsmctl_tel_u64(v, "lost")));
	}
}

/* "12.3" microseconds from nanoseconds, "-" when unknown. */
static void cell_us(struct dsmctl_table *t, json_t *v)
{
	if (json_is_integer(v))
		dsmctl_table_cell(t, "%.1f", (double)json_integer_value(v) / 1000.0);
	else
		dsmctl_table_cell(t, "-");
}

static void cell_drops(struct dsmctl_table *t, json_t *drops)
{
	char buf[512] = "";
	size_t off = 0;
	const char *k;
	json_t *v;

	json_object_foreach(drops, k, v)
		if (off < sizeof(buf))
			off += (size_t)snprintf(buf + off, sizeof(buf) - off,
						"%s%s=%" JSON_INTEGER_FORMAT, off ? "," : "", k,
						json_integer_value(v));
	dsmctl_table_cell(t, "%s", buf[0] ? buf : "-");
}

static void nodes_table(json_t *nodes)
{
	static const char *const heads[] = {
		"NODE", "FAULTS-LOCAL", "FAULTS-REMOTE", "PAGES-IN", "PAGES-OUT",
		"P50-US", "P99-US", "DROPS",
	};
	static const char *const keys[] = {
		"node", "faults_local", "faults_remote", "pages_in", "pages_out",
	};
	struct dsmctl_table *t = dsmctl_table_new(8, heads);
	size_t i;
	json_t *n;

	json_array_foreach(nodes, i, n) {
		for (unsigned k = 0; t && k < 5; k++)
			dsmctl_table_cell(t, "%" JSON_INTEGER_FORMAT,
					  json_integer_value(json_object_get(n, keys[k])));
		if (t) {
			cell_us(t, json_object_get(n, "p50_ns"));
			cell_us(t, json_object_get(n, "p99_ns"));
			cell_drops(t, json_object_get(n, "drops"));
		}
	}
	if (t && json_array_size(nodes))
		dsmctl_table_print(t, stdout);
	dsmctl_table_free(t);
}

static void segs_table(json_t *segs)
{
	static const char *const heads[] = {
		"NODE", "SEG", "NAME", "FAULTS", "REMOTE", "PAGES-IN", "PAGES-OUT", "LOST",
	};
	static const char *const keys[] = {
		"node", "seg", "name", "faults", "remote", "pages_in", "pages_out", "lost",
	};
	struct dsmctl_table *t = dsmctl_table_new(8, heads);
	size_t i;
	json_t *s;

	json_array_foreach(segs, i, s) {
		for (unsigned k = 0; t && k < 8; k++) {
			json_t *v = json_object_get(s, keys[k]);

			if (json_is_string(v))
				dsmctl_table_cell(t, "%s", json_string_value(v)[0] ?
						  json_string_value(v) : "-");
			else
				dsmctl_table_cell(t, "%" JSON_INTEGER_FORMAT,
						  json_integer_value(v));
		}
	}
	if (t && json_array_size(segs))
		dsmctl_table_print(t, stdout);
	dsmctl_table_free(t);
}

struct stats_out {
	json_t *nodes, *segs;
	unsigned answered;        /* nodes whose /dsm/stats came back */
	unsigned no_segstats;     /* nodes without /dsm/segstats */
};

static void query_node(struct dsmctl *c, const struct dsmctl_cluster *cl, unsigned id,
		       struct stats_out *o)
{
	json_t *st = NULL, *ss = NULL;
	int ret;

	if (dsmctl_node_query(c, cl, id, "/dsm/stats", &st) == 0 && json_is_object(st)) {
		o->answered++;
		json_array_append_new(o->nodes, node_figures(id, st));
	}
	ret = dsmctl_node_query(c, cl, id, "/dsm/segstats", &ss);
	if (ret == 0 && json_is_object(ss))
		seg_figures(id, ss, c->args->segment, o->segs);
	else if (ret == -ENOTSUP)
		o->no_segstats++;
	json_decref(st);
	json_decref(ss);
}

/* S must be a segment some node knows, by /dsm/segments or /dsm/segstats. */
static bool segment_known(struct dsmctl *c, const struct dsmctl_cluster *cl,
			  const unsigned *ids, unsigned n, const struct stats_out *o)
{
	struct dsmctl_segs segs;
	bool known;

	if (json_array_size(o->segs))
		return true;
	if (dsmctl_segs_collect(c, cl, ids, n, &segs))
		return true;   /* cannot tell: do not call it unknown */
	known = dsmctl_segs_find(&segs, c->args->segment) != NULL;
	dsmctl_segs_free(&segs);
	return known;
}

static void print_stats(const struct dsmctl *c, const struct stats_out *o)
{
	json_t *all;

	if (c->args->json) {
		all = json_pack("{s:O, s:O}", "nodes", o->nodes, "segments", o->segs);
		json_dumpf(all, stdout, JSON_COMPACT | JSON_SORT_KEYS);
		putchar('\n');
		json_decref(all);
		return;
	}
	if (!c->args->segment)
		nodes_table(o->nodes);
	if (!c->args->segment && json_array_size(o->segs))
		putchar('\n');
	segs_table(o->segs);
}

/* --node N must be a node of the cluster, and on this host. */
static int check_node(struct dsmctl *c, const struct dsmctl_cluster *cl)
{
	unsigned id = c->args->node;

	if (!id)
		return DSMCTL_OK;
	if (!dsmctl_known(cl, id))
		return dsmctl_err(DSMCTL_ENOTFOUND, "unknown node %u", id);
	if (!dsmctl_local_tel(c, cl, id))
		return dsmctl_err(DSMCTL_EFAIL, "node %u: no telemetry socket on this host "
				  "(its record says host '%s')", id, cl->rec[id].host);
	return DSMCTL_OK;
}

int dsmctl_cmd_stats(struct dsmctl *c)
{
	struct stats_out o = { json_array(), json_array(), 0, 0 };
	struct dsmctl_cluster cl;
	unsigned ids[DSM_VIEW_MAX], n;
	int rc = dsmctl_cluster_read(c, &cl);

	if (rc)
		return dsmctl_etcd_err(c, "reading the node records", rc);
	rc = check_node(c, &cl);
	n = rc ? 0 : dsmctl_local_nodes(c, &cl, c->args->node, ids);
	for (unsigned i = 0; i < n; i++)
		query_node(c, &cl, ids[i], &o);
	if (rc == 0 && c->args->node && !o.answered)
		rc = dsmctl_err(DSMCTL_EFAIL, "node %u did not answer", c->args->node);
	else if (rc == 0 && c->args->segment && !segment_known(c, &cl, ids, n, &o))
		rc = dsmctl_err(DSMCTL_ENOTFOUND, "unknown segment '%s'", c->args->segment);
	if (rc == 0 && o.no_segstats)
		dsmctl_err(DSMCTL_OK, "warning: %u node(s) have no /dsm/segstats: per-segment "
			   "figures missing", o.no_segstats);
	if (rc == 0)
		print_stats(c, &o);
	json_decref(o.nodes);
	json_decref(o.segs);
	return rc;
}
