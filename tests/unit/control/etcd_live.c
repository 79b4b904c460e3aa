/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * control/etcd against a real etcd: this program starts its own etcd
 * (single member, loopback, free ports, data in a fresh temporary
 * directory), runs put/get/range/delete, a compare-and-swap race between
 * two clients, lease grant/keepalive/expiry/revoke, watch (live, replayed,
 * compacted) and endpoint failover, then stops etcd by its pid and
 * removes the directory.  Exit status 0 only if every check passed.
 *
 *   etcd_live              uses `etcd` from PATH (Debian: etcd-server)
 *   DSM_ETCD_BIN=/path     another binary
 *   DSM_ETCD_KEEP=1        keep the temporary directory (etcd.log inside)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "etcd/etcd.h"
#include "etcd/local.h"
#include "live_clock.h"

static char g_url[64];
static char g_dir[256];
static pid_t g_etcd = -1;

#define CHECK(c, cond) do {                                                   \
	if (!(cond)) {                                                        \
		fprintf(stderr, "  %s:%d: failed: %s\n  last error: %s\n",     \
			__FILE__, __LINE__, #cond,                            \
			(c) ? dsm_etcd_last_error(c) : "-");                  \
		return false;                                                 \
	}                                                                     \
} while (0)

static struct dsm_etcd *client(void)
{
	struct dsm_etcd *c = dsm_etcd_new(g_url, 3000, NULL);

	if (c == NULL)
		fprintf(stderr, "dsm_etcd_new(%s): %s\n", g_url, strerror(errno));
	return c;
}

/* ------------------------------------------------------------ etcd */

static struct dsm_etcd_local g_local;

/* control/etcd/local.c: the same local etcd a node starts by default. */
static bool start_etcd(void)
{
	int ret = dsm_etcd_local_start(&g_local, NULL, 0, 20000);

	snprintf(g_url, sizeof(g_url), "%s", g_local.url);
	snprintf(g_dir, sizeof(g_dir), "%s", g_local.dir);
	g_etcd = g_local.pid;
	if (ret) {
		fprintf(stderr, "etcd_live: etcd did not come up (%s); see %s/etcd.log\n",
			strerror(-ret), g_dir);
		return false;
	}
	printf("etcd pid %d at %s, data in %s\n", (int)g_etcd, g_url, g_dir);
	return true;
}

static void stop_etcd(bool keep)
{
	dsm_etcd_local_stop(&g_local, keep);
	g_etcd = -1;
}

/* ---------------------------------------------------------- the tests */

static bool test_kv(void)
{
	static const char bin[] = "a\0b\xff\n";
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv kv, *kvs;
	int64_t r1, r2, rrev;
	size_t n;

	CHECK(c, c != NULL);
	CHECK(c, dsm_etcd_put(c, "live/kv/a", "1", 1, 0, &r1) == 0 && r1 > 0);
	CHECK(c, dsm_etcd_get(c, "live/kv/a", &kv) == 0);
	CHECK(c, strcmp(kv.value, "1") == 0 && kv.mod_revision == r1 &&
		 kv.create_revision == r1 && kv.version == 1 && kv.lease == 0);
	dsm_etcd_kv_clear(&kv);
	CHECK(c, dsm_etcd_put(c, "live/kv/a", "22", 2, 0, &r2) == 0 && r2 > r1);
	CHECK(c, dsm_etcd_get(c, "live/kv/a", &kv) == 0);
	CHECK(c, kv.create_revision == r1 && kv.mod_revision == r2 && kv.version == 2);
	dsm_etcd_kv_clear(&kv);
	CHECK(c, dsm_etcd_put(c, "live/kv/b", bin, sizeof(bin) - 1, 0, NULL) == 0);
	CHECK(c, dsm_etcd_put(c, "live/kv/c", "", 0, 0, NULL) == 0);
	CHECK(c, dsm_etcd_put(c, "live/kw", "x", 1, 0, NULL) == 0);  /* not in live/kv/ */
	CHECK(c, dsm_etcd_range(c, "live/kv/", &kvs, &n, &rrev) == 0 && n == 3);
	CHECK(c, strcmp(kvs[0].key, "live/kv/a") == 0 && strcmp(kvs[0].value, "22") == 0);
	CHECK(c, kvs[1].value_len == sizeof(bin) - 1 &&
		 memcmp(kvs[1].value, bin, sizeof(bin) - 1) == 0);
	CHECK(c, strcmp(kvs[2].key, "live/kv/c") == 0 && kvs[2].value_len == 0);
	CHECK(c, rrev >= r2);
	dsm_etcd_kvs_free(kvs, n);
	CHECK(c, dsm_etcd_delete(c, "live/kv/a") == 1);
	CHECK(c, dsm_etcd_delete(c, "live/kv/a") == 0);
	CHECK(c, dsm_etcd_get(c, "live/kv/a", &kv) == -ENOENT);
	CHECK(c, dsm_etcd_range(c, "live/none/", &kvs, &n, NULL) == 0 && n == 0);
	dsm_etcd_free(c);
	return true;
}

