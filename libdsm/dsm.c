/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libdsm: the application side of the userfaultfd front end.  It speaks the
 * control protocol (include/dsm/ctl.h) to the local dsm-dataplane, maps a
 * segment's shared file, registers the mapping with a userfaultfd and hands
 * the descriptor over; from then on the dataplane resolves every fault, and
 * the application needs no thread of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "dsm/ctl.h"
#include "dsm/dsm.h"

#define DSM_MAX_ATTACH 64
/* A reply never takes this long unless the dataplane is stuck. */
#define DSM_RPC_TIMEOUT_S 10

/* Pages the prefetch thread touches between two sched_yield()s. */
#define DSM_PREFETCH_BATCH 64

struct dsm_run {
	uint64_t first, count;
};

/* Prefetch threads per attachment: a thread has one fault outstanding at
 * a time, so a network round trip each; several keep several in flight. */
#define DSM_PREFETCH_THREADS_DEFAULT 4
#define DSM_PREFETCH_THREADS_MAX 16

struct dsm_prefetch;

struct dsm_prefetch_thread {
	pthread_t thread;
	struct dsm_prefetch *pf;
	unsigned index;
};

/* The background prefetch of one attachment (see dsm.h, DSM_HOTLIST). */
struct dsm_prefetch {
	struct dsm_prefetch_thread t[DSM_PREFETCH_THREADS_MAX];
	unsigned nthreads;        /* fixed before the first thread starts */
	unsigned started;
	uint8_t *base;
	size_t page_size, npages;
	bool write;
	int stop;                 /* atomic: set by detach */
	struct dsm_run *runs;
	size_t nruns;
};

struct dsm_att {
	void    *addr;
	size_t   len;
	uint32_t seg_id;
	int      uffd;     /* kept open: the registration lives with it */
	struct dsm_prefetch *pf;  /* NULL: none running */
};

struct dsm_ctx {
	int fd;
	uint16_t node;
	uint64_t seq;
	struct dsm_att att[DSM_MAX_ATTACH];
	/* Segments whose prefetch has been started: once per segment. */
	uint32_t prefetched[DSM_MAX_ATTACH];
	unsigned nprefetched;
};

/* ------------------------------------------------------------------ rpc */

static int recv_msg(int fd, struct dsm_ctl_msg *m, int *rfd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	if (n != (ssize_t)sizeof(*m))
		return n == 0 ? -ECONNRESET : -EPROTO;
	cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
		if (rfd)
			memcpy(rfd, CMSG_DATA(cm), sizeof(int));
		else
			close(*(int *)CMSG_DATA(cm));
	}
	return 0;
}

/* One request, one reply: the reply's status, or a transport error. */
static int rpc(struct dsm_ctx *ctx, struct dsm_ctl_msg *m, int pass_fd, int *rfd)
{
	uint16_t op = m->op;
	uint64_t seq = ++ctx->seq;
	int ret;

	if (rfd)
		*rfd = -1;
	m->magic = DSM_CTL_MAGIC;
	m->version = DSM_CTL_VERSION;
	m->seq = seq;
	ret = dsm_ctl_send(ctx->fd, m, pass_fd);
	/* Replies to earlier requests that timed out may still be queued:
	 * skip them (and any descriptor they carry). */
	do {
		if (rfd && *rfd >= 0) {
			close(*rfd);
			*rfd = -1;
		}
		if (ret == 0)
			ret = recv_msg(ctx->fd, m, rfd);
	} while (ret == 0 && m->magic == DSM_CTL_MAGIC && m->seq < seq);
	if (ret)
		return ret;
	if (m->magic != DSM_CTL_MAGIC || m->op != op || m->seq != seq) {
		if (rfd && *rfd >= 0)
			close(*rfd);
		return -EPROTO;
	}
	return m->status;
}

static void set_name(struct dsm_ctl_msg *m, const char *name)
{
	strncpy(m->seg.name, name, DSM_CTL_NAME - 1);
}

static int check_name(const char *name)
{
	size_t len = name ? strnlen(name, DSM_NAME_MAX + 1) : 0;

	return len == 0 || len > DSM_NAME_MAX ? -EINVAL : 0;
}

