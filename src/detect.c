/* Detect: one detection pass, from Open Klant's rows to recorded events. */
#include "detect.h"
#include "diff.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * How a pass works
 *
 * Open Klant's tables carry no modification time, so a pass reconciles:
 * PostgreSQL computes a fingerprint per range of onderwerpobject ids and
 * per range of klantcontact ids (see source.c for what they cover),
 * compares them with the ones stored after the previous pass, and reports
 * the ranges that differ. The pass reads and diffs only the onderwerpobject
 * ranges that differ, and the link rows that point into a klantcontact
 * range that differs. An idle pass therefore receives two summary rows.
 * Between two passes that compare every range (source.recheck_interval),
 * a pass has PostgreSQL hash only the ranges holding rows written since
 * the previous pass's snapshot (compare_written()).
 * The latter rows are scattered over the onderwerpobject ids: their stored
 * links are looked up a batch of rows at a time (store_links_ids()).
 *
 * Ranges that differ are read in runs of consecutive ranges through one
 * cursor per run and diffed range by range against the stored links of
 * that range, so memory stays bounded by the range size whatever the size
 * of the table. Everything a pass writes (links, fingerprints, outbox rows,
 * checkpoint) is one state transaction, and the fingerprints written are
 * the ones read in the same snapshot as the rows: a crash at any moment
 * leaves the state of the previous pass, whose differences are simply
 * found again.
 *
 * Except in chunks (chunk_commit()): once a pass is past the last range
 * that has a stored fingerprint, every range after it held no stored link
 * and can only add links. From there it commits each source.chunk_size
 * rows read with the fingerprints of their ranges and their events, and
 * lets the caller publish them. A crash then leaves those chunks, whose
 * fingerprints match: the next pass goes on after them. Gekoppeld events
 * staged before a chunk's commit enter the outbox with it; no later
 * ontkoppeld can concern the same link, since no later range held one.
 */

/* A growable array of fingerprints; one entry per range, not per row.
 * err is where fp_push() says why it stopped. */
struct fp_list {
	struct zl_range_fp *v;
	size_t n, cap;
	struct zl_err *err;
};

/* What a pass carries from range to range. */
struct pass {
	const struct zl_conf *conf;
	struct zl_source *src;
	struct zl_store *st;
	struct zl_diff_rules rules;
	bool announce; /* record events (false: baseline) */
	int64_t now_s;
	struct zl_pass_stats *stats;
	const struct zl_pass_hooks *hooks; /* NULL: run to the end */
	bool stopped;                      /* gave up on hooks->stop */
	bool by_written;                   /* compare by rows written since since_xmin */
	int64_t since_xmin;                /* the previous pass's snapshot xmin */
	int compared_all;                  /* kinds whose every range was compared */
	bool contacts_written;             /* klantcontacten compared by written rows */
	bool stage;                        /* gekoppeld after ontkoppeld: the state had links */
	int64_t chunk_after;               /* commit chunks after this range (chunk_commit()) */
	int64_t chunk_rows;                /* stats->rows_read at the last chunk's commit */
};

/*
 * Called before each range: feeds the watchdog and tells whether to give
 * up. Giving up fails the step like an error would (the pass's
 * transactions are rolled back), with stopped set instead of an error.
 */
static bool must_stop(struct pass *p)
{
	if (!p->hooks)
		return false;
	if (p->hooks->alive)
		p->hooks->alive(p->hooks->arg);
	if (p->hooks->stop && *p->hooks->stop)
		p->stopped = true;
	return p->stopped;
}

static int fp_push(const struct zl_range_fp *r, void *arg)
{
	struct fp_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct zl_range_fp *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return zl_err_set(l->err, ZL_EX_SOFTWARE,
			                  "out of memory while listing more than %zu range "
			                  "fingerprints",
			                  l->n);
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *r;
	return 0;
}

/*
 * First and last id of a range (diff_range_ids()). Identity columns never
 * hand out ids <= 0, but a raw INSERT may, and a bigint id may be anything
 * up to INT64_MAX: the bounds are inclusive so that the last range ends
 * there.
 */
