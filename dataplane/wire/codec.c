/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Wire codec: Ethernet/IPv4/UDP + struct dsm_wire_hdr + payload.
 *
 * Everything here works on byte buffers with explicit big-endian loads and
 * stores (memcpy + byte-order conversion), so frames may sit at any alignment
 * (the dsm header starts at offset 42 of a frame, which is not 8-aligned) and
 * no out-of-bounds byte is ever read: every access is preceded by a length
 * check.  See docs/protocol.md for the protocol these rules implement.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <rte_hash_crc.h>

#include "wire/codec.h"

/* Offsets inside a frame. */
#define ETH_OFF   0u
#define IP_OFF    DSM_ETH_HDR_LEN
#define UDP_OFF   (IP_OFF + DSM_IP_HDR_LEN)
#define DSM_OFF   (UDP_OFF + DSM_UDP_HDR_LEN)
#define PAY_OFF   (DSM_OFF + DSM_WIRE_HDR_LEN)

#define ETHERTYPE_IPV4 0x0800u
#define IPPROTO_UDP_   17u
#define IP_TTL_        64u
#define IP_DF          0x4000u
#define IP_MF          0x2000u
#define IP_OFFMASK     0x1fffu

/* Offsets inside struct dsm_wire_hdr (pinned by wire.h). */
#define H_MAGIC    0u
#define H_VERSION  4u
#define H_TYPE     5u
#define H_FLAGS    6u
#define H_SRC      8u
#define H_DST      10u
#define H_STATUS   12u
#define H_FRAGCNT  14u
#define H_EPOCH    16u
#define H_SEQ      24u
#define H_ACK      28u
#define H_TOKEN    32u
#define H_SEG      40u
#define H_MSGLEN   44u
#define H_PGNO     48u
#define H_PGVER    56u
#define H_FRAGOFF  64u
#define H_FRAGLEN  68u
#define H_FRAGIDX  70u
#define H_CSUM     72u
#define H_SACK     76u
#define H_SESS     80u
#define H_PSESS    84u

_Static_assert(offsetof(struct dsm_wire_hdr, csum) == H_CSUM, "csum off");
_Static_assert(offsetof(struct dsm_wire_hdr, magic) == H_MAGIC, "magic off");
_Static_assert(PAY_OFF == DSM_FRAME_OVERHEAD, "frame overhead");

/* ---- unaligned big-endian accessors ---- */

static inline uint16_t ld16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return be16toh(v);
}

static inline uint32_t ld32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static inline uint64_t ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static inline void st16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void st32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void st64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

/* ---- drop reasons ---- */

static const char *const drop_names[DSM_DROP__COUNT] = {
	[DSM_DROP_NONE]     = "none",
	[DSM_DROP_SHORT]    = "short",
	[DSM_DROP_NOT_IPV4] = "not_ipv4",
	[DSM_DROP_IP_HDR]   = "ip_hdr",
	[DSM_DROP_IP_CSUM]  = "ip_csum",
	[DSM_DROP_NOT_UDP]  = "not_udp",
	[DSM_DROP_UDP_PORT] = "udp_port",
	[DSM_DROP_UDP_LEN]  = "udp_len",
	[DSM_DROP_MAGIC]    = "magic",
	[DSM_DROP_VERSION]  = "version",
	[DSM_DROP_TYPE]     = "type",
	[DSM_DROP_FLAGS]    = "flags",
	[DSM_DROP_FRAG]     = "frag",
	[DSM_DROP_LEN]      = "len",
	[DSM_DROP_CSUM]     = "csum",
	[DSM_DROP_NODE]     = "node",
	[DSM_DROP_REASM]    = "reasm",
	[DSM_DROP_NOBUF]    = "nobuf",
	[DSM_DROP_CHANNEL]  = "channel",
};

const char *dsm_drop_name(enum dsm_drop reason)
{
	if ((unsigned)reason >= DSM_DROP__COUNT || drop_names[reason] == NULL)
		return "unknown";
	return drop_names[reason];
}

/* ---- dsm header ---- */

