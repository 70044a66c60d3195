#!/bin/bash
# bench/run.sh: zaaklink's benchmarks (announce throughput against a baseline
# publisher, idle pass cost, pass cost with k changes, latency, memory, CPU).
#
#   bench/run.sh [--size N[,N...]] [--runs R] [--out FILE] [--zaaklink BIN]
#                [--state sqlite|pg|both] [--max-load L] [--settle S]
#                [--allow-load]
#   bench/run.sh --smoke
#
# Starts a throwaway PostgreSQL 15 and RabbitMQ (tests/lib.sh: random ports
# on 127.0.0.1, everything stopped by PID on exit), seeds Open Klant's real
# schema with N klantcontacten and N onderwerpobjecten (bench/seed.sql, half
# of the onderwerpobjecten are zaak links), and measures, per size:
#
#   1. announce: `zaaklink once` with initial_sync = "announce" until the last
#      event is confirmed, paired with bench/baseline.c publishing as many
#      messages of the same shape in the same run; events/s and the ratio;
#   2. idle pass: wall time of the pass, PostgreSQL's execution time of its
#      queries (log_min_duration_statement) and bytes received, next to the
#      time PostgreSQL takes merely to count the rows of the two tables;
#      and the same for an idle pass that compares every range
#      (source.recheck_interval = 0);
#   3. a pass after k changes (k = 1, 100, 10 000 updated links), and after
#      k changed klantcontacten (their onderwerp edited);
#   4. latency: 200 links inserted at random moments under `zaaklink run`
#      with poll_interval = 1, from COMMIT to the broker's confirm;
#   5. memory: peak RSS of the announce, steady RSS of the daemon;
#   6. CPU: user+sys seconds per 1 000 events, zaaklink and baseline;
#   7. the state in PostgreSQL beside the state in SQLite: the announce of
#      1. and the idle pass of 2. once more with state.conninfo (a database
#      of its own on the bench's PostgreSQL), paired per run with the ones
#      on SQLite; events/s, wall time and the ratios PostgreSQL / SQLite.
#
# --state sqlite|pg|both (default both): the state backends measured.
# Sections 1 to 6 use SQLite when it is measured, else PostgreSQL; 7 needs
# both.
#
# Each timing is the median of R runs (default 3) with min and max, and a
# ratio to a reference measured in the same run: the machine may be shared.
#
# Figures mean something only on a quiet machine, so the bench runs on its
# own: before each section it waits up to S seconds (--settle, default 300)
# for the 1-minute load average to fall to L (--max-load, default 1.5),
# and the report lists the load average before and after every section. A
# section that starts above L, or while zaaklink's test suite runs, makes
# the bench refuse to write FILE (the report still goes to stdout and the
# exit status is 2); --allow-load writes it anyway and says so in it.
# The report (markdown) goes to FILE (default: stdout only); it embeds
# bench/analysis.md, the hand-written paragraph on where the time goes.
#
# --smoke: N = 2000, one run, 10 latency samples, no report: checks that the
# harness and zaaklink still work together (every event arrives, with the
# state in SQLite and in PostgreSQL unless --state says otherwise, every
# figure parses) in well under a minute once zaaklink is built, and ends
# with "bench smoke: ok" or exits non-zero.
#
# zaaklink: --zaaklink BIN, else $ZL_BIN, else built from this tree into a
# temporary directory (autogen, configure, make). The baseline publisher is
# compiled here with cc and pkg-config (librabbitmq).
#
# Needs: the packages of tests/run-all.sh (postgresql-15, rabbitmq-server,
# librabbitmq-dev, ...), psql, awk, /usr/bin/time.

set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(cd "$BENCH_DIR/.." && pwd)

sizes=100000
runs=3
out=
smoke=
zl_bin=${ZL_BIN:-}
ks="1 100 10000"
lat_n=200
lat_runs=
batch=1000
states="sqlite pg"
state_opt=both
max_load=1.5
settle=300
allow_load=

usage() {
	sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 64
}

while [ $# -gt 0 ]; do
	case $1 in
	--size) sizes=${2:?--size needs a value}; shift 2 ;;
	--runs) runs=${2:?--runs needs a value}; shift 2 ;;
	--out) out=${2:?--out needs a file}; shift 2 ;;
	--zaaklink) zl_bin=${2:?--zaaklink needs a path}; shift 2 ;;
	--latency-samples) lat_n=${2:?}; shift 2 ;;
	--latency-runs) lat_runs=${2:?}; shift 2 ;;
	--state)
		state_opt=${2:?--state needs sqlite, pg or both}
		case $state_opt in
		sqlite | pg) states=$state_opt ;;
		both) states="sqlite pg" ;;
		*) echo "bench: --state must be sqlite, pg or both" >&2; exit 64 ;;
		esac
		shift 2 ;;
	--max-load) max_load=${2:?--max-load needs a number}; shift 2 ;;
	--settle) settle=${2:?--settle needs seconds}; shift 2 ;;
	--allow-load) allow_load=1; shift ;;
	--smoke) smoke=1; shift ;;
	-h | --help) usage ;;
	*) echo "bench: unknown argument '$1'" >&2; usage ;;
	esac
