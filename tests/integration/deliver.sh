#!/bin/bash
# zaaklink deliver against the Open Zaak stand-in (tests/tools/openzaak-
# standin), with real PostgreSQL, RabbitMQ and `zaaklink once`/`run`: the
# ZaakObjects in the stand-in are exactly the links of Open Klant's database
# after each case. An announce delivered once; the same links announced
# again (backfill) make no second ZaakObject (deliver.skipped
# reason=exists); a link to an unknown zaak and a label over 80 characters,
# which Open Zaak accepts with 202 and drops, are parked as not_created; an
# ontkoppeld deletes; a 500 goes through a retry tier and is delivered
# once; an ontkoppeld that overtakes its gekoppeld through a retry makes
# the late gekoppeld stale (deliver.skipped reason=stale); a 415 parks at
# once; refused credentials park nothing and leave the message queued, and
# the right secret put in deliver.secret_file is taken by a SIGHUP, without
# a restart (a reload of a restart setting or an incomplete deliver group
# is refused, nothing taken).
. "$(dirname "$0")/../lib.sh"
zl_require_tools curl jq
zl_servers_up
[ -x "${ZL_OPENZAAK:-}" ] || bail "ZL_OPENZAAK ('${ZL_OPENZAAK:-}') is not an executable"

Z1=7a1c2a10-0000-4000-8000-000000000001
Z2=7a1c2a10-0000-4000-8000-000000000002
Z3=7a1c2a10-0000-4000-8000-000000000003
Z4=7a1c2a10-0000-4000-8000-000000000004 # unknown to Open Zaak

zl_openzaak_start "$Z1" "$Z2" "$Z3" || bail "the stand-in did not start: $(cat "$ZL_TMP/oz.err")"
oz=$ZL_OZ

zl_fixture_new
dq=zl.deliver.$$
conf=$ZL_TMP/zaaklink.conf
log=$ZL_TMP/zaaklink.log
dlog=$ZL_TMP/deliver.log
deliver_conf() {
	zl_conf "$1" "$db" "$ZL_TMP/state.db" "$ex" 'events.initial_sync = "announce";' \
		'events.label_max_length = 0;' 'source.poll_interval = 0.3;' \
		'retry.delays = [ 3 ];' "$(zl_deliver_lines "$dq" "$2")" \
		"deliver.listen = \"127.0.0.1:$mport\";"
}
mport=$(zl_free_port)
deliver_conf "$conf" geheim
out=$(zl_zl -c "$conf" setup 2>&1)
like "$out" "queue +$dq +classic, dead-letters to " \
	"setup declares deliver.queue as a consumer queue, without amqp.queues"

# objects: the ZaakObjects of the stand-in as "ZAAK LINKTO" lines, sorted.
objects() {
	curl -s -m 5 "$oz/_admin/zaakobjecten" |
		jq -r '.[] | (.zaak | sub(".*/"; "")) + " " + .object' | sort
}
# expected: the links of Open Klant's database as "ZAAK LINKTO" lines, for
# the zaken Open Zaak knows and with labels it takes (80 characters).
expected() {
	zl_sql "$db" "SELECT onderwerpobjectidentificator_object_id || ' ' ||
		'https://openklant.example.nl/klantinteracties/api/v1/onderwerpobjecten/' || uuid
		FROM klantinteracties_onderwerpobject
		WHERE onderwerpobjectidentificator_object_id IN ('$Z1', '$Z2', '$Z3')
		AND klantcontact_id IN (SELECT id FROM klantinteracties_klantcontact
			WHERE length(onderwerp) <= 80)" | sort
}
drain() { ZL_CMD_TIMEOUT=60 zl_zl -c "$conf" deliver --drain >>"$dlog" 2>&1; }
count_log() { grep -c -- "$1" "$dlog" || true; }
parked_reasons() { zl_zl -c "$conf" dlq list --json 2>/dev/null | jq -r '.[].reason' | sort | tr '\n' ' '; }

kc=$(zl_kc "$db" "Aanvraag parkeervergunning")
zl_ow "$db" "$kc" "$Z1" >/dev/null
zl_ow "$db" "$kc" "$Z2" >/dev/null
oc=$(zl_ow "$db" "$kc" "$Z3")

like "$(zl_zl -c "$conf" status --json 2>/dev/null | jq -r '.broker.queues[] | select(.role == "deliver") | .name')" \
	"^$dq\$" "status shows the deliver queue"

