/*
 * Consumer: the RabbitMQ side of `zaaklink deliver`: one consumer of one
 * queue, on a connection of its own (broker.c opens it, trying the
 * configured nodes in turn, TLS and login as for every other client).
 *
 * Three channels: CONSUME takes the deliveries (basic.qos with the
 * prefetch given, then basic.consume with acknowledgements) and carries
 * their ack and reject; PARK, in confirm mode, carries the copy of a
 * message that consumer_park() puts into the parking queue; a third one is
 * opened per passive declare by consumer_queue_depth(). The broker pushes
 * deliveries at any time, also while a park waits for its confirm: every
 * frame is read by one loop here, which keeps deliveries that arrive
 * meanwhile, in order, for the next consumer_next().
 *
 * What becomes of a delivery is the caller's verdict, one of
 *
 *   consumer_ack()     done: the broker forgets it;
 *   consumer_reject()  failed, try again later: reject without requeue, the
 *                      queue dead-letters it into <exchange>.retry and the
 *                      retry controller of `run` (retry.h) moves it through
 *                      the wait tiers and back, or parks it after the last;
 *   consumer_park()    never worth another try: straight into <exchange>.dlq,
 *                      with the retry controller's headers (below).
 *
 * A delivery that gets no verdict goes back to its queue when the
 * connection ends, with the redelivered flag: nothing is lost, anything
 * may come twice. Delivery tags belong to the connection that gave them,
 * so every delivery knows its connection (struct zl_delivery.connection),
 * and a verdict on one from an earlier connection sends nothing.
 *
 * Errors: every function that fails fills err. ZL_EX_UNAVAILABLE means the
 * connection is gone (consumer_connected() is false, the broker requeues
 * every delivery without a verdict): reconnect with consumer_connect()
 * after a backoff (outage.h: outage_fail / outage_ok, amqp.max_backoff).
 * Any other code leaves the connection as it was. No function here logs:
 * the caller decides what an event is worth (deliver.parked, ...).
 *
 * Not thread safe: one thread owns a consumer and its deliveries.
 */
#ifndef ZL_CONSUMER_H
#define ZL_CONSUMER_H

#include "amqp_compat.h"
#include "common.h"
#include "conf.h"
#include "mover.h"
#include "retry.h"

#include <stdint.h>

/* The most deliveries a consumer may hold without a verdict (basic.qos is 16 bits). */
#define ZL_CONSUMER_MAX_PREFETCH 65535

/* The longest detail consumer_park() keeps in ZL_H_LAST_ERROR (retry.h), in
 * bytes, cut at a character boundary. */
#define ZL_CONSUMER_MAX_DETAIL 1000

/*
 * One delivery, owned by the caller until consumer_release(). t is the
 * message as mover_take() gives one: t.tag the delivery tag, t.exchange and
 * t.routing_key (t.routing_key_len its bytes) what it was published with
 * (for a message back from a wait tier: X.requeue and the queue's name),
 * t.msg the body (t.msg.body) and every property, the headers in
 * t.msg.properties.headers when t.msg.properties._flags has
 * AMQP_BASIC_HEADERS_FLAG. The fields below are read from it for
 * convenience.
 */
struct zl_delivery {
	struct zl_taken t;
	bool redelivered;     /* the broker delivered it before, without a verdict */
	bool has_seq;         /* zaaklink-seq is there and an integer of any width */
	int64_t seq;          /* zaaklink-seq (publisher.h), 0 when !has_seq */
	bool has_message_id;  /* the message_id property is set */
	char message_id[256]; /* its bytes up to the first NUL ("" when not set) */
	uint64_t connection;  /* the connection it came on (1, 2, ...): see consumer_ack() */
};

struct zl_consumer;

/*
 * A consumer of queue with at most prefetch (1 .. ZL_CONSUMER_MAX_PREFETCH)
 * deliveries without a verdict at a time, not yet connected. amqp is
 * borrowed and must outlive the consumer: its urls, TLS settings,
 * connect_timeout, confirm_timeout (every RPC and a park's confirm),
 * heartbeat and exchange (the parking queue is <exchange>.dlq) are used.
 * NULL with err: ZL_EX_USAGE for a prefetch out of range or an empty queue
 * name, ZL_EX_SOFTWARE when out of memory.
 */
struct zl_consumer *consumer_new(const struct zl_amqp_conf *amqp, const char *queue, int prefetch,
                                 struct zl_err *err);
/* Disconnects (deliveries without a verdict go back to the queue) and frees; NULL is allowed. */
void consumer_free(struct zl_consumer *c);

/*
 * Connects, starting at the node after the last one that failed, and
 * starts consuming; 0 at once when connected already. Deliveries kept from
 * an earlier connection are dropped (the broker has requeued them). -1
 * with err from the last node tried: ZL_EX_DATAERR when the queue does not
 * exist (`zaaklink setup` declares it), ZL_EX_CONFIG for a URL or TLS file
 * that cannot be used or a consume the broker refuses (access), and
 * ZL_EX_UNAVAILABLE for everything else.
 */
