/* amqp-probe: declares, inspects and drains RabbitMQ queues for the integration tests. */
#include "amqp_compat.h"

#include <cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define CHANNEL 1
#define CONNECT_TIMEOUT_S 10
#define RPC_TIMEOUT_S 30
#define POLL_INTERVAL_MS 50

static const char usage[] =
    "usage: amqp-probe URL declare QUEUE EXCHANGE KEY... | drain QUEUE [--expect N] "
    "[--timeout SECONDS] | count QUEUE | purge QUEUE | delete QUEUE | publish EXCHANGE KEY BODY "
    "[--id ID] [--type T] [--count N] | consume QUEUE [--reject N] [--requeue] [--expect N] "
    "[--timeout SECONDS] | publish-typed EXCHANGE KEY [--body TEXT | --body-file F] "
    "[--prop NAME=HEX] [--timestamp N] [--priority N] [--header KEY=TYPE:VALUE] "
    "[--pad-headers BYTES]";

/* A test tool may simply stop at the first problem: one line, exit 2. */
__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("amqp-probe: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* Monotonic clock in milliseconds. */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps for ms milliseconds. */
static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Dies unless the last RPC succeeded, with the broker's reply text. */
static void check_reply(amqp_rpc_reply_t r, const char *what, const char *name)
{
	amqp_bytes_t text = amqp_empty_bytes;

	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return;
	case AMQP_RESPONSE_NONE:
		die("could not %s %s: no reply from the broker", what, name);
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		die("could not %s %s: %s", what, name, amqp_error_string2(r.library_error));
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
			text = ((amqp_channel_close_t *)r.reply.decoded)->reply_text;
		else if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
			text = ((amqp_connection_close_t *)r.reply.decoded)->reply_text;
		die("could not %s %s: %.*s", what, name, (int)text.len, (char *)text.bytes);
	}
	die("could not %s %s: unknown reply", what, name);
}

/* Connects, logs in and opens channel 1. */
static amqp_connection_state_t open_connection(const char *url)
{
	struct amqp_connection_info ci;
	struct timeval connect_tv = {CONNECT_TIMEOUT_S, 0};
	struct timeval rpc_tv = {RPC_TIMEOUT_S, 0};
	amqp_connection_state_t conn;
	amqp_socket_t *sock;
	char *copy = strdup(url);
	int rc;

	if (!copy)
		die("out of memory");
	if (amqp_parse_url(copy, &ci) != AMQP_STATUS_OK)
		die("could not parse amqp url %s", url);
	conn = amqp_new_connection();
	if (!conn)
		die("out of memory");
	sock = ci.ssl ? amqp_ssl_socket_new(conn) : amqp_tcp_socket_new(conn);
	if (!sock)
		die("could not create a socket");
	/* Test brokers have throwaway certificates: amqps only encrypts here. */
	if (ci.ssl) {
		amqp_ssl_socket_set_verify_peer(sock, 0);
		amqp_ssl_socket_set_verify_hostname(sock, 0);
	}
	rc = amqp_socket_open_noblock(sock, ci.host, ci.port, &connect_tv);
	if (rc != AMQP_STATUS_OK)
		die("could not connect to %s:%d: %s", ci.host, ci.port, amqp_error_string2(rc));
	amqp_set_rpc_timeout(conn, &rpc_tv);
	/* "amqp://host/" means the default vhost, as zaaklink reads it. */
	check_reply(amqp_login(conn, ci.vhost[0] ? ci.vhost : "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0,
	                       AMQP_SASL_METHOD_PLAIN, ci.user, ci.password),
	            "log in to", ci.host);
	amqp_channel_open(conn, CHANNEL);
	check_reply(amqp_get_rpc_reply(conn), "open a channel on", ci.host);
	free(copy);
	return conn;
}

/* Closes politely, as a well-behaved client. */
static void close_connection(amqp_connection_state_t conn)
{
	amqp_channel_close(conn, CHANNEL, AMQP_REPLY_SUCCESS);
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
}

/* Declares an exchange. */
static void declare_exchange(amqp_connection_state_t conn, const char *name, const char *type,
                             amqp_table_t args)
{
	amqp_exchange_declare(conn, CHANNEL, amqp_cstring_bytes(name), amqp_cstring_bytes(type), 0,
	                      1, 0, 0, args);
	check_reply(amqp_get_rpc_reply(conn), "declare exchange", name);
}

