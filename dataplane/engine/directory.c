/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Coherence engine, home side: the directory and its transactions.
 *
 * The home serialises each page: while a transaction (a DOWNGRADE, an
 * INVALIDATE round or a RECALL) is in flight every other PAGE_REQ for the
 * page is NACKed BUSY.  A transaction has a deadline; when it passes, the
 * requester is NACKed TIMEDOUT and the directory is left in a state that is
 * safe whatever the silent holder did (see tx_abort).
 *
 * Invariants the home relies on:
 *  - versions only grow, by one per exclusive grant, so a copy "at the
 *    directory version" of a non-exclusive page equals the home copy;
 *  - the sharer set over-approximates the copy holders (it may name a node
 *    that already dropped its copy, never the reverse);
 *  - data is accepted only from the recorded owner at the directory version.
 */
#include <errno.h>
#include <stdlib.h>

#include "engine/engine_internal.h"

static struct dir_entry *dir_of(struct seg *s, uint64_t pgno)
{
	return &s->dir[pgno];
}

static uint64_t tx_token(const struct dsm_engine *e, const struct home_tx *tx)
{
	return DSM_TOKEN((uint32_t)(tx - e->txs), tx->gen);
}

static struct home_tx *tx_of(struct dsm_engine *e, const struct dir_entry *d)
{
	return d->tx != 0 ? &e->txs[d->tx - 1] : NULL;
}

static struct home_tx *tx_alloc(struct dsm_engine *e, struct seg *s,
				uint64_t pgno, const struct home_req *rq)
{
	struct home_tx *tx;
	uint32_t idx;

	if (e->ntx_free == 0)
		return NULL;
	idx = e->tx_free[--e->ntx_free];
	tx = &e->txs[idx];
	tx->used = true;
	tx->rq = *rq;
	tx->seg = (uint32_t)(s - e->segs);
	tx->pgno = pgno;
	dir_of(s, pgno)->tx = idx + 1;
	return tx;
}

static void tx_release(struct dsm_engine *e, struct home_tx *tx)
{
	dir_of(&e->segs[tx->seg], tx->pgno)->tx = 0;
	tx->used = false;
	e->tx_free[e->ntx_free++] = (uint32_t)(tx - e->txs);
}

/* Start a phase: send DOWNGRADE or INVALIDATE to every node of targets.
 * A fresh generation per phase makes acks of the previous phase stale. */
static void tx_phase(struct dsm_engine *e, uint64_t now, struct home_tx *tx,
		     uint8_t kind, dsm_nodeset_t targets, struct dsm_actions *out)
{
	struct seg *s = &e->segs[tx->seg];
	const struct dir_entry *d = dir_of(s, tx->pgno);
	uint8_t type = kind == TX_DOWNGRADE ? DSM_MSG_DOWNGRADE :
		       kind == TX_REHOME ? DSM_MSG_REHOME_QUERY : DSM_MSG_INVALIDATE;
	uint16_t n;

	tx->gen++;
	tx->kind = kind;
	tx->waiting = targets;
	tx->acked = 0;
	tx->deadline = now + e->cfg.home_timeout_ns;
	for (n = 1; n < DSM_MAX_NODES; n++) {
		if (!(targets & node_bit(n)))
			continue;
		if (type == DSM_MSG_DOWNGRADE)
			e->st.downgrades_tx++;
		else if (type == DSM_MSG_REHOME_QUERY)
			e->st.rehome_queries++;
		else
			e->st.invalidations_tx++;
		eng_send(e, out, type, 0, DSM_ST_OK, n, tx_token(e, tx),
			 s->d.seg_id, tx->pgno, d->version, 0);
	}
}

/* ---- grants --------------------------------------------------------- */

/* Read grant: the home copy is valid (the page is not exclusive). */
static void grant_shared(struct dsm_engine *e, struct seg *s, uint64_t pgno,
			 const struct home_req *rq, struct dsm_actions *out)
{
	struct dir_entry *d = dir_of(s, pgno);
	uint16_t flags = d->written ? DSM_F_DATA : DSM_F_ZERO;

	d->sharers |= node_bit(rq->requester);
	d->state = DSM_DS_SHARED;
	d->owner = DSM_NODE_NONE;
	if (!d->written)
		e->st.zero_grants++;
	e->st.grants_tx++;
	eng_send(e, out, DSM_MSG_PAGE_GRANT, flags, DSM_ST_OK, rq->requester,
		 rq->token, s->d.seg_id, pgno, d->version,
		 d->written ? s->d.page_size : 0);
}