static int64_t range_first(int64_t b, int64_t size)
{
	int64_t first, last;

	diff_range_ids(b, size, &first, &last);
	return first;
}

static int64_t range_last(int64_t b, int64_t size)
{
	int64_t first, last;

	diff_range_ids(b, size, &first, &last);
	return last;
}

/*
 * Records the events of one diff, unless the pass only takes a baseline.
 *
 * Ranges are diffed in id order, but consumers need every ontkoppeld
 * before a gekoppeld with the same (zaak, linkTo): Open Zaak deletes by
 * that pair. When a row's id changes (raw SQL), its new id may come first.
 * So a pass that found links in the state (after the initial sync, or
 * resuming one) stages its gekoppeld events and appends them after all its
 * ontkoppeld; the order of one link's own ontkoppeld and gekoppeld is kept
 * that way too.
 */
static int record_events(struct pass *p, const struct zl_diff *d, int64_t link_id,
                         struct zl_err *err)
{
	for (int i = 0; i < d->n_events && p->announce; i++) {
		struct zl_event ev = {
		    .type = d->events[i].type,
		    .time = p->now_s,
		    .source = p->conf->events.source,
		    .subject = d->events[i].subject,
		    .payload = d->events[i].payload,
		};

		event_new_id(ev.id);
		if (ev.type == ZL_GEKOPPELD && p->stage
		        ? store_outbox_stage(p->st, &ev, link_id, err) < 0
		        : store_outbox_add(p->st, &ev, link_id, err) < 0)
			return -1;
		p->stats->events++;
		p->stats->events_by_type[ev.type]++;
	}
	return 0;
}

/* Diffs one onderwerpobject and writes the outcome. */
static int apply(struct pass *p, const struct zl_link *prev, const struct zl_row *row,
                 struct zl_err *err)
{
	struct zl_diff d;
	/* cppcheck-suppress nullPointer ; callers pass a link, a row or both, never neither */
	int64_t id = prev ? prev->id : row->id;
	int rc = 0;

	if (diff_link(&p->rules, prev, row, &d) < 0) {
		diff_clear(&d);
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while diffing onderwerpobject %lld",
		                  (long long)id);
	}
	if (d.invalid_seen) {
		char q[512];

		p->stats->invalid++;
		zl_warn("link.invalid_zaak_id",
		        "onderwerpobject=%s object_id=\"%s\" action=skipped", row->uuid,
		        zl_log_quote(row->object_id, q, sizeof(q)));
	}
	rc = record_events(p, &d, id, err);
	if (rc == 0 && d.action == ZL_STATE_PUT)
		rc = store_link_put(p->st, &d.link, err);
	else if (rc == 0 && d.action == ZL_STATE_DELETE)
		rc = store_link_delete(p->st, id, err);
	diff_clear(&d);
	return rc;
}

/* Stored links of one range, copied so the table can be written while
 * they are compared (SQLite must not modify a table under a live read). */
struct range_links {
	struct zl_link *v;
	size_t n, cap;
};

static void range_links_clear(struct range_links *b)
{
	for (size_t i = 0; i < b->n; i++)
		diff_link_clear(&b->v[i]);
	b->n = 0;
}

/* Deep copy of a link (the iterator owns its own). */
static int link_copy(const struct zl_link *src, struct zl_link *dst)
{
	*dst = *src;
	dst->uuid = strdup(src->uuid);
	dst->objecttype = strdup(src->objecttype);
	dst->soort_object_id = strdup(src->soort_object_id);
	dst->object_id = strdup(src->object_id);
	dst->code_register = strdup(src->code_register);
	dst->payload.zaak = strdup(src->payload.zaak);
	dst->payload.link_to = strdup(src->payload.link_to);
	dst->payload.label = strdup(src->payload.label);
	if (!dst->uuid || !dst->objecttype || !dst->soort_object_id || !dst->object_id ||
	    !dst->code_register || !dst->payload.zaak || !dst->payload.link_to ||
	    !dst->payload.label) {
		diff_link_clear(dst);
		return -1;
	}
	return 0;
}

