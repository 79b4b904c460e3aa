/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dsmctl/records.h"

/* ------------------------------------------------------ field readers */

/* 0, -ENOENT when absent (or null), -EPROTO when not an unsigned number
 * or a decimal string of one (the etcd gateway writes int64 as strings). */
static int get_u64(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	char *end;

	if (!v || json_is_null(v))
		return -ENOENT;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -EPROTO;
	s = json_string_value(v);
	if (s[0] < '0' || s[0] > '9')
		return -EPROTO;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -EPROTO : 0;
}

static int get_i64(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	char *end;

	if (!v || json_is_null(v))
		return -ENOENT;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -EPROTO;
	s = json_string_value(v);
	if (!s[0] || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
		return -EPROTO;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || *end ? -EPROTO : 0;
}

/* A string into buf; one too long for buf is dropped (buf = "") rather
 * than cut: a cut socket path would name some other file. */
static int get_str(json_t *o, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);

	buf[0] = '\0';
	if (!v || json_is_null(v))
		return -ENOENT;
	if (!json_is_string(v))
		return -EPROTO;
	if (json_string_length(v) < len)
		memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int get_bool(json_t *o, const char *key, bool *out)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return -ENOENT;
	if (json_is_boolean(v))
		*out = json_is_true(v);
	else if (json_is_integer(v))
		*out = json_integer_value(v) != 0;
	else
		return -EPROTO;
	return 0;
}

/* Optional: absent is fine, a wrong type is not. */
static int opt(int ret)
{
	return ret == -ENOENT ? 0 : ret;
}

static int get_node(json_t *o, unsigned *node)
{
	uint64_t v;
	int ret = get_u64(o, "node", &v);

	if (ret)
		return -EPROTO;
	if (v < 1 || v > DSMCTL_MAX_NODE)
		return -EPROTO;
	*node = (unsigned)v;
	return 0;
}

static json_t *load_object(const char *json, size_t len)
{
	json_t *root = json_loadb(json, len, 0, NULL);

	if (root && !json_is_object(root)) {
		json_decref(root);
		root = NULL;
	}
	return root;
}

/* ------------------------------------------------------- node record */

int dsmctl_node_rec_decode(const char *json, size_t len, struct dsmctl_node_rec *r)
{
	json_t *o = load_object(json, len);
	int ret;

	memset(r, 0, sizeof(*r));
	if (!o)
		return -EPROTO;
	ret = get_node(o, &r->node);
	if (!ret)
		ret = opt(get_u64(o, "incarnation", &r->incarnation));
	if (!ret)
		ret = opt(get_str(o, "host", r->host, sizeof(r->host)));
	if (!ret)
		ret = opt(get_i64(o, "pid", &r->pid));
	if (!ret)
		ret = opt(get_str(o, "socket", r->socket, sizeof(r->socket)));
	if (!ret)
		ret = opt(get_str(o, "telemetry", r->telemetry, sizeof(r->telemetry)));
	if (!ret)
		ret = opt(get_u64(o, "started_ms", &r->started_ms));
	if (!ret)
		ret = opt(get_bool(o, "draining", &r->draining));
	json_decref(o);
	return ret ? -EPROTO : 0;
}

/* -------------------------------------------------------------- spec */

static char **strv_new(size_t n)
{
	return calloc(n + 1, sizeof(char *));   /* NULL-terminated */
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static int decode_argv(json_t *o, struct dsmctl_spec *s)
{
	json_t *a = json_object_get(o, "argv"), *v;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) == 0)
		return -EPROTO;
	s->argv = strv_new(json_array_size(a));
	if (!s->argv)
		return -ENOMEM;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || !(s->argv[i] = strdup(json_string_value(v))))
			return json_is_string(v) ? -ENOMEM : -EPROTO;
		s->argc = i + 1;
	}
	return 0;
}

static int decode_env(json_t *o, struct dsmctl_spec *s)
{
	json_t *e = json_object_get(o, "env"), *v;
	const char *k;

	if (!e || json_is_null(e))
		return 0;
	if (!json_is_object(e))
		return -EPROTO;
	s->env = strv_new(json_object_size(e));
	if (!s->env)
		return -ENOMEM;
	json_object_foreach(e, k, v) {
		if (!json_is_string(v))
			return -EPROTO;
		if (asprintf(&s->env[s->nenv], "%s=%s", k, json_string_value(v)) < 0) {
			s->env[s->nenv] = NULL;
			return -ENOMEM;
		}
		s->nenv++;
	}
	return 0;
}

int dsmctl_spec_decode(const char *json, size_t len, struct dsmctl_spec *s)
{
	json_t *o = load_object(json, len);
	int ret;

	memset(s, 0, sizeof(*s));
	if (!o)
		return -EPROTO;
	ret = opt(get_str(o, "name", s->name, sizeof(s->name)));
	if (!ret)
		ret = get_node(o, &s->node);
	if (!ret && get_u64(o, "gen", &s->gen))
		ret = -EPROTO;
	if (!ret)
		ret = decode_argv(o, s);
	if (!ret)
		ret = decode_env(o, s);
	json_decref(o);
	if (ret)
		dsmctl_spec_clear(s);
	return ret;
}

void dsmctl_spec_clear(struct dsmctl_spec *s)
{
	strv_free(s->argv, s->argc);
	strv_free(s->env, s->nenv);
	memset(s, 0, sizeof(*s));
}

