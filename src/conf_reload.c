/*
 * Reload (SIGHUP) by the settings table: which changed settings a running
 * daemon can take, and taking them.
 *
 * A reload is all or nothing, so that the daemon always runs one version
 * of the file: a new file that does not load, or that changes a setting
 * whose row is ZL_RESTART, is refused whole and the running configuration
 * stays as it was. Otherwise every changed ZL_RELOAD setting is moved into
 * the running configuration in place: other modules keep pointers into it
 * (the relay, the publisher and the retry controller hold &conf->amqp), so
 * it is never replaced, only its reloadable fields are. Each row's reload
 * class is set in the table (conf_table.c), with the reason.
 */
#include "conf_settings.h"

#include <stdio.h>
#include <string.h>

/* True when a reload may take a change of row; an unclassified row is never taken. */
static bool reloadable(const struct zl_setting *row)
{
	return row->reload == ZL_RELOAD && row->type->take;
}

/* Appends "group.name" of row to a comma-separated list in buf. */
static void list_add(char *buf, size_t size, const struct zl_setting *row)
{
	size_t len = strlen(buf);

	if (len < size)
		snprintf(buf + len, size - len, "%s%s.%s", len ? "," : "", row->group, row->name);
}

int conf_reload_apply(struct zl_conf *cur, struct zl_conf *next, struct zl_conf_changes *changes)
{
	changes->restart[0] = '\0';
	changes->applied[0] = '\0';
	for (size_t i = 0; i < zl_n_settings; i++) {
		const struct zl_setting *row = &zl_settings[i];

		if (!reloadable(row) && row->type->differs(cur, next, row))
			list_add(changes->restart, sizeof(changes->restart), row);
	}
	if (changes->restart[0])
		return 1;
	for (size_t i = 0; i < zl_n_settings; i++) {
		const struct zl_setting *row = &zl_settings[i];

		if (reloadable(row) && row->type->differs(cur, next, row)) {
			row->type->take(cur, next, row);
			list_add(changes->applied, sizeof(changes->applied), row);
		}
	}
	return 0;
}

int conf_reload(struct zl_conf *cur, zl_conf_check_fn check, struct zl_conf_changes *changes,
                struct zl_err *err)
{
	struct zl_conf *next = conf_load(cur->file, err);
	int rc;

	changes->restart[0] = '\0';
	changes->applied[0] = '\0';
	if (!next)
		return -1;
	if (check && check(next, err) < 0) {
		conf_free(next);
		return -1;
	}
	rc = conf_reload_apply(cur, next, changes);
	conf_free(next);
	return rc;
}
