/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The supervisor's processes: spawn with the workload environment, signal
 * and reap by the pid we spawned (never anything else), and what an exit
 * means for the status.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "workload/supervisor_internal.h"

extern char **environ;

/* Set by the supervisor only: inherited or spec values are dropped. */
static const char *const reserved[] = {
	"DSM_SOCKET", "DSM_WORKLOAD", "DSM_GEN", "DSM_RESUME", "DSM_HOTLIST",
	"DSM_PARENT_PID",
};

static bool env_named(const char *entry, const char *name)
{
	size_t len = strlen(name);

	return strncmp(entry, name, len) == 0 && entry[len] == '=';
}

static bool env_reserved(const char *entry)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (env_named(entry, reserved[i]))
			return true;
	return false;
}

/* Is entry's variable set by the spec (which then wins over ours)? */
static bool env_in_spec(const char *entry, const struct dsm_wl_spec *spec)
{
	const char *eq = strchr(entry, '=');

	for (unsigned i = 0; eq && i < spec->nenv; i++)
		if (strncmp(spec->env[i], entry, (size_t)(eq - entry + 1)) == 0)
			return true;
	return false;
}

static int env_add(char **env, size_t *n, const char *fmt, const char *a, const char *b)
{
	size_t len = strlen(fmt) + strlen(a) + strlen(b) + 1;

	env[*n] = malloc(len);
	if (!env[*n])
		return -ENOMEM;
	snprintf(env[(*n)++], len, fmt, a, b);
	return 0;
}

static void env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/* environ - reserved - spec's names, + spec env, + the workload vars. */
static char **build_env(struct dsm_supervisor *s, const struct dsm_wl_spec *spec,
			const char *hotfile, bool resume)
{
	size_t n = 0, cap = spec->nenv + 8;
	char gen[24], ppid[24], **env;
	int ret = 0;

	for (char **e = environ; e && *e; e++)
		cap++;
	env = calloc(cap, sizeof(*env));
	if (!env)
		return NULL;
	snprintf(gen, sizeof(gen), "%" PRIu64, spec->gen);
	snprintf(ppid, sizeof(ppid), "%ld", (long)getpid());
	for (char **e = environ; ret == 0 && e && *e; e++)
		if (!env_reserved(*e) && !env_in_spec(*e, spec))
			ret = env_add(env, &n, "%s%s", *e, "");
	for (unsigned i = 0; ret == 0 && i < spec->nenv; i++)
		if (!env_reserved(spec->env[i]))
			ret = env_add(env, &n, "%s%s", spec->env[i], "");
	if (ret == 0 && s->socket_path)
		ret = env_add(env, &n, "%s=%s", "DSM_SOCKET", s->socket_path);
	if (ret == 0)
		ret = env_add(env, &n, "%s=%s", "DSM_WORKLOAD", spec->name);
	if (ret == 0)
		ret = env_add(env, &n, "%s=%s", "DSM_GEN", gen);
	if (ret == 0)
		ret = env_add(env, &n, "%s=%s", "DSM_PARENT_PID", ppid);
	if (ret == 0 && resume)
		ret = env_add(env, &n, "%s=%s", "DSM_RESUME", "1");
	if (ret == 0 && hotfile)
		ret = env_add(env, &n, "%s=%s", "DSM_HOTLIST", hotfile);
	if (ret) {
		env_free(env);
		return NULL;
	}
	return env;
}

/* stdin from /dev/null, stdout and stderr appended to the log, nothing
 * else of ours (the host's sockets and hugepage files stay with it). */
