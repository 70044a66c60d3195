# The one way the suite counts a TAP stream (sourced by tests/run-all.sh and
# tests/faults/run.sh).
#
# zl_tap_count FILE RC: reads the TAP output in FILE of a script that exited
# with RC and sets
#   TAP_OK       checks that passed ("ok N", not "# SKIP")
#   TAP_FAILED   checks that failed, plus one when the stream is not whole:
#                no plan, a plan that does not match the checks seen, or a
#                non-zero exit without a "not ok"
#   TAP_SKIPPED  checks skipped ("ok N # SKIP ..."), or 1 for a stream
#                that skipped everything ("1..0 # SKIP reason")
#   TAP_SKIP_ALL the reason of such a stream, else empty
#   TAP_PROBLEM  what was wrong with the stream, else empty
zl_tap_count() {
	local file=$1 rc=$2 plan seen
	TAP_OK=0 TAP_FAILED=0 TAP_SKIPPED=0 TAP_SKIP_ALL= TAP_PROBLEM=
	TAP_SKIPPED=$(grep -Ec '^ok [0-9]+.*# SKIP' "$file")
	TAP_OK=$(($(grep -Ec '^ok [0-9]+' "$file") - TAP_SKIPPED))
	TAP_FAILED=$(grep -Ec '^not ok [0-9]+' "$file")
	seen=$((TAP_OK + TAP_SKIPPED + TAP_FAILED))
	plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$file" | tail -n 1)
	if [ "$plan" = 0 ] && grep -Eq '^1\.\.0 *# *SKIP' "$file"; then
		TAP_SKIP_ALL=$(sed -n 's/^1\.\.0 *# *SKIP *//p' "$file" | head -n 1)
		TAP_SKIPPED=1
		[ -n "$TAP_SKIP_ALL" ] || TAP_SKIP_ALL="(no reason given)"
	fi
	if grep -q '^Bail out!' "$file"; then
		TAP_PROBLEM="bailed out: $(sed -n 's/^Bail out! *//p' "$file" | head -n 1)"
	elif [ -z "$plan" ]; then
		TAP_PROBLEM="no plan (the script stopped early)"
	elif [ "$plan" != "$seen" ]; then
		TAP_PROBLEM="planned $plan checks, saw $seen"
	elif [ "$rc" -ne 0 ] && [ "$TAP_FAILED" -eq 0 ]; then
		TAP_PROBLEM="exit status $rc without a failed check"
	fi
	[ -n "$TAP_PROBLEM" ] && TAP_FAILED=$((TAP_FAILED + 1))
	return 0
}
