/* Configuration: reads zaaklink.conf, applies defaults and overrides, validates every value. */
#include "conf.h"
#include "log.h"
#include "amqp_compat.h"
#include "topology.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <libpq-fe.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_STATE_PATH "/var/lib/zaaklink/state.db"
#define DEFAULT_AMQP_URL "amqp://guest:guest@127.0.0.1:5672/%2f"
#define DEFAULT_EXCHANGE "zaaklink.events"
#define EXCHANGE_MAX_LENGTH 200

#define ENV_AMQP_URL "ZAAKLINK_AMQP_URL"
#define ENV_CONNINFO "ZAAKLINK_SOURCE_CONNINFO"
#define ENV_CREDENTIALS "CREDENTIALS_DIRECTORY"
#define PASSWORD_MAX 4096

/*
 * The settings zaaklink knows, group by group. Anything else in the file is
 * an error: check_unknown() walks the parsed tree against this table before
 * any value is read, so a misspelt setting is reported as such rather than
 * as a missing one.
 */
static const char *const source_keys[] = {
    "conninfo",        "base_url",      "poll_interval", "range_size",
    "connect_timeout", "query_timeout", "schema",        NULL};
static const char *const state_keys[] = {"path", NULL};
static const char *const events_keys[] = {
    "source",          "label_max_length", "relink_on_label_change",
    "invalid_zaak_id", "initial_sync",     NULL};
static const char *const amqp_keys[] = {
    "url",         "exchange",      "heartbeat", "batch_size", "confirm_timeout", "connect_timeout",
    "max_backoff", "ca_file",       "cert_file", "key_file",   "verify_peer",     "verify_hostname",
    "queues",      "password_file", NULL};
static const char *const queue_keys[] = {"name", "bindings", "type", "delivery_limit", NULL};
static const char *const retry_keys[] = {"delays", NULL};
static const char *const log_keys[] = {"level", NULL};
static const char *const metrics_keys[] = {"listen", NULL};

static const struct {
	const char *name;
	const char *const *keys;
} known_groups[] = {
    {"source", source_keys}, {"state", state_keys}, {"events", events_keys},
    {"amqp", amqp_keys},     {"retry", retry_keys},   {"log", log_keys},
    {"metrics", metrics_keys},
};

/* Default retry.delays: 10 s, 1 min, 5 min, 30 min, 2 h. */
static const int default_delays[] = {10, 60, 300, 1800, 7200};

/* Allowed numeric values of one setting, bounds included: every setting has both. */
struct range {
	double min;
	double max;
};

/* What a load needs while it runs; lives on conf_load()'s stack. */
struct loader {
	const char *file;
	enum zl_state_use state_use;
	config_t cfg;
	struct zl_err *err;
	struct zl_conf *conf;
};

/* The file a setting was read from (an @include may differ from the main one). */
static const char *setting_file(const struct loader *ld, const config_setting_t *s)
{
	const char *f = s ? config_setting_source_file(s) : NULL;

	return f ? f : ld->file;
}

/* Writes "FILE:LINE" of setting s into buf; just "FILE" for a default (s NULL). */
static const char *position(const struct loader *ld, const config_setting_t *s, char *buf,
                            size_t size)
{
	if (s)
		snprintf(buf, size, "%s:%u", setting_file(ld, s), config_setting_source_line(s));
	else
		snprintf(buf, size, "%s", ld->file);
	return buf;
}

/* Fills err with "FILE:LINE: message" for setting s ("FILE: message" for a default). */
static int fail_at(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	char msg[900], pos[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return zl_err_set(ld->err, ZL_EX_CONFIG, "%s: %s", position(ld, s, pos, sizeof(pos)), msg);
}

/* Fills err for a failed allocation. */
static int fail_oom(struct loader *ld)
{
	return zl_err_set(ld->err, ZL_EX_SOFTWARE, "could not load configuration %s: out of memory",
	                  ld->file);
}

/* Writes "FILE:LINE: group.name" into buf: the prefix of a setting's errors. */
static const char *where(const struct loader *ld, const config_setting_t *s, const char *group,
                         const char *name, char *buf, size_t size)
{
	size_t n = strlen(position(ld, s, buf, size));

	snprintf(buf + n, size - n, ": %s.%s", group, name);
	return buf;
}

/* True when name is in the NULL-terminated list keys. */
static bool key_known(const char *const *keys, const char *name)
{
	for (; *keys; keys++) {
		if (strcmp(*keys, name) == 0)
			return true;
	}
	return false;
}

/* Rejects groups and settings zaaklink does not know, and groups that are not groups. */
static int check_unknown(struct loader *ld)
{
	const config_setting_t *root = config_root_setting(&ld->cfg);
	int n = config_setting_length(root);

	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(root, (unsigned int)i);
		const char *gname = config_setting_name(g);
		const char *const *keys = NULL;
		int m;

		for (size_t k = 0; k < ZL_ARRAY_LEN(known_groups); k++) {
			if (strcmp(known_groups[k].name, gname) == 0)
				keys = known_groups[k].keys;
		}
		if (!keys)
			return fail_at(ld, g, "unknown setting '%s'", gname);
		if (!config_setting_is_group(g))
			return fail_at(ld, g, "%s: expected a group ({ ... })", gname);
		m = config_setting_length(g);
		for (int j = 0; j < m; j++) {
			const config_setting_t *s = config_setting_get_elem(g, (unsigned int)j);

			if (!key_known(keys, config_setting_name(s)))
				return fail_at(ld, s, "unknown setting '%s.%s'", gname,
				               config_setting_name(s));
		}
	}
	return 0;
}

/* The setting group.name, or NULL when the file does not have it. */
static config_setting_t *lookup(const struct loader *ld, const char *group, const char *name)
{
	config_setting_t *g = config_setting_get_member(config_root_setting(&ld->cfg), group);

	return g ? config_setting_get_member(g, name) : NULL;
}

/* Reports a required setting that is absent, at its group's line when there is one. */
static int fail_missing(struct loader *ld, const char *group, const char *name)
{
	const config_setting_t *g = config_setting_get_member(config_root_setting(&ld->cfg), group);

	if (g)
		return fail_at(ld, g, "missing required setting '%s.%s'", group, name);
	return zl_err_set(ld->err, ZL_EX_CONFIG, "%s: missing required setting '%s.%s'", ld->file,
	                  group, name);
}

