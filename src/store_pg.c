/*
 * Store in PostgreSQL, the connection: opening zaaklink's state in a schema
 * of a PostgreSQL database, one writer at a time, creating and migrating
 * the schema, transactions and the pipeline of queued writes, the meta
 * settings, the backfill request, and the backend's table of operations.
 * The tables' contents belong to store_pg_links.c (links, fingerprints,
 * checkpoint) and store_pg_outbox.c (the outbox).
 *
 * Opening: the connection gets TCP keepalives and a TCP user timeout unless
 * the conninfo sets its own (a state server that vanishes must not leave
 * the daemon waiting for hours); a database in recovery is refused, since
 * a standby cannot take writes; search_path is set to the schema alone, so
 * every statement names its tables unqualified. A writer creates the
 * schema when it is missing (the only right zaaklink needs beyond its own
 * schema is CREATE on the database, and only for that first time), takes a
 * session advisory lock keyed by the schema name (two zaaklinks on one
 * schema would publish every event twice) and applies the migrations it
 * has not yet, each in its own transaction, counting them in the table
 * schema_version. A reader does none of that and writes nothing.
 *
 * A connection found broken between transactions is made again with all of
 * the above, the writer's lock first taken again, before any statement runs
 * on it (spg_reconnect()); inside a transaction the failure is the caller's,
 * who rolls back, and the next transaction reconnects.
 */
#include "store_pg.h"
#include "conf.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Schema migrations, applied in order; schema_version holds how many ran.
 * A migration is never edited once released: a change is a new entry.
 * The tables mean what their SQLite namesakes mean (store_sqlite.c);
 * outbox_staged holds a pass's staged events until it flushes them (rows
 * live only inside a transaction).
 */
static const char *const migrations[] = {
    "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);"
    "CREATE TABLE link ("
    "  id bigint PRIMARY KEY,"
    "  status integer NOT NULL,"
    "  uuid text NOT NULL,"
    "  klantcontact_id bigint NOT NULL,"
    "  objecttype text NOT NULL,"
    "  soort_object_id text NOT NULL,"
    "  object_id text NOT NULL,"
    "  code_register text NOT NULL,"
    "  zaak text NOT NULL,"
    "  link_to text NOT NULL,"
    "  label text NOT NULL);"
    "CREATE TABLE range_fp ("
    "  kind integer NOT NULL,"
    "  range bigint NOT NULL,"
    "  rows bigint NOT NULL,"
    "  fp bigint NOT NULL,"
    "  PRIMARY KEY (kind, range));"
    "CREATE TABLE outbox ("
    "  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  event_id text NOT NULL UNIQUE,"
    "  type text NOT NULL,"
    "  source text NOT NULL,"
    "  subject text NOT NULL,"
    "  link_id bigint NOT NULL,"
    "  time bigint NOT NULL,"
    "  body text NOT NULL,"
    "  attempts integer NOT NULL DEFAULT 0,"
    "  last_error text,"
    "  next_attempt_ms bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX outbox_link ON outbox (link_id, type);"
    "CREATE TABLE outbox_staged ("
    "  ord bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  event_id text NOT NULL,"
    "  type text NOT NULL,"
    "  source text NOT NULL,"
    "  subject text NOT NULL,"
    "  link_id bigint NOT NULL,"
    "  time bigint NOT NULL,"
    "  body text NOT NULL);"
    "CREATE TABLE checkpoint ("
    "  id integer PRIMARY KEY CHECK (id = 1),"
    "  passes bigint NOT NULL,"
    "  started_ms bigint NOT NULL,"
    "  duration_ms bigint NOT NULL,"
    "  ranges_total bigint NOT NULL,"
    "  ranges_read bigint NOT NULL,"
    "  rows_read bigint NOT NULL,"
    "  links bigint NOT NULL,"
    "  events bigint NOT NULL,"
    "  invalid bigint NOT NULL);"
    "CREATE TABLE backfill_request ("
    "  id integer PRIMARY KEY CHECK (id = 1),"
    "  requested_at timestamptz NOT NULL DEFAULT now(),"
    "  pid integer NOT NULL);",
    /* The active instance, recorded by itself when it takes the lock. */
    "CREATE TABLE leader ("
    "  id integer PRIMARY KEY CHECK (id = 1),"
    "  holder text NOT NULL,"
    "  since timestamptz NOT NULL);",
};

