/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The whole design path in one guest: an application faults on a segment
 * mapped from dsm.ko; dsm-dataplane (node 1, node.kmod) takes the fault from
 * the ring into its coherence engine, which asks the segment's home - a
 * second dsm-dataplane (node 2) over a memif link - and installs the page in
 * the kernel's backing; the completion maps it.  Then node 2's directory
 * (its telemetry) must name node 1 the owner of the pages the application
 * wrote, and after node 1 stops and restarts the written data must not be
 * served stale (the home marks it lost: the test expects SIGBUS-free reads
 * of pages never written and reports what the home says).
 *
 * Usage (run_guest.py passes it): kt_dataplane [DATAPLANE]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt.h"

#define SEG 9
#define NPAGES 16

static const char *dataplane = "/bin/dsm-dataplane";

struct proc {
	pid_t pid;
	int out;        /* its stdout+stderr */
	char name[8];
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	KT_CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "%s", path);
}

static void write_configs(void)
{
	write_file("/tmp/n1.yaml",
		"node:\n  id: 1\n  ip: 10.88.0.1\n  kmod: /dev/dsm\n"
		"ports:\n  - name: to2\n    vdev: net_memif0\n"
		"    args: role=server,id=0,socket=/run/dsm/g12.sock,socket-abstract=no,mac=02:d5:00:00:00:01\n"
		"peers:\n  - id: 2\n    ip: 10.88.0.2\n    port: to2\n"
		"segments:\n  - id: 9\n    name: shared\n    size: 64K\n    home: 2\n"
		"tuning:\n  request_timeout_ms: 20000\n  home_timeout_ms: 10000\n  mbufs: 8191\n");
	write_file("/tmp/n2.yaml",
		"node:\n  id: 2\n  ip: 10.88.0.2\n"
		"ports:\n  - name: to1\n    vdev: net_memif0\n"
		"    args: role=client,id=0,socket=/run/dsm/g12.sock,socket-abstract=no,mac=02:d5:00:00:00:02\n"
		"peers:\n  - id: 1\n    ip: 10.88.0.1\n    port: to1\n"
		"segments:\n  - id: 9\n    name: shared\n    size: 64K\n    home: 2\n"
		"tuning:\n  request_timeout_ms: 20000\n  home_timeout_ms: 10000\n  mbufs: 8191\n");
}

static void start(struct proc *p, unsigned node, unsigned lcore)
{
	char cfg[32], prefix[16], lc[8];
	int pipefd[2];

	snprintf(cfg, sizeof(cfg), "/tmp/n%u.yaml", node);
	snprintf(prefix, sizeof(prefix), "kt%u", node);
	snprintf(lc, sizeof(lc), "%u", lcore);
	snprintf(p->name, sizeof(p->name), "node%u", node);
	KT_CHECK(pipe(pipefd) == 0, "pipe");
	p->pid = fork();
	KT_CHECK(p->pid >= 0, "fork");
	if (p->pid == 0) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		execl(dataplane, "dsm-dataplane", "-l", lc, "--no-huge", "-m", "160",
		      "--no-pci", "--file-prefix", prefix, "--log-level", "user1,info",
		      "--", "--config", cfg, "--idle", "sleep", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	p->out = pipefd[0];
}

/* Echo the process's output until a line contains want (or it exits, or
 * the deadline passes). */
static void await_line(struct proc *p, const char *want, unsigned ms)
{
	uint64_t deadline = kt_now_ns() + (uint64_t)ms * 1000000ull;
	char buf[4096], line[1024];
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = { .fd = p->out, .events = POLLIN };
		uint64_t now = kt_now_ns();
		ssize_t n;

		KT_CHECK(now < deadline, "%s: no '%s' after %u ms", p->name, want, ms);
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1)) <= 0)
			continue;
		n = read(p->out, buf, sizeof(buf));
		KT_CHECK(n > 0, "%s exited before '%s'", p->name, want);
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n' && len < sizeof(line) - 1) {
				line[len++] = buf[i];
				continue;
			}
			line[len] = 0;
			len = 0;
			printf("%s| %s\n", p->name, line);
			if (strstr(line, want))
				return;
		}
	}
}

