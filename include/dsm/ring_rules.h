/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm/ring_rules.h - the rules of the ring ABI (include/dsm/ring.h) as code
 * both sides compile: the handshake check and reference layout, and the
 * validator of every entry type.  dsm.ko and dataplane/ring include this one
 * file, so the kernel and user space cannot disagree on what is valid.
 *
 * Everything here is a static inline function of fixed-width values: no
 * libc, no kernel API, no I/O.  Validators take a private copy of an entry,
 * never a pointer into the shared region (a hostile producer could change a
 * shared slot between two reads of it).
 */
#ifndef DSM_RING_RULES_H
#define DSM_RING_RULES_H

#include "dsm/ring.h"

#ifndef __KERNEL__
#include <stdbool.h>
#endif

/* Why params or a region were refused.  The -errno that goes with each is
 * in docs/ring-abi.md and dsm_ring_err_errno(). */
enum dsm_ring_err {
	DSM_RING_ERR_NONE = 0,
	DSM_RING_ERR_VERSION,    /* -EPROTO: api_version mismatch */
	DSM_RING_ERR_FEATURES,   /* -EOPNOTSUPP: unknown or ungranted-but-wanted */
	DSM_RING_ERR_FLAGS,      /* -EINVAL: unknown setup flag */
	DSM_RING_ERR_RESERVED,   /* -EINVAL: a reserved field is not zero */
	DSM_RING_ERR_ENTRIES,    /* -EINVAL: 0, not a power of two, too many */
	DSM_RING_ERR_ENTRY_SIZE, /* -EINVAL: entry_size is not ours */
	DSM_RING_ERR_ALIGN,      /* -EINVAL: an offset is misaligned */
	DSM_RING_ERR_BOUNDS,     /* -ERANGE: something lies outside the region */
	DSM_RING_ERR_OVERLAP,    /* -EINVAL: two shared objects overlap */
	DSM_RING_ERR_SHARED,     /* -EPROTO: shared mask/entries/indices disagree */
	DSM_RING_ERR_MAX
};

/* Why an entry was rejected (each side counts rejections by reason). */
enum dsm_ring_bad {
	DSM_RING_OK = 0,
	DSM_RING_BAD_OPCODE,   /* 0, unknown, or another ring's opcode */
	DSM_RING_BAD_FLAGS,    /* unknown bits or an invalid combination */
	DSM_RING_BAD_RESERVED, /* a reserved field is not zero */
	DSM_RING_BAD_SEG,      /* DSM_RING_SEG_ALL misused */
	DSM_RING_BAD_RANGE,    /* pgno / npages out of range */
	DSM_RING_BAD_PID,      /* pid / tid out of range */
	DSM_RING_BAD_STATUS,   /* unknown result, or status not 0 / -errno
				* or inconsistent with the result */
	DSM_RING_BAD_MAX
};

/* ------------------------------------------------------------ handshake */

static inline dsm_u64 dsm_ring_align_up(dsm_u64 x, dsm_u64 a)
{
	return (x + a - 1) & ~(a - 1);
}

