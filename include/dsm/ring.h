/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm/ring.h - the shared-memory ring ABI between dsm.ko (the kernel fault
 * front end) and dsm-dataplane.  This header is the contract: the kernel
 * module and user space both include it, and the static asserts at the end
 * pin every size and offset in both.  docs/ring-abi.md explains it at length.
 *
 * Setup.  The dataplane fills a struct dsm_ring_params (api_version,
 * features_wanted, requested entries per ring, everything else zero) and
 * hands it to the module's setup ioctl.  The module rejects an unknown
 * version, unknown flags or features and non-zero reserved fields, and
 * returns the same struct with the features it granted, the actual entries
 * per ring, the size of the shared region and, for every ring, a struct
 * dsm_ring_offsets giving the byte offset of each shared word and of the
 * entry array inside the region.  The dataplane then mmaps region_size bytes
 * and reaches everything through those offsets, never through a compiled-in
 * layout, so the layout can change without breaking old binaries.
 *
 * Rings.  Five single-producer / single-consumer rings, one per direction
 * and purpose (enum dsm_ring_id).  The kernel side serialises its producers
 * (a spinlock per ring) so that, as seen through the ring, there is exactly
 * one producer and one consumer of each.
 *
 * Indices.  head (consumer) and tail (producer) are free-running 32-bit
 * counters: they are only ever incremented and wrap at 2^32; the slot of
 * index i is entries[i & ring_mask], entries is a power of two and
 * ring_mask = entries - 1.  tail - head (unsigned, modulo 2^32) is the number
 * of filled slots and is never more than entries; a side that reads a value
 * violating that from the other side treats the ring as corrupt.  Each side
 * keeps its own index in private memory and never reads it back from the
 * shared word (the other side could have scribbled on it).
 *
 * Memory ordering.  Every barrier names the barrier it pairs with.
 *   Producer, publishing n entries:
 *     write entries[tail & mask] .. entries[(tail + n - 1) & mask]
 *     (A) store-release tail = tail + n      pairs with (B)
 *   Consumer, taking entries:
 *     (B) load-acquire tail                  pairs with (A): the entries
 *         written before (A) are visible after (B)
 *     copy entries[head & mask] ... into private memory, then validate the
 *     copies (never the shared slots: a hostile producer may change them)
 *     (C) store-release head = head + n      pairs with (D)
 *   Producer, computing free space:
 *     (D) load-acquire head                  pairs with (C): the consumer's
 *         reads of the slots it released are complete before the producer
 *         overwrites them
 *   NEED_WAKEUP (only with DSM_RING_F_NEED_WAKEUP granted):
 *   Consumer, about to sleep:
 *     store flags |= DSM_RING_FL_NEED_WAKEUP
 *     (E) full barrier (smp_mb / seq_cst fence)   pairs with (F)
 *     load tail again; if entries arrived, clear the flag and do not sleep
 *   Producer, after (A):
 *     (F) full barrier (smp_mb / seq_cst fence)   pairs with (E)
 *     load flags; if NEED_WAKEUP is set, wake the consumer (eventfd or the
 *     wake-up ioctl)
 *   (E)/(F) is a store->load (Dekker) pattern, so acquire/release is not
 *   enough: with both full barriers, at least one side sees the other's
 *   store, so an entry is never left in the ring with its consumer asleep.
 *   The flags word is written only by the consumer.  Without NEED_WAKEUP
 *   the producer must wake the consumer after every batch.
 *
 * Entries.  32 bytes, host byte order, fixed-width fields, explicit padding.
 * Opcodes never start at 0 (a zeroed slot is invalid) and are unique across
 * rings (their high nibble is the ring id + 1), so an entry on the wrong
 * ring is rejected too.  Every consumer copies an entry once into private
 * memory and rejects (and counts) unknown opcodes, unknown flags, non-zero
 * reserved fields and out-of-range values; a rejected entry is consumed and
 * dropped, never acted upon.
 *
 * Tokens.  A 64-bit token is chosen by the side that asks (the kernel for a
 * fault, the dataplane for a command) and echoed in the answer, with the
 * segment and page, so the asker can match the answer to its waiter and check
 * that it answers the question asked.  Waits have deadlines: an answer that
 * never comes fails the fault (SIGBUS), it never hangs a thread.
 */
#ifndef DSM_RING_H
#define DSM_RING_H

