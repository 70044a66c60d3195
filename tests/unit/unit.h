/*
 * Shared main() for the Check unit tests: runs the suite and reports in TAP
 * on stdout, which the automake test driver counts test by test.
 */
#ifndef ZL_UNIT_H
#define ZL_UNIT_H

#include "log.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#define ZL_UNIT_MAIN(suite_fn)                                  \
	int main(void)                                          \
	{                                                       \
		SRunner *sr = srunner_create(suite_fn());       \
		int failed;                                     \
		srunner_set_tap(sr, "-");                       \
		zl_log_set_level(ZL_LOG_ERROR);                 \
		srunner_run_all(sr, CK_SILENT);                 \
		printf("\n");                                  \
		failed = srunner_ntests_failed(sr);             \
		srunner_free(sr);                               \
		return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE; \
	}

#endif
