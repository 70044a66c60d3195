/* Retry: the retry policy, the reader of a failed message's headers, and the controller. */
#include "retry.h"
#include "broker.h"
#include "log.h"
#include "topology.h"
#include "outage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct zl_retry_decision retry_decide(const struct zl_retry_conf *rc, int64_t attempts_before,
                                      const char *reason, bool origin_known)
{
	struct zl_retry_decision d = {.tier = -1, .reason = reason};
	int64_t before = attempts_before;
	int n_delays = rc->n_delays < 0 ? 0 : rc->n_delays;

	if (n_delays > ZL_MAX_RETRY_DELAYS)
		n_delays = ZL_MAX_RETRY_DELAYS;
	if (before < 0)
		before = 0;
	if (before > ZL_RETRY_MAX_ATTEMPTS)
		before = ZL_RETRY_MAX_ATTEMPTS;
	d.attempts = (int)before + 1;
	if (attempts_before < 0 || attempts_before > ZL_RETRY_MAX_ATTEMPTS) {
		d.reason = "bad_header";
		d.why = "attempts header out of range";
	} else if (!origin_known)
		d.why = "unknown origin queue";
	else if (strcmp(reason, "delivery_limit") == 0)
		d.why = "delivery limit reached";
	else if (d.attempts > n_delays)
		d.why = n_delays == 0 ? "no retry tiers" : "last tier passed";
	else {
		d.tier = d.attempts - 1;
		d.why = "retry";
	}
	return d;
}

/* ---------------------------------------------------------- headers ---- */

/* True when the table key equals name. */
static bool key_is(amqp_bytes_t key, const char *name)
{
	return key.len == strlen(name) && memcmp(key.bytes, name, key.len) == 0;
}

/* The entry called name in t, or NULL. */
static const amqp_field_value_t *field(const amqp_table_t *t, const char *name)
{
	for (int i = 0; t && i < t->num_entries; i++) {
		if (key_is(t->entries[i].key, name))
			return &t->entries[i].value;
	}
	return NULL;
}

/* Copies a string field into buf ("" when absent or not a string). */
static void field_string(const amqp_field_value_t *v, char *buf, size_t size)
{
	buf[0] = '\0';
	if (v && (v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES))
		snprintf(buf, size, "%.*s", (int)v->value.bytes.len,
		         (const char *)v->value.bytes.bytes);
}

/*
 * An integer field of any width into *out: 1 when it is one, 0 when absent,
 * -1 when it is some other kind. A U64 beyond INT64_MAX reads as INT64_MAX.
 */
static int field_int(const amqp_field_value_t *v, int64_t *out)
{
	*out = 0;
	if (!v)
		return 0;
	switch (v->kind) {
	case AMQP_FIELD_KIND_I8:
		*out = v->value.i8;
		return 1;
	case AMQP_FIELD_KIND_U8:
		*out = v->value.u8;
		return 1;
	case AMQP_FIELD_KIND_I16:
		*out = v->value.i16;
		return 1;
	case AMQP_FIELD_KIND_U16:
		*out = v->value.u16;
		return 1;
	case AMQP_FIELD_KIND_I32:
		*out = v->value.i32;
		return 1;
	case AMQP_FIELD_KIND_U32:
		*out = v->value.u32;
		return 1;
	case AMQP_FIELD_KIND_I64:
		*out = v->value.i64;
		return 1;
	case AMQP_FIELD_KIND_U64:
		*out = v->value.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v->value.u64;
		return 1;
	default:
		return -1;
	}
}

/*
 * True for the headers the controller owns: the six it writes on every
 * move, and the detail a consumer's park adds (consumer.h), which would
 * be stale after a move. Other zaaklink- headers are not its own: the publisher's
 * zaaklink-seq passes through every move unchanged, so a consumer can tell
 * a redelivered event from a newer one.
 */
