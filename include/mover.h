/*
 * Mover: the RabbitMQ client of the retry controller and the operator
 * commands (setup, status, dlq), never the event publisher's (publisher.h).
 *
 * One connection with one channel in confirm mode, which moves one message
 * at a time: basic.get, publish with confirm, and only after the confirm
 * basic.ack. A crash in between leaves the message where it was as well as
 * where it went: duplicates are possible, losses are not. A message taken
 * and not acknowledged goes back to its queue, in its place, when the
 * connection closes. Queue depths are read on a second channel, opened per
 * passive declare (broker_queue_depth), so that asking for a queue that
 * does not exist costs neither the connection nor the confirm channel.
 *
 * Any failure of the connection drops it (mover_connected() turns false);
 * the next call that needs it connects again, to the next node.
 */
#ifndef ZL_MOVER_H
#define ZL_MOVER_H

#include "amqp_compat.h"
#include "common.h"
#include "conf.h"

#include <stdio.h>

/* The channel of a zl_mover's connection (confirm mode). */
#define ZL_MOVER_CHANNEL 1

/* One message taken with basic.get, not yet acknowledged. */
struct zl_taken {
	uint64_t tag;
	char exchange[256];
	char routing_key[256];
	amqp_message_t msg;
	size_t routing_key_len; /* the key's bytes: it may hold a NUL */
};

struct zl_mover;

/* Not connected yet; NULL with err when out of memory. */
struct zl_mover *mover_new(const struct zl_conf *conf, struct zl_err *err);
void mover_free(struct zl_mover *m);
int mover_connect(struct zl_mover *m, struct zl_err *err);
bool mover_connected(const struct zl_mover *m);
void mover_disconnect(struct zl_mover *m);
const char *mover_node(const struct zl_mover *m);
/* The connection, NULL when not connected. */
amqp_connection_state_t mover_conn(struct zl_mover *m);
/* The frame size negotiated on the connection, 0 when not connected. */
size_t mover_frame_max(const struct zl_mover *m);
/*
 * Declares the whole topology (topology_declare) on the confirm channel,
 * connecting first when needed; prints each name to out when out is not
 * NULL. After a failure the connection is dropped.
 */
int mover_declare(struct zl_mover *m, FILE *out, struct zl_err *err);
/*
 * Declares one more consumer queue, one not in amqp.queues
 * (topology_declare_consumer), after mover_declare(); the same otherwise.
 */
int mover_declare_consumer(struct zl_mover *m, const char *queue, FILE *out, struct zl_err *err);
/* Messages in queue (passive declare: nothing is created); -1 with err,
 * ZL_EX_DATAERR when it does not exist. */
int64_t mover_depth(struct zl_mover *m, const char *queue, struct zl_err *err);
/* basic.get: 1 with *t filled, 0 when the queue is empty, -1 on error. */
int mover_take(struct zl_mover *m, const char *queue, struct zl_taken *t, struct zl_err *err);
void mover_release(struct zl_taken *t);
int mover_ack(struct zl_mover *m, const struct zl_taken *t, struct zl_err *err);
/* basic.reject with requeue: t goes back to where it was taken from. */
int mover_requeue(struct zl_mover *m, const struct zl_taken *t, struct zl_err *err);
/*
 * Publishes t's message (body and properties unchanged, headers replaced by
 * headers) to exchange with key, mandatory, and waits for the confirm.
 * Fails when the broker nacks, returns it as unroutable, or is silent for
 * confirm_timeout; the connection is dropped unless the failure was a
 * clean nack or return, or the properties do not fit a frame (checked
 * before anything is sent): then mover_connected() is still true.
 */
int mover_publish(struct zl_mover *m, const struct zl_taken *t, const amqp_table_t *headers,
                  const char *exchange, const char *key, struct zl_err *err);

#endif