/* Replaces *out with a copy of group.name when the file sets it. */
static int read_string(struct loader *ld, const char *group, const char *name, char **out)
{
	const config_setting_t *s = lookup(ld, group, name);
	char *copy;

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail_at(ld, s, "%s.%s: expected a string", group, name);
	copy = strdup(config_setting_get_string(s));
	if (!copy)
		return fail_oom(ld);
	free(*out);
	*out = copy;
	return 0;
}

/* Fails unless the string group.name, when set, is non-empty. */
static int check_non_empty(struct loader *ld, const char *group, const char *name,
                           const char *value)
{
	if (value && *value == '\0')
		return fail_at(ld, lookup(ld, group, name), "%s.%s: must not be empty", group,
		               name);
	return 0;
}

/* Describes r as "expected A to B" for an out-of-range message. */
static void describe_range(const struct range *r, char *buf, size_t size)
{
	snprintf(buf, size, "expected %.15g to %.15g", r->min, r->max);
}

/* True when v lies within r; NaN never does. */
static bool in_range(const struct range *r, double v)
{
	return v >= r->min && v <= r->max;
}

/* Sets *out from the integer group.name when the file sets it, within r. */
static int read_int(struct loader *ld, const char *group, const char *name, const struct range *r,
                    int *out)
{
	const config_setting_t *s = lookup(ld, group, name);
	long long v;

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return fail_at(ld, s, "%s.%s: expected an integer", group, name);
	v = config_setting_get_int64(s);
	if (!in_range(r, (double)v) || v < INT_MIN || v > INT_MAX) {
		char expected[96];

		describe_range(r, expected, sizeof(expected));
		return fail_at(ld, s, "%s.%s: %lld is out of range, %s", group, name, v, expected);
	}
	*out = (int)v;
	return 0;
}

/* Sets *out from the number (integer or float) group.name when set, within r. */
static int read_double(struct loader *ld, const char *group, const char *name,
                       const struct range *r, double *out)
{
	const config_setting_t *s = lookup(ld, group, name);
	double v;

	if (!s)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		v = (double)config_setting_get_int64(s);
		break;
	case CONFIG_TYPE_FLOAT:
		v = config_setting_get_float(s);
		break;
	default:
		return fail_at(ld, s, "%s.%s: expected a number", group, name);
	}
	if (!isfinite(v) || !in_range(r, v)) {
		char expected[96];

		describe_range(r, expected, sizeof(expected));
		return fail_at(ld, s, "%s.%s: %.15g is out of range, %s", group, name, v, expected);
	}
	*out = v;
	return 0;
}

/* Sets *out from the boolean group.name when the file sets it. */
static int read_bool(struct loader *ld, const char *group, const char *name, bool *out)
{
	const config_setting_t *s = lookup(ld, group, name);

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail_at(ld, s, "%s.%s: expected true or false", group, name);
	*out = config_setting_get_bool(s) != 0;
	return 0;
}

/*
 * Sets *out to the index of the string group.name in choices (a list of two
 * words, as every choice setting has today) when the file sets it.
 */
static int read_choice(struct loader *ld, const char *group, const char *name,
                       const char *const choices[2], int *out)
{
	const config_setting_t *s = lookup(ld, group, name);
	const char *v;

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail_at(ld, s, "%s.%s: expected a string", group, name);
	v = config_setting_get_string(s);
	for (int i = 0; i < 2; i++) {
		if (strcmp(v, choices[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return fail_at(ld, s, "%s.%s: unknown value '%s', expected %s or %s", group, name, v,
	               choices[0], choices[1]);
}

/* Length of the URL scheme before "://" (RFC 3986 characters only); 0 when none. */
static size_t scheme_length(const char *url)
{
	size_t n = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                       "0123456789+-.");

	return n > 0 && strncmp(url + n, "://", 3) == 0 ? n : 0;
}

/*
 * Checks one AMQP URL; errors start with prefix ("FILE:LINE: amqp.url" or
 * the environment variable's name). The URL is only ever shown masked, and
 * not at all when it is too garbled to know where a password would be.
 */
static int check_amqp_url(struct zl_err *err, const char *prefix, const char *url)
{
	size_t scheme = scheme_length(url);
	struct amqp_connection_info info;
	char *masked, *copy;
	int rc;

	if (*url == '\0')
		return zl_err_set(err, ZL_EX_CONFIG, "%s: must not be empty", prefix);
	if (scheme == 0)
		return zl_err_set(err, ZL_EX_CONFIG, "%s: not a URL, expected amqp:// or amqps://",
		                  prefix);
	if (!(scheme == 4 && strncmp(url, "amqp", 4) == 0) &&
	    !(scheme == 5 && strncmp(url, "amqps", 5) == 0))
		return zl_err_set(err, ZL_EX_CONFIG,
		                  "%s: unsupported scheme '%.*s', expected amqp:// or amqps://",
		                  prefix, (int)(scheme > 32 ? 32 : scheme), url);
	masked = conf_mask_url(url);
	copy = strdup(url);
	if (!masked || !copy) {
		free(masked);
		free(copy);
		return zl_err_set(err, ZL_EX_SOFTWARE, "%s: out of memory", prefix);
	}
	amqp_default_connection_info(&info);
	rc = amqp_parse_url(copy, &info);
	free(copy);
	if (rc != AMQP_STATUS_OK) {
		zl_err_set(err, ZL_EX_CONFIG,
		           "%s: '%s' is not a valid AMQP URL, expected "
		           "amqp[s]://[user[:password]@]host[:port][/vhost]",
		           prefix, masked);
		free(masked);
		return -1;
	}
	free(masked);
	return 0;
}

/* Frees the configured AMQP URLs. */
static void clear_urls(struct zl_amqp_conf *amqp)
{
	for (int i = 0; i < amqp->n_urls; i++) {
		free(amqp->urls[i]);
		amqp->urls[i] = NULL;
	}
	amqp->n_urls = 0;
}

/* Replaces the URLs with the single url; the caller has validated it. */
static int set_single_url(struct loader *ld, const char *url)
{
	char *copy = strdup(url);

	if (!copy)
		return fail_oom(ld);
	clear_urls(&ld->conf->amqp);
	ld->conf->amqp.urls[0] = copy;
	ld->conf->amqp.n_urls = 1;
	return 0;
}

/* Reads amqp.url: one string, or a list or array of 1..ZL_MAX_AMQP_URLS strings. */
static int read_urls(struct loader *ld)
{
	struct zl_amqp_conf *amqp = &ld->conf->amqp;
	const config_setting_t *s = lookup(ld, "amqp", "url");
	int n;

	if (!s)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		char prefix[512];

		where(ld, s, "amqp", "url", prefix, sizeof(prefix));
		if (check_amqp_url(ld->err, prefix, config_setting_get_string(s)) < 0)
			return -1;
		return set_single_url(ld, config_setting_get_string(s));
	}
	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return fail_at(ld, s, "amqp.url: expected a string or a list of strings");
	n = config_setting_length(s);
	if (n == 0)
		return fail_at(ld, s, "amqp.url: the list is empty, expected 1 to %d URLs",
		               ZL_MAX_AMQP_URLS);
	if (n > ZL_MAX_AMQP_URLS)
		return fail_at(ld, s, "amqp.url: %d URLs, expected at most %d", n,
		               ZL_MAX_AMQP_URLS);
	clear_urls(amqp);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned int)i);
		char prefix[512];

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return fail_at(ld, e, "amqp.url: expected a string or a list of strings");
		where(ld, e, "amqp", "url", prefix, sizeof(prefix));
		if (check_amqp_url(ld->err, prefix, config_setting_get_string(e)) < 0)
			return -1;
		amqp->urls[i] = strdup(config_setting_get_string(e));
		if (!amqp->urls[i])
			return fail_oom(ld);
		amqp->n_urls = i + 1;
	}
	return 0;
}

