/*
 * App: what the commands share: reporting an error that ends a command, and
 * opening the state file with the exit status its failure deserves.
 */
#ifndef ZL_APP_H
#define ZL_APP_H

#include "common.h"
#include "conf.h"
#include "store.h"

/* Prints "zaaklink: <message>" on stderr and returns err->code. */
int app_fail(const struct zl_err *err);

/* Opens the configured state file; NULL after printing why. */
struct zl_store *app_open_store(const struct zl_conf *conf, bool read_only, int *exit_code);

/*
 * Parses a command's options. opts lists the long names it accepts (no
 * leading dashes, NULL-terminated); set[i] becomes true when opts[i] was
 * given. Prints a usage error and returns -1 on anything else.
 */
int app_flags(int argc, char **argv, const char *const *opts, bool *set);

#endif
