#!/bin/bash
# The consumer of `zaaklink deliver` (src/consumer.c) against the real
# broker, driven by tests/tools/consumer-probe: a consumer queue declared
# by name outside amqp.queues (topology_declare_consumer) and known to the
# retry controller (retry_add_origin); basic.qos honoured; an ack removes;
# a reject goes through X.retry and a wait tier back to the queue; a park
# puts the message into X.dlq with the controller's headers, its reason and
# detail, zaaklink-seq and the other headers kept, and a park the broker
# cannot route leaves the message unacknowledged; a dropped connection
# gives the delivery again, redelivered, and a verdict on the old one is
# refused. Tiers are 1 s here.
. "$(dirname "$0")/../lib.sh"
zl_require_tools
zl_servers_up
CP=${ZL_CONSUMER_PROBE:-$(dirname "$ZL_PROBE")/consumer-probe}
[ -x "$CP" ] || bail "ZL_CONSUMER_PROBE ('$CP') is not an executable"
[ -x "${ZL_PROXY:-}" ] || bail "ZL_PROXY ('${ZL_PROXY:-}') is not an executable"

ex=$(zl_exchange_new)
dq=$ex.deliver
conf=$ZL_TMP/zaaklink.conf
# No database is used: the probe reads only the amqp and retry groups.
zl_conf "$conf" unused "$ZL_TMP/state.db" "$ex" 'retry.delays = [ 1 ];' \
	'amqp.max_backoff = 1.0;' 'amqp.confirm_timeout = 5.0;'
for q in "$dq" "$ex.retry" "$ex.wait.1s" "$ex.dlq" "$ex.unrouted"; do
	echo "$q" >>"$ZL_TMP/queues"
done

cp_() { timeout -k 5 60 "$CP" "$conf" "$@"; }
count() { zl_probe count "$1"; }
holds() { [ "$(count "$1")" = "$2" ]; }
# hexs TEXT: TEXT as hex, for publish-typed --prop.
hexs() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# publish_seq ID SEQ [HEADER...]: one event with message_id ID and zaaklink-seq SEQ.
publish_seq() {
	local id=$1 seq=$2 x hdrs=()
	shift 2
	for x in "$@"; do hdrs+=(--header "$x"); done
	zl_probe publish-typed "$ex" nl.overheid.zaken.zaak-gekoppeld --body "{\"id\":\"$id\"}" \
		--prop "message_id=$(hexs "$id")" --header "zaaklink-seq=int64:$seq" "${hdrs[@]}"
}
# field FILE N FILTER: FILTER (jq -r) over line N of FILE.
field() { sed -n "${2}p" "$1" | jq -r "$3"; }

# ---- the queue, declared by name ----------------------------------------
out=$(cp_ declare "$dq" 2>&1); rc=$?
is "$rc" 0 "declare: a consumer queue by name, exit 0"
like "$out" "queue +$dq +classic, dead-letters to ${ex}[.]retry" "it dead-letters into $ex.retry"
like "$out" "binding +$dq +<- $ex 'nl[.]overheid[.]zaken[.]#'" "it is bound to every zaaklink event"
like "$out" "binding +$dq +<- ${ex}[.]requeue '$dq'" "it is bound to $ex.requeue with its name"
rc=0; cp_ declare "$dq" >/dev/null 2>&1 || rc=$?
is "$rc" 0 "declare again: idempotent"
rc=0; err=$(cp_ declare "$ex.dlq" 2>&1) || rc=$?
is "$rc" 78 "a name of zaaklink's own is refused (exit 78)"
like "$err" "one of zaaklink's own" "and says so ($err)"

# ---- prefetch, ack, redelivered -----------------------------------------
zl_probe publish "$ex" nl.overheid.zaken.zaak-gekoppeld '{}' --id p --count 10
zl_wait_for 5 holds "$dq" 10 || diag "$dq holds $(count "$dq")"
h=$(cp_ hold "$dq" 3 1.5)
is "$(jq -r '"\(.held) \(.ready)"' <<<"$h")" "3 7" "prefetch 3: three held, seven ready (queue depth)"
h=$(cp_ hold "$dq" 5 1.5)
is "$(jq -r '"\(.held) \(.ready)"' <<<"$h")" "5 5" "prefetch 5: five held; what was held before is back"
f=$ZL_TMP/ack.jsonl
cp_ take "$dq" ack 10 10 >"$f"
is "$(grep -c . "$f")" 10 "ack: ten taken"
is "$(jq -s '[.[] | select(.rc == 0)] | length' "$f")" 10 "ack: every ack accepted"
is "$(jq -s '[.[] | select(.redelivered)] | length' "$f")" 5 \
	"the five held without a verdict come redelivered, the rest not"
