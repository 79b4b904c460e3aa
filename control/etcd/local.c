/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "etcd/etcd.h"
#include "etcd/local.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int dsm_etcd_free_ports(int *ports, int n)
{
	int fd[4] = { -1, -1, -1, -1 }, ret = 0;

	if (n < 1 || n > 4)
		return -EINVAL;
	for (int i = 0; i < n && ret == 0; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(sa);

		fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd[i] < 0 || bind(fd[i], (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    getsockname(fd[i], (struct sockaddr *)&sa, &len) < 0)
			ret = -errno;
		else
			ports[i] = ntohs(sa.sin_port);
	}
	for (int i = 0; i < n; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return ret;
}

static void exec_etcd(const struct dsm_etcd_local *l, const char *purl)
{
	const char *bin = getenv("DSM_ETCD_BIN") ? getenv("DSM_ETCD_BIN") : "etcd";
	char data[300], log[300], cluster[96];
	int fd;

	snprintf(data, sizeof(data), "%s/data", l->dir);
	snprintf(log, sizeof(log), "%s/etcd.log", l->dir);
	snprintf(cluster, sizeof(cluster), "local=%s", purl);
	prctl(PR_SET_PDEATHSIG, SIGKILL);   /* never outlive whoever started it */
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execlp(bin, bin, "--name", "local", "--data-dir", data,
	       "--listen-client-urls", l->url, "--advertise-client-urls", l->url,
	       "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
	       "--initial-cluster", cluster, "--heartbeat-interval", "10",
	       "--election-timeout", "100", (char *)NULL);
	_exit(127);
}

/* Ready once a put goes through: a leader exists and serves writes. */
static int wait_ready(struct dsm_etcd_local *l, unsigned timeout_ms)
{
	struct dsm_etcd *c = dsm_etcd_new(l->url, 500, NULL);
	uint64_t deadline = now_ms() + timeout_ms;
	int ret = -ETIMEDOUT;

	while (c && now_ms() < deadline) {
		struct timespec ts = { 0, 50 * 1000000L };

		if (waitpid(l->pid, NULL, WNOHANG) == l->pid) {
			l->pid = -1;
			ret = -ECHILD;
			break;
		}
		if (dsm_etcd_put(c, "dsm-local-etcd-ready", "1", 1, 0, NULL) == 0) {
			ret = 0;
			break;
		}
		nanosleep(&ts, NULL);   /* polling a server that is starting */
	}
	dsm_etcd_free(c);
	return c ? ret : -ENOMEM;
}

int dsm_etcd_local_start(struct dsm_etcd_local *l, const char *dir, int client_port,
			 unsigned timeout_ms)
{
	int ports[2] = { client_port, 0 }, ret;
	char purl[64];

	memset(l, 0, sizeof(*l));
	l->pid = -1;
	if (dir) {
		snprintf(l->dir, sizeof(l->dir), "%s", dir);
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -errno;
	} else {
		snprintf(l->dir, sizeof(l->dir), "/tmp/dsm-etcd-XXXXXX");
		if (!mkdtemp(l->dir))
			return -errno;
		l->made_dir = true;
	}
	ret = dsm_etcd_free_ports(client_port ? &ports[1] : ports, client_port ? 1 : 2);
	if (ret)
		return ret;
	snprintf(l->url, sizeof(l->url), "http://127.0.0.1:%d", ports[0]);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", ports[1]);
	l->pid = fork();
	if (l->pid == 0)
		exec_etcd(l, purl);
	if (l->pid < 0)
		return -errno;
	ret = wait_ready(l, timeout_ms);
	if (ret)
		dsm_etcd_local_stop(l, true);
	return ret;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

void dsm_etcd_local_stop(struct dsm_etcd_local *l, bool keep_dir)
{
	if (l->pid > 0) {
		uint64_t deadline = now_ms() + 5000;

		kill(l->pid, SIGTERM);
		while (waitpid(l->pid, NULL, WNOHANG) == 0) {
			struct timespec ts = { 0, 20 * 1000000L };

			if (now_ms() > deadline) {
				kill(l->pid, SIGKILL);
				waitpid(l->pid, NULL, 0);
				break;
			}
			nanosleep(&ts, NULL);   /* waiting for a process to exit */
		}
	}
	l->pid = -1;
	if (l->made_dir && !keep_dir)
		nftw(l->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
