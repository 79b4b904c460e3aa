/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm/kmod.h - the ioctl ABI of dsm.ko (/dev/dsm), uapi style: fixed-width
 * types, explicit padding, reserved fields that must be zero (the module
 * refuses non-zero ones with -EINVAL), every size and offset pinned below.
 * The shared rings themselves are described in dsm/ring.h.
 *
 * Roles.  Every open file of /dev/dsm starts unbound and becomes either
 *  - the SERVER (the dataplane; at most one at a time): DSM_IOC_SETUP
 *    creates the rings (mmap offset 0, region_size bytes), DSM_IOC_SEG_ADD
 *    registers a segment and returns where the server maps its backing, the
 *    memory the dataplane writes page contents into and the kernel maps into
 *    applications (no copy in the kernel); DSM_IOC_ENTER makes the kernel
 *    consume completions and commands, and optionally wait for work; or
 *  - a CLIENT (an application): DSM_IOC_ATTACH binds the file to one
 *    segment, after which mmap(MAP_SHARED, offset = byte offset in the
 *    segment) maps a range of it.  Faults on that range go to the server.
 *
 * When the server's file is released (close, or the dataplane dies), every
 * waiting fault fails with SIGBUS, new faults on existing mappings fail with
 * SIGBUS, and the module can be unloaded once the mappings are gone.
 */
#ifndef DSM_KMOD_H
#define DSM_KMOD_H

#include <linux/ioctl.h>

#include "dsm/ring.h"

#define DSM_KMOD_DEV       "/dev/dsm"
#define DSM_KMOD_PAGE_SIZE 4096u

/* DSM_IOC_SEG_ADD: register a segment (server only). */
#define DSM_KSEG_F_ALL 0u /* no flags yet: must be zero */
struct dsm_kseg {
	dsm_u32 seg_id;      /*  0 in: not DSM_RING_SEG_ALL, not registered */
	dsm_u32 flags;       /*  4 in: DSM_KSEG_F_* */
	dsm_u64 npages;      /*  8 in: 4 KiB pages, 1..max_seg_pages */
	dsm_u64 mmap_offset; /* 16 out: server mmaps the backing here */
	dsm_u64 resv[5];     /* 24 must be zero */
};                           /* 64 */

/* DSM_IOC_ATTACH: bind a client file to a segment. */
#define DSM_KATTACH_F_ALL 0u
struct dsm_kattach {
	dsm_u32 seg_id;      /*  0 in */
	dsm_u32 flags;       /*  4 in: DSM_KATTACH_F_* */
	dsm_u64 npages;      /*  8 out: segment size in 4 KiB pages */
	dsm_u64 resv[2];     /* 16 must be zero */
};                           /* 32 */

/* DSM_IOC_ENTER: consume the CQ and CMD rings now (server only); with
 * DSM_ENTER_WAIT, then sleep until the FAULT, ACK or NOTE ring has entries,
 * timeout_ms passes or a signal arrives (-EINTR).  Like io_uring_enter. */
#define DSM_ENTER_WAIT  (1u << 0)
#define DSM_ENTER_F_ALL DSM_ENTER_WAIT
#define DSM_ENTER_MAX_TIMEOUT_MS 60000u
struct dsm_kenter {
	dsm_u32 flags;       /*  0 in: DSM_ENTER_* */
	dsm_u32 timeout_ms;  /*  4 in: with WAIT, 1..DSM_ENTER_MAX_TIMEOUT_MS */
	dsm_u32 cqes;        /*  8 out: completions consumed */
	dsm_u32 cmds;        /* 12 out: commands executed and acked */
	dsm_u32 ready;       /* 16 out: entries waiting for the server */
	dsm_u32 resv0;       /* 20 must be zero */
	dsm_u64 resv[1];     /* 24 must be zero */
};                           /* 32 */

