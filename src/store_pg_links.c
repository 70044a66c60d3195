/*
 * Store in PostgreSQL, what a detection pass compares and keeps: the links
 * as last recorded (table link), the range fingerprints (table range_fp)
 * and the checkpoint (table checkpoint), with the meaning store.h and the
 * SQLite backend give them.
 *
 * Writes made once per row (a link, a fingerprint) are queued in the
 * pipeline (store_pg.h): synced a thousand at a time, so a 1M-link
 * announce is a few thousand round trips, not millions. Every read
 * flushes the queue first, so it sees them.
 * A range of links is read in one query and walked from its result: a
 * range holds at most range_size links. So are the links of a list of ids
 * (a pass's batch of scattered rows): one round trip, not one per id.
 */
#include "store_pg.h"

#include <stdlib.h>
#include <string.h>

/* ---- range fingerprints ---- */

int spg_ranges_each(struct zl_store *st, enum zl_fp_kind kind,
                    int (*fn)(const struct zl_range_fp *r, void *arg), void *arg,
                    struct zl_err *err)
{
	char k[24];
	const char *p[] = {spg_i64(k, kind)};
	PGresult *res =
	    spg_query(st, "SELECT range, rows, fp FROM range_fp WHERE kind = $1 ORDER BY range", 1,
	              p, "read range fingerprints", err);
	int ret = 0;

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res) && ret == 0; i++) {
		struct zl_range_fp r = {
		    .kind = kind,
		    .range = spg_col_i64(res, i, 0),
		    .rows = spg_col_i64(res, i, 1),
		    .fp = spg_col_i64(res, i, 2),
		};

		ret = fn(&r, arg);
	}
	PQclear(res);
	return ret;
}

int spg_range_put(struct zl_store *st, const struct zl_range_fp *r, struct zl_err *err)
{
	char b[4][24];
	const char *p[] = {spg_i64(b[0], r->kind), spg_i64(b[1], r->range), spg_i64(b[2], r->rows),
	                   spg_i64(b[3], r->fp)};

	return spg_queue(st, SPG_RANGE_PUT, 4, p, "write a range fingerprint", err);
}

int spg_range_delete(struct zl_store *st, enum zl_fp_kind kind, int64_t range, struct zl_err *err)
{
	char b[2][24];
	const char *p[] = {spg_i64(b[0], kind), spg_i64(b[1], range)};

	return spg_queue(st, SPG_RANGE_DELETE, 2, p, "delete a range fingerprint", err);
}

int spg_ranges_clear(struct zl_store *st, struct zl_err *err)
{
	return spg_exec(st, "DELETE FROM range_fp", 0, NULL, "clear range fingerprints", err);
}

int spg_ranges_cover_links(struct zl_store *st, int range_size, struct zl_err *err)
{
	char b[2][24];
	const char *p[] = {spg_i64(b[0], range_size), spg_i64(b[1], ZL_FP_LINKS)};

	/* bigint division truncates toward zero, as in the fingerprint query. */
	return spg_exec(st,
	                "INSERT INTO range_fp (kind, range, rows, fp)"
	                " SELECT DISTINCT $2::integer, id / $1::bigint, -1, 0 FROM link"
	                " ON CONFLICT (kind, range) DO NOTHING",
	                2, p, "mark the ranges of stored links", err);
}

/* ---- links ---- */

struct zl_link_iter *spg_links_range(struct zl_store *st, int64_t lo, int64_t hi,
                                     struct zl_err *err)
{
	struct zl_link_iter *it = calloc(1, sizeof(*it));
	char b[2][24];
	const char *p[] = {spg_i64(b[0], lo), spg_i64(b[1], hi)};

	if (!it) {
		zl_err_set(err, ZL_EX_SOFTWARE, "out of memory while reading stored links");
		return NULL;
	}
	it->st = st;
	it->res = spg_query(
	    st, "SELECT " ZL_LINK_COLUMNS " FROM link WHERE id >= $1 AND id <= $2 ORDER BY id", 2,
	    p, "read links", err);
	if (!it->res) {
		free(it);
		return NULL;
	}
	return it;
}

int spg_links_next(struct zl_link_iter *it, const struct zl_link **link, struct zl_err *err)
{
	const PGresult *r = it->res;
	struct zl_link *l = &it->link;
	int i = it->row;

	diff_link_clear(l);
	if (i >= PQntuples(r))
		return 0;
	it->row++;
	l->id = spg_col_i64(r, i, 0);
	l->status = (enum zl_link_status)spg_col_i64(r, i, 1);
	l->uuid = spg_text(r, i, 2);
	l->klantcontact_id = spg_col_i64(r, i, 3);
	l->objecttype = spg_text(r, i, 4);
	l->soort_object_id = spg_text(r, i, 5);
	l->object_id = spg_text(r, i, 6);
	l->code_register = spg_text(r, i, 7);
	l->payload.zaak = spg_text(r, i, 8);
	l->payload.link_to = spg_text(r, i, 9);
	l->payload.label = spg_text(r, i, 10);
	if (!l->uuid || !l->objecttype || !l->soort_object_id || !l->object_id ||
	    !l->code_register || !l->payload.zaak || !l->payload.link_to || !l->payload.label)
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while reading stored link %lld", (long long)l->id);
	*link = l;
	return 1;
}

