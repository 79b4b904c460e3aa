/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ex_common.c - see ex_common.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ex_common.h"

_Static_assert(sizeof(struct ex_ctl) <= 4096, "control block exceeds a page");

const char *ex_prog = "dsm-example";

/* The run ex_fail & co. report on and raise the abort flag in. */
static struct ex_run *g_run;

/* ------------------------------------------------------------ options */

void ex_opts_init(struct ex_opts *o, const char *prog, const char *segment,
		  unsigned nodes)
{
	memset(o, 0, sizeof(*o));
	ex_prog = prog;
	o->segment = segment;
	o->rank = -1;
	o->nodes = nodes;
	o->timeout_ns = EX_DEFAULT_TIMEOUT_S * 1000000000ull;
}

bool ex_common_opt(struct ex_opts *o, int c, const char *arg)
{
	switch (c) {
	case EX_OPT_SOCKET:
		o->socket = arg;
		return true;
	case EX_OPT_SEGMENT:
		if (strlen(arg) == 0 || strlen(arg) > DSM_NAME_MAX)
			ex_die("--segment: name must be 1..%d characters",
			       DSM_NAME_MAX);
		o->segment = arg;
		return true;
	case EX_OPT_RANK:
		o->rank = (long)ex_parse_u64("--rank", arg, 0, EX_MAX_RANKS - 1);
		return true;
	case EX_OPT_NODES:
		o->nodes = (unsigned)ex_parse_u64("--nodes", arg, 1, EX_MAX_RANKS);
		return true;
	case EX_OPT_CREATE:
		o->create_size = ex_parse_size("--create", arg);
		return true;
	case EX_OPT_TIMEOUT:
		o->timeout_ns = ex_parse_seconds("--timeout", arg);
		return true;
	case EX_OPT_JSON:
		o->json = true;
		return true;
	}
	return false;
}

void ex_common_usage(FILE *f)
{
	fprintf(f,
		"Common options:\n"
		"  --socket PATH     control socket of the local dsm-dataplane\n"
		"                    (default: $DSM_SOCKET, else %s)\n"
		"  --segment NAME    segment to use\n"
		"  --rank N, --role N  this process's rank, 0..nodes-1 (required);\n"
		"                    rank 0 sets the segment up and verifies\n"
		"  --nodes N         number of ranks taking part\n"
		"  --create SIZE     if no node knows the segment, rank 0 creates it\n"
		"                    with SIZE bytes (K/M/G suffix; default: the\n"
		"                    minimum the workload needs)\n"
		"  --timeout S       deadline of every single wait (default %d s)\n"
		"  --json            print one JSON summary line instead of text\n"
		"Exit status: 0 verified, 1 a check failed, 2 a wait timed out or a\n"
		"DSM fault could not be served, 3 bad arguments or setup error.\n",
		DSM_DEFAULT_SOCKET, EX_DEFAULT_TIMEOUT_S);
}

void ex_opts_check(struct ex_opts *o, unsigned min_nodes, unsigned max_nodes)
{
	if (o->rank < 0)
		ex_die("--rank is required (try --help)");
	if (o->nodes < min_nodes || o->nodes > max_nodes)
		ex_die("--nodes must be %u..%u", min_nodes, max_nodes);
	if ((unsigned long)o->rank >= o->nodes)
		ex_die("--rank %ld is not below --nodes %u", o->rank, o->nodes);
}

uint64_t ex_parse_u64(const char *opt, const char *arg, uint64_t min,
		      uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || end == arg || *end || arg[0] == '-' || v < min || v > max)
		ex_die("%s: '%s' is not an integer in %" PRIu64 "..%" PRIu64,
		       opt, arg, min, max);
	return v;
}

uint64_t ex_parse_size(const char *opt, const char *arg)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (errno || end == arg || *end || arg[0] == '-' || v == 0 ||
	    v > (UINT64_MAX >> shift))
		ex_die("%s: '%s' is not a size (e.g. 65536, 64K, 16M)", opt, arg);
	return (uint64_t)v << shift;
}

uint64_t ex_parse_seconds(const char *opt, const char *arg)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v > 0) || v > 1e6)
		ex_die("%s: '%s' is not a number of seconds > 0", opt, arg);
	return (uint64_t)(v * 1e9);
}

/* ------------------------------------------------------------ failures */