/* Declares a durable, non-exclusive classic queue. */
static void declare_queue(amqp_connection_state_t conn, const char *name)
{
	amqp_queue_declare(conn, CHANNEL, amqp_cstring_bytes(name), 0, 1, 0, 0, amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "declare queue", name);
}

/* Binds a queue to an exchange with a routing key. */
static void bind_queue(amqp_connection_state_t conn, const char *queue, const char *exchange,
                       const char *key)
{
	amqp_queue_bind(conn, CHANNEL, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
	                amqp_cstring_bytes(key), amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "bind queue", queue);
}

/* declare QUEUE EXCHANGE KEY...: the topology of zaaklink plus a test queue. */
static int cmd_declare(amqp_connection_state_t conn, int argc, char **argv)
{
	amqp_table_entry_t ae;
	amqp_table_t args = {.num_entries = 1, .entries = &ae};
	char unrouted[512];

	if (argc < 2)
		die("%s", usage);
	snprintf(unrouted, sizeof(unrouted), "%s.unrouted", argv[1]);
	declare_exchange(conn, unrouted, "fanout", amqp_empty_table);
	declare_queue(conn, unrouted);
	bind_queue(conn, unrouted, unrouted, "");
	ae.key = amqp_cstring_bytes("alternate-exchange");
	ae.value.kind = AMQP_FIELD_KIND_UTF8;
	ae.value.value.bytes = amqp_cstring_bytes(unrouted);
	declare_exchange(conn, argv[1], "topic", args);
	declare_queue(conn, argv[0]);
	for (int i = 2; i < argc; i++)
		bind_queue(conn, argv[0], argv[1], argv[i]);
	return 0;
}

/* Adds bytes as a JSON string (they need not be NUL-terminated). */
static void add_bytes(cJSON *obj, const char *name, amqp_bytes_t b)
{
	char *s = malloc(b.len + 1);

	if (!s)
		die("out of memory");
	if (b.len)
		memcpy(s, b.bytes, b.len);
	s[b.len] = '\0';
	cJSON_AddStringToObject(obj, name, s);
	free(s);
}

/* A header value as JSON: strings as strings, numbers as numbers. */
static void add_field(cJSON *obj, const char *name, const amqp_field_value_t *v)
{
	switch (v->kind) {
	case AMQP_FIELD_KIND_UTF8:
	case AMQP_FIELD_KIND_BYTES:
		add_bytes(obj, name, v->value.bytes);
		break;
	case AMQP_FIELD_KIND_BOOLEAN:
		cJSON_AddBoolToObject(obj, name, v->value.boolean);
		break;
	case AMQP_FIELD_KIND_I8:
		cJSON_AddNumberToObject(obj, name, v->value.i8);
		break;
	case AMQP_FIELD_KIND_U8:
		cJSON_AddNumberToObject(obj, name, v->value.u8);
		break;
	case AMQP_FIELD_KIND_I16:
		cJSON_AddNumberToObject(obj, name, v->value.i16);
		break;
	case AMQP_FIELD_KIND_U16:
		cJSON_AddNumberToObject(obj, name, v->value.u16);
		break;
	case AMQP_FIELD_KIND_I32:
		cJSON_AddNumberToObject(obj, name, v->value.i32);
		break;
	case AMQP_FIELD_KIND_U32:
		cJSON_AddNumberToObject(obj, name, v->value.u32);
		break;
	case AMQP_FIELD_KIND_I64:
		cJSON_AddNumberToObject(obj, name, (double)v->value.i64);
		break;
	case AMQP_FIELD_KIND_U64:
	case AMQP_FIELD_KIND_TIMESTAMP:
		cJSON_AddNumberToObject(obj, name, (double)v->value.u64);
		break;
	case AMQP_FIELD_KIND_F32:
		cJSON_AddNumberToObject(obj, name, v->value.f32);
		break;
	case AMQP_FIELD_KIND_F64:
		cJSON_AddNumberToObject(obj, name, v->value.f64);
		break;
	default:
		cJSON_AddNullToObject(obj, name);
		break;
	}
}

