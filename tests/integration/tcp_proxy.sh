#!/bin/bash
# The test proxy (tests/tools/tcp-proxy.c) between psql and PostgreSQL, as
# the high-availability tests use it between zaaklink and PostgreSQL:
# queries pass through, large results and large queries too, several at
# once; SIGUSR1 partitions (a new query does not complete, an open session
# gets nothing through, but no socket is closed), SIGUSR2 heals (what
# waited is delivered, new queries complete), SIGHUP resets every open
# session (PostgreSQL sees its backend gone), SIGTERM ends it. Each change
# is awaited through the state file, never by sleeping.
. "$(dirname "$0")/../lib.sh"
command -v psql >/dev/null 2>&1 || bail "psql is required (Debian package: postgresql-client)"
[ -x "${ZL_PROXY:-}" ] || bail "ZL_PROXY ('${ZL_PROXY:-}') is not an executable"
zl_pg_up

portf=$ZL_TMP/proxy.port
pidf=$ZL_TMP/proxy.pid
statef=$ZL_TMP/proxy.state
plog=$ZL_TMP/proxy.log
app=tcp_proxy_$$

# A listening address that is not loopback is refused.
rc=0; "$ZL_PROXY" --listen 0.0.0.0:0 --to "127.0.0.1:$PGPORT" 2>"$ZL_TMP/refused.log" || rc=$?
like "$rc $(cat "$ZL_TMP/refused.log")" "^2 tcp-proxy: --listen: .* not a loopback address" \
	"--listen on a non-loopback address is refused"

"$ZL_PROXY" --listen 127.0.0.1:0 --to "127.0.0.1:$PGPORT" --port-file "$portf" \
	--pid-file "$pidf" --state-file "$statef" 2>"$plog" &
proxy=$!
echo "$proxy" >>"$ZL_TMP/pids"
zl_wait_for 10 test -s "$portf" || bail "the proxy wrote no port file: $(cat "$plog")"
pport=$(<"$portf")
is "$(cat "$pidf")" "$proxy" "the pid file holds the proxy's pid"
is "$(cat "$statef")" "forwarding resets=0" "the state file says forwarding"
like "$(cat "$plog")" "^tcp-proxy: listening on port $pport, relaying to 127.0.0.1:$PGPORT" \
	"the proxy says where it listens"

# via [psql ARGS...]: psql through the proxy as the superuser, 20 s at most.
via() {
	PGCONNECT_TIMEOUT=10 timeout -k 2 20 psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pport" \
		-U postgres -d postgres "$@"
}
# direct SQL: SQL straight to PostgreSQL, past the proxy.
direct() {
	zl_sql postgres "$1"
}
# state_is LINE: true when the state file says LINE.
state_is() {
	[ "$(cat "$statef" 2>/dev/null)" = "$1" ]
}
# backend_app: the application_name of the open session's backend (by its
# pid, remembered in $ZL_TMP/backend), empty when it is gone.
backend_app() {
	direct "SELECT application_name FROM pg_stat_activity WHERE pid = $(<"$ZL_TMP/backend")"
}
backend_gone() {
	[ -z "$(backend_app)" ]
}

# ---- forwarding ----
is "$(via -c 'SELECT 40 + 2')" 42 "a query passes through the proxy"
is "$(via -c "SELECT repeat('x', 3000000)" | wc -c)" 3000001 "a 3 MB result passes through whole"
big=$(head -c 2000000 /dev/zero | tr '\0' y)
sum=$(printf '%s' "$big" | md5sum | cut -d' ' -f1)
is "$(printf "SELECT md5('%s');\n" "$big" | via)" "$sum" "a 2 MB query passes through whole"
unset big

start=$(date +%s%N)
par=()
for i in 1 2 3 4 5 6; do
	via -c "SELECT $i FROM pg_sleep(1)" >"$ZL_TMP/par.$i" 2>&1 &
	par+=($!)
done
wait "${par[@]}"
ms=$((($(date +%s%N) - start) / 1000000))
is "$(cat "$ZL_TMP"/par.{1..6} | tr '\n' ' ')" "1 2 3 4 5 6 " "six sessions at once all get their answer"
cmp_ok "$ms" -lt 5000 "they ran side by side (6 x 1 s in $ms ms)"

# A session that stays open: psql reading its queries from a fifo.
fifo=$ZL_TMP/session.in
mkfifo "$fifo"
PGAPPNAME=$app PGCONNECT_TIMEOUT=10 psql -X -q -At -h 127.0.0.1 -p "$pport" -U postgres -d postgres \
	<"$fifo" >"$ZL_TMP/session.out" 2>"$ZL_TMP/session.err" &