static bool ours(amqp_bytes_t key)
{
	static const char *const own[] = {ZL_H_ATTEMPTS,      ZL_H_ORIGIN,       ZL_H_ROUTING_KEY,
	                                  ZL_H_FIRST_FAILURE, ZL_H_LAST_FAILURE, ZL_H_LAST_REASON,
	                                  ZL_H_LAST_ERROR};

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		if (key_is(key, own[i]))
			return true;
	}
	return false;
}

/* The headers of a taken message, NULL when it has none. */
static const amqp_table_t *headers_of(const struct zl_taken *t)
{
	const amqp_basic_properties_t *p = &t->msg.properties;

	return (p->_flags & AMQP_BASIC_HEADERS_FLAG) ? &p->headers : NULL;
}

/*
 * The latest death of a message: the first x-death entry (RabbitMQ keeps
 * them most recent first), with its reason, its queue and the first
 * routing key the message had when it entered that queue.
 */
static void latest_death(const amqp_table_t *h, struct zl_failure *f)
{
	const amqp_field_value_t *death = field(h, "x-death");
	const amqp_table_t *d;
	const amqp_field_value_t *keys;

	if (!death || death->kind != AMQP_FIELD_KIND_ARRAY || death->value.array.num_entries < 1 ||
	    death->value.array.entries[0].kind != AMQP_FIELD_KIND_TABLE)
		return;
	d = &death->value.array.entries[0].value.table;
	field_string(field(d, "reason"), f->reason, sizeof(f->reason));
	if (!f->origin[0])
		field_string(field(d, "queue"), f->origin, sizeof(f->origin));
	keys = field(d, "routing-keys");
	if (!f->routing_key[0] && keys && keys->kind == AMQP_FIELD_KIND_ARRAY &&
	    keys->value.array.num_entries > 0)
		field_string(&keys->value.array.entries[0], f->routing_key, sizeof(f->routing_key));
}

void retry_read_failure(const struct zl_taken *t, struct zl_failure *f)
{
	const amqp_basic_properties_t *p = &t->msg.properties;
	const amqp_table_t *h = headers_of(t);
	int64_t attempts;
	int kind;

	memset(f, 0, sizeof(*f));
	if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
		snprintf(f->id, sizeof(f->id), "%.*s", (int)p->message_id.len,
		         (const char *)p->message_id.bytes);
	if (p->_flags & AMQP_BASIC_TYPE_FLAG)
		snprintf(f->type, sizeof(f->type), "%.*s", (int)p->type.len,
		         (const char *)p->type.bytes);
	if (!f->type[0])
		field_string(field(h, "cloudEvents_type"), f->type, sizeof(f->type));
	field_string(field(h, "cloudEvents_subject"), f->subject, sizeof(f->subject));
	field_string(field(h, ZL_H_ORIGIN), f->origin, sizeof(f->origin));
	field_string(field(h, ZL_H_ROUTING_KEY), f->routing_key, sizeof(f->routing_key));
	field_string(field(h, ZL_H_FIRST_FAILURE), f->first, sizeof(f->first));
	field_string(field(h, ZL_H_LAST_FAILURE), f->last, sizeof(f->last));
	field_string(field(h, ZL_H_LAST_REASON), f->reason, sizeof(f->reason));
	kind = field_int(field(h, ZL_H_ATTEMPTS), &attempts);
	f->bad_attempts = kind < 0 || attempts < 0 || attempts > ZL_RETRY_MAX_ATTEMPTS;
	if (attempts < 0)
		attempts = 0;
	f->attempts = attempts > ZL_RETRY_MAX_ATTEMPTS ? ZL_RETRY_MAX_ATTEMPTS : (int)attempts;
	if (!f->reason[0])
		latest_death(h, f);
}