done
if [ -n "$smoke" ]; then
	sizes=2000 runs=1 ks="1 10" lat_n=10 lat_runs=1
fi
lat_runs=${lat_runs:-$runs}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bench: --runs must be a positive integer" >&2; exit 64; }
[[ $sizes =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || { echo "bench: --size must be N[,N...]" >&2; exit 64; }
[[ $max_load =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "bench: --max-load must be a number" >&2; exit 64; }
[[ $settle =~ ^[0-9]+$ ]] || { echo "bench: --settle must be whole seconds" >&2; exit 64; }

say() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

for t in psql awk cc pkg-config /usr/bin/time; do
	command -v "$t" >/dev/null 2>&1 || die "$t is required"
done
pkg-config --exists librabbitmq || die "librabbitmq-dev is required (pkg-config librabbitmq)"

# tests/lib.sh: servers, cleanup on exit (by PID), ZL_TMP. It reads ZL_BIN
# from the environment; the probe is not used here.
export ZL_BIN=${zl_bin:-/nonexistent}
# shellcheck source=../tests/lib.sh
. "$SRC_DIR/tests/lib.sh"

# ------------------------------------------------------------ build ----

if [ -z "$zl_bin" ]; then
	say "building zaaklink in $ZL_TMP/build"
	if [ ! -x "$SRC_DIR/configure" ]; then
		(cd "$SRC_DIR" && ./autogen.sh) >"$ZL_TMP/autogen.log" 2>&1 ||
			die "autogen.sh failed, see $ZL_TMP/autogen.log"
	fi
	mkdir -p "$ZL_TMP/build"
	(cd "$ZL_TMP/build" && "$SRC_DIR/configure" && make -j"$(nproc)" zaaklink) \
		>"$ZL_TMP/build.log" 2>&1 || {
		tail -n 30 "$ZL_TMP/build.log" >&2
		die "building zaaklink failed"
	}
	zl_bin=$ZL_TMP/build/zaaklink
fi
[ -x "$zl_bin" ] || die "zaaklink binary '$zl_bin' is not executable"
ZL_BIN=$(cd "$(dirname "$zl_bin")" && pwd)/$(basename "$zl_bin")
export ZL_BIN

BASELINE=$ZL_TMP/baseline
# shellcheck disable=SC2046
cc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -Wall -Wextra -Werror \
	-o "$BASELINE" "$BENCH_DIR/baseline.c" $(pkg-config --cflags --libs librabbitmq) ||
	die "could not build bench/baseline.c"

# ------------------------------------------------------------ helpers ----

# stats V...: "min / median / max" of numbers (the median of an even count
# is the mean of the middle two).
stats() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) { print "n/a"; exit }
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s / %s / %s\n", fmt(v[1]), fmt(m), fmt(v[NR])
		}
		function fmt(x) { return x == int(x) ? sprintf("%d", x) : sprintf("%.3g", x) }'
}

# median V...
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) print "n/a"; else printf "%.6g\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# div A B [DIGITS]
div() { awk -v a="$1" -v b="$2" -v d="${3:-3}" 'BEGIN { if (b == 0) print "n/a"; else printf "%.*f\n", d, a / b }'; }

# kv KEY LINE: the value of KEY=... in a log line.
kv() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<"$2" | head -n1; }

# Log lines from the server log written since byte offset $1.
pg_log_since() { tail -c +"$(($1 + 1))" "$ZL_TMP/pg/server.log"; }
pg_log_size() { stat -c %s "$ZL_TMP/pg/server.log"; }

# PostgreSQL's own duration of a pass's queries: in an idle pass the only
# statements sent through the extended protocol ("execute <unnamed>"): the
# snapshot, and one for the onderwerpobjecten and one for the
# klantcontacten.
pg_fp_ms() { grep -o 'duration: [0-9.]* ms  execute <unnamed>' | awk '{ s += $2 } END { printf "%.1f\n", s }'; }

# amqp ARGS...: the baseline program against the bench broker; a publish
# of a million messages may take many minutes on a loaded machine.
amqp() { timeout "$([ "$1" = publish ] && echo 7200 || echo 120)" "$BASELINE" "$ZL_TEST_AMQP_URL" "$@"; }

report=$ZL_TMP/report.md
: >"$report"
emit() { printf '%s\n' "$@" >>"$report"; }

# ------------------------------------------------------------ load ----

# section / section_end, $load_rows and $crowded (bench/lib-load.sh).
# shellcheck source=lib-load.sh
. "$BENCH_DIR/lib-load.sh"

# ------------------------------------------------------------ servers ----

say "starting PostgreSQL and RabbitMQ"
zl_pg_start "$ZL_TMP/pg" || die "cannot start PostgreSQL"
# Loading without WAL (seed.sql truncates in its transaction) and a buffer
# cache that holds the 1M tables, as a production server would have.
_zl_psql postgres -c "ALTER SYSTEM SET wal_level = minimal" \
	-c "ALTER SYSTEM SET max_wal_senders = 0" \
	-c "ALTER SYSTEM SET shared_buffers = '1GB'" \
	-c "ALTER SYSTEM SET max_wal_size = '4GB'" >/dev/null || die "cannot configure PostgreSQL"
