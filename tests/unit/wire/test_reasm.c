/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of in-order fragment reassembly (dataplane/wire/reasm.c). */
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>
#include "cunit_main.h"

#include "wire/codec.h"

#define PER 1384u

/* Fragment idx of a 4 KiB page GRANT split at 1384 bytes (3 frames). */
static struct dsm_hdr frag(uint16_t idx)
{
	struct dsm_hdr h = {
		.type = DSM_MSG_PAGE_GRANT,
		.flags = DSM_F_DATA | DSM_F_EXCLUSIVE | DSM_F_SEQ,
		.src_node = 2,
		.dst_node = 7,
		.frag_cnt = 3,
		.frag_idx = idx,
		.frag_off = idx * PER,
		.frag_len = (uint16_t)(idx < 2 ? PER : 4096 - 2 * PER),
		.epoch = 0x8000000000000003ull,
		.seq = 10u + idx,
		.ack = 4,
		.token = 0x8000000100000002ull,
		.seg_id = 9,
		.msg_len = 4096,
		.pgno = 0xffffffff00000001ull,
		.page_version = 12,
	};
	return h;
}

static struct dsm_hdr single(void)
{
	struct dsm_hdr h = frag(0);

	h.type = DSM_MSG_NACK;
	h.flags = DSM_F_SEQ;
	h.status = DSM_ST_BUSY;
	h.frag_cnt = 1;
	h.frag_len = 0;
	h.msg_len = 0;
	return h;
}

/* Feed a complete 3-fragment message; returns true if it completed. */
static bool whole(struct dsm_reasm *r)
{
	struct dsm_hdr h0 = frag(0), h1 = frag(1), h2 = frag(2);

	return dsm_reasm_push(r, &h0) == DSM_REASM_MORE &&
	       dsm_reasm_push(r, &h1) == DSM_REASM_MORE &&
	       dsm_reasm_push(r, &h2) == DSM_REASM_DONE;
}

static void test_init(void)
{
	struct dsm_reasm r;

	memset(&r, 0xff, sizeof(r));
	dsm_reasm_init(&r);
	CU_ASSERT_FALSE(r.active);
	CU_ASSERT_EQUAL(r.errors, 0);
	CU_ASSERT_EQUAL(r.next_idx, 0);
	CU_ASSERT_EQUAL(r.next_off, 0);
}

static void test_single(void)
{
	struct dsm_reasm r;
	struct dsm_hdr h = single();

	dsm_reasm_init(&r);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &h), DSM_REASM_DONE);
	CU_ASSERT_FALSE(r.active);
	CU_ASSERT_EQUAL(r.first.token, h.token);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &h), DSM_REASM_DONE);  /* next message */
	/* A single-frame message with payload. */
	h = frag(0);
	h.frag_cnt = 1;
	h.msg_len = h.frag_len = 4096;
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &h), DSM_REASM_DONE);
	CU_ASSERT_EQUAL(r.errors, 0);
}

static void test_three(void)
{
	struct dsm_reasm r;
	struct dsm_hdr h;

	dsm_reasm_init(&r);
	h = frag(0);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &h), DSM_REASM_MORE);
	CU_ASSERT(r.active);
	CU_ASSERT_EQUAL(r.next_idx, 1);
	CU_ASSERT_EQUAL(r.next_off, PER);
	h = frag(1);
	h.flags |= DSM_F_RETX;    /* a retransmitted fragment is fine */
	h.ack = 99;               /* channel fields may change per frame */
	h.sack = 0xf;
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &h), DSM_REASM_MORE);
	CU_ASSERT_EQUAL(r.next_off, 2 * PER);
	h = frag(2);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &h), DSM_REASM_DONE);
	CU_ASSERT_FALSE(r.active);
	CU_ASSERT_EQUAL(r.first.frag_idx, 0);
	CU_ASSERT_EQUAL(r.first.msg_len, 4096);
	CU_ASSERT_EQUAL(r.errors, 0);
	/* Back to back messages, interleaved with single frames. */
	CU_ASSERT(whole(&r));
	h = single();
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &h), DSM_REASM_DONE);
	CU_ASSERT(whole(&r));
	CU_ASSERT_EQUAL(r.errors, 0);
}

/* Push frag 0, then bad; expect ERR, reset state, errors+1, recovery. */
static void expect_err_after0(const struct dsm_hdr *bad, const char *what)
{
	struct dsm_reasm r;
	struct dsm_hdr h0 = frag(0);

	dsm_reasm_init(&r);
	CU_ASSERT_EQUAL_FATAL(dsm_reasm_push(&r, &h0), DSM_REASM_MORE);
	enum dsm_reasm_res res = dsm_reasm_push(&r, bad);
	if (res != DSM_REASM_ERR)
		printf("\n  not rejected: %s", what);
	CU_ASSERT_EQUAL(res, DSM_REASM_ERR);
	CU_ASSERT_FALSE(r.active);
	CU_ASSERT_EQUAL(r.errors, 1);
	CU_ASSERT(whole(&r));
	CU_ASSERT_EQUAL(r.errors, 1);
}

