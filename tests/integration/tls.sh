#!/bin/bash
# amqps:// with certificate verification, against a RabbitMQ 3.10 of our own
# with a TLS listener next to its plain one (random ports, 127.0.0.1 only).
# A throwaway CA and server certificates are made with openssl(1) in the
# test's temporary directory; nothing secret is committed.
#
#   - ca_file = the CA: `once` publishes, `check-config --connect` exits 0;
#   - no ca_file (the system's CAs) or another CA: `once` exits 75 with the
#     event pending and one clear line about the certificate on stderr,
#     without the password; `check-config --connect` exits 69;
#   - the broker's certificate names other.example: refused with
#     verify_hostname = true, accepted with verify_hostname = false (which
#     still verifies the chain).
#
# guest keeps its loopback-only restriction but gets a random password, so
# that "no password in the output" can be checked for real.
. "$(dirname "$0")/../lib.sh"
zl_require_tools openssl

# PostgreSQL: the suite's when tests/run-all.sh started one, else our own.
# RabbitMQ is always ours: it needs a TLS listener and a certificate we
# replace half-way.
zl_pg_up

# The system's CA bundle, not one from the environment, for "no ca_file".
unset SSL_CERT_FILE SSL_CERT_DIR

# ------------------------------------------------------ certificates ----

PKI=$ZL_TMP/pki
mkdir -p "$PKI"

if ! { zl_pki_ca "$PKI" ca && zl_pki_ca "$PKI" wrongca &&
	zl_pki_cert "$PKI" localhost localhost serverAuth DNS:localhost &&
	zl_pki_cert "$PKI" other other.example serverAuth DNS:other.example; }; then
	bail "openssl could not make the certificates: $(tail -n 3 "$PKI/openssl.log")"
fi
CA=$PKI/ca.pem
WRONGCA=$PKI/wrongca.pem

ok "fixture: the localhost certificate verifies against the CA" \
	openssl verify -CAfile "$CA" -verify_hostname localhost "$PKI/localhost.pem"
nok "fixture: the localhost certificate does not verify against the other CA" \
	openssl verify -CAfile "$WRONGCA" "$PKI/localhost.pem"
nok "fixture: the other.example certificate does not name localhost" \
	openssl verify -CAfile "$CA" -verify_hostname localhost "$PKI/other.pem"

# ------------------------------------------------------------ broker ----

RB=$ZL_TMP/tls-rabbit
PASS=tls$(openssl rand -hex 12)

# tls_conf DIR: adds to zl_rabbit_start's configuration a TLS listener whose
# certificate is DIR/server.pem, and a password of our own for guest.
tls_conf() {
	local dir=$1
	TLS_PORT=$(zl_free_port) || return 1
	cp "$PKI/localhost.pem" "$dir/server.pem" && cp "$PKI/localhost.key" "$dir/server.key" &&
		cp "$CA" "$dir/ca.pem" || return 1
	cat >>"$dir/rabbitmq.conf" <<-EOF
		listeners.ssl.default = 127.0.0.1:$TLS_PORT
		ssl_options.cacertfile = $dir/ca.pem
		ssl_options.certfile = $dir/server.pem
		ssl_options.keyfile = $dir/server.key
		ssl_options.verify = verify_none
		ssl_options.fail_if_no_peer_cert = false
		default_user = guest
		default_pass = $PASS
	EOF
}

tls_rabbit_start() {
	zl_rabbit_start "$RB" tls_conf || return 1
	# The probe reads over the plain listener of the same broker.
	export ZL_TEST_AMQP_URL="amqp://guest:$PASS@127.0.0.1:$ZL_TEST_AMQP_PORT/%2f"
	zl_wait_port "$TLS_PORT" 20 && return 0
	echo "tls_rabbit_start: nothing listens on the TLS port $TLS_PORT" >&2
	return 1
}

# use_cert NAME: the broker presents NAME.pem from its next handshake on
# (Erlang caches certificate files until told otherwise).
use_cert() {
	cp "$PKI/$1.pem" "$RB/server.pem" && cp "$PKI/$1.key" "$RB/server.key" &&
		_zl_rabbit_env "$RB" timeout 60 "$ZL_RABBIT_BIN/rabbitmqctl" -q eval \
			'ssl:clear_pem_cache().' >>"$RB/ctl.out" 2>&1
}

