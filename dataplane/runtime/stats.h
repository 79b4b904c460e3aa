/* SPDX-License-Identifier: BSD-3-Clause */
/* Counter tables shared by telemetry and the human-readable summary. */
#ifndef DSM_RUNTIME_STATS_H
#define DSM_RUNTIME_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct dsm_node;

struct dsm_stat_field {
	const char *name;
	size_t off;
};

#define DSM_STATS_MAX 40

extern const struct dsm_stat_field dsm_engine_fields[];
extern const struct dsm_stat_field dsm_shard_fields[];
/* The kernel front end (node.kmod), reported as kmod_*. */
extern const struct dsm_stat_field dsm_kfront_fields[];
/* The userfaultfd front end (node.socket), reported as uffd_*. */
extern const struct dsm_stat_field dsm_ufront_fields[];
extern const struct dsm_stat_field dsm_chan_fields[];
extern const struct dsm_stat_field dsm_peer_fields[];

/* Node-wide sums, indexed like the tables above. */
struct dsm_totals {
	uint64_t engine[DSM_STATS_MAX];
	uint64_t shard[DSM_STATS_MAX];
	uint64_t chan[DSM_STATS_MAX];
	uint64_t peer[DSM_STATS_MAX];
	uint64_t drops;
};

void dsm_stats_sum(const struct dsm_stat_field *f, const void *obj, uint64_t *acc);
void dsm_stats_totals(struct dsm_node *n, struct dsm_totals *t);

#endif /* DSM_RUNTIME_STATS_H */