/* Copies the stored links of an iterator into b, which it empties first;
 * first..last names them in the error. Frees the iterator. */
static int take_links(struct zl_link_iter *it, struct range_links *b, int64_t first, int64_t last,
                      struct zl_err *err)
{
	const struct zl_link *l;
	int rc;

	range_links_clear(b);
	while ((rc = store_links_next(it, &l, err)) == 1) {
		if (b->n == b->cap) {
			size_t cap = b->cap ? b->cap * 2 : 64;
			struct zl_link *v = realloc(b->v, cap * sizeof(*v));

			if (!v) {
				rc = zl_err_set(
				    err, ZL_EX_SOFTWARE,
				    "out of memory while listing the stored links of ids "
				    "%lld..%lld",
				    (long long)first, (long long)last);
				break;
			}
			b->v = v;
			b->cap = cap;
		}
		if (link_copy(l, &b->v[b->n]) < 0) {
			rc = zl_err_set(err, ZL_EX_SOFTWARE,
			                "out of memory while copying stored link %lld",
			                (long long)l->id);
			break;
		}
		b->n++;
	}
	store_links_free(it);
	return rc < 0 ? -1 : 0;
}

static int load_range(struct pass *p, int64_t first, int64_t last, struct range_links *b,
                      struct zl_err *err)
{
	struct zl_link_iter *it = store_links_range(p->st, first, last, err);

	return it ? take_links(it, b, first, last, err) : -1;
}

/*
 * Commits the pass so far as a chunk, and lets the caller publish it, when
 * range (just diffed) is past every range with a stored fingerprint and
 * source.chunk_size rows were read since the previous chunk. A chunk's
 * transaction holds its ranges' links, fingerprints and events whole.
 */
static int chunk_commit(struct pass *p, int64_t range, struct zl_err *err)
{
	if (range < p->chunk_after ||
	    p->stats->rows_read - p->chunk_rows < p->conf->source.chunk_size)
		return 0;
	if (store_outbox_flush_staged(p->st, err) < 0 || store_commit(p->st, err) < 0)
		return -1;
	p->chunk_rows = p->stats->rows_read;
	p->stats->chunks++;
	zl_debug("pass.chunk", "chunk=%lld range=%lld rows_read=%lld events=%lld",
	         (long long)p->stats->chunks, (long long)range, (long long)p->stats->rows_read,
	         (long long)p->stats->events);
	if (p->hooks && p->hooks->committed)
		p->hooks->committed(p->hooks->arg);
	return store_begin(p->st, err);
}

/*
 * Runs of at most this many ranges have the ids of their unchanged rows
 * sent as lists (source_rows()): scattered changes then cost a few bytes
 * per unchanged row, and a long run, which PostgreSQL streams faster row by
 * row (at 1M, 10 000 scattered changes: 5.3 s against 7.4 s), a row each.
 */
#define LIST_RUN_MAX 64

/*
 * Diffs the n consecutive ranges of c through one cursor, and stores the
 * fingerprint of each as it is now (or forgets it when the range is
 * empty). The cursor's current row (row, while more is 1) carries over
 * from one range to the next: a row past the end of the range being diffed
 * waits for its own.
 */
