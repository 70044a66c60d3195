# Throwaway servers for the tests (part of tests/lib.sh, which sources
# it): free local ports, a PostgreSQL cluster and a RabbitMQ broker with
# all their state in a directory of the test (started, stopped, started
# again for outage tests), a cluster of RabbitMQ nodes, SQL as the
# superuser, the servers a test uses (the suite's, when tests/run-all.sh
# exported them, or its own), and a test CA with its certificates for the
# TLS tests.
#
# Everything binds 127.0.0.1 only. A server started here registers its
# stop with zl_on_exit, so it is gone when the test exits, however it
# exits; RabbitMQ runs as the leader of a session of its own, so that
# what is left of it (epmd, erl_child_setup) can be killed by PID.

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

# Starts the broker of DIR (configured already), without waiting for it.
# Keeps its PID (leader of its own session) in DIR/server.pid.
_zl_rabbit_spawn() {
	local dir=$1 i
	rm -f "$dir/server.pid"
	# Without job control the background child is no process group
	# leader, so setsid makes it the leader of a new session in place;
	# $! would be the subshell running _zl_rabbit_env, so the shell that
	# becomes the leader writes its own PID.
	# shellcheck disable=SC2016 # expanded by that shell
	_zl_rabbit_env "$dir" sh -c 'echo "$$" >"$1.new" && mv "$1.new" "$1" && exec setsid "$2"' \
		sh "$dir/server.pid" "$ZL_RABBIT_BIN/rabbitmq-server" >>"$dir/server.out" 2>&1 </dev/null &
	for ((i = 0; i < 100; i++)); do
		[ -s "$dir/server.pid" ] && return 0
		sleep 0.05
	done
	echo "zl_rabbit_start: RabbitMQ in $dir did not start at all" >&2
	return 1
}

