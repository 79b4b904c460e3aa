/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kt.h"

uint64_t kt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void kt_set_param(const char *name, unsigned value)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/dsm/parameters/%s", name);
	f = fopen(path, "w");
	KT_CHECK(f != NULL, "%s: %s", path, strerror(errno));
	fprintf(f, "%u\n", value);
	KT_CHECK(fclose(f) == 0, "%s", path);
}

struct dsm_kstats kt_stats(void)
{
	struct dsm_kstats st;
	int fd = open(KT_DEV, O_RDWR);

	KT_CHECK(fd >= 0, "open: %s", strerror(errno));
	KT_CHECK(dsm_kdev_stats(fd, &st) == 0, "stats");
	close(fd);
	return st;
}

uint64_t kt_bad_total(const struct dsm_kstats *st)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < 8; i++)
		n += st->bad[i];
	return n;
}

void kt_server_open(struct kt_server *s, uint32_t features, uint32_t entries,
		    uint32_t seg_id, uint64_t npages, kt_policy policy)
{
	enum dsm_ring_err why = DSM_RING_ERR_NONE;
	void *mem;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = dsm_kdev_open(&s->kd, KT_DEV, features, entries, &why);
	KT_CHECK(ret == 0, "kdev open: %s (%s)", strerror(-ret), dsm_ring_err_name(why));
	ret = dsm_kdev_seg_add(&s->kd, seg_id, npages, &mem);
	KT_CHECK(ret == 0, "seg add: %s", strerror(-ret));
	s->seg_id = seg_id;
	s->npages = npages;
	s->mem = mem;
	s->policy = policy;
}

void kt_complete(struct kt_server *s, const struct dsm_fault_req *r, uint8_t result,
		 int32_t status)
{
	struct dsm_fault_cqe c = {
		.opcode = DSM_OP_FAULT_DONE, .result = result, .seg_id = r->seg_id,
		.token = r->token, .pgno = r->pgno, .status = status,
	};
	struct dsm_ring *cq = &s->kd.rings.ring[DSM_RING_CQ];

	while (dsm_ring_produce(cq, &c, 1) != 1)
		KT_CHECK(dsm_kdev_enter(&s->kd, 0, 0, NULL) == 0, "enter");
	if (dsm_ring_prod_needs_wakeup(cq))
		KT_CHECK(dsm_kdev_enter(&s->kd, 0, 0, NULL) == 0, "enter");
}

static void on_fault(struct kt_server *s, const struct dsm_fault_req *r)
{
	uint8_t res;

	s->faults++;
	if (r->flags & DSM_FAULT_WP)
		s->wp++;
	if (r->flags & DSM_FAULT_WRITE)
		s->writes++;
	else
		s->reads++;
	res = s->policy(s, r);
	if (res)
		kt_complete(s, r, res, res == DSM_RES_SIGBUS ? -EIO : 0);
}

static void on_note(struct kt_server *s, const struct dsm_note *n)
{
	memcpy((void *)&s->last_note, n, sizeof(*n));
	if (n->opcode == DSM_OP_NOTE_MUNMAP)
		s->notes_munmap++;
	else if (n->opcode == DSM_OP_NOTE_EXIT)
		s->notes_exit++;
	else
		s->notes_lost++;
}

unsigned kt_server_poll(struct kt_server *s)
{
	struct dsm_fault_req req[32];
	struct dsm_note notes[32];
	unsigned n, m;

	n = dsm_ring_read(&s->kd.rings.ring[DSM_RING_FAULT], req, 32, NULL);
	for (unsigned i = 0; i < n; i++)
		on_fault(s, &req[i]);
	m = dsm_ring_read(&s->kd.rings.ring[DSM_RING_NOTE], notes, 32, NULL);
	for (unsigned i = 0; i < m; i++)
		on_note(s, &notes[i]);
	/* Acks are read by kt_command only: one consumer per ring. */
	return n + m;
}

static void *serve(void *arg)
{
	struct kt_server *s = arg;

	while (!s->stop) {
		if (kt_server_poll(s))
			continue;
		/* Idle: NEED_WAKEUP, re-check (E), then sleep in ENTER. */
		if (dsm_ring_cons_sleep_prepare(&s->kd.rings.ring[DSM_RING_FAULT]) == 0)
			dsm_kdev_enter(&s->kd, DSM_ENTER_WAIT, 20, NULL);
		dsm_ring_cons_awake(&s->kd.rings.ring[DSM_RING_FAULT]);
	}
	return NULL;
}

void kt_server_start(struct kt_server *s)
{
	s->stop = false;
	KT_CHECK(pthread_create(&s->thread, NULL, serve, s) == 0, "thread");
	s->running = true;
}

void kt_server_stop(struct kt_server *s)
{
	if (!s->running)
		return;
	s->stop = true;
	pthread_join(s->thread, NULL);
	s->running = false;
}

void kt_server_close(struct kt_server *s)
{
	kt_server_stop(s);
	dsm_kdev_seg_del(&s->kd, s->seg_id, s->mem, s->npages);
	dsm_kdev_close(&s->kd);
}

int32_t kt_command(struct kt_server *s, uint8_t op, uint64_t pgno, uint32_t npages)
{
	static uint64_t token = 1;
	struct dsm_cmd c = {
		.opcode = op, .seg_id = s->seg_id, .token = ++token,
		.pgno = op == DSM_OP_UNMAP_SEG ? 0 : pgno,
		.npages = op == DSM_OP_UNMAP_SEG ? 0 : npages,
	};
	struct dsm_ring *ack = &s->kd.rings.ring[DSM_RING_ACK];
	uint64_t deadline = kt_now_ns() + 5000000000ull;

	KT_CHECK(dsm_ring_produce(&s->kd.rings.ring[DSM_RING_CMD], &c, 1) == 1, "cmd ring full");
	KT_CHECK(dsm_kdev_enter(&s->kd, 0, 0, NULL) == 0, "enter");
	for (;;) {
		struct dsm_cmd_ack a;

		if (dsm_ring_read(ack, &a, 1, NULL) == 1) {
			s->acks++;
			KT_CHECK(a.token == c.token && a.cmd == op && a.seg_id == c.seg_id &&
				 a.pgno == c.pgno && a.npages == c.npages,
				 "ack does not echo the command");
			return a.status;
		}
		KT_CHECK(kt_now_ns() < deadline, "no ack within 5 s");
		dsm_kdev_enter(&s->kd, 0, 0, NULL);
	}
}

void *kt_map(uint32_t seg_id, uint64_t pgno, uint64_t npages, int prot, int *fdp)
{
	int fd = dsm_kdev_attach(KT_DEV, seg_id, NULL);
	void *p;

	KT_CHECK(fd >= 0, "attach %u: %s", seg_id, strerror(-fd));
	p = mmap(NULL, npages * KT_PAGE, prot, MAP_SHARED, fd, (off_t)(pgno * KT_PAGE));
	KT_CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	if (fdp)
		*fdp = fd;
	else
		close(fd);
	return p;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void kt_sort(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
}

uint64_t kt_pct(const uint64_t *sorted, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return n ? sorted[i < n ? i : n - 1] : 0;
}

void kt_server_forget(struct kt_server *s)
{
	munmap(s->mem, s->npages * KT_PAGE);
	munmap(s->kd.region, s->kd.region_len);
	if (s->kd.efd >= 0)
		close(s->kd.efd);
	close(s->kd.fd);
}
