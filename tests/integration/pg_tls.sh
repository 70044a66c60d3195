#!/bin/bash
# PostgreSQL over TLS, and the warning when the connection to Open Klant's
# database crosses a network without TLS that verifies the server: whoever
# sits on that path could answer in the database's place, and zaaklink would
# publish ontkoppeld events for links that were never deleted.
#
# A PostgreSQL of our own with ssl = on and a throwaway CA and certificate
# made with openssl(1) in the test's directory, and the suite's PostgreSQL
# (ssl = off), both on 127.0.0.1:
#   - sslmode=require: the connection uses TLS (check-config --connect says
#     so, source.connected logs ssl=on, pg_stat_ssl shows it server-side);
#   - sslmode=verify-full with the right sslrootcert works; with another CA
#     it fails with one line about the certificate and no password;
#   - a server without TLS: sslmode=require fails in one line, the default
#     (prefer) connects without TLS; loopback or a UNIX socket: no warning.
#
# Over the network: this machine's other addresses belong to its network,
# so no server is bound to them. When the test may make a network namespace
# (root, unshare -n), it gives the namespace's loopback interface an address
# of TEST-NET-2 (198.51.100.7, not a loopback address, reachable from inside
# the namespace only) and runs a PostgreSQL and zaaklink in there:
#   - sslmode=disable, and require (TLS, server not verified): one
#     source.insecure warning from `once` and from check-config --connect;
#   - verify-full: no warning;
#   - the daemon warns once, not again when it connects anew.
. "$(dirname "$0")/../lib.sh"
zl_require_tools openssl
zl_servers_up
PLAIN_PORT=$PGPORT

is "$(zl_sql postgres 'SHOW ssl')" off "fixture: the suite's PostgreSQL has ssl = off"

# ------------------------------------------------------ certificates ----

PKI=$ZL_TMP/pki
NS_ADDR=198.51.100.7
mkdir -p "$PKI"
chmod 755 "$PKI"

# The server's certificate, signed by "ca": localhost, 127.0.0.1 and the
# namespace's address.
if ! { zl_pki_ca "$PKI" ca && zl_pki_ca "$PKI" wrongca &&
	zl_pki_cert "$PKI" server localhost serverAuth "DNS:localhost,IP:127.0.0.1,IP:$NS_ADDR"; }; then
	bail "openssl could not make the certificates: $(tail -n 3 "$PKI/openssl.log")"
fi
# PostgreSQL refuses a key others may read; as root the server runs as postgres.
chmod 600 "$PKI/server.key"
[ "$(id -u)" = 0 ] && chown postgres: "$PKI/server.key" "$PKI/server.pem"
CA=$PKI/ca.pem
WRONGCA=$PKI/wrongca.pem

# ssl_on DIR: turns TLS on in the cluster in DIR (takes effect at its next start).
ssl_on() {
	_zl_as_pg sh -c "cat >>'$1/data/postgresql.conf'" <<-EOF
		ssl = on
		ssl_cert_file = '$PKI/server.pem'
		ssl_key_file = '$PKI/server.key'
	EOF
}

# ------------------------------------------------- the TLS server ----

zl_pg_start "$ZL_TMP/pgtls" || bail "cannot start PostgreSQL"
ssl_on "$ZL_TMP/pgtls"
zl_pg_restart "$ZL_TMP/pgtls" || bail "cannot restart PostgreSQL with ssl = on"
TLS_PORT=$PGPORT
is "$(zl_sql postgres 'SHOW ssl')" on "fixture: our PostgreSQL has ssl = on"
tlsdb=$(zl_db_new) || bail "cannot create a database"
PGPORT=$PLAIN_PORT
plaindb=$(zl_db_new) || bail "cannot create a database"
ex=$(zl_exchange_new)

