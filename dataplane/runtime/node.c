/* SPDX-License-Identifier: BSD-3-Clause */
/* Node lifecycle, the lcore loops and the idle policy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>

#include "runtime/node_internal.h"

/* Idle policy for DSM_IDLE_SLEEP: after this many empty polls, sleep; the
 * sleep doubles up to the cap (or the next deadline).  Sleeping and waking
 * across vCPUs costs ~6 us here, so a short spin first keeps bursts fast. */
#define IDLE_SPINS      256
#define IDLE_MIN_NS     5000ull
#define IDLE_MAX_NS     200000ull

uint64_t dsm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint16_t dsm_node_self(const struct dsm_node *n) { return n->self; }
uint64_t dsm_node_epoch(const struct dsm_node *n) { return n->epoch; }
const struct dsm_config *dsm_node_config(const struct dsm_node *n) { return &n->cfg; }

void dsm_node_stop(struct dsm_node *n)
{
	n->stop = 1;
}

struct idle {
	uint32_t empty;
	uint64_t sleep_ns;
};

/* deadline_fn gives the earliest timer; it scans tables, so it is only
 * called when the loop is about to sleep. */
static void idle_step(struct dsm_node *n, struct idle *st, int work, uint64_t now,
		      uint64_t (*deadline_fn)(void *), void *arg)
{
	struct timespec ts;
	uint64_t ns, next_deadline;

	if (work || n->params.idle == DSM_IDLE_POLL) {
		st->empty = 0;
		st->sleep_ns = IDLE_MIN_NS;
		return;
	}
	if (++st->empty < IDLE_SPINS)
		return;
	next_deadline = deadline_fn(arg);
	ns = st->sleep_ns;
	if (next_deadline > now && next_deadline - now < ns)
		ns = next_deadline - now;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)ns;
	nanosleep(&ts, NULL);
	st->sleep_ns = RTE_MIN(st->sleep_ns * 2, IDLE_MAX_NS);
}

static uint64_t shard_deadline(void *arg)
{
	return dsm_engine_next_deadline(((struct dsm_shard_rt *)arg)->eng);
}

static int worker_main(void *arg)
{
	struct dsm_shard_rt *sh = arg;
	struct idle st = { .sleep_ns = IDLE_MIN_NS };

	while (!sh->node->stop) {
		uint64_t now = dsm_now_ns();
		int work = dsm_shard_poll(sh, now);

		idle_step(sh->node, &st, work, now, shard_deadline, sh);
	}
	return 0;
}

static uint64_t main_deadline(void *arg)
{
	struct dsm_node *n = arg;
	uint64_t d = dsm_io_next_deadline(n);

	for (uint32_t s = 0; s < n->nshards; s++)
		if (n->shards[s].inline_main)
			d = RTE_MIN(d, dsm_engine_next_deadline(n->shards[s].eng));
	return d;
}

int dsm_node_run(struct dsm_node *n)
{
	struct idle st = { .sleep_ns = IDLE_MIN_NS };

	for (uint32_t s = 0; s < n->nshards; s++)
		if (!n->shards[s].inline_main)
			rte_eal_remote_launch(worker_main, &n->shards[s], n->shards[s].lcore);
	while (!n->stop) {
		uint64_t now = dsm_now_ns();
		int work = dsm_io_poll(n, now);

		for (uint32_t s = 0; s < n->nshards; s++)
			if (n->shards[s].inline_main)
				work += dsm_shard_poll(&n->shards[s], now);
		work += dsm_kmod_poll(n, now);
		work += dsm_uffd_poll(n, now);
		work += dsm_cluster_poll(n);
		if (n->params.hooks.poll)
			work += n->params.hooks.poll(n->params.hooks.ctx, n, now);
		/* Frames produced by inline shards and hooks leave now, not
		 * after the next receive pass. */
		work += dsm_io_send_pending(n, now);
		idle_step(n, &st, work, now, main_deadline, n);
	}
	rte_eal_mp_wait_lcore();
	return 0;
}

static int shard_init(struct dsm_node *n, uint32_t idx, unsigned lcore, bool inline_main)
{
	struct dsm_shard_rt *sh = &n->shards[idx];
	struct dsm_engine_cfg ec;
	char name[RTE_RING_NAMESIZE];
	int socket = (int)rte_lcore_to_socket_id(lcore);

	dsm_engine_cfg_default(&ec);
	ec.self = n->self;
	ec.shard = idx;
	ec.nshards = n->nshards;
	ec.epoch = n->epoch;
	ec.req_timeout_ns = n->cfg.request_timeout_ns;
	ec.home_timeout_ns = n->cfg.home_timeout_ns;
	ec.retry_base_ns = n->cfg.retry_base_ns;
	ec.max_retries = n->cfg.max_retries;
	ec.retry_max_ns = n->cfg.retry_max_ns;
	sh->idx = idx;
	sh->lcore = lcore;
	sh->inline_main = inline_main;
	sh->node = n;
	sh->eng = dsm_engine_create(&ec);
	snprintf(name, sizeof(name), "dsm_rx_%u", idx);
	sh->rx = rte_ring_create(name, DSM_SHARD_RING, socket, RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "dsm_tx_%u", idx);
	sh->tx = rte_ring_create(name, DSM_SHARD_RING, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "dsm_ctl_%u", idx);
	sh->ctl = rte_ring_create(name, 256, socket, RING_F_SC_DEQ);
	sh->frames = rte_malloc_socket("dsm_frames", DSM_MAX_MSG_FRAMES * sizeof(*sh->frames),
				       0, socket);
	if (!sh->eng || !sh->rx || !sh->tx || !sh->ctl || !sh->frames) {
		RTE_LOG(ERR, USER1, "shard %u: cannot allocate engine or rings\n", idx);
		return -ENOMEM;
	}
	return 0;
}

