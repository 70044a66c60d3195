/*
 * Store: zaaklink's own state, in one SQLite file or in a schema of a
 * PostgreSQL database (state.path or state.conninfo). The two backends keep
 * the same tables with the same meaning (store.c chooses, store_sqlite*.c
 * and store_pg*.c implement); what follows is said of SQLite and holds for
 * PostgreSQL too unless a function says otherwise.
 *
 * Tables: link (per onderwerpobject that is a link: its identificator, and
 * the payload last recorded, so an ontkoppeld repeats the gekoppeld exactly),
 * range_fp (the fingerprints PostgreSQL computed per range of onderwerpobject
 * ids and per range of klantcontact ids, in the snapshot the links were read
 * in), outbox (events in record order with a stable id), checkpoint (the
 * last pass), meta (settings such as the range size). WAL mode and
 * synchronous=FULL: a committed pass survives a power cut. A detection pass
 * writes links, fingerprints, outbox rows and its checkpoint in one
 * transaction (store_begin() .. store_commit()), so a crash leaves either
 * all of them or none.
 *
 * Code (SQLite): store_sqlite.c (file, lock, schema, transactions, meta,
 * backfill request), store_sqlite_links.c (links, fingerprints,
 * checkpoint), store_sqlite_outbox.c (outbox,
 * counts, backfill).
 *
 * Errors: every function returning int fails with -1 (a count: -1) and err
 * filled. A failure of SQLite or of the file carries ZL_EX_CANTCREAT (the
 * state file cannot be read or written: an outage of the disk, not of a
 * server); running out of memory ZL_EX_SOFTWARE. No store function treats
 * "not found" as an error: a missing row is a return value (0), said per
 * function.
 *
 * Transactions: unless a function says it opens its own, it runs in the
 * caller's transaction when one is open (store_begin()), and otherwise as
 * one statement, which SQLite commits by itself. Functions marked
 * [in a transaction] write rows that belong with others and must be called
 * between store_begin() and store_commit(); detect_pass() and
 * app_record_backfill() are those callers.
 */
#ifndef ZL_STORE_H
#define ZL_STORE_H

#include "common.h"
#include "diff.h"

struct zl_store;
struct zl_state_conf;

/*
 * Opens (creating and migrating when needed) the state the settings name:
 * the file state->path, or the schema state->schema of the database
 * state->conninfo when that is set. read_only opens an existing state
 * without creating or migrating it, and writes nothing. Codes:
 * ZL_EX_TEMPFAIL when another process holds the writer's lock (the message
 * names its pid), ZL_EX_CANTCREAT when the file cannot be opened, is no
 * regular file of zaaklink's user, or has a newer schema; a missing file
 * opened read_only is ZL_EX_CANTCREAT too. Migrations each run in their own
 * transaction.
 */
struct zl_store *store_open(const struct zl_state_conf *state, bool read_only, struct zl_err *err);
void store_close(struct zl_store *st);

/* ---- leadership ----
 * Several `zaaklink run` may share one PostgreSQL state; one of them, the
 * active instance, detects and publishes, the others wait as standbys.
 * The active one is the holder of the writer's lock: a session advisory
 * lock on the very connection that makes every state write, so a
 * connection that is gone can commit nothing and a deposed leader cannot
 * write. The lock is taken again, before any write, on every new
 * connection, and nothing else (no clock, no lease row) decides who leads.
 *
 * Opened with store_open_compete(), the store is a standby until
 * store_lead() returns 1; every other store function then fails with
 * ZL_EX_TEMPFAIL until it does. A lost connection (store_heartbeat() 0,
 * or any call failing on it) makes it a standby again: it does not
 * reconnect by itself, the next store_lead() does. With SQLite (one
 * machine) there is no standby: store_lead() and store_heartbeat() are 1.
 */

/* Like store_open(state, false), but for PostgreSQL a lock held by another
 * instance leaves the store a standby instead of failing. The connection
 * is made here: an unreachable server fails the open. */
struct zl_store *store_open_compete(const struct zl_state_conf *state, struct zl_err *err);

