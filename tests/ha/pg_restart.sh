#!/bin/bash
# The state PostgreSQL restarted (a fast shutdown, down for a few seconds)
# while the active instance publishes an announce, with a standby
# waiting: both lose their sessions, exactly one takes the lock once the
# server is back, and it publishes the rest. Every link's event arrives,
# duplicates at most the batch in flight. This test starts a PostgreSQL
# of its own (source and state both on it).
#
# Sizes (environment): ZL_HA_LINKS (5000), ZL_HA_BATCH (200),
# ZL_HA_PG_DOWN (seconds the server stays down, 3).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../faults/lib.sh"
. "$(dirname "$0")/lib.sh"
zl_require_tools
zl_servers_up
zl_pg_start "$ZL_TMP/own-pg" || bail "cannot start a PostgreSQL of our own"
N=${ZL_HA_LINKS:-5000}
BATCH=${ZL_HA_BATCH:-200}
DOWN=${ZL_HA_PG_DOWN:-3}

ha_announce_setup "$N" "$BATCH" 6 'source.connect_timeout = 3;'
ha_start_pair
ok "caught publishing: over $BATCH confirmed, over $((4 * BATCH)) pending" \
	ha_wait_publishing "$sdb" "$schema" "$BATCH" $((4 * BATCH)) 120
observed=$HA_OBSERVED
zl_pg_stop "$ZL_TMP/own-pg" || bail "cannot stop our PostgreSQL"
ok "the active instance logs leader.lost" zl_wait_for 15 grep -qs 'msg=leader.lost' "${HA_LOG[1]}"
sleep "$DOWN"
ok "both keep running while the state server is down" kill -0 "${HA_PID[1]}" "${HA_PID[2]}"
# Marked before the start: an instance can take the lock the moment the
# server accepts connections, before pg_ctl has returned.
ha_mark 1 2
zl_pg_start "$ZL_TMP/own-pg" || bail "cannot start our PostgreSQL again"
ha_wait_acquired 20 1 2
ok "once the server is back, an instance takes the lock (instance ${HA_WINNER:-none})" \
	test -n "$HA_WINNER"
ok "... within 7 s of the server's start (${HA_TAKEOVER_MS:-none} ms)" \
	test "${HA_TAKEOVER_MS:-99999}" -le 7000
took=$HA_TAKEOVER_MS
other=$((3 - ${HA_WINNER:-1}))
ok "the other one waits" zl_wait_for 15 sh -c \
	"test \$(grep -c 'msg=leader.waiting' '${HA_LOG[$other]}') -ge 1 && \
	 test \"\$(curl -s -m 2 http://127.0.0.1:${HA_PORT[$other]}/metrics | awk '\$1 == \"zaaklink_leader\" { print \$2 }')\" = 0"

f=$(zl_drain "$q" "$N" 120)
ha_delivered_all "$f" "state server restarted mid-announce" "$BATCH"
is "$(ha_metric 1 zaaklink_leader)$(ha_metric 2 zaaklink_leader)" \
	"$([ "${HA_WINNER:-1}" = 1 ] && echo 10 || echo 01)" "exactly one is active"
ha_figures "| state PostgreSQL restarted (fast shutdown, $DOWN s down) during a $N-link announce ($observed) | pg_ctl stop -m fast; start | ${took:-?} ms after the start | $HA_DELIVERED | $HA_DUPLICATES | 0 |"
zl_stop "${HA_PID[1]}"
zl_stop "${HA_PID[2]}"
done_testing
