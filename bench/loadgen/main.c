/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm-loadgen [EAL options] -- --config FILE --workload rw|raw|inject [options]
 *
 * Joins the cluster as a node (its config lists its links to the dataplanes),
 * discovers segments with VMA requests, runs one workload and prints a
 * summary (and a JSON line with --json).  Exit status: 0 when every check
 * passed, 1 on a failed check or error, 2 on bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_eal.h>
#include <rte_errno.h>

#include "loadgen.h"

#define DISCOVERY_TIMEOUT_NS (10ull * 1000000000ull)

static struct lg_ctx g_ctx;

static void on_signal(int sig)
{
	(void)sig;
	if (g_ctx.node)
		dsm_node_stop(g_ctx.node);
}

uint64_t lg_rand(struct lg_ctx *c)
{
	/* xorshift64*: reproducible from --seed */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545f4914f6cdd1dull;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: dsm-loadgen [EAL options] -- --config FILE [options]\n"
		"  -c, --config FILE     this node's configuration (YAML), required\n"
		"  -w, --workload KIND   rw (coherent reads/writes, default), raw (pipelined\n"
		"                        page reads from the home), inject (malformed frames)\n"
		"  -s, --segment ID|all  segment to use (default: first discovered); rw: 'all'\n"
		"                        spreads over every segment of every peer\n"
		"  -p, --pages A:N       pages A..A+N-1 (default: whole segment)\n"
		"  -n, --ops N           operations to issue (default 10000)\n"
		"  -d, --duration S      run for S seconds instead of --ops\n"
		"  -q, --depth N         requests in flight (default 16)\n"
		"  -W, --write-pct P     rw: percentage of writes (default 50)\n"
		"  -S, --seed N          random seed (default: node id)\n"
		"  -V, --verify-sum N    rw: afterwards read every page and check that the\n"
		"                        page counters add up to N (total writes by all nodes)\n"
		"  -L, --linger          rw: keep serving until SIGINT/SIGTERM afterwards\n"
		"  -Q, --sequential      rw: visit pages in order instead of at random\n"
		"  -t, --target NODE     raw: node to address (default: the segment's home);\n"
		"                        inject: required\n"
		"  -C, --check-every N   raw: verify the contents of every Nth page (default 1)\n"
		"  -i, --idle MODE       poll or sleep (default sleep)\n"
		"  -j, --json            also print a JSON summary line\n"
		"  -h, --help\n");
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return (errno || *end || !*s || *s == '-') ? -EINVAL : 0;
}

static int parse_workload(const char *s, struct lg_opts *o)
{
	if (!strcmp(s, "rw"))
		o->workload = LG_RW;
	else if (!strcmp(s, "raw"))
		o->workload = LG_RAW;
	else if (!strcmp(s, "inject"))
		o->workload = LG_INJECT;
	else
		return -EINVAL;
	return 0;
}

static int parse_pages(const char *s, struct lg_opts *o)
{
	unsigned long long a, n;
	char tail;

	if (sscanf(s, "%llu:%llu%c", &a, &n, &tail) != 2 || !n)
		return -EINVAL;
	o->first_page = a;
	o->npages = n;
	return 0;
}

static int parse_one(int opt, const char *arg, struct lg_opts *o)
{
	uint64_t v = 0;
	char *end;

	switch (opt) {
	case 'c': o->config = arg; return 0;
	case 'w': return parse_workload(arg, o);
	case 'p': return parse_pages(arg, o);
	case 'L': o->linger = true; return 0;
	case 'Q': o->sequential = true; return 0;
	case 'j': o->json = true; return 0;
	case 'i':
		if (!strcmp(arg, "poll"))
			o->idle = DSM_IDLE_POLL;
		else if (!strcmp(arg, "sleep"))
			o->idle = DSM_IDLE_SLEEP;
		else
			return -EINVAL;
		return 0;
	case 's':
		if (strcmp(arg, "all"))
			break;
		o->all_segments = true;
		return 0;
	case 'd':
		o->duration_s = strtod(arg, &end);
		o->ops = 0;
		return (*end || o->duration_s <= 0) ? -EINVAL : 0;
	}
	if (parse_u64(arg, &v))
		return -EINVAL;
	switch (opt) {
	case 's': o->seg_id = (uint32_t)v; return v && v < DSM_SEG_ALL ? 0 : -EINVAL;
	case 'n': o->ops = v; return v ? 0 : -EINVAL;
	case 'q': o->depth = (uint32_t)v; return v && v <= 4096 ? 0 : -EINVAL;
	case 'W': o->write_pct = (uint32_t)v; return v <= 100 ? 0 : -EINVAL;
	case 'S': o->seed = v; return 0;
	case 'V': o->verify_sum = (int64_t)v; return 0;
	case 'C': o->check_every = (uint32_t)v; return v && v <= 1000000 ? 0 : -EINVAL;
	case 't': o->target = (uint16_t)v; return v && v < DSM_MAX_NODES ? 0 : -EINVAL;
	}
	return -EINVAL;
}

