/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Evacuation: copying a node's pages to the nodes that will need them
 * before that node goes away for maintenance (dsmctl drain).  Every other
 * member runs it on each of its shards, as a paced background job of
 * ordinary READ requests through the engine, so that when the drained
 * node N later leaves, every page it was the only holder of has a copy on
 * a survivor, and re-homing (docs/control.md) loses none:
 *  - COPY: the heir of N's segments (dsm_engine_heir, as if N departed)
 *    reads every page of the segments homed at N that it does not hold.
 *    N serves its copy, or first downgrades the page's owner.
 *  - RECALL: the home of any other segment reads the pages N owns
 *    exclusively; the downgrade writes them back to the home.
 * Pages are copied, not moved: N stays the home of its segments and
 * serves them until it leaves.  A page that N alone writes after its copy
 * was taken has its only valid copy on N again (drain moved N's workloads
 * off first, so only a new local user of N would).
 *
 * The job state is the shard's own; other threads start it by a control
 * message (DSM_CTL_EVACUATE) and read its progress counters (untorn
 * 64-bit loads, like every other statistic).
 */
#include <errno.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_log.h>

#include "runtime/node_internal.h"

/* user_data of the job's engine requests: the front ends tag theirs with
 * bits 62 (ufront) and 63 (kfront); bits 32..60 carry the job number so a
 * completion of a restarted job's read is told apart; bits 0..31 the slot. */
#define EVAC_UD_TAG  (1ull << 61)
#define EVAC_GEN_MASK 0x1fffffffu
#define EVAC_TRIES   3            /* attempts of a read that failed transiently */

static uint64_t slot_ud(const struct dsm_evac *ev, uint32_t i)
{
	return EVAC_UD_TAG | (uint64_t)(ev->gen & EVAC_GEN_MASK) << 32 | i;
}

/* Pages of s that this shard serves. */
static uint64_t shard_pages(const struct dsm_shard_rt *sh, const struct dsm_seg_rt *s)
{
	uint32_t nshards = sh->node->nshards;
	uint64_t k = 0;

	if (nshards == 1)
		return s->d.npages;
	for (uint64_t pg = 0; pg < s->d.npages; pg++)
		k += dsm_engine_shard_of(s->d.seg_id, pg, nshards) == sh->idx;
	return k;
}

static uint8_t seg_mode(const struct dsm_shard_rt *sh, const struct dsm_seg_rt *s,
			uint16_t node, bool heir)
{
	if (s->d.home == node)
		return heir ? DSM_EVAC_COPY : DSM_EVAC_SKIP;
	return s->d.home == sh->node->self ? DSM_EVAC_RECALL : DSM_EVAC_SKIP;
}

int dsm_evac_start(struct dsm_shard_rt *sh, uint16_t node, bool heir)
{
	struct dsm_node *n = sh->node;
	struct dsm_evac *ev = &sh->evac;
	uint32_t gen = ev->gen + 1;

	/* Reads of an earlier job still in the engine complete as stale. */
	memset(ev, 0, sizeof(*ev));
	ev->gen = gen;
	ev->node = node;
	ev->heir = heir;
	ev->nsegs = n->nsegs;
	for (uint32_t i = 0; i < ev->nsegs; i++) {
		ev->mode[i] = seg_mode(sh, &n->segs[i], node, heir);
		if (ev->mode[i] == DSM_EVAC_SKIP)
			continue;
		ev->segments++;
		ev->pages += shard_pages(sh, &n->segs[i]);
	}
	ev->active = true;
	return (int)ev->segments;
}

/* Does this page need a read?  1 yes, 0 no (already safe), -EIO lost. */
static int page_need(struct dsm_shard_rt *sh, uint8_t mode, uint32_t seg_id, uint64_t pg)
{
	struct dsm_page_info pi;

	if (dsm_engine_page_info(sh->eng, seg_id, pg, &pi))
		return 0;                /* gone from the engine: nothing to copy */
	if (pi.is_home && pi.lost)
		return -EIO;
	if (mode == DSM_EVAC_COPY)
		return pi.cache_state == DSM_CS_INVALID;
	/* RECALL.  A page still recovering (adopted) may turn out to be N's. */
	return pi.is_home && (pi.recovering ||
		(pi.dir_state == DSM_DS_EXCLUSIVE && pi.owner == sh->evac.node));
}

