#!/bin/bash
# 10 000 existing links, events.initial_sync = "announce": every link is
# announced exactly once (10 000 distinct event ids and subjects), with the
# payload of its row, and nothing is published again afterwards.
. "$(dirname "$0")/../lib.sh"
zl_require_tools
zl_servers_up

N=10000
BASE=https://openklant.example.nl/klantinteracties/api/v1/onderwerpobjecten/

zl_fixture_new
conf=$ZL_TMP/zaaklink.conf
log=$ZL_TMP/zaaklink.log
zl_conf "$conf" "$db" "$ZL_TMP/state.db" "$ex" 'events.initial_sync = "announce";'

# 200 klantcontacten, N links spread over them, and 500 onderwerpobjecten
# that are not links (other object types, no klantcontact).
zl_sql "$db" "
INSERT INTO klantinteracties_klantcontact
	(uuid, nummer, kanaal, onderwerp, inhoud, taal, vertrouwelijk, plaatsgevonden_op,
	 metadata, reactie, hoofd_onderwerp_type, verdere_actie_ondernomen)
SELECT gen_random_uuid(), CASE WHEN g % 2 = 0 THEN g::text END, 'telefoon',
	'Vraag ' || g, '', 'nld', false, now(), '{}', '', '', false
FROM generate_series(1, 200) g;
INSERT INTO klantinteracties_onderwerpobject
	(uuid, klantcontact_id, was_klantcontact_id,
	 onderwerpobjectidentificator_code_objecttype,
	 onderwerpobjectidentificator_code_soort_object_id,
	 onderwerpobjectidentificator_object_id,
	 onderwerpobjectidentificator_code_register)
SELECT gen_random_uuid(), (SELECT min(id) FROM klantinteracties_klantcontact) + g % 200, NULL,
	'zaak', 'uuid', gen_random_uuid()::text, 'open-zaak'
FROM generate_series(1, $N) g;
INSERT INTO klantinteracties_onderwerpobject
	(uuid, klantcontact_id, was_klantcontact_id,
	 onderwerpobjectidentificator_code_objecttype,
	 onderwerpobjectidentificator_code_soort_object_id,
	 onderwerpobjectidentificator_object_id,
	 onderwerpobjectidentificator_code_register)
SELECT gen_random_uuid(), CASE WHEN g % 2 = 0 THEN (SELECT min(id) FROM klantinteracties_klantcontact) END,
	NULL, CASE WHEN g % 2 = 0 THEN 'klant' ELSE 'zaak' END, 'uuid', gen_random_uuid()::text, ''
FROM generate_series(1, 500) g;
" || bail "cannot load the fixture"

t0=$SECONDS
rc=0; zl_once "$conf" "$log" || rc=$?
took=$((SECONDS - t0))
is "$rc" 0 "announce of $N links: once exits 0 (took ${took} s)"
f=$(zl_drain "$q" "$N" 120)
left=$(zl_probe count "$q")
is "$(zl_count "$f")/${left:-?}" "$N/0" "announce: $N messages, none left over"
is "$(zl_jq "$f" '.routing_key' | sort -u | tr '\n' ' ')" "nl.overheid.zaken.zaak-gekoppeld " "announce: all gekoppeld"
is "$(zl_jq "$f" '.message_id' | sort -u | wc -l)" "$N" "announce: $N distinct message ids"
is "$(zl_jq "$f" 'ev.id' | sort -u | wc -l)" "$N" "announce: $N distinct event ids"
is "$(zl_jq "$f" 'ev.subject' | sort -u | wc -l)" "$N" "announce: $N distinct subjects"

expected=$(zl_sql "$db" "SELECT onderwerpobjectidentificator_object_id || ' ' || '$BASE' || uuid
	FROM klantinteracties_onderwerpobject
	WHERE onderwerpobjectidentificator_code_objecttype = 'zaak'
	  AND onderwerpobjectidentificator_code_soort_object_id = 'uuid'
	  AND klantcontact_id IS NOT NULL" | sort)
ok "announce: exactly the links of the database, each with its linkTo" \
	cmp -s <(echo "$expected") <(zl_jq "$f" 'ev.subject + " " + ev.data.linkTo' | sort)
is "$(zl_jq "$f" 'select(ev.data.zaak != "urn:uuid:" + ev.subject) | ev.subject' | wc -l)" 0 \
	"announce: data.zaak is urn:uuid:<subject> for every message"
is "$(zl_pending "$conf")" 0 "status --json: nothing pending"

rc=0; zl_once "$conf" "$log" || rc=$?
f=$(zl_drain "$q" "" 2)
is "$rc/$(zl_count "$f")" "0/0" "the next once publishes nothing"

# One change among the 10 000 is found and published alone.
zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id =
	(SELECT max(id) FROM klantinteracties_onderwerpobject
	 WHERE onderwerpobjectidentificator_code_objecttype = 'zaak' AND klantcontact_id IS NOT NULL
	   AND onderwerpobjectidentificator_code_soort_object_id = 'uuid')"
rc=0; zl_once "$conf" "$log" || rc=$?
f=$(zl_drain "$q" 1 10)
is "$rc $(zl_types "$f")" "0 ontkoppeld" "one delete among $N links: one ontkoppeld"

done_testing