# check NAME CONNINFO: check-config --connect with that conninfo; sets rc,
# out and err (stderr).
check() {
	local name=$1
	zl_conf "$ZL_TMP/$name.conf" "$tlsdb" "$ZL_TMP/$name.state" "$ex" \
		"source.conninfo = \"$2\";"
	rc=0
	out=$(zl_zl -c "$ZL_TMP/$name.conf" check-config --connect 2>"$ZL_TMP/$name.err") || rc=$?
	err=$(cat "$ZL_TMP/$name.err")
}

TLS="host=127.0.0.1 port=$TLS_PORT dbname=$tlsdb user=zaaklink password=zaaklink"
PLAIN="host=127.0.0.1 port=$PLAIN_PORT dbname=$plaindb user=zaaklink password=zaaklink"

check require "$TLS sslmode=require"
is "$rc" 0 "sslmode=require: check-config --connect exits 0"
like "$out" "PostgreSQL: connected \(host=127.0.0.1 port=$TLS_PORT dbname=$tlsdb user=zaaklink\) over TLSv1\.[23]," \
	"sslmode=require: check-config --connect says TLS is in use"
like "$err" "msg=source.connected host=\"127.0.0.1\" hostaddr=127.0.0.1 port=$TLS_PORT ssl=on protocol=TLSv1\.[23] sslmode=\"require\"" \
	"sslmode=require: source.connected logs ssl=on"
unlike "$err" "source.insecure" "sslmode=require over the loopback: no warning"

check verify "host=localhost port=$TLS_PORT dbname=$tlsdb user=zaaklink password=zaaklink sslmode=verify-full sslrootcert=$CA"
is "$rc" 0 "sslmode=verify-full with the server's CA: check-config --connect exits 0"
[ "$rc" = 0 ] || diag "$err"
like "$out" "over TLSv1" "sslmode=verify-full: over TLS"

secret=zaaklink
check wrongca "$TLS sslmode=verify-full sslrootcert=$WRONGCA"
is "$rc" 69 "sslmode=verify-full with another CA: exit 69"
like "$err" "^zaaklink: could not connect on PostgreSQL \(host=127.0.0.1 port=$TLS_PORT dbname=$tlsdb user=zaaklink\): .*certificate verify failed" \
	"sslmode=verify-full with another CA: the message says the certificate did not verify"
is "$(grep -c . <<<"$err")" 1 "sslmode=verify-full with another CA: one line"
unlike "$err" "password=" "sslmode=verify-full with another CA: no password"

check plainreq "$PLAIN sslmode=require"
is "$rc" 69 "server without TLS, sslmode=require: exit 69"
like "$err" "^zaaklink: could not connect on PostgreSQL .*server does not support SSL" \
	"server without TLS, sslmode=require: the message says so"
is "$(grep -c . <<<"$err")" 1 "server without TLS, sslmode=require: one line"

check plain "$PLAIN"
is "$rc" 0 "server without TLS, default sslmode: check-config --connect exits 0"
like "$out" "PostgreSQL: connected \(.*\) without TLS," "server without TLS: says so"
like "$err" "msg=source.connected host=\"127.0.0.1\" hostaddr=127.0.0.1 port=$PLAIN_PORT ssl=off sslmode=\"prefer\"" \
	"server without TLS: source.connected logs ssl=off and the sslmode"
unlike "$err" "source.insecure" "server without TLS over the loopback: no warning"

check socket "host=$ZL_TMP/pgtls port=$TLS_PORT dbname=$tlsdb user=zaaklink sslmode=disable"
is "$rc" 0 "UNIX socket: check-config --connect exits 0"
like "$err" "msg=source.connected host=\"$ZL_TMP/pgtls\" port=$TLS_PORT ssl=off" \
	"UNIX socket: source.connected names the socket directory"
unlike "$err" "source.insecure" "UNIX socket: no warning"

# The daemon's own connection, seen by the server.
conf=$ZL_TMP/daemon.conf
zl_conf "$conf" "$tlsdb" "$ZL_TMP/daemon.state" "$ex" \
	"source.conninfo = \"$TLS sslmode=verify-full sslrootcert=$CA\";"
