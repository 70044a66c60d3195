/* Unit tests of the dlq export format and of the text dlq list shows. */
#include "dlq_export.h"
#include "unit.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TEXT(s) zl_utf8_text(s, sizeof(s) - 1)

START_TEST(test_utf8_text_is_strict)
{
	ck_assert(TEXT(""));
	ck_assert(TEXT("zaak"));
	ck_assert(TEXT("h\xc3\xa9llo"));      /* é */
	ck_assert(TEXT("\xe2\x9c\x93"));      /* U+2713 */
	ck_assert(TEXT("\xf0\x9f\x98\x80"));  /* U+1F600 */
	ck_assert(TEXT("\xf4\x8f\xbf\xbf"));  /* U+10FFFF */
	ck_assert(TEXT("\xed\x9f\xbf"));      /* U+D7FF, just below the surrogates */
	ck_assert(!TEXT("a\0b"));             /* NUL: no C string can carry it */
	ck_assert(!TEXT("\xff"));             /* never in UTF-8 */
	ck_assert(!TEXT("\xc0\x80"));         /* overlong NUL */
	ck_assert(!TEXT("\xc1\xbf"));         /* overlong */
	ck_assert(!TEXT("\xe0\x80\xaf"));     /* overlong '/' */
	ck_assert(!TEXT("\xf0\x8f\xbf\xbf")); /* overlong U+FFFF */
	ck_assert(!TEXT("\xed\xa0\x80"));     /* surrogate U+D800 */
	ck_assert(!TEXT("\xed\xbf\xbf"));     /* surrogate U+DFFF */
	ck_assert(!TEXT("\xf4\x90\x80\x80")); /* U+110000 */
	ck_assert(!TEXT("\xf5\x80\x80\x80"));
	ck_assert(!TEXT("\x80"));     /* stray continuation */
	ck_assert(!TEXT("\xe2\x9c")); /* cut short */
	ck_assert(!TEXT("\xc3\x28")); /* bad continuation */
}
END_TEST

static const char *esc(const char *s, size_t len, bool backslash)
{
	static char buf[256];

	return zl_text_escape(s, len, buf, sizeof(buf), backslash);
}

START_TEST(test_text_escape_keeps_the_line)
{
	ck_assert_str_eq(esc("m2\nzaaklink: forged", 19, true), "m2\\x0azaaklink: forged");
	ck_assert_str_eq(esc("t.\x1b[31m", 7, true), "t.\\x1b[31m");
	ck_assert_str_eq(esc("a\rb\x7f", 4, true), "a\\x0db\\x7f");
	ck_assert_str_eq(esc("m3\xff", 3, true), "m3\\xff");
	ck_assert_str_eq(esc("\xc0\x80", 2, true), "\\xc0\\x80");
	ck_assert_str_eq(esc("\xed\xa0\x80", 3, true), "\\xed\\xa0\\x80");
	ck_assert_str_eq(esc("a\0b", 3, true), "a\\x00b");
	ck_assert_str_eq(esc("\xc2\x9b"
	                     "2J",
	                     4, true),
	                 "\\u{009b}2J"); /* C1 CSI */
	ck_assert_str_eq(esc("x\xe2\x80\xae"
	                     "y",
	                     5, true),
	                 "x\\u{202e}y"); /* RLO */
	ck_assert_str_eq(esc("x\xe2\x80\xa8"
	                     "y",
	                     5, true),
	                 "x\\u{2028}y"); /* LS */
	ck_assert_str_eq(esc("h\xc3\xa9 \xe2\x9c\x93", 7, true), "h\xc3\xa9 \xe2\x9c\x93");
	ck_assert_str_eq(esc("a\\x0a", 5, true), "a\\\\x0a");
	ck_assert_str_eq(esc("a\\x0a", 5, false), "a\\x0a");
}
END_TEST

START_TEST(test_text_escape_cuts_at_a_character)
{
	char buf[6];

	zl_text_escape("ab\n", 3, buf, sizeof(buf), true);
	ck_assert_str_eq(buf, "ab"); /* "\x0a" does not fit whole */
	zl_text_escape("a\xe2\x9c\x93\xe2\x9c\x93", 7, buf, sizeof(buf), true);
	ck_assert_str_eq(buf, "a\xe2\x9c\x93");
}
END_TEST

START_TEST(test_utf8_lossy)
{
	char *s = zl_utf8_lossy("m3\xff\xc3\xa9");

	ck_assert_str_eq(s, "m3\xef\xbf\xbd\xc3\xa9");
	free(s);
}
END_TEST

START_TEST(test_base64)
{
	static const struct {
		const char *in, *out;
	} cases[] = {{"", ""},        {"f", "Zg=="},        {"fo", "Zm8="},
	             {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"\xff\x00\xc0\x80", "/wDAgA=="}};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].in) + (i == 5 ? 3 : 0);
		char *s = zl_base64(cases[i].in, n);

		ck_assert_str_eq(s, cases[i].out);
		free(s);
	}
}
END_TEST

/* The field printed as compact JSON. */
static char *field(amqp_field_value_t v)
{
	cJSON *j = zl_export_field(&v);
	char *s;

	ck_assert_ptr_nonnull(j);
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return s;
}

