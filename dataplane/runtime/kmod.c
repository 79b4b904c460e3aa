/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kernel fault front end inside the dataplane (node.kmod: /dev/dsm).
 * dataplane/kfront does the work; this file wires it to the runtime: it
 * feeds faults to the inline engine shard, whose executor runs the actions
 * and hands the kernel-facing ones (commands, completions) back to kfront.
 * Segments of 4 KiB pages use the kernel's backing as theirs, so pages move
 * between the wire and the applications' mappings without another copy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_log.h>

#include "runtime/node_internal.h"

/* Requests in flight at once, from all faulting threads of the node. */
#define DSM_KMOD_MAX_REQUESTS 1024

int dsm_kmod_init(struct dsm_node *n)
{
	const struct dsm_kfront_ops ops = { .exec = dsm_shard_exec_front, .ctx = n };
	enum dsm_ring_err why = DSM_RING_ERR_NONE;
	int rc;

	if (!n->cfg.kmod_device[0])
		return 0;
	/* One consumer of the FAULT ring, and the engine it feeds must be
	 * the one that owns every page: one shard, on the main lcore. */
	if (n->nshards != 1 || !n->shards[0].inline_main) {
		RTE_LOG(ERR, USER1, "node.kmod needs one engine shard on the main lcore "
			"(run with a single lcore, e.g. -l 1)\n");
		return -EXDEV;
	}
	n->kdev = calloc(1, sizeof(*n->kdev));
	n->kfront = calloc(1, sizeof(*n->kfront));
	if (!n->kdev || !n->kfront)
		return -ENOMEM;
	rc = dsm_kdev_open(n->kdev, n->cfg.kmod_device, 0, 0, &why);
	if (rc) {
		RTE_LOG(ERR, USER1, "kmod: %s: %s%s%s\n", n->cfg.kmod_device, strerror(-rc),
			why ? ", handshake field " : "", why ? dsm_ring_err_name(why) : "");
		free(n->kdev);
		n->kdev = NULL;
		return rc;
	}
	rc = dsm_kfront_init(n->kfront, n->kdev, n->shards[0].eng, &ops,
			     DSM_KMOD_MAX_REQUESTS);
	if (rc)
		return rc;
	RTE_LOG(INFO, USER1, "kmod: serving faults of %s\n", n->cfg.kmod_device);
	return 0;
}

void dsm_kmod_fini(struct dsm_node *n)
{
	if (n->kfront && n->kfront->kd)
		dsm_kfront_fini(n->kfront);
	if (n->kdev && n->kdev->fd > 0)
		dsm_kdev_close(n->kdev);
	free(n->kfront);
	free(n->kdev);
	n->kfront = NULL;
	n->kdev = NULL;
}

int dsm_kmod_add_segment(struct dsm_node *n, struct dsm_seg_rt *s)
{
	int rc;

	if (!n->kfront || s->d.page_size != DSM_KMOD_PAGE_SIZE)
		return -ENOTSUP;
	rc = dsm_kfront_add_segment(n->kfront, s->d.seg_id, s->d.npages, &s->base);
	if (rc) {
		RTE_LOG(ERR, USER1, "kmod: segment %u: %s\n", s->d.seg_id, strerror(-rc));
		return rc;
	}
	s->kernel_backed = true;
	return 0;
}

int dsm_kmod_poll(struct dsm_node *n, uint64_t now)
{
	return n->kfront ? (int)dsm_kfront_poll(n->kfront, now) : 0;
}
