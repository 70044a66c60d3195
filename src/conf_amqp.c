/*
 * The amqp group's checks and kinds of value, for the settings table
 * (conf_table.c): the list of broker URLs (amqp.url and ZAAKLINK_AMQP_URL),
 * the exchange name, the TLS files and the consumer queues (amqp.queues).
 *
 * The hard parts: a URL is only ever shown masked, and not at all when it
 * is too garbled to know where a password would be; and a queue may not
 * take a name the broker reserves (amq.) or one zaaklink derives from the
 * exchange for its own topology (topology.h), which it would collide with.
 */
#include "conf_settings.h"
#include "amqp_compat.h"
#include "topology.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXCHANGE_MAX_LENGTH 200

/* ---- amqp.url: one string, or a list or array of 1..ZL_MAX_AMQP_URLS ---- */

/* Length of the URL scheme before "://" (RFC 3986 characters only); 0 when none. */
static size_t scheme_length(const char *url)
{
	size_t n = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                       "0123456789+-.");

	return n > 0 && strncmp(url + n, "://", 3) == 0 ? n : 0;
}

int zl_conf_check_amqp_url(struct zl_err *err, const char *prefix, const char *url)
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
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "%s: out of memory while copying the URL to check it", prefix);
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

static struct zl_amqp_conf *amqp_of(struct zl_conf *conf, const struct zl_setting *row)
{
	return &ZL_FIELD(conf, row, struct zl_amqp_conf);
}

static void urls_release(struct zl_conf *conf, const struct zl_setting *row)
{
	struct zl_amqp_conf *amqp = amqp_of(conf, row);

	for (int i = 0; i < amqp->n_urls; i++) {
		free(amqp->urls[i]);
		amqp->urls[i] = NULL;
	}
	amqp->n_urls = 0;
}

/* Replaces the URLs with the n in urls, which the list now owns. */
static void urls_set(struct zl_conf *conf, const struct zl_setting *row, char **urls, int n)
{
	struct zl_amqp_conf *amqp = amqp_of(conf, row);

	urls_release(conf, row);
	for (int i = 0; i < n; i++)
		amqp->urls[i] = urls[i];
	amqp->n_urls = n;
}

static int urls_read(struct zl_conf_loader *ld, const struct zl_setting *row,
                     const config_setting_t *s)
{
	char *urls[ZL_MAX_AMQP_URLS], prefix[512];
	bool single = config_setting_type(s) == CONFIG_TYPE_STRING;
	int n = single ? 1 : config_setting_length(s);

	if (!single && !config_setting_is_list(s) && !config_setting_is_array(s))
		return zl_conf_fail_at(ld, s, "amqp.url: expected a string or a list of strings");
	if (n == 0)
		return zl_conf_fail_at(ld, s, "amqp.url: the list is empty, expected 1 to %d URLs",
		                       ZL_MAX_AMQP_URLS);
	if (n > ZL_MAX_AMQP_URLS)
		return zl_conf_fail_at(ld, s, "amqp.url: %d URLs, expected at most %d", n,
		                       ZL_MAX_AMQP_URLS);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = single ? s : config_setting_get_elem(s, (unsigned)i);
		int rc = 0;

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			rc = zl_conf_fail_at(ld, e,
			                     "amqp.url: expected a string or a list of strings");
		else if (row->valid(ld->err,
		                    zl_conf_where(ld, e, "amqp", "url", prefix, sizeof(prefix)),
		                    config_setting_get_string(e)) < 0)
			rc = -1;
		else if (!(urls[i] = strdup(config_setting_get_string(e))))
			rc = zl_conf_fail_oom(ld, "copying amqp.url");
		if (rc < 0) {
			while (i > 0)
				free(urls[--i]);
			return -1;
		}
	}
	urls_set(ld->conf, row, urls, n);
	return 0;
}

static int urls_init(struct zl_conf *conf, const struct zl_setting *row)
{
	struct zl_amqp_conf *amqp = amqp_of(conf, row);

	if (!(amqp->urls[0] = strdup(row->def_str)))
		return -1;
	amqp->n_urls = 1;
	return 0;
}