/* Checks a libpq conninfo; libpq's own message is left out as it may quote a password. */
static int check_conninfo(struct zl_err *err, const char *prefix, const char *conninfo)
{
	PQconninfoOption *opts;
	char *errmsg = NULL;

	if (*conninfo == '\0')
		return zl_err_set(err, ZL_EX_CONFIG, "%s: must not be empty", prefix);
	opts = PQconninfoParse(conninfo, &errmsg);
	if (errmsg)
		PQfreemem(errmsg);
	if (!opts)
		return zl_err_set(err, ZL_EX_CONFIG,
		                  "%s: not a valid libpq connection string "
		                  "(key=value pairs or a postgresql:// URI)",
		                  prefix);
	PQconninfoFree(opts);
	return 0;
}

/* Checks base_url (http:// or https://, a host, no blanks) and strips its trailing '/'. */
static int check_base_url(struct loader *ld, const config_setting_t *s, char *base_url)
{
	const char *host;
	size_t n;

	if (strncasecmp(base_url, "http://", 7) != 0 && strncasecmp(base_url, "https://", 8) != 0)
		return fail_at(ld, s, "source.base_url: '%s' must start with http:// or https://",
		               base_url);
	if (strpbrk(base_url, " \t\r\n"))
		return fail_at(ld, s, "source.base_url: '%s' must not contain white space",
		               base_url);
	n = strlen(base_url);
	while (n > 0 && base_url[n - 1] == '/')
		base_url[--n] = '\0';
	host = strstr(base_url, "://");
	if (!host || host[3] == '\0')
		return fail_at(ld, s, "source.base_url: '%s' has no host", base_url);
	return 0;
}

/* PostgreSQL keeps the first NAMEDATALEN - 1 bytes of a name and drops the rest. */
#define SCHEMA_MAX_LENGTH 63

/* Checks source.schema: a name PostgreSQL would not cut short. */
static int check_schema(struct loader *ld, const char *schema)
{
	if (check_non_empty(ld, "source", "schema", schema) < 0)
		return -1;
	if (strlen(schema) > SCHEMA_MAX_LENGTH)
		return fail_at(ld, lookup(ld, "source", "schema"),
		               "source.schema: %zu bytes, expected at most %d (PostgreSQL would cut"
		               " the name short)",
		               strlen(schema), SCHEMA_MAX_LENGTH);
	return 0;
}

/* Reads and checks the source group. */
static int load_source(struct loader *ld)
{
	/* Below 0.1 s a pass would follow a pass; longer waits are no
	 * polling. Timeouts are at most a day (ZL_MAX_TIMEOUT_S). */
	static const struct range poll = {0.1, ZL_MAX_TIMEOUT_S};
	static const struct range range_size = {16, 1048576};
	static const struct range connect = {1, ZL_MAX_TIMEOUT_S};
	static const struct range query = {1, ZL_MAX_TIMEOUT_S};
	struct zl_source_conf *src = &ld->conf->source;

	if (read_string(ld, "source", "conninfo", &src->conninfo) < 0 ||
	    read_string(ld, "source", "base_url", &src->base_url) < 0 ||
	    read_double(ld, "source", "poll_interval", &poll, &src->poll_interval) < 0 ||
	    read_int(ld, "source", "range_size", &range_size, &src->range_size) < 0 ||
	    read_int(ld, "source", "connect_timeout", &connect, &src->connect_timeout) < 0 ||
	    read_int(ld, "source", "query_timeout", &query, &src->query_timeout) < 0 ||
	    read_string(ld, "source", "schema", &src->schema) < 0 ||
	    check_schema(ld, src->schema) < 0)
		return -1;

	/* The environment may supply the conninfo; a file value is still checked. */
	if (!src->conninfo && !getenv(ENV_CONNINFO))
		return fail_missing(ld, "source", "conninfo");
	if (src->conninfo) {
		char prefix[512];

		where(ld, lookup(ld, "source", "conninfo"), "source", "conninfo", prefix,
		      sizeof(prefix));
		if (check_conninfo(ld->err, prefix, src->conninfo) < 0)
			return -1;
	}

	if (!src->base_url)
		return fail_missing(ld, "source", "base_url");
	return check_base_url(ld, lookup(ld, "source", "base_url"), src->base_url);
}

/* The directory part of path, malloc'ed: "." for a bare name, "/" for the root. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* Checks that the state file can be created or opened for reading and writing. */
static int check_state_path(struct loader *ld, const config_setting_t *s, const char *path)
{
	struct stat st;
	char *dir;
	int rc = 0;

	if (*path == '\0')
		return fail_at(ld, s, "state.path: must not be empty");
	if (path[strlen(path) - 1] == '/')
		return fail_at(ld, s, "state.path: '%s' names a directory, expected a file", path);
	dir = dir_of(path);
	if (!dir)
		return fail_oom(ld);
	if (stat(dir, &st) < 0) {
		if (errno == ENOENT)
			rc = fail_at(ld, s, "state.path: directory %s does not exist", dir);
		else
			rc = fail_at(ld, s, "state.path: could not access directory %s: %s", dir,
			             strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		rc = fail_at(ld, s, "state.path: %s is not a directory", dir);
	} else if (ld->state_use == ZL_STATE_NONE) {
		/* setup and dlq never open the state. */
	} else if (ld->state_use == ZL_STATE_READ) {
		/* A reader (a monitoring user) needs to read, nothing more. */
		if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode) && access(path, R_OK) < 0)
			rc = fail_at(ld, s, "state.path: %s is not readable: %s", path,
			             strerror(errno));
		else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rc = fail_at(ld, s, "state.path: %s is a directory, expected a file", path);
	} else if (access(dir, W_OK | X_OK) < 0) {
		/* SQLite creates its journal beside the file, so the directory must be writable. */
		rc = fail_at(ld, s, "state.path: directory %s is not writable: %s", dir,
		             strerror(errno));
	} else if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			rc = fail_at(ld, s, "state.path: %s is a directory, expected a file", path);
		else if (access(path, R_OK | W_OK) < 0)
			rc = fail_at(ld, s, "state.path: %s is not readable and writable: %s", path,
			             strerror(errno));
	}
	free(dir);
	return rc;
}

