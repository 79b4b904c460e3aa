/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hot lists and working-set arrival, from the dataplane's hooks: the
 * segments a workload attached (pid_segments) and the pages this node
 * holds (held_pages).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload/supervisor_internal.h"

void sup_refresh_segs(struct dsm_supervisor *s, struct wl *w, bool now)
{
	const struct dsm_supervisor_hooks *h = &s->cfg.hooks;
	uint64_t t = sup_mono_ms();
	int n;

	if (!h->pid_segments || (!now && t < w->segs_due))
		return;
	w->segs_due = t + SUP_SEGS_REFRESH_MS;
	n = h->pid_segments(h->ctx, w->pid, w->segs, SUP_MAX_SEGS);
	if (n < 0) {
		sup_log(s, "%s: pid_segments(%d): %s", w->name, w->pid, strerror(-n));
		return;
	}
	/* None now (detached, or not attached yet): keep what it had. */
	if (n > 0)
		w->nsegs = (unsigned)n > SUP_MAX_SEGS ? SUP_MAX_SEGS : (unsigned)n;
}

/* held_pages into s->held, growing it while the hook fills it. */
static int held(struct dsm_supervisor *s, uint32_t seg, size_t *n)
{
	const struct dsm_supervisor_hooks *h = &s->cfg.hooks;
	size_t cap = s->held_cap ? s->held_cap : 65536;

	for (;;) {
		int r;

		if (cap > s->held_cap) {
			uint64_t *b = realloc(s->held, cap * sizeof(*b));

			if (!b)
				return -ENOMEM;
			s->held = b;
			s->held_cap = cap;
		}
		r = h->held_pages(h->ctx, seg, s->held, (uint32_t)cap);
		if (r < 0)
			return r;
		if ((size_t)r < cap || cap >= SUP_HELD_MAX) {
			*n = (size_t)r > cap ? cap : (size_t)r;
			return 0;
		}
		cap *= 4;
	}
}

/* ------------------------------------------------------------- hot list */

struct raw_pages {
	uint32_t seg;
	uint64_t *pg;
	size_t n;
};

static void raw_free(struct raw_pages *raw, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(raw[i].pg);
}

/* What this node holds of each segment the workload had attached. */
static int collect(struct dsm_supervisor *s, struct wl *w, struct raw_pages *raw)
{
	for (unsigned i = 0; i < w->nsegs; i++) {
		size_t n = 0;
		int ret = held(s, w->segs[i], &n);

		raw[i].seg = w->segs[i];
		if (ret) {
			sup_log(s, "%s: held_pages(%" PRIu32 "): %s", w->name, w->segs[i],
				strerror(-ret));
			n = 0;
		}
		raw[i].pg = n ? malloc(n * sizeof(uint64_t)) : NULL;
		if (n && !raw[i].pg)
			return -ENOMEM;
		if (n)
			memcpy(raw[i].pg, s->held, n * sizeof(uint64_t));
		raw[i].n = n;
	}
	return 0;
}

/* Encode with the smallest window whose record fits in etcd comfortably. */
static int encode_fitting(struct dsm_supervisor *s, struct wl *w, const struct raw_pages *raw,
			  char **json)
{
	for (size_t window = DSM_HOT_WINDOW;; window *= 8) {
		struct dsm_hotlist hl = { .gen = w->gen, .node = s->cfg.node };
		int ret = 0;

		for (unsigned i = 0; ret == 0 && i < w->nsegs; i++)
			ret = dsm_hotlist_add_seg(&hl, raw[i].seg, raw[i].pg, raw[i].n, window);
		if (ret == 0)
			ret = dsm_hotlist_encode(&hl, json);
		dsm_hotlist_free(&hl);
		if (ret || strlen(*json) <= SUP_HOT_MAX_JSON || window >= (1u << 20))
			return ret;
		free(*json);
		*json = NULL;
	}
}

