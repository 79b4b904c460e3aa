/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of control/dsmctl/plan.c: where a drained node's workloads go. */
#include <errno.h>
#include <string.h>

#include "cunit_main.h"
#include "dsmctl/plan.h"

static struct dsm_view view_of(const unsigned *ids, unsigned n)
{
	struct dsm_view v = { .epoch = 3, .n = n };

	for (unsigned i = 0; i < n; i++) {
		v.m[i].node = (uint16_t)ids[i];
		v.m[i].incarnation = 100 + ids[i];
	}
	return v;
}

#define BIT(n) (UINT64_C(1) << (n))

static void test_round_robin_lowest_first(void)
{
	const unsigned ids[] = { 1, 2, 3, 4 };
	struct dsm_view v = view_of(ids, 4);
	unsigned t[5];

	/* Drain 1: candidates 2, 3, 4. */
	CU_ASSERT_EQUAL(dsmctl_drain_targets(&v, 0, 1, 5, t), 3);
	CU_ASSERT(t[0] == 2 && t[1] == 3 && t[2] == 4 && t[3] == 2 && t[4] == 3);
	/* Drain 3 with 2 already drained: 1 and 4. */
	CU_ASSERT_EQUAL(dsmctl_drain_targets(&v, BIT(2), 3, 3, t), 2);
	CU_ASSERT(t[0] == 1 && t[1] == 4 && t[2] == 1);
	/* The node drained is never a target even if its bit is not set. */
	CU_ASSERT_EQUAL(dsmctl_drain_targets(&v, BIT(3), 3, 2, t), 3);
	CU_ASSERT(t[0] == 1 && t[1] == 2);
}

static void test_order_is_by_id_whatever_the_view_order(void)
{
	const unsigned ids[] = { 9, 3, 7 };
	struct dsm_view v = view_of(ids, 3);
	unsigned t[4];

	CU_ASSERT_EQUAL(dsmctl_drain_targets(&v, 0, 5, 4, t), 3);
	CU_ASSERT(t[0] == 3 && t[1] == 7 && t[2] == 9 && t[3] == 3);
}

static void test_only_view_members(void)
{
	const unsigned ids[] = { 1, 4 };
	struct dsm_view v = view_of(ids, 2);
	unsigned t[2];

	/* Nodes outside the view (2, 3) are not candidates. */
	CU_ASSERT_EQUAL(dsmctl_drain_targets(&v, 0, 1, 2, t), 1);
	CU_ASSERT(t[0] == 4 && t[1] == 4);
}

static void test_no_candidate(void)
{
	const unsigned ids[] = { 1, 2, 63 };
	struct dsm_view v = view_of(ids, 3), empty = { 0 };
	unsigned t[2] = { 0, 0 };

	CU_ASSERT_EQUAL(dsmctl_drain_targets(&v, BIT(2) | BIT(63), 1, 2, t), -ENOENT);
	CU_ASSERT_EQUAL(dsmctl_drain_targets(&empty, 0, 1, 1, t), -ENOENT);
	/* Nothing to move is fine with or without a candidate. */
	CU_ASSERT_EQUAL(dsmctl_drain_targets(&empty, 0, 1, 0, t), 0);
	CU_ASSERT_EQUAL(dsmctl_drain_targets(&v, BIT(2), 1, 0, t), 1);
	/* Node 63, the highest id, is a candidate like any other. */
	CU_ASSERT_EQUAL(dsmctl_drain_targets(&v, BIT(2), 1, 2, t), 1);
	CU_ASSERT(t[0] == 63 && t[1] == 63);
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "round_robin_lowest_first", test_round_robin_lowest_first },
		{ "order_is_by_id_whatever_the_view_order",
		  test_order_is_by_id_whatever_the_view_order },
		{ "only_view_members", test_only_view_members },
		{ "no_candidate", test_no_candidate },
	};

	return DSM_CUNIT_MAIN("dsmctl_plan", tests, NULL);
}
