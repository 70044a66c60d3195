/* once: one detection pass, then publish everything pending and wait. */
#include "app.h"
#include "commands.h"
#include "log.h"
#include "publisher.h"
#include "relay.h"

#include <stdio.h>
#include <stdlib.h>

struct once_opts {
	bool full; /* read every range, whatever its fingerprint */
};

static int cmd_once(struct zl_conf *conf, const void *opts, int argc, char **argv);

static const struct zl_option once_options[] = {
    ZL_OPT_BOOL(0, "full", struct once_opts, full, "read every range, whatever its fingerprint"),
    ZL_OPT_END(),
};

const struct zl_command zl_cmd_once = {
    .cli = {.name = "once",
            .about = "one detection pass, then publish every pending event",
            .options = once_options},
    .state = ZL_STATE_WRITE,
    .opts_size = sizeof(struct once_opts),
    .run = cmd_once,
};

/* Publishes until the outbox is empty or a batch fails; returns pending. */
static int64_t drain(const struct zl_conf *conf, struct zl_store *st, struct zl_err *err)
{
	struct zl_publisher *pub = publisher_new(&conf->amqp, err);
	struct zl_store_counts c;
	struct zl_relay relay;
	int n = 0;

	if (!pub)
		return -1;
	relay_init(&relay, &conf->amqp, st, pub);
	if (store_outbox_retry_now(st, err) < 0 || store_counts(st, &c, err) < 0) {
		publisher_free(pub);
		return -1;
	}
	if (c.pending > 0 && publisher_connect(pub, err) < 0)
		n = -1;
	while (c.pending > 0 && n >= 0 && (n = relay_step(&relay, err)) > 0)
		;
	if (relay.published > 0)
		zl_info("publish.done", "published=%lld", (long long)relay.published);
	publisher_free(pub);
	if (n < 0) {
		struct zl_err count_err = {0};

		zl_error("publish.failed", "error=\"%s\"", err->msg);
		/* err keeps the publish error, the reason events remain. */
		if (store_counts(st, &c, &count_err) < 0) {
			*err = count_err;
			return -1;
		}
		return c.pending;
	}
	if (store_counts(st, &c, err) < 0)
		return -1;
	return c.pending;
}

static int cmd_once(struct zl_conf *conf, const void *opts, int argc, char **argv)
{
	const struct once_opts *o = opts;
	struct zl_err err = {0};
	struct zl_store *st;
	int rc = ZL_EX_OK;
	int64_t pending;

	(void)argc, (void)argv;
	if (!(st = app_open_store(conf, false, &rc)))
		return rc;
	if (app_pass(conf, st, o->full ? ZL_PASS_FULL : ZL_PASS_NORMAL, &err) < 0)
		rc = app_fail(&err);
	/*
	 * Events recorded earlier may still go out after a pass that failed
	 * on PostgreSQL; not after one that failed on the state file itself,
	 * which the outbox is part of: that error was said once already.
	 */
	if (rc == ZL_EX_CANTCREAT || rc == ZL_EX_IOERR) {
		store_close(st);
		return rc;
	}
	pending = drain(conf, st, &err);
	if (pending < 0) {
		rc = app_fail(&err);
	} else if (pending > 0) {
		fprintf(stderr, "zaaklink: %lld events remain pending: %s\n", (long long)pending,
		        err.msg);
		if (rc == ZL_EX_OK)
			rc = ZL_EX_TEMPFAIL;
	}
	store_close(st);
	return rc;
}
