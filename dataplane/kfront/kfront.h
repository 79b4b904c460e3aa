/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kernel fault front end: the ring consumer that feeds faults from
 * dsm.ko into the coherence engine and turns the engine's actions back into
 * completions and commands for the kernel.  The userfaultfd front end feeds
 * the same engine the same way (one engine, two front ends).
 *
 * No DPDK: the caller supplies how messages leave the node (ops.send), so
 * the dataplane runtime, the guest tests and small tools all use this code.
 *
 * Fault path: FAULT entry -> dsm_engine_local(seg, pgno, READ/WRITE) ->
 * COMPLETE action -> CQE (MAP_RO, MAP_RW, or SIGBUS with the engine's
 * -errno) -> ENTER.  Page data lives in the segment backing the kernel maps
 * (dsm_kdev_seg_add): INSTALL and ZERO write it, SEND with DSM_F_DATA reads
 * it, nothing is copied in between.
 *
 * Coherence path: UNMAP / PROTECT / UNMAP_SEGMENT actions become INVALIDATE
 * / DOWNGRADE / UNMAP_SEG commands, executed synchronously: the command is
 * posted, the kernel runs it inside ENTER (after the completions posted
 * before it) and its ack is read before the next action runs, so the engine's
 * "actions run in order, immediately" contract holds - the INV_ACK or the
 * data that follows an UNMAP leaves only once no mapping can touch the page.
 */
#ifndef DSM_KFRONT_KFRONT_H
#define DSM_KFRONT_KFRONT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/coherence.h"
#include "kfront/kdev.h"

struct dsm_kfront_ops {
	/* Send m to m->dst (dst == self: deliver back to this engine).  With
	 * DSM_F_DATA, payload is the page (m->len bytes) from the backing. */
	void (*send)(void *ctx, const struct dsm_msg *m, const void *payload);
	/* A COMPLETE for a request this front end did not make (optional). */
	void (*complete)(void *ctx, const struct dsm_action *a);
	/* Optional: execute the actions of a fault this front end fed to the
	 * engine (the dataplane runs them in its shard executor, which hands
	 * the kernel-facing ones back through dsm_kfront_handle).  Without it,
	 * dsm_kfront_exec runs them. */
	void (*exec)(void *ctx, const struct dsm_actions *acts);
	void *ctx;
};

struct dsm_kfront_stats {
	uint64_t faults;        /* valid fault requests taken from the ring */
	uint64_t refused;       /* refused by the engine at once (SIGBUS) */
	uint64_t completed;     /* completions posted: mapped */
	uint64_t sigbus;        /* completions posted: failed */
	uint64_t commands;      /* invalidate / downgrade / unmap-seg acked */
	uint64_t command_errors;/* acked with an error, or no ack */
	uint64_t notes_munmap, notes_exit, notes_lost, notes_gap;
	uint64_t bad_entries;   /* rejected by the ring validators */
	uint64_t enters;        /* ENTER syscalls */
};

struct dsm_kfront_seg {
	uint32_t seg_id;
	uint64_t npages;
	uint8_t *mem;           /* the backing, shared with the kernel */
};

struct kfront_req;

struct dsm_kfront {
	struct dsm_kdev *kd;
	struct dsm_engine *engine;
	struct dsm_kfront_ops ops;
	struct dsm_kfront_seg segs[DSM_ENGINE_MAX_SEGS];
	unsigned nsegs;
	struct kfront_req *reqs;    /* faults the engine is working on */
	uint32_t nreqs;
	uint32_t *free;             /* stack of free request slots */
	uint32_t nfree;
	uint64_t cmd_token;
	uint64_t note_seq;          /* last NOTE seq seen (gap detection) */
	struct dsm_actions *acts;   /* scratch for engine calls */
	bool cq_dirty;              /* completions posted since the last ENTER */
	struct dsm_kfront_stats st;
};

/* kd is an open server handle, e the engine faults go to.  0 or -errno. */
int dsm_kfront_init(struct dsm_kfront *kf, struct dsm_kdev *kd,
		    struct dsm_engine *e, const struct dsm_kfront_ops *ops,
		    uint32_t max_requests);
void dsm_kfront_fini(struct dsm_kfront *kf);

/* Register a segment with the kernel and map its backing (*mem): the
 * memory the engine's INSTALL/ZERO/SEND use for it.  4 KiB pages (the
 * kernel's unit).  The caller makes the segment known to the engine.
 * 0 or -errno. */
int dsm_kfront_add_segment(struct dsm_kfront *kf, uint32_t seg_id,
			   uint64_t npages, uint8_t **mem);

/* The backing page of seg/pgno, or NULL. */
uint8_t *dsm_kfront_page(struct dsm_kfront *kf, uint32_t seg_id, uint64_t pgno);

/* Take fault requests and notes from the kernel, run them through the
 * engine, execute the actions.  Returns the entries handled. */
unsigned dsm_kfront_poll(struct dsm_kfront *kf, uint64_t now);

/* The kernel-facing part of one engine action: UNMAP / PROTECT /
 * UNMAP_SEGMENT of a kernel-registered segment become commands (run to
 * their ack), a COMPLETE of a kernel fault becomes a completion.  Returns
 * true if the action was this front end's. */
bool dsm_kfront_handle(struct dsm_kfront *kf, const struct dsm_action *a);

/* After a batch of actions: ENTER once if completions were posted. */
void dsm_kfront_flush(struct dsm_kfront *kf);

/* Standalone executor: every action in order (handle, else SEND through
 * ops.send, INSTALL/ZERO into the backing), then flush. */
void dsm_kfront_exec(struct dsm_kfront *kf, const struct dsm_actions *acts);

#endif /* DSM_KFRONT_KFRONT_H */
