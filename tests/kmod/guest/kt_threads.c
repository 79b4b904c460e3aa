/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Many threads faulting on one page: one request goes to the server, the
 * other faults join it (the module counts them as coalesced), and every
 * thread sees the server's data.  Then the same for a write, and a mix of
 * readers and writers (a write cannot follow a read request, so at most
 * two requests).
 */
#include <string.h>
#include <sys/mman.h>

#include "kt.h"

#define SEG 21
#define NPAGES 4
#define THREADS 16

static volatile uint64_t *app;
static pthread_barrier_t start;
static volatile uint64_t seen_bad;

/* Answer only once every thread is waiting on the request (so the test
 * does not depend on timing), or after 5 s (then the checks fail). */
static uint64_t coalesced_base;
static unsigned want_joined;

static uint8_t answer_when_all_joined(struct kt_server *s, const struct dsm_fault_req *r)
{
	uint64_t deadline = kt_now_ns() + 5000000000ull;

	while (kt_stats().coalesced - coalesced_base < want_joined &&
	       kt_now_ns() < deadline)
		dsm_kdev_enter(&s->kd, DSM_ENTER_WAIT, 5, NULL);
	((uint64_t *)(s->mem + r->pgno * KT_PAGE))[1] = 0x5eed0000 + r->pgno;
	return r->flags & DSM_FAULT_WRITE ? DSM_RES_MAP_RW : DSM_RES_MAP_RO;
}

struct job { uint64_t pgno; bool write; };

static void *toucher(void *arg)
{
	const struct job *j = arg;

	pthread_barrier_wait(&start);
	if (j->write)
		__atomic_fetch_add(&app[j->pgno * KT_PAGE / 8], 1, __ATOMIC_RELAXED);
	else if (app[j->pgno * KT_PAGE / 8 + 1] != 0x5eed0000 + j->pgno)
		__atomic_fetch_add(&seen_bad, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* THREADS threads touch page pgno at once (writes for the first nwrite
 * of them); returns the requests the server got. */
static uint64_t round_of(struct kt_server *s, uint64_t pgno, unsigned nwrite,
			 unsigned joined)
{
	pthread_t t[THREADS];
	struct job jobs[THREADS];
	uint64_t f0 = s->faults;

	coalesced_base = kt_stats().coalesced;
	want_joined = joined;
	pthread_barrier_init(&start, NULL, THREADS);
	for (unsigned i = 0; i < THREADS; i++) {
		jobs[i] = (struct job){ pgno, i < nwrite };
		KT_CHECK(pthread_create(&t[i], NULL, toucher, &jobs[i]) == 0, "thread");
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	return s->faults - f0;
}

int main(void)
{
	struct kt_server s;
	uint64_t n;

	kt_set_param("fault_timeout_ms", 10000);
	kt_server_open(&s, DSM_RING_F_NEED_WAKEUP, 0, SEG, NPAGES, answer_when_all_joined);
	memset(s.mem, 0, NPAGES * KT_PAGE);
	kt_server_start(&s);
	app = kt_map(SEG, 0, NPAGES, PROT_READ | PROT_WRITE, NULL);

	n = round_of(&s, 0, 0, THREADS - 1);
	KT_CHECK(n == 1, "%lu read requests for one page", (unsigned long)n);
	n = round_of(&s, 1, THREADS, THREADS - 1);
	KT_CHECK(n == 1, "%lu write requests for one page", (unsigned long)n);
	KT_CHECK(((uint64_t *)(s.mem + KT_PAGE))[0] == THREADS, "writes lost: %lu",
		 (unsigned long)((uint64_t *)(s.mem + KT_PAGE))[0]);
	/* Mixed: readers join a read or a write request, writers only a
	 * write one: one or two requests, never one per thread. */
	n = round_of(&s, 2, THREADS / 2, 0);
	KT_CHECK(n >= 1 && n <= 2, "%lu requests, mixed round", (unsigned long)n);
	KT_CHECK(seen_bad == 0, "%lu threads read wrong data", (unsigned long)seen_bad);
	printf("kt_threads: %u threads per page: reads 1 request, writes 1 request, mixed %lu; "
	       "%lu faults coalesced\n", THREADS, (unsigned long)n,
	       (unsigned long)kt_stats().coalesced);
	munmap((void *)app, NPAGES * KT_PAGE);
	kt_server_close(&s);
	return 0;
}
