/*
 * Store in PostgreSQL, leadership: which of several `zaaklink run` sharing
 * one state schema is the active instance (store.h, "leadership").
 *
 * The writer's lock is a session advisory lock keyed by the schema name,
 * held on the connection that makes every state write. Nothing else
 * decides: the holder of the lock is the active instance, and when its
 * session ends (process killed, connection reset, or dropped by the server
 * for silence) the lock goes with it and a standby's next try takes it.
 *
 * Silence is bounded on both sides. The server drops a session of run's
 * that has sent nothing for state.session_timeout, in or out of a
 * transaction (idle_session_timeout, idle_in_transaction_session_timeout,
 * set on the session itself): a frozen leader or one behind a silent
 * partition loses the lock within that bound and, when it wakes, finds its
 * connection gone and can commit nothing. The active instance itself sends
 * a heartbeat every second and gives the connection up when no answer
 * comes within half the bound, so it stops publishing before a standby
 * can take over.
 */
#include "store_pg.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The key of the lock: two deployments in one database use two schemas. */
#define LOCK_KEY "pg_catalog.hashtext('zaaklink'), pg_catalog.hashtext($1)"
/* The rows of pg_locks (as l) that are that lock, granted: the two-int4
 * form of an advisory lock has objsubid 2. */
#define LOCK_HELD                                                                                  \
	" l.locktype = 'advisory' AND l.granted"                                                   \
	" AND l.classid = pg_catalog.hashtext('zaaklink')::oid"                                    \
	" AND l.objid = pg_catalog.hashtext($1)::oid AND l.objsubid = 2"

int spg_take_lock(struct zl_store *st, struct zl_err *err)
{
	const char *p[] = {st->pg->schema};
	int64_t got = spg_int(st, "SELECT pg_catalog.pg_try_advisory_lock(" LOCK_KEY ")::int", 1, p,
	                      "take the writer's lock", err);

	return got < 0 ? -1 : got == 1;
}

int spg_lock_busy(struct zl_store *st, struct zl_err *err)
{
	struct zl_err ignored = {0};
	const char *p[] = {st->pg->schema};
	PGresult *res =
	    spg_query(st,
	              "SELECT substring(a.application_name FROM 'pid ([0-9]+)')"
	              " FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a USING (pid)"
	              " WHERE" LOCK_HELD,
	              1, p, "look for the writer", &ignored);
	const char *pid = res && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)
	                      ? PQgetvalue(res, 0, 0)
	                      : "unknown";

	zl_err_set(err, ZL_EX_TEMPFAIL,
	           "state schema %s of database %s is in use by another zaaklink process "
	           "(pid %s)",
	           st->pg->schema, spg_db(st->pg), pid);
	PQclear(res);
	return -1;
}

int spg_record_holder(struct zl_store *st, struct zl_err *err)
{
	char host[256], holder[320];
	const char *p[] = {holder};

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(holder, sizeof(holder), "%s:%ld", host, (long)getpid());
	return spg_exec(st,
	                "INSERT INTO leader (id, holder, since) VALUES (1, $1, now())"
	                " ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder,"
	                " since = EXCLUDED.since",
	                1, p, "record the active instance", err);
}

int spg_session_timeouts(struct zl_store *st, struct zl_err *err)
{
	char ms[24];
	const char *p[] = {spg_i64(ms, st->pg->session_timeout_ms)};

	/* idle_session_timeout came with PostgreSQL 14; before it, a session
	 * silent outside a transaction is found by keepalives alone. */
	if (PQserverVersion(st->pg->conn) < 140000)
		return spg_exec(st,
		                "SELECT pg_catalog.set_config("
		                "'idle_in_transaction_session_timeout', $1, false)",
		                1, p, "set the session timeouts", err);
	/* tcp_user_timeout: the server gives up sending to a host that
	 * vanished instead of retransmitting for many minutes. */
	return spg_exec(st,
	                "SELECT pg_catalog.set_config('idle_session_timeout', $1, false),"
	                " pg_catalog.set_config('idle_in_transaction_session_timeout', $1, false),"
	                " pg_catalog.set_config('tcp_user_timeout', $1, false)",
	                1, p, "set the session timeouts", err);
}

/* Gives the connection up: whatever it held, the server releases. */
static void drop(struct store_pg *pg)
{
	PQfinish(pg->conn);
	pg->conn = NULL;
	pg->ready = pg->pipeline = pg->in_tx = false;
	pg->queued = 0;
	pg->first_error[0] = '\0';
}

int spg_lead(struct zl_store *st, struct zl_err *err)
{
	struct store_pg *pg = st->pg;
	bool reused = pg->conn && PQstatus(pg->conn) == CONNECTION_OK;
	int rc;

	if (pg->ready && reused)
		return 1;
	if (!reused) {
		struct zl_state_conf sc = {.conninfo = pg->conninfo, .schema = pg->schema};
		PGconn *conn = spg_connect(&sc, err);

		if (!conn)
			return -1;
		drop(pg);
		pg->conn = conn;
	}
	pg->setting_up = true;
	rc = spg_session_setup(st, err);
	pg->setting_up = false;
	if (rc < 0) {
		/* Whatever failed half-way, the next try starts afresh; a
		 * standby's connection the server ended meanwhile (idle, a
		 * restart) is no outage: try a new one at once. */
		drop(pg);
		return reused ? spg_lead(st, err) : -1;
	}
	return pg->ready ? 1 : 0;
}

