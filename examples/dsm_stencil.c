/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm-stencil - a Jacobi-style 2-D stencil computed by N ranks, one per
 * node, over a grid in shared memory.
 *
 * WHAT IT DOES
 * The grid is --rows x --cols uint32 cells, periodic in both directions,
 * double-buffered in the segment (A and B).  Rank r owns the rows
 * [r*rows/N, (r+1)*rows/N).  Each rank fills its rows of A from a hash of
 * (--seed, row, col), then for --iterations steps computes its rows of the
 * destination buffer from the source buffer with the 5-point rule
 *     new = 5 * (north + south + west + east) + 3 * (c ^ (c >> 11)) + 1
 * (mod 2^32), reading the neighbours' boundary rows from their nodes, and
 * waits at a barrier before the next step.  Integer arithmetic keeps the
 * result exactly reproducible; the xor-shift keeps the rule non-linear and
 * non-converging, so a single wrong cell anywhere spreads and shows.
 *
 * The barrier is built on its own page of the segment: an arrival counter
 * (atomic fetch-add, atomic across nodes because a write needs the page
 * exclusively) and a generation word.  The last rank to arrive resets the
 * counter and bumps the generation; the others spin on the generation
 * with a deadline.  With the default --cols 1024, a row is exactly one
 * 4 KiB page, so ranks share only their boundary rows.
 *
 * HOW IT IS CHECKED
 *   - barrier: each rank checks on arrival that the generation equals the
 *     number of barriers it has passed, that the counter never exceeds
 *     N-1 before its own arrival, and that the generation advances by
 *     exactly one; at the end rank 0 checks generation == iterations + 1
 *     and counter == 0;
 *   - result: rank 0 recomputes the whole grid alone, in private memory,
 *     with the same code, and compares the shared result bit for bit; it
 *     reports the mismatching cells (first ones, per owning rank).
 * A rank that ran ahead of the barrier, a lost or stale page, a torn
 * boundary row all make the comparison fail: exit 1 on every rank.
 *
 * HOW TO RUN (three dsm-dataplanes, one control socket each):
 *   dsm-stencil --socket /run/dsm/n1.sock --segment array --rank 0 --nodes 3 --iterations 100
 *   dsm-stencil --socket /run/dsm/n2.sock --segment array --rank 1 --nodes 3 --iterations 100
 *   dsm-stencil --socket /run/dsm/n3.sock --segment array --rank 2 --nodes 3 --iterations 100
 * Every rank must be given the same --rows/--cols/--iterations/--seed and
 * --nodes (checked at start).  Rank 0 creates the segment if no node knows
 * it.  Options: --help.  Exit: 0 ok, 1 check failed, 2 timeout, 3 setup.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ex_common.h"

#define ST_MAGIC 0x44534d2d53543031ull /* "DSM-ST01" */

/* On its own page: contention on it must not slow the grid down. */
struct st_barrier {
	uint64_t count; /* ranks arrived in the current generation */
	uint64_t gen;   /* barriers completed */
};

/* Published in the rank's control slot. */
enum { D_ELAPSED, D_COMPUTE, D_WAIT };

struct st_cfg {
	unsigned nodes;
	uint32_t rows, cols;
	uint64_t iterations;
	uint64_t seed;
};

/* Where things are in the segment. */
struct st_grid {
	const struct st_cfg *cfg;
	struct st_barrier *bar;
	uint32_t *buf[2];
	uint64_t passed; /* barriers this rank has passed */
};

static uint64_t st_buf_bytes(const struct st_cfg *c, size_t page)
{
	return ex_round_up((uint64_t)c->rows * c->cols * sizeof(uint32_t), page);
}

/* Control page, barrier page, then the two buffers, page-aligned. */
static uint64_t st_need(size_t page, const void *arg)
{
	return 2 * page + 2 * st_buf_bytes(arg, page);
}

static void st_locate(struct st_grid *g, const struct st_cfg *c,
		      const struct ex_run *run)
{
	uint8_t *p = run->base + run->page;

	g->cfg = c;
	g->bar = (struct st_barrier *)p;
	g->buf[0] = (uint32_t *)(p + run->page);
	g->buf[1] = (uint32_t *)(p + run->page + st_buf_bytes(c, run->page));
	g->passed = 0;
}

static uint32_t st_row_lo(const struct st_cfg *c, unsigned rank)
{
	return (uint32_t)((uint64_t)rank * c->rows / c->nodes);
}

/* ------------------------------------------------------------ compute */

static uint32_t st_initial(const struct st_cfg *c, uint32_t i, uint32_t j)
{
	return (uint32_t)ex_hash_add(c->seed, (uint64_t)i << 32 | j);
}

