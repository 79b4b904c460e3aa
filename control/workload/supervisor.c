/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The supervisor thread: a cache of P+"workloads/" fed by one range and
 * then the watcher's events (watcher.h), a decision per workload whenever
 * something changed (or every second), and the acts those decisions call
 * for.  See supervisor.h
 * for what it does and supervisor_logic.h for the protocol.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "workload/supervisor_internal.h"

uint64_t sup_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Status times cross nodes: wall clock. */
int64_t sup_real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A message repeated within 5 s is counted, not printed: an unreachable
 * etcd must not flood the dataplane's log. */
void sup_log(struct dsm_supervisor *s, const char *fmt, ...)
{
	uint64_t now = sup_mono_ms();
	char msg[sizeof(s->last_log)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(msg, s->last_log) == 0 && now - s->last_log_ms < 5000) {
		s->suppressed++;
		return;
	}
	if (s->suppressed)
		fprintf(stderr, "dsm-supervisor[node %u]: (last message repeated %u times)\n",
			s->cfg.node, s->suppressed);
	fprintf(stderr, "dsm-supervisor[node %u]: %s\n", s->cfg.node, msg);
	memcpy(s->last_log, msg, sizeof(msg));
	s->last_log_ms = now;
	s->suppressed = 0;
}

void sup_etcd_error(struct dsm_supervisor *s, const char *what, int ret)
{
	SUP_COUNT(s, etcd_errors);
	sup_log(s, "etcd %s: %s (%s)", what, strerror(-ret), dsm_etcd_last_error(s->etcd));
}

/* ---------------------------------------------------------------- cache */

static struct wl *find_wl(struct dsm_supervisor *s, const char *name, bool create)
{
	struct wl **v, *w;

	for (size_t i = 0; i < s->nwl; i++)
		if (strcmp(s->wl[i]->name, name) == 0)
			return s->wl[i];
	if (!create)
		return NULL;
	v = realloc(s->wl, (s->nwl + 1) * sizeof(*v));
	w = calloc(1, sizeof(*w));
	if (v)
		s->wl = v;
	if (!v || !w) {
		free(w);
		return NULL;
	}
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->pidfd = -1;
	s->wl[s->nwl++] = w;
	return w;
}

/* The cached key for "<prefix>workloads/<name>/<spec|status|hot>". */
static struct ckv *ckv_of(struct dsm_supervisor *s, const char *key, bool create)
{
	size_t plen = strlen(s->wl_prefix);
	char name[DSM_WL_NAME_MAX + 1];
	const char *rest, *slash;
	struct wl *w;

	if (strncmp(key, s->wl_prefix, plen) != 0)
		return NULL;
	rest = key + plen;
	slash = strchr(rest, '/');
	if (!slash || (size_t)(slash - rest) > DSM_WL_NAME_MAX)
		return NULL;
	snprintf(name, sizeof(name), "%.*s", (int)(slash - rest), rest);
	if (!dsm_wl_name_valid(name))
		return NULL;
	w = find_wl(s, name, create);
	if (!w)
		return NULL;
	if (strcmp(slash + 1, "spec") == 0)
		return &w->spec;
	if (strcmp(slash + 1, "status") == 0)
		return &w->status;
	return strcmp(slash + 1, "hot") == 0 ? &w->hot : NULL;
}

static void ckv_put(struct ckv *c, const struct dsm_etcd_kv *kv)
{
	char *val = malloc(kv->value_len + 1);

	if (!val)
		return;   /* keeps the old value: the next resync repairs it */
	memcpy(val, kv->value, kv->value_len);
	val[kv->value_len] = '\0';
	free(c->val);
	c->val = val;
	c->len = kv->value_len;
	c->present = true;
	c->mod_rev = kv->mod_revision;
	c->create_rev = kv->create_revision;
}

static void ckv_delete(struct ckv *c, int64_t rev)
{
	free(c->val);
	c->val = NULL;
	c->len = 0;
	c->present = false;
	c->mod_rev = rev;
	c->create_rev = 0;
}