/* A page looked at is done: read (status of the read), or lost. */
static void settle(struct dsm_evac *ev, int status)
{
	if (status == 0)
		ev->copied++;
	else if (status == -EIO)
		ev->lost++;
	else
		ev->failed++;
	ev->done++;
}

/* Send slot i's read to the engine.  -ENOSPC: the engine has no room now
 * (faults come first); the slot waits for the next poll. */
static int issue(struct dsm_shard_rt *sh, uint64_t now, uint32_t i)
{
	struct dsm_evac *ev = &sh->evac;
	struct dsm_evac_slot *s = &ev->slot[i];
	int rc;

	s->state = DSM_EVAC_ISSUED;
	rc = dsm_engine_local(sh->eng, now, s->seg_id, s->pgno, DSM_READ, slot_ud(ev, i),
			      &sh->acts);
	if (rc == -ENOSPC) {
		s->state = DSM_EVAC_RETRY;
		return rc;
	}
	if (rc) {                        /* refused outright: no COMPLETE comes */
		s->state = DSM_EVAC_FREE;
		ev->in_flight--;
		settle(ev, rc);
	}
	return 0;
}

static int free_slot(const struct dsm_evac *ev)
{
	for (uint32_t i = 0; i < DSM_EVAC_SLOTS; i++)
		if (ev->slot[i].state == DSM_EVAC_FREE)
			return (int)i;
	return -1;
}

/* Look at the next pages, and start reads of those that need one while
 * slots are free and the engine has room; *work counts both. */
static void scan(struct dsm_shard_rt *sh, uint64_t now, int *work)
{
	struct dsm_node *n = sh->node;
	struct dsm_evac *ev = &sh->evac;

	for (uint32_t looked = 0; looked < DSM_EVAC_SCAN && ev->seg < ev->nsegs; looked++) {
		const struct dsm_seg_rt *s = &n->segs[ev->seg];
		uint64_t pg = ev->pgno;
		int need, i;

		(*work)++;
		if (ev->mode[ev->seg] == DSM_EVAC_SKIP || pg >= s->d.npages) {
			ev->seg++;
			ev->pgno = 0;
			continue;
		}
		if (dsm_engine_shard_of(s->d.seg_id, pg, n->nshards) != sh->idx) {
			ev->pgno++;
			continue;
		}
		i = free_slot(ev);
		if (i < 0)
			return;
		need = page_need(sh, ev->mode[ev->seg], s->d.seg_id, pg);
		ev->pgno++;
		if (need < 0)
			settle(ev, need);
		else if (need == 0)
			ev->done++;          /* safe already: nothing to read */
		if (need <= 0)
			continue;
		ev->slot[i] = (struct dsm_evac_slot){ .seg_id = s->d.seg_id, .pgno = pg };
		ev->in_flight++;
		if (issue(sh, now, (uint32_t)i) == -ENOSPC)
			return;
	}
}

static void finish(struct dsm_shard_rt *sh)
{
	struct dsm_evac *ev = &sh->evac;

	/* pairs with the acquire load in dsm_node_evac_status(): whoever
	 * sees the job over sees its final counts */
	__atomic_store_n(&ev->active, false, __ATOMIC_RELEASE);
	RTE_LOG(INFO, USER1, "shard %u: evacuation of node %u done: %lu segment(s), "
		"%lu page(s), %lu copied, %lu lost, %lu failed\n", sh->idx, ev->node,
		(unsigned long)ev->segments, (unsigned long)ev->pages,
		(unsigned long)ev->copied, (unsigned long)ev->lost, (unsigned long)ev->failed);
}

int dsm_evac_step(struct dsm_shard_rt *sh, uint64_t now)
{
	struct dsm_evac *ev = &sh->evac;
	bool room = true;
	int work = 0;

	if (!ev->active)
		return 0;
	for (uint32_t i = 0; room && i < DSM_EVAC_SLOTS; i++)
		if (ev->slot[i].state == DSM_EVAC_RETRY) {
			work++;
			room = issue(sh, now, i) != -ENOSPC;
		}
	if (room)
		scan(sh, now, &work);
	if (work)
		dsm_shard_exec(sh, now);
	if (ev->seg >= ev->nsegs && ev->in_flight == 0)
		finish(sh);
	return work;
}

static bool transient(int status)
{
	return status == -EBUSY || status == -ETIMEDOUT || status == -EREMOTE;
}

