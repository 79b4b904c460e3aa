/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>

#include "dsmctl/plan.h"

int dsmctl_drain_targets(const struct dsm_view *view, uint64_t drained, unsigned from,
			 size_t nwork, unsigned *targets)
{
	unsigned cand[DSM_VIEW_MAX], n = 0;

	/* Insertion in id order: a decoded view is sorted already, but the
	 * order is the contract here, whoever built the view. */
	for (uint32_t i = 0; i < view->n && i < DSM_VIEW_MAX; i++) {
		unsigned id = view->m[i].node, j = n;

		if (id == from || id >= 64 || (drained & (UINT64_C(1) << id)))
			continue;
		for (; j > 0 && cand[j - 1] > id; j--)
			cand[j] = cand[j - 1];
		cand[j] = id;
		n++;
	}
	if (n == 0)
		return nwork ? -ENOENT : 0;
	for (size_t w = 0; w < nwork; w++)
		targets[w] = cand[w % n];
	return (int)n;
}
