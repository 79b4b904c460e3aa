/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * baseline_uffd.c - the userfaultfd side of the baselines: a region
 * registered MISSING, a handler thread that reads fault events and resolves
 * each with UFFDIO_COPY from one 4 KiB buffer, and the `local uffd' row
 * (page content generated locally into that buffer).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/userfaultfd.h>

#include "faultlat.h"

struct fl_handler {
	unsigned char buf[FL_PAGE];   /* first: page aligned (see alloc) */
	const char *row;
	int uffd;
	int stopfd;                   /* eventfd, poll mode */
	bool spin;
	int cpu;
	atomic_bool stop;             /* spin mode */
	char *base;
	struct fl_trace *tr;
	fl_fetch_fn fetch;
	void *fetch_ctx;
	pthread_t thread;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

char *fl_uffd_region(size_t npages, int *uffd_out)
{
	size_t len = npages * FL_PAGE;
	char *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		fl_fatal_errno(errno, "mmap %zu bytes", len);
	/* 4 KiB faults only: no transparent huge pages in this range. */
	if (madvise(base, len, MADV_NOHUGEPAGE) != 0)
		fl_fatal_errno(errno, "madvise(MADV_NOHUGEPAGE)");

	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		fl_fatal_errno(errno, "userfaultfd() (run as root, or set "
			       "vm.unprivileged_userfaultfd=1)");

	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	if (ioctl(uffd, UFFDIO_API, &api) != 0)
		fl_fatal_errno(errno, "UFFDIO_API");

	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)base, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0)
		fl_fatal_errno(errno, "UFFDIO_REGISTER (MISSING) of %zu bytes",
			       len);
	if (!(reg.ioctls & (1ull << _UFFDIO_COPY)))
		fl_fatal("userfaultfd: UFFDIO_COPY not offered for the range");
	*uffd_out = uffd;
	return base;
}

/* Wait for one event; false when told to stop. */
static bool handler_wait(struct fl_handler *h, struct uffd_msg *msg)
{
	for (;;) {
		ssize_t r = read(h->uffd, msg, sizeof(*msg));

		if (r == (ssize_t)sizeof(*msg))
			return true;
		if (r >= 0)
			fl_fatal("%s: short read of a uffd event (%zd bytes)",
				 h->row, r);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			fl_fatal_errno(errno, "%s: read(userfaultfd)", h->row);

		if (h->spin) {
			if (atomic_load_explicit(&h->stop,
						 memory_order_acquire))
				return false;
			cpu_relax();
			continue;
		}
		struct pollfd pfd[2] = {
			{ .fd = h->uffd, .events = POLLIN },
			{ .fd = h->stopfd, .events = POLLIN },
		};
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fl_fatal_errno(errno, "%s: poll", h->row);
		}
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			fl_fatal("%s: userfaultfd poll error (revents 0x%x)",
				 h->row, pfd[0].revents);
		if (!(pfd[0].revents & POLLIN) && (pfd[1].revents & POLLIN))
			return false;
	}
}

static void *handler_main(void *arg)
{
	struct fl_handler *h = arg;
	struct fl_trace *tr = h->tr;
	char err[256];

	fl_pin_self(h->cpu, "handler");
	for (;;) {
		struct uffd_msg msg;

		if (!handler_wait(h, &msg))
			break;
		uint64_t t_ev = fl_now();
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			fl_fatal("%s: unexpected userfaultfd event 0x%x",
				 h->row, msg.event);
		uint64_t addr = msg.arg.pagefault.address & ~(uint64_t)(FL_PAGE - 1);
		uint64_t start = (uintptr_t)h->base;
		if (addr < start || addr >= start + tr->npages * FL_PAGE)
			fl_fatal("%s: fault at 0x%llx outside the region",
				 h->row, (unsigned long long)addr);
		size_t n = (addr - start) / FL_PAGE;

		tr->t_ev[n] = t_ev;
		tr->cpu_h[n] = (int16_t)sched_getcpu();
		if (tr->nserved[n] < UINT8_MAX)
			tr->nserved[n]++;
		tr->wflag[n] = !!(msg.arg.pagefault.flags &
				  UFFD_PAGEFAULT_FLAG_WRITE);

		if (h->fetch(h->fetch_ctx, n, h->buf, err, sizeof(err)) != 0)
			fl_fatal("%s: page %zu: %s", h->row, n, err);
		tr->t_fetch[n] = fl_now();

		struct uffdio_copy cp = {
			.dst = addr, .src = (uintptr_t)h->buf,
			.len = FL_PAGE, .mode = 0,
		};
		while (ioctl(h->uffd, UFFDIO_COPY, &cp) != 0) {
			/* EAGAIN: the mm changed under us, retry as is. */
			if (errno == EAGAIN && cp.copy <= 0) {
				cp.copy = 0;
				continue;
			}
			fl_fatal_errno(errno, "%s: UFFDIO_COPY page %zu "
				       "(copy=%lld)", h->row, n,
				       (long long)cp.copy);
		}
		if (cp.copy != FL_PAGE)
			fl_fatal("%s: UFFDIO_COPY page %zu copied %lld bytes",
				 h->row, n, (long long)cp.copy);
		tr->t_inst[n] = fl_now();
	}
	return NULL;
}

struct fl_handler *fl_handler_start(const char *row, int uffd, char *base,
				    struct fl_trace *tr, bool spin, int cpu,
				    fl_fetch_fn fetch, void *fetch_ctx)
{
	struct fl_handler *h;

	if (posix_memalign((void **)&h, FL_PAGE, sizeof(*h)) != 0)
		fl_fatal("out of memory");
	memset(h, 0, sizeof(*h));
	h->row = row;
	h->uffd = uffd;
	h->spin = spin;
	h->cpu = cpu;
	h->base = base;
	h->tr = tr;
	h->fetch = fetch;
	h->fetch_ctx = fetch_ctx;
	atomic_init(&h->stop, false);
	h->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->stopfd < 0)
		fl_fatal_errno(errno, "eventfd");
	tr->have_handler = true;

	int e = pthread_create(&h->thread, NULL, handler_main, h);
	if (e != 0)
		fl_fatal_errno(e, "pthread_create (handler)");
	return h;
}

void fl_handler_stop(struct fl_handler *h)
{
	uint64_t one = 1;

	atomic_store_explicit(&h->stop, true, memory_order_release);
	if (write(h->stopfd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		fl_fatal_errno(errno, "write(eventfd)");
	int e = pthread_join(h->thread, NULL);
	if (e != 0)
		fl_fatal_errno(e, "pthread_join (handler)");
	close(h->stopfd);
	free(h);
}

void fl_check_served(const char *row, const struct fl_trace *tr)
{
	for (size_t n = 0; n < tr->npages; n++) {
		bool want_w = n >= tr->per_phase;

		if (tr->nserved[n] != 1)
			fl_fatal("%s: page %zu took %u userfaultfd events "
				 "(expected exactly 1)", row, n,
				 tr->nserved[n]);
		if (tr->wflag[n] != want_w)
			fl_fatal("%s: page %zu: a %s fault was reported as a "
				 "%s fault", row, n, want_w ? "write" : "read",
				 tr->wflag[n] ? "write" : "read");
	}
}

/* ---- row: local uffd ---- */

static int local_fetch(void *ctx, uint64_t page, void *buf, char *err,
		       size_t errlen)
{
	const struct fl_trace *tr = ctx;

	(void)err;
	(void)errlen;
	fl_fill_page(buf, tr->seed, page);
	return 0;
}

void fl_run_local(const char *row, const struct fl_opts *o,
		  struct fl_trace *tr, bool spin)
{
	int uffd;
	char *base = fl_uffd_region(tr->npages, &uffd);
	struct fl_handler *h = fl_handler_start(row, uffd, base, tr, spin,
						o->pin_handler, local_fetch,
						tr);

	fl_fault_loop(row, base, tr, false);
	fl_handler_stop(h);
	fl_check_served(row, tr);
	close(uffd);
	if (munmap(base, tr->npages * FL_PAGE) != 0)
		fl_fatal_errno(errno, "munmap");
}
