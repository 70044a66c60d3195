/* status: what zaaklink knows and owes, for people and (--json) for scripts. */
#include "app.h"
#include "commands.h"
#include "log.h"
#include "metrics.h"
#include "mover.h"
#include "topology.h"

#include <cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct status_opts {
	bool json;      /* one JSON object instead of the text */
	bool no_broker; /* leave RabbitMQ alone */
};

static int cmd_status(struct zl_conf *conf, const void *opts, int argc, char **argv);

static const struct zl_option status_options[] = {
    ZL_OPT_BOOL(0, "json", struct status_opts, json, "print one JSON object, for scripts"),
    ZL_OPT_BOOL(0, "no-broker", struct status_opts, no_broker,
                "do not contact RabbitMQ (no queue depths)"),
    ZL_OPT_END(),
};

const struct zl_command zl_cmd_status = {
    .cli = {.name = "status",
            .about = "checkpoint, links, pending events, queue depths",
            .options = status_options},
    .state = ZL_STATE_READ,
    .opts_size = sizeof(struct status_opts),
    .run = cmd_status,
};

/* One queue of zaaklink's topology and how many messages it holds. */
struct depth {
	char name[288];
	const char *role; /* consumer, retry, wait, parking, unrouted */
	int64_t messages; /* -1 unknown */
	char error[256];
};

#define MAX_DEPTHS (ZL_MAX_QUEUES + ZL_MAX_RETRY_DELAYS + 4) /* + deliver.queue */

struct status {
	bool have_state;
	struct zl_checkpoint cp;
	bool have_checkpoint;
	struct zl_store_counts counts;
	char *node;       /* masked broker URL */
	int64_t unrouted; /* -1 unknown */
	char unrouted_error[sizeof(
	    ((struct zl_err *)0)->msg)]; /* the broker answered, but not that */
	char broker_error[sizeof(((struct zl_err *)0)->msg)];
	struct depth depths[MAX_DEPTHS];
	int n_depths;
	int64_t now_ms;      /* wall clock of the report */
	int64_t pass_age_ms; /* since the last pass ended; -1 none */
	bool healthy;        /* by the rule of /healthz (metrics.h) */
	char health_reason[1024];
	struct zl_leader_info leader; /* PostgreSQL state: who is active */
	bool leader_here;             /* the active instance runs on this host */
};

/*
 * The active instance is this host's when the holder it recorded names
 * this host and a process with its pid runs here: then this host's
 * zaaklink is the active one, else (if it runs) a standby.
 */
