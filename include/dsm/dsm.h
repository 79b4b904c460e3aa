/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm.h - libdsm, the application library of the distributed shared memory.
 *
 * An application attaches to a segment by name and gets a pointer; loads
 * and stores to it are coherent with every other process, on this node and
 * on others, that attached the same segment.  Pages a process touches are
 * fetched on demand by the local dsm-dataplane (userfaultfd front end: the
 * library registers the mapping with a userfaultfd and hands the descriptor
 * to the dataplane, so the application runs no handler thread).
 *
 * Every function returns 0 (or a non-negative value where documented) on
 * success and a negative errno on failure; none of them prints.  A context
 * is not thread-safe: use one per thread, or serialise calls on it.  The
 * mappings themselves may be used by any number of threads.
 *
 * Link with pkg-config --libs libdsm.
 */
#ifndef DSM_DSM_H
#define DSM_DSM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where the local dataplane listens unless told otherwise ($DSM_SOCKET). */
#define DSM_DEFAULT_SOCKET "/run/dsm/dsm.sock"
#define DSM_NAME_MAX 31

/* Segment protection and flags. */
#define DSM_SEG_READ   0x1u   /* pages may be read */
#define DSM_SEG_WRITE  0x2u   /* pages may be written */
#define DSM_SEG_HUGE   0x4u   /* 2 MiB pages (hugetlbfs): the unit of
			       * coherence and transfer; default 4 KiB */

struct dsm_ctx;

/* The layout of a segment, as every node knows it. */
struct dsm_segment_info {
	uint32_t seg_id;
	uint16_t home;        /* node id of its home */
	uint16_t prot;        /* DSM_SEG_READ | DSM_SEG_WRITE */
	uint32_t page_size;   /* 4096 or 2097152 */
	uint32_t flags;       /* DSM_SEG_HUGE */
	uint64_t size;        /* bytes */
	char name[DSM_NAME_MAX + 1];
};

/*
 * dsm_open - connect to the local dataplane.
 * @socket_path: its control socket; NULL means $DSM_SOCKET, else
 *               DSM_DEFAULT_SOCKET.
 * @out: the new context.
 * Returns 0, or -ENOENT / -ECONNREFUSED (no dataplane), -EPROTO (it speaks
 * another protocol version), -ENOMEM.
 */
int dsm_open(const char *socket_path, struct dsm_ctx **out);

/* dsm_close - detach everything still attached and disconnect. */
void dsm_close(struct dsm_ctx *ctx);

/* dsm_node_id - the node this context talks to. */
uint16_t dsm_node_id(const struct dsm_ctx *ctx);

/*
 * dsm_segment_create - create a segment homed on this node.
 * @size: bytes, a multiple of the page size.  @prot: DSM_SEG_READ|WRITE.
 * @flags: 0 or DSM_SEG_HUGE.  @seg_id: out, may be NULL.
 * Returns 0, -EEXIST (name taken), -EINVAL, -ENOSPC (segment table full),
 * -EPERM (the caller may not create segments).
 */
int dsm_segment_create(struct dsm_ctx *ctx, const char *name, uint64_t size,
		       unsigned prot, unsigned flags, uint32_t *seg_id);

/*
 * dsm_segment_destroy - remove a segment this node created.  Fails with
 * -EBUSY while any process on this node has it attached, -ENOENT if there
 * is no such segment, -EPERM if the caller did not create it (or is not
 * root).
 */
int dsm_segment_destroy(struct dsm_ctx *ctx, const char *name);

/*
 * dsm_segment_info - look a segment up by name (known locally or learned
 * from its home).  Returns 0 or -ENOENT.
 */
int dsm_segment_info(struct dsm_ctx *ctx, const char *name,
		     struct dsm_segment_info *info);

/*
 * dsm_attach - map a segment into this process.
 * @prot: DSM_SEG_READ, or DSM_SEG_READ|DSM_SEG_WRITE (not beyond the
 *        segment's own protection: -EACCES).
 * @addr, @len: out: the mapping.
 * Returns 0, -ENOENT (no such segment), -EACCES, -ENOMEM, -ENOSYS (no
 * userfaultfd support in this kernel).
 * A fault that cannot be served (home gone, deadline passed) raises SIGBUS
 * in the faulting thread.
 */
int dsm_attach(struct dsm_ctx *ctx, const char *name, unsigned prot,
	       void **addr, size_t *len);

