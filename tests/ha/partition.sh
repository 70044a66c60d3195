#!/bin/bash
# A silent partition between the active instance and the state server: its
# state connection runs through tests/tools/tcp-proxy, which stops moving
# bytes (SIGUSR1) in the middle of publishing, so neither side hears of
# the other and no TCP reset comes. The server drops the silent session
# after state.session_timeout, the standby (connected directly) is active
# within that bound plus a second or two and publishes the rest. Cut off,
# the old active instance gives its connection up (its heartbeat gets no
# answer, or its statement fails once the network heals) and, healed, it
# waits as a standby; it never writes again. Every link's event arrives,
# duplicates at most the batch in flight.
#
# Sizes (environment): ZL_HA_LINKS (5000), ZL_HA_BATCH (200),
# ZL_HA_SESSION_TIMEOUT (4 s).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../faults/lib.sh"
. "$(dirname "$0")/lib.sh"
zl_require_tools
zl_servers_up
[ -x "$ZL_PROXY" ] || bail "no tcp-proxy at $ZL_PROXY (make check builds it)"
N=${ZL_HA_LINKS:-5000}
BATCH=${ZL_HA_BATCH:-200}
T=${ZL_HA_SESSION_TIMEOUT:-4}

ha_announce_setup "$N" "$BATCH" "$T" 'source.connect_timeout = 2;'

# The first instance reaches the state server through the proxy.
"$ZL_PROXY" --listen 127.0.0.1:0 --to "127.0.0.1:$PGPORT" --port-file "$ZL_TMP/proxy.port" \
	--state-file "$ZL_TMP/proxy.state" 2>>"$ZL_TMP/proxy.log" &
proxy=$!
echo "$proxy" >>"$ZL_TMP/pids"
zl_wait_for 10 test -s "$ZL_TMP/proxy.port" || bail "the proxy did not start"
sed -i "/dbname=${sdb} /s/port=$PGPORT/port=$(cat "$ZL_TMP/proxy.port")/" "${HA_CONF[1]}"
like "$(grep conninfo "${HA_CONF[1]}" | grep "$sdb")" "port=$(cat "$ZL_TMP/proxy.port")" \
	"the first instance's state conninfo goes through the proxy"

ha_sampler_start "$sdb" "$schema"
ha_start_pair
ok "caught publishing: over $BATCH confirmed, over $((4 * BATCH)) pending" \
	ha_wait_publishing "$sdb" "$schema" "$BATCH" $((4 * BATCH)) 120
observed=$HA_OBSERVED
lines=$(wc -l <"${HA_LOG[1]}")
ha_mark 2
kill -USR1 "$proxy"
ok "the partition is in effect" zl_wait_for 5 grep -qx 'partitioned resets=0' "$ZL_TMP/proxy.state"
ha_wait_acquired $((T + 20)) 2
is "$HA_WINNER" 2 "silent partition of the active instance: the standby takes the lock"
bound=$((T * 1000 + 3000))
ok "... within state.session_timeout + 3 s (${HA_TAKEOVER_MS:-none} ms, bound $bound ms)" \
	test "${HA_TAKEOVER_MS:-99999}" -le "$bound"
took=$HA_TAKEOVER_MS
if tail -n +"$((lines + 1))" "${HA_LOG[1]}" | grep -q 'msg=leader.lost'; then
	note "the cut-off instance logged leader.lost during the partition"
else
	note "the cut-off instance was inside a statement: it learns of the loss at the heal"
fi

f=$(zl_drain "$q" "$N" 120)
kill -USR2 "$proxy"
ok "healed" zl_wait_for 5 grep -qx 'forwarding resets=0' "$ZL_TMP/proxy.state"
ok "the old active instance logs leader.lost" \
	zl_wait_for 30 sh -c "tail -n +$((lines + 1)) '${HA_LOG[1]}' | grep -q 'msg=leader.lost'"
ok "... and, healed, waits as a standby" \
	zl_wait_for 30 sh -c "tail -n +$((lines + 1)) '${HA_LOG[1]}' | grep -q 'msg=leader.waiting'"
unlike "$(tail -n +"$((lines + 1))" "${HA_LOG[1]}")" 'msg=(pass\.done|leader\.acquired)' \
	"cut off, it recorded no pass and did not take the lock again"
is "$(ha_metric 1 zaaklink_leader) $(ha_metric 2 zaaklink_leader)" "0 1" \
	"zaaklink_leader: the old one 0, the new active one 1"
ha_delivered_all "$f" "partition mid-announce" "$BATCH"
ha_sampler_checks
ha_figures "| silent partition of the active instance's state connection during a $N-link announce ($observed); state.session_timeout = $T s | tcp-proxy SIGUSR1 | ${took:-?} ms | $HA_DELIVERED | $HA_DUPLICATES | 0 |"
zl_stop "${HA_PID[1]}"
zl_stop "${HA_PID[2]}"
kill "$proxy"
wait "$proxy" 2>/dev/null
done_testing
