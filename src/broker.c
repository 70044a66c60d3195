/* Broker: opening, logging in to and closing RabbitMQ connections, shared by every client. */
#include "broker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define CLOSE_TIMEOUT_MS 2000

struct timeval broker_seconds_tv(double s)
{
	struct timeval tv;

	if (s < 0)
		s = 0;
	tv.tv_sec = (time_t)s;
	tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
	return tv;
}

struct timeval broker_ms_tv(int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return tv;
}

void broker_string_entry(amqp_table_entry_t *e, const char *key, const char *value)
{
	e->key = amqp_cstring_bytes(key);
	e->value.kind = AMQP_FIELD_KIND_UTF8;
	e->value.value.bytes = amqp_cstring_bytes(value);
}

void broker_bool_entry(amqp_table_entry_t *e, const char *key, bool value)
{
	e->key = amqp_cstring_bytes(key);
	e->value.kind = AMQP_FIELD_KIND_BOOLEAN;
	e->value.value.boolean = value;
}

void broker_table_entry(amqp_table_entry_t *e, const char *key, amqp_table_t value)
{
	e->key = amqp_cstring_bytes(key);
	e->value.kind = AMQP_FIELD_KIND_TABLE;
	e->value.value.table = value;
}

void broker_table_string(const amqp_table_t *t, const char *key, char *buf, size_t size)
{
	buf[0] = '\0';
	for (int i = 0; t && i < t->num_entries; i++) {
		const amqp_table_entry_t *e = &t->entries[i];

		if (e->key.len == strlen(key) && memcmp(e->key.bytes, key, e->key.len) == 0 &&
		    (e->value.kind == AMQP_FIELD_KIND_UTF8 ||
		     e->value.kind == AMQP_FIELD_KIND_BYTES)) {
			snprintf(buf, size, "%.*s", (int)e->value.value.bytes.len,
			         (const char *)e->value.value.bytes.bytes);
			return;
		}
	}
}

void broker_close_text(const amqp_method_t *m, char *buf, size_t size)
{
	amqp_bytes_t text = amqp_empty_bytes;

	if (m->id == AMQP_CHANNEL_CLOSE_METHOD)
		text = ((const amqp_channel_close_t *)m->decoded)->reply_text;
	else if (m->id == AMQP_CONNECTION_CLOSE_METHOD)
		text = ((const amqp_connection_close_t *)m->decoded)->reply_text;
	if (text.len > 0)
		snprintf(buf, size, "%.*s", (int)text.len, (const char *)text.bytes);
	else
		snprintf(buf, size, "closed by the broker (method 0x%08x)", (unsigned)m->id);
}

void broker_reply_text(amqp_rpc_reply_t r, char *buf, size_t size)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		snprintf(buf, size, "no error");
		break;
	case AMQP_RESPONSE_NONE:
		snprintf(buf, size, "no reply from the broker");
		break;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		snprintf(buf, size, "%s", amqp_error_string2(r.library_error));
		break;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		broker_close_text(&r.reply, buf, size);
		break;
	}
}

