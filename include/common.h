/*
 * Shared error convention and exit codes.
 *
 * Every function that can fail returns -1 on failure (NULL when it returns
 * a pointer; 0 or a count otherwise), and fills a caller-supplied struct
 * zl_err with one line that says what failed, on what, and why ("could not
 * open state file /x: Permission denied"). The call that fails fills it:
 * callers add context with zl_err_prefix(), never guess the cause
 * afterwards. Running out of memory says what was being done ("out of
 * memory while building the retry headers").
 * The message never contains a newline or a double quote, so it can be
 * logged as a quoted key=value pair as it is; zl_err_set() enforces that.
 * The code is the sysexits.h status a command exits with when this error
 * ends it.
 */
#ifndef ZL_COMMON_H
#define ZL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* sysexits.h values, spelled out so no header decides them for us. */
enum zl_exit {
	ZL_EX_OK = 0,
	ZL_EX_USAGE = 64,
	ZL_EX_DATAERR = 65,
	ZL_EX_NOINPUT = 66,     /* an input file cannot be opened */
	ZL_EX_UNAVAILABLE = 69, /* PostgreSQL or RabbitMQ cannot be reached */
	ZL_EX_SOFTWARE = 70,
	ZL_EX_OSERR = 71,     /* no socket or thread to be had */
	ZL_EX_CANTCREAT = 73, /* state file cannot be opened or written */
	ZL_EX_IOERR = 74,
	ZL_EX_TEMPFAIL = 75,
	ZL_EX_CONFIG = 78,
};

struct zl_err {
	int code; /* enum zl_exit */
	char msg[1024];
};

/* Formats the message, folds newlines and tabs to spaces, turns double
 * quotes into single quotes, trims trailing blanks; returns -1. */
int zl_err_set(struct zl_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes an existing message: "context: previous message"; returns -1. */
int zl_err_prefix(struct zl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Monotonic and wall clock helpers. */
int64_t zl_now_ms(void);  /* CLOCK_MONOTONIC, milliseconds */
int64_t zl_wall_s(void);  /* time(NULL) */
int64_t zl_wall_ms(void); /* CLOCK_REALTIME, milliseconds */

/* "YYYY-MM-DDTHH:MM:SSZ" for a UNIX time; buf must hold 21 bytes. Times
 * before 1970 or after 9999 are written as the first or last second of
 * that range. */
void zl_format_utc(int64_t t, char buf[21]);

#define ZL_STR_(x) #x
#define ZL_STR(x) ZL_STR_(x)
#define ZL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A growing text, appended to with printf formats. A failed allocation
 * sticks (failed), keeps what was there, and is for the caller to report;
 * buf is the caller's to free. */
struct zl_text {
	char *buf;
	size_t len, cap;
	bool failed;
};

void zl_text_add(struct zl_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
