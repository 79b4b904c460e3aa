/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reads of the cluster's keys in etcd (prefix P = /dsm/<cluster>/):
 * epoch, members/, nodes/, drain/ into one snapshot, and workloads/ into
 * a list.  Values that do not decode are counted and skipped, so one bad
 * record does not hide the rest of the cluster.
 */
#ifndef DSM_CONTROL_DSMCTL_CLUSTER_H
#define DSM_CONTROL_DSMCTL_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "dsmctl/dsmctl.h"
#include "dsmctl/records.h"
#include "membership/view.h"

struct dsmctl_cluster {
	struct dsm_view view;                   /* epoch 0: no view yet */
	struct dsm_view live;                   /* members/ (registrations) */
	struct dsmctl_node_rec rec[DSM_VIEW_MAX];
	uint64_t has_rec;                       /* bit i: rec[i] is valid */
	uint64_t drained;                       /* bit i: drain/<i> exists */
	unsigned bad;                           /* values skipped */
};

/* "P" + printf(fmt, ...) into buf. */
void dsmctl_key(const struct dsmctl *c, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* 0 or -errno from etcd. */
int dsmctl_cluster_read(struct dsmctl *c, struct dsmctl_cluster *cl);

static inline bool dsmctl_bit(uint64_t mask, unsigned node)
{
	return node < 64 && (mask & (UINT64_C(1) << node));
}

/* In the view in force. */
bool dsmctl_in_view(const struct dsmctl_cluster *cl, unsigned node);

/* Known at all: in the view, registered, or with a node record. */
bool dsmctl_known(const struct dsmctl_cluster *cl, unsigned node);

/* The telemetry socket of node if it runs on this host, else NULL. */
const char *dsmctl_local_tel(const struct dsmctl *c, const struct dsmctl_cluster *cl,
			     unsigned node);

struct dsmctl_workload {
	char name[DSMCTL_NAME_MAX];
	bool has_spec, has_status;
	bool bad_spec, bad_status;   /* present but not decodable */
	struct dsmctl_spec spec;
	char *spec_json;             /* as stored, for a retarget */
	size_t spec_len;
	int64_t spec_rev;            /* mod_revision, for the CAS */
	struct dsmctl_status status;
	char *status_json;           /* as stored, for --json */
	size_t status_len;
};

/* Every workload, in name order.  *rev (may be NULL): the store revision
 * read at.  0 or -errno (etcd, -ENOMEM). */
int dsmctl_workloads_read(struct dsmctl *c, struct dsmctl_workload **w, size_t *n,
			  int64_t *rev);
void dsmctl_workloads_free(struct dsmctl_workload *w, size_t n);
struct dsmctl_workload *dsmctl_workload_find(struct dsmctl_workload *w, size_t n,
					     const char *name);

/* Split "P" "workloads/<name>/<what>" into name and what.  false for any
 * other key. */
bool dsmctl_workload_key(const struct dsmctl *c, const char *key, char *name, size_t nlen,
			 const char **what);

#endif /* DSM_CONTROL_DSMCTL_CLUSTER_H */
