#!/bin/bash
# The Open Zaak stand-in (tests/tools/openzaak-standin.c) that the deliver
# tests post into, checked with curl against what Open Zaak does: the JWT
# rules (HS256 with the client's secret, client_id, iat required and
# refused from 3600 s on) and the scope, all 403; the exact content type
# (415) after them; malformed CloudEvents (400 malformed-cloudevent); 202
# for whatever the handlers made of a valid event; gekoppeld making a
# ZaakObject each time (duplicates too), dropping unknown zaken, labels over
# 80 characters and a missing linkTo or linkObjectType; ontkoppeld deleting
# every ZaakObject with that linkTo, byte for byte; the zaakobjecten list
# with its filters and pages; and every switch under /_admin/.
. "$(dirname "$0")/../lib.sh"
zl_require_tools curl jq python3
[ -x "${ZL_OPENZAAK:-}" ] || bail "ZL_OPENZAAK ('${ZL_OPENZAAK:-}') is not an executable"

Z1=6f1c2a10-0000-4000-8000-000000000001
Z2=6f1c2a10-0000-4000-8000-000000000002
Z3=6f1c2a10-0000-4000-8000-000000000003
Z4=6f1c2a10-0000-4000-8000-000000000004 # never made known
portf=$ZL_TMP/oz.port
pidf=$ZL_TMP/oz.pid
oz_log=$ZL_TMP/oz.requests
printf '# the zaken of this test\n\n%s\n' "$Z2" >"$ZL_TMP/zaken"

rc=0
"$ZL_OPENZAAK" --listen 0.0.0.0:0 --port-file "$portf" 2>"$ZL_TMP/refused.log" || rc=$?
like "$rc $(cat "$ZL_TMP/refused.log")" "^2 openzaak-standin: --listen: .* not a loopback address" \
	"--listen on a non-loopback address is refused"

"$ZL_OPENZAAK" --listen 127.0.0.1:0 --port-file "$portf" --pid-file "$pidf" --page-size 2 \
	--client zl:geheim:cloudevents.bezorgen,zaken.lezen --client lezer:s3cret:zaken.lezen \
	--client bezorger:b3zorg:cloudevents.bezorgen --client leeg::cloudevents.bezorgen \
	--zaak "$Z1" --zaken-file "$ZL_TMP/zaken" --log "$oz_log" 2>"$ZL_TMP/oz.err" &
oz=$!
echo "$oz" >>"$ZL_TMP/pids"
zl_wait_for 10 test -s "$portf" || bail "the stand-in wrote no port file: $(cat "$ZL_TMP/oz.err")"
port=$(<"$portf")
base=http://127.0.0.1:$port
is "$(cat "$pidf")" "$oz" "the pid file holds the stand-in's pid"
like "$(cat "$ZL_TMP/oz.err")" "^openzaak-standin: listening on port $port" "it says where it listens"

# Every JWT of this test, made at once (python3 starts slowly): shell
# assignments NAME=TOKEN. tok is a good one of client zl; the others each
# break one rule. The signature: HMAC-SHA256 of head.body with the secret.
eval "$(python3 - <<'EOF'
import base64, hashlib, hmac, json, time
now = int(time.time())
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def jwt(secret, client, alg="HS256", **claims):
    c = {"iss": client, "client_id": client, "user_id": "t", "user_representation": "t", "iat": now}
    c.update(claims)
    c = {k: v for k, v in c.items() if v is not None}
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + b64(json.dumps(c).encode())
    md = hashlib.sha512 if alg == "HS512" else hashlib.sha256
    return head + "." + b64(hmac.new(secret.encode(), head.encode(), md).digest())
tokens = {
    "tok": jwt("geheim", "zl"),
    "t_wrong_secret": jwt("verkeerd", "zl"),
    "t_unknown": jwt("geheim", "onbekend"),
    "t_empty_secret": jwt("", "leeg"),
    "t_no_client": jwt("geheim", "zl", client_id=None),
    "t_hs512": jwt("geheim", "zl", alg="HS512"),
    "t_no_iat": jwt("geheim", "zl", iat=None),
    "t_iat_text": jwt("geheim", "zl", iat="gisteren"),
    "t_iat_3600": jwt("geheim", "zl", iat=now - 3600),
    "t_iat_3500": jwt("geheim", "zl", iat=now - 3500),
    "t_iat_4000": jwt("geheim", "zl", iat=now - 4000),
    "t_exp_passed": jwt("geheim", "zl", exp=now - 5),
    "t_lezer": jwt("s3cret", "lezer"),
    "t_bezorger": jwt("b3zorg", "bezorger"),
}
for name, value in tokens.items():
    print(f"{name}={value}")
