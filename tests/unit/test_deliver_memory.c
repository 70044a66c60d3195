/* Unit tests of deliver_memory.c: the highest seq per link, kept across a reopen. */
#include "deliver_memory.h"
#include "unit.h"

#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>

/* A fresh path for a memory file in a directory of its own. */
struct tmp_memory {
	char dir[64];
	char path[96];
};

static void tmp_new(struct tmp_memory *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/zl-test-memory-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/deliver.db", t->dir);
}

static void tmp_remove(struct tmp_memory *t)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	char name[128];

	for (size_t i = 0; i < ZL_ARRAY_LEN(suffix); i++) {
		snprintf(name, sizeof(name), "%s%s", t->path, suffix[i]);
		unlink(name);
	}
	rmdir(t->dir);
}

static struct zl_deliver_memory *open_ok(const char *path)
{
	struct zl_err err = {0};
	struct zl_deliver_memory *m = deliver_memory_open(path, &err);

	ck_assert_msg(m != NULL, "open %s: %s", path, err.msg);
	return m;
}

/* The seq remembered for (zaak, link_to), -1 when none. */
static int64_t get(struct zl_deliver_memory *m, const char *zaak, const char *link_to)
{
	struct zl_err err = {0};
	int64_t seq = 77;
	int rc = deliver_memory_get(m, zaak, link_to, &seq, &err);

	ck_assert_msg(rc >= 0, "get: %s", err.msg);
	if (rc == 0) {
		ck_assert_int_eq(seq, 0);
		return -1;
	}
	return seq;
}

static void put(struct zl_deliver_memory *m, const char *zaak, const char *link_to, int64_t seq)
{
	struct zl_err err = {0};

	ck_assert_msg(deliver_memory_put(m, zaak, link_to, seq, &err) == 0, "put: %s", err.msg);
}

static const char ZAAK[] = "urn:uuid:0b6f3c2e-8d1a-4c55-9e07-2f4a6b8c1d90";
static const char LINK[] = "https://openklant.example.nl/klantinteracties/api/v1/klantcontacten/1";

START_TEST(test_put_then_get)
{
	struct tmp_memory t = {"", ""};
	struct zl_deliver_memory *m;

	tmp_new(&t);
	m = open_ok(t.path);
	ck_assert_int_eq(get(m, ZAAK, LINK), -1);
	put(m, ZAAK, LINK, 41);
	ck_assert_int_eq(get(m, ZAAK, LINK), 41);
	/* A seq beyond 32 bits is kept whole. */
	put(m, ZAAK, LINK, INT64_C(5000000000));
	ck_assert_int_eq(get(m, ZAAK, LINK), INT64_C(5000000000));
	deliver_memory_close(m);
	tmp_remove(&t);
}
END_TEST

START_TEST(test_the_highest_seq_stays)
{
	struct tmp_memory t = {"", ""};
	struct zl_deliver_memory *m;

	tmp_new(&t);
	m = open_ok(t.path);
	put(m, ZAAK, LINK, 10);
	put(m, ZAAK, LINK, 7);
	ck_assert_int_eq(get(m, ZAAK, LINK), 10);
	put(m, ZAAK, LINK, 10);
	ck_assert_int_eq(get(m, ZAAK, LINK), 10);
	put(m, ZAAK, LINK, 11);
	ck_assert_int_eq(get(m, ZAAK, LINK), 11);
	put(m, ZAAK, LINK, 1);
	ck_assert_int_eq(get(m, ZAAK, LINK), 11);
	deliver_memory_close(m);
	tmp_remove(&t);
}
END_TEST

