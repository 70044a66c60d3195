/* Publisher: delivers outbox rows to RabbitMQ over one confirm-mode channel. */
#include "publisher.h"
#include "amqp_compat.h"
#include "broker.h"
#include "log.h"
#include "topology.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Confirms. After confirm.select the broker numbers every basic.publish on
 * the channel 1, 2, 3, ... and answers each with basic.ack or basic.nack,
 * possibly for many at once ("multiple": this tag and all before it). The
 * numbering is implicit: both sides count publishes. So pub->next_tag must
 * count every publish the broker received since confirm.select, across
 * batches, and after anything that leaves the count in doubt (a timeout, a
 * failed send, a lost connection) the channel is useless and the connection
 * is closed: the caller reconnects and publishes the unconfirmed rows again
 * (at-least-once, with the same event ids). An unroutable message comes
 * back as basic.return plus its header and body, always before its ack and
 * without a tag; it is matched to its row by message_id.
 *
 * Never blocking forever. rabbitmq-c 0.11 works on a non-blocking socket and
 * waits in poll() with no time limit while sending, and amqp_basic_publish()
 * may block in a read without limit once a heartbeat is overdue (fixed in
 * 0.14). SO_SNDTIMEO would change nothing on a non-blocking socket, so the
 * guards are: (1) before every message, poll() for writability with the
 * batch's deadline, so a peer that stopped reading (dead, or blocking
 * publishers on an alarm) ends the batch at the confirm timeout; (2) reading
 * the socket without waiting before the first and every SERVICE_EVERY-th
 * message, so an overdue heartbeat is noticed by us instead of inside
 * amqp_basic_publish(); (3) TCP_USER_TIMEOUT (set by broker.c), so the
 * kernel drops a connection whose sent data stays unacknowledged for the
 * confirm timeout.
 */

#define PUBLISH_CHANNEL 1 /* confirm mode, lives as long as the connection */
#define INSPECT_CHANNEL 2 /* opened per passive declare: a 404 closes it */
#define SERVICE_EVERY 32  /* messages sent between two reads of the socket */

/* Where a row of the batch stands with the broker. */
enum row_state {
	ROW_UNSENT,
	ROW_PENDING,    /* sent, not settled */
	ROW_RETURNED,   /* returned as unroutable, its ack still to come */
	ROW_ACKED,      /* settled: delivered */
	ROW_NACKED,     /* settled: refused by the broker */
	ROW_UNROUTABLE, /* settled: returned, then acked */
};

/* One connection with its confirm-mode channel, rebuilt after any failure. */
struct zl_publisher {
	const struct zl_amqp_conf *conf; /* borrowed; outlives the publisher */
	amqp_connection_state_t conn;    /* NULL while disconnected */
	int next_url;                    /* URL of the connection, or where to start */
	char *node;                      /* masked URL of the connection, or of the last tried */
	bool blocked;                    /* connection.blocked without unblocked */
	bool broken;                     /* the connection must not be written to */
	bool failing;                    /* the last publisher_connect() failed */
	uint64_t next_tag;               /* delivery tag of the next publish */
	struct zl_publisher_counts counts;
	void (*tick)(void *arg); /* at least once a second while waiting */
	void *tick_arg;
};

/* The longest a wait goes without calling the tick. */
#define TICK_MS 1000

void publisher_set_tick(struct zl_publisher *pub, void (*tick)(void *arg), void *arg)
{
	pub->tick = tick;
	pub->tick_arg = arg;
}

static void tick(const struct zl_publisher *pub)
{
	if (pub->tick)
		pub->tick(pub->tick_arg);
}

/* The confirm state of one publisher_publish() call. */
struct batch {
	const struct zl_outbox_row *rows;
	unsigned char *state; /* enum row_state per row */
	int n;
	int sent;           /* rows [0, sent) were handed to the socket */
	int settled;        /* of those, acked or nacked */
	int low;            /* every row below low is settled */
	uint64_t first_tag; /* delivery tag of rows[0] */
	int returned;       /* rows returned as unroutable */
	char return_text[128];
};

