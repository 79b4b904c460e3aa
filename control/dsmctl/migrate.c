/* SPDX-License-Identifier: BSD-3-Clause */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsmctl/migrate.h"

int dsmctl_check_target(const struct dsmctl_cluster *cl, unsigned node)
{
	if (!dsmctl_known(cl, node))
		return dsmctl_err(DSMCTL_ENOTFOUND, "unknown node %u", node);
	if (dsmctl_bit(cl->drained, node))
		return dsmctl_err(DSMCTL_EFAIL, "node %u is drained (dsmctl undrain %u "
				  "accepts workloads there again)", node, node);
	/* Only a node of the view runs a supervisor that takes work. */
	if (!dsmctl_in_view(cl, node))
		return dsmctl_err(DSMCTL_EFAIL, "node %u is not in the current view", node);
	return DSMCTL_OK;
}

int dsmctl_retarget(struct dsmctl *c, const struct dsmctl_workload *w, unsigned to,
		    struct dsmctl_track *t, int64_t *new_rev)
{
	struct dsm_etcd_kv cur = { 0 };
	uint64_t gen = w->spec.gen + 1;
	char key[192], *val = dsmctl_spec_retarget(w->spec_json, w->spec_len, to, gen);
	int ret;

	if (!val)
		return dsmctl_err(DSMCTL_EFAIL, "workload %s: cannot rewrite its spec", w->name);
	dsmctl_key(c, key, sizeof(key), "workloads/%s/spec", w->name);
	ret = dsm_etcd_cas(c->etcd, key, val, strlen(val), 0, w->spec_rev, new_rev, &cur);
	free(val);
	dsm_etcd_kv_clear(&cur);
	if (ret < 0)
		return dsmctl_etcd_err(c, "writing the workload spec", ret);
	if (ret == 0)
		return dsmctl_err(DSMCTL_EFAIL, "workload %s was changed by someone else while "
				  "moving it; look again (dsmctl workloads) and retry", w->name);
	dsmctl_track_init(t, w->name, w->spec.node, to, gen);
	return DSMCTL_OK;
}

json_t *dsmctl_track_json(const struct dsmctl_track *t)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"name", t->name, "from", (json_int_t)t->from, "to", (json_int_t)t->to,
		"gen", (json_int_t)t->gen, "pid", (json_int_t)t->pid,
		"downtime_ms", (json_int_t)t->downtime_ms, "ws_pages", (json_int_t)t->ws_pages,
		"ws_ms", (json_int_t)t->ws_ms, "total_ms", (json_int_t)t->total_ms);
}

void dsmctl_print_json(json_t *o)
{
	json_dumpf(o, stdout, JSON_COMPACT | JSON_SORT_KEYS);
	putchar('\n');
	json_decref(o);
}
