#!/bin/bash
# Changes made while zaaklink is not running are published by the next
# `once` or `run`: the state (links as published, checkpoint) survives the
# process, so nothing is lost, nothing is announced twice, and an ontkoppeld
# still carries the payload a previous process published.
. "$(dirname "$0")/../lib.sh"
zl_require_tools
zl_servers_up

zl_fixture_new
conf=$ZL_TMP/zaaklink.conf
state=$ZL_TMP/state.db
log=$ZL_TMP/zaaklink.log
zl_conf "$conf" "$db" "$state" "$ex"

# by_subject FILE SUBJECT: "type data" of the messages about SUBJECT.
by_subject() {
	zl_jq "$1" "select(ev.subject == \"$2\") | (.routing_key | sub(\"^.*zaak-\"; \"\")) + \" \" + (ev.data | tojson)"
}

rc=0; zl_once "$conf" "$log" || rc=$?
is "$rc" 0 "first once (baseline of an empty database)"

kc=$(zl_kc "$db" "Aanvraag parkeervergunning")
za=$(zl_uuid) zb=$(zl_uuid)
oa=$(zl_ow "$db" "$kc" "$za")
ob=$(zl_ow "$db" "$(zl_kc "$db" "Melding overlast")" "$zb")
rc=0; zl_once "$conf" "$log" || rc=$?
f1=$(zl_drain "$q" 2 10)
is "$rc $(zl_types "$f1")" "0 gekoppeld gekoppeld" "two new links: two gekoppeld"
ok "the state file exists after the process ended" test -s "$state"

# ---- changes while stopped, picked up by once ----
zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $oa"
zl_sql "$db" "UPDATE klantinteracties_klantcontact SET onderwerp = 'Melding geluidsoverlast'
	WHERE id = (SELECT klantcontact_id FROM klantinteracties_onderwerpobject WHERE id = $ob)"
zc=$(zl_uuid)
oc=$(zl_ow "$db" "$kc" "$zc")
rc=0; zl_once "$conf" "$log" || rc=$?
f2=$(zl_drain "$q" 4 10)
is "$rc $(zl_types "$f2" | tr ' ' '\n' | sort | tr '\n' ' ')" "0 gekoppeld gekoppeld ontkoppeld ontkoppeld " \
	"changes made while stopped: all published by the next once"
is "$(by_subject "$f2" "$za")" "ontkoppeld $(zl_jq "$f1" "select(ev.subject == \"$za\") | ev.data | tojson")" \
	"deleted while stopped: ontkoppeld with the payload an earlier process published"
is "$(by_subject "$f2" "$zb" | cut -d' ' -f1 | tr '\n' ' ')" "ontkoppeld gekoppeld " \
	"label changed while stopped: ontkoppeld, then gekoppeld"
is "$(by_subject "$f2" "$zb" | head -n1 | cut -d' ' -f2-)" \
	"$(zl_jq "$f1" "select(ev.subject == \"$zb\") | ev.data | tojson")" \
	"label changed while stopped: the ontkoppeld carries the old label"
is "$(by_subject "$f2" "$zc" | cut -d' ' -f1)" "gekoppeld" "created while stopped: gekoppeld"

rc=0; zl_once "$conf" "$log" || rc=$?
f=$(zl_drain "$q" "" 1)
is "$rc/$(zl_count "$f")" 0/0 "after a restart, unchanged links are not announced again"

# ---- the same with the daemon ----
passes=$(zl_passes "$conf")
zl_run_bg "$conf" "$log"
pid=$ZL_PID
ok "run after once: two passes ran" zl_wait_for 30 zl_passes_reach "$conf" "$((passes + 2))"
f=$(zl_drain "$q" "" 1)
is "$(zl_count "$f")" 0 "run after once: nothing new is published"
rc=0; zl_stop "$pid" || rc=$?
is "$rc" 0 "run stops cleanly on SIGTERM"

zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $oc"
zd=$(zl_uuid)
zl_ow "$db" "$kc" "$zd" >/dev/null

zl_run_bg "$conf" "$log"
pid=$ZL_PID
f3=$(zl_drain "$q" 2 15)
is "$(zl_types "$f3" | tr ' ' '\n' | sort | tr '\n' ' ')" "gekoppeld ontkoppeld " \
	"changes made while the daemon was stopped: published after it starts again"
is "$(by_subject "$f3" "$zc")" "ontkoppeld $(zl_jq "$f2" "select(ev.subject == \"$zc\") | ev.data | tojson")" \
	"run: the ontkoppeld carries the payload an earlier process published"
is "$(by_subject "$f3" "$zd" | cut -d' ' -f1)" "gekoppeld" "run: created while stopped: gekoppeld"
rc=0; zl_stop "$pid" || rc=$?
is "$rc" 0 "run stops cleanly again"
f=$(zl_drain "$q" "" 1)
is "$(zl_count "$f")" 0 "nothing published twice"

# ---- pending events survive too ----
is "$(zl_pending "$conf")" 0 "status --json: nothing pending at the end"

done_testing
