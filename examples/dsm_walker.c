/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm-walker - a migratable workload: it walks a working set in a DSM
 * segment, writing every page once per pass, and keeps all its state in
 * the segment, so that a node supervisor can stop it at a safe point and
 * start it on another node, where it carries on from that state (docs/
 * control.md, "Workloads and migration").
 *
 * THE SEGMENT (--seg, created with --size if no node knows it, on a fresh
 * start only):
 *   page 0: a header: magic, size, page size, passes completed, the cursor
 *           (next data page of the pass in progress), the pass target,
 *           how often it was started, and a checksum of all that;
 *   page i >= 1: { pgno = i, counter = passes that wrote it }.
 * During pass p (0-based) page i gets counter p + 1.  At every safe point
 * (every 64 pages, after the header was updated) the state is exact:
 * pages below the cursor hold pass + 1, the others pass.
 *
 * MODES
 *   (default)  walk.  Fresh start: attach (create if missing), initialise
 *              the header if the segment is new, else continue from it;
 *              --passes N sets the target to N more passes.  Resumed
 *              (DSM_RESUME=1, set by the supervisor on a migration):
 *              continue from the header, target included.  On a stop
 *              request (dsm_safepoint) it exits 0 at once; at the target
 *              it prints a summary and exits 0.  Without --passes it walks
 *              until stopped.  SIGTERM and SIGINT stop it at the next
 *              safe point too (exit 0), so a `dsmctl stop` leaves the
 *              segment consistent.
 *   --verify   read-only: check the header and that every page holds what
 *              the header says (with --passes N, also that N passes are
 *              complete); exit 1 on any mismatch.
 *   --reader   read-only, for "another node reads its data": loop over the
 *              pages checking that no counter ever goes backwards and that
 *              the stamps are right; --passes N reads N times (default:
 *              until stopped or --duration).  Exit 1 on a violation.
 *
 * OUTPUT: one JSON object per line per event (start, pass, full_pass: the
 * first pass over every page since this start, stop, done, verify,
 * reader, error), for tests and bench/run_migration.py.
 * Exit status: 0 ok, 1 a check failed, 2 a fault could not be served or a
 * wait timed out, 3 bad arguments or setup error.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ex_common.h"

#define WALK_MAGIC 0x314b4c41574d5344ull /* "DSMWALK1" */
#define WALK_BATCH 64                    /* pages between safe points */

struct walk_hdr {
	uint64_t magic;
	uint64_t size;        /* segment bytes */
	uint64_t page_size;
	uint64_t pass;        /* passes completed */
	uint64_t cursor;      /* next data page of the pass in progress, >= 1 */
	uint64_t target;      /* passes to reach; 0: walk until stopped */
	uint64_t starts;      /* fresh starts and resumes */
	uint64_t sum;         /* checksum of the fields above */
};

struct walk_page {
	uint64_t pgno;        /* stamped before the counter (see --reader) */
	uint64_t counter;
};

