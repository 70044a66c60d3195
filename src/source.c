/* Source: reads Open Klant's two tables through libpq, SELECT only. */
#include "source.h"
#include "conf.h"
#include "diff.h"
#include "log.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* tcp_info with tcpi_bytes_received */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Rows taken from the cursor per FETCH round trip: bounds memory per batch. */
#define ROWS_PER_FETCH 2000

#define COL_OBJECTTYPE "o.onderwerpobjectidentificator_code_objecttype"
#define COL_SOORT "o.onderwerpobjectidentificator_code_soort_object_id"
#define COL_OBJECT_ID "o.onderwerpobjectidentificator_object_id"
#define COL_REGISTER "o.onderwerpobjectidentificator_code_register"

/* The rows that are zaak links (docs/EVENTS.md 2). */
#define LINK_WHERE                                                                                 \
	" WHERE " COL_OBJECTTYPE " = 'zaak' AND " COL_SOORT " = 'uuid'"                            \
	" AND o.klantcontact_id IS NOT NULL"

/*
 * The tables are always named with their schema (source.schema), quoted by
 * libpq, and every statement runs with search_path pinned to pg_catalog
 * (source_begin), so that no object of another schema, table, function or
 * operator, can stand in for the ones meant. In the statements below, each
 * %s before "o" is the onderwerpobject table and each before "k" the
 * klantcontact table, qualified.
 */
#define TABLE_OW "klantinteracties_onderwerpobject"
#define TABLE_KC "klantinteracties_klantcontact"

/* The link rows and their klantcontact: (ow, kc). */
#define LINK_FROM " FROM %s o LEFT JOIN %s k ON k.id = o.klantcontact_id" LINK_WHERE

/*
 * Fingerprints. What decides a link's events comes from two tables: the
 * onderwerpobject (id, uuid, klantcontact_id and the identificator) and its
 * klantcontact (onderwerp and nummer, for the label). Joining them costs
 * more than reading both (bench/RESULTS.md), so each table has its own
 * fingerprints, per range of its own ids:
 *
 * - ZL_FP_LINKS, per range of onderwerpobject ids: the number of link rows
 *   and the XOR of a 64-bit hash of each row's id, uuid, klantcontact_id,
 *   object id and register (objecttype and soort are fixed by the filter);
 * - ZL_FP_KLANTCONTACTS, per range of klantcontact ids: the number of rows
 *   and the XOR of a hash of each one's id, onderwerp and nummer.
 *
 * Every hash is seeded with the row's id and each column hashed with its
 * own seed, so a row's hash changes with any covered column, and no two
 * rows of a range hash alike but by a collision (about 2^-64).
 *
 * Why comparing fingerprints is enough:
 * - A change to a covered column of a link row, an insert, a delete or a
 *   row turning into or out of a link changes its range's count or (but
 *   for a collision) its hash; a row whose id changes (raw SQL) leaves one
 *   range and enters another, or changes its own range's hash, the id
 *   being hashed too. The diff then sees a delete under the old id and a
 *   new link under the new one; detect.c records the gekoppeld after the
 *   ontkoppeld.
 * - A change to a klantcontact's onderwerp or nummer leaves the link rows
 *   alone, but changes the klantcontact range's fingerprint; the link rows
 *   that point into that range are found through the klantcontact_id index
 *   (CONTACT_ROWS_SQL), read and diffed one by one. A link whose
 *   klantcontact is replaced has itself changed.
 * - Changes to other columns do not matter to the events and are rightly
 *   invisible. A collision has a chance of about 2^-64 per changed range;
 *   the change is then seen the next time the range changes again, or by a
 *   full pass (`zaaklink once --full`).
 * - The fingerprints kept are the ones PostgreSQL computed in the same
 *   snapshot as the rows that were diffed, so state and fingerprints always
 *   describe the same moment; a change committed during the pass is simply
 *   seen by the next one. zaaklink never computes a hash itself.
 *
 * PostgreSQL compares the fingerprints too: the pass sends the stored ones
 * as arrays and receives only those that differ (a range it no longer has
 * comes back with no count), after one row with the number of ranges and
 * of rows. An idle pass therefore receives two rows, whatever the size of
 * the tables.
 */
#define LINK_HASH                                                                                  \
	"uuid_hash_extended(o.uuid, o.id) # hashtextextended(" COL_OBJECT_ID                       \
	", o.klantcontact_id) # hashtextextended(" COL_REGISTER ", ~o.klantcontact_id)"

#define CONTACT_HASH                                                                               \
	"hashtextextended(k.onderwerp, k.id) # coalesce(hashtextextended(k.nummer, ~k.id), 0)"

