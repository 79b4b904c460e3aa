/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm/wire.h - the on-the-wire protocol between page-server nodes.
 *
 * Frames are UDP/IPv4 over Ethernet.  Every frame carries one struct
 * dsm_wire_hdr after the UDP header, followed by up to frag_len bytes of
 * message payload.  A message whose payload does not fit in one frame (a
 * 4 KiB page over a 1500-byte MTU) is split into frag_cnt frames with
 * consecutive reliable-channel sequence numbers; the receiver's channel
 * delivers frames in order, so reassembly is a simple append.
 *
 * Rules (see docs/protocol.md for the full description):
 *  - All multi-byte fields are big-endian (network order).
 *  - magic, version, type, flags and every length are checked on receipt; a
 *    frame that fails any check is dropped and counted, never acted upon.
 *  - session/peer_session let either side of a channel restart: a frame
 *    addressed to an old session of the receiver is stale and dropped.
 *  - csum is CRC32C over the header (with csum set to 0) followed by the
 *    frame's payload bytes.
 *  - epoch is the sender's membership epoch; receivers drop frames whose
 *    epoch differs from their own and count them.
 *  - token identifies a request: (slot << 32) | generation.  Replies echo
 *    it, so a late reply to a recycled slot is recognised by its generation.
 *  - Message type values do not start at 0, so a zeroed frame is invalid.
 */
#ifndef DSM_WIRE_H
#define DSM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define DSM_WIRE_MAGIC    0x44534d50u /* "DSMP" */
#define DSM_WIRE_VERSION  1u
#define DSM_WIRE_UDP_PORT 7788u

/* Node ids are 1..DSM_MAX_NODES-1; 0 is "no node" in directory entries. */
#define DSM_MAX_NODES     64u
#define DSM_NODE_NONE     0u

enum dsm_msg_type {
	DSM_MSG_PAGE_REQ      = 1,  /* requester -> home: read or write intent */
	DSM_MSG_PAGE_GRANT    = 2,  /* home -> requester: data and/or ownership */
	DSM_MSG_INVALIDATE    = 3,  /* home -> holder: drop (and return if owner) */
	DSM_MSG_INV_ACK       = 4,  /* holder -> home: dropped (+ data if owner) */
	DSM_MSG_DOWNGRADE     = 5,  /* home -> owner: exclusive -> shared */
	DSM_MSG_DOWNGRADE_ACK = 6,  /* owner -> home: now shared, + data */
	DSM_MSG_VMA_REQ       = 7,  /* any -> any: segment layout request */
	DSM_MSG_VMA_RESP      = 8,  /* reply: array of struct dsm_wire_vma */
	DSM_MSG_NACK          = 9,  /* reply: status says retry or why refused */
	DSM_MSG_CHAN_ACK      = 10, /* reliable channel ack only, unsequenced */
	DSM_MSG_REHOME_QUERY  = 11, /* new home -> survivor: what do you hold
				     * of this page of a departed home? */
	DSM_MSG_REHOME_REPORT = 12, /* survivor -> new home: EXCLUSIVE (owner,
				     * no data), DATA (shared copy), or
				     * neither (nothing; NOSEG: unknown seg) */
	DSM_MSG_TYPE_MAX      = DSM_MSG_REHOME_REPORT,
};

/* Header flags. */
#define DSM_F_WRITE      0x0001u /* PAGE_REQ: write intent (exclusive) */
#define DSM_F_HAVE_COPY  0x0002u /* PAGE_REQ: requester holds page_version */
#define DSM_F_DATA       0x0004u /* payload carries the page contents */
#define DSM_F_ZERO       0x0008u /* page never written: receiver zero-fills */
#define DSM_F_EXCLUSIVE  0x0010u /* GRANT: exclusive ownership; REHOME_REPORT:
				  * the reporter owns the page */
#define DSM_F_SEQ        0x0020u /* frame is sequenced by the reliable channel */
#define DSM_F_RETX       0x0040u /* retransmission (informational) */
#define DSM_F_ALL        0x007fu

/* NACK status codes (and VMA_RESP status).  Values are stable wire values. */
enum dsm_wire_status {
	DSM_ST_OK        = 0,
	DSM_ST_BUSY      = 1, /* page has a transaction in flight: retry */
	DSM_ST_NOSEG     = 2, /* unknown segment */
	DSM_ST_RANGE     = 3, /* page number beyond the segment's end */
	DSM_ST_NOTHOME   = 4, /* receiver is not the page's home */
	DSM_ST_PERM      = 5, /* segment protection forbids the access */
	DSM_ST_TIMEDOUT  = 6, /* home could not complete the transaction */
	DSM_ST_NOTOWNER  = 7, /* DOWNGRADE/INVALIDATE ack from a non-owner */
	DSM_ST_LOST      = 8, /* the page's only valid copy was on a node that
			       * is gone: reported, never silently replaced */
	DSM_ST_MAX       = DSM_ST_LOST,
};