/* ZAAKLINK_AMQP_URL: URLs separated by blanks (no URL has one), each checked like the file's. */
static int urls_from_env(struct zl_conf_loader *ld, const struct zl_setting *row, const char *value)
{
	static const char blanks[] = " \t\r\n";
	char *urls[ZL_MAX_AMQP_URLS];
	const char *p = value + strspn(value, blanks);
	int n = 0, rc = 0;

	if (*p == '\0')
		return zl_err_set(ld->err, ZL_EX_CONFIG, "%s: must not be empty", row->env);
	for (; *p && rc == 0; p += strspn(p, blanks)) {
		size_t len = strcspn(p, blanks);
		char prefix[64];

		if (n == ZL_MAX_AMQP_URLS) {
			rc = zl_err_set(ld->err, ZL_EX_CONFIG, "%s: more than %d URLs", row->env,
			                ZL_MAX_AMQP_URLS);
			break;
		}
		if (!(urls[n] = strndup(p, len))) {
			rc = zl_conf_fail_oom(ld, "copying a URL of ZAAKLINK_AMQP_URL");
			break;
		}
		n++;
		if (n == 1)
			snprintf(prefix, sizeof(prefix), "%s", row->env);
		else
			snprintf(prefix, sizeof(prefix), "%s (URL %d)", row->env, n);
		rc = row->valid(ld->err, prefix, urls[n - 1]);
		p += len;
	}
	if (rc < 0) {
		while (n > 0)
			free(urls[--n]);
		return -1;
	}
	urls_set(ld->conf, row, urls, n);
	return 0;
}

static bool str_differs(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) != 0 : a != b;
}

static bool urls_differ(const struct zl_conf *a, const struct zl_conf *b,
                        const struct zl_setting *row)
{
	const struct zl_amqp_conf *p = &ZL_FIELD(a, row, struct zl_amqp_conf);
	const struct zl_amqp_conf *q = &ZL_FIELD(b, row, struct zl_amqp_conf);

	if (p->n_urls != q->n_urls)
		return true;
	for (int i = 0; i < p->n_urls; i++)
		if (str_differs(p->urls[i], q->urls[i]))
			return true;
	return false;
}

const struct zl_setting_type zl_type_url_list = {
    .name = "URL list",
    .read = urls_read,
    .init = urls_init,
    .from_env = urls_from_env,
    .differs = urls_differ,
    .release = urls_release,
};

/* ---- amqp.exchange, the TLS files ---- */

int zl_conf_check_exchange(struct zl_err *err, const char *prefix, const char *exchange)
{
	if (strlen(exchange) > EXCHANGE_MAX_LENGTH)
		return zl_err_set(err, ZL_EX_CONFIG, "%s: longer than %d characters", prefix,
		                  EXCHANGE_MAX_LENGTH);
	for (const unsigned char *p = (const unsigned char *)exchange; *p; p++) {
		if (*p <= ' ' || *p == 0x7f)
			return zl_err_set(err, ZL_EX_CONFIG,
			                  "%s: '%s' must not contain spaces or control characters",
			                  prefix, exchange);
	}
	return 0;
}

int zl_conf_check_tls_file(struct zl_conf_loader *ld, const struct zl_setting *row,
                           const config_setting_t *s)
{
	const char *path = ZL_FIELD(ld->conf, row, char *);
	struct stat st;

	if (!path)
		return 0;
	if (stat(path, &st) < 0 || access(path, R_OK) < 0)
		return zl_conf_fail_at(ld, s, "%s.%s: could not read %s: %s", row->group, row->name,
		                       path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return zl_conf_fail_at(ld, s, "%s.%s: %s is a directory, expected a file",
		                       row->group, row->name, path);
	return 0;
}

/* rabbitmq-c takes the client certificate and its key together. */
int zl_conf_check_amqp_group(struct zl_conf_loader *ld)
{
	const struct zl_amqp_conf *amqp = &ld->conf->amqp;

	if (!amqp->cert_file == !amqp->key_file)
		return 0;
	return zl_conf_fail_at(
	    ld, zl_conf_lookup(ld, "amqp", amqp->cert_file ? "cert_file" : "key_file"),
	    "amqp.%s: set without amqp.%s, expected both or neither",
	    amqp->cert_file ? "cert_file" : "key_file", amqp->cert_file ? "key_file" : "cert_file");
}

/* ---- amqp.queues: a list of queue groups with distinct names ---- */

/* The settings of one queue group. */
static const char *const queue_keys[] = {"name", "bindings", "type", "delivery_limit"};

/*
 * Checks a queue name: like an exchange name, not in the broker's "amq."
 * namespace, and not one of the names zaaklink derives from the exchange
 * for its own topology (see topology.h), which the queue would collide with.
 */
static int check_queue_name(struct zl_conf_loader *ld, const config_setting_t *s, const char *name)
{
	const char *ex = ld->conf->amqp.exchange;
	if (*name == '\0')
		return zl_conf_fail_at(ld, s, "amqp.queues: name must not be empty");
	if (strlen(name) > EXCHANGE_MAX_LENGTH)
		return zl_conf_fail_at(ld, s,
		                       "amqp.queues: name '%.40s...' longer than %d characters",
		                       name, EXCHANGE_MAX_LENGTH);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p <= ' ' || *p == 0x7f)
			return zl_conf_fail_at(ld, s,
			                       "amqp.queues: name '%s' must not contain spaces or "
			                       "control characters",
			                       name);
	}
	if (strncmp(name, "amq.", 4) == 0)
		return zl_conf_fail_at(
		    ld, s, "amqp.queues: name '%s' is reserved by RabbitMQ (amq.)", name);
	if (topology_is_own(ex, name))
		return zl_conf_fail_at(ld, s,
		                       "amqp.queues: name '%s' is one of zaaklink's own "
		                       "queues of exchange %s",
		                       name, ex);
	return 0;
}

