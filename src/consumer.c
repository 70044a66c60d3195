/*
 * Consumer: one queue's deliveries for `zaaklink deliver`, their ack,
 * reject and park, on a connection of its own (see consumer.h).
 *
 * The hard part is that the broker writes at any time. rabbitmq-c reads
 * frames only when asked, so one function here (pump) reads every frame
 * and sorts it: a basic.deliver on the consume channel is read whole
 * (amqp_read_message, which keeps frames of other channels for later) and
 * kept in a queue of deliveries; an ack, nack or return on the park
 * channel settles the one park in flight; a close of either channel or of
 * the connection ends the connection; the rest (connection.blocked, ...)
 * is of no concern to a consumer. consumer_next() and the wait for a
 * park's confirm both pump, so neither loses what the other was not
 * waiting for.
 */
#include "consumer.h"
#include "broker.h"
#include "publisher.h"
#include "topology.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONSUME_CHANNEL 1 /* qos, consume, deliveries, their ack and reject */
#define PARK_CHANNEL 2    /* confirm mode: the copies consumer_park() publishes */
#define INSPECT_CHANNEL 3 /* opened per passive declare: a 404 closes it */

/* The retry controller's six headers, and the detail. */
#define PARK_HEADERS 7

/* The one park in flight: what the broker said of it. */
struct confirm {
	bool waiting;  /* published, not settled yet */
	bool acked;    /* basic.ack came */
	bool nacked;   /* basic.nack came */
	bool returned; /* basic.return came first: no queue took it */
	char text[256];
};

struct zl_consumer {
	const struct zl_amqp_conf *amqp; /* borrowed */
	char *queue;
	int prefetch;
	char dlq[272];
	amqp_connection_state_t conn;
	char *node;
	int next_url;
	bool broken;         /* the connection must not be written to */
	uint64_t connection; /* count of connections made */
	struct confirm confirm;
	/* Deliveries read and not yet handed out, oldest at head. */
	struct zl_delivery *kept;
	size_t head, n_kept, cap;
};

struct zl_consumer *consumer_new(const struct zl_amqp_conf *amqp, const char *queue, int prefetch,
                                 struct zl_err *err)
{
	struct zl_consumer *c;
	struct zl_topology names;

	if (!queue || !queue[0] || strlen(queue) > 255) {
		zl_err_set(err, ZL_EX_USAGE, "a consumer needs a queue name of 1 to 255 bytes");
		return NULL;
	}
	if (prefetch < 1 || prefetch > ZL_CONSUMER_MAX_PREFETCH) {
		zl_err_set(err, ZL_EX_USAGE,
		           "prefetch %d of queue %s is out of range, expected 1 to %d", prefetch,
		           queue, ZL_CONSUMER_MAX_PREFETCH);
		return NULL;
	}
	if (!(c = calloc(1, sizeof(*c))) || !(c->queue = strdup(queue))) {
		free(c);
		zl_err_set(err, ZL_EX_SOFTWARE, "out of memory while creating the consumer of %s",
		           queue);
		return NULL;
	}
	c->amqp = amqp;
	c->prefetch = prefetch;
	topology_exchange_names(amqp->exchange, &names);
	snprintf(c->dlq, sizeof(c->dlq), "%s", names.dlq);
	return c;
}

/* Drops the kept deliveries: the broker requeues them with the connection. */
static void drop_kept(struct zl_consumer *c)
{
	for (size_t i = 0; i < c->n_kept; i++)
		consumer_release(&c->kept[(c->head + i) % c->cap]);
	c->head = 0;
	c->n_kept = 0;
}

void consumer_disconnect(struct zl_consumer *c)
{
	if (!c->conn)
		return;
	broker_close(c->conn, !c->broken);
	c->conn = NULL;
	c->broken = false;
	memset(&c->confirm, 0, sizeof(c->confirm));
	drop_kept(c);
}

void consumer_free(struct zl_consumer *c)
{
	if (!c)
		return;
	consumer_disconnect(c);
	free(c->kept);
	free(c->node);
	free(c->queue);
	free(c);
}

bool consumer_connected(const struct zl_consumer *c)
{
	return c->conn != NULL;
}

