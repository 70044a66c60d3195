/* Outage: the backoff between attempts, and an outage logged once when it starts and ends. */
#include "outage.h"
#include "log.h"

#include <limits.h>

int64_t zl_backoff_ms(int failures, double max_seconds)
{
	int64_t ms = 1000, cap;

	if (!(max_seconds > 0))
		return 0;
	cap = max_seconds >= (double)INT64_MAX / 1000 ? INT64_MAX : (int64_t)(max_seconds * 1000);
	for (int i = 1; i < failures && ms < cap; i++)
		ms = ms > cap / 2 ? cap : ms * 2;
	return ms < cap ? ms : cap;
}

/* The optional first field of every line: "node=NAME " or nothing. */
#define NODE_FMT "%s%s%s"
#define NODE_ARGS(node) (node) ? "node=" : "", (node) ? (node) : "", (node) ? " " : ""

enum zl_outage_change outage_fail(struct zl_outage *o, int64_t now_ms, double max_seconds,
                                  int64_t min_wait_ms, const char *node, const struct zl_err *err)
{
	enum zl_outage_change change = ZL_OUTAGE_SAME;
	int64_t wait;

	if (o->failures == 0) {
		o->since_ms = now_ms;
		change = ZL_OUTAGE_STARTED;
	}
	if (o->failures < INT_MAX)
		o->failures++;
	if (change == ZL_OUTAGE_STARTED)
		zl_error(o->events->unavailable, NODE_FMT "error=\"%s\"", NODE_ARGS(node),
		         err->msg);
	else
		zl_debug(o->events->reconnect_failed, NODE_FMT "attempt=%d error=\"%s\"",
		         NODE_ARGS(node), o->failures, err->msg);
	wait = zl_backoff_ms(o->failures, max_seconds);
	o->next_try_ms = now_ms + (wait > min_wait_ms ? wait : min_wait_ms);
	return change;
}

enum zl_outage_change outage_ok(struct zl_outage *o, int64_t now_ms, const char *node)
{
	enum zl_outage_change change = ZL_OUTAGE_SAME;

	if (o->failures > 0) {
		zl_info(o->events->recovered, NODE_FMT "down_ms=%lld attempts=%d", NODE_ARGS(node),
		        (long long)(now_ms - o->since_ms), o->failures);
		change = ZL_OUTAGE_ENDED;
	}
	o->failures = 0;
	o->next_try_ms = 0;
	return change;
}
