/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm-dataplane [EAL options] -- --config FILE [--idle poll|sleep]
 *
 * A thin main over the node runtime: EAL, options, config, ports, then the
 * lcore loops until SIGINT/SIGTERM.  Prints "dsm-dataplane: node N ready" on
 * stdout once its ports are started (links come up as peers appear; with
 * --link-timeout it first waits for them), which is what scripts wait for.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_pdump.h>

#include "runtime/config.h"
#include "runtime/node.h"

struct options {
	const char *config;
	enum dsm_idle_mode idle;
	uint32_t link_timeout_ms;
	const char *etcd;
};

static struct dsm_node *g_node;

static void on_signal(int sig)
{
	(void)sig;
	if (g_node)
		dsm_node_stop(g_node);
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [EAL options] -- --config FILE [options]\n"
		"  -c, --config FILE        node configuration (YAML), required\n"
		"  -i, --idle MODE          poll (dedicated cores, default) or sleep\n"
		"                           (yield the CPU when idle: shared machines)\n"
		"  -l, --link-timeout MS    wait up to MS for every link before serving (default 0)\n"
		"  -e, --etcd URL[,URL...]  join the cluster through this etcd (overrides\n"
		"                           cluster.etcd; without either, a cluster section\n"
		"                           uses the embedded etcd on loopback)\n"
		"  -h, --help               this text\n", prog);
}

/* Returns 0, 1 for --help, or -EINVAL with a message printed. */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "idle", required_argument, NULL, 'i' },
		{ "link-timeout", required_argument, NULL, 'l' },
		{ "etcd", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	o->idle = DSM_IDLE_POLL;
	o->link_timeout_ms = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:i:l:e:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'i':
			if (!strcmp(optarg, "poll"))
				o->idle = DSM_IDLE_POLL;
			else if (!strcmp(optarg, "sleep"))
				o->idle = DSM_IDLE_SLEEP;
			else {
				fprintf(stderr, "dsm-dataplane: --idle must be poll or sleep, not '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'l':
			errno = 0;
			o->link_timeout_ms = (uint32_t)strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg) {
				fprintf(stderr, "dsm-dataplane: bad --link-timeout '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'e':
			if (strncmp(optarg, "http://", 7) || strlen(optarg) >= DSM_CFG_STR) {
				fprintf(stderr, "dsm-dataplane: --etcd wants http://host:port[,...], not '%s'\n",
					optarg);
				return -EINVAL;
			}
			o->etcd = optarg;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 1;
		default:
			usage(stderr, argv[0]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dsm-dataplane: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->config) {
		fprintf(stderr, "dsm-dataplane: --config is required\n");
		usage(stderr, argv[0]);
		return -EINVAL;
	}
	return 0;
}

static int serve(const struct options *o)
{
	static struct dsm_config cfg;
	struct dsm_node_params p = { .cfg = &cfg, .idle = o->idle, .add_config_segments = true };
	char err[512];
	int rc;

	rc = dsm_config_load(o->config, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "dsm-dataplane: %s\n", err);
		return 2;
	}
	if (o->etcd) {
		cfg.cluster.enabled = true;
		snprintf(cfg.cluster.etcd, sizeof(cfg.cluster.etcd), "%s", o->etcd);
	}
	rc = dsm_node_create(&p, &g_node);
	if (rc) {
		fprintf(stderr, "dsm-dataplane: cannot start node: %s\n", strerror(-rc));
		return 1;
	}
	rte_pdump_init();
	/* Links to peers come up as the peers start (memif clients reconnect
	 * from the I/O loop); --link-timeout only delays serving until then. */
	if (o->link_timeout_ms && dsm_node_wait_links(g_node, o->link_timeout_ms))
		fprintf(stderr, "dsm-dataplane: serving with some links still down\n");
	printf("dsm-dataplane: node %u ready\n", cfg.node_id);
	fflush(stdout);
	dsm_node_run(g_node);
	dsm_node_print_stats(g_node, stdout);
	rte_pdump_uninit();
	dsm_node_destroy(g_node);
	g_node = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	int n, rc;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	n = rte_eal_init(argc, argv);
	if (n < 0) {
		fprintf(stderr, "dsm-dataplane: EAL initialisation failed: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	argc -= n;
	argv += n;
	argv[0] = "dsm-dataplane";
	rc = parse_options(argc, argv, &o);
	if (rc == 0)
		rc = serve(&o);
	else
		rc = rc > 0 ? 0 : 2;
	rte_eal_cleanup();
	return rc;
}
