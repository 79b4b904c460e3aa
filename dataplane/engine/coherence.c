/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Coherence engine: lifecycle, segment table, input validation and dispatch,
 * time, telemetry.  The protocol itself lives in requester.c (cache side)
 * and directory.c (home side); see coherence.h for the overview.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"

void dsm_engine_cfg_default(struct dsm_engine_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->self = 1;
	cfg->shard = 0;
	cfg->nshards = 1;
	cfg->epoch = 1;
	cfg->max_pending = 256;
	cfg->max_waiters = 1024;
	/* The home gives up before the requester does, so a stuck home
	 * transaction is reported as a NACK TIMEDOUT rather than a silent
	 * local timeout. */
	cfg->req_timeout_ns = 200ull * 1000 * 1000;
	cfg->home_timeout_ns = 100ull * 1000 * 1000;
	cfg->retry_base_ns = 10ull * 1000;
	cfg->max_retries = 16;
	cfg->retry_max_ns = 0;   /* no cap unless configured */
}

static bool cfg_valid(const struct dsm_engine_cfg *c)
{
	return c->self != DSM_NODE_NONE && c->self < DSM_MAX_NODES &&
	       c->nshards >= 1 && c->shard < c->nshards &&
	       c->max_pending >= 1 && c->max_pending < (UINT32_MAX >> 1) &&
	       c->max_waiters >= 1 && c->max_waiters < (UINT32_MAX >> 1) &&
	       (uint64_t)c->max_waiters + 2ull * c->max_pending + DSM_ENGINE_MAX_SEGS <=
		       DSM_ACTIONS_MAX &&
	       c->req_timeout_ns > 0 && c->home_timeout_ns > 0;
}

struct dsm_engine *dsm_engine_create(const struct dsm_engine_cfg *cfg)
{
	struct dsm_engine *e;
	uint32_t i;

	if (cfg == NULL || !cfg_valid(cfg))
		return NULL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->cfg = *cfg;
	/* Until a view says otherwise every node is a member, admitted at
	 * the configured epoch (a static cluster never calls set_view). */
	e->members = ~(dsm_nodeset_t)0;
	for (i = 0; i < DSM_MAX_NODES; i++)
		e->admit[i] = cfg->epoch;
	e->slots = calloc(cfg->max_pending, sizeof(*e->slots));
	e->slot_free = calloc(cfg->max_pending, sizeof(*e->slot_free));
	e->txs = calloc(cfg->max_pending, sizeof(*e->txs));
	e->tx_free = calloc(cfg->max_pending, sizeof(*e->tx_free));
	e->waiters = calloc(cfg->max_waiters, sizeof(*e->waiters));
	if (!e->slots || !e->slot_free || !e->txs || !e->tx_free || !e->waiters) {
		dsm_engine_destroy(e);
		return NULL;
	}
	/* Free stacks hand out low indices first (nicer traces). */
	for (i = 0; i < cfg->max_pending; i++) {
		e->slot_free[i] = cfg->max_pending - 1 - i;
		e->tx_free[i] = cfg->max_pending - 1 - i;
	}
	e->nslot_free = cfg->max_pending;
	e->ntx_free = cfg->max_pending;
	for (i = 0; i < cfg->max_waiters; i++)
		e->waiters[i].next = i + 1 < cfg->max_waiters ? i + 1 : DSM_NIL;
	e->waiter_free = 0;
	return e;
}

void dsm_engine_destroy(struct dsm_engine *e)
{
	uint32_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->nsegs; i++) {
		free(e->segs[i].dir);
		free(e->segs[i].cache);
	}
	free(e->slots);
	free(e->slot_free);
	free(e->txs);
	free(e->tx_free);
	free(e->waiters);
	free(e);
}

struct seg *eng_seg(struct dsm_engine *e, uint32_t seg_id, uint32_t *idx)
{
	uint32_t i;

	/* Linear: a handful of segments, and the table is cache-resident. */
	for (i = 0; i < e->nsegs; i++) {
		if (e->segs[i].d.seg_id == seg_id) {
			if (idx != NULL)
				*idx = i;
			return &e->segs[i];
		}
	}
	return NULL;
}

static bool seg_desc_valid(const struct dsm_segment_desc *d)
{
	return d->seg_id != DSM_SEG_ALL && d->home != DSM_NODE_NONE &&
	       d->home < DSM_MAX_NODES && d->page_size != 0 &&
	       d->npages != 0 &&
	       (d->prot & ~(DSM_PROT_READ | DSM_PROT_WRITE)) == 0 &&
	       d->npages <= SIZE_MAX / sizeof(struct dir_entry);
}

