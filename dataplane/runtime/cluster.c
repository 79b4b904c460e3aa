/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Membership inside the dataplane (the config's cluster section).
 *
 * A control thread runs the membership agent (control/membership): lease,
 * views by compare-and-swap, fencing.  It never touches engine state.  What
 * it learns travels as events through an rte_ring to the main lcore, which
 *  - for a new view: stamps the new epoch on frames, resets the channel of
 *    every departed peer (fresh session: a written-off node's late frames
 *    are refused, and it is taught to reset too), and queues the view in
 *    band to every shard, behind the messages already received, where the
 *    engine applies it (dsm_engine_set_view: admission epochs, peer_down
 *    of the departed, lost pages);
 *  - for a fence (the lease could not be renewed in time): resets every
 *    channel and queues dsm_engine_fence to the shards, so the node serves
 *    nobody and drops every cached copy; the agent thread then rejoins with
 *    a new incarnation, and the view that admits it unfences the engines.
 *
 * With no etcd endpoint configured the first node on the machine starts a
 * single-member etcd on loopback (cluster.etcd_port, data under
 * cluster.state_dir) and stops it when it stops; the others find it there.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_log.h>

#include "etcd/etcd.h"
#include "etcd/local.h"
#include "membership/agent.h"
#include "workload/supervisor.h"
#include "runtime/node_internal.h"

enum cl_event_kind { CL_VIEW = 1, CL_FENCE };

struct cl_event {
	enum cl_event_kind kind;
	uint64_t epoch;
	dsm_nodeset_t members;       /* self only if our incarnation is in */
	dsm_nodeset_t departed;
	struct dsm_view view;        /* for the log line */
};

struct dsm_cluster {
	struct dsm_node *n;
	char endpoints[DSM_CFG_STR];
	char record[768];
	struct dsm_etcd_local etcd;  /* the embedded etcd, if we started it */
	bool own_etcd;
	struct dsm_agent agent;
	bool agent_started;
	pthread_t thread;
	bool thread_started;
	int stop;                    /* set by the main thread, read by the agent's */
	struct rte_ring *events;     /* struct cl_event *: agent -> main lcore */
	/* Published by the main lcore, read by the agent thread and telemetry
	 * (atomics; fence_applied is a release store that the agent's acquire
	 * load pairs with before it rejoins: the shards have the fence queued
	 * ahead of whatever view the rejoin brings). */
	uint64_t epoch, incarnation;
	int fenced, fence_applied, joined;
	uint64_t views, fences, rejoins, event_drops;
	struct dsm_supervisor *sup;  /* the workload supervisor, if running */
	dsm_nodeset_t members;       /* members of the applied view (written
				      * by the main lcore only) */
};

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A new incarnation: later than any earlier one of this node id. */
static uint64_t next_incarnation(uint64_t prev)
{
	uint64_t now = wall_ns();

	return now > prev ? now : prev + 1;
}

/* ------------------------------------------------------------ etcd */

static bool etcd_answers(const char *url)
{
	struct dsm_etcd *c = dsm_etcd_new(url, 500, NULL);
	struct dsm_etcd_kv kv = { 0 };
	int rc;

	if (!c)
		return false;
	rc = dsm_etcd_get(c, "/dsm/", &kv);
	dsm_etcd_kv_clear(&kv);
	dsm_etcd_free(c);
	return rc == 0 || rc == -ENOENT;
}

static int mkdir_p(const char *path)
{
	char buf[DSM_CFG_STR];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(buf, 0755) && errno != EEXIST ? -errno : 0;
}

/* Start the embedded etcd with its data in a fresh dir under state_dir. */
static int start_embedded(struct dsm_cluster *c)
{
	const struct dsm_cfg_cluster *cl = &c->n->cfg.cluster;
	char dir[DSM_CFG_STR + 16];
	int rc;

	snprintf(dir, sizeof(dir), "%s/etcd.XXXXXX", cl->state_dir);
	if (!mkdtemp(dir)) {
		rc = -errno;
		RTE_LOG(ERR, USER1, "cluster: cannot create %s: %s\n", dir, strerror(-rc));
		return rc;
	}
	rc = dsm_etcd_local_start(&c->etcd, dir, cl->etcd_port, 15000);
	if (rc) {
		RTE_LOG(ERR, USER1, "cluster: cannot start the embedded etcd at %s: %s "
			"(see %s/etcd.log)\n", c->endpoints, strerror(-rc), dir);
		return rc;
	}
	c->etcd.made_dir = true;     /* ours: removed when we stop it */
	c->own_etcd = true;
	printf("dsm-dataplane: node %u started the embedded etcd at %s (data %s)\n",
	       c->n->self, c->endpoints, dir);
	fflush(stdout);
	return 0;
}

/* The configured endpoints, or the embedded etcd: the one another node on
 * this machine started if it answers, else one we start.  Nodes starting
 * at the same moment take turns through a lock file in the state dir, so
 * exactly one of them starts it. */
static int find_etcd(struct dsm_cluster *c)
{
	const struct dsm_cfg_cluster *cl = &c->n->cfg.cluster;
	char lock[DSM_CFG_STR + 32];
	int rc, fd;

	if (cl->etcd[0]) {
		snprintf(c->endpoints, sizeof(c->endpoints), "%s", cl->etcd);
		return 0;
	}
	snprintf(c->endpoints, sizeof(c->endpoints), "http://127.0.0.1:%u", cl->etcd_port);
	rc = mkdir_p(cl->state_dir);
	snprintf(lock, sizeof(lock), "%s/etcd-%u.lock", cl->state_dir, cl->etcd_port);
	fd = rc ? -1 : open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX)) {
		rc = rc ? rc : -errno;
		RTE_LOG(ERR, USER1, "cluster: cannot lock %s: %s\n", lock, strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	rc = etcd_answers(c->endpoints) ? 0 : start_embedded(c);
	close(fd);                   /* releases the lock */
	return rc;
}

/* ------------------------------------------------- agent thread side */

static void post(struct dsm_cluster *c, const struct cl_event *ev)
{
	struct cl_event *e = malloc(sizeof(*e));

	if (e)
		*e = *ev;
	if (!e || rte_ring_enqueue(c->events, e)) {
		free(e);
		__atomic_fetch_add(&c->event_drops, 1, __ATOMIC_RELAXED);
		RTE_LOG(ERR, USER1, "cluster: membership event lost (no memory or ring full)\n");
	}
}

static void on_view(void *ctx, const struct dsm_view *old, const struct dsm_view *cur)
{
	struct dsm_cluster *c = ctx;
	struct dsm_member gone[DSM_VIEW_MAX];
	struct cl_event ev = { .kind = CL_VIEW, .epoch = cur->epoch, .view = *cur };
	uint32_t ngone = dsm_view_departed(old, cur, gone, DSM_VIEW_MAX);

	for (uint32_t i = 0; i < cur->n; i++)
		if (cur->m[i].node != c->n->self ||
		    cur->m[i].incarnation == c->agent.cfg.incarnation)
			ev.members |= (dsm_nodeset_t)1 << cur->m[i].node;
	for (uint32_t i = 0; i < ngone; i++)
		ev.departed |= (dsm_nodeset_t)1 << gone[i].node;
	post(c, &ev);
}

static void on_fenced(void *ctx)
{
	struct dsm_cluster *c = ctx;

	post(c, &(struct cl_event){ .kind = CL_FENCE });
}

/* After a fence has been applied by the dataplane: register again. */
static void maybe_rejoin(struct dsm_cluster *c)
{
	uint64_t inc;

	if (!c->agent.fenced || !__atomic_load_n(&c->fence_applied, __ATOMIC_ACQUIRE))
		return;
	inc = next_incarnation(c->agent.cfg.incarnation);
	if (dsm_agent_rejoin(&c->agent, inc) == 0) {
		__atomic_store_n(&c->fence_applied, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&c->incarnation, inc, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->rejoins, 1, __ATOMIC_RELAXED);
		RTE_LOG(NOTICE, USER1, "cluster: rejoined with incarnation %llu\n",
			(unsigned long long)inc);
	}
}

static void *agent_main(void *arg)
{
	struct dsm_cluster *c = arg;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		/* A step waits for a change (or the next renewal) for at
		 * most 200 ms, so a stop is seen that quickly; when etcd is
		 * unreachable it fails fast, and the pause keeps us from
		 * spinning while the agent counts the time towards fencing. */
		if (dsm_agent_step(&c->agent, 200) < 0) {
			struct timespec ts = { 0, 50 * 1000000 };

			nanosleep(&ts, NULL);
		}
		maybe_rejoin(c);
	}
	return NULL;
}

