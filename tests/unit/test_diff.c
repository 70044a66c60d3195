/* Unit tests of diff.c: every row of the transition table of docs/EVENTS.md section 4. */
#include "diff.h"
#include "fixtures.h"
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OTHER_ZAAK_ID "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"
#define BASE_URL "https://openklant.example.nl"
#define OLD_BASE_URL "https://old.example.nl/openklant"
#define LINK_TO BASE_URL "/klantinteracties/api/v1/onderwerpobjecten/" UUID_O
#define OLD_LINK_TO OLD_BASE_URL "/klantinteracties/api/v1/onderwerpobjecten/" UUID_O
#define LABEL "Vraag over aanvraag - (0000012)"

/* The rules of a default configuration. */
static struct zl_diff_rules default_rules(void)
{
	struct zl_diff_rules rules = {
	    .payload = {.base_url = BASE_URL, .label_max_length = 80},
	    .relink_on_label_change = true,
	    .invalid_zaak_id = ZL_INVALID_SKIP,
	};
	return rules;
}

/* strdup that fails the test instead of returning NULL. */
static char *copy_of(const char *s)
{
	char *copy = strdup(s);

	ck_assert_ptr_nonnull(copy);
	return copy;
}

/*
 * What the store would hold for row after publishing it with the given linkTo
 * and label. Built by hand, not by diff_link(), so the tests do not trust
 * what they test.
 */
static struct zl_link stored(const struct zl_row *row, const char *link_to, const char *label)
{
	struct zl_link link = {
	    .id = row->id,
	    .status = ZL_LINK_PUBLISHED,
	    .uuid = copy_of(row->uuid),
	    .klantcontact_id = row->klantcontact_id,
	    .objecttype = copy_of(row->objecttype),
	    .soort_object_id = copy_of(row->soort_object_id),
	    .object_id = copy_of(row->object_id),
	    .code_register = copy_of(row->code_register),
	    .payload = {.zaak = event_zaak_urn(row->object_id),
	                .link_to = copy_of(link_to),
	                .label = copy_of(label)},
	};
	return link;
}

/* What the store would hold for row after skipping it: nothing published, empty payload. */
static struct zl_link stored_skipped(const struct zl_row *row)
{
	struct zl_link link = stored(row, "", "");

	link.status = ZL_LINK_SKIPPED;
	free(link.payload.zaak);
	link.payload.zaak = copy_of("");
	return link;
}

/* Runs diff_link(), which must succeed. */
static void run(const struct zl_diff_rules *rules, const struct zl_link *prev,
                const struct zl_row *now, struct zl_diff *out)
{
	memset(out, 0, sizeof(*out));
	ck_assert_int_eq(diff_link(rules, prev, now, out), 0);
}

/* Asserts that event i of d is of type carrying exactly payload p for subject. */
static void assert_event(const struct zl_diff *d, int i, enum zl_event_type type,
                         const struct zl_payload *p, const char *subject)
{
	const struct zl_diff_event *e = &d->events[i];

	ck_assert_msg(e->type == type, "event %d: expected %s, got %s", i, event_type_name(type),
	              event_type_name(e->type));
	ck_assert_ptr_nonnull(e->payload);
	ck_assert_str_eq(e->payload->zaak, p->zaak);
	ck_assert_str_eq(e->payload->link_to, p->link_to);
	ck_assert_str_eq(e->payload->label, p->label);
	ck_assert_str_eq(e->subject, subject);
}

/* Asserts that event i is the ontkoppeld of prev: its stored payload, not a recomputed one. */
static void assert_ontkoppeld_of(const struct zl_diff *d, int i, const struct zl_link *prev)
{
	assert_event(d, i, ZL_ONTKOPPELD, &prev->payload, prev->object_id);
	ck_assert_ptr_eq(d->events[i].payload, &prev->payload);
}

