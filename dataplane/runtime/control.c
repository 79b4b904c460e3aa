/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket: libdsm's peer (include/dsm/ctl.h).  One thread, not
 * an lcore, serves every connection with poll(); anything that touches the
 * segment table or the mappings is sent to the shard as a ctl message, so
 * the data path stays lock-free.  Every request is validated (size, magic,
 * version, op, reserved fields, names, descriptors) and answered; a bad one
 * gets an error reply, is counted, and the connection stays up.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_log.h>

#include "dsm/ctl.h"
#include "dsm/dsm.h"
#include "runtime/node_internal.h"

#define CTL_MAX_CONNS 64
#define CTL_CALL_MS   5000
/* Discovery of a segment homed elsewhere: up to 50 x 10 ms for answers. */
#define DISCOVER_TRIES   50
#define DISCOVER_STEP_MS 10

struct ctl_conn {
	int fd;
	uint64_t id;
	struct ucred cred;
};

struct dsm_control {
	struct dsm_node *node;
	int lfd, stopfd;
	char path[108];
	pthread_t thread;
	struct ctl_conn conns[CTL_MAX_CONNS];
	unsigned nconns;
	uint64_t next_id;
	bool stopping;               /* the shard no longer runs: no ctl calls */
	uint64_t requests, errors, bad, conns_total;
};

/* ------------------------------------------------------------- messages */

/* Receive one request; *rfd gets a passed descriptor or -1.  Returns the
 * bytes read, 0 on EOF, -errno. */
static ssize_t recv_request(int fd, struct dsm_ctl_msg *m, int *rfd)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

	*rfd = -1;
	if (n < 0)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int f;

			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*rfd < 0)
				*rfd = f;
			else
				close(f);   /* one descriptor per request */
		}
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EMSGSIZE;
	return n;
}

static bool name_ok(const char *name)
{
	size_t len = strnlen(name, DSM_CTL_NAME);

	return len > 0 && len < DSM_CTL_NAME && len < DSM_SEG_NAME_MAX;
}

/* Size, magic, version, op, reserved fields.  0 or -errno. */
static int check_request(const struct dsm_ctl_msg *m, ssize_t n)
{
	if (n != (ssize_t)sizeof(*m) || m->magic != DSM_CTL_MAGIC)
		return -EPROTO;
	if (m->version != DSM_CTL_VERSION)
		return -EPROTONOSUPPORT;
	if (m->op == 0 || m->op >= DSM_CTL_OP_MAX)
		return -EOPNOTSUPP;
	if (m->status || m->resv0 || m->resv1 || m->resv2[0] || m->resv2[1] || m->resv2[2])
		return -EINVAL;
	return 0;
}

/* ------------------------------------------------------------- requests */

static int call(struct dsm_control *c, struct dsm_ctl *req)
{
	return dsm_shard_ctl_call(c->node, 0, req, CTL_CALL_MS);
}

static void seg_to_msg(const struct dsm_ctl *r, struct dsm_ctl_msg *m)
{
	m->seg.seg_id = r->desc.seg_id;
	m->seg.home = r->desc.home;
	m->seg.prot = r->desc.prot;
	m->seg.page_size = r->desc.page_size;
	m->seg.flags = r->desc.page_size > 4096 ? DSM_SEG_HUGE : 0;
	m->seg.size = r->desc.npages * r->desc.page_size;
}

/* A name not known here may be a segment created on another node: ask the
 * peers, then look again while their answers come in (bounded). */
static int find_or_discover(struct dsm_control *c, struct dsm_ctl *r)
{
	struct dsm_ctl ask = { .kind = DSM_CTL_DISCOVER };
	struct dsm_ctl q = *r;
	int rc = call(c, r);

	if (rc != -ENOENT || call(c, &ask))
		return rc;
	/* Until it is found, or every peer has answered, or time is up. */
	for (int i = 0; i < DISCOVER_TRIES && rc == -ENOENT &&
	     r->answers < ask.answers + c->node->cfg.npeers; i++) {
		struct timespec ts = { .tv_nsec = DISCOVER_STEP_MS * 1000000L };

		nanosleep(&ts, NULL);   /* answers travel through the I/O loop */
		*r = q;
		rc = call(c, r);
	}
	return rc;
}

