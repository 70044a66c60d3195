/* Mover: the RabbitMQ client of the retry controller and the operator commands. */
#include "mover.h"
#include "broker.h"
#include "retry.h"
#include "topology.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOVE_CHANNEL ZL_MOVER_CHANNEL /* get, publish, confirm, ack: one message at a time */
#define INSPECT_CHANNEL 2             /* opened per passive declare: a 404 closes it */

struct zl_mover {
	const struct zl_conf *conf; /* borrowed */
	amqp_connection_state_t conn;
	char *node;
	int next_url;
	bool broken; /* the connection must not be written to */
};

struct zl_mover *mover_new(const struct zl_conf *conf, struct zl_err *err)
{
	struct zl_mover *m = calloc(1, sizeof(*m));

	if (!m) {
		zl_err_set(err, ZL_EX_SOFTWARE, "out of memory while creating the RabbitMQ client");
		return NULL;
	}
	m->conf = conf;
	return m;
}

void mover_disconnect(struct zl_mover *m)
{
	if (!m->conn)
		return;
	broker_close(m->conn, !m->broken);
	m->conn = NULL;
	m->broken = false;
}

void mover_free(struct zl_mover *m)
{
	if (!m)
		return;
	mover_disconnect(m);
	free(m->node);
	free(m);
}

bool mover_connected(const struct zl_mover *m)
{
	return m->conn != NULL;
}

const char *mover_node(const struct zl_mover *m)
{
	return m->node ? m->node : "(none)";
}

amqp_connection_state_t mover_conn(struct zl_mover *m)
{
	return m->conn;
}

size_t mover_frame_max(const struct zl_mover *m)
{
	return m->conn ? (size_t)amqp_get_frame_max(m->conn) : 0;
}

/* Fills err for a failed RPC and marks the connection unusable; returns -1. */
static int rpc_failed(struct zl_mover *m, amqp_rpc_reply_t r, const char *what, const char *name,
                      struct zl_err *err)
{
	char reason[512];
	int code = broker_reply_code(r);

	broker_reply_text(r, reason, sizeof(reason));
	/* Any failure closes at least our only channel: start over. */
	m->broken = !broker_answer_reply(m->conn, MOVE_CHANNEL, r);
	zl_err_set(err, code == AMQP_NOT_FOUND ? ZL_EX_DATAERR : ZL_EX_UNAVAILABLE,
	           "could not %s %s on node %s: %s", what, name, mover_node(m), reason);
	mover_disconnect(m);
	return -1;
}

int mover_connect(struct zl_mover *m, struct zl_err *err)
{
	amqp_rpc_reply_t r;

	if (m->conn)
		return 0;
	if (broker_connect(&m->conf->amqp, &m->next_url, &m->node, &m->conn, err) < 0)
		return -1;
	amqp_channel_open(m->conn, MOVE_CHANNEL);
	r = amqp_get_rpc_reply(m->conn);
	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_failed(m, r, "open a channel", "", err);
	amqp_confirm_select(m->conn, MOVE_CHANNEL);
	r = amqp_get_rpc_reply(m->conn);
	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_failed(m, r, "enable publisher confirms", "", err);
	return 0;
}

int mover_declare(struct zl_mover *m, FILE *out, struct zl_err *err)
{
	int rc;

	if (!m->conn && mover_connect(m, err) < 0)
		return -1;
	rc = topology_declare(m->conn, MOVE_CHANNEL, m->conf, out, err);
	if (rc == 0)
		return 0;
	/* The broker closed the confirm channel, or the whole connection. */
	m->broken = rc == ZL_TOPOLOGY_LOST;
	mover_disconnect(m);
	return -1;
}

int mover_declare_consumer(struct zl_mover *m, const char *queue, FILE *out, struct zl_err *err)
{
	int rc;

	if (!m->conn && mover_connect(m, err) < 0)
		return -1;
	rc = topology_declare_consumer(m->conn, MOVE_CHANNEL, m->conf, queue, out, err);
	if (rc == 0)
		return 0;
	m->broken = rc == ZL_TOPOLOGY_LOST;
	mover_disconnect(m);
	return -1;
}

