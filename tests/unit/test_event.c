/* Unit tests of event.c, one per rule of docs/EVENTS.md sections 2, 3 and 5. */
#include "event.h"
#include "fixtures.h"
#include "unit.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_URL "https://openklant.example.nl"

/* s repeated n times, malloc'ed. */
static char *repeat(const char *s, int n)
{
	size_t len = strlen(s);
	char *out = malloc(len * (size_t)n + 1);

	ck_assert_ptr_nonnull(out);
	for (int i = 0; i < n; i++)
		memcpy(out + len * (size_t)i, s, len);
	out[len * (size_t)n] = '\0';
	return out;
}

/* Number of UTF-8 characters in s (bytes that do not continue a sequence). */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	}
	return n;
}

/* True when s is well-formed UTF-8 (no sequence cut short). */
static bool utf8_complete(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int more = *p < 0x80 ? 0 : *p >= 0xF0 ? 3 : *p >= 0xE0 ? 2 : *p >= 0xC0 ? 1 : -1;

		if (more < 0)
			return false;
		p++;
		for (int i = 0; i < more; i++, p++) {
			if ((*p & 0xC0) != 0x80)
				return false;
		}
	}
	return true;
}

/* ---- docs/EVENTS.md 2: what is a zaak link ---- */

START_TEST(test_link_is_zaak_uuid_with_klantcontact)
{
	struct zl_row row = link_row();

	ck_assert(event_row_is_link(&row));
}
END_TEST

START_TEST(test_link_requires_objecttype_zaak_case_sensitive)
{
	static const char *const others[] = {"Zaak", "ZAAK",  "zaak ",  " zaak",
	                                     "",     "zaken", "besluit"};
	struct zl_row row = link_row();

	for (size_t i = 0; i < ZL_ARRAY_LEN(others); i++) {
		row.objecttype = others[i];
		ck_assert_msg(!event_row_is_link(&row), "objecttype '%s' taken for a link",
		              others[i]);
	}
}
END_TEST

START_TEST(test_link_requires_soort_object_id_uuid_case_sensitive)
{
	static const char *const others[] = {"UUID", "Uuid", "uuid ", "", "url", "nummer"};
	struct zl_row row = link_row();

	for (size_t i = 0; i < ZL_ARRAY_LEN(others); i++) {
		row.soort_object_id = others[i];
		ck_assert_msg(!event_row_is_link(&row), "soort_object_id '%s' taken for a link",
		              others[i]);
	}
}
END_TEST

START_TEST(test_link_requires_klantcontact)
{
	struct zl_row row = link_row();

	row.has_klantcontact = false;
	row.klantcontact_id = 0;
	row.onderwerp = NULL;
	row.nummer = NULL;
	ck_assert(!event_row_is_link(&row));
}
END_TEST

/* object_id is free text and the register plays no part in being a link. */
START_TEST(test_link_ignores_object_id_and_register)
{
	struct zl_row row = link_row();

	row.object_id = "not a uuid";
	row.code_register = "";
	ck_assert(event_row_is_link(&row));
	row.object_id = "";
	ck_assert(event_row_is_link(&row));
}
END_TEST

/* ---- docs/EVENTS.md 4: canonical UUIDs ---- */

START_TEST(test_uuid_canonical_lower_case_accepted)
{
	ck_assert(event_is_canonical_uuid(ZAAK_ID));
	ck_assert(event_is_canonical_uuid("00000000-0000-0000-0000-000000000000"));
}
END_TEST

START_TEST(test_uuid_canonical_upper_case_accepted)
{
	ck_assert(event_is_canonical_uuid("0B9E6C5A-4F3D-4E2B-9A1C-7D8E9F0A1B2C"));
	ck_assert(event_is_canonical_uuid("0b9E6c5A-4f3D-4e2B-9a1C-7d8E9f0A1b2C"));
}
END_TEST

