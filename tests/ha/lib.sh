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
# for STATE) but each instance its own metrics port (HA_PORT[I]).
declare -a HA_PORT HA_PID HA_LOG HA_CONF
ha_confs() {
	local n=$1 db=$2 state=$3 ex=$4 i
	shift 4
	for ((i = 1; i <= n; i++)); do
		HA_PORT[i]=$(zl_free_port)
		HA_CONF[i]=$ZL_TMP/ha-$i.conf
		HA_LOG[i]=$ZL_TMP/ha-$i.log
		ZL_TEST_STATE=pg zl_conf "${HA_CONF[i]}" "$db" "$state" "$ex" \
			"metrics.listen = \"127.0.0.1:${HA_PORT[i]}\";" "$@" || return 1
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
# state server which zaaklink sessions have written in their open
# transaction (backend_xid set) and which session holds the writer's lock,
# appending "WRITERS HOLDER_IS_WRITER" per sample to $ZL_TMP/sampler.
# Stopped with ha_sampler_stop, which prints "SAMPLES MAX_WRITERS
# FOREIGN": the samples taken, the most sessions seen writing at once,
# and the samples where one wrote without holding the lock.
HA_SAMPLER_PID=
ha_sampler_start() {
	local sdb=$1 schema=$2
	: >"$ZL_TMP/sampler"
	# One session, fed a query every 50 ms: cheap enough not to disturb.
	(
		while :; do
			echo "WITH w AS (SELECT pid FROM pg_stat_activity
				WHERE application_name LIKE 'zaaklink pid %' AND backend_xid IS NOT NULL),
			h AS (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
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
