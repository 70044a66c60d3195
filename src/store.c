/* Store: zaaklink's state (links, fingerprints, outbox, checkpoint) in SQLite. */
#include "store.h"
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
 */
static const char *const migrations[] = {
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE link ("
	"  id INTEGER PRIMARY KEY,"          /* klantinteracties_onderwerpobject.id */
	"  status INTEGER NOT NULL,"         /* enum zl_link_status */
	"  uuid TEXT NOT NULL,"
	"  klantcontact_id INTEGER NOT NULL,"
	"  objecttype TEXT NOT NULL,"
	"  soort_object_id TEXT NOT NULL,"
	"  object_id TEXT NOT NULL,"
	"  code_register TEXT NOT NULL,"
	"  zaak TEXT NOT NULL,"              /* payload as recorded */
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
	 * give every bucket of a stored link a fingerprint that matches nothing,
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

/* The statements a pass runs per row, prepared once. */
enum stmt_id {
	ST_RANGE_PUT,
	ST_RANGE_DELETE,
	ST_LINK_PUT,
	ST_LINK_DELETE,
	ST_OUTBOX_ADD,
	ST_OUTBOX_STAGE,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_RANGE_PUT] = "INSERT OR REPLACE INTO range_fp (kind, bucket, rows, fp)"
			 " VALUES (?, ?, ?, ?)",
	[ST_RANGE_DELETE] = "DELETE FROM range_fp WHERE kind = ? AND bucket = ?",
	[ST_LINK_PUT] = "INSERT OR REPLACE INTO link (id, status, uuid, klantcontact_id, objecttype,"
			" soort_object_id, object_id, code_register, zaak, link_to, label)"
			" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[ST_LINK_DELETE] = "DELETE FROM link WHERE id = ?",
	[ST_OUTBOX_ADD] = "INSERT INTO outbox (event_id, type, source, subject, link_id, time, body)"
			  " VALUES (?, ?, ?, ?, ?, ?, ?)",
	[ST_OUTBOX_STAGE] = "INSERT INTO temp.staged (event_id, type, source, subject, link_id, time,"
			    " body) VALUES (?, ?, ?, ?, ?, ?, ?)",
};

struct zl_store {
	sqlite3 *db;
	char *path;
	int lock_fd;             /* flock'ed "<path>.lock" of a writer, or -1 */
	sqlite3_stmt *stmt[ST_COUNT];
};

struct zl_link_iter {
	struct zl_store *st;
	sqlite3_stmt *stmt;
	struct zl_link link;
};

/* Fills err with SQLite's reason for the failed operation on the file. */
static int db_fail(struct zl_store *st, struct zl_err *err, const char *what)
{
	return zl_err_set(err, ZL_EX_CANTCREAT, "could not %s in state file %s: %s", what, st->path,
			  sqlite3_errmsg(st->db));
}

static int exec_sql(struct zl_store *st, const char *sql, const char *what, struct zl_err *err)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(st, err, what);
	return 0;
}

static sqlite3_stmt *prepare(struct zl_store *st, const char *sql, struct zl_err *err)
{
	sqlite3_stmt *stmt = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		db_fail(st, err, "prepare a statement");
		return NULL;
	}
	return stmt;
}

/* Runs a prepared statement that returns no rows, then resets it. */
static int step_done(struct zl_store *st, sqlite3_stmt *stmt, const char *what,
		     struct zl_err *err)
{
	int rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	if (rc != SQLITE_DONE)
		return db_fail(st, err, what);
	return 0;
}

