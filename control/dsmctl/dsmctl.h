/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsmctl, the operator's command line: what it was asked (struct
 * dsmctl_args, filled by args.c without I/O so it can be unit-tested),
 * the context every command runs with (struct dsmctl), the exit codes and
 * the commands themselves (cmd_*.c).
 *
 * Every failure is one line on stderr starting with "dsmctl: " and one of
 * the exit codes below, so scripts can tell "not there" from "etcd down".
 */
#ifndef DSM_CONTROL_DSMCTL_H
#define DSM_CONTROL_DSMCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd/etcd.h"

enum dsmctl_exit {
	DSMCTL_OK = 0,
	DSMCTL_EFAIL = 1,       /* the operation failed: workload failed, timeout */
	DSMCTL_EUSAGE = 2,      /* usage, bad arguments */
	DSMCTL_ENOTFOUND = 3,   /* unknown node, segment, workload */
	DSMCTL_EETCD = 4,       /* etcd unreachable or answering errors */
};

enum dsmctl_cmd {
	DSMCTL_CMD_NONE = 0,
	DSMCTL_CMD_NODES,
	DSMCTL_CMD_SEGMENTS,
	DSMCTL_CMD_STATS,
	DSMCTL_CMD_PAGE,
	DSMCTL_CMD_WORKLOADS,
	DSMCTL_CMD_RUN,
	DSMCTL_CMD_MIGRATE,
	DSMCTL_CMD_STOP,
	DSMCTL_CMD_DRAIN,
	DSMCTL_CMD_UNDRAIN,
};

#define DSMCTL_DEFAULT_ETCD    "http://127.0.0.1:23790"
#define DSMCTL_DEFAULT_CLUSTER "dsm"
#define DSMCTL_DEFAULT_TIMEOUT 30
#define DSMCTL_NAME_MAX        64   /* workload and cluster names, with the NUL */
#define DSMCTL_MAX_ENV         64
#define DSMCTL_MAX_NODE        63   /* node ids are 1..63 (membership/view.h) */

struct dsmctl_args {
	const char *etcd;           /* endpoint list */
	const char *cluster;
	bool json;
	bool help;
	unsigned timeout_s;
	enum dsmctl_cmd cmd;
	unsigned node;              /* --node N, --to N, drain N; 0: not given */
	const char *segment;        /* --segment S, page SEG: an id or a name */
	uint64_t pgno;
	const char *workload;       /* --name W, migrate W, stop W */
	const char *env[DSMCTL_MAX_ENV];   /* "K=V" */
	unsigned nenv;
	char **argv;                /* run: the command and its arguments */
	int argc;
	bool no_wait;
};

/*
 * Parse argv (global options, the subcommand, its options).  env_etcd is
 * $DSM_ETCD (NULL: unset).  Returns 0, or -EINVAL with a one-line reason
 * in err (without the "dsmctl: " prefix).  Pointers in *a point into argv.
 */
int dsmctl_parse_args(int argc, char **argv, const char *env_etcd,
		      struct dsmctl_args *a, char *err, size_t errlen);

/* The --help text (exit codes included). */
extern const char dsmctl_usage[];

/* A workload name is a key component: [A-Za-z0-9._-], 1..63 chars, not "." or "..". */
bool dsmctl_name_ok(const char *name);

struct dsmctl {
	const struct dsmctl_args *args;
	struct dsm_etcd *etcd;
	char prefix[DSMCTL_NAME_MAX + 16];   /* "/dsm/<cluster>/" */
	char host[256];                      /* this host, to find local sockets */
};

/* Print "dsmctl: <message>" on stderr and return code. */
int dsmctl_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An etcd call failed with ret: say what was being done, and why.  Returns
 * DSMCTL_EETCD. */
int dsmctl_etcd_err(const struct dsmctl *c, const char *what, int ret);

uint64_t dsmctl_now_ms(void);     /* wall clock, for timestamps others read */
uint64_t dsmctl_mono_ms(void);    /* monotonic, for durations and deadlines */

/* Commands: each returns an exit code and has printed any error. */
int dsmctl_cmd_nodes(struct dsmctl *c);
int dsmctl_cmd_segments(struct dsmctl *c);
int dsmctl_cmd_stats(struct dsmctl *c);
int dsmctl_cmd_page(struct dsmctl *c);
int dsmctl_cmd_workloads(struct dsmctl *c);
int dsmctl_cmd_run(struct dsmctl *c);
int dsmctl_cmd_migrate(struct dsmctl *c);
int dsmctl_cmd_stop(struct dsmctl *c);
int dsmctl_cmd_drain(struct dsmctl *c);
int dsmctl_cmd_undrain(struct dsmctl *c);

#endif /* DSM_CONTROL_DSMCTL_H */