/* Reads the bindings of queue q: a list of non-empty topic patterns. */
static int read_bindings(struct zl_conf_loader *ld, const config_setting_t *qs,
                         struct zl_queue_conf *q)
{
	const config_setting_t *s = config_setting_get_member(qs, "bindings");
	char doing[128];
	int n;

	if (!s)
		return zl_conf_fail_at(ld, qs,
		                       "amqp.queues: queue '%s' has no bindings, expected a list "
		                       "of routing key patterns",
		                       q->name);
	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return zl_conf_fail_at(
		    ld, s, "amqp.queues: bindings of '%s': expected a list of strings", q->name);
	n = config_setting_length(s);
	if (n == 0 || n > ZL_MAX_BINDINGS)
		return zl_conf_fail_at(
		    ld, s, "amqp.queues: bindings of '%s': %d patterns, expected 1 to %d", q->name,
		    n, ZL_MAX_BINDINGS);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned int)i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return zl_conf_fail_at(
			    ld, e, "amqp.queues: bindings of '%s': expected a list of strings",
			    q->name);
		if (strlen(config_setting_get_string(e)) > 255)
			return zl_conf_fail_at(ld, e,
			                       "amqp.queues: bindings of '%s': pattern longer than "
			                       "255 characters",
			                       q->name);
		q->bindings[i] = strdup(config_setting_get_string(e));
		if (!q->bindings[i]) {
			snprintf(doing, sizeof(doing), "copying a binding of queue '%.60s'",
			         q->name);
			return zl_conf_fail_oom(ld, doing);
		}
		q->n_bindings = i + 1;
	}
	return 0;
}

/* Reads the type and delivery limit of queue q. */
static int read_queue_type(struct zl_conf_loader *ld, const config_setting_t *qs,
                           struct zl_queue_conf *q)
{
	const config_setting_t *s;
	long long v;