/* Prints one message as a line of JSON, properties that are present only. */
static void print_message(const amqp_bytes_t exchange, const amqp_bytes_t key, bool redelivered,
                          const amqp_message_t *msg, const char *action)
{
	const amqp_basic_properties_t *p = &msg->properties;
	cJSON *obj = cJSON_CreateObject();
	char *line;

	if (!obj)
		die("out of memory");
	add_bytes(obj, "exchange", exchange);
	add_bytes(obj, "routing_key", key);
	cJSON_AddBoolToObject(obj, "redelivered", redelivered);
	if (p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
		add_bytes(obj, "content_type", p->content_type);
	if (p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG)
		cJSON_AddNumberToObject(obj, "delivery_mode", p->delivery_mode);
	if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
		add_bytes(obj, "message_id", p->message_id);
	if (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG)
		cJSON_AddNumberToObject(obj, "timestamp", (double)p->timestamp);
	if (p->_flags & AMQP_BASIC_TYPE_FLAG)
		add_bytes(obj, "type", p->type);
	if (p->_flags & AMQP_BASIC_APP_ID_FLAG)
		add_bytes(obj, "app_id", p->app_id);
	if (p->_flags & AMQP_BASIC_USER_ID_FLAG)
		add_bytes(obj, "user_id", p->user_id);
	if (p->_flags & AMQP_BASIC_HEADERS_FLAG) {
		cJSON *headers = cJSON_AddObjectToObject(obj, "headers");
		char name[256];

		for (int i = 0; headers && i < p->headers.num_entries; i++) {
			const amqp_table_entry_t *e = &p->headers.entries[i];

			snprintf(name, sizeof(name), "%.*s", (int)e->key.len, (char *)e->key.bytes);
			add_field(headers, name, &e->value);
		}
	}
	add_bytes(obj, "body", msg->body);
	if (action) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		cJSON_AddStringToObject(obj, "action", action);
		cJSON_AddNumberToObject(obj, "at_ms",
		                        (double)ts.tv_sec * 1000 + (double)(ts.tv_nsec / 1000000));
	}
	line = cJSON_PrintUnformatted(obj);
	if (!line)
		die("out of memory");
	printf("%s\n", line);
	fflush(stdout);
	cJSON_free(line);
	cJSON_Delete(obj);
}

/* Gets, prints and acknowledges one message; 0 when the queue was empty. */
static int get_one(amqp_connection_state_t conn, const char *queue)
{
	amqp_rpc_reply_t r = amqp_basic_get(conn, CHANNEL, amqp_cstring_bytes(queue), 0);
	amqp_basic_get_ok_t *ok;
	amqp_bytes_t exchange, key;
	amqp_message_t msg;
	uint64_t tag;
	bool redelivered;

	check_reply(r, "get from queue", queue);
	if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
		return 0;
	ok = r.reply.decoded;
	tag = ok->delivery_tag;
	redelivered = ok->redelivered;
	/* Copied: reading the message may reuse the frame's memory. */
	exchange = amqp_bytes_malloc_dup(ok->exchange);
	key = amqp_bytes_malloc_dup(ok->routing_key);
	check_reply(amqp_read_message(conn, CHANNEL, &msg, 0), "read a message from queue", queue);
	print_message(exchange, key, redelivered, &msg, NULL);
	amqp_destroy_message(&msg);
	amqp_bytes_free(exchange);
	amqp_bytes_free(key);
	if (amqp_basic_ack(conn, CHANNEL, tag, 0) != AMQP_STATUS_OK)
		die("could not acknowledge a message from queue %s", queue);
	amqp_maybe_release_buffers(conn);
	return 1;
}

/* Parses a non-negative number or dies. */
static double parse_number(const char *s, const char *option)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0)
		die("%s needs a non-negative number, not '%s'", option, s);
	return v;
}

/* drain QUEUE [--expect N] [--timeout S]: prints and acks every message. */
static int cmd_drain(amqp_connection_state_t conn, int argc, char **argv)
{
	long expect = -1;
	double timeout = 10;
	long got = 0;
	long long deadline;

	if (argc < 1)
		die("%s", usage);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc)
			expect = (long)parse_number(argv[++i], "--expect");
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout = parse_number(argv[++i], "--timeout");
		else
			die("%s", usage);
	}
	deadline = now_ms() + (long long)(timeout * 1000);
	for (;;) {
		if (get_one(conn, argv[0])) {
			got++;
			continue;
		}
		/* Empty now: wait only while messages are still expected. */
		if (expect < 0 || got >= expect || now_ms() >= deadline)
			break;
		sleep_ms(POLL_INTERVAL_MS);
	}
	return expect < 0 || got == expect ? 0 : 1;
}

