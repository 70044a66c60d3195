/* Unit tests of the pure parts of retry.c (policy, reading a failure) and topology.c (names). */
#include "publisher.h"
#include "retry.h"
#include "topology.h"
#include "unit.h"

#include <limits.h>
#include <stdlib.h>
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

/* An attempts count zaaklink cannot have written parks as bad_header, at
 * any width, and never yields a tier outside the configured ones. */
START_TEST(test_attempts_out_of_range_park_as_bad_header)
{
	static const int64_t bad[] = {INT_MAX,
	                              (int64_t)INT_MAX + 1,
	                              0x17FFFFFFFLL,
	                              INT64_MAX,
	                              ZL_RETRY_MAX_ATTEMPTS + 1,
	                              -1,
	                              INT_MIN,
	                              INT64_MIN};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct zl_retry_decision d = retry_decide(&tiers, bad[i], "rejected", true);

		ck_assert_msg(d.tier == -1, "attempts %lld: tier %d", (long long)bad[i], d.tier);
		ck_assert_str_eq(d.reason, "bad_header");
		ck_assert_int_ge(d.attempts, 1);
		ck_assert_int_le(d.attempts, ZL_RETRY_MAX_ATTEMPTS + 1);
	}
}
END_TEST

/* At the limit the count is still zaaklink's: parked after the last tier. */
START_TEST(test_attempts_at_the_limit_is_a_count)
{
	struct zl_retry_decision d = retry_decide(&tiers, ZL_RETRY_MAX_ATTEMPTS, "rejected", true);

	ck_assert_int_eq(d.tier, -1);
	ck_assert_int_eq(d.attempts, ZL_RETRY_MAX_ATTEMPTS + 1);
	ck_assert_str_eq(d.reason, "rejected");
	ck_assert_str_eq(d.why, "last tier passed");
}
END_TEST

/* Whatever the count and the number of tiers, the tier indexes a configured one. */
START_TEST(test_tier_always_within_the_tiers)
{
	static const int64_t counts[] = {
	    INT64_MIN, INT_MIN,  -2, -1, 0, 1, 2, 15, 16, 17, ZL_RETRY_MAX_ATTEMPTS,
	    INT_MAX,   INT64_MAX};
	struct zl_retry_conf rc = {.n_delays = 0};

	for (int n = 0; n <= ZL_MAX_RETRY_DELAYS; n++) {
		rc.n_delays = n;
		for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
			struct zl_retry_decision d = retry_decide(&rc, counts[i], "rejected", true);

			ck_assert_int_ge(d.tier, -1);
			ck_assert_int_lt(d.tier, n);
			if (d.tier >= 0)
				ck_assert_int_eq(d.attempts, d.tier + 1);
		}
	}
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
	topology_names(&conf, &t);
	ck_assert_str_eq(t.unrouted, "zaaklink.events.unrouted");
	ck_assert_str_eq(t.retry, "zaaklink.events.retry");
	ck_assert_str_eq(t.requeue, "zaaklink.events.requeue");
	ck_assert_str_eq(t.dlq, "zaaklink.events.dlq");
	ck_assert_int_eq(t.n_wait, 2);
	ck_assert_str_eq(t.wait[0], "zaaklink.events.wait.10s");
	ck_assert_str_eq(t.wait[1], "zaaklink.events.wait.7200s");
}
END_TEST

