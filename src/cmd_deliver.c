/*
 * deliver: from deliver.queue into Open Zaak's CloudEvent webhook, with the
 * effect of exactly once per link although Open Zaak does not deduplicate.
 *
 * Each message is a job that goes through at most three requests (the
 * client of openzaak.h, up to deliver.concurrency at once):
 *   - stale: a message whose zaaklink-seq is below the highest one already
 *     delivered for its link (zaak, linkTo) is older than what Open Zaak
 *     has: acked without a request (deliver.skipped reason=stale). The
 *     memory of those seqs survives a restart (deliver_memory.h).
 *   - check: a gekoppeld with deliver.check_existing first asks the Zaken
 *     API whether the link exists; if so it is acked without a post
 *     (deliver.skipped reason=exists). A redelivered or re-announced
 *     gekoppeld never makes a second ZaakObject.
 *   - post: the CloudEvent as received. An ontkoppeld is always posted
 *     (deleting is idempotent).
 *   - verify: after a 2xx for a gekoppeld, with deliver.verify, the link
 *     must exist now; if not, Open Zaak dropped it (unknown zaak, label too
 *     long): parked with reason not_created, never retried for ever.
 * The seq is remembered before the ack, so a crash in between redelivers a
 * message whose effect is already there: the check finds the link, or the
 * ontkoppeld deletes nothing.
 *
 * Outcomes (openzaak_outcome()): 2xx goes on; 5xx, 429, timeouts and
 * connection errors reject the message, and the retry controller of `run`
 * moves it through the wait tiers; 400 and 415 park it at once; 401 and 403
 * mean the credentials are wrong for every message: deliver drops its
 * consumer (every unacked message goes back to the queue), logs it once,
 * and tries again with a backoff; nothing is parked.
 *
 * The loop is one thread: it takes messages while fewer than concurrency
 * are in flight, and drives the HTTP client in between. SIGTERM stops the
 * taking and finishes what is in flight; --drain stops when the queue is
 * empty and nothing is in flight.
 */
#include "config.h"

#include "app.h"
#include "commands.h"
#include "consumer.h"
#include "daemon.h"
#include "deliver_memory.h"
#include "event.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "notify.h"
#include "openzaak.h"
#include "outage.h"

#include <cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct deliver_opts {
	bool drain; /* stop once the queue is empty and nothing is in flight */
};

static int cmd_deliver(struct zl_conf *conf, const void *opts, int argc, char **argv);

static const struct zl_option deliver_options[] = {
    ZL_OPT_BOOL(0, "drain", struct deliver_opts, drain,
                "deliver until the queue is empty, then exit"),
    ZL_OPT_END(),
};

const struct zl_command zl_cmd_deliver = {
    .cli = {.name = "deliver",
            .about = "deliver the events of deliver.queue into Open Zaak (a daemon)",
            .options = deliver_options},
    .state = ZL_STATE_NONE,
    .opts_size = sizeof(struct deliver_opts),
    .run = cmd_deliver,
};

enum step { STEP_CHECK, STEP_POST, STEP_VERIFY };

struct job {
	bool used;
	struct zl_delivery d;
	enum step step;
	bool gekoppeld;
	char zaak[37]; /* the zaak's uuid */
	char *link_to;
	char *label;
	int64_t started_ms;
};

struct deliverer {
	struct zl_conf *conf; /* a reload takes changes into it */
	const struct deliver_opts *opts;
	struct zl_consumer *consumer;
	struct zl_openzaak *oz;
	struct zl_deliver_memory *memory;
	struct job *jobs;
	int busy;
	struct zl_outage broker;
	bool credentials_refused; /* 401/403: no message is taken until next_ms */
	int credential_failures;
	int64_t credentials_next_ms;
	struct zl_notify notify;
	int64_t delivered, skipped, parked, retried;
	struct zl_metrics metrics;    /* this loop's figures; the server gets copies */
	struct zl_metrics_http *http; /* NULL without deliver.listen */
	int64_t next_share_ms;
};

