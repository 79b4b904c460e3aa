/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A local single-member etcd (etcd-server's binary) on loopback: what a
 * node starts when no etcd endpoint is configured, and what the tests run
 * against.  Fast election settings (10 ms heartbeat, 100 ms election), its
 * own ports and data directory, stopped by pid; it dies with its parent.
 */
#ifndef DSM_CONTROL_ETCD_LOCAL_H
#define DSM_CONTROL_ETCD_LOCAL_H

#include <stdbool.h>
#include <sys/types.h>

struct dsm_etcd_local {
	pid_t pid;
	char url[64];        /* http://127.0.0.1:PORT, for dsm_etcd_new */
	char dir[256];       /* data dir and etcd.log live here */
	bool made_dir;       /* created by us (removed by stop) */
};

/* Start etcd with its data under dir (NULL: a new temp dir), on
 * client_port (0: a free one), and wait (up to timeout_ms) until it serves
 * writes.  0 or -errno (-ETIMEDOUT: it did not come up; see dir/etcd.log).
 * $DSM_ETCD_BIN overrides the binary ("etcd"). */
int dsm_etcd_local_start(struct dsm_etcd_local *l, const char *dir, int client_port,
			 unsigned timeout_ms);

/* n (1..4) distinct free loopback TCP ports, all held until all are known.
 * 0 or -errno. */
int dsm_etcd_free_ports(int *ports, int n);

/* Stop it (SIGTERM, then SIGKILL after 5 s); remove a temp dir unless
 * keep_dir. */
void dsm_etcd_local_stop(struct dsm_etcd_local *l, bool keep_dir);

#endif /* DSM_CONTROL_ETCD_LOCAL_H */
