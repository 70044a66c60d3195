/*
 * Publisher: the RabbitMQ side, on rabbitmq-c.
 *
 * One connection and one channel in confirm mode. publisher_connect() tries
 * the configured URLs in turn and logs in (both by broker.c), opens the
 * channel and declares the exchange (durable topic) with its alternate
 * exchange "<exchange>.unrouted" (fanout) and the durable queue of that name.
 * publisher_publish() sends a batch without waiting per message (mandatory,
 * persistent, CloudEvents properties and headers, the row's seq as
 * zaaklink-seq) and then reads the broker's acks, nacks and returns until
 * every message of the batch is settled or the confirm timeout passes. Any connection or channel
 * error closes the connection; the caller reconnects with backoff.
 */
#ifndef ZL_PUBLISHER_H
#define ZL_PUBLISHER_H

#include "common.h"
#include "conf.h"
#include "store.h"

/*
 * The header every published message carries: the outbox seq of its row
 * (a long), the same on every republish of that row and increasing in
 * record order within one state. It is the publisher's, not the retry
 * controller's: every move of the message keeps it unchanged.
 */
#define ZL_H_SEQ "zaaklink-seq"

struct zl_publisher;

/* conf is borrowed and must outlive the publisher; NULL with err set when out of memory. */
struct zl_publisher *publisher_new(const struct zl_amqp_conf *conf, struct zl_err *err);
void publisher_free(struct zl_publisher *pub);

/* A function the publisher calls at least once a second while it waits
 * for the broker (a connect between two nodes, a full socket, confirms):
 * run keeps its state session alive with it (store_keepalive()). */
void publisher_set_tick(struct zl_publisher *pub, void (*tick)(void *arg), void *arg);

int publisher_connect(struct zl_publisher *pub, struct zl_err *err);
bool publisher_connected(const struct zl_publisher *pub);
/* True while the broker has blocked publishers (memory or disk alarm). */
bool publisher_blocked(const struct zl_publisher *pub);

/*
 * Publishes rows[0..n) in order and waits for their confirms. Returns the
 * number of leading rows the broker acknowledged (all n on success). When
 * fewer, err says why (nack, returned as unroutable, timeout, connection
 * lost); the connection is closed when it can no longer be trusted.
 * Returns -1 only when nothing could be sent at all.
 */
int publisher_publish(struct zl_publisher *pub, const struct zl_outbox_row *rows, int n,
                      struct zl_err *err);

/*
 * Services the connection for up to timeout_ms: sends and checks heartbeats
 * and handles connection.blocked/unblocked and close frames. Returns -1
 * when the connection was lost (and closes it).
 */
int publisher_service(struct zl_publisher *pub, int timeout_ms, struct zl_err *err);

/* What the broker refused since publisher_new(), for the metrics. */
struct zl_publisher_counts {
	int64_t nacked;   /* events nacked */
	int64_t returned; /* events returned as unroutable */
};
const struct zl_publisher_counts *publisher_counts(const struct zl_publisher *pub);

/* Message count of a queue by passive declare; -1 when it does not exist. */
int64_t publisher_queue_depth(struct zl_publisher *pub, const char *queue, struct zl_err *err);

#endif
