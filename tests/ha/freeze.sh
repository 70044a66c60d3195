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

ha_announce_setup "$N" "$BATCH" "$T" 'source.connect_timeout = 2;'
ha_sampler_start "$sdb" "$schema"
ha_start_pair
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
ha_delivered_all "$f" "SIGSTOP mid-announce" "$BATCH"
ha_sampler_checks
ha_figures "| SIGSTOP of the active instance during a $N-link announce ($observed), SIGCONT after the takeover; state.session_timeout = $T s | kill -STOP | ${took:-?} ms | $HA_DELIVERED | $HA_DUPLICATES | 0 |"
zl_stop "${HA_PID[1]}"
zl_stop "${HA_PID[2]}"
done_testing
