/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the coherence engine, mostly through the multi-node
 * simulator in sim.c: directed tests of every protocol transition, and a
 * randomized stress test checking single-writer/multi-reader and that every
 * read returns the latest completed write.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include "cunit_main.h"

#include "engine/coherence.h"
#include "sim.h"

#define REQ_TMO  1000000ull
#define HOME_TMO 500000ull
#define RETRY    1000ull
#define RETRY_MAX 4000ull  /* backoff cap: reached at the third retry */

static struct dsm_engine_cfg base_cfg(void)
{
	struct dsm_engine_cfg c;

	dsm_engine_cfg_default(&c);
	c.max_pending = 16;
	c.max_waiters = 64;
	c.req_timeout_ns = REQ_TMO;
	c.home_timeout_ns = HOME_TMO;
	c.retry_base_ns = RETRY;
	c.retry_max_ns = RETRY_MAX;
	c.max_retries = 4;
	return c;
}

static struct sim *mk(int n)
{
	struct dsm_engine_cfg c = base_cfg();
	struct sim *s = sim_new(n, &c, 42);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	return s;
}

/* Completion of ud; a dummy with an impossible status when there is none,
 * so a missing completion fails the test instead of crashing it. */
static const struct sim_comp *comp(struct sim *s, uint64_t ud)
{
	static const struct sim_comp none = { .status = 99999 };
	const struct sim_comp *c = sim_comp_of(s, ud);

	return c != NULL ? c : &none;
}

/* Head of a channel; a zeroed dummy (and a failure) when empty. */
static struct sim_qmsg *pk(struct sim *s, uint16_t src, uint16_t dst)
{
	static struct sim_qmsg dummy;
	struct sim_qmsg *q = sim_peek(s, src, dst);

	CU_ASSERT_PTR_NOT_NULL(q);
	if (q != NULL)
		return q;
	memset(&dummy, 0, sizeof(dummy));
	return &dummy;
}

/* A local request that must go remote, run to quiescence, must succeed. */
static void access_ok(struct sim *s, uint16_t node, uint32_t seg, uint64_t pg,
		      enum dsm_intent in, uint64_t ud)
{
	const struct sim_comp *c;

	CU_ASSERT_EQUAL(sim_local(s, node, seg, pg, in, ud), 0);
	sim_run(s);
	c = comp(s, ud);
	CU_ASSERT_EQUAL(c->status, 0);
	if (in == DSM_WRITE)
		CU_ASSERT_EQUAL(c->state, DSM_CS_EXCLUSIVE)
	else
		CU_ASSERT_NOT_EQUAL(c->state, DSM_CS_INVALID)
	CU_ASSERT_EQUAL(sim_ncomp_of(s, ud), 1);
}

static void write_tag(struct sim *s, uint16_t node, uint32_t seg, uint64_t pg,
		      uint64_t tag)
{
	memcpy(sim_page(s, node, seg, pg), &tag, sizeof(tag));
}

static struct dsm_msg msg(uint8_t type, uint16_t src, uint16_t dst, uint32_t seg,
			  uint64_t pg)
{
	struct dsm_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.src = src;
	m.dst = dst;
	m.epoch = 1;
	m.seg_id = seg;
	m.pgno = pg;
	return m;
}

/* ---- lifecycle ------------------------------------------------------ */

static void test_create_validation(void)
{
	struct dsm_engine_cfg c = base_cfg();
	struct dsm_segment_desc d = { .seg_id = 1, .home = 1,
		.prot = DSM_PROT_READ, .page_size = 4096, .npages = 4 };
	struct dsm_engine *e;

	c.self = 0;
	CU_ASSERT_PTR_NULL(dsm_engine_create(&c));
	c = base_cfg();
	c.shard = 2; c.nshards = 2;
	CU_ASSERT_PTR_NULL(dsm_engine_create(&c));
	c = base_cfg();
	c.max_pending = 0;
	CU_ASSERT_PTR_NULL(dsm_engine_create(&c));
	/* worst-case actions of one call must fit DSM_ACTIONS_MAX */
	c = base_cfg();
	c.max_waiters = DSM_ACTIONS_MAX;
	CU_ASSERT_PTR_NULL(dsm_engine_create(&c));
	c.max_waiters = DSM_ACTIONS_MAX - 2 * c.max_pending - DSM_ENGINE_MAX_SEGS;
	e = dsm_engine_create(&c);
	CU_ASSERT_PTR_NOT_NULL(e);
	dsm_engine_destroy(e);
	CU_ASSERT_PTR_NULL(dsm_engine_create(NULL));
	c = base_cfg();
	e = dsm_engine_create(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(dsm_engine_add_segment(e, &d), 0);
	CU_ASSERT_EQUAL(dsm_engine_add_segment(e, &d), -EEXIST);
	d.seg_id = 2; d.npages = 0;
	CU_ASSERT_EQUAL(dsm_engine_add_segment(e, &d), -EINVAL);
	d.npages = 4; d.home = 0;
	CU_ASSERT_EQUAL(dsm_engine_add_segment(e, &d), -EINVAL);
	d.home = 1; d.prot = 0x80;
	CU_ASSERT_EQUAL(dsm_engine_add_segment(e, &d), -EINVAL);
	CU_ASSERT_EQUAL(dsm_engine_next_deadline(e), UINT64_MAX);
	dsm_engine_destroy(e);
	dsm_engine_destroy(NULL);
}

/* ---- reads ---------------------------------------------------------- */

static void test_read_never_written_zero(void)
{
	struct sim *s = mk(3);
	struct sim_qmsg *q;
	struct dsm_page_info pi;

	memset(sim_page(s, 2, SEG_A, 3), 0xab, SIM_PS);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 3, DSM_READ, 100), 0);
	CU_ASSERT_PTR_NULL(sim_comp_of(s, 100));
	q = pk(s, 2, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL(q->m.type, DSM_MSG_PAGE_REQ);
	CU_ASSERT_EQUAL(q->m.flags, 0);
	CU_ASSERT_EQUAL(q->m.epoch, 1);
	CU_ASSERT_EQUAL(q->m.src, 2);
	CU_ASSERT_EQUAL(sim_deliver(s, 2, 1), 0);
	q = pk(s, 1, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL(q->m.type, DSM_MSG_PAGE_GRANT);
	CU_ASSERT_EQUAL(q->m.flags, DSM_F_ZERO);
	CU_ASSERT_EQUAL(q->m.len, 0);
	CU_ASSERT_EQUAL(sim_deliver(s, 1, 2), 0);
	CU_ASSERT_EQUAL(comp(s, 100)->status, 0);
	CU_ASSERT_TRUE(comp(s, 100)->remote);
	CU_ASSERT_EQUAL(comp(s, 100)->state, DSM_CS_SHARED);
	CU_ASSERT_EQUAL(sim_page(s, 2, SEG_A, 3)[17], 0);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->zero_grants, 1);
	pi = sim_info(s, 1, SEG_A, 3);
	CU_ASSERT_TRUE(pi.is_home);
	CU_ASSERT_EQUAL(pi.dir_state, DSM_DS_SHARED);
	CU_ASSERT_EQUAL(pi.sharers, (dsm_nodeset_t)1 << 2);
	CU_ASSERT_FALSE(pi.written);
	/* second read: minor fault */
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 3, DSM_READ, 101), 0);
	CU_ASSERT_EQUAL(comp(s, 101)->status, 0);
	CU_ASSERT_FALSE(comp(s, 101)->remote);
	CU_ASSERT_EQUAL(sim_stats(s, 2)->local_hits, 1);
	CU_ASSERT_EQUAL(sim_stats(s, 2)->local_misses, 1);
	CU_ASSERT_EQUAL(sim_queued_total(s), 0);
	sim_free(s);
}

/* Read while exclusive elsewhere: DOWNGRADE, writeback, shared grant. */
static void test_read_downgrade_and_written(void)
{
	struct sim *s = mk(3);
	struct dsm_page_info pi;

	access_ok(s, 2, SEG_A, 1, DSM_WRITE, 1);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->zero_grants, 1);
	write_tag(s, 2, SEG_A, 1, 0x1111);
	access_ok(s, 3, SEG_A, 1, DSM_READ, 2);
	CU_ASSERT_EQUAL(sim_tag(s, 3, SEG_A, 1), 0x1111);
	CU_ASSERT_EQUAL(sim_tag(s, 1, SEG_A, 1), 0x1111); /* home copy */
	CU_ASSERT_EQUAL(sim_stats(s, 1)->downgrades_tx, 1);
	CU_ASSERT_EQUAL(sim_stats(s, 2)->downgrades_rx, 1);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->writebacks, 1);
	CU_ASSERT_EQUAL(s->nodes[2].protects, 1);
	pi = sim_info(s, 1, SEG_A, 1);
	CU_ASSERT_EQUAL(pi.dir_state, DSM_DS_SHARED);
	CU_ASSERT_EQUAL(pi.sharers, ((dsm_nodeset_t)1 << 2) | ((dsm_nodeset_t)1 << 3));
	CU_ASSERT_TRUE(pi.written);
	CU_ASSERT_EQUAL(pi.version, 1);
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 1).cache_state, DSM_CS_SHARED);
	/* a read of a written page from the home copy carries data */
	access_ok(s, 1, SEG_A, 1, DSM_READ, 3);
	CU_ASSERT_EQUAL(sim_tag(s, 1, SEG_A, 1), 0x1111);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->downgrades_tx, 1);
	sim_free(s);
}

/* ---- writes --------------------------------------------------------- */

