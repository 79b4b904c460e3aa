/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One engine, kernel front end: faults of applications on node 1 go through
 * dsm.ko and dataplane/kfront into the coherence engine, exactly as in the
 * dataplane; node 2 is a second engine in this process (its "network" is a
 * queue) whose own workload writes and reads the same pages.  Node 2's
 * writes make node 1's engine (the home) invalidate and downgrade node 1's
 * mappings through the CMD ring; node 1's writes recall node 2's copies.
 * At the end every increment from both nodes must be in the pages.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "kfront/kfront.h"
#include "kt.h"

#define SEG 5
#define NPAGES 8
#define APP_THREADS 2
#define NODE2_OPS 3000
#define QCAP 4096

struct qmsg { struct dsm_msg m; uint8_t data[KT_PAGE]; };
static struct qmsg queue[3][QCAP];      /* per destination node 1, 2 */
static unsigned qhead[3], qcount[3];

static struct dsm_engine *eng[3];
static struct dsm_kfront kf;
static uint8_t node2_mem[NPAGES][KT_PAGE];
static struct dsm_actions acts2;

static volatile uint64_t *app;
static volatile bool apps_stop;
static volatile uint64_t app_incs[APP_THREADS];

/* node 2's workload: one request at a time */
static bool n2_busy;
static uint64_t n2_incs, n2_reads, n2_ops, n2_last[NPAGES];
static uint64_t final_sum;
static bool collecting;

static void enqueue(const struct dsm_msg *m, const void *payload)
{
	struct qmsg *q;

	KT_CHECK(m->dst == 1 || m->dst == 2, "dst %u", m->dst);
	KT_CHECK(qcount[m->dst] < QCAP, "queue to %u full", m->dst);
	q = &queue[m->dst][(qhead[m->dst] + qcount[m->dst]++) % QCAP];
	q->m = *m;
	if (payload)
		memcpy(q->data, payload, m->len);
	q->m.payload = payload ? q->data : NULL;
}

static void send1(void *ctx, const struct dsm_msg *m, const void *payload)
{
	(void)ctx;
	enqueue(m, payload);
}

static void node2_complete(const struct dsm_action *a)
{
	uint64_t pg = a->user_data >> 1, *c = (uint64_t *)node2_mem[pg];

	KT_CHECK(a->status == 0, "node 2 request failed: %d", a->status);
	n2_busy = false;
	if (collecting) {
		final_sum += *c;
		return;
	}
	if (a->user_data & 1) {
		KT_CHECK(a->state == DSM_CS_EXCLUSIVE, "write without ownership");
		(*c)++;
		n2_incs++;
	} else {
		/* Never older than what node 2 saw last. */
		KT_CHECK(*c >= n2_last[pg], "page %lu went back: %lu < %lu", (unsigned long)pg,
			 (unsigned long)*c, (unsigned long)n2_last[pg]);
		n2_reads++;
	}
	n2_last[pg] = *c;
}

static void node2_exec(void)
{
	for (uint32_t i = 0; i < acts2.n; i++) {
		const struct dsm_action *a = &acts2.a[i];

		switch (a->kind) {
		case DSM_ACT_SEND:
			enqueue(&a->msg, (a->msg.flags & DSM_F_DATA) ? node2_mem[a->msg.pgno] : NULL);
			break;
		case DSM_ACT_INSTALL:
			memcpy(node2_mem[a->msg.pgno], a->msg.payload, KT_PAGE);
			break;
		case DSM_ACT_ZERO:
			memset(node2_mem[a->msg.pgno], 0, KT_PAGE);
			break;
		case DSM_ACT_COMPLETE:
			node2_complete(a);
			break;
		default: /* node 2 has no mappings to change */
			break;
		}
	}
}

static void node2_request(uint64_t now, uint64_t pg, bool write)
{
	int ret;

	dsm_actions_clear(&acts2);
	n2_busy = true;
	ret = dsm_engine_local(eng[2], now, SEG, pg, write ? DSM_WRITE : DSM_READ,
			       pg << 1 | write, &acts2);
	KT_CHECK(ret == 0, "node 2 local: %d", ret);
	node2_exec();
}

static unsigned deliver(uint64_t now)
{
	unsigned n = 0;

	for (unsigned d = 1; d <= 2; d++) {
		while (qcount[d]) {
			struct qmsg q = queue[d][qhead[d]];

			if (q.m.payload)
				q.m.payload = q.data;
			qhead[d] = (qhead[d] + 1) % QCAP;
			qcount[d]--;
			n++;
			if (d == 1) {
				dsm_actions_clear(kf.acts);
				dsm_engine_rx(eng[1], now, &q.m, kf.acts);
				dsm_kfront_exec(&kf, kf.acts);
			} else {
				dsm_actions_clear(&acts2);
				dsm_engine_rx(eng[2], now, &q.m, &acts2);
				node2_exec();
			}
		}
	}
	return n;
}

static void tick(uint64_t now)
{
	dsm_actions_clear(kf.acts);
	dsm_engine_tick(eng[1], now, kf.acts);
	dsm_kfront_exec(&kf, kf.acts);
	dsm_actions_clear(&acts2);
	dsm_engine_tick(eng[2], now, &acts2);
	node2_exec();
}

