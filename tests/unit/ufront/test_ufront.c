/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of dataplane/ufront with real userfaultfds and the real
 * engine, in one process: node 1 runs the front end (this process is also
 * its application: a thread faults on a mapping of the view, registered as
 * libdsm does), node 2 is a second engine whose "network" is a queue.  No
 * DPDK.  Needs root (userfaultfd) - the suite is run as root like every
 * test here.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cunit_main.h"
#include "dsm/dsm.h"
#include "ufront/ufront.h"

#define SEG 9
#define NPAGES 32
#define PS 4096u
#define QCAP 512

struct qmsg { struct dsm_msg m; uint8_t data[PS]; };

static struct {
	struct dsm_engine *e1, *e2;
	struct dsm_ufront uf;
	uint8_t backing1[NPAGES][PS], backing2[NPAGES][PS];
	struct qmsg q[3][QCAP];
	unsigned qh[3], qn[3];
	struct dsm_actions acts2;
	uint8_t *app;            /* the application's mapping */
	int uffd;
	bool n2_done;
	int n2_status;
} T;

static uint64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------- the two nodes */

static void enqueue(const struct dsm_msg *m, const void *payload)
{
	struct qmsg *q = &T.q[m->dst][(T.qh[m->dst] + T.qn[m->dst]++) % QCAP];

	q->m = *m;
	if (payload)
		memcpy(q->data, payload, m->len);
	q->m.payload = payload ? q->data : NULL;
}

/* Node 1's executor: what the runtime's shard executor does. */
static void exec1(void *ctx, const struct dsm_actions *acts)
{
	(void)ctx;
	for (uint32_t i = 0; i < acts->n; i++) {
		const struct dsm_action *a = &acts->a[i];

		if (dsm_ufront_handle(&T.uf, a))
			continue;
		if (a->kind == DSM_ACT_SEND)
			enqueue(&a->msg, (a->msg.flags & DSM_F_DATA) ? T.backing1[a->msg.pgno] : NULL);
		else if (a->kind == DSM_ACT_INSTALL)
			memcpy(T.backing1[a->msg.pgno], a->msg.payload, PS);
		else if (a->kind == DSM_ACT_ZERO)
			memset(T.backing1[a->msg.pgno], 0, PS);
	}
}

static void exec2(void)
{
	for (uint32_t i = 0; i < T.acts2.n; i++) {
		const struct dsm_action *a = &T.acts2.a[i];

		if (a->kind == DSM_ACT_SEND)
			enqueue(&a->msg, (a->msg.flags & DSM_F_DATA) ? T.backing2[a->msg.pgno] : NULL);
		else if (a->kind == DSM_ACT_INSTALL)
			memcpy(T.backing2[a->msg.pgno], a->msg.payload, PS);
		else if (a->kind == DSM_ACT_ZERO)
			memset(T.backing2[a->msg.pgno], 0, PS);
		else if (a->kind == DSM_ACT_COMPLETE) {
			T.n2_done = true;
			T.n2_status = a->status;
		}
	}
	dsm_actions_clear(&T.acts2);
}

/* One pass of both nodes: faults, messages, timers. */
static void step(void)
{
	struct dsm_actions *acts = T.uf.acts;

	dsm_ufront_poll(&T.uf, now());
	for (unsigned d = 1; d <= 2; d++) {
		while (T.qn[d]) {
			struct qmsg q = T.q[d][T.qh[d]];

			T.qh[d] = (T.qh[d] + 1) % QCAP;
			T.qn[d]--;
			if (q.m.payload)
				q.m.payload = q.data;
			if (d == 1) {
				dsm_actions_clear(acts);
				dsm_engine_rx(T.e1, now(), &q.m, acts);
				exec1(NULL, acts);
			} else {
				dsm_engine_rx(T.e2, now(), &q.m, &T.acts2);
				exec2();
			}
		}
	}
}

