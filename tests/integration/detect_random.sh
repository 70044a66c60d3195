#!/bin/bash
# Change detection against an oracle: rounds of random changes to both of
# Open Klant's tables (inserts, deletes, ids changed by raw SQL, links
# repointed to another klantcontact or none, onderwerp and nummer edited
# (every third round nothing else),
# klantcontacten deleted with their onderwerpobjecten, rows turning into and
# out of links), each followed by `zaaklink once`. After every pass:
#
#  - the links zaaklink recorded equal, column for column and label for
#    label, what PostgreSQL says the links are (computed here in SQL from
#    docs/EVENTS.md 2 and 3);
#  - replaying every message the queue received so far, in order (a
#    gekoppeld adds its linkTo, an ontkoppeld removes it and must carry the
#    payload added), gives exactly the current links: nothing missed,
#    nothing extra, no gekoppeld for a link already announced;
#  - the messages of the pass itself are those of the links that changed
#    since the previous one: an ontkoppeld and a gekoppeld per changed
#    row, nothing for an unchanged one.
#
# Some rounds do more, what a detection by row versions (xmin) could get
# wrong (round_kind): VACUUM FREEZE, VACUUM FULL, or a restore-like rewrite
# of both tables between random changes; a transaction that writes, stays
# open over two passes and commits; one that takes its xid before a pass
# and writes after it; one that edits rows in a subtransaction while a
# pass runs. Each checks that its condition held. Between range size
# changes, passes compare by written rows (xmin) where they can; the
# test counts those that did.
#
# Small ranges (16 and 17 ids, changed between rounds) make changes land in
# many ranges and on both sides of bucket 0 (negative ids). Chunks of one
# row (source.chunk_size = 1) make a pass commit after every range past the
# last stored one: the first sync, and links inserted or moved above the
# highest id stored, go out in chunks while the pass goes on.
#
#   ZL_RANDOM_ROUNDS (default 24), ZL_RANDOM_CHANGES per round (default 12),
#   ZL_RANDOM_SEED (default: from the clock; printed, to replay a failure:
#   the same changes, with other random UUIDs)
. "$(dirname "$0")/../lib.sh"
zl_require_tools
zl_servers_up

rounds=${ZL_RANDOM_ROUNDS:-24}
changes=${ZL_RANDOM_CHANGES:-12}
seed=${ZL_RANDOM_SEED:-$(($(date +%s%N) % 1000000))}
diag "seed $seed (ZL_RANDOM_SEED=$seed replays the same changes)"

zl_fixture_new
conf=$ZL_TMP/zaaklink.conf
state=$ZL_TMP/state.db
log=$ZL_TMP/zaaklink.log
base=https://openklant.example.nl
write_conf() {
	zl_conf "$conf" "$db" "$state" "$ex" "source.range_size = $1;" \
		'events.label_max_length = 0;' 'events.initial_sync = "announce";' \
		'source.chunk_size = 1;'
}

