/*
 * Unit tests of the state: schema, links, outbox order, atomic passes. The
 * tests of what the store keeps run against both backends: SQLite always,
 * PostgreSQL when ZL_TEST_STATE_CONNINFO names a database they may create
 * schemas in (each test in a fresh schema, dropped afterwards).
 */
#include "store_fixtures.h"
#include "unit.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(test_state_file_uses_wal_and_versioned_schema)
{
	struct zl_store *st = open_rw();
	sqlite3 *db;
	sqlite3_stmt *s;

	store_close(st);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(s, 0), 3);
	sqlite3_finalize(s);
	sqlite3_close(db);
}
END_TEST

/*
 * Version 3 replaced the fingerprints of version 2 (one kind, the hash sum
 * as text): they are dropped, and the stored range size forgotten, so the
 * next pass covers the ranges of the stored links; the links stay.
 */
START_TEST(test_version_2_fingerprints_are_replaced)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct zl_link l;
	struct zl_store_counts c;
	char meta[32];
	sqlite3 *db;
	int n = 0;

	make_link(&l, 7, ZL_LINK_PUBLISHED, "a");
	ck_assert_int_eq(store_link_put(st, &l, &err), 0);
	store_close(st);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db,
	                              "DROP TABLE range_fp;"
	                              "CREATE TABLE range_fp (bucket INTEGER PRIMARY KEY,"
	                              " rows INTEGER NOT NULL, fp TEXT NOT NULL);"
	                              "INSERT INTO range_fp VALUES (0, 1, '-12345678901234567890');"
	                              "INSERT INTO meta VALUES ('range_size', '1024');"
	                              "PRAGMA user_version = 2;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	st = open_rw();
	ck_assert_int_eq(store_meta_get(st, "range_size", meta, sizeof(meta), &err), 0);
	ck_assert_int_eq(store_counts(st, &c, &err), 0);
	ck_assert_int_eq(c.links, 1);
	ck_assert_int_eq(store_ranges_cover_links(st, 1024, &err), 0);
	ck_assert_int_eq(store_ranges_each(st, ZL_FP_LINKS, count_fp, &n, &err), 0);
	ck_assert_int_eq(n, 1);
	store_close(st);
}
END_TEST

START_TEST(test_newer_schema_is_refused)
{
	sqlite3 *db;
	struct zl_err err = {0};

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_ptr_null(store_open(state_at(path), false, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "schema version 99"));
	ck_assert_ptr_nonnull(strstr(err.msg, path));
}
END_TEST

START_TEST(test_second_writer_is_refused_with_pid)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	char pid[32];

	ck_assert_ptr_null(store_open(state_at(path), false, &err));
	snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
	ck_assert_ptr_nonnull(strstr(err.msg, "in use by another zaaklink process"));
	ck_assert_ptr_nonnull(strstr(err.msg, pid));
	ck_assert_int_eq(err.code, ZL_EX_TEMPFAIL);
	store_close(st);
	st = open_rw();
	store_close(st);
}
END_TEST

START_TEST(test_missing_state_read_only_names_file)
{
	struct zl_err err = {0};

	ck_assert_ptr_null(store_open(state_at(path), true, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, path));
}
END_TEST

START_TEST(test_unwritable_directory_names_file_and_cause)
{
	struct zl_err err = {0};

	ck_assert_ptr_null(store_open(state_at("/proc/zl-no/state.db"), false, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "/proc/zl-no/state.db"));
	ck_assert_int_eq(err.code, ZL_EX_CANTCREAT);
}
END_TEST

