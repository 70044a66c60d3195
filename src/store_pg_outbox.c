/*
 * Store in PostgreSQL, the outbox: the events recorded and not yet
 * confirmed by the broker, in record order (table outbox), and the figures
 * status and metrics show, with the meaning store.h and the SQLite backend
 * give them.
 *
 * A row's seq comes from an identity column: never handed out twice, even
 * after the rows are delivered and removed (a rolled-back pass leaves a gap,
 * which orders nothing differently). Events are queued in the pipeline
 * (store_pg.h) like the links. A pass's staged events go to the table
 * outbox_staged in the pipeline too and enter the outbox, in their order,
 * in one statement at spg_outbox_flush_staged(); the table is empty outside
 * a transaction.
 */
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Binds an event to an insert into outbox or outbox_staged (same columns). */
static int queue_event(struct zl_store *st, enum spg_stmt which, const struct zl_event *ev,
                       int64_t link_id, struct zl_err *err)
{
	char *body = event_to_json(ev);
	char b[2][24];
	const char *p[] = {ev->id,      event_type_name(ev->type), ev->source,
	                   ev->subject, spg_i64(b[0], link_id),    spg_i64(b[1], ev->time),
	                   body};
	int rc;

	if (!body)
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while building the JSON of event %s", ev->id);
	rc = spg_queue(st, which, 7, p, "record an event in the outbox", err);
	free(body);
	return rc;
}

int spg_outbox_add(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
                   struct zl_err *err)
{
	return queue_event(st, SPG_OUTBOX_ADD, ev, link_id, err);
}

int spg_outbox_stage(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
                     struct zl_err *err)
{
	return queue_event(st, SPG_OUTBOX_STAGE, ev, link_id, err);
}

int spg_outbox_flush_staged(struct zl_store *st, struct zl_err *err)
{
	return spg_exec(st,
	                "INSERT INTO outbox (event_id, type, source, subject, link_id, time, body)"
	                " SELECT event_id, type, source, subject, link_id, time, body"
	                " FROM outbox_staged ORDER BY ord",
	                0, NULL, "move staged events to the outbox", err) < 0 ||
	               spg_exec(st, "DELETE FROM outbox_staged", 0, NULL,
	                        "move staged events to the outbox", err) < 0
	           ? -1
	           : 0;
}

int spg_outbox_due(struct zl_store *st, int64_t now_ms, struct zl_outbox_row *rows, int max,
                   struct zl_err *err)
{
	char b[24];
	const char *p[] = {spg_i64(b, max)};
	PGresult *res = spg_query(st,
	                          "SELECT seq, event_id, type, source, subject, time, body,"
	                          " attempts, next_attempt_ms FROM outbox ORDER BY seq LIMIT $1",
	                          1, p, "read the outbox", err);
	int n = 0;

	if (!res)
		return -1;
	/* Head-of-line: the oldest row decides, so nothing overtakes it. */
	if (PQntuples(res) > 0 && spg_col_i64(res, 0, 8) > now_ms) {
		PQclear(res);
		return 0;
	}
	for (; n < max && n < PQntuples(res); n++) {
		struct zl_outbox_row *r = &rows[n];

		memset(r, 0, sizeof(*r));
		r->seq = spg_col_i64(res, n, 0);
		snprintf(r->event_id, sizeof(r->event_id), "%s", PQgetvalue(res, n, 1));
		r->type = spg_text(res, n, 2);
		r->source = spg_text(res, n, 3);
		r->subject = spg_text(res, n, 4);
		r->time = spg_col_i64(res, n, 5);
		r->body = spg_text(res, n, 6);
		r->attempts = (int)spg_col_i64(res, n, 7);
		if (!r->type || !r->source || !r->subject || !r->body) {
			store_outbox_rows_clear(rows, n + 1);
			PQclear(res);
			return zl_err_set(err, ZL_EX_SOFTWARE,
			                  "out of memory while reading the outbox");
		}
	}
	PQclear(res);
	return n;
}