/* Exclusive grant: every other holder is gone.  No data when the requester
 * is a listed sharer holding the current version (its copy is the home
 * copy); zeros when the home backing never received data. */
static void grant_excl(struct dsm_engine *e, struct seg *s, uint64_t pgno,
		       const struct home_req *rq, struct dsm_actions *out)
{
	struct dir_entry *d = dir_of(s, pgno);
	bool nodata = rq->have_copy && rq->have_version == d->version &&
		      (d->sharers & node_bit(rq->requester));
	uint16_t flags = DSM_F_EXCLUSIVE;
	uint32_t len = 0;

	if (nodata) {
		e->st.nodata_grants++;
	} else if (d->written) {
		flags |= DSM_F_DATA;
		len = s->d.page_size;
	} else {
		flags |= DSM_F_ZERO;
		e->st.zero_grants++;
	}
	d->version++;
	d->state = DSM_DS_EXCLUSIVE;
	d->owner = rq->requester;
	d->sharers = 0;
	d->dg_unsure = false;
	e->st.grants_tx++;
	eng_send(e, out, DSM_MSG_PAGE_GRANT, flags, DSM_ST_OK, rq->requester,
		 rq->token, s->d.seg_id, pgno, d->version, len);
}

/* Serve a request on a page that is not exclusive: grant now, or start
 * (or continue tx with) an INVALIDATE round.  Frees tx once granted. */
static void serve(struct dsm_engine *e, uint64_t now, struct seg *s,
		  uint64_t pgno, struct home_tx *tx, const struct home_req *rq,
		  struct dsm_actions *out)
{
	struct dir_entry *d = dir_of(s, pgno);
	dsm_nodeset_t others = d->sharers & ~node_bit(rq->requester);

	if (!rq->write || others == 0) {
		if (rq->write)
			grant_excl(e, s, pgno, rq, out);
		else
			grant_shared(e, s, pgno, rq, out);
		if (tx != NULL)
			tx_release(e, tx);
		return;
	}
	if (tx == NULL)
		tx = tx_alloc(e, s, pgno, rq);
	if (tx == NULL) {
		/* No transaction slot: the requester backs off and retries
		 * with the same token, which must not look like a duplicate. */
		d->last_req = DSM_NODE_NONE;
		e->st.nacks_tx++;
		eng_send(e, out, DSM_MSG_NACK, 0, DSM_ST_BUSY, rq->requester,
			 rq->token, s->d.seg_id, pgno, 0, 0);
		return;
	}
	tx_phase(e, now, tx, TX_INVALIDATE, others, out);
}

/* ---- PAGE_REQ ------------------------------------------------------- */

static bool req_permitted(const struct seg *s, bool write)
{
	return (s->d.prot & (write ? DSM_PROT_WRITE : DSM_PROT_READ)) != 0;
}

/* The page is exclusive at d->owner: get it back first.  A DOWNGRADE
 * (owner keeps a shared copy, returns data if it has any) for reads, for
 * an owner asking again (it dropped a late grant, or is a duplicate: the
 * DOWNGRADE tells us whether it really holds data) and after a DOWNGRADE
 * timed out (the owner may be Shared already; only a DOWNGRADE makes it
 * return that data).  A RECALL (INVALIDATE) for an ordinary write. */
static void nack_rq(struct dsm_engine *e, struct dsm_actions *out,
		    const struct seg *s, uint64_t pgno,
		    const struct home_req *rq, uint16_t status)
{
	e->st.nacks_tx++;
	eng_send(e, out, DSM_MSG_NACK, 0, status, rq->requester, rq->token,
		 s->d.seg_id, pgno, 0, 0);
}

static void fetch_from_owner(struct dsm_engine *e, uint64_t now, struct seg *s,
			     uint64_t pgno, const struct home_req *rq,
			     struct dsm_actions *out)
{
	struct dir_entry *d = dir_of(s, pgno);
	struct home_tx *tx = tx_alloc(e, s, pgno, rq);
	bool dg = !rq->write || d->owner == rq->requester || d->dg_unsure;

