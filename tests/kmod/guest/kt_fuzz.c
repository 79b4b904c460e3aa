/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kt_fuzz: a seeded random-entry test of the rings against the real module.
 *
 *   kt_fuzz [SEED [ITERATIONS [noprobe]]]
 *
 * The seed (default DEFAULT_SEED) is printed first; the same seed replays
 * the same choices of the server and of every thread (the interleaving of
 * the threads still varies from run to run).
 *
 * Part 1, user space only: random and mutated entries of every ring type go
 * through dataplane/ring (dsm_ring_produce, dsm_ring_read) on a heap region
 * whose indices start just below 2^32.  dsm_ring_read must return exactly
 * the entries dsm_ring_check accepts, in order, unchanged, count the others
 * by reason, and ignore a producer tail out of range.  An independent
 * reading of docs/ring-abi.md (ref_accepts) must agree with dsm_ring_check
 * on every entry.
 *
 * Part 2, dsm.ko: NT application threads fault on one segment (reads and
 * writes of random pages; threads 0 and 1 share a mapping, thread 2 has its
 * own) and check every word they read: the server's versioned pattern (the
 * server rewrites a page after each acked INVALIDATE, and a thread never
 * sees a version go back), zeros on the pages answered ZERO (whose backing
 * holds garbage), and their own last write.  The server thread answers every
 * request and mixes hostile input into the rings it produces:
 *  - CQ: random bytes; the right answer with one or a few fields spoiled
 *    (opcode, reserved fields, seg_id 0xffffffff or unknown, pgno beyond
 *    2^52 or another page, result 0/5/255, status inconsistent with the
 *    result or not an errno, unknown token, right slot with another
 *    generation); duplicated completions; completions for no fault;
 *    READ-only results (MAP_RO, ZERO) for WRITE requests; SIGBUS results;
 *    answers held back so that they cross;
 *  - CMD: random bytes; spoiled commands (opcode, flags, reserved fields,
 *    seg_id 0xffffffff, pgno beyond 2^52, npages 0 / > 512 / overflowing,
 *    UNMAP_SEG with a range); valid commands for unknown segments and for
 *    pages beyond the segment; valid INVALIDATE / DOWNGRADE / UNMAP_SEG.
 * Every entry is classified on a private copy with dsm_ring_check (the code
 * the module runs), so the module's counters must move by exactly what the
 * server expects: bad[] per reason, cqes, cqe_stale, cqe_mismatch, cmds,
 * cmd_errors, faults, sigbus; no timeouts, kills, ring waits or corruption.
 * Also checked: no access hangs (each finishes within HANG_NS and every
 * thread exits), each request names the page and access its thread is
 * making, every valid command is acked by the ENTER that consumed it with
 * the right status and no malformed one is, SIGBUS reaches exactly the
 * thread and page the server failed, in order, and nothing else (a handler
 * siglongjmps and logs), and afterwards a clean fault still works.
 *
 * A failure is sent only when exactly one thread must take it.  The module
 * fails every fault that joined the request (same page, in flight), and
 * turns the failure into SIGBUS on the retry of the access, which only
 * faults again if no pte lets it through.  So a READ is failed only if no
 * grant of the page may be live, a WRITE only if no RW grant may be, and
 * only if no other thread is on the page: the server raises fence[page],
 * then looks at the threads' published accesses; a thread publishes its
 * access, then checks the fence (seq_cst on both sides: one of them sees
 * the other).  The fence stays up until the thread has seen its SIGBUS.
 *
 * Part 3, joins (deterministic, main plays the server): followers share
 * the leader's SIGBUS, mismatch and grant, across mappings too; a write
 * does not join a read.
 *
 * Part 4, regression probes (skipped with "noprobe"): deterministic checks
 * of two module bugs this test found and that are fixed: a SIGBUS answer
 * with status -EINTR / -EAGAIN / -ETIMEDOUT was taken for the module's own
 * codes, and a failure record left by a retry that needed no fault turned
 * a later fault into SIGBUS without a request.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* also set by meson */
#endif
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kt.h"

#define SEG          0x5eedu
#define NPAGES       64u
#define NDATA        48u     /* [0, NDATA): server pattern + thread words */
#define ZERO_FIRST   NDATA   /* [ZERO_FIRST, ZERO_END): read only, ZERO */
#define ZERO_END     56u
#define FINAL_PAGE   60u     /* only the final clean fault touches it */
#define WORDS        (KT_PAGE / 8)
#define PRIV0        1u      /* words PRIV0 + t: written by thread t only */
#define PAT0         4u      /* words 0 and PAT0.. : the server's pattern */
#define ENTRIES      16u     /* per ring, so also the kernel's waiter slots */
#define NT           3       /* application threads */
#define MAX_CMDS     6u      /* per iteration: the ACK ring always has room */
#define LOG_MAX      4096u
#define HANG_NS      10000000000ull
#define FAULT_TIMEOUT_MS 20000u
#define DEFAULT_SEED  0x5eed2024ull
#define DEFAULT_ITERS 10000u
#define TIME_CAP_NS  40000000000ull /* safety: end the hostile phase */
#define LIMIT        DSM_RING_PGNO_LIMIT

#define OP_IDLE  0u
#define OP_READ  1u
#define OP_WRITE 2u

/* ---------------------------------------------------------------- random */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t *s, uint64_t n)
{
	return n ? rng_next(s) % n : 0;
}

static bool chance(uint64_t *s, unsigned pct)
{
	return rnd(s, 100) < pct;
}

#define PICK(s, arr) ((arr)[rnd((s), sizeof(arr) / sizeof((arr)[0]))])

/* ------------------------------------------------------- part 1: user space */

/* All five entry types share one field layout. */
static const struct { uint8_t off, size; } fields[] = {
	{ 0, 1 }, { 1, 1 }, { 2, 2 }, { 4, 4 }, { 8, 8 }, { 16, 8 }, { 24, 4 }, { 28, 4 },
};

static void put(void *e, unsigned off, unsigned size, uint64_t v)
{
	memcpy((uint8_t *)e + off, &v, size); /* little endian */
}

static uint64_t interesting(uint64_t *s, unsigned size)
{
	static const uint8_t u8[] = { 0, 1, 2, 3, 4, 5, 7, 8, 0x10, 0x11, 0x12, 0x21, 0x22,
				      0x30, 0x31, 0x32, 0x33, 0x34, 0x41, 0x42, 0x51, 0x52,
				      0x53, 0x54, 0x80, 0xff };
	static const uint16_t u16[] = { 0, 1, 2, 0x8000, 0xffff };
	static const uint32_t u32[] = { 0, 1, 2, 511, 512, 513, 4194303, 4194304, 4194305,
					0x7fffffff, 0x80000000u, 0xfffffffeu, 0xffffffffu,
					(uint32_t)-4095, (uint32_t)-4096, (uint32_t)-1 };
	static const uint64_t u64[] = { 0, 1, 2, 511, 512, LIMIT - 513, LIMIT - 512,
					LIMIT - 2, LIMIT - 1, LIMIT, LIMIT + 1, ~0ull,
					0xffffffffull, 1ull << 32, 1ull << 63 };

	if (chance(s, 15))
		return rng_next(s);
	switch (size) {
	case 1: return PICK(s, u8);
	case 2: return PICK(s, u16);
	case 4: return PICK(s, u32);
	default: return PICK(s, u64);
	}
}

static uint32_t any_seg(uint64_t *s)
{
	uint32_t v = (uint32_t)rng_next(s);

	return v == DSM_RING_SEG_ALL ? 0 : v;
}

static uint32_t any_pid(uint64_t *s)
{
	return chance(s, 20) ? (chance(s, 50) ? 1 : DSM_RING_PID_MAX)
			     : 1 + (uint32_t)rnd(s, DSM_RING_PID_MAX);
}

static uint64_t any_pgno(uint64_t *s, uint64_t npages)
{
	uint64_t room = LIMIT - npages; /* pgno <= room */

	if (chance(s, 20))
		return room;
	return chance(s, 50) ? rnd(s, 4096 < room ? 4096 : room + 1) : rnd(s, room + 1);
}

static int32_t any_errno(uint64_t *s)
{
	return chance(s, 20) ? (chance(s, 50) ? -1 : -DSM_RING_ERRNO_MAX)
			     : -(int32_t)(1 + rnd(s, DSM_RING_ERRNO_MAX));
}

/* A random valid entry of ring id. */
static void gen_valid(uint64_t *s, unsigned id, void *e)
{
	static const uint8_t fflags[] = { DSM_FAULT_READ, DSM_FAULT_WRITE,
					  DSM_FAULT_WRITE | DSM_FAULT_WP };
	static const uint8_t cmds[] = { DSM_OP_INVALIDATE, DSM_OP_DOWNGRADE, DSM_OP_UNMAP_SEG };
	static const uint8_t notes[] = { DSM_OP_NOTE_MUNMAP, DSM_OP_NOTE_EXIT, DSM_OP_NOTE_LOST };
	uint32_t np;
	uint8_t op;

	memset(e, 0, DSM_RING_ENTRY_SIZE);
	switch (id) {
	case DSM_RING_FAULT: {
		struct dsm_fault_req *f = e;

		f->opcode = DSM_OP_FAULT;
		f->flags = PICK(s, fflags);
		f->seg_id = any_seg(s);
		f->token = rng_next(s);
		f->pgno = any_pgno(s, 1);
		f->pid = any_pid(s);
		f->tid = any_pid(s);
		break;
	}
	case DSM_RING_CQ: {
		struct dsm_fault_cqe *c = e;

		c->opcode = DSM_OP_FAULT_DONE;
		c->result = 1 + (uint8_t)rnd(s, DSM_RES_MAX);
		c->seg_id = any_seg(s);
		c->token = rng_next(s);
		c->pgno = any_pgno(s, 1);
		c->status = c->result == DSM_RES_SIGBUS ? any_errno(s) : 0;
		break;
	}
	case DSM_RING_CMD:
	case DSM_RING_ACK:
		op = PICK(s, cmds);
		np = op == DSM_OP_UNMAP_SEG ? 0 : 1 + (uint32_t)rnd(s, DSM_RING_CMD_MAX_PAGES);
		if (id == DSM_RING_CMD) {
			struct dsm_cmd *m = e;

			m->opcode = op;
			m->seg_id = any_seg(s);
			m->token = rng_next(s);
			m->npages = np;
			m->pgno = np ? any_pgno(s, np) : 0;
		} else {
			struct dsm_cmd_ack *a = e;

			a->opcode = DSM_OP_CMD_ACK;
			a->cmd = op;
			a->seg_id = any_seg(s);
			a->token = rng_next(s);
			a->npages = np;
			a->pgno = np ? any_pgno(s, np) : 0;
			a->status = chance(s, 50) ? 0 : any_errno(s);
		}
		break;
	default: {
		struct dsm_note *n = e;

		n->opcode = PICK(s, notes);
		n->seq = rng_next(s);
		if (n->opcode == DSM_OP_NOTE_LOST) {
			n->seg_id = DSM_RING_SEG_ALL;
			break;
		}
		n->seg_id = any_seg(s);
		n->pid = any_pid(s);
		if (n->opcode == DSM_OP_NOTE_MUNMAP) {
			n->npages = chance(s, 10) ? 0xffffffffu : 1 + (uint32_t)rnd(s, 4096);
			n->pgno = any_pgno(s, n->npages);
		}
		break;
	}
	}
}