is "$(jq -r .message_id "$f" | sort -u | wc -l)" 10 "ten different messages"
is "$(count "$dq")" 0 "ack: the queue is empty"

# ---- zaaklink-seq --------------------------------------------------------
publish_seq s1 42
zl_probe publish "$ex" nl.overheid.zaken.zaak-gekoppeld '{}' --id noseq
f=$ZL_TMP/seq.jsonl
cp_ take "$dq" ack 2 10 >"$f"
is "$(field "$f" 1 '"\(.message_id) \(.seq)"') $(field "$f" 2 '"\(.message_id) \(.seq)"')" \
	"s1 42 noseq null" "zaaklink-seq read as an integer; absent: none"

# ---- reject: through X.retry and the wait tier, back -------------------
"$CP" "$conf" retry "$dq" >"$ZL_TMP/retry.out" 2>"$ZL_TMP/retry.err" &
ctl=$!
echo "$ctl" >>"$ZL_TMP/pids"
publish_seq r1 7
f=$ZL_TMP/reject.jsonl
cp_ take "$dq" reject,ack 2 15 >"$f"
is "$(grep -c . "$f")" 2 "reject: delivered again after the reject"
is "$(field "$f" 1 '"\(.verdict) \(.rc) \(.exchange) \(.attempts)"')" \
	"reject 0 $ex null" "the first delivery, from the exchange, rejected"
is "$(field "$f" 2 '[.message_id, .seq, .exchange, .routing_key, .attempts, .origin, .reason] | map(tostring) | join(" ")')" \
	"r1 7 $ex.requeue $dq 1 $dq rejected" \
	"back through $ex.requeue: same id and seq, attempts 1, origin $dq, reason rejected"
wait_ms=$(($(field "$f" 2 .at_ms) - $(field "$f" 1 .at_ms)))
cmp_ok "$wait_ms" -ge 1000 "after the 1 s tier ($wait_ms ms)"
is "$(count "$ex.retry") $(count "$ex.wait.1s") $(count "$dq")" "0 0 0" "nothing left behind"
unlike "$(cat "$ZL_TMP/retry.err")" "retry[.]parked" "the controller knew $dq as an origin: nothing parked"
kill "$ctl"; wait "$ctl" 2>/dev/null

# ---- park ----------------------------------------------------------------
publish_seq k1 9 "x-custom=longstr:$(hexs kept)"
f=$ZL_TMP/park.jsonl
cp_ take "$dq" park 1 10 http_400 "HTTP 400 malformed-cloudevent: 'data' is required" >"$f"
is "$(field "$f" 1 '"\(.verdict) \(.rc)"')" "park 0" "park: confirmed, then acknowledged"
is "$(count "$dq") $(count "$ex.dlq")" "0 1" "park: the message left $dq for $ex.dlq"
j=$(zl_zl -c "$conf" dlq list --json)
is "$(jq -r '.[0] | [.id, .queue, .attempts, .reason, .routing_key] | map(tostring) | join(" ")' <<<"$j")" \
	"k1 $dq 1 http_400 nl.overheid.zaken.zaak-gekoppeld" \
	"dlq list: id, origin queue, attempts, reason, routing key"
exp=$ZL_TMP/park-export.jsonl
zl_zl -c "$conf" dlq export >"$exp" 2>/dev/null
is "$(jq -r '[.headers["zaaklink-seq"].type, .headers["zaaklink-seq"].value,
	.headers["x-custom"].value, .headers["zaaklink-last-reason"].value,
	.headers["zaaklink-last-error"].value, .body] | join("|")' "$exp")" \
	"int64|9|kept|http_400|HTTP 400 malformed-cloudevent: 'data' is required|{\"id\":\"k1\"}" \
	"parked: zaaklink-seq and the other headers kept, reason and detail added, body as it was"
like "$(jq -r '.headers["zaaklink-first-failure"].value + " " + .headers["zaaklink-last-failure"].value' "$exp")" \
	'^20[0-9-]+T[0-9:]+Z 20[0-9-]+T[0-9:]+Z$' "parked: first and last failure times"
