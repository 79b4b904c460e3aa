/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The workload supervisor of one node: it runs the workloads etcd assigns
 * to this node (P+"workloads/<name>/spec", written by dsmctl), stops them
 * at a safe point when they migrate away, and writes what happened to
 * P+"workloads/<name>/status" and the hot list to P+"workloads/<name>/hot"
 * (key schema in docs/control.md; the decisions in supervisor_logic.h).
 *
 * It runs on its own thread and never on a dataplane lcore: etcd round
 * trips, process spawning and waiting all block.  The dataplane gives it
 * two hooks, called on that thread:
 *  - pid_segments: segments a process has attached through the node's
 *    control socket (captured while the workload runs, refreshed every
 *    second and right before a stop request, since after its exit the node
 *    no longer knows);
 *  - held_pages: pages of a segment this node holds, most recently faulted
 *    first (the hot list at a stop; the working-set arrival after a start).
 * Either may be NULL: no hot list, no working-set tracking.
 *
 * A workload is spawned (posix_spawn) with the supervisor's environment
 * plus the spec's env and: DSM_SOCKET, DSM_WORKLOAD=<name>, DSM_GEN=<G>,
 * DSM_RESUME=1 (generations after the first), DSM_HOTLIST=<file> (when a
 * hot list exists), stdin /dev/null, stdout and stderr appended to
 * <state_dir>/<name>.<G>.log.  It dies with the supervisor thread
 * (libdsm sets PR_SET_PDEATHSIG), and the supervisor stops every workload
 * still running when it is stopped (SIGTERM, then SIGKILL).
 *
 * Errors (etcd unreachable, a record that does not decode, a failed spawn)
 * are counted, logged to stderr (repeats rate-limited) and retried; they
 * never stop the thread.  Processes are only ever signalled by the pid the
 * supervisor itself spawned, and reaped by that pid (waitpid(pid)), so the
 * host process may have other children.
 */
#ifndef DSM_CONTROL_WORKLOAD_SUPERVISOR_H
#define DSM_CONTROL_WORKLOAD_SUPERVISOR_H

#include <stdint.h>

struct dsm_supervisor_hooks {
	/* Segment ids process pid has attached: count (<= max) or -errno. */
	int (*pid_segments)(void *ctx, int pid, uint32_t *seg_ids, uint32_t max);
	/* Pages of seg_id this node holds (Shared or Exclusive), most recently
	 * faulted first: count or -errno.  A count == max means "maybe more":
	 * the supervisor asks again with a larger buffer. */
	int (*held_pages)(void *ctx, uint32_t seg_id, uint64_t *pgnos, uint32_t max);
	void *ctx;
};

struct dsm_supervisor_cfg {
	const char *endpoints;      /* etcd: http://h:p[,...] */
	const char *cluster;        /* keys under /dsm/<cluster>/; NULL: "dsm" */
	uint16_t node;              /* this node's id (>= 1) */
	const char *socket_path;    /* the node's control socket: DSM_SOCKET */
	const char *state_dir;      /* logs and hot-list files (created) */
	unsigned stop_timeout_ms;   /* safe point deadline; 0: 10000 */
	unsigned ws_timeout_ms;     /* give up waiting for the working set
				     * after this; 0: 60000 */
	struct dsm_supervisor_hooks hooks;
};

struct dsm_supervisor_stats {
	uint64_t etcd_errors;       /* failed etcd requests */
	uint64_t json_errors;       /* records that did not decode */
	uint64_t spawned;           /* workloads started */
	uint64_t spawn_errors;
	uint64_t stopped;           /* stopped at a safe point (migrated) */
	uint64_t stop_timeouts;     /* killed: no safe point in time */
	uint64_t exited;            /* ended by themselves */
	uint64_t status_writes;
	uint64_t status_conflicts;  /* a newer status was there: not written */
	uint64_t hot_writes;
};

struct dsm_supervisor;

/* Copy cfg, create state_dir, start the thread.  The first read of etcd
 * happens on the thread (retried until it works).  0 or -errno (-EINVAL:
 * bad cfg). */
int dsm_supervisor_start(const struct dsm_supervisor_cfg *cfg, struct dsm_supervisor **out);

/* Stop the thread; workloads still running get SIGTERM, then SIGKILL
 * after stop_timeout_ms, and their status becomes failed ("supervisor
 * stopped").  Frees the supervisor.  NULL is a no-op. */
void dsm_supervisor_stop(struct dsm_supervisor *s);

/* A snapshot of the counters (any thread). */
void dsm_supervisor_stats(const struct dsm_supervisor *s, struct dsm_supervisor_stats *out);

#endif /* DSM_CONTROL_WORKLOAD_SUPERVISOR_H */
