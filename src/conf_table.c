/*
 * The settings table of zaaklink.conf(5) (see include/conf_settings.h), and
 * the checks of the source, state, events, retry, log and metrics settings
 * that their kind of value does not make, and of files holding a secret
 * (the amqp checks are in conf_amqp.c, the deliver checks in
 * conf_deliver.c).
 *
 * Each row's reload class follows what the running daemon does with the
 * setting. A pass reads its rules from the configuration every time
 * (base_url, range_size, the events group) and the loop reads
 * poll_interval and the log level every time: a reload can change those,
 * and the password in amqp.password_file, which the next connection logs
 * in with. The connections and the state file are opened once, with the
 * settings they were opened with; the relay, publisher and retry
 * controller keep pointers into the configuration; the queues, wait tiers
 * and the metrics endpoint are set up at start: a change of those needs a
 * restart, and so does every deliver setting, which the deliver command
 * reads once when it starts.
 */
#include "conf_settings.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_STATE_PATH "/var/lib/zaaklink/state.db"
#define DEFAULT_AMQP_URL "amqp://guest:guest@127.0.0.1:5672/%2f"

/* PostgreSQL keeps the first NAMEDATALEN - 1 bytes of a name and drops the rest. */
#define SCHEMA_MAX_LENGTH 63

/* A choice is held in its enum, read and written as an int. */
_Static_assert(sizeof(enum zl_invalid_zaak_id) == sizeof(int), "choice held as int");
_Static_assert(sizeof(enum zl_initial_sync) == sizeof(int), "choice held as int");
_Static_assert(ZL_INVALID_SKIP == 0 && ZL_INVALID_EMIT == 1, "choice index is the enum");
_Static_assert(ZL_INITIAL_BASELINE == 0 && ZL_INITIAL_ANNOUNCE == 1, "choice index is the enum");

/* ---- source ---- */

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

/* Checks source.schema: a name PostgreSQL would not cut short. */
static int check_schema(struct zl_err *err, const char *prefix, const char *schema)
{
	if (strlen(schema) > SCHEMA_MAX_LENGTH)
		return zl_err_set(err, ZL_EX_CONFIG,
		                  "%s: %zu bytes, expected at most %d (PostgreSQL would cut the "
		                  "name short)",
		                  prefix, strlen(schema), SCHEMA_MAX_LENGTH);
	return 0;
}

/* Checks base_url (http:// or https://, a host, no blanks) and strips its trailing '/'. */
static int check_base_url(struct zl_conf_loader *ld, const struct zl_setting *row,
                          const config_setting_t *s)
{
	char *base_url = ZL_FIELD(ld->conf, row, char *);
	const char *host;
	size_t n;

	if (strncasecmp(base_url, "http://", 7) != 0 && strncasecmp(base_url, "https://", 8) != 0)
		return zl_conf_fail_at(
		    ld, s, "source.base_url: '%s' must start with http:// or https://", base_url);
	if (strpbrk(base_url, " \t\r\n"))
		return zl_conf_fail_at(ld, s, "source.base_url: '%s' must not contain white space",
		                       base_url);
	n = strlen(base_url);
	while (n > 0 && base_url[n - 1] == '/')
		base_url[--n] = '\0';
	host = strstr(base_url, "://");
	if (!host || host[3] == '\0')
		return zl_conf_fail_at(ld, s, "source.base_url: '%s' has no host", base_url);
	return 0;
}

/* ---- state ---- */

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

#define ENV_STATE_CONNINFO "ZAAKLINK_STATE_CONNINFO"

/* Checks state.schema: a plain identifier, used unquoted in what operators type. */
static int check_state_schema(struct zl_err *err, const char *prefix, const char *schema)
{
	bool plain = (*schema >= 'a' && *schema <= 'z') || *schema == '_';

	for (const char *c = schema; *c && plain; c++)
		plain = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
	if (!plain)
		return zl_err_set(err, ZL_EX_CONFIG,
		                  "%s: '%s' is not a plain identifier (lower-case letters, digits "
		                  "and _, not starting with a digit)",
		                  prefix, schema);
	return check_schema(err, prefix, schema);
}

