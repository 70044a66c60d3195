#!/bin/bash
# The command line of INTERFACE.md: help and version, usage errors (64),
# check-config (0 / 78 with FILE:LINE), check-config --connect against
# servers that are not there (69, no password in the output), and status on
# a fresh state and against an exchange never declared (it declares nothing).
. "$(dirname "$0")/../lib.sh"
zl_require_tools
zl_servers_up

db=$(zl_db_new) || bail "cannot create a database"
ex=$(zl_exchange_new)
conf=$ZL_TMP/good.conf
zl_conf "$conf" "$db" "$ZL_TMP/state.db" "$ex"

# run_zl NAME ARGS...: runs zaaklink; sets rc, out (stdout) and err (stderr).
run_zl() {
	local name=$1
	shift
	rc=0
	zl_zl "$@" >"$ZL_TMP/$name.out" 2>"$ZL_TMP/$name.err" || rc=$?
	out=$(<"$ZL_TMP/$name.out")
	err=$(<"$ZL_TMP/$name.err")
}

# lines TEXT: number of non-empty lines.
lines() { grep -c . <<<"$1"; }

# ---- help, version, usage ----

run_zl help --help
is "$rc" 0 "--help exits 0"
like "$out" "Usage: zaaklink" "--help prints the usage on stdout"
like "$out" "check-config" "--help lists the commands"

run_zl version --version
is "$rc" 0 "--version exits 0"
like "$out" "^zaaklink [0-9]+\.[0-9]+" "--version prints 'zaaklink VERSION'"
run_zl version_after once --version
is "$rc" 0 "--version after a command exits 0"
like "$out" "^zaaklink [0-9]+\.[0-9]+" "--version after a command prints 'zaaklink VERSION'"

run_zl help2 -c /nonexistent/zaaklink.conf --help
is "$rc" 0 "--help works whatever the configuration file"

run_zl nocmd -c "$conf"
is "$rc" 64 "no command: exit 64"

run_zl unknown -c "$conf" frobnicate
is "$rc" 64 "unknown command: exit 64"
like "$err" "frobnicate" "unknown command: the message names it"
is "$(lines "$err")" 1 "unknown command: one line on stderr"

run_zl badopt -c "$conf" --frobnicate once
is "$rc" 64 "unknown option: exit 64"

run_zl noarg -c
is "$rc" 64 "-c without a file name: exit 64"

run_zl configeq --config="$conf" check-config
is "$rc" 0 "--config=FILE works"

# ---- each command's own usage and options ----

# A command's help needs no configuration file.
run_zl dlqhelp -c /nonexistent/zaaklink.conf dlq --help
is "$rc" 0 "dlq --help exits 0"
like "$out" "Usage: zaaklink dlq list" "dlq --help prints dlq's usage"
like "$out" "zaaklink dlq purge --from FILE --yes" "dlq --help shows each form of the subcommands"
for word in list export requeue purge --queue --type --limit --id --all --from --yes --json \
	--unrouted; do
	like "$out" "  $word " "dlq --help lists $word"
done
unlike "$out" "check-config" "dlq --help is not zaaklink's usage"
is "$err" "" "dlq --help: nothing on stderr"

run_zl dlqlisthelp -c "$conf" dlq list --help
is "$rc" 0 "dlq list --help exits 0"
like "$out" "Usage: zaaklink dlq list" "dlq list --help prints dlq's usage"

run_zl statushelp -c "$conf" status --help
is "$rc" 0 "status --help exits 0"
like "$out" "Usage: zaaklink status \[--json\] \[--no-broker\]" "status --help prints status's usage"
like "$out" "--no-broker +[a-z]" "status --help: each option has its help"

run_zl oncehelp -c "$conf" once -h
is "$rc" 0 "once -h exits 0"
like "$out" "Usage: zaaklink once \[--full\]" "once -h prints once's usage"

# An unknown option: 64 before anything else, one line naming the command and the option.
for cmd in run once check-config status backfill setup "dlq list"; do
	# shellcheck disable=SC2086 # "dlq list" is two words
	run_zl "badopt-${cmd// /-}" -c "$conf" $cmd --frobnicate
	is "$rc" 64 "$cmd --frobnicate: exit 64"
	like "$err" "^zaaklink: ${cmd%% *}: unknown option '--frobnicate'" \
		"$cmd --frobnicate: the message names the command and the option"
	is "$(lines "$err")" 1 "$cmd --frobnicate: one line on stderr"
