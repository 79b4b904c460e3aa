/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for dataplane/ring/ring.c, the user-space side of the
 * kernel <-> dataplane rings (include/dsm/ring.h).
 *
 * A heap buffer stands in for the module's mapping; the tests play both the
 * kernel's part and the dataplane's.  Every handshake and entry validation
 * path is exercised, then two threads hammer one ring (polling, and sleeping
 * with NEED_WAKEUP).  DSM_RING_STRESS_N sets the stress size (entries);
 * under valgrind the default is small.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include <CUnit/Basic.h>
#include "cunit_main.h"

#include "ring/ring.h"

/* ---------------------------------------------------------------- fixture */

struct fx {
	struct dsm_ring_params p;
	struct dsm_ring_set set;
	uint8_t *mem;
	size_t len;
};

static struct fx fx;

static void fx_free(void)
{
	free(fx.mem);
	memset(&fx, 0, sizeof(fx));
}

/* A laid-out, initialised region with every ring of the given size; not
 * attached yet. */
static void fx_region(uint32_t entries, uint32_t features)
{
	fx_free();
	dsm_ring_params_init(&fx.p, features);
	for (unsigned i = 0; i < DSM_RING_NR; i++)
		fx.p.entries[i] = entries;
	CU_ASSERT_FATAL(dsm_ring_layout(&fx.p, NULL) == 0);
	fx.len = fx.p.region_size;
	fx.mem = aligned_alloc(4096, fx.len);
	CU_ASSERT_FATAL(fx.mem != NULL);
	CU_ASSERT_FATAL(dsm_ring_region_init(fx.mem, fx.len, &fx.p) == 0);
}

static void fx_attach(uint32_t entries, uint32_t features)
{
	fx_region(entries, features);
	CU_ASSERT_FATAL(dsm_ring_attach(&fx.set, fx.mem, fx.len, &fx.p, NULL) == 0);
}

static uint32_t *shared(uint32_t off)
{
	return (uint32_t *)(fx.mem + off);
}

/* Both indices of ring id, before attach (to start near the wrap). */
static void fx_set_index(unsigned id, uint32_t head, uint32_t tail)
{
	*shared(fx.p.off[id].head) = head;
	*shared(fx.p.off[id].tail) = tail;
}

static void test_setup(void)
{
	fx_free();
}

/* ---------------------------------------------------------------- entries */

static struct dsm_fault_req fault(uint64_t token)
{
	return (struct dsm_fault_req){
		.opcode = DSM_OP_FAULT, .flags = DSM_FAULT_READ, .seg_id = 7,
		.token = token, .pgno = token % 100000, .pid = 42, .tid = 43,
	};
}

static struct dsm_fault_cqe cqe(void)
{
	return (struct dsm_fault_cqe){
		.opcode = DSM_OP_FAULT_DONE, .result = DSM_RES_MAP_RO,
		.seg_id = 7, .token = 99, .pgno = 5,
	};
}

static struct dsm_cmd cmd(void)
{
	return (struct dsm_cmd){
		.opcode = DSM_OP_INVALIDATE, .seg_id = 7, .token = 5,
		.pgno = 10, .npages = 1,
	};
}

static struct dsm_cmd_ack ack(void)
{
	return (struct dsm_cmd_ack){
		.opcode = DSM_OP_CMD_ACK, .cmd = DSM_OP_DOWNGRADE, .seg_id = 7,
		.token = 5, .pgno = 10, .npages = 4,
	};
}

static struct dsm_note note(void)
{
	return (struct dsm_note){
		.opcode = DSM_OP_NOTE_MUNMAP, .seg_id = 7, .seq = 1,
		.pgno = 10, .npages = 100, .pid = 42,
	};
}

/* ------------------------------------------------------------- handshake */

static void test_layout_default(void)
{
	struct dsm_ring_params p;

	dsm_ring_params_init(&p, DSM_RING_F_ALL);
	CU_ASSERT_EQUAL(dsm_ring_layout(&p, NULL), 0);
	CU_ASSERT_EQUAL(p.api_version, DSM_RING_API_VERSION);
	CU_ASSERT_EQUAL(p.features, DSM_RING_F_ALL);
	CU_ASSERT_EQUAL(p.region_size % 4096, 0);
	for (unsigned i = 0; i < DSM_RING_NR; i++) {
		CU_ASSERT_EQUAL(p.entries[i], DSM_RING_DEFAULT_ENTRIES);
		CU_ASSERT_EQUAL(p.off[i].head % 64, 0);
		CU_ASSERT_EQUAL(p.off[i].tail, p.off[i].head + 64);
		CU_ASSERT_EQUAL(p.off[i].array, p.off[i].head + 192);
		CU_ASSERT_EQUAL(p.off[i].entry_size, DSM_RING_ENTRY_SIZE);
		CU_ASSERT(p.off[i].array + p.entries[i] * 32ull <= p.region_size);
	}
	CU_ASSERT_EQUAL(p.off[0].head, 0);

	fx_attach(0, DSM_RING_F_NEED_WAKEUP);
	CU_ASSERT_EQUAL(fx.set.features, DSM_RING_F_NEED_WAKEUP);
	for (unsigned i = 0; i < DSM_RING_NR; i++) {
		CU_ASSERT_EQUAL(fx.set.ring[i].entries, DSM_RING_DEFAULT_ENTRIES);
		CU_ASSERT_EQUAL(fx.set.ring[i].mask, DSM_RING_DEFAULT_ENTRIES - 1);
		CU_ASSERT_EQUAL(fx.set.ring[i].id, i);
		CU_ASSERT(fx.set.ring[i].need_wakeup);
	}
	fx_free();
}

