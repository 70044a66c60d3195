/* backfill: record a gekoppeld for every current link (re-announce). */
#include "app.h"
#include "commands.h"
#include "detect.h"
#include "log.h"
#include "source.h"

#include <stdio.h>

static int cmd_backfill(struct zl_conf *conf, const void *opts, int argc, char **argv);

static const struct zl_option backfill_options[] = {ZL_OPT_END()};

const struct zl_command zl_cmd_backfill = {
    .cli = {.name = "backfill",
            .about = "record a gekoppeld for every current link (re-announce)",
            .options = backfill_options},
    .state = ZL_STATE_WRITE,
    .run = cmd_backfill,
};

/*
 * The state is held by another process, most likely the daemon: leave it a
 * request, which it takes after its next pass (see store.h).
 */
static int request_backfill(const struct zl_conf *conf, const struct zl_err *held)
{
	struct zl_err err = { 0 };

	if (store_request_backfill(conf->state.path, &err) < 0)
		return app_fail(&err);
	zl_info("backfill.requested", "state=\"%s\" reason=\"%s\"", conf->state.path, held->msg);
	printf("%s;\nleft the request %s.backfill: that zaaklink run records a gekoppeld for every "
	       "current link after its next pass (log line backfill.recorded)\n",
	       held->msg, conf->state.path);
	return ZL_EX_OK;
}

static int cmd_backfill(struct zl_conf *conf, const void *opts, int argc, char **argv)
{
	struct zl_err err = { 0 };
	struct zl_pass_stats stats;
	struct zl_source *src;
	struct zl_store *st;
	int rc = ZL_EX_OK;
	int64_t n;

	(void)opts, (void)argc, (void)argv;
	if (!(st = store_open(conf->state.path, false, &err)))
		return err.code == ZL_EX_TEMPFAIL ? request_backfill(conf, &err) : app_fail(&err);
	if (!(src = app_source_new(conf))) {
		store_close(st);
		return ZL_EX_SOFTWARE;
	}
	/*
	 * A pass first, so "current" means what the database holds now; links
	 * with a gekoppeld still pending (from that pass or earlier) are not
	 * announced twice: Open Zaak would create a second ZaakObject.
	 */
	if (detect_pass(conf, src, st, ZL_PASS_NORMAL, NULL, &stats, &err) < 0)
		goto fail;
	detect_log(&stats, source_bytes_received(src));
	/* This backfill answers a request left earlier too. */
	if (store_take_backfill_request(st, &err) < 0 ||
	    (n = app_record_backfill(conf, st, &err)) < 0)
		goto fail;
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