static int parse_options(int argc, char **argv, struct lg_opts *o)
{
	static const struct option longopts[] = {
		{ "check-every", required_argument, NULL, 'C' },
		{ "config", required_argument, NULL, 'c' },
		{ "depth", required_argument, NULL, 'q' },
		{ "duration", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "idle", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "linger", no_argument, NULL, 'L' },
		{ "ops", required_argument, NULL, 'n' },
		{ "pages", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 'S' },
		{ "sequential", no_argument, NULL, 'Q' },
		{ "segment", required_argument, NULL, 's' },
		{ "target", required_argument, NULL, 't' },
		{ "verify-sum", required_argument, NULL, 'V' },
		{ "workload", required_argument, NULL, 'w' },
		{ "write-pct", required_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct lg_opts){ .workload = LG_RW, .idle = DSM_IDLE_SLEEP, .ops = 10000,
			       .depth = 16, .write_pct = 50, .verify_sum = -1,
			       .check_every = 1 };
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:w:s:p:n:d:q:W:S:V:LQt:i:C:jh", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == '?' || parse_one(c, optarg, o)) {
			if (c != '?')
				fprintf(stderr, "dsm-loadgen: invalid value '%s' for -%c\n", optarg, c);
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc || !o->config) {
		fprintf(stderr, "dsm-loadgen: %s\n", optind < argc ?
			"unexpected argument" : "--config is required");
		return -EINVAL;
	}
	return 0;
}

static bool seg_known(const struct lg_ctx *c, uint32_t seg_id)
{
	for (uint32_t i = 0; i < c->nsegs; i++)
		if (c->segs[i].d.seg_id == seg_id)
			return true;
	return false;
}

/* VMA discovery: every peer is asked for the segments it homes.  One
 * segment: the first that matches.  All: wait for every peer's answer. */
static bool on_vma(struct lg_ctx *c, const struct dsm_msg *m)
{
	struct dsm_wire_vma recs[DSM_CFG_MAX_SEGMENTS];
	uint32_t n = dsm_node_msg_copy(m, recs, sizeof(recs)) / DSM_WIRE_VMA_LEN;

	for (uint32_t i = 0; i < n && c->nsegs < LG_MAX_SEGS; i++) {
		struct lg_seg *s = &c->segs[c->nsegs];
		struct dsm_segment_desc d = {
			.seg_id = rte_be_to_cpu_32(recs[i].seg_id),
			.home = rte_be_to_cpu_16(recs[i].home_node),
			.prot = rte_be_to_cpu_16(recs[i].prot),
			.page_size = rte_be_to_cpu_32(recs[i].page_size),
		};

		if (!d.page_size || seg_known(c, d.seg_id) ||
		    (c->o.seg_id && d.seg_id != c->o.seg_id) ||
		    (!c->o.all_segments && c->nsegs))
			continue;
		d.npages = rte_be_to_cpu_64(recs[i].size) / d.page_size;
		s->d = d;
		memcpy(s->name, recs[i].name, DSM_SEG_NAME_MAX - 1);
		c->nsegs++;
	}
	c->vma_answers++;
	c->seg_ready = c->nsegs && (!c->o.all_segments ||
				    c->vma_answers >= dsm_node_config(c->node)->npeers);
	return true;
}

static bool hook_msg(void *ctx, struct dsm_node *n, const struct dsm_msg *m, uint64_t now)
{
	struct lg_ctx *c = ctx;

	(void)n;
	if (m->type == DSM_MSG_VMA_RESP && c->o.workload == LG_INJECT) {
		if (m->src == c->o.target && m->token == LG_INJECT_SYNC_TOKEN)
			c->inject_synced = true;
		return true;
	}
	if (m->type == DSM_MSG_VMA_RESP)
		return on_vma(c, m);
	if (c->o.workload == LG_RAW && c->state)
		return lg_raw_msg(c, m, now);
	return false;
}