static void test_layout_entries(void)
{
	static const uint32_t req[DSM_RING_NR] = { 1, 3, 100, 0, DSM_RING_MAX_ENTRIES };
	static const uint32_t want[DSM_RING_NR] = { 1, 4, 128, DSM_RING_DEFAULT_ENTRIES,
						    DSM_RING_MAX_ENTRIES };
	struct dsm_ring_params p;
	enum dsm_ring_err why;

	dsm_ring_params_init(&p, 0);
	memcpy(p.entries, req, sizeof(req));
	CU_ASSERT_EQUAL(dsm_ring_layout(&p, &why), 0);
	CU_ASSERT_EQUAL(why, DSM_RING_ERR_NONE);
	CU_ASSERT_EQUAL(memcmp(p.entries, want, sizeof(want)), 0);
	CU_ASSERT_EQUAL(p.features, 0);

	dsm_ring_params_init(&p, 0);
	p.entries[2] = DSM_RING_MAX_ENTRIES + 1;
	CU_ASSERT_EQUAL(dsm_ring_layout(&p, &why), -EINVAL);
	CU_ASSERT_EQUAL(why, DSM_RING_ERR_ENTRIES);
}

static void test_layout_rejects(void)
{
	static const struct {
		const char *name;
		size_t off;   /* u32 field of struct dsm_ring_params */
		uint32_t val;
		int rc;
		enum dsm_ring_err why;
	} cases[] = {
		{ "version 0", offsetof(struct dsm_ring_params, api_version), 0,
		  -EPROTO, DSM_RING_ERR_VERSION },
		{ "version 2", offsetof(struct dsm_ring_params, api_version), 2,
		  -EPROTO, DSM_RING_ERR_VERSION },
		{ "setup flag", offsetof(struct dsm_ring_params, flags), 1,
		  -EINVAL, DSM_RING_ERR_FLAGS },
		{ "unknown feature", offsetof(struct dsm_ring_params, features_wanted),
		  1u << 9, -EOPNOTSUPP, DSM_RING_ERR_FEATURES },
		{ "resv0", offsetof(struct dsm_ring_params, resv0), 1,
		  -EINVAL, DSM_RING_ERR_RESERVED },
		{ "resv1[5]", offsetof(struct dsm_ring_params, resv1[5]) + 4, 1,
		  -EINVAL, DSM_RING_ERR_RESERVED },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dsm_ring_params p;
		enum dsm_ring_err why = DSM_RING_ERR_NONE;
		int rc;

		dsm_ring_params_init(&p, DSM_RING_F_ALL);
		memcpy((uint8_t *)&p + cases[i].off, &cases[i].val, 4);
		rc = dsm_ring_layout(&p, &why);
		if (rc != cases[i].rc || why != cases[i].why)
			fprintf(stderr, "\n  %s: rc %d why %s\n", cases[i].name,
				rc, dsm_ring_err_name(why));
		CU_ASSERT_EQUAL(rc, cases[i].rc);
		CU_ASSERT_EQUAL(why, cases[i].why);
	}
}

/* Attach mutations: each breaks exactly one rule of a valid setup. */
static void m_version(void) { fx.p.api_version++; }
static void m_flags(void) { fx.p.flags = 1; }
static void m_feat_unknown(void) { fx.p.features |= 1u << 7; }
static void m_feat_unwanted(void) { fx.p.features_wanted = DSM_RING_F_EVENTFD; }
static void m_wanted_unknown(void) { fx.p.features_wanted |= 1u << 30; }
static void m_resv0(void) { fx.p.resv0 = 1; }
static void m_resv1(void) { fx.p.resv1[5] = 1; }
static void m_off_resv(void) { fx.p.off[3].resv = 1; }
static void m_entries_0(void) { fx.p.entries[1] = 0; }
static void m_entries_3(void) { fx.p.entries[1] = 3; }
static void m_entries_big(void) { fx.p.entries[1] = 2 * DSM_RING_MAX_ENTRIES; }
static void m_entry_size(void) { fx.p.off[2].entry_size = 64; }
static void m_head_align(void) { fx.p.off[0].head += 4; }
static void m_flags_align(void) { fx.p.off[1].flags += 1; }
static void m_array_align(void) { fx.p.off[4].array += 4; }
static void m_mem_align(void) { fx.mem += 8; fx.len -= 8; }
static void m_len_short(void) { fx.len = fx.p.region_size - 1; }
static void m_region_huge(void) { fx.p.region_size = UINT64_MAX; }
static void m_array_oob(void) { fx.p.off[4].array = fx.p.region_size - 8; }
static void m_tail_oob(void) { fx.p.off[1].tail = 0xffffffc0u; }
static void m_head_on_tail(void) { fx.p.off[0].tail = fx.p.off[0].head; }
static void m_cross_ring(void) { fx.p.off[1].head = fx.p.off[0].tail; }
static void m_array_shared(void) { fx.p.off[2].array = fx.p.off[1].array; }
static void m_entries_grow(void) { fx.p.entries[3] *= 2; } /* runs into ring 4 */
static void m_shared_mask(void) { *shared(fx.p.off[2].ring_mask) = 0; }
static void m_shared_entries(void) { *shared(fx.p.off[2].ring_entries) = 4; }
static void m_shared_overfull(void) { fx_set_index(0, 10, 10 + 9); }
static void m_shared_backwards(void) { fx_set_index(3, 10, 9); }