int spg_outbox_each(struct zl_store *st, int (*fn)(const struct zl_outbox_full *r, void *arg),
                    void *arg, struct zl_err *err)
{
	PGresult *res = spg_query(st,
	                          "SELECT seq, event_id, type, source, subject, time, body,"
	                          " attempts, link_id, last_error, next_attempt_ms"
	                          " FROM outbox ORDER BY seq",
	                          0, NULL, "read the outbox", err);
	int ret = 0;

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res) && ret == 0; i++) {
		struct zl_outbox_full r = {
		    .row =
		        {
		            .seq = spg_col_i64(res, i, 0),
		            .type = PQgetvalue(res, i, 2),
		            .source = PQgetvalue(res, i, 3),
		            .subject = PQgetvalue(res, i, 4),
		            .time = spg_col_i64(res, i, 5),
		            .body = PQgetvalue(res, i, 6),
		            .attempts = (int)spg_col_i64(res, i, 7),
		        },
		    .link_id = spg_col_i64(res, i, 8),
		    .last_error = PQgetisnull(res, i, 9) ? NULL : PQgetvalue(res, i, 9),
		    .next_attempt_ms = spg_col_i64(res, i, 10),
		};

		snprintf(r.row.event_id, sizeof(r.row.event_id), "%s", PQgetvalue(res, i, 1));
		ret = fn(&r, arg);
	}
	PQclear(res);
	return ret;
}

int spg_outbox_put(struct zl_store *st, const struct zl_outbox_full *r, struct zl_err *err)
{
	char b[5][24];
	const char *p[] = {r->row.event_id,
	                   r->row.type,
	                   r->row.source,
	                   r->row.subject,
	                   spg_i64(b[0], r->link_id),
	                   spg_i64(b[1], r->row.time),
	                   r->row.body,
	                   spg_i64(b[2], r->row.attempts),
	                   r->last_error,
	                   spg_i64(b[3], r->next_attempt_ms),
	                   spg_i64(b[4], r->row.seq)};

	return spg_queue(st, SPG_OUTBOX_PUT, 11, p, "record an event in the outbox", err);
}

/* The identity's sequence knows the highest seq handed out (NULL: none). */
int spg_outbox_high_water(struct zl_store *st, int64_t *seq, struct zl_err *err)
{
	int64_t v = spg_int(st,
	                    "SELECT coalesce(pg_catalog.pg_sequence_last_value("
	                    "pg_catalog.pg_get_serial_sequence('outbox', 'seq')::regclass), 0)",
	                    0, NULL, "read the outbox's highest seq", err);

	if (v < 0)
		return -1;
	*seq = v;
	return 0;
}

int spg_outbox_raise_high_water(struct zl_store *st, int64_t seq, struct zl_err *err)
{
	char b[24];
	const char *p[] = {spg_i64(b, seq)};

	if (seq <= 0)
		return 0;
	return spg_exec(
	    st,
	    "SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence('outbox', 'seq'),"
	    " greatest($1::bigint, coalesce(pg_catalog.pg_sequence_last_value("
	    "pg_catalog.pg_get_serial_sequence('outbox', 'seq')::regclass), 0)))",
	    1, p, "raise the outbox's highest seq", err);
}

