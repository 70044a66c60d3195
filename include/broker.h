/*
 * Broker: what every RabbitMQ connection of zaaklink shares, on rabbitmq-c.
 *
 * The event publisher (publisher.c), the retry controller and the operator
 * commands (mover.c) each hold a connection of their own: rabbitmq-c is not
 * thread safe and a channel in confirm mode counts its publishes, so they
 * cannot share one. What they do share is here: opening a socket (TCP, or
 * TLS with the configured CA, client certificate and verification), logging
 * in with the capabilities zaaklink relies on, trying the configured nodes
 * in turn, closing without ever waiting on a dead peer, and turning the
 * library's and the broker's answers into one line of text.
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
 * Ends a connection. When sound, connection.close is sent first, but only
 * if the socket takes data at once (a peer that stopped reading would make
 * that send wait forever), and its answer is awaited at most 2 s.
 */
void broker_close(amqp_connection_state_t conn, bool sound);

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
 * Answers the close the broker sent with a failed RPC on channel (the
 * protocol wants close-ok); r's method is released with the channel's
 * memory, so read it first. True when only the channel was closed and the
 * connection is still usable, false when the connection was closed or lost.
 */
bool broker_answer_close(amqp_connection_state_t conn, amqp_channel_t channel, amqp_rpc_reply_t r);

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
