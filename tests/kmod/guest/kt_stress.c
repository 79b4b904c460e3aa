/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Invalidation and downgrade while other threads keep faulting.
 *
 * One thread plays the dataplane: it serves faults and, between them,
 * invalidates or downgrades random pages.  Application threads increment
 * counters in the pages (atomically) and read them.  The server proves the
 * module kept its promises:
 *  - after an INVALIDATE ack it overwrites the counter with POISON (the
 *    backing is the same memory the applications map): a thread that still
 *    read through an old mapping would see POISON, one that wrote would
 *    change it; when the page is next requested the server checks POISON
 *    is intact and restores the counter;
 *  - whenever a page becomes read-only (read grant, or DOWNGRADE ack) the
 *    server notes its counter; when a write request comes, the counter
 *    must not have moved (no write slipped through a write-protected page).
 * At the end the counters must add up to the increments made: none lost.
 */
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "kt.h"

#define SEG 3
#define NPAGES 16
#define POISON 0xdeadbeefcafe0000ull
#define WRITERS 2
#define READERS 1
#define COMMANDS 1500 /* the applications run until this many were sent */

enum { ST_NONE, ST_RO, ST_RW };

struct page_mirror {
	int st;
	bool poisoned;
	uint64_t saved;     /* the counter while poisoned */
	uint64_t ro_value;  /* the counter when it became read-only */
};

static struct page_mirror mirror[NPAGES];
static volatile uint64_t *app;          /* the applications' mapping */
static volatile int apps_done;
static volatile bool apps_stop;
static uint64_t writes_made[WRITERS];
static uint64_t violations;

static uint64_t *counter(struct kt_server *s, uint64_t pg)
{
	return (uint64_t *)(s->mem + pg * KT_PAGE);
}

/* A page we made read-only has not been written since. */
static void check_still_ro(struct kt_server *s, uint64_t pg)
{
	if (mirror[pg].st == ST_RO)
		KT_CHECK(*counter(s, pg) == mirror[pg].ro_value,
			 "page %lu written while read-only: %lu -> %lu", (unsigned long)pg,
			 (unsigned long)mirror[pg].ro_value, (unsigned long)*counter(s, pg));
}

static uint8_t serve_fault(struct kt_server *s, const struct dsm_fault_req *r)
{
	struct page_mirror *m = &mirror[r->pgno];
	uint64_t *c = counter(s, r->pgno);

	if (m->poisoned) {
		KT_CHECK(*c == POISON, "page %lu touched while invalidated: %#lx",
			 (unsigned long)r->pgno, (unsigned long)*c);
		*c = m->saved;
		m->poisoned = false;
	}
	if (r->flags & DSM_FAULT_WRITE) {
		check_still_ro(s, r->pgno);
		m->st = ST_RW;
		return DSM_RES_MAP_RW;
	}
	if (m->st == ST_NONE) {
		m->st = ST_RO;
		m->ro_value = *c;
	}
	/* A read while we think it writable is a request posted before the
	 * write grant: the kernel keeps RW (grants only raise). */
	return DSM_RES_MAP_RO;
}

static void invalidate(struct kt_server *s, uint64_t pg)
{
	struct page_mirror *m = &mirror[pg];

	KT_CHECK(kt_command(s, DSM_OP_INVALIDATE, pg, 1) == 0, "invalidate ack");
	if (m->poisoned)
		return;
	check_still_ro(s, pg);
	m->saved = *counter(s, pg);
	*counter(s, pg) = POISON;
	m->poisoned = true;
	m->st = ST_NONE;
}

static void downgrade(struct kt_server *s, uint64_t pg)
{
	struct page_mirror *m = &mirror[pg];

	KT_CHECK(kt_command(s, DSM_OP_DOWNGRADE, pg, 1) == 0, "downgrade ack");
	if (m->st == ST_RW) {
		m->st = ST_RO;
		m->ro_value = *counter(s, pg);
	}
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void *writer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t x = 0x9e3779b97f4a7c15ull * (id + 1);

	while (!apps_stop) {
		uint64_t pg = rnd(&x) % NPAGES;

		__atomic_fetch_add(&app[pg * KT_PAGE / 8], 1, __ATOMIC_RELAXED);
		writes_made[id]++;
	}
	__atomic_fetch_add(&apps_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *reader(void *arg)
{
	uint64_t x = 0x1234567ull + (uintptr_t)arg;

	while (!apps_stop) {
		uint64_t v = app[(rnd(&x) % NPAGES) * KT_PAGE / 8];

		if (v >= POISON)
			__atomic_fetch_add(&violations, 1, __ATOMIC_RELAXED);
	}
	__atomic_fetch_add(&apps_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

int main(void)
{
	pthread_t t[WRITERS + READERS];
	struct kt_server s;
	uint64_t x = 42, total = 0, sum = 0, cmds = 0;
	uint64_t deadline = kt_now_ns() + 120000000000ull;

	kt_set_param("fault_timeout_ms", 10000);
	kt_server_open(&s, DSM_RING_F_NEED_WAKEUP, 0, SEG, NPAGES, serve_fault);
	memset(s.mem, 0, NPAGES * KT_PAGE);
	app = kt_map(SEG, 0, NPAGES, PROT_READ | PROT_WRITE, NULL);
	for (unsigned i = 0; i < WRITERS; i++)
		KT_CHECK(pthread_create(&t[i], NULL, writer, (void *)(uintptr_t)i) == 0, "thread");
	for (unsigned i = 0; i < READERS; i++)
		KT_CHECK(pthread_create(&t[WRITERS + i], NULL, reader, (void *)(uintptr_t)i) == 0,
			 "thread");
	/* Serve and disturb until every application thread is done. */
	while (__atomic_load_n(&apps_done, __ATOMIC_ACQUIRE) < WRITERS + READERS) {
		KT_CHECK(kt_now_ns() < deadline, "applications not done after 120 s");
		kt_server_poll(&s);
		if (rnd(&x) % 4 == 0) {
			uint64_t pg = rnd(&x) % NPAGES;

			if (rnd(&x) % 2)
				invalidate(&s, pg);
			else
				downgrade(&s, pg);
			if (++cmds == COMMANDS)
				apps_stop = true;
		} else {
			sched_yield();
		}
	}
	for (unsigned i = 0; i < WRITERS + READERS; i++)
		pthread_join(t[i], NULL);
	for (unsigned i = 0; i < WRITERS; i++)
		total += writes_made[i];
	for (uint64_t pg = 0; pg < NPAGES; pg++) {
		check_still_ro(&s, pg);
		if (mirror[pg].poisoned) {
			KT_CHECK(*counter(&s, pg) == POISON, "page %lu touched while invalidated",
				 (unsigned long)pg);
			*counter(&s, pg) = mirror[pg].saved;
		}
		sum += *counter(&s, pg);
	}
	printf("kt_stress: %lu increments, %lu commands, %lu faults (%lu write, %lu wp)\n",
	       (unsigned long)total, (unsigned long)cmds, (unsigned long)s.faults,
	       (unsigned long)s.writes, (unsigned long)s.wp);
	KT_CHECK(violations == 0, "%lu reads saw POISON", (unsigned long)violations);
	KT_CHECK(sum == total, "counters add up to %lu, %lu increments made",
		 (unsigned long)sum, (unsigned long)total);
	KT_CHECK(cmds >= COMMANDS && s.faults > COMMANDS / 4, "too little happened");
	munmap((void *)app, NPAGES * KT_PAGE);
	kt_server_close(&s);
	return 0;
}
