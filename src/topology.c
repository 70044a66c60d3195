/* Topology: the names of zaaklink's exchanges and queues, and every declaration of them. */
#include "topology.h"
#include "broker.h"

#include <stdio.h>
#include <string.h>

/* What names a wait tier after exchange X: "X.wait.<N>s". */
#define WAIT_INFIX ".wait."

/* The names derived from exchange x, with a wait tier per delay. */
static void derive(const char *x, const int *delays, int n_delays, struct zl_topology *t)
{
	memset(t, 0, sizeof(*t));
	if (n_delays > ZL_MAX_RETRY_DELAYS)
		n_delays = ZL_MAX_RETRY_DELAYS;
	snprintf(t->exchange, sizeof(t->exchange), "%s", x);
	snprintf(t->unrouted, sizeof(t->unrouted), "%s.unrouted", x);
	snprintf(t->retry, sizeof(t->retry), "%s.retry", x);
	snprintf(t->requeue, sizeof(t->requeue), "%s.requeue", x);
	snprintf(t->dlq, sizeof(t->dlq), "%s.dlq", x);
	for (int i = 0; i < n_delays; i++)
		snprintf(t->wait[i], sizeof(t->wait[i]), "%s" WAIT_INFIX "%ds", x, delays[i]);
	t->n_wait = n_delays;
}

void topology_names(const struct zl_conf *conf, struct zl_topology *t)
{
	derive(conf->amqp.exchange, conf->retry.delays, conf->retry.n_delays, t);
}

void topology_exchange_names(const char *exchange, struct zl_topology *t)
{
	derive(exchange, NULL, 0, t);
}

bool topology_is_own(const char *exchange, const char *name)
{
	struct zl_topology t;
	size_t len;

	derive(exchange, NULL, 0, &t);
	if (strcmp(name, t.unrouted) == 0 || strcmp(name, t.retry) == 0 ||
	    strcmp(name, t.requeue) == 0 || strcmp(name, t.dlq) == 0)
		return true;
	len = strlen(t.exchange);
	return strncmp(name, t.exchange, len) == 0 &&
	       strncmp(name + len, WAIT_INFIX, strlen(WAIT_INFIX)) == 0;
}

/* What a failed RPC left: answers the broker's close and says whether the
 * connection survived it. */
static int left_behind(amqp_connection_state_t c, amqp_channel_t ch, amqp_rpc_reply_t r)
{
	return broker_answer_reply(c, ch, r) ? ZL_TOPOLOGY_REFUSED : ZL_TOPOLOGY_LOST;
}

/*
 * Fills err for a failed declaration. A 406 means that what exists differs
 * from what the configuration asks for; the broker's text names the
 * argument ("inequivalent arg 'x-message-ttl' for queue ... received ...
 * but current is ..."), so it is kept, with what to do about it.
 */
static int declare_failed(amqp_connection_state_t c, amqp_channel_t ch, amqp_rpc_reply_t r,
                          const char *kind, const char *name, struct zl_err *err)
{
	char reason[512];
	const char *text = reason;

	broker_reply_text(r, reason, sizeof(reason));
	if (broker_reply_code(r) == AMQP_PRECONDITION_FAILED) {
		if (strncmp(reason, "PRECONDITION_FAILED - ", 22) == 0)
			text += 22;
		zl_err_set(err, ZL_EX_CONFIG,
		           "%s %s exists with different settings (%s); delete it or make "
		           "the configuration match it",
		           kind, name, text);
	} else if (broker_reply_code(r) == AMQP_ACCESS_REFUSED) {
		zl_err_set(err, ZL_EX_CONFIG, "could not declare %s %s: %s", kind, name, text);
	} else {
		zl_err_set(err, ZL_EX_UNAVAILABLE, "could not declare %s %s: %s", kind, name, text);
	}
	return left_behind(c, ch, r);
}

static int declare_exchange(amqp_connection_state_t c, amqp_channel_t ch, const char *name,
                            const char *type, amqp_table_t args, FILE *out, struct zl_err *err)
{
	amqp_rpc_reply_t r;

	amqp_exchange_declare(c, ch, amqp_cstring_bytes(name), amqp_cstring_bytes(type), 0, 1, 0, 0,
	                      args);
	r = amqp_get_rpc_reply(c);
	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		return declare_failed(c, ch, r, "exchange", name, err);
	if (out)
		fprintf(out, "exchange %-40s %s\n", name, type);
	return 0;
}