/* True for states the broker has answered. */
static bool row_settled(unsigned char s)
{
	return s == ROW_ACKED || s == ROW_NACKED || s == ROW_UNROUTABLE;
}

/*
 * Answers a close the broker sent. Returns true when the connection itself
 * is still open afterwards; else it is marked broken.
 */
static bool answer_close(struct zl_publisher *pub, amqp_channel_t channel, const amqp_method_t *m)
{
	if (broker_answer_close(pub->conn, channel, m))
		return true;
	pub->broken = true;
	return false;
}

/* Ends the connection (politely while it is sound) and forgets its state. */
static void close_connection(struct zl_publisher *pub)
{
	broker_close(pub->conn, !pub->broken);
	pub->conn = NULL;
	pub->blocked = false;
	pub->broken = false;
	pub->next_tag = 1;
}

/* An established connection failed: log it, drop it, and make the next
 * connect start at the following node. Returns -1. */
static int connection_lost(struct zl_publisher *pub, const struct zl_err *err)
{
	zl_warn("amqp.disconnected", "node=%s error=\"%s\"", pub->node, err->msg);
	close_connection(pub);
	if (pub->conf->n_urls > 0)
		pub->next_url = (pub->next_url + 1) % pub->conf->n_urls;
	return -1;
}

struct zl_publisher *publisher_new(const struct zl_amqp_conf *conf, struct zl_err *err)
{
	struct zl_publisher *pub = calloc(1, sizeof(*pub));

	if (!pub) {
		zl_err_set(err, ZL_EX_SOFTWARE,
		           "out of memory while creating the RabbitMQ publisher");
		return NULL;
	}
	pub->conf = conf;
	pub->next_tag = 1;
	return pub;
}

void publisher_free(struct zl_publisher *pub)
{
	if (!pub)
		return;
	close_connection(pub);
	free(pub->node);
	free(pub);
}

bool publisher_connected(const struct zl_publisher *pub)
{
	return pub->conn != NULL;
}

bool publisher_blocked(const struct zl_publisher *pub)
{
	return pub->blocked;
}

const struct zl_publisher_counts *publisher_counts(const struct zl_publisher *pub)
{
	return &pub->counts;
}

/*
 * Fills err for a failed RPC of the set-up and answers the broker's close.
 * A declaration that conflicts with what exists (406) is a configuration
 * problem that reconnecting will not solve, hence its own code.
 */
static int setup_failed(struct zl_publisher *pub, amqp_rpc_reply_t r, const char *what,
                        struct zl_err *err)
{
	char reason[512];
	int code =
	    broker_reply_code(r) == AMQP_PRECONDITION_FAILED ? ZL_EX_CONFIG : ZL_EX_UNAVAILABLE;

	broker_reply_text(r, reason, sizeof(reason));
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION)
		answer_close(pub, PUBLISH_CHANNEL, &r.reply);
	else
		pub->broken = true;
	return zl_err_set(err, code, "could not %s on node %s: %s", what, pub->node, reason);
}

/*
 * Declares the exchange with its alternate exchange and the unrouted queue
 * (topology.h), so that nothing published is ever dropped for want of a
 * binding; after a failure the connection can only be closed.
 */
static int declare_topology(struct zl_publisher *pub, struct zl_err *err)
{
	int rc = topology_declare_exchange(pub->conn, PUBLISH_CHANNEL, pub->conf, NULL, err);

	if (rc == ZL_TOPOLOGY_LOST)
		pub->broken = true;
	return rc < 0 ? -1 : 0;
}

/*
 * Sets up the connection broker.c just opened to pub->node: the channel in
 * confirm mode and the topology. On failure nothing remains open.
 */
