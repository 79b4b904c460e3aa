/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reliable channel: see reliable.h for the contract.
 *
 * Sequence space.  All comparisons use serial arithmetic: the signed 32-bit
 * difference of two sequence numbers, valid while they are less than 2^31
 * apart (the window is at most 4096, so far less).
 *
 * Send side.  Frames snd_una .. snd_nxt-1 are held in tx[seq & mask].  Each
 * has a retransmission deadline; the first is now + rto, each retransmission
 * doubles the timeout (capped at rto_max).  A frame the receiver reported in
 * its sack bitmap is "sacked": it is not retransmitted and its deadline does
 * not count (the receiver never discards a buffered frame short of a reset,
 * so the sack is sticky).  snd_una itself is never sacked (sack bits start at
 * ack+1 and stale acks' bitmaps are ignored), so there is always a timer
 * running while anything is in flight: that keeps the channel live when acks
 * are lost, and bounds how long a dead peer takes to be noticed.
 *
 * Receive side.  rcv_nxt is the next seq to deliver; frames rcv_nxt+1 ..
 * rcv_nxt+window-1 may be buffered in rx[seq & mask] (a slot index names a
 * unique seq in that range).  Older frames are duplicates, newer ones are
 * out of the window.
 *
 * Ack policy.  Every received sequenced frame (duplicates and out-of-window
 * frames included: the peer evidently has not heard our ack) makes an ack
 * pending.  A plain in-order frame arms a delayed-ack timer (now +
 * ack_delay_ns) unless one is already armed - later frames do not push it
 * back, so the ack is never delayed more than ack_delay after the first
 * unacknowledged frame.  A frame that reveals trouble makes the ack due at
 * once: an out-of-order frame (the peer needs the sack to stop resending
 * what we hold), a duplicate or out-of-window frame (the peer missed our
 * ack), and an in-order frame that filled a gap (the peer is waiting on a
 * retransmission).  "Due at once" is encoded as ack_deadline = now, so
 * dsm_chan_ack_due() is simply ack_pending && now >= ack_deadline.
 *
 * Callbacks may re-enter the channel (a deliver() that replies through
 * dsm_chan_tx/dsm_chan_ack_fields, say): the state is updated before each
 * callback, and ack bookkeeping is done before delivery so that a reply sent
 * from deliver() carries the ack and clears ack_pending.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "channel/reliable.h"

#define DSM_CHAN_WINDOW_MAX 4096u

/* Serial-number difference a - b. */
static inline int32_t seq_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

void dsm_chan_cfg_default(struct dsm_chan_cfg *cfg)
{
	cfg->window = 256;
	cfg->rto_ns = 200 * 1000ull;        /* 200 us: memif RTT is a few us */
	cfg->rto_min_ns = 0;                /* the RTO never drops below rto_ns */
	cfg->rto_max_ns = 20 * 1000 * 1000ull; /* 20 ms */
	cfg->max_retx = 12;                 /* ~145 ms of backoff before death */
	cfg->ack_delay_ns = 20 * 1000ull;   /* 20 us: well under rto */
}

static int cfg_check(const struct dsm_chan_cfg *cfg)
{
	if (cfg == NULL)
		return -EINVAL;
	if (cfg->window == 0 || cfg->window > DSM_CHAN_WINDOW_MAX ||
	    (cfg->window & (cfg->window - 1)) != 0)
		return -EINVAL;
	if (cfg->rto_ns == 0 || cfg->rto_max_ns < cfg->rto_ns ||
	    cfg->rto_max_ns < cfg->rto_min_ns)
		return -EINVAL;
	return 0;
}

int dsm_chan_init_seq(struct dsm_chan *ch, const struct dsm_chan_cfg *cfg,
		      uint32_t tx_start, uint32_t rx_start)
{
	int rc;

	if (ch == NULL)
		return -EINVAL;
	rc = cfg_check(cfg);
	if (rc != 0)
		return rc;
	memset(ch, 0, sizeof(*ch));
	ch->cfg = *cfg;
	ch->rto = cfg->rto_ns;
	ch->mask = cfg->window - 1;
	ch->tx = calloc(cfg->window, sizeof(*ch->tx));
	ch->rx = calloc(cfg->window, sizeof(*ch->rx));
	if (ch->tx == NULL || ch->rx == NULL) {
		free(ch->tx);
		free(ch->rx);
		ch->tx = NULL;
		ch->rx = NULL;
		return -ENOMEM;
	}
	ch->snd_una = ch->snd_nxt = tx_start;
	ch->rcv_nxt = rx_start;
	return 0;
}

int dsm_chan_init(struct dsm_chan *ch, const struct dsm_chan_cfg *cfg)
{
	return dsm_chan_init_seq(ch, cfg, 0, 0);
}

/* Release every held frame, in sequence order, send side first. */
static void release_all(struct dsm_chan *ch, dsm_chan_pkt_fn release, void *ctx)
{
	uint32_t seq, off;

	if (ch->tx != NULL) {
		while (ch->snd_una != ch->snd_nxt) {
			struct dsm_chan_txslot *s = &ch->tx[ch->snd_una & ch->mask];
			void *pkt = s->pkt;

			seq = ch->snd_una++;
			memset(s, 0, sizeof(*s));
			if (pkt != NULL && release != NULL)
				release(ctx, pkt, seq);
		}
	}
	if (ch->rx != NULL) {
		for (off = 1; off <= ch->mask; off++) {
			void **slot;
			void *pkt;

			seq = ch->rcv_nxt + off;
			slot = &ch->rx[seq & ch->mask];
			pkt = *slot;
			if (pkt == NULL)
				continue;
			*slot = NULL;
			if (release != NULL)
				release(ctx, pkt, seq);
		}
	}
}

void dsm_chan_fini(struct dsm_chan *ch, dsm_chan_pkt_fn release, void *ctx)
{
	if (ch == NULL)
		return;
	release_all(ch, release, ctx);
	free(ch->tx);
	free(ch->rx);
	ch->tx = NULL;
	ch->rx = NULL;
}

void dsm_chan_reset(struct dsm_chan *ch, dsm_chan_pkt_fn release, void *ctx)
{
	release_all(ch, release, ctx);
	ch->snd_una = ch->snd_nxt = 0;
	ch->rcv_nxt = 0;
	ch->ack_pending = false;
	ch->ack_deadline = 0;
	ch->dead = false;
	ch->stats.resets++;
}

uint32_t dsm_chan_tx_space(const struct dsm_chan *ch)
{
	uint32_t inflight = dsm_chan_in_flight(ch);

	return inflight >= ch->cfg.window ? 0 : ch->cfg.window - inflight;
}

int dsm_chan_tx(struct dsm_chan *ch, void *pkt, uint64_t now, uint32_t *seq)
{
	struct dsm_chan_txslot *s;

	if (ch->dead)
		return -EPIPE;
	if (pkt == NULL)
		return -EINVAL;
	if (dsm_chan_in_flight(ch) >= ch->cfg.window) {
		ch->stats.tx_full++;
		return -ENOBUFS;
	}
	s = &ch->tx[ch->snd_nxt & ch->mask];
	s->pkt = pkt;
	s->sent_at = now;
	s->deadline = now + ch->rto;
	s->retx = 0;
	s->sacked = false;
	if (seq != NULL)
		*seq = ch->snd_nxt;
	ch->snd_nxt++;
	ch->stats.tx_frames++;
	return 0;
}

void dsm_chan_ack_fields(struct dsm_chan *ch, uint32_t *ack, uint32_t *sack)
{
	uint32_t bits = 0, i, n;

	/* Bit i: frame rcv_nxt+1+i is buffered.  Only rcv_nxt+1 ..
	 * rcv_nxt+window-1 can be, so at most window-1 bits are meaningful
	 * (beyond that the slot index would alias). */
	n = ch->mask < 32 ? ch->mask : 32;
	for (i = 0; i < n; i++)
		if (ch->rx[(ch->rcv_nxt + 1 + i) & ch->mask] != NULL)
			bits |= 1u << i;
	if (ack != NULL)
		*ack = ch->rcv_nxt;
	if (sack != NULL)
		*sack = bits;
	ch->ack_pending = false;
}

/* RFC 6298 estimator (alpha 1/8, beta 1/4), RTO clamped to the config. */
static void rtt_sample(struct dsm_chan *ch, uint64_t rtt)
{
	uint64_t lo = ch->cfg.rto_min_ns ? ch->cfg.rto_min_ns : ch->cfg.rto_ns;
	uint64_t rto;

	if (ch->srtt == 0) {
		ch->srtt = rtt ? rtt : 1;
		ch->rttvar = rtt / 2;
	} else {
		uint64_t err = rtt > ch->srtt ? rtt - ch->srtt : ch->srtt - rtt;

		ch->rttvar = (3 * ch->rttvar + err) / 4;
		ch->srtt = (7 * ch->srtt + rtt) / 8;
	}
	rto = ch->srtt + 4 * ch->rttvar;
	ch->rto = rto < lo ? lo : rto > ch->cfg.rto_max_ns ? ch->cfg.rto_max_ns : rto;
}

int dsm_chan_on_ack(struct dsm_chan *ch, uint32_t ack, uint32_t sack,
		    uint64_t now, dsm_chan_pkt_fn release, void *ctx)
{
	int32_t adv = seq_diff(ack, ch->snd_una);
	int released = 0;
	uint32_t i;

	if (seq_diff(ack, ch->snd_nxt) > 0 ||
	    (int64_t)adv < -(int64_t)ch->cfg.window) {
		ch->stats.bad_acks++;
		return -EINVAL;
	}
	if (adv < 0)
		return 0; /* stale (reordered) ack: its sack is stale too */

	/* Cumulative part. */
	while (ch->snd_una != ack) {
		struct dsm_chan_txslot *s = &ch->tx[ch->snd_una & ch->mask];
		void *pkt = s->pkt;
		uint32_t seq = ch->snd_una++;

		if (pkt != NULL && s->retx == 0 && seq == ack - 1 && now >= s->sent_at)
			rtt_sample(ch, now - s->sent_at);
		memset(s, 0, sizeof(*s));
		released++;
		if (pkt != NULL && release != NULL)
			release(ctx, pkt, seq);
	}
	if (released > 0)
		ch->stats.acks_rx++;
	/* Safety net: snd_una keeps its timer (see the top of the file). */
	if (ch->snd_una != ch->snd_nxt)
		ch->tx[ch->snd_una & ch->mask].sacked = false;

	/* Selective part: bit i names ack+1+i; only frames in flight count. */
	for (i = 0; i < 32 && sack != 0; i++, sack >>= 1) {
		uint32_t seq = ack + 1 + i;

		if (!(sack & 1))
			continue;
		if (seq_diff(seq, ch->snd_nxt) >= 0)
			break;
		if (ch->tx[seq & ch->mask].pkt != NULL)
			ch->tx[seq & ch->mask].sacked = true;
	}
	return released;
}

static void ack_note(struct dsm_chan *ch, uint64_t now, bool immediate)
{
	if (!ch->ack_pending) {
		ch->ack_pending = true;
		ch->ack_deadline = now + ch->cfg.ack_delay_ns;
	}
	if (immediate && ch->ack_deadline > now)
		ch->ack_deadline = now;
}

enum dsm_chan_rx_res dsm_chan_rx(struct dsm_chan *ch, uint32_t seq, void *pkt,
				 uint64_t now, dsm_chan_pkt_fn deliver, void *ctx)
{
	int32_t d = seq_diff(seq, ch->rcv_nxt);
	void **slot;

	if (d < 0) {
		ch->stats.rx_dup++;
		ack_note(ch, now, true);
		return DSM_CHAN_RX_DUP;
	}
	if ((uint32_t)d > ch->mask) {
		ch->stats.rx_oow++;
		ack_note(ch, now, true);
		return DSM_CHAN_RX_OOW;
	}
	slot = &ch->rx[seq & ch->mask];
	if (d > 0) {
		if (*slot != NULL) {
			ch->stats.rx_dup++;
			ack_note(ch, now, true);
			return DSM_CHAN_RX_DUP;
		}
		*slot = pkt;
		ch->stats.rx_ooo++;
		ack_note(ch, now, true);
		return DSM_CHAN_RX_BUFFERED;
	}

	/* In order.  Ack first (a gap filled warrants an immediate ack), then
	 * advance rcv_nxt before each deliver() so the callback sees the
	 * state that includes its frame. */
	ack_note(ch, now, ch->rx[(seq + 1) & ch->mask] != NULL);
	ch->rcv_nxt++;
	ch->stats.rx_delivered++;
	if (deliver != NULL)
		deliver(ctx, pkt, seq);
	for (;;) {
		uint32_t s = ch->rcv_nxt;

		slot = &ch->rx[s & ch->mask];
		if (*slot == NULL)
			break;
		pkt = *slot;
		*slot = NULL;
		ch->rcv_nxt++;
		ch->stats.rx_delivered++;
		if (deliver != NULL)
			deliver(ctx, pkt, s);
	}
	return DSM_CHAN_RX_DELIVERED;
}

/* Timeout after the retx-th retransmission: rto * 2^retx, capped. */
static uint64_t backoff(const struct dsm_chan *ch, uint32_t retx)
{
	uint64_t t = ch->rto;

	while (retx-- > 0 && t < ch->cfg.rto_max_ns)
		t <<= 1;
	return t < ch->cfg.rto_max_ns ? t : ch->cfg.rto_max_ns;
}

int dsm_chan_poll(struct dsm_chan *ch, uint64_t now, dsm_chan_pkt_fn retransmit,
		  void *ctx)
{
	uint32_t seq;
	int n = 0;

	if (ch->dead)
		return -ETIMEDOUT;
	for (seq = ch->snd_una; seq_diff(seq, ch->snd_nxt) < 0; seq++) {
		struct dsm_chan_txslot *s = &ch->tx[seq & ch->mask];

		if (s->pkt == NULL || s->sacked || now < s->deadline)
			continue;
		if (s->retx >= ch->cfg.max_retx) {
			ch->dead = true;
			ch->stats.timeouts++;
			return -ETIMEDOUT;
		}
		s->retx++;
		s->sent_at = now;
		s->deadline = now + backoff(ch, s->retx);
		ch->stats.retx_frames++;
		n++;
		if (retransmit != NULL)
			retransmit(ctx, s->pkt, seq);
		/* retransmit() may have re-entered (an ack releasing frames,
		 * say): carry on from whatever is still in flight. */
		if (seq_diff(seq, ch->snd_una) < 0)
			seq = ch->snd_una - 1;
		if (ch->dead)
			return -ETIMEDOUT;
	}
	return n;
}

bool dsm_chan_ack_due(const struct dsm_chan *ch, uint64_t now)
{
	return ch->ack_pending && now >= ch->ack_deadline;
}

uint64_t dsm_chan_next_deadline(const struct dsm_chan *ch)
{
	uint64_t t = UINT64_MAX;
	uint32_t seq;

	if (ch->ack_pending)
		t = ch->ack_deadline;
	if (ch->dead)
		return t; /* nothing left to retransmit; poll just reports it */
	for (seq = ch->snd_una; seq != ch->snd_nxt; seq++) {
		const struct dsm_chan_txslot *s = &ch->tx[seq & ch->mask];

		if (s->pkt != NULL && !s->sacked && s->deadline < t)
			t = s->deadline;
	}
	return t;
}
