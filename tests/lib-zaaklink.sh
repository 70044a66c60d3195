# Helpers about zaaklink itself (part of tests/lib.sh, which sources it):
# the tools a test needs; Open Klant fixtures, the rows zaaklink reads
# (zl_db_new, zl_kc, zl_ow); the broker side, where the AMQP probe
# declares the test's queue and takes what zaaklink published (zl_probe,
# zl_queue_new, zl_drain, zl_count, zl_jq); and the daemon: its
# configuration (zl_conf), a single pass (zl_once), `status --json`, the
# daemon in the background (zl_run_bg, zl_stop, zl_wait_log), and waiting
# for a condition (zl_wait_for).
#
# A probe that fails is never taken for "no message arrived": zl_drain
# records the failure, zl_count prints it instead of a number, and
# done_testing (tests/lib-tap.sh) adds a failed check for it.

# ------------------------------------------------------ prerequisites ----

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

# ------------------------------------------------ Open Klant fixtures ----

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

# zl_ow_many DB KC N ZAAK...: inserts N onderwerpobjecten of klantcontact
# KC in one statement, linked to the zaken given in turn.
zl_ow_many() {
	local db=$1 kc=$2 n=$3 arr="" z
	shift 3
	for z in "$@"; do arr+="${arr:+, }$(zl_q "$z")"; done
	_zl_psql "$db" -c "INSERT INTO klantinteracties_onderwerpobject (uuid, klantcontact_id,
		onderwerpobjectidentificator_code_objecttype,
		onderwerpobjectidentificator_code_soort_object_id,
		onderwerpobjectidentificator_object_id, onderwerpobjectidentificator_code_register)
		SELECT gen_random_uuid(), $kc, 'zaak', 'uuid', (ARRAY[$arr])[1 + g % $#], 'open-zaak'
		FROM generate_series(1, $n) g" >/dev/null
}

# zl_ow_uuid DB OW_ID: prints the uuid of an onderwerpobject.
zl_ow_uuid() {
	_zl_psql "$1" -c "SELECT uuid FROM klantinteracties_onderwerpobject WHERE id = $2"
}

# zl_uuid: prints a random lower-case UUID (a zaak id for fixtures).
zl_uuid() {
	cat /proc/sys/kernel/random/uuid
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

# zl_state_db DB: the database that holds the PostgreSQL state of the test
# whose source is DB (created on first use, role zaaklink may create schemas
# in it and nothing more); prints its name.
zl_state_db() {
	local sdb="${1}_state"
	if ! _zl_psql postgres -c "SELECT 1 FROM pg_database WHERE datname = '$sdb'" | grep -qx 1; then
		_zl_psql postgres -c "CREATE DATABASE \"$sdb\"" >/dev/null || return 1
		echo "$sdb" >>"$ZL_TMP/databases"
		_zl_psql "$sdb" -c "GRANT CREATE ON DATABASE \"$sdb\" TO zaaklink" >/dev/null || return 1
	fi
	echo "$sdb"
}

# zl_state_schema STATE: the schema that stands for the state file STATE
# with ZL_TEST_STATE=pg: the same file name, the same schema.
zl_state_schema() {
	echo "zl_$(printf '%s' "$1" | md5sum | cut -c1-16)"
}

# zl_state_conf DB STATE: the state group's default lines: state.path =
# STATE, or with ZL_TEST_STATE=pg a conninfo to the test's state database
# and a schema standing for STATE.
zl_state_conf() {
	local sdb
	if [ "${ZL_TEST_STATE:-sqlite}" = pg ]; then
		sdb=$(zl_state_db "$1") || return 1
		printf 'conninfo = "host=127.0.0.1 port=%s dbname=%s user=zaaklink password=zaaklink";\nschema = "%s";' \
			"$PGPORT" "$sdb" "$(zl_state_schema "$2")"
	else
		printf 'path = "%s";' "$2"
	fi
}

# zl_conf FILE DB STATEFILE EXCHANGE [EXTRA...]: writes a zaaklink.conf for
# the test servers. Each EXTRA is one or more lines "group.setting = value;"
# (e.g. 'events.initial_sync = "announce";'); they land inside their group
# and replace the default of the same setting. ZL_CONF_SOURCE_EXTRA,
# ZL_CONF_STATE_EXTRA, ZL_CONF_EVENTS_EXTRA and ZL_CONF_AMQP_EXTRA add raw
# lines ("setting = value;") to a group. A group the file does not have yet
# (log.level = "debug";) is added. ZL_TEST_STATE=pg puts the state in
# PostgreSQL (zl_state_conf).
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
		[state]="$(zl_state_conf "$db" "$state")"
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

# --------------------------------------------- Open Zaak and deliver ----

# zl_openzaak_start ZAAK...: starts the Open Zaak stand-in (ZL_OPENZAAK)
# with client zl (secret geheim, scopes cloudevents.bezorgen and
# zaken.lezen) and the zaken given; sets ZL_OZ to its base URL. Stopped on
# exit like a daemon.
ZL_OZ=
zl_openzaak_start() {
	local args=() z
	for z in "$@"; do args+=(--zaak "$z"); done
	rm -f "$ZL_TMP/oz.port"
	"$ZL_OPENZAAK" --listen 127.0.0.1:0 --port-file "$ZL_TMP/oz.port" \
		--client zl:geheim:cloudevents.bezorgen,zaken.lezen "${args[@]}" 2>>"$ZL_TMP/oz.err" &
	echo $! >>"$ZL_TMP/pids"
	zl_wait_for 10 test -s "$ZL_TMP/oz.port" || return 1
	ZL_OZ=http://127.0.0.1:$(<"$ZL_TMP/oz.port")
}

# zl_deliver_lines QUEUE [SECRET]: the deliver group's settings for the
# stand-in of zl_openzaak_start, as zl_conf's EXTRA lines (one argument).
zl_deliver_lines() {
	printf '%s\n' "deliver.queue = \"$1\";" "deliver.url = \"$ZL_OZ/events\";" \
		"deliver.zaken_api = \"$ZL_OZ/zaken/api/v1\";" 'deliver.client_id = "zl";' \
		"deliver.secret = \"${2:-geheim}\";" "deliver.memory = \"$ZL_TMP/deliver.db\";" \
		'deliver.timeout = 5.0;'
}