/* Asserts that event i is a gekoppeld carrying the new state's payload. */
static void assert_gekoppeld_new(const struct zl_diff *d, int i, const char *zaak,
                                 const char *label, const char *subject)
{
	struct zl_payload p = {.zaak = (char *)zaak, .link_to = LINK_TO, .label = (char *)label};

	assert_event(d, i, ZL_GEKOPPELD, &p, subject);
	ck_assert_int_eq(d->action, ZL_STATE_PUT);
	ck_assert_ptr_eq(d->events[i].payload, &d->link.payload);
	ck_assert_int_eq(d->link.status, ZL_LINK_PUBLISHED);
}

/* Asserts no event and that what is stored afterwards still carries prev's payload. */
static void assert_nothing_and_payload_kept(const struct zl_diff *d, const struct zl_link *prev)
{
	ck_assert_int_eq(d->n_events, 0);
	ck_assert_int_ne(d->action, ZL_STATE_DELETE);
	if (d->action == ZL_STATE_PUT) {
		ck_assert(event_payload_equal(&d->link.payload, &prev->payload));
		ck_assert_int_eq(d->link.status, prev->status);
	}
}

/* previous: absent; now: link -> gekoppeld(now). */
START_TEST(test_absent_to_link_gekoppeld)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_diff d;

	run(&rules, NULL, &now, &d);
	ck_assert_int_eq(d.n_events, 1);
	assert_gekoppeld_new(&d, 0, "urn:uuid:" ZAAK_ID, LABEL, ZAAK_ID);
	ck_assert(!d.invalid_seen);
	diff_clear(&d);
}
END_TEST

/* The new state records the row as it is now. */
START_TEST(test_absent_to_link_records_the_row)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_diff d;

	run(&rules, NULL, &now, &d);
	ck_assert_int_eq(d.action, ZL_STATE_PUT);
	ck_assert_int_eq(d.link.id, 7);
	ck_assert_int_eq(d.link.status, ZL_LINK_PUBLISHED);
	ck_assert_str_eq(d.link.uuid, UUID_O);
	ck_assert_int_eq(d.link.klantcontact_id, 3);
	ck_assert_str_eq(d.link.objecttype, "zaak");
	ck_assert_str_eq(d.link.soort_object_id, "uuid");
	ck_assert_str_eq(d.link.object_id, ZAAK_ID);
	ck_assert_str_eq(d.link.code_register, "openzaak");
	ck_assert_str_eq(d.link.payload.zaak, "urn:uuid:" ZAAK_ID);
	ck_assert_str_eq(d.link.payload.link_to, LINK_TO);
	ck_assert_str_eq(d.link.payload.label, LABEL);
	diff_clear(&d);
}
END_TEST

/* previous: not a link (klantcontact NULL, so never stored); now: link -> gekoppeld(now). */
START_TEST(test_not_a_link_to_link_gekoppeld)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_diff d;

	now.nummer = NULL;
	run(&rules, NULL, &now, &d);
	ck_assert_int_eq(d.n_events, 1);
	assert_gekoppeld_new(&d, 0, "urn:uuid:" ZAAK_ID, "Vraag over aanvraag", ZAAK_ID);
	diff_clear(&d);
}
END_TEST

/* A row that is not a link, with nothing stored, produces nothing and stores nothing. */
START_TEST(test_absent_to_not_a_link_nothing)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_diff d;

	now.has_klantcontact = false;
	now.klantcontact_id = 0;
	now.onderwerp = NULL;
	now.nummer = NULL;
	run(&rules, NULL, &now, &d);
	ck_assert_int_eq(d.n_events, 0);
	ck_assert_int_ne(d.action, ZL_STATE_PUT);
	diff_clear(&d);
	run(&rules, NULL, NULL, &d);
	ck_assert_int_eq(d.n_events, 0);
	ck_assert_int_ne(d.action, ZL_STATE_PUT);
	diff_clear(&d);
}
END_TEST

