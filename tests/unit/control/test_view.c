/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of control/membership/view.c: proposals, departures, JSON. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "cunit_main.h"
#include "membership/view.h"

static struct dsm_view view(uint64_t epoch, const struct dsm_member *m, uint32_t n)
{
	struct dsm_view v = { .epoch = epoch, .n = n };

	memcpy(v.m, m, n * sizeof(*m));
	CU_ASSERT_EQUAL(dsm_view_normalize(&v), 0);
	return v;
}

static bool same_view(const struct dsm_view *a, const struct dsm_view *b)
{
	if (a->epoch != b->epoch || a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (a->m[i].node != b->m[i].node || a->m[i].incarnation != b->m[i].incarnation)
			return false;
	return true;
}

static void test_first_view(void)
{
	const struct dsm_member live_m[] = { { 3, 1 }, { 1, 7 }, { 2, 5 } };
	struct dsm_view none = { 0 }, live = view(0, live_m, 3), next;

	CU_ASSERT_EQUAL(dsm_view_next(&none, &live, &next), 1);
	CU_ASSERT_EQUAL(next.epoch, 1);
	CU_ASSERT_EQUAL(next.n, 3);
	CU_ASSERT(next.m[0].node == 1 && next.m[1].node == 2 && next.m[2].node == 3);
}

static void test_no_change_no_proposal(void)
{
	const struct dsm_member m[] = { { 1, 7 }, { 2, 5 } };
	struct dsm_view cur = view(4, m, 2), live = view(0, m, 2), next;

	CU_ASSERT_EQUAL(dsm_view_next(&cur, &live, &next), 0);
}

/* A death, a join and a restart (same id, new incarnation) each make a
 * new epoch; the restarted and dead nodes are written off. */
static void test_changes_and_departures(void)
{
	const struct dsm_member cur_m[] = { { 1, 7 }, { 2, 5 }, { 3, 1 } };
	const struct dsm_member live_m[] = { { 1, 7 }, { 3, 2 }, { 4, 1 } };
	struct dsm_view cur = view(9, cur_m, 3), live = view(0, live_m, 3), next;
	struct dsm_member gone[8];
	uint32_t n;

	CU_ASSERT_EQUAL(dsm_view_next(&cur, &live, &next), 1);
	CU_ASSERT_EQUAL(next.epoch, 10);
	n = dsm_view_departed(&cur, &next, gone, 8);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT(gone[0].node == 2 && gone[1].node == 3 && gone[1].incarnation == 1);
	CU_ASSERT(dsm_view_has(&next, 3, 2) && !dsm_view_has(&next, 3, 1));
}

/* Two nodes noticing the same change propose the same view: the etcd
 * compare-and-swap lets one through, the other re-reads it and is done. */
static void test_racing_proposals_agree(void)
{
	const struct dsm_member cur_m[] = { { 1, 1 }, { 2, 1 } };
	const struct dsm_member live_m[] = { { 1, 1 }, { 2, 1 }, { 3, 1 } };
	struct dsm_view cur = view(2, cur_m, 2), live = view(0, live_m, 3), a, b, after;

	CU_ASSERT_EQUAL(dsm_view_next(&cur, &live, &a), 1);
	CU_ASSERT_EQUAL(dsm_view_next(&cur, &live, &b), 1);
	CU_ASSERT(same_view(&a, &b));
	CU_ASSERT_EQUAL(dsm_view_next(&a, &live, &after), 0);
}

static void test_normalize_rejects(void)
{
	struct dsm_view v = { .n = 2, .m = { { 5, 1 }, { 5, 2 } } };

	CU_ASSERT_EQUAL(dsm_view_normalize(&v), -EINVAL);
	v = (struct dsm_view){ .n = 1, .m = { { 0, 1 } } };
	CU_ASSERT_EQUAL(dsm_view_normalize(&v), -EINVAL);
	v = (struct dsm_view){ .n = 1, .m = { { 64, 1 } } };
	CU_ASSERT_EQUAL(dsm_view_normalize(&v), -EINVAL);
}

static void test_json_round_trip(void)
{
	const struct dsm_member m[] = { { 2, 18446744073709551615ull }, { 1, 3 } };
	struct dsm_view v = view(77, m, 2), back;
	struct dsm_member mb, mm = { 9, 12345678901ull };
	char buf[512];
	int n = dsm_view_encode(&v, buf, sizeof(buf));

	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(dsm_view_decode(buf, (size_t)n, &back), 0);
	CU_ASSERT(same_view(&v, &back));
	CU_ASSERT_EQUAL(dsm_view_encode(&v, buf, 10), -ENOSPC);
	n = dsm_member_encode(&mm, buf, sizeof(buf));
	CU_ASSERT_EQUAL(dsm_member_decode(buf, (size_t)n, &mb), 0);
	CU_ASSERT(mb.node == 9 && mb.incarnation == 12345678901ull);
}

/* What another writer (or the etcd gateway's conventions) may produce:
 * int64 as strings, extra keys; and what must be refused. */
static void test_json_tolerant_and_strict(void)
{
	static const struct { const char *json; int want; } cases[] = {
		{ "{\"epoch\":\"5\",\"members\":[[\"1\",\"2\"]],\"x\":true}", 0 },
		{ "{\"epoch\":5,\"members\":[]}", 0 },
		{ "{\"epoch\":0,\"members\":[]}", -EPROTO },
		{ "{\"epoch\":-1,\"members\":[]}", -EPROTO },
		{ "{\"epoch\":\"5x\",\"members\":[]}", -EPROTO },
		{ "{\"members\":[]}", -EPROTO },
		{ "{\"epoch\":5}", -EPROTO },
		{ "{\"epoch\":5,\"members\":[[1]]}", -EPROTO },
		{ "{\"epoch\":5,\"members\":[[64,1]]}", -EPROTO },
		{ "{\"epoch\":5,\"members\":[[1,1],[1,2]]}", -EPROTO },
		{ "{\"epoch\":5,\"members\":[[1,\"-3\"]]}", -EPROTO },
		{ "[1,2]", -EPROTO },
		{ "{\"epoch\":5,", -EPROTO },
		{ "", -EPROTO },
	};
	struct dsm_view v;
	struct dsm_member m = { 0 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_EQUAL(dsm_view_decode(cases[i].json, strlen(cases[i].json), &v),
				cases[i].want);
	static const char *ok = "{\"node\":\"3\",\"incarnation\":\"9\"}";
	static const char *zero = "{\"node\":0,\"incarnation\":1}";
	static const char *half = "{\"node\":1}";

	CU_ASSERT_EQUAL(dsm_member_decode(ok, strlen(ok), &m), 0);
	CU_ASSERT(m.node == 3 && m.incarnation == 9);
	CU_ASSERT_EQUAL(dsm_member_decode(zero, strlen(zero), &m), -EPROTO);
	CU_ASSERT_EQUAL(dsm_member_decode(half, strlen(half), &m), -EPROTO);
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "first_view", test_first_view },
		{ "no_change_no_proposal", test_no_change_no_proposal },
		{ "changes_and_departures", test_changes_and_departures },
		{ "racing_proposals_agree", test_racing_proposals_agree },
		{ "normalize_rejects", test_normalize_rejects },
		{ "json_round_trip", test_json_round_trip },
		{ "json_tolerant_and_strict", test_json_tolerant_and_strict },
	};

	return DSM_CUNIT_MAIN("view", tests, NULL);
}