static inline bool dsm_ring_is_pow2(dsm_u32 x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

static inline bool dsm_ring_params_resv_zero(const struct dsm_ring_params *p)
{
	unsigned i;

	if (p->resv0 != 0)
		return false;
	for (i = 0; i < sizeof(p->resv1) / sizeof(p->resv1[0]); i++)
		if (p->resv1[i] != 0)
			return false;
	return true;
}

/* The input fields both directions of the handshake check the same way. */
static inline enum dsm_ring_err dsm_ring_params_check_in(const struct dsm_ring_params *p)
{
	if (p->api_version != DSM_RING_API_VERSION)
		return DSM_RING_ERR_VERSION;
	if (p->flags & ~DSM_RING_SETUP_ALL)
		return DSM_RING_ERR_FLAGS;
	if (p->features_wanted & ~DSM_RING_F_ALL)
		return DSM_RING_ERR_FEATURES;
	if (!dsm_ring_params_resv_zero(p))
		return DSM_RING_ERR_RESERVED;
	return DSM_RING_ERR_NONE;
}

static inline dsm_u32 dsm_ring_round_pow2(dsm_u32 x)
{
	dsm_u32 v = 1;

	while (v < x)
		v <<= 1;
	return v;
}

/* One ring in the reference layout: a struct dsm_ring_hdr at base, the
 * entry array right after it.  Returns the end of the array. */
static inline dsm_u64 dsm_ring_layout_one(struct dsm_ring_offsets *o,
					  dsm_u64 base, dsm_u32 entries)
{
	o->head = base + offsetof(struct dsm_ring_hdr, head);
	o->tail = base + offsetof(struct dsm_ring_hdr, tail);
	o->ring_mask = base + offsetof(struct dsm_ring_hdr, ring_mask);
	o->ring_entries = base + offsetof(struct dsm_ring_hdr, ring_entries);
	o->flags = base + offsetof(struct dsm_ring_hdr, flags);
	o->array = base + sizeof(struct dsm_ring_hdr);
	o->entry_size = DSM_RING_ENTRY_SIZE;
	o->resv = 0;
	return o->array + (dsm_u64)entries * DSM_RING_ENTRY_SIZE;
}

/* The reference layout, as the module's setup ioctl computes it: check p's
 * input fields, then fill the output ones (granted features, actual entries,
 * offsets, region_size).  features_supported is what this side implements. */
static inline enum dsm_ring_err dsm_ring_layout_rules(struct dsm_ring_params *p,
						      dsm_u32 features_supported)
{
	enum dsm_ring_err e = dsm_ring_params_check_in(p);
	dsm_u64 off = 0;
	unsigned i;

	if (e != DSM_RING_ERR_NONE)
		return e;
	for (i = 0; i < DSM_RING_NR; i++)
		if (p->entries[i] > DSM_RING_MAX_ENTRIES)
			return DSM_RING_ERR_ENTRIES;
	for (i = 0; i < DSM_RING_NR; i++) {
		dsm_u32 n = p->entries[i] ? dsm_ring_round_pow2(p->entries[i])
					  : DSM_RING_DEFAULT_ENTRIES;

		p->entries[i] = n;
		off = dsm_ring_align_up(dsm_ring_layout_one(&p->off[i], off, n),
					DSM_RING_ALIGN);
	}
	p->features = p->features_wanted & features_supported & DSM_RING_F_ALL;
	/* mmap works in pages. */
	p->region_size = dsm_ring_align_up(off, 4096);
	return DSM_RING_ERR_NONE;
}

/* ----------------------------------------------------------- validators */

static inline bool dsm_ring_status_ok(dsm_s32 s)
{
	return s <= 0 && s >= -DSM_RING_ERRNO_MAX;
}

/* [pgno, pgno + npages) within the page-number space, without overflow. */
static inline bool dsm_ring_pages_ok(dsm_u64 pgno, dsm_u64 npages)
{
	return pgno < DSM_RING_PGNO_LIMIT && npages <= DSM_RING_PGNO_LIMIT - pgno;
}

static inline bool dsm_ring_pid_ok(dsm_u32 pid)
{
	return pid >= 1 && pid <= DSM_RING_PID_MAX;
}

static inline bool dsm_ring_is_cmd_op(dsm_u8 op)
{
	return op == DSM_OP_INVALIDATE || op == DSM_OP_DOWNGRADE ||
	       op == DSM_OP_UNMAP_SEG;
}

/* The page range a command (or its ack) may name. */
static inline bool dsm_ring_cmd_range_ok(dsm_u8 op, dsm_u64 pgno, dsm_u32 npages)
{
	if (op == DSM_OP_UNMAP_SEG)
		return pgno == 0 && npages == 0;
	return npages >= 1 && npages <= DSM_RING_CMD_MAX_PAGES &&
	       dsm_ring_pages_ok(pgno, npages);
}

static inline enum dsm_ring_bad dsm_ring_check_fault(const struct dsm_fault_req *e)
{
	unsigned rw = e->flags & (DSM_FAULT_READ | DSM_FAULT_WRITE);

	if (e->opcode != DSM_OP_FAULT)
		return DSM_RING_BAD_OPCODE;
	if ((e->flags & ~DSM_FAULT_ALL) ||
	    (rw != DSM_FAULT_READ && rw != DSM_FAULT_WRITE) ||
	    ((e->flags & DSM_FAULT_WP) && rw != DSM_FAULT_WRITE))
		return DSM_RING_BAD_FLAGS;
	if (e->resv0 != 0)
		return DSM_RING_BAD_RESERVED;
	if (e->seg_id == DSM_RING_SEG_ALL)
		return DSM_RING_BAD_SEG;
	if (!dsm_ring_pages_ok(e->pgno, 1))
		return DSM_RING_BAD_RANGE;
	if (!dsm_ring_pid_ok(e->pid) || !dsm_ring_pid_ok(e->tid))
		return DSM_RING_BAD_PID;
	return DSM_RING_OK;
}

static inline enum dsm_ring_bad dsm_ring_check_cqe(const struct dsm_fault_cqe *e)
{
	if (e->opcode != DSM_OP_FAULT_DONE)
		return DSM_RING_BAD_OPCODE;
	if (e->resv0 != 0 || e->resv1 != 0)
		return DSM_RING_BAD_RESERVED;
	if (e->seg_id == DSM_RING_SEG_ALL)
		return DSM_RING_BAD_SEG;
	if (!dsm_ring_pages_ok(e->pgno, 1))
		return DSM_RING_BAD_RANGE;
	if (e->result == 0 || e->result > DSM_RES_MAX || !dsm_ring_status_ok(e->status))
		return DSM_RING_BAD_STATUS;
	/* A failure must say why, a success must not carry an error. */
	if ((e->result == DSM_RES_SIGBUS) != (e->status != 0))
		return DSM_RING_BAD_STATUS;
	return DSM_RING_OK;
}

static inline enum dsm_ring_bad dsm_ring_check_cmd(const struct dsm_cmd *e)
{
	if (!dsm_ring_is_cmd_op(e->opcode))
		return DSM_RING_BAD_OPCODE;
	if (e->flags & ~DSM_CMD_F_ALL)
		return DSM_RING_BAD_FLAGS;
	if (e->resv0 != 0 || e->resv1 != 0)
		return DSM_RING_BAD_RESERVED;
	if (e->seg_id == DSM_RING_SEG_ALL)
		return DSM_RING_BAD_SEG;
	if (!dsm_ring_cmd_range_ok(e->opcode, e->pgno, e->npages))
		return DSM_RING_BAD_RANGE;
	return DSM_RING_OK;
}

static inline enum dsm_ring_bad dsm_ring_check_ack(const struct dsm_cmd_ack *e)
{
	if (e->opcode != DSM_OP_CMD_ACK || !dsm_ring_is_cmd_op(e->cmd))
		return DSM_RING_BAD_OPCODE;
	if (e->resv0 != 0)
		return DSM_RING_BAD_RESERVED;
	if (e->seg_id == DSM_RING_SEG_ALL)
		return DSM_RING_BAD_SEG;
	if (!dsm_ring_cmd_range_ok(e->cmd, e->pgno, e->npages))
		return DSM_RING_BAD_RANGE;
	if (!dsm_ring_status_ok(e->status))
		return DSM_RING_BAD_STATUS;
	return DSM_RING_OK;
}

/* LOST carries nothing but "resync": every field but seq is fixed. */
static inline enum dsm_ring_bad dsm_ring_check_note_lost(const struct dsm_note *e)
{
	if (e->seg_id != DSM_RING_SEG_ALL)
		return DSM_RING_BAD_SEG;
	if (e->pgno != 0 || e->npages != 0)
		return DSM_RING_BAD_RANGE;
	if (e->pid != 0)
		return DSM_RING_BAD_PID;
	return DSM_RING_OK;
}

static inline enum dsm_ring_bad dsm_ring_check_note(const struct dsm_note *e)
{
	bool range;

	if (e->opcode != DSM_OP_NOTE_MUNMAP && e->opcode != DSM_OP_NOTE_EXIT &&
	    e->opcode != DSM_OP_NOTE_LOST)
		return DSM_RING_BAD_OPCODE;
	if (e->flags & ~DSM_NOTE_F_ALL)
		return DSM_RING_BAD_FLAGS;
	if (e->resv0 != 0)
		return DSM_RING_BAD_RESERVED;
	if (e->opcode == DSM_OP_NOTE_LOST)
		return dsm_ring_check_note_lost(e);
	if (e->seg_id == DSM_RING_SEG_ALL)
		return DSM_RING_BAD_SEG;
	if (e->opcode == DSM_OP_NOTE_MUNMAP)
		range = e->npages >= 1 && dsm_ring_pages_ok(e->pgno, e->npages);
	else
		range = e->pgno == 0 && e->npages == 0;
	if (!range)
		return DSM_RING_BAD_RANGE;
	if (!dsm_ring_pid_ok(e->pid))
		return DSM_RING_BAD_PID;
	return DSM_RING_OK;
}

/* Dispatch on the ring id (DSM_RING_*); an unknown id is BAD_OPCODE.
 * entry is DSM_RING_ENTRY_SIZE bytes of unknown type: it is copied into a
 * variable of the ring's entry type first, because reading it through a
 * pointer to another struct type would break strict aliasing once these
 * functions are inlined. */
static inline enum dsm_ring_bad dsm_ring_check(unsigned ring_id, const void *entry)
{
	union {
		struct dsm_fault_req f;
		struct dsm_fault_cqe c;
		struct dsm_cmd m;
		struct dsm_cmd_ack a;
		struct dsm_note n;
	} u;

	__builtin_memcpy(&u, entry, sizeof(u));
	switch (ring_id) {
	case DSM_RING_FAULT: return dsm_ring_check_fault(&u.f);
	case DSM_RING_CQ:    return dsm_ring_check_cqe(&u.c);
	case DSM_RING_CMD:   return dsm_ring_check_cmd(&u.m);
	case DSM_RING_ACK:   return dsm_ring_check_ack(&u.a);
	case DSM_RING_NOTE:  return dsm_ring_check_note(&u.n);
	default:             return DSM_RING_BAD_OPCODE;
	}
}

#endif /* DSM_RING_RULES_H */
