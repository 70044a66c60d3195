/*
 * Metrics over HTTP: GET /metrics (Prometheus text format) and GET /healthz,
 * served by libmicrohttpd from a thread of its own.
 *
 * The daemon's loop is single-threaded and stays so: it owns its struct
 * zl_metrics and hands the server a copy once per turn
 * (metrics_http_update()); a request renders from the latest copy. See
 * metrics_http.c for why a locked copy rather than atomic counters.
 */
#ifndef ZL_METRICS_HTTP_H
#define ZL_METRICS_HTTP_H

#include "common.h"
#include "conf.h"
#include "metrics.h"

struct zl_metrics_http;

/*
 * Binds conf->addr (and nothing else) and starts serving. Fails with one
 * line in err: ZL_EX_UNAVAILABLE when the address cannot be bound (in use,
 * not on this host, not permitted), ZL_EX_OSERR when no socket or thread
 * can be had.
 */
struct zl_metrics_http *metrics_http_start(const struct zl_metrics_conf *conf,
                                           const struct zl_metrics *initial, struct zl_err *err);
/* Replaces the figures requests are answered from. */
void metrics_http_update(struct zl_metrics_http *h, const struct zl_metrics *m);
/* Stops serving and closes the socket; NULL is fine. */
void metrics_http_stop(struct zl_metrics_http *h);

#endif