/* Tries to become the active instance (reconnecting first when the
 * connection is gone): 1 when this store holds the lock, now or already;
 * 0 when another instance holds it; -1 with err when the state server
 * cannot be reached or refuses (in recovery). */
int store_lead(struct zl_store *st, struct zl_err *err);

/* The active instance's heartbeat: a round trip on the state connection
 * (between transactions) that must come back within timeout_ms. 1 while
 * active; 0 with err saying why when the connection was lost or did not
 * answer: it is closed, and the store is a standby (store_lead() to
 * compete again). 0 at once on a standby. */
int store_heartbeat(struct zl_store *st, int timeout_ms, struct zl_err *err);

/* How long run's state connection may stay quiet before store_keepalive()
 * sends a round trip. */
#define ZL_KEEPALIVE_MS 1000

/* For run's store: a round trip when the state connection has been quiet
 * for ZL_KEEPALIVE_MS, in or out of a transaction, so that the server,
 * which drops a silent session after state.session_timeout, sees the
 * active instance alive while it waits elsewhere (between the ranges of a
 * long pass, for the broker's confirms, during a connect). Its failure is
 * the heartbeat's to find. Nothing for other stores and SQLite. */
void store_keepalive(struct zl_store *st);

/* Who holds the state (PostgreSQL; nothing for SQLite). */
struct zl_leader_info {
	bool held;        /* some session holds the lock now */
	bool self;        /* this store holds it */
	char holder[320]; /* "HOST:PID" recorded by the holder, "" unknown */
	char since[40];   /* RFC 3339 UTC, when it took the lock; "" unknown */
};
/* Fills info; 0, or -1 with err. A state whose tables do not exist yet is
 * no error (held may still be true: another instance is creating them). */
int store_leader_info(struct zl_store *st, struct zl_leader_info *info, struct zl_err *err);

/* Where the state lives, for logs and status: the file's path, or
 * "schema S at CONNINFO" with the password masked. malloc'ed; NULL when
 * out of memory. */
char *store_describe(const struct zl_state_conf *state);

/* 1 when the state exists (the file, or the schema with its tables), 0 when
 * it does not yet, -1 with err when that cannot be told. Writes nothing. */
int store_exists(const struct zl_state_conf *state, struct zl_err *err);

/* Which database holds an open PostgreSQL state: "SYSTEM_ID/DATABASE" in
 * buf (the server's system identifier and the database's name), compared
 * with the source's to tell the same database. 0, or -1 with err; "" for
 * SQLite. */
int store_database_id(struct zl_store *st, char *buf, size_t size, struct zl_err *err);

/* The query store_database_id() runs, for running it on another connection. */
extern const char store_database_id_sql[];

/* BEGIN IMMEDIATE: waits up to 10 s for a reader's lock (busy timeout). */
int store_begin(struct zl_store *st, struct zl_err *err);
/* Commits; on failure rolls back before returning -1. */
int store_commit(struct zl_store *st, struct zl_err *err);
/* Rolls back the open transaction, if any. */
void store_rollback(struct zl_store *st);

/* ---- range fingerprints ---- */
/* What a fingerprint covers (source.c): the link rows of a range of
 * onderwerpobject ids, or the klantcontacten of a range of their ids. */
enum zl_fp_kind {
	ZL_FP_LINKS = 0,
	ZL_FP_KLANTCONTACTS = 1,
};

struct zl_range_fp {
	enum zl_fp_kind kind;
	int64_t range; /* the range's number: id / range_size */
	int64_t rows;  /* rows PostgreSQL counted in it; -1 matches nothing */
	int64_t fp;    /* PostgreSQL's XOR of the rows' 64-bit hashes */
};

/* Calls fn for every stored fingerprint of a kind in range order; fn
 * returns 0 to go on, non-zero to stop (passed back, err untouched: fn
 * says why itself). */
int store_ranges_each(struct zl_store *st, enum zl_fp_kind kind,
                      int (*fn)(const struct zl_range_fp *r, void *arg), void *arg,
                      struct zl_err *err);
/* [in a transaction] Stores or forgets one fingerprint; forgetting one that is
 * not there is no error. */