static void test_attach_rejects(void)
{
	static const struct {
		const char *name;
		void (*mutate)(void);
		int rc;
		enum dsm_ring_err why;
	} cases[] = {
		{ "version", m_version, -EPROTO, DSM_RING_ERR_VERSION },
		{ "setup flags", m_flags, -EINVAL, DSM_RING_ERR_FLAGS },
		{ "unknown feature", m_feat_unknown, -EOPNOTSUPP, DSM_RING_ERR_FEATURES },
		{ "granted unwanted", m_feat_unwanted, -EOPNOTSUPP, DSM_RING_ERR_FEATURES },
		{ "wanted unknown", m_wanted_unknown, -EOPNOTSUPP, DSM_RING_ERR_FEATURES },
		{ "resv0", m_resv0, -EINVAL, DSM_RING_ERR_RESERVED },
		{ "resv1", m_resv1, -EINVAL, DSM_RING_ERR_RESERVED },
		{ "offsets resv", m_off_resv, -EINVAL, DSM_RING_ERR_RESERVED },
		{ "entries 0", m_entries_0, -EINVAL, DSM_RING_ERR_ENTRIES },
		{ "entries 3", m_entries_3, -EINVAL, DSM_RING_ERR_ENTRIES },
		{ "entries > max", m_entries_big, -EINVAL, DSM_RING_ERR_ENTRIES },
		{ "entry size", m_entry_size, -EINVAL, DSM_RING_ERR_ENTRY_SIZE },
		{ "head align", m_head_align, -EINVAL, DSM_RING_ERR_ALIGN },
		{ "flags align", m_flags_align, -EINVAL, DSM_RING_ERR_ALIGN },
		{ "array align", m_array_align, -EINVAL, DSM_RING_ERR_ALIGN },
		{ "region align", m_mem_align, -EINVAL, DSM_RING_ERR_ALIGN },
		{ "region short", m_len_short, -ERANGE, DSM_RING_ERR_BOUNDS },
		{ "region_size huge", m_region_huge, -ERANGE, DSM_RING_ERR_BOUNDS },
		{ "array past end", m_array_oob, -ERANGE, DSM_RING_ERR_BOUNDS },
		{ "tail past end", m_tail_oob, -ERANGE, DSM_RING_ERR_BOUNDS },
		{ "head == tail", m_head_on_tail, -EINVAL, DSM_RING_ERR_OVERLAP },
		{ "cross-ring word", m_cross_ring, -EINVAL, DSM_RING_ERR_OVERLAP },
		{ "shared array", m_array_shared, -EINVAL, DSM_RING_ERR_OVERLAP },
		{ "entries grown", m_entries_grow, -EINVAL, DSM_RING_ERR_OVERLAP },
		{ "shared mask", m_shared_mask, -EPROTO, DSM_RING_ERR_SHARED },
		{ "shared entries", m_shared_entries, -EPROTO, DSM_RING_ERR_SHARED },
		{ "overfull", m_shared_overfull, -EPROTO, DSM_RING_ERR_SHARED },
		{ "head past tail", m_shared_backwards, -EPROTO, DSM_RING_ERR_SHARED },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dsm_ring_set set;
		enum dsm_ring_err why = DSM_RING_ERR_NONE;
		uint8_t *mem;
		int rc;

		fx_region(8, DSM_RING_F_ALL);
		mem = fx.mem;
		cases[i].mutate();
		rc = dsm_ring_attach(&set, fx.mem, fx.len, &fx.p, &why);
		if (rc != cases[i].rc || why != cases[i].why)
			fprintf(stderr, "\n  %s: rc %d why %s\n", cases[i].name,
				rc, dsm_ring_err_name(why));
		CU_ASSERT_EQUAL(rc, cases[i].rc);
		CU_ASSERT_EQUAL(why, cases[i].why);
		fx.mem = mem; /* m_mem_align moved it */
	}
	fx_free();
}

static void test_names(void)
{
	for (int e = 0; e < DSM_RING_ERR_MAX; e++)
		CU_ASSERT(strcmp(dsm_ring_err_name(e), "?") != 0);
	for (int b = 0; b < DSM_RING_BAD_MAX; b++)
		CU_ASSERT(strcmp(dsm_ring_bad_name(b), "?") != 0);
	CU_ASSERT_STRING_EQUAL(dsm_ring_err_name(DSM_RING_ERR_MAX), "?");
	CU_ASSERT_STRING_EQUAL(dsm_ring_bad_name(DSM_RING_BAD_MAX), "?");
}

/* ------------------------------------------------------------ ring motion */

/* Produce tokens [first, first + n) on r; returns how many went in. */
static uint32_t push_seq(struct dsm_ring *r, uint64_t first, uint32_t n)
{
	struct dsm_fault_req e[64];

	CU_ASSERT_FATAL(n <= 64);
	for (uint32_t i = 0; i < n; i++)
		e[i] = fault(first + i);
	return dsm_ring_produce(r, e, n);
}

/* Consume up to n and check they carry tokens first, first + 1, ... */
static uint32_t pop_seq(struct dsm_ring *r, uint64_t first, uint32_t n)
{
	struct dsm_fault_req e[64];
	uint32_t got, nbad;

	CU_ASSERT_FATAL(n <= 64);
	got = dsm_ring_read(r, e, n, &nbad);
	CU_ASSERT_EQUAL(nbad, 0);
	for (uint32_t i = 0; i < got; i++)
		CU_ASSERT_EQUAL(e[i].token, first + i);
	return got;
}

