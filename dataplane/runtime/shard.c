/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Engine shards: each owns the directory and cache entries of the pages
 * routed to it (dsm_engine_shard_of), feeds them the messages the I/O lcore
 * dispatched, and executes the engine's actions.  Everything a shard touches
 * is its own, so there are no locks on this path.
 */
#include <errno.h>
#include <string.h>

#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>

#include "runtime/node_internal.h"

int dsm_shard_dispatch(struct dsm_node *n, struct rte_mbuf *msg)
{
	const struct dsm_hdr *h = dsm_mbuf_hdr(msg);
	uint32_t s = dsm_engine_shard_of(h->seg_id, h->pgno, n->nshards);

	return rte_ring_mp_enqueue(n->shards[s].rx, msg) ? -ENOBUFS : 0;
}

/* Tell every shard that node is gone, in band: the notice is queued in each
 * shard's rx ring behind everything the old incarnation sent and ahead of
 * anything the new one sends (a control ring would race with the data). */
void dsm_shards_peer_down(struct dsm_node *n, uint16_t node)
{
	for (uint32_t s = 0; s < n->nshards; s++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(n->notice_pool);
		struct dsm_hdr *h;

		if (!m) {
			RTE_LOG(ERR, USER1, "shard %u: no mbuf for peer-down notice\n", s);
			n->drops[DSM_DROP_NOBUF]++;
			continue;
		}
		h = dsm_mbuf_hdr(m);
		memset(h, 0, sizeof(*h));
		h->type = DSM_INT_PEER_DOWN;
		h->src_node = node;
		if (rte_ring_mp_enqueue(n->shards[s].rx, m)) {
			n->drops[DSM_DROP_NOBUF]++;
			rte_pktmbuf_free(m);
		}
	}
}

static int exec_send(struct dsm_shard_rt *sh, const struct dsm_msg *m)
{
	struct dsm_node *n = sh->node;
	struct rte_mbuf **frames = sh->frames;
	const void *payload = NULL;
	uint32_t nf;
	int rc;

	if (m->flags & DSM_F_DATA) {
		struct dsm_seg_rt *s = dsm_node_seg(n, m->seg_id);

		payload = dsm_node_page(n, m->seg_id, m->pgno);
		if (!payload)
			return -ENOENT;
		if (m->dst != n->self)
			__atomic_fetch_add(&s->pages_out, 1, __ATOMIC_RELAXED);
	}
	rc = dsm_build_frames(n, m, payload, frames, DSM_MAX_MSG_FRAMES, &nf);
	if (rc)
		return rc;
	sh->st.tx_msgs++;
	if (m->dst == n->self) {
		struct rte_mbuf *msg = dsm_frames_to_msg(frames, nf);

		sh->st.loopback++;
		if (!msg || dsm_shard_dispatch(n, msg)) {
			rte_pktmbuf_free(msg);
			return -ENOBUFS;
		}
		return 0;
	}
	if (rte_ring_sp_enqueue_bulk(sh->tx, (void **)frames, nf, NULL) != nf) {
		/* Only if the I/O lcore stalls: the frames are lost like on a
		 * wire, and the requester's deadline and retry cover it. */
		sh->st.tx_ring_full++;
		rte_pktmbuf_free_bulk(frames, nf);
		return -ENOBUFS;
	}
	return 0;
}

static int exec_install(struct dsm_shard_rt *sh, const struct dsm_msg *m)
{
	struct dsm_seg_rt *s = dsm_node_seg(sh->node, m->seg_id);
	void *page = dsm_node_page(sh->node, m->seg_id, m->pgno);

	if (!page || m->len != s->d.page_size || !m->payload)
		return -EINVAL;
	if (dsm_node_msg_copy(m, page, m->len) != m->len)
		return -EINVAL;
	sh->st.installs++;
	__atomic_fetch_add(&s->pages_in, 1, __ATOMIC_RELAXED);
	return 0;
}

static int exec_zero(struct dsm_shard_rt *sh, const struct dsm_msg *m)
{
	struct dsm_seg_rt *s = dsm_node_seg(sh->node, m->seg_id);
	void *page = dsm_node_page(sh->node, m->seg_id, m->pgno);

	if (!page)
		return -EINVAL;
	memset(page, 0, s->d.page_size);
	sh->st.zero_fills++;
	return 0;
}

