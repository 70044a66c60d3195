/*
 * Passwords out of sight: conf_mask_url() and conf_mask_conninfo() give the
 * forms of an AMQP URL and a libpq conninfo that logs and status may show,
 * and the *_has_password() tests tell the loader which values hold a
 * password (a file its group or others can read is warned about).
 *
 * The hard part is erring on the side of hiding: the URL's password is
 * found by the last '@', so one with an unencoded '@' or '/' is hidden
 * whole, and a conninfo is not edited but rebuilt from libpq's own parse,
 * keeping only host, port, dbname and user.
 */
#include "conf.h"
#include "amqp_compat.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool conf_url_has_password(const char *url)
{
	struct amqp_connection_info info;
	char *copy = strdup(url);
	bool has = false;

	if (!copy)
		return true; /* out of memory: err on the side of the warning */
	amqp_default_connection_info(&info);
	/* A password the URL gives points into it; the library's default does not. */
	if (amqp_parse_url(copy, &info) == AMQP_STATUS_OK)
		has = info.password >= copy && info.password < copy + strlen(url) + 1;
	free(copy);
	return has;
}

/* True when the libpq conninfo (key=value or URI) sets a password. */
bool conf_conninfo_has_password(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	bool has = false;

	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
			has = true;
	}
	PQconninfoFree(opts);
	return has;
}

/*
 * The password is everything between the first ':' after the scheme and the
 * last '@'. Taking the last '@' errs on the side of hiding too much: a
 * password with an unencoded '@' or '/' must never leak half of itself.
 */
char *conf_mask_url(const char *url)
{
	const char *start = strstr(url, "://");
	const char *at, *colon;
	size_t head, tail;
	char *out;

	/* The last '@' ends the password, so that an unencoded '@' in it
	 * leaks nothing; but an '@' inside an IPv6 host ("@[...]") is the
	 * host's, as rabbitmq-c reads it, and stays visible. */
	start = start ? start + 3 : url;
	at = strstr(start, "@[");
	if (!at)
		at = strrchr(start, '@');
	colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
	if (!colon)
		return strdup(url);
	head = (size_t)(colon + 1 - url);
	tail = strlen(at);
	out = malloc(head + 3 + tail + 1);
	if (!out)
		return NULL;
	memcpy(out, url, head);
	memcpy(out + head, "***", 3);
	memcpy(out + head + 3, at, tail + 1);
	return out;
}

/*
 * True when a conninfo value has to be quoted to be read back by libpq:
 * an unquoted value ends at any isspace() byte, vertical tab and form feed
 * included.
 */
static bool needs_quotes(const char *v)
{
	if (*v == '\0')
		return true;
	for (; *v; v++) {
		if (isspace((unsigned char)*v) || *v == '\'' || *v == '\\')
			return true;
	}
	return false;
}

/* Appends " key=value" (value quoted the libpq way when needed) to buf. */
static void append_option(char *buf, size_t *len, const char *key, const char *value)
{
	bool quote = needs_quotes(value);

	*len += (size_t)sprintf(buf + *len, "%s%s=%s", *len ? " " : "", key, quote ? "'" : "");
	for (const char *p = value; *p; p++) {
		if (*p == '\'' || *p == '\\')
			buf[(*len)++] = '\\';
		buf[(*len)++] = *p;
	}
	*len += (size_t)sprintf(buf + *len, "%s", quote ? "'" : "");
}

char *conf_mask_conninfo(const char *conninfo)
{
	static const char *const shown[] = {"host", "port", "dbname", "user"};
	PQconninfoOption *opts;
	char *errmsg = NULL;
	size_t size = 1, len = 0;
	char *out;

	opts = PQconninfoParse(conninfo, &errmsg);
	if (errmsg)
		PQfreemem(errmsg);
	if (!opts)
		return strdup("(unparsable conninfo)");
	/* Worst case: every character escaped, plus key, '=', quotes and a blank. */
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (o->val)
			size += strlen(o->keyword) + 2 * strlen(o->val) + 4;
	}
	out = malloc(size);
	if (!out) {
		PQconninfoFree(opts);
		return NULL;
	}
	out[0] = '\0';
	for (size_t i = 0; i < ZL_ARRAY_LEN(shown); i++) {
		for (PQconninfoOption *o = opts; o->keyword; o++) {
			if (strcmp(o->keyword, shown[i]) == 0 && o->val && *o->val)
				append_option(out, &len, o->keyword, o->val);
		}
	}
	out[len] = '\0';
	PQconninfoFree(opts);
	return out;
}
