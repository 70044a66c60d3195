/*
 * Fuzz target: what the retry controller reads from a failed message and
 * decides about it (retry.h), on headers as hostile as a publisher to
 * X.retry may send them.
 *
 * Input: one byte of tiers (0 .. 16), one of flags (bit 0: the origin
 * queue is a configured one), two of frame size, eight of a raw attempts
 * count, one length byte and a message_id, one length byte and a routing
 * key, one length byte and a reason, then the encoded field table of the
 * headers (decoded by rabbitmq-c as a delivery is). What must hold:
 *  - retry_read_failure(): every text NUL-terminated inside its buffer,
 *    attempts within 0 .. ZL_RETRY_MAX_ATTEMPTS, bad_attempts exactly when
 *    zaaklink-attempts is there and no integer in that range, attempts
 *    equal to the header otherwise;
 *  - retry_decide(), for that count and for the raw one: a tier within the
 *    configured ones or -1, attempts 1 .. ZL_RETRY_MAX_ATTEMPTS + 1 and
 *    tier + 1 when retried, reason "bad_header" and parked exactly when
 *    the count is out of range, the given reason otherwise;
 *  - retry_headers_without_ours() has none of zaaklink's headers, and
 *    retry_fit_headers() leaves a table that fits the frame, keeps
 *    zaaklink's own entries last and unchanged and the others in order,
 *    or says -1 only when zaaklink's own alone do not fit;
 *  - zl_log_quote() of the message_id has no control character.
 */
#include "fuzz.h"
#include "log.h"
#include "retry.h"

#include <limits.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	zl_log_set_level(ZL_LOG_ERROR);
	return 0;
}

/* Takes a length byte and that many bytes (fewer at the end of the input). */
static amqp_bytes_t take(const uint8_t **p, size_t *left)
{
	amqp_bytes_t b = {0, NULL};
	size_t n;

	if (*left == 0)
		return b;
	n = **p;
	(*p)++;
	(*left)--;
	if (n > *left)
		n = *left;
	b.len = n;
	b.bytes = (void *)*p;
	*p += n;
	*left -= n;
	return b;
}

static void check_text(const char *s, size_t size, const char *what)
{
	FUZZ_CHECK(memchr(s, 0, size) != NULL, "%s not terminated", what);
}

/* The attempts count as the header says it, independently of retry.c:
 * 1 with *v for an integer, 0 when absent, -1 for another kind. */
static int expected_attempts(const amqp_table_t *h, int64_t *v)
{
	*v = 0;
	for (int i = 0; h && i < h->num_entries; i++) {
		const amqp_table_entry_t *e = &h->entries[i];

		if (e->key.len != strlen(ZL_H_ATTEMPTS) ||
		    memcmp(e->key.bytes, ZL_H_ATTEMPTS, e->key.len) != 0)
			continue;
		switch (e->value.kind) {
		case AMQP_FIELD_KIND_I8:
			*v = e->value.value.i8;
			return 1;
		case AMQP_FIELD_KIND_U8:
			*v = e->value.value.u8;
			return 1;
		case AMQP_FIELD_KIND_I16:
			*v = e->value.value.i16;
			return 1;
		case AMQP_FIELD_KIND_U16:
			*v = e->value.value.u16;
			return 1;
		case AMQP_FIELD_KIND_I32:
			*v = e->value.value.i32;
			return 1;
		case AMQP_FIELD_KIND_U32:
			*v = e->value.value.u32;
			return 1;
		case AMQP_FIELD_KIND_I64:
			*v = e->value.value.i64;
			return 1;
		case AMQP_FIELD_KIND_U64:
			*v = e->value.value.u64 > INT64_MAX ? INT64_MAX
			                                    : (int64_t)e->value.value.u64;
			return 1;
		default:
			return -1;
		}
	}
	return 0;
}