done

run_zl extra -c "$conf" status now
is "$rc" 64 "status with an argument: exit 64"
like "$err" "status: unexpected argument 'now'" "status with an argument: named"

run_zl novalue -c "$conf" dlq list --limit
is "$rc" 64 "dlq list --limit without a value: exit 64"
like "$err" "dlq: option '--limit' needs a value" "dlq list --limit without a value: said so"
is "$(lines "$err")" 1 "dlq list --limit without a value: one line on stderr"

run_zl badlimit -c "$conf" dlq list --limit=0
is "$rc" 64 "dlq list --limit=0: exit 64"
like "$err" "dlq: --limit needs a positive number, not '0'" "dlq list --limit=0: said so"

run_zl flagvalue -c "$conf" once --full=yes
is "$rc" 64 "once --full=yes: exit 64"
like "$err" "once: option '--full' takes no value" "once --full=yes: said so"

# ---- check-config ----

run_zl good -c "$conf" check-config
is "$rc" 0 "check-config on a good file exits 0"
is "$err" "" "check-config on a good file prints no error"

# bad_conf NAME CONTENT LINE WHAT: a bad file must give 78 and FILE:LINE.
bad_conf() {
	local name=$1 content=$2 line=$3 what=$4 f="$ZL_TMP/$1.conf"
	printf '%s\n' "$content" >"$f"
	run_zl "$name" -c "$f" check-config
	is "$rc" 78 "check-config, $what: exit 78"
	like "$err" "^$f:$line: " "check-config, $what: the message starts with FILE:$line:"
	is "$(lines "$err")" 1 "check-config, $what: one line on stderr"
}

good_body=$(<"$conf")
bad_conf syntax "source: {
  conninfo = \"host=127.0.0.1\";
  base_url = ;
};" 3 "syntax error"

