/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm-faultlat - application-observed page-fault latency, 4 KiB pages, one
 * fresh page per sample, every sample's content verified, for:
 *
 *   local-poll  bare local userfaultfd round trip, handler blocked in poll()
 *   local-spin  the same, handler busy-polling a non-blocking uffd
 *   tcp         userfaultfd + a forked TCP page server over loopback
 *   dsm         libdsm (dsm_attach) against a running dsm-dataplane
 *
 * Read faults (loads) and write faults (stores) are measured separately;
 * all rows run in the same invocation, one after another.
 *
 * Exit status: 0 success, 1 error or failed check, 2 bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dsm/dsm.h>   /* DSM_DEFAULT_SOCKET only */

#include "faultlat.h"

#ifndef FL_HAVE_LIBDSM
#define FL_HAVE_LIBDSM 0
#endif

/* ------------------------------------------------------------------ */
/* errors and children                                                 */

#define FL_MAX_CHILDREN 8
static volatile pid_t g_children[FL_MAX_CHILDREN];
static atomic_flag g_dying = ATOMIC_FLAG_INIT;

static void kill_children(void)
{
	for (int i = 0; i < FL_MAX_CHILDREN; i++) {
		pid_t pid = g_children[i];

		if (pid > 0)
			kill(pid, SIGKILL);
	}
}

static void __attribute__((noreturn)) die(void)
{
	kill_children();
	for (int i = 0; i < FL_MAX_CHILDREN; i++) {
		pid_t pid = g_children[i];

		if (pid > 0) {
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			g_children[i] = 0;
		}
	}
	fflush(stdout);
	_exit(FL_EXIT_ERROR);
}

static void vfatal(int err, const char *fmt, va_list ap)
{
	/* One thread reports and exits; any other one waits to be taken
	 * down with the process. */
	if (atomic_flag_test_and_set(&g_dying))
		for (;;)
			pause();
	fputs("dsm-faultlat: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fputc('\n', stderr);
	die();
}

void fl_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfatal(0, fmt, ap);
	va_end(ap);
	__builtin_unreachable();
}

void fl_fatal_errno(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfatal(err, fmt, ap);
	va_end(ap);
	__builtin_unreachable();
}

