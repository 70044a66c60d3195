/*
 * Topology: the names of zaaklink's exchanges and queues on RabbitMQ and
 * every declaration of them.
 *
 * All names are derived from amqp.exchange X, here and nowhere else:
 *
 *   X (topic) --binding--> consumer queue Q (amqp.queues)
 *   Q  --dead-letter, key Q-->  X.retry (fanout) --> queue X.retry
 *   controller: X.retry --publish, key Q--> X.wait.<N>s (fanout) --> queue X.wait.<N>s
 *   X.wait.<N>s --TTL N s, dead-letter, key still Q--> X.requeue (direct) --key Q--> Q
 *   controller: after the last tier, or on delivery_limit --> queue X.dlq (parking)
 *   X --no binding matches--> X.unrouted (fanout, alternate exchange) --> queue X.unrouted
 *
 * Every consumer queue is bound to X.requeue with its own name as the key,
 * so a message comes back to exactly the queue it failed in and to no other
 * queue bound to the same event type. The per-tier fanout exchanges exist
 * so that the controller can publish into a wait queue while keeping the
 * routing key = the origin queue, which the TTL dead-lettering then keeps.
 *
 * zaaklink's own queues (X.unrouted, X.retry, X.wait.<N>s, X.dlq) are of
 * amqp.queue_type: classic, or quorum, so that on a cluster they are
 * replicated and outlive the node they were declared on (a classic queue
 * on a node that is down cannot even be declared again, and the publisher
 * declares X.unrouted on every connect).
 *
 * Who declares what: the event publisher declares X with its alternate
 * exchange and the unrouted queue on every connect (so that nothing it
 * publishes is ever dropped for want of a binding); `zaaklink setup` and
 * the retry controller at the start of run declare all of it. Every
 * declaration is idempotent; one that conflicts with what exists names
 * the queue or exchange and the argument that differs. `status` and the
 * dlq commands only look (passive declares: broker.h).
 */
#ifndef ZL_TOPOLOGY_H
#define ZL_TOPOLOGY_H

#include "amqp_compat.h"
#include "common.h"
#include "conf.h"

#include <stdio.h>

/* The names of zaaklink's topology for one exchange. */
struct zl_topology {
	char exchange[256];
	char unrouted[272];
	char retry[272];                     /* exchange and queue */
	char requeue[272];                   /* exchange */
	char dlq[272];                       /* queue */
	char wait[ZL_MAX_RETRY_DELAYS][288]; /* exchange and queue per tier */
	int n_wait;
};

/* The names for conf's amqp.exchange and retry.delays. */
void topology_names(const struct zl_conf *conf, struct zl_topology *t);
/* The names for exchange, without wait tiers (n_wait = 0). */
void topology_exchange_names(const char *exchange, struct zl_topology *t);

/* True when name is one of the names zaaklink derives from exchange, a
 * wait tier of any delay included: no consumer queue may be called so. */
bool topology_is_own(const char *exchange, const char *name);

/*
 * What a failed declaration left behind (every declare function below
 * returns 0 or one of these): the broker refused it and closed the channel
 * (the close is answered, the connection can still be closed politely), or
 * the connection itself was lost or closed by the broker.
 */
#define ZL_TOPOLOGY_REFUSED (-1)
#define ZL_TOPOLOGY_LOST (-2)

/*
 * Declares what the event publisher needs on channel ch: the fanout
 * "<exchange>.unrouted" with its durable queue (of amqp->queue_type), then
 * the topic exchange whose alternate exchange it is. Prints each name to
 * out when out is not NULL. A declaration that conflicts with an existing
 * one (or that the user may not make) fails with ZL_EX_CONFIG, anything
 * else with ZL_EX_UNAVAILABLE.
 */
int topology_declare_exchange(amqp_connection_state_t conn, amqp_channel_t ch,
                              const struct zl_amqp_conf *amqp, FILE *out, struct zl_err *err);

/*
 * Declares the whole topology on channel ch: the event exchange as above,
 * the retry, requeue and wait exchanges, the retry, wait and parking
 * queues, and the consumer queues with their bindings. Failures as above.
 */
int topology_declare(amqp_connection_state_t conn, amqp_channel_t ch, const struct zl_conf *conf,
                     FILE *out, struct zl_err *err);

/* What topology_declare_consumer() binds a queue to: every zaaklink event. */
#define ZL_TOPOLOGY_EVENTS_BINDING "nl.overheid.zaken.#"
/* Its delivery limit when it is a quorum queue: amqp.queues' default. */
#define ZL_TOPOLOGY_DELIVERY_LIMIT 5

/*
 * Declares one consumer queue that is not in amqp.queues (deliver.queue)
 * exactly as those are: durable, of amqp.queue_type (a quorum queue with
 * x-delivery-limit ZL_TOPOLOGY_DELIVERY_LIMIT), dead-lettering into
 * X.retry with its own name as the key, bound to X with
 * ZL_TOPOLOGY_EVENTS_BINDING and to X.requeue with its own name. Call it
 * after topology_declare() on the same channel: the exchanges it binds to
 * must exist. A queue named in amqp.queues is declared there with its own
 * settings and is left alone here (0); one of zaaklink's own names, or
 * an empty one, fails with ZL_EX_CONFIG before anything is sent
 * (ZL_TOPOLOGY_REFUSED). Failures otherwise as above. The retry controller
 * must know the queue too (retry_add_origin()), or it parks what the queue
 * rejects as coming from an unknown origin.
 */
int topology_declare_consumer(amqp_connection_state_t conn, amqp_channel_t ch,
                              const struct zl_conf *conf, const char *queue, FILE *out,
                              struct zl_err *err);

#endif
