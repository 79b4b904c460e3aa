/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsmctl segments: /dsm/segments of every node on this host, merged by id.
 * dsmctl page SEG PGNO: /dsm/page,<seg>,<pgno> on each of them: the home's
 * directory entry and every node's cache state.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dsmctl/nodetel.h"
#include "dsmctl/table.h"

/* "1,3" from a node bit set. */
static void node_list(uint64_t set, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 1; i < 64 && off < len; i++)
		if (set & (UINT64_C(1) << i))
			off += (size_t)snprintf(buf + off, len - off, "%s%u", off ? "," : "", i);
	if (!buf[0])
		snprintf(buf, len, "-");
}

static json_t *node_array(uint64_t set)
{
	json_t *a = json_array();

	for (unsigned i = 1; i < 64; i++)
		if (set & (UINT64_C(1) << i))
			json_array_append_new(a, json_integer(i));
	return a;
}

/* Read the cluster and the nodes of this host.  Returns an exit code. */
static int local_view(struct dsmctl *c, struct dsmctl_cluster *cl, unsigned *ids,
		      unsigned *n)
{
	int ret = dsmctl_cluster_read(c, cl);

	if (ret)
		return dsmctl_etcd_err(c, "reading the node records", ret);
	*n = dsmctl_local_nodes(c, cl, 0, ids);
	if (*n == 0 && cl->has_rec)
		dsmctl_err(DSMCTL_OK, "warning: no node of cluster %s runs on this host (%s)",
			   c->args->cluster, c->host);
	return DSMCTL_OK;
}

static void segments_table(const struct dsmctl_segs *segs)
{
	static const char *const heads[] = {
		"ID", "NAME", "HOME", "SIZE", "PAGE-SIZE", "PROT", "NODES",
	};
	struct dsmctl_table *t = dsmctl_table_new(7, heads);
	char nodes[192];

	for (unsigned i = 0; t && i < segs->n; i++) {
		const struct dsmctl_seg *s = &segs->s[i];

		node_list(s->nodes, nodes, sizeof(nodes));
		dsmctl_table_cell(t, "%" PRIu32, s->id);
		dsmctl_table_cell(t, "%s", s->name);
		dsmctl_table_cell(t, "%u", s->home);
		dsmctl_table_cell(t, "%" PRIu64, s->size);
		dsmctl_table_cell(t, "%" PRIu64, s->page_size);
		dsmctl_table_cell(t, "%s", s->prot);
		dsmctl_table_cell(t, "%s", nodes);
	}
	if (t && segs->n)
		dsmctl_table_print(t, stdout);
	else if (t)
		printf("no segments\n");
	dsmctl_table_free(t);
}

static void segments_json(const struct dsmctl_segs *segs)
{
	json_t *a = json_array(), *o;

	for (unsigned i = 0; i < segs->n; i++) {
		const struct dsmctl_seg *s = &segs->s[i];

		json_array_append_new(a, json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:s, s:o}",
			"id", (json_int_t)s->id, "name", s->name, "home", (json_int_t)s->home,
			"size", (json_int_t)s->size, "page_size", (json_int_t)s->page_size,
			"pages", (json_int_t)s->pages, "prot", s->prot,
			"nodes", node_array(s->nodes)));
	}
	o = json_pack("{s:o}", "segments", a);
	json_dumpf(o, stdout, JSON_COMPACT | JSON_SORT_KEYS);
	putchar('\n');
	json_decref(o);
}

int dsmctl_cmd_segments(struct dsmctl *c)
{
	struct dsmctl_cluster cl;
	struct dsmctl_segs segs;
	unsigned ids[DSM_VIEW_MAX], n;
	int rc = local_view(c, &cl, ids, &n);

	if (rc)
		return rc;
	if (dsmctl_segs_collect(c, &cl, ids, n, &segs))
		return dsmctl_err(DSMCTL_EFAIL, "out of memory");
	if (c->args->json)
		segments_json(&segs);
	else
		segments_table(&segs);
	dsmctl_segs_free(&segs);
	return DSMCTL_OK;
}

/* ---------------------------------------------------------------- page */

struct page_entry {
	unsigned node;
	json_t *e;       /* the node's answer, NULL if it gave none */
};

static const char *tel_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static void print_directory(const struct dsmctl_seg *s, uint64_t pgno,
			    const struct page_entry *pe, unsigned n)
{
	char sharers[192];

	printf("segment %" PRIu32 " (%s) page %" PRIu64 ", home node %u\n", s->id, s->name,
	       pgno, s->home);
	for (unsigned i = 0; i < n; i++) {
		json_t *e = pe[i].e;

		if (pe[i].node != s->home || !e)
			continue;
		if (json_object_get(e, "error")) {
			printf("directory: %s\n", tel_str(e, "error"));
			return;
		}
		node_list(dsmctl_tel_u64(e, "sharers"), sharers, sizeof(sharers));
		printf("directory: %s, owner %" PRIu64 ", sharers %s, version %" PRIu64
		       ", lost %s%s\n", tel_str(e, "dir_state"), dsmctl_tel_u64(e, "owner"),
		       sharers, dsmctl_tel_u64(e, "version"),
		       dsmctl_tel_u64(e, "lost") ? "yes" : "no",
		       dsmctl_tel_u64(e, "busy") ? ", busy" : "");
		return;
	}
	printf("directory: home node %u not reachable from this host\n", s->home);
}