/* Node 2 writes v into page pg (exclusive ownership from the home);
 * returns the value it found there (the data that came with the page). */
static uint64_t node2_write(uint64_t pg, uint64_t v)
{
	uint64_t old;

	T.n2_done = false;
	CU_ASSERT_EQUAL_FATAL(dsm_engine_local(T.e2, now(), SEG, pg, DSM_WRITE, 1, &T.acts2), 0);
	exec2();
	for (int i = 0; i < 100000 && !T.n2_done; i++)
		step();
	CU_ASSERT_FATAL(T.n2_done && T.n2_status == 0);
	memcpy(&old, T.backing2[pg], sizeof(old));
	memcpy(T.backing2[pg], &v, sizeof(v));
	return old;
}

/* ------------------------------------------------ the application side */

struct access {
	uint64_t pg;
	bool write;
	uint64_t value;      /* write: stored; read: loaded */
	volatile bool done;
	volatile bool sigbus;
};

static __thread sigjmp_buf jb;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

static void *app_thread(void *arg)
{
	struct access *a = arg;
	volatile uint64_t *w = (volatile uint64_t *)(T.app + a->pg * PS);

	if (sigsetjmp(jb, 1)) {
		a->sigbus = true;
		a->done = true;
		return NULL;
	}
	if (a->write)
		*w = a->value;
	else
		a->value = *w;
	a->done = true;
	return NULL;
}

/* Run one access in a thread while this thread serves it. */
static void access_page(struct access *a)
{
	pthread_t t;

	a->done = false;
	CU_ASSERT_FATAL(pthread_create(&t, NULL, app_thread, a) == 0);
	for (int i = 0; i < 1000000 && !a->done; i++)
		step();
	pthread_join(t, NULL);
	CU_ASSERT_FATAL(a->done);
}

static uint64_t app_read(uint64_t pg)
{
	struct access a = { .pg = pg };

	access_page(&a);
	CU_ASSERT(!a.sigbus);
	return a.value;
}

static void app_write(uint64_t pg, uint64_t v)
{
	struct access a = { .pg = pg, .write = true, .value = v };

	access_page(&a);
	CU_ASSERT(!a.sigbus);
}

/* ---------------------------------------------------------------- setup */

static struct dsm_engine *engine(uint16_t self)
{
	struct dsm_engine_cfg cfg;

	dsm_engine_cfg_default(&cfg);
	cfg.self = self;
	cfg.req_timeout_ns = 5000000000ull;
	cfg.home_timeout_ns = 2000000000ull;
	return dsm_engine_create(&cfg);
}

static void attach_app(uint16_t prot)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_THREAD_ID |
		UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MINOR_SHMEM |
		UFFD_FEATURE_WP_HUGETLBFS_SHMEM };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING |
		UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_WP };
	int memfd = dsm_ufront_view_fd(&T.uf, SEG);

	(void)prot;
	T.app = mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	CU_ASSERT_FATAL(T.app != MAP_FAILED);
	T.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	CU_ASSERT_FATAL(T.uffd >= 0);
	reg.range.start = (uint64_t)(uintptr_t)T.app;
	reg.range.len = NPAGES * PS;
	CU_ASSERT_FATAL(ioctl(T.uffd, UFFDIO_API, &api) == 0);
	CU_ASSERT_FATAL(ioctl(T.uffd, UFFDIO_REGISTER, &reg) == 0);
	CU_ASSERT_FATAL(dsm_ufront_attach(&T.uf, SEG, dup(T.uffd), getpid(), 1,
					  reg.range.start, reg.range.len,
					  DSM_SEG_READ | DSM_SEG_WRITE) >= 0);
}

