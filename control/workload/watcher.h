/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The supervisor's watch of P+"workloads/", on a thread of its own with
 * its own etcd client, feeding a queue the supervisor thread drains when
 * the eventfd says so.
 *
 * Why a thread: the watch must stay open.  etcd serves a watch created
 * from a revision older than the store's ("unsynced") from a catch-up loop
 * that runs every 100 ms, so re-creating the watch after each event (the
 * only way a single thread could act on events at once) delays every
 * event that follows one by up to 100 ms - most of a migration's downtime.
 * One long-lived stream delivers events as they are written.
 */
#ifndef DSM_CONTROL_WORKLOAD_WATCHER_H
#define DSM_CONTROL_WORKLOAD_WATCHER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "etcd/etcd.h"

/* One queued event. */
struct wev {
	struct wev *next;
	bool del;                /* a DELETE, else a PUT */
	struct dsm_etcd_kv kv;   /* owned copy of key and value */
};

struct sup_watcher {
	pthread_t thread;
	struct dsm_etcd *etcd;
	char prefix[160];
	pthread_mutex_t lock;
	struct wev *head, *tail;     /* under lock */
	bool resync;                 /* under lock: events were lost (compaction,
				      * no memory): read everything again */
	int64_t start_rev;           /* under lock: where to (re)start; 0: wait */
	uint64_t start_seq;          /* under lock: bumped by sup_watcher_from */
	int efd;                     /* eventfd: the queue is not empty */
	int stop;                    /* atomic */
	uint64_t errors;             /* atomic: failed watch requests */
	char last_error[200];        /* under lock */
};

/* Own client, thread started; it waits for sup_watcher_from.  0/-errno. */
int  sup_watcher_start(struct sup_watcher *w, const char *endpoints, const char *prefix);
/* Stops within one watch window (SUP_WATCH_WINDOW_MS); frees the queue. */
void sup_watcher_stop(struct sup_watcher *w);
/* (Re)start the watch at rev (after a range read at rev - 1). */
void sup_watcher_from(struct sup_watcher *w, int64_t rev);
/* Take the queued events (a list, oldest first; free with sup_wev_free);
 * *resync: the supervisor must read everything again (then call
 * sup_watcher_from). */
struct wev *sup_watcher_take(struct sup_watcher *w, bool *resync);
void sup_wev_free(struct wev *e);
/* The last error message, for logging (copied out under the lock). */
void sup_watcher_error(struct sup_watcher *w, char *buf, size_t len);

#define SUP_WATCH_WINDOW_MS 500   /* one watch request; bounds stop latency */

#endif /* DSM_CONTROL_WORKLOAD_WATCHER_H */
