/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsmctl workloads | run | migrate | stop: the workload specs (desired
 * state, written only here) and the statuses the node supervisors write
 * back.  Every spec write is a compare-and-swap on its mod_revision, so
 * two operators cannot both move one workload.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsmctl/migrate.h"
#include "dsmctl/table.h"
#include "dsmctl/wait.h"

/* ----------------------------------------------------------- workloads */

static void cell_state(struct dsmctl_table *t, const struct dsmctl_workload *w)
{
	const struct dsmctl_status *st = &w->status;

	if (!w->has_status)
		dsmctl_table_cell(t, "-");
	else if (w->bad_status)
		dsmctl_table_cell(t, "unreadable");
	else if (w->has_spec && !w->bad_spec &&
		 (st->gen != w->spec.gen || st->node != w->spec.node))
		/* The status is of another generation: a move in progress. */
		dsmctl_table_cell(t, "%s:gen%" PRIu64 "@%u", st->state_str, st->gen, st->node);
	else
		dsmctl_table_cell(t, "%s", st->state_str);
}

static void cell_command(struct dsmctl_table *t, const struct dsmctl_workload *w)
{
	char buf[512] = "";
	size_t off = 0;

	if (!w->has_spec || w->bad_spec) {
		dsmctl_table_cell(t, "%s", w->has_spec ? "(unreadable spec)" : "(no spec)");
		return;
	}
	for (size_t i = 0; i < w->spec.argc && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? " " : "",
					w->spec.argv[i]);
	dsmctl_table_cell(t, "%s", buf);
}

static void workload_row(struct dsmctl_table *t, const struct dsmctl_workload *w)
{
	const struct dsmctl_status *st = &w->status;
	bool spec = w->has_spec && !w->bad_spec, status = w->has_status && !w->bad_status;

	dsmctl_table_cell(t, "%s", w->name);
	if (spec) {
		dsmctl_table_cell(t, "%u", w->spec.node);
		dsmctl_table_cell(t, "%" PRIu64, w->spec.gen);
	} else {
		dsmctl_table_cell(t, "-");
		dsmctl_table_cell(t, "-");
	}
	cell_state(t, w);
	if (status && (st->has & DSMCTL_HAS_PID))
		dsmctl_table_cell(t, "%" PRId64, st->pid);
	else
		dsmctl_table_cell(t, "-");
	if (status && (st->has & DSMCTL_HAS_DOWNTIME))
		dsmctl_table_cell(t, "%" PRIu64, st->downtime_ms);
	else
		dsmctl_table_cell(t, "-");
	if (status && (st->has & DSMCTL_HAS_WS_PAGES))
		dsmctl_table_cell(t, "%" PRIu64 "/%" PRIu64, st->ws_moved, st->ws_pages);
	else
		dsmctl_table_cell(t, "-");
	cell_command(t, w);
}

static void workloads_table(const struct dsmctl_workload *w, size_t n)
{
	static const char *const heads[] = {
		"NAME", "NODE", "GEN", "STATE", "PID", "DOWNTIME-MS", "WS", "COMMAND",
	};
	struct dsmctl_table *t = dsmctl_table_new(8, heads);

	for (size_t i = 0; t && i < n; i++)
		workload_row(t, &w[i]);
	if (t && n)
		dsmctl_table_print(t, stdout);
	else if (t)
		printf("no workloads\n");
	dsmctl_table_free(t);
}

/* The values as stored (what the supervisors wrote), or null. */
static json_t *raw(const char *json, size_t len)
{
	json_t *v = json ? json_loadb(json, len, 0, NULL) : NULL;

	return v ? v : json_null();
}

static void workloads_json(const struct dsmctl_workload *w, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:o, s:o}", "name", w[i].name,
			"spec", raw(w[i].spec_json, w[i].spec_len),
			"status", raw(w[i].status_json, w[i].status_len)));
	dsmctl_print_json(json_pack("{s:o}", "workloads", a));
}

int dsmctl_cmd_workloads(struct dsmctl *c)
{
	struct dsmctl_workload *w;
	size_t n;
	int ret = dsmctl_workloads_read(c, &w, &n, NULL);

	if (ret)
		return dsmctl_etcd_err(c, "reading the workloads", ret);
	if (c->args->json)
		workloads_json(w, n);
	else
		workloads_table(w, n);
	dsmctl_workloads_free(w, n);
	return DSMCTL_OK;
}