void fl_child_add(pid_t pid)
{
	for (int i = 0; i < FL_MAX_CHILDREN; i++) {
		if (g_children[i] == 0) {
			g_children[i] = pid;
			return;
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fl_fatal("too many child processes");
}

void fl_child_wait(pid_t pid, const char *what)
{
	int status;
	pid_t r;

	while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (r < 0)
		fl_fatal_errno(errno, "waitpid (%s)", what);
	for (int i = 0; i < FL_MAX_CHILDREN; i++)
		if (g_children[i] == pid)
			g_children[i] = 0;
	if (WIFSIGNALED(status))
		fl_fatal("%s (pid %d) killed by signal %d", what, (int)pid,
			 WTERMSIG(status));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fl_fatal("%s (pid %d) exited with status %d", what, (int)pid,
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static const int g_fatal_signals[] = {
	SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGBUS, SIGSEGV, SIGPIPE,
};

static void on_fatal_signal(int sig)
{
	static const char bus[] =
		"dsm-faultlat: error: SIGBUS (a page fault could not be "
		"served)\n";
	static const char other[] = "dsm-faultlat: error: fatal signal\n";
	ssize_t r;

	sigset_t set;

	kill_children();
	if (sig == SIGBUS)
		r = write(STDERR_FILENO, bus, sizeof(bus) - 1);
	else
		r = write(STDERR_FILENO, other, sizeof(other) - 1);
	(void)r;
	for (int i = 0; i < FL_MAX_CHILDREN; i++)
		if (g_children[i] > 0)
			waitpid(g_children[i], NULL, 0);
	/* Die of the signal itself. */
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	_exit(FL_EXIT_ERROR);
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(g_fatal_signals) / sizeof(int); i++)
		if (sigaction(g_fatal_signals[i], &sa, NULL) != 0)
			fl_fatal_errno(errno, "sigaction");
}

void fl_child_init(pid_t parent)
{
	for (int i = 0; i < FL_MAX_CHILDREN; i++)
		g_children[i] = 0;
	for (size_t i = 0; i < sizeof(g_fatal_signals) / sizeof(int); i++)
		signal(g_fatal_signals[i], SIG_DFL);
	/* Die with the parent, even if it is SIGKILLed. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(FL_EXIT_ERROR);
}

void fl_pin_self(int cpu, const char *who)
{
	cpu_set_t set;

	if (cpu == FL_PIN_NONE)
		return;
	CPU_ZERO(&set);
	if (cpu == FL_PIN_ANY) {
		long n = sysconf(_SC_NPROCESSORS_CONF);

		for (long i = 0; i < n && i < CPU_SETSIZE; i++)
			CPU_SET((int)i, &set);
	} else {
		CPU_SET(cpu, &set);
	}
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		fl_fatal_errno(errno, "pin %s to CPU %d", who, cpu);
}

/* ------------------------------------------------------------------ */
/* the faulting side                                                   */

static void verify_page(const char *row, enum fl_op op, const char *page,
			size_t n, uint64_t seed, bool expect_zero,
			uint64_t loaded)
{
	const uint64_t *w = (const uint64_t *)page;
	uint64_t v = expect_zero ? 0 : fl_page_base(seed, n);
	uint64_t step = expect_zero ? 0 : FL_PATTERN_STEP;
	uint64_t marker = fl_marker(seed, n);
	const char *ops = op == FL_READ ? "read" : "write";

	if (op == FL_READ && loaded != v)
		fl_fatal("%s: %s fault on page %zu loaded 0x%016" PRIx64
			 ", expected 0x%016" PRIx64, row, ops, n, loaded, v);
	for (size_t i = 0; i < FL_WORDS; i++, v += step) {
		uint64_t want = (op == FL_WRITE && i == 0) ? marker : v;

		if (w[i] != want)
			fl_fatal("%s: %s fault on page %zu: word %zu is "
				 "0x%016" PRIx64 ", expected 0x%016" PRIx64
				 " (wrong page content)", row, ops, n, i, w[i],
				 want);
	}
}

void fl_fault_loop(const char *row, char *base, struct fl_trace *tr,
		   bool expect_zero)
{
	for (int op = FL_READ; op <= FL_WRITE; op++) {
		for (size_t i = 0; i < tr->per_phase; i++) {
			size_t n = tr->order[(size_t)op * tr->per_phase + i];
			char *page = base + n * FL_PAGE;
			volatile uint64_t *p = (volatile uint64_t *)page;
			uint64_t t0, t1, loaded = 0;

			if (op == FL_READ) {
				t0 = fl_now();
				loaded = p[0];
				t1 = fl_now();
			} else {
				uint64_t m = fl_marker(tr->seed, n);

				t0 = fl_now();
				p[0] = m;
				t1 = fl_now();
			}
			tr->t0[n] = t0;
			tr->t1[n] = t1;
			tr->cpu_f[n] = (int16_t)sched_getcpu();
			verify_page(row, (enum fl_op)op, page, n, tr->seed,
				    expect_zero, loaded);
		}
	}
}

/* ------------------------------------------------------------------ */
/* traces and statistics                                               */

static void *zalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		fl_fatal("out of memory (%zu x %zu bytes)", n, size);
	memset(p, 0, n * size);   /* touch now, not while timing */
	return p;
}

static void trace_init(struct fl_trace *tr, const struct fl_opts *o,
		       uint64_t seed)
{
	memset(tr, 0, sizeof(*tr));
	tr->warmup = o->warmup;
	tr->samples = o->samples;
	tr->per_phase = o->warmup + o->samples;
	tr->npages = 2 * tr->per_phase;
	tr->seed = seed;
	tr->t0 = zalloc(tr->npages, sizeof(uint64_t));
	tr->t1 = zalloc(tr->npages, sizeof(uint64_t));
	tr->t_ev = zalloc(tr->npages, sizeof(uint64_t));
	tr->t_fetch = zalloc(tr->npages, sizeof(uint64_t));
	tr->t_inst = zalloc(tr->npages, sizeof(uint64_t));
	tr->cpu_f = zalloc(tr->npages, sizeof(int16_t));
	tr->cpu_h = zalloc(tr->npages, sizeof(int16_t));
	tr->nserved = zalloc(tr->npages, 1);
	tr->wflag = zalloc(tr->npages, 1);

	/* Touch order: each phase's pages, shuffled (Fisher-Yates, xorshift64*
	 * seeded from the row's seed) unless --order seq. */
	tr->order = zalloc(tr->npages, sizeof(size_t));
	for (size_t n = 0; n < tr->npages; n++)
		tr->order[n] = n;
	uint64_t x = seed | 1;
	for (size_t ph = 0; ph < 2 && !o->sequential; ph++) {
		size_t *a = tr->order + ph * tr->per_phase;

		for (size_t i = tr->per_phase - 1; i > 0; i--) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			size_t j = (size_t)((x * 0x2545f4914f6cdd1dull) % (i + 1));
			size_t t = a[i];

			a[i] = a[j];
			a[j] = t;
		}
	}
}

static void trace_free(struct fl_trace *tr)
{
	free(tr->t0);
	free(tr->t1);
	free(tr->t_ev);
	free(tr->t_fetch);
	free(tr->t_inst);
	free(tr->cpu_f);
	free(tr->cpu_h);
	free(tr->nserved);
	free(tr->wflag);
	free(tr->order);
}

struct fl_dist {
	double p50, p99, mean, min, max;   /* us */
};

struct fl_stat {
	size_t n;
	struct fl_dist lat;
	bool have_parts;
	struct fl_dist wake, fetch, install, resume;
	double same_cpu_pct;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentiles of v[0..n) (sorted in place), in us. */
static struct fl_dist dist(uint64_t *v, size_t n)
{
	struct fl_dist d;
	double sum = 0;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < n; i++)
		sum += (double)v[i];
	size_t i50 = (n * 50 + 99) / 100, i99 = (n * 99 + 99) / 100;
	d.p50 = (double)v[i50 ? i50 - 1 : 0] / 1e3;
	d.p99 = (double)v[i99 ? i99 - 1 : 0] / 1e3;
	d.mean = sum / (double)n / 1e3;
	d.min = (double)v[0] / 1e3;
	d.max = (double)v[n - 1] / 1e3;
	return d;
}

static uint64_t diff(uint64_t a, uint64_t b)
{
	return b > a ? b - a : 0;
}

static struct fl_stat stat_of(const struct fl_trace *tr, enum fl_op op)
{
	struct fl_stat s;
	size_t n = tr->samples, first = (size_t)op * tr->per_phase + tr->warmup;
	const size_t *ord = tr->order;
	uint64_t *v = zalloc(n, sizeof(uint64_t));
	size_t same = 0;

	memset(&s, 0, sizeof(s));
	s.n = n;
	for (size_t i = 0; i < n; i++)
		v[i] = diff(tr->t0[ord[first + i]], tr->t1[ord[first + i]]);
	s.lat = dist(v, n);
	if (tr->have_handler) {
		s.have_parts = true;
		for (size_t i = 0; i < n; i++) {
			size_t k = ord[first + i];

			v[i] = diff(tr->t0[k], tr->t_ev[k]);
			same += tr->cpu_f[k] == tr->cpu_h[k];
		}
		s.wake = dist(v, n);
		for (size_t i = 0; i < n; i++)
			v[i] = diff(tr->t_ev[ord[first + i]],
				    tr->t_fetch[ord[first + i]]);
		s.fetch = dist(v, n);
		for (size_t i = 0; i < n; i++)
			v[i] = diff(tr->t_fetch[ord[first + i]],
				    tr->t_inst[ord[first + i]]);
		s.install = dist(v, n);
		for (size_t i = 0; i < n; i++)
			v[i] = diff(tr->t_inst[ord[first + i]],
				    tr->t1[ord[first + i]]);
		s.resume = dist(v, n);
		s.same_cpu_pct = 100.0 * (double)same / (double)n;
	}
	free(v);
	return s;
}

/* ------------------------------------------------------------------ */
/* rows                                                                */

enum { ROW_LOCAL_POLL, ROW_LOCAL_SPIN, ROW_TCP, ROW_DSM, ROW_COUNT };

struct fl_row {
	const char *key;     /* --rows token and JSON name */
	const char *label;   /* table */
	bool wanted;
	bool ran;
	const char *why_not; /* wanted but unavailable */
	struct fl_stat st[FL_NOPS];
};

static struct fl_row g_rows[ROW_COUNT] = {
	[ROW_LOCAL_POLL] = { .key = "local-poll", .label = "local uffd, poll()" },
	[ROW_LOCAL_SPIN] = { .key = "local-spin", .label = "local uffd, busy-poll" },
	[ROW_TCP] = { .key = "tcp", .label = "uffd + TCP page server" },
	[ROW_DSM] = { .key = "dsm", .label = "dsm (libdsm)" },
};

#if !FL_HAVE_LIBDSM
void fl_run_dsm(const char *row, const struct fl_opts *o, struct fl_trace *tr)
{
	(void)o;
	(void)tr;
	fl_fatal("%s: built without libdsm", row);
}
#endif

static uint64_t g_seed;

static void run_row(int r, const struct fl_opts *o)
{
	struct fl_row *row = &g_rows[r];
	struct fl_trace tr;

	/* A different pattern per row: a page left over from another row
	 * cannot pass. */
	trace_init(&tr, o, g_seed ^ ((uint64_t)(r + 1) << 56));
	switch (r) {
	case ROW_LOCAL_POLL:
		fl_run_local(row->key, o, &tr, false);
		break;
	case ROW_LOCAL_SPIN:
		fl_run_local(row->key, o, &tr, true);
		break;
	case ROW_TCP:
		fl_run_tcp(row->key, o, &tr);
		break;
	case ROW_DSM:
		fl_run_dsm(row->key, o, &tr);
		break;
	}
	for (int op = FL_READ; op <= FL_WRITE; op++)
		row->st[op] = stat_of(&tr, (enum fl_op)op);
	row->ran = true;
	trace_free(&tr);
}

/* ------------------------------------------------------------------ */
/* output                                                              */

static uint64_t timer_overhead_ns(void)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 1000; i++) {
		uint64_t a = fl_now(), b = fl_now();

		if (b - a < best)
			best = b - a;
	}
	return best;
}

