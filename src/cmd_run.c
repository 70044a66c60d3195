/*
 * run: the daemon loop: poll, record and publish until SIGTERM or SIGINT;
 * SIGHUP reloads the configuration where that is safe.
 */
#include "config.h"

#include "app.h"
#include "commands.h"
#include "daemon.h"
#include "detect.h"
#include "event.h"
#include "leader.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "notify.h"
#include "outage.h"
#include "publisher.h"
#include "relay.h"
#include "retry.h"
#include "source.h"
#include "topology.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmd_run(struct zl_conf *conf, const void *opts, int argc, char **argv);

static const struct zl_option run_options[] = {ZL_OPT_END()};

const struct zl_command zl_cmd_run = {
    .cli = {.name = "run",
            .about = "poll, record and publish until SIGTERM/SIGINT (the daemon)",
            .options = run_options},
    .state = ZL_STATE_WRITE,
    .run = cmd_run,
};

/* An outage of PostgreSQL or of RabbitMQ: logged once when it starts and once when it ends. */
static const struct zl_outage_events source_events = {
    .unavailable = "source.unavailable",
    .recovered = "source.recovered",
    .reconnect_failed = "source.reconnect_failed",
};
static const struct zl_outage_events amqp_events = {
    .unavailable = "amqp.unavailable",
    .recovered = "amqp.recovered",
    .reconnect_failed = "amqp.reconnect_failed",
};

