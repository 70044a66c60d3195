# Test library for zaaklink's integration tests: the one file a test
# sources. It sets the defaults below, sources the helpers, kept by
# subject in files of their own beside it,
#
#   tests/lib-tap.sh       TAP output: plan, ok, is, like, cmp_ok, diag,
#                          skip, done_testing
#   tests/lib-servers.sh   throwaway PostgreSQL and RabbitMQ servers, free
#                          ports, SQL as the superuser, test certificates
#   tests/lib-zaaklink.sh  Open Klant fixtures, the AMQP probe's side and
#                          the daemon: zl_conf, zl_run_bg, zl_wait_log,
#                          zl_drain, zl_count, ...
#
# and holds what every test gets on sourcing it: its temporary directory
# ($ZL_TMP) and the cleanup on exit. The fault-injection suite adds helpers
# of its own (tests/faults/lib.sh).
#
# Sourced (bash) by every tests/integration/*.sh and tests/faults/*.sh, by
# tests/run-all.sh, bench/run.sh and demo.sh. Environment it reads:
#
#   ZL_BIN, ZL_PROBE, ZL_PROXY, ZL_OPENZAAK, ZL_SRCDIR
#                                 set by `make check` (Makefile.am)
#   ZL_TEST_PGPORT, ZL_TEST_AMQP_URL
#                                 servers already running for the whole suite
#                                 (tests/run-all.sh); otherwise zl_servers_up
#                                 starts its own and stops them on exit
#   ZL_KEEP_TMP=1                 keep temporary directories for debugging
#   ZL_CMD_TIMEOUT                seconds a single zaaklink command may take
#                                 (default 120)
#
# Helpers that print a value (zl_db_new, zl_kc, zl_queue_new, ...) are meant
# for $(...): everything they must remember for the cleanup on exit is
# therefore kept in files under $ZL_TMP, never in shell variables.
#
# Cleanup: every process, server, database and queue started here is
# registered and undone by the EXIT trap, in reverse order, by PID.

# Defaults for running a test by hand from the source tree, after
# tests/run-all.sh has built _build/default.
ZL_SRCDIR=${ZL_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
ZL_BIN=${ZL_BIN:-$ZL_SRCDIR/_build/default/zaaklink}
ZL_PROBE=${ZL_PROBE:-$ZL_SRCDIR/_build/default/amqp-probe}
ZL_PROXY=${ZL_PROXY:-$ZL_SRCDIR/_build/default/tcp-proxy}
ZL_OPENZAAK=${ZL_OPENZAAK:-$ZL_SRCDIR/_build/default/openzaak-standin}
export ZL_SRCDIR ZL_BIN ZL_PROBE ZL_PROXY ZL_OPENZAAK
# Byte order for sort/comm, UTF-8 for the fixtures whatever the locale.
export LC_COLLATE=C PGCLIENTENCODING=UTF8

# The helpers, from the directory of this file whatever ZL_SRCDIR says.
_zl_libdir=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/lib-tap.sh
. "$_zl_libdir/lib-tap.sh"
# shellcheck source=tests/lib-servers.sh
. "$_zl_libdir/lib-servers.sh"
# shellcheck source=tests/lib-zaaklink.sh
. "$_zl_libdir/lib-zaaklink.sh"

# ------------------------------------------------------------ cleanup ----

# Commands run on exit, last registered first, one per line.
_zl_cleanup_cmds=()
_zl_cleanup_done=

# zl_on_exit CMD...: registers a cleanup command (a single string for eval),
# once. Only valid in the main shell; helpers used in $(...) write files.
zl_on_exit() {
	local c
	for c in "${_zl_cleanup_cmds[@]}"; do
		[ "$c" = "$*" ] && return 0
	done
	_zl_cleanup_cmds+=("$*")
}

_zl_cleanup() {
	local rc=$? i pid db q
	[ -n "$_zl_cleanup_done" ] && return "$rc"
	_zl_cleanup_done=1
	set +e
	# Daemons and other background processes of this test first.
	if [ -n "${ZL_TMP:-}" ] && [ -f "$ZL_TMP/pids" ]; then
		while read -r pid; do
			if kill -0 "$pid" 2>/dev/null; then
				zl_stop "$pid" >/dev/null 2>&1
			fi
		done < <(tac "$ZL_TMP/pids")
	fi
	if [ -n "${ZL_TMP:-}" ] && [ -f "$ZL_TMP/queues" ] && [ -x "${ZL_PROBE:-}" ] &&
		[ -n "${ZL_TEST_AMQP_URL:-}" ] && [ -z "${ZL_KEEP_TMP:-}" ]; then
		while read -r q; do
			timeout 10 "$ZL_PROBE" "$ZL_TEST_AMQP_URL" delete "$q" >/dev/null 2>&1
		done <"$ZL_TMP/queues"
	fi
	if [ -n "${ZL_TMP:-}" ] && [ -f "$ZL_TMP/databases" ] && [ -z "${ZL_KEEP_TMP:-}" ]; then
		while read -r db; do
			_zl_psql postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
		done <"$ZL_TMP/databases"
	fi
	for ((i = ${#_zl_cleanup_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_zl_cleanup_cmds[i]}"
	done
	return "$rc"
}

trap _zl_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# zl_tmpdir: a fresh directory under /tmp that every user (postgres) can
# traverse, removed on exit unless ZL_KEEP_TMP is set. Prints its path.
zl_tmpdir() {
	local d
	d=$(mktemp -d "${TMPDIR:-/tmp}/zaaklink-test.XXXXXX") || return 1
	chmod 755 "$d"
	echo "$d"
}

# The per-test working directory: files, logs, cleanup lists.
ZL_TMP=$(zl_tmpdir) || bail "cannot create a temporary directory"
if [ -n "${ZL_KEEP_TMP:-}" ]; then
	zl_on_exit "echo '# kept $ZL_TMP' >&2"
else
	zl_on_exit "rm -rf '$ZL_TMP'"
fi

# _zl_next: a per-test counter that also works inside $(...).
_zl_next() {
	local n=0
	[ -f "$ZL_TMP/counter" ] && n=$(<"$ZL_TMP/counter")
	n=$((n + 1))
	echo "$n" >"$ZL_TMP/counter"
	echo "$n"
}
