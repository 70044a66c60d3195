#!/bin/bash
# The active instance frozen (SIGSTOP) in the middle of publishing, then
# woken (SIGCONT) after a standby took over. The state server drops the
# frozen session after state.session_timeout of silence (the lock goes
# with it), the standby is active within that bound plus a second or two,
# and the woken instance finds its connection gone: it logs leader.lost,
# writes nothing and waits as a standby. Every link's event arrives,
# duplicates at most the batch in flight.
#
# Sizes (environment): ZL_HA_LINKS (5000), ZL_HA_BATCH (200),
# ZL_HA_SESSION_TIMEOUT (state.session_timeout, 4 s).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../faults/lib.sh"
. "$(dirname "$0")/lib.sh"
zl_require_tools
zl_servers_up
N=${ZL_HA_LINKS:-5000}
BATCH=${ZL_HA_BATCH:-200}
T=${ZL_HA_SESSION_TIMEOUT:-4}

zl_fixture_new
state=$ZL_TMP/state.db
ha_confs 2 "$db" "$state" "$ex" 'events.initial_sync = "announce";' "amqp.batch_size = $BATCH;" \
	'source.poll_interval = 0.3;' 'source.connect_timeout = 2;' "state.session_timeout = $T;"
sdb=$(zl_state_db "$db")
schema=$(zl_state_schema "$state")
zl_links_bulk "$db" "$N"
ids=$ZL_TMP/ids
ha_links_ids "$db" "$ids"
ha_sampler_start "$sdb" "$schema"

ha_start 1
ok "the first instance takes the lock" zl_wait_for 15 grep -qs 'msg=leader.acquired' "${HA_LOG[1]}"
ha_start 2
ok "the second waits" zl_wait_for 15 grep -qs 'msg=leader.waiting' "${HA_LOG[2]}"
backend=$(ha_backend_pid "$sdb" "${HA_PID[1]}")
ok "caught publishing: over $BATCH confirmed, over $((4 * BATCH)) pending" \
	ha_wait_publishing "$sdb" "$schema" "$BATCH" $((4 * BATCH)) 120
observed=$HA_OBSERVED
ha_mark 2
kill -STOP "${HA_PID[1]}"
ok "the frozen instance is stopped" \
	test "$(ps -o stat= -p "${HA_PID[1]}" | cut -c1)" = T
ha_wait_acquired $((T + 20)) 2
is "$HA_WINNER" 2 "SIGSTOP of the active instance: the standby takes the lock"
bound=$((T * 1000 + 3000))
ok "... within state.session_timeout + 3 s (${HA_TAKEOVER_MS:-none} ms, bound $bound ms)" \
	test "${HA_TAKEOVER_MS:-99999}" -le "$bound"
took=$HA_TAKEOVER_MS
is "$(zl_sql "$sdb" "SELECT count(*) FROM pg_stat_activity WHERE pid = ${backend:-0}")" 0 \
	"the server dropped the frozen instance's session (backend $backend)"

f=$(zl_drain "$q" "$N" 120)
lines=$(wc -l <"${HA_LOG[1]}")
kill -CONT "${HA_PID[1]}"
ok "woken, it finds its connection gone: leader.lost" \
	zl_wait_for 20 sh -c "tail -n +$((lines + 1)) '${HA_LOG[1]}' | grep -q 'msg=leader.lost'"
ok "... and waits as a standby" \
	zl_wait_for 20 sh -c "tail -n +$((lines + 1)) '${HA_LOG[1]}' | grep -q 'msg=leader.waiting'"
unlike "$(tail -n +"$((lines + 1))" "${HA_LOG[1]}")" 'msg=(pass\.done|leader\.acquired)' \
	"woken, it recorded no pass and did not take the lock"
is "$(ha_metric 1 zaaklink_leader) $(ha_metric 2 zaaklink_leader)" "0 1" \
	"zaaklink_leader: the woken one 0, the new active one 1"
rest=$(zl_drain "$q" "" 3)
cat "$rest" >>"$f"
ha_check_delivery "$ids" "$f" "$BATCH" "SIGSTOP mid-announce"
ok "the outbox is empty at the end" zl_wait_for 10 \
	test "$(zl_sql "$sdb" "SELECT count(*) FROM $schema.outbox")" = 0

read -r samples writers foreign < <(ha_sampler_stop)
ok "the sampler saw writes ($samples samples)" test "$writers" -ge 1
ok "never two instances writing at once" test "$writers" -le 1
is "$foreign" 0 "never one writing without the lock"
ha_figures "| SIGSTOP of the active instance during a $N-link announce ($observed), SIGCONT after the takeover; state.session_timeout = $T s | kill -STOP | ${took:-?} ms | $HA_DELIVERED | $HA_DUPLICATES | 0 |"
zl_stop "${HA_PID[1]}"
zl_stop "${HA_PID[2]}"
done_testing