static void st_fill(const struct st_cfg *c, uint32_t *buf, uint32_t lo,
		    uint32_t hi)
{
	uint32_t i, j;

	for (i = lo; i < hi; i++)
		for (j = 0; j < c->cols; j++)
			buf[(uint64_t)i * c->cols + j] = st_initial(c, i, j);
}

static inline uint32_t st_cell(uint32_t c, uint32_t n, uint32_t s,
			       uint32_t w, uint32_t e)
{
	return (n + s + w + e) * 5u + (c ^ (c >> 11)) * 3u + 1u;
}

/* One row: columns wrap around (cols >= 2). */
static void st_row(const uint32_t *up, const uint32_t *mid,
		   const uint32_t *down, uint32_t *out, uint32_t cols)
{
	uint32_t j;

	out[0] = st_cell(mid[0], up[0], down[0], mid[cols - 1], mid[1]);
	for (j = 1; j < cols - 1; j++)
		out[j] = st_cell(mid[j], up[j], down[j], mid[j - 1], mid[j + 1]);
	out[cols - 1] = st_cell(mid[cols - 1], up[cols - 1], down[cols - 1],
				mid[cols - 2], mid[0]);
}

/* Rows [lo, hi) of dst from src.  Shared by the ranks and the check. */
static void st_step(const struct st_cfg *c, const uint32_t *src,
		    uint32_t *dst, uint32_t lo, uint32_t hi)
{
	uint64_t cols = c->cols;
	uint32_t i;

	for (i = lo; i < hi; i++) {
		uint32_t up = i ? i - 1 : c->rows - 1;
		uint32_t down = i + 1 < c->rows ? i + 1 : 0;

		st_row(src + up * cols, src + i * cols, src + down * cols,
		       dst + i * cols, c->cols);
	}
}

/* ------------------------------------------------------------ barrier */

static void st_barrier(struct st_grid *g)
{
	struct st_barrier *b = g->bar;
	uint64_t gen = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE), arrived, now;
	struct ex_spin sp;

	/* Nobody can complete a barrier without us: gen counts ours. */
	if (gen != g->passed)
		ex_fail("barrier generation is %" PRIu64 " on arrival, but this "
			"rank has passed %" PRIu64 " barriers", gen, g->passed);
	arrived = __atomic_fetch_add(&b->count, 1, __ATOMIC_ACQ_REL);
	if (arrived >= g->cfg->nodes)
		ex_fail("barrier %" PRIu64 ": %" PRIu64 " ranks arrived before "
			"this one, of %u", gen, arrived, g->cfg->nodes);
	g->passed++;
	if (arrived == g->cfg->nodes - 1) {
		/* Last: reset before releasing, so an early arrival at the
		 * next barrier sees count 0 (same page: ordered). */
		__atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&b->gen, gen + 1, __ATOMIC_RELEASE);
		return;
	}
	ex_spin_start(&sp, "the other ranks at the barrier");
	while ((now = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE)) == gen)
		ex_spin(&sp);
	if (now != gen + 1)
		ex_fail("barrier generation jumped from %" PRIu64 " to %" PRIu64,
			gen, now);
}

/* ------------------------------------------------------------ the run */

struct st_stats {
	struct ex_hist iter;   /* per iteration: compute + barrier */
	uint64_t compute_ns, wait_ns, elapsed_ns;
};

static void st_run(struct st_grid *g, unsigned rank, struct st_stats *s)
{
	const struct st_cfg *c = g->cfg;
	uint32_t lo = st_row_lo(c, rank), hi = st_row_lo(c, rank + 1);
	uint64_t start, t0, t1, t2, k;

	ex_hist_init(&s->iter);
	s->compute_ns = s->wait_ns = 0;
	st_fill(c, g->buf[0], lo, hi);
	st_barrier(g); /* everyone's initial rows are in place */
	start = ex_now_ns();
	for (k = 0; k < c->iterations; k++) {
		t0 = ex_now_ns();
		st_step(c, g->buf[k % 2], g->buf[(k + 1) % 2], lo, hi);
		t1 = ex_now_ns();
		st_barrier(g);
		t2 = ex_now_ns();
		s->compute_ns += t1 - t0;
		s->wait_ns += t2 - t1;
		ex_hist_add(&s->iter, t2 - t0);
	}
	s->elapsed_ns = ex_now_ns() - start;
}

/* ------------------------------------------------------------ verifier */

/* The whole computation on one node, in private memory. */
static uint32_t *st_reference(const struct st_cfg *c)
{
	size_t cells = (size_t)c->rows * c->cols;
	uint32_t *a = malloc(cells * sizeof(*a)), *b = malloc(cells * sizeof(*b));
	uint32_t *t;
	uint64_t k;

	if (!a || !b)
		ex_die("out of memory for the reference grid");
	st_fill(c, a, 0, c->rows);
	for (k = 0; k < c->iterations; k++) {
		st_step(c, a, b, 0, c->rows);
		t = a;
		a = b;
		b = t;
	}
	free(b);
	return a;
}

