#!/bin/bash
# The fault-injection suite (docs/RELIABILITY.md): runs every
# tests/faults/*.sh against the real zaaklink, PostgreSQL and RabbitMQ,
# two at a time, keeps each one's TAP output in OUTDIR, and prints a
# summary, the figures for docs/RELIABILITY.md, and as its last line
# "N passed, M failed, K skipped". Exits non-zero when anything failed.
#
#   tests/faults/run.sh [-j N] [OUTDIR]
#
# ZL_BIN, ZL_PROBE pick the binaries (default: _build/default); the
# ZL_FAULT_* variables of each script set the sizes for a longer soak.
set -uo pipefail
jobs=2
if [ "${1:-}" = -j ]; then jobs=$2; shift 2; fi
dir=$(cd "$(dirname "$0")" && pwd)
out=${1:-${TMPDIR:-/tmp}/zaaklink-faults.$$}
mkdir -p "$out" || exit 1
export ZL_FAULT_FIGURES=$out/figures
: >"$ZL_FAULT_FIGURES"

# The long ones first, so that two run side by side as long as possible.
scripts=(crash broker database signals long_pass disk hostile config)
start=$SECONDS
running=()
for name in "${scripts[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
	done
	echo "=== fault: $name"
	(
		t0=$SECONDS
		bash "$dir/$name.sh" >"$out/$name.tap" 2>"$out/$name.err"
		echo "$? $((SECONDS - t0))" >"$out/$name.rc"
	) &
done
wait
. "$dir/../tap-count.sh"
passed=0 failed=0 skipped=0
for name in "${scripts[@]}"; do
	read -r rc took <"$out/$name.rc" 2>/dev/null || { rc=1 took=?; }
	zl_tap_count "$out/$name.tap" "$rc"
	passed=$((passed + TAP_OK))
	failed=$((failed + TAP_FAILED))
	skipped=$((skipped + TAP_SKIPPED))
	printf '=== fault %-9s %3d passed, %d failed, %d skipped, %s s%s\n' "$name" "$TAP_OK" \
		"$TAP_FAILED" "$TAP_SKIPPED" "$took" "${TAP_PROBLEM:+ ($TAP_PROBLEM)}"
	if [ "$TAP_SKIPPED" -gt 0 ]; then
		grep -E '^ok [0-9]+.*# SKIP|^1\.\.0' "$out/$name.tap" | sed 's/^/    /'
	fi
	if [ "$TAP_FAILED" -gt 0 ]; then
		grep -A4 -E '^not ok|^Bail out' "$out/$name.tap" | sed 's/^/    /'
		tail -n 5 "$out/$name.err" | sed 's/^/    stderr: /'
	fi
done
echo "=== figures ($((SECONDS - start)) s in all; TAP and logs in $out)"
sed 's/^/    /' "$ZL_FAULT_FIGURES"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