# The random changes, as one PL/pgSQL block; every change that breaks a
# constraint (a taken id, a duplicate nummer) is simply skipped.
# mutate_sql SEED LABELS_ONLY prints the block, mutate runs it.
mutate() {
	zl_sql "$db" "$(mutate_sql "$@")" >/dev/null
}
mutate_sql() {
	echo "
DO \$\$
DECLARE
	o_ids int[];
	k_ids int[];
	op int;
	o int;
	k int;
BEGIN
	PERFORM setseed(($1 % 1000000)::float8 / 1000001);
	FOR i IN 1..$changes LOOP
		SELECT array_agg(id) INTO o_ids FROM klantinteracties_onderwerpobject;
		SELECT array_agg(id) INTO k_ids FROM klantinteracties_klantcontact;
		o := o_ids[1 + floor(random() * coalesce(array_length(o_ids, 1), 1))];
		k := k_ids[1 + floor(random() * coalesce(array_length(k_ids, 1), 1))];
		op := floor(random() * 14);
		IF $2 THEN
			-- only the onderwerp or nummer of a klantcontact with links
			op := 8 + floor(random() * 2);
			SELECT klantcontact_id INTO k FROM klantinteracties_onderwerpobject
			WHERE klantcontact_id IS NOT NULL ORDER BY random() LIMIT 1;
		END IF;
		BEGIN
			IF op <= 4 OR o IS NULL THEN
				-- a new klantcontact now and then, a new link always
				IF k IS NULL OR random() < 0.4 THEN
					INSERT INTO klantinteracties_klantcontact
						(id, uuid, nummer, kanaal, onderwerp, inhoud, taal, vertrouwelijk,
						 plaatsgevonden_op, metadata, reactie, hoofd_onderwerp_type,
						 verdere_actie_ondernomen)
					VALUES (floor(random() * 400) - 60, gen_random_uuid(), NULL, 'telefoon',
						'Onderwerp ' || floor(random() * 1000), '', 'nld', false, now(),
						'{}', '', '', false)
					RETURNING id INTO k;
				END IF;
				INSERT INTO klantinteracties_onderwerpobject
					(id, uuid, klantcontact_id, was_klantcontact_id,
					 onderwerpobjectidentificator_code_objecttype,
					 onderwerpobjectidentificator_code_soort_object_id,
					 onderwerpobjectidentificator_object_id,
					 onderwerpobjectidentificator_code_register)
				VALUES (floor(random() * 400) - 60, gen_random_uuid(), k, NULL, 'zaak',
					'uuid', gen_random_uuid()::text, 'open-zaak');
			ELSIF op = 5 THEN
				DELETE FROM klantinteracties_onderwerpobject WHERE id = o;
			ELSIF op = 6 THEN
				UPDATE klantinteracties_onderwerpobject SET id = floor(random() * 400) - 60
				WHERE id = o;
			ELSIF op = 7 THEN
				UPDATE klantinteracties_onderwerpobject
				SET onderwerpobjectidentificator_object_id = gen_random_uuid()::text
				WHERE id = o;
			ELSIF op = 8 THEN
				UPDATE klantinteracties_klantcontact
				SET onderwerp = 'Onderwerp ' || floor(random() * 1000) WHERE id = k;
			ELSIF op = 9 THEN
				UPDATE klantinteracties_klantcontact
				SET nummer = CASE floor(random() * 3) WHEN 0 THEN NULL WHEN 1 THEN ''
					ELSE 'N' || floor(random() * 100000) END
				WHERE id = k;
			ELSIF op = 10 THEN
				UPDATE klantinteracties_onderwerpobject
				SET klantcontact_id = CASE WHEN random() < 0.3 THEN NULL ELSE k END
				WHERE id = o;
			ELSIF op = 11 THEN
				-- Django's cascade: the onderwerpobjecten, then the klantcontact
				DELETE FROM klantinteracties_onderwerpobject WHERE klantcontact_id = k;
				DELETE FROM klantinteracties_klantcontact WHERE id = k;
			ELSIF op = 12 THEN
				UPDATE klantinteracties_onderwerpobject
				SET onderwerpobjectidentificator_code_objecttype =
					CASE onderwerpobjectidentificator_code_objecttype
					WHEN 'zaak' THEN 'besluit' ELSE 'zaak' END
				WHERE id = o;
			ELSE
				UPDATE klantinteracties_onderwerpobject
				SET onderwerpobjectidentificator_code_register =
					'register-' || floor(random() * 3), uuid = gen_random_uuid()
				WHERE id = o;
			END IF;
		EXCEPTION WHEN unique_violation OR foreign_key_violation THEN
			NULL;
		END;
	END LOOP;
END \$\$"
}

# What the links are, from PostgreSQL: "id|uuid|klantcontact_id|object_id|register|label".
LINKS_SQL="SELECT o.id || '|' || o.uuid || '|' || o.klantcontact_id || '|' ||
		o.onderwerpobjectidentificator_object_id || '|' ||
		o.onderwerpobjectidentificator_code_register || '|' ||
		CASE WHEN coalesce(k.nummer, '') = '' THEN k.onderwerp
		ELSE k.onderwerp || ' - (' || k.nummer || ')' END
		FROM klantinteracties_onderwerpobject o
		JOIN klantinteracties_klantcontact k ON k.id = o.klantcontact_id
		WHERE o.onderwerpobjectidentificator_code_objecttype = 'zaak'
		AND o.onderwerpobjectidentificator_code_soort_object_id = 'uuid'
		ORDER BY o.id"
expected_links() {
	zl_sql "$db" "$LINKS_SQL"
}

# What zaaklink recorded, in the same form: from the state file, or with
# ZL_TEST_STATE=pg (tests/run-all.sh's "pg state" stage) from the state
# schema in PostgreSQL.
RECORDED_SQL="SELECT id || '|' || uuid || '|' || klantcontact_id || '|' || object_id
	|| '|' || code_register || '|' || label FROM %slink ORDER BY id"
if [ "${ZL_TEST_STATE:-sqlite}" = pg ]; then
	sdb=$(zl_state_db "$db") || bail "cannot create the state database"
	# shellcheck disable=SC2059
	recorded_links() { zl_sql "$sdb" "$(printf "$RECORDED_SQL" "$(zl_state_schema "$state")".)"; }
else
	zl_require_tools sqlite3
	# shellcheck disable=SC2059
	recorded_links() { sqlite3 "$state" "$(printf "$RECORDED_SQL" "")"; }
