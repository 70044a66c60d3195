/*
 * Store in SQLite, the file: opening zaaklink's SQLite state, one writer at
 * a time, migrating its schema, transactions, the meta settings, the
 * backfill request left beside it, and the backend's table of operations.
 * The tables' contents belong to store_sqlite_links.c (links, fingerprints,
 * checkpoint) and store_sqlite_outbox.c (the outbox).
 *
 * Opening is where the hard part is: the state file, its journal files and
 * its lock file must be zaaklink's own regular files (a link planted in the
 * state directory must not make zaaklink write elsewhere); the lock is an
 * flock on a file of its own; and a reader that may not write beside the
 * file can still read it while no writer runs (readable_without_writing).
 */
#include "store_sqlite.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Schema migrations, applied in order; PRAGMA user_version holds how many
 * ran. A migration is never edited once released: a change is a new entry.
 * Three columns keep the names of the first schema: range_fp.bucket holds
 * a range's number, checkpoint.ranges_fetched and rows_fetched hold
 * ranges_read and rows_read. Renaming them would take a migration, after
 * which an older zaaklink refuses the file: too much for a word.
 */
static const char *const migrations[] = {
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE link ("
    "  id INTEGER PRIMARY KEY,"  /* klantinteracties_onderwerpobject.id */
    "  status INTEGER NOT NULL," /* enum zl_link_status */
    "  uuid TEXT NOT NULL,"
    "  klantcontact_id INTEGER NOT NULL,"
    "  objecttype TEXT NOT NULL,"
    "  soort_object_id TEXT NOT NULL,"
    "  object_id TEXT NOT NULL,"
    "  code_register TEXT NOT NULL,"
    "  zaak TEXT NOT NULL," /* payload as recorded */
    "  link_to TEXT NOT NULL,"
    "  label TEXT NOT NULL);"
    "CREATE TABLE range_fp ("
    "  bucket INTEGER PRIMARY KEY,"
    "  rows INTEGER NOT NULL,"
    "  fp TEXT NOT NULL);"
    "CREATE TABLE outbox ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  event_id TEXT NOT NULL UNIQUE,"
    "  type TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  link_id INTEGER NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  body TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  next_attempt_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE checkpoint ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  passes INTEGER NOT NULL,"
    "  started_ms INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL,"
    "  ranges_total INTEGER NOT NULL,"
    "  ranges_fetched INTEGER NOT NULL,"
    "  rows_fetched INTEGER NOT NULL,"
    "  links INTEGER NOT NULL,"
    "  events INTEGER NOT NULL,"
    "  invalid INTEGER NOT NULL);",
    /* backfill looks up the pending events of a link. */
    "CREATE INDEX outbox_link ON outbox (link_id, type);",
    /* Fingerprints of two kinds (enum zl_fp_kind), hashes as integers. The
     * old ones are dropped; forgetting the range size makes the next pass
     * give every range of a stored link a fingerprint that matches nothing,
     * so that pass reads every range once and records no event for a link
     * that did not change. */
    "DROP TABLE range_fp;"
    "CREATE TABLE range_fp ("
    "  kind INTEGER NOT NULL,"
    "  bucket INTEGER NOT NULL,"
    "  rows INTEGER NOT NULL,"
    "  fp INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, bucket)) WITHOUT ROWID;"
    "DELETE FROM meta WHERE key = 'range_size';",
};

/* The statements run once per row, prepared when a writer opens the file. */
static const char *const stmt_sql[ST_COUNT] = {
    [ST_RANGE_PUT] = "INSERT OR REPLACE INTO range_fp (kind, bucket, rows, fp)"
                     " VALUES (?, ?, ?, ?)",
    [ST_RANGE_DELETE] = "DELETE FROM range_fp WHERE kind = ? AND bucket = ?",
    [ST_LINK_PUT] = "INSERT OR REPLACE INTO link (id, status, uuid, klantcontact_id, objecttype,"
                    " soort_object_id, object_id, code_register, zaak, link_to, label)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_LINK_DELETE] = "DELETE FROM link WHERE id = ?",
    [ST_LINK_GET] = "SELECT " ZL_LINK_COLUMNS " FROM link WHERE id = ?",
    [ST_OUTBOX_ADD] = "INSERT INTO outbox (event_id, type, source, subject, link_id, time, body)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?)",
    [ST_OUTBOX_STAGE] = "INSERT INTO temp.staged (event_id, type, source, subject, link_id, time,"
                        " body) VALUES (?, ?, ?, ?, ?, ?, ?)",
};

/* ---- helpers of store_sqlite*.c (store_sqlite.h) ---- */

int sdb_fail(struct zl_store *st, struct zl_err *err, const char *what)
{
	return zl_err_set(err, ZL_EX_CANTCREAT, "could not %s in state file %s: %s", what, st->path,
	                  sqlite3_errmsg(st->db));
}

int sdb_exec(struct zl_store *st, const char *sql, const char *what, struct zl_err *err)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sdb_fail(st, err, what);
	return 0;
}

