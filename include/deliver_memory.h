/*
 * Deliver memory: what `zaaklink deliver` remembers across restarts, per
 * link (zaak, linkTo): the highest zaaklink-seq it has delivered for it.
 *
 * Every event zaaklink publishes carries zaaklink-seq, its outbox sequence,
 * which grows in the order the events were recorded. The broker may hand
 * them to deliver out of that order (a retry tier brings an old event back
 * after a newer one went through), and for one link only the newest event
 * says what Open Zaak must end up with: an event whose seq is lower than
 * the one remembered for its link is stale and is skipped
 * (deliver.skipped reason=stale). An equal seq is the same event again
 * (a redelivery) and is not stale: the caller decides what a second
 * delivery does.
 *
 * The memory is a small SQLite file of its own, apart from the state file
 * (deliver may run on another host than run): WAL, synchronous=FULL (a put
 * that returned is on disk before the message is acknowledged), created
 * with mode 0640, with its own schema version (PRAGMA user_version) and
 * application id, so that neither an older zaaklink nor some other file
 * given by mistake is ever written to. Keys are compared byte for byte, as
 * Open Zaak compares linkTo. One handle is for one thread.
 */
#ifndef ZL_DELIVER_MEMORY_H
#define ZL_DELIVER_MEMORY_H

#include "common.h"

#include <stdint.h>

struct zl_deliver_memory;

/*
 * Opens the memory file at path, creating it (mode 0640, less the umask)
 * and its schema when needed. NULL with err when it cannot: ZL_EX_CANTCREAT
 * for a file that cannot be opened or written, is a symbolic link or no
 * regular file, is no deliver memory, or has a newer schema than this
 * zaaklink knows; ZL_EX_SOFTWARE when out of memory.
 */
struct zl_deliver_memory *deliver_memory_open(const char *path, struct zl_err *err);
/* Closes m; NULL is allowed. */
void deliver_memory_close(struct zl_deliver_memory *m);

/*
 * The highest seq remembered for (zaak, link_to) into *seq: 1 when one is
 * remembered, 0 when none is (*seq is then 0), -1 with err (ZL_EX_CANTCREAT).
 */
int deliver_memory_get(struct zl_deliver_memory *m, const char *zaak, const char *link_to,
                       int64_t *seq, struct zl_err *err);

/*
 * Remembers seq for (zaak, link_to) unless a higher one is remembered
 * already (one statement: the larger of the two stays), durably before it
 * returns. 0, or -1 with err (ZL_EX_CANTCREAT).
 */
int deliver_memory_put(struct zl_deliver_memory *m, const char *zaak, const char *link_to,
                       int64_t seq, struct zl_err *err);

#endif
