/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload/json_util.h"
#include "workload/records.h"

static const char *const state_names[] = {
	[DSM_WL_NONE] = "none",
	[DSM_WL_STARTING] = "starting",
	[DSM_WL_RUNNING] = "running",
	[DSM_WL_STOPPING] = "stopping",
	[DSM_WL_STOPPED] = "stopped",
	[DSM_WL_EXITED] = "exited",
	[DSM_WL_FAILED] = "failed",
};

#define NSTATES (sizeof(state_names) / sizeof(state_names[0]))

const char *dsm_wl_state_name(enum dsm_wl_state s)
{
	return (unsigned)s < NSTATES ? state_names[s] : "?";
}

int dsm_wl_state_parse(const char *name, enum dsm_wl_state *s)
{
	for (unsigned i = 1; i < NSTATES; i++)
		if (strcmp(name, state_names[i]) == 0) {
			*s = (enum dsm_wl_state)i;
			return 0;
		}
	return -EINVAL;
}

bool dsm_wl_name_valid(const char *name)
{
	size_t len = strnlen(name, DSM_WL_NAME_MAX + 1);

	if (len == 0 || len > DSM_WL_NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* ----------------------------------------------------------------- spec */

void dsm_wl_spec_free(struct dsm_wl_spec *s)
{
	for (unsigned i = 0; s->argv && i < s->argc; i++)
		free(s->argv[i]);
	for (unsigned i = 0; s->env && i < s->nenv; i++)
		free(s->env[i]);
	free(s->argv);
	free(s->env);
	memset(s, 0, sizeof(*s));
}

static int spec_argv(const json_t *a, struct dsm_wl_spec *s)
{
	size_t n = json_array_size(a);

	if (!json_is_array(a))
		return -EPROTO;
	if (n == 0 || n > DSM_WL_ARGV_MAX)
		return -EINVAL;
	s->argv = calloc(n + 1, sizeof(char *));
	if (!s->argv)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_array_get(a, i);

		if (!json_is_string(v))
			return -EPROTO;
		s->argv[i] = strdup(json_string_value(v));
		if (!s->argv[i])
			return -ENOMEM;
		s->argc++;
	}
	return s->argv[0][0] ? 0 : -EINVAL;
}

static int spec_env_one(struct dsm_wl_spec *s, const char *k, const json_t *v)
{
	size_t len;

	if (!json_is_string(v))
		return -EPROTO;
	if (!*k || strchr(k, '='))
		return -EINVAL;
	len = strlen(k) + strlen(json_string_value(v)) + 2;
	s->env[s->nenv] = malloc(len);
	if (!s->env[s->nenv])
		return -ENOMEM;
	snprintf(s->env[s->nenv++], len, "%s=%s", k, json_string_value(v));
	return 0;
}

static int spec_env(const json_t *o, struct dsm_wl_spec *s)
{
	const char *k;
	json_t *v;
	int ret = 0;

	if (o && !json_is_null(o) && !json_is_object(o))
		return -EPROTO;
	if (json_object_size(o) > DSM_WL_ENV_MAX)
		return -EINVAL;
	s->env = calloc(json_object_size(o) + 1, sizeof(char *));
	if (!s->env)
		return -ENOMEM;
	json_object_foreach((json_t *)o, k, v) {
		ret = spec_env_one(s, k, v);
		if (ret)
			break;
	}
	return ret;
}

static int spec_fields(const json_t *o, struct dsm_wl_spec *s)
{
	const json_t *name = json_object_get(o, "name");
	int64_t node = 0, gen = 0;
	int ret;

	if (!json_is_string(name))
		return -EPROTO;
	if (!dsm_wl_name_valid(json_string_value(name)))
		return -EINVAL;
	strcpy(s->name, json_string_value(name));
	ret = wl_get_range(o, "node", 1, UINT16_MAX, &node);
	if (ret == 1)
		ret = wl_get_range(o, "gen", 1, INT64_MAX, &gen);
	if (ret == 0)
		ret = -EPROTO;   /* node and gen are required */
	if (ret < 0)
		return ret;
	s->node = (uint16_t)node;
	s->gen = (uint64_t)gen;
	ret = spec_argv(json_object_get(o, "argv"), s);
	return ret ? ret : spec_env(json_object_get(o, "env"), s);
}

int dsm_wl_spec_decode(const char *json, size_t len, struct dsm_wl_spec *s)
{
	json_t *o = json_loadb(json, len, 0, NULL);
	int ret;

	memset(s, 0, sizeof(*s));
	if (!json_is_object(o)) {
		json_decref(o);
		return -EPROTO;
	}
	ret = spec_fields(o, s);
	json_decref(o);
	if (ret)
		dsm_wl_spec_free(s);
	return ret;
}

/* Steals v; a NULL v (allocation failure) makes the whole encode fail. */
static int set_new(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) ? -ENOMEM : 0;
}