static json_t *env_object(const char *const *env, size_t nenv)
{
	json_t *e = json_object();

	for (size_t i = 0; e && i < nenv; i++) {
		const char *eq = strchr(env[i], '=');
		char *k = eq ? strndup(env[i], (size_t)(eq - env[i])) : NULL;

		if (!k || json_object_set_new(e, k, json_string(eq + 1))) {
			free(k);
			json_decref(e);
			return NULL;
		}
		free(k);
	}
	return e;
}

char *dsmctl_spec_encode(const char *name, char *const *argv, size_t argc,
			 const char *const *env, size_t nenv, unsigned node, uint64_t gen)
{
	json_t *o = json_object(), *a = json_array(), *e = env_object(env, nenv);
	char *out = NULL;

	for (size_t i = 0; a && i < argc; i++)
		if (json_array_append_new(a, json_string(argv[i])))
			goto out;
	if (!o || !a || !e)
		goto out;
	json_object_set_new(o, "name", json_string(name));
	json_object_set(o, "argv", a);
	json_object_set_new(o, "node", json_integer(node));
	json_object_set_new(o, "gen", json_integer((json_int_t)gen));
	json_object_set(o, "env", e);
	out = json_dumps(o, JSON_COMPACT);
out:
	json_decref(o);
	json_decref(a);
	json_decref(e);
	return out;
}

char *dsmctl_spec_retarget(const char *json, size_t len, unsigned node, uint64_t gen)
{
	json_t *o = load_object(json, len);
	char *out = NULL;

	if (!o)
		return NULL;
	if (!json_object_set_new(o, "node", json_integer(node)) &&
	    !json_object_set_new(o, "gen", json_integer((json_int_t)gen)))
		out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

/* ------------------------------------------------------------ status */

static const char *const state_names[] = {
	[DSMCTL_ST_UNKNOWN] = "unknown",
	[DSMCTL_ST_STARTING] = "starting",
	[DSMCTL_ST_RUNNING] = "running",
	[DSMCTL_ST_STOPPING] = "stopping",
	[DSMCTL_ST_STOPPED] = "stopped",
	[DSMCTL_ST_EXITED] = "exited",
	[DSMCTL_ST_FAILED] = "failed",
};

const char *dsmctl_state_name(enum dsmctl_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ?
	       state_names[s] : "unknown";
}

static enum dsmctl_state state_of(const char *s)
{
	for (unsigned i = 1; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (!strcmp(s, state_names[i]))
			return (enum dsmctl_state)i;
	return DSMCTL_ST_UNKNOWN;
}

/* An optional u64 field: sets its DSMCTL_HAS_* bit when present. */
static int opt_u64(json_t *o, const char *key, uint64_t *out, unsigned bit, unsigned *has)
{
	int ret = get_u64(o, key, out);

	if (ret == 0)
		*has |= bit;
	return opt(ret);
}

static int opt_i64(json_t *o, const char *key, int64_t *out, unsigned bit, unsigned *has)
{
	int ret = get_i64(o, key, out);

	if (ret == 0)
		*has |= bit;
	return opt(ret);
}

static int status_optional(json_t *o, struct dsmctl_status *st)
{
	int ret = opt_i64(o, "pid", &st->pid, DSMCTL_HAS_PID, &st->has);

	if (!ret)
		ret = opt_i64(o, "exit", &st->exit_code, DSMCTL_HAS_EXIT, &st->has);
	if (!ret)
		ret = opt_u64(o, "start_ms", &st->start_ms, DSMCTL_HAS_START, &st->has);
	if (!ret)
		ret = opt_u64(o, "stop_ms", &st->stop_ms, DSMCTL_HAS_STOP, &st->has);
	if (!ret)
		ret = opt_u64(o, "downtime_ms", &st->downtime_ms, DSMCTL_HAS_DOWNTIME, &st->has);
	if (!ret)
		ret = opt_u64(o, "ws_pages", &st->ws_pages, DSMCTL_HAS_WS_PAGES, &st->has);
	if (!ret)
		ret = opt_u64(o, "ws_moved", &st->ws_moved, DSMCTL_HAS_WS_MOVED, &st->has);
	if (!ret)
		ret = opt_u64(o, "ws_done_ms", &st->ws_done_ms, DSMCTL_HAS_WS_DONE, &st->has);
	if (!ret)
		ret = opt(get_str(o, "error", st->error, sizeof(st->error)));
	if (!ret)
		ret = opt(get_str(o, "name", st->name, sizeof(st->name)));
	return ret;
}

int dsmctl_status_decode(const char *json, size_t len, struct dsmctl_status *st)
{
	json_t *o = load_object(json, len);
	int ret;

	memset(st, 0, sizeof(*st));
	if (!o)
		return -EPROTO;
	ret = get_u64(o, "gen", &st->gen);
	if (!ret)
		ret = get_node(o, &st->node);
	if (!ret)
		ret = get_str(o, "state", st->state_str, sizeof(st->state_str));
	if (!ret && !st->state_str[0])
		ret = -EPROTO;   /* empty, or longer than any state */
	if (!ret)
		ret = status_optional(o, st);
	st->state = state_of(st->state_str);
	json_decref(o);
	return ret ? -EPROTO : 0;
}

int dsmctl_drain_encode(uint64_t since_ms, char *buf, size_t len)
{
	int n = snprintf(buf, len, "{\"since_ms\":%" PRIu64 "}", since_ms);

	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}
