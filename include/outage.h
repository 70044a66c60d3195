/*
 * Outage: waiting out an unavailable PostgreSQL or RabbitMQ.
 *
 * Whatever fails for want of a server is tried again after a backoff: 1 s
 * after the first failure, doubling with every further one up to a cap
 * (amqp.max_backoff). The relay waits the same way before it sends a failed
 * batch again, and the daemon's connections and the retry controller's wait
 * out an outage with it.
 *
 * An outage is logged once when it starts (error) and once when it ends
 * (info, with how long it lasted and how many attempts it took); the
 * attempts in between are debug lines, so a long outage neither floods the
 * log nor hides its end. Each user names its three events (struct
 * zl_outage_events), so alerts can tell PostgreSQL from RabbitMQ from the
 * retry controller. The functions take the time as an argument and return
 * what changed, so that their decisions can be checked without a clock or
 * a log.
 */
#ifndef ZL_OUTAGE_H
#define ZL_OUTAGE_H

#include "common.h"

/*
 * Milliseconds to wait after the n-th consecutive failure: 1000 for n <= 1,
 * doubled per further failure, never above max_seconds (a cap below 1 s is
 * the wait itself; a negative one counts as 0). Does not overflow for any
 * n or max_seconds.
 */
int64_t zl_backoff_ms(int failures, double max_seconds);

/* The log events of one kind of outage. */
struct zl_outage_events {
	const char *unavailable;      /* error: the first failure of an outage */
	const char *recovered;        /* info: the first success after failures */
	const char *reconnect_failed; /* debug: every further failure */
};

/* One thing that may be unavailable; zero but for events when all is well. */
struct zl_outage {
	const struct zl_outage_events *events; /* borrowed */
	int failures;                          /* consecutive */
	int64_t since_ms;                      /* monotonic: the first failure */
	int64_t next_try_ms;                   /* monotonic: the next try; 0 when up */
};

/* What an attempt meant for the outage. */
enum zl_outage_change {
	ZL_OUTAGE_SAME,    /* still up, or still down */
	ZL_OUTAGE_STARTED, /* the first failure */
	ZL_OUTAGE_ENDED,   /* a success after failures */
};

/*
 * Counts a failed attempt made at now_ms (monotonic) and sets next_try_ms
 * to now_ms plus the backoff, or plus min_wait_ms when that is longer.
 * Logs the start of the outage, or the attempt at debug. node, when not
 * NULL, is logged first (node=...): the RabbitMQ node that failed.
 */
enum zl_outage_change outage_fail(struct zl_outage *o, int64_t now_ms, double max_seconds,
                                  int64_t min_wait_ms, const char *node, const struct zl_err *err);

/* Counts a successful attempt at now_ms; logs the end of an outage (with node, as above). */
enum zl_outage_change outage_ok(struct zl_outage *o, int64_t now_ms, const char *node);

#endif