	if (tx == NULL) {
		d->last_req = DSM_NODE_NONE;   /* the retry is not a duplicate */
		nack_rq(e, out, s, pgno, rq, DSM_ST_BUSY);
		return;
	}
	tx_phase(e, now, tx, dg ? TX_DOWNGRADE : TX_RECALL, node_bit(d->owner), out);
}

/* A request the directory can act on (no transaction, not lost). */
static void serve_req(struct dsm_engine *e, uint64_t now, struct seg *s,
		      uint64_t pgno, const struct home_req *rq,
		      struct dsm_actions *out)
{
	if (dir_of(s, pgno)->state == DSM_DS_EXCLUSIVE)
		fetch_from_owner(e, now, s, pgno, rq, out);
	else
		serve(e, now, s, pgno, NULL, rq, out);
}

/* ---- re-homing ------------------------------------------------------ */

static void recover_finish(struct dsm_engine *e, uint64_t now,
			   struct home_tx *tx, struct dsm_actions *out);

int home_adopt(struct dsm_engine *e, struct seg *s)
{
	s->dir = calloc(s->d.npages, sizeof(*s->dir));
	if (s->dir == NULL)
		return -ENOMEM;
	for (uint64_t pg = 0; pg < s->d.npages; pg++)
		s->dir[pg].recovering = true;
	s->sweep_next = 0;
	s->sweeping = true;
	e->sweeping++;
	return 0;
}

void home_disown(struct dsm_engine *e, struct seg *s)
{
	uint32_t si = (uint32_t)(s - e->segs);

	/* Its transactions were with nodes that wrote us off. */
	for (uint32_t i = 0; i < e->cfg.max_pending; i++)
		if (e->txs[i].used && e->txs[i].seg == si)
			tx_release(e, &e->txs[i]);
	if (s->sweeping)
		e->sweeping--;
	s->sweeping = false;
	free(s->dir);
	s->dir = NULL;
}

/* Ask every other member what it holds of pgno; our own copy counts at
 * once.  rq is the request waiting for the answer (requester NONE for the
 * background sweep). */
static struct home_tx *recover_start(struct dsm_engine *e, uint64_t now,
				     struct seg *s, uint64_t pgno,
				     const struct home_req *rq,
				     struct dsm_actions *out)
{
	const struct cache_entry *ce = &s->cache[pgno];
	dsm_nodeset_t others = e->members & ~node_bit(e->cfg.self);
	struct home_tx *tx = tx_alloc(e, s, pgno, rq);

	if (tx == NULL)
		return NULL;
	tx->rh_owner = DSM_NODE_NONE;
	tx->rh_sharers = 0;
	tx->rh_version = ce->version;
	tx->rh_data = false;
	if (ce->state == DSM_CS_EXCLUSIVE) {
		tx->rh_owner = e->cfg.self;
	} else if (ce->state == DSM_CS_SHARED) {
		tx->rh_sharers = node_bit(e->cfg.self);
		tx->rh_data = true;          /* our backing is the home copy */
	}
	tx_phase(e, now, tx, TX_REHOME, others, out);
	if (tx->waiting == 0)
		recover_finish(e, now, tx, out);   /* nobody else to ask */
	return tx;
}

/* Every survivor answered (or is gone too): rebuild the entry, then serve
 * the request that was waiting for it. */
static void recover_finish(struct dsm_engine *e, uint64_t now,
			   struct home_tx *tx, struct dsm_actions *out)
{
	struct seg *s = &e->segs[tx->seg];
	uint64_t pgno = tx->pgno;
	struct dir_entry *d = dir_of(s, pgno);
	struct home_req rq = tx->rq;

	d->recovering = false;
	d->version = tx->rh_version;
	if (tx->rh_owner != DSM_NODE_NONE) {
		d->state = DSM_DS_EXCLUSIVE;
		d->owner = tx->rh_owner;
	} else if (tx->rh_sharers != 0) {
		d->state = DSM_DS_SHARED;
		d->sharers = tx->rh_sharers;
	} else {
		/* Nobody holds it: only the departed home knew whether it
		 * was ever written.  Never serve zeros for it. */
		d->lost = true;
	}
	d->written = !d->lost;
	if (d->lost)
		e->st.pages_lost++;
	else
		e->st.pages_recovered++;
	tx_release(e, tx);
	if (rq.requester == DSM_NODE_NONE)
		return;
	if (d->lost)
		nack_rq(e, out, s, pgno, &rq, DSM_ST_LOST);
	else
		serve_req(e, now, s, pgno, &rq, out);
}

