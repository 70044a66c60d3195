/* Diff: the transition table of docs/EVENTS.md section 4, without any I/O. */
#include "diff.h"

#include <stdlib.h>
#include <string.h>

void diff_link_clear(struct zl_link *link)
{
	free(link->uuid);
	free(link->objecttype);
	free(link->soort_object_id);
	free(link->object_id);
	free(link->code_register);
	event_payload_clear(&link->payload);
	memset(link, 0, sizeof(*link));
}

void diff_range_ids(int64_t range, int64_t size, int64_t *first, int64_t *last)
{
	int64_t edge;

	if (__builtin_mul_overflow(range, size, &edge))
		edge = range < 0 ? INT64_MIN : INT64_MAX;
	if (range > 0) {
		*first = edge;
		if (__builtin_add_overflow(edge, size - 1, last))
			*last = INT64_MAX;
	} else if (range < 0) {
		*last = edge;
		if (__builtin_sub_overflow(edge, size - 1, first))
			*first = INT64_MIN;
	} else {
		*first = 1 - size;
		*last = size - 1;
	}
}

void diff_clear(struct zl_diff *d)
{
	diff_link_clear(&d->link);
	memset(d, 0, sizeof(*d));
}

/* Copies the identifying columns of a row into a fresh link. */
static int link_from_row(const struct zl_row *row, enum zl_link_status status, struct zl_link *link)
{
	link->id = row->id;
	link->status = status;
	link->klantcontact_id = row->klantcontact_id;
	link->uuid = strdup(row->uuid);
	link->objecttype = strdup(row->objecttype);
	link->soort_object_id = strdup(row->soort_object_id);
	link->object_id = strdup(row->object_id);
	link->code_register = strdup(row->code_register);
	if (!link->uuid || !link->objecttype || !link->soort_object_id || !link->object_id ||
	    !link->code_register)
		return -1;
	return 0;
}

/* A skipped link carries an empty payload: nothing was published for it. */
static int empty_payload(struct zl_payload *p)
{
	p->zaak = strdup("");
	p->link_to = strdup("");
	p->label = strdup("");
	return p->zaak && p->link_to && p->label ? 0 : -1;
}

static int copy_payload(const struct zl_payload *src, struct zl_payload *dst)
{
	dst->zaak = strdup(src->zaak);
	dst->link_to = strdup(src->link_to);
	dst->label = strdup(src->label);
	return dst->zaak && dst->link_to && dst->label ? 0 : -1;
}

static void add_event(struct zl_diff *d, enum zl_event_type type, const struct zl_payload *payload,
                      const char *subject)
{
	d->events[d->n_events].type = type;
	d->events[d->n_events].payload = payload;
	d->events[d->n_events].subject = subject;
	d->n_events++;
}

/* Whether a zaak id may be published under the configured rules. */
static bool publishable(const struct zl_diff_rules *rules, const struct zl_row *row)
{
	return rules->invalid_zaak_id == ZL_INVALID_EMIT || event_is_canonical_uuid(row->object_id);
}

/*
 * The identity of a link: what Open Zaak's ZaakObject is keyed on (zaak and
 * linkTo) plus the remaining identificator columns. A change here always
 * means ontkoppeld of the old link and gekoppeld of the new one.
 */
static bool identity_changed(const struct zl_link *prev, const struct zl_row *now)
{
	return strcmp(prev->uuid, now->uuid) != 0 ||
	       strcmp(prev->objecttype, now->objecttype) != 0 ||
	       strcmp(prev->soort_object_id, now->soort_object_id) != 0 ||
	       strcmp(prev->object_id, now->object_id) != 0 ||
	       strcmp(prev->code_register, now->code_register) != 0;
}

/* Records the row as a new link: gekoppeld, or skipped when invalid. */
static int link_new(const struct zl_diff_rules *rules, const struct zl_row *now,
                    struct zl_diff *out)
{
	bool ok = publishable(rules, now);

	if (link_from_row(now, ok ? ZL_LINK_PUBLISHED : ZL_LINK_SKIPPED, &out->link) < 0)
		return -1;
	out->action = ZL_STATE_PUT;
	if (!ok) {
		out->invalid_seen = true;
		return empty_payload(&out->link.payload);
	}
	if (event_payload_build(&rules->payload, now, &out->link.payload) < 0)
		return -1;
	add_event(out, ZL_GEKOPPELD, &out->link.payload, out->link.object_id);
	return 0;
}

/* Same identity: only the label (or the klantcontact behind it) may differ. */
static int link_same(const struct zl_diff_rules *rules, const struct zl_link *prev,
                     const struct zl_row *now, struct zl_diff *out)
{
	char *label = event_label(now->onderwerp, now->nummer, rules->payload.label_max_length);
	bool label_changed;

	if (!label)
		return -1;
	label_changed =
	    prev->status == ZL_LINK_PUBLISHED && strcmp(label, prev->payload.label) != 0;
	free(label);

	if (label_changed && rules->relink_on_label_change) {
		add_event(out, ZL_ONTKOPPELD, &prev->payload, prev->object_id);
		return link_new(rules, now, out);
	}
	if (prev->klantcontact_id == now->klantcontact_id) {
		out->action = ZL_STATE_KEEP;
		return 0;
	}
	/* Keep what was published: a later ontkoppeld must repeat it exactly. */
	if (link_from_row(now, prev->status, &out->link) < 0 ||
	    copy_payload(&prev->payload, &out->link.payload) < 0)
		return -1;
	out->action = ZL_STATE_PUT;
	return 0;
}

int diff_link(const struct zl_diff_rules *rules, const struct zl_link *prev,
              const struct zl_row *now, struct zl_diff *out)
{
	memset(out, 0, sizeof(*out));
	out->action = ZL_STATE_KEEP;

	if (!now || !event_row_is_link(now)) {
		if (!prev)
			return 0;
		if (prev->status == ZL_LINK_PUBLISHED)
			add_event(out, ZL_ONTKOPPELD, &prev->payload, prev->object_id);
		out->action = ZL_STATE_DELETE;
		return 0;
	}
	if (!prev)
		return link_new(rules, now, out);
	/* A skipped link that may be published now is new to consumers. This
	 * happens when its range is read again: after a change in the range,
	 * or in a full pass after the rules changed to emit. */
	if (prev->status == ZL_LINK_SKIPPED && publishable(rules, now))
		return link_new(rules, now, out);
	if (identity_changed(prev, now)) {
		if (prev->status == ZL_LINK_PUBLISHED)
			add_event(out, ZL_ONTKOPPELD, &prev->payload, prev->object_id);
		return link_new(rules, now, out);
	}
	return link_same(rules, prev, now, out);
}
