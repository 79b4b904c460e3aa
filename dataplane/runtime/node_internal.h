/* SPDX-License-Identifier: BSD-3-Clause */
/* Private structures of the node runtime (the runtime sources only). */
#ifndef DSM_RUNTIME_NODE_INTERNAL_H
#define DSM_RUNTIME_NODE_INTERNAL_H

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "channel/reliable.h"
#include "kfront/kfront.h"
#include "ufront/ufront.h"
#include "runtime/node.h"
#include "wire/codec.h"

#define DSM_BURST        32
#define DSM_MAX_SHARDS   16
/* Frame payload is capped at one 4 KiB page so that every frame fits in one
 * mbuf (data room below); larger MTUs only save the fragmentation. */
#define DSM_MAX_FRAG_PAYLOAD 4096u
#define DSM_MBUF_DATA_ROOM (RTE_PKTMBUF_HEADROOM + DSM_MAX_FRAG_PAYLOAD + DSM_FRAME_OVERHEAD + 64)
#define DSM_SHARD_RING   16384u
/* Frames of the largest message: a 2 MiB page at the smallest MTU (576). */
#define DSM_MAX_MSG_FRAMES 4608u
_Static_assert(DSM_MAX_MSG_FRAMES >= (DSM_MSG_MAX + DSM_FRAG_PAYLOAD(576) - 1) /
	       DSM_FRAG_PAYLOAD(576), "frame array too small for a 2 MiB page");
_Static_assert(DSM_MAX_MSG_FRAMES <= DSM_SHARD_RING, "shard tx ring too small");
/* Timers (retransmission, request and transaction deadlines) are checked at
 * most this often: their deadlines are milliseconds away, and finding the
 * earliest one scans tables, which must not happen on every poll. */
#define DSM_TIMER_GRAIN_NS 10000ull
#define DSM_BACKLOG_RING 8192u

/* In-band notice to shards, carried like a message through their rx rings
 * so that it is ordered with the peer's messages (not a wire type). */
#define DSM_INT_PEER_DOWN 0xf0
/* Membership (cluster.c): a new view (epoch; token: members; pgno:
 * departed), or this node fenced. */
#define DSM_INT_VIEW      0xf1
#define DSM_INT_FENCE     0xf2

/* Parsed header of the first frame of a message, kept in the mbuf private
 * area of the head of the reassembled chain. */
struct dsm_mbuf_priv {
	struct dsm_hdr hdr;
};

static inline struct dsm_hdr *dsm_mbuf_hdr(struct rte_mbuf *m)
{
	return &((struct dsm_mbuf_priv *)rte_mbuf_to_priv(m))->hdr;
}

struct dsm_port_rt {
	uint16_t port_id;
	uint16_t mtu;
	uint16_t frag_payload;
	struct rte_ether_addr mac;
	uint16_t ntx;
	struct rte_mbuf *txq[DSM_BURST];
	uint64_t rx_frames, tx_frames, tx_dropped;
	bool start_failed;             /* memif client: nobody listening yet */
	uint64_t down_since;           /* link seen down since (0: up) */
};

struct dsm_peer_stats {
	uint64_t rx_frames, tx_frames, rx_msgs, tx_msgs;
	uint64_t acks_tx, backlog_drops, stale_session, resets, down_events;
};

struct dsm_peer_rt {
	const struct dsm_cfg_peer *cfg;
	struct dsm_port_rt *port;
	struct dsm_addr addr;          /* us -> peer */
	struct dsm_chan chan;
	struct dsm_reasm reasm;
	struct rte_mbuf *rhead;        /* message being reassembled */
	struct rte_ring *backlog;      /* frames waiting for window space */
	uint32_t my_session;           /* our incarnation towards this peer */
	uint32_t their_session;        /* peer's incarnation, 0: not known yet */
	bool teach_pending;            /* peer used a stale session: tell it */
	struct dsm_peer_stats st;
};

struct dsm_seg_rt {
	struct dsm_segment_desc d;
	char name[DSM_SEG_NAME_MAX];
	uint8_t *base;                 /* hugepage-backed local backing, or
					* the kernel's (kmod segments) */
	bool kernel_backed;            /* base belongs to dsm.ko's mapping */
	/* Page data in (installed) and out (sent), by any shard: atomics. */
	uint64_t pages_in, pages_out;
};