/* One survivor's REHOME_REPORT (checked by ack_check, not yet counted). */
static void rehome_note(struct seg *s, struct home_tx *tx,
			const struct dsm_msg *m, struct dsm_actions *out)
{
	if (m->flags & DSM_F_EXCLUSIVE) {
		/* At most one owner holds a page; a second claim would be a
		 * broken invariant, and the first one is kept. */
		if (tx->rh_owner == DSM_NODE_NONE) {
			tx->rh_owner = m->src;
			tx->rh_version = m->version;
		}
	} else if (m->flags & DSM_F_DATA) {
		tx->rh_sharers |= node_bit(m->src);
		if (!tx->rh_data || m->version > tx->rh_version) {
			eng_page_act(out, DSM_ACT_INSTALL, s, m->pgno, m->payload, m->len);
			tx->rh_data = true;
		}
		if (m->version > tx->rh_version)
			tx->rh_version = m->version;
	}
}

/* Recover adopted pages nobody asked for yet, so that lost pages are known
 * (and listed) without waiting for an application to touch them.  Uses at
 * most half of the transaction slots, and looks at a bounded number of
 * pages per call, so faults keep being served meanwhile. */
#define SWEEP_SCAN 4096u
static void sweep(struct dsm_engine *e, uint64_t now, struct dsm_actions *out)
{
	static const struct home_req none = { .requester = DSM_NODE_NONE };
	uint32_t scanned = 0;

	for (uint32_t i = 0; i < e->nsegs && e->sweeping; i++) {
		struct seg *s = &e->segs[i];

		while (s->sweeping && scanned < SWEEP_SCAN &&
		       e->ntx_free > e->cfg.max_pending / 2) {
			uint64_t pg = s->sweep_next++;
			const struct dir_entry *d;

			if (s->sweep_next >= s->d.npages) {
				s->sweeping = false;
				e->sweeping--;
			}
			scanned++;
			if (dsm_engine_shard_of(s->d.seg_id, pg, e->cfg.nshards) != e->cfg.shard)
				continue;
			d = dir_of(s, pg);
			if (d->recovering && d->tx == 0)
				recover_start(e, now, s, pg, &none, out);
		}
	}
}

int home_page_req(struct dsm_engine *e, uint64_t now, struct seg *s,
		  const struct dsm_msg *m, struct dsm_actions *out)
{
	struct dir_entry *d = dir_of(s, m->pgno);
	struct home_tx *tx = tx_of(e, d);
	struct home_req rq = {
		.token = m->token,
		.have_version = m->version,
		.requester = m->src,
		.write = (m->flags & DSM_F_WRITE) != 0,
		.have_copy = (m->flags & DSM_F_HAVE_COPY) != 0,
	};

	if (!req_permitted(s, rq.write)) {
		eng_nack(e, out, m, DSM_ST_PERM);
		return 0;
	}
	if (tx != NULL) {
		if (tx->rq.requester == m->src && tx->rq.token == m->token) {
			e->st.drop_dup++;
			return -EALREADY;
		}
		eng_nack(e, out, m, DSM_ST_BUSY);
		return 0;
	}
	if (d->lost) {
		eng_nack(e, out, m, DSM_ST_LOST);
		return 0;
	}
	if (d->last_req == m->src && d->last_token == m->token) {
		e->st.drop_dup++;   /* already served; the grant is on its way */
		return -EALREADY;
	}
	d->last_req = m->src;
	d->last_token = m->token;
	if (!d->recovering) {
		serve_req(e, now, s, m->pgno, &rq, out);
	} else if (recover_start(e, now, s, m->pgno, &rq, out) == NULL) {
		d->last_req = DSM_NODE_NONE;   /* the retry is not a duplicate */
		eng_nack(e, out, m, DSM_ST_BUSY);
	}
	return 0;
}

/* ---- acks ----------------------------------------------------------- */