static int set_up(void *arg, struct zl_err *err)
{
	struct zl_publisher *pub = arg;
	char server[64];
	amqp_rpc_reply_t r;

	amqp_channel_open(pub->conn, PUBLISH_CHANNEL);
	r = amqp_get_rpc_reply(pub->conn);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		setup_failed(pub, r, "open a channel", err);
		goto fail;
	}
	amqp_confirm_select(pub->conn, PUBLISH_CHANNEL);
	r = amqp_get_rpc_reply(pub->conn);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		setup_failed(pub, r, "enable publisher confirms", err);
		goto fail;
	}
	if (declare_topology(pub, err) < 0)
		goto fail;
	pub->next_tag = 1;
	pub->blocked = false;
	broker_table_string(amqp_get_server_properties(pub->conn), "version", server,
	                    sizeof(server));
	zl_info("amqp.connected", "node=%s server=%s heartbeat=%d", pub->node,
	        server[0] ? server : "unknown", amqp_get_heartbeat(pub->conn));
	return 0;
fail:
	close_connection(pub);
	return -1;
}

/*
 * A node that fails while another may still answer is worth a warning
 * once; while every node is down the caller logs the outage once, and the
 * retries of it are detail.
 */
static void node_failed(void *arg, const char *node, const struct zl_err *err)
{
	const struct zl_publisher *pub = arg;

	zl_log(pub->failing ? ZL_LOG_DEBUG : ZL_LOG_WARNING, "amqp.connect_failed",
	       "node=%s error=\"%s\"", node, err->msg);
	tick(pub);
}

int publisher_connect(struct zl_publisher *pub, struct zl_err *err)
{
	const struct broker_hooks hooks = {.setup = set_up, .node_failed = node_failed, .arg = pub};

	if (pub->conn)
		return 0;
	if (broker_connect_with(pub->conf, &hooks, &pub->next_url, &pub->node, &pub->conn, err) <
	    0) {
		pub->failing = true;
		return -1;
	}
	pub->failing = false;
	return 0;
}

/* Marks row i settled by an ack or a nack. */
static void settle_row(struct batch *b, int i, bool ack)
{
	switch (b->state[i]) {
	case ROW_PENDING:
		b->state[i] = ack ? ROW_ACKED : ROW_NACKED;
		b->settled++;
		break;
	case ROW_RETURNED:
		b->state[i] = ack ? ROW_UNROUTABLE : ROW_NACKED;
		b->settled++;
		break;
	default:
		break;
	}
}

/* Applies a basic.ack or basic.nack; tags of earlier batches are stale. */
static void settle(struct batch *b, uint64_t tag, bool multiple, bool ack)
{
	int hi, lo;

	if (!b || tag < b->first_tag || tag - b->first_tag >= (uint64_t)b->sent)
		return;
	hi = (int)(tag - b->first_tag);
	lo = multiple ? b->low : hi;
	for (int i = lo; i <= hi; i++)
		settle_row(b, i, ack);
	while (b->low < b->sent && row_settled(b->state[b->low]))
		b->low++;
}

/* Marks the pending row with this message id as returned. */
static void mark_returned(struct batch *b, amqp_bytes_t id, const char *text)
{
	if (!b)
		return;
	for (int i = b->low; i < b->sent; i++) {
		const char *eid = b->rows[i].event_id;

		if (b->state[i] == ROW_PENDING && strlen(eid) == id.len &&
		    memcmp(eid, id.bytes, id.len) == 0) {
			b->state[i] = ROW_RETURNED;
			b->returned++;
			if (!b->return_text[0])
				snprintf(b->return_text, sizeof(b->return_text), "%s", text);
			return;
		}
	}
}

/* Reads the header and body that follow a basic.return and marks its row. */
static int handle_return(struct zl_publisher *pub, const amqp_frame_t *frame, struct batch *b,
                         struct zl_err *err)
{
	const amqp_basic_return_t *m = frame->payload.method.decoded;
	char text[128];
	amqp_message_t msg;
	amqp_rpc_reply_t r;

