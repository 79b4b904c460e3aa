/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The JSON values dsmctl reads and writes under /dsm/<cluster>/
 * (the schema is in docs/control.md, "dsmctl"):
 *   nodes/<id>              node record, written by each dsm-dataplane
 *   workloads/<W>/spec      desired state, written by dsmctl only
 *   workloads/<W>/status    actual state, written by the node supervisors
 *   drain/<id>              {"since_ms":..}, written by dsmctl drain
 *
 * Decoders are lenient the way the rest of the control plane is: int64
 * values may be numbers or decimal strings, unknown keys are ignored (a
 * newer writer may add some), optional fields may be missing.  A missing
 * required field or a wrong type is -EPROTO.  No I/O.
 */
#ifndef DSM_CONTROL_DSMCTL_RECORDS_H
#define DSM_CONTROL_DSMCTL_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsmctl/dsmctl.h"

/* Required: node.  Strings too long for their buffer are dropped ("" ). */
struct dsmctl_node_rec {
	unsigned node;
	uint64_t incarnation;
	char host[256];
	int64_t pid;
	char socket[108];        /* sizeof(sun_path) */
	char telemetry[108];
	uint64_t started_ms;
	bool draining;
};

int dsmctl_node_rec_decode(const char *json, size_t len, struct dsmctl_node_rec *r);

/* Required: argv (non-empty, strings), node, gen.  name may be missing
 * (the key names the workload). */
struct dsmctl_spec {
	char name[DSMCTL_NAME_MAX];
	unsigned node;
	uint64_t gen;
	size_t argc;
	char **argv;             /* malloc'd strings */
	size_t nenv;
	char **env;              /* "K=V", malloc'd */
};

int dsmctl_spec_decode(const char *json, size_t len, struct dsmctl_spec *s);
void dsmctl_spec_clear(struct dsmctl_spec *s);

/* The spec's JSON (malloc'd), int64 as numbers below 2^53 like the
 * supervisors expect.  NULL on allocation failure. */
char *dsmctl_spec_encode(const char *name, char *const *argv, size_t argc,
			 const char *const *env, size_t nenv, unsigned node, uint64_t gen);

/* The same spec on another node with another generation, every other key
 * kept as it was (a newer writer's fields survive a migrate).  Malloc'd
 * JSON, or NULL if json is not a spec object. */
char *dsmctl_spec_retarget(const char *json, size_t len, unsigned node, uint64_t gen);

enum dsmctl_state {
	DSMCTL_ST_UNKNOWN = 0,    /* a state this dsmctl does not know */
	DSMCTL_ST_STARTING,
	DSMCTL_ST_RUNNING,
	DSMCTL_ST_STOPPING,
	DSMCTL_ST_STOPPED,
	DSMCTL_ST_EXITED,
	DSMCTL_ST_FAILED,
};

const char *dsmctl_state_name(enum dsmctl_state s);

/* Which optional status fields were present. */
enum {
	DSMCTL_HAS_PID = 1 << 0,
	DSMCTL_HAS_EXIT = 1 << 1,
	DSMCTL_HAS_START = 1 << 2,
	DSMCTL_HAS_STOP = 1 << 3,
	DSMCTL_HAS_DOWNTIME = 1 << 4,
	DSMCTL_HAS_WS_PAGES = 1 << 5,
	DSMCTL_HAS_WS_MOVED = 1 << 6,
	DSMCTL_HAS_WS_DONE = 1 << 7,
};

/* Required: gen, node, state (a string). */
struct dsmctl_status {
	char name[DSMCTL_NAME_MAX];
	uint64_t gen;
	unsigned node;
	enum dsmctl_state state;
	char state_str[16];       /* as written, for display of unknown states */
	unsigned has;             /* DSMCTL_HAS_* */
	int64_t pid;
	int64_t exit_code;
	uint64_t start_ms, stop_ms, downtime_ms;
	uint64_t ws_pages, ws_moved, ws_done_ms;
	char error[256];
};

int dsmctl_status_decode(const char *json, size_t len, struct dsmctl_status *st);

/* The drain key's value: {"since_ms":N}.  Bytes written or -ENOSPC. */
int dsmctl_drain_encode(uint64_t since_ms, char *buf, size_t len);

#endif /* DSM_CONTROL_DSMCTL_RECORDS_H */
