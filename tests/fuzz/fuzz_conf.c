/*
 * Fuzz target: the configuration loader on arbitrary file contents.
 *
 * The input is written to an in-memory file and loaded with conf_load(),
 * the very call every command makes. A file that is refused must give a
 * one-line "FILE:LINE: message" (or "FILE: message" for a setting that is
 * missing altogether) with exit code 78; a file that is accepted must hold
 * only values the rest of zaaklink can rely on without checking again.
 */
#define _GNU_SOURCE
#include "conf.h"
#include "fuzz.h"
#include "log.h"
#include "amqp_compat.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <math.h>
#include <sys/mman.h>
#include <unistd.h>

static int conf_fd = -1;
static char conf_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	conf_fd = memfd_create("zaaklink.conf", MFD_CLOEXEC);
	if (conf_fd < 0) {
		perror("memfd_create");
		exit(1);
	}
	snprintf(conf_path, sizeof(conf_path), "/proc/self/fd/%d", conf_fd);
	/* The file alone decides; overrides are the unit tests' business. */
	unsetenv("ZAAKLINK_AMQP_URL");
	unsetenv("ZAAKLINK_SOURCE_CONNINFO");
	zl_log_set_level(ZL_LOG_ERROR);
	return 0;
}

/* A refused file: one line, 78, and where. */
static void check_error(const struct zl_err *err)
{
	const char *msg = err->msg;
	size_t plen = strlen(conf_path), len = strlen(msg);
	const char *rest;

	FUZZ_CHECK(err->code == ZL_EX_CONFIG, "exit code %d for '%s'", err->code, msg);
	FUZZ_CHECK(len > 0, "empty message");
	FUZZ_CHECK(strpbrk(msg, "\n\r\t\"") == NULL, "not one safe line: '%s'", msg);
	FUZZ_CHECK(msg[len - 1] != ' ', "trailing blank: '%s'", msg);
	if (strncmp(msg, conf_path, plen) == 0 && msg[plen] == ':') {
		rest = msg + plen + 1;
	} else {
		/* An @include'd file names itself; the shape is the same. */
		rest = strchr(msg, ':');
		FUZZ_CHECK(rest && rest > msg, "no file name in '%s'", msg);
		rest++;
		FUZZ_CHECK(isdigit((unsigned char)*rest), "no line in '%s'", msg);
	}
	if (isdigit((unsigned char)*rest)) {
		char *end;
		long line = strtol(rest, &end, 10);

		FUZZ_CHECK(line >= 1, "line %ld in '%s'", line, msg);
		rest = end;
		FUZZ_CHECK(*rest == ':', "no ':' after the line in '%s'", msg);
		rest++;
	}
	FUZZ_CHECK(rest[0] == ' ' && rest[1] != '\0' && rest[1] != ' ',
	           "no message after the position in '%s'", msg);
}

/*
 * An accepted URL parses, and its masked form is the same URL but for the
 * password: parsed again it names the same user, host, port, vhost and
 * scheme, and its password is "***" wherever the URL gave one.
 */
static void check_url(const char *url)
{
	struct amqp_connection_info info, minfo;
	char *copy = strdup(url);
	char *masked = conf_mask_url(url);
	char *mcopy = masked ? strdup(masked) : NULL;
	bool explicit_password;

	FUZZ_CHECK(copy && masked && mcopy, "out of memory");
	amqp_default_connection_info(&info);
	amqp_default_connection_info(&minfo);
	FUZZ_CHECK(amqp_parse_url(copy, &info) == AMQP_STATUS_OK, "accepted URL does not parse");
	FUZZ_CHECK(strncmp(url, "amqp://", 7) == 0 || strncmp(url, "amqps://", 8) == 0,
	           "accepted scheme of '%s'", masked);
	FUZZ_CHECK(amqp_parse_url(mcopy, &minfo) == AMQP_STATUS_OK,
	           "masked URL '%s' does not parse", masked);
	FUZZ_CHECK(strcmp(info.user, minfo.user) == 0 && strcmp(info.host, minfo.host) == 0 &&
	               info.port == minfo.port && strcmp(info.vhost, minfo.vhost) == 0 &&
	               info.ssl == minfo.ssl,
	           "masking changed more than the password: '%s'", masked);
	explicit_password = info.password >= copy && info.password < copy + strlen(url);
	if (explicit_password)
		FUZZ_CHECK(strcmp(minfo.password, "***") == 0, "password not masked in '%s'",
		           masked);
	else
		FUZZ_CHECK(strcmp(masked, url) == 0, "URL without a password changed: '%s'",
		           masked);
	free(copy);
	free(mcopy);
	free(masked);
}

