/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "workload/watcher.h"

static void wake(struct sup_watcher *w)
{
	uint64_t one = 1;

	if (write(w->efd, &one, sizeof(one)) < 0)
		return;   /* the counter is non-zero already: the reader wakes */
}

static void push(struct sup_watcher *w, struct wev *e)
{
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = e;
	else
		w->head = e;
	w->tail = e;
	pthread_mutex_unlock(&w->lock);
	wake(w);
}

/* Events were lost: the supervisor reads everything, then restarts us. */
static void ask_resync(struct sup_watcher *w, int64_t *rev)
{
	pthread_mutex_lock(&w->lock);
	w->resync = true;
	pthread_mutex_unlock(&w->lock);
	*rev = 0;
	wake(w);
}

static char *dup_bytes(const char *p, size_t len)
{
	char *c = malloc(len + 1);

	if (c) {
		memcpy(c, p, len);
		c[len] = '\0';
	}
	return c;
}

static int on_event(void *arg, const struct dsm_etcd_event *ev)
{
	struct sup_watcher *w = arg;
	struct wev *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->del = ev->type == DSM_ETCD_DELETE;
	e->kv = ev->kv;
	e->kv.key = dup_bytes(ev->kv.key, ev->kv.key_len);
	e->kv.value = dup_bytes(ev->kv.value ? ev->kv.value : "", ev->kv.value_len);
	if (!e->kv.key || !e->kv.value) {
		sup_wev_free(e);
		return -ENOMEM;   /* this event is lost: watch_once asks for a resync */
	}
	push(w, e);
	return 0;
}

static void note_error(struct sup_watcher *w, int ret)
{
	__atomic_fetch_add(&w->errors, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&w->lock);
	snprintf(w->last_error, sizeof(w->last_error), "%s (%s)", strerror(-ret),
		 dsm_etcd_last_error(w->etcd));
	pthread_mutex_unlock(&w->lock);
}

/* One watch window from *rev; *rev moves past what was delivered. */
static void watch_once(struct sup_watcher *w, int64_t *rev)
{
	int64_t next = 0;
	int ret = dsm_etcd_watch(w->etcd, w->prefix, *rev, on_event, w,
				 SUP_WATCH_WINDOW_MS, &next);

	if (next > 0)
		*rev = next;
	if (ret == -ERANGE || ret == -ENOMEM) {
		ask_resync(w, rev);   /* compacted past us, or an event dropped */
	} else if (ret < 0) {
		note_error(w, ret);
		poll(NULL, 0, 100);   /* back off: etcd is failing */
	}
}

static void *watch_main(void *arg)
{
	struct sup_watcher *w = arg;
	uint64_t seq = 0;
	int64_t rev = 0;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&w->lock);
		if (w->start_seq != seq) {
			seq = w->start_seq;
			rev = w->start_rev;
		}
		pthread_mutex_unlock(&w->lock);
		if (rev > 0)
			watch_once(w, &rev);
		else
			poll(NULL, 0, 20);   /* until the first read says where */
	}
	return NULL;
}

int sup_watcher_start(struct sup_watcher *w, const char *endpoints, const char *prefix)
{
	sigset_t all, old;
	int ret;

	memset(w, 0, sizeof(*w));
	snprintf(w->prefix, sizeof(w->prefix), "%s", prefix);
	pthread_mutex_init(&w->lock, NULL);
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0)
		return -errno;
	w->etcd = dsm_etcd_new(endpoints, 2000, NULL);
	if (!w->etcd) {
		ret = -errno;
		close(w->efd);
		return ret;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&w->thread, NULL, watch_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		dsm_etcd_free(w->etcd);
		close(w->efd);
	}
	return ret;
}

void sup_watcher_stop(struct sup_watcher *w)
{
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	pthread_join(w->thread, NULL);
	sup_wev_free(w->head);
	w->head = w->tail = NULL;
	dsm_etcd_free(w->etcd);
	close(w->efd);
	pthread_mutex_destroy(&w->lock);
}

void sup_watcher_from(struct sup_watcher *w, int64_t rev)
{
	pthread_mutex_lock(&w->lock);
	w->start_rev = rev;
	w->start_seq++;
	pthread_mutex_unlock(&w->lock);
}

struct wev *sup_watcher_take(struct sup_watcher *w, bool *resync)
{
	struct wev *list;
	uint64_t n;

	/* Drain the eventfd first: a push after it wakes us again. */
	if (read(w->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		n = 0;
	pthread_mutex_lock(&w->lock);
	list = w->head;
	w->head = w->tail = NULL;
	*resync = w->resync;
	w->resync = false;
	pthread_mutex_unlock(&w->lock);
	return list;
}

void sup_wev_free(struct wev *e)
{
	while (e) {
		struct wev *next = e->next;

		free(e->kv.key);
		free(e->kv.value);
		free(e);
		e = next;
	}
}

void sup_watcher_error(struct sup_watcher *w, char *buf, size_t len)
{
	pthread_mutex_lock(&w->lock);
	snprintf(buf, len, "%s", w->last_error);
	pthread_mutex_unlock(&w->lock);
}