/* Tell the other ranks to stop now instead of running into deadlines. */
static void raise_abort(int code)
{
	struct ex_run *r = g_run;

	if (!r || !r->session)
		return;
	__atomic_store_n(&r->ctl->abort_info,
			 (uint64_t)r->rank | (uint64_t)code << 16,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&r->ctl->abort_session, r->session, __ATOMIC_RELEASE);
}

static void vreport(const char *kind, const char *fmt, va_list ap)
{
	fflush(stdout);
	if (g_run)
		fprintf(stderr, "%s: rank %u: %s", ex_prog, g_run->rank, kind);
	else
		fprintf(stderr, "%s: %s", ex_prog, kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

#define EX_REPORT_AND_EXIT(kind, code)          \
	do {                                    \
		va_list ap;                     \
		va_start(ap, fmt);              \
		vreport(kind, fmt, ap);         \
		va_end(ap);                     \
		raise_abort(code);              \
		exit(code);                     \
	} while (0)

void ex_fail(const char *fmt, ...)
{
	EX_REPORT_AND_EXIT("VERIFICATION FAILED: ", EX_VIOLATION);
}

void ex_timeout(const char *fmt, ...)
{
	EX_REPORT_AND_EXIT("TIMEOUT: ", EX_TIMEOUT);
}

void ex_die(const char *fmt, ...)
{
	EX_REPORT_AND_EXIT("", EX_SETUP);
}

void ex_check_abort(void)
{
	struct ex_run *r = g_run;
	uint64_t info;
	unsigned who;
	int code;

	if (!r || !r->session ||
	    __atomic_load_n(&r->ctl->abort_session, __ATOMIC_ACQUIRE) !=
		    r->session)
		return;
	info = __atomic_load_n(&r->ctl->abort_info, __ATOMIC_RELAXED);
	who = (unsigned)(info & 0xffff);
	code = (int)((info >> 16) & 0xff);
	if (who == r->rank)
		return;
	if (code != EX_VIOLATION && code != EX_TIMEOUT && code != EX_SETUP)
		code = EX_VIOLATION;
	fflush(stdout);
	fprintf(stderr, "%s: rank %u: stopping: rank %u gave up (exit %d)\n",
		ex_prog, r->rank, who, code);
	exit(code);
}

/*
 * libdsm raises SIGBUS when a fault cannot be served (home gone, deadline
 * passed): that is a timeout of the DSM itself.  Only async-signal-safe
 * calls here.
 */
static void on_sigbus(int sig)
{
	static const char msg[] =
		": TIMEOUT: SIGBUS: a DSM page fault could not be served "
		"(home unreachable or fault deadline passed)\n";
	ssize_t rc;

	(void)sig;
	rc = write(STDERR_FILENO, ex_prog, strlen(ex_prog));
	rc = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)rc;
	_exit(EX_TIMEOUT);
}

/* ------------------------------------------------------------ waiting */

uint64_t ex_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

void ex_spin_start(struct ex_spin *s, const char *what)
{
	uint64_t t = g_run ? g_run->o->timeout_ns
			   : EX_DEFAULT_TIMEOUT_S * 1000000000ull;

	s->what = what;
	s->n = 0;
	s->deadline = ex_now_ns() + t;
}

void ex_spin(struct ex_spin *s)
{
	cpu_relax();
	if (++s->n % 64)
		return;
	/* Ranks and busy-polling dataplanes often share CPUs in tests: let
	 * whoever we wait for run.  This is not a sleep: we poll again at
	 * once if nothing else is runnable. */
	sched_yield();
	ex_check_abort();
	if (ex_now_ns() > s->deadline)
		ex_timeout("no progress within %.1f s waiting for %s",
			   (double)(g_run ? g_run->o->timeout_ns
					  : EX_DEFAULT_TIMEOUT_S * 1000000000ull) / 1e9,
			   s->what);
}

/* ------------------------------------------------------------ setup */

static void create_if_missing(struct ex_run *run, ex_need_fn need,
			      const void *arg)
{
	const struct ex_opts *o = run->o;
	struct dsm_segment_info info;
	uint64_t size;
	int rc;

	rc = dsm_segment_info(run->dsm, o->segment, &info);
	if (rc == 0)
		return;
	if (rc != -ENOENT)
		ex_die("dsm_segment_info(%s): %s", o->segment, dsm_strerror(rc));
	size = o->create_size ? o->create_size : need(4096, arg);
	size = ex_round_up(size, 4096);
	if (size < need(4096, arg))
		ex_die("--create %" PRIu64 ": this workload needs at least %"
		       PRIu64 " bytes", size, need(4096, arg));
	rc = dsm_segment_create(run->dsm, o->segment, size,
				DSM_SEG_READ | DSM_SEG_WRITE, 0, NULL);
	if (rc == -EEXIST) /* someone else was quicker: fine */
		return;
	if (rc < 0)
		ex_die("dsm_segment_create(%s, %" PRIu64 " bytes): %s",
		       o->segment, size, dsm_strerror(rc));
	fprintf(stderr, "%s: rank 0: created segment '%s' (%" PRIu64
		" bytes) on node %u\n", ex_prog, o->segment, size, run->node);
}

/* Attach, waiting for rank 0 (or the home) to make the segment known. */
static void attach_wait(struct ex_run *run)
{
	const struct ex_opts *o = run->o;
	struct timespec backoff = { 0, 10 * 1000000 };
	struct ex_spin s;
	void *addr;
	size_t len;
	int rc;

	ex_spin_start(&s, "the segment to exist (is rank 0 running?)");
	for (;;) {
		rc = dsm_attach(run->dsm, o->segment,
				DSM_SEG_READ | DSM_SEG_WRITE, &addr, &len);
		if (rc == 0)
			break;
		if (rc != -ENOENT)
			ex_die("dsm_attach(%s): %s", o->segment,
			       dsm_strerror(rc));
		/* Each poll is a request to the dataplane: pace them.  The
		 * condition is still re-checked and the wait bounded. */
		nanosleep(&backoff, NULL);
		ex_spin(&s);
	}
	run->base = addr;
	run->len = len;
	run->ctl = addr;
}

void ex_setup(struct ex_run *run, const struct ex_opts *o, ex_need_fn need,
	      const void *arg)
{
	struct sigaction sa;
	uint64_t want;
	int rc;

	memset(run, 0, sizeof(*run));
	run->o = o;
	run->rank = (unsigned)o->rank;
	run->nodes = o->nodes;
	g_run = run;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigaction(SIGBUS, &sa, NULL);

	rc = dsm_open(o->socket, &run->dsm);
	if (rc < 0)
		ex_die("dsm_open(%s): %s", o->socket ? o->socket : "default",
		       dsm_strerror(rc));
	run->node = dsm_node_id(run->dsm);
	if (run->rank == 0)
		create_if_missing(run, need, arg);
	attach_wait(run);
	rc = dsm_segment_info(run->dsm, o->segment, &run->info);
	if (rc < 0)
		ex_die("dsm_segment_info(%s): %s", o->segment, dsm_strerror(rc));
	run->page = run->info.page_size ? run->info.page_size : 4096;
	want = need(run->page, arg);
	if (run->len < want)
		ex_die("segment '%s' has %zu bytes, this workload needs %" PRIu64
		       " (page size %zu): use another segment or smaller "
		       "parameters", o->segment, run->len, want, run->page);
}

void ex_teardown(struct ex_run *run)
{
	if (run->base)
		dsm_detach(run->dsm, run->base);
	if (run->dsm)
		dsm_close(run->dsm);
	run->base = NULL;
	run->dsm = NULL;
	g_run = NULL;
}

/* ------------------------------------------------------------ rendezvous */

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Rank 0: echo each hello into ack; count ranks that confirmed session s. */
static unsigned leader_poll(struct ex_run *run, uint64_t s)
{
	unsigned r, ready = 1;

	for (r = 1; r < run->nodes; r++) {
		struct ex_slot *sl = &run->ctl->slot[r];
		uint64_t h = LOAD(&sl->hello), rd;

		/* A stale hello from an earlier run gets acked too; harmless:
		 * only the live rank knows its nonce and answers with s. */
		if (h && LOAD(&sl->ack) != h)
			STORE(&sl->ack, h);
		rd = LOAD(&sl->ready);
		if (rd == ~s)
			ex_die("rank %u runs with other parameters (or another "
			       "program) on segment '%s'", r, run->o->segment);
		ready += rd == s;
	}
	return ready;
}

static void join_leader(struct ex_run *run, uint64_t magic, uint64_t params,
			void (*init)(struct ex_run *, void *), void *arg)
{
	struct ex_ctl *c = run->ctl;
	uint64_t s = ex_nonce();
	struct ex_spin sp;

	/* The header must describe this run before anyone is acknowledged:
	 * a follower reads it right after seeing its ack. */
	__atomic_store_n(&c->magic, magic, __ATOMIC_RELAXED);
	__atomic_store_n(&c->params, params, __ATOMIC_RELAXED);
	__atomic_store_n(&c->nodes, run->nodes, __ATOMIC_RELAXED);
	STORE(&c->slot[0].node, run->node);
	STORE(&c->slot[0].params, params);
	STORE(&c->session, s);
	run->session = s;
	/* Nobody touches workload data before go: init runs alone. */
	if (init)
		init(run, arg);
	ex_spin_start(&sp, "all ranks to join (are they started, with the "
		      "same --segment and --nodes?)");
	while (leader_poll(run, s) < run->nodes)
		ex_spin(&sp);
	STORE(&c->go, s);
}

static void join_follower(struct ex_run *run, uint64_t magic, uint64_t params)
{
	struct ex_ctl *c = run->ctl;
	struct ex_slot *me = &c->slot[run->rank];
	uint64_t n = ex_nonce(), s;
	struct ex_spin sp;

	STORE(&me->params, params);
	STORE(&me->node, run->node);
	/* A fresh nonce: an ack of it can only come from a live rank 0. */
	STORE(&me->hello, n);
	ex_spin_start(&sp, "rank 0 to acknowledge (is it running?)");
	while (LOAD(&me->ack) != n)
		ex_spin(&sp);
	s = LOAD(&c->session);
	run->session = s;
	if (__atomic_load_n(&c->magic, __ATOMIC_RELAXED) != magic ||
	    __atomic_load_n(&c->params, __ATOMIC_RELAXED) != params ||
	    __atomic_load_n(&c->nodes, __ATOMIC_RELAXED) != run->nodes) {
		STORE(&me->ready, ~s);
		run->session = 0; /* rank 0 reports it; don't abort others */
		ex_die("rank 0 runs with other parameters (or another program)"
		       ": use the same workload options on every rank");
	}
	STORE(&me->ready, s);
	ex_spin_start(&sp, "rank 0 to start the run");
	while (LOAD(&c->go) != s)
		ex_spin(&sp);
}

void ex_join(struct ex_run *run, uint64_t magic, uint64_t params,
	     void (*init)(struct ex_run *run, void *arg), void *arg)
{
	if (run->rank == 0)
		join_leader(run, magic, params, init, arg);
	else
		join_follower(run, magic, params);
}

uint64_t *ex_my_data(struct ex_run *run)
{
	return run->ctl->slot[run->rank].data;
}

const uint64_t *ex_rank_data(const struct ex_run *run, unsigned r)
{
	return run->ctl->slot[r].data;
}

uint16_t ex_rank_node(const struct ex_run *run, unsigned r)
{
	return (uint16_t)LOAD(&run->ctl->slot[r].node);
}

/* Spin until slot[r].<field> == s for every rank r. */
static void wait_all(struct ex_run *run, size_t field_off, const char *what)
{
	struct ex_spin sp;
	unsigned r = 0;

	ex_spin_start(&sp, what);
	while (r < run->nodes) {
		uint64_t *w = (uint64_t *)((char *)&run->ctl->slot[r] + field_off);

		if (LOAD(w) == run->session)
			r++;
		else
			ex_spin(&sp);
	}
}

int ex_finish(struct ex_run *run, int (*verify)(struct ex_run *run, void *arg),
	      void *arg)
{
	struct ex_ctl *c = run->ctl;
	struct ex_slot *me = &c->slot[run->rank];
	struct ex_spin sp;
	int v;

	STORE(&me->done, run->session);
	if (run->rank != 0) {
		ex_spin_start(&sp, "rank 0's verdict");
		while (LOAD(&c->verdict_session) != run->session)
			ex_spin(&sp);
		v = (int)__atomic_load_n(&c->verdict, __ATOMIC_RELAXED);
		STORE(&me->bye, run->session);
		if (v != EX_OK)
			ex_fail("rank 0 reported a verification failure (see "
				"its output)");
		return v;
	}
	wait_all(run, offsetof(struct ex_slot, done), "all ranks to finish");
	v = verify ? verify(run, arg) : EX_OK;
	__atomic_store_n(&c->verdict, (uint64_t)v, __ATOMIC_RELAXED);
	STORE(&c->verdict_session, run->session);
	STORE(&me->bye, run->session);
	wait_all(run, offsetof(struct ex_slot, bye),
		 "all ranks to read the verdict");
	if (v != EX_OK) /* verify has said why */
		exit(EX_VIOLATION);
	return v;
}

/* ------------------------------------------------------------ numbers */

uint64_t ex_nonce(void)
{
	uint64_t v = 0;

	while (v == 0 || v == ~0ull) {
		if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
			v = ex_mix64(ex_now_ns() ^ ((uint64_t)getpid() << 32));
	}
	return v;
}

uint64_t ex_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

uint64_t ex_rng_next(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ull;
	return ex_mix64(*state);
}

/* ------------------------------------------------------------ histogram */

void ex_hist_init(struct ex_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static unsigned hist_index(uint64_t v)
{
	const uint64_t sub = 1u << EX_HIST_SUB_BITS;
	unsigned shift;

	if (v < sub)
		return (unsigned)v; /* exact */
	shift = (unsigned)(63 - __builtin_clzll(v)) - EX_HIST_SUB_BITS;
	return (unsigned)((shift + 1) * sub + ((v >> shift) - sub));
}

/* The largest value that falls into bucket i. */
static uint64_t hist_upper(unsigned i)
{
	const uint64_t sub = 1u << EX_HIST_SUB_BITS;
	unsigned shift;

	if (i < sub)
		return i;
	shift = (unsigned)(i / sub) - 1;
	return (((i % sub) + sub + 1) << shift) - 1;
}

void ex_hist_add(struct ex_hist *h, uint64_t v)
{
	h->bucket[hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

uint64_t ex_hist_pct(const struct ex_hist *h, double pct)
{
	uint64_t want, seen = 0;
	unsigned i;

	if (!h->count)
		return 0;
	want = (uint64_t)(pct / 100.0 * (double)h->count + 0.999999);
	if (want < 1)
		want = 1;
	for (i = 0; i < EX_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= want)
			break;
	}
	if (i >= EX_HIST_BUCKETS)
		return h->max;
	/* Report the bucket's top, but never outside what was observed. */
	if (hist_upper(i) > h->max)
		return h->max;
	return hist_upper(i) < h->min ? h->min : hist_upper(i);
}

const char *ex_fmt_ns(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.0f ns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", ns / 1e9);
	return buf;
}

static const struct {
	const char *name;
	double pct;
} hist_pcts[] = {
	{ "p50", 50 }, { "p90", 90 }, { "p99", 99 }, { "p999", 99.9 },
};

void ex_hist_print(FILE *f, const char *label, const struct ex_hist *h)
{
	char b[32];
	size_t i;

	fprintf(f, "  %-14s n=%" PRIu64, label, h->count);
	if (!h->count) {
		fputc('\n', f);
		return;
	}
	fprintf(f, "  min %s", ex_fmt_ns(b, sizeof(b), (double)h->min));
	fprintf(f, "  mean %s",
		ex_fmt_ns(b, sizeof(b), (double)h->sum / (double)h->count));
	for (i = 0; i < sizeof(hist_pcts) / sizeof(hist_pcts[0]); i++)
		fprintf(f, "  %s %s", hist_pcts[i].name,
			ex_fmt_ns(b, sizeof(b),
				  (double)ex_hist_pct(h, hist_pcts[i].pct)));
	fprintf(f, "  max %s\n", ex_fmt_ns(b, sizeof(b), (double)h->max));
}

void ex_hist_json(FILE *f, const char *name, const struct ex_hist *h)
{
	size_t i;

	fprintf(f, "\"%s\":{\"count\":%" PRIu64 ",\"min\":%" PRIu64
		",\"mean\":%.1f", name, h->count, h->count ? h->min : 0,
		h->count ? (double)h->sum / (double)h->count : 0.0);
	for (i = 0; i < sizeof(hist_pcts) / sizeof(hist_pcts[0]); i++)
		fprintf(f, ",\"%s\":%" PRIu64, hist_pcts[i].name,
			ex_hist_pct(h, hist_pcts[i].pct));
	fprintf(f, ",\"max\":%" PRIu64 "}", h->max);
}

void ex_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}
