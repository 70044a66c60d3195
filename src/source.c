/* Source: reads Open Klant's two tables through libpq, SELECT only. */
#include "source.h"
#include "conf.h"
#include "log.h"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* tcp_info with tcpi_bytes_received */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Rows fetched from the cursor per round trip: bounds memory per batch. */
#define ROWS_PER_FETCH 2000

#define COL_OBJECTTYPE "o.onderwerpobjectidentificator_code_objecttype"
#define COL_SOORT "o.onderwerpobjectidentificator_code_soort_object_id"
#define COL_OBJECT_ID "o.onderwerpobjectidentificator_object_id"
#define COL_REGISTER "o.onderwerpobjectidentificator_code_register"

/* The rows that are zaak links (EVENTS.md 2) and their klantcontact. */
#define LINK_FROM                                                                  \
	" FROM klantinteracties_onderwerpobject o"                                 \
	" LEFT JOIN klantinteracties_klantcontact k ON k.id = o.klantcontact_id" \
	" WHERE " COL_OBJECTTYPE " = 'zaak' AND " COL_SOORT " = 'uuid'"          \
	" AND o.klantcontact_id IS NOT NULL"

/*
 * The fingerprint of a range: the number of link rows in it and the sum of
 * a 64-bit hash of each row's text. The row covers exactly what decides the
 * events (id, uuid, klantcontact_id, the four identificator columns,
 * onderwerp and nummer of the klantcontact); a composite's text form quotes its
 * fields, so two different rows never render to the same text. Summing
 * makes it independent of row order; sum() over bigint is numeric in
 * PostgreSQL, so it cannot overflow.
 *
 * Why comparing fingerprints is enough:
 * - Any change to a covered column, an insert, a delete, or a row turning
 *   into or out of a link changes the row multiset of its range, and so the
 *   count or (but for a hash collision) the sum. Changes to other columns do
 *   not matter to the events and are rightly invisible.
 * - A row whose id changes (raw SQL) leaves one range and enters another
 *   (or changes its own range's sum, the id being hashed too): the ranges
 *   are read, and the diff sees a delete under the old id and a new link
 *   under the new one; detect.c records the gekoppeld after the ontkoppeld.
 * - A collision (a change that leaves count and sum equal) has a chance of
 *   about 2^-64 per changed range; the change is then seen the next time the
 *   range changes again, or by a full pass (`zaaklink once --full`).
 * - The fingerprint kept for a range is the one PostgreSQL computed in the
 *   same snapshot as the rows that were diffed, so state and fingerprint
 *   always describe the same moment; a change committed during the pass is
 *   simply seen by the next one. zaaklink never computes the hash itself.
 */
#define RANGES_SQL                                                                      \
	"SELECT o.id / $1::int, count(*), sum(hashtextextended(row(o.id, o.uuid,"        \
	" o.klantcontact_id, " COL_OBJECTTYPE ", " COL_SOORT ", " COL_OBJECT_ID ", "     \
	COL_REGISTER ", k.onderwerp, k.nummer)::text, 0))::text" LINK_FROM " GROUP BY 1" \
	" ORDER BY 1"

#define ROWS_SQL                                                                   \
	"DECLARE zl_rows NO SCROLL CURSOR FOR SELECT o.id, o.uuid, o.klantcontact_id," \
	" " COL_OBJECTTYPE ", " COL_SOORT ", " COL_OBJECT_ID ", " COL_REGISTER ","   \
	" k.onderwerp, k.nummer" LINK_FROM " AND o.id >= %lld AND o.id < %lld ORDER BY o.id"

struct zl_source {
	char *conninfo;
	int connect_timeout;
	int query_timeout;
	PGconn *conn;
	int64_t bytes_base;      /* tcpi_bytes_received of connections closed */
};

struct zl_row_cursor {
	struct zl_source *src;
	PGresult *res;           /* the current batch */
	int pos;
	int n;
	bool done;
	struct zl_row row;
};

struct zl_source *source_new(const char *conninfo, int connect_timeout, int query_timeout)
{
	struct zl_source *src = calloc(1, sizeof(*src));

