/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault round-trip latency, dsm.ko ring versus userfaultfd, in one run.
 *
 * Each sample is what the application sees: the time from just before the
 * first touch of a page that is not mapped to the end of that access (one
 * page at a time, one application thread).  Rows:
 *
 *   ring  read  poll   dsm.ko, server thread busy-polling the FAULT ring
 *                      (kt_server_poll in a loop, never sleeps); MAP_RO
 *   ring  read  sleep  dsm.ko, server sleeping when idle (NEED_WAKEUP +
 *                      ENTER_WAIT: kt_server_start's loop); MAP_RO
 *   ring  write poll   dsm.ko, write faults, busy-polling server; MAP_RW
 *   uffd  read  poll   userfaultfd MISSING + UFFDIO_COPY of 4 KiB from a
 *                      local buffer, handler spinning on an O_NONBLOCK read
 *   uffd  read  block  the same, handler blocking in poll()
 *
 * Data path, the same for both: the server copies a 4 KiB template into
 * the page it hands out (dsm: memcpy into the segment backing; uffd: the
 * kernel's copy in UFFDIO_COPY from a local buffer) and stamps its first
 * and last words with (generation, page).  Every measured access is then
 * checked against that stamp, the template and the server's fault counter
 * (exactly one request per sample), so broken faults cannot pass.
 *
 * Fresh pages: a window of WIN = DSM_RING_CMD_MAX_PAGES pages is touched
 * once per page, then made missing again (dsm: one DSM_OP_INVALIDATE of the
 * window from this thread, the only user of the CMD/ACK rings; uffd:
 * MADV_DONTNEED), and the generation is bumped so a stale page is caught.
 *
 * To spread the host's noise (TCG, maybe another qemu) evenly over the
 * rows, each row runs in ROUNDS chunks, interleaved with the other rows;
 * every chunk starts its server/handler thread and warms up first.  Under
 * the table, one line per row says how long it ran, how often dsm.ko woke
 * the server, how many samples were served on the application's own CPU
 * and how many took over 1 ms in each round (slow samples bunched in some
 * rounds across all rows are the host's noise, not the row's).
 *
 * Usage: kt_bench [samples per row (5000)]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* also set by meson */
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kt.h"

#define SEG      13
#define WIN      DSM_RING_CMD_MAX_PAGES /* pages per fresh window */
#define WORDS    (KT_PAGE / 8)
#define WARMUP   200                    /* per row, spread over the rounds */
#define ROUNDS   5
#define DEF_SAMPLES 5000

/* Bumped (by the test thread, with no fault outstanding) whenever the
 * window is made missing again; read by the serving threads. */
static uint32_t g_gen;
static uint64_t tmpl[WORDS];
/* The CPU the serving thread answered the last fault on (diagnostic: with
 * nothing pinned, a spinning server sharing the application's vCPU shows
 * up as ms-long samples). */
static int g_srv_cpu = -1;
static unsigned g_round;
#define SLOW_NS 1000000 /* samples above 1 ms: counted per round */

static uint64_t stamp(uint32_t gen, uint64_t pgno)
{
	return 0xd500000000000000ull ^ ((uint64_t)gen << 20) ^ pgno;
}

static uint64_t wval(uint32_t gen, uint64_t pgno)
{
	return 0x7700000000000000ull ^ ((uint64_t)gen << 20) ^ (pgno << 1);
}

static uint32_t gen_bump(void)
{
	return __atomic_add_fetch(&g_gen, 1, __ATOMIC_RELEASE);
}

/* Fill one page the way a dataplane would after receiving it. */
static void fill_page(uint64_t *pg, uint64_t pgno)
{
	uint64_t s = stamp(__atomic_load_n(&g_gen, __ATOMIC_ACQUIRE), pgno);

	__atomic_store_n(&g_srv_cpu, sched_getcpu(), __ATOMIC_RELAXED);
	memcpy(pg, tmpl, KT_PAGE);
	pg[0] = s;
	pg[WORDS - 1] = ~s;
}

/* ------------------------------------------------------------------ rows */

enum { R_RING_POLL, R_RING_SLEEP, R_RING_WRITE, R_UFFD_POLL, R_UFFD_BLOCK, R_NR };

struct row {
	const char *name;
	uint64_t *ns;
	size_t n;
	uint64_t wall_ns;       /* time spent in the row's chunks */
	uint64_t srv_faults;    /* requests the server/handler saw */
	uint64_t wakeups, skipped; /* dsm.ko wake-up counters, deltas */
	uint64_t same_cpu;      /* samples served on the application's CPU */
	uint64_t same_cpu_ns;   /* sum of those samples */
	unsigned slow[ROUNDS];  /* samples > SLOW_NS, per round */
};

static struct row rows[R_NR] = {
	[R_RING_POLL]  = { .name = "ring read, server busy-poll" },
	[R_RING_SLEEP] = { .name = "ring read, server sleeps (ENTER_WAIT)" },
	[R_RING_WRITE] = { .name = "ring write, server busy-poll" },
	[R_UFFD_POLL]  = { .name = "uffd read+COPY, handler busy-poll" },
	[R_UFFD_BLOCK] = { .name = "uffd read+COPY, handler in poll()" },
};

static inline void compiler_barrier(void)
{
	__asm__ __volatile__("" ::: "memory");
}

/* --------------------------------------------------------------- dsm.ko */

static uint8_t policy(struct kt_server *s, const struct dsm_fault_req *r)
{
	KT_CHECK(r->seg_id == s->seg_id && r->pgno < s->npages,
		 "request for %u/%lu", r->seg_id, (unsigned long)r->pgno);
	fill_page((uint64_t *)(s->mem + r->pgno * KT_PAGE), r->pgno);
	return (r->flags & DSM_FAULT_WRITE) ? DSM_RES_MAP_RW : DSM_RES_MAP_RO;
}

/* The busy-polling server: kt_server_poll back to back, never sleeping
 * (the FAULT ring's NEED_WAKEUP stays clear, so the kernel never kicks). */
static void *busy_serve(void *arg)
{
	struct kt_server *s = arg;

	while (!s->stop)
		kt_server_poll(s);
	return NULL;
}

static void busy_start(struct kt_server *s)
{
	s->stop = false;
	KT_CHECK(pthread_create(&s->thread, NULL, busy_serve, s) == 0, "thread");
	s->running = true;   /* kt_server_stop joins it */
}

/* The page a sample touched holds what generation gen put there (v: the
 * word 0 the access read). */
static void check_page(const struct row *row, volatile uint64_t *pg, uint64_t v,
		       uint32_t gen, uint64_t pgno)
{
	KT_CHECK(v == stamp(gen, pgno), "%s: page %lu: word 0 %#lx, want %#lx",
		 row->name, (unsigned long)pgno, (unsigned long)v,
		 (unsigned long)stamp(gen, pgno));
	KT_CHECK(pg[WORDS - 1] == ~stamp(gen, pgno) &&
		 pg[WORDS / 2 + 3] == tmpl[WORDS / 2 + 3],
		 "%s: page %lu: contents", row->name, (unsigned long)pgno);
}

/* One measured access of ns nanoseconds (after the warm-up). */
static void record(struct row *row, uint64_t ns)
{
	row->ns[row->n++] = ns;
	if (ns > SLOW_NS)
		row->slow[g_round]++;
	if (sched_getcpu() == __atomic_load_n(&g_srv_cpu, __ATOMIC_RELAXED)) {
		row->same_cpu++;
		row->same_cpu_ns += ns;
	}
}

/* Make the window missing again: one command, acked once every pte is
 * gone.  Called between samples, with no fault outstanding. */
static void dsm_refresh(struct kt_server *s)
{
	int32_t st = kt_command(s, DSM_OP_INVALIDATE, 0, WIN);

	KT_CHECK(st == 0, "invalidate: %d", st);
	gen_bump();
}

static void dsm_chunk(struct row *row, struct kt_server *s, volatile uint64_t *map,
		      bool write, bool sleeping, size_t warm, size_t n)
{
	struct dsm_kstats st0 = kt_stats(), st1;
	uint64_t f0 = s->faults, r0 = s->reads, w0 = s->writes, t0 = kt_now_ns();
	size_t pos = 0;

	if (sleeping)
		kt_server_start(s);
	else
		busy_start(s);
	for (size_t i = 0; i < warm + n; i++) {
		volatile uint64_t *pg;
		uint64_t fb, a, b, v = 0, pgno;
		uint32_t gen;

		if (pos == 0)
			dsm_refresh(s);
		pgno = pos;
		pos = (pos + 1) % WIN;
		pg = map + pgno * WORDS;
		gen = __atomic_load_n(&g_gen, __ATOMIC_RELAXED);
		fb = s->faults;
		compiler_barrier();
		a = kt_now_ns();
		compiler_barrier();
		if (write)
			pg[1] = wval(gen, pgno);
		else
			v = pg[0];
		compiler_barrier();
		b = kt_now_ns();
		compiler_barrier();

		KT_CHECK(s->faults == fb + 1, "%s: page %lu: %lu requests for one access",
			 row->name, (unsigned long)pgno, (unsigned long)(s->faults - fb));
		if (write) {
			KT_CHECK(((volatile uint64_t *)s->mem)[pgno * WORDS + 1] == wval(gen, pgno),
				 "%s: page %lu: write not in the backing", row->name,
				 (unsigned long)pgno);
			v = pg[0];
		}
		check_page(row, pg, v, gen, pgno);
		if (i >= warm)
			record(row, b - a);
	}
	kt_server_stop(s);
	st1 = kt_stats();
	row->wall_ns += kt_now_ns() - t0;
	row->srv_faults += s->faults - f0;
	row->wakeups += st1.wakeups - st0.wakeups;
	row->skipped += st1.wakeups_skipped - st0.wakeups_skipped;
	KT_CHECK(s->faults - f0 == warm + n, "%s: %lu requests for %zu accesses", row->name,
		 (unsigned long)(s->faults - f0), warm + n);
	KT_CHECK(write ? s->writes - w0 == warm + n && s->reads == r0
		       : s->reads - r0 == warm + n && s->writes == w0,
		 "%s: request kinds: reads +%lu writes +%lu", row->name,
		 (unsigned long)(s->reads - r0), (unsigned long)(s->writes - w0));
}

/* ----------------------------------------------------------- userfaultfd */

struct uffd_ctx {
	int uffd;
	int stopfd;             /* eventfd: wakes the poll() handler to stop */
	uint8_t *area;          /* WIN pages, registered MISSING */
	uint64_t *buf;          /* the local page UFFDIO_COPY copies from */
	bool block;
	volatile bool stop;
	pthread_t thread;
	uint64_t faults;        /* atomic: handled page faults */
};

static void uffd_serve_msg(struct uffd_ctx *u, const struct uffd_msg *m)
{
	uint64_t addr, pgno;
	struct uffdio_copy c;

	KT_CHECK(m->event == UFFD_EVENT_PAGEFAULT, "uffd event %u", m->event);
	KT_CHECK(!(m->arg.pagefault.flags & (UFFD_PAGEFAULT_FLAG_WRITE | UFFD_PAGEFAULT_FLAG_WP)),
		 "uffd fault flags %#llx", (unsigned long long)m->arg.pagefault.flags);
	addr = m->arg.pagefault.address & ~(uint64_t)(KT_PAGE - 1);
	KT_CHECK(addr >= (uint64_t)(uintptr_t)u->area, "uffd address %#lx", (unsigned long)addr);
	pgno = (addr - (uint64_t)(uintptr_t)u->area) / KT_PAGE;
	KT_CHECK(pgno < WIN, "uffd page %lu", (unsigned long)pgno);
	/* The template stays in buf; only the stamped words change. */
	__atomic_store_n(&g_srv_cpu, sched_getcpu(), __ATOMIC_RELAXED);
	u->buf[0] = stamp(__atomic_load_n(&g_gen, __ATOMIC_ACQUIRE), pgno);
	u->buf[WORDS - 1] = ~u->buf[0];
	c = (struct uffdio_copy){ .dst = addr, .src = (uint64_t)(uintptr_t)u->buf,
				  .len = KT_PAGE, .mode = 0 };
	__atomic_add_fetch(&u->faults, 1, __ATOMIC_RELEASE);
	KT_CHECK(ioctl(u->uffd, UFFDIO_COPY, &c) == 0 && c.copy == KT_PAGE,
		 "UFFDIO_COPY page %lu: %s (copy %lld)", (unsigned long)pgno,
		 strerror(errno), (long long)c.copy);
}

static void *uffd_serve(void *arg)
{
	struct uffd_ctx *u = arg;
	struct uffd_msg m[8];

	for (;;) {
		ssize_t got;

		if (u->block) {
			struct pollfd p[2] = {
				{ .fd = u->uffd, .events = POLLIN },
				{ .fd = u->stopfd, .events = POLLIN },
			};

			KT_CHECK(poll(p, 2, -1) > 0 || errno == EINTR, "poll: %s", strerror(errno));
			if (p[1].revents)
				break;
			KT_CHECK(!(p[0].revents & (POLLERR | POLLHUP | POLLNVAL)),
				 "uffd revents %#x", p[0].revents);
		} else if (u->stop) {
			break;
		}
		got = read(u->uffd, m, sizeof(m));
		if (got < 0) {
			KT_CHECK(errno == EAGAIN || errno == EINTR, "uffd read: %s", strerror(errno));
			continue;
		}
		KT_CHECK(got > 0 && got % sizeof(m[0]) == 0, "uffd read %zd bytes", got);
		for (size_t i = 0; i < (size_t)got / sizeof(m[0]); i++)
			uffd_serve_msg(u, &m[i]);
	}
	return NULL;
}

static void uffd_open(struct uffd_ctx *u)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	struct uffdio_register reg;
	void *p;

	memset(u, 0, sizeof(*u));
	u->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	KT_CHECK(u->uffd >= 0, "userfaultfd: %s", strerror(errno));
	KT_CHECK(ioctl(u->uffd, UFFDIO_API, &api) == 0, "UFFDIO_API: %s", strerror(errno));
	u->stopfd = eventfd(0, EFD_CLOEXEC);
	KT_CHECK(u->stopfd >= 0, "eventfd: %s", strerror(errno));
	p = mmap(NULL, WIN * KT_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	u->area = p;
	/* 4 KiB faults only, like the dsm mapping. */
	KT_CHECK(madvise(p, WIN * KT_PAGE, MADV_NOHUGEPAGE) == 0 || errno == EINVAL,
		 "madvise nohugepage: %s", strerror(errno));
	reg = (struct uffdio_register){
		.range = { .start = (uint64_t)(uintptr_t)p, .len = WIN * KT_PAGE },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	KT_CHECK(ioctl(u->uffd, UFFDIO_REGISTER, &reg) == 0, "UFFDIO_REGISTER: %s",
		 strerror(errno));
	KT_CHECK(reg.ioctls & (1ull << _UFFDIO_COPY), "no UFFDIO_COPY");
	p = mmap(NULL, KT_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	u->buf = p;
	memcpy(u->buf, tmpl, KT_PAGE);
}

static void uffd_close(struct uffd_ctx *u)
{
	munmap(u->buf, KT_PAGE);
	munmap(u->area, WIN * KT_PAGE);
	close(u->stopfd);
	close(u->uffd);
}

static void uffd_refresh(struct uffd_ctx *u)
{
	KT_CHECK(madvise(u->area, WIN * KT_PAGE, MADV_DONTNEED) == 0, "MADV_DONTNEED: %s",
		 strerror(errno));
	gen_bump();
}

static void uffd_chunk(struct row *row, struct uffd_ctx *u, bool block, size_t warm, size_t n)
{
	uint64_t f0 = __atomic_load_n(&u->faults, __ATOMIC_ACQUIRE), t0 = kt_now_ns();
	size_t pos = 0;

	u->block = block;
	u->stop = false;
	KT_CHECK(pthread_create(&u->thread, NULL, uffd_serve, u) == 0, "thread");
	for (size_t i = 0; i < warm + n; i++) {
		volatile uint64_t *pg;
		uint64_t fb, a, b, v, pgno;
		uint32_t gen;

		if (pos == 0)
			uffd_refresh(u);
		pgno = pos;
		pos = (pos + 1) % WIN;
		pg = (volatile uint64_t *)(u->area + pgno * KT_PAGE);
		gen = __atomic_load_n(&g_gen, __ATOMIC_RELAXED);
		fb = __atomic_load_n(&u->faults, __ATOMIC_ACQUIRE);
		compiler_barrier();
		a = kt_now_ns();
		compiler_barrier();
		v = pg[0];
		compiler_barrier();
		b = kt_now_ns();
		compiler_barrier();

		KT_CHECK(__atomic_load_n(&u->faults, __ATOMIC_ACQUIRE) == fb + 1,
			 "%s: page %lu: %lu faults for one access", row->name,
			 (unsigned long)pgno,
			 (unsigned long)(__atomic_load_n(&u->faults, __ATOMIC_ACQUIRE) - fb));
		check_page(row, pg, v, gen, pgno);
		if (i >= warm)
			record(row, b - a);
	}
	if (block) {
		uint64_t one = 1;

		KT_CHECK(write(u->stopfd, &one, sizeof(one)) == sizeof(one), "eventfd write");
		pthread_join(u->thread, NULL);
		KT_CHECK(read(u->stopfd, &one, sizeof(one)) == sizeof(one), "eventfd read");
	} else {
		u->stop = true;
		pthread_join(u->thread, NULL);
	}
	row->wall_ns += kt_now_ns() - t0;
	row->srv_faults += __atomic_load_n(&u->faults, __ATOMIC_ACQUIRE) - f0;
}

/* ----------------------------------------------------------------- main */

struct summary {
	uint64_t p50, p99, max;
	double mean;
};

static struct summary summarize(struct row *r)
{
	struct summary s = { 0 };
	double sum = 0;

	kt_sort(r->ns, r->n);
	for (size_t i = 0; i < r->n; i++)
		sum += (double)r->ns[i];
	s.p50 = kt_pct(r->ns, r->n, 50);
	s.p99 = kt_pct(r->ns, r->n, 99);
	s.max = r->n ? r->ns[r->n - 1] : 0;
	s.mean = r->n ? sum / (double)r->n : 0;
	return s;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

int main(int argc, char **argv)
{
	size_t samples = DEF_SAMPLES, per, warm;
	struct summary sum[R_NR];
	struct dsm_kstats st0, st1;
	struct uffd_ctx u;
	struct kt_server s;
	volatile uint64_t *map;
	uint64_t t0, tnow[2000];
	double ratio;

	if (argc > 1)
		samples = strtoul(argv[1], NULL, 0);
	KT_CHECK(samples >= ROUNDS && samples % ROUNDS == 0, "samples %zu: a multiple of %d",
		 samples, ROUNDS);
	per = samples / ROUNDS;
	warm = WARMUP / ROUNDS;
	for (unsigned i = 0; i < WORDS; i++)
		tmpl[i] = 0x5a5a5a5a00000000ull ^ (i * 0x9e3779b97f4a7c15ull);
	for (unsigned r = 0; r < R_NR; r++) {
		rows[r].ns = calloc(samples, sizeof(uint64_t));
		KT_CHECK(rows[r].ns != NULL, "calloc");
	}

	/* Timer overhead, for reading the figures. */
	for (unsigned i = 0; i < 2000; i++) {
		uint64_t a = kt_now_ns();

		tnow[i] = kt_now_ns() - a;
	}
	kt_sort(tnow, 2000);

	t0 = kt_now_ns();
	kt_set_param("fault_timeout_ms", 10000);
	st0 = kt_stats();
	kt_server_open(&s, DSM_RING_F_NEED_WAKEUP, 0, SEG, WIN, policy);
	map = kt_map(SEG, 0, WIN, PROT_READ | PROT_WRITE, NULL);
	uffd_open(&u);

	for (unsigned round = 0; round < ROUNDS; round++) {
		g_round = round;
		dsm_chunk(&rows[R_RING_POLL], &s, map, false, false, warm, per);
		uffd_chunk(&rows[R_UFFD_POLL], &u, false, warm, per);
		dsm_chunk(&rows[R_RING_SLEEP], &s, map, false, true, warm, per);
		uffd_chunk(&rows[R_UFFD_BLOCK], &u, true, warm, per);
		dsm_chunk(&rows[R_RING_WRITE], &s, map, true, false, warm, per);
	}

	uffd_close(&u);
	KT_CHECK(munmap((void *)map, WIN * KT_PAGE) == 0, "munmap");
	kt_server_close(&s);
	st1 = kt_stats();

	printf("kt_bench: fault round trip as the application sees it, one page at a time, "
	       "fresh pages, %zu samples per row after %zu warm-up, %d interleaved rounds\n",
	       samples, (size_t)warm * ROUNDS, ROUNDS);
	printf("kt_bench: %-40s %8s %9s %9s %9s %9s\n", "row", "samples", "p50 us", "p99 us",
	       "mean us", "max us");
	for (unsigned r = 0; r < R_NR; r++) {
		sum[r] = summarize(&rows[r]);
		printf("kt_bench: %-40s %8zu %9.2f %9.2f %9.2f %9.2f\n", rows[r].name, rows[r].n,
		       us(sum[r].p50), us(sum[r].p99), sum[r].mean / 1000.0, us(sum[r].max));
	}
	for (unsigned r = 0; r < R_NR; r++) {
		printf("kt_bench:   %-38s %5.2f s in the row, %lu requests served",
		       rows[r].name, (double)rows[r].wall_ns / 1e9,
		       (unsigned long)rows[r].srv_faults);
		if (r <= R_RING_WRITE)
			printf(", server woken %lu times, kicks skipped %lu",
			       (unsigned long)rows[r].wakeups, (unsigned long)rows[r].skipped);
		printf("; served on the app's CPU: %lu samples (mean %.1f us)",
		       (unsigned long)rows[r].same_cpu,
		       rows[r].same_cpu ? (double)rows[r].same_cpu_ns / rows[r].same_cpu / 1e3 : 0.0);
		printf("; > 1 ms per round:");
		for (unsigned k = 0; k < ROUNDS; k++)
			printf(" %u", rows[r].slow[k]);
		printf("\n");
	}
	printf("kt_bench: timer overhead (kt_now_ns pair) p50 %.2f us p99 %.2f us\n",
	       us(kt_pct(tnow, 2000, 50)), us(kt_pct(tnow, 2000, 99)));
	printf("kt_bench: dsm.ko: faults %lu wakeups %lu skipped %lu cmds %lu sigbus %lu "
	       "timeouts %lu stale %lu bad %lu\n",
	       (unsigned long)(st1.faults - st0.faults), (unsigned long)(st1.wakeups - st0.wakeups),
	       (unsigned long)(st1.wakeups_skipped - st0.wakeups_skipped),
	       (unsigned long)(st1.cmds - st0.cmds), (unsigned long)(st1.sigbus - st0.sigbus),
	       (unsigned long)(st1.timeouts - st0.timeouts),
	       (unsigned long)(st1.cqe_stale - st0.cqe_stale),
	       (unsigned long)(kt_bad_total(&st1) - kt_bad_total(&st0)));
	KT_CHECK(st1.sigbus == st0.sigbus && st1.timeouts == st0.timeouts &&
		 st1.cqe_stale == st0.cqe_stale && st1.cqe_mismatch == st0.cqe_mismatch &&
		 kt_bad_total(&st1) == kt_bad_total(&st0) && st1.corrupt == st0.corrupt &&
		 st1.cmd_errors == st0.cmd_errors, "module counted errors");
	KT_CHECK(st1.faults - st0.faults == 3 * (samples + (size_t)warm * ROUNDS),
		 "module faults %lu", (unsigned long)(st1.faults - st0.faults));
	KT_CHECK(st1.segments == 0 && st1.mappings == 0, "segments %lu mappings %lu left",
		 (unsigned long)st1.segments, (unsigned long)st1.mappings);
	printf("kt_bench: total %.1f s\n", (double)(kt_now_ns() - t0) / 1e9);
	ratio = (double)sum[R_RING_SLEEP].p50 / (double)sum[R_UFFD_BLOCK].p50;
	printf("kt_bench: sleeping ring/blocking uffd p50 ratio %.2f\n", ratio);
	ratio = (double)sum[R_RING_POLL].p50 / (double)sum[R_UFFD_POLL].p50;
	printf("kt_bench: ring/uffd p50 ratio %.2f\n", ratio);
	return 0;
}
