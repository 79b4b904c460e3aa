/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm-kv - a shared key-value table updated and read from several nodes.
 *
 * WHAT IT DOES
 * The segment holds a direct-mapped table: key k lives in slot k, one slot
 * per 64 bytes (a cache line; 64 slots share a 4 KiB page, so neighbouring
 * keys also contend for the page, as in a real table).  Keys are split:
 *   - keys [r*K, (r+1)*K) are owned by rank r (K = --keys-per-rank): only
 *     rank r writes them;
 *   - the last --shared-keys keys are written by every rank (contended).
 * Every rank runs a random mix of operations for --seconds (or
 * --iterations operations): with probability --write-pct it writes (to a
 * shared key with probability --shared-pct, else to one of its own), else
 * it reads a random key of the whole table.  Different ranks may use
 * different --write-pct/--shared-pct/--seconds (e.g. --write-pct 0 makes a
 * pure reader).  Rank 0 is also the verifier.
 *
 * A value is (writer rank, writer's sequence number, key, 3 payload words
 * derived from those, checksum).  A slot is guarded by a seqlock: its
 * version word is odd while a writer holds it (taken with a CAS: atomic
 * across nodes because a write needs the page exclusively), and +2 per
 * completed write.  Readers copy the slot and retry if the version moved.
 *
 * HOW IT IS CHECKED
 * On every read, the reading rank checks:
 *   - integrity: key field, writer, payload and checksum all agree (a torn
 *     or stale page shows up here); an empty slot is all zeroes;
 *   - ownership: an owned key is only ever written by its owner;
 *   - monotonicity: per key, the slot version never goes back, the same
 *     version always shows the same value, and a writer's sequence never
 *     goes back;
 *   - read-your-writes: on its own keys a rank sees exactly its last write
 *     and version 2 x its number of writes to that key.
 * At the end rank 0 replays every rank's operation stream (it is a
 * deterministic function of the session nonce and the rank's published
 * settings and operation count) and reads every slot:
 *   - version == 2 x the number of writes made to the key by all ranks (a
 *     lost or doubled update of a contended key shows up here);
 *   - owned key: holds its owner's last write to it; shared key: holds the
 *     last write made to it by the writer it names; never-written: empty.
 * Any violation: a message and exit 1 on every rank.
 *
 * HOW TO RUN (three dsm-dataplanes, one control socket each):
 *   dsm-kv --socket /run/dsm/n1.sock --segment kv --rank 0 --nodes 3 --seconds 10
 *   dsm-kv --socket /run/dsm/n2.sock --segment kv --rank 1 --nodes 3 --seconds 10
 *   dsm-kv --socket /run/dsm/n3.sock --segment kv --rank 2 --nodes 3 --seconds 10
 * Start them in any order; each waits (--timeout) for the others.  Rank 0
 * creates the segment if no node knows it (--create SIZE to choose its
 * size).  Options: see --help.  Exit: 0 ok, 1 check failed, 2 timeout,
 * 3 setup error.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ex_common.h"

#define KV_MAGIC 0x44534d2d4b563031ull /* "DSM-KV01" */
#define KV_PAYLOAD 3

/* One slot: exactly 64 bytes, 64-byte aligned, so never split by a page. */
struct kv_slot {
	uint64_t ver;    /* seqlock: odd while written; 2 x completed writes */
	uint64_t key;
	uint64_t writer;
	uint64_t seq;    /* the writer's sequence number, from 1 */
	uint64_t pay[KV_PAYLOAD];
	uint64_t check;
};
_Static_assert(sizeof(struct kv_slot) == 64, "slot must be 64 bytes");

/* A snapshot of a slot, as a reader or writer saw it. */
struct kv_val {
	uint64_t ver, key, writer, seq, pay[KV_PAYLOAD], check;
};

/* Published in the rank's control slot for the verifier. */
enum { D_OPS, D_WRITES, D_READS, D_ELAPSED, D_WRITE_PCT, D_SHARED_PCT };

struct kv_cfg {
	unsigned nodes;
	uint32_t keys_per_rank, shared_keys, nkeys;
	unsigned write_pct, shared_pct;
	uint64_t iterations; /* 0: run for seconds */
	uint64_t run_ns;
};

