# TAP output for the test scripts (part of tests/lib.sh, which sources
# it; tests/lint.sh, which needs nothing else, sources it alone): plan, ok/nok, is/isnt, like/unlike, cmp_ok, pass/fail, skip,
# skip_all, diag/note, bail and done_testing, in the style of Perl's
# Test::More. Every result line is written by _zl_result, which keeps the
# count that done_testing turns into the plan when none was given up
# front; diagnostics go to stdout, below the result they explain.
#
# tests/tap-count.sh is the other side: how tests/run-all.sh and
# tests/faults/run.sh count such a stream.

_zl_tap_n=0          # tests run so far
_zl_tap_failed=0     # of which failed
_zl_tap_planned=     # the plan, when given up front

# plan N: announces N tests.
plan() {
	_zl_tap_planned=$1
	echo "1..$1"
}

# done_testing: ends a run without a plan given up front. Its status is
# non-zero when a test failed, except under automake's harness (which
# exports srcdir): there the TAP driver counts the failures already, and a
# failing exit status would add an ERROR per script to the totals. A script
# that dies early still shows up there, by its missing plan.
done_testing() {
	if [ -n "${ZL_TMP:-}" ] && [ -s "$ZL_TMP/probe.failed" ]; then
		_zl_result 0 "every drain of the AMQP probe worked"
		diag "$(cat "$ZL_TMP/probe.failed")"
	fi
	if [ -z "$_zl_tap_planned" ]; then
		echo "1..$_zl_tap_n"
		_zl_tap_planned=$_zl_tap_n
	fi
	[ "$_zl_tap_failed" -eq 0 ] || [ -n "${srcdir:-}" ]
}

# skip_all REASON: the whole script does not apply here.
skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

# The one place a result line is written; returns 0 for ok, 1 for not ok.
_zl_result() {
	local good=$1
	shift
	_zl_tap_n=$((_zl_tap_n + 1))
	if [ "$good" = 1 ]; then
		echo "ok $_zl_tap_n - $*"
		return 0
	fi
	_zl_tap_failed=$((_zl_tap_failed + 1))
	echo "not ok $_zl_tap_n - $*"
	return 1
}

# diag MSG...: a diagnostic, each argument (and each line of it) on a line
# of its own starting with '#'. It goes to stdout, the TAP stream, so that
# the test's .log shows it right below the result it explains (the TAP
# driver writes stderr to the log unsynchronised).
diag() {
	local arg line
	for arg in "$@"; do
		while IFS= read -r line; do
			printf '# %s\n' "$line"
		done <<<"$arg"
	done
}

note() { diag "$@"; }

# bail MSG: stops the whole run.
bail() {
	echo "Bail out! $*"
	exit 1
}

pass() { _zl_result 1 "$@"; }
fail() { _zl_result 0 "$@"; }

# skip N REASON: records N skipped tests.
skip() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		_zl_tap_n=$((_zl_tap_n + 1))
		echo "ok $_zl_tap_n # SKIP $*"
	done
}

# ok NAME CMD...: ok when CMD exits 0; CMD's output goes to stderr.
ok() {
	local name=$1 rc=0
	shift
	"$@" >&2 || rc=$?
	_zl_result "$([ $rc -eq 0 ] && echo 1)" "$name" && return 0
	diag "   command: $*" "   exited $rc"
	return 1
}

# nok NAME CMD...: ok when CMD exits non-zero.
nok() {
	local name=$1 rc=0
	shift
	"$@" >&2 || rc=$?
	_zl_result "$([ $rc -ne 0 ] && echo 1)" "$name" && return 0
	diag "   command: $*" "   exited 0, expected a failure"
	return 1
}

# is GOT EXPECTED NAME
is() {
	if [ "$1" = "$2" ]; then
		_zl_result 1 "$3"
		return 0
	fi
	_zl_result 0 "$3"
	diag "     got: '$1'" "expected: '$2'"
	return 1
}

# isnt GOT UNEXPECTED NAME
isnt() {
	if [ "$1" != "$2" ]; then
		_zl_result 1 "$3"
		return 0
	fi
	_zl_result 0 "$3"
	diag "     got: '$1'" "expected anything else"
	return 1
}

# like GOT REGEX NAME (bash extended regex)
like() {
	if [[ $1 =~ $2 ]]; then
		_zl_result 1 "$3"
		return 0
	fi
	_zl_result 0 "$3"
	diag "                  '$1'" "    doesn't match '$2'"
	return 1
}

# unlike GOT REGEX NAME
unlike() {
	if ! [[ $1 =~ $2 ]]; then
		_zl_result 1 "$3"
		return 0
	fi
	_zl_result 0 "$3"
	diag "                  '$1'" "          matches '$2'"
	return 1
}

# cmp_ok GOT OP EXPECTED NAME, OP one of test(1)'s -eq -ne -lt -le -gt -ge
cmp_ok() {
	if test "$1" "$2" "$3" 2>/dev/null; then
		_zl_result 1 "$4"
		return 0
	fi
	_zl_result 0 "$4"
	diag "    '$1'" "        $2" "    '$3'"
	return 1
}
