/*
 * Fuzz target: AMQP URL and libpq conninfo parsing and masking, and the
 * quoting of values in log lines and error messages.
 *
 * The input is one string, handed to every function that takes text an
 * operator wrote (or a server sent) and turns it into something zaaklink
 * logs. What must hold:
 *  - conf_mask_url(): when rabbitmq-c finds a password in the URL, the
 *    masked URL is the original with one stretch replaced by "***", and
 *    that stretch covers the whole password;
 *  - conf_mask_conninfo(): the result parses again as a conninfo with
 *    exactly the original host, port, dbname and user, and nothing else
 *    (so never the password); an unparsable conninfo gives a fixed text;
 *  - zl_log_quote(): the result fits the buffer, has no control
 *    character or bare double quote, and unquotes to a prefix of the input;
 *  - zl_err_set() and zl_err_prefix(): one line without double quotes.
 */
#include "common.h"
#include "conf.h"
#include "fuzz.h"
#include "log.h"
#include "amqp_compat.h"

#include <libpq-fe.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	zl_log_set_level(ZL_LOG_ERROR);
	return 0;
}

/*
 * True when masked is url with the bytes [from, to) of url (and maybe
 * more around them) replaced by "***".
 */
static bool masks_span(const char *url, const char *masked, size_t from, size_t to)
{
	size_t ulen = strlen(url), mlen = strlen(masked);

	if (mlen < 3)
		return false;
	for (size_t h = 0; h + 3 <= mlen; h++) {
		size_t tail = mlen - h - 3;

		if (h > from || tail > ulen - to)
			continue;
		if (memcmp(masked, url, h) == 0 && memcmp(masked + h, "***", 3) == 0 &&
		    memcmp(masked + h + 3, url + ulen - tail, tail) == 0)
			return true;
	}
	return false;
}

static void check_mask_url(const char *url)
{
	struct amqp_connection_info info;
	char *copy = strdup(url);
	char *masked = conf_mask_url(url);
	size_t len = strlen(url);

	FUZZ_CHECK(copy && masked, "out of memory");
	amqp_default_connection_info(&info);
	/* rabbitmq-c decodes in place: the password starts where it stood in url. */
	if (amqp_parse_url(copy, &info) == AMQP_STATUS_OK && info.password >= copy &&
	    info.password < copy + len && *info.password) {
		size_t from = (size_t)(info.password - copy);
		const char *at = strchr(url + from, '@');

		FUZZ_CHECK(at, "password of '%s' not ended by '@'", url);
		FUZZ_CHECK(masks_span(url, masked, from, (size_t)(at - url)),
		           "password '%s' of '%s' shows in '%s'", info.password, url, masked);
	}
	free(copy);
	free(masked);
}

/* The value of keyword in opts, NULL when absent or empty. */
static const char *option(const PQconninfoOption *opts, const char *keyword)
{
	for (const PQconninfoOption *o = opts; o->keyword; o++) {
		if (strcmp(o->keyword, keyword) == 0)
			return o->val && *o->val ? o->val : NULL;
	}
	return NULL;
}

static void check_mask_conninfo(const char *conninfo)
{
	static const char *const shown[] = {"host", "port", "dbname", "user"};
	char *errmsg = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
	PQconninfoOption *back;
	char *masked = conf_mask_conninfo(conninfo);

	FUZZ_CHECK(masked, "out of memory");
	PQfreemem(errmsg);
	errmsg = NULL;
	if (!opts) {
		FUZZ_CHECK(strcmp(masked, "(unparsable conninfo)") == 0, "'%s' for a bad conninfo",
		           masked);
		free(masked);
		return;
	}
	back = PQconninfoParse(masked, &errmsg);
	FUZZ_CHECK(back, "masked conninfo '%s' does not parse: %s", masked, errmsg ? errmsg : "?");
	for (const PQconninfoOption *o = back; o->keyword; o++) {
		bool is_shown = false;

		for (size_t i = 0; i < ZL_ARRAY_LEN(shown); i++)
			is_shown |= strcmp(o->keyword, shown[i]) == 0;
		FUZZ_CHECK(is_shown || !o->val || !*o->val, "masked conninfo '%s' has %s", masked,
		           o->keyword);
	}
	for (size_t i = 0; i < ZL_ARRAY_LEN(shown); i++) {
		const char *want = option(opts, shown[i]), *got = option(back, shown[i]);

		FUZZ_CHECK((!want && !got) || (want && got && strcmp(want, got) == 0),
		           "%s '%s' came back as '%s' from '%s'", shown[i], want ? want : "",
		           got ? got : "", masked);
	}
	PQconninfoFree(back);
	PQconninfoFree(opts);
	free(masked);
}

