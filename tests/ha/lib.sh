# Helpers of the high-availability tests (tests/ha/*.sh): several
# `zaaklink run` sharing one PostgreSQL state, each with a configuration of
# its own that differs only in metrics.listen, their roles read from their
# logs and metrics, takeover times measured from the moment the test
# induced the loss, and a sampler that watches the state server for two
# instances writing at once.
#
# Sourced after tests/lib.sh and tests/faults/lib.sh.

# ha_confs N DB STATE EXCHANGE [EXTRA...]: writes $ZL_TMP/ha-I.conf for
# I = 1..N, the same settings (the state in PostgreSQL, schema standing
# for STATE) but each instance its own metrics port (HA_PORT[I]). The
# broker's connect timeout is short, below the short state.session_timeout
# the tests use.
declare -a HA_PORT HA_PID HA_LOG HA_CONF
ha_confs() {
	local n=$1 db=$2 state=$3 ex=$4 i
	shift 4
	for ((i = 1; i <= n; i++)); do
		HA_PORT[i]=$(zl_free_port)
		HA_CONF[i]=$ZL_TMP/ha-$i.conf
		HA_LOG[i]=$ZL_TMP/ha-$i.log
		ZL_TEST_STATE=pg zl_conf "${HA_CONF[i]}" "$db" "$state" "$ex" \
			"metrics.listen = \"127.0.0.1:${HA_PORT[i]}\";" 'amqp.connect_timeout = 2;' \
			"$@" || return 1
	done
}

# ha_start I: starts instance I in the background (HA_PID[I]).
ha_start() {
	zl_run_bg "${HA_CONF[$1]}" "${HA_LOG[$1]}"
	HA_PID[$1]=$ZL_PID
}

# ha_events I: the leader events instance I logged, one word each.
ha_events() {
	grep -oE 'msg=leader\.(acquired|waiting|lost)' "${HA_LOG[$1]}" 2>/dev/null |
		sed 's/msg=leader\.//' | tr '\n' ' ' | sed 's/ $//'
}

# ha_count I EVENT: how often instance I logged leader.EVENT.
ha_count() {
	grep -c "msg=leader\\.$2 " "${HA_LOG[$1]}" 2>/dev/null || true
}

# ha_metric I NAME: the value of a metric of instance I ("" unreachable).
ha_metric() {
	curl -s -m 3 "http://127.0.0.1:${HA_PORT[$1]}/metrics" 2>/dev/null |
		awk -v n="$2" '$1 == n { print $2 }'
}

