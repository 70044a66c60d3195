#!/bin/bash
# Fault 3, the database: PostgreSQL restarted in the middle of a stream of
# new links, then zaaklink's own session ended by pg_terminate_backend.
# `zaaklink run` must log the outage once, recover by itself, and publish
# every link once. This test starts a PostgreSQL of its own.
#
# Sizes (environment): ZL_FAULT_PG_DOWN (seconds PostgreSQL stays down, 5),
# ZL_FAULT_STREAM (links inserted during each fault, 150, 0.1 s apart).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
zl_require_tools
zl_servers_up
zl_pg_start "$ZL_TMP/own-pg" || bail "cannot start a PostgreSQL of our own"
DOWN=${ZL_FAULT_PG_DOWN:-5}
STREAM=${ZL_FAULT_STREAM:-150}

zl_fixture_new
conf=$ZL_TMP/zaaklink.conf
log=$ZL_TMP/zaaklink.log
ids=$ZL_TMP/ids
zl_conf "$conf" "$db" "$ZL_TMP/state.db" "$ex" 'source.connect_timeout = 3;' 'amqp.max_backoff = 2.0;'
count_log() { tail -n +"$((from + 1))" "$log" | grep -c -- "$1"; }
# lines_at_least FILE N: true when FILE has N lines or more.
lines_at_least() { [ "$(wc -l <"$1")" -ge "$2" ]; }

zl_run_bg "$conf" "$log"
pid=$ZL_PID
zl_wait_log 'msg=amqp.connected' 20 || diag "no amqp.connected"

# ---- PostgreSQL restarted mid-stream ----
from=$(wc -l <"$log")
zl_feed_links "$db" "$STREAM" 0.1 "$ids"
feed=$ZL_FEED_PID
sleep 3
zl_pg_stop "$ZL_TMP/own-pg" || bail "cannot stop our PostgreSQL"
sleep "$DOWN"
ok "run keeps running while PostgreSQL is down" kill -0 "$pid"
zl_pg_start "$ZL_TMP/own-pg" || bail "cannot start our PostgreSQL again"
wait "$feed"
ZL_RUN_LOG_FROM=$from
zl_wait_log 'msg=source.recovered' 60
is "$?" 0 "restart: source.recovered logged"
zl_wait_for 30 lines_at_least "$ids" "$STREAM" || diag "only $(wc -l <"$ids") of $STREAM links were committed"
sleep 2
zl_wait_for 60 zl_outbox_empty "$ZL_TMP/state.db"
f=$(zl_drain "$q" "$STREAM" 60)
res=$(zl_each_once "$ids" "$f")
is "${res% distinct=*}" "missing=0 extra=0 duplicates=0" "restart: every link arrives, once ($res)"
is "$(count_log 'msg=source.unavailable')" 1 "restart: source.unavailable logged once"
is "$(count_log 'msg=source.recovered')" 1 "restart: source.recovered logged once"
is "$(count_log 'msg=pass.failed')" 0 "restart: no pass.failed (that is for the state file)"
note "$(tail -n +"$((from + 1))" "$log" | grep -v 'msg=pass.done' | head -n 6)"
zl_figures "fault=pg_restart seconds=$DOWN stream=$STREAM $res"

# ---- pg_terminate_backend on zaaklink's session ----
from=$(wc -l <"$log")
: >"$ids"
zl_feed_links "$db" "$((STREAM / 3))" 0.1 "$ids"
feed=$ZL_FEED_PID
terminated=0
for ((i = 0; i < 200 && terminated < 3; i++)); do
	n=$(zl_sql postgres "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE usename = 'zaaklink' AND datname = '$db'")
	terminated=$((terminated + ${n:-0}))
	sleep 0.05
done
cmp_ok "$terminated" -ge 1 "terminated zaaklink's session $terminated times"
wait "$feed"
ok "run keeps running after its session was terminated" kill -0 "$pid"
sleep 2
zl_wait_for 60 zl_outbox_empty "$ZL_TMP/state.db"
f=$(zl_drain "$q" "$((STREAM / 3))" 60)
res=$(zl_each_once "$ids" "$f")
is "${res% distinct=*}" "missing=0 extra=0 duplicates=0" "terminate: every link arrives, once ($res)"
is "$(count_log 'level=error' | head -n 1)" "$(count_log 'msg=source.unavailable')" "terminate: nothing logged at error level but source.unavailable"
note "$(tail -n +"$((from + 1))" "$log" | grep -v 'msg=pass.done' | head -n 6)"
rc=0; zl_stop "$pid" || rc=$?
is "$rc" 0 "run stops cleanly afterwards"
zl_figures "fault=pg_terminate sessions=$terminated stream=$((STREAM / 3)) $res"
done_testing
