/* zaaklink: the command-line dispatcher; each command lives in cmd_*.c. */
#include "config.h"

#include "commands.h"
#include "common.h"
#include "conf.h"
#include "log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/zaaklink/zaaklink.conf"

struct command {
	const char *name;
	int (*fn)(struct zl_conf *conf, int argc, char **argv);
	enum zl_state_use state; /* the access to the state file it needs */
	const char *help;
};

static const struct command commands[] = {
	{ "run", cmd_run, ZL_STATE_WRITE,
	  "poll, record and publish until SIGTERM/SIGINT (the daemon)" },
	{ "once", cmd_once, ZL_STATE_WRITE,
	  "one detection pass, then publish every pending event [--full]" },
	{ "check-config", cmd_check_config, ZL_STATE_WRITE, "validate the configuration [--connect]" },
	{ "status", cmd_status, ZL_STATE_READ,
	  "checkpoint, links, pending events, queue depths [--json]" },
	{ "backfill", cmd_backfill, ZL_STATE_WRITE,
	  "record a gekoppeld for every current link (re-announce)" },
	{ "setup", cmd_setup, ZL_STATE_NONE,
	  "declare the RabbitMQ topology: queues, retry tiers, parking" },
	{ "dlq", cmd_dlq, ZL_STATE_NONE, "list|requeue|purge|export parked messages [--unrouted]" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: zaaklink [-c FILE] [-v|-q] COMMAND [OPTIONS]\n\n"
		     "Publishes Open Klant's zaak links as CloudEvents on RabbitMQ.\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < ZL_ARRAY_LEN(commands); i++)
		fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\nOptions:\n"
		     "  -c, --config FILE  configuration file (default %s)\n"
		     "  -v, --verbose      log at debug level\n"
		     "  -q, --quiet        log warnings and errors only\n"
		     "  -h, --help         show this help\n"
		     "  -V, --version      show the version\n\n"
		     "Exit status: 0 ok, 64 usage, 69 PostgreSQL or RabbitMQ unavailable,\n"
		     "70 internal error, 73 state file unusable, 75 events left pending,\n"
		     "78 configuration invalid. See zaaklink(8).\n",
		DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
	const char *config = DEFAULT_CONFIG;
	const struct command *cmd = NULL;
	int level_override = -1;
	struct zl_err err = { 0 };
	struct zl_conf *conf;
	int i, rc;

	/* Under systemd, log lines carry their priority and journald the time. */
	zl_log_set_journal(zl_log_is_journal_stream(getenv("JOURNAL_STREAM"), STDERR_FILENO));
	/* At the file size limit (RLIMIT_FSIZE) a write must fail with EFBIG,
	 * which SQLite turns into an error naming the state file; the default
	 * action of SIGXFSZ would kill the process with no word said. */
	signal(SIGXFSZ, SIG_IGN);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return ZL_EX_OK;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("zaaklink %s\n", PACKAGE_VERSION);
			return ZL_EX_OK;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			level_override = ZL_LOG_DEBUG;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			level_override = ZL_LOG_WARNING;
		} else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (++i == argc) {
				fprintf(stderr, "zaaklink: %s needs a file name\n", a);
				return ZL_EX_USAGE;
			}
			config = argv[i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			config = a + 9;
		} else if (a[0] == '-') {
			fprintf(stderr, "zaaklink: unknown option '%s' (see zaaklink --help)\n", a);
			return ZL_EX_USAGE;
		} else {
			break;
		}
	}
	if (i == argc) {
		usage(stderr);
		return ZL_EX_USAGE;
	}
	for (size_t k = 0; k < ZL_ARRAY_LEN(commands); k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			cmd = &commands[k];
	if (!cmd) {
		fprintf(stderr, "zaaklink: unknown command '%s' (see zaaklink --help)\n", argv[i]);
		return ZL_EX_USAGE;
	}
	/* --help after the command works too. */
	for (int k = i + 1; k < argc; k++) {
		if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
			usage(stdout);
			return ZL_EX_OK;
		}
	}
	conf = conf_load_for(config, cmd->state, &err);
	if (!conf) {
		fprintf(stderr, "%s\n", err.msg);
		return ZL_EX_CONFIG;
	}
	if (level_override >= 0)
		zl_log_pin_level((enum zl_log_level)level_override);
	else
		zl_log_set_level((enum zl_log_level)conf->log.level);
	rc = cmd->fn(conf, argc - i, argv + i);
	conf_free(conf);
	return rc;
}