/* Writes text to name, creating or replacing it. */
static void put_file(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The content of name (at most 255 bytes). */
static const char *file_text(const char *name)
{
	static char buf[256];
	FILE *f = fopen(name, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* A state file that is a symbolic link is refused, by writers and readers,
 * and what it points to is left as it was. */
START_TEST(test_state_file_symlink_is_refused)
{
	char victim[300];
	struct zl_err err = {0};

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	put_file(victim, "precious\n");
	ck_assert_int_eq(symlink(victim, path), 0);
	ck_assert_ptr_null(store_open(state_at(path), false, &err));
	ck_assert_str_eq(err.msg + strlen(err.msg) -
	                     strlen("is a symbolic link: refusing to follow it"),
	                 "is a symbolic link: refusing to follow it");
	ck_assert_ptr_nonnull(strstr(err.msg, path));
	ck_assert_int_eq(err.code, ZL_EX_CANTCREAT);
	ck_assert_str_eq(file_text(victim), "precious\n");
	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(store_open(state_at(path), true, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "is a symbolic link"));
	ck_assert_int_eq(err.code, ZL_EX_CANTCREAT);
}
END_TEST

/* A lock file that is a symbolic link is neither followed nor truncated. */
START_TEST(test_lock_file_symlink_is_not_truncated)
{
	char victim[300], lock[300];
	struct zl_err err = {0};
	struct zl_store *st;

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	put_file(victim, "precious\n");
	ck_assert_int_eq(symlink(victim, lock), 0);
	st = store_open(state_at(path), false, &err);
	ck_assert_str_eq(file_text(victim), "precious\n");
	ck_assert_ptr_null(st);
	ck_assert_ptr_nonnull(strstr(err.msg, lock));
	ck_assert_ptr_nonnull(strstr(err.msg, "is a symbolic link: refusing to follow it"));
	ck_assert_int_eq(err.code, ZL_EX_CANTCREAT);
	ck_assert_int_eq(access(path, F_OK), -1); /* nothing was created either */
}
END_TEST

/* Nor is a dangling link followed to create a file elsewhere. */
START_TEST(test_lock_file_dangling_symlink_creates_nothing)
{
	char target[300], lock[300];
	struct zl_err err = {0};

	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	ck_assert_int_eq(symlink(target, lock), 0);
	ck_assert_ptr_null(store_open(state_at(path), false, &err));
	ck_assert_int_eq(access(target, F_OK), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "is a symbolic link"));
}
END_TEST

START_TEST(test_lock_file_not_regular_is_refused)
{
	char lock[300];
	struct zl_err err = {0};

	snprintf(lock, sizeof(lock), "%s.lock", path);
	ck_assert_int_eq(mkfifo(lock, 0600), 0);
	ck_assert_ptr_null(store_open(state_at(path), false, &err));
	ck_assert_msg(strstr(err.msg, lock) != NULL, "not naming %s: %s", lock, err.msg);
	ck_assert_ptr_nonnull(strstr(err.msg, "is not a regular file"));
	ck_assert_int_eq(err.code, ZL_EX_CANTCREAT);
}
END_TEST

/* SQLite's own files beside the state file are checked too. */
START_TEST(test_wal_file_symlink_is_refused)
{
	char victim[300], wal[300];
	struct zl_err err = {0};

	store_close(open_rw());
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	put_file(victim, "precious\n");
	unlink(wal);
	ck_assert_int_eq(symlink(victim, wal), 0);
	ck_assert_ptr_null(store_open(state_at(path), false, &err));
	ck_assert_msg(strstr(err.msg, wal) != NULL, "not naming %s: %s", wal, err.msg);
	ck_assert_ptr_nonnull(strstr(err.msg, "is a symbolic link"));
	ck_assert_str_eq(file_text(victim), "precious\n");
}
END_TEST

/* Files of another user are refused to a writer: the daemon's user could
 * not write what zaaklink would create beside them. Needs root to give one
 * away. */
START_TEST(test_state_file_of_another_user_is_refused)
{
	struct zl_err err = {0};
	struct zl_store *st;
	char lock[300];

	if (geteuid() != 0) {
		fprintf(stderr, "# skipped: giving a file to another user needs root\n");
		return;
	}
	store_close(open_rw());
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	ck_assert_ptr_null(store_open(state_at(path), false, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, path));
	ck_assert_ptr_nonnull(strstr(err.msg, "not to root who runs zaaklink"));
	ck_assert_int_eq(err.code, ZL_EX_CANTCREAT);
	/* A reader (status, a monitoring user) needs no ownership. */
	st = store_open(state_at(path), true, &err);
	ck_assert_ptr_nonnull(st);
	store_close(st);
	ck_assert_int_eq(chown(path, 0, 0), 0);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	ck_assert_int_eq(chown(lock, 65534, 65534), 0);
	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(store_open(state_at(path), false, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, lock));
	ck_assert_ptr_nonnull(strstr(err.msg, "not to root who runs zaaklink"));
}
END_TEST

START_TEST(test_links_iterate_by_id_within_range)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct zl_link l;
	struct zl_link_iter *it;
	const struct zl_link *got;
	int64_t ids[] = {2048, 5, 1023, 1024, 7};
	int64_t want[] = {5, 7, 1023};
	int n = 0;

	ck_assert_int_eq(store_begin(st, &err), 0);
	for (size_t i = 0; i < ZL_ARRAY_LEN(ids); i++) {
		make_link(&l, ids[i], ZL_LINK_PUBLISHED, "a");
		ck_assert_int_eq(store_link_put(st, &l, &err), 0);
	}
	ck_assert_int_eq(store_commit(st, &err), 0);
	it = store_links_range(st, 0, 1023, &err);
	ck_assert_ptr_nonnull(it);
	while (store_links_next(it, &got, &err) == 1) {
		ck_assert_int_lt(n, 3);
		ck_assert_int_eq(got->id, want[n]);
		ck_assert_str_eq(got->payload.label, "label");
		ck_assert_str_eq(got->code_register, "open-zaak");
		n++;
	}
	store_links_free(it);
	ck_assert_int_eq(n, 3);
	store_close(st);
}
END_TEST

/* Looking links up by id: those stored, in id order, the missing ones left
 * out wherever they fall (first, between, last), and again after a write
 * (SQLite steps one statement prepared once: it must start over). */
START_TEST(test_links_looked_up_by_id)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct zl_link l;
	struct zl_link_iter *it;
	const struct zl_link *got;
	int64_t stored[] = {4096, 5, -3, 1023, 7}; /* not in id order */
	int64_t ask[] = {-9, -3, 4, 5, 7, 8, 1023, 2048, 4096, 5000};
	int64_t want[] = {-3, 5, 7, 1023, 4096};
	int n = 0;

	ck_assert_int_eq(store_begin(st, &err), 0);
	for (size_t i = 0; i < ZL_ARRAY_LEN(stored); i++) {
		make_link(&l, stored[i], ZL_LINK_PUBLISHED, "a");
		ck_assert_int_eq(store_link_put(st, &l, &err), 0);
	}
	for (int round = 0; round < 2; round++) {
		n = 0;
		it = store_links_ids(st, ask, ZL_ARRAY_LEN(ask), &err);
		ck_assert_ptr_nonnull(it);
		while (store_links_next(it, &got, &err) == 1) {
			ck_assert_int_lt(n, (int)ZL_ARRAY_LEN(want));
			ck_assert_int_eq(got->id, want[n]);
			ck_assert_str_eq(got->payload.label, "label");
			ck_assert_str_eq(got->code_register, "open-zaak");
			n++;
		}
		ck_assert_int_eq(n, (int)ZL_ARRAY_LEN(want));
		store_links_free(it);
		/* A write between two lookups, in the same transaction. */
		make_link(&l, 6 + round, ZL_LINK_PUBLISHED, "a");
		ck_assert_int_eq(store_link_put(st, &l, &err), 0);
	}
	/* Only the missing ones, and none at all. */
	it = store_links_ids(st, ask, 1, &err);
	ck_assert_ptr_nonnull(it);
	ck_assert_int_eq(store_links_next(it, &got, &err), 0);
	store_links_free(it);
	it = store_links_ids(st, ask, 0, &err);
	ck_assert_ptr_nonnull(it);
	ck_assert_int_eq(store_links_next(it, &got, &err), 0);
	store_links_free(it);
	ck_assert_int_eq(store_commit(st, &err), 0);
	/* Outside a transaction too, stopped half way. */
	it = store_links_ids(st, ask, ZL_ARRAY_LEN(ask), &err);
	ck_assert_ptr_nonnull(it);
	ck_assert_int_eq(store_links_next(it, &got, &err), 1);
	ck_assert_int_eq(got->id, -3);
	store_links_free(it);
	store_close(st);
}
END_TEST