int spg_keepalive(struct zl_store *st, struct zl_err *err)
{
	struct store_pg *pg = st->pg;

	/* Queued writes are sent by the flush spg_exec() starts with. */
	if (!pg->compete || !pg->ready || zl_now_ms() - pg->last_ms < ZL_KEEPALIVE_MS)
		return 0;
	return spg_exec(st, "SELECT 1", 0, NULL, "keep the session alive", err);
}

/* Waits up to timeout_ms for every answer of what was sent: 0 with all
 * read and none failed, -1 with why in buf. Never blocks in libpq: results
 * are taken only while PQisBusy() says one is complete. */
static int await(PGconn *conn, int timeout_ms, char *buf, size_t size)
{
	int64_t deadline = zl_now_ms() + timeout_ms;
	bool failed = false;

	for (;;) {
		PGresult *res;
		int64_t left;
		struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};

		if (PQconsumeInput(conn) != 1) {
			snprintf(buf, size, "%s", PQerrorMessage(conn));
			return -1;
		}
		while (!PQisBusy(conn)) {
			if (!(res = PQgetResult(conn)))
				return failed ? -1 : 0;
			if (PQresultStatus(res) != PGRES_TUPLES_OK && !failed) {
				snprintf(buf, size, "%s", PQresultErrorMessage(res));
				failed = true;
			}
			PQclear(res);
		}
		if ((left = deadline - zl_now_ms()) <= 0) {
			snprintf(buf, size, "no answer within %d ms", timeout_ms);
			return -1;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
			snprintf(buf, size, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

int spg_heartbeat(struct zl_store *st, int timeout_ms, struct zl_err *err)
{
	struct store_pg *pg = st->pg;
	char why[512] = "";

	/* In the middle of a transaction the caller's statements are the
	 * heartbeat; a broken connection is lost whatever it was doing. */
	if ((pg->in_tx || pg->pipeline) && PQstatus(pg->conn) == CONNECTION_OK)
		return 1;
	/* A standby keeps its connection for the next try. */
	if (!pg->ready && pg->conn && PQstatus(pg->conn) == CONNECTION_OK)
		return zl_err_set(err, ZL_EX_TEMPFAIL, "state schema %s: a standby", pg->schema) +
		       1;
	if (!pg->ready || PQstatus(pg->conn) != CONNECTION_OK)
		snprintf(why, sizeof(why), "the connection is gone");
	else if (PQsendQuery(pg->conn, "SELECT 1") != 1)
		snprintf(why, sizeof(why), "%s", PQerrorMessage(pg->conn));
	else if (await(pg->conn, timeout_ms, why, sizeof(why)) == 0)
		return 1;
	why[strcspn(why, "\n")] = '\0';
	zl_err_set(err, ZL_EX_UNAVAILABLE, "state schema %s of database %s: %s", pg->schema,
	           spg_db(pg), why[0] ? why : "the connection is gone");
	drop(pg);
	return 0;
}

/* Reads who holds the lock and what the holder recorded. */
static int read_info(struct zl_store *st, struct zl_leader_info *info, struct zl_err *err)
{
	const char *p[] = {st->pg->schema};
	PGresult *res =
	    spg_query(st,
	              "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE" LOCK_HELD ")::int,"
	              " pg_catalog.to_regclass(pg_catalog.quote_ident($1) || '.leader')"
	              "  IS NOT NULL",
	              1, p, "look for the active instance", err);
	bool table;

	if (!res)
		return -1;
	info->held = spg_col_i64(res, 0, 0) == 1;
	table = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	PQclear(res);
	if (!table)
		return 0;
	if (!(res = spg_query(st,
	                      "SELECT holder, pg_catalog.to_char(since AT TIME ZONE 'UTC',"
	                      " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM leader",
	                      0, NULL, "read the active instance", err)))
		return -1;
	if (PQntuples(res) > 0) {
		snprintf(info->holder, sizeof(info->holder), "%s", PQgetvalue(res, 0, 0));
		snprintf(info->since, sizeof(info->since), "%s", PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	return 0;
}

int spg_leader_info(struct zl_store *st, struct zl_leader_info *info, struct zl_err *err)
{
	struct store_pg *pg = st->pg;
	bool was = pg->setting_up;
	int rc;

	info->self = pg->ready && !pg->read_only;
	if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK)
		return zl_err_set(err, ZL_EX_UNAVAILABLE,
		                  "state schema %s: not connected to the state database",
		                  pg->schema);
	/* A standby asks on its own connection, which is not set up for
	 * writes: these reads need nothing of that. */
	pg->setting_up = true;
	rc = read_info(st, info, err);
	pg->setting_up = was;
	return rc;
}
