/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The pages half of dsmctl drain: ask every other member of the view to
 * copy node N's pages to itself (/dsm/evacuate,N on its telemetry socket;
 * the dataplane's side is dataplane/runtime/evacuate.c) - the heir of N's
 * segments reads all of them, the homes of other segments read back the
 * pages N owns - and follow their /dsm/evacuation progress until every one
 * is done or --timeout passes.
 *
 * The sums are pure (dsmctl_evac_add), so they are unit-tested.
 */
#ifndef DSM_CONTROL_DSMCTL_EVACUATE_H
#define DSM_CONTROL_DSMCTL_EVACUATE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "dsmctl/cluster.h"

struct dsmctl_evac {
	unsigned node;            /* evacuated */
	bool in_view;             /* false: not a member, nothing to copy */
	unsigned heir;            /* the member that inherits N's segments */
	unsigned active;          /* members still copying */
	uint64_t pages, done, copied, lost, failed;
};

/* Add one member's /dsm/evacuation answer to e.  -EINVAL if it is not a
 * dict about e->node (that member is evacuating another node), else 0. */
int dsmctl_evac_add(struct dsmctl_evac *e, json_t *answer);

/* Copy node's pages off it.  Progress lines on stdout unless --json.
 * Returns an exit code (errors printed); *e is filled either way. */
int dsmctl_evacuate(struct dsmctl *c, const struct dsmctl_cluster *cl, unsigned node,
		    struct dsmctl_evac *e);

json_t *dsmctl_evac_json(const struct dsmctl_evac *e);

#endif /* DSM_CONTROL_DSMCTL_EVACUATE_H */
