/* Metrics: the daemon's figures in Prometheus' text format, and the health rule. */
#include "metrics.h"
#include "event.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* From a pass of an idle small database (milliseconds) to the slow pass of
 * a large one (minutes): bench/RESULTS.md measured 0.7 s at 100 000 links. */
const double zl_pass_buckets[ZL_PASS_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                 1,     2.5,  5,     10,   30,  60};

void metrics_init(struct zl_metrics *m, const struct zl_conf *conf, const char *version)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->version, sizeof(m->version), "%s", version);
	m->poll_interval = conf->source.poll_interval;
	m->unrouted = -1;
	m->parked = -1;
	m->retry_enabled = conf_has_consumer_queues(conf);
	m->n_tiers = conf->retry.n_delays;
	for (int i = 0; i < conf->retry.n_delays; i++)
		m->tier_delay[i] = conf->retry.delays[i];
}

void metrics_deliver_init(struct zl_metrics *m, const char *version)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->version, sizeof(m->version), "%s", version);
	m->deliver = true;
}

/* The bucket of a duration in seconds; ZL_PASS_BUCKETS beyond the last. */
static int bucket_of(double seconds)
{
	int b;

	for (b = 0; b < ZL_PASS_BUCKETS && seconds > zl_pass_buckets[b]; b++)
		;
	return b;
}

void metrics_request_done(struct zl_metrics *m, int64_t elapsed_ms)
{
	double seconds = (double)elapsed_ms / 1000.0;
	int b = bucket_of(seconds);

	if (b < ZL_PASS_BUCKETS)
		m->request_bucket[b]++;
	m->requests++;
	m->request_seconds_sum += seconds;
}

void metrics_pass_done(struct zl_metrics *m, const struct zl_pass_stats *s, int64_t bytes_total,
                       int64_t now_s, int64_t now_ms)
{
	double seconds = (double)s->duration_ms / 1000.0;
	int b = bucket_of(seconds);

	m->passes++;
	if (b < ZL_PASS_BUCKETS)
		m->pass_bucket[b]++;
	m->pass_seconds_sum += seconds;
	for (int t = 0; t < ZL_EVENT_TYPES; t++)
		m->recorded[t] += s->events_by_type[t];
	m->last_ranges = s->ranges_total;
	m->last_ranges_read = s->ranges_read;
	m->ranges_read += s->ranges_read;
	m->rows_received += s->rows_read;
	m->bytes_received = bytes_total;
	m->invalid_skipped += s->invalid;
	m->last_success_s = now_s;
	m->last_success_ms = now_ms > 0 ? now_ms : 1;
	m->pass_error[0] = '\0';
}

void metrics_pass_failed(struct zl_metrics *m, const char *error)
{
	m->pass_errors++;
	snprintf(m->pass_error, sizeof(m->pass_error), "%s", error ? error : "unknown error");
}

/* ------------------------------------------------------------ render ---- */

