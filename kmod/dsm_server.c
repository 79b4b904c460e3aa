// SPDX-License-Identifier: GPL-2.0
/*
 * The server: the dataplane's open file of /dev/dsm.  It owns the shared
 * rings, the table of waiting faults and the wake-ups.  Faults post a
 * request and wait (killable, with a deadline) for the completion the
 * server posts back; DSM_IOC_ENTER is where the kernel consumes completions
 * and commands, in the server's own context.
 */
#include <linux/file.h>
#include <linux/hash.h>
#include <linux/jiffies.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "dsm_internal.h"

/* Internal answers (never on the ring, where results are 1..DSM_RES_MAX),
 * so the server's own SIGBUS status can never be mistaken for them. */
#define DSM_KRES_RETRY   (DSM_RES_MAX + 1) /* not posted: start again */
#define DSM_KRES_TIMEOUT (DSM_RES_MAX + 2) /* deadline passed */
#define DSM_KRES_GONE    (DSM_RES_MAX + 3) /* the server went away */

/* Features this module implements. */
#define DSM_KMOD_FEATURES (DSM_RING_F_NEED_WAKEUP | DSM_RING_F_EVENTFD)

/* ------------------------------------------------------------ lifetime */

static void server_free(struct kref *ref)
{
	struct dsm_server *srv = container_of(ref, struct dsm_server, ref);

	if (srv->efd)
		eventfd_ctx_put(srv->efd);
	vfree(srv->region);
	kvfree(srv->waiters);
	kvfree(srv->free);
	kvfree(srv->hash);
	kfree(srv);
}

void dsm_server_put(struct dsm_server *srv)
{
	kref_put(&srv->ref, server_free);
}

/* The live server, referenced, or NULL. */
struct dsm_server *dsm_server_get(void)
{
	struct dsm_server *srv;

	spin_lock(&dsm.srv_lock);
	srv = dsm.server;
	if (srv && !READ_ONCE(srv->dead))
		kref_get(&srv->ref);
	else
		srv = NULL;
	spin_unlock(&dsm.srv_lock);
	return srv;
}

/* ---------------------------------------------------- the waiter table */

/* Requests in flight are hashed by page so a fault finds the one it can
 * join in O(1); free slots are a stack.  All under wlock. */
static u32 whash(struct dsm_server *srv, u32 seg_id, u64 pgno)
{
	return (u32)hash_64((u64)seg_id << 40 ^ pgno, 32) & (srv->nwaiters - 1);
}

static void whash_add(struct dsm_server *srv, u32 slot)
{
	struct dsm_waiter *w = &srv->waiters[slot];
	u32 b = whash(srv, w->seg_id, w->pgno);

	w->hnext = srv->hash[b];
	srv->hash[b] = slot + 1;
	w->hashed = true;
}

static void whash_del(struct dsm_server *srv, struct dsm_waiter *w)
{
	u32 *link = &srv->hash[whash(srv, w->seg_id, w->pgno)];

	if (!w->hashed)
		return;
	while (*link && &srv->waiters[*link - 1] != w)
		link = &srv->waiters[*link - 1].hnext;
	if (*link)
		*link = w->hnext;
	w->hashed = false;
}

/* An answered request can no longer be joined: it leaves the hash. */
static void waiter_answer(struct dsm_server *srv, struct dsm_waiter *w,
			  u8 result, s32 status)
{
	whash_del(srv, w);
	w->answered = true;
	w->result = result;
	w->status = status;
	complete_all(&w->done);
}

/* Fail every waiting fault: the server is gone or broken. */
static void server_kill(struct dsm_server *srv)
{
	u32 i;

	spin_lock(&srv->wlock);
	WRITE_ONCE(srv->dead, true);
	for (i = 0; i < srv->nwaiters; i++) {
		struct dsm_waiter *w = &srv->waiters[i];

		if (w->busy && !w->answered)
			waiter_answer(srv, w, DSM_KRES_GONE, -ENOTCONN);
	}
	spin_unlock(&srv->wlock);
	wake_up_all(&srv->poll_wq);
	wake_up_all(&srv->space_wq);
}

