/* Unit tests of outage.c: the backoff, and when an outage starts and ends. */
#include "outage.h"
#include "unit.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

static const struct zl_outage_events events = {
    .unavailable = "test.unavailable",
    .recovered = "test.recovered",
    .reconnect_failed = "test.reconnect_failed",
};

START_TEST(test_first_failure_waits_one_second)
{
	ck_assert_int_eq(zl_backoff_ms(1, 60), 1000);
	/* No failure counted yet is treated as the first. */
	ck_assert_int_eq(zl_backoff_ms(0, 60), 1000);
	ck_assert_int_eq(zl_backoff_ms(-5, 60), 1000);
}
END_TEST

START_TEST(test_each_failure_doubles_the_wait)
{
	ck_assert_int_eq(zl_backoff_ms(2, 60), 2000);
	ck_assert_int_eq(zl_backoff_ms(3, 60), 4000);
	ck_assert_int_eq(zl_backoff_ms(6, 60), 32000);
}
END_TEST

START_TEST(test_the_wait_stops_at_the_cap)
{
	ck_assert_int_eq(zl_backoff_ms(7, 60), 60000);
	ck_assert_int_eq(zl_backoff_ms(8, 60), 60000);
	ck_assert_int_eq(zl_backoff_ms(3, 2.5), 2500);
	ck_assert_int_eq(zl_backoff_ms(2, 2.5), 2000);
}
END_TEST

/* However many failures and however large the cap, the wait is a positive count. */
START_TEST(test_huge_counts_do_not_overflow)
{
	ck_assert_int_eq(zl_backoff_ms(INT_MAX, 86400), 86400000);
	ck_assert_int_eq(zl_backoff_ms(INT_MAX, 60), 60000);
	ck_assert_int_eq(zl_backoff_ms(41, 1e300), INT64_C(1000) << 40);
	ck_assert(zl_backoff_ms(INT_MAX, 1e300) == INT64_MAX);
	ck_assert(zl_backoff_ms(200, 1e15) == INT64_C(1000000000000000000));
	ck_assert(zl_backoff_ms(200, 1e17) == INT64_MAX);
}
END_TEST

/* A cap below 1 s is the wait from the first failure on; nothing is negative. */
START_TEST(test_a_cap_below_one_second_is_the_wait)
{
	ck_assert_int_eq(zl_backoff_ms(1, 0.5), 500);
	ck_assert_int_eq(zl_backoff_ms(30, 0.5), 500);
	ck_assert_int_eq(zl_backoff_ms(1, 0), 0);
	ck_assert_int_eq(zl_backoff_ms(3, -1), 0);
}
END_TEST

/* The relay's backoff as it was: 1 s doubling while below the cap, then the cap. */
static int64_t reference_backoff(int n, double max_seconds)
{
	int64_t ms = 1000, cap = (int64_t)(max_seconds * 1000);

	for (int i = 1; i < n && ms < cap; i++)
		ms *= 2;
	return ms < cap ? ms : cap;
}

START_TEST(test_same_waits_as_before)
{
	static const double caps[] = {0.001, 0.5, 1, 1.5, 3, 60, 3600, 86400};

	for (size_t c = 0; c < ZL_ARRAY_LEN(caps); c++) {
		for (int n = 0; n < 80; n++)
			ck_assert_msg(zl_backoff_ms(n, caps[c]) == reference_backoff(n, caps[c]),
			              "n=%d max=%g", n, caps[c]);
	}
}
END_TEST

/* The first failure starts the outage; the next try is one backoff later. */
START_TEST(test_first_failure_starts_the_outage)
{
	struct zl_outage o = {.events = &events};
	struct zl_err err = {.code = ZL_EX_UNAVAILABLE, .msg = "refused"};

	ck_assert_int_eq(outage_fail(&o, 5000, 60, 0, NULL, &err), ZL_OUTAGE_STARTED);
	ck_assert_int_eq(o.failures, 1);
	ck_assert_int_eq(o.since_ms, 5000);
	ck_assert_int_eq(o.next_try_ms, 6000);
}
END_TEST

/* Further failures continue it, each waiting twice as long, up to the cap. */
START_TEST(test_further_failures_back_off)
{
	struct zl_outage o = {.events = &events};
	struct zl_err err = {.code = ZL_EX_UNAVAILABLE, .msg = "refused"};

	outage_fail(&o, 5000, 3, 0, NULL, &err);
	ck_assert_int_eq(outage_fail(&o, 6000, 3, 0, NULL, &err), ZL_OUTAGE_SAME);
	ck_assert_int_eq(o.failures, 2);
	ck_assert_int_eq(o.since_ms, 5000);
	ck_assert_int_eq(o.next_try_ms, 8000);
	ck_assert_int_eq(outage_fail(&o, 8000, 3, 0, NULL, &err), ZL_OUTAGE_SAME);
	ck_assert_int_eq(o.next_try_ms, 11000);
	ck_assert_int_eq(o.failures, 3);
}
END_TEST

