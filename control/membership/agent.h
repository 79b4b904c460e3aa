/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The membership agent of one node: it registers the node under a lease it
 * keeps alive, watches the cluster's members and epoch, and moves the
 * cluster to a new epoch (by compare-and-swap, see view.h) whenever the
 * live members differ from the current view.  It runs on a control thread,
 * never on a dataplane lcore: dsm_agent_step() does one round (renew, look,
 * propose, wait for a change) and is called in a loop.
 *
 * Fencing: a node that cannot renew its lease for half the TTL stops
 * serving - on_fenced is called - before the lease can have expired and
 * the others can have written it off; a lease found gone fences at once.
 * A fenced node rejoins with a new incarnation (dsm_agent_rejoin).
 */
#ifndef DSM_CONTROL_AGENT_H
#define DSM_CONTROL_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "etcd/etcd.h"
#include "membership/view.h"

struct dsm_agent_ops {
	/* A new view is in force (old->epoch may be 0: the first). */
	void (*on_view)(void *ctx, const struct dsm_view *old, const struct dsm_view *cur);
	/* This node lost (or could not renew in time) its lease. */
	void (*on_fenced)(void *ctx);
	void *ctx;
};

struct dsm_agent_cfg {
	const char *endpoints;   /* etcd: http://h:p[,...] */
	const char *cluster;     /* keys live under /dsm/<cluster>/ */
	uint16_t node;
	uint64_t incarnation;    /* new on every start of the node */
	unsigned ttl_s;          /* lease TTL: failure detection within 2x */
	/* Extra JSON members ("k":v,...) of the node record nodes/<id>, kept
	 * under the same lease; NULL: no record.  Must outlive the agent. */
	const char *record;
};

struct dsm_agent_stats {
	uint64_t renewals, renew_errors, proposals, cas_won, cas_lost, views;
	uint64_t bad_members;    /* member keys that did not decode */
};

struct dsm_agent {
	struct dsm_agent_cfg cfg;
	struct dsm_agent_ops ops;
	char prefix[96];
	struct dsm_etcd *etcd;
	int64_t lease;
	uint64_t last_renew_ms;  /* when the last successful renewal was sent */
	uint64_t next_renew_ms;
	int64_t watch_rev;
	struct dsm_view view;    /* the view in force, as this node knows it */
	bool fenced;
	struct dsm_agent_stats st;
};

/* Register (lease + member key) and read the current view.  0 or -errno. */
int  dsm_agent_start(struct dsm_agent *a, const struct dsm_agent_cfg *cfg,
		     const struct dsm_agent_ops *ops);
/* One round; waits at most max_wait_ms for a change.  0, or -errno of an
 * etcd failure (the next round retries; fencing is decided here). */
int  dsm_agent_step(struct dsm_agent *a, unsigned max_wait_ms);
/* Register again with a new incarnation (after being fenced). */
int  dsm_agent_rejoin(struct dsm_agent *a, uint64_t incarnation);
/* Graceful leave: remove the member key and revoke the lease, so the others
 * move on at once instead of after the TTL.  Frees the agent's client. */
void dsm_agent_leave(struct dsm_agent *a);
/* Stop without leaving (the lease expires by itself): a crash, in tests. */
void dsm_agent_abandon(struct dsm_agent *a);

#endif /* DSM_CONTROL_AGENT_H */