static int exec_one(struct dsm_shard_rt *sh, const struct dsm_action *a, uint64_t now)
{
	struct dsm_node *n = sh->node;

	/* The reads of an evacuation (a drain) are the runtime's own. */
	if (dsm_evac_complete(sh, a)) {
		sh->st.completes++;
		return 0;
	}
	/* Kernel-mapped pages: unmap / protect through dsm.ko (to the ack),
	 * and the completions of kernel faults. */
	if (n->kfront && dsm_kfront_handle(n->kfront, a)) {
		sh->st.kernel_actions++;
		return 0;
	}
	/* Userfaultfd mappings: the same, through the view (it also notes
	 * ZERO/INSTALL but leaves the backing to us). */
	if (n->ufront && dsm_ufront_handle(n->ufront, a)) {
		sh->st.fault_actions++;
		return 0;
	}
	switch (a->kind) {
	case DSM_ACT_SEND:
		return exec_send(sh, &a->msg);
	case DSM_ACT_INSTALL:
		return exec_install(sh, &a->msg);
	case DSM_ACT_ZERO:
		return exec_zero(sh, &a->msg);
	case DSM_ACT_UNMAP:
		/* Pages no front end maps: nothing to unmap. */
		sh->st.unmaps++;
		return 0;
	case DSM_ACT_PROTECT:
		sh->st.protects++;
		return 0;
	case DSM_ACT_UNMAP_SEGMENT:
		sh->st.unmaps++;
		return 0;
	case DSM_ACT_COMPLETE:
		sh->st.completes++;
		if (n->params.hooks.on_complete)
			n->params.hooks.on_complete(n->params.hooks.ctx, n, a, now);
		return 0;
	}
	return -EINVAL;
}

void dsm_shard_exec_list(struct dsm_shard_rt *sh, const struct dsm_actions *acts,
			 uint64_t now)
{
	if (acts->overflow) {
		/* Cannot happen with a config dsm_engine_create accepted. */
		sh->st.actions_overflow += acts->overflow;
		RTE_LOG(ERR, USER1, "shard %u: %u engine actions lost\n", sh->idx,
			acts->overflow);
	}
	for (uint32_t i = 0; i < acts->n; i++) {
		int rc = exec_one(sh, &acts->a[i], now);

		if (rc) {
			sh->st.exec_errors++;
			RTE_LOG(DEBUG, USER1, "shard %u: action %d failed: %s\n", sh->idx,
				acts->a[i].kind, strerror(-rc));
		}
	}
	if (sh->node->kfront)
		dsm_kfront_flush(sh->node->kfront);
}

void dsm_shard_exec_front(void *node, const struct dsm_actions *acts)
{
	struct dsm_node *n = node;

	dsm_shard_exec_list(&n->shards[0], acts, dsm_now_ns());
}

int dsm_shard_exec(struct dsm_shard_rt *sh, uint64_t now)
{
	dsm_shard_exec_list(sh, &sh->acts, now);
	dsm_actions_clear(&sh->acts);
	return 0;
}

/* Lost pages of seg_id this shard is the home of: the first c->max into
 * c->out, how many in all into c->answers. */
static int ctl_lost(struct dsm_shard_rt *sh, struct dsm_ctl *c)
{
	struct dsm_seg_rt *s = dsm_node_seg(sh->node, c->seg_id);
	struct dsm_page_info pi;
	uint32_t k = 0;

	if (!s)
		return -ENOENT;
	c->answers = 0;
	for (uint64_t pg = 0; pg < s->d.npages; pg++) {
		if (dsm_engine_shard_of(c->seg_id, pg, sh->node->nshards) != sh->idx ||
		    dsm_engine_page_info(sh->eng, c->seg_id, pg, &pi) || !pi.lost)
			continue;
		if (k < c->max)
			c->out[k++] = pg;
		c->answers++;
	}
	return (int)k;
}

static void ctl_one(struct dsm_shard_rt *sh, struct dsm_ctl *c)
{
	switch (c->kind) {
	case DSM_CTL_PAGE_INFO:
		c->rc = dsm_engine_page_info(sh->eng, c->seg_id, c->pgno, &c->info);
		break;
	case DSM_CTL_LOST:
		c->rc = ctl_lost(sh, c);
		break;
	case DSM_CTL_EVACUATE:
		c->rc = dsm_evac_start(sh, c->node, c->heir);
		break;
	default:
		c->rc = dsm_uffd_ctl(sh->node, c);
		break;
	}
	/* pairs with the acquire load in dsm_shard_ctl_call() */
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
}