sqlite3_stmt *sdb_prepare(struct zl_store *st, const char *sql, struct zl_err *err)
{
	sqlite3_stmt *stmt = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		sdb_fail(st, err, "prepare a statement");
		return NULL;
	}
	return stmt;
}

int sdb_step(struct zl_store *st, sqlite3_stmt *s, const char *what, struct zl_err *err)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE)
		return sdb_fail(st, err, what);
	return 0;
}

int sdb_step_once(struct zl_store *st, sqlite3_stmt *s, const char *what, struct zl_err *err)
{
	/* The error is taken before finalizing, which would reset it. */
	int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sdb_fail(st, err, what);

	sqlite3_finalize(s);
	return rc;
}

int64_t sdb_int(struct zl_store *st, const char *sql, const char *what, struct zl_err *err)
{
	sqlite3_stmt *s = sdb_prepare(st, sql, err);
	int64_t v = 0;
	int rc;

	if (!s)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		v = sdb_fail(st, err, what);
	sqlite3_finalize(s);
	return v;
}

char *sdb_text(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return strdup(t ? (const char *)t : "");
}

/* ---- opening the file ---- */

/* The name of a user, or its number when it has none; buf holds 64 bytes. */
static const char *user_name(uid_t uid, char *buf)
{
	struct passwd pwd, *pw = NULL;
	char pwbuf[1024];

	/* The reentrant call: the metrics endpoint runs a thread of its own. */
	if (getpwuid_r(uid, &pwd, pwbuf, sizeof(pwbuf), &pw) == 0 && pw && strlen(pw->pw_name) < 64)
		snprintf(buf, 64, "%s", pw->pw_name);
	else
		snprintf(buf, 64, "uid %lu", (unsigned long)uid);
	return buf;
}

/*
 * The state file and its companions are zaaklink's own: a regular file of
 * the user it runs as. Anything else is refused rather than written to, since
 * it may be planted in the state directory to make zaaklink (perhaps run as
 * root) truncate or overwrite a file elsewhere, or leave files the daemon's
 * user can no longer write. A reader (status, dlq) only needs a regular
 * file that is no link: a monitoring user reads the daemon's state without
 * owning it. what: "state file", "lock file", ...
 */
static int check_own_file(const char *what, const char *path, const struct stat *sb, bool writer,
                          struct zl_err *err)
{
	char owner[64], self[64];

	if (S_ISLNK(sb->st_mode))
		return zl_err_set(err, ZL_EX_CANTCREAT,
		                  "%s %s is a symbolic link: refusing to follow it", what, path);
	if (!S_ISREG(sb->st_mode))
		return zl_err_set(err, ZL_EX_CANTCREAT,
		                  "%s %s is not a regular file: refusing to use it", what, path);
	if (writer && sb->st_uid != geteuid())
		return zl_err_set(err, ZL_EX_CANTCREAT,
		                  "%s %s belongs to %s, not to %s who runs zaaklink: refusing to "
		                  "use it (run zaaklink as its owner)",
		                  what, path, user_name(sb->st_uid, owner),
		                  user_name(geteuid(), self));
	return 0;
}

/*
 * Checks the state file and the files SQLite keeps beside it, those that
 * exist: SQLITE_OPEN_NOFOLLOW covers only the database's own name, and
 * refuses a link with a bare "unable to open database file".
 */