struct walker {
	const char *socket, *seg;
	uint64_t size, passes, report_ns, duration_ns, timeout_ns;
	bool huge, verify, reader, passes_set;
	struct dsm_ctx *ctx;
	struct dsm_segment_info info;
	uint8_t *base;
	size_t len, page, npages;
	uint64_t t0;          /* ex_now_ns() at start */
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double ms_since(uint64_t t_ns)
{
	return (double)(ex_now_ns() - t_ns) / 1e6;
}

/* SIGTERM or SIGINT (`dsmctl stop`, ^C): leave at the next safe point
 * too, so the segment stays consistent for whoever reads it next. */
static int g_terminate;

static void on_terminate(int sig)
{
	(void)sig;
	__atomic_store_n(&g_terminate, 1, __ATOMIC_RELAXED);
}

static bool stop_requested(const struct walker *w)
{
	return dsm_safepoint(w->ctx) || __atomic_load_n(&g_terminate, __ATOMIC_RELAXED);
}

/* A fault that cannot be served: say so on stdout (tests parse it), then
 * exit 2 (async-signal-safe: write and _exit only). */
static void on_sigbus(int sig)
{
	static const char msg[] = "{\"event\":\"error\",\"error\":\"SIGBUS: a DSM fault "
				  "could not be served\"}\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(EX_TIMEOUT);
	_exit(EX_TIMEOUT);
}

/* ------------------------------------------------------------ the header */

static uint64_t hdr_sum(const struct walk_hdr *h)
{
	uint64_t s = 0x5eed;

	s = ex_hash_add(s, h->magic);
	s = ex_hash_add(s, h->size);
	s = ex_hash_add(s, h->page_size);
	s = ex_hash_add(s, h->pass);
	s = ex_hash_add(s, h->cursor);
	s = ex_hash_add(s, h->target);
	return ex_hash_add(s, h->starts);
}

static bool hdr_valid(const struct walker *w, const struct walk_hdr *h)
{
	return h->magic == WALK_MAGIC && h->sum == hdr_sum(h) && h->size == w->len &&
	       h->page_size == w->page && h->cursor >= 1 && h->cursor <= w->npages;
}

static bool hdr_zero(const struct walk_hdr *h)
{
	static const struct walk_hdr zero;

	return memcmp(h, &zero, sizeof(zero)) == 0;
}

static void hdr_seal(struct walk_hdr *h)
{
	h->sum = hdr_sum(h);
}

/* A consistent copy of a header another process may be writing: retry
 * until the checksum matches (bounded by --timeout). */
static bool hdr_read(const struct walker *w, struct walk_hdr *out)
{
	const volatile struct walk_hdr *h = (const volatile struct walk_hdr *)w->base;
	uint64_t deadline = ex_now_ns() + w->timeout_ns;

	do {
		memcpy(out, (const void *)h, sizeof(*out));
		if (hdr_valid(w, out))
			return true;
		sched_yield();
	} while (ex_now_ns() < deadline);
	return false;
}

static struct walk_page *page_at(const struct walker *w, uint64_t i)
{
	return (struct walk_page *)(w->base + i * w->page);
}

/* ----------------------------------------------------------------- setup */

static void create_if_missing(struct walker *w)
{
	struct dsm_segment_info info;
	int rc = dsm_segment_info(w->ctx, w->seg, &info);

	if (rc == 0)
		return;
	if (rc != -ENOENT)
		ex_die("dsm_segment_info(%s): %s", w->seg, dsm_strerror(rc));
	rc = dsm_segment_create(w->ctx, w->seg, w->size, DSM_SEG_READ | DSM_SEG_WRITE,
				w->huge ? DSM_SEG_HUGE : 0, NULL);
	if (rc < 0 && rc != -EEXIST)
		ex_die("dsm_segment_create(%s, %" PRIu64 " bytes): %s", w->seg, w->size,
		       dsm_strerror(rc));
}

/* Attach, waiting (bounded) for the segment to become known here: after
 * a migration its home may be another node. */
static void attach(struct walker *w, unsigned prot)
{
	uint64_t deadline = ex_now_ns() + w->timeout_ns;
	struct timespec backoff = { 0, 10 * 1000000 };
	void *addr;
	int rc;

	while ((rc = dsm_attach(w->ctx, w->seg, prot, &addr, &w->len)) == -ENOENT &&
	       ex_now_ns() < deadline)
		nanosleep(&backoff, NULL);   /* each try is a request: pace them */
	/* A read-only attach maps a read-only file, and kernels that refuse
	 * userfaultfd on mappings that can never be written (no VM_MAYWRITE)
	 * fail its registration with EPERM: map it writable then, and still
	 * only read. */
	if (rc == -EPERM && prot == DSM_SEG_READ)
		rc = dsm_attach(w->ctx, w->seg, DSM_SEG_READ | DSM_SEG_WRITE, &addr, &w->len);
	if (rc < 0)
		ex_die("dsm_attach(%s): %s", w->seg, dsm_strerror(rc));
	rc = dsm_segment_info(w->ctx, w->seg, &w->info);
	if (rc < 0)
		ex_die("dsm_segment_info(%s): %s", w->seg, dsm_strerror(rc));
	w->base = addr;
	w->page = w->info.page_size ? w->info.page_size : 4096;
	w->npages = w->len / w->page;
	if (w->npages < 2)
		ex_die("segment '%s' is too small: it needs two pages at least", w->seg);
}

static void open_dsm(struct walker *w)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	struct sigaction term = { .sa_handler = on_terminate, .sa_flags = SA_RESTART };
	int rc;

	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGTERM, &term, NULL);
	sigaction(SIGINT, &term, NULL);
	rc = dsm_open(w->socket, &w->ctx);
	if (rc < 0)
		ex_die("dsm_open(%s): %s", w->socket ? w->socket : "default", dsm_strerror(rc));
}