START_TEST(test_rollback_leaves_nothing_of_a_pass)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct zl_link l;
	struct zl_checkpoint cp = {.passes = 1};
	struct zl_range_fp r = {.kind = ZL_FP_LINKS, .range = 0, .rows = 1, .fp = 123};
	struct zl_store_counts c;

	ck_assert_int_eq(store_begin(st, &err), 0);
	make_link(&l, 1, ZL_LINK_PUBLISHED, "a");
	ck_assert_int_eq(store_link_put(st, &l, &err), 0);
	ck_assert_int_eq(store_range_put(st, &r, &err), 0);
	add_event(st, ZL_GEKOPPELD, 1);
	ck_assert_int_eq(store_checkpoint_put(st, &cp, &err), 0);
	store_rollback(st);
	ck_assert_int_eq(store_counts(st, &c, &err), 0);
	ck_assert_int_eq(c.links, 0);
	ck_assert_int_eq(c.pending, 0);
	ck_assert_int_eq(store_checkpoint_get(st, &cp, &err), 0);
	store_close(st);
}
END_TEST

START_TEST(test_outbox_keeps_record_order_and_removes_acked_prefix)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct zl_outbox_row rows[10], left[10];
	int n;

	for (int i = 0; i < 5; i++)
		add_event(st, i % 2 ? ZL_ONTKOPPELD : ZL_GEKOPPELD, i);
	n = store_outbox_due(st, zl_wall_ms(), rows, 10, &err);
	ck_assert_int_eq(n, 5);
	for (int i = 1; i < n; i++)
		ck_assert_int_gt(rows[i].seq, rows[i - 1].seq);
	ck_assert_str_eq(rows[1].type, ZL_TYPE_ONTKOPPELD);
	ck_assert_int_eq(store_outbox_delivered(st, rows[2].seq, &err), 0);
	ck_assert_int_eq(pending(st), 2);
	/* The two left are exactly the last two recorded, in their order. */
	n = store_outbox_due(st, zl_wall_ms(), left, 10, &err);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(left[0].seq, rows[3].seq);
	ck_assert_str_eq(left[0].event_id, rows[3].event_id);
	ck_assert_int_eq(left[1].seq, rows[4].seq);
	ck_assert_str_eq(left[1].event_id, rows[4].event_id);
	store_outbox_rows_clear(left, n);
	store_outbox_rows_clear(rows, 5);
	store_close(st);
}
END_TEST