# A typo must never fall back to a default: unknown settings are errors.
typo_line=$(($(grep -n '^events: {' <<<"$good_body" | cut -d: -f1) + 1))
bad_conf typo "$(sed "/^events: {/a\\  relink_on_lable_change = false;" <<<"$good_body")" \
	"$typo_line" "unknown setting (typo)"

poll_line=$(grep -n 'poll_interval' <<<"$good_body" | cut -d: -f1)
bad_conf poll "$(sed 's/poll_interval = 0.5;/poll_interval = -1.0;/' <<<"$good_body")" \
	"$poll_line" "negative poll_interval"

bad_conf choice "$(sed "/^events: {/a\\  invalid_zaak_id = \"maybe\";" <<<"$good_body")" \
	"$typo_line" "invalid_zaak_id not skip or emit"

url_line=$(grep -n '  url = ' <<<"$good_body" | cut -d: -f1)
bad_conf scheme "$(sed 's|url = "amqp://|url = "http://|' <<<"$good_body")" \
	"$url_line" "amqp.url not amqp:// or amqps://"

run_zl missing -c "$ZL_TMP/does-not-exist.conf" check-config
is "$rc" 78 "check-config on a missing file: exit 78"
like "$err" "does-not-exist.conf" "check-config on a missing file names it"

# ---- check-config --connect ----

run_zl connect -c "$conf" check-config --connect
is "$rc" 0 "check-config --connect with both servers up exits 0"
[ "$rc" = 0 ] || diag "$err"

secret=S3cretPw$$
dead_port=$(zl_free_port)
zl_conf "$ZL_TMP/pgdown.conf" "$db" "$ZL_TMP/state.db" "$ex" \
	"source.conninfo = \"host=127.0.0.1 port=$dead_port dbname=$db user=zaaklink password=$secret connect_timeout=5\";"
run_zl pgdown -c "$ZL_TMP/pgdown.conf" check-config --connect
is "$rc" 69 "check-config --connect, PostgreSQL not reachable: exit 69"
unlike "$out$err" "$secret" "check-config --connect, PostgreSQL not reachable: no password printed"
is "$(lines "$err")" 1 "check-config --connect, PostgreSQL not reachable: one line on stderr"

zl_conf "$ZL_TMP/pgauth.conf" "$db" "$ZL_TMP/state.db" "$ex" \
	"source.conninfo = \"host=127.0.0.1 port=$PGPORT dbname=$db user=zaaklink password=$secret\";"
run_zl pgauth -c "$ZL_TMP/pgauth.conf" check-config --connect
is "$rc" 69 "check-config --connect, wrong PostgreSQL password: exit 69"
unlike "$out$err" "$secret" "check-config --connect, wrong PostgreSQL password: not printed"

zl_conf "$ZL_TMP/mqdown.conf" "$db" "$ZL_TMP/state.db" "$ex" \
	"amqp.url = \"amqp://guest:$secret@127.0.0.1:$dead_port/%2f\";"
run_zl mqdown -c "$ZL_TMP/mqdown.conf" check-config --connect
is "$rc" 69 "check-config --connect, RabbitMQ not reachable: exit 69"
unlike "$out$err" "$secret" "check-config --connect, RabbitMQ not reachable: no password printed"

# The environment overrides replace the file's values (containers, secrets).
ZAAKLINK_SOURCE_CONNINFO="host=127.0.0.1 port=$PGPORT dbname=$db user=zaaklink password=zaaklink" \
	run_zl envpg -c "$ZL_TMP/pgdown.conf" check-config --connect
is "$rc" 0 "ZAAKLINK_SOURCE_CONNINFO overrides source.conninfo"
ZAAKLINK_AMQP_URL="$ZL_TEST_AMQP_URL" run_zl envmq -c "$ZL_TMP/mqdown.conf" check-config --connect
is "$rc" 0 "ZAAKLINK_AMQP_URL overrides amqp.url"

# ---- status ----

zl_conf "$ZL_TMP/secret.conf" "$db" "$ZL_TMP/fresh.db" "$ex" \
	"source.conninfo = \"host=127.0.0.1 port=$PGPORT dbname=$db user=zaaklink password=$secret\";"
run_zl status -c "$ZL_TMP/secret.conf" status
is "$rc" 0 "status on a fresh state exits 0"
unlike "$out$err" "$secret" "status prints no password"

run_zl statusjson -c "$ZL_TMP/secret.conf" status --json
is "$rc" 0 "status --json on a fresh state exits 0"
ok "status --json prints one JSON object" jq -e 'type == "object"' "$ZL_TMP/statusjson.out"
is "$(jq -r '[.pending, .outbox.pending, .events.pending] | map(select(. != null)) | first // "missing"' \
	"$ZL_TMP/statusjson.out" 2>/dev/null)" 0 "status --json on a fresh state: 0 events pending"
unlike "$out$err" "$secret|guest:guest@" "status --json prints no password"

# status only looks (passive declares): against an exchange that was never
# declared it creates neither the exchange nor its unrouted queue.
bare=$(zl_exchange_new)
zl_conf "$ZL_TMP/bare.conf" "$db" "$ZL_TMP/bare.db" "$bare"
run_zl bare -c "$ZL_TMP/bare.conf" status --json
is "$rc" 0 "status against an exchange never declared exits 0"
is "$(jq -r '.broker.reachable' "$ZL_TMP/bare.out" 2>/dev/null)" true \
	"status against an exchange never declared: the broker is reachable"
like "$(jq -r '.broker.unrouted_error' "$ZL_TMP/bare.out" 2>/dev/null)" \
	"queue $bare[.]unrouted does not exist" "status says the unrouted queue does not exist"
run_zl baretext -c "$ZL_TMP/bare.conf" status
is "$rc" 0 "status (text) against an exchange never declared exits 0"
probe_rc=0
zl_probe count "$bare.unrouted" >/dev/null 2>"$ZL_TMP/bare.count.err" || probe_rc=$?
is "$probe_rc" 2 "status declared no unrouted queue"
like "$(<"$ZL_TMP/bare.count.err")" "NOT_FOUND - no queue '$bare[.]unrouted'" \
	"the unrouted queue is not there ($(head -c 200 "$ZL_TMP/bare.count.err"))"
probe_rc=0
zl_probe publish "$bare" k '{}' >/dev/null 2>"$ZL_TMP/bare.publish.err" || probe_rc=$?
is "$probe_rc" 2 "status declared no exchange"
like "$(<"$ZL_TMP/bare.publish.err")" "NOT_FOUND - no exchange '$bare'" \
	"the exchange is not there ($(head -c 200 "$ZL_TMP/bare.publish.err"))"

run_zl once -c "$conf" once
is "$rc" 0 "once on an empty database exits 0"
run_zl status2 -c "$conf" status --json
is "$rc" 0 "status --json after a pass exits 0"
ok "status --json after a pass is JSON" jq -e 'type == "object"' "$ZL_TMP/status2.out"

done_testing
