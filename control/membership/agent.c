/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "membership/agent.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void key_of(const struct dsm_agent *a, const char *what, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", a->prefix, what);
}

/* --------------------------------------------------------------- lease */

/* The node record (nodes/<id>) for operators: the member fields plus
 * whatever the node describes itself with.  Same lease as the member key,
 * so it vanishes with the node. */
static int put_record(struct dsm_agent *a)
{
	char key[128], val[1024];
	int n;

	if (!a->cfg.record)
		return 0;
	snprintf(key, sizeof(key), "%snodes/%u", a->prefix, a->cfg.node);
	n = snprintf(val, sizeof(val), "{\"node\":%u,\"incarnation\":\"%llu\"%s%s}",
		     a->cfg.node, (unsigned long long)a->cfg.incarnation,
		     a->cfg.record[0] ? "," : "", a->cfg.record);
	if (n < 0 || (size_t)n >= sizeof(val))
		return -ENOSPC;
	return dsm_etcd_put(a->etcd, key, val, (size_t)n, a->lease, NULL);
}

static int register_member(struct dsm_agent *a)
{
	struct dsm_member me = { .node = a->cfg.node, .incarnation = a->cfg.incarnation };
	char key[128], val[96];
	int n = dsm_member_encode(&me, val, sizeof(val)), ret;

	snprintf(key, sizeof(key), "%smembers/%u", a->prefix, a->cfg.node);
	ret = dsm_etcd_lease_grant(a->etcd, a->cfg.ttl_s, &a->lease);
	if (ret == 0)
		ret = put_record(a);
	if (ret == 0)
		ret = dsm_etcd_put(a->etcd, key, val, (size_t)n, a->lease, NULL);
	if (ret == 0) {
		a->last_renew_ms = now_ms();
		a->next_renew_ms = a->last_renew_ms + a->cfg.ttl_s * 1000 / 4;
		a->fenced = false;
	}
	return ret;
}

static void fence(struct dsm_agent *a)
{
	if (a->fenced)
		return;
	a->fenced = true;
	if (a->ops.on_fenced)
		a->ops.on_fenced(a->ops.ctx);
}

/* Renew when due.  The renewal's time is when it was sent: the lease runs
 * from the server's receipt, which is no earlier. */
static int renew(struct dsm_agent *a)
{
	uint64_t sent = now_ms();
	int64_t ttl = 0;
	int ret;

	if (sent < a->next_renew_ms)
		return 0;
	ret = dsm_etcd_lease_keepalive(a->etcd, a->lease, &ttl);
	if (ret == 0 && ttl > 0) {
		a->st.renewals++;
		a->last_renew_ms = sent;
		a->next_renew_ms = sent + a->cfg.ttl_s * 1000 / 4;
		return 0;
	}
	a->st.renew_errors++;
	if (ret == -ENOENT || (ret == 0 && ttl <= 0) ||
	    now_ms() - a->last_renew_ms > a->cfg.ttl_s * 1000 / 2)
		fence(a);
	a->next_renew_ms = now_ms() + 100;   /* retry soon while it can help */
	return ret ? ret : -ENOENT;
}

/* ------------------------------------------------------------ the view */

static int read_live(struct dsm_agent *a, struct dsm_view *live)
{
	struct dsm_etcd_kv *kvs = NULL;
	char prefix[128];
	size_t n = 0;
	int ret;

	key_of(a, "members/", prefix, sizeof(prefix));
	ret = dsm_etcd_range(a->etcd, prefix, &kvs, &n, &a->watch_rev);
	memset(live, 0, sizeof(*live));
	for (size_t i = 0; ret == 0 && i < n; i++) {
		if (live->n < DSM_VIEW_MAX &&
		    dsm_member_decode(kvs[i].value, kvs[i].value_len, &live->m[live->n]) == 0)
			live->n++;
		else
			a->st.bad_members++;
	}
	dsm_etcd_kvs_free(kvs, n);
	a->watch_rev++;   /* watch from just after what we read */
	return ret ? ret : (dsm_view_normalize(live) ? -EPROTO : 0);
}

static int read_epoch(struct dsm_agent *a, struct dsm_view *cur, int64_t *mod_rev)
{
	struct dsm_etcd_kv kv = { 0 };
	char key[128];
	int ret;

	key_of(a, "epoch", key, sizeof(key));
	ret = dsm_etcd_get(a->etcd, key, &kv);
	memset(cur, 0, sizeof(*cur));
	*mod_rev = 0;
	if (ret == -ENOENT)
		return 0;
	if (ret == 0) {
		*mod_rev = kv.mod_revision;
		ret = dsm_view_decode(kv.value, kv.value_len, cur);
	}
	dsm_etcd_kv_clear(&kv);
	return ret;
}

