/*
 * Detect: one detection pass, from Open Klant's rows to recorded events.
 *
 * Compares PostgreSQL's range fingerprints with the stored ones, reads and
 * diffs only the ranges that differ, and writes the new links, fingerprints,
 * outbox rows and checkpoint in one store transaction; a long pass commits
 * in chunks of source.chunk_size rows once no stored link is left to
 * compare (detect.c).
 */
#ifndef ZL_DETECT_H
#define ZL_DETECT_H

#include "common.h"
#include "conf.h"
#include "source.h"
#include "store.h"

#include <signal.h>

struct zl_pass_stats {
	int64_t ranges_total;      /* non-empty onderwerpobject ranges PostgreSQL counted */
	int64_t ranges_read;       /* of them, those whose fingerprint differed: to read */
	int64_t ranges_diffed;     /* of ranges_read, those read and diffed so far */
	int64_t rows_read;         /* link rows read from PostgreSQL and diffed */
	int64_t links;             /* links PostgreSQL counted */
	int64_t events;            /* events recorded */
	int64_t events_by_type[2]; /* by enum zl_event_type */
	int64_t invalid;           /* links newly skipped for an invalid zaak id */
	int64_t chunks;            /* chunks committed before the pass's end */
	int64_t duration_ms;
	bool initial;     /* the state was empty: initial_sync applied */
	int compared_all; /* kinds (of 2) whose every range was compared; the
	                     others were compared by written rows (detect.c) */
};

enum zl_pass_mode {
	ZL_PASS_NORMAL, /* the table of docs/EVENTS.md 4 */
	ZL_PASS_FULL,   /* compare every range, whatever its fingerprint */
};

/*
 * What the daemon lets a pass do between two ranges, whose reading may take
 * minutes in all on a first sync: give up when asked to stop, show the
 * service manager it is alive, and publish a chunk the pass committed. The
 * members are optional.
 */
struct zl_pass_hooks {
	const volatile sig_atomic_t *stop; /* non-zero: give up (the signal flag) */
	void (*alive)(void *arg);          /* called before every range */
	void (*committed)(void *arg);      /* after a chunk's commit, no transaction open */
	void *arg;
};

/* detect_pass() gave up on hooks->stop: nothing written since the last
 * chunk (stats->chunks), the rest of the pass is to be done again. */
#define ZL_PASS_INTERRUPTED 1

/*
 * Returns 0 after a pass, ZL_PASS_INTERRUPTED, or -1 on an error, with err
 * filled by the call that failed: ZL_EX_UNAVAILABLE from PostgreSQL (an
 * outage, and a table not found too: see source.h), ZL_EX_CANTCREAT from
 * the state file, ZL_EX_CONFIG for a source.schema PostgreSQL cannot
 * quote, ZL_EX_SOFTWARE when out of memory. An empty state is no error: it
 * makes the pass the initial one (stats->initial). The pass opens its own
 * source snapshot and store transaction: call it with no store transaction
 * open. Nothing is written unless it returns 0, except the chunks it
 * committed (stats->chunks), which leave a consistent state. hooks may be
 * NULL.
 */
int detect_pass(const struct zl_conf *conf, struct zl_source *src, struct zl_store *st,
                enum zl_pass_mode mode, const struct zl_pass_hooks *hooks,
                struct zl_pass_stats *stats, struct zl_err *err);

/* Logs what a pass did: msg=pass.done with its figures. */
void detect_log(const struct zl_pass_stats *s, int64_t bytes_received);

#endif
