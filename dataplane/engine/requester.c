/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Coherence engine, cache side: local faults, leader transactions and their
 * followers, GRANT/NACK from the home, and INVALIDATE/DOWNGRADE sent by the
 * home to take a copy away.
 *
 * A page has at most one leader transaction (a slot of the pending table).
 * Its token is DSM_TOKEN(slot, gen); gen is bumped for every new
 * transaction, so a reply to an earlier use of the slot (a late GRANT after
 * a timeout) never matches.  BUSY retries reuse the token: they are the same
 * request, and the home's duplicate filter recognises them.
 */
#include <errno.h>

#include "engine/engine_internal.h"

static bool satisfies(uint8_t state, uint8_t intent)
{
	return state == DSM_CS_EXCLUSIVE ||
	       (state == DSM_CS_SHARED && intent == DSM_READ);
}

static uint32_t seg_index(const struct dsm_engine *e, const struct seg *s)
{
	return (uint32_t)(s - e->segs);
}

static struct cache_entry *slot_cache(struct dsm_engine *e,
				      const struct pending *p)
{
	return &e->segs[p->seg].cache[p->pgno];
}

static uint64_t slot_token(const struct dsm_engine *e, uint32_t idx)
{
	return DSM_TOKEN(idx, e->slots[idx].gen);
}

static void complete(struct dsm_engine *e, struct dsm_actions *out,
		     uint64_t user_data, int status, uint8_t state, bool remote)
{
	struct dsm_action *a;

	if (status == 0)
		e->st.completed++;
	else
		e->st.failed++;
	a = eng_push(out);
	if (a == NULL)
		return;
	a->kind = DSM_ACT_COMPLETE;
	a->user_data = user_data;
	a->status = status;
	a->state = state;
	a->remote = remote;
}

/* ---- waiter pool ---------------------------------------------------- */

static uint32_t waiter_alloc(struct dsm_engine *e, uint64_t user_data,
			     uint8_t intent)
{
	uint32_t w = e->waiter_free;

	if (w == DSM_NIL)
		return DSM_NIL;
	e->waiter_free = e->waiters[w].next;
	e->waiters[w].user_data = user_data;
	e->waiters[w].intent = intent;
	e->waiters[w].next = DSM_NIL;
	return w;
}

static void waiter_release(struct dsm_engine *e, uint32_t w)
{
	e->waiters[w].next = e->waiter_free;
	e->waiter_free = w;
}

static void waiter_append(struct dsm_engine *e, struct pending *p, uint32_t w)
{
	if (p->tail == DSM_NIL)
		p->head = w;
	else
		e->waiters[p->tail].next = w;
	p->tail = w;
}

/* ---- leader transactions -------------------------------------------- */

/* Flags are rebuilt from the cache state at every (re)send: a crossing
 * INVALIDATE may have taken our shared copy since the first attempt, and
 * claiming HAVE_COPY then would earn a grant without data. */
static void send_req(struct dsm_engine *e, uint32_t idx, struct dsm_actions *out)
{
	struct pending *p = &e->slots[idx];
	const struct cache_entry *ce = slot_cache(e, p);
	uint16_t flags = p->intent == DSM_WRITE ? DSM_F_WRITE : 0;
	uint64_t version = 0;

	if (ce->state == DSM_CS_SHARED) {
		flags |= DSM_F_HAVE_COPY;
		version = ce->version;
	}
	eng_send(e, out, DSM_MSG_PAGE_REQ, flags, DSM_ST_OK, p->home,
		 slot_token(e, idx), e->segs[p->seg].d.seg_id, p->pgno,
		 version, 0);
}

static void start_tx(struct dsm_engine *e, uint64_t now, uint32_t idx,
		     uint8_t intent, struct dsm_actions *out)
{
	struct pending *p = &e->slots[idx];

	p->gen++;
	p->intent = intent;
	p->retries = 0;
	p->retry_at = 0;
	p->deadline = now + e->cfg.req_timeout_ns;
	send_req(e, idx, out);
}

static void slot_release(struct dsm_engine *e, uint32_t idx)
{
	struct pending *p = &e->slots[idx];

	slot_cache(e, p)->pending = 0;
	p->used = false;
	p->head = p->tail = DSM_NIL;
	e->slot_free[e->nslot_free++] = idx;
}