/* Passive declare: the message count of a queue. */
static int cmd_count(amqp_connection_state_t conn, int argc, char **argv)
{
	amqp_queue_declare_ok_t *ok;

	if (argc != 1)
		die("%s", usage);
	ok = amqp_queue_declare(conn, CHANNEL, amqp_cstring_bytes(argv[0]), 1, 0, 0, 0,
	                        amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "inspect queue", argv[0]);
	printf("%u\n", ok->message_count);
	return 0;
}

/* Empties a queue. */
static int cmd_purge(amqp_connection_state_t conn, int argc, char **argv)
{
	if (argc != 1)
		die("%s", usage);
	amqp_queue_purge(conn, CHANNEL, amqp_cstring_bytes(argv[0]));
	check_reply(amqp_get_rpc_reply(conn), "purge queue", argv[0]);
	return 0;
}

/* Deletes a queue, used or not, empty or not. */
static int cmd_delete(amqp_connection_state_t conn, int argc, char **argv)
{
	if (argc != 1)
		die("%s", usage);
	amqp_queue_delete(conn, CHANNEL, amqp_cstring_bytes(argv[0]), 0, 0);
	check_reply(amqp_get_rpc_reply(conn), "delete queue", argv[0]);
	return 0;
}

/* Waits for the broker's ack of the single message published. */
static void await_ack(amqp_connection_state_t conn, const char *exchange)
{
	struct timeval tv = {RPC_TIMEOUT_S, 0};
	amqp_frame_t frame;

	for (;;) {
		int rc = amqp_simple_wait_frame_noblock(conn, &frame, &tv);

		if (rc != AMQP_STATUS_OK)
			die("no confirm for the message to %s: %s", exchange,
			    amqp_error_string2(rc));
		if (frame.frame_type != AMQP_FRAME_METHOD)
			continue;
		switch (frame.payload.method.id) {
		case AMQP_BASIC_ACK_METHOD:
			return;
		case AMQP_BASIC_NACK_METHOD:
			die("broker nacked the message to %s", exchange);
		case AMQP_CHANNEL_CLOSE_METHOD:
		case AMQP_CONNECTION_CLOSE_METHOD: {
			amqp_rpc_reply_t r = {.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION,
			                      .reply = frame.payload.method};

			check_reply(r, "publish to", exchange);
			break;
		}
		default:
			break;
		}
	}
}

/*
 * publish EXCHANGE KEY BODY [--id ID] [--type T] [--count N]: a persistent
 * message with that message_id and type, confirmed; with --count, N of
 * them with the ids ID-1 .. ID-N.
 */
static int cmd_publish(amqp_connection_state_t conn, int argc, char **argv)
{
	amqp_basic_properties_t props;
	const char *id = NULL, *type = NULL;
	long count = 1;
	char idbuf[256];

	if (argc < 3)
		die("%s", usage);
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--id") == 0 && i + 1 < argc)
			id = argv[++i];
		else if (strcmp(argv[i], "--type") == 0 && i + 1 < argc)
			type = argv[++i];
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = (long)parse_number(argv[++i], "--count");
		else
			die("%s", usage);
	}
	amqp_confirm_select(conn, CHANNEL);
	check_reply(amqp_get_rpc_reply(conn), "enable confirms for", argv[0]);
	for (long n = 1; n <= count; n++) {
		int rc;

		memset(&props, 0, sizeof(props));
		props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
		props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
		if (id) {
			if (count > 1)
				snprintf(idbuf, sizeof(idbuf), "%s-%ld", id, n);
			else
				snprintf(idbuf, sizeof(idbuf), "%s", id);
			props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
			props.message_id = amqp_cstring_bytes(idbuf);
		}
		if (type) {
			props._flags |= AMQP_BASIC_TYPE_FLAG;
			props.type = amqp_cstring_bytes(type);
		}
		rc = amqp_basic_publish(conn, CHANNEL, amqp_cstring_bytes(argv[0]),
		                        amqp_cstring_bytes(argv[1]), 0, 0, &props,
		                        amqp_cstring_bytes(argv[2]));
		if (rc != AMQP_STATUS_OK)
			die("could not publish to %s: %s", argv[0], amqp_error_string2(rc));
		await_ack(conn, argv[0]);
	}
	return 0;
}

/* ---- publish-typed: byte-exact properties and headers of every field type ---- */

/* What publish-typed parses lives here, emptied once the message is sent. */
static amqp_pool_t typed_pool;

