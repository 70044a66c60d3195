#!/bin/bash
# Fault 7, hostile rows: object ids that are empty, 200 characters long,
# upper case, padded with spaces, quoted or with a newline; onderwerp with
# quotes, backslashes, control characters, newlines, 4-byte UTF-8 and 200
# characters; nummer NULL and ''. Every message must be valid JSON whose
# data is exactly what docs/EVENTS.md 3 gives for the row (computed here from
# the row as PostgreSQL returns it), nothing may crash, and each row that
# is skipped (invalid_zaak_id = "skip") is logged once, not once per pass.
# The same rows are published raw under invalid_zaak_id = "emit".
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
zl_require_tools
zl_servers_up

zl_fixture_new
conf=$ZL_TMP/skip.conf
log=$ZL_TMP/zaaklink.log
zl_conf "$conf" "$db" "$ZL_TMP/skip.db" "$ex" 'events.initial_sync = "announce";'
ex2=$(zl_exchange_new)
q2=$(zl_queue_new "$ex2") || bail "cannot declare a queue"
conf2=$ZL_TMP/emit.conf
zl_conf "$conf2" "$db" "$ZL_TMP/emit.db" "$ex2" 'events.invalid_zaak_id = "emit";' 'events.initial_sync = "announce";'

u=$(zl_uuid)
long=$(printf 'a%.0s' {1..200})
e200=$(printf 'é%.0s' {1..200})
# onderwerp values, in SQL (E'' strings where they hold escapes)
onderwerpen=(
	"'Zeg \"hallo\" en ''dag'''"
	"E'back\\\\slash \\\\\\\\ twee \\\\n geen newline'"
	"E'ctrl\\x01\\x02\\x1f tab\\t bel\\x07 del\\x7f'"
	"E'regel 1\\nregel 2\\r\\nregel 3'"
	"'emoji 😀 muziek 𝄞 cjk 漢字 '"
	"'$e200'"
	"'$(printf 'x%.0s' {1..78})😀😀 past net niet'"
	"'</script><b>&amp;</b> {\"json\": [1]}'"
	"'nummer leeg'"
	"'nummer null'"
)
nummers=(NULL "'N1'" NULL "'N2'" NULL "'N3'" NULL NULL "''" NULL)
for i in "${!onderwerpen[@]}"; do
	kc=$(zl_sql "$db" "INSERT INTO klantinteracties_klantcontact
		(uuid, nummer, kanaal, onderwerp, inhoud, taal, vertrouwelijk, plaatsgevonden_op,
		 metadata, reactie, hoofd_onderwerp_type, verdere_actie_ondernomen)
		VALUES (gen_random_uuid(), ${nummers[$i]}, 'telefoon', ${onderwerpen[$i]}, '', 'nld',
		 false, now(), '{}', '', '', false) RETURNING id") || bail "cannot insert onderwerp $i"
	zl_ow "$db" "$kc" "$(zl_uuid)" >/dev/null
done
kc=$(zl_kc "$db" "Vreemde zaak-id")
# object ids: the valid ones (either case) are links, the rest are skipped
for z in "" "$long" "${u^^}" " $u " "\"$u\"" "$u'" "${u:0:35}" "$u"$'\n'"tweede regel" "${u//-/}" "$(zl_uuid)"; do
	zl_ow "$db" "$kc" "$z" >/dev/null || bail "cannot insert object id '$z'"
done
rows=$(zl_sql "$db" "SELECT count(*) FROM klantinteracties_onderwerpobject")

# Several passes of the daemon: skipped rows must be logged once.
zl_run_bg "$conf" "$log"
ok "run with hostile rows: 5 passes within 60 s" zl_wait_for 60 zl_passes_reach "$conf" 5
rc=0; zl_stop "$ZL_PID" || rc=$?
is "$rc" 0 "run with hostile rows: still running after 5 passes, stops cleanly"
rc=0; zl_once "$conf2" "$log" || rc=$?
is "$rc" 0 "once with invalid_zaak_id = emit: exit 0"
zl_once "$conf2" "$log"

# What docs/EVENTS.md 3 says each row gives, from the rows as PostgreSQL has them.
zl_sql "$db" "SELECT json_build_object('uuid', o.uuid, 'zaak', o.onderwerpobjectidentificator_object_id,
		'onderwerp', k.onderwerp, 'nummer', k.nummer)
	FROM klantinteracties_onderwerpobject o JOIN klantinteracties_klantcontact k ON k.id = o.klantcontact_id" \
	>"$ZL_TMP/rows.jsonl"
expected() { # FILTER over the rows: the payloads expected, sorted
	jq -c -s --arg base "https://openklant.example.nl/klantinteracties/api/v1/onderwerpobjecten/" "
		map(select($1)) | map({zaak: (\"urn:uuid:\" + .zaak), linkTo: (\$base + .uuid),
		label: ((if (.nummer // \"\") == \"\" then .onderwerp else .onderwerp + \" - (\" + .nummer + \")\" end)
			| .[0:80]), linkObjectType: \"Onderwerpobject\"}) | sort_by(.linkTo) | .[]" "$ZL_TMP/rows.jsonl"
}
canonical='.zaak | test("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")'
f=$(zl_drain "$q" "" 2)
f2=$(zl_drain "$q2" "" 2)
for pair in "skip:$f:$canonical" "emit:$f2:true"; do
	mode=${pair%%:*} rest=${pair#*:}
	file=${rest%%:*} filter=${rest#*:}
	is "$(jq -c . "$file" >/dev/null 2>&1 && zl_jq "$file" '.body | fromjson | type' | sort -u)" object \
		"$mode: every message body is a JSON object"
	ok "$mode: each event's data is exactly the payload of its row (docs/EVENTS.md 3)" \
		cmp <(expected "$filter") <(zl_jq "$file" 'ev.data | tojson' | jq -c -s 'sort_by(.linkTo) | .[]')
	is "$(zl_jq "$file" 'ev | select(.subject != (.data.zaak | ltrimstr("urn:uuid:"))) | .id')" "" \
		"$mode: subject is the object id, byte for byte"
	is "$(zl_jq "$file" 'ev | select((.data.label | length) > 80) | .id')" "" "$mode: no label over 80 characters"
done
is "$(zl_count "$f")" "$(expected "$canonical" | wc -l)" "skip: one gekoppeld per valid link, no more"
is "$(zl_count "$f2")" "$(expected true | wc -l)" "emit: one gekoppeld per link, the invalid ones too"
skipped=$(expected "($canonical) | not" | jq -r '.linkTo | sub(".*/"; "")')
n_skipped=$(echo "$skipped" | grep -c .)
is "$n_skipped" 8 "8 rows have an object id that is not a canonical UUID"
bad=
while read -r ow; do
	c=$(grep 'msg=link.invalid_zaak_id' "$log" | grep -c "onderwerpobject=$ow ")
	[ "$c" = 1 ] || bad+="$ow:$c "
done <<<"$skipped"
is "$bad" "" "each skipped row is logged once over 5 passes, on one line"
is "$(grep -vc '^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T' "$log")" 0 "every log line is a whole line (no raw newline from a row)"
is "$(grep -c 'level=error' "$log")" 0 "no errors logged"
zl_figures "fault=hostile rows=$rows skipped=$n_skipped skip_events=$(zl_count "$f") emit_events=$(zl_count "$f2")"
done_testing
