/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the wire codec (dataplane/wire/codec.c).  Frames that are
 * parsed at a truncated or exact length live in malloc'd buffers of exactly
 * that length, so valgrind / ASan catch any read past the end.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include "cunit_main.h"
#include <rte_hash_crc.h>

#include "wire/codec.h"

#define PORT   DSM_WIRE_UDP_PORT
#define DOFF   (DSM_ETH_HDR_LEN + DSM_IP_HDR_LEN + DSM_UDP_HDR_LEN) /* 42 */
#define FRAME_MAX (DSM_FRAME_OVERHEAD + 65535u)

static uint8_t fbuf[FRAME_MAX + 128];

static const struct dsm_addr test_addr = {
	.src_mac = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 },
	.dst_mac = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee },
	.src_ip = 0x0a000001u,
	.dst_ip = 0xc0a80102u,
	.src_port = 40000,
	.dst_port = PORT,
};

/* ---- helpers ---- */

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* A valid single-frame GRANT with data and distinct field values. */
static struct dsm_hdr grant_hdr(uint16_t len)
{
	struct dsm_hdr h = {
		.type = DSM_MSG_PAGE_GRANT,
		.flags = DSM_F_DATA | DSM_F_EXCLUSIVE | DSM_F_SEQ,
		.src_node = 3,
		.dst_node = 5,
		.status = DSM_ST_OK,
		.frag_cnt = 1,
		.frag_idx = 0,
		.frag_len = len,
		.epoch = 0x8877665544332211ull,
		.seq = 0x01020304u,
		.ack = 0x05060708u,
		.sack = 0x090a0b0cu,
		.token = DSM_TOKEN(0x80000007u, 0xfffffffeu),
		.seg_id = 0x0d0e0f10u,
		.msg_len = len,
		.frag_off = 0,
		.pgno = 0x8000000000001234ull,
		.page_version = 0xfedcba9876543210ull,
	};
	return h;
}

static uint8_t payload_buf[65536];

/* Build a frame with h and a pattern payload into fbuf; returns its length. */
static int build(const struct dsm_hdr *h)
{
	fill_pattern(payload_buf, h->frag_len, h->frag_len + 7);
	return dsm_frame_build(fbuf, sizeof(fbuf), &test_addr, h, payload_buf);
}

/* Parse len bytes copied into an exactly-sized heap buffer. */
static enum dsm_drop parse_exact(const uint8_t *src, size_t len, struct dsm_frame *out)
{
	uint8_t *p = malloc(len ? len : 1);
	enum dsm_drop r;

	CU_ASSERT_FATAL(p != NULL);
	memcpy(p, src, len);
	r = dsm_frame_parse(p, len, PORT, out);
	free(p);
	return r;
}

static void put16(uint8_t *p, uint16_t v) { v = htobe16(v); memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return be16toh(v); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }

