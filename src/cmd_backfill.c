/* backfill: record a gekoppeld for every current link (re-announce). */
#include "app.h"
#include "commands.h"
#include "detect.h"
#include "log.h"
#include "source.h"

#include <stdio.h>

int cmd_backfill(struct zl_conf *conf, int argc, char **argv)
{
	static const char *const opts[] = { NULL };
	struct zl_err err = { 0 };
	struct zl_pass_stats stats;
	struct zl_source *src;
	struct zl_store *st;
	int rc = ZL_EX_OK;
	int64_t n;

	if (app_flags(argc, argv, opts, NULL) < 0)
		return ZL_EX_USAGE;
	if ((rc = app_open_pass(conf, &st, &src)) != ZL_EX_OK)
		return rc;
	/*
	 * A pass first, so "current" means what the database holds now; links
	 * with a gekoppeld still pending (from that pass or earlier) are not
	 * announced twice: Open Zaak would create a second ZaakObject.
	 */
	if (detect_pass(conf, src, st, ZL_PASS_NORMAL, NULL, &stats, &err) < 0)
		goto fail;
	detect_log(&stats, source_bytes_received(src));
	if (store_begin(st, &err) < 0)
		goto fail;
	n = store_backfill(st, conf->events.source, zl_wall_s(), &err);
	if (n < 0 || store_commit(st, &err) < 0) {
		store_rollback(st);
		goto fail;
	}
	zl_info("backfill.recorded", "events=%lld", (long long)n);
	printf("recorded %lld gekoppeld events; `zaaklink run` or `zaaklink once` publishes them\n",
	       (long long)n);
	source_free(src);
	store_close(st);
	return ZL_EX_OK;
fail:
	rc = app_fail(&err);
	source_free(src);
	store_close(st);
	return rc;
}
