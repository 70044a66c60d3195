#!/bin/bash
# docs/EVENTS.md sections 2-6 through `zaaklink once`: one test per row of the
# table of section 4, the payload rules of section 3, and the CloudEvent and
# AMQP message of sections 5 and 6. Every change is made with SQL, the way
# Open Klant's admin, its API and raw SQL all end up in the database.
. "$(dirname "$0")/../lib.sh"
zl_require_tools
zl_servers_up

BASE=https://openklant.example.nl
LINK_PATH=/klantinteracties/api/v1/onderwerpobjecten/
UUID4_RE='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'

# Every message published from the current state, in the order they arrived
# (for the zaaklink-seq checks of section 6; reset with each state).
SEQS=
# seq_checks: every message since the state was made carries zaaklink-seq,
# a positive whole number, and the values increase strictly in publish order.
seq_checks() {
	[ -n "$SEQS" ] || return 0
	local n
	n=$(wc -l <"$SEQS")
	is "$(jq -s '[.[] | .headers["zaaklink-seq"] | select(type == "number" and . >= 1 and . == floor)]
		| length' "$SEQS")" "$n" "message: zaaklink-seq on every message of the state ($n), a positive integer"
	is "$(jq -s '[.[] | .headers["zaaklink-seq"]] | . as $s | [range(1; length) | select($s[.] <= $s[. - 1])]
		| length' "$SEQS")" 0 "message: zaaklink-seq increases strictly in publish order"
}

# new_env [EXTRA...]: a database, state, exchange, queue and configuration of
# their own, and a first pass over the empty database (the baseline).
new_env() {
	seq_checks
	SEQS=$(mktemp "$ZL_TMP/seqs.XXXXXX")
	db=$(zl_db_new) || bail "cannot create a database"
	ex=$(zl_exchange_new)
	q=$(zl_queue_new "$ex") || bail "cannot declare a queue with $ZL_PROBE"
	conf=$ZL_TMP/$db.conf
	log=$ZL_TMP/$db.log
	zl_conf "$conf" "$db" "$ZL_TMP/$db.state" "$ex" "$@" || bail "cannot write $conf"
	zl_once "$conf" "$log" || bail "the first once failed: $(tail -n 3 "$log")"
}

# pass NAME TYPES: runs once; ok when it exits 0 and exactly the events
# TYPES ("gekoppeld ontkoppeld ...", in order; "" for none) arrive. The
# messages are left in the file $F; T0 and T1 bracket the pass (UNIX s).
pass() {
	_pass "$1" "$2" cat
}

# pass_unordered NAME TYPES: the same, in any order (events of different
# onderwerpobjecten).
pass_unordered() {
	_pass "$1" "$(tr ' ' '\n' <<<"$2" | sort | tr '\n' ' ' | sed 's/ *$//')" sort
}

_pass() {
	local name=$1 want=$2 order=$3 n rc=0 left got
	n=$(wc -w <<<"$want")
	T0=$(date +%s)
	zl_once "$conf" "$log" || rc=$?
	T1=$(date +%s)
	if [ "$n" -gt 0 ]; then
		F=$(zl_drain "$q" "$n" 10)
	else
		F=$(zl_drain "$q" "" 1)
	fi
	left=$(zl_probe count "$q" 2>/dev/null)
	# Anything beyond the expected messages counts as unexpected.
	[ "${left:-0}" -gt 0 ] && cat "$(zl_drain "$q" "" 1)" >>"$F"
	cat "$F" >>"$SEQS"
	got=$(zl_types "$F" | tr ' ' '\n' | $order | tr '\n' ' ' | sed 's/ *$//')
	is "once=$rc events=[$got]" "once=0 events=[$want]" "$name"
	[ "$rc" = 0 ] || diag "$(tail -n 5 "$log")"
}

# data FILE N: the data of the N-th message (1-based) as compact JSON.
data() { zl_jq "$1" "ev.data" | jq -c . | sed -n "${2}p"; }
# field FILE N FILTER: FILTER of the N-th message.
field() { zl_jq "$1" "$3" | sed -n "${2}p"; }