/*
 * previous: link; now: absent (deleted, also by cascade) -> ontkoppeld with
 * the payload that was published, even though base_url and the label rules
 * have changed since: Open Zaak deletes by (zaak, linkTo).
 */
START_TEST(test_link_to_absent_ontkoppeld_with_stored_payload)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row row = link_row();
	struct zl_link prev = stored(&row, OLD_LINK_TO, "Oud label");
	struct zl_diff d;

	rules.payload.label_max_length = 3;
	run(&rules, &prev, NULL, &d);
	ck_assert_int_eq(d.n_events, 1);
	assert_ontkoppeld_of(&d, 0, &prev);
	ck_assert_str_eq(d.events[0].payload->link_to, OLD_LINK_TO);
	ck_assert_int_eq(d.action, ZL_STATE_DELETE);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/* previous: link; now: klantcontact set to NULL -> ontkoppeld(previous). */
START_TEST(test_link_to_not_a_link_klantcontact_null_ontkoppeld)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev = stored(&now, LINK_TO, LABEL);
	struct zl_diff d;

	now.has_klantcontact = false;
	now.klantcontact_id = 0;
	now.onderwerp = NULL;
	now.nummer = NULL;
	run(&rules, &prev, &now, &d);
	ck_assert_int_eq(d.n_events, 1);
	assert_ontkoppeld_of(&d, 0, &prev);
	ck_assert_int_eq(d.action, ZL_STATE_DELETE);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/* previous: link; now: objecttype no longer 'zaak' (case-sensitive) -> ontkoppeld(previous). */
START_TEST(test_link_to_not_a_link_objecttype_changed_ontkoppeld)
{
	static const char *const others[] = {"Zaak", "besluit", ""};
	struct zl_diff_rules rules = default_rules();

	for (size_t i = 0; i < ZL_ARRAY_LEN(others); i++) {
		struct zl_row now = link_row();
		struct zl_link prev = stored(&now, LINK_TO, LABEL);
		struct zl_diff d;

		now.objecttype = others[i];
		run(&rules, &prev, &now, &d);
		ck_assert_int_eq(d.n_events, 1);
		assert_ontkoppeld_of(&d, 0, &prev);
		ck_assert_int_eq(d.action, ZL_STATE_DELETE);
		diff_clear(&d);
		diff_link_clear(&prev);
	}
}
END_TEST

/* previous: link; now: soort_object_id no longer 'uuid' -> ontkoppeld(previous). */
START_TEST(test_link_to_not_a_link_soort_object_id_changed_ontkoppeld)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev = stored(&now, LINK_TO, LABEL);
	struct zl_diff d;

	now.soort_object_id = "UUID";
	run(&rules, &prev, &now, &d);
	ck_assert_int_eq(d.n_events, 1);
	assert_ontkoppeld_of(&d, 0, &prev);
	ck_assert_int_eq(d.action, ZL_STATE_DELETE);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/* previous: link; now: link with another object_id -> ontkoppeld(previous), gekoppeld(now). */
START_TEST(test_identificator_object_id_changed_ontkoppeld_then_gekoppeld)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev = stored(&now, LINK_TO, LABEL);
	struct zl_diff d;

	now.object_id = OTHER_ZAAK_ID;
	run(&rules, &prev, &now, &d);
	ck_assert_int_eq(d.n_events, 2);
	assert_ontkoppeld_of(&d, 0, &prev);
	assert_gekoppeld_new(&d, 1, "urn:uuid:" OTHER_ZAAK_ID, LABEL, OTHER_ZAAK_ID);
	ck_assert_str_eq(d.link.object_id, OTHER_ZAAK_ID);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/* The register counts as an identificator column too, though it is not in the payload. */