START_TEST(test_uuid_non_canonical_rejected)
{
	static const char *const bad[] = {
	    "0b9e6c5a4f3d4e2b9a1c7d8e9f0a1b2c",              /* no dashes */
	    "{0b9e6c5a-4f3d-4e2b-9a1c-7d8e9f0a1b2c}",        /* braces */
	    "urn:uuid:0b9e6c5a-4f3d-4e2b-9a1c-7d8e9f0a1b2c", /* URN prefix */
	    "0b9e6c5a-4f3d-4e2b-9a1c-7d8e9f0a1b2",           /* 35 characters */
	    "0b9e6c5a-4f3d-4e2b-9a1c-7d8e9f0a1b2c0",         /* 37 characters */
	    "0b9e6c5g-4f3d-4e2b-9a1c-7d8e9f0a1b2c",          /* non-hex 'g' */
	    "0b9e6c5a-4f3d-4e2b-9a1c-7d8e9f0a1b2 ",          /* trailing blank */
	    " b9e6c5a-4f3d-4e2b-9a1c-7d8e9f0a1b2c",          /* leading blank */
	    "0b9e6c5a4-f3d-4e2b-9a1c-7d8e9f0a1b2c",          /* dash misplaced */
	    "0b9e6c5a-4f3d-4e2b-9a1c7-d8e9f0a1b2c",          /* dash misplaced */
	    "0b9e6c5a_4f3d_4e2b_9a1c_7d8e9f0a1b2c",          /* underscores */
	    "0b9e6c5a-4f3d-4e2b-9a1c-7d8e9f0a1b2c\n",        /* trailing newline */
	    "",
	    "zaak-123",
	};

	for (size_t i = 0; i < ZL_ARRAY_LEN(bad); i++)
		ck_assert_msg(!event_is_canonical_uuid(bad[i]), "'%s' accepted", bad[i]);
}
END_TEST

/* ---- docs/EVENTS.md 3: the payload ---- */

START_TEST(test_zaak_is_urn_uuid_of_object_id)
{
	char *zaak = event_zaak_urn(ZAAK_ID);

	ck_assert_str_eq(zaak, "urn:uuid:" ZAAK_ID);
	free(zaak);
}
END_TEST

/* The raw value is published as it is (invalid_zaak_id = "emit", upper case). */
START_TEST(test_zaak_keeps_object_id_as_written)
{
	char *zaak = event_zaak_urn("0B9E6C5A-4F3D-4E2B-9A1C-7D8E9F0A1B2C");

	ck_assert_str_eq(zaak, "urn:uuid:0B9E6C5A-4F3D-4E2B-9A1C-7D8E9F0A1B2C");
	free(zaak);
	zaak = event_zaak_urn("zaak 12");
	ck_assert_str_eq(zaak, "urn:uuid:zaak 12");
	free(zaak);
}
END_TEST

START_TEST(test_linkto_is_base_url_api_path_and_uuid)
{
	char *link_to = event_link_to(BASE_URL, UUID_O);

	ck_assert_str_eq(link_to, BASE_URL "/klantinteracties/api/v1/onderwerpobjecten/" UUID_O);
	free(link_to);
}
END_TEST

START_TEST(test_linkto_has_no_trailing_slash)
{
	char *link_to = event_link_to(BASE_URL "/openklant", UUID_O);

	ck_assert_str_eq(link_to,
	                 BASE_URL "/openklant/klantinteracties/api/v1/onderwerpobjecten/" UUID_O);
	ck_assert_int_ne(link_to[strlen(link_to) - 1], '/');
	free(link_to);
}
END_TEST

/*
 * conf strips the trailing '/' of base_url, so event_link_to() normally sees
 * none; handed one anyway, it must still not write "//" into the path, or the
 * ontkoppeld would miss Open Zaak's ZaakObject.
 */