struct dsm_shard_stats {
	uint64_t rx_msgs, tx_msgs, tx_ring_full, installs, zero_fills;
	uint64_t unmaps, protects, loopback, completes, exec_errors;
	uint64_t actions_overflow;     /* engine actions lost: a bug, logged */
	uint64_t kernel_actions;       /* run by the kernel front end */
	uint64_t fault_actions;        /* run by the userfaultfd front end */
};

/* A request from another thread to a shard, answered through done. */
enum dsm_ctl_kind {
	DSM_CTL_PAGE_INFO = 1,
	DSM_CTL_SEG_FIND,     /* name -> desc (and the view fd) */
	DSM_CTL_SEG_CREATE,   /* name, desc (home = self) -> seg_id */
	DSM_CTL_SEG_DESTROY,  /* name, uid: only with no mappings */
	DSM_CTL_UF_ATTACH,    /* fd (taken over), pid, conn, base, len, prot */
	DSM_CTL_UF_DETACH,    /* conn, base (0: every mapping of conn) */
	DSM_CTL_DISCOVER,     /* ask every peer for the segments it homes */
	DSM_CTL_HELD,         /* seg_id -> pages held (S/E), latest fault first */
	DSM_CTL_PID_SEGS,     /* pid -> segments its mappings use */
	DSM_CTL_LOST,         /* seg_id -> lost pages this shard is home of */
	DSM_CTL_EVACUATE,     /* node, heir: start copying node's pages here */
};
struct dsm_ctl {
	enum dsm_ctl_kind kind;
	uint32_t seg_id;
	uint64_t pgno;
	int      rc;
	struct dsm_page_info info;
	/* segment and mapping requests (control thread -> shard) */
	char     name[DSM_SEG_NAME_MAX];
	struct dsm_segment_desc desc;
	uint32_t uid;
	int      fd;
	int      pid;
	uint64_t conn, base, len;
	uint32_t prot;
	uint64_t answers;     /* FIND, DISCOVER: VMA answers received so far;
			       * HELD, LOST: how many there are in all */
	uint64_t *out;        /* HELD, LOST: page numbers; PID_SEGS: ids */
	uint32_t max;         /* room in out */
	uint16_t node;        /* EVACUATE: the node being drained */
	bool     heir;        /* EVACUATE: this node inherits its segments */
	/* Set with release ordering by the shard after filling rc/info; the
	 * requester reads it with acquire ordering (pairs with that store). */
	uint32_t done;
};

/* evacuate.c: one shard's part of copying a drained node's pages off it. */
#define DSM_EVAC_SLOTS 16    /* reads in flight per shard: faults come first */
#define DSM_EVAC_SCAN 256    /* pages looked at per poll */
enum dsm_evac_mode { DSM_EVAC_SKIP = 0, DSM_EVAC_COPY, DSM_EVAC_RECALL };
enum dsm_evac_slot_state { DSM_EVAC_FREE = 0, DSM_EVAC_ISSUED, DSM_EVAC_RETRY };
struct dsm_evac_slot {
	uint32_t seg_id;
	uint64_t pgno;
	uint8_t  state;        /* enum dsm_evac_slot_state */
	uint8_t  tries;        /* transient failures so far */
};
struct dsm_evac {
	uint32_t gen;          /* job number: older jobs' completions are stale */
	uint16_t node;         /* the node evacuated (0: no job yet) */
	bool     heir;
	bool     active;
	uint32_t nsegs;        /* node segments when the job started */
	uint8_t  mode[DSM_CFG_MAX_SEGMENTS];   /* enum dsm_evac_mode, by index */
	uint32_t seg;          /* cursor: segment index ... */
	uint64_t pgno;         /* ... and page */
	uint32_t in_flight;
	struct dsm_evac_slot slot[DSM_EVAC_SLOTS];
	/* progress (read by other threads) */
	uint64_t segments, pages, done, copied, lost, failed;
};