#ifdef __KERNEL__
#include <linux/stddef.h>
#include <linux/types.h>
typedef __u8  dsm_u8;
typedef __u16 dsm_u16;
typedef __u32 dsm_u32;
typedef __s32 dsm_s32;
typedef __u64 dsm_u64;
#else
#include <stddef.h>
#include <stdint.h>
typedef uint8_t  dsm_u8;
typedef uint16_t dsm_u16;
typedef uint32_t dsm_u32;
typedef int32_t  dsm_s32;
typedef uint64_t dsm_u64;
#endif

/* Both the kernel (gnu11) and user space (C11) have _Static_assert; one
 * name keeps the assert lines identical in both. */
#define DSM_RING_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)

/* ------------------------------------------------------------ handshake */

#define DSM_RING_API_VERSION 1u

/* Feature bits: asked for in features_wanted, granted in features. */
#define DSM_RING_F_NEED_WAKEUP (1u << 0) /* consumers publish NEED_WAKEUP */
#define DSM_RING_F_EVENTFD     (1u << 1) /* the module signals an eventfd */
#define DSM_RING_F_ALL         (DSM_RING_F_NEED_WAKEUP | DSM_RING_F_EVENTFD)

/* Setup flags (dsm_ring_params.flags): none defined yet, must be zero. */
#define DSM_RING_SETUP_ALL     0u

/* Ring flags word (written by the ring's consumer only). */
#define DSM_RING_FL_NEED_WAKEUP (1u << 0)
#define DSM_RING_FL_ALL         DSM_RING_FL_NEED_WAKEUP

#define DSM_RING_FAULT 0 /* kernel -> dataplane: struct dsm_fault_req */
#define DSM_RING_CQ    1 /* dataplane -> kernel: struct dsm_fault_cqe */
#define DSM_RING_CMD   2 /* dataplane -> kernel: struct dsm_cmd */
#define DSM_RING_ACK   3 /* kernel -> dataplane: struct dsm_cmd_ack */
#define DSM_RING_NOTE  4 /* kernel -> dataplane: struct dsm_note */
#define DSM_RING_NR    5

#define DSM_RING_ENTRY_SIZE      32u
#define DSM_RING_DEFAULT_ENTRIES 256u
#define DSM_RING_MAX_ENTRIES     32768u
#define DSM_RING_ALIGN           64u   /* cache line: head, tail, headers */

/* Where each shared word of one ring lives: byte offsets from the start of
 * the mapped region. */
struct dsm_ring_offsets {
	dsm_u32 head;         /*  0 consumer index (64-byte aligned) */
	dsm_u32 tail;         /*  4 producer index (64-byte aligned) */
	dsm_u32 ring_mask;    /*  8 entries - 1 (constant) */
	dsm_u32 ring_entries; /* 12 entries (constant) */
	dsm_u32 flags;        /* 16 DSM_RING_FL_*, consumer-written */
	dsm_u32 array;        /* 20 first entry (8-byte aligned) */
	dsm_u32 entry_size;   /* 24 DSM_RING_ENTRY_SIZE */
	dsm_u32 resv;         /* 28 must be zero */
};

struct dsm_ring_params {
	dsm_u32 api_version;     /*  0 in: DSM_RING_API_VERSION; out: same */
	dsm_u32 flags;           /*  4 in: DSM_RING_SETUP_* (none yet) */
	dsm_u32 features_wanted; /*  8 in: DSM_RING_F_* */
	dsm_u32 features;        /* 12 out: granted, a subset of wanted */
	dsm_u32 entries[DSM_RING_NR]; /* 16 in: requested (0: default, rounded
				       * up to a power of two); out: actual */
	dsm_u32 resv0;           /* 36 must be zero */
	dsm_u64 region_size;     /* 40 out: bytes to mmap */
	struct dsm_ring_offsets off[DSM_RING_NR]; /* 48 out */
	dsm_u64 resv1[6];        /* 208 must be zero */
};

/* The header of one ring as the reference layout (dsm_ring_layout in
 * dataplane/ring/ring.c, and the module) places it.  Readers must use
 * struct dsm_ring_offsets, not this struct.  head and tail each own a cache
 * line so the consumer and the producer never write the same line. */
struct dsm_ring_hdr {
	dsm_u32 head;            /*   0 consumer-written */
	dsm_u32 pad0[15];
	dsm_u32 tail;            /*  64 producer-written */
	dsm_u32 pad1[15];
	dsm_u32 ring_mask;       /* 128 constant after setup */
	dsm_u32 ring_entries;    /* 132 constant after setup */
	dsm_u32 flags;           /* 136 consumer-written, rarely */
	dsm_u32 pad2[13];
};                               /* 192, then the entry array */

/* --------------------------------------------------------------- entries */