static void hdr_encode_bytes(const struct dsm_hdr *h, uint8_t *b)
{
	st32(b + H_MAGIC, DSM_WIRE_MAGIC);
	b[H_VERSION] = DSM_WIRE_VERSION;
	b[H_TYPE] = h->type;
	st16(b + H_FLAGS, h->flags);
	st16(b + H_SRC, h->src_node);
	st16(b + H_DST, h->dst_node);
	st16(b + H_STATUS, h->status);
	st16(b + H_FRAGCNT, h->frag_cnt);
	st64(b + H_EPOCH, h->epoch);
	st32(b + H_SEQ, h->seq);
	st32(b + H_ACK, h->ack);
	st64(b + H_TOKEN, h->token);
	st32(b + H_SEG, h->seg_id);
	st32(b + H_MSGLEN, h->msg_len);
	st64(b + H_PGNO, h->pgno);
	st64(b + H_PGVER, h->page_version);
	st32(b + H_FRAGOFF, h->frag_off);
	st16(b + H_FRAGLEN, h->frag_len);
	st16(b + H_FRAGIDX, h->frag_idx);
	st32(b + H_CSUM, h->csum);
	st32(b + H_SACK, h->sack);
	st32(b + H_SESS, h->session);
	st32(b + H_PSESS, h->peer_session);
}

void dsm_hdr_encode(const struct dsm_hdr *h, struct dsm_wire_hdr *w)
{
	hdr_encode_bytes(h, (uint8_t *)w);
}

/* Types whose payload is page contents (DSM_F_DATA) or that may say the page
 * was never written (DSM_F_ZERO). */
static bool type_carries_page(uint8_t type)
{
	return type == DSM_MSG_PAGE_GRANT || type == DSM_MSG_INV_ACK ||
	       type == DSM_MSG_DOWNGRADE_ACK || type == DSM_MSG_REHOME_REPORT;
}

/* Types that are replies and may carry a non-OK status. */
static bool type_has_status(uint8_t type)
{
	return type == DSM_MSG_PAGE_GRANT || type == DSM_MSG_INV_ACK ||
	       type == DSM_MSG_DOWNGRADE_ACK || type == DSM_MSG_VMA_RESP ||
	       type == DSM_MSG_NACK || type == DSM_MSG_REHOME_REPORT;
}

/* Per-type flag rules: unknown bits are rejected before this. */
static bool flags_consistent(const struct dsm_hdr *h)
{
	uint16_t f = h->flags;

	if ((f & DSM_F_DATA) && (f & DSM_F_ZERO))
		return false;
	if ((f & DSM_F_RETX) && !(f & DSM_F_SEQ))
		return false;               /* only sequenced frames are retransmitted */
	if ((f & (DSM_F_WRITE | DSM_F_HAVE_COPY)) && h->type != DSM_MSG_PAGE_REQ)
		return false;
	if ((f & DSM_F_EXCLUSIVE) && h->type != DSM_MSG_PAGE_GRANT &&
	    h->type != DSM_MSG_REHOME_REPORT)
		return false;
	if (h->type == DSM_MSG_REHOME_REPORT &&
	    ((f & DSM_F_ZERO) || ((f & DSM_F_EXCLUSIVE) && (f & DSM_F_DATA))))
		return false;               /* an owner reports, the data stays */
	if ((f & (DSM_F_DATA | DSM_F_ZERO)) && !type_carries_page(h->type))
		return false;
	if (h->type == DSM_MSG_CHAN_ACK && f != 0)
		return false;               /* unsequenced, carries nothing */
	return true;
}

enum dsm_drop dsm_hdr_decode(const void *buf, size_t len, struct dsm_hdr *h)
{
	const uint8_t *b = buf;
	struct dsm_hdr t;

	if (buf == NULL || len < DSM_WIRE_HDR_LEN)
		return DSM_DROP_SHORT;
	if (ld32(b + H_MAGIC) != DSM_WIRE_MAGIC)
		return DSM_DROP_MAGIC;
	if (b[H_VERSION] != DSM_WIRE_VERSION)
		return DSM_DROP_VERSION;