static void test_empty_full(void)
{
	struct dsm_ring *r;
	struct dsm_fault_req e;

	fx_attach(8, 0);
	r = &fx.set.ring[DSM_RING_FAULT];
	CU_ASSERT_EQUAL(dsm_ring_avail(r), 0);
	CU_ASSERT_EQUAL(dsm_ring_consume(r, &e, 1), 0);
	CU_ASSERT_EQUAL(pop_seq(r, 0, 8), 0);
	CU_ASSERT_EQUAL(dsm_ring_free(r), 8);

	CU_ASSERT_EQUAL(push_seq(r, 1, 8), 8);
	CU_ASSERT_EQUAL(dsm_ring_free(r), 0);
	CU_ASSERT_EQUAL(push_seq(r, 9, 1), 0); /* full */
	CU_ASSERT_EQUAL(dsm_ring_avail(r), 8);

	CU_ASSERT_EQUAL(pop_seq(r, 1, 1), 1);
	CU_ASSERT_EQUAL(dsm_ring_free(r), 1);
	CU_ASSERT_EQUAL(push_seq(r, 9, 2), 1); /* partial */
	CU_ASSERT_EQUAL(pop_seq(r, 2, 64), 8);
	CU_ASSERT_EQUAL(dsm_ring_avail(r), 0);
	CU_ASSERT_EQUAL(dsm_ring_free(r), 8);
	CU_ASSERT_EQUAL(r->prod.produced, 9);
	CU_ASSERT_EQUAL(r->cons.consumed, 9);
	/* The shared indices are what we published. */
	CU_ASSERT_EQUAL(*r->head, 9);
	CU_ASSERT_EQUAL(*r->tail, 9);
	fx_free();
}

static void test_wraparound(void)
{
	const uint32_t start = UINT32_MAX - 5;
	struct dsm_ring *r;
	uint64_t next_in = 0, next_out = 0;

	fx_region(8, 0);
	fx_set_index(DSM_RING_FAULT, start, start);
	CU_ASSERT_FATAL(dsm_ring_attach(&fx.set, fx.mem, fx.len, &fx.p, NULL) == 0);
	r = &fx.set.ring[DSM_RING_FAULT];

	/* Full and empty are right across the wrap. */
	CU_ASSERT_EQUAL(push_seq(r, next_in, 8), 8);
	next_in += 8;
	CU_ASSERT_EQUAL(*r->tail, start + 8); /* wrapped to 2 */
	CU_ASSERT(*r->tail < *r->head);
	CU_ASSERT_EQUAL(dsm_ring_free(r), 0);
	CU_ASSERT_EQUAL(dsm_ring_avail(r), 8);
	CU_ASSERT_EQUAL(pop_seq(r, next_out, 8), 8);
	next_out += 8;
	CU_ASSERT_EQUAL(dsm_ring_avail(r), 0);
	CU_ASSERT_EQUAL(dsm_ring_free(r), 8);

	/* Uneven bursts, so slot runs split at the array's end. */
	for (unsigned i = 0; i < 200; i++) {
		uint32_t in = push_seq(r, next_in, i % 7 + 1);
		uint32_t out;

		next_in += in;
		out = pop_seq(r, next_out, i % 5 + 1);
		next_out += out;
		CU_ASSERT(next_in - next_out <= 8);
		CU_ASSERT_EQUAL(dsm_ring_avail(r), next_in - next_out);
	}
	next_out += pop_seq(r, next_out, 64);
	CU_ASSERT_EQUAL(next_in, next_out);
	CU_ASSERT_EQUAL(*r->head, (uint32_t)(start + next_out));
	CU_ASSERT_EQUAL(r->prod.corrupt + r->cons.corrupt, 0);
	fx_free();
}

static void test_batch_peek(void)
{
	struct dsm_fault_req a[16], b[16];
	struct dsm_ring *r;

	fx_attach(8, 0);
	r = &fx.set.ring[DSM_RING_FAULT];
	for (unsigned i = 0; i < 16; i++)
		a[i] = fault(100 + i);
	CU_ASSERT_EQUAL(dsm_ring_produce(r, a, 16), 8); /* burst: what fits */
	CU_ASSERT_EQUAL(dsm_ring_produce(r, a, 0), 0);

	/* peek does not release; twice gives the same entries. */
	CU_ASSERT_EQUAL(dsm_ring_peek(r, b, 3), 3);
	CU_ASSERT_EQUAL(memcmp(a, b, 3 * sizeof(a[0])), 0);
	CU_ASSERT_EQUAL(dsm_ring_peek(r, b, 5), 5);
	CU_ASSERT_EQUAL(memcmp(a, b, 5 * sizeof(a[0])), 0);
	CU_ASSERT_EQUAL(dsm_ring_free(r), 0);
	dsm_ring_advance(r, 3);
	CU_ASSERT_EQUAL(dsm_ring_free(r), 3);

	/* advance cannot release more than was published. */
	dsm_ring_advance(r, 100);
	CU_ASSERT_EQUAL(dsm_ring_avail(r), 0);
	CU_ASSERT_EQUAL(r->cons.consumed, 8);
	CU_ASSERT_EQUAL(dsm_ring_free(r), 8);
	CU_ASSERT_EQUAL(dsm_ring_consume(r, b, 16), 0);
	fx_free();
}

/* The other side scribbles on the index it owns. */
static void test_corrupt_indices(void)
{
	struct dsm_ring *r;

	fx_attach(8, 0);
	r = &fx.set.ring[DSM_RING_FAULT];
	CU_ASSERT_EQUAL(push_seq(r, 1, 2), 2);

	/* A producer claiming more than a full ring: consumer sees nothing. */
	*r->tail = *r->head + 9;
	CU_ASSERT_EQUAL(dsm_ring_avail(r), 0);
	CU_ASSERT_EQUAL(dsm_ring_consume(r, &(struct dsm_fault_req){ 0 }, 1), 0);
	CU_ASSERT(r->cons.corrupt >= 1);

	/* A consumer whose head passed our tail: producer sees no space. */
	*r->tail = r->prod.tail;
	*r->head = r->prod.tail + 1;
	CU_ASSERT_EQUAL(dsm_ring_free(r), 0);
	CU_ASSERT_EQUAL(push_seq(r, 3, 8), 0);
	CU_ASSERT(r->prod.corrupt >= 1);
	fx_free();
}

/* ------------------------------------------------------------ validators */

