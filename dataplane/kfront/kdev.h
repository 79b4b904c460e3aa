/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane's handle on dsm.ko (/dev/dsm, include/dsm/kmod.h): open the
 * device as the server, set up and map the rings, register segments and
 * map their backing, and ENTER the kernel.  Plain syscalls, no DPDK, so the
 * guest tests and small tools use the same code as the dataplane.
 */
#ifndef DSM_KFRONT_KDEV_H
#define DSM_KFRONT_KDEV_H

#include <stddef.h>
#include <stdint.h>

#include "dsm/kmod.h"
#include "ring/ring.h"

struct dsm_kdev {
	int fd;
	void *region;
	size_t region_len;
	struct dsm_ring_params params;
	struct dsm_ring_set rings;
	int efd;                 /* eventfd the module signals, or -1 */
};

/* Open path as the server: SETUP with features_wanted and entries per ring
 * (0: default), map the region, attach the rings (dsm_ring_attach checks
 * what the module returned).  With DSM_RING_F_EVENTFD an eventfd is made
 * and registered.  0 or -errno; *why names a refused handshake field. */
int dsm_kdev_open(struct dsm_kdev *kd, const char *path, uint32_t features,
		  uint32_t entries, enum dsm_ring_err *why);
void dsm_kdev_close(struct dsm_kdev *kd);

/* Register segment seg_id of npages 4 KiB pages and map its backing (the
 * memory the dataplane writes page contents into).  0 or -errno. */
int dsm_kdev_seg_add(struct dsm_kdev *kd, uint32_t seg_id, uint64_t npages,
		     void **mem);
int dsm_kdev_seg_del(struct dsm_kdev *kd, uint32_t seg_id, void *mem,
		     uint64_t npages);

/* Let the kernel consume completions and commands; with DSM_ENTER_WAIT,
 * sleep until there is work or timeout_ms passes.  0 or -errno; out (may
 * be NULL) gets the counts. */
int dsm_kdev_enter(struct dsm_kdev *kd, uint32_t flags, uint32_t timeout_ms,
		   struct dsm_kenter *out);

/* The module's counters, through any open file of the device. */
int dsm_kdev_stats(int fd, struct dsm_kstats *st);

/* Client side: open path and attach to seg_id.  Returns the fd (mmap it
 * MAP_SHARED at byte offsets within the segment) or -errno. */
int dsm_kdev_attach(const char *path, uint32_t seg_id, uint64_t *npages);

#endif /* DSM_KFRONT_KDEV_H */
