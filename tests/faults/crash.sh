#!/bin/bash
# Fault 1, crash: `zaaklink run` is killed with SIGKILL at random moments
# while it announces a database of links and while the test inserts,
# updates and deletes rows, and is restarted each time. At the end the
# events the queue received must be exactly what the database changes
# require (docs/EVENTS.md 4), with duplicates only as republished event ids
# (the same body and zaaklink-seq), at most one publish batch per crash.
#
# The oracle. The test writes every row it changes itself, one statement
# at a time, and keeps a history: the rows as they were before zaaklink
# first ran (read once from the database), then every state the test put
# a row into, in the order of the statements. zaaklink compares states
# between passes, so it sees some subsequence of that history, always
# ending with the final state. For each onderwerpobject (its linkTo) the
# distinct events received, in the order they first arrived, must
# therefore be the diff of such a subsequence: gekoppeld(P) only while
# nothing is linked and only for a link state P the row really had, later
# than the state matched before; ontkoppeld only of the payload of the
# gekoppeld before it and only when a later state differs from it; and
# after the last event the published link must be the final state (or
# none when the row is no link). Anything missing breaks that chain or
# the final state, anything extra breaks the alternation or matches no
# state. The payload of a state is computed here from the raw columns by
# the rules of docs/EVENTS.md 3, not taken from zaaklink.
#
# Sizes (environment): ZL_FAULT_CRASH_LINKS (20000 links announced),
# ZL_FAULT_CRASH_KILLS (12 SIGKILLs), ZL_FAULT_CRASH_OPS (300 changes made
# while zaaklink runs), ZL_FAULT_CRASH_GAP (0.1 s between two changes),
# ZL_FAULT_BATCH (amqp.batch_size, 500), ZL_FAULT_CHUNK (source.chunk_size,
# 1000), ZL_FAULT_SEED (random seed).
#
# Before the changes start, on a state file and exchange of their own, one
# more SIGKILL lands in the middle of a first sync, which commits its links
# in chunks and publishes each before it reads the next: the test waits
# until the state file holds links but no checkpoint, kills, and checks
# that the restart goes on from the last chunk (it records only the links
# not recorded yet) instead of starting over, and that every link is
# announced, none twice but as one republished batch.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
zl_require_tools sqlite3
zl_servers_up

N=${ZL_FAULT_CRASH_LINKS:-20000}
KILLS=${ZL_FAULT_CRASH_KILLS:-12}
OPS=${ZL_FAULT_CRASH_OPS:-300}
GAP=${ZL_FAULT_CRASH_GAP:-0.1}
BATCH=${ZL_FAULT_BATCH:-500}
CHUNK=${ZL_FAULT_CHUNK:-1000}
SEED=${ZL_FAULT_SEED:-$$}
RANDOM=$SEED
note "seed $SEED (ZL_FAULT_SEED=$SEED repeats this run): $N links, $KILLS kills, $OPS changes, batch $BATCH"

zl_fixture_new
conf=$ZL_TMP/zaaklink.conf
state=$ZL_TMP/state.db
log=$ZL_TMP/zaaklink.log
hist=$ZL_TMP/history.jsonl
zl_conf "$conf" "$db" "$state" "$ex" 'events.initial_sync = "announce";' \
	"amqp.batch_size = $BATCH;" 'amqp.max_backoff = 1.0;' 'source.poll_interval = 0.3;'

# N links, one klantcontact each; every other one has a nummer.
zl_sql "$db" "
INSERT INTO klantinteracties_klantcontact
	(id, uuid, nummer, kanaal, onderwerp, inhoud, taal, vertrouwelijk, plaatsgevonden_op,
	 metadata, reactie, hoofd_onderwerp_type, verdere_actie_ondernomen)
SELECT g, gen_random_uuid(), CASE WHEN g % 2 = 0 THEN 'A' || g END, 'telefoon',
	'Onderwerp ' || g, '', 'nld', false, now(), '{}', '', '', false
FROM generate_series(1, $N) g;
INSERT INTO klantinteracties_onderwerpobject
	(id, uuid, klantcontact_id, was_klantcontact_id,
	 onderwerpobjectidentificator_code_objecttype,
	 onderwerpobjectidentificator_code_soort_object_id,
	 onderwerpobjectidentificator_object_id,
	 onderwerpobjectidentificator_code_register)
SELECT g, gen_random_uuid(), g, NULL, 'zaak', 'uuid', gen_random_uuid()::text, 'open-zaak'
FROM generate_series(1, $N) g;" >/dev/null || bail "cannot load the fixture"

