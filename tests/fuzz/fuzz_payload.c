/*
 * Fuzz target: the payload builder and the CloudEvent JSON (docs/EVENTS.md 3, 5).
 *
 * Input: two bytes of label_max_length, eight bytes of event time, then
 * NUL-separated fields: onderwerp, nummer, base_url, uuid, object_id,
 * events.source (a missing nummer stands for NULL). What must hold:
 *  - the label is onderwerp, or onderwerp " - (" nummer ")" when nummer is
 *    set, cut to at most label_max_length characters: a byte prefix of
 *    that text, cut only when longer, never inside a UTF-8 sequence, and
 *    valid UTF-8 whenever the text is;
 *  - zaak is "urn:uuid:" + object_id, linkTo is base_url without its
 *    trailing '/' + the API path + uuid;
 *  - the JSON parses back (cJSON) with exactly the attributes of
 *    docs/EVENTS.md 5, in order, each string equal to what went in, and a time
 *    of the form YYYY-MM-DDTHH:MM:SSZ;
 *  - event_is_canonical_uuid() agrees with libuuid's uuid_parse().
 */
#include "event.h"
#include "fuzz.h"

#include <cJSON.h>
#include <ctype.h>
#include <time.h>
#include <uuid/uuid.h>

enum { F_ONDERWERP, F_NUMMER, F_BASE_URL, F_UUID, F_OBJECT_ID, F_SOURCE, N_FIELDS };

static void check_label(const char *onderwerp, const char *nummer, int max, const char *label)
{
	char *full;
	size_t flen, llen = strlen(label), chars = fuzz_utf8_chars(label);

	if (nummer && *nummer) {
		size_t n = strlen(onderwerp) + strlen(nummer) + 6;

		full = malloc(n);
		FUZZ_CHECK(full, "out of memory");
		snprintf(full, n, "%s - (%s)", onderwerp, nummer);
	} else {
		full = strdup(onderwerp);
		FUZZ_CHECK(full, "out of memory");
	}
	flen = strlen(full);
	FUZZ_CHECK(llen <= flen && memcmp(label, full, llen) == 0, "label is not a prefix");
	if (max == 0) {
		FUZZ_CHECK(llen == flen, "label cut without a limit");
	} else {
		FUZZ_CHECK(chars <= (size_t)max, "label of %zu characters, limit %d", chars, max);
		if (llen < flen) {
			FUZZ_CHECK(chars == (size_t)max, "label cut at %zu characters, limit %d",
			           chars, max);
			FUZZ_CHECK(((unsigned char)full[llen] & 0xC0) != 0x80,
			           "label cut inside a UTF-8 sequence at byte %zu", llen);
		}
	}
	if (fuzz_utf8_valid(full, flen))
		FUZZ_CHECK(fuzz_utf8_valid(label, llen), "valid UTF-8 in, invalid label out");
	free(full);
}

/* The string member name of obj, which must be there. */
static const char *member(const cJSON *obj, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);

	FUZZ_CHECK(cJSON_IsString(m) && m->valuestring, "no string '%s'", name);
	return m->valuestring;
}

/* Fails unless obj's members are exactly names, in that order. */
static void check_members(const cJSON *obj, const char *const *names)
{
	const cJSON *m = obj->child;

	for (; *names; names++, m = m->next)
		FUZZ_CHECK(m && m->string && strcmp(m->string, *names) == 0, "expected '%s'",
		           *names);
	FUZZ_CHECK(!m, "extra member '%s'", m->string);
}

static bool is_utc_time(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";

	if (strlen(t) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? !isdigit((unsigned char)t[i]) : t[i] != shape[i])
			return false;
	}
	return true;
}