/* --------------------------------------------------------- safe points */

/* Process-wide: the supervisor signals the process, not a context.  An
 * int with lock-free __atomic builtins, so the handler is
 * async-signal-safe and other threads see the store. */
static int g_stop_requested;
static int g_stop_installed;

static void on_stop_request(int sig)
{
	(void)sig;
	__atomic_store_n(&g_stop_requested, 1, __ATOMIC_RELAXED);
}

/* The death signal fires when the supervisor's thread ends; if it ended
 * before we got here, we were reparented and getppid() tells. */
static void die_with_supervisor(void)
{
	const char *parent = getenv("DSM_PARENT_PID");

	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		return;
	if (parent && *parent && atol(parent) != (long)getppid())
		raise(SIGKILL);
}

int dsm_safepoint_init(void)
{
	struct sigaction sa = { .sa_handler = on_stop_request, .sa_flags = SA_RESTART };

	if (!getenv("DSM_WORKLOAD"))
		return 0;
	if (__atomic_load_n(&g_stop_installed, __ATOMIC_ACQUIRE))
		return 1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		return -errno;
	die_with_supervisor();
	__atomic_store_n(&g_stop_installed, 1, __ATOMIC_RELEASE);
	return 1;
}

int dsm_safepoint(const struct dsm_ctx *ctx)
{
	(void)ctx;
	return __atomic_load_n(&g_stop_requested, __ATOMIC_RELAXED);
}

void dsm_safepoint_exit(struct dsm_ctx *ctx)
{
	fflush(NULL);
	dsm_close(ctx);
	_exit(0);
}

int dsm_resumed(const struct dsm_ctx *ctx)
{
	const char *v = getenv("DSM_RESUME");

	(void)ctx;
	return v && strcmp(v, "1") == 0;
}

/* -------------------------------------------------------------- context */