zl_run_bg "$conf" "$ZL_TMP/daemon.log"
zl_wait_log 'msg=source.connected' 20 || diag "not connected: $(tail -n 5 "$ZL_TMP/daemon.log")"
is "$(PGPORT=$TLS_PORT zl_sql postgres "SELECT s.ssl FROM pg_stat_ssl s
	JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'zaaklink'")" t \
	"verify-full: PostgreSQL sees the daemon's connection over TLS"
zl_stop "$ZL_PID" >/dev/null
unlike "$(cat "$ZL_TMP/daemon.log")" "source.insecure" "verify-full: the daemon does not warn"

# ---------------------------------------------- over the network ----

# ns CMD...: CMD inside the network namespace.
NS_PID=
ns() {
	nsenter --net="/proc/$NS_PID/ns/net" "$@"
}

netns_up() {
	[ "$(id -u)" = 0 ] || return 1
	command -v unshare >/dev/null && command -v nsenter >/dev/null && command -v ip >/dev/null ||
		return 1
	unshare -n true 2>/dev/null || return 1
	unshare -n sh -c "ip link set lo up && ip addr add $NS_ADDR/32 dev lo && exec sleep 600" \
		</dev/null >/dev/null 2>&1 &
	NS_PID=$!
	echo "$NS_PID" >>"$ZL_TMP/pids"
	zl_wait_for 10 sh -c "nsenter --net=/proc/$NS_PID/ns/net ip -4 addr show dev lo |
		grep -q 'inet $NS_ADDR/'"
}

NS_TESTS=16
if ! netns_up; then
	skip "$NS_TESTS" "no network namespace to be had (needs root and unshare -n): the warning over a network is not tried"
	PGPORT=$PLAIN_PORT
	done_testing
	exit 0
fi

# A cluster made on 127.0.0.1 (for zl_db_new), then moved into the namespace,
# with TLS, listening on its address only.
NSDIR=$ZL_TMP/pgns
zl_pg_start "$NSDIR" || bail "cannot start PostgreSQL"
NS_PORT=$PGPORT
nsdb=$(zl_db_new) || bail "cannot create a database"
zl_pg_stop "$NSDIR"
ssl_on "$NSDIR"
_zl_as_pg sh -c "echo \"listen_addresses = '$NS_ADDR'\" >>'$NSDIR/data/postgresql.conf' &&
	echo 'host all all $NS_ADDR/32 scram-sha-256' >>'$NSDIR/data/pg_hba.conf'"
ns runuser -u postgres -- "$(_zl_pg_bindir)/pg_ctl" -D "$NSDIR/data" -l "$NSDIR/server.log" -w \
	-t 60 -o "-p $NS_PORT" start >>"$NSDIR/pg_ctl.log" 2>&1 ||
	bail "cannot start PostgreSQL in the namespace: $(tail -n 5 "$NSDIR/server.log")"
PGPORT=$PLAIN_PORT

NET="host=$NS_ADDR port=$NS_PORT dbname=$nsdb user=zaaklink password=zaaklink"
ok "fixture: PostgreSQL is not reachable at $NS_ADDR from outside the namespace" \
	test "$(PGCONNECT_TIMEOUT=2 psql -X -At "$NET" -c 'SELECT 1' 2>/dev/null)" != 1

# ns_once NAME CONNINFO: `once` inside the namespace (a baseline of an empty
# database: nothing to publish, no broker needed); sets rc and err.
ns_once() {
	zl_conf "$ZL_TMP/$1.conf" "$nsdb" "$ZL_TMP/$1.state" "$ex" "source.conninfo = \"$2\";"
	rc=0
	ns "$ZL_BIN" -c "$ZL_TMP/$1.conf" once >/dev/null 2>"$ZL_TMP/$1.err" || rc=$?
	err=$(cat "$ZL_TMP/$1.err")
}