static void check_decision(const struct zl_retry_conf *rc, int64_t before, const char *reason,
                           bool known)
{
	struct zl_retry_decision d = retry_decide(rc, before, reason, known);
	bool out = before < 0 || before > ZL_RETRY_MAX_ATTEMPTS;

	FUZZ_CHECK(d.tier >= -1 && d.tier < rc->n_delays, "tier %d of %d (attempts %lld)", d.tier,
	           rc->n_delays, (long long)before);
	FUZZ_CHECK(d.attempts >= 1 && d.attempts <= ZL_RETRY_MAX_ATTEMPTS + 1, "attempts %d",
	           d.attempts);
	FUZZ_CHECK(d.why && d.reason, "no why or reason");
	if (d.tier >= 0)
		FUZZ_CHECK(d.attempts == d.tier + 1 && strcmp(d.why, "retry") == 0,
		           "tier %d with attempts %d", d.tier, d.attempts);
	if (out)
		FUZZ_CHECK(d.tier == -1 && strcmp(d.reason, "bad_header") == 0,
		           "attempts %lld out of range not parked as bad_header",
		           (long long)before);
	else
		FUZZ_CHECK(d.reason == reason, "reason changed for attempts %lld",
		           (long long)before);
}

/* True for the headers the retry controller writes and drops on a move:
 * its six and a consumer's park detail. Other zaaklink- headers, the
 * publisher's zaaklink-seq first, pass through. */
static bool ours(amqp_bytes_t k)
{
	static const char *const own[] = {ZL_H_ATTEMPTS,      ZL_H_ORIGIN,       ZL_H_ROUTING_KEY,
	                                  ZL_H_FIRST_FAILURE, ZL_H_LAST_FAILURE, ZL_H_LAST_REASON,
	                                  ZL_H_LAST_ERROR};

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (k.len == strlen(own[i]) && memcmp(k.bytes, own[i], k.len) == 0)
			return true;
	return false;
}