/* $1 range size; $2, $3, $4 the stored ranges, counts and hashes. */
#define CHANGED_SQL(CUR)                                                                           \
	"WITH cur AS (" CUR "), old AS (SELECT * FROM"                                             \
	" unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS s(b, n, h))"                         \
	" SELECT NULL::bigint AS b, count(*), coalesce(sum(n), 0)::bigint FROM cur"                \
	" UNION ALL SELECT b, cur.n, cur.h FROM cur FULL JOIN old USING (b)"                       \
	" WHERE cur.n IS DISTINCT FROM old.n OR cur.h IS DISTINCT FROM old.h"                      \
	" ORDER BY 1 NULLS FIRST"

/* (ow) */
#define CHANGED_LINKS_SQL                                                                          \
	CHANGED_SQL("SELECT o.id / $1::int AS b, count(*) AS n, bit_xor(" LINK_HASH ") AS h"       \
	            " FROM %s o" LINK_WHERE " GROUP BY 1")
/* (kc) */
#define CHANGED_CONTACTS_SQL                                                                       \
	CHANGED_SQL("SELECT k.id / $1::int AS b, count(*) AS n, bit_xor(" CONTACT_HASH ") AS h"    \
	            " FROM %s k GROUP BY 1")

/*
 * Written since a snapshot. Every row version carries in xmin the
 * transaction that wrote it. A transaction that was still running at a
 * snapshot, or began after it, has an id no older than the snapshot's
 * xmin, and so do its subtransactions, which no snapshot lists. So a row
 * whose xmin is older than the previous pass's snapshot xmin was written
 * by a transaction that ended before that snapshot: if it is visible now,
 * it was visible then. A range with no row version younger than that and
 * as many rows as then therefore holds the same rows as then (a row can
 * only have left it).
 *
 * xmin is 32 bits and wraps; PostgreSQL offers no order on it, only
 * age(): the distance back from the next transaction id, negative when
 * more than 2^31 behind. $2 is the 32-bit xmin of the previous snapshot
 * (its distance is taken once, in the same statement, from the same next
 * id). A row version is counted as written when its distance is between 0
 * and that one. The detection pass makes sure the previous snapshot is
 * less than 2^30 transactions back. A row more than 2^31 transactions old
 * (long frozen: VACUUM keeps xmin) has a negative age and counts as old;
 * one 2^32 back or more may pass for young: a range read for nothing,
 * never a change missed.
 */
#define WRITTEN(T) "age(" T ".xmin) BETWEEN 0 AND (SELECT age($2::xid))"

/* (ow) $1 range size, $2 the xmin: rows, and the ranges holding written rows. */
#define WRITTEN_LINKS_SQL                                                                          \
	"SELECT count(*), coalesce(array_agg(o.id / $1::int) FILTER (WHERE " WRITTEN(              \
	    "o") "), '{}') FROM %s o" LINK_WHERE
/* (kc) */
#define WRITTEN_CONTACTS_SQL                                                                       \
	"SELECT count(*), coalesce(array_agg(k.id / $1::int) FILTER (WHERE " WRITTEN(              \
	    "k") "), '{}') FROM %s k"

/* $1, $2, $3: the ranges, their first and last ids: each range's count and
 * hash, through the primary key. */
#define RANGE_HASHES_SQL(HASH, FROM)                                                               \
	"SELECT r.b, x.n, x.h FROM"                                                                \
	" unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS r(b, lo, hi)"                        \
	" CROSS JOIN LATERAL (SELECT count(*) AS n, bit_xor(" HASH ") AS h FROM " FROM ") x"       \
	" ORDER BY 1"
/* (ow) */
#define RANGE_HASHES_LINKS_SQL                                                                     \
	RANGE_HASHES_SQL(LINK_HASH, "%s o" LINK_WHERE " AND o.id >= r.lo AND o.id <= r.hi")
/* (kc) */
#define RANGE_HASHES_CONTACTS_SQL                                                                  \
	RANGE_HASHES_SQL(CONTACT_HASH, "%s k WHERE k.id >= r.lo AND k.id <= r.hi")

/*
 * The pass's snapshot, and which files hold the two tables: $1, $2 the
 * tables (ow, kc), qualified. A table rewritten (VACUUM FULL, CLUSTER, a
 * restore, TRUNCATE) gets a new file or a new oid.
 */
#define SNAPSHOT_SQL                                                                               \
	"SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text,"                             \
	" concat_ws(':', $1::regclass::oid, pg_relation_filenode($1::regclass),"                   \
	" $2::regclass::oid, pg_relation_filenode($2::regclass))"                                  \
	" FROM pg_current_snapshot() AS s"

/* The columns a diff needs, of link rows (o) and their klantcontact (k). */
#define ROW_COLUMNS                                                                                \
	"o.id, o.uuid, o.klantcontact_id, " COL_OBJECTTYPE ", " COL_SOORT ", " COL_OBJECT_ID       \
	", " COL_REGISTER ", k.onderwerp, k.nummer"
#define ROWS_CURSOR "DECLARE zl_rows NO SCROLL CURSOR FOR SELECT " ROW_COLUMNS