START_TEST(test_identificator_register_changed_ontkoppeld_then_gekoppeld)
{
	static const char *const registers[] = {"andere-zaken", "", "OPENZAAK"};
	struct zl_diff_rules rules = default_rules();

	for (size_t i = 0; i < ZL_ARRAY_LEN(registers); i++) {
		struct zl_row now = link_row();
		struct zl_link prev = stored(&now, LINK_TO, LABEL);
		struct zl_diff d;

		now.code_register = registers[i];
		run(&rules, &prev, &now, &d);
		ck_assert_int_eq(d.n_events, 2);
		assert_ontkoppeld_of(&d, 0, &prev);
		assert_gekoppeld_new(&d, 1, "urn:uuid:" ZAAK_ID, LABEL, ZAAK_ID);
		ck_assert_str_eq(d.link.code_register, registers[i]);
		diff_clear(&d);
		diff_link_clear(&prev);
	}
}
END_TEST

/* An identificator change relinks even when label changes do not. */
START_TEST(test_identificator_changed_relinks_with_relink_on_label_change_false)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev = stored(&now, LINK_TO, LABEL);
	struct zl_diff d;

	rules.relink_on_label_change = false;
	now.object_id = OTHER_ZAAK_ID;
	run(&rules, &prev, &now, &d);
	ck_assert_int_eq(d.n_events, 2);
	assert_ontkoppeld_of(&d, 0, &prev);
	assert_gekoppeld_new(&d, 1, "urn:uuid:" OTHER_ZAAK_ID, LABEL, OTHER_ZAAK_ID);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/* A label change: onderwerp, nummer, or another klantcontact with another label. */
struct label_change {
	const char *what;
	int64_t klantcontact_id;
	const char *onderwerp;
	const char *nummer;
	const char *label;
};

static const struct label_change label_changes[] = {
    {"onderwerp", 3, "Klacht", "0000012", "Klacht - (0000012)"},
    {"nummer", 3, "Vraag over aanvraag", "0000013", "Vraag over aanvraag - (0000013)"},
    {"nummer to NULL", 3, "Vraag over aanvraag", NULL, "Vraag over aanvraag"},
    {"another klantcontact", 4, "Terugbelverzoek", NULL, "Terugbelverzoek"},
};