/* A consumer queue must not take a name zaaklink derives, for any delay. */
START_TEST(test_own_names)
{
	static const char *const own[] = {
	    "zaaklink.events.unrouted", "zaaklink.events.retry",   "zaaklink.events.requeue",
	    "zaaklink.events.dlq",      "zaaklink.events.wait.5s", "zaaklink.events.wait.",
	};
	static const char *const free_names[] = {
	    "zaaklink.events",        "zaaklink.events.other",     "zaaklink.events.retry.x",
	    "zaaklink.eventsX.retry", "zaaklink.events.dlqs",      "other.retry",
	    "zaaklink.events.waits",  "zaaklink.events.unrouted2",
	};

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		ck_assert_msg(topology_is_own("zaaklink.events", own[i]), "%s is zaaklink's",
		              own[i]);
	for (size_t i = 0; i < sizeof(free_names) / sizeof(free_names[0]); i++)
		ck_assert_msg(!topology_is_own("zaaklink.events", free_names[i]), "%s is free",
		              free_names[i]);
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

/*
 * The publisher's zaaklink-seq is no header of the controller's: it passes
 * every move (retry tier, parking, requeue) with its key, kind and value,
 * while each of the controller's six goes, and the rest keep their order.
 */
START_TEST(test_headers_without_ours_keep_the_seq)
{
	static const char *const own[] = {ZL_H_ATTEMPTS,      ZL_H_ORIGIN,       ZL_H_ROUTING_KEY,
	                                  ZL_H_FIRST_FAILURE, ZL_H_LAST_FAILURE, ZL_H_LAST_REASON};
	amqp_table_entry_t h[9];
	struct zl_taken t;
	amqp_table_t out;
	int n = 0;

	memset(&t, 0, sizeof(t));
	memset(h, 0, sizeof(h));
	h[n].key = amqp_cstring_bytes("cloudEvents_id");
	h[n].value.kind = AMQP_FIELD_KIND_UTF8;
	h[n++].value.value.bytes = amqp_cstring_bytes("id-1");
	for (int i = 0; i < 3; i++) {
		h[n].key = amqp_cstring_bytes(own[i]);
		h[n].value.kind = AMQP_FIELD_KIND_UTF8;
		h[n++].value.value.bytes = amqp_cstring_bytes("x");
	}
	h[n].key = amqp_cstring_bytes(ZL_H_SEQ);
	h[n].value.kind = AMQP_FIELD_KIND_I64;
	h[n++].value.value.i64 = INT64_C(9007199254740993);
	for (int i = 3; i < 6; i++) {
		h[n].key = amqp_cstring_bytes(own[i]);
		h[n].value.kind = AMQP_FIELD_KIND_UTF8;
		h[n++].value.value.bytes = amqp_cstring_bytes("x");
	}
	h[n].key = amqp_cstring_bytes("x-death");
	h[n++].value.kind = AMQP_FIELD_KIND_VOID;
	t.msg.properties._flags = AMQP_BASIC_HEADERS_FLAG;
	t.msg.properties.headers = (amqp_table_t){n, h};

	out = retry_headers_without_ours(&t, 6);
	ck_assert_ptr_nonnull(out.entries);
	ck_assert_int_eq(out.num_entries, 3);
	ck_assert_ptr_eq(out.entries[0].key.bytes, h[0].key.bytes);
	ck_assert_int_eq((int)out.entries[1].key.len, (int)strlen(ZL_H_SEQ));
	ck_assert_int_eq(memcmp(out.entries[1].key.bytes, ZL_H_SEQ, strlen(ZL_H_SEQ)), 0);
	ck_assert_int_eq(out.entries[1].value.kind, AMQP_FIELD_KIND_I64);
	ck_assert(out.entries[1].value.value.i64 == INT64_C(9007199254740993));
	ck_assert_ptr_eq(out.entries[2].key.bytes, h[8].key.bytes);
	free(out.entries);
}
END_TEST

/*
 * The detail a consumer's park adds (zaaklink-last-error) goes with the
 * controller's six on every move: after a requeue it would be stale.
 */
START_TEST(test_headers_without_ours_drop_the_park_detail)
{
	amqp_table_entry_t h[3];
	struct zl_taken t;
	amqp_table_t out;

	memset(&t, 0, sizeof(t));
	memset(h, 0, sizeof(h));
	h[0].key = amqp_cstring_bytes(ZL_H_LAST_ERROR);
	h[0].value.kind = AMQP_FIELD_KIND_UTF8;
	h[0].value.value.bytes = amqp_cstring_bytes("HTTP 400 malformed-cloudevent");
	h[1].key = amqp_cstring_bytes(ZL_H_SEQ);
	h[1].value.kind = AMQP_FIELD_KIND_I64;
	h[1].value.value.i64 = 7;
	h[2].key = amqp_cstring_bytes(ZL_H_LAST_REASON);
	h[2].value.kind = AMQP_FIELD_KIND_UTF8;
	h[2].value.value.bytes = amqp_cstring_bytes("http_400");
	t.msg.properties._flags = AMQP_BASIC_HEADERS_FLAG;
	t.msg.properties.headers = (amqp_table_t){3, h};
	out = retry_headers_without_ours(&t, 0);
	ck_assert_ptr_nonnull(out.entries);
	ck_assert_int_eq(out.num_entries, 1);
	ck_assert_ptr_eq(out.entries[0].key.bytes, h[1].key.bytes);
	free(out.entries);
}
END_TEST

/* The names for an exchange alone: the parking queue a consumer parks in. */
START_TEST(test_exchange_names_without_tiers)
{
	struct zl_topology t;

	topology_exchange_names("zaaklink.events", &t);
	ck_assert_str_eq(t.exchange, "zaaklink.events");
	ck_assert_str_eq(t.retry, "zaaklink.events.retry");
	ck_assert_str_eq(t.requeue, "zaaklink.events.requeue");
	ck_assert_str_eq(t.dlq, "zaaklink.events.dlq");
	ck_assert_int_eq(t.n_wait, 0);
}
END_TEST

/* Added origins are counted once each, up to ZL_RETRY_MAX_ORIGINS. */
START_TEST(test_added_origins_are_bounded)
{
	struct zl_conf conf;
	struct zl_err err = {0};
	struct zl_retry *r;
	char exchange[] = "zaaklink.events", name[32];

	memset(&conf, 0, sizeof(conf));
	conf.amqp.exchange = exchange;
	r = retry_new(&conf, &err);
	ck_assert_ptr_nonnull(r);
	for (int i = 0; i < ZL_RETRY_MAX_ORIGINS; i++) {
		snprintf(name, sizeof(name), "deliver-%d", i);
		ck_assert_int_eq(retry_add_origin(r, name, &err), 0);
		/* Known already: taken once, so no room is used. */
		ck_assert_int_eq(retry_add_origin(r, name, &err), 0);
	}
	ck_assert_int_eq(retry_add_origin(r, "one-too-many", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than"));
	retry_free(r);
}
END_TEST

/* A message that has only a zaaklink-attempts header of the given value. */
static void attempts_message(struct zl_taken *t, amqp_table_entry_t *h, amqp_field_value_t v)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->routing_key, sizeof(t->routing_key), "openzaak");
	t->msg.properties._flags = AMQP_BASIC_HEADERS_FLAG;
	h->key = amqp_cstring_bytes(ZL_H_ATTEMPTS);
	h->value = v;
	t->msg.properties.headers.num_entries = 1;
	t->msg.properties.headers.entries = h;
}

/* zaaklink-attempts is read at every integer width; a value outside
 * 0 .. ZL_RETRY_MAX_ATTEMPTS or of another kind is bad, and clamped. */
START_TEST(test_attempts_header_of_every_kind)
{
	static const struct {
		amqp_field_value_t v;
		int attempts;
		bool bad;
	} cases[] = {
	    {{.kind = AMQP_FIELD_KIND_I8, .value.i8 = 2}, 2, false},
	    {{.kind = AMQP_FIELD_KIND_U8, .value.u8 = 2}, 2, false},
	    {{.kind = AMQP_FIELD_KIND_I16, .value.i16 = 2}, 2, false},
	    {{.kind = AMQP_FIELD_KIND_U16, .value.u16 = 2}, 2, false},
	    {{.kind = AMQP_FIELD_KIND_I32, .value.i32 = 2}, 2, false},
	    {{.kind = AMQP_FIELD_KIND_U32, .value.u32 = 2}, 2, false},
	    {{.kind = AMQP_FIELD_KIND_I64, .value.i64 = 2}, 2, false},
	    {{.kind = AMQP_FIELD_KIND_U64, .value.u64 = 2}, 2, false},
	    {{.kind = AMQP_FIELD_KIND_I64, .value.i64 = ZL_RETRY_MAX_ATTEMPTS},
	     ZL_RETRY_MAX_ATTEMPTS,
	     false},
	    {{.kind = AMQP_FIELD_KIND_U8, .value.u8 = 255}, 255, false},
	    {{.kind = AMQP_FIELD_KIND_U16, .value.u16 = 65535}, ZL_RETRY_MAX_ATTEMPTS, true},
	    {{.kind = AMQP_FIELD_KIND_I32, .value.i32 = INT_MAX}, ZL_RETRY_MAX_ATTEMPTS, true},
	    {{.kind = AMQP_FIELD_KIND_U32, .value.u32 = INT_MAX}, ZL_RETRY_MAX_ATTEMPTS, true},
	    {{.kind = AMQP_FIELD_KIND_U32, .value.u32 = UINT32_MAX}, ZL_RETRY_MAX_ATTEMPTS, true},
	    {{.kind = AMQP_FIELD_KIND_I64, .value.i64 = INT_MAX}, ZL_RETRY_MAX_ATTEMPTS, true},
	    {{.kind = AMQP_FIELD_KIND_I64, .value.i64 = 0x17FFFFFFFLL},
	     ZL_RETRY_MAX_ATTEMPTS,
	     true},
	    {{.kind = AMQP_FIELD_KIND_I64, .value.i64 = INT64_MAX}, ZL_RETRY_MAX_ATTEMPTS, true},
	    {{.kind = AMQP_FIELD_KIND_U64, .value.u64 = INT_MAX}, ZL_RETRY_MAX_ATTEMPTS, true},
	    {{.kind = AMQP_FIELD_KIND_U64, .value.u64 = UINT64_MAX}, ZL_RETRY_MAX_ATTEMPTS, true},
	    {{.kind = AMQP_FIELD_KIND_I8, .value.i8 = -1}, 0, true},
	    {{.kind = AMQP_FIELD_KIND_I32, .value.i32 = INT_MIN}, 0, true},
	    {{.kind = AMQP_FIELD_KIND_I64, .value.i64 = INT64_MIN}, 0, true},
	    {{.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = {1, "2"}}, 0, true},
	    {{.kind = AMQP_FIELD_KIND_F64, .value.f64 = 2.0}, 0, true},
	    {{.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}, 0, true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		amqp_table_entry_t h;
		struct zl_taken t;
		struct zl_failure f;

		attempts_message(&t, &h, cases[i].v);
		retry_read_failure(&t, &f);
		ck_assert_msg(f.attempts == cases[i].attempts && f.bad_attempts == cases[i].bad,
		              "case %zu (kind %c): attempts %d bad %d", i, cases[i].v.kind,
		              f.attempts, f.bad_attempts);
	}
}
END_TEST

/* Without the header a message has failed 0 times before, and that is fine. */
START_TEST(test_no_attempts_header_is_zero)
{
	struct zl_taken t;
	struct zl_failure f;

	memset(&t, 0, sizeof(t));
	retry_read_failure(&t, &f);
	ck_assert_int_eq(f.attempts, 0);
	ck_assert(!f.bad_attempts);
}
END_TEST

/* Properties with n string headers "h<i>" of size[i] bytes each, then 6 of ours. */
static amqp_table_t big_headers(amqp_table_entry_t *e, char *keys, char **values,
                                const size_t *size, int n)
{
	for (int i = 0; i < n + 6; i++) {
		char *k = keys + 8 * i;

		snprintf(k, 8, "%s%d", i < n ? "h" : "z", i);
		values[i] = malloc(i < n ? size[i] : 20);
		ck_assert_ptr_nonnull(values[i]);
		memset(values[i], 'v', i < n ? size[i] : 20);
		e[i].key = amqp_cstring_bytes(k);
		e[i].value.kind = AMQP_FIELD_KIND_UTF8;
		e[i].value.value.bytes.len = i < n ? size[i] : 20;
		e[i].value.value.bytes.bytes = values[i];
	}
	return (amqp_table_t){n + 6, e};
}

/* Too big a table loses its largest foreign entries, as few as needed,
 * keeps zaaklink's own and the order of the rest. */
START_TEST(test_headers_fitted_into_a_frame)
{
	static const size_t size[] = {100, 3000, 200, 2500, 50};
	amqp_table_entry_t e[11];
	char keys[11 * 8], *values[11];
	amqp_basic_properties_t p;
	amqp_table_t h;
	int dropped;

	memset(&p, 0, sizeof(p));
	p._flags = AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
	p.message_id = amqp_cstring_bytes("m1");
	h = big_headers(e, keys, values, size, 5);
	ck_assert_uint_gt(retry_header_frame_size(&p, &h, 1 << 20), 4096);
	dropped = retry_fit_headers(&p, &h, 6, 4096);
	ck_assert_int_eq(dropped, 1);
	ck_assert_uint_le(retry_header_frame_size(&p, &h, 4096), 4096);
	ck_assert_int_eq(h.num_entries, 10);
	ck_assert_str_eq((char *)h.entries[0].key.bytes, "h0");
	ck_assert_str_eq((char *)h.entries[1].key.bytes, "h2");
	ck_assert_str_eq((char *)h.entries[2].key.bytes, "h3");
	ck_assert_str_eq((char *)h.entries[4].key.bytes, "z5");
	ck_assert_str_eq((char *)h.entries[9].key.bytes, "z10");
	/* Already fitting: untouched. */
	ck_assert_int_eq(retry_fit_headers(&p, &h, 6, 4096), 0);
	ck_assert_int_eq(h.num_entries, 10);
	/* Not even zaaklink's own fit: refused. */
	ck_assert_int_eq(retry_fit_headers(&p, &h, 6, 100), -1);
	for (int i = 0; i < 11; i++)
		free(values[i]);
}
END_TEST

/* The frame size counts every property and the table as rabbitmq-c encodes them. */
START_TEST(test_header_frame_size)
{
	amqp_basic_properties_t p;
	amqp_table_entry_t e;
	amqp_table_t h = {1, &e};

	memset(&p, 0, sizeof(p));
	e.key = amqp_cstring_bytes("k");
	e.value.kind = AMQP_FIELD_KIND_I64;
	e.value.value.i64 = 1;
	/* 22 of frame and header, 4 + (1 + 1) + (1 + 8) of the table */
	ck_assert_uint_eq(retry_header_frame_size(&p, &h, 4096), 22 + 15);
	p._flags = AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG |
	           AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_TYPE_FLAG;
	p.message_id = amqp_cstring_bytes("abc");
	p.type = amqp_cstring_bytes("t");
	ck_assert_uint_eq(retry_header_frame_size(&p, &h, 4096), 22 + 15 + 4 + 8 + 1 + 2);
	ck_assert_uint_eq(retry_header_frame_size(&p, &h, 10), SIZE_MAX);
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
	tcase_add_test(policy, test_attempts_out_of_range_park_as_bad_header);
	tcase_add_test(policy, test_attempts_at_the_limit_is_a_count);
	tcase_add_test(policy, test_tier_always_within_the_tiers);
	suite_add_tcase(s, policy);
	tcase_add_test(names, test_names_derive_from_the_exchange);
	tcase_add_test(names, test_own_names);
	suite_add_tcase(s, names);
	tcase_add_test(headers, test_failure_read_from_headers_and_x_death);
	tcase_add_test(headers, test_headers_without_ours_keep_the_rest);
	tcase_add_test(headers, test_headers_without_ours_keep_the_seq);
	tcase_add_test(headers, test_headers_without_ours_drop_the_park_detail);
	tcase_add_test(headers, test_exchange_names_without_tiers);
	tcase_add_test(headers, test_added_origins_are_bounded);
	tcase_add_test(headers, test_attempts_header_of_every_kind);
	tcase_add_test(headers, test_no_attempts_header_is_zero);
	tcase_add_test(headers, test_headers_fitted_into_a_frame);
	tcase_add_test(headers, test_header_frame_size);
	suite_add_tcase(s, headers);
	return s;
}

ZL_UNIT_MAIN(retry_suite)
