/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm-loadgen: a protocol client that joins the cluster as a node.
 *
 * Workloads:
 *   rw      coherent reads and writes through the coherence engine; every
 *           write stores a unique tag and increments a per-page counter, every
 *           read checks the page's integrity and that counters never go back;
 *   raw     pktgen-style: pipelined PAGE_REQ reads straight to the home
 *           (bypassing the local cache), measuring pages/s and latency;
 *   inject  malformed, truncated, wrong-version and stale-epoch frames, each
 *           kind counted, for the dataplane's input validation.
 */
#ifndef DSM_LOADGEN_H
#define DSM_LOADGEN_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/node.h"

enum lg_workload { LG_RW, LG_RAW, LG_INJECT };

struct lg_opts {
	const char *config;
	enum lg_workload workload;
	enum dsm_idle_mode idle;
	uint32_t seg_id;          /* 0: the first segment discovered */
	bool     all_segments;    /* rw: every segment of every peer */
	uint64_t first_page, npages;
	uint64_t ops;             /* operations to issue (0: use duration) */
	double   duration_s;
	uint32_t depth;           /* outstanding requests */
	uint32_t write_pct;       /* rw: share of writes */
	uint64_t seed;
	bool     linger;          /* rw: keep serving after the workload */
	bool     sequential;      /* rw: pages in order, not random */
	uint32_t check_every;     /* raw: verify every Nth payload (1: all) */
	int64_t  verify_sum;      /* rw: final pass checks sum of counters (-1: off) */
	uint16_t target;          /* raw: node to address (0: segment home); inject: required */
	bool     json;
};

/* Latency samples and percentiles. */
struct lg_hist {
	uint64_t *ns;
	uint64_t n, cap;
};
int  lg_hist_init(struct lg_hist *h, uint64_t cap);
void lg_hist_add(struct lg_hist *h, uint64_t ns);
uint64_t lg_hist_pct(struct lg_hist *h, double pct);  /* sorts on first use */
void lg_hist_fini(struct lg_hist *h);

/* Page contents: a header with a per-page write counter and the writer's
 * tag, then a fill derived from both, so any torn or stale copy shows. */
#define LG_PAGE_MAGIC 0x6473d0c0ffee5eedull
struct lg_page_hdr {
	uint64_t magic;
	uint64_t counter;     /* writes to this page so far */
	uint64_t writer;      /* node id of the last writer */
	uint64_t wseq;        /* that writer's write sequence number */
};
void lg_page_write(void *page, uint32_t size, uint64_t counter, uint64_t writer,
		   uint64_t wseq);
/* Returns 0 if the page is intact (or never written: counter 0), else -EIO. */
int  lg_page_check(const void *page, uint32_t size, uint64_t *counter);

struct lg_result {
	uint64_t ops, reads, writes, errors, check_failures, busy, timeouts;
	uint64_t remote, local_hits;
	double   elapsed_s;
	struct lg_hist lat;
};

/* A segment the workload uses (discovered by VMA requests). */
#define LG_MAX_SEGS 16
struct lg_seg {
	struct dsm_segment_desc d;
	char name[DSM_SEG_NAME_MAX];
};

struct lg_ctx {
	struct lg_opts o;
	struct dsm_node *node;
	/* rw spreads over every segment (--segment all) or uses one; raw and
	 * the summary use segs[0]. */
	struct lg_seg segs[LG_MAX_SEGS];
	uint32_t nsegs;
	uint32_t vma_answers;     /* VMA responses received */
	bool seg_ready;
	uint64_t start_ns, end_ns;
	uint64_t issued, inflight;
	bool workload_done;
	bool summary_printed;
	bool injected;        /* inject: frames sent, sync request sent */
	bool inject_synced;   /* inject: the target answered the sync request */
	struct lg_result r;
	uint64_t rng;
	void *state;          /* per-workload state */
	int exit_code;
};

uint64_t lg_rand(struct lg_ctx *c);

/* Workload entry points: start, poll (main lcore loop), completion. */
int  lg_rw_start(struct lg_ctx *c);
int  lg_rw_poll(struct lg_ctx *c, uint64_t now);
void lg_rw_complete(struct lg_ctx *c, const struct dsm_action *a, uint64_t now);

int  lg_raw_start(struct lg_ctx *c);
int  lg_raw_poll(struct lg_ctx *c, uint64_t now);
bool lg_raw_msg(struct lg_ctx *c, const struct dsm_msg *m, uint64_t now);

/* Send every kind of bad frame, then a VMA_REQ to the target: its answer,
 * on the same in-order link, proves the bad frames were all consumed. */
int  lg_inject_run(struct lg_ctx *c);
#define LG_INJECT_SYNC_TOKEN 0x1a1ec7ull

#endif /* DSM_LOADGEN_H */
