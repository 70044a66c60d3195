/* App: error reporting, state opening, one pass and a backfill, shared by the commands. */
#include "app.h"
#include "log.h"

#include <libpq-fe.h>

#include <stdio.h>
#include <string.h>

int app_fail(const struct zl_err *err)
{
	fprintf(stderr, "zaaklink: %s\n", err->msg);
	return err->code ? err->code : ZL_EX_SOFTWARE;
}

/*
 * A PostgreSQL state in Open Klant's own database works, but changes what
 * zaaklink does there: say so once at start. The source is asked with a
 * connection of its own; when it cannot be reached the pass will say why.
 */
static void warn_shared_database(const struct zl_conf *conf, struct zl_store *st)
{
	const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	char timeout[16], state_id[256], source_id[256] = "";
	const char *values[] = {timeout, "zaaklink", conf->source.conninfo, NULL};
	struct zl_err err = {0};
	PGconn *conn;
	PGresult *res;

	if (!conf->state.conninfo || store_database_id(st, state_id, sizeof(state_id), &err) < 0 ||
	    !state_id[0])
		return;
	snprintf(timeout, sizeof(timeout), "%d", conf->source.connect_timeout);
	conn = PQconnectdbParams(keys, values, 1);
	if (conn && PQstatus(conn) == CONNECTION_OK) {
		res = PQexec(conn, store_database_id_sql);
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
			snprintf(source_id, sizeof(source_id), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	PQfinish(conn);
	if (strcmp(state_id, source_id) == 0)
		zl_warn(
		    "state.shared_database",
		    "schema=%s note=\"the state is in Open Klant's own database: zaaklink writes "
		    "there (it is no longer SELECT-only), and a read replica of it cannot hold "
		    "the state\"",
		    conf->state.schema);
}

struct zl_store *app_open_store(const struct zl_conf *conf, bool read_only, int *exit_code)
{
	struct zl_err err = {0};
	struct zl_store *st = store_open(&conf->state, read_only, &err);

	if (!st)
		*exit_code = app_fail(&err);
	else if (!read_only)
		warn_shared_database(conf, st);
	return st;
}

struct zl_store *app_open_daemon_store(const struct zl_conf *conf, int *exit_code)
{
	struct zl_err err = {0};
	struct zl_store *st = store_open_compete(&conf->state, &err);

	if (!st)
		*exit_code = app_fail(&err);
	else
		warn_shared_database(conf, st);
	return st;
}

struct zl_source *app_source_new(const struct zl_conf *conf, struct zl_err *err)
{
	return source_new(conf->source.conninfo, conf->source.schema, conf->source.connect_timeout,
	                  conf->source.query_timeout, err);
}

int app_pass(const struct zl_conf *conf, struct zl_store *st, enum zl_pass_mode mode,
             const struct zl_pass_hooks *hooks, struct zl_err *err)
{
	struct zl_source *src = app_source_new(conf, err);
	struct zl_pass_stats stats;
	int rc;

	if (!src)
		return -1;
	/* Without a stop hook a pass is never interrupted: 0 or -1. */
	rc = detect_pass(conf, src, st, mode, hooks, &stats, err);
	if (rc == 0)
		detect_log(&stats, source_bytes_received(src));
	source_free(src);
	return rc == 0 ? 0 : -1;
}

int64_t app_record_backfill(const struct zl_conf *conf, struct zl_store *st, struct zl_err *err)
{
	int64_t n;

	if (store_begin(st, err) < 0)
		return -1;
	n = store_backfill(st, conf->events.source, zl_wall_s(), err);
	if (n < 0 || store_commit(st, err) < 0) {
		store_rollback(st);
		return -1;
	}
	return n;
}