/* Complete every waiter with status and free the slot. */
static void fail_all(struct dsm_engine *e, uint32_t idx, int status,
		     struct dsm_actions *out)
{
	struct pending *p = &e->slots[idx];
	uint8_t state = slot_cache(e, p)->state;
	uint32_t w = p->head;

	while (w != DSM_NIL) {
		uint32_t next = e->waiters[w].next;

		if (status == -ETIMEDOUT)
			e->st.timeouts++;
		complete(e, out, e->waiters[w].user_data, status, state, true);
		waiter_release(e, w);
		w = next;
	}
	slot_release(e, idx);
}

/* After a grant: complete every waiter the new state satisfies; a write
 * waiter left behind a shared grant starts the next transaction. */
static void settle(struct dsm_engine *e, uint64_t now, uint32_t idx,
		   struct dsm_actions *out)
{
	struct pending *p = &e->slots[idx];
	uint8_t state = slot_cache(e, p)->state;
	uint32_t w = p->head, prev = DSM_NIL;

	while (w != DSM_NIL) {
		struct waiter *wt = &e->waiters[w];
		uint32_t next = wt->next;

		if (satisfies(state, wt->intent)) {
			complete(e, out, wt->user_data, 0, state, true);
			if (prev == DSM_NIL)
				p->head = next;
			else
				e->waiters[prev].next = next;
			if (p->tail == w)
				p->tail = prev;
			waiter_release(e, w);
		} else {
			prev = w;
		}
		w = next;
	}
	if (p->head == DSM_NIL) {
		slot_release(e, idx);
		return;
	}
	e->st.local_misses++;
	start_tx(e, now, idx, e->waiters[p->head].intent, out);
}

static int local_check(struct dsm_engine *e, uint32_t seg_id, uint64_t pgno,
		       enum dsm_intent intent, struct seg **sp)
{
	struct seg *s;

	if (intent != DSM_READ && intent != DSM_WRITE)
		return -EINVAL;
	s = eng_seg(e, seg_id, NULL);
	if (s == NULL)
		return -ENOENT;
	if (pgno >= s->d.npages)
		return -ERANGE;
	if (dsm_engine_shard_of(seg_id, pgno, e->cfg.nshards) != e->cfg.shard) {
		e->st.drop_bad++;
		return -EXDEV;
	}
	if (!(s->d.prot & (intent == DSM_WRITE ? DSM_PROT_WRITE : DSM_PROT_READ)))
		return -EACCES;
	/* Its home left the view, or we were fenced: nobody can grant the
	 * page, so fail now, not at the deadline. */
	if (s->d.home != e->cfg.self && (e->fenced || !eng_member(e, s->d.home))) {
		e->st.home_gone++;
		return -EHOSTUNREACH;
	}
	*sp = s;
	return 0;
}

static int start_leader(struct dsm_engine *e, uint64_t now, struct seg *s,
			uint64_t pgno, uint8_t intent, uint64_t user_data,
			struct dsm_actions *out)
{
	struct pending *p;
	uint32_t idx, w;

	if (e->nslot_free == 0 || e->waiter_free == DSM_NIL) {
		e->st.no_slot++;
		return -ENOSPC;
	}
	idx = e->slot_free[--e->nslot_free];
	w = waiter_alloc(e, user_data, intent);
	p = &e->slots[idx];
	p->used = true;
	p->seg = seg_index(e, s);
	p->pgno = pgno;
	p->home = s->d.home;
	p->head = p->tail = DSM_NIL;
	waiter_append(e, p, w);
	s->cache[pgno].pending = idx + 1;
	e->st.local_misses++;
	start_tx(e, now, idx, intent, out);
	return 0;
}

int dsm_engine_local(struct dsm_engine *e, uint64_t now, uint32_t seg_id,
		     uint64_t pgno, enum dsm_intent intent, uint64_t user_data,
		     struct dsm_actions *out)
{
	struct cache_entry *ce;
	struct seg *s = NULL;
	uint32_t w;
	int rc;

	if (e == NULL || out == NULL)
		return -EINVAL;
	rc = local_check(e, seg_id, pgno, intent, &s);
	if (rc != 0)
		return rc;
	ce = &s->cache[pgno];
	if (satisfies(ce->state, (uint8_t)intent)) {
		e->st.local_hits++;
		complete(e, out, user_data, 0, ce->state, false);
		return 0;
	}
	if (ce->pending == 0)
		return start_leader(e, now, s, pgno, (uint8_t)intent, user_data, out);
	w = waiter_alloc(e, user_data, (uint8_t)intent);
	if (w == DSM_NIL) {
		e->st.no_slot++;
		return -ENOSPC;
	}
	waiter_append(e, &e->slots[ce->pending - 1], w);
	e->st.coalesced++;
	return 0;
}

