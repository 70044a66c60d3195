/*
 * App: what the commands share: reporting an error that ends a command, and
 * opening the state file with the exit status its failure deserves.
 */
#ifndef ZL_APP_H
#define ZL_APP_H

#include "common.h"
#include "conf.h"
#include "source.h"
#include "store.h"

/* Prints "zaaklink: <message>" on stderr and returns err->code. */
int app_fail(const struct zl_err *err);

/* Opens the configured state file; NULL after printing why. */
struct zl_store *app_open_store(const struct zl_conf *conf, bool read_only, int *exit_code);

/* The source connection of conf, not connected yet; NULL after printing why. */
struct zl_source *app_source_new(const struct zl_conf *conf);

/* Opens the state file for writing and prepares the source; returns 0, or
 * the exit status after printing why (nothing is left open then). */
int app_open_pass(const struct zl_conf *conf, struct zl_store **st, struct zl_source **src);

/*
 * Records a gekoppeld for every current link in one transaction (the
 * backfill; see store_backfill()) and returns how many, or -1 with err.
 */
int64_t app_record_backfill(const struct zl_conf *conf, struct zl_store *st, struct zl_err *err);

#endif
