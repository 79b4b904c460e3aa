/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the guest tests of dsm.ko (run by tests/kmod/run_guest.py in
 * a qemu guest; each test is a static binary that exits 0 on success).
 * The server side of every test uses the project's own ring code
 * (dataplane/ring) and device handle (dataplane/kfront/kdev).
 */
#ifndef DSM_KT_H
#define DSM_KT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kfront/kdev.h"

#define KT_DEV "/dev/dsm"
#define KT_PAGE 4096u

/* Fail the test with where and why. */
#define KT_CHECK(cond, ...) do {                                           \
	if (!(cond)) {                                                     \
		fprintf(stderr, "CHECK FAILED %s:%d: %s: ", __FILE__,      \
			__LINE__, #cond);                                  \
		fprintf(stderr, __VA_ARGS__);                              \
		fprintf(stderr, "\n");                                     \
		exit(1);                                                   \
	}                                                                  \
} while (0)

uint64_t kt_now_ns(void);
void kt_set_param(const char *name, unsigned value);
struct dsm_kstats kt_stats(void);
uint64_t kt_bad_total(const struct dsm_kstats *st);

/* A test server: the rings, one segment, and a thread that serves faults
 * with a policy callback until stopped.  The callback returns the cqe
 * result for one request (it may write the backing first); returning 0
 * leaves the fault unanswered. */
struct kt_server;
typedef uint8_t (*kt_policy)(struct kt_server *s, const struct dsm_fault_req *r);

struct kt_server {
	struct dsm_kdev kd;
	uint32_t seg_id;
	uint64_t npages;
	uint8_t *mem;
	kt_policy policy;
	void *arg;
	pthread_t thread;
	volatile bool stop;
	bool running;
	/* Seen by the serving thread. */
	/* Written by the serving thread, read by the test: volatile so the
	 * test re-reads them after each access that faults. */
	volatile uint64_t faults, reads, writes, wp;
	volatile uint64_t notes_munmap, notes_exit, notes_lost;
	uint64_t acks;
	volatile struct dsm_note last_note;
};

void kt_server_open(struct kt_server *s, uint32_t features, uint32_t entries,
		    uint32_t seg_id, uint64_t npages, kt_policy policy);
void kt_server_start(struct kt_server *s);
void kt_server_stop(struct kt_server *s);
void kt_server_close(struct kt_server *s);
/* In a forked child: drop the inherited references to the server's file
 * (fd and mappings), so that the server's release is not held up by it. */
void kt_server_forget(struct kt_server *s);
/* One pass of the serving loop (for tests that drive it themselves):
 * returns the entries handled. */
unsigned kt_server_poll(struct kt_server *s);
/* Post a completion and enter the kernel. */
void kt_complete(struct kt_server *s, const struct dsm_fault_req *r, uint8_t result,
		 int32_t status);
/* Post a command and wait for its ack; returns the ack status.  The only
 * reader of the ACK ring (call it from one thread at a time). */
int32_t kt_command(struct kt_server *s, uint8_t op, uint64_t pgno, uint32_t npages);

/* A client mapping of the test segment. */
void *kt_map(uint32_t seg_id, uint64_t pgno, uint64_t npages, int prot, int *fdp);

/* Percentile of n sorted values. */
uint64_t kt_pct(const uint64_t *sorted, size_t n, double p);
void kt_sort(uint64_t *v, size_t n);

#endif /* DSM_KT_H */