static void test_skipped(void)
{
	struct dsm_hdr h = frag(2);

	expect_err_after0(&h, "skipped fragment 1");

	/* Skipped last fragment: a new message's fragment 0 arrives. */
	struct dsm_reasm r;
	struct dsm_hdr a = frag(0), b = frag(1);
	dsm_reasm_init(&r);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &a), DSM_REASM_MORE);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &b), DSM_REASM_MORE);
	a.token++;
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &a), DSM_REASM_ERR);
	CU_ASSERT_EQUAL(r.errors, 1);

	/* A mid-message fragment with no message started. */
	dsm_reasm_init(&r);
	b = frag(1);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &b), DSM_REASM_ERR);
	b = frag(2);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &b), DSM_REASM_ERR);
	CU_ASSERT_EQUAL(r.errors, 2);
	CU_ASSERT_FALSE(r.active);
	CU_ASSERT(whole(&r));

	/* A single-frame message in the middle of a fragmented one. */
	h = single();
	expect_err_after0(&h, "single-frame message mid-message");
}

static void test_mismatch(void)
{
	struct dsm_hdr h;

	h = frag(1); h.token ^= 1;            expect_err_after0(&h, "token");
	h = frag(1); h.token ^= 1ull << 63;   expect_err_after0(&h, "token high bit");
	h = frag(1); h.type = DSM_MSG_INV_ACK; h.flags = DSM_F_DATA | DSM_F_SEQ;
	expect_err_after0(&h, "type");
	h = frag(1); h.seg_id++;              expect_err_after0(&h, "seg_id");
	h = frag(1); h.pgno ^= 1ull << 62;    expect_err_after0(&h, "pgno");
	h = frag(1); h.msg_len = 8192;        expect_err_after0(&h, "msg_len");
	h = frag(1); h.src_node = 3;          expect_err_after0(&h, "src_node");
	h = frag(1); h.dst_node = 3;          expect_err_after0(&h, "dst_node");
	h = frag(1); h.frag_cnt = 4;          expect_err_after0(&h, "frag_cnt");
	h = frag(1); h.epoch++;               expect_err_after0(&h, "epoch");
	h = frag(1); h.page_version++;        expect_err_after0(&h, "page_version");
	h = frag(1); h.flags &= (uint16_t)~DSM_F_EXCLUSIVE;
	expect_err_after0(&h, "flags");
}

static void test_dup_first(void)
{
	struct dsm_hdr h = frag(0);

	expect_err_after0(&h, "duplicate fragment 0");

	/* Duplicate of fragment 1. */
	struct dsm_reasm r;
	struct dsm_hdr a = frag(0), b = frag(1);
	dsm_reasm_init(&r);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &a), DSM_REASM_MORE);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &b), DSM_REASM_MORE);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &b), DSM_REASM_ERR);
	CU_ASSERT_EQUAL(r.errors, 1);
}

static void test_wrong_offset(void)
{
	struct dsm_hdr h;

	h = frag(1); h.frag_off += 1;         expect_err_after0(&h, "gap");
	h = frag(1); h.frag_off -= 1;         expect_err_after0(&h, "overlap");
	h = frag(1); h.frag_len = 0;          expect_err_after0(&h, "empty fragment");

	/* Last fragment leaves a hole at the end. */
	struct dsm_reasm r;
	struct dsm_hdr a = frag(0), b = frag(1), c = frag(2);
	dsm_reasm_init(&r);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &a), DSM_REASM_MORE);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &b), DSM_REASM_MORE);
	c.frag_len--;
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &c), DSM_REASM_ERR);
	/* Middle fragment reaching the end with fragments left. */
	dsm_reasm_init(&r);
	b.frag_len = (uint16_t)(4096 - PER);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &a), DSM_REASM_MORE);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &b), DSM_REASM_ERR);
	/* Fragment 0 that does not start at 0 or is empty. */
	dsm_reasm_init(&r);
	a.frag_off = 1;
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &a), DSM_REASM_ERR);
	a = frag(0);
	a.frag_len = 0;
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &a), DSM_REASM_ERR);
	CU_ASSERT_EQUAL(r.errors, 2);
}

static void test_reset(void)
{
	struct dsm_reasm r;
	struct dsm_hdr a = frag(0), b = frag(1);

	dsm_reasm_init(&r);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &a), DSM_REASM_MORE);
	CU_ASSERT_EQUAL(dsm_reasm_push(&r, &b), DSM_REASM_MORE);
	dsm_reasm_reset(&r);
	CU_ASSERT_FALSE(r.active);
	CU_ASSERT_EQUAL(r.errors, 0);   /* a reset is not an error */
	CU_ASSERT(whole(&r));
	CU_ASSERT_EQUAL(r.errors, 0);
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "init", test_init },
		{ "single frame", test_single },
		{ "three fragments", test_three },
		{ "skipped fragment", test_skipped },
		{ "mismatched fields", test_mismatch },
		{ "duplicate fragment", test_dup_first },
		{ "wrong offset", test_wrong_offset },
		{ "reset", test_reset },
	};

	return DSM_CUNIT_MAIN("wire_reasm", tests, NULL);
}