/* Propose next; whoever wins, *cur becomes the view in etcd. */
static int propose(struct dsm_agent *a, const struct dsm_view *next, int64_t expected,
		   struct dsm_view *cur)
{
	struct dsm_etcd_kv won = { 0 };
	char key[128], val[4096];
	int n = dsm_view_encode(next, val, sizeof(val)), ret;

	if (n < 0)
		return n;
	key_of(a, "epoch", key, sizeof(key));
	a->st.proposals++;
	ret = dsm_etcd_cas(a->etcd, key, val, (size_t)n, 0, expected, NULL, &won);
	if (ret == 1) {
		a->st.cas_won++;
		*cur = *next;
		ret = 0;
	} else if (ret == 0) {
		/* Someone else moved first: theirs is the view; the next
		 * round proposes again if it still differs from the live set. */
		a->st.cas_lost++;
		ret = won.create_revision ? dsm_view_decode(won.value, won.value_len, cur) : 0;
	}
	dsm_etcd_kv_clear(&won);
	return ret;
}

static void adopt(struct dsm_agent *a, const struct dsm_view *cur)
{
	struct dsm_view old = a->view;

	if (cur->epoch <= a->view.epoch)
		return;   /* epochs only go forward */
	a->view = *cur;
	a->st.views++;
	if (a->ops.on_view)
		a->ops.on_view(a->ops.ctx, &old, cur);
}

static int reconcile(struct dsm_agent *a)
{
	struct dsm_view live, cur, next;
	int64_t mod_rev;
	int ret = read_live(a, &live);

	if (ret == 0)
		ret = read_epoch(a, &cur, &mod_rev);
	/* A fenced node proposes nothing: its word no longer counts. */
	if (ret == 0 && !a->fenced && dsm_view_next(&cur, &live, &next))
		ret = propose(a, &next, mod_rev, &cur);
	if (ret == 0 && cur.epoch)
		adopt(a, &cur);
	return ret;
}

/* ------------------------------------------------------------- the loop */

/* Only the member keys and the epoch key change a view; operators' and
 * supervisors' keys under the same prefix must not wake the agent. */
static int view_event(void *arg, const struct dsm_etcd_event *ev)
{
	const struct dsm_agent *a = arg;
	size_t plen = strlen(a->prefix);
	const char *rest;

	if (ev->kv.key_len < plen || memcmp(ev->kv.key, a->prefix, plen))
		return 0;
	rest = ev->kv.key + plen;
	return !strncmp(rest, "members/", 8) || !strcmp(rest, "epoch");
}

int dsm_agent_step(struct dsm_agent *a, unsigned max_wait_ms)
{
	uint64_t now;
	unsigned wait;
	int ret = renew(a), rw;

	rw = reconcile(a);
	if (ret == 0)
		ret = rw;
	now = now_ms();
	wait = a->next_renew_ms > now ? (unsigned)(a->next_renew_ms - now) : 0;
	if (wait > max_wait_ms)
		wait = max_wait_ms;
	if (wait) {
		rw = dsm_etcd_watch(a->etcd, a->prefix, a->watch_rev, view_event, a, wait, NULL);
		if (ret == 0 && rw < 0 && rw != -ERANGE)
			ret = rw;
	}
	return ret;
}

int dsm_agent_start(struct dsm_agent *a, const struct dsm_agent_cfg *cfg,
		    const struct dsm_agent_ops *ops)
{
	int ret;

	memset(a, 0, sizeof(*a));
	if (!cfg->node || cfg->node >= DSM_VIEW_MAX || !cfg->ttl_s || !cfg->cluster)
		return -EINVAL;
	a->cfg = *cfg;
	a->ops = *ops;
	snprintf(a->prefix, sizeof(a->prefix), "/dsm/%s/", cfg->cluster);
	a->etcd = dsm_etcd_new(cfg->endpoints, 2000, NULL);
	if (!a->etcd)
		return -errno;
	ret = register_member(a);
	if (ret == 0)
		ret = reconcile(a);
	if (ret) {
		dsm_etcd_free(a->etcd);
		a->etcd = NULL;
	}
	return ret;
}

int dsm_agent_rejoin(struct dsm_agent *a, uint64_t incarnation)
{
	int ret;

	a->cfg.incarnation = incarnation;
	ret = register_member(a);
	return ret ? ret : reconcile(a);
}

void dsm_agent_leave(struct dsm_agent *a)
{
	char key[128];

	if (!a->etcd)
		return;
	snprintf(key, sizeof(key), "%smembers/%u", a->prefix, a->cfg.node);
	dsm_etcd_delete(a->etcd, key);
	dsm_etcd_lease_revoke(a->etcd, a->lease);
	dsm_etcd_free(a->etcd);
	a->etcd = NULL;
}

void dsm_agent_abandon(struct dsm_agent *a)
{
	dsm_etcd_free(a->etcd);
	a->etcd = NULL;
}
