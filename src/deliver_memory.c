/*
 * Deliver memory: the highest zaaklink-seq delivered per (zaak, linkTo), in
 * a SQLite file of its own (see deliver_memory.h).
 *
 * The file is created by open(2) before SQLite sees it, so that it gets
 * mode 0640 and is never reached through a symbolic link; SQLite gives its
 * -wal and -shm files the database's mode. A file that holds anything but
 * this memory is refused rather than written to: the application id marks
 * it, and a database without the mark is taken only while it is empty.
 */
#include "deliver_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* PRAGMA application_id of a deliver memory file: "zldm". */
#define MEMORY_APP_ID 0x7a6c646d

/*
 * Schema migrations, applied in order; PRAGMA user_version holds how many
 * ran. A migration is never edited once released: a change is a new entry.
 */
static const char *const migrations[] = {
    "CREATE TABLE delivered ("
    "  zaak TEXT NOT NULL,"
    "  link_to TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  PRIMARY KEY (zaak, link_to)) WITHOUT ROWID;",
};

static const char SQL_GET[] = "SELECT seq FROM delivered WHERE zaak = ?1 AND link_to = ?2";
/* The larger seq stays, in one statement: no read-then-write race. */
static const char SQL_PUT[] = "INSERT INTO delivered (zaak, link_to, seq) VALUES (?1, ?2, ?3)"
                              " ON CONFLICT (zaak, link_to) DO UPDATE SET seq = excluded.seq"
                              " WHERE excluded.seq > delivered.seq";

struct zl_deliver_memory {
	sqlite3 *db;
	sqlite3_stmt *get, *put;
	char *path;
};

/* Fills err with SQLite's words for what failed; returns -1. */
static int db_fail(struct zl_deliver_memory *m, const char *what, struct zl_err *err)
{
	return zl_err_set(err, ZL_EX_CANTCREAT, "could not %s in deliver memory %s: %s", what,
	                  m->path, m->db ? sqlite3_errmsg(m->db) : "no database");
}

static int db_exec(struct zl_deliver_memory *m, const char *sql, const char *what,
                   struct zl_err *err)
{
	if (sqlite3_exec(m->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(m, what, err);
	return 0;
}

/* The integer a pragma answers, or -1 with err. */
static int64_t pragma_int(struct zl_deliver_memory *m, const char *sql, struct zl_err *err)
{
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(m->db, sql, -1, &s, NULL) != SQLITE_OK)
		return db_fail(m, "read the schema", err);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (v < 0)
		return db_fail(m, "read the schema", err);
	return v;
}

/*
 * Creates the file, or opens the one there, without following a link and
 * with mode 0640 when new; checks that it is a regular file.
 */
static int create_file(const char *path, struct zl_err *err)
{
	int fd =
	    open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0640);
	struct stat sb;

	if (fd < 0) {
		if (errno == ELOOP)
			return zl_err_set(
			    err, ZL_EX_CANTCREAT,
			    "deliver memory %s is a symbolic link: refusing to follow it", path);
		return zl_err_set(err, ZL_EX_CANTCREAT, "could not open deliver memory %s: %s",
		                  path, strerror(errno));
	}
	if (fstat(fd, &sb) < 0) {
		int e = errno;

		close(fd);
		return zl_err_set(err, ZL_EX_CANTCREAT, "could not open deliver memory %s: %s",
		                  path, strerror(e));
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return zl_err_set(err, ZL_EX_CANTCREAT,
		                  "deliver memory %s is not a regular file: refusing to use it",
		                  path);
	}
	close(fd);
	return 0;
}

/*
 * Brings the schema up to date. A database without the application id is
 * taken only when it has no table at all (a file just created).
 */
