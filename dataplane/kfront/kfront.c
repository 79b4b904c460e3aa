/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kfront/kfront.h"

/* user_data of the engine requests this front end makes: tagged, so a
 * caller that also makes requests of its own can tell them apart. */
#define KF_UD_TAG (1ull << 63)

struct kfront_req {
	struct dsm_fault_req req;
	uint32_t gen;
	bool used;
};

int dsm_kfront_init(struct dsm_kfront *kf, struct dsm_kdev *kd,
		    struct dsm_engine *e, const struct dsm_kfront_ops *ops,
		    uint32_t max_requests)
{
	memset(kf, 0, sizeof(*kf));
	kf->kd = kd;
	kf->engine = e;
	kf->ops = *ops;
	kf->nreqs = max_requests;
	kf->reqs = calloc(max_requests, sizeof(*kf->reqs));
	kf->free = calloc(max_requests, sizeof(*kf->free));
	kf->acts = malloc(sizeof(*kf->acts));
	if (!kf->reqs || !kf->free || !kf->acts || max_requests == 0) {
		dsm_kfront_fini(kf);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < max_requests; i++)
		kf->free[kf->nfree++] = max_requests - 1 - i;
	return 0;
}

void dsm_kfront_fini(struct dsm_kfront *kf)
{
	for (unsigned i = 0; i < kf->nsegs; i++)
		dsm_kdev_seg_del(kf->kd, kf->segs[i].seg_id, kf->segs[i].mem,
				 kf->segs[i].npages);
	free(kf->reqs);
	free(kf->free);
	free(kf->acts);
	memset(kf, 0, sizeof(*kf));
}

int dsm_kfront_add_segment(struct dsm_kfront *kf, uint32_t seg_id,
			   uint64_t npages, uint8_t **mem)
{
	struct dsm_kfront_seg *s;
	void *m;
	int ret;

	if (kf->nsegs == DSM_ENGINE_MAX_SEGS)
		return -ENOSPC;
	ret = dsm_kdev_seg_add(kf->kd, seg_id, npages, &m);
	if (ret)
		return ret;
	s = &kf->segs[kf->nsegs++];
	s->seg_id = seg_id;
	s->npages = npages;
	s->mem = m;
	*mem = m;
	return 0;
}

static struct dsm_kfront_seg *seg_of(struct dsm_kfront *kf, uint32_t seg_id)
{
	for (unsigned i = 0; i < kf->nsegs; i++)
		if (kf->segs[i].seg_id == seg_id)
			return &kf->segs[i];
	return NULL;
}

uint8_t *dsm_kfront_page(struct dsm_kfront *kf, uint32_t seg_id, uint64_t pgno)
{
	struct dsm_kfront_seg *s = seg_of(kf, seg_id);

	if (!s || pgno >= s->npages)
		return NULL;
	return s->mem + pgno * DSM_KMOD_PAGE_SIZE;
}

/* ------------------------------------------------------------ the kernel */

static void enter(struct dsm_kfront *kf)
{
	kf->st.enters++;
	dsm_kdev_enter(kf->kd, 0, 0, NULL);
}

static void post_cqe(struct dsm_kfront *kf, const struct dsm_fault_req *r,
		     uint8_t result, int status)
{
	struct dsm_fault_cqe c = {
		.opcode = DSM_OP_FAULT_DONE, .result = result, .seg_id = r->seg_id,
		.token = r->token, .pgno = r->pgno,
		.status = result == DSM_RES_SIGBUS ? (status ? status : -EIO) : 0,
	};
	struct dsm_ring *cq = &kf->kd->rings.ring[DSM_RING_CQ];

	/* A full CQ empties inside ENTER: the kernel consumes it there. */
	while (dsm_ring_produce(cq, &c, 1) != 1)
		enter(kf);
	if (result == DSM_RES_SIGBUS)
		kf->st.sigbus++;
	else
		kf->st.completed++;
}

/* Run one command to completion: post, ENTER (the kernel executes it
 * there), read its ack. */
static void command(struct dsm_kfront *kf, uint8_t op, uint32_t seg_id,
		    uint64_t pgno, uint32_t npages)
{
	struct dsm_cmd c = {
		.opcode = op, .seg_id = seg_id, .token = ++kf->cmd_token,
		.pgno = pgno, .npages = npages,
	};
	struct dsm_ring *ack = &kf->kd->rings.ring[DSM_RING_ACK];

	while (dsm_ring_produce(&kf->kd->rings.ring[DSM_RING_CMD], &c, 1) != 1)
		enter(kf);
	/* The kernel executes every command it can ack inside one ENTER; a
	 * few rounds cover an ACK ring we had not drained yet. */
	for (int round = 0; round < 4; round++) {
		struct dsm_cmd_ack a;

		enter(kf);
		while (dsm_ring_read(ack, &a, 1, NULL) == 1) {
			if (a.token != c.token)
				continue;
			if (a.status == 0)
				kf->st.commands++;
			else
				kf->st.command_errors++;
			return;
		}
	}
	kf->st.command_errors++;
}

/* ------------------------------------------------------------- actions */

static void complete(struct dsm_kfront *kf, const struct dsm_action *a)
{
	uint32_t slot = (uint32_t)a->user_data;
	struct kfront_req *q;
	uint8_t result;

	if (slot >= kf->nreqs)
		return;
	q = &kf->reqs[slot];
	if (!q->used || q->gen != (uint32_t)((a->user_data & ~KF_UD_TAG) >> 32))
		return;
	if (a->status)
		result = DSM_RES_SIGBUS;
	else if (a->state == DSM_CS_EXCLUSIVE)
		result = DSM_RES_MAP_RW;   /* owned: no write-protect fault later */
	else
		result = DSM_RES_MAP_RO;
	post_cqe(kf, &q->req, result, a->status);
	kf->cq_dirty = true;
	q->used = false;
	kf->free[kf->nfree++] = slot;
}