out=$(zl_zl -c "$conf" dlq requeue --id k1 2>&1); rc=$?
is "$rc" 0 "dlq requeue of the parked message: exit 0 ($out)"
f=$ZL_TMP/requeued.jsonl
cp_ take "$dq" ack 1 10 >"$f"
is "$(field "$f" 1 '[.message_id, .seq, .attempts, .last_error] | map(tostring) | join(" ")')" \
	"k1 9 null null" "requeued to $dq: the same seq, the park's headers gone"

# A park nobody can route (no parking queue) leaves the message where it was.
zl_probe delete "$ex.dlq" >/dev/null
publish_seq k2 10
f=$ZL_TMP/park-fails.jsonl
cp_ take "$dq" park 1 10 http_400 >"$f"
is "$(field "$f" 1 .rc)" "-1" "park without a parking queue: fails"
like "$(field "$f" 1 .error)" "no queue ${ex}[.]dlq took" "and says why"
zl_wait_for 5 holds "$dq" 1
is "$(count "$dq")" 1 "the message is back in $dq, unacknowledged"
cp_ declare "$dq" >/dev/null 2>&1 || diag "declare again failed"
cp_ take "$dq" ack 1 5 >/dev/null

# ---- a dropped connection --------------------------------------------------
portf=$ZL_TMP/proxy.port
statef=$ZL_TMP/proxy.state
"$ZL_PROXY" --listen 127.0.0.1:0 --to "127.0.0.1:$ZL_TEST_AMQP_PORT" --port-file "$portf" \
	--state-file "$statef" 2>"$ZL_TMP/proxy.log" &
proxy=$!
echo "$proxy" >>"$ZL_TMP/pids"
zl_wait_for 10 test -s "$portf" || bail "the proxy wrote no port file: $(cat "$ZL_TMP/proxy.log")"
pconf=$ZL_TMP/proxy.conf
zl_conf "$pconf" unused "$ZL_TMP/state.db" "$ex" 'retry.delays = [ 1 ];' \
	"amqp.url = \"amqp://guest:guest@127.0.0.1:$(<"$portf")/%2f\";" 'amqp.max_backoff = 1.0;'
publish_seq d1 11
f=$ZL_TMP/drop.jsonl
timeout -k 5 40 "$CP" "$pconf" drop "$dq" 30 >"$f" 2>"$ZL_TMP/drop.err" &
dropper=$!
echo "$dropper" >>"$ZL_TMP/pids"
zl_wait_for 10 grep -q '"held"' "$f" || diag "nothing held: $(cat "$ZL_TMP/drop.err")"
kill -HUP "$proxy"
rc=0; wait "$dropper" || rc=$?
is "$rc" 0 "dropped connection: the consumer reconnected ($(head -c 300 "$ZL_TMP/drop.err"))"
is "$(jq -r 'select(.event == "lost") | .code' "$f")" 69 "the loss is reported as unavailable (69)"
is "$(jq -r 'select(.event == "stale_ack") | .code' "$f")" 75 \
	"an ack of the delivery of the lost connection is refused (75), nothing sent"
is "$(jq -r 'select(.event == "again") | [.message_id, .seq, .redelivered, .connection] | map(tostring) | join(" ")' "$f")" \
	"d1 11 true 2" "the same message again on the new connection, redelivered"
zl_wait_for 5 holds "$dq" 0
is "$(count "$dq")" 0 "acknowledged on the new connection: the queue is empty"
kill "$proxy" 2>/dev/null; wait "$proxy" 2>/dev/null

# ---- the queue deleted under the consumer ---------------------------------
zl_probe publish "$ex" nl.overheid.zaken.zaak-gekoppeld '{}' --id c1
f=$ZL_TMP/cancel.jsonl
timeout -k 5 30 "$CP" "$conf" take "$dq" ack 2 20 >"$f" 2>"$ZL_TMP/cancel.err" &
taker=$!
echo "$taker" >>"$ZL_TMP/pids"
zl_wait_for 10 grep -q '"c1"' "$f" || diag "nothing taken: $(cat "$ZL_TMP/cancel.err")"
zl_probe delete "$dq" >/dev/null
rc=0; wait "$taker" || rc=$?
is "$rc" 69 "queue deleted while consuming: the consumer hears of it (exit 69)"
like "$(cat "$ZL_TMP/cancel.err")" "cancelled the consumer of queue $dq" "and says so"

unlike "$(cat "$ZL_TMP"/*.err 2>/dev/null)" "guest:guest@" "no password in what the probes wrote"
done_testing