static int declare_queue(amqp_connection_state_t c, amqp_channel_t ch, const char *name,
                         amqp_table_t args, const char *what, FILE *out, struct zl_err *err)
{
	amqp_rpc_reply_t r;

	amqp_queue_declare(c, ch, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
	r = amqp_get_rpc_reply(c);
	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		return declare_failed(c, ch, r, "queue", name, err);
	if (out)
		fprintf(out, "queue    %-40s %s\n", name, what);
	return 0;
}

static int bind_queue(amqp_connection_state_t c, amqp_channel_t ch, const char *q, const char *x,
                      const char *key, FILE *out, struct zl_err *err)
{
	amqp_rpc_reply_t r;

	amqp_queue_bind(c, ch, amqp_cstring_bytes(q), amqp_cstring_bytes(x),
	                amqp_cstring_bytes(key), amqp_empty_table);
	r = amqp_get_rpc_reply(c);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		char reason[512];

		broker_reply_text(r, reason, sizeof(reason));
		zl_err_set(err, ZL_EX_UNAVAILABLE, "could not bind queue %s to %s with '%s': %s", q,
		           x, key, reason);
		return left_behind(c, ch, r);
	}
	if (out)
		fprintf(out, "binding  %-40s <- %s '%s'\n", q, x, key);
	return 0;
}

/*
 * The arguments of one of zaaklink's own queues (amqp.queue_type): n
 * entries of e are set already, x-queue-type is added for a quorum queue,
 * and what gets ", quorum" appended for setup's listing.
 */
static amqp_table_t own_queue(enum zl_queue_type type, amqp_table_entry_t *e, int n, char *what,
                              size_t size)
{
	amqp_table_t args = {n, e};

	if (type == ZL_QUEUE_QUORUM) {
		broker_string_entry(&e[args.num_entries++], "x-queue-type", "quorum");
		snprintf(what + strlen(what), size - strlen(what), ", quorum");
	}
	return args;
}

/* The exchange and its alternate exchange, for topology_declare_exchange. */
static int event_exchange(amqp_connection_state_t c, amqp_channel_t ch, const struct zl_topology *t,
                          enum zl_queue_type type, FILE *out, struct zl_err *err)
{
	amqp_table_entry_t e, qe[1];
	amqp_table_t ae = {1, &e};
	char what[64] = "events no binding matched";
	amqp_table_t args = own_queue(type, qe, 0, what, sizeof(what));
	int rc;

	if ((rc = declare_exchange(c, ch, t->unrouted, "fanout", amqp_empty_table, out, err)) < 0 ||
	    (rc = declare_queue(c, ch, t->unrouted, args, what, out, err)) < 0 ||
	    (rc = bind_queue(c, ch, t->unrouted, t->unrouted, "", out, err)) < 0)
		return rc;
	broker_string_entry(&e, "alternate-exchange", t->unrouted);
	return declare_exchange(c, ch, t->exchange, "topic", ae, out, err);
}

int topology_declare_exchange(amqp_connection_state_t c, amqp_channel_t ch,
                              const struct zl_amqp_conf *amqp, FILE *out, struct zl_err *err)
{
	struct zl_topology t;

	derive(amqp->exchange, NULL, 0, &t);
	return event_exchange(c, ch, &t, amqp->queue_type, out, err);
}

/* The arguments of consumer queue q: dead-lettering into X.retry keyed by its name. */
static int consumer_queue(amqp_connection_state_t c, amqp_channel_t ch,
                          const struct zl_queue_conf *q, const struct zl_topology *t, FILE *out,
                          struct zl_err *err)
{
	amqp_table_entry_t e[4];
	amqp_table_t args = {0, e};
	char what[128];
	int rc;

	broker_string_entry(&e[args.num_entries++], "x-dead-letter-exchange", t->retry);
	broker_string_entry(&e[args.num_entries++], "x-dead-letter-routing-key", q->name);
	/*
	 * Classic queues get no x-queue-type: a queue declared before with no
	 * type would otherwise count as different on older brokers.
	 */
	if (q->type == ZL_QUEUE_QUORUM) {
		broker_string_entry(&e[args.num_entries++], "x-queue-type", "quorum");
		broker_long_entry(&e[args.num_entries++], "x-delivery-limit", q->delivery_limit);
		snprintf(what, sizeof(what), "quorum, delivery limit %d, dead-letters to %s",
		         q->delivery_limit, t->retry);
	} else {
		snprintf(what, sizeof(what), "classic, dead-letters to %s", t->retry);
	}
	if ((rc = declare_queue(c, ch, q->name, args, what, out, err)) < 0)
		return rc;
	for (int k = 0; k < q->n_bindings; k++) {
		if ((rc = bind_queue(c, ch, q->name, t->exchange, q->bindings[k], out, err)) < 0)
			return rc;
	}
	return bind_queue(c, ch, q->name, t->requeue, q->name, out, err);
}