int dsm_engine_add_segment(struct dsm_engine *e, const struct dsm_segment_desc *d)
{
	struct seg *s;

	if (e == NULL || d == NULL || !seg_desc_valid(d))
		return -EINVAL;
	if (eng_seg(e, d->seg_id, NULL) != NULL)
		return -EEXIST;
	if (e->nsegs >= DSM_ENGINE_MAX_SEGS)
		return -ENOSPC;
	s = &e->segs[e->nsegs];
	memset(s, 0, sizeof(*s));
	s->d = *d;
	/* Arrays cover the whole segment although a shard only touches its
	 * own pages: indexing by pgno keeps lookups branch-free. */
	s->cache = calloc(d->npages, sizeof(*s->cache));
	if (s->cache == NULL)
		return -ENOMEM;
	if (d->home == e->cfg.self) {
		s->dir = calloc(d->npages, sizeof(*s->dir));
		if (s->dir == NULL) {
			free(s->cache);
			s->cache = NULL;
			return -ENOMEM;
		}
	}
	e->nsegs++;
	return 0;
}

uint32_t dsm_engine_shard_of(uint32_t seg_id, uint64_t pgno, uint32_t nshards)
{
	/* splitmix64 finaliser over (seg, pgno / 8): eight neighbouring pages
	 * share a shard, so a huge-page-ish sweep stays on one lcore. */
	uint64_t x = ((uint64_t)seg_id << 40) ^ (pgno >> 3);

	if (nshards <= 1)
		return 0;
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (uint32_t)(x % nshards);
}

void dsm_engine_set_epoch(struct dsm_engine *e, uint64_t epoch)
{
	e->cfg.epoch = epoch;
}

/* peer_down every node of set but self. */
static void write_off(struct dsm_engine *e, uint64_t now, dsm_nodeset_t set,
		      struct dsm_actions *out)
{
	for (uint16_t node = 1; node < DSM_MAX_NODES; node++)
		if (node != e->cfg.self && ((set >> node) & 1))
			dsm_engine_peer_down(e, now, node, out);
}

uint16_t dsm_engine_heir(dsm_nodeset_t prev, dsm_nodeset_t members,
			 dsm_nodeset_t departed, uint16_t self, dsm_nodeset_t *moved)
{
	dsm_nodeset_t me = node_bit(self);
	dsm_nodeset_t heirs;

	/* Members of the previous view missing from this one, restarted
	 * nodes, and ourselves if this view writes us off. */
	*moved = ((prev & ~members) | departed | (~members & me)) & ~(dsm_nodeset_t)1;
	heirs = members & ~departed & ~*moved & ~(dsm_nodeset_t)1;
	return heirs ? (uint16_t)__builtin_ctzll(heirs) : DSM_NODE_NONE;
}

/* Segments whose home departed (moved) go to the heir, the lowest-id
 * survivor: the same choice on every survivor, since they apply the same
 * view.  A survivor keeps its copies (they are what the heir recovers
 * from) and re-sends its requests there.  A node the view wrote off (left
 * out, or back as a new incarnation) gives its own segments up to the same
 * heir, and its copies of every moved segment with them. */
static void rehome(struct dsm_engine *e, uint64_t now, dsm_nodeset_t moved,
		   uint16_t heir, struct dsm_actions *out)
{
	bool self_gone = (moved >> e->cfg.self) & 1;

	if (heir == DSM_NODE_NONE)
		return;
	for (uint32_t i = 0; i < e->nsegs; i++) {
		struct seg *s = &e->segs[i];

		if (!((moved >> s->d.home) & 1))
			continue;
		if (s->d.home == e->cfg.self)
			home_disown(e, s);
		if (self_gone)
			req_disown(e, s, heir, out);
		else if (heir == e->cfg.self && home_adopt(e, s) != 0)
			continue;   /* no memory: stays with the departed home */
		else
			req_rehome(e, now, s, heir, out);
		e->st.rehomed_segs++;
	}
}

int dsm_engine_set_view(struct dsm_engine *e, uint64_t now, uint64_t epoch,
			dsm_nodeset_t members, dsm_nodeset_t departed,
			struct dsm_actions *out)
{
	dsm_nodeset_t gone, joined, moved;
	uint16_t heir;
	bool was_fenced;