static void print_start(const struct walker *w, const char *mode, const struct walk_hdr *h)
{
	const char *gen = getenv("DSM_GEN");

	printf("{\"event\":\"start\",\"mode\":\"%s\",\"node\":%u,\"seg\":", mode,
	       dsm_node_id(w->ctx));
	ex_json_str(stdout, w->seg);
	printf(",\"seg_id\":%" PRIu32 ",\"pages\":%zu,\"page_size\":%zu,\"resumed\":%s,"
	       "\"gen\":%llu,\"pass\":%" PRIu64 ",\"cursor\":%" PRIu64 ",\"target\":%" PRIu64
	       ",\"start_ms\":%" PRId64 ",\"pid\":%ld}\n", w->info.seg_id, w->npages - 1, w->page,
	       dsm_resumed(w->ctx) ? "true" : "false", gen ? strtoull(gen, NULL, 10) : 0ull, h->pass,
	       h->cursor, h->target, wall_ms(), (long)getpid());
	fflush(stdout);
}

/* ------------------------------------------------------------------ walk */

/* The header this run continues from.  Fresh: a new segment gets one;
 * an existing walker segment is continued (its pages already agree with
 * it), with a new target.  Resumed: the header must be there. */
static void walk_begin(struct walker *w, struct walk_hdr *h)
{
	struct walk_hdr *shared = (struct walk_hdr *)w->base;
	bool resumed = dsm_resumed(w->ctx);

	*h = *shared;
	if (!hdr_valid(w, h)) {
		if (resumed)
			ex_die("resumed, but segment '%s' holds no walker state", w->seg);
		if (!hdr_zero(h))
			ex_die("segment '%s' holds something else: destroy it or use another "
			       "--seg", w->seg);
		*h = (struct walk_hdr){ .magic = WALK_MAGIC, .size = w->len,
					.page_size = w->page, .cursor = 1 };
	}
	if (!resumed)
		h->target = w->passes_set ? h->pass + w->passes : 0;
	h->starts++;
	hdr_seal(h);
	*shared = *h;
}

/* Write pages [from, to) for the pass in progress, then move the cursor:
 * the state at the following safe point is exact. */
static void walk_batch(struct walker *w, struct walk_hdr *h, uint64_t from, uint64_t to)
{
	struct walk_hdr *shared = (struct walk_hdr *)w->base;

	for (uint64_t i = from; i < to; i++) {
		struct walk_page *p = page_at(w, i);

		p->pgno = i;
		__atomic_store_n(&p->counter, h->pass + 1, __ATOMIC_RELEASE);
	}
	h->cursor = to;
	hdr_seal(h);
	*shared = *h;
}

static void walk_stop(struct walker *w, const struct walk_hdr *h)
{
	printf("{\"event\":\"stop\",\"migrating\":%s,\"pass\":%" PRIu64 ",\"cursor\":%" PRIu64
	       ",\"elapsed_ms\":%.1f,\"stop_ms\":%" PRId64 "}\n",
	       dsm_safepoint(w->ctx) ? "true" : "false", h->pass, h->cursor,
	       ms_since(w->t0), wall_ms());
	dsm_safepoint_exit(w->ctx);
}

/* One pass from the cursor; a stop request ends the process. */
static void walk_pass(struct walker *w, struct walk_hdr *h)
{
	struct walk_hdr *shared = (struct walk_hdr *)w->base;

	while (h->cursor < w->npages) {
		uint64_t to = h->cursor + WALK_BATCH;

		walk_batch(w, h, h->cursor, to < w->npages ? to : w->npages);
		if (stop_requested(w))
			walk_stop(w, h);
	}
	h->pass++;
	h->cursor = 1;
	hdr_seal(h);
	*shared = *h;
}

