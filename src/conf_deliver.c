/*
 * The deliver group's checks, for the settings table (conf_table.c), and
 * conf_check_deliver(), what the deliver command needs on top of them.
 *
 * Every command loads the deliver group, so a load checks only the form of
 * what is set (URLs, the secret file, the listen address, the TLS files)
 * and refuses what is wrong whoever reads it (a secret set twice, a
 * certificate without its key, deliver's endpoint on the address of
 * metrics.listen). Whether what deliver needs is there at all is asked only
 * when deliver starts: a run-only installation has no deliver group. As
 * that check runs after the file is gone, the load keeps the position of
 * the deliver group for its messages.
 */
#include "conf_settings.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CLIENT_ID_MAX_LENGTH 255

bool zl_conf_is_set(const char *value)
{
	return value && *value;
}

int zl_conf_check_http_url(struct zl_conf_loader *ld, const struct zl_setting *row,
                           const config_setting_t *s)
{
	char *url = ZL_FIELD(ld->conf, row, char *);
	const char *host;
	size_t n;

	if (!url)
		return 0;
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		return zl_conf_fail_at(ld, s, "%s.%s: '%s' must start with http:// or https://",
		                       row->group, row->name, url);
	for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
		if (*p <= ' ' || *p == 0x7f)
			return zl_conf_fail_at(ld, s,
			                       "%s.%s: '%s' must not contain white space or "
			                       "control characters",
			                       row->group, row->name, url);
	}
	if (strcmp(row->name, "zaken_api") == 0) {
		n = strlen(url);
		while (n > 0 && url[n - 1] == '/')
			url[--n] = '\0';
	}
	host = strstr(url, "://") + 3;
	if (*host == '\0' || *host == '/' || *host == '?' || *host == '#')
		return zl_conf_fail_at(ld, s, "%s.%s: '%s' has no host", row->group, row->name,
		                       url);
	return 0;
}

int zl_conf_check_client_id(struct zl_err *err, const char *prefix, const char *client_id)
{
	if (strlen(client_id) > CLIENT_ID_MAX_LENGTH)
		return zl_err_set(err, ZL_EX_CONFIG, "%s: longer than %d characters", prefix,
		                  CLIENT_ID_MAX_LENGTH);
	for (const unsigned char *p = (const unsigned char *)client_id; *p; p++) {
		if (*p < ' ' || *p == 0x7f)
			return zl_err_set(err, ZL_EX_CONFIG,
			                  "%s: must not contain control characters", prefix);
	}
	return 0;
}

/* deliver.secret and deliver.secret_file: one of them, then the file is read. */
int zl_conf_check_deliver_secret_file(struct zl_conf_loader *ld, const struct zl_setting *row,
                                      const config_setting_t *s)
{
	const struct zl_deliver_conf *d = &ld->conf->deliver;

	if (d->secret_file && d->secret)
		return zl_conf_fail_at(ld, s,
		                       "deliver: deliver.secret and deliver.secret_file are both "
		                       "set; set exactly one (secret_file keeps it out of this "
		                       "file)");
	return zl_conf_check_secret_file(ld, row, s);
}

/* True when two parsed listen addresses would take the same port: the same
 * address, or a wildcard of the same family. */
static bool same_endpoint(const struct zl_metrics_conf *a, const struct zl_metrics_conf *b)
{
	if (a->addr.ss_family != b->addr.ss_family)
		return false;
	if (a->addr.ss_family == AF_INET) {
		const struct sockaddr_in *p = (const struct sockaddr_in *)&a->addr;
		const struct sockaddr_in *q = (const struct sockaddr_in *)&b->addr;

		return p->sin_port == q->sin_port && (p->sin_addr.s_addr == q->sin_addr.s_addr ||
		                                      p->sin_addr.s_addr == htonl(INADDR_ANY) ||
		                                      q->sin_addr.s_addr == htonl(INADDR_ANY));
	}
	if (a->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *p = (const struct sockaddr_in6 *)&a->addr;
		const struct sockaddr_in6 *q = (const struct sockaddr_in6 *)&b->addr;

		return p->sin6_port == q->sin6_port &&
		       (memcmp(&p->sin6_addr, &q->sin6_addr, sizeof(p->sin6_addr)) == 0 ||
		        IN6_IS_ADDR_UNSPECIFIED(&p->sin6_addr) ||
		        IN6_IS_ADDR_UNSPECIFIED(&q->sin6_addr));
	}
	return false;
}

int zl_conf_check_deliver_group(struct zl_conf_loader *ld)
{
	struct zl_deliver_conf *d = &ld->conf->deliver;
	const config_setting_t *g =
	    config_setting_get_member(config_root_setting(&ld->cfg), "deliver");

	if (g)
		snprintf(d->where, sizeof(d->where), "%s:%u", zl_conf_setting_file(ld, g),
		         config_setting_source_line(g));
	else
		snprintf(d->where, sizeof(d->where), "%s", ld->file);
	if (!d->cert_file != !d->key_file)
		return zl_conf_fail_at(
		    ld, zl_conf_lookup(ld, "deliver", d->cert_file ? "cert_file" : "key_file"),
		    "deliver.%s: set without deliver.%s, expected both or neither",
		    d->cert_file ? "cert_file" : "key_file",
		    d->cert_file ? "key_file" : "cert_file");
	if (d->metrics.listen && ld->conf->metrics.listen &&
	    same_endpoint(&d->metrics, &ld->conf->metrics))
		return zl_conf_fail_at(ld, zl_conf_lookup(ld, "deliver", "listen"),
		                       "deliver.listen: '%s' takes the port of metrics.listen "
		                       "('%s'); expected another port",
		                       d->metrics.listen, ld->conf->metrics.listen);
	return 0;
}

const char *conf_deliver_secret(const struct zl_conf *conf)
{
	return conf->deliver.secret ? conf->deliver.secret : conf->deliver.file_secret;
}

bool conf_has_consumer_queues(const struct zl_conf *conf)
{
	return conf->amqp.n_queues > 0 || conf->deliver.url != NULL;
}

int conf_check_deliver(const struct zl_conf *conf, struct zl_err *err)
{
	const struct zl_deliver_conf *d = &conf->deliver;
	const char *where = d->where[0] ? d->where : conf->file;

	if (!d->url)
		return zl_err_set(err, ZL_EX_CONFIG,
		                  "%s: missing required setting 'deliver.url' (the deliver "
		                  "command needs Open Zaak's /events URL)",
		                  where);
	if (!d->client_id)
		return zl_err_set(err, ZL_EX_CONFIG,
		                  "%s: missing required setting 'deliver.client_id' (the deliver "
		                  "command needs it to sign its tokens)",
		                  where);
	if (!conf_deliver_secret(conf))
		return zl_err_set(err, ZL_EX_CONFIG,
		                  "%s: missing required setting 'deliver.secret_file' or "
		                  "'deliver.secret' (the deliver command needs the secret of "
		                  "deliver.client_id)",
		                  where);
	if (!d->zaken_api && (d->check_existing || d->verify))
		return zl_err_set(err, ZL_EX_CONFIG,
		                  "%s: missing required setting 'deliver.zaken_api' (the deliver "
		                  "command needs it with deliver.%s on)",
		                  where, d->check_existing ? "check_existing" : "verify");
	return 0;
}