static int op_find(struct dsm_control *c, struct dsm_ctl_msg *m, int *pass_fd)
{
	struct dsm_ctl r = { .kind = DSM_CTL_SEG_FIND };
	int rc;

	if (!name_ok(m->seg.name))
		return -EINVAL;
	memcpy(r.name, m->seg.name, sizeof(r.name) - 1);
	rc = find_or_discover(c, &r);
	if (rc)
		return rc;
	seg_to_msg(&r, m);
	if (m->op != DSM_CTL_ATTACH)
		return 0;
	/* A read-write attach of a read-only segment is refused. */
	if (!m->prot || (m->prot & ~(DSM_SEG_READ | DSM_SEG_WRITE)) ||
	    (m->prot & ~r.desc.prot))
		return -EACCES;
	/* Readers get the same read-write file: the kernel registers a
	 * userfaultfd only on a mapping that may become writable
	 * (VM_MAYWRITE).  Their mappings are write-protected through the
	 * userfaultfd instead (libdsm registers WP, the front end installs
	 * their pages write-protected and refuses their write faults). */
	*pass_fd = r.fd;
	return 0;
}

static int op_create(struct dsm_control *c, const struct ctl_conn *k, struct dsm_ctl_msg *m)
{
	uint32_t ps = (m->seg.flags & DSM_SEG_HUGE) ? 2u << 20 : 4096;
	struct dsm_ctl r = { .kind = DSM_CTL_SEG_CREATE, .uid = k->cred.uid };
	int rc;

	if (!name_ok(m->seg.name) || (m->seg.flags & ~DSM_SEG_HUGE) || !m->seg.prot ||
	    (m->seg.prot & ~(DSM_SEG_READ | DSM_SEG_WRITE)) || !m->seg.size ||
	    m->seg.size % ps || m->seg.size > (64ull << 30))
		return -EINVAL;
	memcpy(r.name, m->seg.name, sizeof(r.name) - 1);
	r.desc = (struct dsm_segment_desc){
		.prot = m->seg.prot, .page_size = ps, .npages = m->seg.size / ps,
	};
	rc = call(c, &r);
	if (rc == 0) {
		m->seg.seg_id = r.seg_id;
		m->seg.home = c->node->self;
		m->seg.page_size = ps;
	}
	return rc;
}

static int op_register(struct dsm_control *c, const struct ctl_conn *k,
		       const struct dsm_ctl_msg *m, int *rfd)
{
	struct dsm_ctl r = {
		.kind = DSM_CTL_UF_ATTACH, .seg_id = m->seg.seg_id, .fd = *rfd,
		.pid = k->cred.pid, .conn = k->id, .base = m->addr, .len = m->len,
		.prot = m->prot,
	};
	char link[64], target[64] = "";
	ssize_t n;

	if (*rfd < 0)
		return -EBADF;
	/* Only a userfaultfd will do. */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", *rfd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0 || strncmp(target, "anon_inode:[userfaultfd]", (size_t)n) != 0 ||
	    (size_t)n != strlen("anon_inode:[userfaultfd]"))
		return -EBADF;
	int rc;

	if (!m->prot || (m->prot & ~(DSM_SEG_READ | DSM_SEG_WRITE)))
		return -EINVAL;
	rc = call(c, &r);
	/* Queued (done or timed out): the shard owns the descriptor and
	 * closes it on failure.  Not queued: still ours. */
	if (rc != -EBUSY && rc != -ENOMEM)
		*rfd = -1;
	return rc;
}

static int dispatch(struct dsm_control *c, const struct ctl_conn *k,
		    struct dsm_ctl_msg *m, int *rfd, int *pass_fd)
{
	struct dsm_ctl r = { .kind = DSM_CTL_SEG_DESTROY, .uid = k->cred.uid };

	switch (m->op) {
	case DSM_CTL_HELLO:
		m->node = c->node->self;
		return 0;
	case DSM_CTL_INFO:
	case DSM_CTL_ATTACH:
		return op_find(c, m, pass_fd);
	case DSM_CTL_CREATE:
		return op_create(c, k, m);
	case DSM_CTL_DESTROY:
		if (!name_ok(m->seg.name))
			return -EINVAL;
		memcpy(r.name, m->seg.name, sizeof(r.name) - 1);
		return call(c, &r);
	case DSM_CTL_REGISTER:
		return op_register(c, k, m, rfd);
	case DSM_CTL_DETACH:
		r = (struct dsm_ctl){ .kind = DSM_CTL_UF_DETACH, .conn = k->id, .base = m->addr };
		if (!m->addr)
			return -EINVAL;
		return call(c, &r) > 0 ? 0 : -EINVAL;
	default:
		return -EOPNOTSUPP;
	}
}