struct dsm_shard_rt {
	uint32_t idx;
	unsigned lcore;
	bool inline_main;
	struct dsm_node *node;
	struct dsm_engine *eng;
	struct rte_ring *rx;           /* message chains in (MP: io + loopback) */
	struct rte_ring *tx;           /* frames out to the I/O lcore (SP/SC) */
	struct rte_ring *ctl;          /* struct dsm_ctl * (MP/SC) */
	struct dsm_actions acts;
	struct rte_mbuf **frames;      /* DSM_MAX_MSG_FRAMES, for exec_send */
	uint64_t next_timer_check;
	struct dsm_shard_stats st;
	struct dsm_evac evac;
};

struct dsm_node {
	struct dsm_node_params params;
	struct dsm_config cfg;
	uint16_t self;
	uint64_t epoch;
	struct rte_mempool *pool;
	/* Peer-down notices come from their own pool: data traffic can drain
	 * the main pool, and a notice cannot be retried later without losing
	 * its place in the order of the peer's messages. */
	struct rte_mempool *notice_pool;
	uint32_t nports;
	struct dsm_port_rt ports[DSM_CFG_MAX_PORTS];
	struct dsm_peer_rt *peers[DSM_MAX_NODES];   /* by node id */
	uint32_t npeers;
	struct dsm_peer_rt *peer_list[DSM_CFG_MAX_PEERS]; /* the same, packed */
	uint32_t nsegs;
	struct dsm_seg_rt segs[DSM_CFG_MAX_SEGMENTS];
	struct rte_hash *seg_index;                 /* seg_id -> segs[] index */
	uint32_t nshards;
	struct dsm_shard_rt shards[DSM_MAX_SHARDS];
	volatile int stop;
	uint64_t drops[DSM_DROP__COUNT];
	struct rte_mbuf **frames;      /* DSM_MAX_MSG_FRAMES, main lcore sends */
	uint64_t vma_served;
	uint64_t fault_rng;            /* receive fault shim state */
	uint64_t fault_dropped, fault_duplicated;
	uint64_t next_link_check;      /* dsm_ports_maintain() */
	uint64_t next_timer_check;     /* channel retransmission timers */
	/* The kernel fault front end (node.kmod), on the inline shard. */
	struct dsm_kdev *kdev;
	struct dsm_kfront *kfront;
	/* The userfaultfd front end and its control socket (node.socket). */
	struct dsm_ufront *ufront;
	struct dsm_control *control;
	uint32_t seg_owner_uid[DSM_CFG_MAX_SEGMENTS]; /* creators (UINT32_MAX: config) */
	uint64_t vma_answers;                       /* VMA_RESPs received (discovery) */
	uint32_t created_segs;                      /* run-time segment ids handed out */
	struct dsm_cluster *cluster;                /* membership (cluster.c) */
};

/* cluster.c: membership in etcd (the config's cluster section) */
int  dsm_cluster_start(struct dsm_node *n);
void dsm_cluster_stop(struct dsm_node *n);
/* Apply what the agent thread learned (main lcore). */
int  dsm_cluster_poll(struct dsm_node *n);

/* uffd.c: the userfaultfd front end inside the runtime */
int  dsm_uffd_init(struct dsm_node *n);
int  dsm_uffd_start(struct dsm_node *n);
void dsm_uffd_fini(struct dsm_node *n);
int  dsm_uffd_add_segment(struct dsm_node *n, struct dsm_seg_rt *s);
int  dsm_uffd_poll(struct dsm_node *n, uint64_t now);
/* The segment/mapping ctl kinds, on the shard thread. */
int  dsm_uffd_ctl(struct dsm_node *n, struct dsm_ctl *c);
/* A VMA_RESP: make the segments it describes known (main lcore). */
void dsm_uffd_learn(struct dsm_node *n, const struct dsm_msg *m);

/* control.c: the control socket (libdsm's peer), on its own thread */
struct dsm_control;
int  dsm_control_start(struct dsm_node *n, const char *path, struct dsm_control **out);
void dsm_control_stop(struct dsm_control *c);
/* Requests served, answered with an error, malformed; connections so far. */
void dsm_control_counters(const struct dsm_control *c, uint64_t *requests,
			  uint64_t *errors, uint64_t *bad, uint64_t *conns);

