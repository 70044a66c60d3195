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

ha_announce_setup "$N" "$BATCH" 4 'source.connect_timeout = 2;'
ha_sampler_start "$sdb" "$schema"
ha_start_pair

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
ha_delivered_all "$f" "SIGKILL mid-announce" "$BATCH"
ha_sampler_checks
ha_figures "| SIGKILL of the active instance during a $N-link announce ($observed) | kill -KILL | ${took:-?} ms | $HA_DELIVERED | $HA_DUPLICATES | 0 |"
zl_stop "${HA_PID[2]}"
done_testing