static const char *op_name(int op)
{
	return op == FL_READ ? "read" : "write";
}

struct ratio {
	int num, den;
	const char *name;
};

static const struct ratio g_ratios[] = {
	{ ROW_TCP, ROW_LOCAL_POLL, "tcp/local-poll" },
	{ ROW_TCP, ROW_LOCAL_SPIN, "tcp/local-spin" },
	{ ROW_LOCAL_POLL, ROW_LOCAL_SPIN, "local-poll/local-spin" },
	{ ROW_DSM, ROW_LOCAL_POLL, "dsm/local-poll" },
	{ ROW_DSM, ROW_TCP, "dsm/tcp" },
};

static const char *cpu_desc(int cpu, char *buf, size_t len)
{
	if (cpu < 0)
		snprintf(buf, len, "any CPU");
	else
		snprintf(buf, len, "CPU %d", cpu);
	return buf;
}

static void pin_desc(const struct fl_opts *o, char *buf, size_t len)
{
	char h[16], s[16];

	if (o->pin_faulter < 0)
		snprintf(buf, len, "none (scheduler's choice)");
	else
		snprintf(buf, len, "faulter CPU %d, handler %s, server %s",
			 o->pin_faulter, cpu_desc(o->pin_handler, h, sizeof(h)),
			 cpu_desc(o->pin_server, s, sizeof(s)));
}

