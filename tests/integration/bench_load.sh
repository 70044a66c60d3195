#!/bin/bash
# bench/lib-load.sh, the part of bench/run.sh that keeps figures of a busy
# machine out of its report: a section waits for the load average to fall,
# is listed as crowded when it starts above the limit or beside a running
# test suite, and records the load before and after. The load average is
# a file the test writes (BENCH_LOADAVG); no servers are needed.
. "$(dirname "$0")/../lib.sh"
[ -f "${ZL_SRCDIR:-}/bench/lib-load.sh" ] || bail "ZL_SRCDIR ('${ZL_SRCDIR:-}') has no bench/lib-load.sh"
. "$ZL_SRCDIR/bench/lib-load.sh"
export BENCH_LOADAVG=$ZL_TMP/loadavg BENCH_POLL=1
max_load=1.5 settle=10 smoke=

# The real pattern finds a test suite (this test may itself run under
# tests/run-all.sh, so the PID is looked for among those found).
bash -c "exec -a /tmp/zl-$$/tests/run-all.sh sleep 30" &
fake=$!
echo "$fake" >>"$ZL_TMP/pids"
zl_wait_for 5 pgrep -f "/tmp/zl-$$/tests/run-all.sh" >/dev/null
like " $(suite_running)" " $fake " "suite_running finds a running tests/run-all.sh"
kill "$fake"
# From here on only this test's own stand-in counts as a test suite.
suite_running() { pgrep -f "zl-bench-load-test-$$" | tr '\n' ' '; }

echo "0.40 0.60 0.80 1/200 4242" >"$BENCH_LOADAVG"
section "quiet"
section_end
is "${#crowded[@]}" 0 "a quiet machine: no section is crowded"
is "${load_rows[0]}" "| quiet | 0.40 0.60 0.80 | 0.40 0.60 0.80 | 0 |" "the load before and after is recorded"

echo "2.50 1.00 0.80 1/200 4242" >"$BENCH_LOADAVG"
(sleep 2 && echo "1.20 1.00 0.80 1/200 4242" >"$BENCH_LOADAVG") &
echo $! >>"$ZL_TMP/pids"
section "settles"
is "${#crowded[@]}" 0 "a load that falls within the wait: not crowded"
ok "... and it waited for it" test "$sec_waited" -ge 2
is "$sec_before" "1.20 1.00 0.80" "... and recorded the load it started at"

echo "1.90 1.00 0.80 1/200 4242" >"$BENCH_LOADAVG"
settle=2
section "busy"
section_end
is "${#crowded[@]}" 1 "a load that stays above 1.5: crowded"
like "${crowded[0]}" '^busy: 1-minute load 1.90$' "... naming the section and the load"
is "$sec_waited" 2 "... after waiting the whole settle time"

smoke=1
section "smoke"
is "$sec_waited" 0 "a smoke run does not wait"

smoke= max_load=3
bash -c "exec -a zl-bench-load-test-$$ sleep 30" &
neighbour=$!
echo "$neighbour" >>"$ZL_TMP/pids"
zl_wait_for 5 pgrep -f "zl-bench-load-test-$$" >/dev/null
section "beside"
like "${crowded[-1]}" "^beside: beside zaaklink's test suite \(PIDs $neighbour\)$" \
	"a section beside a running test suite: crowded, with its PIDs"
kill "$neighbour"
done_testing
