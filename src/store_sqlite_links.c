/*
 * Store, what a detection pass compares and keeps: the links as last
 * recorded (table link), the range fingerprints PostgreSQL computed in the
 * snapshot those links were read in (table range_fp), and the checkpoint,
 * the figures of the last pass (table checkpoint).
 *
 * None of these functions opens a transaction: detect_pass() runs them all
 * inside its own (sq_begin() .. sq_commit()), so that links,
 * fingerprints and checkpoint always describe the same snapshot. The
 * statements run once per row are prepared by sq_open().
 */
#include "store_sqlite.h"

#include <stdlib.h>
#include <string.h>

/* ---- range fingerprints ---- */

/* range_fp.bucket is the range's number (store_sqlite.c, the migrations). */
int sq_ranges_each(struct zl_store *st, enum zl_fp_kind kind,
                   int (*fn)(const struct zl_range_fp *r, void *arg), void *arg, struct zl_err *err)
{
	sqlite3_stmt *stmt = sdb_prepare(st,
	                                 "SELECT bucket, rows, fp FROM range_fp WHERE kind = ?"
	                                 " ORDER BY bucket",
	                                 err);
	int rc, ret = 0;

	if (!stmt)
		return -1;
	sqlite3_bind_int(stmt, 1, (int)kind);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct zl_range_fp r = {
		    .kind = kind,
		    .range = sqlite3_column_int64(stmt, 0),
		    .rows = sqlite3_column_int64(stmt, 1),
		    .fp = sqlite3_column_int64(stmt, 2),
		};

		if ((ret = fn(&r, arg)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sdb_fail(st, err, "read range fingerprints");
	sqlite3_finalize(stmt);
	return ret;
}

int sq_range_put(struct zl_store *st, const struct zl_range_fp *r, struct zl_err *err)
{
	sqlite3_stmt *s = st->stmt[ST_RANGE_PUT];

	sqlite3_bind_int(s, 1, (int)r->kind);
	sqlite3_bind_int64(s, 2, r->range);
	sqlite3_bind_int64(s, 3, r->rows);
	sqlite3_bind_int64(s, 4, r->fp);
	return sdb_step(st, s, "write a range fingerprint", err);
}

int sq_range_delete(struct zl_store *st, enum zl_fp_kind kind, int64_t range, struct zl_err *err)
{
	sqlite3_stmt *s = st->stmt[ST_RANGE_DELETE];

	sqlite3_bind_int(s, 1, (int)kind);
	sqlite3_bind_int64(s, 2, range);
	return sdb_step(st, s, "delete a range fingerprint", err);
}

int sq_ranges_clear(struct zl_store *st, struct zl_err *err)
{
	return sdb_exec(st, "DELETE FROM range_fp", "clear range fingerprints", err);
}

int sq_ranges_cover_links(struct zl_store *st, int range_size, struct zl_err *err)
{
	/* SQLite's integer division truncates toward zero like PostgreSQL's,
	 * so these are the ranges PostgreSQL would report the links in. */
	sqlite3_stmt *s = sdb_prepare(st,
	                              "INSERT OR IGNORE INTO range_fp (kind, bucket, rows, fp)"
	                              " SELECT DISTINCT ?2, id / ?1, -1, 0 FROM link",
	                              err);

	if (!s)
		return -1;
	sqlite3_bind_int(s, 1, range_size);
	sqlite3_bind_int(s, 2, ZL_FP_LINKS);
	return sdb_step_once(st, s, "mark the ranges of stored links", err);
}

/* ---- links ---- */

struct zl_link_iter *sq_links_range(struct zl_store *st, int64_t lo, int64_t hi, struct zl_err *err)
{
	struct zl_link_iter *it = calloc(1, sizeof(*it));

	if (!it) {
		zl_err_set(err, ZL_EX_SOFTWARE, "out of memory while reading stored links");
		return NULL;
	}
	it->st = st;
	it->stmt = sdb_prepare(
	    st, "SELECT " ZL_LINK_COLUMNS " FROM link WHERE id >= ? AND id <= ? ORDER BY id", err);
	if (!it->stmt) {
		free(it);
		return NULL;
	}
	sqlite3_bind_int64(it->stmt, 1, lo);
	sqlite3_bind_int64(it->stmt, 2, hi);
	return it;
}

/*
 * The ids iterator of sq_links_ids(): steps the cached statement
 * ST_LINK_GET for each id in turn until one has a link. SQLITE_ROW with the
 * statement on that link, SQLITE_DONE after the last id, or an error code.
 */
static int step_ids(struct zl_link_iter *it)
{
	sqlite3_stmt *s = it->st->stmt[ST_LINK_GET];
	int rc = SQLITE_DONE;

	sqlite3_reset(s);
	while (it->next_id < it->n_ids) {
		sqlite3_bind_int64(s, 1, it->ids[it->next_id++]);
		if ((rc = sqlite3_step(s)) != SQLITE_DONE)
			break;
		sqlite3_reset(s);
	}
	return rc;
}

int sq_links_next(struct zl_link_iter *it, const struct zl_link **link, struct zl_err *err)
{
	sqlite3_stmt *s = it->ids ? it->st->stmt[ST_LINK_GET] : it->stmt;
	struct zl_link *l = &it->link;
	int rc;

	diff_link_clear(l);
	rc = it->ids ? step_ids(it) : sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return sdb_fail(it->st, err, "read links");
	l->id = sqlite3_column_int64(s, 0);
	l->status = (enum zl_link_status)sqlite3_column_int(s, 1);
	l->uuid = sdb_text(s, 2);
	l->klantcontact_id = sqlite3_column_int64(s, 3);
	l->objecttype = sdb_text(s, 4);
	l->soort_object_id = sdb_text(s, 5);
	l->object_id = sdb_text(s, 6);
	l->code_register = sdb_text(s, 7);
	l->payload.zaak = sdb_text(s, 8);
	l->payload.link_to = sdb_text(s, 9);
	l->payload.label = sdb_text(s, 10);
	if (!l->uuid || !l->objecttype || !l->soort_object_id || !l->object_id ||
	    !l->code_register || !l->payload.zaak || !l->payload.link_to || !l->payload.label)
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while reading stored link %lld", (long long)l->id);
	*link = l;
	return 1;
}

void sq_links_free(struct zl_link_iter *it)
{
	if (!it)
		return;
	diff_link_clear(&it->link);
	if (it->ids)
		sqlite3_reset(it->st->stmt[ST_LINK_GET]);
	sqlite3_finalize(it->stmt);
	free(it);
}

/* The statement is the one sq_open() prepared: a pass looks up thousands
 * of ids, and preparing costs more than stepping. */
struct zl_link_iter *sq_links_ids(struct zl_store *st, const int64_t *ids, size_t n,
                                  struct zl_err *err)
{
	struct zl_link_iter *it;

	if (!st->stmt[ST_LINK_GET]) {
		zl_err_set(err, ZL_EX_SOFTWARE, "state file %s is open read-only: links by id",
		           st->path);
		return NULL;
	}
	if (!(it = calloc(1, sizeof(*it)))) {
		zl_err_set(err, ZL_EX_SOFTWARE, "out of memory while reading stored links");
		return NULL;
	}
	it->st = st;
	it->ids = ids;
	it->n_ids = n;
	return it;
}

int sq_link_put(struct zl_store *st, const struct zl_link *l, struct zl_err *err)
{
	sqlite3_stmt *s = st->stmt[ST_LINK_PUT];

	sqlite3_bind_int64(s, 1, l->id);
	sqlite3_bind_int(s, 2, (int)l->status);
	sqlite3_bind_text(s, 3, l->uuid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, l->klantcontact_id);
	sqlite3_bind_text(s, 5, l->objecttype, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, l->soort_object_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, l->object_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, l->code_register, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 9, l->payload.zaak, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 10, l->payload.link_to, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 11, l->payload.label, -1, SQLITE_STATIC);
	return sdb_step(st, s, "write a link", err);
}

int sq_link_delete(struct zl_store *st, int64_t id, struct zl_err *err)
{
	sqlite3_stmt *s = st->stmt[ST_LINK_DELETE];

	sqlite3_bind_int64(s, 1, id);
	return sdb_step(st, s, "delete a link", err);
}

/* ---- checkpoint ---- */

/* checkpoint.ranges_fetched and rows_fetched hold ranges_read and
 * rows_read (store_sqlite.c, the migrations). */
int sq_checkpoint_get(struct zl_store *st, struct zl_checkpoint *cp, struct zl_err *err)
{
	sqlite3_stmt *s = sdb_prepare(st,
	                              "SELECT passes, started_ms, duration_ms, ranges_total,"
	                              " ranges_fetched, rows_fetched, links, events, invalid"
	                              " FROM checkpoint WHERE id = 1",
	                              err);
	int rc;

	if (!s)
		return -1;
	memset(cp, 0, sizeof(*cp));
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		cp->passes = sqlite3_column_int64(s, 0);
		cp->started_ms = sqlite3_column_int64(s, 1);
		cp->duration_ms = sqlite3_column_int64(s, 2);
		cp->ranges_total = sqlite3_column_int64(s, 3);
		cp->ranges_read = sqlite3_column_int64(s, 4);
		cp->rows_read = sqlite3_column_int64(s, 5);
		cp->links = sqlite3_column_int64(s, 6);
		cp->events = sqlite3_column_int64(s, 7);
		cp->invalid = sqlite3_column_int64(s, 8);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sdb_fail(st, err, "read the checkpoint");
}

int sq_checkpoint_put(struct zl_store *st, const struct zl_checkpoint *cp, struct zl_err *err)
{
	sqlite3_stmt *s =
	    sdb_prepare(st,
	                "INSERT OR REPLACE INTO checkpoint (id, passes, started_ms,"
	                " duration_ms, ranges_total, ranges_fetched, rows_fetched, links,"
	                " events, invalid) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                err);
	const int64_t v[] = {cp->passes,       cp->started_ms,  cp->duration_ms,
	                     cp->ranges_total, cp->ranges_read, cp->rows_read,
	                     cp->links,        cp->events,      cp->invalid};

	if (!s)
		return -1;
	for (int i = 0; i < (int)ZL_ARRAY_LEN(v); i++)
		sqlite3_bind_int64(s, i + 1, v[i]);
	return sdb_step_once(st, s, "write the checkpoint", err);
}
