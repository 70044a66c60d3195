/* Logging: single lines on stderr, level=... msg=event key=value. */
#include "log.h"
#include "common.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Set at start-up, read afterwards: the only process-wide settings. */
static enum zl_log_level current_level = ZL_LOG_INFO;
static bool level_pinned; /* set by -v or -q on the command line */
static bool journal_format;

static const char *const level_names[] = {"debug", "info", "warning", "error"};
/* syslog(3) priorities: LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR. */
static const int level_priorities[] = {7, 6, 4, 3};

void zl_log_set_level(enum zl_log_level level)
{
	current_level = level;
}

void zl_log_pin_level(enum zl_log_level level)
{
	current_level = level;
	level_pinned = true;
}

bool zl_log_level_pinned(void)
{
	return level_pinned;
}

enum zl_log_level zl_log_get_level(void)
{
	return current_level;
}

int zl_log_parse_level(const char *name, enum zl_log_level *level)
{
	for (size_t i = 0; i < ZL_ARRAY_LEN(level_names); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum zl_log_level)i;
			return 0;
		}
	}
	return -1;
}

bool zl_log_is_journal_stream(const char *journal_stream, int fd)
{
	uintmax_t dev, ino;
	struct stat st;
	char end;

	if (!journal_stream ||
	    sscanf(journal_stream, "%" SCNuMAX ":%" SCNuMAX "%c", &dev, &ino, &end) != 2)
		return false;
	if (fstat(fd, &st) != 0)
		return false;
	return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

void zl_log_set_journal(bool on)
{
	journal_format = on;
}

void zl_log(enum zl_log_level level, const char *event, const char *fmt, ...)
{
	char line[4096];
	char ts[21];
	int n;
	va_list ap;

	if (level < current_level)
		return;
	if (journal_format) {
		n = snprintf(line, sizeof(line), "<%d>level=%s msg=%s", level_priorities[level],
		             level_names[level], event);
	} else {
		zl_format_utc(zl_wall_s(), ts);
		n = snprintf(line, sizeof(line), "%s level=%s msg=%s", ts, level_names[level],
		             event);
	}
	if (fmt && *fmt && n > 0 && (size_t)n < sizeof(line) - 2) {
		line[n++] = ' ';
		va_start(ap, fmt);
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	/* One write per line, so lines from a crash-restart never interleave. */
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
}

char *zl_log_quote(const char *s, char *buf, size_t size)
{
	size_t o = 0;

	for (; s && *s && o + 5 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
	return buf;
}