/* ----------------------------------------------------------------- run */

/* An executable regular file (a directory passes X_OK too). */
static bool runnable(const char *path, char *abs)
{
	struct stat st;

	return realpath(path, abs) && stat(abs, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(abs, X_OK) == 0;
}

/* The command as an absolute path, found the way a shell would: the
 * supervisor execs it without a PATH search. */
static int resolve(const char *cmd, char *out)
{
	const char *path = getenv("PATH");
	char cand[PATH_MAX];

	if (strchr(cmd, '/'))
		return runnable(cmd, out) ? 0 : -ENOENT;
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		if (snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, n ? p : ".", cmd) <
		    (int)sizeof(cand) && runnable(cand, out))
			return 0;
		p += n + (p[n] == ':');
	}
	return -ENOENT;
}

/* W from --name, or the command's file name. */
static int workload_name(const struct dsmctl_args *a, char *name)
{
	const char *base = strrchr(a->argv[0], '/');

	base = a->workload ? a->workload : base ? base + 1 : a->argv[0];
	if (!dsmctl_name_ok(base))
		return dsmctl_err(DSMCTL_EUSAGE, "cannot name the workload '%s': give --name W",
				  base);
	snprintf(name, DSMCTL_NAME_MAX, "%s", base);
	return DSMCTL_OK;
}

/* The spec of generation 1: the command line with CMD made absolute. */
static char *first_spec(const struct dsmctl_args *a, const char *name, char *abs)
{
	char **argv = calloc((size_t)a->argc, sizeof(*argv)), *val;

	if (!argv)
		return NULL;
	memcpy(argv, a->argv, (size_t)a->argc * sizeof(*argv));
	argv[0] = abs;
	val = dsmctl_spec_encode(name, argv, (size_t)a->argc, a->env, a->nenv, a->node, 1);
	free(argv);
	return val;
}

/* Create-only: expected revision 0 fails if W exists, whoever made it. */
static int create_spec(struct dsmctl *c, const char *name, char *abs, int64_t *rev)
{
	struct dsm_etcd_kv cur = { 0 };
	struct dsmctl_spec old;
	char key[192], *val = first_spec(c->args, name, abs);
	int ret;

	if (!val)
		return dsmctl_err(DSMCTL_EFAIL, "out of memory");
	dsmctl_key(c, key, sizeof(key), "workloads/%s/spec", name);
	ret = dsm_etcd_cas(c->etcd, key, val, strlen(val), 0, 0, rev, &cur);
	free(val);
	if (ret == 0 && dsmctl_spec_decode(cur.value, cur.value_len, &old) == 0) {
		ret = dsmctl_err(DSMCTL_EFAIL, "workload %s already exists (node %u, gen %" PRIu64
				 "): migrate it, or stop it first", name, old.node, old.gen);
		dsmctl_spec_clear(&old);
	} else if (ret == 0) {
		ret = dsmctl_err(DSMCTL_EFAIL, "workload %s already exists", name);
	} else {
		ret = ret < 0 ? dsmctl_etcd_err(c, "writing the workload spec", ret) : DSMCTL_OK;
	}
	dsm_etcd_kv_clear(&cur);
	return ret;
}

static int run_wait(struct dsmctl *c, const char *name, int64_t rev, uint64_t start)
{
	struct dsmctl_track t;
	int rc;

	dsmctl_track_init(&t, name, 0, c->args->node, 1);
	t.quiet = true;   /* one line when it runs says it all */
	rc = dsmctl_wait(c, &t, 1, rev + 1, start);
	if (rc)
		return rc;
	if (c->args->json)
		dsmctl_print_json(json_pack("{s:s, s:I, s:I, s:I}", "name", name,
			"node", (json_int_t)t.to, "gen", (json_int_t)1, "pid", (json_int_t)t.pid));
	else
		printf("started %s on node %u, pid %" PRId64 "\n", name, t.to, t.pid);
	return DSMCTL_OK;
}

