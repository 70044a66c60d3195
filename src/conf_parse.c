/*
 * Parsing zaaklink.conf with libconfig, guarded: the file must be readable
 * (so the error names the real cause), every file an @include names must
 * be a regular file before libconfig sees it, and a syntax error is
 * reported as "FILE:LINE: text" with the setting the line starts with.
 * What the settings mean is the loader's business (conf.c).
 */
#include "conf_settings.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Checks that file can be opened for reading, so the error names the real cause. */
static int check_readable(const char *file, struct zl_err *err)
{
	struct stat st;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return zl_err_set(err, ZL_EX_CONFIG, "could not read configuration file %s: %s",
		                  file, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return zl_err_set(err, ZL_EX_CONFIG, "could not read configuration file %s: %s",
		                  file, strerror(EISDIR));
	}
	close(fd);
	return 0;
}

/*
 * Fills buf with what libconfig's own message leaves out: the name the
 * failing line starts with (" at 'poll_interval'"), or the file an
 * @include names. Only the name is quoted, never the value, which may be
 * a password. Empty when the line starts with neither.
 */
static void parse_context(const char *file, int line, char *buf, size_t size)
{
	char text[512];
	const char *p;
	size_t len;
	FILE *f;
	int n = 0;

	buf[0] = '\0';
	if (!file || line <= 0 || !(f = fopen(file, "r")))
		return;
	while (n < line && fgets(text, sizeof(text), f)) {
		/* A line longer than the buffer is read in pieces: count it once. */
		if (strchr(text, '\n') || feof(f))
			n++;
	}
	fclose(f);
	if (n != line)
		return;
	p = text + strspn(text, " \t");
	if (strncmp(p, "@include", 8) == 0) {
		p += 8;
		p += strspn(p, " \t\"");
		len = strcspn(p, "\"\r\n");
		snprintf(buf, size, " (include file '%.*s')", (int)(len > 200 ? 200 : len), p);
		return;
	}
	len = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-*");
	if (len > 0 && !(p[0] >= '0' && p[0] <= '9'))
		snprintf(buf, size, " at '%.*s'", (int)(len > 100 ? 100 : len), p);
}

/*
 * libconfig 1.5 opens the file an @include names with fopen() and its
 * scanner ends the whole process when reading it fails: a directory makes
 * it print "input in flex scanner failed" and exit(2), and a device such as
 * /dev/zero is read for ever. So every file an @include names, at any
 * depth, must be a regular file before libconfig reads the main one; a
 * missing one is left to libconfig, which reports it. Relative names are
 * taken as libconfig takes them, from the working directory.
 *
 * The scanner takes a directive at the start of a line, and the name up to
 * the next double quote, across lines; fopen() then sees it up to the first
 * NUL byte. A name with a control character (a line break, a NUL byte) or
 * a backslash is no file name anyone means, and is refused rather than
 * guessed at.
 */
#define INCLUDE_MAX_FILE (1024 * 1024)

static bool plain_name(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\')
			return false;
	}
	return true;
}

static int check_includes(const char *file, int depth, struct zl_err *err)
{
	char *text;
	size_t n;
	int line = 1, rc = 0;
	struct stat fst = {0};
	FILE *f;

	/* libconfig refuses deeper nesting itself, with a message. */
	if (depth > 10 || !(f = fopen(file, "r")))
		return 0;
	if (fstat(fileno(f), &fst) == 0 && fst.st_size > INCLUDE_MAX_FILE) {
		fclose(f);
		return zl_err_set(err, ZL_EX_CONFIG,
		                  "%s: larger than %d bytes, not a configuration file", file,
		                  INCLUDE_MAX_FILE);
	}
	/* Its size as it is now; one byte more tells that it grew since. */
	n = fst.st_size > 0 ? (size_t)fst.st_size : 0;
	if (!(text = malloc(n + 2))) {
		fclose(f);
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while reading %s for its @include lines", file);
	}
	n = fread(text, 1, n + 1, f);
	fclose(f);
	for (size_t i = 0; i < n && rc == 0; line++) {
		size_t eol = i, q;
		struct stat st;
		char *name;

		while (eol < n && text[eol] != '\n')
			eol++;
		while (i < eol && (text[i] == ' ' || text[i] == '\t'))
			i++;
		if (eol - i >= 8 && memcmp(text + i, "@include", 8) == 0) {
			i += 8;
			while (i < eol && (text[i] == ' ' || text[i] == '\t'))
				i++;
			for (q = i + 1; i < eol && text[i] == '"' && q < n && text[q] != '"'; q++)
				;
			if (i < eol && text[i] == '"' && q < n) {
				i++;
				if (!plain_name(text + i, q - i)) {
					rc = zl_err_set(
					    err, ZL_EX_CONFIG,
					    "%s:%d: @include: the file name has a control"
					    " character or a backslash",
					    file, line);
				} else if (!(name = strndup(text + i, q - i))) {
					rc = zl_err_set(
					    err, ZL_EX_SOFTWARE,
					    "out of memory while copying an @include name of %s",
					    file);
				} else {
					if (stat(name, &st) == 0 && !S_ISREG(st.st_mode))
						rc = zl_err_set(
						    err, ZL_EX_CONFIG,
						    "%s:%d: @include '%.200s': not a regular file",
						    file, line, name);
					else if (stat(name, &st) == 0)
						rc = check_includes(name, depth + 1, err);
					free(name);
				}
			}
		}
		i = eol + 1;
	}
	free(text);
	return rc;
}

/* Parses the file into ld->cfg; a syntax error is reported as "FILE:LINE: text". */
int zl_conf_parse_file(struct zl_conf_loader *ld)
{
	const char *efile;
	char context[256];

	if (check_readable(ld->file, ld->err) < 0 || check_includes(ld->file, 0, ld->err) < 0)
		return -1;
	errno = 0;
	if (config_read_file(&ld->cfg, ld->file) == CONFIG_TRUE)
		return 0;
	if (config_error_type(&ld->cfg) == CONFIG_ERR_FILE_IO)
		return zl_err_set(ld->err, ZL_EX_CONFIG, "could not read configuration file %s: %s",
		                  ld->file, errno ? strerror(errno) : "I/O error");
	efile = config_error_file(&ld->cfg) ? config_error_file(&ld->cfg) : ld->file;
	parse_context(efile, config_error_line(&ld->cfg), context, sizeof(context));
	return zl_err_set(
	    ld->err, ZL_EX_CONFIG, "%s:%d: %s%s", efile, config_error_line(&ld->cfg),
	    config_error_text(&ld->cfg) ? config_error_text(&ld->cfg) : "syntax error", context);
}
