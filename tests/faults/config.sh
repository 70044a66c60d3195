#!/bin/bash
# Fault 8, bad configuration: broken files given to the real binary, both
# to `check-config` and to `run`. Each must end with exit 78 (EX_CONFIG)
# and one line on stderr, `FILE:LINE: message`, where the message names the
# setting (or quotes the line libconfig could not read), and nothing may
# crash. tests/unit/test_conf.c covers the loader in depth; this is the
# end-to-end view an operator has.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
zl_require_tools

dir=$ZL_TMP/conf
mkdir -p "$dir/state" "$dir/readonly"
chmod 755 "$dir" "$dir/state"
chmod 555 "$dir/readonly"

# A valid file; each case below replaces or adds lines. Line numbers are
# those of this text.
valid() {
	cat <<-CONF
		source: {
		  conninfo = "host=127.0.0.1 port=1 dbname=openklant user=zaaklink";
		  base_url = "https://openklant.example.nl";
		  poll_interval = 5.0;
		};
		state: {
		  path = "$dir/state/state.db";
		};
		events: {
		  source = "urn:nld:oin:01823288444:openklant";
		};
		amqp: {
		  url = "amqp://guest:guest@127.0.0.1:1/%2f";
		  exchange = "zaaklink.events";
		};
	CONF
}

# replace N TEXT: the valid file with line N replaced by TEXT.
replace() { valid | awk -v n="$1" -v t="$2" 'NR == n { print t; next } { print }'; }
# append TEXT: the valid file with TEXT after it.
append() { valid; printf '%s\n' "$1"; }
# drop N: the valid file without line N.
drop() { valid | awk -v n="$1" 'NR != n'; }

