#!/bin/bash
# Fault 6, signals: SIGTERM while `zaaklink run` publishes the announce of
# many links, several times. Each stop must exit 0 within 5 s; what was not
# confirmed stays in the outbox and is published after the restart, so
# that in the end every link arrived, duplicates only as republished ids.
#
# Sizes (environment): ZL_FAULT_SIGNAL_LINKS (10000), ZL_FAULT_SIGNAL_STOPS
# (4), ZL_FAULT_SIGNAL_BATCH (amqp.batch_size, 100).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
zl_require_tools sqlite3
zl_servers_up
N=${ZL_FAULT_SIGNAL_LINKS:-10000}
STOPS=${ZL_FAULT_SIGNAL_STOPS:-4}
BATCH=${ZL_FAULT_SIGNAL_BATCH:-100}

zl_fixture_new
conf=$ZL_TMP/zaaklink.conf
state=$ZL_TMP/state.db
log=$ZL_TMP/zaaklink.log
zl_conf "$conf" "$db" "$state" "$ex" 'events.initial_sync = "announce";' "amqp.batch_size = $BATCH;"
zl_links_bulk "$db" "$N" || bail "cannot load the fixture"
zl_sql "$db" "SELECT onderwerpobjectidentificator_object_id FROM klantinteracties_onderwerpobject" >"$ZL_TMP/ids"
queue_grew() { [ "$(zl_probe count "$q")" -gt "$1" ]; }
outbox() { sqlite3 -readonly "$state" 'SELECT count(*) FROM outbox'; }

stops=0 mid=0 worst=0 left_log=
for ((i = 0; i < STOPS; i++)); do
	zl_run_bg "$conf" "$log"
	# Stop while events are on their way: once the broker holds some of
	# this run's and the outbox still has more.
	before=$(zl_probe count "$q")
	stops=$((stops + 1))
	ok "SIGTERM $stops comes after this run published (the queue held $before)" \
		zl_wait_for 60 queue_grew "$before"
	rc=0; zl_stop "$ZL_PID" || rc=$?
	left=$(outbox)
	left_log+="$left "
	[ "$left" -gt 0 ] && mid=$((mid + 1))
	((ZL_STOP_MS > worst)) && worst=$ZL_STOP_MS
	is "$rc" 0 "SIGTERM $stops while publishing: exit 0"
	cmp_ok "$ZL_STOP_MS" -le 5000 "SIGTERM $stops: stopped in $ZL_STOP_MS ms (at most 5000)"
	[ "$left" -eq 0 ] && break
done
note "events left in the outbox after each stop: $left_log"
cmp_ok "$mid" -ge 1 "at least one stop came with events still to publish ($mid)"
is "$(grep -c 'msg=daemon.stopping' "$log")" "$stops" "each stop logged daemon.stopping"
rc=0; zl_once "$conf" "$log" || rc=$?
is "$rc" 0 "after the restarts: once publishes the rest and exits 0"
f=$(zl_drain "$q" "" 5)
res=$(zl_each_once "$ZL_TMP/ids" "$f")
is "${res% duplicates=*}" "missing=0 extra=0" "every link arrived ($res)"
dups=${res#*duplicates=}
dups=${dups% *}
cmp_ok "$dups" -le "$((stops * BATCH))" "duplicates ($dups) at most one batch per stop"
is "$(zl_jqs "$f" 'group_by(.message_id) | map(select((map(.body) | unique | length) > 1)) | length')" 0 \
	"every duplicate is a republish: same event id, same body"
is "$(sqlite3 -readonly "$state" 'pragma integrity_check')" ok "sqlite3 integrity_check: ok"
zl_figures "fault=sigterm stops=$stops mid_batch=$mid worst_stop_ms=$worst links=$N $res"
done_testing