static int dump(json_t *o, int ret, char **out)
{
	*out = ret == 0 ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (ret == 0 && !*out)
		ret = -ENOMEM;
	return ret;
}

int dsm_wl_spec_encode(const struct dsm_wl_spec *s, char **out)
{
	json_t *o = json_object(), *argv = json_array(), *env = json_object();
	int ret = o && argv && env ? 0 : -ENOMEM;

	for (unsigned i = 0; ret == 0 && i < s->argc; i++)
		ret = json_array_append_new(argv, json_string(s->argv[i])) ? -ENOMEM : 0;
	for (unsigned i = 0; ret == 0 && i < s->nenv; i++) {
		const char *eq = strchr(s->env[i], '=');
		char key[256];

		if (!eq || (size_t)(eq - s->env[i]) >= sizeof(key))
			ret = -EINVAL;
		else {
			snprintf(key, sizeof(key), "%.*s", (int)(eq - s->env[i]), s->env[i]);
			ret = set_new(env, key, json_string(eq + 1));
		}
	}
	if (ret == 0)
		ret = set_new(o, "name", json_string(s->name));
	if (ret == 0)
		ret = set_new(o, "node", json_integer(s->node));
	if (ret == 0)
		ret = set_new(o, "gen", json_integer((json_int_t)s->gen));
	if (ret == 0) {
		ret = set_new(o, "argv", argv);
		argv = NULL;
	}
	if (ret == 0) {
		ret = set_new(o, "env", env);
		env = NULL;
	}
	json_decref(argv);
	json_decref(env);
	return dump(o, ret, out);
}

/* --------------------------------------------------------------- status */

static int status_ints(const json_t *o, struct dsm_wl_status *s)
{
	int64_t gen = 0, node = 0, pid = 0, ex = 0, pages = 0, moved = 0;
	int r[11];

	r[0] = wl_get_range(o, "gen", 1, INT64_MAX, &gen);
	r[1] = wl_get_range(o, "node", 1, UINT16_MAX, &node);
	r[2] = wl_get_range(o, "pid", 0, INT32_MAX, &pid);
	r[3] = wl_get_range(o, "exit", 0, 255 + 128, &ex);
	r[4] = wl_get_i64(o, "start_ms", &s->start_ms);
	r[5] = wl_get_i64(o, "stop_ms", &s->stop_ms);
	r[6] = wl_get_i64(o, "downtime_ms", &s->downtime_ms);
	r[7] = wl_get_i64(o, "safepoint_ms", &s->safepoint_ms);
	r[8] = wl_get_range(o, "ws_pages", 0, INT64_MAX, &pages);
	r[9] = wl_get_range(o, "ws_moved", 0, INT64_MAX, &moved);
	r[10] = wl_get_i64(o, "ws_done_ms", &s->ws_done_ms);
	for (unsigned i = 0; i < 11; i++)
		if (r[i] < 0)
			return r[i];
	if (wl_get_i64(o, "spec_rev", &s->spec_rev) < 0)
		return -EPROTO;
	if (r[0] == 0 || r[1] == 0)
		return -EPROTO;   /* gen and node are required */
	s->gen = (uint64_t)gen;
	s->node = (uint16_t)node;
	s->pid = (int)pid;
	s->has_exit = r[3] == 1;
	s->exit = (int)ex;
	s->has_downtime = r[6] == 1;
	s->has_ws = r[8] == 1;
	s->ws_pages = (uint64_t)pages;
	s->ws_moved = (uint64_t)moved;
	return 0;
}

