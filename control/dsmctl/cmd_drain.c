/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsmctl drain N | undrain N.  Node records belong to the nodes, so the
 * mark is a key of its own, P+"drain/<N>" = {"since_ms":..}, with no
 * lease: it outlives the node and its restarts until undrain deletes it.
 * A drained node takes no new workloads (run and migrate refuse it), and
 * drain moves the ones it has to the other nodes of the view that are not
 * drained, round robin, lowest id first (plan.c).
 *
 * Then its pages (evacuate.c): the other members copy them to themselves,
 * so that when the node goes away every page it held has a copy that
 * re-homing recovers.  The node stays the home of its segments until it
 * leaves; only then do they move, to the heir that holds their copies.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsmctl/evacuate.h"
#include "dsmctl/migrate.h"
#include "dsmctl/plan.h"
#include "dsmctl/wait.h"

/* Create-only, so a second drain keeps the first one's since_ms. */
static int mark(struct dsmctl *c, unsigned node)
{
	char key[160], val[64];
	int n = dsmctl_drain_encode(dsmctl_now_ms(), val, sizeof(val));
	int ret;

	dsmctl_key(c, key, sizeof(key), "drain/%u", node);
	ret = dsm_etcd_cas(c->etcd, key, val, (size_t)n, 0, 0, NULL, NULL);
	return ret < 0 ? dsmctl_etcd_err(c, "writing the drain mark", ret) : DSMCTL_OK;
}

/* The workloads whose spec puts them on node, in name order. */
static size_t on_node(struct dsmctl_workload *w, size_t n, unsigned node,
		      struct dsmctl_workload **out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (w[i].has_spec && !w[i].bad_spec && w[i].spec.node == node)
			out[k++] = &w[i];
	return k;
}

static void summary(const struct dsmctl *c, const struct dsmctl_track *t, size_t n,
		    const struct dsmctl_evac *e)
{
	json_t *a;

	if (!c->args->json) {
		printf("node %u drained: %zu workload(s) moved", c->args->node, n);
		if (e->in_view)
			printf(", %" PRIu64 " page(s) copied off it (node %u inherits its segments)",
			       e->copied, e->heir);
		else
			printf(", no pages to copy (not in the view)");
		if (e->lost)
			printf("; %" PRIu64 " page(s) were lost already", e->lost);
		printf("\n");
		return;
	}
	a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, dsmctl_track_json(&t[i]));
	dsmctl_print_json(json_pack("{s:I, s:o, s:o}", "node", (json_int_t)c->args->node,
				    "migrated", a, "pages", dsmctl_evac_json(e)));
}

/* CAS every spec to its target and wait for them all at once; then copy
 * the node's pages off it, and say what was done. */
static int move_all(struct dsmctl *c, const struct dsmctl_cluster *cl,
		    struct dsmctl_workload **w, size_t k, const unsigned *to)
{
	struct dsmctl_track *t = calloc(k + 1, sizeof(*t));
	struct dsmctl_evac e;
	uint64_t start = dsmctl_mono_ms();
	int64_t first = 0, rev;
	size_t moved = 0;
	int rc = DSMCTL_OK, r;

	for (size_t i = 0; t && i < k; i++) {
		r = dsmctl_retarget(c, w[i], to[i], &t[moved], &rev);
		if (r == DSMCTL_EETCD) {
			rc = r;
			break;
		}
		if (r) {
			rc = r;   /* that one changed under us: move the rest */
			continue;
		}
		first = first ? first : rev;
		if (!c->args->json)
			printf("moving %s from node %u to node %u (gen %" PRIu64 ")\n",
			       t[moved].name, t[moved].from, t[moved].to, t[moved].gen);
		moved++;
	}
	if (!t)
		rc = dsmctl_err(DSMCTL_EFAIL, "out of memory");
	fflush(stdout);
	if (moved && rc != DSMCTL_EETCD) {
		r = dsmctl_wait(c, t, moved, first + 1, start);
		rc = r ? r : rc;
	}
	if (rc == DSMCTL_OK)
		rc = dsmctl_evacuate(c, cl, c->args->node, &e);
	if (rc == DSMCTL_OK)
		summary(c, t, moved, &e);
	free(t);
	return rc;
}

int dsmctl_cmd_drain(struct dsmctl *c)
{
	unsigned node = c->args->node, *to = NULL;
	struct dsmctl_workload *all = NULL, **w = NULL;
	struct dsmctl_cluster cl;
	size_t n = 0, k = 0;
	int rc = dsmctl_cluster_read(c, &cl), ret;

	if (rc)
		return dsmctl_etcd_err(c, "reading the cluster", rc);
	if (!dsmctl_known(&cl, node))
		return dsmctl_err(DSMCTL_ENOTFOUND, "unknown node %u", node);
	rc = mark(c, node);
	ret = rc ? 0 : dsmctl_workloads_read(c, &all, &n, NULL);
	if (ret)
		rc = dsmctl_etcd_err(c, "reading the workloads", ret);
	if (rc == 0 && (!(w = calloc(n + 1, sizeof(*w))) || !(to = calloc(n + 1, sizeof(*to)))))
		rc = dsmctl_err(DSMCTL_EFAIL, "out of memory");
	if (rc == 0)
		k = on_node(all, n, node, w);
	if (rc == 0 && dsmctl_drain_targets(&cl.view, cl.drained | (UINT64_C(1) << node),
					    node, k, to) < 0)
		rc = dsmctl_err(DSMCTL_EFAIL, "node %u is drained, but no other node of the "
				"view can take its %zu workload(s)", node, k);
	if (rc == 0)
		rc = move_all(c, &cl, w, k, to);
	free(w);
	free(to);
	dsmctl_workloads_free(all, n);
	return rc;
}

int dsmctl_cmd_undrain(struct dsmctl *c)
{
	char key[160];
	int ret;

	dsmctl_key(c, key, sizeof(key), "drain/%u", c->args->node);
	ret = dsm_etcd_delete(c->etcd, key);
	if (ret < 0)
		return dsmctl_etcd_err(c, "deleting the drain mark", ret);
	if (ret == 0)
		return dsmctl_err(DSMCTL_ENOTFOUND, "node %u is not drained", c->args->node);
	if (c->args->json)
		dsmctl_print_json(json_pack("{s:I, s:b}", "node", (json_int_t)c->args->node,
					    "drained", 0));
	else
		printf("node %u accepts workloads again\n", c->args->node);
	return DSMCTL_OK;
}
