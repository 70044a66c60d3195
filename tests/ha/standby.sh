#!/bin/bash
# One active instance, the others standbys: three `zaaklink run` with the
# same configuration and one PostgreSQL state. Two started at the same
# moment: exactly one takes the lock, the other logs leader.waiting once,
# and metrics, /healthz and `status --json` say who is which. A third
# joins as a standby. The active one stopped (SIGTERM), then killed
# (SIGKILL): a standby is active within 5 s each time and publishes what
# changed meanwhile, exactly once. Throughout, a sampler on the state
# server checks that never two instances have a write transaction open.
# Last, a holder that has not recorded its name yet: a standby waits for
# the name before it logs leader.waiting.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../faults/lib.sh"
. "$(dirname "$0")/lib.sh"
zl_require_tools
zl_servers_up

zl_fixture_new
state=$ZL_TMP/state.db
ha_confs 3 "$db" "$state" "$ex" 'source.poll_interval = 0.3;' 'source.connect_timeout = 2;' 'state.session_timeout = 4;'
sdb=$(zl_state_db "$db")
schema=$(zl_state_schema "$state")
kc=$(zl_kc "$db" "Aanvraag parkeervergunning")
ids=$ZL_TMP/ids
: >"$ids"
link() {
	local z
	z=$(zl_uuid)
	zl_ow "$db" "$kc" "$z" >/dev/null
	echo "$z" >>"$ids"
}
ha_sampler_start "$sdb" "$schema"

# ---- two at the same moment ----
ha_start 1
ha_start 2
ok "started together: one of the two takes the lock" \
	zl_wait_for 15 sh -c "grep -qs 'msg=leader.acquired' '${HA_LOG[1]}' '${HA_LOG[2]}'"
ok "... and the other waits" \
	zl_wait_for 15 sh -c "grep -qs 'msg=leader.waiting' '${HA_LOG[1]}' '${HA_LOG[2]}'"
a=$(ha_active_among 1 2 || true)
ok "the metrics name an active instance" test -n "$a"
s=$((3 - ${a:-1}))
is "$(ha_events "$a") | $(ha_events "$s")" "acquired | waiting" \
	"exactly one acquired, the other logged leader.waiting once"
is "$(ha_metric "$a" zaaklink_leader) $(ha_metric "$s" zaaklink_leader)" "1 0" \
	"zaaklink_leader: 1 on the active instance, 0 on the standby"
h=$(ha_healthz "$s")
like "$h" "^200 standby" "/healthz of the standby: 200, body starting with standby"
ok "/healthz of the active one: 200 ok once it passed" \
	zl_wait_for 10 sh -c "curl -s -m 2 http://127.0.0.1:${HA_PORT[$a]}/healthz | grep -qx ok"
like "$(grep 'msg=leader.waiting' "${HA_LOG[$s]}")" "holder=\"$(hostname):${HA_PID[$a]}\" since=[0-9-]+T[0-9:]+Z" \
	"leader.waiting names the active instance (HOST:PID) and since when"
j=$(zl_zl -c "${HA_CONF[$s]}" status --json --no-broker 2>>"$ZL_TMP/status.err")
is "$(jq -r '.leader.role' <<<"$j") $(jq -r '.leader.holder' <<<"$j")" \
	"active $(hostname):${HA_PID[$a]}" "status --json: .leader names the active instance"
like "$(jq -r '.leader.since' <<<"$j")" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' \
	"status --json: .leader.since is RFC 3339"
like "$(zl_zl -c "${HA_CONF[$s]}" status --no-broker 2>&1)" "active instance +$(hostname):${HA_PID[$a]} since " \
	"status names the active instance"

link
f=$(zl_drain "$q" 1 15)
is "$(zl_count "$f")" 1 "the first link is published once"

# ---- a third one joins ----
ha_start 3
ok "a third instance waits too" zl_wait_for 10 sh -c "grep -qs 'msg=leader.waiting' '${HA_LOG[3]}'"
link
f=$(zl_drain "$q" 1 15)
is "$(zl_count "$f")" 1 "with two standbys, a new link is published once"