START_TEST(test_linkto_strips_trailing_slash)
{
	char *link_to = event_link_to(BASE_URL "/", UUID_O);

	ck_assert_str_eq(link_to, BASE_URL "/klantinteracties/api/v1/onderwerpobjecten/" UUID_O);
	free(link_to);
}
END_TEST

START_TEST(test_label_without_nummer)
{
	char *label = event_label("Vraag over aanvraag", NULL, 80);

	ck_assert_str_eq(label, "Vraag over aanvraag");
	free(label);
}
END_TEST

START_TEST(test_label_empty_nummer_same_as_null)
{
	char *label = event_label("Vraag over aanvraag", "", 80);

	ck_assert_str_eq(label, "Vraag over aanvraag");
	free(label);
}
END_TEST

START_TEST(test_label_with_nummer)
{
	char *label = event_label("Vraag over aanvraag", "0000012", 80);

	ck_assert_str_eq(label, "Vraag over aanvraag - (0000012)");
	free(label);
}
END_TEST

START_TEST(test_label_empty_onderwerp_kept)
{
	char *label = event_label("", NULL, 80);

	ck_assert_str_eq(label, "");
	free(label);
	label = event_label("", "12", 80);
	ck_assert_str_eq(label, " - (12)");
	free(label);
}
END_TEST

START_TEST(test_label_exactly_80_kept)
{
	char *onderwerp = repeat("a", 80);
	char *label = event_label(onderwerp, NULL, 80);

	ck_assert_str_eq(label, onderwerp);
	free(label);
	free(onderwerp);
}
END_TEST

START_TEST(test_label_81_cut_to_80)
{
	char *onderwerp = repeat("a", 81);
	char *label = event_label(onderwerp, NULL, 80);

	ck_assert_uint_eq(strlen(label), 80);
	ck_assert_int_eq(strncmp(label, onderwerp, 80), 0);
	free(label);
	free(onderwerp);
}
END_TEST

/* The limit applies to the whole label, nummer included. */
START_TEST(test_label_with_nummer_truncated_as_a_whole)
{
	char *onderwerp = repeat("b", 75);
	char *label = event_label(onderwerp, "0000012", 80);
	char *expected = repeat("b", 75);

	ck_assert_uint_eq(strlen(label), 80);
	ck_assert_int_eq(strncmp(label, expected, 75), 0);
	ck_assert_str_eq(label + 75, " - (0");
	free(expected);
	free(label);
	free(onderwerp);
}
END_TEST

START_TEST(test_label_truncated_to_80_chars_multibyte)
{
	char *onderwerp = repeat("\xc3\xa9", 100); /* é */
	char *label = event_label(onderwerp, NULL, 80);

	ck_assert_uint_eq(utf8_chars(label), 80);
	ck_assert_uint_eq(strlen(label), 160);
	ck_assert(utf8_complete(label));
	free(label);
	free(onderwerp);
}
END_TEST

START_TEST(test_label_never_cuts_utf8_sequence)
{
	static const char *const chars[] = {
	    "\xc3\xa9",         /* é, 2 bytes */
	    "\xe2\x82\xac",     /* €, 3 bytes */
	    "\xf0\x9f\x98\x80", /* 😀, 4 bytes */
	};

	for (size_t i = 0; i < ZL_ARRAY_LEN(chars); i++) {
		/* Shift the sequences by one byte so no byte limit falls on a boundary. */
		char *tail = repeat(chars[i], 90);
		char *onderwerp = malloc(strlen(tail) + 2);

		ck_assert_ptr_nonnull(onderwerp);
		sprintf(onderwerp, "x%s", tail);
		for (int max = 1; max <= 85; max++) {
			char *label = event_label(onderwerp, NULL, max);

			ck_assert(utf8_complete(label));
			ck_assert_uint_eq(utf8_chars(label), (size_t)max);
			ck_assert_uint_eq(strlen(label), 1 + (size_t)(max - 1) * strlen(chars[i]));
			free(label);
		}
		free(onderwerp);
		free(tail);
	}
}
END_TEST