	if (e == NULL || out == NULL)
		return -EINVAL;
	if (epoch <= e->cfg.epoch)
		return -ESTALE;
	members &= ~(dsm_nodeset_t)1;          /* node 0 does not exist */
	gone = (e->members & ~members) | (departed & e->members);
	joined = (members & ~e->members) | (departed & members);
	/* Before the first view nobody can have left: a home that has not
	 * joined yet keeps its segments. */
	heir = dsm_engine_heir(e->viewed ? e->members : 0, members, departed,
			       e->cfg.self, &moved);
	e->viewed = true;
	was_fenced = e->fenced;
	e->fenced = !((members >> e->cfg.self) & 1);
	/* A view without us: everyone has written us off, so we write
	 * everyone off (drop every cached copy) - unless fence() did. */
	if (e->fenced && !was_fenced)
		gone = e->members;
	e->cfg.epoch = epoch;
	e->members = members;
	/* Admit first: peer_down below must not see the old incarnation's
	 * messages as current. */
	for (uint16_t node = 1; node < DSM_MAX_NODES; node++)
		if (node != e->cfg.self && ((joined >> node) & 1))
			e->admit[node] = epoch;
	/* Before write_off, which would drop a survivor's copies of the
	 * departed homes' pages. */
	rehome(e, now, moved, heir, out);
	write_off(e, now, gone, out);
	return 0;
}

void dsm_engine_fence(struct dsm_engine *e, uint64_t now, struct dsm_actions *out)
{
	if (e == NULL || out == NULL || e->fenced)
		return;
	e->fenced = true;
	write_off(e, now, e->members, out);
}

bool dsm_engine_is_member(const struct dsm_engine *e, uint16_t node)
{
	return !e->fenced && eng_member(e, node);
}

uint64_t dsm_engine_epoch(const struct dsm_engine *e)
{
	return e->cfg.epoch;
}

/* ---- action emission ------------------------------------------------ */

struct dsm_action *eng_push(struct dsm_actions *out)
{
	struct dsm_action *a;

	if (out->n >= DSM_ACTIONS_MAX) {
		out->overflow++;
		return NULL;
	}
	a = &out->a[out->n++];
	memset(a, 0, sizeof(*a));
	return a;
}

void eng_send(struct dsm_engine *e, struct dsm_actions *out, uint8_t type,
	      uint16_t flags, uint16_t status, uint16_t dst, uint64_t token,
	      uint32_t seg_id, uint64_t pgno, uint64_t version, uint32_t len)
{
	struct dsm_action *a = eng_push(out);

	if (a == NULL)
		return;
	a->kind = DSM_ACT_SEND;
	a->msg.type = type;
	a->msg.flags = flags;
	a->msg.status = status;
	a->msg.src = e->cfg.self;
	a->msg.dst = dst;
	a->msg.epoch = e->cfg.epoch;
	a->msg.token = token;
	a->msg.seg_id = seg_id;
	a->msg.pgno = pgno;
	a->msg.version = version;
	a->msg.len = len;
}

void eng_nack(struct dsm_engine *e, struct dsm_actions *out,
	      const struct dsm_msg *req, uint16_t status)
{
	e->st.nacks_tx++;
	eng_send(e, out, DSM_MSG_NACK, 0, status, req->src, req->token,
		 req->seg_id, req->pgno, 0, 0);
}

void eng_page_act(struct dsm_actions *out, enum dsm_action_kind kind,
		  const struct seg *s, uint64_t pgno, const void *payload,
		  uint32_t len)
{
	struct dsm_action *a = eng_push(out);

	if (a == NULL)
		return;
	a->kind = kind;
	a->msg.seg_id = s->d.seg_id;
	a->msg.pgno = pgno;
	a->msg.payload = payload;
	a->msg.len = len;
}

/* ---- receive path --------------------------------------------------- */

/* Flags each type may carry (mirrors the wire codec's rules). */
static uint16_t allowed_flags(uint8_t type)
{
	switch (type) {
	case DSM_MSG_PAGE_REQ:      return DSM_F_WRITE | DSM_F_HAVE_COPY;
	case DSM_MSG_PAGE_GRANT:    return DSM_F_DATA | DSM_F_ZERO | DSM_F_EXCLUSIVE;
	case DSM_MSG_INV_ACK:       return DSM_F_DATA;
	case DSM_MSG_DOWNGRADE_ACK: return DSM_F_DATA;
	case DSM_MSG_REHOME_REPORT: return DSM_F_DATA | DSM_F_EXCLUSIVE;
	default:                    return 0;
	}
}

