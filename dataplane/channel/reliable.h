/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reliable channel: one per peer, under the coherence protocol.  Frames are
 * numbered with 32-bit free-running sequence numbers (compared with serial
 * arithmetic, so wraparound is harmless); the receiver delivers them in order,
 * buffers out-of-order frames inside the window, suppresses duplicates, and
 * acknowledges cumulatively plus a 32-bit selective-ack bitmap.  The sender
 * keeps every unacknowledged frame and retransmits it when its timer expires,
 * with exponential backoff, up to max_retx times; after that the peer is
 * declared unreachable and the caller fails everything that depends on it.
 * The timeout adapts to the measured round trip (RFC 6298: srtt + 4 rttvar,
 * sampled only from frames sent once), because the round trip between
 * processes sharing cores varies by orders of magnitude with scheduling.
 *
 * Pure code: time is passed in (nanoseconds, any monotonic origin), frames
 * are opaque handles (mbufs in the dataplane, plain buffers in tests) and the
 * caller supplies callbacks to deliver, retransmit and release them.  A
 * channel is owned by exactly one thread (the I/O lcore); no locks.
 */
#ifndef DSM_CHANNEL_RELIABLE_H
#define DSM_CHANNEL_RELIABLE_H

#include <stdbool.h>
#include <stdint.h>

#define DSM_CHAN_RETX_FOREVER UINT32_MAX

struct dsm_chan_cfg {
	uint32_t window;       /* max frames in flight; power of two, <= 4096 */
	uint64_t rto_ns;       /* retransmission timeout until RTT is measured */
	uint64_t rto_min_ns;   /* lower bound of the adaptive RTO (0: rto_ns) */
	uint64_t rto_max_ns;   /* backoff cap and upper bound of the RTO */
	uint32_t max_retx;     /* retransmissions of one frame before giving up
				* (DSM_CHAN_RETX_FOREVER: never; membership
				* decides who is dead) */
	uint64_t ack_delay_ns; /* max delay before a standalone ack is due */
};

/* Defaults suited to memif/loopback on a shared 2-core machine. */
void dsm_chan_cfg_default(struct dsm_chan_cfg *cfg);

struct dsm_chan_stats {
	uint64_t tx_frames;    /* first transmissions */
	uint64_t retx_frames;  /* retransmissions */
	uint64_t tx_full;      /* dsm_chan_tx refused: window full */
	uint64_t rx_delivered; /* frames delivered in order */
	uint64_t rx_ooo;       /* frames buffered out of order */
	uint64_t rx_dup;       /* duplicates suppressed */
	uint64_t rx_oow;       /* beyond the receive window: dropped */
	uint64_t acks_rx;      /* acks that advanced the send window */
	uint64_t bad_acks;     /* acks for frames never sent: ignored */
	uint64_t timeouts;     /* frames that exhausted max_retx */
	uint64_t resets;
};

struct dsm_chan_txslot {
	void    *pkt;          /* NULL: slot free */
	uint64_t sent_at;      /* last (re)transmission time */
	uint64_t deadline;     /* next retransmission time */
	uint32_t retx;         /* retransmissions so far */
	bool     sacked;       /* receiver holds it out of order */
};

struct dsm_chan {
	struct dsm_chan_cfg cfg;
	uint32_t mask;                 /* window - 1 */
	/* send side */
	uint32_t snd_una;              /* oldest unacknowledged seq */
	uint32_t snd_nxt;              /* next seq to assign */
	struct dsm_chan_txslot *tx;    /* window slots, indexed seq & mask */
	/* receive side */
	uint32_t rcv_nxt;              /* next seq expected (our cumulative ack) */
	void   **rx;                   /* out-of-order frames, seq & mask */
	bool     ack_pending;          /* peer should hear our ack */
	uint64_t ack_deadline;         /* when a standalone ack is due */
	bool     dead;                 /* max_retx exhausted: peer unreachable */
	/* Adaptive retransmission timeout (RFC 6298): smoothed RTT and its
	 * variation from acks of frames sent once (Karn's rule). */
	uint64_t srtt, rttvar, rto;
	struct dsm_chan_stats stats;
};

/* Callbacks.  ctx is passed through untouched. */
typedef void (*dsm_chan_pkt_fn)(void *ctx, void *pkt, uint32_t seq);