/* ------------------------------------------------- main lcore side */

static void notify_shards(struct dsm_node *n, const struct cl_event *ev)
{
	for (uint32_t s = 0; s < n->nshards; s++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(n->notice_pool);
		struct dsm_hdr *h;

		if (!m) {
			RTE_LOG(ERR, USER1, "shard %u: no mbuf for a membership notice\n", s);
			n->drops[DSM_DROP_NOBUF]++;
			continue;
		}
		h = dsm_mbuf_hdr(m);
		memset(h, 0, sizeof(*h));
		h->type = ev->kind == CL_VIEW ? DSM_INT_VIEW : DSM_INT_FENCE;
		h->src_node = n->self;
		h->epoch = ev->epoch;
		h->token = ev->members;
		h->pgno = ev->departed;
		if (rte_ring_mp_enqueue(n->shards[s].rx, m)) {
			n->drops[DSM_DROP_NOBUF]++;
			rte_pktmbuf_free(m);
		}
	}
}

static void print_view(struct dsm_cluster *c, const struct cl_event *ev, bool in)
{
	char list[DSM_VIEW_MAX * 4] = "";
	size_t off = 0;

	for (uint32_t i = 0; i < ev->view.n && off < sizeof(list) - 4; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%u", i ? "," : "",
					ev->view.m[i].node);
	printf("dsm-dataplane: node %u %s epoch %llu members [%s]\n", c->n->self,
	       in ? (c->joined ? "moved to" : "joined") : "is not in", (unsigned long long)ev->epoch,
	       list);
	fflush(stdout);
}