static void ip_fix_csum(uint8_t *f)
{
	uint8_t *ip = f + DSM_ETH_HDR_LEN;
	uint32_t sum = 0;

	put16(ip + 10, 0);
	for (int i = 0; i < 20; i += 2)
		sum += get16(ip + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(ip + 10, (uint16_t)~sum);
}

/* Field-wise comparison (struct padding is unspecified). */
static bool hdr_eq(const struct dsm_hdr *a, const struct dsm_hdr *b)
{
	return a->type == b->type && a->flags == b->flags &&
	       a->src_node == b->src_node && a->dst_node == b->dst_node &&
	       a->status == b->status && a->frag_cnt == b->frag_cnt &&
	       a->frag_idx == b->frag_idx && a->frag_len == b->frag_len &&
	       a->epoch == b->epoch && a->seq == b->seq && a->ack == b->ack &&
	       a->sack == b->sack && a->token == b->token &&
	       a->seg_id == b->seg_id && a->msg_len == b->msg_len &&
	       a->frag_off == b->frag_off && a->pgno == b->pgno &&
	       a->page_version == b->page_version && a->csum == b->csum &&
	       a->session == b->session && a->peer_session == b->peer_session;
}

static bool reached[DSM_DROP__COUNT];

static enum dsm_drop parse_note(const uint8_t *f, size_t len)
{
	enum dsm_drop r = parse_exact(f, len, NULL);

	reached[r] = true;
	return r;
}

/* ---- tests ---- */

static void test_crc_convention(void)
{
	/* rte_hash_crc is raw CRC32C; we use init ~0 and a final complement,
	 * which gives the standard check value. */
	CU_ASSERT_EQUAL(~rte_hash_crc("123456789", 9, 0xffffffffu), 0xe3069283u);

	struct dsm_hdr h = grant_hdr(100);
	int n = build(&h);
	CU_ASSERT_FATAL(n > 0);
	uint8_t tmp[DSM_WIRE_HDR_LEN];
	memcpy(tmp, fbuf + DOFF, sizeof(tmp));
	memset(tmp + 72, 0, 4);
	uint32_t crc = rte_hash_crc(tmp, sizeof(tmp), 0xffffffffu);
	crc = ~rte_hash_crc(fbuf + DSM_FRAME_OVERHEAD, 100, crc);
	CU_ASSERT_EQUAL(get32(fbuf + DOFF + 72), crc);
	/* dsm_frame_csum ignores the csum field's current contents. */
	struct dsm_wire_hdr w;
	memcpy(&w, fbuf + DOFF, sizeof(w));
	CU_ASSERT_EQUAL(dsm_frame_csum(&w, fbuf + DSM_FRAME_OVERHEAD, 100), crc);
	w.csum = 0;
	CU_ASSERT_EQUAL(dsm_frame_csum(&w, fbuf + DSM_FRAME_OVERHEAD, 100), crc);
	CU_ASSERT_NOT_EQUAL(dsm_frame_csum(&w, fbuf + DSM_FRAME_OVERHEAD, 99), crc);
}

/* Distinct values in every field, high bits set in the wide ones. */
static struct dsm_hdr all_fields_hdr(void)
{
	struct dsm_hdr h = {
		.type = DSM_MSG_PAGE_GRANT,
		.flags = DSM_F_DATA | DSM_F_EXCLUSIVE | DSM_F_SEQ | DSM_F_RETX,
		.src_node = 62,
		.dst_node = 33,
		.status = DSM_ST_NOTOWNER,
		.frag_cnt = 3,
		.frag_idx = 1,
		.frag_len = 1384,
		.epoch = 0x8123456789abcdefull,
		.seq = 0xdeadbeefu,
		.ack = 0x80000001u,
		.sack = 0xc0ffee01u,
		.token = 0xfedcba9876543210ull,
		.seg_id = 0x89abcdefu,
		.msg_len = 4096,
		.frag_off = 1384,
		.pgno = 0x8000000000000001ull,
		.page_version = 0xa5a5a5a55a5a5a5aull,
		.csum = 0xcafef00du,
		.session = 0x9abcdef1u,
		.peer_session = 0x80000003u,
	};
	return h;
}

static void test_hdr_roundtrip(void)
{
	struct dsm_hdr h = all_fields_hdr(), d;
	struct dsm_wire_hdr w;

	memset(&w, 0xff, sizeof(w));
	dsm_hdr_encode(&h, &w);
	memset(&d, 0, sizeof(d));
	CU_ASSERT_EQUAL_FATAL(dsm_hdr_decode(&w, sizeof(w), &d), DSM_DROP_NONE);
	CU_ASSERT_EQUAL(d.type, h.type);
	CU_ASSERT_EQUAL(d.flags, h.flags);
	CU_ASSERT_EQUAL(d.src_node, h.src_node);
	CU_ASSERT_EQUAL(d.dst_node, h.dst_node);
	CU_ASSERT_EQUAL(d.status, h.status);
	CU_ASSERT_EQUAL(d.frag_cnt, h.frag_cnt);
	CU_ASSERT_EQUAL(d.frag_idx, h.frag_idx);
	CU_ASSERT_EQUAL(d.frag_len, h.frag_len);
	CU_ASSERT_EQUAL(d.epoch, h.epoch);
	CU_ASSERT_EQUAL(d.seq, h.seq);
	CU_ASSERT_EQUAL(d.ack, h.ack);
	CU_ASSERT_EQUAL(d.sack, h.sack);
	CU_ASSERT_EQUAL(d.token, h.token);
	CU_ASSERT_EQUAL(d.seg_id, h.seg_id);
	CU_ASSERT_EQUAL(d.msg_len, h.msg_len);
	CU_ASSERT_EQUAL(d.frag_off, h.frag_off);
	CU_ASSERT_EQUAL(d.pgno, h.pgno);
	CU_ASSERT_EQUAL(d.page_version, h.page_version);
	CU_ASSERT_EQUAL(d.csum, h.csum);
	CU_ASSERT_EQUAL(d.session, h.session);
	CU_ASSERT_EQUAL(d.peer_session, h.peer_session);
	/* Decoding from an unaligned buffer works the same. */
	uint8_t un[DSM_WIRE_HDR_LEN + 3];
	memcpy(un + 3, &w, sizeof(w));
	struct dsm_hdr d2;
	CU_ASSERT_EQUAL(dsm_hdr_decode(un + 3, DSM_WIRE_HDR_LEN, &d2), DSM_DROP_NONE);
	CU_ASSERT(hdr_eq(&d, &d2));
	/* Too short for a header. */
	CU_ASSERT_EQUAL(dsm_hdr_decode(&w, sizeof(w) - 1, &d2), DSM_DROP_SHORT);
	CU_ASSERT_EQUAL(dsm_hdr_decode(NULL, 0, &d2), DSM_DROP_SHORT);
}

static void test_hdr_layout(void)
{
	struct dsm_hdr h = all_fields_hdr();
	struct dsm_wire_hdr w;
	const uint8_t *b = (const uint8_t *)&w;
	static const uint8_t expect[DSM_WIRE_HDR_LEN] = {
		0x44, 0x53, 0x4d, 0x50,                         /*  0 magic "DSMP" */
		0x01,                                           /*  4 version */
		0x02,                                           /*  5 type GRANT */
		0x00, 0x74,                                     /*  6 flags */
		0x00, 0x3e,                                     /*  8 src 62 */
		0x00, 0x21,                                     /* 10 dst 33 */
		0x00, 0x07,                                     /* 12 status */
		0x00, 0x03,                                     /* 14 frag_cnt */
		0x81, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, /* 16 epoch */
		0xde, 0xad, 0xbe, 0xef,                         /* 24 seq */
		0x80, 0x00, 0x00, 0x01,                         /* 28 ack */
		0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, /* 32 token */
		0x89, 0xab, 0xcd, 0xef,                         /* 40 seg_id */
		0x00, 0x00, 0x10, 0x00,                         /* 44 msg_len */
		0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* 48 pgno */
		0xa5, 0xa5, 0xa5, 0xa5, 0x5a, 0x5a, 0x5a, 0x5a, /* 56 page_version */
		0x00, 0x00, 0x05, 0x68,                         /* 64 frag_off */
		0x05, 0x68,                                     /* 68 frag_len */
		0x00, 0x01,                                     /* 70 frag_idx */
		0xca, 0xfe, 0xf0, 0x0d,                         /* 72 csum */
		0xc0, 0xff, 0xee, 0x01,                         /* 76 sack */
		0x9a, 0xbc, 0xde, 0xf1,                         /* 80 session */
		0x80, 0x00, 0x00, 0x03,                         /* 84 peer_session */
	};

	memset(&w, 0x77, sizeof(w));
	dsm_hdr_encode(&h, &w);
	for (unsigned i = 0; i < DSM_WIRE_HDR_LEN; i++) {
		if (b[i] != expect[i])
			printf("\n  byte %u: got %02x want %02x", i, b[i], expect[i]);
		CU_ASSERT_EQUAL(b[i], expect[i]);
	}
	CU_ASSERT_EQUAL(get64(b + 16), h.epoch);
	CU_ASSERT_EQUAL(get64(b + 32), h.token);
	CU_ASSERT_EQUAL(get64(b + 48), h.pgno);
	CU_ASSERT_EQUAL(get64(b + 56), h.page_version);
}

static void test_build_parse(void)
{
	struct dsm_hdr h = grant_hdr(300);
	struct dsm_frame fr;
	int n = build(&h);
	const uint8_t *ip = fbuf + DSM_ETH_HDR_LEN, *udp = ip + DSM_IP_HDR_LEN;

	CU_ASSERT_EQUAL_FATAL(n, (int)(DSM_FRAME_OVERHEAD + 300));
	/* Ethernet */
	CU_ASSERT_EQUAL(memcmp(fbuf, test_addr.dst_mac, 6), 0);
	CU_ASSERT_EQUAL(memcmp(fbuf + 6, test_addr.src_mac, 6), 0);
	CU_ASSERT_EQUAL(get16(fbuf + 12), 0x0800);
	/* IPv4 */
	CU_ASSERT_EQUAL(ip[0], 0x45);
	CU_ASSERT_EQUAL(get16(ip + 2), 20 + 8 + 88 + 300);
	CU_ASSERT_EQUAL(get16(ip + 6), 0x4000);    /* DF, offset 0 */
	CU_ASSERT_EQUAL(ip[8], 64);
	CU_ASSERT_EQUAL(ip[9], 17);
	CU_ASSERT_EQUAL(get32(ip + 12), test_addr.src_ip);
	CU_ASSERT_EQUAL(get32(ip + 16), test_addr.dst_ip);
	uint8_t ipc[DSM_ETH_HDR_LEN + 20];
	memcpy(ipc, fbuf, sizeof(ipc));
	ip_fix_csum(ipc);                          /* recompute independently */
	CU_ASSERT_NOT_EQUAL(get16(ip + 10), 0);
	CU_ASSERT_EQUAL(memcmp(ipc + DSM_ETH_HDR_LEN, ip, 20), 0);
	/* UDP */
	CU_ASSERT_EQUAL(get16(udp + 0), test_addr.src_port);
	CU_ASSERT_EQUAL(get16(udp + 2), PORT);
	CU_ASSERT_EQUAL(get16(udp + 4), 8 + 88 + 300);
	CU_ASSERT_EQUAL(get16(udp + 6), 0);

	memset(&fr, 0, sizeof(fr));
	CU_ASSERT_EQUAL_FATAL(parse_exact(fbuf, (size_t)n, NULL), DSM_DROP_NONE);
	CU_ASSERT_EQUAL_FATAL(dsm_frame_parse(fbuf, (size_t)n, PORT, &fr), DSM_DROP_NONE);
	CU_ASSERT_EQUAL(memcmp(fr.addr.src_mac, test_addr.src_mac, 6), 0);
	CU_ASSERT_EQUAL(memcmp(fr.addr.dst_mac, test_addr.dst_mac, 6), 0);
	CU_ASSERT_EQUAL(fr.addr.src_ip, test_addr.src_ip);
	CU_ASSERT_EQUAL(fr.addr.dst_ip, test_addr.dst_ip);
	CU_ASSERT_EQUAL(fr.addr.src_port, test_addr.src_port);
	CU_ASSERT_EQUAL(fr.addr.dst_port, test_addr.dst_port);
	CU_ASSERT_PTR_EQUAL(fr.payload, fbuf + DSM_FRAME_OVERHEAD);
	CU_ASSERT_EQUAL(memcmp(fr.payload, payload_buf, 300), 0);
	h.csum = fr.hdr.csum;
	CU_ASSERT(hdr_eq(&h, &fr.hdr));
	/* Wrong port. */
	CU_ASSERT_EQUAL(dsm_frame_parse(fbuf, (size_t)n, PORT + 1, &fr), DSM_DROP_UDP_PORT);
}

static void test_build_errors(void)
{
	struct dsm_hdr h = grant_hdr(300);
	uint8_t small[DSM_FRAME_OVERHEAD + 299];

	CU_ASSERT_EQUAL(dsm_frame_build(small, sizeof(small), &test_addr, &h, payload_buf), -ENOSPC);
	CU_ASSERT_EQUAL(dsm_frame_write_headers(small, sizeof(small), &test_addr, &h), -ENOSPC);
	h.frag_len = 300;
	CU_ASSERT_EQUAL(dsm_frame_build(fbuf, sizeof(fbuf), &test_addr, &h, NULL), -EINVAL);
	h.type = 0;
	CU_ASSERT_EQUAL(dsm_frame_write_headers(fbuf, sizeof(fbuf), &test_addr, &h), -EINVAL);
	h = grant_hdr(300);
	h.flags |= DSM_F_ZERO;
	CU_ASSERT_EQUAL(dsm_frame_write_headers(fbuf, sizeof(fbuf), &test_addr, &h), -EINVAL);
	h = grant_hdr(300);
	h.dst_node = 0;
	CU_ASSERT_EQUAL(dsm_frame_write_headers(fbuf, sizeof(fbuf), &test_addr, &h), -EINVAL);
	/* Largest frame: IP total length would overflow 16 bits. */
	h = grant_hdr(65535);
	CU_ASSERT_EQUAL(dsm_frame_write_headers(fbuf, sizeof(fbuf), &test_addr, &h), -EINVAL);
	h = grant_hdr(65535 - 116);
	CU_ASSERT_EQUAL(build(&h), (int)(DSM_FRAME_OVERHEAD + 65535 - 116));
	CU_ASSERT_EQUAL(dsm_frame_parse(fbuf, DSM_FRAME_OVERHEAD + 65535 - 116, PORT, NULL),
			DSM_DROP_NONE);
}

/* Every message type in its legal shapes builds and parses. */
static void test_message_shapes(void)
{
	struct {
		uint8_t type; uint16_t flags; uint16_t status; uint32_t len;
	} ok[] = {
		{ DSM_MSG_PAGE_REQ, DSM_F_SEQ, 0, 0 },
		{ DSM_MSG_PAGE_REQ, DSM_F_SEQ | DSM_F_WRITE | DSM_F_HAVE_COPY, 0, 0 },
		{ DSM_MSG_PAGE_GRANT, DSM_F_SEQ | DSM_F_DATA, 0, 4096 },
		{ DSM_MSG_PAGE_GRANT, DSM_F_SEQ | DSM_F_ZERO | DSM_F_EXCLUSIVE, 0, 0 },
		{ DSM_MSG_PAGE_GRANT, DSM_F_SEQ | DSM_F_EXCLUSIVE, 0, 0 },
		{ DSM_MSG_INVALIDATE, DSM_F_SEQ, 0, 0 },
		{ DSM_MSG_INV_ACK, DSM_F_SEQ, 0, 0 },
		{ DSM_MSG_INV_ACK, DSM_F_SEQ | DSM_F_DATA | DSM_F_RETX, 0, 4096 },
		{ DSM_MSG_INV_ACK, DSM_F_SEQ, DSM_ST_NOTOWNER, 0 },
		{ DSM_MSG_DOWNGRADE, DSM_F_SEQ, 0, 0 },
		{ DSM_MSG_DOWNGRADE_ACK, DSM_F_SEQ | DSM_F_DATA, 0, 4096 },
		{ DSM_MSG_DOWNGRADE_ACK, DSM_F_SEQ | DSM_F_ZERO, 0, 0 },
		{ DSM_MSG_VMA_REQ, DSM_F_SEQ, 0, 0 },
		{ DSM_MSG_VMA_REQ, 0, 0, 0 },
		{ DSM_MSG_VMA_RESP, DSM_F_SEQ, 0, 3 * DSM_WIRE_VMA_LEN },
		{ DSM_MSG_VMA_RESP, DSM_F_SEQ, DSM_ST_NOSEG, 0 },
		{ DSM_MSG_NACK, DSM_F_SEQ, DSM_ST_BUSY, 0 },
		{ DSM_MSG_NACK, DSM_F_SEQ, DSM_ST_MAX, 0 },
		{ DSM_MSG_CHAN_ACK, 0, 0, 0 },
		{ DSM_MSG_REHOME_QUERY, DSM_F_SEQ, 0, 0 },
		{ DSM_MSG_REHOME_REPORT, DSM_F_SEQ, 0, 0 },
		{ DSM_MSG_REHOME_REPORT, DSM_F_SEQ, DSM_ST_NOSEG, 0 },
		{ DSM_MSG_REHOME_REPORT, DSM_F_SEQ | DSM_F_EXCLUSIVE, 0, 0 },
		{ DSM_MSG_REHOME_REPORT, DSM_F_SEQ | DSM_F_DATA, 0, 4096 },
	};
	struct {
		uint8_t type; uint16_t flags; uint16_t status; uint32_t len;
		enum dsm_drop why;
	} bad[] = {
		{ DSM_MSG_PAGE_GRANT, DSM_F_SEQ | DSM_F_DATA | DSM_F_ZERO, 0, 64, DSM_DROP_FLAGS },
		{ DSM_MSG_CHAN_ACK, DSM_F_SEQ, 0, 0, DSM_DROP_FLAGS },
		{ DSM_MSG_CHAN_ACK, DSM_F_RETX, 0, 0, DSM_DROP_FLAGS },
		{ DSM_MSG_PAGE_REQ, DSM_F_RETX, 0, 0, DSM_DROP_FLAGS },
		{ DSM_MSG_PAGE_GRANT, DSM_F_SEQ | DSM_F_WRITE, 0, 0, DSM_DROP_FLAGS },
		{ DSM_MSG_PAGE_REQ, DSM_F_SEQ | DSM_F_EXCLUSIVE, 0, 0, DSM_DROP_FLAGS },
		{ DSM_MSG_PAGE_REQ, DSM_F_SEQ | DSM_F_DATA, 0, 64, DSM_DROP_FLAGS },
		{ DSM_MSG_NACK, DSM_F_SEQ | DSM_F_ZERO, DSM_ST_BUSY, 0, DSM_DROP_FLAGS },
		{ DSM_MSG_NACK, DSM_F_SEQ, DSM_ST_OK, 0, DSM_DROP_FLAGS },
		{ DSM_MSG_NACK, DSM_F_SEQ, DSM_ST_MAX + 1, 0, DSM_DROP_FLAGS },
		{ DSM_MSG_PAGE_REQ, DSM_F_SEQ, DSM_ST_BUSY, 0, DSM_DROP_FLAGS },
		{ DSM_MSG_PAGE_GRANT, DSM_F_SEQ | DSM_F_DATA, 0, 0, DSM_DROP_LEN },
		{ DSM_MSG_PAGE_GRANT, DSM_F_SEQ | DSM_F_ZERO, 0, 16, DSM_DROP_LEN },
		{ DSM_MSG_CHAN_ACK, 0, 0, 16, DSM_DROP_LEN },
		{ DSM_MSG_PAGE_REQ, DSM_F_SEQ, 0, 16, DSM_DROP_LEN },
		{ DSM_MSG_VMA_RESP, DSM_F_SEQ, 0, DSM_WIRE_VMA_LEN + 1, DSM_DROP_LEN },
		{ DSM_MSG_REHOME_QUERY, DSM_F_SEQ | DSM_F_DATA, 0, 64, DSM_DROP_FLAGS },
		{ DSM_MSG_REHOME_QUERY, DSM_F_SEQ | DSM_F_EXCLUSIVE, 0, 0, DSM_DROP_FLAGS },
		{ DSM_MSG_REHOME_QUERY, DSM_F_SEQ, DSM_ST_NOSEG, 0, DSM_DROP_FLAGS },
		{ DSM_MSG_REHOME_REPORT, DSM_F_SEQ | DSM_F_ZERO, 0, 0, DSM_DROP_FLAGS },
		{ DSM_MSG_REHOME_REPORT, DSM_F_SEQ | DSM_F_EXCLUSIVE | DSM_F_DATA, 0, 64,
		  DSM_DROP_FLAGS },
		{ DSM_MSG_REHOME_REPORT, DSM_F_SEQ | DSM_F_WRITE, 0, 0, DSM_DROP_FLAGS },
		{ DSM_MSG_REHOME_REPORT, DSM_F_SEQ, 0, 16, DSM_DROP_LEN },
	};

	for (unsigned i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct dsm_hdr h = grant_hdr((uint16_t)ok[i].len);
		h.type = ok[i].type;
		h.flags = ok[i].flags;
		h.status = ok[i].status;
		int n = build(&h);
		if (n < 0)
			printf("\n  ok[%u] build %d", i, n);
		CU_ASSERT_FATAL(n > 0);
		enum dsm_drop r = parse_exact(fbuf, (size_t)n, NULL);
		if (r != DSM_DROP_NONE)
			printf("\n  ok[%u]: %s", i, dsm_drop_name(r));
		CU_ASSERT_EQUAL(r, DSM_DROP_NONE);
	}
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dsm_hdr h = grant_hdr((uint16_t)bad[i].len), d;
		struct dsm_wire_hdr w;
		h.type = bad[i].type;
		h.flags = bad[i].flags;
		h.status = bad[i].status;
		dsm_hdr_encode(&h, &w);
		enum dsm_drop r = dsm_hdr_decode(&w, sizeof(w), &d);
		if (r != bad[i].why)
			printf("\n  bad[%u]: %s want %s", i, dsm_drop_name(r),
			       dsm_drop_name(bad[i].why));
		CU_ASSERT_EQUAL(r, bad[i].why);
		CU_ASSERT_EQUAL(dsm_frame_write_headers(fbuf, sizeof(fbuf), &test_addr, &h),
				-EINVAL);
	}
}