/* relink_on_label_change = true: ontkoppeld(previous), gekoppeld(now). */
START_TEST(test_label_changed_relink_true_ontkoppeld_then_gekoppeld)
{
	const struct label_change *c = &label_changes[_i];
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev = stored(&now, LINK_TO, LABEL);
	struct zl_diff d;

	now.klantcontact_id = c->klantcontact_id;
	now.onderwerp = c->onderwerp;
	now.nummer = c->nummer;
	run(&rules, &prev, &now, &d);
	ck_assert_msg(d.n_events == 2, "%s: %d events", c->what, d.n_events);
	assert_ontkoppeld_of(&d, 0, &prev);
	assert_gekoppeld_new(&d, 1, "urn:uuid:" ZAAK_ID, c->label, ZAAK_ID);
	ck_assert_int_eq(d.link.klantcontact_id, c->klantcontact_id);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/* relink_on_label_change = false: nothing, and the published payload stays the stored one. */
START_TEST(test_label_changed_relink_false_nothing_and_stored_payload_kept)
{
	const struct label_change *c = &label_changes[_i];
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev = stored(&now, LINK_TO, LABEL);
	struct zl_diff d;

	rules.relink_on_label_change = false;
	now.klantcontact_id = c->klantcontact_id;
	now.onderwerp = c->onderwerp;
	now.nummer = c->nummer;
	run(&rules, &prev, &now, &d);
	assert_nothing_and_payload_kept(&d, &prev);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/* Another klantcontact with the same label changes nothing that is published. */
START_TEST(test_klantcontact_switched_same_label_nothing)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev = stored(&now, LINK_TO, LABEL);
	struct zl_diff d;

	now.klantcontact_id = 99;
	run(&rules, &prev, &now, &d);
	assert_nothing_and_payload_kept(&d, &prev);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/* previous: link; now: the same link -> nothing, the stored state is kept. */
START_TEST(test_nothing_changed_keep)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev = stored(&now, LINK_TO, LABEL);
	struct zl_diff d;

	run(&rules, &prev, &now, &d);
	ck_assert_int_eq(d.n_events, 0);
	ck_assert_int_eq(d.action, ZL_STATE_KEEP);
	ck_assert(!d.invalid_seen);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/*
 * A changed base_url is none of the changes of the table: no event, and the
 * linkTo that was published stays stored for the ontkoppeld to come.
 */
START_TEST(test_base_url_changed_only_nothing_and_stored_payload_kept)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev = stored(&now, OLD_LINK_TO, LABEL);
	struct zl_diff d;

	run(&rules, &prev, &now, &d);
	assert_nothing_and_payload_kept(&d, &prev);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/* invalid_zaak_id = skip: no event, stored as SKIPPED (empty payload), counted once. */
START_TEST(test_invalid_zaak_id_skip_no_event)
{
	static const char *const invalid[] = {"zaak-123", "{" ZAAK_ID "}", "urn:uuid:" ZAAK_ID, ""};
	struct zl_diff_rules rules = default_rules();

	for (size_t i = 0; i < ZL_ARRAY_LEN(invalid); i++) {
		struct zl_row now = link_row();
		struct zl_diff d;

		now.object_id = invalid[i];
		run(&rules, NULL, &now, &d);
		ck_assert_msg(d.n_events == 0, "'%s': %d events", invalid[i], d.n_events);
		ck_assert_int_eq(d.action, ZL_STATE_PUT);
		ck_assert_int_eq(d.link.status, ZL_LINK_SKIPPED);
		ck_assert_str_eq(d.link.object_id, invalid[i]);
		ck_assert_str_eq(d.link.uuid, UUID_O);
		ck_assert_str_eq(d.link.payload.zaak, "");
		ck_assert_str_eq(d.link.payload.link_to, "");
		ck_assert_str_eq(d.link.payload.label, "");
		ck_assert(d.invalid_seen);
		diff_clear(&d);
	}
}
END_TEST

/* A skipped row seen again unchanged is neither published nor counted again. */
START_TEST(test_invalid_zaak_id_skipped_again_not_counted_again)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev;
	struct zl_diff d;

	now.object_id = "zaak-123";
	prev = stored_skipped(&now);
	run(&rules, &prev, &now, &d);
	ck_assert_int_eq(d.n_events, 0);
	ck_assert(!d.invalid_seen);
	ck_assert_int_ne(d.action, ZL_STATE_DELETE);
	if (d.action == ZL_STATE_PUT)
		ck_assert_int_eq(d.link.status, ZL_LINK_SKIPPED);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/* Skipped, then corrected to a canonical UUID -> gekoppeld(now) only: nothing was published. */
START_TEST(test_invalid_zaak_id_skipped_then_corrected_gekoppeld)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev;
	struct zl_diff d;

	now.object_id = "zaak-123";
	prev = stored_skipped(&now);
	now.object_id = ZAAK_ID;
	run(&rules, &prev, &now, &d);
	ck_assert_int_eq(d.n_events, 1);
	assert_gekoppeld_new(&d, 0, "urn:uuid:" ZAAK_ID, LABEL, ZAAK_ID);
	ck_assert(!d.invalid_seen);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/* Skipped, then deleted or no longer a link -> no event; the skipped state is forgotten. */
START_TEST(test_invalid_zaak_id_skipped_then_deleted_no_event)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev;
	struct zl_diff d;

	now.object_id = "zaak-123";
	prev = stored_skipped(&now);
	run(&rules, &prev, NULL, &d);
	ck_assert_int_eq(d.n_events, 0);
	ck_assert_int_eq(d.action, ZL_STATE_DELETE);
	diff_clear(&d);

	now.has_klantcontact = false;
	now.klantcontact_id = 0;
	now.onderwerp = NULL;
	now.nummer = NULL;
	run(&rules, &prev, &now, &d);
	ck_assert_int_eq(d.n_events, 0);
	ck_assert_int_eq(d.action, ZL_STATE_DELETE);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/* A published link whose zaak id becomes invalid: ontkoppeld(previous), then skipped. */
START_TEST(test_valid_zaak_id_becomes_invalid_ontkoppeld_then_skipped)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev = stored(&now, LINK_TO, LABEL);
	struct zl_diff d;

	now.object_id = "zaak-123";
	run(&rules, &prev, &now, &d);
	ck_assert_int_eq(d.n_events, 1);
	assert_ontkoppeld_of(&d, 0, &prev);
	ck_assert_int_eq(d.action, ZL_STATE_PUT);
	ck_assert_int_eq(d.link.status, ZL_LINK_SKIPPED);
	ck_assert(d.invalid_seen);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/* invalid_zaak_id = emit: published as Open Klant would, with the raw value. */
START_TEST(test_invalid_zaak_id_emit_gekoppeld_raw_value)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_diff d;

	rules.invalid_zaak_id = ZL_INVALID_EMIT;
	now.object_id = "zaak 123";
	run(&rules, NULL, &now, &d);
	ck_assert_int_eq(d.n_events, 1);
	assert_gekoppeld_new(&d, 0, "urn:uuid:zaak 123", LABEL, "zaak 123");
	ck_assert(!d.invalid_seen);
	diff_clear(&d);
}
END_TEST

/*
 * A row skipped under "skip" has had nothing published. Once the operator
 * switches to "emit", it must be published like any other link; staying
 * SKIPPED would hide it until its row happens to change.
 */
START_TEST(test_invalid_zaak_id_skipped_then_emit_configured_gekoppeld)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev;
	struct zl_diff d;

	now.object_id = "zaak-123";
	prev = stored_skipped(&now);
	rules.invalid_zaak_id = ZL_INVALID_EMIT;
	run(&rules, &prev, &now, &d);
	ck_assert_int_eq(d.n_events, 1);
	assert_gekoppeld_new(&d, 0, "urn:uuid:zaak-123", LABEL, "zaak-123");
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/*
 * A link published under "emit" with an invalid id, whose label changes
 * after the rules went back to "skip": ontkoppeld of what was published,
 * and no new gekoppeld for an id the rules now refuse.
 */
START_TEST(test_invalid_zaak_id_emitted_then_skip_configured_label_change_ontkoppeld_only)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_link prev;
	struct zl_diff d;

	now.object_id = "zaak-123";
	prev = stored(&now, LINK_TO, LABEL);
	now.onderwerp = "Ander onderwerp";
	run(&rules, &prev, &now, &d);
	ck_assert_int_eq(d.n_events, 1);
	assert_ontkoppeld_of(&d, 0, &prev);
	ck_assert_int_eq(d.action, ZL_STATE_PUT);
	ck_assert_int_eq(d.link.status, ZL_LINK_SKIPPED);
	ck_assert(d.invalid_seen);
	diff_clear(&d);
	diff_link_clear(&prev);
}
END_TEST

