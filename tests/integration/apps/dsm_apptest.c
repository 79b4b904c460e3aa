/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm-apptest: the application side of the userfaultfd integration tests
 * (tests/integration/test_apps.py).  Each mode attaches a segment through
 * libdsm, does one kind of work, checks it, prints one "result: ..." line of
 * key=value figures and exits 0 (1 on a violation, 2 on a timeout/error).
 *
 *   rw      --writer W (0: read only) --pages P --seconds S
 *           Writers stamp pages (counter+1, writer, sequence, fill words
 *           derived from them) and then publish the counter in the
 *           segment's last page ("progress"); everyone reads random pages
 *           and checks: the page is intact, its counter never goes back for
 *           this reader, and it is not older than the progress published
 *           for it before the read (no stale read after a completed write).
 *   sum     --pages P --expect N   the counters of pages 0..P-1 add up to N
 *           (no write lost)
 *   threads --threads T --page PG  T threads touch one page at once
 *   zero    --pages P             fresh pages read as zero
 *   scan    --pages P             read pages 0..P-1 in order (prefetch)
 *   sigbus  --page PG             touching the page must raise SIGBUS
 *   rowrite --page PG (with --readonly) read the page, then mprotect the
 *           mapping writable and write: SIGBUS, the write refused
 *   hold    --seconds S           keep reading page 0 (another application
 *           that must keep running while sigbus happens elsewhere)
 *   destroy                       destroy the segment; prints the status
 * --create SIZE creates the segment (homed on this node) before attaching.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "dsm/dsm.h"

struct opts {
	const char *mode, *socket, *segment;
	uint64_t create;    /* --create SIZE: create the segment here first */
	unsigned writer, pages, threads, seconds;
	uint64_t page, expect;
	bool readonly;      /* --readonly: attach with DSM_SEG_READ only */
};

/* The first 40 bytes of a page.  Writers update a page under a seqlock
 * kept in the page itself (the DSM has no locks of its own: an atomic
 * compare-and-swap needs the page exclusively, so it is atomic across
 * nodes); readers retry until they read a stable, even lock word. */
struct stamp {
	uint64_t lock;    /* seqlock: odd while a writer updates the page */
	uint64_t counter; /* writes to this page so far */
	uint64_t writer;
	uint64_t seq;     /* that writer's sequence number */
	uint64_t check;   /* a hash of the three */
};
#define BODY_FIRST 5     /* first body word after the stamp */
#define LOCK_SPIN_NS 5000000000ull

static uint8_t *base;
static size_t seg_len, page_size;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static void fail(int code, const char *what)
{
	printf("result: FAIL %s\n", what);
	fflush(stdout);
	exit(code);
}

static volatile uint64_t *progress(uint64_t pg)
{
	return (volatile uint64_t *)(base + seg_len - page_size) + pg;
}

/* ---------------------------------------------------------------- pages */

static uint64_t lock_page(volatile struct stamp *st)
{
	uint64_t end = now_ns() + LOCK_SPIN_NS;

	for (;;) {
		uint64_t l = __atomic_load_n(&st->lock, __ATOMIC_ACQUIRE);

		if (!(l & 1) && __atomic_compare_exchange_n(&st->lock, &l, l + 1, false,
							    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return l;
		if (now_ns() > end)
			fail(2, "a page lock was held for 5 s");
	}
}

static void stamp_page(uint64_t pg, uint64_t writer, uint64_t seq)
{
	volatile struct stamp *st = (volatile struct stamp *)(base + pg * page_size);
	uint64_t l = lock_page(st), c = st->counter + 1;
	volatile uint64_t *w = (volatile uint64_t *)(base + pg * page_size);

	for (size_t i = BODY_FIRST; i < page_size / 8; i += 61)
		w[i] = mix(c ^ writer << 48 ^ seq ^ i);
	st->writer = writer;
	st->seq = seq;
	st->check = mix(c ^ writer ^ seq);
	st->counter = c;
	__atomic_store_n(&st->lock, l + 2, __ATOMIC_RELEASE);
}

/* One consistent look at a page: its counter, or -1 if a writer was in
 * the middle (the caller retries). */
static int64_t read_page(uint64_t pg)
{
	volatile struct stamp *st = (volatile struct stamp *)(base + pg * page_size);
	volatile uint64_t *w = (volatile uint64_t *)(base + pg * page_size);
	uint64_t l = __atomic_load_n(&st->lock, __ATOMIC_ACQUIRE), c, wr, sq;
	bool ok = true;

	if (l & 1)
		return -1;
	c = st->counter;
	wr = st->writer;
	sq = st->seq;
	if (c && st->check != mix(c ^ wr ^ sq))
		ok = false;
	for (size_t i = BODY_FIRST; c && ok && i < page_size / 8; i += 61)
		if (w[i] != mix(c ^ wr << 48 ^ sq ^ i))
			ok = false;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&st->lock, __ATOMIC_RELAXED) != l)
		return -1;
	if (!ok)
		fail(1, "page body does not match its stamp");
	return (int64_t)c;
}