/* n zeroed bytes from typed_pool, or dies. */
static void *typed_alloc(size_t n)
{
	void *p = amqp_pool_alloc(&typed_pool, n);

	if (!p)
		die("out of memory");
	return memset(p, 0, n);
}

/* Decodes hex into an amqp_bytes_t of typed_pool. */
static amqp_bytes_t hex_bytes(const char *hex)
{
	size_t n = strlen(hex);
	amqp_bytes_t b = {n / 2, typed_alloc(n / 2 + 1)};

	if (n % 2 || !b.bytes)
		die("'%s' is not an even number of hex digits", hex);
	for (size_t i = 0; i < b.len; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			die("'%s' is not hex", hex);
		((unsigned char *)b.bytes)[i] = (unsigned char)v;
	}
	return b;
}

/* A whole integer (decimal, or 0x hex), or dies. */
static long long spec_int(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || *end)
		die("'%s' is not an integer", s);
	return v;
}

static void parse_field(char *spec, amqp_field_value_t *v);

/* Parses "KEY=SPEC" (KEY in hex when it starts with "hex:") into e. */
static void parse_entry(char *s, amqp_table_entry_t *e)
{
	char *eq = strchr(s, '=');

	if (!eq)
		die("'%s' is not KEY=TYPE:VALUE", s);
	*eq = '\0';
	e->key = strncmp(s, "hex:", 4) == 0 ? hex_bytes(s + 4) : amqp_cstring_bytes(s);
	parse_field(eq + 1, &e->value);
}

/* Splits s at ';' into at most 64 parts; returns their number. */
static int split_list(char *s, char **parts)
{
	int n = 0;

	for (char *p = s; p && *p && n < 64; n++) {
		parts[n] = p;
		p = strchr(p, ';');
		if (p)
			*p++ = '\0';
	}
	return n;
}

/*
 * TYPE:VALUE, TYPE as dlq export names it: bool (0, 1), int8 .. uint64,
 * timestamp (decimal), float, double (strtod: nan, inf too), decimal
 * (SCALE/UNSCALED), void (no value), longstr and bytes (hex), array
 * (SPEC;SPEC...) and table (KEY=SPEC;KEY=SPEC...) of scalar values.
 */
static void parse_field(char *spec, amqp_field_value_t *v)
{
	char *val = strchr(spec, ':');
	char *parts[64];
	int n;

	if (!val)
		die("'%s' is not TYPE:VALUE", spec);
	*val++ = '\0';
	if (strcmp(spec, "bool") == 0) {
		v->kind = AMQP_FIELD_KIND_BOOLEAN;
		v->value.boolean = (amqp_boolean_t)spec_int(val);
	} else if (strcmp(spec, "int8") == 0) {
		v->kind = AMQP_FIELD_KIND_I8;
		v->value.i8 = (int8_t)spec_int(val);
	} else if (strcmp(spec, "uint8") == 0) {
		v->kind = AMQP_FIELD_KIND_U8;
		v->value.u8 = (uint8_t)spec_int(val);
	} else if (strcmp(spec, "int16") == 0) {
		v->kind = AMQP_FIELD_KIND_I16;
		v->value.i16 = (int16_t)spec_int(val);
	} else if (strcmp(spec, "uint16") == 0) {
		v->kind = AMQP_FIELD_KIND_U16;
		v->value.u16 = (uint16_t)spec_int(val);
	} else if (strcmp(spec, "int32") == 0) {
		v->kind = AMQP_FIELD_KIND_I32;
		v->value.i32 = (int32_t)spec_int(val);
	} else if (strcmp(spec, "uint32") == 0) {
		v->kind = AMQP_FIELD_KIND_U32;
		v->value.u32 = (uint32_t)spec_int(val);
	} else if (strcmp(spec, "int64") == 0) {
		v->kind = AMQP_FIELD_KIND_I64;
		v->value.i64 = (int64_t)spec_int(val);
	} else if (strcmp(spec, "uint64") == 0 || strcmp(spec, "timestamp") == 0) {
		v->kind = spec[0] == 'u' ? AMQP_FIELD_KIND_U64 : AMQP_FIELD_KIND_TIMESTAMP;
		v->value.u64 = strtoull(val, NULL, 0);
	} else if (strcmp(spec, "float") == 0) {
		v->kind = AMQP_FIELD_KIND_F32;
		v->value.f32 = strtof(val, NULL);
	} else if (strcmp(spec, "double") == 0) {
		v->kind = AMQP_FIELD_KIND_F64;
		v->value.f64 = strtod(val, NULL);
	} else if (strcmp(spec, "decimal") == 0) {
		char *slash = strchr(val, '/');

		if (!slash)
			die("decimal needs SCALE/UNSCALED, not '%s'", val);
		v->kind = AMQP_FIELD_KIND_DECIMAL;
		*slash = '\0';
		v->value.decimal.decimals = (uint8_t)spec_int(val);
		v->value.decimal.value = (uint32_t)spec_int(slash + 1);
	} else if (strcmp(spec, "void") == 0) {
		v->kind = AMQP_FIELD_KIND_VOID;
	} else if (strcmp(spec, "longstr") == 0 || strcmp(spec, "bytes") == 0) {
		v->kind = spec[0] == 'l' ? AMQP_FIELD_KIND_UTF8 : AMQP_FIELD_KIND_BYTES;
		v->value.bytes = hex_bytes(val);
	} else if (strcmp(spec, "array") == 0) {
		n = split_list(val, parts);
		v->kind = AMQP_FIELD_KIND_ARRAY;
		v->value.array.num_entries = n;
		v->value.array.entries = typed_alloc(((size_t)n + 1) * sizeof(amqp_field_value_t));
		for (int i = 0; i < n; i++)
			parse_field(parts[i], &v->value.array.entries[i]);
	} else if (strcmp(spec, "table") == 0) {
		n = split_list(val, parts);
		v->kind = AMQP_FIELD_KIND_TABLE;
		v->value.table.num_entries = n;
		v->value.table.entries = typed_alloc(((size_t)n + 1) * sizeof(amqp_table_entry_t));
		for (int i = 0; i < n; i++)
			parse_entry(parts[i], &v->value.table.entries[i]);
	} else {
		die("unknown field type '%s'", spec);
	}
}