	snprintf(text, sizeof(text), "%.*s", (int)m->reply_text.len,
	         (const char *)m->reply_text.bytes);
	r = amqp_read_message(pub->conn, frame->channel, &msg, 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		char reason[256];

		broker_reply_text(r, reason, sizeof(reason));
		if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION)
			answer_close(pub, frame->channel, &r.reply);
		else
			pub->broken = true;
		return zl_err_set(err, ZL_EX_UNAVAILABLE,
		                  "connection lost: could not read a returned message: %s", reason);
	}
	if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
		zl_debug("amqp.returned", "node=%s id=%.*s reason=\"%s\"", pub->node,
		         (int)msg.properties.message_id.len,
		         (const char *)msg.properties.message_id.bytes, text);
		mark_returned(b, msg.properties.message_id, text);
	}
	amqp_destroy_message(&msg);
	return 0;
}

/*
 * Handles one frame the broker sent on its own: confirms (applied to b,
 * which is NULL between batches), returns, blocked/unblocked and closes.
 * Returns -1 with err filled when the connection can no longer be used.
 */
static int handle_frame(struct zl_publisher *pub, const amqp_frame_t *frame, struct batch *b,
                        struct zl_err *err)
{
	const amqp_method_t *m = &frame->payload.method;
	char text[512];

	if (frame->frame_type != AMQP_FRAME_METHOD)
		return 0;
	switch (m->id) {
	case AMQP_BASIC_ACK_METHOD: {
		const amqp_basic_ack_t *ack = m->decoded;

		if (frame->channel == PUBLISH_CHANNEL)
			settle(b, ack->delivery_tag, ack->multiple, true);
		return 0;
	}
	case AMQP_BASIC_NACK_METHOD: {
		const amqp_basic_nack_t *nack = m->decoded;

		if (frame->channel == PUBLISH_CHANNEL)
			settle(b, nack->delivery_tag, nack->multiple, false);
		return 0;
	}
	case AMQP_BASIC_RETURN_METHOD:
		return handle_return(pub, frame, b, err);
	case AMQP_CONNECTION_BLOCKED_METHOD: {
		const amqp_connection_blocked_t *bl = m->decoded;

		if (!pub->blocked)
			zl_warn("amqp.blocked", "node=%s reason=\"%.*s\"", pub->node,
			        (int)bl->reason.len, (const char *)bl->reason.bytes);
		pub->blocked = true;
		return 0;
	}
	case AMQP_CONNECTION_UNBLOCKED_METHOD:
		if (pub->blocked)
			zl_info("amqp.unblocked", "node=%s", pub->node);
		pub->blocked = false;
		return 0;
	case AMQP_CHANNEL_CLOSE_METHOD:
		broker_close_text(m, text, sizeof(text));
		answer_close(pub, frame->channel, m);
		return zl_err_set(err, ZL_EX_UNAVAILABLE, "channel closed by the broker: %s", text);
	case AMQP_CONNECTION_CLOSE_METHOD:
		broker_close_text(m, text, sizeof(text));
		answer_close(pub, 0, m);
		return zl_err_set(err, ZL_EX_UNAVAILABLE, "connection closed by the broker: %s",
		                  text);
	default:
		zl_debug("amqp.unexpected", "node=%s channel=%d method=0x%08x", pub->node,
		         frame->channel, (unsigned)m->id);
		return 0;
	}
}

/*
 * Reads one frame, waiting at most tv (zero: only what has arrived), and
 * handles it. This is also where rabbitmq-c sends and checks heartbeats.
 * Returns 1 when a frame was handled, 0 on timeout, -1 with err filled when
 * the connection is lost.
 */
static int read_frame(struct zl_publisher *pub, struct batch *b, struct timeval tv,
                      struct zl_err *err)
{
	amqp_frame_t frame;
	int rc;