int dsm_open(const char *socket_path, struct dsm_ctx **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = DSM_RPC_TIMEOUT_S };
	struct dsm_ctl_msg m = { .op = DSM_CTL_HELLO };
	struct dsm_ctx *ctx;
	int ret;

	if (!socket_path)
		socket_path = getenv("DSM_SOCKET");
	if (!socket_path)
		socket_path = DSM_DEFAULT_SOCKET;
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	ret = dsm_safepoint_init();
	if (ret < 0)
		return ret;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	strcpy(sa.sun_path, socket_path);
	ctx->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (ctx->fd < 0 || connect(ctx->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    setsockopt(ctx->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		ret = -errno;
	else
		ret = rpc(ctx, &m, -1, NULL);
	if (ret) {
		if (ctx->fd >= 0)
			close(ctx->fd);
		free(ctx);
		return ret;
	}
	ctx->node = m.node;
	*out = ctx;
	return 0;
}

void dsm_close(struct dsm_ctx *ctx)
{
	if (!ctx)
		return;
	for (int i = 0; i < DSM_MAX_ATTACH; i++)
		if (ctx->att[i].addr)
			dsm_detach(ctx, ctx->att[i].addr);
	close(ctx->fd);
	free(ctx);
}

uint16_t dsm_node_id(const struct dsm_ctx *ctx)
{
	return ctx->node;
}

/* ------------------------------------------------------------- segments */

static void info_from(const struct dsm_ctl_msg *m, struct dsm_segment_info *info)
{
	memset(info, 0, sizeof(*info));
	info->seg_id = m->seg.seg_id;
	info->home = m->seg.home;
	info->prot = m->seg.prot;
	info->page_size = m->seg.page_size;
	info->flags = m->seg.flags;
	info->size = m->seg.size;
	memcpy(info->name, m->seg.name, DSM_NAME_MAX);
}

int dsm_segment_create(struct dsm_ctx *ctx, const char *name, uint64_t size,
		       unsigned prot, unsigned flags, uint32_t *seg_id)
{
	struct dsm_ctl_msg m = { .op = DSM_CTL_CREATE };
	int ret = check_name(name);

	if (ret)
		return ret;
	set_name(&m, name);
	m.seg.size = size;
	m.seg.prot = (uint16_t)prot;
	m.seg.flags = flags;
	ret = rpc(ctx, &m, -1, NULL);
	if (ret == 0 && seg_id)
		*seg_id = m.seg.seg_id;
	return ret;
}

int dsm_segment_destroy(struct dsm_ctx *ctx, const char *name)
{
	struct dsm_ctl_msg m = { .op = DSM_CTL_DESTROY };
	int ret = check_name(name);

	if (ret)
		return ret;
	set_name(&m, name);
	return rpc(ctx, &m, -1, NULL);
}

int dsm_segment_info(struct dsm_ctx *ctx, const char *name, struct dsm_segment_info *info)
{
	struct dsm_ctl_msg m = { .op = DSM_CTL_INFO };
	int ret = check_name(name);

	if (ret)
		return ret;
	set_name(&m, name);
	ret = rpc(ctx, &m, -1, NULL);
	if (ret == 0) {
		memcpy(m.seg.name, name, strlen(name) + 1);
		info_from(&m, info);
	}
	return ret;
}

/* -------------------------------------------------------------- mapping */

/* A userfaultfd on [addr, addr + len): missing and minor faults, and
 * write-protect faults for a writable mapping. */
static int make_uffd(void *addr, size_t len)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_MISSING_SHMEM |
			    UFFD_FEATURE_MISSING_HUGETLBFS | UFFD_FEATURE_MINOR_SHMEM |
			    UFFD_FEATURE_MINOR_HUGETLBFS | UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
	};
	struct uffdio_register reg = {
		.range = { .start = (uint64_t)(uintptr_t)addr, .len = len },
		/* WP for readers too: their pages are installed write-
		 * protected, so a write after mprotect() faults and is refused
		 * (the file itself is writable, see the dataplane's ATTACH). */
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR |
			UFFDIO_REGISTER_MODE_WP,
	};
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int ret;

	if (fd < 0)
		return errno == ENOSYS ? -ENOSYS : -errno;
	if (ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg)) {
		ret = errno == EINVAL ? -ENOSYS : -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static struct dsm_att *free_slot(struct dsm_ctx *ctx)
{
	for (int i = 0; i < DSM_MAX_ATTACH; i++)
		if (!ctx->att[i].addr)
			return &ctx->att[i];
	return NULL;
}

static int register_mapping(struct dsm_ctx *ctx, const struct dsm_ctl_msg *seg,
			    void *addr, unsigned prot, int uffd)
{
	struct dsm_ctl_msg m = { .op = DSM_CTL_REGISTER };

	m.seg = seg->seg;
	m.addr = (uint64_t)(uintptr_t)addr;
	m.len = seg->seg.size;
	m.prot = prot;
	return rpc(ctx, &m, uffd, NULL);
}

/* ------------------------------------------------------------- prefetch */

/* Append one run, growing the array geometrically. */
static int add_run(struct dsm_prefetch *pf, size_t *cap, uint64_t first, uint64_t count)
{
	struct dsm_run *r;

	if (first >= pf->npages || count == 0)
		return 0;
	if (count > pf->npages - first)
		count = pf->npages - first;   /* clipped to the segment */
	if (pf->nruns == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		r = realloc(pf->runs, *cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		pf->runs = r;
	}
	pf->runs[pf->nruns++] = (struct dsm_run){ first, count };
	return 0;
}

/* The runs of seg_id in the hot-list file, in file order. */
static int read_hotlist(const char *path, uint32_t seg_id, struct dsm_prefetch *pf)
{
	FILE *f = fopen(path, "re");
	char line[128];
	size_t cap = 0;
	int ret = 0;

	if (!f)
		return -errno;
	while (ret == 0 && fgets(line, sizeof(line), f)) {
		unsigned long long seg, first, count;
		char extra;

		if (line[0] == '#' ||
		    sscanf(line, "%llu %llu %llu %c", &seg, &first, &count, &extra) != 3)
			continue;   /* a comment, blank or malformed line */
		if (seg == seg_id)
			ret = add_run(pf, &cap, first, count);
	}
	fclose(f);
	return ret;
}

/* An atomic add of 0 is a write access that cannot lose a concurrent store
 * of the workload; volatile keeps the compiler from dropping it. */
static void touch(volatile uint8_t *p, bool write)
{
	if (write)
		__atomic_fetch_add(p, 0, __ATOMIC_RELAXED);
	else
		(void)*p;
}

/* Thread i of n touches the batches of DSM_PREFETCH_BATCH pages whose
 * number is i mod n: the list's order is kept, n batches at a time. */
static void *prefetch_main(void *arg)
{
	struct dsm_prefetch_thread *t = arg;
	struct dsm_prefetch *pf = t->pf;
	uint64_t k = 0;

	for (size_t r = 0; r < pf->nruns; r++) {
		for (uint64_t i = 0; i < pf->runs[r].count; i++, k++) {
			if ((k / DSM_PREFETCH_BATCH) % pf->nthreads != t->index)
				continue;
			if (__atomic_load_n(&pf->stop, __ATOMIC_RELAXED))
				return NULL;
			touch(pf->base + (pf->runs[r].first + i) * pf->page_size, pf->write);
			if (k % DSM_PREFETCH_BATCH == DSM_PREFETCH_BATCH - 1)
				sched_yield();   /* the workload's own faults come first */
		}
	}
	return NULL;
}

static void prefetch_free(struct dsm_prefetch *pf)
{
	free(pf->runs);
	free(pf);
}

static void prefetch_join(struct dsm_prefetch *pf)
{
	__atomic_store_n(&pf->stop, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < pf->started; i++)
		pthread_join(pf->t[i].thread, NULL);
	pf->started = 0;
}

static unsigned prefetch_threads(void)
{
	const char *v = getenv("DSM_HOTLIST_THREADS");
	long n = v ? atol(v) : DSM_PREFETCH_THREADS_DEFAULT;

	return n < 1 ? 1 : n > DSM_PREFETCH_THREADS_MAX ? DSM_PREFETCH_THREADS_MAX : (unsigned)n;
}

/* Start the threads with every catchable signal blocked: signals meant for
 * the workload (SIGUSR1, timers, ...) must not land on them.  SIGBUS and
 * SIGSEGV stay open: they are synchronous to their own faults. */
static int prefetch_spawn(struct dsm_prefetch *pf)
{
	sigset_t all, old;
	int ret = 0;

	pf->nthreads = prefetch_threads();
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGSEGV);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; ret == 0 && i < pf->nthreads; i++) {
		pf->t[i] = (struct dsm_prefetch_thread){ .pf = pf, .index = i };
		ret = -pthread_create(&pf->t[i].thread, NULL, prefetch_main, &pf->t[i]);
		if (ret == 0)
			pf->started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)   /* a partial start would leave stripes of the list out */
		prefetch_join(pf);
	return ret;
}