START_TEST(test_label_zero_means_no_limit)
{
	char *onderwerp = repeat("\xe2\x82\xac", 500);
	char *label = event_label(onderwerp, "1234567890", 0);
	char expected[2000];

	snprintf(expected, sizeof(expected), "%s - (1234567890)", onderwerp);
	ck_assert_str_eq(label, expected);
	free(label);
	free(onderwerp);
}
END_TEST

START_TEST(test_utf8_prefix_counts_characters_not_bytes)
{
	/* "aé€😀b": 5 characters, 1 + 2 + 3 + 4 + 1 bytes. */
	static const char s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
	                        "b";
	static const size_t bytes[] = {0, 1, 3, 6, 10, 11, 11, 11};

	for (int n = 1; n < (int)ZL_ARRAY_LEN(bytes); n++)
		ck_assert_uint_eq(event_utf8_prefix(s, n), bytes[n]);
	ck_assert_uint_eq(event_utf8_prefix(s, 0), strlen(s));
	ck_assert_uint_eq(event_utf8_prefix("", 5), 0);
}
END_TEST

START_TEST(test_payload_built_from_link_row)
{
	struct zl_payload_rules rules = {.base_url = BASE_URL, .label_max_length = 80};
	struct zl_row row = link_row();
	struct zl_payload p = {0};

	ck_assert_int_eq(event_payload_build(&rules, &row, &p), 0);
	ck_assert_str_eq(p.zaak, "urn:uuid:" ZAAK_ID);
	ck_assert_str_eq(p.link_to, BASE_URL "/klantinteracties/api/v1/onderwerpobjecten/" UUID_O);
	ck_assert_str_eq(p.label, "Vraag over aanvraag - (0000012)");
	event_payload_clear(&p);
	ck_assert_ptr_null(p.zaak);
	ck_assert_ptr_null(p.link_to);
	ck_assert_ptr_null(p.label);
	event_payload_clear(&p);
}
END_TEST

START_TEST(test_payload_label_follows_label_max_length)
{
	struct zl_payload_rules rules = {.base_url = BASE_URL, .label_max_length = 5};
	struct zl_row row = link_row();
	struct zl_payload p = {0};

	ck_assert_int_eq(event_payload_build(&rules, &row, &p), 0);
	ck_assert_str_eq(p.label, "Vraag");
	event_payload_clear(&p);
}
END_TEST

START_TEST(test_payload_equal_compares_every_field)
{
	struct zl_payload a = {"urn:uuid:x", "https://a/1", "label"};
	struct zl_payload b = {"urn:uuid:x", "https://a/1", "label"};
	struct zl_payload c = {"urn:uuid:y", "https://a/1", "label"};
	struct zl_payload d = {"urn:uuid:x", "https://a/2", "label"};
	struct zl_payload e = {"urn:uuid:x", "https://a/1", "label2"};

	ck_assert(event_payload_equal(&a, &b));
	ck_assert(!event_payload_equal(&a, &c));
	ck_assert(!event_payload_equal(&a, &d));
	ck_assert(!event_payload_equal(&a, &e));
}
END_TEST

/* ---- docs/EVENTS.md 5: the CloudEvent ---- */

START_TEST(test_type_names)
{
	enum zl_event_type t;

	ck_assert_str_eq(event_type_name(ZL_GEKOPPELD), "nl.overheid.zaken.zaak-gekoppeld");
	ck_assert_str_eq(event_type_name(ZL_ONTKOPPELD), "nl.overheid.zaken.zaak-ontkoppeld");
	ck_assert_int_eq(event_type_parse(ZL_TYPE_GEKOPPELD, &t), 0);
	ck_assert_int_eq(t, ZL_GEKOPPELD);
	ck_assert_int_eq(event_type_parse(ZL_TYPE_ONTKOPPELD, &t), 0);
	ck_assert_int_eq(t, ZL_ONTKOPPELD);
	ck_assert_int_eq(event_type_parse("nl.overheid.zaken.zaak-verwijderd", &t), -1);
	ck_assert_int_eq(event_type_parse("", &t), -1);
}
END_TEST

