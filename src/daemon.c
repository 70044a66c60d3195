/*
 * The signals and the SIGHUP reload of run and deliver (daemon.h).
 */
#include "daemon.h"

#include "log.h"

#include <string.h>

volatile sig_atomic_t daemon_stop_signal;
volatile sig_atomic_t daemon_reload_asked;

static void on_stop(int sig)
{
	daemon_stop_signal = sig;
}

static void on_reload(int sig)
{
	(void)sig;
	daemon_reload_asked = 1;
}

void daemon_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_reload;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int daemon_reload(struct zl_conf *conf, zl_conf_check_fn check, struct zl_notify *n,
                  struct zl_conf_changes *changes)
{
	struct zl_err err = {0};
	bool pinned = zl_log_level_pinned();
	int rc;

	notify_reloading(n);
	rc = conf_reload(conf, check, changes, &err);
	if (rc < 0) {
		/* An error, not a warning: the next restart would fail on it. */
		zl_error("config.reload_refused", "file=%s error=\"%s\"", conf->file, err.msg);
		notify_ready(n, "reload refused: the new file is invalid; running on");
		return rc;
	}
	if (rc > 0) {
		zl_warn("config.reload_refused",
		        "file=%s settings=%s reason=\"these need a restart; nothing was changed\"",
		        conf->file, changes->restart);
		notify_ready(n, "reload refused: a changed setting needs a restart");
		return rc;
	}
	if (!pinned)
		zl_log_set_level((enum zl_log_level)conf->log.level);
	zl_info("config.reloaded", "file=%s changed=%s%s", conf->file,
	        changes->applied[0] ? changes->applied : "none",
	        pinned ? " log_level=command-line" : "");
	notify_ready(n, "configuration reloaded");
	return 0;
}
