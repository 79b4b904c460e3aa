/* SPDX-License-Identifier: BSD-3-Clause */
#include "workload/supervisor_logic.h"

static struct dsm_sup_decision act(enum dsm_sup_action a, const char *why)
{
	return (struct dsm_sup_decision){ .action = a, .why = why };
}

static struct dsm_sup_decision start(bool resume, bool restart, const char *why)
{
	return (struct dsm_sup_decision){ .action = DSM_SUP_START, .resume = resume,
					  .restart = restart, .why = why };
}

/* A status written for an earlier incarnation of the spec (deleted and
 * created again) says nothing about this one. */
static const struct dsm_wl_status *current_status(const struct dsm_sup_view *v)
{
	const struct dsm_wl_status *st = v->status;

	if (st && v->spec && st->spec_rev && v->spec_rev && st->spec_rev != v->spec_rev)
		return NULL;
	return st;
}

static struct dsm_sup_decision decide_running(uint16_t self, const struct dsm_sup_view *v,
					      const struct dsm_sup_local *l)
{
	const struct dsm_wl_spec *spec = v->spec;

	if (l->stopping)
		return act(DSM_SUP_NONE, "stop in progress");
	if (v->spec_bad)
		return act(DSM_SUP_NONE, "spec does not decode: keep running");
	if (!spec)
		return act(DSM_SUP_STOP_DELETE, "spec deleted");
	if (l->spec_rev && v->spec_rev && l->spec_rev != v->spec_rev)
		return act(DSM_SUP_STOP_DELETE, "spec replaced");
	if (spec->gen < l->gen)
		return act(DSM_SUP_STOP_DELETE, "spec went back a generation");
	if (spec->gen > l->gen)
		return act(DSM_SUP_STOP_MIGRATE, "newer generation");
	if (spec->node != self)
		return act(DSM_SUP_STOP_MIGRATE, "moved without a new generation");
	return act(DSM_SUP_NONE, "running");
}

/* The spec is for this node; the status is of an older generation. */
static struct dsm_sup_decision decide_after(uint16_t self, const struct dsm_sup_view *v,
					    const struct dsm_wl_status *st)
{
	if (st->state == DSM_WL_STOPPED)
		return start(true, false, "previous generation stopped: resume");
	if (dsm_wl_state_terminal(st->state))
		return start(true, true, "previous generation ended: restart");
	if (st->node == self)
		return start(true, true, "previous generation was ours and is gone: restart");
	if (v->prev_alive < 0)
		return act(DSM_SUP_ASK_LIVENESS, "is the previous node alive?");
	if (!v->prev_alive)
		return start(true, true, "previous node is gone: restart");
	return act(DSM_SUP_WAIT, "waiting for the previous generation to stop");
}

static struct dsm_sup_decision decide_here(uint16_t self, const struct dsm_sup_view *v,
					   const struct dsm_wl_status *st)
{
	uint64_t gen = v->spec->gen;

	if (!st)
		return gen > 1 ? start(true, true, "no status: restart")
			       : start(false, false, "new workload");
	if (st->gen > gen)
		return act(DSM_SUP_NONE, "status is newer than the spec");
	if (st->gen < gen)
		return decide_after(self, v, st);
	if (dsm_wl_state_terminal(st->state))
		return act(DSM_SUP_NONE, "generation has ended");
	if (st->node == self)
		return start(true, true, "orphaned generation (supervisor restarted): restart");
	return act(DSM_SUP_WAIT, "another node claims this generation");
}

static struct dsm_sup_decision decide_idle(uint16_t self, const struct dsm_sup_view *v)
{
	const struct dsm_wl_status *st = current_status(v);

	if (v->spec_bad)
		return act(DSM_SUP_NONE, "spec does not decode");
	if (!v->spec)
		return v->status && v->status->node == self
			? act(DSM_SUP_FORGET, "spec deleted: remove the records")
			: act(DSM_SUP_NONE, "no spec");
	if (v->spec->node != self) {
		/* Only we can end a generation that claims to run here. */
		if (st && st->node == self && st->gen <= v->spec->gen &&
		    !dsm_wl_state_terminal(st->state))
			return act(DSM_SUP_MARK_FAILED, "status says it runs here, it does not");
		return act(DSM_SUP_NONE, "runs elsewhere");
	}
	return decide_here(self, v, st);
}

struct dsm_sup_decision dsm_sup_decide(uint16_t self, const struct dsm_sup_view *v,
				       const struct dsm_sup_local *l)
{
	return l->running ? decide_running(self, v, l) : decide_idle(self, v);
}

const char *dsm_sup_action_name(enum dsm_sup_action a)
{
	static const char *const names[] = {
		"none", "wait", "ask-liveness", "start", "stop-migrate", "stop-delete",
		"forget", "mark-failed",
	};

	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

bool dsm_sup_ws_write_due(uint64_t now_ms, uint64_t last_write_ms, uint64_t min_interval_ms,
			  bool changed, bool done)
{
	if (done)
		return true;
	return changed && now_ms >= last_write_ms + min_interval_ms;
}

bool dsm_sup_downtime(const struct dsm_wl_status *prev, uint64_t gen, int64_t start_ms,
		      int64_t *downtime_ms)
{
	if (!prev || prev->gen >= gen || !prev->stop_ms || !start_ms)
		return false;
	*downtime_ms = start_ms - prev->stop_ms;
	return true;
}
