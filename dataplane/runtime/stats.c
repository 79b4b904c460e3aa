/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Statistics: one table of (name, offset) per counter struct, so telemetry
 * and the shutdown summary print the same names.  Counters are written by a
 * single lcore; readers on other threads see untorn 64-bit values (x86-64
 * aligned loads), which is all a statistic needs.
 */
#include <stddef.h>
#include <stdio.h>

#include "runtime/node_internal.h"
#include "runtime/stats.h"

#define F(s, f) { #f, offsetof(struct s, f) }

const struct dsm_stat_field dsm_engine_fields[] = {
	F(dsm_engine_stats, local_hits), F(dsm_engine_stats, local_misses),
	F(dsm_engine_stats, coalesced), F(dsm_engine_stats, completed),
	F(dsm_engine_stats, failed), F(dsm_engine_stats, timeouts),
	F(dsm_engine_stats, retries), F(dsm_engine_stats, nacks_rx),
	F(dsm_engine_stats, nacks_tx), F(dsm_engine_stats, grants_tx),
	F(dsm_engine_stats, grants_rx), F(dsm_engine_stats, zero_grants),
	F(dsm_engine_stats, nodata_grants), F(dsm_engine_stats, invalidations_tx),
	F(dsm_engine_stats, invalidations_rx), F(dsm_engine_stats, downgrades_tx),
	F(dsm_engine_stats, downgrades_rx), F(dsm_engine_stats, writebacks),
	F(dsm_engine_stats, home_timeouts), F(dsm_engine_stats, drop_epoch),
	F(dsm_engine_stats, drop_noseg), F(dsm_engine_stats, drop_range),
	F(dsm_engine_stats, drop_stale), F(dsm_engine_stats, drop_dup),
	F(dsm_engine_stats, drop_bad), F(dsm_engine_stats, no_slot),
	F(dsm_engine_stats, pages_lost), F(dsm_engine_stats, sharers_dropped),
	F(dsm_engine_stats, rehomed_segs), F(dsm_engine_stats, rehome_queries),
	F(dsm_engine_stats, rehome_reports), F(dsm_engine_stats, pages_recovered),
	F(dsm_engine_stats, home_gone),
	{ NULL, 0 },
};

const struct dsm_stat_field dsm_shard_fields[] = {
	F(dsm_shard_stats, rx_msgs), F(dsm_shard_stats, tx_msgs),
	F(dsm_shard_stats, tx_ring_full), F(dsm_shard_stats, installs),
	F(dsm_shard_stats, zero_fills), F(dsm_shard_stats, unmaps),
	F(dsm_shard_stats, protects), F(dsm_shard_stats, loopback),
	F(dsm_shard_stats, completes), F(dsm_shard_stats, exec_errors),
	F(dsm_shard_stats, actions_overflow), F(dsm_shard_stats, kernel_actions),
	F(dsm_shard_stats, fault_actions),
	{ NULL, 0 },
};

const struct dsm_stat_field dsm_kfront_fields[] = {
	F(dsm_kfront_stats, faults), F(dsm_kfront_stats, refused),
	F(dsm_kfront_stats, completed), F(dsm_kfront_stats, sigbus),
	F(dsm_kfront_stats, commands), F(dsm_kfront_stats, command_errors),
	F(dsm_kfront_stats, notes_munmap), F(dsm_kfront_stats, notes_exit),
	F(dsm_kfront_stats, notes_lost), F(dsm_kfront_stats, notes_gap),
	F(dsm_kfront_stats, bad_entries), F(dsm_kfront_stats, enters),
	{ NULL, 0 },
};

const struct dsm_stat_field dsm_ufront_fields[] = {
	F(dsm_ufront_stats, faults), F(dsm_ufront_stats, faults_missing),
	F(dsm_ufront_stats, faults_minor), F(dsm_ufront_stats, faults_wp),
	F(dsm_ufront_stats, copies), F(dsm_ufront_stats, continues),
	F(dsm_ufront_stats, zeropages), F(dsm_ufront_stats, unprotects),
	F(dsm_ufront_stats, sigbus), F(dsm_ufront_stats, refused),
	F(dsm_ufront_stats, invalidations), F(dsm_ufront_stats, downgrades),
	F(dsm_ufront_stats, writebacks), F(dsm_ufront_stats, punches),
	F(dsm_ufront_stats, prefetch_issued), F(dsm_ufront_stats, prefetch_filled),
	F(dsm_ufront_stats, prefetch_hits), F(dsm_ufront_stats, bad_events),
	F(dsm_ufront_stats, uffd_errors), F(dsm_ufront_stats, attached),
	F(dsm_ufront_stats, detached),
	{ NULL, 0 },
};

