/*
 * Store, the outbox: the events recorded and not yet confirmed by the
 * broker, in record order (table outbox), and the figures about them that
 * status and metrics show.
 *
 * A row's seq is its record order and is never handed out twice (SQLite's
 * AUTOINCREMENT), even after every row was delivered and removed; its
 * event_id is fixed when it is recorded, so a retry or republish sends the
 * same id. The publisher takes rows from the head only: when the oldest
 * row waits for a retry, everything after it waits too, so nothing
 * overtakes an event the consumer has not seen yet.
 *
 * A pass's gekoppeld events must follow all of its ontkoppeld (detect.c):
 * they are staged in a temporary table and appended in one statement at
 * sq_outbox_flush_staged(), keeping their own order.
 */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Binds an event to an insert into outbox or staged (same columns). */
static int insert_event(struct zl_store *st, sqlite3_stmt *s, const struct zl_event *ev,
                        int64_t link_id, struct zl_err *err)
{
	char *body = event_to_json(ev);
	int rc;

	if (!body)
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while building the JSON of event %s", ev->id);
	sqlite3_bind_text(s, 1, ev->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, event_type_name(ev->type), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, ev->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, ev->subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, link_id);
	sqlite3_bind_int64(s, 6, ev->time);
	sqlite3_bind_text(s, 7, body, -1, SQLITE_STATIC);
	rc = sdb_step(st, s, "record an event in the outbox", err);
	free(body);
	return rc;
}

int sq_outbox_add(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
                  struct zl_err *err)
{
	return insert_event(st, st->stmt[ST_OUTBOX_ADD], ev, link_id, err);
}

int sq_outbox_stage(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
                    struct zl_err *err)
{
	return insert_event(st, st->stmt[ST_OUTBOX_STAGE], ev, link_id, err);
}

int sq_outbox_flush_staged(struct zl_store *st, struct zl_err *err)
{
	return sdb_exec(st,
	                "INSERT INTO outbox (event_id, type, source, subject, link_id, time, body)"
	                " SELECT event_id, type, source, subject, link_id, time, body"
	                " FROM temp.staged ORDER BY rowid; DELETE FROM temp.staged",
	                "move staged events to the outbox", err);
}

int sq_outbox_due(struct zl_store *st, int64_t now_ms, struct zl_outbox_row *rows, int max,
                  struct zl_err *err)
{
	sqlite3_stmt *s = sdb_prepare(st,
	                              "SELECT seq, event_id, type, source, subject, time, body,"
	                              " attempts, next_attempt_ms FROM outbox ORDER BY seq LIMIT ?",
	                              err);
	int n = 0, rc;