/* Mutate the dsm header of a fresh valid frame, re-seal, parse. */
enum width { W8 = 1, W16 = 2, W32 = 4, W64 = 8 };

static enum dsm_drop hdr_mut(const struct dsm_hdr *base, unsigned off, enum width w,
			     uint64_t v)
{
	int n = build(base);
	uint8_t *d = fbuf + DOFF;

	CU_ASSERT_FATAL(n > 0);
	switch (w) {
	case W8:  d[off] = (uint8_t)v; break;
	case W16: put16(d + off, (uint16_t)v); break;
	case W32: put32(d + off, (uint32_t)v); break;
	case W64: put64(d + off, v); break;
	}
	dsm_frame_seal(fbuf);
	return parse_note(fbuf, (size_t)n);
}

/* Mutate the IP/UDP headers, fix the IP checksum, parse. */
static enum dsm_drop ip_mut(unsigned off, enum width w, uint32_t v, bool fix)
{
	struct dsm_hdr h = grant_hdr(64);
	int n = build(&h);

	CU_ASSERT_FATAL(n > 0);
	if (w == W8)
		fbuf[off] = (uint8_t)v;
	else
		put16(fbuf + off, (uint16_t)v);
	if (fix)
		ip_fix_csum(fbuf);
	return parse_note(fbuf, (size_t)n);
}