#define FIELD_IS(v, want)                                                                          \
	do {                                                                                       \
		char *got_ = field(v);                                                             \
		ck_assert_str_eq(got_, want);                                                      \
		free(got_);                                                                        \
	} while (0)

START_TEST(test_field_every_type)
{
	amqp_field_value_t v;

	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1};
	FIELD_IS(v, "{\"type\":\"bool\",\"value\":true}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_I8, .value.i8 = -128};
	FIELD_IS(v, "{\"type\":\"int8\",\"value\":-128}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_U8, .value.u8 = 255};
	FIELD_IS(v, "{\"type\":\"uint8\",\"value\":255}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_I16, .value.i16 = -32768};
	FIELD_IS(v, "{\"type\":\"int16\",\"value\":-32768}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_U16, .value.u16 = 65535};
	FIELD_IS(v, "{\"type\":\"uint16\",\"value\":65535}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_I32, .value.i32 = INT32_MIN};
	FIELD_IS(v, "{\"type\":\"int32\",\"value\":-2147483648}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_U32, .value.u32 = UINT32_MAX};
	FIELD_IS(v, "{\"type\":\"uint32\",\"value\":4294967295}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_I64, .value.i64 = INT64_MIN};
	FIELD_IS(v, "{\"type\":\"int64\",\"value\":\"-9223372036854775808\"}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_I64, .value.i64 = (1LL << 53) + 1};
	FIELD_IS(v, "{\"type\":\"int64\",\"value\":\"9007199254740993\"}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_U64, .value.u64 = UINT64_MAX};
	FIELD_IS(v, "{\"type\":\"uint64\",\"value\":\"18446744073709551615\"}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_TIMESTAMP, .value.u64 = 1700000000};
	FIELD_IS(v, "{\"type\":\"timestamp\",\"value\":\"1700000000\"}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_F32, .value.f32 = 0.1f};
	FIELD_IS(v, "{\"type\":\"float\",\"value\":0.100000001}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_F64, .value.f64 = 0.1};
	FIELD_IS(v, "{\"type\":\"double\",\"value\":0.10000000000000001}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_F64, .value.f64 = 3};
	FIELD_IS(v, "{\"type\":\"double\",\"value\":3.0}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_F64, .value.f64 = -0.0};
	FIELD_IS(v, "{\"type\":\"double\",\"value\":-0.0}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_F64, .value.f64 = 1e300};
	FIELD_IS(v, "{\"type\":\"double\",\"value\":1.0000000000000001e+300}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_F64, .value.f64 = NAN};
	FIELD_IS(v, "{\"type\":\"double\",\"value\":\"NaN\"}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_F32, .value.f32 = -INFINITY};
	FIELD_IS(v, "{\"type\":\"float\",\"value\":\"-Infinity\"}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_F64, .value.f64 = INFINITY};
	FIELD_IS(v, "{\"type\":\"double\",\"value\":\"Infinity\"}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_DECIMAL,
	                         .value.decimal = {.decimals = 2, .value = 12345}};
	FIELD_IS(v, "{\"type\":\"decimal\",\"value\":{\"scale\":2,\"unscaled\":12345}}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_VOID};
	FIELD_IS(v, "{\"type\":\"void\",\"value\":null}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = {3, "a\nb"}};
	FIELD_IS(v, "{\"type\":\"longstr\",\"value\":\"a\\nb\"}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = {3, "a\0b"}};
	FIELD_IS(v, "{\"type\":\"longstr\",\"base64\":\"YQBi\"}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = {2, "\xc0\x80"}};
	FIELD_IS(v, "{\"type\":\"longstr\",\"base64\":\"wIA=\"}");
	v = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_BYTES, .value.bytes = {2, "hi"}};
	FIELD_IS(v, "{\"type\":\"bytes\",\"base64\":\"aGk=\"}");
}
END_TEST

START_TEST(test_field_nested)
{
	amqp_field_value_t items[2] = {
	    {.kind = AMQP_FIELD_KIND_I32, .value.i32 = 1},
	    {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = {1, "\xff"}},
	};
	amqp_table_entry_t plain[2] = {
	    {.key = {1, "k"}, .value = {.kind = AMQP_FIELD_KIND_I16, .value.i16 = 5}},
	    {.key = {1, "a"}, .value = {.kind = AMQP_FIELD_KIND_ARRAY, .value.array = {2, items}}},
	};
	amqp_table_entry_t odd[3] = {
	    {.key = {1, "\xff"}, .value = {.kind = AMQP_FIELD_KIND_I8, .value.i8 = 1}},
	    {.key = {1, "k"}, .value = {.kind = AMQP_FIELD_KIND_I8, .value.i8 = 2}},
	    {.key = {1, "k"}, .value = {.kind = AMQP_FIELD_KIND_I8, .value.i8 = 3}},
	};
	amqp_field_value_t v = {.kind = AMQP_FIELD_KIND_TABLE, .value.table = {2, plain}};

	FIELD_IS(v, "{\"type\":\"table\",\"value\":{\"k\":{\"type\":\"int16\",\"value\":5},"
	            "\"a\":{\"type\":\"array\",\"value\":[{\"type\":\"int32\",\"value\":1},"
	            "{\"type\":\"longstr\",\"base64\":\"/w==\"}]}}}");
	/* A key that is not text, or twice: entries in order, nothing merged. */
	v.value.table = (amqp_table_t){3, odd};
	FIELD_IS(v, "{\"type\":\"table\",\"entries\":["
	            "{\"key_base64\":\"/w==\",\"type\":\"int8\",\"value\":1},"
	            "{\"key\":\"k\",\"type\":\"int8\",\"value\":2},"
	            "{\"key\":\"k\",\"type\":\"int8\",\"value\":3}]}");
}
END_TEST

START_TEST(test_message_and_purge_key)
{
	amqp_table_entry_t h[1] = {
	    {.key = {1, "\xff"}, .value = {.kind = AMQP_FIELD_KIND_VOID}},
	};
	amqp_message_t msg = {0};
	cJSON *j;
	char *s, *key = NULL, why[128];

	msg.properties._flags = AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG |
	                        AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG;
	msg.properties.message_id = (amqp_bytes_t){3, "m\0x"};
	msg.properties.correlation_id = (amqp_bytes_t){1, "c"};
	msg.properties.timestamp = UINT64_MAX;
	msg.properties.headers = (amqp_table_t){1, h};
	msg.body = (amqp_bytes_t){4, "{}\xed\xa0"};
	j = zl_export_message("X.dlq", "", (amqp_bytes_t){3, "k\0y"}, &msg);
	ck_assert_ptr_nonnull(j);
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	ck_assert_str_eq(
	    s, "{\"format\":2,\"queue\":\"X.dlq\",\"exchange\":\"\","
	       "\"routing_key_base64\":\"awB5\",\"properties\":{\"timestamp\":"
	       "\"18446744073709551615\",\"correlation_id\":\"c\","
	       "\"message_id_base64\":\"bQB4\"},\"headers_entries\":[{\"key_base64\":"
	       "\"/w==\",\"type\":\"void\",\"value\":null}],\"body_base64\":\"e33toA==\"}");
	/* purge --from reads the id back as the key a parked message has. */
	ck_assert_int_eq(zl_export_line_id(s, strlen(s), "X.dlq", &key, why, sizeof(why)), 1);
	ck_assert_str_eq(key, "b:bQB4");
	free(key);
	key = zl_export_id_key("m\0x", 3);
	ck_assert_str_eq(key, "b:bQB4");
	free(key);
	ck_assert_int_eq(zl_export_line_id(s, strlen(s), "Y.dlq", &key, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "exported from another queue than Y.dlq");
	free(s);
	key = zl_export_id_key("m1", 2);
	ck_assert_str_eq(key, "t:m1");
	free(key);
}
END_TEST

START_TEST(test_export_line_refuses)
{
	static const char *bad[] = {
	    "not json",
	    "[1]",
	    "{\"queue\":\"X.dlq\",\"properties\":{\"message_id\":\"m1\"}}", /* no format */
	    "{\"format\":1,\"queue\":\"X.dlq\",\"properties\":{}}",
	    "{\"format\":2,\"queue\":\"X.dlq\"}",
	    /* cJSON would cut the id at the NUL and match m1 */
	    "{\"format\":2,\"queue\":\"X.dlq\",\"properties\":{\"message_id\":\"m1\\u0000x\"}}",
	};
	const char *none = "{\"format\":2,\"queue\":\"X.dlq\",\"properties\":{}}";
	const char *lit = "{\"format\":2,\"queue\":\"X.dlq\",\"properties\":{\"message_id\":"
	                  "\"a\\\\u0000\"}}";
	char *key = NULL, why[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(
		    zl_export_line_id(bad[i], strlen(bad[i]), "X.dlq", &key, why, sizeof(why)), -1);
		ck_assert_ptr_null(key);
	}
	ck_assert_int_eq(zl_export_line_id(none, strlen(none), "X.dlq", &key, why, sizeof(why)), 0);
	ck_assert_ptr_null(key);
	/* An escaped backslash before u0000 is text, not a NUL. */
	ck_assert_int_eq(zl_export_line_id(lit, strlen(lit), "X.dlq", &key, why, sizeof(why)), 1);
	ck_assert_str_eq(key, "t:a\\u0000");
	free(key);
}
END_TEST

static Suite *export_suite(void)
{
	Suite *s = suite_create("export");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_utf8_text_is_strict);
	tcase_add_test(tc, test_text_escape_keeps_the_line);
	tcase_add_test(tc, test_text_escape_cuts_at_a_character);
	tcase_add_test(tc, test_utf8_lossy);
	tcase_add_test(tc, test_base64);
	tcase_add_test(tc, test_field_every_type);
	tcase_add_test(tc, test_field_nested);
	tcase_add_test(tc, test_message_and_purge_key);
	tcase_add_test(tc, test_export_line_refuses);
	suite_add_tcase(s, tc);
	return s;
}

ZL_UNIT_MAIN(export_suite)