	if (!s)
		return -1;
	sqlite3_bind_int(s, 1, max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct zl_outbox_row *r = &rows[n];

		/* Head-of-line: the oldest row decides, so nothing overtakes it. */
		if (n == 0 && sqlite3_column_int64(s, 8) > now_ms) {
			rc = SQLITE_DONE;
			break;
		}
		memset(r, 0, sizeof(*r));
		r->seq = sqlite3_column_int64(s, 0);
		snprintf(r->event_id, sizeof(r->event_id), "%s",
		         (const char *)sqlite3_column_text(s, 1));
		r->type = sdb_text(s, 2);
		r->source = sdb_text(s, 3);
		r->subject = sdb_text(s, 4);
		r->time = sqlite3_column_int64(s, 5);
		r->body = sdb_text(s, 6);
		r->attempts = sqlite3_column_int(s, 7);
		n++;
		if (!r->type || !r->source || !r->subject || !r->body) {
			store_outbox_rows_clear(rows, n);
			sqlite3_finalize(s);
			return zl_err_set(err, ZL_EX_SOFTWARE,
			                  "out of memory while reading the outbox");
		}
	}
	if (n < max && rc != SQLITE_DONE) {
		store_outbox_rows_clear(rows, n);
		sdb_fail(st, err, "read the outbox");
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return n;
}

int sq_outbox_each(struct zl_store *st, int (*fn)(const struct zl_outbox_full *r, void *arg),
                   void *arg, struct zl_err *err)
{
	sqlite3_stmt *s = sdb_prepare(st,
	                              "SELECT seq, event_id, type, source, subject, time, body,"
	                              " attempts, link_id, last_error, next_attempt_ms"
	                              " FROM outbox ORDER BY seq",
	                              err);
	int rc, ret = 0;

	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct zl_outbox_full r = {
		    .row =
		        {
		            .seq = sqlite3_column_int64(s, 0),
		            .type = (char *)sqlite3_column_text(s, 2),
		            .source = (char *)sqlite3_column_text(s, 3),
		            .subject = (char *)sqlite3_column_text(s, 4),
		            .time = sqlite3_column_int64(s, 5),
		            .body = (char *)sqlite3_column_text(s, 6),
		            .attempts = sqlite3_column_int(s, 7),
		        },
		    .link_id = sqlite3_column_int64(s, 8),
		    .last_error = (const char *)sqlite3_column_text(s, 9),
		    .next_attempt_ms = sqlite3_column_int64(s, 10),
		};

		snprintf(r.row.event_id, sizeof(r.row.event_id), "%s",
		         (const char *)sqlite3_column_text(s, 1));
		if ((ret = fn(&r, arg)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sdb_fail(st, err, "read the outbox");
	sqlite3_finalize(s);
	return ret;
}

int sq_outbox_put(struct zl_store *st, const struct zl_outbox_full *r, struct zl_err *err)
{
	sqlite3_stmt *s =
	    sdb_prepare(st,
	                "INSERT INTO outbox (event_id, type, source, subject, link_id,"
	                " time, body, attempts, last_error, next_attempt_ms, seq)"
	                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                err);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, r->row.event_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, r->row.type, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, r->row.source, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, r->row.subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, r->link_id);
	sqlite3_bind_int64(s, 6, r->row.time);
	sqlite3_bind_text(s, 7, r->row.body, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 8, r->row.attempts);
	if (r->last_error)
		sqlite3_bind_text(s, 9, r->last_error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 10, r->next_attempt_ms);
	sqlite3_bind_int64(s, 11, r->row.seq);
	return sdb_step_once(st, s, "record an event in the outbox", err);
}

/* AUTOINCREMENT keeps the highest seq ever used in sqlite_sequence. */
int sq_outbox_high_water(struct zl_store *st, int64_t *seq, struct zl_err *err)
{
	int64_t v =
	    sdb_int(st,
	            "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'),"
	            " 0)",
	            "read the outbox's highest seq", err);

	if (v < 0)
		return -1;
	*seq = v;
	return 0;
}

int sq_outbox_raise_high_water(struct zl_store *st, int64_t seq, struct zl_err *err)
{
	const char *sql[] = {"UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbox'",
	                     "INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)"};
	int64_t now;

	if (sq_outbox_high_water(st, &now, err) < 0)
		return -1;
	if (seq <= now)
		return 0;
	/* The row exists once a row was ever added; else it is made here. */
	for (int i = 0; i < 2; i++) {
		sqlite3_stmt *s = sdb_prepare(st, sql[i], err);

		if (!s)
			return -1;
		sqlite3_bind_int64(s, 1, seq);
		if (sdb_step_once(st, s, "raise the outbox's highest seq", err) < 0)
			return -1;
		if (sqlite3_changes(st->db) > 0)
			return 0;
	}
	return 0;
}

int sq_outbox_delivered(struct zl_store *st, int64_t upto, struct zl_err *err)
{
	sqlite3_stmt *s;
	int changes;

	if (sq_begin(st, err) < 0)
		return -1;
	if (!(s = sdb_prepare(st, "DELETE FROM outbox WHERE seq <= ?", err)))
		goto fail;
	sqlite3_bind_int64(s, 1, upto);
	if (sdb_step_once(st, s, "remove delivered events from the outbox", err) < 0)
		goto fail;
	changes = sqlite3_changes(st->db);
	if (!(s = sdb_prepare(st,
	                      "INSERT INTO meta (key, value) VALUES ('published_total', ?)"
	                      " ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + ?",
	                      err)))
		goto fail;
	sqlite3_bind_int(s, 1, changes);
	sqlite3_bind_int(s, 2, changes);
	if (sdb_step_once(st, s, "count delivered events", err) < 0)
		goto fail;
	return sq_commit(st, err);
fail:
	sq_rollback(st);
	return -1;
}

int sq_outbox_failed(struct zl_store *st, int64_t from, int64_t to, const char *error,
                     int64_t next_ms, struct zl_err *err)
{
	sqlite3_stmt *s = sdb_prepare(st,
	                              "UPDATE outbox SET attempts = attempts + (seq <= ?2),"
	                              " last_error = ?3, next_attempt_ms = ?4 WHERE seq >= ?1",
	                              err);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, from);
	sqlite3_bind_int64(s, 2, to);
	sqlite3_bind_text(s, 3, error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, next_ms);
	return sdb_step_once(st, s, "record a failed delivery", err);
}

int sq_outbox_retry_now(struct zl_store *st, struct zl_err *err)
{
	return sdb_exec(st, "UPDATE outbox SET next_attempt_ms = 0 WHERE next_attempt_ms > 0",
	                "reschedule pending events", err);
}

/* ---- counts ---- */

int sq_counts(struct zl_store *st, struct zl_store_counts *c, struct zl_err *err)
{
	sqlite3_stmt *s;
	int rc;

	memset(c, 0, sizeof(*c));
	if ((c->links = sdb_int(st, "SELECT count(*) FROM link WHERE status = 0", "count links",
	                        err)) < 0 ||
	    (c->skipped = sdb_int(st, "SELECT count(*) FROM link WHERE status = 1",
	                          "count skipped links", err)) < 0 ||
	    sq_outbox_summary(st, &c->pending, &c->oldest_pending, err) < 0 ||
	    (c->failed = sdb_int(st, "SELECT count(*) FROM outbox WHERE attempts > 0",
	                         "count failed events", err)) < 0 ||
	    (c->published_total = sdb_int(
	         st, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'published_total'",
	         "read the count of published events", err)) < 0)
		return -1;
	if (!(s = sdb_prepare(st,
	                      "SELECT last_error FROM outbox WHERE last_error IS NOT NULL"
	                      " ORDER BY seq LIMIT 1",
	                      err)))
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		snprintf(c->last_error, sizeof(c->last_error), "%s",
		         (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sdb_fail(st, err, "read the last error");
}

int sq_outbox_summary(struct zl_store *st, int64_t *pending, int64_t *oldest, struct zl_err *err)
{
	/* Rows are recorded in seq order, so the first is the oldest: a lookup
	 * on the primary key, where min(time) read every row (after every
	 * batch, while the daemon serves metrics). */
	if ((*pending = sdb_int(st, "SELECT count(*) FROM outbox", "count pending events", err)) <
	        0 ||
	    (*oldest = sdb_int(st, "SELECT time FROM outbox ORDER BY seq LIMIT 1",
	                       "read the oldest pending event", err)) < 0)
		return -1;
	return 0;
}

/* ---- backfill ---- */

int64_t sq_backfill(struct zl_store *st, const char *source, int64_t now_s, struct zl_err *err)
{
	/* Rows leave the outbox when confirmed, so a gekoppeld still in it is
	 * pending and announces the link anyway. The events are staged and
	 * enter the outbox after the loop: it must not insert into the outbox
	 * while it reads it. */
	sqlite3_stmt *s = sdb_prepare(st,
	                              "SELECT id, object_id, zaak, link_to, label FROM link l"
	                              " WHERE status = 0 AND NOT EXISTS (SELECT 1 FROM outbox o"
	                              "  WHERE o.link_id = l.id AND o.type = ?)"
	                              " ORDER BY id",
	                              err);
	int64_t n = 0;
	int rc;

	if (!s)
		return -1;
	if (sdb_exec(st, "DELETE FROM temp.staged", "clear the staging table", err) < 0) {
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_bind_text(s, 1, ZL_TYPE_GEKOPPELD, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct zl_payload p = {
		    .zaak = (char *)sqlite3_column_text(s, 2),
		    .link_to = (char *)sqlite3_column_text(s, 3),
		    .label = (char *)sqlite3_column_text(s, 4),
		};
		struct zl_event ev = {
		    .type = ZL_GEKOPPELD,
		    .time = now_s,
		    .source = source,
		    .subject = (const char *)sqlite3_column_text(s, 1),
		    .payload = &p,
		};

		event_new_id(ev.id);
		if (sq_outbox_stage(st, &ev, sqlite3_column_int64(s, 0), err) < 0) {
			sqlite3_finalize(s);
			return -1;
		}
		n++;
	}
	if (rc != SQLITE_DONE)
		n = sdb_fail(st, err, "read links for the backfill");
	sqlite3_finalize(s);
	if (n >= 0 && sq_outbox_flush_staged(st, err) < 0)
		return -1;
	return n;
}