/* One, two or three fields set to boundary values, a bit flipped, or the
 * whole entry random. */
static void mutate(uint64_t *s, void *e)
{
	unsigned k, n = 1 + (unsigned)rnd(s, 3);

	if (chance(s, 10)) {
		for (k = 0; k < DSM_RING_ENTRY_SIZE; k++)
			((uint8_t *)e)[k] = (uint8_t)rng_next(s);
		return;
	}
	if (chance(s, 15)) {
		k = (unsigned)rnd(s, DSM_RING_ENTRY_SIZE * 8);
		((uint8_t *)e)[k / 8] ^= (uint8_t)(1u << (k % 8));
		return;
	}
	for (k = 0; k < n; k++) {
		unsigned f = (unsigned)rnd(s, sizeof(fields) / sizeof(fields[0]));

		put(e, fields[f].off, fields[f].size, interesting(s, fields[f].size));
	}
}

/* docs/ring-abi.md "Entries", read independently of ring_rules.h: does the
 * ABI accept this entry? */
static bool ref_range(uint64_t pgno, uint64_t npages)
{
	return pgno < LIMIT && pgno + npages <= LIMIT && pgno + npages >= pgno;
}

static bool ref_pid(uint32_t p)
{
	return p >= 1 && p <= 4194304u;
}

static bool ref_errno_or_0(int32_t st)
{
	return st <= 0 && st >= -4095;
}

static bool ref_cmd_op(uint8_t op)
{
	return op == 0x31 || op == 0x32 || op == 0x33;
}

static bool ref_cmd_range(uint8_t op, uint64_t pgno, uint32_t npages)
{
	if (op == 0x33)
		return pgno == 0 && npages == 0;
	return npages >= 1 && npages <= 512 && ref_range(pgno, npages);
}

static bool ref_accepts(unsigned id, const void *e)
{
	union {
		struct dsm_fault_req f;
		struct dsm_fault_cqe c;
		struct dsm_cmd m;
		struct dsm_cmd_ack a;
		struct dsm_note n;
	} u;
	unsigned rw;

	memcpy(&u, e, sizeof(u));
	switch (id) {
	case DSM_RING_FAULT:
		rw = u.f.flags & 3u;
		return u.f.opcode == 0x11 && !(u.f.flags & ~7u) && (rw == 1 || rw == 2) &&
		       (!(u.f.flags & 4u) || rw == 2) && u.f.resv0 == 0 &&
		       u.f.seg_id != 0xffffffffu && ref_range(u.f.pgno, 1) &&
		       ref_pid(u.f.pid) && ref_pid(u.f.tid);
	case DSM_RING_CQ:
		return u.c.opcode == 0x21 && u.c.result >= 1 && u.c.result <= 4 &&
		       u.c.resv0 == 0 && u.c.resv1 == 0 && u.c.seg_id != 0xffffffffu &&
		       ref_range(u.c.pgno, 1) &&
		       (u.c.result == 4 ? u.c.status < 0 && u.c.status >= -4095 : u.c.status == 0);
	case DSM_RING_CMD:
		return ref_cmd_op(u.m.opcode) && u.m.flags == 0 && u.m.resv0 == 0 &&
		       u.m.resv1 == 0 && u.m.seg_id != 0xffffffffu &&
		       ref_cmd_range(u.m.opcode, u.m.pgno, u.m.npages);
	case DSM_RING_ACK:
		return u.a.opcode == 0x41 && ref_cmd_op(u.a.cmd) && u.a.resv0 == 0 &&
		       u.a.seg_id != 0xffffffffu && ref_cmd_range(u.a.cmd, u.a.pgno, u.a.npages) &&
		       ref_errno_or_0(u.a.status);
	default:
		if (u.n.flags != 0 || u.n.resv0 != 0)
			return false;
		if (u.n.opcode == 0x53)
			return u.n.seg_id == 0xffffffffu && u.n.pgno == 0 && u.n.npages == 0 &&
			       u.n.pid == 0;
		if (u.n.seg_id == 0xffffffffu || !ref_pid(u.n.pid))
			return false;
		if (u.n.opcode == 0x51)
			return u.n.npages >= 1 && ref_range(u.n.pgno, u.n.npages);
		return u.n.opcode == 0x52 && u.n.pgno == 0 && u.n.npages == 0;
	}
}

#define US_MAX_BATCH 64u

static void us_ring(uint64_t *s, struct dsm_ring *r, unsigned batches, uint64_t *tally)
{
	uint8_t in[US_MAX_BATCH][DSM_RING_ENTRY_SIZE], out[US_MAX_BATCH][DSM_RING_ENTRY_SIZE];
	uint8_t want[US_MAX_BATCH][DSM_RING_ENTRY_SIZE];

	for (unsigned b = 0; b < batches; b++) {
		uint32_t n = 1 + (uint32_t)rnd(s, r->entries < US_MAX_BATCH ? r->entries : US_MAX_BATCH);
		uint64_t bad0[DSM_RING_BAD_MAX], expbad[DSM_RING_BAD_MAX] = { 0 };
		uint32_t nwant = 0, got = 0, nbad_sum = 0;

		memcpy(bad0, r->cons.bad, sizeof(bad0));
		for (uint32_t i = 0; i < n; i++) {
			enum dsm_ring_bad why;

			gen_valid(s, r->id, in[i]);
			if (chance(s, 65))
				mutate(s, in[i]);
			why = dsm_ring_check(r->id, in[i]);
			KT_CHECK((why == DSM_RING_OK) == ref_accepts(r->id, in[i]),
				 "ring %u: dsm_ring_check says %s, docs/ring-abi.md says %s",
				 r->id, dsm_ring_bad_name(why),
				 ref_accepts(r->id, in[i]) ? "valid" : "invalid");
			KT_CHECK((unsigned)why < DSM_RING_BAD_MAX, "reason %u", why);
			expbad[why]++;
			tally[why]++;
			if (why == DSM_RING_OK)
				memcpy(want[nwant++], in[i], DSM_RING_ENTRY_SIZE);
		}
		KT_CHECK(dsm_ring_produce(r, in, n) == n, "ring %u: produce %u", r->id, n);
		/* Read back in random chunk sizes. */
		while (got < nwant || dsm_ring_avail(r) > 0) {
			uint32_t chunk = 1 + (uint32_t)rnd(s, n), nbad = 0, k;

			k = dsm_ring_read(r, out[got], chunk, &nbad);
			KT_CHECK(k + got <= nwant, "ring %u: read more than the valid entries", r->id);
			for (uint32_t i = 0; i < k; i++)
				KT_CHECK(dsm_ring_check(r->id, out[got + i]) == DSM_RING_OK,
					 "ring %u: dsm_ring_read accepted a rejected entry", r->id);
			got += k;
			nbad_sum += nbad;
			KT_CHECK(k || nbad, "ring %u: read made no progress", r->id);
		}
		KT_CHECK(got == nwant && nbad_sum == n - nwant, "ring %u: kept %u of %u (want %u)",
			 r->id, got, n, nwant);
		KT_CHECK(memcmp(out, want, (size_t)nwant * DSM_RING_ENTRY_SIZE) == 0,
			 "ring %u: the valid entries came back changed or reordered", r->id);
		for (unsigned w = 1; w < DSM_RING_BAD_MAX; w++)
			KT_CHECK(r->cons.bad[w] - bad0[w] == expbad[w], "ring %u: bad[%s] +%lu, want +%lu",
				 r->id, dsm_ring_bad_name(w), (unsigned long)(r->cons.bad[w] - bad0[w]),
				 (unsigned long)expbad[w]);
		KT_CHECK(r->cons.bad[0] == 0, "bad[ok] counted");
	}
	/* A producer tail out of range: nothing is read, the ring is corrupt. */
	{
		uint32_t tail = *r->tail, c0 = (uint32_t)r->cons.corrupt, nbad = 0;
		uint8_t e[DSM_RING_ENTRY_SIZE];

		__atomic_store_n(r->tail, r->cons.head + r->entries + 1, __ATOMIC_RELEASE);
		KT_CHECK(dsm_ring_read(r, e, 1, &nbad) == 0 && nbad == 0 &&
			 r->cons.corrupt == (uint64_t)c0 + 1, "ring %u: corrupt tail accepted", r->id);
		__atomic_store_n(r->tail, tail, __ATOMIC_RELEASE);
	}
}

static void userspace_section(uint64_t seed)
{
	static const uint32_t sizes[] = { 1, 2, 8, 64 };
	uint64_t s = seed ^ 0x7573657273706163ull, tally[DSM_RING_BAD_MAX] = { 0 };
	uint64_t t0 = kt_now_ns();

	for (unsigned z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		struct dsm_ring_params p;
		struct dsm_ring_set set;
		enum dsm_ring_err why = DSM_RING_ERR_NONE;
		void *mem;
		int ret;

		dsm_ring_params_init(&p, DSM_RING_F_NEED_WAKEUP);
		for (unsigned i = 0; i < DSM_RING_NR; i++)
			p.entries[i] = sizes[z];
		KT_CHECK(dsm_ring_layout(&p, &why) == 0, "layout: %s", dsm_ring_err_name(why));
		mem = aligned_alloc(DSM_RING_ALIGN, p.region_size);
		KT_CHECK(mem != NULL, "alloc");
		KT_CHECK(dsm_ring_region_init(mem, p.region_size, &p) == 0, "region init");
		/* Indices just below 2^32: every batch size crosses the wrap. */
		for (unsigned i = 0; i < DSM_RING_NR; i++) {
			uint32_t start = 0xffffffffu - (uint32_t)rnd(&s, 2 * sizes[z] + 3);

			*(uint32_t *)((uint8_t *)mem + p.off[i].head) = start;
			*(uint32_t *)((uint8_t *)mem + p.off[i].tail) = start;
		}
		ret = dsm_ring_attach(&set, mem, p.region_size, &p, &why);
		KT_CHECK(ret == 0, "attach: %s", dsm_ring_err_name(why));
		for (unsigned i = 0; i < DSM_RING_NR; i++)
			us_ring(&s, &set.ring[i], sizes[z] == 64 ? 400 : 1000, tally);
		free(mem);
	}
	printf("kt_fuzz: user space: %lu entries, %lu valid; rejected opcode %lu flags %lu "
	       "reserved %lu seg %lu range %lu pid %lu status %lu (%lu ms)\n",
	       (unsigned long)(tally[0] + tally[1] + tally[2] + tally[3] + tally[4] + tally[5] +
			       tally[6] + tally[7]),
	       (unsigned long)tally[0], (unsigned long)tally[1], (unsigned long)tally[2],
	       (unsigned long)tally[3], (unsigned long)tally[4], (unsigned long)tally[5],
	       (unsigned long)tally[6], (unsigned long)tally[7],
	       (unsigned long)((kt_now_ns() - t0) / 1000000));
	fflush(stdout);
}

/* ------------------------------------------------------- part 2: the module */


static uint64_t pat(uint64_t pg, unsigned i, uint32_t ver)
{
	return 0xd5ull << 56 | (pg & 0xffff) << 40 | (uint64_t)i << 24 | (ver & 0xffffff);
}

