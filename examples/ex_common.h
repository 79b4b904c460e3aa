/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ex_common.h - plumbing shared by the libdsm example workloads
 * (dsm-kv, dsm-stencil, dsm-pingpong).
 *
 * libdsm offers coherent memory and nothing else: no locks, barriers or
 * membership.  So the examples build all their coordination in the segment
 * itself, with __atomic operations on shared words and a deadline on every
 * wait.  This file holds the pieces they have in common:
 *
 *  - options every program takes (--socket, --segment, --rank/--role,
 *    --nodes, --create, --timeout, --json) and number parsing;
 *  - segment setup: rank 0 creates the segment if no node knows it, every
 *    rank attaches it (waiting, with a deadline, for it to appear);
 *  - a control page (page 0 of the segment) with a rendezvous that tells
 *    this run apart from whatever an earlier run left in the segment, a
 *    cluster-wide abort flag, and an end-of-run verdict from rank 0;
 *  - a bounded spin-wait, a latency histogram, a PRNG, JSON helpers.
 *
 * Exit status of every example: 0 all checks passed, 1 a check failed
 * (EX_VIOLATION), 2 a wait passed its deadline or a DSM fault could not be
 * served (EX_TIMEOUT), 3 bad arguments or a setup error (EX_SETUP).
 */
#ifndef DSM_EX_COMMON_H
#define DSM_EX_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <dsm/dsm.h>

enum { EX_OK = 0, EX_VIOLATION = 1, EX_TIMEOUT = 2, EX_SETUP = 3 };

#define EX_MAX_RANKS 16
#define EX_SLOT_DATA 8
#define EX_DEFAULT_TIMEOUT_S 30

/*
 * One rank's mailbox in the control page.  Each word is written by one
 * side only (hello/params/node/ready/done/bye/data by the rank, ack by
 * rank 0), so no RMW is needed: release stores and acquire loads suffice.
 */
struct ex_slot {
	uint64_t hello;   /* the rank's fresh nonce: "I am here" */
	uint64_t ack;     /* rank 0 echoes hello once the header is valid */
	uint64_t ready;   /* session (or ~session: parameters differ) */
	uint64_t done;    /* session: finished, data[] is published */
	uint64_t bye;     /* session: has read the verdict */
	uint64_t params;  /* hash of the rank's workload parameters */
	uint64_t node;    /* dsm_node_id() of the rank, for the report */
	uint64_t pad;
	uint64_t data[EX_SLOT_DATA]; /* per-program results for rank 0 */
};

/* Page 0 of every example segment. */
struct ex_ctl {
	uint64_t magic;           /* which program laid the segment out */
	uint64_t session;         /* rank 0's fresh nonce for this run */
	uint64_t params;          /* rank 0's parameter hash */
	uint64_t nodes;
	uint64_t go;              /* == session: every rank has joined */
	uint64_t verdict;         /* EX_OK or EX_VIOLATION, from rank 0 */
	uint64_t verdict_session; /* == session: verdict is valid */
	uint64_t abort_info;      /* rank | exit code << 16 */
	uint64_t abort_session;   /* == session: a rank gave up */
	uint64_t pad[7];
	struct ex_slot slot[EX_MAX_RANKS];
};

struct ex_opts {
	const char *socket;   /* NULL: libdsm's default */
	const char *segment;
	long rank;            /* -1 until given */
	unsigned nodes;
	uint64_t create_size; /* 0: the program's minimum */
	uint64_t timeout_ns;  /* bound of every single wait */
	bool json;
};

/* Long-only option codes; programs number theirs from EX_OPT_PROGRAM. */
enum {
	EX_OPT_SOCKET = 256,
	EX_OPT_SEGMENT,
	EX_OPT_RANK,
	EX_OPT_NODES,
	EX_OPT_CREATE,
	EX_OPT_TIMEOUT,
	EX_OPT_JSON,
	EX_OPT_PROGRAM = 300,
};

#define EX_COMMON_LONGOPTS                                              \
	{ "socket", required_argument, NULL, EX_OPT_SOCKET },          \
	{ "segment", required_argument, NULL, EX_OPT_SEGMENT },        \
	{ "rank", required_argument, NULL, EX_OPT_RANK },              \
	{ "role", required_argument, NULL, EX_OPT_RANK },              \
	{ "nodes", required_argument, NULL, EX_OPT_NODES },            \
	{ "create", required_argument, NULL, EX_OPT_CREATE },          \
	{ "timeout", required_argument, NULL, EX_OPT_TIMEOUT },        \
	{ "json", no_argument, NULL, EX_OPT_JSON },                    \
	{ "help", no_argument, NULL, 'h' }

/* The program's name in messages ("dsm-kv"); set by ex_opts_init. */
extern const char *ex_prog;

void ex_opts_init(struct ex_opts *o, const char *prog, const char *segment,
		  unsigned nodes);
/* Handle a common option; false if c is not one. */
bool ex_common_opt(struct ex_opts *o, int c, const char *arg);
void ex_common_usage(FILE *f);
/* Require --rank and min_nodes <= nodes <= max_nodes, rank < nodes. */
void ex_opts_check(struct ex_opts *o, unsigned min_nodes, unsigned max_nodes);