	if (!src)
		return NULL;
	src->conninfo = strdup(conninfo);
	if (!src->conninfo) {
		free(src);
		return NULL;
	}
	src->connect_timeout = connect_timeout;
	src->query_timeout = query_timeout;
	return src;
}

/* Bytes the kernel received on the connection's socket (TCP only). */
static int64_t socket_bytes(PGconn *conn)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int fd = conn ? PQsocket(conn) : -1;

	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 0;
	return (int64_t)ti.tcpi_bytes_received;
}

static void disconnect(struct zl_source *src)
{
	if (!src->conn)
		return;
	src->bytes_base += socket_bytes(src->conn);
	PQfinish(src->conn);
	src->conn = NULL;
}

void source_free(struct zl_source *src)
{
	if (!src)
		return;
	disconnect(src);
	free(src->conninfo);
	free(src);
}

/* The server's message, one line, with where it came from. */
static int pq_fail(struct zl_source *src, struct zl_err *err, const char *what)
{
	char *where = conf_mask_conninfo(src->conninfo);

	zl_err_set(err, ZL_EX_UNAVAILABLE, "could not %s on PostgreSQL (%s): %s", what,
		   where ? where : "?", src->conn ? PQerrorMessage(src->conn) : "not connected");
	free(where);
	/* A broken connection is rebuilt by the next source_connect(). */
	if (src->conn && PQstatus(src->conn) != CONNECTION_OK)
		disconnect(src);
	return -1;
}

int source_connect(struct zl_source *src, struct zl_err *err)
{
	char timeout[16];
	const char *keys[] = { "connect_timeout", "application_name", "dbname", "client_encoding",
			       NULL };
	const char *values[] = { timeout, "zaaklink", src->conninfo, "UTF8", NULL };

	if (src->conn && PQstatus(src->conn) == CONNECTION_OK)
		return 0;
	disconnect(src);
	snprintf(timeout, sizeof(timeout), "%d", src->connect_timeout);
	/* expand_dbname: the conninfo's own settings come first and ours after
	 * only where we must decide (the encoding the payload rules assume). */
	src->conn = PQconnectdbParams(keys, values, 1);
	if (!src->conn)
		return zl_err_set(err, ZL_EX_SOFTWARE, "could not allocate a PostgreSQL connection");
	if (PQstatus(src->conn) != CONNECTION_OK) {
		pq_fail(src, err, "connect");
		disconnect(src);
		return -1;
	}
	return 0;
}

bool source_connected(const struct zl_source *src)
{
	return src->conn && PQstatus(src->conn) == CONNECTION_OK;
}

/* Runs a command that returns no rows. */
static int command(struct zl_source *src, const char *sql, const char *what, struct zl_err *err)
{
	PGresult *res = PQexec(src->conn, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	PQclear(res);
	return ok ? 0 : pq_fail(src, err, what);
}

int source_check_access(struct zl_source *src, struct zl_err *err)
{
	PGresult *res;

	if (source_connect(src, err) < 0)
		return -1;
	res = PQexec(src->conn, "SELECT 1" LINK_FROM " LIMIT 1");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		return pq_fail(src, err,
			       "read klantinteracties_onderwerpobject joined with klantinteracties_klantcontact");
	}
	PQclear(res);
	return 0;
}

int source_begin(struct zl_source *src, struct zl_err *err)
{
	char sql[64];

	if (source_connect(src, err) < 0)
		return -1;
	/* A transaction left open would pin an old snapshot: never reuse one. */
	if (PQtransactionStatus(src->conn) != PQTRANS_IDLE)
		source_end(src);
	if (command(src, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin a snapshot",
		    err) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "SET LOCAL statement_timeout = %d", src->query_timeout * 1000);
	if (command(src, sql, "set statement_timeout", err) < 0) {
		source_end(src);
		return -1;
	}
	/* From about 500 000 ids up, the fingerprint query's cost estimate
	 * passes jit_above_cost, and PostgreSQL then compiles it anew for every
	 * pass: about 170 ms of a 1M pass, more than JIT saves on a query
	 * whose time goes to the join and the hashing (bench/RESULTS.md). */
	if (command(src, "SET LOCAL jit = off", "turn off JIT compilation", err) < 0) {
		source_end(src);
		return -1;
	}
	return 0;
}