/* True when id is a lower-case version 4, variant 1 UUID. */
static bool is_lower_v4(const char *id)
{
	if (strlen(id) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (id[i] != '-')
				return false;
		} else if (!strchr("0123456789abcdef", id[i]) || id[i] == '\0') {
			return false;
		}
	}
	return id[14] == '4' && strchr("89ab", id[19]) != NULL;
}

START_TEST(test_id_lower_case_v4)
{
	char a[37], b[37];

	for (int i = 0; i < 100; i++) {
		event_new_id(a);
		ck_assert_msg(is_lower_v4(a), "'%s' is not a lower-case UUIDv4", a);
	}
	event_new_id(b);
	ck_assert_str_ne(a, b);
}
END_TEST

/* A recorded event to serialize: the payload and event of the fixture. */
struct sample {
	struct zl_payload payload;
	struct zl_event ev;
};

static void sample_init(struct sample *s, enum zl_event_type type)
{
	s->payload.zaak = "urn:uuid:" ZAAK_ID;
	s->payload.link_to = BASE_URL "/klantinteracties/api/v1/onderwerpobjecten/" UUID_O;
	s->payload.label = "Vraag over aanvraag - (0000012)";
	memset(&s->ev, 0, sizeof(s->ev));
	s->ev.type = type;
	strcpy(s->ev.id, "2c6c1f9e-8d1b-4a8e-9f3e-0d1c2b3a4f5e");
	s->ev.time = 1700000000; /* 2023-11-14T22:13:20Z */
	s->ev.source = "urn:nld:oin:01823288444:openklant";
	s->ev.subject = ZAAK_ID;
	s->ev.payload = &s->payload;
}

/* Serializes s and parses it back; the caller deletes the result. */
static cJSON *to_json(const struct sample *s)
{
	char *text = event_to_json(&s->ev);
	cJSON *json;

	ck_assert_ptr_nonnull(text);
	json = cJSON_Parse(text);
	ck_assert_msg(json != NULL, "not JSON: %s", text);
	free(text);
	return json;
}

/* The string member name of obj; fails the test when missing or not a string. */
static const char *member(const cJSON *obj, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);

	ck_assert_msg(cJSON_IsString(m), "member '%s' missing or not a string", name);
	return m->valuestring;
}

/* Asserts that obj has exactly the members names, no more. */
static void assert_keys(const cJSON *obj, const char *const *names, int n)
{
	const cJSON *m;
	int count = 0;

	cJSON_ArrayForEach(m, obj)
	{
		bool known = false;

		for (int i = 0; i < n; i++)
			known = known || strcmp(m->string, names[i]) == 0;
		ck_assert_msg(known, "unexpected member '%s'", m->string);
		count++;
	}
	ck_assert_int_eq(count, n);
}

START_TEST(test_json_has_exactly_the_cloudevents_attributes)
{
	static const char *const attrs[] = {"specversion", "type", "source",          "subject",
	                                    "id",          "time", "datacontenttype", "data"};
	static const char *const data[] = {"zaak", "linkTo", "label", "linkObjectType"};
	struct sample s;
	cJSON *json;

	sample_init(&s, ZL_GEKOPPELD);
	json = to_json(&s);
	ck_assert(cJSON_IsObject(json));
	assert_keys(json, attrs, (int)ZL_ARRAY_LEN(attrs));
	ck_assert(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(json, "data")));
	assert_keys(cJSON_GetObjectItemCaseSensitive(json, "data"), data, (int)ZL_ARRAY_LEN(data));
	cJSON_Delete(json);
}
END_TEST