	errno = 0;
	rc = amqp_simple_wait_frame_noblock(pub->conn, &frame, &tv);
	if (rc == AMQP_STATUS_TIMEOUT)
		return 0;
	if (rc != AMQP_STATUS_OK) {
		char reason[256];

		pub->broken = true;
		return zl_err_set(err, ZL_EX_UNAVAILABLE, "connection lost: %s",
		                  broker_failure_text(rc, reason, sizeof(reason)));
	}
	return handle_frame(pub, &frame, b, err) < 0 ? -1 : 1;
}

/* Handles every frame that can be read without waiting; an overdue
 * heartbeat is noticed here instead of inside amqp_basic_publish(). */
static int read_available(struct zl_publisher *pub, struct batch *b, struct zl_err *err)
{
	int rc;

	while ((rc = read_frame(pub, b, broker_ms_tv(0), err)) > 0)
		;
	return rc;
}

/* Builds the properties and headers of a row (docs/EVENTS.md section 6) and
 * sends it; headers must hold 7 entries and time_buf 21 bytes. */
static int send_row(struct zl_publisher *pub, const struct zl_outbox_row *row,
                    amqp_table_entry_t *headers, char *time_buf)
{
	amqp_basic_properties_t props;
	int nh = 0;

	memset(&props, 0, sizeof(props));
	zl_format_utc(row->time, time_buf);
	broker_string_entry(&headers[nh++], "cloudEvents_specversion", "1.0");
	broker_string_entry(&headers[nh++], "cloudEvents_id", row->event_id);
	if (row->source)
		broker_string_entry(&headers[nh++], "cloudEvents_source", row->source);
	broker_string_entry(&headers[nh++], "cloudEvents_type", row->type);
	if (row->subject)
		broker_string_entry(&headers[nh++], "cloudEvents_subject", row->subject);
	broker_string_entry(&headers[nh++], "cloudEvents_time", time_buf);
	broker_long_entry(&headers[nh++], ZL_H_SEQ, row->seq);
	props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
	               AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG |
	               AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_HEADERS_FLAG;
	props.content_type = amqp_cstring_bytes("application/cloudevents+json");
	props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
	props.message_id = amqp_cstring_bytes(row->event_id);
	props.timestamp = (uint64_t)row->time;
	props.type = amqp_cstring_bytes(row->type);
	props.app_id = amqp_cstring_bytes("zaaklink");
	props.headers.num_entries = nh;
	props.headers.entries = headers;
	return amqp_basic_publish(
	    pub->conn, PUBLISH_CHANNEL, amqp_cstring_bytes(pub->conf->exchange),
	    amqp_cstring_bytes(row->type), 1, 0, &props, amqp_cstring_bytes(row->body));
}

/* How a batch ended, apart from what the broker said about single rows. */
enum batch_end {
	END_DONE,    /* every sent row settled */
	END_BLOCKED, /* stopped sending: the broker blocked publishers */
	END_STALLED, /* the socket took no data until the deadline */
	END_TIMEOUT, /* confirms missing at the deadline */
	END_LOST,    /* connection or channel lost, reason in the batch's err */
};

/* Sends rows in order until all are sent, or blocked, stalled or lost. */
static enum batch_end send_rows(struct zl_publisher *pub, struct batch *b, int64_t deadline,
                                struct zl_err *err)
{
	amqp_table_entry_t headers[7];
	char time_buf[21];

	for (int i = 0; i < b->n; i++) {
		int rc;

		if (i % SERVICE_EVERY == 0 && read_available(pub, b, err) < 0)
			return END_LOST;
		if (pub->blocked)
			return END_BLOCKED;
		/* In slices, ticking between them. */
		while ((rc = broker_wait_writable(pub->conn, zl_now_ms() + TICK_MS < deadline
		                                                 ? zl_now_ms() + TICK_MS
		                                                 : deadline)) > 0 &&
		       zl_now_ms() < deadline)
			tick(pub);
		if (rc > 0)
			return END_STALLED;
		if (rc < 0) {
			/* The broker may have said why before it closed. */
			if (read_available(pub, b, err) < 0)
				return END_LOST;
			pub->broken = true;
			zl_err_set(err, ZL_EX_UNAVAILABLE,
			           "connection lost: socket closed or failed");
			return END_LOST;
		}
		errno = 0;
		rc = send_row(pub, &b->rows[i], headers, time_buf);
		if (rc != AMQP_STATUS_OK) {
			char reason[256];

			pub->broken = true;
			zl_err_set(err, ZL_EX_UNAVAILABLE,
			           "connection lost: could not publish event %s: %s",
			           b->rows[i].event_id,
			           broker_failure_text(rc, reason, sizeof(reason)));
			return END_LOST;
		}
		b->state[i] = ROW_PENDING;
		b->sent++;
	}
	return END_DONE;
}

