#!/bin/bash
# Metrics and health over HTTP (metrics.listen) during a real `zaaklink run`:
# the counters match what the test queue received; 32 idle connections do
# not keep a scrape waiting and are closed after 5 s; /healthz turns 503 when
# the broker is stopped or PostgreSQL refuses the database, says why
# without naming hosts, databases or users, and is 200 again after; each
# outage is logged once when it starts and once when it ends; under
# journald lines carry their priority instead of a timestamp. This test
# stops and starts a RabbitMQ of its own.
. "$(dirname "$0")/../lib.sh"
zl_require_tools curl
zl_servers_up
zl_rabbit_start "$ZL_TMP/own-rabbit" || bail "cannot start a RabbitMQ of our own"
broker=$ZL_TMP/own-rabbit

zl_fixture_new
port=$(zl_free_port)
url=http://127.0.0.1:$port
conf=$ZL_TMP/zaaklink.conf
state=$ZL_TMP/state.db
log=$ZL_TMP/zaaklink.log
zl_conf "$conf" "$db" "$state" "$ex" "metrics.listen = \"127.0.0.1:$port\";" \
	'amqp.connect_timeout = 3.0;' 'amqp.max_backoff = 1.0;'

# get PATH [CURL-ARGS...]: the status code; the body is in $ZL_TMP/body.
get() {
	local path=$1
	shift
	curl -s -m 5 -o "$ZL_TMP/body" -w '%{http_code}' "$@" "$url$path"
}
# scrape: /metrics into $ZL_TMP/scrape (one scrape, for figures compared together).
scrape() {
	curl -s -m 5 -o "$ZL_TMP/scrape" "$url/metrics"
}
# m SAMPLE: the value of a sample of the last scrape ("missing" when absent).
m() {
	awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print "missing" }' "$ZL_TMP/scrape"
}
# fresh SAMPLE: the value in a new scrape.
fresh() {
	scrape && m "$1"
}
# healthz_is CODE: true when /healthz answers CODE.
healthz_is() {
	[ "$(get /healthz)" = "$1" ]
}
# metric_is SAMPLE VALUE: true when a new scrape shows VALUE.
metric_is() {
	[ "$(fresh "$1")" = "$2" ]
}
# listening PID: the local address:port (hex, as in /proc/net/tcp) of every
# TCP socket PID listens on, one a line.
listening() {
	local inodes
	inodes=$(find "/proc/$1/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n')
	[ -n "$inodes" ] || return 0
	awk -v list="$inodes" 'BEGIN { n = split(list, a, "\n"); for (i = 1; i <= n; i++) want[a[i]] = 1 }
		$4 == "0A" && ($10 in want) { print $2 }' /proc/net/tcp /proc/net/tcp6
}
# accepted PID: how many TCP connections PID has accepted on $port and holds open.
accepted() {
	local inodes
	inodes=$(find "/proc/$1/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n')
	[ -n "$inodes" ] || { echo 0; return 0; }
	awk -v list="$inodes" -v port="$(printf '%04X' "$port")" '
		BEGIN { n = split(list, a, "\n"); for (i = 1; i <= n; i++) want[a[i]] = 1 }
		$4 == "01" && ($10 in want) && substr($2, index($2, ":") + 1) == port { c++ }
		END { print c + 0 }' /proc/net/tcp /proc/net/tcp6
}
# accepted_is PID N: true when PID holds exactly N connections.
accepted_is() {
	[ "$(accepted "$1")" = "$2" ]
}
gek=nl.overheid.zaken.zaak-gekoppeld
ont=nl.overheid.zaken.zaak-ontkoppeld

# ---- configuration ----
bad=$ZL_TMP/bad.conf
zl_conf "$bad" "$db" "$state" "$ex" 'metrics.listen = "localhost:9187";'
rc=0; out=$(zl_zl -c "$bad" check-config 2>&1) || rc=$?
is "$rc" 78 "metrics.listen with a host name: exit 78"
like "$out" "^$bad:[0-9]+: metrics.listen: 'localhost' is not a numeric" "... FILE:LINE: metrics.listen: why"

# ---- without metrics.listen: no HTTP server at all ----
plain=$ZL_TMP/plain.conf
zl_conf "$plain" "$db" "$ZL_TMP/plain.db" "$ex"
zl_run_bg "$plain" "$ZL_TMP/plain.log"
ok "without metrics.listen: run makes a pass" zl_wait_for 20 zl_passes_reach "$plain" 1
is "$(listening "$ZL_PID")" "" "without metrics.listen run listens on no TCP port"
rc=0; zl_stop "$ZL_PID" || rc=$?
is "$rc" 0 "without metrics.listen: run was running all along, and stops cleanly"

# ---- the daemon with metrics ----
zl_run_bg "$conf" "$log"
pid=$ZL_PID
ok "/healthz answers 200 once the first pass is done" zl_wait_for 30 healthz_is 200
is "$(cat "$ZL_TMP/body")" "ok" "/healthz body: ok"
is "$(listening "$pid")" "$(printf '0100007F:%04X' "$port")" "run listens on 127.0.0.1:$port only"

# A second daemon cannot have the port: one line, exit 69.
other=$ZL_TMP/other.conf
zl_conf "$other" "$db" "$ZL_TMP/other.db" "$ex" "metrics.listen = \"127.0.0.1:$port\";"
rc=0; out=$(zl_zl -c "$other" run 2>&1) || rc=$?
is "$rc" 69 "run on a port in use: exit 69"
is "$out" "zaaklink: could not listen on 127.0.0.1:$port (metrics.listen): Address already in use" \
	"run on a port in use: one line naming the address and the reason"

headers=$(curl -s -m 5 -D - -o /dev/null "$url/metrics")
like "$headers" $'Content-Type: text/plain; version=0.0.4; charset=utf-8\r' \
	"/metrics is Prometheus' text format 0.0.4"
is "$(get /nowhere)" 404 "an unknown path: 404"
is "$(get /metrics -X POST)" 405 "POST /metrics: 405"

# ---- idle connections do not starve a scrape ----
# Connections that send nothing or half a request, from the scraper's own
# address: the server keeps answering, and drops them after its timeout.
idle=()
trap '' PIPE # a server that closes a connection must not end this script
for i in $(seq 32); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" || bail "cannot open idle connection $i"
	[ $((i % 2)) -eq 1 ] || printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n' >&"$fd" 2>/dev/null || true
	idle+=("$fd")
done
opened=$EPOCHSECONDS
ok "the server accepts 32 idle connections" zl_wait_for 5 accepted_is "$pid" 32 ||
	diag "the server holds $(accepted "$pid") of them"
code=$(curl -s -m 1 -o "$ZL_TMP/scrape" -w '%{http_code}' "$url/metrics") || true
is "$code" 200 "with 32 idle connections open, a scrape succeeds within 1 s"
like "$(cat "$ZL_TMP/scrape" 2>/dev/null)" 'zaaklink_passes_total [0-9]+' "... and has the figures"
code=$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$url/healthz") || true
is "$code" 200 "... and so does /healthz"
# A connection that sent half a request is closed by the server (EOF) once
# it has been idle for the 5 s timeout, not before and not much later.
rc=0; read -r -t 15 -u "${idle[1]}" _ || rc=$?
is "$rc" 1 "an idle connection is closed by the server (EOF, not our 15 s wait)"
took=$((EPOCHSECONDS - opened))
ok "... after the 5 s timeout, give or take a second (took $took s)" test "$took" -ge 4 -a "$took" -le 7
ok "the server drops every idle connection" zl_wait_for 10 accepted_is "$pid" 0
for fd in "${idle[@]}"; do exec {fd}>&-; done
trap - PIPE

# ---- events: recorded and published equal what the queue received ----
kc=$(zl_kc "$db" "Aanvraag parkeervergunning")
o1=$(zl_ow "$db" "$kc" "$(zl_uuid)")
zl_ow "$db" "$kc" "$(zl_uuid)" >/dev/null
zl_ow "$db" "$kc" "$(zl_uuid)" >/dev/null
f1=$(zl_drain "$q" 3 30)
zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $o1"
f2=$(zl_drain "$q" 1 30)
cat "$f1" "$f2" >"$ZL_TMP/received.jsonl"
got_gek=$(zl_jq "$ZL_TMP/received.jsonl" "select(.routing_key == \"$gek\") | .message_id" | grep -c .)
got_ont=$(zl_jq "$ZL_TMP/received.jsonl" "select(.routing_key == \"$ont\") | .message_id" | grep -c .)
is "$got_gek/$got_ont" "3/1" "the queue received 3 gekoppeld and 1 ontkoppeld"
ok "the metrics catch up with the queue" zl_wait_for 10 metric_is "zaaklink_events_published_total{type=\"$ont\"}" 1
scrape
is "$(m "zaaklink_events_recorded_total{type=\"$gek\"}")" "$got_gek" "events recorded, gekoppeld = received"
is "$(m "zaaklink_events_recorded_total{type=\"$ont\"}")" "$got_ont" "events recorded, ontkoppeld = received"
is "$(m "zaaklink_events_published_total{type=\"$gek\"}")" "$got_gek" "events published, gekoppeld = received"
is "$(m "zaaklink_events_published_total{type=\"$ont\"}")" "$got_ont" "events published, ontkoppeld = received"
is "$(m zaaklink_outbox_pending_events)" 0 "nothing pending"
is "$(m zaaklink_outbox_oldest_pending_age_seconds)" 0 "no pending age"
is "$(m zaaklink_links)" 2 "two links known"
is "$(m zaaklink_broker_connected)/$(m zaaklink_broker_blocked)" "1/0" "broker connected, not blocked"
is "$(m zaaklink_publish_nacked_total)/$(m zaaklink_publish_returned_total)" "0/0" "no nacks, no returns"
is "$(m zaaklink_pass_errors_total)" 0 "no pass errors"
passes=$(m zaaklink_passes_total)
cmp_ok "$passes" -ge 3 "passes are counted"
is "$(m zaaklink_pass_duration_seconds_count)" "$passes" "the duration histogram counts every pass"
is "$(m 'zaaklink_pass_duration_seconds_bucket{le="+Inf"}')" "$passes" "... and so does its +Inf bucket"
cmp_ok "$(m zaaklink_pass_ranges)" -ge 1 "ranges compared by the last pass"
cmp_ok "$(m zaaklink_source_rows_received_total)" -ge 3 "rows received"
ts=$(m zaaklink_last_pass_success_timestamp_seconds)
cmp_ok "$((EPOCHSECONDS - ${ts%.*}))" -le 10 "the last successful pass is recent"
is "$(m zaaklink_unrouted_messages)" 0 "the unrouted queue is empty"
cmp_ok "$(grep -c '^# HELP zaaklink_' "$ZL_TMP/scrape")" -ge 20 "HELP lines"
is "$(grep -c '^# HELP ' "$ZL_TMP/scrape")" "$(grep -c '^# TYPE ' "$ZL_TMP/scrape")" "a TYPE for every HELP"
st=$(zl_status_json "$conf")
is "$(jq -r '.health.ok' <<<"$st")" true "status --json: healthy while run runs"
is "$(jq -r '.links' <<<"$st")" "$(m zaaklink_links)" "status --json shows the links the metrics show"
cp "$ZL_TMP/scrape" "$ZL_TMP/scrape.events"
if [ -n "${ZL_SCRAPE_OUT:-}" ]; then cp "$ZL_TMP/scrape" "$ZL_SCRAPE_OUT"; fi

# ---- the broker goes away and comes back ----
zl_rabbit_stop "$broker" || bail "cannot stop our RabbitMQ"
ok "/healthz turns 503 when the broker is stopped" zl_wait_for 30 healthz_is 503
body=$(cat "$ZL_TMP/body")
is "$body" 'not connected to RabbitMQ' "503 body: the reason, without the broker's address or user"
is "$(wc -l <"$ZL_TMP/body")" 1 "503 body: one line"
st=$(zl_status_json "$conf")
like "$(jq -r '.health.reason' <<<"$st")" "^not connected to RabbitMQ: .*127\.0\.0\.1" \
	"status --json keeps the broker's address in the reason"
is "$(fresh zaaklink_broker_connected)" 0 "broker connected: 0"
zl_ow "$db" "$kc" "$(zl_uuid)" >/dev/null
ok "a change during the outage is pending" zl_wait_for 20 metric_is zaaklink_outbox_pending_events 1
sleep 3 # several reconnect attempts (max_backoff 1 s)
zl_rabbit_start_again "$broker" || bail "cannot start our RabbitMQ again"
ok "/healthz is 200 again when the broker is back" zl_wait_for 60 healthz_is 200
f3=$(zl_drain "$q" 1 30)
is "$(zl_types "$f3")" "gekoppeld" "the change made during the outage arrives"
ok "published by type counts it" zl_wait_for 10 metric_is "zaaklink_events_published_total{type=\"$gek\"}" 4
is "$(m zaaklink_outbox_pending_events)" 0 "nothing pending after the outage"
amqp_log=$(tail -n +"$((ZL_RUN_LOG_FROM + 1))" "$log")
is "$(grep -c 'msg=amqp.unavailable' <<<"$amqp_log")" 1 "one amqp.unavailable line for the outage"
is "$(grep -c 'msg=amqp.recovered' <<<"$amqp_log")" 1 "one amqp.recovered line for the outage"
like "$(grep 'msg=amqp.recovered' <<<"$amqp_log")" 'attempts=([2-9]|[1-9][0-9]+)' \
	"... after several attempts that were not logged one by one"

# ---- PostgreSQL refuses the database and accepts it again ----
zl_sql postgres "ALTER DATABASE \"$db\" WITH ALLOW_CONNECTIONS false" >/dev/null
zl_sql postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db'" >/dev/null
ok "/healthz turns 503 when no pass succeeds for 3 poll intervals" zl_wait_for 30 healthz_is 503
like "$(cat "$ZL_TMP/body")" '^last successful pass [0-9.]+ s ago, more than 3 poll intervals \(1\.5 s\)$' \
	"503 body: how long ago"
unlike "$(cat "$ZL_TMP/body")" "$db|host=|user=|127\\.0\\.0\\.1" "503 body: no database, host or user name"
like "$(tail -n +"$((ZL_RUN_LOG_FROM + 1))" "$log" | grep 'msg=source.unavailable')" "$db" \
	"the log names the database that refused"
cmp_ok "$(fresh zaaklink_pass_errors_total)" -ge 1 "pass errors are counted"
sleep 2
zl_sql postgres "ALTER DATABASE \"$db\" WITH ALLOW_CONNECTIONS true" >/dev/null
ok "/healthz is 200 again when PostgreSQL is back" zl_wait_for 30 healthz_is 200
pg_log=$(tail -n +"$((ZL_RUN_LOG_FROM + 1))" "$log")
is "$(grep -c 'msg=source.unavailable' <<<"$pg_log")" 1 "one source.unavailable line for the outage"
is "$(grep -c 'msg=source.recovered' <<<"$pg_log")" 1 "one source.recovered line for the outage"
like "$(grep 'msg=source.recovered' <<<"$pg_log")" 'attempts=([2-9]|[1-9][0-9]+)' \
	"... after several attempts that were not logged one by one"
is "$(grep -Evc '^[0-9T:-]+Z level=(debug|info|warning|error) msg=[a-z_]+\.[a-z_.]+( |$)' <<<"$pg_log")" 0 \
	"every log line: timestamp, level and a stable msg= event name"

rc=0; zl_stop "$pid" || rc=$?
is "$rc" 0 "run stops cleanly"
nok "the port is closed after the stop" zl_wait_port "$port" 0

# ---- journald ----
jlog=$ZL_TMP/journal.log
: >"$jlog"
JOURNAL_STREAM=$(stat -c '%d:%i' "$jlog") zl_zl -v -c "$conf" once 2>>"$jlog" >/dev/null
like "$(head -n 1 "$jlog")" '^<[0-7]>level=' "under journald: a priority prefix"
is "$(grep -Evc '^<(7>level=debug|6>level=info|4>level=warning|3>level=error) msg=' "$jlog")" 0 \
	"under journald: every line <priority>level=... msg=..., no timestamp"
: >"$jlog"
JOURNAL_STREAM=1:1 zl_zl -v -c "$conf" once 2>>"$jlog" >/dev/null
like "$(head -n 1 "$jlog")" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z level=' \
	"JOURNAL_STREAM naming another stream: timestamps"

done_testing
