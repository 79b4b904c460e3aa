/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsmctl nodes: the view in force, the registrations, the node records and
 * the drain marks from etcd, and for each node running on this host what
 * its dataplane says it applied (/dsm/membership: epoch, fenced).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "dsmctl/cluster.h"
#include "dsmctl/nodetel.h"
#include "dsmctl/table.h"
#include "dsmctl/telemetry_client.h"

struct node_row {
	unsigned id;
	uint64_t inc;
	bool in_view, live, draining, tel_ok;
	uint64_t epoch;     /* applied, from telemetry */
	bool fenced;
};

static bool find_member(const struct dsm_view *v, unsigned id, uint64_t *inc)
{
	for (uint32_t i = 0; i < v->n; i++)
		if (v->m[i].node == id) {
			*inc = v->m[i].incarnation;
			return true;
		}
	return false;
}

static void applied(const struct dsmctl *c, const struct dsmctl_cluster *cl,
		    struct node_row *r)
{
	const char *path = dsmctl_local_tel(c, cl, r->id);
	json_t *m = NULL;

	if (!path || dsmctl_tel_query(path, "/dsm/membership", DSMCTL_TEL_TIMEOUT_MS, &m))
		return;
	if (json_is_object(m)) {
		r->tel_ok = true;
		r->epoch = dsmctl_tel_u64(m, "epoch");
		r->fenced = dsmctl_tel_u64(m, "fenced") != 0;
	}
	json_decref(m);
}

static void fill_row(const struct dsmctl *c, const struct dsmctl_cluster *cl,
		     unsigned id, struct node_row *r)
{
	uint64_t vinc = 0;
	bool has_rec = dsmctl_bit(cl->has_rec, id);

	memset(r, 0, sizeof(*r));
	r->id = id;
	r->live = find_member(&cl->live, id, &r->inc);
	if (has_rec)
		r->inc = cl->rec[id].incarnation;
	/* In the view as this incarnation: a restarted node is not in the
	 * view until the next epoch takes it in. */
	if (find_member(&cl->view, id, &vinc))
		r->in_view = (!r->live && !has_rec) || vinc == r->inc;
	if (!r->live && !has_rec)
		r->inc = vinc;
	r->draining = dsmctl_bit(cl->drained, id) || (has_rec && cl->rec[id].draining);
	applied(c, cl, r);
}

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

static void print_table(const struct dsmctl_cluster *cl, const struct node_row *rows,
			unsigned n)
{
	static const char *const heads[] = {
		"NODE", "INCARNATION", "IN-VIEW", "LIVE", "HOST", "PID", "DRAINING",
		"EPOCH", "FENCED",
	};
	struct dsmctl_table *t = dsmctl_table_new(9, heads);

	if (cl->view.epoch)
		printf("epoch %" PRIu64 ", %u member(s)\n", cl->view.epoch, cl->view.n);
	else
		printf("no view yet: no node has joined the cluster\n");
	for (unsigned i = 0; t && i < n; i++) {
		const struct dsmctl_node_rec *rec = &cl->rec[rows[i].id];
		bool has_rec = dsmctl_bit(cl->has_rec, rows[i].id);

		dsmctl_table_cell(t, "%u", rows[i].id);
		dsmctl_table_cell(t, "%" PRIu64, rows[i].inc);
		dsmctl_table_cell(t, "%s", yes_no(rows[i].in_view));
		dsmctl_table_cell(t, "%s", yes_no(rows[i].live));
		dsmctl_table_cell(t, "%s", has_rec && rec->host[0] ? rec->host : "-");
		if (has_rec && rec->pid)
			dsmctl_table_cell(t, "%" PRId64, rec->pid);
		else
			dsmctl_table_cell(t, "-");
		dsmctl_table_cell(t, "%s", yes_no(rows[i].draining));
		if (rows[i].tel_ok) {
			dsmctl_table_cell(t, "%" PRIu64, rows[i].epoch);
			dsmctl_table_cell(t, "%s", yes_no(rows[i].fenced));
		} else {
			dsmctl_table_cell(t, "-");
			dsmctl_table_cell(t, "-");
		}
	}
	if (t && n)
		dsmctl_table_print(t, stdout);
	else if (t)
		printf("no nodes\n");
	dsmctl_table_free(t);
}

static json_t *row_json(const struct dsmctl_cluster *cl, const struct node_row *r)
{
	const struct dsmctl_node_rec *rec = &cl->rec[r->id];
	bool has_rec = dsmctl_bit(cl->has_rec, r->id);

	return json_pack("{s:I, s:I, s:b, s:b, s:s?, s:I, s:b, s:s?, s:o, s:o}",
		"node", (json_int_t)r->id, "incarnation", (json_int_t)r->inc,
		"in_view", r->in_view, "live", r->live,
		"host", has_rec ? rec->host : NULL, "pid", (json_int_t)(has_rec ? rec->pid : 0),
		"draining", r->draining, "telemetry", has_rec ? rec->telemetry : NULL,
		"epoch", r->tel_ok ? json_integer((json_int_t)r->epoch) : json_null(),
		"fenced", r->tel_ok ? json_boolean(r->fenced) : json_null());
}

static void print_json(const struct dsmctl_cluster *cl, const struct node_row *rows,
		       unsigned n)
{
	json_t *members = json_array(), *nodes = json_array(), *o;

	for (uint32_t i = 0; i < cl->view.n; i++)
		json_array_append_new(members, json_pack("[I,I]",
			(json_int_t)cl->view.m[i].node, (json_int_t)cl->view.m[i].incarnation));
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(nodes, row_json(cl, &rows[i]));
	o = json_pack("{s:I, s:o, s:o}", "epoch", (json_int_t)cl->view.epoch,
		      "members", members, "nodes", nodes);
	json_dumpf(o, stdout, JSON_COMPACT | JSON_SORT_KEYS);
	putchar('\n');
	json_decref(o);
}

int dsmctl_cmd_nodes(struct dsmctl *c)
{
	struct dsmctl_cluster cl;
	struct node_row rows[DSM_VIEW_MAX];
	unsigned n = 0;
	int ret = dsmctl_cluster_read(c, &cl);

	if (ret)
		return dsmctl_etcd_err(c, "reading the cluster", ret);
	for (unsigned id = 1; id <= DSMCTL_MAX_NODE; id++)
		if (dsmctl_known(&cl, id))
			fill_row(c, &cl, id, &rows[n++]);
	if (c->args->json)
		print_json(&cl, rows, n);
	else
		print_table(&cl, rows, n);
	if (cl.bad)
		dsmctl_err(DSMCTL_OK, "warning: %u value(s) under %s could not be read",
			   cl.bad, c->prefix);
	return DSMCTL_OK;
}