fi

# The links on stdin as "linkTo|zaak|label", for comparing with the replay.
to_payloads() {
	awk -F'|' -v base="$base" \
		'{ print base "/klantinteracties/api/v1/onderwerpobjecten/" $2 "|urn:uuid:" $4 "|" $6 }' |
		sort
}

# Replays the messages of FILE in order; prints "linkTo|zaak|label" of what
# is linked at the end, or "error: ..." for a message that does not fit.
replay() {
	zl_jqs "$1" '
		reduce .[] as $m ({links: {}, errors: []};
			($m.body | fromjson) as $e |
			($e.data.linkTo) as $k |
			if $m.routing_key == "nl.overheid.zaken.zaak-gekoppeld" then
				if .links[$k] then .errors += ["gekoppeld for a link already announced: \($k)"]
				else .links[$k] = $e.data end
			elif .links[$k] == null then .errors += ["ontkoppeld of a link never announced: \($k)"]
			elif .links[$k] != $e.data then .errors += ["ontkoppeld with another payload: \($k)"]
			else .links |= del(.[$k]) end)
		| (.errors[] | "error: " + .), (.links | to_entries[] | "\(.key)|\(.value.zaak)|\(.value.label)")' |
		sort
}


# The messages of one pass as "type|linkTo|zaak|label", sorted.
pass_messages() {
	zl_jq "$1" '(.routing_key | sub("^nl.overheid.zaken.zaak-"; "")) + "|" +
		ev.data.linkTo + "|" + ev.data.zaak + "|" + ev.data.label' | LC_ALL=C sort
}

# changed_messages BEFORE NOW: what one pass must announce, given the links
# before and after it (expected_links): for every onderwerpobject whose line
# differs, an ontkoppeld of the line before and a gekoppeld of the line now
# (docs/EVENTS.md 4; the register is not in the payload but relinks too).
# An unchanged link gets nothing.
changed_messages() {
	printf '%s\n' "$1" >"$ZL_TMP/links.before"
	printf '%s\n' "$2" | awk -F'|' -v base="$base" '
		function msg(type, l, f) {
			split(l, f, "|")
			print type "|" base "/klantinteracties/api/v1/onderwerpobjecten/" f[2] "|urn:uuid:" f[4] "|" f[6]
		}
		NR == FNR { if ($0 != "") b[$0] = 1; next }
		$0 != "" { n[$0] = 1 }
		END {
			for (l in b) if (!(l in n)) msg("ontkoppeld", l)
			for (l in n) if (!(l in b)) msg("gekoppeld", l)
		}' "$ZL_TMP/links.before" - | LC_ALL=C sort
}

messages=$ZL_TMP/messages.jsonl
: >"$messages"
bad_state=0 bad_replay=0 bad_pass=0 events=0 passes=0 pass_count=0 by_written=0
before=

# pass LABEL: `zaaklink once`, then the checks of every pass: the recorded
# links equal PostgreSQL's, the replay of all messages so far gives them,
# and the messages of this pass are exactly those of the links that changed
# since the previous pass (none for a link that did not). Sets before to
# the links now and pass_count to the messages of the pass.
pass() {
	local label=$1 rc=0 f now rec got want seen
	seen=$(cat "$log" 2>/dev/null | grep -c 'msg=pass.done')
	zl_once "$conf" "$log" || rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "$label: once exited $rc"
		tail -n 5 "$log" | sed 's/^/# /'
		return 1
	fi
	passes=$((passes + 1))
	# How the pass compared the ranges (logged when it read some).
	compared=quiet
	if [ "$(grep -cs 'msg=pass.done' "$log")" -gt "$seen" ]; then
		compared=$(grep 'msg=pass.done' "$log" | tail -n 1 | grep -o 'compared=[a-z]*')
		compared=${compared#compared=}
	fi
	[ "$compared" = written ] && by_written=$((by_written + 1))
	f=$(zl_drain "$q" "" 1)
	cat "$f" >>"$messages"
	events=$(zl_count "$messages")
	pass_count=$(zl_count "$f")
	now=$(expected_links)
	rec=$(recorded_links)
	if [ "$rec" != "$now" ]; then
		bad_state=$((bad_state + 1))
		diag "$label: recorded links differ from PostgreSQL's:"
		diff <(printf '%s\n' "$now") <(printf '%s\n' "$rec") | head -n 10 | sed 's/^/# /'
	fi
	got=$(replay "$messages") want=$(printf '%s' "$now" | to_payloads)
	if [ "$got" != "$want" ]; then
		bad_replay=$((bad_replay + 1))
		diag "$label: the messages replayed differ from PostgreSQL's links:"
		diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | head -n 10 | sed 's/^/# /'
	fi
	got=$(pass_messages "$f") want=$(changed_messages "$before" "$now")
	if [ "$got" != "$want" ]; then
		bad_pass=$((bad_pass + 1))
		diag "$label: the pass's messages are not those of the links that changed:"
		diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | head -n 10 | sed 's/^/# /'
	fi
	before=$now
}

# ---- what a detection by row versions (xmin) could get wrong ----
#
# Rounds of their own kinds, in the same loop and checked the same way.
# Each checks that its condition really held; autovacuum stays off these
# two tables so that only the test vacuums them, and pageinspect shows
# which row versions are frozen.
zl_sql "$db" "ALTER TABLE klantinteracties_onderwerpobject SET (autovacuum_enabled = off);
	ALTER TABLE klantinteracties_klantcontact SET (autovacuum_enabled = off);
	CREATE EXTENSION IF NOT EXISTS pageinspect" >/dev/null ||
	bail "cannot turn autovacuum off or create the extension pageinspect"
TABLES="'klantinteracties_klantcontact'::regclass, 'klantinteracties_onderwerpobject'::regclass"

# round_kind R: what round R does besides its random changes.
round_kind() {
	case $(($1 % 12)) in
	2 | 8) echo freeze ;;
	4) echo full ;;
	10) echo restore ;;
	5) echo open_early ;;
	7) echo open_sub ;;
	11) echo open_late ;;
	*) echo plain ;;
	esac
}

