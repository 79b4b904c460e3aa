/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Command-line parsing: global options, then the subcommand, then its own
 * options and arguments.  No I/O, so every case is unit-tested; the
 * caller prints the reason and exits 2.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsmctl/dsmctl.h"

const char dsmctl_usage[] =
"usage: dsmctl [global options] COMMAND [options] [arguments]\n"
"\n"
"Global options (before the command):\n"
"  --etcd URL[,URL...]  etcd endpoints (default: $DSM_ETCD, else " DSMCTL_DEFAULT_ETCD ",\n"
"                       the etcd the first node starts)\n"
"  --cluster NAME       cluster name, keys under /dsm/NAME/ (default " DSMCTL_DEFAULT_CLUSTER ")\n"
"  --json               machine-readable output (one JSON object)\n"
"  --timeout SEC        how long to wait for workloads (default 30)\n"
"  -h, --help           this text\n"
"\n"
"Commands:\n"
"  nodes                              members, view, node records, epochs applied\n"
"  segments                           segments known to the nodes on this host\n"
"  stats [--node N] [--segment S]     faults, pages moved, latency, drops; per segment\n"
"  page SEG PGNO                      one page's directory entry and cache states\n"
"  workloads                          workload specs and their status\n"
"  run --node N [--name W] [--env K=V]... -- CMD [ARGS...]\n"
"                                     start CMD on node N and wait until it runs\n"
"  migrate W --to N [--no-wait]       move workload W to node N and show progress\n"
"  stop W                             stop workload W for good (deletes its spec)\n"
"  drain N                            mark node N drained, move its workloads and\n"
"                                     copy its pages away\n"
"  undrain N                          accept workloads on node N again\n"
"SEG and S are a segment id or name.  A drained node stays the home of its\n"
"segments until it leaves; drain gives their heir a copy of every page first.\n"
"\n"
"Exit codes: 0 ok; 1 operation failed (workload failed, timeout); 2 usage or\n"
"bad arguments; 3 not found (unknown node, segment, workload); 4 etcd\n"
"unreachable or failing.  Errors are one line on stderr starting \"dsmctl: \".\n";

enum {
	O_ETCD = 256, O_CLUSTER, O_JSON, O_TIMEOUT, O_NODE, O_SEGMENT, O_NAME,
	O_ENV, O_TO, O_NO_WAIT,
};

static const struct option global_opts[] = {
	{ "etcd", required_argument, NULL, O_ETCD },
	{ "cluster", required_argument, NULL, O_CLUSTER },
	{ "json", no_argument, NULL, O_JSON },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option cmd_opts[] = {
	{ "json", no_argument, NULL, O_JSON },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ "node", required_argument, NULL, O_NODE },
	{ "segment", required_argument, NULL, O_SEGMENT },
	{ "name", required_argument, NULL, O_NAME },
	{ "env", required_argument, NULL, O_ENV },
	{ "to", required_argument, NULL, O_TO },
	{ "no-wait", no_argument, NULL, O_NO_WAIT },
	{ NULL, 0, NULL, 0 },
};

/* What each command accepts beyond --json/--timeout/--help. */
struct cmd_desc {
	const char *name;
	enum dsmctl_cmd cmd;
	int opts[4];          /* O_* accepted, 0-terminated */
	int npos;             /* positional arguments; -1: a command follows */
	const char *pos_usage;
};

static const struct cmd_desc cmds[] = {
	{ "nodes", DSMCTL_CMD_NODES, { 0 }, 0, "" },
	{ "segments", DSMCTL_CMD_SEGMENTS, { 0 }, 0, "" },
	{ "stats", DSMCTL_CMD_STATS, { O_NODE, O_SEGMENT, 0 }, 0, "" },
	{ "page", DSMCTL_CMD_PAGE, { 0 }, 2, "SEG PGNO" },
	{ "workloads", DSMCTL_CMD_WORKLOADS, { 0 }, 0, "" },
	{ "run", DSMCTL_CMD_RUN, { O_NODE, O_NAME, O_ENV, 0 }, -1, "-- CMD [ARGS...]" },
	{ "migrate", DSMCTL_CMD_MIGRATE, { O_TO, O_NO_WAIT, 0 }, 1, "W --to N" },
	{ "stop", DSMCTL_CMD_STOP, { 0 }, 1, "W" },
	{ "drain", DSMCTL_CMD_DRAIN, { 0 }, 1, "N" },
	{ "undrain", DSMCTL_CMD_UNDRAIN, { 0 }, 1, "N" },
};