# Waits until the broker of DIR, spawned already, serves AMQP; exports
# ZL_TEST_AMQP_PORT and ZL_TEST_AMQP_URL for it. When it does not within
# ZL_RABBIT_START_TIMEOUT (90 s), says why and kills what is left of it.
_zl_rabbit_wait_ready() {
	local dir=$1 amqp dist epmd node pid deadline
	read -r amqp dist epmd node <"$dir/ports"
	pid=$(<"$dir/server.pid")
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

# Starts the broker of DIR (configured already) and waits until it serves AMQP.
_zl_rabbit_launch() {
	_zl_rabbit_spawn "$1" && _zl_rabbit_wait_ready "$1"
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

# Writes the configuration of a broker in DIR (made already): its ports
# AMQP, DIST and EPMD, node name NODE, and CONFIGURE's lines when given.
_zl_rabbit_configure() {
	local dir=$1 amqp=$2 dist=$3 epmd=$4 node=$5 configure=${6:-}
	echo "$amqp $dist $epmd $node" >"$dir/ports"
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
		_zl_rabbit_configure "$dir" "$amqp" "$dist" "$epmd" "zl$$x$RANDOM@localhost" \
			"$configure" || return 1
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

# zl_rabbit_beam DIR: the PID of the Erlang VM of the broker in DIR.
zl_rabbit_beam() {
	[ -f "$1/server.pid" ] || return 0
	ps -o pid=,comm= -s "$(<"$1/server.pid")" 2>/dev/null | awk '$2 == "beam.smp" { print $1 }'
}

# zl_rabbit_term DIR: stops the broker in DIR gracefully and at once:
# SIGTERM to its Erlang VM, which RabbitMQ takes as `rabbitmqctl stop`,
# without the second or two a rabbitmqctl needs to boot (an outage test
# that waits for the CLI may find the work it meant to interrupt done).
# Waits up to 30 s for the node to exit, then kills what is left of it.
zl_rabbit_term() {
	local dir=$1 beam i
	beam=$(zl_rabbit_beam "$dir")
	if [ -n "$beam" ]; then
		kill -TERM "$beam" 2>/dev/null
		for ((i = 0; i < 300; i++)); do
			kill -0 "$beam" 2>/dev/null || break
			sleep 0.1
		done
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

# ------------------------------------------------- RabbitMQ cluster ----

# zl_rabbit_cluster_start DIR [N]: a cluster of N (3) brokers, DIR/n1 ..
# DIR/nN, each a node of its own (name, AMQP and distribution ports, data)
# bound to 127.0.0.1, sharing one Erlang cookie and one epmd, started here
# in a session of its own (a node's epmd would die with that node). The
# nodes start in parallel; then n2 .. nN join n1 (stop_app, join_cluster,
# start_app), and the cluster must list every node as running. Exports
# ZL_TEST_AMQP_PORT and ZL_TEST_AMQP_URL for n1; zl_rabbit_url names each
# node. On failure it says why and returns non-zero; the cluster is
# stopped on exit in any case.
zl_rabbit_cluster_start() {
	local dir=$1 n=${2:-3} epmd cookie i d amqp dist first running
	[ -x "$ZL_RABBIT_BIN/rabbitmq-server" ] || {
		echo "zl_rabbit_cluster_start: $ZL_RABBIT_BIN/rabbitmq-server not found; on Debian: apt-get install rabbitmq-server" >&2
		return 1
	}
	command -v epmd >/dev/null 2>&1 || {
		echo "zl_rabbit_cluster_start: epmd not found (Debian package erlang-base)" >&2
		return 1
	}
	zl_on_exit "zl_rabbit_cluster_stop '$dir'"
	rm -rf "$dir"
	mkdir -p "$dir" || return 1
	epmd=$(zl_free_port) || return 1
	setsid epmd -port "$epmd" -address 127.0.0.1 >"$dir/epmd.out" 2>&1 </dev/null &
	echo "$!" >"$dir/epmd.pid"
	zl_wait_port "$epmd" 10 || {
		echo "zl_rabbit_cluster_start: epmd did not listen on port $epmd: $(cat "$dir/epmd.out")" >&2
		return 1
	}
	cookie=$(head -c 15 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
	for ((i = 1; i <= n; i++)); do
		d=$dir/n$i
		mkdir -p "$d/home" "$d/mnesia" "$d/log" || return 1
		chmod 700 "$d/home"
		printf '%s' "$cookie" >"$d/home/.erlang.cookie"
		chmod 400 "$d/home/.erlang.cookie"
		amqp=$(zl_free_port) && dist=$(zl_free_port) || return 1
		_zl_rabbit_configure "$d" "$amqp" "$dist" "$epmd" "zl$$n$i@localhost" || return 1
		echo "$d" >>"$dir/nodes"
		_zl_rabbit_spawn "$d" || return 1
	done
	for ((i = 1; i <= n; i++)); do
		_zl_rabbit_wait_ready "$dir/n$i" || return 1
	done
	first=$(_zl_rabbit_node "$dir/n1")
	for ((i = 2; i <= n; i++)); do
		d=$dir/n$i
		if ! { _zl_rabbit_ctl "$d" stop_app && _zl_rabbit_ctl "$d" join_cluster "$first" &&
			_zl_rabbit_ctl "$d" start_app; }; then
			echo "zl_rabbit_cluster_start: node n$i could not join $first:" >&2
			tail -n 20 "$d/ctl.out" >&2
			return 1
		fi
	done
	running=$(_zl_rabbit_env "$dir/n1" timeout 60 "$ZL_RABBIT_BIN/rabbitmqctl" cluster_status \
		--formatter json 2>>"$dir/n1/ctl.out" | jq -r '.running_nodes | length')
	if [ "$running" != "$n" ]; then
		echo "zl_rabbit_cluster_start: $first sees ${running:-no} running nodes, expected $n" >&2
		return 1
	fi
	for ((i = 1; i <= n; i++)); do
		_zl_wait_amqp "$dir/n$i" 60 || {
			echo "zl_rabbit_cluster_start: node n$i does not serve AMQP after joining" >&2
			return 1
		}
	done
	export ZL_TEST_AMQP_PORT ZL_TEST_AMQP_URL
	read -r ZL_TEST_AMQP_PORT _ <"$dir/n1/ports"
	ZL_TEST_AMQP_URL=$(zl_rabbit_url "$dir/n1")
}

# zl_rabbit_cluster_stop DIR: stops every node of the cluster, then its epmd,
# by PID.
zl_rabbit_cluster_stop() {
	local dir=$1 d pid
	if [ -f "$dir/nodes" ]; then
		# rabbitmqctl must not read the list of nodes.
		while read -r d; do
			zl_rabbit_stop "$d" </dev/null
		done < <(tac "$dir/nodes")
	fi
	if [ -f "$dir/epmd.pid" ]; then
		pid=$(<"$dir/epmd.pid")
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
		rm -f "$dir/epmd.pid"
	fi
	return 0
}

# zl_rabbit_url DIR: the AMQP URL (guest) of the broker in DIR.
zl_rabbit_url() {
	local amqp
	read -r amqp _ <"$1/ports"
	echo "amqp://guest:guest@127.0.0.1:$amqp/%2f"
}

# The Erlang node name of the broker in DIR.
_zl_rabbit_node() {
	local node
	read -r _ _ _ node <"$1/ports"
	echo "$node"
}

# rabbitmqctl ARGS... against the broker in DIR, output to DIR/ctl.out.
_zl_rabbit_ctl() {
	local dir=$1
	shift
	echo "# rabbitmqctl $*" >>"$dir/ctl.out"
	_zl_rabbit_env "$dir" timeout 60 "$ZL_RABBIT_BIN/rabbitmqctl" "$@" >>"$dir/ctl.out" 2>&1
}

# True when the broker in DIR serves AMQP within SECONDS.
_zl_wait_amqp() {
	local amqp deadline=$((SECONDS + $2))
	read -r amqp _ <"$1/ports"
	until _zl_amqp_ready "$amqp"; do
		((SECONDS >= deadline)) && return 1
		sleep 0.2
	done
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