static void hook_complete(void *ctx, struct dsm_node *n, const struct dsm_action *a,
			  uint64_t now)
{
	struct lg_ctx *c = ctx;

	(void)n;
	if (c->o.workload == LG_RW && c->state)
		lg_rw_complete(c, a, now);
}

static int discover(struct lg_ctx *c)
{
	const struct dsm_config *cfg = dsm_node_config(c->node);

	for (uint32_t i = 0; i < cfg->npeers; i++) {
		struct dsm_msg m = { .type = DSM_MSG_VMA_REQ, .dst = cfg->peers[i].id,
				     .seg_id = DSM_SEG_ALL, .token = i + 1 };

		dsm_node_send(c->node, &m, NULL);
	}
	return 0;
}

/* The same page range is used in every segment: it must fit all of them. */
static int start_workload(struct lg_ctx *c)
{
	uint64_t fit = UINT64_MAX;
	int rc;

	for (uint32_t i = 0; i < c->nsegs; i++)
		fit = RTE_MIN(fit, c->segs[i].d.npages - RTE_MIN(c->o.first_page,
								 c->segs[i].d.npages));
	if (c->o.npages == 0)
		c->o.npages = fit;
	if (!c->o.npages || c->o.npages > fit) {
		fprintf(stderr, "dsm-loadgen: pages %lu:%lu do not fit every segment used\n",
			(unsigned long)c->o.first_page, (unsigned long)c->o.npages);
		return -ERANGE;
	}
	for (uint32_t i = 0; i < c->nsegs; i++) {
		rc = dsm_node_add_segment(c->node, &c->segs[i].d, c->segs[i].name);
		if (rc && rc != -EEXIST)
			return rc;
	}
	c->start_ns = dsm_now_ns();
	if (c->o.workload == LG_RW)
		return lg_rw_start(c);
	return lg_raw_start(c);
}

static void print_summary(struct lg_ctx *c);

/* inject: send, then wait (bounded) for the target's answer to the sync. */
static int inject_poll(struct lg_ctx *c, struct dsm_node *n, uint64_t now)
{
	if (!c->injected) {
		c->injected = true;
		if (lg_inject_run(c)) {
			c->exit_code = 1;
			dsm_node_stop(n);
		}
		return 1;
	}
	if (c->inject_synced) {
		dsm_node_stop(n);
	} else if (now - c->start_ns > DISCOVERY_TIMEOUT_NS) {
		fprintf(stderr, "dsm-loadgen: node %u never confirmed the injected frames\n",
			c->o.target);
		c->exit_code = 1;
		dsm_node_stop(n);
	}
	return 0;
}

static int hook_poll(void *ctx, struct dsm_node *n, uint64_t now)
{
	struct lg_ctx *c = ctx;
	int rc;

	if (c->o.workload == LG_INJECT)
		return inject_poll(c, n, now);
	if (!c->state) {
		if (!c->seg_ready) {
			if (now - c->start_ns > DISCOVERY_TIMEOUT_NS) {
				fprintf(stderr, "dsm-loadgen: no segment discovered within 10 s\n");
				c->exit_code = 1;
				dsm_node_stop(n);
			}
			return 0;
		}
		rc = start_workload(c);
		if (rc) {
			fprintf(stderr, "dsm-loadgen: cannot start workload: %s\n", strerror(-rc));
			c->exit_code = 1;
			dsm_node_stop(n);
			return 0;
		}
	}
	rc = c->o.workload == LG_RW ? lg_rw_poll(c, now) : lg_raw_poll(c, now);
	if (c->workload_done && !c->summary_printed) {
		/* Printed now, not at exit: a lingering node keeps serving the
		 * pages it owns, and scripts wait for this line. */
		print_summary(c);
		c->summary_printed = true;
		if (!c->o.linger)
			dsm_node_stop(n);
	}
	return rc;
}