static int migrate(struct zl_deliver_memory *m, struct zl_err *err)
{
	int64_t app, version, tables;

	if ((app = pragma_int(m, "PRAGMA application_id", err)) < 0 ||
	    (version = pragma_int(m, "PRAGMA user_version", err)) < 0 ||
	    (tables = pragma_int(m, "SELECT count(*) FROM sqlite_master", err)) < 0)
		return -1;
	if (app != MEMORY_APP_ID && (app != 0 || version != 0 || tables != 0))
		return zl_err_set(err, ZL_EX_CANTCREAT,
		                  "%s is not a deliver memory file (another database): refusing to "
		                  "touch it",
		                  m->path);
	if (version > (int64_t)ZL_ARRAY_LEN(migrations))
		return zl_err_set(err, ZL_EX_CANTCREAT,
		                  "deliver memory %s has schema version %lld, newer than this "
		                  "zaaklink knows (%d): refusing to touch it",
		                  m->path, (long long)version, (int)ZL_ARRAY_LEN(migrations));
	for (int v = (int)version; v < (int)ZL_ARRAY_LEN(migrations); v++) {
		char bump[128];

		snprintf(bump, sizeof(bump), "PRAGMA application_id = %d; PRAGMA user_version = %d",
		         MEMORY_APP_ID, v + 1);
		if (db_exec(m, "BEGIN IMMEDIATE", "begin a migration", err) < 0)
			return -1;
		if (db_exec(m, migrations[v], "migrate the schema", err) < 0 ||
		    db_exec(m, bump, "record the schema version", err) < 0 ||
		    db_exec(m, "COMMIT", "commit a migration", err) < 0) {
			sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	return 0;
}

struct zl_deliver_memory *deliver_memory_open(const char *path, struct zl_err *err)
{
	struct zl_deliver_memory *m = calloc(1, sizeof(*m));

	if (!m || !(m->path = strdup(path))) {
		free(m);
		zl_err_set(err, ZL_EX_SOFTWARE, "out of memory while opening deliver memory %s",
		           path);
		return NULL;
	}
	if (create_file(path, err) < 0)
		goto fail;
	if (sqlite3_open_v2(path, &m->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		db_fail(m, "open the database", err);
		goto fail;
	}
	sqlite3_busy_timeout(m->db, 10000);
	sqlite3_extended_result_codes(m->db, 1);
	/* FULL: a put is on disk before its message is acknowledged. */
	if (db_exec(m, "PRAGMA journal_mode = WAL", "enable WAL mode", err) < 0 ||
	    db_exec(m, "PRAGMA synchronous = FULL", "set synchronous=FULL", err) < 0 ||
	    migrate(m, err) < 0)
		goto fail;
	if (sqlite3_prepare_v2(m->db, SQL_GET, -1, &m->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(m->db, SQL_PUT, -1, &m->put, NULL) != SQLITE_OK) {
		db_fail(m, "prepare a statement", err);
		goto fail;
	}
	return m;
fail:
	deliver_memory_close(m);
	return NULL;
}

void deliver_memory_close(struct zl_deliver_memory *m)
{
	if (!m)
		return;
	sqlite3_finalize(m->get);
	sqlite3_finalize(m->put);
	sqlite3_close(m->db);
	free(m->path);
	free(m);
}

/* Binds the key; the strings are the caller's and outlive the step. */
static int bind_key(struct zl_deliver_memory *m, sqlite3_stmt *s, const char *zaak,
                    const char *link_to, struct zl_err *err)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (sqlite3_bind_text(s, 1, zaak, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, link_to, -1, SQLITE_STATIC) != SQLITE_OK)
		return db_fail(m, "bind a link", err);
	return 0;
}

int deliver_memory_get(struct zl_deliver_memory *m, const char *zaak, const char *link_to,
                       int64_t *seq, struct zl_err *err)
{
	int rc;

	*seq = 0;
	if (bind_key(m, m->get, zaak, link_to, err) < 0)
		return -1;
	rc = sqlite3_step(m->get);
	if (rc == SQLITE_ROW)
		*seq = sqlite3_column_int64(m->get, 0);
	sqlite3_reset(m->get);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_fail(m, "read a link", err);
}

int deliver_memory_put(struct zl_deliver_memory *m, const char *zaak, const char *link_to,
                       int64_t seq, struct zl_err *err)
{
	int rc;

	if (bind_key(m, m->put, zaak, link_to, err) < 0)
		return -1;
	if (sqlite3_bind_int64(m->put, 3, seq) != SQLITE_OK)
		return db_fail(m, "bind a seq", err);
	rc = sqlite3_step(m->put);
	sqlite3_reset(m->put);
	if (rc != SQLITE_DONE)
		return db_fail(m, "write a link", err);
	return 0;
}
