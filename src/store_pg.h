/*
 * PostgreSQL backend internals: what store_pg.c, store_pg_links.c and
 * store_pg_outbox.c share and nothing else may use.
 *
 * One connection per opened store does every read and write (a session
 * lock taken on it must cover every write). Writes a pass makes once per
 * row go through libpq's pipeline mode with prepared statements: they are
 * queued without waiting for their answers, and spg_flush() sends a sync
 * and collects the answers, at the latest every SPG_BATCH statements,
 * before any read, and before a commit. A failure among them is reported
 * by that flush (the transaction is then aborted and the caller rolls it
 * back). The spg_* helpers turn libpq's failures into a struct zl_err with
 * code ZL_EX_CANTCREAT that names the schema, so every store function
 * reports "could not WHAT in state schema S of database D: REASON".
 */
#ifndef ZL_STORE_PG_H
#define ZL_STORE_PG_H

#include "store_backend.h"

#include <libpq-fe.h>

/* Queued statements after which the pipeline is synced and drained: their
 * answers stay far below what the socket buffers hold. */
#define SPG_BATCH 1000

/* The statements a pass runs per row, prepared once (spg_stmt_sql). */
enum spg_stmt {
	SPG_RANGE_PUT,
	SPG_RANGE_DELETE,
	SPG_LINK_PUT,
	SPG_LINK_DELETE,
	SPG_OUTBOX_ADD,
	SPG_OUTBOX_STAGE,
	SPG_OUTBOX_PUT,
	SPG_COUNT
};

struct store_pg {
	PGconn *conn;
	char *conninfo;         /* as configured, to connect again */
	char *schema;           /* as configured */
	bool read_only;         /* a reader: no lock, no writes */
	bool compete;           /* run's: waits its turn for the lock (store_pg_leader.c) */
	int session_timeout_ms; /* compete: the server drops a session silent this long */
	bool setting_up;        /* connecting: no reconnect from inside */
	bool ready;             /* conn is set up (lock, search_path, statements); for
	                           compete: this instance is the active one */
	bool in_tx;             /* between store_begin() and commit/rollback */
	bool pipeline;          /* in pipeline mode */
	int queued;             /* statements sent since the last sync */
	int64_t last_ms;        /* monotonic: the last round trip with the server */
	char first_error[512];  /* of the queued statements, "" if none */
};

/* Fills err with libpq's reason (res's when given, else the connection's);
 * returns -1. */
int spg_fail(struct zl_store *st, const PGresult *res, struct zl_err *err, const char *what);

/* Runs SQL with text parameters (n of them; NULL entries are SQL NULL)
 * after flushing the pipeline. Returns the result when its status is
 * PGRES_COMMAND_OK or PGRES_TUPLES_OK, else NULL with err filled. */
PGresult *spg_query(struct zl_store *st, const char *sql, int n, const char *const *params,
                    const char *what, struct zl_err *err);

/* The same for a statement whose rows do not matter: 0 or -1. */
int spg_exec(struct zl_store *st, const char *sql, int n, const char *const *params,
             const char *what, struct zl_err *err);

/* A query returning at most one integer: the integer, 0 without a row or
 * for NULL, -1 on an error. */
int64_t spg_int(struct zl_store *st, const char *sql, int n, const char *const *params,
                const char *what, struct zl_err *err);

/* Queues a prepared statement (enum spg_stmt) in the pipeline; outside a
 * transaction it is flushed at once, so its failure is reported here. */
int spg_queue(struct zl_store *st, enum spg_stmt which, int n, const char *const *params,
              const char *what, struct zl_err *err);

/* Connects again after the connection broke, setting the session up as
 * store_open() does (for a writer: the lock first). 0 or -1. */
int spg_reconnect(struct zl_store *st, struct zl_err *err);

/* A new connection to the state server (keepalives, application_name),
 * or NULL with err. */
PGconn *spg_connect(const struct zl_state_conf *state, struct zl_err *err);

/* Sets a fresh connection up (recovery refused, search_path; a writer
 * takes the lock, creates and migrates the schema and prepares the
 * statements). For compete, a lock held by another instance is no error:
 * 0 with pg->ready false. 0 or -1. */
int spg_session_setup(struct zl_store *st, struct zl_err *err);

/* The database's name for messages, also when the connection is gone. */
const char *spg_db(const struct store_pg *pg);

/* Leadership (store_pg_leader.c). The writer's lock: 1 taken, 0 held by
 * another session, -1 with err. */
