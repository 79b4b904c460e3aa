/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Where the workloads of a drained node go: the other nodes of the view in
 * force that are not drained themselves, taken round robin, lowest id
 * first, over the workloads in name order.  Pure, so it is unit-tested.
 */
#ifndef DSM_CONTROL_DSMCTL_PLAN_H
#define DSM_CONTROL_DSMCTL_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "membership/view.h"

/*
 * view: the epoch view; drained: bit i set when node i is drained; from:
 * the node being drained (never a target, drained or not).  Fills
 * targets[0..nwork) and returns the number of candidate nodes, or
 * -ENOENT when there is none (and nwork > 0).
 */
int dsmctl_drain_targets(const struct dsm_view *view, uint64_t drained, unsigned from,
			 size_t nwork, unsigned *targets);

#endif /* DSM_CONTROL_DSMCTL_PLAN_H */