#define EXPECT(fn, base, stmt, want) do {				\
	__typeof__(base) e = (base);					\
	stmt;								\
	if (fn(&e) != (want))						\
		fprintf(stderr, "\n  %s: %s -> %s\n", #fn, #stmt,	\
			dsm_ring_bad_name(fn(&e)));			\
	CU_ASSERT_EQUAL(fn(&e), want);					\
} while (0)

static void test_check_fault(void)
{
	struct dsm_fault_req b = fault(1);

#define F(stmt, want) EXPECT(dsm_ring_check_fault, b, stmt, want)
	F((void)0, DSM_RING_OK);
	F(e.flags = DSM_FAULT_WRITE, DSM_RING_OK);
	F(e.flags = DSM_FAULT_WRITE | DSM_FAULT_WP, DSM_RING_OK);
	F(e.pgno = DSM_RING_PGNO_LIMIT - 1, DSM_RING_OK);
	F(e.pid = DSM_RING_PID_MAX, DSM_RING_OK);
	F(e.opcode = 0, DSM_RING_BAD_OPCODE);
	F(e.opcode = 0x12, DSM_RING_BAD_OPCODE);
	F(e.opcode = DSM_OP_FAULT_DONE, DSM_RING_BAD_OPCODE); /* wrong ring */
	F(e.opcode = 0xff, DSM_RING_BAD_OPCODE);
	F(e.flags = 0, DSM_RING_BAD_FLAGS);
	F(e.flags = 0x80 | DSM_FAULT_READ, DSM_RING_BAD_FLAGS);
	F(e.flags = DSM_FAULT_READ | DSM_FAULT_WRITE, DSM_RING_BAD_FLAGS);
	F(e.flags = DSM_FAULT_READ | DSM_FAULT_WP, DSM_RING_BAD_FLAGS);
	F(e.flags = DSM_FAULT_WP, DSM_RING_BAD_FLAGS);
	F(e.resv0 = 1, DSM_RING_BAD_RESERVED);
	F(e.resv0 = 0x8000, DSM_RING_BAD_RESERVED);
	F(e.seg_id = DSM_RING_SEG_ALL, DSM_RING_BAD_SEG);
	F(e.pgno = DSM_RING_PGNO_LIMIT, DSM_RING_BAD_RANGE);
	F(e.pgno = UINT64_MAX, DSM_RING_BAD_RANGE);
	F(e.pid = 0, DSM_RING_BAD_PID);
	F(e.tid = 0, DSM_RING_BAD_PID);
	F(e.pid = DSM_RING_PID_MAX + 1, DSM_RING_BAD_PID);
	F(e.tid = UINT32_MAX, DSM_RING_BAD_PID);
	F(memset(&e, 0, sizeof(e)), DSM_RING_BAD_OPCODE);
#undef F
}

static void test_check_cqe(void)
{
	struct dsm_fault_cqe b = cqe();

#define C(stmt, want) EXPECT(dsm_ring_check_cqe, b, stmt, want)
	C((void)0, DSM_RING_OK);
	C(e.result = DSM_RES_MAP_RW, DSM_RING_OK);
	C(e.result = DSM_RES_ZERO, DSM_RING_OK);
	C((e.result = DSM_RES_SIGBUS, e.status = -EIO), DSM_RING_OK);
	C((e.result = DSM_RES_SIGBUS, e.status = -4095), DSM_RING_OK);
	C(e.opcode = 0, DSM_RING_BAD_OPCODE);
	C(e.opcode = DSM_OP_FAULT, DSM_RING_BAD_OPCODE);
	C(e.opcode = 0x22, DSM_RING_BAD_OPCODE);
	C(e.resv0 = 1, DSM_RING_BAD_RESERVED);
	C(e.resv1 = 1, DSM_RING_BAD_RESERVED);
	C(e.seg_id = DSM_RING_SEG_ALL, DSM_RING_BAD_SEG);
	C(e.pgno = DSM_RING_PGNO_LIMIT, DSM_RING_BAD_RANGE);
	C(e.result = 0, DSM_RING_BAD_STATUS);
	C(e.result = DSM_RES_MAX + 1, DSM_RING_BAD_STATUS);
	C(e.result = 0xff, DSM_RING_BAD_STATUS);
	C(e.result = DSM_RES_SIGBUS, DSM_RING_BAD_STATUS);       /* no errno */
	C(e.status = -EIO, DSM_RING_BAD_STATUS);                  /* RO + error */
	C((e.result = DSM_RES_SIGBUS, e.status = 1), DSM_RING_BAD_STATUS);
	C((e.result = DSM_RES_SIGBUS, e.status = -4096), DSM_RING_BAD_STATUS);
	C((e.result = DSM_RES_SIGBUS, e.status = INT32_MIN), DSM_RING_BAD_STATUS);
#undef C
}

