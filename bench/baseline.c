/*
 * Baseline publisher of the benchmarks: the ceiling zaaklink's publishing
 * can approach on the same broker.
 *
 * It publishes what zaaklink publishes (a structured CloudEvent of the same
 * size, the same properties and headers, persistent, mandatory, to the same
 * topic exchange) over one confirm-mode channel, awaiting the confirms per
 * batch, and does nothing else: no database, no state, no retries. It also
 * does the broker chores of bench/run.sh (declaring the bench queue,
 * counting and purging it), so the harness needs no other AMQP client.
 *
 *   baseline URL setup EXCHANGE QUEUE   exchange as zaaklink declares it, plus
 *                                       QUEUE bound with '#'
 *   baseline URL publish EXCHANGE COUNT BATCH
 *                                       prints: published= seconds= rate=
 *                                       user_s= sys_s= maxrss_kb=
 *   baseline URL count QUEUE            prints the number of ready messages
 *   baseline URL first QUEUE SECONDS    waits until QUEUE holds a message
 *                                       (polled every 5 ms); prints the
 *                                       wall clock then, in ms since the epoch
 *   baseline URL purge QUEUE            empties QUEUE
 *
 * Built by bench/run.sh with cc and pkg-config (librabbitmq), not by make.
 * Exits 1 with one line on stderr on any failure.
 */
#if defined(__has_include)
#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/framing.h>
#include <rabbitmq-c/tcp.h>
#define HAVE_NEW_LAYOUT 1
#endif
#endif
#ifndef HAVE_NEW_LAYOUT
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#endif

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define CHANNEL 1
#define TYPE_GEKOPPELD "nl.overheid.zaken.zaak-gekoppeld"
#define EVENT_SOURCE "urn:nld:oin:01823288444:openklant"
#define LINK_PREFIX "https://openklant.example.nl/klantinteracties/api/v1/onderwerpobjecten/"

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "baseline: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Dies with the broker's or the library's reason when an RPC failed. */
static void check_reply(amqp_rpc_reply_t r, const char *what)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		die("could not %s: %s", what, amqp_error_string2(r.library_error));
		break;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			amqp_channel_close_t *m = r.reply.decoded;

			die("could not %s: %.*s", what, (int)m->reply_text.len,
			    (const char *)m->reply_text.bytes);
		}
		die("could not %s: closed by the broker", what);
		break;
	default:
		die("could not %s: no reply", what);
	}
}

static amqp_connection_state_t open_connection(const char *url)
{
	struct amqp_connection_info ci;
	char *copy = strdup(url);
	amqp_connection_state_t conn = amqp_new_connection();
	amqp_socket_t *sock = conn ? amqp_tcp_socket_new(conn) : NULL;

	if (!copy || !sock)
		die("out of memory");
	if (amqp_parse_url(copy, &ci) != AMQP_STATUS_OK)
		die("could not parse %s", url);
	if (amqp_socket_open(sock, ci.host, ci.port) != AMQP_STATUS_OK)
		die("could not connect to %s:%d", ci.host, ci.port);
	check_reply(amqp_login(conn, ci.vhost[0] ? ci.vhost : "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0,
	                       AMQP_SASL_METHOD_PLAIN, ci.user, ci.password),
	            "log in");
	amqp_channel_open(conn, CHANNEL);
	check_reply(amqp_get_rpc_reply(conn), "open a channel");
	free(copy);
	return conn;
}

/* The exchange with its alternate exchange, exactly as zaaklink declares
 * them (a mismatch would fail zaaklink's own declaration), and the queue. */
static void cmd_setup(amqp_connection_state_t conn, const char *exchange, const char *queue)
{
	char unrouted[512];
	amqp_table_entry_t ae;
	amqp_table_t args = {.num_entries = 1, .entries = &ae};

	snprintf(unrouted, sizeof(unrouted), "%s.unrouted", exchange);
	amqp_exchange_declare(conn, CHANNEL, amqp_cstring_bytes(unrouted),
	                      amqp_cstring_bytes("fanout"), 0, 1, 0, 0, amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "declare the unrouted exchange");
	amqp_queue_declare(conn, CHANNEL, amqp_cstring_bytes(unrouted), 0, 1, 0, 0,
	                   amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "declare the unrouted queue");
	amqp_queue_bind(conn, CHANNEL, amqp_cstring_bytes(unrouted), amqp_cstring_bytes(unrouted),
	                amqp_empty_bytes, amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "bind the unrouted queue");
	ae.key = amqp_cstring_bytes("alternate-exchange");
	ae.value.kind = AMQP_FIELD_KIND_UTF8;
	ae.value.value.bytes = amqp_cstring_bytes(unrouted);
	amqp_exchange_declare(conn, CHANNEL, amqp_cstring_bytes(exchange),
	                      amqp_cstring_bytes("topic"), 0, 1, 0, 0, args);
	check_reply(amqp_get_rpc_reply(conn), "declare the exchange");
	amqp_queue_declare(conn, CHANNEL, amqp_cstring_bytes(queue), 0, 1, 0, 0, amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "declare the queue");
	amqp_queue_bind(conn, CHANNEL, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
	                amqp_cstring_bytes("#"), amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "bind the queue");
}

