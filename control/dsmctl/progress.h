/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Following one workload through a start or a migration, from the status
 * values the supervisors write: which progress lines to show, and when it
 * is over.  Pure (the etcd watch is in wait.c), so every sequence of
 * statuses, including skipped and repeated states, is unit-tested.
 *
 * A migration of W to generation G, from node S to node D, shows:
 *   W: stopping on node S                  status node S, state stopping
 *   W: stopped at safe point on node S     node S, stopped (or exited/failed)
 *   W: starting on node D                  node D, gen G, starting
 *   W: running on node D, pid P (downtime X ms)
 *   W: working set M/N pages               ws_moved/ws_pages, on every change
 *   W: done in T ms (...)                  ws_done_ms set, or ws_pages == 0
 * A start (from == 0) is over at "running".  Lines only go forward: a
 * state seen again, or an older one, prints nothing.
 */
#ifndef DSM_CONTROL_DSMCTL_PROGRESS_H
#define DSM_CONTROL_DSMCTL_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsmctl/records.h"

enum dsmctl_phase {
	DSMCTL_PH_NONE = 0,
	DSMCTL_PH_STOPPING,
	DSMCTL_PH_STOPPED,
	DSMCTL_PH_STARTING,
	DSMCTL_PH_RUNNING,
	DSMCTL_PH_DONE,
	DSMCTL_PH_FAILED,
};

struct dsmctl_track {
	char name[DSMCTL_NAME_MAX];
	unsigned from;            /* 0: a new workload (dsmctl run) */
	unsigned to;
	uint64_t gen;
	enum dsmctl_phase phase;  /* the last one shown */
	bool ws_shown;
	uint64_t ws_moved;        /* in the last working-set line */
	bool finished;            /* done or failed */
	bool quiet;               /* wait.c: do not print the progress lines */
	/* results, valid once finished without failure */
	int64_t pid;
	uint64_t downtime_ms, ws_pages, ws_ms, total_ms;
	char error[320];          /* why it failed */
};

void dsmctl_track_init(struct dsmctl_track *t, const char *name, unsigned from,
		       unsigned to, uint64_t gen);

/*
 * Feed one status of t's workload.  Appends the progress lines it causes
 * (each ending in '\n') to buf, which holds len bytes and a string.
 * elapsed_ms: since the spec was written, for "done in".  Returns
 * t->finished.
 */
bool dsmctl_track_status(struct dsmctl_track *t, const struct dsmctl_status *st,
			 uint64_t elapsed_ms, char *buf, size_t len);

/* The spec was deleted (gen 0) or rewritten by someone else with gen:
 * the wait is over, failed. */
void dsmctl_track_spec_changed(struct dsmctl_track *t, uint64_t gen);

/* One line for a timeout: where it got to. */
void dsmctl_track_where(const struct dsmctl_track *t, char *buf, size_t len);

#endif /* DSM_CONTROL_DSMCTL_PROGRESS_H */