START_TEST(test_failed_head_blocks_later_events_until_due)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct zl_outbox_row rows[10];
	struct zl_store_counts c;
	int64_t now = zl_wall_ms();
	int n;

	add_event(st, ZL_ONTKOPPELD, 1);
	add_event(st, ZL_GEKOPPELD, 1);
	n = store_outbox_due(st, now, rows, 10, &err);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(
	    store_outbox_failed(st, rows[0].seq, rows[1].seq, "broker nacked", now + 60000, &err),
	    0);
	store_outbox_rows_clear(rows, n);
	/* A new event must not overtake the failed ones. */
	add_event(st, ZL_GEKOPPELD, 2);
	ck_assert_int_eq(store_outbox_due(st, now, rows, 10, &err), 0);
	ck_assert_int_eq(store_counts(st, &c, &err), 0);
	/* Both rows of the batch were tried and not confirmed; the new one was not tried. */
	ck_assert_int_eq(c.failed, 2);
	ck_assert_str_eq(c.last_error, "broker nacked");
	ck_assert_int_eq(store_outbox_retry_now(st, &err), 0);
	n = store_outbox_due(st, now, rows, 10, &err);
	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(rows[0].type, ZL_TYPE_ONTKOPPELD);
	ck_assert_int_eq(rows[0].attempts, 1);
	store_outbox_rows_clear(rows, n);
	store_close(st);
}
END_TEST