static int diff_run(struct pass *p, const struct zl_range_fp *c, size_t n, struct zl_err *err)
{
	int64_t size = p->conf->source.range_size;
	int64_t first = c[0].range, last = c[n - 1].range;
	struct zl_row_cursor *cur =
	    source_rows(p->src, range_first(first, size), range_last(last, size),
	                p->by_written ? &p->since_xmin : NULL, n <= LIST_RUN_MAX, err);
	struct range_links links = {0};
	const struct zl_row *row = NULL;
	int rc = 0, more;

	if (!cur)
		return -1;
	more = source_rows_next(cur, &row, err);
	for (int64_t b = first; b <= last && more >= 0 && rc == 0; b++) {
		int64_t end = range_last(b, size);
		size_t i = 0;

		if (must_stop(p)) {
			rc = -1;
			break;
		}
		zl_debug("pass.range", "range=%lld first=%lld last=%lld", (long long)b,
		         (long long)range_first(b, size), (long long)end);
		if ((rc = c[b - first].rows > 0
		              ? store_range_put(p->st, &c[b - first], err)
		              : store_range_delete(p->st, ZL_FP_LINKS, b, err)) < 0 ||
		    (rc = load_range(p, range_first(b, size), end, &links, err)) < 0)
			break;
		while (rc == 0 && more >= 0 && (i < links.n || (more == 1 && row->id <= end))) {
			bool take_row = more == 1 && row->id <= end &&
			                (i == links.n || row->id <= links.v[i].id);
			bool take_link = i < links.n && (!take_row || links.v[i].id == row->id);

			/* An unchanged row leaves its stored link as it is. */
			if (take_row && !row->unchanged)
				p->stats->rows_read++;
			if (!take_row || !row->unchanged)
				rc = apply(p, take_link ? &links.v[i] : NULL, take_row ? row : NULL,
				           err);
			if (take_link)
				i++;
			if (take_row)
				more = source_rows_next(cur, &row, err);
		}
		if (rc == 0) {
			p->stats->ranges_diffed++;
			rc = chunk_commit(p, b, err);
		}
	}
	if (more < 0)
		rc = -1;
	range_links_clear(&links);
	free(links.v);
	source_rows_free(cur);
	return rc;
}

/* A range's entry in a sorted list, or NULL. */
static const struct zl_range_fp *find_range(const struct fp_list *l, int64_t range)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid].range == range)
			return &l->v[mid];
		if (l->v[mid].range < range)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Link rows diff_contacts() has read and not yet diffed, copied out of the
 * cursor's batch (each row's strings in one block of mem), so that their
 * stored links are looked up together: one store query per batch, not one
 * per row.
 */
#define CONTACT_BATCH 1000

struct row_batch {
	struct zl_row v[CONTACT_BATCH];
	char *mem[CONTACT_BATCH];
	int64_t ids[CONTACT_BATCH];
	size_t n;
};

/* Appends a copy of row; its strings, NULL ones too, keep their values. */
static int batch_add(struct row_batch *b, const struct zl_row *row, struct zl_err *err)
{
	const char *const src[] = {row->uuid,      row->objecttype,    row->soort_object_id,
	                           row->object_id, row->code_register, row->onderwerp,
	                           row->nummer};
	const char **dst[] = {
	    &b->v[b->n].uuid,      &b->v[b->n].objecttype,    &b->v[b->n].soort_object_id,
	    &b->v[b->n].object_id, &b->v[b->n].code_register, &b->v[b->n].onderwerp,
	    &b->v[b->n].nummer};
	size_t len = 0;
	char *m;

	for (size_t i = 0; i < ZL_ARRAY_LEN(src); i++)
		len += src[i] ? strlen(src[i]) + 1 : 0;
	if (!(m = malloc(len ? len : 1)))
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while keeping onderwerpobject %lld",
		                  (long long)row->id);
	b->v[b->n] = *row;
	b->mem[b->n] = m;
	b->ids[b->n] = row->id;
	for (size_t i = 0; i < ZL_ARRAY_LEN(src); i++) {
		*dst[i] = src[i] ? m : NULL;
		if (src[i]) {
			size_t n = strlen(src[i]) + 1;

			memcpy(m, src[i], n);
			m += n;
		}
	}
	b->n++;
	return 0;
}

static void batch_clear(struct row_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->mem[i]);
	b->n = 0;
}

/* Diffs the rows of a batch (in id order) against their stored links, read
 * in one query, and empties it. Applying a row writes only its own link, so
 * the links read before are those each row would have found. */
static int batch_apply(struct pass *p, struct row_batch *b, struct range_links *links,
                       struct zl_err *err)
{
	struct zl_link_iter *it;
	size_t j = 0;
	int rc = 0;

	if (b->n == 0)
		return 0;
	it = store_links_ids(p->st, b->ids, b->n, err);
	if (!it || take_links(it, links, b->ids[0], b->ids[b->n - 1], err) < 0)
		rc = -1;
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		bool stored = j < links->n && links->v[j].id == b->v[i].id;

