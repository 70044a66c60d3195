/* Metrics over HTTP: /metrics and /healthz on libmicrohttpd's own thread. */
#include "metrics_http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Sharing the figures between two threads.
 *
 * The loop of `run` is the only writer of its struct zl_metrics and never
 * waits for the HTTP thread; the HTTP thread only reads. Rather than make
 * every counter in every module atomic, the loop copies its whole struct
 * into `shared` under a mutex once per turn, and a request copies it out
 * under the same mutex and renders outside it. Both copies are a memcpy of
 * a few hundred bytes, so neither side holds the lock for long, the
 * modules stay free of threading, and a scrape sees one consistent
 * picture (the histogram's count always equals zaaklink_passes_total).
 * Health is judged at request time against the clock, so a loop that hangs
 * and stops updating turns /healthz to 503 by itself.
 */
struct zl_metrics_http {
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock;
	struct zl_metrics shared; /* guarded by lock */
};

/* The bounds on connections: see metrics_http_start(). */
#define HTTP_CONNECTION_LIMIT 512
#define HTTP_PER_IP_LIMIT 64
#define HTTP_IDLE_TIMEOUT_S 5

#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TYPE_TEXT "text/plain; charset=utf-8"

/* Queues a response; body is malloc'ed and handed over to libmicrohttpd. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, char *body,
                             const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if (!body)
		return MHD_NO; /* out of memory: drop the connection */
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

/* A malloc'ed copy of one line of text. */
static char *line(const char *text)
{
	size_t n = strlen(text);
	char *s = malloc(n + 2);

	if (s) {
		memcpy(s, text, n);
		s[n] = '\n';
		s[n + 1] = '\0';
	}
	return s;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct zl_metrics_http *h = cls;
	struct zl_metrics *m;
	enum MHD_Result rc;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, line("method not allowed"),
		             CONTENT_TYPE_TEXT);
	if (strcmp(url, "/metrics") != 0 && strcmp(url, "/healthz") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, line("not found: try /metrics or /healthz"),
		             CONTENT_TYPE_TEXT);
	/* On the heap: this thread's stack is libmicrohttpd's to size. */
	if (!(m = malloc(sizeof(*m))))
		return MHD_NO;
	pthread_mutex_lock(&h->lock);
	*m = h->shared;
	pthread_mutex_unlock(&h->lock);
	if (strcmp(url, "/metrics") == 0) {
		rc = reply(conn, MHD_HTTP_OK, metrics_render(m, zl_wall_s()), CONTENT_TYPE_METRICS);
	} else {
		struct zl_health health = metrics_health_of(m, zl_now_ms());
		char reason[1024];

		if (metrics_healthy(&health, reason, sizeof(reason)))
			rc = reply(conn, MHD_HTTP_OK, line(health.standby ? reason : "ok"),
			           CONTENT_TYPE_TEXT);
		else
			rc = reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, line(reason),
			           CONTENT_TYPE_TEXT);
	}
	free(m);
	return rc;
}

/* A listening socket on exactly conf->addr; -1 with err filled. */
static int listen_on(const struct zl_metrics_conf *conf, struct zl_err *err)
{
	int fd = socket(conf->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int on = 1;

	if (fd < 0)
		return zl_err_set(err, ZL_EX_OSERR, "could not create a socket for %s: %s",
		                  conf->listen, strerror(errno));
	/* A restart must not wait for the old connections' TIME_WAIT. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	/* [::]:PORT means IPv6 only: bind what is written, no more. */
	if (conf->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)&conf->addr, conf->addr_len) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		int e = errno;

		close(fd);
		return zl_err_set(err, ZL_EX_UNAVAILABLE,
		                  "could not listen on %s (metrics.listen): %s", conf->listen,
		                  strerror(e));
	}
	return fd;
}

struct zl_metrics_http *metrics_http_start(const struct zl_metrics_conf *conf,
                                           const struct zl_metrics *initial, struct zl_err *err)
{
	struct zl_metrics_http *h = calloc(1, sizeof(*h));
	int fd;

	if (!h) {
		zl_err_set(err, ZL_EX_OSERR, "out of memory while starting the HTTP server");
		return NULL;
	}
	if ((fd = listen_on(conf, err)) < 0) {
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->shared = *initial;
	/*
	 * One thread answers every connection, from memory, and never waits
	 * on one: MHD_USE_AUTO picks epoll (poll elsewhere), so the number of
	 * connections is not bounded by select's FD_SETSIZE, and a client
	 * that sends nothing only holds a slot. Such slots are what could
	 * starve a scrape, hence three bounds: a connection idle for
	 * HTTP_IDLE_TIMEOUT_S is closed; one address holds at most
	 * HTTP_PER_IP_LIMIT connections, so one host cannot take all the
	 * HTTP_CONNECTION_LIMIT that all addresses share; and the per-address
	 * limit is far above what a scraper needs, so a scraper on the same
	 * host as a few dozen idle clients still gets in.
	 */
	h->daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, on_request, h,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)HTTP_CONNECTION_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned int)HTTP_PER_IP_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_END);
	if (!h->daemon) {
		close(fd);
		pthread_mutex_destroy(&h->lock);
		free(h);
		zl_err_set(err, ZL_EX_OSERR,
		           "could not start the HTTP server on %s (metrics.listen)", conf->listen);
		return NULL;
	}
	return h;
}

void metrics_http_update(struct zl_metrics_http *h, const struct zl_metrics *m)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->shared = *m;
	pthread_mutex_unlock(&h->lock);
}

void metrics_http_stop(struct zl_metrics_http *h)
{
	if (!h)
		return;
	/* Joins the thread and closes the listening socket. */
	MHD_stop_daemon(h->daemon);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
