/*
 * Unit tests of what only the PostgreSQL state has: one writer per schema,
 * the schema version, a reader that creates nothing, and the pipeline of
 * queued writes. They need ZL_TEST_STATE_CONNINFO (a database they may
 * create schemas in); without it the program reports itself skipped.
 */
#include "store_fixtures.h"
#include "unit.h"

START_TEST(test_pg_second_writer_is_refused)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};

	ck_assert_ptr_null(store_open(state_now(), false, &err));
	ck_assert_int_eq(err.code, ZL_EX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(err.msg, "in use by another zaaklink process"));
	ck_assert_ptr_nonnull(strstr(err.msg, pg_schema));
	store_close(st);
	store_close(open_rw());
}
END_TEST

START_TEST(test_pg_newer_schema_is_refused)
{
	struct zl_err err = {0};
	char sql[128];

	store_close(open_rw());
	snprintf(sql, sizeof(sql), "UPDATE %s.schema_version SET version = 99", pg_schema);
	ck_assert_int_eq(pg_run(sql), 0);
	ck_assert_ptr_null(store_open(state_now(), false, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "schema version 99"));
	ck_assert_int_eq(err.code, ZL_EX_CANTCREAT);
}
END_TEST

/* A reader creates nothing: no schema when there is none, and it opens
 * the schema a writer made. */
START_TEST(test_pg_reader_writes_nothing)
{
	struct zl_err err = {0};
	struct zl_store *st;
	struct zl_store_counts c;
	char sql[160];

	ck_assert_ptr_null(store_open(state_now(), true, &err));
	snprintf(sql, sizeof(sql),
	         "DO $$BEGIN IF EXISTS (SELECT FROM pg_namespace WHERE nspname = '%s')"
	         " THEN RAISE 'created'; END IF; END$$",
	         pg_schema);
	ck_assert_int_eq(pg_run(sql), 0);
	store_close(open_rw());
	st = store_open(state_now(), true, &err);
	ck_assert_msg(st != NULL, "store_open: %s", err.msg);
	ck_assert_int_eq(store_counts(st, &c, &err), 0);
	ck_assert_int_lt(store_meta_put(st, "k", "v", &err), 0);
	store_close(st);
}
END_TEST

/* Thousands of queued writes in one pass (more than one pipeline batch),
 * and a failure among them fails the pass and leaves nothing. */
START_TEST(test_pg_queued_writes_land_and_a_failure_among_them_counts)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct zl_payload p = {"urn:uuid:z", "https://ok/x", "l"};
	struct zl_event ev = {
	    .type = ZL_GEKOPPELD, .time = 1, .source = "urn:s", .subject = "z", .payload = &p};
	struct zl_link l;
	int rc = 0;

	ck_assert_int_eq(store_begin(st, &err), 0);
	for (int i = 1; i <= 2500; i++) {
		make_link(&l, i, ZL_LINK_PUBLISHED, "a");
		ck_assert_int_eq(store_link_put(st, &l, &err), 0);
		add_event(st, ZL_GEKOPPELD, i);
	}
	ck_assert_int_eq(store_commit(st, &err), 0);
	ck_assert_int_eq(pending(st), 2500);
	ck_assert_int_eq(store_begin(st, &err), 0);
	make_link(&l, 9000, ZL_LINK_PUBLISHED, "a");
	ck_assert_int_eq(store_link_put(st, &l, &err), 0);
	strcpy(ev.id, "0a0b0c0d-0000-4000-8000-000000000009");
	for (int i = 0; i < 2 && rc == 0; i++)
		rc = store_outbox_add(st, &ev, 9000, &err);
	if (rc == 0)
		rc = store_commit(st, &err);
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(err.msg, pg_schema));
	store_rollback(st);
	ck_assert_int_eq(pending(st), 2500);
	store_close(st);
}
END_TEST

/* Ends the store connections of this process from another session. */
static void cut_connection(void)
{
	char sql[200];

	snprintf(sql, sizeof(sql),
	         "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
	         " WHERE application_name = 'zaaklink pid %ld'",
	         (long)getpid());
	ck_assert_int_eq(pg_run(sql), 0);
	usleep(200000);
}

/* A connection lost between transactions is made again at the next one,
 * the writer's lock taken again first: held by another writer meanwhile,
 * the store refuses to write. */