/* Reads confirms until every sent row is settled or the deadline passes;
 * what has already arrived is read even when the deadline has passed. */
static enum batch_end await_confirms(struct zl_publisher *pub, struct batch *b, int64_t deadline,
                                     struct zl_err *err)
{
	while (b->settled < b->sent) {
		int64_t left = deadline - zl_now_ms();
		int rc;

		/*
		 * A blocked broker confirms nothing until its alarm clears, which
		 * may take hours. Waiting out the deadline would only end in a
		 * reconnect, a new block and the same wait, over and over, with
		 * signals unanswered meanwhile. The connection is sound: keep it,
		 * take the confirms that have arrived, and let the caller wait
		 * for connection.unblocked; what is still unconfirmed is sent
		 * again then (at most this batch twice).
		 */
		if (pub->blocked) {
			if (read_available(pub, b, err) < 0)
				return END_LOST;
			return b->settled < b->sent ? END_BLOCKED : END_DONE;
		}
		rc = read_frame(pub, b, broker_ms_tv(left < TICK_MS ? left : TICK_MS), err);

		if (rc < 0)
			return END_LOST;
		if (rc == 0 && left <= 0)
			return END_TIMEOUT;
		tick(pub);
	}
	return END_DONE;
}

/* Fills err with why the batch ended before every row was acknowledged. */
static void explain_end(const struct zl_publisher *pub, const struct batch *b, enum batch_end end,
                        const struct zl_err *lost, struct zl_err *err)
{
	switch (end) {
	case END_LOST:
		*err = *lost;
		break;
	case END_TIMEOUT:
		zl_err_set(err, ZL_EX_UNAVAILABLE, "no confirm within %g s for %d of %d events",
		           pub->conf->confirm_timeout, b->sent - b->settled, b->sent);
		break;
	case END_STALLED:
		zl_err_set(
		    err, ZL_EX_UNAVAILABLE,
		    "could not send within %g s: the broker does not read (%d of %d events sent)",
		    pub->conf->confirm_timeout, b->sent, b->n);
		break;
	case END_BLOCKED:
		zl_err_set(err, ZL_EX_UNAVAILABLE, "broker has blocked publishers");
		break;
	case END_DONE:
		zl_err_set(err, ZL_EX_SOFTWARE, "confirm state lost");
		break;
	}
}

/* Fills err for row k, the first one not acknowledged. */
static void explain_row(const struct zl_publisher *pub, const struct batch *b, int k,
                        enum batch_end end, const struct zl_err *lost, struct zl_err *err)
{
	const char *id = b->rows[k].event_id;

	if (b->state[k] == ROW_NACKED)
		zl_err_set(err, ZL_EX_TEMPFAIL, "broker nacked event %s", id);
	else if (b->state[k] == ROW_UNROUTABLE)
		zl_err_set(err, ZL_EX_TEMPFAIL, "event %s returned by the broker: %s", id,
		           b->return_text[0] ? b->return_text : "unroutable");
	else
		explain_end(pub, b, end, lost, err);
}

/*
 * A message came back although the exchange has an alternate exchange: its
 * queue (or the alternate exchange itself) was deleted. Declaring the
 * topology again repairs that, so the retry of these rows is routed
 * instead of coming back forever.
 */
