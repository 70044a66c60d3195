#!/bin/bash
# `zaaklink run`, the daemon as systemd runs it: polls every poll_interval
# (0.5 s here) and publishes what changed within a few seconds; idle passes
# publish nothing; SIGTERM and SIGINT stop it cleanly (exit 0) within 5 s.
. "$(dirname "$0")/../lib.sh"
zl_require_tools
zl_servers_up

zl_fixture_new
conf=$ZL_TMP/zaaklink.conf
log=$ZL_TMP/zaaklink.log
zl_conf "$conf" "$db" "$ZL_TMP/state.db" "$ex"

# ms: milliseconds since the epoch.
ms() { echo $(($(date +%s%N) / 1000000)); }

# The baseline is taken by once so that the daemon's first pass is a normal
# one; run and once share the state file.
rc=0; zl_once "$conf" "$log" || rc=$?
is "$rc" 0 "once (baseline of an empty database)"

zl_run_bg "$conf" "$log"
pid=$ZL_PID
sleep 1
ok "run is running" kill -0 "$pid"

kc=$(zl_kc "$db" "Aanvraag parkeervergunning")
z1=$(zl_uuid)
t0=$(ms)
o1=$(zl_ow "$db" "$kc" "$z1")
f=$(zl_drain "$q" 1 15)
t1=$(ms)
is "$(zl_types "$f") $(zl_jq "$f" 'ev.subject')" "gekoppeld $z1" "run: an insert is published"
cmp_ok "$((t1 - t0))" -le 5000 "run: published within 5 s of the insert (took $((t1 - t0)) ms)"

zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $o1"
f=$(zl_drain "$q" 1 15)
is "$(zl_types "$f") $(zl_jq "$f" 'ev.subject')" "ontkoppeld $z1" "run: a delete is published"

# Several changes in a row, while the daemon polls.
for _ in 1 2 3 4 5; do
	zl_ow "$db" "$kc" "$(zl_uuid)" >/dev/null
	sleep 0.3
done
f=$(zl_drain "$q" 5 15)
is "$(zl_count "$f")" 5 "run: five inserts over several polls: five gekoppeld"

# Idle: five passes without a change publish nothing.
passes=$(zl_passes "$conf")
ok "run: five idle passes ran" zl_wait_for 30 zl_passes_reach "$conf" "$((passes + 5))"
f=$(zl_drain "$q" "" 1)
is "$(zl_count "$f")" 0 "run: idle passes publish nothing"
ok "run is still running after idle passes" kill -0 "$pid"

rc=0; zl_stop "$pid" TERM || rc=$?
is "$rc" 0 "SIGTERM: exit 0"
cmp_ok "$ZL_STOP_MS" -le 5000 "SIGTERM: stopped within 5 s (took $ZL_STOP_MS ms)"

zl_run_bg "$conf" "$log"
pid=$ZL_PID
z2=$(zl_uuid)
zl_ow "$db" "$kc" "$z2" >/dev/null
f=$(zl_drain "$q" 1 15)
is "$(zl_types "$f") $(zl_jq "$f" 'ev.subject')" "gekoppeld $z2" \
	"run again: a change made while it was stopped is published"
rc=0; zl_stop "$pid" INT || rc=$?
is "$rc" 0 "SIGINT: exit 0"
cmp_ok "$ZL_STOP_MS" -le 5000 "SIGINT: stopped within 5 s (took $ZL_STOP_MS ms)"

# Right after start, in the middle of its first pass: as soon as it has
# said it started (its log line daemon.started; a fixed short delay would
# race with the program's own start-up under sanitizers or valgrind).
zl_run_bg "$conf" "$log"
pid=$ZL_PID
zl_wait_log 'daemon\.started' 10 || diag "no daemon.started line in $log within 10 s"
rc=0; zl_stop "$pid" TERM || rc=$?
is "$rc" 0 "SIGTERM right after start: exit 0"
cmp_ok "$ZL_STOP_MS" -le 5000 "SIGTERM right after start: stopped within 5 s (took $ZL_STOP_MS ms)"

f=$(zl_drain "$q" "" 1)
is "$(zl_count "$f")" 0 "nothing published twice across the restarts"
is "$(zl_pending "$conf")" 0 "status --json: nothing pending"
unlike "$(cat "$log")" "password=zaaklink|guest:guest@" "the log holds no password"

# -v stays in force after a reload, whatever log.level the file says, and
# also when the file said debug before (zaaklink(8), SIGHUP).
vconf=$ZL_TMP/verbose.conf
vlog=$ZL_TMP/verbose.log
zl_conf "$vconf" "$db" "$ZL_TMP/verbose.db" "$ex" 'log.level = "debug";'
ZL_RUN_ARGS=-v zl_run_bg "$vconf" "$vlog"
pid=$ZL_PID
zl_wait_log 'level=debug msg=pass\.done' 20 || diag "no debug pass.done line before the reload"
zl_conf "$vconf" "$db" "$ZL_TMP/verbose.db" "$ex" 'log.level = "info";'
kill -HUP "$pid"
zl_wait_log 'msg=config\.reloaded .*changed=log\.level' 10 || diag "no reload line"
after=$(wc -l <"$vlog")
passes=$(zl_passes "$vconf")
ok "-v over a reload to info: two more passes" zl_wait_for 30 zl_passes_reach "$vconf" "$((passes + 2))"
cmp_ok "$(tail -n +"$((after + 1))" "$vlog" | grep -c 'level=debug ')" -ge 1 \
	"-v over a reload to log.level = info: debug lines go on"
rc=0; zl_stop "$pid" || rc=$?
is "$rc" 0 "-v over a reload: stops cleanly"

done_testing