/*
 * Checks that the state file can be created or opened for what the command
 * does with it; with state.conninfo set (read before it, or in the
 * environment) the state is in
 * PostgreSQL, and a state.path set too is refused: exactly one of the two.
 */
static int check_state_path(struct zl_conf_loader *ld, const struct zl_setting *row,
                            const config_setting_t *s)
{
	const char *path = ZL_FIELD(ld->conf, row, char *);
	struct stat st;
	char *dir;
	int rc = 0;

	/* The environment is applied after the file: its conninfo counts too. */
	if (ld->conf->state.conninfo || getenv(ENV_STATE_CONNINFO)) {
		if (s)
			return zl_conf_fail_at(
			    ld, s,
			    "state: state.path and state.conninfo are both set; set "
			    "exactly one (path: SQLite, conninfo: PostgreSQL)");
		return 0;
	}
	if (path[strlen(path) - 1] == '/')
		return zl_conf_fail_at(ld, s, "state.path: '%s' names a directory, expected a file",
		                       path);
	if (!(dir = dir_of(path)))
		return zl_conf_fail_oom(ld, "taking the directory of state.path");
	if (stat(dir, &st) < 0) {
		if (errno == ENOENT)
			rc = zl_conf_fail_at(ld, s, "state.path: directory %s does not exist", dir);
		else
			rc = zl_conf_fail_at(ld, s, "state.path: could not access directory %s: %s",
			                     dir, strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		rc = zl_conf_fail_at(ld, s, "state.path: %s is not a directory", dir);
	} else if (ld->state_use == ZL_STATE_NONE) {
		/* setup and dlq never open the state. */
	} else if (ld->state_use == ZL_STATE_READ) {
		/* A reader (a monitoring user) needs to read, nothing more. */
		if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode) && access(path, R_OK) < 0)
			rc = zl_conf_fail_at(ld, s, "state.path: %s is not readable: %s", path,
			                     strerror(errno));
		else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rc = zl_conf_fail_at(
			    ld, s, "state.path: %s is a directory, expected a file", path);
	} else if (access(dir, W_OK | X_OK) < 0) {
		/* SQLite creates its journal beside the file, so the directory must be writable. */
		rc = zl_conf_fail_at(ld, s, "state.path: directory %s is not writable: %s", dir,
		                     strerror(errno));
	} else if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			rc = zl_conf_fail_at(
			    ld, s, "state.path: %s is a directory, expected a file", path);
		else if (access(path, R_OK | W_OK) < 0)
			rc = zl_conf_fail_at(ld, s,
			                     "state.path: %s is not readable and writable: %s",
			                     path, strerror(errno));
	}
	free(dir);
	return rc;
}

/* ---- secret files: amqp.password_file ---- */

#define ENV_CREDENTIALS "CREDENTIALS_DIRECTORY"
#define PASSWORD_MAX 4096

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

/* The file a secret-file row names: relative ones are systemd credentials. */
static int secret_path(struct zl_conf_loader *ld, const struct zl_setting *row,
                       const config_setting_t *s, const char *name, char **out)
{
	const char *dir = getenv(ENV_CREDENTIALS);
	char doing[128];
	size_t size;

	if (name[0] == '/') {
		*out = strdup(name);
	} else if (!dir || !*dir) {
		return zl_conf_fail_at(ld, s,
		                       "%s.%s: '%s' is a relative path and $%s is not set "
		                       "(systemd's LoadCredential= sets it); expected an absolute "
		                       "path",
		                       row->group, row->name, name, ENV_CREDENTIALS);
	} else {
		size = strlen(dir) + 1 + strlen(name) + 1;
		if ((*out = malloc(size)))
			snprintf(*out, size, "%s/%s", dir, name);
	}
	if (*out)
		return 0;
	snprintf(doing, sizeof(doing), "building the path of %s.%s", row->group, row->name);
	return zl_conf_fail_oom(ld, doing);
}

