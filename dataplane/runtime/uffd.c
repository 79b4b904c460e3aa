/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The userfaultfd front end inside the dataplane (node.socket).
 * dataplane/ufront does the work; this file wires it to the runtime: faults
 * go to the inline engine shard, whose executor hands the fault-facing
 * actions back; segments get a view file; the control thread's requests
 * (control.c) reach the shard as ctl messages, so the segment table and the
 * mappings are only ever touched by the shard's thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_byteorder.h>
#include <rte_log.h>

#include "dsm/dsm.h"
#include "runtime/node_internal.h"

#define DSM_UFFD_MAX_REQUESTS 1024

int dsm_uffd_init(struct dsm_node *n)
{
	const struct dsm_ufront_ops ops = { .exec = dsm_shard_exec_front, .ctx = n };
	int rc;

	for (unsigned i = 0; i < DSM_CFG_MAX_SEGMENTS; i++)
		n->seg_owner_uid[i] = UINT32_MAX;
	if (!n->cfg.socket_path[0])
		return 0;
	if (n->nshards != 1 || !n->shards[0].inline_main) {
		RTE_LOG(ERR, USER1, "node.socket (userfaultfd front end) needs one engine "
			"shard on the main lcore (run with a single lcore, e.g. -l 1)\n");
		return -EXDEV;
	}
	if (n->kfront) {
		RTE_LOG(ERR, USER1, "node.socket and node.kmod: one fault front end per node\n");
		return -EINVAL;
	}
	n->ufront = calloc(1, sizeof(*n->ufront));
	if (!n->ufront)
		return -ENOMEM;
	rc = dsm_ufront_init(n->ufront, n->shards[0].eng, &ops, DSM_UFFD_MAX_REQUESTS);
	if (rc) {
		free(n->ufront);
		n->ufront = NULL;
	}
	return rc;
}

/* After the configured segments exist: applications may come. */
int dsm_uffd_start(struct dsm_node *n)
{
	if (!n->ufront)
		return 0;
	return dsm_control_start(n, n->cfg.socket_path, &n->control);
}

void dsm_uffd_fini(struct dsm_node *n)
{
	if (n->control)
		dsm_control_stop(n->control);
	n->control = NULL;
	if (n->ufront)
		dsm_ufront_fini(n->ufront);
	free(n->ufront);
	n->ufront = NULL;
}

int dsm_uffd_add_segment(struct dsm_node *n, struct dsm_seg_rt *s)
{
	int rc;

	if (!n->ufront)
		return 0;
	rc = dsm_ufront_add_segment(n->ufront, &s->d, s->base);
	if (rc)
		RTE_LOG(ERR, USER1, "segment %u: no view file: %s%s\n", s->d.seg_id,
			strerror(-rc), s->d.page_size > 4096 ? " (hugetlb pages reserved?)" : "");
	return rc;
}

int dsm_uffd_poll(struct dsm_node *n, uint64_t now)
{
	return n->ufront ? (int)dsm_ufront_poll(n->ufront, now) : 0;
}

/* ------------------------------------------------ ctl, on the shard thread */

static struct dsm_seg_rt *seg_by_name(struct dsm_node *n, const char *name, uint32_t *idx)
{
	for (uint32_t i = 0; i < n->nsegs; i++) {
		if (!strcmp(n->segs[i].name, name)) {
			*idx = i;
			return &n->segs[i];
		}
	}
	return NULL;
}

static int ctl_find(struct dsm_node *n, struct dsm_ctl *c)
{
	uint32_t i;
	struct dsm_seg_rt *s = seg_by_name(n, c->name, &i);

	c->answers = n->vma_answers;
	if (!s)
		return -ENOENT;
	c->desc = s->d;
	c->fd = dsm_ufront_view_fd(n->ufront, s->d.seg_id);
	return c->fd < 0 ? c->fd : 0;
}

static int ctl_create(struct dsm_node *n, struct dsm_ctl *c)
{
	uint32_t i, id;
	int rc;

	if (seg_by_name(n, c->name, &i))
		return -EEXIST;
	/* Ids of run-time segments carry their home in the high bits, so two
	 * nodes creating at once never pick the same id; the counter moves on
	 * even after a failure (the engine may have kept the id). */
	id = (uint32_t)n->self << 24 | ++n->created_segs;
	c->desc.seg_id = id;
	c->desc.home = n->self;
	rc = dsm_node_add_segment(n, &c->desc, c->name);
	if (rc == 0)
		n->seg_owner_uid[n->nsegs - 1] = c->uid;
	c->seg_id = id;
	return rc;
}

static int ctl_destroy(struct dsm_node *n, struct dsm_ctl *c)
{
	uint32_t i;
	struct dsm_seg_rt *s = seg_by_name(n, c->name, &i);

	if (!s)
		return -ENOENT;
	/* Only its creator (or root) may, and only a runtime-created one:
	 * configured segments are the cluster's. */
	if (n->seg_owner_uid[i] == UINT32_MAX || (c->uid != 0 && c->uid != n->seg_owner_uid[i]))
		return -EPERM;
	if (dsm_ufront_users(n->ufront, s->d.seg_id))
		return -EBUSY;
	/* The name goes (INFO and ATTACH no longer find it, it may be created
	 * again); the engine keeps the old id's state until the dataplane
	 * stops - removing a segment from a running engine is not done yet. */
	s->name[0] = 0;
	return 0;
}