static int fail(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Digits only: strtoul alone would take " 7", "+7" and "-1". */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static int parse_node(const char *s, unsigned *node, char *err, size_t len)
{
	uint64_t v;

	if (parse_u64(s, &v) || v < 1 || v > DSMCTL_MAX_NODE)
		return fail(err, len, "bad node id '%s' (a number, 1..%d)", s, DSMCTL_MAX_NODE);
	*node = (unsigned)v;
	return 0;
}

bool dsmctl_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= DSMCTL_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return false;
	return true;
}

/* K=V with K a shell-style variable name: the supervisor exports it. */
static bool env_ok(const char *kv)
{
	const char *eq = strchr(kv, '=');

	if (!eq || eq == kv || !(isalpha((unsigned char)kv[0]) || kv[0] == '_'))
		return false;
	for (const char *p = kv; p < eq; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

/* getopt's complaint, in our words.  opterr is off: one line, ours. */
static int bad_option(int ret, char **argv, char *err, size_t len)
{
	const char *opt = argv[optind - 1];

	if (ret == ':')
		return fail(err, len, "option '%s' needs a value", opt);
	if (optopt && optopt < 256)
		return fail(err, len, "unknown option '-%c'", optopt);
	return fail(err, len, "unknown option '%s'", opt);
}

static int common_opt(int o, const char *val, struct dsmctl_args *a, char *err, size_t len)
{
	uint64_t v;

	switch (o) {
	case O_JSON:
		a->json = true;
		return 0;
	case 'h':
		a->help = true;
		return 0;
	case O_TIMEOUT:
		if (parse_u64(val, &v) || v < 1 || v > 86400)
			return fail(err, len, "bad --timeout '%s' (seconds, 1..86400)", val);
		a->timeout_s = (unsigned)v;
		return 0;
	}
	return 1;   /* not a common option */
}

static int parse_global(int argc, char **argv, struct dsmctl_args *a, char *err, size_t len)
{
	int o, ret;

	optind = 0;   /* GNU: full re-initialisation, so parsing can run again */
	opterr = 0;
	while ((o = getopt_long(argc, argv, "+:h", global_opts, NULL)) != -1) {
		if (o == '?' || o == ':')
			return bad_option(o, argv, err, len);
		if (o == O_ETCD)
			a->etcd = optarg;
		else if (o == O_CLUSTER)
			a->cluster = optarg;
		else if ((ret = common_opt(o, optarg, a, err, len)) < 0)
			return ret;
	}
	if (!a->etcd[0])
		return fail(err, len, "empty --etcd endpoint list");
	if (!dsmctl_name_ok(a->cluster))
		return fail(err, len, "bad --cluster '%s' (letters, digits, '.', '_', '-')",
			    a->cluster);
	return optind;
}

static bool accepts(const struct cmd_desc *d, int o)
{
	for (int i = 0; d->opts[i]; i++)
		if (d->opts[i] == o)
			return true;
	return false;
}

static int cmd_opt(int o, struct dsmctl_args *a, char *err, size_t len)
{
	switch (o) {
	case O_NODE:
	case O_TO:
		return parse_node(optarg, &a->node, err, len);
	case O_SEGMENT:
		a->segment = optarg;
		return 0;
	case O_NAME:
		a->workload = optarg;
		return 0;
	case O_NO_WAIT:
		a->no_wait = true;
		return 0;
	case O_ENV:
		if (!env_ok(optarg))
			return fail(err, len, "bad --env '%s' (K=V, K a variable name)", optarg);
		if (a->nenv >= DSMCTL_MAX_ENV)
			return fail(err, len, "too many --env (at most %d)", DSMCTL_MAX_ENV);
		a->env[a->nenv++] = optarg;
		return 0;
	}
	return fail(err, len, "internal: option %d", o);
}

/* A global option after the command: say where it goes. */
static int misplaced(int o, char **argv, char *err, size_t len)
{
	const char *opt = argv[optind - 1];

	for (const struct option *g = global_opts; o == '?' && g->name; g++) {
		size_t n = strlen(g->name);

		if (!strncmp(opt, "--", 2) && !strncmp(opt + 2, g->name, n) &&
		    (opt[2 + n] == '\0' || opt[2 + n] == '='))
			return fail(err, len, "'--%s' is a global option: put it before the "
				    "command", g->name);
	}
	return bad_option(o, argv, err, len);
}

static int parse_cmd_opts(const struct cmd_desc *d, int argc, char **argv,
			  struct dsmctl_args *a, char *err, size_t len)
{
	/* run stops at the first non-option: the rest is the command line
	 * of the workload, whose own options are not ours. */
	const char *optstring = d->npos < 0 ? "+:h" : ":h";
	int o, ret, idx = -1;

	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, optstring, cmd_opts, &idx)) != -1) {
		if (o == '?' || o == ':')
			return misplaced(o, argv, err, len);
		ret = common_opt(o, optarg, a, err, len);
		if (ret > 0 && !accepts(d, o))
			return fail(err, len, "%s does not take option '--%s'", d->name,
				    cmd_opts[idx].name);
		if (ret > 0)
			ret = cmd_opt(o, a, err, len);
		if (ret < 0)
			return ret;
	}
	return optind;
}