/* 1 if the event is news (newer than what the cache holds), else 0. */
static int apply_event(struct dsm_supervisor *s, const struct dsm_etcd_event *ev)
{
	bool put = ev->type == DSM_ETCD_PUT;
	struct ckv *c = ckv_of(s, ev->kv.key, put);

	if (!c || ev->kv.mod_revision <= c->mod_rev)
		return 0;
	if (put)
		ckv_put(c, &ev->kv);
	else
		ckv_delete(c, ev->kv.mod_revision);
	return 1;
}

/* Apply what the watcher queued. */
static void drain_events(struct dsm_supervisor *s)
{
	bool resync = false;
	struct wev *list = sup_watcher_take(&s->watcher, &resync);

	for (struct wev *e = list; e; e = e->next) {
		struct dsm_etcd_event ev = { .type = e->del ? DSM_ETCD_DELETE : DSM_ETCD_PUT,
					     .kv = e->kv };

		/* Our own writes come back too: not news, no reconcile. */
		if (apply_event(s, &ev))
			s->dirty = true;
	}
	sup_wev_free(list);
	if (resync) {
		sup_log(s, "watch lost events (compaction?): reading everything again");
		s->synced = false;
	}
}

/* Watch failures are counted by the watcher; log them from here. */
static void watch_errors(struct dsm_supervisor *s)
{
	uint64_t n = __atomic_load_n(&s->watcher.errors, __ATOMIC_RELAXED);
	char msg[200];

	if (n == s->watch_errors_seen)
		return;
	s->watch_errors_seen = n;
	sup_watcher_error(&s->watcher, msg, sizeof(msg));
	sup_log(s, "etcd watch: %s", msg);
}

/* Everything under the prefix, from scratch (start, or after the watch
 * fell behind a compaction). */
static int sync_all(struct dsm_supervisor *s)
{
	struct dsm_etcd_kv *kvs = NULL;
	int64_t rev = 0;
	size_t n = 0;
	int ret = dsm_etcd_range(s->etcd, s->wl_prefix, &kvs, &n, &rev);

	if (ret) {
		sup_etcd_error(s, "range", ret);
		return ret;
	}
	for (size_t i = 0; i < s->nwl; i++) {
		ckv_delete(&s->wl[i]->spec, 0);
		ckv_delete(&s->wl[i]->status, 0);
		ckv_delete(&s->wl[i]->hot, 0);
	}
	for (size_t i = 0; i < n; i++) {
		struct ckv *c = ckv_of(s, kvs[i].key, true);

		if (c)
			ckv_put(c, &kvs[i]);
	}
	dsm_etcd_kvs_free(kvs, n);
	sup_watcher_from(&s->watcher, rev + 1);
	s->synced = true;
	s->dirty = true;
	return 0;
}

/* ------------------------------------------------------- status writes */

static void key_of(const struct dsm_supervisor *s, const struct wl *w, const char *what,
		   char *buf, size_t len)
{
	snprintf(buf, len, "%s%s/%s", s->wl_prefix, w->name, what);
}

static void ckv_set_written(struct ckv *c, const char *val, size_t len, int64_t rev)
{
	struct dsm_etcd_kv kv = { .value = (char *)val, .value_len = len,
				  .mod_revision = rev,
				  .create_revision = c->present ? c->create_rev : rev };

	ckv_put(c, &kv);
}

/* Whether cur (what etcd holds) forbids writing st: a newer generation of
 * the same spec.  Only the node of the newest generation writes. */
static bool newer_status(const struct ckv *cur, const struct dsm_wl_status *st)
{
	struct dsm_wl_status have;

	if (!cur->present || dsm_wl_status_decode(cur->val, cur->len, &have))
		return false;
	return have.gen > st->gen && (!have.spec_rev || !st->spec_rev ||
				      have.spec_rev == st->spec_rev);
}

/* Compare-and-swap against the revision last seen; on a lost race look at
 * the winner and try again unless it is a newer generation. */
