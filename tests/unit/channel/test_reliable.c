/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for dataplane/channel/reliable.c.
 *
 * Frames are small heap structs carrying a payload id; a global counter of
 * live frames proves that every frame handed to the channel comes back
 * exactly once (delivered, released or refused).  The chaos tests run two
 * endpoints over a deterministic simulated link (seeded PRNG, fake clock)
 * that drops, duplicates, reorders and delays frames and acks in both
 * directions.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include "cunit_main.h"

#include "channel/reliable.h"

/* ---------------------------------------------------------------- frames */

struct pkt {
	uint64_t id;
	unsigned calls; /* callbacks that handed this frame back */
};

static long live_pkts;

static struct pkt *pkt_new(uint64_t id)
{
	struct pkt *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	p->id = id;
	live_pkts++;
	return p;
}

static void pkt_free(struct pkt *p)
{
	live_pkts--;
	free(p);
}

/* Records callback invocations; optionally frees the frame. */
#define REC_MAX 64
struct rec {
	unsigned n;
	uint32_t seq[REC_MAX];
	struct pkt *pkt[REC_MAX];
	bool free_pkts;
};

static void rec_cb(void *ctx, void *p, uint32_t seq)
{
	struct rec *r = ctx;
	struct pkt *k = p;

	k->calls++;
	if (r->n < REC_MAX) {
		r->seq[r->n] = seq;
		r->pkt[r->n] = k;
	}
	r->n++;
	if (r->free_pkts)
		pkt_free(k);
}

static void cfg_small(struct dsm_chan_cfg *c, uint32_t window)
{
	dsm_chan_cfg_default(c);
	c->window = window;
	c->rto_ns = 1000;
	c->rto_max_ns = 16000;
	c->max_retx = 8;
	c->ack_delay_ns = 50;
}

/* Send n frames with ids = seq - base; returns number sent. */
static unsigned tx_n(struct dsm_chan *ch, unsigned n, uint64_t now)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		uint32_t seq = 0;
		struct pkt *p = pkt_new(ch->snd_nxt);

		if (dsm_chan_tx(ch, p, now, &seq) != 0) {
			pkt_free(p);
			break;
		}
	}
	return i;
}

static void fini_free(struct dsm_chan *ch)
{
	struct rec r = { .free_pkts = true };

	dsm_chan_fini(ch, rec_cb, &r);
}

/* ------------------------------------------------------------ basic API */

static void test_cfg_init(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	static const uint32_t bad[] = { 0, 3, 6, 100, 4095, 8192, 1u << 31 };
	unsigned i;

	dsm_chan_cfg_default(&c);
	CU_ASSERT_EQUAL(c.window, 256);
	CU_ASSERT_EQUAL(c.rto_ns, 200000);
	CU_ASSERT_EQUAL(c.rto_max_ns, 20000000);
	CU_ASSERT_EQUAL(c.max_retx, 12);
	CU_ASSERT_EQUAL(c.ack_delay_ns, 20000);

	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	CU_ASSERT_EQUAL(ch.mask, 255);
	CU_ASSERT_EQUAL(ch.snd_una, 0);
	CU_ASSERT_EQUAL(ch.snd_nxt, 0);
	CU_ASSERT_EQUAL(ch.rcv_nxt, 0);
	CU_ASSERT_FALSE(ch.dead);
	CU_ASSERT_FALSE(ch.ack_pending);
	CU_ASSERT_EQUAL(dsm_chan_tx_space(&ch), 256);
	CU_ASSERT_EQUAL(dsm_chan_in_flight(&ch), 0);
	fini_free(&ch);
	CU_ASSERT_PTR_NULL(ch.tx);
	CU_ASSERT_PTR_NULL(ch.rx);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.window = bad[i];
		CU_ASSERT_EQUAL(dsm_chan_init(&ch, &c), -EINVAL);
	}
	c.window = 1;
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	fini_free(&ch);
	c.window = 4096;
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	CU_ASSERT_EQUAL(ch.mask, 4095);
	fini_free(&ch);

	dsm_chan_cfg_default(&c);
	c.rto_ns = 0;
	CU_ASSERT_EQUAL(dsm_chan_init(&ch, &c), -EINVAL);
	dsm_chan_cfg_default(&c);
	c.rto_max_ns = c.rto_ns - 1;
	CU_ASSERT_EQUAL(dsm_chan_init(&ch, &c), -EINVAL);
	CU_ASSERT_EQUAL(dsm_chan_init(&ch, NULL), -EINVAL);

	dsm_chan_cfg_default(&c);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init_seq(&ch, &c, 0xfffffff0u, 7), 0);
	CU_ASSERT_EQUAL(ch.snd_una, 0xfffffff0u);
	CU_ASSERT_EQUAL(ch.snd_nxt, 0xfffffff0u);
	CU_ASSERT_EQUAL(ch.rcv_nxt, 7);
	CU_ASSERT_EQUAL(dsm_chan_tx(&ch, NULL, 0, NULL), -EINVAL);
	fini_free(&ch);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

/* Two channels wired back to back by hand: no loss. */
static void test_inorder(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan a, b;
	struct rec del = { .free_pkts = true }, rel = { .free_pkts = true };
	uint32_t seq, ack, sack, i;

	cfg_small(&c, 16);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&a, &c), 0);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&b, &c), 0);
	for (i = 0; i < 10; i++) {
		struct pkt *p = pkt_new(i);

		CU_ASSERT_EQUAL(dsm_chan_tx(&a, p, 100 + i, &seq), 0);
		CU_ASSERT_EQUAL(seq, i);
		CU_ASSERT_EQUAL(dsm_chan_rx(&b, seq, pkt_new(i), 100 + i,
					    rec_cb, &del), DSM_CHAN_RX_DELIVERED);
	}
	CU_ASSERT_EQUAL(dsm_chan_in_flight(&a), 10);
	CU_ASSERT_EQUAL(dsm_chan_tx_space(&a), 6);
	CU_ASSERT_EQUAL_FATAL(del.n, 10);
	for (i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(del.seq[i], i);
	CU_ASSERT_EQUAL(b.stats.rx_delivered, 10);
	CU_ASSERT_EQUAL(b.stats.rx_ooo, 0);
	CU_ASSERT_TRUE(b.ack_pending);

	dsm_chan_ack_fields(&b, &ack, &sack);
	CU_ASSERT_EQUAL(ack, 10);
	CU_ASSERT_EQUAL(sack, 0);
	CU_ASSERT_FALSE(b.ack_pending);
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&a, ack, sack, 200, rec_cb, &rel), 10);
	CU_ASSERT_EQUAL_FATAL(rel.n, 10);
	for (i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(rel.seq[i], i);
	CU_ASSERT_EQUAL(dsm_chan_in_flight(&a), 0);
	CU_ASSERT_EQUAL(a.stats.acks_rx, 1);
	CU_ASSERT_EQUAL(a.stats.tx_frames, 10);
	/* Nothing in flight, no ack pending: nothing to wait for. */
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&a), UINT64_MAX);
	CU_ASSERT_EQUAL(dsm_chan_poll(&a, 1000000, rec_cb, &rel), 0);
	fini_free(&a);
	fini_free(&b);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

