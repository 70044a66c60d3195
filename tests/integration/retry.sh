#!/bin/bash
# Failed deliveries (issue 3): `zaaklink setup` declares consumer queues,
# wait tiers and the parking queue; the retry controller inside `run` sends
# a rejected message back to exactly the queue it failed in after each
# tier's delay, parks it after the last tier or at a quorum queue's
# delivery limit, and never loses one, even when killed while moving; the
# operator commands `dlq list|requeue|purge|export` inspect and move what
# is parked; zaaklink's own events keep their zaaklink-seq through a tier,
# parking and a requeue. Tiers are 1 s and 2 s here.
. "$(dirname "$0")/../lib.sh"
zl_require_tools
zl_servers_up

db=$(zl_db_new) || bail "cannot create a database"
ex=$(zl_exchange_new)
oz=$ex.oz       # classic, fails its messages
other=$ex.other # classic, bound to the same keys: must never get a retried copy
qq=$ex.qq       # quorum, delivery limit 2
ev=$ex.ev       # classic, gets zaaklink's own events
conf=$ZL_TMP/zaaklink.conf
log=$ZL_TMP/zaaklink.log
queues="amqp.queues = ( { name = \"$oz\"; bindings = [ \"t.#\" ]; },
  { name = \"$other\"; bindings = [ \"t.#\" ]; },
  { name = \"$qq\"; bindings = [ \"q.#\" ]; type = \"quorum\"; delivery_limit = 2; },
  { name = \"$ev\"; bindings = [ \"nl.overheid.zaken.#\" ]; } );"
zl_conf "$conf" "$db" "$ZL_TMP/state.db" "$ex" "$(tr '\n' ' ' <<<"$queues")" \
	'retry.delays = [ 1, 2 ];' 'amqp.max_backoff = 2.0;' 'log.level = "debug";'

count() { zl_probe count "$1"; }
# holds QUEUE N: true when QUEUE holds N messages (for zl_wait_for).
holds() { [ "$(count "$1")" = "$2" ]; }
# json_lines FILE: true when every line of FILE parses as JSON.
json_lines() { [ -s "$1" ] && jq -e . "$1" >/dev/null; }
# consumer_bg OUT ARGS...: starts `amqp-probe consume ARGS` in the background
# (the probe itself, not a subshell, so that its PID is the consumer's),
# output to OUT; its PID is in CONSUMER.
CONSUMER=
consumer_bg() {
	local out=$1
	shift
	"$ZL_PROBE" "$ZL_TEST_AMQP_URL" consume "$@" >"$out" 2>"$out.err" &
	CONSUMER=$!
	echo "$CONSUMER" >>"$ZL_TMP/pids"
}
# stop_consumer: ends that consumer; a delivery it held goes back to its queue.
stop_consumer() { kill "$CONSUMER" 2>/dev/null; wait "$CONSUMER" 2>/dev/null || true; }
# deliveries FILE ACTION: the number of lines of consume's output with that action.
deliveries() { jq -r --arg a "$2" 'select(.action == $a) | .message_id' "$1" | grep -c . || true; }

# ---- setup -------------------------------------------------------------
out=$(zl_zl -c "$conf" setup 2>&1); rc=$?
is "$rc" 0 "setup: exit 0"
for name in "$ex.retry" "$ex.requeue" "$ex.wait.1s" "$ex.wait.2s" "$ex.dlq" "$ex.unrouted" "$oz" "$qq"; do
	like "$out" "$(sed 's/[.]/[.]/g' <<<"$name")( |$)" "setup shows $name"
done
like "$out" "quorum, delivery limit 2" "setup shows the quorum queue's delivery limit"
rc=0; zl_zl -c "$conf" setup >/dev/null 2>&1 || rc=$?
is "$rc" 0 "setup again: idempotent, exit 0"

# A declaration that conflicts with what exists is named, with its argument.
conflict=$ZL_TMP/conflict.conf
zl_conf "$conflict" "$db" "$ZL_TMP/state.db" "$ex" \
	"amqp.queues = ( { name = \"$oz\"; bindings = [ \"t.#\" ]; type = \"quorum\"; } );" \
	'retry.delays = [ 1, 2 ];'
rc=0; err=$(zl_zl -c "$conflict" setup 2>&1 >/dev/null) || rc=$?
is "$rc" 78 "setup with a conflicting queue type: exit 78"
like "$err" "queue $oz exists with different settings .*x-queue-type" \
	"the conflict names the queue and the argument ($err)"

# ---- the daemon ----------------------------------------------------------
zl_run_bg "$conf" "$log"
pid=$ZL_PID
zl_wait_log 'retry\.ready' 15 || diag "no retry.ready line in $log"

# Rejected twice, then accepted: a third delivery after at least 1 s + 2 s.
zl_probe publish "$ex" t.a '{"n":1}' --id m1 --type t.a
f=$ZL_TMP/m1.jsonl
zl_probe consume "$oz" --reject 2 --expect 1 --timeout 20 >"$f" 2>"$f.err"
is "$(deliveries "$f" rejected) $(deliveries "$f" accepted)" "2 1" \
	"rejected twice, then accepted on the third delivery"
is "$(jq -r 'select(.action == "accepted") | .message_id + " " + .body' "$f")" 'm1 {"n":1}' \
	"the third delivery has the same id and body"
first=$(jq -s '.[0].at_ms' "$f")
last=$(jq -s '.[2].at_ms' "$f")
cmp_ok "$((last - first))" -ge 3000 "third delivery after at least the tiers' 3 s ($((last - first)) ms)"
is "$(jq -r 'select(.action == "accepted") | [.headers["zaaklink-attempts"],
	.headers["zaaklink-origin-queue"], .headers["zaaklink-routing-key"],
	.headers["zaaklink-last-reason"], .type, .delivery_mode] | map(tostring) | join(" ")' "$f")" \
	"2 $oz t.a rejected t.a 2" "headers: attempts, origin queue, routing key, reason; properties kept"
g=$(zl_drain "$other" 1 5)
is "$(zl_count "$g")" 1 "the other queue bound to the key got its one copy"

# Always rejected: parked after 1 + 2 tiers = 3 deliveries.
zl_probe publish "$ex" t.b '{"n":2}' --id m2 --type t.b
f=$ZL_TMP/m2.jsonl
consumer_bg "$f" "$oz" --reject 1000 --timeout 30
zl_wait_for 15 holds "$ex.dlq" 1 || diag "parking queue holds $(count "$ex.dlq")"
stop_consumer
is "$(deliveries "$f" rejected)" 3 "always rejected: delivered 3 times (first + 2 tiers)"
is "$(count "$ex.dlq")" 1 "always rejected: parked"
out=$(zl_zl -c "$conf" dlq list 2>&1)
like "$out" "m2 +t[.]b +- +$oz +3 +rejected" "dlq list shows id, type, queue, attempts, reason"
like "$out" "1 message in $ex[.]dlq" "dlq list counts it"
j=$(zl_zl -c "$conf" dlq list --json)
is "$(jq -r '.[0] | [.id, .queue, .attempts, .reason, .routing_key] | map(tostring) | join(" ")' <<<"$j")" \
	"m2 $oz 3 rejected t.b" "dlq list --json"
like "$(jq -r '.[0].first_failure + " " + .[0].last_failure' <<<"$j")" \
	'^20[0-9-]+T[0-9:]+Z 20[0-9-]+T[0-9:]+Z$' "dlq list --json: first and last failure times"
is "$(count "$ex.dlq")" 1 "dlq list leaves the message parked"
st=$(zl_status_json "$conf")
is "$(jq -r '.broker.queues[] | select(.role == "parking") | .messages' <<<"$st")" 1 \
	"status --json: depth of the parking queue"
is "$(jq -r '[.broker.queues[].role] | unique | join(",")' <<<"$st")" "consumer,parking,retry,wait" \
	"status --json: consumer, retry, wait and parking queues"
like "$(jq -r '.broker.unrouted' <<<"$st")" '^[0-9]+$' "status --json: unrouted kept"
zl_drain "$other" "" 1 >/dev/null

out=$(zl_zl -c "$conf" dlq requeue --id m2 2>&1); rc=$?
is "$rc" 0 "dlq requeue --id: exit 0"
like "$out" "requeued 1 of 1" "dlq requeue says how many moved"
g=$(zl_drain "$oz" 1 5)
is "$(zl_jq "$g" '.message_id + " " + .body + " " + (.headers["zaaklink-attempts"] // "none" | tostring)')" \
	'm2 {"n":2} none' "requeue: back in the origin queue, same body, attempts reset"
g=$(zl_drain "$other" "" 1)
is "$(zl_count "$g")" 0 "requeue: no copy for the other queue bound to the same key"
is "$(count "$ex.dlq")" 0 "requeue: the parking queue is empty"

# Quorum queue: nacked with requeue beyond the delivery limit, parked at once.
zl_probe publish "$ex" q.c '{"n":3}' --id m3 --type q.c
f=$ZL_TMP/m3.jsonl
consumer_bg "$f" "$qq" --reject 1000 --requeue --timeout 30
zl_wait_for 15 holds "$ex.dlq" 1 || diag "parking queue holds $(count "$ex.dlq")"
stop_consumer
is "$(deliveries "$f" rejected)" 3 "quorum: delivered delivery_limit + 1 = 3 times"
j=$(zl_zl -c "$conf" dlq list --json --queue "$qq")
is "$(jq -r '.[0] | [.id, .queue, .reason] | join(" ")' <<<"$j")" "m3 $qq delivery_limit" \
	"quorum delivery limit exceeded: parked with reason delivery_limit"
is "$(zl_zl -c "$conf" dlq list --json --queue "$oz" | jq length)" 0 "dlq list --queue filters"

# purge refuses without --yes; export is JSON.
rc=0; zl_zl -c "$conf" dlq purge --all >/dev/null 2>&1 || rc=$?
is "$rc" 64 "dlq purge without --yes: refused (exit 64)"
is "$(count "$ex.dlq")" 1 "dlq purge without --yes: nothing deleted"
exp=$ZL_TMP/export.jsonl
zl_zl -c "$conf" dlq export >"$exp" 2>/dev/null
ok "dlq export: every line parses as JSON" json_lines "$exp"
# Header values name their AMQP type (tests/integration/dlq_export.sh has them all).
is "$(jq -r '[.properties.message_id, .headers["zaaklink-origin-queue"].type,
	.headers["zaaklink-origin-queue"].value, .body] | join(" ")' "$exp")" \
	"m3 longstr $qq {\"n\":3}" "dlq export: properties, typed headers and body"
is "$(jq -r '.headers["x-death"].value[0].value.reason.value' "$exp")" "delivery_limit" \
	"dlq export: the broker's x-death, nested tables and arrays with their types"
out=$(zl_zl -c "$conf" dlq purge --all --yes 2>&1); rc=$?
is "$rc:$out" "0:purged 1 message from $ex.dlq" "dlq purge --all --yes"
is "$(count "$ex.dlq")" 0 "dlq purge: parking queue empty"

# Unrouted: requeue republishes to the exchange; still unroutable, it is
# back in the unrouted queue once, not in a loop.
zl_probe publish "$ex" nomatch.x '{"n":4}' --id m4 --type nomatch.x
zl_wait_for 5 holds "$ex.unrouted" 1
like "$(zl_zl -c "$conf" dlq list --unrouted 2>&1)" "m4 +nomatch[.]x .*unrouted" "dlq list --unrouted"
out=$(zl_zl -c "$conf" dlq requeue --unrouted --all 2>&1); rc=$?
is "$rc:$out" "0:requeued 1 of 1 matching message from $ex.unrouted to the exchange" \
	"dlq requeue --unrouted --all"
is "$(count "$ex.unrouted")" 1 "still unroutable: back in the unrouted queue, once"

# zaaklink-seq, the outbox seq zaaklink publishes an event with, is the
# publisher's: a retry tier, parking and `dlq requeue` keep it as it was.
# seqs FILE ACTION: the zaaklink-seq values of the deliveries with that action.
seqs() { jq -r --arg a "$2" 'select(.action == $a) | .headers["zaaklink-seq"] // "none" | tostring' "$1" |
	tr '\n' ' ' | sed 's/ $//'; }
kc=$(zl_kc "$db" "Vraag over de retry")
zl_ow "$db" "$kc" "$(zl_uuid)" >/dev/null
zl_wait_for 15 holds "$ev" 1 || diag "$ev holds $(count "$ev")"
f=$ZL_TMP/e1.jsonl
zl_probe consume "$ev" --reject 1 --expect 1 --timeout 20 >"$f" 2>"$f.err"
s1=$(seqs "$f" rejected)
like "$s1" '^[1-9][0-9]*$' "zaaklink's event carries zaaklink-seq ($s1)"
is "$(seqs "$f" accepted) $(jq -r 'select(.action == "accepted") | .headers["zaaklink-attempts"]' "$f")" \
	"$s1 1" "back from a retry tier: the same zaaklink-seq, beside zaaklink-attempts"
zl_ow "$db" "$kc" "$(zl_uuid)" >/dev/null
zl_wait_for 15 holds "$ev" 1 || diag "$ev holds $(count "$ev")"
f=$ZL_TMP/e2.jsonl
consumer_bg "$f" "$ev" --reject 1000 --timeout 30
zl_wait_for 15 holds "$ex.dlq" 1 || diag "parking queue holds $(count "$ex.dlq")"
stop_consumer
all=$(seqs "$f" rejected)
s2=${all%% *}
like "$s2" '^[1-9][0-9]*$' "the parked event carries zaaklink-seq ($s2)"
is "$all" "$s2 $s2 $s2" "parked event: the same zaaklink-seq on all 3 deliveries"
cmp_ok "${s2:-0}" -gt "${s1:-0}" "the later event has the greater zaaklink-seq"
exp=$ZL_TMP/export-seq.jsonl
zl_zl -c "$conf" dlq export >"$exp" 2>/dev/null
is "$(jq -r '.headers["zaaklink-seq"] | .type + " " + .value' "$exp")" "int64 $s2" \
	"dlq export: zaaklink-seq of the parked event, an int64"
id=$(jq -r .properties.message_id "$exp")
out=$(zl_zl -c "$conf" dlq requeue --id "$id" 2>&1); rc=$?
is "$rc" 0 "dlq requeue --id of the parked event: exit 0"
like "$out" "requeued 1 of 1" "dlq requeue of the parked event: moved"
g=$(zl_drain "$ev" 1 5)
is "$(zl_jq "$g" '[.message_id, .headers["zaaklink-seq"], .headers["zaaklink-attempts"] // "none"] |
	map(tostring) | join(" ")')" "$id $s2 none" "requeued: the same zaaklink-seq, attempts reset"

rc=0; zl_stop "$pid" TERM || rc=$?
is "$rc" 0 "run with the retry controller: SIGTERM, exit 0"

# ---- SIGKILL while moving: duplicates allowed, losses not ---------------
ex2=$(zl_exchange_new)
k=$ex2.k
conf2=$ZL_TMP/kill.conf
zl_conf "$conf2" "$db" "$ZL_TMP/state2.db" "$ex2" \
	"amqp.queues = ( { name = \"$k\"; bindings = [ \"#\" ]; } );" 'retry.delays = [ 600 ];'
zl_zl -c "$conf2" setup >/dev/null 2>&1 || diag "setup of $ex2 failed"
n=1000
zl_probe publish "$ex2" t.k '{}' --id k --count "$n"
# All of them rejected first, so that the controller has a backlog to move.
consumer_bg "$ZL_TMP/k.jsonl" "$k" --reject 1 --timeout 60
zl_wait_for 30 holds "$ex2.retry" "$n" || diag "retry queue holds $(count "$ex2.retry")"
stop_consumer
zl_run_bg "$conf2" "$ZL_TMP/kill.log"
pid=$ZL_PID
# Killed as soon as it has begun to move: some moved, the rest not yet.
for _ in $(seq 400); do
	[ "$(count "$ex2.wait.600s")" -gt 0 ] && break
	sleep 0.05
done
kill -KILL "$pid"
rc=0; wait "$pid" 2>/dev/null || rc=$?
is "$rc" 137 "SIGKILL ended the controller while it ran"
moved=$(count "$ex2.wait.600s") left=$(count "$ex2.retry")
note "killed with $moved of $n moved to the wait queue, $left still in $ex2.retry"
cmp_ok "$moved" -gt 0 "the kill came after the first moves ($moved)"
cmp_ok "$moved" -lt "$n" "and before the last one ($left left)"
zl_run_bg "$conf2" "$ZL_TMP/kill.log"
pid=$ZL_PID
ok "run after SIGKILL: the retry queue is emptied" zl_wait_for 30 holds "$ex2.retry" 0
rc=0; zl_stop "$pid" TERM || rc=$?
is "$rc" 0 "run after SIGKILL: moves the rest, exit 0 on SIGTERM"
ids=$ZL_TMP/k.ids
for q in "$k" "$ex2.wait.600s" "$ex2.dlq"; do
	zl_probe drain "$q" --timeout 1 | jq -r .message_id
done | sort -u >"$ids"
is "$(wc -l <"$ids")" "$n" "after SIGKILL: every one of $n messages is in a consumer, wait or parking queue"

unlike "$(cat "$log" "$ZL_TMP/kill.log")" "guest:guest@" "the log holds no password"
done_testing
