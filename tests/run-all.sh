#!/bin/bash
# The whole test suite, from a clean clone: the lint (tests/lint.sh:
# clang-format and cppcheck over the C sources), build, unit and integration
# tests, the unit tests under valgrind, the fault-injection suite
# (tests/faults/, docs/RELIABILITY.md), the high-availability tests
# (tests/ha/: standbys and takeovers), the benchmark harness at its smoke
# size, the same again under AddressSanitizer/UBSan, the libFuzzer targets,
# then the packaging stage. Prints the total as its last line,
# "N passed, M failed, K skipped", and exits non-zero when anything failed.
#
#   tests/run-all.sh [--install-deps] [--sanitizers|--no-sanitizers]
#                    [--no-lint] [--no-faults] [--no-bench] [--no-fuzz]
#                    [--fuzz-seconds N] [--no-packaging] [-j N]
#
# --install-deps   apt-get update and install every build and test
#                  dependency first (Debian 12; root, or sudo)
# --sanitizers     also build in _build/asan with --enable-sanitizers and run
#                  the suite there (the default)
# --no-sanitizers  do not (a quicker run while developing)
# --no-lint        skip the lint stage (each C file formatted as
#                  .clang-format says; no cppcheck finding)
# --no-faults      skip the fault-injection suite (tests/faults/run.sh:
#                  SIGKILL, broker and database outages, a broker alarm,
#                  disk faults, SIGTERM, hostile rows, bad configuration;
#                  about 4 minutes)
# --no-bench       skip the benchmark smoke test (bench/run.sh --smoke: the
#                  harness at a tiny size, so that it keeps working)
# --no-fuzz        skip the fuzz stage: tests/fuzz/run.sh builds _build/fuzz
#                  with clang (--enable-fuzzing) and runs each libFuzzer
#                  target (configuration loader, URL and conninfo masking,
#                  payload and JSON) for 60 s, two at a time
# --fuzz-seconds N run each fuzz target for N seconds instead
# --no-packaging   skip the packaging stage: the .deb (built, checked by
#                  lintian, installed, upgraded, removed and purged on
#                  this machine, as root, and run as a service in a
#                  container booted with systemd), the RPM, the man pages,
#                  the systemd notifications and reload, and make distcheck
# -j N             parallel jobs for make and make check (default: nproc, at
#                  most 4 for the tests)
# --print-deps     print the Debian packages needed, one a line, and exit
#
# The last line is "N passed, M failed, K skipped". A check that skips
# itself (a missing tool, not root) counts as skipped; a whole script or
# stage that skipped everything counts as skipped too, and under CI=true as
# a failure unless skip_allowed below names it with its reason. Every TAP
# stream must end with a plan that matches the checks it printed.
#
# PostgreSQL and RabbitMQ are started once, as throwaway servers on random
# local ports (tests/lib.sh), for all test programs of both builds, and
# stopped on exit whatever happens.
set -uo pipefail

DEPS=(build-essential autoconf automake libtool pkg-config
	librabbitmq-dev libpq-dev libcjson-dev libconfig-dev uuid-dev libsqlite3-dev
	libmicrohttpd-dev libcurl4-openssl-dev libssl-dev
	check valgrind jq curl sqlite3 postgresql-15 rabbitmq-server clang libclang-rt-14-dev
	libsystemd-dev systemd systemd-container socat groff-base man-db python3
	debhelper dpkg-dev lintian rpm time clang-format cppcheck)

usage() {
	sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "$0"
}

install_deps=no
sanitizers=yes
packaging=yes
bench=yes
fuzz=yes
fuzz_seconds=60
faults=yes
lint=yes
jobs=$(nproc 2>/dev/null || echo 2)
check_jobs=
while [ $# -gt 0 ]; do
	case $1 in
	--install-deps) install_deps=yes ;;
	--sanitizers) sanitizers=yes ;;
	--no-sanitizers) sanitizers=no ;;
	--no-packaging) packaging=no ;;
	--no-bench) bench=no ;;
	--no-fuzz) fuzz=no ;;
	--fuzz-seconds) shift; fuzz_seconds=${1:?--fuzz-seconds needs a number} ;;
	--no-faults) faults=no ;;
	--no-lint) lint=no ;;
	-j) shift; jobs=${1:?-j needs a number}; check_jobs=$jobs ;;
	-j*) jobs=${1#-j}; check_jobs=$jobs ;;
	--print-deps) printf '%s\n' "${DEPS[@]}"; exit 0 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run-all.sh: unknown option '$1' (see --help)" >&2; exit 64 ;;
	esac
	shift