/* Returns the counter, or fails on a torn or corrupt page. */
static uint64_t check_page(uint64_t pg)
{
	uint64_t end = now_ns() + LOCK_SPIN_NS;
	int64_t c;

	while ((c = read_page(pg)) < 0)
		if (now_ns() > end)
			fail(2, "a page stayed locked for 5 s");
	return (uint64_t)c;
}

/* ---------------------------------------------------------------- modes */

static void publish(uint64_t pg, uint64_t c)
{
	uint64_t cur = __atomic_load_n(progress(pg), __ATOMIC_RELAXED);

	while (cur < c && !__atomic_compare_exchange_n(progress(pg), &cur, c, false,
						       __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

static int mode_rw(const struct opts *o)
{
	uint64_t *last = calloc(o->pages, sizeof(*last));
	uint64_t end = now_ns() + (uint64_t)o->seconds * 1000000000ull;
	uint64_t x = mix(o->writer + 1 + (uint64_t)now_ns()), seq = 0, reads = 0;

	if (!last || (o->pages + 1) * page_size > seg_len || o->pages * 8 > page_size)
		fail(2, "too many pages for the segment");
	while (now_ns() < end) {
		uint64_t pg, seen, published, c;

		x = mix(x + 1);
		pg = x % o->pages;
		if (o->writer && x % 3 == 0) {
			stamp_page(pg, o->writer, ++seq);
			/* Publish after the write: progress only grows. */
			publish(pg, check_page(pg));
			continue;
		}
		published = *progress(pg);
		c = check_page(pg);
		seen = last[pg];
		if (c < seen)
			fail(1, "a page counter went back");
		if (c < published)
			fail(1, "stale read: older than a completed write");
		last[pg] = c;
		reads++;
	}
	printf("result: writes=%lu reads=%lu\n", (unsigned long)seq, (unsigned long)reads);
	return 0;
}

static int mode_sum(const struct opts *o)
{
	uint64_t sum = 0;

	for (uint64_t pg = 0; pg < o->pages; pg++)
		sum += check_page(pg);
	printf("result: sum=%lu expect=%lu\n", (unsigned long)sum, (unsigned long)o->expect);
	return sum == o->expect ? 0 : 1;
}

static uint64_t touch_page;
static volatile uint64_t touched, ready;
static volatile int go;

static void *toucher(void *arg)
{
	(void)arg;
	/* Spin rather than sleep on a barrier: woken one by one, the threads
	 * would find the page already mapped instead of faulting together. */
	__atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		;
	__atomic_fetch_add((uint64_t *)(base + touch_page * page_size + 512), 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&touched, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int mode_threads(const struct opts *o)
{
	pthread_t t[64];
	unsigned n = o->threads > 64 ? 64 : o->threads;

	touch_page = o->page;
	for (unsigned i = 0; i < n; i++)
		pthread_create(&t[i], NULL, toucher, NULL);
	while (__atomic_load_n(&ready, __ATOMIC_ACQUIRE) < n)
		;
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("result: threads=%u increments=%lu value=%lu\n", n, (unsigned long)touched,
	       (unsigned long)*(uint64_t *)(base + touch_page * page_size + 512));
	return touched == n ? 0 : 1;
}

static int mode_zero(const struct opts *o)
{
	for (uint64_t pg = 0; pg < o->pages; pg++)
		for (size_t i = 0; i < page_size; i += 512)
			if (base[pg * page_size + i])
				fail(1, "a fresh page is not zero");
	printf("result: pages=%u\n", o->pages);
	return 0;
}

static int mode_scan(const struct opts *o)
{
	uint64_t t0 = now_ns(), sum = 0;

	for (uint64_t pg = 0; pg < o->pages; pg++)
		sum += check_page(pg);
	printf("result: pages=%u us=%lu sum=%lu\n", o->pages,
	       (unsigned long)((now_ns() - t0) / 1000), (unsigned long)sum);
	return 0;
}

static sigjmp_buf jb;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

static int mode_sigbus(const struct opts *o)
{
	volatile uint8_t v;

	signal(SIGBUS, on_sigbus);
	if (sigsetjmp(jb, 1)) {
		printf("result: sigbus=1\n");
		return 0;
	}
	v = base[o->page * page_size];
	(void)v;
	fail(1, "no SIGBUS");
	return 1;
}

/* A reader (read-only attach) reads a page, then makes its mapping
 * writable behind the library's back and writes: the write must be
 * refused with SIGBUS, and the page must keep its content. */
static int mode_rowrite(const struct opts *o)
{
	volatile uint8_t *pg = base + o->page * page_size;
	uint8_t before = pg[8];

	signal(SIGBUS, on_sigbus);
	if (sigsetjmp(jb, 1)) {
		printf("result: read=%u sigbus=1\n", before);
		return 0;
	}
	if (mprotect((void *)((uintptr_t)pg & ~(uintptr_t)(page_size - 1)), page_size,
		     PROT_READ | PROT_WRITE))
		fail(2, "mprotect");
	pg[8] = (uint8_t)(before + 1);
	fail(1, "a reader's write went through");
	return 1;
}

static int mode_hold(const struct opts *o)
{
	uint64_t end = now_ns() + (uint64_t)o->seconds * 1000000000ull, n = 0;

	printf("holding\n");
	fflush(stdout);
	while (now_ns() < end) {
		check_page(0);
		n++;
	}
	printf("result: reads=%lu\n", (unsigned long)n);
	return 0;
}

/* destroy: no attach; prints the status (0 or the errno's name). */
static int mode_destroy(const struct opts *o)
{
	struct dsm_ctx *ctx;
	int ret = dsm_open(o->socket, &ctx);

	if (ret == 0) {
		ret = dsm_segment_destroy(ctx, o->segment);
		dsm_close(ctx);
	}
	printf("result: destroy=%d\n", ret);
	return 0;
}

/* ----------------------------------------------------------------- main */

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "segment", required_argument, NULL, 'g' },
		{ "writer", required_argument, NULL, 'w' },
		{ "pages", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "page", required_argument, NULL, 'P' },
		{ "expect", required_argument, NULL, 'e' },
		{ "create", required_argument, NULL, 'c' },
		{ "readonly", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ .segment = "kv", .pages = 16, .threads = 8, .seconds = 2 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		unsigned long long v = optarg ? strtoull(optarg, NULL, 0) : 0;

		switch (c) {
		case 's': o->socket = optarg; break;
		case 'g': o->segment = optarg; break;
		case 'w': o->writer = (unsigned)v; break;
		case 'p': o->pages = (unsigned)v; break;
		case 't': o->threads = (unsigned)v; break;
		case 'S': o->seconds = (unsigned)v; break;
		case 'P': o->page = v; break;
		case 'e': o->expect = v; break;
		case 'c': o->create = v; break;
		case 'r': o->readonly = true; break;
		default: return -1;
		}
	}
	if (optind != argc - 1)
		return -1;
	o->mode = argv[optind];
	return 0;
}

int main(int argc, char **argv)
{
	static const struct { const char *name; int (*fn)(const struct opts *); } modes[] = {
		{ "rw", mode_rw }, { "sum", mode_sum }, { "threads", mode_threads },
		{ "zero", mode_zero }, { "scan", mode_scan }, { "sigbus", mode_sigbus },
		{ "hold", mode_hold }, { "rowrite", mode_rowrite },
	};
	struct dsm_segment_info info;
	struct dsm_ctx *ctx;
	struct opts o;
	void *p;
	int ret;

	if (parse(argc, argv, &o)) {
		fprintf(stderr, "usage: dsm-apptest --socket S [--segment N] [options] "
			"rw|sum|threads|zero|scan|sigbus|hold|rowrite\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(o.mode, "destroy"))
		return mode_destroy(&o);
	ret = dsm_open(o.socket, &ctx);
	if (ret == 0 && o.create)
		ret = dsm_segment_create(ctx, o.segment, o.create, DSM_SEG_READ | DSM_SEG_WRITE,
					 0, NULL);
	if (ret == 0)
		ret = dsm_segment_info(ctx, o.segment, &info);
	if (ret == 0)
		ret = dsm_attach(ctx, o.segment,
				 DSM_SEG_READ | (o.readonly ? 0 : DSM_SEG_WRITE), &p, &seg_len);
	if (ret) {
		printf("result: ERROR %s\n", dsm_strerror(ret));
		return 2;
	}
	base = p;
	page_size = info.page_size;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(o.mode, modes[i].name)) {
			ret = modes[i].fn(&o);
			dsm_close(ctx);
			return ret;
		}
	fprintf(stderr, "unknown mode %s\n", o.mode);
	return 2;
}