static void test_check_cmd(void)
{
	struct dsm_cmd b = cmd();

#define M(stmt, want) EXPECT(dsm_ring_check_cmd, b, stmt, want)
	M((void)0, DSM_RING_OK);
	M(e.opcode = DSM_OP_DOWNGRADE, DSM_RING_OK);
	M(e.npages = DSM_RING_CMD_MAX_PAGES, DSM_RING_OK);
	M((e.opcode = DSM_OP_UNMAP_SEG, e.pgno = 0, e.npages = 0), DSM_RING_OK);
	M((e.pgno = DSM_RING_PGNO_LIMIT - 2, e.npages = 2), DSM_RING_OK);
	M(e.opcode = 0, DSM_RING_BAD_OPCODE);
	M(e.opcode = 0x30, DSM_RING_BAD_OPCODE);
	M(e.opcode = 0x34, DSM_RING_BAD_OPCODE);
	M(e.opcode = DSM_OP_CMD_ACK, DSM_RING_BAD_OPCODE);
	M(e.flags = 1, DSM_RING_BAD_FLAGS);
	M(e.resv0 = 1, DSM_RING_BAD_RESERVED);
	M(e.resv1 = 1, DSM_RING_BAD_RESERVED);
	M(e.seg_id = DSM_RING_SEG_ALL, DSM_RING_BAD_SEG);
	M(e.npages = 0, DSM_RING_BAD_RANGE);
	M(e.npages = DSM_RING_CMD_MAX_PAGES + 1, DSM_RING_BAD_RANGE);
	M((e.pgno = DSM_RING_PGNO_LIMIT - 1, e.npages = 2), DSM_RING_BAD_RANGE);
	M((e.pgno = UINT64_MAX, e.npages = 2), DSM_RING_BAD_RANGE); /* wraps */
	M(e.opcode = DSM_OP_UNMAP_SEG, DSM_RING_BAD_RANGE);
	M((e.opcode = DSM_OP_UNMAP_SEG, e.pgno = 0), DSM_RING_BAD_RANGE);
#undef M
}

static void test_check_ack(void)
{
	struct dsm_cmd_ack b = ack();

#define A(stmt, want) EXPECT(dsm_ring_check_ack, b, stmt, want)
	A((void)0, DSM_RING_OK);
	A(e.status = -ENOENT, DSM_RING_OK);
	A((e.cmd = DSM_OP_UNMAP_SEG, e.pgno = 0, e.npages = 0), DSM_RING_OK);
	A(e.opcode = 0, DSM_RING_BAD_OPCODE);
	A(e.opcode = DSM_OP_INVALIDATE, DSM_RING_BAD_OPCODE);
	A(e.cmd = 0, DSM_RING_BAD_OPCODE);
	A(e.cmd = DSM_OP_FAULT, DSM_RING_BAD_OPCODE);
	A(e.resv0 = 1, DSM_RING_BAD_RESERVED);
	A(e.seg_id = DSM_RING_SEG_ALL, DSM_RING_BAD_SEG);
	A(e.npages = 0, DSM_RING_BAD_RANGE);
	A(e.cmd = DSM_OP_UNMAP_SEG, DSM_RING_BAD_RANGE);
	A(e.status = 1, DSM_RING_BAD_STATUS);
	A(e.status = -4096, DSM_RING_BAD_STATUS);
#undef A
}

static void test_check_note(void)
{
	struct dsm_note b = note();
	struct dsm_note lost = {
		.opcode = DSM_OP_NOTE_LOST, .seg_id = DSM_RING_SEG_ALL, .seq = 9,
	};

#define N(base, stmt, want) EXPECT(dsm_ring_check_note, base, stmt, want)
	N(b, (void)0, DSM_RING_OK);
	N(b, e.npages = UINT32_MAX, DSM_RING_OK);
	N(b, (e.opcode = DSM_OP_NOTE_EXIT, e.pgno = 0, e.npages = 0), DSM_RING_OK);
	N(lost, (void)0, DSM_RING_OK);
	N(b, e.opcode = 0, DSM_RING_BAD_OPCODE);
	N(b, e.opcode = 0x54, DSM_RING_BAD_OPCODE);
	N(b, e.opcode = DSM_OP_FAULT, DSM_RING_BAD_OPCODE);
	N(b, e.flags = 0x10, DSM_RING_BAD_FLAGS);
	N(b, e.resv0 = 2, DSM_RING_BAD_RESERVED);
	N(b, e.seg_id = DSM_RING_SEG_ALL, DSM_RING_BAD_SEG);
	N(b, e.npages = 0, DSM_RING_BAD_RANGE);
	N(b, (e.pgno = DSM_RING_PGNO_LIMIT - 1, e.npages = 2), DSM_RING_BAD_RANGE);
	N(b, e.opcode = DSM_OP_NOTE_EXIT, DSM_RING_BAD_RANGE);
	N(b, e.pid = 0, DSM_RING_BAD_PID);
	N(b, e.pid = DSM_RING_PID_MAX + 1, DSM_RING_BAD_PID);
	N(lost, e.seg_id = 7, DSM_RING_BAD_SEG);
	N(lost, e.npages = 1, DSM_RING_BAD_RANGE);
	N(lost, e.pgno = 1, DSM_RING_BAD_RANGE);
	N(lost, e.pid = 1, DSM_RING_BAD_PID);
	N(lost, e.flags = 1, DSM_RING_BAD_FLAGS);
#undef N
}

static void test_check_dispatch(void)
{
	const struct dsm_fault_req f = fault(1);
	const struct dsm_fault_cqe c = cqe();
	const struct dsm_cmd m = cmd();
	const struct dsm_cmd_ack a = ack();
	const struct dsm_note n = note();
	const void *ok[DSM_RING_NR] = { &f, &c, &m, &a, &n };

	/* Each entry is valid on its own ring only. */
	for (unsigned ring = 0; ring < DSM_RING_NR; ring++)
		for (unsigned ent = 0; ent < DSM_RING_NR; ent++)
			CU_ASSERT_EQUAL(dsm_ring_check(ring, ok[ent]),
					ring == ent ? DSM_RING_OK : DSM_RING_BAD_OPCODE);
	CU_ASSERT_EQUAL(dsm_ring_check(DSM_RING_NR, &f), DSM_RING_BAD_OPCODE);
}

