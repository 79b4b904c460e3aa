/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of control/dsmctl/evacuate.c: summing the members' progress
 * answers (/dsm/evacuation), the part of drain that does no I/O. */
#include <errno.h>
#include <string.h>

#include "cunit_main.h"
#include "dsmctl/evacuate.h"

static json_t *answer(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	return j;
}

static void test_sums_members(void)
{
	struct dsmctl_evac e = { .node = 1 };
	json_t *a = answer("{\"node\":1,\"active\":1,\"heir\":1,\"segments\":2,\"pages\":321,"
			   "\"done\":100,\"copied\":40,\"lost\":2,\"failed\":1}");
	json_t *b = answer("{\"node\":1,\"active\":0,\"pages\":9,\"done\":9,\"copied\":3,"
			   "\"lost\":0,\"failed\":0}");

	CU_ASSERT_EQUAL(dsmctl_evac_add(&e, a), 0);
	CU_ASSERT_EQUAL(dsmctl_evac_add(&e, b), 0);
	CU_ASSERT(e.active == 1 && e.pages == 330 && e.done == 109 && e.copied == 43 &&
		  e.lost == 2 && e.failed == 1);
	json_decref(a);
	json_decref(b);
}

/* Telemetry values may come as strings (int64 past 2^53), or be missing
 * (an older node): missing counts as 0. */
static void test_strings_and_missing_fields(void)
{
	struct dsmctl_evac e = { .node = 7 };
	json_t *a = answer("{\"node\":\"7\",\"active\":\"0\",\"pages\":\"18446744073709551615\"}");

	CU_ASSERT_EQUAL(dsmctl_evac_add(&e, a), 0);
	CU_ASSERT(e.active == 0 && e.pages == UINT64_MAX && e.done == 0 && e.copied == 0);
	json_decref(a);
}

/* A member whose last job is about another node, or an answer that is
 * not a dict, adds nothing and is refused. */
static void test_other_node_refused(void)
{
	struct dsmctl_evac e = { .node = 1 }, before;
	json_t *other = answer("{\"node\":2,\"active\":1,\"pages\":5,\"done\":1}");
	json_t *none = answer("{\"node\":0,\"active\":0}");
	json_t *arr = answer("[1,2]");

	before = e;
	CU_ASSERT_EQUAL(dsmctl_evac_add(&e, other), -EINVAL);
	CU_ASSERT_EQUAL(dsmctl_evac_add(&e, none), -EINVAL);
	CU_ASSERT_EQUAL(dsmctl_evac_add(&e, arr), -EINVAL);
	CU_ASSERT_EQUAL(dsmctl_evac_add(&e, NULL), -EINVAL);
	CU_ASSERT(memcmp(&e, &before, sizeof(e)) == 0);
	json_decref(other);
	json_decref(none);
	json_decref(arr);
}

static void test_json(void)
{
	struct dsmctl_evac e = { .node = 1, .in_view = true, .heir = 2, .pages = 10,
				 .copied = 8, .lost = 1, .failed = 0 };
	json_t *j = dsmctl_evac_json(&e);
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);

	CU_ASSERT_STRING_EQUAL(s, "{\"copied\":8,\"failed\":0,\"heir\":2,\"in_view\":true,"
			       "\"lost\":1,\"pages\":10}");
	free(s);
	json_decref(j);
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "sums_members", test_sums_members },
		{ "strings_and_missing_fields", test_strings_and_missing_fields },
		{ "other_node_refused", test_other_node_refused },
		{ "json", test_json },
	};

	return DSM_CUNIT_MAIN("dsmctl_evacuate", tests, NULL);
}
