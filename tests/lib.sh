# Test library for zaaklink's integration tests: TAP output, throwaway
# PostgreSQL and RabbitMQ servers, Open Klant fixtures and the daemon.
#
# Sourced (bash) by every tests/integration/*.sh, by tests/run-all.sh and by
# demo.sh. Environment it reads:
#
#   ZL_BIN, ZL_PROBE, ZL_SRCDIR   set by `make check` (Makefile.am)
#   ZL_TEST_PGPORT, ZL_TEST_AMQP_URL
#                                 servers already running for the whole suite
#                                 (tests/run-all.sh); otherwise zl_servers_up
#                                 starts its own and stops them on exit
#   ZL_KEEP_TMP=1                 keep temporary directories for debugging
#   ZL_CMD_TIMEOUT                seconds a single zaaklink command may take
#                                 (default 120)
#
# Helpers that print a value (zl_db_new, zl_kc, zl_queue_new, ...) are meant
# for $(...): everything they must remember for the cleanup on exit is
# therefore kept in files under $ZL_TMP, never in shell variables.
#
# Cleanup: every process, server, database and queue started here is
# registered and undone by the EXIT trap, in reverse order, by PID.

# Defaults for running a test by hand from the source tree, after
# tests/run-all.sh has built _build/default.
ZL_SRCDIR=${ZL_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
ZL_BIN=${ZL_BIN:-$ZL_SRCDIR/_build/default/zaaklink}
ZL_PROBE=${ZL_PROBE:-$ZL_SRCDIR/_build/default/amqp-probe}
export ZL_SRCDIR ZL_BIN ZL_PROBE
# Byte order for sort/comm, UTF-8 for the fixtures whatever the locale.
export LC_COLLATE=C PGCLIENTENCODING=UTF8

# ---------------------------------------------------------------- TAP ----

_zl_tap_n=0          # tests run so far
_zl_tap_failed=0     # of which failed
_zl_tap_planned=     # the plan, when given up front

# plan N: announces N tests.
plan() {
	_zl_tap_planned=$1
	echo "1..$1"
}

# done_testing: ends a run without a plan given up front. Its status is
# non-zero when a test failed, except under automake's harness (which
# exports srcdir): there the TAP driver counts the failures already, and a
# failing exit status would add an ERROR per script to the totals. A script
# that dies early still shows up there, by its missing plan.
done_testing() {
	if [ -n "${ZL_TMP:-}" ] && [ -s "$ZL_TMP/probe.failed" ]; then
		_zl_result 0 "every drain of the AMQP probe worked"
		diag "$(cat "$ZL_TMP/probe.failed")"
	fi
	if [ -z "$_zl_tap_planned" ]; then
		echo "1..$_zl_tap_n"
		_zl_tap_planned=$_zl_tap_n
	fi
	[ "$_zl_tap_failed" -eq 0 ] || [ -n "${srcdir:-}" ]
}

# skip_all REASON: the whole script does not apply here.
skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

# The one place a result line is written; returns 0 for ok, 1 for not ok.
_zl_result() {
	local good=$1
	shift
	_zl_tap_n=$((_zl_tap_n + 1))
	if [ "$good" = 1 ]; then
		echo "ok $_zl_tap_n - $*"
		return 0
	fi
	_zl_tap_failed=$((_zl_tap_failed + 1))
	echo "not ok $_zl_tap_n - $*"
	return 1
}

# diag MSG...: a diagnostic, each argument (and each line of it) on a line
# of its own starting with '#'. It goes to stdout, the TAP stream, so that
# the test's .log shows it right below the result it explains (the TAP
# driver writes stderr to the log unsynchronised).
diag() {
	local arg line
	for arg in "$@"; do
		while IFS= read -r line; do
			printf '# %s\n' "$line"
		done <<<"$arg"
	done
}

note() { diag "$@"; }

# bail MSG: stops the whole run.
bail() {
	echo "Bail out! $*"
	exit 1
}

pass() { _zl_result 1 "$@"; }
fail() { _zl_result 0 "$@"; }

# skip N REASON: records N skipped tests.
skip() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		_zl_tap_n=$((_zl_tap_n + 1))
		echo "ok $_zl_tap_n # SKIP $*"
	done
}

# ok NAME CMD...: ok when CMD exits 0; CMD's output goes to stderr.
ok() {
	local name=$1 rc=0
	shift
	"$@" >&2 || rc=$?
	_zl_result "$([ $rc -eq 0 ] && echo 1)" "$name" && return 0
	diag "   command: $*" "   exited $rc"
	return 1
}

# nok NAME CMD...: ok when CMD exits non-zero.
nok() {
	local name=$1 rc=0
	shift
	"$@" >&2 || rc=$?
	_zl_result "$([ $rc -ne 0 ] && echo 1)" "$name" && return 0
	diag "   command: $*" "   exited 0, expected a failure"
	return 1
}

# is GOT EXPECTED NAME
is() {
	if [ "$1" = "$2" ]; then
		_zl_result 1 "$3"
		return 0
	fi
	_zl_result 0 "$3"
	diag "     got: '$1'" "expected: '$2'"
	return 1
}

# isnt GOT UNEXPECTED NAME
isnt() {
	if [ "$1" != "$2" ]; then
		_zl_result 1 "$3"
		return 0
	fi
	_zl_result 0 "$3"
	diag "     got: '$1'" "expected anything else"
	return 1
}