/* Reads a whole file (the body) into memory. */
static amqp_bytes_t file_bytes(const char *path)
{
	FILE *f = fopen(path, "rb");
	amqp_bytes_t b = {0, NULL};
	char buf[65536];
	size_t n;

	if (!f)
		die("cannot open %s: %s", path, strerror(errno));
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		b.bytes = realloc(b.bytes, b.len + n);
		if (!b.bytes)
			die("out of memory");
		memcpy((char *)b.bytes + b.len, buf, n);
		b.len += n;
	}
	fclose(f);
	return b;
}

/*
 * publish-typed EXCHANGE KEY [--body TEXT | --body-file F] [--prop NAME=HEX]...
 * [--timestamp N] [--priority N] [--header KEY=SPEC]... [--pad-headers BYTES]:
 * one persistent message, confirmed, whose body, shortstr properties
 * (content_type, content_encoding, correlation_id, reply_to, message_id,
 * type, app_id, user_id: the broker checks that against the login) and
 * headers (SPEC: see parse_field) are exactly the bytes given; with
 * --pad-headers, string headers "pad-N" of about BYTES bytes in all.
 */
static int cmd_publish_typed(amqp_connection_state_t conn, int argc, char **argv)
{
	static const struct {
		const char *name;
		amqp_flags_t flag;
		size_t offset;
	} props_known[] = {
	    {"content_type", AMQP_BASIC_CONTENT_TYPE_FLAG,
	     offsetof(amqp_basic_properties_t, content_type)},
	    {"content_encoding", AMQP_BASIC_CONTENT_ENCODING_FLAG,
	     offsetof(amqp_basic_properties_t, content_encoding)},
	    {"correlation_id", AMQP_BASIC_CORRELATION_ID_FLAG,
	     offsetof(amqp_basic_properties_t, correlation_id)},
	    {"reply_to", AMQP_BASIC_REPLY_TO_FLAG, offsetof(amqp_basic_properties_t, reply_to)},
	    {"message_id", AMQP_BASIC_MESSAGE_ID_FLAG,
	     offsetof(amqp_basic_properties_t, message_id)},
	    {"type", AMQP_BASIC_TYPE_FLAG, offsetof(amqp_basic_properties_t, type)},
	    {"app_id", AMQP_BASIC_APP_ID_FLAG, offsetof(amqp_basic_properties_t, app_id)},
	    {"user_id", AMQP_BASIC_USER_ID_FLAG, offsetof(amqp_basic_properties_t, user_id)},
	};
	amqp_basic_properties_t props;
	amqp_table_entry_t *headers;
	amqp_bytes_t body = amqp_empty_bytes, body_file = {0, NULL};
	int n_headers = 0, cap = argc, rc;
	long pad = 0;
	char(*padkeys)[16];
	char *padding;

	if (argc < 2)
		die("%s", usage);
	init_amqp_pool(&typed_pool, 4096);
	for (int i = 2; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--pad-headers") == 0)
			pad = (long)parse_number(argv[i + 1], "--pad-headers");
	}
	cap += (int)(pad / 1000) + 1;
	headers = calloc((size_t)cap, sizeof(*headers));
	padkeys = calloc((size_t)cap, sizeof(*padkeys));
	padding = malloc(1000);
	if (!headers || !padkeys || !padding)
		die("out of memory");
	memset(padding, 'p', 1000);
	memset(&props, 0, sizeof(props));
	props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
	props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--body-file") == 0 && i + 1 < argc) {
			free(body_file.bytes);
			body = body_file = file_bytes(argv[++i]);
		} else if (strcmp(argv[i], "--body") == 0 && i + 1 < argc) {
			body = amqp_cstring_bytes(argv[++i]);
		} else if (strcmp(argv[i], "--pad-headers") == 0 && i + 1 < argc) {
			i++; /* read above */
		} else if (strcmp(argv[i], "--header") == 0 && i + 1 < argc) {
			parse_entry(argv[++i], &headers[n_headers++]);
		} else if (strcmp(argv[i], "--timestamp") == 0 && i + 1 < argc) {
			props._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
			props.timestamp = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--priority") == 0 && i + 1 < argc) {
			props._flags |= AMQP_BASIC_PRIORITY_FLAG;
			props.priority = (uint8_t)spec_int(argv[++i]);
		} else if (strcmp(argv[i], "--prop") == 0 && i + 1 < argc) {
			char *s = argv[++i], *eq = strchr(s, '=');
			size_t k = 0;

			if (eq)
				*eq = '\0';
			while (k < sizeof(props_known) / sizeof(props_known[0]) &&
			       strcmp(props_known[k].name, s) != 0)
				k++;
			if (!eq || k == sizeof(props_known) / sizeof(props_known[0]))
				die("--prop needs NAME=HEX with a shortstr property, not '%s'", s);
			props._flags |= props_known[k].flag;
			*(amqp_bytes_t *)((char *)&props + props_known[k].offset) =
			    hex_bytes(eq + 1);
		} else {
			die("%s", usage);
		}
	}
	/* --pad-headers: string headers "pad-N" of about BYTES bytes in all,
	 * each entry 1 + key, kind 'S', 4 length bytes and at most 1000 'p'. */
	for (int k = 0; pad > 0; k++) {
		int keylen = snprintf(padkeys[k], sizeof(padkeys[k]), "pad-%d", k);
		long len = pad - (1 + keylen + 5);

		len = len > 1000 ? 1000 : len < 0 ? 0 : len;
		headers[n_headers].key = amqp_cstring_bytes(padkeys[k]);
		headers[n_headers].value.kind = AMQP_FIELD_KIND_UTF8;
		headers[n_headers].value.value.bytes.len = (size_t)len;
		headers[n_headers].value.value.bytes.bytes = padding;
		n_headers++;
		pad -= 1 + keylen + 5 + len;
	}
	if (n_headers) {
		props._flags |= AMQP_BASIC_HEADERS_FLAG;
		props.headers.num_entries = n_headers;
		props.headers.entries = headers;
	}
	amqp_confirm_select(conn, CHANNEL);
	check_reply(amqp_get_rpc_reply(conn), "enable confirms for", argv[0]);
	rc = amqp_basic_publish(conn, CHANNEL, amqp_cstring_bytes(argv[0]),
	                        amqp_cstring_bytes(argv[1]), 0, 0, &props, body);
	if (rc != AMQP_STATUS_OK)
		die("could not publish to %s: %s", argv[0], amqp_error_string2(rc));
	await_ack(conn, argv[0]);
	free(headers);
	free(padkeys);
	free(padding);
	free(body_file.bytes);
	empty_amqp_pool(&typed_pool);
	return 0;
}

