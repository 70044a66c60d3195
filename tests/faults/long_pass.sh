#!/bin/bash
# Fault 9, a long first pass: the first sync of a large database reads
# thousands of ranges. SIGTERM in the middle of it must end the daemon
# within a few seconds, exit 0, with nothing of the pass recorded or
# published (the stop comes before the first chunk of source.chunk_size
# links is committed); the next start does the pass again and announces
# every link once. A stop after some chunks keeps them, and the next start
# goes on from there. While a pass runs, WATCHDOG=1 must keep reaching the
# service manager (a stand-in notify socket), at most every
# WATCHDOG_USEC / 4.
#
# Sizes (environment): ZL_FAULT_PASS_LINKS (60000), ZL_FAULT_PASS_RANGE
# (source.range_size, 16): 3750 ranges, a first sync of several seconds;
# the test says so when the machine is too fast for that.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
zl_require_tools sqlite3
zl_servers_up
N=${ZL_FAULT_PASS_LINKS:-60000}
SIZE=${ZL_FAULT_PASS_RANGE:-16}

zl_fixture_new
conf=$ZL_TMP/zaaklink.conf
state=$ZL_TMP/state.db
log=$ZL_TMP/zaaklink.log
zl_conf "$conf" "$db" "$state" "$ex" 'events.initial_sync = "announce";' \
	"source.range_size = $SIZE;" 'log.level = "debug";'
{ zl_links_bulk "$db" "$N" && zl_sql "$db" "ANALYZE" >/dev/null; } || bail "cannot load the fixture"
zl_sql "$db" "SELECT onderwerpobjectidentificator_object_id FROM klantinteracties_onderwerpobject" >"$ZL_TMP/ids"

ranges_read() { [ "$(tail -n +"$((ZL_RUN_LOG_FROM + 1))" "$log" | grep -c 'msg=pass.range ')" -ge "$1" ]; }
state_rows() {
	sqlite3 -readonly "$state" "SELECT (SELECT count(*) FROM link) || ' ' ||
		(SELECT count(*) FROM outbox) || ' ' || (SELECT count(*) FROM range_fp) || ' ' ||
		(SELECT count(*) FROM checkpoint)" 2>&1
}

# ---- SIGTERM while the first pass reads its ranges ----
zl_run_bg "$conf" "$log"
zl_wait_for 120 ranges_read 50 || bail "the first pass did not start reading ranges"
rc=0; zl_stop "$ZL_PID" || rc=$?
stop_ms=$ZL_STOP_MS
is "$rc" 0 "SIGTERM during the first pass: exit 0"
cmp_ok "$stop_ms" -le 3000 "stopped in $stop_ms ms (at most 3000)"
line=$(grep 'msg=pass.interrupted ' "$log" | tail -n 1)
like "$line" 'msg=pass.interrupted signal=15 ranges_done=[0-9]+ ranges=[0-9]+ ' \
	"the pass logged pass.interrupted"
done_n=$(sed -n 's/.* ranges_done=\([0-9]*\) .*/\1/p' <<<"$line")
total=$(sed -n 's/.* ranges=\([0-9]*\) .*/\1/p' <<<"$line")
cmp_ok "${done_n:-0}" -ge 50 "it had read the ranges seen in the log (${done_n:-?})"
cmp_ok "${done_n:-0}" -lt "${total:-0}" "the pass was cut short: ${done_n:-?} of ${total:-?} ranges read"
unlike "$(tail -n +"$((ZL_RUN_LOG_FROM + 1))" "$log" | grep 'msg=pass.done')" 'pass.done' \
	"no pass.done for the interrupted pass"
like "$(grep 'msg=daemon.stopping' "$log")" 'signal=15' "then daemon.stopping, as on any SIGTERM"
is "$(state_rows)" "0 0 0 0" "nothing of the pass in the state file (links, outbox, ranges, checkpoint)"
is "$(zl_probe count "$q")" 0 "nothing published"
is "$(sqlite3 -readonly "$state" 'pragma integrity_check')" ok "sqlite3 integrity_check: ok"

# ---- the restart does the pass again ----
zl_run_bg "$conf" "$log"
zl_wait_log 'msg=pass.done ' 600 || bail "the pass after the restart did not end"
# run publishes a batch between passes; once publishes the rest at once.
rc=0; zl_stop "$ZL_PID" || rc=$?
is "$rc" 0 "the restarted daemon stops with exit 0 after its pass"
pass=$(tail -n +"$((ZL_RUN_LOG_FROM + 1))" "$log" | grep 'msg=pass.done ' | head -n 1)
like "$pass" "initial=true" "the pass after the restart was the first sync, done again"
duration=$(sed -n 's/.* duration_ms=\([0-9]*\) .*/\1/p' <<<"$pass")
rc=0; zl_once "$conf" "$log" || rc=$?
is "$rc" 0 "once publishes what is left and exits 0"
f=$(zl_drain "$q" "$N" 120)
res=$(zl_each_once "$ZL_TMP/ids" "$f")
is "$res" "missing=0 extra=0 duplicates=0 distinct=$N" "after the restart every link is announced once"

# ---- SIGTERM after chunks of the first sync were committed ----
# With chunks of 2 000 links (source.chunk_size) the first sync commits as
# it goes and publishes each chunk before it reads the next: a stop keeps
# the chunks committed, gives up only the one being read, and the next
# start goes on from there.
cstate=$ZL_TMP/chunks.db
cconf=$ZL_TMP/chunks.conf
zl_conf "$cconf" "$db" "$cstate" "$ex" 'events.initial_sync = "announce";' \
	"source.range_size = $SIZE;" 'source.chunk_size = 2000;'