# ======================================================= section 2, 4 ====

new_env
kc=$(zl_kc "$db" "Aanvraag parkeervergunning")
z1=$(zl_uuid)

pass "first pass on an empty database publishes nothing" ""

o1=$(zl_ow "$db" "$kc" "$z1")
u1=$(zl_ow_uuid "$db" "$o1")
pass "absent -> link: gekoppeld(now)" "gekoppeld"
G1=$F
gk_t0=$T0 gk_t1=$T1

is "$(field "$G1" 1 'ev.data.zaak')" "urn:uuid:$z1" "gekoppeld: data.zaak is urn:uuid:<object_id>"
is "$(field "$G1" 1 'ev.data.linkTo')" "$BASE$LINK_PATH$u1" \
	"gekoppeld: data.linkTo is base_url + $LINK_PATH + uuid"
is "$(field "$G1" 1 'ev.data.label')" "Aanvraag parkeervergunning" \
	"gekoppeld: data.label is onderwerp when nummer is NULL"
is "$(field "$G1" 1 'ev.data.linkObjectType')" "Onderwerpobject" \
	"gekoppeld: data.linkObjectType is Onderwerpobject"
is "$(field "$G1" 1 'ev.data | keys | join(",")')" "label,linkObjectType,linkTo,zaak" \
	"gekoppeld: data has exactly zaak, linkTo, label, linkObjectType"

pass "link -> link, nothing changed: nothing (repeated once)" ""
pass "repeated once without changes, again: nothing" ""

# ---- section 5: the CloudEvent ----
is "$(field "$G1" 1 'ev.specversion')" "1.0" "CloudEvent: specversion 1.0"
is "$(field "$G1" 1 'ev.type')" "nl.overheid.zaken.zaak-gekoppeld" "CloudEvent: type zaak-gekoppeld"
is "$(field "$G1" 1 'ev.source')" "urn:nld:oin:01823288444:openklant" "CloudEvent: source is events.source"
is "$(field "$G1" 1 'ev.subject')" "$z1" "CloudEvent: subject is the object_id"
like "$(field "$G1" 1 'ev.id')" "$UUID4_RE" "CloudEvent: id is a lower-case UUIDv4"
like "$(field "$G1" 1 'ev.time')" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' \
	"CloudEvent: time is UTC in whole seconds"
t=$(field "$G1" 1 'ev.time | fromdateiso8601')
ok "CloudEvent: time is when the change was detected" \
	test "${t:-0}" -ge "$gk_t0" -a "${t:-0}" -le "$gk_t1"
is "$(field "$G1" 1 'ev.datacontenttype')" "application/json" "CloudEvent: datacontenttype application/json"
is "$(field "$G1" 1 'ev | keys | join(",")')" "data,datacontenttype,id,source,specversion,subject,time,type" \
	"CloudEvent: exactly the attributes of section 5"
is "$(field "$G1" 1 '[ev | .. | select(. == null)] | length')" 0 "CloudEvent: no attribute is null"

# ---- section 6: the AMQP message ----
is "$(field "$G1" 1 '.exchange')" "$ex" "message: published to amqp.exchange"
is "$(field "$G1" 1 '.routing_key')" "nl.overheid.zaken.zaak-gekoppeld" "message: routing key is the event type"
is "$(field "$G1" 1 '.content_type')" "application/cloudevents+json" \
	"message: content_type application/cloudevents+json, no charset"
is "$(field "$G1" 1 '.delivery_mode')" 2 "message: delivery_mode 2 (persistent)"
is "$(field "$G1" 1 '.message_id == ev.id')" true "message: message_id is the event id"
is "$(field "$G1" 1 '.timestamp == (ev.time | fromdateiso8601)')" true "message: timestamp is the event time"
is "$(field "$G1" 1 '.type')" "nl.overheid.zaken.zaak-gekoppeld" "message: type is the event type"
is "$(field "$G1" 1 '.app_id')" "zaaklink" "message: app_id zaaklink"
is "$(field "$G1" 1 '.headers | keys | join(",")')" \
	"cloudEvents_id,cloudEvents_source,cloudEvents_specversion,cloudEvents_subject,cloudEvents_time,cloudEvents_type,zaaklink-seq" \
	"message: exactly the six cloudEvents_ headers and zaaklink-seq"
