#!/bin/bash
# The state in PostgreSQL (state.conninfo): the main flows as with a state
# file (an initial announce, a change, a delete; run and a restart that
# announces nothing again; status --json), the role zaaklink needing no
# right beyond CREATE on its state database, state.path and state.conninfo
# together refused, the warning when the state is in Open Klant's own
# database, and `state copy` moving a state file there without any link
# announced again and with the outbox's seqs going on where the file's
# stopped.
. "$(dirname "$0")/../lib.sh"
zl_require_tools
zl_servers_up
export ZL_TEST_STATE=pg

zl_fixture_new
conf=$ZL_TMP/zaaklink.conf
state=$ZL_TMP/state.db
log=$ZL_TMP/zaaklink.log
zl_conf "$conf" "$db" "$state" "$ex" 'events.initial_sync = "announce";'
sdb=$(zl_state_db "$db")
schema=$(zl_state_schema "$state")

kc=$(zl_kc "$db" "Aanvraag parkeervergunning")
za=$(zl_uuid) zb=$(zl_uuid)
oa=$(zl_ow "$db" "$kc" "$za")
zl_ow "$db" "$kc" "$zb" >/dev/null

# ---- once: announce, change, delete ----
rc=0; zl_once "$conf" "$log" || rc=$?
f1=$(zl_drain "$q" 2 10)
is "$rc $(zl_types "$f1")" "0 gekoppeld gekoppeld" "once on PostgreSQL state: the initial announce"
is "$(zl_sql "$sdb" "SELECT count(*) FROM $schema.link")" 2 "the links are in the state schema"
is "$(zl_sql "$sdb" "SELECT version FROM $schema.schema_version")" 2 \
	"the schema was created and migrated by the role zaaklink"
ok "no state file is written" test ! -e "$state"
unlike "$(cat "$log")" "state\\.shared_database" "a state database of its own: no shared-database warning"
unlike "$(cat "$log")" "password=zaaklink" "the state conninfo's password is not logged"

zl_sql "$db" "UPDATE klantinteracties_klantcontact SET onderwerp = 'Melding geluidsoverlast' WHERE id = $kc"
rc=0; zl_once "$conf" "$log" || rc=$?
f2=$(zl_drain "$q" 4 10)
is "$rc $(zl_types "$f2")" "0 ontkoppeld ontkoppeld gekoppeld gekoppeld" \
	"a label change: ontkoppeld, then gekoppeld for each link"
zl_sql "$db" "DELETE FROM klantinteracties_onderwerpobject WHERE id = $oa"
rc=0; zl_once "$conf" "$log" || rc=$?
f3=$(zl_drain "$q" 1 10)
is "$rc $(zl_types "$f3")" "0 ontkoppeld" "a delete: one ontkoppeld"
is "$(zl_jq "$f3" 'ev.subject')" "$za" "the ontkoppeld names the deleted link's zaak"

# ---- run, restart: nothing announced again ----
passes=$(zl_passes "$conf")
zl_run_bg "$conf" "$log"
pid=$ZL_PID
ok "run on PostgreSQL state: two passes ran" zl_wait_for 30 zl_passes_reach "$conf" "$((passes + 2))"
zc=$(zl_uuid)
zl_ow "$db" "$kc" "$zc" >/dev/null
f4=$(zl_drain "$q" 1 15)
is "$(zl_types "$f4") $(zl_jq "$f4" 'ev.subject')" "gekoppeld $zc" "run: a new link is published"
rc=0; zl_stop "$pid" || rc=$?
is "$rc" 0 "run stops cleanly on SIGTERM"
like "$(cat "$log")" "msg=daemon\\.started .*state=\"schema $schema at " "daemon.started names the schema"

passes=$(zl_passes "$conf")
zl_run_bg "$conf" "$log"
pid=$ZL_PID
ok "run again: two passes ran" zl_wait_for 30 zl_passes_reach "$conf" "$((passes + 2))"
f=$(zl_drain "$q" "" 1)
is "$(zl_count "$f")" 0 "after a restart nothing is announced again"