/* (ow, kc, lo, hi), bounds included */
#define ROWS_SQL ROWS_CURSOR LINK_FROM " AND o.id >= %lld AND o.id <= %lld ORDER BY o.id"

/*
 * The same rows, but only the id of those that are as they were at an
 * earlier snapshot: neither the row nor its klantcontact written since
 * ("Written since a snapshot"), (xmin, ow, kc, lo, hi). A range with one
 * changed row thus costs its ids, about 50 bytes a row, not its rows.
 */
#define IF_WRITTEN(C) ", CASE WHEN x.w THEN x." C " END"
/* The columns of the rows lo..hi and whether each was written since the
 * snapshot of xmin, then where they come from: (xmin, ow, kc, lo, hi). */
#define WRITTEN_COLUMNS                                                                            \
	ROW_COLUMNS                                                                                \
	", age(o.xmin) BETWEEN 0 AND t.a OR coalesce(age(k.xmin) BETWEEN 0 AND t.a, false)"
#define WRITTEN_FROM                                                                               \
	" FROM (SELECT age('%lld'::xid) AS a) t CROSS JOIN %s o"                                   \
	" LEFT JOIN %s k ON k.id = o.klantcontact_id" LINK_WHERE                                   \
	" AND o.id >= %lld AND o.id <= %lld"
/* clang-format off */
#define ROWS_WRITTEN_SQL                                                                           \
	"DECLARE zl_rows NO SCROLL CURSOR FOR SELECT x.id"                                         \
	IF_WRITTEN("uuid")                                                                         \
	IF_WRITTEN("klantcontact_id")                                                              \
	IF_WRITTEN("onderwerpobjectidentificator_code_objecttype")                                 \
	IF_WRITTEN("onderwerpobjectidentificator_code_soort_object_id")                            \
	IF_WRITTEN("onderwerpobjectidentificator_object_id")                                       \
	IF_WRITTEN("onderwerpobjectidentificator_code_register")                                   \
	IF_WRITTEN("onderwerp")                                                                    \
	IF_WRITTEN("nummer")                                                                       \
	" FROM (SELECT " WRITTEN_COLUMNS " AS w" WRITTEN_FROM ") x ORDER BY x.id"
/* clang-format on */

/*
 * The same, but of the rows that are as they were at an earlier snapshot
 * (neither the row nor its klantcontact written since: "Written since a
 * snapshot") only the ids: those of each block of UNCHANGED_BLOCK ids as
 * a list in one row, in its last column: (xmin, ow, kc, lo, hi). A range
 * with one changed row thus costs a few bytes per other row, not a row
 * each. Each
 * list comes before the written rows above its first id; source_rows_next()
 * sorts it and merges them. The rows are ordered inside: then PostgreSQL
 * joins them as for ROWS_SQL, not with a hash of every klantcontact
 * (at 1M rows 2.9 s against 3.5 s). Still, the rows are all read before the
 * first is sent, where ROWS_WRITTEN_SQL streams them: for a long run of
 * ranges that costs more than the bytes it saves (source_rows()).
 */
#define UNCHANGED_BLOCK 1024
/* clang-format off */
#define ROWS_WRITTEN_LISTS_SQL                                                                     \
	"DECLARE zl_rows NO SCROLL CURSOR FOR"                                                     \
	" WITH x (id, c1, c2, c3, c4, c5, c6, c7, c8, w) AS MATERIALIZED"                         \
	" (SELECT " WRITTEN_COLUMNS WRITTEN_FROM " ORDER BY o.id)"                                 \
	" SELECT id, c1, c2, c3, c4, c5, c6, c7, c8, NULL::text FROM x WHERE w"                    \
	" UNION ALL SELECT min(id), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"               \
	" string_agg(id::text, ',') FROM x WHERE NOT w"                                           \
	" GROUP BY id / " ZL_STR(UNCHANGED_BLOCK) " ORDER BY 1"
/* clang-format on */

/*
 * The link rows whose klantcontact_id lies in one of the (disjoint) ranges of
 * two arrays, bounds included: (lo, hi, ow, kc). Each range is a subquery of
 * its own (LATERAL, kept apart by OFFSET 0), in which the link rows come
 * through the klantcontact_id index and their klantcontacten through the
 * primary key, both limited to the range. Joined as one query, PostgreSQL
 * cannot estimate how few rows a range holds (it guessed 6 000 where there
 * are 500, so 400 000 for 64 ranges) and hashed the whole klantcontact
 * table for them: a scan of every klantcontact in a pass that needs a few.
 */
#define CONTACT_ROWS_SQL                                                                           \
	"DECLARE zl_rows NO SCROLL CURSOR FOR SELECT x.* FROM"                                     \
	" unnest('%s'::bigint[], '%s'::bigint[]) AS r(lo, hi) CROSS JOIN LATERAL "                 \
	"(SELECT " ROW_COLUMNS " FROM %s o LEFT JOIN %s k ON k.id = o.klantcontact_id AND k.id "   \
	">= r.lo AND k.id <= r.hi" LINK_WHERE                                                      \
	" AND o.klantcontact_id >= r.lo AND o.klantcontact_id <= r.hi OFFSET 0) x ORDER BY x.id"