is "$(field "$G1" 1 '(.headers | [.cloudEvents_specversion, .cloudEvents_id, .cloudEvents_source,
	.cloudEvents_type, .cloudEvents_subject, .cloudEvents_time]) ==
	(ev | [.specversion, .id, .source, .type, .subject, .time])')" true \
	"message: the headers carry the CloudEvent's attributes"
is "$(field "$G1" 1 '[.headers | to_entries[] | select(.key | startswith("cloudEvents_")) | .value | type]
	| unique | join(",")')" "string" "message: the cloudEvents_ headers are strings"
is "$(field "$G1" 1 '.headers["zaaklink-seq"] | type')" "number" "message: zaaklink-seq is a number"

# ---- link -> absent ----
zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $o1"
pass "link -> absent (deleted): ontkoppeld(previous)" "ontkoppeld"
is "$(data "$F" 1)" "$(data "$G1" 1)" "ontkoppeld carries the payload of the gekoppeld it undoes"
is "$(field "$F" 1 'ev.subject')" "$z1" "ontkoppeld: subject is the object_id"
isnt "$(field "$F" 1 'ev.id')" "$(field "$G1" 1 'ev.id')" "ontkoppeld has an id of its own"
is "$(field "$F" 1 '.content_type + " " + (.delivery_mode|tostring) + " " + .app_id + " " + .type')" \
	"application/cloudevents+json 2 zaaklink nl.overheid.zaken.zaak-ontkoppeld" \
	"ontkoppeld: message properties as for gekoppeld"

# ---- cascade delete of a klantcontact ----
kc2=$(zl_kc "$db" "Klacht over afvalinzameling")
o2a=$(zl_ow "$db" "$kc2" "$(zl_uuid)")
o2b=$(zl_ow "$db" "$kc2" "$(zl_uuid)")
pass "two new links: two gekoppeld" "gekoppeld gekoppeld"
G2=$F
# Django's cascade: the onderwerpobjecten row by row, then the klantcontact,
# in one transaction.
zl_sql "$db" "BEGIN;
	DELETE FROM klantinteracties_onderwerpobject WHERE id = $o2a;
	DELETE FROM klantinteracties_onderwerpobject WHERE id = $o2b;
	DELETE FROM klantinteracties_klantcontact WHERE id = $kc2;
	COMMIT;"
pass "link -> absent by cascade delete of its klantcontact (2 onderwerpobjecten): 2 ontkoppeld" \
	"ontkoppeld ontkoppeld"
is "$(zl_jq "$F" 'ev.data' | jq -c . | sort)" "$(zl_jq "$G2" 'ev.data' | jq -c . | sort)" \
	"cascade delete: the ontkoppeld carry the payloads published for both links"

# ---- klantcontact NULL <-> set ----
kc3=$(zl_kc "$db" "Vraag over bijstand")
z3=$(zl_uuid)
o3=$(zl_ow "$db" NULL "$z3")
pass "onderwerpobject without klantcontact is not a link: nothing" ""
zl_sql "$db" "UPDATE klantinteracties_onderwerpobject SET klantcontact_id = $kc3 WHERE id = $o3"
pass "not a link -> link (klantcontact NULL -> set): gekoppeld" "gekoppeld"
G3=$F
zl_sql "$db" "UPDATE klantinteracties_onderwerpobject SET klantcontact_id = NULL WHERE id = $o3"
pass "link -> not a link (klantcontact set -> NULL): ontkoppeld" "ontkoppeld"
is "$(data "$F" 1)" "$(data "$G3" 1)" "klantcontact -> NULL: ontkoppeld carries the published payload"