/* The runtime's copy of each segment's home follows the engine's rule
 * (dsm_engine_set_view): a departed home's segments go to the heir, and so
 * do ours if the view wrote us off.  Read by discovery (VMA_REQ answers)
 * and telemetry. */
static void rehome_segments(struct dsm_node *n, const struct dsm_cluster *c,
			    const struct cl_event *ev)
{
	dsm_nodeset_t moved;
	uint16_t heir = dsm_engine_heir(c->members, ev->members, ev->departed,
					n->self, &moved);

	if (heir == DSM_NODE_NONE)
		return;
	for (uint32_t i = 0; i < n->nsegs; i++) {
		struct dsm_seg_rt *s = &n->segs[i];

		if (!((moved >> s->d.home) & 1))
			continue;
		RTE_LOG(INFO, USER1, "segment %u '%s': home %u departed, node %u adopts it\n",
			s->d.seg_id, s->name, s->d.home, heir);
		s->d.home = heir;
	}
}

static void apply_view(struct dsm_cluster *c, const struct cl_event *ev)
{
	struct dsm_node *n = c->n;
	bool in = (ev->members >> n->self) & 1;
	/* Peers written off by this view; all of them if it leaves us out
	 * (they have written us off), unless a fence already did that. */
	dsm_nodeset_t gone = ev->departed | (c->members & ~ev->members);

	/* c->epoch is written only here, on this lcore. */
	if (ev->epoch <= c->epoch)
		return;
	if (!in && !__atomic_load_n(&c->fenced, __ATOMIC_RELAXED))
		gone = ~(dsm_nodeset_t)0;
	n->epoch = ev->epoch;
	rehome_segments(n, c, ev);
	/* The view goes to the shards before the channels are reset: a reset
	 * makes them write the peer off, which for a survivor must come after
	 * the view re-homed the departed peer's segments (or it would drop
	 * the copies the heir recovers from).  Frames of a departed peer
	 * queued behind the view are refused by the engine (not a member). */
	notify_shards(n, ev);
	for (uint32_t i = 0; i < n->npeers; i++) {
		uint16_t id = n->peer_list[i]->cfg->id;

		if ((gone >> id) & 1)
			dsm_io_peer_reset(n, id);
	}
	print_view(c, ev, in);
	__atomic_store_n(&c->epoch, ev->epoch, __ATOMIC_RELAXED);
	__atomic_store_n(&c->members, ev->members, __ATOMIC_RELAXED);
	__atomic_store_n(&c->fenced, !in, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->views, 1, __ATOMIC_RELAXED);
	if (in)
		c->joined = 1;
}

