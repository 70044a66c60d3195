/* Notify: READY, RELOADING, STOPPING, WATCHDOG and STATUS for systemd, or nothing. */
#include "config.h"

#include "notify.h"
#include "common.h"

#include <stdarg.h>
#include <stdio.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* Longest STATUS= line we send; systemd shows one line anyway. */
#define STATUS_MAX 256
/* WATCHDOG=1 is sent at most every WatchdogSec= / PING_SHARE, well within
 * the half systemd advises. */
#define PING_SHARE 4

#ifdef HAVE_LIBSYSTEMD

void notify_init(struct zl_notify *n)
{
	uint64_t usec = 0;

	n->last_ping_ms = 0;
	/* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID (if any) is us. */
	n->watchdog_ms = sd_watchdog_enabled(0, &usec) > 0 ? (int64_t)(usec / 1000) : 0;
}

void notify_ready(struct zl_notify *n, const char *status)
{
	(void)n;
	sd_notifyf(0, "READY=1\nSTATUS=%.*s", STATUS_MAX, status);
}

void notify_reloading(struct zl_notify *n)
{
	(void)n;
	/* MONOTONIC_USEC lets systemd >= 253 tell this reload from an older one. */
	sd_notifyf(0, "RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=%lld",
	           (long long)zl_now_ms() * 1000);
}

void notify_stopping(struct zl_notify *n, const char *status)
{
	(void)n;
	sd_notifyf(0, "STOPPING=1\nSTATUS=%.*s", STATUS_MAX, status);
}

void notify_status(struct zl_notify *n, const char *fmt, ...)
{
	char line[STATUS_MAX];
	va_list ap;

	(void)n;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", line);
}

void notify_watchdog(struct zl_notify *n)
{
	int64_t now;

	if (n->watchdog_ms <= 0)
		return;
	now = zl_now_ms();
	if (n->last_ping_ms != 0 && now - n->last_ping_ms < n->watchdog_ms / PING_SHARE)
		return;
	n->last_ping_ms = now;
	sd_notify(0, "WATCHDOG=1");
}

#else /* !HAVE_LIBSYSTEMD: no service manager to tell. */

void notify_init(struct zl_notify *n)
{
	n->watchdog_ms = 0;
	n->last_ping_ms = 0;
}

void notify_ready(struct zl_notify *n, const char *status)
{
	(void)n;
	(void)status;
}

void notify_reloading(struct zl_notify *n)
{
	(void)n;
}

void notify_stopping(struct zl_notify *n, const char *status)
{
	(void)n;
	(void)status;
}

void notify_status(struct zl_notify *n, const char *fmt, ...)
{
	(void)n;
	(void)fmt;
}

void notify_watchdog(struct zl_notify *n)
{
	(void)n;
}

#endif