/* ---- replies from the home ------------------------------------------ */

/* The leader slot a reply belongs to, or DSM_NIL (stale or foreign). */
static uint32_t slot_of_reply(const struct dsm_engine *e, const struct seg *s,
			      const struct dsm_msg *m)
{
	uint32_t idx = DSM_TOKEN_SLOT(m->token);
	const struct pending *p;

	if (idx >= e->cfg.max_pending)
		return DSM_NIL;
	p = &e->slots[idx];
	if (!p->used || p->gen != DSM_TOKEN_GEN(m->token) ||
	    p->seg != seg_index(e, s) || p->pgno != m->pgno || p->home != m->src)
		return DSM_NIL;
	return idx;
}

/* A grant without data upgrades the copy we hold: only valid when we are
 * Shared at exactly the version the home bumped from. */
static bool nodata_ok(const struct cache_entry *ce, const struct dsm_msg *m)
{
	return ce->state == DSM_CS_SHARED && ce->version + 1 == m->version;
}

int req_grant(struct dsm_engine *e, uint64_t now, struct seg *s,
	      const struct dsm_msg *m, struct dsm_actions *out)
{
	uint32_t idx = slot_of_reply(e, s, m);
	struct cache_entry *ce = &s->cache[m->pgno];
	bool excl = (m->flags & DSM_F_EXCLUSIVE) != 0;

	if (idx == DSM_NIL || m->version < ce->version) {
		e->st.drop_stale++;
		return -ESTALE;
	}
	if (!(m->flags & (DSM_F_DATA | DSM_F_ZERO))) {
		if (!excl) {
			e->st.drop_bad++;
			return -EINVAL;
		}
		if (!nodata_ok(ce, m)) {
			e->st.drop_stale++;
			return -ESTALE;
		}
	}
	if (m->flags & DSM_F_DATA)
		eng_page_act(out, DSM_ACT_INSTALL, s, m->pgno, m->payload, m->len);
	else if (m->flags & DSM_F_ZERO)
		eng_page_act(out, DSM_ACT_ZERO, s, m->pgno, NULL, 0);
	ce->state = excl ? DSM_CS_EXCLUSIVE : DSM_CS_SHARED;
	ce->version = m->version;
	ce->retained = false;
	e->st.grants_rx++;
	settle(e, now, idx, out);
	return 0;
}

static int status_errno(uint16_t status)
{
	switch (status) {
	case DSM_ST_BUSY:     return -EBUSY;
	case DSM_ST_NOSEG:    return -ENOENT;
	case DSM_ST_RANGE:    return -ERANGE;
	case DSM_ST_NOTHOME:  return -EREMOTE;
	case DSM_ST_PERM:     return -EACCES;
	case DSM_ST_TIMEDOUT: return -ETIMEDOUT;
	case DSM_ST_LOST:     return -EIO;
	default:              return -EPROTO;
	}
}

/* Exponential backoff, capped, with jitter in [delay/2, delay): requesters
 * NACKed together must not retry in lockstep.  The jitter is a hash of the
 * slot, generation and retry count, so the engine stays deterministic. */
static void backoff(struct dsm_engine *e, uint64_t now, struct pending *p)
{
	uint32_t shift = p->retries < DSM_RETRY_SHIFT_MAX ? p->retries
							  : DSM_RETRY_SHIFT_MAX;
	uint64_t delay = e->cfg.retry_base_ns << shift;
	uint64_t h = ((uint64_t)(p - e->slots) << 40 ^ (uint64_t)p->gen << 8 ^ p->retries) *
		     0x9e3779b97f4a7c15ull;
	uint64_t at;

	if (e->cfg.retry_max_ns && delay > e->cfg.retry_max_ns)
		delay = e->cfg.retry_max_ns;
	if (delay >= 2)
		delay = delay / 2 + (h >> 32) % (delay / 2);
	at = now + delay;

	p->retries++;
	/* 0 means "not backing off"; a zero base still waits for a tick. */
	p->retry_at = at != 0 ? at : 1;
}

