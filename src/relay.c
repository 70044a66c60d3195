/* Relay: moves recorded events from the outbox to the broker, in order. */
#include "relay.h"
#include "event.h"
#include "log.h"
#include "outage.h"

#include <stdlib.h>

void relay_init(struct zl_relay *r, const struct zl_amqp_conf *conf, struct zl_store *st,
                struct zl_publisher *pub)
{
	r->conf = conf;
	r->store = st;
	r->pub = pub;
	r->failures = 0;
	r->published = 0;
	r->published_by_type[ZL_GEKOPPELD] = r->published_by_type[ZL_ONTKOPPELD] = 0;
	r->retried = 0;
}

int relay_step(struct zl_relay *r, struct zl_err *err)
{
	int max = r->conf->batch_size;
	struct zl_outbox_row *rows = calloc((size_t)max, sizeof(*rows));
	struct zl_err pub_err = {0};
	int n, acked;

	if (!rows)
		return zl_err_set(err, ZL_EX_SOFTWARE, "out of memory for a batch of %d events",
		                  max);
	n = store_outbox_due(r->store, zl_wall_ms(), rows, max, err);
	if (n <= 0) {
		free(rows);
		return n;
	}
	acked = publisher_publish(r->pub, rows, n, &pub_err);
	if (acked > 0 && store_outbox_delivered(r->store, rows[acked - 1].seq, err) < 0) {
		/* Confirmed but not recorded as such: published again later,
		 * with the same ids, which consumers deduplicate. */
		store_outbox_rows_clear(rows, n);
		free(rows);
		return -1;
	}
	if (acked > 0)
		r->published += acked;
	for (int i = 0; i < acked; i++) {
		enum zl_event_type t;

		if (event_type_parse(rows[i].type, &t) == 0)
			r->published_by_type[t]++;
	}
	if (acked == n) {
		r->failures = 0;
		store_outbox_rows_clear(rows, n);
		free(rows);
		return n;
	}
	/* Everything from the first unconfirmed row on is sent again, in
	 * order, after the backoff: a later event never stays ahead. */
	r->failures++;
	{
		int first = acked < 0 ? 0 : acked;
		int64_t next = zl_wall_ms() + zl_backoff_ms(r->failures, r->conf->max_backoff);

		*err = pub_err;
		r->retried += n - first;
		if (store_outbox_failed(r->store, rows[first].seq, rows[n - 1].seq, pub_err.msg,
		                        next, err) < 0)
			zl_err_prefix(err, "%s; and", pub_err.msg);
	}
	store_outbox_rows_clear(rows, n);
	free(rows);
	return -1;
}