/* The name of a user, or its number when it has none; buf holds 64 bytes. */
static const char *user_name(uid_t uid, char *buf)
{
	struct passwd *pw = getpwuid(uid);

	if (pw && strlen(pw->pw_name) < 64)
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
static int check_own_file(const char *what, const char *path, const struct stat *sb,
                          bool writer, struct zl_err *err)
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
		return zl_err_set(err, ZL_EX_SOFTWARE, "out of memory");
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
		return zl_err_set(err, ZL_EX_SOFTWARE, "out of memory");
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
	sqlite3_stmt *stmt = prepare(st, "PRAGMA user_version", err);
	int version;

	if (!stmt)
		return -1;
	version = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
	sqlite3_finalize(stmt);
	if (version < 0)
		return db_fail(st, err, "read the schema version");
	if (version > (int)ZL_ARRAY_LEN(migrations))
		return zl_err_set(err, ZL_EX_CANTCREAT,
				  "state file %s has schema version %d, newer than this zaaklink "
				  "knows (%d): refusing to touch it",
				  st->path, version, (int)ZL_ARRAY_LEN(migrations));
	for (int v = version; v < (int)ZL_ARRAY_LEN(migrations); v++) {
		char bump[64];

		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
		if (exec_sql(st, "BEGIN IMMEDIATE", "begin a migration", err) < 0)
			return -1;
		if (exec_sql(st, migrations[v], "migrate the schema", err) < 0 ||
		    exec_sql(st, bump, "record the schema version", err) < 0 ||
		    exec_sql(st, "COMMIT", "commit a migration", err) < 0) {
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

struct zl_store *store_open(const char *path, bool read_only, struct zl_err *err)
{
	struct zl_store *st = calloc(1, sizeof(*st));
	int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	if (!st || !(st->path = strdup(path))) {
		free(st);
		zl_err_set(err, ZL_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	st->lock_fd = -1;
	if (!read_only && take_writer_lock(st, err) < 0)
		goto fail;
	if (check_state_files(path, !read_only, err) < 0)
		goto fail;
	/* NOFOLLOW again for a link put there after the check. */
	flags |= SQLITE_OPEN_NOFOLLOW;
	if (sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		db_fail(st, err, "open the database");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 10000);
	sqlite3_extended_result_codes(st->db, 1);
	if (!read_only) {
		/* WAL lets status read while a pass writes; FULL makes a
		 * commit durable before the broker ever sees its events. */
		if (exec_sql(st, "PRAGMA journal_mode = WAL", "enable WAL mode", err) < 0 ||
		    exec_sql(st, "PRAGMA synchronous = FULL", "set synchronous=FULL", err) < 0 ||
		    exec_sql(st, "PRAGMA foreign_keys = ON", "enable foreign keys", err) < 0 ||
		    migrate(st, err) < 0 ||
		    exec_sql(st,
			     "CREATE TEMP TABLE staged (event_id TEXT NOT NULL, type TEXT NOT NULL,"
			     " source TEXT NOT NULL, subject TEXT NOT NULL, link_id INTEGER NOT NULL,"
			     " time INTEGER NOT NULL, body TEXT NOT NULL)",
			     "create the staging table", err) < 0)
			goto fail;
		for (int i = 0; i < ST_COUNT; i++)
			if (!(st->stmt[i] = prepare(st, stmt_sql[i], err)))
				goto fail;
	} else if (exec_sql(st, "SELECT 1 FROM checkpoint LIMIT 1", "read", err) < 0 &&
	           (!readable_without_writing(st) ||
	            exec_sql(st, "SELECT 1 FROM checkpoint LIMIT 1", "read", err) < 0)) {
		goto fail;
	}
	return st;
fail:
	store_close(st);
	return NULL;
}

void store_close(struct zl_store *st)
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

int store_begin(struct zl_store *st, struct zl_err *err)
{
	return exec_sql(st, "BEGIN IMMEDIATE", "begin a transaction", err);
}

int store_commit(struct zl_store *st, struct zl_err *err)
{
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(st, err, "commit");
		store_rollback(st);
		return -1;
	}
	return 0;
}

void store_rollback(struct zl_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- range fingerprints ---- */

int store_ranges_each(struct zl_store *st, enum zl_fp_kind kind,
		      int (*fn)(const struct zl_range_fp *r, void *arg), void *arg,
		      struct zl_err *err)
{
	sqlite3_stmt *stmt = prepare(st,
				     "SELECT bucket, rows, fp FROM range_fp WHERE kind = ?"
				     " ORDER BY bucket",
				     err);
	int rc, ret = 0;

	if (!stmt)
		return -1;
	sqlite3_bind_int(stmt, 1, (int)kind);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct zl_range_fp r = {
			.kind = kind,
			.bucket = sqlite3_column_int64(stmt, 0),
			.rows = sqlite3_column_int64(stmt, 1),
			.fp = sqlite3_column_int64(stmt, 2),
		};

		if ((ret = fn(&r, arg)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = db_fail(st, err, "read range fingerprints");
	sqlite3_finalize(stmt);
	return ret;
}

int store_range_put(struct zl_store *st, const struct zl_range_fp *r, struct zl_err *err)
{
	sqlite3_stmt *s = st->stmt[ST_RANGE_PUT];

	sqlite3_bind_int(s, 1, (int)r->kind);
	sqlite3_bind_int64(s, 2, r->bucket);
	sqlite3_bind_int64(s, 3, r->rows);
	sqlite3_bind_int64(s, 4, r->fp);
	return step_done(st, s, "write a range fingerprint", err);
}

int store_range_delete(struct zl_store *st, enum zl_fp_kind kind, int64_t bucket,
		       struct zl_err *err)
{
	sqlite3_stmt *s = st->stmt[ST_RANGE_DELETE];

	sqlite3_bind_int(s, 1, (int)kind);
	sqlite3_bind_int64(s, 2, bucket);
	return step_done(st, s, "delete a range fingerprint", err);
}

int store_ranges_clear(struct zl_store *st, struct zl_err *err)
{
	return exec_sql(st, "DELETE FROM range_fp", "clear range fingerprints", err);
}

int store_ranges_cover_links(struct zl_store *st, int range_size, struct zl_err *err)
{
	/* SQLite's integer division truncates toward zero like PostgreSQL's,
	 * so these are the buckets PostgreSQL would report the links in. */
	sqlite3_stmt *s = prepare(st,
				  "INSERT OR IGNORE INTO range_fp (kind, bucket, rows, fp)"
				  " SELECT DISTINCT ?2, id / ?1, -1, 0 FROM link",
				  err);

	if (!s)
		return -1;
	sqlite3_bind_int(s, 1, range_size);
	sqlite3_bind_int(s, 2, ZL_FP_LINKS);
	if (step_done(st, s, "mark the ranges of stored links", err) < 0) {
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

/* ---- links ---- */

struct zl_link_iter *store_links_range(struct zl_store *st, int64_t lo, int64_t hi,
				       struct zl_err *err)
{
	struct zl_link_iter *it = calloc(1, sizeof(*it));

	if (!it) {
		zl_err_set(err, ZL_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	it->st = st;
	it->stmt = prepare(st,
			   "SELECT id, status, uuid, klantcontact_id, objecttype, soort_object_id,"
			   " object_id, code_register, zaak, link_to, label"
			   " FROM link WHERE id >= ? AND id <= ? ORDER BY id",
			   err);
	if (!it->stmt) {
		free(it);
		return NULL;
	}
	sqlite3_bind_int64(it->stmt, 1, lo);
	sqlite3_bind_int64(it->stmt, 2, hi);
	return it;
}

/* strdup of a text column (never NULL in this schema). */
static char *col_dup(sqlite3_stmt *stmt, int col)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);

	return strdup(t ? (const char *)t : "");
}

int store_links_next(struct zl_link_iter *it, const struct zl_link **link, struct zl_err *err)
{
	sqlite3_stmt *s = it->stmt;
	struct zl_link *l = &it->link;
	int rc;

	diff_link_clear(l);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return db_fail(it->st, err, "read links");
	l->id = sqlite3_column_int64(s, 0);
	l->status = (enum zl_link_status)sqlite3_column_int(s, 1);
	l->uuid = col_dup(s, 2);
	l->klantcontact_id = sqlite3_column_int64(s, 3);
	l->objecttype = col_dup(s, 4);
	l->soort_object_id = col_dup(s, 5);
	l->object_id = col_dup(s, 6);
	l->code_register = col_dup(s, 7);
	l->payload.zaak = col_dup(s, 8);
	l->payload.link_to = col_dup(s, 9);
	l->payload.label = col_dup(s, 10);
	if (!l->uuid || !l->objecttype || !l->soort_object_id || !l->object_id ||
	    !l->code_register || !l->payload.zaak || !l->payload.link_to || !l->payload.label)
		return zl_err_set(err, ZL_EX_SOFTWARE, "out of memory");
	*link = l;
	return 1;
}

void store_links_free(struct zl_link_iter *it)
{
	if (!it)
		return;
	diff_link_clear(&it->link);
	sqlite3_finalize(it->stmt);
	free(it);
}

int store_link_put(struct zl_store *st, const struct zl_link *l, struct zl_err *err)
{
	sqlite3_stmt *s = st->stmt[ST_LINK_PUT];

	sqlite3_bind_int64(s, 1, l->id);
	sqlite3_bind_int(s, 2, (int)l->status);
	sqlite3_bind_text(s, 3, l->uuid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, l->klantcontact_id);
	sqlite3_bind_text(s, 5, l->objecttype, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, l->soort_object_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, l->object_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, l->code_register, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 9, l->payload.zaak, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 10, l->payload.link_to, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 11, l->payload.label, -1, SQLITE_STATIC);
	return step_done(st, s, "write a link", err);
}

int store_link_delete(struct zl_store *st, int64_t id, struct zl_err *err)
{
	sqlite3_stmt *s = st->stmt[ST_LINK_DELETE];

	sqlite3_bind_int64(s, 1, id);
	return step_done(st, s, "delete a link", err);
}

/* ---- outbox ---- */

/* Binds an event to an insert into outbox or staged (same columns). */
static int insert_event(struct zl_store *st, sqlite3_stmt *s, const struct zl_event *ev,
			int64_t link_id, struct zl_err *err)
{
	char *body = event_to_json(ev);
	int rc;

	if (!body)
		return zl_err_set(err, ZL_EX_SOFTWARE, "could not build event JSON: out of memory");
	sqlite3_bind_text(s, 1, ev->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, event_type_name(ev->type), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, ev->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, ev->subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, link_id);
	sqlite3_bind_int64(s, 6, ev->time);
	sqlite3_bind_text(s, 7, body, -1, SQLITE_STATIC);
	rc = step_done(st, s, "record an event in the outbox", err);
	free(body);
	return rc;
}

int store_outbox_add(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
		     struct zl_err *err)
{
	return insert_event(st, st->stmt[ST_OUTBOX_ADD], ev, link_id, err);
}

int store_outbox_stage(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
		       struct zl_err *err)
{
	return insert_event(st, st->stmt[ST_OUTBOX_STAGE], ev, link_id, err);
}

int store_outbox_flush_staged(struct zl_store *st, struct zl_err *err)
{
	return exec_sql(st,
			"INSERT INTO outbox (event_id, type, source, subject, link_id, time, body)"
			" SELECT event_id, type, source, subject, link_id, time, body"
			" FROM temp.staged ORDER BY rowid; DELETE FROM temp.staged",
			"move staged events to the outbox", err);
}

int store_outbox_due(struct zl_store *st, int64_t now_ms, struct zl_outbox_row *rows, int max,
		     struct zl_err *err)
{
	sqlite3_stmt *s = prepare(st,
				  "SELECT seq, event_id, type, source, subject, time, body, attempts,"
				  " next_attempt_ms FROM outbox ORDER BY seq LIMIT ?",
				  err);
	int n = 0, rc;

	if (!s)
		return -1;
	sqlite3_bind_int(s, 1, max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct zl_outbox_row *r = &rows[n];

		/* Head-of-line: the oldest row decides, so nothing overtakes it. */
		if (n == 0 && sqlite3_column_int64(s, 8) > now_ms) {
			rc = SQLITE_DONE;
			break;
		}
		memset(r, 0, sizeof(*r));
		r->seq = sqlite3_column_int64(s, 0);
		snprintf(r->event_id, sizeof(r->event_id), "%s", (const char *)sqlite3_column_text(s, 1));
		r->type = col_dup(s, 2);
		r->source = col_dup(s, 3);
		r->subject = col_dup(s, 4);
		r->time = sqlite3_column_int64(s, 5);
		r->body = col_dup(s, 6);
		r->attempts = sqlite3_column_int(s, 7);
		n++;
		if (!r->type || !r->source || !r->subject || !r->body) {
			store_outbox_rows_clear(rows, n);
			sqlite3_finalize(s);
			return zl_err_set(err, ZL_EX_SOFTWARE, "out of memory");
		}
	}
	if (n < max && rc != SQLITE_DONE) {
		store_outbox_rows_clear(rows, n);
		db_fail(st, err, "read the outbox");
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return n;
}

void store_outbox_rows_clear(struct zl_outbox_row *rows, int n)
{
	for (int i = 0; i < n; i++) {
		free(rows[i].type);
		free(rows[i].source);
		free(rows[i].subject);
		free(rows[i].body);
		memset(&rows[i], 0, sizeof(rows[i]));
	}
}

int store_outbox_delivered(struct zl_store *st, int64_t upto, struct zl_err *err)
{
	sqlite3_stmt *s;
	int changes;

	if (store_begin(st, err) < 0)
		return -1;
	if (!(s = prepare(st, "DELETE FROM outbox WHERE seq <= ?", err)))
		goto fail;
	sqlite3_bind_int64(s, 1, upto);
	if (step_done(st, s, "remove delivered events from the outbox", err) < 0) {
		sqlite3_finalize(s);
		goto fail;
	}
	sqlite3_finalize(s);
	changes = sqlite3_changes(st->db);
	if (!(s = prepare(st,
			  "INSERT INTO meta (key, value) VALUES ('published_total', ?)"
			  " ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + ?",
			  err)))
		goto fail;
	sqlite3_bind_int(s, 1, changes);
	sqlite3_bind_int(s, 2, changes);
	if (step_done(st, s, "count delivered events", err) < 0) {
		sqlite3_finalize(s);
		goto fail;
	}
	sqlite3_finalize(s);
	return store_commit(st, err);
fail:
	store_rollback(st);
	return -1;
}

int store_outbox_failed(struct zl_store *st, int64_t from, int64_t to, const char *error,
			int64_t next_ms, struct zl_err *err)
{
	sqlite3_stmt *s = prepare(st,
				  "UPDATE outbox SET attempts = attempts + (seq <= ?2), last_error = ?3,"
				  " next_attempt_ms = ?4 WHERE seq >= ?1",
				  err);

	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, from);
	sqlite3_bind_int64(s, 2, to);
	sqlite3_bind_text(s, 3, error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, next_ms);
	if (step_done(st, s, "record a failed delivery", err) < 0) {
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

/* "<state>.backfill", malloc'ed; NULL when out of memory. */
static char *backfill_request_path(const char *state_path)
{
	size_t n = strlen(state_path) + sizeof(".backfill");
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s.backfill", state_path);
	return p;
}

int store_request_backfill(const char *state_path, struct zl_err *err)
{
	char *path = backfill_request_path(state_path);
	char line[64];
	int fd, n, rc = 0;

	if (!path)
		return zl_err_set(err, ZL_EX_SOFTWARE, "could not request a backfill: out of memory");
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

int store_take_backfill_request(struct zl_store *st, struct zl_err *err)
{
	char *path = backfill_request_path(st->path);
	int rc = 1;

	if (!path)
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "could not look for a backfill request: out of memory");
	if (unlink(path) < 0)
		rc = errno == ENOENT ? 0
		                     : zl_err_set(err, ZL_EX_CANTCREAT,
		                                  "could not take the backfill request %s: %s", path,
		                                  strerror(errno));
	free(path);
	return rc;
}

int store_outbox_retry_now(struct zl_store *st, struct zl_err *err)
{
	return exec_sql(st, "UPDATE outbox SET next_attempt_ms = 0 WHERE next_attempt_ms > 0",
			"reschedule pending events", err);
}

int64_t store_outbox_last_seq(struct zl_store *st, struct zl_err *err)
{
	sqlite3_stmt *s = prepare(st, "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'", err);
	int64_t seq = 0;
	int rc;

	if (!s)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		seq = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		seq = db_fail(st, err, "read the outbox sequence");
	sqlite3_finalize(s);
	return seq;
}

/* ---- checkpoint, counts, meta ---- */

int store_checkpoint_get(struct zl_store *st, struct zl_checkpoint *cp, struct zl_err *err)
{
	sqlite3_stmt *s = prepare(st,
				  "SELECT passes, started_ms, duration_ms, ranges_total, ranges_fetched,"
				  " rows_fetched, links, events, invalid FROM checkpoint WHERE id = 1",
				  err);
	int rc;

	if (!s)
		return -1;
	memset(cp, 0, sizeof(*cp));
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		cp->passes = sqlite3_column_int64(s, 0);
		cp->started_ms = sqlite3_column_int64(s, 1);
		cp->duration_ms = sqlite3_column_int64(s, 2);
		cp->ranges_total = sqlite3_column_int64(s, 3);
		cp->ranges_fetched = sqlite3_column_int64(s, 4);
		cp->rows_fetched = sqlite3_column_int64(s, 5);
		cp->links = sqlite3_column_int64(s, 6);
		cp->events = sqlite3_column_int64(s, 7);
		cp->invalid = sqlite3_column_int64(s, 8);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_fail(st, err, "read the checkpoint");
}

int store_checkpoint_put(struct zl_store *st, const struct zl_checkpoint *cp, struct zl_err *err)
{
	sqlite3_stmt *s = prepare(st,
				  "INSERT OR REPLACE INTO checkpoint (id, passes, started_ms, duration_ms,"
				  " ranges_total, ranges_fetched, rows_fetched, links, events, invalid)"
				  " VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				  err);
	const int64_t v[] = { cp->passes,         cp->started_ms,   cp->duration_ms,
			      cp->ranges_total,   cp->ranges_fetched, cp->rows_fetched,
			      cp->links,          cp->events,       cp->invalid };

	if (!s)
		return -1;
	for (int i = 0; i < (int)ZL_ARRAY_LEN(v); i++)
		sqlite3_bind_int64(s, i + 1, v[i]);
	if (step_done(st, s, "write the checkpoint", err) < 0) {
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

/* Runs a query returning one integer; -1 on error. */
static int64_t query_int(struct zl_store *st, const char *sql, struct zl_err *err)
{
	sqlite3_stmt *s = prepare(st, sql, err);
	int64_t v = 0;
	int rc;

	if (!s)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		v = db_fail(st, err, "count");
	sqlite3_finalize(s);
	return v;
}

int store_counts(struct zl_store *st, struct zl_store_counts *c, struct zl_err *err)
{
	sqlite3_stmt *s;
	int rc;

	memset(c, 0, sizeof(*c));
	if ((c->links = query_int(st, "SELECT count(*) FROM link WHERE status = 0", err)) < 0 ||
	    (c->skipped = query_int(st, "SELECT count(*) FROM link WHERE status = 1", err)) < 0 ||
	    store_outbox_summary(st, &c->pending, &c->oldest_pending, err) < 0 ||
	    (c->failed = query_int(st, "SELECT count(*) FROM outbox WHERE attempts > 0", err)) < 0 ||
	    (c->published_total = query_int(
		     st, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'published_total'",
		     err)) < 0)
		return -1;
	if (!(s = prepare(st,
			  "SELECT last_error FROM outbox WHERE last_error IS NOT NULL"
			  " ORDER BY seq LIMIT 1",
			  err)))
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		snprintf(c->last_error, sizeof(c->last_error), "%s",
			 (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(st, err, "read the last error");
}

int store_outbox_summary(struct zl_store *st, int64_t *pending, int64_t *oldest,
			 struct zl_err *err)
{
	/* Rows are recorded in seq order, so the first is the oldest: a lookup
	 * on the primary key, where min(time) read every row (after every
	 * batch, while the daemon serves metrics). */
	if ((*pending = query_int(st, "SELECT count(*) FROM outbox", err)) < 0 ||
	    (*oldest = query_int(st, "SELECT time FROM outbox ORDER BY seq LIMIT 1", err)) < 0)
		return -1;
	return 0;
}

int64_t store_backfill(struct zl_store *st, const char *source, int64_t now_s, struct zl_err *err)
{
	/* Rows leave the outbox when confirmed, so a gekoppeld still in it is
	 * pending and announces the link anyway. The ids are read first: the
	 * loop must not read the outbox while it inserts into it. */
	sqlite3_stmt *s = prepare(st,
				  "SELECT id, object_id, zaak, link_to, label FROM link l"
				  " WHERE status = 0 AND NOT EXISTS (SELECT 1 FROM outbox o"
				  "  WHERE o.link_id = l.id AND o.type = ?)"
				  " ORDER BY id",
				  err);
	int64_t n = 0;
	int rc;

	if (!s)
		return -1;
	if (exec_sql(st, "DELETE FROM temp.staged", "clear the staging table", err) < 0) {
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_bind_text(s, 1, ZL_TYPE_GEKOPPELD, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct zl_payload p = {
			.zaak = (char *)sqlite3_column_text(s, 2),
			.link_to = (char *)sqlite3_column_text(s, 3),
			.label = (char *)sqlite3_column_text(s, 4),
		};
		struct zl_event ev = {
			.type = ZL_GEKOPPELD,
			.time = now_s,
			.source = source,
			.subject = (const char *)sqlite3_column_text(s, 1),
			.payload = &p,
		};

		event_new_id(ev.id);
		if (store_outbox_stage(st, &ev, sqlite3_column_int64(s, 0), err) < 0) {
			sqlite3_finalize(s);
			return -1;
		}
		n++;
	}
	if (rc != SQLITE_DONE)
		n = db_fail(st, err, "read links for the backfill");
	sqlite3_finalize(s);
	if (n >= 0 && store_outbox_flush_staged(st, err) < 0)
		return -1;
	return n;
}

int store_meta_get(struct zl_store *st, const char *key, char *buf, size_t size,
		   struct zl_err *err)
{
	sqlite3_stmt *s = prepare(st, "SELECT value FROM meta WHERE key = ?", err);
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
	return db_fail(st, err, "read setting");
}

int store_meta_put(struct zl_store *st, const char *key, const char *value, struct zl_err *err)
{
	sqlite3_stmt *s = prepare(st, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", err);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	if (step_done(st, s, "write setting", err) < 0) {
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}
