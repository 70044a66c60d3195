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
expected_links() {
	zl_sql "$db" "SELECT o.id || '|' || o.uuid || '|' || o.klantcontact_id || '|' ||
		o.onderwerpobjectidentificator_object_id || '|' ||
		o.onderwerpobjectidentificator_code_register || '|' ||
		CASE WHEN coalesce(k.nummer, '') = '' THEN k.onderwerp
		ELSE k.onderwerp || ' - (' || k.nummer || ')' END
		FROM klantinteracties_onderwerpobject o
		JOIN klantinteracties_klantcontact k ON k.id = o.klantcontact_id
		WHERE o.onderwerpobjectidentificator_code_objecttype = 'zaak'
		AND o.onderwerpobjectidentificator_code_soort_object_id = 'uuid'
		ORDER BY o.id"
}

# What zaaklink recorded, the same way, from its state (ZL_TEST_STATE=pg: the
# schema standing for the state file).
recorded_links() {
	local sql="SELECT id || '|' || uuid || '|' || klantcontact_id || '|' || object_id
		|| '|' || code_register || '|' || label FROM link ORDER BY id"
	if [ "${ZL_TEST_STATE:-sqlite}" = pg ]; then
		_zl_psql "$(zl_state_db "$db")" -c "SET search_path = $(zl_state_schema "$state")" -c "$sql"
	else
		sqlite3 "$state" "$sql"
	fi
}

# The same links as "linkTo|zaak|label", for comparing with the replay.
expected_payloads() {
	expected_links | awk -F'|' -v base="$base" \
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

messages=$ZL_TMP/messages.jsonl
: >"$messages"
bad_state=0 bad_replay=0 events=0
for r in $(seq 1 "$rounds"); do
	# The range size changes every eighth round: every range is then read.
	# Every third round changes only klantcontacten: the link rows stay,
	# their labels do not.
	write_conf $((r % 16 < 8 ? 16 : 17))
	mutate $((seed + r)) "$([ $((r % 3)) -eq 0 ] && echo true || echo false)"
	rc=0
	zl_once "$conf" "$log" || rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "round $r: once exited $rc"
		tail -n 5 "$log" | sed 's/^/# /'
		break
	fi
	f=$(zl_drain "$q" "" 1)
	cat "$f" >>"$messages"
	events=$(zl_count "$messages")
	if [ "$(recorded_links)" != "$(expected_links)" ]; then
		bad_state=$((bad_state + 1))
		diag "round $r: recorded links differ from PostgreSQL's:"
		diff <(expected_links) <(recorded_links) | head -n 10 | sed 's/^/# /'
	fi
	if [ "$(replay "$messages")" != "$(expected_payloads)" ]; then
		bad_replay=$((bad_replay + 1))
		diag "round $r: the messages replayed differ from PostgreSQL's links:"
		diff <(expected_payloads) <(replay "$messages") | head -n 10 | sed 's/^/# /'
	fi
done
links=$(expected_links | grep -c .)
diag "$rounds rounds of $changes changes: $events messages, $links links at the end"
is "$bad_state" 0 "after every pass the recorded links equal PostgreSQL's (seed $seed)"
is "$bad_replay" 0 "after every pass the messages replayed give PostgreSQL's links (seed $seed)"
cmp_ok "$events" -gt "$rounds" "the changes produced events (more than one a round)"

# Many klantcontacten edited at once: more link rows pointing into changed
# klantcontact ranges than a pass looks up in one batch, scattered over the
# onderwerpobject ranges, some of whose link rows change too (those ranges
# are read whole). Ids far from the random rounds' (-60..340).
check_links() { # WHAT
	if [ "$(recorded_links)" != "$(expected_links)" ]; then
		bad_state=$((bad_state + 1))
		diag "$1: recorded links differ from PostgreSQL's:"
		diff <(expected_links) <(recorded_links) | head -n 10 | sed 's/^/# /'
	fi
	if [ "$(replay "$messages")" != "$(expected_payloads)" ]; then
		bad_replay=$((bad_replay + 1))
		diag "$1: the messages replayed differ from PostgreSQL's links:"
		diff <(expected_payloads) <(replay "$messages") | head -n 10 | sed 's/^/# /'
	fi
}
bad_state=0 bad_replay=0
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
rc=0; zl_once "$conf" "$log" || rc=$?
cat "$(zl_drain "$q" 2500 20)" >>"$messages"
is "$rc/$(zl_count "$messages")" "0/$((events + 2500))" "2 500 links more: one gekoppeld each"
check_links "2 500 links more"
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
rc=0; zl_once "$conf" "$log" || rc=$?
f=$(zl_drain "$q" $((2 * relinked)) 20)
cat "$f" >>"$messages"
is "$rc/$(zl_count "$f")" "0/$((2 * relinked))" \
	"$relinked of them relinked at once (klantcontact or link row edited): two events each"
check_links "klantcontacten of $relinked links edited at once"
is "$bad_state/$bad_replay" 0/0 "after many klantcontacten edited at once the links and the messages are PostgreSQL's"

# A full pass over the result finds nothing left to do.
rc=0; zl_zl -c "$conf" once --full 2>>"$log" || rc=$?
f=$(zl_drain "$q" "" 1)
is "$rc/$(zl_count "$f")" 0/0 "once --full afterwards: nothing was missed"
done_testing
