/* dlq: lists, exports, requeues and purges parked (or unrouted) messages for an operator. */
#include "app.h"
#include "broker.h"
#include "commands.h"
#include "log.h"
#include "retry.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IDS 1024

enum action { LIST, EXPORT, REQUEUE, PURGE };

struct options {
	enum action action;
	bool unrouted; /* <exchange>.unrouted instead of <exchange>.dlq */
	bool all, yes, json;
	const char *queue; /* origin queue filter */
	const char *type;  /* event type filter */
	long limit;        /* -1: no limit */
	const char *ids[MAX_IDS];
	int n_ids;
};

/* What a run over the queue did. */
struct tally {
	long seen, matched, done, failed;
	cJSON *list; /* list --json */
};

static const char usage_text[] =
    "usage: zaaklink dlq list [--queue Q] [--type T] [--limit N] [--json] [--unrouted]\n"
    "       zaaklink dlq requeue (--id ID... | --all) [--queue Q] [--type T] [--limit N] "
    "[--unrouted]\n"
    "       zaaklink dlq purge (--id ID... | --all) --yes [--queue Q] [--type T] [--limit N] "
    "[--unrouted]\n"
    "       zaaklink dlq export [--queue Q] [--type T] [--limit N] [--id ID...] [--unrouted]\n";

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "zaaklink: dlq: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", usage_text);
	return -1;
}

/* Parses argv (argv[0] = "dlq", argv[1] = the subcommand) into o. */
static int parse(int argc, char **argv, struct options *o)
{
	static const char *const names[] = {"list", "export", "requeue", "purge"};
	int i;

	memset(o, 0, sizeof(*o));
	o->limit = -1;
	if (argc < 2)
		return usage_error("%s", "missing subcommand (list, requeue, purge or export)");
	for (i = 0; i < 4 && strcmp(argv[1], names[i]) != 0; i++)
		;
	if (i == 4)
		return usage_error("unknown subcommand '%s'", argv[1]);
	o->action = (enum action)i;
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		bool has_value = i + 1 < argc && argv[i + 1][0] != '-';

		if (strcmp(a, "--unrouted") == 0) {
			o->unrouted = true;
		} else if (strcmp(a, "--all") == 0) {
			o->all = true;
		} else if (strcmp(a, "--yes") == 0) {
			o->yes = true;
		} else if (strcmp(a, "--json") == 0) {
			o->json = true;
		} else if (strcmp(a, "--queue") == 0 && has_value) {
			o->queue = argv[++i];
		} else if (strcmp(a, "--type") == 0 && has_value) {
			o->type = argv[++i];
		} else if (strcmp(a, "--limit") == 0 && has_value) {
			char *end;

			errno = 0;
			o->limit = strtol(argv[++i], &end, 10);
			if (errno || *end || o->limit < 1)
				return usage_error("--limit needs a positive number, not '%s'",
				                   argv[i]);
		} else if (strcmp(a, "--id") == 0 && has_value) {
			/* --id A B C and --id A --id B both work. */
			while (i + 1 < argc && argv[i + 1][0] != '-') {
				if (o->n_ids == MAX_IDS)
					return usage_error("%s",
					                   "too many --id values (at most 1024)");
				o->ids[o->n_ids++] = argv[++i];
			}
		} else {
			return usage_error("unknown or incomplete option '%s'", a);
		}
	}
	if ((o->action == REQUEUE || o->action == PURGE) && !o->all && o->n_ids == 0)
		return usage_error("%s needs --id ID... or --all", names[o->action]);
	if ((o->action == REQUEUE || o->action == PURGE) && o->all && o->n_ids > 0)
		return usage_error("%s takes --id or --all, not both", names[o->action]);
	if (o->json && o->action != LIST)
		return usage_error("%s", "--json is for list (export always writes JSON)");
	if (o->unrouted && o->queue)
		return usage_error("%s", "--queue filters by origin queue, which unrouted "
		                         "messages do not have");
	return 0;
}

/* True when the message passes the filters. */
static bool matches(const struct options *o, const struct zl_failure *f)
{
	if (o->queue && strcmp(o->queue, f->origin) != 0)
		return false;
	if (o->type && strcmp(o->type, f->type) != 0)
		return false;
	if (o->n_ids == 0)
		return true;
	for (int i = 0; i < o->n_ids; i++) {
		if (strcmp(o->ids[i], f->id) == 0)
			return true;
	}
	return false;
}

/* A field value as JSON: strings, numbers, booleans, nested tables and arrays. */
static cJSON *field_json(const amqp_field_value_t *v);

