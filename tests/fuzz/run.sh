#!/bin/bash
# Runs every libFuzzer target of tests/fuzz for SECONDS each (default 60),
# two at a time, and prints one TAP line per target: "ok" with libFuzzer's
# figures, or "not ok" with the file that reproduces the failure. Exits
# non-zero when a target failed.
#
#   tests/fuzz/run.sh [SECONDS]
#
# Builds _build/fuzz first (CC=clang configure --enable-fuzzing; needs the
# Debian packages clang and libclang-rt-14-dev). Each target starts from
# its seeds in tests/fuzz/corpus/TARGET and from what earlier runs found,
# kept in _build/fuzz/corpus/TARGET. Logs: _build/fuzz/TARGET.log; a
# failing input: _build/fuzz/crashes/. To replay one:
#   _build/fuzz/tests/fuzz/fuzz_TARGET FILE
set -uo pipefail

seconds=${1:-60}
case $seconds in
-h | --help) sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
'' | *[!0-9]*) echo "run.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 64 ;;
esac

ROOT=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
FUZZ=$ROOT/tests/fuzz
BUILD=$ROOT/_build/fuzz
TARGETS=(conf url payload retry)
PARALLEL=2

echo "1..${#TARGETS[@]}"

# bail REASON: every target fails for one reason (the build).
bail() {
	local i=0 t
	for t in "${TARGETS[@]}"; do
		i=$((i + 1))
		echo "not ok $i - fuzz_$t: $1"
	done
	exit 1
}

if [ ! -x "$ROOT/configure" ]; then
	(cd "$ROOT" && ./autogen.sh) >"$ROOT/_build/fuzz-autogen.log" 2>&1 || bail "./autogen.sh failed"
fi
mkdir -p "$BUILD" || bail "could not create $BUILD"
if [ ! -f "$BUILD/Makefile" ]; then
	(cd "$BUILD" && CC=clang "$ROOT/configure" -q --enable-fuzzing) >"$BUILD/configure.log" 2>&1 ||
		{ sed 's/^/# /' "$BUILD/configure.log"; bail "configure --enable-fuzzing failed (see $BUILD/configure.log)"; }
fi
make -C "$BUILD" -s -j"$PARALLEL" all >"$BUILD/make.log" 2>&1 ||
	{ tail -n 20 "$BUILD/make.log" | sed 's/^/# /'; bail "the build failed (see $BUILD/make.log)"; }

# A smaller quarantine than ASan's 256 MB halves the page faults of the
# configuration loader's large allocations, and so doubles its speed.
export ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=16
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$FUZZ/lsan.supp:print_suppressions=0

# fuzz TARGET: one libFuzzer run, in place of the (background) subshell, so
# that its PID is the fuzzer's; its exit status is the run's.
fuzz() {
	local t=$1 dict=()
	mkdir -p "$BUILD/corpus/$t" "$BUILD/crashes" || return 1
	[ -f "$FUZZ/dict/$t.dict" ] && dict=(-dict="$FUZZ/dict/$t.dict")
	exec "$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=25 \
		-print_final_stats=1 -artifact_prefix="$BUILD/crashes/$t-" "${dict[@]}" \
		"$BUILD/corpus/$t" "$FUZZ/corpus/$t" </dev/null >"$BUILD/$t.log" 2>&1
}

# report N TARGET RC: the TAP line (and comments) of a finished target.
report() {
	local n=$1 t=$2 rc=$3 log="$BUILD/$2.log" done runs rate crash
	if [ "$rc" -eq 0 ]; then
		done=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
		echo "ok $n - fuzz_$t: ${seconds} s, ${runs:-?} runs (${rate:-?}/s)," \
			"$(printf '%s' "$done" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*')"
		return
	fi
	crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
	echo "not ok $n - fuzz_$t: exit $rc, input ${crash:-(none written)} (log $log)"
	grep -E 'ERROR:|SUMMARY:|check failed|^    #[0-9] ' "$log" | head -n 20 | sed 's/^/# /'
	[ -n "$crash" ] && echo "# replay: $BUILD/tests/fuzz/fuzz_$t $crash"
}

declare -A pid_of=()
declare -A num_of=()
failed=0
# reap: waits for one running target and reports it.
reap() {
	local p t rc
	wait -n -p p "${pid_of[@]}"
	rc=$?
	for t in "${!pid_of[@]}"; do
		if [ "${pid_of[$t]}" = "$p" ]; then
			report "${num_of[$t]}" "$t" "$rc" >"$BUILD/$t.tap"
			[ "$rc" -ne 0 ] && failed=$((failed + 1))
			unset "pid_of[$t]"
		fi
	done
}

# Fuzzers still running when this script is stopped are stopped too.
trap 'for p in "${pid_of[@]}"; do kill "$p" 2>/dev/null; done' EXIT

i=0
for t in "${TARGETS[@]}"; do
	i=$((i + 1))
	rm -f "$BUILD/$t.tap"
	[ "${#pid_of[@]}" -ge "$PARALLEL" ] && reap
	fuzz "$t" &
	pid_of[$t]=$!
	num_of[$t]=$i
done
while [ "${#pid_of[@]}" -gt 0 ]; do
	reap
done
for t in "${TARGETS[@]}"; do
	cat "$BUILD/$t.tap"
done
[ "$failed" -eq 0 ]
