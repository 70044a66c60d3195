-- Seeds a synthetic Open Klant database for the benchmarks (bench/run.sh).
--
-- psql -v n=N, on an empty database with the real schema loaded
-- (tests/fixtures/openklant-schema.sql): N klantcontacten and N
-- onderwerpobjecten. Every other onderwerpobject is a zaak link (objecttype
-- 'zaak', soort 'uuid', a klantcontact, a canonical zaak UUID); of the rest,
-- most point at another object type and some are zaak rows without a
-- klantcontact, so the filter has something to filter. Text lengths follow
-- what Open Klant holds: an onderwerp of 20-80 characters, an inhoud of
-- 60-600, a nummer on a third of the contacts.
--
-- Loading 2N rows through the schema's indexes and its deferred foreign keys
-- (one trigger event per row) takes minutes at N = 1 000 000; so the
-- indexes and constraints are taken off, the rows generated with
-- generate_series, and everything put back exactly as it was (definitions
-- read from the catalog, names kept). About 15 s for N = 1 000 000.

\set ON_ERROR_STOP 1
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';

CREATE TEMP TABLE saved_ddl AS
SELECT 1 AS step, format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname,
		pg_get_constraintdef(c.oid)) AS ddl
FROM pg_constraint c
WHERE c.conrelid IN ('klantinteracties_klantcontact'::regclass,
		'klantinteracties_onderwerpobject'::regclass) AND c.contype IN ('p', 'u')
UNION ALL
SELECT 2, i.indexdef
FROM pg_indexes i
WHERE i.tablename IN ('klantinteracties_klantcontact', 'klantinteracties_onderwerpobject')
  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conname = i.indexname)
UNION ALL
SELECT 3, format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname,
		pg_get_constraintdef(c.oid))
FROM pg_constraint c
WHERE c.conrelid IN ('klantinteracties_klantcontact'::regclass,
		'klantinteracties_onderwerpobject'::regclass) AND c.contype = 'f';

DO $$
DECLARE r record;
BEGIN
	-- Foreign keys first (they depend on the primary key), then indexes.
	FOR r IN SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
		WHERE conrelid IN ('klantinteracties_klantcontact'::regclass,
			'klantinteracties_onderwerpobject'::regclass)
		ORDER BY contype = 'f' DESC
	LOOP
		EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.conname);
	END LOOP;
	FOR r IN SELECT indexname FROM pg_indexes
		WHERE tablename IN ('klantinteracties_klantcontact', 'klantinteracties_onderwerpobject')
	LOOP
		EXECUTE format('DROP INDEX %I', r.indexname);
	END LOOP;
END $$;

BEGIN;
-- Truncated in the loading transaction: with wal_level = minimal, PostgreSQL
-- then writes the new rows without WAL.
TRUNCATE klantinteracties_onderwerpobject, klantinteracties_klantcontact RESTART IDENTITY;

INSERT INTO klantinteracties_klantcontact
	(uuid, nummer, kanaal, onderwerp, inhoud, indicatie_contact_gelukt, taal, vertrouwelijk,
	 plaatsgevonden_op, metadata, referentienummer, reactie, hoofd_onderwerp_type,
	 verdere_actie_ondernomen)
SELECT md5('kc' || g)::uuid,
	CASE WHEN g % 3 = 0 THEN lpad(g::text, 10, '0') END,
	(ARRAY['telefoon', 'e-mail', 'balie', 'chat'])[1 + g % 4],
	substr(w.t, (1 + (g * 7919) % 400)::int, (20 + (g * 31) % 61)::int),
	substr(w.t, (1 + (g * 104729) % 300)::int, (60 + (g * 17) % 541)::int),
	g % 5 <> 0, 'nld', g % 10 = 0,
	now() - (g % 100000) * interval '1 minute',
	'{}', NULL, '', '', false
FROM generate_series(1::bigint, :n) g,
	(SELECT repeat('vraag over de aanvraag van een vergunning voor het plaatsen van een '
		|| 'dakkapel aan de achterzijde, melding openbare ruimte losliggende stoeptegel, '
		|| 'bezwaar tegen de aanslag gemeentelijke belastingen en parkeervergunning ', 8)::text
		AS t OFFSET 0) w;

-- Links point at klantcontacten in a scattered order, as in life (7919 is
-- prime, so g * 7919 mod N visits every contact once for most N).
INSERT INTO klantinteracties_onderwerpobject
	(uuid, klantcontact_id, was_klantcontact_id,
	 onderwerpobjectidentificator_code_objecttype,
	 onderwerpobjectidentificator_code_soort_object_id,
	 onderwerpobjectidentificator_object_id,
	 onderwerpobjectidentificator_code_register)
SELECT md5('ow' || g)::uuid,
	CASE WHEN g % 8 = 7 THEN NULL ELSE (k.first + (g * 7919) % :n)::int END,
	NULL,
	CASE WHEN g % 2 = 0 OR g % 8 = 7 THEN 'zaak' ELSE 'klant' END,
	'uuid',
	md5('zaak' || g)::uuid::text,
	CASE WHEN g % 2 = 0 OR g % 8 = 7 THEN 'open-zaak' ELSE 'open-klant' END
FROM generate_series(1::bigint, :n) g,
	(SELECT min(id) AS first FROM klantinteracties_klantcontact) k;
COMMIT;

DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT ddl FROM saved_ddl ORDER BY step LOOP
		EXECUTE r.ddl;
	END LOOP;
END $$;

VACUUM ANALYZE klantinteracties_klantcontact;
VACUUM ANALYZE klantinteracties_onderwerpobject;