#define IPO(x) (DSM_ETH_HDR_LEN + (x))
#define UDPO(x) (DSM_ETH_HDR_LEN + DSM_IP_HDR_LEN + (x))

static void test_drop_reasons(void)
{
	struct dsm_hdr g = grant_hdr(64);
	struct dsm_hdr frag = all_fields_hdr();   /* middle fragment of 3 */
	int n;

	memset(reached, 0, sizeof(reached));

	/* SHORT */
	n = build(&g);
	CU_ASSERT_EQUAL(parse_note(fbuf, 0), DSM_DROP_SHORT);
	CU_ASSERT_EQUAL(parse_note(fbuf, 13), DSM_DROP_SHORT);
	CU_ASSERT_EQUAL(parse_note(fbuf, 33), DSM_DROP_SHORT);
	CU_ASSERT_EQUAL(parse_note(fbuf, (size_t)n - 1), DSM_DROP_SHORT);
	CU_ASSERT_EQUAL(dsm_frame_parse(NULL, 100, PORT, NULL), DSM_DROP_SHORT);
	/* IP datagram too short for UDP, or UDP too short for the dsm header
	 * (lengths consistent, checksum fixed). */
	CU_ASSERT_EQUAL(ip_mut(IPO(2), W16, 20 + 4, true), DSM_DROP_SHORT);
	n = build(&g);
	put16(fbuf + IPO(2), 20 + 8 + 87);
	put16(fbuf + UDPO(4), 8 + 87);
	ip_fix_csum(fbuf);
	CU_ASSERT_EQUAL(parse_note(fbuf, (size_t)n), DSM_DROP_SHORT);

	/* NOT_IPV4 */
	CU_ASSERT_EQUAL(ip_mut(12, W16, 0x86dd, false), DSM_DROP_NOT_IPV4);
	CU_ASSERT_EQUAL(ip_mut(12, W16, 0x8100, false), DSM_DROP_NOT_IPV4);

	/* IP_HDR: version, IHL, total length, MF, fragment offset */
	CU_ASSERT_EQUAL(ip_mut(IPO(0), W8, 0x65, true), DSM_DROP_IP_HDR);
	CU_ASSERT_EQUAL(ip_mut(IPO(0), W8, 0x46, true), DSM_DROP_IP_HDR);
	CU_ASSERT_EQUAL(ip_mut(IPO(0), W8, 0x44, true), DSM_DROP_IP_HDR);
	CU_ASSERT_EQUAL(ip_mut(IPO(2), W16, 19, true), DSM_DROP_IP_HDR);
	CU_ASSERT_EQUAL(ip_mut(IPO(6), W16, 0x2000, true), DSM_DROP_IP_HDR);
	CU_ASSERT_EQUAL(ip_mut(IPO(6), W16, 0x4001, true), DSM_DROP_IP_HDR);
	CU_ASSERT_EQUAL(ip_mut(IPO(6), W16, 0x0001, true), DSM_DROP_IP_HDR);
	/* DF clear, id set: still fine */
	CU_ASSERT_EQUAL(ip_mut(IPO(6), W16, 0x0000, true), DSM_DROP_NONE);
	CU_ASSERT_EQUAL(ip_mut(IPO(4), W16, 0x1234, true), DSM_DROP_NONE);
	/* IP total length beyond the frame */
	CU_ASSERT_EQUAL(ip_mut(IPO(2), W16, 20 + 8 + 88 + 65, true), DSM_DROP_SHORT);

	/* IP_CSUM */
	CU_ASSERT_EQUAL(ip_mut(IPO(8), W8, 63, false), DSM_DROP_IP_CSUM);
	CU_ASSERT_EQUAL(ip_mut(IPO(10), W16, 0, false), DSM_DROP_IP_CSUM);

	/* NOT_UDP */
	CU_ASSERT_EQUAL(ip_mut(IPO(9), W8, 6, true), DSM_DROP_NOT_UDP);

	/* UDP_PORT, UDP_LEN; the UDP checksum is ignored */
	CU_ASSERT_EQUAL(ip_mut(UDPO(2), W16, PORT + 1, false), DSM_DROP_UDP_PORT);
	CU_ASSERT_EQUAL(ip_mut(UDPO(4), W16, 8 + 88 + 63, false), DSM_DROP_UDP_LEN);
	CU_ASSERT_EQUAL(ip_mut(UDPO(4), W16, 8 + 88 + 65, false), DSM_DROP_UDP_LEN);
	CU_ASSERT_EQUAL(ip_mut(UDPO(6), W16, 0xbeef, false), DSM_DROP_NONE);

	/* MAGIC, VERSION, TYPE */
	CU_ASSERT_EQUAL(hdr_mut(&g, 0, W32, 0x44534d51), DSM_DROP_MAGIC);
	CU_ASSERT_EQUAL(hdr_mut(&g, 0, W32, 0), DSM_DROP_MAGIC);
	CU_ASSERT_EQUAL(hdr_mut(&g, 4, W8, 0), DSM_DROP_VERSION);
	CU_ASSERT_EQUAL(hdr_mut(&g, 4, W8, 2), DSM_DROP_VERSION);
	CU_ASSERT_EQUAL(hdr_mut(&g, 5, W8, 0), DSM_DROP_TYPE);
	CU_ASSERT_EQUAL(hdr_mut(&g, 5, W8, DSM_MSG_TYPE_MAX + 1), DSM_DROP_TYPE);
	CU_ASSERT_EQUAL(hdr_mut(&g, 5, W8, 0xff), DSM_DROP_TYPE);

	/* FLAGS: every unknown bit, contradictions, status */
	for (unsigned bit = 0; bit < 16; bit++) {
		uint16_t f = (uint16_t)(1u << bit);
		if (f & DSM_F_ALL)
			continue;
		CU_ASSERT_EQUAL(hdr_mut(&g, 6, W16, g.flags | f), DSM_DROP_FLAGS);
	}
	CU_ASSERT_EQUAL(hdr_mut(&g, 6, W16, g.flags | DSM_F_ZERO), DSM_DROP_FLAGS);
	CU_ASSERT_EQUAL(hdr_mut(&g, 12, W16, DSM_ST_MAX + 1), DSM_DROP_FLAGS);
	CU_ASSERT_EQUAL(hdr_mut(&g, 12, W16, 0xffff), DSM_DROP_FLAGS);

	/* Offset 80..87 carries the session nonces: any value is accepted
	 * by the codec (the I/O layer judges them). */
	for (unsigned i = 0; i < 8; i++)
		CU_ASSERT_EQUAL(hdr_mut(&g, 80 + i, W8, 0xff), DSM_DROP_NONE);

	/* NODE */
	CU_ASSERT_EQUAL(hdr_mut(&g, 8, W16, 0), DSM_DROP_NODE);
	CU_ASSERT_EQUAL(hdr_mut(&g, 8, W16, DSM_MAX_NODES), DSM_DROP_NODE);
	CU_ASSERT_EQUAL(hdr_mut(&g, 10, W16, 0), DSM_DROP_NODE);
	CU_ASSERT_EQUAL(hdr_mut(&g, 10, W16, 0xffff), DSM_DROP_NODE);
	CU_ASSERT_EQUAL(hdr_mut(&g, 8, W16, DSM_MAX_NODES - 1), DSM_DROP_NONE);

	/* LEN: msg_len too big; frag_len disagrees with the UDP length */
	CU_ASSERT_EQUAL(hdr_mut(&g, 44, W32, DSM_MSG_MAX + 1), DSM_DROP_LEN);
	CU_ASSERT_EQUAL(hdr_mut(&g, 44, W32, 0xffffffffu), DSM_DROP_LEN);
	{
		struct dsm_hdr z = grant_hdr(64);
		z.msg_len = 128;     /* message of 2 frames, this one is idx 0 */
		z.frag_cnt = 2;
		CU_ASSERT_EQUAL(hdr_mut(&z, 68, W16, 63), DSM_DROP_LEN);
		CU_ASSERT_EQUAL(hdr_mut(&z, 68, W16, 65), DSM_DROP_LEN);
		CU_ASSERT_EQUAL(hdr_mut(&z, 68, W16, 64), DSM_DROP_NONE);
	}

	/* FRAG */
	CU_ASSERT_EQUAL(hdr_mut(&g, 14, W16, 0), DSM_DROP_FRAG);
	CU_ASSERT_EQUAL(hdr_mut(&g, 70, W16, 1), DSM_DROP_FRAG);      /* idx >= cnt */
	CU_ASSERT_EQUAL(hdr_mut(&g, 64, W32, 1), DSM_DROP_FRAG);      /* cnt 1, off != 0 */
	CU_ASSERT_EQUAL(hdr_mut(&g, 44, W32, 65), DSM_DROP_FRAG);     /* cnt 1, len != msg_len */
	CU_ASSERT_EQUAL(hdr_mut(&g, 44, W32, 63), DSM_DROP_FRAG);     /* off + len > msg_len */
	CU_ASSERT_EQUAL(hdr_mut(&frag, 64, W32, 4096 - 1383), DSM_DROP_FRAG);
	CU_ASSERT_EQUAL(hdr_mut(&frag, 64, W32, 0xffffffffu), DSM_DROP_FRAG);
	CU_ASSERT_EQUAL(hdr_mut(&frag, 70, W16, 3), DSM_DROP_FRAG);
	CU_ASSERT_EQUAL(hdr_mut(&frag, 70, W16, 0), DSM_DROP_FRAG);   /* idx 0, off != 0 */
	CU_ASSERT_EQUAL(hdr_mut(&frag, 70, W16, 2), DSM_DROP_FRAG);   /* last, not at end */
	CU_ASSERT_EQUAL(hdr_mut(&frag, 6, W16, frag.flags & ~(DSM_F_SEQ | DSM_F_RETX)),
			DSM_DROP_FRAG);                               /* unsequenced */
	CU_ASSERT_EQUAL(hdr_mut(&frag, 14, W16, 5000), DSM_DROP_FRAG); /* cnt > msg_len */
	CU_ASSERT_EQUAL(hdr_mut(&frag, 70, W16, 1), DSM_DROP_NONE);

	/* CSUM: header or payload changed without re-sealing, or csum wrong */
	n = build(&g);
	fbuf[n - 1] ^= 0x80;
	CU_ASSERT_EQUAL(parse_note(fbuf, (size_t)n), DSM_DROP_CSUM);
	n = build(&g);
	put32(fbuf + DOFF + 24, 0x12345678);   /* seq, not re-sealed */
	CU_ASSERT_EQUAL(parse_note(fbuf, (size_t)n), DSM_DROP_CSUM);
	n = build(&g);
	put32(fbuf + DOFF + 72, get32(fbuf + DOFF + 72) + 1);
	CU_ASSERT_EQUAL(parse_note(fbuf, (size_t)n), DSM_DROP_CSUM);

	/* Every reason parse can return was produced.  EPOCH, REASM, NOBUF
	 * and CHANNEL are the caller's. */
	for (int r = DSM_DROP_SHORT; r <= DSM_DROP_NODE; r++) {
		if (!reached[r])
			printf("\n  not reached: %s", dsm_drop_name((enum dsm_drop)r));
		CU_ASSERT(reached[r]);
	}
}