static void test_window_full(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	struct rec rel = { .free_pkts = true };
	struct pkt *p;
	uint32_t seq = 12345;

	cfg_small(&c, 8);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	CU_ASSERT_EQUAL(tx_n(&ch, 8, 0), 8);
	CU_ASSERT_EQUAL(dsm_chan_tx_space(&ch), 0);
	p = pkt_new(99);
	CU_ASSERT_EQUAL(dsm_chan_tx(&ch, p, 0, &seq), -ENOBUFS);
	CU_ASSERT_EQUAL(seq, 12345); /* untouched */
	CU_ASSERT_EQUAL(ch.stats.tx_full, 1);
	CU_ASSERT_EQUAL(ch.snd_nxt, 8);
	CU_ASSERT_EQUAL(p->calls, 0); /* caller still owns it */

	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 3, 0, 10, rec_cb, &rel), 3);
	CU_ASSERT_EQUAL(dsm_chan_tx_space(&ch), 3);
	CU_ASSERT_EQUAL(dsm_chan_tx(&ch, p, 10, &seq), 0);
	CU_ASSERT_EQUAL(seq, 8);
	CU_ASSERT_EQUAL(tx_n(&ch, 5, 10), 2);
	CU_ASSERT_EQUAL(ch.stats.tx_full, 2);
	CU_ASSERT_EQUAL(dsm_chan_in_flight(&ch), 8);
	CU_ASSERT_EQUAL(ch.stats.tx_frames, 11);
	fini_free(&ch);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

static void test_bad_acks(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	struct dsm_chan_txslot snap[8];
	struct rec rel = { .free_pkts = true };

	cfg_small(&c, 8);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init_seq(&ch, &c, 100, 0), 0);
	CU_ASSERT_EQUAL(tx_n(&ch, 5, 0), 5); /* 100..104 */
	memcpy(snap, ch.tx, sizeof(snap));

	/* Beyond snd_nxt. */
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 106, 0, 1, rec_cb, &rel), -EINVAL);
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 100 + 0x80000000u, 0, 1, rec_cb, &rel),
			-EINVAL);
	CU_ASSERT_EQUAL(ch.stats.bad_acks, 2);
	CU_ASSERT_EQUAL(rel.n, 0);
	CU_ASSERT_EQUAL(ch.snd_una, 100);
	CU_ASSERT_EQUAL(memcmp(snap, ch.tx, sizeof(snap)), 0);

	/* ack == snd_una: valid, releases nothing, not an advance. */
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 100, 0, 1, rec_cb, &rel), 0);
	CU_ASSERT_EQUAL(ch.stats.acks_rx, 0);
	CU_ASSERT_EQUAL(ch.stats.bad_acks, 2);

	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 101, 0, 1, rec_cb, &rel), 1);
	CU_ASSERT_EQUAL(ch.snd_una, 101);
	memcpy(snap, ch.tx, sizeof(snap));
	/* Stale but within a window behind snd_una: ignored, sack included. */
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 100, 0x6, 2, rec_cb, &rel), 0);
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 101 - 8, 0xff, 2, rec_cb, &rel), 0);
	CU_ASSERT_EQUAL(ch.stats.bad_acks, 2);
	CU_ASSERT_EQUAL(memcmp(snap, ch.tx, sizeof(snap)), 0);
	/* More than a window behind: bad. */
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 101 - 9, 0, 2, rec_cb, &rel), -EINVAL);
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 101 - 0x7fffffffu, 0, 2, rec_cb, &rel),
			-EINVAL);
	CU_ASSERT_EQUAL(ch.stats.bad_acks, 4);
	CU_ASSERT_EQUAL(ch.snd_una, 101);
	CU_ASSERT_EQUAL(ch.snd_nxt, 105);
	CU_ASSERT_EQUAL(memcmp(snap, ch.tx, sizeof(snap)), 0);
	CU_ASSERT_EQUAL(rel.n, 1);

	/* Sack bits beyond snd_nxt are ignored; within, they mark. */
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 101, 0xffffffffu, 3, rec_cb, &rel), 0);
	CU_ASSERT_FALSE(ch.tx[101 & 7].sacked);
	CU_ASSERT_TRUE(ch.tx[102 & 7].sacked);
	CU_ASSERT_TRUE(ch.tx[104 & 7].sacked);
	CU_ASSERT_PTR_NULL(ch.tx[105 & 7].pkt);
	CU_ASSERT_FALSE(ch.tx[105 & 7].sacked);
	CU_ASSERT_EQUAL(ch.stats.bad_acks, 4);
	fini_free(&ch);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

static void test_rx_duplicates(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	struct rec del = { .free_pkts = true };
	struct pkt *d;

	cfg_small(&c, 8);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 0, pkt_new(0), 1, rec_cb, &del),
			DSM_CHAN_RX_DELIVERED);
	d = pkt_new(0);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 0, d, 2, rec_cb, &del), DSM_CHAN_RX_DUP);
	CU_ASSERT_EQUAL(d->calls, 0);
	pkt_free(d);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 2, pkt_new(2), 3, rec_cb, &del),
			DSM_CHAN_RX_BUFFERED);
	d = pkt_new(2);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 2, d, 4, rec_cb, &del), DSM_CHAN_RX_DUP);
	pkt_free(d);
	CU_ASSERT_EQUAL(del.n, 1);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 1, pkt_new(1), 5, rec_cb, &del),
			DSM_CHAN_RX_DELIVERED);
	CU_ASSERT_EQUAL_FATAL(del.n, 3);
	CU_ASSERT_EQUAL(del.seq[0], 0);
	CU_ASSERT_EQUAL(del.seq[1], 1);
	CU_ASSERT_EQUAL(del.seq[2], 2);
	CU_ASSERT_EQUAL(ch.rcv_nxt, 3);
	d = pkt_new(2);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 2, d, 6, rec_cb, &del), DSM_CHAN_RX_DUP);
	pkt_free(d);
	/* A very old frame (far behind) is a duplicate too. */
	d = pkt_new(0);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 3 - 0x7fffffffu, d, 7, rec_cb, &del),
			DSM_CHAN_RX_DUP);
	pkt_free(d);
	CU_ASSERT_EQUAL(del.n, 3);
	CU_ASSERT_EQUAL(ch.stats.rx_dup, 4);
	CU_ASSERT_EQUAL(ch.stats.rx_ooo, 1);
	CU_ASSERT_EQUAL(ch.stats.rx_delivered, 3);
	fini_free(&ch);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