/* This rank's state: what it checks reads against. */
struct kv_state {
	const struct kv_cfg *cfg;
	struct kv_slot *slots;
	unsigned rank;
	uint64_t rng;
	uint64_t seq;          /* my last sequence number */
	uint64_t *last_ver;    /* [key]: highest version seen */
	uint64_t *last_writer; /* [key]: writer at that version */
	uint64_t *last_seq;    /* [key * nodes + w]: highest seq of w seen */
	uint64_t *own_last;    /* [own key index]: my last seq written */
	uint64_t *own_count;   /* [own key index]: my writes to it */
	uint64_t reads, writes, read_retries, write_waits;
	struct ex_hist rlat, wlat;
};

/* ------------------------------------------------------------ values */

static uint64_t kv_pay(uint64_t key, uint64_t writer, uint64_t seq, unsigned i)
{
	return ex_hash_add(ex_hash_add(ex_hash_add(key, writer), seq), i);
}

static uint64_t kv_checksum(const struct kv_val *v)
{
	uint64_t h = ex_hash_add(ex_hash_add(v->key, v->writer), v->seq);
	unsigned i;

	for (i = 0; i < KV_PAYLOAD; i++)
		h = ex_hash_add(h, v->pay[i]);
	return h;
}

static bool kv_owned(const struct kv_cfg *c, uint64_t key)
{
	return key < (uint64_t)c->keys_per_rank * c->nodes;
}

/* Integrity of one snapshot of slot `key`; exits on a violation. */
static void kv_check_wellformed(const struct kv_cfg *c, uint64_t key,
				const struct kv_val *v, const char *who)
{
	unsigned i;

	if (v->ver == 0) {
		if (v->key || v->writer || v->seq || v->check)
			ex_fail("%s key %" PRIu64 ": empty slot (version 0) "
				"holds writer %" PRIu64 " seq %" PRIu64,
				who, key, v->writer, v->seq);
		return;
	}
	if (v->key != key)
		ex_fail("%s key %" PRIu64 ": slot holds a value for key %" PRIu64
			" (version %" PRIu64 ")", who, key, v->key, v->ver);
	if (v->writer >= c->nodes || v->seq == 0)
		ex_fail("%s key %" PRIu64 ": bad writer %" PRIu64 " / seq %"
			PRIu64, who, key, v->writer, v->seq);
	if (kv_owned(c, key) && v->writer != key / c->keys_per_rank)
		ex_fail("%s key %" PRIu64 ": written by rank %" PRIu64
			", but only rank %" PRIu64 " writes it", who, key,
			v->writer, key / c->keys_per_rank);
	for (i = 0; i < KV_PAYLOAD; i++)
		if (v->pay[i] != kv_pay(key, v->writer, v->seq, i))
			ex_fail("%s key %" PRIu64 ": payload word %u corrupt "
				"(writer %" PRIu64 " seq %" PRIu64 ")", who, key,
				i, v->writer, v->seq);
	if (v->check != kv_checksum(v))
		ex_fail("%s key %" PRIu64 ": checksum mismatch (writer %" PRIu64
			" seq %" PRIu64 ")", who, key, v->writer, v->seq);
}

/* ------------------------------------------------------------ seqlock */

static void kv_load_fields(struct kv_slot *s, struct kv_val *v)
{
	unsigned i;

	v->key = __atomic_load_n(&s->key, __ATOMIC_RELAXED);
	v->writer = __atomic_load_n(&s->writer, __ATOMIC_RELAXED);
	v->seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
	for (i = 0; i < KV_PAYLOAD; i++)
		v->pay[i] = __atomic_load_n(&s->pay[i], __ATOMIC_RELAXED);
	v->check = __atomic_load_n(&s->check, __ATOMIC_RELAXED);
}