static void setup_nodes(uint16_t prot)
{
	const struct dsm_segment_desc d = {
		.seg_id = SEG, .home = 2, .prot = prot, .page_size = PS, .npages = NPAGES };
	const struct dsm_ufront_ops ops = { .exec = exec1 };

	memset(&T, 0, sizeof(T));
	T.e1 = engine(1);
	T.e2 = engine(2);
	CU_ASSERT_FATAL(T.e1 && T.e2);
	CU_ASSERT_FATAL(dsm_engine_add_segment(T.e1, &d) == 0);
	CU_ASSERT_FATAL(dsm_engine_add_segment(T.e2, &d) == 0);
	CU_ASSERT_FATAL(dsm_ufront_init(&T.uf, T.e1, &ops, 256) == 0);
	CU_ASSERT_FATAL(dsm_ufront_add_segment(&T.uf, &d, &T.backing1[0][0]) == 0);
	attach_app(prot);
}

static void teardown_nodes(void)
{
	munmap(T.app, NPAGES * PS);
	close(T.uffd);
	dsm_ufront_fini(&T.uf);
	dsm_engine_destroy(T.e1);
	dsm_engine_destroy(T.e2);
}

/* ---------------------------------------------------------------- tests */

/* Never-written pages read as zero; a write needs the page writable, its
 * value is in the view; node 2's write invalidates node 1 (punch, after
 * writing node 1's data back), and node 1 then reads node 2's value. */
static void test_read_write_invalidate(void)
{
	setup_nodes(DSM_PROT_READ | DSM_PROT_WRITE);
	CU_ASSERT_EQUAL(app_read(3), 0);
	CU_ASSERT(T.uf.st.faults_missing >= 1 && T.uf.st.copies >= 1);
	app_write(3, 42);                 /* read-only -> write-protect fault */
	CU_ASSERT(T.uf.st.faults_wp == 1 && T.uf.st.unprotects == 1);
	CU_ASSERT_EQUAL(app_read(3), 42); /* mapped writable now: no fault */
	/* Node 1's write travels with the page (written back, then sent). */
	CU_ASSERT_EQUAL(node2_write(3, 7), 42);
	CU_ASSERT(T.uf.st.writebacks == 1 && T.uf.st.punches == 1);
	CU_ASSERT_EQUAL(*(uint64_t *)T.backing2[3], 7);
	CU_ASSERT_EQUAL(app_read(3), 7);  /* faults again: node 2's data */
	CU_ASSERT_EQUAL(T.uf.st.sigbus, 0);
	CU_ASSERT_EQUAL(T.uf.st.uffd_errors, 0);
	teardown_nodes();
}

/* A write to a read-only segment is refused by the engine: SIGBUS to the
 * faulting thread, counted; the front end carries on. */
static void test_refused_write_sigbus(void)
{
	struct access a = { .pg = 1, .write = true, .value = 1 };
	struct sigaction sa = { .sa_handler = on_sigbus };

	sigaction(SIGBUS, &sa, NULL);
	setup_nodes(DSM_PROT_READ);
	access_page(&a);
	CU_ASSERT(a.sigbus);
	CU_ASSERT_EQUAL(T.uf.st.sigbus, 1);
	CU_ASSERT_EQUAL(app_read(2), 0);  /* reads still work */
	teardown_nodes();
	signal(SIGBUS, SIG_DFL);
}

/* Reads in order: after a run, the next pages come ahead of the faults
 * and the application's accesses to them are minor faults. */
static void test_sequential_prefetch(void)
{
	setup_nodes(DSM_PROT_READ | DSM_PROT_WRITE);
	for (uint64_t pg = 0; pg < 16; pg++)
		app_read(pg);
	CU_ASSERT(T.uf.st.prefetch_issued > 0);
	CU_ASSERT(T.uf.st.prefetch_hits > 0);
	CU_ASSERT(T.uf.st.faults_minor >= T.uf.st.prefetch_hits);
	teardown_nodes();
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "read_write_invalidate", test_read_write_invalidate },
		{ "refused_write_sigbus", test_refused_write_sigbus },
		{ "sequential_prefetch", test_sequential_prefetch },
	};

	return DSM_CUNIT_MAIN("ufront", tests, NULL);
}
