/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The I/O lcore: receive, validate, channel, reassemble, dispatch; and
 * transmit what the shards produced through each peer's reliable channel.
 *
 * Channel sessions.  Each side of a peer pair has a 32-bit session nonce
 * (my_session), sent in every frame together with the nonce it believes the
 * receiver has (peer_session, 0 if unknown).  A frame addressed to an old
 * session of ours predates a reset of our channel: it is dropped, and the
 * peer is told our current session by an ack so it resets too.  A frame
 * carrying a new session of the peer means the peer restarted or reset:
 * our channel with it restarts at sequence 0 and the shards write the old
 * incarnation off (dsm_engine_peer_down: local requests waiting on it fail
 * with -EHOSTUNREACH, it leaves sharer sets, pages it owned are LOST).
 * This is what lets a node restart without a membership change.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_random.h>

#include "runtime/node_internal.h"

static void release_frame(void *ctx, void *pkt, uint32_t seq)
{
	(void)ctx;
	(void)seq;
	rte_pktmbuf_free(pkt);
}

/* Stamp channel fields on a frame about to leave for peer p. */
static void stamp(struct dsm_peer_rt *p, struct rte_mbuf *m, uint32_t seq, uint16_t flags)
{
	uint32_t ack, sack;

	dsm_chan_ack_fields(&p->chan, &ack, &sack);
	dsm_frame_set_session(rte_pktmbuf_mtod(m, void *), p->my_session, p->their_session);
	dsm_frame_stamp(rte_pktmbuf_mtod(m, void *), seq, ack, sack, flags);
}

static void retransmit(void *ctx, void *pkt, uint32_t seq)
{
	struct dsm_peer_rt *p = ctx;
	struct rte_mbuf *copy;

	/* The original may still be referenced by a tx queue: never rewrite
	 * it in place, send a fresh copy with the current ack. */
	copy = rte_pktmbuf_copy(pkt, ((struct rte_mbuf *)pkt)->pool, 0, UINT32_MAX);
	if (!copy)
		return; /* next timeout retries */
	stamp(p, copy, seq, DSM_F_RETX);
	p->st.tx_frames++;
	dsm_port_xmit(p->port, copy);
}

static void send_ack(struct dsm_node *n, struct dsm_peer_rt *p)
{
	struct dsm_msg m = { .type = DSM_MSG_CHAN_ACK, .dst = p->cfg->id };
	struct rte_mbuf *f;
	uint32_t nf;

	if (dsm_build_frames(n, &m, NULL, &f, 1, &nf))
		return;
	stamp(p, f, 0, 0);
	p->st.acks_tx++;
	dsm_port_xmit(p->port, f);
}

/* Reset our channel with p: frames in flight are released, sequence
 * numbers restart, shards fail what waited on p. */