START_TEST(test_event_id_is_stored_unchanged)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct zl_payload p = {"urn:uuid:z", "https://ok/x", "l"};
	struct zl_event ev = {.type = ZL_GEKOPPELD,
	                      .time = 1700000000,
	                      .source = "urn:s",
	                      .subject = "z",
	                      .payload = &p};
	struct zl_outbox_row rows[1];

	strcpy(ev.id, "0a0b0c0d-0000-4000-8000-000000000001");
	ck_assert_int_eq(store_outbox_add(st, &ev, 1, &err), 0);
	ck_assert_int_eq(store_outbox_due(st, zl_wall_ms(), rows, 1, &err), 1);
	ck_assert_str_eq(rows[0].event_id, ev.id);
	ck_assert_ptr_nonnull(strstr(rows[0].body, ev.id));
	ck_assert_int_eq(rows[0].time, 1700000000);
	store_outbox_rows_clear(rows, 1);
	store_close(st);
}
END_TEST

START_TEST(test_published_total_counts_confirmed_events)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct zl_store_counts c;
	struct zl_outbox_row rows[1];

	for (int i = 0; i < 4; i++)
		add_event(st, ZL_GEKOPPELD, i);
	ck_assert_int_eq(store_outbox_delivered(st, 2, &err), 0);
	ck_assert_int_eq(store_outbox_delivered(st, 4, &err), 0);
	ck_assert_int_eq(store_counts(st, &c, &err), 0);
	ck_assert_int_eq(c.published_total, 4);
	ck_assert_int_eq(c.pending, 0);
	/* Delivered rows are gone, yet their seqs are never handed out again:
	 * the next event follows the last one ever recorded. */
	add_event(st, ZL_GEKOPPELD, 4);
	ck_assert_int_eq(store_outbox_due(st, zl_wall_ms(), rows, 1, &err), 1);
	ck_assert_int_eq(rows[0].seq, 5);
	store_outbox_rows_clear(rows, 1);
	store_close(st);
}
END_TEST

START_TEST(test_checkpoint_absent_on_empty_state_then_kept)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct zl_checkpoint cp = {.passes = 3,
	                           .started_ms = 5,
	                           .duration_ms = 6,
	                           .ranges_total = 7,
	                           .ranges_read = 8,
	                           .rows_read = 9,
	                           .links = 10,
	                           .events = 11,
	                           .invalid = 12};
	struct zl_checkpoint got;

	ck_assert_int_eq(store_checkpoint_get(st, &got, &err), 0);
	ck_assert_int_eq(store_checkpoint_put(st, &cp, &err), 0);
	ck_assert_int_eq(store_checkpoint_get(st, &got, &err), 1);
	ck_assert_mem_eq(&got, &cp, sizeof(cp));
	store_close(st);
}
END_TEST

START_TEST(test_backfill_announces_published_links_once)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct zl_link l;
	struct zl_outbox_row rows[10];
	int n;

	make_link(&l, 1, ZL_LINK_PUBLISHED, "a");
	ck_assert_int_eq(store_link_put(st, &l, &err), 0);
	make_link(&l, 2, ZL_LINK_SKIPPED, "not-a-uuid");
	ck_assert_int_eq(store_link_put(st, &l, &err), 0);
	make_link(&l, 3, ZL_LINK_PUBLISHED, "c");
	ck_assert_int_eq(store_link_put(st, &l, &err), 0);
	/* Link 3 has a gekoppeld pending already: announcing it again would
	 * make Open Zaak create a second ZaakObject. */
	add_event(st, ZL_GEKOPPELD, 3);
	ck_assert_int_eq(store_backfill(st, "urn:s", 1700000000, &err), 1);
	n = store_outbox_due(st, zl_wall_ms(), rows, 10, &err);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(rows[1].type, ZL_TYPE_GEKOPPELD);
	ck_assert_str_eq(rows[1].subject, "a");
	ck_assert_ptr_nonnull(strstr(rows[1].body, "\"label\":\"label\""));
	store_outbox_rows_clear(rows, n);
	store_close(st);
}
END_TEST

