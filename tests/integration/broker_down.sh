#!/bin/bash
# RabbitMQ unavailable: changes are still detected and recorded; `once`
# exits 75 with the events pending; when the broker is back every event
# arrives once, in record order, with the id it was recorded with (docs/EVENTS.md
# 5: the id is generated once and reused on every retry). The daemon rides
# out an outage too. This test stops and starts a broker of its own.
. "$(dirname "$0")/../lib.sh"
zl_require_tools sqlite3
zl_servers_up
zl_rabbit_start "$ZL_TMP/own-rabbit" || bail "cannot start a RabbitMQ of our own"
broker=$ZL_TMP/own-rabbit

zl_fixture_new
conf=$ZL_TMP/zaaklink.conf
state=$ZL_TMP/state.db
log=$ZL_TMP/zaaklink.log
zl_conf "$conf" "$db" "$state" "$ex" 'amqp.connect_timeout = 3.0;' 'amqp.max_backoff = 2.0;'

# recorded_ids: the ids of the pending events, in record order, read from
# the state file.
recorded_ids() {
	sqlite3 -readonly "$state" "SELECT event_id FROM outbox ORDER BY seq"
}

rc=0; zl_once "$conf" "$log" || rc=$?
is "$rc" 0 "once with the broker up: exit 0"
kc=$(zl_kc "$db" "Aanvraag parkeervergunning")
za=$(zl_uuid)
oa=$(zl_ow "$db" "$kc" "$za")
rc=0; zl_once "$conf" "$log" || rc=$?
f=$(zl_drain "$q" 1 10)
is "$rc $(zl_types "$f")" "0 gekoppeld" "a new link with the broker up: gekoppeld"

# ---- the outage ----
zl_rabbit_stop "$broker" || bail "cannot stop our RabbitMQ"
nok "the broker is down (its port is closed)" zl_wait_port "$ZL_TEST_AMQP_PORT" 0

zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $oa"
zb=$(zl_uuid) zc=$(zl_uuid)
zl_ow "$db" "$kc" "$zb" >/dev/null
kcc=$(zl_kc "$db" "Melding overlast")
zl_ow "$db" "$kcc" "$zc" >/dev/null

t0=$SECONDS
rc=0; zl_once "$conf" "$log" || rc=$?
is "$rc" 75 "once with the broker down: exit 75 (events left pending)"
cmp_ok "$((SECONDS - t0))" -le 60 "once with the broker down gives up within a minute"
is "$(zl_pending "$conf")" 3 "status --json with the broker down: 3 events pending"
rc=0; zl_zl -c "$conf" status >"$ZL_TMP/status.out" 2>&1 || rc=$?
is "$rc" 0 "status with the broker down: exit 0"

# A second pass during the outage adds a relink behind the pending events.
zl_sql "$db" "UPDATE klantinteracties_klantcontact SET onderwerp = 'Melding geluidsoverlast' WHERE id = $kcc"
rc=0; zl_once "$conf" "$log" || rc=$?
is "$rc" 75 "second once with the broker down: exit 75"
is "$(zl_pending "$conf")" 5 "status --json: 5 events pending"
ids=$(recorded_ids)

# ---- the broker is back ----
zl_rabbit_start_again "$broker" || bail "cannot start our RabbitMQ again"
rc=0; zl_once "$conf" "$log" || rc=$?
is "$rc" 0 "once with the broker back: exit 0"
f=$(zl_drain "$q" 5 20)
left=$(zl_probe count "$q")
is "$(zl_count "$f")/${left:-?}" "5/0" "every pending event arrives, once"
is "$(zl_jq "$f" '.message_id' | sort -u | wc -l)" 5 "five distinct event ids"
is "$(zl_types "$f" | tr ' ' '\n' | sort | tr '\n' ' ')" "gekoppeld gekoppeld gekoppeld ontkoppeld ontkoppeld " \
	"the events of both passes: 3 gekoppeld, 2 ontkoppeld"
is "$(zl_jq "$f" "select(ev.subject == \"$zc\") | .routing_key | sub(\"^.*zaak-\"; \"\")" | tr '\n' ' ')" \
	"gekoppeld ontkoppeld gekoppeld " "published in record order: gekoppeld, then the relink"
is "$(zl_jq "$f" "select(ev.subject == \"$za\") | .routing_key | sub(\"^.*zaak-\"; \"\")")" "ontkoppeld" \
	"the link deleted during the outage: ontkoppeld"
isnt "$ids" "" "the state file holds the ids of the events recorded during the outage"
is "$(zl_jq "$f" '.message_id')" "$ids" "published with the ids they were recorded with, in record order"
is "$(zl_jq "$f" 'select(.message_id != ev.id) | .message_id')" "" "message_id is the CloudEvent id"
is "$(zl_pending "$conf")" 0 "status --json: nothing pending"

rc=0; zl_once "$conf" "$log" || rc=$?
f=$(zl_drain "$q" "" 1)
is "$rc/$(zl_count "$f")" "0/0" "nothing is published twice"

# ---- the daemon through an outage ----
zl_run_bg "$conf" "$log"
pid=$ZL_PID
sleep 1
zl_rabbit_stop "$broker" || bail "cannot stop our RabbitMQ"
zd=$(zl_uuid)
zl_ow "$db" "$kc" "$zd" >/dev/null
sleep 2
ok "run keeps running while the broker is down" kill -0 "$pid"
zl_rabbit_start_again "$broker" || bail "cannot start our RabbitMQ again"
f=$(zl_drain "$q" 1 30)
is "$(zl_types "$f") $(zl_jq "$f" 'ev.subject')" "gekoppeld $zd" \
	"run: a change made during the outage is published when the broker is back"
rc=0; zl_stop "$pid" || rc=$?
is "$rc" 0 "run stops cleanly after the outage"
f=$(zl_drain "$q" "" 1)
is "$(zl_count "$f")" 0 "run: nothing published twice"

# ---- an outage of every node of a cluster is logged once ----
dead1=$(zl_free_port) dead2=$(zl_free_port)
zl_conf "$ZL_TMP/cluster.conf" "$db" "$ZL_TMP/cluster.db" "$ex" \
	"amqp.url = [ \"amqp://guest:guest@127.0.0.1:$dead1/%2f\", \"amqp://guest:guest@127.0.0.1:$dead2/%2f\" ];" \
	'amqp.connect_timeout = 1.0;' 'amqp.max_backoff = 1.0;' 'log.level = "debug";'
clog=$ZL_TMP/cluster.log
zl_run_bg "$ZL_TMP/cluster.conf" "$clog"
# attempts_at_least N: N rounds over both nodes were tried.
attempts_at_least() { [ "$(grep -c 'msg=amqp.connect_failed' "$clog")" -ge "$1" ]; }
ok "both nodes down: four rounds of connection attempts" zl_wait_for 60 attempts_at_least 4
rc=0; zl_stop "$ZL_PID" || rc=$?
is "$rc" 0 "both nodes down: run stops cleanly"
is "$(grep -c 'level=warning msg=amqp.connect_failed' "$clog")" 1 \
	"both nodes down: amqp.connect_failed is a warning once, then detail"
is "$(grep -c 'msg=amqp.unavailable' "$clog")" 1 "both nodes down: amqp.unavailable logged once"

done_testing
