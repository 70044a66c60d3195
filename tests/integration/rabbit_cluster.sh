#!/bin/bash
# A RabbitMQ cluster of three nodes (its own, on this machine): amqp.url
# lists the three, `setup` declares the consumer queue and zaaklink's own
# queues (retry, wait tier, parking, unrouted) as quorum queues, replicated
# on every node. While links stream into Open Klant, the node zaaklink
# publishes to is killed when some events are confirmed and others still
# pending. zaaklink must move to another node, lose nothing (duplicates
# only with the same id and body, at most one batch), and the retry
# controller must go on: a rejected message comes back through the wait
# tier, one rejected every time is parked. Prints the time from the stop
# to the first confirmed publish on the new node.
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/faults/lib.sh
. "$ZL_SRCDIR/tests/faults/lib.sh"
zl_require_tools curl
zl_pg_up
started=$SECONDS

cluster=$ZL_TMP/cluster
zl_rabbit_cluster_start "$cluster" 3 || bail "cannot start a RabbitMQ cluster of three nodes"
diag "cluster of three nodes up and joined in $((SECONDS - started)) s"
urls=()
for i in 1 2 3; do
	urls+=("$(zl_rabbit_url "$cluster/n$i")")
done

db=$(zl_db_new) || bail "cannot create a database"
ex=$(zl_exchange_new)
q=$ex.oz
conf=$ZL_TMP/zaaklink.conf
log=$ZL_TMP/zaaklink.log
port=$(zl_free_port) || bail "no free port"
zl_conf "$conf" "$db" "$ZL_TMP/state.db" "$ex" \
	"amqp.url = [ \"${urls[0]}\", \"${urls[1]}\", \"${urls[2]}\" ];" \
	"amqp.queues = ( { name = \"$q\"; bindings = [ \"nl.overheid.zaken.#\" ]; type = \"quorum\"; delivery_limit = 5; } );" \
	'amqp.queue_type = "quorum";' 'retry.delays = [ 1 ];' \
	'amqp.connect_timeout = 2.0;' 'amqp.max_backoff = 1.0;' 'amqp.batch_size = 500;' \
	"metrics.listen = \"127.0.0.1:$port\";" 'log.level = "debug";'

# ctl N ARGS...: rabbitmqctl on node N, its output on stdout.
ctl() {
	local n=$1
	shift
	_zl_rabbit_env "$cluster/n$n" timeout 60 "$ZL_RABBIT_BIN/rabbitmqctl" "$@" 2>>"$ZL_TMP/ctl.err"
}
# metric NAME: the sum of the samples of NAME (every label), 0 when absent.
metric() {
	curl -s --max-time 2 "http://127.0.0.1:$port/metrics" |
		awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { print s + 0 }'
}
# port_of N: the AMQP port of node N.
port_of() {
	local p
	read -r p _ <"$cluster/n$1/ports"
	echo "$p"
}
# node_of_log LINE: the number (1-3) of the node whose port LINE names.
node_of_log() {
	local i
	for i in 1 2 3; do
		[[ $1 == *"127.0.0.1:$(port_of "$i")/"* ]] && echo "$i" && return 0
	done
	return 1
}
holds() { [ "$(zl_probe count "$1")" = "$2" ]; }

# ---- setup: quorum queues on the cluster ------------------------------
out=$(zl_zl -c "$conf" setup 2>&1)
is "$?" 0 "setup on the cluster: exit 0"
like "$out" "quorum, delivery limit 5" "setup declares the consumer queue as a quorum queue"
types=$(ctl 2 list_queues name type --formatter json)
for name in "$q" "$ex.retry" "$ex.wait.1s" "$ex.dlq" "$ex.unrouted"; do
	is "$(jq -r --arg n "$name" '.[] | select(.name == $n) | .type' <<<"$types")" quorum \
		"$name is a quorum queue (rabbitmqctl on another node)"
done
members=$(ctl 2 list_queues name members --formatter json |
	jq -r --arg n "$ex.retry" '.[] | select(.name == $n) | .members | length')
is "$members" 3 "the retry queue has a member on each of the three nodes"