START_TEST(test_json_gekoppeld_values)
{
	struct sample s;
	const cJSON *data;
	cJSON *json;

	sample_init(&s, ZL_GEKOPPELD);
	json = to_json(&s);
	ck_assert_str_eq(member(json, "specversion"), "1.0");
	ck_assert_str_eq(member(json, "type"), "nl.overheid.zaken.zaak-gekoppeld");
	ck_assert_str_eq(member(json, "source"), "urn:nld:oin:01823288444:openklant");
	ck_assert_str_eq(member(json, "subject"), ZAAK_ID);
	ck_assert_str_eq(member(json, "id"), "2c6c1f9e-8d1b-4a8e-9f3e-0d1c2b3a4f5e");
	ck_assert_str_eq(member(json, "time"), "2023-11-14T22:13:20Z");
	ck_assert_str_eq(member(json, "datacontenttype"), "application/json");
	data = cJSON_GetObjectItemCaseSensitive(json, "data");
	ck_assert_str_eq(member(data, "zaak"), "urn:uuid:" ZAAK_ID);
	ck_assert_str_eq(member(data, "linkTo"),
	                 BASE_URL "/klantinteracties/api/v1/onderwerpobjecten/" UUID_O);
	ck_assert_str_eq(member(data, "label"), "Vraag over aanvraag - (0000012)");
	ck_assert_str_eq(member(data, "linkObjectType"), "Onderwerpobject");
	cJSON_Delete(json);
}
END_TEST

START_TEST(test_json_ontkoppeld_type)
{
	struct sample s;
	cJSON *json;

	sample_init(&s, ZL_ONTKOPPELD);
	json = to_json(&s);
	ck_assert_str_eq(member(json, "type"), "nl.overheid.zaken.zaak-ontkoppeld");
	ck_assert_str_eq(member(cJSON_GetObjectItemCaseSensitive(json, "data"), "linkTo"),
	                 BASE_URL "/klantinteracties/api/v1/onderwerpobjecten/" UUID_O);
	cJSON_Delete(json);
}
END_TEST

START_TEST(test_json_no_null_attributes)
{
	struct sample s;
	const cJSON *m;
	cJSON *json;

	sample_init(&s, ZL_GEKOPPELD);
	s.payload.label = "";
	json = to_json(&s);
	cJSON_ArrayForEach(m, json)
	{
		ck_assert_msg(!cJSON_IsNull(m), "attribute '%s' is null", m->string);
		if (strcmp(m->string, "data") != 0)
			ck_assert_msg(cJSON_IsString(m), "attribute '%s' is not a string",
			              m->string);
	}
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(json, "data"))
	{
		ck_assert_msg(cJSON_IsString(m), "data.%s is not a string", m->string);
	}
	ck_assert_str_eq(member(cJSON_GetObjectItemCaseSensitive(json, "data"), "label"), "");
	cJSON_Delete(json);
}
END_TEST

START_TEST(test_json_time_utc_whole_seconds)
{
	static const struct {
		int64_t t;
		const char *text;
	} times[] = {
	    {0, "1970-01-01T00:00:00Z"},
	    {951782400, "2000-02-29T00:00:00Z"},
	    {1795946399, "2026-11-29T09:59:59Z"},
	};
	struct sample s;

	for (size_t i = 0; i < ZL_ARRAY_LEN(times); i++) {
		cJSON *json;

		sample_init(&s, ZL_GEKOPPELD);
		s.ev.time = times[i].t;
		json = to_json(&s);
		ck_assert_str_eq(member(json, "time"), times[i].text);
		cJSON_Delete(json);
	}
}
END_TEST