/* Bad entries on the ring are consumed, dropped and counted by reason. */
static void test_read_counts(void)
{
	struct dsm_fault_req in[8], out[8];
	struct dsm_ring *r;
	uint32_t nbad = 0;

	fx_attach(8, 0);
	r = &fx.set.ring[DSM_RING_FAULT];
	for (unsigned i = 0; i < 8; i++)
		in[i] = fault(i);
	in[1].opcode = 0;
	in[3].flags = 0x40;
	in[4].resv0 = 1;
	memset(&in[6], 0, sizeof(in[6]));
	in[7].pid = 0;
	CU_ASSERT_EQUAL(dsm_ring_produce(r, in, 8), 8);
	CU_ASSERT_EQUAL(dsm_ring_read(r, out, 8, &nbad), 3);
	CU_ASSERT_EQUAL(nbad, 5);
	CU_ASSERT_EQUAL(out[0].token, 0);
	CU_ASSERT_EQUAL(out[1].token, 2);
	CU_ASSERT_EQUAL(out[2].token, 5);
	CU_ASSERT_EQUAL(r->cons.bad[DSM_RING_BAD_OPCODE], 2);
	CU_ASSERT_EQUAL(r->cons.bad[DSM_RING_BAD_FLAGS], 1);
	CU_ASSERT_EQUAL(r->cons.bad[DSM_RING_BAD_RESERVED], 1);
	CU_ASSERT_EQUAL(r->cons.bad[DSM_RING_BAD_PID], 1);
	CU_ASSERT_EQUAL(r->cons.consumed, 8);
	CU_ASSERT_EQUAL(dsm_ring_free(r), 8);

	/* A fault entry on the completion ring is the wrong opcode there. */
	r = &fx.set.ring[DSM_RING_CQ];
	CU_ASSERT_EQUAL(dsm_ring_produce(r, in, 1), 1);
	CU_ASSERT_EQUAL(dsm_ring_read(r, out, 8, NULL), 0);
	CU_ASSERT_EQUAL(r->cons.bad[DSM_RING_BAD_OPCODE], 1);
	fx_free();
}

/* The producer rewrites a slot after the consumer copied it: the decision
 * and the data the consumer acts on come from the copy only. */
static void test_hostile_producer(void)
{
	struct dsm_fault_req good = fault(77), evil = fault(78), copy;
	struct dsm_fault_req *slot;
	struct dsm_ring *r;

	fx_attach(8, 0);
	r = &fx.set.ring[DSM_RING_FAULT];
	slot = (struct dsm_fault_req *)r->array;
	evil.opcode = 0;
	evil.pgno = UINT64_MAX;

	/* valid when copied, garbage afterwards: still valid, still intact */
	CU_ASSERT_EQUAL(dsm_ring_produce(r, &good, 1), 1);
	CU_ASSERT_EQUAL(dsm_ring_peek(r, &copy, 1), 1);
	*slot = evil;
	CU_ASSERT_EQUAL(dsm_ring_check_fault(&copy), DSM_RING_OK);
	CU_ASSERT_EQUAL(memcmp(&copy, &good, sizeof(copy)), 0);
	dsm_ring_advance(r, 1);

	/* garbage when copied, valid afterwards: still rejected */
	CU_ASSERT_EQUAL(dsm_ring_produce(r, &evil, 1), 1);
	CU_ASSERT_EQUAL(dsm_ring_peek(r, &copy, 1), 1);
	slot[1] = good;
	CU_ASSERT_EQUAL(dsm_ring_check_fault(&copy), DSM_RING_BAD_OPCODE);
	dsm_ring_advance(r, 1);

	/* dsm_ring_read hands out copies: scribbling afterwards changes
	 * nothing the caller holds. */
	CU_ASSERT_EQUAL(dsm_ring_produce(r, &good, 1), 1);
	CU_ASSERT_EQUAL(dsm_ring_read(r, &copy, 1, NULL), 1);
	slot[2] = evil;
	CU_ASSERT_EQUAL(memcmp(&copy, &good, sizeof(copy)), 0);
	fx_free();
}

/* --------------------------------------------------------- NEED_WAKEUP */

static void test_need_wakeup(void)
{
	struct dsm_ring *r;
	struct dsm_fault_req e;

	fx_attach(8, DSM_RING_F_NEED_WAKEUP);
	r = &fx.set.ring[DSM_RING_FAULT];
	CU_ASSERT_FALSE(dsm_ring_prod_needs_wakeup(r)); /* consumer polling */

	/* Empty ring: the consumer may sleep and says so. */
	CU_ASSERT_EQUAL(dsm_ring_cons_sleep_prepare(r), 0);
	CU_ASSERT(*r->flags & DSM_RING_FL_NEED_WAKEUP);
	CU_ASSERT_EQUAL(push_seq(r, 1, 1), 1);
	CU_ASSERT_TRUE(dsm_ring_prod_needs_wakeup(r));

	/* Woken: clears the flag, the producer stops kicking. */
	dsm_ring_cons_awake(r);
	CU_ASSERT_FALSE(*r->flags & DSM_RING_FL_NEED_WAKEUP);
	CU_ASSERT_FALSE(dsm_ring_prod_needs_wakeup(r));

	/* Entries already there: prepare reports them (do not sleep). */
	CU_ASSERT_EQUAL(dsm_ring_cons_sleep_prepare(r), 1);
	dsm_ring_cons_awake(r);
	CU_ASSERT_EQUAL(dsm_ring_consume(r, &e, 1), 1);
	dsm_ring_cons_awake(r); /* idempotent */
	CU_ASSERT_FALSE(*r->flags & DSM_RING_FL_NEED_WAKEUP);

	/* Unknown bits in the flags word are ignored by the producer. */
	*r->flags = ~DSM_RING_FL_NEED_WAKEUP;
	CU_ASSERT_FALSE(dsm_ring_prod_needs_wakeup(r));

	/* Without the feature the producer always kicks and the consumer
	 * never touches the shared flags. */
	fx_attach(8, 0);
	r = &fx.set.ring[DSM_RING_FAULT];
	CU_ASSERT_TRUE(dsm_ring_prod_needs_wakeup(r));
	CU_ASSERT_EQUAL(dsm_ring_cons_sleep_prepare(r), 0);
	CU_ASSERT_EQUAL(*r->flags, 0);
	fx_free();
}