/* The derived row that holds what the file of row holds. */
static const struct zl_setting *content_row(const struct zl_setting *row)
{
	for (size_t i = 0; i < zl_n_settings; i++) {
		const struct zl_setting *r = &zl_settings[i];

		if ((r->flags & ZL_SET_DERIVED) && strcmp(r->group, row->group) == 0 &&
		    strcmp(r->name, row->name) == 0)
			return r;
	}
	return NULL;
}

/*
 * Reads the file a secret-file row names into the derived row of the same
 * name (amqp.password_file into amqp.password), once per load and so at
 * every reload. The secret never appears in a message, only the file's
 * name.
 */
int zl_conf_check_secret_file(struct zl_conf_loader *ld, const struct zl_setting *row,
                              const config_setting_t *s)
{
	const struct zl_setting *content = content_row(row);
	const char *name = ZL_FIELD(ld->conf, row, char *);
	char why[128], doing[128], setting[96], *path = NULL, *buf = NULL;
	struct stat st;
	int fd, rc = 0;

	snprintf(setting, sizeof(setting), "%s.%s", row->group, row->name);
	if (!content)
		return zl_err_set(ld->err, ZL_EX_SOFTWARE,
		                  "%s: no row of the table holds its content", setting);
	if (!name)
		return 0;
	if (secret_path(ld, row, s, name, &path) < 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		rc = zl_conf_fail_at(ld, s, "%s: could not read %s: %s", setting, path,
		                     strerror(errno));
		free(path);
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = zl_conf_fail_at(ld, s, "%s: %s is not a regular file", setting, path);
	} else if (!(buf = malloc(PASSWORD_MAX + 3))) {
		snprintf(doing, sizeof(doing), "reading %s", setting);
		rc = zl_conf_fail_oom(ld, doing);
	} else if (read_secret(fd, buf, PASSWORD_MAX + 3, why, sizeof(why)) < 0) {
		rc = zl_conf_fail_at(ld, s, "%s: %s %s", setting, path, why);
	} else if (!(ZL_FIELD(ld->conf, content, char *) = strdup(buf))) {
		snprintf(doing, sizeof(doing), "copying the content of %s", setting);
		rc = zl_conf_fail_oom(ld, doing);
	} else if (st.st_mode & S_IROTH) {
		/* A dedicated secret may be shared with zaaklink's group, not with everyone. */
		zl_conf_warn_readable(path, st.st_mode, setting);
	}
	if (buf) {
		explicit_bzero(buf, PASSWORD_MAX + 3);
		free(buf);
	}
	close(fd);
	free(path);
	return rc;
}

/* ---- retry.delays: the wait tiers, seconds each, in order ---- */

/* Default: 10 s, 1 min, 5 min, 30 min, 2 h. */
static const int default_delays[] = {10, 60, 300, 1800, 7200};

static int delays_read(struct zl_conf_loader *ld, const struct zl_setting *row,
                       const config_setting_t *s)
{
	struct zl_retry_conf *retry = &ZL_FIELD(ld->conf, row, struct zl_retry_conf);
	int n;

	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return zl_conf_fail_at(
		    ld, s, "retry.delays: expected a list of seconds ([ 10, 60, ... ])");
	n = config_setting_length(s);
	if (n > ZL_MAX_RETRY_DELAYS)
		return zl_conf_fail_at(ld, s, "retry.delays: %d tiers, expected at most %d", n,
		                       ZL_MAX_RETRY_DELAYS);
	retry->n_delays = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned int)i);
		long long v;

		if (config_setting_type(e) != CONFIG_TYPE_INT &&
		    config_setting_type(e) != CONFIG_TYPE_INT64)
			return zl_conf_fail_at(ld, e, "retry.delays: expected whole seconds");
		v = config_setting_get_int64(e);
		/* x-message-ttl is a 32-bit count of milliseconds; keep well within. */
		if (v < 1 || v > 2592000)
			return zl_conf_fail_at(ld, e,
			                       "retry.delays: %lld is out of range, expected 1 to "
			                       "2592000 seconds (30 days)",
			                       v);
		for (int k = 0; k < i; k++) {
			if (retry->delays[k] == v)
				return zl_conf_fail_at(
				    ld, e,
				    "retry.delays: %lld is listed twice, each tier "
				    "needs its own delay",
				    v);
		}
		retry->delays[i] = (int)v;
		retry->n_delays = i + 1;
	}
	return 0;
}