/* A canonical UUID in upper case is valid: published as written. */
START_TEST(test_upper_case_zaak_id_is_valid)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_diff d;

	now.object_id = "0B9E6C5A-4F3D-4E2B-9A1C-7D8E9F0A1B2C";
	run(&rules, NULL, &now, &d);
	ck_assert_int_eq(d.n_events, 1);
	assert_gekoppeld_new(&d, 0, "urn:uuid:0B9E6C5A-4F3D-4E2B-9A1C-7D8E9F0A1B2C", LABEL,
	                     "0B9E6C5A-4F3D-4E2B-9A1C-7D8E9F0A1B2C");
	ck_assert(!d.invalid_seen);
	diff_clear(&d);
}
END_TEST

/* The label of a new link follows events.label_max_length. */
START_TEST(test_new_link_label_truncated)
{
	struct zl_diff_rules rules = default_rules();
	struct zl_row now = link_row();
	struct zl_diff d;

	rules.payload.label_max_length = 5;
	run(&rules, NULL, &now, &d);
	ck_assert_int_eq(d.n_events, 1);
	assert_gekoppeld_new(&d, 0, "urn:uuid:" ZAAK_ID, "Vraag", ZAAK_ID);
	diff_clear(&d);
}
END_TEST

/* The ids of a range, at the ends of int64 and around 0. */
static const struct {
	int64_t range, size, first, last;
} range_cases[] = {
    {0, 1000, -999, 999},
    {1, 1000, 1000, 1999},
    {-1, 1000, -1999, -1000},
    {0, 16, -15, 15},
    /* INT64_MAX % 1024 = 1023: the last range ends exactly at INT64_MAX. */
    {INT64_MAX / 1024, 1024, INT64_MAX - 1023, INT64_MAX},
    /* INT64_MAX % 1000 = 807: range * 1000 + 999 would be past INT64_MAX. */
    {INT64_MAX / 1000, 1000, INT64_MAX - 807, INT64_MAX},
    {INT64_MAX / 1000 - 1, 1000, INT64_MAX - 1807, INT64_MAX - 808},
    /* INT64_MIN = -1024 * 2^53: range * 1024 - 1023 would be before INT64_MIN. */
    {INT64_MIN / 1024, 1024, INT64_MIN, INT64_MIN},
    {INT64_MIN / 1000, 1000, INT64_MIN, INT64_MIN + 808},
    {INT64_MIN / 1000 + 1, 1000, INT64_MIN + 809, INT64_MIN + 1808},
    {INT64_MAX / 1048576, 1048576, INT64_MAX - 1048575, INT64_MAX},
    {INT64_MIN / 1048576, 1048576, INT64_MIN, INT64_MIN},
    /* No range of a real id, yet no overflow either. */
    {INT64_MAX, 16, INT64_MAX, INT64_MAX},
    {INT64_MIN, 16, INT64_MIN, INT64_MIN},
};