EOF
)" || bail "cannot make the JWTs"

# post TOKEN BODY [CONTENT-TYPE] [CURL-ARGS...]: POST /events; prints the
# status, the body is in $ZL_TMP/body.
post() {
	local t=$1 b=$2 ct=${3:-application/cloudevents+json}
	shift 3 2>/dev/null || shift $#
	curl -s -m 5 -o "$ZL_TMP/body" -w '%{http_code}' ${t:+-H "Authorization: Bearer $t"} \
		-H "Content-Type: $ct" --data-binary "$b" "$@" "$base/events"
}
# list TOKEN QUERY: GET zaakobjecten?QUERY; prints the status, body in $ZL_TMP/body.
list() {
	curl -s -m 5 -o "$ZL_TMP/body" -w '%{http_code}' ${1:+-H "Authorization: Bearer $1"} \
		"$base/zaken/api/v1/zaakobjecten?$2"
}
body() { jq -r "$1" "$ZL_TMP/body"; }
# admin METHOD WHAT: a test switch; prints the status.
admin() {
	curl -s -m 5 -o "$ZL_TMP/admin" -w '%{http_code}' -X "$1" "$base/_admin/$2"
}
# objects FILTER: FILTER over every ZaakObject (a JSON array).
objects() {
	curl -s -m 5 "$base/_admin/zaakobjecten" | jq -r "$1"
}
# event TYPE ID DATA: a structured CloudEvent; TYPE gekoppeld or ontkoppeld.
event() {
	printf '{"specversion": "1.0", "id": "%s", "source": "urn:zaaklink:test", "type": "nl.overheid.zaken.zaak-%s", "data": %s}' \
		"$2" "$1" "$3"
}
# data ZAAK LINKTO LABEL [EXTRA]: event data with linkObjectType Onderwerpobject.
data() {
	printf '{"zaak": "urn:uuid:%s", "linkTo": "%s", "label": "%s", "linkObjectType": "Onderwerpobject"%s}' \
		"$1" "$2" "$3" "${4:+, $4}"
}
L1=http://klant.example/klantinteracties/api/v1/onderwerpobjecten/1
L2=http://klant.example/klantinteracties/api/v1/onderwerpobjecten/2
good=$(event gekoppeld e-good "$(data "$Z1" "$L1" "Vraag - (K1)")")

# ---- authentication and scope: 403, as Open Zaak's API answers ----
is "$(post "" "$good")" 403 "no Authorization: 403"
is "$(body .code)" permission_denied "... code permission_denied"
is "$(post "$t_wrong_secret" "$good")" 403 "a wrong secret: 403"
is "$(body .code)" invalid-jwt-signature "... code invalid-jwt-signature"
is "$(post "$t_unknown" "$good")" 403 "an unknown client_id: 403"
is "$(body .code)" invalid-client-identifier "... code invalid-client-identifier"
is "$(post "$t_empty_secret" "$good") $(body .code)" "403 invalid-client-identifier" \
	"a client with an empty secret is no client"
is "$(post "$t_no_client" "$good") $(body .code)" "403 missing-client-identifier" \
	"no client_id claim: 403 missing-client-identifier"
is "$(post "not.a-jwt" "$good") $(body .code)" "403 jwt-decode-error" "a token that is no JWT: 403"
is "$(post "$t_hs512" "$good") $(body .code)" \
	"403 jwt-invalidalgorithmerror" "HS512 is refused: only HS256"
is "$(post "$t_no_iat" "$good") $(body .code)" \
	"403 jwt-missing-iat-claim" "no iat: 403 jwt-missing-iat-claim"