/* ------------------------------------------------------------ SPSC stress */

struct stress {
	struct dsm_ring *r;
	uint64_t n;          /* entries to pass */
	bool sleep;          /* consumer sleeps with NEED_WAKEUP */
	sem_t wake;
	/* results (consumer) */
	uint64_t received;
	uint64_t out_of_order;
	uint64_t rejected;
	uint64_t lost_wakeups; /* slept through entries that were there */
	uint64_t sleeps;
};

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void *stress_producer(void *arg)
{
	struct stress *st = arg;
	struct dsm_fault_req e[16];
	uint32_t seed = 12345;
	uint64_t next = 0;

	while (next < st->n) {
		uint32_t want = xorshift(&seed) % 16 + 1, put;

		if (want > st->n - next)
			want = st->n - next;
		for (uint32_t i = 0; i < want; i++)
			e[i] = fault(next + i);
		put = dsm_ring_produce(st->r, e, want);
		next += put;
		if (put > 0 && st->sleep && dsm_ring_prod_needs_wakeup(st->r))
			sem_post(&st->wake);
		if (put < want)
			sched_yield(); /* full: let the consumer run */
	}
	return NULL;
}

static void consumer_sleep(struct stress *st)
{
	struct timespec ts;

	if (dsm_ring_cons_sleep_prepare(st->r) != 0) {
		dsm_ring_cons_awake(st->r);
		return;
	}
	st->sleeps++;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	/* With (E)/(F) right, a sleeping consumer always gets a post; a
	 * timeout with entries waiting is a lost wake-up. */
	if (sem_timedwait(&st->wake, &ts) != 0 && dsm_ring_avail(st->r) != 0)
		st->lost_wakeups++;
	dsm_ring_cons_awake(st->r);
}

static void *stress_consumer(void *arg)
{
	struct stress *st = arg;
	struct dsm_fault_req e[32];
	uint32_t seed = 777;

	/* Rejected entries count as arrived, so a bug fails the test
	 * instead of hanging it. */
	while (st->received + st->rejected < st->n) {
		uint32_t nbad, got;

		got = dsm_ring_read(st->r, e, xorshift(&seed) % 32 + 1, &nbad);
		st->rejected += nbad;
		for (uint32_t i = 0; i < got; i++) {
			if (e[i].token != st->received ||
			    e[i].pgno != st->received % 100000)
				st->out_of_order++;
			st->received++;
		}
		if (got + nbad > 0)
			continue;
		if (st->sleep)
			consumer_sleep(st);
		else
			sched_yield();
	}
	return NULL;
}

static uint64_t stress_n(uint64_t dflt)
{
	const char *s = getenv("DSM_RING_STRESS_N");

	if (s != NULL && *s != '\0')
		return strtoull(s, NULL, 0);
	/* valgrind serialises the threads and is ~50x slower */
	return RUNNING_ON_VALGRIND ? dflt / 50 : dflt;
}

static void run_stress(bool sleep, uint64_t n)
{
	struct stress st = { .n = n, .sleep = sleep };
	pthread_t prod, cons;
	struct timespec t0, t1;

	fx_attach(64, sleep ? DSM_RING_F_NEED_WAKEUP : 0);
	st.r = &fx.set.ring[DSM_RING_FAULT];
	CU_ASSERT_FATAL(sem_init(&st.wake, 0, 0) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_FATAL(pthread_create(&cons, NULL, stress_consumer, &st) == 0);
	CU_ASSERT_FATAL(pthread_create(&prod, NULL, stress_producer, &st) == 0);
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	sem_destroy(&st.wake);

	printf("\n    %s: %llu entries in %.3f s, %llu sleeps ",
	       sleep ? "sleeping" : "polling", (unsigned long long)st.received,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (unsigned long long)st.sleeps);
	CU_ASSERT_EQUAL(st.received, n);
	CU_ASSERT_EQUAL(st.out_of_order, 0);
	CU_ASSERT_EQUAL(st.rejected, 0);
	CU_ASSERT_EQUAL(st.lost_wakeups, 0);
	CU_ASSERT_EQUAL(st.r->prod.corrupt + st.r->cons.corrupt, 0);
	CU_ASSERT_EQUAL(st.r->prod.produced, n);
	CU_ASSERT_EQUAL(st.r->cons.consumed, n);
	fx_free();
}

static void test_spsc_stress(void)
{
	run_stress(false, stress_n(4000000));
}

static void test_spsc_need_wakeup(void)
{
	run_stress(true, stress_n(1000000));
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "layout_default", test_layout_default },
		{ "layout_entries", test_layout_entries },
		{ "layout_rejects", test_layout_rejects },
		{ "attach_rejects", test_attach_rejects },
		{ "names", test_names },
		{ "empty_full", test_empty_full },
		{ "wraparound", test_wraparound },
		{ "batch_peek", test_batch_peek },
		{ "corrupt_indices", test_corrupt_indices },
		{ "check_fault", test_check_fault },
		{ "check_cqe", test_check_cqe },
		{ "check_cmd", test_check_cmd },
		{ "check_ack", test_check_ack },
		{ "check_note", test_check_note },
		{ "check_dispatch", test_check_dispatch },
		{ "read_counts", test_read_counts },
		{ "hostile_producer", test_hostile_producer },
		{ "need_wakeup", test_need_wakeup },
		{ "spsc_stress", test_spsc_stress },
		{ "spsc_need_wakeup", test_spsc_need_wakeup },
	};
	int rc = DSM_CUNIT_MAIN("ring", tests, test_setup);

	fx_free();
	return rc;
}
