/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Wire codec: encode and validate dsm frames (Ethernet/IPv4/UDP + struct
 * dsm_wire_hdr + payload).  Pure byte-buffer code: no mbufs, no EAL, so it is
 * unit-tested and fuzzed directly.  The only DPDK dependency is the
 * header-only CRC32C in rte_hash_crc.h.
 */
#ifndef DSM_WIRE_CODEC_H
#define DSM_WIRE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsm/wire.h"

/* Largest message payload we accept (a 2 MiB huge page). */
#define DSM_MSG_MAX (2u * 1024 * 1024)

/* Why a frame was dropped.  Every drop is counted by reason. */
enum dsm_drop {
	DSM_DROP_NONE = 0,
	DSM_DROP_SHORT,       /* shorter than the headers it claims */
	DSM_DROP_NOT_IPV4,    /* ethertype is not IPv4 */
	DSM_DROP_IP_HDR,      /* bad IP version/IHL/total length/fragment */
	DSM_DROP_IP_CSUM,     /* IPv4 header checksum mismatch */
	DSM_DROP_NOT_UDP,     /* IP protocol is not UDP */
	DSM_DROP_UDP_PORT,    /* not our UDP port */
	DSM_DROP_UDP_LEN,     /* UDP length inconsistent with IP length */
	DSM_DROP_MAGIC,       /* wrong magic */
	DSM_DROP_VERSION,     /* unsupported protocol version */
	DSM_DROP_TYPE,        /* unknown message type */
	DSM_DROP_FLAGS,       /* unknown or contradictory flags */
	DSM_DROP_FRAG,        /* inconsistent fragment fields */
	DSM_DROP_LEN,         /* msg_len/frag_len out of bounds */
	DSM_DROP_CSUM,        /* payload/header CRC mismatch */
	DSM_DROP_NODE,        /* not addressed to us / unknown sender (caller) */
	DSM_DROP_REASM,       /* fragment out of sequence (reassembly) */
	DSM_DROP_NOBUF,       /* no buffer to hold it (caller) */
	DSM_DROP_CHANNEL,     /* duplicate / out of window (caller) */
	DSM_DROP__COUNT
};

const char *dsm_drop_name(enum dsm_drop reason);

/* Host-order view of a dsm header (magic and version implied). */
struct dsm_hdr {
	uint8_t  type;
	uint16_t flags;
	uint16_t src_node;
	uint16_t dst_node;
	uint16_t status;
	uint16_t frag_cnt;
	uint16_t frag_idx;
	uint16_t frag_len;
	uint64_t epoch;
	uint32_t seq;
	uint32_t ack;
	uint32_t sack;
	uint64_t token;
	uint32_t seg_id;
	uint32_t msg_len;
	uint32_t frag_off;
	uint64_t pgno;
	uint64_t page_version;
	uint32_t csum;
	uint32_t session;      /* sender's channel session nonce */
	uint32_t peer_session; /* receiver's session as the sender knows it */
};

/* Link/network addressing of one frame (host order for ip/port). */
struct dsm_addr {
	uint8_t  src_mac[6];
	uint8_t  dst_mac[6];
	uint32_t src_ip;
	uint32_t dst_ip;
	uint16_t src_port;
	uint16_t dst_port;
};

/* A parsed frame: headers decoded, payload points into the frame buffer. */
struct dsm_frame {
	struct dsm_addr addr;
	struct dsm_hdr  hdr;
	const uint8_t  *payload;   /* frag_len bytes */
};

/* Encode h into w (big-endian), magic/version set.  The csum
 * field is written as h->csum. */
void dsm_hdr_encode(const struct dsm_hdr *h, struct dsm_wire_hdr *w);

/* Decode and validate a dsm header (everything except csum, which needs the
 * payload).  Returns DSM_DROP_NONE or the reason it is invalid. */
enum dsm_drop dsm_hdr_decode(const void *buf, size_t len, struct dsm_hdr *h);

/* CRC32C over the header (csum taken as 0) followed by len payload bytes. */
uint32_t dsm_frame_csum(const struct dsm_wire_hdr *w, const void *payload, size_t len);

/* Write Ethernet/IPv4/UDP/dsm headers for a frame with h->frag_len payload
 * bytes into buf (buflen bytes).  Payload must then be copied to
 * buf + DSM_FRAME_OVERHEAD and the frame sealed with dsm_frame_seal().
 * Returns the total frame length, or -ENOSPC / -EINVAL. */
int dsm_frame_write_headers(void *buf, size_t buflen, const struct dsm_addr *a,
			    const struct dsm_hdr *h);

/* Compute and store csum for a frame written by dsm_frame_write_headers()
 * whose payload is in place. */
void dsm_frame_seal(void *frame);

/* Update the channel fields (seq, ack, sack, extra flags) of a built frame
 * and re-seal it.  Used when a frame is (re)transmitted. */
void dsm_frame_stamp(void *frame, uint32_t seq, uint32_t ack, uint32_t sack,
		     uint16_t set_flags);

/* Rewrite the channel session fields of a built frame (no re-seal: call
 * dsm_frame_stamp afterwards). */
void dsm_frame_set_session(void *frame, uint32_t session, uint32_t peer_session);

/* Convenience: headers + payload copy + seal.  Returns frame length or -errno. */
int dsm_frame_build(void *buf, size_t buflen, const struct dsm_addr *a,
		    const struct dsm_hdr *h, const void *payload);

/* Parse and fully validate a received frame of len bytes addressed to
 * udp_port.  On DSM_DROP_NONE, out is filled. */
enum dsm_drop dsm_frame_parse(const void *frame, size_t len, uint16_t udp_port,
			      struct dsm_frame *out);

/* Number of frames needed for msg_len payload bytes at frag_payload bytes
 * per frame (at least 1). */
static inline uint32_t dsm_frag_count(uint32_t msg_len, uint32_t frag_payload)
{
	return msg_len == 0 ? 1 : (msg_len + frag_payload - 1) / frag_payload;
}

/*
 * In-order reassembly of one peer's fragmented messages.  The reliable
 * channel delivers frames in sequence order, so fragments of a message arrive
 * consecutively; anything else is a protocol error.
 */
enum dsm_reasm_res {
	DSM_REASM_MORE = 0,   /* fragment accepted, message incomplete */
	DSM_REASM_DONE = 1,   /* fragment completed the message */
	DSM_REASM_ERR  = -1,  /* out-of-sequence fragment: message discarded */
};

struct dsm_reasm {
	bool     active;
	struct dsm_hdr first;  /* header of fragment 0 */
	uint16_t next_idx;
	uint32_t next_off;
	uint64_t errors;
};

void dsm_reasm_init(struct dsm_reasm *r);
/* Feed one fragment header.  On DSM_REASM_ERR the partial message (if any)
 * and this fragment are both discarded by the caller, the state is reset and
 * errors is incremented. */
enum dsm_reasm_res dsm_reasm_push(struct dsm_reasm *r, const struct dsm_hdr *h);
/* Abandon any partial message (peer reset). */
void dsm_reasm_reset(struct dsm_reasm *r);

#endif /* DSM_WIRE_CODEC_H */
