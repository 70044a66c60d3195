/* dlq: lists, exports, requeues and purges parked (or unrouted) messages for an operator. */
#include "app.h"
#include "broker.h"
#include "commands.h"
#include "dlq_export.h"
#include "log.h"
#include "mover.h"
#include "retry.h"
#include "topology.h"

#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
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
	long limit;        /* 0: no limit */
	struct zl_opt_list ids;
	const char *from; /* purge --from: an export file */
};

/*
 * The messages of an export file, for purge --from: each message_id as the
 * export wrote it (see zl_export_id_key), sorted, with how many exported
 * messages had it; each deletes at most one parked message.
 */
struct exported {
	char **keys;
	long *left;
	size_t n;
	long lines, no_id, remaining;
};

/* What a run over the queue did. */
struct tally {
	long seen, matched, done, failed;
	cJSON *list;          /* list --json */
	struct exported *exp; /* purge --from */
};

static int cmd_dlq(struct zl_conf *conf, const void *opts, int argc, char **argv);
static int check(void *opts, int argc, char **argv);

static const char *const synopsis[] = {
    "dlq list [--queue Q] [--type T] [--limit N] [--json] [--unrouted]",
    "dlq requeue (--id ID... | --all) [--queue Q] [--type T] [--limit N] [--unrouted]",
    "dlq purge (--id ID... | --all) --yes [--queue Q] [--type T] [--limit N] [--unrouted]",
    "dlq purge --from FILE --yes [--unrouted]",
    "dlq export [--queue Q] [--type T] [--limit N] [--id ID...] [--unrouted]",
    NULL};

/* In the order of enum action. */
static const struct zl_opt_sub subcommands[] = {
    {"list", "show the parked messages, leaving them parked"},
    {"export", "write them to stdout, one JSON object a line, leaving them parked"},
    {"requeue", "move them back into their origin queue (--unrouted: to the exchange)"},
    {"purge", "delete them for good"},
    {NULL, NULL}};

static const struct zl_option dlq_options[] = {
    ZL_OPT_STRING(0, "queue", "Q", struct options, queue, "only messages that failed in queue Q"),
    ZL_OPT_STRING(0, "type", "T", struct options, type, "only events of type T"),
    ZL_OPT_INT(0, "limit", "N", struct options, limit, 1, LONG_MAX, "at most N messages"),
    ZL_OPT_LIST(0, "id", "ID", struct options, ids, MAX_IDS,
                "only the messages with these ids (up to the next option)"),
    ZL_OPT_BOOL(0, "all", struct options, all, "requeue or purge every matching message"),
    ZL_OPT_STRING(0, "from", "FILE", struct options, from,
                  "purge exactly the messages of this export file"),
    ZL_OPT_BOOL(0, "yes", struct options, yes, "purge: yes, delete them for good"),
    ZL_OPT_BOOL(0, "json", struct options, json, "list: print a JSON array"),
    ZL_OPT_BOOL(0, "unrouted", struct options, unrouted,
                "the unrouted queue instead of the parking queue"),
    ZL_OPT_END(),
};

const struct zl_command zl_cmd_dlq = {
    .cli = {.name = "dlq",
            .synopsis = synopsis,
            .about = "list, export, requeue or purge parked (or unrouted) messages",
            .subcommands = subcommands,
            .options = dlq_options,
            .max_args = 1},
    .state = ZL_STATE_NONE,
    .opts_size = sizeof(struct options),
    .check = check,
    .run = cmd_dlq,
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "zaaklink: dlq: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	zl_opt_synopsis(&zl_cmd_dlq.cli, stderr);
	return ZL_EX_USAGE;
}

/* Takes the subcommand (argv[0]) and checks that the options fit it. */
static int check(void *opts, int argc, char **argv)
{
	struct options *o = opts;
	int i;

	if (argc < 1)
		return usage_error("%s", "missing subcommand (list, requeue, purge or export)");
	for (i = 0; subcommands[i].name && strcmp(argv[0], subcommands[i].name) != 0; i++)
		;
	if (!subcommands[i].name)
		return usage_error("unknown subcommand '%s'", argv[0]);
	o->action = (enum action)i;
	if (o->from && o->action != PURGE)
		return usage_error("%s", "--from is for purge");
	/* The file says what goes: a filter would only leave some of it unexplained. */
	if (o->from && (o->queue || o->type || o->limit > 0))
		return usage_error("%s", "--from takes no --queue, --type or --limit");
	if (o->action == REQUEUE && !o->all && o->ids.n == 0)
		return usage_error("%s needs --id ID... or --all", argv[0]);
	if (o->action == PURGE && !o->all && o->ids.n == 0 && !o->from)
		return usage_error("%s needs --id ID..., --all or --from FILE", argv[0]);
	if ((o->action == REQUEUE || o->action == PURGE) &&
	    (o->all ? 1 : 0) + (o->ids.n > 0 ? 1 : 0) + (o->from ? 1 : 0) > 1)
		return usage_error("%s takes one of --id, --all and --from", argv[0]);
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
	if (o->ids.n == 0)
		return true;
	for (int i = 0; i < o->ids.n; i++) {
		if (strcmp(o->ids.v[i], f->id) == 0)
			return true;
	}
	return false;
}