int64_t mover_depth(struct zl_mover *m, const char *q, struct zl_err *err)
{
	int64_t n;

	if (!m->conn && mover_connect(m, err) < 0)
		return -1;
	n = broker_queue_depth(m->conn, INSPECT_CHANNEL, q, err);
	if (n >= 0)
		return n;
	if (err->code == ZL_EX_DATAERR)
		return zl_err_set(err, ZL_EX_DATAERR,
		                  "queue %s does not exist (zaaklink setup declares it)", q);
	/* For the operator commands any other failure is the broker's: 69. */
	if (err->code == ZL_EX_UNAVAILABLE) {
		m->broken = true;
		mover_disconnect(m);
	}
	err->code = ZL_EX_UNAVAILABLE;
	return -1;
}

void mover_release(struct zl_taken *t)
{
	amqp_destroy_message(&t->msg);
	memset(&t->msg, 0, sizeof(t->msg));
}

int mover_take(struct zl_mover *m, const char *q, struct zl_taken *t, struct zl_err *err)
{
	amqp_rpc_reply_t r;
	const amqp_basic_get_ok_t *ok;

	if (!m->conn && mover_connect(m, err) < 0)
		return -1;
	r = amqp_basic_get(m->conn, MOVE_CHANNEL, amqp_cstring_bytes(q), 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_failed(m, r, "get a message from queue", q, err);
	if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
		return 0;
	ok = r.reply.decoded;
	t->tag = ok->delivery_tag;
	/* Copied now: reading the message reuses the frame's memory. */
	snprintf(t->exchange, sizeof(t->exchange), "%.*s", (int)ok->exchange.len,
	         (const char *)ok->exchange.bytes);
	snprintf(t->routing_key, sizeof(t->routing_key), "%.*s", (int)ok->routing_key.len,
	         (const char *)ok->routing_key.bytes);
	/* And its bytes, for dlq export: a key may hold a NUL (a shortstr: < 256). */
	t->routing_key_len = ok->routing_key.len < sizeof(t->routing_key) ? ok->routing_key.len : 0;
	if (t->routing_key_len)
		memcpy(t->routing_key, ok->routing_key.bytes, t->routing_key_len);
	t->routing_key[t->routing_key_len] = '\0';
	r = amqp_read_message(m->conn, MOVE_CHANNEL, &t->msg, 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		return rpc_failed(m, r, "read a message from queue", q, err);
	return 1;
}

int mover_ack(struct zl_mover *m, const struct zl_taken *t, struct zl_err *err)
{
	char reason[256];
	int rc;

	errno = 0;
	rc = amqp_basic_ack(m->conn, MOVE_CHANNEL, t->tag, 0);
	if (rc == AMQP_STATUS_OK)
		return 0;
	m->broken = true;
	zl_err_set(err, ZL_EX_UNAVAILABLE, "could not acknowledge a message on node %s: %s",
	           mover_node(m), broker_failure_text(rc, reason, sizeof(reason)));
	mover_disconnect(m);
	return -1;
}

int mover_requeue(struct zl_mover *m, const struct zl_taken *t, struct zl_err *err)
{
	char reason[256];
	int rc;

	errno = 0;
	rc = amqp_basic_reject(m->conn, MOVE_CHANNEL, t->tag, 1);
	if (rc == AMQP_STATUS_OK)
		return 0;
	m->broken = true;
	zl_err_set(err, ZL_EX_UNAVAILABLE, "could not return a message on node %s: %s",
	           mover_node(m), broker_failure_text(rc, reason, sizeof(reason)));
	mover_disconnect(m);
	return -1;
}

/*
 * Waits for the confirm of the one message just published: basic.ack is
 * success; a basic.return (no queue took it) or basic.nack is a failure
 * the channel survives; anything else ends the connection.
 */
static int await_confirm(struct zl_mover *m, const char *exchange, const char *key,
                         struct zl_err *err)
{
	int64_t deadline = zl_now_ms() + (int64_t)(m->conf->amqp.confirm_timeout * 1000);
	bool returned = false;
	char text[256] = "";

	for (;;) {
		struct timeval tv = broker_ms_tv(deadline - zl_now_ms());
		amqp_frame_t f;
		int rc;

		errno = 0;
		rc = amqp_simple_wait_frame_noblock(m->conn, &f, &tv);
		if (rc == AMQP_STATUS_TIMEOUT) {
			m->broken = true;
			zl_err_set(err, ZL_EX_UNAVAILABLE, "no confirm within %g s from node %s",
			           m->conf->amqp.confirm_timeout, mover_node(m));
			mover_disconnect(m);
			return -1;
		}
		if (rc != AMQP_STATUS_OK) {
			m->broken = true;
			zl_err_set(err, ZL_EX_UNAVAILABLE, "connection to %s lost: %s",
			           mover_node(m), broker_failure_text(rc, text, sizeof(text)));
			mover_disconnect(m);
			return -1;
		}
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;
		switch (f.payload.method.id) {
		case AMQP_BASIC_ACK_METHOD:
			if (!returned)
				return 0;
			return zl_err_set(
			    err, ZL_EX_TEMPFAIL,
			    "no queue took the message at exchange %s with key '%s': %s", exchange,
			    key, text);
		case AMQP_BASIC_NACK_METHOD:
			return zl_err_set(err, ZL_EX_TEMPFAIL, "broker nacked the message to %s",
			                  exchange);
		case AMQP_BASIC_RETURN_METHOD: {
			const amqp_basic_return_t *ret = f.payload.method.decoded;
			amqp_message_t msg;
			amqp_rpc_reply_t r;

			snprintf(text, sizeof(text), "%.*s", (int)ret->reply_text.len,
			         (const char *)ret->reply_text.bytes);
			r = amqp_read_message(m->conn, f.channel, &msg, 0);
			if (r.reply_type != AMQP_RESPONSE_NORMAL)
				return rpc_failed(m, r, "read a returned message from", exchange,
				                  err);
			amqp_destroy_message(&msg);
			returned = true;
			break;
		}
		case AMQP_CHANNEL_CLOSE_METHOD:
		case AMQP_CONNECTION_CLOSE_METHOD: {
			amqp_rpc_reply_t r = {.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION,
			                      .reply = f.payload.method};

			return rpc_failed(m, r, "publish to exchange", exchange, err);
		}
		default:
			break;
		}
	}
}

int mover_publish(struct zl_mover *m, const struct zl_taken *t, const amqp_table_t *headers,
                  const char *exchange, const char *key, struct zl_err *err)
{
	amqp_basic_properties_t props = t->msg.properties;
	size_t frame_max = mover_frame_max(m);
	int rc;

	if (!m->conn)
		return zl_err_set(err, ZL_EX_UNAVAILABLE, "not connected to RabbitMQ");
	/* rabbitmq-c would send the method frame before it finds out, and the
	 * broker would close the connection on the missing header frame. */
	if (retry_header_frame_size(&t->msg.properties, headers, frame_max) > frame_max)
		return zl_err_set(err, ZL_EX_DATAERR,
		                  "the message's headers do not fit a frame of %zu bytes",
		                  frame_max);
	props.headers = *headers;
	props._flags |= AMQP_BASIC_HEADERS_FLAG;
	errno = 0;
	rc = amqp_basic_publish(m->conn, MOVE_CHANNEL, amqp_cstring_bytes(exchange),
	                        amqp_cstring_bytes(key), 1, 0, &props, t->msg.body);
	if (rc != AMQP_STATUS_OK) {
		char reason[256];

		m->broken = true;
		zl_err_set(err, ZL_EX_UNAVAILABLE, "could not publish to %s on node %s: %s",
		           exchange, mover_node(m),
		           broker_failure_text(rc, reason, sizeof(reason)));
		mover_disconnect(m);
		return -1;
	}
	return await_confirm(m, exchange, key, err);
}