# ---- what is a link: exactly, case-sensitively ----
kc4=$(zl_kc "$db" "Vraag over parkeren")
zl_ow "$db" "$kc4" "$(zl_uuid)" Zaak >/dev/null
zl_ow "$db" "$kc4" "$(zl_uuid)" zaak UUID >/dev/null
zl_ow "$db" "$kc4" "$(zl_uuid)" klant uuid >/dev/null
zl_ow "$db" "$kc4" "$(zl_uuid)" '' '' '' >/dev/null
zl_ow "$db" "$kc4" "$(zl_uuid)" ' zaak' uuid >/dev/null
pass "objecttype/soort other than exactly 'zaak'/'uuid': not a link, nothing" ""

# ---- identificator changes ----
z5=$(zl_uuid)
o5=$(zl_ow "$db" "$kc4" "$z5")
pass "new link for the identificator tests: gekoppeld" "gekoppeld"
G5=$F

z5b=$(zl_uuid)
zl_sql "$db" "UPDATE klantinteracties_onderwerpobject
	SET onderwerpobjectidentificator_object_id = '$z5b' WHERE id = $o5"
pass "link -> link, object_id changed: ontkoppeld(previous), gekoppeld(now)" "ontkoppeld gekoppeld"
is "$(data "$F" 1)" "$(data "$G5" 1)" "object_id changed: the ontkoppeld payload is the earlier gekoppeld's"
is "$(field "$F" 1 'ev.subject')" "$z5" "object_id changed: the ontkoppeld's subject is the old object_id"
is "$(field "$F" 2 'ev.data.zaak') $(field "$F" 2 'ev.subject')" "urn:uuid:$z5b $z5b" \
	"object_id changed: the gekoppeld names the new zaak"
G5=$(mktemp "$ZL_TMP/g5.XXXXXX") && sed -n 2p "$F" >"$G5"

zl_sql "$db" "UPDATE klantinteracties_onderwerpobject
	SET onderwerpobjectidentificator_code_register = 'open-zaak-2' WHERE id = $o5"
pass "link -> link, code_register changed: ontkoppeld(previous), gekoppeld(now)" "ontkoppeld gekoppeld"
is "$(data "$F" 1)" "$(data "$G5" 1)" "code_register changed: the ontkoppeld payload is the earlier gekoppeld's"
is "$(data "$F" 2)" "$(data "$G5" 1)" "code_register changed: the payload itself stays the same"
G5=$(mktemp "$ZL_TMP/g5.XXXXXX") && sed -n 2p "$F" >"$G5"

zl_sql "$db" "UPDATE klantinteracties_onderwerpobject
	SET onderwerpobjectidentificator_code_register = '' WHERE id = $o5"
pass "link -> link, code_register set to '': ontkoppeld(previous), gekoppeld(now)" "ontkoppeld gekoppeld"
G5=$(mktemp "$ZL_TMP/g5.XXXXXX") && sed -n 2p "$F" >"$G5"

zl_sql "$db" "UPDATE klantinteracties_onderwerpobject
	SET onderwerpobjectidentificator_code_soort_object_id = 'url' WHERE id = $o5"
pass "link -> not a link, code_soort_object_id changed: ontkoppeld(previous)" "ontkoppeld"
is "$(data "$F" 1)" "$(data "$G5" 1)" "code_soort_object_id changed: the ontkoppeld payload is the published one"
zl_sql "$db" "UPDATE klantinteracties_onderwerpobject
	SET onderwerpobjectidentificator_code_soort_object_id = 'uuid' WHERE id = $o5"
pass "not a link -> link again (code_soort_object_id back to 'uuid'): gekoppeld" "gekoppeld"
G5=$F

zl_sql "$db" "UPDATE klantinteracties_onderwerpobject
	SET onderwerpobjectidentificator_code_objecttype = 'zaaktype' WHERE id = $o5"