static void test_truncation(void)
{
	struct dsm_hdr shapes[3];
	shapes[0] = grant_hdr(200);
	shapes[1] = grant_hdr(0);
	shapes[1].type = DSM_MSG_CHAN_ACK;
	shapes[1].flags = 0;
	shapes[2] = all_fields_hdr();

	for (unsigned s = 0; s < 3; s++) {
		int n = build(&shapes[s]);
		CU_ASSERT_FATAL(n > 0);
		CU_ASSERT_EQUAL(parse_exact(fbuf, (size_t)n, NULL), DSM_DROP_NONE);
		for (int len = 0; len < n; len++) {
			struct dsm_frame fr;
			enum dsm_drop r = parse_exact(fbuf, (size_t)len, &fr);
			CU_ASSERT_NOT_EQUAL(r, DSM_DROP_NONE);
			if (len >= (int)(DSM_ETH_HDR_LEN + DSM_IP_HDR_LEN))
				CU_ASSERT_EQUAL(r, DSM_DROP_SHORT);
		}
	}
}

static void test_padding(void)
{
	/* Trailing bytes after the IP datagram (Ethernet padding) are ignored. */
	struct dsm_hdr h = grant_hdr(10);
	int n = build(&h);

	for (unsigned pad = 1; pad <= 64; pad++) {
		uint8_t *p = malloc((size_t)n + pad);
		struct dsm_frame fr;

		CU_ASSERT_FATAL(p != NULL);
		memcpy(p, fbuf, (size_t)n);
		memset(p + n, (int)(0xa5 ^ pad), pad);
		CU_ASSERT_EQUAL(dsm_frame_parse(p, (size_t)n + pad, PORT, &fr), DSM_DROP_NONE);
		CU_ASSERT_EQUAL(fr.hdr.frag_len, 10);
		CU_ASSERT_EQUAL(memcmp(fr.payload, payload_buf, 10), 0);
		free(p);
	}
	/* A CHAN_ACK is 130 bytes, so no minimum-size padding; a runt-padded
	 * frame shorter than the IP length is still SHORT. */
	CU_ASSERT(n > 60);
}

