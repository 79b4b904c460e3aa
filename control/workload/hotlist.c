/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload/hotlist.h"
#include "workload/json_util.h"

void dsm_hotlist_free(struct dsm_hotlist *hl)
{
	for (size_t i = 0; i < hl->nsegs; i++)
		free(hl->segs[i].runs);
	free(hl->segs);
	memset(hl, 0, sizeof(*hl));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Merge sorted pages into runs appended at runs[*nruns]. */
static void merge_sorted(const uint64_t *p, size_t n, struct dsm_hot_run *runs, size_t *nruns)
{
	for (size_t i = 0; i < n; i++) {
		struct dsm_hot_run *last = *nruns ? &runs[*nruns - 1] : NULL;

		if (i > 0 && p[i] == p[i - 1])
			continue;
		if (last && p[i] == last->first + last->count)
			last->count++;
		else
			runs[(*nruns)++] = (struct dsm_hot_run){ p[i], 1 };
	}
}

int dsm_hot_runs_build(const uint64_t *pgnos, size_t n, size_t window,
		       struct dsm_hot_run **runs, size_t *nruns)
{
	uint64_t *tmp;

	*runs = NULL;
	*nruns = 0;
	if (n == 0)
		return 0;
	if (window == 0)
		window = 1;
	tmp = malloc(n * sizeof(*tmp));
	*runs = malloc(n * sizeof(**runs));   /* at most one run per page */
	if (!tmp || !*runs) {
		free(tmp);
		free(*runs);
		*runs = NULL;
		return -ENOMEM;
	}
	memcpy(tmp, pgnos, n * sizeof(*tmp));
	for (size_t at = 0; at < n; at += window) {
		size_t len = n - at < window ? n - at : window;

		qsort(tmp + at, len, sizeof(*tmp), cmp_u64);
		merge_sorted(tmp + at, len, *runs, nruns);
	}
	free(tmp);
	return 0;
}

int dsm_hotlist_add_seg(struct dsm_hotlist *hl, uint32_t seg,
			const uint64_t *pgnos, size_t n, size_t window)
{
	struct dsm_hot_seg *segs = realloc(hl->segs, (hl->nsegs + 1) * sizeof(*segs));
	struct dsm_hot_seg *s;

	if (!segs)
		return -ENOMEM;
	hl->segs = segs;
	s = &segs[hl->nsegs];
	s->seg = seg;
	if (dsm_hot_runs_build(pgnos, n, window, &s->runs, &s->nruns))
		return -ENOMEM;
	hl->nsegs++;
	return 0;
}

uint64_t dsm_hotlist_pages(const struct dsm_hotlist *hl)
{
	uint64_t n = 0;

	for (size_t i = 0; i < hl->nsegs; i++)
		for (size_t r = 0; r < hl->segs[i].nruns; r++)
			n += hl->segs[i].runs[r].count;
	return n;
}

/* Index of the first element >= v in sorted a[0..n). */
static size_t lower_bound(const uint64_t *a, size_t n, uint64_t v)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t dsm_hot_seg_held(const struct dsm_hot_seg *seg, uint64_t *held, size_t n)
{
	uint64_t count = 0;
	size_t u = 0;

	qsort(held, n, sizeof(*held), cmp_u64);
	for (size_t i = 0; i < n; i++)   /* dedup, so a page counts once */
		if (i == 0 || held[i] != held[u - 1])
			held[u++] = held[i];
	for (size_t r = 0; r < seg->nruns; r++) {
		const struct dsm_hot_run *run = &seg->runs[r];
		uint64_t end = run->first + run->count;

		count += lower_bound(held, u, end < run->first ? UINT64_MAX : end) -
			 lower_bound(held, u, run->first);
	}
	return count;
}

/* --------------------------------------------------------------- JSON */

static json_t *seg_json(const struct dsm_hot_seg *s)
{
	json_t *o = json_object(), *runs = json_array();

	for (size_t r = 0; o && runs && r < s->nruns; r++) {
		json_t *pair = json_pack("[II]", (json_int_t)s->runs[r].first,
					 (json_int_t)s->runs[r].count);

		if (!pair || json_array_append_new(runs, pair)) {
			json_decref(runs);
			runs = NULL;
		}
	}
	if (!o || !runs || json_object_set_new(o, "seg", json_integer(s->seg)) ||
	    json_object_set_new(o, "runs", runs)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int dsm_hotlist_encode(const struct dsm_hotlist *hl, char **out)
{
	json_t *segs = json_array(), *o;
	int ret = segs ? 0 : -ENOMEM;

	*out = NULL;
	for (size_t i = 0; ret == 0 && i < hl->nsegs; i++) {
		json_t *s = seg_json(&hl->segs[i]);

		if (!s || json_array_append_new(segs, s))
			ret = -ENOMEM;
	}
	if (ret) {
		json_decref(segs);
		return ret;
	}
	o = json_pack("{s:I,s:i,s:o}", "gen", (json_int_t)hl->gen, "node", hl->node,
		      "segs", segs);
	*out = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return *out ? 0 : -ENOMEM;
}

static int decode_run(const json_t *pair, struct dsm_hot_run *run)
{
	int64_t first, count;

	if (!json_is_array(pair) || json_array_size(pair) != 2 ||
	    wl_json_i64(json_array_get(pair, 0), &first) < 0 ||
	    wl_json_i64(json_array_get(pair, 1), &count) < 0)
		return -EPROTO;
	if (first < 0 || count < 0)
		return -EINVAL;
	*run = (struct dsm_hot_run){ (uint64_t)first, (uint64_t)count };
	return 0;
}

static int decode_seg(const json_t *o, struct dsm_hot_seg *s)
{
	const json_t *runs = json_object_get(o, "runs");
	int64_t seg;
	int ret = wl_get_range(o, "seg", 0, UINT32_MAX, &seg);

	if (ret <= 0 || !json_is_array(runs))
		return ret < 0 ? ret : -EPROTO;
	s->seg = (uint32_t)seg;
	s->runs = calloc(json_array_size(runs) + 1, sizeof(*s->runs));
	if (!s->runs)
		return -ENOMEM;
	for (size_t r = 0; r < json_array_size(runs); r++) {
		ret = decode_run(json_array_get(runs, r), &s->runs[s->nruns]);
		if (ret)
			return ret;
		if (s->runs[s->nruns].count)
			s->nruns++;
	}
	return 0;
}

static int decode_fields(const json_t *o, struct dsm_hotlist *hl)
{
	const json_t *segs = json_object_get(o, "segs");
	int64_t gen = 0, node = 0;
	int ret = wl_get_range(o, "gen", 0, INT64_MAX, &gen);

	if (ret >= 0)
		ret = wl_get_range(o, "node", 0, UINT16_MAX, &node);
	if (ret < 0 || (segs && !json_is_null(segs) && !json_is_array(segs)))
		return ret < 0 ? ret : -EPROTO;
	hl->gen = (uint64_t)gen;
	hl->node = (uint16_t)node;
	hl->segs = calloc(json_array_size(segs) + 1, sizeof(*hl->segs));
	if (!hl->segs)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(segs); i++) {
		const json_t *s = json_array_get(segs, i);

		/* Count the segment before filling it: freed on failure. */
		hl->nsegs++;
		ret = json_is_object(s) ? decode_seg(s, &hl->segs[i]) : -EPROTO;
		if (ret)
			return ret;
	}
	return 0;
}

int dsm_hotlist_decode(const char *json, size_t len, struct dsm_hotlist *hl)
{
	json_t *o = json_loadb(json, len, 0, NULL);
	int ret;

	memset(hl, 0, sizeof(*hl));
	ret = json_is_object(o) ? decode_fields(o, hl) : -EPROTO;
	json_decref(o);
	if (ret)
		dsm_hotlist_free(hl);
	return ret;
}

/* --------------------------------------------------------------- file */

int dsm_hotlist_write_file(const struct dsm_hotlist *hl, const char *path)
{
	FILE *f = fopen(path, "we");
	int ret = 0;

	if (!f)
		return -errno;
	fprintf(f, "# dsm hotlist gen %" PRIu64 " node %u\n", hl->gen, hl->node);
	for (size_t i = 0; i < hl->nsegs; i++)
		for (size_t r = 0; r < hl->segs[i].nruns; r++)
			fprintf(f, "%" PRIu32 " %" PRIu64 " %" PRIu64 "\n", hl->segs[i].seg,
				hl->segs[i].runs[r].first, hl->segs[i].runs[r].count);
	if (fflush(f) || ferror(f))
		ret = -errno;
	if (fclose(f) && ret == 0)
		ret = -errno;
	return ret;
}
