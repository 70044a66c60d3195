/*
 * Relay: moves recorded events from the outbox to the broker.
 *
 * Takes due outbox rows in record order, publishes them as one batch and
 * removes exactly the acknowledged prefix. From the first row that was not
 * acknowledged on, every row stays pending and is tried again after a
 * capped exponential backoff (zl_backoff_ms), in the same order and with
 * the same event id: delivery is at-least-once and an ontkoppeld never
 * overtakes the gekoppeld it undoes.
 */
#ifndef ZL_RELAY_H
#define ZL_RELAY_H

#include "common.h"
#include "conf.h"
#include "publisher.h"
#include "store.h"

struct zl_relay {
	const struct zl_amqp_conf *conf;
	struct zl_store *store;
	struct zl_publisher *pub;
	int failures;                 /* consecutive failed batches, for the backoff */
	int64_t published;            /* rows confirmed by this process */
	int64_t published_by_type[2]; /* the same, by enum zl_event_type */
	int64_t retried;              /* rows put back for another attempt after a failed batch */
};

void relay_init(struct zl_relay *r, const struct zl_amqp_conf *conf, struct zl_store *st,
                struct zl_publisher *pub);

/*
 * Publishes one batch of due rows. Returns the number confirmed (0 when
 * nothing was due), -1 when the batch failed (err says why; the rows are
 * rescheduled).
 */
int relay_step(struct zl_relay *r, struct zl_err *err);

#endif
