/*
 * Source: reads Open Klant's database through libpq, SELECT only.
 *
 * A pass reads in one REPEATABLE READ READ ONLY transaction, so the range
 * fingerprints and the rows fetched after them come from one snapshot; this
 * works on a hot-standby replica and needs SELECT on the two tables only.
 */
#ifndef ZL_SOURCE_H
#define ZL_SOURCE_H

#include "common.h"
#include "event.h"
#include "store.h"

struct zl_source;

struct zl_source *source_new(const char *conninfo, int connect_timeout, int query_timeout);
void source_free(struct zl_source *src);

/* Connects when not connected (or the connection broke). */
int source_connect(struct zl_source *src, struct zl_err *err);
bool source_connected(const struct zl_source *src);
/* Checks SELECT access to both tables (check-config --connect). */
int source_check_access(struct zl_source *src, struct zl_err *err);

int source_begin(struct zl_source *src, struct zl_err *err);
/* Ends the read-only transaction (there is nothing to commit). */
void source_end(struct zl_source *src);

/* What PostgreSQL counted while comparing fingerprints of one kind. */
struct zl_fp_totals {
	int64_t ranges;          /* non-empty ranges */
	int64_t rows;            /* rows in them (for ZL_FP_LINKS: links) */
};

/*
 * Compares PostgreSQL's fingerprints of one kind with old (the stored ones,
 * any order) and calls fn, in bucket order, for every bucket whose
 * fingerprint differs: with its new count and hash, or with rows = 0 when
 * the range is now empty. fn returns 0 to go on, non-zero to stop (passed
 * back). An old entry with rows = -1 differs from anything.
 */
int source_ranges_changed(struct zl_source *src, enum zl_fp_kind kind, int range_size,
			  const struct zl_range_fp *old, size_t n_old,
			  int (*fn)(const struct zl_range_fp *now, void *arg), void *arg,
			  struct zl_fp_totals *totals, struct zl_err *err);

/* Streams the link rows with lo <= id <= hi in id order, in batches. */
struct zl_row_cursor;
struct zl_row_cursor *source_rows(struct zl_source *src, int64_t lo, int64_t hi,
				  struct zl_err *err);
/* 1 with *row filled (valid until the next call), 0 at the end, -1 on error. */
int source_rows_next(struct zl_row_cursor *cur, const struct zl_row **row,
		     struct zl_err *err);
void source_rows_free(struct zl_row_cursor *cur);
/* Streams, in id order, the link rows whose klantcontact_id lies in one of
 * the disjoint ranges lo[i] <= klantcontact_id <= hi[i]. */
struct zl_row_cursor *source_contact_rows(struct zl_source *src, const int64_t *lo,
					  const int64_t *hi, size_t n, struct zl_err *err);

/* Bytes received from the server since source_new (for the checkpoint). */
int64_t source_bytes_received(const struct zl_source *src);

#endif