/* DSM_IOC_STATS: the module's counters (any role). */
struct dsm_kstats {
	dsm_u64 faults;          /*   0 requests posted on the FAULT ring */
	dsm_u64 minor;           /*   8 resolved without the ring (granted) */
	dsm_u64 sigbus;          /*  16 faults failed with SIGBUS */
	dsm_u64 timeouts;        /*  24 of which: no answer by the deadline */
	dsm_u64 killed;          /*  32 waits ended by a fatal signal */
	dsm_u64 ring_waits;      /*  40 faults that waited for ring space */
	dsm_u64 cqes;            /*  48 completions applied */
	dsm_u64 cqe_stale;       /*  56 completions for no waiting fault */
	dsm_u64 cqe_mismatch;    /*  64 result not valid for the request */
	dsm_u64 cmds;            /*  72 commands executed */
	dsm_u64 cmd_errors;      /*  80 commands acked with an error */
	dsm_u64 notes;           /*  88 notes posted */
	dsm_u64 notes_lost;      /*  96 notes dropped (NOTE ring full) */
	dsm_u64 wakeups;         /* 104 server wake-ups sent */
	dsm_u64 wakeups_skipped; /* 112 not needed (NEED_WAKEUP clear) */
	dsm_u64 corrupt;         /* 120 an index out of range: server dropped */
	dsm_u64 bad[8];          /* 128 rejected entries by enum dsm_ring_bad */
	dsm_u64 servers;         /* 192 servers set up since load */
	dsm_u64 segments;        /* 200 segments registered now */
	dsm_u64 mappings;        /* 208 client mappings now */
	dsm_u64 coalesced;       /* 216 faults that joined a request in flight */
	dsm_u64 resv[4];         /* 224 */
};                               /* 256 */

#define DSM_IOC_MAGIC  0xD5
#define DSM_IOC_SETUP   _IOWR(DSM_IOC_MAGIC, 1, struct dsm_ring_params)
#define DSM_IOC_SEG_ADD _IOWR(DSM_IOC_MAGIC, 2, struct dsm_kseg)
#define DSM_IOC_SEG_DEL _IOW(DSM_IOC_MAGIC, 3, dsm_u32)
#define DSM_IOC_EVENTFD _IOW(DSM_IOC_MAGIC, 4, dsm_s32)
#define DSM_IOC_ENTER   _IOWR(DSM_IOC_MAGIC, 5, struct dsm_kenter)
#define DSM_IOC_ATTACH  _IOWR(DSM_IOC_MAGIC, 6, struct dsm_kattach)
#define DSM_IOC_STATS   _IOR(DSM_IOC_MAGIC, 7, struct dsm_kstats)

#define DSM_KMOD_ASSERT_OFF(type, field, off) \
	DSM_RING_STATIC_ASSERT(offsetof(struct type, field) == (off), \
			       #type "." #field " offset")

DSM_RING_STATIC_ASSERT(sizeof(struct dsm_kseg) == 64, "kseg size");
DSM_KMOD_ASSERT_OFF(dsm_kseg, seg_id, 0);
DSM_KMOD_ASSERT_OFF(dsm_kseg, flags, 4);
DSM_KMOD_ASSERT_OFF(dsm_kseg, npages, 8);
DSM_KMOD_ASSERT_OFF(dsm_kseg, mmap_offset, 16);
DSM_KMOD_ASSERT_OFF(dsm_kseg, resv, 24);

DSM_RING_STATIC_ASSERT(sizeof(struct dsm_kattach) == 32, "kattach size");
DSM_KMOD_ASSERT_OFF(dsm_kattach, seg_id, 0);
DSM_KMOD_ASSERT_OFF(dsm_kattach, flags, 4);
DSM_KMOD_ASSERT_OFF(dsm_kattach, npages, 8);
DSM_KMOD_ASSERT_OFF(dsm_kattach, resv, 16);

DSM_RING_STATIC_ASSERT(sizeof(struct dsm_kenter) == 32, "kenter size");
DSM_KMOD_ASSERT_OFF(dsm_kenter, flags, 0);
DSM_KMOD_ASSERT_OFF(dsm_kenter, timeout_ms, 4);
DSM_KMOD_ASSERT_OFF(dsm_kenter, cqes, 8);
DSM_KMOD_ASSERT_OFF(dsm_kenter, cmds, 12);
DSM_KMOD_ASSERT_OFF(dsm_kenter, ready, 16);
DSM_KMOD_ASSERT_OFF(dsm_kenter, resv0, 20);
DSM_KMOD_ASSERT_OFF(dsm_kenter, resv, 24);

DSM_RING_STATIC_ASSERT(sizeof(struct dsm_kstats) == 256, "kstats size");
DSM_KMOD_ASSERT_OFF(dsm_kstats, bad, 128);
DSM_KMOD_ASSERT_OFF(dsm_kstats, servers, 192);
DSM_KMOD_ASSERT_OFF(dsm_kstats, mappings, 208);
DSM_KMOD_ASSERT_OFF(dsm_kstats, coalesced, 216);

#endif /* DSM_KMOD_H */