# The state connection cut under the running daemon: it is a standby for
# a moment, takes the lock again on a new connection, and goes on.
zl_sql "$sdb" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE application_name = 'zaaklink pid $pid'" >/dev/null
ze=$(zl_uuid)
zl_ow "$db" "$kc" "$ze" >/dev/null
f5=$(zl_drain "$q" 1 20)
is "$(zl_types "$f5") $(zl_jq "$f5" 'ev.subject')" "gekoppeld $ze" \
	"state connection cut under run: reconnected, the next link published"
ok "the lost connection is logged" zl_wait_log 'msg=leader\.lost ' 10
ok "and the lock taken again on a new one" zl_wait_log 'msg=leader\.acquired .*waited_ms=' 10

# A second writer on the same schema is refused while the first runs.
out=$(zl_zl -c "$conf" once 2>&1); rc=$?
is "$rc" 75 "once beside run: exit 75"
like "$out" "in use by another zaaklink process \\(pid $pid\\)" "once beside run names the daemon's pid"
rc=0; zl_stop "$pid" || rc=$?
is "$rc" 0 "run stops cleanly again"

# ---- status --json ----
js=$(zl_status_json "$conf")
is "$(jq -r '.state_backend' <<<"$js")" postgresql "status --json: state_backend postgresql"
is "$(jq -r '.state_schema' <<<"$js")" "$schema" "status --json: state_schema"
is "$(jq -r '.state_exists' <<<"$js")" true "status --json: the state exists"
is "$(jq -r '.pending' <<<"$js")" 0 "status --json: nothing pending"
is "$(jq -r '.links' <<<"$js")" 3 "status --json: three published links"
unlike "$js" "password=zaaklink" "status --json masks the state password"
zl_conf "$ZL_TMP/fresh.conf" "$db" "$ZL_TMP/fresh.db" "$ex"
js=$(zl_status_json "$ZL_TMP/fresh.conf")
is "$(jq -r '.state_exists' <<<"$js")" false "status --json on a schema never created: no state yet"
is "$(zl_sql "$sdb" "SELECT count(*) FROM pg_namespace WHERE nspname = '$(zl_state_schema "$ZL_TMP/fresh.db")'")" 0 \
	"status created no schema"

# ---- exactly one of state.path and state.conninfo ----
both=$ZL_TMP/both.conf
zl_conf "$both" "$db" "$state" "$ex" "state.path = \"$state\";"
out=$(zl_zl -c "$both" check-config 2>&1); rc=$?
is "$rc" 78 "state.path and state.conninfo together: exit 78"
like "$out" "$both:[0-9]+: state: state\\.path and state\\.conninfo are both set" \
	"the message names FILE:LINE and the state group"
ZL_TEST_STATE=sqlite zl_conf "$ZL_TMP/file.conf" "$db" "$state" "$ex"
out=$(ZAAKLINK_STATE_CONNINFO="host=127.0.0.1 dbname=x" zl_zl -c "$ZL_TMP/file.conf" check-config 2>&1); rc=$?
is "$rc" 78 "ZAAKLINK_STATE_CONNINFO with a file's state.path: exit 78"

# ---- a database in recovery ----
# pg_is_in_recovery() is true only on a standby: a primary of our own (the
# shared server grants no replication) and a streaming standby of it.
standby_up() {
	local saved=$PGPORT bindir primary dir=$ZL_TMP/replica
	bindir=$(_zl_pg_bindir) || return 1
	zl_pg_start "$dir/primary" || return 1
	primary=$PGPORT
	export PGPORT=$saved ZL_TEST_PGPORT=$saved
	mkdir -p "$dir/standby" && chmod 700 "$dir/standby" || return 1
	[ "$(id -u)" = 0 ] && chown postgres: "$dir" "$dir/standby"
	_zl_as_pg sh -c "echo 'host replication postgres 127.0.0.1/32 trust' >>'$dir/primary/data/pg_hba.conf'" &&
		_zl_as_pg "$bindir/pg_ctl" -D "$dir/primary/data" reload >/dev/null &&
		_zl_as_pg "$bindir/pg_basebackup" -h 127.0.0.1 -p "$primary" -U postgres -D "$dir/standby/data" \
			-R -X stream >"$dir/basebackup.log" 2>&1 || return 1
	standby_port=$(zl_free_port) || return 1
	zl_on_exit "_zl_as_pg '$bindir/pg_ctl' -D '$dir/standby/data' -m immediate stop >/dev/null 2>&1"
	_zl_as_pg "$bindir/pg_ctl" -D "$dir/standby/data" -l "$dir/standby/server.log" -w -t 60 \
		-o "-p $standby_port -k $dir/standby" start >/dev/null 2>&1
}
if standby_up; then
	rconf=$ZL_TMP/replica.conf
	zl_conf "$rconf" "$db" "$ZL_TMP/replica.db" "$ex" \
		"state.conninfo = \"host=127.0.0.1 port=$standby_port dbname=postgres user=postgres\";"
	out=$(zl_zl -c "$rconf" once 2>&1); rc=$?
	is "$rc" 73 "a state database in recovery (a standby) is refused: exit 73"
	like "$out" "state database postgres is in recovery \\(a standby\\)" "with a one-line reason"
