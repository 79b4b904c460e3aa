/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The userfaultfd fault front end: faults of applications on stock kernels,
 * fed into the coherence engine like the kernel module's (one engine, two
 * front ends).  No DPDK: the dataplane runtime, tests and tools use it.
 *
 * Memory.  Each segment has a shared file (memfd; hugetlb for 2 MiB pages)
 * that applications map: the *view*.  The engine's backing (where INSTALL
 * writes and SEND reads) stays the dataplane's own memory, because the
 * engine keeps a node's last copy after an invalidation (to answer a
 * repeated recall) and the view's copy is destroyed by a hole punch.
 *
 * Faults.  libdsm registers each application mapping with a userfaultfd
 * (MISSING | MINOR | WP) and hands it over; dsm_ufront_poll reads the
 * events (non-blocking) and calls dsm_engine_local.  The engine's COMPLETE
 * is resolved with the cheapest primitive:
 *   MISSING (not in the view)  -> UFFDIO_COPY from the backing (ZEROPAGE for
 *                                 a never-written page taken for writing)
 *   MINOR (in the view)        -> UFFDIO_CONTINUE, no copy
 *   WP (mapped read-only)      -> UFFDIO_WRITEPROTECT off
 * installing read-only (MODE_WP) unless the node owns the page exclusively.
 * A failed request sends SIGBUS to the faulting thread only.
 *
 * Coherence.  UNMAP (invalidate): write-protect the page in every
 * application mapping, copy application writes back to the backing if it
 * was writable, then punch it out of the view (every mapping loses it).
 * PROTECT (downgrade): write-protect everywhere, write back.
 *
 * Prefetch.  A run of read faults with a constant stride (per mapping)
 * makes the front end read the next pages ahead through the engine and
 * put them in the view, so the application's access is a MINOR fault.
 */
#ifndef DSM_UFRONT_UFRONT_H
#define DSM_UFRONT_UFRONT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/coherence.h"

#define DSM_UFRONT_MAX_SEGS 64
#define DSM_UFRONT_MAX_ATT  256   /* application mappings */
#define DSM_UFRONT_PREFETCH 8     /* pages read ahead on a detected run */

struct dsm_ufront_ops {
	/* Execute the actions of a fault (the dataplane runs them in its
	 * shard executor, which hands the fault-facing ones back through
	 * dsm_ufront_handle).  Required. */
	void (*exec)(void *ctx, const struct dsm_actions *acts);
	void *ctx;
};

/* Fault service time, from reading the event to resolving it: a log-linear
 * histogram (8 sub-buckets per power of two of nanoseconds). */
#define DSM_UF_HIST_BUCKETS (64 * 8)
struct dsm_uf_hist {
	uint64_t n;
	uint64_t count[DSM_UF_HIST_BUCKETS];
};
/* The pct-th percentile (0..100) in nanoseconds (bucket upper bound). */
uint64_t dsm_uf_hist_pct(const struct dsm_uf_hist *h, double pct);

struct dsm_ufront_stats {
	uint64_t faults;          /* fault events read */
	uint64_t faults_missing, faults_minor, faults_wp;
	uint64_t copies, continues, zeropages, unprotects;
	uint64_t sigbus;          /* faults failed: SIGBUS sent */
	uint64_t refused;         /* refused by the engine at once */
	uint64_t invalidations, downgrades, writebacks, punches;
	uint64_t prefetch_issued, prefetch_filled, prefetch_hits;
	uint64_t bad_events;      /* outside the mapping, unknown event */
	uint64_t uffd_errors;     /* ioctls that failed unexpectedly */
	uint64_t attached, detached;
};

struct dsm_ufront_seg {
	uint32_t seg_id;
	uint16_t prot;
	uint32_t page_size;
	uint64_t npages;
	int      memfd;           /* the view */
	uint8_t *view;            /* the dataplane's mapping of it */
	uint8_t *backing;         /* the engine's copy */
	uint8_t *flags;           /* per page: UF_PG_* */
	uint64_t *stamp;          /* per page: fault clock of its last fault */
	uint64_t faults, remote;  /* fault events on it; needing the network */
};

struct dsm_ufront_att {
	bool     used;
	uint32_t gen;
	int      uffd;
	pid_t    pid;
	uint64_t conn;            /* the control connection it came from */
	uint64_t base, len;
	uint32_t seg;             /* index in segs[] */
	uint32_t prot;            /* DSM_SEG_READ | DSM_SEG_WRITE */
	/* prefetch: stride detection over this mapping's read faults */
	uint64_t last_pgno;
	int64_t  stride;
	uint32_t run;
};

struct ufront_req;

struct dsm_ufront {
	struct dsm_engine *engine;
	struct dsm_ufront_ops ops;
	struct dsm_ufront_seg segs[DSM_UFRONT_MAX_SEGS];
	unsigned nsegs;
	struct dsm_ufront_att att[DSM_UFRONT_MAX_ATT];
	struct ufront_req *reqs;
	uint32_t nreqs, nfree;
	uint32_t *free;
	struct dsm_actions *acts;
	struct dsm_ufront_stats st;
	struct dsm_uf_hist lat_remote;  /* faults that needed the network */
	struct dsm_uf_hist lat_local;   /* faults served from this node */
	uint64_t clock;                 /* fault events so far (recency) */
};

int  dsm_ufront_init(struct dsm_ufront *uf, struct dsm_engine *e,
		     const struct dsm_ufront_ops *ops, uint32_t max_requests);
void dsm_ufront_fini(struct dsm_ufront *uf);

/* Create the view of a segment (memfd, hugetlb for 2 MiB pages) whose
 * engine backing is backing.  0 or -errno. */
int dsm_ufront_add_segment(struct dsm_ufront *uf, const struct dsm_segment_desc *d,
			   uint8_t *backing);
/* The view's file descriptor (for applications), or -ENOENT. */
int dsm_ufront_view_fd(const struct dsm_ufront *uf, uint32_t seg_id);

/* The front end's segment seg_id, or NULL. */
const struct dsm_ufront_seg *dsm_ufront_seg(const struct dsm_ufront *uf, uint32_t seg_id);

/* An application mapping, registered with uffd (taken over: closed by the
 * front end).  Returns the attachment handle (>= 0) or -errno. */
int  dsm_ufront_attach(struct dsm_ufront *uf, uint32_t seg_id, int uffd, pid_t pid,
		       uint64_t conn, uint64_t base, uint64_t len, uint32_t prot);
/* Drop mappings: the one at base of pid, or every one of a connection
 * (base == 0).  Returns how many. */
int  dsm_ufront_detach(struct dsm_ufront *uf, uint64_t conn, uint64_t base);
/* Attachments of a segment (destroy refuses while there are any). */
unsigned dsm_ufront_users(const struct dsm_ufront *uf, uint32_t seg_id);

/* Read fault events of every mapping and feed them to the engine. */
unsigned dsm_ufront_poll(struct dsm_ufront *uf, uint64_t now);

/* The fault-facing part of one engine action (UNMAP, PROTECT,
 * UNMAP_SEGMENT of a view segment; COMPLETE of a uffd fault or prefetch).
 * Returns true if it was this front end's. */
bool dsm_ufront_handle(struct dsm_ufront *uf, const struct dsm_action *a);

#endif /* DSM_UFRONT_UFRONT_H */