static void test_rx_out_of_window(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	struct rec del = { .free_pkts = true };
	struct pkt *d;

	cfg_small(&c, 8);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init_seq(&ch, &c, 0, 0xfffffffcu), 0);
	/* rcv_nxt = 2^32-4: window covers ..fffc .. 3. */
	d = pkt_new(0);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 4, d, 1, rec_cb, &del), DSM_CHAN_RX_OOW);
	pkt_free(d);
	d = pkt_new(0);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 1000, d, 1, rec_cb, &del), DSM_CHAN_RX_OOW);
	pkt_free(d);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 3, pkt_new(3), 1, rec_cb, &del),
			DSM_CHAN_RX_BUFFERED);
	CU_ASSERT_EQUAL(ch.stats.rx_oow, 2);
	CU_ASSERT_EQUAL(ch.stats.rx_ooo, 1);
	CU_ASSERT_EQUAL(del.n, 0);
	/* Filling the window front slides it: 4 becomes acceptable. */
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 0xfffffffcu, pkt_new(0), 2, rec_cb, &del),
			DSM_CHAN_RX_DELIVERED);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 4, pkt_new(4), 2, rec_cb, &del),
			DSM_CHAN_RX_BUFFERED);
	d = pkt_new(0);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 5, d, 2, rec_cb, &del), DSM_CHAN_RX_OOW);
	pkt_free(d);
	CU_ASSERT_EQUAL(ch.stats.rx_oow, 3);
	{
		struct rec rel = { .free_pkts = false };
		unsigned i;

		dsm_chan_fini(&ch, rec_cb, &rel);
		CU_ASSERT_EQUAL_FATAL(rel.n, 2);
		CU_ASSERT_EQUAL(rel.seq[0], 3);
		CU_ASSERT_EQUAL(rel.seq[1], 4);
		for (i = 0; i < 2; i++)
			pkt_free(rel.pkt[i]);
	}
	CU_ASSERT_EQUAL(live_pkts, 0);
}

static void test_sack_bitmap(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	struct rec del = { .free_pkts = true };
	uint32_t ack, sack;
	struct pkt *d;

	cfg_small(&c, 64);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	dsm_chan_ack_fields(&ch, &ack, &sack);
	CU_ASSERT_EQUAL(ack, 0);
	CU_ASSERT_EQUAL(sack, 0);
	dsm_chan_rx(&ch, 1, pkt_new(1), 1, rec_cb, &del);
	dsm_chan_rx(&ch, 3, pkt_new(3), 1, rec_cb, &del);
	dsm_chan_rx(&ch, 32, pkt_new(32), 1, rec_cb, &del);
	dsm_chan_rx(&ch, 33, pkt_new(33), 1, rec_cb, &del); /* past the bitmap */
	dsm_chan_ack_fields(&ch, &ack, &sack);
	CU_ASSERT_EQUAL(ack, 0);
	CU_ASSERT_EQUAL(sack, 0x80000005u);
	fini_free(&ch);

	/* Small window: only window-1 bits can be meaningful. */
	cfg_small(&c, 4);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	dsm_chan_rx(&ch, 1, pkt_new(1), 1, rec_cb, &del);
	dsm_chan_rx(&ch, 3, pkt_new(3), 1, rec_cb, &del);
	d = pkt_new(4);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 4, d, 1, rec_cb, &del), DSM_CHAN_RX_OOW);
	pkt_free(d);
	dsm_chan_ack_fields(&ch, &ack, &sack);
	CU_ASSERT_EQUAL(ack, 0);
	CU_ASSERT_EQUAL(sack, 0x5);
	fini_free(&ch);

	/* Across the wrap. */
	cfg_small(&c, 16);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init_seq(&ch, &c, 0, 0xfffffffeu), 0);
	dsm_chan_rx(&ch, 0xffffffffu, pkt_new(0), 1, rec_cb, &del);
	dsm_chan_rx(&ch, 1, pkt_new(0), 1, rec_cb, &del);
	dsm_chan_ack_fields(&ch, &ack, &sack);
	CU_ASSERT_EQUAL(ack, 0xfffffffeu);
	CU_ASSERT_EQUAL(sack, 0x5);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 0xfffffffeu, pkt_new(0), 2, rec_cb, &del),
			DSM_CHAN_RX_DELIVERED);
	dsm_chan_ack_fields(&ch, &ack, &sack);
	CU_ASSERT_EQUAL(ack, 0);
	CU_ASSERT_EQUAL(sack, 0x1);
	CU_ASSERT_EQUAL(del.n, 2);
	fini_free(&ch);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

static void test_sack_suppresses_retx(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	struct rec rtx = { .free_pkts = false }, rel = { .free_pkts = true };
	uint32_t sack;

	cfg_small(&c, 16);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	CU_ASSERT_EQUAL(tx_n(&ch, 10, 0), 10); /* 0..9, deadline 1000 */
	/* Receiver holds 1..9 except 5 (bit i = seq 1+i). */
	sack = 0x1ffu & ~(1u << 4);
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 0, sack, 10, rec_cb, &rel), 0);
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, 999, rec_cb, &rtx), 0);
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, 1000, rec_cb, &rtx), 2);
	CU_ASSERT_EQUAL_FATAL(rtx.n, 2);
	CU_ASSERT_EQUAL(rtx.seq[0], 0);
	CU_ASSERT_EQUAL(rtx.seq[1], 5);
	CU_ASSERT_EQUAL(ch.stats.retx_frames, 2);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), 3000);
	/* The sack is sticky: a later ack without the bits does not undo it. */
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 0, 0, 20, rec_cb, &rel), 0);
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, 3000, rec_cb, &rtx), 2);
	CU_ASSERT_EQUAL(rtx.n, 4);
	/* Cumulative ack past 5: only sacked frames remain, nothing to do. */
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 6, 0, 30, rec_cb, &rel), 6);
	CU_ASSERT_EQUAL(rel.n, 6);
	/* snd_una (6) is never left sacked: it keeps a timer running. */
	CU_ASSERT_FALSE(ch.tx[6].sacked);
	CU_ASSERT_TRUE(ch.tx[7].sacked);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), 1000);
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, 5000, rec_cb, &rtx), 1);
	CU_ASSERT_EQUAL(rtx.seq[4], 6);
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 10, 0, 40, rec_cb, &rel), 4);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), UINT64_MAX);
	CU_ASSERT_EQUAL(ch.stats.retx_frames, 5);
	fini_free(&ch);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

/* The RTO follows the measured round trip (RFC 6298), within
 * [rto_min, rto_max], and ignores samples of retransmitted frames. */
static void test_adaptive_rto(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	struct rec r = { .free_pkts = true };
	struct rec rtx = { .free_pkts = false };
	uint64_t now = 0;
	unsigned i;

	cfg_small(&c, 8);
	c.rto_ns = 1000;
	c.rto_min_ns = 100;
	c.rto_max_ns = 100000;
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	CU_ASSERT_EQUAL(ch.rto, 1000);
	/* A steady 5000 ns round trip: rto converges onto it (and above). */
	for (i = 0; i < 64; i++) {
		CU_ASSERT_EQUAL(tx_n(&ch, 1, now), 1);
		now += 5000;
		CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, ch.snd_nxt, 0, now, rec_cb, &r), 1);
	}
	CU_ASSERT(ch.srtt >= 4900 && ch.srtt <= 5100);
	CU_ASSERT(ch.rto >= 5000 && ch.rto <= 6000);
	/* The first transmission's timer uses the learned rto. */
	CU_ASSERT_EQUAL(tx_n(&ch, 1, now), 1);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), now + ch.rto);
	/* Karn: an ack of a retransmitted frame is no sample. */
	{
		uint64_t srtt = ch.srtt, rto = ch.rto;

		CU_ASSERT_EQUAL(dsm_chan_poll(&ch, now + rto, rec_cb, &rtx), 1);
		CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, ch.snd_nxt, 0, now + 90000, rec_cb, &r), 1);
		CU_ASSERT_EQUAL(ch.srtt, srtt);
		CU_ASSERT_EQUAL(ch.rto, rto);
	}
	/* Fast round trips never push the rto below rto_min. */
	for (i = 0; i < 64; i++) {
		CU_ASSERT_EQUAL(tx_n(&ch, 1, now), 1);
		now += 10;
		CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, ch.snd_nxt, 0, now, rec_cb, &r), 1);
	}
	CU_ASSERT_EQUAL(ch.rto, 100);
	/* Slow ones never above rto_max. */
	for (i = 0; i < 64; i++) {
		CU_ASSERT_EQUAL(tx_n(&ch, 1, now), 1);
		now += 1000000;
		CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, ch.snd_nxt, 0, now, rec_cb, &r), 1);
	}
	CU_ASSERT_EQUAL(ch.rto, 100000);
	fini_free(&ch);
}

