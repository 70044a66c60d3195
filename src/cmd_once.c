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

/* The publisher of once: made when the first events are to go out, during
 * the pass (a chunk it committed) or after it. */
struct once_pub {
	const struct zl_conf *conf;
	struct zl_store *st;
	struct zl_publisher *pub;
	struct zl_relay relay;
	bool failed; /* nothing more is tried; err says why */
	bool broker; /* the failure was the broker's (a connect or a batch) */
	struct zl_err err;
};

static int give_up(struct once_pub *o, bool broker)
{
	o->failed = true;
	o->broker = broker;
	return -1;
}

/* Publishes until the outbox is empty or something fails: 0, or -1 with
 * o->err. */
static int publish(struct once_pub *o)
{
	struct zl_store_counts c;
	int n;

	if (o->failed)
		return -1;
	if (!o->pub) {
		if (!(o->pub = publisher_new(&o->conf->amqp, &o->err)))
			return give_up(o, false);
		relay_init(&o->relay, &o->conf->amqp, o->st, o->pub);
		if (store_outbox_retry_now(o->st, &o->err) < 0)
			return give_up(o, false);
	}
	if (store_counts(o->st, &c, &o->err) < 0)
		return give_up(o, false);
	if (c.pending == 0)
		return 0;
	if (!publisher_connected(o->pub) && publisher_connect(o->pub, &o->err) < 0)
		return give_up(o, true);
	while ((n = relay_step(&o->relay, &o->err)) > 0)
		;
	if (n < 0)
		return give_up(o, true);
	return 0;
}

/* A chunk of a long pass is committed: its events go out before the next. */
static void chunk_committed(void *arg)
{
	publish(arg);
}

/* Publishes what is pending after the pass; returns what remains pending,
 * or -1 when the publisher or the state failed (err). */
static int64_t drain(struct once_pub *o, struct zl_err *err)
{
	struct zl_store_counts c;
	int rc = publish(o);

	if (o->pub && o->relay.published > 0)
		zl_info("publish.done", "published=%lld", (long long)o->relay.published);
	publisher_free(o->pub);
	o->pub = NULL;
	if (rc < 0 && !o->broker) {
		*err = o->err;
		return -1;
	}
	if (rc < 0)
		zl_error("publish.failed", "error=\"%s\"", o->err.msg);
	if (store_counts(o->st, &c, err) < 0)
		return -1;
	/* err keeps the publish error, the reason events remain. */
	if (rc < 0)
		*err = o->err;
	return c.pending;
}

static int cmd_once(struct zl_conf *conf, const void *opts, int argc, char **argv)
{
	const struct once_opts *o = opts;
	struct zl_err err = {0};
	struct zl_store *st;
	struct once_pub op = {.conf = conf};
	const struct zl_pass_hooks hooks = {.committed = chunk_committed, .arg = &op};
	int rc = ZL_EX_OK;
	int64_t pending;

	(void)argc, (void)argv;
	if (!(st = app_open_store(conf, false, &rc)))
		return rc;
	op.st = st;
	if (app_pass(conf, st, o->full ? ZL_PASS_FULL : ZL_PASS_NORMAL, &hooks, &err) < 0)
		rc = app_fail(&err);
	/*
	 * Events recorded earlier may still go out after a pass that failed
	 * on PostgreSQL; not after one that failed on the state file itself,
	 * which the outbox is part of: that error was said once already.
	 */
	if (rc == ZL_EX_CANTCREAT || rc == ZL_EX_IOERR) {
		publisher_free(op.pub);
		store_close(st);
		return rc;
	}
	pending = drain(&op, &err);
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
