#!/bin/bash
# How zaaklink logs in to RabbitMQ, against a RabbitMQ 3.10 of our own with
# a TLS listener that asks for a client certificate and the plugin
# rabbitmq_auth_mechanism_ssl (SASL EXTERNAL, the user named by the
# certificate's CN). Certificates are made with openssl(1) in the test's
# temporary directory.
#
#   - amqp.password_file: used for a URL without a password (a user whose
#     password is not the library's default "guest"), ignored for a URL
#     with a password of its own; a relative name is read from
#     $CREDENTIALS_DIRECTORY; missing, empty and relative-without-systemd
#     files are refused with FILE:LINE and exit 78;
#   - SASL EXTERNAL: amqps with a client certificate and no user in the URL
#     logs in as the certificate's CN; an unknown CN is refused (69);
#   - a configuration file with a password that others can read gets one
#     warning line, one of mode 0600 none;
#   - ZAAKLINK_AMQP_URL takes several URLs separated by blanks;
#   - a reload takes a new password from the same file, used by the next
#     connection; another password_file needs a restart.
. "$(dirname "$0")/../lib.sh"
zl_require_tools openssl

zl_pg_up
unset SSL_CERT_FILE SSL_CERT_DIR CREDENTIALS_DIRECTORY ZAAKLINK_AMQP_URL

# ------------------------------------------------------ certificates ----

PKI=$ZL_TMP/pki
mkdir -p "$PKI"

zl_pki_ca "$PKI" ca &&
	zl_pki_cert "$PKI" localhost localhost serverAuth DNS:localhost &&
	zl_pki_cert "$PKI" client zaaklink-client clientAuth &&
	zl_pki_cert "$PKI" stranger nobody-known clientAuth ||
	bail "openssl could not make the certificates: $(tail -n 3 "$PKI/openssl.log")"
CA=$PKI/ca.pem

# ------------------------------------------------------------ broker ----

RB=$ZL_TMP/auth-rabbit
GUEST_PASS=g$(openssl rand -hex 12)
USER=zlpass
USER_PASS=u$(openssl rand -hex 12)

auth_conf() {
	local dir=$1
	TLS_PORT=$(zl_free_port) || return 1
	cp "$PKI/localhost.pem" "$dir/server.pem" && cp "$PKI/localhost.key" "$dir/server.key" &&
		cp "$CA" "$dir/ca.pem" || return 1
	echo '[rabbitmq_auth_mechanism_ssl].' >"$dir/enabled_plugins"
	cat >>"$dir/rabbitmq.conf" <<-EOF
		listeners.ssl.default = 127.0.0.1:$TLS_PORT
		ssl_options.cacertfile = $dir/ca.pem
		ssl_options.certfile = $dir/server.pem
		ssl_options.keyfile = $dir/server.key
		ssl_options.verify = verify_peer
		ssl_options.fail_if_no_peer_cert = true
		auth_mechanisms.1 = PLAIN
		auth_mechanisms.2 = AMQPLAIN
		auth_mechanisms.3 = EXTERNAL
		ssl_cert_login_from = common_name
		default_user = guest
		default_pass = $GUEST_PASS
	EOF
}

ctl() { _zl_rabbit_env "$RB" timeout 60 "$ZL_RABBIT_BIN/rabbitmqctl" -q "$@" >>"$RB/ctl.out" 2>&1; }

zl_rabbit_start "$RB" auth_conf || bail "cannot start a RabbitMQ with TLS and EXTERNAL in $RB"
export ZL_TEST_AMQP_URL="amqp://guest:$GUEST_PASS@127.0.0.1:$ZL_TEST_AMQP_PORT/%2f"
zl_wait_port "$TLS_PORT" 20 || bail "nothing listens on the TLS port $TLS_PORT"
note "RabbitMQ: amqp on 127.0.0.1:$ZL_TEST_AMQP_PORT, amqps on 127.0.0.1:$TLS_PORT"
# A user with a password, and one without any: the certificate's CN.
ctl add_user "$USER" "$USER_PASS" && ctl set_permissions "$USER" '.*' '.*' '.*' &&
	ctl add_user zaaklink-client unused && ctl clear_password zaaklink-client &&
	ctl set_permissions zaaklink-client '.*' '.*' '.*' ||
	bail "rabbitmqctl could not create the users: $(tail -n 3 "$RB/ctl.out")"