static void apply_fence(struct dsm_cluster *c, const struct cl_event *ev)
{
	struct dsm_node *n = c->n;

	for (uint32_t i = 0; i < n->npeers; i++)
		dsm_io_peer_reset(n, n->peer_list[i]->cfg->id);
	notify_shards(n, ev);
	printf("dsm-dataplane: node %u fenced: lease not renewed in time; cached copies dropped\n",
	       n->self);
	fflush(stdout);
	__atomic_store_n(&c->fenced, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->fences, 1, __ATOMIC_RELAXED);
	/* Pairs with the acquire load in maybe_rejoin(). */
	__atomic_store_n(&c->fence_applied, 1, __ATOMIC_RELEASE);
}

int dsm_cluster_poll(struct dsm_node *n)
{
	struct dsm_cluster *c = n->cluster;
	struct cl_event *ev;
	int work = 0;

	if (!c)
		return 0;
	while (rte_ring_dequeue(c->events, (void **)&ev) == 0) {
		if (ev->kind == CL_VIEW)
			apply_view(c, ev);
		else
			apply_fence(c, ev);
		free(ev);
		work++;
	}
	return work;
}

/* ------------------------------------------------------- lifecycle */

static void make_record(struct dsm_cluster *c)
{
	const struct dsm_config *cfg = &c->n->cfg;
	char host[HOST_NAME_MAX + 1] = "";

	gethostname(host, sizeof(host) - 1);
	snprintf(c->record, sizeof(c->record),
		 "\"host\":\"%s\",\"pid\":%d,\"socket\":\"%s\",\"telemetry\":\"%s/dpdk_telemetry.v2\","
		 "\"started_ms\":%llu",
		 host, (int)getpid(), cfg->socket_path, rte_eal_get_runtime_dir(),
		 (unsigned long long)(wall_ns() / 1000000));
}

/* The supervisor's view of this node (called on its thread). */
static int hook_pid_segments(void *ctx, int pid, uint32_t *seg_ids, uint32_t max)
{
	return dsm_node_pid_segments(ctx, pid, seg_ids, max);
}

static int hook_held_pages(void *ctx, uint32_t seg_id, uint64_t *pgnos, uint32_t max)
{
	return dsm_node_held_pages(ctx, seg_id, pgnos, max);
}

/* Workloads need the control socket: that is how they reach the node. */
static int start_supervisor(struct dsm_cluster *c)
{
	const struct dsm_config *cfg = &c->n->cfg;
	struct dsm_supervisor_cfg sc = {
		.endpoints = c->endpoints, .cluster = cfg->cluster.name, .node = c->n->self,
		.socket_path = cfg->socket_path, .state_dir = cfg->cluster.state_dir,
		.hooks = { .pid_segments = hook_pid_segments,
			   .held_pages = hook_held_pages, .ctx = c->n },
	};

	if (!cfg->cluster.workloads)
		return 0;
	if (!cfg->socket_path[0]) {
		RTE_LOG(WARNING, USER1, "cluster: no node.socket, so no workloads run here "
			"(cluster.workloads: false silences this)\n");
		return 0;
	}
	return dsm_supervisor_start(&sc, &c->sup);
}

