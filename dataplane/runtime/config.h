/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Node configuration: parsed from a YAML file with libyaml's document API,
 * which keeps the line of every node, so every error - syntax or meaning -
 * is reported as file:line: message.  No EAL dependency: unit-testable.
 */
#ifndef DSM_RUNTIME_CONFIG_H
#define DSM_RUNTIME_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "dsm/wire.h"

#define DSM_CFG_MAX_PORTS    8
#define DSM_CFG_MAX_PEERS    (DSM_MAX_NODES - 1)
#define DSM_CFG_MAX_SEGMENTS 64
#define DSM_CFG_STR          256

struct dsm_cfg_port {
	char     name[64];        /* local name, referenced by peers */
	char     vdev[64];        /* vdev to create (net_memif0 ...), or "" */
	char     args[DSM_CFG_STR]; /* vdev arguments */
	char     device[64];      /* existing device name (a NIC), if no vdev */
	uint16_t mtu;             /* IP MTU: 1500 (fragments) or >= 4212 */
};

struct dsm_cfg_peer {
	uint16_t id;
	uint32_t ip;              /* host order */
	uint8_t  mac[6];
	uint16_t port;            /* index into ports[] */
	uint16_t udp_port;
};

struct dsm_cfg_segment {
	uint32_t id;
	char     name[DSM_SEG_NAME_MAX];
	uint64_t size;
	uint32_t page_size;
	uint16_t home;
	uint16_t prot;
};

struct dsm_cfg_cluster {
	bool     enabled;         /* a cluster section (or --etcd) was given */
	char     name[64];        /* keys live under /dsm/<name>/ */
	char     etcd[DSM_CFG_STR]; /* http://h:p[,...]; "" = the embedded one */
	uint16_t etcd_port;       /* embedded etcd's loopback client port */
	uint32_t lease_ttl_s;     /* failure detection within 2x this */
	char     state_dir[DSM_CFG_STR]; /* embedded etcd data, workload logs */
	bool     workloads;       /* run the workload supervisor */
};

struct dsm_config {
	char     path[DSM_CFG_STR];
	uint16_t node_id;
	uint32_t ip;
	uint8_t  mac[6];
	uint16_t udp_port;
	uint64_t epoch;
	/* The kernel fault front end: dsm.ko's device ("" = none). */
	char     kmod_device[DSM_CFG_STR];
	/* The userfaultfd front end's control socket ("" = none). */
	char     socket_path[DSM_CFG_STR];
	/* Membership in etcd (the cluster section; off without it). */
	struct dsm_cfg_cluster cluster;
	uint32_t nports;
	struct dsm_cfg_port ports[DSM_CFG_MAX_PORTS];
	uint32_t npeers;
	struct dsm_cfg_peer peers[DSM_CFG_MAX_PEERS];
	uint32_t nsegments;
	struct dsm_cfg_segment segments[DSM_CFG_MAX_SEGMENTS];
	/* engine / channel tuning (milliseconds / microseconds in the file) */
	uint64_t request_timeout_ns;
	uint64_t home_timeout_ns;
	uint64_t retry_base_ns;
	uint64_t retry_max_ns;
	uint32_t max_retries;
	uint32_t window;
	uint64_t rto_ns;
	uint64_t rto_min_ns;
	uint64_t rto_max_ns;
	uint32_t max_retx;
	uint32_t mbufs;
	/* Fault injection on receive (tests only; 0 = off): a seeded shim
	 * drops or duplicates this percentage of received frames. */
	uint32_t fault_drop_pct;
	uint32_t fault_dup_pct;
	uint64_t fault_seed;
};

/* Parse path into cfg.  On error returns -EINVAL (or -errno for I/O) and
 * writes "file:line: message" into err. */
int dsm_config_load(const char *path, struct dsm_config *cfg, char *err, size_t errlen);
/* Same, from a string (name is used in messages). */
int dsm_config_parse(const char *name, const char *text, size_t len,
		     struct dsm_config *cfg, char *err, size_t errlen);

const struct dsm_cfg_peer *dsm_config_peer(const struct dsm_config *cfg, uint16_t id);

#endif /* DSM_RUNTIME_CONFIG_H */
