/*
 * Store backends: what store.c (the interface of store.h) shares with the
 * two places zaaklink's state can live, an SQLite file (store_sqlite*.c)
 * and a schema in PostgreSQL (store_pg*.c), and nothing else may use.
 *
 * Callers see one struct zl_store; its ops table names the backend that
 * opened it, and store.c forwards every call of store.h to it. Each backend
 * keeps its own fields: the SQLite ones in struct zl_store itself (they
 * were its only fields before PostgreSQL), the PostgreSQL ones behind pg.
 * A link iterator carries what either needs to walk a range of links.
 */
#ifndef ZL_STORE_BACKEND_H
#define ZL_STORE_BACKEND_H

#include "store.h"

#include <sqlite3.h>

/* The columns of a stored link, in the order both backends' row readers
 * take them (the same in the SQLite file and the PostgreSQL schema). */
#define ZL_LINK_COLUMNS                                                                            \
	"id, status, uuid, klantcontact_id, objecttype, soort_object_id, object_id,"               \
	" code_register, zaak, link_to, label"

/* The statements a pass runs per row, prepared once (SQLite backend). */
enum sdb_stmt {
	ST_RANGE_PUT,
	ST_RANGE_DELETE,
	ST_LINK_PUT,
	ST_LINK_DELETE,
	ST_LINK_GET,
	ST_OUTBOX_ADD,
	ST_OUTBOX_STAGE,
	ST_COUNT
};

/* One entry per function of store.h that works on an open store; the
 * meaning of each is the one store.h documents. */
struct store_ops {
	void (*close)(struct zl_store *st);
	int (*begin)(struct zl_store *st, struct zl_err *err);
	int (*commit)(struct zl_store *st, struct zl_err *err);
	void (*rollback)(struct zl_store *st);
	int (*ranges_each)(struct zl_store *st, enum zl_fp_kind kind,
	                   int (*fn)(const struct zl_range_fp *r, void *arg), void *arg,
	                   struct zl_err *err);
	int (*range_put)(struct zl_store *st, const struct zl_range_fp *r, struct zl_err *err);
	int (*range_delete)(struct zl_store *st, enum zl_fp_kind kind, int64_t range,
	                    struct zl_err *err);
	int (*ranges_clear)(struct zl_store *st, struct zl_err *err);
	int (*ranges_cover_links)(struct zl_store *st, int range_size, struct zl_err *err);
	struct zl_link_iter *(*links_range)(struct zl_store *st, int64_t lo, int64_t hi,
	                                    struct zl_err *err);
	int (*links_next)(struct zl_link_iter *it, const struct zl_link **link, struct zl_err *err);
	void (*links_free)(struct zl_link_iter *it);
	struct zl_link_iter *(*links_ids)(struct zl_store *st, const int64_t *ids, size_t n,
	                                  struct zl_err *err);
	int (*link_put)(struct zl_store *st, const struct zl_link *link, struct zl_err *err);
	int (*link_delete)(struct zl_store *st, int64_t id, struct zl_err *err);
	int (*outbox_add)(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
	                  struct zl_err *err);
	int (*outbox_stage)(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
	                    struct zl_err *err);
	int (*outbox_flush_staged)(struct zl_store *st, struct zl_err *err);
	int (*outbox_due)(struct zl_store *st, int64_t now_ms, struct zl_outbox_row *rows, int max,
	                  struct zl_err *err);
	int (*outbox_each)(struct zl_store *st,
	                   int (*fn)(const struct zl_outbox_full *r, void *arg), void *arg,
	                   struct zl_err *err);
	int (*outbox_put)(struct zl_store *st, const struct zl_outbox_full *r, struct zl_err *err);
	int (*outbox_high_water)(struct zl_store *st, int64_t *seq, struct zl_err *err);
	int (*outbox_raise_high_water)(struct zl_store *st, int64_t seq, struct zl_err *err);
	int (*outbox_delivered)(struct zl_store *st, int64_t upto, struct zl_err *err);
	int (*outbox_failed)(struct zl_store *st, int64_t from, int64_t to, const char *error,
	                     int64_t next_ms, struct zl_err *err);
	int (*outbox_retry_now)(struct zl_store *st, struct zl_err *err);
	int (*checkpoint_get)(struct zl_store *st, struct zl_checkpoint *cp, struct zl_err *err);
	int (*checkpoint_put)(struct zl_store *st, const struct zl_checkpoint *cp,
	                      struct zl_err *err);
	int (*counts)(struct zl_store *st, struct zl_store_counts *c, struct zl_err *err);
	int (*outbox_summary)(struct zl_store *st, int64_t *pending, int64_t *oldest,
	                      struct zl_err *err);
	int64_t (*backfill)(struct zl_store *st, const char *source, int64_t now_s,
	                    struct zl_err *err);
	int (*take_backfill_request)(struct zl_store *st, struct zl_err *err);
	int (*meta_get)(struct zl_store *st, const char *key, char *buf, size_t size,
	                struct zl_err *err);
	int (*meta_put)(struct zl_store *st, const char *key, const char *value,
	                struct zl_err *err);
	/* Leadership: NULL for a backend without standbys (SQLite). */
	int (*lead)(struct zl_store *st, struct zl_err *err);
	int (*heartbeat)(struct zl_store *st, int timeout_ms, struct zl_err *err);
	int (*leader_info)(struct zl_store *st, struct zl_leader_info *info, struct zl_err *err);
	int (*keepalive)(struct zl_store *st, struct zl_err *err);
};

struct store_pg; /* store_pg.h */

struct zl_store {
	const struct store_ops *ops;
	/* SQLite backend */
	sqlite3 *db;
	char *path;
	int lock_fd; /* flock'ed "<path>.lock" of a writer, or -1 */
	sqlite3_stmt *stmt[ST_COUNT];
	/* PostgreSQL backend */
	struct store_pg *pg;
};

struct pg_result; /* libpq's PGresult */

struct zl_link_iter {
	struct zl_store *st;
	struct zl_link link;   /* the current one, owned here */
	sqlite3_stmt *stmt;    /* SQLite: the open query */
	const int64_t *ids;    /* SQLite, store_links_ids(): the ids to look up */
	size_t n_ids, next_id; /* how many, and the next one to look up */
	struct pg_result *res; /* PostgreSQL: the range's rows, all read at once */
	int row;               /* PostgreSQL: the next row of res */
};

/* The backends' entry points (store_sqlite.c, store_pg.c). */
struct zl_store *sq_open(const char *path, bool read_only, struct zl_err *err);
int sq_request_backfill(const char *state_path, struct zl_err *err);
/* How a PostgreSQL state is opened: read-only, as the only writer (another
 * holder of the lock fails the open), or competing (run: a held lock
 * leaves a standby). */
enum spg_mode { SPG_READ, SPG_WRITE, SPG_COMPETE };
struct zl_store *pg_store_open(const struct zl_state_conf *state, enum spg_mode mode,
                               struct zl_err *err);
int pg_store_request_backfill(const struct zl_state_conf *state, struct zl_err *err);
int pg_store_exists(const struct zl_state_conf *state, struct zl_err *err);

#endif