static void print_table(const struct fl_opts *o, uint64_t tov)
{
	char pins[128];

	pin_desc(o, pins, sizeof(pins));
	printf("dsm-faultlat: 4 KiB pages, one fresh page per sample (%s "
	       "order), %zu samples after %zu\nwarm-up per row and fault kind; "
	       "every page's content verified. Times in us\n"
	       "(CLOCK_MONOTONIC, timer overhead %" PRIu64 " ns). "
	       "CPUs online: %ld; pinning: %s\n\n",
	       o->sequential ? "address" : "shuffled", o->samples, o->warmup,
	       tov, sysconf(_SC_NPROCESSORS_ONLN), pins);

	printf("%-24s %-5s %8s %8s %8s %8s %9s %9s\n", "row", "fault", "p50",
	       "p99", "mean", "min", "max", "same-cpu");
	for (int r = 0; r < ROW_COUNT; r++) {
		const struct fl_row *row = &g_rows[r];

		if (!row->ran) {
			if (row->why_not)
				printf("%-24s %s\n", row->label, row->why_not);
			continue;
		}
		for (int op = FL_READ; op <= FL_WRITE; op++) {
			const struct fl_stat *s = &row->st[op];
			char same[16] = "-";

			if (s->have_parts)
				snprintf(same, sizeof(same), "%.0f%%",
					 s->same_cpu_pct);
			printf("%-24s %-5s %8.2f %8.2f %8.2f %8.2f %9.1f %9s\n",
			       op == FL_READ ? row->label : "", op_name(op),
			       s->lat.p50, s->lat.p99, s->lat.mean, s->lat.min,
			       s->lat.max, same);
		}
	}

	bool any_parts = false;
	for (int r = 0; r < ROW_COUNT; r++)
		any_parts |= g_rows[r].ran && g_rows[r].st[0].have_parts;
	if (any_parts) {
		printf("\nwhere the time goes, p50 (us): wake = fault -> handler "
		       "holds the event; fetch = page\ncontent ready (local: "
		       "generated, tcp: request + 4 KiB reply); install = "
		       "UFFDIO_COPY,\nwhich includes waking the faulter; resume = "
		       "copy returned -> faulter running again\n(0 when the "
		       "faulter ran first, on the handler's CPU). Medians of parts "
		       "need not add up.\n");
		printf("%-24s %-5s %8s %8s %8s %8s\n", "row", "fault", "wake",
		       "fetch", "install", "resume");
		for (int r = 0; r < ROW_COUNT; r++) {
			const struct fl_row *row = &g_rows[r];

			if (!row->ran || !row->st[0].have_parts)
				continue;
			for (int op = FL_READ; op <= FL_WRITE; op++) {
				const struct fl_stat *s = &row->st[op];

				printf("%-24s %-5s %8.2f %8.2f %8.2f %8.2f\n",
				       op == FL_READ ? row->label : "",
				       op_name(op), s->wake.p50, s->fetch.p50,
				       s->install.p50, s->resume.p50);
			}
		}
	}

	bool header = false;
	for (size_t i = 0; i < sizeof(g_ratios) / sizeof(g_ratios[0]); i++) {
		const struct ratio *q = &g_ratios[i];

		if (!g_rows[q->num].ran || !g_rows[q->den].ran)
			continue;
		if (!header) {
			printf("\nratios of p50 (p99):\n");
			header = true;
		}
		printf("  %-22s", q->name);
		for (int op = FL_READ; op <= FL_WRITE; op++)
			printf("  %s %5.2fx (%5.2fx)", op_name(op),
			       g_rows[q->num].st[op].lat.p50 /
				       g_rows[q->den].st[op].lat.p50,
			       g_rows[q->num].st[op].lat.p99 /
				       g_rows[q->den].st[op].lat.p99);
		printf("\n");
	}
}

