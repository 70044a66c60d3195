/* Unit tests of the log line format and value quoting. */
#include "common.h"
#include "log.h"
#include "unit.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

struct log_call {
	enum zl_log_level level;
	const char *event;
	const char *value;
};

static void log_one(void *arg)
{
	const struct log_call *c = arg;

	zl_log(c->level, c->event, "value=%s", c->value);
}

/* Runs zl_log with stderr sent to a temporary file; returns the line. */
static void capture(char *buf, size_t size, enum zl_log_level level, const char *event,
                    const char *value)
{
	struct log_call c = {level, event, value};

	unit_capture_stderr(log_one, &c, buf, size);
}

START_TEST(test_log_line_has_level_event_and_pairs)
{
	char line[512];

	zl_log_set_level(ZL_LOG_INFO);
	capture(line, sizeof(line), ZL_LOG_WARNING, "amqp.blocked", "7");
	ck_assert_ptr_nonnull(strstr(line, " level=warning msg=amqp.blocked value=7\n"));
	ck_assert_int_eq(line[4], '-');
	ck_assert_int_eq(line[19], 'Z');
}
END_TEST

/* Under journald: the syslog priority first, no timestamp (journald adds one). */
START_TEST(test_journal_lines_carry_the_priority_and_no_timestamp)
{
	static const struct {
		enum zl_log_level level;
		const char *line;
	} cases[] = {
	    {ZL_LOG_DEBUG, "<7>level=debug msg=amqp.blocked value=7\n"},
	    {ZL_LOG_INFO, "<6>level=info msg=amqp.blocked value=7\n"},
	    {ZL_LOG_WARNING, "<4>level=warning msg=amqp.blocked value=7\n"},
	    {ZL_LOG_ERROR, "<3>level=error msg=amqp.blocked value=7\n"},
	};
	char line[512];

	zl_log_set_level(ZL_LOG_DEBUG);
	zl_log_set_journal(true);
	for (size_t i = 0; i < ZL_ARRAY_LEN(cases); i++) {
		capture(line, sizeof(line), cases[i].level, "amqp.blocked", "7");
		ck_assert_str_eq(line, cases[i].line);
	}
	zl_log_set_journal(false);
	capture(line, sizeof(line), ZL_LOG_ERROR, "amqp.blocked", "7");
	ck_assert_int_eq(line[0], '2');
	ck_assert_ptr_nonnull(strstr(line, "Z level=error msg=amqp.blocked value=7\n"));
	zl_log_set_level(ZL_LOG_ERROR);
}
END_TEST

