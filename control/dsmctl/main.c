/* SPDX-License-Identifier: BSD-3-Clause */
/* dsmctl: parse, connect to etcd, run one command (usage in args.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsmctl/dsmctl.h"

typedef int (*cmd_fn)(struct dsmctl *c);

static const cmd_fn cmd_fns[] = {
	[DSMCTL_CMD_NODES] = dsmctl_cmd_nodes,
	[DSMCTL_CMD_SEGMENTS] = dsmctl_cmd_segments,
	[DSMCTL_CMD_STATS] = dsmctl_cmd_stats,
	[DSMCTL_CMD_PAGE] = dsmctl_cmd_page,
	[DSMCTL_CMD_WORKLOADS] = dsmctl_cmd_workloads,
	[DSMCTL_CMD_RUN] = dsmctl_cmd_run,
	[DSMCTL_CMD_MIGRATE] = dsmctl_cmd_migrate,
	[DSMCTL_CMD_STOP] = dsmctl_cmd_stop,
	[DSMCTL_CMD_DRAIN] = dsmctl_cmd_drain,
	[DSMCTL_CMD_UNDRAIN] = dsmctl_cmd_undrain,
};

/* One etcd request never waits longer than the operator's --timeout, and
 * never longer than 5 s: a wait on a workload is many short requests. */
static unsigned request_timeout_ms(const struct dsmctl_args *a)
{
	return a->timeout_s < 5 ? a->timeout_s * 1000 : 5000;
}

static int connect_etcd(struct dsmctl *c)
{
	c->etcd = dsm_etcd_new(c->args->etcd, request_timeout_ms(c->args), NULL);
	if (c->etcd)
		return 0;
	if (errno == EINVAL)
		return dsmctl_err(DSMCTL_EUSAGE, "bad --etcd endpoint list '%s' "
				  "(http://HOST:PORT[,http://HOST:PORT...])", c->args->etcd);
	return dsmctl_err(DSMCTL_EETCD, "cannot set up an etcd client for %s: %s",
			  c->args->etcd, strerror(errno));
}

int main(int argc, char **argv)
{
	struct dsmctl_args a;
	struct dsmctl c = { .args = &a };
	char err[512];
	int rc;

	if (dsmctl_parse_args(argc, argv, getenv("DSM_ETCD"), &a, err, sizeof(err)))
		return dsmctl_err(DSMCTL_EUSAGE, "%s", err);
	if (a.help) {
		fputs(dsmctl_usage, stdout);
		return DSMCTL_OK;
	}
	snprintf(c.prefix, sizeof(c.prefix), "/dsm/%s/", a.cluster);
	if (gethostname(c.host, sizeof(c.host) - 1))
		c.host[0] = '\0';
	rc = connect_etcd(&c);
	if (rc == 0)
		rc = cmd_fns[a.cmd](&c);
	dsm_etcd_free(c.etcd);
	fflush(stdout);
	return rc;
}