/* Classify an ack: 0 to apply, or the -errno it is dropped with. */
static int ack_check(struct dsm_engine *e, const struct dir_entry *d,
		     const struct home_tx *tx, const struct dsm_msg *m)
{
	uint8_t expect;
	dsm_nodeset_t bit = node_bit(m->src);

	if (tx == NULL || m->token != tx_token(e, tx)) {
		e->st.drop_stale++;
		return -ESTALE;
	}
	expect = tx->kind == TX_DOWNGRADE ? DSM_MSG_DOWNGRADE_ACK :
		 tx->kind == TX_REHOME ? DSM_MSG_REHOME_REPORT : DSM_MSG_INV_ACK;
	if (m->type != expect) {
		e->st.drop_stale++;
		return -ESTALE;
	}
	if (tx->acked & bit) {
		e->st.drop_dup++;
		return -EALREADY;
	}
	/* Data only from the recorded owner at the current version: a stale
	 * owner can never overwrite newer data. */
	if (!(tx->waiting & bit) ||
	    ((m->flags & DSM_F_DATA) && tx->kind != TX_REHOME &&
	     (d->state != DSM_DS_EXCLUSIVE || d->owner != m->src ||
	      m->version != d->version))) {
		e->st.drop_stale++;
		return -ESTALE;
	}
	return 0;
}

int home_ack(struct dsm_engine *e, uint64_t now, struct seg *s,
	     const struct dsm_msg *m, struct dsm_actions *out)
{
	struct dir_entry *d = dir_of(s, m->pgno);
	struct home_tx *tx = tx_of(e, d);
	dsm_nodeset_t bit = node_bit(m->src);
	int rc = ack_check(e, d, tx, m);

	if (rc != 0)
		return rc;
	tx->waiting &= ~bit;
	tx->acked |= bit;
	if (tx->kind == TX_REHOME) {
		rehome_note(s, tx, m, out);
		if (tx->waiting == 0)
			recover_finish(e, now, tx, out);
		return 0;
	}
	if (m->flags & DSM_F_DATA) {
		eng_page_act(out, DSM_ACT_INSTALL, s, m->pgno, m->payload, m->len);
		e->st.writebacks++;
		d->written = true;
	}
	switch (tx->kind) {
	case TX_DOWNGRADE:
		/* With data: the home copy is now current.  Without
		 * (NOTOWNER): the owner never installed its grant, so the
		 * home copy was current all along.  Either way it may keep a
		 * shared copy, so it stays listed. */
		d->state = DSM_DS_SHARED;
		d->owner = DSM_NODE_NONE;
		d->sharers = bit;
		d->dg_unsure = false;
		break;
	case TX_RECALL:
		d->state = DSM_DS_UNOWNED;
		d->owner = DSM_NODE_NONE;
		d->sharers = 0;
		break;
	default:
		d->sharers &= ~bit;
		if (tx->waiting != 0)
			return 0;
		d->state = d->sharers ? DSM_DS_SHARED : DSM_DS_UNOWNED;
		break;
	}
	serve(e, now, s, m->pgno, tx, &tx->rq, out);
	return 0;
}

/* ---- time and failures ---------------------------------------------- */

/* Give up on a transaction.  What the silent holder may have done decides
 * what the directory keeps:
 *  - INVALIDATE round: acked sharers are gone, silent ones stay listed
 *    (they may still hold their copy); the home copy is still valid.
 *  - RECALL: the owner stays owner.  If it did invalidate, it retains the
 *    data and returns it on the next recall.
 *  - DOWNGRADE: the owner stays owner but may be Shared now with the only
 *    copy of the data; dg_unsure makes the next recall a DOWNGRADE. */
static void tx_abort(struct dsm_engine *e, struct home_tx *tx,
		     struct dsm_actions *out)
{
	struct seg *s = &e->segs[tx->seg];
	struct dir_entry *d = dir_of(s, tx->pgno);

	if (tx->kind == TX_DOWNGRADE) {
		d->dg_unsure = true;
	} else if (tx->kind == TX_INVALIDATE) {
		d->state = d->sharers ? DSM_DS_SHARED : DSM_DS_UNOWNED;
	} else if (tx->kind == TX_REHOME) {
		/* Still recovering: the next request asks again, and the
		 * sweep comes round once more so the page is accounted. */
		s->sweep_next = 0;
		if (!s->sweeping)
			e->sweeping++;
		s->sweeping = true;
		e->st.home_timeouts++;
		if (tx->rq.requester != DSM_NODE_NONE)
			nack_rq(e, out, s, tx->pgno, &tx->rq, DSM_ST_TIMEDOUT);
		tx_release(e, tx);
		return;
	}
	e->st.home_timeouts++;
	e->st.nacks_tx++;
	eng_send(e, out, DSM_MSG_NACK, 0, DSM_ST_TIMEDOUT, tx->rq.requester,
		 tx->rq.token, s->d.seg_id, tx->pgno, 0, 0);
	tx_release(e, tx);
}

