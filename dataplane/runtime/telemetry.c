/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK telemetry commands, so `dpdk-telemetry.py -f <file-prefix>` can query
 * a running node:
 *   /dsm/stats              node-wide counters and drops by reason
 *   /dsm/peers              per-peer channel and link counters
 *   /dsm/segments           segment table
 *   /dsm/page,<seg>,<pgno>  one page's directory and cache entry
 *   /dsm/membership         epoch, incarnation, fenced, members, etcd
 *   /dsm/segstats           per segment: faults, remote faults, pages in/out, lost
 *   /dsm/lost               lost pages of the segments homed here
 *   /dsm/evacuate,<node>    start copying node's pages here (evacuate.c)
 *   /dsm/evacuation         that job's progress
 * Callbacks run on the telemetry thread; they read counters (untorn 64-bit
 * loads) and ask shards for page entries by message, never by locking.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <rte_telemetry.h>

#include "runtime/node_internal.h"
#include "runtime/stats.h"

static struct dsm_node *tel_node;

static void add_fields(struct rte_tel_data *d, const char *prefix,
		       const struct dsm_stat_field *f, const uint64_t *v)
{
	char name[RTE_TEL_MAX_STRING_LEN];

	for (unsigned i = 0; f[i].name; i++) {
		snprintf(name, sizeof(name), "%s%s", prefix, f[i].name);
		rte_tel_data_add_dict_u64(d, name, v[i]);
	}
}

/* Fault service time percentiles, in nanoseconds. */
static void add_latency(struct rte_tel_data *d, const char *prefix,
			const struct dsm_uf_hist *h)
{
	static const struct { const char *name; double pct; } p[] = {
		{ "p50_ns", 50 }, { "p99_ns", 99 }, { "p999_ns", 99.9 },
	};
	char name[RTE_TEL_MAX_STRING_LEN];

	snprintf(name, sizeof(name), "%s_faults", prefix);
	rte_tel_data_add_dict_u64(d, name, h->n);
	for (unsigned i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		snprintf(name, sizeof(name), "%s_%s", prefix, p[i].name);
		rte_tel_data_add_dict_u64(d, name, dsm_uf_hist_pct(h, p[i].pct));
	}
}

static int cmd_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dsm_node *n = tel_node;
	struct dsm_totals t;
	char name[RTE_TEL_MAX_STRING_LEN];

	(void)cmd;
	(void)params;
	dsm_stats_totals(n, &t);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "node", n->self);
	rte_tel_data_add_dict_u64(d, "epoch", n->epoch);
	rte_tel_data_add_dict_u64(d, "shards", n->nshards);
	rte_tel_data_add_dict_u64(d, "vma_served", n->vma_served);
	add_fields(d, "", dsm_engine_fields, t.engine);
	add_fields(d, "shard_", dsm_shard_fields, t.shard);
	add_fields(d, "chan_", dsm_chan_fields, t.chan);
	add_fields(d, "peer_", dsm_peer_fields, t.peer);
	if (n->kfront) {
		uint64_t kv[DSM_STATS_MAX] = { 0 };

		dsm_stats_sum(dsm_kfront_fields, &n->kfront->st, kv);
		add_fields(d, "kmod_", dsm_kfront_fields, kv);
	}
	if (n->ufront) {
		uint64_t uv[DSM_STATS_MAX] = { 0 };

		dsm_stats_sum(dsm_ufront_fields, &n->ufront->st, uv);
		add_fields(d, "uffd_", dsm_ufront_fields, uv);
		add_latency(d, "uffd_remote", &n->ufront->lat_remote);
		add_latency(d, "uffd_local", &n->ufront->lat_local);
	}
	if (n->control) {
		uint64_t req, err, bad, conns;

		dsm_control_counters(n->control, &req, &err, &bad, &conns);
		rte_tel_data_add_dict_u64(d, "ctl_requests", req);
		rte_tel_data_add_dict_u64(d, "ctl_errors", err);
		rte_tel_data_add_dict_u64(d, "ctl_malformed", bad);
		rte_tel_data_add_dict_u64(d, "ctl_connections", conns);
	}
	rte_tel_data_add_dict_u64(d, "drops", t.drops);
	rte_tel_data_add_dict_u64(d, "fault_dropped", n->fault_dropped);
	{
		uint64_t rx = 0, tx = 0, txd = 0;

		for (uint32_t i = 0; i < n->nports; i++) {
			rx += n->ports[i].rx_frames;
			tx += n->ports[i].tx_frames;
			txd += n->ports[i].tx_dropped;
		}
		rte_tel_data_add_dict_u64(d, "port_rx_frames", rx);
		rte_tel_data_add_dict_u64(d, "port_tx_frames", tx);
		rte_tel_data_add_dict_u64(d, "port_tx_dropped", txd);
	}
	rte_tel_data_add_dict_u64(d, "fault_duplicated", n->fault_duplicated);
	for (unsigned i = 1; i < DSM_DROP__COUNT; i++) {
		snprintf(name, sizeof(name), "drop_%s", dsm_drop_name(i));
		rte_tel_data_add_dict_u64(d, name, n->drops[i]);
	}
	return 0;
}