struct dsm_wire_hdr {
	uint32_t magic;        /*  0 DSM_WIRE_MAGIC */
	uint8_t  version;      /*  4 DSM_WIRE_VERSION */
	uint8_t  type;         /*  5 enum dsm_msg_type */
	uint16_t flags;        /*  6 DSM_F_* */
	uint16_t src_node;     /*  8 sender node id */
	uint16_t dst_node;     /* 10 receiver node id */
	uint16_t status;       /* 12 enum dsm_wire_status */
	uint16_t frag_cnt;     /* 14 frames in this message (>= 1) */
	uint64_t epoch;        /* 16 sender's membership epoch */
	uint32_t seq;          /* 24 channel sequence number (if DSM_F_SEQ) */
	uint32_t ack;          /* 28 cumulative ack: next seq expected from peer */
	uint64_t token;        /* 32 request token (slot << 32 | generation) */
	uint32_t seg_id;       /* 40 segment id */
	uint32_t msg_len;      /* 44 payload bytes of the whole message */
	uint64_t pgno;         /* 48 page number within the segment */
	uint64_t page_version; /* 56 per-page version (ownership generation) */
	uint32_t frag_off;     /* 64 offset of this frame's payload */
	uint16_t frag_len;     /* 68 payload bytes in this frame */
	uint16_t frag_idx;     /* 70 index of this frame in the message */
	uint32_t csum;         /* 72 CRC32C of header (csum=0) + frame payload */
	uint32_t sack;         /* 76 bit i: frame ack+1+i received out of order */
	uint32_t session;      /* 80 sender's channel session nonce */
	uint32_t peer_session; /* 84 receiver's session as the sender knows it
				*    (0: not known yet); see docs/protocol.md */
} __attribute__((packed, aligned(8)));

#define DSM_WIRE_HDR_LEN 88u

/* One segment descriptor in a VMA_RESP payload. */
#define DSM_SEG_NAME_MAX 32u
#define DSM_PROT_READ    0x1u
#define DSM_PROT_WRITE   0x2u
struct dsm_wire_vma {
	uint32_t seg_id;     /*  0 */
	uint16_t home_node;  /*  4 */
	uint16_t prot;       /*  6 DSM_PROT_* */
	uint64_t size;       /*  8 bytes */
	uint32_t page_size;  /* 16 bytes: 4096 or 2097152 */
	uint32_t reserved;   /* 20 must be zero */
	char     name[DSM_SEG_NAME_MAX]; /* 24 NUL-padded */
} __attribute__((packed, aligned(8)));

#define DSM_WIRE_VMA_LEN 56u
/* VMA_REQ with seg_id == DSM_SEG_ALL asks for every segment the node homes. */
#define DSM_SEG_ALL 0xffffffffu

/* Frame sizes: Ethernet + IPv4 (no options) + UDP + dsm header. */
#define DSM_ETH_HDR_LEN   14u
#define DSM_IP_HDR_LEN    20u
#define DSM_UDP_HDR_LEN   8u
#define DSM_FRAME_OVERHEAD (DSM_ETH_HDR_LEN + DSM_IP_HDR_LEN + DSM_UDP_HDR_LEN + DSM_WIRE_HDR_LEN)
/* Payload bytes per frame for an IP MTU: 1500 -> 1384, so 4 KiB takes 3. */
#define DSM_FRAG_PAYLOAD(mtu) ((mtu) - DSM_IP_HDR_LEN - DSM_UDP_HDR_LEN - DSM_WIRE_HDR_LEN)

#define DSM_TOKEN(slot, gen) (((uint64_t)(slot) << 32) | (uint32_t)(gen))
#define DSM_TOKEN_SLOT(tok)  ((uint32_t)((tok) >> 32))
#define DSM_TOKEN_GEN(tok)   ((uint32_t)(tok))

/* The layout is the contract: pin every size and offset. */
_Static_assert(sizeof(struct dsm_wire_hdr) == DSM_WIRE_HDR_LEN, "wire hdr size");
_Static_assert(offsetof(struct dsm_wire_hdr, type) == 5, "type");
_Static_assert(offsetof(struct dsm_wire_hdr, flags) == 6, "flags");
_Static_assert(offsetof(struct dsm_wire_hdr, src_node) == 8, "src_node");
_Static_assert(offsetof(struct dsm_wire_hdr, dst_node) == 10, "dst_node");
_Static_assert(offsetof(struct dsm_wire_hdr, status) == 12, "status");
_Static_assert(offsetof(struct dsm_wire_hdr, frag_cnt) == 14, "frag_cnt");
_Static_assert(offsetof(struct dsm_wire_hdr, epoch) == 16, "epoch");
_Static_assert(offsetof(struct dsm_wire_hdr, seq) == 24, "seq");
_Static_assert(offsetof(struct dsm_wire_hdr, ack) == 28, "ack");
_Static_assert(offsetof(struct dsm_wire_hdr, token) == 32, "token");
_Static_assert(offsetof(struct dsm_wire_hdr, seg_id) == 40, "seg_id");
_Static_assert(offsetof(struct dsm_wire_hdr, msg_len) == 44, "msg_len");
_Static_assert(offsetof(struct dsm_wire_hdr, pgno) == 48, "pgno");
_Static_assert(offsetof(struct dsm_wire_hdr, page_version) == 56, "page_version");
_Static_assert(offsetof(struct dsm_wire_hdr, frag_off) == 64, "frag_off");
_Static_assert(offsetof(struct dsm_wire_hdr, frag_len) == 68, "frag_len");
_Static_assert(offsetof(struct dsm_wire_hdr, frag_idx) == 70, "frag_idx");
_Static_assert(offsetof(struct dsm_wire_hdr, csum) == 72, "csum");
_Static_assert(offsetof(struct dsm_wire_hdr, sack) == 76, "sack");
_Static_assert(offsetof(struct dsm_wire_hdr, session) == 80, "session");
_Static_assert(offsetof(struct dsm_wire_hdr, peer_session) == 84, "peer_session");
_Static_assert(sizeof(struct dsm_wire_vma) == DSM_WIRE_VMA_LEN, "vma size");
_Static_assert(offsetof(struct dsm_wire_vma, size) == 8, "vma size off");
_Static_assert(offsetof(struct dsm_wire_vma, page_size) == 16, "vma page_size");
_Static_assert(offsetof(struct dsm_wire_vma, name) == 24, "vma name");
_Static_assert(DSM_FRAG_PAYLOAD(1500) == 1384, "1500-byte MTU payload");

#endif /* DSM_WIRE_H */
