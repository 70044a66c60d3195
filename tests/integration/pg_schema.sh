#!/bin/bash
# source.schema and search_path: zaaklink reads Open Klant's two tables from
# the configured schema, named with it, and with search_path pinned, so that
# no table, function or operator of another schema takes their place.
#
#   - the tables in a schema whose name must be quoted (a blank and a double
#     quote in it): check-config --connect reads them, once announces their
#     links and sees later changes; without source.schema (public) the same
#     database is refused with one line naming the schema;
#   - a schema named after the role ("$user", first on PostgreSQL's default
#     search_path) holding tables of the same names with a made-up link:
#     zaaklink announces the link of public's tables, not that one;
#   - a function in public with the name of one zaaklink's queries call,
#     whose argument types match the columns better than PostgreSQL's own,
#     so that an unpinned search_path would pick it: it is never called.
. "$(dirname "$0")/../lib.sh"
zl_require_tools
zl_servers_up

# ------------------------------------------- tables in another schema ----

SCHEMA='Open "Klant" 2'
SCHEMA_SQL='"Open ""Klant"" 2"'

db="zl_t_$$_$(_zl_next)"
_zl_psql postgres -c "CREATE DATABASE \"$db\"" || bail "cannot create a database"
echo "$db" >>"$ZL_TMP/databases"
# The test's own sessions (zl_kc, zl_ow) find the tables there; zaaklink's
# role keeps PostgreSQL's default search_path, where there are none.
_zl_psql "$db" -c "CREATE SCHEMA $SCHEMA_SQL" \
	-c "ALTER ROLE postgres IN DATABASE \"$db\" SET search_path = $SCHEMA_SQL" ||
	bail "cannot create the schema"
_zl_psql "$db" -c "SET search_path = $SCHEMA_SQL" \
	-f "$ZL_SRCDIR/tests/fixtures/openklant-schema.sql" >/dev/null || bail "cannot load the schema"
# zl_db_new makes sure the role zaaklink exists (its database is not used).
zl_db_new >/dev/null || bail "cannot create the role zaaklink"
_zl_psql "$db" -c "GRANT USAGE ON SCHEMA $SCHEMA_SQL TO zaaklink" \
	-c "GRANT SELECT ON ALL TABLES IN SCHEMA $SCHEMA_SQL TO zaaklink" || bail "cannot grant"
is "$(zl_sql "$db" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" 0 \
	"fixture: no table in public"

kc=$(zl_kc "$db" "Aanvraag" "1001")
z1=$(zl_uuid)
z2=$(zl_uuid)
zl_ow "$db" "$kc" "$z1" >/dev/null
zl_ow "$db" "$kc" "$z2" >/dev/null

ex=$(zl_exchange_new)
q=$(zl_queue_new "$ex") || bail "cannot declare a queue"
conf=$ZL_TMP/schema.conf
zl_conf "$conf" "$db" "$ZL_TMP/schema.state" "$ex" 'events.initial_sync = "announce";' \
	"source.schema = \"${SCHEMA//\"/\\\"}\";"

rc=0
out=$(zl_zl -c "$conf" check-config --connect 2>"$ZL_TMP/check.err") || rc=$?
is "$rc" 0 "schema $SCHEMA: check-config --connect exits 0"
[ "$rc" = 0 ] || diag "$(cat "$ZL_TMP/check.err")"
like "$out" "onderwerpobjecten in schema $SCHEMA readable" \
	"schema $SCHEMA: check-config --connect names the schema"

rc=0; zl_once "$conf" || rc=$?
f=$(zl_drain "$q" 2 10)
is "$rc $(zl_types "$f")" "0 gekoppeld gekoppeld" "schema $SCHEMA: once announces both links"
is "$(zl_jq "$f" 'ev.subject' | sort | tr '\n' ' ')" "$(printf '%s\n' "$z1" "$z2" | sort | tr '\n' ' ')" \
	"schema $SCHEMA: the links of that schema's tables"

# A later pass reads the rows of changed ranges, and the links of a changed
# klantcontact, from there too.
z3=$(zl_uuid)
zl_ow "$db" "$kc" "$z3" >/dev/null
rc=0; zl_once "$conf" || rc=$?
f=$(zl_drain "$q" 1 10)
is "$rc $(zl_types "$f") $(zl_jq "$f" 'ev.subject')" "0 gekoppeld $z3" \
	"schema $SCHEMA: a new link is published"
zl_sql "$db" "UPDATE klantinteracties_klantcontact SET onderwerp = 'Aanvraag (gewijzigd)' WHERE id = $kc"
rc=0; zl_once "$conf" || rc=$?
f=$(zl_drain "$q" 6 10)
is "$(zl_count "$f")" 6 "schema $SCHEMA: a changed klantcontact: an ontkoppeld and a gekoppeld per link"
is "$rc $(zl_jq "$f" 'select(.routing_key | endswith("gekoppeld")) | ev.data.label' | sort -u | tr '\n' '|')" \
	"0 Aanvraag (gewijzigd) - (1001)|" "schema $SCHEMA: a changed klantcontact relinks its links"

