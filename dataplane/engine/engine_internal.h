/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of the coherence engine, shared by its three parts:
 *   coherence.c  - lifecycle, segment table, input validation, dispatch,
 *                  time (tick / deadlines), telemetry
 *   requester.c  - the local (cache) side: faults, leaders and followers,
 *                  GRANT/NACK, INVALIDATE/DOWNGRADE from a home
 *   directory.c  - the home side: PAGE_REQ, the directory, its transactions
 *                  and their INV_ACK/DOWNGRADE_ACK
 *
 * Every table is allocated at create/add_segment time with a fixed capacity;
 * the fast path never allocates.  Indices into tables are uint32_t with
 * DSM_NIL as "none".
 */
#ifndef DSM_ENGINE_INTERNAL_H
#define DSM_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/coherence.h"

#define DSM_NIL             UINT32_MAX
/* Backoff never grows past base << DSM_RETRY_SHIFT_MAX. */
#define DSM_RETRY_SHIFT_MAX 16u

static inline dsm_nodeset_t node_bit(uint16_t node)
{
	return (dsm_nodeset_t)1 << (node % DSM_MAX_NODES);
}

/* Local cache state of one page (every node). */
struct cache_entry {
	uint64_t version;   /* version of the copy held (kept when Invalid) */
	uint32_t pending;   /* leader slot index + 1, 0 when none */
	uint8_t  state;     /* enum dsm_cache_state */
	/* We were the exclusive owner at `version` and gave it up through an
	 * INVALIDATE or DOWNGRADE: the local backing still holds that
	 * version's final contents.  Lets us answer a repeated recall (its ack
	 * was lost or arrived after the home timed out) with the data instead
	 * of losing it.  Cleared whenever a grant installs a new version. */
	bool     retained;
};

/* Directory entry of one page (home only). */
struct dir_entry {
	uint64_t      version;    /* bumped by every exclusive grant */
	dsm_nodeset_t sharers;    /* over-approximation of copy holders */
	uint64_t      last_token; /* last request served: duplicate filter */
	uint32_t      tx;         /* home transaction index + 1, 0 when none */
	uint16_t      owner;      /* EXCLUSIVE owner, DSM_NODE_NONE otherwise */
	uint16_t      last_req;
	uint8_t       state;      /* enum dsm_dir_state */
	bool          written;    /* the home backing holds real data */
	/* A DOWNGRADE timed out: the owner may already be Shared holding the
	 * only copy of the data, so the next recall must be a DOWNGRADE (which
	 * a Shared ex-owner answers with data), never an INVALIDATE. */
	bool          dg_unsure;
	/* The exclusive owner went away with the only valid copy: requests
	 * are refused with DSM_ST_LOST until the page is recovered. */
	bool          lost;
	/* Adopted from a departed home (dsm_engine_set_view): nothing is
	 * known until the survivors reported their copies (TX_REHOME). */
	bool          recovering;
};

struct seg {
	struct dsm_segment_desc d;
	struct dir_entry   *dir;   /* NULL unless self is home */
	struct cache_entry *cache;
	/* Adopted segment: the next page the background sweep recovers, and
	 * whether any of this shard's pages are left to sweep. */
	uint64_t            sweep_next;
	bool                sweeping;
};

/* A local request waiting for a leader transaction (the leader included). */
struct waiter {
	uint64_t user_data;
	uint32_t next;
	uint8_t  intent;
};

/* A leader transaction of this node (requester side). */
struct pending {
	uint64_t pgno;
	uint64_t deadline;
	uint64_t retry_at;   /* BUSY backoff expiry, 0 when not backing off */
	uint32_t gen;        /* token generation; bumped per transaction */
	uint32_t seg;        /* index in the segment table */
	uint32_t head, tail; /* FIFO of waiters */
	uint32_t retries;
	uint16_t home;
	uint8_t  intent;     /* intent of the PAGE_REQ in flight */
	bool     used;
};

enum tx_kind {
	TX_DOWNGRADE = 1, /* fetch the owner's data, owner keeps a shared copy */
	TX_INVALIDATE,    /* drop every other sharer before an exclusive grant */
	TX_RECALL,        /* take the page (and data) away from the owner */
	TX_REHOME,        /* ask every survivor what it holds of an adopted page */
};

/* A PAGE_REQ as the home remembers it. */
struct home_req {
	uint64_t token;        /* the requester's token, echoed in GRANT/NACK */
	uint64_t have_version; /* HAVE_COPY version */
	uint16_t requester;
	bool     write;
	bool     have_copy;
};

