/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Waiting on workloads: watch P+"workloads/" from the revision just after
 * our spec write (so no status written since can be missed, and none
 * written before can be mistaken for an answer), feed each status to its
 * tracker (progress.h), show the progress lines, until every tracker is
 * finished or --timeout passes.
 */
#ifndef DSM_CONTROL_DSMCTL_WAIT_H
#define DSM_CONTROL_DSMCTL_WAIT_H

#include <stddef.h>
#include <stdint.h>

#include "dsmctl/progress.h"

/*
 * from_rev: first revision to look at.  start_ms: dsmctl_mono_ms() when
 * the specs were written (elapsed times and the deadline count from it).
 * Returns DSMCTL_OK when all are done, DSMCTL_EFAIL when one failed or
 * the time ran out, DSMCTL_EETCD; errors are printed.
 */
int dsmctl_wait(struct dsmctl *c, struct dsmctl_track *t, size_t n, int64_t from_rev,
		uint64_t start_ms);

#endif /* DSM_CONTROL_DSMCTL_WAIT_H */