static void test_write_unowned(void)
{
	struct sim *s = mk(2);
	struct dsm_page_info pi;
	struct sim_qmsg *q;

	memset(sim_page(s, 2, SEG_A, 0), 0x5a, SIM_PS);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 0, DSM_WRITE, 9), 0);
	q = pk(s, 2, 1);
	CU_ASSERT_EQUAL(q->m.flags, DSM_F_WRITE);
	sim_deliver(s, 2, 1);
	q = pk(s, 1, 2);
	CU_ASSERT_EQUAL(q->m.flags, DSM_F_EXCLUSIVE | DSM_F_ZERO);
	CU_ASSERT_EQUAL(q->m.version, 1);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 9)->state, DSM_CS_EXCLUSIVE);
	CU_ASSERT_EQUAL(sim_page(s, 2, SEG_A, 0)[5], 0);
	pi = sim_info(s, 1, SEG_A, 0);
	CU_ASSERT_EQUAL(pi.dir_state, DSM_DS_EXCLUSIVE);
	CU_ASSERT_EQUAL(pi.owner, 2);
	CU_ASSERT_EQUAL(pi.version, 1);
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 0).cache_version, 1);
	/* a write and a read are now local hits */
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 0, DSM_WRITE, 10), 0);
	CU_ASSERT_FALSE(comp(s, 10)->remote);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 0, DSM_READ, 11), 0);
	CU_ASSERT_EQUAL(comp(s, 11)->state, DSM_CS_EXCLUSIVE);
	sim_free(s);
}

static void test_write_shared_invalidates(void)
{
	struct sim *s = mk(4);
	struct dsm_page_info pi;

	access_ok(s, 2, SEG_A, 2, DSM_WRITE, 1);
	write_tag(s, 2, SEG_A, 2, 0x77);
	access_ok(s, 3, SEG_A, 2, DSM_READ, 2);
	access_ok(s, 4, SEG_A, 2, DSM_READ, 3);
	access_ok(s, 1, SEG_A, 2, DSM_READ, 4);   /* home node as a sharer */
	CU_ASSERT_EQUAL(sim_info(s, 1, SEG_A, 2).sharers, 0x1eu);
	access_ok(s, 4, SEG_A, 2, DSM_WRITE, 5);  /* upgrade: 1,2,3 invalidated */
	CU_ASSERT_EQUAL(sim_stats(s, 1)->invalidations_tx, 3);
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 2).cache_state, DSM_CS_INVALID);
	CU_ASSERT_EQUAL(sim_info(s, 3, SEG_A, 2).cache_state, DSM_CS_INVALID);
	CU_ASSERT_EQUAL(sim_info(s, 1, SEG_A, 2).cache_state, DSM_CS_INVALID);
	CU_ASSERT_EQUAL(s->nodes[3].unmaps, 1);
	pi = sim_info(s, 1, SEG_A, 2);
	CU_ASSERT_EQUAL(pi.dir_state, DSM_DS_EXCLUSIVE);
	CU_ASSERT_EQUAL(pi.owner, 4);
	CU_ASSERT_EQUAL(pi.sharers, 0);
	CU_ASSERT_EQUAL(pi.version, 2);
	/* node 4 held the current version: granted without data */
	CU_ASSERT_EQUAL(sim_stats(s, 1)->nodata_grants, 1);
	CU_ASSERT_EQUAL(sim_tag(s, 4, SEG_A, 2), 0x77);
	sim_free(s);
}

static void test_write_recall_exclusive(void)
{
	struct sim *s = mk(3);
	struct dsm_page_info pi;

	access_ok(s, 2, SEG_A, 4, DSM_WRITE, 1);
	write_tag(s, 2, SEG_A, 4, 0xabc);
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 4, DSM_WRITE, 2), 0);
	sim_deliver(s, 3, 1);
	CU_ASSERT_EQUAL(pk(s, 1, 2)->m.type, DSM_MSG_INVALIDATE);
	CU_ASSERT_EQUAL(pk(s, 1, 2)->m.version, 1);
	sim_deliver(s, 1, 2);
	CU_ASSERT_EQUAL(pk(s, 2, 1)->m.type, DSM_MSG_INV_ACK);
	CU_ASSERT_EQUAL(pk(s, 2, 1)->m.flags, DSM_F_DATA);
	CU_ASSERT_EQUAL(pk(s, 2, 1)->m.len, SIM_PS);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 2)->status, 0);
	CU_ASSERT_EQUAL(comp(s, 2)->state, DSM_CS_EXCLUSIVE);
	CU_ASSERT_EQUAL(sim_tag(s, 3, SEG_A, 4), 0xabc);
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 4).cache_state, DSM_CS_INVALID);
	pi = sim_info(s, 1, SEG_A, 4);
	CU_ASSERT_EQUAL(pi.owner, 3);
	CU_ASSERT_EQUAL(pi.version, 2);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->writebacks, 1);
	sim_free(s);
}

static void test_upgrade_without_data(void)
{
	struct sim *s = mk(2);
	struct sim_qmsg *q;

	access_ok(s, 2, SEG_A, 5, DSM_WRITE, 1);
	write_tag(s, 2, SEG_A, 5, 0x55);
	access_ok(s, 1, SEG_A, 5, DSM_READ, 2);    /* 2 downgraded to shared */
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 5, DSM_WRITE, 3), 0);
	q = pk(s, 2, 1);
	CU_ASSERT_EQUAL(q->m.flags, DSM_F_WRITE | DSM_F_HAVE_COPY);
	CU_ASSERT_EQUAL(q->m.version, 1);
	sim_deliver(s, 2, 1);                      /* invalidates node 1 */
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 3)->status, 0);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->nodata_grants, 1);
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 5).cache_version, 2);
	CU_ASSERT_EQUAL(sim_tag(s, 2, SEG_A, 5), 0x55);
	sim_free(s);
}

/* A no-data grant that does not match our copy is refused. */
static void test_nodata_grant_mismatch(void)
{
	struct sim *s = mk(2);
	struct dsm_msg g;
	uint64_t tok;

	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 6, DSM_WRITE, 1), 0);
	tok = pk(s, 2, 1)->m.token;
	g = msg(DSM_MSG_PAGE_GRANT, 1, 2, SEG_A, 6);
	g.token = tok;
	g.flags = DSM_F_EXCLUSIVE;
	g.version = 1;
	CU_ASSERT_EQUAL(sim_inject(s, 2, &g), -ESTALE);
	g.flags = 0;                               /* shared without data */
	CU_ASSERT_EQUAL(sim_inject(s, 2, &g), -EINVAL);
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 6).cache_state, DSM_CS_INVALID);
	CU_ASSERT_TRUE(sim_info(s, 2, SEG_A, 6).pending);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 1)->status, 0);
	sim_free(s);
}

/* Grant checks: an older version is refused; the home only skips the data
 * for a listed sharer at the current version. */
static void test_grant_version_checks(void)
{
	struct sim *s = mk(4);
	struct dsm_msg m;
	uint8_t buf[SIM_PS] = { 0 };

	access_ok(s, 2, SEG_A, 6, DSM_WRITE, 1);
	write_tag(s, 2, SEG_A, 6, 0x66);
	access_ok(s, 3, SEG_A, 6, DSM_READ, 2);       /* 2, 3 shared at v1 */
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 6, DSM_WRITE, 3), 0);
	m = msg(DSM_MSG_PAGE_GRANT, 1, 2, SEG_A, 6);
	m.token = pk(s, 2, 1)->m.token;
	m.flags = DSM_F_EXCLUSIVE | DSM_F_DATA;
	m.payload = buf;
	m.len = SIM_PS;
	m.version = 0;                               /* older than our v1 */
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -ESTALE);
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 6).cache_state, DSM_CS_SHARED);
	CU_ASSERT_EQUAL(sim_tag(s, 2, SEG_A, 6), 0x66);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 3)->status, 0);
	/* node 4 claims a copy at the current version but is not a sharer */
	access_ok(s, 3, SEG_A, 6, DSM_READ, 4);
	m = msg(DSM_MSG_PAGE_REQ, 4, 1, SEG_A, 6);
	m.flags = DSM_F_WRITE | DSM_F_HAVE_COPY;
	m.version = sim_info(s, 1, SEG_A, 6).version;
	m.token = DSM_TOKEN(3, 77);
	CU_ASSERT_EQUAL(sim_inject(s, 1, &m), 0);
	while (sim_queued(s, 1, 4) == 0 && sim_step(s, &(int){ 0 }))
		;
	CU_ASSERT_EQUAL(pk(s, 1, 4)->m.type, DSM_MSG_PAGE_GRANT);
	CU_ASSERT_EQUAL(pk(s, 1, 4)->m.flags, DSM_F_EXCLUSIVE | DSM_F_DATA);
	sim_free(s);
}

/* Node 2 (shared) asks for write while node 3's write invalidates it. */
static void test_crossing_invalidation(void)
{
	struct sim *s = mk(3);
	struct sim_qmsg *q;

	access_ok(s, 2, SEG_A, 7, DSM_WRITE, 1);
	write_tag(s, 2, SEG_A, 7, 0x7);
	access_ok(s, 3, SEG_A, 7, DSM_READ, 2);       /* 2 and 3 shared, v1 */
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 7, DSM_WRITE, 3), 0);
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 7, DSM_WRITE, 4), 0);
	CU_ASSERT_EQUAL(sim_deliver(s, 3, 1), 0);     /* home: invalidate 2 */
	CU_ASSERT_EQUAL(pk(s, 1, 2)->m.type, DSM_MSG_INVALIDATE);
	CU_ASSERT_EQUAL(sim_deliver(s, 2, 1), 0);     /* 2's upgrade: BUSY */
	CU_ASSERT_EQUAL(sim_stats(s, 1)->nacks_tx, 0 + 1);
	CU_ASSERT_EQUAL(sim_deliver(s, 1, 2), 0);     /* INVALIDATE at 2 */
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 7).cache_state, DSM_CS_INVALID);
	CU_ASSERT_TRUE(sim_info(s, 2, SEG_A, 7).pending);
	CU_ASSERT_EQUAL(sim_deliver(s, 1, 2), 0);     /* NACK BUSY at 2 */
	CU_ASSERT_EQUAL(sim_stats(s, 2)->nacks_rx, 1);
	sim_run(s);                                   /* 3 gets exclusive */
	CU_ASSERT_EQUAL(comp(s, 4)->status, 0);
	write_tag(s, 3, SEG_A, 7, 0x8);
	/* first backoff: jittered within [RETRY/2, RETRY) */
	CU_ASSERT(dsm_engine_next_deadline(s->nodes[2].e) >= s->now + RETRY / 2);
	CU_ASSERT(dsm_engine_next_deadline(s->nodes[2].e) < s->now + RETRY);
	sim_tick(s, s->now + RETRY);                  /* 2 retries */
	q = pk(s, 2, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL(q->m.flags, DSM_F_WRITE);     /* no longer HAVE_COPY */
	CU_ASSERT_EQUAL(sim_stats(s, 2)->retries, 1);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 3)->status, 0);
	CU_ASSERT_EQUAL(sim_tag(s, 2, SEG_A, 7), 0x8); /* got 3's data */
	CU_ASSERT_EQUAL(sim_info(s, 1, SEG_A, 7).owner, 2);
	CU_ASSERT_EQUAL(sim_info(s, 1, SEG_A, 7).version, 3);
	sim_free(s);
}

