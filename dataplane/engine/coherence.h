/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The coherence engine: a pure state machine
 *
 *     (state, input) -> (state', actions)
 *
 * with no I/O, no clock reads, no DPDK and no locks, so that the same code is
 * unit-tested, fuzzed, model-checked and run on the dataplane lcores.  One
 * engine instance is one *shard*: the dataplane creates one per worker lcore
 * and routes every page to exactly one shard (dsm_engine_shard_of), so a
 * page's directory entry and cache entry are only ever touched by one thread.
 *
 * Protocol (home-based directory, writer-invalidate / reader-replicate):
 *  - Each segment has a home node holding the directory entry of every page:
 *    state (UNOWNED: home copy valid; SHARED: home copy valid + sharer set;
 *    EXCLUSIVE: one owner, home copy stale), version, whether the page was
 *    ever written, and the transaction in flight, if any.
 *  - Every node (the home included, messages to self are looped back by the
 *    caller) keeps a cache state Invalid / Shared / Exclusive per page.
 *  - A local read/write request that the cache state satisfies completes at
 *    once (a minor fault).  Otherwise the first request becomes the *leader*
 *    and sends PAGE_REQ to the home; later local requests for the same page
 *    are *followers* that complete with the leader's result (a follower that
 *    needs write access when the leader got a shared copy starts the next
 *    transaction).
 *  - The home serves a read from its copy (UNOWNED/SHARED), or first
 *    DOWNGRADEs an exclusive owner, which returns the data.  It serves a
 *    write by INVALIDATE-ing every sharer (or recalling the owner's data) and
 *    then GRANTs exclusive ownership with version + 1.  A requester that
 *    still holds the current version gets the grant without data.
 *  - Never-written pages are granted with DSM_F_ZERO and no payload; the
 *    requester zero-fills.
 *  - A request for a page with a transaction in flight is NACKed BUSY; the
 *    requester retries with exponential backoff, bounded by max_retries and
 *    its deadline (no deadlock, no unbounded wait).
 *  - Every input is checked: wrong epoch, unknown segment, page out of range,
 *    stale version, duplicate or unexpected token -> dropped and counted.
 *
 * Page data never passes through the engine: it emits INSTALL/ZERO actions
 * (write payload or zeros into the local backing of seg/pgno) and SEND
 * actions whose payload the caller reads from the local backing when it
 * builds the frames.  The caller executes actions in order, immediately.
 */
#ifndef DSM_ENGINE_COHERENCE_H
#define DSM_ENGINE_COHERENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "dsm/wire.h"

enum dsm_cache_state { DSM_CS_INVALID = 0, DSM_CS_SHARED = 1, DSM_CS_EXCLUSIVE = 2 };
enum dsm_dir_state   { DSM_DS_UNOWNED = 0, DSM_DS_SHARED = 1, DSM_DS_EXCLUSIVE = 2 };
enum dsm_intent      { DSM_READ = 0, DSM_WRITE = 1 };

/* Sharer sets are bitmaps over node ids (DSM_MAX_NODES == 64). */
typedef uint64_t dsm_nodeset_t;

struct dsm_engine_cfg {
	uint16_t self;            /* this node's id (1..DSM_MAX_NODES-1) */
	uint32_t shard;           /* this shard's index */
	uint32_t nshards;         /* total shards (>= 1) */
	uint64_t epoch;           /* membership epoch at start */
	uint32_t max_pending;     /* concurrent leader transactions (slots) */
	uint32_t max_waiters;     /* local requests queued across all pages */
	uint64_t req_timeout_ns;  /* deadline of a local request */
	uint64_t home_timeout_ns; /* deadline of a home transaction */
	uint64_t retry_base_ns;   /* first BUSY backoff; doubles per retry */
	uint64_t retry_max_ns;    /* backoff cap: a loser on a hot page must not
				   * fall ever further behind (starvation) */
	uint32_t max_retries;     /* BUSY retries before failing with -EBUSY */
};

void dsm_engine_cfg_default(struct dsm_engine_cfg *cfg);

/* A segment as every node knows it (from config or VMA_RESP). */
struct dsm_segment_desc {
	uint32_t seg_id;
	uint16_t home;
	uint16_t prot;        /* DSM_PROT_* */
	uint32_t page_size;
	uint64_t npages;
};

/* A protocol message as the engine sees it (host order, no framing). */
struct dsm_msg {
	uint8_t  type;        /* enum dsm_msg_type */
	uint16_t flags;       /* DSM_F_* */
	uint16_t status;      /* enum dsm_wire_status */
	uint16_t src;
	uint16_t dst;
	uint64_t epoch;
	uint64_t token;
	uint32_t seg_id;
	uint64_t pgno;
	uint64_t version;
	uint32_t len;         /* payload bytes (page size with DSM_F_DATA) */
	const void *payload;  /* received payload (opaque to the engine) */
};

enum dsm_action_kind {
	DSM_ACT_SEND = 1,     /* send msg; with DSM_F_DATA the payload is the
			       * local backing page seg/pgno, read at send time */
	DSM_ACT_INSTALL,      /* copy msg.payload (msg.len bytes) into the local
			       * backing of seg/pgno */
	DSM_ACT_ZERO,         /* zero-fill the local backing of seg/pgno */
	DSM_ACT_UNMAP,        /* drop seg/pgno from local mappings (invalidate) */
	DSM_ACT_PROTECT,      /* write-protect seg/pgno in local mappings */
	DSM_ACT_COMPLETE,     /* a local request finished: user_data, status */
	DSM_ACT_UNMAP_SEGMENT,/* drop every page of seg_id from local mappings
			       * (its home wrote this node off: peer_down) */
};

struct dsm_action {
	enum dsm_action_kind kind;
	struct dsm_msg msg;   /* SEND; INSTALL/ZERO/UNMAP/PROTECT use seg/pgno/payload */
	uint64_t user_data;   /* COMPLETE: the caller's token for the request */
	int      status;      /* COMPLETE: 0 or -errno */
	uint8_t  state;       /* COMPLETE: cache state now held */
	bool     remote;      /* COMPLETE: needed the network (major fault) */
};

/* Segments one engine instance knows. */
#define DSM_ENGINE_MAX_SEGS 64u

/* One engine call emits at most max_waiters + 2 * max_pending + one per
 * segment actions (a tick that fails everything, a peer_down that aborts
 * and grants everything); dsm_engine_create refuses a config whose worst
 * case exceeds DSM_ACTIONS_MAX, so a caller that clears the array before
 * each call never overflows it. */
#define DSM_ACTIONS_MAX 2048
struct dsm_actions {
	uint32_t n;
	uint32_t overflow;    /* actions that did not fit (caller bug; counted) */
	struct dsm_action a[DSM_ACTIONS_MAX];
};

static inline void dsm_actions_clear(struct dsm_actions *acts)
{
	acts->n = 0;
	acts->overflow = 0;
}

/* Per-shard counters. */
struct dsm_engine_stats {
	uint64_t local_hits;        /* satisfied from cache state (minor) */
	uint64_t local_misses;      /* leader transactions started (major) */
	uint64_t coalesced;         /* followers attached to a leader */
	uint64_t completed;         /* local requests completed OK */
	uint64_t failed;            /* local requests completed with error */
	uint64_t timeouts;          /* local requests past their deadline */
	uint64_t retries;           /* BUSY retries sent */
	uint64_t nacks_rx;
	uint64_t nacks_tx;
	uint64_t grants_tx;
	uint64_t grants_rx;
	uint64_t zero_grants;       /* grants of never-written pages */
	uint64_t nodata_grants;     /* upgrades granted without data */
	uint64_t invalidations_tx;
	uint64_t invalidations_rx;
	uint64_t downgrades_tx;
	uint64_t downgrades_rx;
	uint64_t writebacks;        /* owner data installed at home */
	uint64_t home_timeouts;     /* home transactions aborted */
	uint64_t drop_epoch;        /* sender not a member, or its epoch
				     * predates the sender's admission */
	uint64_t drop_noseg;        /* unknown segment */
	uint64_t drop_range;        /* page out of range */
	uint64_t drop_stale;        /* stale version or unexpected token */
	uint64_t drop_dup;          /* duplicate of a handled message */
	uint64_t drop_bad;          /* malformed for its type, wrong shard */
	uint64_t no_slot;           /* local requests refused: no slot/waiter */
	uint64_t home_gone;         /* local requests refused: home not a member */
	uint64_t pages_lost;        /* owner gone with the only valid copy */
	uint64_t sharers_dropped;   /* gone nodes removed from sharer sets */
	uint64_t rehomed_segs;      /* segments whose home departed, moved */
	uint64_t rehome_queries;    /* REHOME_QUERY sent (as the new home) */
	uint64_t rehome_reports;    /* REHOME_QUERY answered (as a survivor) */
	uint64_t pages_recovered;   /* adopted pages rebuilt from copies */
};

/* What the engine knows about one page (telemetry, tests). */
struct dsm_page_info {
	bool     is_home;
	/* directory (valid when is_home) */
	uint8_t  dir_state;
	uint16_t owner;
	dsm_nodeset_t sharers;
	uint64_t version;
	bool     written;
	bool     busy;          /* transaction in flight */
	bool     lost;          /* only valid copy lost with its owner */
	bool     recovering;    /* adopted, survivors not asked yet */
	uint16_t busy_requester;
	/* local cache */
	uint8_t  cache_state;
	uint64_t cache_version;
	bool     pending;       /* local leader transaction in flight */
	uint32_t waiters;
};

struct dsm_engine;

/* Create/destroy a shard.  Returns NULL on bad config or no memory. */
struct dsm_engine *dsm_engine_create(const struct dsm_engine_cfg *cfg);
void dsm_engine_destroy(struct dsm_engine *e);

/* Make a segment known.  Allocates the directory (when self is its home) and
 * the cache-state array.  Returns 0, -EEXIST, -EINVAL or -ENOMEM. */
int dsm_engine_add_segment(struct dsm_engine *e, const struct dsm_segment_desc *d);

/* Which shard owns seg/pgno (same function on every node). */
uint32_t dsm_engine_shard_of(uint32_t seg_id, uint64_t pgno, uint32_t nshards);

/* Set the epoch stamped on messages sent from now on (a static cluster;
 * a cluster with membership uses dsm_engine_set_view). */
void dsm_engine_set_epoch(struct dsm_engine *e, uint64_t epoch);

/* Apply a new membership view (epoch > the current one, else -ESTALE):
 * members is every node of the view (self included or not: a node left
 * out is fenced and answers nobody), departed the nodes every survivor
 * writes off - those that left, died or restarted with a new incarnation
 * (a restarted node is in both sets).  Departed and vanished nodes go
 * through dsm_engine_peer_down; joined and restarted nodes are admitted
 * at this epoch.  From now on a message is dropped (drop_epoch) if its
 * sender is not a member or its epoch predates the sender's admission:
 * this is what fences a written-off node's late messages.  A message of
 * a newer epoch is accepted (its sender saw the next view first).  Before
 * the first view every node is a member, admitted at cfg.epoch.  A view
 * without self fences this node (see dsm_engine_fence).
 * Local requests for pages whose home is not a member fail -EHOSTUNREACH. */
int dsm_engine_set_view(struct dsm_engine *e, uint64_t now, uint64_t epoch,
			dsm_nodeset_t members, dsm_nodeset_t departed,
			struct dsm_actions *out);
/* Re-homing.  When a segment's home departs (in `departed`, or missing
 * from `members`), its heir - the lowest-id survivor, dsm_engine_heir -
 * adopts it: every page starts *recovering*.
 * Survivors keep their copies and send their requests to the heir.  The
 * heir recovers a page when it is first asked for it, and sweeps the rest
 * in the background (a few transactions at a time): REHOME_QUERY to every
 * other member, whose REHOME_REPORT says what it holds.  An exclusive
 * holder becomes the owner, shared holders the sharers (one copy is
 * installed as the home copy); a page nobody holds is lost (counted,
 * requests refused DSM_ST_LOST): only the departed home knew whether it
 * was written.  A node that never knew the segment reports NOSEG. */
/* The rule, for callers that keep their own copy of segment homes: the
 * view members/departed follows a view whose members were prev (0 before
 * the first).  *moved gets the nodes whose segments move - those that left
 * prev, the departed, and self if the view writes it off; returns their
 * heir (DSM_NODE_NONE if nobody is left). */
uint16_t dsm_engine_heir(dsm_nodeset_t prev, dsm_nodeset_t members,
			 dsm_nodeset_t departed, uint16_t self, dsm_nodeset_t *moved);

/* This node can no longer prove it is in the view (its lease could not be
 * renewed): write every member off as a view without us would (cached
 * copies dropped, requests on others failed), and drop every message
 * until a view with us in it arrives through dsm_engine_set_view. */
void dsm_engine_fence(struct dsm_engine *e, uint64_t now, struct dsm_actions *out);
/* May node talk to us (false for everyone while fenced)? */
bool dsm_engine_is_member(const struct dsm_engine *e, uint16_t node);
uint64_t dsm_engine_epoch(const struct dsm_engine *e);

/* A local access (fault) to seg/pgno.  Completion is reported by a COMPLETE
 * action carrying user_data, possibly in this call (cache hit, error) or a
 * later one.  Returns 0 when accepted (a COMPLETE will follow or was
 * emitted), or -errno when refused outright (no COMPLETE is emitted):
 * -ENOENT unknown segment, -ERANGE page out of range, -EACCES protection,
 * -ENOSPC no waiter slot, -EHOSTUNREACH the home is not a member. */
int dsm_engine_local(struct dsm_engine *e, uint64_t now, uint32_t seg_id,
		     uint64_t pgno, enum dsm_intent intent, uint64_t user_data,
		     struct dsm_actions *out);

/* A message received from the network (or looped back from self).
 * Returns 0 if handled, or -errno if dropped (counted in stats). */
int dsm_engine_rx(struct dsm_engine *e, uint64_t now, const struct dsm_msg *m,
		  struct dsm_actions *out);

/* Advance time: retry backed-off requests, fail requests past their
 * deadline, abort home transactions past theirs. */
void dsm_engine_tick(struct dsm_engine *e, uint64_t now, struct dsm_actions *out);

/* Earliest deadline the engine is waiting for, or UINT64_MAX. */
uint64_t dsm_engine_next_deadline(const struct dsm_engine *e);

/* node is gone (its channel died, or it restarted with a new session).
 * As requester: local requests waiting on it as home complete with
 * -EHOSTUNREACH, and every cached copy of its pages is dropped (one
 * UNMAP_SEGMENT action per segment), because it has written us off too.
 * As home: it holds no copies any more; transactions it requested abort, it leaves
 * every sharer set (an invalidation round waiting on it proceeds) and pages
 * it owned exclusively are marked lost (DSM_ST_LOST, counted), never
 * silently served from an older copy. */
void dsm_engine_peer_down(struct dsm_engine *e, uint64_t now, uint16_t node,
			  struct dsm_actions *out);

/* Look up one page.  Returns 0, -ENOENT or -ERANGE. */
int dsm_engine_page_info(const struct dsm_engine *e, uint32_t seg_id,
			 uint64_t pgno, struct dsm_page_info *info);

const struct dsm_engine_stats *dsm_engine_stats(const struct dsm_engine *e);

#endif /* DSM_ENGINE_COHERENCE_H */