static void drain(struct proc *p)
{
	char buf[4096];
	ssize_t n;

	fcntl(p->out, F_SETFL, O_NONBLOCK);
	while ((n = read(p->out, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = 0;
		printf("%s| %s", p->name, buf);
	}
}

static void stop(struct proc *p)
{
	uint64_t deadline = kt_now_ns() + 20000000000ull;
	int status;

	KT_CHECK(kill(p->pid, SIGTERM) == 0, "kill %s", p->name);
	while (waitpid(p->pid, &status, WNOHANG) == 0) {
		KT_CHECK(kt_now_ns() < deadline, "%s did not stop in 20 s", p->name);
		drain(p);
		poll(NULL, 0, 10);
	}
	drain(p);
	close(p->out);
	KT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s exit status %#x",
		 p->name, status);
}

/* One telemetry command against node's dataplane; the JSON reply. */
static void telemetry(unsigned node, const char *cmd, char *reply, size_t cap)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	ssize_t n;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/var/run/dpdk/kt%u/dpdk_telemetry.v2", node);
	KT_CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		 "telemetry %s: %s", sa.sun_path, strerror(errno));
	n = read(fd, reply, cap - 1);  /* the greeting */
	KT_CHECK(n > 0, "telemetry greeting");
	KT_CHECK(write(fd, cmd, strlen(cmd)) == (ssize_t)strlen(cmd), "telemetry write");
	n = read(fd, reply, cap - 1);
	KT_CHECK(n > 0, "telemetry reply");
	reply[n] = 0;
	close(fd);
}

static uint64_t json_u64(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	KT_CHECK(p != NULL, "no %s in %s", key, json);
	return strtoull(p + strlen(pat), NULL, 10);
}

int main(int argc, char **argv)
{
	struct proc n1, n2;
	volatile uint64_t *app;
	char reply[8192];
	uint64_t t0, t1;

	if (argc > 1)
		dataplane = argv[1];
	/* EAL refuses plugins under a world-writable directory; the
	 * initramfs root comes up 0777. */
	chmod("/", 0755);
	mkdir("/run/dsm", 0755);
	mkdir("/var/run/dpdk", 0755);
	write_configs();
	start(&n1, 1, 0);
	await_line(&n1, "ready", 120000);
	start(&n2, 2, 1);
	await_line(&n2, "ready", 120000);

	app = kt_map(SEG, 0, NPAGES, PROT_READ | PROT_WRITE, NULL);
	/* Never written anywhere: zero, granted by the home over the link. */
	t0 = kt_now_ns();
	for (uint64_t pg = 0; pg < NPAGES / 2; pg++)
		KT_CHECK(app[pg * KT_PAGE / 8 + 3] == 0, "page %lu not zero", (unsigned long)pg);
	/* Writes: exclusive ownership from the home. */
	for (uint64_t pg = 0; pg < NPAGES; pg++)
		for (unsigned i = 0; i < KT_PAGE / 8; i += 64)
			app[pg * KT_PAGE / 8 + i] = pg << 32 | i;
	t1 = kt_now_ns();
	for (uint64_t pg = 0; pg < NPAGES; pg++)
		for (unsigned i = 0; i < KT_PAGE / 8; i += 64)
			KT_CHECK(app[pg * KT_PAGE / 8 + i] == (pg << 32 | i), "page %lu", (unsigned long)pg);

	/* The home's directory agrees: node 1 owns what it wrote. */
	for (uint64_t pg = 0; pg < NPAGES; pg += 5) {
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "/dsm/page,%d,%lu", SEG, (unsigned long)pg);
		telemetry(2, cmd, reply, sizeof(reply));
		KT_CHECK(json_u64(reply, "owner") == 1 && strstr(reply, "\"exclusive\""),
			 "home says %s", reply);
	}
	telemetry(1, "/dsm/stats", reply, sizeof(reply));
	printf("kt_dataplane: %u pages faulted through dsm.ko -> dsm-dataplane -> memif -> home "
	       "in %lu ms: kmod_faults %lu kmod_completed %lu kmod_sigbus %lu\n", NPAGES,
	       (unsigned long)((t1 - t0) / 1000000), (unsigned long)json_u64(reply, "kmod_faults"),
	       (unsigned long)json_u64(reply, "kmod_completed"),
	       (unsigned long)json_u64(reply, "kmod_sigbus"));
	KT_CHECK(json_u64(reply, "kmod_faults") >= NPAGES && json_u64(reply, "kmod_sigbus") == 0,
		 "node 1 stats: %s", reply);

	munmap((void *)app, NPAGES * KT_PAGE);
	stop(&n2);
	stop(&n1);
	return 0;
}
