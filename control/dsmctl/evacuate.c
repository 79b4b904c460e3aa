/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dsmctl/evacuate.h"
#include "dsmctl/nodetel.h"

#define POLL_MS 50            /* between two looks at the members' progress */
#define LINE_MS 500           /* between two progress lines */

int dsmctl_evac_add(struct dsmctl_evac *e, json_t *answer)
{
	if (!json_is_object(answer) || dsmctl_tel_u64(answer, "node") != e->node)
		return -EINVAL;
	e->active += dsmctl_tel_u64(answer, "active") != 0;
	e->pages += dsmctl_tel_u64(answer, "pages");
	e->done += dsmctl_tel_u64(answer, "done");
	e->copied += dsmctl_tel_u64(answer, "copied");
	e->lost += dsmctl_tel_u64(answer, "lost");
	e->failed += dsmctl_tel_u64(answer, "failed");
	return 0;
}

json_t *dsmctl_evac_json(const struct dsmctl_evac *e)
{
	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "in_view", e->in_view,
			 "heir", (json_int_t)e->heir, "pages", (json_int_t)e->pages,
			 "copied", (json_int_t)e->copied, "lost", (json_int_t)e->lost,
			 "failed", (json_int_t)e->failed);
}

/* The members that copy: every one but node, in id order. */
static unsigned copiers(const struct dsmctl_cluster *cl, unsigned node, unsigned *ids)
{
	unsigned k = 0;

	for (uint32_t i = 0; i < cl->view.n; i++)
		if (cl->view.m[i].node != node)
			ids[k++] = cl->view.m[i].node;
	return k;
}

static int start_one(const struct dsmctl *c, const struct dsmctl_cluster *cl, unsigned id,
		     struct dsmctl_evac *e)
{
	char cmd[48];
	json_t *a = NULL;
	const char *why;
	int ret, rc = DSMCTL_OK;

	if (!dsmctl_local_tel(c, cl, id))
		return dsmctl_err(DSMCTL_EFAIL, "node %u's telemetry socket is not on this host: "
				  "run drain on node %u's host to copy node %u's pages there",
				  id, id, e->node);
	snprintf(cmd, sizeof(cmd), "/dsm/evacuate,%u", e->node);
	ret = dsmctl_node_query(c, cl, id, cmd, &a);
	why = json_string_value(json_object_get(a, "error"));
	if (ret == -ENOTSUP)
		rc = dsmctl_err(DSMCTL_EFAIL, "node %u cannot copy pages (its dataplane has no "
				"/dsm/evacuate)", id);
	else if (ret)
		rc = dsmctl_err(DSMCTL_EFAIL, "node %u: could not start copying node %u's pages: "
				"%s", id, e->node, strerror(-ret));
	else if (why)
		rc = dsmctl_err(DSMCTL_EFAIL, "node %u: could not start copying node %u's pages: "
				"%s", id, e->node, why);
	else if (dsmctl_tel_u64(a, "heir"))
		e->heir = id;
	json_decref(a);
	return rc;
}

/* One look at every copier: 0, or an exit code (printed). */
static int look(const struct dsmctl *c, const struct dsmctl_cluster *cl, const unsigned *ids,
		unsigned k, struct dsmctl_evac *e)
{
	struct dsmctl_evac sum = { .node = e->node, .in_view = true, .heir = e->heir };

	for (unsigned i = 0; i < k; i++) {
		json_t *a = NULL;
		int ret = dsmctl_node_query(c, cl, ids[i], "/dsm/evacuation", &a), rc = DSMCTL_OK;

		if (ret)
			rc = dsmctl_err(DSMCTL_EFAIL, "node %u: progress of the copy: %s", ids[i],
					strerror(-ret));
		else if (dsmctl_evac_add(&sum, a))
			rc = dsmctl_err(DSMCTL_EFAIL, "node %u is now evacuating another node "
					"(a second drain?)", ids[i]);
		json_decref(a);
		if (rc)
			return rc;
	}
	*e = sum;
	return DSMCTL_OK;
}

static void progress(const struct dsmctl *c, const struct dsmctl_evac *e)
{
	if (c->args->json)
		return;
	printf("pages of node %u: %" PRIu64 "/%" PRIu64 " looked at, %" PRIu64 " copied\n",
	       e->node, e->done, e->pages, e->copied);
	fflush(stdout);
}

static void pause_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ms * 1000000L };

	nanosleep(&ts, NULL);
}

/* Poll the copiers' progress (a condition with a deadline) until none is
 * active; a line whenever it moved, at most every LINE_MS. */
static int follow(const struct dsmctl *c, const struct dsmctl_cluster *cl, const unsigned *ids,
		  unsigned k, struct dsmctl_evac *e)
{
	uint64_t start = dsmctl_mono_ms(), shown = 0, last = UINT64_MAX;
	int rc;

	while ((rc = look(c, cl, ids, k, e)) == DSMCTL_OK && e->active) {
		uint64_t now = dsmctl_mono_ms();

		if (e->done != last && now - shown >= LINE_MS) {
			progress(c, e);
			shown = now;
			last = e->done;
		}
		if (now - start > (uint64_t)c->args->timeout_s * 1000)
			return dsmctl_err(DSMCTL_EFAIL, "timed out after %u s copying node %u's "
					  "pages: %" PRIu64 "/%" PRIu64 " looked at", c->args->timeout_s,
					  e->node, e->done, e->pages);
		pause_ms(POLL_MS);
	}
	if (rc == DSMCTL_OK)
		progress(c, e);
	return rc;
}

int dsmctl_evacuate(struct dsmctl *c, const struct dsmctl_cluster *cl, unsigned node,
		    struct dsmctl_evac *e)
{
	unsigned ids[DSM_VIEW_MAX], k;
	int rc = DSMCTL_OK;

	memset(e, 0, sizeof(*e));
	e->node = node;
	e->in_view = dsmctl_in_view(cl, node);
	if (!e->in_view)
		return DSMCTL_OK;       /* gone already: it holds nothing anyone can reach */
	k = copiers(cl, node, ids);
	if (k == 0)
		return dsmctl_err(DSMCTL_EFAIL, "node %u is the only member: there is no node "
				  "to copy its pages to", node);
	for (unsigned i = 0; i < k && rc == DSMCTL_OK; i++)
		rc = start_one(c, cl, ids[i], e);
	if (rc == DSMCTL_OK)
		rc = follow(c, cl, ids, k, e);
	if (rc == DSMCTL_OK && e->failed)
		rc = dsmctl_err(DSMCTL_EFAIL, "%" PRIu64 " page(s) of node %u could not be "
				"copied (the dataplanes' logs say why); run drain again",
				e->failed, node);
	return rc;
}