static cJSON *table_json(const amqp_table_t *t)
{
	cJSON *o = cJSON_CreateObject();
	char key[256];

	for (int i = 0; o && i < t->num_entries; i++) {
		snprintf(key, sizeof(key), "%.*s", (int)t->entries[i].key.len,
		         (const char *)t->entries[i].key.bytes);
		cJSON_AddItemToObject(o, key, field_json(&t->entries[i].value));
	}
	return o;
}

/* Bytes as a JSON string (they need not end in NUL). */
static cJSON *bytes_json(amqp_bytes_t b)
{
	char *s = malloc(b.len + 1);
	cJSON *j;

	if (!s)
		return cJSON_CreateNull();
	if (b.len)
		memcpy(s, b.bytes, b.len);
	s[b.len] = '\0';
	j = cJSON_CreateString(s);
	free(s);
	return j;
}

static cJSON *field_json(const amqp_field_value_t *v)
{
	switch (v->kind) {
	case AMQP_FIELD_KIND_UTF8:
	case AMQP_FIELD_KIND_BYTES:
		return bytes_json(v->value.bytes);
	case AMQP_FIELD_KIND_BOOLEAN:
		return cJSON_CreateBool(v->value.boolean);
	case AMQP_FIELD_KIND_I8:
		return cJSON_CreateNumber(v->value.i8);
	case AMQP_FIELD_KIND_U8:
		return cJSON_CreateNumber(v->value.u8);
	case AMQP_FIELD_KIND_I16:
		return cJSON_CreateNumber(v->value.i16);
	case AMQP_FIELD_KIND_U16:
		return cJSON_CreateNumber(v->value.u16);
	case AMQP_FIELD_KIND_I32:
		return cJSON_CreateNumber(v->value.i32);
	case AMQP_FIELD_KIND_U32:
		return cJSON_CreateNumber(v->value.u32);
	case AMQP_FIELD_KIND_I64:
		return cJSON_CreateNumber((double)v->value.i64);
	case AMQP_FIELD_KIND_U64:
	case AMQP_FIELD_KIND_TIMESTAMP:
		return cJSON_CreateNumber((double)v->value.u64);
	case AMQP_FIELD_KIND_F32:
		return cJSON_CreateNumber(v->value.f32);
	case AMQP_FIELD_KIND_F64:
		return cJSON_CreateNumber(v->value.f64);
	case AMQP_FIELD_KIND_TABLE:
		return table_json(&v->value.table);
	case AMQP_FIELD_KIND_ARRAY: {
		cJSON *a = cJSON_CreateArray();

		for (int i = 0; a && i < v->value.array.num_entries; i++)
			cJSON_AddItemToArray(a, field_json(&v->value.array.entries[i]));
		return a;
	}
	default:
		return cJSON_CreateNull();
	}
}

/* True when b is valid UTF-8 without NUL bytes (so it survives as a JSON string). */
static bool text_body(amqp_bytes_t b)
{
	const unsigned char *p = b.bytes;
	size_t i = 0;

	while (i < b.len) {
		unsigned char c = p[i];
		size_t n = c < 0x80         ? 1
		           : (c >> 5) == 6  ? 2
		           : (c >> 4) == 14 ? 3
		           : (c >> 3) == 30 ? 4
		                            : 0;

		if (c == 0 || n == 0 || i + n > b.len)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		}
		i += n;
	}
	return true;
}