# One line about both tables: "relfilenodes|vacuum counts|row versions
# whose xmin is not frozen/row versions", the numbers in the order of their
# oids. pageinspect reads the frozen bits (both of HEAP_XMIN_COMMITTED and
# HEAP_XMIN_INVALID, 0x0300) of each row version; the xmax is left aside,
# as another database's session may keep a multixact of a lock from being
# frozen.
STATE_SQL="SELECT (SELECT string_agg(relfilenode::text, ' ' ORDER BY oid) FROM pg_class
		WHERE oid IN ($TABLES)) || '|' ||
	(SELECT string_agg(vacuum_count::text, ' ' ORDER BY relid) FROM pg_stat_all_tables
		WHERE relid IN ($TABLES)) || '|' ||
	(SELECT count(*) FILTER (WHERE t_infomask & 768 <> 768) || '/' || count(*)
		FROM unnest(ARRAY[$TABLES]) r,
		generate_series(0, pg_relation_size(r) / current_setting('block_size')::int - 1) b,
		heap_page_items(get_raw_page(r::text, b::int)) WHERE lp_flags = 1)"
declare -A ACTION_SQL=(
	[freeze]="VACUUM (FREEZE) klantinteracties_klantcontact, klantinteracties_onderwerpobject"
	[full]="VACUUM FULL klantinteracties_klantcontact, klantinteracties_onderwerpobject"
	# What a dump and restore does, in one transaction: every row of both
	# tables written anew, in another order, into new files. Prints how
	# many rows do not carry this transaction's xid.
	[restore]="CREATE TEMP TABLE zl_k AS SELECT * FROM klantinteracties_klantcontact;
		CREATE TEMP TABLE zl_o AS SELECT * FROM klantinteracties_onderwerpobject;
		TRUNCATE klantinteracties_onderwerpobject, klantinteracties_klantcontact;
		INSERT INTO klantinteracties_klantcontact SELECT * FROM zl_k ORDER BY random();
		INSERT INTO klantinteracties_onderwerpobject SELECT * FROM zl_o ORDER BY random();
		SELECT (SELECT count(*) FROM klantinteracties_klantcontact WHERE xmin::text <> x) +
			(SELECT count(*) FROM klantinteracties_onderwerpobject WHERE xmin::text <> x)
		FROM (SELECT (pg_current_xact_id()::text::bigint % 4294967296)::text AS x) c"
)