done
if [ -z "$check_jobs" ]; then
	check_jobs=$jobs
	[ "$check_jobs" -gt 4 ] && check_jobs=4
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
cd "$ROOT" || exit 1

say() { printf '=== %s\n' "$*"; }

if [ "$install_deps" = yes ]; then
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	# Without an init system, package scripts would start a system
	# PostgreSQL and RabbitMQ that outlive the run; the tests start their
	# own. Forbid service starts during the installation only.
	policy_rc_d=
	if [ ! -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
		policy_rc_d=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy_rc_d" >/dev/null
		$sudo chmod 755 "$policy_rc_d"
	fi
	say "installing ${DEPS[*]}"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends "${DEPS[@]}" </dev/null
	rc=$?
	[ -n "$policy_rc_d" ] && $sudo rm -f "$policy_rc_d"
	if [ "$rc" -ne 0 ]; then
		echo "run-all.sh: installing the dependencies failed" >&2
		exit 69
	fi
fi

if [ ! -x configure ]; then
	say "./autogen.sh"
	./autogen.sh || { echo "run-all.sh: ./autogen.sh failed" >&2; exit 1; }
fi
if [ -f config.status ]; then
	echo "run-all.sh: $ROOT is configured in place; out-of-tree builds need" \
		"'make distclean' there first" >&2
	exit 1
fi

# Servers, traps and cleanup come from the test library. It also stops
# every server it started when this script exits, however it exits.
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

# shellcheck source=tests/tap-count.sh
. "$ROOT/tests/tap-count.sh"

passed=0
failed=0
skipped=0
summary=()

# The scripts and stages that may skip everything under CI=true, each with
# the reason it may (label as in the summary => reason). CI installs every
# tool and runs as root, so none may today.
declare -A skip_allowed=()

# skipped_whole LABEL REASON: a script or stage that ran no check.
skipped_whole() {
	local label=$1 reason=$2
	if [ "${CI:-}" = true ] && [ -z "${skip_allowed[$label]+set}" ]; then
		failed=$((failed + 1))
		summary+=("$label: skipped whole under CI=true ($reason), and skip_allowed does not name it")
	else
		summary+=("$label: skipped whole ($reason)${skip_allowed[$label]+; allowed: ${skip_allowed[$label]}}")
	fi
}

# tap LABEL LOG COMMAND...: runs a TAP script, its output in LOG, counted
# by zl_tap_count (tests/tap-count.sh).
tap() {
	local label=$1 log=$2 rc
	shift 2
	"$@" >"$log" 2>&1
	rc=$?
	cat "$log"
	zl_tap_count "$log" "$rc"
	passed=$((passed + TAP_OK))
	failed=$((failed + TAP_FAILED))
	if [ -n "$TAP_SKIP_ALL" ]; then
		skipped=$((skipped + 1))
		skipped_whole "$label" "$TAP_SKIP_ALL"
	else
		skipped=$((skipped + TAP_SKIPPED))
		summary+=("$label: $TAP_OK passed, $TAP_FAILED failed, $TAP_SKIPPED skipped${TAP_PROBLEM:+ ($TAP_PROBLEM)}")
	fi
}

# build NAME CONFIGURE-ARGS...: configures (when the arguments changed) and
# builds _build/NAME with -Werror. Returns non-zero when that failed.
build() {
	local name=$1 dir="$ROOT/_build/$1"
	shift
	mkdir -p "$dir" || return 1
	local args="$*"
	if [ ! -f "$dir/Makefile" ] || [ "$(cat "$dir/.run-all-configure" 2>/dev/null)" != "$args" ]; then
		say "configure $name: $args"
		(cd "$dir" && "$ROOT/configure" -q --enable-werror "$@") || return 1
		echo "$args" >"$dir/.run-all-configure"
	fi
	say "make $name"
	make -C "$dir" -s -j"$jobs" all || return 1
	make -C "$dir" -s -j"$jobs" check TESTS= || return 1
}

# check NAME: make -k check in _build/NAME and adds its counts.
check() {
	local name=$1 dir="$ROOT/_build/$1" log p f e x line
	log="$dir/test-suite.log"
	rm -f "$log"
	say "make check $name"
	local verbose=
	[ "${CI:-}" = true ] && verbose=VERBOSE=yes
	make -C "$dir" -k -j"$check_jobs" check $verbose
	if [ ! -f "$log" ]; then
		summary+=("$name: no test-suite.log (the suite did not run)")
		failed=$((failed + 1))
		return
	fi
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -n1)
	f=$(sed -n 's/^# FAIL: *//p' "$log" | head -n1)
	e=$(sed -n 's/^# ERROR: *//p' "$log" | head -n1)
	x=$(sed -n 's/^# XPASS: *//p' "$log" | head -n1)
	s=$(sed -n 's/^# SKIP: *//p' "$log" | head -n1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${e:-0} + ${x:-0}))
	skipped=$((skipped + ${s:-0}))
	summary+=("$name: ${p:-0} passed, ${f:-0} failed, ${e:-0} errors, ${x:-0} unexpected passes, ${s:-0} skipped")
	# Every unit test program must have run: without Check none is built.
	local want got
	want=$(find "$ROOT/tests/unit" -name 'test_*.c' | wc -l)
	got=$(find "$dir/tests/unit" -name 'test_*.trs' | wc -l)
	if [ "$got" -ne "$want" ]; then
		failed=$((failed + 1))
		summary+=("$name: $got of $want unit test programs ran (is the Debian package check installed?)")
	fi
	while IFS= read -r line; do
		skipped_whole "$name: ${line%%.log:*}" "$(sed 's/^1\.\.0 *# *SKIP *//' <<<"${line#*.log:}")"
	done < <(cd "$dir" && grep -r --include='*.log' -E '^1\.\.0 *# *SKIP' tests)
	if [ $((${f:-0} + ${e:-0} + ${x:-0})) -gt 0 ]; then
		while IFS= read -r line; do
			summary+=("$name: $line")
		done < <(grep -E '^(FAIL|ERROR|XPASS): [^ ]+ ' "$log" | sort -u)
	fi
}