int sup_status_put(struct dsm_supervisor *s, struct wl *w, const struct dsm_wl_status *st)
{
	char key[256], *val = NULL;
	int ret = dsm_wl_status_encode(st, &val);

	key_of(s, w, "status", key, sizeof(key));
	for (int tries = 0; ret == 0 && tries < 4; tries++) {
		struct dsm_etcd_kv cur = { 0 };
		int64_t rev = 0;

		if (newer_status(&w->status, st)) {
			SUP_COUNT(s, status_conflicts);
			sup_log(s, "%s: not writing gen %" PRIu64 " %s: a newer generation's "
				"status is there", w->name, st->gen, dsm_wl_state_name(st->state));
			ret = -ESTALE;
			break;
		}
		ret = dsm_etcd_cas(s->etcd, key, val, strlen(val), 0,
				   w->status.present ? w->status.mod_rev : 0, &rev, &cur);
		if (ret == 1) {
			ckv_set_written(&w->status, val, strlen(val), rev);
			w->st = *st;
			SUP_COUNT(s, status_writes);
			ret = 0;
			break;
		}
		if (ret == 0) {   /* lost: cur is the winner */
			if (cur.create_revision)
				ckv_put(&w->status, &cur);
			else
				ckv_delete(&w->status, w->status.mod_rev);
			ret = -EAGAIN;
		} else {
			sup_etcd_error(s, "status write", ret);
		}
		dsm_etcd_kv_clear(&cur);
		if (ret != -EAGAIN)
			break;
		ret = 0;   /* retry */
	}
	free(val);
	return ret;
}

/* The spec is gone: so are the records of the workload's last run. */
void sup_forget(struct dsm_supervisor *s, struct wl *w)
{
	char key[256];
	int ret;

	key_of(s, w, "status", key, sizeof(key));
	ret = dsm_etcd_delete(s->etcd, key);
	key_of(s, w, "hot", key, sizeof(key));
	if (ret >= 0)
		ret = dsm_etcd_delete(s->etcd, key);
	if (ret < 0) {
		sup_etcd_error(s, "delete", ret);
		return;
	}
	/* Gone for us now, before the watch says so: no second delete. */
	ckv_delete(&w->status, w->status.mod_rev);
	ckv_delete(&w->hot, w->hot.mod_rev);
	sup_log(s, "%s: removed (spec deleted)", w->name);
}

/* ------------------------------------------------------------ decisions */

/* Decode a cached record once per revision; a bad one is counted and
 * logged once, then treated as unreadable. */
static bool record_bad(struct dsm_supervisor *s, struct wl *w, struct ckv *c,
		       const char *what, int ret)
{
	if (ret == 0)
		return false;
	if (c->bad_rev != c->mod_rev) {
		c->bad_rev = c->mod_rev;
		SUP_COUNT(s, json_errors);
		sup_log(s, "%s: %s does not decode (%s): ignored", w->name, what,
			strerror(-ret));
	}
	return true;
}

/* 1: node is a member (its lease lives), 0: it is not, -1: unknown. */
static int member_alive(struct dsm_supervisor *s, uint16_t node)
{
	struct dsm_etcd_kv kv = { 0 };
	char key[160];
	int ret;

	snprintf(key, sizeof(key), "%smembers/%u", s->prefix, node);
	ret = dsm_etcd_get(s->etcd, key, &kv);
	dsm_etcd_kv_clear(&kv);
	if (ret == 0)
		return 1;
	if (ret == -ENOENT)
		return 0;
	sup_etcd_error(s, "get member", ret);
	return -1;
}

/* Write the hot list of the generation that just ended (prev) to a file
 * for the new process; *hl keeps it for the working-set tracking.  One of
 * another generation (its source could not write a new one) is stale. */
static const char *hot_file(struct dsm_supervisor *s, struct wl *w, uint64_t gen,
			    const struct dsm_wl_status *prev, struct dsm_hotlist *hl,
			    char *path, size_t len)
{
	int ret;

	if (!w->hot.present)
		return NULL;
	ret = dsm_hotlist_decode(w->hot.val, w->hot.len, hl);
	if (record_bad(s, w, &w->hot, "hot list", ret))
		return NULL;
	if (hl->gen >= gen || (prev && hl->gen != prev->gen)) {
		dsm_hotlist_free(hl);
		return NULL;
	}
	snprintf(path, len, "%s/%s.%" PRIu64 ".hot", s->state_dir, w->name, gen);
	ret = dsm_hotlist_write_file(hl, path);
	if (ret) {
		sup_log(s, "%s: cannot write %s: %s", w->name, path, strerror(-ret));
		dsm_hotlist_free(hl);
		return NULL;
	}
	return path;
}

