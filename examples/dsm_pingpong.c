/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm-pingpong - two ranks on two nodes write one page alternately, to
 * measure what it costs to move write ownership of a page back and forth.
 *
 * WHAT IT DOES
 * Page 1 of the segment holds a token word (offset 0) and a payload of
 * --bytes bytes (offset 64, same page).  The token starts at 0.  Rank 0
 * writes the odd tokens, rank 1 the even ones: a rank waits until the
 * token is the value it expects (rank 0: 2k, rank 1: 2k+1), checks the
 * payload, then writes the payload for the next token and the token
 * itself (release store).  Each write needs the page exclusively, so
 * every step moves ownership to the other node and invalidates its copy;
 * every poll after that refetches the page.
 *
 * A round trip, as rank 0 measures it: from its store of token 2k-1 to
 * its load that sees 2k, i.e. the page goes to rank 1 (read, then write
 * upgrade) and back to rank 0 (read).  Rank 1 measures the same from its
 * side.  --warmup round trips are run first and not counted.  Reported:
 * min, mean, p50/p90/p99/p99.9, max, and round trips per second.
 *
 * HOW IT IS CHECKED
 *   - while waiting for token t, a rank may only ever see t-1 (its own
 *     last write) or t: anything else (a skipped, repeated or stale
 *     token) fails;
 *   - on seeing token t, the payload must be exactly the pattern of t, so
 *     the data written before the token travelled with the page;
 *   - at the end rank 0 checks the token is 2 * (warmup + iterations).
 * Violation: exit 1 on both ranks.
 *
 * HOW TO RUN (two dsm-dataplanes, one control socket each):
 *   dsm-pingpong --socket /run/dsm/n1.sock --segment pingpong --rank 0 --iterations 10000
 *   dsm-pingpong --socket /run/dsm/n2.sock --segment pingpong --rank 1 --iterations 10000
 * --iterations, --warmup and --bytes must match (checked at start).
 * Rank 0 creates the segment if no node knows it.  Options: --help.
 * Exit: 0 ok, 1 check failed, 2 timeout, 3 setup error.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ex_common.h"

#define PP_MAGIC 0x44534d2d50503031ull /* "DSM-PP01" */
#define PP_PAYLOAD_OFF 64

enum { D_P50, D_P99, D_ELAPSED };

struct pp_cfg {
	uint64_t iterations, warmup;
	uint32_t bytes; /* multiple of 8 */
};

struct pp_page {
	uint64_t *token;
	uint64_t *payload; /* bytes / 8 words */
	uint32_t words;
};

/* Control page + the ping-pong page (--bytes is checked against it). */
static uint64_t pp_need(size_t page, const void *arg)
{
	(void)arg;
	return 2 * page;
}

static uint64_t pp_word(uint64_t token, uint32_t i)
{
	return ex_hash_add(token, i);
}

/* Plain stores: the release store of the token publishes them. */
static void pp_put_payload(const struct pp_page *p, uint64_t token)
{
	uint32_t i;

	for (i = 0; i < p->words; i++)
		p->payload[i] = pp_word(token, i);
}

static void pp_check_payload(const struct pp_page *p, uint64_t token)
{
	uint32_t i;

	for (i = 0; i < p->words; i++)
		if (p->payload[i] != pp_word(token, i))
			ex_fail("token %" PRIu64 ": payload word %u is %#" PRIx64
				", expected %#" PRIx64 " (data did not travel "
				"with the page)", token, i, p->payload[i],
				pp_word(token, i));
}

/* Spin until the token is `want`; only want-1 may be seen meanwhile. */
static void pp_wait(const struct pp_page *p, uint64_t want)
{
	struct ex_spin sp;
	uint64_t t;
	bool started = false;

	while ((t = __atomic_load_n(p->token, __ATOMIC_ACQUIRE)) != want) {
		if (want == 0 || t != want - 1)
			ex_fail("token is %" PRIu64 " while waiting for %" PRIu64
				" (only %" PRIu64 " may be seen meanwhile)", t,
				want, want ? want - 1 : 0);
		if (!started) {
			ex_spin_start(&sp, "the other rank's token");
			started = true;
		}
		ex_spin(&sp);
	}
}