static const struct zl_outage_events broker_events = {
    .unavailable = "deliver.amqp_unavailable",
    .recovered = "deliver.amqp_recovered",
    .reconnect_failed = "deliver.amqp_reconnect_failed",
};

static void job_free(struct deliverer *dl, struct job *j)
{
	consumer_release(&j->d);
	free(j->link_to);
	free(j->label);
	memset(j, 0, sizeof(*j));
	dl->busy--;
}

/* Remembers the seq of a link whose effect Open Zaak now has. */
static void remember(struct deliverer *dl, struct job *j)
{
	struct zl_err err = {0};

	if (j->d.has_seq && deliver_memory_put(dl->memory, j->zaak, j->link_to, j->d.seq, &err) < 0)
		zl_error("deliver.memory_failed", "error=\"%s\"", err.msg);
}

/* The verdicts; a verdict on a message of a lost connection sends nothing
 * (the broker gives the message again). */
static void ack(struct deliverer *dl, struct job *j, const char *event, const char *reason)
{
	struct zl_err err = {0};
	char q[400];

	remember(dl, j);
	if (consumer_ack(dl->consumer, &j->d, &err) < 0) {
		zl_warn("deliver.ack_failed", "id=%s error=\"%s\"", j->d.message_id, err.msg);
	} else if (reason) {
		dl->skipped++;
		dl->metrics.deliver_total[strcmp(reason, "stale") == 0 ? ZL_SKIPPED_STALE
		                                                       : ZL_SKIPPED_EXISTS]++;
		zl_info(event, "id=%s reason=%s zaak=%s link_to=\"%s\"", j->d.message_id, reason,
		        j->zaak, zl_log_quote(j->link_to, q, sizeof(q)));
	} else {
		dl->delivered++;
		dl->metrics.deliver_total[ZL_DELIVERED]++;
		zl_info(event, "id=%s type=%s zaak=%s link_to=\"%s\" ms=%lld", j->d.message_id,
		        j->gekoppeld ? "gekoppeld" : "ontkoppeld", j->zaak,
		        zl_log_quote(j->link_to, q, sizeof(q)),
		        (long long)(zl_now_ms() - j->started_ms));
	}
	job_free(dl, j);
}

static void park(struct deliverer *dl, struct job *j, const char *reason, const char *detail)
{
	struct zl_err err = {0};
	char q[400], ql[400], qd[600];

	if (consumer_park(dl->consumer, &j->d, reason, detail, &err) < 0) {
		zl_error("deliver.park_failed", "id=%s reason=%s error=\"%s\"", j->d.message_id,
		         reason, err.msg);
	} else {
		dl->parked++;
		dl->metrics.deliver_total[ZL_PARKED]++;
		zl_warn("deliver.parked",
		        "id=%s reason=%s zaak=%s link_to=\"%s\" label=\"%s\" detail=\"%s\"",
		        j->d.message_id, reason, j->zaak[0] ? j->zaak : "-",
		        zl_log_quote(j->link_to ? j->link_to : "", q, sizeof(q)),
		        zl_log_quote(j->label ? j->label : "", ql, sizeof(ql)),
		        zl_log_quote(detail ? detail : "", qd, sizeof(qd)));
	}
	job_free(dl, j);
}

static void retry(struct deliverer *dl, struct job *j, const char *reason)
{
	struct zl_err err = {0};

	if (consumer_reject(dl->consumer, &j->d, &err) < 0)
		zl_warn("deliver.reject_failed", "id=%s error=\"%s\"", j->d.message_id, err.msg);
	else
		dl->retried++;
	dl->metrics.deliver_total[ZL_RETRIED]++;
	zl_warn("deliver.failed", "id=%s reason=%s hint=\"back through the retry tiers\"",
	        j->d.message_id, reason);
	job_free(dl, j);
}