static bool holder_is_here(const char *holder)
{
	char host[256];
	const char *colon = strrchr(holder, ':');
	size_t n = colon ? (size_t)(colon - holder) : 0;
	long pid = colon ? strtol(colon + 1, NULL, 10) : 0;

	if (!colon || pid <= 0 || gethostname(host, sizeof(host)) < 0)
		return false;
	host[sizeof(host) - 1] = '\0';
	return strlen(host) == n && strncmp(host, holder, n) == 0 &&
	       (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/*
 * Health by the rule the daemon's /healthz applies, judged from the state
 * file and this command's own look at the broker: the last pass recorded
 * ended within 3 poll intervals, and the broker accepts a connection.
 */
static void judge_health(const struct zl_conf *conf, struct status *s, bool broker_asked)
{
	struct zl_health h = {
	    .pass_age_ms = -1,
	    .poll_interval = conf->source.poll_interval,
	    .broker_checked = broker_asked,
	    .broker_connected = s->broker_error[0] == '\0',
	    .broker_error = s->broker_error,
	};

	s->now_ms = zl_wall_ms();
	s->pass_age_ms = -1;
	if (s->have_checkpoint) {
		int64_t end = s->cp.started_ms + s->cp.duration_ms;

		s->pass_age_ms = s->now_ms > end ? s->now_ms - end : 0;
		h.pass_age_ms = s->pass_age_ms;
	}
	s->healthy = metrics_healthy(&h, s->health_reason, sizeof(s->health_reason));
}

/* Messages in the parking queue; -1 when not read. */
static int64_t parked(const struct status *s)
{
	for (int i = 0; i < s->n_depths; i++)
		if (strcmp(s->depths[i].role, "parking") == 0)
			return s->depths[i].messages;
	return -1;
}

/* Adds a queue to the list of depths to read. */
static void want(struct status *s, const char *name, const char *role)
{
	struct depth *d = &s->depths[s->n_depths++];

	snprintf(d->name, sizeof(d->name), "%s", name);
	d->role = role;
	d->messages = -1;
}

/* Depths of the consumer queues, the retry queue, the wait tiers and the parking queue. */
static void read_depths(const struct zl_conf *conf, const struct zl_topology *t, struct zl_mover *m,
                        struct status *s)
{
	for (int i = 0; i < conf->amqp.n_queues; i++)
		want(s, conf->amqp.queues[i].name, "consumer");
	/* The queue `zaaklink deliver` consumes, unless it is one of those. */
	if (conf->deliver.url) {
		bool listed = false;

		for (int i = 0; i < conf->amqp.n_queues; i++)
			listed =
			    listed || strcmp(conf->amqp.queues[i].name, conf->deliver.queue) == 0;
		if (!listed)
			want(s, conf->deliver.queue, "deliver");
	}
	want(s, t->retry, "retry");
	for (int i = 0; i < t->n_wait; i++)
		want(s, t->wait[i], "wait");
	want(s, t->dlq, "parking");
	for (int i = 0; i < s->n_depths; i++) {
		struct zl_err err = {0};

		s->depths[i].messages = mover_depth(m, s->depths[i].name, &err);
		if (s->depths[i].messages < 0)
			snprintf(s->depths[i].error, sizeof(s->depths[i].error), "%s", err.msg);
	}
	/* Without consumer queues the retry topology is optional: show what
	 * exists (messages parked earlier, say), not what was never declared. */
	if (!conf_has_consumer_queues(conf)) {
		int kept = 0;

		for (int i = 0; i < s->n_depths; i++)
			if (s->depths[i].messages >= 0)
				s->depths[kept++] = s->depths[i];
		s->n_depths = kept;
	}
}

/*
 * What the broker holds, over one connection that only looks: passive
 * declares, so that status creates nothing, not even the exchange or the
 * unrouted queue of a configuration that was never set up. Status never
 * waits long for the broker.
 */
static void read_broker(const struct zl_conf *conf, struct status *s)
{
	struct zl_conf quick = *conf;
	struct zl_topology t;
	struct zl_mover *m;
	struct zl_err err = {0};

	if (quick.amqp.connect_timeout > 3)
		quick.amqp.connect_timeout = 3;
	s->unrouted = -1;
	s->node = conf_mask_url(conf->amqp.urls[0]);
	topology_names(conf, &t);
	if (!(m = mover_new(&quick, &err)) || mover_connect(m, &err) < 0) {
		snprintf(s->broker_error, sizeof(s->broker_error), "%s", err.msg);
		mover_free(m);
		return;
	}
	s->unrouted = mover_depth(m, t.unrouted, &err);
	if (s->unrouted < 0 && err.code != ZL_EX_DATAERR) {
		snprintf(s->broker_error, sizeof(s->broker_error), "%s", err.msg);
		mover_free(m);
		return;
	}
	if (s->unrouted < 0)
		snprintf(s->unrouted_error, sizeof(s->unrouted_error), "%s", err.msg);
	read_depths(conf, &t, m, s);
	mover_free(m);
}

/* Fills s from the state; a missing file or schema is a state, not an error. */
static int read_state(const struct zl_conf *conf, struct status *s, struct zl_err *err)
{
	struct zl_store *st;
	int rc;

	if ((rc = store_exists(&conf->state, err)) <= 0)
		return rc;
	if (!(st = store_open(&conf->state, true, err)))
		return -1;
	s->have_state = true;
	rc = store_checkpoint_get(st, &s->cp, err);
	if (rc >= 0)
		s->have_checkpoint = rc == 1;
	if (rc >= 0)
		rc = store_counts(st, &s->counts, err);
	if (rc >= 0 && conf->state.conninfo && (rc = store_leader_info(st, &s->leader, err)) == 0)
		s->leader_here = s->leader.held && holder_is_here(s->leader.holder);
	store_close(st);
	return rc < 0 ? -1 : 0;
}

static void print_json(const struct zl_conf *conf, const struct status *s)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *cp, *q;
	char ts[21];
	char *text;

	cJSON_AddStringToObject(o, "state_path", conf->state.path);
	cJSON_AddStringToObject(o, "state_backend", conf->state.conninfo ? "postgresql" : "sqlite");
	if (conf->state.conninfo) {
		char *where = store_describe(&conf->state);

		cJSON_AddStringToObject(o, "state_schema", conf->state.schema);
		cJSON_AddStringToObject(o, "state_location", where ? where : "?");
		free(where);
	}
	cJSON_AddBoolToObject(o, "state_exists", s->have_state);
	if (conf->state.conninfo) {
		cp = cJSON_AddObjectToObject(o, "leader");
		cJSON_AddStringToObject(cp, "role", s->leader_here ? "active" : "standby");
		if (s->leader.held && s->leader.holder[0])
			cJSON_AddStringToObject(cp, "holder", s->leader.holder);
		else
			cJSON_AddNullToObject(cp, "holder");
		if (s->leader.held && s->leader.since[0])
			cJSON_AddStringToObject(cp, "since", s->leader.since);
		else
			cJSON_AddNullToObject(cp, "since");
	}
	cp = cJSON_AddObjectToObject(o, "health");
	cJSON_AddBoolToObject(cp, "ok", s->healthy);
	if (s->healthy)
		cJSON_AddNullToObject(cp, "reason");
	else
		cJSON_AddStringToObject(cp, "reason", s->health_reason);
	if (s->have_checkpoint) {
		cp = cJSON_AddObjectToObject(o, "last_pass");
		zl_format_utc(s->cp.started_ms / 1000, ts);
		cJSON_AddStringToObject(cp, "time", ts);
		cJSON_AddNumberToObject(cp, "age_s", (double)(s->pass_age_ms / 1000));
		cJSON_AddNumberToObject(cp, "passes", (double)s->cp.passes);
		cJSON_AddNumberToObject(cp, "duration_ms", (double)s->cp.duration_ms);
		cJSON_AddNumberToObject(cp, "ranges", (double)s->cp.ranges_total);
		cJSON_AddNumberToObject(cp, "ranges_read", (double)s->cp.ranges_read);
		cJSON_AddNumberToObject(cp, "rows_read", (double)s->cp.rows_read);
		cJSON_AddNumberToObject(cp, "links_seen", (double)s->cp.links);
		cJSON_AddNumberToObject(cp, "events", (double)s->cp.events);
		cJSON_AddNumberToObject(cp, "invalid", (double)s->cp.invalid);
	} else {
		cJSON_AddNullToObject(o, "last_pass");
	}
	cJSON_AddNumberToObject(o, "links", (double)s->counts.links);
	cJSON_AddNumberToObject(o, "skipped", (double)s->counts.skipped);
	cJSON_AddNumberToObject(o, "pending", (double)s->counts.pending);
	cJSON_AddNumberToObject(o, "failed", (double)s->counts.failed);
	cJSON_AddNumberToObject(o, "published_total", (double)s->counts.published_total);
	if (s->counts.oldest_pending > 0) {
		zl_format_utc(s->counts.oldest_pending, ts);
		cJSON_AddStringToObject(o, "oldest_pending", ts);
		cJSON_AddNumberToObject(o, "oldest_pending_age_s",
		                        (double)(s->now_ms / 1000 - s->counts.oldest_pending));
	}
	if (s->counts.last_error[0])
		cJSON_AddStringToObject(o, "last_error", s->counts.last_error);
	q = cJSON_AddObjectToObject(o, "broker");
	cJSON_AddStringToObject(q, "node", s->node ? s->node : "");
	cJSON_AddBoolToObject(q, "reachable", s->broker_error[0] == '\0');
	if (s->broker_error[0]) {
		cJSON_AddStringToObject(q, "error", s->broker_error);
	} else if (s->unrouted >= 0) {
		cJSON_AddNumberToObject(q, "unrouted", (double)s->unrouted);
	} else {
		cJSON_AddNullToObject(q, "unrouted");
		cJSON_AddStringToObject(q, "unrouted_error", s->unrouted_error);
	}
	if (parked(s) >= 0)
		cJSON_AddNumberToObject(q, "parked", (double)parked(s));
	if (s->n_depths > 0) {
		cJSON *list = cJSON_AddArrayToObject(q, "queues");

		for (int i = 0; list && i < s->n_depths; i++) {
			cJSON *d = cJSON_CreateObject();

			cJSON_AddStringToObject(d, "name", s->depths[i].name);
			cJSON_AddStringToObject(d, "role", s->depths[i].role);
			if (s->depths[i].messages >= 0)
				cJSON_AddNumberToObject(d, "messages",
				                        (double)s->depths[i].messages);
			else
				cJSON_AddNullToObject(d, "messages");
			if (s->depths[i].error[0])
				cJSON_AddStringToObject(d, "error", s->depths[i].error);
			cJSON_AddItemToArray(list, d);
		}
	}
	text = cJSON_Print(o);
	if (text)
		printf("%s\n", text);
	free(text);
	cJSON_Delete(o);
}

static void print_text(const struct zl_conf *conf, const struct status *s)
{
	struct zl_topology t;
	char ts[21];

	{
		char *where = store_describe(&conf->state);

		printf("state            %s%s\n", where ? where : "?",
		       s->have_state ? "" : " (not created yet: zaaklink has not run)");
		free(where);
	}
	if (conf->state.conninfo && !s->leader.held)
		printf("active instance  none: no zaaklink run holds the state\n");
	else if (conf->state.conninfo)
		printf("active instance  %s since %s (%s)\n",
		       s->leader.holder[0] ? s->leader.holder : "unknown",
		       s->leader.since[0] ? s->leader.since : "unknown",
		       s->leader_here ? "this host" : "another host; this one is a standby");
	if (s->healthy)
		printf("health           ok\n");
	else
		printf("health           unhealthy: %s\n", s->health_reason);
	if (s->have_checkpoint) {
		zl_format_utc(s->cp.started_ms / 1000, ts);
		printf("last pass        %s, %lld ms, pass %lld, ended %lld s ago\n", ts,
		       (long long)s->cp.duration_ms, (long long)s->cp.passes,
		       (long long)(s->pass_age_ms / 1000));
		printf("ranges           %lld (%lld read, %lld rows)\n",
		       (long long)s->cp.ranges_total, (long long)s->cp.ranges_read,
		       (long long)s->cp.rows_read);
	} else {
		printf("last pass        none\n");
	}
	printf("links            %lld (%lld skipped: invalid zaak id)\n",
	       (long long)s->counts.links, (long long)s->counts.skipped);
	printf("outbox           %lld pending, %lld failed at least once\n",
	       (long long)s->counts.pending, (long long)s->counts.failed);
	if (s->counts.oldest_pending > 0) {
		zl_format_utc(s->counts.oldest_pending, ts);
		printf("oldest pending   %s, %lld s ago\n", ts,
		       (long long)(s->now_ms / 1000 - s->counts.oldest_pending));
	}
	printf("published        %lld since the state was created\n",
	       (long long)s->counts.published_total);
	if (s->counts.last_error[0])
		printf("last error       %s\n", s->counts.last_error);
	topology_names(conf, &t);
	if (s->broker_error[0])
		printf("broker           %s: %s\n", s->node ? s->node : "", s->broker_error);
	else if (s->unrouted >= 0)
		printf("broker           %s: %s holds %lld messages\n", s->node ? s->node : "",
		       t.unrouted, (long long)s->unrouted);
	else
		printf("broker           %s: %s\n", s->node ? s->node : "", s->unrouted_error);
	for (int i = 0; i < s->n_depths; i++) {
		const struct depth *d = &s->depths[i];

		if (d->messages >= 0)
			printf("  %-8s       %s: %lld messages\n", d->role, d->name,
			       (long long)d->messages);
		else
			printf("  %-8s       %s: %s\n", d->role, d->name, d->error);
	}
}

static int cmd_status(struct zl_conf *conf, const void *opts, int argc, char **argv)
{
	const struct status_opts *o = opts;
	struct status s;
	struct zl_err err = {0};

	(void)argc, (void)argv;
	/* The report is the output; routine connection logs would only clutter it. */
	if (zl_log_get_level() < ZL_LOG_WARNING)
		zl_log_set_level(ZL_LOG_WARNING);
	memset(&s, 0, sizeof(s));
	if (read_state(conf, &s, &err) < 0)
		return app_fail(&err);
	if (o->no_broker)
		snprintf(s.broker_error, sizeof(s.broker_error), "not asked (--no-broker)");
	else
		read_broker(conf, &s);
	judge_health(conf, &s, !o->no_broker);
	if (o->json)
		print_json(conf, &s);
	else
		print_text(conf, &s);
	free(s.node);
	return ZL_EX_OK;
}