/* Reads and checks the state group. */
static int load_state(struct loader *ld)
{
	if (read_string(ld, "state", "path", &ld->conf->state.path) < 0)
		return -1;
	return check_state_path(ld, lookup(ld, "state", "path"), ld->conf->state.path);
}

/* Reads and checks the events group. */
static int load_events(struct loader *ld)
{
	static const char *const invalid[2] = {"skip", "emit"};
	static const char *const initial[2] = {"baseline", "announce"};
	static const struct range label = {0, 10000};
	struct zl_events_conf *ev = &ld->conf->events;
	int invalid_zaak_id = (int)ev->invalid_zaak_id;
	int initial_sync = (int)ev->initial_sync;

	if (read_string(ld, "events", "source", &ev->source) < 0 ||
	    read_int(ld, "events", "label_max_length", &label, &ev->label_max_length) < 0 ||
	    read_bool(ld, "events", "relink_on_label_change", &ev->relink_on_label_change) < 0 ||
	    read_choice(ld, "events", "invalid_zaak_id", invalid, &invalid_zaak_id) < 0 ||
	    read_choice(ld, "events", "initial_sync", initial, &initial_sync) < 0)
		return -1;
	ev->invalid_zaak_id = invalid_zaak_id == 0 ? ZL_INVALID_SKIP : ZL_INVALID_EMIT;
	ev->initial_sync = initial_sync == 0 ? ZL_INITIAL_BASELINE : ZL_INITIAL_ANNOUNCE;
	if (!ev->source)
		return fail_missing(ld, "events", "source");
	return check_non_empty(ld, "events", "source", ev->source);
}

/* Checks that an optional TLS file, when set, is a readable file. */
static int check_tls_file(struct loader *ld, const char *name, const char *path)
{
	const config_setting_t *s = lookup(ld, "amqp", name);
	struct stat st;

	if (!path)
		return 0;
	if (*path == '\0')
		return fail_at(ld, s, "amqp.%s: must not be empty", name);
	if (stat(path, &st) < 0 || access(path, R_OK) < 0)
		return fail_at(ld, s, "amqp.%s: could not read %s: %s", name, path,
		               strerror(errno));
	if (S_ISDIR(st.st_mode))
		return fail_at(ld, s, "amqp.%s: %s is a directory, expected a file", name, path);
	return 0;
}

/* Checks the exchange name: non-empty, at most 200 bytes, no blanks or controls. */
static int check_exchange(struct loader *ld, const char *exchange)
{
	const config_setting_t *s = lookup(ld, "amqp", "exchange");

	if (*exchange == '\0')
		return fail_at(ld, s, "amqp.exchange: must not be empty");
	if (strlen(exchange) > EXCHANGE_MAX_LENGTH)
		return fail_at(ld, s, "amqp.exchange: longer than %d characters",
		               EXCHANGE_MAX_LENGTH);
	for (const unsigned char *p = (const unsigned char *)exchange; *p; p++) {
		if (*p <= ' ' || *p == 0x7f)
			return fail_at(ld, s,
			               "amqp.exchange: '%s' must not contain spaces or control "
			               "characters",
			               exchange);
	}
	return 0;
}

/*
 * Reads the one password of a password file: the whole file but one
 * trailing newline ("\n" or "\r\n"), so that both `echo pw >file` and
 * `printf pw >file` work. Fills buf (NUL-terminated) or why.
 */