# vacuum_round R KIND: random changes, KIND's action on both tables
# (ACTION_SQL), random changes again, all in one psql. True when the action
# did what it is for: VACUUM FREEZE counted as a vacuum of both tables and
# froze the xmin of every row version (those written before it too); VACUUM FULL
# and the restore rewrote both (new relfilenodes); after the restore every
# row has the new row version.
vacuum_round() {
	local r=$1 kind=$2 out s1 s2 n1 n2 v1 v2 f2 rewritten=0
	out=$(_zl_psql "$db" -c "$(mutate_sql $((seed + r)) false)" -c "$STATE_SQL" \
		-c "${ACTION_SQL[$kind]}" -c "$STATE_SQL" -c "$(mutate_sql $((seed + r + 500000)) false)") ||
		{ diag "round $r: $kind failed"; return 1; }
	s1=$(head -n 1 <<<"$out") s2=$(tail -n 1 <<<"$out")
	IFS='|' read -r n1 v1 _ <<<"$s1"
	IFS='|' read -r n2 v2 f2 <<<"$s2"
	[ "${n1% *}" != "${n2% *}" ] && [ "${n1#* }" != "${n2#* }" ] && rewritten=1
	case $kind in
	freeze)
		# A transaction of a test beside this one can hold the horizon back,
		# and VACUUM then freezes only what is older than it: vacuum again
		# (each counted) until every row version is frozen, for up to 10 s.
		local again=0
		while [[ ! $f2 =~ ^0/ ]] && ((again < 10)); do
			sleep 1
			again=$((again + 1))
			IFS='|' read -r _ v2 f2 < <(_zl_psql "$db" -c "${ACTION_SQL[freeze]}" -c "$STATE_SQL" | tail -n 1)
		done
		if [ "$v2" != "$((${v1% *} + 1 + again)) $((${v1#* } + 1 + again))" ] || [[ ! $f2 =~ ^0/[1-9] ]]; then
			diag "round $r: VACUUM FREEZE ($((again + 1)) times): vacuum_count $v1, then $v2; not frozen: $f2 row versions"
			return 1
		fi
		;;
	full | restore)
		if [ "$rewritten" != 1 ]; then
			diag "round $r: $kind did not rewrite both tables (relfilenodes $n1, then $n2)"
			return 1
		fi
		if [ "$kind" = restore ] && [ "$(sed -n 2p <<<"$out")" != 0 ]; then
			diag "round $r: after the restore $(sed -n 2p <<<"$out") rows have an old row version"
			return 1
		fi
		;;
	esac
}

# ---- a transaction that stays open across passes ----
#
# A psql in the background (a coprocess), so that the test says when it
# commits. tx_sql sends statements and prints their rows; tx_state says
# whether its backend is idle in a transaction with an xid older than
# the next pass's snapshot.
tx_pid=
tx_open() {
	coproc TX { _zl_psql "$db" 2>&1; }
	# shellcheck disable=SC2153
	tx_pid=$TX_PID tx_in=${TX[1]} tx_out=${TX[0]}
	tx_backend=$(tx_sql "SELECT pg_backend_pid();")
	[ -n "$tx_backend" ] && tx_sql "BEGIN;"
}
tx_sql() {
	local line
	printf '%s\n\\echo __zl_tx_end__\n' "$1" >&"$tx_in" || return 1
	while IFS= read -r -t 60 line <&"$tx_out"; do
		[ "$line" = __zl_tx_end__ ] && return 0
		printf '%s\n' "$line"
	done
	return 1
}
tx_close() {
	local rc=0
	tx_sql "COMMIT;" || rc=1
	eval "exec $tx_in>&-"
	wait "$tx_pid" || rc=1
	tx_pid=
	return "$rc"
}
zl_on_exit '[ -n "$tx_pid" ] && kill "$tx_pid" 2>/dev/null'
# tx_state: first a transaction of its own that takes an xid and commits,
# as other writers do: the snapshots taken afterwards (the next pass's)
# then have an xmax above the open transaction's xid, and list that xid as
# running. Prints the open transaction's state and whether its xid is
# older than such a snapshot: "idle in transaction|true".
tx_state() {
	_zl_psql "$db" -c "SELECT pg_current_xact_id()" -c "SELECT state || '|' ||
		coalesce((backend_xid::text::bigint < pg_snapshot_xmax(pg_current_snapshot())::text::bigint
		% 4294967296)::text, 'no xid') FROM pg_stat_activity WHERE pid = $tx_backend" | tail -n 1
}

