/* Unit tests of retry.c's pure parts: the retry policy, the derived names, reading a failure. */
#include "retry.h"
#include "unit.h"

#include <string.h>

static const struct zl_retry_conf tiers = {.delays = {1, 2}, .n_delays = 2};

/* The first failure waits in the first tier, the second in the second. */
START_TEST(test_each_failure_waits_in_the_next_tier)
{
	struct zl_retry_decision d = retry_decide(&tiers, 0, "rejected", true);

	ck_assert_int_eq(d.tier, 0);
	ck_assert_int_eq(d.attempts, 1);
	d = retry_decide(&tiers, 1, "rejected", true);
	ck_assert_int_eq(d.tier, 1);
	ck_assert_int_eq(d.attempts, 2);
}
END_TEST

/* After the last tier the message is parked. */
START_TEST(test_parked_after_the_last_tier)
{
	struct zl_retry_decision d = retry_decide(&tiers, 2, "rejected", true);

	ck_assert_int_eq(d.tier, -1);
	ck_assert_int_eq(d.attempts, 3);
	ck_assert_str_eq(d.why, "last tier passed");
}
END_TEST

/* A message that expired in its consumer queue is retried like a rejected one. */
START_TEST(test_expired_is_retried)
{
	ck_assert_int_eq(retry_decide(&tiers, 0, "expired", true).tier, 0);
}
END_TEST

/* A quorum queue's delivery limit parks at once, whatever the count. */
START_TEST(test_delivery_limit_parks_at_once)
{
	struct zl_retry_decision d = retry_decide(&tiers, 0, "delivery_limit", true);

	ck_assert_int_eq(d.tier, -1);
	ck_assert_int_eq(d.attempts, 1);
	ck_assert_str_eq(d.why, "delivery limit reached");
}
END_TEST

/* A message from a queue zaaklink does not know cannot be sent back: parked. */
START_TEST(test_unknown_origin_parks)
{
	ck_assert_int_eq(retry_decide(&tiers, 0, "rejected", false).tier, -1);
}
END_TEST

/* No tiers: the first failure is parked. */
START_TEST(test_no_tiers_parks_at_once)
{
	const struct zl_retry_conf none = {.n_delays = 0};
	struct zl_retry_decision d = retry_decide(&none, 0, "rejected", true);

	ck_assert_int_eq(d.tier, -1);
	ck_assert_str_eq(d.why, "no retry tiers");
}
END_TEST

/* Every name derives from amqp.exchange. */
START_TEST(test_names_derive_from_the_exchange)
{
	struct zl_conf conf;
	struct zl_topology t;
	char exchange[] = "zaaklink.events";

	memset(&conf, 0, sizeof(conf));
	conf.amqp.exchange = exchange;
	conf.retry.delays[0] = 10;
	conf.retry.delays[1] = 7200;
	conf.retry.n_delays = 2;
	retry_names(&conf, &t);
	ck_assert_str_eq(t.unrouted, "zaaklink.events.unrouted");
	ck_assert_str_eq(t.retry, "zaaklink.events.retry");
	ck_assert_str_eq(t.requeue, "zaaklink.events.requeue");
	ck_assert_str_eq(t.dlq, "zaaklink.events.dlq");
	ck_assert_int_eq(t.n_wait, 2);
	ck_assert_str_eq(t.wait[0], "zaaklink.events.wait.10s");
	ck_assert_str_eq(t.wait[1], "zaaklink.events.wait.7200s");
}
END_TEST