/* Segments created at run time on other nodes are learned from their homes
 * by name: VMA_REQ to every peer, VMA_RESP here. */
static int ctl_discover(struct dsm_node *n)
{
	for (uint32_t i = 0; i < n->cfg.npeers; i++) {
		struct dsm_msg m = { .type = DSM_MSG_VMA_REQ, .dst = n->cfg.peers[i].id,
				     .seg_id = DSM_SEG_ALL, .epoch = n->epoch };

		dsm_node_send(n, &m, NULL);
	}
	return 0;
}

void dsm_uffd_learn(struct dsm_node *n, const struct dsm_msg *m)
{
	struct dsm_wire_vma recs[DSM_CFG_MAX_SEGMENTS];
	uint32_t cnt = dsm_node_msg_copy(m, recs, sizeof(recs)) / DSM_WIRE_VMA_LEN;

	n->vma_answers++;
	for (uint32_t i = 0; i < cnt; i++) {
		struct dsm_segment_desc d = {
			.seg_id = rte_be_to_cpu_32(recs[i].seg_id),
			.home = rte_be_to_cpu_16(recs[i].home_node),
			.prot = rte_be_to_cpu_16(recs[i].prot),
			.page_size = rte_be_to_cpu_32(recs[i].page_size),
		};
		char name[DSM_SEG_NAME_MAX];
		uint32_t idx;

		memcpy(name, recs[i].name, sizeof(name) - 1);
		name[sizeof(name) - 1] = 0;
		/* Only what the home says it homes, and only what is new. */
		if (d.home != m->src || !name[0] || (d.page_size != 4096 && d.page_size != 2u << 20) ||
		    dsm_node_seg(n, d.seg_id) || seg_by_name(n, name, &idx))
			continue;
		d.npages = rte_be_to_cpu_64(recs[i].size) / d.page_size;
		if (d.npages && dsm_node_add_segment(n, &d, name) == 0)
			RTE_LOG(INFO, USER1, "learned segment %u '%s' (%lu bytes) from node %u\n",
				d.seg_id, name, (unsigned long)(d.npages * d.page_size), d.home);
	}
}

struct held { uint64_t stamp, pgno; };

static int by_recency(const void *a, const void *b)
{
	const struct held *x = a, *y = b;

	return x->stamp < y->stamp ? 1 : x->stamp > y->stamp ? -1 :
	       (x->pgno > y->pgno) - (x->pgno < y->pgno);
}

/* Pages of a segment this node holds (Shared or Exclusive), the most
 * recently faulted first: a migrating workload's working set. */
static int ctl_held(struct dsm_node *n, struct dsm_ctl *c)
{
	const struct dsm_ufront_seg *s = dsm_ufront_seg(n->ufront, c->seg_id);
	struct dsm_page_info pi;
	struct held *h;
	uint64_t k = 0;

	if (!s)
		return -ENOENT;
	h = malloc(s->npages * sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (uint64_t pg = 0; pg < s->npages; pg++)
		if (dsm_engine_page_info(n->shards[0].eng, c->seg_id, pg, &pi) == 0 &&
		    pi.cache_state != DSM_CS_INVALID)
			h[k++] = (struct held){ s->stamp[pg], pg };
	qsort(h, k, sizeof(*h), by_recency);
	c->answers = k;
	for (uint64_t i = 0; i < k && i < c->max; i++)
		c->out[i] = h[i].pgno;
	free(h);
	return (int)(k < c->max ? k : c->max);
}

static int ctl_pid_segs(struct dsm_node *n, struct dsm_ctl *c)
{
	const struct dsm_ufront *uf = n->ufront;
	uint32_t k = 0;

	for (unsigned i = 0; i < DSM_UFRONT_MAX_ATT; i++) {
		const struct dsm_ufront_att *a = &uf->att[i];
		uint32_t id = uf->segs[a->seg].seg_id;
		bool seen = false;

		if (!a->used || a->pid != c->pid)
			continue;
		for (uint32_t j = 0; j < k; j++)
			seen |= c->out[j] == id;
		if (!seen && k < c->max)
			c->out[k++] = id;
	}
	return (int)k;
}

int dsm_uffd_ctl(struct dsm_node *n, struct dsm_ctl *c)
{
	int rc;

	if (!n->ufront)
		return -EINVAL;
	switch (c->kind) {
	case DSM_CTL_SEG_FIND:
		return ctl_find(n, c);
	case DSM_CTL_SEG_CREATE:
		return ctl_create(n, c);
	case DSM_CTL_SEG_DESTROY:
		return ctl_destroy(n, c);
	case DSM_CTL_UF_ATTACH:
		rc = dsm_ufront_attach(n->ufront, c->seg_id, c->fd, c->pid, c->conn,
				       c->base, c->len, c->prot);
		if (rc < 0)
			close(c->fd);   /* ours now, either way */
		return rc < 0 ? rc : 0;
	case DSM_CTL_UF_DETACH:
		return dsm_ufront_detach(n->ufront, c->conn, c->base);
	case DSM_CTL_DISCOVER:
		c->answers = n->vma_answers;
		return ctl_discover(n);
	case DSM_CTL_HELD:
		return ctl_held(n, c);
	case DSM_CTL_PID_SEGS:
		return ctl_pid_segs(n, c);
	default:
		return -EINVAL;
	}
}