void home_tick(struct dsm_engine *e, uint64_t now, struct dsm_actions *out)
{
	uint32_t i;

	for (i = 0; i < e->cfg.max_pending; i++)
		if (e->txs[i].used && e->txs[i].deadline <= now)
			tx_abort(e, &e->txs[i], out);
	if (e->sweeping)
		sweep(e, now, out);
}

/* The owner is gone with the only valid copy: never serve an older one. */
static void page_lost(struct dsm_engine *e, struct seg *s, uint64_t pgno,
		      struct dsm_actions *out)
{
	struct dir_entry *d = dir_of(s, pgno);
	struct home_tx *tx = tx_of(e, d);

	d->lost = true;
	d->state = DSM_DS_UNOWNED;
	d->owner = DSM_NODE_NONE;
	d->sharers = 0;
	e->st.pages_lost++;
	if (tx == NULL)
		return;
	e->st.nacks_tx++;
	eng_send(e, out, DSM_MSG_NACK, 0, DSM_ST_LOST, tx->rq.requester,
		 tx->rq.token, s->d.seg_id, pgno, 0, 0);
	tx_release(e, tx);
}

/* A gone sharer holds nothing: forget it, and let an invalidation round
 * that only waited for it proceed. */
static void sharer_gone(struct dsm_engine *e, uint64_t now, struct seg *s,
			uint64_t pgno, uint16_t node, struct dsm_actions *out)
{
	struct dir_entry *d = dir_of(s, pgno);
	struct home_tx *tx = tx_of(e, d);
	dsm_nodeset_t bit = node_bit(node);

	d->sharers &= ~bit;
	e->st.sharers_dropped++;
	if (tx == NULL) {
		if (d->state == DSM_DS_SHARED && !d->sharers)
			d->state = DSM_DS_UNOWNED;
		return;
	}
	if (tx->kind != TX_INVALIDATE || !(tx->waiting & bit))
		return;
	tx->waiting &= ~bit;
	if (tx->waiting)
		return;
	d->state = d->sharers ? DSM_DS_SHARED : DSM_DS_UNOWNED;
	serve(e, now, s, pgno, tx, &tx->rq, out);
}

void home_peer_down(struct dsm_engine *e, uint64_t now, uint16_t node,
		    struct dsm_actions *out)
{
	uint32_t i;

	for (i = 0; i < e->cfg.max_pending; i++) {
		struct home_tx *tx = &e->txs[i];

		if (tx->used && tx->rq.requester == node) {
			tx_abort(e, tx, out);
		} else if (tx->used && tx->kind == TX_REHOME &&
			   (tx->waiting & node_bit(node))) {
			/* Gone too: it holds nothing any more. */
			tx->waiting &= ~node_bit(node);
			if (tx->waiting == 0)
				recover_finish(e, now, tx, out);
		}
	}
	for (i = 0; i < e->nsegs; i++) {
		struct seg *s = &e->segs[i];

		if (s->dir == NULL)
			continue;
		for (uint64_t pg = 0; pg < s->d.npages; pg++) {
			const struct dir_entry *d = dir_of(s, pg);

			if (dsm_engine_shard_of(s->d.seg_id, pg, e->cfg.nshards) != e->cfg.shard)
				continue;
			/* A restarted node reuses tokens: its old requests
			 * must not make its new ones look like duplicates. */
			if (d->last_req == node)
				s->dir[pg].last_req = DSM_NODE_NONE;
			if (d->state == DSM_DS_EXCLUSIVE && d->owner == node)
				page_lost(e, s, pg, out);
			else if (d->sharers & node_bit(node))
				sharer_gone(e, now, s, pg, node, out);
		}
	}
}

uint64_t home_next_deadline(const struct dsm_engine *e)
{
	uint64_t best = UINT64_MAX;
	uint32_t i;

	/* The sweep runs from tick whenever it has slots to spare. */
	if (e->sweeping && e->ntx_free > e->cfg.max_pending / 2)
		return 0;
	for (i = 0; i < e->cfg.max_pending; i++)
		if (e->txs[i].used && e->txs[i].deadline < best)
			best = e->txs[i].deadline;
	return best;
}
