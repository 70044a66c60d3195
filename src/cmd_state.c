/*
 * state copy: moves an installation's SQLite state into the (empty)
 * PostgreSQL state its configuration names, so that it changes where its
 * state lives without announcing any link again.
 *
 * Everything the state holds is copied through the store interface, in one
 * transaction of the target: links, both kinds of range fingerprints, the
 * outbox (each row as it is: its event id, body, attempts and last error;
 * its seq is the target's next, the order kept), the checkpoint and the
 * meta settings zaaklink keeps (range_size, published_total). The source
 * file is opened read-only and left as it was. A target that already holds
 * anything is refused (exit 73): a copy over a state would mix two
 * installations' histories. The target is locked as any writer locks it,
 * so no daemon can write it meanwhile; the daemon using the file should be
 * stopped first, or what it records after the copy stays behind.
 */
#include "app.h"
#include "commands.h"
#include "log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct options {
	const char *from;
};

static int cmd_state(struct zl_conf *conf, const void *opts, int argc, char **argv);
static int check(void *opts, int argc, char **argv);

static const char *const synopsis[] = {"state copy --from FILE", NULL};

static const struct zl_opt_sub subcommands[] = {
    {"copy", "copy the SQLite state FILE into the empty PostgreSQL state of state.conninfo"},
    {NULL, NULL}};

static const struct zl_option state_options[] = {
    ZL_OPT_STRING(0, "from", "FILE", struct options, from, "the SQLite state file to copy"),
    ZL_OPT_END(),
};

const struct zl_command zl_cmd_state = {
    .cli = {.name = "state",
            .synopsis = synopsis,
            .about = "copy an SQLite state into PostgreSQL (state.conninfo)",
            .subcommands = subcommands,
            .options = state_options,
            .max_args = 1},
    .state = ZL_STATE_NONE,
    .opts_size = sizeof(struct options),
    .check = check,
    .run = cmd_state,
};

static int usage_error(const char *msg)
{
	fprintf(stderr, "zaaklink: state: %s\n", msg);
	zl_opt_synopsis(&zl_cmd_state.cli, stderr);
	return ZL_EX_USAGE;
}

static int check(void *opts, int argc, char **argv)
{
	const struct options *o = opts;

	if (argc < 1)
		return usage_error("missing subcommand (copy)");
	if (strcmp(argv[0], "copy") != 0)
		return usage_error("unknown subcommand, expected copy");
	if (!o->from || !*o->from)
		return usage_error("copy needs --from FILE");
	return 0;
}

/* What the copy counts as it goes. */
struct copy {
	struct zl_store *to;
	struct zl_err *err;
	int64_t ranges, links, events;
	int64_t high_water; /* the highest outbox seq the file handed out */
};

static int copy_range(const struct zl_range_fp *r, void *arg)
{
	struct copy *c = arg;

	c->ranges++;
	return store_range_put(c->to, r, c->err) < 0 ? -1 : 0;
}

static int copy_event(const struct zl_outbox_full *r, void *arg)
{
	struct copy *c = arg;

	c->events++;
	return store_outbox_put(c->to, r, c->err) < 0 ? -1 : 0;
}

static int count_range(const struct zl_range_fp *r, void *arg)
{
	(void)r;
	(*(int64_t *)arg)++;
	return 0;
}

/* 0 when the target holds nothing at all, else -1 with why in err. */
static int target_empty(struct zl_store *to, const char *where, struct zl_err *err)
{
	struct zl_store_counts n;
	struct zl_checkpoint cp;
	int64_t ranges = 0;
	char v[64];
	int has_cp, has_meta;

	if ((has_cp = store_checkpoint_get(to, &cp, err)) < 0 || store_counts(to, &n, err) < 0 ||
	    store_ranges_each(to, ZL_FP_LINKS, count_range, &ranges, err) < 0 ||
	    store_ranges_each(to, ZL_FP_KLANTCONTACTS, count_range, &ranges, err) < 0 ||
	    (has_meta = store_meta_get(to, "range_size", v, sizeof(v), err)) < 0)
		return -1;
	if (has_cp || has_meta || ranges || n.links || n.skipped || n.pending || n.published_total)
		return zl_err_set(
		    err, ZL_EX_CANTCREAT,
		    "the target state %s is not empty (%lld links, %lld pending events, "
		    "%lld passes): refusing to copy into it",
		    where, (long long)(n.links + n.skipped), (long long)n.pending,
		    (long long)(has_cp ? cp.passes : 0));
	return 0;
}