static void peer_reset(struct dsm_node *n, struct dsm_peer_rt *p, bool new_session)
{
	struct rte_mbuf *m = NULL;

	dsm_chan_reset(&p->chan, release_frame, NULL);
	dsm_reasm_reset(&p->reasm);
	rte_pktmbuf_free(p->rhead);
	p->rhead = NULL;
	while (rte_ring_dequeue(p->backlog, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	if (new_session) {
		p->my_session++;
		if (!p->my_session)
			p->my_session = 1;
		p->their_session = 0;
	}
	p->st.resets++;
	dsm_shards_peer_down(n, p->cfg->id);
}

void dsm_io_peer_reset(struct dsm_node *n, uint16_t id)
{
	struct dsm_peer_rt *p = id < DSM_MAX_NODES ? n->peers[id] : NULL;

	if (p)
		peer_reset(n, p, true);
}

static void drop(struct dsm_node *n, enum dsm_drop why, struct rte_mbuf *m)
{
	n->drops[why]++;
	rte_pktmbuf_free(m);
}

static void deliver(void *ctx, void *pkt, uint32_t seq);

struct deliver_ctx {
	struct dsm_node *n;
	struct dsm_peer_rt *p;
};

/* Session rules (see top of file).  Returns false if the frame is stale. */
static bool check_session(struct dsm_node *n, struct dsm_peer_rt *p, const struct dsm_hdr *h)
{
	if (h->peer_session && h->peer_session != p->my_session) {
		p->st.stale_session++;
		p->teach_pending = true;
		return false;
	}
	if (p->their_session && h->session != p->their_session) {
		RTE_LOG(INFO, USER1, "peer %u restarted (session %08x -> %08x): channel reset\n",
			p->cfg->id, p->their_session, h->session);
		peer_reset(n, p, false);
	}
	p->their_session = h->session;
	return true;
}

/* Everything a frame must pass before its channel sees it, in order; the
 * session check comes last because it may reset the channel. */
static enum dsm_drop rx_admit(struct dsm_node *n, struct rte_mbuf *m, struct dsm_frame *f,
			      struct dsm_peer_rt **pp)
{
	enum dsm_drop why;

	if (m->nb_segs > 1 && rte_pktmbuf_linearize(m))
		return DSM_DROP_NOBUF;
	why = dsm_frame_parse(rte_pktmbuf_mtod(m, void *), rte_pktmbuf_data_len(m),
			      n->cfg.udp_port, f);
	if (why != DSM_DROP_NONE)
		return why;
	*pp = n->peers[f->hdr.src_node];
	/* No epoch check here: the channel is transport, and a frame sent
	 * just before a view change must still be acked and delivered, or
	 * its sender would retransmit it until it declared us dead.  The
	 * engine decides whether the message's epoch still counts. */
	if (f->hdr.dst_node != n->self || !*pp)
		return DSM_DROP_NODE;
	/* Only a channel ack travels unsequenced. */
	if (f->hdr.type != DSM_MSG_CHAN_ACK && !(f->hdr.flags & DSM_F_SEQ))
		return DSM_DROP_FLAGS;
	if (!check_session(n, *pp, &f->hdr))
		return DSM_DROP_CHANNEL;
	return DSM_DROP_NONE;
}

static void rx_frame(struct dsm_node *n, struct rte_mbuf *m, uint64_t now)
{
	struct dsm_frame f;
	struct dsm_peer_rt *p = NULL;
	enum dsm_drop why = rx_admit(n, m, &f, &p);
	enum dsm_chan_rx_res res;

	if (why != DSM_DROP_NONE) {
		drop(n, why, m);
		return;
	}
	p->st.rx_frames++;
	dsm_chan_on_ack(&p->chan, f.hdr.ack, f.hdr.sack, now, release_frame, NULL);
	if (f.hdr.type == DSM_MSG_CHAN_ACK) {
		rte_pktmbuf_free(m);
		return;
	}
	*dsm_mbuf_hdr(m) = f.hdr;
	res = dsm_chan_rx(&p->chan, f.hdr.seq, m, now, deliver,
			  &(struct deliver_ctx){ .n = n, .p = p });
	if (res == DSM_CHAN_RX_DUP || res == DSM_CHAN_RX_OOW)
		drop(n, DSM_DROP_CHANNEL, m);
}

static void serve_vma(struct dsm_node *n, const struct dsm_hdr *h, uint64_t now);

static void dispatch(struct dsm_node *n, struct rte_mbuf *msg, uint64_t now)
{
	const struct dsm_hdr *h = dsm_mbuf_hdr(msg);
	struct dsm_msg m;

	if (h->type == DSM_MSG_VMA_REQ) {
		serve_vma(n, h, now);
		rte_pktmbuf_free(msg);
		return;
	}
	if (n->params.hooks.on_msg) {
		dsm_msg_from_chain(msg, &m);
		if (n->params.hooks.on_msg(n->params.hooks.ctx, n, &m, now)) {
			rte_pktmbuf_free(msg);
			return;
		}
	}
	if (h->type == DSM_MSG_VMA_RESP) {
		/* Applications asked for a segment by name (uffd.c). */
		if (n->ufront) {
			dsm_msg_from_chain(msg, &m);
			dsm_uffd_learn(n, &m);
		}
		rte_pktmbuf_free(msg);
		return;
	}
	if (dsm_shard_dispatch(n, msg))
		drop(n, DSM_DROP_NOBUF, msg);
}

/* In-order frame from the channel: strip headers, append to the message. */
static void deliver(void *ctx, void *pkt, uint32_t seq)
{
	struct deliver_ctx *dc = ctx;
	struct dsm_peer_rt *p = dc->p;
	struct rte_mbuf *m = pkt;
	const struct dsm_hdr *h = dsm_mbuf_hdr(m);
	enum dsm_reasm_res r;

	(void)seq;
	r = dsm_reasm_push(&p->reasm, h);
	if (r == DSM_REASM_ERR) {
		rte_pktmbuf_free(p->rhead);
		p->rhead = NULL;
		drop(dc->n, DSM_DROP_REASM, m);
		return;
	}
	rte_pktmbuf_adj(m, DSM_FRAME_OVERHEAD);
	rte_pktmbuf_trim(m, rte_pktmbuf_data_len(m) - h->frag_len);
	if (!p->rhead) {
		p->rhead = m;
	} else if (rte_pktmbuf_chain(p->rhead, m)) {
		rte_pktmbuf_free(p->rhead);
		p->rhead = NULL;
		dsm_reasm_reset(&p->reasm);
		drop(dc->n, DSM_DROP_NOBUF, m);
		return;
	}
	if (r == DSM_REASM_DONE) {
		struct rte_mbuf *msg = p->rhead;

		p->rhead = NULL;
		p->st.rx_msgs++;
		dispatch(dc->n, msg, dsm_now_ns());
	}
}

/* Queue one sequenced frame for p: into the channel if the window allows
 * and nothing waits before it, else into the backlog. */
static void tx_frame(struct dsm_node *n, struct dsm_peer_rt *p, struct rte_mbuf *m,
		     uint64_t now)
{
	uint32_t seq;

	if (rte_ring_count(p->backlog) || dsm_chan_tx(&p->chan, m, now, &seq)) {
		if (rte_ring_enqueue(p->backlog, m)) {
			p->st.backlog_drops++;
			drop(n, DSM_DROP_NOBUF, m);
		}
		return;
	}
	stamp(p, m, seq, 0);
	/* The channel keeps the original for retransmission; the port gets a
	 * reference (freed by the PMD after transmission). */
	rte_mbuf_refcnt_update(m, 1);
	p->st.tx_frames++;
	dsm_port_xmit(p->port, m);
}

static void backlog_flush(struct dsm_node *n, struct dsm_peer_rt *p, uint64_t now)
{
	struct rte_mbuf *m = NULL;
	uint32_t seq;

	while (dsm_chan_tx_space(&p->chan) && rte_ring_dequeue(p->backlog, (void **)&m) == 0) {
		if (dsm_chan_tx(&p->chan, m, now, &seq)) {
			drop(n, DSM_DROP_NOBUF, m);
			continue;
		}
		stamp(p, m, seq, 0);
		rte_mbuf_refcnt_update(m, 1);
		p->st.tx_frames++;
		dsm_port_xmit(p->port, m);
	}
}

void dsm_io_send_frames(struct dsm_node *n, struct rte_mbuf **frames, uint32_t nframes,
			uint64_t now)
{
	for (uint32_t i = 0; i < nframes; i++) {
		const struct dsm_wire_hdr *w = rte_pktmbuf_mtod_offset(frames[i],
			const struct dsm_wire_hdr *, DSM_FRAME_OVERHEAD - DSM_WIRE_HDR_LEN);
		uint16_t dst = rte_be_to_cpu_16(w->dst_node);
		struct dsm_peer_rt *p = dst < DSM_MAX_NODES ? n->peers[dst] : NULL;

		if (!p) {
			drop(n, DSM_DROP_NODE, frames[i]);
			continue;
		}
		if (w->frag_idx == 0)
			p->st.tx_msgs++;
		tx_frame(n, p, frames[i], now);
	}
}

static void serve_vma(struct dsm_node *n, const struct dsm_hdr *h, uint64_t now)
{
	struct dsm_wire_vma recs[DSM_CFG_MAX_SEGMENTS];
	struct dsm_msg m = { .type = DSM_MSG_VMA_RESP, .dst = h->src_node,
			     .token = h->token, .seg_id = h->seg_id };
	struct rte_mbuf *frames[8];
	uint32_t cnt = 0, nf;

	for (uint32_t i = 0; i < n->nsegs; i++) {
		const struct dsm_seg_rt *s = &n->segs[i];

		if (s->d.home != n->self || (h->seg_id != DSM_SEG_ALL && h->seg_id != s->d.seg_id))
			continue;
		memset(&recs[cnt], 0, sizeof(recs[cnt]));
		recs[cnt].seg_id = rte_cpu_to_be_32(s->d.seg_id);
		recs[cnt].home_node = rte_cpu_to_be_16(s->d.home);
		recs[cnt].prot = rte_cpu_to_be_16(s->d.prot);
		recs[cnt].size = rte_cpu_to_be_64(s->d.npages * s->d.page_size);
		recs[cnt].page_size = rte_cpu_to_be_32(s->d.page_size);
		memcpy(recs[cnt].name, s->name, DSM_SEG_NAME_MAX);
		cnt++;
	}
	if (!cnt)
		m.status = DSM_ST_NOSEG;
	m.len = cnt * DSM_WIRE_VMA_LEN;
	if (dsm_build_frames(n, &m, recs, frames, RTE_DIM(frames), &nf)) {
		n->drops[DSM_DROP_NOBUF]++;
		return;
	}
	n->vma_served++;
	dsm_io_send_frames(n, frames, nf, now);
}

/* Test-only fault shim: a seeded PRNG drops or duplicates received frames,
 * standing in for a lossy wire (no netem here).  Off unless configured. */
static uint32_t fault_roll(struct dsm_node *n)
{
	n->fault_rng = n->fault_rng * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(n->fault_rng >> 33) % 100;
}

static void rx_with_faults(struct dsm_node *n, struct rte_mbuf *m, uint64_t now)
{
	struct rte_mbuf *dup;

	if (fault_roll(n) < n->cfg.fault_drop_pct) {
		n->fault_dropped++;
		rte_pktmbuf_free(m);
		return;
	}
	if (fault_roll(n) < n->cfg.fault_dup_pct &&
	    (dup = rte_pktmbuf_copy(m, n->pool, 0, UINT32_MAX)) != NULL) {
		n->fault_duplicated++;
		rx_frame(n, dup, now);
	}
	rx_frame(n, m, now);
}

static int rx_ports(struct dsm_node *n, uint64_t now)
{
	struct rte_mbuf *pkts[DSM_BURST];
	bool faults = n->cfg.fault_drop_pct || n->cfg.fault_dup_pct;
	int work = 0;

	for (uint32_t i = 0; i < n->nports; i++) {
		uint16_t nb;

		/* A port whose start failed (memif server not up yet) has no
		 * queues to poll until dsm_ports_maintain() starts it. */
		if (n->ports[i].start_failed)
			continue;
		nb = rte_eth_rx_burst(n->ports[i].port_id, 0, pkts, DSM_BURST);

		n->ports[i].rx_frames += nb;
		for (uint16_t k = 0; k < nb; k++) {
			if (faults)
				rx_with_faults(n, pkts[k], now);
			else
				rx_frame(n, pkts[k], now);
		}
		work += nb;
	}
	return work;
}

static int drain_shards(struct dsm_node *n, uint64_t now)
{
	struct rte_mbuf *frames[DSM_BURST];
	int work = 0;

	for (uint32_t s = 0; s < n->nshards; s++) {
		unsigned nb = rte_ring_sc_dequeue_burst(n->shards[s].tx, (void **)frames,
							DSM_BURST, NULL);

		dsm_io_send_frames(n, frames, nb, now);
		work += (int)nb;
	}
	return work;
}

static int peer_timers(struct dsm_node *n, struct dsm_peer_rt *p, uint64_t now,
		       bool check_timers)
{
	int rc = 0;

	backlog_flush(n, p, now);
	if (check_timers && dsm_chan_next_deadline(&p->chan) <= now) {
		rc = dsm_chan_poll(&p->chan, now, retransmit, p);
		if (rc == -ETIMEDOUT) {
			RTE_LOG(WARNING, USER1, "peer %u unreachable: channel reset\n", p->cfg->id);
			p->st.down_events++;
			peer_reset(n, p, true);
			return 1;
		}
	}
	if (p->teach_pending || dsm_chan_ack_due(&p->chan, now)) {
		p->teach_pending = false;
		send_ack(n, p);
		rc++;
	}
	return rc;
}

void dsm_io_flush(struct dsm_node *n)
{
	for (uint32_t i = 0; i < n->nports; i++)
		dsm_port_flush(&n->ports[i]);
}

int dsm_io_send_pending(struct dsm_node *n, uint64_t now)
{
	int work = drain_shards(n, now);

	dsm_io_flush(n);
	return work;
}

int dsm_io_poll(struct dsm_node *n, uint64_t now)
{
	int work = rx_ports(n, now);
	bool timers = now >= n->next_timer_check;

	if (timers)
		n->next_timer_check = now + DSM_TIMER_GRAIN_NS;
	work += drain_shards(n, now);
	for (uint32_t i = 0; i < n->npeers; i++)
		work += peer_timers(n, n->peer_list[i], now, timers);
	dsm_io_flush(n);
	dsm_ports_maintain(n, now);
	return work;
}

uint64_t dsm_io_next_deadline(struct dsm_node *n)
{
	uint64_t d = UINT64_MAX;

	for (uint32_t i = 0; i < n->npeers; i++)
		d = RTE_MIN(d, dsm_chan_next_deadline(&n->peer_list[i]->chan));
	return d;
}

static int peer_init(struct dsm_node *n, const struct dsm_cfg_peer *cp)
{
	struct dsm_peer_rt *p = calloc(1, sizeof(*p));
	struct dsm_chan_cfg cc;
	char name[RTE_RING_NAMESIZE];
	int rc;

	if (!p)
		return -ENOMEM;
	dsm_chan_cfg_default(&cc);
	cc.window = n->cfg.window;
	cc.rto_ns = n->cfg.rto_ns;
	cc.rto_min_ns = n->cfg.rto_min_ns;
	cc.rto_max_ns = n->cfg.rto_max_ns;
	/* With membership only a view writes a peer off: a channel that gave
	 * up on its own would make this node drop the copies of a dead
	 * home's pages before the view could re-home them, and write off a
	 * live member the others still trust. */
	cc.max_retx = n->cfg.cluster.enabled ? DSM_CHAN_RETX_FOREVER : n->cfg.max_retx;
	rc = dsm_chan_init(&p->chan, &cc);
	snprintf(name, sizeof(name), "dsm_bl_%u", cp->id);
	p->backlog = rc ? NULL : rte_ring_create(name, DSM_BACKLOG_RING, rte_socket_id(),
						 RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!p->backlog) {
		if (!rc)
			dsm_chan_fini(&p->chan, release_frame, NULL);
		free(p);
		return rc ? rc : -ENOMEM;
	}
	p->cfg = cp;
	p->port = &n->ports[cp->port];
	memcpy(p->addr.src_mac, p->port->mac.addr_bytes, 6);
	memcpy(p->addr.dst_mac, cp->mac, 6);
	p->addr.src_ip = n->cfg.ip;
	p->addr.dst_ip = cp->ip;
	p->addr.src_port = n->cfg.udp_port;
	p->addr.dst_port = cp->udp_port;
	p->my_session = (uint32_t)rte_rand() | 1;
	dsm_reasm_init(&p->reasm);
	n->peers[cp->id] = p;
	n->peer_list[n->npeers++] = p;
	return 0;
}

int dsm_peers_init(struct dsm_node *n)
{
	for (uint32_t i = 0; i < n->cfg.npeers; i++) {
		int rc = peer_init(n, &n->cfg.peers[i]);

		if (rc)
			return rc;
	}
	return 0;
}

void dsm_peers_fini(struct dsm_node *n)
{
	for (uint32_t id = 1; id < DSM_MAX_NODES; id++) {
		struct dsm_peer_rt *p = n->peers[id];
		struct rte_mbuf *m;

		if (!p)
			continue;
		dsm_chan_fini(&p->chan, release_frame, NULL);
		rte_pktmbuf_free(p->rhead);
		while (rte_ring_dequeue(p->backlog, (void **)&m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(p->backlog);
		free(p);
		n->peers[id] = NULL;
	}
	n->npeers = 0;
}
