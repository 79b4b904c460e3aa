/* SPDX-License-Identifier: BSD-3-Clause */
/* The clock of the live tests (real etcd, real threads): milliseconds on
 * CLOCK_MONOTONIC for deadlines, and the pause between two polls of a
 * condition that has a deadline (never a wait standing in for one). */
#ifndef DSM_TESTS_LIVE_CLOCK_H
#define DSM_TESTS_LIVE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void poll_pause_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

#endif /* DSM_TESTS_LIVE_CLOCK_H */