# ---------------------------------------------------------- zaaklink ----

db=$(zl_db_new) || bail "cannot create a database"
ex=$(zl_exchange_new)
q=$(zl_queue_new "$ex") || bail "cannot declare a queue with $ZL_PROBE"
state=$ZL_TMP/state.db
PLAIN_HOST=127.0.0.1:$ZL_TEST_AMQP_PORT
dead=127.0.0.1:$(zl_free_port)

printf '%s\n' "$USER_PASS" >"$ZL_TMP/right.password"
printf '%s' "wrong$USER_PASS" >"$ZL_TMP/wrong.password"
: >"$ZL_TMP/empty.password"
mkdir -p "$ZL_TMP/creds"
printf '%s\n' "$USER_PASS" >"$ZL_TMP/creds/amqp.password"
chmod 600 "$ZL_TMP"/*.password "$ZL_TMP/creds/amqp.password"

# conf NAME [EXTRA...]: writes $ZL_TMP/NAME.conf with EXTRA.
conf() {
	local f=$ZL_TMP/$1.conf
	shift
	zl_conf "$f" "$db" "$state" "$ex" 'amqp.connect_timeout = 5.0;' "$@" ||
		bail "cannot write $f"
}

# run NAME CONF ARGS...: zaaklink -c CONF ARGS; sets rc, out and err.
run() {
	local name=$1 c=$2
	shift 2
	rc=0
	zl_zl -c "$c" "$@" >"$ZL_TMP/$name.out" 2>"$ZL_TMP/$name.err" || rc=$?
	out=$(<"$ZL_TMP/$name.out")
	err=$(<"$ZL_TMP/$name.err")
}

# line_of FILE TEXT: the number of the line of FILE that has TEXT.
line_of() { grep -nF -- "$2" "$1" | head -n 1 | cut -d: -f1; }

# ---- password_file for a URL without a password ----

conf pf "amqp.url = \"amqp://$USER@$PLAIN_HOST/%2f\";" \
	"amqp.password_file = \"$ZL_TMP/right.password\";"
run pf "$ZL_TMP/pf.conf" check-config --connect
is "$rc" 0 "password_file, URL without a password: check-config --connect exits 0" || diag "$err"
unlike "$out$err" "$USER_PASS" "password_file: the password is not printed"

kc=$(zl_kc "$db" "Aanvraag parkeervergunning")
run baseline "$ZL_TMP/pf.conf" once
is "$rc" 0 "password_file: once on the empty database exits 0" || diag "$err"
z1=$(zl_uuid)
zl_ow "$db" "$kc" "$z1" >/dev/null
run once-pf "$ZL_TMP/pf.conf" once
is "$rc" 0 "password_file: once publishes and exits 0" || diag "$err"
f=$(zl_drain "$q" 1 10)
is "$(zl_types "$f") $(zl_jq "$f" 'ev.subject')" "gekoppeld $z1" \
	"password_file: the queue receives the gekoppeld"

conf nopf "amqp.url = \"amqp://$USER@$PLAIN_HOST/%2f\";"
run nopf "$ZL_TMP/nopf.conf" check-config --connect
is "$rc" 69 "the same URL without password_file: refused (69)"

# ---- a URL with a password of its own ignores the file ----

conf own-right "amqp.url = \"amqp://$USER:$USER_PASS@$PLAIN_HOST/%2f\";" \
	"amqp.password_file = \"$ZL_TMP/wrong.password\";"
run own-right "$ZL_TMP/own-right.conf" check-config --connect
is "$rc" 0 "URL with its own (right) password, wrong password_file: exits 0" || diag "$err"
conf own-wrong "amqp.url = \"amqp://$USER:nope@$PLAIN_HOST/%2f\";" \
	"amqp.password_file = \"$ZL_TMP/right.password\";"
run own-wrong "$ZL_TMP/own-wrong.conf" check-config --connect
is "$rc" 69 "URL with its own (wrong) password, right password_file: refused (69)"
like "$err" "could not log in as $USER " "URL with its own password: the login of $USER failed"

# ---- relative: under $CREDENTIALS_DIRECTORY ----

conf rel "amqp.url = \"amqp://$USER@$PLAIN_HOST/%2f\";" 'amqp.password_file = "amqp.password";'
CREDENTIALS_DIRECTORY=$ZL_TMP/creds run rel "$ZL_TMP/rel.conf" check-config --connect
is "$rc" 0 "relative password_file under \$CREDENTIALS_DIRECTORY: exits 0" || diag "$err"
run rel-nodir "$ZL_TMP/rel.conf" check-config
is "$rc" 78 "relative password_file without \$CREDENTIALS_DIRECTORY: exit 78"
is "$err" "$ZL_TMP/rel.conf:$(line_of "$ZL_TMP/rel.conf" password_file): amqp.password_file: 'amqp.password' is a relative path and \$CREDENTIALS_DIRECTORY is not set (systemd's LoadCredential= sets it); expected an absolute path" \
	"relative password_file without \$CREDENTIALS_DIRECTORY: the message"

# ---- refused files ----

conf missing "amqp.url = \"amqp://$USER@$PLAIN_HOST/%2f\";" \
	"amqp.password_file = \"$ZL_TMP/missing.password\";"
run missing "$ZL_TMP/missing.conf" check-config
is "$rc" 78 "missing password_file: exit 78"
is "$err" "$ZL_TMP/missing.conf:$(line_of "$ZL_TMP/missing.conf" password_file): amqp.password_file: could not read $ZL_TMP/missing.password: No such file or directory" \
	"missing password_file: the message"
conf empty "amqp.url = \"amqp://$USER@$PLAIN_HOST/%2f\";" \
	"amqp.password_file = \"$ZL_TMP/empty.password\";"
run empty "$ZL_TMP/empty.conf" run
is "$rc" 78 "empty password_file: run exits 78"
is "$err" "$ZL_TMP/empty.conf:$(line_of "$ZL_TMP/empty.conf" password_file): amqp.password_file: $ZL_TMP/empty.password is empty" \
	"empty password_file: the message"

# ---- SASL EXTERNAL with a client certificate ----

TLS=localhost:$TLS_PORT
conf ext "amqp.url = \"amqps://$TLS/%2f\";" "amqp.ca_file = \"$CA\";" \
	"amqp.cert_file = \"$PKI/client.pem\";" "amqp.key_file = \"$PKI/client.key\";"
run ext "$ZL_TMP/ext.conf" check-config --connect
is "$rc" 0 "EXTERNAL: client certificate, no user in the URL: check-config --connect exits 0" ||
	diag "$err"
z2=$(zl_uuid)
zl_ow "$db" "$kc" "$z2" >/dev/null
run once-ext "$ZL_TMP/ext.conf" once
is "$rc" 0 "EXTERNAL: once publishes and exits 0" || diag "$err"
f=$(zl_drain "$q" 1 10)
is "$(zl_types "$f") $(zl_jq "$f" 'ev.subject')" "gekoppeld $z2" \
	"EXTERNAL: the queue receives the gekoppeld"
like "$(cat "$RB"/log/*.log 2>/dev/null)" "user 'zaaklink-client' authenticated" \
	"EXTERNAL: the broker logged zaaklink in as the certificate's CN"

conf stranger "amqp.url = \"amqps://$TLS/%2f\";" "amqp.ca_file = \"$CA\";" \
	"amqp.cert_file = \"$PKI/stranger.pem\";" "amqp.key_file = \"$PKI/stranger.key\";"
run stranger "$ZL_TMP/stranger.conf" check-config --connect
is "$rc" 69 "EXTERNAL: a certificate whose CN is no user: refused (69)"
like "$err" "could not log in with the client certificate \\(SASL EXTERNAL\\) to vhost / on node amqps://$TLS/%2f" \
	"EXTERNAL: the message says the certificate login failed"

# ---- ZAAKLINK_AMQP_URL: several URLs separated by blanks ----

ZAAKLINK_AMQP_URL="amqp://guest:nope@$dead/%2f  $ZL_TEST_AMQP_URL" \
	run envlist "$ZL_TMP/nopf.conf" check-config --connect
is "$rc" 0 "ZAAKLINK_AMQP_URL with two URLs: the second one connects" || diag "$err"

# ---- the warning for a readable file holding a password ----

conf secret "amqp.url = \"amqp://$USER:$USER_PASS@$PLAIN_HOST/%2f\";"
warn_re="level=warning msg=config.password_readable file=\"$ZL_TMP/secret.conf\" mode=0644 settings=amqp.url,source.conninfo"
chmod 644 "$ZL_TMP/secret.conf"
run readable "$ZL_TMP/secret.conf" check-config
is "$rc" 0 "a mode 0644 file with passwords: check-config exits 0" || diag "$err"
is "$(grep -c 'msg=config.password_readable' <<<"$err")" 1 "mode 0644: one warning line"
like "$err" "$warn_re" "mode 0644: it names the file, its mode and the settings"
unlike "$err" "$USER_PASS" "mode 0644: the warning does not show the password"
chmod 600 "$ZL_TMP/secret.conf"
run private "$ZL_TMP/secret.conf" check-config
is "$rc" 0 "a mode 0600 file with passwords: check-config exits 0"
is "$err" "" "mode 0600: no warning"
zl_conf "$ZL_TMP/nosecret.conf" "$db" "$state" "$ex" \
	"source.conninfo = \"host=127.0.0.1 port=$PGPORT dbname=$db user=zaaklink\";" \
	"amqp.url = \"amqp://$USER@$PLAIN_HOST/%2f\";" \
	"amqp.password_file = \"$ZL_TMP/right.password\";"
chmod 644 "$ZL_TMP/nosecret.conf"
run nosecret "$ZL_TMP/nosecret.conf" check-config
is "$rc" 0 "a mode 0644 file with password_file and no password: exits 0" || diag "$err"
is "$err" "" "a mode 0644 file without a password: no warning"

# ---- reload: a new password in the same file, for the next connection ----

printf '%s\n' "$USER_PASS" >"$ZL_TMP/rot.password"
chmod 600 "$ZL_TMP/rot.password"
conf reload "amqp.url = \"amqp://$USER@$PLAIN_HOST/%2f\";" \
	"amqp.password_file = \"$ZL_TMP/rot.password\";"
log=$ZL_TMP/reload.log
zl_run_bg "$ZL_TMP/reload.conf" "$log"
# connected N: the daemon has logged amqp.connected N times.
connected() { [ "$(grep -c 'msg=amqp.connected' "$log")" -ge "$1" ]; }
ok "reload: the daemon connects with the file's password" zl_wait_for 30 connected 1
NEW_PASS=n$(openssl rand -hex 12)
ctl change_password "$USER" "$NEW_PASS" || bail "rabbitmqctl could not change the password"
printf '%s\n' "$NEW_PASS" >"$ZL_TMP/rot.password"
kill -HUP "$ZL_PID"
ok "reload: a new password in the file is applied" \
	zl_wait_log 'msg=config.reloaded file=[^ ]+ changed=amqp.password_file$' 20
ctl close_all_connections "password rotated" || bail "rabbitmqctl could not close the connections"
ok "reload: the next connection logs in with the new password" zl_wait_for 60 connected 2
sed -i "s|rot.password|right.password|" "$ZL_TMP/reload.conf"
kill -HUP "$ZL_PID"
ok "reload: another password_file is refused (restart)" \
	zl_wait_log 'msg=config.reload_refused file=[^ ]+ settings=amqp.password_file ' 20
unlike "$(<"$log")" "$USER_PASS|$NEW_PASS" "reload: no password in the log"
zl_stop "$ZL_PID"

done_testing