# Chunks committed, the first sync not done, and events on the queue.
some_chunks() { zl_mid_sync "$cstate" && [ "$(zl_probe count "$q")" -gt 0 ]; }
zl_run_bg "$cconf" "$log"
mid=0
zl_wait_for 120 some_chunks && mid=1
rc=0; zl_stop "$ZL_PID" || rc=$?
is "$mid" 1 "while the first sync went on, its first chunks were published"
read -r c_cp c_links < <(zl_sync_state "$cstate")
line=$(tail -n +"$((ZL_RUN_LOG_FROM + 1))" "$log" | grep 'msg=pass.interrupted ')
c_chunks=$(sed -n 's/.* chunks=\([0-9]*\) .*/\1/p' <<<"$line")
is "$rc" 0 "SIGTERM after chunks were committed: exit 0"
cmp_ok "${c_chunks:-0}" -gt 0 "pass.interrupted counts the chunks committed (${c_chunks:-?})"
cmp_ok "$c_cp/$(((c_links > 0) + (c_links < N)))" = "0/2" \
	"the chunks stay: $c_links of $N links recorded, no checkpoint"
zl_run_bg "$cconf" "$log"
zl_wait_log 'msg=pass.done ' 600 || bail "the pass after the restart did not end"
zl_stop "$ZL_PID" >/dev/null
pass=$(tail -n +"$((ZL_RUN_LOG_FROM + 1))" "$log" | grep 'msg=pass.done ' | head -n 1)
is "$(sed -n 's/.* events=\([0-9]*\) .*/\1/p' <<<"$pass")" "$((N - c_links))" \
	"the next start went on from the last chunk: $((N - c_links)) links announced"
rc=0; zl_once "$cconf" "$log" || rc=$?
f=$(zl_drain "$q" "$N" 120)
res=$(zl_each_once "$ZL_TMP/ids" "$f")
is "$rc/$res" "0/missing=0 extra=0 duplicates=0 distinct=$N" \
	"every link announced once over the two runs"

# ---- WATCHDOG=1 during a first sync ----
# The same first sync from an empty state file once more, under a watchdog
# of a quarter of the time it took above, so that it lasts several
# intervals however fast the machine is.
if ! command -v python3 >/dev/null; then
	skip 3 "python3 is not installed: no stand-in notify socket"
	done_testing
	exit
fi
watchdog_ms=$((${duration:-0} / 4))
((watchdog_ms < 100)) && watchdog_ms=100
notify=$ZL_TMP/notify
: >"$notify"
# One line per datagram (socat -u would run them together).
python3 - "$ZL_TMP/notify.sock" "$notify" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode(errors="replace").replace("\n", " | ") + "\n")
PY
echo "$!" >>"$ZL_TMP/pids"
zl_wait_for 10 test -S "$ZL_TMP/notify.sock" || bail "the notify listener did not start"
conf2=$ZL_TMP/watchdog.conf
zl_conf "$conf2" "$db" "$ZL_TMP/watchdog.db" "$ex" 'events.initial_sync = "announce";' \
	"source.range_size = $SIZE;"
export NOTIFY_SOCKET=$ZL_TMP/notify.sock WATCHDOG_USEC=$((watchdog_ms * 1000))
zl_run_bg "$conf2" "$log"
unset NOTIFY_SOCKET WATCHDOG_USEC
zl_wait_log 'msg=pass.done ' 600 || bail "the pass under the watchdog did not end"
zl_stop "$ZL_PID" >/dev/null
pass=$(tail -n +"$((ZL_RUN_LOG_FROM + 1))" "$log" | grep 'msg=pass.done ' | head -n 1)
duration2=$(sed -n 's/.* duration_ms=\([0-9]*\) .*/\1/p' <<<"$pass")
# The datagrams in the order they came: READY=1 when the pass starts, the
# STATUS= line with its figures when it ends; the pings between the two
# were sent while it ran.
pings=$(awk '/READY=1/ { on = 1; next } on && /^STATUS=.*links; last pass/ { exit }
	on && /WATCHDOG=1/ { n++ } END { print n + 0 }' "$notify")
note "first sync under WatchdogSec=${watchdog_ms} ms: ${duration2:-?} ms, WATCHDOG=1 during it: $pings"
if tail -n +"$((ZL_RUN_LOG_FROM + 1))" "$log" | grep -q 'msg=daemon.started .*watchdog_s=0\( \|$\)'; then
	skip 3 "built without libsystemd: no WATCHDOG=1 to send"
else
	cmp_ok "${duration2:-0}" -ge $((2 * watchdog_ms)) \
		"the pass outlasted the watchdog interval twice (${duration2:-?} ms, ${watchdog_ms} ms)"
	cmp_ok "$pings" -ge "$((${duration2:-0} / watchdog_ms))" \
		"WATCHDOG=1 kept coming during the pass ($pings, at least one per interval)"
	cmp_ok "$pings" -le "$((${duration2:-0} / (watchdog_ms / 4) + 1))" \
		"at most one WATCHDOG=1 per quarter interval ($pings)"
fi
zl_figures "fault=long-pass links=$N range_size=$SIZE ranges=$total interrupted_after=$done_n stop_ms=$stop_ms first_sync_ms=$duration watchdog_ms=$watchdog_ms watchdog_pings=$pings/${duration2}ms"
done_testing