# ---- an announce, delivered once ----
ok "once announces the three links" zl_once "$conf" "$log"
rc=0; drain || rc=$?
is "$rc" 0 "deliver --drain exits 0 once the queue is empty"
is "$(objects)" "$(expected)" "three links: exactly their three ZaakObjects"
is "$(count_log 'msg=deliver.delivered ')" 3 "deliver.delivered for each"

# ---- announced again: no second ZaakObject ----
ok "backfill re-announces every link" zl_zl -c "$conf" backfill
ok "... published by once" zl_once "$conf" "$log"
drain
is "$(objects)" "$(expected)" "re-announced: still exactly one ZaakObject per link"
is "$(count_log 'msg=deliver.skipped .*reason=exists')" 3 "deliver.skipped reason=exists for each"

# ---- dropped by Open Zaak with 202: parked as not_created ----
zl_ow "$db" "$kc" "$Z4" >/dev/null
long=$(printf 'x%.0s' $(seq 1 81))
kl=$(zl_kc "$db" "$long")
zl_ow "$db" "$kl" "$Z1" >/dev/null
zl_once "$conf" "$log"
drain
is "$(parked_reasons)" "not_created not_created " \
	"an unknown zaak and a label of 81 characters: parked as not_created"
like "$(grep 'msg=deliver.parked' "$dlog")" "zaak=$Z4 .*reason|reason=not_created zaak=$Z4" \
	"deliver.parked names the zaak"
is "$(objects)" "$(expected)" "no ZaakObject for them"
zl_zl -c "$conf" dlq purge --all --yes >/dev/null 2>&1
zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE onderwerpobjectidentificator_object_id = '$Z4' OR klantcontact_id = $kl" >/dev/null

# ---- an ontkoppeld deletes ----
zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $oc" >/dev/null
zl_once "$conf" "$log"
drain
is "$(objects)" "$(expected)" "a deleted link: its ZaakObject deleted, the others kept"

# ---- with run: a 500 goes through a retry tier; an ontkoppeld overtakes ----
zl_run_bg "$conf" "$log"
run=$ZL_PID
zl_wait_log 'msg=retry.ready|msg=pass.done' 20 >/dev/null
"$ZL_BIN" -c "$conf" deliver >>"$dlog" 2>&1 &
dl=$!
echo "$dl" >>"$ZL_TMP/pids"
curl -s -m 5 -X POST "$oz/_admin/fail?status=500&count=1" >/dev/null
zl_ow "$db" "$kc" "$Z3" >/dev/null
ok "a 500, then the retry tier: delivered" zl_wait_for 30 sh -c "test \"\$(curl -s $oz/_admin/zaakobjecten | jq length)\" = 3"
is "$(objects)" "$(expected)" "after the retry: exactly one ZaakObject per link"

curl -s -m 5 -X POST "$oz/_admin/fail?status=500&count=1" >/dev/null
oh=$(zl_ow "$db" "$kc" "$Z2")
ok "the new link's gekoppeld fails once" zl_wait_for 20 sh -c "grep -q 'msg=deliver.failed' '$dlog' && test \$(grep -c 'msg=deliver.failed' '$dlog') -ge 2"
zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $oh" >/dev/null
ok "the late gekoppeld is stale" zl_wait_for 30 grep -q 'msg=deliver.skipped .*reason=stale' "$dlog"
is "$(objects)" "$(expected)" "an ontkoppeld that overtook its gekoppeld: no ZaakObject left behind"

like "$(curl -s -m 2 "http://127.0.0.1:$mport/healthz")" '^ok$' "deliver's /healthz: ok while delivering"
# The server gets the loop's figures four times a second.
ok "its /metrics count the outcomes" zl_wait_for 5 sh -c \
	"curl -s -m 2 http://127.0.0.1:$mport/metrics | grep -q '^zaaklink_deliver_total{outcome=\"stale\"} 1\$'"

# ---- a 415 parks at once ----
curl -s -m 5 -X POST "$oz/_admin/fail?status=415&count=1" >/dev/null
o415=$(zl_ow "$db" "$kc" "$Z1")
ok "a 415: parked at once" zl_wait_for 20 sh -c "$ZL_BIN -c '$conf' dlq list 2>/dev/null | grep -q http_415"
zl_stop "$dl"
zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $o415" >/dev/null
zl_zl -c "$conf" dlq purge --all --yes >/dev/null 2>&1

