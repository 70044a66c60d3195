/*
 * Store, the interface: store.h's functions for every backend. Opening
 * chooses where the state lives from the state settings (a file: SQLite,
 * store_sqlite*.c; a conninfo: PostgreSQL, store_pg*.c); every other call
 * goes to the ops table of the backend that opened the store
 * (store_backend.h), so detection, relay and the commands never know which
 * one holds their state.
 */
#include "store_backend.h"
#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct zl_store *store_open(const struct zl_state_conf *state, bool read_only, struct zl_err *err)
{
	if (state->conninfo)
		return pg_store_open(state, read_only ? SPG_READ : SPG_WRITE, err);
	return sq_open(state->path, read_only, err);
}

struct zl_store *store_open_compete(const struct zl_state_conf *state, struct zl_err *err)
{
	if (state->conninfo)
		return pg_store_open(state, SPG_COMPETE, err);
	return sq_open(state->path, false, err);
}

int store_lead(struct zl_store *st, struct zl_err *err)
{
	return st->ops->lead ? st->ops->lead(st, err) : 1;
}

int store_heartbeat(struct zl_store *st, int timeout_ms, struct zl_err *err)
{
	return st->ops->heartbeat ? st->ops->heartbeat(st, timeout_ms, err) : 1;
}

void store_keepalive(struct zl_store *st)
{
	struct zl_err ignored = {0};

	if (st->ops->keepalive)
		st->ops->keepalive(st, &ignored);
}

int store_leader_info(struct zl_store *st, struct zl_leader_info *info, struct zl_err *err)
{
	memset(info, 0, sizeof(*info));
	return st->ops->leader_info ? st->ops->leader_info(st, info, err) : 0;
}

char *store_describe(const struct zl_state_conf *state)
{
	char *where, *out;
	size_t n;

	if (!state->conninfo)
		return strdup(state->path);
	if (!(where = conf_mask_conninfo(state->conninfo)))
		return NULL;
	n = strlen(where) + strlen(state->schema) + sizeof("schema  at ");
	if ((out = malloc(n)))
		snprintf(out, n, "schema %s at %s", state->schema, where);
	free(where);
	return out;
}

int store_exists(const struct zl_state_conf *state, struct zl_err *err)
{
	if (state->conninfo)
		return pg_store_exists(state, err);
	return access(state->path, F_OK) == 0 ? 1 : 0;
}

void store_close(struct zl_store *st)
{
	if (st)
		st->ops->close(st);
}

int store_request_backfill(const struct zl_state_conf *state, struct zl_err *err)
{
	if (state->conninfo)
		return pg_store_request_backfill(state, err);
	return sq_request_backfill(state->path, err);
}

int store_begin(struct zl_store *st, struct zl_err *err)
{
	return st->ops->begin(st, err);
}

int store_commit(struct zl_store *st, struct zl_err *err)
{
	return st->ops->commit(st, err);
}

void store_rollback(struct zl_store *st)
{
	st->ops->rollback(st);
}

int store_ranges_each(struct zl_store *st, enum zl_fp_kind kind,
                      int (*fn)(const struct zl_range_fp *r, void *arg), void *arg,
                      struct zl_err *err)
{
	return st->ops->ranges_each(st, kind, fn, arg, err);
}

int store_range_put(struct zl_store *st, const struct zl_range_fp *r, struct zl_err *err)
{
	return st->ops->range_put(st, r, err);
}

int store_range_delete(struct zl_store *st, enum zl_fp_kind kind, int64_t range, struct zl_err *err)
{
	return st->ops->range_delete(st, kind, range, err);
}

int store_ranges_clear(struct zl_store *st, struct zl_err *err)
{
	return st->ops->ranges_clear(st, err);
}

int store_ranges_cover_links(struct zl_store *st, int range_size, struct zl_err *err)
{
	return st->ops->ranges_cover_links(st, range_size, err);
}

struct zl_link_iter *store_links_range(struct zl_store *st, int64_t lo, int64_t hi,
                                       struct zl_err *err)
{
	return st->ops->links_range(st, lo, hi, err);
}

int store_links_next(struct zl_link_iter *it, const struct zl_link **link, struct zl_err *err)
{
	return it->st->ops->links_next(it, link, err);
}

