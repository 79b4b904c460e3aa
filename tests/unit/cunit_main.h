/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The main() of every CUnit test binary: one suite, a table of tests,
 * verbose output, and an exit status that is non-zero on any failure or
 * CUnit error (so meson and CI see it).
 */
#ifndef DSM_TESTS_CUNIT_MAIN_H
#define DSM_TESTS_CUNIT_MAIN_H

#include <stddef.h>

#include <CUnit/Basic.h>

struct dsm_test {
	const char *name;
	CU_TestFunc fn;
};

/* setup runs before each test (NULL: none). */
static inline int dsm_cunit_run(const char *suite, const struct dsm_test *tests,
				size_t n, CU_SetUpFunc setup)
{
	unsigned fails, err;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite_with_setup_and_teardown(suite, NULL, NULL, setup, NULL);
	for (size_t i = 0; s && i < n; i++)
		if (!CU_add_test(s, tests[i].name, tests[i].fn))
			s = NULL;
	if (s) {
		CU_basic_set_mode(CU_BRM_VERBOSE);
		CU_basic_run_tests();
	}
	fails = CU_get_number_of_failures();
	err = CU_get_error();
	CU_cleanup_registry();
	return !s || fails != 0 || err != 0;
}

#define DSM_CUNIT_MAIN(suite, tests, setup) \
	dsm_cunit_run(suite, tests, sizeof(tests) / sizeof((tests)[0]), setup)

#endif /* DSM_TESTS_CUNIT_MAIN_H */