/* A minimum wait longer than the backoff wins (PostgreSQL: the poll interval). */
START_TEST(test_minimum_wait_wins_when_longer)
{
	struct zl_outage o = {.events = &events};
	struct zl_err err = {.code = ZL_EX_UNAVAILABLE, .msg = "refused"};

	outage_fail(&o, 0, 60, 10000, NULL, &err);
	ck_assert_int_eq(o.next_try_ms, 10000);
	for (int i = 0; i < 4; i++)
		outage_fail(&o, 0, 60, 10000, NULL, &err);
	ck_assert_int_eq(o.next_try_ms, 16000);
}
END_TEST

/* A success after failures ends the outage and clears it; without failures it is nothing. */
START_TEST(test_success_after_failures_ends_the_outage)
{
	struct zl_outage o = {.events = &events};
	struct zl_err err = {.code = ZL_EX_UNAVAILABLE, .msg = "refused"};

	ck_assert_int_eq(outage_ok(&o, 1000, NULL), ZL_OUTAGE_SAME);
	outage_fail(&o, 1000, 60, 0, NULL, &err);
	outage_fail(&o, 2000, 60, 0, NULL, &err);
	ck_assert_int_eq(outage_ok(&o, 4500, NULL), ZL_OUTAGE_ENDED);
	ck_assert_int_eq(o.failures, 0);
	ck_assert_int_eq(o.next_try_ms, 0);
	ck_assert_int_eq(outage_ok(&o, 5000, NULL), ZL_OUTAGE_SAME);
	/* The next failure is the start of a new outage. */
	ck_assert_int_eq(outage_fail(&o, 9000, 60, 0, NULL, &err), ZL_OUTAGE_STARTED);
	ck_assert_int_eq(o.since_ms, 9000);
	ck_assert_int_eq(o.next_try_ms, 10000);
}
END_TEST

struct attempt {
	struct zl_outage *o;
	int64_t now;
	const char *node;
	const struct zl_err *err; /* NULL: a success */
};

static void attempt(void *arg)
{
	const struct attempt *a = arg;

	if (a->err)
		outage_fail(a->o, a->now, 60, 0, a->node, a->err);
	else
		outage_ok(a->o, a->now, a->node);
}

/* Runs a failed (with err) or successful attempt; buf gets what it logged. */
static void capture(char *buf, size_t size, struct zl_outage *o, int64_t now, const char *node,
                    const struct zl_err *err)
{
	struct attempt a = {o, now, node, err};

	unit_capture_stderr(attempt, &a, buf, size);
}

/* One error line at the start, debug lines in between, one info line at the end. */
START_TEST(test_logged_under_the_given_names)
{
	struct zl_outage o = {.events = &events};
	struct zl_err err = {.code = ZL_EX_UNAVAILABLE, .msg = "refused"};
	char line[512];

	zl_log_set_level(ZL_LOG_DEBUG);
	capture(line, sizeof(line), &o, 1000, "n1", &err);
	ck_assert_ptr_nonnull(
	    strstr(line, " level=error msg=test.unavailable node=n1 error=\"refused\"\n"));
	capture(line, sizeof(line), &o, 2000, "n1", &err);
	ck_assert_ptr_nonnull(strstr(
	    line, " level=debug msg=test.reconnect_failed node=n1 attempt=2 error=\"refused\"\n"));
	capture(line, sizeof(line), &o, 4000, "n1", NULL);
	ck_assert_ptr_nonnull(
	    strstr(line, " level=info msg=test.recovered node=n1 down_ms=3000 attempts=2\n"));
	capture(line, sizeof(line), &o, 5000, "n1", NULL);
	ck_assert_str_eq(line, "");
	/* Without a node, the lines have no node field. */
	capture(line, sizeof(line), &o, 6000, NULL, &err);
	ck_assert_ptr_nonnull(
	    strstr(line, " level=error msg=test.unavailable error=\"refused\"\n"));
	capture(line, sizeof(line), &o, 7000, NULL, NULL);
	ck_assert_ptr_nonnull(
	    strstr(line, " level=info msg=test.recovered down_ms=1000 attempts=1\n"));
	zl_log_set_level(ZL_LOG_ERROR);
}
END_TEST

static Suite *outage_suite(void)
{
	Suite *s = suite_create("outage");
	TCase *backoff = tcase_create("backoff");
	TCase *outage = tcase_create("outage");

	tcase_add_test(backoff, test_first_failure_waits_one_second);
	tcase_add_test(backoff, test_each_failure_doubles_the_wait);
	tcase_add_test(backoff, test_the_wait_stops_at_the_cap);
	tcase_add_test(backoff, test_huge_counts_do_not_overflow);
	tcase_add_test(backoff, test_a_cap_below_one_second_is_the_wait);
	tcase_add_test(backoff, test_same_waits_as_before);
	suite_add_tcase(s, backoff);
	tcase_add_test(outage, test_first_failure_starts_the_outage);
	tcase_add_test(outage, test_further_failures_back_off);
	tcase_add_test(outage, test_minimum_wait_wins_when_longer);
	tcase_add_test(outage, test_success_after_failures_ends_the_outage);
	tcase_add_test(outage, test_logged_under_the_given_names);
	suite_add_tcase(s, outage);
	return s;
}

ZL_UNIT_MAIN(outage_suite)