static int cmd_peers(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dsm_node *n = tel_node;
	char name[16];

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (uint32_t id = 1; id < DSM_MAX_NODES; id++) {
		struct dsm_peer_rt *p = n->peers[id];
		struct rte_tel_data *c;
		uint64_t v[DSM_STATS_MAX] = { 0 };

		if (!p || !(c = rte_tel_data_alloc()))
			continue;
		rte_tel_data_start_dict(c);
		rte_tel_data_add_dict_u64(c, "port", p->port->port_id);
		rte_tel_data_add_dict_u64(c, "in_flight", dsm_chan_in_flight(&p->chan));
		rte_tel_data_add_dict_u64(c, "session_known", p->their_session != 0);
		dsm_stats_sum(dsm_peer_fields, &p->st, v);
		add_fields(c, "", dsm_peer_fields, v);
		memset(v, 0, sizeof(v));
		dsm_stats_sum(dsm_chan_fields, &p->chan.stats, v);
		add_fields(c, "chan_", dsm_chan_fields, v);
		snprintf(name, sizeof(name), "%u", id);
		rte_tel_data_add_dict_container(d, name, c, 0);
	}
	return 0;
}

static int cmd_segments(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dsm_node *n = tel_node;

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (uint32_t i = 0; i < n->nsegs; i++) {
		const struct dsm_seg_rt *s = &n->segs[i];
		struct rte_tel_data *c = rte_tel_data_alloc();

		if (!c)
			continue;
		rte_tel_data_start_dict(c);
		rte_tel_data_add_dict_u64(c, "id", s->d.seg_id);
		rte_tel_data_add_dict_u64(c, "home", s->d.home);
		rte_tel_data_add_dict_u64(c, "size", s->d.npages * s->d.page_size);
		rte_tel_data_add_dict_u64(c, "page_size", s->d.page_size);
		rte_tel_data_add_dict_u64(c, "pages", s->d.npages);
		rte_tel_data_add_dict_string(c, "prot",
			(s->d.prot & DSM_PROT_WRITE) ? "rw" : "r");
		rte_tel_data_add_dict_container(d, s->name, c, 0);
	}
	return 0;
}

static const char *const cache_names[] = { "invalid", "shared", "exclusive" };
static const char *const dir_names[] = { "unowned", "shared", "exclusive" };

static int cmd_page(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dsm_node *n = tel_node;
	struct dsm_ctl c = { .kind = DSM_CTL_PAGE_INFO };
	unsigned long seg;
	unsigned long long pgno;
	char tail;
	int rc;

	(void)cmd;
	if (!params || sscanf(params, "%lu,%llu%c", &seg, &pgno, &tail) != 2)
		return -EINVAL; /* telemetry answers null: usage is in the help */
	c.seg_id = (uint32_t)seg;
	c.pgno = pgno;
	rc = dsm_shard_ctl_call(n, dsm_engine_shard_of(c.seg_id, pgno, n->nshards), &c, 200);
	rte_tel_data_start_dict(d);
	if (rc) {
		rte_tel_data_add_dict_string(d, "error", strerror(-rc));
		return 0;
	}
	rte_tel_data_add_dict_u64(d, "seg", c.seg_id);
	rte_tel_data_add_dict_u64(d, "pgno", pgno);
	rte_tel_data_add_dict_u64(d, "is_home", c.info.is_home);
	if (c.info.is_home) {
		rte_tel_data_add_dict_string(d, "dir_state", dir_names[c.info.dir_state % 3]);
		rte_tel_data_add_dict_u64(d, "owner", c.info.owner);
		rte_tel_data_add_dict_u64(d, "sharers", c.info.sharers);
		rte_tel_data_add_dict_u64(d, "version", c.info.version);
		rte_tel_data_add_dict_u64(d, "written", c.info.written);
		rte_tel_data_add_dict_u64(d, "busy", c.info.busy);
		rte_tel_data_add_dict_u64(d, "lost", c.info.lost);
		rte_tel_data_add_dict_u64(d, "recovering", c.info.recovering);
	}
	rte_tel_data_add_dict_string(d, "cache_state", cache_names[c.info.cache_state % 3]);
	rte_tel_data_add_dict_u64(d, "cache_version", c.info.cache_version);
	rte_tel_data_add_dict_u64(d, "pending", c.info.pending);
	rte_tel_data_add_dict_u64(d, "waiters", c.info.waiters);
	return 0;
}