# ---- the stream, and the stop of zaaklink's node ------------------------
zl_run_bg "$conf" "$log"
pid=$ZL_PID
zl_wait_log 'msg=amqp\.connected' 20 || bail "zaaklink did not connect: $(tail -n 5 "$log")"
zl_wait_log 'msg=retry\.ready' 20 || diag "no retry.ready in $log"
first=$(grep -m1 'msg=amqp.connected' "$log")
k=$(node_of_log "$first") || bail "amqp.connected names no node of the cluster: $first"
note "zaaklink publishes to node n$k: $first"
survivor=$((k % 3 + 1))

ids=$ZL_TMP/ids
: >"$ids"
# Links inserted one at a time, all along (before, during and after the stop).
zl_feed_links "$db" 60 0.05 "$ids"
feed=$ZL_FEED_PID
sleep 1
# And a bulk: a backlog of pending events while zaaklink publishes.
_zl_psql "$db" -c "WITH k AS (INSERT INTO klantinteracties_klantcontact
	(uuid, nummer, kanaal, onderwerp, inhoud, taal, vertrouwelijk, plaatsgevonden_op,
	 metadata, reactie, hoofd_onderwerp_type, verdere_actie_ondernomen)
	SELECT gen_random_uuid(), NULL, 'telefoon', 'Bulk ' || g, '', 'nld', false, now(), '{}', '',
	 '', false FROM generate_series(1, 5000) g RETURNING id)
	INSERT INTO klantinteracties_onderwerpobject (uuid, klantcontact_id,
	 onderwerpobjectidentificator_code_objecttype,
	 onderwerpobjectidentificator_code_soort_object_id,
	 onderwerpobjectidentificator_object_id, onderwerpobjectidentificator_code_register)
	SELECT gen_random_uuid(), id, 'zaak', 'uuid', gen_random_uuid()::text, 'open-zaak' FROM k
	RETURNING onderwerpobjectidentificator_object_id" >>"$ids" || bail "cannot insert the bulk"

# Stopped on what zaaklink itself reports: some events confirmed by the
# broker and most of the backlog still waiting. The node is killed, not
# shut down: a graceful stop keeps confirming for half a second or more,
# long enough on a quiet machine for zaaklink to publish the whole backlog
# to the node that is going away.
beam=$(zl_rabbit_beam "$cluster/n$k")
[ -n "$beam" ] || bail "no Erlang VM found for node n$k"
published=0 pending=0
for _ in $(seq 300); do
	published=$(metric zaaklink_events_published_total)
	pending=$(metric zaaklink_outbox_pending_events)
	((published > 100 && pending > 1000)) && break
	sleep 0.1
done
note "stopping node n$k with $published events confirmed and $pending pending"
cmp_ok "$published" -gt 100 "at the stop some events were confirmed ($published)"
cmp_ok "$pending" -gt 1000 "and most of the backlog was still pending ($pending)"
from=$(wc -l <"$log")
stop_ns=$(date +%s%N)
kill -KILL "$beam"
zl_rabbit_term "$cluster/n$k" &
stopper=$!
echo "$stopper" >>"$ZL_TMP/pids"