/* Opcodes: high nibble = ring id + 1; none is 0. */
#define DSM_OP_FAULT        0x11u /* FAULT ring */
#define DSM_OP_FAULT_DONE   0x21u /* CQ ring */
#define DSM_OP_INVALIDATE   0x31u /* CMD: unmap the pages everywhere */
#define DSM_OP_DOWNGRADE    0x32u /* CMD: write-protect the pages everywhere */
#define DSM_OP_UNMAP_SEG    0x33u /* CMD: unmap every page of the segment */
#define DSM_OP_CMD_ACK      0x41u /* ACK ring */
#define DSM_OP_NOTE_MUNMAP  0x51u /* NOTE: a process unmapped a range */
#define DSM_OP_NOTE_EXIT    0x52u /* NOTE: a process mapping seg exited */
#define DSM_OP_NOTE_LOST    0x53u /* NOTE: notes were dropped: resync all */

/* Range limits. */
#define DSM_RING_SEG_ALL       0xffffffffu /* only in NOTE_LOST */
#define DSM_RING_PGNO_LIMIT    (1ull << 52) /* 4 KiB pages in 2^64 bytes */
#define DSM_RING_CMD_MAX_PAGES 512u  /* one 2 MiB page: bounds kernel work */
#define DSM_RING_PID_MAX       4194304u /* Linux PID_MAX_LIMIT */
#define DSM_RING_ERRNO_MAX     4095  /* status is 0 or -1..-4095 */

/* Fault flags: exactly one of READ or WRITE; WP (a write to a page mapped
 * read-only) only with WRITE. */
#define DSM_FAULT_READ   (1u << 0)
#define DSM_FAULT_WRITE  (1u << 1)
#define DSM_FAULT_WP     (1u << 2)
#define DSM_FAULT_ALL    (DSM_FAULT_READ | DSM_FAULT_WRITE | DSM_FAULT_WP)

/* Kernel -> dataplane: a thread faulted on seg_id/pgno and waits. */
struct dsm_fault_req {
	dsm_u8  opcode;   /*  0 DSM_OP_FAULT */
	dsm_u8  flags;    /*  1 DSM_FAULT_* */
	dsm_u16 resv0;    /*  2 must be zero */
	dsm_u32 seg_id;   /*  4 segment (not DSM_RING_SEG_ALL) */
	dsm_u64 token;    /*  8 chosen by the kernel, echoed in the cqe */
	dsm_u64 pgno;     /* 16 4 KiB page within the segment, < PGNO_LIMIT */
	dsm_u32 pid;      /* 24 faulting process (tgid), 1..PID_MAX */
	dsm_u32 tid;      /* 28 faulting thread, 1..PID_MAX */
};

/* Completion results: what the kernel must do for the waiting fault.  One
 * value, not a bit mask: the outcomes are exclusive. */
#define DSM_RES_MAP_RO  1u /* map the backing page read-only */
#define DSM_RES_MAP_RW  2u /* map the backing page writable */
#define DSM_RES_ZERO    3u /* never written: map the zero page (read) */
#define DSM_RES_SIGBUS  4u /* fail the fault; status says why */
#define DSM_RES_MAX     DSM_RES_SIGBUS

/* Dataplane -> kernel: the answer to one dsm_fault_req.  The page contents
 * are already in the segment backing the kernel maps (no copy here). */
struct dsm_fault_cqe {
	dsm_u8  opcode;   /*  0 DSM_OP_FAULT_DONE */
	dsm_u8  result;   /*  1 DSM_RES_* */
	dsm_u16 resv0;    /*  2 must be zero */
	dsm_u32 seg_id;   /*  4 echo of the request */
	dsm_u64 token;    /*  8 echo of the request */
	dsm_u64 pgno;     /* 16 echo of the request */
	dsm_s32 status;   /* 24 0, or -errno iff result is SIGBUS */
	dsm_u32 resv1;    /* 28 must be zero */
};

/* Dataplane -> kernel: change the local mappings of pages; acked on the
 * ACK ring once every mapping is unmapped / write-protected. */
#define DSM_CMD_F_ALL 0u /* no command flags yet: must be zero */
struct dsm_cmd {
	dsm_u8  opcode;   /*  0 DSM_OP_INVALIDATE / DOWNGRADE / UNMAP_SEG */
	dsm_u8  flags;    /*  1 DSM_CMD_F_* */
	dsm_u16 resv0;    /*  2 must be zero */
	dsm_u32 seg_id;   /*  4 segment (not DSM_RING_SEG_ALL) */
	dsm_u64 token;    /*  8 chosen by the dataplane, echoed in the ack */
	dsm_u64 pgno;     /* 16 first page; 0 for UNMAP_SEG */
	dsm_u32 npages;   /* 24 1..CMD_MAX_PAGES; 0 for UNMAP_SEG */
	dsm_u32 resv1;    /* 28 must be zero */
};

