/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside the supervisor (supervisor.c: thread, etcd cache, decisions;
 * process.c: spawning and reaping; tracking.c: hot lists and working-set
 * arrival).  Everything here runs on the supervisor's thread, except the
 * counters (atomics, read by dsm_supervisor_stats).
 */
#ifndef DSM_CONTROL_WORKLOAD_SUPERVISOR_INTERNAL_H
#define DSM_CONTROL_WORKLOAD_SUPERVISOR_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "etcd/etcd.h"
#include "workload/hotlist.h"
#include "workload/records.h"
#include "workload/supervisor.h"
#include "workload/supervisor_logic.h"
#include "workload/watcher.h"

#define SUP_MAX_SEGS        64
#define SUP_SEGS_REFRESH_MS 1000   /* pid_segments while running */
#define SUP_WS_POLL_MS      20     /* working-set arrival sampling, at most */
#define SUP_WS_WRITE_MS     100    /* at most ~10 status writes/s */
#define SUP_IDLE_WAIT_MS    250    /* longest block: bounds stop latency */
#define SUP_RECONCILE_MS    1000   /* re-decide even without events */
#define SUP_KILL_WAIT_MS    5000   /* after SIGKILL */
#define SUP_HOT_MAX_JSON    (512 * 1024)  /* etcd's request limit is 1.5 MiB */
#define SUP_HELD_MAX        (1u << 24)

#define SUP_COUNT(s, field) __atomic_fetch_add(&(s)->st.field, 1, __ATOMIC_RELAXED)

/* One key as last seen in etcd (a watch-fed cache). */
struct ckv {
	bool present;
	int64_t mod_rev;      /* of the last put or delete seen: newer wins */
	int64_t create_rev;
	char *val;
	size_t len;
	int64_t bad_rev;      /* mod_rev whose value did not decode (logged once) */
};

enum wl_phase {
	PH_IDLE,              /* no process of ours */
	PH_RUNNING,
	PH_STOPPING,          /* SIGUSR1 sent: migrating away */
	PH_ENDING,            /* SIGTERM sent: spec deleted or replaced */
};

struct wl {
	char name[DSM_WL_NAME_MAX + 1];
	struct ckv spec, status, hot;
	/* the local process */
	enum wl_phase phase;
	pid_t pid;
	int pidfd;            /* -1: none (poll by waitpid) */
	uint64_t gen;
	int64_t spec_rev;
	bool killed;          /* SIGKILL sent */
	uint64_t deadline;    /* monotonic ms, of the stop in progress */
	uint64_t signal_mono; /* monotonic ms, when asked to stop */
	uint32_t segs[SUP_MAX_SEGS];
	unsigned nsegs;
	uint64_t segs_due;
	/* working-set arrival after a resume */
	struct dsm_hotlist ws;
	bool ws_active;
	uint64_t ws_pages, ws_moved, ws_written;
	uint64_t ws_deadline, ws_poll_due, ws_last_write;
	uint64_t ws_query_max;     /* longest held_pages round, ms */
	struct dsm_wl_status st;   /* the last status this node wrote */
};

struct dsm_supervisor {
	struct dsm_supervisor_cfg cfg;   /* strings point to the copies below */
	char *endpoints, *cluster, *socket_path, *state_dir;
	char prefix[128];                /* /dsm/<cluster>/ */
	char wl_prefix[160];             /* prefix + "workloads/" */
	struct dsm_etcd *etcd;           /* the supervisor thread's client */
	struct sup_watcher watcher;      /* the watch, on its own thread */
	uint64_t watch_errors_seen;
	pthread_t thread;
	int stop;                        /* atomic */
	bool synced, dirty;
	uint64_t reconcile_due;
	struct wl **wl;
	size_t nwl;
	uint64_t *held;                  /* buffer for held_pages */
	size_t held_cap;
	struct dsm_supervisor_stats st;
	char last_log[256];
	uint64_t last_log_ms;
	unsigned suppressed;
};

uint64_t sup_mono_ms(void);
int64_t sup_real_ms(void);
__attribute__((format(printf, 2, 3)))
void sup_log(struct dsm_supervisor *s, const char *fmt, ...);
void sup_etcd_error(struct dsm_supervisor *s, const char *what, int ret);
int sup_status_put(struct dsm_supervisor *s, struct wl *w, const struct dsm_wl_status *st);
void sup_forget(struct dsm_supervisor *s, struct wl *w);

/* process.c */
int  sup_spawn(struct dsm_supervisor *s, struct wl *w, const struct dsm_wl_spec *spec,
	       const char *hotfile, bool resume);
void sup_reap(struct dsm_supervisor *s, struct wl *w);
void sup_signal(struct dsm_supervisor *s, struct wl *w, int sig, enum wl_phase phase);
void sup_shutdown_one(struct dsm_supervisor *s, struct wl *w);

/* tracking.c */
void sup_refresh_segs(struct dsm_supervisor *s, struct wl *w, bool now);
int  sup_write_hot(struct dsm_supervisor *s, struct wl *w);
void sup_ws_begin(struct dsm_supervisor *s, struct wl *w, struct dsm_hotlist *hl,
		  struct dsm_wl_status *st);
void sup_ws_tick(struct dsm_supervisor *s, struct wl *w);
void sup_ws_end(struct wl *w);

#endif /* DSM_CONTROL_WORKLOAD_SUPERVISOR_INTERNAL_H */