/* A home transaction: one page, one request, a set of awaited acks. */
struct home_tx {
	struct home_req rq;
	uint64_t      pgno;
	uint64_t      deadline;
	dsm_nodeset_t waiting;      /* nodes whose ack is outstanding */
	dsm_nodeset_t acked;        /* nodes that acked (duplicate filter) */
	uint32_t      gen;          /* our token generation (per phase) */
	uint32_t      seg;
	uint8_t       kind;         /* enum tx_kind */
	bool          used;
	/* TX_REHOME: what the reports said so far. */
	uint64_t      rh_version;   /* highest version reported */
	dsm_nodeset_t rh_sharers;   /* nodes holding a shared copy */
	uint16_t      rh_owner;     /* node holding it exclusively, or NONE */
	bool          rh_data;      /* a shared copy was installed here */
};

struct dsm_engine {
	struct dsm_engine_cfg   cfg;
	struct dsm_engine_stats st;
	/* Membership (dsm_engine_set_view): who may talk to us, and from
	 * which epoch on each member's current incarnation was admitted. */
	dsm_nodeset_t members;
	uint64_t   admit[DSM_MAX_NODES];
	bool       fenced;          /* written off ourselves: serve nobody */
	bool       viewed;          /* a view was applied (membership on) */
	uint32_t   sweeping;        /* adopted segments with pages to sweep */
	uint32_t   nsegs;
	struct seg segs[DSM_ENGINE_MAX_SEGS];

	struct pending *slots;      /* cfg.max_pending */
	uint32_t       *slot_free;  /* stack of free slot indices */
	uint32_t        nslot_free;

	struct waiter *waiters;     /* cfg.max_waiters */
	uint32_t       waiter_free; /* free list head through waiter.next */

	struct home_tx *txs;        /* cfg.max_pending */
	uint32_t       *tx_free;
	uint32_t        ntx_free;
};

static inline bool eng_member(const struct dsm_engine *e, uint16_t node)
{
	return node == e->cfg.self ||
	       (node < DSM_MAX_NODES && (e->members >> node) & 1);
}

/* coherence.c: segment lookup and action emission. */
struct seg *eng_seg(struct dsm_engine *e, uint32_t seg_id, uint32_t *idx);
struct dsm_action *eng_push(struct dsm_actions *out);
void eng_send(struct dsm_engine *e, struct dsm_actions *out, uint8_t type,
	      uint16_t flags, uint16_t status, uint16_t dst, uint64_t token,
	      uint32_t seg_id, uint64_t pgno, uint64_t version, uint32_t len);
/* NACK a received PAGE_REQ with status. */
void eng_nack(struct dsm_engine *e, struct dsm_actions *out,
	      const struct dsm_msg *req, uint16_t status);
void eng_page_act(struct dsm_actions *out, enum dsm_action_kind kind,
		  const struct seg *s, uint64_t pgno, const void *payload,
		  uint32_t len);

/* requester.c */
int req_grant(struct dsm_engine *e, uint64_t now, struct seg *s,
	      const struct dsm_msg *m, struct dsm_actions *out);
int req_nack(struct dsm_engine *e, uint64_t now, struct seg *s,
	     const struct dsm_msg *m, struct dsm_actions *out);
int req_invalidate(struct dsm_engine *e, struct seg *s,
		   const struct dsm_msg *m, struct dsm_actions *out);
int req_downgrade(struct dsm_engine *e, struct seg *s,
		  const struct dsm_msg *m, struct dsm_actions *out);
void req_tick(struct dsm_engine *e, uint64_t now, struct dsm_actions *out);
void req_peer_down(struct dsm_engine *e, uint16_t node,
		   struct dsm_actions *out);
/* s's home departed and new_home adopts it: pending requests go there. */
void req_rehome(struct dsm_engine *e, uint64_t now, struct seg *s,
		uint16_t new_home, struct dsm_actions *out);
/* s went to new_home while this node was written off: no copies kept. */
void req_disown(struct dsm_engine *e, struct seg *s, uint16_t new_home,
		struct dsm_actions *out);
int req_rehome_query(struct dsm_engine *e, struct seg *s,
		     const struct dsm_msg *m, struct dsm_actions *out);
uint64_t req_next_deadline(const struct dsm_engine *e);

/* directory.c */
int home_page_req(struct dsm_engine *e, uint64_t now, struct seg *s,
		  const struct dsm_msg *m, struct dsm_actions *out);
/* INV_ACK, DOWNGRADE_ACK and REHOME_REPORT of a home transaction. */
int home_ack(struct dsm_engine *e, uint64_t now, struct seg *s,
	     const struct dsm_msg *m, struct dsm_actions *out);
void home_tick(struct dsm_engine *e, uint64_t now, struct dsm_actions *out);
void home_peer_down(struct dsm_engine *e, uint64_t now, uint16_t node,
		    struct dsm_actions *out);
uint64_t home_next_deadline(const struct dsm_engine *e);
/* Become the home of s (its home departed): every page recovering. */
int home_adopt(struct dsm_engine *e, struct seg *s);
/* Stop being the home of s (this node was written off). */
void home_disown(struct dsm_engine *e, struct seg *s);


#endif /* DSM_ENGINE_INTERNAL_H */
