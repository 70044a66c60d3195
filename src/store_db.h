/*
 * Store internals: what store.c, store_links.c and store_outbox.c share and
 * nothing else may use.
 *
 * struct zl_store is defined here, with the statements a pass runs once per
 * row, prepared when a writer opens the file (store.c) and run by the module
 * that owns their table. The sdb_* helpers turn SQLite's failures into a
 * struct zl_err with code ZL_EX_CANTCREAT that names the state file, so
 * every store function reports "could not WHAT in state file PATH: REASON".
 */
#ifndef ZL_STORE_DB_H
#define ZL_STORE_DB_H

#include "store.h"

#include <sqlite3.h>

/* The statements a pass runs per row, prepared once (stmt_sql in store.c). */
enum sdb_stmt {
	ST_RANGE_PUT,
	ST_RANGE_DELETE,
	ST_LINK_PUT,
	ST_LINK_DELETE,
	ST_OUTBOX_ADD,
	ST_OUTBOX_STAGE,
	ST_COUNT
};

struct zl_store {
	sqlite3 *db;
	char *path;
	int lock_fd; /* flock'ed "<path>.lock" of a writer, or -1 */
	sqlite3_stmt *stmt[ST_COUNT];
};

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

#endif