static void test_bitflips(void)
{
	struct dsm_hdr h = all_fields_hdr();
	int n = build(&h);
	unsigned csum_hits = 0, other = 0;

	CU_ASSERT_FATAL(n > 0);
	uint8_t *orig = malloc((size_t)n);
	CU_ASSERT_FATAL(orig != NULL);
	memcpy(orig, fbuf, (size_t)n);

	for (unsigned byte = 0; byte < (unsigned)n; byte++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			memcpy(fbuf, orig, (size_t)n);
			fbuf[byte] ^= (uint8_t)(1u << bit);
			enum dsm_drop r = dsm_frame_parse(fbuf, (size_t)n, PORT, NULL);
			bool covered =
				(byte >= 12 && byte < 14) ||                  /* ethertype */
				(byte >= IPO(0) && byte < IPO(20)) ||         /* IPv4 header */
				(byte >= UDPO(2) && byte < UDPO(6)) ||        /* port, length */
				byte >= DOFF;                            /* dsm hdr + payload */
			if (covered) {
				if (r == DSM_DROP_NONE)
					printf("\n  undetected flip at %u.%u", byte, bit);
				CU_ASSERT_NOT_EQUAL(r, DSM_DROP_NONE);
				if (r == DSM_DROP_CSUM)
					csum_hits++;
				else
					other++;
			} else {
				/* MACs, UDP source port, UDP checksum: not covered
				 * by the codec (the caller checks addressing). */
				CU_ASSERT_EQUAL(r, DSM_DROP_NONE);
			}
		}
	}
	CU_ASSERT(csum_hits > 0);
	CU_ASSERT(other > 0);
	free(orig);
}