static const char *const stmt_sql[SPG_COUNT] = {
    [SPG_RANGE_PUT] = "INSERT INTO range_fp (kind, range, rows, fp) VALUES ($1, $2, $3, $4)"
                      " ON CONFLICT (kind, range) DO UPDATE SET rows = EXCLUDED.rows,"
                      " fp = EXCLUDED.fp",
    [SPG_RANGE_DELETE] = "DELETE FROM range_fp WHERE kind = $1 AND range = $2",
    [SPG_LINK_PUT] = "INSERT INTO link (id, status, uuid, klantcontact_id, objecttype,"
                     " soort_object_id, object_id, code_register, zaak, link_to, label)"
                     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                     " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,"
                     " uuid = EXCLUDED.uuid, klantcontact_id = EXCLUDED.klantcontact_id,"
                     " objecttype = EXCLUDED.objecttype,"
                     " soort_object_id = EXCLUDED.soort_object_id,"
                     " object_id = EXCLUDED.object_id, code_register = EXCLUDED.code_register,"
                     " zaak = EXCLUDED.zaak, link_to = EXCLUDED.link_to, label = EXCLUDED.label",
    [SPG_LINK_DELETE] = "DELETE FROM link WHERE id = $1",
    [SPG_OUTBOX_ADD] = "INSERT INTO outbox (event_id, type, source, subject, link_id, time, body)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [SPG_OUTBOX_STAGE] = "INSERT INTO outbox_staged (event_id, type, source, subject, link_id,"
                         " time, body) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [SPG_OUTBOX_PUT] = "INSERT INTO outbox (event_id, type, source, subject, link_id, time, body,"
                       " attempts, last_error, next_attempt_ms, seq) OVERRIDING SYSTEM VALUE"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
};

static const char *const stmt_name[SPG_COUNT] = {
    "zl_range_put",  "zl_range_delete", "zl_link_put",   "zl_link_delete",
    "zl_outbox_add", "zl_outbox_stage", "zl_outbox_put",
};

/* ---- helpers of store_pg*.c (store_pg.h) ---- */

/* libpq's message without its trailing newline, in buf. */
static const char *pq_reason(const char *msg, char *buf, size_t size)
{
	snprintf(buf, size, "%s", msg && *msg ? msg : "unknown error");
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

const char *spg_db(const struct store_pg *pg)
{
	const char *db = pg->conn ? PQdb(pg->conn) : NULL;

	return db ? db : "?";
}

int spg_fail(struct zl_store *st, const PGresult *res, struct zl_err *err, const char *what)
{
	struct store_pg *pg = st->pg;
	char reason[512];
	const char *msg = res ? PQresultErrorMessage(res) : NULL;

	if ((!msg || !*msg) && pg->conn)
		msg = PQerrorMessage(pg->conn);
	/* The lock went with the connection: run's store is a standby now. */
	if (pg->compete && PQstatus(pg->conn) == CONNECTION_BAD)
		pg->ready = false;
	return zl_err_set(err, ZL_EX_CANTCREAT,
	                  "could not %s in state schema %s of database %s: %s", what, pg->schema,
	                  spg_db(pg), pq_reason(msg, reason, sizeof(reason)));
}

/*
 * Whether a statement may run on the connection, making it again first
 * when it was found broken between transactions (a writer's lock taken
 * again before anything else). run's store never reconnects here: only
 * store_lead() competes for the lock, and until then nothing runs.
 */
static int usable(struct zl_store *st, struct zl_err *err)
{
	struct store_pg *pg = st->pg;

	if (pg->setting_up || pg->in_tx || pg->pipeline ||
	    (pg->ready && PQstatus(pg->conn) != CONNECTION_BAD))
		return 0;
	if (pg->compete) {
		pg->ready = false;
		return zl_err_set(err, ZL_EX_TEMPFAIL,
		                  "state schema %s of database %s: this zaaklink is not the active "
		                  "instance (a standby, or its state connection was lost)",
		                  pg->schema, spg_db(pg));
	}
	return spg_reconnect(st, err);
}

const char *spg_i64(char *buf, int64_t v)
{
	snprintf(buf, 24, "%lld", (long long)v);
	return buf;
}

int64_t spg_col_i64(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

char *spg_text(const PGresult *res, int row, int col)
{
	return strdup(PQgetvalue(res, row, col));
}

int spg_flush(struct zl_store *st, struct zl_err *err)
{
	struct store_pg *pg = st->pg;
	bool synced = false;

	if (!pg->pipeline)
		return 0;
	if (PQpipelineSync(pg->conn) != 1) {
		snprintf(pg->first_error, sizeof(pg->first_error), "%s", PQerrorMessage(pg->conn));
	} else {
		while (!synced) {
			PGresult *r = PQgetResult(pg->conn);

			if (!r) {
				/* Between the answers of two statements; a broken
				 * connection gives nothing more. */
				if (PQstatus(pg->conn) == CONNECTION_BAD)
					break;
				continue;
			}
			switch (PQresultStatus(r)) {
			case PGRES_PIPELINE_SYNC:
				synced = true;
				break;
			case PGRES_COMMAND_OK:
			case PGRES_TUPLES_OK:
			case PGRES_PIPELINE_ABORTED:
				break;
			default:
				if (!pg->first_error[0])
					snprintf(pg->first_error, sizeof(pg->first_error), "%s",
					         PQresultErrorMessage(r));
				break;
			}
			PQclear(r);
		}
		if (!synced && !pg->first_error[0])
			snprintf(pg->first_error, sizeof(pg->first_error), "%s",
			         PQerrorMessage(pg->conn));
	}
	pg->queued = 0;
	pg->last_ms = zl_now_ms();
	if (synced)
		PQexitPipelineMode(pg->conn);
	pg->pipeline = !synced;
	/* A broken connection answers nothing more: out of the pipeline, and
	 * for run's store, no longer the active one (the lock went with it). */
	if (!synced && PQstatus(pg->conn) == CONNECTION_BAD) {
		pg->pipeline = false;
		if (pg->compete)
			pg->ready = false;
	}
	if (pg->first_error[0]) {
		char reason[512];

		zl_err_set(err, ZL_EX_CANTCREAT,
		           "could not write in state schema %s of database %s: %s", pg->schema,
		           spg_db(pg), pq_reason(pg->first_error, reason, sizeof(reason)));
		pg->first_error[0] = '\0';
		return -1;
	}
	return 0;
}

int spg_queue(struct zl_store *st, enum spg_stmt which, int n, const char *const *params,
              const char *what, struct zl_err *err)
{
	struct store_pg *pg = st->pg;

	if (usable(st, err) < 0)
		return -1;
	if (!pg->pipeline) {
		if (PQenterPipelineMode(pg->conn) != 1)
			return spg_fail(st, NULL, err, what);
		pg->pipeline = true;
	}
	if (PQsendQueryPrepared(pg->conn, stmt_name[which], n, params, NULL, NULL, 0) != 1) {
		struct zl_err ignored = {0};

		spg_fail(st, NULL, err, what);
		spg_flush(st, &ignored);
		return -1;
	}
	if (++pg->queued >= SPG_BATCH || !pg->in_tx)
		return spg_flush(st, err);
	return 0;
}

PGresult *spg_query(struct zl_store *st, const char *sql, int n, const char *const *params,
                    const char *what, struct zl_err *err)
{
	PGresult *res;

	if (usable(st, err) < 0)
		return NULL;
	if (spg_flush(st, err) < 0)
		return NULL;
	st->pg->last_ms = zl_now_ms();
	/* Without parameters, the simple protocol: a migration is many statements. */
	res = n == 0 ? PQexec(st->pg->conn, sql)
	             : PQexecParams(st->pg->conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	spg_fail(st, res, err, what);
	PQclear(res);
	return NULL;
}

int spg_exec(struct zl_store *st, const char *sql, int n, const char *const *params,
             const char *what, struct zl_err *err)
{
	PGresult *res = spg_query(st, sql, n, params, what, err);

	PQclear(res);
	return res ? 0 : -1;
}

int64_t spg_int(struct zl_store *st, const char *sql, int n, const char *const *params,
                const char *what, struct zl_err *err)
{
	PGresult *res = spg_query(st, sql, n, params, what, err);
	int64_t v;

	if (!res)
		return -1;
	v = PQntuples(res) > 0 ? spg_col_i64(res, 0, 0) : 0;
	PQclear(res);
	return v;
}

/* ---- opening ---- */

/* The server's notices ("relation already exists, skipping") are no
 * business of stderr: a debug line at most. */
static void notice(void *arg, const char *message)
{
	char reason[512], q[600];

	(void)arg;
	zl_debug("state.notice", "message=\"%s\"",
	         zl_log_quote(pq_reason(message, reason, sizeof(reason)), q, sizeof(q)));
}

/*
 * Connects with keepalives that notice a vanished server within about a
 * minute; the conninfo's own settings (processed last) override them.
 */
PGconn *spg_connect(const struct zl_state_conf *state, struct zl_err *err)
{
	const char *keys[] = {"connect_timeout",     "keepalives",       "keepalives_idle",
	                      "keepalives_interval", "keepalives_count", "tcp_user_timeout",
	                      "application_name",    "dbname",           NULL};
	char app[32];
	const char *values[] = {"10", "1", "10", "5", "3", "30000", app, state->conninfo, NULL};
	PGconn *conn;
	char reason[512];

	/* The pid in application_name: a second writer names the first. */
	snprintf(app, sizeof(app), "zaaklink pid %ld", (long)getpid());
	conn = PQconnectdbParams(keys, values, 1);

	if (!conn) {
		zl_err_set(err, ZL_EX_SOFTWARE,
		           "out of memory while connecting to the state database");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		char *where = conf_mask_conninfo(state->conninfo);

		zl_err_set(err, ZL_EX_CANTCREAT, "could not connect to the state database (%s): %s",
		           where ? where : "?",
		           pq_reason(PQerrorMessage(conn), reason, sizeof(reason)));
		free(where);
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, notice, NULL);
	return conn;
}

/* Prepares the per-row statements of a writer. */
static int prepare_all(struct zl_store *st, struct zl_err *err)
{
	for (int i = 0; i < SPG_COUNT; i++) {
		PGresult *res = PQprepare(st->pg->conn, stmt_name[i], stmt_sql[i], 0, NULL);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

		if (!ok)
			spg_fail(st, res, err, "prepare a statement");
		PQclear(res);
		if (!ok)
			return -1;
	}
	return 0;
}

/* Creates the schema when it is missing: the only statement that needs a
 * right beyond the schema's own (CREATE on the database). */
static int create_schema(struct zl_store *st, struct zl_err *err)
{
	const char *p[] = {st->pg->schema};
	int64_t found =
	    spg_int(st, "SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1", 1, p,
	            "look for the schema", err);
	char *ident, *sql;
	int rc;

	if (found != 0)
		return found < 0 ? -1 : 0;
	ident = PQescapeIdentifier(st->pg->conn, st->pg->schema, strlen(st->pg->schema));
	sql = ident ? malloc(strlen(ident) + sizeof("CREATE SCHEMA IF NOT EXISTS ")) : NULL;
	if (!sql) {
		PQfreemem(ident);
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while creating state schema %s", st->pg->schema);
	}
	sprintf(sql, "CREATE SCHEMA IF NOT EXISTS %s", ident);
	rc = spg_exec(st, sql, 0, NULL, "create the schema", err);
	free(sql);
	PQfreemem(ident);
	if (rc == 0)
		zl_info("state.schema_created", "schema=%s database=%s", st->pg->schema,
		        spg_db(st->pg));
	return rc;
}

static int migrate(struct zl_store *st, struct zl_err *err)
{
	int64_t version;
	char buf[24];

	if (spg_exec(st, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)", 0,
	             NULL, "create the version table", err) < 0 ||
	    (version = spg_int(st, "SELECT max(version) FROM schema_version", 0, NULL,
	                       "read the schema version", err)) < 0)
		return -1;
	if (version > (int64_t)ZL_ARRAY_LEN(migrations))
		return zl_err_set(
		    err, ZL_EX_CANTCREAT,
		    "state schema %s of database %s has schema version %lld, newer than "
		    "this zaaklink knows (%d): refusing to touch it",
		    st->pg->schema, spg_db(st->pg), (long long)version,
		    (int)ZL_ARRAY_LEN(migrations));
	for (int64_t v = version; v < (int64_t)ZL_ARRAY_LEN(migrations); v++) {
		const char *p[] = {spg_i64(buf, v + 1)};

		if (spg_exec(st, "BEGIN", 0, NULL, "begin a migration", err) < 0)
			return -1;
		if (spg_exec(st, migrations[v], 0, NULL, "migrate the schema", err) < 0 ||
		    spg_exec(st, "DELETE FROM schema_version", 0, NULL, "record the schema version",
		             err) < 0 ||
		    spg_exec(st, "INSERT INTO schema_version (version) VALUES ($1)", 1, p,
		             "record the schema version", err) < 0 ||
		    spg_exec(st, "COMMIT", 0, NULL, "commit a migration", err) < 0) {
			PQclear(PQexec(st->pg->conn, "ROLLBACK"));
			return -1;
		}
		zl_info("state.migrated", "schema=%s database=%s version=%lld", st->pg->schema,
		        spg_db(st->pg), (long long)(v + 1));
	}
	return 0;
}

static const struct store_ops spg_ops;
static void spg_close(struct zl_store *st);

int spg_session_setup(struct zl_store *st, struct zl_err *err)
{
	struct store_pg *pg = st->pg;
	const char *p[] = {pg->schema};
	int64_t v = spg_int(st, "SELECT pg_catalog.pg_is_in_recovery()::int", 0, NULL,
	                    "ask whether the database is in recovery", err);
	int got;

	if (v < 0)
		return -1;
	if (v == 1 && !pg->read_only)
		return zl_err_set(
		    err, ZL_EX_CANTCREAT,
		    "state database %s is in recovery (a standby): zaaklink keeps its "
		    "state only where it can write, on the primary",
		    spg_db(pg));
	if (spg_exec(
	        st,
	        "SELECT pg_catalog.set_config('search_path', pg_catalog.quote_ident($1), false)", 1,
	        p, "set the search path", err) < 0)
		return -1;
	if (pg->read_only)
		return spg_exec(st, "SET default_transaction_read_only = on", 0, NULL,
		                "open the state read-only", err) < 0 ||
		               spg_exec(st, "SELECT 1 FROM checkpoint LIMIT 1", 0, NULL, "read",
		                        err) < 0
		           ? -1
		           : 0;
	/* A standby's session is dropped when silent too: a frozen standby
	 * must not hold a connection for ever. */
	if (pg->compete && spg_session_timeouts(st, err) < 0)
		return -1;
	/* The lock before anything is created: two starting at once must not
	 * race to create the schema. */
	if ((got = spg_take_lock(st, err)) <= 0)
		return got;
	if (create_schema(st, err) < 0 || migrate(st, err) < 0 || prepare_all(st, err) < 0 ||
	    spg_record_holder(st, err) < 0)
		return -1;
	pg->ready = true;
	return 0;
}

int spg_reconnect(struct zl_store *st, struct zl_err *err)
{
	struct store_pg *pg = st->pg;
	struct zl_state_conf sc = {.conninfo = pg->conninfo, .schema = pg->schema};
	PGconn *conn = spg_connect(&sc, err);
	int rc;

	if (!conn)
		return -1;
	PQfinish(pg->conn);
	pg->conn = conn;
	pg->pipeline = pg->in_tx = false;
	pg->queued = 0;
	pg->first_error[0] = '\0';
	pg->ready = false;
	pg->setting_up = true;
	rc = spg_session_setup(st, err);
	/* Not ready (no lock): nothing runs on it but another try. */
	if (rc == 0 && !pg->ready)
		rc = spg_lock_busy(st, err);
	pg->setting_up = false;
	if (rc == 0)
		zl_info("state.reconnected", "schema=%s database=%s", pg->schema, spg_db(pg));
	return rc;
}

struct zl_store *pg_store_open(const struct zl_state_conf *state, enum spg_mode mode,
                               struct zl_err *err)
{
	struct zl_store *st = calloc(1, sizeof(*st));
	const char *schema = state->schema ? state->schema : "zaaklink";

	if (!st || !(st->pg = calloc(1, sizeof(*st->pg))) || !(st->pg->schema = strdup(schema)) ||
	    !(st->pg->conninfo = strdup(state->conninfo))) {
		if (st && st->pg)
			free(st->pg->schema);
		if (st)
			free(st->pg);
		free(st);
		zl_err_set(err, ZL_EX_SOFTWARE, "out of memory while opening the state database");
		return NULL;
	}
	st->ops = &spg_ops;
	st->lock_fd = -1;
	st->pg->read_only = mode == SPG_READ;
	st->pg->compete = mode == SPG_COMPETE;
	st->pg->session_timeout_ms = (int)(state->session_timeout * 1000);
	st->pg->setting_up = true;
	if (!(st->pg->conn = spg_connect(state, err)) || spg_session_setup(st, err) < 0 ||
	    (!st->pg->ready && !st->pg->compete && !st->pg->read_only &&
	     spg_lock_busy(st, err) < 0)) {
		spg_close(st);
		return NULL;
	}
	st->pg->setting_up = false;
	if (st->pg->read_only)
		st->pg->ready = true;
	return st;
}

static void spg_close(struct zl_store *st)
{
	if (!st)
		return;
	if (st->pg->conn) {
		struct zl_err ignored = {0};

		spg_flush(st, &ignored);
		PQfinish(st->pg->conn);
	}
	free(st->pg->schema);
	free(st->pg->conninfo);
	free(st->pg);
	free(st);
}

int spg_begin(struct zl_store *st, struct zl_err *err)
{
	/* libpq learns that a connection broke only when it uses it: a BEGIN
	 * that found it so is safe to send again on a new one. */
	if (spg_exec(st, "BEGIN", 0, NULL, "begin a transaction", err) < 0 &&
	    (PQstatus(st->pg->conn) != CONNECTION_BAD || st->pg->setting_up ||
	     spg_exec(st, "BEGIN", 0, NULL, "begin a transaction", err) < 0))
		return -1;
	st->pg->in_tx = true;
	return 0;
}

int spg_commit(struct zl_store *st, struct zl_err *err)
{
	if (spg_flush(st, err) < 0) {
		spg_rollback(st);
		return -1;
	}
	/* A failed transaction answers COMMIT with ROLLBACK, and no error. */
	if (PQtransactionStatus(st->pg->conn) != PQTRANS_INTRANS) {
		zl_err_set(err, ZL_EX_CANTCREAT,
		           "could not commit in state schema %s of database %s: the transaction "
		           "failed before",
		           st->pg->schema, spg_db(st->pg));
		spg_rollback(st);
		return -1;
	}
	st->pg->in_tx = false;
	if (spg_exec(st, "COMMIT", 0, NULL, "commit", err) < 0) {
		spg_rollback(st);
		return -1;
	}
	return 0;
}

void spg_rollback(struct zl_store *st)
{
	struct zl_err ignored = {0};

	spg_flush(st, &ignored);
	st->pg->in_tx = false;
	if (PQtransactionStatus(st->pg->conn) != PQTRANS_IDLE)
		PQclear(PQexec(st->pg->conn, "ROLLBACK"));
}

/* ---- backfill requests ---- */

int pg_store_request_backfill(const struct zl_state_conf *state, struct zl_err *err)
{
	struct zl_store st = {.ops = &spg_ops};
	struct store_pg pg = {.schema = state->schema ? state->schema : "zaaklink", .ready = true};
	char pid[24];
	const char *p[] = {pg.schema, spg_i64(pid, getpid())};
	int rc;

	st.pg = &pg;
	if (!(pg.conn = spg_connect(state, err)))
		return -1;
	rc = spg_exec(
	    &st, "SELECT pg_catalog.set_config('search_path', pg_catalog.quote_ident($1), false)",
	    1, p, "set the search path", err);
	if (rc == 0)
		rc = spg_exec(&st,
		              "INSERT INTO backfill_request (id, pid) VALUES (1, $1)"
		              " ON CONFLICT (id) DO NOTHING",
		              1, p + 1, "request a backfill", err);
	PQfinish(pg.conn);
	return rc;
}

int pg_store_exists(const struct zl_state_conf *state, struct zl_err *err)
{
	struct zl_store st = {.ops = &spg_ops};
	struct store_pg pg = {.schema = state->schema ? state->schema : "zaaklink", .ready = true};
	const char *p[] = {pg.schema};
	int64_t n;

	st.pg = &pg;
	if (!(pg.conn = spg_connect(state, err)))
		return -1;
	n = spg_int(&st,
	            "SELECT count(*) FROM pg_catalog.pg_tables"
	            " WHERE schemaname = $1 AND tablename = 'checkpoint'",
	            1, p, "look for the state", err);
	PQfinish(pg.conn);
	return n < 0 ? -1 : n > 0;
}

const char store_database_id_sql[] =
    "SELECT (SELECT system_identifier FROM pg_catalog.pg_control_system())::text || '/' ||"
    " pg_catalog.current_database()";

int store_database_id(struct zl_store *st, char *buf, size_t size, struct zl_err *err)
{
	PGresult *res;

	bool was;

	buf[0] = '\0';
	if (!st->pg)
		return 0;
	/* A read that a standby may make on its connection too. */
	was = st->pg->setting_up;
	st->pg->setting_up = st->pg->conn != NULL;
	res = spg_query(st, store_database_id_sql, 0, NULL, "identify the database", err);
	st->pg->setting_up = was;
	if (!res)
		return -1;
	if (PQntuples(res) > 0)
		snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static int spg_take_backfill_request(struct zl_store *st, struct zl_err *err)
{
	PGresult *res = spg_query(st, "DELETE FROM backfill_request RETURNING id", 0, NULL,
	                          "take the backfill request", err);
	int n;

	if (!res)
		return -1;
	n = PQntuples(res) > 0 ? 1 : 0;
	PQclear(res);
	return n;
}

/* ---- meta ---- */

static int spg_meta_get(struct zl_store *st, const char *key, char *buf, size_t size,
                        struct zl_err *err)
{
	const char *p[] = {key};
	PGresult *res =
	    spg_query(st, "SELECT value FROM meta WHERE key = $1", 1, p, "read setting", err);
	int n;

	if (!res)
		return -1;
	n = PQntuples(res) > 0 ? 1 : 0;
	if (n)
		snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

static int spg_meta_put(struct zl_store *st, const char *key, const char *value, struct zl_err *err)
{
	const char *p[] = {key, value};

	return spg_exec(st,
	                "INSERT INTO meta (key, value) VALUES ($1, $2)"
	                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
	                2, p, "write setting", err);
}

static const struct store_ops spg_ops = {
    .close = spg_close,
    .begin = spg_begin,
    .commit = spg_commit,
    .rollback = spg_rollback,
    .ranges_each = spg_ranges_each,
    .range_put = spg_range_put,
    .range_delete = spg_range_delete,
    .ranges_clear = spg_ranges_clear,
    .ranges_cover_links = spg_ranges_cover_links,
    .links_range = spg_links_range,
    .links_next = spg_links_next,
    .links_free = spg_links_free,
    .links_ids = spg_links_ids,
    .link_put = spg_link_put,
    .link_delete = spg_link_delete,
    .outbox_add = spg_outbox_add,
    .outbox_stage = spg_outbox_stage,
    .outbox_flush_staged = spg_outbox_flush_staged,
    .outbox_due = spg_outbox_due,
    .outbox_each = spg_outbox_each,
    .outbox_put = spg_outbox_put,
    .outbox_high_water = spg_outbox_high_water,
    .outbox_raise_high_water = spg_outbox_raise_high_water,
    .outbox_delivered = spg_outbox_delivered,
    .outbox_failed = spg_outbox_failed,
    .outbox_retry_now = spg_outbox_retry_now,
    .checkpoint_get = spg_checkpoint_get,
    .checkpoint_put = spg_checkpoint_put,
    .counts = spg_counts,
    .outbox_summary = spg_outbox_summary,
    .backfill = spg_backfill,
    .take_backfill_request = spg_take_backfill_request,
    .meta_get = spg_meta_get,
    .meta_put = spg_meta_put,
    .lead = spg_lead,
    .heartbeat = spg_heartbeat,
    .leader_info = spg_leader_info,
    .keepalive = spg_keepalive,
};