static uint32_t pat_ver(uint64_t w)
{
	return (uint32_t)(w & 0xffffff);
}

/* An application thread (also the helpers of the join section, and main
 * for the final clean fault). */
struct app {
	int idx;
	pthread_t th;
	pid_t tid;
	uint64_t rng;
	volatile uint64_t *map;   /* the whole segment */
	/* Published for the server (atomic): page << 8 | OP_*, set before an
	 * access starts and cleared after it ends. */
	uint64_t state;
	uint64_t since_ns;        /* start of the access in progress, or 0 */
	uint64_t got_bus;         /* SIGBUS taken */
	/* The SIGBUS handler's. */
	sigjmp_buf jb;
	volatile int armed;
	void *volatile bus_addr;
	volatile int bus_code;
	/* Private. */
	uint32_t bus_log[LOG_MAX];
	uint64_t bus_us[LOG_MAX];
	uint64_t accesses, reads, writes, zero_reads, fenced;
	uint32_t last_ver[NPAGES];
	uint64_t own[NPAGES];
	uint64_t ctr;
};

static struct app apps[NT + 1];    /* apps[NT]: main (final clean fault) */
static uint32_t cur_ver[NPAGES];   /* server-written, release */
static int fence[NPAGES];          /* server-written: keep off this page */
static int app_stop, srv_stop, fuzz_done;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static __thread struct app *tls_app;
static uint64_t t_start;

static uint64_t us_now(void)
{
	return (kt_now_ns() - t_start) / 1000;
}

/* What the server did, dumped if SIGBUS and failures do not match. */
#define TRACE_MAX 65536u
static struct trace_ev {
	uint64_t us;
	int t;
	char what;       /* R request, A answer, M mismatch sent, B SIGBUS sent */
	uint8_t a;       /* flags / result */
	uint16_t pg;
} trace[TRACE_MAX];
static unsigned ntrace;

static void tr(int t, char what, unsigned a, uint64_t pg)
{
	trace[ntrace++ % TRACE_MAX] = (struct trace_ev){ us_now(), t, what, (uint8_t)a,
							 (uint16_t)pg };
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	struct app *a = tls_app;
	static const char msg[] = "kt_fuzz: SIGBUS outside a guarded access\n";

	(void)sig;
	(void)uc;
	if (a == NULL || !a->armed) {
		if (write(2, msg, sizeof(msg) - 1) < 0) {
		}
		_exit(3);
	}
	a->armed = 0;
	a->bus_addr = si->si_addr;
	a->bus_code = si->si_code;
	siglongjmp(a->jb, 1);
}

/* The guarded accesses: 0, or -1 after a SIGBUS (nothing was stored). */
static int __attribute__((noinline)) guarded_read(struct app *a, volatile uint64_t *w,
						  unsigned k, unsigned own, uint64_t *out)
{
	if (sigsetjmp(a->jb, 1))
		return -1;
	a->armed = 1;
	out[0] = w[0];
	out[1] = w[k];
	out[2] = w[own];
	a->armed = 0;
	return 0;
}

static int __attribute__((noinline)) guarded_write(struct app *a, volatile uint64_t *w,
						   unsigned i, uint64_t v)
{
	if (sigsetjmp(a->jb, 1))
		return -1;
	a->armed = 1;
	w[i] = v;
	a->armed = 0;
	return 0;
}

/* seq_cst: pairs with the server's fence store + state load (a store ->
 * load pattern: one of the two sides sees the other). */
static void publish(struct app *a, uint64_t pg, uint32_t op)
{
	__atomic_store_n(&a->since_ns, op ? kt_now_ns() : 0, __ATOMIC_RELAXED);
	__atomic_store_n(&a->state, pg << 8 | op, __ATOMIC_SEQ_CST);
}

static void took_sigbus(struct app *a, uint64_t pg)
{
	uintptr_t page = (uintptr_t)(a->map + pg * WORDS);
	uint64_t n = a->got_bus;

	KT_CHECK((uintptr_t)a->bus_addr >= page && (uintptr_t)a->bus_addr < page + KT_PAGE,
		 "thread %d: SIGBUS at %p, accessing page %lu at %p", a->idx, a->bus_addr,
		 (unsigned long)pg, (void *)page);
	KT_CHECK(a->bus_code == BUS_ADRERR, "thread %d: si_code %d", a->idx, a->bus_code);
	KT_CHECK(n < LOG_MAX, "SIGBUS log full");
	a->bus_log[n] = (uint32_t)pg;
	a->bus_us[n] = us_now();
	__atomic_store_n(&a->got_bus, n + 1, __ATOMIC_RELEASE);
}

static void app_read(struct app *a, uint64_t pg)
{
	volatile uint64_t *w = a->map + pg * WORDS;
	unsigned k = PAT0 + (unsigned)rnd(&a->rng, WORDS - PAT0), own = PRIV0 + (unsigned)a->idx;
	uint64_t v[3];
	uint32_t v0, vk, top;

	if (guarded_read(a, w, k, own, v) < 0) {
		took_sigbus(a, pg);
		return;
	}
	if (pg >= ZERO_FIRST && pg < ZERO_END) {
		a->zero_reads++;
		KT_CHECK(v[0] == 0 && v[1] == 0 && v[2] == 0,
			 "zero page %lu: %#lx %#lx %#lx", (unsigned long)pg, (unsigned long)v[0],
			 (unsigned long)v[1], (unsigned long)v[2]);
		return;
	}
	a->reads++;
	v0 = pat_ver(v[0]);
	vk = pat_ver(v[1]);
	__atomic_thread_fence(__ATOMIC_ACQUIRE); /* the loads above come first */
	top = __atomic_load_n(&cur_ver[pg], __ATOMIC_ACQUIRE);
	KT_CHECK(v[0] == pat(pg, 0, v0) && v[1] == pat(pg, k, vk),
		 "thread %d page %lu: word 0 %#lx, word %u %#lx: not the server's data",
		 a->idx, (unsigned long)pg, (unsigned long)v[0], k, (unsigned long)v[1]);
	/* The server rewrites a page only while nothing maps it, so a thread
	 * never sees its version go back (a zap between the two loads may
	 * move it forward). */
	KT_CHECK(a->last_ver[pg] <= v0 && v0 <= vk && vk <= top,
		 "thread %d page %lu: versions seen %u, read %u then %u, server at %u",
		 a->idx, (unsigned long)pg, a->last_ver[pg], v0, vk, top);
	KT_CHECK(v[2] == a->own[pg], "thread %d page %lu: own word %#lx, wrote %#lx",
		 a->idx, (unsigned long)pg, (unsigned long)v[2], (unsigned long)a->own[pg]);
	a->last_ver[pg] = vk;
}

static void app_write(struct app *a, uint64_t pg)
{
	uint64_t v = (uint64_t)(a->idx + 1) << 56 | ++a->ctr;

	if (guarded_write(a, a->map + pg * WORDS, PRIV0 + (unsigned)a->idx, v) < 0) {
		took_sigbus(a, pg);
		return;
	}
	a->writes++;
	a->own[pg] = v;
}

