/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Asking the nodes of this host: which nodes' telemetry sockets can be
 * reached (their records name them), and the segments they know, merged
 * by id.  Used by segments, stats and page.
 */
#ifndef DSM_CONTROL_DSMCTL_NODETEL_H
#define DSM_CONTROL_DSMCTL_NODETEL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "dsmctl/cluster.h"

struct dsmctl_seg {
	uint32_t id;
	char name[DSMCTL_NAME_MAX];
	unsigned home;
	uint64_t size, page_size, pages;
	char prot[8];
	uint64_t nodes;              /* bit i: node i knows it */
};

struct dsmctl_segs {
	struct dsmctl_seg *s;        /* sorted by id */
	unsigned n;
};

/* Nodes whose telemetry socket is on this host, in id order (only: that
 * one node, 0: all).  Returns how many. */
unsigned dsmctl_local_nodes(const struct dsmctl *c, const struct dsmctl_cluster *cl,
			    unsigned only, unsigned *ids);

/* Run cmd on node id; on failure print a warning naming the node and
 * return -errno. */
int dsmctl_node_query(const struct dsmctl *c, const struct dsmctl_cluster *cl,
		      unsigned id, const char *cmd, json_t **out);

/* Add one node's /dsm/segments answer.  0 or -ENOMEM. */
int dsmctl_segs_add(struct dsmctl_segs *segs, unsigned node, json_t *answer);
void dsmctl_segs_free(struct dsmctl_segs *segs);

/* /dsm/segments of every node in ids. */
int dsmctl_segs_collect(const struct dsmctl *c, const struct dsmctl_cluster *cl,
			const unsigned *ids, unsigned n, struct dsmctl_segs *segs);

/* S as an id (digits) or a name.  NULL if no node knows it. */
const struct dsmctl_seg *dsmctl_segs_find(const struct dsmctl_segs *segs, const char *s);

/* u64 from a telemetry dict: 0 when absent (older nodes have fewer). */
uint64_t dsmctl_tel_u64(json_t *o, const char *key);

#endif /* DSM_CONTROL_DSMCTL_NODETEL_H */