static int cmd_membership(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dsm_cluster_info ci;
	struct rte_tel_data *members = rte_tel_data_alloc();

	(void)cmd;
	(void)params;
	if (!members)
		return -ENOMEM;
	dsm_cluster_info(tel_node, &ci);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "node", tel_node->self);
	rte_tel_data_add_dict_u64(d, "enabled", ci.enabled);
	rte_tel_data_add_dict_u64(d, "epoch", ci.enabled ? ci.epoch : tel_node->epoch);
	rte_tel_data_add_dict_u64(d, "incarnation", ci.incarnation);
	rte_tel_data_add_dict_u64(d, "fenced", ci.fenced);
	rte_tel_data_add_dict_u64(d, "views", ci.views);
	rte_tel_data_add_dict_u64(d, "fences", ci.fences);
	rte_tel_data_add_dict_u64(d, "rejoins", ci.rejoins);
	rte_tel_data_add_dict_u64(d, "event_drops", ci.event_drops);
	rte_tel_data_add_dict_u64(d, "own_etcd", ci.own_etcd);
	rte_tel_data_add_dict_string(d, "etcd", ci.endpoints);
	rte_tel_data_start_array(members, RTE_TEL_INT_VAL);
	for (unsigned id = 1; id < DSM_MAX_NODES; id++)
		if ((ci.members >> id) & 1)
			rte_tel_data_add_array_int(members, (int)id);
	rte_tel_data_add_dict_container(d, "members", members, 0);
	return 0;
}

#define LOST_LIST_MAX 256

static uint64_t seg_lost(struct dsm_node *n, const struct dsm_seg_rt *s)
{
	uint64_t total = 0, pg[1];

	if (s->d.home == n->self)
		dsm_node_lost_pages(n, s->d.seg_id, pg, 0, &total);
	return total;
}

static int cmd_segstats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dsm_node *n = tel_node;

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (uint32_t i = 0; i < n->nsegs; i++) {
		const struct dsm_seg_rt *s = &n->segs[i];
		const struct dsm_ufront_seg *us = n->ufront ?
			dsm_ufront_seg(n->ufront, s->d.seg_id) : NULL;
		struct rte_tel_data *e = rte_tel_data_alloc();
		char key[16];

		if (!e)
			return -ENOMEM;
		rte_tel_data_start_dict(e);
		rte_tel_data_add_dict_string(e, "name", s->name);
		rte_tel_data_add_dict_u64(e, "home", s->d.home);
		rte_tel_data_add_dict_u64(e, "faults", us ? us->faults : 0);
		rte_tel_data_add_dict_u64(e, "remote", us ? us->remote : 0);
		rte_tel_data_add_dict_u64(e, "pages_in",
					  __atomic_load_n(&s->pages_in, __ATOMIC_RELAXED));
		rte_tel_data_add_dict_u64(e, "pages_out",
					  __atomic_load_n(&s->pages_out, __ATOMIC_RELAXED));
		rte_tel_data_add_dict_u64(e, "lost", seg_lost(n, s));
		snprintf(key, sizeof(key), "%u", s->d.seg_id);
		rte_tel_data_add_dict_container(d, key, e, 0);
	}
	return 0;
}