static bool test_big_value(void)
{
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv kv;
	size_t len = 200 * 1024;
	char *v = malloc(len);
	uint64_t t0;
	bool same;

	CHECK(c, c != NULL && v != NULL);
	for (size_t i = 0; i < len; i++)
		v[i] = (char)(i * 31 + 7);
	t0 = now_ms();
	CHECK(c, dsm_etcd_put(c, "live/big", v, len, 0, NULL) == 0);
	CHECK(c, dsm_etcd_get(c, "live/big", &kv) == 0);
	/* No "Expect: 100-continue" wait: well under a second. */
	CHECK(c, now_ms() - t0 < 900);
	same = kv.value_len == len && memcmp(kv.value, v, len) == 0;
	dsm_etcd_kv_clear(&kv);
	free(v);
	CHECK(c, same);
	dsm_etcd_free(c);
	return true;
}

/* ------------------------------------------------------------ cas race */

#define RACE_ROUNDS 25

struct racer {
	pthread_barrier_t *bar;
	int id;
	int wins;
	bool failed;
	struct dsm_etcd *c;
};

static int64_t g_expected;        /* set by main between rounds */
static int64_t g_win_rev[2][RACE_ROUNDS];
static char g_seen[2][RACE_ROUNDS][16];

static void race_round(struct racer *r, int round)
{
	struct dsm_etcd_kv cur;
	char val[16];
	int64_t rev = 0;
	int rc;

	snprintf(val, sizeof(val), "n%d-r%d", r->id, round);
	rc = dsm_etcd_cas(r->c, "live/epoch", val, strlen(val), 0, g_expected,
			  &rev, &cur);
	g_win_rev[r->id][round] = rc == 1 ? rev : 0;
	snprintf(g_seen[r->id][round], sizeof(g_seen[0][0]), "%s",
		 rc == 0 && cur.value ? cur.value : "");
	if (rc == 1)
		r->wins++;
	else if (rc != 0)
		r->failed = true;
	dsm_etcd_kv_clear(&cur);
}

static void *racer_main(void *arg)
{
	struct racer *r = arg;

	for (int round = 0; round < RACE_ROUNDS; round++) {
		pthread_barrier_wait(r->bar);   /* main set g_expected */
		race_round(r, round);
		pthread_barrier_wait(r->bar);   /* main checks the round */
	}
	return NULL;
}

/* One round's outcome: one winner, and the loser saw its value. */
static bool race_check(struct dsm_etcd *c, int round)
{
	int w = g_win_rev[0][round] ? 0 : 1, l = 1 - w;
	struct dsm_etcd_kv kv;
	char want[16];
	bool ok;

	snprintf(want, sizeof(want), "n%d-r%d", w, round);
	CHECK(c, (g_win_rev[0][round] != 0) + (g_win_rev[1][round] != 0) == 1);
	CHECK(c, strcmp(g_seen[l][round], want) == 0);
	CHECK(c, dsm_etcd_get(c, "live/epoch", &kv) == 0);
	ok = strcmp(kv.value, want) == 0 && kv.mod_revision == g_win_rev[w][round];
	g_expected = kv.mod_revision;
	dsm_etcd_kv_clear(&kv);
	CHECK(c, ok);
	return true;
}

static bool test_cas_race(void)
{
	struct dsm_etcd *c = client();
	pthread_barrier_t bar;
	struct racer r[2];
	pthread_t th[2];
	bool ok = true;

	CHECK(c, c != NULL);
	dsm_etcd_delete(c, "live/epoch");
	g_expected = 0;                 /* round 0: create */
	pthread_barrier_init(&bar, NULL, 3);
	for (int i = 0; i < 2; i++) {
		r[i] = (struct racer){ .bar = &bar, .id = i, .c = client() };
		CHECK(c, r[i].c != NULL);
		pthread_create(&th[i], NULL, racer_main, &r[i]);
	}
	for (int round = 0; round < RACE_ROUNDS; round++) {
		pthread_barrier_wait(&bar);
		pthread_barrier_wait(&bar);
		ok = ok && race_check(c, round);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		ok = ok && !r[i].failed;
		dsm_etcd_free(r[i].c);
	}
	pthread_barrier_destroy(&bar);
	printf("  cas race: %d rounds, wins %d / %d\n", RACE_ROUNDS, r[0].wins, r[1].wins);
	CHECK(c, ok && r[0].wins + r[1].wins == RACE_ROUNDS);
	dsm_etcd_free(c);
	return true;
}