/* kmod.c: the kernel front end inside the runtime */
int  dsm_kmod_init(struct dsm_node *n);
void dsm_kmod_fini(struct dsm_node *n);
int  dsm_kmod_add_segment(struct dsm_node *n, struct dsm_seg_rt *s);
int  dsm_kmod_poll(struct dsm_node *n, uint64_t now);

/* frames.c */
int  dsm_build_frames(struct dsm_node *n, const struct dsm_msg *m, const void *payload,
		      struct rte_mbuf **frames, uint32_t max, uint32_t *nframes);
struct rte_mbuf *dsm_frames_to_msg(struct rte_mbuf **frames, uint32_t nframes);
struct dsm_seg_rt *dsm_node_seg(struct dsm_node *n, uint32_t seg_id);
void dsm_msg_from_chain(struct rte_mbuf *m, struct dsm_msg *out);

/* io.c */
int  dsm_io_poll(struct dsm_node *n, uint64_t now);
void dsm_io_send_frames(struct dsm_node *n, struct rte_mbuf **frames, uint32_t nframes,
			uint64_t now);
void dsm_io_flush(struct dsm_node *n);
/* Reset the channel with peer id under a fresh session (its frames in
 * flight are dropped, the shards write it off in band). */
void dsm_io_peer_reset(struct dsm_node *n, uint16_t id);
/* Transmit what the shards and hooks produced since the last poll. */
int  dsm_io_send_pending(struct dsm_node *n, uint64_t now);
uint64_t dsm_io_next_deadline(struct dsm_node *n);
int  dsm_peers_init(struct dsm_node *n);
void dsm_peers_fini(struct dsm_node *n);

/* shard.c */
int  dsm_shard_poll(struct dsm_shard_rt *sh, uint64_t now);
int  dsm_shard_dispatch(struct dsm_node *n, struct rte_mbuf *msg);
void dsm_shards_peer_down(struct dsm_node *n, uint16_t node);
int  dsm_shard_exec(struct dsm_shard_rt *sh, uint64_t now);
/* Run an action list that is not the shard's own (the kernel front end's). */
void dsm_shard_exec_list(struct dsm_shard_rt *sh, const struct dsm_actions *acts,
			 uint64_t now);
/* The fault front ends' exec callback (ctx: the node): the actions of a
 * fault run in the node's one inline shard. */
void dsm_shard_exec_front(void *node, const struct dsm_actions *acts);
int  dsm_shard_ctl_call(struct dsm_node *n, uint32_t shard, struct dsm_ctl *c,
			uint32_t timeout_ms);

/* evacuate.c (shard lcore): start (or restart) the job, 0+ segments in
 * scope; one poll's worth of it, the work done; a COMPLETE of its reads
 * (true: consumed). */
int  dsm_evac_start(struct dsm_shard_rt *sh, uint16_t node, bool heir);
int  dsm_evac_step(struct dsm_shard_rt *sh, uint64_t now);
bool dsm_evac_complete(struct dsm_shard_rt *sh, const struct dsm_action *a);
/* Other threads: start evacuating node on every shard; segments in scope
 * or -EINVAL (bad id), -ELOOP (self), -ENOENT (not in the view), -EPERM
 * (fenced), -errno of the shard call.  *heir: this node inherits node's
 * segments.  And the progress, summed over the shards. */
struct dsm_evac_status {
	uint16_t node;
	bool heir, active;
	uint64_t segments, pages, done, copied, lost, failed;
};
int  dsm_node_evacuate(struct dsm_node *n, uint16_t node, bool *heir);
void dsm_node_evac_status(const struct dsm_node *n, struct dsm_evac_status *st);

/* port.c */
int  dsm_ports_init(struct dsm_node *n);
void dsm_ports_fini(struct dsm_node *n);
void dsm_port_xmit(struct dsm_port_rt *p, struct rte_mbuf *m);
void dsm_port_flush(struct dsm_port_rt *p);
int  dsm_ports_maintain(struct dsm_node *n, uint64_t now);

/* telemetry.c */
int  dsm_telemetry_init(struct dsm_node *n);

#endif /* DSM_RUNTIME_NODE_INTERNAL_H */