static void test_stamp(void)
{
	struct dsm_hdr h = grant_hdr(500);
	struct dsm_frame fr;
	int n;

	h.flags &= (uint16_t)~DSM_F_SEQ;
	h.seq = h.ack = h.sack = 0;
	n = build(&h);
	CU_ASSERT_EQUAL_FATAL(dsm_frame_parse(fbuf, (size_t)n, PORT, &fr), DSM_DROP_NONE);
	CU_ASSERT_EQUAL(fr.hdr.flags & DSM_F_SEQ, 0);

	dsm_frame_stamp(fbuf, 0xfffffffeu, 0x80000000u, 0xaaaaaaaau, DSM_F_SEQ);
	CU_ASSERT_EQUAL_FATAL(dsm_frame_parse(fbuf, (size_t)n, PORT, &fr), DSM_DROP_NONE);
	CU_ASSERT_EQUAL(fr.hdr.seq, 0xfffffffeu);
	CU_ASSERT_EQUAL(fr.hdr.ack, 0x80000000u);
	CU_ASSERT_EQUAL(fr.hdr.sack, 0xaaaaaaaau);
	CU_ASSERT_EQUAL(fr.hdr.flags, h.flags | DSM_F_SEQ);
	CU_ASSERT_EQUAL(fr.hdr.token, h.token);
	CU_ASSERT_EQUAL(fr.hdr.pgno, h.pgno);
	CU_ASSERT_EQUAL(fr.hdr.epoch, h.epoch);
	CU_ASSERT_EQUAL(memcmp(fr.payload, payload_buf, 500), 0);

	/* Retransmission: new ack, RETX added, previous flags kept. */
	dsm_frame_stamp(fbuf, 0xfffffffeu, 7, 0, DSM_F_RETX);
	CU_ASSERT_EQUAL_FATAL(dsm_frame_parse(fbuf, (size_t)n, PORT, &fr), DSM_DROP_NONE);
	CU_ASSERT_EQUAL(fr.hdr.ack, 7);
	CU_ASSERT_EQUAL(fr.hdr.sack, 0);
	CU_ASSERT_EQUAL(fr.hdr.flags, h.flags | DSM_F_SEQ | DSM_F_RETX);

	/* Unknown bits passed to stamp are not put on the wire. */
	dsm_frame_stamp(fbuf, 1, 2, 3, 0xff00);
	CU_ASSERT_EQUAL(dsm_frame_parse(fbuf, (size_t)n, PORT, &fr), DSM_DROP_NONE);

	/* Session nonces: set_session does not re-seal, stamp does. */
	dsm_frame_set_session(fbuf, 0xdeadbeefu, 0x80000001u);
	CU_ASSERT_EQUAL(dsm_frame_parse(fbuf, (size_t)n, PORT, &fr), DSM_DROP_CSUM);
	dsm_frame_stamp(fbuf, 1, 2, 3, 0);
	CU_ASSERT_EQUAL_FATAL(dsm_frame_parse(fbuf, (size_t)n, PORT, &fr), DSM_DROP_NONE);
	CU_ASSERT_EQUAL(fr.hdr.session, 0xdeadbeefu);
	CU_ASSERT_EQUAL(fr.hdr.peer_session, 0x80000001u);
	CU_ASSERT_EQUAL(get32(fbuf + DOFF + 80), 0xdeadbeefu);
	CU_ASSERT_EQUAL(get32(fbuf + DOFF + 84), 0x80000001u);

	/* A fragment may be built unsequenced: invalid until stamped. */
	h = all_fields_hdr();
	h.flags &= (uint16_t)~(DSM_F_SEQ | DSM_F_RETX);
	n = build(&h);
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(dsm_frame_parse(fbuf, (size_t)n, PORT, &fr), DSM_DROP_FRAG);
	dsm_frame_stamp(fbuf, 5, 6, 7, DSM_F_SEQ);
	CU_ASSERT_EQUAL(dsm_frame_parse(fbuf, (size_t)n, PORT, &fr), DSM_DROP_NONE);
	CU_ASSERT_EQUAL(fr.hdr.frag_idx, 1);

	/* Stamping a CHAN_ACK (no payload) keeps it valid. */
	h = grant_hdr(0);
	h.type = DSM_MSG_CHAN_ACK;
	h.flags = 0;
	n = build(&h);
	dsm_frame_stamp(fbuf, 0, 99, 0x5, 0);
	CU_ASSERT_EQUAL(dsm_frame_parse(fbuf, (size_t)n, PORT, &fr), DSM_DROP_NONE);
	CU_ASSERT_EQUAL(fr.hdr.ack, 99);
	CU_ASSERT_EQUAL(fr.hdr.sack, 5);

	/* write_headers + payload copy + seal == build */
	h = grant_hdr(77);
	n = build(&h);
	uint8_t *copy = malloc((size_t)n);
	CU_ASSERT_FATAL(copy != NULL);
	memcpy(copy, fbuf, (size_t)n);
	memset(fbuf, 0, (size_t)n);
	CU_ASSERT_EQUAL(dsm_frame_write_headers(fbuf, sizeof(fbuf), &test_addr, &h), n);
	memcpy(fbuf + DSM_FRAME_OVERHEAD, payload_buf, 77);
	dsm_frame_seal(fbuf);
	CU_ASSERT_EQUAL(memcmp(copy, fbuf, (size_t)n), 0);
	free(copy);
}