void store_links_free(struct zl_link_iter *it)
{
	if (it)
		it->st->ops->links_free(it);
}

struct zl_link_iter *store_links_ids(struct zl_store *st, const int64_t *ids, size_t n,
                                     struct zl_err *err)
{
	return st->ops->links_ids(st, ids, n, err);
}

int store_link_put(struct zl_store *st, const struct zl_link *link, struct zl_err *err)
{
	return st->ops->link_put(st, link, err);
}

int store_link_delete(struct zl_store *st, int64_t id, struct zl_err *err)
{
	return st->ops->link_delete(st, id, err);
}

int store_outbox_add(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
                     struct zl_err *err)
{
	return st->ops->outbox_add(st, ev, link_id, err);
}

int store_outbox_stage(struct zl_store *st, const struct zl_event *ev, int64_t link_id,
                       struct zl_err *err)
{
	return st->ops->outbox_stage(st, ev, link_id, err);
}

int store_outbox_flush_staged(struct zl_store *st, struct zl_err *err)
{
	return st->ops->outbox_flush_staged(st, err);
}

int store_outbox_due(struct zl_store *st, int64_t now_ms, struct zl_outbox_row *rows, int max,
                     struct zl_err *err)
{
	return st->ops->outbox_due(st, now_ms, rows, max, err);
}

void store_outbox_rows_clear(struct zl_outbox_row *rows, int n)
{
	for (int i = 0; i < n; i++) {
		free(rows[i].type);
		free(rows[i].source);
		free(rows[i].subject);
		free(rows[i].body);
		memset(&rows[i], 0, sizeof(rows[i]));
	}
}

int store_outbox_each(struct zl_store *st, int (*fn)(const struct zl_outbox_full *r, void *arg),
                      void *arg, struct zl_err *err)
{
	return st->ops->outbox_each(st, fn, arg, err);
}

int store_outbox_put(struct zl_store *st, const struct zl_outbox_full *r, struct zl_err *err)
{
	return st->ops->outbox_put(st, r, err);
}

int store_outbox_high_water(struct zl_store *st, int64_t *seq, struct zl_err *err)
{
	return st->ops->outbox_high_water(st, seq, err);
}

int store_outbox_raise_high_water(struct zl_store *st, int64_t seq, struct zl_err *err)
{
	return st->ops->outbox_raise_high_water(st, seq, err);
}

int store_outbox_delivered(struct zl_store *st, int64_t upto, struct zl_err *err)
{
	return st->ops->outbox_delivered(st, upto, err);
}

int store_outbox_failed(struct zl_store *st, int64_t from, int64_t to, const char *error,
                        int64_t next_ms, struct zl_err *err)
{
	return st->ops->outbox_failed(st, from, to, error, next_ms, err);
}

int store_outbox_retry_now(struct zl_store *st, struct zl_err *err)
{
	return st->ops->outbox_retry_now(st, err);
}

int store_checkpoint_get(struct zl_store *st, struct zl_checkpoint *cp, struct zl_err *err)
{
	return st->ops->checkpoint_get(st, cp, err);
}

int store_checkpoint_put(struct zl_store *st, const struct zl_checkpoint *cp, struct zl_err *err)
{
	return st->ops->checkpoint_put(st, cp, err);
}

int store_counts(struct zl_store *st, struct zl_store_counts *c, struct zl_err *err)
{
	return st->ops->counts(st, c, err);
}

int store_outbox_summary(struct zl_store *st, int64_t *pending, int64_t *oldest, struct zl_err *err)
{
	return st->ops->outbox_summary(st, pending, oldest, err);
}

int64_t store_backfill(struct zl_store *st, const char *source, int64_t now_s, struct zl_err *err)
{
	return st->ops->backfill(st, source, now_s, err);
}

int store_take_backfill_request(struct zl_store *st, struct zl_err *err)
{
	return st->ops->take_backfill_request(st, err);
}

int store_meta_get(struct zl_store *st, const char *key, char *buf, size_t size, struct zl_err *err)
{
	return st->ops->meta_get(st, key, buf, size, err);
}

int store_meta_put(struct zl_store *st, const char *key, const char *value, struct zl_err *err)
{
	return st->ops->meta_put(st, key, value, err);
}
