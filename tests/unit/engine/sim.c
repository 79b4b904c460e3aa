/* SPDX-License-Identifier: BSD-3-Clause */
/* The multi-node simulator used by the coherence engine tests (see sim.h). */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static const struct dsm_segment_desc sim_segs[SIM_NSEGS] = {
	{ .seg_id = SEG_A, .home = 1, .prot = DSM_PROT_READ | DSM_PROT_WRITE,
	  .page_size = SIM_PS, .npages = SIM_NPAGES },
	{ .seg_id = SEG_B, .home = 2, .prot = DSM_PROT_READ | DSM_PROT_WRITE,
	  .page_size = SIM_PS, .npages = SIM_NPAGES },
	{ .seg_id = SEG_RO, .home = 1, .prot = DSM_PROT_READ,
	  .page_size = SIM_PS, .npages = SIM_NPAGES },
};

uint64_t sim_rand(struct sim *s)
{
	/* xorshift64*: deterministic per seed */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 0x2545f4914f6cdd1dull;
}

struct sim *sim_new(int n, const struct dsm_engine_cfg *base, uint64_t seed)
{
	struct sim *s = calloc(1, sizeof(*s));
	int i, j;

	if (s == NULL)
		return NULL;
	s->n = n;
	s->rng = seed ? seed : 1;
	s->now = 1000;
	for (i = 1; i <= n; i++) {
		struct dsm_engine_cfg cfg = *base;

		cfg.self = (uint16_t)i;
		s->nodes[i].e = dsm_engine_create(&cfg);
		if (s->nodes[i].e == NULL) {
			sim_free(s);
			return NULL;
		}
		for (j = 0; j < SIM_NSEGS; j++)
			if (dsm_engine_add_segment(s->nodes[i].e, &sim_segs[j]) != 0) {
				sim_free(s);
				return NULL;
			}
	}
	return s;
}

void sim_free(struct sim *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < SIM_MAX_NODES; i++)
		dsm_engine_destroy(s->nodes[i].e);
	free(s);
}

int sim_seg_index(uint32_t seg_id)
{
	int i;

	for (i = 0; i < SIM_NSEGS; i++)
		if (sim_segs[i].seg_id == seg_id)
			return i;
	return -1;
}

uint8_t *sim_page(struct sim *s, uint16_t node, uint32_t seg_id, uint64_t pgno)
{
	int si = sim_seg_index(seg_id);

	if (si < 0 || pgno >= SIM_NPAGES)
		return NULL;
	return s->nodes[node].page[si][pgno];
}

uint64_t sim_tag(struct sim *s, uint16_t node, uint32_t seg_id, uint64_t pgno)
{
	uint64_t t;

	memcpy(&t, sim_page(s, node, seg_id, pgno), sizeof(t));
	return t;
}

static void enqueue(struct sim *s, const struct dsm_msg *m, const uint8_t *page)
{
	struct sim_chan *c;
	struct sim_qmsg *q;

	if (m->src >= SIM_MAX_NODES || m->dst >= SIM_MAX_NODES) {
		s->qfull++;       /* addressed outside the cluster: lost */
		return;
	}
	c = &s->chan[m->src][m->dst];
	if (c->count == SIM_QCAP) {
		s->qfull++;
		return;
	}
	q = &c->q[(c->head + c->count++) % SIM_QCAP];
	q->m = *m;
	q->m.payload = NULL;
	if ((m->flags & DSM_F_DATA) && page != NULL && m->len <= SIM_PS)
		memcpy(q->data, page, m->len);
}

static void exec_send(struct sim *s, uint16_t node, const struct dsm_msg *m)
{
	const uint8_t *page = sim_page(s, node, m->seg_id, m->pgno);

	s->sends++;
	if (s->drop_pct && sim_rand(s) % 100 < s->drop_pct) {
		s->drops++;
		return;
	}
	enqueue(s, m, page);
	if (s->dup_pct && sim_rand(s) % 100 < s->dup_pct) {
		s->dups++;
		enqueue(s, m, page);
	}
}

static void exec_complete(struct sim *s, uint16_t node, const struct dsm_action *a)
{
	if (s->ncomp < SIM_MAX_COMP) {
		struct sim_comp *c = &s->comp[s->ncomp++];

		c->ud = a->user_data;
		c->status = a->status;
		c->state = a->state;
		c->remote = a->remote;
		c->node = node;
	}
	if (s->on_complete != NULL)
		s->on_complete(s, node, a);
}

void sim_exec(struct sim *s, uint16_t node, struct dsm_actions *out)
{
	struct sim_node *nd = &s->nodes[node];
	uint32_t i;

	s->overflow += out->overflow;
	for (i = 0; i < out->n; i++) {
		const struct dsm_action *a = &out->a[i];
		uint8_t *pg = sim_page(s, node, a->msg.seg_id, a->msg.pgno);

		switch (a->kind) {
		case DSM_ACT_SEND:
			exec_send(s, node, &a->msg);
			break;
		case DSM_ACT_INSTALL:
			nd->installs++;
			if (pg != NULL && a->msg.len <= SIM_PS)
				memmove(pg, a->msg.payload, a->msg.len);
			break;
		case DSM_ACT_ZERO:
			nd->zeros++;
			if (pg != NULL)
				memset(pg, 0, SIM_PS);
			break;
		case DSM_ACT_UNMAP:
		case DSM_ACT_UNMAP_SEGMENT:
			nd->unmaps++;
			break;
		case DSM_ACT_PROTECT:
			nd->protects++;
			break;
		case DSM_ACT_COMPLETE:
			exec_complete(s, node, a);
			break;
		}
	}
	dsm_actions_clear(out);
}