static int delays_init(struct zl_conf *conf, const struct zl_setting *row)
{
	struct zl_retry_conf *retry = &ZL_FIELD(conf, row, struct zl_retry_conf);

	for (size_t i = 0; i < ZL_ARRAY_LEN(default_delays); i++)
		retry->delays[i] = default_delays[i];
	retry->n_delays = (int)ZL_ARRAY_LEN(default_delays);
	return 0;
}

/* The wait tiers are queues of their own, named after their delays. */
static bool delays_differ(const struct zl_conf *a, const struct zl_conf *b,
                          const struct zl_setting *row)
{
	const struct zl_retry_conf *p = &ZL_FIELD(a, row, struct zl_retry_conf);
	const struct zl_retry_conf *q = &ZL_FIELD(b, row, struct zl_retry_conf);

	return p->n_delays != q->n_delays ||
	       memcmp(p->delays, q->delays, sizeof(p->delays[0]) * (size_t)p->n_delays) != 0;
}

const struct zl_setting_type zl_type_delay_list = {
    .name = "delay list",
    .read = delays_read,
    .init = delays_init,
    .differs = delays_differ,
};

/* ---- log.level: a level name of log.h, held as an int ---- */

static int level_read(struct zl_conf_loader *ld, const struct zl_setting *row,
                      const config_setting_t *s)
{
	enum zl_log_level level;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return zl_conf_fail_at(ld, s, "log.level: expected a string");
	if (zl_log_parse_level(config_setting_get_string(s), &level) < 0)
		return zl_conf_fail_at(ld, s,
		                       "log.level: unknown level '%s', expected debug, info, "
		                       "warning or error",
		                       config_setting_get_string(s));
	ZL_FIELD(ld->conf, row, int) = (int)level;
	return 0;
}

static int level_init(struct zl_conf *conf, const struct zl_setting *row)
{
	ZL_FIELD(conf, row, int) = (int)row->def_num;
	return 0;
}

static bool level_differs(const struct zl_conf *a, const struct zl_conf *b,
                          const struct zl_setting *row)
{
	return ZL_FIELD(a, row, int) != ZL_FIELD(b, row, int);
}

static void level_take(struct zl_conf *cur, struct zl_conf *next, const struct zl_setting *row)
{
	ZL_FIELD(cur, row, int) = ZL_FIELD(next, row, int);
}

const struct zl_setting_type zl_type_log_level = {
    .name = "log level",
    .read = level_read,
    .init = level_init,
    .differs = level_differs,
    .take = level_take,
};

/* ---- metrics.listen ---- */

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
		snprintf(why, size, "'%s': port %s is out of range, expected 1 to 65535", text,
		         port);
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

/*
 * Checks a listen address, off when unset, and keeps it parsed: the row's
 * field is the listen member of a struct zl_metrics_conf, which holds the
 * address beside it.
 */
int zl_conf_check_listen(struct zl_conf_loader *ld, const struct zl_setting *row,
                         const config_setting_t *s)
{
	struct zl_metrics_conf *m =
	    (struct zl_metrics_conf *)(void *)((char *)ld->conf + row->offset -
	                                       offsetof(struct zl_metrics_conf, listen));
	char why[512];

	if (m->listen && parse_listen(m->listen, m, why, sizeof(why)) < 0)
		return zl_conf_fail_at(ld, s, "%s.%s: %s", row->group, row->name, why);
	return 0;
}

/* ---- the table ---- */

#define AT(field) offsetof(struct zl_conf, field)