/* dsm_detach - unmap a segment attached at addr.  0 or -EINVAL. */
int dsm_detach(struct dsm_ctx *ctx, void *addr);

/* ------------------------------------------------------------------
 * Workloads the node supervisor runs (control/workload, `dsmctl run`).
 *
 * A supervised workload is started with $DSM_WORKLOAD (its name), $DSM_GEN
 * (its generation: 1, then +1 on every migration), $DSM_SOCKET, and, when
 * it is a migrated (or restarted) generation, $DSM_RESUME=1 and usually
 * $DSM_HOTLIST.  It keeps all its state in its segments, so another node
 * can carry on from that state: a migration stops the workload at a safe
 * point here and starts it again there, and its pages follow it on demand
 * (post-copy), the recently used ones first (prefetch of the hot list).
 * ------------------------------------------------------------------ */

/*
 * dsm_safepoint_init - install the stop-request handler now.  dsm_open
 * calls it; a workload calls it first thing in main() so that a stop
 * request that comes before dsm_open does not kill it (SIGUSR1's default
 * action), or to use dsm_safepoint without a dataplane.
 * Only when $DSM_WORKLOAD is set (the process is supervised) is the
 * SIGUSR1 handler installed (it replaces any other; it only sets a flag,
 * so it is async-signal-safe, and SA_RESTART).  A supervised process also
 * dies with its supervisor (PR_SET_PDEATHSIG SIGKILL; and at once if
 * $DSM_PARENT_PID says the supervisor has already gone): without its node
 * it could not be served anyway, and it must not outlive the node as an
 * orphan.  Returns 1 if installed (now or before), 0 if the process is not
 * supervised, or -errno.
 */
int dsm_safepoint_init(void);

/*
 * dsm_safepoint - has this workload been asked to stop (to migrate)?
 * Call it between units of work: it is one relaxed atomic load.  Returns 1
 * once a stop was requested: the workload must leave consistent state in
 * its segments and exit with status 0 soon (dsm_safepoint_exit does both
 * the close and the exit); 0 otherwise.  The request is process-wide:
 * ctx may be NULL.  A supervisor that waits longer than its stop timeout
 * kills the workload and reports the migration failed.
 */
int dsm_safepoint(const struct dsm_ctx *ctx);

/*
 * dsm_safepoint_exit - leave at a safe point: flush stdio, dsm_close(ctx)
 * (ctx may be NULL), then _exit(0).  _exit, not exit: atexit handlers and
 * destructors might touch mappings that are gone by then.
 */
__attribute__((noreturn)) void dsm_safepoint_exit(struct dsm_ctx *ctx);

/*
 * dsm_resumed - was this process started to carry on a workload's state
 * ($DSM_RESUME=1: a migrated or restarted generation)?  Then it continues
 * from the state in its segments instead of initialising them.  1 or 0;
 * ctx may be NULL.
 */
int dsm_resumed(const struct dsm_ctx *ctx);

/*
 * Background prefetch (post-copy).  When $DSM_HOTLIST names a file, the
 * first dsm_attach (per context) of a segment listed there starts threads
 * that touch the listed pages of the new mapping in the listed order, one
 * byte per page, so the working set arrives through the ordinary fault
 * path before the workload asks for it.  A thread has one fault in flight
 * at a time, so there are $DSM_HOTLIST_THREADS of them (default 4, at most
 * 16), taking turns by batches of 64 pages (the list's order is kept, a
 * few batches at a time) and yielding the CPU after each batch.  A
 * read-only attach reads the byte.  A writable one does an atomic add of 0
 * to it: a write fault, so the page arrives Exclusive and the workload's
 * first store does not pay a second (upgrade) round trip; the value never
 * changes, even if the workload writes the byte meanwhile.
 * $DSM_HOTLIST_MODE=read makes writable attaches read too; =off turns the
 * prefetch off (for comparisons: pages then come as the workload faults
 * them).  The threads
 * stop (and are joined) at dsm_detach / dsm_close.  A page that cannot be
 * served raises SIGBUS in the thread, as it would in the workload.
 *
 * File format (written by the supervisor): text lines
 *     <seg_id> <first_pgno> <count>
 * in the order to fetch; blank lines and lines starting with '#' are
 * ignored, malformed lines skipped, pages beyond the segment clipped.
 */
#define DSM_HOTLIST_ENV "DSM_HOTLIST"

/* dsm_strerror - a short description of a libdsm error code. */
const char *dsm_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* DSM_DSM_H */