/* Kernel -> dataplane: a command is done (status 0) or failed (-errno). */
struct dsm_cmd_ack {
	dsm_u8  opcode;   /*  0 DSM_OP_CMD_ACK */
	dsm_u8  cmd;      /*  1 opcode of the command acked */
	dsm_u16 resv0;    /*  2 must be zero */
	dsm_u32 seg_id;   /*  4 echo */
	dsm_u64 token;    /*  8 echo */
	dsm_u64 pgno;     /* 16 echo */
	dsm_u32 npages;   /* 24 echo */
	dsm_s32 status;   /* 28 0 or -errno */
};

/* Kernel -> dataplane: the kernel itself dropped mappings, so the
 * dataplane's directory (a mirror of the local mappings) must follow. */
#define DSM_NOTE_F_ALL 0u /* no note flags yet: must be zero */
struct dsm_note {
	dsm_u8  opcode;   /*  0 DSM_OP_NOTE_* */
	dsm_u8  flags;    /*  1 DSM_NOTE_F_* */
	dsm_u16 resv0;    /*  2 must be zero */
	dsm_u32 seg_id;   /*  4 segment; DSM_RING_SEG_ALL only for LOST */
	dsm_u64 seq;      /*  8 kernel's note counter, +1 per note */
	dsm_u64 pgno;     /* 16 MUNMAP: first page; else 0 */
	dsm_u32 npages;   /* 24 MUNMAP: 1..; else 0 */
	dsm_u32 pid;      /* 28 MUNMAP/EXIT: the process; LOST: 0 */
};

/* ------------------------------------------------ the layout is the ABI */

