/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * faultlat.h - shared pieces of dsm-faultlat (application-observed page-fault
 * latency: local userfaultfd, userfaultfd + TCP page server, libdsm).
 *
 * Every row maps a region of 2 * (warmup + samples) fresh 4 KiB pages: the
 * first half is touched with loads (read faults), the second with stores
 * (write faults), one page at a time, in a shuffled order by default (so
 * that no prefetcher in the path can guess the next page) or in address
 * order.  The first `warmup` touches of each half are not recorded.  Every page's expected content is a function
 * of (seed, page number), so each sample is checked in full after it is
 * timed.
 */
#ifndef DSM_BENCH_FAULTLAT_H
#define DSM_BENCH_FAULTLAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define FL_PAGE  4096u
#define FL_WORDS (FL_PAGE / sizeof(uint64_t))

/* Exit status: 0 success, 1 error or failed check, 2 bad arguments. */
#define FL_EXIT_ERROR 1
#define FL_EXIT_USAGE 2

#define FL_PIN_NONE (-1)   /* leave the inherited affinity alone */
#define FL_PIN_ANY  (-2)   /* every CPU (undo an inherited pin) */

enum fl_op { FL_READ = 0, FL_WRITE = 1, FL_NOPS };

struct fl_opts {
	size_t samples;          /* recorded faults per (row, op) */
	size_t warmup;           /* unrecorded faults before them */
	bool json;
	int pin_faulter;         /* CPU, FL_PIN_NONE or FL_PIN_ANY */
	int pin_handler;
	int pin_server;
	const char *dsm_socket;  /* NULL: $DSM_SOCKET or the default */
	const char *dsm_segment; /* NULL: dsm row not requested */
	const char *dsm_fill_socket; /* the filler's dataplane (NULL: dsm_socket) */
	bool dsm_no_fill;        /* pages are expected to read as zero */
	bool sequential;         /* touch pages in address order */
};

/*
 * Per-page record of one row.  Page n: n < per_phase is a read fault,
 * n >= per_phase a write fault.  order[k] is the k-th page touched; within
 * each phase the first `warmup` touches are warm-up.  Times are
 * CLOCK_MONOTONIC ns.
 */
struct fl_trace {
	size_t warmup, samples, per_phase, npages;
	uint64_t seed;
	size_t *order;
	/* faulter */
	uint64_t *t0;       /* before the access */
	uint64_t *t1;       /* after it */
	int16_t *cpu_f;     /* faulter's CPU after the fault */
	/* handler (rows with an in-process handler thread only) */
	bool have_handler;
	uint64_t *t_ev;     /* handler holds the uffd event */
	uint64_t *t_fetch;  /* page content ready in the handler's buffer */
	uint64_t *t_inst;   /* UFFDIO_COPY returned */
	int16_t *cpu_h;     /* handler's CPU when it took the event */
	uint8_t *nserved;   /* events seen for the page */
	uint8_t *wflag;     /* the event carried UFFD_PAGEFAULT_FLAG_WRITE */
};

/* ---- faultlat.c ---- */
void fl_fatal(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
void fl_fatal_errno(int err, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

/* Children: registered pids are SIGKILLed and reaped on any error exit. */
void fl_child_add(pid_t pid);
/* Wait for a registered child; a non-zero status or signal is fatal. */
void fl_child_wait(pid_t pid, const char *what);
/* First thing in a forked child: forget the parent's children, default
 * signal handlers, die with the parent. */
void fl_child_init(pid_t parent);

/* Pin the calling thread to cpu (FL_PIN_NONE: no-op). */
void fl_pin_self(int cpu, const char *who);

/* Touch every page of the trace at base (reads, then writes), timing and
 * verifying each. */
void fl_fault_loop(const char *row, char *base, struct fl_trace *tr,
		   bool expect_zero);

static inline uint64_t fl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Expected content: word w of page n is h(seed, n) + w * K.  One mix per
 * page keeps generating a page cheap (the local handler does it per fault);
 * a wrong, shifted or zero page cannot match. */
#define FL_PATTERN_STEP 0x9e3779b97f4a7c15ull

static inline uint64_t fl_page_base(uint64_t seed, uint64_t page)
{
	uint64_t x = seed + page * 0xbf58476d1ce4e5b9ull;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static inline void fl_fill_page(void *dst, uint64_t seed, uint64_t page)
{
	uint64_t *w = dst;
	uint64_t v = fl_page_base(seed, page);

	for (size_t i = 0; i < FL_WORDS; i++, v += FL_PATTERN_STEP)
		w[i] = v;
}

/* What a write fault stores into word 0 of its page. */
static inline uint64_t fl_marker(uint64_t seed, uint64_t page)
{
	return ~fl_page_base(seed, page);
}

/* ---- baseline_uffd.c ---- */
/* Fills buf with page `page`; returns 0, or -1 with a message in err. */
typedef int (*fl_fetch_fn)(void *ctx, uint64_t page, void *buf, char *err,
			   size_t errlen);

struct fl_handler;

/* An anonymous private region of npages, THP off, registered MISSING with a
 * new userfaultfd (O_NONBLOCK).  Fatal on failure. */
char *fl_uffd_region(size_t npages, int *uffd);
/* Start the handler thread: poll()-blocking (spin false) or busy-polling
 * the non-blocking uffd (spin true). */
struct fl_handler *fl_handler_start(const char *row, int uffd, char *base,
				    struct fl_trace *tr, bool spin, int cpu,
				    fl_fetch_fn fetch, void *fetch_ctx);
void fl_handler_stop(struct fl_handler *h);
/* After a run: every page served exactly once, with the right fault kind. */
void fl_check_served(const char *row, const struct fl_trace *tr);

void fl_run_local(const char *row, const struct fl_opts *o,
		  struct fl_trace *tr, bool spin);

/* ---- baseline_tcp.c ---- */
void fl_run_tcp(const char *row, const struct fl_opts *o, struct fl_trace *tr);

/* ---- dsm_row.c (only linked when libdsm exists) ---- */
void fl_run_dsm(const char *row, const struct fl_opts *o, struct fl_trace *tr);

#endif /* DSM_BENCH_FAULTLAT_H */
