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
	uint8_t type = kind == TX_DOWNGRADE ? DSM_MSG_DOWNGRADE : DSM_MSG_INVALIDATE;
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
static int fetch_from_owner(struct dsm_engine *e, uint64_t now, struct seg *s,
			    const struct dsm_msg *m, const struct home_req *rq,
			    struct dsm_actions *out)
{
	struct dir_entry *d = dir_of(s, m->pgno);
	struct home_tx *tx = tx_alloc(e, s, m->pgno, rq);
	bool dg = !rq->write || d->owner == rq->requester || d->dg_unsure;

	if (tx == NULL) {
		d->last_req = DSM_NODE_NONE;   /* the retry is not a duplicate */
		eng_nack(e, out, m, DSM_ST_BUSY);
		return 0;
	}
	tx_phase(e, now, tx, dg ? TX_DOWNGRADE : TX_RECALL, node_bit(d->owner), out);
	return 0;
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
	if (d->state == DSM_DS_EXCLUSIVE)
		return fetch_from_owner(e, now, s, m, &rq, out);
	serve(e, now, s, m->pgno, NULL, &rq, out);
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
	expect = tx->kind == TX_DOWNGRADE ? DSM_MSG_DOWNGRADE_ACK : DSM_MSG_INV_ACK;
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
	    ((m->flags & DSM_F_DATA) &&
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

	if (tx->kind == TX_DOWNGRADE)
		d->dg_unsure = true;
	else if (tx->kind == TX_INVALIDATE)
		d->state = d->sharers ? DSM_DS_SHARED : DSM_DS_UNOWNED;
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

		if (tx->used && tx->rq.requester == node)
			tx_abort(e, tx, out);
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

	for (i = 0; i < e->cfg.max_pending; i++)
		if (e->txs[i].used && e->txs[i].deadline < best)
			best = e->txs[i].deadline;
	return best;
}