/* Copies every table of from into to, inside to's open transaction. */
static int copy_all(struct zl_store *from, struct copy *c)
{
	static const char *const meta_keys[] = {"range_size", "published_total"};
	struct zl_link_iter *it;
	const struct zl_link *l;
	struct zl_checkpoint cp;
	char v[256];
	int rc;

	if (store_ranges_each(from, ZL_FP_LINKS, copy_range, c, c->err) != 0 ||
	    store_ranges_each(from, ZL_FP_KLANTCONTACTS, copy_range, c, c->err) != 0)
		return -1;
	if (!(it = store_links_range(from, INT64_MIN, INT64_MAX, c->err)))
		return -1;
	while ((rc = store_links_next(it, &l, c->err)) == 1) {
		c->links++;
		if (store_link_put(c->to, l, c->err) < 0) {
			rc = -1;
			break;
		}
	}
	store_links_free(it);
	if (rc < 0 || store_outbox_each(from, copy_event, c, c->err) != 0)
		return -1;
	/* Each event keeps its seq, and new ones go on above every seq the
	 * file ever handed out: a consumer that remembers seqs (deliver)
	 * would take a lower one for an old event. */
	if (store_outbox_high_water(from, &c->high_water, c->err) < 0 ||
	    store_outbox_raise_high_water(c->to, c->high_water, c->err) < 0)
		return -1;
	if ((rc = store_checkpoint_get(from, &cp, c->err)) < 0 ||
	    (rc == 1 && store_checkpoint_put(c->to, &cp, c->err) < 0))
		return -1;
	for (size_t i = 0; i < ZL_ARRAY_LEN(meta_keys); i++) {
		if ((rc = store_meta_get(from, meta_keys[i], v, sizeof(v), c->err)) < 0 ||
		    (rc == 1 && store_meta_put(c->to, meta_keys[i], v, c->err) < 0))
			return -1;
	}
	return 0;
}

static int cmd_state(struct zl_conf *conf, const void *opts, int argc, char **argv)
{
	const struct options *o = opts;
	struct zl_state_conf file = {.path = (char *)o->from};
	struct zl_store *from = NULL, *to = NULL;
	struct zl_err err = {0};
	struct copy c = {.err = &err};
	char *where = NULL;
	int rc = ZL_EX_OK;

	(void)argc, (void)argv;
	if (!conf->state.conninfo) {
		fprintf(
		    stderr,
		    "zaaklink: %s: state: state copy needs state.conninfo (the PostgreSQL state to "
		    "copy into); this configuration keeps its state in the file %s\n",
		    conf->file, conf->state.path);
		return ZL_EX_CONFIG;
	}
	if (!(where = store_describe(&conf->state))) {
		zl_err_set(&err, ZL_EX_SOFTWARE, "out of memory while describing the state");
		return app_fail(&err);
	}
	if (!(from = store_open(&file, true, &err)) ||
	    !(to = store_open(&conf->state, false, &err)) || store_begin(to, &err) < 0) {
		rc = app_fail(&err);
		goto out;
	}
	c.to = to;
	if (target_empty(to, where, &err) < 0 || copy_all(from, &c) < 0 ||
	    store_commit(to, &err) < 0) {
		store_rollback(to);
		rc = app_fail(&err);
		goto out;
	}
	zl_info("state.copied", "from=%s links=%lld ranges=%lld events=%lld high_water_seq=%lld",
	        o->from, (long long)c.links, (long long)c.ranges, (long long)c.events,
	        (long long)c.high_water);
	printf("copied %lld links, %lld range fingerprints and %lld pending events from %s into "
	       "%s; point state.conninfo at it and start zaaklink: nothing is announced again\n",
	       (long long)c.links, (long long)c.ranges, (long long)c.events, o->from, where);
out:
	store_close(from);
	store_close(to);
	free(where);
	return rc;
}