ns_once netplain "$NET sslmode=disable"
is "$rc" 0 "network, sslmode=disable: once exits 0"
is "$(grep -c 'msg=source.insecure' <<<"$err")" 1 "network, sslmode=disable: one warning"
like "$(grep 'msg=source.insecure' <<<"$err")" \
	"level=warning msg=source.insecure host=\"$NS_ADDR\" hostaddr=$NS_ADDR port=$NS_PORT ssl=off sslmode=\"disable\" reason=\"not encrypted, over the network\" hint=\"set sslmode=verify-full and sslrootcert=FILE" \
	"network, sslmode=disable: the warning names the server, the sslmode and the remedy"
unlike "$err" "password" "network, sslmode=disable: no password in the log"

ns_once netreq "$NET sslmode=require"
is "$rc" 0 "network, sslmode=require: once exits 0"
like "$(grep 'msg=source.insecure' <<<"$err")" \
	"ssl=on sslmode=\"require\" reason=\"TLS that does not verify the server, over the network\"" \
	"network, sslmode=require: warned, TLS does not verify the server"

ns_once netverify "$NET sslmode=verify-full sslrootcert=$CA"
is "$rc" 0 "network, sslmode=verify-full: once exits 0"
like "$err" "msg=source.connected host=\"$NS_ADDR\" hostaddr=$NS_ADDR port=$NS_PORT ssl=on" \
	"network, sslmode=verify-full: over TLS"
unlike "$err" "source.insecure" "network, sslmode=verify-full: no warning"

# check-config --connect prints the warning too. libpq's default, prefer,
# takes TLS when the server offers it, without verifying the server.
# (RabbitMQ, outside the namespace, cannot be reached from in there.)
zl_conf "$ZL_TMP/netcheck.conf" "$nsdb" "$ZL_TMP/netcheck.state" "$ex" \
	"source.conninfo = \"$NET\";"
rc=0
out=$(ns "$ZL_BIN" -c "$ZL_TMP/netcheck.conf" check-config --connect 2>"$ZL_TMP/netcheck.err") || rc=$?
like "$out" "PostgreSQL: connected \(host=$NS_ADDR .*\) over TLSv1" \
	"network, check-config --connect, default sslmode: PostgreSQL connected over TLS"
is "$(grep -c 'msg=source.insecure host=.* ssl=on sslmode="prefer" reason="TLS that does not verify the server' "$ZL_TMP/netcheck.err")" 1 \
	"network, check-config --connect, default sslmode: the warning, once"

# The daemon warns when it starts, not every time it connects again.
conf=$ZL_TMP/netdaemon.conf
zl_conf "$conf" "$nsdb" "$ZL_TMP/netdaemon.state" "$ex" "source.conninfo = \"$NET sslmode=disable\";"
ZL_RUN_LOG=$ZL_TMP/netdaemon.log
ZL_RUN_LOG_FROM=0
# nsenter itself, not the function ns, so that $! is the daemon's PID.
nsenter --net="/proc/$NS_PID/ns/net" "$ZL_BIN" -c "$conf" run >>"$ZL_RUN_LOG" 2>&1 </dev/null &
ZL_PID=$!
echo "$ZL_PID" >>"$ZL_TMP/pids"
zl_wait_log 'msg=source.connected' 20 || diag "not connected: $(tail -n 5 "$ZL_RUN_LOG")"
# Through the cluster's UNIX socket, which the namespace does not hide.
is "$(psql -X -At -h "$NSDIR" -p "$NS_PORT" -U postgres -d postgres -c "SELECT
	pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'zaaklink'")" t \
	"network, daemon: its backend terminated"
ok "network, daemon: it connects again" zl_wait_log 'msg=source.recovered' 30
zl_stop "$ZL_PID" >/dev/null
ok "network, daemon: stopped" test "$(grep -c 'msg=daemon.stopping' "$ZL_RUN_LOG")" = 1
is "$(grep -c 'msg=source.connected' "$ZL_RUN_LOG")/$(grep -c 'msg=source.insecure' "$ZL_RUN_LOG")" 2/1 \
	"network, daemon: two connections, one warning"

done_testing