static void test_frag_count(void)
{
	CU_ASSERT_EQUAL(dsm_frag_count(0, 1384), 1);
	CU_ASSERT_EQUAL(dsm_frag_count(1, 1384), 1);
	CU_ASSERT_EQUAL(dsm_frag_count(1384, 1384), 1);
	CU_ASSERT_EQUAL(dsm_frag_count(1385, 1384), 2);
	CU_ASSERT_EQUAL(dsm_frag_count(2768, 1384), 2);
	CU_ASSERT_EQUAL(dsm_frag_count(2769, 1384), 3);
	CU_ASSERT_EQUAL(dsm_frag_count(4096, DSM_FRAG_PAYLOAD(1500)), 3);
	CU_ASSERT_EQUAL(dsm_frag_count(4096, DSM_FRAG_PAYLOAD(4212)), 1);
	CU_ASSERT_EQUAL(dsm_frag_count(4096, DSM_FRAG_PAYLOAD(4211)), 2);
	CU_ASSERT_EQUAL(dsm_frag_count(4096, DSM_FRAG_PAYLOAD(9000)), 1);
	CU_ASSERT_EQUAL(dsm_frag_count(DSM_MSG_MAX, 1384), 1516);
	CU_ASSERT_EQUAL(dsm_frag_count(DSM_MSG_MAX, DSM_FRAG_PAYLOAD(9000)), 237);
	CU_ASSERT_EQUAL(DSM_FRAG_PAYLOAD(1500), 1384);
	CU_ASSERT_EQUAL(DSM_FRAG_PAYLOAD(4212), 4096);
}

/* Send a message of len bytes over an IP MTU, reassemble, compare. */
static void send_and_reassemble(uint32_t len, uint32_t mtu, uint32_t expect_frames)
{
	uint32_t per = DSM_FRAG_PAYLOAD(mtu);
	uint32_t cnt = dsm_frag_count(len, per);
	uint8_t *msg = malloc(len), *out = calloc(1, len);
	struct dsm_reasm ra;
	uint32_t seq = 100;

	CU_ASSERT_FATAL(msg != NULL && out != NULL);
	CU_ASSERT_EQUAL(cnt, expect_frames);
	fill_pattern(msg, len, len ^ mtu);
	dsm_reasm_init(&ra);

	for (uint32_t i = 0; i < cnt; i++) {
		struct dsm_hdr h = grant_hdr(0);
		uint32_t off = i * per;
		h.msg_len = len;
		h.frag_cnt = (uint16_t)cnt;
		h.frag_idx = (uint16_t)i;
		h.frag_off = off;
		h.frag_len = (uint16_t)(len - off < per ? len - off : per);
		h.seq = seq++;
		int n = dsm_frame_build(fbuf, sizeof(fbuf), &test_addr, &h, msg + off);
		CU_ASSERT_FATAL(n > 0);
		CU_ASSERT(n <= (int)(DSM_ETH_HDR_LEN + mtu));
		if (i + 1 < cnt)
			CU_ASSERT_EQUAL(n, (int)(DSM_ETH_HDR_LEN + mtu));

		struct dsm_frame fr;
		CU_ASSERT_EQUAL_FATAL(parse_exact(fbuf, (size_t)n, NULL), DSM_DROP_NONE);
		CU_ASSERT_EQUAL_FATAL(dsm_frame_parse(fbuf, (size_t)n, PORT, &fr),
				      DSM_DROP_NONE);
		enum dsm_reasm_res rr = dsm_reasm_push(&ra, &fr.hdr);
		CU_ASSERT_EQUAL(rr, i + 1 == cnt ? DSM_REASM_DONE : DSM_REASM_MORE);
		memcpy(out + fr.hdr.frag_off, fr.payload, fr.hdr.frag_len);
	}
	CU_ASSERT_EQUAL(memcmp(msg, out, len), 0);
	CU_ASSERT_EQUAL(ra.errors, 0);
	CU_ASSERT_FALSE(ra.active);
	CU_ASSERT_EQUAL(ra.first.msg_len, len);
	CU_ASSERT_EQUAL(ra.first.frag_idx, 0);
	free(msg);
	free(out);
}

static void test_page_1500(void)
{
	send_and_reassemble(4096, 1500, 3);
}

static void test_jumbo(void)
{
	send_and_reassemble(4096, 9000, 1);
	send_and_reassemble(4096, 4212, 1);  /* smallest MTU for one frame */
	send_and_reassemble(4096, 4211, 2);
	send_and_reassemble(2 * 1024 * 1024, 9000, 237);
}

static void test_drop_names(void)
{
	for (int i = 0; i < DSM_DROP__COUNT; i++) {
		const char *a = dsm_drop_name((enum dsm_drop)i);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_STRING_NOT_EQUAL(a, "unknown");
		for (int j = 0; j < i; j++)
			CU_ASSERT_STRING_NOT_EQUAL(a, dsm_drop_name((enum dsm_drop)j));
	}
	CU_ASSERT_STRING_EQUAL(dsm_drop_name(DSM_DROP__COUNT), "unknown");
	CU_ASSERT_STRING_EQUAL(dsm_drop_name((enum dsm_drop)-1), "unknown");
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "crc32c convention", test_crc_convention },
		{ "header round trip", test_hdr_roundtrip },
		{ "header byte layout", test_hdr_layout },
		{ "build and parse", test_build_parse },
		{ "build errors", test_build_errors },
		{ "message shapes", test_message_shapes },
		{ "every drop reason", test_drop_reasons },
		{ "truncation", test_truncation },
		{ "ethernet padding", test_padding },
		{ "bit flips", test_bitflips },
		{ "stamp", test_stamp },
		{ "frag count", test_frag_count },
		{ "4 KiB page over 1500 MTU", test_page_1500 },
		{ "jumbo frames", test_jumbo },
		{ "drop names", test_drop_names },
	};

	return DSM_CUNIT_MAIN("wire_codec", tests, NULL);
}
