/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node runtime: everything a protocol node needs on top of EAL - ports,
 * per-peer reliable channels, frame building and reassembly, segment backing
 * memory, and the coherence engine shards with their action executor.  Both
 * dsm-dataplane and the load generator (bench/loadgen) are thin mains over
 * it.
 *
 * Threads (lcores):
 *  - the main lcore is the I/O lcore: it owns the ports, the channels, the
 *    peer table and the reassembly state.  It dispatches every complete
 *    message to the shard that owns its page (rte_ring, one per shard) and
 *    drains the frames shards produce (one SP/SC rte_ring per shard);
 *  - each worker lcore runs one engine shard.  With no worker lcores the
 *    main lcore also runs the single shard inline.
 * Nothing is shared between lcores except through those rings; statistics
 * are plain 64-bit counters written by one lcore and read (untorn on x86-64)
 * by the telemetry thread.
 */
#ifndef DSM_RUNTIME_NODE_H
#define DSM_RUNTIME_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/coherence.h"
#include "runtime/config.h"

struct dsm_node;

enum dsm_idle_mode {
	DSM_IDLE_POLL = 0,   /* busy-poll dedicated cores (production) */
	DSM_IDLE_SLEEP = 1,  /* back off and sleep when idle (shared cores) */
};

struct dsm_node_hooks {
	void *ctx;
	/* Main lcore, every loop iteration; returns the work it did (0: idle). */
	int  (*poll)(void *ctx, struct dsm_node *n, uint64_t now);
	/* A received message before it reaches a shard: return true to consume
	 * it (the runtime frees it afterwards).  Payload is a struct rte_mbuf
	 * chain; use dsm_node_msg_copy() to read it.  Main lcore. */
	bool (*on_msg)(void *ctx, struct dsm_node *n, const struct dsm_msg *m, uint64_t now);
	/* A local request finished (engine COMPLETE action).  Shard lcore. */
	void (*on_complete)(void *ctx, struct dsm_node *n, const struct dsm_action *a,
			    uint64_t now);
};

struct dsm_node_params {
	const struct dsm_config *cfg;
	enum dsm_idle_mode idle;
	bool add_config_segments;   /* make every configured segment known */
	struct dsm_node_hooks hooks;
};

/* Monotonic nanoseconds. */
uint64_t dsm_now_ns(void);

/* Create ports, pools, peers, shards.  EAL must be initialised.
 * Returns 0 or -errno with a message logged. */
int  dsm_node_create(const struct dsm_node_params *p, struct dsm_node **out);
/* Wait until every port reports link up, or timeout_ms passes (-ETIMEDOUT). */
int  dsm_node_wait_links(struct dsm_node *n, uint32_t timeout_ms);
/* Run the lcores until dsm_node_stop().  Returns 0. */
int  dsm_node_run(struct dsm_node *n);
/* Ask every loop to finish; async-signal-safe. */
void dsm_node_stop(struct dsm_node *n);
void dsm_node_destroy(struct dsm_node *n);

/* Register a segment (from config or a VMA_RESP) and allocate its backing.
 * Main lcore, only while no worker lcore runs shards (load generator) or
 * before dsm_node_run(). */
int  dsm_node_add_segment(struct dsm_node *n, const struct dsm_segment_desc *d,
			  const char *name);
/* Local backing of one page, or NULL. */
void *dsm_node_page(struct dsm_node *n, uint32_t seg_id, uint64_t pgno);

/* A local access through the engine (single inline shard only: -EXDEV
 * otherwise).  Completion arrives through hooks.on_complete. */
int  dsm_node_local(struct dsm_node *n, uint32_t seg_id, uint64_t pgno,
		    enum dsm_intent intent, uint64_t user_data, uint64_t now);

/* Send a raw protocol message from the main lcore (load generator, VMA).
 * payload is a flat buffer of m->len bytes or NULL. */
int  dsm_node_send(struct dsm_node *n, const struct dsm_msg *m, const void *payload);

/* Test and load-generation hooks: transmit a hand-made frame to dst's port,
 * bypassing the channel (malformed-input tests), and read the addressing
 * and session nonces used towards dst. */
int  dsm_node_xmit_raw(struct dsm_node *n, uint16_t dst, const void *frame, uint32_t len);
struct dsm_addr;
int  dsm_node_peer_addr(struct dsm_node *n, uint16_t dst, struct dsm_addr *a,
			uint32_t *session, uint32_t *peer_session);

/* Copy up to len bytes of a received message's payload into dst. */
uint32_t dsm_node_msg_copy(const struct dsm_msg *m, void *dst, uint32_t len);

uint16_t dsm_node_self(const struct dsm_node *n);
uint64_t dsm_node_epoch(const struct dsm_node *n);
const struct dsm_config *dsm_node_config(const struct dsm_node *n);

/* Membership as this node applied it (any thread; a snapshot). */
struct dsm_cluster_info {
	bool     enabled;        /* the config has a cluster section */
	bool     fenced;         /* not in the view in force */
	bool     own_etcd;       /* this node started the embedded etcd */
	uint64_t epoch, incarnation;
	uint64_t members;        /* node-id bitmap of the view */
	uint64_t views, fences, rejoins, event_drops;
	char     endpoints[256];
};
void dsm_cluster_info(const struct dsm_node *n, struct dsm_cluster_info *out);

/* For the workload supervisor (any thread; answered by the shard, with a
 * deadline).  Pages of seg_id this node holds, latest fault first, into
 * pgnos (at most max): the count copied, or -errno (-ENOENT: no such
 * segment with the userfaultfd front end). */
int dsm_node_held_pages(struct dsm_node *n, uint32_t seg_id, uint64_t *pgnos, uint32_t max);
/* Segments process pid has mapped through the control socket. */
int dsm_node_pid_segments(struct dsm_node *n, int pid, uint32_t *seg_ids, uint32_t max);
/* Lost pages of seg_id homed here (up to max into pgnos); *total: all. */
int dsm_node_lost_pages(struct dsm_node *n, uint32_t seg_id, uint64_t *pgnos, uint32_t max,
			uint64_t *total);

/* Print a human-readable statistics summary (at shutdown). */
void dsm_node_print_stats(struct dsm_node *n, FILE *f);

#endif /* DSM_RUNTIME_NODE_H */
