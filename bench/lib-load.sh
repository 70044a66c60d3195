#!/bin/bash
# bench/lib-load.sh: how bench/run.sh makes sure its figures come from a
# quiet machine. Sourced; it reads these variables of the caller:
#
#   max_load  the highest 1-minute load average a section may start at
#   settle    how long (s) a section waits for the load to fall to max_load
#   smoke     non-empty: do not wait (a smoke run only checks the harness)
#
# and BENCH_LOADAVG (default /proc/loadavg), BENCH_POLL (default 5 s)
# for its tests. It sets load_rows (one markdown row per section: name,
# load average before and after, seconds waited) and crowded (one entry
# per section that started above max_load or beside a running zaaklink test
# suite: bench/run.sh then refuses to write its report file).

load_rows=()
crowded=()

# above A B: A > B, as numbers.
above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }
# loadavg: the 1-, 5- and 15-minute load averages.
loadavg() { cut -d' ' -f1-3 "${BENCH_LOADAVG:-/proc/loadavg}"; }
# suite_running: the PIDs of a zaaklink test suite running on this machine.
suite_running() { pgrep -f 'tests/run-all\.sh|build-aux/test-driver|tests/faults/run\.sh' | tr '\n' ' '; }

# section NAME: a section starts: waits (up to $settle s, not for a smoke
# run) for the 1-minute load average to fall to $max_load, records it, and
# lists the section in crowded when it starts too loaded or beside the
# test suite. section_end records the load after it.
section() {
	local waited=0 poll=${BENCH_POLL:-5} pids
	sec_name=$1
	if [ -z "${smoke:-}" ]; then
		while above "$(loadavg | cut -d' ' -f1)" "$max_load" && ((waited < settle)); do
			((waited == 0)) && echo "bench: $sec_name: waiting for the load average to fall to $max_load" >&2
			sleep "$poll"
			waited=$((waited + poll))
		done
	fi
	sec_before=$(loadavg)
	sec_waited=$waited
	if above "${sec_before%% *}" "$max_load"; then
		crowded+=("$sec_name: 1-minute load ${sec_before%% *}")
	fi
	pids=$(suite_running)
	if [ -n "$pids" ]; then
		crowded+=("$sec_name: beside zaaklink's test suite (PIDs ${pids% })")
	fi
	return 0
}
section_end() { load_rows+=("| $sec_name | $sec_before | $(loadavg) | $sec_waited |"); }