int spg_outbox_delivered(struct zl_store *st, int64_t upto, struct zl_err *err)
{
	char b[24];
	const char *p[] = {spg_i64(b, upto)};
	PGresult *res;
	const char *changes;

	if (spg_begin(st, err) < 0)
		return -1;
	if (!(res = spg_query(st, "DELETE FROM outbox WHERE seq <= $1", 1, p,
	                      "remove delivered events from the outbox", err)))
		goto fail;
	changes = PQcmdTuples(res);
	p[0] = *changes ? changes : "0";
	if (spg_exec(st,
	             "INSERT INTO meta (key, value) VALUES ('published_total', $1)"
	             " ON CONFLICT (key) DO UPDATE"
	             " SET value = (meta.value::bigint + $1::bigint)::text",
	             1, p, "count delivered events", err) < 0) {
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	return spg_commit(st, err);
fail:
	spg_rollback(st);
	return -1;
}

int spg_outbox_failed(struct zl_store *st, int64_t from, int64_t to, const char *error,
                      int64_t next_ms, struct zl_err *err)
{
	char b[3][24];
	const char *p[] = {spg_i64(b[0], from), spg_i64(b[1], to), error, spg_i64(b[2], next_ms)};

	return spg_exec(st,
	                "UPDATE outbox SET attempts = attempts + (seq <= $2)::integer,"
	                " last_error = $3, next_attempt_ms = $4 WHERE seq >= $1",
	                4, p, "record a failed delivery", err);
}

int spg_outbox_retry_now(struct zl_store *st, struct zl_err *err)
{
	return spg_exec(st, "UPDATE outbox SET next_attempt_ms = 0 WHERE next_attempt_ms > 0", 0,
	                NULL, "reschedule pending events", err);
}

/* ---- counts ---- */

int spg_counts(struct zl_store *st, struct zl_store_counts *c, struct zl_err *err)
{
	PGresult *res;

	memset(c, 0, sizeof(*c));
	if (!(res = spg_query(st,
	                      "SELECT (SELECT count(*) FROM link WHERE status = 0),"
	                      " (SELECT count(*) FROM link WHERE status = 1),"
	                      " (SELECT count(*) FROM outbox WHERE attempts > 0),"
	                      " (SELECT value::bigint FROM meta WHERE key = 'published_total'),"
	                      " (SELECT last_error FROM outbox WHERE last_error IS NOT NULL"
	                      "  ORDER BY seq LIMIT 1)",
	                      0, NULL, "count links and events", err)))
		return -1;
	c->links = spg_col_i64(res, 0, 0);
	c->skipped = spg_col_i64(res, 0, 1);
	c->failed = spg_col_i64(res, 0, 2);
	c->published_total = spg_col_i64(res, 0, 3);
	snprintf(c->last_error, sizeof(c->last_error), "%s", PQgetvalue(res, 0, 4));
	PQclear(res);
	return spg_outbox_summary(st, &c->pending, &c->oldest_pending, err);
}

int spg_outbox_summary(struct zl_store *st, int64_t *pending, int64_t *oldest, struct zl_err *err)
{
	PGresult *res = spg_query(st,
	                          "SELECT (SELECT count(*) FROM outbox),"
	                          " (SELECT time FROM outbox ORDER BY seq LIMIT 1)",
	                          0, NULL, "count pending events", err);

	if (!res)
		return -1;
	*pending = spg_col_i64(res, 0, 0);
	*oldest = spg_col_i64(res, 0, 1);
	PQclear(res);
	return 0;
}

/* ---- backfill ---- */

/* Stages a gekoppeld for every row of one batch of the backfill cursor. */
static int64_t stage_batch(struct zl_store *st, const PGresult *res, const char *source,
                           int64_t now_s, struct zl_err *err)
{
	int n = PQntuples(res);

	for (int i = 0; i < n; i++) {
		struct zl_payload p = {
		    .zaak = PQgetvalue(res, i, 2),
		    .link_to = PQgetvalue(res, i, 3),
		    .label = PQgetvalue(res, i, 4),
		};
		struct zl_event ev = {
		    .type = ZL_GEKOPPELD,
		    .time = now_s,
		    .source = source,
		    .subject = PQgetvalue(res, i, 1),
		    .payload = &p,
		};

		event_new_id(ev.id);
		if (spg_outbox_stage(st, &ev, spg_col_i64(res, i, 0), err) < 0)
			return -1;
	}
	return n;
}

int64_t spg_backfill(struct zl_store *st, const char *source, int64_t now_s, struct zl_err *err)
{
	/* As in SQLite: a gekoppeld still in the outbox is pending and
	 * announces the link anyway. The links are read through a cursor, a
	 * batch at a time, their events staged and entering the outbox after
	 * the last batch. */
	const char *p[] = {ZL_TYPE_GEKOPPELD};
	int64_t n = 0, got;

	/* The cursor needs a transaction: one of its own when none is open. */
	if (!st->pg->in_tx) {
		if (spg_begin(st, err) < 0)
			return -1;
		n = spg_backfill(st, source, now_s, err);
		if (n < 0 || spg_commit(st, err) < 0) {
			spg_rollback(st);
			return -1;
		}
		return n;
	}
	if (spg_exec(st, "DELETE FROM outbox_staged", 0, NULL, "clear the staging table", err) <
	        0 ||
	    spg_exec(st,
	             "DECLARE zl_backfill NO SCROLL CURSOR FOR"
	             " SELECT id, object_id, zaak, link_to, label FROM link l"
	             " WHERE status = 0 AND NOT EXISTS (SELECT 1 FROM outbox o"
	             "  WHERE o.link_id = l.id AND o.type = $1)"
	             " ORDER BY id",
	             1, p, "read links for the backfill", err) < 0)
		return -1;
	do {
		PGresult *res = spg_query(st, "FETCH 10000 FROM zl_backfill", 0, NULL,
		                          "read links for the backfill", err);

		if (!res)
			return -1;
		got = stage_batch(st, res, source, now_s, err);
		PQclear(res);
		if (got < 0)
			return -1;
		n += got;
	} while (got > 0);
	if (spg_exec(st, "CLOSE zl_backfill", 0, NULL, "read links for the backfill", err) < 0 ||
	    spg_outbox_flush_staged(st, err) < 0)
		return -1;
	return n;
}