static void server_corrupt(struct dsm_server *srv, unsigned ring)
{
	dsm_count(DSM_ST_CORRUPT);
	if (ring < DSM_RING_NR)
		pr_err_ratelimited("dsm: ring %u index out of range: server dropped\n", ring);
	else
		pr_err_ratelimited("dsm: a ring index out of range: server dropped\n");
	server_kill(srv);
}

/* The server's file is released (close or exit): fail every fault, drop
 * every segment (their client mappings are zapped, later faults SIGBUS). */
void dsm_server_release(struct dsm_server *srv)
{
	mutex_lock(&dsm.lock);
	spin_lock(&dsm.srv_lock);
	if (dsm.server == srv)
		dsm.server = NULL;
	spin_unlock(&dsm.srv_lock);
	server_kill(srv);
	dsm_seg_del_all();
	mutex_unlock(&dsm.lock);
	dsm_server_put(srv);
}

/* --------------------------------------------------------------- setup */

static int params_errno(enum dsm_ring_err e)
{
	switch (e) {
	case DSM_RING_ERR_NONE:     return 0;
	case DSM_RING_ERR_VERSION:  return -EPROTO;
	case DSM_RING_ERR_FEATURES: return -EOPNOTSUPP;
	case DSM_RING_ERR_BOUNDS:   return -ERANGE;
	default:                    return -EINVAL;
	}
}

static int server_alloc(struct dsm_server **out, const struct dsm_ring_params *p)
{
	struct dsm_server *srv = kzalloc(sizeof(*srv), GFP_KERNEL);
	unsigned i;

	if (!srv)
		return -ENOMEM;
	kref_init(&srv->ref);
	srv->params = *p;
	srv->region = vmalloc_user(p->region_size);
	srv->nwaiters = p->entries[DSM_RING_FAULT];
	srv->waiters = kvcalloc(srv->nwaiters, sizeof(*srv->waiters), GFP_KERNEL);
	srv->free = kvcalloc(srv->nwaiters, sizeof(*srv->free), GFP_KERNEL);
	srv->hash = kvcalloc(srv->nwaiters, sizeof(*srv->hash), GFP_KERNEL);
	if (!srv->region || !srv->waiters || !srv->free || !srv->hash) {
		dsm_server_put(srv);
		return -ENOMEM;
	}
	for (i = 0; i < srv->nwaiters; i++) {
		init_completion(&srv->waiters[i].done);
		srv->free[srv->nfree++] = srv->nwaiters - 1 - i;
	}
	for (i = 0; i < DSM_RING_NR; i++)
		dsm_kring_init(&srv->ring[i], srv->region, p, i);
	/* The kernel never polls the rings it consumes: it runs when the
	 * server calls ENTER, so it asks for a kick after every batch. */
	*srv->ring[DSM_RING_CQ].flags = DSM_RING_FL_NEED_WAKEUP;
	*srv->ring[DSM_RING_CMD].flags = DSM_RING_FL_NEED_WAKEUP;
	init_waitqueue_head(&srv->poll_wq);
	init_waitqueue_head(&srv->space_wq);
	mutex_init(&srv->enter_lock);
	spin_lock_init(&srv->wlock);
	*out = srv;
	return 0;
}

int dsm_server_setup(struct dsm_ring_params *p, struct dsm_server **out)
{
	struct dsm_server *srv;
	int ret;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	ret = params_errno(dsm_ring_layout_rules(p, DSM_KMOD_FEATURES));
	if (ret)
		return ret;
	ret = server_alloc(&srv, p);
	if (ret)
		return ret;
	mutex_lock(&dsm.lock);
	if (dsm.server) {
		mutex_unlock(&dsm.lock);
		dsm_server_put(srv);
		return -EBUSY;
	}
	spin_lock(&dsm.srv_lock);
	dsm.server = srv;
	spin_unlock(&dsm.srv_lock);
	mutex_unlock(&dsm.lock);
	*out = srv;
	dsm_count(DSM_ST_SERVERS);
	return 0;
}

int dsm_server_mmap(struct dsm_server *srv, struct vm_area_struct *vma)
{
	if (vma->vm_end - vma->vm_start > srv->params.region_size)
		return -EINVAL;
	return remap_vmalloc_range(vma, srv->region, 0);
}