	if ((s = config_setting_get_member(qs, "type"))) {
		const char *t = config_setting_type(s) == CONFIG_TYPE_STRING
		                    ? config_setting_get_string(s)
		                    : NULL;

		if (t && strcmp(t, "classic") == 0)
			q->type = ZL_QUEUE_CLASSIC;
		else if (t && strcmp(t, "quorum") == 0)
			q->type = ZL_QUEUE_QUORUM;
		else
			return zl_conf_fail_at(
			    ld, s, "amqp.queues: type of '%s': expected classic or quorum",
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
	if (!(s = config_setting_get_member(qs, "delivery_limit")))
		return 0;
	if (q->type != ZL_QUEUE_QUORUM)
		return zl_conf_fail_at(ld, s,
		                       "amqp.queues: delivery_limit of '%s': only quorum queues "
		                       "have one (type = quorum)",
		                       q->name);
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return zl_conf_fail_at(
		    ld, s, "amqp.queues: delivery_limit of '%s': expected an integer", q->name);
	v = config_setting_get_int64(s);
	if (v < 1 || v > 1000000)
		return zl_conf_fail_at(ld, s,
		                       "amqp.queues: delivery_limit of '%s': %lld is out of range, "
		                       "expected 1 to 1000000",
		                       q->name, v);
	q->delivery_limit = (int)v;
	return 0;
}

/* Reads one element of amqp.queues into q. */
static int read_queue(struct zl_conf_loader *ld, const config_setting_t *qs,
                      struct zl_queue_conf *q)
{
	const config_setting_t *s;
	int n = config_setting_length(qs);

	if (!config_setting_is_group(qs))
		return zl_conf_fail_at(ld, qs,
		                       "amqp.queues: expected a list of groups ({ name = ...; })");
	for (int j = 0; j < n; j++) {
		const config_setting_t *e = config_setting_get_elem(qs, (unsigned int)j);
		bool known = false;

		for (size_t k = 0; k < ZL_ARRAY_LEN(queue_keys); k++)
			known = known || strcmp(queue_keys[k], config_setting_name(e)) == 0;
		if (!known)
			return zl_conf_fail_at(ld, e, "unknown setting 'amqp.queues.%s'",
			                       config_setting_name(e));
	}
	s = config_setting_get_member(qs, "name");
	if (!s)
		return zl_conf_fail_at(ld, qs, "amqp.queues: missing required setting 'name'");
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return zl_conf_fail_at(ld, s, "amqp.queues: name: expected a string");
	if (check_queue_name(ld, s, config_setting_get_string(s)) < 0)
		return -1;
	if (!(q->name = strdup(config_setting_get_string(s))))
		return zl_conf_fail_oom(ld, "copying the name of a queue of amqp.queues");
	if (read_queue_type(ld, qs, q) < 0)
		return -1;
	return read_bindings(ld, qs, q);
}

static int queues_read(struct zl_conf_loader *ld, const struct zl_setting *row,
                       const config_setting_t *s)
{
	struct zl_amqp_conf *amqp = amqp_of(ld->conf, row);
	int n;

	if (!config_setting_is_list(s))
		return zl_conf_fail_at(
		    ld, s, "amqp.queues: expected a list of groups ( { name = ...; } )");
	n = config_setting_length(s);
	if (n > ZL_MAX_QUEUES)
		return zl_conf_fail_at(ld, s, "amqp.queues: %d queues, expected at most %d", n,
		                       ZL_MAX_QUEUES);
	for (int i = 0; i < n; i++) {
		const config_setting_t *qs = config_setting_get_elem(s, (unsigned int)i);

		amqp->n_queues = i + 1;
		if (read_queue(ld, qs, &amqp->queues[i]) < 0)
			return -1;
		for (int k = 0; k < i; k++) {
			if (strcmp(amqp->queues[k].name, amqp->queues[i].name) == 0)
				return zl_conf_fail_at(ld, qs,
				                       "amqp.queues: queue '%s' is listed twice",
				                       amqp->queues[i].name);
		}
	}
	return 0;
}

/* None by default. */
static int queues_init(struct zl_conf *conf, const struct zl_setting *row)
{
	amqp_of(conf, row)->n_queues = 0;
	return 0;
}

/* The consumer queues are declared, and bound, once when run starts. */
static bool queues_differ(const struct zl_conf *a, const struct zl_conf *b,
                          const struct zl_setting *row)
{
	const struct zl_amqp_conf *x = &ZL_FIELD(a, row, struct zl_amqp_conf);
	const struct zl_amqp_conf *y = &ZL_FIELD(b, row, struct zl_amqp_conf);

	if (x->n_queues != y->n_queues)
		return true;
	for (int i = 0; i < x->n_queues; i++) {
		const struct zl_queue_conf *p = &x->queues[i], *q = &y->queues[i];

		if (str_differs(p->name, q->name) || p->type != q->type ||
		    p->delivery_limit != q->delivery_limit || p->n_bindings != q->n_bindings)
			return true;
		for (int k = 0; k < p->n_bindings; k++)
			if (str_differs(p->bindings[k], q->bindings[k]))
				return true;
	}
	return false;
}

static void queues_release(struct zl_conf *conf, const struct zl_setting *row)
{
	struct zl_amqp_conf *amqp = amqp_of(conf, row);

	for (int i = 0; i < amqp->n_queues; i++) {
		free(amqp->queues[i].name);
		for (int k = 0; k < amqp->queues[i].n_bindings; k++)
			free(amqp->queues[i].bindings[k]);
	}
	memset(amqp->queues, 0, sizeof(amqp->queues));
	amqp->n_queues = 0;
}

const struct zl_setting_type zl_type_queue_list = {
    .name = "queue list",
    .read = queues_read,
    .init = queues_init,
    .differs = queues_differ,
    .release = queues_release,
};