		rc = apply(p, stored ? &links->v[j] : NULL, &b->v[i], err);
		if (stored)
			j++;
	}
	batch_clear(b);
	return rc;
}

/*
 * Diffs the link rows that point into a changed klantcontact range. Such a
 * row's own range may be unchanged: its onderwerp or nummer may not. The
 * rows are found through the klantcontact_id index and diffed one by one
 * against their stored link (looked up a batch at a time), except those in
 * a range of changed, which diff_ranges() reads and diffs whole. When the
 * klantcontacten were compared by written rows, only the link rows of the
 * written klantcontacten of those ranges are read: no other changed.
 */
static int diff_contacts(struct pass *p, const struct fp_list *contacts,
                         const struct fp_list *changed, struct zl_err *err)
{
	int64_t size = p->conf->source.range_size;
	int64_t *lo = malloc(contacts->n * sizeof(*lo)), *hi = malloc(contacts->n * sizeof(*hi));
	struct row_batch *batch = calloc(1, sizeof(*batch));
	struct range_links links = {0};
	struct zl_row_cursor *cur = NULL;
	const struct zl_row *row;
	size_t n = 0;
	int64_t range = 0;
	bool seen = false; /* a row was read: range is its range */
	int rc = 0, more = 0;

	if (!lo || !hi || !batch) {
		rc = zl_err_set(err, ZL_EX_SOFTWARE,
		                "out of memory while listing %zu changed klantcontact ranges",
		                contacts->n);
		goto out;
	}
	for (size_t i = 0; i < contacts->n; i++) {
		int64_t b = contacts->v[i].range;

		if (n > 0 && b == contacts->v[i - 1].range + 1) {
			hi[n - 1] = range_last(b, size);
		} else {
			lo[n] = range_first(b, size);
			hi[n] = range_last(b, size);
			n++;
		}
	}
	if (!(cur = source_contact_rows(p->src, lo, hi, n,
	                                p->contacts_written ? &p->since_xmin : NULL, err))) {
		rc = -1;
		goto out;
	}
	while (rc == 0 && (more = source_rows_next(cur, &row, err)) == 1) {
		/* The rows come in id order: the range changes at most once per row. */
		if ((!seen || row->id / size != range) && must_stop(p)) {
			rc = -1;
			break;
		}
		range = row->id / size;
		seen = true;
		if (find_range(changed, range))
			continue;
		p->stats->rows_read++;
		if ((rc = batch_add(batch, row, err)) == 0 && batch->n == CONTACT_BATCH)
			rc = batch_apply(p, batch, &links, err);
	}
	if (more < 0)
		rc = -1;
	if (rc == 0)
		rc = batch_apply(p, batch, &links, err);
out:
	if (batch) {
		batch_clear(batch);
		free(batch);
	}
	range_links_clear(&links);
	free(links.v);
	source_rows_free(cur);
	free(lo);
	free(hi);
	return rc;
}

/* Reads and diffs every range whose fingerprint PostgreSQL reported as
 * changed, in runs of consecutive ranges (diff_run()). */
static int diff_ranges(struct pass *p, const struct fp_list *changed, struct zl_err *err)
{
	size_t start = 0;

	p->stats->ranges_read = (int64_t)changed->n;
	for (size_t i = 1; i <= changed->n; i++) {
		if (i < changed->n && changed->v[i].range == changed->v[i - 1].range + 1)
			continue;
		if (diff_run(p, &changed->v[start], i - start, err) < 0)
			return -1;
		start = i;
	}
	return 0;
}

/* Stores the klantcontact fingerprints PostgreSQL reported as changed. */
static int store_contacts(struct pass *p, const struct fp_list *contacts, struct zl_err *err)
{
	for (size_t i = 0; i < contacts->n; i++) {
		const struct zl_range_fp *c = &contacts->v[i];

		if (c->rows > 0 ? store_range_put(p->st, c, err)
		                : store_range_delete(p->st, ZL_FP_KLANTCONTACTS, c->range, err))
			return -1;
	}
	return 0;
}

