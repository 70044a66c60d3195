#!/bin/bash
# Ids at the ends of bigint. Open Klant's ids are integer, but a database
# migrated to BigAutoField (or written to by hand) has bigint ids up to
# 9223372036854775807 and down to -9223372036854775808. The fingerprint
# range of such an id reaches past the end of int64; its bounds saturate,
# so the link is announced, a change of its klantcontact is seen, and its
# deletion gives an ontkoppeld. range_size = 1000 makes the ranges at both
# ends overflow (INT64_MAX is not 999 modulo 1000, INT64_MIN not -999).
. "$(dirname "$0")/../lib.sh"
zl_require_tools
zl_servers_up

MAX=9223372036854775807
MIN=-9223372036854775808

zl_fixture_new
zl_sql "$db" "
ALTER TABLE klantinteracties_klantcontact ALTER COLUMN id TYPE bigint;
ALTER TABLE klantinteracties_onderwerpobject ALTER COLUMN id TYPE bigint,
	ALTER COLUMN klantcontact_id TYPE bigint, ALTER COLUMN was_klantcontact_id TYPE bigint;" \
	>/dev/null || bail "cannot make the ids bigint"

# kc ID ONDERWERP / ow ID KC_ID: a klantcontact, an onderwerpobject that is a
# zaak link, with the given ids.
kc() {
	zl_sql "$db" "INSERT INTO klantinteracties_klantcontact
		(id, uuid, nummer, kanaal, onderwerp, inhoud, taal, vertrouwelijk, plaatsgevonden_op,
		 metadata, reactie, hoofd_onderwerp_type, verdere_actie_ondernomen)
		VALUES ($1, gen_random_uuid(), NULL, 'telefoon', $(zl_q "$2"), '', 'nld', false, now(),
		 '{}', '', '', false)" >/dev/null
}
declare -A zaak=()
ow() {
	zaak[$1]=$(zl_uuid)
	zl_sql "$db" "INSERT INTO klantinteracties_onderwerpobject
		(id, uuid, klantcontact_id, onderwerpobjectidentificator_code_objecttype,
		 onderwerpobjectidentificator_code_soort_object_id,
		 onderwerpobjectidentificator_object_id, onderwerpobjectidentificator_code_register)
		VALUES ($1, gen_random_uuid(), $2, 'zaak', 'uuid', '${zaak[$1]}', 'open-zaak')" >/dev/null
}
# subjects FILE TYPE: the subjects of the events of one type, sorted, one line.
subjects() {
	zl_jq "$1" "select(.routing_key == \"nl.overheid.zaken.zaak-$2\") | ev.subject" | sort | tr '\n' ' '
}
# expect ID...: the zaak ids of those onderwerpobjecten, as subjects() prints them.
expect() {
	local id
	for id in "$@"; do echo "${zaak[$id]}"; done | sort | tr '\n' ' '
}

kc "$MAX" "Laatste"
kc "$MIN" "Eerste"
kc 1 "Gewoon"
ow "$MAX" "$MAX"
ow "$((MAX - 1))" 1
ow "$MIN" "$MIN"
ow "$((MIN + 1))" 1
ow 5 "$MAX"
is "$(zl_sql "$db" "SELECT count(*) FROM klantinteracties_onderwerpobject
	WHERE id IN ($MAX, $MIN)")" 2 "fixture: onderwerpobjecten $MAX and $MIN exist"

conf=$ZL_TMP/zaaklink.conf
zl_conf "$conf" "$db" "$ZL_TMP/state.db" "$ex" 'events.initial_sync = "announce";' \
	'source.range_size = 1000;'

rc=0; zl_once "$conf" || rc=$?
f=$(zl_drain "$q" 5 10)
is "$rc" 0 "the first once exits 0"
is "$(subjects "$f" gekoppeld)" "$(expect "$MAX" "$((MAX - 1))" "$MIN" "$((MIN + 1))" 5)" \
	"a gekoppeld for every link, ids $MAX and $MIN included"
is "$(zl_count "$f")" 5 "five events, no more"

rc=0; zl_once "$conf" || rc=$?
f=$(zl_drain "$q" "" 1)
is "$rc/$(zl_count "$f")" 0/0 "the next pass finds nothing new"

# A klantcontact at either end changes its onderwerp: the links pointing to
# it are found through the klantcontact ranges, which saturate too.
zl_sql "$db" "UPDATE klantinteracties_klantcontact SET onderwerp = onderwerp || ' (gewijzigd)'
	WHERE id IN ($MAX, $MIN)" >/dev/null
rc=0; zl_once "$conf" || rc=$?
f=$(zl_drain "$q" 6 10)
is "$rc" 0 "once after the klantcontact changes exits 0"
is "$(subjects "$f" ontkoppeld)" "$(expect "$MAX" "$MIN" 5)" \
	"klantcontact $MAX and $MIN relabelled: an ontkoppeld for each of their links"
is "$(subjects "$f" gekoppeld)" "$(expect "$MAX" "$MIN" 5)" \
	"and a gekoppeld with the new label"
is "$(zl_jq "$f" 'select(.routing_key == "nl.overheid.zaken.zaak-gekoppeld") | ev.data.label' |
	sort | tr '\n' ' ')" "Eerste (gewijzigd) Laatste (gewijzigd) Laatste (gewijzigd) " \
	"the new labels"

zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id IN ($MAX, $MIN)" >/dev/null
rc=0; zl_once "$conf" || rc=$?
f=$(zl_drain "$q" 2 10)
is "$rc" 0 "once after the deletion exits 0"
is "$(zl_types "$f")" "ontkoppeld ontkoppeld" "deleting onderwerpobjecten $MAX and $MIN: two ontkoppeld"
is "$(subjects "$f" ontkoppeld)" "$(expect "$MAX" "$MIN")" "for exactly those two links"

done_testing