/* 401 or 403: nothing can be delivered with these credentials. */
static void refused(struct deliverer *dl, struct job *j, const struct openzaak_result *r)
{
	if (!dl->credentials_refused)
		zl_error("deliver.credentials_refused",
		         "status=%ld hint=\"check deliver.client_id, the secret and the "
		         "scopes cloudevents.bezorgen and zaken.lezen in Open Zaak\"",
		         r->status);
	dl->credentials_refused = true;
	dl->credentials_next_ms =
	    zl_now_ms() + zl_backoff_ms(++dl->credential_failures, dl->conf->amqp.max_backoff);
	/* Every unacked message, this one too, goes back to the queue. */
	consumer_disconnect(dl->consumer);
	job_free(dl, j);
	notify_status(&dl->notify, "Open Zaak refuses the credentials");
}

static void submit(struct deliverer *dl, struct job *j);

static void done(const struct openzaak_result *r, void *user)
{
	struct deliverer *dl = user;
	struct job *j = r->caller;
	char reason[64];

	metrics_request_done(&dl->metrics, r->elapsed_ms);
	switch (openzaak_outcome(r, reason, sizeof(reason))) {
	case OPENZAAK_RETRY:
		retry(dl, j, reason);
		return;
	case OPENZAAK_PARK:
		park(dl, j, reason, r->body);
		return;
	case OPENZAAK_CREDENTIALS:
		refused(dl, j, r);
		return;
	case OPENZAAK_DONE:
		break;
	}
	if (dl->credentials_refused) {
		zl_info("deliver.credentials_accepted", "after=%d", dl->credential_failures);
		dl->credentials_refused = false;
	}
	dl->credential_failures = 0;
	switch (j->step) {
	case STEP_CHECK:
		if (r->link == OPENZAAK_LINK_PRESENT) {
			ack(dl, j, "deliver.skipped", "exists");
			return;
		}
		j->step = STEP_POST;
		submit(dl, j);
		return;
	case STEP_POST:
		if (j->gekoppeld && dl->conf->deliver.verify) {
			j->step = STEP_VERIFY;
			submit(dl, j);
			return;
		}
		ack(dl, j, "deliver.delivered", NULL);
		return;
	case STEP_VERIFY:
		if (r->link == OPENZAAK_LINK_PRESENT)
			ack(dl, j, "deliver.delivered", NULL);
		else
			park(dl, j, "not_created",
			     "Open Zaak accepted the event but made no ZaakObject "
			     "(unknown zaak, or a label over 80 characters)");
		return;
	}
}

static void submit(struct deliverer *dl, struct job *j)
{
	struct zl_err err = {0};
	int rc = j->step == STEP_POST
	             ? openzaak_post_event(dl->oz, (const char *)j->d.t.msg.body.bytes,
	                                   j->d.t.msg.body.len, j, &err)
	             : openzaak_link_exists(dl->oz, j->zaak, j->link_to, j, &err);

	if (rc < 0)
		retry(dl, j, "request_failed");
}

/* Reads what a job needs of the CloudEvent; NULL reason when it is one. */
static const char *parse(struct job *j)
{
	cJSON *ev = cJSON_ParseWithLength((const char *)j->d.t.msg.body.bytes, j->d.t.msg.body.len);
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "type"));
	const char *zaak = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "zaak"));
	const char *link_to =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "linkTo"));
	const char *label = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "label"));
	const char *uuid = zaak ? openzaak_zaak_uuid(zaak) : NULL;
	const char *why = NULL;

	if (!ev)
		why = "not_json";
	else if (!type ||
	         (strcmp(type, ZL_TYPE_GEKOPPELD) != 0 && strcmp(type, ZL_TYPE_ONTKOPPELD) != 0))
		why = "not_a_zaak_event";
	else if (!uuid || !link_to)
		why = "no_zaak_or_link";
	else {
		j->gekoppeld = strcmp(type, ZL_TYPE_GEKOPPELD) == 0;
		snprintf(j->zaak, sizeof(j->zaak), "%s", uuid);
		j->link_to = strdup(link_to);
		j->label = strdup(label ? label : "");
		if (!j->link_to || !j->label)
			why = "out_of_memory";
	}
	cJSON_Delete(ev);
	return why;
}