/* -------------------------------------------------------------- leases */

static bool test_lease_expiry(void)
{
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv kv;
	int64_t id, ttl = 0;
	uint64_t t0;
	int rc;

	CHECK(c, c != NULL);
	CHECK(c, dsm_etcd_lease_grant(c, 2, &id) == 0 && id > 0);
	CHECK(c, dsm_etcd_put(c, "live/lease/a", "up", 2, id, NULL) == 0);
	CHECK(c, dsm_etcd_get(c, "live/lease/a", &kv) == 0 && kv.lease == id);
	dsm_etcd_kv_clear(&kv);
	CHECK(c, dsm_etcd_lease_keepalive(c, id, &ttl) == 0 && ttl == 2);
	t0 = now_ms();
	while ((rc = dsm_etcd_get(c, "live/lease/a", &kv)) == 0 && now_ms() - t0 < 8000) {
		dsm_etcd_kv_clear(&kv);
		poll_pause_ms(100);
	}
	printf("  lease of 2 s: key gone after %.1f s\n", (now_ms() - t0) / 1000.0);
	CHECK(c, rc == -ENOENT);
	CHECK(c, now_ms() - t0 >= 1500);
	CHECK(c, dsm_etcd_lease_keepalive(c, id, &ttl) == -ENOENT);
	CHECK(c, dsm_etcd_lease_revoke(c, id) == -ENOENT);
	CHECK(c, strstr(dsm_etcd_last_error(c), "lease not found") != NULL);
	dsm_etcd_free(c);
	return true;
}

static bool test_lease_keepalive_and_revoke(void)
{
	struct dsm_etcd *c = client();
	struct dsm_etcd_kv kv;
	int64_t id, ttl;

	CHECK(c, c != NULL);
	CHECK(c, dsm_etcd_lease_grant(c, 2, &id) == 0);
	CHECK(c, dsm_etcd_put(c, "live/lease/b", "up", 2, id, NULL) == 0);
	for (int i = 0; i < 8; i++) {    /* 4 s, twice the TTL */
		poll_pause_ms(500);
		CHECK(c, dsm_etcd_lease_keepalive(c, id, &ttl) == 0 && ttl == 2);
	}
	CHECK(c, dsm_etcd_get(c, "live/lease/b", &kv) == 0);
	dsm_etcd_kv_clear(&kv);
	CHECK(c, dsm_etcd_lease_revoke(c, id) == 0);
	CHECK(c, dsm_etcd_get(c, "live/lease/b", &kv) == -ENOENT);
	CHECK(c, dsm_etcd_lease_keepalive(c, id, &ttl) == -ENOENT);
	CHECK(c, dsm_etcd_lease_keepalive(c, 12345, &ttl) == -ENOENT);
	dsm_etcd_free(c);
	return true;
}

/* --------------------------------------------------------------- watch */

struct seen {
	int n, stop_at;
	int type[8];
	char key[8][24];
	char value[8][8];
	int64_t rev[8];
};

static int on_event(void *arg, const struct dsm_etcd_event *ev)
{
	struct seen *s = arg;

	if (s->n < 8) {
		s->type[s->n] = ev->type;
		snprintf(s->key[s->n], sizeof(s->key[0]), "%s", ev->kv.key);
		snprintf(s->value[s->n], sizeof(s->value[0]), "%s", ev->kv.value);
		s->rev[s->n] = ev->kv.mod_revision;
	}
	return ++s->n == s->stop_at ? 42 : 0;
}

static void *writer_main(void *arg)
{
	struct dsm_etcd *c = client();

	(void)arg;
	if (c != NULL) {
		dsm_etcd_put(c, "live/w/1", "a", 1, 0, NULL);
		dsm_etcd_put(c, "live/other", "x", 1, 0, NULL);   /* not watched */
		dsm_etcd_put(c, "live/w/2", "b", 1, 0, NULL);
		dsm_etcd_delete(c, "live/w/1");
		dsm_etcd_cas(c, "live/w/3", "c", 1, 0, 0, NULL, NULL);
	}
	dsm_etcd_free(c);
	return NULL;
}

static bool check_seen(struct dsm_etcd *c, const struct seen *s)
{
	CHECK(c, s->n == 4);
	CHECK(c, s->type[0] == DSM_ETCD_PUT && strcmp(s->key[0], "live/w/1") == 0 &&
		 strcmp(s->value[0], "a") == 0);
	CHECK(c, s->type[1] == DSM_ETCD_PUT && strcmp(s->key[1], "live/w/2") == 0);
	CHECK(c, s->type[2] == DSM_ETCD_DELETE && strcmp(s->key[2], "live/w/1") == 0 &&
		 s->value[2][0] == '\0');
	CHECK(c, s->type[3] == DSM_ETCD_PUT && strcmp(s->value[3], "c") == 0);
	CHECK(c, s->rev[0] < s->rev[1] && s->rev[1] < s->rev[2] && s->rev[2] < s->rev[3]);
	return true;
}