static int status_fields(const json_t *o, struct dsm_wl_status *s)
{
	const json_t *name = json_object_get(o, "name");
	const json_t *state = json_object_get(o, "state");
	const json_t *err = json_object_get(o, "error");
	int ret;

	if (!json_is_string(name) || !json_is_string(state) ||
	    (err && !json_is_null(err) && !json_is_string(err)))
		return -EPROTO;
	if (!dsm_wl_name_valid(json_string_value(name)))
		return -EINVAL;
	strcpy(s->name, json_string_value(name));
	ret = dsm_wl_state_parse(json_string_value(state), &s->state);
	if (ret)
		return ret;
	if (json_is_string(err))
		snprintf(s->error, sizeof(s->error), "%s", json_string_value(err));
	return status_ints(o, s);
}

int dsm_wl_status_decode(const char *json, size_t len, struct dsm_wl_status *s)
{
	json_t *o = json_loadb(json, len, 0, NULL);
	int ret;

	memset(s, 0, sizeof(*s));
	ret = json_is_object(o) ? status_fields(o, s) : -EPROTO;
	json_decref(o);
	return ret;
}

/* Optional fields are written only when set. */
static int status_optional(json_t *o, const struct dsm_wl_status *s)
{
	int ret = 0;

	if (s->pid)
		ret = set_new(o, "pid", json_integer(s->pid));
	if (ret == 0 && s->has_exit)
		ret = set_new(o, "exit", json_integer(s->exit));
	if (ret == 0 && s->start_ms)
		ret = set_new(o, "start_ms", json_integer(s->start_ms));
	if (ret == 0 && s->stop_ms)
		ret = set_new(o, "stop_ms", json_integer(s->stop_ms));
	if (ret == 0 && s->has_downtime)
		ret = set_new(o, "downtime_ms", json_integer(s->downtime_ms));
	if (ret == 0 && s->safepoint_ms)
		ret = set_new(o, "safepoint_ms", json_integer(s->safepoint_ms));
	if (ret == 0 && s->has_ws)
		ret = set_new(o, "ws_pages", json_integer((json_int_t)s->ws_pages));
	if (ret == 0 && s->has_ws)
		ret = set_new(o, "ws_moved", json_integer((json_int_t)s->ws_moved));
	if (ret == 0 && s->ws_done_ms)
		ret = set_new(o, "ws_done_ms", json_integer(s->ws_done_ms));
	if (ret == 0 && s->spec_rev)
		ret = set_new(o, "spec_rev", json_integer(s->spec_rev));
	if (ret == 0 && s->error[0])
		ret = set_new(o, "error", json_string(s->error));
	return ret;
}

int dsm_wl_status_encode(const struct dsm_wl_status *s, char **out)
{
	json_t *o = json_object();
	int ret = o ? 0 : -ENOMEM;

	if (ret == 0)
		ret = set_new(o, "name", json_string(s->name));
	if (ret == 0)
		ret = set_new(o, "gen", json_integer((json_int_t)s->gen));
	if (ret == 0)
		ret = set_new(o, "node", json_integer(s->node));
	if (ret == 0)
		ret = set_new(o, "state", json_string(dsm_wl_state_name(s->state)));
	if (ret == 0)
		ret = status_optional(o, s);
	return dump(o, ret, out);
}