/* Rank 0, alone: token 0 and the pattern that goes with it. */
static void pp_init(struct ex_run *run, void *arg)
{
	const struct pp_page *p = arg;

	(void)run;
	pp_put_payload(p, 0);
	__atomic_store_n(p->token, 0, __ATOMIC_RELEASE);
}

/* The exchange; returns elapsed ns. */
static uint64_t pp_run(const struct pp_page *p, const struct pp_cfg *c,
		       unsigned rank, struct ex_hist *rtt)
{
	uint64_t total = c->warmup + c->iterations, k, want;
	uint64_t start = ex_now_ns(), wrote = 0, seen;

	for (k = 0; k < total; k++) {
		want = 2 * k + rank;
		pp_wait(p, want);
		seen = ex_now_ns();
		if (k > c->warmup)
			ex_hist_add(rtt, seen - wrote);
		pp_check_payload(p, want);
		pp_put_payload(p, want + 1);
		__atomic_store_n(p->token, want + 1, __ATOMIC_RELEASE);
		wrote = ex_now_ns();
	}
	if (rank == 0) { /* the last round trip: rank 1's final token */
		pp_wait(p, 2 * total);
		ex_hist_add(rtt, ex_now_ns() - wrote);
		pp_check_payload(p, 2 * total);
	}
	return ex_now_ns() - start;
}

struct pp_verify {
	const struct pp_page *p;
	const struct pp_cfg *c;
};

static int pp_verify(struct ex_run *run, void *arg)
{
	const struct pp_verify *v = arg;
	uint64_t want = 2 * (v->c->warmup + v->c->iterations);
	uint64_t t = __atomic_load_n(v->p->token, __ATOMIC_ACQUIRE);

	(void)run;
	if (t != want)
		ex_fail("final token is %" PRIu64 ", expected %" PRIu64, t, want);
	pp_check_payload(v->p, want);
	return EX_OK;
}

/* ------------------------------------------------------------ output */

static void pp_print_human(const struct ex_run *run, const struct pp_cfg *c,
			   const struct ex_hist *rtt, uint64_t elapsed)
{
	const uint64_t *d1 = ex_rank_data(run, 1);
	char b1[32], b2[32];

	printf("%s rank %u (node %u), segment '%s' (page %zu bytes): %" PRIu64
	       " round trips (+%" PRIu64 " warmup), %u-byte payload, %.0f "
	       "round trips/s\n", ex_prog, run->rank, run->node,
	       run->o->segment, run->page, c->iterations, c->warmup, c->bytes,
	       (double)(c->iterations + c->warmup) * 1e9 /
		       (double)(elapsed ? elapsed : 1));
	ex_hist_print(stdout, "round trip", rtt);
	if (run->rank == 0)
		printf("  rank 1 (node %u) saw p50 %s, p99 %s; every token and "
		       "payload verified\n", ex_rank_node(run, 1),
		       ex_fmt_ns(b1, sizeof(b1), (double)d1[D_P50]),
		       ex_fmt_ns(b2, sizeof(b2), (double)d1[D_P99]));
}

static void pp_print_json(const struct ex_run *run, const struct pp_cfg *c,
			  const struct ex_hist *rtt, uint64_t elapsed)
{
	printf("{\"program\":\"%s\",\"segment\":", ex_prog);
	ex_json_str(stdout, run->o->segment);
	printf(",\"rank\":%u,\"node\":%u,\"page_size\":%zu,\"round_trips\":%"
	       PRIu64 ",\"warmup\":%" PRIu64 ",\"bytes\":%u,\"elapsed_s\":%.6f,"
	       "\"round_trips_per_s\":%.1f,", run->rank, run->node, run->page,
	       c->iterations, c->warmup, c->bytes, (double)elapsed / 1e9,
	       (double)(c->iterations + c->warmup) * 1e9 /
		       (double)(elapsed ? elapsed : 1));
	ex_hist_json(stdout, "rtt_ns", rtt);
	printf(",\"ok\":true}\n");
}

