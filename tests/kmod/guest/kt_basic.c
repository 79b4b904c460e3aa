/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Read and write faults served through the ring; zero-fill; minor faults
 * after a grant; invalidate and downgrade; munmap and exit notes; and the
 * ioctl ABI's refusals (bad handshake, second server, wrong role, missing
 * segment, private or out-of-range mappings).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt.h"

#define SEG 7
#define NPAGES 64
#define ZERO_FIRST 32 /* pages 32..47 are never written: ZERO */
#define ZERO_END 48

static uint8_t policy(struct kt_server *s, const struct dsm_fault_req *r)
{
	(void)s;
	if (r->flags & DSM_FAULT_WRITE)
		return DSM_RES_MAP_RW;
	if (r->pgno >= ZERO_FIRST && r->pgno < ZERO_END)
		return DSM_RES_ZERO;
	return DSM_RES_MAP_RO;
}

static uint64_t word(uint64_t pgno, unsigned i)
{
	return pgno * 1000003u + i;
}

/* Wait (bounded) until the serving thread has seen *counter reach want. */
static void await(volatile uint64_t *counter, uint64_t want, const char *what)
{
	uint64_t deadline = kt_now_ns() + 5000000000ull;

	while (*counter < want) {
		KT_CHECK(kt_now_ns() < deadline, "%s: %lu < %lu after 5 s", what,
			 (unsigned long)*counter, (unsigned long)want);
		sched_yield();
	}
}