START_TEST(test_pg_lost_connection_is_made_again_with_the_lock)
{
	struct zl_store *st = open_rw(), *other;
	struct zl_err err = {0};
	struct zl_link l;

	make_link(&l, 1, ZL_LINK_PUBLISHED, "a");
	ck_assert_int_eq(store_link_put(st, &l, &err), 0);
	cut_connection();
	ck_assert_msg(store_begin(st, &err) == 0, "store_begin: %s", err.msg);
	make_link(&l, 2, ZL_LINK_PUBLISHED, "b");
	ck_assert_int_eq(store_link_put(st, &l, &err), 0);
	ck_assert_int_eq(store_commit(st, &err), 0);
	cut_connection();
	other = open_rw();
	ck_assert_int_eq(store_begin(st, &err), -1);
	ck_assert_int_eq(err.code, ZL_EX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(err.msg, "in use by another zaaklink process"));
	store_close(other);
	ck_assert_msg(store_begin(st, &err) == 0, "store_begin: %s", err.msg);
	store_rollback(st);
	ck_assert_int_eq(store_counts(st, &(struct zl_store_counts){0}, &err), 0);
	store_close(st);
}
END_TEST

/* run's store: a standby until it holds the lock. */
static struct zl_store *open_compete(double session_timeout)
{
	struct zl_state_conf sc = *state_now();
	struct zl_err err = {0};
	struct zl_store *st;

	sc.session_timeout = session_timeout;
	st = store_open_compete(&sc, &err);
	ck_assert_msg(st != NULL, "store_open_compete: %s", err.msg);
	return st;
}

/* store_lead() until it leads or ms pass: a closed session's lock is
 * freed by its server process a moment after the close. */
static int lead_within(struct zl_store *st, int ms, struct zl_err *err)
{
	int rc = 0;

	for (int waited = 0; waited <= ms; waited += 50) {
		memset(err, 0, sizeof(*err));
		if ((rc = store_lead(st, err)) != 0)
			return rc;
		usleep(50 * 1000);
	}
	return rc;
}

/* Ends the session that holds the test schema's writer's lock. */
static void cut_holder(void)
{
	char sql[400];

	snprintf(sql, sizeof(sql),
	         "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
	         " AND granted AND classid = hashtext('zaaklink')::oid"
	         " AND objid = hashtext('%s')::oid AND objsubid = 2",
	         pg_schema);
	ck_assert_int_eq(pg_run(sql), 0);
}

/* A standby refuses every call, names the holder, and leads once the
 * lock is free; then a plain writer is refused. */
START_TEST(test_pg_standby_waits_for_the_lock)
{
	struct zl_store *st = open_rw(), *sb = open_compete(10);
	struct zl_err err = {0};
	struct zl_leader_info info;
	char host[256], holder[320];

	ck_assert_int_eq(store_lead(sb, &err), 0);
	ck_assert_int_eq(store_begin(sb, &err), -1);
	ck_assert_int_eq(err.code, ZL_EX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(err.msg, "not the active instance"));
	ck_assert_int_eq(store_heartbeat(sb, 1000, &err), 0);
	ck_assert_int_eq(store_leader_info(sb, &info, &err), 0);
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	snprintf(holder, sizeof(holder), "%s:%ld", host, (long)getpid());
	ck_assert(info.held && !info.self);
	ck_assert_str_eq(info.holder, holder);
	ck_assert_int_eq((int)strlen(info.since), 20);
	store_close(st);
	ck_assert_msg(lead_within(sb, 5000, &err) == 1, "store_lead: %s", err.msg);
	ck_assert_int_eq(store_heartbeat(sb, 1000, &err), 1);
	ck_assert_int_eq(store_leader_info(sb, &info, &err), 0);
	ck_assert(info.held && info.self);
	ck_assert_int_eq(store_begin(sb, &err), 0);
	ck_assert_int_eq(store_commit(sb, &err), 0);
	ck_assert_ptr_null(store_open(state_now(), false, &err));
	ck_assert_int_eq(err.code, ZL_EX_TEMPFAIL);
	store_close(sb);
}
END_TEST

/* A leader whose connection is gone is a standby: it does not reconnect
 * by itself, and another may take the lock meanwhile. */