int dsm_server_eventfd(struct dsm_server *srv, int fd)
{
	struct eventfd_ctx *ctx = NULL, *old;

	if (!(srv->params.features & DSM_RING_F_EVENTFD))
		return -EOPNOTSUPP;
	if (fd >= 0) {
		ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
	}
	/* Producers read efd under the ring locks' protection of nothing:
	 * swap it under every producer lock so none uses a freed context. */
	spin_lock(&srv->ring[DSM_RING_FAULT].lock);
	spin_lock_nested(&srv->ring[DSM_RING_ACK].lock, 1);
	spin_lock_nested(&srv->ring[DSM_RING_NOTE].lock, 2);
	old = srv->efd;
	srv->efd = ctx;
	spin_unlock(&srv->ring[DSM_RING_NOTE].lock);
	spin_unlock(&srv->ring[DSM_RING_ACK].lock);
	spin_unlock(&srv->ring[DSM_RING_FAULT].lock);
	if (old)
		eventfd_ctx_put(old);
	return 0;
}

/* -------------------------------------------------------------- wake-up */

/* After producing on ring r (its lock held): wake the server if it said
 * it sleeps. */
static void server_kick(struct dsm_server *srv, struct dsm_kring *r)
{
	if (!dsm_kring_wants_wakeup(r)) {
		dsm_count(DSM_ST_WAKEUPS_SKIPPED);
		return;
	}
	dsm_count(DSM_ST_WAKEUPS);
	if (srv->efd)
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
		eventfd_signal(srv->efd);
#else
		eventfd_signal(srv->efd, 1);
#endif
	wake_up_interruptible(&srv->poll_wq);
}

/* Produce one entry on a kernel-produced ring and kick.  -ENOSPC if full,
 * -ENOTCONN if the server is dead or broke the ring. */
static int server_produce(struct dsm_server *srv, unsigned id, const void *e)
{
	struct dsm_kring *r = &srv->ring[id];
	int ret;

	spin_lock(&r->lock);
	ret = READ_ONCE(srv->dead) ? -ENOTCONN : dsm_kring_produce(r, e);
	if (ret == 0)
		server_kick(srv, r);
	spin_unlock(&r->lock);
	if (ret == -EPROTO) {
		server_corrupt(srv, id);
		ret = -ENOTCONN;
	}
	return ret;
}

static u32 server_ready(struct dsm_server *srv)
{
	return dsm_kring_pending(&srv->ring[DSM_RING_FAULT]) +
	       dsm_kring_pending(&srv->ring[DSM_RING_ACK]) +
	       dsm_kring_pending(&srv->ring[DSM_RING_NOTE]);
}

__poll_t dsm_server_poll(struct dsm_server *srv, struct file *file,
			 struct poll_table_struct *pt)
{
	poll_wait(file, &srv->poll_wq, pt);
	if (READ_ONCE(srv->dead))
		return EPOLLERR;
	return server_ready(srv) ? EPOLLIN | EPOLLRDNORM : 0;
}

/* --------------------------------------------------------------- faults */

static struct dsm_waiter *waiter_alloc(struct dsm_server *srv, u32 *slot)
{
	struct dsm_waiter *w;

	if (srv->nfree == 0)
		return NULL;
	*slot = srv->free[--srv->nfree];
	w = &srv->waiters[*slot];
	w->busy = true;
	w->users = 1;
	w->answered = false;
	w->gen++;
	reinit_completion(&w->done);
	return w;
}

static void waiter_free(struct dsm_server *srv, struct dsm_waiter *w)
{
	bool last;

	spin_lock(&srv->wlock);
	last = --w->users == 0;
	if (last) {
		/* A killed leader leaves its request unanswered: nobody
		 * waits for it any more, so nobody may join it. */
		whash_del(srv, w);
		w->busy = false;
		srv->free[srv->nfree++] = w - srv->waiters;
	}
	spin_unlock(&srv->wlock);
	if (last)
		wake_up(&srv->space_wq);
}

/* A request in flight that this fault can wait for instead of posting:
 * same page, and a write only follows a write (a read follows either). */