static const char *const invalid_zaak_id_words[] = {"skip", "emit", NULL};
static const char *const initial_sync_words[] = {"baseline", "announce", NULL};
static const char *const queue_type_words[] = {"classic", "quorum", NULL};

/*
 * Every setting, in the order they are read and checked, and named in the
 * reload's log lines. Bounds of seconds are at most a day
 * (ZL_MAX_TIMEOUT_S) but retry.delays; below 0.1 s a poll_interval would
 * have a pass follow a pass.
 */
const struct zl_setting zl_settings[] = {
    {"source", "conninfo", &zl_type_string, AT(source.conninfo), ZL_RESTART,
     .flags = ZL_SET_REQUIRED, .env = "ZAAKLINK_SOURCE_CONNINFO", .valid = check_conninfo,
     .has_password = conf_conninfo_has_password},
    {"source", "schema", &zl_type_string, AT(source.schema), ZL_RESTART, .flags = ZL_SET_NONEMPTY,
     .def_str = "public", .valid = check_schema},
    {"source", "base_url", &zl_type_string, AT(source.base_url), ZL_RELOAD,
     .flags = ZL_SET_REQUIRED, .check = check_base_url},
    /* The content of amqp.password_file (read by its check, not from this
     * file): a reload takes a new password in the same file. Listed here
     * so that a reload names it where it always has, after base_url. */
    {"amqp", "password_file", &zl_type_string, AT(amqp.password), ZL_RELOAD,
     .flags = ZL_SET_DERIVED | ZL_SET_SECRET},
    {"source", "poll_interval", &zl_type_double, AT(source.poll_interval), ZL_RELOAD,
     .def_num = 5.0, .min = 0.1, .max = ZL_MAX_TIMEOUT_S},
    {"source", "range_size", &zl_type_int, AT(source.range_size), ZL_RELOAD, .def_num = 1024,
     .min = 16, .max = 1048576},
    {"source", "recheck_interval", &zl_type_int, AT(source.recheck_interval), ZL_RELOAD,
     .def_num = 900, .min = 0, .max = ZL_MAX_TIMEOUT_S},
    {"source", "chunk_size", &zl_type_int, AT(source.chunk_size), ZL_RELOAD, .def_num = 10000,
     .min = 1, .max = 10000000},
    {"source", "connect_timeout", &zl_type_int, AT(source.connect_timeout), ZL_RESTART,
     .def_num = 10, .min = 1, .max = ZL_MAX_TIMEOUT_S},
    {"source", "query_timeout", &zl_type_int, AT(source.query_timeout), ZL_RESTART, .def_num = 300,
     .min = 1, .max = ZL_MAX_TIMEOUT_S},

    /* conninfo before path: path's check refuses the two together. */
    {"state", "conninfo", &zl_type_string, AT(state.conninfo), ZL_RESTART,
     .env = ENV_STATE_CONNINFO, .valid = check_conninfo,
     .has_password = conf_conninfo_has_password},
    {"state", "path", &zl_type_string, AT(state.path), ZL_RESTART, .flags = ZL_SET_NONEMPTY,
     .def_str = DEFAULT_STATE_PATH, .check = check_state_path},
    {"state", "schema", &zl_type_string, AT(state.schema), ZL_RESTART, .flags = ZL_SET_NONEMPTY,
     .def_str = "zaaklink", .valid = check_state_schema},
    {"state", "session_timeout", &zl_type_double, AT(state.session_timeout), ZL_RESTART,
     .def_num = 20.0, .min = 2.0, .max = 3600.0},

    {"events", "source", &zl_type_string, AT(events.source), ZL_RELOAD,
     .flags = ZL_SET_REQUIRED | ZL_SET_NONEMPTY},
    {"events", "label_max_length", &zl_type_int, AT(events.label_max_length), ZL_RELOAD,
     .def_num = 80, .min = 0, .max = 10000},
    {"events", "relink_on_label_change", &zl_type_bool, AT(events.relink_on_label_change),
     ZL_RELOAD, .def_num = 1},
    {"events", "invalid_zaak_id", &zl_type_choice, AT(events.invalid_zaak_id), ZL_RELOAD,
     .def_num = ZL_INVALID_SKIP, .choices = invalid_zaak_id_words},
    {"events", "initial_sync", &zl_type_choice, AT(events.initial_sync), ZL_RELOAD,
     .def_num = ZL_INITIAL_BASELINE, .choices = initial_sync_words},

    {"amqp", "url", &zl_type_url_list, AT(amqp), ZL_RESTART, .def_str = DEFAULT_AMQP_URL,
     .env = "ZAAKLINK_AMQP_URL", .valid = zl_conf_check_amqp_url,
     .has_password = conf_url_has_password},
    {"amqp", "exchange", &zl_type_string, AT(amqp.exchange), ZL_RESTART, .flags = ZL_SET_NONEMPTY,
     .def_str = "zaaklink.events", .valid = zl_conf_check_exchange},
    {"amqp", "heartbeat", &zl_type_int, AT(amqp.heartbeat), ZL_RESTART, .def_num = 30, .min = 0,
     .max = 600},
    {"amqp", "batch_size", &zl_type_int, AT(amqp.batch_size), ZL_RESTART, .def_num = 1000, .min = 1,
     .max = 65535},
    {"amqp", "confirm_timeout", &zl_type_double, AT(amqp.confirm_timeout), ZL_RESTART,
     .def_num = 30, .min = 0.1, .max = ZL_MAX_TIMEOUT_S},
    {"amqp", "connect_timeout", &zl_type_double, AT(amqp.connect_timeout), ZL_RESTART,
     .def_num = 10, .min = 0.1, .max = ZL_MAX_TIMEOUT_S},
    {"amqp", "max_backoff", &zl_type_double, AT(amqp.max_backoff), ZL_RESTART, .def_num = 60,
     .min = 1, .max = ZL_MAX_TIMEOUT_S},
    {"amqp", "ca_file", &zl_type_string, AT(amqp.ca_file), ZL_RESTART, .flags = ZL_SET_NONEMPTY,
     .check = zl_conf_check_tls_file},
    {"amqp", "cert_file", &zl_type_string, AT(amqp.cert_file), ZL_RESTART, .flags = ZL_SET_NONEMPTY,
     .check = zl_conf_check_tls_file},
    {"amqp", "key_file", &zl_type_string, AT(amqp.key_file), ZL_RESTART, .flags = ZL_SET_NONEMPTY,
     .check = zl_conf_check_tls_file},
    /* Another file needs a restart; a new password in the same file does not. */
    {"amqp", "password_file", &zl_type_string, AT(amqp.password_file), ZL_RESTART,
     .flags = ZL_SET_NONEMPTY, .check = zl_conf_check_secret_file},
    {"amqp", "verify_peer", &zl_type_bool, AT(amqp.verify_peer), ZL_RESTART, .def_num = 1},
    {"amqp", "verify_hostname", &zl_type_bool, AT(amqp.verify_hostname), ZL_RESTART, .def_num = 1},
    {"amqp", "queue_type", &zl_type_choice, AT(amqp.queue_type), ZL_RESTART,
     .def_num = ZL_QUEUE_CLASSIC, .choices = queue_type_words},
    {"amqp", "queues", &zl_type_queue_list, AT(amqp), ZL_RESTART, .flags = ZL_SET_LATE},

    {"retry", "delays", &zl_type_delay_list, AT(retry), ZL_RESTART, .flags = 0},

    {"log", "level", &zl_type_log_level, AT(log.level), ZL_RELOAD, .def_num = ZL_LOG_INFO},

    {"metrics", "listen", &zl_type_string, AT(metrics.listen), ZL_RESTART, .flags = ZL_SET_NONEMPTY,
     .check = zl_conf_check_listen},

    /*
     * Only the deliver command uses these (conf_deliver.c). It reads the
     * credentials, the two checks and the timeout at every request, so a
     * reload takes them (a rotated secret needs no restart). The queue, the
     * URLs (run declares and watches deliver.queue while deliver.url is
     * set), the concurrency (the job table and the broker's prefetch), the
     * TLS files, the listener and the memory are set up once: a restart.
     */
    {"deliver", "queue", &zl_type_string, AT(deliver.queue), ZL_RESTART, .flags = ZL_SET_NONEMPTY,
     .def_str = "openzaak", .valid = zl_conf_check_exchange},
    {"deliver", "url", &zl_type_string, AT(deliver.url), ZL_RESTART, .flags = ZL_SET_NONEMPTY,
     .check = zl_conf_check_http_url},
    {"deliver", "zaken_api", &zl_type_string, AT(deliver.zaken_api), ZL_RESTART,
     .flags = ZL_SET_NONEMPTY, .check = zl_conf_check_http_url},
    {"deliver", "client_id", &zl_type_string, AT(deliver.client_id), ZL_RELOAD,
     .flags = ZL_SET_NONEMPTY, .valid = zl_conf_check_client_id},
    {"deliver", "secret", &zl_type_string, AT(deliver.secret), ZL_RELOAD,
     .flags = ZL_SET_NONEMPTY | ZL_SET_SECRET, .has_password = zl_conf_is_set},
    {"deliver", "secret_file", &zl_type_string, AT(deliver.secret_file), ZL_RESTART,
     .flags = ZL_SET_NONEMPTY, .check = zl_conf_check_deliver_secret_file},
    /* The content of deliver.secret_file: a new secret in the same file is reloaded. */
    {"deliver", "secret_file", &zl_type_string, AT(deliver.file_secret), ZL_RELOAD,
     .flags = ZL_SET_DERIVED | ZL_SET_SECRET},
    {"deliver", "check_existing", &zl_type_bool, AT(deliver.check_existing), ZL_RELOAD,
     .def_num = 1},
    {"deliver", "verify", &zl_type_bool, AT(deliver.verify), ZL_RELOAD, .def_num = 1},
    {"deliver", "concurrency", &zl_type_int, AT(deliver.concurrency), ZL_RESTART, .def_num = 8,
     .min = 1, .max = 256},
    {"deliver", "timeout", &zl_type_double, AT(deliver.timeout), ZL_RELOAD, .def_num = 10.0,
     .min = 0.1, .max = 3600.0},
    {"deliver", "listen", &zl_type_string, AT(deliver.metrics.listen), ZL_RESTART,
     .flags = ZL_SET_NONEMPTY, .check = zl_conf_check_listen},
    {"deliver", "ca_file", &zl_type_string, AT(deliver.ca_file), ZL_RESTART,
     .flags = ZL_SET_NONEMPTY, .check = zl_conf_check_tls_file},
    {"deliver", "cert_file", &zl_type_string, AT(deliver.cert_file), ZL_RESTART,
     .flags = ZL_SET_NONEMPTY, .check = zl_conf_check_tls_file},
    {"deliver", "key_file", &zl_type_string, AT(deliver.key_file), ZL_RESTART,
     .flags = ZL_SET_NONEMPTY, .check = zl_conf_check_tls_file},
    {"deliver", "verify_peer", &zl_type_bool, AT(deliver.verify_peer), ZL_RESTART, .def_num = 1},
    {"deliver", "memory", &zl_type_string, AT(deliver.memory), ZL_RESTART, .flags = ZL_SET_NONEMPTY,
     .def_str = "/var/lib/zaaklink/deliver.db"},
};
const size_t zl_n_settings = ZL_ARRAY_LEN(zl_settings);

/* The groups, in the order they are read. */
const struct zl_setting_group zl_setting_groups[] = {
    {"source", NULL}, {"state", NULL}, {"events", NULL},  {"amqp", zl_conf_check_amqp_group},
    {"retry", NULL},  {"log", NULL},   {"metrics", NULL}, {"deliver", zl_conf_check_deliver_group},
};
const size_t zl_n_setting_groups = ZL_ARRAY_LEN(zl_setting_groups);
