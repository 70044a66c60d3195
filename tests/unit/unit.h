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
#include <string.h>
#include <unistd.h>

/* Runs fn(arg) with stderr sent to a temporary file; buf gets what it wrote. */
static inline void unit_capture_stderr(void (*fn)(void *), void *arg, char *buf, size_t size)
{
	FILE *tmp = tmpfile();
	int saved = dup(2);
	size_t n;

	ck_assert_ptr_nonnull(tmp);
	fflush(stderr);
	dup2(fileno(tmp), 2);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, size - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
}

/* Writes text to a fresh file /tmp/zl-test-NAME-XXXXXX; returns its malloc'ed name. */
static inline char *unit_write_temp(const char *name, const char *text)
{
	size_t len = strlen(text), size = strlen(name) + sizeof("/tmp/zl-test--XXXXXX");
	char *file = malloc(size);
	int fd;

	ck_assert_ptr_nonnull(file);
	snprintf(file, size, "/tmp/zl-test-%s-XXXXXX", name);
	fd = mkstemp(file);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return file;
}

/* Removes a file unit_write_temp() made and frees its name. */
static inline void unit_remove_temp(char *file)
{
	unlink(file);
	free(file);
}

/* Unsets every environment variable that overrides a setting, so that a
 * test reads what its file says. */
static inline void unit_clear_environment(void)
{
	unsetenv("ZAAKLINK_AMQP_URL");
	unsetenv("ZAAKLINK_SOURCE_CONNINFO");
	unsetenv("ZAAKLINK_STATE_CONNINFO");
	unsetenv("CREDENTIALS_DIRECTORY");
}

/* The source tree, from ZL_SRCDIR (make check) or from where the unit tests were compiled. */
static inline void unit_source_dir(char *buf, size_t size)
{
	const char *env = getenv("ZL_SRCDIR");
	const char *self = __FILE__;
	const char *tail = strstr(self, "tests/unit/");

	if (env)
		snprintf(buf, size, "%s", env);
	else if (tail && tail > self)
		snprintf(buf, size, "%.*s", (int)(tail - self - 1), self);
	else
		snprintf(buf, size, ".");
}

#define ZL_UNIT_MAIN(suite_fn)                                                                     \
	int main(void)                                                                             \
	{                                                                                          \
		SRunner *sr = srunner_create(suite_fn());                                          \
		int failed;                                                                        \
		srunner_set_tap(sr, "-");                                                          \
		zl_log_set_level(ZL_LOG_ERROR);                                                    \
		srunner_run_all(sr, CK_SILENT);                                                    \
		printf("\n");                                                                      \
		failed = srunner_ntests_failed(sr);                                                \
		srunner_free(sr);                                                                  \
		return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                  \
	}

#endif