static void act_start(struct dsm_supervisor *s, struct wl *w, const struct dsm_wl_spec *spec,
		      int64_t spec_rev, const struct dsm_wl_status *prev,
		      struct dsm_sup_decision d)
{
	struct dsm_wl_status st = { .gen = spec->gen, .node = s->cfg.node,
				    .spec_rev = spec_rev };
	struct dsm_hotlist hl = { 0 };
	const char *hot = NULL;
	char path[512];
	int ret;

	if (prev && prev->spec_rev && spec_rev && prev->spec_rev != spec_rev)
		prev = NULL;   /* of an earlier incarnation of the spec */
	if (d.resume)
		hot = hot_file(s, w, spec->gen, prev, &hl, path, sizeof(path));
	ret = sup_spawn(s, w, spec, hot, d.resume);
	snprintf(st.name, sizeof(st.name), "%s", w->name);
	if (ret < 0) {
		SUP_COUNT(s, spawn_errors);
		st.state = DSM_WL_FAILED;
		snprintf(st.error, sizeof(st.error), "spawn %s: %s", spec->argv[0], strerror(-ret));
		sup_log(s, "%s: gen %" PRIu64 ": %s", w->name, spec->gen, st.error);
		dsm_hotlist_free(&hl);
		sup_status_put(s, w, &st);
		return;
	}
	SUP_COUNT(s, spawned);
	w->spec_rev = spec_rev;
	st.state = DSM_WL_RUNNING;
	st.pid = w->pid;
	st.start_ms = sup_real_ms();
	st.has_downtime = dsm_sup_downtime(prev, spec->gen, st.start_ms, &st.downtime_ms);
	if (hot)
		sup_ws_begin(s, w, &hl, &st);
	sup_log(s, "%s: gen %" PRIu64 " started, pid %d (%s)", w->name, spec->gen, w->pid, d.why);
	sup_status_put(s, w, &st);
}

static void act_stop_migrate(struct dsm_supervisor *s, struct wl *w)
{
	struct dsm_wl_status st = w->st;

	/* Its segments now: after the exit the node no longer knows them. */
	sup_refresh_segs(s, w, true);
	/* The request first: the etcd round trip need not delay the stop
	 * (the exit is reaped on this thread, after the write below). */
	sup_signal(s, w, SIGUSR1, PH_STOPPING);
	st.state = DSM_WL_STOPPING;
	sup_status_put(s, w, &st);
	sup_log(s, "%s: gen %" PRIu64 " asked to stop (pid %d)", w->name, w->gen, w->pid);
}

static void act_mark_failed(struct dsm_supervisor *s, struct wl *w,
			    const struct dsm_wl_status *cur)
{
	struct dsm_wl_status st = *cur;

	st.state = DSM_WL_FAILED;
	snprintf(st.error, sizeof(st.error), "not running on node %u (its supervisor restarted)",
		 s->cfg.node);
	sup_status_put(s, w, &st);
}

static void act(struct dsm_supervisor *s, struct wl *w, const struct dsm_sup_view *v,
		struct dsm_sup_decision d)
{
	switch (d.action) {
	case DSM_SUP_START:
		act_start(s, w, v->spec, v->spec_rev, v->status, d);
		break;
	case DSM_SUP_STOP_MIGRATE:
		act_stop_migrate(s, w);
		break;
	case DSM_SUP_STOP_DELETE:
		sup_log(s, "%s: gen %" PRIu64 " terminated (%s)", w->name, w->gen, d.why);
		sup_signal(s, w, SIGTERM, PH_ENDING);
		break;
	case DSM_SUP_FORGET:
		sup_forget(s, w);
		break;
	case DSM_SUP_MARK_FAILED:
		act_mark_failed(s, w, v->status);
		break;
	default:
		break;
	}
}