static void start(struct deliverer *dl, struct job *j)
{
	struct zl_err err = {0};
	const char *why;
	int64_t seen;
	int rc;

	j->started_ms = zl_now_ms();
	if ((why = parse(j))) {
		park(dl, j, "invalid_event", why);
		return;
	}
	if (j->d.has_seq &&
	    (rc = deliver_memory_get(dl->memory, j->zaak, j->link_to, &seen, &err)) != 0) {
		if (rc < 0) {
			zl_error("deliver.memory_failed", "error=\"%s\"", err.msg);
			retry(dl, j, "memory_failed");
			return;
		}
		if (j->d.seq < seen) {
			/* Not remembered again: the memory keeps the higher one. */
			j->d.has_seq = false;
			ack(dl, j, "deliver.skipped", "stale");
			return;
		}
	}
	j->step = j->gekoppeld && dl->conf->deliver.check_existing ? STEP_CHECK : STEP_POST;
	submit(dl, j);
}

/* Takes messages while there is room; 1 when one came, 0 none, -1 lost. */
static int take(struct deliverer *dl, int timeout_ms)
{
	struct zl_err err = {0};
	struct job *j = NULL;
	int rc;

	for (int i = 0; i < dl->conf->deliver.concurrency && !j; i++)
		if (!dl->jobs[i].used)
			j = &dl->jobs[i];
	if (!j)
		return 0;
	rc = consumer_next(dl->consumer, timeout_ms, &j->d, &err);
	if (rc < 0) {
		outage_fail(&dl->broker, zl_now_ms(), dl->conf->amqp.max_backoff, 0, NULL, &err);
		consumer_disconnect(dl->consumer);
		return -1;
	}
	if (rc == 0)
		return 0;
	j->used = true;
	dl->busy++;
	start(dl, j);
	return 1;
}

static void connect_broker(struct deliverer *dl)
{
	struct zl_err err = {0};

	if (consumer_connect(dl->consumer, &err) < 0) {
		outage_fail(&dl->broker, zl_now_ms(), dl->conf->amqp.max_backoff, 0, NULL, &err);
		return;
	}
	outage_ok(&dl->broker, zl_now_ms(), NULL);
	zl_info("deliver.connected", "node=%s queue=%s", consumer_node(dl->consumer),
	        dl->conf->deliver.queue);
}

/* --drain: true once the queue holds nothing and nothing is in flight. */
static bool drained(struct deliverer *dl)
{
	struct zl_err err = {0};

	return dl->busy == 0 && consumer_connected(dl->consumer) &&
	       consumer_queue_depth(dl->consumer, &err) == 0;
}

/* Hands the figures to the HTTP server, at most four times a second. */
static void share(struct deliverer *dl)
{
	struct zl_metrics *m = &dl->metrics;

	if (!dl->http || zl_now_ms() < dl->next_share_ms)
		return;
	dl->next_share_ms = zl_now_ms() + 250;
	m->in_flight = openzaak_in_flight(dl->oz);
	m->broker_connected = consumer_connected(dl->consumer);
	m->credentials_refused = dl->credentials_refused;
	metrics_http_update(dl->http, m);
}

/*
 * SIGHUP: the settings deliver reads at every request (the credentials,
 * check_existing, verify, timeout) and log.level, all or nothing, checked
 * as at start. New credentials after a refusal are tried at once.
 */
static void reload(struct deliverer *dl)
{
	struct zl_conf_changes ch;

	if (daemon_reload(dl->conf, conf_check_deliver, &dl->notify, &ch) != 0)
		return;
	/* The taken strings moved; the client signs with the new secret. */
	openzaak_set_secret(dl->oz, conf_deliver_secret(dl->conf));
	if (dl->credentials_refused &&
	    (strstr(ch.applied, "deliver.secret") || strstr(ch.applied, "deliver.client_id"))) {
		zl_info("deliver.credentials_changed", "hint=\"trying the new credentials now\"");
		dl->credentials_next_ms = 0;
	}
}

