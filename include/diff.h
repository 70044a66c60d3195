/*
 * Diff: the transition table of docs/EVENTS.md section 4, as a pure function.
 *
 * Given what zaaklink recorded about one onderwerpobject (or nothing) and
 * what the database holds now (or nothing), diff_link() decides which events
 * to record, in order, and what to record as the new state. It does no I/O,
 * so every row of the table is a unit test.
 */
#ifndef ZL_DIFF_H
#define ZL_DIFF_H

#include "event.h"
#include "conf.h"

/* State of a link as recorded in the store. */
enum zl_link_status {
	ZL_LINK_PUBLISHED, /* a gekoppeld was recorded (or baselined) for it */
	ZL_LINK_SKIPPED,   /* invalid zaak id under invalid_zaak_id = skip */
};

/* What the store keeps per onderwerpobject that is a link. */
struct zl_link {
	int64_t id;
	enum zl_link_status status;
	char *uuid;
	int64_t klantcontact_id;
	char *objecttype;
	char *soort_object_id;
	char *object_id;
	char *code_register;
	struct zl_payload payload; /* as recorded; empty strings when skipped */
};

void diff_link_clear(struct zl_link *link);

struct zl_diff_rules {
	struct zl_payload_rules payload;
	bool relink_on_label_change;
	enum zl_invalid_zaak_id invalid_zaak_id;
};

enum zl_state_action {
	ZL_STATE_KEEP,   /* stored link stays as it is */
	ZL_STATE_PUT,    /* store out->link (insert or replace) */
	ZL_STATE_DELETE, /* forget the stored link */
};

struct zl_diff_event {
	enum zl_event_type type;
	const struct zl_payload *payload; /* points into prev or out->link */
	const char *subject;              /* object_id belonging to payload */
};

struct zl_diff {
	struct zl_diff_event events[2];
	int n_events;
	enum zl_state_action action;
	struct zl_link link; /* the new state when action is PUT; owned */
	bool invalid_seen;   /* a newly seen invalid zaak id was skipped */
};

/*
 * prev: the stored link, or NULL. now: the current row, or NULL when the row
 * is gone; a row that is not a link (docs/EVENTS.md 2) counts as gone. Returns -1
 * only when out of memory. Release out with diff_clear().
 */
int diff_link(const struct zl_diff_rules *rules, const struct zl_link *prev,
              const struct zl_row *now, struct zl_diff *out);
void diff_clear(struct zl_diff *d);

/*
 * The ids of fingerprint range number `range` (range = id / size, which
 * PostgreSQL and SQLite truncate toward zero, so range 0 spans both
 * signs): *first to *last, both included. The bounds saturate at INT64_MIN and INT64_MAX: the
 * range of an id within size of either end reaches past it.
 */
void diff_range_ids(int64_t range, int64_t size, int64_t *first, int64_t *last);

#endif