/* What compare_written() learns from the ranges holding written rows. */
struct written {
	const struct fp_list *old;
	struct fp_list *changed;
	int64_t stored, now;    /* their rows: as stored, and now */
	int64_t added, emptied; /* of them, ranges not stored, and ranges now empty */
};

static int written_range(const struct zl_range_fp *now, void *arg)
{
	struct written *w = arg;
	const struct zl_range_fp *was = find_range(w->old, now->range);
	int64_t rows = was ? was->rows : 0;

	w->stored += rows;
	w->now += now->rows;
	w->added += !was && now->rows > 0;
	w->emptied += was && now->rows == 0;
	/* cppcheck-suppress nullPointer ; rows > 0 only with was */
	if (now->rows == rows && (rows == 0 || now->fp == was->fp))
		return 0;
	return fp_push(now, w->changed);
}

/*
 * Compares one kind by the rows written since the previous pass's snapshot
 * (source.c "Written since a snapshot"): PostgreSQL counts the rows and
 * hashes only the ranges that hold a written row. Any other range holds a
 * subset of the rows it held then, which its stored fingerprint describes;
 * when the rows counted in all are as many as the stored counts allow, no
 * such range lost one, and none changed. Returns 1, with changed emptied,
 * when that does not hold or a stored fingerprint matches nothing (the
 * caller then compares every range).
 */
static int compare_written(struct pass *p, enum zl_fp_kind kind, const struct fp_list *old,
                           struct fp_list *changed, struct zl_fp_totals *totals, struct zl_err *err)
{
	struct written w = {.old = old, .changed = changed};
	int64_t stored = 0, rows, *ranges = NULL;
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < old->n; i++) {
		if (old->v[i].rows < 0)
			return 1;
		stored += old->v[i].rows;
	}
	rc = source_ranges_written(p->src, kind, p->conf->source.range_size, p->since_xmin, &rows,
	                           &ranges, &n, err);
	if (rc == 0 && n > 0)
		rc = source_ranges_hash(p->src, kind, p->conf->source.range_size, ranges, n,
		                        written_range, &w, err);
	free(ranges);
	if (rc != 0)
		return -1;
	if (rows != stored - w.stored + w.now) {
		zl_debug("pass.compare_all", "kind=%s rows=%lld expected=%lld",
		         kind == ZL_FP_LINKS ? "onderwerpobject" : "klantcontact", (long long)rows,
		         (long long)(stored - w.stored + w.now));
		changed->n = 0;
		return 1;
	}
	totals->ranges = (int64_t)old->n + w.added - w.emptied;
	totals->rows = rows;
	return 0;
}

/*
 * Has PostgreSQL compare the stored fingerprints of one kind with the
 * current ones; changed receives those that differ. By written rows when
 * the pass may (p->by_written), else every range. A full pass makes every
 * stored one differ.
 */
static int compare_ranges(struct pass *p, enum zl_fp_kind kind, bool full, struct fp_list *changed,
                          struct zl_fp_totals *totals, struct zl_err *err)
{
	struct fp_list old = {.err = err};
	int rc = store_ranges_each(p->st, kind, fp_push, &old, err);

	/* Ranges past the last stored one held no link (chunk_commit()). */
	if (kind == ZL_FP_LINKS)
		p->chunk_after = old.n > 0 ? old.v[old.n - 1].range : INT64_MIN;
	if (rc == 0 && p->by_written)
		rc = compare_written(p, kind, &old, changed, totals, err);
	else if (rc == 0)
		rc = 1;
	if (kind == ZL_FP_KLANTCONTACTS)
		p->contacts_written = rc == 0;
	if (rc == 1) {
		for (size_t i = 0; full && i < old.n; i++)
			old.v[i].rows = -1;
		rc = source_ranges_changed(p->src, kind, p->conf->source.range_size, old.v, old.n,
		                           fp_push, changed, totals, err);
		p->compared_all += rc == 0;
	}
	free(old.v);
	return rc == 0 ? 0 : -1;
}