static int check_state_files(const char *path, bool writer, struct zl_err *err)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	size_t n = strlen(path) + sizeof("-journal");
	char *name = malloc(n);
	int ret = 0;

	if (!name)
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while checking the state files of %s", path);
	for (size_t i = 0; i < ZL_ARRAY_LEN(suffix) && ret == 0; i++) {
		struct stat sb;

		snprintf(name, n, "%s%s", path, suffix[i]);
		if (lstat(name, &sb) == 0)
			ret = check_own_file(i == 0 ? "state file" : "state journal file", name,
			                     &sb, writer, err);
		else if (errno != ENOENT)
			ret = zl_err_set(err, ZL_EX_CANTCREAT, "could not open state file %s: %s",
			                 name, strerror(errno));
	}
	free(name);
	return ret;
}

/*
 * One writer per state file: two daemons on one file would publish every
 * event twice and race on the outbox. The lock is an flock on a file of its
 * own, because SQLite's POSIX locks vanish when any descriptor of the
 * database is closed.
 */
static int take_writer_lock(struct zl_store *st, struct zl_err *err)
{
	size_t n = strlen(st->path) + sizeof(".lock");
	char *lock_path = malloc(n);
	char pid[32];
	struct stat sb;

	if (!lock_path)
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while taking the lock of state file %s", st->path);
	snprintf(lock_path, n, "%s.lock", st->path);
	/* Not truncated on opening: only once it is known to be ours. */
	st->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0640);
	if (st->lock_fd < 0) {
		if (errno == ELOOP)
			zl_err_set(err, ZL_EX_CANTCREAT,
			           "lock file %s is a symbolic link: refusing to follow it",
			           lock_path);
		else
			zl_err_set(err, ZL_EX_CANTCREAT, "could not open lock file %s: %s",
			           lock_path, strerror(errno));
		free(lock_path);
		return -1;
	}
	if (fstat(st->lock_fd, &sb) < 0) {
		zl_err_set(err, ZL_EX_CANTCREAT, "could not open lock file %s: %s", lock_path,
		           strerror(errno));
		free(lock_path);
		return -1;
	}
	if (check_own_file("lock file", lock_path, &sb, true, err) < 0) {
		free(lock_path);
		return -1;
	}
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t got = pread(st->lock_fd, pid, sizeof(pid) - 1, 0);

		pid[got > 0 ? got : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		zl_err_set(err, ZL_EX_TEMPFAIL,
		           "state file %s is in use by another zaaklink process (pid %s)", st->path,
		           *pid ? pid : "unknown");
		free(lock_path);
		return -1;
	}
	free(lock_path);
	n = (size_t)snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(st->lock_fd, 0) < 0 || pwrite(st->lock_fd, pid, n, 0) < 0)
		return zl_err_set(err, ZL_EX_CANTCREAT, "could not write lock file of %s: %s",
		                  st->path, strerror(errno));
	return 0;
}

