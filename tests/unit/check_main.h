/*
 * The main() of every unit-test binary: tests/unit/test_X.c defines
 * X_suite() and ends with CHECK_MAIN(X_suite). Fork mode stays on so that
 * tcase timeouts work and a crash fails one test, not the run.
 */
#ifndef MESH_CHECK_MAIN_H
#define MESH_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

#define CHECK_MAIN(suite_fn)                                           \
	int main(void)                                                 \
	{                                                              \
		SRunner *runner = srunner_create(suite_fn());          \
		int failed;                                            \
		srunner_run_all(runner, CK_NORMAL);                    \
		failed = srunner_ntests_failed(runner);                \
		srunner_free(runner);                                  \
		return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;      \
	}

#endif
