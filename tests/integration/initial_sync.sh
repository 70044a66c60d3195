#!/bin/bash
# docs/EVENTS.md 4, first start on an existing database (empty state):
# events.initial_sync = "baseline" records the current links without
# publishing, "announce" publishes a gekoppeld for each; `backfill` records a
# gekoppeld for every current link, published by the next `once`.
. "$(dirname "$0")/../lib.sh"
zl_require_tools
zl_servers_up

BASE=https://openklant.example.nl/klantinteracties/api/v1/onderwerpobjecten/

# existing_links DB: three links on two klantcontacten and two rows that are
# not links, as an Open Klant database in use has them.
existing_links() {
	local db=$1 kca kcb
	kca=$(zl_kc "$db" "Aanvraag parkeervergunning" "1001")
	kcb=$(zl_kc "$db" "Klacht over afvalinzameling")
	zl_ow "$db" "$kca" "$(zl_uuid)" >/dev/null
	zl_ow "$db" "$kca" "$(zl_uuid)" >/dev/null
	zl_ow "$db" "$kcb" "$(zl_uuid)" >/dev/null
	zl_ow "$db" "$kcb" "$(zl_uuid)" klant bsn brp >/dev/null
	zl_ow "$db" NULL "$(zl_uuid)" >/dev/null
}

# links DB: the expected payloads of every current link, one compact JSON
# object a line, sorted (subject, zaak, linkTo, label).
links() {
	zl_sql "$1" "SELECT o.onderwerpobjectidentificator_object_id, o.uuid, k.onderwerp,
		COALESCE(k.nummer, '')
		FROM klantinteracties_onderwerpobject o
		JOIN klantinteracties_klantcontact k ON k.id = o.klantcontact_id
		WHERE o.onderwerpobjectidentificator_code_objecttype = 'zaak'
		  AND o.onderwerpobjectidentificator_code_soort_object_id = 'uuid'" |
		while IFS='|' read -r zaak uuid onderwerp nummer; do
			label=$onderwerp
			[ -n "$nummer" ] && label="$onderwerp - ($nummer)"
			jq -cn --arg s "$zaak" --arg z "urn:uuid:$zaak" --arg l "$BASE$uuid" --arg b "$label" \
				'{subject: $s, zaak: $z, linkTo: $l, label: $b}'
		done | sort
}

# published FILE: the same for the messages in FILE.
published() {
	zl_jq "$1" 'ev | {subject, zaak: .data.zaak, linkTo: .data.linkTo, label: .data.label}' |
		jq -c . | sort
}


