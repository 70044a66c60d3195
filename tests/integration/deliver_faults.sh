#!/bin/bash
# zaaklink deliver under faults, against the Open Zaak stand-in and real
# PostgreSQL, RabbitMQ and `zaaklink run`: SIGKILL of deliver in the middle
# of 5 000 links (each kill when the stand-in shows more ZaakObjects than at
# the kill before, so it lands while deliveries are going on), and Open
# Zaak down (503 for every request) for 30 s while links arrive. After each,
# the stand-in's ZaakObjects are exactly the links of Open Klant's database:
# none missing, none doubled, and nothing parked.
#
# Sizes (environment): ZL_DELIVER_LINKS (5000), ZL_DELIVER_KILLS (5),
# ZL_DELIVER_DOWN (30 s). Heavy: tests/run-all.sh runs it on its own, not
# beside the other integration tests of make check.
. "$(dirname "$0")/../lib.sh"
zl_require_tools curl jq
zl_servers_up
[ -x "${ZL_OPENZAAK:-}" ] || bail "ZL_OPENZAAK ('${ZL_OPENZAAK:-}') is not an executable"
N=${ZL_DELIVER_LINKS:-5000}
KILLS=${ZL_DELIVER_KILLS:-5}
DOWN=${ZL_DELIVER_DOWN:-30}

zaken=()
for i in 1 2 3 4 5 6 7 8; do zaken+=("8b1c2a10-0000-4000-8000-00000000000$i"); done
zl_openzaak_start "${zaken[@]}" || bail "the stand-in did not start: $(cat "$ZL_TMP/oz.err")"
oz=$ZL_OZ

zl_fixture_new
dq=zl.deliver.$$
conf=$ZL_TMP/zaaklink.conf
log=$ZL_TMP/zaaklink.log
dlog=$ZL_TMP/deliver.log
zl_conf "$conf" "$db" "$ZL_TMP/state.db" "$ex" 'events.initial_sync = "announce";' \
	'source.poll_interval = 0.3;' 'retry.delays = [ 5, 10, 20, 40 ];' "$(zl_deliver_lines "$dq")"
zl_zl -c "$conf" setup >/dev/null || bail "setup failed"

objects() {
	curl -s -m 20 "$oz/_admin/zaakobjecten" |
		jq -r '.[] | (.zaak | sub(".*/"; "")) + " " + .object' | sort
}
count() { curl -s -m 20 "$oz/_admin/zaakobjecten" | jq length; }
expected() {
	zl_sql "$db" "SELECT onderwerpobjectidentificator_object_id || ' ' ||
		'https://openklant.example.nl/klantinteracties/api/v1/onderwerpobjecten/' || uuid
		FROM klantinteracties_onderwerpobject WHERE klantcontact_id IS NOT NULL" | sort
}
parked() { zl_zl -c "$conf" dlq list --json 2>/dev/null | jq length; }
# compare LABEL: the stand-in holds exactly the database's links.
compare() {
	local missing doubled
	objects >"$ZL_TMP/got"
	expected >"$ZL_TMP/want"
	missing=$(comm -13 <(sort -u "$ZL_TMP/got") "$ZL_TMP/want" | grep -c .)
	doubled=$(($(wc -l <"$ZL_TMP/got") - $(sort -u "$ZL_TMP/got" | wc -l)))
	is "missing=$missing doubled=$doubled extra=$(comm -23 <(sort -u "$ZL_TMP/got") "$ZL_TMP/want" | grep -c .)" \
		"missing=0 doubled=0 extra=0" "$1: the ZaakObjects are exactly the $(wc -l <"$ZL_TMP/want") links"
}
start_deliver() {
	"$ZL_BIN" -c "$conf" deliver >>"$dlog" 2>&1 &
	DL=$!
	echo "$DL" >>"$ZL_TMP/pids"
}
# grows_past N: the stand-in holds more than N ZaakObjects.
grows_past() { [ "$(count)" -gt "$1" ]; }

# ---- SIGKILL of deliver in the middle of 5 000 links ----
kc=$(zl_kc "$db" "Aanvraag parkeervergunning")
zl_ow_many "$db" "$kc" "$N" "${zaken[@]}" || bail "the $N links were not inserted"
ok "once announces the $N links" zl_once "$conf" "$log"
# Every answer waits a little, so that deliveries go on for some seconds
# and a kill lands between two observations of the count, not after the
# last ZaakObject was made. Each kill waits for a share of what is left.
curl -s -m 5 -X POST "$oz/_admin/slow?ms=15&count=1000000" >/dev/null
start_deliver
kills=0
seen=0
for ((k = 1; k <= KILLS; k++)); do
	step=$(((N - seen) / (KILLS - k + 2)))
	if zl_wait_for 120 grows_past $((seen + (step > 0 ? step : 1))); then
		kill -KILL "$DL"
		wait "$DL" 2>/dev/null
		seen=$(count)
		note "kill $k at $seen ZaakObjects"
		((seen < N)) && kills=$((kills + 1))
		start_deliver
	fi
done
is "$kills" "$KILLS" "deliver was killed $KILLS times while ZaakObjects were being made"
zl_stop "$DL"
curl -s -m 5 -X POST "$oz/_admin/slow?ms=0&count=0" >/dev/null
rc=0; ZL_CMD_TIMEOUT=300 zl_zl -c "$conf" deliver --drain >>"$dlog" 2>&1 || rc=$?
is "$rc" 0 "deliver --drain finishes what is left"
compare "after $KILLS kills"
is "$(parked)" 0 "nothing parked"

# ---- Open Zaak down for 30 s while links arrive ----
zl_run_bg "$conf" "$log"
run=$ZL_PID
start_deliver
curl -s -m 5 -X POST "$oz/_admin/down" >/dev/null
for i in 1 2 3 4 5 6 7 8; do
	zl_ow "$db" "$kc" "${zaken[$((i - 1))]}" >/dev/null
	sleep 0.5
done
ok "while Open Zaak is down, deliveries fail and go to the retry tiers" \
	zl_wait_for 20 grep -q 'msg=deliver.failed .*reason=http_503' "$dlog"
sleep "$((DOWN > 5 ? DOWN - 5 : 0))"
curl -s -m 5 -X POST "$oz/_admin/up" >/dev/null
want=$(expected | wc -l)
ok "after Open Zaak is back, every link arrives through the tiers" \
	zl_wait_for 120 sh -c "test \"\$(curl -s -m 20 $oz/_admin/zaakobjecten | jq length)\" -ge $want"
compare "after $DOWN s of Open Zaak down"
is "$(parked)" 0 "nothing parked"
zl_stop "$DL"
rc=0; zl_stop "$run" || rc=$?
is "$rc" 0 "run stops cleanly"
unlike "$(cat "$dlog")" 'ERROR: [A-Za-z]+Sanitizer|runtime error' "no sanitizer report from deliver"
done_testing