int req_nack(struct dsm_engine *e, uint64_t now, struct seg *s,
	     const struct dsm_msg *m, struct dsm_actions *out)
{
	uint32_t idx = slot_of_reply(e, s, m);
	struct pending *p;

	if (idx == DSM_NIL) {
		e->st.drop_stale++;
		return -ESTALE;
	}
	p = &e->slots[idx];
	if (m->status == DSM_ST_BUSY && p->retry_at != 0) {
		e->st.drop_dup++;   /* already backing off for this attempt */
		return -EALREADY;
	}
	e->st.nacks_rx++;
	/* NOTHOME from a node still on an older view: it has yet to adopt
	 * the segment (re-homing), so ask again like after a BUSY. */
	if (m->status == DSM_ST_NOTHOME && m->epoch < e->cfg.epoch &&
	    p->retries < e->cfg.max_retries) {
		backoff(e, now, p);
		return 0;
	}
	if (m->status != DSM_ST_BUSY)
		fail_all(e, idx, status_errno(m->status), out);
	else if (p->retries >= e->cfg.max_retries)
		fail_all(e, idx, -EBUSY, out);
	else
		backoff(e, now, p);
	return 0;
}

/* ---- the home takes a copy away ------------------------------------- */

static void send_ack(struct dsm_engine *e, struct seg *s, const struct dsm_msg *m,
		     uint8_t type, bool data, uint16_t status, uint64_t version,
		     struct dsm_actions *out)
{
	eng_send(e, out, type, data ? DSM_F_DATA : 0, status, m->src, m->token,
		 s->d.seg_id, m->pgno, version, data ? s->d.page_size : 0);
}

/* We gave up ownership of m->version earlier and still hold its data. */
static bool retained_at(const struct cache_entry *ce, const struct dsm_msg *m)
{
	return ce->retained && ce->version == m->version;
}

/* A pending local leader is left alone: its PAGE_REQ is answered later,
 * and send_req no longer claims a copy we do not have. */
int req_invalidate(struct dsm_engine *e, struct seg *s,
		   const struct dsm_msg *m, struct dsm_actions *out)
{
	struct cache_entry *ce = &s->cache[m->pgno];
	bool data = false;

	switch (ce->state) {
	case DSM_CS_EXCLUSIVE:
		/* An owner is only ever recalled at the version it owns;
		 * anything else is an old duplicate that must not take away
		 * (and discard) newer data. */
		if (m->version != ce->version) {
			e->st.drop_stale++;
			return -ESTALE;
		}
		eng_page_act(out, DSM_ACT_UNMAP, s, m->pgno, NULL, 0);
		ce->state = DSM_CS_INVALID;
		ce->retained = true;
		data = true;
		break;
	case DSM_CS_SHARED:
		eng_page_act(out, DSM_ACT_UNMAP, s, m->pgno, NULL, 0);
		ce->state = DSM_CS_INVALID;
		ce->retained = false;
		break;
	default:
		/* Already gone: repeat the data if we were the owner at this
		 * version (the home may have lost our first answer). */
		data = retained_at(ce, m);
		break;
	}
	e->st.invalidations_rx++;
	send_ack(e, s, m, DSM_MSG_INV_ACK, data, DSM_ST_OK, ce->version, out);
	return 0;
}

int req_downgrade(struct dsm_engine *e, struct seg *s,
		  const struct dsm_msg *m, struct dsm_actions *out)
{
	struct cache_entry *ce = &s->cache[m->pgno];

	if (ce->state == DSM_CS_EXCLUSIVE) {
		if (m->version != ce->version) {
			e->st.drop_stale++;
			return -ESTALE;
		}
		eng_page_act(out, DSM_ACT_PROTECT, s, m->pgno, NULL, 0);
		ce->state = DSM_CS_SHARED;
		ce->retained = true;
	}
	e->st.downgrades_rx++;
	if (ce->retained && ce->version == m->version)
		send_ack(e, s, m, DSM_MSG_DOWNGRADE_ACK, true, DSM_ST_OK,
			 ce->version, out);
	else
		send_ack(e, s, m, DSM_MSG_DOWNGRADE_ACK, false, DSM_ST_NOTOWNER,
			 ce->version, out);
	return 0;
}

/* ---- time and failures ---------------------------------------------- */