const struct dsm_stat_field dsm_chan_fields[] = {
	F(dsm_chan_stats, tx_frames), F(dsm_chan_stats, retx_frames),
	F(dsm_chan_stats, tx_full), F(dsm_chan_stats, rx_delivered),
	F(dsm_chan_stats, rx_ooo), F(dsm_chan_stats, rx_dup),
	F(dsm_chan_stats, rx_oow), F(dsm_chan_stats, acks_rx),
	F(dsm_chan_stats, bad_acks), F(dsm_chan_stats, timeouts),
	F(dsm_chan_stats, resets),
	{ NULL, 0 },
};

const struct dsm_stat_field dsm_peer_fields[] = {
	F(dsm_peer_stats, rx_frames), F(dsm_peer_stats, tx_frames),
	F(dsm_peer_stats, rx_msgs), F(dsm_peer_stats, tx_msgs),
	F(dsm_peer_stats, acks_tx), F(dsm_peer_stats, backlog_drops),
	F(dsm_peer_stats, stale_session), F(dsm_peer_stats, resets),
	F(dsm_peer_stats, down_events),
	{ NULL, 0 },
};

static uint64_t get(const void *base, size_t off)
{
	return *(const volatile uint64_t *)((const uint8_t *)base + off);
}

void dsm_stats_sum(const struct dsm_stat_field *f, const void *obj, uint64_t *acc)
{
	for (unsigned i = 0; f[i].name; i++)
		acc[i] += get(obj, f[i].off);
}

void dsm_stats_totals(struct dsm_node *n, struct dsm_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (uint32_t s = 0; s < n->nshards; s++) {
		dsm_stats_sum(dsm_engine_fields, dsm_engine_stats(n->shards[s].eng), t->engine);
		dsm_stats_sum(dsm_shard_fields, &n->shards[s].st, t->shard);
	}
	for (uint32_t id = 1; id < DSM_MAX_NODES; id++) {
		if (!n->peers[id])
			continue;
		dsm_stats_sum(dsm_chan_fields, &n->peers[id]->chan.stats, t->chan);
		dsm_stats_sum(dsm_peer_fields, &n->peers[id]->st, t->peer);
	}
	for (unsigned i = 0; i < DSM_DROP__COUNT; i++)
		t->drops += n->drops[i];
}

static void print_table(FILE *f, const char *title, const struct dsm_stat_field *fl,
			const uint64_t *v)
{
	fprintf(f, "  %s:", title);
	for (unsigned i = 0; fl[i].name; i++)
		if (v[i])
			fprintf(f, " %s=%lu", fl[i].name, (unsigned long)v[i]);
	fprintf(f, "\n");
}

void dsm_node_print_stats(struct dsm_node *n, FILE *f)
{
	struct dsm_totals t;

	dsm_stats_totals(n, &t);
	fprintf(f, "node %u epoch %lu: %u shard(s), %u peer link(s), %u segment(s), "
		"%lu VMA requests served\n", n->self, (unsigned long)n->epoch, n->nshards,
		n->cfg.npeers, n->nsegs, (unsigned long)n->vma_served);
	print_table(f, "engine", dsm_engine_fields, t.engine);
	print_table(f, "shards", dsm_shard_fields, t.shard);
	print_table(f, "channels", dsm_chan_fields, t.chan);
	print_table(f, "peers", dsm_peer_fields, t.peer);
	fprintf(f, "  drops: total=%lu", (unsigned long)t.drops);
	for (unsigned i = 1; i < DSM_DROP__COUNT; i++)
		if (n->drops[i])
			fprintf(f, " %s=%lu", dsm_drop_name(i), (unsigned long)n->drops[i]);
	fprintf(f, "\n");
	fflush(f);
}