/* Base64 of b, for bodies that are not text; malloc'ed. */
static char *base64(amqp_bytes_t b)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = b.bytes;
	char *out = malloc((b.len + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < b.len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < b.len ? (unsigned)p[i + 1] << 8 : 0) |
		             (i + 2 < b.len ? p[i + 2] : 0);

		*o++ = al[v >> 18 & 63];
		*o++ = al[v >> 12 & 63];
		*o++ = i + 1 < b.len ? al[v >> 6 & 63] : '=';
		*o++ = i + 2 < b.len ? al[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* The whole message as one JSON object: where it was, properties, headers, body. */
static cJSON *message_json(const char *queue, const struct zl_taken *t)
{
	const amqp_basic_properties_t *p = &t->msg.properties;
	cJSON *o = cJSON_CreateObject(), *props;

	cJSON_AddStringToObject(o, "queue", queue);
	cJSON_AddStringToObject(o, "exchange", t->exchange);
	cJSON_AddStringToObject(o, "routing_key", t->routing_key);
	props = cJSON_AddObjectToObject(o, "properties");
	if (p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
		cJSON_AddItemToObject(props, "content_type", bytes_json(p->content_type));
	if (p->_flags & AMQP_BASIC_CONTENT_ENCODING_FLAG)
		cJSON_AddItemToObject(props, "content_encoding", bytes_json(p->content_encoding));
	if (p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG)
		cJSON_AddNumberToObject(props, "delivery_mode", p->delivery_mode);
	if (p->_flags & AMQP_BASIC_PRIORITY_FLAG)
		cJSON_AddNumberToObject(props, "priority", p->priority);
	if (p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG)
		cJSON_AddItemToObject(props, "correlation_id", bytes_json(p->correlation_id));
	if (p->_flags & AMQP_BASIC_REPLY_TO_FLAG)
		cJSON_AddItemToObject(props, "reply_to", bytes_json(p->reply_to));
	if (p->_flags & AMQP_BASIC_EXPIRATION_FLAG)
		cJSON_AddItemToObject(props, "expiration", bytes_json(p->expiration));
	if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
		cJSON_AddItemToObject(props, "message_id", bytes_json(p->message_id));
	if (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG)
		cJSON_AddNumberToObject(props, "timestamp", (double)p->timestamp);
	if (p->_flags & AMQP_BASIC_TYPE_FLAG)
		cJSON_AddItemToObject(props, "type", bytes_json(p->type));
	if (p->_flags & AMQP_BASIC_USER_ID_FLAG)
		cJSON_AddItemToObject(props, "user_id", bytes_json(p->user_id));
	if (p->_flags & AMQP_BASIC_APP_ID_FLAG)
		cJSON_AddItemToObject(props, "app_id", bytes_json(p->app_id));
	cJSON_AddItemToObject(o, "headers",
	                      (p->_flags & AMQP_BASIC_HEADERS_FLAG) ? table_json(&p->headers)
	                                                            : cJSON_CreateObject());
	if (text_body(t->msg.body)) {
		cJSON_AddItemToObject(o, "body", bytes_json(t->msg.body));
	} else {
		char *b64 = base64(t->msg.body);

		cJSON_AddStringToObject(o, "body_base64", b64 ? b64 : "");
		free(b64);
	}
	return o;
}

/* The summary of a parked message, for list. */
static cJSON *summary_json(const struct zl_failure *f)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", f->id);
	cJSON_AddStringToObject(o, "type", f->type);
	cJSON_AddStringToObject(o, "subject", f->subject);
	cJSON_AddStringToObject(o, "queue", f->origin);
	cJSON_AddStringToObject(o, "routing_key", f->routing_key);
	cJSON_AddNumberToObject(o, "attempts", f->attempts);
	cJSON_AddStringToObject(o, "reason", f->reason);
	cJSON_AddStringToObject(o, "first_failure", f->first);
	cJSON_AddStringToObject(o, "last_failure", f->last);
	return o;
}

/* Prints a JSON value on one line. */
static void print_json_line(cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);

	if (s)
		printf("%s\n", s);
	free(s);
}

/* Moves t back: to its origin queue (parking), or to the exchange (unrouted). */
static int requeue_one(struct zl_mover *m, const struct zl_topology *names, const struct options *o,
                       const struct zl_taken *t, const struct zl_failure *f, struct zl_err *err)
{
	amqp_table_t h;
	int rc;

	if (!o->unrouted && !f->origin[0])
		return zl_err_set(err, ZL_EX_DATAERR, "message %s has no origin queue; left parked",
		                  f->id);
	/* Attempts reset: zaaklink's headers go, the broker's x-death stay. */
	h = retry_headers_without_ours(t, 0);
	if (!h.entries)
		return zl_err_set(err, ZL_EX_SOFTWARE, "could not requeue: out of memory");
	if (o->unrouted)
		rc = mover_publish(m, t, &h, names->exchange, t->routing_key, err);
	else
		rc = mover_publish(m, t, &h, names->requeue, f->origin, err);
	free(h.entries);
	if (rc < 0)
		return -1;
	return mover_ack(m, t, err);
}

/*
 * Walks the queue once: takes as many messages as it held at the start (a
 * requeued unrouted message that still matches no binding comes back to
 * the end of the queue and must not be taken again), acts on those that
 * match, and leaves every other one unacknowledged: closing the connection
 * at the end puts them back where they were.
 */
static int walk(struct zl_mover *m, const struct zl_topology *names, const char *queue,
                const struct options *o, struct tally *tl, struct zl_err *err)
{
	int64_t depth = mover_depth(m, queue, err);

	if (depth < 0)
		return -1;
	for (int64_t i = 0; i < depth; i++) {
		struct zl_taken t;
		struct zl_failure f;
		struct zl_err one = {0};
		int rc;

		if (o->limit > 0 && tl->matched >= o->limit)
			break;
		memset(&t, 0, sizeof(t));
		rc = mover_take(m, queue, &t, err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			break;
		tl->seen++;
		retry_read_failure(&t, &f);
		if (o->unrouted) {
			snprintf(f.origin, sizeof(f.origin), "%s", "");
			snprintf(f.routing_key, sizeof(f.routing_key), "%s", t.routing_key);
			snprintf(f.reason, sizeof(f.reason), "%s", "unrouted");
		}
		if (!matches(o, &f)) {
			mover_release(&t);
			continue;
		}
		tl->matched++;
		rc = 0;
		switch (o->action) {
		case LIST:
			if (o->json)
				cJSON_AddItemToArray(tl->list, summary_json(&f));
			else
				printf("%-36s  %-36s  %-36s  %-16s  %8d  %-14s  %-20s  %s\n", f.id,
				       f.type, f.subject[0] ? f.subject : "-",
				       f.origin[0] ? f.origin : "-", f.attempts,
				       f.reason[0] ? f.reason : "-", f.first[0] ? f.first : "-",
				       f.last[0] ? f.last : "-");
			break;
		case EXPORT: {
			cJSON *j = message_json(queue, &t);

			print_json_line(j);
			cJSON_Delete(j);
			break;
		}
		case REQUEUE:
			rc = requeue_one(m, names, o, &t, &f, &one);
			break;
		case PURGE:
			rc = mover_ack(m, &t, &one);
			break;
		}
		mover_release(&t);
		if (rc == 0) {
			tl->done++;
			continue;
		}
		tl->failed++;
		fprintf(stderr, "zaaklink: %s\n", one.msg);
		if (!mover_connected(m)) {
			*err = one;
			return -1;
		}
	}
	return 0;
}

int cmd_dlq(struct zl_conf *conf, int argc, char **argv)
{
	struct options o;
	struct tally tl = {0};
	struct zl_topology names;
	struct zl_mover *m;
	struct zl_err err = {0};
	const char *queue;
	int rc;

	if (parse(argc, argv, &o) < 0)
		return ZL_EX_USAGE;
	if (o.action == PURGE && !o.yes) {
		fprintf(stderr, "zaaklink: dlq purge deletes messages for good: add --yes to do it "
		                "(zaaklink dlq export keeps a copy first)\n");
		return ZL_EX_USAGE;
	}
	/* The output is the report; routine connection logs would only clutter it. */
	if (zl_log_get_level() < ZL_LOG_WARNING)
		zl_log_set_level(ZL_LOG_WARNING);
	retry_names(conf, &names);
	queue = o.unrouted ? names.unrouted : names.dlq;
	if (!(m = mover_new(conf)))
		return ZL_EX_SOFTWARE;
	if (o.action == LIST && o.json)
		tl.list = cJSON_CreateArray();
	else if (o.action == LIST)
		printf("%-36s  %-36s  %-36s  %-16s  %8s  %-14s  %-20s  %s\n", "ID", "TYPE",
		       "SUBJECT", "QUEUE", "ATTEMPTS", "REASON", "FIRST FAILURE", "LAST FAILURE");
	rc = walk(m, &names, queue, &o, &tl, &err);
	/* Unacknowledged messages go back to the queue, in their places. */
	mover_free(m);
	if (tl.list) {
		char *s = cJSON_Print(tl.list);

		if (s && rc == 0)
			printf("%s\n", s);
		free(s);
		cJSON_Delete(tl.list);
	}
	if (rc < 0)
		return app_fail(&err);
	switch (o.action) {
	case LIST:
		if (!o.json)
			printf("%ld message%s in %s\n", tl.matched, tl.matched == 1 ? "" : "s",
			       queue);
		break;
	case EXPORT:
		fprintf(stderr, "zaaklink: exported %ld message%s of %s\n", tl.matched,
		        tl.matched == 1 ? "" : "s", queue);
		break;
	case REQUEUE:
		printf("requeued %ld of %ld matching message%s from %s%s\n", tl.done, tl.matched,
		       tl.matched == 1 ? "" : "s", queue,
		       o.unrouted ? " to the exchange" : " to their origin queues");
		break;
	case PURGE:
		printf("purged %ld message%s from %s\n", tl.done, tl.done == 1 ? "" : "s", queue);
		break;
	}
	return tl.failed > 0 ? ZL_EX_TEMPFAIL : ZL_EX_OK;
}