static void *app_thread(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t x = 88172645463325252ull + id;

	while (!apps_stop) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		__atomic_fetch_add(&app[(x % NPAGES) * KT_PAGE / 8], 1, __ATOMIC_RELAXED);
		app_incs[id]++;
	}
	return NULL;
}

static struct dsm_engine *make_engine(uint16_t self)
{
	struct dsm_engine_cfg cfg;
	struct dsm_engine *e;

	dsm_engine_cfg_default(&cfg);
	cfg.self = self;
	/* The guest is emulated (TCG): generous deadlines. */
	cfg.req_timeout_ns = 10000000000ull;
	cfg.home_timeout_ns = 5000000000ull;
	cfg.max_retries = 100000;
	cfg.retry_max_ns = 1000000;
	e = dsm_engine_create(&cfg);
	KT_CHECK(e != NULL, "engine");
	return e;
}

int main(void)
{
	const struct dsm_segment_desc desc = {
		.seg_id = SEG, .home = 1, .prot = DSM_PROT_READ | DSM_PROT_WRITE,
		.page_size = KT_PAGE, .npages = NPAGES,
	};
	const struct dsm_kfront_ops ops = { .send = send1 };
	enum dsm_ring_err why;
	struct dsm_kdev kd;
	pthread_t t[APP_THREADS];
	uint64_t x = 7, deadline = kt_now_ns() + 150000000000ull, app_total = 0;
	int ret;

	kt_set_param("fault_timeout_ms", 20000);
	ret = dsm_kdev_open(&kd, KT_DEV, DSM_RING_F_NEED_WAKEUP, 0, &why);
	KT_CHECK(ret == 0, "kdev: %d", ret);
	eng[1] = make_engine(1);
	eng[2] = make_engine(2);
	KT_CHECK(dsm_kfront_init(&kf, &kd, eng[1], &ops, 512) == 0, "kfront");
	uint8_t *backing;

	KT_CHECK(dsm_kfront_add_segment(&kf, SEG, NPAGES, &backing) == 0, "kfront segment");
	KT_CHECK(dsm_engine_add_segment(eng[1], &desc) == 0, "node 1 segment");
	KT_CHECK(dsm_engine_add_segment(eng[2], &desc) == 0, "node 2 segment");

	app = kt_map(SEG, 0, NPAGES, PROT_READ | PROT_WRITE, NULL);
	for (unsigned i = 0; i < APP_THREADS; i++)
		KT_CHECK(pthread_create(&t[i], NULL, app_thread, (void *)(uintptr_t)i) == 0, "thread");

	/* The dataplane loop: kernel faults, network, timers, node 2's work. */
	/* Until node 2 made its requests and node 1's applications kept
	 * pace (both sides must contend for the pages). */
	while (n2_ops < NODE2_OPS || n2_busy || kf.st.faults < NODE2_OPS / 10) {
		uint64_t now = kt_now_ns();

		KT_CHECK(now < deadline, "not done after 150 s (node 2 at %lu ops)",
			 (unsigned long)n2_ops);
		dsm_kfront_poll(&kf, now);
		deliver(now);
		tick(now);
		if (!n2_busy) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			node2_request(now, x % NPAGES, x % 3 != 0);
			n2_ops++;
		}
	}
	apps_stop = true;
	/* Keep serving until the application threads are out. */
	for (unsigned i = 0; i < APP_THREADS; i++) {
		while (pthread_tryjoin_np(t[i], NULL) == EBUSY) {
			KT_CHECK(kt_now_ns() < deadline, "apps stuck");
			dsm_kfront_poll(&kf, kt_now_ns());
			deliver(kt_now_ns());
			tick(kt_now_ns());
		}
		app_total += app_incs[i];
	}
	/* Read every page's latest value from node 2 (a coherent read
	 * recalls it from whoever owns it). */
	collecting = true;
	for (uint64_t pg = 0; pg < NPAGES; pg++) {
		node2_request(kt_now_ns(), pg, false);
		while (n2_busy) {
			KT_CHECK(kt_now_ns() < deadline, "final read stuck");
			dsm_kfront_poll(&kf, kt_now_ns());
			deliver(kt_now_ns());
			tick(kt_now_ns());
		}
	}
	printf("kt_engine: node 1 apps %lu increments (%lu kernel faults, %lu commands), "
	       "node 2 %lu increments %lu reads; pages hold %lu\n",
	       (unsigned long)app_total, (unsigned long)kf.st.faults,
	       (unsigned long)kf.st.commands, (unsigned long)n2_incs,
	       (unsigned long)n2_reads, (unsigned long)final_sum);
	KT_CHECK(final_sum == app_total + n2_incs, "lost or extra increments: %lu != %lu + %lu",
		 (unsigned long)final_sum, (unsigned long)app_total, (unsigned long)n2_incs);
	KT_CHECK(kf.st.commands > 0 && kf.st.command_errors == 0 && kf.st.sigbus == 0,
		 "commands %lu errors %lu sigbus %lu", (unsigned long)kf.st.commands,
		 (unsigned long)kf.st.command_errors, (unsigned long)kf.st.sigbus);
	munmap((void *)app, NPAGES * KT_PAGE);
	dsm_kfront_fini(&kf);
	dsm_kdev_close(&kd);
	dsm_engine_destroy(eng[1]);
	dsm_engine_destroy(eng[2]);
	return 0;
}