int sim_local(struct sim *s, uint16_t node, uint32_t seg, uint64_t pgno,
	      enum dsm_intent intent, uint64_t ud)
{
	int rc;

	dsm_actions_clear(&s->acts);
	rc = dsm_engine_local(s->nodes[node].e, s->now, seg, pgno, intent, ud,
			      &s->acts);
	sim_exec(s, node, &s->acts);
	return rc;
}

int sim_inject(struct sim *s, uint16_t node, const struct dsm_msg *m)
{
	int rc;

	dsm_actions_clear(&s->acts);
	rc = dsm_engine_rx(s->nodes[node].e, s->now, m, &s->acts);
	sim_exec(s, node, &s->acts);
	return rc;
}

void sim_tick(struct sim *s, uint64_t now)
{
	int i;

	s->now = now;
	for (i = 1; i <= s->n; i++) {
		dsm_actions_clear(&s->acts);
		dsm_engine_tick(s->nodes[i].e, now, &s->acts);
		sim_exec(s, (uint16_t)i, &s->acts);
	}
}

void sim_peer_down(struct sim *s, uint16_t node, uint16_t down)
{
	dsm_actions_clear(&s->acts);
	dsm_engine_peer_down(s->nodes[node].e, s->now, down, &s->acts);
	sim_exec(s, node, &s->acts);
}

uint32_t sim_queued(struct sim *s, uint16_t src, uint16_t dst)
{
	return s->chan[src][dst].count;
}

uint32_t sim_queued_total(struct sim *s)
{
	uint32_t t = 0;
	int i, j;

	for (i = 0; i < SIM_MAX_NODES; i++)
		for (j = 0; j < SIM_MAX_NODES; j++)
			t += s->chan[i][j].count;
	return t;
}

struct sim_qmsg *sim_peek(struct sim *s, uint16_t src, uint16_t dst)
{
	struct sim_chan *c = &s->chan[src][dst];

	return c->count ? &c->q[c->head] : NULL;
}

static void pop(struct sim_chan *c, struct sim_qmsg *out)
{
	*out = c->q[c->head];
	c->head = (c->head + 1) % SIM_QCAP;
	c->count--;
}

void sim_discard(struct sim *s, uint16_t src, uint16_t dst)
{
	struct sim_qmsg tmp;

	if (s->chan[src][dst].count)
		pop(&s->chan[src][dst], &tmp);
}

int sim_deliver(struct sim *s, uint16_t src, uint16_t dst)
{
	struct sim_qmsg cur;

	if (s->chan[src][dst].count == 0)
		return -1000;
	pop(&s->chan[src][dst], &cur);
	if (cur.m.flags & DSM_F_DATA)
		cur.m.payload = cur.data;
	return sim_inject(s, dst, &cur.m);
}

/* Deliver one message: the first non-empty channel in a fixed order, or a
 * random non-empty one. */
bool sim_step(struct sim *s, int *rc)
{
	uint32_t nonempty[SIM_MAX_NODES * SIM_MAX_NODES], k = 0, pick;
	int i, j;

	for (i = 0; i < SIM_MAX_NODES; i++)
		for (j = 0; j < SIM_MAX_NODES; j++)
			if (s->chan[i][j].count)
				nonempty[k++] = (uint32_t)(i * SIM_MAX_NODES + j);
	if (k == 0)
		return false;
	pick = s->random_order ? nonempty[sim_rand(s) % k] : nonempty[0];
	*rc = sim_deliver(s, (uint16_t)(pick / SIM_MAX_NODES),
			  (uint16_t)(pick % SIM_MAX_NODES));
	return true;
}

uint32_t sim_run(struct sim *s)
{
	uint32_t steps = 0;
	int rc;

	while (steps < 1000000 && sim_step(s, &rc))
		steps++;
	return steps;
}

const struct sim_comp *sim_comp_of(struct sim *s, uint64_t ud)
{
	uint32_t i;

	for (i = s->ncomp; i-- > 0;)
		if (s->comp[i].ud == ud)
			return &s->comp[i];
	return NULL;
}

uint32_t sim_ncomp_of(struct sim *s, uint64_t ud)
{
	uint32_t i, n = 0;

	for (i = 0; i < s->ncomp; i++)
		n += s->comp[i].ud == ud;
	return n;
}

struct dsm_page_info sim_info(struct sim *s, uint16_t node, uint32_t seg,
			      uint64_t pgno)
{
	struct dsm_page_info pi;

	memset(&pi, 0xee, sizeof(pi));
	if (dsm_engine_page_info(s->nodes[node].e, seg, pgno, &pi) != 0)
		memset(&pi, 0xee, sizeof(pi));
	return pi;
}

const struct dsm_engine_stats *sim_stats(struct sim *s, uint16_t node)
{
	return dsm_engine_stats(s->nodes[node].e);
}