static void json_dist(const char *name, const struct fl_dist *d)
{
	printf("\"%s\":{\"p50_us\":%.3f,\"p99_us\":%.3f,\"mean_us\":%.3f,"
	       "\"min_us\":%.3f,\"max_us\":%.3f}", name, d->p50, d->p99,
	       d->mean, d->min, d->max);
}

static void print_json(const struct fl_opts *o, uint64_t tov)
{
	printf("{\"bench\":\"faultlat\",\"page_size\":%u,\"samples\":%zu,"
	       "\"warmup\":%zu,\"timer_overhead_ns\":%" PRIu64 ","
	       "\"cpus\":%ld,\"pin\":[%d,%d,%d],\"order\":\"%s\",\"rows\":[",
	       FL_PAGE, o->samples, o->warmup, tov,
	       sysconf(_SC_NPROCESSORS_ONLN), o->pin_faulter, o->pin_handler,
	       o->pin_server, o->sequential ? "seq" : "random");
	bool first = true;
	for (int r = 0; r < ROW_COUNT; r++) {
		const struct fl_row *row = &g_rows[r];

		if (!row->ran)
			continue;
		for (int op = FL_READ; op <= FL_WRITE; op++) {
			const struct fl_stat *s = &row->st[op];

			printf("%s{\"row\":\"%s\",\"fault\":\"%s\",\"n\":%zu,"
			       "\"p50_us\":%.3f,\"p99_us\":%.3f,\"mean_us\":%.3f,"
			       "\"min_us\":%.3f,\"max_us\":%.3f",
			       first ? "" : ",", row->key, op_name(op), s->n,
			       s->lat.p50, s->lat.p99, s->lat.mean, s->lat.min,
			       s->lat.max);
			first = false;
			if (s->have_parts) {
				printf(",\"same_cpu_pct\":%.1f,", s->same_cpu_pct);
				json_dist("wake", &s->wake);
				printf(",");
				json_dist("fetch", &s->fetch);
				printf(",");
				json_dist("install", &s->install);
				printf(",");
				json_dist("resume", &s->resume);
			}
			printf("}");
		}
	}
	printf("],\"unavailable\":{");
	first = true;
	for (int r = 0; r < ROW_COUNT; r++) {
		if (g_rows[r].ran || !g_rows[r].why_not)
			continue;
		printf("%s\"%s\":\"%s\"", first ? "" : ",", g_rows[r].key,
		       g_rows[r].why_not);
		first = false;
	}
	printf("},\"ratios_p50\":{");
	first = true;
	for (size_t i = 0; i < sizeof(g_ratios) / sizeof(g_ratios[0]); i++) {
		const struct ratio *q = &g_ratios[i];

		if (!g_rows[q->num].ran || !g_rows[q->den].ran)
			continue;
		for (int op = FL_READ; op <= FL_WRITE; op++) {
			printf("%s\"%s.%s\":%.3f", first ? "" : ",", q->name,
			       op_name(op),
			       g_rows[q->num].st[op].lat.p50 /
				       g_rows[q->den].st[op].lat.p50);
			first = false;
		}
	}
	printf("}}\n");
}