static void test_backoff(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	struct rec rtx = { .free_pkts = false };
	/* rto 100, doubling, capped at 800. */
	static const uint64_t at[] = { 100, 300, 700, 1500, 2300, 3100 };
	unsigned i;

	cfg_small(&c, 4);
	c.rto_ns = 100;
	c.rto_max_ns = 800;
	c.max_retx = 20;
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	CU_ASSERT_EQUAL(tx_n(&ch, 1, 0), 1);
	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), at[i]);
		CU_ASSERT_EQUAL(dsm_chan_poll(&ch, at[i] - 1, rec_cb, &rtx), 0);
		CU_ASSERT_EQUAL(dsm_chan_poll(&ch, at[i], rec_cb, &rtx), 1);
		CU_ASSERT_EQUAL(ch.tx[0].retx, i + 1);
		CU_ASSERT_EQUAL(ch.tx[0].sent_at, at[i]);
		CU_ASSERT_EQUAL(dsm_chan_poll(&ch, at[i], rec_cb, &rtx), 0);
	}
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), 3900);
	/* A late poll times the next retransmission from when it happened. */
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, 10000, rec_cb, &rtx), 1);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), 10800);
	CU_ASSERT_EQUAL(rtx.n, 7);
	CU_ASSERT_EQUAL(ch.stats.retx_frames, 7);
	CU_ASSERT_EQUAL(ch.stats.tx_frames, 1);
	fini_free(&ch);

	/* Huge retx counts must not overflow the shift. */
	cfg_small(&c, 4);
	c.rto_ns = 1;
	c.rto_max_ns = UINT64_MAX / 2;
	c.max_retx = 200;
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	CU_ASSERT_EQUAL(tx_n(&ch, 1, 0), 1);
	ch.tx[0].retx = 150;
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, 1, rec_cb, &rtx), 1);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), 1 + UINT64_MAX / 2);
	fini_free(&ch);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

/* DSM_CHAN_RETX_FOREVER (membership): retransmit at the capped interval. */
static void test_max_retx_unlimited(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	struct rec rtx = { .free_pkts = false };
	uint64_t now = 0;

	cfg_small(&c, 4);
	c.rto_ns = 100;
	c.rto_max_ns = 1000;
	c.max_retx = DSM_CHAN_RETX_FOREVER;
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	CU_ASSERT_EQUAL(tx_n(&ch, 1, 0), 1);
	for (int i = 0; i < 500; i++) {
		now += 1000;
		CU_ASSERT_EQUAL(dsm_chan_poll(&ch, now, rec_cb, &rtx), 1);
	}
	CU_ASSERT_FALSE(ch.dead);
	CU_ASSERT_EQUAL(ch.stats.timeouts, 0);
	CU_ASSERT_EQUAL(ch.tx[ch.snd_una & ch.mask].retx, 500);
	fini_free(&ch);
}

static void test_max_retx_dead(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	struct rec rtx = { .free_pkts = false }, rel = { .free_pkts = false };
	struct pkt *p;
	uint32_t seq = 77;

	cfg_small(&c, 4);
	c.rto_ns = 100;
	c.rto_max_ns = 1000;
	c.max_retx = 3;
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	CU_ASSERT_EQUAL(tx_n(&ch, 2, 0), 2);
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, 100, rec_cb, &rtx), 2);
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, 300, rec_cb, &rtx), 2);
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, 700, rec_cb, &rtx), 2);
	CU_ASSERT_FALSE(ch.dead);
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, 1499, rec_cb, &rtx), 0);
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, 1500, rec_cb, &rtx), -ETIMEDOUT);
	CU_ASSERT_TRUE(ch.dead);
	CU_ASSERT_EQUAL(ch.stats.timeouts, 1);
	CU_ASSERT_EQUAL(ch.stats.retx_frames, 6);
	CU_ASSERT_EQUAL(rtx.n, 6);
	/* Stays dead, counted once. */
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, 100000, rec_cb, &rtx), -ETIMEDOUT);
	CU_ASSERT_EQUAL(ch.stats.timeouts, 1);
	CU_ASSERT_EQUAL(rtx.n, 6);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), UINT64_MAX);
	p = pkt_new(5);
	CU_ASSERT_EQUAL(dsm_chan_tx(&ch, p, 2000, &seq), -EPIPE);
	CU_ASSERT_EQUAL(seq, 77);
	CU_ASSERT_EQUAL(ch.stats.tx_full, 0);

	dsm_chan_reset(&ch, rec_cb, &rel);
	CU_ASSERT_EQUAL_FATAL(rel.n, 2);
	CU_ASSERT_EQUAL(rel.pkt[0]->calls, 1 + 3); /* 3 retransmits + release */
	CU_ASSERT_EQUAL(rel.pkt[1]->calls, 1 + 3);
	pkt_free(rel.pkt[0]);
	pkt_free(rel.pkt[1]);
	CU_ASSERT_FALSE(ch.dead);
	CU_ASSERT_EQUAL(ch.stats.resets, 1);
	CU_ASSERT_EQUAL(dsm_chan_tx(&ch, p, 2000, &seq), 0);
	CU_ASSERT_EQUAL(seq, 0);
	fini_free(&ch);

	/* max_retx 0: the first expiry kills the channel. */
	cfg_small(&c, 4);
	c.max_retx = 0;
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	CU_ASSERT_EQUAL(tx_n(&ch, 1, 0), 1);
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, c.rto_ns, rec_cb, &rtx), -ETIMEDOUT);
	CU_ASSERT_EQUAL(rtx.n, 6);
	fini_free(&ch);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