bool broker_answer_close(amqp_connection_state_t conn, amqp_channel_t channel,
                         const amqp_method_t *m)
{
	if (m->id == AMQP_CHANNEL_CLOSE_METHOD) {
		amqp_channel_close_ok_t ok = {0};

		amqp_send_method(conn, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
		return true;
	}
	if (m->id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_ok_t ok = {0};

		amqp_send_method(conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
		return false;
	}
	return true;
}

int broker_reply_code(amqp_rpc_reply_t r)
{
	if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION)
		return 0;
	if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
		return ((const amqp_channel_close_t *)r.reply.decoded)->reply_code;
	if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
		return ((const amqp_connection_close_t *)r.reply.decoded)->reply_code;
	return 0;
}

/* errno means something only after a socket error, and callers clear it first. */
const char *broker_failure_text(int rc, char *buf, size_t size)
{
	int e = errno;

	if (rc == AMQP_STATUS_SOCKET_ERROR && e != 0 && e != EAGAIN && e != EWOULDBLOCK &&
	    e != EINPROGRESS && e != EINTR)
		snprintf(buf, size, "%s (%s)", amqp_error_string2(rc), strerror(e));
	else
		snprintf(buf, size, "%s", amqp_error_string2(rc));
	return buf;
}

/*
 * rabbitmq-c 0.11 does not load OpenSSL's default verify paths, so without
 * a ca_file nothing would be trusted: use the distribution's bundle, as
 * OpenSSL itself would (SSL_CERT_FILE first).
 */
static const char *system_ca_bundle(void)
{
	static const char *const bundles[] = {
	    "/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu */
	    "/etc/pki/tls/certs/ca-bundle.crt",   /* Red Hat, Fedora */
	    "/etc/ssl/cert.pem",                  /* Alpine, BSD */
	};
	const char *env = getenv("SSL_CERT_FILE");

	if (env && *env)
		return env;
	for (size_t i = 0; i < ZL_ARRAY_LEN(bundles); i++) {
		if (access(bundles[i], R_OK) == 0)
			return bundles[i];
	}
	return NULL;
}

/* Creates the TLS socket of conn, configured for amqps. */
static amqp_socket_t *tls_socket(const struct zl_amqp_conf *c, const char *node,
                                 amqp_connection_state_t conn, struct zl_err *err)
{
	amqp_socket_t *sock = amqp_ssl_socket_new(conn);
	const char *ca = c->ca_file ? c->ca_file : system_ca_bundle();

	if (!sock) {
		zl_err_set(err, ZL_EX_UNAVAILABLE, "could not create a TLS socket for %s", node);
		return NULL;
	}
	amqp_ssl_socket_set_verify_peer(sock, c->verify_peer);
	amqp_ssl_socket_set_verify_hostname(sock, c->verify_hostname);
	if (amqp_ssl_socket_set_ssl_versions(sock, AMQP_TLSv1_2, AMQP_TLSvLATEST) !=
	    AMQP_STATUS_OK) {
		zl_err_set(err, ZL_EX_UNAVAILABLE, "could not require TLS 1.2 for %s", node);
		return NULL;
	}
	if (ca && amqp_ssl_socket_set_cacert(sock, ca) != AMQP_STATUS_OK) {
		zl_err_set(err, ZL_EX_CONFIG, "could not load CA file %s for %s", ca, node);
		return NULL;
	}
	if (c->cert_file && c->key_file &&
	    amqp_ssl_socket_set_key(sock, c->cert_file, c->key_file) != AMQP_STATUS_OK) {
		zl_err_set(err, ZL_EX_CONFIG,
		           "could not load client certificate %s with key %s for %s", c->cert_file,
		           c->key_file, node);
		return NULL;
	}
	return sock;
}

/*
 * Bounds, in the kernel, how long sent data may stay unacknowledged by the
 * peer before the connection is dropped: rabbitmq-c 0.11 may otherwise
 * wait without limit inside a send to a peer that vanished.
 */
static void limit_unacked_time(const struct zl_amqp_conf *c, amqp_connection_state_t conn)
{
#ifdef TCP_USER_TIMEOUT
	unsigned int ms = (unsigned int)(c->confirm_timeout * 1000);
	int fd = amqp_get_sockfd(conn);

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
#else
	(void)c;
	(void)conn;
#endif
}

/* Opens the TCP or TLS socket to the parsed URL. */
static int open_socket(const struct zl_amqp_conf *c, const char *node, amqp_connection_state_t conn,
                       const struct amqp_connection_info *ci, struct zl_err *err)
{
	struct timeval tv = broker_seconds_tv(c->connect_timeout);
	amqp_socket_t *sock;
	int rc;

	sock = ci->ssl ? tls_socket(c, node, conn, err) : amqp_tcp_socket_new(conn);
	if (!sock) {
		if (ci->ssl)
			return -1;
		return zl_err_set(err, ZL_EX_UNAVAILABLE, "could not create a socket for %s", node);
	}
	errno = 0;
	rc = amqp_socket_open_noblock(sock, ci->host, ci->port, &tv);
	if (rc != AMQP_STATUS_OK) {
		char reason[256];

		/* The library reads the result of an asynchronous connect with
		 * SO_ERROR and drops it: errno still says EINPROGRESS then. */
		if (rc == AMQP_STATUS_SOCKET_ERROR && errno == EINPROGRESS)
			return zl_err_set(
			    err, ZL_EX_UNAVAILABLE,
			    "could not connect to %s: connection refused or unreachable", node);
		return zl_err_set(err, ZL_EX_UNAVAILABLE, "could not connect to %s: %s", node,
		                  broker_failure_text(rc, reason, sizeof(reason)));
	}
	limit_unacked_time(c, conn);
	return 0;
}

/* True when p points into the n bytes at buf: a value the URL gave, not a library default. */
static bool from_url(const char *p, const char *buf, size_t n)
{
	return p >= buf && p < buf + n;
}

/*
 * How to log in with ci, parsed in place from the n bytes at url: SASL EXTERNAL,
 * the client certificate being the credential, when one is configured and
 * the URL names neither user nor password; else PLAIN with the URL's
 * password, or amqp.password_file's when the URL has none.
 */
static amqp_sasl_method_enum login_method(const struct zl_amqp_conf *c, const char *url, size_t n,
                                          struct amqp_connection_info *ci)
{
	bool user = from_url(ci->user, url, n) && ci->user[0] != '\0';
	bool password = from_url(ci->password, url, n);

	if (c->cert_file && ci->ssl && !user && !password)
		return AMQP_SASL_METHOD_EXTERNAL;
	if (!password && c->password)
		ci->password = c->password;
	return AMQP_SASL_METHOD_PLAIN;
}

/* Logs in announcing the capabilities zaaklink relies on. */
static amqp_rpc_reply_t log_in(const struct zl_amqp_conf *c, amqp_connection_state_t conn,
                               const struct amqp_connection_info *ci, const char *vhost,
                               amqp_sasl_method_enum method)
{
	amqp_table_entry_t caps[4];
	amqp_table_entry_t props[3];
	amqp_table_t capabilities = {.num_entries = 4, .entries = caps};
	amqp_table_t client = {.num_entries = 3, .entries = props};

	/* 0.11 does not announce connection.blocked itself: without it the
	 * broker would stop reading on an alarm without telling us. */
	broker_bool_entry(&caps[0], "connection.blocked", true);
	broker_bool_entry(&caps[1], "publisher_confirms", true);
	broker_bool_entry(&caps[2], "basic.nack", true);
	/* Nor consumer cancellation: a consumer whose queue is deleted would
	 * wait for deliveries forever instead of hearing basic.cancel. */
	broker_bool_entry(&caps[3], "consumer_cancel_notify", true);
	broker_string_entry(&props[0], "product", "zaaklink");
	broker_string_entry(&props[1], "version", PACKAGE_VERSION);
	broker_table_entry(&props[2], "capabilities", capabilities);
	/* RabbitMQ takes the user from the certificate and ignores EXTERNAL's
	 * identity; rabbitmq-c 0.11 fails on an empty one ("could not allocate
	 * memory"), so it gets the product's name. */
	if (method == AMQP_SASL_METHOD_EXTERNAL)
		return amqp_login_with_properties(conn, vhost, AMQP_DEFAULT_MAX_CHANNELS,
		                                  AMQP_DEFAULT_FRAME_SIZE, c->heartbeat, &client,
		                                  AMQP_SASL_METHOD_EXTERNAL, "zaaklink");
	return amqp_login_with_properties(conn, vhost, AMQP_DEFAULT_MAX_CHANNELS,
	                                  AMQP_DEFAULT_FRAME_SIZE, c->heartbeat, &client,
	                                  AMQP_SASL_METHOD_PLAIN, ci->user, ci->password);
}

int broker_open(const struct zl_amqp_conf *conf, int idx, const char *node,
                amqp_connection_state_t *out, struct zl_err *err)
{
	struct amqp_connection_info ci;
	struct timeval handshake = broker_seconds_tv(conf->connect_timeout);
	struct timeval rpc = broker_seconds_tv(conf->confirm_timeout);
	amqp_connection_state_t conn;
	amqp_sasl_method_enum method;
	char *copy = strdup(conf->urls[idx]);
	const char *vhost;
	amqp_rpc_reply_t r;

	*out = NULL;
	if (!copy)
		return zl_err_set(err, ZL_EX_SOFTWARE, "could not parse %s: out of memory", node);
	if (amqp_parse_url(copy, &ci) != AMQP_STATUS_OK) {
		free(copy);
		return zl_err_set(err, ZL_EX_CONFIG, "could not parse amqp url %s", node);
	}
	method = login_method(conf, copy, strlen(conf->urls[idx]) + 1, &ci);
	/* "amqp://host/" names the empty vhost, which RabbitMQ cannot have:
	 * read it as the default one, like most clients do. */
	vhost = ci.vhost[0] ? ci.vhost : "/";
	if (!(conn = amqp_new_connection())) {
		free(copy);
		return zl_err_set(err, ZL_EX_SOFTWARE, "could not connect to %s: out of memory",
		                  node);
	}
	amqp_set_handshake_timeout(conn, &handshake);
	amqp_set_rpc_timeout(conn, &rpc);
	if (open_socket(conf, node, conn, &ci, err) < 0) {
		broker_close(conn, false);
		free(copy);
		return -1;
	}
	r = log_in(conf, conn, &ci, vhost, method);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		char reason[512];

		broker_reply_text(r, reason, sizeof(reason));
		if (method == AMQP_SASL_METHOD_EXTERNAL)
			zl_err_set(
			    err, ZL_EX_UNAVAILABLE,
			    "could not log in with the client certificate (SASL EXTERNAL) to "
			    "vhost %s on node %s: %s",
			    vhost, node, reason);
		else
			zl_err_set(err, ZL_EX_UNAVAILABLE,
			           "could not log in as %s to vhost %s on node %s: %s", ci.user,
			           vhost, node, reason);
		broker_close(conn, false);
		free(copy);
		return -1;
	}
	free(copy);
	*out = conn;
	return 0;
}

