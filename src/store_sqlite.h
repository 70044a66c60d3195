/*
 * SQLite backend internals: what store_sqlite.c, store_sqlite_links.c and
 * store_sqlite_outbox.c share and nothing else may use.
 *
 * The statements a pass runs once per row (struct zl_store's stmt, in
 * store_backend.h) are prepared when a writer opens the file
 * (store_sqlite.c) and run by the module that owns their table. The sdb_* helpers turn SQLite's
 * failures into a struct zl_err with code ZL_EX_CANTCREAT that names the state file, so every store
 * function reports "could not WHAT in state file PATH: REASON".
 */
#ifndef ZL_STORE_SQLITE_H
#define ZL_STORE_SQLITE_H

#include "store_backend.h"

/* Fills err with SQLite's reason for the failed operation; returns -1. */
int sdb_fail(struct zl_store *st, struct zl_err *err, const char *what);

/* Runs SQL that returns no rows; what names it in the error. */
int sdb_exec(struct zl_store *st, const char *sql, const char *what, struct zl_err *err);

/* A prepared statement, or NULL with err filled. */
sqlite3_stmt *sdb_prepare(struct zl_store *st, const char *sql, struct zl_err *err);

/* Runs a prepared statement that returns no rows, then resets it and
 * clears its bindings (for the statements kept in st->stmt). */
int sdb_step(struct zl_store *st, sqlite3_stmt *s, const char *what, struct zl_err *err);

/* Runs a statement prepared for one use that returns no rows, and
 * finalizes it whatever happens. */
int sdb_step_once(struct zl_store *st, sqlite3_stmt *s, const char *what, struct zl_err *err);

/* Runs a query returning at most one integer: the integer, 0 without a
 * row, -1 on an error (what names it). */
int64_t sdb_int(struct zl_store *st, const char *sql, const char *what, struct zl_err *err);

/* strdup of a text column ("" for NULL); NULL when out of memory. */
char *sdb_text(sqlite3_stmt *s, int col);

/* The backend's operations (store_backend.h's struct store_ops), by module. */
int sq_ranges_each(struct zl_store *st, enum zl_fp_kind kind,
                   int (*fn)(const struct zl_range_fp *r, void *arg), void *arg,
                   struct zl_err *err);
int sq_range_put(struct zl_store *st, const struct zl_range_fp *r, struct zl_err *err);
int sq_range_delete(struct zl_store *st, enum zl_fp_kind kind, int64_t range, struct zl_err *err);
int sq_ranges_clear(struct zl_store *st, struct zl_err *err);
int sq_ranges_cover_links(struct zl_store *st, int range_size, struct zl_err *err);
struct zl_link_iter *sq_links_range(struct zl_store *st, int64_t lo, int64_t hi,
                                    struct zl_err *err);
int sq_links_next(struct zl_link_iter *it, const struct zl_link **link, struct zl_err *err);
void sq_links_free(struct zl_link_iter *it);
struct zl_link_iter *sq_links_ids(struct zl_store *st, const int64_t *ids, size_t n,
                                  struct zl_err *err);
int sq_link_put(struct zl_store *st, const struct zl_link *link, struct zl_err *err);
int sq_link_delete(struct zl_store *st, int64_t id, struct zl_err *err);
int sq_checkpoint_get(struct zl_store *st, struct zl_checkpoint *cp, struct zl_err *err);
int sq_checkpoint_put(struct zl_store *st, const struct zl_checkpoint *cp, struct zl_err *err);

int sq_outbox_add(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
                  struct zl_err *err);
int sq_outbox_stage(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
                    struct zl_err *err);
int sq_outbox_flush_staged(struct zl_store *st, struct zl_err *err);
int sq_outbox_due(struct zl_store *st, int64_t now_ms, struct zl_outbox_row *rows, int max,
                  struct zl_err *err);
int sq_outbox_each(struct zl_store *st, int (*fn)(const struct zl_outbox_full *r, void *arg),
                   void *arg, struct zl_err *err);
int sq_outbox_put(struct zl_store *st, const struct zl_outbox_full *r, struct zl_err *err);
int sq_outbox_high_water(struct zl_store *st, int64_t *seq, struct zl_err *err);
int sq_outbox_raise_high_water(struct zl_store *st, int64_t seq, struct zl_err *err);
int sq_outbox_delivered(struct zl_store *st, int64_t upto, struct zl_err *err);
int sq_outbox_failed(struct zl_store *st, int64_t from, int64_t to, const char *error,
                     int64_t next_ms, struct zl_err *err);
int sq_outbox_retry_now(struct zl_store *st, struct zl_err *err);
int sq_counts(struct zl_store *st, struct zl_store_counts *c, struct zl_err *err);
int sq_outbox_summary(struct zl_store *st, int64_t *pending, int64_t *oldest, struct zl_err *err);
int64_t sq_backfill(struct zl_store *st, const char *source, int64_t now_s, struct zl_err *err);

int sq_begin(struct zl_store *st, struct zl_err *err);
int sq_commit(struct zl_store *st, struct zl_err *err);
void sq_rollback(struct zl_store *st);

#endif