/* Meta keys: the previous pass's snapshot ("XMIN TABLES") and when every
 * range of both kinds was last compared (wall clock, ms). */
#define META_SNAPSHOT "source_snapshot"
#define META_CHECKED "fingerprints_checked_ms"

/*
 * Whether this pass may compare by written rows: the previous pass read
 * the same files of the same tables, its snapshot is less than 2^30
 * transactions back, and every range was compared less than
 * source.recheck_interval ago. That comparison is the net for what xmin
 * cannot show: a table restored into a database whose transaction ids had
 * passed the previous snapshot's, a hash collision.
 */
static int may_compare_written(struct pass *p, const struct zl_source_snapshot *now, bool had,
                               bool full, struct zl_err *err)
{
	char buf[160], tables[sizeof(now->tables)];
	long long xmin, checked;
	int found;

	p->by_written = false;
	if (!had || full || p->conf->source.recheck_interval <= 0)
		return 0;
	if ((found = store_meta_get(p->st, META_SNAPSHOT, buf, sizeof(buf), err)) < 0)
		return -1;
	if (!found || sscanf(buf, "%lld %95s", &xmin, tables) != 2 ||
	    strcmp(tables, now->tables) != 0 || xmin > now->xmin ||
	    now->xmax - xmin >= (INT64_C(1) << 30))
		return 0;
	if ((found = store_meta_get(p->st, META_CHECKED, buf, sizeof(buf), err)) < 0)
		return -1;
	if (!found || sscanf(buf, "%lld", &checked) != 1)
		return 0;
	checked = zl_wall_ms() - checked;
	if (checked < 0 || checked >= (int64_t)p->conf->source.recheck_interval * 1000)
		return 0;
	p->by_written = true;
	p->since_xmin = xmin;
	return 0;
}

/* Records this pass's snapshot, and the time when every range was compared. */
static int remember_snapshot(struct pass *p, const struct zl_source_snapshot *now, int64_t started,
                             struct zl_err *err)
{
	char buf[160];

	snprintf(buf, sizeof(buf), "%lld %s", (long long)now->xmin, now->tables);
	if (store_meta_put(p->st, META_SNAPSHOT, buf, err) < 0)
		return -1;
	if (p->compared_all < 2)
		return 0;
	snprintf(buf, sizeof(buf), "%lld", (long long)started);
	return store_meta_put(p->st, META_CHECKED, buf, err);
}

/* Forgets stored fingerprints made with another range size; the ranges of
 * the stored links are still visited, or a deleted link would be missed. */
static int check_range_size(struct pass *p, struct zl_err *err)
{
	char want[32], have[32];
	int found;

	snprintf(want, sizeof(want), "%d", p->conf->source.range_size);
	found = store_meta_get(p->st, "range_size", have, sizeof(have), err);
	if (found < 0)
		return -1;
	if (found && strcmp(have, want) == 0)
		return 0;
	if (found)
		zl_info("pass.range_size_changed", "from=%s to=%s", have, want);
	if (store_ranges_clear(p->st, err) < 0 ||
	    store_ranges_cover_links(p->st, p->conf->source.range_size, err) < 0)
		return -1;
	return store_meta_put(p->st, "range_size", want, err);
}

int detect_pass(const struct zl_conf *conf, struct zl_source *src, struct zl_store *st,
                enum zl_pass_mode mode, const struct zl_pass_hooks *hooks,
                struct zl_pass_stats *stats, struct zl_err *err)
{
	struct fp_list links = {.err = err}, contacts = {.err = err};
	struct zl_fp_totals link_totals = {0}, contact_totals = {0};
	struct zl_checkpoint cp;
	struct zl_source_snapshot snap;
	int64_t t0 = zl_now_ms(), started = zl_wall_ms();
	bool full = mode == ZL_PASS_FULL;
	struct pass p = {
	    .conf = conf,
	    .src = src,
	    .st = st,
	    .rules =
	        {
	            .payload = {conf->source.base_url, conf->events.label_max_length},
	            .relink_on_label_change = conf->events.relink_on_label_change,
	            .invalid_zaak_id = conf->events.invalid_zaak_id,
	        },
	    .stats = stats,
	    .hooks = hooks,
	};
	int rc = -1, had;
	bool fresh;