is "$(post "$t_iat_text" "$good") $(body .code)" \
	"403 permission_denied" "an iat that is no integer: 403"
is "$(post "$t_iat_3600" "$good") $(body .code)" \
	"403 jwt-expired" "an iat 3600 s old: 403 jwt-expired"
is "$(post "$t_exp_passed" "$good") $(body .code)" \
	"403 jwt-expiredsignatureerror" "an exp passed: 403"
is "$(post "$t_lezer" "$good") $(body .code)" "403 permission_denied" \
	"a client without cloudevents.bezorgen: 403"
is "$(body .type)" "$base/ref/fouten/PermissionDenied/" "... a problem+json with Open Zaak's type"
is "$(post "$t_wrong_secret" "$good" application/json)" 403 \
	"a wrong secret and a wrong content type: 403 first"
is "$(objects length)" 0 "no refused request made a ZaakObject"

# ---- content type, CloudEvent ----
is "$(post "$tok" "$good" application/json)" 415 "Content-Type application/json: 415"
is "$(wc -c <"$ZL_TMP/body")" 0 "... with an empty body"
is "$(post "$tok" "$good" 'application/cloudevents+json; charset=utf-8')" 415 \
	"a content type with a parameter: 415 (compared exactly)"
is "$(post "$tok" "$good" Application/CloudEvents+JSON)" 415 "... in other case: 415"
is "$(post "$tok" '{}')" 400 "an empty object: 400"
is "$(body '.invalidParams[0].name + " " + .invalidParams[0].code')" "cloudevent malformed-cloudevent" \
	"... invalidParams cloudevent malformed-cloudevent"
is "$(body '.invalidParams[0].reason')" "Failed to find specversion in HTTP request" \
	"... the reason Open Zaak's test expects"
is "$(post "$tok" 'not json') $(body '.invalidParams[0].code')" "400 malformed-cloudevent" \
	"a body that is not JSON: 400"
is "$(post "$tok" '["specversion"]') $(body '.invalidParams[0].code')" "400 malformed-cloudevent" \
	"a JSON array: 400"
is "$(post "$tok" "$(jq -c 'del(.source)' <<<"$good")") $(body '.invalidParams[0].code')" \
	"400 malformed-cloudevent" "no source: 400"
is "$(post "$tok" "$(jq -c '.specversion = "2.0"' <<<"$good")") $(body '.invalidParams[0].code')" \
	"400 malformed-cloudevent" "specversion 2.0: 400"
is "$(objects length)" 0 "no malformed request made a ZaakObject"

# ---- gekoppeld ----
is "$(post "$tok" "$good")" 202 "a valid gekoppeld: 202"
is "$(jq -c . "$ZL_TMP/body")" '{"accepted":true,"eventId":"e-good"}' \
	"... {accepted: true, eventId} (camelCase, as Open Zaak's renderer writes event_id)"
is "$(objects 'map([.zaak, .object, .objectType, .objectTypeOverige, .relatieomschrijving] | join(" ")) | join(",")')" \
	"$base/zaken/api/v1/zaken/$Z1 $L1 overige Onderwerpobject Vraag - (K1)" \
	"... one ZaakObject: zaak, object = linkTo, objectType overige, objectTypeOverige, label"
is "$(post "$t_iat_3500" "$good")" 202 \
	"an iat 3500 s old still passes"