START_TEST(test_staged_events_follow_everything_added_in_the_pass)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct zl_payload p = {"urn:uuid:z", "https://ok/x", "l"};
	struct zl_event ev = {.time = 1, .source = "urn:s", .subject = "z", .payload = &p};
	struct zl_outbox_row rows[4];
	int n;

	ck_assert_int_eq(store_begin(st, &err), 0);
	ev.type = ZL_GEKOPPELD;
	event_new_id(ev.id);
	ck_assert_int_eq(store_outbox_stage(st, &ev, 50, &err), 0);
	ev.type = ZL_ONTKOPPELD;
	event_new_id(ev.id);
	ck_assert_int_eq(store_outbox_add(st, &ev, 100, &err), 0);
	ck_assert_int_eq(store_outbox_flush_staged(st, &err), 0);
	ck_assert_int_eq(store_commit(st, &err), 0);
	n = store_outbox_due(st, zl_wall_ms(), rows, 4, &err);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(rows[0].type, ZL_TYPE_ONTKOPPELD);
	ck_assert_str_eq(rows[1].type, ZL_TYPE_GEKOPPELD);
	store_outbox_rows_clear(rows, n);
	store_close(st);
}
END_TEST

START_TEST(test_ranges_of_stored_links_are_covered_after_a_clear)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct zl_link l;
	int n = 0;

	make_link(&l, 5, ZL_LINK_PUBLISHED, "a");
	ck_assert_int_eq(store_link_put(st, &l, &err), 0);
	make_link(&l, 2000, ZL_LINK_PUBLISHED, "b");
	ck_assert_int_eq(store_link_put(st, &l, &err), 0);
	make_link(&l, 2001, ZL_LINK_PUBLISHED, "c");
	ck_assert_int_eq(store_link_put(st, &l, &err), 0);
	ck_assert_int_eq(store_ranges_clear(st, &err), 0);
	ck_assert_int_eq(store_ranges_cover_links(st, 16, &err), 0);
	ck_assert_int_eq(store_ranges_each(st, ZL_FP_LINKS, count_fp, &n, &err), 0);
	ck_assert_int_eq(n, 2);
	n = 0;
	ck_assert_int_eq(store_ranges_each(st, ZL_FP_KLANTCONTACTS, count_fp, &n, &err), 0);
	ck_assert_int_eq(n, 0);
	store_close(st);
}
END_TEST

/* Collects the stored fingerprints. */
struct fp_seen {
	struct zl_range_fp v[4];
	int n;
};

static int collect_fp(const struct zl_range_fp *r, void *arg)
{
	struct fp_seen *s = arg;

	ck_assert_int_lt(s->n, 4);
	s->v[s->n++] = *r;
	return 0;
}

