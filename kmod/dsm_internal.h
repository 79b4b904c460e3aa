/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dsm.ko internals.  The module is a thin fault front end: it forwards page
 * faults on client mappings to the dataplane (the "server") through the
 * shared rings of include/dsm/ring.h and carries out the invalidations and
 * downgrades the server sends back.  It never trusts the server: every ring
 * entry is copied once and validated with include/dsm/ring_rules.h, every
 * wait has a deadline and is killable, and no kernel lock is held while a
 * fault waits for the server (the mmap lock is dropped and the fault
 * retried, as userfaultfd does).
 *
 * Files: dsm_main.c (module, misc device, ioctl dispatch, counters),
 * dsm_kring.c (the kernel side of one ring), dsm_server.c (the server:
 * setup, waiters, completions, commands, notes, wake-ups) and
 * dsm_segment.c (segments, their backing and the client fault handlers).
 *
 * Lock order (outer first): dsm.lock (mutex) > srv->enter_lock (mutex) >
 * mmap_lock (fault path only) > seg->map_lock (mutex) > i_mmap_rwsem / page
 * table locks (inside unmap_mapping_range, vmf_insert_pfn_prot) >
 * ring->lock, srv->wlock, seg->fail_lock, dsm.srv_lock (spinlocks, leaves).
 */
#ifndef DSM_KMOD_INTERNAL_H
#define DSM_KMOD_INTERNAL_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/eventfd.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/version.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "dsm/kmod.h"
#include "dsm/ring.h"
#include "dsm/ring_rules.h"

/* ---------------------------------------------------------------- compat */

static inline void dsm_vm_flags_set(struct vm_area_struct *vma, unsigned long f)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, f);
#else
	vma->vm_flags |= f;
#endif
}

static inline void dsm_vm_flags_clear(struct vm_area_struct *vma, unsigned long f)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_clear(vma, f);
#else
	vma->vm_flags &= ~f;
#endif
}

/* ------------------------------------------------------------- counters */

/* One atomic per field of struct dsm_kstats, in its order. */
#define DSM_NSTATS (sizeof(struct dsm_kstats) / sizeof(__u64))
enum dsm_stat {
	DSM_ST_FAULTS = offsetof(struct dsm_kstats, faults) / 8,
	DSM_ST_MINOR = offsetof(struct dsm_kstats, minor) / 8,
	DSM_ST_SIGBUS = offsetof(struct dsm_kstats, sigbus) / 8,
	DSM_ST_TIMEOUTS = offsetof(struct dsm_kstats, timeouts) / 8,
	DSM_ST_KILLED = offsetof(struct dsm_kstats, killed) / 8,
	DSM_ST_RING_WAITS = offsetof(struct dsm_kstats, ring_waits) / 8,
	DSM_ST_CQES = offsetof(struct dsm_kstats, cqes) / 8,
	DSM_ST_CQE_STALE = offsetof(struct dsm_kstats, cqe_stale) / 8,
	DSM_ST_CQE_MISMATCH = offsetof(struct dsm_kstats, cqe_mismatch) / 8,
	DSM_ST_CMDS = offsetof(struct dsm_kstats, cmds) / 8,
	DSM_ST_CMD_ERRORS = offsetof(struct dsm_kstats, cmd_errors) / 8,
	DSM_ST_NOTES = offsetof(struct dsm_kstats, notes) / 8,
	DSM_ST_NOTES_LOST = offsetof(struct dsm_kstats, notes_lost) / 8,
	DSM_ST_WAKEUPS = offsetof(struct dsm_kstats, wakeups) / 8,
	DSM_ST_WAKEUPS_SKIPPED = offsetof(struct dsm_kstats, wakeups_skipped) / 8,
	DSM_ST_CORRUPT = offsetof(struct dsm_kstats, corrupt) / 8,
	DSM_ST_BAD0 = offsetof(struct dsm_kstats, bad) / 8,
	DSM_ST_SERVERS = offsetof(struct dsm_kstats, servers) / 8,
	DSM_ST_SEGMENTS = offsetof(struct dsm_kstats, segments) / 8,
	DSM_ST_MAPPINGS = offsetof(struct dsm_kstats, mappings) / 8,
	DSM_ST_COALESCED = offsetof(struct dsm_kstats, coalesced) / 8,
};