amqp_table_t retry_headers_without_ours(const struct zl_taken *t, int extra)
{
	const amqp_basic_properties_t *p = &t->msg.properties;
	int n = (p->_flags & AMQP_BASIC_HEADERS_FLAG) ? p->headers.num_entries : 0;
	amqp_table_t out = {0, NULL};

	out.entries = calloc((size_t)(n + extra + 1), sizeof(amqp_table_entry_t));
	if (!out.entries)
		return out;
	for (int i = 0; i < n; i++) {
		if (!ours(p->headers.entries[i].key))
			out.entries[out.num_entries++] = p->headers.entries[i];
	}
	return out;
}

/* Bytes of a short string property when p has it: its length byte and the text. */
static size_t shortstr_size(const amqp_basic_properties_t *p, amqp_flags_t flag, amqp_bytes_t b)
{
	return (p->_flags & flag) ? 1 + b.len : 0;
}

/* The encoded size of table h (its four length bytes included) when it fits
 * buf of limit bytes, SIZE_MAX otherwise or when it cannot be encoded. */
static size_t table_size(const amqp_table_t *h, void *buf, size_t limit)
{
	amqp_bytes_t enc = {limit, buf};
	size_t off = 0;

	if (amqp_encode_table(enc, (amqp_table_t *)h, &off) != AMQP_STATUS_OK)
		return SIZE_MAX;
	return off;
}

size_t retry_header_frame_size(const amqp_basic_properties_t *p, const amqp_table_t *h,
                               size_t limit)
{
	/* Frame header 7, class 2, weight 2, body size 8, flags 2, frame end 1. */
	size_t n = 7 + 2 + 2 + 8 + 2 + 1, th;
	void *buf;

	n += shortstr_size(p, AMQP_BASIC_CONTENT_TYPE_FLAG, p->content_type);
	n += shortstr_size(p, AMQP_BASIC_CONTENT_ENCODING_FLAG, p->content_encoding);
	n += (p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG) ? 1 : 0;
	n += (p->_flags & AMQP_BASIC_PRIORITY_FLAG) ? 1 : 0;
	n += shortstr_size(p, AMQP_BASIC_CORRELATION_ID_FLAG, p->correlation_id);
	n += shortstr_size(p, AMQP_BASIC_REPLY_TO_FLAG, p->reply_to);
	n += shortstr_size(p, AMQP_BASIC_EXPIRATION_FLAG, p->expiration);
	n += shortstr_size(p, AMQP_BASIC_MESSAGE_ID_FLAG, p->message_id);
	n += (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG) ? 8 : 0;
	n += shortstr_size(p, AMQP_BASIC_TYPE_FLAG, p->type);
	n += shortstr_size(p, AMQP_BASIC_USER_ID_FLAG, p->user_id);
	n += shortstr_size(p, AMQP_BASIC_APP_ID_FLAG, p->app_id);
	n += shortstr_size(p, AMQP_BASIC_CLUSTER_ID_FLAG, p->cluster_id);
	if (!(buf = malloc(limit ? limit : 1)))
		return SIZE_MAX;
	th = table_size(h, buf, limit);
	free(buf);
	return th == SIZE_MAX ? SIZE_MAX : n + th;
}

/* An entry of a table and its encoded size, for retry_fit_headers. */
struct sized_entry {
	int index;
	size_t size; /* SIZE_MAX: cannot be encoded within a frame */
};

/* Largest first; equal sizes: the later entry first. */
static int larger_first(const void *a, const void *b)
{
	const struct sized_entry *x = a, *y = b;

	if (x->size != y->size)
		return x->size < y->size ? 1 : -1;
	return y->index - x->index;
}