n=0
signalled=0
# case_ NAME LINE REGEX COMMAND...: the file COMMAND prints must fail with
# FILE:LINE: and a message matching REGEX (LINE '-': a missing setting,
# reported at the group's line or at the file when there is none).
case_() {
	local name=$1 line=$2 re=$3 file out rc cmd
	shift 3
	n=$((n + 1))
	file=$dir/case$n.conf
	"$@" >"$file"
	for cmd in check-config run; do
		rc=0
		out=$(timeout -k 5 20 "$ZL_BIN" -c "$file" $cmd 2>&1 </dev/null) || rc=$?
		local where="$file:$line: "
		# The file's name is required: an empty prefix would match anything.
		[ "$line" = - ] && where=$(printf '%s\n' "$out" | grep -Eo "^$file(:[0-9]+)?: " | head -n 1)
		[ "$rc" -ge 128 ] && signalled=$((signalled + 1))
		if [ "$rc" = 78 ] && [ -n "$where" ] && [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] &&
			[[ $out == "$where"* ]] && [[ ${out#"$where"} =~ $re ]]; then
			pass "$name: $cmd exits 78 with '${out#"$file"}'"
		else
			fail "$name: $cmd exits 78 with one line '$where/$re/'"
			diag "exit $rc, stderr:" "$out"
		fi
	done
}

valid >"$dir/valid.conf"
rc=0; "$ZL_BIN" -c "$dir/valid.conf" check-config >/dev/null 2>&1 || rc=$?
is "$rc" 0 "the base file is valid (so every case below fails for its own reason)"

case_ "syntax error" 2 "syntax error at 'conninfo'" replace 2 '  conninfo = ;'
case_ "setting outside of quotes" 2 "unknown setting 'source.port'" replace 2 '  conninfo = "host=127.0.0.1" port=1;'
case_ "missing '='" 4 "syntax error at 'poll_interval'" replace 4 '  poll_interval 5.0;'
case_ "duplicate group" 16 "duplicate setting name at 'events'" append 'events: { source = "urn:y"; };'
case_ "unknown setting" 4 "unknown setting.*pol_interval" replace 4 '  pol_interval = 5.0;'
case_ "unknown group" 16 "unknown setting.*metrics" append 'metrics: { port = 9100; };'
case_ "wrong type (string for seconds)" 4 'source.poll_interval' replace 4 '  poll_interval = "5";'
case_ "wrong type (float for int)" 4 'source.range_size' replace 4 '  range_size = 1.5;'
case_ "wrong type (int for string)" 10 'events.source' replace 10 '  source = 5;'
case_ "group given as a value" 16 "log: expected a group" append 'log = "debug";'
case_ "missing source.conninfo" - "source.conninfo" drop 2
case_ "missing source.base_url" - "source.base_url" drop 3
case_ "missing events.source" - "events.source" drop 10
case_ "empty file" - "source.conninfo" :
case_ "unparsable conninfo" 2 'source.conninfo' replace 2 '  conninfo = "host=127.0.0.1 port";'
case_ "unparsable AMQP URL" 13 'amqp.url' replace 13 '  url = "amqp://guest@:notaport/";'
case_ "unknown URL scheme" 13 'amqp.url.*scheme' replace 13 '  url = "http://guest:guest@127.0.0.1:1/";'
case_ "empty URL list" 13 'amqp.url' replace 13 '  url = [];'
case_ "base_url without scheme" 3 'source.base_url' replace 3 '  base_url = "openklant.example.nl";'
case_ "zero poll interval" 4 'source.poll_interval' replace 4 '  poll_interval = 0.0;'
case_ "negative poll interval" 4 'source.poll_interval' replace 4 '  poll_interval = -1.0;'
case_ "empty events.source" 10 'events.source' replace 10 '  source = "";'
case_ "unknown scheme in a URL list" 13 'amqp.url.*scheme' replace 13 '  url = [ "amqp://127.0.0.1:1/", "redis://127.0.0.1:1/" ];'
case_ "label length below 0 (in its group)" 10 'events.label_max_length' replace 10 '  source = "urn:x"; label_max_length = -1;'
case_ "unknown invalid_zaak_id" 10 'events.invalid_zaak_id' replace 10 '  source = "urn:x"; invalid_zaak_id = "drop";'
case_ "unknown initial_sync" 10 'events.initial_sync' replace 10 '  source = "urn:x"; initial_sync = "everything";'
case_ "zero batch size" 14 'amqp.batch_size' replace 14 '  exchange = "x"; batch_size = 0;'
case_ "negative confirm timeout" 14 'amqp.confirm_timeout' replace 14 '  exchange = "x"; confirm_timeout = -5.0;'
case_ "negative heartbeat" 14 'amqp.heartbeat' replace 14 '  exchange = "x"; heartbeat = -1;'
case_ "integer out of range" 4 'source.range_size: 9999999 is out of range' replace 4 '  range_size = 9999999;'
case_ "retry delays of the wrong type" 16 'retry.delays' append 'retry: { delays = [ "10" ]; };'
case_ "unknown log level" 16 'log.level' append 'log: { level = "loud"; };'
case_ "queue without a name" 14 'amqp.queues' replace 14 '  exchange = "x"; queues = ( { bindings = [ "#" ]; } );'
case_ "state path in a missing directory" 7 'state.path.*/nonexistent/zaaklink.*does not exist' replace 7 '  path = "/nonexistent/zaaklink/state.db";'
case_ "empty state path" 7 'state.path' replace 7 '  path = "";'
case_ "include of a missing file" 1 "cannot open include file \\(include file '$dir/missing.conf'\\)" \
	printf '@include "%s"\n' "$dir/missing.conf"

# A directory root may write anyway: run as nobody, who may not.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	n=$((n + 1))
	file=$dir/case$n.conf
	replace 7 "  path = \"$dir/readonly/state.db\";" >"$file"
	chmod 644 "$file"
	# A copy nobody can run, wherever the build is (a checkout under a
	# 0700 directory, say).
	install -m 755 "$ZL_BIN" "$dir/zaaklink" || bail "cannot copy $ZL_BIN to $dir"
	for cmd in check-config run; do
		rc=0
		out=$(timeout -k 5 20 runuser -u nobody -- "$dir/zaaklink" -c "$file" $cmd 2>&1 </dev/null) || rc=$?
		like "$rc $out" "^78 $file:7: state\.path: directory $dir/readonly is not writable: Permission denied\$" \
			"state path in an unwritable directory: $cmd exits 78 naming it"
	done
else
	skip 2 "needs root and the user nobody to test an unwritable directory"
fi

is "$signalled" 0 "no run of check-config or run was ended by a signal"
echo "fault=config files=$n runs=$((2 * n))" >>"${ZL_FAULT_FIGURES:-/dev/null}"
done_testing