START_TEST(test_range_fingerprints_round_trip)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct zl_range_fp a = {.kind = ZL_FP_LINKS, .range = 3, .rows = 2, .fp = INT64_MIN};
	struct zl_range_fp b = {.kind = ZL_FP_LINKS, .range = 1, .rows = 1, .fp = 5};
	struct zl_range_fp k = {.kind = ZL_FP_KLANTCONTACTS, .range = 1, .rows = 7, .fp = -9};
	struct fp_seen seen = {0};
	char meta[32];

	ck_assert_int_eq(store_range_put(st, &a, &err), 0);
	ck_assert_int_eq(store_range_put(st, &b, &err), 0);
	ck_assert_int_eq(store_range_put(st, &k, &err), 0);
	/* The same range of the other kind is another fingerprint. */
	ck_assert_int_eq(store_range_delete(st, ZL_FP_LINKS, 1, &err), 0);
	ck_assert_int_eq(store_ranges_each(st, ZL_FP_LINKS, collect_fp, &seen, &err), 0);
	ck_assert_int_eq(seen.n, 1);
	ck_assert_int_eq(seen.v[0].range, 3);
	ck_assert_int_eq(seen.v[0].rows, 2);
	ck_assert(seen.v[0].fp == INT64_MIN);
	seen.n = 0;
	ck_assert_int_eq(store_ranges_each(st, ZL_FP_KLANTCONTACTS, collect_fp, &seen, &err), 0);
	ck_assert_int_eq(seen.n, 1);
	ck_assert_int_eq(seen.v[0].kind, ZL_FP_KLANTCONTACTS);
	ck_assert_int_eq(seen.v[0].rows, 7);
	ck_assert(seen.v[0].fp == -9);
	ck_assert_int_eq(store_meta_put(st, "range_size", "1024", &err), 0);
	ck_assert_int_eq(store_meta_get(st, "range_size", meta, sizeof(meta), &err), 1);
	ck_assert_str_eq(meta, "1024");
	ck_assert_int_eq(store_meta_get(st, "nothing", meta, sizeof(meta), &err), 0);
	ck_assert_int_eq(store_ranges_clear(st, &err), 0);
	seen.n = 0;
	ck_assert_int_eq(store_ranges_each(st, ZL_FP_KLANTCONTACTS, collect_fp, &seen, &err), 0);
	ck_assert_int_eq(seen.n, 0);
	store_close(st);
}
END_TEST

/* Collects the event ids and link ids of store_outbox_each(). */
struct seen_rows {
	char ids[4][37];
	int64_t links[4];
	int n;
};

static int collect_row(const struct zl_outbox_full *r, void *arg)
{
	struct seen_rows *seen = arg;

	ck_assert_int_lt(seen->n, 4);
	snprintf(seen->ids[seen->n], sizeof(seen->ids[0]), "%s", r->row.event_id);
	seen->links[seen->n++] = r->link_id;
	return 0;
}

/* What state copy relies on: every row read in order, and put back as it
 * was (seq, id, body, attempts, error); the seqs handed out go on above
 * the high water raised after it. */
START_TEST(test_outbox_rows_read_and_put_as_they_are)
{
	struct zl_store *st = open_rw();
	struct zl_err err = {0};
	struct seen_rows seen = {0};
	struct zl_outbox_row rows[4];
	struct zl_outbox_full r = {
	    .row = {.seq = 10,
	            .event_id = "0a0b0c0d-0000-4000-8000-00000000000f",
	            .type = ZL_TYPE_GEKOPPELD,
	            .source = "urn:s",
	            .subject = "z",
	            .time = 1700000001,
	            .body = "{\"id\":\"x\"}",
	            .attempts = 3},
	    .link_id = 42,
	    .last_error = "broker nacked",
	    .next_attempt_ms = 0,
	};
	struct zl_store_counts c;
	int64_t hw = -1;

	ck_assert_int_eq(store_outbox_high_water(st, &hw, &err), 0);
	ck_assert_int_eq(hw, 0);
	add_event(st, ZL_GEKOPPELD, 5);
	add_event(st, ZL_ONTKOPPELD, 6);
	ck_assert_int_eq(store_outbox_each(st, collect_row, &seen, &err), 0);
	ck_assert_int_eq(seen.n, 2);
	ck_assert_int_eq(seen.links[0], 5);
	ck_assert_int_eq(seen.links[1], 6);
	ck_assert_int_eq(store_begin(st, &err), 0);
	ck_assert_int_eq(store_outbox_put(st, &r, &err), 0);
	ck_assert_int_eq(store_commit(st, &err), 0);
	ck_assert_int_eq(store_outbox_due(st, zl_wall_ms(), rows, 4, &err), 3);
	ck_assert_str_eq(rows[0].event_id, seen.ids[0]);
	ck_assert_str_eq(rows[2].event_id, r.row.event_id);
	ck_assert_int_eq(rows[2].seq, 10);
	ck_assert_str_eq(rows[2].body, r.row.body);
	ck_assert_int_eq(rows[2].attempts, 3);
	store_outbox_rows_clear(rows, 3);
	ck_assert_int_eq(store_counts(st, &c, &err), 0);
	ck_assert_str_eq(c.last_error, "broker nacked");
	ck_assert_int_eq(store_begin(st, &err), 0);
	ck_assert_int_eq(store_outbox_raise_high_water(st, 20, &err), 0);
	ck_assert_int_eq(store_outbox_raise_high_water(st, 15, &err), 0);
	ck_assert_int_eq(store_commit(st, &err), 0);
	ck_assert_int_eq(store_outbox_high_water(st, &hw, &err), 0);
	ck_assert_int_eq(hw, 20);
	add_event(st, ZL_GEKOPPELD, 7);
	ck_assert_int_eq(store_outbox_due(st, zl_wall_ms(), rows, 4, &err), 4);
	ck_assert_int_eq(rows[3].seq, 21);
	store_outbox_rows_clear(rows, 4);
	store_close(st);
}
END_TEST