# like GOT REGEX NAME (bash extended regex)
like() {
	if [[ $1 =~ $2 ]]; then
		_zl_result 1 "$3"
		return 0
	fi
	_zl_result 0 "$3"
	diag "                  '$1'" "    doesn't match '$2'"
	return 1
}

# unlike GOT REGEX NAME
unlike() {
	if ! [[ $1 =~ $2 ]]; then
		_zl_result 1 "$3"
		return 0
	fi
	_zl_result 0 "$3"
	diag "                  '$1'" "          matches '$2'"
	return 1
}

# cmp_ok GOT OP EXPECTED NAME, OP one of test(1)'s -eq -ne -lt -le -gt -ge
cmp_ok() {
	if test "$1" "$2" "$3" 2>/dev/null; then
		_zl_result 1 "$4"
		return 0
	fi
	_zl_result 0 "$4"
	diag "    '$1'" "        $2" "    '$3'"
	return 1
}

# ------------------------------------------------------------ cleanup ----

# Commands run on exit, last registered first, one per line.
_zl_cleanup_cmds=()
_zl_cleanup_done=

# zl_on_exit CMD...: registers a cleanup command (a single string for eval),
# once. Only valid in the main shell; helpers used in $(...) write files.
zl_on_exit() {
	local c
	for c in "${_zl_cleanup_cmds[@]}"; do
		[ "$c" = "$*" ] && return 0
	done
	_zl_cleanup_cmds+=("$*")
}