pass "link -> not a link, code_objecttype changed: ontkoppeld(previous)" "ontkoppeld"
is "$(data "$F" 1)" "$(data "$G5" 1)" "code_objecttype changed: the ontkoppeld payload is the published one"

# ---- label changes ----
kc6=$(zl_kc "$db" "Melding openbare ruimte")
kc6b=$(zl_kc "$db" "Vraag over WOZ-waarde")
o6=$(zl_ow "$db" "$kc6" "$(zl_uuid)")
pass "new link for the label tests: gekoppeld" "gekoppeld"
G6=$F

zl_sql "$db" "UPDATE klantinteracties_klantcontact SET onderwerp = 'Melding openbare verlichting' WHERE id = $kc6"
pass "link -> link, label changed via onderwerp: ontkoppeld(previous), gekoppeld(now)" "ontkoppeld gekoppeld"
is "$(data "$F" 1)" "$(data "$G6" 1)" "onderwerp changed: the ontkoppeld payload is the earlier gekoppeld's"
is "$(field "$F" 2 'ev.data.label')" "Melding openbare verlichting" "onderwerp changed: the gekoppeld has the new label"
G6=$(mktemp "$ZL_TMP/g6.XXXXXX") && sed -n 2p "$F" >"$G6"

zl_sql "$db" "UPDATE klantinteracties_klantcontact SET nummer = '123' WHERE id = $kc6"
pass "link -> link, label changed via nummer NULL -> '123': ontkoppeld(previous), gekoppeld(now)" \
	"ontkoppeld gekoppeld"
is "$(data "$F" 1)" "$(data "$G6" 1)" "nummer set: the ontkoppeld payload is the earlier gekoppeld's"
is "$(field "$F" 2 'ev.data.label')" "Melding openbare verlichting - (123)" \
	"label is 'onderwerp - (nummer)' when nummer is set"
G6=$(mktemp "$ZL_TMP/g6.XXXXXX") && sed -n 2p "$F" >"$G6"

zl_sql "$db" "UPDATE klantinteracties_onderwerpobject SET klantcontact_id = $kc6b WHERE id = $o6"
pass "link -> link, moved to another klantcontact with another label: ontkoppeld(previous), gekoppeld(now)" \
	"ontkoppeld gekoppeld"
is "$(data "$F" 1)" "$(data "$G6" 1)" "moved: the ontkoppeld payload is the earlier gekoppeld's"
is "$(field "$F" 2 'ev.data.label')" "Vraag over WOZ-waarde" "moved: the gekoppeld has the new klantcontact's label"

kc7=$(zl_kc "$db" "Aanvraag uittreksel BRP" "")
zl_ow "$db" "$kc7" "$(zl_uuid)" >/dev/null
pass "link on a klantcontact with nummer '': gekoppeld" "gekoppeld"
is "$(field "$F" 1 'ev.data.label')" "Aanvraag uittreksel BRP" "label is onderwerp when nummer is ''"

# Two links on one klantcontact: a new onderwerp relinks both, each
# ontkoppeld before its gekoppeld.
kc8=$(zl_kc "$db" "Vraag over subsidie")
o8a=$(zl_ow "$db" "$kc8" "$(zl_uuid)")
o8b=$(zl_ow "$db" "$kc8" "$(zl_uuid)")
pass "two links on one klantcontact: two gekoppeld" "gekoppeld gekoppeld"
zl_sql "$db" "UPDATE klantinteracties_klantcontact SET onderwerp = 'Vraag over energietoeslag' WHERE id = $kc8"
pass_unordered "onderwerp of a klantcontact with two links changed: both relinked" \
	"ontkoppeld gekoppeld ontkoppeld gekoppeld"
