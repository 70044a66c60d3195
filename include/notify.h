/*
 * Notify: tells the service manager how the daemon is doing (sd_notify(3)).
 *
 * The daemon says READY=1 once its configuration is loaded and its first
 * pass has started, RELOADING=1 and READY=1 around a reload, STOPPING=1
 * when it stops, WATCHDOG=1 from its main loop, and a STATUS= line that
 * `systemctl status` shows. Built without libsystemd, every function is a
 * no-op; built with it, they are no-ops unless systemd started the process
 * (NOTIFY_SOCKET set). Callers therefore never check whether anyone
 * listens, and a failed notification is never an error: the daemon works
 * the same without a service manager.
 *
 * The context is owned by the daemon loop; nothing here is global.
 */
#ifndef ZL_NOTIFY_H
#define ZL_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

struct zl_notify {
	int64_t watchdog_ms;  /* WatchdogSec= of the unit; 0 = no watchdog */
	int64_t last_ping_ms; /* monotonic time of the last WATCHDOG=1 */
};

/* Reads the watchdog interval systemd granted this process, if any. */
void notify_init(struct zl_notify *n);

/* READY=1 with a STATUS= line; also ends a reload. */
void notify_ready(struct zl_notify *n, const char *status);
/* RELOADING=1: a reload started; notify_ready() ends it. */
void notify_reloading(struct zl_notify *n);
void notify_stopping(struct zl_notify *n, const char *status);
/* STATUS= only, printf style. */
void notify_status(struct zl_notify *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * WATCHDOG=1, at most every quarter of WatchdogSec= however often it is
 * called: the loop calls it after every step and a pass before every
 * range, so a step that hangs longer than WatchdogSec= gets the daemon
 * restarted, and a long pass that makes progress does not.
 */
void notify_watchdog(struct zl_notify *n);

#endif