static void print_summary(struct lg_ctx *c)
{
	struct lg_result *r = &c->r;
	double secs = (double)(c->end_ns ? c->end_ns - c->start_ns : dsm_now_ns() - c->start_ns) / 1e9;
	double rate = secs > 0 ? (double)r->ops / secs : 0;
	uint64_t p50 = lg_hist_pct(&r->lat, 50), p99 = lg_hist_pct(&r->lat, 99);
	uint64_t p999 = lg_hist_pct(&r->lat, 99.9);

	printf("dsm-loadgen node %u: %s on %u segment(s) (first: %u) pages %lu:%lu\n",
	       dsm_node_self(c->node), c->o.workload == LG_RW ? "rw" : "raw", c->nsegs,
	       c->segs[0].d.seg_id, (unsigned long)c->o.first_page,
	       (unsigned long)c->o.npages);
	printf("  %lu ops in %.3f s = %.0f ops/s (%lu reads, %lu writes; %lu remote, %lu local)\n",
	       (unsigned long)r->ops, secs, rate, (unsigned long)r->reads,
	       (unsigned long)r->writes, (unsigned long)r->remote, (unsigned long)r->local_hits);
	printf("  latency p50 %.1f us, p99 %.1f us, p99.9 %.1f us\n", p50 / 1e3, p99 / 1e3,
	       p999 / 1e3);
	printf("  errors %lu, check failures %lu, busy retries %lu\n", (unsigned long)r->errors,
	       (unsigned long)r->check_failures, (unsigned long)r->busy);
	printf("dsm-loadgen: workload done\n");
	if (c->o.json)
		printf("{\"node\": %u, \"ops\": %lu, \"reads\": %lu, \"writes\": %lu, "
		       "\"remote\": %lu, \"local\": %lu, \"seconds\": %.6f, \"ops_per_s\": %.1f, "
		       "\"p50_ns\": %lu, \"p99_ns\": %lu, \"p999_ns\": %lu, \"errors\": %lu, "
		       "\"check_failures\": %lu, \"busy\": %lu}\n",
		       dsm_node_self(c->node), (unsigned long)r->ops, (unsigned long)r->reads,
		       (unsigned long)r->writes, (unsigned long)r->remote,
		       (unsigned long)r->local_hits, secs, rate, (unsigned long)p50,
		       (unsigned long)p99, (unsigned long)p999, (unsigned long)r->errors,
		       (unsigned long)r->check_failures, (unsigned long)r->busy);
	fflush(stdout);
}

static int run(struct lg_ctx *c)
{
	static struct dsm_config cfg;
	struct dsm_node_params p = {
		.cfg = &cfg, .idle = c->o.idle,
		.hooks = { .ctx = c, .poll = hook_poll, .on_msg = hook_msg,
			   .on_complete = hook_complete },
	};
	char err[512];
	int rc;

	rc = dsm_config_load(c->o.config, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "dsm-loadgen: %s\n", err);
		return 2;
	}
	c->rng = c->o.seed ? c->o.seed : 0x9e3779b97f4a7c15ull * cfg.node_id;
	if (lg_hist_init(&c->r.lat, 4u << 20))
		return 1;
	rc = dsm_node_create(&p, &c->node);
	if (rc) {
		fprintf(stderr, "dsm-loadgen: cannot start node: %s\n", strerror(-rc));
		return 1;
	}
	if (dsm_node_wait_links(c->node, 10000)) {
		rc = 1;
	} else if (c->o.workload == LG_INJECT) {
		c->start_ns = dsm_now_ns();
		dsm_node_run(c->node);
		rc = c->exit_code || !c->inject_synced;
	} else {
		c->start_ns = dsm_now_ns();
		discover(c);
		dsm_node_run(c->node);
		if (c->state && !c->summary_printed)
			print_summary(c);
		rc = c->exit_code || !c->state || c->r.errors || c->r.check_failures;
	}
	dsm_node_print_stats(c->node, stdout);
	dsm_node_destroy(c->node);
	c->node = NULL;
	lg_hist_fini(&c->r.lat);
	return rc;
}

int main(int argc, char **argv)
{
	int n, rc;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	n = rte_eal_init(argc, argv);
	if (n < 0) {
		fprintf(stderr, "dsm-loadgen: EAL initialisation failed: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	argc -= n;
	argv += n;
	argv[0] = "dsm-loadgen";
	rc = parse_options(argc, argv, &g_ctx.o);
	if (rc == 0)
		rc = run(&g_ctx);
	else
		rc = rc > 0 ? 0 : 2;
	rte_eal_cleanup();
	return rc;
}
