#!/bin/bash
# What systemd sees of `zaaklink run`: READY=1, WATCHDOG=1, RELOADING=1,
# STOPPING=1 on a stand-in notify socket (socat), and what SIGHUP does: a
# reload that applies what may change at runtime, one refused because a
# setting needs a restart, one refused because the new file is invalid.
# No servers are needed: PostgreSQL and RabbitMQ are unreachable on
# purpose, which the daemon rides out. TAP output; exit status 1 when a
# test failed.
#
#   packaging/tests/notify-reload.sh ZAAKLINK-BINARY
set -uo pipefail

bin=${1:?usage: notify-reload.sh ZAAKLINK-BINARY}
command -v socat >/dev/null || { echo "1..0 # SKIP socat is not installed"; exit 0; }

tmp=$(mktemp -d /tmp/zl-notify.XXXXXX) || exit 1
daemon='' listener=''
cleanup() {
	[ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	[ -n "$listener" ] && kill "$listener" 2>/dev/null && wait "$listener" 2>/dev/null
	[ -n "${ZL_KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }

# wait_for FILE PATTERN: up to 10 s for an extended regexp to show up.
wait_for() {
	local _
	for _ in $(seq 100); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# expect NAME FILE PATTERN
expect() {
	if wait_for "$2" "$3"; then ok "$1"; else not_ok "$1"; sed 's/^/# /' "$2"; fi
}

# write_conf EXTRA-AMQP-LINE LOG-LEVEL POLL-INTERVAL
write_conf() {
	cat >"$tmp/zaaklink.conf" <<CONF
source: {
  conninfo = "host=127.0.0.1 port=1 dbname=openklant user=zaaklink";
  base_url = "https://openklant.example.nl";
  poll_interval = $3;
  connect_timeout = 1;
};
state: { path = "$tmp/state.db"; };
events: { source = "urn:nld:oin:01823288444:openklant"; };
amqp: {
  url = "amqp://guest:guest@127.0.0.1:1/%2f";
  connect_timeout = 1.0;
  $1
};
log: { level = "$2"; };
CONF
}

echo "1..10"
write_conf "" info 1.0
socat -u "UNIX-RECV:$tmp/notify.sock" - >"$tmp/notify" 2>/dev/null &
listener=$!
for _ in $(seq 50); do [ -S "$tmp/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$tmp/notify.sock WATCHDOG_USEC=2000000 \
	"$bin" -c "$tmp/zaaklink.conf" run 2>"$tmp/log" &
daemon=$!

wait_for "$tmp/log" 'msg=daemon.started'
# The binary decides, not what it logs: linked with libsystemd it must
# notify. Built without it nothing is sent, and the unit is Type=exec.
if ! ldd "$bin" 2>/dev/null | grep -q 'libsystemd\.so'; then
	for t in READY=1 WATCHDOG=1 watchdog.too_short RELOADING=1; do
		ok "# SKIP $t: built without libsystemd"
	done
	notify=no
else
	notify=yes
	expect "READY=1 once the first pass started" "$tmp/notify" 'READY=1'
	expect "WATCHDOG=1 from the main loop" "$tmp/notify" 'WATCHDOG=1'
	expect "a watchdog shorter than a pass may wait is logged" "$tmp/log" 'msg=watchdog.too_short watchdog_s=2 '
fi

# A reload of what may change while running.
write_conf "" debug 2.5
kill -HUP "$daemon"
expect "SIGHUP applies log.level and poll_interval" "$tmp/log" \
	'msg=config.reloaded file=[^ ]+ changed=source.poll_interval,log.level$'
expect "the new log level is in force" "$tmp/log" 'level=debug '
if [ "$notify" = yes ]; then
	# RELOADING=1, then READY=1 again once the reload is done.
	if wait_for "$tmp/notify" 'RELOADING=1' &&
		tr '\n' ' ' <"$tmp/notify" | grep -Eq 'RELOADING=1.*READY=1'; then
		ok "SIGHUP: RELOADING=1, then READY=1"
	else
		not_ok "SIGHUP: RELOADING=1, then READY=1"
		sed 's/^/# /' "$tmp/notify"
	fi
fi

# A setting that needs a restart: refused whole.
write_conf 'exchange = "other.events";' error 2.5
kill -HUP "$daemon"
expect "a change of amqp.exchange is refused, named" "$tmp/log" \
	'level=warning msg=config.reload_refused file=[^ ]+ settings=amqp.exchange '
# Nothing of it was applied: the file that was in force before reloads
# as "changed=none" (the refused one also set log.level = error).
write_conf "" debug 2.5
kill -HUP "$daemon"
expect "nothing of the refused file was applied" "$tmp/log" \
	'msg=config.reloaded file=[^ ]+ changed=none$'

# A broken file: refused with FILE:LINE, the old configuration stays.
printf 'source: {\n  conninfo = ;\n};\n' >"$tmp/zaaklink.conf"
kill -HUP "$daemon"
expect "an invalid file is refused with its FILE:LINE error" "$tmp/log" \
	"level=error msg=config.reload_refused file=[^ ]+ error=\"$tmp/zaaklink.conf:2: "

# A clean stop.
kill -TERM "$daemon"
wait "$daemon"
rc=$?
daemon=
if [ "$rc" -eq 0 ] && grep -q 'msg=daemon.stopping' "$tmp/log" &&
	{ [ "$notify" = no ] || grep -q 'STOPPING=1' "$tmp/notify"; }; then
	ok "SIGTERM: STOPPING=1, daemon.stopping, exit 0"
else
	not_ok "SIGTERM: STOPPING=1, daemon.stopping, exit 0 (exit $rc)"
	sed 's/^/# /' "$tmp/log"
fi
[ "$failed" -eq 0 ]
