/*
 * Broker: what every RabbitMQ connection of zaaklink shares, on rabbitmq-c.
 *
 * The event publisher (publisher.c), the retry controller and the operator
 * commands (mover.c) each hold a connection of their own: rabbitmq-c is not
 * thread safe and a channel in confirm mode counts its publishes, so they
 * cannot share one. What they do share is here: opening a socket (TCP, or
 * TLS with the configured CA, client certificate and verification), logging
 * in with the capabilities zaaklink relies on, trying the configured nodes
 * in turn, answering the broker's close, and turning the library's and the
 * broker's answers into one line of text.
 *
 * Closing must not hang on a dead peer. rabbitmq-c 0.11 waits in poll()
 * without limit while it sends, so connection.close is sent only when the
 * socket takes data at once, and its answer is awaited at most 2 s; a
 * connection that is known to be broken is dropped without a word.
 *
 * No function here logs; callers decide what an event is worth.
 */
#ifndef ZL_BROKER_H
#define ZL_BROKER_H

#include "amqp_compat.h"
#include "common.h"
#include "conf.h"

/*
 * Opens a connection to conf->urls[idx] and logs in (no channel yet).
 * node is the masked URL, for messages. Handshake and login are bounded by
 * connect_timeout, every later RPC by confirm_timeout, and the kernel drops
 * the connection when sent data stays unacknowledged for confirm_timeout.
 * On failure nothing remains open and err says why (ZL_EX_CONFIG for an
 * unusable URL or TLS file, ZL_EX_UNAVAILABLE otherwise).
 */
int broker_open(const struct zl_amqp_conf *conf, int idx, const char *node,
                amqp_connection_state_t *out, struct zl_err *err);

/*
 * Tries the configured nodes in turn, starting at *next_url, until one
 * accepts. On success *conn is logged in, *node (malloc'ed, masked) names
 * it and *next_url points at it, so that a reconnect starts there; on
 * failure err holds the last node's error.
 */
int broker_connect(const struct zl_amqp_conf *conf, int *next_url, char **node,
                   amqp_connection_state_t *conn, struct zl_err *err);

/*
 * What a client does on each node besides logging in (either may be NULL).
 * setup runs on the fresh connection (*conn, with *node naming it): it opens
 * channels and declares what the client needs; when it fails the node
 * counts as failed, and setup has closed the connection already, since only
 * the client knows whether it is still sound. node_failed hears of every
 * node that failed while another is still to be tried.
 */
struct broker_hooks {
	int (*setup)(void *arg, struct zl_err *err);
	void (*node_failed)(void *arg, const char *node, const struct zl_err *err);
	void *arg;
};

/* broker_connect(), with setup and node_failed of hooks called on each node. */
int broker_connect_with(const struct zl_amqp_conf *conf, const struct broker_hooks *hooks,
                        int *next_url, char **node, amqp_connection_state_t *conn,
                        struct zl_err *err);

/*
 * Ends a connection. When sound, connection.close is sent first, but only
 * if the socket takes data at once (a peer that stopped reading would make
 * that send wait forever), and its answer is awaited at most 2 s.
 */
void broker_close(amqp_connection_state_t conn, bool sound);

/*
 * Answers a channel.close or connection.close the broker sent on channel
 * with its close-ok, as the protocol wants. Returns true when the
 * connection is still open afterwards (only a channel was closed); after
 * connection.close it is not sound: close it with broker_close(conn, false).
 */
bool broker_answer_close(amqp_connection_state_t conn, amqp_channel_t channel,
                         const amqp_method_t *m);

/* Waits until the socket takes data or deadline_ms (monotonic) passes:
 * 0 when writable, 1 on timeout, -1 when the socket is gone or failed. */
int broker_wait_writable(amqp_connection_state_t conn, int64_t deadline_ms);

/* The broker's reply text of a channel.close or connection.close method. */
void broker_close_text(const amqp_method_t *m, char *buf, size_t size);
/* A failed RPC in words: the broker's reply text, or the library's error. */
void broker_reply_text(amqp_rpc_reply_t r, char *buf, size_t size);
/* The reply code of a server exception (404, 406, ...), 0 for anything else. */
int broker_reply_code(amqp_rpc_reply_t r);
/* The library's words for a failed call, plus strerror(errno) when a socket
 * call failed; callers clear errno before the call. Returns buf. */
const char *broker_failure_text(int rc, char *buf, size_t size);

/* Table entries (the value is borrowed, not copied). */
void broker_string_entry(amqp_table_entry_t *e, const char *key, const char *value);
void broker_bool_entry(amqp_table_entry_t *e, const char *key, bool value);
void broker_table_entry(amqp_table_entry_t *e, const char *key, amqp_table_t value);
/* Copies a string value of table t into buf ("" when absent). */
void broker_table_string(const amqp_table_t *t, const char *key, char *buf, size_t size);

/* Seconds and milliseconds as a struct timeval (negative counts as 0). */
struct timeval broker_seconds_tv(double s);
struct timeval broker_ms_tv(int64_t ms);

/* An integer table entry (64 bits, signed). */
void broker_long_entry(amqp_table_entry_t *e, const char *key, int64_t value);

/*
 * Answers the close the broker sent with a failed RPC on channel
 * (broker_answer_close() on r's method); r's method is released with the channel's
 * memory, so read it first. True when only the channel was closed and the
 * connection is still usable, false when the connection was closed or lost.
 */
bool broker_answer_reply(amqp_connection_state_t conn, amqp_channel_t channel, amqp_rpc_reply_t r);

/*
 * The number of messages in queue, by a passive declare (it never creates
 * anything) on channel, which must not be open: it is opened and closed
 * around the declare. -1 with err when the queue does not exist
 * (ZL_EX_DATAERR) or the broker refused (ZL_EX_TEMPFAIL): the connection
 * is still usable then; or when the connection was lost (ZL_EX_UNAVAILABLE):
 * the caller closes it without a word to the broker.
 */
int64_t broker_queue_depth(amqp_connection_state_t conn, amqp_channel_t channel, const char *queue,
                           struct zl_err *err);

#endif
