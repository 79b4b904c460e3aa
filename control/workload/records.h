/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The workload records in etcd (docs/control.md, key schema):
 *   P+"workloads/<name>/spec"    desired state, written by dsmctl;
 *   P+"workloads/<name>/status"  actual state, written by node supervisors.
 * Their JSON, both ways.  Pure (jansson only), so it is unit-tested.
 *
 * Decoding is lenient where the gateway and other writers differ: int64
 * values may be JSON numbers or decimal strings, unknown fields are
 * ignored, absent optional fields take their defaults.  It is strict about
 * what the supervisor acts on: a spec without a valid name, node, gen or
 * argv is rejected (-EPROTO: not JSON or a field of the wrong type;
 * -EINVAL: values out of range).
 */
#ifndef DSM_CONTROL_WORKLOAD_RECORDS_H
#define DSM_CONTROL_WORKLOAD_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DSM_WL_NAME_MAX  63
#define DSM_WL_ARGV_MAX  256
#define DSM_WL_ENV_MAX   256
#define DSM_WL_ERROR_MAX 200

enum dsm_wl_state {
	DSM_WL_NONE = 0,      /* no status */
	DSM_WL_STARTING,
	DSM_WL_RUNNING,
	DSM_WL_STOPPING,      /* asked to stop at a safe point */
	DSM_WL_STOPPED,       /* stopped at a safe point (migrated away) */
	DSM_WL_EXITED,        /* ended by itself */
	DSM_WL_FAILED,        /* could not start, killed, or lost */
};

/* A generation in one of these states has ended: the next may start. */
static inline bool dsm_wl_state_terminal(enum dsm_wl_state s)
{
	return s == DSM_WL_STOPPED || s == DSM_WL_EXITED || s == DSM_WL_FAILED;
}

const char *dsm_wl_state_name(enum dsm_wl_state s);
/* 0, or -EINVAL for an unknown name. */
int dsm_wl_state_parse(const char *name, enum dsm_wl_state *s);

/* [A-Za-z0-9._-], 1..63 characters, not "." or "..": it names files. */
bool dsm_wl_name_valid(const char *name);

struct dsm_wl_spec {
	char name[DSM_WL_NAME_MAX + 1];
	uint16_t node;
	uint64_t gen;         /* >= 1 */
	char **argv;          /* argc strings + NULL */
	unsigned argc;        /* >= 1 */
	char **env;           /* "K=V" strings + NULL (never NULL itself) */
	unsigned nenv;
};

int  dsm_wl_spec_decode(const char *json, size_t len, struct dsm_wl_spec *s);
/* *out: malloc'd NUL-terminated JSON.  0 or -ENOMEM/-EINVAL. */
int  dsm_wl_spec_encode(const struct dsm_wl_spec *s, char **out);
void dsm_wl_spec_free(struct dsm_wl_spec *s);

struct dsm_wl_status {
	char name[DSM_WL_NAME_MAX + 1];
	uint64_t gen;
	uint16_t node;
	enum dsm_wl_state state;
	int pid;                 /* 0: none */
	bool has_exit;
	int exit;                /* exit status, or 128 + signal */
	int64_t start_ms;        /* wall clock, ms since the epoch; 0: absent */
	int64_t stop_ms;         /* when the process ended; 0: absent */
	bool has_downtime;
	int64_t downtime_ms;     /* start_ms - the previous generation's stop_ms */
	int64_t safepoint_ms;    /* stop request to exit; 0: absent */
	bool has_ws;
	uint64_t ws_pages;       /* pages in the hot list */
	uint64_t ws_moved;       /* of them now held by this node */
	int64_t ws_done_ms;      /* when ws_moved reached ws_pages (or gave up) */
	int64_t spec_rev;        /* create_revision of the spec it runs; 0: absent */
	char error[DSM_WL_ERROR_MAX];
};

int dsm_wl_status_decode(const char *json, size_t len, struct dsm_wl_status *s);
int dsm_wl_status_encode(const struct dsm_wl_status *s, char **out);

#endif /* DSM_CONTROL_WORKLOAD_RECORDS_H */