START_TEST(test_pg_lost_leader_does_not_write_until_it_leads_again)
{
	struct zl_store *sb = open_compete(10), *st;
	struct zl_err err = {0};
	struct zl_link l;

	ck_assert_int_eq(store_lead(sb, &err), 1);
	cut_holder();
	usleep(200000);
	ck_assert_int_eq(store_heartbeat(sb, 1000, &err), 0);
	ck_assert_int_eq(err.code, ZL_EX_UNAVAILABLE);
	make_link(&l, 1, ZL_LINK_PUBLISHED, "a");
	ck_assert_int_eq(store_link_put(sb, &l, &err), -1);
	ck_assert_int_eq(err.code, ZL_EX_TEMPFAIL);
	st = open_rw();
	ck_assert_int_eq(store_lead(sb, &err), 0);
	store_close(st);
	ck_assert_msg(lead_within(sb, 5000, &err) == 1, "store_lead: %s", err.msg);
	ck_assert_int_eq(store_link_put(sb, &l, &err), 0);
	store_close(sb);
}
END_TEST

/* The server drops a silent session of run's by itself (the bound of a
 * takeover after a freeze); the heartbeat then finds it gone. */
START_TEST(test_pg_silent_session_is_dropped_by_the_server)
{
	struct zl_store *sb = open_compete(1);
	struct zl_err err = {0};

	ck_assert_int_eq(store_lead(sb, &err), 1);
	ck_assert_int_eq(store_heartbeat(sb, 1000, &err), 1);
	sleep(1);
	usleep(600 * 1000);
	ck_assert_int_eq(store_heartbeat(sb, 1000, &err), 0);
	ck_assert_msg(strstr(err.msg, "timeout") != NULL, "heartbeat: %s", err.msg);
	store_close(sb);
}
END_TEST

/* Kept alive while it waits elsewhere, in a transaction or not, the
 * active instance's session outlives state.session_timeout. */
START_TEST(test_pg_keepalive_keeps_a_waiting_session)
{
	struct zl_store *sb = open_compete(2);
	struct zl_err err = {0};
	struct zl_link l;

	ck_assert_int_eq(store_lead(sb, &err), 1);
	ck_assert_int_eq(store_begin(sb, &err), 0);
	make_link(&l, 1, ZL_LINK_PUBLISHED, "a");
	ck_assert_int_eq(store_link_put(sb, &l, &err), 0);
	for (int i = 0; i < 12; i++) {
		usleep(250 * 1000);
		store_keepalive(sb);
	}
	ck_assert_msg(store_commit(sb, &err) == 0, "commit: %s", err.msg);
	for (int i = 0; i < 12; i++) {
		usleep(250 * 1000);
		store_keepalive(sb);
	}
	ck_assert_msg(store_heartbeat(sb, 1000, &err) == 1, "heartbeat: %s", err.msg);
	store_close(sb);
}
END_TEST

static Suite *store_pg_suite(void)
{
	Suite *s = suite_create("store_pg");
	TCase *tc = tcase_create("store_pg");

	tcase_add_checked_fixture(tc, setup_pg, teardown_pg);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pg_second_writer_is_refused);
	tcase_add_test(tc, test_pg_newer_schema_is_refused);
	tcase_add_test(tc, test_pg_reader_writes_nothing);
	tcase_add_test(tc, test_pg_queued_writes_land_and_a_failure_among_them_counts);
	tcase_add_test(tc, test_pg_lost_connection_is_made_again_with_the_lock);
	tcase_add_test(tc, test_pg_standby_waits_for_the_lock);
	tcase_add_test(tc, test_pg_lost_leader_does_not_write_until_it_leads_again);
	tcase_add_test(tc, test_pg_silent_session_is_dropped_by_the_server);
	tcase_add_test(tc, test_pg_keepalive_keeps_a_waiting_session);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	pg_conninfo = getenv("ZL_TEST_STATE_CONNINFO");
	if (!pg_conninfo || !*pg_conninfo) {
		printf("1..0 # SKIP ZL_TEST_STATE_CONNINFO is not set\n");
		return EXIT_SUCCESS;
	}
	sr = srunner_create(store_pg_suite());
	srunner_set_tap(sr, "-");
	zl_log_set_level(ZL_LOG_ERROR);
	srunner_run_all(sr, CK_SILENT);
	printf("\n");
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