/* ---- coalescing ----------------------------------------------------- */

static void test_coalesce_read_read(void)
{
	struct sim *s = mk(2);

	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 8, DSM_READ, 1), 0);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 8, DSM_READ, 2), 0);
	CU_ASSERT_EQUAL(sim_queued(s, 2, 1), 1);
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 8).waiters, 2);
	CU_ASSERT_EQUAL(sim_stats(s, 2)->coalesced, 1);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 1)->status, 0);
	CU_ASSERT_EQUAL(comp(s, 2)->status, 0);
	CU_ASSERT_TRUE(comp(s, 2)->remote);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->grants_tx, 1);
	CU_ASSERT_FALSE(sim_info(s, 2, SEG_A, 8).pending);
	sim_free(s);
}

static void test_coalesce_read_then_write(void)
{
	struct sim *s = mk(2);

	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 9, DSM_READ, 1), 0);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 9, DSM_WRITE, 2), 0);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 9, DSM_READ, 3), 0);
	sim_deliver(s, 2, 1);
	sim_deliver(s, 1, 2);                      /* shared grant */
	CU_ASSERT_EQUAL(comp(s, 1)->status, 0);
	CU_ASSERT_EQUAL(comp(s, 3)->status, 0);
	CU_ASSERT_PTR_NULL(sim_comp_of(s, 2));
	CU_ASSERT_EQUAL(pk(s, 2, 1)->m.flags, DSM_F_WRITE | DSM_F_HAVE_COPY);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 2)->status, 0);
	CU_ASSERT_EQUAL(comp(s, 2)->state, DSM_CS_EXCLUSIVE);
	CU_ASSERT_EQUAL(sim_stats(s, 2)->local_misses, 2);
	CU_ASSERT_EQUAL(sim_stats(s, 2)->coalesced, 2);
	sim_free(s);
}

/* ---- BUSY, deadlines, failures --------------------------------------- */

static void test_busy_retry_and_exhaustion(void)
{
	struct sim *s = mk(2);
	struct dsm_msg n;
	uint64_t tok, t0;
	uint32_t i;

	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 10, DSM_READ, 1), 0);
	tok = pk(s, 2, 1)->m.token;
	sim_discard(s, 2, 1);
	n = msg(DSM_MSG_NACK, 1, 2, SEG_A, 10);
	n.token = tok;
	n.status = DSM_ST_BUSY;
	for (i = 0; i < 4; i++) {
		/* backoff doubles from RETRY, capped at RETRY_MAX, jittered
		 * into [delay/2, delay) */
		uint64_t delay = RETRY << i < RETRY_MAX ? RETRY << i : RETRY_MAX;
		uint64_t at;

		t0 = s->now;
		CU_ASSERT_EQUAL(sim_inject(s, 2, &n), 0);
		/* a duplicate NACK does not double the backoff */
		CU_ASSERT_EQUAL(sim_inject(s, 2, &n), -EALREADY);
		at = dsm_engine_next_deadline(s->nodes[2].e);
		CU_ASSERT(at >= t0 + delay / 2 && at < t0 + delay);
		sim_tick(s, at - 1);
		CU_ASSERT_EQUAL(sim_queued(s, 2, 1), 0);
		sim_tick(s, at);
		CU_ASSERT_EQUAL(sim_queued(s, 2, 1), 1);
		CU_ASSERT_EQUAL(pk(s, 2, 1)->m.token, tok);
		sim_discard(s, 2, 1);
	}
	CU_ASSERT_EQUAL(sim_stats(s, 2)->retries, 4);
	CU_ASSERT_PTR_NULL(sim_comp_of(s, 1));
	CU_ASSERT_EQUAL(sim_inject(s, 2, &n), 0);  /* 5th BUSY: give up */
	CU_ASSERT_EQUAL(comp(s, 1)->status, -EBUSY);
	CU_ASSERT_FALSE(sim_info(s, 2, SEG_A, 10).pending);
	CU_ASSERT_EQUAL(sim_stats(s, 2)->failed, 1);
	sim_free(s);
}

static void test_nack_status_mapping(void)
{
	static const struct { uint16_t st; int err; } map[] = {
		{ DSM_ST_NOSEG, -ENOENT }, { DSM_ST_RANGE, -ERANGE },
		{ DSM_ST_PERM, -EACCES }, { DSM_ST_TIMEDOUT, -ETIMEDOUT },
		{ DSM_ST_NOTHOME, -EREMOTE }, { DSM_ST_NOTOWNER, -EPROTO },
	};
	struct sim *s = mk(2);
	uint32_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		struct dsm_msg n = msg(DSM_MSG_NACK, 1, 2, SEG_A, 11);

		CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 11, DSM_READ, 50 + i), 0);
		CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 11, DSM_WRITE, 70 + i), 0);
		n.token = pk(s, 2, 1)->m.token;
		sim_discard(s, 2, 1);
		n.status = map[i].st;
		CU_ASSERT_EQUAL(sim_inject(s, 2, &n), 0);
		CU_ASSERT_EQUAL(comp(s, 50 + i)->status, map[i].err);
		CU_ASSERT_EQUAL(comp(s, 70 + i)->status, map[i].err);
		/* the same NACK again refers to a finished transaction */
		CU_ASSERT_EQUAL(sim_inject(s, 2, &n), -ESTALE);
	}
	sim_free(s);
}

/* Local deadline, then the late GRANT is recognised by its generation. */
static void test_late_grant_after_timeout(void)
{
	struct sim *s = mk(3);
	struct dsm_page_info pi;

	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 12, DSM_WRITE, 1), 0);
	CU_ASSERT_EQUAL(dsm_engine_next_deadline(s->nodes[2].e), s->now + REQ_TMO);
	sim_deliver(s, 2, 1);                        /* grant now queued */
	sim_tick(s, s->now + REQ_TMO - 1);
	CU_ASSERT_PTR_NULL(sim_comp_of(s, 1));
	sim_tick(s, s->now + 1);
	CU_ASSERT_EQUAL(comp(s, 1)->status, -ETIMEDOUT);
	CU_ASSERT_EQUAL(sim_stats(s, 2)->timeouts, 1);
	/* the same page again, from the same slot with a new generation,
	 * before the late exclusive grant lands: it must not be taken */
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 12, DSM_READ, 2), 0);
	CU_ASSERT_EQUAL(DSM_TOKEN_SLOT(pk(s, 2, 1)->m.token), 0);
	CU_ASSERT_EQUAL(sim_deliver(s, 1, 2), -ESTALE);
	CU_ASSERT_EQUAL(sim_stats(s, 2)->drop_stale, 1);
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 12).cache_state, DSM_CS_INVALID);
	/* the home believes 2 owns page 12; 2 does not.  Its new read is
	 * served after a DOWNGRADE that 2 answers NOTOWNER. */
	CU_ASSERT_EQUAL(sim_info(s, 1, SEG_A, 12).owner, 2);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 2)->status, 0);
	CU_ASSERT_EQUAL(comp(s, 2)->state, DSM_CS_SHARED);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->writebacks, 0);
	pi = sim_info(s, 1, SEG_A, 12);
	CU_ASSERT_EQUAL(pi.dir_state, DSM_DS_SHARED);
	CU_ASSERT_EQUAL(pi.sharers, (dsm_nodeset_t)1 << 2);
	access_ok(s, 3, SEG_A, 12, DSM_READ, 3);
	/* and 2 asking for write gets exclusive, 3 is invalidated */
	access_ok(s, 2, SEG_A, 12, DSM_WRITE, 4);
	CU_ASSERT_EQUAL(sim_info(s, 3, SEG_A, 12).cache_state, DSM_CS_INVALID);
	sim_free(s);
}

/* The home gives up on a DOWNGRADE; the owner keeps its data. */
static void test_home_deadline(void)
{
	struct sim *s = mk(3);
	struct dsm_page_info pi;

	access_ok(s, 2, SEG_A, 14, DSM_WRITE, 1);
	write_tag(s, 2, SEG_A, 14, 0xd00d);
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 14, DSM_READ, 2), 0);
	sim_deliver(s, 3, 1);
	CU_ASSERT_TRUE(sim_info(s, 1, SEG_A, 14).busy);
	CU_ASSERT_EQUAL(sim_info(s, 1, SEG_A, 14).busy_requester, 3);
	sim_deliver(s, 1, 2);                   /* 2 downgrades ... */
	sim_discard(s, 2, 1);                   /* ... and its ack is lost */
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 14).cache_state, DSM_CS_SHARED);
	CU_ASSERT_EQUAL(dsm_engine_next_deadline(s->nodes[1].e), s->now + HOME_TMO);
	sim_tick(s, s->now + HOME_TMO);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->home_timeouts, 1);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 2)->status, -ETIMEDOUT);
	pi = sim_info(s, 1, SEG_A, 14);
	CU_ASSERT_FALSE(pi.busy);
	CU_ASSERT_EQUAL(pi.dir_state, DSM_DS_EXCLUSIVE);
	CU_ASSERT_EQUAL(pi.owner, 2);
	/* next write by 3: DOWNGRADE again (not INVALIDATE), 2 returns data */
	access_ok(s, 3, SEG_A, 14, DSM_WRITE, 3);
	CU_ASSERT_EQUAL(sim_tag(s, 3, SEG_A, 14), 0xd00d);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->downgrades_tx, 2);
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 14).cache_state, DSM_CS_INVALID);
	sim_free(s);
}