/* Channel flags are the channel's business; the engine ignores them. */
#define DSM_F_CHANNEL (DSM_F_SEQ | DSM_F_RETX)

static bool status_valid(const struct dsm_msg *m)
{
	switch (m->type) {
	case DSM_MSG_NACK:
		return m->status != DSM_ST_OK && m->status <= DSM_ST_MAX;
	case DSM_MSG_DOWNGRADE_ACK:
		/* NOTOWNER says "no data": it cannot come with data. */
		return m->status == DSM_ST_OK ||
		       (m->status == DSM_ST_NOTOWNER && !(m->flags & DSM_F_DATA));
	case DSM_MSG_REHOME_REPORT:
		/* NOSEG: the reporter never knew the segment, so holds nothing;
		 * an owner's data stays with it. */
		if (m->status == DSM_ST_NOSEG)
			return (m->flags & (DSM_F_DATA | DSM_F_EXCLUSIVE)) == 0;
		return m->status == DSM_ST_OK &&
		       (m->flags & (DSM_F_DATA | DSM_F_EXCLUSIVE)) !=
			       (DSM_F_DATA | DSM_F_EXCLUSIVE);
	default:
		return m->status == DSM_ST_OK;
	}
}

/* Shape checks that need no segment: type, addressing, flags, status. */
static bool msg_shape_ok(const struct dsm_engine *e, const struct dsm_msg *m)
{
	uint16_t f = m->flags & (uint16_t)~DSM_F_CHANNEL;

	if (m->type < DSM_MSG_PAGE_REQ || m->type > DSM_MSG_TYPE_MAX ||
	    m->type == DSM_MSG_VMA_REQ || m->type == DSM_MSG_VMA_RESP ||
	    m->type == DSM_MSG_CHAN_ACK)
		return false;
	if (m->dst != e->cfg.self || m->src == DSM_NODE_NONE ||
	    m->src >= DSM_MAX_NODES)
		return false;
	if (f & ~allowed_flags(m->type))
		return false;
	if ((f & DSM_F_DATA) && (f & DSM_F_ZERO))
		return false;
	if ((f & DSM_F_DATA) ? m->payload == NULL : m->len != 0)
		return false;
	return status_valid(m);
}

static int drop(uint64_t *counter, int err)
{
	(*counter)++;
	return err;
}

/* Per-segment checks; a PAGE_REQ is answered with a NACK, anything else
 * is dropped.  Returns 1 when the message may be dispatched. */
static int msg_seg_check(struct dsm_engine *e, const struct dsm_msg *m,
			 struct seg *s, struct dsm_actions *out)
{
	bool req = m->type == DSM_MSG_PAGE_REQ;

	if (s == NULL) {
		if (m->type == DSM_MSG_REHOME_QUERY) {
			/* Never knew it, so holds nothing of it. */
			eng_send(e, out, DSM_MSG_REHOME_REPORT, 0, DSM_ST_NOSEG,
				 m->src, m->token, m->seg_id, m->pgno, 0, 0);
			return 0;
		}
		if (!req)
			return drop(&e->st.drop_noseg, -ENOENT);
		eng_nack(e, out, m, DSM_ST_NOSEG);
		return 0;
	}
	if ((m->flags & DSM_F_DATA) && m->len != s->d.page_size)
		return drop(&e->st.drop_bad, -EINVAL);
	if (m->pgno >= s->d.npages) {
		if (!req)
			return drop(&e->st.drop_range, -ERANGE);
		eng_nack(e, out, m, DSM_ST_RANGE);
		return 0;
	}
	if (dsm_engine_shard_of(m->seg_id, m->pgno, e->cfg.nshards) != e->cfg.shard)
		return drop(&e->st.drop_bad, -EXDEV);
	return 1;
}

