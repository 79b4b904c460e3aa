/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bad input for the target's validation: each kind of malformed frame is
 * sent `ops` times (default 10) and reported with the drop reason the
 * target must count it under, so a test can compare the target's counters
 * with exactly what was sent.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>

#include "loadgen.h"
#include "wire/codec.h"

#define FRAME_MAX (DSM_FRAME_OVERHEAD + DSM_WIRE_VMA_LEN)

struct bad_kind {
	const char *name;
	enum dsm_drop expect;
	/* Corrupts a valid frame of *len bytes in place. */
	void (*corrupt)(uint8_t *f, uint32_t *len, struct dsm_hdr *h, uint64_t i);
};

static struct dsm_wire_hdr *whdr(uint8_t *f)
{
	return (struct dsm_wire_hdr *)(f + DSM_FRAME_OVERHEAD - DSM_WIRE_HDR_LEN);
}

static void c_truncated(uint8_t *f, uint32_t *len, struct dsm_hdr *h, uint64_t i)
{
	(void)f; (void)h;
	/* Cut inside the dsm header; IP/UDP lengths still claim the full frame. */
	*len = DSM_ETH_HDR_LEN + DSM_IP_HDR_LEN + DSM_UDP_HDR_LEN + 8 + (uint32_t)(i % 40);
}

static void c_magic(uint8_t *f, uint32_t *len, struct dsm_hdr *h, uint64_t i)
{
	(void)len; (void)h; (void)i;
	whdr(f)->magic = rte_cpu_to_be_32(0xbadc0ffe);
	dsm_frame_seal(f);
}

static void c_version(uint8_t *f, uint32_t *len, struct dsm_hdr *h, uint64_t i)
{
	(void)len; (void)h; (void)i;
	whdr(f)->version = DSM_WIRE_VERSION + 1;
	dsm_frame_seal(f);
}

static void c_type(uint8_t *f, uint32_t *len, struct dsm_hdr *h, uint64_t i)
{
	(void)len; (void)h;
	whdr(f)->type = (uint8_t)(i & 1 ? 0 : 200);
	dsm_frame_seal(f);
}

static void c_flags(uint8_t *f, uint32_t *len, struct dsm_hdr *h, uint64_t i)
{
	(void)len; (void)h; (void)i;
	whdr(f)->flags |= rte_cpu_to_be_16(0x8000);
	dsm_frame_seal(f);
}

static void c_csum(uint8_t *f, uint32_t *len, struct dsm_hdr *h, uint64_t i)
{
	(void)h;
	f[*len - 1 - (i % 16)] ^= 0x5a; /* payload byte, after sealing */
}

static void c_udp_port(uint8_t *f, uint32_t *len, struct dsm_hdr *h, uint64_t i)
{
	(void)len; (void)h; (void)i;
	f[DSM_ETH_HDR_LEN + DSM_IP_HDR_LEN + 2] ^= 0x01; /* destination port */
}

static void c_not_ipv4(uint8_t *f, uint32_t *len, struct dsm_hdr *h, uint64_t i)
{
	(void)len; (void)h; (void)i;
	f[12] = 0x86; /* ethertype IPv6 */
	f[13] = 0xdd;
}

static const struct bad_kind kinds[] = {
	{ "truncated", DSM_DROP_SHORT, c_truncated },
	{ "bad_magic", DSM_DROP_MAGIC, c_magic },
	{ "wrong_version", DSM_DROP_VERSION, c_version },
	{ "unknown_type", DSM_DROP_TYPE, c_type },
	{ "unknown_flags", DSM_DROP_FLAGS, c_flags },
	{ "bad_checksum", DSM_DROP_CSUM, c_csum },
	{ "wrong_udp_port", DSM_DROP_UDP_PORT, c_udp_port },
	{ "not_ipv4", DSM_DROP_NOT_IPV4, c_not_ipv4 },
};

/* A valid sequenced frame (an unsolicited VMA_RESP with one record) far
 * outside the receive window, so that even delivered it would change
 * nothing: only the corruption decides its fate. */
static int valid_frame(struct lg_ctx *c, uint8_t *f, struct dsm_hdr *h, uint64_t i)
{
	static const struct dsm_wire_vma payload = { .name = "injected" };
	struct dsm_addr a;
	uint32_t sess, peer_sess;
	int len;

	if (dsm_node_peer_addr(c->node, c->o.target, &a, &sess, &peer_sess))
		return -ENOENT;
	memset(h, 0, sizeof(*h));
	h->type = DSM_MSG_VMA_RESP;
	h->flags = DSM_F_SEQ;
	h->src_node = dsm_node_self(c->node);
	h->dst_node = c->o.target;
	h->epoch = dsm_node_epoch(c->node);
	h->frag_cnt = 1;
	h->msg_len = h->frag_len = sizeof(payload);
	h->seg_id = DSM_SEG_ALL;
	h->seq = 0x40000000u + (uint32_t)i; /* far outside any window */
	h->token = i;
	h->session = sess;
	h->peer_session = peer_sess;
	len = dsm_frame_build(f, FRAME_MAX, &a, h, &payload);
	return len;
}

int lg_inject_run(struct lg_ctx *c)
{
	uint8_t f[FRAME_MAX];
	struct dsm_hdr h;
	uint64_t per_kind = c->o.ops ? c->o.ops : 10;

	if (!c->o.target) {
		fprintf(stderr, "dsm-loadgen: inject needs --target NODE\n");
		return -EINVAL;
	}
	printf("{\"injected\": {");
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		uint64_t sent = 0;

		for (uint64_t i = 0; i < per_kind; i++) {
			int len = valid_frame(c, f, &h, i);
			uint32_t ulen;

			if (len < 0) {
				fprintf(stderr, "dsm-loadgen: cannot build a valid frame: %s\n",
					strerror(-len));
				return len;
			}
			ulen = (uint32_t)len;
			kinds[k].corrupt(f, &ulen, &h, i);
			if (dsm_node_xmit_raw(c->node, c->o.target, f, ulen) == 0)
				sent++;
		}
		printf("%s\"%s\": {\"count\": %lu, \"drop_reason\": \"%s\"}", k ? ", " : "",
		       kinds[k].name, (unsigned long)sent, dsm_drop_name(kinds[k].expect));
	}
	printf("}}\n");
	fflush(stdout);
	return dsm_node_send(c->node, &(struct dsm_msg){ .type = DSM_MSG_VMA_REQ,
			     .dst = c->o.target, .seg_id = DSM_SEG_ALL,
			     .token = LG_INJECT_SYNC_TOKEN }, NULL);
}