/* Wait tier i: its fanout exchange, and its queue that dead-letters into X.requeue. */
static int wait_tier(amqp_connection_state_t c, amqp_channel_t ch, const struct zl_conf *conf,
                     const struct zl_topology *t, int i, FILE *out, struct zl_err *err)
{
	amqp_table_entry_t e[3];
	amqp_table_t args;
	char what[128];
	int rc;

	broker_long_entry(&e[0], "x-message-ttl", (int64_t)conf->retry.delays[i] * 1000);
	broker_string_entry(&e[1], "x-dead-letter-exchange", t->requeue);
	snprintf(what, sizeof(what), "tier %d: waits %d s, then back via %s", i + 1,
	         conf->retry.delays[i], t->requeue);
	args = own_queue(conf->amqp.queue_type, e, 2, what, sizeof(what));
	if ((rc = declare_exchange(c, ch, t->wait[i], "fanout", amqp_empty_table, out, err)) < 0 ||
	    (rc = declare_queue(c, ch, t->wait[i], args, what, out, err)) < 0)
		return rc;
	return bind_queue(c, ch, t->wait[i], t->wait[i], "", out, err);
}

int topology_declare(amqp_connection_state_t c, amqp_channel_t ch, const struct zl_conf *conf,
                     FILE *out, struct zl_err *err)
{
	enum zl_queue_type type = conf->amqp.queue_type;
	char retry_what[64] = "failed deliveries, for the controller";
	char dlq_what[64] = "parked: zaaklink dlq list";
	amqp_table_entry_t retry_e[1], dlq_e[1];
	amqp_table_t retry_args = own_queue(type, retry_e, 0, retry_what, sizeof(retry_what));
	amqp_table_t dlq_args = own_queue(type, dlq_e, 0, dlq_what, sizeof(dlq_what));
	struct zl_topology t;
	int rc;

	topology_names(conf, &t);
	if ((rc = event_exchange(c, ch, &t, type, out, err)) < 0)
		return rc;
	if ((rc = declare_exchange(c, ch, t.retry, "fanout", amqp_empty_table, out, err)) < 0 ||
	    (rc = declare_queue(c, ch, t.retry, retry_args, retry_what, out, err)) < 0 ||
	    (rc = bind_queue(c, ch, t.retry, t.retry, "", out, err)) < 0 ||
	    (rc = declare_exchange(c, ch, t.requeue, "direct", amqp_empty_table, out, err)) < 0 ||
	    (rc = declare_queue(c, ch, t.dlq, dlq_args, dlq_what, out, err)) < 0)
		return rc;
	for (int i = 0; i < t.n_wait; i++) {
		if ((rc = wait_tier(c, ch, conf, &t, i, out, err)) < 0)
			return rc;
	}
	for (int i = 0; i < conf->amqp.n_queues; i++) {
		if ((rc = consumer_queue(c, ch, &conf->amqp.queues[i], &t, out, err)) < 0)
			return rc;
	}
	return 0;
}

int topology_declare_consumer(amqp_connection_state_t c, amqp_channel_t ch,
                              const struct zl_conf *conf, const char *queue, FILE *out,
                              struct zl_err *err)
{
	char binding[] = ZL_TOPOLOGY_EVENTS_BINDING;
	struct zl_queue_conf q = {.n_bindings = 1, .type = conf->amqp.queue_type};
	struct zl_topology t;
	char name[256];

	if (!queue[0] || strlen(queue) >= sizeof(name))
		return zl_err_set(
		    err, ZL_EX_CONFIG,
		    "could not declare queue '%s': a name of 1 to 255 bytes is needed", queue);
	if (topology_is_own(conf->amqp.exchange, queue))
		return zl_err_set(err, ZL_EX_CONFIG,
		                  "could not declare queue %s: the name is one of zaaklink's own "
		                  "for exchange %s",
		                  queue, conf->amqp.exchange);
	for (int i = 0; i < conf->amqp.n_queues; i++) {
		if (strcmp(conf->amqp.queues[i].name, queue) == 0)
			return 0;
	}
	snprintf(name, sizeof(name), "%s", queue);
	q.name = name;
	q.bindings[0] = binding;
	if (q.type == ZL_QUEUE_QUORUM)
		q.delivery_limit = ZL_TOPOLOGY_DELIVERY_LIMIT;
	topology_names(conf, &t);
	return consumer_queue(c, ch, &q, &t, out, err);
}