/*
 * The same for the klantcontacten written since a snapshot ("Written since
 * a snapshot" above; its xmin, 32 bits, is the %lld), through the primary
 * key of each range: (lo, hi, xmin, kc, ow). Those written klantcontacten
 * are the only ones that can have changed: one deleted took its link rows
 * with it (a foreign key holds them), and those are changes of their own.
 */
#define WRITTEN_CONTACT_ROWS_SQL                                                                   \
	"DECLARE zl_rows NO SCROLL CURSOR FOR SELECT x.* FROM"                                     \
	" unnest('%s'::bigint[], '%s'::bigint[]) AS r(lo, hi),"                                    \
	" (SELECT age('%lld'::xid) AS a) t CROSS JOIN LATERAL (SELECT " ROW_COLUMNS                \
	" FROM %s k JOIN %s o ON o.klantcontact_id = k.id" LINK_WHERE                              \
	" AND k.id >= r.lo AND k.id <= r.hi AND age(k.xmin) BETWEEN 0 AND t.a OFFSET 0) x"         \
	" ORDER BY x.id"

struct zl_source {
	char *conninfo;
	char *schema;
	int connect_timeout;
	int query_timeout;
	PGconn *conn;
	char *ow, *kc;      /* the tables, qualified; set by the first connection */
	bool warned;        /* source.insecure logged */
	int64_t bytes_base; /* tcpi_bytes_received of connections closed */
};

struct zl_row_cursor {
	struct zl_source *src;
	PGresult *res; /* the current batch */
	int pos;
	int n;
	bool done;
	struct zl_row row;
	int64_t *ids;          /* a list of unchanged ids (ROWS_WRITTEN_LISTS_SQL) */
	size_t ids_n, ids_pos; /* its length, and the next to hand out */
};