START_TEST(test_range_ids)
{
	int64_t first = 0, last = 0;

	diff_range_ids(range_cases[_i].range, range_cases[_i].size, &first, &last);
	ck_assert_msg(first == range_cases[_i].first && last == range_cases[_i].last,
	              "range %lld of size %lld: %lld..%lld, expected %lld..%lld",
	              (long long)range_cases[_i].range, (long long)range_cases[_i].size,
	              (long long)first, (long long)last, (long long)range_cases[_i].first,
	              (long long)range_cases[_i].last);
}
END_TEST

/*
 * Every id lies in the range id / size (C and PostgreSQL truncate alike),
 * and the neighbouring ranges end right beside it: ids near the ends of
 * int64 and within one range size of them included.
 */
START_TEST(test_range_ids_cover_every_id)
{
	static const int64_t sizes[] = {16, 1000, 1024, 1048576};
	int64_t size = sizes[_i];
	const int64_t ids[] = {INT64_MAX,
	                       INT64_MAX - 1,
	                       INT64_MAX - size + 1,
	                       INT64_MAX - size,
	                       INT64_MAX - 2 * size,
	                       INT64_MIN,
	                       INT64_MIN + 1,
	                       INT64_MIN + size - 1,
	                       INT64_MIN + size,
	                       INT64_MIN + 2 * size,
	                       -size,
	                       -size + 1,
	                       -1,
	                       0,
	                       1,
	                       size - 1,
	                       size};

	for (size_t k = 0; k < ZL_ARRAY_LEN(ids); k++) {
		int64_t b = ids[k] / size, first, last;
		int64_t prev_first, prev_last, next_first, next_last;

		diff_range_ids(b, size, &first, &last);
		ck_assert_msg(first <= ids[k] && ids[k] <= last, "id %lld not in %lld..%lld",
		              (long long)ids[k], (long long)first, (long long)last);
		diff_range_ids(b - 1, size, &prev_first, &prev_last);
		diff_range_ids(b + 1, size, &next_first, &next_last);
		if (first > INT64_MIN)
			ck_assert_int_eq(prev_last, first - 1);
		if (last < INT64_MAX)
			ck_assert_int_eq(next_first, last + 1);
	}
}
END_TEST

