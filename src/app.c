/* App: error reporting, state opening, one pass and a backfill, shared by the commands. */
#include "app.h"

#include <stdio.h>
#include <string.h>

int app_fail(const struct zl_err *err)
{
	fprintf(stderr, "zaaklink: %s\n", err->msg);
	return err->code ? err->code : ZL_EX_SOFTWARE;
}

struct zl_store *app_open_store(const struct zl_conf *conf, bool read_only, int *exit_code)
{
	struct zl_err err = {0};
	struct zl_store *st = store_open(&conf->state, read_only, &err);

	if (!st)
		*exit_code = app_fail(&err);
	return st;
}

struct zl_source *app_source_new(const struct zl_conf *conf, struct zl_err *err)
{
	return source_new(conf->source.conninfo, conf->source.schema, conf->source.connect_timeout,
	                  conf->source.query_timeout, err);
}

int app_pass(const struct zl_conf *conf, struct zl_store *st, enum zl_pass_mode mode,
             struct zl_err *err)
{
	struct zl_source *src = app_source_new(conf, err);
	struct zl_pass_stats stats;
	int rc;

	if (!src)
		return -1;
	/* Without hooks a pass is never interrupted: 0 or -1. */
	rc = detect_pass(conf, src, st, mode, NULL, &stats, err);
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
