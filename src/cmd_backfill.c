/* backfill: record a gekoppeld for every current link (re-announce). */
#include "app.h"
#include "commands.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>

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
	struct zl_err err = {0};
	char *where;
	char q[1024], r[1024];

	if (store_request_backfill(&conf->state, &err) < 0)
		return app_fail(&err);
	if (!(where = store_describe(&conf->state))) {
		zl_err_set(&err, ZL_EX_SOFTWARE, "out of memory while describing the state");
		return app_fail(&err);
	}
	zl_info("backfill.requested", "state=\"%s\" reason=\"%s\"",
	        zl_log_quote(where, q, sizeof(q)), zl_log_quote(held->msg, r, sizeof(r)));
	if (conf->state.conninfo)
		printf(
		    "%s;\nleft the request %s.backfill_request (%s): that zaaklink run records a "
		    "gekoppeld for every current link after its next pass (log line "
		    "backfill.recorded)\n",
		    held->msg, conf->state.schema, where);
	else
		printf(
		    "%s;\nleft the request %s.backfill: that zaaklink run records a gekoppeld for "
		    "every current link after its next pass (log line backfill.recorded)\n",
		    held->msg, conf->state.path);
	free(where);
	return ZL_EX_OK;
}

static int cmd_backfill(struct zl_conf *conf, const void *opts, int argc, char **argv)
{
	struct zl_err err = {0};
	struct zl_store *st;
	int rc = ZL_EX_OK;
	int64_t n;

	(void)opts, (void)argc, (void)argv;
	if (!(st = store_open(&conf->state, false, &err)))
		return err.code == ZL_EX_TEMPFAIL ? request_backfill(conf, &err) : app_fail(&err);
	/*
	 * A pass first, so "current" means what the database holds now; links
	 * with a gekoppeld still pending (from that pass or earlier) are not
	 * announced twice: Open Zaak would create a second ZaakObject. This
	 * backfill answers a request left earlier too.
	 */
	if (app_pass(conf, st, ZL_PASS_NORMAL, NULL, &err) < 0 ||
	    store_take_backfill_request(st, &err) < 0 ||
	    (n = app_record_backfill(conf, st, &err)) < 0) {
		rc = app_fail(&err);
	} else {
		zl_info("backfill.recorded", "events=%lld", (long long)n);
		printf(
		    "recorded %lld gekoppeld events; `zaaklink run` or `zaaklink once` publishes "
		    "them\n",
		    (long long)n);
	}
	store_close(st);
	return rc;
}