static int read_secret(int fd, char *buf, size_t size, char *why, size_t why_size)
{
	size_t len = 0;
	ssize_t n;

	while ((n = read(fd, buf + len, size - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, why_size, "could not be read: %s", strerror(errno));
			return -1;
		}
		len += (size_t)n;
		if (len == size) {
			snprintf(why, why_size, "is larger than %d bytes, expected one password",
			         PASSWORD_MAX);
			return -1;
		}
	}
	if (len > 0 && buf[len - 1] == '\n' && --len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (len > PASSWORD_MAX)
		snprintf(why, why_size, "is larger than %d bytes, expected one password",
		         PASSWORD_MAX);
	else if (len == 0)
		snprintf(why, why_size, "is empty");
	else if (memchr(buf, '\0', len))
		snprintf(why, why_size, "has a NUL byte, which no AMQP password can hold");
	else if (memchr(buf, '\n', len))
		snprintf(why, why_size, "has more than one line, expected the password alone");
	else
		return 0;
	return -1;
}

/* The file amqp.password_file names: relative ones are systemd credentials. */
static int password_path(struct loader *ld, const config_setting_t *s, const char *name, char **out)
{
	const char *dir = getenv(ENV_CREDENTIALS);
	size_t size;

	if (name[0] == '/') {
		*out = strdup(name);
	} else if (!dir || !*dir) {
		return fail_at(ld, s,
		               "amqp.password_file: '%s' is a relative path and $%s is not set "
		               "(systemd's LoadCredential= sets it); expected an absolute path",
		               name, ENV_CREDENTIALS);
	} else {
		size = strlen(dir) + 1 + strlen(name) + 1;
		if ((*out = malloc(size)))
			snprintf(*out, size, "%s/%s", dir, name);
	}
	return *out ? 0 : fail_oom(ld);
}

/* Logs that file, which holds a password (in settings), can be read by more than its owner. */
static void warn_readable(const char *file, mode_t mode, const char *settings)
{
	char quoted[512];

	zl_warn("config.password_readable",
	        "file=\"%s\" mode=%04o settings=%s reason=\"a file holding a password is readable "
	        "by %s\"",
	        zl_log_quote(file, quoted, sizeof(quoted)), (unsigned)(mode & 07777), settings,
	        (mode & S_IROTH) ? "others" : "its group");
}

/*
 * Reads amqp.password_file once, at load and so at every reload. The
 * password never appears in a message, only the file's name.
 */
static int load_password(struct loader *ld)
{
	struct zl_amqp_conf *amqp = &ld->conf->amqp;
	const config_setting_t *s = lookup(ld, "amqp", "password_file");
	char why[128], *path = NULL, *buf = NULL;
	struct stat st;
	int fd, rc = 0;

	if (!amqp->password_file)
		return 0;
	if (!*amqp->password_file)
		return fail_at(ld, s, "amqp.password_file: must not be empty");
	if (password_path(ld, s, amqp->password_file, &path) < 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		rc = fail_at(ld, s, "amqp.password_file: could not read %s: %s", path,
		             strerror(errno));
		free(path);
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		rc = fail_at(ld, s, "amqp.password_file: %s is not a regular file", path);
	else if (!(buf = malloc(PASSWORD_MAX + 3)))
		rc = fail_oom(ld);
	else if (read_secret(fd, buf, PASSWORD_MAX + 3, why, sizeof(why)) < 0)
		rc = fail_at(ld, s, "amqp.password_file: %s %s", path, why);
	else if (!(amqp->password = strdup(buf)))
		rc = fail_oom(ld);
	/* A dedicated secret may be shared with zaaklink's group, not with everyone. */
	else if (st.st_mode & S_IROTH)
		warn_readable(path, st.st_mode, "amqp.password_file");
	if (buf) {
		explicit_bzero(buf, PASSWORD_MAX + 3);
		free(buf);
	}
	close(fd);
	free(path);
	return rc;
}

static int load_queues(struct loader *ld);

/* Reads and checks the amqp group. */
static int load_amqp(struct loader *ld)
{
	static const struct range heartbeat = {0, 600};
	static const struct range batch = {1, 65535};
	/* Seconds, multiplied into milliseconds and timevals: a day at most. */
	static const struct range timeout = {0.1, ZL_MAX_TIMEOUT_S};
	static const struct range backoff = {1, ZL_MAX_TIMEOUT_S};
	struct zl_amqp_conf *amqp = &ld->conf->amqp;

	if (read_urls(ld) < 0 || read_string(ld, "amqp", "exchange", &amqp->exchange) < 0 ||
	    read_int(ld, "amqp", "heartbeat", &heartbeat, &amqp->heartbeat) < 0 ||
	    read_int(ld, "amqp", "batch_size", &batch, &amqp->batch_size) < 0 ||
	    read_double(ld, "amqp", "confirm_timeout", &timeout, &amqp->confirm_timeout) < 0 ||
	    read_double(ld, "amqp", "connect_timeout", &timeout, &amqp->connect_timeout) < 0 ||
	    read_double(ld, "amqp", "max_backoff", &backoff, &amqp->max_backoff) < 0 ||
	    read_string(ld, "amqp", "ca_file", &amqp->ca_file) < 0 ||
	    read_string(ld, "amqp", "cert_file", &amqp->cert_file) < 0 ||
	    read_string(ld, "amqp", "key_file", &amqp->key_file) < 0 ||
	    read_bool(ld, "amqp", "verify_peer", &amqp->verify_peer) < 0 ||
	    read_bool(ld, "amqp", "verify_hostname", &amqp->verify_hostname) < 0 ||
	    read_string(ld, "amqp", "password_file", &amqp->password_file) < 0)
		return -1;
	if (check_exchange(ld, amqp->exchange) < 0 ||
	    check_tls_file(ld, "ca_file", amqp->ca_file) < 0 ||
	    check_tls_file(ld, "cert_file", amqp->cert_file) < 0 ||
	    check_tls_file(ld, "key_file", amqp->key_file) < 0 || load_password(ld) < 0)
		return -1;
	/* rabbitmq-c takes the client certificate and its key together. */
	if (!amqp->cert_file != !amqp->key_file)
		return fail_at(ld, lookup(ld, "amqp", amqp->cert_file ? "cert_file" : "key_file"),
		               "amqp.%s: set without amqp.%s, expected both or neither",
		               amqp->cert_file ? "cert_file" : "key_file",
		               amqp->cert_file ? "key_file" : "cert_file");
	return load_queues(ld);
}

/*
 * Checks a queue name: like an exchange name, not in the broker's "amq."
 * namespace, and not one of the names zaaklink derives from the exchange
 * for its own topology (see topology.h), which the queue would collide with.
 */
static int check_queue_name(struct loader *ld, const config_setting_t *s, const char *name)
{
	const char *ex = ld->conf->amqp.exchange;

	if (*name == '\0')
		return fail_at(ld, s, "amqp.queues: name must not be empty");
	if (strlen(name) > EXCHANGE_MAX_LENGTH)
		return fail_at(ld, s, "amqp.queues: name '%.40s...' longer than %d characters",
		               name, EXCHANGE_MAX_LENGTH);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p <= ' ' || *p == 0x7f)
			return fail_at(ld, s,
			               "amqp.queues: name '%s' must not contain spaces or control "
			               "characters",
			               name);
	}
	if (strncmp(name, "amq.", 4) == 0)
		return fail_at(ld, s, "amqp.queues: name '%s' is reserved by RabbitMQ (amq.)",
		               name);
	if (topology_is_own(ex, name))
		return fail_at(ld, s,
		               "amqp.queues: name '%s' is one of zaaklink's own queues of exchange %s",
		               name, ex);
	return 0;
}

/* Reads the bindings of queue q: a list of non-empty topic patterns. */
static int read_bindings(struct loader *ld, const config_setting_t *qs, struct zl_queue_conf *q)
{
	const config_setting_t *s = config_setting_get_member(qs, "bindings");
	int n;

	if (!s)
		return fail_at(ld, qs, "amqp.queues: queue '%s' has no bindings, expected a list "
		               "of routing key patterns", q->name);
	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return fail_at(ld, s, "amqp.queues: bindings of '%s': expected a list of strings",
		               q->name);
	n = config_setting_length(s);
	if (n == 0 || n > ZL_MAX_BINDINGS)
		return fail_at(ld, s, "amqp.queues: bindings of '%s': %d patterns, expected 1 to %d",
		               q->name, n, ZL_MAX_BINDINGS);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned int)i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return fail_at(ld, e,
			               "amqp.queues: bindings of '%s': expected a list of strings",
			               q->name);
		if (strlen(config_setting_get_string(e)) > 255)
			return fail_at(ld, e,
			               "amqp.queues: bindings of '%s': pattern longer than 255 "
			               "characters",
			               q->name);
		q->bindings[i] = strdup(config_setting_get_string(e));
		if (!q->bindings[i])
			return fail_oom(ld);
		q->n_bindings = i + 1;
	}
	return 0;
}