# ---- refused credentials: nothing parked, the message stays queued; ----
# ---- the right secret put in deliver.secret_file and a SIGHUP: delivered ----
bad=$ZL_TMP/bad.conf
deliver_conf "$bad" unused
printf 'verkeerd\n' >"$ZL_TMP/secret"
chmod 600 "$ZL_TMP/secret"
sed -i "s|^  secret = .*|  secret_file = \"$ZL_TMP/secret\";|" "$bad"
: >"$ZL_TMP/bad.log"
zl_ow "$db" "$kc" "$Z1" >/dev/null
"$ZL_BIN" -c "$bad" deliver >>"$ZL_TMP/bad.log" 2>&1 &
bd=$!
echo "$bd" >>"$ZL_TMP/pids"
ok "a wrong secret: deliver.credentials_refused" zl_wait_for 20 grep -q 'msg=deliver.credentials_refused' "$ZL_TMP/bad.log"
ok "... and its /healthz says so (503)" zl_wait_for 10 sh -c \
	"curl -s -m 2 -o /dev/null -w '%{http_code}' http://127.0.0.1:$mport/healthz | grep -qx 503"
like "$(curl -s -m 2 http://127.0.0.1:$mport/metrics)" 'zaaklink_deliver_credentials_refused 1' \
	"zaaklink_deliver_credentials_refused 1"
sleep 3
is "$(grep -c 'msg=deliver.credentials_refused' "$ZL_TMP/bad.log")" 1 "logged once, however often it tried"
is "$(parked_reasons)" "" "nothing parked"
is "$(objects)" "$(comm -23 <(expected) <(zl_sql "$db" "SELECT '$Z1 https://openklant.example.nl/klantinteracties/api/v1/onderwerpobjecten/' || uuid FROM klantinteracties_onderwerpobject ORDER BY id DESC LIMIT 1"))" \
	"... and the link is not in Open Zaak"

# A reload that needs a restart, and one deliver's own checks refuse: nothing taken.
sed -i "s|^  queue = .*|  queue = \"other\";|" "$bad"
kill -HUP "$bd"
ok "a changed deliver.queue: config.reload_refused, naming it" \
	zl_wait_for 10 grep -q 'msg=config.reload_refused .*settings=deliver.queue' "$ZL_TMP/bad.log"
sed -i "s|^  queue = .*|  queue = \"$dq\";|; s|^  zaken_api = .*||" "$bad"
kill -HUP "$bd"
ok "no deliver.zaken_api while check_existing is on: refused as at start" \
	zl_wait_for 10 grep -q "msg=config.reload_refused .*missing required setting 'deliver.zaken_api'" "$ZL_TMP/bad.log"
deliver_conf "$bad" unused
sed -i "s|^  secret = .*|  secret_file = \"$ZL_TMP/secret\";|" "$bad"
printf 'geheim\n' >"$ZL_TMP/secret"
kill -HUP "$bd"
ok "the right secret in the file and a SIGHUP: config.reloaded changed=deliver.secret_file" \
	zl_wait_for 10 grep -q 'msg=config.reloaded .*changed=deliver.secret_file' "$ZL_TMP/bad.log"
ok "... tried at once, and delivered without a restart" \
	zl_wait_for 10 grep -q 'msg=deliver.credentials_accepted' "$ZL_TMP/bad.log"
ok "... the link is in Open Zaak" zl_wait_for 10 sh -c "test \"\$(curl -s -m 5 $oz/_admin/zaakobjecten | jq length)\" = $(expected | wc -l)"
is "$(objects)" "$(expected)" "... exactly once"
is "$(grep -c 'msg=deliver.started' "$ZL_TMP/bad.log")" 1 "the same deliver process throughout"
ok "... its /healthz is ok again" zl_wait_for 5 sh -c \
	"curl -s -m 2 http://127.0.0.1:$mport/healthz | grep -qx ok"
zl_stop "$bd"

rc=0; zl_stop "$run" || rc=$?
is "$rc" 0 "run stops cleanly"
unlike "$(cat "$dlog" "$ZL_TMP/bad.log")" 'ERROR: [A-Za-z]+Sanitizer|runtime error' \
	"no sanitizer report from any deliver of this test"
done_testing