START_TEST(test_survives_a_reopen)
{
	struct tmp_memory t = {"", ""};
	struct zl_deliver_memory *m;
	struct stat sb;

	tmp_new(&t);
	/* Created 0640, not SQLite's 0644, under the usual umask. */
	umask(022);
	m = open_ok(t.path);
	put(m, ZAAK, LINK, 99);
	deliver_memory_close(m);
	ck_assert_int_eq(stat(t.path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0640);
	m = open_ok(t.path);
	ck_assert_int_eq(get(m, ZAAK, LINK), 99);
	put(m, ZAAK, LINK, 98);
	deliver_memory_close(m);
	m = open_ok(t.path);
	ck_assert_int_eq(get(m, ZAAK, LINK), 99);
	deliver_memory_close(m);
	tmp_remove(&t);
}
END_TEST

START_TEST(test_links_are_separate)
{
	struct tmp_memory t = {"", ""};
	struct zl_deliver_memory *m;
	static const char OTHER_ZAAK[] = "urn:uuid:11111111-2222-3333-4444-555555555555";
	static const char OTHER_LINK[] =
	    "https://openklant.example.nl/klantinteracties/api/v1/klantcontacten/2";

	tmp_new(&t);
	m = open_ok(t.path);
	put(m, ZAAK, LINK, 5);
	put(m, ZAAK, OTHER_LINK, 3);
	put(m, OTHER_ZAAK, LINK, 8);
	ck_assert_int_eq(get(m, ZAAK, LINK), 5);
	ck_assert_int_eq(get(m, ZAAK, OTHER_LINK), 3);
	ck_assert_int_eq(get(m, OTHER_ZAAK, LINK), 8);
	ck_assert_int_eq(get(m, OTHER_ZAAK, OTHER_LINK), -1);
	deliver_memory_close(m);
	tmp_remove(&t);
}
END_TEST

START_TEST(test_keys_are_byte_exact)
{
	struct tmp_memory t = {"", ""};
	struct zl_deliver_memory *m;

	tmp_new(&t);
	m = open_ok(t.path);
	put(m, ZAAK, "https://x.example/a", 4);
	ck_assert_int_eq(get(m, ZAAK, "https://x.example/A"), -1);
	ck_assert_int_eq(get(m, ZAAK, "https://x.example/a "), -1);
	ck_assert_int_eq(get(m, ZAAK, "https://x.example/a/"), -1);
	ck_assert_int_eq(get(m, ZAAK, "https://X.example/a"), -1);
	/* "é" composed and decomposed are different bytes: different links. */
	put(m, ZAAK, "https://x.example/caf\xc3\xa9", 6);
	ck_assert_int_eq(get(m, ZAAK, "https://x.example/cafe\xcc\x81"), -1);
	ck_assert_int_eq(get(m, ZAAK, "https://x.example/caf\xc3\xa9"), 6);
	/* The zaak is part of the key the same way. */
	ck_assert_int_eq(
	    get(m, "URN:uuid:0b6f3c2e-8d1a-4c55-9e07-2f4a6b8c1d90", "https://x.example/a"), -1);
	/* The pair is the key, not the concatenation. */
	put(m, "ab", "c", 1);
	ck_assert_int_eq(get(m, "a", "bc"), -1);
	ck_assert_int_eq(get(m, "ab", "c"), 1);
	deliver_memory_close(m);
	tmp_remove(&t);
}
END_TEST

START_TEST(test_refuses_a_newer_schema)
{
	struct tmp_memory t = {"", ""};
	struct zl_deliver_memory *m;
	struct zl_err err = {0};
	sqlite3 *db;

	tmp_new(&t);
	m = open_ok(t.path);
	deliver_memory_close(m);
	ck_assert_int_eq(sqlite3_open(t.path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_ptr_null(deliver_memory_open(t.path, &err));
	ck_assert_int_eq(err.code, ZL_EX_CANTCREAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "schema version 99, newer"));
	tmp_remove(&t);
}
END_TEST

START_TEST(test_refuses_another_database)
{
	struct tmp_memory t = {"", ""};
	struct zl_err err = {0};
	sqlite3 *db;

	tmp_new(&t);
	ck_assert_int_eq(sqlite3_open(t.path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE outbox (seq INTEGER)", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	ck_assert_ptr_null(deliver_memory_open(t.path, &err));
	ck_assert_int_eq(err.code, ZL_EX_CANTCREAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "is not a deliver memory file"));
	tmp_remove(&t);
}
END_TEST

START_TEST(test_refuses_a_symbolic_link)
{
	struct tmp_memory t = {"", ""};
	struct zl_err err = {0};
	char target[128];

	tmp_new(&t);
	snprintf(target, sizeof(target), "%s/elsewhere", t.dir);
	ck_assert_int_eq(symlink(target, t.path), 0);
	ck_assert_ptr_null(deliver_memory_open(t.path, &err));
	ck_assert_int_eq(err.code, ZL_EX_CANTCREAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "symbolic link"));
	ck_assert_int_eq(access(target, F_OK), -1);
	tmp_remove(&t);
}
END_TEST

static Suite *deliver_memory_suite(void)
{
	Suite *s = suite_create("deliver_memory");
	TCase *tc = tcase_create("memory");

	tcase_add_test(tc, test_put_then_get);
	tcase_add_test(tc, test_the_highest_seq_stays);
	tcase_add_test(tc, test_survives_a_reopen);
	tcase_add_test(tc, test_links_are_separate);
	tcase_add_test(tc, test_keys_are_byte_exact);
	tcase_add_test(tc, test_refuses_a_newer_schema);
	tcase_add_test(tc, test_refuses_another_database);
	tcase_add_test(tc, test_refuses_a_symbolic_link);
	suite_add_tcase(s, tc);
	return s;
}

ZL_UNIT_MAIN(deliver_memory_suite)