/* Consistent snapshot; returns the number of retries. */
static unsigned kv_read_slot(struct kv_slot *s, struct kv_val *v)
{
	struct ex_spin sp;
	unsigned tries = 0;
	uint64_t v1;

	for (;;) {
		v1 = __atomic_load_n(&s->ver, __ATOMIC_ACQUIRE);
		if (!(v1 & 1)) {
			kv_load_fields(s, v);
			/* Order the field loads before the re-check. */
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(&s->ver, __ATOMIC_RELAXED) == v1) {
				v->ver = v1;
				return tries;
			}
		}
		if (tries++ == 0)
			ex_spin_start(&sp, "a slot's writer to finish (seqlock)");
		ex_spin(&sp);
	}
}

/* Take the slot's seqlock: CAS even -> odd.  Returns the even version. */
static uint64_t kv_lock_slot(struct kv_slot *s, uint64_t *waits)
{
	uint64_t v = __atomic_load_n(&s->ver, __ATOMIC_RELAXED);
	struct ex_spin sp;
	bool spinning = false;

	for (;;) {
		/* Acquire: our field stores cannot move before the odd
		 * version, so readers never take them for a stable value. */
		if (!(v & 1) &&
		    __atomic_compare_exchange_n(&s->ver, &v, v + 1, false,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return v;
		if (!spinning) {
			ex_spin_start(&sp, "a contended slot's seqlock");
			spinning = true;
			(*waits)++;
		}
		ex_spin(&sp);
		v = __atomic_load_n(&s->ver, __ATOMIC_RELAXED);
	}
}

/* Write (writer, seq) into slot `key`; returns the value it replaced. */
static struct kv_val kv_write_slot(struct kv_slot *s, uint64_t key,
				   uint64_t writer, uint64_t seq,
				   uint64_t *waits)
{
	struct kv_val old, v = { .key = key, .writer = writer, .seq = seq };
	unsigned i;

	old.ver = kv_lock_slot(s, waits);
	kv_load_fields(s, &old);
	for (i = 0; i < KV_PAYLOAD; i++)
		v.pay[i] = kv_pay(key, writer, seq, i);
	v.check = kv_checksum(&v);
	__atomic_store_n(&s->key, v.key, __ATOMIC_RELAXED);
	__atomic_store_n(&s->writer, v.writer, __ATOMIC_RELAXED);
	__atomic_store_n(&s->seq, v.seq, __ATOMIC_RELAXED);
	for (i = 0; i < KV_PAYLOAD; i++)
		__atomic_store_n(&s->pay[i], v.pay[i], __ATOMIC_RELAXED);
	__atomic_store_n(&s->check, v.check, __ATOMIC_RELAXED);
	__atomic_store_n(&s->ver, old.ver + 2, __ATOMIC_RELEASE);
	return old;
}

/* ------------------------------------------------------------ op stream */

/*
 * The operation stream of a rank.  It depends only on the rng state and
 * the rank's settings, never on timing, so the verifier can replay it.
 */
static bool kv_next_op(uint64_t *rng, const struct kv_cfg *c, unsigned rank,
		       unsigned write_pct, unsigned shared_pct, uint32_t *key)
{
	bool write = ex_rng_next(rng) % 100 < write_pct;
	bool shared = ex_rng_next(rng) % 100 < shared_pct;
	uint64_t r = ex_rng_next(rng);

	if (!write)
		*key = (uint32_t)(r % c->nkeys);
	else if (shared && c->shared_keys)
		*key = c->keys_per_rank * c->nodes +
		       (uint32_t)(r % c->shared_keys);
	else
		*key = rank * c->keys_per_rank +
		       (uint32_t)(r % c->keys_per_rank);
	return write;
}

static uint64_t kv_seed(uint64_t session, unsigned rank)
{
	return ex_hash_add(session, rank + 1);
}

/* ------------------------------------------------------------ the run */

/* Order checks of one observation of `key` by this reader. */
static void kv_check_order(struct kv_state *st, uint32_t key,
			   const struct kv_val *v)
{
	const struct kv_cfg *c = st->cfg;
	uint64_t *ls = &st->last_seq[(uint64_t)key * c->nodes + v->writer];

	if (v->ver < st->last_ver[key])
		ex_fail("key %u: version went back from %" PRIu64 " to %" PRIu64,
			key, st->last_ver[key], v->ver);
	if (v->ver == st->last_ver[key] && v->ver &&
	    (v->writer != st->last_writer[key] || v->seq != *ls))
		ex_fail("key %u: version %" PRIu64 " shows writer %" PRIu64
			" seq %" PRIu64 ", earlier writer %" PRIu64
			" seq %" PRIu64, key, v->ver, v->writer, v->seq,
			st->last_writer[key], *ls);
	if (v->ver && v->seq < *ls)
		ex_fail("key %u: rank %" PRIu64 "'s sequence went back from %"
			PRIu64 " to %" PRIu64, key, v->writer, *ls, v->seq);
	st->last_ver[key] = v->ver;
	if (v->ver) {
		st->last_writer[key] = v->writer;
		*ls = v->seq;
	}
}

/* On my own key the slot must be exactly what I last put there. */
static void kv_check_own(struct kv_state *st, uint32_t key,
			 const struct kv_val *v, const char *when)
{
	const struct kv_cfg *c = st->cfg;
	uint32_t i;

	if (key / c->keys_per_rank != st->rank || !kv_owned(c, key))
		return;
	i = key % c->keys_per_rank;
	if (v->ver != 2 * st->own_count[i] ||
	    (st->own_count[i] && v->seq != st->own_last[i]))
		ex_fail("%s own key %u: found version %" PRIu64 " seq %" PRIu64
			", but I wrote it %" PRIu64 " times, last seq %" PRIu64,
			when, key, v->ver, v->seq, st->own_count[i],
			st->own_last[i]);
}

static void kv_do_read(struct kv_state *st, uint32_t key)
{
	struct kv_val v;

	st->read_retries += kv_read_slot(&st->slots[key], &v);
	kv_check_wellformed(st->cfg, key, &v, "read");
	kv_check_order(st, key, &v);
	kv_check_own(st, key, &v, "read");
	st->reads++;
}

static void kv_do_write(struct kv_state *st, uint32_t key)
{
	const struct kv_cfg *c = st->cfg;
	uint64_t seq = ++st->seq;
	struct kv_val old;

	old = kv_write_slot(&st->slots[key], key, st->rank, seq,
			    &st->write_waits);
	/* What we replaced was a stable value: check it like a read. */
	kv_check_wellformed(c, key, &old, "overwritten");
	kv_check_order(st, key, &old);
	kv_check_own(st, key, &old, "overwritten");
	if (kv_owned(c, key)) {
		st->own_last[key % c->keys_per_rank] = seq;
		st->own_count[key % c->keys_per_rank]++;
	}
	/* Our own write is now the newest this rank has seen. */
	st->last_ver[key] = old.ver + 2;
	st->last_writer[key] = st->rank;
	st->last_seq[(uint64_t)key * c->nodes + st->rank] = seq;
	st->writes++;
}

static uint64_t kv_run(struct kv_state *st)
{
	const struct kv_cfg *c = st->cfg;
	uint64_t start = ex_now_ns(), t = start, n = 0, t0;
	uint32_t key;
	bool write;

	while (c->iterations ? n < c->iterations : t - start < c->run_ns) {
		write = kv_next_op(&st->rng, c, st->rank, c->write_pct,
				   c->shared_pct, &key);
		t0 = ex_now_ns();
		if (write)
			kv_do_write(st, key);
		else
			kv_do_read(st, key);
		t = ex_now_ns();
		ex_hist_add(write ? &st->wlat : &st->rlat, t - t0);
		if (++n % 4096 == 0) /* stop early if another rank failed */
			ex_check_abort();
	}
	return t > start ? t - start : 1; /* a rate divides by it */
}

/* ------------------------------------------------------------ verifier */

struct kv_expect {
	uint64_t *count; /* [key]: writes made to it by all ranks */
	uint64_t *last;  /* [key * nodes + w]: w's last seq written to it */
};

/* Replay rank w's stream to learn which writes it made. */
static void kv_replay(struct ex_run *run, const struct kv_cfg *c, unsigned w,
		      struct kv_expect *e)
{
	const uint64_t *d = ex_rank_data(run, w);
	uint64_t rng = kv_seed(run->session, w), n, seq = 0;
	uint32_t key;

	for (n = 0; n < d[D_OPS]; n++) {
		if (!kv_next_op(&rng, c, w, (unsigned)d[D_WRITE_PCT],
				(unsigned)d[D_SHARED_PCT], &key))
			continue;
		e->count[key]++;
		e->last[(uint64_t)key * c->nodes + w] = ++seq;
	}
	if (seq != d[D_WRITES])
		ex_fail("replay of rank %u gives %" PRIu64 " writes, it reported "
			"%" PRIu64 " (same binary on every node?)", w, seq,
			d[D_WRITES]);
}

/* Compare slot `key` to the replay; returns 1 on a mismatch. */
static int kv_verify_key(struct kv_state *st, const struct kv_expect *e,
			 uint32_t key, unsigned *shown)
{
	const struct kv_cfg *c = st->cfg;
	struct kv_val v;
	uint64_t want_last;

	kv_read_slot(&st->slots[key], &v);
	kv_check_wellformed(c, key, &v, "final");
	want_last = v.ver ? e->last[(uint64_t)key * c->nodes + v.writer] : 0;
	if (v.ver == 2 * e->count[key] && v.seq == want_last)
		return 0;
	if ((*shown)++ < 10)
		fprintf(stderr, "%s: key %u (%s): version %" PRIu64 " after %"
			PRIu64 " writes; holds rank %" PRIu64 " seq %" PRIu64
			", that rank's last write to it was seq %" PRIu64 "\n",
			ex_prog, key, kv_owned(c, key) ? "owned" : "shared",
			v.ver, e->count[key], v.writer, v.seq, want_last);
	return 1;
}

static int kv_verify(struct ex_run *run, void *arg)
{
	struct kv_state *st = arg;
	const struct kv_cfg *c = st->cfg;
	struct kv_expect e;
	unsigned w, shown = 0;
	uint64_t bad = 0;
	uint32_t key;

	e.count = calloc(c->nkeys, sizeof(*e.count));
	e.last = calloc((size_t)c->nkeys * c->nodes, sizeof(*e.last));
	if (!e.count || !e.last)
		ex_die("out of memory");
	for (w = 0; w < c->nodes; w++)
		kv_replay(run, c, w, &e);
	for (key = 0; key < c->nkeys; key++)
		bad += kv_verify_key(st, &e, key, &shown);
	free(e.count);
	free(e.last);
	if (bad) {
		fprintf(stderr, "%s: rank 0: VERIFICATION FAILED: %" PRIu64
			" of %u keys do not hold their last write\n", ex_prog,
			bad, c->nkeys);
		return EX_VIOLATION;
	}
	return EX_OK;
}

/* ------------------------------------------------------------ setup */

static uint64_t kv_need(size_t page, const void *arg)
{
	const struct kv_cfg *c = arg;

	return page + ex_round_up((uint64_t)c->nkeys * sizeof(struct kv_slot),
				  page);
}

/* Rank 0, before anyone else starts: clear the table of old runs. */
static void kv_init(struct ex_run *run, void *arg)
{
	const struct kv_cfg *c = arg;

	memset(run->base + run->page, 0,
	       (size_t)c->nkeys * sizeof(struct kv_slot));
}

static void kv_state_init(struct kv_state *st, const struct kv_cfg *c,
			  struct ex_run *run)
{
	memset(st, 0, sizeof(*st));
	st->cfg = c;
	st->rank = run->rank;
	st->slots = (struct kv_slot *)(run->base + run->page);
	st->rng = kv_seed(run->session, run->rank);
	st->last_ver = calloc(c->nkeys, sizeof(uint64_t));
	st->last_writer = calloc(c->nkeys, sizeof(uint64_t));
	st->last_seq = calloc((size_t)c->nkeys * c->nodes, sizeof(uint64_t));
	st->own_last = calloc(c->keys_per_rank, sizeof(uint64_t));
	st->own_count = calloc(c->keys_per_rank, sizeof(uint64_t));
	if (!st->last_ver || !st->last_writer || !st->last_seq ||
	    !st->own_last || !st->own_count)
		ex_die("out of memory");
	ex_hist_init(&st->rlat);
	ex_hist_init(&st->wlat);
}

static void kv_state_free(struct kv_state *st)
{
	free(st->last_ver);
	free(st->last_writer);
	free(st->last_seq);
	free(st->own_last);
	free(st->own_count);
}

static void kv_publish(struct ex_run *run, const struct kv_state *st,
		       uint64_t elapsed)
{
	uint64_t *d = ex_my_data(run);

	d[D_OPS] = st->reads + st->writes;
	d[D_WRITES] = st->writes;
	d[D_READS] = st->reads;
	d[D_ELAPSED] = elapsed;
	d[D_WRITE_PCT] = st->cfg->write_pct;
	d[D_SHARED_PCT] = st->cfg->shared_pct;
}

/* Sum of every rank's ops/s (rank 0 only, after ex_finish). */
static double kv_cluster_rate(const struct ex_run *run)
{
	double sum = 0;
	unsigned r;

	for (r = 0; r < run->nodes; r++) {
		const uint64_t *d = ex_rank_data(run, r);

		if (d[D_ELAPSED])
			sum += (double)d[D_OPS] * 1e9 / (double)d[D_ELAPSED];
	}
	return sum;
}

/* ------------------------------------------------------------ output */

static void kv_print_human(const struct ex_run *run, const struct kv_state *st,
			   uint64_t elapsed)
{
	uint64_t ops = st->reads + st->writes;

	printf("%s rank %u (node %u) of %u, segment '%s': %" PRIu64
	       " ops in %.2f s = %.0f ops/s (%" PRIu64 " reads, %" PRIu64
	       " writes)\n", ex_prog, run->rank, run->node, run->nodes,
	       run->o->segment, ops, (double)elapsed / 1e9,
	       (double)ops * 1e9 / (double)elapsed, st->reads, st->writes);
	ex_hist_print(stdout, "read latency", &st->rlat);
	ex_hist_print(stdout, "write latency", &st->wlat);
	printf("  checks: every read well-formed, in order, own keys exact; "
	       "%" PRIu64 " read retries, %" PRIu64 " contended write locks\n",
	       st->read_retries, st->write_waits);
	if (run->rank == 0)
		printf("  verified all %u keys (%u owned, %u shared) hold their "
		       "last write; cluster %.0f ops/s\n", st->cfg->nkeys,
		       st->cfg->keys_per_rank * st->cfg->nodes,
		       st->cfg->shared_keys, kv_cluster_rate(run));
}

static void kv_print_json(const struct ex_run *run, const struct kv_state *st,
			  uint64_t elapsed)
{
	uint64_t ops = st->reads + st->writes;

	printf("{\"program\":\"%s\",\"segment\":", ex_prog);
	ex_json_str(stdout, run->o->segment);
	printf(",\"rank\":%u,\"node\":%u,\"nodes\":%u,\"keys\":%u,"
	       "\"elapsed_s\":%.3f,\"ops\":%" PRIu64 ",\"reads\":%" PRIu64
	       ",\"writes\":%" PRIu64 ",\"ops_per_s\":%.1f,\"read_retries\":%"
	       PRIu64 ",\"write_lock_waits\":%" PRIu64 ",", run->rank,
	       run->node, run->nodes, st->cfg->nkeys, (double)elapsed / 1e9,
	       ops, st->reads, st->writes, (double)ops * 1e9 / (double)elapsed,
	       st->read_retries, st->write_waits);
	ex_hist_json(stdout, "read_ns", &st->rlat);
	putchar(',');
	ex_hist_json(stdout, "write_ns", &st->wlat);
	if (run->rank == 0)
		printf(",\"cluster_ops_per_s\":%.1f,\"keys_verified\":%u",
		       kv_cluster_rate(run), st->cfg->nkeys);
	printf(",\"ok\":true}\n");
}

/* ------------------------------------------------------------ main */

enum {
	O_SECONDS = EX_OPT_PROGRAM, O_ITERATIONS, O_KEYS_PER_RANK,
	O_SHARED_KEYS, O_WRITE_PCT, O_SHARED_PCT,
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: dsm-kv --rank N [--nodes N] [options]\n"
		"A shared key-value table; see the header of dsm_kv.c.\n"
		"  --seconds S        run for S seconds (default 5)\n"
		"  --iterations N     or run exactly N operations\n"
		"  --keys-per-rank K  keys each rank owns (default 1024)\n"
		"  --shared-keys K    keys every rank writes (default 256)\n"
		"  --write-pct P      share of writes among ops (default 20)\n"
		"  --shared-pct P     share of writes to shared keys (default 25)\n"
		"  (--write-pct/--shared-pct/--seconds may differ per rank, but\n"
		"   run lengths should not differ by more than --timeout;\n"
		"   --nodes/--keys-per-rank/--shared-keys must match)\n"
		"Defaults: --segment kv --nodes 3.\n");
	ex_common_usage(f);
}

static void kv_parse(int argc, char **argv, struct ex_opts *o,
		     struct kv_cfg *c)
{
	static const struct option lo[] = {
		EX_COMMON_LONGOPTS,
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "iterations", required_argument, NULL, O_ITERATIONS },
		{ "keys-per-rank", required_argument, NULL, O_KEYS_PER_RANK },
		{ "shared-keys", required_argument, NULL, O_SHARED_KEYS },
		{ "write-pct", required_argument, NULL, O_WRITE_PCT },
		{ "shared-pct", required_argument, NULL, O_SHARED_PCT },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	ex_opts_init(o, "dsm-kv", "kv", 3);
	*c = (struct kv_cfg){ .keys_per_rank = 1024, .shared_keys = 256,
			      .write_pct = 20, .shared_pct = 25,
			      .run_ns = 5000000000ull };
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ex_common_opt(o, ch, optarg))
			continue;
		switch (ch) {
		case O_SECONDS:
			c->run_ns = ex_parse_seconds("--seconds", optarg);
			break;
		case O_ITERATIONS:
			c->iterations = ex_parse_u64("--iterations", optarg, 1,
						     UINT64_MAX);
			break;
		case O_KEYS_PER_RANK:
			c->keys_per_rank = (uint32_t)ex_parse_u64(
				"--keys-per-rank", optarg, 1, 1u << 24);
			break;
		case O_SHARED_KEYS:
			c->shared_keys = (uint32_t)ex_parse_u64(
				"--shared-keys", optarg, 0, 1u << 24);
			break;
		case O_WRITE_PCT:
			c->write_pct = (unsigned)ex_parse_u64("--write-pct",
							      optarg, 0, 100);
			break;
		case O_SHARED_PCT:
			c->shared_pct = (unsigned)ex_parse_u64("--shared-pct",
							       optarg, 0, 100);
			break;
		case 'h':
			usage(stdout);
			exit(EX_OK);
		default:
			usage(stderr);
			exit(EX_SETUP);
		}
	}
	if (optind < argc)
		ex_die("unexpected argument '%s'", argv[optind]);
	ex_opts_check(o, 1, EX_MAX_RANKS);
	c->nodes = o->nodes;
	c->nkeys = c->keys_per_rank * c->nodes + c->shared_keys;
}

int main(int argc, char **argv)
{
	struct ex_opts o;
	struct kv_cfg c;
	struct ex_run run;
	struct kv_state st;
	uint64_t params, elapsed;

	kv_parse(argc, argv, &o, &c);
	ex_setup(&run, &o, kv_need, &c);
	params = ex_hash_add(ex_hash_add(c.nodes, c.keys_per_rank),
			     c.shared_keys);
	ex_join(&run, KV_MAGIC, params, kv_init, &c);
	kv_state_init(&st, &c, &run);
	elapsed = kv_run(&st);
	kv_publish(&run, &st, elapsed);
	ex_finish(&run, kv_verify, &st);
	if (o.json)
		kv_print_json(&run, &st, elapsed);
	else
		kv_print_human(&run, &st, elapsed);
	kv_state_free(&st);
	ex_teardown(&run);
	return EX_OK;
}
