/* SPDX-License-Identifier: BSD-3-Clause */
/* Error lines and clocks shared by the commands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dsmctl/dsmctl.h"

int dsmctl_err(int code, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);   /* progress already shown comes before the error */
	fputs("dsmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* Transport failures: nothing answered, as opposed to an etcd that
 * answered with an error. */
static bool unreachable(int ret)
{
	return ret == -ECONNREFUSED || ret == -ETIMEDOUT || ret == -EHOSTUNREACH ||
	       ret == -ECONNRESET || ret == -ENETUNREACH || ret == -EAGAIN;
}

int dsmctl_etcd_err(const struct dsmctl *c, const char *what, int ret)
{
	const char *why = dsm_etcd_last_error(c->etcd);

	if (!why[0])
		why = strerror(-ret);
	if (unreachable(ret))
		return dsmctl_err(DSMCTL_EETCD, "etcd unreachable at %s (%s: %s)",
				  c->args->etcd, what, why);
	return dsmctl_err(DSMCTL_EETCD, "etcd at %s: %s: %s", c->args->etcd, what, why);
}

static uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t dsmctl_now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

uint64_t dsmctl_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}
