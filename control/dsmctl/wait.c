/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dsmctl/cluster.h"
#include "dsmctl/wait.h"

struct waiter {
	struct dsmctl *c;
	struct dsmctl_track *t;
	size_t n;
	uint64_t start_ms;
};

static struct dsmctl_track *tracker(struct waiter *w, const char *name)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->t[i].name, name))
			return &w->t[i];
	return NULL;
}

static bool all_finished(const struct waiter *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (!w->t[i].finished)
			return false;
	return true;
}

static void on_spec(struct dsmctl_track *t, const struct dsm_etcd_event *ev)
{
	struct dsmctl_spec s;

	if (ev->type == DSM_ETCD_DELETE) {
		dsmctl_track_spec_changed(t, 0);
		return;
	}
	if (dsmctl_spec_decode(ev->kv.value, ev->kv.value_len, &s) == 0) {
		if (s.gen != t->gen)
			dsmctl_track_spec_changed(t, s.gen);
		dsmctl_spec_clear(&s);
	}
}

static void on_status(struct waiter *w, struct dsmctl_track *t, const struct dsm_etcd_event *ev)
{
	struct dsmctl_status st;
	char lines[2048] = "";

	/* A deleted or unreadable status says nothing about progress. */
	if (ev->type != DSM_ETCD_PUT ||
	    dsmctl_status_decode(ev->kv.value, ev->kv.value_len, &st))
		return;
	dsmctl_track_status(t, &st, dsmctl_mono_ms() - w->start_ms, lines, sizeof(lines));
	if (!w->c->args->json && !t->quiet && lines[0]) {
		fputs(lines, stdout);
		fflush(stdout);   /* progress is for watching live */
	}
}

static int on_event(void *arg, const struct dsm_etcd_event *ev)
{
	struct waiter *w = arg;
	char name[DSMCTL_NAME_MAX];
	struct dsmctl_track *t;
	const char *what;

	if (!dsmctl_workload_key(w->c, ev->kv.key, name, sizeof(name), &what) ||
	    !(t = tracker(w, name)))
		return 0;
	if (!strcmp(what, "spec"))
		on_spec(t, ev);
	else if (!strcmp(what, "status"))
		on_status(w, t, ev);
	return all_finished(w) ? 1 : 0;
}

static int report(const struct waiter *w, bool timed_out)
{
	int rc = DSMCTL_OK;
	char where[256];

	for (size_t i = 0; i < w->n; i++) {
		const struct dsmctl_track *t = &w->t[i];

		if (t->finished && t->phase == DSMCTL_PH_FAILED) {
			rc = dsmctl_err(DSMCTL_EFAIL, "%s", t->error);
		} else if (!t->finished && timed_out) {
			dsmctl_track_where(t, where, sizeof(where));
			rc = dsmctl_err(DSMCTL_EFAIL, "timed out after %u s waiting for %s",
					w->c->args->timeout_s, where);
		}
	}
	return rc;
}

int dsmctl_wait(struct dsmctl *c, struct dsmctl_track *t, size_t n, int64_t from_rev,
		uint64_t start_ms)
{
	struct waiter w = { .c = c, .t = t, .n = n, .start_ms = start_ms };
	uint64_t deadline = start_ms + (uint64_t)c->args->timeout_s * 1000, now;
	int64_t next = from_rev;
	char prefix[160];
	int ret = 0;

	dsmctl_key(c, prefix, sizeof(prefix), "workloads/");
	while (!all_finished(&w) && (now = dsmctl_mono_ms()) < deadline) {
		/* Returns 0 when its time is up or the server ended the
		 * stream: go on from next, nothing is lost. */
		ret = dsm_etcd_watch(c->etcd, prefix, next, on_event, &w,
				     (unsigned)(deadline - now), &next);
		if (ret < 0)
			return dsmctl_etcd_err(c, "watching the workloads", ret);
	}
	return report(&w, !all_finished(&w));
}
