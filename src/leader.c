/* Leader: the active instance or a standby, as the daemon sees it (leader.h). */
#include "leader.h"
#include "log.h"

#include <stdio.h>

static const struct zl_outage_events state_events = {
    .unavailable = "state.unavailable",
    .recovered = "state.recovered",
    .reconnect_failed = "state.reconnect_failed",
};

void leader_init(struct zl_leader *l, struct zl_store *st, const struct zl_conf *conf)
{
	*l = (struct zl_leader){
	    .st = st,
	    .schema = conf->state.conninfo ? conf->state.schema : NULL,
	    .max_backoff = conf->amqp.max_backoff < 5 ? conf->amqp.max_backoff : 5,
	    .beat_timeout_ms = (int)(conf->state.session_timeout * 500),
	    .active = conf->state.conninfo == NULL,
	    .since_ms = zl_now_ms(),
	    .since_s = zl_wall_s(),
	    .outage = {.events = &state_events},
	};
}

static void change(struct zl_leader *l, bool active, int64_t now_ms)
{
	l->active = active;
	l->since_ms = now_ms;
	l->since_s = zl_wall_s();
	l->waiting_logged = false;
}

/* A standby's try for the lock. */
static void try_lead(struct zl_leader *l, int64_t now_ms)
{
	struct zl_err err = {0};
	struct zl_leader_info info = {0};
	int rc = store_lead(l->st, &err);
	char q[400];

	if (rc < 0) {
		snprintf(l->error, sizeof(l->error), "%s", err.msg);
		outage_fail(&l->outage, now_ms, l->max_backoff, ZL_LEADER_TICK_MS, NULL, &err);
		l->next_ms = l->outage.next_try_ms;
		return;
	}
	l->error[0] = '\0';
	outage_ok(&l->outage, now_ms, NULL);
	l->next_ms = now_ms + ZL_LEADER_TICK_MS;
	if (rc == 1) {
		zl_info("leader.acquired", "schema=%s waited_ms=%lld", l->schema,
		        (long long)(now_ms - l->since_ms));
		change(l, true, now_ms);
		return;
	}
	if (l->waiting_logged)
		return;
	if (store_leader_info(l->st, &info, &err) < 0)
		info.holder[0] = info.since[0] = '\0';
	if (!info.holder[0] && now_ms - l->since_ms < ZL_LEADER_NAME_WAIT_MS)
		return;
	l->waiting_logged = true;
	zl_info("leader.waiting", "schema=%s holder=\"%s\" since=%s", l->schema,
	        zl_log_quote(info.holder[0] ? info.holder : "unknown", q, sizeof(q)),
	        info.since[0] ? info.since : "unknown");
}

/* The active instance's heartbeat. */
static void beat(struct zl_leader *l, int64_t now_ms)
{
	struct zl_err err = {0};
	char q[600];

	l->next_ms = now_ms + ZL_LEADER_TICK_MS;
	if (store_heartbeat(l->st, l->beat_timeout_ms, &err) == 1)
		return;
	zl_error("leader.lost", "schema=%s active_ms=%lld error=\"%s\"", l->schema,
	         (long long)(now_ms - l->since_ms), zl_log_quote(err.msg, q, sizeof(q)));
	change(l, false, now_ms);
	/* Compete again at once: the lock may be free. */
	l->next_ms = now_ms;
}

bool leader_step(struct zl_leader *l, int64_t now_ms)
{
	if (!l->schema)
		return true;
	/* One step changes the role at most once: a loss is seen by the
	 * loop before this instance competes again (at the next step). */
	if (now_ms >= l->next_ms) {
		if (l->active)
			beat(l, now_ms);
		else
			try_lead(l, now_ms);
	}
	return l->active;
}

void leader_check_soon(struct zl_leader *l)
{
	l->next_ms = 0;
}

int64_t leader_due_in(const struct zl_leader *l, int64_t now_ms)
{
	if (!l->schema)
		return INT64_MAX;
	return l->next_ms > now_ms ? l->next_ms - now_ms : 0;
}
