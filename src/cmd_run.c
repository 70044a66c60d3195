/* run: the daemon loop: poll, record and publish until SIGTERM or SIGINT. */
#include "config.h"

#include "app.h"
#include "commands.h"
#include "detect.h"
#include "log.h"
#include "publisher.h"
#include "relay.h"
#include "retry.h"
#include "source.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Set by the signal handler, read by the loop: the one thing a handler may touch. */
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

/*
 * An outage (of PostgreSQL or of RabbitMQ) is logged once when it starts
 * and once when it ends, not once per retry; retries back off.
 */
struct outage {
	const char *what;        /* "source" or "amqp" */
	int failures;            /* consecutive */
	int64_t since_ms;
	int64_t next_try_ms;     /* monotonic */
};

static void outage_fail(struct outage *o, const struct zl_err *err, double max_backoff,
			int64_t min_wait_ms)
{
	int64_t wait = relay_backoff_ms(o->failures + 1, max_backoff);

	if (o->failures++ == 0) {
		o->since_ms = zl_now_ms();
		zl_error(o->what[0] == 's' ? "source.unavailable" : "amqp.unavailable",
			 "error=\"%s\"", err->msg);
	} else {
		zl_debug("retry.failed", "what=%s attempt=%d error=\"%s\"", o->what, o->failures,
			 err->msg);
	}
	o->next_try_ms = zl_now_ms() + (wait > min_wait_ms ? wait : min_wait_ms);
}

static void outage_ok(struct outage *o)
{
	if (o->failures > 0)
		zl_info(o->what[0] == 's' ? "source.recovered" : "amqp.recovered",
			"down_ms=%lld attempts=%d", (long long)(zl_now_ms() - o->since_ms),
			o->failures);
	o->failures = 0;
	o->next_try_ms = 0;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART; waits are at most 1 s, so a stop is seen within 1 s. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* Sleeps up to ms, servicing the broker connection when there is one. */
static void wait_for(struct zl_publisher *pub, int64_t ms, struct outage *amqp)
{
	struct zl_err err = { 0 };

	if (ms <= 0 || stop_signal)
		return;
	if (ms > 1000)
		ms = 1000;
	if (publisher_connected(pub)) {
		/* The publisher logs the lost connection itself. */
		if (publisher_service(pub, (int)ms, &err) < 0)
			amqp->next_try_ms = 0;
	} else {
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

		nanosleep(&ts, NULL);
	}
}

struct daemon {
	struct zl_conf *conf;
	struct zl_store *st;
	struct zl_source *src;
	struct zl_publisher *pub;
	struct zl_retry *retry; /* NULL without amqp.queues: nothing dead-letters to it */
	struct zl_relay relay;
	struct outage source, amqp;
	int64_t next_pass_ms;
};

static void do_pass(struct daemon *d)
{
	struct zl_pass_stats stats;
	struct zl_err err = { 0 };
	int64_t poll_ms = (int64_t)(d->conf->source.poll_interval * 1000);
	int64_t start = zl_now_ms();

	d->next_pass_ms = start + poll_ms;
	if (detect_pass(d->conf, d->src, d->st, ZL_PASS_NORMAL, &stats, &err) < 0) {
		if (err.code == ZL_EX_UNAVAILABLE) {
			outage_fail(&d->source, &err, d->conf->amqp.max_backoff, poll_ms);
			d->next_pass_ms = d->source.next_try_ms;
		} else {
			/* The state file or memory: logged every time, it needs a person. */
			zl_error("pass.failed", "error=\"%s\"", err.msg);
		}
		return;
	}
	outage_ok(&d->source);
	detect_log(&stats, source_bytes_received(d->src));
}

static void do_connect(struct daemon *d)
{
	struct zl_err err = { 0 };

	if (publisher_connect(d->pub, &err) < 0) {
		outage_fail(&d->amqp, &err, d->conf->amqp.max_backoff, 0);
		return;
	}
	outage_ok(&d->amqp);
	/* Whatever waited for the broker is due now, in order. */
	if (store_outbox_retry_now(d->st, &err) < 0)
		zl_error("state.failed", "error=\"%s\"", err.msg);
	d->relay.failures = 0;
}

/* Publishes batches until the outbox is drained, a pass is due, or a stop. */
static void do_publish(struct daemon *d)
{
	struct zl_err err = { 0 };
	int n;

	do {
		n = relay_step(&d->relay, &err);
		if (n < 0) {
			zl_warn("publish.failed", "error=\"%s\" failures=%d", err.msg,
				d->relay.failures);
			if (!publisher_connected(d->pub))
				d->amqp.next_try_ms = zl_now_ms() + relay_backoff_ms(
						d->relay.failures, d->conf->amqp.max_backoff);
		}
	} while (n == d->conf->amqp.batch_size && !stop_signal && zl_now_ms() < d->next_pass_ms);
}

/* Milliseconds until the next thing the loop has to do. */
static int64_t next_deadline(const struct daemon *d)
{
	int64_t now = zl_now_ms();
	int64_t until = d->next_pass_ms - now;

	if (!publisher_connected(d->pub) && d->amqp.next_try_ms - now < until)
		until = d->amqp.next_try_ms - now;
	/* Rows waiting out a backoff become due within the loop's 1 s tick. */
	return until;
}

int cmd_run(struct zl_conf *conf, int argc, char **argv)
{
	static const char *const opts[] = { NULL };
	struct daemon d = { .conf = conf, .source = { .what = "source" }, .amqp = { .what = "amqp" } };
	int rc = ZL_EX_OK;

	if (app_flags(argc, argv, opts, NULL) < 0)
		return ZL_EX_USAGE;
	/* First, so a stop that comes while starting is still a clean stop. */
	install_signals();
	if (!(d.st = app_open_store(conf, false, &rc)))
		return rc;
	d.src = source_new(conf->source.conninfo, conf->source.connect_timeout,
			   conf->source.query_timeout);
	d.pub = publisher_new(&conf->amqp);
	if (conf->amqp.n_queues > 0)
		d.retry = retry_new(conf);
	if (!d.src || !d.pub || (conf->amqp.n_queues > 0 && !d.retry)) {
		rc = ZL_EX_SOFTWARE;
		goto out;
	}
	relay_init(&d.relay, &conf->amqp, d.st, d.pub);
	zl_info("daemon.started", "version=%s state=%s poll_interval=%.3g", PACKAGE_VERSION,
		conf->state.path, conf->source.poll_interval);

	while (!stop_signal) {
		if (zl_now_ms() >= d.next_pass_ms)
			do_pass(&d);
		if (!stop_signal && !publisher_connected(d.pub) && zl_now_ms() >= d.amqp.next_try_ms)
			do_connect(&d);
		if (!stop_signal && publisher_connected(d.pub) && !publisher_blocked(d.pub))
			do_publish(&d);
		if (!stop_signal && d.retry)
			retry_step(d.retry, 200);
		wait_for(d.pub, next_deadline(&d), &d.amqp);
	}
	zl_info("daemon.stopping", "signal=%d published=%lld", (int)stop_signal,
		(long long)d.relay.published);
out:
	retry_free(d.retry);
	publisher_free(d.pub);
	source_free(d.src);
	store_close(d.st);
	return rc;
}