static unsigned st_owner(const struct st_cfg *c, uint32_t row)
{
	unsigned r = 0;

	while (r + 1 < c->nodes && row >= st_row_lo(c, r + 1))
		r++;
	return r;
}

/* Count differing cells, printing the first few. */
static uint64_t st_compare(const struct st_cfg *c, const uint32_t *want,
			   const uint32_t *got)
{
	uint64_t bad = 0, i, cells = (uint64_t)c->rows * c->cols;
	uint32_t row;

	for (i = 0; i < cells; i++) {
		if (want[i] == got[i])
			continue;
		row = (uint32_t)(i / c->cols);
		if (bad++ < 10)
			fprintf(stderr, "%s: cell (%u,%u) of rank %u: shared %#"
				PRIx32 ", reference %#" PRIx32 "\n", ex_prog, row,
				(uint32_t)(i % c->cols), st_owner(c, row), got[i],
				want[i]);
	}
	return bad;
}

struct st_verify {
	struct st_grid *g;
	uint64_t ref_ns;
};

static int st_verify(struct ex_run *run, void *arg)
{
	struct st_verify *v = arg;
	const struct st_cfg *c = v->g->cfg;
	const uint32_t *got = v->g->buf[c->iterations % 2];
	uint64_t t0 = ex_now_ns(), bad, gen, count;
	uint32_t *want = st_reference(c);

	(void)run;
	v->ref_ns = ex_now_ns() - t0;
	gen = __atomic_load_n(&v->g->bar->gen, __ATOMIC_ACQUIRE);
	count = __atomic_load_n(&v->g->bar->count, __ATOMIC_RELAXED);
	if (gen != c->iterations + 1 || count != 0)
		ex_fail("barrier ends at generation %" PRIu64 " count %" PRIu64
			", expected %" PRIu64 " and 0", gen, count,
			c->iterations + 1);
	bad = st_compare(c, want, got);
	free(want);
	if (!bad)
		return EX_OK;
	fprintf(stderr, "%s: rank 0: VERIFICATION FAILED: %" PRIu64 " of %"
		PRIu64 " cells differ from the single-node recomputation\n",
		ex_prog, bad, (uint64_t)c->rows * c->cols);
	return EX_VIOLATION;
}

/* Rank 0, alone: a fresh barrier; the grid is filled by its owners. */
static void st_init(struct ex_run *run, void *arg)
{
	struct st_grid *g = arg;

	(void)run;
	__atomic_store_n(&g->bar->count, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&g->bar->gen, 0, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------ output */

/* Rank 0: every rank's split of its time, to show load imbalance. */
static void st_print_ranks(const struct ex_run *run, const struct st_cfg *c)
{
	double it = (double)(c->iterations ? c->iterations : 1);
	char b1[32], b2[32];
	unsigned r;

	for (r = 0; r < run->nodes; r++) {
		const uint64_t *d = ex_rank_data(run, r);

		printf("  rank %u (node %u): compute %s, barrier wait %s per "
		       "iteration\n", r, ex_rank_node(run, r),
		       ex_fmt_ns(b1, sizeof(b1), (double)d[D_COMPUTE] / it),
		       ex_fmt_ns(b2, sizeof(b2), (double)d[D_WAIT] / it));
	}
}

static void st_print_human(const struct ex_run *run, const struct st_cfg *c,
			   const struct st_stats *s, uint64_t ref_ns)
{
	double it = (double)(c->iterations ? c->iterations : 1);
	uint32_t rows = st_row_lo(c, run->rank + 1) - st_row_lo(c, run->rank);
	char b1[32], b2[32], b3[32];

	printf("%s rank %u (node %u) of %u, segment '%s': %ux%u grid, %u rows "
	       "here, %" PRIu64 " iterations in %.3f s\n", ex_prog, run->rank,
	       run->node, run->nodes, run->o->segment, c->rows, c->cols, rows,
	       c->iterations, (double)s->elapsed_ns / 1e9);
	printf("  per iteration: %s (compute %s, barrier wait %s); %.1f M "
	       "cell updates/s here\n",
	       ex_fmt_ns(b1, sizeof(b1), (double)s->elapsed_ns / it),
	       ex_fmt_ns(b2, sizeof(b2), (double)s->compute_ns / it),
	       ex_fmt_ns(b3, sizeof(b3), (double)s->wait_ns / it),
	       (double)rows * c->cols * it * 1e3 /
		       (double)(s->elapsed_ns ? s->elapsed_ns : 1));
	ex_hist_print(stdout, "iteration", &s->iter);
	if (run->rank == 0)
		st_print_ranks(run, c);
	if (run->rank == 0)
		printf("  verified: shared grid bit-identical to the single-node "
		       "recomputation (%s); barrier generation %" PRIu64 "\n",
		       ex_fmt_ns(b1, sizeof(b1), (double)ref_ns),
		       c->iterations + 1);
}

static void st_print_json(const struct ex_run *run, const struct st_cfg *c,
			  const struct st_stats *s, uint64_t ref_ns)
{
	double it = (double)(c->iterations ? c->iterations : 1);

	printf("{\"program\":\"%s\",\"segment\":", ex_prog);
	ex_json_str(stdout, run->o->segment);
	printf(",\"rank\":%u,\"node\":%u,\"nodes\":%u,\"rows\":%u,\"cols\":%u,"
	       "\"iterations\":%" PRIu64 ",\"elapsed_s\":%.6f,"
	       "\"iteration_mean_ns\":%.1f,\"compute_mean_ns\":%.1f,"
	       "\"barrier_wait_mean_ns\":%.1f,", run->rank, run->node,
	       run->nodes, c->rows, c->cols, c->iterations,
	       (double)s->elapsed_ns / 1e9, (double)s->elapsed_ns / it,
	       (double)s->compute_ns / it, (double)s->wait_ns / it);
	ex_hist_json(stdout, "iteration_ns", &s->iter);
	if (run->rank == 0)
		printf(",\"reference_s\":%.6f,\"verified\":true",
		       (double)ref_ns / 1e9);
	printf(",\"ok\":true}\n");
}

/* ------------------------------------------------------------ main */

enum { O_ITERATIONS = EX_OPT_PROGRAM, O_ROWS, O_COLS, O_SEED };

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: dsm-stencil --rank N [--nodes N] [options]\n"
		"A 2-D integer stencil over a shared grid; see dsm_stencil.c.\n"
		"  --iterations K  steps (default 100)\n"
		"  --rows R        grid rows, >= --nodes (default 512)\n"
		"  --cols C        grid columns, >= 2 (default 1024: a row is "
		"a 4 KiB page)\n"
		"  --seed S        initial grid (default 1)\n"
		"  (all of these and --nodes must match on every rank)\n"
		"Defaults: --segment array --nodes 3.\n");
	ex_common_usage(f);
}