static void reconcile_wl(struct dsm_supervisor *s, struct wl *w)
{
	struct dsm_wl_spec spec;
	struct dsm_wl_status status;
	struct dsm_sup_view v = { .prev_alive = -1 };
	struct dsm_sup_local l = { .running = w->phase != PH_IDLE,
				   .stopping = w->phase == PH_STOPPING || w->phase == PH_ENDING,
				   .gen = w->gen, .spec_rev = w->spec_rev };
	struct dsm_sup_decision d;

	memset(&spec, 0, sizeof(spec));
	memset(&status, 0, sizeof(status));
	if (w->spec.present) {
		v.spec_bad = record_bad(s, w, &w->spec, "spec",
					dsm_wl_spec_decode(w->spec.val, w->spec.len, &spec));
		if (!v.spec_bad && strcmp(spec.name, w->name) != 0)
			v.spec_bad = record_bad(s, w, &w->spec, "spec (name differs from key)",
						-EINVAL);
		v.spec = v.spec_bad ? NULL : &spec;
		v.spec_rev = w->spec.create_rev;
	}
	if (w->status.present &&
	    !record_bad(s, w, &w->status, "status",
			dsm_wl_status_decode(w->status.val, w->status.len, &status)))
		v.status = &status;
	d = dsm_sup_decide(s->cfg.node, &v, &l);
	if (d.action == DSM_SUP_ASK_LIVENESS) {
		v.prev_alive = member_alive(s, status.node);
		d = v.prev_alive < 0 ? (struct dsm_sup_decision){ .action = DSM_SUP_WAIT }
				     : dsm_sup_decide(s->cfg.node, &v, &l);
	}
	act(s, w, &v, d);
	dsm_wl_spec_free(&spec);
}

/* Forget workloads nothing is known of any more. */
static void gc_wl(struct dsm_supervisor *s)
{
	for (size_t i = 0; i < s->nwl;) {
		struct wl *w = s->wl[i];

		if (w->spec.present || w->status.present || w->hot.present ||
		    w->phase != PH_IDLE) {
			i++;
			continue;
		}
		sup_ws_end(w);
		free(w);
		s->wl[i] = s->wl[--s->nwl];
	}
}

static void reconcile_all(struct dsm_supervisor *s)
{
	uint64_t now = sup_mono_ms();

	if (!s->synced || (!s->dirty && now < s->reconcile_due))
		return;
	s->dirty = false;
	s->reconcile_due = now + SUP_RECONCILE_MS;
	for (size_t i = 0; i < s->nwl; i++)
		reconcile_wl(s, s->wl[i]);
	gc_wl(s);
}

/* ------------------------------------------------------------- the loop */

static bool any_phase(const struct dsm_supervisor *s, bool stopping, bool tracking)
{
	for (size_t i = 0; i < s->nwl; i++) {
		const struct wl *w = s->wl[i];

		if (stopping && (w->phase == PH_STOPPING || w->phase == PH_ENDING))
			return true;
		if (tracking && w->ws_active)
			return true;
	}
	return false;
}

/* Sleep until an etcd event, a workload's exit, or the next tick:
 * working-set samples (20 ms), stop deadlines, reconcile and pid_segments
 * refreshes (1 s). */
static void wait_step(struct dsm_supervisor *s)
{
	struct pollfd fds[1 + 32] = { { .fd = s->watcher.efd, .events = POLLIN } };
	int timeout = any_phase(s, false, true) ? SUP_WS_POLL_MS : SUP_IDLE_WAIT_MS;
	nfds_t n = 1;

	if (!s->synced)
		timeout = 200;   /* back off before reading again */
	if (any_phase(s, true, false) && timeout > 50)
		timeout = 50;    /* stop deadlines */
	for (size_t i = 0; i < s->nwl; i++) {
		const struct wl *w = s->wl[i];

		if (w->phase == PH_IDLE)
			continue;
		if (w->pidfd >= 0 && n < sizeof(fds) / sizeof(fds[0]))
			fds[n++] = (struct pollfd){ .fd = w->pidfd, .events = POLLIN };
		else
			timeout = 5;   /* no pidfd (or too many): look often */
	}
	poll(fds, n, timeout);
}

static void tick_processes(struct dsm_supervisor *s)
{
	for (size_t i = 0; i < s->nwl; i++) {
		struct wl *w = s->wl[i];

		if (w->phase != PH_IDLE)
			sup_reap(s, w);
		if (w->phase == PH_RUNNING)
			sup_refresh_segs(s, w, false);
		sup_ws_tick(s, w);
	}
}