/* ------------------------------------------------------------------ */
/* command line                                                        */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: dsm-faultlat [options]\n"
		"Page-fault latency as the application sees it (4 KiB pages, one\n"
		"fresh page per sample, contents verified). Needs root (userfaultfd).\n"
		"  -n, --samples N        recorded faults per row and fault kind "
		"(default 5000)\n"
		"  -w, --warmup N         unrecorded faults before them (default 500)\n"
		"  -r, --rows LIST        comma list of local (= local-poll,local-spin),\n"
		"                         local-poll, local-spin, tcp, dsm, all\n"
		"                         (default: local,tcp, plus dsm with --segment)\n"
		"  -o, --order ORDER      random (default: pages touched in a shuffled order,\n"
		"                         defeating any prefetcher) or seq (address order)\n"
		"  -j, --json             print one JSON line instead of the table\n"
		"  -p, --pin F[,H[,S]]    pin the faulting thread, the handler thread and\n"
		"                         the page server to these CPUs (default: none)\n"
		"  -s, --dsm-socket PATH  dsm row: the dataplane's control socket\n"
		"                         (default $DSM_SOCKET, else " DSM_DEFAULT_SOCKET ")\n"
		"  -S, --segment NAME     dsm row: segment to attach (created if missing)\n"
		"      --dsm-fill-socket PATH  dsm row: pre-write the pattern through this\n"
		"                         dataplane (e.g. another node's; default --dsm-socket)\n"
		"      --dsm-no-fill      dsm row: do not pre-write the pattern; pages must\n"
		"                         read as zero\n"
		"  -h, --help\n"
		"dsm row: %s\n",
		FL_HAVE_LIBDSM ? "available" : "unavailable (built without libdsm)");
}