for o in "$o8a" "$o8b"; do
	u=$(zl_ow_uuid "$db" "$o")
	is "$(zl_jq "$F" "select(ev.data.linkTo | endswith(\"$u\")) | .routing_key | sub(\"^.*zaak-\"; \"\")" |
		tr '\n' ' ')" "ontkoppeld gekoppeld " "relink of onderwerpobject $o: ontkoppeld before gekoppeld"
done

# ---- label length ----
long=$(printf 'x%.0s' $(seq 1 100))
zl_ow "$db" "$(zl_kc "$db" "$long")" "$(zl_uuid)" >/dev/null
pass "link with a 100-character onderwerp: gekoppeld" "gekoppeld"
is "$(field "$F" 1 'ev.data.label')" "${long:0:80}" "label truncated to 80 characters (default label_max_length)"

umlaut=$(printf 'ë%.0s' $(seq 1 100))
zl_ow "$db" "$(zl_kc "$db" "$umlaut")" "$(zl_uuid)" >/dev/null
pass "link with a 100-character UTF-8 onderwerp: gekoppeld" "gekoppeld"
is "$(field "$F" 1 'ev.data.label | length')" 80 "label truncation counts characters, not bytes"
is "$(field "$F" 1 'ev.data.label')" "$(printf 'ë%.0s' $(seq 1 80))" "label truncation never cuts a UTF-8 sequence"

mixed="$(printf 'a%.0s' $(seq 1 78))"
zl_ow "$db" "$(zl_kc "$db" "$mixed" "4567")" "$(zl_uuid)" >/dev/null
pass "link with a 78-character onderwerp and a nummer: gekoppeld" "gekoppeld"
is "$(field "$F" 1 'ev.data.label')" "$mixed -" "the label with its nummer suffix is truncated as a whole"

# ---- between two passes ----
o9=$(zl_ow "$db" "$kc4" "$(zl_uuid)")
zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $o9"
pass "created and deleted between two passes: nothing" ""

z10=$(zl_uuid)
o10=$(zl_ow "$db" "$kc4" "$z10")
pass "new link for the revert test: gekoppeld" "gekoppeld"
zl_sql "$db" "UPDATE klantinteracties_onderwerpobject SET onderwerpobjectidentificator_object_id = '$(zl_uuid)'
	WHERE id = $o10"
zl_sql "$db" "UPDATE klantinteracties_onderwerpobject SET onderwerpobjectidentificator_object_id = '$z10'
	WHERE id = $o10"
pass "a change and its revert between two passes: nothing" ""

# ---- invalid zaak id (skip, the default) ----
kc11=$(zl_kc "$db" "Vraag over paspoort")
o11=$(zl_ow "$db" "$kc11" "ZAAK-2024-0001")
u11=$(zl_ow_uuid "$db" "$o11")
: >"$log"
pass "invalid zaak id, invalid_zaak_id = skip: nothing" ""
pass "invalid zaak id, next pass: still nothing" ""
is "$(grep 'level=warning' "$log" | grep -c "$u11")" 1 \
	"invalid zaak id: logged once at level=warning with the onderwerpobject uuid"
z11=$(zl_uuid)
zl_sql "$db" "UPDATE klantinteracties_onderwerpobject SET onderwerpobjectidentificator_object_id = '$z11'
	WHERE id = $o11"
pass "invalid zaak id corrected: gekoppeld" "gekoppeld"
is "$(field "$F" 1 'ev.subject')" "$z11" "invalid zaak id corrected: the gekoppeld names the corrected zaak"

o12=$(zl_ow "$db" "$kc11" "not-a-uuid")
pass "another invalid zaak id: nothing" ""
zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $o12"
pass "a skipped link deleted: nothing (it was never published)" ""

for bad in "{$(zl_uuid)}" "$(zl_uuid | tr -d -)" "$(zl_uuid) " "urn:uuid:$(zl_uuid)" \
	"$(zl_uuid | sed 's/^./g/')"; do
	zl_ow "$db" "$kc11" "$bad" >/dev/null
done
pass "non-canonical UUIDs (braces, no dashes, trailing blank, urn:, non-hex): nothing" ""

Z13=$(zl_uuid | tr a-f A-F)
zl_ow "$db" "$kc11" "$Z13" >/dev/null
pass "upper-case UUID is a valid zaak id: gekoppeld" "gekoppeld"
is "$(field "$F" 1 'ev.subject + " " + ev.data.zaak')" "$Z13 urn:uuid:$Z13" \
	"upper-case UUID: published as it is in the database"

# ============================================ relink_on_label_change ====

new_env 'events.relink_on_label_change = false;'
kc=$(zl_kc "$db" "Aanvraag kapvergunning")
kcb=$(zl_kc "$db" "Vraag over erfpacht")
o=$(zl_ow "$db" "$kc" "$(zl_uuid)")
pass "relink_on_label_change = false: new link: gekoppeld" "gekoppeld"
G=$F
zl_sql "$db" "UPDATE klantinteracties_klantcontact SET onderwerp = 'Aanvraag omgevingsvergunning' WHERE id = $kc"
pass "relink_on_label_change = false: label changed via onderwerp: nothing" ""
zl_sql "$db" "UPDATE klantinteracties_klantcontact SET nummer = '77' WHERE id = $kc"
pass "relink_on_label_change = false: label changed via nummer: nothing" ""
zl_sql "$db" "UPDATE klantinteracties_onderwerpobject SET klantcontact_id = $kcb WHERE id = $o"
pass "relink_on_label_change = false: moved to another klantcontact: nothing" ""
zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $o"
pass "relink_on_label_change = false: link deleted: ontkoppeld" "ontkoppeld"
is "$(data "$F" 1)" "$(data "$G" 1)" \
	"relink_on_label_change = false: the ontkoppeld carries the published label, not the current one"

o=$(zl_ow "$db" "$kc" "$(zl_uuid)")
pass "relink_on_label_change = false: another link: gekoppeld" "gekoppeld"
zl_sql "$db" "UPDATE klantinteracties_onderwerpobject SET onderwerpobjectidentificator_object_id = '$(zl_uuid)'
	WHERE id = $o"
pass "relink_on_label_change = false: object_id changed still relinks" "ontkoppeld gekoppeld"

# ====================================================== emit invalid ====

new_env 'events.invalid_zaak_id = "emit";'
kc=$(zl_kc "$db" "Vraag over rijbewijs")
o=$(zl_ow "$db" "$kc" "ZAAK-2024-0002")
pass "invalid_zaak_id = emit: invalid zaak id: gekoppeld" "gekoppeld"
is "$(field "$F" 1 'ev.subject + " " + ev.data.zaak')" "ZAAK-2024-0002 urn:uuid:ZAAK-2024-0002" \
	"invalid_zaak_id = emit: published raw, as Open Klant would"
G=$F
zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $o"
pass "invalid_zaak_id = emit: deleted: ontkoppeld" "ontkoppeld"
is "$(data "$F" 1)" "$(data "$G" 1)" "invalid_zaak_id = emit: the ontkoppeld carries the published payload"

# ================================================ label_max_length, url ====

new_env 'events.label_max_length = 0;' 'source.base_url = "https://openklant.example.nl/";'
long=$(printf 'y%.0s' $(seq 1 200))
o=$(zl_ow "$db" "$(zl_kc "$db" "$long" "1234567890")" "$(zl_uuid)")
u=$(zl_ow_uuid "$db" "$o")
pass "label_max_length = 0: gekoppeld" "gekoppeld"
is "$(field "$F" 1 'ev.data.label')" "$long - (1234567890)" "label_max_length = 0: the label is not truncated"
is "$(field "$F" 1 'ev.data.linkTo')" "$BASE$LINK_PATH$u" "base_url with a trailing '/': linkTo has no double slash"

new_env 'events.label_max_length = 10;'
zl_ow "$db" "$(zl_kc "$db" "Aanvraag parkeervergunning")" "$(zl_uuid)" >/dev/null
pass "label_max_length = 10: gekoppeld" "gekoppeld"
is "$(field "$F" 1 'ev.data.label')" "Aanvraag p" "label_max_length = 10: the label has 10 characters"

seq_checks
done_testing