static void *sup_main(void *arg)
{
	struct dsm_supervisor *s = arg;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		drain_events(s);
		watch_errors(s);
		if (!s->synced)
			sync_all(s);
		tick_processes(s);
		reconcile_all(s);
		wait_step(s);
	}
	for (size_t i = 0; i < s->nwl; i++)
		sup_shutdown_one(s, s->wl[i]);
	return NULL;
}

/* ------------------------------------------------------------ lifecycle */

static void sup_free(struct dsm_supervisor *s)
{
	for (size_t i = 0; i < s->nwl; i++) {
		struct wl *w = s->wl[i];

		sup_ws_end(w);
		free(w->spec.val);
		free(w->status.val);
		free(w->hot.val);
		free(w);
	}
	free(s->wl);
	free(s->held);
	dsm_etcd_free(s->etcd);
	free(s->endpoints);
	free(s->cluster);
	free(s->socket_path);
	free(s->state_dir);
	free(s);
}

static int copy_cfg(struct dsm_supervisor *s, const struct dsm_supervisor_cfg *cfg)
{
	s->cfg = *cfg;
	s->endpoints = strdup(cfg->endpoints);
	s->cluster = strdup(cfg->cluster ? cfg->cluster : "dsm");
	s->socket_path = cfg->socket_path ? strdup(cfg->socket_path) : NULL;
	s->state_dir = strdup(cfg->state_dir);
	if (!s->endpoints || !s->cluster || !s->state_dir ||
	    (cfg->socket_path && !s->socket_path))
		return -ENOMEM;
	s->cfg.endpoints = s->endpoints;
	s->cfg.cluster = s->cluster;
	s->cfg.socket_path = s->socket_path;
	s->cfg.state_dir = s->state_dir;
	if (!s->cfg.stop_timeout_ms)
		s->cfg.stop_timeout_ms = 10000;
	if (!s->cfg.ws_timeout_ms)
		s->cfg.ws_timeout_ms = 60000;
	snprintf(s->prefix, sizeof(s->prefix), "/dsm/%s/", s->cluster);
	snprintf(s->wl_prefix, sizeof(s->wl_prefix), "%sworkloads/", s->prefix);
	return 0;
}

static bool cfg_valid(const struct dsm_supervisor_cfg *cfg)
{
	return cfg && cfg->endpoints && cfg->node && cfg->state_dir && *cfg->state_dir &&
	       strlen(cfg->state_dir) < 256 && (!cfg->cluster || strlen(cfg->cluster) < 64);
}

/* The thread takes no signals meant for the host process. */
static int start_thread(struct dsm_supervisor *s)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&s->thread, NULL, sup_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

int dsm_supervisor_start(const struct dsm_supervisor_cfg *cfg, struct dsm_supervisor **out)
{
	struct dsm_supervisor *s;
	int ret;

	if (!cfg_valid(cfg))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = copy_cfg(s, cfg);
	if (ret == 0 && mkdir(s->state_dir, 0755) && errno != EEXIST)
		ret = -errno;
	if (ret == 0) {
		s->etcd = dsm_etcd_new(s->endpoints, 2000, NULL);
		ret = s->etcd ? 0 : -errno;
	}
	if (ret == 0)
		ret = sup_watcher_start(&s->watcher, s->endpoints, s->wl_prefix);
	if (ret) {
		sup_free(s);
		return ret;
	}
	ret = start_thread(s);
	if (ret) {
		sup_watcher_stop(&s->watcher);
		sup_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

void dsm_supervisor_stop(struct dsm_supervisor *s)
{
	if (!s)
		return;
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_join(s->thread, NULL);
	sup_watcher_stop(&s->watcher);
	sup_free(s);
}

void dsm_supervisor_stats(const struct dsm_supervisor *s, struct dsm_supervisor_stats *out)
{
	const uint64_t *from = (const uint64_t *)&s->st;
	uint64_t *to = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
	out->etcd_errors += __atomic_load_n(&s->watcher.errors, __ATOMIC_RELAXED);
}