# delete_one_link MODE: deletes the link with the lowest id and checks that
# the next pass publishes one ontkoppeld carrying the payload that link had
# when it was recorded ($before); sets $after to the links left.
delete_one_link() {
	local mode=$1 victim rc f
	victim=$(zl_sql "$db" "SELECT min(id) FROM klantinteracties_onderwerpobject
		WHERE onderwerpobjectidentificator_code_objecttype = 'zaak' AND klantcontact_id IS NOT NULL")
	zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $victim"
	after=$(links "$db")
	rc=0; zl_once "$conf" || rc=$?
	f=$(zl_drain "$q" 1 10)
	is "$rc $(zl_types "$f")" "0 ontkoppeld" "$mode: a link deleted later: ontkoppeld"
	is "$(published "$f")" "$(comm -23 <(echo "$before") <(echo "$after"))" \
		"$mode: the ontkoppeld carries the payload recorded for the link"
}

# ---- baseline (the default) ----
zl_fixture_new
conf=$ZL_TMP/baseline.conf
zl_conf "$conf" "$db" "$ZL_TMP/baseline.state" "$ex"
existing_links "$db"
before=$(links "$db")
is "$(wc -l <<<"$before")" 3 "fixture: three existing links"

rc=0; zl_once "$conf" || rc=$?
is "$rc" 0 "baseline: the first once exits 0"
f=$(zl_drain "$q" "" 2)
is "$(zl_count "$f")" 0 "baseline: the first pass publishes nothing"
is "$(zl_pending "$conf")" 0 "baseline: nothing pending"

rc=0; zl_once "$conf" || rc=$?
f=$(zl_drain "$q" "" 1)
is "$rc/$(zl_count "$f")" 0/0 "baseline: the next pass publishes nothing either"

# A link that was baselined is undone with the payload it had.
delete_one_link baseline

# ---- backfill: re-announce every current link ----
rc=0; zl_zl -c "$conf" backfill >"$ZL_TMP/backfill.out" 2>&1 || rc=$?
is "$rc" 0 "backfill exits 0"
f=$(zl_drain "$q" "" 2)
is "$(zl_count "$f")" 0 "backfill records, it does not publish"
is "$(zl_pending "$conf")" 2 "backfill: a gekoppeld pending per current link"
rc=0; zl_once "$conf" || rc=$?
f=$(zl_drain "$q" 2 10)
is "$rc $(zl_types "$f")" "0 gekoppeld gekoppeld" "backfill: once publishes a gekoppeld per current link"
is "$(published "$f")" "$after" "backfill: the gekoppeld carry the links' payloads"
is "$(zl_jq "$f" '.message_id' | sort -u | wc -l)" 2 "backfill: every gekoppeld has an id of its own"
is "$(zl_pending "$conf")" 0 "backfill: nothing pending after once"
rc=0; zl_once "$conf" || rc=$?
f=$(zl_drain "$q" "" 1)
is "$rc/$(zl_count "$f")" 0/0 "backfill: published once, not again"

# ---- backfill beside the running daemon: a request it takes ----
zl_run_bg "$conf" "$ZL_TMP/run.log"
ok "backfill beside run: the daemon made its first pass" zl_wait_for 30 zl_passes_reach "$conf" \
	"$(($(zl_passes "$conf") + 1))"
rc=0; out=$(zl_zl -c "$conf" backfill 2>"$ZL_TMP/backfill-run.err") || rc=$?
is "$rc" 0 "backfill beside run: exit 0 ($(cat "$ZL_TMP/backfill-run.err"))"
like "$out" "in use by another zaaklink process \\(pid $ZL_PID\\).*left the request .*\\.backfill" \
	"backfill beside run: says the running daemon (pid $ZL_PID) will do it"
f=$(zl_drain "$q" 2 20)
is "$(zl_types "$f")" "gekoppeld gekoppeld" "backfill beside run: the daemon publishes a gekoppeld per current link"
is "$(published "$f")" "$after" "backfill beside run: with the links' payloads"
is "$(grep -c 'msg=backfill.recorded events=2 requested=true' "$ZL_TMP/run.log")" 1 \
	"backfill beside run: the daemon logs backfill.recorded once"
ok "backfill beside run: the request is taken" test ! -e "$ZL_TMP/baseline.state.backfill"
f=$(zl_drain "$q" "" 2)
is "$(zl_count "$f")" 0 "backfill beside run: and done once, not at every pass"
rc=0; zl_stop "$ZL_PID" || rc=$?
is "$rc" 0 "backfill beside run: the daemon stops cleanly"

# ---- announce ----
zl_fixture_new
conf=$ZL_TMP/announce.conf
zl_conf "$conf" "$db" "$ZL_TMP/announce.state" "$ex" 'events.initial_sync = "announce";'
existing_links "$db"
before=$(links "$db")

rc=0; zl_once "$conf" || rc=$?
is "$rc" 0 "announce: the first once exits 0"
f=$(zl_drain "$q" 3 10)
is "$(zl_types "$f")" "gekoppeld gekoppeld gekoppeld" "announce: a gekoppeld for every existing link"
is "$(published "$f")" "$before" "announce: the gekoppeld carry the links' payloads"
is "$(zl_jq "$f" '.message_id' | sort -u | wc -l)" 3 "announce: three distinct event ids"

rc=0; zl_once "$conf" || rc=$?
f=$(zl_drain "$q" "" 1)
is "$rc/$(zl_count "$f")" 0/0 "announce: only on the first pass, nothing again"

delete_one_link announce

# ---- announce on an empty database ----
zl_fixture_new
conf=$ZL_TMP/empty.conf
zl_conf "$conf" "$db" "$ZL_TMP/empty.state" "$ex" 'events.initial_sync = "announce";'
rc=0; zl_once "$conf" || rc=$?
f=$(zl_drain "$q" "" 1)
is "$rc/$(zl_count "$f")" 0/0 "announce on an empty database: nothing"
zl_ow "$db" "$(zl_kc "$db" "Vraag")" "$(zl_uuid)" >/dev/null
rc=0; zl_once "$conf" || rc=$?
f=$(zl_drain "$q" 1 10)
is "$rc $(zl_types "$f")" "0 gekoppeld" "after the initial pass, a new link is a normal gekoppeld"

done_testing
