/* Unit tests of metrics.c: the Prometheus text format and the health rule. */
#include "conf.h"
#include "event.h"
#include "metrics.h"
#include "unit.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1764412800 /* 2025-11-29T10:40:00Z */

/* A configuration with only what metrics_init() reads. */
static void test_conf(struct zl_conf *c, int n_queues)
{
	memset(c, 0, sizeof(*c));
	c->source.poll_interval = 5.0;
	c->amqp.n_queues = n_queues;
	c->retry.n_delays = 2;
	c->retry.delays[0] = 10;
	c->retry.delays[1] = 60;
}

static void fresh(struct zl_metrics *m, int n_queues)
{
	struct zl_conf c;

	test_conf(&c, n_queues);
	metrics_init(m, &c, "1.2.3");
}

/* True when text has line as one of its lines. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

/* The value of the sample "name" (with its labels), or -1 when missing. */
static double sample(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; (p = strstr(p, name)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

/*
 * Checks the exposition format line by line: every family announced by
 * HELP then TYPE, every sample belongs to the family announced last (a
 * histogram's _bucket, _sum and _count included), names zaaklink_..., and
 * counters end in _total. Returns the number of families.
 */
static int check_format(const char *text)
{
	char family[128] = "", type[32] = "", help_of[128] = "";
	int families = 0;
	const char *p = text;

	ck_assert_msg(text[strlen(text) - 1] == '\n', "text must end with a newline");
	while (*p) {
		const char *end = strchr(p, '\n');
		char line[512], name[128];
		size_t len = (size_t)(end - p);

		ck_assert_uint_lt(len, sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		p = end + 1;
		if (sscanf(line, "# HELP %127s", help_of) == 1) {
			ck_assert_msg(strlen(line) > strlen(help_of) + 8, "empty help: %s", line);
			continue;
		}
		if (sscanf(line, "# TYPE %127s %31s", family, type) == 2) {
			ck_assert_str_eq(family, help_of);
			ck_assert_msg(strncmp(family, "zaaklink_", 9) == 0, "prefix: %s", family);
			ck_assert_msg(strcmp(type, "counter") != 0 ||
			                  strcmp(family + strlen(family) - 6, "_total") == 0,
			              "a counter must end in _total: %s", family);
			ck_assert_msg(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
			                  strcmp(type, "histogram") == 0,
			              "type %s", type);
			families++;
			continue;
		}
		ck_assert_msg(line[0] != '#', "stray comment: %s", line);
		ck_assert_int_eq(sscanf(line, "%127[a-z_]", name), 1);
		if (strcmp(type, "histogram") == 0) {
			size_t f = strlen(family);

			ck_assert_msg(strncmp(name, family, f) == 0 &&
			                  (strcmp(name + f, "_bucket") == 0 ||
			                   strcmp(name + f, "_sum") == 0 ||
			                   strcmp(name + f, "_count") == 0),
			              "%s is not part of histogram %s", name, family);
		} else {
			ck_assert_str_eq(name, family);
		}
		/* name, optional {labels}, one space, a number */
		{
			const char *v = strrchr(line, ' ');
			char *e;

			ck_assert_ptr_nonnull(v);
			strtod(v + 1, &e);
			ck_assert_msg(*e == '\0' && e != v + 1, "not a value: %s", line);
			ck_assert(line[strlen(name)] == ' ' || line[strlen(name)] == '{');
		}
	}
	return families;
}

START_TEST(test_every_family_has_help_and_type_and_a_prometheus_name)
{
	struct zl_metrics m;
	char *text;

	fresh(&m, 1);
	m.unrouted = 0;
	m.parked = 0;
	text = metrics_render(&m, NOW);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(check_format(text), 26);
	free(text);
}
END_TEST

START_TEST(test_events_are_counted_by_type)
{
	struct zl_metrics m;
	struct zl_pass_stats s = {.events_by_type = {3, 1}, .duration_ms = 2};
	char *text;

	fresh(&m, 0);
	metrics_pass_done(&m, &s, 0, NOW, 1000);
	metrics_pass_done(&m, &s, 0, NOW, 1000);
	m.published[ZL_GEKOPPELD] = 5;
	m.published[ZL_ONTKOPPELD] = 2;
	text = metrics_render(&m, NOW);
	ck_assert(
	    has_line(text, "zaaklink_events_recorded_total{type=\"" ZL_TYPE_GEKOPPELD "\"} 6"));
	ck_assert(
	    has_line(text, "zaaklink_events_recorded_total{type=\"" ZL_TYPE_ONTKOPPELD "\"} 2"));
	ck_assert(
	    has_line(text, "zaaklink_events_published_total{type=\"" ZL_TYPE_GEKOPPELD "\"} 5"));
	ck_assert(
	    has_line(text, "zaaklink_events_published_total{type=\"" ZL_TYPE_ONTKOPPELD "\"} 2"));
	ck_assert(has_line(text, "zaaklink_build_info{version=\"1.2.3\"} 1"));
	free(text);
}
END_TEST

/* Buckets are cumulative, +Inf and _count equal the passes, _sum adds seconds. */
START_TEST(test_pass_duration_histogram_is_cumulative)
{
	struct zl_metrics m;
	struct zl_pass_stats fast = {.duration_ms = 3}, mid = {.duration_ms = 250},
	                     slow = {.duration_ms = 100000};
	char *text;

	fresh(&m, 0);
	metrics_pass_done(&m, &fast, 0, NOW, 1);
	metrics_pass_done(&m, &mid, 0, NOW, 1);
	metrics_pass_done(&m, &slow, 0, NOW, 1);
	text = metrics_render(&m, NOW);
	ck_assert(has_line(text, "zaaklink_pass_duration_seconds_bucket{le=\"0.005\"} 1"));
	ck_assert(has_line(text, "zaaklink_pass_duration_seconds_bucket{le=\"0.1\"} 1"));
	/* le is "less than or equal": 0.25 s falls in the 0.25 bucket */
	ck_assert(has_line(text, "zaaklink_pass_duration_seconds_bucket{le=\"0.25\"} 2"));
	ck_assert(has_line(text, "zaaklink_pass_duration_seconds_bucket{le=\"60\"} 2"));
	ck_assert(has_line(text, "zaaklink_pass_duration_seconds_bucket{le=\"+Inf\"} 3"));
	ck_assert(has_line(text, "zaaklink_pass_duration_seconds_count 3"));
	ck_assert(has_line(text, "zaaklink_pass_duration_seconds_sum 100.253000"));
	ck_assert(has_line(text, "zaaklink_passes_total 3"));
	free(text);
}
END_TEST

START_TEST(test_pass_figures_and_last_success)
{
	struct zl_metrics m;
	struct zl_pass_stats s = {
	    .ranges_total = 977,
	    .ranges_read = 2,
	    .rows_read = 40,
	    .invalid = 1,
	};
	char *text;

	fresh(&m, 0);
	metrics_pass_failed(&m, "could not connect to PostgreSQL");
	ck_assert_str_eq(m.pass_error, "could not connect to PostgreSQL");
	metrics_pass_done(&m, &s, 4096, NOW - 7, 5000);
	metrics_pass_done(&m, &s, 8192, NOW - 2, 10000);
	ck_assert_str_eq(m.pass_error, "");
	text = metrics_render(&m, NOW);
	ck_assert(has_line(text, "zaaklink_pass_errors_total 1"));
	ck_assert(has_line(text, "zaaklink_pass_ranges 977"));
	ck_assert(has_line(text, "zaaklink_pass_ranges_fetched 2"));
	ck_assert(has_line(text, "zaaklink_ranges_fetched_total 4"));
	ck_assert(has_line(text, "zaaklink_source_rows_received_total 80"));
	ck_assert(has_line(text, "zaaklink_source_received_bytes_total 8192"));
	ck_assert(has_line(text, "zaaklink_invalid_rows_skipped_total 2"));
	ck_assert_double_eq(sample(text, "zaaklink_last_pass_success_timestamp_seconds"), NOW - 2);
	free(text);
}
END_TEST

START_TEST(test_outbox_age_is_that_of_the_oldest_pending_event)
{
	struct zl_metrics m;
	char *text;

	fresh(&m, 0);
	m.outbox_pending = 3;
	m.outbox_oldest_s = NOW - 600;
	text = metrics_render(&m, NOW);
	ck_assert(has_line(text, "zaaklink_outbox_pending_events 3"));
	ck_assert(has_line(text, "zaaklink_outbox_oldest_pending_age_seconds 600"));
	free(text);
	/* Nothing pending: age 0, whatever was last read. */
	m.outbox_pending = 0;
	text = metrics_render(&m, NOW);
	ck_assert(has_line(text, "zaaklink_outbox_oldest_pending_age_seconds 0"));
	free(text);
}
END_TEST

/* A depth not read yet is left out rather than shown as 0. */
START_TEST(test_unknown_queue_depths_are_left_out)
{
	struct zl_metrics m;
	char *text;

	fresh(&m, 0);
	text = metrics_render(&m, NOW);
	ck_assert_ptr_null(strstr(text, "zaaklink_parked_messages"));
	ck_assert_ptr_null(strstr(text, "zaaklink_unrouted_messages"));
	free(text);
	m.parked = 4;
	m.unrouted = 0;
	text = metrics_render(&m, NOW);
	ck_assert(has_line(text, "zaaklink_parked_messages 4"));
	ck_assert(has_line(text, "zaaklink_unrouted_messages 0"));
	free(text);
}
END_TEST

START_TEST(test_broker_and_publish_figures)
{
	struct zl_metrics m;
	char *text;

	fresh(&m, 0);
	m.broker_connected = true;
	m.broker_blocked = true;
	m.publish_retries = 12;
	m.nacked = 2;
	m.returned = 3;
	text = metrics_render(&m, NOW);
	ck_assert(has_line(text, "zaaklink_broker_connected 1"));
	ck_assert(has_line(text, "zaaklink_broker_blocked 1"));
	ck_assert(has_line(text, "zaaklink_publish_retries_total 12"));
	ck_assert(has_line(text, "zaaklink_publish_nacked_total 2"));
	ck_assert(has_line(text, "zaaklink_publish_returned_total 3"));
	free(text);
}
END_TEST

/* Moves by tier only when the retry controller runs (amqp.queues set). */
START_TEST(test_retry_moves_by_tier)
{
	struct zl_metrics m;
	char *text;

	fresh(&m, 0);
	text = metrics_render(&m, NOW);
	ck_assert_ptr_null(strstr(text, "zaaklink_retry_"));
	free(text);
	fresh(&m, 1);
	m.moves[0] = 4;
	m.moves[1] = 1;
	m.parked_moves = 1;
	text = metrics_render(&m, NOW);
	ck_assert(has_line(text, "zaaklink_retry_moves_total{tier=\"10s\"} 4"));
	ck_assert(has_line(text, "zaaklink_retry_moves_total{tier=\"60s\"} 1"));
	ck_assert(has_line(text, "zaaklink_retry_parked_total 1"));
	free(text);
}
END_TEST

/* ---- health ---- */

static bool healthy(int64_t age_ms, bool connected, const char *pass_error,
                    const char *broker_error, char *reason)
{
	struct zl_health h = {
	    .pass_age_ms = age_ms,
	    .poll_interval = 5.0,
	    .pass_error = pass_error,
	    .broker_checked = true,
	    .broker_connected = connected,
	    .broker_error = broker_error,
	};

	return metrics_healthy(&h, reason, 512);
}

START_TEST(test_healthy_when_a_recent_pass_and_the_broker_is_up)
{
	char reason[512];

	ck_assert(healthy(0, true, "", "", reason));
	ck_assert_str_eq(reason, "");
	ck_assert(healthy(15000, true, NULL, NULL, reason)); /* exactly 3 intervals */
}
END_TEST

START_TEST(test_unhealthy_after_three_poll_intervals_without_a_pass)
{
	char reason[512];

	ck_assert(!healthy(15001, true, "", "", reason));
	ck_assert_str_eq(reason,
	                 "last successful pass 15.0 s ago, more than 3 poll intervals (15 s)");
	ck_assert(!healthy(20000, true, "could not connect to PostgreSQL: refused", "", reason));
	ck_assert_str_eq(reason, "last successful pass 20.0 s ago, more than 3 poll intervals "
	                         "(15 s): could not connect to PostgreSQL: refused");
}
END_TEST

START_TEST(test_unhealthy_before_the_first_pass)
{
	char reason[512];

	ck_assert(!healthy(-1, true, "", "", reason));
	ck_assert_str_eq(reason, "no successful pass yet");
}
END_TEST

START_TEST(test_unhealthy_without_the_broker)
{
	char reason[512];

	ck_assert(!healthy(10, false, "", "", reason));
	ck_assert_str_eq(reason, "not connected to RabbitMQ");
	ck_assert(!healthy(10, false, "", "connection refused", reason));
	ck_assert_str_eq(reason, "not connected to RabbitMQ: connection refused");
	ck_assert(!healthy(-1, false, "", "connection refused", reason));
	ck_assert_str_eq(reason,
	                 "no successful pass yet; not connected to RabbitMQ: connection refused");
	ck_assert_ptr_null(strchr(reason, '\n'));
}
END_TEST

/* A standby is healthy while it can reach the state; the reason says
 * standby either way, and the broker is not judged. */
START_TEST(test_standby_is_healthy_while_it_reaches_the_state)
{
	struct zl_health h = {.pass_age_ms = -1,
	                      .poll_interval = 1,
	                      .broker_checked = true,
	                      .standby = true,
	                      .state_reachable = true};
	char reason[128];

	ck_assert(metrics_healthy(&h, reason, sizeof(reason)));
	ck_assert_str_eq(reason, "standby: another instance is active");
	h.state_reachable = false;
	ck_assert(!metrics_healthy(&h, reason, sizeof(reason)));
	ck_assert_str_eq(reason, "standby: the state database cannot be reached");
}
END_TEST

START_TEST(test_leader_gauge)
{
	struct zl_metrics m;
	char *text;

	fresh(&m, 0);
	text = metrics_render(&m, NOW);
	ck_assert(has_line(text, "zaaklink_leader 1"));
	free(text);
	m.standby = true;
	snprintf(m.state_error, sizeof(m.state_error), "refused");
	text = metrics_render(&m, NOW);
	ck_assert(has_line(text, "zaaklink_leader 0"));
	free(text);
	ck_assert(metrics_health_of(&m, 0).standby);
	ck_assert(!metrics_health_of(&m, 0).state_reachable);
}
END_TEST

/* deliver's figures: its own families, by outcome, and its own health. */
START_TEST(test_deliver_figures_and_health)
{
	struct zl_metrics m;
	char *text, reason[128];
	struct zl_health h;

	metrics_deliver_init(&m, "1.2.3");
	m.deliver_total[ZL_DELIVERED] = 3;
	m.deliver_total[ZL_SKIPPED_STALE] = 1;
	m.in_flight = 2;
	metrics_request_done(&m, 3);
	metrics_request_done(&m, 700);
	m.broker_connected = true;
	text = metrics_render(&m, NOW);
	ck_assert(has_line(text, "zaaklink_deliver_total{outcome=\"delivered\"} 3"));
	ck_assert(has_line(text, "zaaklink_deliver_total{outcome=\"stale\"} 1"));
	ck_assert(has_line(text, "zaaklink_deliver_total{outcome=\"parked\"} 0"));
	ck_assert(has_line(text, "zaaklink_deliver_in_flight 2"));
	ck_assert(
	    has_line(text, "zaaklink_deliver_request_duration_seconds_bucket{le=\"0.005\"} 1"));
	ck_assert(has_line(text, "zaaklink_deliver_request_duration_seconds_bucket{le=\"1\"} 2"));
	ck_assert(has_line(text, "zaaklink_deliver_request_duration_seconds_count 2"));
	ck_assert_ptr_null(strstr(text, "zaaklink_outbox_pending_events"));
	free(text);
	h = metrics_health_of(&m, 0);
	ck_assert(metrics_healthy(&h, reason, sizeof(reason)));
	m.credentials_refused = true;
	h = metrics_health_of(&m, 0);
	ck_assert(!metrics_healthy(&h, reason, sizeof(reason)));
	ck_assert_str_eq(reason, "Open Zaak refuses the credentials (401/403)");
	m.broker_connected = false;
	h = metrics_health_of(&m, 0);
	ck_assert(!metrics_healthy(&h, reason, sizeof(reason)));
	ck_assert_str_eq(reason, "not connected to RabbitMQ");
}
END_TEST

START_TEST(test_broker_not_judged_when_not_checked)
{
	struct zl_health h = {.pass_age_ms = 10, .poll_interval = 1, .broker_checked = false};
	char reason[64];

	ck_assert(metrics_healthy(&h, reason, sizeof(reason)));
}
END_TEST

/* A long reason is cut, never overflows, and stays one line. */
START_TEST(test_health_reason_never_overflows)
{
	struct zl_health h = {.pass_age_ms = 99999,
	                      .poll_interval = 1,
	                      .broker_checked = true,
	                      .pass_error =
	                          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	                      .broker_error = "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"};
	char reason[40];

	ck_assert(!metrics_healthy(&h, reason, sizeof(reason)));
	ck_assert_uint_eq(strlen(reason), sizeof(reason) - 1);
}
END_TEST

/* The daemon's figures as the rule sees them, at a monotonic time. */
START_TEST(test_health_of_the_daemon_figures)
{
	struct zl_metrics m;
	struct zl_pass_stats s = {0};
	struct zl_health h;

	fresh(&m, 0);
	h = metrics_health_of(&m, 50000);
	ck_assert_int_eq(h.pass_age_ms, -1);
	metrics_pass_done(&m, &s, 0, NOW, 40000);
	m.broker_connected = true;
	h = metrics_health_of(&m, 50000);
	ck_assert_int_eq(h.pass_age_ms, 10000);
	ck_assert(h.broker_connected);
	ck_assert_double_eq(h.poll_interval, 5.0);
}
END_TEST

/* /healthz answers anyone: its reason names no host, database or user. */
START_TEST(test_health_of_the_daemon_figures_names_no_host)
{
	struct zl_metrics m;
	struct zl_pass_stats s = {0};
	struct zl_health h;
	char reason[1024];

	fresh(&m, 0);
	metrics_pass_done(&m, &s, 0, NOW, 1000);
	metrics_pass_failed(&m, "could not connect on PostgreSQL (host=db1.example user=zl "
	                        "dbname=openklant): refused");
	m.broker_connected = false;
	snprintf(m.broker_error, sizeof(m.broker_error),
	         "could not connect to amqp://zl@mq1.example:5672/%%2f: refused");
	h = metrics_health_of(&m, 60000);
	ck_assert(!metrics_healthy(&h, reason, sizeof(reason)));
	ck_assert_str_eq(reason, "last successful pass 59.0 s ago, more than 3 poll intervals "
	                         "(15 s); not connected to RabbitMQ");
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *text = tcase_create("text");
	TCase *health = tcase_create("health");

	tcase_add_test(text, test_every_family_has_help_and_type_and_a_prometheus_name);
	tcase_add_test(text, test_events_are_counted_by_type);
	tcase_add_test(text, test_pass_duration_histogram_is_cumulative);
	tcase_add_test(text, test_pass_figures_and_last_success);
	tcase_add_test(text, test_outbox_age_is_that_of_the_oldest_pending_event);
	tcase_add_test(text, test_unknown_queue_depths_are_left_out);
	tcase_add_test(text, test_broker_and_publish_figures);
	tcase_add_test(text, test_retry_moves_by_tier);
	suite_add_tcase(s, text);
	tcase_add_test(health, test_healthy_when_a_recent_pass_and_the_broker_is_up);
	tcase_add_test(health, test_unhealthy_after_three_poll_intervals_without_a_pass);
	tcase_add_test(health, test_unhealthy_before_the_first_pass);
	tcase_add_test(health, test_unhealthy_without_the_broker);
	tcase_add_test(health, test_broker_not_judged_when_not_checked);
	tcase_add_test(health, test_deliver_figures_and_health);
	tcase_add_test(health, test_standby_is_healthy_while_it_reaches_the_state);
	tcase_add_test(health, test_leader_gauge);
	tcase_add_test(health, test_health_reason_never_overflows);
	tcase_add_test(health, test_health_of_the_daemon_figures);
	tcase_add_test(health, test_health_of_the_daemon_figures_names_no_host);
	suite_add_tcase(s, health);
	return s;
}

ZL_UNIT_MAIN(metrics_suite)