# ---- the active one stopped ----
ha_mark 1 2 3
rc=0; zl_stop "${HA_PID[$a]}" || rc=$?
is "$rc" 0 "the active instance stops cleanly on SIGTERM"
others=$(printf '%s\n' 1 2 3 | grep -vx "$a" | tr '\n' ' ')
# shellcheck disable=SC2086
ha_wait_acquired 10 $others
b=$HA_WINNER
ok "after SIGTERM of the active one, a standby takes the lock" test -n "$b"
ok "... within 5 s (${HA_TAKEOVER_MS:-none} ms)" test "${HA_TAKEOVER_MS:-99999}" -le 5000
ha_figures "ha standby: SIGTERM of the active instance: takeover in ${HA_TAKEOVER_MS:-?} ms"
link
f=$(zl_drain "$q" 1 15)
is "$(zl_count "$f")" 1 "the new active instance publishes a new link once"
is "$(ha_metric "$b" zaaklink_leader)" 1 "its zaaklink_leader is 1"

# ---- the active one killed ----
c=$(printf '%s\n' $others | grep -vx "$b")
ha_mark "$c"
kill -KILL "${HA_PID[$b]}"
link
ha_wait_acquired 10 "$c"
is "$HA_WINNER" "$c" "after SIGKILL of the active one, the last standby takes the lock"
ok "... within 5 s (${HA_TAKEOVER_MS:-none} ms)" test "${HA_TAKEOVER_MS:-99999}" -le 5000
ha_figures "ha standby: SIGKILL of the active instance: takeover in ${HA_TAKEOVER_MS:-?} ms"
is "$(ha_count "$c" waiting)" 1 "it had logged leader.waiting once, however long it waited"
f=$(zl_drain "$q" 1 15)
is "$(zl_count "$f")" 1 "the link made while no instance was active is published once"

# ---- the killed one comes back: a standby ----
waits=$(ha_count "$b" waiting)
ha_start "$b"
ok "the killed instance, started again, waits" \
	zl_wait_for 10 sh -c "test \$(grep -c 'msg=leader.waiting' '${HA_LOG[$b]}') -gt $waits"
is "$(ha_metric "$b" zaaklink_leader)" 0 "... as a standby (zaaklink_leader 0)"

read -r samples writers foreign < <(ha_sampler_stop)
ok "the sampler watched the state server ($samples samples)" test "$samples" -ge 20
ok "never two instances writing at once (at most $writers seen)" test "$writers" -le 1
is "$foreign" 0 "never one writing without the lock"

for i in 1 2 3; do
	[ -n "${HA_PID[i]:-}" ] && kill -0 "${HA_PID[i]}" 2>/dev/null && zl_stop "${HA_PID[i]}"
done

# ---- a holder that has not written its name yet ----
# The lock held by a session of the test, the leader row gone: what an
# instance looks like between taking the lock and recording its name (or
# creating the tables of a new state). A standby asks again before it says
# "unknown", and names the holder once the row is there.
_zl_psql "$sdb" -c "SELECT pg_catalog.pg_advisory_lock(pg_catalog.hashtext('zaaklink'),
		pg_catalog.hashtext('$schema'))" -c "DELETE FROM \"$schema\".leader" \
	-c "SELECT pg_catalog.pg_sleep(120)" >/dev/null 2>&1 &
holder=$!
echo "$holder" >>"$ZL_TMP/pids"
# held_without_row: the lock is held and the leader table is empty.
held_without_row() {
	[ "$(zl_sql "$sdb" "SELECT (SELECT count(*) FROM \"$schema\".leader) = 0 AND EXISTS
		(SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted
		 AND classid = pg_catalog.hashtext('zaaklink')::oid
		 AND objid = pg_catalog.hashtext('$schema')::oid)")" = t ]
}
ok "a session of the test holds the lock, with no leader row" zl_wait_for 10 held_without_row
waits=$(ha_count 1 waiting)
ha_start 1
sleep 2.5
is "$(ha_count 1 waiting)" "$waits" "a standby that cannot name the holder yet does not say leader.waiting yet"
zl_sql "$sdb" "INSERT INTO \"$schema\".leader (id, holder, since) VALUES (1, 'elsewhere:77', now())" >/dev/null
ok "... and names it once the holder has written its name" zl_wait_for 10 sh -c \
	"grep 'msg=leader.waiting' '${HA_LOG[1]}' | tail -n 1 | grep -q 'holder=\"elsewhere:77\" since=[0-9-]*T'"
is "$(ha_count 1 waiting)" "$((waits + 1))" "... once"
kill "$holder"
ok "the lock given up: the standby takes it" \
	zl_wait_for 10 sh -c "grep -q 'msg=leader.acquired' '${HA_LOG[1]}'"
zl_stop "${HA_PID[1]}"
done_testing
