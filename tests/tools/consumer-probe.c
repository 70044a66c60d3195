/*
 * consumer-probe: drives zaaklink's own consumer (consumer.h), the
 * declaration of a consumer queue outside amqp.queues
 * (topology_declare_consumer) and the retry controller with such a queue
 * as an origin (retry_add_origin), for tests/integration/consumer.sh.
 * Output: one JSON object a line on stdout; errors on stderr.
 */
#include "consumer.h"
#include "conf.h"
#include "log.h"
#include "mover.h"
#include "retry.h"

#include <cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: consumer-probe CONF declare QUEUE | retry QUEUE... | "
    "hold QUEUE PREFETCH SECONDS | take QUEUE VERDICTS COUNT SECONDS [REASON [DETAIL]] | "
    "drop QUEUE SECONDS\n"
    "  VERDICTS: a comma-separated list of ack, reject, park; the last one repeats";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

__attribute__((format(printf, 2, 3), noreturn)) static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("consumer-probe: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop)
		;
}

/* Prints j as one line and frees it. */
static void emit(cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);

	if (!s)
		die(70, "out of memory while printing");
	printf("%s\n", s);
	fflush(stdout);
	free(s);
	cJSON_Delete(j);
}

/* A string header of d, NULL when absent. */
static cJSON *header_json(const struct zl_delivery *d, const char *name)
{
	const amqp_basic_properties_t *p = &d->t.msg.properties;

	for (int i = 0; (p->_flags & AMQP_BASIC_HEADERS_FLAG) && i < p->headers.num_entries; i++) {
		const amqp_table_entry_t *e = &p->headers.entries[i];
		char buf[1024];

		if (e->key.len != strlen(name) || memcmp(e->key.bytes, name, e->key.len) != 0)
			continue;
		if (e->value.kind == AMQP_FIELD_KIND_I64)
			return cJSON_CreateNumber((double)e->value.value.i64);
		if (e->value.kind == AMQP_FIELD_KIND_UTF8) {
			snprintf(buf, sizeof(buf), "%.*s", (int)e->value.value.bytes.len,
			         (const char *)e->value.value.bytes.bytes);
			return cJSON_CreateString(buf);
		}
	}
	return cJSON_CreateNull();
}

/* What a delivery says, as JSON. */
static cJSON *delivery_json(const char *event, const struct zl_delivery *d)
{
	cJSON *j = cJSON_CreateObject();
	char body[4096];

	cJSON_AddStringToObject(j, "event", event);
	cJSON_AddStringToObject(j, "message_id", d->has_message_id ? d->message_id : "");
	if (d->has_seq)
		cJSON_AddNumberToObject(j, "seq", (double)d->seq);
	else
		cJSON_AddNullToObject(j, "seq");
	cJSON_AddBoolToObject(j, "redelivered", d->redelivered);
	cJSON_AddStringToObject(j, "exchange", d->t.exchange);
	cJSON_AddStringToObject(j, "routing_key", d->t.routing_key);
	cJSON_AddItemToObject(j, "attempts", header_json(d, ZL_H_ATTEMPTS));
	cJSON_AddItemToObject(j, "origin", header_json(d, ZL_H_ORIGIN));
	cJSON_AddItemToObject(j, "reason", header_json(d, ZL_H_LAST_REASON));
	cJSON_AddItemToObject(j, "last_error", header_json(d, ZL_H_LAST_ERROR));
	snprintf(body, sizeof(body), "%.*s", (int)d->t.msg.body.len,
	         (const char *)d->t.msg.body.bytes);
	cJSON_AddStringToObject(j, "body", body);
	cJSON_AddNumberToObject(j, "connection", (double)d->connection);
	cJSON_AddNumberToObject(j, "at_ms", (double)zl_now_ms());
	return j;
}

static void emit_error(const char *event, const struct zl_err *err)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "event", event);
	cJSON_AddNumberToObject(j, "code", err->code);
	cJSON_AddStringToObject(j, "error", err->msg);
	emit(j);
}

static struct zl_consumer *connected(const struct zl_conf *conf, const char *queue, int prefetch)
{
	struct zl_err err = {0};
	struct zl_consumer *c = consumer_new(&conf->amqp, queue, prefetch, &err);

	if (!c || consumer_connect(c, &err) < 0)
		die(err.code ? err.code : 70, "%s", err.msg);
	return c;
}

static int cmd_declare(const struct zl_conf *conf, int argc, char **argv)
{
	struct zl_err err = {0};
	struct zl_mover *m;

	if (argc != 1)
		die(64, "%s", usage);
	if (!(m = mover_new(conf, &err)) || mover_declare(m, NULL, &err) < 0 ||
	    mover_declare_consumer(m, argv[0], stdout, &err) < 0)
		die(err.code, "%s", err.msg);
	mover_free(m);
	return 0;
}

static int cmd_retry(const struct zl_conf *conf, int argc, char **argv)
{
	struct zl_err err = {0};
	struct zl_retry *r = retry_new(conf, &err);

	if (!r)
		die(err.code, "%s", err.msg);
	for (int i = 0; i < argc; i++) {
		if (retry_add_origin(r, argv[i], &err) < 0)
			die(err.code, "%s", err.msg);
	}
	while (!stop) {
		retry_step(r, 200);
		sleep_ms(100);
	}
	retry_free(r);
	return 0;
}