/* Deliveries seen per message id, for consume. */
struct seen {
	char **ids;
	long *counts;
	long n, cap;
};

/* Counts one more delivery of id and returns the count. */
static long count_delivery(struct seen *s, amqp_bytes_t id)
{
	for (long i = 0; i < s->n; i++) {
		if (strlen(s->ids[i]) == id.len && memcmp(s->ids[i], id.bytes, id.len) == 0)
			return ++s->counts[i];
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->ids = realloc(s->ids, (size_t)s->cap * sizeof(*s->ids));
		s->counts = realloc(s->counts, (size_t)s->cap * sizeof(*s->counts));
		if (!s->ids || !s->counts)
			die("out of memory");
	}
	s->ids[s->n] = strndup(id.bytes, id.len);
	if (!s->ids[s->n])
		die("out of memory");
	s->counts[s->n] = 1;
	return s->counts[s->n++];
}

/*
 * consume QUEUE [--reject N] [--requeue] [--expect M] [--timeout S]: a
 * consumer that rejects the first N deliveries of every message (requeue
 * false, so the queue dead-letters it; with --requeue, nack requeue true,
 * so a quorum queue counts it against its delivery limit) and acks the
 * next. Prints every delivery as a line of JSON with "action" (rejected,
 * accepted) and "at_ms"; stops after M accepted messages or at the timeout.
 */
