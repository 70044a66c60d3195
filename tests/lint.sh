#!/bin/bash
# Style is checked, not hoped for: every C file of the project against the
# repository's .clang-format, and cppcheck over the same files. One TAP
# line per part, "ok" or "not ok" with what is wrong below it; exits
# non-zero when a part failed. tests/run-all.sh runs it as its lint stage.
#
#   tests/lint.sh [format] [cppcheck]     (default: both)
#
# format    clang-format --dry-run --Werror (style: .clang-format); lists
#           each file that is not formatted as it says, with the number of
#           places that differ. `clang-format -i FILE` formats one. The
#           tree is formatted with Debian 12's clang-format 14; another
#           version may lay out a few constructs differently.
# cppcheck  Debian 12's cppcheck 2.10 with the checks that find bugs
#           (warning, performance, portability); any finding fails. A
#           false positive is silenced where it is, with the reason, on
#           the line above it:
#             /* cppcheck-suppress nullPointer ; why it cannot be NULL */
#           Every configuration of the #ifdefs is checked (--force), with
#           the values config.h and the Makefile would give.
#
# The files: *.c and *.h in src/, include/, tests/unit/, tests/tools/,
# tests/fuzz/ and bench/. CLANG_FORMAT and CPPCHECK name other binaries.
# A tool that is not installed makes its part a skip.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
cd "$ROOT" || exit 1
# shellcheck source=tests/lib-tap.sh
. "$ROOT/tests/lib-tap.sh"

CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
CPPCHECK=${CPPCHECK:-cppcheck}
DIRS=(src include tests/unit tests/tools tests/fuzz bench)

parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(format cppcheck)
for p in "${parts[@]}"; do
	case $p in
	format | cppcheck) ;;
	-h | --help) sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
	*) echo "lint.sh: unknown part '$p' (format, cppcheck)" >&2; exit 64 ;;
	esac
done

files=()
for d in "${DIRS[@]}"; do
	[ -d "$d" ] || continue
	while IFS= read -r f; do
		files+=("$f")
	done < <(find "$d" -maxdepth 1 -type f -name '*.[ch]' | LC_ALL=C sort)
done
[ ${#files[@]} -gt 0 ] || bail "no C files found under ${DIRS[*]}"

# lint_format: each file as clang-format would write it, or a failure
# listing the files that differ.
lint_format() {
	local name="clang-format: ${#files[@]} C files formatted as .clang-format says" f out n
	local -a bad=()
	if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
		skip 1 "$CLANG_FORMAT not found (Debian package clang-format)"
		return 0
	fi
	# Without it clang-format would quietly fall back to a style of its own.
	if [ ! -f "$ROOT/.clang-format" ]; then
		fail "$name"
		diag "$ROOT/.clang-format is missing"
		return 1
	fi
	for f in "${files[@]}"; do
		if ! out=$("$CLANG_FORMAT" --style="file:$ROOT/.clang-format" --dry-run --Werror "$f" 2>&1); then
			n=$(grep -c 'code should be clang-formatted' <<<"$out")
			if [ "$n" = 1 ]; then
				bad+=("$f: 1 place differs")
			elif [ "$n" -gt 1 ]; then
				bad+=("$f: $n places differ")
			else
				bad+=("$f: $CLANG_FORMAT failed: $(head -n 1 <<<"$out")")
			fi
		fi
	done
	if [ ${#bad[@]} -eq 0 ]; then
		pass "$name"
		return 0
	fi
	fail "$name"
	diag "not formatted, ${#bad[@]} of ${#files[@]} files ($("$CLANG_FORMAT" --version)):" \
		"${bad[@]/#/  }" "formatting one: $CLANG_FORMAT -i FILE"
	return 1
}

# lint_cppcheck: no finding of cppcheck, or a failure listing them.
lint_cppcheck() {
	local name="cppcheck: no finding in ${#files[@]} C files" out rc=0
	if ! command -v "$CPPCHECK" >/dev/null 2>&1; then
		skip 1 "$CPPCHECK not found (Debian package cppcheck)"
		return 0
	fi
	out=$("$CPPCHECK" --quiet --error-exitcode=2 --inline-suppr \
		--enable=warning,performance,portability \
		--std=c11 --platform=unix64 --library=posix --force \
		-I include -U__has_include -DPACKAGE_VERSION='"0.0.0"' -DSYSCONFDIR='"/etc"' \
		--template='{file}:{line}: {severity}: {message} [{id}]' \
		"${files[@]}" 2>&1) || rc=$?
	if [ "$rc" = 0 ] && [ -z "$out" ]; then
		pass "$name"
		return 0
	fi
	fail "$name"
	if [ "$rc" = 2 ]; then
		diag "$(grep -c . <<<"$out") findings ($("$CPPCHECK" --version)):" "$out"
	else
		diag "$CPPCHECK exited $rc:" "$out"
	fi
	return 1
}

plan ${#parts[@]}
status=0
for p in "${parts[@]}"; do
	case $p in
	format) lint_format || status=1 ;;
	cppcheck) lint_cppcheck || status=1 ;;
	esac
done
exit "$status"