static bool prefetch_done_before(struct dsm_ctx *ctx, uint32_t seg_id)
{
	for (unsigned i = 0; i < ctx->nprefetched; i++)
		if (ctx->prefetched[i] == seg_id)
			return true;
	return false;
}

/* Start the prefetch of a new attachment if the hot list names its
 * segment.  Best effort: any failure leaves the workload to fault the
 * pages itself, which is correct, only slower. */
static void prefetch_start(struct dsm_ctx *ctx, struct dsm_att *a,
			   uint32_t page_size, unsigned prot)
{
	const char *path = getenv(DSM_HOTLIST_ENV), *mode = getenv("DSM_HOTLIST_MODE");
	struct dsm_prefetch *pf;

	if (!path || !*path || !page_size || (mode && strcmp(mode, "off") == 0) ||
	    prefetch_done_before(ctx, a->seg_id) || ctx->nprefetched == DSM_MAX_ATTACH)
		return;
	ctx->prefetched[ctx->nprefetched++] = a->seg_id;
	pf = calloc(1, sizeof(*pf));
	if (!pf)
		return;
	pf->base = a->addr;
	pf->page_size = page_size;
	pf->npages = a->len / page_size;
	pf->write = (prot & DSM_SEG_WRITE) && !(mode && strcmp(mode, "read") == 0);
	if (read_hotlist(path, a->seg_id, pf) || pf->nruns == 0 || prefetch_spawn(pf)) {
		prefetch_free(pf);
		return;
	}
	a->pf = pf;
}