zl_pg_restart "$ZL_TMP/pg" || die "cannot restart PostgreSQL"
zl_rabbit_start "$ZL_TMP/rabbit" || die "cannot start RabbitMQ"

EX=bench.$$
Q=bench.$$.q
amqp setup "$EX" "$Q" || die "cannot declare the bench exchange and queue"

failures=0
check() { # check COND-DESCRIPTION GOT EXPECTED
	if [ "$2" != "$3" ]; then
		say "CHECK FAILED: $1: got '$2', expected '$3'"
		failures=$((failures + 1))
	fi
}

# --------------------------------------------------------- one size ----

# changed_pass WHAT EVENTS: one `zaaklink once` (with $conf) after changes;
# checks that it recorded EVENTS events and that the broker holds as many
# messages, empties the queue, and leaves the pass.done line in $line.
changed_pass() {
	local log got
	log=$(timeout 600 "$ZL_BIN" -v -c "$conf" once 2>&1 >/dev/null) ||
		die "once after $1 failed: $log"
	line=$(grep 'msg=pass.done' <<<"$log" | tail -n1)
	check "pass after $1: events" "$(kv events " $line")" "$2"
	got=$(amqp count "$Q")
	check "pass after $1: messages" "$got" "$2"
	amqp purge "$Q"
}

# state_label BACKEND: how the report names a state backend.
state_label() { case $1 in sqlite) echo SQLite ;; pg) echo PostgreSQL ;; esac; }

# state_reset BACKEND: an empty state for the next announce: no SQLite file
# ($state), or no schema $schema in the state database $sdb (zaaklink
# creates it again).
state_reset() {
	case $1 in
	sqlite) rm -f "$state" "$state-wal" "$state-shm" "$state.lock" ;;
	pg)
		_zl_psql "$sdb" -c "SET client_min_messages = warning" \
			-c "DROP SCHEMA IF EXISTS \"$schema\" CASCADE" >/dev/null ||
			die "cannot drop the state schema $schema"
		;;
	esac
}