static int cmd_consume(amqp_connection_state_t conn, int argc, char **argv)
{
	long reject = 0, expect = -1, accepted = 0;
	double timeout = 10;
	bool requeue = false;
	struct seen seen = {0};
	long long deadline;

	if (argc < 1)
		die("%s", usage);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--reject") == 0 && i + 1 < argc)
			reject = (long)parse_number(argv[++i], "--reject");
		else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc)
			expect = (long)parse_number(argv[++i], "--expect");
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout = parse_number(argv[++i], "--timeout");
		else if (strcmp(argv[i], "--requeue") == 0)
			requeue = true;
		else
			die("%s", usage);
	}
	amqp_basic_qos(conn, CHANNEL, 0, 1, 0);
	check_reply(amqp_get_rpc_reply(conn), "set the prefetch for", argv[0]);
	amqp_basic_consume(conn, CHANNEL, amqp_cstring_bytes(argv[0]), amqp_empty_bytes, 0, 0, 0,
	                   amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "consume from", argv[0]);
	deadline = now_ms() + (long long)(timeout * 1000);
	while ((expect < 0 || accepted < expect) && now_ms() < deadline) {
		long long left = deadline - now_ms();
		struct timeval tv = {left / 1000, (left % 1000) * 1000};
		amqp_envelope_t env;
		amqp_rpc_reply_t r;
		long n;

		amqp_maybe_release_buffers(conn);
		r = amqp_consume_message(conn, &env, &tv, 0);
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		    r.library_error == AMQP_STATUS_TIMEOUT)
			break;
		check_reply(r, "consume from", argv[0]);
		n = count_delivery(&seen, env.message.properties.message_id);
		if (n <= reject) {
			print_message(env.exchange, env.routing_key, env.redelivered, &env.message,
			              "rejected");
			if (amqp_basic_nack(conn, CHANNEL, env.delivery_tag, 0, requeue) !=
			    AMQP_STATUS_OK)
				die("could not reject a message from %s", argv[0]);
		} else {
			print_message(env.exchange, env.routing_key, env.redelivered, &env.message,
			              "accepted");
			if (amqp_basic_ack(conn, CHANNEL, env.delivery_tag, 0) != AMQP_STATUS_OK)
				die("could not acknowledge a message from %s", argv[0]);
			accepted++;
		}
		amqp_destroy_envelope(&env);
	}
	for (long i = 0; i < seen.n; i++)
		free(seen.ids[i]);
	free(seen.ids);
	free(seen.counts);
	return expect < 0 || accepted == expect ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(amqp_connection_state_t conn, int argc, char **argv);
	} commands[] = {
	    {"declare", cmd_declare}, {"drain", cmd_drain},
	    {"count", cmd_count},     {"purge", cmd_purge},
	    {"delete", cmd_delete},   {"publish", cmd_publish},
	    {"consume", cmd_consume}, {"publish-typed", cmd_publish_typed},
	};
	amqp_connection_state_t conn;
	int status;

	if (argc < 3)
		die("%s", usage);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[2], commands[i].name) != 0)
			continue;
		conn = open_connection(argv[1]);
		status = commands[i].run(conn, argc - 3, argv + 3);
		close_connection(conn);
		return status;
	}
	die("unknown command '%s'; %s", argv[2], usage);
}
