/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of control/dsmctl/table.c: aligned columns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "dsmctl/table.h"

/* The table as printed, malloc'd. */
static char *render(const struct dsmctl_table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	dsmctl_table_print(t, f);
	fclose(f);
	return buf;
}

static void test_alignment(void)
{
	static const char *const heads[] = { "NODE", "HOST", "PAGES", "STATE" };
	struct dsmctl_table *t = dsmctl_table_new(4, heads);
	char *out;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	dsmctl_table_cell(t, "%u", 1);
	dsmctl_table_cell(t, "%s", "alpha");
	dsmctl_table_cell(t, "%d/%d", 3, 10);
	dsmctl_table_cell(t, "running");
	dsmctl_table_cell(t, "%u", 12);
	dsmctl_table_cell(t, "b");
	dsmctl_table_cell(t, "-");
	dsmctl_table_cell(t, "x");
	CU_ASSERT_EQUAL(dsmctl_table_rows(t), 2);
	out = render(t);
	/* Numbers right-aligned, words left-aligned, two spaces between
	 * columns, nothing trailing. */
	CU_ASSERT_STRING_EQUAL(out,
		"NODE  HOST   PAGES  STATE\n"
		"   1  alpha   3/10  running\n"
		"  12  b          -  x\n");
	free(out);
	dsmctl_table_free(t);
}

static void test_mixed_column_is_left_aligned(void)
{
	static const char *const heads[] = { "A", "B" };
	struct dsmctl_table *t = dsmctl_table_new(2, heads);
	char *out;

	dsmctl_table_cell(t, "10");
	dsmctl_table_cell(t, "-");
	dsmctl_table_cell(t, "n/a");
	dsmctl_table_cell(t, "-");
	out = render(t);
	/* "n/a" is not a number, so A is text; B has no number at all. */
	CU_ASSERT_STRING_EQUAL(out, "A    B\n10   -\nn/a  -\n");
	free(out);
	dsmctl_table_free(t);
}

static void test_partial_row_and_empty(void)
{
	static const char *const heads[] = { "X", "Y", "Z" };
	struct dsmctl_table *t = dsmctl_table_new(3, heads);
	char *out = render(t);

	CU_ASSERT_EQUAL(dsmctl_table_rows(t), 0);
	CU_ASSERT_STRING_EQUAL(out, "X  Y  Z\n");
	free(out);
	dsmctl_table_cell(t, "longer");
	out = render(t);
	CU_ASSERT_EQUAL(dsmctl_table_rows(t), 1);
	CU_ASSERT_STRING_EQUAL(out, "X       Y  Z\nlonger  -  -\n");
	free(out);
	dsmctl_table_free(t);
}

static void test_many_rows(void)
{
	static const char *const heads[] = { "N" };
	struct dsmctl_table *t = dsmctl_table_new(1, heads);
	char *out;

	for (int i = 0; i < 1000; i++)
		CU_ASSERT_EQUAL(dsmctl_table_cell(t, "%d", i), 0);
	CU_ASSERT_EQUAL(dsmctl_table_rows(t), 1000);
	out = render(t);
	CU_ASSERT_EQUAL(strncmp(out, "  N\n  0\n  1\n", 12), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\n999\n"));
	free(out);
	dsmctl_table_free(t);
	CU_ASSERT_PTR_NULL(dsmctl_table_new(0, heads));
}

int main(void)
{
	static const struct dsm_test tests[] = {
		{ "alignment", test_alignment },
		{ "mixed_column_is_left_aligned", test_mixed_column_is_left_aligned },
		{ "partial_row_and_empty", test_partial_row_and_empty },
		{ "many_rows", test_many_rows },
	};

	return DSM_CUNIT_MAIN("dsmctl_table", tests, NULL);
}