/* Before the mapping goes: the thread must not fault on an unmapped range. */
static void prefetch_stop(struct dsm_att *a)
{
	if (!a->pf)
		return;
	prefetch_join(a->pf);
	prefetch_free(a->pf);
	a->pf = NULL;
}

int dsm_attach(struct dsm_ctx *ctx, const char *name, unsigned prot,
	       void **addr, size_t *len)
{
	struct dsm_ctl_msg m = { .op = DSM_CTL_ATTACH, .prot = prot };
	struct dsm_att *a = free_slot(ctx);
	int ret = check_name(name), memfd, uffd;
	void *p;

	if (ret)
		return ret;
	if (!a)
		return -ENOSPC;
	if (!(prot & DSM_SEG_READ) || (prot & ~(DSM_SEG_READ | DSM_SEG_WRITE)))
		return -EINVAL;
	set_name(&m, name);
	ret = rpc(ctx, &m, -1, &memfd);
	if (ret)
		return ret;
	if (memfd < 0)
		return -EPROTO;
	p = mmap(NULL, m.seg.size, PROT_READ | ((prot & DSM_SEG_WRITE) ? PROT_WRITE : 0),
		 MAP_SHARED, memfd, 0);
	ret = p == MAP_FAILED ? -errno : 0;
	close(memfd);
	/* A child of fork() would inherit the mapping without the
	 * userfaultfd registration: untracked access to the view.  It gets
	 * no mapping instead (it may attach on its own). */
	if (ret == 0 && madvise(p, m.seg.size, MADV_DONTFORK)) {
		ret = -errno;
		munmap(p, m.seg.size);
	}
	if (ret)
		return ret;
	uffd = make_uffd(p, m.seg.size);
	ret = uffd < 0 ? uffd : register_mapping(ctx, &m, p, prot, uffd);
	if (ret) {
		if (uffd >= 0)
			close(uffd);
		munmap(p, m.seg.size);
		return ret;
	}
	*a = (struct dsm_att){ .addr = p, .len = m.seg.size, .seg_id = m.seg.seg_id,
			       .uffd = uffd };
	prefetch_start(ctx, a, m.seg.page_size, prot);
	*addr = p;
	*len = m.seg.size;
	return 0;
}

int dsm_detach(struct dsm_ctx *ctx, void *addr)
{
	struct dsm_ctl_msg m = { .op = DSM_CTL_DETACH };

	for (int i = 0; addr && i < DSM_MAX_ATTACH; i++) {
		struct dsm_att *a = &ctx->att[i];

		if (a->addr != addr)
			continue;
		prefetch_stop(a);
		m.seg.seg_id = a->seg_id;
		m.addr = (uint64_t)(uintptr_t)addr;
		rpc(ctx, &m, -1, NULL);
		/* Unmapping drops the registration; the dataplane closed
		 * its copy of the descriptor. */
		munmap(a->addr, a->len);
		close(a->uffd);
		memset(a, 0, sizeof(*a));
		return 0;
	}
	return -EINVAL;
}

const char *dsm_strerror(int err)
{
	switch (-err) {
	case 0:            return "success";
	case ENOENT:       return "no such segment (or no dataplane at that socket)";
	case EEXIST:       return "a segment of that name exists";
	case EACCES:       return "access beyond the segment's protection";
	case EPERM:        return "not permitted for this user";
	case EBUSY:        return "the segment is attached";
	case EPROTO:       return "protocol error with the dataplane";
	case EPROTONOSUPPORT: return "the dataplane speaks another protocol version";
	case ENOSYS:       return "this kernel lacks the userfaultfd features needed";
	case ETIMEDOUT:    return "the dataplane did not answer";
	case ECONNREFUSED: return "no dataplane listening at that socket";
	default:           return strerror(-err);
	}
}