int retry_fit_headers(const amqp_basic_properties_t *p, amqp_table_t *h, int keep, size_t frame_max)
{
	int n = h->num_entries - keep, out = 0, dropped = 0;
	amqp_table_t mine;
	struct sized_entry *e;
	bool *drop;
	size_t total;
	void *buf;

	if (keep < 0 || n < 0)
		return -1;
	if (retry_header_frame_size(p, h, frame_max) <= frame_max)
		return 0;
	mine.num_entries = keep;
	mine.entries = h->entries + n;
	total = retry_header_frame_size(p, &mine, frame_max);
	if (total > frame_max)
		return -1;
	buf = malloc(frame_max ? frame_max : 1);
	e = calloc((size_t)n + 1, sizeof(*e));
	drop = calloc((size_t)n + 1, sizeof(*drop));
	if (!buf || !e || !drop) {
		free(buf);
		free(e);
		free(drop);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		amqp_table_t one = {1, &h->entries[i]};
		size_t s = table_size(&one, buf, frame_max);

		e[i].index = i;
		e[i].size = s == SIZE_MAX ? SIZE_MAX : s - 4;
		total =
		    (s == SIZE_MAX || total > SIZE_MAX - e[i].size) ? SIZE_MAX : total + e[i].size;
	}
	free(buf);
	qsort(e, (size_t)n, sizeof(*e), larger_first);
	for (int i = 0; i < n && total > frame_max; i++) {
		drop[e[i].index] = true;
		dropped++;
		if (e[i].size == SIZE_MAX) {
			/* Adds up what is left: the entries after this one, smaller or equal. */
			total = retry_header_frame_size(p, &mine, frame_max);
			for (int k = i + 1; k < n; k++) {
				if (e[k].size == SIZE_MAX || total > SIZE_MAX - e[k].size)
					total = SIZE_MAX;
				else
					total += e[k].size;
			}
		} else {
			total -= e[i].size;
		}
	}
	for (int i = 0; i < n + keep; i++) {
		if (i >= n || !drop[i])
			h->entries[out++] = h->entries[i];
	}
	h->num_entries = out;
	free(e);
	free(drop);
	return dropped;
}

/* -------------------------------------------------------- controller ---- */

struct zl_retry {
	const struct zl_conf *conf; /* borrowed */
	struct zl_topology names;
	struct zl_mover *mover;
	bool declared;                      /* topology declared on this connection */
	struct zl_outage outage;            /* of the broker, for backoff and the log */
	int64_t next_try_ms;                /* monotonic */
	int64_t moves[ZL_MAX_RETRY_DELAYS]; /* per wait tier */
	int64_t parked;
	/* The message that could not be moved last time, by its content (a
	 * reconnect gives it a new delivery tag), and how often in a row. */
	uint64_t stuck;
	int stuck_tries;
	char *origins[ZL_RETRY_MAX_ORIGINS]; /* retry_add_origin() */
	int n_origins;
};

struct zl_retry *retry_new(const struct zl_conf *conf, struct zl_err *err)
{
	struct zl_retry *r = calloc(1, sizeof(*r));

	if (!r) {
		zl_err_set(err, ZL_EX_SOFTWARE,
		           "out of memory while creating the retry controller");
		return NULL;
	}
	r->conf = conf;
	topology_names(conf, &r->names);
	if (!(r->mover = mover_new(conf, err))) {
		free(r);
		return NULL;
	}
	/* The queue `zaaklink deliver` consumes is a consumer queue too. */
	if (conf->deliver.url && retry_add_origin(r, conf->deliver.queue, err) < 0) {
		retry_free(r);
		return NULL;
	}
	return r;
}

void retry_free(struct zl_retry *r)
{
	if (!r)
		return;
	mover_free(r->mover);
	for (int i = 0; i < r->n_origins; i++)
		free(r->origins[i]);
	free(r);
}

int64_t retry_moves(const struct zl_retry *r, int tier)
{
	if (tier < 0)
		return r->parked;
	return tier < ZL_MAX_RETRY_DELAYS ? r->moves[tier] : 0;
}

static const struct zl_outage_events retry_events = {
    .unavailable = "retry.unavailable",
    .recovered = "retry.recovered",
    .reconnect_failed = "retry.reconnect_failed",
};

/* An outage is logged once when it starts and once when it ends; retries back off. */
static void retry_failed(struct zl_retry *r, const struct zl_err *err)
{
	r->outage.events = &retry_events; /* retry_new() zeroed it */
	outage_fail(&r->outage, zl_now_ms(), r->conf->amqp.max_backoff, 0, mover_node(r->mover),
	            err);
	r->next_try_ms = r->outage.next_try_ms;
	mover_disconnect(r->mover);
	r->declared = false;
}