# tx_changes SEED: the open transaction's changes: a link deleted, the
# onderwerp of a klantcontact with links edited, a new klantcontact with
# two links and a new link to the edited one, at free ids anywhere.
tx_changes() {
	tx_sql "DO \$\$
DECLARE
	k int;
	k_old int;
BEGIN
	PERFORM setseed(($1 % 1000000)::float8 / 1000001);
	DELETE FROM klantinteracties_onderwerpobject WHERE id = (SELECT id
		FROM klantinteracties_onderwerpobject WHERE klantcontact_id IS NOT NULL
		AND onderwerpobjectidentificator_code_objecttype = 'zaak' ORDER BY random() LIMIT 1);
	SELECT klantcontact_id INTO k_old FROM klantinteracties_onderwerpobject
	WHERE klantcontact_id IS NOT NULL ORDER BY random() LIMIT 1;
	UPDATE klantinteracties_klantcontact
	SET onderwerp = 'Open transactie ' || floor(random() * 1000) WHERE id = k_old;
	INSERT INTO klantinteracties_klantcontact
		(id, uuid, nummer, kanaal, onderwerp, inhoud, taal, vertrouwelijk,
		 plaatsgevonden_op, metadata, reactie, hoofd_onderwerp_type, verdere_actie_ondernomen)
	SELECT g, gen_random_uuid(), NULL, 'telefoon', 'Onderwerp ' || floor(random() * 1000), '',
		'nld', false, now(), '{}', '', '', false
	FROM generate_series(-60, 400) g
	WHERE NOT EXISTS (SELECT FROM klantinteracties_klantcontact WHERE id = g)
	ORDER BY random() LIMIT 1
	RETURNING id INTO k;
	INSERT INTO klantinteracties_onderwerpobject
		(id, uuid, klantcontact_id, was_klantcontact_id,
		 onderwerpobjectidentificator_code_objecttype,
		 onderwerpobjectidentificator_code_soort_object_id,
		 onderwerpobjectidentificator_object_id,
		 onderwerpobjectidentificator_code_register)
	SELECT g, gen_random_uuid(), (ARRAY[k, k, coalesce(k_old, k)])[row_number() OVER ()],
		NULL, 'zaak', 'uuid', gen_random_uuid()::text, 'open-zaak'
	FROM (SELECT g FROM generate_series(-60, 400) g
		WHERE NOT EXISTS (SELECT FROM klantinteracties_onderwerpobject WHERE id = g)
		ORDER BY random() LIMIT 3) f;
END \$\$;"
}

# tx_sub_edits SEED: in a subtransaction (a savepoint, released), edits
# that add and remove no row: the onderwerp of a klantcontact with links
# and the object id of a link. Prints the xmin of the edited link row:
# the subtransaction's own xid.
tx_sub_edits() {
	local out
	# Not in a pipeline: its subshell would not have the coprocess's descriptors.
	out=$(tx_sql "SELECT setseed(($1 % 1000000)::float8 / 1000001);
	SAVEPOINT zl_sub;
	UPDATE klantinteracties_klantcontact SET onderwerp = 'Subtransactie ' || floor(random() * 1000)
	WHERE id = (SELECT klantcontact_id FROM klantinteracties_onderwerpobject
		WHERE klantcontact_id IS NOT NULL ORDER BY random() LIMIT 1);
	UPDATE klantinteracties_onderwerpobject SET onderwerpobjectidentificator_object_id =
		gen_random_uuid()::text WHERE id = (SELECT id FROM klantinteracties_onderwerpobject
		WHERE klantcontact_id IS NOT NULL AND onderwerpobjectidentificator_code_objecttype = 'zaak'
		AND onderwerpobjectidentificator_code_soort_object_id = 'uuid' ORDER BY random() LIMIT 1)
	RETURNING xmin;
	RELEASE SAVEPOINT zl_sub;") || return 1
	tail -n 1 <<<"$out"
}
# tx_sub_hidden XID: true when a snapshot taken now (after a commit of its
# own, as in tx_state) takes XID for finished: below its xmax, and not in
# its list of running transactions, which holds no subtransaction.
tx_sub_hidden() {
	[ "$(_zl_psql "$db" -c "SELECT pg_current_xact_id()" -c "SELECT $1 <
		pg_snapshot_xmax(pg_current_snapshot())::text::bigint % 4294967296 AND NOT EXISTS
		(SELECT FROM pg_snapshot_xip(pg_current_snapshot()) x
		WHERE x::text::bigint % 4294967296 = $1)" | tail -n 1)" = t ]
}

# open_round R KIND: a round with a transaction open across passes.
#  open_early: the transaction writes, then two passes run while it is
#  open (its changes are older than their snapshots, yet invisible to
#  them), then it commits and a pass must find all of them.
#  open_late: the transaction takes its xid, a pass runs while it has
#  written nothing, then it writes and commits (its xid older than that
#  pass's snapshot) and the next pass must find all of it.
#  open_sub: the transaction takes its xid, then edits rows in a
#  subtransaction, whose xid a snapshot does not list as running (a pass
#  that trusted that list would take the edits for older than itself);
#  one pass runs while it is open, and the pass after the commit must
#  find the edits, compared by written rows (no row count changed).
# Outside it, the round's random changes, committed before. True when the
# transaction was open during its passes, they did not see its changes,
# and the pass after the commit saw them; false also when a pass failed.
open_round() {
	local r=$1 kind=$2 inside bad=0 i st
	mutate $((seed + r)) false
	tx_open || { diag "round $r: cannot open the transaction"; return 1; }
	if [ "$kind" = open_early ]; then
		tx_changes $((seed + r)) || { diag "round $r: the transaction's changes failed"; return 1; }
	else
		tx_sql "SELECT pg_current_xact_id();" >/dev/null
	fi
	if [ "$kind" = open_sub ]; then
		sub=$(tx_sub_edits $((seed + r)))
		[ -n "$sub" ] || { diag "round $r: the subtransaction's edits failed"; return 1; }
	fi
	for i in 1 2; do
		[ "$kind" != open_early ] && [ "$i" = 2 ] && break
		st=$(tx_state)
		[ "$st" = "idle in transaction|true" ] ||
			{ diag "round $r: before pass $i the transaction is '$st'"; bad=1; }
		if [ "$kind" = open_sub ] && ! tx_sub_hidden "$sub"; then
			diag "round $r: a snapshot lists the subtransaction $sub as running, or not yet begun"
			bad=1
		fi
		pass "round $r (transaction open, pass $i)" || return 1
		if [ "$i" = 2 ] && [ "$pass_count" != 0 ]; then
			diag "round $r: pass 2 with the transaction open announced $pass_count"
			bad=1
		fi
	done
	if [ "$kind" = open_late ]; then
		tx_changes $((seed + r)) || { diag "round $r: the transaction's changes failed"; return 1; }
	fi
	inside=$(tx_sql "$LINKS_SQL;")
	if [ "$inside" = "$before" ] || [ "$(recorded_links)" != "$before" ]; then
		diag "round $r: the transaction's changes were not hidden from the passes, or changed no link"
		bad=1
	fi
	tx_close || { diag "round $r: the transaction did not commit"; return 1; }
	pass "round $r (committed)" || return 1
	if [ "$before" != "$inside" ] || [ "$(recorded_links)" != "$inside" ] || [ "$pass_count" = 0 ]; then
		diag "round $r: after the commit the links recorded are not those the transaction made"
		bad=1
	fi
	if [ "$kind" = open_sub ] && [ "$compared" != written ]; then
		diag "round $r: the pass after the commit compared '$compared', not by written rows"
		bad=1
	fi
	return "$bad"
}

declare -A kind_n=() kind_ok=()
for r in $(seq 1 "$rounds"); do
	# The range size changes every eighth round: every range is then read.
	# Every third round changes only klantcontacten: the link rows stay,
	# their labels do not.
	write_conf $((r % 16 < 8 ? 16 : 17))
	kind=$(round_kind "$r")
	kind_n[$kind]=$((${kind_n[$kind]:-0} + 1))
	case $kind in
	freeze | full | restore)
		# random changes before and after it, one pass for all
		bad=0
		vacuum_round "$r" "$kind" || bad=1
		pass "round $r ($kind)" || break
		;;
	open_*)
		bad=0
		open_round "$r" "$kind" || bad=1
		[ -n "$tx_pid" ] && break
		;;
	*)
		mutate $((seed + r)) "$([ $((r % 3)) -eq 0 ] && echo true || echo false)"
		pass "round $r" || break
		bad=0
		;;
	esac
	[ "$bad" = 0 ] && kind_ok[$kind]=$((${kind_ok[$kind]:-0} + 1))