/* A recall whose INV_ACK is lost: the owner retains the data. */
static void test_lost_recall_ack(void)
{
	struct sim *s = mk(3);

	access_ok(s, 2, SEG_A, 15, DSM_WRITE, 1);
	write_tag(s, 2, SEG_A, 15, 0xfeed);
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 15, DSM_WRITE, 2), 0);
	sim_deliver(s, 3, 1);
	sim_deliver(s, 1, 2);
	sim_discard(s, 2, 1);
	sim_tick(s, s->now + HOME_TMO);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 2)->status, -ETIMEDOUT);
	access_ok(s, 3, SEG_A, 15, DSM_READ, 3);
	CU_ASSERT_EQUAL(sim_tag(s, 3, SEG_A, 15), 0xfeed);
	sim_free(s);
}

static void test_peer_down(void)
{
	struct sim *s = mk(3);

	/* local requests waiting on home 2 (segment B) fail */
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_B, 1, DSM_READ, 1), 0);
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_B, 1, DSM_WRITE, 2), 0);
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 1, DSM_READ, 3), 0);
	sim_peer_down(s, 3, 2);
	CU_ASSERT_EQUAL(comp(s, 1)->status, -EHOSTUNREACH);
	CU_ASSERT_EQUAL(comp(s, 2)->status, -EHOSTUNREACH);
	CU_ASSERT_PTR_NULL(sim_comp_of(s, 3));     /* other home unaffected */
	sim_discard(s, 3, 2);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 3)->status, 0);
	/* An exclusive owner that is gone took the only valid copy with it:
	 * the waiting requester and every later one get DSM_ST_LOST (-EIO),
	 * never the home's older copy. */
	access_ok(s, 2, SEG_A, 2, DSM_WRITE, 4);
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 2, DSM_READ, 5), 0);
	sim_deliver(s, 3, 1);                       /* DOWNGRADE to 2 queued */
	sim_peer_down(s, 1, 2);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->pages_lost, 1);
	CU_ASSERT_TRUE(sim_info(s, 1, SEG_A, 2).lost);
	CU_ASSERT_FALSE(sim_info(s, 1, SEG_A, 2).busy);
	sim_discard(s, 1, 2);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 5)->status, -EIO);
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 2, DSM_WRITE, 6), 0);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 6)->status, -EIO);
	sim_free(s);
}

/* A restarted node reuses its tokens: once the home has written the old
 * incarnation off, the same token is a new request, not a duplicate. */
static void test_peer_down_token_reuse(void)
{
	struct sim *s = mk(2);
	struct dsm_msg rq;

	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 5, DSM_READ, 1), 0);
	rq = pk(s, 2, 1)->m;
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 1)->status, 0);
	/* the same request again is a duplicate while 2 is the same node */
	CU_ASSERT_EQUAL(sim_inject(s, 1, &rq), -EALREADY);
	sim_peer_down(s, 1, 2);
	CU_ASSERT_EQUAL(sim_inject(s, 1, &rq), 0);
	CU_ASSERT_EQUAL(sim_queued(s, 1, 2), 1);
	CU_ASSERT_EQUAL(pk(s, 1, 2)->m.type, DSM_MSG_PAGE_GRANT);
	CU_ASSERT_EQUAL(pk(s, 1, 2)->m.token, rq.token);
	sim_free(s);
}

/* A sharer that is gone holds nothing: an invalidation round waiting only
 * for it completes, and it leaves the sharer set. */
static void test_peer_down_sharer(void)
{
	struct sim *s = mk(3);

	access_ok(s, 2, SEG_A, 3, DSM_READ, 1);
	access_ok(s, 3, SEG_A, 3, DSM_READ, 2);
	CU_ASSERT_EQUAL(sim_info(s, 1, SEG_A, 3).sharers, (1u << 2) | (1u << 3));
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 3, DSM_WRITE, 3), 0);
	sim_deliver(s, 3, 1);                       /* upgrade: INVALIDATE to 2 */
	CU_ASSERT_TRUE(sim_info(s, 1, SEG_A, 3).busy);
	sim_peer_down(s, 1, 2);
	sim_discard(s, 1, 2);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 3)->status, 0);
	CU_ASSERT_EQUAL(comp(s, 3)->state, DSM_CS_EXCLUSIVE);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->sharers_dropped, 1);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->pages_lost, 0);
	CU_ASSERT_EQUAL(sim_info(s, 1, SEG_A, 3).owner, 3);
	sim_free(s);
}

/* ---- validation ----------------------------------------------------- */

static void test_local_refusals(void)
{
	struct sim *s = mk(2);

	CU_ASSERT_EQUAL(sim_local(s, 2, 99, 0, DSM_READ, 1), -ENOENT);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, SIM_NPAGES, DSM_READ, 1), -ERANGE);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_RO, 0, DSM_WRITE, 1), -EACCES);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 0, (enum dsm_intent)7, 1), -EINVAL);
	CU_ASSERT_EQUAL(s->ncomp, 0);
	CU_ASSERT_EQUAL(sim_queued_total(s), 0);
	access_ok(s, 2, SEG_RO, 0, DSM_READ, 2);
	sim_free(s);
}

static void add_seg(struct sim *s, uint16_t node, uint32_t id, uint16_t home,
		    uint16_t prot, uint64_t npages)
{
	struct dsm_segment_desc d = { .seg_id = id, .home = home, .prot = prot,
		.page_size = SIM_PS, .npages = npages };

	CU_ASSERT_EQUAL(dsm_engine_add_segment(s->nodes[node].e, &d), 0);
}

/* The home refuses what its own view of the segment forbids. */
static void test_home_refusals(void)
{
	struct sim *s = mk(3);
	uint16_t rw = DSM_PROT_READ | DSM_PROT_WRITE;

	add_seg(s, 2, 20, 1, rw, 4);     /* home 1 does not know seg 20 */
	add_seg(s, 2, 21, 1, rw, 64);    /* home 1 thinks it has 8 pages */
	add_seg(s, 1, 21, 1, rw, 8);
	add_seg(s, 2, 22, 1, rw, 4);     /* home 1 says read-only */
	add_seg(s, 1, 22, 1, DSM_PROT_READ, 4);
	add_seg(s, 2, 23, 3, rw, 4);     /* 2 thinks 3 is home; it is 1 */
	add_seg(s, 3, 23, 1, rw, 4);
	CU_ASSERT_EQUAL(sim_local(s, 2, 20, 0, DSM_READ, 1), 0);
	CU_ASSERT_EQUAL(sim_local(s, 2, 21, 40, DSM_READ, 2), 0);
	CU_ASSERT_EQUAL(sim_local(s, 2, 22, 0, DSM_WRITE, 3), 0);
	CU_ASSERT_EQUAL(sim_local(s, 2, 23, 0, DSM_READ, 4), 0);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 1)->status, -ENOENT);
	CU_ASSERT_EQUAL(comp(s, 2)->status, -ERANGE);
	CU_ASSERT_EQUAL(comp(s, 3)->status, -EACCES);
	CU_ASSERT_EQUAL(comp(s, 4)->status, -EREMOTE);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->nacks_tx, 3);
	CU_ASSERT_EQUAL(sim_stats(s, 3)->nacks_tx, 1);
	sim_free(s);
}

static void test_bad_messages(void)
{
	struct sim *s = mk(3);
	const struct dsm_engine_stats *st = sim_stats(s, 2);
	uint8_t buf[SIM_PS] = { 0 };
	struct dsm_msg m;
	uint64_t tok;

	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 3, DSM_READ, 1), 0);
	tok = pk(s, 2, 1)->m.token;
	m = msg(DSM_MSG_PAGE_GRANT, 1, 2, SEG_A, 3);
	m.token = tok;
	m.flags = DSM_F_DATA | DSM_F_ZERO;
	m.payload = buf; m.len = SIM_PS;
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -EINVAL);
	m.flags = DSM_F_DATA; m.len = SIM_PS - 1;
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -EINVAL);
	m.len = SIM_PS; m.payload = NULL;
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -EINVAL);
	m.payload = buf; m.dst = 3;                     /* not for us */
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -EINVAL);
	m.dst = 2; m.flags = DSM_F_ZERO | DSM_F_WRITE;  /* WRITE on a GRANT */
	m.len = 0;
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -EINVAL);
	m.type = DSM_MSG_VMA_REQ; m.flags = 0;
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -EINVAL);
	m.type = DSM_MSG_VMA_RESP;
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -EINVAL);
	m.type = DSM_MSG_CHAN_ACK;
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -EINVAL);
	m.type = 0;
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -EINVAL);
	m.type = DSM_MSG_NACK; m.status = DSM_ST_OK;    /* NACK without why */
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -EINVAL);
	m.type = DSM_MSG_NACK; m.status = 200;
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -EINVAL);
	/* only the home may invalidate */
	m = msg(DSM_MSG_INVALIDATE, 3, 2, SEG_A, 3);
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -EINVAL);
	/* acks at a non-home */
	m = msg(DSM_MSG_INV_ACK, 3, 2, SEG_A, 3);
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -EINVAL);
	CU_ASSERT_EQUAL(st->drop_bad, 13);
	/* unknown segment / out of range for non-requests */
	m = msg(DSM_MSG_INVALIDATE, 1, 2, 99, 3);
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -ENOENT);
	CU_ASSERT_EQUAL(st->drop_noseg, 1);
	m = msg(DSM_MSG_INVALIDATE, 1, 2, SEG_A, SIM_NPAGES);
	CU_ASSERT_EQUAL(sim_inject(s, 2, &m), -ERANGE);
	CU_ASSERT_EQUAL(st->drop_range, 1);
	/* none of it disturbed the pending request */
	CU_ASSERT_EQUAL(s->ncomp, 0);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 1)->status, 0);
	sim_free(s);
}