static void restore_topology(struct zl_publisher *pub, const struct batch *b)
{
	struct zl_err err = {0};

	zl_warn("amqp.returned", "node=%s events=%d reason=\"%s\" action=redeclare", pub->node,
	        b->returned, b->return_text);
	if (declare_topology(pub, &err) < 0)
		connection_lost(pub, &err);
	else
		amqp_maybe_release_buffers(pub->conn);
}

int publisher_publish(struct zl_publisher *pub, const struct zl_outbox_row *rows, int n,
                      struct zl_err *err)
{
	struct batch b = {.rows = rows, .n = n};
	struct zl_err lost = {0};
	int64_t start_ms = zl_now_ms(), sent_ms;
	int64_t deadline = start_ms + (int64_t)(pub->conf->confirm_timeout * 1000);
	enum batch_end end;
	int k;

	if (!pub->conn)
		return zl_err_set(err, ZL_EX_UNAVAILABLE, "not connected to RabbitMQ");
	if (n <= 0)
		return 0;
	b.state = calloc((size_t)n, 1);
	if (!b.state)
		return zl_err_set(err, ZL_EX_SOFTWARE, "could not publish: out of memory");
	b.first_tag = pub->next_tag;
	end = send_rows(pub, &b, deadline, &lost);
	pub->next_tag += (uint64_t)b.sent;
	sent_ms = zl_now_ms();
	if (end == END_DONE || end == END_BLOCKED) {
		enum batch_end waited = await_confirms(pub, &b, deadline, &lost);

		if (waited != END_DONE)
			end = waited;
	}
	for (k = 0; k < n && b.state[k] == ROW_ACKED; k++)
		;
	for (int i = 0; i < b.sent; i++)
		pub->counts.nacked += b.state[i] == ROW_NACKED;
	pub->counts.returned += b.returned;
	zl_debug("amqp.batch", "events=%d sent=%d acked=%d send_ms=%lld confirm_ms=%lld", n, b.sent,
	         k, (long long)(sent_ms - start_ms), (long long)(zl_now_ms() - sent_ms));
	if (k < n)
		explain_row(pub, &b, k, end, &lost, err);
	if (end == END_LOST || end == END_TIMEOUT || end == END_STALLED) {
		/* The broker's count of publishes on the channel is unknown now,
		 * and a broker this slow would not answer a polite close either. */
		struct zl_err why;

		explain_end(pub, &b, end, &lost, &why);
		pub->broken = true;
		connection_lost(pub, &why);
	} else if (b.returned > 0) {
		restore_topology(pub, &b);
	} else {
		amqp_maybe_release_buffers(pub->conn);
	}
	free(b.state);
	if (b.sent == 0 && end != END_BLOCKED)
		return -1;
	return k;
}

int publisher_service(struct zl_publisher *pub, int timeout_ms, struct zl_err *err)
{
	int64_t deadline = zl_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	bool was_blocked = pub->blocked;

	if (!pub->conn)
		return zl_err_set(err, ZL_EX_UNAVAILABLE, "not connected to RabbitMQ");
	for (;;) {
		int rc = read_frame(pub, NULL, broker_ms_tv(deadline - zl_now_ms()), err);

		if (rc < 0)
			return connection_lost(pub, err);
		/* Return at once when publishing became possible (or not). */
		if (rc == 0 || pub->blocked != was_blocked)
			break;
	}
	amqp_maybe_release_buffers(pub->conn);
	return 0;
}

int64_t publisher_queue_depth(struct zl_publisher *pub, const char *queue, struct zl_err *err)
{
	int64_t n;

	if (!pub->conn)
		return zl_err_set(err, ZL_EX_UNAVAILABLE, "not connected to RabbitMQ");
	n = broker_queue_depth(pub->conn, INSPECT_CHANNEL, queue, err);
	if (n >= 0 || err->code != ZL_EX_UNAVAILABLE)
		return n;
	pub->broken = true;
	return connection_lost(pub, err);
}