int dsmctl_cmd_run(struct dsmctl *c)
{
	struct dsmctl_cluster cl;
	char name[DSMCTL_NAME_MAX], abs[PATH_MAX];
	int64_t rev = 0;
	uint64_t start;
	int rc = workload_name(c->args, name);

	if (rc)
		return rc;
	if (resolve(c->args->argv[0], abs))
		return dsmctl_err(DSMCTL_EUSAGE, "command not found: %s", c->args->argv[0]);
	rc = dsmctl_cluster_read(c, &cl);
	if (rc)
		return dsmctl_etcd_err(c, "reading the cluster", rc);
	rc = dsmctl_check_target(&cl, c->args->node);
	start = dsmctl_mono_ms();
	if (rc == 0)
		rc = create_spec(c, name, abs, &rev);
	return rc ? rc : run_wait(c, name, rev, start);
}

/* ------------------------------------------------------------- migrate */

/* W's spec, readable; else an exit code. */
static int find_workload(struct dsmctl *c, struct dsmctl_workload **all, size_t *n,
			 struct dsmctl_workload **w)
{
	int ret = dsmctl_workloads_read(c, all, n, NULL);

	if (ret)
		return dsmctl_etcd_err(c, "reading the workloads", ret);
	*w = dsmctl_workload_find(*all, *n, c->args->workload);
	if (!*w || !(*w)->has_spec)
		return dsmctl_err(DSMCTL_ENOTFOUND, "unknown workload %s", c->args->workload);
	if ((*w)->bad_spec)
		return dsmctl_err(DSMCTL_EFAIL, "workload %s: its spec cannot be read",
				  (*w)->name);
	return DSMCTL_OK;
}

static int migrate_one(struct dsmctl *c, const struct dsmctl_workload *w)
{
	struct dsmctl_cluster cl;
	struct dsmctl_track t;
	uint64_t start;
	int64_t rev;
	int rc = dsmctl_cluster_read(c, &cl);

	if (rc)
		return dsmctl_etcd_err(c, "reading the cluster", rc);
	if (w->spec.node == c->args->node)
		return dsmctl_err(DSMCTL_EFAIL, "workload %s is on node %u already", w->name,
				  w->spec.node);
	rc = dsmctl_check_target(&cl, c->args->node);
	start = dsmctl_mono_ms();
	if (rc == 0)
		rc = dsmctl_retarget(c, w, c->args->node, &t, &rev);
	if (rc)
		return rc;
	if (!c->args->json)
		printf("migrating %s from node %u to node %u (gen %" PRIu64 ")\n", w->name,
		       t.from, t.to, t.gen);
	if (c->args->no_wait) {
		if (c->args->json)
			dsmctl_print_json(json_pack("{s:s, s:I, s:I, s:I}", "name", w->name,
				"from", (json_int_t)t.from, "to", (json_int_t)t.to,
				"gen", (json_int_t)t.gen));
		return DSMCTL_OK;
	}
	fflush(stdout);
	rc = dsmctl_wait(c, &t, 1, rev + 1, start);
	if (rc == 0 && c->args->json)
		dsmctl_print_json(dsmctl_track_json(&t));
	return rc;
}

int dsmctl_cmd_migrate(struct dsmctl *c)
{
	struct dsmctl_workload *all = NULL, *w = NULL;
	size_t n = 0;
	int rc = find_workload(c, &all, &n, &w);

	if (rc == 0)
		rc = migrate_one(c, w);
	dsmctl_workloads_free(all, n);
	return rc;
}

/* ---------------------------------------------------------------- stop */

int dsmctl_cmd_stop(struct dsmctl *c)
{
	char key[192];
	int ret;

	dsmctl_key(c, key, sizeof(key), "workloads/%s/spec", c->args->workload);
	ret = dsm_etcd_delete(c->etcd, key);
	if (ret < 0)
		return dsmctl_etcd_err(c, "deleting the workload spec", ret);
	if (ret == 0)
		return dsmctl_err(DSMCTL_ENOTFOUND, "unknown workload %s", c->args->workload);
	if (c->args->json)
		dsmctl_print_json(json_pack("{s:s, s:b}", "name", c->args->workload,
					    "stopped", 1));
	else
		printf("stopping %s: spec deleted, its node's supervisor stops it\n",
		       c->args->workload);
	return DSMCTL_OK;
}