	t.type         = b[H_TYPE];
	t.flags        = ld16(b + H_FLAGS);
	t.src_node     = ld16(b + H_SRC);
	t.dst_node     = ld16(b + H_DST);
	t.status       = ld16(b + H_STATUS);
	t.frag_cnt     = ld16(b + H_FRAGCNT);
	t.epoch        = ld64(b + H_EPOCH);
	t.seq          = ld32(b + H_SEQ);
	t.ack          = ld32(b + H_ACK);
	t.token        = ld64(b + H_TOKEN);
	t.seg_id       = ld32(b + H_SEG);
	t.msg_len      = ld32(b + H_MSGLEN);
	t.pgno         = ld64(b + H_PGNO);
	t.page_version = ld64(b + H_PGVER);
	t.frag_off     = ld32(b + H_FRAGOFF);
	t.frag_len     = ld16(b + H_FRAGLEN);
	t.frag_idx     = ld16(b + H_FRAGIDX);
	t.csum         = ld32(b + H_CSUM);
	t.sack         = ld32(b + H_SACK);
	t.session      = ld32(b + H_SESS);
	t.peer_session = ld32(b + H_PSESS);

	if (t.type < DSM_MSG_PAGE_REQ || t.type > DSM_MSG_TYPE_MAX)
		return DSM_DROP_TYPE;
	if (t.flags & ~DSM_F_ALL)
		return DSM_DROP_FLAGS;
	/* session/peer_session (offset 80) may hold any value: the I/O
	 * layer judges them against its channel state. */
	if (!flags_consistent(&t))
		return DSM_DROP_FLAGS;
	/* Status: a known code; only replies carry one; a NACK always does. */
	if (t.status > DSM_ST_MAX)
		return DSM_DROP_FLAGS;
	if (t.status != DSM_ST_OK && !type_has_status(t.type))
		return DSM_DROP_FLAGS;
	if (t.type == DSM_MSG_NACK && t.status == DSM_ST_OK)
		return DSM_DROP_FLAGS;
	if (t.src_node == DSM_NODE_NONE || t.src_node >= DSM_MAX_NODES ||
	    t.dst_node == DSM_NODE_NONE || t.dst_node >= DSM_MAX_NODES)
		return DSM_DROP_NODE;

	/* Lengths. */
	if (t.msg_len > DSM_MSG_MAX)
		return DSM_DROP_LEN;
	if ((t.flags & DSM_F_DATA) && t.msg_len == 0)
		return DSM_DROP_LEN;
	if (t.msg_len != 0 && !(t.flags & DSM_F_DATA) &&
	    t.type != DSM_MSG_VMA_RESP)
		return DSM_DROP_LEN;        /* only page data and VMA_RESP have payload */
	if (t.type == DSM_MSG_VMA_RESP && t.msg_len % DSM_WIRE_VMA_LEN != 0)
		return DSM_DROP_LEN;

	/* Fragments. */
	if (t.frag_cnt == 0 || t.frag_idx >= t.frag_cnt)
		return DSM_DROP_FRAG;
	if ((uint64_t)t.frag_off + t.frag_len > t.msg_len)
		return DSM_DROP_FRAG;
	if (t.frag_cnt == 1) {
		if (t.frag_off != 0 || t.frag_len != t.msg_len)
			return DSM_DROP_FRAG;
	} else {
		/* Every fragment carries bytes; reassembly needs the channel. */
		if (t.frag_len == 0 || t.frag_cnt > t.msg_len ||
		    !(t.flags & DSM_F_SEQ))
			return DSM_DROP_FRAG;
		if (t.frag_idx == 0 && t.frag_off != 0)
			return DSM_DROP_FRAG;
		if (t.frag_idx == t.frag_cnt - 1 &&
		    t.frag_off + t.frag_len != t.msg_len)
			return DSM_DROP_FRAG;
		if (t.frag_idx != t.frag_cnt - 1 &&
		    t.frag_off + t.frag_len == t.msg_len)
			return DSM_DROP_FRAG;
	}

	if (h != NULL)
		*h = t;
	return DSM_DROP_NONE;
}

/* ---- checksum ---- */

static uint32_t csum_bytes(const uint8_t *hdr, const void *payload, size_t len)
{
	uint8_t tmp[DSM_WIRE_HDR_LEN];
	uint32_t crc;

	memcpy(tmp, hdr, sizeof(tmp));
	memset(tmp + H_CSUM, 0, 4);
	/* Standard CRC32C (Castagnoli): init ~0, final complement. */
	crc = rte_hash_crc(tmp, sizeof(tmp), 0xffffffffu);
	if (len > 0)
		crc = rte_hash_crc(payload, (uint32_t)len, crc);
	return ~crc;
}