static void test_reset_releases(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	struct rec rel1 = { .free_pkts = true }, rel = { .free_pkts = false };
	struct rec del = { .free_pkts = true };
	static const uint32_t want[] = { 102, 103, 104, 201, 203, 205 };
	unsigned i;

	cfg_small(&c, 16);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init_seq(&ch, &c, 100, 200), 0);
	CU_ASSERT_EQUAL(tx_n(&ch, 5, 0), 5);
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 102, 0, 1, rec_cb, &rel1), 2);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 201, pkt_new(201), 1, rec_cb, &del),
			DSM_CHAN_RX_BUFFERED);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 203, pkt_new(203), 1, rec_cb, &del),
			DSM_CHAN_RX_BUFFERED);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 205, pkt_new(205), 1, rec_cb, &del),
			DSM_CHAN_RX_BUFFERED);
	CU_ASSERT_TRUE(ch.ack_pending);
	CU_ASSERT_EQUAL(live_pkts, 6);

	dsm_chan_reset(&ch, rec_cb, &rel);
	CU_ASSERT_EQUAL_FATAL(rel.n, 6);
	for (i = 0; i < 6; i++) {
		CU_ASSERT_EQUAL(rel.seq[i], want[i]);
		CU_ASSERT_EQUAL(rel.pkt[i]->calls, 1);
	}
	CU_ASSERT_EQUAL(ch.snd_una, 0);
	CU_ASSERT_EQUAL(ch.snd_nxt, 0);
	CU_ASSERT_EQUAL(ch.rcv_nxt, 0);
	CU_ASSERT_FALSE(ch.ack_pending);
	CU_ASSERT_FALSE(ch.dead);
	CU_ASSERT_EQUAL(ch.stats.resets, 1);
	CU_ASSERT_EQUAL(ch.stats.tx_frames, 5); /* stats survive a reset */
	for (i = 0; i < 16; i++) {
		CU_ASSERT_PTR_NULL(ch.tx[i].pkt);
		CU_ASSERT_PTR_NULL(ch.rx[i]);
	}
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), UINT64_MAX);

	/* Again: nothing held, nothing released. */
	dsm_chan_reset(&ch, rec_cb, &rel);
	CU_ASSERT_EQUAL(rel.n, 6);
	for (i = 0; i < 6; i++)
		pkt_free(rel.pkt[i]);
	CU_ASSERT_EQUAL(live_pkts, 0);

	/* Refill both sides; fini releases everything exactly once. */
	rel.n = 0;
	CU_ASSERT_EQUAL(tx_n(&ch, 16, 0), 16);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 15, pkt_new(15), 1, rec_cb, &del),
			DSM_CHAN_RX_BUFFERED);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 1, pkt_new(1), 1, rec_cb, &del),
			DSM_CHAN_RX_BUFFERED);
	dsm_chan_fini(&ch, rec_cb, &rel);
	CU_ASSERT_EQUAL_FATAL(rel.n, 18);
	for (i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(rel.seq[i], i);
	CU_ASSERT_EQUAL(rel.seq[16], 1);
	CU_ASSERT_EQUAL(rel.seq[17], 15);
	for (i = 0; i < 18; i++) {
		CU_ASSERT_EQUAL(rel.pkt[i]->calls, 1);
		pkt_free(rel.pkt[i]);
	}
	CU_ASSERT_EQUAL(del.n, 0);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

static void test_next_deadline(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	struct rec rtx = { .free_pkts = false }, del = { .free_pkts = true };
	uint32_t ack, sack;

	cfg_small(&c, 8); /* rto 1000, ack_delay 50 */
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), UINT64_MAX);
	CU_ASSERT_EQUAL(tx_n(&ch, 1, 10), 1);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), 1010);
	CU_ASSERT_EQUAL(tx_n(&ch, 1, 20), 1);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), 1010);
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, 1010, rec_cb, &rtx), 1);
	/* seq 0 now due at 1010 + 2000; seq 1 at 1020. */
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), 1020);
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&ch, 0, 0x1, 1015, rec_cb, &rtx), 0);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), 3010); /* sacked excluded */
	/* A pending ack counts. */
	dsm_chan_rx(&ch, 0, pkt_new(0), 1100, rec_cb, &del);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), 1150);
	dsm_chan_ack_fields(&ch, &ack, &sack);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), 3010);
	dsm_chan_rx(&ch, 2, pkt_new(2), 1200, rec_cb, &del); /* out of order */
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), 1200);
	dsm_chan_ack_fields(&ch, &ack, &sack);
	/* Dead: only the ack deadline remains. */
	ch.tx[0].retx = c.max_retx;
	CU_ASSERT_EQUAL(dsm_chan_poll(&ch, 3010, rec_cb, &rtx), -ETIMEDOUT);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), UINT64_MAX);
	dsm_chan_rx(&ch, 1, pkt_new(1), 4000, rec_cb, &del);
	CU_ASSERT_EQUAL(dsm_chan_next_deadline(&ch), 4000); /* filled a gap */
	fini_free(&ch);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

static void test_ack_due(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	struct rec del = { .free_pkts = true };
	uint32_t ack, sack;
	struct pkt *d;

	cfg_small(&c, 8); /* ack_delay 50 */
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	CU_ASSERT_FALSE(dsm_chan_ack_due(&ch, 0));
	CU_ASSERT_FALSE(dsm_chan_ack_due(&ch, UINT64_MAX));

	/* In order: delayed ack, not pushed back by later frames. */
	dsm_chan_rx(&ch, 0, pkt_new(0), 100, rec_cb, &del);
	CU_ASSERT_TRUE(ch.ack_pending);
	CU_ASSERT_FALSE(dsm_chan_ack_due(&ch, 149));
	CU_ASSERT_TRUE(dsm_chan_ack_due(&ch, 150));
	dsm_chan_rx(&ch, 1, pkt_new(1), 120, rec_cb, &del);
	CU_ASSERT_FALSE(dsm_chan_ack_due(&ch, 149));
	CU_ASSERT_TRUE(dsm_chan_ack_due(&ch, 150));
	dsm_chan_ack_fields(&ch, &ack, &sack);
	CU_ASSERT_EQUAL(ack, 2);
	CU_ASSERT_EQUAL(sack, 0);
	CU_ASSERT_FALSE(ch.ack_pending);
	CU_ASSERT_FALSE(dsm_chan_ack_due(&ch, 1000));

	/* Out of order: immediate. */
	dsm_chan_rx(&ch, 3, pkt_new(3), 200, rec_cb, &del);
	CU_ASSERT_TRUE(dsm_chan_ack_due(&ch, 200));
	dsm_chan_ack_fields(&ch, &ack, &sack);
	CU_ASSERT_EQUAL(ack, 2);
	CU_ASSERT_EQUAL(sack, 0x1);
	/* In-order frame filling the gap: immediate. */
	dsm_chan_rx(&ch, 2, pkt_new(2), 300, rec_cb, &del);
	CU_ASSERT_TRUE(dsm_chan_ack_due(&ch, 300));
	dsm_chan_ack_fields(&ch, &ack, &sack);
	CU_ASSERT_EQUAL(ack, 4);
	CU_ASSERT_EQUAL(sack, 0);
	/* Duplicate: immediate (the peer missed our ack). */
	d = pkt_new(1);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 1, d, 400, rec_cb, &del), DSM_CHAN_RX_DUP);
	pkt_free(d);
	CU_ASSERT_TRUE(dsm_chan_ack_due(&ch, 400));
	dsm_chan_ack_fields(&ch, &ack, &sack);
	/* Out of window: immediate too. */
	d = pkt_new(100);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 100, d, 500, rec_cb, &del), DSM_CHAN_RX_OOW);
	pkt_free(d);
	CU_ASSERT_TRUE(dsm_chan_ack_due(&ch, 500));
	dsm_chan_ack_fields(&ch, &ack, &sack);
	/* A delayed ack already armed is pulled forward by a duplicate. */
	dsm_chan_rx(&ch, 4, pkt_new(4), 600, rec_cb, &del);
	CU_ASSERT_FALSE(dsm_chan_ack_due(&ch, 610));
	d = pkt_new(4);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 4, d, 610, rec_cb, &del), DSM_CHAN_RX_DUP);
	pkt_free(d);
	CU_ASSERT_TRUE(dsm_chan_ack_due(&ch, 610));
	CU_ASSERT_EQUAL(del.n, 5);
	fini_free(&ch);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