#define NS(x) ((dsm_nodeset_t)1 << (x))

static int view(struct sim *s, uint16_t node, uint64_t epoch, dsm_nodeset_t members,
		dsm_nodeset_t departed)
{
	int rc;

	dsm_actions_clear(&s->acts);
	rc = dsm_engine_set_view(s->nodes[node].e, s->now, epoch, members, departed,
				 &s->acts);
	sim_exec(s, node, &s->acts);
	return rc;
}

/* An epoch change does not disturb the survivors' messages in flight:
 * only a sender's admission epoch counts, not the receiver's epoch. */
static void test_view_change_keeps_inflight(void)
{
	struct sim *s = mk(3);
	dsm_nodeset_t all = NS(1) | NS(2) | NS(3);
	struct sim_qmsg *q;

	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 0, DSM_READ, 1), 0);   /* epoch 1 */
	CU_ASSERT_EQUAL(view(s, 1, 2, all, 0), 0);
	CU_ASSERT_EQUAL(view(s, 1, 2, all, 0), -ESTALE);              /* not newer */
	CU_ASSERT_EQUAL(dsm_engine_epoch(s->nodes[1].e), 2);
	sim_run(s);                                 /* node 2 still on epoch 1 */
	CU_ASSERT_EQUAL(comp(s, 1)->status, 0);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->drop_epoch, 0);
	/* A message from a newer epoch is accepted by a node still behind. */
	CU_ASSERT_EQUAL(sim_local(s, 1, SEG_B, 0, DSM_READ, 2), 0);
	q = pk(s, 1, 2);
	CU_ASSERT_EQUAL(q->m.epoch, 2);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 2)->status, 0);
	/* Below a member's admission epoch (forged here): dropped. */
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 1, DSM_READ, 3), 0);
	pk(s, 3, 1)->m.epoch = 0;
	CU_ASSERT_EQUAL(sim_deliver(s, 3, 1), -ESTALE);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->drop_epoch, 1);
	sim_free(s);
}

/* A node written off by a view: its pages are accounted for, its late
 * messages are dropped, requests for its segments fail at once; back
 * with a new incarnation it is admitted at the new epoch only. */
static void test_view_departure_and_rejoin(void)
{
	struct sim *s = mk(3);
	dsm_nodeset_t all = NS(1) | NS(2) | NS(3);

	access_ok(s, 3, SEG_A, 4, DSM_WRITE, 1);            /* 3 owns A/4 */
	access_ok(s, 3, SEG_B, 0, DSM_READ, 2);
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 5, DSM_READ, 3), 0); /* late */
	CU_ASSERT_EQUAL(view(s, 1, 2, NS(1) | NS(2), NS(3)), 0);
	CU_ASSERT_EQUAL(view(s, 2, 2, NS(1) | NS(2), NS(3)), 0);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->pages_lost, 1);
	CU_ASSERT_TRUE(sim_info(s, 1, SEG_A, 4).lost);
	CU_ASSERT_FALSE(dsm_engine_is_member(s->nodes[1].e, 3));
	CU_ASSERT_EQUAL(sim_deliver(s, 3, 1), -ESTALE);      /* fenced out */
	CU_ASSERT_EQUAL(sim_stats(s, 1)->drop_epoch, 1);
	/* The departed node learns the view without itself: fenced, every
	 * cached copy dropped, nothing more served or asked for. */
	CU_ASSERT_EQUAL(view(s, 3, 2, NS(1) | NS(2), 0), 0);
	CU_ASSERT_EQUAL(sim_info(s, 3, SEG_A, 4).cache_state, DSM_CS_INVALID);
	CU_ASSERT_EQUAL(sim_info(s, 3, SEG_B, 0).cache_state, DSM_CS_INVALID);
	CU_ASSERT_EQUAL(comp(s, 3)->status, -EHOSTUNREACH);
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_B, 1, DSM_READ, 4), -EHOSTUNREACH);
	CU_ASSERT_EQUAL(sim_stats(s, 3)->home_gone, 1);
	/* The survivor adopts the segments of a home that left; a page that
	 * no survivor holds is lost, never served as zeros. */
	CU_ASSERT_EQUAL(view(s, 1, 3, NS(1), NS(2)), 0);
	CU_ASSERT_TRUE(sim_info(s, 1, SEG_B, 2).is_home);
	CU_ASSERT_EQUAL(sim_local(s, 1, SEG_B, 2, DSM_READ, 5), 0);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 5)->status, -EIO);
	CU_ASSERT_TRUE(sim_info(s, 1, SEG_B, 2).lost);
	/* Rejoin at epoch 4 with a new incarnation (departed on both sides). */
	CU_ASSERT_EQUAL(view(s, 1, 4, all, NS(2) | NS(3)), 0);
	CU_ASSERT_EQUAL(view(s, 2, 4, all, NS(3)), 0);
	CU_ASSERT_EQUAL(view(s, 3, 4, all, NS(3)), 0);
	CU_ASSERT_TRUE(dsm_engine_is_member(s->nodes[3].e, 1));
	access_ok(s, 3, SEG_A, 6, DSM_READ, 6);
	/* A lost page stays lost: never served from the home's old copy. */
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 4, DSM_READ, 7), 0);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 7)->status, -EIO);
	sim_free(s);
}

/* The heir rule every survivor (and cluster.c) applies to a view. */
static void test_rehome_heir_rule(void)
{
	dsm_nodeset_t all = NS(1) | NS(2) | NS(3), moved;

	CU_ASSERT_EQUAL(dsm_engine_heir(all, NS(2) | NS(3), 0, 2, &moved), 2);
	CU_ASSERT_EQUAL(moved, NS(1));
	/* First view: a node not there yet has not left. */
	CU_ASSERT_EQUAL(dsm_engine_heir(0, NS(1) | NS(2), 0, 1, &moved), 1);
	CU_ASSERT_EQUAL(moved, 0);
	/* A restarted node moves, and is not its own heir. */
	CU_ASSERT_EQUAL(dsm_engine_heir(all, all, NS(1), 3, &moved), 2);
	CU_ASSERT_EQUAL(moved, NS(1));
	/* Left out of the view: our own segments move too. */
	CU_ASSERT_EQUAL(dsm_engine_heir(all, NS(1) | NS(2), 0, 3, &moved), 1);
	CU_ASSERT_EQUAL(moved, NS(3));
	/* Nobody left to inherit. */
	CU_ASSERT_EQUAL(dsm_engine_heir(NS(1), 0, 0, 1, &moved), DSM_NODE_NONE);
}

/* A node leaves the sim: whatever it sent or was sent is gone with it. */
static void sim_kill(struct sim *s, uint16_t node)
{
	for (uint16_t o = 1; o <= (uint16_t)s->n; o++) {
		while (sim_queued(s, node, o))
			sim_discard(s, node, o);
		while (sim_queued(s, o, node))
			sim_discard(s, o, node);
	}
}

/* Write A/pg on node and tag the page with ud, as the application would. */
static void write_ok(struct sim *s, uint16_t node, uint64_t pg, uint64_t ud)
{
	access_ok(s, node, SEG_A, pg, DSM_WRITE, ud);
	write_tag(s, node, SEG_A, pg, ud);
}

/* Tick until the heirs' background sweeps are done. */
static void sweep_all(struct sim *s)
{
	for (int k = 0; k < 64; k++) {
		sim_tick(s, s->now);
		sim_run(s);
	}
}

/* The home of A dies.  Its heir (2, the lowest survivor) rebuilds each
 * page from what the survivors hold: an exclusive copy makes its holder
 * the owner, shared copies the sharers; pages only the home held are
 * lost, and counted exactly by the sweep.  A request in flight to the
 * dead home is re-sent to the heir. */
static void test_rehome_from_copies(void)
{
	struct sim *s = mk(3);
	dsm_nodeset_t surv = NS(2) | NS(3);
	const struct dsm_engine_stats *st;

	write_ok(s, 2, 0, 100);          /* 2 owns A/0 */
	write_ok(s, 2, 1, 101);
	access_ok(s, 3, SEG_A, 1, DSM_READ, 1);             /* 2, 3 share A/1 */
	write_ok(s, 1, 2, 102);          /* only home has A/2 */
	write_ok(s, 3, 4, 103);
	write_ok(s, 2, 4, 104);          /* 3 retains old A/4 */
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 4, DSM_READ, 2), 0); /* in flight */
	sim_kill(s, 1);
	CU_ASSERT_EQUAL(view(s, 2, 2, surv, NS(1)), 0);
	CU_ASSERT_EQUAL(view(s, 3, 2, surv, NS(1)), 0);
	CU_ASSERT_EQUAL(sim_stats(s, 2)->rehomed_segs, 2);  /* A and RO */
	CU_ASSERT_TRUE(sim_info(s, 2, SEG_A, 0).is_home);
	CU_ASSERT_TRUE(sim_info(s, 2, SEG_A, 0).recovering);
	CU_ASSERT_EQUAL(sim_info(s, 3, SEG_A, 1).cache_state, DSM_CS_SHARED);
	sim_run(s);
	/* The re-sent read: owner 2 downgraded, its data reaches 3. */
	CU_ASSERT_EQUAL(comp(s, 2)->status, 0);
	CU_ASSERT_EQUAL(sim_tag(s, 3, SEG_A, 4), 104);
	access_ok(s, 3, SEG_A, 0, DSM_READ, 3);
	CU_ASSERT_EQUAL(sim_tag(s, 3, SEG_A, 0), 100);
	/* Shared at 2 and 3: a write by 3 invalidates 2, without data. */
	write_ok(s, 3, 1, 4);
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 1).cache_state, DSM_CS_INVALID);
	CU_ASSERT_EQUAL(sim_tag(s, 3, SEG_A, 1), 4);
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 2, DSM_READ, 5), 0);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 5)->status, -EIO);
	sweep_all(s);
	st = sim_stats(s, 2);
	/* A: 16 pages, 0, 1 and 4 held by survivors; RO: none held. */
	CU_ASSERT_EQUAL(st->pages_recovered, 3);
	CU_ASSERT_EQUAL(st->pages_lost, (SIM_NPAGES - 3) + SIM_NPAGES);
	for (uint64_t pg = 0; pg < SIM_NPAGES; pg++) {
		struct dsm_page_info pi = sim_info(s, 2, SEG_A, pg);

		CU_ASSERT_FALSE(pi.recovering);
		CU_ASSERT_EQUAL(pi.lost, pg != 0 && pg != 1 && pg != 4);
	}
	CU_ASSERT_TRUE(sim_stats(s, 3)->rehome_reports > 0);
	CU_ASSERT_FALSE(sim_info(s, 3, SEG_A, 0).is_home);
	sim_free(s);
}