/* Allocate slot arrays (calloc).  Returns 0 or -EINVAL / -ENOMEM. */
int  dsm_chan_init(struct dsm_chan *ch, const struct dsm_chan_cfg *cfg);
/* As dsm_chan_init, but the first seq sent is tx_start and the first seq
 * expected is rx_start (the peer's tx_start).  For tests (wraparound) and
 * for a future randomised initial sequence number; dsm_chan_init is
 * dsm_chan_init_seq(ch, cfg, 0, 0).  cfg is checked: window a power of two
 * in 1..4096, rto_ns > 0, rto_max_ns >= rto_ns, else -EINVAL. */
int  dsm_chan_init_seq(struct dsm_chan *ch, const struct dsm_chan_cfg *cfg,
		       uint32_t tx_start, uint32_t rx_start);
/* Release every held frame through release() and free the arrays. */
void dsm_chan_fini(struct dsm_chan *ch, dsm_chan_pkt_fn release, void *ctx);
/* Forget all state (peer restarted, new epoch): held frames are released,
 * sequence numbers restart at 0 on both sides. */
void dsm_chan_reset(struct dsm_chan *ch, dsm_chan_pkt_fn release, void *ctx);

/* Free send-window slots. */
uint32_t dsm_chan_tx_space(const struct dsm_chan *ch);

/* Take ownership of pkt for reliable delivery and assign its seq.  The caller
 * stamps seq and the current ack (dsm_chan_ack_fields) into the frame and
 * transmits a copy/clone; the channel keeps pkt until acked.
 * Returns 0, -ENOBUFS (window full: caller keeps pkt), -EPIPE (dead) or
 * -EINVAL (pkt NULL). */
int  dsm_chan_tx(struct dsm_chan *ch, void *pkt, uint64_t now, uint32_t *seq);

/* Ack fields to put on any outgoing frame; clears ack_pending, because the
 * frame carrying them informs the peer. */
void dsm_chan_ack_fields(struct dsm_chan *ch, uint32_t *ack, uint32_t *sack);

/* Process ack/sack received from the peer (carried by any frame).  Frames
 * before ack are released.  Returns frames released, or -EINVAL for an ack
 * beyond snd_nxt or more than window behind snd_una (counted in bad_acks,
 * otherwise ignored).  A stale ack (behind snd_una, within the window) is
 * ignored, sack included, and returns 0. */
int  dsm_chan_on_ack(struct dsm_chan *ch, uint32_t ack, uint32_t sack,
		     uint64_t now, dsm_chan_pkt_fn release, void *ctx);

enum dsm_chan_rx_res {
	DSM_CHAN_RX_DELIVERED = 0, /* pkt (and any buffered successors) delivered */
	DSM_CHAN_RX_BUFFERED  = 1, /* held until the gap before it is filled */
	DSM_CHAN_RX_DUP       = 2, /* already delivered or buffered: caller frees */
	DSM_CHAN_RX_OOW       = 3, /* beyond the window: caller frees */
};

/* Receive a sequenced frame.  In-order frames are passed to deliver() in
 * sequence order, followed by any buffered frames that became in order. */
enum dsm_chan_rx_res dsm_chan_rx(struct dsm_chan *ch, uint32_t seq, void *pkt,
				 uint64_t now, dsm_chan_pkt_fn deliver, void *ctx);

/* Retransmit every frame whose timer expired (retransmit() is called with the
 * held pkt, which stays owned by the channel).  Returns the number
 * retransmitted, or -ETIMEDOUT once a frame exhausted max_retx (the channel
 * is then dead until reset). */
int  dsm_chan_poll(struct dsm_chan *ch, uint64_t now, dsm_chan_pkt_fn retransmit,
		   void *ctx);

/* True when a standalone CHAN_ACK should be sent now. */
bool dsm_chan_ack_due(const struct dsm_chan *ch, uint64_t now);

/* Earliest time at which dsm_chan_poll or an ack needs attention, or
 * UINT64_MAX.  Lets an idle loop sleep exactly as long as it may. */
uint64_t dsm_chan_next_deadline(const struct dsm_chan *ch);

/* Frames sent but not yet acknowledged. */
static inline uint32_t dsm_chan_in_flight(const struct dsm_chan *ch)
{
	return ch->snd_nxt - ch->snd_una;
}

#endif /* DSM_CHANNEL_RELIABLE_H */