/* Takes deliveries without a verdict for a while: how many come, how many are left. */
static int cmd_hold(const struct zl_conf *conf, int argc, char **argv)
{
	struct zl_consumer *c;
	struct zl_delivery d[64];
	struct zl_err err = {0};
	int64_t deadline, ready;
	int held = 0, rc;
	cJSON *j;

	if (argc != 3)
		die(64, "%s", usage);
	c = connected(conf, argv[0], atoi(argv[1]));
	deadline = zl_now_ms() + (int64_t)(atof(argv[2]) * 1000);
	while (held < 64 &&
	       (rc = consumer_next(c, (int)(deadline - zl_now_ms()), &d[held], &err)) > 0)
		held++;
	if (held < 64 && rc < 0)
		die(err.code, "%s", err.msg);
	if ((ready = consumer_queue_depth(c, &err)) < 0)
		die(err.code, "%s", err.msg);
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "event", "held");
	cJSON_AddNumberToObject(j, "held", held);
	cJSON_AddNumberToObject(j, "ready", (double)ready);
	emit(j);
	for (int i = 0; i < held; i++)
		consumer_release(&d[i]);
	consumer_free(c);
	return 0;
}

/* The i-th verdict of a comma-separated list; the last one repeats. */
static void nth_verdict(const char *list, int i, char *buf, size_t size)
{
	const char *p = list, *comma;

	for (; i > 0 && (comma = strchr(p, ',')); i--)
		p = comma + 1;
	snprintf(buf, size, "%.*s", (int)strcspn(p, ","), p);
}

static int cmd_take(const struct zl_conf *conf, int argc, char **argv)
{
	const char *reason = argc > 4 ? argv[4] : "test", *detail = argc > 5 ? argv[5] : NULL;
	struct zl_consumer *c;
	struct zl_err err = {0};
	int64_t deadline;
	int count, taken = 0;

	if (argc < 4 || argc > 6)
		die(64, "%s", usage);
	count = atoi(argv[2]);
	c = connected(conf, argv[0], 10);
	deadline = zl_now_ms() + (int64_t)(atof(argv[3]) * 1000);
	while (taken < count && !stop) {
		struct zl_delivery d;
		char v[16];
		int rc = consumer_next(c, (int)(deadline - zl_now_ms()), &d, &err);
		cJSON *j;

		if (rc < 0)
			die(err.code, "%s", err.msg);
		if (rc == 0)
			break;
		nth_verdict(argv[1], taken++, v, sizeof(v));
		if (strcmp(v, "ack") == 0)
			rc = consumer_ack(c, &d, &err);
		else if (strcmp(v, "reject") == 0)
			rc = consumer_reject(c, &d, &err);
		else if (strcmp(v, "park") == 0)
			rc = consumer_park(c, &d, reason, detail, &err);
		else
			die(64, "unknown verdict '%s'", v);
		j = delivery_json("taken", &d);
		cJSON_AddStringToObject(j, "verdict", v);
		cJSON_AddNumberToObject(j, "rc", rc);
		if (rc < 0)
			cJSON_AddStringToObject(j, "error", err.msg);
		emit(j);
		consumer_release(&d);
	}
	consumer_free(c);
	return taken == count ? 0 : 1;
}

/*
 * Holds one delivery until the connection is lost (the test drops it),
 * then: the verdict on it is refused, a reconnect brings it again,
 * redelivered, and that one is acknowledged.
 */
static int cmd_drop(const struct zl_conf *conf, int argc, char **argv)
{
	struct zl_consumer *c;
	struct zl_delivery held, again;
	struct zl_err err = {0};
	int64_t deadline;
	int rc;

	if (argc != 2)
		die(64, "%s", usage);
	c = connected(conf, argv[0], 1);
	deadline = zl_now_ms() + (int64_t)(atof(argv[1]) * 1000);
	if (consumer_next(c, (int)(deadline - zl_now_ms()), &held, &err) != 1)
		die(1, "no delivery: %s", err.msg);
	emit(delivery_json("held", &held));
	while ((rc = consumer_next(c, 200, &again, &err)) == 0 && zl_now_ms() < deadline)
		;
	if (rc >= 0)
		die(1, "the connection was not lost in time");
	emit_error("lost", &err);
	while (consumer_connect(c, &err) < 0) {
		if (zl_now_ms() > deadline)
			die(err.code, "could not reconnect: %s", err.msg);
		sleep_ms(200);
	}
	if (consumer_next(c, (int)(deadline - zl_now_ms()), &again, &err) != 1)
		die(1, "no delivery after the reconnect: %s", err.msg);
	/* The verdict on the delivery of the lost connection sends nothing. */
	if (consumer_ack(c, &held, &err) < 0)
		emit_error("stale_ack", &err);
	emit(delivery_json("again", &again));
	if (consumer_ack(c, &again, &err) < 0)
		die(err.code, "%s", err.msg);
	consumer_release(&held);
	consumer_release(&again);
	consumer_free(c);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(const struct zl_conf *, int, char **);
	} cmds[] = {{"declare", cmd_declare},
	            {"retry", cmd_retry},
	            {"hold", cmd_hold},
	            {"take", cmd_take},
	            {"drop", cmd_drop}};
	struct zl_err err = {0};
	struct zl_conf *conf;
	struct sigaction sa;
	int rc = -1;

	if (argc < 3)
		die(64, "%s", usage);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!(conf = conf_load_for(argv[1], ZL_STATE_NONE, &err)))
		die(err.code, "%s", err.msg);
	zl_log_set_level(ZL_LOG_WARNING);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[2], cmds[i].name) == 0)
			rc = cmds[i].fn(conf, argc - 3, argv + 3);
	}
	conf_free(conf);
	if (rc < 0)
		die(64, "%s", usage);
	return rc;
}