/* The heir has not applied the view yet: it answers NOTHOME from the old
 * epoch, and the requester asks again until it has. */
static void test_rehome_heir_behind(void)
{
	struct sim *s = mk(3);
	dsm_nodeset_t surv = NS(2) | NS(3);

	write_ok(s, 3, 0, 100);
	sim_kill(s, 1);
	CU_ASSERT_EQUAL(view(s, 3, 2, surv, NS(1)), 0);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 0, DSM_READ, 1), 0); /* to 1 */
	sim_kill(s, 1);
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 5, DSM_READ, 2), 0);
	CU_ASSERT_EQUAL(sim_deliver(s, 3, 2), 0);   /* PAGE_REQ: not home */
	CU_ASSERT_EQUAL(pk(s, 2, 3)->m.status, DSM_ST_NOTHOME);
	CU_ASSERT_EQUAL(sim_deliver(s, 2, 3), 0);   /* NACK: backs off */
	CU_ASSERT_EQUAL(comp(s, 2)->status, 99999);
	CU_ASSERT_EQUAL(view(s, 2, 2, surv, NS(1)), 0);
	/* Retries, and BUSY while the heir's sweep holds the page. */
	for (int k = 0; k < 64; k++) {
		s->now += RETRY_MAX;
		sim_tick(s, s->now);
		sim_run(s);
	}
	/* Nobody held A/5: lost.  Node 2's own read was re-sent to itself. */
	CU_ASSERT_EQUAL(comp(s, 2)->status, -EIO);
	CU_ASSERT_EQUAL(comp(s, 1)->status, 0);
	CU_ASSERT_EQUAL(sim_tag(s, 2, SEG_A, 0), 100);
	sim_free(s);
}

/* A survivor dies while the heir waits for its report: it holds nothing
 * any more, and the round completes without it.  A node that never knew
 * the segment reports NOSEG. */
static void test_rehome_reporter_gone(void)
{
	struct sim *s = mk(4);
	dsm_nodeset_t surv = NS(2) | NS(3) | NS(4);

	access_ok(s, 4, SEG_A, 3, DSM_READ, 100);
	access_ok(s, 3, SEG_A, 3, DSM_READ, 101);
	sim_kill(s, 1);
	for (uint16_t n = 2; n <= 4; n++)
		CU_ASSERT_EQUAL(view(s, n, 2, surv, NS(1)), 0);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 3, DSM_READ, 1), 0);
	CU_ASSERT_EQUAL(sim_deliver(s, 2, 2), 0);         /* to itself */
	CU_ASSERT_EQUAL(sim_queued(s, 2, 3), 1);          /* queries out */
	CU_ASSERT_EQUAL(sim_queued(s, 2, 4), 1);
	CU_ASSERT_EQUAL(sim_deliver(s, 2, 3), 0);
	CU_ASSERT_EQUAL(sim_deliver(s, 3, 2), 0);         /* 3: shared copy */
	sim_kill(s, 4);
	CU_ASSERT_EQUAL(view(s, 2, 3, NS(2) | NS(3), NS(4)), 0);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 1)->status, 0);
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 3).sharers, NS(2) | NS(3));
	/* Unknown segment: NOSEG, no data. */
	CU_ASSERT_EQUAL(sim_inject(s, 3, &(struct dsm_msg){ .type = DSM_MSG_REHOME_QUERY,
		.src = 2, .dst = 3, .epoch = 3, .token = 9, .seg_id = 77 }), 0);
	CU_ASSERT_EQUAL(pk(s, 3, 2)->m.type, DSM_MSG_REHOME_REPORT);
	CU_ASSERT_EQUAL(pk(s, 3, 2)->m.status, DSM_ST_NOSEG);
	CU_ASSERT_EQUAL(pk(s, 3, 2)->m.flags, 0);
	sim_free(s);
}

/* The home itself is written off (its lease expired): it gives its
 * segments up to the heir, keeps no copy, and back as a new incarnation it
 * asks the heir like any other node. */
static void test_rehome_home_fenced(void)
{
	struct sim *s = mk(2);
	dsm_nodeset_t all = NS(1) | NS(2);

	write_ok(s, 2, 0, 100);
	access_ok(s, 1, SEG_A, 1, DSM_WRITE, 1);
	sim_kill(s, 1);
	CU_ASSERT_EQUAL(view(s, 2, 2, NS(2), NS(1)), 0);
	CU_ASSERT_EQUAL(view(s, 1, 2, NS(2), NS(1)), 0);
	CU_ASSERT_FALSE(sim_info(s, 1, SEG_A, 0).is_home);
	CU_ASSERT_EQUAL(sim_info(s, 1, SEG_A, 1).cache_state, DSM_CS_INVALID);
	CU_ASSERT_TRUE(sim_info(s, 2, SEG_A, 0).is_home);
	CU_ASSERT_EQUAL(view(s, 1, 3, all, NS(1)), 0);
	CU_ASSERT_EQUAL(view(s, 2, 3, all, NS(1)), 0);
	access_ok(s, 1, SEG_A, 0, DSM_READ, 2);
	CU_ASSERT_EQUAL(sim_tag(s, 1, SEG_A, 0), 100);
	CU_ASSERT_EQUAL(sim_local(s, 1, SEG_A, 1, DSM_READ, 3), 0);
	sim_run(s);
	CU_ASSERT_EQUAL(comp(s, 3)->status, -EIO);   /* only the old 1 had it */
	sim_free(s);
}

/* dsm_engine_fence: the node stops answering and asking before any view
 * says so (its lease could not be renewed in time). */
static void test_fence(void)
{
	struct sim *s = mk(2);

	access_ok(s, 2, SEG_A, 1, DSM_READ, 1);
	CU_ASSERT_EQUAL(sim_local(s, 1, SEG_B, 0, DSM_READ, 2), 0);
	dsm_actions_clear(&s->acts);
	dsm_engine_fence(s->nodes[2].e, s->now, &s->acts);
	sim_exec(s, 2, &s->acts);
	CU_ASSERT_EQUAL(sim_info(s, 2, SEG_A, 1).cache_state, DSM_CS_INVALID);
	CU_ASSERT_EQUAL(sim_deliver(s, 1, 2), -ESTALE);     /* not served */
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 2, DSM_READ, 3), -EHOSTUNREACH);
	CU_ASSERT_FALSE(dsm_engine_is_member(s->nodes[2].e, 1));
	/* Back in a view: serving again. */
	CU_ASSERT_EQUAL(view(s, 2, 3, NS(1) | NS(2), NS(2)), 0);
	access_ok(s, 2, SEG_A, 2, DSM_READ, 4);
	sim_free(s);
}

/* Writebacks: only from the owner, only at the directory version. */
static void test_stale_version_writeback(void)
{
	struct sim *s = mk(3);
	struct sim_qmsg saved;
	struct dsm_msg m;
	uint8_t junk[SIM_PS];

	memset(junk, 0xcc, sizeof(junk));
	access_ok(s, 2, SEG_A, 3, DSM_WRITE, 1);
	write_tag(s, 2, SEG_A, 3, 0x600d);
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 3, DSM_WRITE, 2), 0);
	sim_deliver(s, 3, 1);
	sim_deliver(s, 1, 2);                        /* 2 acks with data */
	saved = *pk(s, 2, 1);
	m = saved.m;
	m.payload = junk;
	m.version = 0;                               /* older version */
	CU_ASSERT_EQUAL(sim_inject(s, 1, &m), -ESTALE);
	m.version = 1; m.src = 3;                     /* not the owner */
	CU_ASSERT_EQUAL(sim_inject(s, 1, &m), -ESTALE);
	m.src = 2; m.token ^= 1;                      /* wrong token */
	CU_ASSERT_EQUAL(sim_inject(s, 1, &m), -ESTALE);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->drop_stale, 3);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->writebacks, 0);
	CU_ASSERT_EQUAL(sim_deliver(s, 2, 1), 0);    /* the real one */
	CU_ASSERT_EQUAL(sim_stats(s, 1)->writebacks, 1);
	saved.m.payload = junk;                      /* its duplicate */
	CU_ASSERT_EQUAL(sim_inject(s, 1, &saved.m), -ESTALE);
	sim_run(s);
	CU_ASSERT_EQUAL(sim_tag(s, 3, SEG_A, 3), 0x600d);
	/* an old recall arriving at the new owner cannot take its data */
	m = msg(DSM_MSG_INVALIDATE, 1, 3, SEG_A, 3);
	m.version = 1;
	CU_ASSERT_EQUAL(sim_inject(s, 3, &m), -ESTALE);
	m.type = DSM_MSG_DOWNGRADE;
	CU_ASSERT_EQUAL(sim_inject(s, 3, &m), -ESTALE);
	CU_ASSERT_EQUAL(sim_info(s, 3, SEG_A, 3).cache_state, DSM_CS_EXCLUSIVE);
	sim_free(s);
}