const char *consumer_node(const struct zl_consumer *c)
{
	return c->node ? c->node : "(none)";
}

uint64_t consumer_connection(const struct zl_consumer *c)
{
	return c->connection;
}

int consumer_fd(const struct zl_consumer *c)
{
	return c->conn ? amqp_get_sockfd(c->conn) : -1;
}

void consumer_release(struct zl_delivery *d)
{
	amqp_destroy_message(&d->t.msg);
	memset(&d->t.msg, 0, sizeof(d->t.msg));
}

/* Ends the connection after a failure: err says why; returns -1. */
static int lost(struct zl_consumer *c, bool broken)
{
	c->broken = c->broken || broken;
	consumer_disconnect(c);
	return -1;
}

/*
 * Fills err for a failed RPC on channel ch, answers the broker's close and
 * ends the connection (a consumer without one of its channels is of no
 * use); returns -1. A missing queue is ZL_EX_DATAERR, a refusal
 * ZL_EX_CONFIG, anything else ZL_EX_UNAVAILABLE.
 */
static int rpc_failed(struct zl_consumer *c, amqp_channel_t ch, amqp_rpc_reply_t r,
                      const char *what, struct zl_err *err)
{
	char reason[512];
	int code = broker_reply_code(r);

	broker_reply_text(r, reason, sizeof(reason));
	c->broken = !broker_answer_reply(c->conn, ch, r);
	if (code == AMQP_NOT_FOUND)
		zl_err_set(err, ZL_EX_DATAERR,
		           "queue %s does not exist on node %s (zaaklink setup declares it)",
		           c->queue, consumer_node(c));
	else
		zl_err_set(err, code == AMQP_ACCESS_REFUSED ? ZL_EX_CONFIG : ZL_EX_UNAVAILABLE,
		           "could not %s on node %s: %s", what, consumer_node(c), reason);
	return lost(c, false);
}

/*
 * Sets up the connection broker.c just opened: the park channel in confirm
 * mode, then the consume channel with its prefetch and the consumer. On
 * failure nothing remains open.
 */
