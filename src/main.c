/* zaaklink: the command-line dispatcher; each command lives in cmd_*.c. */
#include "config.h"

#include "commands.h"
#include "common.h"
#include "conf.h"
#include "log.h"
#include "options.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/zaaklink/zaaklink.conf"

static const struct zl_command *const commands[] = {ZL_COMMANDS};

/* zaaklink's own options, before the command. */
struct global_opts {
	const char *config;
	int level; /* -1: log.level decides */
	bool version;
};

static const struct zl_option global_options[] = {
    ZL_OPT_STRING('c', "config", "FILE", struct global_opts, config,
                  "configuration file (default " DEFAULT_CONFIG ")"),
    ZL_OPT_SET_INT('v', "verbose", struct global_opts, level, ZL_LOG_DEBUG, "log at debug level"),
    ZL_OPT_SET_INT('q', "quiet", struct global_opts, level, ZL_LOG_WARNING,
                   "log warnings and errors only"),
    ZL_OPT_BOOL('V', "version", struct global_opts, version, "show the version"),
    ZL_OPT_END(),
};

static const char *const global_synopsis[] = {"[-c FILE] [-v|-q] COMMAND [OPTIONS]",
                                              "COMMAND --help", NULL};

/* Loads the configuration the command needs and runs it. */
static int run_command(const struct zl_command *cmd, const struct global_opts *g, const void *opts,
                       int argc, char **argv)
{
	struct zl_err err = {0};
	struct zl_conf *conf;
	int rc;

	conf = conf_load_for(g->config, cmd->state, &err);
	if (!conf) {
		fprintf(stderr, "%s\n", err.msg);
		return ZL_EX_CONFIG;
	}
	if (g->level >= 0)
		zl_log_pin_level((enum zl_log_level)g->level);
	else
		zl_log_set_level((enum zl_log_level)conf->log.level);
	rc = cmd->run(conf, opts, argc, argv);
	conf_free(conf);
	return rc;
}

int main(int argc, char **argv)
{
	struct global_opts g = {.config = DEFAULT_CONFIG, .level = -1};
	struct zl_opt_sub subs[ZL_ARRAY_LEN(commands) + 1] = {{NULL, NULL}};
	struct zl_opt_cmd cli = {
	    .synopsis = global_synopsis,
	    .about = "Publishes Open Klant's zaak links as CloudEvents on RabbitMQ.",
	    .subcommands = subs,
	    .options = global_options,
	    .epilogue = "Exit status: 0 ok, 64 usage, 69 PostgreSQL or RabbitMQ unavailable,\n"
	                "70 internal error, 73 state file unusable, 75 events left pending,\n"
	                "78 configuration invalid. See zaaklink(8).\n",
	    .stop_at_command = true,
	};
	const struct zl_command *cmd = NULL;
	void *opts;
	int n, rc;

	/* Under systemd, log lines carry their priority and journald the time. */
	zl_log_set_journal(zl_log_is_journal_stream(getenv("JOURNAL_STREAM"), STDERR_FILENO));
	/* At the file size limit (RLIMIT_FSIZE) a write must fail with EFBIG,
	 * which SQLite turns into an error naming the state file; the default
	 * action of SIGXFSZ would kill the process with no word said. */
	signal(SIGXFSZ, SIG_IGN);
	for (size_t k = 0; k < ZL_ARRAY_LEN(commands); k++)
		subs[k] = (struct zl_opt_sub){commands[k]->cli.name, commands[k]->cli.about};
	n = zl_opt_parse(&cli, &g, argc, argv);
	zl_opt_free(&cli, &g);
	if (n < 0)
		return zl_opt_status(n);
	if (g.version) {
		printf("zaaklink %s\n", PACKAGE_VERSION);
		return ZL_EX_OK;
	}
	if (n == 0) {
		zl_opt_usage(&cli, stderr);
		return ZL_EX_USAGE;
	}
	for (size_t k = 0; k < ZL_ARRAY_LEN(commands); k++)
		if (strcmp(argv[0], commands[k]->cli.name) == 0)
			cmd = commands[k];
	if (!cmd) {
		fprintf(stderr, "zaaklink: unknown command '%s' (see zaaklink --help)\n", argv[0]);
		return ZL_EX_USAGE;
	}
	/* --version works after the command too, like --help. */
	for (int k = 1; k < n && strcmp(argv[k], "--") != 0; k++)
		if (strcmp(argv[k], "--version") == 0) {
			printf("zaaklink %s\n", PACKAGE_VERSION);
			return ZL_EX_OK;
		}
	/* The command's usage and usage errors need no configuration. */
	if (!(opts = calloc(1, cmd->opts_size ? cmd->opts_size : 1))) {
		fprintf(stderr, "zaaklink: out of memory while reading the options of %s\n",
		        cmd->cli.name);
		return ZL_EX_SOFTWARE;
	}
	n = zl_opt_parse(&cmd->cli, opts, n, argv);
	if (n < 0)
		rc = zl_opt_status(n);
	else if (!cmd->check || (rc = cmd->check(opts, n, argv)) == ZL_EX_OK)
		rc = run_command(cmd, &g, opts, n, argv);
	zl_opt_free(&cmd->cli, opts);
	free(opts);
	return rc;
}