/* deliver() replying on the same channel sees its own frame acknowledged,
 * and its piggybacked ack clears ack_pending. */
struct reentry {
	struct dsm_chan *ch;
	unsigned calls;
	uint32_t acks[4];
};

static void reenter_cb(void *ctx, void *p, uint32_t seq)
{
	struct reentry *r = ctx;
	uint32_t ack, sack;

	(void)seq;
	dsm_chan_ack_fields(r->ch, &ack, &sack);
	if (r->calls < 4)
		r->acks[r->calls] = ack;
	r->calls++;
	pkt_free(p);
}

static void test_reentrant_deliver(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan ch;
	struct rec del = { .free_pkts = true };
	struct reentry r = { .ch = &ch };

	cfg_small(&c, 8);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init(&ch, &c), 0);
	dsm_chan_rx(&ch, 1, pkt_new(1), 1, rec_cb, &del);
	dsm_chan_rx(&ch, 2, pkt_new(2), 1, rec_cb, &del);
	dsm_chan_ack_fields(&ch, NULL, NULL);
	CU_ASSERT_EQUAL(dsm_chan_rx(&ch, 0, pkt_new(0), 2, reenter_cb, &r),
			DSM_CHAN_RX_DELIVERED);
	CU_ASSERT_EQUAL_FATAL(r.calls, 3);
	CU_ASSERT_EQUAL(r.acks[0], 1);
	CU_ASSERT_EQUAL(r.acks[1], 2);
	CU_ASSERT_EQUAL(r.acks[2], 3);
	CU_ASSERT_FALSE(ch.ack_pending);
	fini_free(&ch);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

/* ------------------------------------------------------- simulated link */

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

struct link_cfg {
	double   p_drop;    /* each frame (data or ack) */
	double   p_dup;     /* delivered twice (independent delays) */
	double   p_long;    /* extra long delay (beyond rto) */
	uint64_t base_ns;   /* minimum one-way delay */
	uint64_t jitter_ns; /* uniform extra delay: reorders */
	uint64_t long_ns;   /* uniform extra delay when p_long hits */
};

struct wframe {
	uint64_t at, order;
	bool     data;
	uint32_t seq, ack, sack;
	uint64_t id;
};

struct link {
	struct link_cfg cfg;
	uint64_t *rng;
	struct wframe *q;
	size_t n, cap;
	uint64_t order;
	uint64_t sent, dropped, duped;
};

static void link_send(struct link *l, const struct wframe *f, uint64_t now)
{
	unsigned copies, i;

	l->sent++;
	if (rng_unit(l->rng) < l->cfg.p_drop) {
		l->dropped++;
		return;
	}
	copies = rng_unit(l->rng) < l->cfg.p_dup ? 2 : 1;
	l->duped += copies - 1;
	for (i = 0; i < copies; i++) {
		uint64_t delay = l->cfg.base_ns +
				 rng_next(l->rng) % (l->cfg.jitter_ns + 1);

		if (l->cfg.long_ns && rng_unit(l->rng) < l->cfg.p_long)
			delay += rng_next(l->rng) % l->cfg.long_ns;
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 256;
			l->q = realloc(l->q, l->cap * sizeof(*l->q));
			if (l->q == NULL) {
				fprintf(stderr, "out of memory\n");
				exit(2);
			}
		}
		l->q[l->n] = *f;
		l->q[l->n].at = now + delay;
		l->q[l->n].order = l->order++;
		l->n++;
	}
}

static size_t link_min(const struct link *l)
{
	size_t i, m = 0;

	for (i = 1; i < l->n; i++)
		if (l->q[i].at < l->q[m].at ||
		    (l->q[i].at == l->q[m].at && l->q[i].order < l->q[m].order))
			m = i;
	return m;
}

static uint64_t link_next(const struct link *l)
{
	return l->n ? l->q[link_min(l)].at : UINT64_MAX;
}

static bool link_pop(struct link *l, uint64_t now, struct wframe *f)
{
	size_t m;

	if (l->n == 0)
		return false;
	m = link_min(l);
	if (l->q[m].at > now)
		return false;
	*f = l->q[m];
	l->q[m] = l->q[--l->n];
	return true;
}

struct ep {
	struct dsm_chan ch;
	struct link *out;
	const uint64_t *clock;
	uint32_t tx_base, peer_base;
	uint64_t n_send, next_id, expect, released;
	uint64_t errors, bad_ack_ret;
};

static void ep_emit(struct ep *e, uint32_t seq, uint64_t id)
{
	struct wframe f = { .data = true, .seq = seq, .id = id };

	dsm_chan_ack_fields(&e->ch, &f.ack, &f.sack);
	link_send(e->out, &f, *e->clock);
}

static void ep_retx_cb(void *ctx, void *p, uint32_t seq)
{
	struct ep *e = ctx;
	struct pkt *k = p;

	if ((uint32_t)(seq - e->tx_base) != k->id)
		e->errors++;
	ep_emit(e, seq, k->id);
}

static void ep_release_cb(void *ctx, void *p, uint32_t seq)
{
	struct ep *e = ctx;
	struct pkt *k = p;

	if ((uint32_t)(seq - e->tx_base) != k->id)
		e->errors++;
	e->released++;
	pkt_free(k);
}

static void ep_deliver_cb(void *ctx, void *p, uint32_t seq)
{
	struct ep *e = ctx;
	struct pkt *k = p;

	if (k->id != e->expect || (uint32_t)(seq - e->peer_base) != k->id)
		e->errors++;
	e->expect++;
	pkt_free(k);
}

static void ep_input(struct ep *e, const struct wframe *f, uint64_t now)
{
	struct pkt *k;
	enum dsm_chan_rx_res r;

	if (dsm_chan_on_ack(&e->ch, f->ack, f->sack, now, ep_release_cb, e) < 0)
		e->bad_ack_ret++;
	if (!f->data)
		return;
	if ((uint32_t)(f->seq - e->peer_base) != f->id)
		e->errors++;
	k = pkt_new(f->id);
	r = dsm_chan_rx(&e->ch, f->seq, k, now, ep_deliver_cb, e);
	if (r == DSM_CHAN_RX_DUP || r == DSM_CHAN_RX_OOW)
		pkt_free(k);
}

