/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm_row.c - the `dsm' row: attach a segment through libdsm (served by a
 * running dsm-dataplane) and time read and write faults on fresh pages.
 *
 * Unless --dsm-no-fill, a forked child first attaches the segment (through
 * --dsm-fill-socket if given, e.g. another node's dataplane, so that the
 * measured faults fetch over the network) and writes the expected pattern
 * into every page the row will touch, then detaches and exits; this
 * process has never touched those pages, so each access below is a fault
 * served by the dataplane, and its content is checked against the pattern.  With --dsm-no-fill the pages must read as
 * zero (a fresh segment, e.g. homed on another node).  A segment that does
 * not exist is created here (4 KiB pages, read/write) and destroyed after.
 *
 * Compiled in every build (to keep it in step with dsm.h); linked into
 * dsm-faultlat only when meson has libdsm_dep.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <dsm/dsm.h>

#include "faultlat.h"

static void dsm_check(int rc, const char *what, const struct fl_opts *o)
{
	if (rc < 0)
		fl_fatal("dsm: %s (socket %s, segment %s): %s", what,
			 o->dsm_socket ? o->dsm_socket : "default",
			 o->dsm_segment, dsm_strerror(rc));
}

static void __attribute__((noreturn))
filler_main(const struct fl_opts *o, const struct fl_trace *tr)
{
	struct dsm_ctx *ctx;
	void *addr;
	size_t len;
	int rc = dsm_open(o->dsm_fill_socket ? o->dsm_fill_socket
					     : o->dsm_socket, &ctx);

	if (rc == 0)
		rc = dsm_attach(ctx, o->dsm_segment,
				DSM_SEG_READ | DSM_SEG_WRITE, &addr, &len);
	if (rc < 0) {
		fprintf(stderr, "dsm-faultlat: dsm filler: %s\n",
			dsm_strerror(rc));
		_exit(FL_EXIT_ERROR);
	}
	for (size_t n = 0; n < tr->npages; n++)
		fl_fill_page((char *)addr + n * FL_PAGE, tr->seed, n);
	rc = dsm_detach(ctx, addr);
	dsm_close(ctx);
	if (rc < 0) {
		fprintf(stderr, "dsm-faultlat: dsm filler: detach: %s\n",
			dsm_strerror(rc));
		_exit(FL_EXIT_ERROR);
	}
	_exit(0);
}

void fl_run_dsm(const char *row, const struct fl_opts *o, struct fl_trace *tr)
{
	struct dsm_ctx *ctx;
	struct dsm_segment_info info;
	uint64_t need = (uint64_t)tr->npages * FL_PAGE;
	bool created = false;

	dsm_check(dsm_open(o->dsm_socket, &ctx), "dsm_open", o);
	int rc = dsm_segment_info(ctx, o->dsm_segment, &info);
	if (rc == -ENOENT) {
		dsm_check(dsm_segment_create(ctx, o->dsm_segment, need,
					     DSM_SEG_READ | DSM_SEG_WRITE, 0,
					     NULL),
			  "dsm_segment_create", o);
		created = true;
		rc = dsm_segment_info(ctx, o->dsm_segment, &info);
	}
	dsm_check(rc, "dsm_segment_info", o);
	if (info.page_size != FL_PAGE || (info.flags & DSM_SEG_HUGE))
		fl_fatal("dsm: segment %s has %u-byte pages; this benchmark "
			 "measures 4 KiB pages", o->dsm_segment,
			 info.page_size);
	if (info.size < need)
		fl_fatal("dsm: segment %s is %llu bytes; %zu samples + %zu "
			 "warm-up (reads and writes) need %llu", o->dsm_segment,
			 (unsigned long long)info.size, tr->samples,
			 tr->warmup, (unsigned long long)need);
	if ((info.prot & (DSM_SEG_READ | DSM_SEG_WRITE)) !=
	    (DSM_SEG_READ | DSM_SEG_WRITE))
		fl_fatal("dsm: segment %s is not read/write", o->dsm_segment);

	if (!o->dsm_no_fill) {
		pid_t parent = getpid();

		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0)
			fl_fatal_errno(errno, "fork (dsm filler)");
		if (pid == 0) {
			fl_child_init(parent);
			filler_main(o, tr);
		}
		fl_child_add(pid);
		fl_child_wait(pid, "dsm filler");
	}

	void *addr;
	size_t len;
	dsm_check(dsm_attach(ctx, o->dsm_segment, DSM_SEG_READ | DSM_SEG_WRITE,
			     &addr, &len), "dsm_attach", o);
	if (len < need)
		fl_fatal("dsm: attached %zu bytes, need %llu", len,
			 (unsigned long long)need);
	fl_fault_loop(row, addr, tr, o->dsm_no_fill);
	dsm_check(dsm_detach(ctx, addr), "dsm_detach", o);
	if (created)
		dsm_check(dsm_segment_destroy(ctx, o->dsm_segment),
			  "dsm_segment_destroy", o);
	dsm_close(ctx);
}
