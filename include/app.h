/*
 * App: what the commands share: reporting an error that ends a command,
 * opening the state file with the exit status its failure deserves, and
 * running one pass or recording a backfill the way once, backfill and the
 * daemon all do.
 */
#ifndef ZL_APP_H
#define ZL_APP_H

#include "common.h"
#include "conf.h"
#include "detect.h"
#include "source.h"
#include "store.h"

/* Prints "zaaklink: <message>" on stderr and returns err->code. */
int app_fail(const struct zl_err *err);

/* Opens the configured state file; NULL after printing why. */
struct zl_store *app_open_store(const struct zl_conf *conf, bool read_only, int *exit_code);

/* The same for run: a PostgreSQL state held by another instance opens as
 * a standby (store_open_compete()). */
struct zl_store *app_open_daemon_store(const struct zl_conf *conf, int *exit_code);

/* The source connection of conf, not connected yet (source_new()). */
struct zl_source *app_source_new(const struct zl_conf *conf, struct zl_err *err);

/*
 * One detection pass over st (detect_pass(), same errors) through a source
 * connection of its own, closed afterwards, and its pass.done log line:
 * what once and backfill do before their own work. hooks (without stop)
 * may be NULL. Returns 0 or -1.
 */
int app_pass(const struct zl_conf *conf, struct zl_store *st, enum zl_pass_mode mode,
             const struct zl_pass_hooks *hooks, struct zl_err *err);

/*
 * Records a gekoppeld for every current link in one transaction (the
 * backfill; see store_backfill()) and returns how many, or -1 with err.
 */
int64_t app_record_backfill(const struct zl_conf *conf, struct zl_store *st, struct zl_err *err);

#endif