# The first confirmed publish on another node: an amqp.connected line naming
# another node, then a batch with events acked.
moved_ms='' closed_ms=''
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)); do
	if [ -z "$closed_ms" ] && tail -n +"$((from + 1))" "$log" | grep -q 'msg=amqp\.disconnected'; then
		closed_ms=$((($(date +%s%N) - stop_ns) / 1000000))
	fi
	new=$(tail -n +"$((from + 1))" "$log" | awk '
		/msg=amqp\.connected/ { c = $0; next }
		c != "" && /msg=amqp\.batch/ && !/acked=0( |$)/ { print c; exit }')
	if [ -n "$new" ] && [ "$(node_of_log "$new")" != "$k" ]; then
		moved_ms=$((($(date +%s%N) - stop_ns) / 1000000))
		break
	fi
	sleep 0.05
done
wait "$stopper"
ok "zaaklink moved to another node" [ -n "$moved_ms" ]
diag "failover: node n$k stopped; zaaklink saw its connection closed after ${closed_ms:-?} ms, its first confirmed publish on $(node_of_log "$new" | sed 's/^/n/') came after ${moved_ms:-?} ms"
zl_figures "rabbit_cluster failover_ms=${moved_ms:-none}"
like "$(tail -n +"$((from + 1))" "$log" | grep -m1 'msg=amqp.disconnected')" "127\\.0\\.0\\.1:$(port_of "$k")/" \
	"amqp.disconnected names the stopped node"
nok "node n$k is down" zl_wait_port "$(port_of "$k")" 0
is "$(ctl "$survivor" cluster_status --formatter json | jq -r '.running_nodes | length')" 2 \
	"the cluster runs on with two nodes"

# ---- nothing lost --------------------------------------------------------
export ZL_TEST_AMQP_URL=${urls[survivor - 1]}
wait "$feed"
expected=$(sort -u "$ids" | grep -c .)
pending_zero() { [ "$(metric zaaklink_outbox_pending_events)" = 0 ] && [ "$(metric zaaklink_events_published_total)" -ge "$expected" ]; }
ok "every event is confirmed after the failover" zl_wait_for 60 pending_zero
# What the new node confirmed beyond the few links fed one at a time: the
# backlog was still being published when the node went.
after=$(tail -n +"$((from + 1))" "$log" | awk '
	/msg=amqp\.connected/ { on = 1; next }
	on && /msg=amqp\.batch/ { sub(/.*acked=/, ""); s += $1 } END { print s + 0 }')
cmp_ok "$after" -gt 60 "the stop came in the middle of the stream: $after events confirmed by the new node"
f=$(zl_drain "$q" "$expected" 90)
g=$(zl_drain "$q" "" 2)
cat "$g" >>"$f"
res=$(zl_each_once "$ids" "$f")
note "$expected links: $res"
like "$res" "^missing=0 extra=0 " "every link's event arrived in the consumer queue ($expected links)"
dups=$(sed 's/.*duplicates=\([0-9]*\).*/\1/' <<<"$res")
diag "duplicates after the failover: $dups"
zl_figures "rabbit_cluster duplicates=$dups delivered=$(zl_count "$f")"
cmp_ok "${dups:-9999}" -le 500 "duplicates at most one batch (500): $dups"
is "$(zl_jqs "$f" 'group_by(.message_id) | map(select((map(.body) | unique | length) > 1)) | length')" 0 \
	"a duplicate has the same id and body"

# ---- the retry controller after the stop -------------------------------
kc=$(zl_kc "$db" "Na de storing")
: >"$ZL_TMP/retry.ids"
for _ in 1 2 3; do
	z=$(zl_uuid)
	zl_ow "$db" "$kc" "$z" >/dev/null
	echo "$z" >>"$ZL_TMP/retry.ids"
done
r=$ZL_TMP/retry.jsonl
zl_probe consume "$q" --reject 1 --expect 3 --timeout 30 >"$r" 2>"$r.err"
is "$(jq -r .action "$r" | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')" \
	"accepted=3 rejected=3 " "rejected once, each of three came back through the wait tier"
is "$(jq -r 'select(.action == "accepted") | .headers["zaaklink-attempts"] | tostring' "$r" | sort -u)" 1 \
	"the returned messages carry zaaklink-attempts 1"
is "$(zl_jq "$r" 'select(.action == "accepted") | ev.subject' | sort)" "$(sort "$ZL_TMP/retry.ids")" \
	"the three links' events came back"

z=$(zl_uuid)
zl_ow "$db" "$kc" "$z" >/dev/null
p=$ZL_TMP/park.jsonl
"$ZL_PROBE" "$ZL_TEST_AMQP_URL" consume "$q" --reject 1000 --timeout 30 >"$p" 2>"$p.err" &
consumer=$!
echo "$consumer" >>"$ZL_TMP/pids"
ok "rejected every time: parked after the one tier" zl_wait_for 30 holds "$ex.dlq" 1
kill "$consumer" 2>/dev/null
wait "$consumer" 2>/dev/null
is "$(zl_zl -c "$conf" dlq list --json | jq -r '.[0] | .queue + " " + (.attempts | tostring)')" "$q 2" \
	"dlq list on the cluster: the parked message, from $q, 2 attempts"

rc=0; zl_stop "$pid" || rc=$?
is "$rc" 0 "zaaklink stops cleanly on the two nodes left"
unlike "$(cat "$log")" "guest:guest@" "the log holds no password"
diag "test took $((SECONDS - started)) s"
done_testing
