/*
 * Commands: one per subcommand of the command line. Each describes its
 * options (options.h), which fill a struct of its own that main() allocates
 * zeroed, so that its usage and its usage errors come before the
 * configuration is loaded; then run() gets the loaded configuration, those
 * options and the arguments left (argv[0] is the first argument after the
 * options, not the command name) and returns the process exit status.
 */
#ifndef ZL_COMMANDS_H
#define ZL_COMMANDS_H

#include "conf.h"
#include "options.h"

struct zl_command {
	struct zl_opt_cmd cli;   /* its name, usage and options; cli.about is its one line */
	enum zl_state_use state; /* the access to the state file it needs */
	size_t opts_size;        /* of the struct its options fill (0: it has none) */
	/* NULL, or a check of the options before the configuration is loaded:
	 * 0, or the exit status after saying why on stderr. */
	int (*check)(void *opts, int argc, char **argv);
	int (*run)(struct zl_conf *conf, const void *opts, int argc, char **argv);
};

extern const struct zl_command zl_cmd_run, zl_cmd_once, zl_cmd_check_config, zl_cmd_status,
    zl_cmd_backfill, zl_cmd_setup, zl_cmd_dlq, zl_cmd_state, zl_cmd_deliver;

/* Every command, in the order zaaklink --help lists them. */
#define ZL_COMMANDS                                                                                \
	&zl_cmd_run, &zl_cmd_once, &zl_cmd_check_config, &zl_cmd_status, &zl_cmd_backfill,         \
	    &zl_cmd_setup, &zl_cmd_dlq, &zl_cmd_state, &zl_cmd_deliver

#endif