/* A message as the retry queue gets it: CloudEvents headers, our own, and x-death. */
static void failed_message(struct zl_taken *t, amqp_table_entry_t *h, amqp_table_entry_t *death,
                           amqp_field_value_t *deaths, amqp_field_value_t *key)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->exchange, sizeof(t->exchange), "zaaklink.events.retry");
	snprintf(t->routing_key, sizeof(t->routing_key), "openzaak");
	t->msg.properties._flags =
	    AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_HEADERS_FLAG;
	t->msg.properties.message_id = amqp_cstring_bytes("id-1");
	t->msg.properties.type = amqp_cstring_bytes("nl.overheid.zaken.zaak-gekoppeld");
	key->kind = AMQP_FIELD_KIND_UTF8;
	key->value.bytes = amqp_cstring_bytes("nl.overheid.zaken.zaak-gekoppeld");
	death[0].key = amqp_cstring_bytes("reason");
	death[0].value.kind = AMQP_FIELD_KIND_UTF8;
	death[0].value.value.bytes = amqp_cstring_bytes("rejected");
	death[1].key = amqp_cstring_bytes("queue");
	death[1].value.kind = AMQP_FIELD_KIND_UTF8;
	death[1].value.value.bytes = amqp_cstring_bytes("openzaak");
	death[2].key = amqp_cstring_bytes("routing-keys");
	death[2].value.kind = AMQP_FIELD_KIND_ARRAY;
	death[2].value.value.array.num_entries = 1;
	death[2].value.value.array.entries = key;
	deaths->kind = AMQP_FIELD_KIND_TABLE;
	deaths->value.table.num_entries = 3;
	deaths->value.table.entries = death;
	h[0].key = amqp_cstring_bytes("cloudEvents_subject");
	h[0].value.kind = AMQP_FIELD_KIND_UTF8;
	h[0].value.value.bytes = amqp_cstring_bytes("zaak-1");
	h[1].key = amqp_cstring_bytes("x-death");
	h[1].value.kind = AMQP_FIELD_KIND_ARRAY;
	h[1].value.value.array.num_entries = 1;
	h[1].value.value.array.entries = deaths;
	h[2].key = amqp_cstring_bytes(ZL_H_ATTEMPTS);
	h[2].value.kind = AMQP_FIELD_KIND_I64;
	h[2].value.value.i64 = 1;
	h[3].key = amqp_cstring_bytes(ZL_H_FIRST_FAILURE);
	h[3].value.kind = AMQP_FIELD_KIND_UTF8;
	h[3].value.value.bytes = amqp_cstring_bytes("2026-11-29T10:00:00Z");
	t->msg.properties.headers.num_entries = 4;
	t->msg.properties.headers.entries = h;
}

/* The facts of a failure come from our headers, and from x-death where we have none. */
START_TEST(test_failure_read_from_headers_and_x_death)
{
	amqp_table_entry_t h[4], death[3];
	amqp_field_value_t deaths, key;
	struct zl_taken t;
	struct zl_failure f;

	failed_message(&t, h, death, &deaths, &key);
	retry_read_failure(&t, &f);
	ck_assert_str_eq(f.id, "id-1");
	ck_assert_str_eq(f.type, "nl.overheid.zaken.zaak-gekoppeld");
	ck_assert_str_eq(f.subject, "zaak-1");
	ck_assert_int_eq(f.attempts, 1);
	ck_assert_str_eq(f.first, "2026-11-29T10:00:00Z");
	ck_assert_str_eq(f.origin, "openzaak");
	ck_assert_str_eq(f.reason, "rejected");
	ck_assert_str_eq(f.routing_key, "nl.overheid.zaken.zaak-gekoppeld");
}
END_TEST

/* Our headers are dropped (attempts reset), the broker's and the CloudEvents ones stay. */
START_TEST(test_headers_without_ours_keep_the_rest)
{
	amqp_table_entry_t h[4], death[3];
	amqp_field_value_t deaths, key;
	struct zl_taken t;
	amqp_table_t out;

	failed_message(&t, h, death, &deaths, &key);
	out = retry_headers_without_ours(&t, 2);
	ck_assert_ptr_nonnull(out.entries);
	ck_assert_int_eq(out.num_entries, 2);
	ck_assert_int_eq((int)out.entries[0].key.len, (int)strlen("cloudEvents_subject"));
	ck_assert_int_eq((int)out.entries[1].key.len, (int)strlen("x-death"));
	free(out.entries);
}
END_TEST

static Suite *retry_suite(void)
{
	Suite *s = suite_create("retry");
	TCase *policy = tcase_create("policy");
	TCase *names = tcase_create("names");
	TCase *headers = tcase_create("headers");

	tcase_add_test(policy, test_each_failure_waits_in_the_next_tier);
	tcase_add_test(policy, test_parked_after_the_last_tier);
	tcase_add_test(policy, test_expired_is_retried);
	tcase_add_test(policy, test_delivery_limit_parks_at_once);
	tcase_add_test(policy, test_unknown_origin_parks);
	tcase_add_test(policy, test_no_tiers_parks_at_once);
	suite_add_tcase(s, policy);
	tcase_add_test(names, test_names_derive_from_the_exchange);
	suite_add_tcase(s, names);
	tcase_add_test(headers, test_failure_read_from_headers_and_x_death);
	tcase_add_test(headers, test_headers_without_ours_keep_the_rest);
	suite_add_tcase(s, headers);
	return s;
}

ZL_UNIT_MAIN(retry_suite)