/* ---------------------------------------------------------------- rings */

/* The kernel's side of one ring.  Shared words are reached through
 * pointers computed once at setup from the kernel's own layout (never from
 * anything user space wrote); the private copies of the indices are the
 * truth, the shared ones are only published. */
struct dsm_kring {
	u32 *head;           /* shared, consumer-written */
	u32 *tail;           /* shared, producer-written */
	u32 *flags;          /* shared, consumer-written */
	u8  *array;
	u32  mask;
	u32  entries;
	unsigned id;         /* DSM_RING_* */
	bool need_wakeup;    /* DSM_RING_F_NEED_WAKEUP granted */
	spinlock_t lock;     /* serialises kernel producers */
	u32  ptail;          /* producer side: private tail */
	u32  chead;          /* consumer side: private head */
};

void dsm_kring_init(struct dsm_kring *r, void *region,
		    const struct dsm_ring_params *p, unsigned id);
/* Producer (ring->lock held): 0, -ENOSPC (full) or -EPROTO (the consumer's
 * head is out of range: corrupt). */
int dsm_kring_produce(struct dsm_kring *r, const void *entry);
/* Producer: free slots now, or -EPROTO (the consumer head is corrupt). */
int dsm_kring_room(struct dsm_kring *r);
/* After producing: must the consumer be woken?  Runs barrier (F). */
bool dsm_kring_wants_wakeup(struct dsm_kring *r);
/* Entries the producer published but the consumer has not released yet,
 * as far as the kernel producer can tell (for poll). */
u32 dsm_kring_pending(struct dsm_kring *r);
/* Consumer: entries ready (0 if empty), or -EPROTO if the producer's tail
 * is out of range. */
int dsm_kring_avail(struct dsm_kring *r);
/* Consumer: copy the next entry out (caller checked avail), not released. */
void dsm_kring_peek(struct dsm_kring *r, u32 i, void *dst);
/* Consumer: release n entries, barrier (C). */
void dsm_kring_release(struct dsm_kring *r, u32 n);

/* ------------------------------------------------------------- segments */

/* What the kernel may map for a page, as granted by the server. */
enum dsm_pstate { DSM_PS_NONE = 0, DSM_PS_RO = 1, DSM_PS_RW = 2 };

#define DSM_FAIL_SLOTS 16
/* A fault that failed after the mmap lock was dropped: its retry (the same
 * thread and page, FAULT_FLAG_TRIED) turns it into SIGBUS - the kernel can
 * only raise it from a fault that still holds the lock.  A retry that does
 * not fault (another thread's grant mapped the page meanwhile) leaves its
 * record behind; the next first attempt of that thread on that page drops
 * it, so it never fails an unrelated fault. */
struct dsm_fail {
	pid_t tid;
	u64 pgno;
	unsigned long when;  /* jiffies; records older than the deadline go */
};

struct dsm_seg {
	struct kref ref;     /* registration, client files, mappings, waits */
	u32 seg_id;
	u32 idx;             /* server mmap offset = idx << 32 */
	u64 npages;
	void *mem;           /* vmalloc_user backing, npages * 4 KiB */
	u8 *pstate;          /* enum dsm_pstate per page, under map_lock */
	struct inode *inode; /* own address_space: every client mapping */
	struct mutex map_lock;
	bool dead;           /* unregistered: faults fail, under map_lock */
	spinlock_t fail_lock;
	struct dsm_fail fails[DSM_FAIL_SLOTS];
};

int dsm_seg_add(struct dsm_kseg *ks);
int dsm_seg_del(u32 seg_id);
void dsm_seg_del_all(void);
struct dsm_seg *dsm_seg_get(u32 seg_id);
struct dsm_seg *dsm_seg_get_idx(u32 idx);
void dsm_seg_put(struct dsm_seg *seg);
/* Commands from the server: 0 or -errno for the ack. */
int dsm_seg_invalidate(struct dsm_seg *seg, u64 pgno, u64 npages, bool downgrade);
/* Completion from the server: record what the kernel may now map. */
void dsm_seg_grant(struct dsm_seg *seg, u64 pgno, u8 result);
int dsm_seg_mmap_server(struct dsm_seg *seg, struct vm_area_struct *vma, u64 pgoff);
int dsm_client_attach(struct file *file, struct dsm_kattach *ka,
		      struct dsm_seg **out);