bool dsm_kfront_handle(struct dsm_kfront *kf, const struct dsm_action *a)
{
	switch (a->kind) {
	case DSM_ACT_UNMAP:
	case DSM_ACT_PROTECT:
		if (!seg_of(kf, a->msg.seg_id))
			return false;
		command(kf, a->kind == DSM_ACT_UNMAP ? DSM_OP_INVALIDATE : DSM_OP_DOWNGRADE,
			a->msg.seg_id, a->msg.pgno, 1);
		return true;
	case DSM_ACT_UNMAP_SEGMENT:
		if (!seg_of(kf, a->msg.seg_id))
			return false;
		command(kf, DSM_OP_UNMAP_SEG, a->msg.seg_id, 0, 0);
		return true;
	case DSM_ACT_COMPLETE:
		if (!(a->user_data & KF_UD_TAG))
			return false;
		complete(kf, a);
		return true;
	default:
		return false;
	}
}

void dsm_kfront_flush(struct dsm_kfront *kf)
{
	/* One ENTER per batch of completions (the kernel asks for a kick: it
	 * consumes the CQ only inside ENTER). */
	if (kf->cq_dirty && dsm_ring_prod_needs_wakeup(&kf->kd->rings.ring[DSM_RING_CQ]))
		enter(kf);
	kf->cq_dirty = false;
}

static void exec_one(struct dsm_kfront *kf, const struct dsm_action *a)
{
	uint8_t *pg = dsm_kfront_page(kf, a->msg.seg_id, a->msg.pgno);

	if (dsm_kfront_handle(kf, a))
		return;
	switch (a->kind) {
	case DSM_ACT_SEND:
		kf->ops.send(kf->ops.ctx, &a->msg,
			     (a->msg.flags & DSM_F_DATA) ? pg : NULL);
		break;
	case DSM_ACT_INSTALL:
		if (pg && a->msg.payload && a->msg.len == DSM_KMOD_PAGE_SIZE)
			memcpy(pg, a->msg.payload, DSM_KMOD_PAGE_SIZE);
		break;
	case DSM_ACT_ZERO:
		if (pg)
			memset(pg, 0, DSM_KMOD_PAGE_SIZE);
		break;
	case DSM_ACT_COMPLETE:
		if (kf->ops.complete)
			kf->ops.complete(kf->ops.ctx, a);
		break;
	default:
		break;
	}
}

void dsm_kfront_exec(struct dsm_kfront *kf, const struct dsm_actions *acts)
{
	for (uint32_t i = 0; i < acts->n; i++)
		exec_one(kf, &acts->a[i]);
	dsm_kfront_flush(kf);
}

/* --------------------------------------------------------------- intake */

static void take_fault(struct dsm_kfront *kf, uint64_t now, const struct dsm_fault_req *r)
{
	enum dsm_intent intent = (r->flags & DSM_FAULT_WRITE) ? DSM_WRITE : DSM_READ;
	struct kfront_req *q;
	uint32_t slot;
	int ret;

	kf->st.faults++;
	if (kf->nfree == 0) {
		kf->st.refused++;
		post_cqe(kf, r, DSM_RES_SIGBUS, -ENOSPC);
		kf->cq_dirty = true;
		return;
	}
	slot = kf->free[--kf->nfree];
	q = &kf->reqs[slot];
	q->req = *r;
	q->used = true;
	q->gen++;
	dsm_actions_clear(kf->acts);
	ret = dsm_engine_local(kf->engine, now, r->seg_id, r->pgno, intent,
			       KF_UD_TAG | (uint64_t)q->gen << 32 | slot, kf->acts);
	if (ret) {
		/* Refused outright: no COMPLETE will come. */
		q->used = false;
		kf->free[kf->nfree++] = slot;
		kf->st.refused++;
		post_cqe(kf, r, DSM_RES_SIGBUS, ret);
		kf->cq_dirty = true;
	}
	if (kf->ops.exec)
		kf->ops.exec(kf->ops.ctx, kf->acts);
	else
		dsm_kfront_exec(kf, kf->acts);
}

static void take_note(struct dsm_kfront *kf, const struct dsm_note *n)
{
	/* The kernel numbers notes: a gap means some were dropped (it also
	 * sends NOTE_LOST once there is room). */
	if (kf->note_seq && n->seq != kf->note_seq + 1)
		kf->st.notes_gap++;
	kf->note_seq = n->seq;
	if (n->opcode == DSM_OP_NOTE_MUNMAP)
		kf->st.notes_munmap++;
	else if (n->opcode == DSM_OP_NOTE_EXIT)
		kf->st.notes_exit++;
	else
		kf->st.notes_lost++;
}

unsigned dsm_kfront_poll(struct dsm_kfront *kf, uint64_t now)
{
	struct dsm_fault_req req[32];
	struct dsm_note notes[32];
	uint32_t nbad = 0, nbad2 = 0;
	unsigned n, m;

	n = dsm_ring_read(&kf->kd->rings.ring[DSM_RING_FAULT], req, 32, &nbad);
	for (unsigned i = 0; i < n; i++)
		take_fault(kf, now, &req[i]);
	m = dsm_ring_read(&kf->kd->rings.ring[DSM_RING_NOTE], notes, 32, &nbad2);
	for (unsigned i = 0; i < m; i++)
		take_note(kf, &notes[i]);
	kf->st.bad_entries += nbad + nbad2;
	dsm_kfront_flush(kf);
	return n + m + nbad + nbad2;
}