static int set_up(void *arg, struct zl_err *err)
{
	struct zl_consumer *c = arg;
	amqp_rpc_reply_t r;

	c->broken = false;
	amqp_channel_open(c->conn, PARK_CHANNEL);
	if ((r = amqp_get_rpc_reply(c->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_failed(c, PARK_CHANNEL, r, "open a channel", err);
	amqp_confirm_select(c->conn, PARK_CHANNEL);
	if ((r = amqp_get_rpc_reply(c->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_failed(c, PARK_CHANNEL, r, "enable publisher confirms", err);
	amqp_channel_open(c->conn, CONSUME_CHANNEL);
	if ((r = amqp_get_rpc_reply(c->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_failed(c, CONSUME_CHANNEL, r, "open a channel", err);
	amqp_basic_qos(c->conn, CONSUME_CHANNEL, 0, (uint16_t)c->prefetch, 0);
	if ((r = amqp_get_rpc_reply(c->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_failed(c, CONSUME_CHANNEL, r, "set the prefetch", err);
	amqp_basic_consume(c->conn, CONSUME_CHANNEL, amqp_cstring_bytes(c->queue), amqp_empty_bytes,
	                   0, 0, 0, amqp_empty_table);
	if ((r = amqp_get_rpc_reply(c->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_failed(c, CONSUME_CHANNEL, r, "consume from the queue", err);
	return 0;
}

int consumer_connect(struct zl_consumer *c, struct zl_err *err)
{
	const struct broker_hooks hooks = {.setup = set_up, .arg = c};

	if (c->conn)
		return 0;
	drop_kept(c);
	memset(&c->confirm, 0, sizeof(c->confirm));
	if (broker_connect_with(c->amqp, &hooks, &c->next_url, &c->node, &c->conn, err) < 0)
		return -1;
	c->connection++;
	return 0;
}

/* Makes room for one more kept delivery; false when out of memory. */
static bool room_for_one(struct zl_consumer *c)
{
	struct zl_delivery *k;
	size_t cap;

	if (c->n_kept < c->cap)
		return true;
	cap = c->cap ? c->cap * 2 : 16;
	if (!(k = calloc(cap, sizeof(*k))))
		return false;
	for (size_t i = 0; i < c->n_kept; i++)
		k[i] = c->kept[(c->head + i) % c->cap];
	free(c->kept);
	c->kept = k;
	c->cap = cap;
	c->head = 0;
	return true;
}

/* The integer header name of h into *v: true when there and an integer of any width. */
static bool header_int(const amqp_table_t *h, const char *name, int64_t *v)
{
	for (int i = 0; i < h->num_entries; i++) {
		const amqp_table_entry_t *e = &h->entries[i];
		const amqp_field_value_t *f = &e->value;

		if (e->key.len != strlen(name) || memcmp(e->key.bytes, name, e->key.len) != 0)
			continue;
		switch (f->kind) {
		case AMQP_FIELD_KIND_I8:
			*v = f->value.i8;
			return true;
		case AMQP_FIELD_KIND_U8:
			*v = f->value.u8;
			return true;
		case AMQP_FIELD_KIND_I16:
			*v = f->value.i16;
			return true;
		case AMQP_FIELD_KIND_U16:
			*v = f->value.u16;
			return true;
		case AMQP_FIELD_KIND_I32:
			*v = f->value.i32;
			return true;
		case AMQP_FIELD_KIND_U32:
			*v = f->value.u32;
			return true;
		case AMQP_FIELD_KIND_I64:
			*v = f->value.i64;
			return true;
		case AMQP_FIELD_KIND_U64:
			*v = f->value.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)f->value.u64;
			return true;
		default:
			return false;
		}
	}
	return false;
}

/* Fills the fields of d read from its message. */
static void read_fields(struct zl_delivery *d)
{
	const amqp_basic_properties_t *p = &d->t.msg.properties;

	d->has_seq =
	    (p->_flags & AMQP_BASIC_HEADERS_FLAG) && header_int(&p->headers, ZL_H_SEQ, &d->seq);
	if (!d->has_seq)
		d->seq = 0;
	d->has_message_id = (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0;
	d->message_id[0] = '\0';
	if (d->has_message_id)
		snprintf(d->message_id, sizeof(d->message_id), "%.*s", (int)p->message_id.len,
		         (const char *)p->message_id.bytes);
}

/* Reads the message of the basic.deliver m and keeps it; -1 when the connection is lost. */
static int keep_delivery(struct zl_consumer *c, const amqp_basic_deliver_t *m, struct zl_err *err)
{
	struct zl_delivery *d;
	amqp_rpc_reply_t r;

	if (!room_for_one(c)) {
		zl_err_set(err, ZL_EX_UNAVAILABLE,
		           "out of memory while reading a delivery from queue %s", c->queue);
		return lost(c, true);
	}
	d = &c->kept[(c->head + c->n_kept) % c->cap];
	memset(d, 0, sizeof(*d));
	/* Copied now: reading the message reuses the frame's memory. */
	d->t.tag = m->delivery_tag;
	d->redelivered = m->redelivered;
	d->connection = c->connection;
	snprintf(d->t.exchange, sizeof(d->t.exchange), "%.*s", (int)m->exchange.len,
	         (const char *)m->exchange.bytes);
	/* A shortstr: below 256 bytes, and it may hold a NUL. */
	d->t.routing_key_len =
	    m->routing_key.len < sizeof(d->t.routing_key) ? m->routing_key.len : 0;
	if (d->t.routing_key_len)
		memcpy(d->t.routing_key, m->routing_key.bytes, d->t.routing_key_len);
	d->t.routing_key[d->t.routing_key_len] = '\0';
	r = amqp_read_message(c->conn, CONSUME_CHANNEL, &d->t.msg, 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		char reason[512];

		broker_reply_text(r, reason, sizeof(reason));
		zl_err_set(err, ZL_EX_UNAVAILABLE,
		           "could not read a delivery from queue %s on node %s: %s", c->queue,
		           consumer_node(c), reason);
		/* The consumer's channel went with it, or the connection. */
		return lost(c, !broker_answer_reply(c->conn, CONSUME_CHANNEL, r));
	}
	read_fields(d);
	c->n_kept++;
	return 0;
}

/* A basic.return on the park channel: its message is read and dropped. */
static int returned(struct zl_consumer *c, const amqp_basic_return_t *ret, struct zl_err *err)
{
	amqp_message_t msg;
	amqp_rpc_reply_t r;

	snprintf(c->confirm.text, sizeof(c->confirm.text), "%.*s", (int)ret->reply_text.len,
	         (const char *)ret->reply_text.bytes);
	r = amqp_read_message(c->conn, PARK_CHANNEL, &msg, 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		zl_err_set(err, ZL_EX_UNAVAILABLE, "could not read a returned message on node %s",
		           consumer_node(c));
		return lost(c, true);
	}
	amqp_destroy_message(&msg);
	c->confirm.returned = true;
	return 0;
}

/* A close the broker sent: answered, and the connection ends; returns -1. */
static int closed_by_broker(struct zl_consumer *c, const amqp_frame_t *f, struct zl_err *err)
{
	char reason[512];

	broker_close_text(&f->payload.method, reason, sizeof(reason));
	zl_err_set(err, ZL_EX_UNAVAILABLE, "node %s closed the %s: %s", consumer_node(c),
	           f->payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ? "connection"
	                                                                : "consumer's channel",
	           reason);
	return lost(c, !broker_answer_close(c->conn, f->channel, &f->payload.method));
}

/* Sorts one method frame (see the top of this file); -1 when the connection ended. */
static int sort_method(struct zl_consumer *c, const amqp_frame_t *f, struct zl_err *err)
{
	amqp_method_number_t id = f->payload.method.id;

	if (id == AMQP_CHANNEL_CLOSE_METHOD || id == AMQP_CONNECTION_CLOSE_METHOD)
		return closed_by_broker(c, f, err);
	if (f->channel == CONSUME_CHANNEL && id == AMQP_BASIC_DELIVER_METHOD)
		return keep_delivery(c, f->payload.method.decoded, err);
	if (f->channel == CONSUME_CHANNEL && id == AMQP_BASIC_CANCEL_METHOD) {
		zl_err_set(err, ZL_EX_UNAVAILABLE,
		           "node %s cancelled the consumer of queue %s (was the queue deleted?)",
		           consumer_node(c), c->queue);
		return lost(c, false);
	}
	if (f->channel != PARK_CHANNEL)
		return 0;
	switch (id) {
	case AMQP_BASIC_ACK_METHOD:
		c->confirm.acked = c->confirm.waiting;
		c->confirm.waiting = false;
		break;
	case AMQP_BASIC_NACK_METHOD:
		c->confirm.nacked = c->confirm.waiting;
		c->confirm.waiting = false;
		break;
	case AMQP_BASIC_RETURN_METHOD:
		return returned(c, f->payload.method.decoded, err);
	default:
		break;
	}
	return 0;
}

/*
 * Reads frames until one was sorted or deadline_ms (monotonic) passes: 1
 * when a frame was read, 0 at the deadline, -1 when the connection ended.
 */
static int pump(struct zl_consumer *c, int64_t deadline_ms, struct zl_err *err)
{
	struct timeval tv = broker_ms_tv(deadline_ms - zl_now_ms());
	amqp_frame_t f;
	int rc;

	if (!c->conn)
		return zl_err_set(err, ZL_EX_UNAVAILABLE, "not connected to RabbitMQ");
	errno = 0;
	rc = amqp_simple_wait_frame_noblock(c->conn, &f, &tv);
	if (rc == AMQP_STATUS_TIMEOUT)
		return 0;
	if (rc != AMQP_STATUS_OK) {
		char reason[256];

		zl_err_set(err, ZL_EX_UNAVAILABLE, "connection to %s lost: %s", consumer_node(c),
		           broker_failure_text(rc, reason, sizeof(reason)));
		return lost(c, true);
	}
	if (f.frame_type == AMQP_FRAME_METHOD && sort_method(c, &f, err) < 0)
		return -1;
	return 1;
}

/* Hands out the oldest kept delivery. */
static void hand_out(struct zl_consumer *c, struct zl_delivery *d)
{
	*d = c->kept[c->head];
	memset(&c->kept[c->head], 0, sizeof(c->kept[c->head]));
	c->head = (c->head + 1) % c->cap;
	c->n_kept--;
	if (c->n_kept == 0)
		c->head = 0;
}

int consumer_next(struct zl_consumer *c, int timeout_ms, struct zl_delivery *d, struct zl_err *err)
{
	int64_t deadline = zl_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	while (c->n_kept == 0) {
		int rc = pump(c, deadline, err);

		if (rc < 0)
			return -1;
		if (rc == 0)
			return 0;
	}
	/* Frames of other channels may still be queued: release only when none are. */
	amqp_maybe_release_buffers(c->conn);
	hand_out(c, d);
	return 1;
}

/* Refuses a verdict on a delivery of another connection, or without one. */
static int check_verdict(struct zl_consumer *c, const struct zl_delivery *d, const char *what,
                         struct zl_err *err)
{
	if (!c->conn)
		return zl_err_set(err, ZL_EX_UNAVAILABLE,
		                  "could not %s a message of queue %s: not connected", what,
		                  c->queue);
	if (d->connection != c->connection)
		return zl_err_set(err, ZL_EX_TEMPFAIL,
		                  "could not %s a message of queue %s: it came on an earlier "
		                  "connection, and the broker has put it back in the queue",
		                  what, c->queue);
	return 0;
}

/* basic.ack or basic.reject (no requeue) of d. */
static int verdict(struct zl_consumer *c, const struct zl_delivery *d, bool ack, struct zl_err *err)
{
	const char *what = ack ? "acknowledge" : "reject";
	char reason[256];
	int rc;

	if (check_verdict(c, d, what, err) < 0)
		return -1;
	errno = 0;
	rc = ack ? amqp_basic_ack(c->conn, CONSUME_CHANNEL, d->t.tag, 0)
	         : amqp_basic_reject(c->conn, CONSUME_CHANNEL, d->t.tag, 0);
	if (rc == AMQP_STATUS_OK)
		return 0;
	zl_err_set(err, ZL_EX_UNAVAILABLE, "could not %s a message of queue %s on node %s: %s",
	           what, c->queue, consumer_node(c),
	           broker_failure_text(rc, reason, sizeof(reason)));
	return lost(c, true);
}

int consumer_ack(struct zl_consumer *c, const struct zl_delivery *d, struct zl_err *err)
{
	return verdict(c, d, true, err);
}

int consumer_reject(struct zl_consumer *c, const struct zl_delivery *d, struct zl_err *err)
{
	return verdict(c, d, false, err);
}

/* The first len bytes of s or fewer, so that no UTF-8 character is cut. */
static size_t cut_utf8(const char *s, size_t len)
{
	size_t n = strlen(s);

	if (n <= len)
		return n;
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	return len;
}

/*
 * The headers of d's copy (see consumer_park): d's own without the retry
 * controller's, then zaaklink's, the last PARK_HEADERS or one fewer. The
 * strings are borrowed from d, reason, detail and the buffers given.
 */
static amqp_table_t park_headers(const struct zl_consumer *c, const struct zl_delivery *d,
                                 const char *reason, const char *detail, struct zl_failure *f,
                                 char now[21])
{
	amqp_table_t h = retry_headers_without_ours(&d->t, PARK_HEADERS);

	if (!h.entries)
		return h;
	retry_read_failure(&d->t, f);
	/* The key it was published with: the controller's header, the broker's
	 * x-death, or for a first failure the key it came with. */
	if (!f->routing_key[0])
		snprintf(f->routing_key, sizeof(f->routing_key), "%s", d->t.routing_key);
	zl_format_utc(zl_wall_s(), now);
	broker_long_entry(&h.entries[h.num_entries++], ZL_H_ATTEMPTS, (int64_t)f->attempts + 1);
	broker_string_entry(&h.entries[h.num_entries++], ZL_H_ORIGIN, c->queue);
	broker_string_entry(&h.entries[h.num_entries++], ZL_H_ROUTING_KEY, f->routing_key);
	broker_string_entry(&h.entries[h.num_entries++], ZL_H_FIRST_FAILURE,
	                    f->first[0] ? f->first : now);
	broker_string_entry(&h.entries[h.num_entries++], ZL_H_LAST_FAILURE, now);
	broker_string_entry(&h.entries[h.num_entries++], ZL_H_LAST_REASON, reason);
	if (detail && detail[0]) {
		amqp_table_entry_t *e = &h.entries[h.num_entries++];

		e->key = amqp_cstring_bytes(ZL_H_LAST_ERROR);
		e->value.kind = AMQP_FIELD_KIND_UTF8;
		e->value.value.bytes.bytes = (void *)detail;
		e->value.value.bytes.len = cut_utf8(detail, ZL_CONSUMER_MAX_DETAIL);
	}
	return h;
}

/* Waits for the confirm of the copy just published; the park's outcome. */
static int await_confirm(struct zl_consumer *c, struct zl_err *err)
{
	int64_t deadline = zl_now_ms() + (int64_t)(c->amqp->confirm_timeout * 1000);

	while (c->confirm.waiting) {
		int rc = pump(c, deadline, err);

		if (rc < 0)
			return -1;
		if (rc == 0) {
			zl_err_set(err, ZL_EX_UNAVAILABLE,
			           "no confirm within %g s from node %s for a message parked in %s",
			           c->amqp->confirm_timeout, consumer_node(c), c->dlq);
			return lost(c, true);
		}
	}
	if (c->confirm.nacked)
		return zl_err_set(err, ZL_EX_TEMPFAIL, "the broker nacked the message parked in %s",
		                  c->dlq);
	if (c->confirm.returned)
		return zl_err_set(err, ZL_EX_TEMPFAIL, "no queue %s took the parked message: %s",
		                  c->dlq, c->confirm.text);
	return 0;
}

int consumer_park(struct zl_consumer *c, const struct zl_delivery *d, const char *reason,
                  const char *detail, struct zl_err *err)
{
	amqp_basic_properties_t props;
	struct zl_failure f;
	amqp_table_t h;
	char now[21], text[256];
	size_t frame_max;
	int rc, dropped;

	if (check_verdict(c, d, "park", err) < 0)
		return -1;
	h = park_headers(c, d, reason, detail, &f, now);
	if (!h.entries)
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while building the park headers");
	frame_max = (size_t)amqp_get_frame_max(c->conn);
	/* rabbitmq-c would send the method frame before it finds out. */
	dropped =
	    retry_fit_headers(&d->t.msg.properties, &h,
	                      detail && detail[0] ? PARK_HEADERS : PARK_HEADERS - 1, frame_max);
	if (dropped < 0) {
		free(h.entries);
		return zl_err_set(
		    err, ZL_EX_DATAERR,
		    "could not park a message of queue %s: it does not fit a frame of "
		    "%zu bytes even without its headers",
		    c->queue, frame_max);
	}
	props = d->t.msg.properties;
	props.headers = h;
	props._flags |= AMQP_BASIC_HEADERS_FLAG;
	memset(&c->confirm, 0, sizeof(c->confirm));
	c->confirm.waiting = true;
	errno = 0;
	rc = amqp_basic_publish(c->conn, PARK_CHANNEL, amqp_empty_bytes, amqp_cstring_bytes(c->dlq),
	                        1, 0, &props, d->t.msg.body);
	free(h.entries);
	if (rc != AMQP_STATUS_OK) {
		zl_err_set(err, ZL_EX_UNAVAILABLE, "could not park a message in %s on node %s: %s",
		           c->dlq, consumer_node(c), broker_failure_text(rc, text, sizeof(text)));
		return lost(c, true);
	}
	if (await_confirm(c, err) < 0)
		return -1;
	if (consumer_ack(c, d, err) < 0)
		return -1;
	return dropped;
}

int64_t consumer_queue_depth(struct zl_consumer *c, struct zl_err *err)
{
	int64_t n;

	if (!c->conn)
		return zl_err_set(err, ZL_EX_UNAVAILABLE,
		                  "could not inspect queue %s: not connected to RabbitMQ",
		                  c->queue);
	n = broker_queue_depth(c->conn, INSPECT_CHANNEL, c->queue, err);
	if (n < 0 && err->code == ZL_EX_UNAVAILABLE)
		lost(c, true);
	return n;
}
