/* SPDX-License-Identifier: BSD-3-Clause */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dsmctl/progress.h"

void dsmctl_track_init(struct dsmctl_track *t, const char *name, unsigned from,
		       unsigned to, uint64_t gen)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->from = from;
	t->to = to;
	t->gen = gen;
}

static void line(const struct dsmctl_track *t, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void line(const struct dsmctl_track *t, char *buf, size_t len, const char *fmt, ...)
{
	size_t off = strlen(buf);
	va_list ap;
	int n;

	if (off + 1 >= len)
		return;
	n = snprintf(buf + off, len - off, "%s: ", t->name);
	if (n < 0 || (size_t)n >= len - off)
		return;
	off += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(buf + off, len - off, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < len - off - 1)
		strcat(buf + off, "\n");
}

/* Show phase p unless it or a later one was shown already. */
static bool advance(struct dsmctl_track *t, enum dsmctl_phase p)
{
	if (t->phase >= p)
		return false;
	t->phase = p;
	return true;
}

static void fail(struct dsmctl_track *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct dsmctl_track *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->error, sizeof(t->error), fmt, ap);
	va_end(ap);
	t->phase = DSMCTL_PH_FAILED;
	t->finished = true;
}

/* The old process on the source node stops; its supervisor reports that
 * under the old generation (statuses of a newer one are caught above). */
static void on_source(struct dsmctl_track *t, const struct dsmctl_status *st,
		      char *buf, size_t len)
{
	switch (st->state) {
	case DSMCTL_ST_STOPPING:
		if (advance(t, DSMCTL_PH_STOPPING))
			line(t, buf, len, "stopping on node %u", st->node);
		break;
	case DSMCTL_ST_STOPPED:
		if (advance(t, DSMCTL_PH_STOPPED))
			line(t, buf, len, "stopped at safe point on node %u", st->node);
		break;
	case DSMCTL_ST_EXITED:
	case DSMCTL_ST_FAILED:
		/* It ended by itself; the new node starts it all the same. */
		if (advance(t, DSMCTL_PH_STOPPED))
			line(t, buf, len, "stopped on node %u (%s)", st->node, st->state_str);
		break;
	default:
		break;
	}
}

static void ended(struct dsmctl_track *t, const struct dsmctl_status *st)
{
	if (st->state == DSMCTL_ST_EXITED && (st->has & DSMCTL_HAS_EXIT))
		fail(t, "workload %s exited with status %" PRId64 " on node %u%s%s", t->name,
		     st->exit_code, st->node, st->error[0] ? ": " : "", st->error);
	else
		fail(t, "workload %s %s on node %u%s%s", t->name, st->state_str, st->node,
		     st->error[0] ? ": " : "", st->error[0] ? st->error : "");
}

static void running(struct dsmctl_track *t, const struct dsmctl_status *st,
		    char *buf, size_t len)
{
	t->pid = (st->has & DSMCTL_HAS_PID) ? st->pid : 0;
	t->downtime_ms = st->downtime_ms;
	if (!advance(t, DSMCTL_PH_RUNNING))
		return;
	if (t->from && (st->has & DSMCTL_HAS_DOWNTIME))
		line(t, buf, len, "running on node %u, pid %" PRId64 " (downtime %" PRIu64 " ms)",
		     st->node, t->pid, st->downtime_ms);
	else
		line(t, buf, len, "running on node %u, pid %" PRId64, st->node, t->pid);
}

/* The working set follows the new process to its node: report each
 * change of ws_moved, and finish when it is all there. */
static void working_set(struct dsmctl_track *t, const struct dsmctl_status *st,
			uint64_t elapsed_ms, char *buf, size_t len)
{
	bool done;

	if (!(st->has & DSMCTL_HAS_WS_PAGES))
		return;   /* not computed yet */
	t->ws_pages = st->ws_pages;
	done = st->ws_pages == 0 || (st->has & DSMCTL_HAS_WS_DONE);
	if (st->ws_pages && (st->has & DSMCTL_HAS_WS_MOVED) &&
	    (!t->ws_shown || st->ws_moved != t->ws_moved)) {
		t->ws_shown = true;
		t->ws_moved = st->ws_moved;
		line(t, buf, len, "working set %" PRIu64 "/%" PRIu64 " pages", st->ws_moved,
		     st->ws_pages);
	}
	if (!done)
		return;
	if ((st->has & DSMCTL_HAS_WS_DONE) && (st->has & DSMCTL_HAS_START) &&
	    st->ws_done_ms >= st->start_ms)
		t->ws_ms = st->ws_done_ms - st->start_ms;
	t->total_ms = elapsed_ms;
	t->phase = DSMCTL_PH_DONE;
	t->finished = true;
	line(t, buf, len, "done in %" PRIu64 " ms (downtime %" PRIu64 " ms, working set %"
	     PRIu64 " pages in %" PRIu64 " ms)", elapsed_ms, t->downtime_ms, t->ws_pages,
	     t->ws_ms);
}

static void on_target(struct dsmctl_track *t, const struct dsmctl_status *st,
		      uint64_t elapsed_ms, char *buf, size_t len)
{
	switch (st->state) {
	case DSMCTL_ST_STARTING:
		if (advance(t, DSMCTL_PH_STARTING))
			line(t, buf, len, "starting on node %u", st->node);
		break;
	case DSMCTL_ST_RUNNING:
		running(t, st, buf, len);
		if (!t->from) {
			t->total_ms = elapsed_ms;
			t->finished = true;   /* a start is over once it runs */
		} else {
			working_set(t, st, elapsed_ms, buf, len);
		}
		break;
	case DSMCTL_ST_EXITED:
	case DSMCTL_ST_FAILED:
		ended(t, st);
		break;
	default:
		break;
	}
}

bool dsmctl_track_status(struct dsmctl_track *t, const struct dsmctl_status *st,
			 uint64_t elapsed_ms, char *buf, size_t len)
{
	if (t->finished)
		return true;
	if (st->gen > t->gen) {
		fail(t, "workload %s was changed by someone else (generation %" PRIu64
		     ", expected %" PRIu64 ")", t->name, st->gen, t->gen);
		return true;
	}
	if (st->node == t->to && st->gen == t->gen)
		on_target(t, st, elapsed_ms, buf, len);
	else if (t->from && st->node == t->from)
		on_source(t, st, buf, len);
	return t->finished;
}

void dsmctl_track_spec_changed(struct dsmctl_track *t, uint64_t gen)
{
	if (t->finished)
		return;
	if (gen == 0)
		fail(t, "workload %s was stopped (its spec was deleted)", t->name);
	else
		fail(t, "workload %s was changed by someone else (generation %" PRIu64
		     ", expected %" PRIu64 ")", t->name, gen, t->gen);
}

void dsmctl_track_where(const struct dsmctl_track *t, char *buf, size_t len)
{
	static const char *const what[] = {
		[DSMCTL_PH_NONE] = "no status yet",
		[DSMCTL_PH_STOPPING] = "stopping on the source node",
		[DSMCTL_PH_STOPPED] = "stopped, not started on the target yet",
		[DSMCTL_PH_STARTING] = "starting",
		[DSMCTL_PH_RUNNING] = "running, working set not all moved",
		[DSMCTL_PH_DONE] = "done",
		[DSMCTL_PH_FAILED] = "failed",
	};

	snprintf(buf, len, "%s on node %u: %s", t->name, t->to, what[t->phase]);
}