else
	skip 2 "could not start a standby here (see $ZL_TMP/replica)"
fi

# ---- the state in Open Klant's own database ----
zl_sql "$db" "GRANT CREATE ON DATABASE \"$db\" TO zaaklink"
shared=$ZL_TMP/shared.conf
zl_conf "$shared" "$db" "$ZL_TMP/shared.db" "$ex" \
	"state.conninfo = \"host=127.0.0.1 port=$PGPORT dbname=$db user=zaaklink password=zaaklink\";"
slog=$ZL_TMP/shared.log
rc=0; zl_once "$shared" "$slog" || rc=$?
is "$rc" 0 "once with the state in the source database"
like "$(cat "$slog")" "level=warning msg=state\\.shared_database .*Open Klant's own database" \
	"the shared database is warned about"
is "$(grep -c 'msg=state\.shared_database' "$slog")" 1 "once, at start"
zl_drain "$q" "" 1 >/dev/null

# ---- state copy: from a state file into an empty PostgreSQL state ----
file_conf=$ZL_TMP/copy-file.conf
pg_conf=$ZL_TMP/copy-pg.conf
ZL_TEST_STATE=sqlite zl_conf "$file_conf" "$db" "$ZL_TMP/copy.db" "$ex" 'events.initial_sync = "announce";'
zl_conf "$pg_conf" "$db" "$ZL_TMP/copy.db" "$ex" 'events.initial_sync = "announce";'
links=$(zl_sql "$db" "SELECT count(*) FROM klantinteracties_onderwerpobject")
rc=0; zl_once "$file_conf" "$log" || rc=$?
f=$(zl_drain "$q" "$links" 10)
is "$rc $(zl_count "$f")" "0 $links" "once on a state file announces the $links links"
zd=$(zl_uuid)
zl_ow "$db" "$kc" "$zd" >/dev/null
out=$(zl_zl -c "$pg_conf" state copy --from "$ZL_TMP/copy.db" 2>&1); rc=$?
is "$rc" 0 "state copy into an empty PostgreSQL state: exit 0"
like "$out" "copied $links links" "state copy says what it copied"
ok "the file is left where it was" test -s "$ZL_TMP/copy.db"
hw=$(sqlite3 -readonly "$ZL_TMP/copy.db" "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
like "$(zl_sql "$sdb" "SELECT pg_sequence_last_value('$(zl_state_schema "$ZL_TMP/copy.db").outbox_seq_seq')")" \
	"^$hw\$" "state copy carries the file's highest seq ($hw) into the PostgreSQL state"
rc=0; zl_once "$pg_conf" "$log" || rc=$?
f=$(zl_drain "$q" 1 10)
is "$rc $(zl_types "$f") $(zl_jq "$f" 'ev.subject')" "0 gekoppeld $zd" \
	"once on the copied state: only the link created since, none announced again"
is "$(zl_jq "$f" '.headers["zaaklink-seq"]')" "$((hw + 1))" \
	"its zaaklink-seq goes on above every seq the file handed out"
out=$(zl_zl -c "$pg_conf" state copy --from "$ZL_TMP/copy.db" 2>&1); rc=$?
is "$rc" 73 "state copy into a state that is not empty: exit 73"
like "$out" "is not empty .*refusing to copy into it" "and says why"
out=$(zl_zl -c "$file_conf" state copy --from "$ZL_TMP/copy.db" 2>&1); rc=$?
is "$rc" 78 "state copy without state.conninfo: exit 78"
like "$out" "state copy needs state\.conninfo" "and says why"

done_testing
