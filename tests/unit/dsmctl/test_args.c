/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of control/dsmctl/args.c: the command line into a struct. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "cunit_main.h"
#include "dsmctl/dsmctl.h"

static struct dsmctl_args a;
static char err[256];
static char *argv_buf[32];

/* Parse a NULL-terminated list of words after "dsmctl". */
static int parse_env(const char *env, ...)
{
	va_list ap;
	int argc = 0;
	const char *w;

	argv_buf[argc++] = "dsmctl";
	va_start(ap, env);
	while ((w = va_arg(ap, const char *)) != NULL && argc < 31)
		argv_buf[argc++] = (char *)w;
	va_end(ap);
	argv_buf[argc] = NULL;
	return dsmctl_parse_args(argc, argv_buf, env, &a, err, sizeof(err));
}

#define parse(...) parse_env(NULL, __VA_ARGS__, NULL)

static void test_defaults(void)
{
	CU_ASSERT_EQUAL(parse("nodes"), 0);
	CU_ASSERT_EQUAL(a.cmd, DSMCTL_CMD_NODES);
	CU_ASSERT_STRING_EQUAL(a.etcd, DSMCTL_DEFAULT_ETCD);
	CU_ASSERT_STRING_EQUAL(a.cluster, "dsm");
	CU_ASSERT_EQUAL(a.timeout_s, 30);
	CU_ASSERT_FALSE(a.json);
	CU_ASSERT_EQUAL(a.node, 0);
	/* $DSM_ETCD is the default; --etcd wins over it. */
	CU_ASSERT_EQUAL(parse_env("http://e:1", "nodes", NULL), 0);
	CU_ASSERT_STRING_EQUAL(a.etcd, "http://e:1");
	CU_ASSERT_EQUAL(parse_env("http://e:1", "--etcd", "http://f:2,http://g:3", "nodes",
				  NULL), 0);
	CU_ASSERT_STRING_EQUAL(a.etcd, "http://f:2,http://g:3");
	CU_ASSERT_EQUAL(parse_env("", "nodes", NULL), 0);
	CU_ASSERT_STRING_EQUAL(a.etcd, DSMCTL_DEFAULT_ETCD);
}

static void test_globals(void)
{
	CU_ASSERT_EQUAL(parse("--cluster", "c2", "--json", "--timeout", "7", "workloads"), 0);
	CU_ASSERT_STRING_EQUAL(a.cluster, "c2");
	CU_ASSERT_TRUE(a.json);
	CU_ASSERT_EQUAL(a.timeout_s, 7);
	CU_ASSERT_EQUAL(a.cmd, DSMCTL_CMD_WORKLOADS);
	/* --json and --timeout are also accepted after the command. */
	CU_ASSERT_EQUAL(parse("migrate", "w", "--to", "3", "--json", "--timeout", "9"), 0);
	CU_ASSERT_TRUE(a.json);
	CU_ASSERT_EQUAL(a.timeout_s, 9);
	CU_ASSERT_EQUAL(parse("--help"), 0);
	CU_ASSERT_TRUE(a.help);
	CU_ASSERT_EQUAL(parse("-h"), 0);
	CU_ASSERT_TRUE(a.help);
	CU_ASSERT_EQUAL(parse("run", "-h"), 0);
	CU_ASSERT_TRUE(a.help);
}

static void test_run(void)
{
	CU_ASSERT_EQUAL(parse("run", "--node", "2", "--name", "w1", "--env", "A=1", "--env",
			      "B=x=y", "--", "prog", "--node", "5", "-x"), 0);
	CU_ASSERT_EQUAL(a.cmd, DSMCTL_CMD_RUN);
	CU_ASSERT_EQUAL(a.node, 2);
	CU_ASSERT_STRING_EQUAL(a.workload, "w1");
	CU_ASSERT_EQUAL(a.nenv, 2);
	CU_ASSERT_STRING_EQUAL(a.env[1], "B=x=y");
	/* Everything after -- is the workload's, its options too. */
	CU_ASSERT_EQUAL(a.argc, 4);
	CU_ASSERT_STRING_EQUAL(a.argv[0], "prog");
	CU_ASSERT_STRING_EQUAL(a.argv[1], "--node");
	CU_ASSERT_STRING_EQUAL(a.argv[3], "-x");
	/* Without --, the first non-option starts the command. */
	CU_ASSERT_EQUAL(parse("run", "--node", "3", "prog", "-v"), 0);
	CU_ASSERT_EQUAL(a.argc, 2);
	CU_ASSERT_STRING_EQUAL(a.argv[1], "-v");
	CU_ASSERT_PTR_NULL(a.workload);
}

static void test_other_commands(void)
{
	CU_ASSERT_EQUAL(parse("migrate", "--to", "4", "w2", "--no-wait"), 0);
	CU_ASSERT_EQUAL(a.cmd, DSMCTL_CMD_MIGRATE);
	CU_ASSERT_EQUAL(a.node, 4);
	CU_ASSERT_TRUE(a.no_wait);
	CU_ASSERT_STRING_EQUAL(a.workload, "w2");
	CU_ASSERT_EQUAL(parse("page", "kv", "18446744073709551615"), 0);
	CU_ASSERT_STRING_EQUAL(a.segment, "kv");
	CU_ASSERT_EQUAL(a.pgno, UINT64_MAX);
	CU_ASSERT_EQUAL(parse("stats", "--node", "63", "--segment", "7"), 0);
	CU_ASSERT_EQUAL(a.node, 63);
	CU_ASSERT_STRING_EQUAL(a.segment, "7");
	CU_ASSERT_EQUAL(parse("stats"), 0);
	CU_ASSERT_PTR_NULL(a.segment);
	CU_ASSERT_EQUAL(parse("drain", "5"), 0);
	CU_ASSERT_EQUAL(a.cmd, DSMCTL_CMD_DRAIN);
	CU_ASSERT_EQUAL(a.node, 5);
	CU_ASSERT_EQUAL(parse("undrain", "1"), 0);
	CU_ASSERT_EQUAL(a.cmd, DSMCTL_CMD_UNDRAIN);
	CU_ASSERT_EQUAL(parse("stop", "w.1_x-y"), 0);
	CU_ASSERT_EQUAL(a.cmd, DSMCTL_CMD_STOP);
	CU_ASSERT_EQUAL(parse("segments"), 0);
	CU_ASSERT_EQUAL(a.cmd, DSMCTL_CMD_SEGMENTS);
}

