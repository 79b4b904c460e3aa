/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dsm/dsm.h"
#include "ufront/ufront.h"

#ifndef UFFDIO_CONTINUE_MODE_WP  /* Linux 6.4; the host kernel has it */
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif

/* user_data of this front end's engine requests (kfront uses bit 63). */
#define UF_UD_TAG (1ull << 62)

/* Per-page flags of a view segment. */
#define UF_PG_PRESENT    0x1 /* in the view (page cache) */
#define UF_PG_RW         0x2 /* mapped writable somewhere: write back */
#define UF_PG_ZERO       0x4 /* backing zero-filled by a ZERO grant */
#define UF_PG_PREFETCHED 0x8 /* put in the view ahead of any fault */

enum uf_kind { UF_MISSING, UF_MINOR, UF_WP, UF_PREFETCH };

struct ufront_req {
	uint64_t t0;         /* when the fault event was read */
	bool     used;
	uint32_t gen;
	int32_t  att;        /* -1: prefetch */
	uint32_t att_gen;
	uint32_t seg;
	uint64_t pgno;
	uint64_t addr;       /* page address in the application */
	uint32_t tid;
	uint8_t  kind;
};

/* ------------------------------------------------------------ latency */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned hist_bucket(uint64_t ns)
{
	unsigned msb, sub;

	if (ns < 8)
		return (unsigned)ns;
	msb = 63u - (unsigned)__builtin_clzll(ns);
	sub = (unsigned)(ns >> (msb - 3)) & 7u;
	return (msb - 2) * 8 + sub;
}

static uint64_t bucket_top(unsigned b)
{
	unsigned msb = b / 8 + 2, sub = b % 8;

	if (b < 8)
		return b;
	return ((8ull + sub + 1) << (msb - 3)) - 1;
}

static void hist_add(struct dsm_uf_hist *h, uint64_t ns)
{
	unsigned b = hist_bucket(ns);

	h->count[b < DSM_UF_HIST_BUCKETS ? b : DSM_UF_HIST_BUCKETS - 1]++;
	h->n++;
}

uint64_t dsm_uf_hist_pct(const struct dsm_uf_hist *h, double pct)
{
	uint64_t want = (uint64_t)((double)h->n * pct / 100.0), seen = 0;

	for (unsigned b = 0; b < DSM_UF_HIST_BUCKETS && h->n; b++) {
		seen += h->count[b];
		if (seen > want || seen == h->n)
			return bucket_top(b);
	}
	return 0;
}

/* ---------------------------------------------------------------- setup */

int dsm_ufront_init(struct dsm_ufront *uf, struct dsm_engine *e,
		    const struct dsm_ufront_ops *ops, uint32_t max_requests)
{
	memset(uf, 0, sizeof(*uf));
	uf->engine = e;
	uf->ops = *ops;
	uf->nreqs = max_requests;
	uf->reqs = calloc(max_requests, sizeof(*uf->reqs));
	uf->free = calloc(max_requests, sizeof(*uf->free));
	uf->acts = malloc(sizeof(*uf->acts));
	if (!uf->reqs || !uf->free || !uf->acts || !max_requests || !ops->exec) {
		dsm_ufront_fini(uf);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < max_requests; i++)
		uf->free[uf->nfree++] = max_requests - 1 - i;
	for (unsigned i = 0; i < DSM_UFRONT_MAX_ATT; i++)
		uf->att[i].uffd = -1;
	return 0;
}

void dsm_ufront_fini(struct dsm_ufront *uf)
{
	dsm_ufront_detach(uf, UINT64_MAX, 0);
	for (unsigned i = 0; i < uf->nsegs; i++) {
		struct dsm_ufront_seg *s = &uf->segs[i];

		munmap(s->view, s->npages * s->page_size);
		close(s->memfd);
		free(s->flags);
		free(s->stamp);
	}
	free(uf->reqs);
	free(uf->free);
	free(uf->acts);
	memset(uf, 0, sizeof(*uf));
}