static void check_headers(const struct zl_taken *t, size_t frame_max)
{
	static const char *const names[6] = {ZL_H_ATTEMPTS,     ZL_H_ORIGIN,
	                                     ZL_H_ROUTING_KEY,  ZL_H_FIRST_FAILURE,
	                                     ZL_H_LAST_FAILURE, ZL_H_LAST_REASON};
	amqp_table_t h = retry_headers_without_ours(t, 6), before;
	amqp_table_entry_t *copy;
	int n, rc, k = 0;

	FUZZ_CHECK(h.entries, "out of memory");
	for (int i = 0; i < h.num_entries; i++)
		FUZZ_CHECK(!ours(h.entries[i].key), "a zaaklink header kept at %d", i);
	for (int i = 0; i < 6; i++) {
		amqp_table_entry_t *e = &h.entries[h.num_entries++];

		e->key = amqp_cstring_bytes(names[i]);
		e->value.kind = AMQP_FIELD_KIND_UTF8;
		e->value.value.bytes = amqp_cstring_bytes("2026-12-06T10:00:00Z");
	}
	n = h.num_entries;
	copy = malloc(sizeof(*copy) * (size_t)n);
	FUZZ_CHECK(copy, "out of memory");
	memcpy(copy, h.entries, sizeof(*copy) * (size_t)n);
	before = h;
	before.entries = copy;
	rc = retry_fit_headers(&t->msg.properties, &h, 6, frame_max);
	if (rc < 0) {
		amqp_table_t mine = {6, copy + n - 6};

		FUZZ_CHECK(retry_header_frame_size(&t->msg.properties, &mine, frame_max) >
		               frame_max,
		           "refused although zaaklink's own headers fit");
		FUZZ_CHECK(h.num_entries == n, "refused but changed");
	} else {
		FUZZ_CHECK(h.num_entries == n - rc, "%d entries, %d - %d expected", h.num_entries,
		           n, rc);
		FUZZ_CHECK(retry_header_frame_size(&t->msg.properties, &h, frame_max) <= frame_max,
		           "fitted headers do not fit %zu bytes", frame_max);
		if (rc == 0)
			FUZZ_CHECK(retry_header_frame_size(&t->msg.properties, &before,
			                                   frame_max) <= frame_max,
			           "nothing dropped from headers that do not fit");
		for (int i = 0; i < 6; i++)
			FUZZ_CHECK(memcmp(&h.entries[h.num_entries - 6 + i], &copy[n - 6 + i],
			                  sizeof(*copy)) == 0,
			           "zaaklink's header %d changed", i);
		/* The others: a subsequence of what was there, in order. */
		for (int i = 0; i < h.num_entries - 6; i++) {
			while (k < n - 6 && memcmp(&copy[k], &h.entries[i], sizeof(*copy)) != 0)
				k++;
			FUZZ_CHECK(k < n - 6, "entry %d not from the table, or out of order", i);
			k++;
		}
	}
	free(copy);
	free(h.entries);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zl_retry_conf rc;
	struct zl_taken t;
	struct zl_failure f;
	amqp_pool_t pool;
	amqp_bytes_t id, key, reason, enc;
	const uint8_t *p = data;
	size_t left = size, frame_max, off = 0;
	uint64_t rawu = 0;
	int64_t raw, want;
	char reason_s[256], quoted[1024];
	bool known;
	int kind;

	if (size < 12)
		return 0;
	memset(&rc, 0, sizeof(rc));
	rc.n_delays = data[0] % (ZL_MAX_RETRY_DELAYS + 1);
	for (int i = 0; i < rc.n_delays; i++)
		rc.delays[i] = i + 1;
	known = data[1] & 1;
	frame_max = 64 + (((size_t)data[2] << 8 | data[3]) % 8192);
	for (int i = 0; i < 8; i++)
		rawu = rawu << 8 | data[4 + i];
	raw = (int64_t)rawu;
	p += 12;
	left -= 12;
	id = take(&p, &left);
	key = take(&p, &left);
	reason = take(&p, &left);
	snprintf(reason_s, sizeof(reason_s), "%.*s", (int)reason.len, (const char *)reason.bytes);

	memset(&t, 0, sizeof(t));
	snprintf(t.routing_key, sizeof(t.routing_key), "%.*s", (int)key.len,
	         (const char *)key.bytes);
	t.msg.properties._flags = AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TYPE_FLAG;
	t.msg.properties.message_id = id;
	t.msg.properties.type = key;
	init_amqp_pool(&pool, 4096);
	/* The rest is the table's contents; its length prefix is made here. */
	{
		uint8_t *buf = malloc(left + 4);

		FUZZ_CHECK(buf, "out of memory");
		buf[0] = (uint8_t)(left >> 24);
		buf[1] = (uint8_t)(left >> 16);
		buf[2] = (uint8_t)(left >> 8);
		buf[3] = (uint8_t)left;
		memcpy(buf + 4, p, left);
		enc.len = left + 4;
		enc.bytes = buf;
		if (amqp_decode_table(enc, &pool, &t.msg.properties.headers, &off) ==
		    AMQP_STATUS_OK)
			t.msg.properties._flags |= AMQP_BASIC_HEADERS_FLAG;
		/* The decoded table points into buf: freed at the end. */

		retry_read_failure(&t, &f);
		check_text(f.id, sizeof(f.id), "id");
		check_text(f.type, sizeof(f.type), "type");
		check_text(f.subject, sizeof(f.subject), "subject");
		check_text(f.origin, sizeof(f.origin), "origin");
		check_text(f.routing_key, sizeof(f.routing_key), "routing_key");
		check_text(f.first, sizeof(f.first), "first");
		check_text(f.last, sizeof(f.last), "last");
		check_text(f.reason, sizeof(f.reason), "reason");
		FUZZ_CHECK(f.attempts >= 0 && f.attempts <= ZL_RETRY_MAX_ATTEMPTS, "attempts %d",
		           f.attempts);
		kind = expected_attempts((t.msg.properties._flags & AMQP_BASIC_HEADERS_FLAG)
		                             ? &t.msg.properties.headers
		                             : NULL,
		                         &want);
		if (kind < 0 || (kind > 0 && (want < 0 || want > ZL_RETRY_MAX_ATTEMPTS)))
			FUZZ_CHECK(f.bad_attempts, "attempts header %lld (kind %d) not bad",
			           (long long)want, kind);
		else
			FUZZ_CHECK(!f.bad_attempts && f.attempts == want,
			           "attempts %d, header %lld", f.attempts, (long long)want);

		check_decision(&rc, f.bad_attempts ? -1 : f.attempts, reason_s, known);
		check_decision(&rc, raw, reason_s, known);
		check_decision(&rc, (int32_t)rawu, reason_s, known);
		check_headers(&t, frame_max);

		zl_log_quote(f.id, quoted, sizeof(quoted));
		for (const char *c = quoted; *c; c++)
			FUZZ_CHECK((unsigned char)*c >= 0x20 && *c != 0x7f,
			           "control character in a quoted id");
		free(buf);
	}
	empty_amqp_pool(&pool);
	return 0;
}