spid=$!
echo "$spid" >>"$ZL_TMP/pids"
exec 7>"$fifo"
echo "SELECT 1;" >&7
app_backend() {
	local p
	p=$(direct "SELECT pid FROM pg_stat_activity WHERE application_name = '$app'")
	[ -n "$p" ] && echo "$p" >"$ZL_TMP/backend"
}
ok "the open session's backend is seen by PostgreSQL" zl_wait_for 10 app_backend

# ---- partition ----
kill -USR1 "$proxy"
ok "after SIGUSR1 the state file says partitioned" zl_wait_for 10 state_is "partitioned resets=0"
like "$(cat "$plog")" $'\ntcp-proxy: partitioned' "the partition is logged"
echo "SET application_name = '${app}_moved';" >&7
rc=0; PGCONNECT_TIMEOUT=30 timeout 2 psql -X -At -h 127.0.0.1 -p "$pport" -U postgres -d postgres \
	-c 'SELECT 1' >/dev/null 2>&1 || rc=$?
is "$rc" 124 "partitioned: a new query does not complete within 2 s"
is "$(backend_app)" "$app" "partitioned: the open session's statement does not reach PostgreSQL"
isnt "$(backend_app)" "" "partitioned: the open session's connection is not closed"
ok "partitioned: the proxy still runs" kill -0 "$proxy"

# ---- heal ----
kill -USR2 "$proxy"
ok "after SIGUSR2 the state file says forwarding" zl_wait_for 10 state_is "forwarding resets=0"
like "$(cat "$plog")" $'\ntcp-proxy: forwarding' "the heal is logged"
rc=0; out=$(via -c 'SELECT 7') || rc=$?
is "$rc $out" "0 7" "healed: a new query completes"
moved() {
	[ "$(backend_app)" = "${app}_moved" ]
}
ok "healed: the statement that waited reaches PostgreSQL" zl_wait_for 10 moved

# ---- reset ----
# Besides the psql session, a raw connection (bash's /dev/tcp) that reads
# what comes: an RST makes its read fail with ECONNRESET, a FIN would not.
exec 5<>"/dev/tcp/127.0.0.1/$pport"
kill -HUP "$proxy"
ok "after SIGHUP the state file counts the reset" zl_wait_for 10 state_is "forwarding resets=1"
like "$(cat "$plog")" $'\ntcp-proxy: reset 2 connections($|\n)' "the reset is logged with its count"
rc=0; read -r -t 5 -u 5 _ 2>"$ZL_TMP/raw.err" || rc=$?
exec 5<&-
like "$rc $(cat "$ZL_TMP/raw.err")" "^1 .*Connection reset by peer" "reset: the client side gets an RST"
ok "reset: PostgreSQL sees the open session's backend gone" zl_wait_for 10 backend_gone
echo "SELECT 1;" >&7
exec 7>&-
gone() {
	! kill -0 "$spid" 2>/dev/null || [ "$(ps -o stat= -p "$spid" | cut -c1)" = Z ]
}
ok "reset: the open session's psql ends" zl_wait_for 10 gone
rc=0; wait "$spid" || rc=$?
like "$rc $(cat "$ZL_TMP/session.err")" "^2 .*(server closed the connection|connection to server was lost)" \
	"reset: psql says its connection was lost"
rc=0; out=$(via -c 'SELECT 8') || rc=$?
is "$rc $out" "0 8" "after a reset the proxy still accepts and forwards"

# A reset while partitioned keeps the partition.
kill -USR1 "$proxy"
kill -HUP "$proxy"
ok "reset while partitioned: still partitioned, two resets" zl_wait_for 10 state_is "partitioned resets=2"
kill -USR2 "$proxy"
ok "healed again" zl_wait_for 10 state_is "forwarding resets=2"

# ---- stop ----
is "$(ps -o pid= --ppid "$proxy" | tr -d ' ')" "" "the proxy has no children"
rc=0; zl_stop "$proxy" || rc=$?
is "$rc" 0 "SIGTERM ends the proxy with status 0"
like "$(tail -n 1 "$plog")" "^tcp-proxy: stopped$" "the stop is logged"
ok "the pid file is removed" test ! -e "$pidf"
nok "nothing listens on the proxy's port any more" bash -c "exec 3<>/dev/tcp/127.0.0.1/$pport" 2>/dev/null
is "$(pgrep -f -- "--port-file $portf")" "" "no process of the proxy is left"

done_testing