uint32_t dsm_frame_csum(const struct dsm_wire_hdr *w, const void *payload, size_t len)
{
	return csum_bytes((const uint8_t *)w, payload, len);
}

/* ---- IPv4 ---- */

static uint16_t ip_cksum(const uint8_t *ip)
{
	uint32_t sum = 0;

	for (unsigned i = 0; i < DSM_IP_HDR_LEN; i += 2)
		sum += ((uint32_t)ip[i] << 8) | ip[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)~sum;
}

/* ---- frames ---- */

int dsm_frame_write_headers(void *buf, size_t buflen, const struct dsm_addr *a,
			    const struct dsm_hdr *h)
{
	uint8_t *f = buf;
	uint8_t hb[DSM_WIRE_HDR_LEN];
	size_t total;
	uint32_t ip_len;

	if (buf == NULL || a == NULL || h == NULL)
		return -EINVAL;
	/* Never emit a frame the receiver would drop.  A fragment may be
	 * built before the channel sequences it (dsm_frame_stamp adds
	 * DSM_F_SEQ), so the header is checked as it will be sent. */
	if (h->frag_cnt > 1 && !(h->flags & DSM_F_SEQ)) {
		struct dsm_hdr t = *h;
		t.flags |= DSM_F_SEQ;
		hdr_encode_bytes(&t, hb);
	} else {
		hdr_encode_bytes(h, hb);
	}
	if (dsm_hdr_decode(hb, sizeof(hb), NULL) != DSM_DROP_NONE)
		return -EINVAL;
	hdr_encode_bytes(h, hb);
	ip_len = DSM_IP_HDR_LEN + DSM_UDP_HDR_LEN + DSM_WIRE_HDR_LEN + h->frag_len;
	if (ip_len > 0xffffu)
		return -EINVAL;
	total = DSM_FRAME_OVERHEAD + (size_t)h->frag_len;
	if (buflen < total)
		return -ENOSPC;

	/* Ethernet */
	memcpy(f + ETH_OFF, a->dst_mac, 6);
	memcpy(f + ETH_OFF + 6, a->src_mac, 6);
	st16(f + ETH_OFF + 12, ETHERTYPE_IPV4);

	/* IPv4: IHL 5, DF, TTL 64, UDP. */
	uint8_t *ip = f + IP_OFF;
	ip[0] = 0x45;
	ip[1] = 0;
	st16(ip + 2, (uint16_t)ip_len);
	st16(ip + 4, 0);                /* id: atomic datagram (RFC 6864) */
	st16(ip + 6, IP_DF);
	ip[8] = IP_TTL_;
	ip[9] = IPPROTO_UDP_;
	st16(ip + 10, 0);
	st32(ip + 12, a->src_ip);
	st32(ip + 16, a->dst_ip);
	st16(ip + 10, ip_cksum(ip));

	/* UDP: checksum 0 (the dsm CRC covers header and payload). */
	uint8_t *udp = f + UDP_OFF;
	st16(udp + 0, a->src_port);
	st16(udp + 2, a->dst_port);
	st16(udp + 4, (uint16_t)(ip_len - DSM_IP_HDR_LEN));
	st16(udp + 6, 0);

	memcpy(f + DSM_OFF, hb, sizeof(hb));
	return (int)total;
}

void dsm_frame_seal(void *frame)
{
	uint8_t *d = (uint8_t *)frame + DSM_OFF;
	uint16_t flen = ld16(d + H_FRAGLEN);

	st32(d + H_CSUM, csum_bytes(d, d + DSM_WIRE_HDR_LEN, flen));
}

void dsm_frame_set_session(void *frame, uint32_t session, uint32_t peer_session)
{
	uint8_t *d = (uint8_t *)frame + DSM_OFF;

	st32(d + H_SESS, session);
	st32(d + H_PSESS, peer_session);
}

