/*
 * What the store's unit tests share (test_store.c, test_store_pg.c): a
 * state file in a fresh directory per test, or with ZL_TEST_STATE_CONNINFO
 * a fresh PostgreSQL schema per test (dropped afterwards), and helpers that
 * open, fill and count a state on either backend.
 */
#ifndef ZL_STORE_FIXTURES_H
#define ZL_STORE_FIXTURES_H

#include "conf.h"
#include "store.h"

#include <check.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/zl-store-XXXXXX";
static char path[256];
static const char *pg_conninfo; /* ZL_TEST_STATE_CONNINFO */
static char pg_schema[64];      /* the running test's schema; "" on SQLite */

static inline void setup(void)
{
	strcpy(dir, "/tmp/zl-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.db", dir);
}

static inline void teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The settings of a state file at p. */
static inline const struct zl_state_conf *state_at(const char *p)
{
	static struct zl_state_conf sc;

	sc.path = (char *)p;
	sc.conninfo = NULL;
	sc.schema = NULL;
	return &sc;
}

/* The state of the running test: the file, or the test's schema. */
static inline const struct zl_state_conf *state_now(void)
{
	static struct zl_state_conf sc;

	if (!pg_schema[0])
		return state_at(path);
	sc.path = NULL;
	sc.conninfo = (char *)pg_conninfo;
	sc.schema = pg_schema;
	return &sc;
}

/* Runs SQL in the test database, outside zaaklink; 0 when it worked. */
static inline int pg_run(const char *sql)
{
	PGconn *c = PQconnectdb(pg_conninfo);
	PGresult *r;
	int rc;

	PQclear(PQexec(c, "SET client_min_messages = warning"));
	r = PQexec(c, sql);
	rc = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
	if (rc < 0)
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return rc;
}

static inline void setup_pg(void)
{
	static int n;

	setup();
	snprintf(pg_schema, sizeof(pg_schema), "zl_unit_%ld_%d", (long)getpid(), ++n);
}

static inline void teardown_pg(void)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", pg_schema);
	ck_assert_int_eq(pg_run(sql), 0);
	pg_schema[0] = '\0';
	teardown();
}

static inline struct zl_store *open_rw(void)
{
	struct zl_err err = {0};
	struct zl_store *st = store_open(state_now(), false, &err);

	ck_assert_msg(st != NULL, "store_open: %s", err.msg);
	return st;
}

static inline void make_link(struct zl_link *l, int64_t id, enum zl_link_status status,
                             const char *zaak)
{
	memset(l, 0, sizeof(*l));
	l->id = id;
	l->status = status;
	l->uuid = "11111111-2222-4333-8444-555555555555";
	l->klantcontact_id = 7;
	l->objecttype = "zaak";
	l->soort_object_id = "uuid";
	l->object_id = (char *)zaak;
	l->code_register = "open-zaak";
	l->payload.zaak = "urn:uuid:x";
	l->payload.link_to = "https://ok/klantinteracties/api/v1/onderwerpobjecten/1";
	l->payload.label = "label";
}

static inline void add_event(struct zl_store *st, enum zl_event_type type, int64_t link_id)
{
	struct zl_payload p = {"urn:uuid:z", "https://ok/x", "l"};
	struct zl_event ev = {
	    .type = type, .time = 1700000000, .source = "urn:s", .subject = "z", .payload = &p};
	struct zl_err err = {0};

	event_new_id(ev.id);
	ck_assert_int_eq(store_outbox_add(st, &ev, link_id, &err), 0);
}

static inline int64_t pending(struct zl_store *st)
{
	struct zl_store_counts c;
	struct zl_err err = {0};

	ck_assert_int_eq(store_counts(st, &c, &err), 0);
	return c.pending;
}

/* Counts the stored fingerprints. */
static inline int count_fp(const struct zl_range_fp *r, void *arg)
{
	(void)r;
	(*(int *)arg)++;
	return 0;
}

#endif