static void ep_step(struct ep *e, uint64_t now)
{
	if (dsm_chan_poll(&e->ch, now, ep_retx_cb, e) < 0)
		e->errors++;
	while (e->next_id < e->n_send && dsm_chan_tx_space(&e->ch) > 0) {
		struct pkt *k = pkt_new(e->next_id);
		uint32_t seq;

		if (dsm_chan_tx(&e->ch, k, now, &seq) != 0) {
			pkt_free(k);
			e->errors++;
			break;
		}
		if ((uint32_t)(seq - e->tx_base) != e->next_id)
			e->errors++;
		ep_emit(e, seq, e->next_id);
		e->next_id++;
	}
	if (dsm_chan_ack_due(&e->ch, now)) {
		struct wframe f = { .data = false };

		dsm_chan_ack_fields(&e->ch, &f.ack, &f.sack);
		link_send(e->out, &f, now);
	}
}

static bool ep_done(const struct ep *e, const struct ep *peer)
{
	return e->next_id == e->n_send && dsm_chan_in_flight(&e->ch) == 0 &&
	       e->expect == peer->n_send;
}

struct sim_res {
	bool     finished;
	uint64_t errors, iters, end_ns;
	struct dsm_chan_stats a, b;
	uint64_t sent, dropped, duped, bad_ack_ret;
};

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void run_sim(uint64_t seed, const struct link_cfg *lc,
		    const struct dsm_chan_cfg *cc, uint32_t a_base,
		    uint32_t b_base, uint64_t n, struct sim_res *res)
{
	uint64_t rng = seed, now = 1000000000ull, stuck = 0;
	struct link ab = { .cfg = *lc, .rng = &rng };
	struct link ba = { .cfg = *lc, .rng = &rng };
	struct ep a = { .out = &ab, .clock = &now, .tx_base = a_base,
			.peer_base = b_base, .n_send = n };
	struct ep b = { .out = &ba, .clock = &now, .tx_base = b_base,
			.peer_base = a_base, .n_send = n };
	struct wframe f;

	memset(res, 0, sizeof(*res));
	if (dsm_chan_init_seq(&a.ch, cc, a_base, b_base) != 0 ||
	    dsm_chan_init_seq(&b.ch, cc, b_base, a_base) != 0) {
		res->errors = 1;
		return;
	}
	for (res->iters = 0; res->iters < 50000000ull; res->iters++) {
		uint64_t next;

		while (link_pop(&ab, now, &f))
			ep_input(&b, &f, now);
		while (link_pop(&ba, now, &f))
			ep_input(&a, &f, now);
		ep_step(&a, now);
		ep_step(&b, now);
		if (ep_done(&a, &b) && ep_done(&b, &a)) {
			res->finished = true;
			break;
		}
		if (a.ch.dead || b.ch.dead)
			break;
		next = min_u64(min_u64(link_next(&ab), link_next(&ba)),
			       min_u64(dsm_chan_next_deadline(&a.ch),
				       dsm_chan_next_deadline(&b.ch)));
		if (next == UINT64_MAX)
			break; /* stalled: nothing will ever happen */
		if (next > now) {
			now = next;
			stuck = 0;
		} else if (++stuck > 1000) {
			break; /* a deadline in the past that nobody serves */
		}
	}
	res->end_ns = now - 1000000000ull;
	res->a = a.ch.stats;
	res->b = b.ch.stats;
	res->sent = ab.sent + ba.sent;
	res->dropped = ab.dropped + ba.dropped;
	res->duped = ab.duped + ba.duped;
	res->bad_ack_ret = a.bad_ack_ret + b.bad_ack_ret;
	dsm_chan_fini(&a.ch, ep_release_cb, &a);
	dsm_chan_fini(&b.ch, ep_release_cb, &b);
	res->errors = a.errors + b.errors;
	if (res->finished && (a.released != n || b.released != n))
		res->errors++;
	free(ab.q);
	free(ba.q);
}

static const struct link_cfg chaos = {
	.p_drop = 0.20, .p_dup = 0.10, .p_long = 0.01,
	.base_ns = 5000, .jitter_ns = 60000, .long_ns = 2000000,
};