/* ------------------------------------------------------------ main */

enum { O_ITERATIONS = EX_OPT_PROGRAM, O_WARMUP, O_BYTES };

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: dsm-pingpong --rank 0|1 [options]\n"
		"Ping-pong of one page between two nodes; see dsm_pingpong.c.\n"
		"  --iterations N  measured round trips (default 10000)\n"
		"  --warmup N      unmeasured round trips first (default 100)\n"
		"  --bytes B       payload in the page, multiple of 8, checked\n"
		"                  on every step (default 64)\n"
		"Defaults: --segment pingpong; --nodes is always 2.\n");
	ex_common_usage(f);
}

static void pp_parse(int argc, char **argv, struct ex_opts *o,
		     struct pp_cfg *c)
{
	static const struct option lo[] = {
		EX_COMMON_LONGOPTS,
		{ "iterations", required_argument, NULL, O_ITERATIONS },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "bytes", required_argument, NULL, O_BYTES },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	ex_opts_init(o, "dsm-pingpong", "pingpong", 2);
	*c = (struct pp_cfg){ .iterations = 10000, .warmup = 100, .bytes = 64 };
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ex_common_opt(o, ch, optarg))
			continue;
		switch (ch) {
		case O_ITERATIONS:
			c->iterations = ex_parse_u64("--iterations", optarg, 1,
						     1ull << 40);
			break;
		case O_WARMUP:
			c->warmup = ex_parse_u64("--warmup", optarg, 0, 1ull << 40);
			break;
		case O_BYTES:
			c->bytes = (uint32_t)ex_parse_u64("--bytes", optarg, 0,
							  1u << 21);
			break;
		case 'h':
			usage(stdout);
			exit(EX_OK);
		default:
			usage(stderr);
			exit(EX_SETUP);
		}
	}
	if (optind < argc)
		ex_die("unexpected argument '%s'", argv[optind]);
	if (c->bytes % 8)
		ex_die("--bytes %u: must be a multiple of 8", c->bytes);
	ex_opts_check(o, 2, 2);
}

int main(int argc, char **argv)
{
	struct ex_opts o;
	struct pp_cfg c;
	struct ex_run run;
	struct ex_hist rtt;
	struct pp_page p;
	struct pp_verify v = { .p = &p, .c = &c };
	uint64_t params, elapsed, *d;

	pp_parse(argc, argv, &o, &c);
	ex_setup(&run, &o, pp_need, &c);
	if (PP_PAYLOAD_OFF + c.bytes > run.page)
		ex_die("--bytes %u does not fit in one %zu-byte page with the "
		       "token", c.bytes, run.page);
	p.token = (uint64_t *)(run.base + run.page);
	p.payload = (uint64_t *)(run.base + run.page + PP_PAYLOAD_OFF);
	p.words = c.bytes / 8;
	params = ex_hash_add(ex_hash_add(c.iterations, c.warmup), c.bytes);
	ex_join(&run, PP_MAGIC, params, pp_init, &p);
	ex_hist_init(&rtt);
	elapsed = pp_run(&p, &c, run.rank, &rtt);
	d = ex_my_data(&run);
	d[D_P50] = ex_hist_pct(&rtt, 50);
	d[D_P99] = ex_hist_pct(&rtt, 99);
	d[D_ELAPSED] = elapsed;
	ex_finish(&run, pp_verify, &v);
	if (o.json)
		pp_print_json(&run, &c, &rtt, elapsed);
	else
		pp_print_human(&run, &c, &rtt, elapsed);
	ex_teardown(&run);
	return EX_OK;
}