static void *app_main(void *arg)
{
	struct app *a = arg;

	tls_app = a;
	__atomic_store_n(&a->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	while (!__atomic_load_n(&app_stop, __ATOMIC_ACQUIRE)) {
		bool zero = chance(&a->rng, 15);
		uint64_t pg = zero ? ZERO_FIRST + rnd(&a->rng, ZERO_END - ZERO_FIRST)
				   : rnd(&a->rng, NDATA);
		bool wr = !zero && chance(&a->rng, 40);

		publish(a, pg, wr ? OP_WRITE : OP_READ);
		if (__atomic_load_n(&fence[pg], __ATOMIC_SEQ_CST)) {
			/* The server is about to fail a fault on this page:
			 * it must reach that fault's thread alone. */
			publish(a, pg, OP_IDLE);
			a->fenced++;
			sched_yield();
			continue;
		}
		if (wr)
			app_write(a, pg);
		else
			app_read(a, pg);
		publish(a, pg, OP_IDLE);
		a->accesses++;
		sched_yield();
	}
	return NULL;
}

/* ---------------------------------------------------------------- server */

struct preq {
	struct dsm_fault_req r;
	int t;
};

struct pcmd {
	struct dsm_cmd m;
	int32_t status;
};

struct expect {
	uint64_t bad[DSM_RING_BAD_MAX];
	uint64_t cqes, stale, mismatch, cmds, cmd_errors, sigbus, faults;
};

static struct {
	struct kt_server ks;
	uint64_t rng;
	unsigned iters;
	struct preq pend[64];
	unsigned npend;
	/* The server's model of the module: could a grant be live? */
	uint8_t mapped_any[NPAGES], mapped_rw[NPAGES];
	int blocked[NPAGES];          /* 1 + thread that must see a SIGBUS, or 0 */
	uint64_t block_need[NPAGES], block_since[NPAGES];
	uint64_t sent_bus[NT + 1];
	uint32_t bus_log[NT + 1][LOG_MAX];
	struct pcmd outst[4 * MAX_CMDS];
	unsigned noutst;
	uint64_t next_token;
	struct expect e;
	/* For the summary. */
	uint64_t answers, n_mismatch, n_sigbus, fail_skipped, dups, variants, random_cq;
	uint64_t orphan_stale, cmd_ok, cmd_err, cmd_bad, cmd_random, bumps, notes, enters;
	uint64_t iters_done, hostile_ns;
} S;

static struct dsm_ring *ring(unsigned id)
{
	return &S.ks.kd.rings.ring[id];
}

static void srv_enter(uint32_t flags, uint32_t timeout_ms)
{
	struct dsm_kenter ke;
	int ret = dsm_kdev_enter(&S.ks.kd, flags, timeout_ms, &ke);

	KT_CHECK(ret == 0, "enter: %s", strerror(-ret));
	S.enters++;
}

static int tid_index(uint32_t tid)
{
	for (int t = 0; t <= NT; t++)
		if ((uint32_t)__atomic_load_n(&apps[t].tid, __ATOMIC_ACQUIRE) == tid)
			return t;
	return -1;
}

static void on_request(const struct dsm_fault_req *r)
{
	int t = tid_index(r->tid);
	uint64_t st, pg;
	uint32_t op;

	KT_CHECK(t >= 0, "request from tid %u, not a test thread", r->tid);
	st = __atomic_load_n(&apps[t].state, __ATOMIC_SEQ_CST);
	pg = st >> 8;
	op = (uint32_t)(st & 0xff);
	KT_CHECK(r->pid == (uint32_t)getpid() && r->seg_id == SEG && r->pgno < NPAGES,
		 "request pid %u seg %u page %lu", r->pid, r->seg_id, (unsigned long)r->pgno);
	/* The thread is blocked in this fault: it published the access. */
	KT_CHECK(op != OP_IDLE && pg == r->pgno,
		 "thread %d: request for page %lu, the thread is %s page %lu", t,
		 (unsigned long)r->pgno, op == OP_IDLE ? "idle after" : "accessing",
		 (unsigned long)pg);
	KT_CHECK(op == OP_READ ? r->flags == DSM_FAULT_READ : (r->flags & DSM_FAULT_WRITE) != 0,
		 "thread %d: %s access, request flags %#x", t, op == OP_READ ? "read" : "write",
		 r->flags);
	KT_CHECK((r->token >> 32) < ENTRIES, "token %#lx: slot beyond %u waiters",
		 (unsigned long)r->token, ENTRIES);
	for (unsigned i = 0; i < S.npend; i++)
		KT_CHECK(S.pend[i].t != t && S.pend[i].r.token != r->token,
			 "two requests outstanding for thread %d / token %#lx", t,
			 (unsigned long)r->token);
	KT_CHECK(S.npend < sizeof(S.pend) / sizeof(S.pend[0]), "pending full");
	S.pend[S.npend++] = (struct preq){ .r = *r, .t = t };
	S.e.faults++;
	tr(t, 'R', r->flags, r->pgno);
}

static void bump(uint64_t pg)
{
	uint64_t *w = (uint64_t *)S.ks.mem + pg * WORDS;
	uint32_t v = cur_ver[pg] + 1;

	/* No grant is live (the INVALIDATE is acked), so no pte either. */
	w[0] = pat(pg, 0, v);
	for (unsigned i = PAT0; i < WORDS; i++)
		w[i] = pat(pg, i, v);
	__atomic_store_n(&cur_ver[pg], v, __ATOMIC_RELEASE);
	S.bumps++;
}

static void on_ack(const struct dsm_cmd_ack *a)
{
	const struct pcmd *c;
	unsigned i;

	for (i = 0; i < S.noutst; i++)
		if (S.outst[i].m.token == a->token)
			break;
	KT_CHECK(i < S.noutst, "ack for token %#lx: no such valid command outstanding",
		 (unsigned long)a->token);
	c = &S.outst[i];
	KT_CHECK(a->cmd == c->m.opcode && a->seg_id == c->m.seg_id && a->pgno == c->m.pgno &&
		 a->npages == c->m.npages, "ack does not echo command %#x seg %u %lu+%u",
		 c->m.opcode, c->m.seg_id, (unsigned long)c->m.pgno, c->m.npages);
	KT_CHECK(a->status == c->status, "command %#x seg %u %lu+%u: ack status %d, want %d",
		 c->m.opcode, c->m.seg_id, (unsigned long)c->m.pgno, c->m.npages, a->status,
		 c->status);
	if (c->status == 0 && c->m.opcode != DSM_OP_DOWNGRADE) {
		uint64_t lo = c->m.opcode == DSM_OP_UNMAP_SEG ? 0 : c->m.pgno;
		uint64_t hi = c->m.opcode == DSM_OP_UNMAP_SEG ? NPAGES : c->m.pgno + c->m.npages;

		for (uint64_t pg = lo; pg < hi && pg < NDATA; pg++)
			bump(pg);
	}
	S.outst[i] = S.outst[--S.noutst];
}

static void collect(void)
{
	uint8_t buf[32][DSM_RING_ENTRY_SIZE];
	uint32_t n, nbad;

	do {
		n = dsm_ring_read(ring(DSM_RING_FAULT), buf, 32, &nbad);
		KT_CHECK(nbad == 0, "the module posted %u bad fault requests", nbad);
		for (uint32_t i = 0; i < n; i++)
			on_request((const struct dsm_fault_req *)buf[i]);
	} while (n);
	do {
		n = dsm_ring_read(ring(DSM_RING_NOTE), buf, 32, &nbad);
		KT_CHECK(nbad == 0, "the module posted %u bad notes", nbad);
		S.notes += n;
	} while (n);
	do {
		n = dsm_ring_read(ring(DSM_RING_ACK), buf, 32, &nbad);
		KT_CHECK(nbad == 0, "the module posted %u bad acks", nbad);
		for (uint32_t i = 0; i < n; i++)
			on_ack((const struct dsm_cmd_ack *)buf[i]);
	} while (n);
}

/* ---------------------------------------------------------- CQ entries */

enum cqk { CQ_ANSWER, CQ_MISMATCH, CQ_STALE, CQ_BAD };

static void cq_post(const struct dsm_fault_cqe *c, enum cqk k)
{
	enum dsm_ring_bad why = dsm_ring_check(DSM_RING_CQ, c);

	KT_CHECK((why != DSM_RING_OK) == (k == CQ_BAD), "cqe kind %d but check says %s", k,
		 dsm_ring_bad_name(why));
	switch (k) {
	case CQ_ANSWER:   S.e.cqes++; break;
	case CQ_MISMATCH: S.e.mismatch++; break;
	case CQ_STALE:    S.e.stale++; break;
	case CQ_BAD:      S.e.bad[why]++; break;
	}
	/* The CMD ring is empty here, so an ENTER to make room consumes
	 * completions only, in the order posted. */
	while (dsm_ring_produce(ring(DSM_RING_CQ), c, 1) != 1)
		srv_enter(0, 0);
}

/* Can a valid cqe c, posted before the answer to r, be nothing but stale?
 * Its token names no waiter, or r's waiter (alive until its answer) with
 * another generation or another page / segment. */
static bool surely_stale(const struct dsm_fault_cqe *c, const struct dsm_fault_req *r)
{
	uint64_t slot = c->token >> 32;

	if (slot >= ENTRIES)
		return true;
	if (slot != r->token >> 32)
		return false;
	if ((uint32_t)c->token != (uint32_t)r->token)
		return true;
	return c->seg_id != r->seg_id || c->pgno != r->pgno;
}

static uint64_t unknown_token(void)
{
	uint64_t slot = ENTRIES + rnd(&S.rng, 0x100000000ull - ENTRIES);

	return slot << 32 | (uint32_t)rng_next(&S.rng);
}

/* One field of the right answer to r spoiled. */
static void cq_spoil(struct dsm_fault_cqe *c, const struct dsm_fault_req *r)
{
	static const uint8_t ops[] = { 0, 0x11, 0x20, 0x22, 0x31, 0x33, 0x41, 0x53, 0xff };
	static const uint8_t results[] = { 0, 5, 6, 0x80, 255 };
	static const int32_t bad_st[] = { 1, 4096, INT_MAX, -4096, INT_MIN };
	static const int32_t gens[] = { 1, -1, 2, 0x10000 };

	switch (rnd(&S.rng, 13)) {
	case 0: /* opcode: 0, another ring's, unknown */
		c->opcode = chance(&S.rng, 70) ? PICK(&S.rng, ops) : (uint8_t)rng_next(&S.rng);
		break;
	case 1:
		c->resv0 = 1 + (uint16_t)rnd(&S.rng, 0xffff);
		break;
	case 2:
		c->resv1 = 1 + (uint32_t)rnd(&S.rng, 0xfffffffeu);
		break;
	case 3:
		c->seg_id = DSM_RING_SEG_ALL;
		break;
	case 4: /* a segment that does not exist */
		c->seg_id = chance(&S.rng, 50) ? SEG + 1 + (uint32_t)rnd(&S.rng, 1000) : 0;
		break;
	case 5: /* pgno beyond the page-number space */
		c->pgno = chance(&S.rng, 50) ? LIMIT + rnd(&S.rng, 3) : ~0ull - rnd(&S.rng, 3);
		break;
	case 6: /* the right token, another page */
		c->pgno = chance(&S.rng, 50) ? (r->pgno + 1 + rnd(&S.rng, NPAGES - 1)) % NPAGES
					     : NPAGES + rnd(&S.rng, LIMIT - NPAGES);
		break;
	case 7: /* result 0, 5, 255 ... */
		c->result = PICK(&S.rng, results);
		break;
	case 8: /* status inconsistent with the result, or not an errno */
		if (c->result == DSM_RES_SIGBUS || chance(&S.rng, 30))
			c->status = PICK(&S.rng, bad_st);
		else
			c->status = -(int32_t)(1 + rnd(&S.rng, DSM_RING_ERRNO_MAX));
		break;
	case 9: /* a failure without a reason */
		c->result = DSM_RES_SIGBUS;
		c->status = chance(&S.rng, 50) ? 0 : PICK(&S.rng, bad_st);
		break;
	case 10: /* a token no waiter has */
		c->token = unknown_token();
		break;
	case 11: /* the right slot, an old or future generation */
		c->token = (r->token & ~0xffffffffull) |
			   (uint32_t)((uint32_t)r->token + (uint32_t)PICK(&S.rng, gens));
		break;
	default: /* another slot */
		c->token = r->token ^ (1ull << 32 << rnd(&S.rng, 28));
		if ((c->token >> 32) < ENTRIES)
			c->token = unknown_token();
		break;
	}
}

static void post_random_cq(void)
{
	struct dsm_fault_cqe c;

	do {
		for (unsigned i = 0; i < sizeof(c); i++)
			((uint8_t *)&c)[i] = (uint8_t)rng_next(&S.rng);
	} while (dsm_ring_check(DSM_RING_CQ, &c) == DSM_RING_OK);
	cq_post(&c, CQ_BAD);
	S.random_cq++;
}

/* A valid completion for no waiter at all. */
static void post_orphan_cq(void)
{
	struct dsm_fault_cqe c = {
		.opcode = DSM_OP_FAULT_DONE, .result = 1 + (uint8_t)rnd(&S.rng, DSM_RES_MAX),
		.seg_id = chance(&S.rng, 50) ? SEG : (uint32_t)rnd(&S.rng, SEG),
		.token = unknown_token(), .pgno = rnd(&S.rng, 2 * NPAGES),
	};

	if (c.result == DSM_RES_SIGBUS)
		c.status = -EIO;
	cq_post(&c, CQ_STALE);
	S.orphan_stale++;
}

/* Hostile entries about r, posted before its answer g: malformed (one or
 * a few fields spoiled), or valid but stale. */
static void post_variant(const struct dsm_fault_cqe *g, const struct dsm_fault_req *r)
{
	for (;;) {
		struct dsm_fault_cqe c = *g;
		unsigned n = chance(&S.rng, 20) ? 2 + (unsigned)rnd(&S.rng, 2) : 1;

		for (unsigned i = 0; i < n; i++)
			cq_spoil(&c, r);
		if (dsm_ring_check(DSM_RING_CQ, &c) != DSM_RING_OK)
			cq_post(&c, CQ_BAD);
		else if (surely_stale(&c, r))
			cq_post(&c, CQ_STALE);
		else
			continue; /* it could answer a fault: draw again */
		S.variants++;
		return;
	}
}

/* The errno of a valid SIGBUS answer.  -EINTR, -EAGAIN and -ETIMEDOUT are
 * left to the probes, which check them deterministically (the module once
 * took them for its own codes). */
static int32_t sigbus_status(void)
{
	static const int32_t common[] = { -EIO, -EFAULT, -ENOMEM, -EPROTO, -ENOTCONN,
					  -EHOSTUNREACH, -1, -DSM_RING_ERRNO_MAX };
	int32_t st;

	do
		st = chance(&S.rng, 60) ? PICK(&S.rng, common)
					: -(int32_t)(1 + rnd(&S.rng, DSM_RING_ERRNO_MAX));
	while (st == -EINTR || st == -ETIMEDOUT || st == -EAGAIN);
	return st;
}

static uint8_t good_result(const struct dsm_fault_req *r, bool hostile)
{
	if (r->flags & DSM_FAULT_WRITE)
		return DSM_RES_MAP_RW;
	if (r->pgno >= ZERO_FIRST && r->pgno < ZERO_END)
		return DSM_RES_ZERO;
	return hostile && chance(&S.rng, 30) ? DSM_RES_MAP_RW : DSM_RES_MAP_RO;
}

/* May the request of q be failed (SIGBUS or a mismatching result) so that
 * exactly its thread gets SIGBUS?  The module fails every fault joined to
 * the request, and turns the failure into SIGBUS on the retry of the
 * access, which only faults again if no pte lets it through.  So: no grant
 * may be live that lets the retry pass (a read: none; a write: no RW), and
 * no other thread may be on the page now or until the SIGBUS is seen
 * (fence[]: threads check it after publishing, we check them after
 * raising it). */
static bool may_fail(const struct preq *q)
{
	uint64_t pg = q->r.pgno;

	if (q->r.flags & DSM_FAULT_WRITE ? S.mapped_rw[pg] : S.mapped_any[pg])
		return false;
	if (S.sent_bus[q->t] + 1 >= LOG_MAX)
		return false;
	__atomic_store_n(&fence[pg], 1, __ATOMIC_SEQ_CST);
	for (int t = 0; t <= NT; t++) {
		uint64_t st = __atomic_load_n(&apps[t].state, __ATOMIC_SEQ_CST);

		if (t != q->t && (st & 0xff) != OP_IDLE && st >> 8 == pg) {
			__atomic_store_n(&fence[pg], 0, __ATOMIC_SEQ_CST);
			S.fail_skipped++;
			return false;
		}
	}
	return true; /* the fence stays up until the SIGBUS is seen */
}

static void answer(const struct preq *q, bool hostile)
{
	const struct dsm_fault_req *r = &q->r;
	uint64_t pg = r->pgno;
	bool wr = (r->flags & DSM_FAULT_WRITE) != 0;
	struct dsm_fault_cqe g = {
		.opcode = DSM_OP_FAULT_DONE, .result = good_result(r, hostile),
		.seg_id = r->seg_id, .token = r->token, .pgno = r->pgno,
	};

	if (hostile && chance(&S.rng, 40)) {
		unsigned n = 1 + (unsigned)rnd(&S.rng, 4);

		for (unsigned i = 0; i < n; i++)
			post_variant(&g, r);
	}
	if (hostile && chance(&S.rng, 8) && may_fail(q)) {
		struct dsm_fault_cqe f = g;
		int t = q->t;

		if (wr && chance(&S.rng, 70)) {
			/* A read-only result for a write: the module must
			 * fail the fault (cqe_mismatch). */
			f.result = chance(&S.rng, 50) ? DSM_RES_MAP_RO : DSM_RES_ZERO;
			cq_post(&f, CQ_MISMATCH);
			tr(t, 'M', f.result, pg);
			S.n_mismatch++;
		} else {
			f.result = DSM_RES_SIGBUS;
			f.status = sigbus_status();
			cq_post(&f, CQ_ANSWER);
			tr(t, 'B', f.result, pg);
			S.n_sigbus++;
		}
		KT_CHECK(S.sent_bus[t] < LOG_MAX, "SIGBUS log full");
		S.bus_log[t][S.sent_bus[t]++] = (uint32_t)pg;
		S.e.sigbus++;
		S.blocked[pg] = 1 + t;
		S.block_need[pg] = S.sent_bus[t];
		S.block_since[pg] = kt_now_ns();
		if (chance(&S.rng, 25)) {
			cq_post(&f, CQ_STALE); /* the waiter is answered */
			S.dups++;
		}
		return;
	}
	cq_post(&g, CQ_ANSWER);
	tr(q->t, 'A', g.result, pg);
	S.answers++;
	S.mapped_any[pg] = 1;
	if (g.result == DSM_RES_MAP_RW)
		S.mapped_rw[pg] = 1;
	if (hostile && chance(&S.rng, 12)) {
		/* The same completion again: its waiter is answered (or gone,
		 * its slot reused with another generation). */
		cq_post(&g, CQ_STALE);
		S.dups++;
	}
}

/* ---------------------------------------------------------- CMD entries */

static int32_t cmd_expect(const struct dsm_cmd *m)
{
	if (m->seg_id != SEG)
		return -ENOENT;
	if (m->opcode == DSM_OP_UNMAP_SEG)
		return 0;
	if (m->pgno >= NPAGES || m->npages > NPAGES - m->pgno)
		return -ERANGE;
	return 0;
}

static void cmd_post(struct dsm_cmd *m)
{
	enum dsm_ring_bad why = dsm_ring_check(DSM_RING_CMD, m);
	unsigned spins = 0;

	if (why != DSM_RING_OK) {
		S.e.bad[why]++;
		S.cmd_bad++;
	} else {
		int32_t st = cmd_expect(m);

		KT_CHECK(S.noutst < sizeof(S.outst) / sizeof(S.outst[0]), "too many commands");
		S.outst[S.noutst++] = (struct pcmd){ .m = *m, .status = st };
		if (st) {
			S.e.cmd_errors++;
			S.cmd_err++;
		} else {
			uint64_t lo = m->opcode == DSM_OP_UNMAP_SEG ? 0 : m->pgno;
			uint64_t hi = m->opcode == DSM_OP_UNMAP_SEG ? NPAGES : m->pgno + m->npages;

			S.e.cmds++;
			S.cmd_ok++;
			/* Runs after the completions posted before it. */
			for (uint64_t pg = lo; pg < hi; pg++) {
				if (m->opcode != DSM_OP_DOWNGRADE)
					S.mapped_any[pg] = 0;
				S.mapped_rw[pg] = 0;
			}
		}
	}
	while (dsm_ring_produce(ring(DSM_RING_CMD), m, 1) != 1) {
		KT_CHECK(++spins < 1000, "CMD ring stays full");
		srv_enter(0, 0);
	}
}

static void cmd_range(struct dsm_cmd *m)
{
	uint64_t p = rnd(&S.rng, NPAGES);

	m->pgno = p;
	m->npages = chance(&S.rng, 10) ? (uint32_t)(NPAGES - p)
				       : 1 + (uint32_t)rnd(&S.rng, NPAGES - p < 8 ? NPAGES - p : 8);
}

static struct dsm_cmd cmd_good(void)
{
	static const uint8_t ops[] = { DSM_OP_INVALIDATE, DSM_OP_INVALIDATE, DSM_OP_DOWNGRADE };
	struct dsm_cmd m = { .opcode = PICK(&S.rng, ops), .seg_id = SEG, .token = ++S.next_token };

	if (chance(&S.rng, 4)) {
		m.opcode = DSM_OP_UNMAP_SEG;
		return m;
	}
	cmd_range(&m);
	return m;
}

static void cmd_spoil(struct dsm_cmd *m)
{
	static const uint8_t ops[] = { 0, 0x11, 0x21, 0x30, 0x34, 0x3f, 0x41, 0x51, 0xff };
	static const uint32_t big[] = { 513, 1024, 0x7fffffff, 0xffffffffu };

	switch (rnd(&S.rng, 11)) {
	case 0: /* opcode: 0, another ring's, unknown */
		do
			m->opcode = chance(&S.rng, 70) ? PICK(&S.rng, ops) : (uint8_t)rng_next(&S.rng);
		while (dsm_ring_is_cmd_op(m->opcode));
		break;
	case 1:
		m->flags = 1 + (uint8_t)rnd(&S.rng, 255);
		break;
	case 2:
		m->resv0 = 1 + (uint16_t)rnd(&S.rng, 0xffff);
		break;
	case 3:
		m->resv1 = 1 + (uint32_t)rnd(&S.rng, 0xfffffffeu);
		break;
	case 4:
		m->seg_id = DSM_RING_SEG_ALL;
		break;
	case 5: /* pgno beyond the page-number space */
		m->pgno = chance(&S.rng, 50) ? LIMIT + rnd(&S.rng, 1000) : ~0ull;
		if (m->opcode == DSM_OP_UNMAP_SEG) {
			m->opcode = DSM_OP_INVALIDATE;
			m->npages = 1;
		}
		break;
	case 6: /* npages 0 */
		m->npages = 0;
		if (m->opcode == DSM_OP_UNMAP_SEG)
			m->opcode = DSM_OP_DOWNGRADE;
		break;
	case 7: /* npages > 512 */
		m->npages = PICK(&S.rng, big);
		if (m->opcode == DSM_OP_UNMAP_SEG)
			m->opcode = DSM_OP_INVALIDATE;
		break;
	case 8: /* pgno + npages past 2^52 */
		if (m->opcode == DSM_OP_UNMAP_SEG)
			m->opcode = DSM_OP_INVALIDATE;
		m->npages = 2 + (uint32_t)rnd(&S.rng, DSM_RING_CMD_MAX_PAGES - 1);
		m->pgno = LIMIT - 1 - rnd(&S.rng, m->npages - 1);
		break;
	case 9: /* UNMAP_SEG with a range */
		m->opcode = DSM_OP_UNMAP_SEG;
		if (chance(&S.rng, 50))
			m->pgno = 1 + rnd(&S.rng, NPAGES);
		else
			m->npages = 1 + (uint32_t)rnd(&S.rng, NPAGES);
		break;
	default:
		for (unsigned i = 0; i < sizeof(*m); i++)
			((uint8_t *)m)[i] = (uint8_t)rng_next(&S.rng);
		break;
	}
}

static void post_commands(void)
{
	unsigned n = 0;
	struct dsm_cmd m;

	if (chance(&S.rng, 35) && n < MAX_CMDS) {
		m = cmd_good();
		cmd_post(&m);
		n++;
	}
	if (chance(&S.rng, 8) && n < MAX_CMDS) { /* a segment that does not exist */
		static const uint32_t segs[] = { 0, SEG - 1, SEG + 1, 0xfffffffeu };

		m = cmd_good();
		m.seg_id = chance(&S.rng, 50) ? PICK(&S.rng, segs) : (uint32_t)rng_next(&S.rng);
		if (m.seg_id == SEG || m.seg_id == DSM_RING_SEG_ALL)
			m.seg_id = 1;
		cmd_post(&m);
		n++;
	}
	if (chance(&S.rng, 8) && n < MAX_CMDS) { /* pages beyond the segment */
		m = cmd_good();
		if (m.opcode == DSM_OP_UNMAP_SEG)
			m.opcode = DSM_OP_INVALIDATE;
		m.npages = 1 + (uint32_t)rnd(&S.rng, DSM_RING_CMD_MAX_PAGES);
		if (chance(&S.rng, 50))
			m.pgno = NPAGES + rnd(&S.rng, LIMIT - NPAGES - DSM_RING_CMD_MAX_PAGES);
		else
			m.pgno = NPAGES > m.npages ? NPAGES - m.npages + 1 + rnd(&S.rng, m.npages - 1)
						   : rnd(&S.rng, NPAGES);
		if (m.npages == 1 && m.pgno < NPAGES)
			m.pgno = NPAGES;
		cmd_post(&m);
		n++;
	}
	while (chance(&S.rng, 20) && n < MAX_CMDS) { /* malformed: dropped */
		unsigned k = chance(&S.rng, 20) ? 2 : 1;

		m = cmd_good();
		for (unsigned i = 0; i < k; i++)
			cmd_spoil(&m);
		m.token = ++S.next_token;
		if (dsm_ring_check(DSM_RING_CMD, &m) == DSM_RING_OK)
			continue; /* it would run: draw again */
		cmd_post(&m);
		n++;
	}
	if (chance(&S.rng, 4) && n < MAX_CMDS) {
		do
			for (unsigned i = 0; i < sizeof(m); i++)
				((uint8_t *)&m)[i] = (uint8_t)rng_next(&S.rng);
		while (dsm_ring_check(DSM_RING_CMD, &m) == DSM_RING_OK);
		cmd_post(&m);
		S.cmd_random++;
		n++;
	}
}

/* ------------------------------------------------------------ the loop */

static void check_hangs(void)
{
	uint64_t now = kt_now_ns();

	for (int t = 0; t <= NT; t++) {
		uint64_t since = __atomic_load_n(&apps[t].since_ns, __ATOMIC_RELAXED);

		KT_CHECK(since == 0 || now < since || now - since < HANG_NS,
			 "thread %d: an access to page %lu has not finished in %lu s", t,
			 (unsigned long)(__atomic_load_n(&apps[t].state, __ATOMIC_RELAXED) >> 8),
			 (unsigned long)(HANG_NS / 1000000000ull));
	}
	for (unsigned pg = 0; pg < NPAGES; pg++)
		KT_CHECK(!S.blocked[pg] || now - S.block_since[pg] < HANG_NS,
			 "thread %d never got the SIGBUS for page %u", S.blocked[pg] - 1, pg);
}

static void unblock(void)
{
	for (unsigned pg = 0; pg < NPAGES; pg++) {
		int t = S.blocked[pg] - 1;

		if (t >= 0 && __atomic_load_n(&apps[t].got_bus, __ATOMIC_ACQUIRE) >= S.block_need[pg]) {
			S.blocked[pg] = 0;
			__atomic_store_n(&fence[pg], 0, __ATOMIC_SEQ_CST);
		}
	}
}

static void shuffle_pending(void)
{
	for (unsigned i = S.npend; i > 1; i--) {
		unsigned j = (unsigned)rnd(&S.rng, i);
		struct preq tmp = S.pend[i - 1];

		S.pend[i - 1] = S.pend[j];
		S.pend[j] = tmp;
	}
}

/* One round: take requests, post completions (some hostile), then
 * commands, ENTER once, check the acks. */
static void server_iter(bool hostile)
{
	unsigned i, kept = 0;
	bool posted = false;

	collect();
	unblock();
	if (hostile && chance(&S.rng, 10)) {
		post_random_cq();
		posted = true;
	}
	if (hostile)
		shuffle_pending();
	for (i = 0; i < S.npend; i++) {
		struct preq q = S.pend[i];

		/* Held: a SIGBUS on this page not seen yet, or (some of the
		 * time) just late, so that answers cross. */
		if (S.blocked[q.r.pgno] || (hostile && chance(&S.rng, 15))) {
			S.pend[kept++] = q;
			continue;
		}
		answer(&q, hostile);
		posted = true;
	}
	S.npend = kept;
	if (hostile && chance(&S.rng, 6)) {
		post_orphan_cq();
		posted = true;
	}
	if (hostile) {
		unsigned before = S.noutst;
		uint64_t bad0 = S.cmd_bad;

		post_commands();
		posted |= S.noutst != before || S.cmd_bad != bad0;
	}
	if (posted) {
		srv_enter(0, 0);
		/* Every entry was consumed, every valid command acked. */
		KT_CHECK(dsm_ring_free(ring(DSM_RING_CMD)) == ENTRIES, "commands left unconsumed");
		KT_CHECK(dsm_ring_free(ring(DSM_RING_CQ)) == ENTRIES, "completions left unconsumed");
		collect();
		KT_CHECK(S.noutst == 0, "%u valid commands not acked after ENTER", S.noutst);
	} else {
		/* Nothing posted (nothing to answer, or held): wait for a
		 * fault, or poll for the SIGBUS a held page waits for. */
		struct dsm_ring *f = ring(DSM_RING_FAULT);

		if (dsm_ring_cons_sleep_prepare(f) == 0)
			srv_enter(DSM_ENTER_WAIT, 2);
		dsm_ring_cons_awake(f);
	}
	check_hangs();
}

static void *server_main(void *arg)
{
	uint64_t t0 = kt_now_ns();
	unsigned it;

	(void)arg;
	for (it = 0; !__atomic_load_n(&srv_stop, __ATOMIC_ACQUIRE); it++) {
		bool hostile = it < S.iters && kt_now_ns() - t0 < TIME_CAP_NS;

		if (!hostile && !fuzz_done) {
			S.iters_done = it;
			S.hostile_ns = kt_now_ns() - t0;
			pthread_mutex_lock(&mu);
			fuzz_done = 1;
			pthread_cond_broadcast(&cv);
			pthread_mutex_unlock(&mu);
		}
		server_iter(hostile);
	}
	KT_CHECK(S.npend == 0 && S.noutst == 0, "%u requests, %u commands left", S.npend, S.noutst);
	for (unsigned pg = 0; pg < NPAGES; pg++)
		KT_CHECK(!S.blocked[pg], "page %u still awaits a SIGBUS", pg);
	return NULL;
}

/* ----------------------------------------------------- helpers for main */

static void fill_backing(void)
{
	uint64_t *w = (uint64_t *)S.ks.mem;

	for (uint64_t pg = 0; pg < NPAGES; pg++) {
		cur_ver[pg] = 1;
		for (unsigned i = 0; i < WORDS; i++) {
			uint64_t v = pat(pg, i, 1);

			if (pg >= ZERO_FIRST && pg < ZERO_END)
				v = 0xababababababababull; /* ZERO must clear this */
			else if (i >= PRIV0 && i < PAT0)
				v = 0;
			w[pg * WORDS + i] = v;
		}
	}
}

static unsigned read_param(const char *name)
{
	char path[128];
	unsigned v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/dsm/parameters/%s", name);
	f = fopen(path, "r");
	KT_CHECK(f != NULL, "%s", path);
	KT_CHECK(fscanf(f, "%u", &v) == 1, "%s", path);
	fclose(f);
	return v;
}

static struct timespec abs_deadline(uint64_t in_ns)
{
	struct timespec dl;
	uint64_t ns;

	clock_gettime(CLOCK_REALTIME, &dl);
	ns = (uint64_t)dl.tv_nsec + in_ns % 1000000000ull;
	dl.tv_sec += (time_t)(in_ns / 1000000000ull + ns / 1000000000ull);
	dl.tv_nsec = (long)(ns % 1000000000ull);
	return dl;
}

static void wait_flag(int *flag, uint64_t timeout_ns, const char *what)
{
	struct timespec dl = abs_deadline(timeout_ns);

	pthread_mutex_lock(&mu);
	while (!*flag)
		KT_CHECK(pthread_cond_timedwait(&cv, &mu, &dl) != ETIMEDOUT || *flag,
			 "%s: not within %lu s", what, (unsigned long)(timeout_ns / 1000000000ull));
	pthread_mutex_unlock(&mu);
}

static void join_within(pthread_t th, uint64_t timeout_ns, const char *what)
{
	struct timespec dl = abs_deadline(timeout_ns);
	int ret = pthread_timedjoin_np(th, NULL, &dl);

	KT_CHECK(ret == 0, "%s did not finish: %s (an access hangs?)", what, strerror(ret));
}

/* A read then a write of FINAL_PAGE by main, served by the server thread
 * in its clean mode: nothing but the two requests may move. */
static void final_fault(void)
{
	struct app *m = &apps[NT];
	volatile uint64_t *w = m->map + FINAL_PAGE * WORDS;
	uint64_t v[3], val = 0xf1a1f1a1ull;
	struct dsm_kstats a = kt_stats(), b;

	publish(m, FINAL_PAGE, OP_READ);
	KT_CHECK(guarded_read(m, w, PAT0 + 7, PRIV0, v) == 0, "final read: SIGBUS");
	KT_CHECK(v[0] == pat(FINAL_PAGE, 0, 1) && v[1] == pat(FINAL_PAGE, PAT0 + 7, 1) && v[2] == 0,
		 "final read: %#lx %#lx %#lx", (unsigned long)v[0], (unsigned long)v[1],
		 (unsigned long)v[2]);
	publish(m, FINAL_PAGE, OP_WRITE);
	KT_CHECK(guarded_write(m, w, PRIV0, val) == 0, "final write: SIGBUS");
	publish(m, FINAL_PAGE, OP_IDLE);
	KT_CHECK(((uint64_t *)S.ks.mem)[FINAL_PAGE * WORDS + PRIV0] == val,
		 "final write not in the backing");
	b = kt_stats();
	KT_CHECK(b.faults == a.faults + 2 && b.cqes == a.cqes + 2 && b.sigbus == a.sigbus &&
		 kt_bad_total(&b) == kt_bad_total(&a) && b.cqe_stale == a.cqe_stale &&
		 b.cqe_mismatch == a.cqe_mismatch,
		 "final clean faults: faults +%lu cqes +%lu sigbus +%lu bad +%lu",
		 (unsigned long)(b.faults - a.faults), (unsigned long)(b.cqes - a.cqes),
		 (unsigned long)(b.sigbus - a.sigbus),
		 (unsigned long)(kt_bad_total(&b) - kt_bad_total(&a)));
}

/* --------------------------------------------- the join section (main) */

/* Followers: a fault on a page with a request in flight joins it and
 * shares its fate.  Deterministic: main plays the server (the server
 * thread is gone), two helper threads fault, and every step waits for a
 * condition (a request on the ring, the coalesced counter) with a
 * deadline. */
static struct app helpers[2];

struct hjob {
	struct app *a;
	uint64_t pg;
	uint32_t op;
	int done;          /* 1 ok, 2 SIGBUS */
};

static void *helper_main(void *arg)
{
	struct hjob *j = arg;
	struct app *a = j->a;
	uint64_t v[3];
	int ret;

	tls_app = a;
	__atomic_store_n(&a->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	publish(a, j->pg, j->op);
	if (j->op == OP_READ)
		ret = guarded_read(a, a->map + j->pg * WORDS, PAT0, PRIV0 + (unsigned)a->idx, v);
	else
		ret = guarded_write(a, a->map + j->pg * WORDS, PRIV0 + (unsigned)a->idx, 0x77);
	if (ret < 0)
		took_sigbus(a, j->pg);
	else if (j->op == OP_READ)
		KT_CHECK(v[0] == pat(j->pg, 0, 1), "helper read %#lx", (unsigned long)v[0]);
	publish(a, j->pg, OP_IDLE);
	__atomic_store_n(&j->done, ret == 0 ? 1 : 2, __ATOMIC_RELEASE);
	return NULL;
}

static bool next_request(struct dsm_fault_req *r, uint64_t timeout_ns)
{
	uint64_t dl = kt_now_ns() + timeout_ns;
	uint32_t nbad;

	for (;;) {
		if (dsm_ring_read(ring(DSM_RING_FAULT), r, 1, &nbad) == 1)
			return true;
		KT_CHECK(nbad == 0, "bad request");
		if (kt_now_ns() >= dl)
			return false;
		if (dsm_ring_cons_sleep_prepare(ring(DSM_RING_FAULT)) == 0)
			srv_enter(DSM_ENTER_WAIT, 10);
		dsm_ring_cons_awake(ring(DSM_RING_FAULT));
	}
}

static void wait_coalesced(uint64_t want)
{
	uint64_t dl = kt_now_ns() + 5000000000ull;

	while (kt_stats().coalesced < want) {
		KT_CHECK(kt_now_ns() < dl, "the second fault did not join within 5 s");
		sched_yield();
	}
}

static void wait_done(struct hjob *j)
{
	uint64_t dl = kt_now_ns() + 5000000000ull;

	while (!__atomic_load_n(&j->done, __ATOMIC_ACQUIRE)) {
		KT_CHECK(kt_now_ns() < dl, "helper on page %lu not done within 5 s",
			 (unsigned long)j->pg);
		srv_enter(DSM_ENTER_WAIT, 5);
	}
}

/* leader op on page pg, then follower op; fail / answer the leader's
 * request as told; check who got SIGBUS and what the module counted. */
static void join_case(const char *name, uint64_t pg, uint32_t op0, uint32_t op1, bool joins,
		      uint8_t result, int32_t status, bool dup)
{
	struct hjob j0 = { &helpers[0], pg, op0, 0 }, j1 = { &helpers[1], pg, op1, 0 };
	struct dsm_fault_req r0, r1;
	struct dsm_kstats a = kt_stats(), b;
	pthread_t t0, t1;
	bool fits = result == DSM_RES_SIGBUS || result == DSM_RES_MAP_RW || op0 == OP_READ;
	bool fail = result == DSM_RES_SIGBUS || !fits;
	uint64_t bus0 = helpers[0].got_bus, bus1 = helpers[1].got_bus;

	KT_CHECK(pthread_create(&t0, NULL, helper_main, &j0) == 0, "helper");
	KT_CHECK(next_request(&r0, 5000000000ull), "%s: no request from the leader", name);
	KT_CHECK(r0.pgno == pg && r0.tid == (uint32_t)helpers[0].tid, "%s: request", name);
	KT_CHECK(pthread_create(&t1, NULL, helper_main, &j1) == 0, "helper");
	if (joins) {
		wait_coalesced(a.coalesced + 1);
	} else {
		KT_CHECK(next_request(&r1, 5000000000ull), "%s: no request from the second", name);
		KT_CHECK(r1.tid == (uint32_t)helpers[1].tid && (r1.flags & DSM_FAULT_WRITE),
			 "%s: second request", name);
	}
	kt_complete(&S.ks, &r0, result, status);
	if (dup)
		kt_complete(&S.ks, &r0, result, status); /* stale: answered */
	wait_done(&j0);
	if (joins) {
		wait_done(&j1);
	} else {
		/* Not joined: still waiting for its own answer. */
		KT_CHECK(!__atomic_load_n(&j1.done, __ATOMIC_ACQUIRE),
			 "%s: the write finished with the read's answer", name);
		kt_complete(&S.ks, &r1, DSM_RES_MAP_RW, 0);
		wait_done(&j1);
	}
	join_within(t0, 5000000000ull, "helper");
	join_within(t1, 5000000000ull, "helper");
	b = kt_stats();
	KT_CHECK(j0.done == (fail ? 2 : 1) && helpers[0].got_bus == bus0 + fail,
		 "%s: leader %s, want %s", name, j0.done == 2 ? "SIGBUS" : "ok",
		 fail ? "SIGBUS" : "ok");
	KT_CHECK(j1.done == (joins && fail ? 2 : 1) && helpers[1].got_bus == bus1 + (joins && fail),
		 "%s: second fault %s, want %s", name, j1.done == 2 ? "SIGBUS" : "ok",
		 joins && fail ? "SIGBUS" : "ok");
	KT_CHECK(b.faults - a.faults == (joins ? 1u : 2u) &&
		 b.coalesced - a.coalesced == (joins ? 1u : 0u) &&
		 b.sigbus - a.sigbus == (fail ? (joins ? 2u : 1u) : 0u) &&
		 b.cqe_mismatch - a.cqe_mismatch == (fits ? 0u : 1u) &&
		 b.cqes - a.cqes == (fits ? 1u : 0u) + (joins ? 0u : 1u) &&
		 b.cqe_stale - a.cqe_stale == (dup ? 1u : 0u) && b.timeouts == a.timeouts,
		 "%s: faults +%lu coalesced +%lu sigbus +%lu mismatch +%lu cqes +%lu stale +%lu", name,
		 (unsigned long)(b.faults - a.faults), (unsigned long)(b.coalesced - a.coalesced),
		 (unsigned long)(b.sigbus - a.sigbus),
		 (unsigned long)(b.cqe_mismatch - a.cqe_mismatch),
		 (unsigned long)(b.cqes - a.cqes), (unsigned long)(b.cqe_stale - a.cqe_stale));
}

static void join_section(volatile uint64_t *map_a, volatile uint64_t *map_b)
{
	for (int i = 0; i < 2; i++) {
		memset(&helpers[i], 0, sizeof(helpers[i]));
		helpers[i].idx = i;
	}
	/* Different mappings (vmas) of the segment, then one shared. */
	helpers[0].map = map_a;
	helpers[1].map = map_b;
	join_case("read+read, SIGBUS", 56, OP_READ, OP_READ, true, DSM_RES_SIGBUS, -EIO, false);
	join_case("write+read, MAP_RW", 57, OP_WRITE, OP_READ, true, DSM_RES_MAP_RW, 0, true);
	helpers[1].map = map_a;
	join_case("write+write, MAP_RO", 58, OP_WRITE, OP_WRITE, true, DSM_RES_MAP_RO, 0, false);
	join_case("read then write, SIGBUS", 59, OP_READ, OP_WRITE, false, DSM_RES_SIGBUS, -EIO,
		  false);
	printf("kt_fuzz: joins: followers share the leader's SIGBUS, mismatch and grant; a write "
	       "does not join a read\n");
}


/* ---------------------------------------------------- regression probes */

/* Deterministic checks of two module bugs this test found (both fixed);
 * "noprobe" as the third argument skips them. */

/* 1. A SIGBUS completion whose status is -EINTR, -EAGAIN or -ETIMEDOUT
 *    must fail the fault like any other errno, and count neither as a
 *    kill nor as a deadline. */
static int probe_status(void)
{
	static const int32_t st[] = { -EINTR, -EAGAIN, -ETIMEDOUT };
	static const char *const name[] = { "EINTR", "EAGAIN", "ETIMEDOUT" };
	int bad = 0;

	for (unsigned i = 0; i < 3; i++) {
		uint64_t pg = 61 + i;
		struct hjob j = { &helpers[0], pg, OP_READ, 0 };
		struct dsm_fault_req r;
		struct dsm_kstats a = kt_stats(), b;
		unsigned again = 0;
		pthread_t t;

		KT_CHECK(kt_command(&S.ks, DSM_OP_INVALIDATE, pg, 1) == 0, "invalidate");
		KT_CHECK(pthread_create(&t, NULL, helper_main, &j) == 0, "helper");
		KT_CHECK(next_request(&r, 5000000000ull), "probe: no request");
		kt_complete(&S.ks, &r, DSM_RES_SIGBUS, st[i]);
		/* Asked again instead of failing: grant, so the access ends. */
		while (!__atomic_load_n(&j.done, __ATOMIC_ACQUIRE) &&
		       next_request(&r, 200000000ull)) {
			kt_complete(&S.ks, &r, DSM_RES_MAP_RO, 0);
			again++;
		}
		wait_done(&j);
		join_within(t, 5000000000ull, "helper");
		b = kt_stats();
		if (j.done != 2 || b.killed != a.killed || b.timeouts != a.timeouts) {
			printf("kt_fuzz: PROBE FAILED: SIGBUS answer with status -%s: %s, asked "
			       "again %u times; killed +%lu timeouts +%lu\n", name[i],
			       j.done == 2 ? "SIGBUS" : "no SIGBUS", again,
			       (unsigned long)(b.killed - a.killed),
			       (unsigned long)(b.timeouts - a.timeouts));
			bad = 1;
		}
	}
	return bad;
}

/* 2. A thread's read fails while another thread's write grant has mapped
 *    the page in the shared mapping: the retry needs no fault, the failure
 *    record stays, and after an INVALIDATE the thread's next fault on the
 *    page gets SIGBUS without asking the server. */
struct pjob {
	struct app *a;
	int go, done1, done2, bus1, bus2;
};

static void *probe_reader(void *arg)
{
	struct pjob *j = arg;
	uint64_t v[3], dl;

	tls_app = j->a;
	__atomic_store_n(&j->a->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	j->bus1 = guarded_read(j->a, j->a->map + 60 * WORDS, PAT0, PRIV0, v) < 0;
	__atomic_store_n(&j->done1, 1, __ATOMIC_RELEASE);
	dl = kt_now_ns() + 5000000000ull;
	while (!__atomic_load_n(&j->go, __ATOMIC_ACQUIRE) && kt_now_ns() < dl)
		sched_yield();
	j->bus2 = guarded_read(j->a, j->a->map + 60 * WORDS, PAT0, PRIV0, v) < 0;
	__atomic_store_n(&j->done2, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int probe_stale_record(void)
{
	struct pjob pr = { &helpers[0], 0, 0, 0, 0, 0 };
	struct hjob w = { &helpers[1], 60, OP_WRITE, 0 };
	struct dsm_fault_req ra, rb, r;
	struct dsm_kstats a, b;
	pthread_t ta, tb;
	uint64_t dl;
	bool asked;

	helpers[1].map = helpers[0].map; /* one mapping: B's pte serves A */
	KT_CHECK(kt_command(&S.ks, DSM_OP_INVALIDATE, 60, 1) == 0, "invalidate");
	KT_CHECK(pthread_create(&ta, NULL, probe_reader, &pr) == 0, "reader");
	KT_CHECK(next_request(&ra, 5000000000ull) && !(ra.flags & DSM_FAULT_WRITE), "A");
	KT_CHECK(pthread_create(&tb, NULL, helper_main, &w) == 0, "writer");
	KT_CHECK(next_request(&rb, 5000000000ull) && (rb.flags & DSM_FAULT_WRITE), "B");
	kt_complete(&S.ks, &rb, DSM_RES_MAP_RW, 0);
	wait_done(&w);
	kt_complete(&S.ks, &ra, DSM_RES_SIGBUS, -EIO);
	dl = kt_now_ns() + 5000000000ull;
	while (!__atomic_load_n(&pr.done1, __ATOMIC_ACQUIRE)) {
		KT_CHECK(kt_now_ns() < dl, "reader hangs");
		srv_enter(DSM_ENTER_WAIT, 5);
	}
	join_within(tb, 5000000000ull, "writer");
	KT_CHECK(kt_command(&S.ks, DSM_OP_INVALIDATE, 60, 1) == 0, "invalidate");
	a = kt_stats();
	__atomic_store_n(&pr.go, 1, __ATOMIC_RELEASE);
	asked = next_request(&r, 3000000000ull);
	if (asked)
		kt_complete(&S.ks, &r, DSM_RES_MAP_RO, 0);
	join_within(ta, 5000000000ull, "reader");
	b = kt_stats();
	if (!asked || pr.bus2) {
		printf("kt_fuzz: PROBE FAILED: a failed read that completed through another "
		       "thread's pte (SIGBUS %d) left its failure record: after an INVALIDATE "
		       "the thread's next read %s the server and %s (faults +%lu sigbus +%lu)\n",
		       pr.bus1, asked ? "asked" : "did not ask", pr.bus2 ? "took SIGBUS" : "worked",
		       (unsigned long)(b.faults - a.faults), (unsigned long)(b.sigbus - a.sigbus));
		return 1;
	}
	return 0;
}

/* ----------------------------------------------------------------- main */

#define DELTA(f) ((unsigned long)(st1.f - st0.f))

static void check_counters(const struct dsm_kstats *p0, const struct dsm_kstats *p1)
{
	struct dsm_kstats st0 = *p0, st1 = *p1;

	for (unsigned w = 0; w < DSM_RING_BAD_MAX; w++)
		KT_CHECK(st1.bad[w] - st0.bad[w] == S.e.bad[w], "bad[%s] +%lu, sent %lu",
			 dsm_ring_bad_name(w), DELTA(bad[w]), (unsigned long)S.e.bad[w]);
	KT_CHECK(DELTA(cqes) == S.e.cqes, "cqes +%lu, sent %lu", DELTA(cqes),
		 (unsigned long)S.e.cqes);
	KT_CHECK(DELTA(cqe_stale) == S.e.stale, "cqe_stale +%lu, sent %lu", DELTA(cqe_stale),
		 (unsigned long)S.e.stale);
	KT_CHECK(DELTA(cqe_mismatch) == S.e.mismatch, "cqe_mismatch +%lu, sent %lu",
		 DELTA(cqe_mismatch), (unsigned long)S.e.mismatch);
	KT_CHECK(DELTA(cmds) == S.e.cmds, "cmds +%lu, sent %lu", DELTA(cmds),
		 (unsigned long)S.e.cmds);
	KT_CHECK(DELTA(cmd_errors) == S.e.cmd_errors, "cmd_errors +%lu, sent %lu",
		 DELTA(cmd_errors), (unsigned long)S.e.cmd_errors);
	KT_CHECK(DELTA(sigbus) == S.e.sigbus, "sigbus +%lu, failed %lu", DELTA(sigbus),
		 (unsigned long)S.e.sigbus);
	KT_CHECK(DELTA(faults) == S.e.faults, "faults +%lu, requests read %lu", DELTA(faults),
		 (unsigned long)S.e.faults);
	KT_CHECK(DELTA(timeouts) == 0 && DELTA(killed) == 0 && DELTA(corrupt) == 0 &&
		 DELTA(ring_waits) == 0, "timeouts +%lu killed +%lu corrupt +%lu ring_waits +%lu",
		 DELTA(timeouts), DELTA(killed), DELTA(corrupt), DELTA(ring_waits));
	for (unsigned i = 0; i < DSM_RING_NR; i++) {
		const struct dsm_ring *r = ring(i);

		KT_CHECK(r->cons.corrupt == 0 && r->prod.corrupt == 0, "ring %u corrupt", i);
	}
}

/* SIGBUS: exactly the faults the server failed, thread by thread, page by
 * page, in order.  On a difference, what the server did on that page. */
static uint64_t check_sigbus(const struct dsm_kstats *st0, const struct dsm_kstats *st1)
{
	uint64_t got = 0;

	for (int t = 0; t <= NT; t++) {
		uint64_t n = __atomic_load_n(&apps[t].got_bus, __ATOMIC_ACQUIRE), i;

		for (i = 0; i < n && i < S.sent_bus[t]; i++)
			if (apps[t].bus_log[i] != S.bus_log[t][i])
				break;
		if (n == S.sent_bus[t] && i == n) {
			got += n;
			continue;
		}
		fprintf(stderr, "thread %d: %lu SIGBUS, server failed %lu faults; first "
			"difference at #%lu\n", t, (unsigned long)n, (unsigned long)S.sent_bus[t],
			(unsigned long)i);
		if (i < n) {
			unsigned pg = apps[t].bus_log[i];

			fprintf(stderr, "  SIGBUS #%lu on page %u at %lu us; the server on that "
				"page before:\n", (unsigned long)i, pg, (unsigned long)apps[t].bus_us[i]);
			for (unsigned k = 0; k < (ntrace < TRACE_MAX ? ntrace : TRACE_MAX); k++)
				if (trace[k].pg == pg && trace[k].us <= apps[t].bus_us[i] &&
				    trace[k].us + 100000 > apps[t].bus_us[i])
					fprintf(stderr, "    %lu us thread %d %c %u\n",
						(unsigned long)trace[k].us, trace[k].t, trace[k].what,
						trace[k].a);
		}
		fprintf(stderr, "  module: sigbus +%lu coalesced +%lu\n",
			(unsigned long)(st1->sigbus - st0->sigbus),
			(unsigned long)(st1->coalesced - st0->coalesced));
		KT_CHECK(0, "thread %d: SIGBUS do not match the faults failed", t);
	}
	return got;
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : DEFAULT_SEED;
	bool probes = !(argc > 3 && strcmp(argv[3], "noprobe") == 0);
	volatile uint64_t *shared_map, *own_map;
	struct dsm_kstats st0, st1, st2;
	unsigned old_timeout;
	struct sigaction sa;
	uint64_t got, acc = 0, rd = 0, wr = 0, zr = 0, fenced = 0;
	pthread_t srv;

	t_start = kt_now_ns();
	S.iters = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : DEFAULT_ITERS;
	printf("kt_fuzz: seed %#lx, %u iterations, %d threads (rerun: kt_fuzz %#lx %u)\n",
	       (unsigned long)seed, S.iters, NT, (unsigned long)seed, S.iters);
	fflush(stdout);
	userspace_section(seed);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	KT_CHECK(sigaction(SIGBUS, &sa, NULL) == 0, "sigaction");

	old_timeout = read_param("fault_timeout_ms");
	kt_set_param("fault_timeout_ms", FAULT_TIMEOUT_MS);
	kt_server_open(&S.ks, DSM_RING_F_NEED_WAKEUP, ENTRIES, SEG, NPAGES, NULL);
	KT_CHECK(S.ks.kd.params.entries[DSM_RING_FAULT] == ENTRIES, "entries %u",
		 S.ks.kd.params.entries[DSM_RING_FAULT]);
	S.rng = seed;
	S.next_token = 1000;
	fill_backing();

	/* Threads 0 and 1 share a mapping (and its ptes), thread 2 has its
	 * own; main uses the shared one. */
	shared_map = kt_map(SEG, 0, NPAGES, PROT_READ | PROT_WRITE, NULL);
	own_map = kt_map(SEG, 0, NPAGES, PROT_READ | PROT_WRITE, NULL);
	for (int t = 0; t <= NT; t++) {
		apps[t].idx = t;
		apps[t].rng = seed ^ (0x1000193ull * (uint64_t)(t + 1));
		apps[t].map = t == 2 ? own_map : shared_map;
	}
	apps[NT].tid = (pid_t)syscall(SYS_gettid);
	tls_app = &apps[NT];

	st0 = kt_stats();
	KT_CHECK(pthread_create(&srv, NULL, server_main, NULL) == 0, "server thread");
	for (int t = 0; t < NT; t++)
		KT_CHECK(pthread_create(&apps[t].th, NULL, app_main, &apps[t]) == 0, "thread %d", t);

	wait_flag(&fuzz_done, 200000000000ull, "hostile phase");
	__atomic_store_n(&app_stop, 1, __ATOMIC_RELEASE);
	for (int t = 0; t < NT; t++)
		join_within(apps[t].th, 2 * HANG_NS, "application thread");
	final_fault();
	__atomic_store_n(&srv_stop, 1, __ATOMIC_RELEASE);
	join_within(srv, 2 * HANG_NS, "server thread");
	collect(); /* nothing may be left: the server thread answered it all */
	KT_CHECK(S.npend == 0 && S.noutst == 0, "late requests or acks");
	st1 = kt_stats();

	got = check_sigbus(&st0, &st1);
	check_counters(&st0, &st1);
	for (int t = 0; t < NT; t++) {
		acc += apps[t].accesses;
		rd += apps[t].reads;
		wr += apps[t].writes;
		zr += apps[t].zero_reads;
		fenced += apps[t].fenced;
	}
	printf("kt_fuzz: %lu hostile iterations%s in %lu ms, %lu ENTERs; threads: %lu accesses "
	       "(%lu reads, %lu writes, %lu zero-page reads, %lu kept off a fenced page)\n",
	       (unsigned long)S.iters_done, S.iters_done < S.iters ? " (time cap)" : "",
	       (unsigned long)(S.hostile_ns / 1000000),
	       (unsigned long)S.enters, (unsigned long)acc, (unsigned long)rd, (unsigned long)wr,
	       (unsigned long)zr, (unsigned long)fenced);
	printf("kt_fuzz: CQ: %lu requests (%lu faults joined one), %lu answered, %lu "
	       "RO-for-write mismatches, %lu SIGBUS results (%lu SIGBUS taken, as sent; %lu "
	       "failures skipped: page busy), %lu duplicates, %lu spoiled, %lu random, "
	       "%lu orphans; stale %lu\n",
	       (unsigned long)S.e.faults, DELTA(coalesced), (unsigned long)S.answers,
	       (unsigned long)S.n_mismatch, (unsigned long)S.n_sigbus, (unsigned long)got,
	       (unsigned long)S.fail_skipped, (unsigned long)S.dups, (unsigned long)S.variants,
	       (unsigned long)S.random_cq, (unsigned long)S.orphan_stale,
	       (unsigned long)S.e.stale);
	printf("kt_fuzz: CMD: %lu done, %lu refused in the ack, %lu malformed (%lu random); "
	       "%lu page rewrites\n",
	       (unsigned long)S.cmd_ok, (unsigned long)S.cmd_err, (unsigned long)S.cmd_bad,
	       (unsigned long)S.cmd_random, (unsigned long)S.bumps);
	printf("kt_fuzz: module rejected (as predicted) opcode %lu flags %lu reserved %lu seg %lu "
	       "range %lu pid %lu status %lu\n",
	       DELTA(bad[1]), DELTA(bad[2]), DELTA(bad[3]), DELTA(bad[4]), DELTA(bad[5]),
	       DELTA(bad[6]), DELTA(bad[7]));
	fflush(stdout);

	join_section(shared_map, own_map);
	st2 = kt_stats();
	KT_CHECK(kt_bad_total(&st2) == kt_bad_total(&st1) && st2.corrupt == st1.corrupt &&
		 st2.timeouts == st1.timeouts, "join section");
	if (probes) {
		int bad = probe_status() | probe_stale_record();

		printf("kt_fuzz: regression probes: %s\n", bad ? "FAILED" : "passed");
		KT_CHECK(!bad, "regression probes");
	}

	KT_CHECK(munmap((void *)shared_map, NPAGES * KT_PAGE) == 0, "munmap");
	KT_CHECK(munmap((void *)own_map, NPAGES * KT_PAGE) == 0, "munmap");
	kt_server_close(&S.ks);
	kt_set_param("fault_timeout_ms", old_timeout);
	st2 = kt_stats();
	KT_CHECK(st2.segments == 0 && st2.mappings == 0, "segments %lu mappings %lu left",
		 (unsigned long)st2.segments, (unsigned long)st2.mappings);
	printf("kt_fuzz: PASS in %lu ms\n", (unsigned long)((kt_now_ns() - t_start) / 1000000));
	return 0;
}