static bool test_watch(void)
{
	struct dsm_etcd *c = client();
	struct seen live = { .stop_at = 4 }, replay = { .stop_at = 4 }, none = { 0 };
	int64_t next = 0, next2 = 0, start;
	pthread_t th;
	uint64_t t0;

	CHECK(c, c != NULL);
	/* Watch from just after a revision read before the writer starts, so
	 * that its writes are seen whether they land before or after the
	 * stream opens (no race with the writer, no wait for it). */
	CHECK(c, dsm_etcd_put(c, "live/watch-start", "x", 1, 0, &start) == 0);
	pthread_create(&th, NULL, writer_main, NULL);
	CHECK(c, dsm_etcd_watch(c, "live/w/", start + 1, on_event, &live, 10000, &next) == 42);
	pthread_join(th, NULL);
	CHECK(c, check_seen(c, &live));
	CHECK(c, next == live.rev[3] + 1);
	/* The same history again, from the first event's revision. */
	CHECK(c, dsm_etcd_watch(c, "live/w/", live.rev[0], on_event, &replay, 5000,
				&next2) == 42);
	CHECK(c, check_seen(c, &replay) && next2 == next);
	/* Nothing new: the timeout ends it, resume point unchanged. */
	t0 = now_ms();
	CHECK(c, dsm_etcd_watch(c, "live/w/", next, on_event, &none, 400, &next2) == 0);
	CHECK(c, none.n == 0 && next2 == next && now_ms() - t0 >= 350);
	dsm_etcd_free(c);
	return true;
}

static bool test_watch_compacted(void)
{
	struct dsm_etcd *c = client();
	struct seen s = { 0 };
	int64_t rev, next = 0;

	CHECK(c, c != NULL);
	CHECK(c, dsm_etcd_put(c, "live/compact", "x", 1, 0, &rev) == 0);
	CHECK(c, dsm_etcd_compact(c, rev) == 0);
	CHECK(c, dsm_etcd_watch(c, "live/", 2, on_event, &s, 3000, &next) == -ERANGE);
	CHECK(c, next == rev && s.n == 0);
	CHECK(c, dsm_etcd_compact(c, rev) == -ERANGE);          /* already */
	CHECK(c, dsm_etcd_compact(c, rev + 1000) == -ERANGE);   /* future */
	dsm_etcd_free(c);
	return true;
}

/* ------------------------------------------------------------ failover */

static bool test_failover(void)
{
	char eps[160];
	struct dsm_etcd *c;
	struct dsm_etcd_kv kv;
	int dead;

	if (dsm_etcd_free_ports(&dead, 1) < 0)
		return false;
	snprintf(eps, sizeof(eps), "http://127.0.0.1:%d,%s", dead, g_url);
	c = dsm_etcd_new(eps, 2000, NULL);
	CHECK(c, c != NULL);
	CHECK(c, dsm_etcd_put(c, "live/fo", "1", 1, 0, NULL) == 0);
	CHECK(c, dsm_etcd_get(c, "live/fo", &kv) == 0);
	dsm_etcd_kv_clear(&kv);
	dsm_etcd_free(c);
	snprintf(eps, sizeof(eps), "http://127.0.0.1:%d", dead);
	c = dsm_etcd_new(eps, 500, NULL);
	CHECK(c, c != NULL);
	CHECK(c, dsm_etcd_put(c, "live/fo", "1", 1, 0, NULL) == -ECONNREFUSED);
	dsm_etcd_free(c);
	return true;
}

static const struct {
	const char *name;
	bool (*fn)(void);
} tests[] = {
	{ "kv", test_kv },
	{ "big_value", test_big_value },
	{ "cas_race", test_cas_race },
	{ "lease_expiry", test_lease_expiry },
	{ "lease_keepalive_and_revoke", test_lease_keepalive_and_revoke },
	{ "watch", test_watch },
	{ "watch_compacted", test_watch_compacted },
	{ "failover", test_failover },
};

int main(void)
{
	int passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!start_etcd()) {
		stop_etcd(true);
		printf("etcd_live: 0 passed, 1 failed\n");
		return 1;
	}
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		bool ok = tests[i].fn();

		printf("%s %s\n", ok ? "ok  " : "FAIL", tests[i].name);
		ok ? passed++ : failed++;
	}
	stop_etcd(failed > 0 || getenv("DSM_ETCD_KEEP") != NULL);
	if (failed > 0)
		printf("etcd log kept in %s/etcd.log\n", g_dir);
	printf("etcd_live: %d passed, %d failed\n", passed, failed);
	return failed > 0;
}