void spg_links_free(struct zl_link_iter *it)
{
	diff_link_clear(&it->link);
	PQclear(it->res);
	free(it);
}

/* One round trip for all ids: the array goes as one text parameter. */
struct zl_link_iter *spg_links_ids(struct zl_store *st, const int64_t *ids, size_t n,
                                   struct zl_err *err)
{
	struct zl_link_iter *it = calloc(1, sizeof(*it));
	struct zl_text arr = {0};
	const char *p[1];

	if (it) {
		zl_text_add(&arr, "{");
		for (size_t i = 0; i < n; i++)
			zl_text_add(&arr, "%s%lld", i ? "," : "", (long long)ids[i]);
		zl_text_add(&arr, "}");
	}
	if (!it || arr.failed) {
		free(it);
		free(arr.buf);
		zl_err_set(err, ZL_EX_SOFTWARE, "out of memory while asking for %zu stored links",
		           n);
		return NULL;
	}
	p[0] = arr.buf;
	it->st = st;
	it->res = spg_query(
	    st, "SELECT " ZL_LINK_COLUMNS " FROM link WHERE id = ANY ($1::bigint[]) ORDER BY id", 1,
	    p, "read links", err);
	free(arr.buf);
	if (!it->res) {
		free(it);
		return NULL;
	}
	return it;
}

int spg_link_put(struct zl_store *st, const struct zl_link *l, struct zl_err *err)
{
	char b[3][24];
	const char *p[] = {spg_i64(b[0], l->id),
	                   spg_i64(b[1], l->status),
	                   l->uuid,
	                   spg_i64(b[2], l->klantcontact_id),
	                   l->objecttype,
	                   l->soort_object_id,
	                   l->object_id,
	                   l->code_register,
	                   l->payload.zaak,
	                   l->payload.link_to,
	                   l->payload.label};

	return spg_queue(st, SPG_LINK_PUT, 11, p, "write a link", err);
}

int spg_link_delete(struct zl_store *st, int64_t id, struct zl_err *err)
{
	char b[24];
	const char *p[] = {spg_i64(b, id)};

	return spg_queue(st, SPG_LINK_DELETE, 1, p, "delete a link", err);
}

/* ---- checkpoint ---- */

int spg_checkpoint_get(struct zl_store *st, struct zl_checkpoint *cp, struct zl_err *err)
{
	PGresult *res = spg_query(st,
	                          "SELECT passes, started_ms, duration_ms, ranges_total,"
	                          " ranges_read, rows_read, links, events, invalid"
	                          " FROM checkpoint WHERE id = 1",
	                          0, NULL, "read the checkpoint", err);
	int n;

	if (!res)
		return -1;
	memset(cp, 0, sizeof(*cp));
	n = PQntuples(res) > 0 ? 1 : 0;
	if (n) {
		cp->passes = spg_col_i64(res, 0, 0);
		cp->started_ms = spg_col_i64(res, 0, 1);
		cp->duration_ms = spg_col_i64(res, 0, 2);
		cp->ranges_total = spg_col_i64(res, 0, 3);
		cp->ranges_read = spg_col_i64(res, 0, 4);
		cp->rows_read = spg_col_i64(res, 0, 5);
		cp->links = spg_col_i64(res, 0, 6);
		cp->events = spg_col_i64(res, 0, 7);
		cp->invalid = spg_col_i64(res, 0, 8);
	}
	PQclear(res);
	return n;
}

int spg_checkpoint_put(struct zl_store *st, const struct zl_checkpoint *cp, struct zl_err *err)
{
	const int64_t v[] = {cp->passes,       cp->started_ms,  cp->duration_ms,
	                     cp->ranges_total, cp->ranges_read, cp->rows_read,
	                     cp->links,        cp->events,      cp->invalid};
	char b[ZL_ARRAY_LEN(v)][24];
	const char *p[ZL_ARRAY_LEN(v)];

	for (size_t i = 0; i < ZL_ARRAY_LEN(v); i++)
		p[i] = spg_i64(b[i], v[i]);
	return spg_exec(st,
	                "INSERT INTO checkpoint (id, passes, started_ms, duration_ms, ranges_total,"
	                " ranges_read, rows_read, links, events, invalid)"
	                " VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9)"
	                " ON CONFLICT (id) DO UPDATE SET passes = EXCLUDED.passes,"
	                " started_ms = EXCLUDED.started_ms, duration_ms = EXCLUDED.duration_ms,"
	                " ranges_total = EXCLUDED.ranges_total, ranges_read = EXCLUDED.ranges_read,"
	                " rows_read = EXCLUDED.rows_read, links = EXCLUDED.links,"
	                " events = EXCLUDED.events, invalid = EXCLUDED.invalid",
	                (int)ZL_ARRAY_LEN(v), p, "write the checkpoint", err);
}