int store_range_put(struct zl_store *st, const struct zl_range_fp *r, struct zl_err *err);
int store_range_delete(struct zl_store *st, enum zl_fp_kind kind, int64_t range,
                       struct zl_err *err);
/* [in a transaction] Forgets all fingerprints (the next pass compares every range). */
int store_ranges_clear(struct zl_store *st, struct zl_err *err);
/* [in a transaction] Gives every range holding a stored link a fingerprint that
 * matches nothing, so the pass reads it: after a range size change and in a
 * full pass, a range PostgreSQL no longer reports must still be visited. */
int store_ranges_cover_links(struct zl_store *st, int range_size, struct zl_err *err);

/* ---- links ---- */
/* Iterates stored links with lo <= id <= hi in id order. */
struct zl_link_iter;
struct zl_link_iter *store_links_range(struct zl_store *st, int64_t lo, int64_t hi,
                                       struct zl_err *err);
/* 1 with *link filled (owned by the iterator until the next call),
 * 0 at the end, -1 on error. */
int store_links_next(struct zl_link_iter *it, const struct zl_link **link, struct zl_err *err);
void store_links_free(struct zl_link_iter *it);
/* Iterates the stored links among the n ids (ascending, no id twice) in
 * id order, through store_links_next() and store_links_free(); an id with
 * no stored link is left out. ids must stay valid until store_links_free().
 * For a pass that reads scattered rows: one query for many ids (SQLite: a
 * statement prepared once, stepped per id; PostgreSQL: one round trip). */
struct zl_link_iter *store_links_ids(struct zl_store *st, const int64_t *ids, size_t n,
                                     struct zl_err *err);

/* [in a transaction] Stores (inserting or replacing) or forgets one link;
 * forgetting one that is not there is no error. */
int store_link_put(struct zl_store *st, const struct zl_link *link, struct zl_err *err);
int store_link_delete(struct zl_store *st, int64_t id, struct zl_err *err);

/* ---- outbox ---- */
struct zl_outbox_row {
	int64_t seq; /* record order */
	char event_id[37];
	char *type; /* event type name, routing key */
	char *source;
	char *subject;
	int64_t time;
	char *body; /* the CloudEvent JSON, as recorded */
	int attempts;
};

/* [in a transaction] Records an event at the end of the outbox. */
int store_outbox_add(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
                     struct zl_err *err);
/* [in a transaction] Records an event that must follow everything added so far in
 * this transaction: it enters the outbox at store_outbox_flush_staged(),
 * which must come before store_commit() (a rollback forgets it). */
int store_outbox_stage(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
                       struct zl_err *err);
int store_outbox_flush_staged(struct zl_store *st, struct zl_err *err);

/* Up to max pending rows in seq order whose next attempt is due at now
 * (UNIX ms). Fills rows (caller's array) and returns how many, -1 on error.
 * Release with store_outbox_rows_clear(). */
int store_outbox_due(struct zl_store *st, int64_t now_ms, struct zl_outbox_row *rows, int max,
                     struct zl_err *err);
void store_outbox_rows_clear(struct zl_outbox_row *rows, int n);

/* An outbox row with all a copy of the state keeps (zaaklink state copy). */
struct zl_outbox_full {
	struct zl_outbox_row row;
	int64_t link_id;
	const char *last_error; /* NULL when none */
	int64_t next_attempt_ms;
};

/* Calls fn for every outbox row in seq order (pointers valid during the
 * call); fn returns 0 to go on, non-zero to stop (passed back). */
int store_outbox_each(struct zl_store *st, int (*fn)(const struct zl_outbox_full *r, void *arg),
                      void *arg, struct zl_err *err);
/* [in a transaction] Adds a row as it is, its seq included (a copy keeps
 * every event's zaaklink-seq). */
int store_outbox_put(struct zl_store *st, const struct zl_outbox_full *r, struct zl_err *err);
/* The highest seq ever handed out (0 none), also when the outbox is empty:
 * consumers remember seqs, so a copy must go on above it. */