/* Reads one element of amqp.queues into q. */
static int read_queue(struct loader *ld, const config_setting_t *qs, struct zl_queue_conf *q)
{
	static const char *const types[] = {"classic", "quorum"};
	const config_setting_t *s;
	int n = config_setting_length(qs);

	if (!config_setting_is_group(qs))
		return fail_at(ld, qs, "amqp.queues: expected a list of groups ({ name = ...; })");
	for (int j = 0; j < n; j++) {
		const config_setting_t *e = config_setting_get_elem(qs, (unsigned int)j);

		if (!key_known(queue_keys, config_setting_name(e)))
			return fail_at(ld, e, "unknown setting 'amqp.queues.%s'",
			               config_setting_name(e));
	}
	s = config_setting_get_member(qs, "name");
	if (!s)
		return fail_at(ld, qs, "amqp.queues: missing required setting 'name'");
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail_at(ld, s, "amqp.queues: name: expected a string");
	if (check_queue_name(ld, s, config_setting_get_string(s)) < 0)
		return -1;
	if (!(q->name = strdup(config_setting_get_string(s))))
		return fail_oom(ld);
	if ((s = config_setting_get_member(qs, "type"))) {
		const char *v = config_setting_type(s) == CONFIG_TYPE_STRING
		                    ? config_setting_get_string(s)
		                    : NULL;

		if (v && strcmp(v, types[0]) == 0)
			q->type = ZL_QUEUE_CLASSIC;
		else if (v && strcmp(v, types[1]) == 0)
			q->type = ZL_QUEUE_QUORUM;
		else
			return fail_at(ld, s,
			               "amqp.queues: type of '%s': expected classic or quorum",
			               q->name);
	}
	/*
	 * A quorum queue always gets an explicit delivery limit: RabbitMQ 4.0
	 * defaults to 20 and then drops what has no dead-letter exchange, and
	 * before 4.0 there is no limit at all, so a message that kills its
	 * consumer would be redelivered forever.
	 */
	if (q->type == ZL_QUEUE_QUORUM)
		q->delivery_limit = 5;
	if ((s = config_setting_get_member(qs, "delivery_limit"))) {
		long long v;

		if (q->type != ZL_QUEUE_QUORUM)
			return fail_at(ld, s,
			               "amqp.queues: delivery_limit of '%s': only quorum queues have "
			               "one (type = quorum)",
			               q->name);
		if (config_setting_type(s) != CONFIG_TYPE_INT &&
		    config_setting_type(s) != CONFIG_TYPE_INT64)
			return fail_at(ld, s, "amqp.queues: delivery_limit of '%s': expected an integer",
			               q->name);
		v = config_setting_get_int64(s);
		if (v < 1 || v > 1000000)
			return fail_at(ld, s,
			               "amqp.queues: delivery_limit of '%s': %lld is out of range, "
			               "expected 1 to 1000000",
			               q->name, v);
		q->delivery_limit = (int)v;
	}
	return read_bindings(ld, qs, q);
}

/* Reads amqp.queues: a list of queue groups with distinct names. */
static int load_queues(struct loader *ld)
{
	struct zl_amqp_conf *amqp = &ld->conf->amqp;
	const config_setting_t *s = lookup(ld, "amqp", "queues");
	int n;

	if (!s)
		return 0;
	if (!config_setting_is_list(s))
		return fail_at(ld, s, "amqp.queues: expected a list of groups ( { name = ...; } )");
	n = config_setting_length(s);
	if (n > ZL_MAX_QUEUES)
		return fail_at(ld, s, "amqp.queues: %d queues, expected at most %d", n,
		               ZL_MAX_QUEUES);
	for (int i = 0; i < n; i++) {
		const config_setting_t *qs = config_setting_get_elem(s, (unsigned int)i);

		amqp->n_queues = i + 1;
		if (read_queue(ld, qs, &amqp->queues[i]) < 0)
			return -1;
		for (int k = 0; k < i; k++) {
			if (strcmp(amqp->queues[k].name, amqp->queues[i].name) == 0)
				return fail_at(ld, qs, "amqp.queues: queue '%s' is listed twice",
				               amqp->queues[i].name);
		}
	}
	return 0;
}

/* Reads and checks the retry group: delays of the wait tiers, in seconds. */
static int load_retry(struct loader *ld)
{
	struct zl_retry_conf *retry = &ld->conf->retry;
	const config_setting_t *s = lookup(ld, "retry", "delays");
	int n;

	if (!s)
		return 0;
	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return fail_at(ld, s, "retry.delays: expected a list of seconds ([ 10, 60, ... ])");
	n = config_setting_length(s);
	if (n > ZL_MAX_RETRY_DELAYS)
		return fail_at(ld, s, "retry.delays: %d tiers, expected at most %d", n,
		               ZL_MAX_RETRY_DELAYS);
	retry->n_delays = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned int)i);
		long long v;

		if (config_setting_type(e) != CONFIG_TYPE_INT &&
		    config_setting_type(e) != CONFIG_TYPE_INT64)
			return fail_at(ld, e, "retry.delays: expected whole seconds");
		v = config_setting_get_int64(e);
		/* x-message-ttl is a 32-bit count of milliseconds; keep well within. */
		if (v < 1 || v > 2592000)
			return fail_at(ld, e,
			               "retry.delays: %lld is out of range, expected 1 to 2592000 "
			               "seconds (30 days)",
			               v);
		for (int k = 0; k < i; k++) {
			if (retry->delays[k] == v)
				return fail_at(ld, e,
				               "retry.delays: %lld is listed twice, each tier needs its "
				               "own delay",
				               v);
		}
		retry->delays[i] = (int)v;
		retry->n_delays = i + 1;
	}
	return 0;
}

/* Reads and checks the log group. */
static int load_log(struct loader *ld)
{
	const config_setting_t *s = lookup(ld, "log", "level");
	enum zl_log_level level;

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail_at(ld, s, "log.level: expected a string");
	if (zl_log_parse_level(config_setting_get_string(s), &level) < 0)
		return fail_at(ld, s,
		               "log.level: unknown level '%s', expected debug, info, warning or "
		               "error",
		               config_setting_get_string(s));
	ld->conf->log.level = (int)level;
	return 0;
}

/*
 * Parses "A.B.C.D:PORT" or "[IPv6]:PORT" into addr. Only numeric addresses:
 * a host name could resolve to several addresses, or to another one
 * tomorrow, and the endpoint must be bound exactly where the file says.
 * Fills why and returns -1 when text is not such an address.
 */