done
links=$(expected_links | grep -c .)
diag "$rounds rounds of $changes changes: $passes passes, $events messages, $links links at the end"
is "$bad_state" 0 "after every pass the recorded links equal PostgreSQL's (seed $seed)"
is "$bad_replay" 0 "after every pass the messages replayed give PostgreSQL's links (seed $seed)"
cmp_ok "$events" -gt "$rounds" "the changes produced events (more than one a round)"
is "$bad_pass" 0 "every pass announced the links that changed, once, and no other (seed $seed)"
# The passes between two range size changes compare by written rows
# unless a row left a range nothing else was written to: some must have.
cmp_ok "$by_written" -ge $((rounds / 6)) \
	"passes that found changes by written rows alone: $by_written of $passes"
for kind in freeze full restore open_early open_late open_sub; do
	case $kind in
	freeze) what="VACUUM FREEZE of both tables, every row version frozen, changes before and after" ;;
	full) what="VACUUM FULL of both tables rewrote them, changes before and after" ;;
	restore) what="a restore-like rewrite gave every row a new row version, changes before and after" ;;
	open_early) what="a transaction that wrote before two passes: open, unseen by them, seen after its commit" ;;
	open_late) what="a transaction with an xid before a pass, written after it: unseen, then seen" ;;
	open_sub) what="edits in a subtransaction no snapshot lists: unseen while open, then seen by written rows" ;;
	esac
	is "${kind_ok[$kind]:-0}/${kind_n[$kind]:-0}" "${kind_n[$kind]:-0}/${kind_n[$kind]:-0}" \
		"$what: ${kind_n[$kind]:-0} rounds, each confirmed"
