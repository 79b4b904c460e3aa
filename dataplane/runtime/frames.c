/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Messages <-> frames.  A message is split into frames of the peer port's
 * fragment payload; page data is copied once, from the segment backing
 * straight into the frames.  The I/O lcore stamps sequence/ack numbers and
 * the checksum when it transmits (dsm_frame_stamp), because those belong to
 * the channel it owns.  A received message is a chain of its frames with
 * all headers stripped, the first frame's parsed header in the mbuf private
 * area (struct dsm_mbuf_priv).
 */
#include <errno.h>
#include <string.h>

#include <rte_hash.h>

#include "runtime/node_internal.h"

struct dsm_seg_rt *dsm_node_seg(struct dsm_node *n, uint32_t seg_id)
{
	void *idx;

	if (rte_hash_lookup_data(n->seg_index, &seg_id, &idx) < 0)
		return NULL;
	return &n->segs[(uintptr_t)idx];
}

void *dsm_node_page(struct dsm_node *n, uint32_t seg_id, uint64_t pgno)
{
	struct dsm_seg_rt *s = dsm_node_seg(n, seg_id);

	if (!s || pgno >= s->d.npages)
		return NULL;
	return s->base + pgno * s->d.page_size;
}

static void hdr_from_msg(struct dsm_node *n, const struct dsm_msg *m, struct dsm_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->type = m->type;
	h->flags = m->flags;
	if (m->type != DSM_MSG_CHAN_ACK)
		h->flags |= DSM_F_SEQ;
	h->status = m->status;
	h->src_node = n->self;
	h->dst_node = m->dst;
	h->epoch = n->epoch;
	h->token = m->token;
	h->seg_id = m->seg_id;
	h->pgno = m->pgno;
	h->page_version = m->version;
	h->msg_len = m->len;
}

static uint16_t frag_payload_to(struct dsm_node *n, uint16_t dst)
{
	struct dsm_peer_rt *p = dst < DSM_MAX_NODES ? n->peers[dst] : NULL;

	return p ? p->port->frag_payload : DSM_MAX_FRAG_PAYLOAD;
}

static const struct dsm_addr *addr_to(struct dsm_node *n, uint16_t dst)
{
	static const struct dsm_addr loopback;
	struct dsm_peer_rt *p = dst < DSM_MAX_NODES ? n->peers[dst] : NULL;

	return p ? &p->addr : &loopback;
}

int dsm_build_frames(struct dsm_node *n, const struct dsm_msg *m, const void *payload,
		     struct rte_mbuf **frames, uint32_t max, uint32_t *nframes)
{
	uint16_t fp = frag_payload_to(n, m->dst);
	uint32_t nf = dsm_frag_count(m->len, fp);
	const struct dsm_addr *a = addr_to(n, m->dst);
	struct dsm_hdr h;

	if (m->len && !payload)
		return -EINVAL;
	if (nf > max || nf > UINT16_MAX)
		return -E2BIG;
	if (rte_pktmbuf_alloc_bulk(n->pool, frames, nf))
		return -ENOBUFS;
	hdr_from_msg(n, m, &h);
	h.frag_cnt = (uint16_t)nf;
	for (uint32_t i = 0; i < nf; i++) {
		uint32_t off = i * fp;
		uint16_t len = (uint16_t)RTE_MIN((uint32_t)fp, m->len - off);
		char *buf;

		if (!m->len)
			len = 0;
		h.frag_idx = (uint16_t)i;
		h.frag_off = m->len ? off : 0;
		h.frag_len = len;
		buf = rte_pktmbuf_append(frames[i], DSM_FRAME_OVERHEAD + len);
		if (!buf || dsm_frame_write_headers(buf, DSM_FRAME_OVERHEAD + len, a, &h) < 0) {
			rte_pktmbuf_free_bulk(frames, nf);
			return -ENOSPC;
		}
		if (len)
			memcpy(buf + DSM_FRAME_OVERHEAD, (const uint8_t *)payload + off, len);
	}
	*nframes = nf;
	return 0;
}

/* Turn locally built frames into a received-message chain (loopback). */
struct rte_mbuf *dsm_frames_to_msg(struct rte_mbuf **frames, uint32_t nframes)
{
	struct rte_mbuf *head = frames[0];
	struct dsm_hdr h;

	dsm_hdr_decode(rte_pktmbuf_mtod_offset(head, void *, DSM_FRAME_OVERHEAD -
					       DSM_WIRE_HDR_LEN), DSM_WIRE_HDR_LEN, &h);
	for (uint32_t i = 0; i < nframes; i++) {
		rte_pktmbuf_adj(frames[i], DSM_FRAME_OVERHEAD);
		if (i && rte_pktmbuf_chain(head, frames[i])) {
			rte_pktmbuf_free(head);
			rte_pktmbuf_free_bulk(frames + i, nframes - i);
			return NULL;
		}
	}
	*dsm_mbuf_hdr(head) = h;
	return head;
}

void dsm_msg_from_chain(struct rte_mbuf *m, struct dsm_msg *out)
{
	const struct dsm_hdr *h = dsm_mbuf_hdr(m);

	out->type = h->type;
	out->flags = h->flags;
	out->status = h->status;
	out->src = h->src_node;
	out->dst = h->dst_node;
	out->epoch = h->epoch;
	out->token = h->token;
	out->seg_id = h->seg_id;
	out->pgno = h->pgno;
	out->version = h->page_version;
	out->len = rte_pktmbuf_pkt_len(m);
	out->payload = m;
}

uint32_t dsm_node_msg_copy(const struct dsm_msg *m, void *dst, uint32_t len)
{
	const struct rte_mbuf *seg = m->payload;
	uint32_t done = 0;

	for (; seg && done < len; seg = seg->next) {
		uint32_t chunk = RTE_MIN((uint32_t)seg->data_len, len - done);

		memcpy((uint8_t *)dst + done, rte_pktmbuf_mtod(seg, const void *), chunk);
		done += chunk;
	}
	return done;
}
