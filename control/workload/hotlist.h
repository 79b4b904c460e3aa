/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The hot list of a migrated workload: the pages its node held when it
 * stopped, most recently faulted first, as runs of consecutive pages per
 * segment.  The source supervisor builds it from the dataplane's
 * held_pages and writes it to P+"workloads/<name>/hot":
 *     {"gen":G,"node":src,"segs":[{"seg":id,"runs":[[first,count],...]}]}
 * (G: the generation that stopped).  The destination supervisor hands it to
 * the new process as a file ($DSM_HOTLIST, lines "seg first count", read by
 * libdsm's prefetch) and counts how much of it has arrived.  Pure.
 *
 * Recency order is kept at the granularity of a window: the page list is
 * cut into windows of `window` pages, each window is sorted and merged
 * into runs.  A workload that walked its pages in order left them in
 * reverse recency order (one run per page); windows turn that into one run
 * per window, so the record stays small, at the price of page order within
 * a window (which matters little: a window arrives within a few ms).
 */
#ifndef DSM_CONTROL_WORKLOAD_HOTLIST_H
#define DSM_CONTROL_WORKLOAD_HOTLIST_H

#include <stddef.h>
#include <stdint.h>

#define DSM_HOT_WINDOW 256       /* default window, pages */

struct dsm_hot_run {
	uint64_t first, count;
};

struct dsm_hot_seg {
	uint32_t seg;
	size_t nruns;
	struct dsm_hot_run *runs;
};

struct dsm_hotlist {
	uint64_t gen;            /* the generation that stopped */
	uint16_t node;           /* where it ran */
	size_t nsegs;
	struct dsm_hot_seg *segs;
};

void dsm_hotlist_free(struct dsm_hotlist *hl);

/*
 * Runs from pages in recency order (see above; window 0 means 1: exact
 * order).  Duplicates within a window are dropped.  *runs is malloc'd
 * (NULL when *nruns == 0).  0 or -ENOMEM.
 */
int dsm_hot_runs_build(const uint64_t *pgnos, size_t n, size_t window,
		       struct dsm_hot_run **runs, size_t *nruns);

/* Append a segment built from pgnos (dsm_hot_runs_build).  0 or -ENOMEM. */
int dsm_hotlist_add_seg(struct dsm_hotlist *hl, uint32_t seg,
			const uint64_t *pgnos, size_t n, size_t window);

/* Pages in the list (sum of run lengths). */
uint64_t dsm_hotlist_pages(const struct dsm_hotlist *hl);

/*
 * How many of seg's hot pages are in held[0..n) (pages this node holds, in
 * any order; sorted in place).  Each run is counted by binary search, so
 * this is O((n + runs) log n).
 */
uint64_t dsm_hot_seg_held(const struct dsm_hot_seg *seg, uint64_t *held, size_t n);

/* JSON both ways (see above).  Decoding is lenient on int64-as-string;
 * runs with count 0 are dropped.  0, -EPROTO, -EINVAL or -ENOMEM. */
int dsm_hotlist_encode(const struct dsm_hotlist *hl, char **out);
int dsm_hotlist_decode(const char *json, size_t len, struct dsm_hotlist *hl);

/* The file libdsm reads: "# dsm hotlist gen G node N" then one
 * "seg first count" line per run, in order.  0 or -errno. */
int dsm_hotlist_write_file(const struct dsm_hotlist *hl, const char *path);

#endif /* DSM_CONTROL_WORKLOAD_HOTLIST_H */