/* Each bad command line is -EINVAL with a reason naming the problem. */
static void bad(const char *expect, int ret)
{
	CU_ASSERT_EQUAL(ret, -EINVAL);
	if (!strstr(err, expect))
		fprintf(stderr, "\nexpected '%s' in '%s'\n", expect, err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, expect));
}

static void test_errors(void)
{
	bad("missing command", parse_env(NULL, NULL));
	bad("unknown command 'nodez'", parse("nodez"));
	bad("missing command after --", parse("run", "--node", "2"));
	bad("missing command after --", parse("run", "--node", "2", "--"));
	bad("--node N is required", parse("run", "--", "prog"));
	bad("--to N is required", parse("migrate", "w"));
	bad("missing argument", parse("migrate", "--to", "2"));
	bad("unexpected argument 'x'", parse("migrate", "w", "x", "--to", "2"));
	bad("unexpected argument 'x'", parse("nodes", "x"));
	bad("bad node id '0'", parse("drain", "0"));
	bad("bad node id '64'", parse("drain", "64"));
	bad("bad node id '-1'", parse("stats", "--node", "-1"));
	bad("bad node id ' 2'", parse("stats", "--node", " 2"));
	bad("bad node id '2x'", parse("run", "--node", "2x", "--", "p"));
	bad("bad page number '1x'", parse("page", "1", "1x"));
	bad("unknown option '-1'", parse("page", "1", "-1"));
	bad("bad page number '18446744073709551616'", parse("page", "1", "18446744073709551616"));
	bad("bad --timeout '0'", parse("--timeout", "0", "nodes"));
	bad("bad --timeout 'x'", parse("nodes", "--timeout", "x"));
	bad("bad --env 'A'", parse("run", "--node", "1", "--env", "A", "--", "p"));
	bad("bad --env '1A=2'", parse("run", "--node", "1", "--env", "1A=2", "--", "p"));
	bad("bad --env 'A-B=2'", parse("run", "--node", "1", "--env", "A-B=2", "--", "p"));
	bad("bad workload name 'a/b'", parse("stop", "a/b"));
	bad("bad workload name '..'", parse("run", "--node", "1", "--name", "..", "--", "p"));
	bad("bad --cluster 'a/b'", parse("--cluster", "a/b", "nodes"));
	bad("empty --etcd", parse("--etcd", "", "nodes"));
	bad("stats does not take option '--to'", parse("stats", "--to", "3"));
	bad("nodes does not take option '--node'", parse("nodes", "--node", "3"));
	bad("'--etcd' is a global option", parse("nodes", "--etcd", "http://x:1"));
	bad("'--cluster' is a global option", parse("nodes", "--cluster=x"));
	bad("unknown option '--bogus'", parse("--bogus", "nodes"));
	bad("unknown option '-q'", parse("nodes", "-q"));
	bad("option '--node' needs a value", parse("stats", "--node"));
	bad("empty segment", parse("page", "", "1"));
}

static void test_name_ok(void)
{
	char long_name[DSMCTL_NAME_MAX + 1];

	CU_ASSERT_TRUE(dsmctl_name_ok("a"));
	CU_ASSERT_TRUE(dsmctl_name_ok("A-b_c.9"));
	CU_ASSERT_FALSE(dsmctl_name_ok(""));
	CU_ASSERT_FALSE(dsmctl_name_ok("."));
	CU_ASSERT_FALSE(dsmctl_name_ok("a b"));
	memset(long_name, 'x', DSMCTL_NAME_MAX);
	long_name[DSMCTL_NAME_MAX - 1] = '\0';
	CU_ASSERT_TRUE(dsmctl_name_ok(long_name));     /* 63 characters */
	long_name[DSMCTL_NAME_MAX - 1] = 'x';
	long_name[DSMCTL_NAME_MAX] = '\0';
	CU_ASSERT_FALSE(dsmctl_name_ok(long_name));    /* 64 */
}

static void test_usage_lists_exit_codes(void)
{
	CU_ASSERT_PTR_NOT_NULL(strstr(dsmctl_usage, "Exit codes: 0 ok; 1 operation failed"));
	CU_ASSERT_PTR_NOT_NULL(strstr(dsmctl_usage, "4 etcd"));
	CU_ASSERT_PTR_NOT_NULL(strstr(dsmctl_usage, "undrain N"));
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "defaults", test_defaults },
		{ "globals", test_globals },
		{ "run", test_run },
		{ "other_commands", test_other_commands },
		{ "errors", test_errors },
		{ "name_ok", test_name_ok },
		{ "usage_lists_exit_codes", test_usage_lists_exit_codes },
	};

	return DSM_CUNIT_MAIN("dsmctl_args", tests, NULL);
}
