/*
 * Retry: what happens to a delivery a consumer rejects.
 *
 * A consumer queue dead-letters a rejected (or expired, or over-delivered)
 * message into <exchange>.retry; the controller here, inside run, takes it
 * from there and decides (retry_decide) whether it waits in the next tier
 * or is parked in <exchange>.dlq. The queues and how they are wired:
 * topology.h; the client that moves the messages: mover.h.
 *
 * The controller counts attempts in headers of its own (RabbitMQ 3.13 and
 * later stop counting client-republished x-death) and never touches body,
 * message_id, any other header (the publisher's zaaklink-seq included) or
 * any other property, but for a message it parks as unmovable: its user_id
 * (RabbitMQ refuses it) and the headers that do not fit a frame
 * (retry_fit_headers). It moves one message at a time
 * (mover_take, mover_publish with confirm, mover_ack): duplicates are
 * possible, losses are not.
 */
#ifndef ZL_RETRY_H
#define ZL_RETRY_H

#include "amqp_compat.h"
#include "common.h"
#include "conf.h"
#include "mover.h"

/* Headers zaaklink keeps on a failed message (values: see the README). */
#define ZL_H_ATTEMPTS "zaaklink-attempts"           /* long: failures so far */
#define ZL_H_ORIGIN "zaaklink-origin-queue"         /* the consumer queue */
#define ZL_H_ROUTING_KEY "zaaklink-routing-key"     /* key it was first published with */
#define ZL_H_FIRST_FAILURE "zaaklink-first-failure" /* "YYYY-MM-DDTHH:MM:SSZ" */
#define ZL_H_LAST_FAILURE "zaaklink-last-failure"
#define ZL_H_LAST_REASON "zaaklink-last-reason" /* rejected, expired, delivery_limit, ... */
/* Written only when a consumer parks a message (consumer.h): why, in words.
 * Dropped with the six above on every move, so it never outlives its park. */
#define ZL_H_LAST_ERROR "zaaklink-last-error"

/*
 * The most failures a zaaklink-attempts header may count: zaaklink itself
 * never writes more than the number of tiers plus one, so anything beyond
 * (or below 0, or not a whole number) was not written by zaaklink and the
 * message is parked with reason "bad_header".
 */
#define ZL_RETRY_MAX_ATTEMPTS 10000

/*
 * How often the controller tries to move the same message before it parks
 * it with reason "unmovable": failures that are the message's own (a wait
 * queue that nacks or returns it) and connections lost while moving it.
 */
#define ZL_RETRY_MOVE_TRIES 3

/* What the controller does with a failed message. */
struct zl_retry_decision {
	int tier;           /* index into retry.delays (0 .. n_delays-1), or -1: park */
	int attempts;       /* failures including this one, 1 .. ZL_RETRY_MAX_ATTEMPTS + 1 */
	const char *reason; /* the reason given, or "bad_header" */
	const char *why;    /* for the log: "retry", "last tier passed", ... */
};

/*
 * The retry policy, pure: attempts_before failures were counted already,
 * reason is why the message died this time, origin_known says whether it
 * came from a configured consumer queue. A message that reached the quorum
 * delivery limit is parked at once: it was delivered delivery_limit times
 * without any verdict, the mark of a message that kills its consumer, and
 * backing off would only do that again later. An attempts_before outside
 * 0 .. ZL_RETRY_MAX_ATTEMPTS (a header zaaklink did not write) parks it
 * with reason "bad_header".
 */
struct zl_retry_decision retry_decide(const struct zl_retry_conf *rc, int64_t attempts_before,
                                      const char *reason, bool origin_known);

/* The zaaklink and CloudEvents facts of a message, read from its headers. */
struct zl_failure {
	char id[256];
	char type[256];
	char subject[256];
	char origin[256];
	char routing_key[256];
	char first[32];
	char last[32];
	char reason[32];
	int attempts;      /* zaaklink-attempts, 0 when absent, within 0 .. ZL_RETRY_MAX_ATTEMPTS */
	bool bad_attempts; /* zaaklink-attempts is there but no whole number in that range */
};

/* Reads f from a taken message; the routing key it arrived with is the
 * origin queue when no header says otherwise. */
void retry_read_failure(const struct zl_taken *t, struct zl_failure *f);

/*
 * The headers of t without the controller's own (the ZL_H_ names above);
 * the broker's x-death and the publisher's zaaklink-seq stay. With room
 * for extra more entries at the end. free() entries after use.
 */
amqp_table_t retry_headers_without_ours(const struct zl_taken *t, int extra);

/*
 * The size in bytes of the content header frame that carries properties p
 * with headers h instead of p's own, as rabbitmq-c encodes it; SIZE_MAX
 * when h cannot be encoded within limit bytes.
 */
size_t retry_header_frame_size(const amqp_basic_properties_t *p, const amqp_table_t *h,
                               size_t limit);

/*
 * Makes p with headers h fit a frame of frame_max bytes by taking out
 * entries of h, the largest first, but never one of the last keep (zaaklink's
 * own); the others keep their order. Returns how many were taken out, or -1
 * when even that is not enough.
 */
int retry_fit_headers(const amqp_basic_properties_t *p, amqp_table_t *h, int keep,
                      size_t frame_max);

/* The retry controller of run (see the top of this file). */
struct zl_retry;

/* NULL with err when out of memory. */
struct zl_retry *retry_new(const struct zl_conf *conf, struct zl_err *err);
void retry_free(struct zl_retry *r);
/* The most consumer queues retry_add_origin() takes. */
#define ZL_RETRY_MAX_ORIGINS 8
/*
 * Makes queue, a consumer queue that is not in amqp.queues (deliver.queue),
 * a known origin: what it rejects goes through the wait tiers and back to
 * it like what the queues of amqp.queues reject, and the controller
 * declares it (topology_declare_consumer) with the rest of the topology.
 * Call it before the first retry_step(). A queue known already is taken
 * once. -1 with err: ZL_EX_SOFTWARE when out of memory or more than
 * ZL_RETRY_MAX_ORIGINS.
 */
int retry_add_origin(struct zl_retry *r, const char *queue, struct zl_err *err);
/*
 * Does what is due within about budget_ms and returns: connects (with
 * backoff, logging an outage once), declares the topology, and moves failed
 * messages until X.retry is empty or the budget is spent. Never waits for
 * new failures: run calls it once per tick of its loop.
 */
void retry_step(struct zl_retry *r, int budget_ms);
/* Messages moved into wait tier i (0 .. n_delays-1) since start; i = -1:
 * into the parking queue. */
int64_t retry_moves(const struct zl_retry *r, int tier);

#endif