int dsm_client_mmap(struct dsm_seg *seg, struct vm_area_struct *vma);
void dsm_client_release(struct dsm_seg *seg);
int dsm_seg_init(void);
void dsm_seg_exit(void);

/* --------------------------------------------------------------- server */

/* One request in flight.  Faults on the same page join it (followers)
 * instead of posting again; the slot is reused when the last one leaves. */
struct dsm_waiter {
	struct completion done;  /* complete_all: the leader and followers */
	u32 gen;             /* bumped on every reuse: the token's low half */
	u32 users;           /* faults waiting on it; busy while non-zero */
	u32 hnext;           /* next in its hash bucket (slot + 1, 0 = end) */
	bool hashed;         /* in the hash: posted and not answered */
	bool busy;
	bool answered;
	u8 flags;            /* DSM_FAULT_* of the request */
	u8 result;           /* DSM_RES_* */
	s32 status;
	u32 seg_id;
	u64 pgno;
};

struct dsm_server {
	struct kref ref;
	struct dsm_ring_params params;
	void *region;                 /* vmalloc_user, params.region_size */
	struct dsm_kring ring[DSM_RING_NR];
	struct eventfd_ctx *efd;      /* DSM_RING_F_EVENTFD, under enter_lock */
	wait_queue_head_t poll_wq;    /* poll() and ENTER_WAIT */
	wait_queue_head_t space_wq;   /* faults waiting for a waiter / ring slot */
	struct mutex enter_lock;      /* one kernel consumer of CQ and CMD */
	spinlock_t wlock;             /* waiters */
	struct dsm_waiter *waiters;
	u32 nwaiters;                 /* FAULT ring entries: a power of two */
	u32 *free;                    /* stack of free slots */
	u32 nfree;
	u32 *hash;                    /* in-flight requests by page: slot + 1 */
	u64 note_seq;                 /* under ring[NOTE].lock */
	bool notes_lost;              /* a NOTE_LOST is owed, same lock */
	bool dead;                    /* released or corrupt: fail everything */
};

extern struct dsm_module {
	struct mutex lock;            /* server and segment table changes */
	spinlock_t srv_lock;          /* the server pointer, for faults */
	struct dsm_server *server;
	struct xarray segs;           /* seg_id -> seg */
	struct xarray by_idx;         /* idx -> seg (server mmap offsets) */
	struct vfsmount *mnt;         /* pseudo fs for segment inodes */
	atomic64_t stats[DSM_NSTATS];
} dsm;

static inline void dsm_count(enum dsm_stat s)
{
	atomic64_inc(&dsm.stats[s]);
}

static inline void dsm_count_sub(enum dsm_stat s)
{
	atomic64_dec(&dsm.stats[s]);
}

int dsm_server_setup(struct dsm_ring_params *p, struct dsm_server **out);
struct dsm_server *dsm_server_get(void);
void dsm_server_put(struct dsm_server *srv);
void dsm_server_release(struct dsm_server *srv);
int dsm_server_mmap(struct dsm_server *srv, struct vm_area_struct *vma);
int dsm_server_enter(struct dsm_server *srv, struct dsm_kenter *ke);
int dsm_server_eventfd(struct dsm_server *srv, int fd);
__poll_t dsm_server_poll(struct dsm_server *srv, struct file *file,
			 struct poll_table_struct *pt);
/* Fault path: post a request (mmap lock held), then wait for its answer
 * (lock dropped). */
struct dsm_waiter *dsm_server_post(struct dsm_server *srv, u32 seg_id,
				   u64 pgno, u8 flags, int *err);
enum dsm_wait_outcome {
	DSM_WAIT_GRANTED,    /* the retried fault maps the grant */
	DSM_WAIT_FAILED,     /* SIGBUS: *err says why */
	DSM_WAIT_RETRY,      /* the request was never posted: ask again */
	DSM_WAIT_KILLED,     /* a fatal signal ended the wait */
};
enum dsm_wait_outcome dsm_server_wait(struct dsm_server *srv, struct dsm_waiter *w,
				      int *err);
void dsm_server_note(u8 op, u32 seg_id, u64 pgno, u64 npages, u32 pid);

extern unsigned int dsm_fault_timeout_ms;

#endif /* DSM_KMOD_INTERNAL_H */
