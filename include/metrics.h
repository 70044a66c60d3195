/*
 * Metrics: how the daemon stands, in figures, as the Prometheus text format
 * and as the health verdict of /healthz.
 *
 * struct zl_metrics is plain data with one writer, the loop of `run`, which
 * adds what each pass and each batch did and copies the whole struct to the
 * HTTP server (metrics_http.h) once per turn. Rendering and the health rule
 * are pure functions of such a copy and the time, so that the format and
 * the rule are tested without a server, and `status` judges health by the
 * very same rule.
 *
 * Names follow Prometheus' conventions: prefix zaaklink_, base units in the
 * name (_seconds, _bytes), _total for counters. The reference table is in
 * README.md ("Metrics") and zaaklink(8).
 */
#ifndef ZL_METRICS_H
#define ZL_METRICS_H

#include "common.h"
#include "conf.h"
#include "detect.h"

#define ZL_EVENT_TYPES 2   /* enum zl_event_type */
#define ZL_PASS_BUCKETS 13 /* upper bounds of the pass duration histogram */

/* The upper bounds, in seconds, of the pass duration buckets (+Inf apart). */
extern const double zl_pass_buckets[ZL_PASS_BUCKETS];

/* What deliver did with a message: zaaklink_deliver_total{outcome}. */
enum zl_deliver_outcome {
	ZL_DELIVERED,      /* "delivered": Open Zaak has its effect */
	ZL_SKIPPED_EXISTS, /* "exists": the link was there, nothing posted */
	ZL_SKIPPED_STALE,  /* "stale": older than the newest delivered for its link */
	ZL_PARKED,         /* "parked" */
	ZL_RETRIED,        /* "retried": back through the retry tiers */
	ZL_DELIVER_OUTCOMES
};

struct zl_metrics {
	char version[32];
	/* deliver's figures (metrics_deliver_init()): its own families and
	 * health rule instead of run's. */
	bool deliver;
	int64_t deliver_total[ZL_DELIVER_OUTCOMES];
	int64_t in_flight;                       /* requests to Open Zaak */
	int64_t request_bucket[ZL_PASS_BUCKETS]; /* per bucket, not cumulative */
	int64_t requests;
	double request_seconds_sum;
	bool credentials_refused; /* Open Zaak answered 401/403 and nothing is taken */
	double poll_interval;     /* seconds, for the health rule */

	/* The state file, read after passes and batches. */
	int64_t links; /* links known (recorded as published) */
	int64_t outbox_pending;
	int64_t outbox_oldest_s; /* record time of the oldest pending event; 0 none */

	/* Events, indexed by enum zl_event_type. */
	int64_t recorded[ZL_EVENT_TYPES];
	int64_t published[ZL_EVENT_TYPES];
	int64_t publish_retries; /* events put back for another attempt */
	int64_t nacked;          /* events the broker nacked */
	int64_t returned;        /* events the broker returned as unroutable */

	/* Leadership (state in PostgreSQL): a standby detects and publishes
	 * nothing; it is healthy while it can reach the state to take over. */
	bool standby;
	char state_error[256]; /* why a standby cannot reach the state; "" */

	/* The broker. */
	bool broker_connected;
	bool broker_blocked;
	int64_t unrouted;       /* messages in <exchange>.unrouted; -1 unknown */
	int64_t parked;         /* messages in <exchange>.dlq; -1 unknown */
	char broker_error[256]; /* why the last connect failed; "" when connected */

	/* Passes. */
	int64_t passes; /* successful */
	int64_t pass_errors;
	int64_t pass_bucket[ZL_PASS_BUCKETS]; /* successful passes per bucket, not cumulative */
	double pass_seconds_sum;
	int64_t last_ranges;      /* ranges compared by the last pass */
	int64_t last_ranges_read; /* ranges that differed and were read */
	int64_t ranges_read;      /* (published as zaaklink_..._ranges_fetched) */
	int64_t rows_received;
	int64_t bytes_received;
	int64_t invalid_skipped;
	int64_t last_success_s;  /* wall clock at the end of the last successful pass */
	int64_t last_success_ms; /* the same, monotonic; 0 none */
	char pass_error[256];    /* why the last pass failed; "" after a success */

	/* The retry controller (only with amqp.queues). */
	bool retry_enabled;
	int n_tiers;
	int tier_delay[ZL_MAX_RETRY_DELAYS];
	int64_t moves[ZL_MAX_RETRY_DELAYS]; /* messages moved into each wait tier */
	int64_t parked_moves;               /* messages moved into the parking queue */
};

void metrics_init(struct zl_metrics *m, const struct zl_conf *conf, const char *version);
/* The figures of `zaaklink deliver`. */
void metrics_deliver_init(struct zl_metrics *m, const char *version);
/* Counts a finished request to Open Zaak that took elapsed_ms. */
void metrics_request_done(struct zl_metrics *m, int64_t elapsed_ms);

/* Adds a successful pass that ended at now_s (wall) / now_ms (monotonic);
 * bytes_total: received from PostgreSQL since start, as the source counts. */
void metrics_pass_done(struct zl_metrics *m, const struct zl_pass_stats *s, int64_t bytes_total,
                       int64_t now_s, int64_t now_ms);
/* Counts a failed pass and keeps why. */
void metrics_pass_failed(struct zl_metrics *m, const char *error);

/* The Prometheus text exposition (version 0.0.4) of m at wall time now_s;
 * malloc'ed, NULL when out of memory. */
char *metrics_render(const struct zl_metrics *m, int64_t now_s);

/* What the health rule looks at. */
struct zl_health {
	int64_t pass_age_ms;    /* since the last successful pass ended; -1 never */
	double poll_interval;   /* seconds */
	const char *pass_error; /* why the last pass failed, or NULL/"" */
	bool broker_checked;    /* false: the broker is not judged */
	bool broker_connected;
	const char *broker_error; /* why not, or NULL/"" */
	bool standby;             /* another instance is the active one */
	bool deliver;             /* deliver's rule: the broker and Open Zaak's credentials */
	bool credentials_refused; /* deliver: Open Zaak refuses them */
	bool state_reachable;     /* a standby's state server answers */
};

/*
 * Healthy when the last pass succeeded within 3 poll intervals and the
 * broker connection is up. Returns true, or false with the reason, one
 * line, in reason. A standby is judged by whether it could take over: it
 * is healthy while its state server answers, and the reason (either way)
 * starts with "standby".
 */
bool metrics_healthy(const struct zl_health *h, char *reason, size_t size);

/* The health input of a running daemon's figures at monotonic time now_ms,
 * for /healthz: the reason says what is wrong but not the errors' texts,
 * which name hosts and users. */
struct zl_health metrics_health_of(const struct zl_metrics *m, int64_t now_ms);

#endif
