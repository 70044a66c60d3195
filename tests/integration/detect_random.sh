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
#    nothing extra, no gekoppeld for a link already announced.
#
# Small ranges (16 and 17 ids, changed between rounds) make changes land in
# many ranges and on both sides of bucket 0 (negative ids).
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
		'events.label_max_length = 0;' 'events.initial_sync = "announce";'
}

# The random changes, as one PL/pgSQL block; every change that breaks a
# constraint (a taken id, a duplicate nummer) is simply skipped.
mutate() {
	zl_sql "$db" "
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
END \$\$" >/dev/null
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

# The same links as "linkTo|zaak|label", for comparing with the replay.
expected_payloads() {
	expected_links | to_payloads
}
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
	local b n
	b=$(printf '%s' "$1" | LC_ALL=C sort) n=$(printf '%s' "$2" | LC_ALL=C sort)
	{
		LC_ALL=C comm -23 <(printf '%s' "$b") <(printf '%s' "$n") | sed 's/^/ontkoppeld|/'
		LC_ALL=C comm -13 <(printf '%s' "$b") <(printf '%s' "$n") | sed 's/^/gekoppeld|/'
	} | awk -F'|' -v base="$base" '$2 != "" {
		print $1 "|" base "/klantinteracties/api/v1/onderwerpobjecten/" $3 "|urn:uuid:" $5 "|" $7 }' |
		LC_ALL=C sort
}

messages=$ZL_TMP/messages.jsonl
: >"$messages"
bad_state=0 bad_replay=0 bad_pass=0 events=0 passes=0 pass_count=0
before=

# pass LABEL: `zaaklink once`, then the checks of every pass: the recorded
# links equal PostgreSQL's, the replay of all messages so far gives them,
# and the messages of this pass are exactly those of the links that changed
# since the previous pass (none for a link that did not). Sets before to
# the links now and pass_count to the messages of the pass.
pass() {
	local label=$1 rc=0 f now rec got want
	zl_once "$conf" "$log" || rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "$label: once exited $rc"
		tail -n 5 "$log" | sed 's/^/# /'
		return 1
	fi
	passes=$((passes + 1))
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

for r in $(seq 1 "$rounds"); do
	# The range size changes every eighth round: every range is then read.
	# Every third round changes only klantcontacten: the link rows stay,
	# their labels do not.
	write_conf $((r % 16 < 8 ? 16 : 17))
	mutate $((seed + r)) "$([ $((r % 3)) -eq 0 ] && echo true || echo false)"
	pass "round $r" || break
done
links=$(expected_links | grep -c .)
diag "$rounds rounds of $changes changes: $passes passes, $events messages, $links links at the end"
is "$bad_state" 0 "after every pass the recorded links equal PostgreSQL's (seed $seed)"
is "$bad_replay" 0 "after every pass the messages replayed give PostgreSQL's links (seed $seed)"
cmp_ok "$events" -gt "$rounds" "the changes produced events (more than one a round)"
is "$bad_pass" 0 "every pass announced the links that changed, once, and no other (seed $seed)"

# A full pass over the result finds nothing left to do.
rc=0; zl_zl -c "$conf" once --full 2>>"$log" || rc=$?
f=$(zl_drain "$q" "" 1)
is "$rc/$(zl_count "$f")" 0/0 "once --full afterwards: nothing was missed"
done_testing