/* One request on connection k; false when the connection is gone. */
static bool serve(struct dsm_control *c, struct ctl_conn *k)
{
	struct dsm_ctl_msg m;
	int rfd, pass_fd = -1, rc;
	bool sent;
	ssize_t n = recv_request(k->fd, &m, &rfd);

	if (n == 0 || (n < 0 && n != -EAGAIN && n != -EMSGSIZE)) {
		if (rfd >= 0)
			close(rfd);   /* an empty message can still carry one */
		return false;
	}
	if (n == -EAGAIN)
		return true;
	c->requests++;
	rc = n < 0 ? (int)n : check_request(&m, n);
	if (rc) {
		/* Answer even garbage, so a client is never left waiting. */
		c->bad++;
		memset(&m, 0, sizeof(m));
	} else {
		rc = dispatch(c, k, &m, &rfd, &pass_fd);
	}
	if (rfd >= 0)
		close(rfd);
	m.magic = DSM_CTL_MAGIC;
	m.version = DSM_CTL_VERSION;
	m.status = rc;
	c->errors += rc != 0;
	sent = dsm_ctl_send(k->fd, &m, rc == 0 ? pass_fd : -1) == 0;
	return sent;
}

/* ---------------------------------------------------------- connections */

static void drop_conn(struct dsm_control *c, unsigned i)
{
	struct dsm_ctl r = { .kind = DSM_CTL_UF_DETACH, .conn = c->conns[i].id };

	/* Its process is gone or done: its mappings go with it (at shutdown
	 * dsm_ufront_fini drops them all). */
	if (!c->stopping)
		call(c, &r);
	close(c->conns[i].fd);
	c->conns[i] = c->conns[--c->nconns];
}

static void accept_conn(struct dsm_control *c)
{
	socklen_t len = sizeof(struct ucred);
	struct ctl_conn k = { .id = ++c->next_id };

	k.fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (k.fd < 0)
		return;
	if (c->nconns == CTL_MAX_CONNS ||
	    getsockopt(k.fd, SOL_SOCKET, SO_PEERCRED, &k.cred, &len) != 0) {
		close(k.fd);
		return;
	}
	c->conns[c->nconns++] = k;
	c->conns_total++;
}

static void *control_main(void *arg)
{
	struct dsm_control *c = arg;

	for (;;) {
		struct pollfd p[CTL_MAX_CONNS + 2];
		unsigned n = c->nconns;

		p[0] = (struct pollfd){ .fd = c->stopfd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = c->lfd, .events = POLLIN };
		for (unsigned i = 0; i < n; i++)
			p[i + 2] = (struct pollfd){ .fd = c->conns[i].fd, .events = POLLIN };
		if (poll(p, n + 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		/* Backwards: drop_conn moves the last connection into i. */
		for (unsigned i = n; i-- > 0;)
			if (p[i + 2].revents && !serve(c, &c->conns[i]))
				drop_conn(c, i);
		if (p[1].revents & POLLIN)
			accept_conn(c);
	}
	c->stopping = true;
	while (c->nconns)
		drop_conn(c, c->nconns - 1);
	return NULL;
}

static int listen_on(struct dsm_control *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->lfd < 0)
		return -errno;
	unlink(path);   /* a stale socket of an earlier run */
	if (bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(c->lfd, 64))
		return -errno;
	/* Who may connect is the socket file's mode: root and the group. */
	chmod(path, 0660);
	return 0;
}

int dsm_control_start(struct dsm_node *n, const char *path, struct dsm_control **out)
{
	struct dsm_control *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->node = n;
	c->lfd = -1;
	c->stopfd = eventfd(0, EFD_CLOEXEC);
	rc = c->stopfd < 0 ? -errno : listen_on(c, path);
	if (rc == 0)
		rc = -pthread_create(&c->thread, NULL, control_main, c);
	if (rc) {
		RTE_LOG(ERR, USER1, "control socket %s: %s\n", path, strerror(-rc));
		if (c->lfd >= 0)
			close(c->lfd);
		if (c->stopfd >= 0)
			close(c->stopfd);
		free(c);
		return rc;
	}
	RTE_LOG(INFO, USER1, "control socket %s\n", path);
	*out = c;
	return 0;
}

void dsm_control_stop(struct dsm_control *c)
{
	uint64_t one = 1;

	if (write(c->stopfd, &one, sizeof(one)) != sizeof(one))
		RTE_LOG(ERR, USER1, "control: cannot stop the thread\n");
	pthread_join(c->thread, NULL);
	close(c->lfd);
	close(c->stopfd);
	unlink(c->path);
	free(c);
}

void dsm_control_counters(const struct dsm_control *c, uint64_t *requests,
			  uint64_t *errors, uint64_t *bad, uint64_t *conns)
{
	/* Written by the control thread only; a torn read is impossible for
	 * aligned 64-bit words on the machines DPDK runs on. */
	*requests = __atomic_load_n(&c->requests, __ATOMIC_RELAXED);
	*errors = __atomic_load_n(&c->errors, __ATOMIC_RELAXED);
	*bad = __atomic_load_n(&c->bad, __ATOMIC_RELAXED);
	*conns = __atomic_load_n(&c->conns_total, __ATOMIC_RELAXED);
}