static int dispatch(struct dsm_engine *e, uint64_t now, struct seg *s,
		    const struct dsm_msg *m, struct dsm_actions *out)
{
	bool home = s->dir != NULL;

	switch (m->type) {
	case DSM_MSG_PAGE_REQ:
		if (!home) {
			eng_nack(e, out, m, DSM_ST_NOTHOME);
			return 0;
		}
		return home_page_req(e, now, s, m, out);
	case DSM_MSG_INV_ACK:
	case DSM_MSG_DOWNGRADE_ACK:
	case DSM_MSG_REHOME_REPORT:
		if (!home)
			return drop(&e->st.drop_bad, -EINVAL);
		return home_ack(e, now, s, m, out);
	case DSM_MSG_REHOME_QUERY:
		/* From whichever member adopted the page: the answer is
		 * read-only, and may come before we applied the view. */
		return req_rehome_query(e, s, m, out);
	case DSM_MSG_PAGE_GRANT:
		return req_grant(e, now, s, m, out);
	case DSM_MSG_NACK:
		return req_nack(e, now, s, m, out);
	case DSM_MSG_INVALIDATE:
	case DSM_MSG_DOWNGRADE:
		/* Only the page's home may take a copy away. */
		if (m->src != s->d.home)
			return drop(&e->st.drop_bad, -EINVAL);
		if (m->type == DSM_MSG_INVALIDATE)
			return req_invalidate(e, s, m, out);
		return req_downgrade(e, s, m, out);
	default:
		return drop(&e->st.drop_bad, -EINVAL);
	}
}

int dsm_engine_rx(struct dsm_engine *e, uint64_t now, const struct dsm_msg *m,
		  struct dsm_actions *out)
{
	struct seg *s;
	int rc;

	if (e == NULL || m == NULL || out == NULL)
		return -EINVAL;
	/* Fencing first: a node outside the view, or a message sent before
	 * its sender's current incarnation was admitted (by a node written
	 * off since), has no say at all.  A newer epoch is fine: the sender
	 * merely learned the next view first. */
	if (m->src != e->cfg.self &&
	    (e->fenced || !eng_member(e, m->src) || m->epoch < e->admit[m->src]))
		return drop(&e->st.drop_epoch, -ESTALE);
	if (!msg_shape_ok(e, m))
		return drop(&e->st.drop_bad, -EINVAL);
	s = eng_seg(e, m->seg_id, NULL);
	rc = msg_seg_check(e, m, s, out);
	if (rc <= 0)
		return rc;
	return dispatch(e, now, s, m, out);
}

/* ---- time ----------------------------------------------------------- */

void dsm_engine_tick(struct dsm_engine *e, uint64_t now, struct dsm_actions *out)
{
	if (e == NULL || out == NULL)
		return;
	req_tick(e, now, out);
	home_tick(e, now, out);
}

uint64_t dsm_engine_next_deadline(const struct dsm_engine *e)
{
	uint64_t a = req_next_deadline(e);
	uint64_t b = home_next_deadline(e);

	return a < b ? a : b;
}

void dsm_engine_peer_down(struct dsm_engine *e, uint64_t now, uint16_t node,
			  struct dsm_actions *out)
{
	if (e == NULL || out == NULL)
		return;
	req_peer_down(e, node, out);
	home_peer_down(e, now, node, out);
}

/* ---- telemetry ------------------------------------------------------ */

int dsm_engine_page_info(const struct dsm_engine *e, uint32_t seg_id,
			 uint64_t pgno, struct dsm_page_info *info)
{
	const struct seg *s = eng_seg((struct dsm_engine *)e, seg_id, NULL);
	const struct cache_entry *ce;

	if (s == NULL)
		return -ENOENT;
	if (pgno >= s->d.npages)
		return -ERANGE;
	memset(info, 0, sizeof(*info));
	ce = &s->cache[pgno];
	info->cache_state = ce->state;
	info->cache_version = ce->version;
	if (ce->pending != 0) {
		const struct pending *p = &e->slots[ce->pending - 1];
		uint32_t w;

		info->pending = true;
		for (w = p->head; w != DSM_NIL; w = e->waiters[w].next)
			info->waiters++;
	}
	if (s->dir != NULL) {
		const struct dir_entry *d = &s->dir[pgno];

		info->is_home = true;
		info->dir_state = d->state;
		info->owner = d->owner;
		info->sharers = d->sharers;
		info->version = d->version;
		info->written = d->written;
		info->busy = d->tx != 0;
		info->lost = d->lost;
		info->recovering = d->recovering;
		if (d->tx != 0)
			info->busy_requester = e->txs[d->tx - 1].rq.requester;
	}
	return 0;
}

const struct dsm_engine_stats *dsm_engine_stats(const struct dsm_engine *e)
{
	return &e->st;
}
