/*
 * What the two daemons, run and deliver, share: their signals and the
 * SIGHUP reload.
 */
#ifndef ZL_DAEMON_H
#define ZL_DAEMON_H

#include "conf.h"
#include "notify.h"

#include <signal.h>

/* Set by the handlers, read by the loops: the one thing a handler touches. */
extern volatile sig_atomic_t daemon_stop_signal;  /* SIGTERM or SIGINT came: its number */
extern volatile sig_atomic_t daemon_reload_asked; /* SIGHUP came; the loop clears it */

/*
 * SIGTERM and SIGINT set daemon_stop_signal, SIGHUP daemon_reload_asked,
 * SIGPIPE is ignored. No SA_RESTART: a wait in a system call ends early,
 * so the loops see a signal within their longest wait.
 */
void daemon_install_signals(void);

/*
 * A SIGHUP reload: conf_reload() with the command's own check (NULL: none),
 * the log level taken (unless -v or -q pinned it), and what happened said in
 * the log (config.reloaded, or config.reload_refused with the reason) and to
 * systemd. Returns conf_reload()'s result: 0 applied (changes->applied),
 * 1 or -1 refused with the running configuration as it was.
 */
int daemon_reload(struct zl_conf *conf, zl_conf_check_fn check, struct zl_notify *n,
                  struct zl_conf_changes *changes);

#endif