/* Adds s as a JSON string, bytes that are not UTF-8 as U+FFFD (list is a
 * summary: dlq export has the exact bytes). */
static void add_lossy(cJSON *o, const char *name, const char *s)
{
	char *text = zl_utf8_lossy(s);

	cJSON_AddStringToObject(o, name, text ? text : "");
	free(text);
}

/* The summary of a parked message, for list. */
static cJSON *summary_json(const struct zl_failure *f)
{
	cJSON *o = cJSON_CreateObject();

	add_lossy(o, "id", f->id);
	add_lossy(o, "type", f->type);
	add_lossy(o, "subject", f->subject);
	add_lossy(o, "queue", f->origin);
	add_lossy(o, "routing_key", f->routing_key);
	cJSON_AddNumberToObject(o, "attempts", f->attempts);
	add_lossy(o, "reason", f->reason);
	add_lossy(o, "first_failure", f->first);
	add_lossy(o, "last_failure", f->last);
	return o;
}

/* A field of a message for the terminal: escaped (see zl_text_escape), "-" when empty. */
static const char *shown(const char *s, char *buf, size_t size)
{
	return s[0] ? zl_text_escape(s, strlen(s), buf, size, true) : "-";
}

/* One line of list: every field comes from the message, so none may hold
 * a control character that would end the line or drive the terminal. */
static void print_summary(const struct zl_failure *f)
{
	char id[1100], type[1100], subject[1100], origin[1100], reason[140], first[140], last[140];

	printf("%-36s  %-36s  %-36s  %-16s  %8d  %-14s  %-20s  %s\n", shown(f->id, id, sizeof(id)),
	       shown(f->type, type, sizeof(type)), shown(f->subject, subject, sizeof(subject)),
	       shown(f->origin, origin, sizeof(origin)), f->attempts,
	       shown(f->reason, reason, sizeof(reason)), shown(f->first, first, sizeof(first)),
	       shown(f->last, last, sizeof(last)));
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void exported_free(struct exported *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->keys[i]);
	free(e->keys);
	free(e->left);
	memset(e, 0, sizeof(*e));
}

/* Appends key (taken over) to e->keys; false without memory. */
static bool exported_add(struct exported *e, char *key, size_t *cap)
{
	if (e->n == *cap) {
		size_t n = *cap ? *cap * 2 : 256;
		char **keys = realloc(e->keys, n * sizeof(*keys));

		if (!keys) {
			free(key);
			return false;
		}
		e->keys = keys;
		*cap = n;
	}
	e->keys[e->n++] = key;
	return true;
}

/* Sorts the keys and folds equal ones into one with a count. */
static bool exported_index(struct exported *e)
{
	size_t u = 0;

	e->left = calloc(e->n ? e->n : 1, sizeof(*e->left));
	if (!e->left)
		return false;
	if (e->n)
		qsort(e->keys, e->n, sizeof(*e->keys), key_cmp);
	for (size_t i = 0; i < e->n; i++) {
		if (u > 0 && strcmp(e->keys[u - 1], e->keys[i]) == 0) {
			free(e->keys[i]);
			e->left[u - 1]++;
			continue;
		}
		e->keys[u] = e->keys[i];
		e->left[u++] = 1;
	}
	e->n = u;
	return true;
}

/*
 * Reads an export file for purge --from. Every line (blank ones aside)
 * must be an export of format 2 of queue, or nothing is deleted: a file
 * that is not what the operator thinks it is must not decide what goes.
 */
