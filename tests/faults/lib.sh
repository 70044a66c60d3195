# Helpers of the fault-injection suite (tests/faults/*.sh, run by
# tests/faults/run.sh): a bulk of links for a large first sync, a stream
# of links inserted while a fault is on (retried until PostgreSQL takes
# each one), the check that every link was published exactly once,
# whatever the fault, and the figures the suite reports for
# docs/RELIABILITY.md.
#
# Sourced by each fault script after tests/lib.sh, whose helpers (zl_sql,
# _zl_psql, zl_jq, zl_count) and working directory ($ZL_TMP) it uses.

# zl_links_bulk DB N: N links with ids 1..N, each with a klantcontact of
# its own (same id, no nummer), in one statement: a large first sync.
zl_links_bulk() {
	zl_sql "$1" "
INSERT INTO klantinteracties_klantcontact
	(id, uuid, nummer, kanaal, onderwerp, inhoud, taal, vertrouwelijk, plaatsgevonden_op,
	 metadata, reactie, hoofd_onderwerp_type, verdere_actie_ondernomen)
SELECT g, gen_random_uuid(), NULL, 'telefoon', 'Onderwerp ' || g, '', 'nld', false, now(),
	'{}', '', '', false FROM generate_series(1, $2) g;
INSERT INTO klantinteracties_onderwerpobject (id, uuid, klantcontact_id,
	onderwerpobjectidentificator_code_objecttype, onderwerpobjectidentificator_code_soort_object_id,
	onderwerpobjectidentificator_object_id, onderwerpobjectidentificator_code_register)
SELECT g, gen_random_uuid(), g, 'zaak', 'uuid', gen_random_uuid()::text, 'open-zaak'
FROM generate_series(1, $2) g;" >/dev/null
}

# zl_feed_links DB COUNT GAP OUT: in the background, inserts COUNT links one
# at a time, GAP seconds apart, each with a klantcontact of its own; a
# statement PostgreSQL refuses (it is restarting, say) is tried again until
# it is taken, and ON CONFLICT makes a retry after a lost commit harmless.
# The zaak id of every committed link is appended to OUT. Sets
# ZL_FEED_PID (stopped on exit like a daemon).
ZL_FEED_PID=
zl_feed_links() {
	local db=$1 count=$2 gap=$3 out=$4
	(
		for ((i = 1; i <= count; i++)); do
			read -r z </proc/sys/kernel/random/uuid
			read -r u </proc/sys/kernel/random/uuid
			for ((try = 0; try < 600; try++)); do
				_zl_psql "$db" -c "WITH k AS (INSERT INTO klantinteracties_klantcontact
					(uuid, nummer, kanaal, onderwerp, inhoud, taal, vertrouwelijk, plaatsgevonden_op,
					 metadata, reactie, hoofd_onderwerp_type, verdere_actie_ondernomen)
					VALUES ('$u', NULL, 'telefoon', 'Stroom $i', '', 'nld', false, now(), '{}', '',
					 '', false) ON CONFLICT (uuid) DO NOTHING RETURNING id)
					INSERT INTO klantinteracties_onderwerpobject (uuid, klantcontact_id,
					 onderwerpobjectidentificator_code_objecttype,
					 onderwerpobjectidentificator_code_soort_object_id,
					 onderwerpobjectidentificator_object_id, onderwerpobjectidentificator_code_register)
					SELECT '$u', id, 'zaak', 'uuid', '$z', 'open-zaak' FROM k" >/dev/null 2>&1 && break
				sleep 0.2
			done
			echo "$z" >>"$out"
			sleep "$gap"
		done
	) &
	ZL_FEED_PID=$!
	echo "$ZL_FEED_PID" >>"$ZL_TMP/pids"
}

# zl_each_once IDS DRAINED: compares the zaak ids in IDS (one a line) with
# the gekoppeld events of a drained file; prints "missing=M extra=E
# duplicates=D distinct=N": M ids without an event, E events for no id,
# D messages whose event id arrived before.
zl_each_once() {
	local ids=$1 f=$2 got
	got=$(zl_jq "$f" 'select(.routing_key == "nl.overheid.zaken.zaak-gekoppeld") | ev.subject' | sort -u)
	printf 'missing=%s extra=%s duplicates=%s distinct=%s\n' \
		"$(comm -23 <(sort -u "$ids") <(echo "$got") | grep -c .)" \
		"$(comm -13 <(sort -u "$ids") <(echo "$got") | grep -c .)" \
		"$(($(zl_count "$f") - $(zl_jq "$f" '.message_id' | sort -u | grep -c .)))" \
		"$(echo "$got" | grep -c .)"
}

# zl_sync_state STATE: "CHECKPOINTS LINKS" in a SQLite state file ("? ?"
# when it cannot be read).
zl_sync_state() {
	sqlite3 -readonly "$1" "SELECT (SELECT count(*) FROM checkpoint) || ' ' ||
		(SELECT count(*) FROM link)" 2>/dev/null || echo '? ?'
}

# zl_mid_sync STATE: true while a first sync in chunks is half done: links
# committed, no checkpoint yet.
zl_mid_sync() {
	local c l
	read -r c l < <(zl_sync_state "$1")
	[ "$c" = 0 ] && [ "$l" -gt 0 ] 2>/dev/null
}

# zl_figures LINE...: adds lines to the figures file of the fault suite
# (ZL_FAULT_FIGURES, set by tests/faults/run.sh), for docs/RELIABILITY.md.
zl_figures() {
	[ -n "${ZL_FAULT_FIGURES:-}" ] && printf '%s\n' "$@" >>"$ZL_FAULT_FIGURES"
	return 0
}