int dsm_ufront_add_segment(struct dsm_ufront *uf, const struct dsm_segment_desc *d,
			   uint8_t *backing)
{
	struct dsm_ufront_seg *s = &uf->segs[uf->nsegs];
	uint64_t bytes = d->npages * d->page_size;
	unsigned mfd = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	char name[32];

	if (uf->nsegs == DSM_UFRONT_MAX_SEGS)
		return -ENOSPC;
	if (d->page_size == 2u << 20)
		mfd |= MFD_HUGETLB | MFD_HUGE_2MB;
	else if (d->page_size != 4096)
		return -EINVAL;
	snprintf(name, sizeof(name), "dsm-seg-%u", d->seg_id);
	memset(s, 0, sizeof(*s));
	s->memfd = memfd_create(name, mfd);
	if (s->memfd < 0)
		return -errno;
	s->view = MAP_FAILED;
	s->flags = calloc(d->npages, 1);
	s->stamp = calloc(d->npages, sizeof(*s->stamp));
	/* Sealed at its size: an application cannot shrink the file under
	 * the dataplane's mapping (which would SIGBUS the daemon). */
	if (ftruncate(s->memfd, (off_t)bytes) == 0 &&
	    fcntl(s->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0)
		s->view = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	if (s->view == MAP_FAILED || !s->flags || !s->stamp) {
		int ret = s->flags && s->stamp ? -errno : -ENOMEM;

		free(s->flags);
		free(s->stamp);
		close(s->memfd);
		return ret;
	}
	s->seg_id = d->seg_id;
	s->prot = d->prot;
	s->page_size = d->page_size;
	s->npages = d->npages;
	s->backing = backing;
	uf->nsegs++;
	return 0;
}

static struct dsm_ufront_seg *seg_of(struct dsm_ufront *uf, uint32_t seg_id, uint32_t *idx)
{
	for (unsigned i = 0; i < uf->nsegs; i++) {
		if (uf->segs[i].seg_id == seg_id) {
			if (idx)
				*idx = i;
			return &uf->segs[i];
		}
	}
	return NULL;
}

int dsm_ufront_view_fd(const struct dsm_ufront *uf, uint32_t seg_id)
{
	for (unsigned i = 0; i < uf->nsegs; i++)
		if (uf->segs[i].seg_id == seg_id)
			return uf->segs[i].memfd;
	return -ENOENT;
}

const struct dsm_ufront_seg *dsm_ufront_seg(const struct dsm_ufront *uf, uint32_t seg_id)
{
	for (unsigned i = 0; i < uf->nsegs; i++)
		if (uf->segs[i].seg_id == seg_id)
			return &uf->segs[i];
	return NULL;
}

/* ------------------------------------------------------------ mappings */

/* Is [base, base + len) in pid's address space one shared mapping of this
 * view, writable exactly when prot says so?  A client could otherwise
 * register a userfaultfd over other memory (installs there would mark the
 * view present when it is not) or claim a read-only mapping that is
 * writable (write-protection would skip it). */
static bool mapping_is_view(pid_t pid, uint64_t base, uint64_t len, int memfd,
			    uint32_t prot)
{
	char path[64], line[512], perms[8];
	unsigned long long start, end, ino;
	struct stat st;
	bool ok = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if (fstat(memfd, &st) || !(f = fopen(path, "re")))
		return false;
	while (!ok && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx-%llx %7s %*s %*s %llu", &start, &end, perms, &ino) != 4)
			continue;
		if (start != base || end != base + len)
			continue;
		ok = ino == (unsigned long long)st.st_ino && perms[3] == 's' &&
		     (perms[1] == 'w') == ((prot & DSM_SEG_WRITE) != 0);
		break;
	}
	fclose(f);
	return ok;
}

int dsm_ufront_attach(struct dsm_ufront *uf, uint32_t seg_id, int uffd, pid_t pid,
		      uint64_t conn, uint64_t base, uint64_t len, uint32_t prot)
{
	uint32_t si;
	struct dsm_ufront_seg *s = seg_of(uf, seg_id, &si);

	if (!s)
		return -ENOENT;
	if (len != s->npages * s->page_size || base % s->page_size ||
	    !mapping_is_view(pid, base, len, s->memfd, prot))
		return -EINVAL;
	for (int i = 0; i < DSM_UFRONT_MAX_ATT; i++) {
		struct dsm_ufront_att *a = &uf->att[i];

		if (a->used)
			continue;
		*a = (struct dsm_ufront_att){
			.used = true, .gen = a->gen + 1, .uffd = uffd, .pid = pid,
			.conn = conn, .base = base, .len = len, .seg = si, .prot = prot,
		};
		uf->st.attached++;
		return i;
	}
	return -ENOSPC;
}

int dsm_ufront_detach(struct dsm_ufront *uf, uint64_t conn, uint64_t base)
{
	int n = 0;

	for (int i = 0; i < DSM_UFRONT_MAX_ATT; i++) {
		struct dsm_ufront_att *a = &uf->att[i];

		if (!a->used || (conn != UINT64_MAX && a->conn != conn) ||
		    (base && a->base != base))
			continue;
		close(a->uffd);
		a->uffd = -1;
		a->used = false;
		uf->st.detached++;
		n++;
	}
	return n;
}

unsigned dsm_ufront_users(const struct dsm_ufront *uf, uint32_t seg_id)
{
	unsigned n = 0;

	for (int i = 0; i < DSM_UFRONT_MAX_ATT; i++)
		if (uf->att[i].used && uf->segs[uf->att[i].seg].seg_id == seg_id)
			n++;
	return n;
}

/* ------------------------------------------------------ uffd primitives */

static int uf_ioctl(struct dsm_ufront *uf, int fd, unsigned long req, void *arg)
{
	if (ioctl(fd, req, arg) == 0)
		return 0;
	/* The process is going away, or its address space changed under
	 * us: nothing to install; anything else is ours to count. */
	if (errno != ESRCH && errno != ENOENT && errno != EAGAIN && errno != EEXIST)
		uf->st.uffd_errors++;
	return -errno;
}

static void uf_wake(struct dsm_ufront *uf, int fd, uint64_t addr, uint64_t len)
{
	struct uffdio_range r = { .start = addr, .len = len };

	uf_ioctl(uf, fd, UFFDIO_WAKE, &r);
}

static int uf_wp(struct dsm_ufront *uf, int fd, uint64_t addr, uint64_t len, bool on)
{
	struct uffdio_writeprotect w = {
		.range = { .start = addr, .len = len },
		.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return uf_ioctl(uf, fd, UFFDIO_WRITEPROTECT, &w);
}

/* Write-protect one page in every writable mapping of the segment. */
static void wp_all(struct dsm_ufront *uf, uint32_t si, uint64_t pgno)
{
	const struct dsm_ufront_seg *s = &uf->segs[si];

	for (int i = 0; i < DSM_UFRONT_MAX_ATT; i++) {
		const struct dsm_ufront_att *a = &uf->att[i];

		if (a->used && a->seg == si && (a->prot & DSM_SEG_WRITE))
			uf_wp(uf, a->uffd, a->base + pgno * s->page_size, s->page_size, true);
	}
}

/* --------------------------------------------------------- resolution */

static void install(struct dsm_ufront *uf, const struct ufront_req *q,
		    const struct dsm_ufront_att *a, bool writable)
{
	struct dsm_ufront_seg *s = &uf->segs[q->seg];
	uint64_t off = q->pgno * s->page_size;
	bool wp = !writable;
	int ret;

	if (!(s->flags[q->pgno] & UF_PG_PRESENT)) {
		/* ZEROPAGE does not exist for hugetlb: those copy the zeros. */
		if (writable && (s->flags[q->pgno] & UF_PG_ZERO) && s->page_size == 4096) {
			struct uffdio_zeropage z = {
				.range = { .start = q->addr, .len = s->page_size } };

			ret = uf_ioctl(uf, a->uffd, UFFDIO_ZEROPAGE, &z);
			uf->st.zeropages += ret == 0;
		} else {
			struct uffdio_copy c = {
				.dst = q->addr, .src = (uint64_t)(uintptr_t)(s->backing + off),
				.len = s->page_size, .mode = wp ? UFFDIO_COPY_MODE_WP : 0 };

			ret = uf_ioctl(uf, a->uffd, UFFDIO_COPY, &c);
			uf->st.copies += ret == 0;
		}
		if (ret == 0 || ret == -EEXIST)
			s->flags[q->pgno] |= UF_PG_PRESENT;
		else    /* not installed: wake the thread, it faults again */
			uf_wake(uf, a->uffd, q->addr, s->page_size);
		if (ret != -EEXIST)
			return;
		/* Another process put it in the view meanwhile: map that. */
	}
	{
		struct uffdio_continue c = {
			.range = { .start = q->addr, .len = s->page_size },
			.mode = wp ? UFFDIO_CONTINUE_MODE_WP : 0 };

		ret = uf_ioctl(uf, a->uffd, UFFDIO_CONTINUE, &c);
		uf->st.continues += ret == 0;
		/* Already mapped here, or not mappable now: wake the thread
		 * (it carries on, or faults again). */
		if (ret)
			uf_wake(uf, a->uffd, q->addr, s->page_size);
	}
}

static void prefetch_fill(struct dsm_ufront *uf, const struct ufront_req *q)
{
	struct dsm_ufront_seg *s = &uf->segs[q->seg];
	uint64_t off = q->pgno * s->page_size;

	if (s->flags[q->pgno] & UF_PG_PRESENT)
		return;
	/* Through our own mapping: the page enters the view, and the
	 * application's first access is a MINOR fault (no network). */
	memcpy(s->view + off, s->backing + off, s->page_size);
	s->flags[q->pgno] |= UF_PG_PRESENT | UF_PG_PREFETCHED;
	uf->st.prefetch_filled++;
}

static void resolve(struct dsm_ufront *uf, const struct ufront_req *q,
		    const struct dsm_action *c)
{
	const struct dsm_ufront_att *a = q->att >= 0 ? &uf->att[q->att] : NULL;
	struct dsm_ufront_seg *s = &uf->segs[q->seg];
	bool writable;

	if (q->kind == UF_PREFETCH) {
		if (c->status == 0)
			prefetch_fill(uf, q);
		return;
	}
	if (!a->used || a->gen != q->att_gen)
		return;                       /* detached meanwhile */
	if (c->status) {
		/* This thread only: the daemon and other applications go on. */
		syscall(SYS_tgkill, a->pid, q->tid, SIGBUS);
		/* And wake it: a thread that blocks SIGBUS must not hang (it
		 * faults again and asks again). */
		uf_wake(uf, a->uffd, q->addr, s->page_size);
		uf->st.sigbus++;
		if (uf->st.sigbus <= 100 || uf->st.sigbus % 10000 == 0)
			fprintf(stderr, "ufront: fault of pid %d tid %u on segment %u page %lu "
				"failed (%s): SIGBUS (%lu so far)\n", (int)a->pid, q->tid,
				s->seg_id, (unsigned long)q->pgno, strerror(-c->status),
				(unsigned long)uf->st.sigbus);
		return;
	}
	hist_add(c->remote ? &uf->lat_remote : &uf->lat_local, mono_ns() - q->t0);
	s->remote += c->remote;
	writable = c->state == DSM_CS_EXCLUSIVE && (a->prot & DSM_SEG_WRITE);
	/* A write-protect fault whose page was punched out of the view
	 * meanwhile (invalidated, then granted again) needs installing. */
	if (q->kind == UF_WP && (s->flags[q->pgno] & UF_PG_PRESENT)) {
		if (writable && uf_wp(uf, a->uffd, q->addr, s->page_size, false) == 0) {
			s->flags[q->pgno] |= UF_PG_RW;
			uf->st.unprotects++;
		} else {
			uf_wake(uf, a->uffd, q->addr, s->page_size);
		}
		return;
	}
	install(uf, q, a, writable);
	if (writable && (s->flags[q->pgno] & UF_PG_PRESENT))
		s->flags[q->pgno] |= UF_PG_RW;
}

static void complete(struct dsm_ufront *uf, const struct dsm_action *c)
{
	uint32_t slot = (uint32_t)c->user_data;
	struct ufront_req *q;

	if (slot >= uf->nreqs)
		return;
	q = &uf->reqs[slot];
	if (!q->used || q->gen != (uint32_t)((c->user_data & ~UF_UD_TAG) >> 32))
		return;
	resolve(uf, q, c);
	q->used = false;
	uf->free[uf->nfree++] = slot;
}

/* ---------------------------------------------------------- coherence */

/* Invalidate (punch) or downgrade (protect) one page of the view. */
static void retract(struct dsm_ufront *uf, uint32_t si, uint64_t pgno, bool punch)
{
	struct dsm_ufront_seg *s = &uf->segs[si];
	uint64_t off = pgno * s->page_size;

	if (pgno >= s->npages)
		return;
	if ((s->flags[pgno] & (UF_PG_RW | UF_PG_PRESENT)) == (UF_PG_RW | UF_PG_PRESENT)) {
		/* Stop writers first, then take their writes: the engine
		 * sends the backing's copy next. */
		wp_all(uf, si, pgno);
		memcpy(s->backing + off, s->view + off, s->page_size);
		s->flags[pgno] &= ~(UF_PG_RW | UF_PG_ZERO);
		uf->st.writebacks++;
	}
	/* Punched even if we think it is a hole: a page we did not put
	 * there (a process that escaped registration) must not survive. */
	if (punch) {
		if (fallocate(s->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)off, s->page_size) == 0) {
			s->flags[pgno] = 0;
			uf->st.punches++;
		} else {
			uf->st.uffd_errors++;   /* the page stays, marked present */
		}
	}
}

static void retract_all(struct dsm_ufront *uf, uint32_t si)
{
	struct dsm_ufront_seg *s = &uf->segs[si];

	/* The home wrote this node off: its copies are gone, no write-back. */
	fallocate(s->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		  (off_t)(s->npages * s->page_size));
	memset(s->flags, 0, s->npages);
	uf->st.punches++;
}

bool dsm_ufront_handle(struct dsm_ufront *uf, const struct dsm_action *a)
{
	uint32_t si;
	struct dsm_ufront_seg *s;

	if (a->kind == DSM_ACT_COMPLETE) {
		if (!(a->user_data & UF_UD_TAG))
			return false;
		complete(uf, a);
		return true;
	}
	s = seg_of(uf, a->msg.seg_id, &si);
	if (!s)
		return false;
	switch (a->kind) {
	case DSM_ACT_UNMAP:
		uf->st.invalidations++;
		retract(uf, si, a->msg.pgno, true);
		return true;
	case DSM_ACT_PROTECT:
		uf->st.downgrades++;
		retract(uf, si, a->msg.pgno, false);
		return true;
	case DSM_ACT_UNMAP_SEGMENT:
		retract_all(uf, si);
		return true;
	case DSM_ACT_ZERO:
		if (a->msg.pgno < s->npages)
			s->flags[a->msg.pgno] |= UF_PG_ZERO;
		return false;                 /* the executor zeroes the backing */
	case DSM_ACT_INSTALL:
		if (a->msg.pgno < s->npages)
			s->flags[a->msg.pgno] &= ~UF_PG_ZERO;
		return false;
	default:
		return false;
	}
}

/* -------------------------------------------------------------- intake */

static int request(struct dsm_ufront *uf, uint64_t now, const struct ufront_req *tmpl,
		   enum dsm_intent intent)
{
	struct ufront_req *q;
	uint32_t slot, gen;
	int ret;

	if (uf->nfree == 0)
		return -ENOSPC;
	slot = uf->free[--uf->nfree];
	q = &uf->reqs[slot];
	gen = q->gen + 1;
	*q = *tmpl;
	q->used = true;
	q->gen = gen;
	dsm_actions_clear(uf->acts);
	ret = dsm_engine_local(uf->engine, now, uf->segs[q->seg].seg_id, q->pgno, intent,
			       UF_UD_TAG | (uint64_t)q->gen << 32 | slot, uf->acts);
	if (ret) {
		q->used = false;
		uf->free[uf->nfree++] = slot;
	}
	uf->ops.exec(uf->ops.ctx, uf->acts);
	return ret;
}

/* A run of reads with a constant stride: read the next pages ahead. */
static void prefetch(struct dsm_ufront *uf, uint64_t now, int ai, uint64_t pgno)
{
	struct dsm_ufront_att *a = &uf->att[ai];
	struct dsm_ufront_seg *s = &uf->segs[a->seg];
	int64_t stride = (int64_t)pgno - (int64_t)a->last_pgno;

	a->run = stride != 0 && stride == a->stride ? a->run + 1 : 0;
	a->stride = stride;
	a->last_pgno = pgno;
	/* Read-ahead only with slots to spare: faults come first. */
	if (a->run < 2 || uf->nfree < uf->nreqs / 4)
		return;
	for (int i = 1; i <= DSM_UFRONT_PREFETCH; i++) {
		int64_t pg = (int64_t)pgno + stride * i;
		struct ufront_req t = { .att = -1, .seg = a->seg, .kind = UF_PREFETCH };

		if (pg < 0 || (uint64_t)pg >= s->npages)
			break;
		if (s->flags[pg] & UF_PG_PRESENT)
			continue;
		t.pgno = (uint64_t)pg;
		if (request(uf, now, &t, DSM_READ) == 0)
			uf->st.prefetch_issued++;
	}
}

static void take_fault(struct dsm_ufront *uf, uint64_t now, int ai, const struct uffd_msg *m)
{
	struct dsm_ufront_att *a = &uf->att[ai];
	struct dsm_ufront_seg *s = &uf->segs[a->seg];
	uint64_t flags = m->arg.pagefault.flags;
	uint64_t addr = m->arg.pagefault.address & ~((uint64_t)s->page_size - 1);
	struct ufront_req t = {
		.att = ai, .att_gen = a->gen, .seg = a->seg, .addr = addr,
		.tid = m->arg.pagefault.feat.ptid, .t0 = mono_ns(),
		.kind = (flags & UFFD_PAGEFAULT_FLAG_WP) ? UF_WP :
			(flags & UFFD_PAGEFAULT_FLAG_MINOR) ? UF_MINOR : UF_MISSING,
	};
	bool write = (flags & (UFFD_PAGEFAULT_FLAG_WRITE | UFFD_PAGEFAULT_FLAG_WP)) != 0;
	int ret;

	if (m->event != UFFD_EVENT_PAGEFAULT || addr < a->base || addr >= a->base + a->len) {
		uf->st.bad_events++;
		return;
	}
	t.pgno = (addr - a->base) / s->page_size;
	if (write && !(a->prot & DSM_SEG_WRITE)) {
		/* A reader's mapping made writable behind our back. */
		uf->st.refused++;
		uf->st.sigbus++;
		syscall(SYS_tgkill, a->pid, t.tid, SIGBUS);
		uf_wake(uf, a->uffd, addr, s->page_size);
		return;
	}
	uf->st.faults++;
	s->faults++;
	s->stamp[t.pgno] = ++uf->clock;
	uf->st.faults_missing += t.kind == UF_MISSING;
	uf->st.faults_minor += t.kind == UF_MINOR;
	uf->st.faults_wp += t.kind == UF_WP;
	if (t.kind == UF_MINOR && (s->flags[t.pgno] & UF_PG_PREFETCHED)) {
		s->flags[t.pgno] &= ~UF_PG_PREFETCHED;
		uf->st.prefetch_hits++;
	}
	ret = request(uf, now, &t, write ? DSM_WRITE : DSM_READ);
	if (ret == -ENOSPC) {
		/* No request slot now: the thread faults again and is served
		 * once slots free up (a shortage is not the application's
		 * fault). */
		uf->st.refused++;
		uf_wake(uf, a->uffd, addr, s->page_size);
		return;
	}
	if (ret) {
		/* Refused outright (protection, range): fail this thread. */
		uf->st.refused++;
		uf->st.sigbus++;
		syscall(SYS_tgkill, a->pid, t.tid, SIGBUS);
		uf_wake(uf, a->uffd, addr, s->page_size);
		return;
	}
	if (!write && t.kind == UF_MISSING)
		prefetch(uf, now, ai, t.pgno);
}

unsigned dsm_ufront_poll(struct dsm_ufront *uf, uint64_t now)
{
	struct uffd_msg msgs[16];
	unsigned n = 0;

	for (int i = 0; i < DSM_UFRONT_MAX_ATT; i++) {
		ssize_t got;

		if (!uf->att[i].used)
			continue;
		got = read(uf->att[i].uffd, msgs, sizeof(msgs));
		for (ssize_t k = 0; got > 0 && k < got / (ssize_t)sizeof(msgs[0]); k++, n++)
			take_fault(uf, now, i, &msgs[k]);
	}
	return n;
}