/* The HELP and TYPE lines of a metric family. */
static void family(struct zl_text *t, const char *name, const char *type, const char *help)
{
	zl_text_add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family with a single sample without labels. */
static void single(struct zl_text *t, const char *name, const char *type, const char *help,
                   int64_t value)
{
	family(t, name, type, help);
	zl_text_add(t, "%s %lld\n", name, (long long)value);
}

static void by_type(struct zl_text *t, const char *name, const char *help, const int64_t *v)
{
	family(t, name, "counter", help);
	for (int i = 0; i < ZL_EVENT_TYPES; i++)
		zl_text_add(t, "%s{type=\"%s\"} %lld\n", name,
		            event_type_name((enum zl_event_type)i), (long long)v[i]);
}

/* A histogram over zl_pass_buckets from per-bucket counts. */
static void histogram(struct zl_text *t, const char *name, const char *help,
                      const int64_t *per_bucket, int64_t count, double sum)
{
	int64_t cumulative = 0;

	family(t, name, "histogram", help);
	for (int b = 0; b < ZL_PASS_BUCKETS; b++) {
		cumulative += per_bucket[b];
		zl_text_add(t, "%s_bucket{le=\"%g\"} %lld\n", name, zl_pass_buckets[b],
		            (long long)cumulative);
	}
	zl_text_add(t, "%s_bucket{le=\"+Inf\"} %lld\n", name, (long long)count);
	zl_text_add(t, "%s_sum %.6f\n", name, sum);
	zl_text_add(t, "%s_count %lld\n", name, (long long)count);
}

static char *render_deliver(const struct zl_metrics *m)
{
	static const char *const outcome[ZL_DELIVER_OUTCOMES] = {"delivered", "exists", "stale",
	                                                         "parked", "retried"};
	struct zl_text t = {0};

	family(&t, "zaaklink_build_info", "gauge", "Always 1; the version of zaaklink as a label.");
	zl_text_add(&t, "zaaklink_build_info{version=\"%s\"} 1\n", m->version);
	family(
	    &t, "zaaklink_deliver_total", "counter",
	    "Messages deliver finished, by outcome (delivered, exists, stale, parked, retried).");
	for (int i = 0; i < ZL_DELIVER_OUTCOMES; i++)
		zl_text_add(&t, "zaaklink_deliver_total{outcome=\"%s\"} %lld\n", outcome[i],
		            (long long)m->deliver_total[i]);
	single(&t, "zaaklink_deliver_in_flight", "gauge", "Requests to Open Zaak in flight.",
	       m->in_flight);
	histogram(&t, "zaaklink_deliver_request_duration_seconds",
	          "Duration of requests to Open Zaak (posts and link questions).",
	          m->request_bucket, m->requests, m->request_seconds_sum);
	single(&t, "zaaklink_deliver_credentials_refused", "gauge",
	       "1 while Open Zaak refuses the credentials (401/403) and nothing is taken.",
	       m->credentials_refused);
	single(&t, "zaaklink_broker_connected", "gauge",
	       "1 when the consuming connection to RabbitMQ is up.", m->broker_connected);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}

static void retry_families(struct zl_text *t, const struct zl_metrics *m)
{
	if (!m->retry_enabled)
		return;
	family(t, "zaaklink_retry_moves_total", "counter",
	       "Failed deliveries the retry controller moved into a wait tier, by tier.");
	for (int i = 0; i < m->n_tiers; i++)
		zl_text_add(t, "zaaklink_retry_moves_total{tier=\"%ds\"} %lld\n", m->tier_delay[i],
		            (long long)m->moves[i]);
	single(t, "zaaklink_retry_parked_total", "counter",
	       "Failed deliveries the retry controller moved into the parking queue.",
	       m->parked_moves);
}

char *metrics_render(const struct zl_metrics *m, int64_t now_s)
{
	struct zl_text t = {0};
	int64_t age = m->outbox_pending > 0 && m->outbox_oldest_s > 0 && now_s > m->outbox_oldest_s
	                  ? now_s - m->outbox_oldest_s
	                  : 0;

	if (m->deliver)
		return render_deliver(m);

	family(&t, "zaaklink_build_info", "gauge", "Always 1; the version of zaaklink as a label.");
	zl_text_add(&t, "zaaklink_build_info{version=\"%s\"} 1\n", m->version);
	single(&t, "zaaklink_links", "gauge", "Zaak links zaaklink knows (its own record).",
	       m->links);
	by_type(&t, "zaaklink_events_recorded_total", "Events recorded in the outbox, by type.",
	        m->recorded);
	by_type(&t, "zaaklink_events_published_total", "Events the broker confirmed, by type.",
	        m->published);
	single(&t, "zaaklink_outbox_pending_events", "gauge",
	       "Events recorded and not yet confirmed by the broker.", m->outbox_pending);
	single(&t, "zaaklink_outbox_oldest_pending_age_seconds", "gauge",
	       "Age of the oldest pending event; 0 when none is pending.", age);
	single(&t, "zaaklink_publish_retries_total", "counter",
	       "Events put back in the outbox for another attempt after a failed batch.",
	       m->publish_retries);
	single(&t, "zaaklink_publish_nacked_total", "counter", "Events the broker nacked.",
	       m->nacked);
	single(&t, "zaaklink_publish_returned_total", "counter",
	       "Events the broker returned as unroutable (published again after the topology "
	       "is declared again).",
	       m->returned);
	if (m->unrouted >= 0)
		single(&t, "zaaklink_unrouted_messages", "gauge",
		       "Messages in the unrouted queue: events no binding matched.", m->unrouted);
	if (m->parked >= 0)
		single(&t, "zaaklink_parked_messages", "gauge",
		       "Messages in the parking queue, waiting for an operator.", m->parked);
	single(&t, "zaaklink_leader", "gauge",
	       "1 on the active instance, 0 on a standby (state in PostgreSQL).", !m->standby);
	single(&t, "zaaklink_broker_connected", "gauge",
	       "1 when the publishing connection to RabbitMQ is up.", m->broker_connected);
	single(&t, "zaaklink_broker_blocked", "gauge",
	       "1 while RabbitMQ blocks publishers (memory or disk alarm).", m->broker_blocked);
	single(&t, "zaaklink_passes_total", "counter", "Successful detection passes.", m->passes);
	single(&t, "zaaklink_pass_errors_total", "counter",
	       "Detection passes that failed (PostgreSQL unavailable, state file error).",
	       m->pass_errors);
	histogram(&t, "zaaklink_pass_duration_seconds", "Duration of successful detection passes.",
	          m->pass_bucket, m->passes, m->pass_seconds_sum);
	single(&t, "zaaklink_pass_ranges", "gauge", "Ranges the last successful pass compared.",
	       m->last_ranges);
	single(&t, "zaaklink_pass_ranges_fetched", "gauge",
	       "Ranges the last successful pass found changed and read.", m->last_ranges_read);
	single(&t, "zaaklink_ranges_fetched_total", "counter",
	       "Ranges read because their fingerprint changed.", m->ranges_read);
	single(&t, "zaaklink_source_rows_received_total", "counter",
	       "Onderwerpobject rows read from PostgreSQL.", m->rows_received);
	single(&t, "zaaklink_source_received_bytes_total", "counter",
	       "Bytes received from PostgreSQL.", m->bytes_received);
	single(&t, "zaaklink_last_pass_success_timestamp_seconds", "gauge",
	       "UNIX time the last successful pass ended; 0 before the first.", m->last_success_s);
	single(&t, "zaaklink_invalid_rows_skipped_total", "counter",
	       "Rows read with a zaak id that is not a canonical UUID, skipped.",
	       m->invalid_skipped);
	retry_families(&t, m);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}

/* ------------------------------------------------------------ health ---- */

bool metrics_healthy(const struct zl_health *h, char *reason, size_t size)
{
	int64_t limit_ms = (int64_t)(3 * h->poll_interval * 1000);
	size_t n = 0;

	reason[0] = '\0';
	if (h->deliver) {
		if (!h->broker_connected)
			snprintf(reason, size, "not connected to RabbitMQ");
		else if (h->credentials_refused)
			snprintf(reason, size, "Open Zaak refuses the credentials (401/403)");
		return reason[0] == '\0';
	}
	if (h->standby) {
		if (h->state_reachable) {
			snprintf(reason, size, "standby: another instance is active");
			return true;
		}
		snprintf(reason, size, "standby: the state database cannot be reached");
		return false;
	}
	if (h->pass_age_ms < 0 || h->pass_age_ms > limit_ms) {
		if (h->pass_age_ms < 0)
			n += (size_t)snprintf(reason, size, "no successful pass yet");
		else
			n +=
			    (size_t)snprintf(reason, size,
			                     "last successful pass %.1f s ago, more than 3 poll "
			                     "intervals (%g s)",
			                     (double)h->pass_age_ms / 1000.0, 3 * h->poll_interval);
		if (h->pass_error && h->pass_error[0] && n < size)
			n += (size_t)snprintf(reason + n, size - n, ": %s", h->pass_error);
	}
	if (h->broker_checked && !h->broker_connected && n < size)
		n += (size_t)snprintf(reason + n, size - n, "%snot connected to RabbitMQ%s%s",
		                      n ? "; " : "",
		                      h->broker_error && h->broker_error[0] ? ": " : "",
		                      h->broker_error ? h->broker_error : "");
	return reason[0] == '\0';
}

/*
 * Without the errors' texts: /healthz answers whoever reaches the port, and
 * those texts name the database and broker hosts and users. The log and
 * `status` give them.
 */
struct zl_health metrics_health_of(const struct zl_metrics *m, int64_t now_ms)
{
	struct zl_health h = {
	    .pass_age_ms = -1,
	    .poll_interval = m->poll_interval,
	    .broker_checked = true,
	    .broker_connected = m->broker_connected,
	    .standby = m->standby,
	    .deliver = m->deliver,
	    .credentials_refused = m->credentials_refused,
	    .state_reachable = m->state_error[0] == '\0',
	};

	if (m->last_success_ms > 0)
		h.pass_age_ms = now_ms > m->last_success_ms ? now_ms - m->last_success_ms : 0;
	return h;
}