static void retry_ok(struct zl_retry *r)
{
	r->outage.events = &retry_events;
	outage_ok(&r->outage, zl_now_ms(), mover_node(r->mover));
}

/* True when name is a consumer queue: in amqp.queues or added (retry_add_origin). */
static bool known_queue(const struct zl_retry *r, const char *name)
{
	for (int i = 0; i < r->conf->amqp.n_queues; i++) {
		if (strcmp(r->conf->amqp.queues[i].name, name) == 0)
			return true;
	}
	for (int i = 0; i < r->n_origins; i++) {
		if (strcmp(r->origins[i], name) == 0)
			return true;
	}
	return false;
}

int retry_add_origin(struct zl_retry *r, const char *queue, struct zl_err *err)
{
	if (known_queue(r, queue))
		return 0;
	if (r->n_origins >= ZL_RETRY_MAX_ORIGINS)
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "could not add queue %s to the retry controller: more than %d",
		                  queue, ZL_RETRY_MAX_ORIGINS);
	if (!(r->origins[r->n_origins] = strdup(queue)))
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while adding queue %s to the retry controller",
		                  queue);
	r->n_origins++;
	return 0;
}

/* Declares the whole topology, the added queues included. */
static int declare_all(struct zl_retry *r, struct zl_err *err)
{
	if (mover_declare(r->mover, NULL, err) < 0)
		return -1;
	for (int i = 0; i < r->n_origins; i++) {
		if (mover_declare_consumer(r->mover, r->origins[i], NULL, err) < 0)
			return -1;
	}
	return 0;
}

/* FNV-1a over n bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *b = data;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * What identifies a message across reconnects, which requeue it with a new
 * delivery tag: its message_id, timestamp, routing key and body, and the
 * names and string and integer values of its headers (x-death and other
 * nested tables by name only).
 */
static uint64_t message_hash(const struct zl_taken *t)
{
	const amqp_basic_properties_t *p = &t->msg.properties;
	const amqp_table_t *h = headers_of(t);
	uint64_t x = 0xcbf29ce484222325ULL;

	if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
		x = fnv(x, p->message_id.bytes, p->message_id.len);
	if (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG)
		x = fnv(x, &p->timestamp, sizeof(p->timestamp));
	x = fnv(x, t->routing_key, strlen(t->routing_key) + 1);
	x = fnv(x, t->msg.body.bytes, t->msg.body.len);
	for (int i = 0; h && i < h->num_entries; i++) {
		const amqp_field_value_t *v = &h->entries[i].value;
		int64_t n;

		x = fnv(x, h->entries[i].key.bytes, h->entries[i].key.len);
		x = fnv(x, &v->kind, sizeof(v->kind));
		if (v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES)
			x = fnv(x, v->value.bytes.bytes, v->value.bytes.len);
		else if (field_int(v, &n) > 0)
			x = fnv(x, &n, sizeof(n));
	}
	return x;
}

/*
 * Moves one taken message to its wait tier or to the parking queue; with
 * unmovable (why it could not be moved before), to the parking queue.
 */
static int move_failed(struct zl_retry *r, struct zl_taken *t, const char *unmovable,
                       struct zl_err *err)
{
	struct zl_failure f;
	struct zl_retry_decision d;
	amqp_table_t h;
	char now[21], why[128];
	char qid[1024], qtype[1024], qqueue[1024], qreason[128];
	const char *x, *key;
	size_t frame_max = mover_frame_max(r->mover);
	int rc, dropped = 0;