int store_outbox_high_water(struct zl_store *st, int64_t *seq, struct zl_err *err);
/* [in a transaction] Makes every seq handed out from now on greater than seq. */
int store_outbox_raise_high_water(struct zl_store *st, int64_t seq, struct zl_err *err);

/* The broker acknowledged every row with seq <= upto: removes them and
 * counts them in published_total, in a transaction of its own (call it
 * with none open). */
int store_outbox_delivered(struct zl_store *st, int64_t upto, struct zl_err *err);
/* The batch's rows from..to were not confirmed: count an attempt for them,
 * keep the error, and make every row from `from` on due again at next_ms
 * (later rows wait too, so nothing overtakes). One statement. */
int store_outbox_failed(struct zl_store *st, int64_t from, int64_t to, const char *error,
                        int64_t next_ms, struct zl_err *err);
/* Makes every pending row due now (after a reconnect). */
int store_outbox_retry_now(struct zl_store *st, struct zl_err *err);

/* ---- checkpoint and counts ---- */
struct zl_checkpoint {
	int64_t passes;     /* passes completed since the state was created */
	int64_t started_ms; /* wall clock of the last pass */
	int64_t duration_ms;
	int64_t ranges_total; /* ranges PostgreSQL reported */
	int64_t ranges_read;  /* ranges that differed and were read */
	int64_t rows_read;    /* link rows read from PostgreSQL */
	int64_t links;        /* links seen by the pass (PostgreSQL's count) */
	int64_t events;       /* events the pass recorded */
	int64_t invalid;      /* links skipped for an invalid zaak id */
};

/* 1 and filled when a pass has completed before, 0 on an empty state. */
int store_checkpoint_get(struct zl_store *st, struct zl_checkpoint *cp, struct zl_err *err);
/* [in a transaction] Replaces the checkpoint. */
int store_checkpoint_put(struct zl_store *st, const struct zl_checkpoint *cp, struct zl_err *err);

struct zl_store_counts {
	int64_t links;           /* published links */
	int64_t skipped;         /* links skipped for an invalid zaak id */
	int64_t pending;         /* outbox rows not yet confirmed */
	int64_t failed;          /* pending rows with at least one failed attempt */
	int64_t oldest_pending;  /* record time (UNIX s) of the oldest, 0 if none */
	int64_t published_total; /* confirmed since the state was created */
	char last_error[512];    /* last delivery error, "" if none */
};
int store_counts(struct zl_store *st, struct zl_store_counts *c, struct zl_err *err);
/* Only the outbox part of store_counts(): pending rows and the record time
 * (UNIX s) of the oldest, 0 when none; cheap enough after every batch. */
int store_outbox_summary(struct zl_store *st, int64_t *pending, int64_t *oldest,
                         struct zl_err *err);

/* [in a transaction] Records a gekoppeld, with a fresh id, for every published
 * link that has no gekoppeld pending in the outbox (backfill). Returns the
 * number recorded, -1 on error. */
int64_t store_backfill(struct zl_store *st, const char *source, int64_t now_s, struct zl_err *err);
/*
 * A backfill asked for while another process holds the state: the file
 * "<state>.backfill" beside it. store_request_backfill() leaves one (a
 * request already there stays as it is); the daemon takes it after a pass
 * with store_take_backfill_request(), which removes it and returns 1, or 0
 * when there is none, -1 on error. It is removed before the backfill is
 * recorded: a crash in between loses the request rather than announcing
 * every link twice, which Open Zaak would turn into duplicate records.
 * Neither touches the database; a file that cannot be written or removed
 * is ZL_EX_CANTCREAT. In PostgreSQL the request is a row of the table
 * backfill_request instead, with the same rules.
 */
int store_request_backfill(const struct zl_state_conf *state, struct zl_err *err);
int store_take_backfill_request(struct zl_store *st, struct zl_err *err);

/* Value of a meta key (e.g. "range_size"); 1 found, 0 missing, -1 error. */
int store_meta_get(struct zl_store *st, const char *key, char *buf, size_t size,
                   struct zl_err *err);
int store_meta_put(struct zl_store *st, const char *key, const char *value, struct zl_err *err);

#endif