static void cell_u64(struct dsmctl_table *t, bool ok, json_t *e, const char *key)
{
	if (ok)
		dsmctl_table_cell(t, "%" PRIu64, dsmctl_tel_u64(e, key));
	else
		dsmctl_table_cell(t, "-");
}

static void page_table(const struct dsmctl_seg *s, uint64_t pgno,
		       const struct page_entry *pe, unsigned n)
{
	static const char *const heads[] = { "NODE", "HOME", "CACHE", "VERSION", "PENDING",
					     "WAITERS" };
	struct dsmctl_table *t = dsmctl_table_new(6, heads);

	print_directory(s, pgno, pe, n);
	for (unsigned i = 0; t && i < n; i++) {
		json_t *e = pe[i].e;
		bool ok = e && !json_object_get(e, "error");

		dsmctl_table_cell(t, "%u", pe[i].node);
		dsmctl_table_cell(t, "%s", pe[i].node == s->home ? "yes" : "no");
		dsmctl_table_cell(t, "%s", ok ? tel_str(e, "cache_state") :
				  e ? tel_str(e, "error") : "unreachable");
		cell_u64(t, ok, e, "cache_version");
		cell_u64(t, ok, e, "pending");
		cell_u64(t, ok, e, "waiters");
	}
	if (t)
		dsmctl_table_print(t, stdout);
	dsmctl_table_free(t);
}

static void page_json(const struct dsmctl_seg *s, uint64_t pgno,
		      const struct page_entry *pe, unsigned n)
{
	json_t *nodes = json_object(), *o;
	char id[8];

	for (unsigned i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%u", pe[i].node);
		json_object_set(nodes, id, pe[i].e ? pe[i].e : json_null());
	}
	o = json_pack("{s:I, s:s, s:I, s:I, s:o}", "seg", (json_int_t)s->id, "name", s->name,
		      "pgno", (json_int_t)pgno, "home", (json_int_t)s->home, "nodes", nodes);
	json_dumpf(o, stdout, JSON_COMPACT | JSON_SORT_KEYS);
	putchar('\n');
	json_decref(o);
}

/* Every node's entry.  A page out of range is an error in each answer. */
static int page_query(struct dsmctl *c, const struct dsmctl_cluster *cl,
		      const struct dsmctl_seg *s, const unsigned *ids, unsigned n)
{
	struct page_entry pe[DSM_VIEW_MAX];
	json_t *refused = NULL;
	char cmd[96];
	bool any = false;
	int rc = DSMCTL_OK;

	snprintf(cmd, sizeof(cmd), "/dsm/page,%" PRIu32 ",%" PRIu64, s->id, c->args->pgno);
	for (unsigned i = 0; i < n; i++) {
		pe[i].node = ids[i];
		pe[i].e = NULL;
		dsmctl_node_query(c, cl, ids[i], cmd, &pe[i].e);
		if (pe[i].e && json_object_get(pe[i].e, "error"))
			refused = refused ? refused : pe[i].e;
		else if (pe[i].e)
			any = true;
	}
	if (!any && refused)
		rc = dsmctl_err(DSMCTL_ENOTFOUND, "page %" PRIu64 " of segment %s: %s",
				c->args->pgno, s->name, tel_str(refused, "error"));
	else if (!any)
		rc = dsmctl_err(DSMCTL_EFAIL, "page %" PRIu64 " of segment %s: no node answered",
				c->args->pgno, s->name);
	else if (c->args->json)
		page_json(s, c->args->pgno, pe, n);
	else
		page_table(s, c->args->pgno, pe, n);
	for (unsigned i = 0; i < n; i++)
		json_decref(pe[i].e);
	return rc;
}

int dsmctl_cmd_page(struct dsmctl *c)
{
	struct dsmctl_cluster cl;
	struct dsmctl_segs segs;
	const struct dsmctl_seg *s;
	unsigned ids[DSM_VIEW_MAX], n;
	int rc = local_view(c, &cl, ids, &n);

	if (rc)
		return rc;
	if (dsmctl_segs_collect(c, &cl, ids, n, &segs))
		return dsmctl_err(DSMCTL_EFAIL, "out of memory");
	s = dsmctl_segs_find(&segs, c->args->segment);
	if (!s)
		rc = dsmctl_err(DSMCTL_ENOTFOUND, "unknown segment '%s'%s", c->args->segment,
				n ? "" : " (no node of the cluster is reachable from this host)");
	else
		rc = page_query(c, &cl, s, ids, n);
	dsmctl_segs_free(&segs);
	return rc;
}