_zl_cleanup() {
	local rc=$? i pid db q
	[ -n "$_zl_cleanup_done" ] && return "$rc"
	_zl_cleanup_done=1
	set +e
	# Daemons and other background processes of this test first.
	if [ -n "${ZL_TMP:-}" ] && [ -f "$ZL_TMP/pids" ]; then
		while read -r pid; do
			if kill -0 "$pid" 2>/dev/null; then
				zl_stop "$pid" >/dev/null 2>&1
			fi
		done < <(tac "$ZL_TMP/pids")
	fi
	if [ -n "${ZL_TMP:-}" ] && [ -f "$ZL_TMP/queues" ] && [ -x "${ZL_PROBE:-}" ] &&
		[ -n "${ZL_TEST_AMQP_URL:-}" ] && [ -z "${ZL_KEEP_TMP:-}" ]; then
		while read -r q; do
			timeout 10 "$ZL_PROBE" "$ZL_TEST_AMQP_URL" delete "$q" >/dev/null 2>&1
		done <"$ZL_TMP/queues"
	fi
	if [ -n "${ZL_TMP:-}" ] && [ -f "$ZL_TMP/databases" ] && [ -z "${ZL_KEEP_TMP:-}" ]; then
		while read -r db; do
			_zl_psql postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
		done <"$ZL_TMP/databases"
	fi
	for ((i = ${#_zl_cleanup_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_zl_cleanup_cmds[i]}"
	done
	return "$rc"
}

trap _zl_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# zl_tmpdir: a fresh directory under /tmp that every user (postgres) can
# traverse, removed on exit unless ZL_KEEP_TMP is set. Prints its path.
zl_tmpdir() {
	local d
	d=$(mktemp -d "${TMPDIR:-/tmp}/zaaklink-test.XXXXXX") || return 1
	chmod 755 "$d"
	echo "$d"
}

# The per-test working directory: files, logs, cleanup lists.
ZL_TMP=$(zl_tmpdir) || bail "cannot create a temporary directory"
if [ -n "${ZL_KEEP_TMP:-}" ]; then
	zl_on_exit "echo '# kept $ZL_TMP' >&2"
else
	zl_on_exit "rm -rf '$ZL_TMP'"
fi

# _zl_next: a per-test counter that also works inside $(...).
_zl_next() {
	local n=0
	[ -f "$ZL_TMP/counter" ] && n=$(<"$ZL_TMP/counter")
	n=$((n + 1))
	echo "$n" >"$ZL_TMP/counter"
	echo "$n"
}

# ------------------------------------------------------------- ports ----

# True when something listens on 127.0.0.1:PORT (or on any address).
_zl_port_busy() {
	local p=$1
	if command -v ss >/dev/null 2>&1; then
		[ -n "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ] && return 0
	fi
	(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
}

# zl_free_port: prints a port in 20000-60000 that nothing uses, never one of
# rabbitmqctl's 35672-35682 and never one handed out before in this test.
zl_free_port() {
	local p tries
	for ((tries = 0; tries < 200; tries++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40001))
		((p >= 35672 && p <= 35682)) && continue
		grep -qx "$p" "$ZL_TMP/ports" 2>/dev/null && continue
		_zl_port_busy "$p" && continue
		echo "$p" >>"$ZL_TMP/ports"
		echo "$p"
		return 0
	done
	echo "zl_free_port: no free port found" >&2
	return 1
}

# zl_wait_port PORT SECONDS: waits until 127.0.0.1:PORT accepts connections.
zl_wait_port() {
	local port=$1 deadline=$((SECONDS + ${2:-10}))
	while ((SECONDS <= deadline)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# -------------------------------------------------------- PostgreSQL ----

_zl_pg_bindir() {
	local d
	for d in "$(pg_config --bindir 2>/dev/null)" /usr/lib/postgresql/*/bin; do
		if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return 0
		fi
	done
	echo "PostgreSQL server binaries not found; on Debian: apt-get install postgresql-15" >&2
	return 1
}

# Runs a command as the owner of the cluster: postgres when we are root
# (PostgreSQL refuses to run as root), ourselves otherwise.
_zl_as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# zl_pg_start DIR: a new cluster in DIR (fsync off, UTF8), listening on
# 127.0.0.1 at a free port with its socket in DIR. The superuser postgres
# connects without password (trust); every other role needs its password
# (scram), as a real deployment would. Exports PGHOST, PGPORT, PGUSER and
# ZL_TEST_PGPORT.
zl_pg_start() {
	local dir=$1 bindir port
	bindir=$(_zl_pg_bindir) || return 1
	mkdir -p "$dir" || return 1
	zl_on_exit "zl_pg_stop '$dir'"
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$dir"
		chmod 700 "$dir"
		if ! runuser -u postgres -- test -w "$dir"; then
			echo "zl_pg_start: user postgres cannot write $dir (is a parent directory private?)" >&2
			return 1
		fi
	fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		if ! _zl_as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
			--locale=C --no-sync >"$dir/initdb.log" 2>&1; then
			echo "zl_pg_start: initdb failed:" >&2
			tail -n 20 "$dir/initdb.log" >&2
			return 1
		fi
		_zl_as_pg sh -c "cat >'$dir/data/pg_hba.conf'" <<-EOF
			local all all trust
			host all postgres 127.0.0.1/32 trust
			host all all 127.0.0.1/32 scram-sha-256
		EOF
		_zl_as_pg sh -c "cat >>'$dir/data/postgresql.conf'" <<-EOF
			listen_addresses = '127.0.0.1'
			unix_socket_directories = '$dir'
			fsync = off
			synchronous_commit = off
			full_page_writes = off
			max_connections = 200
			log_min_messages = warning
		EOF
	fi
	for _ in 1 2 3; do
		if [ -f "$dir/port" ]; then
			port=$(<"$dir/port")
		else
			port=$(zl_free_port) || return 1
		fi
		if _zl_as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-p $port" start >"$dir/pg_ctl.log" 2>&1; then
			echo "$port" >"$dir/port"
			export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres ZL_TEST_PGPORT=$port
			unset PGDATABASE PGPASSWORD PGSERVICE
			return 0
		fi
		# The port was taken between the check and the bind: try another
		# one, unless this cluster already has its port (a restart).
		[ -f "$dir/port" ] && break
	done
	echo "zl_pg_start: PostgreSQL did not start:" >&2
	tail -n 20 "$dir/server.log" >&2 2>/dev/null
	return 1
}

# zl_pg_stop DIR
zl_pg_stop() {
	local dir=$1 bindir
	[ -f "$dir/data/postmaster.pid" ] || return 0
	bindir=$(_zl_pg_bindir) || return 1
	_zl_as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >>"$dir/pg_ctl.log" 2>&1
}

# zl_pg_restart DIR: stops and starts the cluster on the same port.
zl_pg_restart() {
	zl_pg_stop "$1" && zl_pg_start "$1"
}

# _zl_psql DB ARGS...: psql as superuser, quiet, unaligned, stopping on errors.
_zl_psql() {
	local db=$1
	shift
	PGCONNECT_TIMEOUT=10 psql -X -q -At -v ON_ERROR_STOP=1 -h "${PGHOST:-127.0.0.1}" \
		-p "${PGPORT:?PGPORT is not set: call zl_servers_up first}" -U postgres -d "$db" "$@"
}

# zl_sql DB SQL: runs SQL in DB as superuser; prints the rows, one a line,
# columns separated by '|'.
zl_sql() {
	_zl_psql "$1" -c "$2"
}

# zl_q STRING: STRING as an SQL literal.
zl_q() {
	local s=${1//\'/\'\'}
	printf "'%s'" "$s"
}

# zl_db_new: a fresh database with Open Klant's two tables, readable (SELECT
# only) by the role zaaklink / password zaaklink. Prints its name.
zl_db_new() {
	local db n
	n=$(_zl_next)
	db="zl_t_$$_$n"
	_zl_psql postgres -c "CREATE DATABASE \"$db\"" || return 1
	echo "$db" >>"$ZL_TMP/databases"
	_zl_psql "$db" -f "${ZL_SRCDIR:?}/tests/fixtures/openklant-schema.sql" >/dev/null || return 1
	# Tests running in parallel may race to create the role; losing the race
	# is fine as long as the role exists afterwards.
	_zl_psql postgres -c "DO \$\$ BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'zaaklink') THEN
			CREATE ROLE zaaklink LOGIN PASSWORD 'zaaklink';
		END IF; END \$\$" 2>/dev/null ||
		_zl_psql postgres -c "SELECT 1 FROM pg_roles WHERE rolname = 'zaaklink'" | grep -qx 1 ||
		return 1
	_zl_psql "$db" -c "GRANT SELECT ON klantinteracties_onderwerpobject,
		klantinteracties_klantcontact TO zaaklink" || return 1
	echo "$db"
}

# zl_kc DB ONDERWERP [NUMMER]: inserts a klantcontact (nummer NULL when not
# given) and prints its id.
zl_kc() {
	local db=$1 onderwerp=$2 nummer=NULL
	[ $# -ge 3 ] && nummer=$(zl_q "$3")
	_zl_psql "$db" -c "INSERT INTO klantinteracties_klantcontact
		(uuid, nummer, kanaal, onderwerp, inhoud, taal, vertrouwelijk, plaatsgevonden_op,
		 metadata, reactie, hoofd_onderwerp_type, verdere_actie_ondernomen)
		VALUES (gen_random_uuid(), $nummer, 'telefoon', $(zl_q "$onderwerp"), '', 'nld',
		 false, now(), '{}', '', '', false)
		RETURNING id"
}

# zl_ow DB KC_ID ZAAK_ID [OBJECTTYPE [SOORT [REGISTER]]]: inserts an
# onderwerpobject (KC_ID NULL or '' for none) and prints its id. Defaults
# make it a zaak link: 'zaak', 'uuid', 'open-zaak'.
zl_ow() {
	local db=$1 kc=${2:-NULL} zaak=$3 type=${4-zaak} soort=${5-uuid} register=${6-open-zaak}
	_zl_psql "$db" -c "INSERT INTO klantinteracties_onderwerpobject
		(uuid, klantcontact_id, was_klantcontact_id,
		 onderwerpobjectidentificator_code_objecttype,
		 onderwerpobjectidentificator_code_soort_object_id,
		 onderwerpobjectidentificator_object_id,
		 onderwerpobjectidentificator_code_register)
		VALUES (gen_random_uuid(), $kc, NULL, $(zl_q "$type"), $(zl_q "$soort"),
		 $(zl_q "$zaak"), $(zl_q "$register"))
		RETURNING id"
}

# zl_ow_uuid DB OW_ID: prints the uuid of an onderwerpobject.
zl_ow_uuid() {
	_zl_psql "$1" -c "SELECT uuid FROM klantinteracties_onderwerpobject WHERE id = $2"
}

# zl_uuid: prints a random lower-case UUID (a zaak id for fixtures).
zl_uuid() {
	cat /proc/sys/kernel/random/uuid
}

# ---------------------------------------------------------- RabbitMQ ----

ZL_RABBIT_BIN=${ZL_RABBIT_BIN:-/usr/lib/rabbitmq/bin}

# Runs a command with the environment of the broker in DIR (RABBITMQ.md).
_zl_rabbit_env() {
	local dir=$1
	shift
	local amqp dist epmd node
	read -r amqp dist epmd node <"$dir/ports" || return 1
	env HOME="$dir/home" \
		RABBITMQ_NODENAME="$node" \
		RABBITMQ_MNESIA_BASE="$dir/mnesia" \
		RABBITMQ_LOG_BASE="$dir/log" \
		RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
		RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
		RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
		RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
		RABBITMQ_PID_FILE="$dir/rabbit.pid" \
		RABBITMQ_DIST_PORT="$dist" \
		ERL_EPMD_PORT="$epmd" \
		ERL_EPMD_ADDRESS=127.0.0.1 \
		"$@"
}

# True when the broker in DIR answers the AMQP 0-9-1 protocol header with a
# frame (connection.start), i.e. it is ready for clients.
_zl_amqp_ready() {
	local port=$1 reply
	reply=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port || exit 1
		printf 'AMQP\\0\\0\\011\\001' >&3
		head -c 1 <&3 | od -An -tx1" 2>/dev/null) || return 1
	[ "${reply// /}" = 01 ]
}

# Starts the broker of DIR (configured already) and waits until it serves
# AMQP. Keeps its PID (leader of its own session) in DIR/server.pid.
_zl_rabbit_launch() {
	local dir=$1 amqp dist epmd node pid deadline
	read -r amqp dist epmd node <"$dir/ports"
	# Without job control the background child is no process group
	# leader, so setsid makes it the leader of a new session in place.
	_zl_rabbit_env "$dir" setsid "$ZL_RABBIT_BIN/rabbitmq-server" \
		>>"$dir/server.out" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$dir/server.pid"
	deadline=$((SECONDS + ${ZL_RABBIT_START_TIMEOUT:-90}))
	while ((SECONDS <= deadline)); do
		if _zl_amqp_ready "$amqp"; then
			export ZL_TEST_AMQP_PORT=$amqp
			export ZL_TEST_AMQP_URL="amqp://guest:guest@127.0.0.1:$amqp/%2f"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null
			break
		fi
		sleep 0.2
	done
	echo "zl_rabbit_start: RabbitMQ did not start in $dir:" >&2
	tail -n 20 "$dir/server.out" >&2
	_zl_rabbit_kill "$dir"
	return 1
}

# Kills what is left of the broker's session and its epmd, by PID.
_zl_rabbit_kill() {
	local dir=$1 pid
	_zl_rabbit_env "$dir" epmd -kill >/dev/null 2>&1
	[ -f "$dir/server.pid" ] || return 0
	pid=$(<"$dir/server.pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
	fi
	# The session may outlive its leader (erl_child_setup, inet_gethost).
	local left
	left=$(ps -o pid= -s "$pid" 2>/dev/null)
	# shellcheck disable=SC2086
	[ -n "$left" ] && kill -KILL $left 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$dir/server.pid"
	return 0
}

# zl_rabbit_start DIR [CONFIGURE]: a new broker with all its state in DIR,
# on random AMQP, distribution and epmd ports, bound to 127.0.0.1. Exports
# ZL_TEST_AMQP_PORT and ZL_TEST_AMQP_URL (guest, loopback only). CONFIGURE,
# a function, is called with DIR after DIR/rabbitmq.conf is written, to
# add lines of its own (a TLS listener, say).
zl_rabbit_start() {
	local dir=$1 configure=${2:-} amqp dist epmd
	[ -x "$ZL_RABBIT_BIN/rabbitmq-server" ] || {
		echo "zl_rabbit_start: $ZL_RABBIT_BIN/rabbitmq-server not found; on Debian: apt-get install rabbitmq-server" >&2
		return 1
	}
	zl_on_exit "zl_rabbit_stop '$dir'"
	for _ in 1 2 3; do
		rm -rf "$dir"
		mkdir -p "$dir/home" "$dir/mnesia" "$dir/log" || return 1
		chmod 700 "$dir/home"
		amqp=$(zl_free_port) && dist=$(zl_free_port) && epmd=$(zl_free_port) || return 1
		echo "$amqp $dist $epmd zl$$x$RANDOM@localhost" >"$dir/ports"
		cat >"$dir/rabbitmq.conf" <<-EOF
			listeners.tcp.1 = 127.0.0.1:$amqp
			loopback_users.guest = true
			log.file.level = info
			log.console = false
			disk_free_limit.absolute = 50MB
		EOF
		echo '[].' >"$dir/enabled_plugins"
		: >"$dir/rabbitmq-env.conf"
		if [ -n "$configure" ]; then
			"$configure" "$dir" || return 1
		fi
		_zl_rabbit_launch "$dir" && return 0
	done
	return 1
}

# zl_rabbit_stop DIR: rabbitmqctl shutdown, then epmd -kill; whatever is
# left of the broker's session is killed by PID.
zl_rabbit_stop() {
	local dir=$1 pid
	[ -f "$dir/server.pid" ] || return 0
	pid=$(<"$dir/server.pid")
	if kill -0 "$pid" 2>/dev/null; then
		_zl_rabbit_env "$dir" timeout 60 "$ZL_RABBIT_BIN/rabbitmqctl" shutdown \
			>>"$dir/ctl.out" 2>&1
	fi
	_zl_rabbit_kill "$dir"
}

# zl_rabbit_start_again DIR: the same broker (ports, node, data) after
# zl_rabbit_stop, for outage tests.
zl_rabbit_start_again() {
	local dir=$1
	[ -f "$dir/ports" ] || {
		echo "zl_rabbit_start_again: no broker was set up in $dir" >&2
		return 1
	}
	_zl_rabbit_launch "$dir"
}

# ------------------------------------------------- servers for a test ----

# zl_servers_up: PostgreSQL and RabbitMQ for this test. Uses the suite's
# servers when tests/run-all.sh exported them; otherwise starts both under
# $ZL_TMP and stops them on exit.
zl_servers_up() {
	if [ -n "${ZL_TEST_PGPORT:-}" ] && [ -n "${ZL_TEST_AMQP_URL:-}" ]; then
		zl_pg_up
		if [ -z "${ZL_TEST_AMQP_PORT:-}" ]; then
			ZL_TEST_AMQP_PORT=${ZL_TEST_AMQP_URL##*:}
			ZL_TEST_AMQP_PORT=${ZL_TEST_AMQP_PORT%%/*}
			export ZL_TEST_AMQP_PORT
		fi
	else
		zl_pg_up
		zl_rabbit_start "$ZL_TMP/rabbit" || bail "cannot start RabbitMQ"
	fi
}

# zl_pg_up: PostgreSQL for this test, for one that starts a RabbitMQ of its
# own: the suite's when tests/run-all.sh exported it; otherwise one under
# $ZL_TMP, stopped on exit.
zl_pg_up() {
	if [ -n "${ZL_TEST_PGPORT:-}" ]; then
		export PGHOST=127.0.0.1 PGPORT=$ZL_TEST_PGPORT PGUSER=postgres
		unset PGDATABASE PGPASSWORD PGSERVICE
	else
		zl_pg_start "$ZL_TMP/pg" || bail "cannot start PostgreSQL"
	fi
	_zl_psql postgres -c 'SELECT 1' >/dev/null || bail "PostgreSQL on port $PGPORT does not answer"
}

# zl_require_tools: bails when a tool the tests need is missing.
zl_require_tools() {
	local t
	for t in jq psql "$@"; do
		command -v "$t" >/dev/null 2>&1 || bail "$t is required (Debian package: $t)"
	done
	[ -x "${ZL_BIN:-}" ] || bail "ZL_BIN ('${ZL_BIN:-}') is not an executable"
	[ -x "${ZL_PROBE:-}" ] || bail "ZL_PROBE ('${ZL_PROBE:-}') is not an executable"
	[ -f "${ZL_SRCDIR:-}/tests/fixtures/openklant-schema.sql" ] ||
		bail "ZL_SRCDIR ('${ZL_SRCDIR:-}') does not hold tests/fixtures/openklant-schema.sql"
}

# ------------------------------------------------------ certificates ----

# zl_pki_ca DIR NAME: a self-signed test CA, DIR/NAME.pem and DIR/NAME.key,
# valid for two days (openssl's messages go to DIR/openssl.log).
zl_pki_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=zaaklink test $2" -keyout "$1/$2.key" -out "$1/$2.pem" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>>"$1/openssl.log"
}

# zl_pki_cert DIR NAME CN USAGE [SAN]: DIR/NAME.pem and DIR/NAME.key for CN,
# signed by DIR/ca.pem; USAGE is serverAuth or clientAuth, SAN a
# subjectAltName value ("DNS:localhost,IP:127.0.0.1") or nothing.
zl_pki_cert() {
	local dir=$1 name=$2 cn=$3 usage=$4 san=${5:-}
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=$cn" -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>>"$dir/openssl.log" &&
		{
			[ -z "$san" ] || echo "subjectAltName=$san"
			printf '%s\n' "basicConstraints=critical,CA:FALSE" \
				"keyUsage=critical,digitalSignature" "extendedKeyUsage=$usage"
		} >"$dir/$name.ext" &&
		openssl x509 -req -days 2 -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
			-set_serial "0x$(openssl rand -hex 8)" -extfile "$dir/$name.ext" \
			-out "$dir/$name.pem" 2>>"$dir/openssl.log"
}

# ---------------------------------------------------------- RabbitMQ side ----

# zl_exchange_new: a name for this test's exchange, unique on the broker.
zl_exchange_new() {
	echo "zl.test.$$.$(_zl_next)"
}

# zl_probe ARGS...: the AMQP probe against the test broker.
zl_probe() {
	timeout -k 5 "${ZL_CMD_TIMEOUT:-120}" "$ZL_PROBE" "$ZL_TEST_AMQP_URL" "$@"
}

# zl_queue_new EXCHANGE [KEY...]: declares the exchange as zaaklink does and
# a durable queue bound with the keys (default '#'); prints the queue name.
zl_queue_new() {
	local ex=$1 q
	shift
	[ $# -eq 0 ] && set -- '#'
	q="zl.q.$$.$(_zl_next)"
	zl_probe declare "$q" "$ex" "$@" >&2 || return 1
	echo "$q" >>"$ZL_TMP/queues"
	echo "$q"
}

# zl_drain QUEUE [N [TIMEOUT]]: takes the messages of QUEUE (waiting for N
# when given, at most TIMEOUT seconds, default 20), writes them one JSON
# object a line to a new file and prints the file's path. Fewer messages
# than N is a result; a probe that fails (no connection, no such queue, a
# time limit) is not: zl_count then prints the error instead of a number,
# and done_testing adds a failed check, so that no "nothing arrived" check
# can pass on a probe that saw nothing.
zl_drain() {
	local q=$1 n=${2:-} t=${3:-20} f rc=0
	f="$ZL_TMP/drain.$(_zl_next).jsonl"
	if [ -n "$n" ]; then
		zl_probe drain "$q" --expect "$n" --timeout "$t" >"$f" 2>"$f.err" || rc=$?
	else
		zl_probe drain "$q" --timeout "${3:-2}" >"$f" 2>"$f.err" || rc=$?
	fi
	if [ "$rc" -gt 1 ]; then
		printf 'drain %s: exit %s: %s\n' "$q" "$rc" "$(head -c 300 "$f.err" | tr '\n' ' ')" |
			tee "$f.failed" >>"$ZL_TMP/probe.failed"
		diag "$(cat "$f.failed")" >&2
	fi
	echo "$f"
}

# zl_count FILE: the number of messages in a drained file, or the probe's
# error when the drain failed.
zl_count() {
	if [ -e "$1.failed" ]; then
		echo "probe failed: $(cat "$1.failed")"
	elif [ -s "$1" ]; then
		grep -c . "$1"
	else
		echo 0
	fi
}

# zl_jq FILE FILTER: FILTER over the drained messages, one result a line
# (-r). The CloudEvent of a message is `.body | fromjson`; the shorthand
# `ev` stands for it, e.g. zl_jq f '.type + " " + (ev.data.linkTo)'. When
# jq fails (a body that is not JSON, a broken filter) it prints a line
# saying so, so that a check expecting no output cannot pass on a failure.
zl_jq() {
	local rc=0
	jq -r "def ev: .body | fromjson; $2" "$1" || rc=$?
	[ "$rc" = 0 ] || echo "jq failed (exit $rc) on $1"
	return "$rc"
}

# zl_jqs FILE FILTER: FILTER over all messages at once, as an array (-s).
zl_jqs() {
	local rc=0
	jq -r -s "def ev: .body | fromjson; $2" "$1" || rc=$?
	[ "$rc" = 0 ] || echo "jq failed (exit $rc) on $1"
	return "$rc"
}

# zl_types FILE: the short event types in order, space separated
# ("gekoppeld ontkoppeld").
zl_types() {
	zl_jq "$1" '.routing_key | sub("^nl.overheid.zaken.zaak-"; "")' | tr '\n' ' ' | sed 's/ $//'
}

# --------------------------------------------------------- zaaklink ----

# zl_fixture_new: what most tests start from: a fresh Open Klant database
# ($db), an exchange of their own ($ex) and a queue bound to it ($q).
# Sets the three variables, so call it directly, not in $(...).
zl_fixture_new() {
	db=$(zl_db_new) || bail "cannot create a database"
	ex=$(zl_exchange_new)
	q=$(zl_queue_new "$ex") || bail "cannot declare a queue"
}

# zl_conf FILE DB STATEFILE EXCHANGE [EXTRA...]: writes a zaaklink.conf for
# the test servers. Each EXTRA is one or more lines "group.setting = value;"
# (e.g. 'events.initial_sync = "announce";'); they land inside their group
# and replace the default of the same setting. ZL_CONF_SOURCE_EXTRA,
# ZL_CONF_STATE_EXTRA, ZL_CONF_EVENTS_EXTRA and ZL_CONF_AMQP_EXTRA add raw
# lines ("setting = value;") to a group. A group the file does not have yet
# (log.level = "debug";) is added.
zl_conf() {
	local file=$1 db=$2 state=$3 exchange=$4 line group setting key
	shift 4
	local -A extra=(
		[source]="${ZL_CONF_SOURCE_EXTRA:-}"
		[state]="${ZL_CONF_STATE_EXTRA:-}"
		[events]="${ZL_CONF_EVENTS_EXTRA:-}"
		[amqp]="${ZL_CONF_AMQP_EXTRA:-}"
	)
	local -a order=(source state events amqp)
	local -A defaults=(
		[source]="conninfo = \"host=127.0.0.1 port=$PGPORT dbname=$db user=zaaklink password=zaaklink\";
base_url = \"https://openklant.example.nl\";
poll_interval = 0.5;"
		[state]="path = \"$state\";"
		[events]="source = \"urn:nld:oin:01823288444:openklant\";"
		[amqp]="url = \"$ZL_TEST_AMQP_URL\";
exchange = \"$exchange\";"
	)
	while IFS= read -r line; do
		line="${line#"${line%%[![:space:]]*}"}"
		[ -z "$line" ] && continue
		if [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)\.(.*)$ ]]; then
			group=${BASH_REMATCH[1]}
			setting=${BASH_REMATCH[2]}
			if [ -z "${extra[$group]+set}" ]; then
				extra[$group]=
				order+=("$group")
			fi
			extra[$group]+="${extra[$group]:+$'\n'}$setting"
		else
			echo "zl_conf: '$line' is not of the form group.setting = value;" >&2
			return 1
		fi
	done < <(printf '%s\n' "$@")
	{
		echo "# zaaklink.conf written by tests/lib.sh"
		for group in "${order[@]}"; do
			echo "$group: {"
			while IFS= read -r line; do
				[ -z "$line" ] && continue
				key=${line%%[ =]*}
				# A setting given as extra replaces the default.
				grep -Eq "^[[:space:]]*${key}[[:space:]]*[=:]" <<<"${extra[$group]}" && continue
				echo "  $line"
			done <<<"${defaults[$group]:-}"
			while IFS= read -r line; do
				[ -n "$line" ] && echo "  $line"
			done <<<"${extra[$group]}"
			echo "};"
		done
	} >"$file" &&
		# It holds passwords: readable by others, zaaklink would warn about it.
		chmod 600 "$file"
}

# zl_zl ARGS...: runs zaaklink with a time limit (ZL_CMD_TIMEOUT).
zl_zl() {
	timeout -k 5 "${ZL_CMD_TIMEOUT:-120}" "$ZL_BIN" "$@"
}

# zl_once CONF [LOG]: one pass; stderr appended to LOG (default
# $ZL_TMP/once.log); returns zaaklink's exit status.
zl_once() {
	local conf=$1 log=${2:-$ZL_TMP/once.log}
	zl_zl -c "$conf" once >>"$log" 2>&1
}

# zl_status_json CONF: prints `zaaklink status --json`.
zl_status_json() {
	zl_zl -c "$1" status --json 2>>"$ZL_TMP/status.err"
}

# zl_pending CONF: the events in the outbox per `status --json` (.pending),
# or "missing" when status did not say.
zl_pending() {
	zl_status_json "$1" | jq -r '.pending // "missing"'
}

# zl_passes CONF: the passes the state has recorded (status --json), 0
# when none.
zl_passes() {
	zl_status_json "$1" | jq -r '.last_pass.passes // 0'
}

# zl_passes_reach CONF N: true when the state has recorded N passes or more
# (for zl_wait_for: a pass really ran, rather than some time went by).
zl_passes_reach() {
	[ "$(zl_passes "$1")" -ge "$2" ]
}

# zl_run_bg CONF LOGFILE: starts "zaaklink -c CONF run" in the background;
# its PID is in ZL_PID (and it is stopped on exit). A non-interactive shell
# starts background jobs with SIGINT ignored; perl (Debian's perl-base)
# restores the default, so the daemon starts as systemd would start it.
# ZL_RUN_ARGS adds options before the command (for example -v).
ZL_PID=
ZL_RUN_LOG=
ZL_RUN_LOG_FROM=0
zl_run_bg() {
	ZL_RUN_LOG=$2
	ZL_RUN_LOG_FROM=$( (cat "$2" 2>/dev/null || true) | wc -l)
	# shellcheck disable=SC2086 # ZL_RUN_ARGS: options before the command (-v)
	if command -v perl >/dev/null 2>&1; then
		perl -e '$SIG{INT} = $SIG{QUIT} = "DEFAULT"; exec @ARGV or die "exec $ARGV[0]: $!\n"' \
			"$ZL_BIN" ${ZL_RUN_ARGS:-} -c "$1" run >>"$2" 2>&1 </dev/null &
	else
		"$ZL_BIN" ${ZL_RUN_ARGS:-} -c "$1" run >>"$2" 2>&1 </dev/null &
	fi
	ZL_PID=$!
	echo "$ZL_PID" >>"$ZL_TMP/pids"
}

# zl_stop PID [SIGNAL]: sends SIGNAL (TERM) and waits up to 10 s, then
# SIGKILL. Returns the process's exit status (137 after SIGKILL, with a
# diagnostic); ZL_STOP_MS holds how long it took to exit.
export ZL_STOP_MS=
zl_stop() {
	local pid=$1 sig=${2:-TERM} start rc=0 waited=0
	start=$(date +%s%N)
	kill -"$sig" "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do
		# A zombie child still answers kill -0; wait reaps it below.
		if [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ]; then
			break
		fi
		if ((waited >= 100)); then
			diag "process $pid did not exit within 10 s of SIG$sig; killed"
			kill -KILL "$pid" 2>/dev/null
			break
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	wait "$pid" 2>/dev/null || rc=$?
	ZL_STOP_MS=$((($(date +%s%N) - start) / 1000000))
	return "$rc"
}

# zl_wait_log REGEX [SECONDS]: waits until the log of the last zl_run_bg
# has a new line matching REGEX (default 10 s); non-zero when it did not.
zl_wait_log() {
	local deadline=$((SECONDS + ${2:-10}))
	until tail -n +"$((ZL_RUN_LOG_FROM + 1))" "$ZL_RUN_LOG" 2>/dev/null | grep -Eq -- "$1"; do
		((SECONDS >= deadline)) && return 1
		sleep 0.1
	done
	return 0
}

# zl_outbox_empty STATEFILE: true when the SQLite state file holds no event
# waiting for its confirm (false too when it cannot be read).
zl_outbox_empty() {
	[ -z "$(sqlite3 -readonly "$1" 'SELECT 1 FROM outbox LIMIT 1' 2>&1)" ]
}

# zl_wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds.
zl_wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@"; do
		((SECONDS >= deadline)) && return 1
		sleep 0.2
	done
	return 0
}

# ------------------------------------------------------ fault helpers ----

# zl_links_bulk DB N: N links with ids 1..N, each with a klantcontact of
# its own (same id, no nummer), in one statement: a large first sync.
zl_links_bulk() {
	zl_sql "$1" "
INSERT INTO klantinteracties_klantcontact
	(id, uuid, nummer, kanaal, onderwerp, inhoud, taal, vertrouwelijk, plaatsgevonden_op,
	 metadata, reactie, hoofd_onderwerp_type, verdere_actie_ondernomen)
SELECT g, gen_random_uuid(), NULL, 'telefoon', 'Onderwerp ' || g, '', 'nld', false, now(),
	'{}', '', '', false FROM generate_series(1, $2) g;
INSERT INTO klantinteracties_onderwerpobject (id, uuid, klantcontact_id,
	onderwerpobjectidentificator_code_objecttype, onderwerpobjectidentificator_code_soort_object_id,
	onderwerpobjectidentificator_object_id, onderwerpobjectidentificator_code_register)
SELECT g, gen_random_uuid(), g, 'zaak', 'uuid', gen_random_uuid()::text, 'open-zaak'
FROM generate_series(1, $2) g;" >/dev/null
}

# zl_feed_links DB COUNT GAP OUT: in the background, inserts COUNT links one
# at a time, GAP seconds apart, each with a klantcontact of its own; a
# statement PostgreSQL refuses (it is restarting, say) is tried again until
# it is taken, and ON CONFLICT makes a retry after a lost commit harmless.
# The zaak id of every committed link is appended to OUT. Sets
# ZL_FEED_PID (stopped on exit like a daemon).
ZL_FEED_PID=
zl_feed_links() {
	local db=$1 count=$2 gap=$3 out=$4
	(
		for ((i = 1; i <= count; i++)); do
			read -r z </proc/sys/kernel/random/uuid
			read -r u </proc/sys/kernel/random/uuid
			for ((try = 0; try < 600; try++)); do
				_zl_psql "$db" -c "WITH k AS (INSERT INTO klantinteracties_klantcontact
					(uuid, nummer, kanaal, onderwerp, inhoud, taal, vertrouwelijk, plaatsgevonden_op,
					 metadata, reactie, hoofd_onderwerp_type, verdere_actie_ondernomen)
					VALUES ('$u', NULL, 'telefoon', 'Stroom $i', '', 'nld', false, now(), '{}', '',
					 '', false) ON CONFLICT (uuid) DO NOTHING RETURNING id)
					INSERT INTO klantinteracties_onderwerpobject (uuid, klantcontact_id,
					 onderwerpobjectidentificator_code_objecttype,
					 onderwerpobjectidentificator_code_soort_object_id,
					 onderwerpobjectidentificator_object_id, onderwerpobjectidentificator_code_register)
					SELECT '$u', id, 'zaak', 'uuid', '$z', 'open-zaak' FROM k" >/dev/null 2>&1 && break
				sleep 0.2
			done
			echo "$z" >>"$out"
			sleep "$gap"
		done
	) &
	ZL_FEED_PID=$!
	echo "$ZL_FEED_PID" >>"$ZL_TMP/pids"
}

# zl_each_once IDS DRAINED: compares the zaak ids in IDS (one a line) with
# the gekoppeld events of a drained file; prints "missing=M extra=E
# duplicates=D distinct=N": M ids without an event, E events for no id,
# D messages whose event id arrived before.
zl_each_once() {
	local ids=$1 f=$2 got
	got=$(zl_jq "$f" 'select(.routing_key == "nl.overheid.zaken.zaak-gekoppeld") | ev.subject' | sort -u)
	printf 'missing=%s extra=%s duplicates=%s distinct=%s\n' \
		"$(comm -23 <(sort -u "$ids") <(echo "$got") | grep -c .)" \
		"$(comm -13 <(sort -u "$ids") <(echo "$got") | grep -c .)" \
		"$(($(zl_count "$f") - $(zl_jq "$f" '.message_id' | sort -u | grep -c .)))" \
		"$(echo "$got" | grep -c .)"
}

# zl_figures LINE...: adds lines to the figures file of the fault suite
# (ZL_FAULT_FIGURES, set by tests/faults/run.sh), for docs/RELIABILITY.md.
zl_figures() {
	[ -n "${ZL_FAULT_FIGURES:-}" ] && printf '%s\n' "$@" >>"$ZL_FAULT_FIGURES"
	return 0
}