static int exported_load(const char *path, const char *queue, struct exported *e,
                         struct zl_err *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, why[256];
	size_t cap = 0, keys_cap = 0;
	ssize_t n;
	long lineno = 0;

	memset(e, 0, sizeof(*e));
	if (!f)
		return zl_err_set(err, ZL_EX_NOINPUT, "cannot open %s: %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *key;
		int rc;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		rc = zl_export_line_id(line, (size_t)n, queue, &key, why, sizeof(why));
		if (rc < 0) {
			zl_err_set(err, ZL_EX_DATAERR, "%s:%ld: %s; nothing deleted", path, lineno,
			           why);
			goto fail;
		}
		e->lines++;
		if (rc == 0) {
			e->no_id++;
		} else if (!exported_add(e, key, &keys_cap)) {
			zl_err_set(err, ZL_EX_SOFTWARE, "%s: out of memory", path);
			goto fail;
		}
	}
	if (ferror(f)) {
		zl_err_set(err, ZL_EX_IOERR, "cannot read %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!exported_index(e)) {
		zl_err_set(err, ZL_EX_SOFTWARE, "%s: out of memory", path);
		goto fail;
	}
	e->remaining = e->lines - e->no_id;
	free(line);
	fclose(f);
	return 0;
fail:
	free(line);
	fclose(f);
	exported_free(e);
	return -1;
}

/* True when t is one of the exported messages not yet matched, which it
 * then uses up: each exported message stands for one parked message. */
static bool exported_take(struct exported *e, const struct zl_taken *t)
{
	const amqp_basic_properties_t *p = &t->msg.properties;
	char *key, **hit;

	if (!(p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG))
		return false;
	if (!(key = zl_export_id_key(p->message_id.bytes, p->message_id.len)))
		return false;
	hit = e->n ? bsearch(&key, e->keys, e->n, sizeof(*e->keys), key_cmp) : NULL;
	free(key);
	if (!hit || e->left[hit - e->keys] == 0)
		return false;
	e->left[hit - e->keys]--;
	e->remaining--;
	return true;
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

	if (!o->unrouted && !f->origin[0]) {
		char id[sizeof(f->id) * 4 + 8];

		return zl_err_set(err, ZL_EX_DATAERR,
		                  "message '%s' has no origin queue; left parked",
		                  zl_log_quote(f->id, id, sizeof(id)));
	}
	/* Attempts reset: the controller's headers go; the broker's x-death
	 * and the publisher's zaaklink-seq stay. */
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
		char text[sizeof(one.msg)];
		int rc;

		if (o->limit > 0 && tl->matched >= o->limit)
			break;
		if (tl->exp && tl->exp->remaining == 0)
			break; /* every exported message is accounted for */
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
		if (!matches(o, &f) || (tl->exp && !exported_take(tl->exp, &t))) {
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
				print_summary(&f);
			break;
		case EXPORT: {
			amqp_bytes_t key = {t.routing_key_len, t.routing_key};
			cJSON *j = zl_export_message(queue, t.exchange, key, &t.msg);

			if (!j) {
				rc = zl_err_set(&one, ZL_EX_SOFTWARE,
				                "could not export: out of memory");
				break;
			}
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
		/* The message may name a queue or key taken from the message. */
		zl_text_escape(one.msg, strlen(one.msg), text, sizeof(text), false);
		fprintf(stderr, "zaaklink: %s\n", text);
		if (!mover_connected(m)) {
			*err = one;
			snprintf(err->msg, sizeof(err->msg), "%s", text);
			return -1;
		}
	}
	return 0;
}

/* The report of purge --from: what was deleted, and what could not be. */
static void report_purge_from(const struct exported *e, const struct tally *tl, const char *queue)
{
	long gone = e->remaining; /* the whole queue was read: these were not in it */

	printf("purged %ld of %ld exported message%s from %s\n", tl->done, e->lines,
	       e->lines == 1 ? "" : "s", queue);
	if (e->no_id > 0)
		fprintf(stderr,
		        "zaaklink: %ld exported message%s no message_id and cannot be matched; "
		        "left in %s\n",
		        e->no_id, e->no_id == 1 ? " has" : "s have", queue);
	if (gone > 0)
		fprintf(
		    stderr,
		    "zaaklink: %ld exported message%s not in %s any more (moved or deleted since "
		    "the export)\n",
		    gone, gone == 1 ? " was" : "s were", queue);
}

static int cmd_dlq(struct zl_conf *conf, const void *opts, int argc, char **argv)
{
	const struct options o = *(const struct options *)opts;
	struct tally tl = {0};
	struct exported exp = {0};
	struct zl_topology names;
	struct zl_mover *m;
	struct zl_err err = {0};
	const char *queue;
	int rc;

	(void)argc, (void)argv;
	if (o.action == PURGE && !o.yes) {
		fprintf(stderr, "zaaklink: dlq purge deletes messages for good: add --yes to do it "
		                "(zaaklink dlq export keeps a copy first)\n");
		return ZL_EX_USAGE;
	}
	topology_names(conf, &names);
	queue = o.unrouted ? names.unrouted : names.dlq;
	/* The whole file is read before anything is deleted. */
	if (o.from) {
		if (exported_load(o.from, queue, &exp, &err) < 0)
			return app_fail(&err);
		tl.exp = &exp;
	}
	/* The output is the report; routine connection logs would only clutter it. */
	if (zl_log_get_level() < ZL_LOG_WARNING)
		zl_log_set_level(ZL_LOG_WARNING);
	if (!(m = mover_new(conf, &err))) {
		exported_free(&exp);
		return app_fail(&err);
	}
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
	if (rc < 0) {
		exported_free(&exp);
		return app_fail(&err);
	}
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
		if (o.from)
			report_purge_from(&exp, &tl, queue);
		else
			printf("purged %ld message%s from %s\n", tl.done, tl.done == 1 ? "" : "s",
			       queue);
		break;
	}
	exported_free(&exp);
	return tl.failed > 0 ? ZL_EX_TEMPFAIL : ZL_EX_OK;
}