/* Quotes, backslashes, control characters and UTF-8 survive the round trip. */
START_TEST(test_json_escapes_and_keeps_utf8)
{
	static char label[] = "\"Vraag\" \\ over\n\taanvraag "
	                      "\xe2\x82\xac \xf0\x9f\x98\x80 caf\xc3\xa9";
	struct sample s;
	cJSON *json;

	sample_init(&s, ZL_GEKOPPELD);
	s.payload.label = label;
	s.ev.subject = "zaak \"12\"";
	json = to_json(&s);
	ck_assert_str_eq(member(cJSON_GetObjectItemCaseSensitive(json, "data"), "label"), label);
	ck_assert_str_eq(member(json, "subject"), "zaak \"12\"");
	cJSON_Delete(json);
}
END_TEST

START_TEST(test_json_is_compact_single_line)
{
	struct sample s;
	char *text;

	sample_init(&s, ZL_GEKOPPELD);
	text = event_to_json(&s.ev);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_null(strchr(text, '\n'));
	ck_assert_ptr_null(strchr(text, '\t'));
	ck_assert_int_eq(text[0], '{');
	free(text);
}
END_TEST

static Suite *event_suite(void)
{
	Suite *s = suite_create("event");
	TCase *link = tcase_create("link");
	TCase *payload = tcase_create("payload");
	TCase *cloudevent = tcase_create("cloudevent");

	tcase_add_test(link, test_link_is_zaak_uuid_with_klantcontact);
	tcase_add_test(link, test_link_requires_objecttype_zaak_case_sensitive);
	tcase_add_test(link, test_link_requires_soort_object_id_uuid_case_sensitive);
	tcase_add_test(link, test_link_requires_klantcontact);
	tcase_add_test(link, test_link_ignores_object_id_and_register);
	tcase_add_test(link, test_uuid_canonical_lower_case_accepted);
	tcase_add_test(link, test_uuid_canonical_upper_case_accepted);
	tcase_add_test(link, test_uuid_non_canonical_rejected);
	suite_add_tcase(s, link);

	tcase_add_test(payload, test_zaak_is_urn_uuid_of_object_id);
	tcase_add_test(payload, test_zaak_keeps_object_id_as_written);
	tcase_add_test(payload, test_linkto_is_base_url_api_path_and_uuid);
	tcase_add_test(payload, test_linkto_has_no_trailing_slash);
	tcase_add_test(payload, test_linkto_strips_trailing_slash);
	tcase_add_test(payload, test_label_without_nummer);
	tcase_add_test(payload, test_label_empty_nummer_same_as_null);
	tcase_add_test(payload, test_label_with_nummer);
	tcase_add_test(payload, test_label_empty_onderwerp_kept);
	tcase_add_test(payload, test_label_exactly_80_kept);
	tcase_add_test(payload, test_label_81_cut_to_80);
	tcase_add_test(payload, test_label_with_nummer_truncated_as_a_whole);
	tcase_add_test(payload, test_label_truncated_to_80_chars_multibyte);
	tcase_add_test(payload, test_label_never_cuts_utf8_sequence);
	tcase_add_test(payload, test_label_zero_means_no_limit);
	tcase_add_test(payload, test_utf8_prefix_counts_characters_not_bytes);
	tcase_add_test(payload, test_payload_built_from_link_row);
	tcase_add_test(payload, test_payload_label_follows_label_max_length);
	tcase_add_test(payload, test_payload_equal_compares_every_field);
	suite_add_tcase(s, payload);

	tcase_add_test(cloudevent, test_type_names);
	tcase_add_test(cloudevent, test_id_lower_case_v4);
	tcase_add_test(cloudevent, test_json_has_exactly_the_cloudevents_attributes);
	tcase_add_test(cloudevent, test_json_gekoppeld_values);
	tcase_add_test(cloudevent, test_json_ontkoppeld_type);
	tcase_add_test(cloudevent, test_json_no_null_attributes);
	tcase_add_test(cloudevent, test_json_time_utc_whole_seconds);
	tcase_add_test(cloudevent, test_json_escapes_and_keeps_utf8);
	tcase_add_test(cloudevent, test_json_is_compact_single_line);
	suite_add_tcase(s, cloudevent);
	return s;
}

ZL_UNIT_MAIN(event_suite)