static int migrate(struct zl_store *st, struct zl_err *err)
{
	sqlite3_stmt *stmt = sdb_prepare(st, "PRAGMA user_version", err);
	int version;

	if (!stmt)
		return -1;
	version = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
	sqlite3_finalize(stmt);
	if (version < 0)
		return sdb_fail(st, err, "read the schema version");
	if (version > (int)ZL_ARRAY_LEN(migrations))
		return zl_err_set(err, ZL_EX_CANTCREAT,
		                  "state file %s has schema version %d, newer than this zaaklink "
		                  "knows (%d): refusing to touch it",
		                  st->path, version, (int)ZL_ARRAY_LEN(migrations));
	for (int v = version; v < (int)ZL_ARRAY_LEN(migrations); v++) {
		char bump[64];

		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
		if (sdb_exec(st, "BEGIN IMMEDIATE", "begin a migration", err) < 0)
			return -1;
		if (sdb_exec(st, migrations[v], "migrate the schema", err) < 0 ||
		    sdb_exec(st, bump, "record the schema version", err) < 0 ||
		    sdb_exec(st, "COMMIT", "commit a migration", err) < 0) {
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		zl_info("state.migrated", "path=%s version=%d", st->path, v + 1);
	}
	return 0;
}

/*
 * A reader that may not write beside the state file (a monitoring user)
 * cannot open a WAL database while no writer is: SQLite must create the
 * -shm file to read it, and answers "readonly". With no -wal file there
 * is nothing but the database file to read, so it is opened immutable:
 * read as it is, without the shared memory. A writer that starts meanwhile
 * writes into a new WAL first, which this snapshot does not see. Returns
 * true when st was reopened that way.
 */
static bool readable_without_writing(struct zl_store *st)
{
	size_t n = strlen(st->path);
	char *wal = malloc(n + sizeof("-wal"));
	char *uri = malloc(3 * n + sizeof("file:?immutable=1"));
	struct stat sb;
	char *o;
	bool ok = false;

	if ((sqlite3_errcode(st->db) & 0xff) != SQLITE_READONLY || !wal || !uri)
		goto out;
	snprintf(wal, n + sizeof("-wal"), "%s-wal", st->path);
	if (lstat(wal, &sb) == 0 || errno != ENOENT)
		goto out;
	/* The path as a URI: '%', '?' and '#' would end or change it. */
	o = uri + sprintf(uri, "file:");
	for (const char *c = st->path; *c; c++)
		o += (*c == '%' || *c == '?' || *c == '#') ? sprintf(o, "%%%02X", (unsigned char)*c)
		                                           : sprintf(o, "%c", *c);
	sprintf(o, "?immutable=1");
	sqlite3_close(st->db);
	st->db = NULL;
	ok = sqlite3_open_v2(uri, &st->db,
	                     SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOFOLLOW |
	                         SQLITE_OPEN_NOMUTEX,
	                     NULL) == SQLITE_OK;
out:
	free(wal);
	free(uri);
	return ok;
}

static const struct store_ops sq_ops;
static void sq_close(struct zl_store *st);

struct zl_store *sq_open(const char *path, bool read_only, struct zl_err *err)
{
	struct zl_store *st = calloc(1, sizeof(*st));
	int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	if (!st || !(st->path = strdup(path))) {
		free(st);
		zl_err_set(err, ZL_EX_SOFTWARE, "out of memory while opening state file %s", path);
		return NULL;
	}
	st->ops = &sq_ops;
	st->lock_fd = -1;
	if (!read_only && take_writer_lock(st, err) < 0)
		goto fail;
	if (check_state_files(path, !read_only, err) < 0)
		goto fail;
	/* NOFOLLOW again for a link put there after the check. */
	flags |= SQLITE_OPEN_NOFOLLOW;
	if (sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		sdb_fail(st, err, "open the database");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 10000);
	sqlite3_extended_result_codes(st->db, 1);
	if (!read_only) {
		/* WAL lets status read while a pass writes; FULL makes a
		 * commit durable before the broker ever sees its events. */
		if (sdb_exec(st, "PRAGMA journal_mode = WAL", "enable WAL mode", err) < 0 ||
		    sdb_exec(st, "PRAGMA synchronous = FULL", "set synchronous=FULL", err) < 0 ||
		    sdb_exec(st, "PRAGMA foreign_keys = ON", "enable foreign keys", err) < 0 ||
		    migrate(st, err) < 0 ||
		    sdb_exec(
		        st,
		        "CREATE TEMP TABLE staged (event_id TEXT NOT NULL, type TEXT NOT NULL,"
		        " source TEXT NOT NULL, subject TEXT NOT NULL, link_id INTEGER NOT NULL,"
		        " time INTEGER NOT NULL, body TEXT NOT NULL)",
		        "create the staging table", err) < 0)
			goto fail;
		for (int i = 0; i < ST_COUNT; i++)
			if (!(st->stmt[i] = sdb_prepare(st, stmt_sql[i], err)))
				goto fail;
	} else if (sdb_exec(st, "SELECT 1 FROM checkpoint LIMIT 1", "read", err) < 0 &&
	           (!readable_without_writing(st) ||
	            sdb_exec(st, "SELECT 1 FROM checkpoint LIMIT 1", "read", err) < 0)) {
		goto fail;
	}
	return st;
fail:
	sq_close(st);
	return NULL;
}

static void sq_close(struct zl_store *st)
{
	if (!st)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st->path);
	free(st);
}

