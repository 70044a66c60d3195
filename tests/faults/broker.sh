#!/bin/bash
# Faults 2 and 4, the broker: RabbitMQ stopped for ZL_FAULT_OUTAGE seconds
# (default 20) in the middle of a stream of new links, then a memory alarm
# (vm_memory_high_watermark set to almost nothing) that blocks publishers.
# `zaaklink run` must keep running, log each outage once, come back by
# itself and deliver every event. This test starts a RabbitMQ of its own.
#
# Sizes (environment): ZL_FAULT_OUTAGE (20 s), ZL_FAULT_ALARM (10 s),
# ZL_FAULT_STREAM (links inserted during each fault, 150, 0.1 s apart).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
zl_require_tools
zl_servers_up
zl_rabbit_start "$ZL_TMP/own-rabbit" || bail "cannot start a RabbitMQ of our own"
broker=$ZL_TMP/own-rabbit
OUTAGE=${ZL_FAULT_OUTAGE:-20}
ALARM=${ZL_FAULT_ALARM:-10}
STREAM=${ZL_FAULT_STREAM:-150}

zl_fixture_new
conf=$ZL_TMP/zaaklink.conf
log=$ZL_TMP/zaaklink.log
ids=$ZL_TMP/ids
zl_conf "$conf" "$db" "$ZL_TMP/state.db" "$ex" 'amqp.connect_timeout = 3.0;' \
	'amqp.max_backoff = 2.0;' 'amqp.confirm_timeout = 5.0;' 'amqp.heartbeat = 4;' \
	'amqp.batch_size = 20;'
rabbitmqctl_() { _zl_rabbit_env "$broker" timeout 60 "$ZL_RABBIT_BIN/rabbitmqctl" "$@"; }
count_log() { tail -n +"$((from + 1))" "$log" | grep -c -- "$1"; }

zl_run_bg "$conf" "$log"
pid=$ZL_PID
zl_wait_log 'msg=amqp.connected' 20 || diag "no amqp.connected"

# ---- fault 2: the broker goes away for OUTAGE seconds ----
from=$(wc -l <"$log")
zl_feed_links "$db" "$STREAM" 0.1 "$ids"
feed=$ZL_FEED_PID
sleep 3
zl_rabbit_stop "$broker" || bail "cannot stop our RabbitMQ"
t0=$SECONDS
sleep "$OUTAGE"
ok "run keeps running through a $OUTAGE s broker outage" kill -0 "$pid"
zl_rabbit_start_again "$broker" || bail "cannot start our RabbitMQ again"
down=$((SECONDS - t0))
wait "$feed"
zl_wait_for 60 zl_wait_log 'msg=amqp.recovered' 1
zl_wait_for 60 zl_outbox_empty "$ZL_TMP/state.db" || diag "the outbox still holds events after 60 s"
f=$(zl_drain "$q" "$STREAM" 60)
res=$(zl_each_once "$ids" "$f")
is "${res% distinct=*}" "missing=0 extra=0 duplicates=0" "outage: every link made during it arrives, once ($res)"
is "$(count_log 'msg=amqp.unavailable')" 1 "outage: amqp.unavailable logged once"
is "$(count_log 'msg=amqp.recovered')" 1 "outage: amqp.recovered logged once"
is "$(count_log 'level=error' | head -n1)" "$(count_log 'msg=amqp.unavailable')" "outage: no other error logged"
note "$(tail -n +"$((from + 1))" "$log" | grep -v 'msg=pass.done' | head -n 8)"
zl_figures "fault=broker_outage seconds=$down stream=$STREAM $res"

# ---- fault 4: a memory alarm blocks publishers ----
from=$(wc -l <"$log")
: >"$ids"
rabbitmqctl_ set_vm_memory_high_watermark 0.0000001 >/dev/null || bail "cannot set the memory watermark"
zl_feed_links "$db" "$((STREAM / 3))" 0.1 "$ids"
feed=$ZL_FEED_PID
zl_wait_log 'msg=amqp.blocked' 30
is "$?" 0 "alarm: zaaklink logs amqp.blocked"
sleep "$ALARM"
ok "alarm: run keeps running while blocked" kill -0 "$pid"
# Responsive while blocked: a reload is answered at once.
ZL_RUN_LOG_FROM=$(wc -l <"$log")
kill -HUP "$pid"
zl_wait_log 'msg=config.reloaded' 5
is "$?" 0 "alarm: a SIGHUP is answered within 5 s while blocked"
passes0=$(zl_status_json "$conf" | jq -r '.last_pass.passes')
sleep 2
cmp_ok "$(zl_status_json "$conf" | jq -r '.last_pass.passes')" -gt "$passes0" \
	"alarm: passes go on while blocked (changes are still recorded)"
wait "$feed"
rabbitmqctl_ set_vm_memory_high_watermark 0.4 >/dev/null || bail "cannot clear the memory alarm"
zl_wait_log 'msg=amqp.unblocked' 60
is "$?" 0 "alarm cleared: zaaklink logs amqp.unblocked and resumes"
zl_wait_for 60 zl_outbox_empty "$ZL_TMP/state.db" || diag "the outbox still holds events after 60 s"
f=$(zl_drain "$q" "$((STREAM / 3))" 60)
res=$(zl_each_once "$ids" "$f")
is "${res% duplicates=*}" "missing=0 extra=0" "alarm: every link made during it arrives ($res)"
dups=${res#*duplicates=}
cmp_ok "${dups% *}" -le 20 "alarm: duplicates (the batch in flight when the broker blocked) at most one batch"
blocked=$(count_log 'msg=amqp.blocked')
is "$blocked" 1 "alarm: amqp.blocked logged once"
is "$(count_log 'msg=amqp.disconnected')" 0 "alarm: the connection is kept, not dropped and made again"
note "$(tail -n +"$((from + 1))" "$log" | grep -v 'msg=pass.done' | head -n 8)"

# ---- SIGTERM while blocked: a clean stop, within 5 s ----
rabbitmqctl_ set_vm_memory_high_watermark 0.0000001 >/dev/null
zl_feed_links "$db" 5 0.1 "$ids"
wait "$ZL_FEED_PID"
blocked_again() { [ "$(count_log 'msg=amqp.blocked')" -gt "$blocked" ]; }
ok "SIGTERM while blocked: the broker blocked zaaklink again first" zl_wait_for 30 blocked_again
rc=0; zl_stop "$pid" || rc=$?
is "$rc" 0 "SIGTERM while blocked: exit 0"
cmp_ok "$ZL_STOP_MS" -le 5000 "SIGTERM while blocked: stopped within 5 s (${ZL_STOP_MS} ms)"
rabbitmqctl_ set_vm_memory_high_watermark 0.4 >/dev/null
rc=0; zl_once "$conf" "$log" || rc=$?
f=$(zl_drain "$q" 5 30)
is "$rc $(comm -12 <(tail -n 5 "$ids" | sort) <(zl_jq "$f" 'ev.subject' | sort -u) | wc -l)" "0 5" \
	"after the alarm: once publishes the 5 events held back"
cmp_ok "$(zl_count "$f")" -le 25 "after the alarm: at most the batch in flight (20) twice"
zl_figures "fault=broker_alarm seconds=$ALARM stream=$((STREAM / 3)) $res blocked_logged=$blocked stop_ms=$ZL_STOP_MS"
done_testing