static void st_parse(int argc, char **argv, struct ex_opts *o,
		     struct st_cfg *c)
{
	static const struct option lo[] = {
		EX_COMMON_LONGOPTS,
		{ "iterations", required_argument, NULL, O_ITERATIONS },
		{ "rows", required_argument, NULL, O_ROWS },
		{ "cols", required_argument, NULL, O_COLS },
		{ "seed", required_argument, NULL, O_SEED },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	ex_opts_init(o, "dsm-stencil", "array", 3);
	*c = (struct st_cfg){ .rows = 512, .cols = 1024, .iterations = 100,
			      .seed = 1 };
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ex_common_opt(o, ch, optarg))
			continue;
		switch (ch) {
		case O_ITERATIONS:
			c->iterations = ex_parse_u64("--iterations", optarg, 1,
						     1ull << 32);
			break;
		case O_ROWS:
			c->rows = (uint32_t)ex_parse_u64("--rows", optarg, 1,
							 1u << 20);
			break;
		case O_COLS:
			c->cols = (uint32_t)ex_parse_u64("--cols", optarg, 2,
							 1u << 20);
			break;
		case O_SEED:
			c->seed = ex_parse_u64("--seed", optarg, 0, UINT64_MAX);
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
	ex_opts_check(o, 1, EX_MAX_RANKS);
	c->nodes = o->nodes;
	if (c->rows < c->nodes)
		ex_die("--rows %u: need at least one row per rank", c->rows);
}

int main(int argc, char **argv)
{
	struct ex_opts o;
	struct st_cfg c;
	struct ex_run run;
	struct st_grid g;
	struct st_stats s;
	struct st_verify v = { .g = &g };
	uint64_t params, *d;

	st_parse(argc, argv, &o, &c);
	ex_setup(&run, &o, st_need, &c);
	st_locate(&g, &c, &run);
	params = ex_hash_add(ex_hash_add(ex_hash_add(ex_hash_add(c.nodes,
				c.rows), c.cols), c.iterations), c.seed);
	ex_join(&run, ST_MAGIC, params, st_init, &g);
	st_run(&g, run.rank, &s);
	d = ex_my_data(&run);
	d[D_ELAPSED] = s.elapsed_ns;
	d[D_COMPUTE] = s.compute_ns;
	d[D_WAIT] = s.wait_ns;
	ex_finish(&run, st_verify, &v);
	if (o.json)
		st_print_json(&run, &c, &s, v.ref_ns);
	else
		st_print_human(&run, &c, &s, v.ref_ns);
	ex_teardown(&run);
	return EX_OK;
}
