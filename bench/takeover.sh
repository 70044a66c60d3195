#!/bin/bash
# bench/takeover.sh: how long a standby takes to become the active instance
# when the active one goes, with the state in PostgreSQL (README "Running
# more than one").
#
#   bench/takeover.sh [--count K] [--session-timeout S] [--zaaklink BIN]
#
# Starts a throwaway PostgreSQL 15 and RabbitMQ (tests/lib.sh), two
# `zaaklink run` on one state schema, a link stream of one link every
# 0.2 s, and then, K times each (default 10), takes the active instance
# away and measures from that moment until the standby logs
# leader.acquired:
#
#   kill    SIGKILL (a crash; the same as a host gone with a TCP reset);
#   term    SIGTERM (a stop: it finishes the batch in flight);
#   stop    SIGSTOP, resumed with SIGCONT once the standby took over (a
#           freeze; the bound is state.session_timeout, 20 s by default).
#
# After each takeover the instance taken away is brought back (started
# again, or resumed) and must wait as a standby before the next round.
# Prints a markdown table: per case the median and the maximum in ms, and
# the load average before and after. Needs ZL_BIN or --zaaklink (a built
# zaaklink), and the packages of tests/run-all.sh.
set -u -o pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(cd "$BENCH_DIR/.." && pwd)
count=10
session_timeout=20
while [ $# -gt 0 ]; do
	case $1 in
	--count) count=${2:?}; shift 2 ;;
	--session-timeout) session_timeout=${2:?}; shift 2 ;;
	--zaaklink) ZL_BIN=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "takeover.sh: unknown argument $1" >&2; exit 64 ;;
	esac
done
[ -x "${ZL_BIN:-}" ] || { echo "takeover.sh: set ZL_BIN or --zaaklink to a built zaaklink" >&2; exit 64; }
ZL_BIN=$(cd "$(dirname "$ZL_BIN")" && pwd)/$(basename "$ZL_BIN")
export ZL_BIN
. "$SRC_DIR/tests/lib.sh"
. "$SRC_DIR/tests/faults/lib.sh"
. "$SRC_DIR/tests/ha/lib.sh"
say() { echo "takeover.sh: $*" >&2; }

say "starting PostgreSQL and RabbitMQ"
zl_pg_start "$ZL_TMP/pg" || exit 1
zl_rabbit_start "$ZL_TMP/rabbit" || exit 1
zl_fixture_new
ha_confs 2 "$db" "$ZL_TMP/state.db" "$ex" 'source.poll_interval = 0.5;' \
	"state.session_timeout = $session_timeout;"
zl_feed_links "$db" 100000 0.2 "$ZL_TMP/ids"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

ha_start 1
zl_wait_for 20 grep -qs 'msg=leader.acquired' "${HA_LOG[1]}" || { say "no leader"; exit 1; }
ha_start 2
zl_wait_for 20 grep -qs 'msg=leader.waiting' "${HA_LOG[2]}" || { say "no standby"; exit 1; }
active=1

# waits_more I N: instance I logged leader.waiting more than N times.
waits_more() { [ "$(ha_count "$1" waiting)" -gt "$2" ]; }

declare -A times
for how in kill term stop; do
	times[$how]=
	for ((r = 1; r <= count; r++)); do
		standby=$((3 - active))
		ha_mark "$standby"
		case $how in
		kill) kill -KILL "${HA_PID[$active]}" ;;
		term) kill -TERM "${HA_PID[$active]}" ;;
		stop) kill -STOP "${HA_PID[$active]}" ;;
		esac
		if ! ha_wait_acquired $((session_timeout + 30)) "$standby"; then
			say "$how round $r: no takeover"
			exit 1
		fi
		times[$how]+=" $HA_TAKEOVER_MS"
		say "$how round $r: $HA_TAKEOVER_MS ms"
		# The one taken away comes back as a standby.
		waits=$(ha_count "$active" waiting)
		if [ "$how" = stop ]; then
			kill -CONT "${HA_PID[$active]}"
		else
			wait "${HA_PID[$active]}" 2>/dev/null
			ha_start "$active"
			waits=0
		fi
		zl_wait_for 60 waits_more "$active" "$waits" ||
			{ say "$how round $r: the old active instance did not wait"; exit 1; }
		active=$standby
	done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# shellcheck disable=SC2086 # the times are a list of words
stat() { printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%d | %d", m, v[NR] }'; }
echo "Takeovers with the state in PostgreSQL, $count each, state.session_timeout = $session_timeout s;"
echo "load average before: $load_before, after: $load_after ($(nproc) cores)."
echo
echo "| how the active instance went | takeover median, ms | max, ms |"
echo "|---|---|---|"
echo "| SIGKILL (crash, or a host gone with a TCP reset) | $(stat "${times[kill]}") |"
echo "| SIGTERM (stopped) | $(stat "${times[term]}") |"
echo "| SIGSTOP (frozen; bound: state.session_timeout) | $(stat "${times[stop]}") |"
for i in 1 2; do zl_stop "${HA_PID[$i]}" >/dev/null 2>&1; done