/* 2 x (warmup + samples) pages per row: 2^20 samples is 8 GiB. */
#define FL_MAX_COUNT (1ull << 20)

static size_t parse_count(const char *s, const char *opt, size_t min)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min ||
	    v > FL_MAX_COUNT) {
		fprintf(stderr, "dsm-faultlat: %s: bad value '%s' (%zu..%llu)\n",
			opt, s, min, (unsigned long long)FL_MAX_COUNT);
		exit(FL_EXIT_USAGE);
	}
	return (size_t)v;
}

static void parse_rows(const char *list, bool *explicit_dsm)
{
	char *copy = strdup(list), *save = NULL;

	if (!copy)
		fl_fatal("out of memory");
	for (char *t = strtok_r(copy, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "local")) {
			g_rows[ROW_LOCAL_POLL].wanted = true;
			g_rows[ROW_LOCAL_SPIN].wanted = true;
		} else if (!strcmp(t, "all")) {
			for (int r = 0; r < ROW_COUNT; r++)
				g_rows[r].wanted = true;
			*explicit_dsm = true;
		} else {
			int r;

			for (r = 0; r < ROW_COUNT; r++)
				if (!strcmp(t, g_rows[r].key))
					break;
			if (r == ROW_COUNT) {
				fprintf(stderr, "dsm-faultlat: --rows: unknown "
					"row '%s' (local, local-poll, "
					"local-spin, tcp, dsm, all)\n", t);
				exit(FL_EXIT_USAGE);
			}
			g_rows[r].wanted = true;
			if (r == ROW_DSM)
				*explicit_dsm = true;
		}
	}
	free(copy);
}

static void parse_pin(const char *s, struct fl_opts *o)
{
	int v[3] = { FL_PIN_ANY, FL_PIN_ANY, FL_PIN_ANY }, k = 0;
	const char *p = s;
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);

	while (*p && k < 3) {
		char *end;
		long c = strtol(p, &end, 10);

		if (end == p || c < 0 || c >= ncpu || c >= CPU_SETSIZE)
			break;
		v[k++] = (int)c;
		p = end;
		if (*p == ',')
			p++;
		else
			break;
	}
	if (k == 0 || *p) {
		fprintf(stderr, "dsm-faultlat: --pin: bad CPU list '%s' "
			"(F[,H[,S]], CPUs 0..%ld)\n", s, ncpu - 1);
		exit(FL_EXIT_USAGE);
	}
	o->pin_faulter = v[0];
	o->pin_handler = v[1];
	o->pin_server = v[2];
}

