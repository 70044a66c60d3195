/* Events: what a zaak link is, its payload, and its CloudEvent JSON. */
#include "event.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

bool event_row_is_link(const struct zl_row *row)
{
	return row->has_klantcontact && strcmp(row->objecttype, "zaak") == 0 &&
	       strcmp(row->soort_object_id, "uuid") == 0;
}

/* True for 0-9, a-f and A-F. */
static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool event_is_canonical_uuid(const char *s)
{
	static const int dash_at[] = {8, 13, 18, 23};
	size_t d = 0;

	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (d < ZL_ARRAY_LEN(dash_at) && i == dash_at[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!is_hex(s[i])) {
			return false;
		}
	}
	return true;
}

/*
 * Counts characters by their lead bytes: a byte of the form 10xxxxxx
 * continues the previous character, so a cut is made only before a lead
 * byte and never inside a multibyte sequence. PostgreSQL hands out valid
 * UTF-8 (zaaklink sets client_encoding), so no validation is needed here.
 */
size_t event_utf8_prefix(const char *s, int max_chars)
{
	size_t i = 0;
	int chars = 0;

	if (max_chars <= 0)
		return strlen(s);
	for (; s[i]; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80) {
			if (chars == max_chars)
				break;
			chars++;
		}
	}
	return i;
}

char *event_label(const char *onderwerp, const char *nummer, int max_chars)
{
	size_t n;
	char *full;
	size_t cut;

	if (!onderwerp)
		onderwerp = "";
	if (nummer && *nummer) {
		n = strlen(onderwerp) + strlen(nummer) + sizeof(" - ()");
		full = malloc(n);
		if (!full)
			return NULL;
		snprintf(full, n, "%s - (%s)", onderwerp, nummer);
	} else {
		full = strdup(onderwerp);
		if (!full)
			return NULL;
	}
	cut = event_utf8_prefix(full, max_chars);
	full[cut] = '\0';
	return full;
}

char *event_link_to(const char *base_url, const char *uuid)
{
	size_t blen = strlen(base_url);
	size_t n;
	char *s;

	while (blen > 0 && base_url[blen - 1] == '/')
		blen--;
	n = blen + strlen(ZL_LINK_PATH) + strlen(uuid) + 1;
	s = malloc(n);
	if (!s)
		return NULL;
	snprintf(s, n, "%.*s%s%s", (int)blen, base_url, ZL_LINK_PATH, uuid);
	return s;
}

char *event_zaak_urn(const char *object_id)
{
	size_t n = strlen(object_id) + sizeof("urn:uuid:");
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "urn:uuid:%s", object_id);
	return s;
}

int event_payload_build(const struct zl_payload_rules *rules, const struct zl_row *row,
                        struct zl_payload *out)
{
	out->zaak = event_zaak_urn(row->object_id);
	out->link_to = event_link_to(rules->base_url, row->uuid);
	out->label = event_label(row->onderwerp, row->nummer, rules->label_max_length);
	if (!out->zaak || !out->link_to || !out->label) {
		event_payload_clear(out);
		return -1;
	}
	return 0;
}

void event_payload_clear(struct zl_payload *p)
{
	free(p->zaak);
	free(p->link_to);
	free(p->label);
	p->zaak = p->link_to = p->label = NULL;
}

/* strcmp that treats NULL as the empty string. */
static int str_cmp0(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

bool event_payload_equal(const struct zl_payload *a, const struct zl_payload *b)
{
	return str_cmp0(a->zaak, b->zaak) == 0 && str_cmp0(a->link_to, b->link_to) == 0 &&
	       str_cmp0(a->label, b->label) == 0;
}

const char *event_type_name(enum zl_event_type type)
{
	return type == ZL_GEKOPPELD ? ZL_TYPE_GEKOPPELD : ZL_TYPE_ONTKOPPELD;
}

int event_type_parse(const char *name, enum zl_event_type *type)
{
	if (strcmp(name, ZL_TYPE_GEKOPPELD) == 0)
		*type = ZL_GEKOPPELD;
	else if (strcmp(name, ZL_TYPE_ONTKOPPELD) == 0)
		*type = ZL_ONTKOPPELD;
	else
		return -1;
	return 0;
}

void event_new_id(char id[37])
{
	uuid_t u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, id);
}

char *event_to_json(const struct zl_event *ev)
{
	char time_buf[21];
	cJSON *root = cJSON_CreateObject();
	cJSON *data;
	char *out = NULL;

	if (!root)
		return NULL;
	zl_format_utc(ev->time, time_buf);
	/* Attribute order as in docs/EVENTS.md 5; cJSON keeps insertion order. */
	if (!cJSON_AddStringToObject(root, "specversion", "1.0") ||
	    !cJSON_AddStringToObject(root, "type", event_type_name(ev->type)) ||
	    !cJSON_AddStringToObject(root, "source", ev->source) ||
	    !cJSON_AddStringToObject(root, "subject", ev->subject) ||
	    !cJSON_AddStringToObject(root, "id", ev->id) ||
	    !cJSON_AddStringToObject(root, "time", time_buf) ||
	    !cJSON_AddStringToObject(root, "datacontenttype", "application/json"))
		goto done;
	data = cJSON_AddObjectToObject(root, "data");
	if (!data || !cJSON_AddStringToObject(data, "zaak", ev->payload->zaak) ||
	    !cJSON_AddStringToObject(data, "linkTo", ev->payload->link_to) ||
	    !cJSON_AddStringToObject(data, "label", ev->payload->label) ||
	    !cJSON_AddStringToObject(data, "linkObjectType", ZL_LINK_OBJECT_TYPE))
		goto done;
	out = cJSON_PrintUnformatted(root);
done:
	cJSON_Delete(root);
	return out;
}
