/*
 * Source: reads Open Klant's database through libpq, SELECT only.
 *
 * A pass reads in one REPEATABLE READ READ ONLY transaction, so the range
 * fingerprints and the rows read after them come from one snapshot; this
 * works on a hot-standby replica and needs SELECT on the two tables only.
 * The tables are read from one schema (source.schema), named with it in
 * every statement, and the transaction pins search_path to pg_catalog: no
 * object in another schema can take the place of a table, a function or an
 * operator zaaklink uses.
 *
 * Errors: functions returning int fail with -1 (pointers with NULL) and err
 * filled. Anything PostgreSQL answers or fails to answer carries
 * ZL_EX_UNAVAILABLE: the server down, refused credentials, a lost
 * connection, a statement timeout, and also a table that is not found or
 * not readable, which a connection cannot tell from an outage (the message
 * says which); after a lost connection the next source_connect() or
 * source_begin() connects again. Running out of memory is ZL_EX_SOFTWARE.
 * No function treats an empty result as an error.
 *
 * Transactions: source_begin() opens the pass's snapshot and source_end()
 * closes it; source_ranges_changed() and the row cursors run inside it and
 * must be called between the two. source_check_access() opens and closes
 * its own.
 */
#ifndef ZL_SOURCE_H
#define ZL_SOURCE_H

#include "common.h"
#include "event.h"
#include "store.h"

struct zl_source;

/* Does not connect; fails only when out of memory (ZL_EX_SOFTWARE). */
struct zl_source *source_new(const char *conninfo, const char *schema, int connect_timeout,
                             int query_timeout, struct zl_err *err);
void source_free(struct zl_source *src);

/*
 * Connects when not connected (or the connection broke), and logs
 * source.connected with the host and whether TLS is in use. The first time
 * a connection is over the network without encryption that verifies the
 * server, it logs the warning source.insecure (once per source). Codes:
 * ZL_EX_UNAVAILABLE when the server cannot be reached, refuses the
 * connection or is older than PostgreSQL 14; ZL_EX_CONFIG when
 * source.schema cannot be quoted as an identifier.
 */
int source_connect(struct zl_source *src, struct zl_err *err);
bool source_connected(const struct zl_source *src);
/*
 * How exposed a connection is, judged by the connection made: host is
 * PQhost() (a socket directory starts with '/', an abstract socket with
 * '@'), hostaddr PQhostaddr() (the numeric address connected to, empty for
 * a socket), ssl and gss whether TLS or GSSAPI encryption is in use, sslmode
 * the connection's sslmode. Local means a UNIX socket or a loopback address
 * (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104); a host name is never taken as
 * local by itself, only the address it led to.
 */
enum zl_pg_transport {
	ZL_PG_LOCAL,      /* UNIX socket or loopback */
	ZL_PG_VERIFIED,   /* network; TLS verify-ca or verify-full, or GSSAPI */
	ZL_PG_UNVERIFIED, /* network; TLS that does not verify the server */
	ZL_PG_PLAIN,      /* network; not encrypted */
};
enum zl_pg_transport source_judge_transport(const char *host, const char *hostaddr, bool ssl,
                                            const char *sslmode, bool gss);

/* Checks SELECT access to both tables (check-config --connect), in a
 * snapshot of its own; a missing table or a missing grant is
 * ZL_EX_UNAVAILABLE, like an outage, with PostgreSQL's reason. */
int source_check_access(struct zl_source *src, struct zl_err *err);

/* Connects when needed and opens the pass's REPEATABLE READ READ ONLY
 * snapshot; a transaction left open is ended first. */
int source_begin(struct zl_source *src, struct zl_err *err);
/* Ends the read-only transaction (there is nothing to commit). */
void source_end(struct zl_source *src);

/* What PostgreSQL counted while comparing fingerprints of one kind. */
struct zl_fp_totals {
	int64_t ranges; /* non-empty ranges */
	int64_t rows;   /* rows in them (for ZL_FP_LINKS: links) */
};

/*
 * Compares PostgreSQL's fingerprints of one kind with old (the stored ones,
 * any order) and calls fn, in range order, for every range whose
 * fingerprint differs: with its new count and hash, or with rows = 0 when
 * the range is now empty. fn returns 0 to go on, non-zero to stop (passed
 * back, err left as fn filled it). An old entry with rows = -1 differs from
 * anything.
 */
int source_ranges_changed(struct zl_source *src, enum zl_fp_kind kind, int range_size,
                          const struct zl_range_fp *old, size_t n_old,
                          int (*fn)(const struct zl_range_fp *now, void *arg), void *arg,
                          struct zl_fp_totals *totals, struct zl_err *err);

/* The pass's snapshot: its xmin and xmax (64-bit transaction ids), and
 * which files hold the two tables (oids and file numbers, as text). */
struct zl_source_snapshot {
	int64_t xmin, xmax;
	char tables[96];
};
int source_snapshot(struct zl_source *src, struct zl_source_snapshot *snap, struct zl_err *err);

/*
 * Counts the rows of one kind (for ZL_FP_LINKS: the link rows) and lists,
 * ascending and once each in *ranges (malloc'd, n entries), the ranges that hold a row
 * version written by a transaction no older than since_xmin, the xmin of
 * an earlier snapshot (source.c "Written since a snapshot"); that
 * snapshot must be less than 2^30 transactions back. A range not listed
 * holds a subset of the rows it held at that snapshot.
 */
int source_ranges_written(struct zl_source *src, enum zl_fp_kind kind, int range_size,
                          int64_t since_xmin, int64_t *rows, int64_t **ranges, size_t *n,
                          struct zl_err *err);
/*
 * Calls fn, in range order, with the count and hash of each of the n
 * ranges (rows = 0 for an empty one), as source_ranges_changed() computes
 * them, each read through the primary key.
 */
int source_ranges_hash(struct zl_source *src, enum zl_fp_kind kind, int range_size,
                       const int64_t *ranges, size_t n,
                       int (*fn)(const struct zl_range_fp *now, void *arg), void *arg,
                       struct zl_err *err);

/* Streams the link rows with lo <= id <= hi in id order, in batches. With
 * since_xmin (as in source_ranges_written()), a row that neither it nor
 * its klantcontact was written since comes as its id alone, marked
 * unchanged; with id_lists too, PostgreSQL sends such ids as lists, a few
 * bytes each instead of a row each, but only once it has read every row
 * (for a few ranges, not for a long run of them). */
struct zl_row_cursor;
struct zl_row_cursor *source_rows(struct zl_source *src, int64_t lo, int64_t hi,
                                  const int64_t *since_xmin, bool id_lists, struct zl_err *err);
/* 1 with *row filled (valid until the next call), 0 at the end, -1 on error. */
int source_rows_next(struct zl_row_cursor *cur, const struct zl_row **row, struct zl_err *err);
void source_rows_free(struct zl_row_cursor *cur);
/* Streams, in id order, the link rows whose klantcontact_id lies in one of
 * the disjoint ranges lo[i] <= klantcontact_id <= hi[i]; with since_xmin
 * (as in source_ranges_written()), only those whose klantcontact was
 * written since. */
struct zl_row_cursor *source_contact_rows(struct zl_source *src, const int64_t *lo,
                                          const int64_t *hi, size_t n, const int64_t *since_xmin,
                                          struct zl_err *err);

/* The TLS protocol of the connection ("TLSv1.3"), NULL without TLS or connection. */
const char *source_tls(const struct zl_source *src);

/* Bytes received from the server since source_new(), over every connection
 * (for pass.done and zaaklink_source_received_bytes_total). */
int64_t source_bytes_received(const struct zl_source *src);

#endif
