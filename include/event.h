/*
 * Events: the pure rules of docs/EVENTS.md sections 2, 3 and 5.
 *
 * What a zaak link is, how its payload (zaak, linkTo, label) is built from an
 * onderwerpobject row and its klantcontact, and how a CloudEvent is written
 * as JSON. No I/O; every function here is covered by unit tests named after
 * the rule it implements.
 */
#ifndef ZL_EVENT_H
#define ZL_EVENT_H

#include "common.h"

#define ZL_TYPE_GEKOPPELD "nl.overheid.zaken.zaak-gekoppeld"
#define ZL_TYPE_ONTKOPPELD "nl.overheid.zaken.zaak-ontkoppeld"
#define ZL_LINK_OBJECT_TYPE "Onderwerpobject"
#define ZL_LINK_PATH "/klantinteracties/api/v1/onderwerpobjecten/"

enum zl_event_type { ZL_GEKOPPELD, ZL_ONTKOPPELD };

/* One onderwerpobject row joined with its klantcontact, as read. */
struct zl_row {
	int64_t id;
	const char *uuid;
	int64_t klantcontact_id; /* 0 when NULL */
	bool has_klantcontact;
	const char *objecttype;      /* onderwerpobjectidentificator_code_objecttype */
	const char *soort_object_id; /* ..._code_soort_object_id */
	const char *object_id;       /* ..._object_id */
	const char *code_register;   /* ..._code_register */
	const char *onderwerp;       /* klantcontact.onderwerp, NULL without one */
	const char *nummer;          /* klantcontact.nummer, NULL when NULL */
	bool unchanged;              /* only id is set: as at the previous pass (source_rows()) */
};

/* The payload of a link: the "data" of both event types. Owns its strings. */
struct zl_payload {
	char *zaak;
	char *link_to;
	char *label;
};

/* What a pass needs to know to build payloads. */
struct zl_payload_rules {
	const char *base_url; /* without trailing '/' */
	int label_max_length; /* 0 = no limit */
};

/* docs/EVENTS.md 2: objecttype 'zaak', soort 'uuid', klantcontact set. */
bool event_row_is_link(const struct zl_row *row);

/* Canonical 8-4-4-4-12 hexadecimal UUID, either case. */
bool event_is_canonical_uuid(const char *s);

/* First max_chars UTF-8 characters of s (all of it when max_chars is 0),
 * never cutting a multibyte sequence; returns the length in bytes. */
size_t event_utf8_prefix(const char *s, int max_chars);

/* docs/EVENTS.md 3. Each returns a malloc'ed string, NULL when out of memory. */
char *event_label(const char *onderwerp, const char *nummer, int max_chars);
char *event_link_to(const char *base_url, const char *uuid);
char *event_zaak_urn(const char *object_id);

/* Builds the payload of a link row; -1 when out of memory. */
int event_payload_build(const struct zl_payload_rules *rules, const struct zl_row *row,
                        struct zl_payload *out);
void event_payload_clear(struct zl_payload *p);
bool event_payload_equal(const struct zl_payload *a, const struct zl_payload *b);

/* A recorded CloudEvent: everything needed to publish it again, unchanged. */
struct zl_event {
	enum zl_event_type type;
	char id[37];         /* UUIDv4, lower case */
	int64_t time;        /* UNIX seconds, when recorded */
	const char *source;  /* events.source */
	const char *subject; /* object_id of the link */
	const struct zl_payload *payload;
};

const char *event_type_name(enum zl_event_type type);
/* Parses a type name; -1 when unknown. */
int event_type_parse(const char *name, enum zl_event_type *type);

/* Fills id with a fresh random UUIDv4 in lower case. */
void event_new_id(char id[37]);

/* docs/EVENTS.md 5: the structured CloudEvent, compact UTF-8 JSON, malloc'ed. */
char *event_to_json(const struct zl_event *ev);

#endif