static int walk(struct walker *w)
{
	uint64_t last_report = 0, first_ms_ns = 0;
	bool full_done = false;
	struct walk_hdr h;
	unsigned passes = 0;

	open_dsm(w);
	if (!dsm_resumed(w->ctx))
		create_if_missing(w);
	attach(w, DSM_SEG_READ | DSM_SEG_WRITE);
	walk_begin(w, &h);
	print_start(w, "walk", &h);
	while (!h.target || h.pass < h.target) {
		uint64_t t = ex_now_ns();
		bool whole = h.cursor == 1;

		walk_pass(w, &h);
		passes++;
		/* The first pass over the whole working set since this start
		 * (after a resume, the first pass goes on from the cursor): when
		 * all its pages had arrived here. */
		if (whole && !full_done) {
			full_done = true;
			printf("{\"event\":\"full_pass\",\"pass\":%" PRIu64 ",\"pass_ms\":%.1f,"
			       "\"elapsed_ms\":%.1f}\n", h.pass, ms_since(t), ms_since(w->t0));
			fflush(stdout);
		}
		if (passes == 1)
			first_ms_ns = ex_now_ns() - w->t0;
		if (passes == 1 || ex_now_ns() - last_report >= w->report_ns) {
			printf("{\"event\":\"pass\",\"pass\":%" PRIu64 ",\"pass_ms\":%.1f,"
			       "\"elapsed_ms\":%.1f}\n", h.pass, ms_since(t), ms_since(w->t0));
			fflush(stdout);
			last_report = ex_now_ns();
		}
		if (stop_requested(w))
			walk_stop(w, &h);
	}
	printf("{\"event\":\"done\",\"passes\":%" PRIu64 ",\"passes_here\":%u,\"pages\":%zu,"
	       "\"first_pass_ms\":%.1f,\"elapsed_ms\":%.1f,\"starts\":%" PRIu64 "}\n", h.pass,
	       passes, w->npages - 1, (double)first_ms_ns / 1e6, ms_since(w->t0), h.starts);
	dsm_close(w->ctx);
	return EX_OK;
}

/* ---------------------------------------------------------------- verify */

static int verify(struct walker *w)
{
	uint64_t bad = 0, first_bad = 0, got = 0, want = 0;
	struct walk_hdr h;

	open_dsm(w);
	attach(w, DSM_SEG_READ);
	if (!hdr_read(w, &h)) {
		printf("{\"event\":\"verify\",\"ok\":false,\"error\":\"no valid header\"}\n");
		return EX_VIOLATION;
	}
	for (uint64_t i = 1; i < w->npages; i++) {
		const struct walk_page *p = page_at(w, i);
		uint64_t expect = i < h.cursor ? h.pass + 1 : h.pass;

		if (p->counter == expect && (expect == 0 || p->pgno == i))
			continue;
		if (!bad++) {
			first_bad = i;
			got = p->counter;
			want = expect;
		}
	}
	if (w->passes_set && (h.pass != w->passes || h.cursor != 1))
		bad++;
	printf("{\"event\":\"verify\",\"ok\":%s,\"pass\":%" PRIu64 ",\"cursor\":%" PRIu64
	       ",\"pages\":%zu,\"bad\":%" PRIu64 ",\"first_bad\":%" PRIu64 ",\"got\":%" PRIu64
	       ",\"want\":%" PRIu64 ",\"starts\":%" PRIu64 ",\"elapsed_ms\":%.1f}\n",
	       bad ? "false" : "true", h.pass, h.cursor, w->npages - 1, bad, first_bad, got,
	       want, h.starts, ms_since(w->t0));
	dsm_close(w->ctx);
	return bad ? EX_VIOLATION : EX_OK;
}

/* ---------------------------------------------------------------- reader */

struct reader_stats {
	uint64_t passes, backwards, bad_stamp, max_counter;
};

/* One read of every page: counters never go back, stamps are right. */
static void read_pass(const struct walker *w, uint64_t *last, struct reader_stats *st)
{
	for (uint64_t i = 1; i < w->npages; i++) {
		const struct walk_page *p = page_at(w, i);
		uint64_t c = __atomic_load_n(&p->counter, __ATOMIC_ACQUIRE);

		if (c < last[i] && !st->backwards++)
			fprintf(stderr, "dsm-walker: page %" PRIu64 " went back from %" PRIu64
				" to %" PRIu64 "\n", i, last[i], c);
		if (c && __atomic_load_n(&p->pgno, __ATOMIC_RELAXED) != i)
			st->bad_stamp++;
		if (c > st->max_counter)
			st->max_counter = c;
		last[i] = c;
	}
	st->passes++;
}

static bool reader_more(const struct walker *w, const struct reader_stats *st)
{
	if (stop_requested(w))
		return false;
	if (w->passes_set)
		return st->passes < w->passes;
	return !w->duration_ns || ex_now_ns() - w->t0 < w->duration_ns;
}

