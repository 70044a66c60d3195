/*
 * Commands: one function per subcommand of the command line. Each gets the
 * loaded configuration and its own arguments (argv[0] is the command name)
 * and returns the process exit status.
 */
#ifndef ZL_COMMANDS_H
#define ZL_COMMANDS_H

#include "conf.h"

int cmd_run(struct zl_conf *conf, int argc, char **argv);
int cmd_once(struct zl_conf *conf, int argc, char **argv);
int cmd_check_config(struct zl_conf *conf, int argc, char **argv);
int cmd_status(struct zl_conf *conf, int argc, char **argv);
int cmd_backfill(struct zl_conf *conf, int argc, char **argv);
int cmd_setup(struct zl_conf *conf, int argc, char **argv);
int cmd_dlq(struct zl_conf *conf, int argc, char **argv);

#endif