int consumer_connect(struct zl_consumer *c, struct zl_err *err);
bool consumer_connected(const struct zl_consumer *c);
/* Ends the connection; deliveries without a verdict go back to the queue. */
void consumer_disconnect(struct zl_consumer *c);
/* The masked URL of the node connected to, or last tried; "(none)" before any. */
const char *consumer_node(const struct zl_consumer *c);
/* The connection's count (1 for the first): the value struct zl_delivery.connection has. */
uint64_t consumer_connection(const struct zl_consumer *c);

/*
 * The next delivery into *d, waiting up to timeout_ms (0: only what has
 * arrived already). 1 with *d filled (the caller then owns it: release
 * it with consumer_release()), 0 when none came in time (*d untouched),
 * -1 with err: ZL_EX_UNAVAILABLE when the connection was lost or closed or
 * the broker cancelled the consumer (its queue was deleted), or when not
 * connected. Heartbeats are sent and checked only inside the calls of this
 * module: call it at least once per heartbeat interval.
 */
int consumer_next(struct zl_consumer *c, int timeout_ms, struct zl_delivery *d, struct zl_err *err);

/*
 * The connection's socket, to poll (POLLIN) beside other work; -1 when not
 * connected. Readable data is not all there is: deliveries may wait inside
 * the consumer already, so call consumer_next(c, 0, ...) until it returns
 * 0 before sleeping on the socket, and sleep no longer than a heartbeat.
 */
int consumer_fd(const struct zl_consumer *c);

/* Frees what a delivery holds; it may be released after its connection is gone. */
void consumer_release(struct zl_delivery *d);

/*
 * Acknowledges d: the broker removes it from the queue. 0, or -1 with err:
 * ZL_EX_TEMPFAIL when d came on an earlier connection (nothing is sent:
 * the broker has requeued it and delivers it again), ZL_EX_UNAVAILABLE
 * when the connection is gone (then d is requeued too).
 */
int consumer_ack(struct zl_consumer *c, const struct zl_delivery *d, struct zl_err *err);

/*
 * Rejects d without requeueing it: the queue dead-letters it into
 * <exchange>.retry, where the retry controller takes it (only when the
 * queue was declared so: topology_declare_consumer()). 0, or -1 as for
 * consumer_ack().
 */
int consumer_reject(struct zl_consumer *c, const struct zl_delivery *d, struct zl_err *err);

/*
 * Parks d: publishes a copy to the parking queue <exchange>.dlq (default
 * exchange, mandatory), waits up to amqp.confirm_timeout for the broker's
 * confirm, and only then acknowledges d. The copy has d's body and every
 * property as delivered; its headers are d's, zaaklink-seq and x-death
 * included, but for the retry controller's six (retry.h), which it writes
 * as the controller does when it parks: zaaklink-attempts (the count so
 * far plus one), zaaklink-origin-queue (this consumer's queue),
 * zaaklink-routing-key (the key it was first published with),
 * zaaklink-first-failure (kept, or now), zaaklink-last-failure (now) and
 * zaaklink-last-reason = reason; with ZL_H_LAST_ERROR = detail (cut to
 * ZL_CONSUMER_MAX_DETAIL bytes) when detail is neither NULL nor "". `zaaklink
 * dlq list|export|requeue` handle it like any parked message. When the
 * headers do not fit a frame, d's own are left out, the largest first
 * (zaaklink's are always kept).
 *
 * Returns how many of d's headers were left out (0 normally), or -1 with
 * err and d without a verdict: ZL_EX_TEMPFAIL when the broker nacked the
 * copy or no queue took it (<exchange>.dlq missing) or d came on an
 * earlier connection, ZL_EX_DATAERR when even zaaklink's headers do not fit
 * a frame (nothing was sent), ZL_EX_SOFTWARE when out of memory; the
 * connection is kept after these. ZL_EX_UNAVAILABLE when the connection
 * was lost or the confirm did not come in time: the connection is gone, d
 * goes back to its queue, and a copy may have reached the parking queue
 * all the same (duplicates are possible, losses are not). A copy that was
 * confirmed but whose ack then failed (ZL_EX_UNAVAILABLE) is parked and
 * comes again too.
 */
int consumer_park(struct zl_consumer *c, const struct zl_delivery *d, const char *reason,
                  const char *detail, struct zl_err *err);

/*
 * The messages ready in the queue (not counting those delivered and
 * waiting for a verdict), by a passive declare: for `deliver --drain`.
 * -1 with err: ZL_EX_DATAERR when the queue no longer exists,
 * ZL_EX_TEMPFAIL when the broker refused (the connection is kept), or
 * ZL_EX_UNAVAILABLE when the connection is gone or was never made.
 */
int64_t consumer_queue_depth(struct zl_consumer *c, struct zl_err *err);

#endif