static int file_actions(posix_spawn_file_actions_t *fa, const char *log)
{
	int ret = posix_spawn_file_actions_init(fa);

	if (ret)
		return -ret;
	ret = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	if (!ret)
		ret = posix_spawn_file_actions_addopen(fa, 1, log,
						       O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (!ret)
		ret = posix_spawn_file_actions_adddup2(fa, 1, 2);
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
	if (!ret)
		ret = posix_spawn_file_actions_addclosefrom_np(fa, 3);
#endif
	if (ret)
		posix_spawn_file_actions_destroy(fa);
	return -ret;
}

/* Default dispositions and an empty mask: the host (a DPDK process, our
 * thread) blocks and handles signals its own way. */
static int spawn_attr(posix_spawnattr_t *at)
{
	sigset_t none, all;
	int ret = posix_spawnattr_init(at);

	if (ret)
		return -ret;
	sigemptyset(&none);
	sigfillset(&all);
	ret = posix_spawnattr_setsigmask(at, &none);
	if (!ret)
		ret = posix_spawnattr_setsigdefault(at, &all);
	if (!ret)
		ret = posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (ret)
		posix_spawnattr_destroy(at);
	return -ret;
}

static int do_spawn(const struct dsm_wl_spec *spec, char **env, const char *log, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int ret = file_actions(&fa, log);

	if (ret)
		return ret;
	ret = spawn_attr(&at);
	if (ret == 0) {
		/* A bare name is looked up in PATH, like a shell would. */
		ret = -(strchr(spec->argv[0], '/')
			? posix_spawn(pid, spec->argv[0], &fa, &at, spec->argv, env)
			: posix_spawnp(pid, spec->argv[0], &fa, &at, spec->argv, env));
		posix_spawnattr_destroy(&at);
	}
	posix_spawn_file_actions_destroy(&fa);
	return ret;
}

int sup_spawn(struct dsm_supervisor *s, struct wl *w, const struct dsm_wl_spec *spec,
	      const char *hotfile, bool resume)
{
	char log[512], **env = build_env(s, spec, hotfile, resume);
	pid_t pid;
	int ret;

	if (!env)
		return -ENOMEM;
	snprintf(log, sizeof(log), "%s/%s.%" PRIu64 ".log", s->state_dir, w->name, spec->gen);
	ret = do_spawn(spec, env, log, &pid);
	env_free(env);
	if (ret)
		return ret;
	w->phase = PH_RUNNING;
	w->pid = pid;
	w->gen = spec->gen;
	w->killed = false;
	w->nsegs = 0;
	w->segs_due = 0;
	/* A pidfd lets the wait for a stopping workload wake at its exit. */
	w->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	return 0;
}

void sup_signal(struct dsm_supervisor *s, struct wl *w, int sig, enum wl_phase phase)
{
	if (kill(w->pid, sig))
		sup_log(s, "%s: kill(%d, %d): %s", w->name, w->pid, sig, strerror(errno));
	w->phase = phase;
	w->signal_mono = sup_mono_ms();
	w->deadline = w->signal_mono + s->cfg.stop_timeout_ms;
}

/* ---------------------------------------------------------------- exits */

static void exit_fields(struct dsm_wl_status *st, int wstatus)
{
	st->has_exit = true;
	if (wstatus < 0)
		st->exit = 255;   /* reaped by someone else: unknown */
	else if (WIFEXITED(wstatus))
		st->exit = WEXITSTATUS(wstatus);
	else
		st->exit = 128 + WTERMSIG(wstatus);
}

/* Migrating away: hot list first, then "stopped", which lets the next
 * generation start with the hot list already in place. */
static void exit_stopping(struct dsm_supervisor *s, struct wl *w, int wstatus, int64_t stop_ms)
{
	struct dsm_wl_status st = w->st;
	bool clean = wstatus >= 0 && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
	uint64_t t0 = sup_mono_ms(), hot_ms;

	st.safepoint_ms = (int64_t)(t0 - w->signal_mono);
	sup_write_hot(s, w);
	hot_ms = sup_mono_ms() - t0;   /* part of the downtime: logged */
	exit_fields(&st, wstatus);
	st.stop_ms = stop_ms;
	st.state = clean && !w->killed ? DSM_WL_STOPPED : DSM_WL_FAILED;
	if (w->killed)
		snprintf(st.error, sizeof(st.error), "no safe point within %u ms: killed "
			 "(SIGKILL)", s->cfg.stop_timeout_ms);
	else if (!clean)
		snprintf(st.error, sizeof(st.error), "ended with status %d when asked to stop",
			 st.exit);
	if (st.state == DSM_WL_STOPPED)
		SUP_COUNT(s, stopped);
	sup_log(s, "%s: gen %" PRIu64 " %s (stop request to exit %" PRId64 " ms, hot list "
		"%" PRIu64 " ms)", w->name, w->gen, st.error[0] ? st.error : "stopped at a safe point",
		st.safepoint_ms, hot_ms);
	sup_status_put(s, w, &st);
}

static void exit_by_itself(struct dsm_supervisor *s, struct wl *w, int wstatus, int64_t stop_ms)
{
	struct dsm_wl_status st = w->st;

	exit_fields(&st, wstatus);
	st.stop_ms = stop_ms;
	st.ws_moved = w->ws_moved;
	if (wstatus >= 0 && WIFSIGNALED(wstatus)) {
		st.state = DSM_WL_FAILED;
		snprintf(st.error, sizeof(st.error), "killed by signal %d (%s)",
			 WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
	} else {
		st.state = wstatus < 0 ? DSM_WL_FAILED : DSM_WL_EXITED;
		if (wstatus < 0)
			snprintf(st.error, sizeof(st.error), "exit status lost");
	}
	SUP_COUNT(s, exited);
	sup_log(s, "%s: gen %" PRIu64 " ended by itself (status %d)", w->name, w->gen, st.exit);
	sup_status_put(s, w, &st);
}

static void on_exit_of(struct dsm_supervisor *s, struct wl *w, int wstatus)
{
	int64_t stop_ms = sup_real_ms();

	if (w->phase == PH_STOPPING)
		exit_stopping(s, w, wstatus, stop_ms);
	else if (w->phase == PH_ENDING && !w->spec.present)
		sup_forget(s, w);
	else if (w->phase == PH_RUNNING)
		exit_by_itself(s, w, wstatus, stop_ms);
	if (w->pidfd >= 0)
		close(w->pidfd);
	w->pidfd = -1;
	w->pid = 0;
	w->phase = PH_IDLE;
	sup_ws_end(w);
	s->dirty = true;   /* the next generation may start now */
}

/* Past the stop deadline: SIGKILL, once; then wait for the kill. */
static void check_deadline(struct dsm_supervisor *s, struct wl *w)
{
	uint64_t now = sup_mono_ms();

	if ((w->phase != PH_STOPPING && w->phase != PH_ENDING) || now < w->deadline)
		return;
	if (w->killed) {
		sup_log(s, "%s: pid %d survives SIGKILL", w->name, w->pid);
		w->deadline = now + SUP_KILL_WAIT_MS;
		return;
	}
	if (w->phase == PH_STOPPING)
		SUP_COUNT(s, stop_timeouts);
	sup_log(s, "%s: pid %d did not stop within %u ms: SIGKILL", w->name, w->pid,
		s->cfg.stop_timeout_ms);
	kill(w->pid, SIGKILL);
	w->killed = true;
	w->deadline = now + SUP_KILL_WAIT_MS;
}

void sup_reap(struct dsm_supervisor *s, struct wl *w)
{
	int wstatus = 0;
	pid_t r = waitpid(w->pid, &wstatus, WNOHANG);

	if (r == 0) {
		check_deadline(s, w);
		return;
	}
	if (r < 0 && errno == EINTR)
		return;
	on_exit_of(s, w, r < 0 ? -1 : wstatus);
}

/* At supervisor stop: SIGTERM, the stop timeout, SIGKILL; then the
 * status says why it ended. */
void sup_shutdown_one(struct dsm_supervisor *s, struct wl *w)
{
	struct dsm_wl_status st = w->st;
	uint64_t deadline = sup_mono_ms() + s->cfg.stop_timeout_ms;
	int wstatus = 0;

	if (w->phase == PH_IDLE)
		return;
	kill(w->pid, SIGTERM);
	while (waitpid(w->pid, &wstatus, WNOHANG) == 0) {
		struct pollfd p = { .fd = w->pidfd, .events = POLLIN };

		if (sup_mono_ms() >= deadline) {
			kill(w->pid, SIGKILL);
			waitpid(w->pid, &wstatus, 0);
			break;
		}
		poll(&p, w->pidfd >= 0 ? 1 : 0, w->pidfd >= 0 ? 50 : 5);
	}
	if (w->pidfd >= 0)
		close(w->pidfd);
	w->pidfd = -1;
	if (w->phase == PH_ENDING && !w->spec.present) {
		w->phase = PH_IDLE;
		sup_forget(s, w);
		return;
	}
	w->phase = PH_IDLE;
	exit_fields(&st, wstatus);
	st.state = DSM_WL_FAILED;
	st.stop_ms = sup_real_ms();
	snprintf(st.error, sizeof(st.error), "supervisor stopped (node shutting down)");
	sup_status_put(s, w, &st);
}