static int take_positional(const struct cmd_desc *d, int n, char **pos,
			   struct dsmctl_args *a, char *err, size_t len)
{
	if (d->npos < 0) {
		if (n == 0)
			return fail(err, len, "run: missing command after --");
		a->argc = n;
		a->argv = pos;
		return 0;
	}
	if (n < d->npos)
		return fail(err, len, "%s: missing argument (usage: dsmctl %s %s)",
			    d->name, d->name, d->pos_usage);
	if (n > d->npos)
		return fail(err, len, "%s: unexpected argument '%s'", d->name, pos[d->npos]);
	switch (d->cmd) {
	case DSMCTL_CMD_PAGE:
		a->segment = pos[0];
		if (parse_u64(pos[1], &a->pgno))
			return fail(err, len, "page: bad page number '%s'", pos[1]);
		return 0;
	case DSMCTL_CMD_MIGRATE:
	case DSMCTL_CMD_STOP:
		a->workload = pos[0];
		return 0;
	case DSMCTL_CMD_DRAIN:
	case DSMCTL_CMD_UNDRAIN:
		return parse_node(pos[0], &a->node, err, len);
	default:
		return 0;
	}
}

/* Checks that need every option seen. */
static int check_cmd(const struct dsmctl_args *a, char *err, size_t len)
{
	if (a->cmd == DSMCTL_CMD_RUN && !a->node)
		return fail(err, len, "run: --node N is required");
	if (a->cmd == DSMCTL_CMD_MIGRATE && !a->node)
		return fail(err, len, "migrate: --to N is required");
	if (a->workload && !dsmctl_name_ok(a->workload))
		return fail(err, len, "bad workload name '%s' (1..%d of letters, digits, "
			    "'.', '_', '-')", a->workload, DSMCTL_NAME_MAX - 1);
	if (a->segment && !a->segment[0])
		return fail(err, len, "empty segment");
	return 0;
}

static const struct cmd_desc *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

int dsmctl_parse_args(int argc, char **argv, const char *env_etcd,
		      struct dsmctl_args *a, char *err, size_t errlen)
{
	const struct cmd_desc *d;
	int at, sub, ret;

	memset(a, 0, sizeof(*a));
	a->etcd = env_etcd && env_etcd[0] ? env_etcd : DSMCTL_DEFAULT_ETCD;
	a->cluster = DSMCTL_DEFAULT_CLUSTER;
	a->timeout_s = DSMCTL_DEFAULT_TIMEOUT;
	err[0] = '\0';
	at = parse_global(argc, argv, a, err, errlen);
	if (at < 0 || a->help)
		return at < 0 ? at : 0;
	if (at >= argc)
		return fail(err, errlen, "missing command (see dsmctl --help)");
	d = find_cmd(argv[at]);
	if (!d)
		return fail(err, errlen, "unknown command '%s' (see dsmctl --help)", argv[at]);
	a->cmd = d->cmd;
	sub = parse_cmd_opts(d, argc - at, argv + at, a, err, errlen);
	if (sub < 0 || a->help)
		return sub < 0 ? sub : 0;
	ret = take_positional(d, argc - at - sub, argv + at + sub, a, err, errlen);
	return ret ? ret : check_cmd(a, err, errlen);
}
