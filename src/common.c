/* The error convention and clock helpers every module shares. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Keeps a message on one line and safe inside a quoted log value. */
static void sanitize(char *s)
{
	size_t n = 0;

	for (char *p = s; *p; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
		else if (*p == '"')
			*p = '\'';
	}
	n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
}

int zl_err_set(struct zl_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	sanitize(err->msg);
	return -1;
}

int zl_err_prefix(struct zl_err *err, const char *fmt, ...)
{
	char prefix[512];
	size_t plen, room;
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	plen = strlen(prefix);
	room = sizeof(err->msg) - 1 - plen - 2;
	/* Shift the old message right, cutting its tail if it no longer fits. */
	err->msg[room] = '\0';
	memmove(err->msg + plen + 2, err->msg, strlen(err->msg) + 1);
	memcpy(err->msg, prefix, plen);
	memcpy(err->msg + plen, ": ", 2);
	sanitize(err->msg);
	return -1;
}

int64_t zl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t zl_wall_s(void)
{
	return (int64_t)time(NULL);
}

int64_t zl_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years %Y writes in four digits. */
#define UTC_FIRST INT64_C(0)
#define UTC_LAST INT64_C(253402300799)

/*
 * A time outside 1970..9999 (a corrupt state file, a clock far off) is
 * written as the nearest end of that range: strftime() would need more
 * than 21 bytes for it and then leave buf without its terminating NUL.
 */
void zl_format_utc(int64_t t, char buf[21])
{
	time_t tt = (time_t)(t < UTC_FIRST ? UTC_FIRST : t > UTC_LAST ? UTC_LAST : t);
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		memcpy(buf, "1970-01-01T00:00:00Z", 21);
}

void zl_text_add(struct zl_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt,
		              ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if (t->buf && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		{
			size_t cap = t->cap ? t->cap * 2 : 4096;
			char *grown;

			while (cap <= t->len + (size_t)n)
				cap *= 2;
			if (!(grown = realloc(t->buf, cap))) {
				t->failed = true;
				return;
			}
			t->buf = grown;
			t->cap = cap;
		}
	}
}