static struct dsm_waiter *waiter_join(struct dsm_server *srv, u32 seg_id,
				      u64 pgno, u8 flags)
{
	u32 i = srv->hash[whash(srv, seg_id, pgno)];

	for (; i; i = srv->waiters[i - 1].hnext) {
		struct dsm_waiter *w = &srv->waiters[i - 1];

		if (w->seg_id == seg_id && w->pgno == pgno &&
		    ((w->flags & DSM_FAULT_WRITE) || !(flags & DSM_FAULT_WRITE))) {
			w->users++;
			return w;
		}
	}
	return NULL;
}

struct dsm_waiter *dsm_server_post(struct dsm_server *srv, u32 seg_id,
				   u64 pgno, u8 flags, int *err)
{
	struct dsm_fault_req req = {
		.opcode = DSM_OP_FAULT, .flags = flags, .seg_id = seg_id,
		.pgno = pgno, .pid = current->tgid, .tid = current->pid,
	};
	struct dsm_waiter *w;
	u32 slot;

	spin_lock(&srv->wlock);
	w = READ_ONCE(srv->dead) ? NULL : waiter_join(srv, seg_id, pgno, flags);
	if (w) {
		spin_unlock(&srv->wlock);
		dsm_count(DSM_ST_COALESCED);
		*err = 0;
		return w;
	}
	w = READ_ONCE(srv->dead) ? NULL : waiter_alloc(srv, &slot);
	if (w) {
		w->flags = flags;
		w->seg_id = seg_id;
		w->pgno = pgno;
		req.token = (u64)slot << 32 | w->gen;
		/* Joinable at once, so that faults racing with this one
		 * find it rather than post a request of their own. */
		whash_add(srv, slot);
	}
	spin_unlock(&srv->wlock);
	if (!w) {
		*err = READ_ONCE(srv->dead) ? -ENOTCONN : -ENOSPC;
		return NULL;
	}
	*err = server_produce(srv, DSM_RING_FAULT, &req);
	if (*err) {
		/* Not posted: faults that joined it retry from the start. */
		spin_lock(&srv->wlock);
		waiter_answer(srv, w, DSM_KRES_RETRY, 0);
		spin_unlock(&srv->wlock);
		waiter_free(srv, w);
		return NULL;
	}
	dsm_count(DSM_ST_FAULTS);
	return w;
}

/* Wait for the answer (the caller no longer holds the mmap lock).  The
 * outcome says what the fault does next; *err is the errno of a failure
 * (the server's own status, or -ETIMEDOUT / -ENOTCONN). */
enum dsm_wait_outcome dsm_server_wait(struct dsm_server *srv, struct dsm_waiter *w,
				      int *err)
{
	long left = wait_for_completion_killable_timeout(&w->done,
			msecs_to_jiffies(dsm_fault_timeout_ms));
	enum dsm_wait_outcome out;
	u8 result;

	spin_lock(&srv->wlock);
	if (!w->answered && left < 0) {
		spin_unlock(&srv->wlock);
		/* Killed: the request stays in flight for any followers. */
		waiter_free(srv, w);
		dsm_count(DSM_ST_KILLED);
		return DSM_WAIT_KILLED;
	}
	/* Deadline: the request fails for every fault waiting on it; a late
	 * answer finds it answered and counts as stale. */
	if (!w->answered)
		waiter_answer(srv, w, DSM_KRES_TIMEOUT, -ETIMEDOUT);
	result = w->result;
	*err = w->status;
	spin_unlock(&srv->wlock);
	waiter_free(srv, w);
	switch (result) {
	case DSM_KRES_RETRY:
		out = DSM_WAIT_RETRY;
		break;
	case DSM_KRES_TIMEOUT:
		dsm_count(DSM_ST_TIMEOUTS);
		out = DSM_WAIT_FAILED;
		break;
	case DSM_KRES_GONE:
	case DSM_RES_SIGBUS:
		out = DSM_WAIT_FAILED;
		break;
	default:
		out = DSM_WAIT_GRANTED;
		break;
	}
	return out;
}

/* ---------------------------------------------------------- completions */

static bool result_fits(u8 req_flags, u8 result)
{
	if (result == DSM_RES_SIGBUS || result == DSM_RES_MAP_RW)
		return true;
	/* A read may get a shared copy or the zero page, a write may not. */
	return !(req_flags & DSM_FAULT_WRITE);
}

/* Match a completion to its waiter: the token's slot and generation, and
 * the page it names.  Returns the waiter's request flags, or -1. */