/* JOURNAL_STREAM counts only when it names the very stream stderr is. */
START_TEST(test_journal_stream_must_match_the_device_and_inode)
{
	FILE *tmp = tmpfile();
	struct stat st;
	char env[128];

	ck_assert_ptr_nonnull(tmp);
	ck_assert_int_eq(fstat(fileno(tmp), &st), 0);
	snprintf(env, sizeof(env), "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	ck_assert(zl_log_is_journal_stream(env, fileno(tmp)));
	snprintf(env, sizeof(env), "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino + 1);
	ck_assert(!zl_log_is_journal_stream(env, fileno(tmp)));
	snprintf(env, sizeof(env), "%ju:%ju", (uintmax_t)st.st_dev + 1, (uintmax_t)st.st_ino);
	ck_assert(!zl_log_is_journal_stream(env, fileno(tmp)));
	snprintf(env, sizeof(env), "%ju:%jux", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	ck_assert(!zl_log_is_journal_stream(env, fileno(tmp)));
	ck_assert(!zl_log_is_journal_stream("", fileno(tmp)));
	ck_assert(!zl_log_is_journal_stream("journal", fileno(tmp)));
	ck_assert(!zl_log_is_journal_stream(NULL, fileno(tmp)));
	fclose(tmp);
}
END_TEST

START_TEST(test_log_level_filters_lower_levels)
{
	char line[512];

	zl_log_set_level(ZL_LOG_WARNING);
	capture(line, sizeof(line), ZL_LOG_INFO, "pass.done", "1");
	ck_assert_str_eq(line, "");
	/* The level itself and those above it still pass. */
	capture(line, sizeof(line), ZL_LOG_WARNING, "pass.done", "2");
	ck_assert_ptr_nonnull(strstr(line, "level=warning msg=pass.done value=2\n"));
	capture(line, sizeof(line), ZL_LOG_ERROR, "pass.done", "3");
	ck_assert_ptr_nonnull(strstr(line, "level=error msg=pass.done value=3\n"));
	zl_log_set_level(ZL_LOG_ERROR);
}
END_TEST

START_TEST(test_log_level_names_parse)
{
	enum zl_log_level l;

	ck_assert_int_eq(zl_log_parse_level("debug", &l), 0);
	ck_assert_int_eq(l, ZL_LOG_DEBUG);
	ck_assert_int_eq(zl_log_parse_level("error", &l), 0);
	ck_assert_int_eq(l, ZL_LOG_ERROR);
	ck_assert_int_eq(zl_log_parse_level("loud", &l), -1);
}
END_TEST

START_TEST(test_quoted_values_escape_quotes_backslashes_and_controls)
{
	char buf[64];

	ck_assert_str_eq(zl_log_quote("a\"b\\c\nd", buf, sizeof(buf)), "a\\\"b\\\\c\\x0ad");
	ck_assert_str_eq(zl_log_quote(NULL, buf, sizeof(buf)), "");
	/* Never overflows, whatever the input. */
	ck_assert_uint_lt(strlen(zl_log_quote("\n\n\n\n\n\n\n\n\n\n\n\n", buf, 16)), 16);
}
END_TEST

START_TEST(test_error_messages_are_one_line_without_double_quotes)
{
	struct zl_err err = {0};

	ck_assert_int_eq(
	    zl_err_set(&err, ZL_EX_UNAVAILABLE, "FATAL:  database \"x\" does not exist\n"), -1);
	ck_assert_str_eq(err.msg, "FATAL:  database 'x' does not exist");
	ck_assert_int_eq(err.code, ZL_EX_UNAVAILABLE);
	zl_err_prefix(&err, "could not connect to %s", "db");
	ck_assert_str_eq(err.msg, "could not connect to db: FATAL:  database 'x' does not exist");
}
END_TEST

START_TEST(test_utc_time_format_is_whole_seconds_with_z)
{
	char buf[21];

	zl_format_utc(0, buf);
	ck_assert_str_eq(buf, "1970-01-01T00:00:00Z");
	zl_format_utc(1764412800, buf);
	ck_assert_str_eq(buf, "2025-11-29T10:40:00Z");
}
END_TEST

/* strftime() needs more room for a five-digit year and would leave the
 * buffer unterminated; such times are clamped to 1970..9999. */
START_TEST(test_utc_time_outside_1970_to_9999_is_clamped)
{
	char buf[22];

	memset(buf, 'x', sizeof(buf));
	buf[21] = '\0';
	zl_format_utc(INT64_MAX, buf);
	ck_assert_str_eq(buf, "9999-12-31T23:59:59Z");
	zl_format_utc(253402300800, buf);
	ck_assert_str_eq(buf, "9999-12-31T23:59:59Z");
	zl_format_utc(253402300799, buf);
	ck_assert_str_eq(buf, "9999-12-31T23:59:59Z");
	zl_format_utc(-1, buf);
	ck_assert_str_eq(buf, "1970-01-01T00:00:00Z");
	zl_format_utc(INT64_MIN, buf);
	ck_assert_str_eq(buf, "1970-01-01T00:00:00Z");
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, test_log_line_has_level_event_and_pairs);
	tcase_add_test(tc, test_journal_lines_carry_the_priority_and_no_timestamp);
	tcase_add_test(tc, test_journal_stream_must_match_the_device_and_inode);
	tcase_add_test(tc, test_log_level_filters_lower_levels);
	tcase_add_test(tc, test_log_level_names_parse);
	tcase_add_test(tc, test_quoted_values_escape_quotes_backslashes_and_controls);
	tcase_add_test(tc, test_error_messages_are_one_line_without_double_quotes);
	tcase_add_test(tc, test_utc_time_format_is_whole_seconds_with_z);
	tcase_add_test(tc, test_utc_time_outside_1970_to_9999_is_clamped);
	suite_add_tcase(s, tc);
	return s;
}

ZL_UNIT_MAIN(log_suite)
