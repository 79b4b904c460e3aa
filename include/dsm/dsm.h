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

/* dsm_strerror - a short description of a libdsm error code. */
const char *dsm_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* DSM_DSM_H */