static void check_chaos(uint64_t seed, uint32_t a_base, uint32_t b_base,
			uint64_t n)
{
	struct dsm_chan_cfg cc;
	struct sim_res r;

	dsm_chan_cfg_default(&cc);
	run_sim(seed, &chaos, &cc, a_base, b_base, n, &r);
	printf("\n    seed %#" PRIx64 ": %" PRIu64 " us, sent %" PRIu64
	       " dropped %" PRIu64 " duped %" PRIu64 ", retx %" PRIu64 "+%" PRIu64
	       " ooo %" PRIu64 "+%" PRIu64 " dup %" PRIu64 "+%" PRIu64
	       " bad_acks %" PRIu64 "+%" PRIu64 " ",
	       seed, r.end_ns / 1000, r.sent, r.dropped, r.duped,
	       r.a.retx_frames, r.b.retx_frames, r.a.rx_ooo, r.b.rx_ooo,
	       r.a.rx_dup, r.b.rx_dup, r.a.bad_acks, r.b.bad_acks);
	CU_ASSERT_TRUE(r.finished);
	CU_ASSERT_EQUAL(r.errors, 0);
	CU_ASSERT_EQUAL(r.a.rx_delivered, n);
	CU_ASSERT_EQUAL(r.b.rx_delivered, n);
	CU_ASSERT_EQUAL(r.a.tx_frames, n);
	CU_ASSERT_EQUAL(r.b.tx_frames, n);
	CU_ASSERT_EQUAL(r.a.timeouts + r.b.timeouts, 0);
	CU_ASSERT_EQUAL(r.a.rx_oow + r.b.rx_oow, 0);
	CU_ASSERT_EQUAL(r.bad_ack_ret, r.a.bad_acks + r.b.bad_acks);
	/* The link really was hostile. */
	CU_ASSERT_TRUE(r.a.retx_frames > 0 && r.b.retx_frames > 0);
	CU_ASSERT_TRUE(r.a.rx_ooo > 0 && r.b.rx_ooo > 0);
	CU_ASSERT_TRUE(r.a.rx_dup > 0 && r.b.rx_dup > 0);
	CU_ASSERT_TRUE(r.dropped > r.sent / 10);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

static void test_perfect_link(void)
{
	static const struct link_cfg perfect = { .base_ns = 3000 };
	struct dsm_chan_cfg cc;
	struct sim_res r;

	dsm_chan_cfg_default(&cc);
	run_sim(1, &perfect, &cc, 0, 0, 2000, &r);
	CU_ASSERT_TRUE(r.finished);
	CU_ASSERT_EQUAL(r.errors, 0);
	CU_ASSERT_EQUAL(r.a.rx_delivered, 2000);
	CU_ASSERT_EQUAL(r.b.rx_delivered, 2000);
	CU_ASSERT_EQUAL(r.a.retx_frames + r.b.retx_frames, 0);
	CU_ASSERT_EQUAL(r.a.rx_dup + r.b.rx_dup, 0);
	CU_ASSERT_EQUAL(r.a.rx_ooo + r.b.rx_ooo, 0);
	CU_ASSERT_EQUAL(r.a.bad_acks + r.b.bad_acks, 0);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

static void test_chaos_seeds(void)
{
	static const uint64_t seeds[] = { 1, 2, 42, 0xdeadbeefull, 20240601 };
	unsigned i;

	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		check_chaos(seeds[i], 0, 0, 10000);
}

static void test_chaos_wraparound(void)
{
	/* Both directions cross 2^32 early in the run. */
	check_chaos(7, 0xffffff00u, 0xfffffffdu, 3000);
	check_chaos(8, 0x7fffff80u, 0xffffffffu, 3000);
}

/* Hand-driven wrap: tx, ack with sack and rx all across UINT32_MAX. */
static void test_wraparound(void)
{
	struct dsm_chan_cfg c;
	struct dsm_chan a, b;
	struct rec del = { .free_pkts = true }, rel = { .free_pkts = false };
	struct rec rtx = { .free_pkts = false };
	uint32_t seq, ack, sack, i;
	const uint32_t start = 0xfffffffcu;

	cfg_small(&c, 16);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init_seq(&a, &c, start, 0), 0);
	CU_ASSERT_EQUAL_FATAL(dsm_chan_init_seq(&b, &c, 0, start), 0);
	for (i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(dsm_chan_tx(&a, pkt_new(i), 0, &seq), 0);
		CU_ASSERT_EQUAL(seq, start + i);
	}
	CU_ASSERT_EQUAL(a.snd_nxt, 4);
	CU_ASSERT_EQUAL(dsm_chan_in_flight(&a), 8);
	CU_ASSERT_EQUAL(dsm_chan_tx_space(&a), 8);
	/* b receives start+1, start+3 (= 0xffffffff), start+5 (= 1). */
	for (i = 1; i < 8; i += 2)
		if (i != 7)
			CU_ASSERT_EQUAL(dsm_chan_rx(&b, start + i, pkt_new(i), 1,
						    rec_cb, &del),
					DSM_CHAN_RX_BUFFERED);
	dsm_chan_ack_fields(&b, &ack, &sack);
	CU_ASSERT_EQUAL(ack, start);
	CU_ASSERT_EQUAL(sack, 0x15); /* bits 0, 2, 4 */
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&a, ack, sack, 2, rec_cb, &rel), 0);
	CU_ASSERT_EQUAL(dsm_chan_poll(&a, c.rto_ns, rec_cb, &rtx), 5);
	CU_ASSERT_EQUAL_FATAL(rtx.n, 5);
	CU_ASSERT_EQUAL(rtx.seq[0], start);
	CU_ASSERT_EQUAL(rtx.seq[1], start + 2);
	CU_ASSERT_EQUAL(rtx.seq[2], 0);
	CU_ASSERT_EQUAL(rtx.seq[3], 2);
	CU_ASSERT_EQUAL(rtx.seq[4], 3);
	for (i = 0; i < 8; i += 2)
		dsm_chan_rx(&b, start + i, pkt_new(i), 3, rec_cb, &del);
	CU_ASSERT_EQUAL(del.n, 7);
	CU_ASSERT_EQUAL(b.rcv_nxt, 3);
	dsm_chan_rx(&b, 3, pkt_new(7), 3, rec_cb, &del);
	CU_ASSERT_EQUAL(del.n, 8);
	CU_ASSERT_EQUAL(b.rcv_nxt, 4);
	/* A duplicate from before the wrap is still recognised. */
	{
		struct pkt *d = pkt_new(0);

		CU_ASSERT_EQUAL(dsm_chan_rx(&b, start, d, 4, rec_cb, &del),
				DSM_CHAN_RX_DUP);
		pkt_free(d);
	}
	dsm_chan_ack_fields(&b, &ack, &sack);
	CU_ASSERT_EQUAL(ack, 4);
	CU_ASSERT_EQUAL(sack, 0);
	/* Stale pre-wrap ack: ignored, not bad. */
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&a, start, 0, 5, rec_cb, &rel), 0);
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&a, ack, sack, 5, rec_cb, &rel), 8);
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&a, start, 0, 5, rec_cb, &rel), 0);
	CU_ASSERT_EQUAL(a.stats.bad_acks, 0);
	CU_ASSERT_EQUAL(dsm_chan_on_ack(&a, 5, 0, 5, rec_cb, &rel), -EINVAL);
	CU_ASSERT_EQUAL(dsm_chan_in_flight(&a), 0);
	CU_ASSERT_EQUAL(rel.n, 8);
	for (i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(rtx.pkt[i]->calls, 2); /* retx + release */
	for (i = 0; i < 8 && i < rel.n; i++) {
		CU_ASSERT_EQUAL(rel.seq[i], start + i);
		pkt_free(rel.pkt[i]);
	}
	fini_free(&a);
	fini_free(&b);
	CU_ASSERT_EQUAL(live_pkts, 0);
}

/* Delayed acks and a dead peer, over the simulated link. */
static void test_dead_peer(void)
{
	static const struct link_cfg blackhole = { .p_drop = 1.0, .base_ns = 1000 };
	struct dsm_chan_cfg cc;
	struct sim_res r;

	dsm_chan_cfg_default(&cc);
	run_sim(3, &blackhole, &cc, 0, 0, 10, &r);
	CU_ASSERT_FALSE(r.finished);
	CU_ASSERT_EQUAL(r.a.timeouts, 1);
	CU_ASSERT_EQUAL(r.b.timeouts, 1);
	CU_ASSERT_EQUAL(r.a.retx_frames, 10 * cc.max_retx);
	/* 200us * (1+2+...+64) + 20ms * 6 ~= 145 ms of backoff. */
	CU_ASSERT_EQUAL(r.end_ns, 200000ull * 127 + 20000000ull * 6);
	CU_ASSERT_EQUAL(live_pkts, 0); /* fini released the held frames */
}

/* A leak in one test must not fail the following ones. */
static void test_setup(void)
{
	live_pkts = 0;
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "cfg_init", test_cfg_init },
		{ "inorder", test_inorder },
		{ "window_full", test_window_full },
		{ "bad_acks", test_bad_acks },
		{ "rx_duplicates", test_rx_duplicates },
		{ "rx_out_of_window", test_rx_out_of_window },
		{ "sack_bitmap", test_sack_bitmap },
		{ "sack_suppresses_retx", test_sack_suppresses_retx },
		{ "backoff", test_backoff },
		{ "adaptive_rto", test_adaptive_rto },
		{ "max_retx_unlimited", test_max_retx_unlimited },
		{ "max_retx_dead", test_max_retx_dead },
		{ "reset_releases", test_reset_releases },
		{ "next_deadline", test_next_deadline },
		{ "ack_due", test_ack_due },
		{ "reentrant_deliver", test_reentrant_deliver },
		{ "wraparound", test_wraparound },
		{ "perfect_link", test_perfect_link },
		{ "chaos_seeds", test_chaos_seeds },
		{ "chaos_wraparound", test_chaos_wraparound },
		{ "dead_peer", test_dead_peer },
	};

	return DSM_CUNIT_MAIN("channel_reliable", tests, test_setup);
}