struct zl_source *source_new(const char *conninfo, const char *schema, int connect_timeout,
                             int query_timeout, struct zl_err *err)
{
	struct zl_source *src = calloc(1, sizeof(*src));

	if (src) {
		src->conninfo = strdup(conninfo);
		src->schema = strdup(schema);
	}
	if (!src || !src->conninfo || !src->schema) {
		source_free(src);
		zl_err_set(err, ZL_EX_SOFTWARE,
		           "out of memory while preparing the PostgreSQL connection");
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
	free(src->schema);
	free(src->ow);
	free(src->kc);
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

/* True when addr, a numeric IPv4 or IPv6 address, is one of the loopback's. */
static bool loopback_address(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

enum zl_pg_transport source_judge_transport(const char *host, const char *hostaddr, bool ssl,
                                            const char *sslmode, bool gss)
{
	/* libpq gives the address connected to for TCP, nothing for a socket. */
	if (hostaddr && *hostaddr) {
		if (loopback_address(hostaddr))
			return ZL_PG_LOCAL;
	} else if (host && (host[0] == '/' || host[0] == '@')) {
		return ZL_PG_LOCAL;
	}
	if (gss)
		return ZL_PG_VERIFIED;
	if (!ssl)
		return ZL_PG_PLAIN;
	if (sslmode && (strcmp(sslmode, "verify-full") == 0 || strcmp(sslmode, "verify-ca") == 0))
		return ZL_PG_VERIFIED;
	return ZL_PG_UNVERIFIED;
}

/* The value of one of the connection's options ("" when unset). */
static const char *conn_option(PQconninfoOption *opts, const char *key)
{
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (strcmp(o->keyword, key) == 0)
			return o->val ? o->val : "";
	}
	return "";
}

/*
 * Logs the connection made: where to, and with what protection; and, the
 * first time it is over the network without encryption that verifies the
 * server, a warning. Whoever can sit on that path could then answer in the
 * database's place, and zaaklink would publish the rows it made up.
 */
static void log_connection(struct zl_source *src)
{
	PGconn *c = src->conn;
	PQconninfoOption *opts = PQconninfo(c);
	const char *hostaddr = PQhostaddr(c) ? PQhostaddr(c) : "";
	const char *sslmode = conn_option(opts, "sslmode");
	const char *protocol = PQsslInUse(c) ? PQsslAttribute(c, "protocol") : NULL;
	bool gss = PQgssEncInUse(c) != 0;
	enum zl_pg_transport t =
	    source_judge_transport(PQhost(c), hostaddr, PQsslInUse(c) != 0, sslmode, gss);
	char host[256], mode[64];

	zl_log_quote(PQhost(c) ? PQhost(c) : "", host, sizeof(host));
	zl_log_quote(sslmode, mode, sizeof(mode));
	zl_info("source.connected", "host=\"%s\"%s%s port=%s ssl=%s%s%s%s sslmode=\"%s\"", host,
	        *hostaddr ? " hostaddr=" : "", hostaddr, PQport(c) ? PQport(c) : "",
	        PQsslInUse(c) ? "on" : "off", protocol ? " protocol=" : "",
	        protocol ? protocol : "", gss ? " gss=on" : "", mode);
	if ((t == ZL_PG_PLAIN || t == ZL_PG_UNVERIFIED) && !src->warned) {
		src->warned = true;
		zl_warn("source.insecure",
		        "host=\"%s\"%s%s port=%s ssl=%s sslmode=\"%s\" reason=\"%s\""
		        " hint=\"set sslmode=verify-full and sslrootcert=FILE (the CA of the"
		        " server's certificate) in source.conninfo\"",
		        host, *hostaddr ? " hostaddr=" : "", hostaddr, PQport(c) ? PQport(c) : "",
		        PQsslInUse(c) ? "on" : "off", mode,
		        t == ZL_PG_PLAIN ? "not encrypted, over the network"
		                         : "TLS that does not verify the server, over the network");
	}
	PQconninfoFree(opts);
}

/* The two tables, named with their schema, quoted by libpq. */
static int qualify_tables(struct zl_source *src, struct zl_err *err)
{
	char *schema;
	size_t n;

	if (src->ow)
		return 0;
	schema = PQescapeIdentifier(src->conn, src->schema, strlen(src->schema));
	if (!schema)
		return zl_err_set(err, ZL_EX_CONFIG, "source.schema cannot be quoted: %s",
		                  PQerrorMessage(src->conn));
	n = strlen(schema) + sizeof(TABLE_OW) + 1;
	src->ow = malloc(n);
	src->kc = malloc(n);
	if (src->ow && src->kc) {
		snprintf(src->ow, n, "%s." TABLE_OW, schema);
		snprintf(src->kc, n, "%s." TABLE_KC, schema);
	}
	PQfreemem(schema);
	if (!src->ow || !src->kc) {
		free(src->ow);
		free(src->kc);
		src->ow = src->kc = NULL;
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while naming the tables of schema %s",
		                  src->schema);
	}
	return 0;
}

int source_connect(struct zl_source *src, struct zl_err *err)
{
	char timeout[16];
	const char *keys[] = {"connect_timeout", "application_name", "dbname", "client_encoding",
	                      NULL};
	const char *values[] = {timeout, "zaaklink", src->conninfo, "UTF8", NULL};

	if (src->conn && PQstatus(src->conn) == CONNECTION_OK)
		return 0;
	disconnect(src);
	snprintf(timeout, sizeof(timeout), "%d", src->connect_timeout);
	/* expand_dbname: the conninfo's own settings come first and ours after
	 * only where we must decide (the encoding the payload rules assume). */
	src->conn = PQconnectdbParams(keys, values, 1);
	if (!src->conn)
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while connecting to PostgreSQL");
	if (PQstatus(src->conn) != CONNECTION_OK) {
		pq_fail(src, err, "connect");
		disconnect(src);
		return -1;
	}
	log_connection(src);
	/* The fingerprints use bit_xor(bigint), new in PostgreSQL 14. */
	if (PQserverVersion(src->conn) < 140000) {
		char *where = conf_mask_conninfo(src->conninfo);
		int v = PQserverVersion(src->conn);

		zl_err_set(err, ZL_EX_UNAVAILABLE,
		           "PostgreSQL %d.%d (%s) is too old: zaaklink needs version 14 or newer",
		           v / 10000, v >= 100000 ? v % 10000 : v / 100 % 100, where ? where : "?");
		free(where);
		disconnect(src);
		return -1;
	}
	if (qualify_tables(src, err) < 0) {
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
	struct zl_text sql = {0};
	PGresult *res;
	char what[256];

	/* As a pass reads: in its transaction, with its search_path. */
	if (source_begin(src, err) < 0)
		return -1;
	zl_text_add(&sql, "SELECT 1" LINK_FROM " LIMIT 1", src->ow, src->kc);
	if (sql.failed) {
		source_end(src);
		free(sql.buf);
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while building the query that checks access");
	}
	res = PQexec(src->conn, sql.buf);
	free(sql.buf);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		snprintf(what, sizeof(what),
		         "read " TABLE_OW " joined with " TABLE_KC " in schema %s", src->schema);
		pq_fail(src, err, what);
		source_end(src);
		return -1;
	}
	PQclear(res);
	source_end(src);
	return 0;
}

int source_begin(struct zl_source *src, struct zl_err *err)
{
	char sql[256];

	if (source_connect(src, err) < 0)
		return -1;
	/* A transaction left open would pin an old snapshot: never reuse one. */
	if (PQtransactionStatus(src->conn) != PQTRANS_IDLE)
		source_end(src);
	/*
	 * One round trip. JIT: from about 500 000 ids up, the fingerprint
	 * queries' cost estimates pass jit_above_cost, and PostgreSQL would
	 * compile them anew for every pass, for more time than it saves.
	 * work_mem: PostgreSQL cannot know how few distinct id / range_size
	 * there are and estimates about one group per row. With much room it
	 * sizes a hash table for that estimate up front, which at 1M rows
	 * costs more than the scan (64MB: 270 ms against 100 ms for the
	 * klantcontacten, bench/RESULTS.md); with the default 4MB it may sort
	 * the rows to disk to group them. 16MB measured best for both
	 * fingerprint queries, and a server's own setting, larger or smaller,
	 * must not decide. search_path: the tables are named with their
	 * schema, and the functions and operators must be PostgreSQL's own,
	 * whatever a schema on the role's search_path holds (pg_temp, last,
	 * only so that nothing comes before pg_catalog).
	 */
	snprintf(sql, sizeof(sql),
	         "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
	         " SET LOCAL search_path = pg_catalog, pg_temp;"
	         " SET LOCAL statement_timeout = %d; SET LOCAL jit = off;"
	         " SET LOCAL work_mem = '16MB'",
	         src->query_timeout * 1000);
	if (command(src, sql, "begin a snapshot", err) < 0) {
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

/*
 * Appends n integers as an array literal ("{1,2,3}"): the one at v, and each
 * stride bytes further (a field of an array of structs).
 */
static void text_add_array(struct zl_text *t, const int64_t *v, size_t n, size_t stride)
{
	zl_text_add(t, "{");
	for (size_t i = 0; i < n; i++)
		zl_text_add(t, "%s%lld", i ? "," : "",
		            (long long)*(const int64_t *)((const char *)v + i * stride));
	zl_text_add(t, "}");
}

/*
 * Calls fn with each row of res from row first on, read as (range, rows,
 * hash): a NULL count or hash is 0 (an empty range). Returns what fn
 * returned first that was not 0, or 0.
 */
static int each_range_fp(PGresult *res, int first, enum zl_fp_kind kind,
                         int (*fn)(const struct zl_range_fp *now, void *arg), void *arg)
{
	int ret = 0;

	for (int i = first; i < PQntuples(res) && ret == 0; i++) {
		struct zl_range_fp r = {.kind = kind};

		r.range = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		if (!PQgetisnull(res, i, 1))
			r.rows = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		if (!PQgetisnull(res, i, 2))
			r.fp = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		ret = fn(&r, arg);
	}
	return ret;
}

int source_ranges_changed(struct zl_source *src, enum zl_fp_kind kind, int range_size,
                          const struct zl_range_fp *old, size_t n_old,
                          int (*fn)(const struct zl_range_fp *now, void *arg), void *arg,
                          struct zl_fp_totals *totals, struct zl_err *err)
{
	struct zl_text arr[3] = {{0}}, sql = {0};
	char size[16];
	const char *params[4] = {size};
	PGresult *res;
	int ret = 0;

	snprintf(size, sizeof(size), "%d", range_size);
	/* No stored fingerprints: old may be NULL, and no field of it is read. */
	text_add_array(&arr[0], n_old ? &old->range : NULL, n_old, sizeof(*old));
	text_add_array(&arr[1], n_old ? &old->rows : NULL, n_old, sizeof(*old));
	text_add_array(&arr[2], n_old ? &old->fp : NULL, n_old, sizeof(*old));
	for (int a = 0; a < 3; a++)
		params[a + 1] = arr[a].buf;
	if (arr[0].failed || arr[1].failed || arr[2].failed) {
		ret = zl_err_set(err, ZL_EX_SOFTWARE,
		                 "out of memory while sending %zu range fingerprints", n_old);
		goto out;
	}
	if (kind == ZL_FP_LINKS)
		zl_text_add(&sql, CHANGED_LINKS_SQL, src->ow);
	else
		zl_text_add(&sql, CHANGED_CONTACTS_SQL, src->kc);
	if (sql.failed) {
		ret =
		    zl_err_set(err, ZL_EX_SOFTWARE,
		               "out of memory while building the query that compares fingerprints");
		goto out;
	}
	res = PQexecParams(src->conn, sql.buf, 4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1 ||
	    !PQgetisnull(res, 0, 0)) {
		PQclear(res);
		ret = pq_fail(src, err,
		              kind == ZL_FP_LINKS ? "compare the fingerprints of onderwerpobjecten"
		                                  : "compare the fingerprints of klantcontacten");
		goto out;
	}
	totals->ranges = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	totals->rows = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	ret = each_range_fp(res, 1, kind, fn, arg);
	PQclear(res);
out:
	for (int a = 0; a < 3; a++)
		free(arr[a].buf);
	free(sql.buf);
	return ret;
}

/* The 32-bit transaction id PostgreSQL's xid holds of a 64-bit one. */
static long long xid32(int64_t xid)
{
	return (long long)(xid & 0xFFFFFFFF);
}

int source_snapshot(struct zl_source *src, struct zl_source_snapshot *snap, struct zl_err *err)
{
	const char *params[2] = {src->ow, src->kc};
	PGresult *res = PQexecParams(src->conn, SNAPSHOT_SQL, 2, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		PQclear(res);
		return pq_fail(src, err, "read the snapshot of the pass");
	}
	snap->xmin = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snap->xmax = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	snprintf(snap->tables, sizeof(snap->tables), "%s", PQgetvalue(res, 0, 2));
	PQclear(res);
	return 0;
}

static int cmp_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Parses an array of integers ("{1,2,3}", or without the braces) into a
 * new array, sorted and without repeats; NULL when out of memory. */
static int64_t *parse_array(const char *s, size_t *n)
{
	size_t cap = 1, kept;
	int64_t *v;

	for (const char *c = s; *c; c++)
		cap += *c == ',';
	if (!(v = malloc(cap * sizeof(*v))))
		return NULL;
	*n = 0;
	for (const char *c = s; *c;) {
		char *end;

		if (*c == '{' || *c == ',' || *c == '}') {
			c++;
			continue;
		}
		v[*n] = strtoll(c, &end, 10);
		if (end == c)
			break;
		c = end;
		if (++*n == cap)
			break;
	}
	if (*n == 0)
		return v;
	qsort(v, *n, sizeof(*v), cmp_int64);
	kept = 1;
	for (size_t i = 1; i < *n; i++)
		if (v[i] != v[kept - 1])
			v[kept++] = v[i];
	*n = kept;
	return v;
}

int source_ranges_written(struct zl_source *src, enum zl_fp_kind kind, int range_size,
                          int64_t since_xmin, int64_t *rows, int64_t **ranges, size_t *n,
                          struct zl_err *err)
{
	char size[16], xmin[24];
	const char *params[2] = {size, xmin};
	struct zl_text sql = {0};
	PGresult *res;
	int ret = 0;

	snprintf(size, sizeof(size), "%d", range_size);
	snprintf(xmin, sizeof(xmin), "%lld", xid32(since_xmin));
	zl_text_add(&sql, kind == ZL_FP_LINKS ? WRITTEN_LINKS_SQL : WRITTEN_CONTACTS_SQL,
	            kind == ZL_FP_LINKS ? src->ow : src->kc);
	if (sql.failed) {
		free(sql.buf);
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while building the query for written rows");
	}
	res = PQexecParams(src->conn, sql.buf, 2, NULL, params, NULL, NULL, 0);
	free(sql.buf);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		PQclear(res);
		return pq_fail(src, err,
		               kind == ZL_FP_LINKS ? "look for written onderwerpobjecten"
		                                   : "look for written klantcontacten");
	}
	*rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (!(*ranges = parse_array(PQgetvalue(res, 0, 1), n)))
		ret = zl_err_set(err, ZL_EX_SOFTWARE,
		                 "out of memory while listing the ranges of written rows");
	PQclear(res);
	return ret;
}

int source_ranges_hash(struct zl_source *src, enum zl_fp_kind kind, int range_size,
                       const int64_t *ranges, size_t n,
                       int (*fn)(const struct zl_range_fp *now, void *arg), void *arg,
                       struct zl_err *err)
{
	struct zl_text arr[3] = {{0}}, sql = {0};
	const char *params[3];
	int64_t *first = malloc((n ? n : 1) * sizeof(*first)),
	        *last = malloc((n ? n : 1) * sizeof(*last));
	PGresult *res;
	int ret = 0;

	for (size_t i = 0; first && last && i < n; i++)
		diff_range_ids(ranges[i], range_size, &first[i], &last[i]);
	if (first && last) {
		text_add_array(&arr[0], ranges, n, sizeof(*ranges));
		text_add_array(&arr[1], first, n, sizeof(*first));
		text_add_array(&arr[2], last, n, sizeof(*last));
	}
	for (int a = 0; a < 3; a++)
		params[a] = arr[a].buf;
	zl_text_add(&sql, kind == ZL_FP_LINKS ? RANGE_HASHES_LINKS_SQL : RANGE_HASHES_CONTACTS_SQL,
	            kind == ZL_FP_LINKS ? src->ow : src->kc);
	if (!first || !last || arr[0].failed || arr[1].failed || arr[2].failed || sql.failed) {
		ret =
		    zl_err_set(err, ZL_EX_SOFTWARE,
		               "out of memory while asking for the fingerprints of %zu ranges", n);
		goto out;
	}
	res = PQexecParams(src->conn, sql.buf, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		ret = pq_fail(src, err,
		              kind == ZL_FP_LINKS ? "compute the fingerprints of onderwerpobjecten"
		                                  : "compute the fingerprints of klantcontacten");
		goto out;
	}
	ret = each_range_fp(res, 0, kind, fn, arg);
	PQclear(res);
out:
	for (int a = 0; a < 3; a++)
		free(arr[a].buf);
	free(first);
	free(last);
	free(sql.buf);
	return ret;
}

static struct zl_row_cursor *open_rows(struct zl_source *src, const char *sql, struct zl_err *err)
{
	struct zl_row_cursor *cur;

	if (command(src, sql, "open a cursor over onderwerpobjecten", err) < 0)
		return NULL;
	cur = calloc(1, sizeof(*cur));
	if (!cur) {
		zl_err_set(err, ZL_EX_SOFTWARE, "out of memory while opening a cursor over rows");
		return NULL;
	}
	cur->src = src;
	return cur;
}

struct zl_row_cursor *source_rows(struct zl_source *src, int64_t lo, int64_t hi,
                                  const int64_t *since_xmin, bool id_lists, struct zl_err *err)
{
	struct zl_text sql = {0};
	struct zl_row_cursor *cur = NULL;

	if (since_xmin)
		zl_text_add(&sql, id_lists ? ROWS_WRITTEN_LISTS_SQL : ROWS_WRITTEN_SQL,
		            xid32(*since_xmin), src->ow, src->kc, (long long)lo, (long long)hi);
	else
		zl_text_add(&sql, ROWS_SQL, src->ow, src->kc, (long long)lo, (long long)hi);
	if (sql.failed)
		zl_err_set(err, ZL_EX_SOFTWARE,
		           "out of memory while building the query of ids %lld..%lld",
		           (long long)lo, (long long)hi);
	else
		cur = open_rows(src, sql.buf, err);
	free(sql.buf);
	return cur;
}

struct zl_row_cursor *source_contact_rows(struct zl_source *src, const int64_t *lo,
                                          const int64_t *hi, size_t n, const int64_t *since_xmin,
                                          struct zl_err *err)
{
	struct zl_text arr[2] = {{0}}, sql = {0};
	struct zl_row_cursor *cur = NULL;

	text_add_array(&arr[0], lo, n, sizeof(*lo));
	text_add_array(&arr[1], hi, n, sizeof(*hi));
	if (!arr[0].failed && !arr[1].failed && since_xmin)
		zl_text_add(&sql, WRITTEN_CONTACT_ROWS_SQL, arr[0].buf, arr[1].buf,
		            xid32(*since_xmin), src->kc, src->ow);
	else if (!arr[0].failed && !arr[1].failed)
		zl_text_add(&sql, CONTACT_ROWS_SQL, arr[0].buf, arr[1].buf, src->ow, src->kc);
	if (arr[0].failed || arr[1].failed || sql.failed)
		zl_err_set(err, ZL_EX_SOFTWARE,
		           "out of memory while building the query of %zu klantcontact ranges", n);
	else
		cur = open_rows(src, sql.buf, err);
	free(arr[0].buf);
	free(arr[1].buf);
	free(sql.buf);
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

/* Takes the list of unchanged ids in column 9 of row i ("3,1,2"), in
 * ascending order. */
static int take_ids(struct zl_row_cursor *cur, int i, struct zl_err *err)
{
	free(cur->ids);
	cur->ids_pos = 0;
	if (!(cur->ids = parse_array(PQgetvalue(cur->res, i, 9), &cur->ids_n))) {
		cur->ids_n = 0;
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while reading a list of onderwerpobject ids");
	}
	return 0;
}

int source_rows_next(struct zl_row_cursor *cur, const struct zl_row **row, struct zl_err *err)
{
	struct zl_row *r = &cur->row;
	PGresult *res;
	int i;

	for (;;) {
		bool more;

		if ((!cur->res || cur->pos >= cur->n) && !(cur->res && cur->done) &&
		    fetch_batch(cur, err) < 0)
			return -1;
		more = cur->pos < cur->n;
		/* An unchanged id goes first when the next row comes after it. */
		if (cur->ids_pos < cur->ids_n &&
		    (!more || cur->ids[cur->ids_pos] <
		                  strtoll(PQgetvalue(cur->res, cur->pos, 0), NULL, 10))) {
			memset(r, 0, sizeof(*r));
			r->id = cur->ids[cur->ids_pos++];
			r->unchanged = true;
			*row = r;
			return 1;
		}
		if (!more)
			return 0;
		if (PQnfields(cur->res) < 10 || PQgetisnull(cur->res, cur->pos, 9))
			break;
		if (take_ids(cur, cur->pos++, err) < 0)
			return -1;
	}
	res = cur->res;
	i = cur->pos++;
	r->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	/* A link row's uuid is never NULL: only that of an id alone is. */
	r->unchanged = PQgetisnull(res, i, 1);
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
	free(cur->ids);
	free(cur);
}

int64_t source_bytes_received(const struct zl_source *src)
{
	return src->bytes_base + socket_bytes(src->conn);
}

const char *source_tls(const struct zl_source *src)
{
	if (!src->conn || !PQsslInUse(src->conn))
		return NULL;
	return PQsslAttribute(src->conn, "protocol");
}