	retry_read_failure(t, &f);
	/*
	 * This failure: the queue dead-letters with its own name as the key,
	 * so the key the message arrived with names the queue it failed in,
	 * and its latest x-death says why.
	 */
	if (t->routing_key[0])
		snprintf(f.origin, sizeof(f.origin), "%s", t->routing_key);
	f.reason[0] = '\0';
	latest_death(headers_of(t), &f);
	if (!f.routing_key[0])
		snprintf(f.routing_key, sizeof(f.routing_key), "%s", f.type);
	if (!f.reason[0])
		snprintf(f.reason, sizeof(f.reason), "unknown");
	d = retry_decide(&r->conf->retry, f.bad_attempts ? -1 : f.attempts, f.reason,
	                 known_queue(r, f.origin));
	snprintf(why, sizeof(why), "%s", d.why);
	if (unmovable) {
		d.tier = -1;
		d.reason = "unmovable";
		snprintf(why, sizeof(why), "%s", unmovable);
		/* RabbitMQ takes a user_id only from its own user (or an
		 * impersonator) and closes the channel otherwise: parked without. */
		t->msg.properties._flags &= (amqp_flags_t)~AMQP_BASIC_USER_ID_FLAG;
	}
	/* Never trust an index derived from a message. */
	if (d.tier >= r->names.n_wait || d.tier >= ZL_MAX_RETRY_DELAYS)
		d.tier = -1;
	zl_format_utc(zl_wall_s(), now);
	h = retry_headers_without_ours(t, 6);
	if (!h.entries)
		return zl_err_set(err, ZL_EX_SOFTWARE, "could not move a message: out of memory");
	broker_long_entry(&h.entries[h.num_entries++], ZL_H_ATTEMPTS, d.attempts);
	broker_string_entry(&h.entries[h.num_entries++], ZL_H_ORIGIN, f.origin);
	broker_string_entry(&h.entries[h.num_entries++], ZL_H_ROUTING_KEY, f.routing_key);
	broker_string_entry(&h.entries[h.num_entries++], ZL_H_FIRST_FAILURE,
	                    f.first[0] ? f.first : now);
	broker_string_entry(&h.entries[h.num_entries++], ZL_H_LAST_FAILURE, now);
	broker_string_entry(&h.entries[h.num_entries++], ZL_H_LAST_REASON, d.reason);
	if (d.tier >= 0 && retry_header_frame_size(&t->msg.properties, &h, frame_max) > frame_max) {
		d.tier = -1;
		d.reason = "unmovable";
		snprintf(why, sizeof(why), "headers too big for a frame of %zu bytes", frame_max);
		broker_string_entry(&h.entries[h.num_entries - 1], ZL_H_LAST_REASON, d.reason);
	}
	if (d.tier < 0) {
		/* Parked with the headers that fit, zaaklink's own always. */
		dropped = retry_fit_headers(&t->msg.properties, &h, 6, frame_max);
		if (dropped < 0) {
			free(h.entries);
			return zl_err_set(err, ZL_EX_DATAERR,
			                  "the message does not fit a frame of %zu bytes even "
			                  "without its headers",
			                  frame_max);
		}
		x = "";
		key = r->names.dlq;
	} else {
		x = r->names.wait[d.tier];
		key = f.origin; /* kept by the TTL dead-lettering: back to exactly this queue */
	}
	rc = mover_publish(r->mover, t, &h, x, key, err);
	free(h.entries);
	if (rc < 0)
		return -1;
	if (mover_ack(r->mover, t, err) < 0)
		return -1;
	zl_log_quote(f.id, qid, sizeof(qid));
	zl_log_quote(f.origin[0] ? f.origin : "-", qqueue, sizeof(qqueue));
	zl_log_quote(d.reason, qreason, sizeof(qreason));
	if (d.tier >= 0)
		zl_debug("retry.scheduled",
		         "id=\"%s\" queue=\"%s\" attempt=%d delay=%d reason=\"%s\"", qid, qqueue,
		         d.attempts, r->conf->retry.delays[d.tier], qreason);
	else
		zl_warn("retry.parked",
		        "id=\"%s\" type=\"%s\" queue=\"%s\" attempts=%d reason=\"%s\" why=\"%s\" "
		        "dropped_headers=%d",
		        qid, zl_log_quote(f.type, qtype, sizeof(qtype)), qqueue, d.attempts,
		        qreason, why, dropped);
	if (d.tier >= 0)
		r->moves[d.tier]++;
	else
		r->parked++;
	return 0;
}