static int run_loop(struct deliverer *dl)
{
	struct zl_err err = {0};
	bool ready = false;

	for (;;) {
		int64_t now;
		bool taking;

		if (daemon_reload_asked) {
			daemon_reload_asked = 0;
			reload(dl);
		}
		now = zl_now_ms();
		taking = !daemon_stop_signal &&
		         !(dl->credentials_refused && now < dl->credentials_next_ms);

		if (daemon_stop_signal && dl->busy == 0)
			break;
		if (taking && !consumer_connected(dl->consumer) && now >= dl->broker.next_try_ms)
			connect_broker(dl);
		if (!ready && consumer_connected(dl->consumer)) {
			notify_ready(&dl->notify, "delivering");
			ready = true;
		}
		if (taking && consumer_connected(dl->consumer))
			while (take(dl, dl->busy > 0 ? 0 : 100) == 1)
				;
		if (dl->opts->drain && drained(dl) &&
		    (!consumer_connected(dl->consumer) || take(dl, 200) == 0) && dl->busy == 0)
			break;
		if (openzaak_perform(dl->oz, dl->busy > 0 ? 50 : 0,
		                     consumer_connected(dl->consumer) ? consumer_fd(dl->consumer)
		                                                      : -1,
		                     &err) < 0)
			zl_error("deliver.http_failed", "error=\"%s\"", err.msg);
		if (dl->busy == 0 && (!consumer_connected(dl->consumer) || !taking)) {
			struct timespec ts = {0, 100 * 1000000};

			nanosleep(&ts, NULL);
		}
		notify_watchdog(&dl->notify);
		share(dl);
	}
	return ZL_EX_OK;
}

static int cmd_deliver(struct zl_conf *conf, const void *opts, int argc, char **argv)
{
	struct deliverer dl = {.conf = conf, .opts = opts, .broker = {.events = &broker_events}};
	struct zl_err err = {0};
	int rc = ZL_EX_OK;

	(void)argc, (void)argv;
	daemon_install_signals();
	if (conf_check_deliver(conf, &err) < 0)
		return app_fail(&err);
	metrics_deliver_init(&dl.metrics, PACKAGE_VERSION);
	if (conf->deliver.metrics.listen) {
		if (!(dl.http = metrics_http_start(&conf->deliver.metrics, &dl.metrics, &err)))
			return app_fail(&err);
		zl_info("metrics.listening", "address=%s paths=/metrics,/healthz",
		        conf->deliver.metrics.listen);
	}
	if (!(dl.jobs = calloc((size_t)conf->deliver.concurrency, sizeof(*dl.jobs))) ||
	    !(dl.memory = deliver_memory_open(conf->deliver.memory, &err)) ||
	    !(dl.consumer = consumer_new(&conf->amqp, conf->deliver.queue,
	                                 conf->deliver.concurrency, &err)) ||
	    !(dl.oz = openzaak_new(&conf->deliver, conf_deliver_secret(conf), done, &dl, &err))) {
		if (!dl.jobs)
			zl_err_set(&err, ZL_EX_SOFTWARE, "out of memory while starting deliver");
		rc = app_fail(&err);
		goto out;
	}
	notify_init(&dl.notify);
	zl_info("deliver.started", "version=%s queue=%s url=%s concurrency=%d drain=%s",
	        PACKAGE_VERSION, conf->deliver.queue, conf->deliver.url, conf->deliver.concurrency,
	        dl.opts->drain ? "true" : "false");
	rc = run_loop(&dl);
	notify_stopping(&dl.notify, "stopping");
	zl_info("deliver.stopping",
	        "signal=%d delivered=%lld skipped=%lld parked=%lld retried=%lld",
	        (int)daemon_stop_signal, (long long)dl.delivered, (long long)dl.skipped,
	        (long long)dl.parked, (long long)dl.retried);
out:
	metrics_http_stop(dl.http);
	openzaak_free(dl.oz);
	for (int i = 0; dl.jobs && i < conf->deliver.concurrency; i++)
		if (dl.jobs[i].used)
			job_free(&dl, &dl.jobs[i]);
	consumer_free(dl.consumer);
	deliver_memory_close(dl.memory);
	free(dl.jobs);
	return rc;
}