# The history starts with the rows as they are now.
zl_sql "$db" "SELECT json_build_object('row', o.id, 'uuid', o.uuid, 'link', true,
		'zaak', o.onderwerpobjectidentificator_object_id, 'onderwerp', k.onderwerp,
		'nummer', k.nummer)
	FROM klantinteracties_onderwerpobject o JOIN klantinteracties_klantcontact k
	ON k.id = o.klantcontact_id ORDER BY o.id" >"$hist" || bail "cannot read the fixture back"

# ---- the changes: a plan of SQL statements and the history they make ----
declare -A uuid zaak onderwerp nummer islink
rows=()
while IFS=' ' read -r r u z; do
	uuid[$r]=$u zaak[$r]=$z onderwerp[$r]="Onderwerp $r" islink[$r]=1
	if ((r % 2 == 0)); then nummer[$r]="A$r"; else nummer[$r]=; fi
	rows+=("$r")
done < <(zl_sql "$db" "SELECT id || ' ' || uuid || ' ' || onderwerpobjectidentificator_object_id
	FROM klantinteracties_onderwerpobject ORDER BY id")

next_row=$((N + 1))
plan=$ZL_TMP/changes.sql
: >"$plan"
newuuid() { local u; read -r u </proc/sys/kernel/random/uuid; echo "$u"; }
record() {
	local r=$1 nj=null
	[ -n "${nummer[$r]}" ] && nj="\"${nummer[$r]}\""
	printf '{"row":%d,"uuid":"%s","link":%s,"zaak":"%s","onderwerp":"%s","nummer":%s}\n' \
		"$r" "${uuid[$r]}" "$([ "${islink[$r]}" = 1 ] && echo true || echo false)" \
		"${zaak[$r]}" "${onderwerp[$r]}" "$nj" >>"$hist"
}
declare -A counts
for ((k = 1; k <= OPS; k++)); do
	p=$((RANDOM % 100))
	r=${rows[$(((RANDOM * 32768 + RANDOM) % ${#rows[@]}))]}
	if ((p < 20)); then
		op=insert r=$next_row
		next_row=$((next_row + 1))
		uuid[$r]=$(newuuid) zaak[$r]=$(newuuid) onderwerp[$r]="Nieuw $r" islink[$r]=1
		nummer[$r]=
		((RANDOM % 2)) && nummer[$r]="B$r"
		rows+=("$r")
		cat >>"$plan" <<-SQL
			BEGIN;
			INSERT INTO klantinteracties_klantcontact
				(id, uuid, nummer, kanaal, onderwerp, inhoud, taal, vertrouwelijk, plaatsgevonden_op,
				 metadata, reactie, hoofd_onderwerp_type, verdere_actie_ondernomen)
				VALUES ($r, gen_random_uuid(), $([ -n "${nummer[$r]}" ] && echo "'${nummer[$r]}'" || echo NULL),
				 'telefoon', '${onderwerp[$r]}', '', 'nld', false, now(), '{}', '', '', false);
			INSERT INTO klantinteracties_onderwerpobject (id, uuid, klantcontact_id, was_klantcontact_id,
				 onderwerpobjectidentificator_code_objecttype, onderwerpobjectidentificator_code_soort_object_id,
				 onderwerpobjectidentificator_object_id, onderwerpobjectidentificator_code_register)
				VALUES ($r, '${uuid[$r]}', $r, NULL, 'zaak', 'uuid', '${zaak[$r]}', 'open-zaak');
			COMMIT;
		SQL
	elif [ -z "${uuid[$r]}" ]; then
		continue # deleted before
	elif ((p < 50)); then
		op=label
		onderwerp[$r]="Onderwerp $r versie $k"
		nummer[$r]=
		((RANDOM % 2)) && nummer[$r]="C$k"
		echo "UPDATE klantinteracties_klantcontact SET onderwerp = '${onderwerp[$r]}', nummer = $([ -n "${nummer[$r]}" ] && echo "'${nummer[$r]}'" || echo NULL) WHERE id = $r;" >>"$plan"
	elif ((p < 70)); then
		op=zaak
		zaak[$r]=$(newuuid)
		echo "UPDATE klantinteracties_onderwerpobject SET onderwerpobjectidentificator_object_id = '${zaak[$r]}' WHERE id = $r;" >>"$plan"
	elif ((p < 88)); then
		op=toggle
		if [ "${islink[$r]}" = 1 ]; then islink[$r]=0 t=klant; else islink[$r]=1 t=zaak; fi
		echo "UPDATE klantinteracties_onderwerpobject SET onderwerpobjectidentificator_code_objecttype = '$t' WHERE id = $r;" >>"$plan"
	else
		op=delete
		echo "DELETE FROM klantinteracties_onderwerpobject WHERE id = $r;" >>"$plan"
		islink[$r]=0
		record "$r"
		uuid[$r]=
		counts[$op]=$((${counts[$op]:-0} + 1))
		echo "SELECT pg_sleep($GAP);" >>"$plan"
		continue
	fi
	counts[$op]=$((${counts[$op]:-0} + 1))
	record "$r"
	echo "SELECT pg_sleep($GAP);" >>"$plan"
done
note "changes: ${counts[insert]:-0} inserts, ${counts[label]:-0} label updates," \
	"${counts[zaak]:-0} zaak updates, ${counts[toggle]:-0} link/unlink, ${counts[delete]:-0} deletes"

# ---- run, kill, restart ----
pending_in_state() {
	sqlite3 -readonly "$state" 'SELECT count(*) FROM outbox' 2>/dev/null || echo '?'
}
t_start=$SECONDS
# ---- a kill in the middle of the chunked first sync ----
# On a state file and an exchange of its own (no binding: its events go to
# the exchange's unrouted queue), before the changes start.
mid_state=$ZL_TMP/mid.db
mid_conf=$ZL_TMP/mid.conf
zl_conf "$mid_conf" "$db" "$mid_state" "$ex.mid" 'events.initial_sync = "announce";' \
	"amqp.batch_size = $BATCH;" "source.chunk_size = $CHUNK;"
zl_run_bg "$mid_conf" "$log"
mid_seen=0
zl_wait_for 60 zl_mid_sync "$mid_state" && mid_seen=1
kill -KILL "$ZL_PID" 2>/dev/null
rc=0; wait "$ZL_PID" 2>/dev/null || rc=$?
read -r mid_cp mid_links < <(zl_sync_state "$mid_state")
is "$mid_seen/$rc" 1/137 "a SIGKILL landed while the first sync had committed chunks (exit status $rc)"
cmp_ok "$mid_cp/$(((mid_links > 0) + (mid_links < N)))" = "0/2" \
	"at the kill the first sync was half done: $mid_links of $N links recorded, no checkpoint"
zl_run_bg "$mid_conf" "$log"
zl_wait_log 'msg=pass.done ' 120 || diag "the pass after the mid-sync kill did not end"
zl_wait_for 60 zl_outbox_empty "$mid_state" || diag "the mid-sync announce was not published"
zl_stop "$ZL_PID" >/dev/null
resumed=$(tail -n +"$((ZL_RUN_LOG_FROM + 1))" "$log" | grep -m1 'msg=pass.done ')
resumed_events=$(sed -n 's/.* events=\([0-9]*\) .*/\1/p' <<<"$resumed")
like "$resumed" 'initial=true' "the restart finished the first sync"
is "${resumed_events:-?}" "$((N - mid_links))" \
	"and went on from the last chunk: it recorded the $((N - mid_links)) links not recorded yet"
f=$(zl_drain "$ex.mid.unrouted" "" 5)
mid_total=$(zl_count "$f")
mid_dups=$((mid_total - $(zl_jq "$f" '.message_id' | sort -u | wc -l)))
is "$(zl_jq "$f" '.body | fromjson | .data.linkTo' | sort -u | wc -l)" "$N" \
	"every link was announced ($mid_total messages)"
cmp_ok "$((mid_total - N))/$mid_dups" = "$mid_dups/$mid_dups" \
	"and none twice but as a republished event id ($mid_dups)"
cmp_ok "$mid_dups" -le "$BATCH" "at most one batch ($BATCH) republished after the kill"

zl_run_bg "$conf" "$log"
sleep 1
_zl_psql "$db" -f "$plan" >/dev/null 2>"$ZL_TMP/changes.err" &
feeder=$!
echo "$feeder" >>"$ZL_TMP/pids"
# Every other kill waits for the state it is meant to hit: events
# recorded in the outbox and not yet confirmed. The first waits up to 60 s
# (the announce of N links always gets there), so at least one crash lands
# while publishing however fast the machine; later ones wait up to 10 s,
# then kill anyway. The others come at a random moment, 0.2 to 4 s after
# the (re)start, wherever that falls: reading, recording or idle.
# has_pending: true when the state file holds events not yet confirmed.
has_pending() { local p; p=$(pending_in_state); [ "$p" != '?' ] && [ "$p" -gt 0 ]; }
kills=0 kills_pending=0 kills_observed=0 kill_log= kill_rcs=
for ((i = 0; i < KILLS; i++)); do
	if ((i % 2 == 0)); then
		zl_wait_for "$([ "$i" = 0 ] && echo 60 || echo 10)" has_pending &&
			kills_observed=$((kills_observed + 1))
	else
		sleep "$((RANDOM % 38 + 2))e-1"
	fi
	kill -KILL "$ZL_PID" 2>/dev/null
	rc=0; wait "$ZL_PID" 2>/dev/null || rc=$?
	# 137: the SIGKILL ended the daemon; anything else means it had
	# exited before (a crash of its own, or a stop) and the kill missed.
	[ "$rc" = 137 ] && kills=$((kills + 1))
	kill_rcs+="$rc "
	pend=$(pending_in_state)
	[ "$pend" != '?' ] && [ "$pend" -gt 0 ] && kills_pending=$((kills_pending + 1))
	kill_log+="$pend "
	zl_run_bg "$conf" "$log"
done
wait "$feeder" 2>/dev/null
feeder_rc=$?
is "$feeder_rc" 0 "the $OPS changes were all applied ($(cat "$ZL_TMP/changes.err" | head -n 3))"
# Converged: two passes after the last change, then nothing pending.
converged() {
	zl_passes_reach "$conf" "$1" && [ "$(pending_in_state)" = 0 ]
}
zl_wait_for 120 converged "$(($(zl_passes "$conf") + 2))" || diag "no convergence within 120 s"
rc=0; zl_stop "$ZL_PID" || rc=$?
is "$rc" 0 "the last run stops cleanly"
took=$((SECONDS - t_start))
is "$kills" "$KILLS" "every SIGKILL ended a running daemon (exit status of each: $kill_rcs; $took s in all)"
cmp_ok "$kills_observed" -ge 1 "the first kill came once the outbox held events ($kills_observed of $(((KILLS + 1) / 2)) waited for it)"
note "events still in the outbox at each kill: $kill_log"
cmp_ok "$kills_pending" -ge 1 "at least one kill came while events were waiting to be published ($kills_pending)"
is "$(pending_in_state)" 0 "nothing left in the outbox"
is "$(grep -c 'state.*corrupt\|malformed' "$log")" 0 "the state file survived every kill"
is "$(sqlite3 -readonly "$state" 'pragma integrity_check')" ok "sqlite3 integrity_check: ok"

# ---- what arrived ----
f=$(zl_drain "$q" "" 5)
total=$(zl_count "$f")
distinct=$(zl_jq "$f" '.message_id' | sort -u | wc -l)
dups=$((total - distinct))
note "received $total messages, $distinct distinct event ids, $dups duplicates"
is "$(zl_jq "$f" 'select(.message_id != ev.id) | .message_id' | head -n 3)" "" "message_id is the CloudEvent id"
is "$(zl_jqs "$f" 'group_by(.message_id) | map(select((map(.body) | unique | length) > 1)) | length')" 0 \
	"every duplicate is a republish: same event id, same body"
is "$(zl_jqs "$f" 'group_by(.message_id) | map(map(.headers["zaaklink-seq"]) | unique
	| select(length != 1 or (.[0] | type) != "number")) | length')" 0 \
	"every message has zaaklink-seq, and a republish the one of its first publish"
is "$(zl_jqs "$f" 'reduce .[] as $m ({seen: {}, seqs: []}; if .seen[$m.message_id] then .
	else .seen[$m.message_id] = true | .seqs += [$m.headers["zaaklink-seq"]] end) | .seqs
	| . as $s | [range(1; length) | select($s[.] <= $s[. - 1])] | length')" 0 \
	"zaaklink-seq increases strictly from each event to the next first published"
cmp_ok "$dups" -le "$((kills * BATCH))" "duplicates ($dups) at most one batch ($BATCH) per crash ($kills)"

# The oracle (see the top of this file): tests/faults/oracle.jq.
verdict=$(jq -n -r -f "$(dirname "$0")/oracle.jq" --slurpfile h "$hist" --slurpfile m "$f" \
	--arg base "https://openklant.example.nl/klantinteracties/api/v1/onderwerpobjecten/") ||
	verdict="the oracle (jq) failed"
is "$verdict" "" "the events received are exactly those the changes require (nothing missing, nothing extra)"
expected_links=$(zl_sql "$db" "SELECT count(*) FROM klantinteracties_onderwerpobject
	WHERE onderwerpobjectidentificator_code_objecttype = 'zaak' AND klantcontact_id IS NOT NULL")
is "$(zl_jqs "$f" 'map(.body | fromjson) | unique_by(.id)
	| (map(select(.type | endswith("-gekoppeld"))) | length) - (map(select(.type | endswith("-ontkoppeld"))) | length)')" "$expected_links" \
	"gekoppeld minus ontkoppeld equals the links in the database ($expected_links)"

{
	echo "fault=crash kills=$kills kills_with_pending=$kills_pending mid_sync_kill_links=$mid_links changes=$OPS links=$N"
	echo "fault=crash received=$total distinct=$distinct duplicates=$dups lost=$([ -z "$verdict" ] && echo 0 || echo '?') seconds=$took"
} >>"${ZL_FAULT_FIGURES:-/dev/null}"
done_testing