int spg_take_lock(struct zl_store *st, struct zl_err *err);
/* Fills err (ZL_EX_TEMPFAIL) with "in use by another zaaklink process",
 * naming its pid when it can; returns -1. */
int spg_lock_busy(struct zl_store *st, struct zl_err *err);
/* Records this process as the holder (holder text, since now). */
int spg_record_holder(struct zl_store *st, struct zl_err *err);
/* Tells the server to drop the session after session_timeout_ms of
 * silence, in or out of a transaction. */
int spg_session_timeouts(struct zl_store *st, struct zl_err *err);
int spg_lead(struct zl_store *st, struct zl_err *err);
int spg_heartbeat(struct zl_store *st, int timeout_ms, struct zl_err *err);
int spg_keepalive(struct zl_store *st, struct zl_err *err);
int spg_leader_info(struct zl_store *st, struct zl_leader_info *info, struct zl_err *err);

/* Syncs the pipeline and collects every answer: 0, or -1 with the first
 * failure among them in err. Nothing queued: 0 at once. */
int spg_flush(struct zl_store *st, struct zl_err *err);

/* An integer as a text parameter; buf holds 24 bytes. */
const char *spg_i64(char *buf, int64_t v);
/* The integer of a text column. */
int64_t spg_col_i64(const PGresult *res, int row, int col);
/* strdup of a text column ("" for NULL); NULL when out of memory. */
char *spg_text(const PGresult *res, int row, int col);

/* The backend's operations (store_backend.h's struct store_ops), by module. */
int spg_ranges_each(struct zl_store *st, enum zl_fp_kind kind,
                    int (*fn)(const struct zl_range_fp *r, void *arg), void *arg,
                    struct zl_err *err);
int spg_range_put(struct zl_store *st, const struct zl_range_fp *r, struct zl_err *err);
int spg_range_delete(struct zl_store *st, enum zl_fp_kind kind, int64_t range, struct zl_err *err);
int spg_ranges_clear(struct zl_store *st, struct zl_err *err);
int spg_ranges_cover_links(struct zl_store *st, int range_size, struct zl_err *err);
struct zl_link_iter *spg_links_range(struct zl_store *st, int64_t lo, int64_t hi,
                                     struct zl_err *err);
int spg_links_next(struct zl_link_iter *it, const struct zl_link **link, struct zl_err *err);
void spg_links_free(struct zl_link_iter *it);
struct zl_link_iter *spg_links_ids(struct zl_store *st, const int64_t *ids, size_t n,
                                   struct zl_err *err);
int spg_link_put(struct zl_store *st, const struct zl_link *link, struct zl_err *err);
int spg_link_delete(struct zl_store *st, int64_t id, struct zl_err *err);
int spg_checkpoint_get(struct zl_store *st, struct zl_checkpoint *cp, struct zl_err *err);
int spg_checkpoint_put(struct zl_store *st, const struct zl_checkpoint *cp, struct zl_err *err);

int spg_outbox_add(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
                   struct zl_err *err);
int spg_outbox_stage(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
                     struct zl_err *err);
int spg_outbox_flush_staged(struct zl_store *st, struct zl_err *err);
int spg_outbox_due(struct zl_store *st, int64_t now_ms, struct zl_outbox_row *rows, int max,
                   struct zl_err *err);
int spg_outbox_each(struct zl_store *st, int (*fn)(const struct zl_outbox_full *r, void *arg),
                    void *arg, struct zl_err *err);
int spg_outbox_put(struct zl_store *st, const struct zl_outbox_full *r, struct zl_err *err);
int spg_outbox_high_water(struct zl_store *st, int64_t *seq, struct zl_err *err);
int spg_outbox_raise_high_water(struct zl_store *st, int64_t seq, struct zl_err *err);
int spg_outbox_delivered(struct zl_store *st, int64_t upto, struct zl_err *err);
int spg_outbox_failed(struct zl_store *st, int64_t from, int64_t to, const char *error,
                      int64_t next_ms, struct zl_err *err);
int spg_outbox_retry_now(struct zl_store *st, struct zl_err *err);
int spg_counts(struct zl_store *st, struct zl_store_counts *c, struct zl_err *err);
int spg_outbox_summary(struct zl_store *st, int64_t *pending, int64_t *oldest, struct zl_err *err);
int64_t spg_backfill(struct zl_store *st, const char *source, int64_t now_s, struct zl_err *err);

int spg_begin(struct zl_store *st, struct zl_err *err);
int spg_commit(struct zl_store *st, struct zl_err *err);
void spg_rollback(struct zl_store *st);

#endif