/* Every message type delivered twice in a row. */
static void test_duplicates_each_type(void)
{
	struct sim *s = mk(4);
	const struct dsm_engine_stats *h = sim_stats(s, 1);
	uint32_t i;

	s->dup_pct = 100;
	access_ok(s, 2, SEG_A, 0, DSM_READ, 1);          /* REQ, GRANT(zero) */
	CU_ASSERT(h->drop_dup >= 1);                     /* dup PAGE_REQ */
	CU_ASSERT(sim_stats(s, 2)->drop_stale >= 1);     /* dup GRANT */
	access_ok(s, 3, SEG_A, 0, DSM_READ, 2);
	access_ok(s, 4, SEG_A, 0, DSM_WRITE, 3);         /* INVALIDATE x2 */
	write_tag(s, 4, SEG_A, 0, 0x44);
	CU_ASSERT(sim_stats(s, 2)->invalidations_rx == 2);
	access_ok(s, 2, SEG_A, 0, DSM_READ, 4);          /* DOWNGRADE x2 */
	CU_ASSERT_EQUAL(sim_tag(s, 2, SEG_A, 0), 0x44);
	CU_ASSERT_EQUAL(sim_stats(s, 4)->downgrades_rx, 2);
	access_ok(s, 3, SEG_A, 0, DSM_WRITE, 5);         /* INV_ACK x2 */
	write_tag(s, 3, SEG_A, 0, 0x33);
	access_ok(s, 4, SEG_A, 0, DSM_WRITE, 6);         /* recall x2 */
	CU_ASSERT_EQUAL(sim_tag(s, 4, SEG_A, 0), 0x33);
	CU_ASSERT_EQUAL(sim_stats(s, 1)->writebacks, 2);
	CU_ASSERT(h->drop_dup + h->drop_stale >= 4);
	/* BUSY NACK duplicated */
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 0, DSM_WRITE, 7), 0);
	CU_ASSERT_EQUAL(sim_local(s, 3, SEG_A, 0, DSM_WRITE, 8), 0);
	sim_run(s);
	for (i = 0; i < 20 && (!sim_comp_of(s, 7) || !sim_comp_of(s, 8)); i++) {
		sim_tick(s, s->now + (RETRY << 5));
		sim_run(s);
	}
	CU_ASSERT_EQUAL(comp(s, 7)->status, 0);
	CU_ASSERT_EQUAL(comp(s, 8)->status, 0);
	for (i = 1; i <= 8; i++)
		CU_ASSERT_EQUAL(sim_ncomp_of(s, i), 1);
	CU_ASSERT_EQUAL(s->overflow, 0);
	sim_free(s);
}

/* Concurrent requests from different nodes, delivered in random orders. */
static void test_reordered_senders(void)
{
	uint64_t seed;

	for (seed = 1; seed <= 50; seed++) {
		struct dsm_engine_cfg c = base_cfg();
		struct sim *s = sim_new(4, &c, seed);
		struct dsm_page_info pi;
		uint32_t i, ok = 0, excl = 0;

		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		s->random_order = true;
		access_ok(s, 2, SEG_A, 1, DSM_WRITE, 1);
		for (i = 2; i <= 4; i++)
			sim_local(s, (uint16_t)i, SEG_A, 1,
				  i % 2 ? DSM_READ : DSM_WRITE, 10 + i);
		sim_local(s, 1, SEG_A, 1, DSM_WRITE, 15);
		for (i = 0; i < 40; i++) {
			sim_run(s);
			sim_tick(s, s->now + RETRY * 4);
		}
		sim_run(s);
		for (i = 2; i <= 5; i++)
			if (sim_comp_of(s, 10 + i) && comp(s, 10 + i)->status == 0)
				ok++;
		CU_ASSERT_EQUAL(ok, 4);
		for (i = 1; i <= 4; i++)
			excl += sim_info(s, (uint16_t)i, SEG_A, 1).cache_state ==
				DSM_CS_EXCLUSIVE;
		pi = sim_info(s, 1, SEG_A, 1);
		CU_ASSERT_FALSE(pi.busy);
		CU_ASSERT(excl <= 1);
		sim_free(s);
	}
}

/* ---- limits --------------------------------------------------------- */

static void test_action_overflow(void)
{
	struct dsm_engine_cfg c = base_cfg();
	struct dsm_segment_desc d = { .seg_id = 1, .home = 1,
		.prot = DSM_PROT_READ | DSM_PROT_WRITE, .page_size = 64,
		.npages = 1024 };
	struct {
		struct dsm_actions acts;
		uint64_t canary;
	} *box = calloc(1, sizeof(*box));
	struct dsm_engine *e;
	uint64_t pg;
	int refused = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(box);
	c.self = 2;
	c.max_pending = 300;
	c.max_waiters = 300;
	e = dsm_engine_create(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(dsm_engine_add_segment(e, &d), 0);
	box->canary = 0x0123456789abcdefull;
	dsm_actions_clear(&box->acts);
	/* A caller that never clears: the array is nearly full already. */
	box->acts.n = DSM_ACTIONS_MAX - 128;
	for (pg = 0; pg < 200; pg++)
		if (dsm_engine_local(e, 1, 1, pg, DSM_READ, pg, &box->acts) != 0)
			refused++;
	CU_ASSERT_EQUAL(refused, 0);
	CU_ASSERT_EQUAL(box->acts.n, DSM_ACTIONS_MAX);
	CU_ASSERT_EQUAL(box->acts.overflow, 200 - 128);
	CU_ASSERT_EQUAL(box->canary, 0x0123456789abcdefull);
	/* the engine stays usable: everything times out cleanly, and a tick
	 * that fails every request fits a cleared array */
	dsm_actions_clear(&box->acts);
	dsm_engine_tick(e, 1 + REQ_TMO, &box->acts);
	CU_ASSERT_EQUAL(dsm_engine_stats(e)->timeouts, 200);
	CU_ASSERT_EQUAL(box->acts.n, 200);
	CU_ASSERT_EQUAL(box->acts.overflow, 0);
	CU_ASSERT_EQUAL(box->canary, 0x0123456789abcdefull);
	CU_ASSERT_EQUAL(dsm_engine_next_deadline(e), UINT64_MAX);
	dsm_engine_destroy(e);
	free(box);
}

static void test_slot_exhaustion(void)
{
	struct dsm_engine_cfg c = base_cfg();
	struct sim *s;
	uint64_t pg;

	c.max_pending = 2;
	c.max_waiters = 3;
	s = sim_new(2, &c, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 0, DSM_READ, 1), 0);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 1, DSM_READ, 2), 0);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 2, DSM_READ, 3), -ENOSPC);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 0, DSM_READ, 4), 0);
	CU_ASSERT_EQUAL(sim_local(s, 2, SEG_A, 0, DSM_READ, 5), -ENOSPC);
	CU_ASSERT_EQUAL(sim_stats(s, 2)->no_slot, 2);
	sim_run(s);
	for (pg = 0; pg < 3; pg++)
		access_ok(s, 2, SEG_A, 3 + pg, DSM_WRITE, 10 + pg);
	sim_free(s);
}