static int parse_listen(const char *text, struct zl_metrics_conf *m, char *why, size_t size)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon = strrchr(text, ':'), *port = colon ? colon + 1 : NULL;
	size_t hlen = colon ? (size_t)(colon - text) : 0;
	char *end;
	long p;

	if (!colon || hlen == 0 || !*port) {
		snprintf(why, size, "'%s' is not ADDRESS:PORT (e.g. 127.0.0.1:9187 or [::1]:9187)",
		         text);
		return -1;
	}
	errno = 0;
	p = strtol(port, &end, 10);
	if (*end || port[0] < '0' || port[0] > '9' || errno) {
		snprintf(why, size, "'%s': port '%s' is not a number", text, port);
		return -1;
	}
	if (p < 1 || p > 65535) {
		snprintf(why, size, "'%s': port %s is out of range, expected 1 to 65535", text, port);
		return -1;
	}
	memset(&m->addr, 0, sizeof(m->addr));
	if (text[0] == '[' && text[hlen - 1] == ']' && hlen - 2 < sizeof(host)) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&m->addr;

		memcpy(host, text + 1, hlen - 2);
		host[hlen - 2] = '\0';
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
			a6->sin6_family = AF_INET6;
			a6->sin6_port = htons((uint16_t)p);
			m->addr_len = sizeof(*a6);
			return 0;
		}
	} else if (hlen < sizeof(host)) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&m->addr;

		memcpy(host, text, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
			a4->sin_family = AF_INET;
			a4->sin_port = htons((uint16_t)p);
			m->addr_len = sizeof(*a4);
			return 0;
		}
	}
	snprintf(why, size,
	         "'%.*s' is not a numeric IPv4 address or an IPv6 address in brackets "
	         "(host names are not resolved)",
	         (int)hlen, text);
	return -1;
}

/* Reads and checks the metrics group: the HTTP endpoint, off when unset. */
static int load_metrics(struct loader *ld)
{
	char why[512];

	if (read_string(ld, "metrics", "listen", &ld->conf->metrics.listen) < 0 ||
	    check_non_empty(ld, "metrics", "listen", ld->conf->metrics.listen) < 0)
		return -1;
	if (ld->conf->metrics.listen &&
	    parse_listen(ld->conf->metrics.listen, &ld->conf->metrics, why, sizeof(why)) < 0)
		return fail_at(ld, lookup(ld, "metrics", "listen"), "metrics.listen: %s", why);
	return 0;
}

/*
 * Replaces the URL list with the one of ZAAKLINK_AMQP_URL: URLs separated
 * by blanks (no URL has one), each validated like the file's.
 */
static int apply_env_urls(struct loader *ld, const char *value)
{
	static const char blanks[] = " \t\r\n";
	struct zl_amqp_conf *amqp = &ld->conf->amqp;
	char *urls[ZL_MAX_AMQP_URLS];
	const char *p = value + strspn(value, blanks);
	int n = 0, rc = 0;

	if (*p == '\0')
		return zl_err_set(ld->err, ZL_EX_CONFIG, "%s: must not be empty", ENV_AMQP_URL);
	for (; *p && rc == 0; p += strspn(p, blanks)) {
		size_t len = strcspn(p, blanks);
		char prefix[64];

		if (n == ZL_MAX_AMQP_URLS) {
			rc = zl_err_set(ld->err, ZL_EX_CONFIG, "%s: more than %d URLs",
			                ENV_AMQP_URL, ZL_MAX_AMQP_URLS);
			break;
		}
		if (!(urls[n] = strndup(p, len))) {
			rc = fail_oom(ld);
			break;
		}
		n++;
		if (n == 1)
			snprintf(prefix, sizeof(prefix), "%s", ENV_AMQP_URL);
		else
			snprintf(prefix, sizeof(prefix), "%s (URL %d)", ENV_AMQP_URL, n);
		rc = check_amqp_url(ld->err, prefix, urls[n - 1]);
		p += len;
	}
	if (rc < 0) {
		while (n > 0)
			free(urls[--n]);
		return -1;
	}
	clear_urls(amqp);
	for (int i = 0; i < n; i++)
		amqp->urls[i] = urls[i];
	amqp->n_urls = n;
	return 0;
}

/* Applies ZAAKLINK_AMQP_URL and ZAAKLINK_SOURCE_CONNINFO, validated like the file's values. */
static int apply_environment(struct loader *ld)
{
	const char *url = getenv(ENV_AMQP_URL);
	const char *conninfo = getenv(ENV_CONNINFO);

	if (url && apply_env_urls(ld, url) < 0)
		return -1;
	if (conninfo) {
		char *copy;

		if (check_conninfo(ld->err, ENV_CONNINFO, conninfo) < 0)
			return -1;
		copy = strdup(conninfo);
		if (!copy)
			return fail_oom(ld);
		free(ld->conf->source.conninfo);
		ld->conf->source.conninfo = copy;
	}
	return 0;
}

