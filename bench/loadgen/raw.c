/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pktgen-style raw page reads: keep `depth` PAGE_REQ reads in flight to the
 * target node, bypassing the local cache so that every request is served by
 * the target's dataplane.  Each grant's payload is checked against the page
 * tag format; latency is measured from send to grant.  Raw tokens have bit
 * 31 of the slot set, so they never collide with the engine's own tokens.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "loadgen.h"

#define RAW_SLOT_BIT 0x80000000u
/* A raw request not answered within this is failed (and counted): the
 * load generator waits on nothing without a deadline either. */
#define RAW_TIMEOUT_NS (2ull * 1000000000ull)

struct raw_slot {
	uint64_t page;
	uint64_t t0;
	uint64_t deadline;
	uint32_t gen;
	bool busy;
	bool retry;           /* NACKed BUSY: send again */
};

struct raw_state {
	struct raw_slot *slots;
	uint8_t *scratch;
	uint64_t next_page;
	uint64_t zero_pages;
	uint64_t grants;
};

int lg_raw_start(struct lg_ctx *c)
{
	struct raw_state *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->slots = calloc(c->o.depth, sizeof(*s->slots));
	s->scratch = malloc(c->segs[0].d.page_size);
	if (!s->slots || !s->scratch)
		return -ENOMEM;
	if (!c->o.target)
		c->o.target = c->segs[0].d.home;
	c->state = s;
	return 0;
}

static int send_req(struct lg_ctx *c, uint32_t slot, uint64_t now)
{
	struct raw_state *s = c->state;
	struct raw_slot *sl = &s->slots[slot];
	struct dsm_msg m = {
		.type = DSM_MSG_PAGE_REQ, .dst = c->o.target,
		.token = DSM_TOKEN(RAW_SLOT_BIT | slot, sl->gen),
		.seg_id = c->segs[0].d.seg_id, .pgno = c->o.first_page + sl->page,
	};

	sl->t0 = now;
	sl->retry = false;
	if (!sl->deadline)
		sl->deadline = now + RAW_TIMEOUT_NS;
	return dsm_node_send(c->node, &m, NULL);
}

static bool run_finished(struct lg_ctx *c, uint64_t now)
{
	if (c->o.ops)
		return c->issued >= c->o.ops;
	return now >= c->start_ns + (uint64_t)(c->o.duration_s * 1e9);
}

int lg_raw_poll(struct lg_ctx *c, uint64_t now)
{
	struct raw_state *s = c->state;
	int work = 0;

	for (uint32_t i = 0; i < c->o.depth; i++) {
		struct raw_slot *sl = &s->slots[i];

		if (sl->busy && now > sl->deadline) {
			/* The generation moves on with the next request, so a
			 * late reply to this one is recognised and ignored. */
			sl->busy = false;
			c->inflight--;
			c->r.errors++;
			c->r.timeouts++;
			if (c->r.timeouts <= 10)
				fprintf(stderr, "dsm-loadgen: page %lu: raw read timed out\n",
					(unsigned long)(c->o.first_page + sl->page));
		}
		if (sl->busy && sl->retry) {
			send_req(c, i, now);
			work++;
		} else if (!sl->busy && !run_finished(c, now)) {
			sl->busy = true;
			sl->gen++;
			sl->deadline = 0;
			sl->page = s->next_page++ % c->o.npages;
			c->issued++;
			c->inflight++;
			if (send_req(c, i, now)) {
				sl->busy = false;
				c->inflight--;
				c->r.errors++;
			}
			work++;
		}
	}
	if (run_finished(c, now) && !c->inflight && !c->workload_done) {
		c->end_ns = now;
		c->workload_done = true;
	}
	return work;
}

static void on_grant(struct lg_ctx *c, const struct dsm_msg *m)
{
	struct raw_state *s = c->state;
	uint64_t counter;

	if (m->flags & DSM_F_ZERO) {
		s->zero_pages++;
		return;
	}
	/* Sampling keeps the generator from being the bottleneck; the length
	 * and flags of every grant are still checked. */
	if (++s->grants % c->o.check_every &&
	    (m->flags & DSM_F_DATA) && m->len == c->segs[0].d.page_size)
		return;
	if (!(m->flags & DSM_F_DATA) || m->len != c->segs[0].d.page_size ||
	    dsm_node_msg_copy(m, s->scratch, m->len) != m->len ||
	    lg_page_check(s->scratch, c->segs[0].d.page_size, &counter)) {
		c->r.check_failures++;
		if (c->r.check_failures < 10)
			fprintf(stderr, "dsm-loadgen: page %lu: bad grant payload (flags %#x len %u)\n",
				(unsigned long)m->pgno, m->flags, m->len);
	}
}

bool lg_raw_msg(struct lg_ctx *c, const struct dsm_msg *m, uint64_t now)
{
	struct raw_state *s = c->state;
	uint32_t slot = DSM_TOKEN_SLOT(m->token);
	struct raw_slot *sl;

	if ((m->type != DSM_MSG_PAGE_GRANT && m->type != DSM_MSG_NACK) || !(slot & RAW_SLOT_BIT))
		return false;
	slot &= ~RAW_SLOT_BIT;
	if (slot >= c->o.depth)
		return true;
	sl = &s->slots[slot];
	if (!sl->busy || sl->gen != DSM_TOKEN_GEN(m->token))
		return true; /* late duplicate */
	if (m->type == DSM_MSG_NACK) {
		if (m->status == DSM_ST_BUSY) {
			c->r.busy++;
			sl->retry = true;
			return true;
		}
		c->r.errors++;
		if (c->r.errors < 10)
			fprintf(stderr, "dsm-loadgen: page %lu: NACK status %u\n",
				(unsigned long)m->pgno, m->status);
	} else {
		on_grant(c, m);
		lg_hist_add(&c->r.lat, now - sl->t0);
		c->r.reads++;
		c->r.remote++;
	}
	c->r.ops++;
	sl->busy = false;
	c->inflight--;
	return true;
}