servers_up=no
# One PostgreSQL and one RabbitMQ for every test program of every build.
start_servers() {
	[ "$servers_up" = yes ] && return 0
	say "starting PostgreSQL and RabbitMQ in $ZL_TMP"
	if zl_pg_start "$ZL_TMP/pg" && zl_rabbit_start "$ZL_TMP/rabbit"; then
		export ZL_TEST_PGPORT ZL_TEST_AMQP_PORT ZL_TEST_AMQP_URL
		# The store's unit tests run against PostgreSQL too, each in a
		# schema of its own in this database.
		export ZL_TEST_STATE_CONNINFO="host=127.0.0.1 port=$ZL_TEST_PGPORT user=postgres dbname=postgres"
		servers_up=yes
		say "PostgreSQL on 127.0.0.1:$ZL_TEST_PGPORT, RabbitMQ on 127.0.0.1:$ZL_TEST_AMQP_PORT"
		return 0
	fi
	summary+=("servers: could not start PostgreSQL and RabbitMQ (see above)")
	failed=$((failed + 1))
	return 1
}

# ---- the lint: one check for the format of the C files, one for cppcheck ----
if [ "$lint" = yes ]; then
	say "lint: tests/lint.sh (clang-format, cppcheck)"
	mkdir -p "$ROOT/_build"
	tap "lint" "$ROOT/_build/lint.log" "$ROOT/tests/lint.sh"
fi

# ---- the default build: -Werror, the whole suite ----
if build default; then
	start_servers
	check default
	# Key flows once more with the state in PostgreSQL (ZL_TEST_STATE=pg,
	# tests/lib-zaaklink.sh): the same checks on the other backend, change
	# detection against its oracle included.
	for t in events initial_sync detect_random; do
		say "tests/integration/$t.sh with the state in PostgreSQL"
		tap "pg state: $t.sh" "$ROOT/_build/default/pg-state-$t.log" \
			env ZL_TEST_STATE=pg ZL_BIN="$ROOT/_build/default/zaaklink" \
			ZL_PROBE="$ROOT/_build/default/amqp-probe" ZL_SRCDIR="$ROOT" \
			bash "$ROOT/tests/integration/$t.sh"
	done
	say "make valgrind-unit"
	if make -C "$ROOT/_build/default" -s valgrind-unit; then
		summary+=("valgrind: clean")
	else
		summary+=("valgrind: FAILED")
		failed=$((failed + 1))
	fi
else
	summary+=("default: build FAILED")
	failed=$((failed + 1))
fi