# The same database read as public: refused, naming the schema.
zl_conf "$ZL_TMP/public.conf" "$db" "$ZL_TMP/public.state" "$ex"
rc=0
zl_zl -c "$ZL_TMP/public.conf" check-config --connect >/dev/null 2>"$ZL_TMP/public.err" || rc=$?
is "$rc" 69 "tables not in public, no source.schema: check-config --connect exits 69"
like "$(grep -v 'msg=source.connected' "$ZL_TMP/public.err")" \
	'^zaaklink: could not read klantinteracties_onderwerpobject joined with klantinteracties_klantcontact in schema public on PostgreSQL .*does not exist' \
	"tables not in public: the error names the schema and the missing table"
is "$(grep -vc 'msg=source.connected' "$ZL_TMP/public.err")" 1 "tables not in public: one line"

# ---------------------------------- a schema named after the role ----

# PostgreSQL's default search_path is "$user", public: a schema called
# zaaklink comes before public. Its tables hold a link Open Klant never had.
zl_fixture_new
real=$(zl_uuid)
fake=$(zl_uuid)
zl_ow "$db" "$(zl_kc "$db" "Echt")" "$real" >/dev/null
_zl_psql "$db" -c "CREATE SCHEMA zaaklink" \
	-c "CREATE TABLE zaaklink.klantinteracties_klantcontact
		(LIKE public.klantinteracties_klantcontact INCLUDING ALL)" \
	-c "CREATE TABLE zaaklink.klantinteracties_onderwerpobject
		(LIKE public.klantinteracties_onderwerpobject INCLUDING ALL)" \
	-c "INSERT INTO zaaklink.klantinteracties_klantcontact SELECT * FROM public.klantinteracties_klantcontact" \
	-c "INSERT INTO zaaklink.klantinteracties_onderwerpobject SELECT * FROM public.klantinteracties_onderwerpobject" \
	-c "UPDATE zaaklink.klantinteracties_onderwerpobject SET onderwerpobjectidentificator_object_id = '$fake'" \
	-c "GRANT USAGE ON SCHEMA zaaklink TO zaaklink" \
	-c "GRANT SELECT ON ALL TABLES IN SCHEMA zaaklink TO zaaklink" || bail "cannot make the shadow tables"
is "$(PGPASSWORD=zaaklink psql -X -At -h 127.0.0.1 -p "$PGPORT" -U zaaklink -d "$db" \
	-c 'SELECT onderwerpobjectidentificator_object_id FROM klantinteracties_onderwerpobject')" "$fake" \
	"fixture: the role's own search_path finds the shadow table"

conf=$ZL_TMP/shadow.conf
zl_conf "$conf" "$db" "$ZL_TMP/shadow.state" "$ex" 'events.initial_sync = "announce";'
rc=0; zl_once "$conf" || rc=$?
# once has had every message confirmed before it exits.
f=$(zl_drain "$q" "" 2)
is "$rc $(zl_types "$f") $(zl_jq "$f" 'ev.subject')" "0 gekoppeld $real" \
	"shadow tables in the role's schema: only public's link is announced"

# ------------------------------------------- a function in public ----

# hashtextextended(varchar, integer) fits onderwerpobject's object id and
# klantcontact_id exactly, PostgreSQL's hashtextextended(text, bigint) only
# after casts: resolved through a search_path holding public, it would win.
zl_fixture_new
z=$(zl_uuid)
zl_ow "$db" "$(zl_kc "$db" "Vraag")" "$z" >/dev/null
_zl_psql "$db" -c "CREATE FUNCTION public.hashtextextended(character varying, integer)
	RETURNS bigint LANGUAGE plpgsql AS \$\$
	BEGIN RAISE EXCEPTION 'public.hashtextextended was called'; END \$\$" \
	-c "GRANT EXECUTE ON FUNCTION public.hashtextextended(character varying, integer) TO PUBLIC" ||
	bail "cannot make the function"
like "$(PGPASSWORD=zaaklink psql -X -At -h 127.0.0.1 -p "$PGPORT" -U zaaklink -d "$db" \
	-c 'SELECT hashtextextended(onderwerpobjectidentificator_object_id, klantcontact_id)
	    FROM klantinteracties_onderwerpobject' 2>&1)" "public.hashtextextended was called" \
	"fixture: the role's own search_path resolves to the function in public"

conf=$ZL_TMP/function.conf
zl_conf "$conf" "$db" "$ZL_TMP/function.state" "$ex" 'events.initial_sync = "announce";'
rc=0; zl_once "$conf" "$ZL_TMP/function.log" || rc=$?
f=$(zl_drain "$q" 1 10)
is "$rc $(zl_types "$f") $(zl_jq "$f" 'ev.subject')" "0 gekoppeld $z" \
	"a function in public: the pass uses PostgreSQL's own and announces the link"
unlike "$(cat "$ZL_TMP/function.log")" "was called" "a function in public: never called"
rc=0
zl_zl -c "$conf" check-config --connect >/dev/null 2>"$ZL_TMP/function-check.err" || rc=$?
is "$rc" 0 "a function in public: check-config --connect exits 0"

done_testing