void source_end(struct zl_source *src)
{
	PGresult *res;

	if (!src->conn || PQstatus(src->conn) != CONNECTION_OK)
		return;
	res = PQexec(src->conn, "ROLLBACK");
	PQclear(res);
}

int source_ranges_each(struct zl_source *src, int range_size,
		       int (*fn)(const struct zl_range_fp *r, void *arg), void *arg,
		       struct zl_err *err)
{
	char size[16];
	const char *params[] = { size };
	PGresult *res;
	int ret = 0;

	snprintf(size, sizeof(size), "%d", range_size);
	res = PQexecParams(src->conn, RANGES_SQL, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		return pq_fail(src, err, "compute range fingerprints");
	}
	for (int i = 0; i < PQntuples(res) && ret == 0; i++) {
		struct zl_range_fp r;

		r.bucket = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		r.rows = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		snprintf(r.fp, sizeof(r.fp), "%s", PQgetvalue(res, i, 2));
		ret = fn(&r, arg);
	}
	PQclear(res);
	return ret;
}

struct zl_row_cursor *source_rows(struct zl_source *src, int64_t lo, int64_t hi,
				  struct zl_err *err)
{
	struct zl_row_cursor *cur;
	char sql[sizeof(ROWS_SQL) + 64];

	snprintf(sql, sizeof(sql), ROWS_SQL, (long long)lo, (long long)hi);
	if (command(src, sql, "open a cursor over onderwerpobjecten", err) < 0)
		return NULL;
	cur = calloc(1, sizeof(*cur));
	if (!cur) {
		zl_err_set(err, ZL_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	cur->src = src;
	return cur;
}

/* Reads the next batch from the cursor. */
static int fetch_batch(struct zl_row_cursor *cur, struct zl_err *err)
{
	static const char fetch_sql[] = "FETCH " ZL_STR(ROWS_PER_FETCH) " FROM zl_rows";

	PQclear(cur->res);
	cur->res = PQexec(cur->src->conn, fetch_sql);
	if (PQresultStatus(cur->res) != PGRES_TUPLES_OK) {
		PQclear(cur->res);
		cur->res = NULL;
		return pq_fail(cur->src, err, "fetch onderwerpobjecten");
	}
	cur->n = PQntuples(cur->res);
	cur->pos = 0;
	cur->done = cur->n < ROWS_PER_FETCH;
	return 0;
}

/* A column's text, or NULL for SQL NULL. */
static const char *value_or_null(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

int source_rows_next(struct zl_row_cursor *cur, const struct zl_row **row, struct zl_err *err)
{
	struct zl_row *r = &cur->row;
	PGresult *res;
	int i;

	if (!cur->res || cur->pos >= cur->n) {
		if (cur->res && cur->done)
			return 0;
		if (fetch_batch(cur, err) < 0)
			return -1;
		if (cur->n == 0)
			return 0;
	}
	res = cur->res;
	i = cur->pos++;
	r->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	r->uuid = PQgetvalue(res, i, 1);
	r->has_klantcontact = !PQgetisnull(res, i, 2);
	r->klantcontact_id = r->has_klantcontact ? strtoll(PQgetvalue(res, i, 2), NULL, 10) : 0;
	r->objecttype = PQgetvalue(res, i, 3);
	r->soort_object_id = PQgetvalue(res, i, 4);
	r->object_id = PQgetvalue(res, i, 5);
	r->code_register = PQgetvalue(res, i, 6);
	r->onderwerp = value_or_null(res, i, 7);
	r->nummer = value_or_null(res, i, 8);
	*row = r;
	return 1;
}

void source_rows_free(struct zl_row_cursor *cur)
{
	PGresult *res;

	if (!cur)
		return;
	PQclear(cur->res);
	if (cur->src->conn && PQstatus(cur->src->conn) == CONNECTION_OK &&
	    PQtransactionStatus(cur->src->conn) == PQTRANS_INTRANS) {
		res = PQexec(cur->src->conn, "CLOSE zl_rows");
		PQclear(res);
	}
	free(cur);
}

int64_t source_bytes_received(const struct zl_source *src)
{
	return src->bytes_base + socket_bytes(src->conn);
}