bench_size() {
	local n=$1 db conf state links t0 seed_s r k sdb='' schema='' primary=${states%% *} be both=''
	local -A confs=()
	[ "$states" = "sqlite pg" ] && both=1
	say "size $n: creating and seeding the database"
	db=$(zl_db_new) || die "cannot create a database"
	t0=$(date +%s.%N)
	_zl_psql "$db" -v n="$n" -f "$BENCH_DIR/seed.sql" >/dev/null || die "seeding failed"
	seed_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	links=$(zl_sql "$db" "SELECT count(*) FROM klantinteracties_onderwerpobject
		WHERE onderwerpobjectidentificator_code_objecttype = 'zaak'
		  AND onderwerpobjectidentificator_code_soort_object_id = 'uuid'
		  AND klantcontact_id IS NOT NULL")
	# Statements logged in Open Klant's database only: with the state in
	# PostgreSQL, the state's statements (in a database of their own) must
	# not count as the fingerprint queries' (pg_fp_ms).
	_zl_psql postgres -c "ALTER ROLE zaaklink IN DATABASE \"$db\" SET log_min_duration_statement = 0" >/dev/null
	state=$ZL_TMP/state-$n.db
	local -a settings=('events.initial_sync = "announce";' "amqp.batch_size = $batch;" 'source.poll_interval = 1;')
	for be in $states; do
		confs[$be]=$ZL_TMP/zaaklink-$n-$be.conf
		ZL_TEST_STATE=$be zl_conf "${confs[$be]}" "$db" "$state" "$EX" "${settings[@]}" ||
			die "cannot write ${confs[$be]}"
	done
	if [ -n "${confs[pg]:-}" ]; then
		# The state database tests/lib.sh makes for this source database
		# (role zaaklink may create its schema there), same server.
		sdb=$(zl_state_db "$db") || die "cannot create the state database"
		schema=$(zl_state_schema "$state")
		grep -q "dbname=$sdb " "${confs[pg]}" || die "${confs[pg]} does not put the state in $sdb"
	fi
	conf=${confs[$primary]}
	# The same, comparing every range in every pass (what a pass does once
	# per source.recheck_interval).
	conf_all=$ZL_TMP/zaaklink-$n-all.conf
	ZL_TEST_STATE=$primary zl_conf "$conf_all" "$db" "$state" "$EX" "${settings[@]}" \
		'source.recheck_interval = 0;' || die "cannot write $conf_all"
	say "size $n: $links links, seeded in ${seed_s} s; state: $states"

	# ---- 1, 5, 6, 7: announce against the baseline, paired per run;
	# z_* with the state of sections 1 to 6, p_* with the state in
	# PostgreSQL beside it (7) ----
	local -a b_rate=() z_rate=() ratio=() z_wall=() z_rss=() z_cpu=() b_cpu=() z_first=()
	local first_pid start_ms
	local -a p_rate=() p_ratio=() p_wall=() p_rss=() p_cpu=() sp_ratio=()
	local line got tf rate bratio mib cpu
	section "N=$n: 1, 5, 6, 7 announce"
	for ((r = 1; r <= runs; r++)); do
		say "size $n: announce run $r/$runs (baseline)"
		line=$(amqp publish "$EX" "$links" "$batch") || die "baseline failed"
		b_rate+=("$(kv rate " $line")")
		b_cpu+=("$(awk -v u="$(kv user_s " $line")" -v s="$(kv sys_s " $line")" -v e="$links" \
			'BEGIN { printf "%.4f", (u + s) * 1000 / e }')")
		got=$(amqp count "$Q"); check "baseline: messages in the queue" "$got" "$links"
		amqp purge "$Q"

		for be in $states; do
			say "size $n: announce run $r/$runs (zaaklink, state in $(state_label "$be"))"
			state_reset "$be"
			tf=$ZL_TMP/time.$r.$be
			# The first event in the queue, from the start of once: its
			# first chunk published while the pass reads on.
			amqp first "$Q" 3600 >"$ZL_TMP/first" 2>&1 &
			first_pid=$!
			sleep 0.2
			start_ms=$(date +%s%3N)
			/usr/bin/time -f '%e %U %S %M' -o "$tf" timeout 3600 "$ZL_BIN" -c "${confs[$be]}" once \
				2>>"$ZL_TMP/announce-$n-$be.log" ||
				die "zaaklink once (announce, state: $be) failed, see $ZL_TMP/announce-$n-$be.log"
			wait "$first_pid" || die "no first event: $(cat "$ZL_TMP/first")"
			[ "$be" = "$primary" ] && z_first+=("$(div "$(($(cat "$ZL_TMP/first") - start_ms))" 1000 2)")
			read -r wall user sys rss <"$tf"
			rate=$(div "$links" "$wall" 0)
			bratio=$(div "$(div "$links" "$wall" 3)" "${b_rate[-1]}")
			mib=$(div "$rss" 1024 1)
			cpu=$(awk -v u="$user" -v s="$sys" -v e="$links" 'BEGIN { printf "%.4f", (u + s) * 1000 / e }')
			if [ "$be" = "$primary" ]; then
				z_wall+=("$wall") z_rate+=("$rate") ratio+=("$bratio") z_rss+=("$mib") z_cpu+=("$cpu")
			else
				p_wall+=("$wall") p_rate+=("$rate") p_ratio+=("$bratio") p_rss+=("$mib") p_cpu+=("$cpu")
			fi
			got=$(amqp count "$Q"); check "announce (state: $be): messages in the queue" "$got" "$links"
			amqp purge "$Q"
		done
		# events/s with PostgreSQL over events/s with SQLite, same events.
		[ -n "$both" ] && sp_ratio+=("$(div "${z_wall[-1]}" "${p_wall[-1]}" 3)")
	done
	section_end
	if [ -n "$sdb" ]; then
		check "announce (state: pg): links in the state schema" \
			"$(zl_sql "$sdb" "SELECT count(*) FROM \"$schema\".link")" "$links"
	fi

	# ---- 2, 7: idle passes; p_i* with the state in PostgreSQL, each
	# right after the one of section 2 ----
	local -a i_ms=() i_bytes=() i_pg=() i_ref=() i_wall=() i_ratio=() i_pgratio=()
	local -a a_ms=() a_pg=() a_pgratio=()
	local -a p_ims=() p_iwall=() p_iratio=() p_idiff=()
	local off log ref
	section "N=$n: 2, 7 idle pass"
	for ((r = 1; r <= (runs > 5 ? runs : 5); r++)); do
		off=$(pg_log_size)
		log=$( { /usr/bin/time -f 'wall=%e' timeout 600 "$ZL_BIN" -v -c "$conf" once; } 2>&1 >/dev/null) ||
			die "idle once failed: $log"
		line=$(grep 'msg=pass.done' <<<"$log" | tail -n1)
		check "idle pass: events" "$(kv events " $line")" 0
		check "idle pass: compared by written rows" "$(kv compared " $line")" written
		i_ms+=("$(kv duration_ms " $line")")
		i_bytes+=("$(kv bytes_received " $line")")
		i_pg+=("$(pg_log_since "$off" | pg_fp_ms)")
		i_wall+=("$(div "$(grep -o 'wall=[0-9.]*' <<<"$log" | cut -d= -f2)" 0.001 0)")
		# Reference: PostgreSQL reading the two tables once, counting
		# their rows and computing nothing (the least any pass that looks
		# at every row can cost).
		ref=$( (echo '\timing on'; echo "SELECT count(*) FROM klantinteracties_onderwerpobject o
			WHERE o.onderwerpobjectidentificator_code_objecttype = 'zaak'
			  AND o.onderwerpobjectidentificator_code_soort_object_id = 'uuid'
			  AND o.klantcontact_id IS NOT NULL;
			SELECT count(*) FROM klantinteracties_klantcontact;") |
			_zl_psql "$db" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{ s += $1 } END { printf "%.1f", s }')
		i_ref+=("$ref")
		i_ratio+=("$(div "${i_ms[-1]}" "$ref" 2)")
		i_pgratio+=("$(div "${i_pg[-1]}" "$ref" 2)")
		# The idle pass that hashes every range.
		off=$(pg_log_size)
		log=$(timeout 600 "$ZL_BIN" -v -c "$conf_all" once 2>&1 >/dev/null) ||
			die "idle once (every range) failed: $log"
		line=$(grep 'msg=pass.done' <<<"$log" | tail -n1)
		check "idle pass comparing every range: compared" "$(kv compared " $line")" all
		a_ms+=("$(kv duration_ms " $line")")
		a_pg+=("$(pg_log_since "$off" | pg_fp_ms)")
		a_pgratio+=("$(div "${a_pg[-1]}" "$ref" 2)")
		[ -n "$both" ] || continue
		log=$( { /usr/bin/time -f 'wall=%e' timeout 600 "$ZL_BIN" -v -c "${confs[pg]}" once; } 2>&1 >/dev/null) ||
			die "idle once (state: pg) failed: $log"
		line=$(grep 'msg=pass.done' <<<"$log" | tail -n1)
		check "idle pass (state: pg): events" "$(kv events " $line")" 0
		p_ims+=("$(kv duration_ms " $line")")
		p_iwall+=("$(div "$(grep -o 'wall=[0-9.]*' <<<"$log" | cut -d= -f2)" 0.001 0)")
		p_iratio+=("$(div "${p_iwall[-1]}" "${i_wall[-1]}" 2)")
		p_idiff+=("$(awk -v a="${p_ims[-1]}" -v b="${i_ms[-1]}" 'BEGIN { printf "%d", a - b }')")
	done
	section_end

	# ---- 3: k changes ----
	local -a k_rows=()
	section "N=$n: 3 k changed links"
	for k in $ks; do
		[ "$k" -le "$links" ] || continue
		local -a c_ms=() c_bytes=() c_ranges=() c_read=() c_extra=()
		for ((r = 1; r <= runs; r++)); do
			zl_sql "$db" "UPDATE klantinteracties_onderwerpobject
				SET onderwerpobjectidentificator_object_id = gen_random_uuid()::text
				WHERE id IN (SELECT id FROM klantinteracties_onderwerpobject
					WHERE onderwerpobjectidentificator_code_objecttype = 'zaak'
					  AND onderwerpobjectidentificator_code_soort_object_id = 'uuid'
					  AND klantcontact_id IS NOT NULL ORDER BY random() LIMIT $k)" >/dev/null ||
				die "cannot change $k links"
			changed_pass "$k changes" $((2 * k))
			c_ms+=("$(kv duration_ms " $line")")
			c_bytes+=("$(kv bytes_received " $line")")
			c_ranges+=("$(kv ranges_read " $line")")
			c_read+=("$(kv rows_read " $line")")
			c_extra+=("$(awk -v a="${c_ms[-1]}" -v b="$(median "${i_ms[@]}")" 'BEGIN { printf "%d", a - b }')")
		done
		k_rows+=("| $k | $(stats "${c_ms[@]}") | $(stats "${c_extra[@]}") | $(stats "${c_bytes[@]}") | $(median "${c_ranges[@]}") | $(median "${c_read[@]}") | $(div "$(median "${c_ms[@]}")" "$(median "${i_ms[@]}")" 2) |")
	done
	section_end

	# ---- 3b: k changed klantcontacten (onderwerp edited: every link of
	# each is relinked, the link rows themselves unchanged) ----
	local -a kc_rows=()
	local nlinks
	section "N=$n: 3b k changed klantcontacten"
	for k in $ks; do
		[ "$k" -le "$links" ] || continue
		local -a c_ms=() c_bytes=() c_read=()
		for ((r = 1; r <= runs; r++)); do
			nlinks=$(zl_sql "$db" "WITH c AS (SELECT kc FROM (SELECT DISTINCT klantcontact_id AS kc
					FROM klantinteracties_onderwerpobject
					WHERE onderwerpobjectidentificator_code_objecttype = 'zaak'
					  AND onderwerpobjectidentificator_code_soort_object_id = 'uuid'
					  AND klantcontact_id IS NOT NULL) s ORDER BY random() LIMIT $k),
				u AS (UPDATE klantinteracties_klantcontact k SET onderwerp = left('~' || k.onderwerp, 200)
					FROM c WHERE k.id = c.kc RETURNING k.id)
				SELECT count(*) FROM klantinteracties_onderwerpobject
				WHERE onderwerpobjectidentificator_code_objecttype = 'zaak'
				  AND onderwerpobjectidentificator_code_soort_object_id = 'uuid'
				  AND klantcontact_id IN (SELECT id FROM u)") || die "cannot change $k klantcontacten"
			changed_pass "$k klantcontact changes" $((2 * nlinks))
			c_ms+=("$(kv duration_ms " $line")")
			c_bytes+=("$(kv bytes_received " $line")")
			c_read+=("$(kv ranges_read " $line")")
		done
		kc_rows+=("| $k | $(stats "${c_ms[@]}") | $(stats "${c_bytes[@]}") | $(median "${c_read[@]}") | $(div "$(median "${c_ms[@]}")" "$(median "${i_ms[@]}")" 2) |")
	done
	section_end

	# ---- 4, 5: latency and steady RSS under `zaaklink run` ----
	local -a l_p50=() l_p99=() l_rss=() l_hwm=()
	local pid lat_log sqlf commits lats kc rc
	kc=$(zl_sql "$db" "SELECT min(id) FROM klantinteracties_klantcontact")
	section "N=$n: 4, 5 latency"
	for ((r = 1; r <= lat_runs; r++)); do
		say "size $n: latency run $r/$lat_runs ($lat_n changes)"
		lat_log=$ZL_TMP/latency-$n-$r.log
		: >"$lat_log"
		# Each log line stamped on arrival (zaaklink flushes every line).
		"$ZL_BIN" -v -c "$conf" run 2> >(while IFS= read -r l; do
			printf '%s %s\n' "$EPOCHREALTIME" "$l"; done >"$lat_log") >/dev/null &
		pid=$!
		echo "$pid" >>"$ZL_TMP/pids"
		zl_wait_for 120 grep -q 'msg=pass.done' "$lat_log" || die "the daemon made no pass"
		# One new link per change (one gekoppeld each), committed at random
		# moments; PostgreSQL's clock after each COMMIT, same machine.
		sqlf=$ZL_TMP/latency-$n-$r.sql
		awk -v n="$lat_n" -v kc="$kc" -v seed="$r$$" 'BEGIN {
			srand(seed)
			for (i = 1; i <= n; i++) {
				printf "INSERT INTO klantinteracties_onderwerpobject (uuid, klantcontact_id,"
				printf " was_klantcontact_id, onderwerpobjectidentificator_code_objecttype,"
				printf " onderwerpobjectidentificator_code_soort_object_id,"
				printf " onderwerpobjectidentificator_object_id, onderwerpobjectidentificator_code_register)"
				printf " VALUES (gen_random_uuid(), %d, NULL, '\''zaak'\'', '\''uuid'\'',", kc
				printf " gen_random_uuid()::text, '\''open-zaak'\'');\n"
				printf "SELECT '\''commit '\'' || extract(epoch FROM clock_timestamp());\n"
				printf "SELECT pg_sleep(%.3f);\n", rand() * 0.6
			}
		}' >"$sqlf"
		commits=$ZL_TMP/commits-$n-$r
		_zl_psql "$db" -f "$sqlf" | sed -n 's/^commit //p' >"$commits" || die "latency driver failed"
		check "latency: commits recorded" "$(wc -l <"$commits")" "$lat_n"
		zl_wait_for 60 awk -v n="$lat_n" '/msg=amqp.batch/ { for (i = 1; i <= NF; i++) if ($i ~ /^acked=/) { split($i, a, "="); s += a[2] } }
			END { exit s >= n ? 0 : 1 }' "$lat_log" || say "latency: not every event was confirmed in time"
		l_rss+=("$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")")
		l_hwm+=("$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")")
		rc=0; zl_stop "$pid" >/dev/null || rc=$?
		check "latency: the daemon stops cleanly on SIGTERM (exit status)" "$rc" 0
		# The k-th change confirmed = the first batch line whose running
		# total of acked events reaches k (one event per change, in order).
		lats=$(awk -v cf="$commits" '
			BEGIN { while ((getline c < cf) > 0) commit[++n] = c }
			/msg=amqp.batch/ {
				for (i = 1; i <= NF; i++) if ($i ~ /^acked=/) { split($i, a, "="); total += a[2] }
				while (k < n && k < total) { k++; printf "%.1f\n", ($1 - commit[k]) * 1000 }
			}' "$lat_log" | sort -g)
		check "latency: changes confirmed" "$(grep -c . <<<"$lats")" "$lat_n"
		l_p50+=("$(awk -v n="$lat_n" 'NR == int((n + 1) / 2)' <<<"$lats")")
		l_p99+=("$(awk -v n="$lat_n" 'BEGIN { k = int(n * 0.99 + 0.999) } NR == k' <<<"$lats")")
		amqp purge "$Q"
	done
	section_end

	# ---- report ----
	emit "" "## N = $n ($links links, $(zl_sql "$db" "SELECT count(*) / 1024 + 1 FROM klantinteracties_onderwerpobject") ranges; seeded in $seed_s s)" ""
	emit "State of sections 1 to 6: $(state_label "$primary")$([ -n "$both" ] && echo "; section 7 sets PostgreSQL beside it")." ""
	emit "### 1. Announce throughput ($links events, runs: $runs)" "" \
		"| | min / median / max |" "|---|---|" \
		"| baseline publisher, msg/s | $(stats "${b_rate[@]}") |" \
		"| zaaklink once (announce), events/s | $(stats "${z_rate[@]}") |" \
		"| zaaklink once, wall s | $(stats "${z_wall[@]}") |" \
		"| zaaklink once, the first event in the queue, s after the start | $(stats "${z_first[@]}") |" \
		"| **ratio zaaklink / baseline** (paired per run) | **$(stats "${ratio[@]}")** |" ""
	emit "### 2. Idle pass (runs: ${#i_ms[@]})" "" \
		"| | min / median / max |" "|---|---|" \
		"| pass duration (pass.done duration_ms), ms | $(stats "${i_ms[@]}") |" \
		"| PostgreSQL execution of the two fingerprint queries, ms | $(stats "${i_pg[@]}") |" \
		"| bytes received from PostgreSQL | $(stats "${i_bytes[@]}") |" \
		"| whole \`zaaklink once\` process, ms | $(stats "${i_wall[@]}") |" \
		"| reference: PostgreSQL counting the link rows and the klantcontacten, ms | $(stats "${i_ref[@]}") |" \
		"| **ratio pass / reference** | **$(stats "${i_ratio[@]}")** |" \
		"| **ratio PostgreSQL's queries / reference** | **$(stats "${i_pgratio[@]}")** |" \
		"| the idle pass that compares every range (once per \`source.recheck_interval\`): duration, ms | $(stats "${a_ms[@]}") |" \
		"| ... PostgreSQL's queries, ms | $(stats "${a_pg[@]}") |" \
		"| ... ratio PostgreSQL's queries / reference | $(stats "${a_pgratio[@]}") |" ""
	emit "### 3. Pass after k changed links (runs: $runs; each change = ontkoppeld + gekoppeld)" "" \
		"| k | pass ms | ms beyond the idle median | bytes received | ranges read (median) | rows read (median) | ratio to idle pass |" \
		"|---|---|---|---|---|---|---|" "${k_rows[@]}" ""
	emit "### 3b. Pass after k changed klantcontacten (onderwerp edited; runs: $runs; each of their links relinked)" "" \
		"| k | pass ms | bytes received | ranges read (median) | ratio to idle pass |" \
		"|---|---|---|---|---|" "${kc_rows[@]}" ""
	emit "### 4. Latency, COMMIT to broker confirm (poll_interval = 1 s, $lat_n changes per run, runs: $lat_runs)" "" \
		"| | min / median / max over runs |" "|---|---|" \
		"| p50, ms | $(stats "${l_p50[@]}") |" \
		"| p99, ms | $(stats "${l_p99[@]}") |" ""
	emit "### 5. Memory" "" "| | min / median / max |" "|---|---|" \
		"| peak RSS of the announce (\`once\`), MiB | $(stats "${z_rss[@]}") |" \
		"| daemon after the latency run: RSS, MiB | $(stats "${l_rss[@]}") |" \
		"| daemon after the latency run: peak RSS (VmHWM), MiB | $(stats "${l_hwm[@]}") |" ""
	emit "### 6. CPU seconds (user+sys) per 1 000 events during the announce" "" \
		"| | min / median / max |" "|---|---|" \
		"| zaaklink | $(stats "${z_cpu[@]}") |" \
		"| baseline publisher | $(stats "${b_cpu[@]}") |" \
		"| ratio | $(div "$(median "${z_cpu[@]}")" "$(median "${b_cpu[@]}")" 2) |" ""
	if [ -n "$both" ]; then
		emit "### 7. State in PostgreSQL beside SQLite (announce runs: $runs, idle passes: ${#p_ims[@]}; ratios paired per run)" "" \
			"| | min / median / max |" "|---|---|" \
			"| announce, state in SQLite, events/s | $(stats "${z_rate[@]}") |" \
			"| announce, state in PostgreSQL, events/s | $(stats "${p_rate[@]}") |" \
			"| announce, state in PostgreSQL, wall s | $(stats "${p_wall[@]}") |" \
			"| **ratio PostgreSQL / SQLite, announce events/s** (target: 0.5 or more) | **$(stats "${sp_ratio[@]}")** |" \
			"| ratio zaaklink with the state in PostgreSQL / baseline publisher | $(stats "${p_ratio[@]}") |" \
			"| idle pass, whole \`zaaklink once\` process, state in SQLite, ms | $(stats "${i_wall[@]}") |" \
			"| idle pass, whole \`zaaklink once\` process, state in PostgreSQL, ms | $(stats "${p_iwall[@]}") |" \
			"| **ratio PostgreSQL / SQLite, idle pass (whole process)** | **$(stats "${p_iratio[@]}")** |" \
			"| idle pass duration (pass.done duration_ms), state in SQLite, ms | $(stats "${i_ms[@]}") |" \
			"| idle pass duration (pass.done duration_ms), state in PostgreSQL, ms | $(stats "${p_ims[@]}") |" \
			"| idle pass duration, PostgreSQL minus SQLite, ms | $(stats "${p_idiff[@]}") |" \
			"| peak RSS of the announce, state in PostgreSQL, MiB | $(stats "${p_rss[@]}") |" \
			"| zaaklink's CPU seconds per 1 000 events, state in PostgreSQL (the state server's not counted) | $(stats "${p_cpu[@]}") |" "" \
			"The state's PostgreSQL is the bench's own server (database \`$sdb\`, schema \`$schema\`, TCP on 127.0.0.1), with its settings: fsync and synchronous_commit off; the SQLite file is synced at each commit (synchronous = FULL)." ""
	fi
	# The fingerprint query's plan, for the record.
	if [ -z "$smoke" ]; then
		emit "### Plans of the queries of an idle pass, by written rows, then comparing every range (EXPLAIN (ANALYZE, BUFFERS), one run)" "" '```'
		_zl_psql postgres -c "ALTER ROLE zaaklink SET session_preload_libraries = 'auto_explain'" \
			-c "ALTER ROLE zaaklink SET auto_explain.log_min_duration = 0" \
			-c "ALTER ROLE zaaklink SET auto_explain.log_analyze = on" \
			-c "ALTER ROLE zaaklink SET auto_explain.log_buffers = on" >/dev/null
		off=$(pg_log_size)
		timeout 600 "$ZL_BIN" -c "$conf" once 2>/dev/null
		timeout 600 "$ZL_BIN" -c "$conf_all" once 2>/dev/null
		pg_log_since "$off" | awk '/plan:/ { p = 1; keep = 0; next } p && /^[0-9]{4}-/ { p = 0 }
			p && /Query Text: (WITH cur|SELECT count)/ { keep = 1 } p && keep' | sed 's/^\t//' |
			grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2} .*(LOG|DETAIL): ' >>"$report"
		_zl_psql postgres -c "ALTER ROLE zaaklink RESET ALL" >/dev/null
		emit '```' ""
	fi
	zl_sql postgres "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
	[ -n "$sdb" ] && zl_sql postgres "DROP DATABASE IF EXISTS \"$sdb\" WITH (FORCE)" >/dev/null
	return 0
}