int broker_connect(const struct zl_amqp_conf *conf, int *next_url, char **node,
                   amqp_connection_state_t *conn, struct zl_err *err)
{
	return broker_connect_with(conf, NULL, next_url, node, conn, err);
}

int broker_connect_with(const struct zl_amqp_conf *conf, const struct broker_hooks *hooks,
                        int *next_url, char **node, amqp_connection_state_t *conn,
                        struct zl_err *err)
{
	*conn = NULL;
	if (conf->n_urls <= 0)
		return zl_err_set(err, ZL_EX_CONFIG,
		                  "could not connect to RabbitMQ: no url configured");
	for (int i = 0, start = *next_url; i < conf->n_urls; i++) {
		int idx = (start + i) % conf->n_urls;
		char *masked = conf_mask_url(conf->urls[idx]);

		if (!masked)
			return zl_err_set(err, ZL_EX_SOFTWARE,
			                  "could not mask an amqp url: out of memory");
		free(*node);
		*node = masked;
		if (broker_open(conf, idx, masked, conn, err) == 0) {
			if (!hooks || !hooks->setup || hooks->setup(hooks->arg, err) == 0) {
				*next_url = idx;
				return 0;
			}
			*conn = NULL; /* closed by setup */
		}
		/* Rotate: the next attempt starts after the node that failed. */
		*next_url = (idx + 1) % conf->n_urls;
		if (hooks && hooks->node_failed && i + 1 < conf->n_urls)
			hooks->node_failed(hooks->arg, masked, err);
	}
	return -1;
}