is "$(objects "map(select(.object == \"$L1\")) | length")" 2 "a duplicate makes a second ZaakObject"
is "$(objects 'map(.uuid) | unique | length')" 2 "... with a uuid of its own"
is "$(post "$tok" "$(event gekoppeld e-wijk "$(data "$Z2" "$L2" wijk '"linkObjectType": "wijk"')" |
	jq -c '.data.linkObjectType = "wijk"')")" 202 "a gekoppeld with linkObjectType wijk: 202"
is "$(objects "map(select(.object == \"$L2\")) | .[0].objectType + \"|\" + .[0].objectTypeOverige")" \
	"wijk|" "... objectType wijk (a ZaakobjectTypes value), no objectTypeOverige"

count() { objects length; }
before=$(count)
label81=$(printf 'x%.0s' $(seq 81))
label80=$(printf 'x%.0s' $(seq 80))
is "$(post "$tok" "$(event gekoppeld e-81 "$(data "$Z1" "$L1/81" "$label81")")")" 202 \
	"a label of 81 characters: 202"
is "$(body .accepted) $(count)" "true $before" "... and no ZaakObject"
is "$(post "$tok" "$(event gekoppeld e-80 "$(data "$Z1" "$L1/80" "$label80")")") $(count)" \
	"202 $((before + 1))" "a label of 80 characters makes one"
label_e=$(printf 'é%.0s' $(seq 80))
is "$(post "$tok" "$(event gekoppeld e-80e "$(data "$Z1" "$L1/80e" "$label_e")")") $(count)" \
	"202 $((before + 2))" "80 two-byte characters (160 bytes) make one: characters count"
before=$(count)
is "$(post "$tok" "$(event gekoppeld e-unknown "$(data "$Z4" "$L1/u" x)")") $(body .accepted) $(count)" \
	"202 true $before" "an unknown zaak: 202, no ZaakObject"
is "$(post "$tok" "$(event gekoppeld e-nolink '{"zaak": "urn:uuid:'"$Z1"'", "label": "x", "linkObjectType": "Onderwerpobject"}')") $(count)" \
	"202 $before" "no linkTo: 202, no ZaakObject"
is "$(post "$tok" "$(event gekoppeld e-notype '{"zaak": "urn:uuid:'"$Z1"'", "linkTo": "'"$L1/t"'", "label": "x"}')") $(count)" \
	"202 $before" "no linkObjectType: 202, no ZaakObject (objectTypeOverige is required)"
is "$(post "$tok" "$(event gekoppeld e-nolabel '{"zaak": "urn:uuid:'"$Z1"'", "linkTo": "'"$L1/l"'", "linkObjectType": "O"}')") $(count)" \
	"202 $before" "no label: 202, no ZaakObject (relatieomschrijving may not be null)"
is "$(post "$tok" "$(event gekoppeld e-nodata null)") $(count)" "202 $before" \
	"no data: 202, no ZaakObject"
is "$(post "$tok" "$(event anders-iets e-other "$(data "$Z1" "$L1/o" x)")") $(count)" "202 $before" \
	"another event type: 202, nothing done"
is "$(post "$tok" "$(event gekoppeld e-bad "$(data not-a-uuid "$L1/b" x)")")" 500 \
	"urn:uuid: with no uuid: 500 (the handler raises)"
is "$(jq -c . "$ZL_TMP/body")" \
	'{"accepted":false,"eventId":"e-bad","code":"incoming_cloud_event_uncaught_exception"}' \
	"... {accepted: false, eventId, code}"
is "$(post "$tok" "$(event gekoppeld e-z3 "$(data "$Z3" "$L1/z3" x)")") $(count)" "202 $before" \
	"a zaak made known by nobody yet: dropped"
is "$(admin POST "zaken?uuid=$Z3")" 200 "POST /_admin/zaken?uuid= makes it known"
is "$(post "$tok" "$(event gekoppeld e-z3 "$(data "$Z3" "$L1/z3" x)")") $(count)" \
	"202 $((before + 1))" "... then the same event makes a ZaakObject"
is "$(admin POST "zaken?uuid=nope")" 400 "... a uuid that is none: 400"

# ---- ontkoppeld ----
n_l1=$(objects "map(select(.object == \"$L1\")) | length")
is "$(post "$tok" "$(event ontkoppeld e-o1 "$(data "$Z1" "$L1/" x)")") $(objects "map(select(.object == \"$L1\")) | length")" \
	"202 $n_l1" "ontkoppeld with another linkTo (a trailing /) deletes nothing"
is "$(post "$tok" "$(event ontkoppeld e-o2 "$(data "$Z2" "$L1" x)")") $(objects "map(select(.object == \"$L1\")) | length")" \
	"202 $n_l1" "ontkoppeld of another zaak deletes nothing"
before=$(count)
is "$(post "$tok" "$(event ontkoppeld e-o3 "$(data "$Z1" "$L1" x)")")" 202 \
	"ontkoppeld with the same zaak and linkTo: 202"
is "$(objects "map(select(.object == \"$L1\")) | length") $(count)" "0 $((before - n_l1))" \
	"... deletes all $n_l1 of them and nothing else"

# ---- the zaakobjecten list ----
admin POST reset >/dev/null
is "$(objects length)" 0 "POST /_admin/reset forgets every ZaakObject"
for i in 1 2 3; do
	post "$tok" "$(event gekoppeld "e-p$i" "$(data "$Z2" "$L2" "p$i")")" >/dev/null
done
post "$tok" "$(event gekoppeld e-p4 "$(data "$Z2" "$L1" p4)")" >/dev/null
zaak2=$base/zaken/api/v1/zaken/$Z2
q="zaak=$(jq -rn --arg v "$zaak2" '$v | @uri')&object=$(jq -rn --arg v "$L2" '$v | @uri')"
is "$(list "" "$q") $(body .code)" "403 permission_denied" "the list without a token: 403"
is "$(list "$t_bezorger" "$q") $(body .code)" "403 permission_denied" \
	"... with a client without zaken.lezen: 403"
is "$(list "$t_iat_4000" "$q") $(body .code)" \
	"403 jwt-expired" "... with an expired token: 403"
is "$(list "$t_lezer" "$q")" 200 "a client with zaken.lezen may list"
is "$(body '.count') $(body '.results | length') $(body '[.results[].relatieomschrijving] | join(",")')" \
	"3 2 p3,p2" "page 1 (page size 2): count 3, the two newest"
next=$(body .next)
is "$next" "$base/zaken/api/v1/zaakobjecten?object=$(jq -rn --arg v "$L2" '$v | @uri')&page=2&zaak=$(jq -rn --arg v "$zaak2" '$v | @uri')" \
	"... next: the same query, sorted, page=2"
is "$(body .previous)" null "... no previous"
is "$(curl -s -m 5 -o "$ZL_TMP/body" -w '%{http_code}' -H "Authorization: Bearer $tok" "$next") $(body '[.results[].relatieomschrijving] | join(",")') $(body .next)" \
	"200 p1 null" "following next: the oldest, no next"
is "$(body .previous)" "$base/zaken/api/v1/zaakobjecten?object=$(jq -rn --arg v "$L2" '$v | @uri')&zaak=$(jq -rn --arg v "$zaak2" '$v | @uri')" \
	"... previous: page 1, written without page"
is "$(body '.results[0] | [.url, .uuid, .zaak, .object, .objectType, .objectTypeOverige] | join(" ")')" \
	"$base/zaken/api/v1/zaakobjecten/$(body '.results[0].uuid') $(body '.results[0].uuid') $zaak2 $L2 overige Onderwerpobject" \
	"... a result: url, uuid, zaak, object, objectType, objectTypeOverige"
is "$(list "$tok" "$q&page=3") $(body .code)" "404 not_found" "page 3 of 2: 404"
is "$(list "$tok" "$q&page=last") $(body '.results | length')" "200 1" "page=last: the last page"
is "$(list "$tok" "$q&pageSize=10") $(body '.results | length') $(body .next)" "200 3 null" \
	"pageSize=10: all three on one page"
is "$(list "$tok" "zaak=$(jq -rn --arg v "$zaak2" '$v | @uri')") $(body .count)" "200 4" \
	"only zaak: every ZaakObject of that zaak"
is "$(list "$tok" "zaak=$(jq -rn --arg v "http://localhost:$port/zaken/api/v1/zaken/$Z2" '$v | @uri')") $(body .count)" \
	"200 0" "a zaak URL on another host matches nothing"
is "$(list "$tok" "zaak=$(jq -rn --arg v "$base/zaken/api/v1/zaken/$Z1" '$v | @uri')") $(body .count)" \
	"200 0" "a zaak without ZaakObjects: count 0"
is "$(list "$tok" "$q&foo=1") $(body '.invalidParams[0].code')" "400 unknown-parameters" \
	"an unknown query parameter: 400 unknown-parameters"
is "$(list "$tok" "objectType=iets") $(body '.invalidParams[0].code')" "400 invalid_choice" \
	"an objectType that is none: 400"

# ---- the switches ----
# made NAME: how many ZaakObjects have the label NAME.
made() { objects "map(select(.relatieomschrijving == \"$1\")) | length"; }
ev_for() { event gekoppeld "e-$1" "$(data "$Z1" "$L1" "$1")"; }
is "$(admin POST 'fail?status=502&count=2')" 200 "POST /_admin/fail?status=502&count=2"
is "$(post "$tok" "$(ev_for f1)") $(post "$tok" "$(ev_for f2)") $(post "$tok" "$(ev_for f3)")" \
	"502 502 202" "... the next two requests get 502, the third 202"
is "$(made f1) $(made f2) $(made f3)" "0 0 1" "... and the failed ones were not handled"
admin POST 'fail?status=503&count=1' >/dev/null
is "$(list "$tok" "$q")" 503 "a failure applies to the zaakobjecten list too"
is "$(admin POST 'fail?status=500&count=1&after=1')" 200 "fail ... after=1"
is "$(post "$tok" "$(ev_for fa)") $(made fa)" "500 1" "... 500, but the event was handled"
is "$(admin POST 'fail?status=99')" 400 "fail with a status that is none: 400"

is "$(admin POST 'slow?ms=1500&count=1')" 200 "POST /_admin/slow?ms=1500&count=1"
rc=0
post "$tok" "$(ev_for s1)" "" -m 0.7 >/dev/null || rc=$?
is "$rc" 28 "... a client waiting 0.7 s times out (curl exit 28)"
zl_wait_for 5 test "$(made s1)" = 1
is "$(made s1)" 1 "... yet the event was handled (a lost answer)"
start=$(date +%s%N)
is "$(post "$tok" "$(ev_for s2)")" 202 "... the next answer is not slowed"
cmp_ok $((($(date +%s%N) - start) / 1000000)) -lt 700 "... (it came at once)"

is "$(admin POST 'drop?count=1')" 200 "POST /_admin/drop?count=1"
rc=0
post "$tok" "$(ev_for d1)" >/dev/null || rc=$?
is "$rc $(made d1)" "52 0" "... the connection closes with no answer (curl exit 52), nothing handled"
is "$(post "$tok" "$(ev_for d2)")" 202 "... the next request is answered"
admin POST 'drop?count=1&after=1' >/dev/null
rc=0
post "$tok" "$(ev_for d3)" >/dev/null || rc=$?
is "$rc $(made d3)" "52 1" "drop after=1: no answer, but the event was handled"

is "$(admin POST down)" 200 "POST /_admin/down"
is "$(post "$tok" "$(ev_for u1)") $(list "$tok" "$q") $(made u1)" "503 503 0" \
	"... /events and the list answer 503, nothing handled"
is "$(admin GET zaakobjecten)" 200 "... /_admin/ still answers"
is "$(admin POST up)" 200 "POST /_admin/up"
is "$(post "$tok" "$(ev_for u2)") $(made u2)" "202 1" "... and the API answers again"

is "$(admin POST nothing) $(admin GET nothing)" "404 404" "an unknown switch: 404"
is "$(admin GET reset) $(admin POST stats)" "405 405" "a switch by the wrong method: 405"
curl -s -m 5 "$base/_admin/stats" >"$ZL_TMP/stats"
is "$(jq -r '.["/events"]["502"]' "$ZL_TMP/stats")" 2 "stats: /events answered 502 twice"
is "$(jq -r '.["/events"]["dropped"]' "$ZL_TMP/stats")" 2 "stats: two /events dropped"
is "$(jq -r '.["/events"]["415"]' "$ZL_TMP/stats")" 3 "stats: three 415"
is "$(jq -r '.["/zaken/api/v1/zaakobjecten"]["503"]' "$ZL_TMP/stats")" 2 "stats: the list's two 503"
is "$(jq -r 'keys | map(select(startswith("/_admin"))) | length' "$ZL_TMP/stats")" 0 \
	"stats: /_admin/ requests are not counted"
is "$(grep -c '^POST /events 415$' "$oz_log")" 3 "--log: one line per request"

zl_stop "$oz"
is "$? $([ -e "$pidf" ] && echo kept || echo removed)" "0 removed" \
	"SIGTERM ends it with exit 0, the pid file removed"
done_testing
