/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What run, migrate and drain share: whether a node may receive a
 * workload, the compare-and-swap that moves a spec to another node with
 * the next generation, and the JSON summary of a finished move.
 */
#ifndef DSM_CONTROL_DSMCTL_MIGRATE_H
#define DSM_CONTROL_DSMCTL_MIGRATE_H

#include <jansson.h>

#include "dsmctl/cluster.h"
#include "dsmctl/progress.h"

/* DSMCTL_OK if node can take a workload; else prints why and returns
 * DSMCTL_ENOTFOUND (unknown node) or DSMCTL_EFAIL (drained, not in view). */
int dsmctl_check_target(const struct dsmctl_cluster *cl, unsigned node);

/*
 * Move workload w (read with its mod_revision) to node to, generation + 1.
 * On success inits t for the wait and sets *new_rev; returns DSMCTL_OK.
 * A lost race (someone changed the spec since it was read) is
 * DSMCTL_EFAIL, an etcd error DSMCTL_EETCD; both printed.
 */
int dsmctl_retarget(struct dsmctl *c, const struct dsmctl_workload *w, unsigned to,
		    struct dsmctl_track *t, int64_t *new_rev);

/* {"name","from","to","gen","pid","downtime_ms","ws_pages","ws_ms","total_ms"} */
json_t *dsmctl_track_json(const struct dsmctl_track *t);

/* Print one JSON value on a line of its own, and drop it. */
void dsmctl_print_json(json_t *o);

#endif /* DSM_CONTROL_DSMCTL_MIGRATE_H */