# ha_healthz I: "STATUS BODY" of instance I's /healthz.
ha_healthz() {
	local body code
	body=$(curl -s -m 3 -w '\n%{http_code}' "http://127.0.0.1:${HA_PORT[$1]}/healthz" 2>/dev/null)
	code=${body##*$'\n'}
	echo "$code ${body%$'\n'*}"
}

# ha_active_among I...: the instance among those given whose metrics say
# zaaklink_leader 1 (the first one; "" none).
ha_active_among() {
	local i
	for i in "$@"; do
		if [ "$(ha_metric "$i" zaaklink_leader)" = 1 ]; then
			echo "$i"
			return 0
		fi
	done
	return 1
}

# ha_wait_acquired SECONDS I...: waits until one of the instances given
# logs leader.acquired more often than HA_ACQ_BEFORE[I] (set by
# ha_mark); sets HA_WINNER to it and HA_TAKEOVER_MS to the time since the
# mark (both "" and non-zero status when none did in time).
declare -a HA_ACQ_BEFORE
HA_MARK_NS=0
HA_TAKEOVER_MS=
HA_WINNER=
ha_mark() {
	local i
	for i in "$@"; do
		HA_ACQ_BEFORE[i]=$(ha_count "$i" acquired)
	done
	HA_MARK_NS=$(date +%s%N)
}
ha_wait_acquired() {
	local deadline=$((SECONDS + $1)) i
	shift
	while ((SECONDS < deadline)); do
		for i in "$@"; do
			if [ "$(ha_count "$i" acquired)" -gt "${HA_ACQ_BEFORE[i]:-0}" ]; then
				HA_TAKEOVER_MS=$((($(date +%s%N) - HA_MARK_NS) / 1000000))
				HA_WINNER=$i
				return 0
			fi
		done
		sleep 0.05
	done
	HA_TAKEOVER_MS= HA_WINNER=
	return 1
}

# ha_sampler_start SDB SCHEMA: in the background, every 50 ms, asks the
# state server which zaaklink sessions are writing (they hold the lock on
# a transaction id of their own: an open transaction that wrote) and
# which session holds the writer's lock, both from one snapshot of the
# lock table, appending "WRITERS WRITERS_WITHOUT_THE_LOCK" per sample to
# $ZL_TMP/sampler. Stopped with ha_sampler_stop, which prints "SAMPLES
# MAX_WRITERS FOREIGN": the samples taken, the most sessions seen writing
# at once, and the samples where one wrote without holding the lock.
HA_SAMPLER_PID=
ha_sampler_start() {
	local sdb=$1 schema=$2
	: >"$ZL_TMP/sampler"
	# One session, fed a query every 50 ms: cheap enough not to disturb.
	(
		while :; do
			echo "WITH l AS MATERIALIZED (SELECT * FROM pg_locks WHERE granted),
			w AS (SELECT DISTINCT l.pid FROM l JOIN pg_stat_activity a USING (pid)
				WHERE l.locktype = 'transactionid' AND a.datname = current_database()
				AND a.application_name LIKE 'zaaklink pid %'),
			h AS (SELECT pid FROM l WHERE locktype = 'advisory'
				AND classid = hashtext('zaaklink')::oid AND objid = hashtext('$schema')::oid
				AND objsubid = 2)
			SELECT (SELECT count(*) FROM w) || ' ' ||
				(SELECT count(*) FROM w WHERE pid NOT IN (SELECT pid FROM h));"
			sleep 0.05
		done | _zl_psql "$sdb" -v ON_ERROR_STOP=0 >>"$ZL_TMP/sampler" 2>/dev/null
	) &
	HA_SAMPLER_PID=$!
	echo "$HA_SAMPLER_PID" >>"$ZL_TMP/pids"
}
ha_sampler_stop() {
	[ -n "$HA_SAMPLER_PID" ] && kill "$HA_SAMPLER_PID" 2>/dev/null
	wait "$HA_SAMPLER_PID" 2>/dev/null
	HA_SAMPLER_PID=
	awk 'NF == 2 { n++; if ($1 > m) m = $1; if ($2 > 0) f++ }
		END { printf "%d %d %d\n", n, m, f }' "$ZL_TMP/sampler"
}

# ha_figures LINE...: the takeover figures, appended to $HA_FIGURES when
# set (tests/run-all.sh collects them) and printed as TAP notes.
ha_figures() {
	local l
	for l in "$@"; do
		note "$l"
		[ -n "${HA_FIGURES:-}" ] && printf '%s\n' "$l" >>"$HA_FIGURES"
	done
	return 0
}

# ha_wait_publishing SDB SCHEMA DELIVERED PENDING SECONDS: waits until the
# state's outbox shows that the active instance is in the middle of
# publishing: at least DELIVERED events confirmed and removed (the
# outbox's first seq beyond them) and at least PENDING still waiting.
# Sets HA_OBSERVED to "delivered=D pending=P" as last seen.
HA_OBSERVED=
ha_wait_publishing() {
	local sdb=$1 schema=$2 want_d=$3 want_p=$4 deadline=$((SECONDS + $5)) row d p
	while ((SECONDS < deadline)); do
		row=$(zl_sql "$sdb" "SELECT count(*), coalesce(min(seq), 0) FROM $schema.outbox" 2>/dev/null)
		p=${row%%|*}
		d=$((${row##*|} > 0 ? ${row##*|} - 1 : 0))
		HA_OBSERVED="delivered=$d pending=$p"
		if [ -n "$p" ] && [ "$d" -ge "$want_d" ] && [ "$p" -ge "$want_p" ]; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# ha_links_ids DB FILE: the zaak ids of every link in DB, one a line.
ha_links_ids() {
	zl_sql "$1" "SELECT onderwerpobjectidentificator_object_id FROM klantinteracties_onderwerpobject" >"$2"
}

# ha_check_delivery IDS DRAINED MAX_DUPLICATES LABEL: the checks every
# takeover case ends with: every link's gekoppeld arrived, none for
# anything else, duplicates (a message id seen before) at most
# MAX_DUPLICATES, and every duplicate the same event (id and body) as
# the first. Sets HA_DUPLICATES and HA_DELIVERED (distinct events).
HA_DUPLICATES= HA_DELIVERED=
ha_check_delivery() {
	local ids=$1 f=$2 max=$3 label=$4 res missing extra
	res=$(zl_each_once "$ids" "$f")
	missing=$(sed -E 's/.*missing=([0-9]+).*/\1/' <<<"$res")
	extra=$(sed -E 's/.*extra=([0-9]+).*/\1/' <<<"$res")
	HA_DUPLICATES=$(sed -E 's/.*duplicates=([0-9]+).*/\1/' <<<"$res")
	HA_DELIVERED=$(sed -E 's/.*distinct=([0-9]+).*/\1/' <<<"$res")
	is "missing=$missing extra=$extra" "missing=0 extra=0" \
		"$label: every link's event arrived, and nothing else ($HA_DELIVERED links)"
	ok "$label: duplicates within one batch per takeover ($HA_DUPLICATES, at most $max)" \
		test "$HA_DUPLICATES" -le "$max"
	is "$(jq -r '[.message_id, .body] | @json' "$f" | sort -u | wc -l)" \
		"$(jq -r '.message_id' "$f" | sort -u | wc -l)" \
		"$label: a duplicate is the same event, same id and body"
}

# ha_backend_pid SDB PID: the state server's backend of zaaklink PID.
ha_backend_pid() {
	zl_sql "$1" "SELECT pid FROM pg_stat_activity WHERE application_name = 'zaaklink pid $2'" | head -n 1
}

# ha_announce_setup N BATCH SESSION_TIMEOUT [EXTRA...]: what the takeover
# cases start from: a fixture ($db, $ex, $q), two configurations with an
# announcing first sync, amqp.batch_size BATCH and state.session_timeout
# SESSION_TIMEOUT (and EXTRA settings), N links (their zaak ids in $ids),
# and $state, $sdb, $schema.
ha_announce_setup() {
	local n=$1 batch=$2 timeout=$3
	shift 3
	zl_fixture_new
	state=$ZL_TMP/state.db
	ha_confs 2 "$db" "$state" "$ex" 'events.initial_sync = "announce";' \
		"amqp.batch_size = $batch;" 'source.poll_interval = 0.3;' \
		"state.session_timeout = $timeout;" "$@" || bail "cannot write the configurations"
	sdb=$(zl_state_db "$db")
	schema=$(zl_state_schema "$state")
	zl_links_bulk "$db" "$n"
	ids=$ZL_TMP/ids
	ha_links_ids "$db" "$ids"
}

# ha_start_pair: instance 1 takes the lock, then instance 2 waits (two checks).
ha_start_pair() {
	ha_start 1
	ok "the first instance takes the lock" zl_wait_for 15 grep -qs 'msg=leader.acquired' "${HA_LOG[1]}"
	ha_start 2
	ok "the second waits" zl_wait_for 15 grep -qs 'msg=leader.waiting' "${HA_LOG[2]}"
}

# ha_delivered_all FILE LABEL BATCH: adds what is left in $q to the drained
# FILE, then checks every link's event (ha_check_delivery, at most BATCH
# duplicates) and that the state's outbox is empty.
ha_delivered_all() {
	local f=$1 label=$2 batch=$3 rest
	rest=$(zl_drain "$q" "" 3)
	cat "$rest" >>"$f"
	ha_check_delivery "$ids" "$f" "$batch" "$label"
	ok "$label: the outbox is empty at the end" zl_wait_for 10 \
		test "$(zl_sql "$sdb" "SELECT count(*) FROM $schema.outbox")" = 0
}

# ha_sampler_checks: stops the sampler and checks what it saw: writes, and
# never two writers at once nor one without the lock.
ha_sampler_checks() {
	local samples writers foreign
	read -r samples writers foreign < <(ha_sampler_stop)
	ok "the sampler saw writes ($samples samples)" test "$writers" -ge 1
	ok "never two instances writing at once" test "$writers" -le 1
	is "$foreign" 0 "never one writing without the lock"
}