IFS=, read -r -a size_list <<<"$sizes"
for n in "${size_list[@]}"; do
	bench_size "$n"
done

# ---------------------------------------------------------- report ----

{
	echo "# zaaklink benchmarks"
	echo
	echo "Produced by \`bench/run.sh --size $sizes --runs $runs$([ "$state_opt" = both ] || echo " --state $state_opt")\` on $(date -u +%Y-%m-%dT%H:%MZ)."
	echo
	echo "## Machine and versions"
	echo
	echo "- CPU: $(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); RAM $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- $(uname -sr); $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "- PostgreSQL $(_zl_psql postgres -c 'SHOW server_version'), shared_buffers $(_zl_psql postgres -c 'SHOW shared_buffers'), work_mem $(_zl_psql postgres -c 'SHOW work_mem'), max_parallel_workers_per_gather $(_zl_psql postgres -c 'SHOW max_parallel_workers_per_gather'), fsync off"
	echo "- RabbitMQ $(sed -n 's/.*Starting RabbitMQ \([0-9.]*\).*/\1/p' "$ZL_TMP"/rabbit/log/*.log 2>/dev/null | head -n1), classic durable queue, same machine; rabbitmq-c $(pkg-config --modversion librabbitmq); SQLite $(pkg-config --modversion sqlite3 2>/dev/null)"
	echo "- $("$ZL_BIN" --version 2>/dev/null | head -n1) at $(git -C "$SRC_DIR" describe --always --dirty 2>/dev/null), amqp.batch_size $batch, source.range_size 1024"
	echo
	echo "## Conditions"
	echo
	if [ -n "$smoke" ]; then
		echo "A smoke run (--smoke): it does not wait for a quiet machine, and its figures only show that the harness works."
	else
		echo "Before each section bench/run.sh waited (up to $settle s) for the 1-minute load average to fall to $max_load, and checked that no zaaklink test suite was running."
	fi
	if [ ${#crowded[@]} -gt 0 ] && [ -z "$smoke" ]; then
		echo
		echo "**$([ -n "$allow_load" ] && echo "Written with --allow-load: these" || echo "These") sections started on a busy machine, so their figures may not compare:** $(printf '%s; ' "${crowded[@]}" | sed 's/; $//')."
	fi
	echo
	echo "| section | load average before (1, 5, 15 min) | after | waited for it, s |"
	echo "|---|---|---|---|"
	printf '%s\n' "${load_rows[@]}"
	cat "$report"
	[ -f "$BENCH_DIR/analysis.md" ] && [ -z "$smoke" ] && { echo; cat "$BENCH_DIR/analysis.md"; }
} >"$ZL_TMP/final.md"

refuse=
if [ ${#crowded[@]} -gt 0 ] && [ -z "$allow_load" ] && [ -z "$smoke" ]; then
	refuse=1
	say "these sections started on a busy machine: $(printf '%s; ' "${crowded[@]}" | sed 's/; $//')"
fi
if [ -n "$out" ] && [ -n "$refuse" ]; then
	say "error: not writing $out: figures of a busy machine do not compare (run bench/run.sh on its own, or --allow-load to write them with that said)"
elif [ -n "$out" ]; then
	cp "$ZL_TMP/final.md" "$out"
	say "report written to $out"
fi
[ -z "$smoke" ] && cat "$ZL_TMP/final.md"
[ -n "$refuse" ] && [ -n "$out" ] && exit 2

if [ "$failures" -gt 0 ]; then
	[ -n "$smoke" ] && echo "bench smoke: FAILED ($failures checks)"
	exit 1
fi
[ -n "$smoke" ] && { cat "$ZL_TMP/final.md" >&2; echo "bench smoke: ok"; }
exit 0