# served_cn: the CN of the certificate the TLS listener presents.
served_cn() {
	timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername localhost \
		</dev/null 2>/dev/null | openssl x509 -noout -subject -nameopt multiline 2>/dev/null |
		sed -n 's/^ *commonName *= *//p'
}

tls_rabbit_start || bail "cannot start a RabbitMQ with a TLS listener in $RB"
note "RabbitMQ: amqp on 127.0.0.1:$ZL_TEST_AMQP_PORT, amqps on 127.0.0.1:$TLS_PORT"

ok "broker: the TLS listener presents a chain the CA verifies for localhost" \
	timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername localhost \
	-CAfile "$CA" -verify_return_error -verify_hostname localhost -brief </dev/null
is "$(served_cn)" localhost "broker: the TLS listener presents CN=localhost"
nok "broker: the TLS listener does not speak plain AMQP" _zl_amqp_ready "$TLS_PORT"

# ---------------------------------------------------------- zaaklink ----

db=$(zl_db_new) || bail "cannot create a database"
ex=$(zl_exchange_new)
q=$(zl_queue_new "$ex") || bail "cannot declare a queue with $ZL_PROBE"
state=$ZL_TMP/state.db
URL="amqps://guest:$PASS@localhost:$TLS_PORT/%2f"

# conf NAME [EXTRA...]: writes $ZL_TMP/NAME.conf: the shared database,
# state and exchange, amqps to localhost, and EXTRA.
conf() {
	local f=$ZL_TMP/$1.conf
	shift
	zl_conf "$f" "$db" "$state" "$ex" "amqp.url = \"$URL\";" 'amqp.connect_timeout = 5.0;' \
		"$@" || bail "cannot write $f"
}
conf ca "amqp.ca_file = \"$CA\";"
conf system
conf wrongca "amqp.ca_file = \"$WRONGCA\";"
conf hostname-on "amqp.ca_file = \"$CA\";" 'amqp.verify_hostname = true;'
conf hostname-off "amqp.ca_file = \"$CA\";" 'amqp.verify_hostname = false;'
conf hostname-off-wrongca "amqp.ca_file = \"$WRONGCA\";" 'amqp.verify_hostname = false;'
c_ca=$ZL_TMP/ca.conf
c_sys=$ZL_TMP/system.conf
c_wrong=$ZL_TMP/wrongca.conf
c_vh=$ZL_TMP/hostname-on.conf
c_novh=$ZL_TMP/hostname-off.conf
c_novh_wrong=$ZL_TMP/hostname-off-wrongca.conf

# What the one error line must say: the chain is not trusted, or the
# certificate does not name the host. Neither matches the other.
CERT_RE='(SSL|TLS).*cert|cert.*(SSL|TLS)|certificate'
HOST_RE='host ?name'
# What only a chain error says.
CHAIN_RE='peer cert|chain|issuer|self.signed|unknown ca'

# errors TEXT: the lines of TEXT that are not log lines (README: errors are
# one line on stderr; logs are "TIME level=... msg=...").
errors() { grep -Ev '^[0-9TZ:-]+ level=' <<<"$1" | grep .; }

# once NAME CONF: runs `zaaklink once`; sets rc and err (its stderr).
once() {
	rc=0
	zl_zl -c "$2" once >"$ZL_TMP/$1.out" 2>"$ZL_TMP/$1.err" || rc=$?
	err=$(<"$ZL_TMP/$1.err")
}

# refused NAME CONF WHAT: `once` with CONF must leave the one event pending
# and say why in one error line naming the node, WHAT (an extended regex)
# telling the TLS problem, and not the other problem (a chain error is no
# host name error, nor the other way round); the password appears nowhere.
refused() {
	local name=$1 conf=$2 what=$3 e other=$HOST_RE
	[ "$what" = "$HOST_RE" ] && other=$CHAIN_RE
	once "$name" "$conf"
	is "$rc" 75 "$name: once exits 75" || diag "$err"
	is "$(zl_pending "$conf")" 1 "$name: the event stays pending"
	e=$(errors "$err")
	is "$(grep -c . <<<"$e")" 1 "$name: one error line on stderr" || diag "$err"
	like "$e" "localhost:$TLS_PORT.*($what)" "$name: it names the node and the TLS problem"
	unlike "$e" "$other" "$name: and not the other TLS problem"
	unlike "$err" "$PASS" "$name: stderr does not contain the password"
	is "$(zl_count "$(zl_drain "$q" "" 1)")" 0 "$name: nothing reaches the queue"
}