static int cmd_lost(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dsm_node *n = tel_node;
	struct rte_tel_data *list = rte_tel_data_alloc();
	uint64_t pg[LOST_LIST_MAX], all = 0;
	uint32_t listed = 0;

	(void)cmd;
	(void)params;
	if (!list)
		return -ENOMEM;
	rte_tel_data_start_array(list, RTE_TEL_STRING_VAL);
	for (uint32_t i = 0; i < n->nsegs; i++) {
		const struct dsm_seg_rt *s = &n->segs[i];
		uint64_t total = 0;
		int k;

		if (s->d.home != n->self)
			continue;
		k = dsm_node_lost_pages(n, s->d.seg_id, pg, LOST_LIST_MAX - listed, &total);
		for (int j = 0; j < k; j++) {
			char item[40];

			snprintf(item, sizeof(item), "%u:%lu", s->d.seg_id, (unsigned long)pg[j]);
			rte_tel_data_add_array_string(list, item);
		}
		listed += k > 0 ? (uint32_t)k : 0;
		all += total;
	}
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "lost_total", all);
	rte_tel_data_add_dict_container(d, "pages", list, 0);
	return 0;
}

/* /dsm/evacuate,<node>: errors are answered as {"error": ...}, so that
 * dsmctl can say why (a null answer only says the parameters were bad). */
static int cmd_evacuate(const char *cmd, const char *params, struct rte_tel_data *d)
{
	static const struct { int rc; const char *why; } why[] = {
		{ -ELOOP, "a node does not evacuate itself" },
		{ -ENOENT, "that node is not in this node's view" },
		{ -EPERM, "this node is fenced" },
	};
	unsigned long node;
	bool heir = false;
	char tail;
	int rc;

	(void)cmd;
	if (!params || sscanf(params, "%lu%c", &node, &tail) != 1 || node >= DSM_MAX_NODES)
		return -EINVAL;
	rc = dsm_node_evacuate(tel_node, (uint16_t)node, &heir);
	rte_tel_data_start_dict(d);
	if (rc < 0) {
		const char *msg = strerror(-rc);

		for (unsigned i = 0; i < sizeof(why) / sizeof(why[0]); i++)
			msg = why[i].rc == rc ? why[i].why : msg;
		rte_tel_data_add_dict_string(d, "error", msg);
		return 0;
	}
	rte_tel_data_add_dict_u64(d, "node", node);
	rte_tel_data_add_dict_u64(d, "heir", heir);
	rte_tel_data_add_dict_u64(d, "segments", (uint64_t)rc);
	return 0;
}

static int cmd_evacuation(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dsm_evac_status st;

	(void)cmd;
	(void)params;
	dsm_node_evac_status(tel_node, &st);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "node", st.node);
	rte_tel_data_add_dict_u64(d, "active", st.active);
	rte_tel_data_add_dict_u64(d, "heir", st.heir);
	rte_tel_data_add_dict_u64(d, "segments", st.segments);
	rte_tel_data_add_dict_u64(d, "pages", st.pages);
	rte_tel_data_add_dict_u64(d, "done", st.done);
	rte_tel_data_add_dict_u64(d, "copied", st.copied);
	rte_tel_data_add_dict_u64(d, "lost", st.lost);
	rte_tel_data_add_dict_u64(d, "failed", st.failed);
	return 0;
}

int dsm_telemetry_init(struct dsm_node *n)
{
	tel_node = n;
	rte_telemetry_register_cmd("/dsm/stats", cmd_stats,
		"Node counters: engine, shards, channels, drops by reason. No parameters");
	rte_telemetry_register_cmd("/dsm/peers", cmd_peers,
		"Per-peer link and reliable-channel counters. No parameters");
	rte_telemetry_register_cmd("/dsm/segments", cmd_segments,
		"Segments known to this node. No parameters");
	rte_telemetry_register_cmd("/dsm/page", cmd_page,
		"Directory and cache entry of one page. Parameters: seg_id,pgno");
	rte_telemetry_register_cmd("/dsm/membership", cmd_membership,
		"Membership view applied by this node (epoch, fenced, members). No parameters");
	rte_telemetry_register_cmd("/dsm/segstats", cmd_segstats,
		"Per segment: faults, remote faults, pages in/out, lost pages. No parameters");
	rte_telemetry_register_cmd("/dsm/lost", cmd_lost,
		"Lost pages (only copy gone with its owner) of segments homed here. No parameters");
	rte_telemetry_register_cmd("/dsm/evacuate", cmd_evacuate,
		"Copy a node's pages here before it leaves (dsmctl drain). Parameters: node");
	rte_telemetry_register_cmd("/dsm/evacuation", cmd_evacuation,
		"Progress of the last evacuation started here. No parameters");
	return 0;
}