/* A configuration holding every default; NULL when out of memory. */
static struct zl_conf *conf_new_defaults(const char *file)
{
	struct zl_conf *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->file = strdup(file);
	c->source.poll_interval = 5.0;
	c->source.range_size = 1024;
	c->source.connect_timeout = 10;
	c->source.query_timeout = 300;
	c->source.schema = strdup("public");
	c->state.path = strdup(DEFAULT_STATE_PATH);
	c->events.label_max_length = 80;
	c->events.relink_on_label_change = true;
	c->events.invalid_zaak_id = ZL_INVALID_SKIP;
	c->events.initial_sync = ZL_INITIAL_BASELINE;
	c->amqp.urls[0] = strdup(DEFAULT_AMQP_URL);
	c->amqp.n_urls = 1;
	c->amqp.exchange = strdup(DEFAULT_EXCHANGE);
	c->amqp.heartbeat = 30;
	c->amqp.batch_size = 1000;
	c->amqp.confirm_timeout = 30;
	c->amqp.connect_timeout = 10;
	c->amqp.max_backoff = 60;
	c->amqp.verify_peer = true;
	c->amqp.verify_hostname = true;
	for (size_t i = 0; i < ZL_ARRAY_LEN(default_delays); i++)
		c->retry.delays[i] = default_delays[i];
	c->retry.n_delays = (int)ZL_ARRAY_LEN(default_delays);
	c->log.level = ZL_LOG_INFO;
	if (!c->file || !c->state.path || !c->amqp.urls[0] || !c->amqp.exchange ||
	    !c->source.schema) {
		conf_free(c);
		return NULL;
	}
	return c;
}

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
	struct stat fst = { 0 };
	FILE *f;

	/* libconfig refuses deeper nesting itself, with a message. */
	if (depth > 10 || !(f = fopen(file, "r")))
		return 0;
	if (fstat(fileno(f), &fst) == 0 && fst.st_size > INCLUDE_MAX_FILE) {
		fclose(f);
		return zl_err_set(err, ZL_EX_CONFIG, "%s: larger than %d bytes, not a configuration file",
				  file, INCLUDE_MAX_FILE);
	}
	/* Its size as it is now; one byte more tells that it grew since. */
	n = fst.st_size > 0 ? (size_t)fst.st_size : 0;
	if (!(text = malloc(n + 2))) {
		fclose(f);
		return zl_err_set(err, ZL_EX_SOFTWARE, "out of memory reading %s", file);
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
					rc = zl_err_set(err, ZL_EX_CONFIG,
							"%s:%d: @include: the file name has a control"
							" character or a backslash", file, line);
				} else if (!(name = strndup(text + i, q - i))) {
					rc = zl_err_set(err, ZL_EX_SOFTWARE, "out of memory reading %s", file);
				} else {
					if (stat(name, &st) == 0 && !S_ISREG(st.st_mode))
						rc = zl_err_set(err, ZL_EX_CONFIG,
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
static bool conninfo_has_password(const char *conninfo)
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

/* The files that hold a password, with the settings that hold it there. */
struct exposed {
	const char *file[ZL_MAX_AMQP_URLS + 1];
	char settings[ZL_MAX_AMQP_URLS + 1][64];
	int n;
};

/* Adds setting s (named name) to the file it was read from. */
static void note_password(const struct loader *ld, struct exposed *x, const config_setting_t *s,
                          const char *name)
{
	const char *file = setting_file(ld, s);
	int i = 0;

	while (i < x->n && strcmp(x->file[i], file) != 0)
		i++;
	if (i == x->n) {
		if (x->n == (int)ZL_ARRAY_LEN(x->file))
			return;
		x->file[x->n++] = file;
		x->settings[i][0] = '\0';
	}
	if (!strstr(x->settings[i], name)) {
		size_t len = strlen(x->settings[i]);

		snprintf(x->settings[i] + len, sizeof(x->settings[i]) - len, "%s%s", len ? "," : "",
		         name);
	}
}

/*
 * Warns once per file when a password written in the configuration
 * (amqp.url, source.conninfo) is in a file its group or others can read:
 * amqp.password_file, a systemd credential, PGPASSFILE keep it out.
 */
static void warn_exposed_passwords(const struct loader *ld)
{
	const config_setting_t *url = lookup(ld, "amqp", "url");
	const config_setting_t *ci = lookup(ld, "source", "conninfo");
	struct exposed x = {.n = 0};
	struct stat st;

	if (url && config_setting_type(url) == CONFIG_TYPE_STRING &&
	    conf_url_has_password(config_setting_get_string(url)))
		note_password(ld, &x, url, "amqp.url");
	for (int i = 0; url && config_setting_type(url) != CONFIG_TYPE_STRING &&
	                i < config_setting_length(url);
	     i++) {
		const config_setting_t *e = config_setting_get_elem(url, (unsigned int)i);

		if (conf_url_has_password(config_setting_get_string(e)))
			note_password(ld, &x, e, "amqp.url");
	}
	if (ci && conninfo_has_password(config_setting_get_string(ci)))
		note_password(ld, &x, ci, "source.conninfo");
	for (int i = 0; i < x.n; i++) {
		if (stat(x.file[i], &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
			warn_readable(x.file[i], st.st_mode, x.settings[i]);
	}
}

/* Parses the file into ld->cfg; a syntax error is reported as "FILE:LINE: text". */
static int parse_file(struct loader *ld)
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
	return zl_err_set(ld->err, ZL_EX_CONFIG, "%s:%d: %s%s", efile, config_error_line(&ld->cfg),
	                  config_error_text(&ld->cfg) ? config_error_text(&ld->cfg)
	                                              : "syntax error",
	                  context);
}

struct zl_conf *conf_load(const char *file, struct zl_err *err)
{
	return conf_load_for(file, ZL_STATE_WRITE, err);
}

struct zl_conf *conf_load_for(const char *file, enum zl_state_use use, struct zl_err *err)
{
	struct loader ld = {.file = file, .state_use = use, .err = err};
	int rc;

	ld.conf = conf_new_defaults(file);
	if (!ld.conf) {
		zl_err_set(err, ZL_EX_SOFTWARE, "could not load configuration %s: out of memory",
		           file);
		return NULL;
	}
	config_init(&ld.cfg);
	rc = parse_file(&ld);
	if (rc == 0)
		rc = check_unknown(&ld);
	if (rc == 0)
		rc = load_source(&ld);
	if (rc == 0)
		rc = load_state(&ld);
	if (rc == 0)
		rc = load_events(&ld);
	if (rc == 0)
		rc = load_amqp(&ld);
	if (rc == 0)
		rc = load_retry(&ld);
	if (rc == 0)
		rc = load_log(&ld);
	if (rc == 0)
		rc = load_metrics(&ld);
	if (rc == 0)
		rc = apply_environment(&ld);
	if (rc == 0)
		warn_exposed_passwords(&ld);
	config_destroy(&ld.cfg);
	if (rc < 0) {
		conf_free(ld.conf);
		return NULL;
	}
	return ld.conf;
}

void conf_free(struct zl_conf *conf)
{
	if (!conf)
		return;
	free(conf->file);
	free(conf->source.conninfo);
	free(conf->source.schema);
	free(conf->source.base_url);
	free(conf->state.path);
	free(conf->events.source);
	clear_urls(&conf->amqp);
	free(conf->amqp.exchange);
	free(conf->amqp.ca_file);
	free(conf->amqp.cert_file);
	free(conf->amqp.key_file);
	free(conf->amqp.password_file);
	if (conf->amqp.password) {
		explicit_bzero(conf->amqp.password, strlen(conf->amqp.password));
		free(conf->amqp.password);
	}
	free(conf->metrics.listen);
	for (int i = 0; i < conf->amqp.n_queues; i++) {
		free(conf->amqp.queues[i].name);
		for (int k = 0; k < conf->amqp.queues[i].n_bindings; k++)
			free(conf->amqp.queues[i].bindings[k]);
	}
	free(conf);
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

	start = start ? start + 3 : url;
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