done
if [ "$rounds" -ge 12 ]; then
	cmp_ok "$((${kind_n[freeze]:-0} >= 2 && ${kind_n[full]:-0} && ${kind_n[restore]:-0} &&
		${kind_n[open_early]:-0} && ${kind_n[open_late]:-0} && ${kind_n[open_sub]:-0}))" -eq 1 \
		"every kind of round ran, VACUUM FREEZE at least twice"
fi

# Many klantcontacten edited at once: more link rows pointing into changed
# klantcontact ranges than a pass looks up in one batch, scattered over the
# onderwerpobject ranges, some of whose link rows change too (those ranges
# are read whole). Ids far from the random rounds' (-60..340).
bad_state=0 bad_replay=0 bad_pass=0
zl_sql "$db" "INSERT INTO klantinteracties_klantcontact (id, uuid, nummer, kanaal, onderwerp,
		inhoud, taal, vertrouwelijk, plaatsgevonden_op, metadata, reactie,
		hoofd_onderwerp_type, verdere_actie_ondernomen)
	SELECT g, gen_random_uuid(), NULL, 'telefoon', 'Bulk ' || g, '', 'nld', false, now(), '{}',
		'', '', false FROM generate_series(1000, 2399) g;
	INSERT INTO klantinteracties_onderwerpobject (id, uuid, klantcontact_id,
		onderwerpobjectidentificator_code_objecttype,
		onderwerpobjectidentificator_code_soort_object_id,
		onderwerpobjectidentificator_object_id, onderwerpobjectidentificator_code_register)
	SELECT g, gen_random_uuid(), 1000 + (g * 7) % 1400, 'zaak', 'uuid', gen_random_uuid()::text,
		'open-zaak' FROM generate_series(3000, 5499) g" >/dev/null
pass "2 500 links more"
is "$pass_count" 2500 "2 500 links more: one gekoppeld each"
# Above every stored id: the pass committed them in chunks as it went.
last_chunks() { grep 'msg=pass.done' "$log" | tail -n 1 | sed -n 's/.* chunks=\([0-9]*\).*/\1/p'; }
cmp_ok "$(last_chunks)" -gt 100 "and committed them in chunks of a range each ($(last_chunks))"
# Links moved (raw SQL) from the lowest ids to ids above every stored one,
# a range each:
# the ontkoppeld of each old id precedes the chunks of the new ranges,
# whose gekoppeld the replay then accepts.
moved=$(zl_sql "$db" "WITH m AS (SELECT id, row_number() OVER (ORDER BY id) n
		FROM klantinteracties_onderwerpobject
		WHERE onderwerpobjectidentificator_code_objecttype = 'zaak'
		  AND onderwerpobjectidentificator_code_soort_object_id = 'uuid'
		  AND klantcontact_id IS NOT NULL ORDER BY id LIMIT 3)
	UPDATE klantinteracties_onderwerpobject o SET id = 100000 + 100 * m.n FROM m
	WHERE o.id = m.id RETURNING o.id" | grep -c .)
pass "$moved links moved above every stored id"
is "$pass_count/$(last_chunks)" "$((2 * moved))/$moved" \
	"$moved links moved above every stored id: ontkoppeld and gekoppeld each, a chunk each"
relinked=$(zl_sql "$db" "SELECT count(*) FROM klantinteracties_onderwerpobject
	WHERE id BETWEEN 3000 AND 5499
	  AND (klantcontact_id % 3 <> 0 OR klantcontact_id % 5 = 0 OR id % 97 = 0)")
zl_sql "$db" "UPDATE klantinteracties_klantcontact SET onderwerp = onderwerp || ' (2)'
		WHERE id BETWEEN 1000 AND 2399 AND id % 3 <> 0;
	UPDATE klantinteracties_klantcontact SET nummer = 'B' || id
		WHERE id BETWEEN 1000 AND 2399 AND id % 5 = 0;
	UPDATE klantinteracties_onderwerpobject
	SET onderwerpobjectidentificator_object_id = gen_random_uuid()::text
		WHERE id BETWEEN 3000 AND 5499 AND id % 97 = 0" >/dev/null
pass "klantcontacten of $relinked links edited at once"
is "$pass_count" "$((2 * relinked))" \
	"$relinked of them relinked at once (klantcontact or link row edited): two events each"
is "$bad_state/$bad_replay/$bad_pass" 0/0/0 \
	"after many klantcontacten edited at once the links, the replay and each pass's messages are PostgreSQL's"

# A full pass over the result finds nothing left to do.
rc=0; zl_zl -c "$conf" once --full 2>>"$log" || rc=$?
f=$(zl_drain "$q" "" 1)
is "$rc/$(zl_count "$f")" 0/0 "once --full afterwards: nothing was missed"
done_testing
