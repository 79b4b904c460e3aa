/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * No fault waits forever:
 *  - a server that never answers: the fault fails with SIGBUS within the
 *    deadline (fault_timeout_ms), the process gets it, nothing hangs;
 *  - a faulting process killed while it waits dies at once;
 *  - a server that goes away (its file released) fails the waiting fault
 *    at once, and later faults on the old mapping too;
 *  - a server that corrupts a ring index is dropped, its waiting faults
 *    fail, and a new server can be set up afterwards.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kt.h"

#define SEG 11
#define NPAGES 8

static uint8_t never(struct kt_server *s, const struct dsm_fault_req *r)
{
	(void)s;
	(void)r;
	return 0;
}

/* A child that maps the segment and reads page 0; exits 0 if the read
 * returned (it must not). */
static pid_t fault_in_child(struct kt_server *s)
{
	pid_t pid = fork();

	KT_CHECK(pid >= 0, "fork");
	if (pid == 0) {
		volatile uint64_t *p = kt_map(SEG, 0, NPAGES, PROT_READ, NULL);

		kt_server_forget(s);
		(void)p[0];
		_exit(0);
	}
	return pid;
}

/* Wait for child to end within ms; returns its wait status. */
static int reap(pid_t pid, unsigned ms, uint64_t *took_ns)
{
	uint64_t t0 = kt_now_ns(), deadline = t0 + (uint64_t)ms * 1000000ull;
	sigset_t set;
	int status;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		uint64_t now = kt_now_ns();
		struct timespec ts;

		KT_CHECK(r >= 0, "waitpid: %s", strerror(errno));
		if (r == pid) {
			*took_ns = now - t0;
			return status;
		}
		KT_CHECK(now < deadline, "child %d still running after %u ms", pid, ms);
		ts.tv_sec = (deadline - now) / 1000000000ull;
		ts.tv_nsec = (deadline - now) % 1000000000ull;
		sigtimedwait(&set, NULL, &ts); /* SIGCHLD, or the deadline */
	}
}

/* Block until the server sees the child's fault request. */
static void await_request(struct kt_server *s)
{
	uint64_t deadline = kt_now_ns() + 10000000000ull;

	while (dsm_ring_avail(&s->kd.rings.ring[DSM_RING_FAULT]) == 0) {
		KT_CHECK(kt_now_ns() < deadline, "no fault request after 10 s");
		dsm_kdev_enter(&s->kd, DSM_ENTER_WAIT, 100, NULL);
	}
}

static bool died_of(int status, int sig)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == sig;
}

static void unresponsive(void)
{
	const unsigned timeout_ms = 500;
	struct kt_server s;
	struct dsm_kstats st0 = kt_stats(), st1;
	uint64_t took;
	int status;

	kt_set_param("fault_timeout_ms", timeout_ms);
	kt_server_open(&s, DSM_RING_F_NEED_WAKEUP, 0, SEG, NPAGES, never);
	status = reap(fault_in_child(&s), 10 * timeout_ms, &took);
	KT_CHECK(died_of(status, SIGBUS), "status %#x, wanted SIGBUS", status);
	/* The deadline holds: not before it (it waited), and not long after. */
	KT_CHECK(took >= timeout_ms * 1000000ull && took < 4 * timeout_ms * 1000000ull,
		 "SIGBUS after %lu ms, deadline %u ms", (unsigned long)(took / 1000000), timeout_ms);
	st1 = kt_stats();
	KT_CHECK(st1.timeouts == st0.timeouts + 1 && st1.sigbus == st0.sigbus + 1,
		 "timeouts %lu sigbus %lu", (unsigned long)(st1.timeouts - st0.timeouts),
		 (unsigned long)(st1.sigbus - st0.sigbus));
	printf("kt_deadline: unanswered fault -> SIGBUS after %lu ms (deadline %u ms)\n",
	       (unsigned long)(took / 1000000), timeout_ms);
	kt_server_close(&s);
}

