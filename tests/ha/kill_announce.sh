#!/bin/bash
# The active instance SIGKILLed in the middle of publishing a 20 000-link
# announce (caught when the state's outbox shows events both confirmed and
# still pending), with a standby waiting: the standby is active within
# 5 s, publishes the rest, and every link's event arrives, duplicates at
# most one batch (the one in flight), each the same event as before.
#
# Sizes (environment): ZL_HA_LINKS (20000), ZL_HA_BATCH (amqp.batch_size, 500).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../faults/lib.sh"
. "$(dirname "$0")/lib.sh"
zl_require_tools
zl_servers_up
N=${ZL_HA_LINKS:-20000}
BATCH=${ZL_HA_BATCH:-500}

zl_fixture_new
state=$ZL_TMP/state.db
ha_confs 2 "$db" "$state" "$ex" 'events.initial_sync = "announce";' "amqp.batch_size = $BATCH;" \
	'source.poll_interval = 0.3;' 'source.connect_timeout = 2;' 'state.session_timeout = 4;'
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

ok "caught publishing: over $((2 * BATCH)) confirmed, over $((4 * BATCH)) pending" \
	ha_wait_publishing "$sdb" "$schema" $((2 * BATCH)) $((4 * BATCH)) 120
note "at the kill: $HA_OBSERVED"
ha_mark 2
kill -KILL "${HA_PID[1]}"
ha_wait_acquired 10 2
is "$HA_WINNER" 2 "SIGKILL of the active instance: the standby takes the lock"
ok "... within 5 s (${HA_TAKEOVER_MS:-none} ms)" test "${HA_TAKEOVER_MS:-99999}" -le 5000
took=$HA_TAKEOVER_MS
observed=$HA_OBSERVED

f=$(zl_drain "$q" "$N" 180)
rest=$(zl_drain "$q" "" 3)
cat "$rest" >>"$f"
ha_check_delivery "$ids" "$f" "$BATCH" "SIGKILL mid-announce"
ok "the outbox is empty at the end" zl_wait_for 10 \
	test "$(zl_sql "$sdb" "SELECT count(*) FROM $schema.outbox")" = 0

read -r samples writers foreign < <(ha_sampler_stop)
is "$writers" 1 "the sampler saw the active instance writing ($samples samples)"
is "$foreign" 0 "never two instances writing at once, never one without the lock"
ha_figures "| SIGKILL of the active instance during a $N-link announce ($observed) | kill -KILL | ${took:-?} ms | $HA_DELIVERED | $HA_DUPLICATES | 0 |"
zl_stop "${HA_PID[2]}"
done_testing