static void check_refusals(void)
{
	struct dsm_ring_params p;
	int fd = open(KT_DEV, O_RDWR);
	struct dsm_kenter ke = { 0 };
	void *m;

	KT_CHECK(fd >= 0, "open");
	KT_CHECK(ioctl(fd, DSM_IOC_ENTER, &ke) < 0 && errno == ENOTCONN, "unbound enter: %d", errno);
	dsm_ring_params_init(&p, 0);
	p.api_version = 2;
	KT_CHECK(ioctl(fd, DSM_IOC_SETUP, &p) < 0 && errno == EPROTO, "version: %d", errno);
	dsm_ring_params_init(&p, 1u << 7);
	KT_CHECK(ioctl(fd, DSM_IOC_SETUP, &p) < 0 && errno == EOPNOTSUPP, "features: %d", errno);
	dsm_ring_params_init(&p, 0);
	p.resv1[3] = 1;
	KT_CHECK(ioctl(fd, DSM_IOC_SETUP, &p) < 0 && errno == EINVAL, "reserved: %d", errno);
	dsm_ring_params_init(&p, 0);
	p.entries[2] = DSM_RING_MAX_ENTRIES + 1;
	KT_CHECK(ioctl(fd, DSM_IOC_SETUP, &p) < 0 && errno == EINVAL, "entries: %d", errno);
	dsm_ring_params_init(&p, 0);
	KT_CHECK(ioctl(fd, DSM_IOC_SETUP, &p) < 0 && errno == EBUSY, "second server: %d", errno);
	close(fd);

	KT_CHECK(dsm_kdev_attach(KT_DEV, 999, NULL) == -ENOENT, "missing segment");
	fd = dsm_kdev_attach(KT_DEV, SEG, NULL);
	KT_CHECK(fd >= 0, "attach");
	KT_CHECK(ioctl(fd, DSM_IOC_ENTER, &ke) < 0 && errno == ENOTTY, "client enter: %d", errno);
	m = mmap(NULL, KT_PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
	KT_CHECK(m == MAP_FAILED && errno == EINVAL, "private mapping allowed");
	m = mmap(NULL, 2 * KT_PAGE, PROT_READ, MAP_SHARED, fd, (NPAGES - 1) * KT_PAGE);
	KT_CHECK(m == MAP_FAILED && errno == EINVAL, "mapping past the end allowed");
	close(fd);
}

static void check_seg_refusals(struct kt_server *s)
{
	struct dsm_kseg ks = { .seg_id = SEG, .npages = 1 };

	KT_CHECK(ioctl(s->kd.fd, DSM_IOC_SEG_ADD, &ks) < 0 && errno == EEXIST, "dup seg: %d", errno);
	ks = (struct dsm_kseg){ .seg_id = SEG + 1, .npages = 0 };
	KT_CHECK(ioctl(s->kd.fd, DSM_IOC_SEG_ADD, &ks) < 0 && errno == EINVAL, "0 pages: %d", errno);
	ks = (struct dsm_kseg){ .seg_id = SEG + 1, .npages = 1, .resv[2] = 1 };
	KT_CHECK(ioctl(s->kd.fd, DSM_IOC_SEG_ADD, &ks) < 0 && errno == EINVAL, "reserved: %d", errno);
	ks = (struct dsm_kseg){ .seg_id = DSM_RING_SEG_ALL, .npages = 1 };
	KT_CHECK(ioctl(s->kd.fd, DSM_IOC_SEG_ADD, &ks) < 0 && errno == EINVAL, "seg all: %d", errno);
	KT_CHECK(ioctl(s->kd.fd, DSM_IOC_ATTACH, &(struct dsm_kattach){ .seg_id = SEG }) < 0 &&
		 errno == EBUSY, "server attach: %d", errno);
}

static void child_maps_and_exits(void)
{
	volatile uint64_t *p = kt_map(SEG, 0, 4, PROT_READ, NULL);

	_exit(p[1 * KT_PAGE / 8] == word(1, 0) ? 0 : 3);
}

int main(void)
{
	struct kt_server s;
	volatile uint64_t *p;
	uint64_t f0;
	pid_t child;
	int status;

	kt_set_param("fault_timeout_ms", 3000);
	kt_server_open(&s, DSM_RING_F_NEED_WAKEUP | DSM_RING_F_EVENTFD, 0, SEG, NPAGES, policy);
	for (uint64_t pg = 0; pg < NPAGES; pg++)
		for (unsigned i = 0; i < KT_PAGE / 8; i++)
			((uint64_t *)s.mem)[pg * KT_PAGE / 8 + i] =
				pg >= ZERO_FIRST && pg < ZERO_END ? 0xabababababababab : word(pg, i);
	kt_server_start(&s);
	check_refusals();
	check_seg_refusals(&s);

	p = kt_map(SEG, 0, NPAGES, PROT_READ | PROT_WRITE, NULL);
	/* Read faults: one request per page, the server's data. */
	for (uint64_t pg = 0; pg < ZERO_FIRST; pg++)
		for (unsigned i = 0; i < KT_PAGE / 8; i += 97)
			KT_CHECK(p[pg * KT_PAGE / 8 + i] == word(pg, i), "page %lu word %u",
				 (unsigned long)pg, i);
	KT_CHECK(s.reads == ZERO_FIRST, "%lu read requests", (unsigned long)s.reads);
	/* Mapped now: reading again costs nothing. */
	for (uint64_t pg = 0; pg < ZERO_FIRST; pg++)
		(void)p[pg * KT_PAGE / 8];
	KT_CHECK(s.faults == ZERO_FIRST, "re-read faulted");

	/* Write to a read-only page: a WP request, then the write lands in
	 * the backing the server reads. */
	p[5] = 42;
	KT_CHECK(s.wp == 1 && s.writes == 1, "wp %lu writes %lu", (unsigned long)s.wp,
		 (unsigned long)s.writes);
	KT_CHECK(((uint64_t *)s.mem)[5] == 42, "write not in the backing");

	/* Never-written pages: zeros, although the backing held garbage. */
	for (uint64_t pg = ZERO_FIRST; pg < ZERO_END; pg++)
		for (unsigned i = 0; i < KT_PAGE / 8; i += 31)
			KT_CHECK(p[pg * KT_PAGE / 8 + i] == 0, "zero page %lu", (unsigned long)pg);

	/* Write to an unmapped page: a WRITE request without WP. */
	f0 = s.faults;
	p[50 * KT_PAGE / 8] = 7;
	KT_CHECK(s.faults == f0 + 1 && s.wp == 1, "write fault: faults +%lu wp %lu",
		 (unsigned long)(s.faults - f0), (unsigned long)s.wp);

	/* Invalidate page 0: the next read asks again. */
	KT_CHECK(kt_command(&s, DSM_OP_INVALIDATE, 0, 1) == 0, "invalidate");
	f0 = s.faults;
	KT_CHECK(p[5] == 42, "page 0 after invalidate");
	KT_CHECK(s.faults == f0 + 1, "read after invalidate did not fault");

	/* Downgrade page 50: reads are minor (no request), a write asks. */
	KT_CHECK(kt_command(&s, DSM_OP_DOWNGRADE, 50, 1) == 0, "downgrade");
	f0 = s.faults;
	KT_CHECK(p[50 * KT_PAGE / 8] == 7, "page 50 after downgrade");
	KT_CHECK(s.faults == f0, "read after downgrade needed the ring");
	p[50 * KT_PAGE / 8] = 8;
	KT_CHECK(s.faults == f0 + 1 && s.wp == 2, "write after downgrade");

	/* Commands on missing segments / pages are refused in the ack. */
	KT_CHECK(kt_command(&s, DSM_OP_INVALIDATE, NPAGES - 1, 2) == -ERANGE, "range ack");

	/* munmap of part of the mapping: a note with that range and our pid. */
	KT_CHECK(munmap((void *)(p + 10 * KT_PAGE / 8), 4 * KT_PAGE) == 0, "munmap");
	await(&s.notes_munmap, 1, "munmap note");
	KT_CHECK(s.last_note.seg_id == SEG && s.last_note.pgno == 10 &&
		 s.last_note.npages == 4 && s.last_note.pid == (uint32_t)getpid(),
		 "munmap note %u/%lu+%u pid %u", s.last_note.seg_id,
		 (unsigned long)s.last_note.pgno, s.last_note.npages, s.last_note.pid);

	/* A child maps, reads, exits: an exit note with its pid. */
	child = fork();
	KT_CHECK(child >= 0, "fork");
	if (child == 0)
		child_maps_and_exits();
	KT_CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
		 WEXITSTATUS(status) == 0, "child status %x", status);
	await(&s.notes_exit, 1, "exit note");
	KT_CHECK(s.last_note.opcode == DSM_OP_NOTE_EXIT &&
		 s.last_note.pid == (uint32_t)child, "exit note pid %u, child %d",
		 s.last_note.pid, child);

	KT_CHECK(munmap((void *)p, NPAGES * KT_PAGE) == 0, "munmap");
	kt_server_close(&s);
	{
		struct dsm_kstats st = kt_stats();

		printf("kt_basic: faults %lu minor %lu notes %lu wakeups %lu skipped %lu bad %lu\n",
		       (unsigned long)st.faults, (unsigned long)st.minor,
		       (unsigned long)st.notes, (unsigned long)st.wakeups,
		       (unsigned long)st.wakeups_skipped, (unsigned long)kt_bad_total(&st));
		KT_CHECK(kt_bad_total(&st) == 0, "entries rejected");
		KT_CHECK(st.segments == 0 && st.mappings == 0, "segments %lu mappings %lu left",
			 (unsigned long)st.segments, (unsigned long)st.mappings);
	}
	return 0;
}