static void test_shard_routing(void)
{
	struct dsm_engine_cfg c = base_cfg();
	struct dsm_segment_desc d = { .seg_id = 5, .home = 1,
		.prot = DSM_PROT_READ | DSM_PROT_WRITE, .page_size = 64,
		.npages = 4096 };
	uint32_t hist[4] = { 0 }, sh, base;
	struct dsm_engine *e;
	struct dsm_actions *acts = calloc(1, sizeof(*acts));
	struct dsm_msg m;
	uint64_t pg, other = UINT64_MAX, mine = UINT64_MAX;

	CU_ASSERT_PTR_NOT_NULL_FATAL(acts);
	for (pg = 0; pg < 4096; pg++) {
		sh = dsm_engine_shard_of(5, pg, 4);
		CU_ASSERT_FATAL(sh < 4);
		CU_ASSERT_EQUAL(sh, dsm_engine_shard_of(5, pg, 4));
		hist[sh]++;
		base = dsm_engine_shard_of(5, pg & ~7ull, 4);
		CU_ASSERT_EQUAL(sh, base);                    /* 8-page groups */
	}
	for (sh = 0; sh < 4; sh++)
		CU_ASSERT(hist[sh] > 4096 / 4 / 2);
	CU_ASSERT_EQUAL(dsm_engine_shard_of(5, 123, 1), 0);
	CU_ASSERT_NOT_EQUAL(dsm_engine_shard_of(5, 0, 1u << 20),
			    dsm_engine_shard_of(6, 0, 1u << 20));
	c.self = 1; c.nshards = 4; c.shard = 1;
	e = dsm_engine_create(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(dsm_engine_add_segment(e, &d), 0);
	for (pg = 0; pg < 4096; pg += 8) {
		if (dsm_engine_shard_of(5, pg, 4) == 1)
			mine = pg;
		else
			other = pg;
	}
	dsm_actions_clear(acts);
	CU_ASSERT_EQUAL(dsm_engine_local(e, 1, 5, other, DSM_READ, 1, acts), -EXDEV);
	CU_ASSERT_EQUAL(acts->n, 0);
	m = msg(DSM_MSG_PAGE_REQ, 2, 1, 5, other);
	CU_ASSERT_EQUAL(dsm_engine_rx(e, 1, &m, acts), -EXDEV);
	CU_ASSERT_EQUAL(acts->n, 0);
	CU_ASSERT_EQUAL(dsm_engine_stats(e)->drop_bad, 2);
	m.pgno = mine;
	CU_ASSERT_EQUAL(dsm_engine_rx(e, 1, &m, acts), 0);
	CU_ASSERT_EQUAL(acts->n, 1);
	CU_ASSERT_EQUAL(acts->a[0].msg.type, DSM_MSG_PAGE_GRANT);
	dsm_engine_destroy(e);
	free(acts);
}

/* ---- randomized stress ---------------------------------------------- */

struct stress {
	uint64_t latest[SIM_NSEGS][SIM_NPAGES]; /* tag of last completed write */
	uint32_t bad_reads, bad_state, completions, ok_reads, ok_writes;
	uint32_t failed;
	uint8_t *done;                           /* per user_data */
	uint32_t *target;                        /* seg index << 8 | pgno */
	uint8_t *intent;
	uint32_t nreq;
};

static void stress_complete(struct sim *s, uint16_t node, const struct dsm_action *a)
{
	struct stress *st = s->ctx;
	uint64_t ud = a->user_data;
	uint32_t si, pg;
	uint8_t *page;

	if (ud >= st->nreq) {
		st->bad_state++;
		return;
	}
	st->done[ud]++;
	st->completions++;
	if (a->status != 0) {
		st->failed++;
		if (getenv("STRESS_VERBOSE"))
			fprintf(stderr, "E%d ", a->status);
		return;
	}
	si = st->target[ud] >> 8;
	pg = st->target[ud] & 0xff;
	page = s->nodes[node].page[si][pg];
	if (st->intent[ud] == DSM_WRITE) {
		if (a->state != DSM_CS_EXCLUSIVE)
			st->bad_state++;
		memcpy(page, &ud, sizeof(ud));       /* tag = unique user_data */
		st->latest[si][pg] = ud;
		st->ok_writes++;
	} else {
		uint64_t t;

		memcpy(&t, page, sizeof(t));
		if (t != st->latest[si][pg])
			st->bad_reads++;
		if (a->state == DSM_CS_INVALID)
			st->bad_state++;
		st->ok_reads++;
	}
}

static const uint32_t stress_segs[2] = { SEG_A, SEG_B };

/* Single writer / multiple readers, and every holder has the latest tag. */
static uint32_t check_swmr(struct sim *s, struct stress *st)
{
	uint32_t bad = 0, k, pg;
	uint16_t n;

	for (k = 0; k < 2; k++) {
		int si = sim_seg_index(stress_segs[k]);

		for (pg = 0; pg < 4; pg++) {
			uint32_t ex = 0, sh = 0;

			for (n = 1; n <= s->n; n++) {
				struct dsm_page_info pi = sim_info(s, n, stress_segs[k], pg);

				if (pi.cache_state == DSM_CS_INVALID)
					continue;
				ex += pi.cache_state == DSM_CS_EXCLUSIVE;
				sh += pi.cache_state == DSM_CS_SHARED;
				if (sim_tag(s, n, stress_segs[k], pg) != st->latest[si][pg])
					bad++;
			}
			if (ex > 1 || (ex == 1 && sh > 0))
				bad++;
		}
	}
	return bad;
}

static void run_stress(uint64_t seed, int nodes, uint32_t steps,
		       uint32_t dup_pct, uint32_t drop_pct)
{
	struct dsm_engine_cfg c = base_cfg();
	struct stress st;
	struct sim *s;
	uint32_t i, violations = 0, ud;

	memset(&st, 0, sizeof(st));
	st.nreq = steps;
	st.done = calloc(steps, 1);
	st.target = calloc(steps, sizeof(*st.target));
	st.intent = calloc(steps, 1);
	CU_ASSERT_FATAL(st.done && st.target && st.intent);
	c.max_pending = 8;
	c.max_waiters = 32;
	c.max_retries = 8;
	s = sim_new(nodes, &c, seed);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	s->random_order = true;
	s->dup_pct = dup_pct;
	s->drop_pct = drop_pct;
	s->on_complete = stress_complete;
	s->ctx = &st;
	ud = 1;                                   /* 0 never used */
	for (i = 0; i < steps; i++) {
		uint64_t r = sim_rand(s) % 100;
		int rc;

		s->now += 100;
		if (r < 15 && ud < steps) {
			uint32_t k = (uint32_t)(sim_rand(s) % 2);
			uint32_t pg = (uint32_t)(sim_rand(s) % 4);
			uint16_t n = (uint16_t)(1 + sim_rand(s) % (uint64_t)nodes);
			enum dsm_intent in = sim_rand(s) % 3 == 0 ? DSM_WRITE : DSM_READ;

			st.target[ud] = (uint32_t)sim_seg_index(stress_segs[k]) << 8 | pg;
			st.intent[ud] = (uint8_t)in;
			if (sim_local(s, n, stress_segs[k], pg, in, ud) != 0)
				st.done[ud] = 1;          /* refused: no COMPLETE */
			ud++;
		} else if (r < 98) {
			sim_step(s, &rc);
		} else {
			sim_tick(s, s->now + (sim_rand(s) % 8 == 0 ? HOME_TMO : RETRY * 8));
		}
		violations += check_swmr(s, &st);
	}
	/* drain: deliver everything, let every deadline pass */
	for (i = 0; i < 50; i++) {
		sim_run(s);
		violations += check_swmr(s, &st);
		sim_tick(s, s->now + REQ_TMO);
	}
	sim_run(s);
	if (getenv("STRESS_VERBOSE"))
		fprintf(stderr, "violations %u bad_reads %u bad_state %u\n",
			violations, st.bad_reads, st.bad_state);
	CU_ASSERT_EQUAL(violations, 0);
	CU_ASSERT_EQUAL(st.bad_reads, 0);
	CU_ASSERT_EQUAL(st.bad_state, 0);
	for (i = 1; i < ud; i++)
		if (st.done[i] != 1)
			violations++;
	if (getenv("STRESS_VERBOSE"))
		fprintf(stderr, "\nseed %llu: req %u ok_w %u ok_r %u failed %u sends %llu dups %llu drops %llu\n",
			(unsigned long long)seed, ud, st.ok_writes, st.ok_reads,
			st.failed, (unsigned long long)s->sends,
			(unsigned long long)s->dups, (unsigned long long)s->drops);
	CU_ASSERT_EQUAL(violations, 0);           /* each request exactly once */
	CU_ASSERT_EQUAL(s->overflow, 0);
	CU_ASSERT(st.ok_writes > steps / 50);      /* the test did something */
	CU_ASSERT(st.ok_reads > steps / 20);
	for (i = 1; i <= (uint32_t)nodes; i++) {
		CU_ASSERT_EQUAL(dsm_engine_next_deadline(s->nodes[i].e), UINT64_MAX);
		if (drop_pct == 0 && dup_pct == 0)
			CU_ASSERT_EQUAL(sim_stats(s, (uint16_t)i)->drop_bad, 0);
	}
	sim_free(s);
	free(st.done);
	free(st.target);
	free(st.intent);
}

/* Soak mode: DSM_STRESS_SEEDS=N adds N more seeds to each stress variant
 * (CI runs the fixed ones). */
static uint64_t extra_seeds(void)
{
	const char *v = getenv("DSM_STRESS_SEEDS");

	return v ? strtoull(v, NULL, 10) : 0;
}

static void test_stress_clean(void)
{
	uint64_t seed;

	for (seed = 1; seed <= 6 + extra_seeds(); seed++)
		run_stress(seed, 3 + (int)(seed % 2), 20000, 0, 0);
}

static void test_stress_dup(void)
{
	uint64_t seed;

	for (seed = 100; seed <= 105 + extra_seeds(); seed++)
		run_stress(seed * 7919, 4, 20000, 10, 0);
}

static void test_stress_dup_drop(void)
{
	uint64_t seed;

	for (seed = 200; seed <= 205 + extra_seeds(); seed++)
		run_stress(seed * 104729, 4, 20000, 5, 2);
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "create_validation", test_create_validation },
		{ "read_never_written_zero", test_read_never_written_zero },
		{ "read_downgrade_and_written", test_read_downgrade_and_written },
		{ "write_unowned", test_write_unowned },
		{ "write_shared_invalidates", test_write_shared_invalidates },
		{ "write_recall_exclusive", test_write_recall_exclusive },
		{ "upgrade_without_data", test_upgrade_without_data },
		{ "nodata_grant_mismatch", test_nodata_grant_mismatch },
		{ "grant_version_checks", test_grant_version_checks },
		{ "crossing_invalidation", test_crossing_invalidation },
		{ "coalesce_read_read", test_coalesce_read_read },
		{ "coalesce_read_then_write", test_coalesce_read_then_write },
		{ "busy_retry_and_exhaustion", test_busy_retry_and_exhaustion },
		{ "nack_status_mapping", test_nack_status_mapping },
		{ "late_grant_after_timeout", test_late_grant_after_timeout },
		{ "home_deadline", test_home_deadline },
		{ "lost_recall_ack", test_lost_recall_ack },
		{ "peer_down", test_peer_down },
		{ "peer_down_sharer", test_peer_down_sharer },
		{ "peer_down_token_reuse", test_peer_down_token_reuse },
		{ "local_refusals", test_local_refusals },
		{ "home_refusals", test_home_refusals },
		{ "bad_messages", test_bad_messages },
		{ "view_change_keeps_inflight", test_view_change_keeps_inflight },
		{ "view_departure_and_rejoin", test_view_departure_and_rejoin },
		{ "fence", test_fence },
		{ "rehome_heir_rule", test_rehome_heir_rule },
		{ "rehome_from_copies", test_rehome_from_copies },
		{ "rehome_heir_behind", test_rehome_heir_behind },
		{ "rehome_reporter_gone", test_rehome_reporter_gone },
		{ "rehome_home_fenced", test_rehome_home_fenced },
		{ "stale_version_writeback", test_stale_version_writeback },
		{ "duplicates_each_type", test_duplicates_each_type },
		{ "reordered_senders", test_reordered_senders },
		{ "action_overflow", test_action_overflow },
		{ "slot_exhaustion", test_slot_exhaustion },
		{ "shard_routing", test_shard_routing },
		{ "stress_clean", test_stress_clean },
		{ "stress_dup", test_stress_dup },
		{ "stress_dup_drop", test_stress_dup_drop },
	};

	return DSM_CUNIT_MAIN("engine_coherence", tests, NULL);
}
