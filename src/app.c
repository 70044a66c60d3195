/* App: error reporting and state opening shared by the commands. */
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
	struct zl_err err = { 0 };
	struct zl_store *st = store_open(conf->state.path, read_only, &err);

	if (!st)
		*exit_code = app_fail(&err);
	return st;
}

struct zl_source *app_source_new(const struct zl_conf *conf)
{
	struct zl_source *src = source_new(conf->source.conninfo, conf->source.schema,
	                                   conf->source.connect_timeout,
	                                   conf->source.query_timeout);

	if (!src)
		fprintf(stderr, "zaaklink: could not prepare the source connection: out of memory\n");
	return src;
}

int app_open_pass(const struct zl_conf *conf, struct zl_store **st, struct zl_source **src)
{
	int rc = ZL_EX_OK;

	if (!(*st = app_open_store(conf, false, &rc)))
		return rc;
	if (!(*src = app_source_new(conf))) {
		store_close(*st);
		*st = NULL;
		return ZL_EX_SOFTWARE;
	}
	return ZL_EX_OK;
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