/* Sleeps up to ms, servicing the broker connection when there is one. */
static void wait_for(struct zl_publisher *pub, int64_t ms, struct zl_outage *amqp)
{
	struct zl_err err = {0};

	if (ms <= 0 || daemon_stop_signal || daemon_reload_asked)
		return;
	if (ms > 1000)
		ms = 1000;
	if (publisher_connected(pub)) {
		/* The publisher logs the lost connection itself. */
		if (publisher_service(pub, (int)ms, &err) < 0)
			amqp->next_try_ms = 0;
	} else {
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

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
	struct zl_outage source, amqp;
	int64_t next_pass_ms;
	struct zl_notify notify;
	bool ready;                   /* READY=1 sent */
	struct zl_metrics metrics;    /* this loop's figures; the server gets copies */
	struct zl_metrics_http *http; /* NULL without metrics.listen */
	struct zl_topology names;     /* for the unrouted and parking queue depths */
	int64_t next_depth_ms;        /* monotonic */
	struct zl_leader leader;      /* active, or a standby of a PostgreSQL state */
	bool active;                  /* as the loop last saw it */
};

/* How often the depths of the unrouted and parking queues are read. */
#define DEPTH_EVERY_MS 15000

/*
 * The figures of the state file, for the metrics. The number of links is a
 * count over every link, so it is read only when a pass changed some; the
 * outbox is read after every pass and batch (it is small, or draining).
 */
static void read_store_figures(struct daemon *d, bool links)
{
	struct zl_metrics *m = &d->metrics;
	struct zl_store_counts c;
	struct zl_err err = {0};
	int rc;

	if (!d->http || !d->active)
		return;
	if (links) {
		if ((rc = store_counts(d->st, &c, &err)) == 0) {
			m->links = c.links;
			m->outbox_pending = c.pending;
			m->outbox_oldest_s = c.oldest_pending;
		}
	} else {
		rc = store_outbox_summary(d->st, &m->outbox_pending, &m->outbox_oldest_s, &err);
	}
	if (rc < 0)
		zl_warn("metrics.state_failed", "error=\"%s\"", err.msg);
}

/* Depth of one queue for the metrics: 0 when it does not exist, -1 unknown. */
static int64_t queue_depth(struct daemon *d, const char *queue)
{
	struct zl_err err = {0};
	int64_t n;

	if (!publisher_connected(d->pub))
		return -1;
	n = publisher_queue_depth(d->pub, queue, &err);
	if (n < 0 && err.code == ZL_EX_DATAERR)
		return 0;
	return n;
}

/* Reads the depths of the unrouted and parking queues now and then, on the
 * publishing connection between batches (never while blocked: the broker
 * would not answer). */
static void read_depths(struct daemon *d)
{
	int64_t n;

	if (!d->http || !d->active || !publisher_connected(d->pub) || publisher_blocked(d->pub) ||
	    zl_now_ms() < d->next_depth_ms)
		return;
	d->next_depth_ms = zl_now_ms() + DEPTH_EVERY_MS;
	if ((n = queue_depth(d, d->names.unrouted)) >= 0)
		d->metrics.unrouted = n;
	if ((n = queue_depth(d, d->names.dlq)) >= 0)
		d->metrics.parked = n;
}

/* Gathers the modules' counters into the figures and hands a copy to the
 * HTTP server. */
static void share_figures(struct daemon *d)
{
	struct zl_metrics *m = &d->metrics;
	const struct zl_publisher_counts *pc = publisher_counts(d->pub);

	if (!d->http)
		return;
	m->poll_interval = d->conf->source.poll_interval;
	m->published[ZL_GEKOPPELD] = d->relay.published_by_type[ZL_GEKOPPELD];
	m->published[ZL_ONTKOPPELD] = d->relay.published_by_type[ZL_ONTKOPPELD];
	m->publish_retries = d->relay.retried;
	m->nacked = pc->nacked;
	m->returned = pc->returned;
	m->standby = !d->active;
	snprintf(m->state_error, sizeof(m->state_error), "%s", d->leader.error);
	m->broker_connected = publisher_connected(d->pub);
	m->broker_blocked = publisher_blocked(d->pub);
	if (m->broker_connected)
		m->broker_error[0] = '\0';
	for (int i = 0; d->retry && i < m->n_tiers; i++)
		m->moves[i] = retry_moves(d->retry, i);
	if (d->retry)
		m->parked_moves = retry_moves(d->retry, -1);
	metrics_http_update(d->http, m);
}

/* Between the ranges of a pass: the service manager's watchdog, and the
 * state server, which drops a session silent for state.session_timeout. */
static void pass_alive(void *arg)
{
	struct daemon *d = arg;

	notify_watchdog(&d->notify);
	store_keepalive(d->st);
}

/* While the publisher waits for the broker: the state session, likewise. */
static void publisher_tick(void *arg)
{
	struct daemon *d = arg;

	store_keepalive(d->st);
}

/* A backfill that `zaaklink backfill` asked for while this daemon held the
 * state; true when it recorded events. */
static bool take_backfill_request(struct daemon *d)
{
	struct zl_err err = {0};
	int64_t n;
	int rc = store_take_backfill_request(d->st, &err);

	if (rc == 0)
		return false;
	if (rc < 0 || (n = app_record_backfill(d->conf, d->st, &err)) < 0) {
		zl_error("backfill.failed", "error=\"%s\" hint=\"run zaaklink backfill again\"",
		         err.msg);
		return false;
	}
	zl_info("backfill.recorded", "events=%lld requested=true", (long long)n);
	return n > 0;
}

static void do_connect(struct daemon *d)
{
	struct zl_err err = {0};

	if (publisher_connect(d->pub, &err) < 0) {
		snprintf(d->metrics.broker_error, sizeof(d->metrics.broker_error), "%s", err.msg);
		outage_fail(&d->amqp, zl_now_ms(), d->conf->amqp.max_backoff, 0, NULL, &err);
		notify_status(&d->notify, "RabbitMQ unavailable: %s", err.msg);
		return;
	}
	outage_ok(&d->amqp, zl_now_ms(), NULL);
	/* Whatever waited for the broker is due now, in order. */
	if (store_outbox_retry_now(d->st, &err) < 0)
		zl_error("state.failed", "error=\"%s\"", err.msg);
	d->relay.failures = 0;
}

/* Publishes batches until the outbox is drained, a pass is due (unless
 * drain), or a stop. */
static void do_publish(struct daemon *d, bool drain)
{
	struct zl_err err = {0};
	bool worked = false;
	int n;

	do {
		n = relay_step(&d->relay, &err);
		worked = worked || n != 0;
		if (n < 0) {
			zl_warn("publish.failed", "error=\"%s\" failures=%d", err.msg,
			        d->relay.failures);
			leader_check_soon(&d->leader);
			if (!publisher_connected(d->pub))
				d->amqp.next_try_ms =
				    zl_now_ms() +
				    zl_backoff_ms(d->relay.failures, d->conf->amqp.max_backoff);
		}
		notify_watchdog(&d->notify);
	} while (n == d->conf->amqp.batch_size && !daemon_stop_signal && !daemon_reload_asked &&
	         (drain || zl_now_ms() < d->next_pass_ms));
	if (worked)
		read_store_figures(d, false);
}

/* A long pass committed a chunk: its events go out before the next one is
 * read, when the broker can take them. */
static void pass_committed(void *arg)
{
	struct daemon *d = arg;

	if (!daemon_stop_signal && !publisher_connected(d->pub) &&
	    zl_now_ms() >= d->amqp.next_try_ms)
		do_connect(d);
	if (!daemon_stop_signal && publisher_connected(d->pub) && !publisher_blocked(d->pub))
		do_publish(d, true);
}

static void do_pass(struct daemon *d)
{
	/* A stop ends a pass between two ranges; the next start goes on from
	 * its last chunk. */
	const struct zl_pass_hooks hooks = {.stop = &daemon_stop_signal,
	                                    .alive = pass_alive,
	                                    .committed = pass_committed,
	                                    .arg = d};
	struct zl_pass_stats stats;
	struct zl_err err = {0};
	int64_t poll_ms = (int64_t)(d->conf->source.poll_interval * 1000);
	int64_t start = zl_now_ms();
	bool backfilled;
	int rc;

	d->next_pass_ms = start + poll_ms;
	/* Ready once the first pass starts, whatever its outcome: an outage of
	 * PostgreSQL is something the running daemon waits out, not a failed
	 * start. A long initial pass must not run into TimeoutStartSec= either. */
	if (!d->ready) {
		notify_ready(&d->notify, "first pass started");
		d->ready = true;
	}
	rc = detect_pass(d->conf, d->src, d->st, ZL_PASS_NORMAL, &hooks, &stats, &err);
	if (rc == ZL_PASS_INTERRUPTED) {
		zl_info("pass.interrupted",
		        "signal=%d ranges_done=%lld ranges=%lld chunks=%lld duration_ms=%lld "
		        "reason=\"stopping; the next start goes on from the last chunk committed\"",
		        (int)daemon_stop_signal, (long long)stats.ranges_diffed,
		        (long long)stats.ranges_total, (long long)stats.chunks,
		        (long long)stats.duration_ms);
		return;
	}
	if (rc < 0) {
		if (err.code == ZL_EX_UNAVAILABLE) {
			outage_fail(&d->source, zl_now_ms(), d->conf->amqp.max_backoff, poll_ms,
			            NULL, &err);
			d->next_pass_ms = d->source.next_try_ms;
			notify_status(&d->notify, "PostgreSQL unavailable: %s", err.msg);
		} else {
			/* The state file or memory: logged every time, it needs a person. */
			zl_error("pass.failed", "error=\"%s\"", err.msg);
			notify_status(&d->notify, "pass failed: %s", err.msg);
		}
		metrics_pass_failed(&d->metrics, err.msg);
		/* Perhaps the state connection is gone, and the lock with it. */
		leader_check_soon(&d->leader);
		return;
	}
	outage_ok(&d->source, zl_now_ms(), NULL);
	backfilled = take_backfill_request(d);
	metrics_pass_done(&d->metrics, &stats, source_bytes_received(d->src), zl_wall_s(),
	                  zl_now_ms());
	read_store_figures(d, stats.ranges_read > 0 || stats.events > 0 || backfilled);
	detect_log(&stats, source_bytes_received(d->src));
	notify_status(&d->notify, "%lld links; last pass recorded %lld events; %lld published",
	              (long long)stats.links, (long long)stats.events,
	              (long long)d->relay.published);
}

/* Milliseconds until the next thing the loop has to do. */
static int64_t next_deadline(const struct daemon *d)
{
	int64_t now = zl_now_ms();
	int64_t until = d->next_pass_ms - now;

	if (!d->active)
		return leader_due_in(&d->leader, now);
	if (!publisher_connected(d->pub) && d->amqp.next_try_ms - now < until)
		until = d->amqp.next_try_ms - now;
	if (leader_due_in(&d->leader, now) < until)
		until = leader_due_in(&d->leader, now);
	/* Rows waiting out a backoff become due within the loop's 1 s tick. */
	return until;
}

/*
 * Becoming the active instance: a pass at once (the state may have moved
 * on under another instance), everything pending due now, and the retry
 * controller started. Becoming a standby: nothing is detected or published
 * from here on; the broker connections are closed, so that a standby holds
 * no consumer of the retry tiers.
 */
static void take_role(struct daemon *d, bool active)
{
	struct zl_err err = {0};

	d->active = active;
	if (active) {
		d->next_pass_ms = 0;
		d->amqp.next_try_ms = 0;
		if (publisher_connected(d->pub) && store_outbox_retry_now(d->st, &err) < 0)
			zl_error("state.failed", "error=\"%s\"", err.msg);
		if (conf_has_consumer_queues(d->conf) && !d->retry &&
		    !(d->retry = retry_new(d->conf, &err)))
			zl_error("retry.failed", "error=\"%s\"", err.msg);
		read_store_figures(d, true);
		notify_status(&d->notify, "active: detecting and publishing");
		return;
	}
	retry_free(d->retry);
	d->retry = NULL;
	publisher_free(d->pub);
	if (!(d->pub = publisher_new(&d->conf->amqp, &err))) {
		zl_error("daemon.failed", "error=\"%s\"", err.msg);
		daemon_stop_signal = SIGTERM;
	} else {
		publisher_set_tick(d->pub, publisher_tick, d);
	}
	d->relay.pub = d->pub;
	notify_status(&d->notify, "standby: another instance is active");
}

/*
 * Reload (SIGHUP): daemon_reload() takes what the settings table lets a
 * reload change (all or nothing) and says what happened; a shorter poll
 * interval then applies at once.
 */
static void do_reload(struct daemon *d)
{
	struct zl_conf_changes changes;
	int64_t poll_ms;

	if (daemon_reload(d->conf, NULL, &d->notify, &changes) != 0)
		return;
	/* A shorter interval takes effect now, not after the old one ran out. */
	poll_ms = (int64_t)(d->conf->source.poll_interval * 1000);
	if (d->source.failures == 0 && d->next_pass_ms > zl_now_ms() + poll_ms)
		d->next_pass_ms = zl_now_ms() + poll_ms;
}

/*
 * The watchdog must outlast the longest single wait of a step, or a slow
 * but healthy daemon is killed: a pass may wait connect_timeout plus
 * query_timeout on PostgreSQL, a connect tries every broker URL in turn.
 */
static void check_watchdog(const struct daemon *d)
{
	const struct zl_conf *c = d->conf;
	double need = c->source.connect_timeout + c->source.query_timeout;

	if (c->amqp.n_urls * c->amqp.connect_timeout > need)
		need = c->amqp.n_urls * c->amqp.connect_timeout;
	if (c->amqp.confirm_timeout > need)
		need = c->amqp.confirm_timeout;
	/* A try for the lock connects (10 s at most) and sets the session up;
	 * a heartbeat waits half of state.session_timeout. */
	if (c->state.conninfo && 10 + c->state.session_timeout / 2 > need)
		need = 10 + c->state.session_timeout / 2;
	/* The state server must not drop the session of an active instance
	 * that merely waits for a connect (they tick only between attempts). */
	if (c->state.conninfo && (c->state.session_timeout < c->amqp.connect_timeout + 2 ||
	                          c->state.session_timeout < c->source.connect_timeout + 2))
		zl_warn("state.session_timeout_short",
		        "session_timeout_s=%.3g amqp_connect_timeout_s=%.3g "
		        "source_connect_timeout_s=%d hint=\"set state.session_timeout above both, "
		        "or a slow connect costs the lock\"",
		        c->state.session_timeout, c->amqp.connect_timeout,
		        c->source.connect_timeout);
	if (d->notify.watchdog_ms > 0 && d->notify.watchdog_ms < (int64_t)(need * 1000))
		zl_warn("watchdog.too_short", "watchdog_s=%.3g longest_wait_s=%.3g",
		        d->notify.watchdog_ms / 1000.0, need);
}

static int cmd_run(struct zl_conf *conf, const void *opts, int argc, char **argv)
{
	struct daemon d = {
	    .conf = conf, .source = {.events = &source_events}, .amqp = {.events = &amqp_events}};
	struct zl_err err = {0};
	int rc = ZL_EX_OK;

	(void)opts, (void)argc, (void)argv;
	/* First, so a stop that comes while starting is still a clean stop. */
	daemon_install_signals();
	/* The endpoint next: a port in use ends the start before the state file is touched. */
	metrics_init(&d.metrics, conf, PACKAGE_VERSION);
	/* With a PostgreSQL state, a standby until the lock says otherwise. */
	d.metrics.standby = conf->state.conninfo != NULL;
	if (conf->metrics.listen) {
		if (!(d.http = metrics_http_start(&conf->metrics, &d.metrics, &err)))
			return app_fail(&err);
	}
	if (!(d.st = app_open_daemon_store(conf, &rc)))
		goto out;
	if (!(d.src = app_source_new(conf, &err))) {
		rc = app_fail(&err);
		goto out;
	}
	if (!(d.pub = publisher_new(&conf->amqp, &err))) {
		rc = app_fail(&err);
		goto out;
	}
	publisher_set_tick(d.pub, publisher_tick, &d);
	if (conf_has_consumer_queues(conf) && !(d.retry = retry_new(conf, &err))) {
		rc = app_fail(&err);
		goto out;
	}
	relay_init(&d.relay, &conf->amqp, d.st, d.pub);
	topology_names(conf, &d.names);
	if (d.http)
		zl_info("metrics.listening", "address=%s paths=/metrics,/healthz",
		        conf->metrics.listen);
	notify_init(&d.notify);
	/* main() applied -v/-q over log.level; then a reload must not undo it. */
	{
		char *where = store_describe(&conf->state);
		char q[1024];

		/* A file's path as it always was; a schema and conninfo quoted. */
		if (conf->state.conninfo)
			zl_info("daemon.started",
			        "version=%s state=\"%s\" poll_interval=%.3g watchdog_s=%.3g",
			        PACKAGE_VERSION, zl_log_quote(where ? where : "?", q, sizeof(q)),
			        conf->source.poll_interval, d.notify.watchdog_ms / 1000.0);
		else
			zl_info("daemon.started",
			        "version=%s state=%s poll_interval=%.3g watchdog_s=%.3g",
			        PACKAGE_VERSION, conf->state.path, conf->source.poll_interval,
			        d.notify.watchdog_ms / 1000.0);
		free(where);
	}
	check_watchdog(&d);
	/* Started as the active instance would be; a standby drops what it
	 * must not hold. */
	leader_init(&d.leader, d.st, conf);
	d.active = true;
	if (!leader_step(&d.leader, zl_now_ms()))
		take_role(&d, false);
	read_store_figures(&d, true);
	share_figures(&d);

	while (!daemon_stop_signal) {
		if (daemon_reload_asked) {
			daemon_reload_asked = 0;
			do_reload(&d);
		}
		if (leader_step(&d.leader, zl_now_ms()) != d.active)
			take_role(&d, d.leader.active);
		if (!d.pub)
			break;
		if (!d.active) {
			/* Ready as a standby: systemd must not wait for a takeover. */
			if (!d.ready) {
				notify_ready(&d.notify, "standby: another instance is active");
				d.ready = true;
			}
			notify_watchdog(&d.notify);
			share_figures(&d);
			wait_for(d.pub, next_deadline(&d), &d.amqp);
			continue;
		}
		if (zl_now_ms() >= d.next_pass_ms)
			do_pass(&d);
		/* A failed pass asks whether this is still the active one. */
		if (leader_due_in(&d.leader, zl_now_ms()) == 0)
			continue;
		if (!daemon_stop_signal && !publisher_connected(d.pub) &&
		    zl_now_ms() >= d.amqp.next_try_ms)
			do_connect(&d);
		if (!daemon_stop_signal && publisher_connected(d.pub) && !publisher_blocked(d.pub))
			do_publish(&d, false);
		if (leader_due_in(&d.leader, zl_now_ms()) == 0)
			continue;
		notify_watchdog(&d.notify);
		if (!daemon_stop_signal && d.retry)
			retry_step(d.retry, 200);
		read_depths(&d);
		share_figures(&d);
		wait_for(d.pub, next_deadline(&d), &d.amqp);
	}
	notify_stopping(&d.notify, "stopping: the batch in flight is done");
	zl_info("daemon.stopping", "signal=%d published=%lld", (int)daemon_stop_signal,
	        (long long)d.relay.published);
out:
	metrics_http_stop(d.http);
	retry_free(d.retry);
	publisher_free(d.pub);
	source_free(d.src);
	store_close(d.st);
	return rc;
}