int sq_begin(struct zl_store *st, struct zl_err *err)
{
	return sdb_exec(st, "BEGIN IMMEDIATE", "begin a transaction", err);
}

int sq_commit(struct zl_store *st, struct zl_err *err)
{
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sdb_fail(st, err, "commit");
		sq_rollback(st);
		return -1;
	}
	return 0;
}

void sq_rollback(struct zl_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- backfill requests ---- */

/* "<state>.backfill", malloc'ed; NULL when out of memory. */
static char *backfill_request_path(const char *state_path)
{
	size_t n = strlen(state_path) + sizeof(".backfill");
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s.backfill", state_path);
	return p;
}

int sq_request_backfill(const char *state_path, struct zl_err *err)
{
	char *path = backfill_request_path(state_path);
	char line[64];
	int fd, n, rc = 0;

	if (!path)
		return zl_err_set(err, ZL_EX_SOFTWARE, "out of memory while requesting a backfill");
	/* Never through a link, never truncating: like the lock file. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0640);
	if (fd < 0 && errno != EEXIST) {
		rc = zl_err_set(err, ZL_EX_CANTCREAT, "could not write the backfill request %s: %s",
		                path, strerror(errno));
	} else if (fd >= 0) {
		n = snprintf(line, sizeof(line), "pid=%ld time=%lld\n", (long)getpid(),
		             (long long)zl_wall_s());
		if (write(fd, line, (size_t)n) != n || close(fd) < 0)
			rc = zl_err_set(err, ZL_EX_CANTCREAT,
			                "could not write the backfill request %s: %s", path,
			                strerror(errno));
	}
	free(path);
	return rc;
}

static int sq_take_backfill_request(struct zl_store *st, struct zl_err *err)
{
	char *path = backfill_request_path(st->path);
	int rc = 1;

	if (!path)
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while looking for a backfill request");
	if (unlink(path) < 0)
		rc = errno == ENOENT ? 0
		                     : zl_err_set(err, ZL_EX_CANTCREAT,
		                                  "could not take the backfill request %s: %s",
		                                  path, strerror(errno));
	free(path);
	return rc;
}

/* ---- meta ---- */

static int sq_meta_get(struct zl_store *st, const char *key, char *buf, size_t size,
                       struct zl_err *err)
{
	sqlite3_stmt *s = sdb_prepare(st, "SELECT value FROM meta WHERE key = ?", err);
	int rc;

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sdb_fail(st, err, "read setting");
}

static int sq_meta_put(struct zl_store *st, const char *key, const char *value, struct zl_err *err)
{
	sqlite3_stmt *s =
	    sdb_prepare(st, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", err);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	return sdb_step_once(st, s, "write setting", err);
}

static const struct store_ops sq_ops = {
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .ranges_each = sq_ranges_each,
    .range_put = sq_range_put,
    .range_delete = sq_range_delete,
    .ranges_clear = sq_ranges_clear,
    .ranges_cover_links = sq_ranges_cover_links,
    .links_range = sq_links_range,
    .links_next = sq_links_next,
    .links_free = sq_links_free,
    .links_ids = sq_links_ids,
    .link_put = sq_link_put,
    .link_delete = sq_link_delete,
    .outbox_add = sq_outbox_add,
    .outbox_stage = sq_outbox_stage,
    .outbox_flush_staged = sq_outbox_flush_staged,
    .outbox_due = sq_outbox_due,
    .outbox_each = sq_outbox_each,
    .outbox_put = sq_outbox_put,
    .outbox_high_water = sq_outbox_high_water,
    .outbox_raise_high_water = sq_outbox_raise_high_water,
    .outbox_delivered = sq_outbox_delivered,
    .outbox_failed = sq_outbox_failed,
    .outbox_retry_now = sq_outbox_retry_now,
    .checkpoint_get = sq_checkpoint_get,
    .checkpoint_put = sq_checkpoint_put,
    .counts = sq_counts,
    .outbox_summary = sq_outbox_summary,
    .backfill = sq_backfill,
    .take_backfill_request = sq_take_backfill_request,
    .meta_get = sq_meta_get,
    .meta_put = sq_meta_put,
};
