/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The coherent read/write workload.  Each write (exclusive ownership held)
 * reads the page's counter, stores counter + 1 with this node's tag and a
 * fill derived from both; each read checks the fill and that the counter
 * never goes back (per page, as this node observed it).  With several
 * writers, the final counter of a page equals the number of writes to it
 * from all nodes exactly when no write was lost: --verify-sum checks the
 * sum over the range after the workload.
 *
 * Pages are numbered globally over the segments used (--segment all):
 * page g is page g % npages of segment g / npages.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

enum rw_phase { RW_RUN, RW_DRAIN, RW_VERIFY, RW_DONE };

#define RW_BURST 32   /* requests issued per poll at most */

struct rw_op {
	uint64_t page;
	uint64_t t0;
	bool write;
	bool busy;
	bool verify;
};

struct rw_state {
	enum rw_phase phase;
	struct rw_op *ops;
	uint64_t *last_seen;       /* per page: highest counter observed */
	uint64_t wseq;
	uint64_t verify_next, verify_done, verify_sum;
	uint32_t reported;
};

/* Print the first few failures; all of them are counted. */
__attribute__((format(printf, 3, 4)))
static void report(struct lg_ctx *c, uint64_t page, const char *fmt, ...)
{
	struct rw_state *s = c->state;
	va_list ap;

	if (s->reported++ >= 10)
		return;
	fprintf(stderr, "dsm-loadgen: page %lu: ", (unsigned long)page);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static uint64_t total_pages(const struct lg_ctx *c)
{
	return c->nsegs * c->o.npages;
}

static const struct lg_seg *seg_of(const struct lg_ctx *c, uint64_t g)
{
	return &c->segs[g / c->o.npages];
}

static uint64_t pgno_of(const struct lg_ctx *c, uint64_t g)
{
	return c->o.first_page + g % c->o.npages;
}

int lg_rw_start(struct lg_ctx *c)
{
	struct rw_state *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->ops = calloc(c->o.depth, sizeof(*s->ops));
	s->last_seen = calloc(total_pages(c), sizeof(*s->last_seen));
	if (!s->ops || !s->last_seen)
		return -ENOMEM;
	c->state = s;
	return 0;
}

static int free_slot(struct rw_state *s, uint32_t depth)
{
	for (uint32_t i = 0; i < depth; i++)
		if (!s->ops[i].busy)
			return (int)i;
	return -1;
}

static int issue(struct lg_ctx *c, uint64_t page, bool write, bool verify, uint64_t now)
{
	struct rw_state *s = c->state;
	int slot = free_slot(s, c->o.depth);
	int rc;

	if (slot < 0)
		return -EBUSY;
	s->ops[slot] = (struct rw_op){ .page = page, .t0 = now, .write = write,
				       .busy = true, .verify = verify };
	rc = dsm_node_local(c->node, seg_of(c, page)->d.seg_id, pgno_of(c, page),
			    write ? DSM_WRITE : DSM_READ, (uint64_t)slot, now);
	if (rc) {
		/* Refused outright: no completion will come. */
		s->ops[slot].busy = false;
		c->r.errors++;
		report(c, page, "request refused: %s", strerror(-rc));
		return rc;
	}
	c->inflight++;
	return 0;
}

static bool run_finished(struct lg_ctx *c, uint64_t now)
{
	if (c->o.ops)
		return c->issued >= c->o.ops;
	return now >= c->start_ns + (uint64_t)(c->o.duration_s * 1e9);
}

int lg_rw_poll(struct lg_ctx *c, uint64_t now)
{
	struct rw_state *s = c->state;
	int work = 0;

	switch (s->phase) {
	case RW_RUN:
		/* Bounded per call: cache hits complete synchronously, and the
		 * node must get back to its I/O loop to serve other nodes. */
		while (c->inflight < c->o.depth && work < RW_BURST && !run_finished(c, now)) {
			uint64_t page = c->o.sequential ? c->issued % total_pages(c)
							: lg_rand(c) % total_pages(c);
			bool write = lg_rand(c) % 100 < c->o.write_pct;

			if (issue(c, page, write, false, now))
				break;
			c->issued++;
			work++;
		}
		if (run_finished(c, now))
			s->phase = RW_DRAIN;
		break;
	case RW_DRAIN:
		if (c->inflight)
			break;
		c->end_ns = now;
		s->phase = c->o.verify_sum >= 0 ? RW_VERIFY : RW_DONE;
		break;
	case RW_VERIFY:
		while (c->inflight < c->o.depth && work < RW_BURST &&
		       s->verify_next < total_pages(c)) {
			if (issue(c, s->verify_next, false, true, now))
				break;
			s->verify_next++;
			work++;
		}
		if (s->verify_done == total_pages(c) && !c->inflight) {
			if ((int64_t)s->verify_sum != c->o.verify_sum) {
				fprintf(stderr, "dsm-loadgen: verify: sum of page counters %lu, "
					"expected %ld: writes were lost or duplicated\n",
					(unsigned long)s->verify_sum, (long)c->o.verify_sum);
				c->r.check_failures++;
			}
			s->phase = RW_DONE;
		}
		break;
	case RW_DONE:
		c->workload_done = true;
		break;
	}
	return work;
}

static void on_write(struct lg_ctx *c, struct rw_op *op, uint8_t *page)
{
	struct rw_state *s = c->state;
	uint64_t counter;

	uint32_t size = seg_of(c, op->page)->d.page_size;

	if (lg_page_check(page, size, &counter)) {
		c->r.check_failures++;
		report(c, op->page, "corrupt page before write (counter field %lu)",
		       (unsigned long)((struct lg_page_hdr *)page)->counter);
		return;
	}
	if (counter < s->last_seen[op->page]) {
		c->r.check_failures++;
		report(c, op->page, "lost write: counter %lu < %lu already seen",
		       (unsigned long)counter, (unsigned long)s->last_seen[op->page]);
	}
	lg_page_write(page, size, counter + 1, dsm_node_self(c->node), ++s->wseq);
	s->last_seen[op->page] = counter + 1;
	c->r.writes++;
}

static void on_read(struct lg_ctx *c, struct rw_op *op, const uint8_t *page)
{
	struct rw_state *s = c->state;
	uint64_t counter;

	if (lg_page_check(page, seg_of(c, op->page)->d.page_size, &counter)) {
		c->r.check_failures++;
		report(c, op->page, "corrupt page on read (counter field %lu)",
		       (unsigned long)((const struct lg_page_hdr *)page)->counter);
		return;
	}
	if (counter < s->last_seen[op->page]) {
		c->r.check_failures++;
		report(c, op->page, "stale read: counter %lu < %lu already seen",
		       (unsigned long)counter, (unsigned long)s->last_seen[op->page]);
	}
	s->last_seen[op->page] = counter;
	if (op->verify) {
		s->verify_sum += counter;
		s->verify_done++;
	} else {
		c->r.reads++;
	}
}

void lg_rw_complete(struct lg_ctx *c, const struct dsm_action *a, uint64_t now)
{
	struct rw_state *s = c->state;
	struct rw_op *op;
	uint8_t *page;

	if (a->user_data >= c->o.depth || !s->ops[a->user_data].busy)
		return;
	op = &s->ops[a->user_data];
	op->busy = false;
	c->inflight--;
	if (a->status) {
		c->r.errors++;
		report(c, op->page, "request failed: %s", strerror(-a->status));
		if (op->verify) {
			/* The sum can no longer be checked: that is a failure. */
			s->verify_done++;
			c->r.check_failures++;
		}
		return;
	}
	page = dsm_node_page(c->node, seg_of(c, op->page)->d.seg_id, pgno_of(c, op->page));
	if (op->write)
		on_write(c, op, page);
	else
		on_read(c, op, page);
	if (!op->verify) {
		c->r.ops++;
		if (a->remote)
			c->r.remote++;
		else
			c->r.local_hits++;
		lg_hist_add(&c->r.lat, now - op->t0);
	}
}