bool dsm_evac_complete(struct dsm_shard_rt *sh, const struct dsm_action *a)
{
	struct dsm_evac *ev = &sh->evac;
	uint32_t i = (uint32_t)a->user_data;
	struct dsm_evac_slot *s;

	if (a->kind != DSM_ACT_COMPLETE || !(a->user_data & EVAC_UD_TAG))
		return false;
	if (((a->user_data >> 32) & EVAC_GEN_MASK) != (ev->gen & EVAC_GEN_MASK) ||
	    i >= DSM_EVAC_SLOTS || ev->slot[i].state != DSM_EVAC_ISSUED)
		return true;             /* an earlier job's read */
	s = &ev->slot[i];
	if (transient(a->status) && ++s->tries < EVAC_TRIES) {
		s->state = DSM_EVAC_RETRY;
		return true;
	}
	s->state = DSM_EVAC_FREE;
	ev->in_flight--;
	settle(ev, a->status);
	return true;
}

/* ---- the other threads' side (telemetry) ---- */

#define DISCOVER_WAIT_MS 500

/* The heir must know every segment the node homes, those created at run
 * time included, which reach other nodes only by discovery: ask the
 * members first, and wait until they all answered, or DISCOVER_WAIT_MS
 * (answers arrive through the I/O loop; this polls their count). */
static void learn_segments(struct dsm_node *n, dsm_nodeset_t members)
{
	struct dsm_ctl c = { .kind = DSM_CTL_DISCOVER };
	uint64_t deadline = dsm_now_ns() + DISCOVER_WAIT_MS * 1000000ull;
	uint64_t expect = (uint64_t)__builtin_popcountll(members & ~((dsm_nodeset_t)1 << n->self));

	if (!n->ufront || dsm_shard_ctl_call(n, 0, &c, 200))
		return;             /* segments are created only through the ufront */
	while (__atomic_load_n(&n->vma_answers, __ATOMIC_RELAXED) < c.answers + expect &&
	       dsm_now_ns() < deadline)
		rte_delay_us_sleep(1000);
}

int dsm_node_evacuate(struct dsm_node *n, uint16_t node, bool *heir)
{
	struct dsm_cluster_info ci;
	dsm_nodeset_t members = (dsm_nodeset_t)1 << n->self, moved;
	int segs = 0;

	if (node == 0 || node >= DSM_MAX_NODES)
		return -EINVAL;
	if (node == n->self)
		return -ELOOP;
	dsm_cluster_info(n, &ci);
	if (ci.enabled) {
		if (ci.fenced)
			return -EPERM;
		members = ci.members;
	} else {
		for (uint32_t i = 0; i < n->npeers; i++)
			members |= (dsm_nodeset_t)1 << n->peer_list[i]->cfg->id;
	}
	if (!((members >> node) & 1))
		return -ENOENT;
	*heir = dsm_engine_heir(members, members, (dsm_nodeset_t)1 << node, n->self,
				&moved) == n->self;
	if (*heir)
		learn_segments(n, members);
	for (uint32_t s = 0; s < n->nshards; s++) {
		struct dsm_ctl c = { .kind = DSM_CTL_EVACUATE, .node = node, .heir = *heir };
		int rc = dsm_shard_ctl_call(n, s, &c, 200);

		if (rc < 0)
			return rc;
		segs = rc > segs ? rc : segs;
	}
	RTE_LOG(INFO, USER1, "evacuating node %u: %d segment(s) here, %s\n", node, segs,
		*heir ? "copying those it homes (heir)" : "recalling pages it owns");
	return segs;
}

void dsm_node_evac_status(const struct dsm_node *n, struct dsm_evac_status *st)
{
	memset(st, 0, sizeof(*st));
	for (uint32_t s = 0; s < n->nshards; s++) {
		const struct dsm_evac *ev = &n->shards[s].evac;

		st->node = ev->node;
		st->heir = ev->heir;
		/* pairs with the release store in finish() */
		st->active |= __atomic_load_n(&ev->active, __ATOMIC_ACQUIRE);
		st->segments = ev->segments > st->segments ? ev->segments : st->segments;
		st->pages += ev->pages;
		st->done += ev->done;
		st->copied += ev->copied;
		st->lost += ev->lost;
		st->failed += ev->failed;
	}
}