/* An accepted file: every value within what the other modules assume. */
static void check_conf(const struct zl_conf *c)
{
	const struct zl_source_conf *src = &c->source;
	const struct zl_amqp_conf *amqp = &c->amqp;
	char *masked;
	size_t n;

	FUZZ_CHECK(src->conninfo && *src->conninfo, "no conninfo");
	masked = conf_mask_conninfo(src->conninfo);
	FUZZ_CHECK(masked && strcmp(masked, "(unparsable conninfo)") != 0,
	           "accepted conninfo does not parse");
	free(masked);
	FUZZ_CHECK(src->base_url, "no base_url");
	n = strlen(src->base_url);
	FUZZ_CHECK(strncasecmp(src->base_url, "http://", 7) == 0 ||
	               strncasecmp(src->base_url, "https://", 8) == 0,
	           "base_url '%s'", src->base_url);
	FUZZ_CHECK(n > 0 && src->base_url[n - 1] != '/', "base_url '%s' ends in /", src->base_url);
	FUZZ_CHECK(!strpbrk(src->base_url, " \t\r\n"), "blank in base_url '%s'", src->base_url);
	FUZZ_CHECK(isfinite(src->poll_interval) && src->poll_interval >= 0.1 &&
	               src->poll_interval <= ZL_MAX_TIMEOUT_S,
	           "poll_interval %g", src->poll_interval);
	FUZZ_CHECK(src->range_size >= 16 && src->range_size <= 1048576, "range_size %d",
	           src->range_size);
	FUZZ_CHECK(src->connect_timeout >= 1 && src->connect_timeout <= ZL_MAX_TIMEOUT_S,
	           "connect_timeout %d", src->connect_timeout);
	FUZZ_CHECK(src->query_timeout >= 1 && src->query_timeout <= ZL_MAX_TIMEOUT_S,
	           "query_timeout %d", src->query_timeout);
	FUZZ_CHECK(c->state.path && *c->state.path, "no state.path");
	FUZZ_CHECK(c->events.source && *c->events.source, "no events.source");
	FUZZ_CHECK(c->events.label_max_length >= 0 && c->events.label_max_length <= 10000,
	           "label_max_length %d", c->events.label_max_length);

	FUZZ_CHECK(amqp->n_urls >= 1 && amqp->n_urls <= ZL_MAX_AMQP_URLS, "%d urls", amqp->n_urls);
	for (int i = 0; i < amqp->n_urls; i++)
		check_url(amqp->urls[i]);
	n = strlen(amqp->exchange);
	FUZZ_CHECK(n >= 1 && n <= 200, "exchange of %zu bytes", n);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)amqp->exchange[i] > ' ' && amqp->exchange[i] != 0x7f,
		           "blank or control in exchange");
	FUZZ_CHECK(amqp->heartbeat >= 0 && amqp->heartbeat <= 600, "heartbeat %d", amqp->heartbeat);
	FUZZ_CHECK(amqp->batch_size >= 1 && amqp->batch_size <= 65535, "batch_size %d",
	           amqp->batch_size);
	FUZZ_CHECK(isfinite(amqp->confirm_timeout) && amqp->confirm_timeout >= 0.1 &&
	               amqp->confirm_timeout <= ZL_MAX_TIMEOUT_S,
	           "confirm_timeout %g", amqp->confirm_timeout);
	FUZZ_CHECK(isfinite(amqp->connect_timeout) && amqp->connect_timeout >= 0.1 &&
	               amqp->connect_timeout <= ZL_MAX_TIMEOUT_S,
	           "connect_timeout %g", amqp->connect_timeout);
	FUZZ_CHECK(isfinite(amqp->max_backoff) && amqp->max_backoff >= 1 &&
	               amqp->max_backoff <= ZL_MAX_TIMEOUT_S,
	           "max_backoff %g", amqp->max_backoff);
	FUZZ_CHECK(!amqp->cert_file == !amqp->key_file, "cert_file without key_file");
	FUZZ_CHECK(amqp->n_queues >= 0 && amqp->n_queues <= ZL_MAX_QUEUES, "%d queues",
	           amqp->n_queues);
	for (int i = 0; i < amqp->n_queues; i++) {
		const struct zl_queue_conf *q = &amqp->queues[i];

		FUZZ_CHECK(q->name && *q->name && strncmp(q->name, "amq.", 4) != 0,
		           "queue name '%s'", q->name ? q->name : "(null)");
		FUZZ_CHECK(q->n_bindings >= 1 && q->n_bindings <= ZL_MAX_BINDINGS, "%d bindings",
		           q->n_bindings);
		FUZZ_CHECK(q->type == ZL_QUEUE_QUORUM ? q->delivery_limit >= 1
		                                      : q->delivery_limit == 0,
		           "delivery_limit %d", q->delivery_limit);
		for (int k = 0; k < i; k++)
			FUZZ_CHECK(strcmp(amqp->queues[k].name, q->name) != 0, "queue '%s' twice",
			           q->name);
	}
	FUZZ_CHECK(c->retry.n_delays >= 0 && c->retry.n_delays <= ZL_MAX_RETRY_DELAYS, "%d delays",
	           c->retry.n_delays);
	for (int i = 0; i < c->retry.n_delays; i++) {
		FUZZ_CHECK(c->retry.delays[i] >= 1 && c->retry.delays[i] <= 2592000, "delay %d",
		           c->retry.delays[i]);
		for (int k = 0; k < i; k++)
			FUZZ_CHECK(c->retry.delays[k] != c->retry.delays[i], "delay %d twice",
			           c->retry.delays[i]);
	}
	FUZZ_CHECK(c->log.level >= ZL_LOG_DEBUG && c->log.level <= ZL_LOG_ERROR, "log level %d",
	           c->log.level);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zl_err err = {0};
	struct zl_conf *conf;

	if (ftruncate(conf_fd, 0) < 0 || pwrite(conf_fd, data, size, 0) != (ssize_t)size) {
		perror("writing the configuration");
		abort();
	}
	conf = conf_load(conf_path, &err);
	if (conf) {
		check_conf(conf);
		conf_free(conf);
	} else {
		check_error(&err);
	}
	return 0;
}
