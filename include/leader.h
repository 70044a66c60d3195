/*
 * Leader: the daemon's side of leadership (store.h, "leadership"): whether
 * this `zaaklink run` is the active instance or a standby, and what it
 * says when that changes.
 *
 * A standby tries for the lock every second (store_lead()); the active
 * instance sends a heartbeat every second (store_heartbeat()) that must be
 * answered within half of state.session_timeout. Either way the loop asks
 * leader_step() first and detects and publishes only while it says
 * active. The log events: leader.acquired, leader.waiting (once per
 * standby period, naming the active instance), leader.lost (with why);
 * an unreachable state server while competing is an outage
 * (state.unavailable .. state.recovered). With an SQLite state there is
 * one instance and it is always active; nothing is logged.
 */
#ifndef ZL_LEADER_H
#define ZL_LEADER_H

#include "common.h"
#include "conf.h"
#include "outage.h"
#include "store.h"

/* How often a standby tries for the lock, and the active one beats. */
#define ZL_LEADER_TICK_MS 1000
/* How long a standby asks for the holder's name before leader.waiting says
 * "unknown": the holder writes it just after taking the lock, and on a new
 * state only after creating the tables. */
#define ZL_LEADER_NAME_WAIT_MS 5000

struct zl_leader {
	struct zl_store *st; /* borrowed */
	const char *schema;  /* borrowed; NULL: SQLite, always active */
	double max_backoff;  /* s, while the state server is unreachable */
	int beat_timeout_ms;
	bool active;
	bool waiting_logged; /* leader.waiting said for this standby period */
	int64_t next_ms;     /* monotonic: the next try or beat; 0 now */
	int64_t since_ms;    /* monotonic: when the role last changed */
	int64_t since_s;     /* wall clock of the same */
	struct zl_outage outage;
	char error[256]; /* why the state server cannot be reached; "" */
};

void leader_init(struct zl_leader *l, struct zl_store *st, const struct zl_conf *conf);

/* Tries for the lock or beats, when due at now_ms (monotonic), and logs a
 * change of role. Returns whether this instance is the active one. */
bool leader_step(struct zl_leader *l, int64_t now_ms);

/* Asks for a check at the next step (something failed on the state). */
void leader_check_soon(struct zl_leader *l);

/* Milliseconds until the next step has something to do. */
int64_t leader_due_in(const struct zl_leader *l, int64_t now_ms);

#endif