static int cqe_match(struct dsm_server *srv, const struct dsm_fault_cqe *c)
{
	u64 slot = c->token >> 32;
	struct dsm_waiter *w;
	int flags = -1;

	if (slot >= srv->nwaiters)
		return -1;
	spin_lock(&srv->wlock);
	w = &srv->waiters[slot];
	if (w->busy && !w->answered && w->gen == (u32)c->token &&
	    w->seg_id == c->seg_id && w->pgno == c->pgno)
		flags = w->flags;
	spin_unlock(&srv->wlock);
	return flags;
}

static void cqe_finish(struct dsm_server *srv, const struct dsm_fault_cqe *c,
		       u8 result, s32 status)
{
	struct dsm_waiter *w = &srv->waiters[c->token >> 32];

	spin_lock(&srv->wlock);
	if (w->busy && !w->answered && w->gen == (u32)c->token)
		waiter_answer(srv, w, result, status);
	spin_unlock(&srv->wlock);
}

static void cqe_apply(struct dsm_server *srv, const struct dsm_fault_cqe *c)
{
	int flags = cqe_match(srv, c);
	struct dsm_seg *seg;

	if (flags < 0) {
		dsm_count(DSM_ST_CQE_STALE);
		return;
	}
	if (!result_fits(flags, c->result)) {
		dsm_count(DSM_ST_CQE_MISMATCH);
		cqe_finish(srv, c, DSM_RES_SIGBUS, -EPROTO);
		return;
	}
	/* Record the grant before waking the fault: its retry maps what the
	 * segment's page state says. */
	if (c->result != DSM_RES_SIGBUS) {
		seg = dsm_seg_get(c->seg_id);
		if (seg) {
			dsm_seg_grant(seg, c->pgno, c->result);
			dsm_seg_put(seg);
		}
	}
	dsm_count(DSM_ST_CQES);
	cqe_finish(srv, c, c->result, c->status);
}

static int consume_cq(struct dsm_server *srv, u32 *done)
{
	struct dsm_kring *r = &srv->ring[DSM_RING_CQ];
	int n = dsm_kring_avail(r), i;

	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		struct dsm_fault_cqe c;
		enum dsm_ring_bad why;

		dsm_kring_peek(r, i, &c);
		why = dsm_ring_check_cqe(&c);
		if (why != DSM_RING_OK)
			dsm_count(DSM_ST_BAD0 + why);
		else
			cqe_apply(srv, &c);
	}
	dsm_kring_release(r, n);
	*done += n;
	return 0;
}

/* ------------------------------------------------------------- commands */

static int cmd_run(const struct dsm_cmd *m)
{
	struct dsm_seg *seg = dsm_seg_get(m->seg_id);
	int ret;

	if (!seg)
		return -ENOENT;
	if (m->opcode == DSM_OP_UNMAP_SEG)
		ret = dsm_seg_invalidate(seg, 0, seg->npages, false);
	else
		ret = dsm_seg_invalidate(seg, m->pgno, m->npages,
					 m->opcode == DSM_OP_DOWNGRADE);
	dsm_seg_put(seg);
	return ret;
}

/* Execute commands while the ACK ring has room: an ack is never dropped,
 * a command waits in its ring until its ack fits. */
static int consume_cmd(struct dsm_server *srv, u32 *done)
{
	struct dsm_kring *r = &srv->ring[DSM_RING_CMD];
	int n = dsm_kring_avail(r), i, ret = 0;

	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		struct dsm_cmd m;
		struct dsm_cmd_ack a;
		enum dsm_ring_bad why;

		dsm_kring_peek(r, i, &m);
		why = dsm_ring_check_cmd(&m);
		if (why != DSM_RING_OK) {
			dsm_count(DSM_ST_BAD0 + why);
			continue;
		}
		/* Only this loop (under enter_lock) produces acks, so
		 * room seen here is still there when we produce. */
		ret = dsm_kring_room(&srv->ring[DSM_RING_ACK]);
		if (ret < 0)
			break;          /* corrupt head: the server is dropped */
		if (ret == 0)
			break;
		a = (struct dsm_cmd_ack){
			.opcode = DSM_OP_CMD_ACK, .cmd = m.opcode,
			.seg_id = m.seg_id, .token = m.token, .pgno = m.pgno,
			.npages = m.npages, .status = cmd_run(&m),
		};
		dsm_count(a.status ? DSM_ST_CMD_ERRORS : DSM_ST_CMDS);
		ret = server_produce(srv, DSM_RING_ACK, &a);
		if (ret) {
			i++;
			break;
		}
	}
	dsm_kring_release(r, i);
	*done += i;
	return ret == -ENOTCONN || ret == -EPROTO ? ret : 0;
}