# ---- high availability: several run on one PostgreSQL state ----
# Each script of tests/ha/ with its own TAP log; their takeover figures
# (ha_figures) are collected in _build/ha-figures.md.
if [ -x "$ROOT/_build/default/zaaklink" ]; then
	: >"$ROOT/_build/ha-figures.md"
	for t in standby kill_announce freeze partition pg_restart; do
		say "tests/ha/$t.sh"
		tap "ha: $t.sh" "$ROOT/_build/default/ha-$t.log" \
			env HA_FIGURES="$ROOT/_build/ha-figures.md" ZL_BIN="$ROOT/_build/default/zaaklink" \
			ZL_PROBE="$ROOT/_build/default/amqp-probe" ZL_PROXY="$ROOT/_build/default/tcp-proxy" \
			ZL_SRCDIR="$ROOT" bash "$ROOT/tests/ha/$t.sh"
	done
	sed 's/^/    /' "$ROOT/_build/ha-figures.md"
	# Heavy (5 000 links, kills, 30 s of Open Zaak down): alone, not
	# beside the other integration tests of make check.
	say "tests/integration/deliver_faults.sh"
	tap "deliver faults" "$ROOT/_build/default/deliver-faults.log" \
		env ZL_BIN="$ROOT/_build/default/zaaklink" ZL_PROBE="$ROOT/_build/default/amqp-probe" \
		ZL_OPENZAAK="$ROOT/_build/default/openzaak-standin" ZL_SRCDIR="$ROOT" \
		bash "$ROOT/tests/integration/deliver_faults.sh"
fi

# fault_totals LABEL LOG: adds the last line of a fault-suite run.
fault_totals() {
	local line
	line=$(tail -n 1 "$2")
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
		skipped=$((skipped + BASH_REMATCH[3]))
		summary+=("$1: $line")
	else
		failed=$((failed + 1))
		summary+=("$1: the suite did not finish (see $2)")
	fi
}

# ---- the fault-injection suite, against the default build ----
# Its scripts start their own PostgreSQL or RabbitMQ where they stop,
# restart or alarm one; the others use the shared servers.
if [ "$faults" = yes ] && [ -x "$ROOT/_build/default/zaaklink" ]; then
	say "fault-injection suite (tests/faults/run.sh)"
	faults_out="$ROOT/_build/faults"
	rm -rf "$faults_out"
	ZL_BIN="$ROOT/_build/default/zaaklink" ZL_PROBE="$ROOT/_build/default/amqp-probe" \
		"$ROOT/tests/faults/run.sh" "$faults_out" | tee "$ROOT/_build/faults.log"
	fault_totals faults "$ROOT/_build/faults.log"
elif [ "$faults" = yes ]; then
	summary+=("faults: not run, as the default build failed")
fi

# ---- the benchmark harness, at a tiny size ----
if [ "$bench" = yes ] && [ -x "$ROOT/_build/default/zaaklink" ]; then
	say "bench/run.sh --smoke"
	bench_log="$ROOT/_build/bench-smoke.log"
	if "$ROOT/bench/run.sh" --smoke --zaaklink "$ROOT/_build/default/zaaklink" >"$bench_log" 2>&1; then
		passed=$((passed + 1))
		summary+=("bench smoke: ok")
	else
		tail -n 40 "$bench_log"
		failed=$((failed + 1))
		summary+=("bench smoke: FAILED (see $bench_log)")
	fi
fi

# ---- the sanitizer build ----
if [ "$sanitizers" = yes ]; then
	if build asan CC=gcc --enable-sanitizers; then
		start_servers
		export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
		check asan
		# The fault suite once more on the sanitizer build, a shorter soak:
		# a crash, a leak at a clean stop or undefined behaviour under a
		# fault fails the check that expected a clean exit.
		if [ "$faults" = yes ] && [ -x "$ROOT/_build/asan/zaaklink" ]; then
			say "fault-injection suite on the sanitizer build (shorter soak)"
			rm -rf "$ROOT/_build/faults-asan"
			ZL_BIN="$ROOT/_build/asan/zaaklink" ZL_PROBE="$ROOT/_build/asan/amqp-probe" \
				ZL_FAULT_CRASH_LINKS=5000 ZL_FAULT_CRASH_KILLS=6 ZL_FAULT_CRASH_OPS=100 \
				ZL_FAULT_SIGNAL_LINKS=5000 ZL_FAULT_SIGNAL_STOPS=2 ZL_FAULT_OUTAGE=10 \
				ZL_FAULT_ALARM=5 ZL_FAULT_STREAM=60 ZL_FAULT_PASS_LINKS=20000 \
				"$ROOT/tests/faults/run.sh" "$ROOT/_build/faults-asan" | tee "$ROOT/_build/faults-asan.log"
			fault_totals "faults (asan)" "$ROOT/_build/faults-asan.log"
		fi
		unset ASAN_OPTIONS UBSAN_OPTIONS
	else
		summary+=("asan: build FAILED")
		failed=$((failed + 1))
	fi