static void check_json(const struct zl_event *ev)
{
	static const char *const top[] = {"specversion",     "type", "source",
	                                  "subject",         "id",   "time",
	                                  "datacontenttype", "data", NULL};
	static const char *const data[] = {"zaak", "linkTo", "label", "linkObjectType", NULL};
	char *json = event_to_json(ev);
	cJSON *root, *d;

	FUZZ_CHECK(json, "no JSON");
	root = cJSON_Parse(json);
	FUZZ_CHECK(root && cJSON_IsObject(root), "JSON does not parse: %s", json);
	check_members(root, top);
	FUZZ_CHECK(strcmp(member(root, "specversion"), "1.0") == 0, "specversion");
	FUZZ_CHECK(strcmp(member(root, "type"), event_type_name(ev->type)) == 0, "type");
	FUZZ_CHECK(strcmp(member(root, "source"), ev->source) == 0, "source");
	FUZZ_CHECK(strcmp(member(root, "subject"), ev->subject) == 0, "subject");
	FUZZ_CHECK(strcmp(member(root, "id"), ev->id) == 0, "id");
	FUZZ_CHECK(is_utc_time(member(root, "time")), "time '%s' for %lld", member(root, "time"),
	           (long long)ev->time);
	FUZZ_CHECK(strcmp(member(root, "datacontenttype"), "application/json") == 0,
	           "datacontenttype");
	d = cJSON_GetObjectItemCaseSensitive(root, "data");
	FUZZ_CHECK(cJSON_IsObject(d), "data is not an object");
	check_members(d, data);
	FUZZ_CHECK(strcmp(member(d, "zaak"), ev->payload->zaak) == 0, "zaak");
	FUZZ_CHECK(strcmp(member(d, "linkTo"), ev->payload->link_to) == 0, "linkTo");
	FUZZ_CHECK(strcmp(member(d, "label"), ev->payload->label) == 0, "label");
	FUZZ_CHECK(strcmp(member(d, "linkObjectType"), "Onderwerpobject") == 0, "linkObjectType");
	cJSON_Delete(root);
	free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *f[N_FIELDS];
	struct zl_payload_rules rules;
	struct zl_row row = {0};
	struct zl_payload p = {0};
	struct zl_event ev = {0};
	uuid_t u;
	int64_t t;
	size_t blen;
	char *want;
	int max;

	if (size < 10)
		return 0;
	max = (data[0] | data[1] << 8) % 1024;
	memcpy(&t, data + 2, sizeof(t));
	fuzz_split(data + 10, size - 10, f, N_FIELDS);

	row.onderwerp = f[F_ONDERWERP];
	row.nummer = f[F_NUMMER];
	row.uuid = f[F_UUID] ? f[F_UUID] : "";
	row.object_id = f[F_OBJECT_ID] ? f[F_OBJECT_ID] : "";
	rules.base_url = f[F_BASE_URL] ? f[F_BASE_URL] : "";
	rules.label_max_length = max;

	FUZZ_CHECK(event_payload_build(&rules, &row, &p) == 0, "out of memory");
	check_label(row.onderwerp ? row.onderwerp : "", row.nummer, max, p.label);
	FUZZ_CHECK(strncmp(p.zaak, "urn:uuid:", 9) == 0 && strcmp(p.zaak + 9, row.object_id) == 0,
	           "zaak '%s'", p.zaak);
	blen = strlen(rules.base_url);
	while (blen > 0 && rules.base_url[blen - 1] == '/')
		blen--;
	want = malloc(blen + strlen(ZL_LINK_PATH) + strlen(row.uuid) + 1);
	FUZZ_CHECK(want, "out of memory");
	memcpy(want, rules.base_url, blen);
	strcpy(want + blen, ZL_LINK_PATH);
	strcat(want, row.uuid);
	FUZZ_CHECK(strcmp(p.link_to, want) == 0, "linkTo '%s', expected '%s'", p.link_to, want);
	free(want);

	FUZZ_CHECK(event_is_canonical_uuid(row.object_id) == (uuid_parse(row.object_id, u) == 0),
	           "canonical uuid '%s': %d", row.object_id,
	           event_is_canonical_uuid(row.object_id));

	ev.type = (data[0] & 1) ? ZL_ONTKOPPELD : ZL_GEKOPPELD;
	strcpy(ev.id, "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f");
	ev.time = t;
	ev.source = f[F_SOURCE] ? f[F_SOURCE] : "urn:nld:oin:01823288444:openklant";
	ev.subject = row.object_id;
	ev.payload = &p;
	check_json(&ev);

	event_payload_clear(&p);
	fuzz_free_fields(f, N_FIELDS);
	return 0;
}