/* ---------------------------------------------------------------- ENTER */

static int enter_wait(struct dsm_server *srv, u32 timeout_ms)
{
	long left = wait_event_interruptible_timeout(srv->poll_wq,
			server_ready(srv) || READ_ONCE(srv->dead),
			msecs_to_jiffies(timeout_ms));

	return left < 0 ? -EINTR : 0;
}

int dsm_server_enter(struct dsm_server *srv, struct dsm_kenter *ke)
{
	int ret;

	if ((ke->flags & ~DSM_ENTER_F_ALL) || ke->resv0 || ke->resv[0])
		return -EINVAL;
	if ((ke->flags & DSM_ENTER_WAIT) &&
	    (ke->timeout_ms == 0 || ke->timeout_ms > DSM_ENTER_MAX_TIMEOUT_MS))
		return -EINVAL;
	if (READ_ONCE(srv->dead))
		return -ENOTCONN;
	ke->cqes = 0;
	ke->cmds = 0;
	mutex_lock(&srv->enter_lock);
	/* Completions before commands: a command is always a later event
	 * than the completions posted before it (see docs/ring-abi.md). */
	ret = consume_cq(srv, &ke->cqes);
	if (ret == 0)
		ret = consume_cmd(srv, &ke->cmds);
	mutex_unlock(&srv->enter_lock);
	if (ret == -EPROTO)
		server_corrupt(srv, DSM_RING_NR);   /* CQ, CMD or ACK: all ours to read */
	if (ret)
		return -ENOTCONN;
	/* Faults waiting for ring space may find some now. */
	wake_up(&srv->space_wq);
	if (ke->flags & DSM_ENTER_WAIT)
		ret = enter_wait(srv, ke->timeout_ms);
	ke->ready = server_ready(srv);
	return ret;
}

/* ---------------------------------------------------------------- notes */

/* Called with the NOTE ring's lock held: owe a NOTE_LOST if it is full.
 * Returns -EPROTO if the server's head is out of range (the caller drops
 * the server once the lock is released). */
static int note_produce(struct dsm_server *srv, struct dsm_note *n)
{
	struct dsm_kring *r = &srv->ring[DSM_RING_NOTE];
	struct dsm_note lost = {
		.opcode = DSM_OP_NOTE_LOST, .seg_id = DSM_RING_SEG_ALL,
	};

	int ret;

	if (srv->notes_lost) {
		lost.seq = srv->note_seq + 1;
		ret = dsm_kring_produce(r, &lost);
		if (ret) {
			dsm_count(DSM_ST_NOTES_LOST);
			return ret == -EPROTO ? ret : 0;
		}
		srv->note_seq++;
		srv->notes_lost = false;
	}
	n->seq = srv->note_seq + 1;
	ret = dsm_kring_produce(r, n);
	if (ret) {
		srv->notes_lost = true;
		dsm_count(DSM_ST_NOTES_LOST);
		return ret == -EPROTO ? ret : 0;
	}
	srv->note_seq++;
	dsm_count(DSM_ST_NOTES);
	server_kick(srv, r);
	return 0;
}

void dsm_server_note(u8 op, u32 seg_id, u64 pgno, u64 npages, u32 pid)
{
	struct dsm_server *srv = dsm_server_get();
	struct dsm_note n = {
		.opcode = op, .seg_id = seg_id, .pgno = pgno,
		.npages = (u32)min_t(u64, npages, U32_MAX), .pid = pid,
	};

	if (!srv)
		return;
	int ret;

	spin_lock(&srv->ring[DSM_RING_NOTE].lock);
	ret = note_produce(srv, &n);
	spin_unlock(&srv->ring[DSM_RING_NOTE].lock);
	if (ret == -EPROTO)
		server_corrupt(srv, DSM_RING_NOTE);
	dsm_server_put(srv);
}