static void cmd_count(amqp_connection_state_t conn, const char *queue)
{
	amqp_queue_declare_ok_t *ok = amqp_queue_declare(conn, CHANNEL, amqp_cstring_bytes(queue),
	                                                 1, 0, 0, 0, amqp_empty_table);

	check_reply(amqp_get_rpc_reply(conn), "inspect the queue");
	printf("%u\n", ok->message_count);
}

static void cmd_first(amqp_connection_state_t conn, const char *queue, double seconds)
{
	struct timespec t, pause = {0, 5 * 1000 * 1000};
	double until;

	clock_gettime(CLOCK_REALTIME, &t);
	until = (double)t.tv_sec + seconds;
	for (;;) {
		amqp_queue_declare_ok_t *ok = amqp_queue_declare(
		    conn, CHANNEL, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);

		check_reply(amqp_get_rpc_reply(conn), "inspect the queue");
		clock_gettime(CLOCK_REALTIME, &t);
		if (ok->message_count > 0)
			break;
		if ((double)t.tv_sec > until)
			die("no message in %s within %.0f s", queue, seconds);
		nanosleep(&pause, NULL);
	}
	printf("%lld\n", (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000);
}

static void cmd_purge(amqp_connection_state_t conn, const char *queue)
{
	amqp_queue_purge(conn, CHANNEL, amqp_cstring_bytes(queue));
	check_reply(amqp_get_rpc_reply(conn), "purge the queue");
}

/* A UUID-shaped id, unique per (run, i). */
static void make_id(char out[37], uint64_t run, uint64_t i)
{
	snprintf(out, 37, "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)(run & 0xffffffffu),
	         (unsigned)((i >> 48) & 0xffff), (unsigned)((i >> 36) & 0xfff),
	         (unsigned)((i >> 24) & 0xfff), (unsigned long long)(i & 0xffffffffffffULL));
}

/*
 * The body zaaklink would publish for link i: the CloudEvent attributes in
 * EVENTS.md's order, with a label of 20 to 80 characters as bench/seed.sql
 * gives its onderwerpen, a third of them followed by " - (nummer)".
 */
static int make_body(char *buf, size_t size, const char *id, const char *subject,
                     const char *time_buf, uint64_t i)
{
	static const char words[] = "vraag over de aanvraag van een vergunning voor het plaatsen "
	                            "van een dakkapel aan de achterzijde, melding openbare ruimte "
	                            "losliggende stoeptegel, bezwaar tegen de aanslag";
	char label[128];
	int len = 20 + (int)((i * 31) % 61);
	int off = (int)((i * 7919) % (sizeof(words) - 82));

	if (i % 3 == 0)
		snprintf(label, sizeof(label), "%.*s - (%010llu)", len > 67 ? 67 : len, words + off,
		         (unsigned long long)i);
	else
		snprintf(label, sizeof(label), "%.*s", len, words + off);
	return snprintf(
	    buf, size,
	    "{\"specversion\":\"1.0\",\"type\":\"" TYPE_GEKOPPELD "\",\"source\":\"" EVENT_SOURCE
	    "\",\"subject\":\"%s\",\"id\":\"%s\",\"time\":\"%s\","
	    "\"datacontenttype\":\"application/json\",\"data\":{\"zaak\":\"urn:uuid:%s\","
	    "\"linkTo\":\"" LINK_PREFIX "%s\",\"label\":\"%s\","
	    "\"linkObjectType\":\"Onderwerpobject\"}}",
	    subject, id, time_buf, subject, id, label);
}

static void string_entry(amqp_table_entry_t *e, const char *key, const char *value)
{
	e->key = amqp_cstring_bytes(key);
	e->value.kind = AMQP_FIELD_KIND_UTF8;
	e->value.value.bytes = amqp_cstring_bytes(value);
}

/* Reads frames until every tag up to last is acked; dies on a nack, a
 * return or a lost connection (nothing of that is expected here). */
static void await_confirms(amqp_connection_state_t conn, uint64_t last)
{
	uint64_t acked = 0;

	while (acked < last) {
		amqp_frame_t f;
		int rc = amqp_simple_wait_frame(conn, &f);

		if (rc != AMQP_STATUS_OK)
			die("connection lost: %s", amqp_error_string2(rc));
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;
		if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
			amqp_basic_ack_t *a = f.payload.method.decoded;

			if (a->delivery_tag > acked)
				acked = a->delivery_tag;
		} else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
			die("broker nacked a message");
		} else if (f.payload.method.id == AMQP_BASIC_RETURN_METHOD) {
			die("broker returned a message: is the exchange set up?");
		} else if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
		           f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
			die("closed by the broker");
		}
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void cmd_publish(amqp_connection_state_t conn, const char *exchange, long count, long batch)
{
	char id[37], subject[37], time_buf[32], body[2048];
	amqp_table_entry_t headers[6];
	amqp_basic_properties_t props;
	time_t t = time(NULL);
	uint64_t run = (uint64_t)t ^ (uint64_t)getpid();
	struct rusage ru;
	struct tm tm;
	double t0;
	uint64_t tag = 0;

	strftime(time_buf, sizeof(time_buf), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	amqp_confirm_select(conn, CHANNEL);
	check_reply(amqp_get_rpc_reply(conn), "enable publisher confirms");
	t0 = now_s();
	for (long i = 0; i < count; i++) {
		int n;

		make_id(id, run, (uint64_t)i);
		make_id(subject, run + 1, (uint64_t)i);
		n = make_body(body, sizeof(body), id, subject, time_buf, (uint64_t)i);
		memset(&props, 0, sizeof(props));
		string_entry(&headers[0], "cloudEvents_specversion", "1.0");
		string_entry(&headers[1], "cloudEvents_id", id);
		string_entry(&headers[2], "cloudEvents_source", EVENT_SOURCE);
		string_entry(&headers[3], "cloudEvents_type", TYPE_GEKOPPELD);
		string_entry(&headers[4], "cloudEvents_subject", subject);
		string_entry(&headers[5], "cloudEvents_time", time_buf);
		props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
		               AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG |
		               AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_APP_ID_FLAG |
		               AMQP_BASIC_HEADERS_FLAG;
		props.content_type = amqp_cstring_bytes("application/cloudevents+json");
		props.delivery_mode = 2;
		props.message_id = amqp_cstring_bytes(id);
		props.timestamp = (uint64_t)t;
		props.type = amqp_cstring_bytes(TYPE_GEKOPPELD);
		props.app_id = amqp_cstring_bytes("zaaklink");
		props.headers.num_entries = 6;
		props.headers.entries = headers;
		if (amqp_basic_publish(conn, CHANNEL, amqp_cstring_bytes(exchange),
		                       amqp_cstring_bytes(TYPE_GEKOPPELD), 1, 0, &props,
		                       (amqp_bytes_t){.len = (size_t)n, .bytes = body}) !=
		    AMQP_STATUS_OK)
			die("could not publish message %ld", i);
		tag++;
		if (tag % (uint64_t)batch == 0 || i + 1 == count) {
			await_confirms(conn, tag);
			amqp_maybe_release_buffers(conn);
		}
	}
	t0 = now_s() - t0;
	getrusage(RUSAGE_SELF, &ru);
	printf("published=%ld seconds=%.3f rate=%.0f user_s=%.3f sys_s=%.3f maxrss_kb=%ld\n", count,
	       t0, (double)count / t0, tv_s(ru.ru_utime), tv_s(ru.ru_stime), ru.ru_maxrss);
}

int main(int argc, char **argv)
{
	amqp_connection_state_t conn;

	if (argc < 4)
		die("usage: baseline URL setup EXCHANGE QUEUE | publish EXCHANGE COUNT BATCH |"
		    " count QUEUE | first QUEUE SECONDS | purge QUEUE");
	conn = open_connection(argv[1]);
	if (strcmp(argv[2], "setup") == 0 && argc == 5) {
		cmd_setup(conn, argv[3], argv[4]);
	} else if (strcmp(argv[2], "publish") == 0 && argc == 6) {
		long count = strtol(argv[4], NULL, 10), batch = strtol(argv[5], NULL, 10);

		if (count <= 0 || batch <= 0)
			die("COUNT and BATCH must be positive");
		cmd_publish(conn, argv[3], count, batch);
	} else if (strcmp(argv[2], "count") == 0 && argc == 4) {
		cmd_count(conn, argv[3]);
	} else if (strcmp(argv[2], "first") == 0 && argc == 5) {
		cmd_first(conn, argv[3], strtod(argv[4], NULL));
	} else if (strcmp(argv[2], "purge") == 0 && argc == 4) {
		cmd_purge(conn, argv[3]);
	} else {
		die("unknown command or wrong arguments: %s", argv[2]);
	}
	amqp_channel_close(conn, CHANNEL, AMQP_REPLY_SUCCESS);
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
	return 0;
}