static void killed_while_waiting(void)
{
	struct kt_server s;
	struct dsm_kstats st0 = kt_stats(), st1;
	uint64_t took;
	pid_t pid;
	int status;

	kt_set_param("fault_timeout_ms", 20000);
	kt_server_open(&s, DSM_RING_F_NEED_WAKEUP, 0, SEG, NPAGES, never);
	pid = fault_in_child(&s);
	await_request(&s);
	KT_CHECK(kill(pid, SIGKILL) == 0, "kill");
	status = reap(pid, 3000, &took);
	KT_CHECK(died_of(status, SIGKILL), "status %#x", status);
	st1 = kt_stats();
	KT_CHECK(st1.killed == st0.killed + 1, "killed %lu", (unsigned long)(st1.killed - st0.killed));
	printf("kt_deadline: SIGKILL of a waiting fault -> gone in %lu ms\n",
	       (unsigned long)(took / 1000000));
	kt_server_close(&s);
}

static void server_goes_away(void)
{
	struct kt_server s;
	volatile uint64_t *p;
	uint64_t took;
	pid_t pid;
	int status, fd;

	kt_set_param("fault_timeout_ms", 20000);
	kt_server_open(&s, DSM_RING_F_NEED_WAKEUP, 0, SEG, NPAGES, never);
	p = kt_map(SEG, 0, NPAGES, PROT_READ, &fd);
	pid = fault_in_child(&s);
	await_request(&s);
	kt_server_close(&s);
	status = reap(pid, 3000, &took);
	KT_CHECK(died_of(status, SIGBUS), "status %#x, wanted SIGBUS", status);
	printf("kt_deadline: server gone -> waiting fault SIGBUS in %lu ms\n",
	       (unsigned long)(took / 1000000));
	/* Our old mapping now fails at once; a new attach is refused. */
	pid = fork();
	KT_CHECK(pid >= 0, "fork");
	if (pid == 0)
		_exit((int)p[0] & 0);
	status = reap(pid, 3000, &took);
	KT_CHECK(died_of(status, SIGBUS), "old mapping: status %#x", status);
	KT_CHECK(dsm_kdev_attach(KT_DEV, SEG, NULL) == -ENOENT, "attach after server gone");
	munmap((void *)p, NPAGES * KT_PAGE);
	close(fd);
}

static void corrupt_index(void)
{
	struct kt_server s;
	struct dsm_kstats st0 = kt_stats(), st1;
	uint64_t took;
	pid_t pid;
	int status;

	kt_set_param("fault_timeout_ms", 20000);
	kt_server_open(&s, DSM_RING_F_NEED_WAKEUP, 0, SEG, NPAGES, never);
	pid = fault_in_child(&s);
	await_request(&s);
	/* Publish a CQ tail further ahead than the ring is long. */
	__atomic_store_n(s.kd.rings.ring[DSM_RING_CQ].tail,
			 *s.kd.rings.ring[DSM_RING_CQ].head + s.kd.rings.ring[DSM_RING_CQ].entries + 7,
			 __ATOMIC_RELEASE);
	KT_CHECK(dsm_kdev_enter(&s.kd, 0, 0, NULL) == -ENOTCONN, "corrupt ring accepted");
	status = reap(pid, 3000, &took);
	KT_CHECK(died_of(status, SIGBUS), "status %#x, wanted SIGBUS", status);
	st1 = kt_stats();
	KT_CHECK(st1.corrupt == st0.corrupt + 1, "corrupt %lu", (unsigned long)(st1.corrupt - st0.corrupt));
	kt_server_close(&s);
	/* The module is fine: a new server works. */
	kt_server_open(&s, DSM_RING_F_NEED_WAKEUP, 0, SEG, NPAGES, never);
	kt_server_close(&s);
	printf("kt_deadline: corrupt ring index -> server dropped, fault SIGBUS in %lu ms\n",
	       (unsigned long)(took / 1000000));
}

int main(void)
{
	sigset_t set;

	/* SIGCHLD stays blocked so sigtimedwait can wait for it. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	unresponsive();
	killed_while_waiting();
	server_goes_away();
	corrupt_index();
	kt_set_param("fault_timeout_ms", 2000);
	return 0;
}
