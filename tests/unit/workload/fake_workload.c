/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A workload for supervisor_live: no dataplane, only libdsm's safe-point
 * side (dsm_safepoint_init / dsm_safepoint / dsm_resumed).  It prints one
 * JSON line at start (what the supervisor gave it) and one at its end.
 *   (no option)        idle until asked to stop, then exit 0 at the safe point
 *   --ignore-stop      never look at the stop request (to be killed)
 *   --exit-after MS --code N   end by itself after MS ms with status N
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dsm/dsm.h>

static const char *env(const char *k)
{
	const char *v = getenv(k);

	return v ? v : "";
}

static int hot_lines(const char *path, unsigned long long *pages)
{
	FILE *f = *path ? fopen(path, "r") : NULL;
	unsigned long long seg, first, count;
	char line[128];
	int n = 0;

	*pages = 0;
	while (f && fgets(line, sizeof(line), f))
		if (line[0] != '#' && sscanf(line, "%llu %llu %llu", &seg, &first, &count) == 3) {
			n++;
			*pages += count;
		}
	if (f)
		fclose(f);
	return f ? n : -1;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	int installed = dsm_safepoint_init(), ignore = 0, code = 0;
	long long exit_after = -1, t0 = mono_ms();
	unsigned long long pages;
	int lines;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ignore-stop") == 0)
			ignore = 1;
		else if (strcmp(argv[i], "--exit-after") == 0 && i + 1 < argc)
			exit_after = atoll(argv[++i]);
		else if (strcmp(argv[i], "--code") == 0 && i + 1 < argc)
			code = atoi(argv[++i]);
	}
	lines = hot_lines(env("DSM_HOTLIST"), &pages);
	printf("{\"event\":\"start\",\"installed\":%d,\"resumed\":%d,\"workload\":\"%s\","
	       "\"gen\":\"%s\",\"socket\":\"%s\",\"x\":\"%s\",\"hot_lines\":%d,"
	       "\"hot_pages\":%llu}\n", installed, dsm_resumed(NULL), env("DSM_WORKLOAD"),
	       env("DSM_GEN"), env("DSM_SOCKET"), env("WL_X"), lines, pages);
	fflush(stdout);
	for (;;) {
		/* A workload's unit of work: here, 2 ms of nothing. */
		poll(NULL, 0, 2);
		if (exit_after >= 0 && mono_ms() - t0 >= exit_after) {
			printf("{\"event\":\"exit\",\"code\":%d}\n", code);
			return code;
		}
		if (!ignore && dsm_safepoint(NULL)) {
			printf("{\"event\":\"stop\"}\n");
			dsm_safepoint_exit(NULL);
		}
	}
}