static Suite *diff_suite(void)
{
	Suite *s = suite_create("diff");
	TCase *appear = tcase_create("appear");
	TCase *disappear = tcase_create("disappear");
	TCase *change = tcase_create("change");
	TCase *invalid = tcase_create("invalid_zaak_id");
	TCase *ranges = tcase_create("ranges");

	tcase_add_test(appear, test_absent_to_link_gekoppeld);
	tcase_add_test(appear, test_absent_to_link_records_the_row);
	tcase_add_test(appear, test_not_a_link_to_link_gekoppeld);
	tcase_add_test(appear, test_absent_to_not_a_link_nothing);
	tcase_add_test(appear, test_new_link_label_truncated);
	suite_add_tcase(s, appear);

	tcase_add_test(disappear, test_link_to_absent_ontkoppeld_with_stored_payload);
	tcase_add_test(disappear, test_link_to_not_a_link_klantcontact_null_ontkoppeld);
	tcase_add_test(disappear, test_link_to_not_a_link_objecttype_changed_ontkoppeld);
	tcase_add_test(disappear, test_link_to_not_a_link_soort_object_id_changed_ontkoppeld);
	suite_add_tcase(s, disappear);

	tcase_add_test(change, test_identificator_object_id_changed_ontkoppeld_then_gekoppeld);
	tcase_add_test(change, test_identificator_register_changed_ontkoppeld_then_gekoppeld);
	tcase_add_test(change,
	               test_identificator_changed_relinks_with_relink_on_label_change_false);
	tcase_add_loop_test(change, test_label_changed_relink_true_ontkoppeld_then_gekoppeld, 0,
	                    (int)ZL_ARRAY_LEN(label_changes));
	tcase_add_loop_test(change, test_label_changed_relink_false_nothing_and_stored_payload_kept,
	                    0, (int)ZL_ARRAY_LEN(label_changes));
	tcase_add_test(change, test_klantcontact_switched_same_label_nothing);
	tcase_add_test(change, test_nothing_changed_keep);
	tcase_add_test(change, test_base_url_changed_only_nothing_and_stored_payload_kept);
	suite_add_tcase(s, change);

	tcase_add_test(invalid, test_invalid_zaak_id_skip_no_event);
	tcase_add_test(invalid, test_invalid_zaak_id_skipped_again_not_counted_again);
	tcase_add_test(invalid, test_invalid_zaak_id_skipped_then_corrected_gekoppeld);
	tcase_add_test(invalid, test_invalid_zaak_id_skipped_then_deleted_no_event);
	tcase_add_test(invalid, test_valid_zaak_id_becomes_invalid_ontkoppeld_then_skipped);
	tcase_add_test(invalid, test_invalid_zaak_id_emit_gekoppeld_raw_value);
	tcase_add_test(invalid, test_invalid_zaak_id_skipped_then_emit_configured_gekoppeld);
	tcase_add_test(
	    invalid,
	    test_invalid_zaak_id_emitted_then_skip_configured_label_change_ontkoppeld_only);
	tcase_add_test(invalid, test_upper_case_zaak_id_is_valid);
	suite_add_tcase(s, invalid);

	tcase_add_loop_test(ranges, test_range_ids, 0, (int)ZL_ARRAY_LEN(range_cases));
	tcase_add_loop_test(ranges, test_range_ids_cover_every_id, 0, 4);
	suite_add_tcase(s, ranges);
	return s;
}

ZL_UNIT_MAIN(diff_suite)
