/*
 * Logging: one line per message on stderr.
 *
 *     2026-11-29T10:00:00Z level=info msg=pass.done ranges=977 ranges_read=2
 *         rows_read=41 links=51200 events=3 invalid=0 duration_ms=84
 *         bytes_received=9312 initial=false
 *
 * (one line, folded here). The message is a stable event name (dotted,
 * lower case) that alerts can match; key=value pairs follow. When stderr is
 * journald's stream (systemd sets JOURNAL_STREAM to its device and inode),
 * a line starts with its syslog priority instead of a timestamp, which
 * journald adds itself:
 *
 *     <4>level=warning msg=link.invalid_zaak_id
 *         onderwerpobject=0b6f3c2e-8d1a-4c55-9e07-2f4a6b8c1d90
 *         object_id="ZAAK-2026-17" action=skipped
 *
 * Values that may hold spaces are quoted by the caller ("error=\"%s\"");
 * messages built with zl_err_set() are safe to quote as they are, and a
 * value taken from outside (a row, a broker's reply) goes through
 * zl_log_quote() first. Passwords never reach the log: callers pass masked
 * URLs.
 *
 * The level and the format are process-wide: they are set at start-up by
 * the command line, the configuration and the environment, and only by the
 * main thread (a reload may change the level); other threads do not log.
 */
#ifndef ZL_LOG_H
#define ZL_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum zl_log_level { ZL_LOG_DEBUG, ZL_LOG_INFO, ZL_LOG_WARNING, ZL_LOG_ERROR };

void zl_log_set_level(enum zl_log_level level);
/* The level the command line chose (-v, -q): a reload must keep it, and
 * zl_log_level_pinned() says so. */
void zl_log_pin_level(enum zl_log_level level);
bool zl_log_level_pinned(void);
enum zl_log_level zl_log_get_level(void);
/* Parses "debug", "info", "warning", "error"; returns -1 when unknown. */
int zl_log_parse_level(const char *name, enum zl_log_level *level);

/*
 * True when fd is the stream journald gave us: journal_stream (the value of
 * JOURNAL_STREAM, "DEVICE:INODE") names fd's device and inode. A process
 * whose stderr was redirected elsewhere inherits the variable but not the
 * stream, hence the comparison (see systemd.exec(5)).
 */
bool zl_log_is_journal_stream(const char *journal_stream, int fd);
/* Journal format (priority prefix, no timestamp) on or off. */
void zl_log_set_journal(bool on);

void zl_log(enum zl_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes s into buf as the inside of a quoted value: backslash, double quote
 * and control characters escaped, cut to fit; returns buf. */
char *zl_log_quote(const char *s, char *buf, size_t size);

#define zl_debug(ev, ...) zl_log(ZL_LOG_DEBUG, ev, __VA_ARGS__)
#define zl_info(ev, ...) zl_log(ZL_LOG_INFO, ev, __VA_ARGS__)
#define zl_warn(ev, ...) zl_log(ZL_LOG_WARNING, ev, __VA_ARGS__)
#define zl_error(ev, ...) zl_log(ZL_LOG_ERROR, ev, __VA_ARGS__)

#endif