int sup_write_hot(struct dsm_supervisor *s, struct wl *w)
{
	struct raw_pages raw[SUP_MAX_SEGS] = { 0 };
	char key[256], *json = NULL;
	int ret = 0;

	if (s->cfg.hooks.held_pages)
		ret = collect(s, w, raw);
	if (ret == 0)
		ret = encode_fitting(s, w, raw, &json);
	raw_free(raw, w->nsegs);
	if (ret) {
		sup_log(s, "%s: hot list: %s", w->name, strerror(-ret));
		return ret;
	}
	snprintf(key, sizeof(key), "%s%s/hot", s->wl_prefix, w->name);
	ret = dsm_etcd_put(s->etcd, key, json, strlen(json), 0, NULL);
	free(json);
	if (ret)
		sup_etcd_error(s, "hot list write", ret);
	else
		SUP_COUNT(s, hot_writes);
	return ret;
}

/* ----------------------------------------------------- working-set arrival */

/* Takes *hl.  Fills the status's ws fields; tracking needs held_pages. */
void sup_ws_begin(struct dsm_supervisor *s, struct wl *w, struct dsm_hotlist *hl,
		  struct dsm_wl_status *st)
{
	uint64_t now = sup_mono_ms();

	sup_ws_end(w);
	w->ws = *hl;
	memset(hl, 0, sizeof(*hl));
	w->ws_pages = dsm_hotlist_pages(&w->ws);
	w->ws_moved = w->ws_written = w->ws_query_max = 0;
	w->ws_active = w->ws_pages > 0 && s->cfg.hooks.held_pages;
	w->ws_deadline = now + s->cfg.ws_timeout_ms;
	w->ws_poll_due = now;
	w->ws_last_write = now;
	st->has_ws = true;
	st->ws_pages = w->ws_pages;
	st->ws_moved = 0;
}

void sup_ws_end(struct wl *w)
{
	dsm_hotlist_free(&w->ws);
	w->ws_active = false;
}

/* How much of the hot list is here.  The query runs on the dataplane's
 * lcore (which sorts what it holds), so the next one waits at least ten
 * times as long as this one took: tracking costs the fault path at most
 * ~10%, whatever the working set's size. */
static uint64_t count_moved(struct dsm_supervisor *s, struct wl *w)
{
	uint64_t moved = 0, t0 = sup_mono_ms(), took;

	for (size_t i = 0; i < w->ws.nsegs; i++) {
		size_t n = 0;

		if (held(s, w->ws.segs[i].seg, &n) == 0)
			moved += dsm_hot_seg_held(&w->ws.segs[i], s->held, n);
	}
	took = sup_mono_ms() - t0;
	if (took > w->ws_query_max)
		w->ws_query_max = took;
	w->ws_poll_due = sup_mono_ms() + (10 * took > SUP_WS_POLL_MS ? 10 * took : SUP_WS_POLL_MS);
	return moved;
}

void sup_ws_tick(struct dsm_supervisor *s, struct wl *w)
{
	uint64_t now = sup_mono_ms();
	struct dsm_wl_status st;
	bool done, changed;

	if (!w->ws_active || now < w->ws_poll_due)
		return;
	w->ws_moved = count_moved(s, w);
	now = sup_mono_ms();
	done = w->ws_moved >= w->ws_pages || now >= w->ws_deadline;
	changed = w->ws_moved != w->ws_written;
	if (!dsm_sup_ws_write_due(now, w->ws_last_write, SUP_WS_WRITE_MS, changed, done))
		return;
	st = w->st;
	st.ws_moved = w->ws_moved;
	if (done) {
		st.ws_done_ms = sup_real_ms();
		w->ws_active = false;
		sup_log(s, "%s: working set: %" PRIu64 " of %" PRIu64 " pages arrived%s "
			"(held_pages took up to %" PRIu64 " ms)", w->name, w->ws_moved, w->ws_pages,
			w->ws_moved < w->ws_pages ? " (gave up)" : "", w->ws_query_max);
	}
	w->ws_last_write = now;
	w->ws_written = w->ws_moved;
	sup_status_put(s, w, &st);
}