static int shards_init(struct dsm_node *n)
{
	unsigned lcore, idx = 0;
	unsigned workers = rte_lcore_count() - 1;

	n->nshards = workers ? RTE_MIN(workers, (unsigned)DSM_MAX_SHARDS) : 1;
	if (!workers)
		return shard_init(n, 0, rte_get_main_lcore(), true);
	RTE_LCORE_FOREACH_WORKER(lcore) {
		int rc;

		if (idx == n->nshards)
			break;
		rc = shard_init(n, idx++, lcore, false);
		if (rc)
			return rc;
	}
	return 0;
}

/* The kernel's backing goes with dsm_kmod_fini (unmapped, unregistered). */
static void seg_free(struct dsm_seg_rt *s)
{
	if (!s->kernel_backed)
		rte_free(s->base);
	s->base = NULL;
}

int dsm_node_add_segment(struct dsm_node *n, const struct dsm_segment_desc *d,
			 const char *name)
{
	struct dsm_seg_rt *s;
	uint64_t bytes = d->npages * d->page_size;
	int rc;

	if (dsm_node_seg(n, d->seg_id))
		return -EEXIST;
	if (n->nsegs == DSM_CFG_MAX_SEGMENTS)
		return -ENOSPC;
	s = &n->segs[n->nsegs];
	memset(s, 0, sizeof(*s));
	s->d = *d;
	/* With the kernel front end, 4 KiB segments live in the kernel's
	 * backing (the applications map it).  Otherwise on hugepages, on
	 * the main lcore's NUMA node, page aligned so that a huge-page
	 * segment is one huge page per coherence unit. */
	if (!n->kfront || dsm_kmod_add_segment(n, s) == -ENOTSUP)
		s->base = rte_zmalloc_socket("dsm_seg", bytes, d->page_size,
					     (int)rte_socket_id());
	if (!s->base) {
		RTE_LOG(ERR, USER1, "segment %u: cannot allocate %lu bytes of backing\n",
			d->seg_id, (unsigned long)bytes);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n->nshards; i++) {
		rc = dsm_engine_add_segment(n->shards[i].eng, d);
		if (rc) {
			seg_free(s);
			return rc;
		}
	}
	rc = dsm_uffd_add_segment(n, s);
	if (rc) {
		seg_free(s);
		return rc;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	rc = rte_hash_add_key_data(n->seg_index, &d->seg_id, (void *)(uintptr_t)n->nsegs);
	if (rc) {
		seg_free(s);
		return rc;
	}
	n->nsegs++;
	return 0;
}

static int add_config_segments(struct dsm_node *n)
{
	for (uint32_t i = 0; i < n->cfg.nsegments; i++) {
		const struct dsm_cfg_segment *cs = &n->cfg.segments[i];
		struct dsm_segment_desc d = {
			.seg_id = cs->id, .home = cs->home, .prot = cs->prot,
			.page_size = cs->page_size, .npages = cs->size / cs->page_size,
		};
		int rc = dsm_node_add_segment(n, &d, cs->name);

		if (rc)
			return rc;
	}
	return 0;
}

static int node_alloc(struct dsm_node *n)
{
	struct rte_hash_parameters hp = {
		.name = "dsm_segs", .entries = DSM_CFG_MAX_SEGMENTS * 2,
		.key_len = sizeof(uint32_t), .hash_func = rte_jhash,
		.socket_id = (int)rte_socket_id(),
	};

	n->pool = rte_pktmbuf_pool_create("dsm_mbufs", n->cfg.mbufs, 256,
					  RTE_ALIGN(sizeof(struct dsm_mbuf_priv),
						    RTE_MBUF_PRIV_ALIGN),
					  DSM_MBUF_DATA_ROOM, (int)rte_socket_id());
	n->notice_pool = rte_pktmbuf_pool_create("dsm_notices", 1023, 0,
						 RTE_ALIGN(sizeof(struct dsm_mbuf_priv),
							   RTE_MBUF_PRIV_ALIGN),
						 0, (int)rte_socket_id());
	n->seg_index = rte_hash_create(&hp);
	n->frames = rte_malloc("dsm_frames", DSM_MAX_MSG_FRAMES * sizeof(*n->frames), 0);
	if (!n->pool || !n->notice_pool || !n->seg_index || !n->frames) {
		RTE_LOG(ERR, USER1, "cannot allocate mbuf pool (%u mbufs) or segment index: %s\n",
			n->cfg.mbufs, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	return 0;
}

int dsm_node_create(const struct dsm_node_params *p, struct dsm_node **out)
{
	struct dsm_node *n = calloc(1, sizeof(*n));
	int rc;

	if (!n)
		return -ENOMEM;
	n->params = *p;
	n->cfg = *p->cfg;
	n->self = n->cfg.node_id;
	/* With membership the epoch is etcd's, from the first view on (epochs
	 * there start at 1); until then every node is admitted at 0. */
	n->epoch = n->cfg.cluster.enabled ? 0 : n->cfg.epoch;
	n->fault_rng = n->cfg.fault_seed ^ n->self;
	rc = node_alloc(n);
	if (!rc)
		rc = dsm_ports_init(n);
	if (!rc)
		rc = dsm_peers_init(n);
	if (!rc)
		rc = shards_init(n);
	if (!rc)
		rc = dsm_kmod_init(n);
	if (!rc)
		rc = dsm_uffd_init(n);
	if (!rc && p->add_config_segments)
		rc = add_config_segments(n);
	if (!rc)
		rc = dsm_uffd_start(n);
	if (!rc)
		rc = dsm_telemetry_init(n);
	if (!rc)
		rc = dsm_cluster_start(n);
	if (rc) {
		dsm_node_destroy(n);
		return rc;
	}
	*out = n;
	return 0;
}

static void shards_fini(struct dsm_node *n)
{
	for (uint32_t s = 0; s < n->nshards; s++) {
		struct dsm_shard_rt *sh = &n->shards[s];
		void *obj;

		while (sh->rx && rte_ring_dequeue(sh->rx, &obj) == 0)
			rte_pktmbuf_free(obj);
		while (sh->tx && rte_ring_dequeue(sh->tx, &obj) == 0)
			rte_pktmbuf_free(obj);
		/* Pending control calls belong to their (timed-out) callers. */
		rte_ring_free(sh->rx);
		rte_ring_free(sh->tx);
		rte_ring_free(sh->ctl);
		rte_free(sh->frames);
		dsm_engine_destroy(sh->eng);
	}
	n->nshards = 0;
}

void dsm_node_destroy(struct dsm_node *n)
{
	if (!n)
		return;
	dsm_cluster_stop(n);
	dsm_peers_fini(n);
	dsm_ports_fini(n);
	dsm_uffd_fini(n);
	dsm_kmod_fini(n);
	shards_fini(n);
	for (uint32_t i = 0; i < n->nsegs; i++)
		seg_free(&n->segs[i]);
	rte_hash_free(n->seg_index);
	rte_free(n->frames);
	rte_mempool_free(n->notice_pool);
	rte_mempool_free(n->pool);
	free(n);
}

int dsm_node_local(struct dsm_node *n, uint32_t seg_id, uint64_t pgno,
		   enum dsm_intent intent, uint64_t user_data, uint64_t now)
{
	struct dsm_shard_rt *sh = &n->shards[0];
	int rc;

	if (n->nshards != 1 || !sh->inline_main)
		return -EXDEV;
	rc = dsm_engine_local(sh->eng, now, seg_id, pgno, intent, user_data, &sh->acts);
	dsm_shard_exec(sh, now);
	return rc;
}

int dsm_node_send(struct dsm_node *n, const struct dsm_msg *m, const void *payload)
{
	uint32_t nf;
	int rc = dsm_build_frames(n, m, payload, n->frames, DSM_MAX_MSG_FRAMES, &nf);

	if (rc)
		return rc;
	dsm_io_send_frames(n, n->frames, nf, dsm_now_ns());
	return 0;
}

int dsm_node_xmit_raw(struct dsm_node *n, uint16_t dst, const void *frame, uint32_t len)
{
	struct dsm_peer_rt *p = dst < DSM_MAX_NODES ? n->peers[dst] : NULL;
	struct rte_mbuf *m;
	char *buf;

	if (!p)
		return -ENOENT;
	m = rte_pktmbuf_alloc(n->pool);
	if (!m)
		return -ENOBUFS;
	buf = rte_pktmbuf_append(m, (uint16_t)len);
	if (!buf || len > UINT16_MAX) {
		rte_pktmbuf_free(m);
		return -E2BIG;
	}
	memcpy(buf, frame, len);
	dsm_port_xmit(p->port, m);
	dsm_port_flush(p->port);
	return 0;
}

int dsm_node_peer_addr(struct dsm_node *n, uint16_t dst, struct dsm_addr *a,
		       uint32_t *session, uint32_t *peer_session)
{
	struct dsm_peer_rt *p = dst < DSM_MAX_NODES ? n->peers[dst] : NULL;

	if (!p)
		return -ENOENT;
	*a = p->addr;
	*session = p->my_session;
	*peer_session = p->their_session;
	return 0;
}