static int reader(struct walker *w)
{
	struct reader_stats st = { 0 };
	uint64_t *last;

	open_dsm(w);
	attach(w, DSM_SEG_READ);
	last = calloc(w->npages, sizeof(*last));
	if (!last)
		ex_die("out of memory");
	printf("{\"event\":\"start\",\"mode\":\"reader\",\"node\":%u,\"pages\":%zu}\n",
	       dsm_node_id(w->ctx), w->npages - 1);
	fflush(stdout);
	while (reader_more(w, &st))
		read_pass(w, last, &st);
	printf("{\"event\":\"reader\",\"ok\":%s,\"passes\":%" PRIu64 ",\"pages\":%zu,"
	       "\"backwards\":%" PRIu64 ",\"bad_stamp\":%" PRIu64 ",\"max_counter\":%" PRIu64
	       ",\"elapsed_ms\":%.1f}\n", st.backwards || st.bad_stamp ? "false" : "true",
	       st.passes, w->npages - 1, st.backwards, st.bad_stamp, st.max_counter,
	       ms_since(w->t0));
	free(last);
	dsm_close(w->ctx);
	return st.backwards || st.bad_stamp ? EX_VIOLATION : EX_OK;
}

/* --------------------------------------------------------------- options */

enum { OPT_SEG = 300, OPT_SIZE, OPT_HUGE, OPT_PASSES, OPT_VERIFY, OPT_READER, OPT_REPORT,
       OPT_DURATION, OPT_SOCKET, OPT_TIMEOUT };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dsm-walker --seg NAME [--size SIZE] [--huge] [--passes N]\n"
		"       dsm-walker --seg NAME --verify [--passes N]\n"
		"       dsm-walker --seg NAME --reader [--passes N | --duration S]\n"
		"  --socket PATH   control socket (default: $DSM_SOCKET, else %s)\n"
		"  --size SIZE     segment size if it has to be created (default 256M)\n"
		"  --huge          create it with 2 MiB pages\n"
		"  --passes N      walk: N more passes, then exit 0 (default: until\n"
		"                  stopped); verify: expect N completed passes;\n"
		"                  reader: read N times\n"
		"  --report-ms MS  at most one pass event per MS (default 1000)\n"
		"  --duration S    reader: stop after S seconds\n"
		"  --timeout S     deadline of every wait (default %d s)\n"
		"Exit status: 0 ok, 1 check failed, 2 fault not served, 3 setup error.\n",
		DSM_DEFAULT_SOCKET, EX_DEFAULT_TIMEOUT_S);
}

static void parse(struct walker *w, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seg", required_argument, NULL, OPT_SEG },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "huge", no_argument, NULL, OPT_HUGE },
		{ "passes", required_argument, NULL, OPT_PASSES },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "reader", no_argument, NULL, OPT_READER },
		{ "report-ms", required_argument, NULL, OPT_REPORT },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SEG:
			if (!*optarg || strlen(optarg) > DSM_NAME_MAX)
				ex_die("--seg: name must be 1..%d characters", DSM_NAME_MAX);
			w->seg = optarg;
			break;
		case OPT_SIZE:
			w->size = ex_parse_size("--size", optarg);
			break;
		case OPT_HUGE:
			w->huge = true;
			break;
		case OPT_PASSES:
			w->passes = ex_parse_u64("--passes", optarg, 0, UINT32_MAX);
			w->passes_set = true;
			break;
		case OPT_VERIFY:
			w->verify = true;
			break;
		case OPT_READER:
			w->reader = true;
			break;
		case OPT_REPORT:
			w->report_ns = ex_parse_u64("--report-ms", optarg, 0, 3600000) * 1000000;
			break;
		case OPT_DURATION:
			w->duration_ns = ex_parse_seconds("--duration", optarg);
			break;
		case OPT_SOCKET:
			w->socket = optarg;
			break;
		case OPT_TIMEOUT:
			w->timeout_ns = ex_parse_seconds("--timeout", optarg);
			break;
		case 'h':
			usage(stdout);
			exit(EX_OK);
		default:
			usage(stderr);
			exit(EX_SETUP);
		}
	}
	if (optind < argc || !w->seg || (w->verify && w->reader))
		ex_die("--seg is required; --verify and --reader exclude each other (try --help)");
}

int main(int argc, char **argv)
{
	struct walker w = { .size = 256ull << 20, .report_ns = 1000000000ull,
			    .timeout_ns = EX_DEFAULT_TIMEOUT_S * 1000000000ull };
	int rc;

	/* Before anything else: a stop request that comes early must find the
	 * handler, not SIGUSR1's default action (termination). */
	rc = dsm_safepoint_init();
	ex_prog = "dsm-walker";
	if (rc < 0)
		ex_die("dsm_safepoint_init: %s", dsm_strerror(rc));
	w.t0 = ex_now_ns();
	parse(&w, argc, argv);
	w.size = ex_round_up(w.size, w.huge ? 2u << 20 : 4096);
	if (w.verify)
		return verify(&w);
	if (w.reader)
		return reader(&w);
	return walk(&w);
}