uint64_t ex_parse_u64(const char *opt, const char *arg, uint64_t min,
		      uint64_t max);
/* A byte count with an optional K, M or G suffix (powers of 1024). */
uint64_t ex_parse_size(const char *opt, const char *arg);
/* Seconds, fractions allowed, as nanoseconds; must be > 0. */
uint64_t ex_parse_seconds(const char *opt, const char *arg);

/* Failures: print "prog: rank R: ...", raise the cluster abort flag (once
 * joined, so the other ranks stop at once), exit with the status. */
__attribute__((noreturn, format(printf, 1, 2)))
void ex_fail(const char *fmt, ...);     /* EX_VIOLATION */
__attribute__((noreturn, format(printf, 1, 2)))
void ex_timeout(const char *fmt, ...);  /* EX_TIMEOUT */
__attribute__((noreturn, format(printf, 1, 2)))
void ex_die(const char *fmt, ...);      /* EX_SETUP */

/* The attached segment and this rank's place in the run. */
struct ex_run {
	const struct ex_opts *o;
	struct dsm_ctx *dsm;
	struct dsm_segment_info info;
	uint8_t *base;
	size_t len;
	size_t page;        /* the segment's coherence unit */
	struct ex_ctl *ctl; /* == base */
	uint64_t session;   /* 0 until joined */
	unsigned rank, nodes;
	uint16_t node;
};

/* Bytes a program needs for a given page size (control page included). */
typedef uint64_t (*ex_need_fn)(size_t page, const void *arg);

/* Open, create-if-missing (rank 0), attach read-write, check the size. */
void ex_setup(struct ex_run *run, const struct ex_opts *o, ex_need_fn need,
	      const void *arg);
/*
 * Rendezvous.  Rank 0 writes the header, runs init (laying out the
 * workload's data while nobody else touches it), then waits until every
 * other rank has joined this session; the others wait for that.  Returns
 * with every rank started, ctl->go == session.
 */
void ex_join(struct ex_run *run, uint64_t magic, uint64_t params,
	     void (*init)(struct ex_run *run, void *arg), void *arg);
/* This rank's data[] words, to fill before ex_finish. */
uint64_t *ex_my_data(struct ex_run *run);
/* Rank r's published data[], for rank 0's verify. */
const uint64_t *ex_rank_data(const struct ex_run *run, unsigned r);
uint16_t ex_rank_node(const struct ex_run *run, unsigned r);
/*
 * Mark this rank done.  Rank 0 waits for all, runs verify (EX_OK, or
 * EX_VIOLATION after printing why) and publishes the verdict; the others
 * wait for it.  Every rank stays attached until all have read the verdict,
 * so no rank's pages go away while another still needs them.  Returns
 * EX_OK; on a failed verdict every rank exits 1.
 */
int ex_finish(struct ex_run *run, int (*verify)(struct ex_run *run, void *arg),
	      void *arg);
/* Exit at once if another rank raised the abort flag. */
void ex_check_abort(void);
void ex_teardown(struct ex_run *run);

/* A bounded spin: start it, then call ex_spin() after each failed poll. */
struct ex_spin {
	const char *what;
	uint64_t deadline;
	unsigned n;
};
void ex_spin_start(struct ex_spin *s, const char *what);
void ex_spin(struct ex_spin *s);

uint64_t ex_now_ns(void);
uint64_t ex_nonce(void);                 /* random, never 0 or ~0 */
uint64_t ex_mix64(uint64_t x);           /* splitmix64 finaliser */
uint64_t ex_rng_next(uint64_t *state);   /* splitmix64 step */
static inline uint64_t ex_hash_add(uint64_t h, uint64_t v)
{
	return ex_mix64(h ^ ex_mix64(v + 0x9e3779b97f4a7c15ull));
}
static inline uint64_t ex_round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

/* Log-linear latency histogram: 32 sub-buckets per power of two, so a
 * reported percentile is within ~3% of the true sample. */
#define EX_HIST_SUB_BITS 5
#define EX_HIST_BUCKETS ((64 - EX_HIST_SUB_BITS + 1) << EX_HIST_SUB_BITS)
struct ex_hist {
	uint64_t count, sum, min, max;
	uint64_t bucket[EX_HIST_BUCKETS];
};
void ex_hist_init(struct ex_hist *h);
void ex_hist_add(struct ex_hist *h, uint64_t v);
uint64_t ex_hist_pct(const struct ex_hist *h, double pct);
/* "p50 1.2 us  p90 ...  max ..." */
void ex_hist_print(FILE *f, const char *label, const struct ex_hist *h);
/* "name":{"count":..,"min":..,"mean":..,"p50":..,...,"max":..} in ns */
void ex_hist_json(FILE *f, const char *name, const struct ex_hist *h);
/* Human-readable duration: "850 ns", "12.3 us", "4.56 ms", "1.23 s". */
const char *ex_fmt_ns(char *buf, size_t len, double ns);
/* A JSON string literal, escaped. */
void ex_json_str(FILE *f, const char *s);

#endif /* DSM_EX_COMMON_H */