int main(int argc, char **argv)
{
	enum { OPT_DSM_NO_FILL = 256, OPT_DSM_FILL_SOCKET };
	static const struct option longopts[] = {
		{ "samples", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "rows", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "order", required_argument, NULL, 'o' },
		{ "pin", required_argument, NULL, 'p' },
		{ "dsm-socket", required_argument, NULL, 's' },
		{ "segment", required_argument, NULL, 'S' },
		{ "dsm-no-fill", no_argument, NULL, OPT_DSM_NO_FILL },
		{ "dsm-fill-socket", required_argument, NULL, OPT_DSM_FILL_SOCKET },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fl_opts o = {
		.samples = 5000, .warmup = 500,
		.pin_faulter = FL_PIN_NONE, .pin_handler = FL_PIN_NONE,
		.pin_server = FL_PIN_NONE,
	};
	const char *rows = NULL;
	bool explicit_dsm = false;
	int c;

	while ((c = getopt_long(argc, argv, "n:w:r:jo:p:s:S:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'n': o.samples = parse_count(optarg, "--samples", 1); break;
		case 'w': o.warmup = parse_count(optarg, "--warmup", 0); break;
		case 'r': rows = optarg; break;
		case 'j': o.json = true; break;
		case 'o':
			if (!strcmp(optarg, "seq")) {
				o.sequential = true;
			} else if (strcmp(optarg, "random")) {
				fprintf(stderr, "dsm-faultlat: --order: 'random' "
					"or 'seq', not '%s'\n", optarg);
				return FL_EXIT_USAGE;
			}
			break;
		case 'p': parse_pin(optarg, &o); break;
		case 's': o.dsm_socket = optarg; break;
		case 'S': o.dsm_segment = optarg; break;
		case OPT_DSM_NO_FILL: o.dsm_no_fill = true; break;
		case OPT_DSM_FILL_SOCKET: o.dsm_fill_socket = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return FL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dsm-faultlat: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return FL_EXIT_USAGE;
	}

	if (rows) {
		parse_rows(rows, &explicit_dsm);
	} else {
		g_rows[ROW_LOCAL_POLL].wanted = true;
		g_rows[ROW_LOCAL_SPIN].wanted = true;
		g_rows[ROW_TCP].wanted = true;
		g_rows[ROW_DSM].wanted = true;
		explicit_dsm = o.dsm_segment != NULL;
	}
	if ((o.dsm_socket || o.dsm_no_fill || o.dsm_fill_socket) &&
	    !o.dsm_segment) {
		fprintf(stderr, "dsm-faultlat: the dsm row needs --segment NAME\n");
		return FL_EXIT_USAGE;
	}
	if (g_rows[ROW_DSM].wanted) {
		const char *why = NULL;

		if (!FL_HAVE_LIBDSM)
			why = "unavailable: built without libdsm";
		else if (!o.dsm_segment)
			why = "skipped: needs --dsm-socket PATH --segment NAME";
		if (why) {
			if (explicit_dsm) {
				fprintf(stderr, "dsm-faultlat: error: dsm row %s\n",
					why);
				return FL_EXIT_ERROR;
			}
			g_rows[ROW_DSM].wanted = false;
			g_rows[ROW_DSM].why_not = why;
		}
	}

	install_signals();
	fl_pin_self(o.pin_faulter, "faulting thread");
	g_seed = fl_page_base(fl_now(), (uint64_t)getpid());
	uint64_t tov = timer_overhead_ns();

	for (int r = 0; r < ROW_COUNT; r++)
		if (g_rows[r].wanted)
			run_row(r, &o);

	if (o.json)
		print_json(&o, tov);
	else
		print_table(&o, tov);
	if (fflush(stdout) != 0)
		fl_fatal_errno(errno, "stdout");
	return 0;
}