void dsm_frame_stamp(void *frame, uint32_t seq, uint32_t ack, uint32_t sack,
		     uint16_t set_flags)
{
	uint8_t *d = (uint8_t *)frame + DSM_OFF;

	st32(d + H_SEQ, seq);
	st32(d + H_ACK, ack);
	st32(d + H_SACK, sack);
	st16(d + H_FLAGS, (uint16_t)(ld16(d + H_FLAGS) | (set_flags & DSM_F_ALL)));
	dsm_frame_seal(frame);
}

int dsm_frame_build(void *buf, size_t buflen, const struct dsm_addr *a,
		    const struct dsm_hdr *h, const void *payload)
{
	int n = dsm_frame_write_headers(buf, buflen, a, h);

	if (n < 0)
		return n;
	if (h->frag_len > 0) {
		if (payload == NULL)
			return -EINVAL;
		memcpy((uint8_t *)buf + PAY_OFF, payload, h->frag_len);
	}
	dsm_frame_seal(buf);
	return n;
}

enum dsm_drop dsm_frame_parse(const void *frame, size_t len, uint16_t udp_port,
			      struct dsm_frame *out)
{
	const uint8_t *f = frame;
	const uint8_t *ip, *udp, *d;
	uint16_t ip_len, frag, udp_len;
	struct dsm_hdr h;
	enum dsm_drop r;

	/* Ethernet */
	if (frame == NULL || len < DSM_ETH_HDR_LEN)
		return DSM_DROP_SHORT;
	if (ld16(f + ETH_OFF + 12) != ETHERTYPE_IPV4)
		return DSM_DROP_NOT_IPV4;

	/* IPv4 */
	if (len < IP_OFF + DSM_IP_HDR_LEN)
		return DSM_DROP_SHORT;
	ip = f + IP_OFF;
	if (ip[0] != 0x45)
		return DSM_DROP_IP_HDR;     /* version 4, no options */
	ip_len = ld16(ip + 2);
	if (ip_len < DSM_IP_HDR_LEN)
		return DSM_DROP_IP_HDR;
	if (ip_len > len - IP_OFF)
		return DSM_DROP_SHORT;      /* truncated (padding beyond is fine) */
	frag = ld16(ip + 6);
	if ((frag & IP_MF) || (frag & IP_OFFMASK))
		return DSM_DROP_IP_HDR;     /* no IP fragments */
	if (ip_cksum(ip) != 0)
		return DSM_DROP_IP_CSUM;
	if (ip[9] != IPPROTO_UDP_)
		return DSM_DROP_NOT_UDP;

	/* UDP */
	if (ip_len < DSM_IP_HDR_LEN + DSM_UDP_HDR_LEN)
		return DSM_DROP_SHORT;
	udp = f + UDP_OFF;
	if (ld16(udp + 2) != udp_port)
		return DSM_DROP_UDP_PORT;
	udp_len = ld16(udp + 4);
	if (udp_len != ip_len - DSM_IP_HDR_LEN)
		return DSM_DROP_UDP_LEN;
	/* UDP checksum (udp + 6) is ignored: senders write 0. */

	/* dsm header: bounded by the UDP datagram, not the frame. */
	d = f + DSM_OFF;
	r = dsm_hdr_decode(d, (size_t)udp_len - DSM_UDP_HDR_LEN, &h);
	if (r != DSM_DROP_NONE)
		return r;
	if ((size_t)h.frag_len != (size_t)udp_len - DSM_UDP_HDR_LEN - DSM_WIRE_HDR_LEN)
		return DSM_DROP_LEN;
	if (csum_bytes(d, d + DSM_WIRE_HDR_LEN, h.frag_len) != h.csum)
		return DSM_DROP_CSUM;

	if (out != NULL) {
		memcpy(out->addr.dst_mac, f + ETH_OFF, 6);
		memcpy(out->addr.src_mac, f + ETH_OFF + 6, 6);
		out->addr.src_ip = ld32(ip + 12);
		out->addr.dst_ip = ld32(ip + 16);
		out->addr.src_port = ld16(udp + 0);
		out->addr.dst_port = ld16(udp + 2);
		out->hdr = h;
		out->payload = d + DSM_WIRE_HDR_LEN;
	}
	return DSM_DROP_NONE;
}