int dsm_shard_poll(struct dsm_shard_rt *sh, uint64_t now)
{
	struct rte_mbuf *msgs[DSM_BURST];
	struct dsm_ctl *c;
	unsigned nb;

	while (rte_ring_sc_dequeue(sh->ctl, (void **)&c) == 0)
		ctl_one(sh, c);
	nb = rte_ring_sc_dequeue_burst(sh->rx, (void **)msgs, DSM_BURST, NULL);
	for (unsigned i = 0; i < nb; i++) {
		struct dsm_msg m;

		dsm_msg_from_chain(msgs[i], &m);
		if (m.type == DSM_INT_PEER_DOWN) {
			dsm_engine_peer_down(sh->eng, now, m.src, &sh->acts);
		} else if (m.type == DSM_INT_VIEW) {
			dsm_engine_set_view(sh->eng, now, m.epoch, m.token, m.pgno, &sh->acts);
		} else if (m.type == DSM_INT_FENCE) {
			dsm_engine_fence(sh->eng, now, &sh->acts);
		} else {
			sh->st.rx_msgs++;
			dsm_engine_rx(sh->eng, now, &m, &sh->acts);
		}
		dsm_shard_exec(sh, now);
		rte_pktmbuf_free(msgs[i]);
	}
	nb += (unsigned)dsm_evac_step(sh, now);
	if (now >= sh->next_timer_check) {
		sh->next_timer_check = now + DSM_TIMER_GRAIN_NS;
		if (dsm_engine_next_deadline(sh->eng) <= now) {
			dsm_engine_tick(sh->eng, now, &sh->acts);
			dsm_shard_exec(sh, now);
			nb++;
		}
	}
	return (int)nb;
}

/* Synchronous call into a shard from a control thread, with a deadline.
 * On timeout the request is abandoned to the shard (it frees nothing we
 * still use: c lives in rte memory and is leaked rather than raced). */
int dsm_shard_ctl_call(struct dsm_node *n, uint32_t shard, struct dsm_ctl *req,
		       uint32_t timeout_ms)
{
	struct dsm_ctl *c = rte_zmalloc(NULL, sizeof(*c), 0);
	uint64_t deadline = dsm_now_ns() + (uint64_t)timeout_ms * 1000000;
	int rc;

	if (!c)
		return -ENOMEM;
	*c = *req;
	c->done = 0;
	if (rte_ring_mp_enqueue(n->shards[shard].ctl, c)) {
		rte_free(c);
		return -EBUSY;
	}
	/* pairs with the release store in ctl_one() */
	while (!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE)) {
		if (dsm_now_ns() > deadline)
			return -ETIMEDOUT;
		rte_delay_us_sleep(50);
	}
	*req = *c;
	rc = c->rc;
	rte_free(c);
	return rc;
}

/* ---- queries for other threads (the workload supervisor, telemetry) ---- */

#define QUERY_TIMEOUT_MS 2000

/* A ctl call whose answer is an array (c->out, c->max entries): the array
 * lives in rte memory and, like the call itself, is abandoned to the shard
 * if the deadline passes (it may still write there); otherwise it is
 * copied to out.  Returns the shard's result (a count) or -errno. */
static int query(struct dsm_node *n, uint32_t shard, struct dsm_ctl *c, uint64_t *out)
{
	int rc;

	c->out = rte_zmalloc(NULL, (size_t)(c->max ? c->max : 1) * sizeof(*out), 0);
	if (!c->out)
		return -ENOMEM;
	rc = dsm_shard_ctl_call(n, shard, c, QUERY_TIMEOUT_MS);
	if (rc == -ETIMEDOUT || rc == -ENOMEM)
		return rc;                      /* abandoned with the call */
	if (rc > 0)
		memcpy(out, c->out, (size_t)rc * sizeof(*out));
	rte_free(c->out);
	return rc;
}

int dsm_node_held_pages(struct dsm_node *n, uint32_t seg_id, uint64_t *pgnos, uint32_t max)
{
	struct dsm_ctl c = { .kind = DSM_CTL_HELD, .seg_id = seg_id, .max = max };

	return n->ufront ? query(n, 0, &c, pgnos) : -ENOENT;
}

int dsm_node_pid_segments(struct dsm_node *n, int pid, uint32_t *seg_ids, uint32_t max)
{
	uint64_t ids[DSM_CFG_MAX_SEGMENTS];
	struct dsm_ctl c = { .kind = DSM_CTL_PID_SEGS, .pid = pid,
			     .max = max < DSM_CFG_MAX_SEGMENTS ? max : DSM_CFG_MAX_SEGMENTS };
	int rc = n->ufront ? query(n, 0, &c, ids) : -ENOENT;

	for (int i = 0; i < rc; i++)
		seg_ids[i] = (uint32_t)ids[i];
	return rc;
}

int dsm_node_lost_pages(struct dsm_node *n, uint32_t seg_id, uint64_t *pgnos, uint32_t max,
			uint64_t *total)
{
	uint32_t got = 0;

	*total = 0;
	for (uint32_t s = 0; s < n->nshards; s++) {
		struct dsm_ctl c = { .kind = DSM_CTL_LOST, .seg_id = seg_id, .max = max - got };
		int rc = query(n, s, &c, pgnos + got);

		if (rc < 0)
			return rc;
		got += (uint32_t)rc;
		*total += c.answers;
	}
	return (int)got;
}
