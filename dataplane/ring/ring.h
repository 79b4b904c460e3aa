/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * User-space side of the kernel <-> dataplane rings (include/dsm/ring.h).
 *
 * Pure code: no DPDK, no syscalls.  It works on any memory region, so the
 * same functions serve the dataplane (the region is the module's mmap), the
 * unit tests (a heap buffer) and the guest tests (which also play the
 * kernel's part to exercise the module's rules).
 *
 *  - dsm_ring_layout / dsm_ring_region_init: the reference layout, what the
 *    module's setup ioctl computes (and what tests use to build a region).
 *  - dsm_ring_attach: validate params returned by the other side against
 *    the region length, then bind the five rings.
 *  - Producer: dsm_ring_free, dsm_ring_produce, dsm_ring_prod_needs_wakeup.
 *  - Consumer: dsm_ring_avail, dsm_ring_peek / dsm_ring_advance,
 *    dsm_ring_consume, dsm_ring_read (copy, validate, count),
 *    dsm_ring_cons_sleep_prepare / dsm_ring_cons_awake.
 *  - Validators, one per entry type, on private copies only.
 *
 * Each ring has one producer thread and one consumer thread.  The handle
 * keeps the producer's and the consumer's private state on separate cache
 * lines, so the two may share a handle.  Consumers never hand out pointers
 * into shared memory: entries are copied out first, which makes "read each
 * shared field once" a property of the API rather than of each caller.
 */
#ifndef DSM_RING_RING_H
#define DSM_RING_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsm/ring.h"
#include "dsm/ring_rules.h"

struct dsm_ring_prod {
	uint32_t tail;       /* private copy of the index we publish */
	uint32_t head;       /* consumer index last seen (D) */
	uint64_t produced;
	uint64_t corrupt;    /* consumer head out of range: ring unusable */
} __attribute__((aligned(64)));

struct dsm_ring_cons {
	uint32_t head;       /* private copy of the index we publish */
	uint32_t tail;       /* producer index last seen (B) */
	uint32_t flags;      /* private copy of the flags word we own */
	uint64_t consumed;
	uint64_t corrupt;    /* producer tail out of range: ring unusable */
	uint64_t bad[DSM_RING_BAD_MAX]; /* rejected entries by reason */
} __attribute__((aligned(64)));

struct dsm_ring {
	/* Shared words (pointers into the region) and validated constants. */
	uint32_t *head;
	uint32_t *tail;
	uint32_t *flags;
	uint8_t  *array;
	uint32_t  mask;
	uint32_t  entries;
	uint32_t  entry_size;
	unsigned  id;           /* DSM_RING_FAULT .. DSM_RING_NOTE */
	bool      need_wakeup;  /* DSM_RING_F_NEED_WAKEUP granted */
	struct dsm_ring_prod prod;
	struct dsm_ring_cons cons;
};

struct dsm_ring_set {
	struct dsm_ring ring[DSM_RING_NR];
	uint32_t features;
};

/* ---------------------------------------------------------------- setup */

/* A request for the setup ioctl: this API version, the given features,
 * default entries, everything else zero. */
void dsm_ring_params_init(struct dsm_ring_params *p, uint32_t features_wanted);

/* The reference layout (the module mirrors it): check p's input fields,
 * then fill the output ones (granted features, actual entries, offsets,
 * region_size).  0 or -errno with *why set (why may be NULL). */
int dsm_ring_layout(struct dsm_ring_params *p, enum dsm_ring_err *why);

/* Zero the region and write each ring's constants.  -ERANGE if len is
 * smaller than p->region_size. */
int dsm_ring_region_init(void *mem, size_t len, const struct dsm_ring_params *p);

/* Validate p (as returned by the other side) against the region [mem,
 * mem + len) and bind the rings.  Private indices start from the shared
 * ones.  0 or -errno with *why set (why may be NULL). */
int dsm_ring_attach(struct dsm_ring_set *set, void *mem, size_t len,
		    const struct dsm_ring_params *p, enum dsm_ring_err *why);

const char *dsm_ring_err_name(enum dsm_ring_err e);
const char *dsm_ring_bad_name(enum dsm_ring_bad b);

/* ------------------------------------------------------------- producer */

/* Free slots now (loads the consumer's head).  0 if the ring is full or
 * corrupt. */
uint32_t dsm_ring_free(struct dsm_ring *r);

/* Copy up to n entries (entry_size bytes each) into the ring and publish
 * them with one store-release.  Returns how many were produced. */
uint32_t dsm_ring_produce(struct dsm_ring *r, const void *src, uint32_t n);

/* After producing: must the consumer be woken?  Always true without the
 * NEED_WAKEUP feature. */
bool dsm_ring_prod_needs_wakeup(struct dsm_ring *r);

/* ------------------------------------------------------------- consumer */

/* Entries ready to consume.  0 if empty or corrupt. */
uint32_t dsm_ring_avail(struct dsm_ring *r);

/* Copy up to n ready entries into dst without releasing them. */
uint32_t dsm_ring_peek(struct dsm_ring *r, void *dst, uint32_t n);

/* Release n entries (at most what the last peek/avail saw). */
void dsm_ring_advance(struct dsm_ring *r, uint32_t n);

/* peek + advance. */
uint32_t dsm_ring_consume(struct dsm_ring *r, void *dst, uint32_t n);

/* Consume up to n entries, validate each private copy with the ring's
 * validator, keep the valid ones at the front of dst in ring order and
 * return how many; rejected ones are dropped and counted in cons.bad[].
 * *nbad (may be NULL) gets the number rejected. */
uint32_t dsm_ring_read(struct dsm_ring *r, void *dst, uint32_t n, uint32_t *nbad);

/* About to sleep: set NEED_WAKEUP, full barrier (E), re-check the ring.
 * Returns the entries ready: if non-zero, do not sleep (call
 * dsm_ring_cons_awake and consume).  Without the feature it only
 * re-checks. */
uint32_t dsm_ring_cons_sleep_prepare(struct dsm_ring *r);

/* Awake (polling again): clear NEED_WAKEUP. */
void dsm_ring_cons_awake(struct dsm_ring *r);

/* The validators (dsm_ring_check_fault .. dsm_ring_check) are in
 * dsm/ring_rules.h, shared with the kernel module. */

#endif /* DSM_RING_RING_H */