	memset(stats, 0, sizeof(*stats));
	if (source_begin(src, err) < 0)
		return -1;
	p.now_s = zl_wall_s();
	if (store_begin(st, err) < 0)
		goto out;
	if ((had = store_checkpoint_get(st, &cp, err)) < 0 || check_range_size(&p, err) < 0 ||
	    (full && store_ranges_cover_links(st, conf->source.range_size, err) < 0) ||
	    source_snapshot(src, &snap, err) < 0 ||
	    may_compare_written(&p, &snap, had > 0, full, err) < 0 ||
	    compare_ranges(&p, ZL_FP_LINKS, full, &links, &link_totals, err) < 0)
		goto rollback;
	/*
	 * With no stored link (the first sync) every link is in a range the pass
	 * reads whole, so the klantcontacten need no pass of their own: their
	 * fingerprints, of the same snapshot, are only stored, and are computed
	 * after the links, not before the first chunk can go out. A full pass
	 * reads every range anyway.
	 */
	fresh = p.chunk_after == INT64_MIN;
	if (!fresh &&
	    compare_ranges(&p, ZL_FP_KLANTCONTACTS, full, &contacts, &contact_totals, err) < 0)
		goto rollback;
	stats->initial = had == 0;
	p.stage = !stats->initial || !fresh;
	p.announce = !stats->initial || conf->events.initial_sync == ZL_INITIAL_ANNOUNCE;
	stats->ranges_total = link_totals.ranges;
	stats->links = link_totals.rows;
	if (must_stop(&p) || diff_ranges(&p, &links, err) < 0 ||
	    (fresh &&
	     compare_ranges(&p, ZL_FP_KLANTCONTACTS, full, &contacts, &contact_totals, err) < 0) ||
	    (!full && !fresh && contacts.n > 0 && diff_contacts(&p, &contacts, &links, err) < 0) ||
	    store_contacts(&p, &contacts, err) < 0 || store_outbox_flush_staged(st, err) < 0)
		goto rollback;
	stats->compared_all = p.compared_all;
	stats->duration_ms = zl_now_ms() - t0;
	cp.passes = had ? cp.passes + 1 : 1;
	cp.started_ms = started;
	cp.duration_ms = stats->duration_ms;
	cp.ranges_total = stats->ranges_total;
	cp.ranges_read = stats->ranges_read;
	cp.rows_read = stats->rows_read;
	cp.links = stats->links;
	cp.events = stats->events;
	cp.invalid = stats->invalid;
	if (remember_snapshot(&p, &snap, started, err) < 0 ||
	    store_checkpoint_put(st, &cp, err) < 0 || store_commit(st, err) < 0)
		goto rollback;
	rc = 0;
	goto out;
rollback:
	store_rollback(st);
	if (p.stopped) {
		stats->duration_ms = zl_now_ms() - t0;
		rc = ZL_PASS_INTERRUPTED;
	}
out:
	source_end(src);
	free(links.v);
	free(contacts.v);
	return rc;
}

void detect_log(const struct zl_pass_stats *s, int64_t bytes_received)
{
	zl_log(s->events > 0 || s->ranges_read > 0 ? ZL_LOG_INFO : ZL_LOG_DEBUG, "pass.done",
	       "ranges=%lld ranges_read=%lld rows_read=%lld links=%lld events=%lld invalid=%lld "
	       "duration_ms=%lld bytes_received=%lld initial=%s compared=%s chunks=%lld",
	       (long long)s->ranges_total, (long long)s->ranges_read, (long long)s->rows_read,
	       (long long)s->links, (long long)s->events, (long long)s->invalid,
	       (long long)s->duration_ms, (long long)bytes_received, s->initial ? "true" : "false",
	       s->compared_all == 0   ? "written"
	       : s->compared_all == 1 ? "mixed"
	                              : "all",
	       (long long)s->chunks);
}
