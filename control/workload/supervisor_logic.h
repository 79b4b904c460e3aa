/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a node supervisor does about one workload, decided from what etcd
 * says (spec, status) and what this node runs.  Pure: no I/O, no clock, so
 * every case is unit-tested (tests/unit/workload/test_logic.c).
 *
 * The protocol, per workload (key schema in docs/control.md):
 *  - the spec names the node and generation G that should run;
 *  - the node of the spec starts G once the previous generation has ended
 *    (its status is stopped, exited or failed, or there is none, or the
 *    node it ran on is no longer a member: then it is a restart);
 *  - a node running a generation older than the spec's stops it at a safe
 *    point (SIGUSR1), writes the hot list, then status stopped;
 *  - a deleted spec stops the workload for good (SIGTERM) and the status
 *    and hot list are removed by the node that last ran it.
 * Since only the node of the newest status writes it, and a generation
 * starts only after the previous one's status says it has ended, two
 * generations never run at once unless a node is declared gone while
 * still running (the membership lease decides that).
 */
#ifndef DSM_CONTROL_WORKLOAD_SUPERVISOR_LOGIC_H
#define DSM_CONTROL_WORKLOAD_SUPERVISOR_LOGIC_H

#include <stdbool.h>
#include <stdint.h>

#include "workload/records.h"

enum dsm_sup_action {
	DSM_SUP_NONE,
	DSM_SUP_WAIT,          /* the previous generation has not ended */
	DSM_SUP_ASK_LIVENESS,  /* decide again with prev_alive known */
	DSM_SUP_START,         /* spawn spec's generation here */
	DSM_SUP_STOP_MIGRATE,  /* SIGUSR1, then hot list and status stopped */
	DSM_SUP_STOP_DELETE,   /* SIGTERM: the spec is gone or replaced */
	DSM_SUP_FORGET,        /* delete status and hot list (spec gone) */
	DSM_SUP_MARK_FAILED,   /* status claims it runs here, but it does not */
};

/* What etcd says about the workload. */
struct dsm_sup_view {
	const struct dsm_wl_spec *spec;     /* NULL: no spec key */
	bool spec_bad;                      /* a spec key that does not decode */
	int64_t spec_rev;                   /* the spec's create_revision */
	const struct dsm_wl_status *status; /* NULL: none (or undecodable) */
	int prev_alive;                     /* status->node is a member: 1/0;
					     * -1 unknown */
};

/* What this node runs. */
struct dsm_sup_local {
	bool running;         /* a process of ours is alive */
	bool stopping;        /* ... and has been asked to stop */
	uint64_t gen;
	int64_t spec_rev;     /* of the spec it was started from */
};

struct dsm_sup_decision {
	enum dsm_sup_action action;
	bool resume;          /* START: DSM_RESUME=1 (state is in the segments) */
	bool restart;         /* START: the previous generation did not stop
			       * cleanly (failed, exited, gone, orphaned) */
	const char *why;      /* for logs and tests */
};

struct dsm_sup_decision dsm_sup_decide(uint16_t self, const struct dsm_sup_view *v,
				       const struct dsm_sup_local *l);

const char *dsm_sup_action_name(enum dsm_sup_action a);

/*
 * Working-set tracking: write a status update now?  At most one write per
 * min_interval_ms, and only if something changed; the final one (done)
 * always.
 */
bool dsm_sup_ws_write_due(uint64_t now_ms, uint64_t last_write_ms, uint64_t min_interval_ms,
			  bool changed, bool done);

/* downtime = start - the previous generation's stop time, if known and
 * from an earlier generation.  Returns false if unknown. */
bool dsm_sup_downtime(const struct dsm_wl_status *prev, uint64_t gen, int64_t start_ms,
		      int64_t *downtime_ms);

#endif /* DSM_CONTROL_WORKLOAD_SUPERVISOR_LOGIC_H */