int dsm_cluster_start(struct dsm_node *n)
{
	const struct dsm_cfg_cluster *cl = &n->cfg.cluster;
	struct dsm_cluster *c;
	struct dsm_agent_cfg ac = { .cluster = cl->name, .node = n->self,
				    .ttl_s = cl->lease_ttl_s };
	struct dsm_agent_ops ops = { .on_view = on_view, .on_fenced = on_fenced };
	int rc;

	if (!cl->enabled)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->n = n;
	n->cluster = c;
	c->events = rte_ring_create("dsm_cluster_ev", 256, (int)rte_socket_id(),
				    RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!c->events)
		return -ENOMEM;
	rc = find_etcd(c);
	if (rc)
		return rc;
	make_record(c);
	ac.endpoints = c->endpoints;
	ac.incarnation = next_incarnation(0);
	ac.record = c->record;
	ops.ctx = c;
	c->incarnation = ac.incarnation;
	rc = dsm_agent_start(&c->agent, &ac, &ops);
	if (rc) {
		RTE_LOG(ERR, USER1, "cluster: cannot join %s at %s: %s (%s)\n", cl->name,
			c->endpoints, strerror(-rc), c->agent.etcd ? "" : "etcd unreachable");
		return rc;
	}
	c->agent_started = true;
	rc = pthread_create(&c->thread, NULL, agent_main, c);
	if (rc)
		return -rc;
	c->thread_started = true;
	rc = start_supervisor(c);
	if (rc)
		RTE_LOG(ERR, USER1, "cluster: cannot start the workload supervisor: %s\n",
			strerror(-rc));
	return rc;
}

void dsm_cluster_stop(struct dsm_node *n)
{
	struct dsm_cluster *c = n->cluster;
	struct cl_event *ev;

	if (!c)
		return;
	/* Workloads first: they need the node to reach a safe point. */
	dsm_supervisor_stop(c->sup);
	__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
	if (c->thread_started)
		pthread_join(c->thread, NULL);
	/* Leave, so the others move on now rather than after the TTL. */
	if (c->agent_started)
		dsm_agent_leave(&c->agent);
	if (c->own_etcd)
		dsm_etcd_local_stop(&c->etcd, false);
	while (c->events && rte_ring_dequeue(c->events, (void **)&ev) == 0)
		free(ev);
	rte_ring_free(c->events);
	free(c);
	n->cluster = NULL;
}

void dsm_cluster_info(const struct dsm_node *n, struct dsm_cluster_info *out)
{
	const struct dsm_cluster *c = n->cluster;

	memset(out, 0, sizeof(*out));
	if (!c)
		return;
	out->enabled = true;
	out->epoch = __atomic_load_n(&c->epoch, __ATOMIC_RELAXED);
	out->incarnation = __atomic_load_n(&c->incarnation, __ATOMIC_RELAXED);
	out->fenced = __atomic_load_n(&c->fenced, __ATOMIC_RELAXED);
	out->members = __atomic_load_n(&c->members, __ATOMIC_RELAXED);
	out->views = __atomic_load_n(&c->views, __ATOMIC_RELAXED);
	out->fences = __atomic_load_n(&c->fences, __ATOMIC_RELAXED);
	out->rejoins = __atomic_load_n(&c->rejoins, __ATOMIC_RELAXED);
	out->event_drops = __atomic_load_n(&c->event_drops, __ATOMIC_RELAXED);
	out->own_etcd = c->own_etcd;
	snprintf(out->endpoints, sizeof(out->endpoints), "%s", c->endpoints);
}