#define DSM_RING_ASSERT_OFF(type, field, off) \
	DSM_RING_STATIC_ASSERT(offsetof(struct type, field) == (off), \
			       #type "." #field " offset")

DSM_RING_STATIC_ASSERT(sizeof(struct dsm_ring_offsets) == 32, "offsets size");
DSM_RING_ASSERT_OFF(dsm_ring_offsets, head, 0);
DSM_RING_ASSERT_OFF(dsm_ring_offsets, tail, 4);
DSM_RING_ASSERT_OFF(dsm_ring_offsets, ring_mask, 8);
DSM_RING_ASSERT_OFF(dsm_ring_offsets, ring_entries, 12);
DSM_RING_ASSERT_OFF(dsm_ring_offsets, flags, 16);
DSM_RING_ASSERT_OFF(dsm_ring_offsets, array, 20);
DSM_RING_ASSERT_OFF(dsm_ring_offsets, entry_size, 24);
DSM_RING_ASSERT_OFF(dsm_ring_offsets, resv, 28);

DSM_RING_STATIC_ASSERT(sizeof(struct dsm_ring_params) == 256, "params size");
DSM_RING_ASSERT_OFF(dsm_ring_params, api_version, 0);
DSM_RING_ASSERT_OFF(dsm_ring_params, flags, 4);
DSM_RING_ASSERT_OFF(dsm_ring_params, features_wanted, 8);
DSM_RING_ASSERT_OFF(dsm_ring_params, features, 12);
DSM_RING_ASSERT_OFF(dsm_ring_params, entries, 16);
DSM_RING_ASSERT_OFF(dsm_ring_params, resv0, 36);
DSM_RING_ASSERT_OFF(dsm_ring_params, region_size, 40);
DSM_RING_ASSERT_OFF(dsm_ring_params, off, 48);
DSM_RING_ASSERT_OFF(dsm_ring_params, resv1, 208);

DSM_RING_STATIC_ASSERT(sizeof(struct dsm_ring_hdr) == 192, "ring hdr size");
DSM_RING_ASSERT_OFF(dsm_ring_hdr, head, 0);
DSM_RING_ASSERT_OFF(dsm_ring_hdr, tail, 64);
DSM_RING_ASSERT_OFF(dsm_ring_hdr, ring_mask, 128);
DSM_RING_ASSERT_OFF(dsm_ring_hdr, ring_entries, 132);
DSM_RING_ASSERT_OFF(dsm_ring_hdr, flags, 136);
DSM_RING_STATIC_ASSERT(sizeof(struct dsm_ring_hdr) % DSM_RING_ALIGN == 0,
		       "entry array starts on a cache line");

DSM_RING_STATIC_ASSERT(sizeof(struct dsm_fault_req) == DSM_RING_ENTRY_SIZE, "fault_req size");
DSM_RING_ASSERT_OFF(dsm_fault_req, opcode, 0);
DSM_RING_ASSERT_OFF(dsm_fault_req, flags, 1);
DSM_RING_ASSERT_OFF(dsm_fault_req, resv0, 2);
DSM_RING_ASSERT_OFF(dsm_fault_req, seg_id, 4);
DSM_RING_ASSERT_OFF(dsm_fault_req, token, 8);
DSM_RING_ASSERT_OFF(dsm_fault_req, pgno, 16);
DSM_RING_ASSERT_OFF(dsm_fault_req, pid, 24);
DSM_RING_ASSERT_OFF(dsm_fault_req, tid, 28);

DSM_RING_STATIC_ASSERT(sizeof(struct dsm_fault_cqe) == DSM_RING_ENTRY_SIZE, "fault_cqe size");
DSM_RING_ASSERT_OFF(dsm_fault_cqe, opcode, 0);
DSM_RING_ASSERT_OFF(dsm_fault_cqe, result, 1);
DSM_RING_ASSERT_OFF(dsm_fault_cqe, resv0, 2);
DSM_RING_ASSERT_OFF(dsm_fault_cqe, seg_id, 4);
DSM_RING_ASSERT_OFF(dsm_fault_cqe, token, 8);
DSM_RING_ASSERT_OFF(dsm_fault_cqe, pgno, 16);
DSM_RING_ASSERT_OFF(dsm_fault_cqe, status, 24);
DSM_RING_ASSERT_OFF(dsm_fault_cqe, resv1, 28);

DSM_RING_STATIC_ASSERT(sizeof(struct dsm_cmd) == DSM_RING_ENTRY_SIZE, "cmd size");
DSM_RING_ASSERT_OFF(dsm_cmd, opcode, 0);
DSM_RING_ASSERT_OFF(dsm_cmd, flags, 1);
DSM_RING_ASSERT_OFF(dsm_cmd, resv0, 2);
DSM_RING_ASSERT_OFF(dsm_cmd, seg_id, 4);
DSM_RING_ASSERT_OFF(dsm_cmd, token, 8);
DSM_RING_ASSERT_OFF(dsm_cmd, pgno, 16);
DSM_RING_ASSERT_OFF(dsm_cmd, npages, 24);
DSM_RING_ASSERT_OFF(dsm_cmd, resv1, 28);

DSM_RING_STATIC_ASSERT(sizeof(struct dsm_cmd_ack) == DSM_RING_ENTRY_SIZE, "cmd_ack size");
DSM_RING_ASSERT_OFF(dsm_cmd_ack, opcode, 0);
DSM_RING_ASSERT_OFF(dsm_cmd_ack, cmd, 1);
DSM_RING_ASSERT_OFF(dsm_cmd_ack, resv0, 2);
DSM_RING_ASSERT_OFF(dsm_cmd_ack, seg_id, 4);
DSM_RING_ASSERT_OFF(dsm_cmd_ack, token, 8);
DSM_RING_ASSERT_OFF(dsm_cmd_ack, pgno, 16);
DSM_RING_ASSERT_OFF(dsm_cmd_ack, npages, 24);
DSM_RING_ASSERT_OFF(dsm_cmd_ack, status, 28);

DSM_RING_STATIC_ASSERT(sizeof(struct dsm_note) == DSM_RING_ENTRY_SIZE, "note size");
DSM_RING_ASSERT_OFF(dsm_note, opcode, 0);
DSM_RING_ASSERT_OFF(dsm_note, flags, 1);
DSM_RING_ASSERT_OFF(dsm_note, resv0, 2);
DSM_RING_ASSERT_OFF(dsm_note, seg_id, 4);
DSM_RING_ASSERT_OFF(dsm_note, seq, 8);
DSM_RING_ASSERT_OFF(dsm_note, pgno, 16);
DSM_RING_ASSERT_OFF(dsm_note, npages, 24);
DSM_RING_ASSERT_OFF(dsm_note, pid, 28);

DSM_RING_STATIC_ASSERT((DSM_RING_MAX_ENTRIES & (DSM_RING_MAX_ENTRIES - 1)) == 0,
		       "max entries is a power of two");
DSM_RING_STATIC_ASSERT((DSM_RING_DEFAULT_ENTRIES & (DSM_RING_DEFAULT_ENTRIES - 1)) == 0,
		       "default entries is a power of two");

#endif /* DSM_RING_H */