static void check_log_quote(const char *s, size_t size)
{
	char *buf = malloc(size);
	size_t o = 0, i = 0;

	FUZZ_CHECK(buf, "out of memory");
	FUZZ_CHECK(zl_log_quote(s, buf, size) == buf, "wrong return");
	FUZZ_CHECK(strlen(buf) < size, "overflow");
	/* Unquote and compare with the input as we go. */
	while (buf[o]) {
		unsigned char c = (unsigned char)buf[o];
		unsigned char want;

		FUZZ_CHECK(c >= 0x20 && c != 0x7f && c != '"', "byte 0x%02x unquoted", c);
		if (c == '\\') {
			unsigned int v;

			if (buf[o + 1] == '\\' || buf[o + 1] == '"') {
				want = (unsigned char)buf[o + 1];
				o += 2;
			} else {
				FUZZ_CHECK(buf[o + 1] == 'x' &&
				               sscanf(buf + o + 2, "%2x", &v) == 1 && buf[o + 2] &&
				               buf[o + 3],
				           "bad escape in '%s'", buf);
				want = (unsigned char)v;
				FUZZ_CHECK(want < 0x20 || want == 0x7f, "needless escape \\x%02x",
				           want);
				o += 4;
			}
		} else {
			want = c;
			o++;
		}
		FUZZ_CHECK((unsigned char)s[i] == want, "quoted text differs at byte %zu", i);
		i++;
	}
	/* Cut only because the buffer was full. */
	FUZZ_CHECK(s[i] == '\0' || o + 5 >= size, "cut at %zu of %zu with room left", o, size);
	free(buf);
}

static void check_err(const char *s, const char *prefix)
{
	struct zl_err err;
	size_t n;

	zl_err_set(&err, ZL_EX_CONFIG, "%s", s);
	FUZZ_CHECK(strpbrk(err.msg, "\n\r\t\"") == NULL, "not one safe line: '%s'", err.msg);
	n = strlen(err.msg);
	FUZZ_CHECK(n == 0 || err.msg[n - 1] != ' ', "trailing blank");
	zl_err_prefix(&err, "%s", prefix);
	n = strlen(err.msg);
	FUZZ_CHECK(n < sizeof(err.msg), "overflow");
	FUZZ_CHECK(strpbrk(err.msg, "\n\r\t\"") == NULL, "not one safe line: '%s'", err.msg);
	FUZZ_CHECK(err.code == ZL_EX_CONFIG, "code changed to %d", err.code);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *fields[2];
	size_t quote_size;

	if (size < 1)
		return 0;
	/* First byte: the size of the quoting buffer. */
	quote_size = (size_t)data[0] + 1;
	fuzz_split(data + 1, size - 1, fields, 2);
	if (!fields[0])
		return 0;
	check_mask_url(fields[0]);
	check_mask_conninfo(fields[0]);
	check_log_quote(fields[0], quote_size);
	check_log_quote(fields[0], 4096);
	check_err(fields[0], fields[1] ? fields[1] : "context");
	fuzz_free_fields(fields, 2);
	return 0;
}