void req_tick(struct dsm_engine *e, uint64_t now, struct dsm_actions *out)
{
	uint32_t i;

	for (i = 0; i < e->cfg.max_pending; i++) {
		struct pending *p = &e->slots[i];

		if (!p->used)
			continue;
		if (p->deadline <= now) {
			fail_all(e, i, -ETIMEDOUT, out);
		} else if (p->retry_at != 0 && p->retry_at <= now) {
			p->retry_at = 0;
			e->st.retries++;
			send_req(e, i, out);
		}
	}
}

/* The home reset its channel with us: it considers us gone, so our copies
 * of its pages are no longer tracked and must not be read or written. */
static void drop_copies_of(struct seg *s, struct dsm_actions *out)
{
	bool any = false;

	for (uint64_t pg = 0; pg < s->d.npages; pg++) {
		struct cache_entry *ce = &s->cache[pg];

		if (ce->state == DSM_CS_INVALID && !ce->retained)
			continue;
		ce->state = DSM_CS_INVALID;
		ce->retained = false;
		any = true;
	}
	if (any)
		eng_page_act(out, DSM_ACT_UNMAP_SEGMENT, s, 0, NULL, 0);
}

void req_peer_down(struct dsm_engine *e, uint16_t node, struct dsm_actions *out)
{
	uint32_t i;

	for (i = 0; i < e->cfg.max_pending; i++)
		if (e->slots[i].used && e->slots[i].home == node)
			fail_all(e, i, -EHOSTUNREACH, out);
	for (i = 0; i < e->nsegs; i++)
		if (e->segs[i].d.home == node && node != e->cfg.self)
			drop_copies_of(&e->segs[i], out);
}

/* ---- re-homing ------------------------------------------------------ */

static void drop_copies_of(struct seg *s, struct dsm_actions *out);

void req_rehome(struct dsm_engine *e, uint64_t now, struct seg *s,
		uint16_t new_home, struct dsm_actions *out)
{
	uint32_t si = seg_index(e, s);

	s->d.home = new_home;
	/* Ownership given up to the departed home cannot be claimed back
	 * from it any more. */
	for (uint64_t pg = 0; pg < s->d.npages; pg++)
		s->cache[pg].retained = false;
	/* Requests in flight to the departed home: the same requests, to
	 * the heir (a fresh generation: a late answer of the old home is
	 * stale, though its sender is no longer admitted anyway). */
	for (uint32_t i = 0; i < e->cfg.max_pending; i++) {
		struct pending *p = &e->slots[i];

		if (!p->used || p->seg != si)
			continue;
		p->home = new_home;
		start_tx(e, now, i, p->intent, out);
	}
}

void req_disown(struct dsm_engine *e, struct seg *s, uint16_t new_home,
		struct dsm_actions *out)
{
	uint32_t si = seg_index(e, s);

	for (uint32_t i = 0; i < e->cfg.max_pending; i++)
		if (e->slots[i].used && e->slots[i].seg == si)
			fail_all(e, i, -EHOSTUNREACH, out);
	drop_copies_of(s, out);
	s->d.home = new_home;
}

/* The heir asks what we hold: Exclusive - we are the owner (the data stays
 * here, the heir recalls it when needed); Shared - here is the copy;
 * otherwise nothing (a retained copy is not valid any more). */
int req_rehome_query(struct dsm_engine *e, struct seg *s,
		     const struct dsm_msg *m, struct dsm_actions *out)
{
	const struct cache_entry *ce = &s->cache[m->pgno];
	uint16_t flags = 0;
	uint32_t len = 0;

	if (ce->state == DSM_CS_EXCLUSIVE) {
		flags = DSM_F_EXCLUSIVE;
	} else if (ce->state == DSM_CS_SHARED) {
		flags = DSM_F_DATA;
		len = s->d.page_size;
	}
	e->st.rehome_reports++;
	eng_send(e, out, DSM_MSG_REHOME_REPORT, flags, DSM_ST_OK, m->src,
		 m->token, s->d.seg_id, m->pgno,
		 ce->state != DSM_CS_INVALID ? ce->version : 0, len);
	return 0;
}

uint64_t req_next_deadline(const struct dsm_engine *e)
{
	uint64_t best = UINT64_MAX;
	uint32_t i;

	for (i = 0; i < e->cfg.max_pending; i++) {
		const struct pending *p = &e->slots[i];

		if (!p->used)
			continue;
		if (p->deadline < best)
			best = p->deadline;
		if (p->retry_at != 0 && p->retry_at < best)
			best = p->retry_at;
	}
	return best;
}
