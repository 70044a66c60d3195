/*
 * Logging: one line per message on stderr.
 *
 *     2026-11-29T10:00:00Z level=info msg=pass.done ranges=977 fetched=2
 *
 * The message is a stable event name (dotted, lower case) that alerts can
 * match; key=value pairs follow. Values that may hold spaces are quoted by
 * the caller ("error=\"%s\""), and messages built with zl_err_set() are safe
 * to quote. Passwords never reach the log: callers pass masked URLs.
 *
 * The level and the destination are process-wide: they are set once at
 * start-up by the command line and the configuration and only read after.
 */
#ifndef ZL_LOG_H
#define ZL_LOG_H

#include <stddef.h>

enum zl_log_level { ZL_LOG_DEBUG, ZL_LOG_INFO, ZL_LOG_WARNING, ZL_LOG_ERROR };

void zl_log_set_level(enum zl_log_level level);
enum zl_log_level zl_log_get_level(void);
/* Parses "debug", "info", "warning", "error"; returns -1 when unknown. */
int zl_log_parse_level(const char *name, enum zl_log_level *level);

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