fi

# ---- the fuzz stage: each libFuzzer target for a while, one TAP line each ----
if [ "$fuzz" = yes ]; then
	say "fuzz: tests/fuzz/run.sh $fuzz_seconds (each target $fuzz_seconds s, two at a time)"
	mkdir -p "$ROOT/_build/fuzz"
	tap "fuzz" "$ROOT/_build/fuzz/run.log" "$ROOT/tests/fuzz/run.sh" "$fuzz_seconds"
fi

# ---- the packaging stage ----
# Each check counts as one pass or one failure; a TAP script counts one
# per test. Logs go to _build/packaging/*.log, and a failure shows its log.
pkg_dir="$ROOT/_build/packaging"

# pkg_log NAME: sets $log to the log file of a check.
pkg_log() {
	log="$pkg_dir/$(printf '%s' "$1" | tr -c 'A-Za-z0-9' '-').log"
}

# pkg_check NAME COMMAND...: one check; $log is its log afterwards.
pkg_check() {
	local name=$1
	shift
	pkg_log "$name"
	say "packaging: $name"
	if "$@" >"$log" 2>&1; then
		passed=$((passed + 1))
		summary+=("packaging: $name: ok")
		return 0
	fi
	tail -n 40 "$log"
	failed=$((failed + 1))
	summary+=("packaging: $name: FAILED (see $log)")
	return 1
}

# pkg_tap NAME COMMAND...: a TAP script of the packaging stage.
pkg_tap() {
	local name=$1
	shift
	pkg_log "$name"
	say "packaging: $name"
	tap "packaging: $name" "$log" "$@"
}

deb=
if [ "$packaging" = yes ] && [ -x "$ROOT/_build/default/zaaklink" ]; then
	rm -rf "$pkg_dir" && mkdir -p "$pkg_dir"
	version=$(sed -n 's/^PACKAGE_VERSION = //p' "$ROOT/_build/default/Makefile")
	tarball="$ROOT/_build/default/zaaklink-$version.tar.gz"
	pkg_check "man pages format without warnings (groff -ww)" make -C "$ROOT/_build/default" -s check-man
	pkg_tap "sd_notify and SIGHUP reload" "$ROOT/packaging/tests/notify-reload.sh" "$ROOT/_build/default/zaaklink"
	pkg_tap "the postinst and a conffile that is a symbolic link" \
		"$ROOT/packaging/tests/postinst-conffile.sh"
	# The suite above ran the integration tests on these very sources; here
	# distcheck proves the tarball builds, installs and uninstalls on its
	# own, with the unit tests (the whole suite there takes minutes more).
	pkg_check "make distcheck (unit tests)" \
		make -C "$ROOT/_build/default" distcheck TESTS='$(UNIT_TESTS)'
	if pkg_check "make dist" make -C "$ROOT/_build/default" -s dist; then
		if pkg_check "build the .deb (packaging/build-deb.sh)" \
			"$ROOT/packaging/build-deb.sh" --tarball "$tarball" --outdir "$pkg_dir"; then
			deb=$(tail -n 1 "$log") # build-deb.sh prints the .deb last
			pkg_check "lintian: no errors, no warnings" \
				lintian --pedantic --display-info --fail-on error,warning "$pkg_dir"/zaaklink_*.changes
			sudo=
			[ "$(id -u)" = 0 ] || sudo=sudo
			pkg_tap "the .deb installed, upgraded, removed, purged" \
				$sudo "$ROOT/packaging/tests/deb-lifecycle.sh" "$deb"
			pkg_tap "the .deb's service under a booted systemd" \
				$sudo "$ROOT/packaging/tests/systemd-boot.sh" "$deb"
		fi
		if pkg_check "build the RPM (packaging/build-rpm.sh)" \
			"$ROOT/packaging/build-rpm.sh" --tarball "$tarball" --outdir "$pkg_dir" &&
			[ -n "$deb" ]; then
			rpm=$(tail -n 1 "$log")
			pkg_tap "the RPM holds the files of the .deb" \
				"$ROOT/packaging/tests/rpm-contents.sh" "$rpm" "$deb"
		fi
	fi
elif [ "$packaging" = yes ]; then
	summary+=("packaging: not run, as the default build failed")
fi

say "stopping the servers"
zl_rabbit_stop "$ZL_TMP/rabbit"
zl_pg_stop "$ZL_TMP/pg"

for line in "${summary[@]}"; do
	say "$line"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