/* The tests of what the store keeps, the same on both backends. */
static void add_common_tests(TCase *tc)
{
	tcase_add_test(tc, test_links_iterate_by_id_within_range);
	tcase_add_test(tc, test_links_looked_up_by_id);
	tcase_add_test(tc, test_rollback_leaves_nothing_of_a_pass);
	tcase_add_test(tc, test_outbox_keeps_record_order_and_removes_acked_prefix);
	tcase_add_test(tc, test_failed_head_blocks_later_events_until_due);
	tcase_add_test(tc, test_event_id_is_stored_unchanged);
	tcase_add_test(tc, test_published_total_counts_confirmed_events);
	tcase_add_test(tc, test_checkpoint_absent_on_empty_state_then_kept);
	tcase_add_test(tc, test_backfill_announces_published_links_once);
	tcase_add_test(tc, test_range_fingerprints_round_trip);
	tcase_add_test(tc, test_staged_events_follow_everything_added_in_the_pass);
	tcase_add_test(tc, test_ranges_of_stored_links_are_covered_after_a_clear);
	tcase_add_test(tc, test_outbox_rows_read_and_put_as_they_are);
}

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_state_file_uses_wal_and_versioned_schema);
	tcase_add_test(tc, test_newer_schema_is_refused);
	tcase_add_test(tc, test_version_2_fingerprints_are_replaced);
	tcase_add_test(tc, test_second_writer_is_refused_with_pid);
	tcase_add_test(tc, test_missing_state_read_only_names_file);
	tcase_add_test(tc, test_unwritable_directory_names_file_and_cause);
	tcase_add_test(tc, test_state_file_symlink_is_refused);
	tcase_add_test(tc, test_lock_file_symlink_is_not_truncated);
	tcase_add_test(tc, test_lock_file_dangling_symlink_creates_nothing);
	tcase_add_test(tc, test_lock_file_not_regular_is_refused);
	tcase_add_test(tc, test_wal_file_symlink_is_refused);
	tcase_add_test(tc, test_state_file_of_another_user_is_refused);
	add_common_tests(tc);
	suite_add_tcase(s, tc);
	pg_conninfo = getenv("ZL_TEST_STATE_CONNINFO");
	if (pg_conninfo && *pg_conninfo) {
		tc = tcase_create("store_pg");
		tcase_add_checked_fixture(tc, setup_pg, teardown_pg);
		tcase_set_timeout(tc, 60);
		add_common_tests(tc);
		suite_add_tcase(s, tc);
	} else {
		printf(
		    "# the PostgreSQL backend is not tested: ZL_TEST_STATE_CONNINFO is not set\n");
	}
	return s;
}

ZL_UNIT_MAIN(store_suite)