# delivered NAME CONF ZAAK: `once` with CONF publishes the one pending event,
# a gekoppeld for ZAAK.
delivered() {
	local name=$1 conf=$2 zaak=$3 f
	once "$name" "$conf"
	is "$rc" 0 "$name: once exits 0" || diag "$err"
	f=$(zl_drain "$q" 1 10)
	is "$(zl_types "$f") $(zl_jq "$f" 'ev.subject')" "gekoppeld $zaak" \
		"$name: the queue receives the gekoppeld"
	is "$(zl_pending "$conf")" 0 "$name: nothing pending any more"
}

# check_connect NAME CONF: `check-config --connect`; sets rc and err.
check_connect() {
	rc=0
	zl_zl -c "$2" check-config --connect >"$ZL_TMP/$1.out" 2>"$ZL_TMP/$1.err" || rc=$?
	err=$(<"$ZL_TMP/$1.err")
}

once baseline "$c_ca"
is "$rc" 0 "first once on an empty database (the baseline): exit 0" || diag "$err"

kc=$(zl_kc "$db" "Aanvraag parkeervergunning")
z1=$(zl_uuid)
zl_ow "$db" "$kc" "$z1" >/dev/null

# ---- (2) the system's CAs do not know our CA; neither does another CA ----
refused "no ca_file (system CAs)" "$c_sys" "$CERT_RE"
refused "ca_file of another CA" "$c_wrong" "$CERT_RE"

# ---- (1) ca_file = our CA ----
delivered "ca_file = the CA" "$c_ca" "$z1"

# ---- (4) check-config --connect ----
check_connect connect-ca "$c_ca"
is "$rc" 0 "check-config --connect with the CA: exit 0" || diag "$err"
like "$(<"$ZL_TMP/connect-ca.out")" "RabbitMQ: connected" "check-config --connect with the CA: RabbitMQ connected"
check_connect connect-system "$c_sys"
is "$rc" 69 "check-config --connect without ca_file: exit 69" || diag "$err"
is "$(errors "$err" | grep -c .)" 1 "check-config --connect without ca_file: one error line on stderr"
like "$err" "localhost:$TLS_PORT.*($CERT_RE)" \
	"check-config --connect without ca_file: it names the node and the certificate"
unlike "$err" "$HOST_RE" "check-config --connect without ca_file: not a host name error"
unlike "$err" "$PASS" "check-config --connect without ca_file: no password on stderr"
check_connect connect-wrong "$c_wrong"
is "$rc" 69 "check-config --connect with another CA: exit 69" || diag "$err"

# ---- (3) a certificate for another host name ----
ok "broker: now presents the other.example certificate" use_cert other
is "$(served_cn)" other.example "broker: the TLS listener presents CN=other.example"

z2=$(zl_uuid)
zl_ow "$db" "$kc" "$z2" >/dev/null
refused "certificate for other.example, verify_hostname = true" "$c_vh" "$HOST_RE"
refused "certificate for other.example, verify_hostname by default" "$c_ca" "$HOST_RE"
refused "certificate for other.example, verify_hostname = false, another CA" "$c_novh_wrong" "$CERT_RE"
delivered "certificate for other.example, verify_hostname = false" "$c_novh" "$z2"

check_connect connect-vh "$c_vh"
is "$rc" 69 "check-config --connect, other.example, verify_hostname = true: exit 69" || diag "$err"
like "$err" "$HOST_RE" "check-config --connect, other.example, verify_hostname = true: says host name"
unlike "$err" "$CHAIN_RE" "check-config --connect, other.example, verify_hostname = true: not a chain error"
check_connect connect-novh "$c_novh"
is "$rc" 0 "check-config --connect, other.example, verify_hostname = false: exit 0" || diag "$err"

done_testing