/*
 * Counts a failure to move t; a message that failed ZL_RETRY_MOVE_TRIES
 * times in a row is parked when it comes next.
 */
static void move_not_done(struct zl_retry *r, uint64_t hash, const struct zl_taken *t,
                          const struct zl_err *err)
{
	const amqp_basic_properties_t *p = &t->msg.properties;
	struct zl_err e2 = {0};
	char id[256] = "", qid[1024];

	if (r->stuck != hash || r->stuck_tries == 0) {
		r->stuck = hash;
		r->stuck_tries = 0;
	}
	r->stuck_tries++;
	if (!mover_connected(r->mover) || r->stuck_tries > ZL_RETRY_MOVE_TRIES) {
		/* The connection went with it, or not even the parking queue
		 * takes it: an outage, with backoff; the broker requeues it. */
		retry_failed(r, err);
		return;
	}
	/* The message's own failure: the connection is fine, the message
	 * goes back to the head of the queue and is tried again shortly. */
	if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
		snprintf(id, sizeof(id), "%.*s", (int)p->message_id.len,
		         (const char *)p->message_id.bytes);
	zl_warn("retry.move_failed", "id=\"%s\" try=%d of=%d error=\"%s\"",
	        zl_log_quote(id, qid, sizeof(qid)), r->stuck_tries, ZL_RETRY_MOVE_TRIES, err->msg);
	if (mover_requeue(r->mover, t, &e2) < 0) {
		retry_failed(r, &e2);
		return;
	}
	r->next_try_ms = zl_now_ms() + 1000;
}

void retry_step(struct zl_retry *r, int budget_ms)
{
	int64_t deadline = zl_now_ms() + budget_ms;
	struct zl_err err = {0};

	if (zl_now_ms() < r->next_try_ms)
		return;
	if (!mover_connected(r->mover)) {
		if (mover_connect(r->mover, &err) < 0) {
			retry_failed(r, &err);
			return;
		}
	}
	if (!r->declared) {
		if (declare_all(r, &err) < 0) {
			/* The broker closed the channel: start over after a backoff. */
			retry_failed(r, &err);
			return;
		}
		r->declared = true;
		/* Once, not at every reconnect of an outage (retry.recovered ends it). */
		zl_log(r->outage.failures == 0 ? ZL_LOG_INFO : ZL_LOG_DEBUG, "retry.ready",
		       "node=%s queue=%s tiers=%d parking=%s", mover_node(r->mover), r->names.retry,
		       r->names.n_wait, r->names.dlq);
	}
	do {
		struct zl_taken t;
		char why[64];
		uint64_t hash;
		bool stuck;
		int rc;

		memset(&t, 0, sizeof(t));
		rc = mover_take(r->mover, r->names.retry, &t, &err);
		if (rc == 0) {
			retry_ok(r);
			break;
		}
		if (rc < 0) {
			retry_failed(r, &err);
			return;
		}
		hash = message_hash(&t);
		stuck = r->stuck_tries >= ZL_RETRY_MOVE_TRIES && r->stuck == hash;
		snprintf(why, sizeof(why), "could not be moved %d times", r->stuck_tries);
		rc = move_failed(r, &t, stuck ? why : NULL, &err);
		if (rc < 0) {
			/* Unacked, the message stays in X.retry (a reconnect requeues it). */
			move_not_done(r, hash, &t, &err);
			mover_release(&t);
			return;
		}
		mover_release(&t);
		r->stuck_tries = 0;
		retry_ok(r);
		amqp_maybe_release_buffers(mover_conn(r->mover));
	} while (zl_now_ms() < deadline);
}
