/* SPDX-License-Identifier: BSD-3-Clause */
/* Page tag format and latency histogram helpers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static uint64_t fill_word(const struct lg_page_hdr *h, uint32_t i)
{
	return mix(h->counter * 0x9e3779b97f4a7c15ull ^ h->writer << 48 ^ h->wseq ^ i);
}

void lg_page_write(void *page, uint32_t size, uint64_t counter, uint64_t writer,
		   uint64_t wseq)
{
	struct lg_page_hdr *h = page;
	uint64_t *w = page;

	h->magic = LG_PAGE_MAGIC;
	h->counter = counter;
	h->writer = writer;
	h->wseq = wseq;
	for (uint32_t i = sizeof(*h) / 8; i < size / 8; i++)
		w[i] = fill_word(h, i);
}

int lg_page_check(const void *page, uint32_t size, uint64_t *counter)
{
	const struct lg_page_hdr *h = page;
	const uint64_t *w = page;

	if (h->magic != LG_PAGE_MAGIC) {
		for (uint32_t i = 0; i < size / 8; i++)
			if (w[i])
				return -EIO;
		*counter = 0; /* never written: all zero */
		return 0;
	}
	for (uint32_t i = sizeof(*h) / 8; i < size / 8; i++)
		if (w[i] != fill_word(h, i))
			return -EIO;
	*counter = h->counter;
	return 0;
}

int lg_hist_init(struct lg_hist *h, uint64_t cap)
{
	h->ns = malloc(cap * sizeof(*h->ns));
	h->n = 0;
	h->cap = cap;
	return h->ns ? 0 : -ENOMEM;
}

void lg_hist_add(struct lg_hist *h, uint64_t ns)
{
	if (h->n < h->cap)
		h->ns[h->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t lg_hist_pct(struct lg_hist *h, double pct)
{
	static const struct lg_hist *sorted;
	uint64_t idx;

	if (!h->n)
		return 0;
	if (sorted != h) {
		qsort(h->ns, h->n, sizeof(*h->ns), cmp_u64);
		sorted = h;
	}
	idx = (uint64_t)(pct / 100.0 * (double)(h->n - 1) + 0.5);
	return h->ns[idx < h->n ? idx : h->n - 1];
}

void lg_hist_fini(struct lg_hist *h)
{
	free(h->ns);
	h->ns = NULL;
}