int broker_wait_writable(amqp_connection_state_t conn, int64_t deadline_ms)
{
	struct pollfd pfd = {.fd = amqp_get_sockfd(conn), .events = POLLOUT};

	if (pfd.fd < 0)
		return -1;
	for (;;) {
		int64_t left = deadline_ms - zl_now_ms();
		int rc;

		if (left < 0)
			left = 0;
		rc = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0 || (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)))
			return -1;
		if (rc > 0)
			return 0;
		if (left == 0)
			return 1;
	}
}

void broker_close(amqp_connection_state_t conn, bool sound)
{
	if (!conn)
		return;
	if (sound && broker_wait_writable(conn, zl_now_ms()) == 0) {
		struct timeval tv = broker_ms_tv(CLOSE_TIMEOUT_MS);

		amqp_set_rpc_timeout(conn, &tv);
		amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	}
	amqp_destroy_connection(conn);
}

void broker_long_entry(amqp_table_entry_t *e, const char *key, int64_t value)
{
	e->key = amqp_cstring_bytes(key);
	e->value.kind = AMQP_FIELD_KIND_I64;
	e->value.value.i64 = value;
}

bool broker_answer_reply(amqp_connection_state_t conn, amqp_channel_t channel, amqp_rpc_reply_t r)
{
	bool channel_only;

	if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION)
		return false;
	channel_only = r.reply.id == AMQP_CHANNEL_CLOSE_METHOD;
	broker_answer_close(conn, channel, &r.reply);
	if (channel_only)
		amqp_maybe_release_buffers_on_channel(conn, channel);
	return channel_only;
}

/*
 * A passive declare on a channel of its own, opened and closed around it:
 * the broker answers a queue that does not exist by closing the channel,
 * and the caller's other channels (a publisher's in confirm mode) must not
 * go with it.
 */
int64_t broker_queue_depth(amqp_connection_state_t conn, amqp_channel_t channel, const char *queue,
                           struct zl_err *err)
{
	amqp_queue_declare_ok_t *ok;
	amqp_rpc_reply_t r;
	char reason[512];
	int code;

	amqp_channel_open(conn, channel);
	r = amqp_get_rpc_reply(conn);
	if (r.reply_type == AMQP_RESPONSE_NORMAL) {
		ok = amqp_queue_declare(conn, channel, amqp_cstring_bytes(queue), 1, 0, 0, 0,
		                        amqp_empty_table);
		r = amqp_get_rpc_reply(conn);
		if (ok && r.reply_type == AMQP_RESPONSE_NORMAL) {
			int64_t count = ok->message_count;

			r = amqp_channel_close(conn, channel, AMQP_REPLY_SUCCESS);
			if (r.reply_type == AMQP_RESPONSE_NORMAL)
				return count;
		}
	}
	broker_reply_text(r, reason, sizeof(reason));
	code = broker_reply_code(r);
	if (broker_answer_reply(conn, channel, r)) {
		if (code == AMQP_NOT_FOUND)
			return zl_err_set(err, ZL_EX_DATAERR, "queue %s does not exist", queue);
		return zl_err_set(err, ZL_EX_TEMPFAIL, "could not inspect queue %s: %s", queue,
		                  reason);
	}
	return zl_err_set(err, ZL_EX_UNAVAILABLE, "connection lost: could not inspect queue %s: %s",
	                  queue, reason);
}
