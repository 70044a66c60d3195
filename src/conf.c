/*
 * Configuration loader: reads zaaklink.conf by the settings table
 * (include/conf_settings.h), group by group, and owns the kinds of value
 * every table row may have (string, integer, number, boolean, choice).
 *
 * A load goes: the defaults of every row; the file, parsed (conf_parse.c);
 * the unknown-setting check against the table's names, before any value
 * is read, so that a misspelt setting is reported as such rather than as a
 * missing one; then per group, first every setting the file sets is read
 * (its kind and bounds), then every row is checked in table order (required,
 * not empty, its own checks), then the group's checks between settings,
 * then the same for the group's late rows, whose checks rely on the rest; the
 * environment overrides last, checked like the file's values; and a warning
 * for every file that holds a password and is readable by its group or
 * others. Errors are one line, "FILE:LINE: setting: problem", code
 * ZL_EX_CONFIG.
 */
#include "conf_settings.h"
#include "log.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *zl_conf_setting_file(const struct zl_conf_loader *ld, const config_setting_t *s)
{
	const char *f = s ? config_setting_source_file(s) : NULL;

	return f ? f : ld->file;
}

/* Writes "FILE:LINE" of setting s into buf; just "FILE" for a default (s NULL). */
static const char *position(const struct zl_conf_loader *ld, const config_setting_t *s, char *buf,
                            size_t size)
{
	if (s)
		snprintf(buf, size, "%s:%u", zl_conf_setting_file(ld, s),
		         config_setting_source_line(s));
	else
		snprintf(buf, size, "%s", ld->file);
	return buf;
}

int zl_conf_fail_at(struct zl_conf_loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	char msg[900], pos[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return zl_err_set(ld->err, ZL_EX_CONFIG, "%s: %s", position(ld, s, pos, sizeof(pos)), msg);
}

int zl_conf_fail_oom(struct zl_conf_loader *ld, const char *doing)
{
	return zl_err_set(ld->err, ZL_EX_SOFTWARE,
	                  "could not load configuration %s: out of memory while %s", ld->file,
	                  doing);
}

const char *zl_conf_where(const struct zl_conf_loader *ld, const config_setting_t *s,
                          const char *group, const char *name, char *buf, size_t size)
{
	size_t n = strlen(position(ld, s, buf, size));

	snprintf(buf + n, size - n, ": %s.%s", group, name);
	return buf;
}

config_setting_t *zl_conf_lookup(const struct zl_conf_loader *ld, const char *group,
                                 const char *name)
{
	config_setting_t *g = config_setting_get_member(config_root_setting(&ld->cfg), group);

	return g ? config_setting_get_member(g, name) : NULL;
}

int zl_conf_fail_missing(struct zl_conf_loader *ld, const char *group, const char *name)
{
	const config_setting_t *g = config_setting_get_member(config_root_setting(&ld->cfg), group);

	if (g)
		return zl_conf_fail_at(ld, g, "missing required setting '%s.%s'", group, name);
	return zl_err_set(ld->err, ZL_EX_CONFIG, "%s: missing required setting '%s.%s'", ld->file,
	                  group, name);
}

const struct zl_setting *zl_setting_find(const char *group, const char *name)
{
	for (size_t i = 0; i < zl_n_settings; i++) {
		const struct zl_setting *row = &zl_settings[i];

		if (!(row->flags & ZL_SET_DERIVED) && strcmp(row->group, group) == 0 &&
		    strcmp(row->name, name) == 0)
			return row;
	}
	return NULL;
}

static bool group_known(const char *name)
{
	for (size_t i = 0; i < zl_n_setting_groups; i++) {
		if (strcmp(zl_setting_groups[i].name, name) == 0)
			return true;
	}
	return false;
}

/* Rejects groups and settings the table does not have, and groups that are not groups. */
static int check_unknown(struct zl_conf_loader *ld)
{
	const config_setting_t *root = config_root_setting(&ld->cfg);
	int n = config_setting_length(root);

	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(root, (unsigned int)i);
		const char *gname = config_setting_name(g);
		int m;

		if (!group_known(gname))
			return zl_conf_fail_at(ld, g, "unknown setting '%s'", gname);
		if (!config_setting_is_group(g))
			return zl_conf_fail_at(ld, g, "%s: expected a group ({ ... })", gname);
		m = config_setting_length(g);
		for (int j = 0; j < m; j++) {
			const config_setting_t *s = config_setting_get_elem(g, (unsigned int)j);

			if (!zl_setting_find(gname, config_setting_name(s)))
				return zl_conf_fail_at(ld, s, "unknown setting '%s.%s'", gname,
				                       config_setting_name(s));
		}
	}
	return 0;
}

/* ---- string: char *, NULL when unset ---- */

static bool str_differs(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) != 0 : a != b;
}

/* Replaces the row's string with a copy of value. */
static int set_string(struct zl_conf_loader *ld, const struct zl_setting *row, const char *value)
{
	char **field = &ZL_FIELD(ld->conf, row, char *);
	char *copy = strdup(value), doing[128];

	if (!copy) {
		snprintf(doing, sizeof(doing), "copying %s.%s", row->group, row->name);
		return zl_conf_fail_oom(ld, doing);
	}
	free(*field);
	*field = copy;
	return 0;
}

static int string_read(struct zl_conf_loader *ld, const struct zl_setting *row,
                       const config_setting_t *s)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return zl_conf_fail_at(ld, s, "%s.%s: expected a string", row->group, row->name);
	return set_string(ld, row, config_setting_get_string(s));
}

static int string_init(struct zl_conf *conf, const struct zl_setting *row)
{
	if (!row->def_str)
		return 0;
	ZL_FIELD(conf, row, char *) = strdup(row->def_str);
	return ZL_FIELD(conf, row, char *) ? 0 : -1;
}

static int string_from_env(struct zl_conf_loader *ld, const struct zl_setting *row,
                           const char *text)
{
	if (row->valid && row->valid(ld->err, row->env, text) < 0)
		return -1;
	return set_string(ld, row, text);
}

static bool string_differs(const struct zl_conf *a, const struct zl_conf *b,
                           const struct zl_setting *row)
{
	return str_differs(ZL_FIELD(a, row, char *), ZL_FIELD(b, row, char *));
}

static void string_take(struct zl_conf *cur, struct zl_conf *next, const struct zl_setting *row)
{
	char *old = ZL_FIELD(cur, row, char *);

	ZL_FIELD(cur, row, char *) = ZL_FIELD(next, row, char *);
	ZL_FIELD(next, row, char *) = old;
}

static void string_release(struct zl_conf *conf, const struct zl_setting *row)
{
	char *v = ZL_FIELD(conf, row, char *);

	if (v && (row->flags & ZL_SET_SECRET))
		explicit_bzero(v, strlen(v));
	free(v);
	ZL_FIELD(conf, row, char *) = NULL;
}

const struct zl_setting_type zl_type_string = {
    .name = "string",
    .read = string_read,
    .init = string_init,
    .from_env = string_from_env,
    .differs = string_differs,
    .take = string_take,
    .release = string_release,
};

/* ---- numbers: int and double, within the row's bounds ---- */

/* Fails for v outside the row's bounds; NaN is never within them. */
static int check_bounds(struct zl_conf_loader *ld, const struct zl_setting *row,
                        const config_setting_t *s, double v, const char *shown)
{
	if (v >= row->min && v <= row->max)
		return 0;
	return zl_conf_fail_at(ld, s, "%s.%s: %s is out of range, expected %.15g to %.15g",
	                       row->group, row->name, shown, row->min, row->max);
}

static int int_read(struct zl_conf_loader *ld, const struct zl_setting *row,
                    const config_setting_t *s)
{
	char shown[32];
	long long v;

	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return zl_conf_fail_at(ld, s, "%s.%s: expected an integer", row->group, row->name);
	v = config_setting_get_int64(s);
	snprintf(shown, sizeof(shown), "%lld", v);
	/* Beyond int is out of range whatever the bounds say: never wrapped. */
	if (check_bounds(ld, row, s, v >= INT_MIN && v <= INT_MAX ? (double)v : NAN, shown) < 0)
		return -1;
	ZL_FIELD(ld->conf, row, int) = (int)v;
	return 0;
}

static int int_init(struct zl_conf *conf, const struct zl_setting *row)
{
	ZL_FIELD(conf, row, int) = (int)row->def_num;
	return 0;
}

static bool int_differs(const struct zl_conf *a, const struct zl_conf *b,
                        const struct zl_setting *row)
{
	return ZL_FIELD(a, row, int) != ZL_FIELD(b, row, int);
}

static void int_take(struct zl_conf *cur, struct zl_conf *next, const struct zl_setting *row)
{
	ZL_FIELD(cur, row, int) = ZL_FIELD(next, row, int);
}

const struct zl_setting_type zl_type_int = {
    .name = "int",
    .read = int_read,
    .init = int_init,
    .differs = int_differs,
    .take = int_take,
};

static int double_read(struct zl_conf_loader *ld, const struct zl_setting *row,
                       const config_setting_t *s)
{
	char shown[32];
	double v;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		v = (double)config_setting_get_int64(s);
		break;
	case CONFIG_TYPE_FLOAT:
		v = config_setting_get_float(s);
		break;
	default:
		return zl_conf_fail_at(ld, s, "%s.%s: expected a number", row->group, row->name);
	}
	snprintf(shown, sizeof(shown), "%.15g", v);
	if (check_bounds(ld, row, s, isfinite(v) ? v : NAN, shown) < 0)
		return -1;
	ZL_FIELD(ld->conf, row, double) = v;
	return 0;
}

static int double_init(struct zl_conf *conf, const struct zl_setting *row)
{
	ZL_FIELD(conf, row, double) = row->def_num;
	return 0;
}

static bool double_differs(const struct zl_conf *a, const struct zl_conf *b,
                           const struct zl_setting *row)
{
	return ZL_FIELD(a, row, double) != ZL_FIELD(b, row, double);
}

static void double_take(struct zl_conf *cur, struct zl_conf *next, const struct zl_setting *row)
{
	ZL_FIELD(cur, row, double) = ZL_FIELD(next, row, double);
}

const struct zl_setting_type zl_type_double = {
    .name = "double",
    .read = double_read,
    .init = double_init,
    .differs = double_differs,
    .take = double_take,
};

/* ---- bool ---- */

static int bool_read(struct zl_conf_loader *ld, const struct zl_setting *row,
                     const config_setting_t *s)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return zl_conf_fail_at(ld, s, "%s.%s: expected true or false", row->group,
		                       row->name);
	ZL_FIELD(ld->conf, row, bool) = config_setting_get_bool(s) != 0;
	return 0;
}

static int bool_init(struct zl_conf *conf, const struct zl_setting *row)
{
	ZL_FIELD(conf, row, bool) = row->def_num != 0;
	return 0;
}

static bool bool_differs(const struct zl_conf *a, const struct zl_conf *b,
                         const struct zl_setting *row)
{
	return ZL_FIELD(a, row, bool) != ZL_FIELD(b, row, bool);
}

static void bool_take(struct zl_conf *cur, struct zl_conf *next, const struct zl_setting *row)
{
	ZL_FIELD(cur, row, bool) = ZL_FIELD(next, row, bool);
}

const struct zl_setting_type zl_type_bool = {
    .name = "bool",
    .read = bool_read,
    .init = bool_init,
    .differs = bool_differs,
    .take = bool_take,
};

/* ---- choice: one of the row's words, held as its index in an int-sized enum ---- */

static int choice_read(struct zl_conf_loader *ld, const struct zl_setting *row,
                       const config_setting_t *s)
{
	char expected[256] = "";
	const char *v;
	size_t len = 0;
	int n = 0;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return zl_conf_fail_at(ld, s, "%s.%s: expected a string", row->group, row->name);
	v = config_setting_get_string(s);
	for (; row->choices[n]; n++) {
		if (strcmp(v, row->choices[n]) == 0) {
			ZL_FIELD(ld->conf, row, int) = n;
			return 0;
		}
	}
	/* "a or b", "a, b or c" */
	for (int i = 0; i < n && len < sizeof(expected); i++)
		len += (size_t)snprintf(expected + len, sizeof(expected) - len, "%s%s",
		                        i == 0       ? ""
		                        : i == n - 1 ? " or "
		                                     : ", ",
		                        row->choices[i]);
	return zl_conf_fail_at(ld, s, "%s.%s: unknown value '%s', expected %s", row->group,
	                       row->name, v, expected);
}

const struct zl_setting_type zl_type_choice = {
    .name = "choice",
    .read = choice_read,
    .init = int_init,
    .differs = int_differs,
    .take = int_take,
};

/* ---- the password warning ---- */

void zl_conf_warn_readable(const char *file, mode_t mode, const char *settings)
{
	char quoted[512];

	zl_warn("config.password_readable",
	        "file=\"%s\" mode=%04o settings=%s reason=\"a file holding a password is readable "
	        "by %s\"",
	        zl_log_quote(file, quoted, sizeof(quoted)), (unsigned)(mode & 07777), settings,
	        (mode & S_IROTH) ? "others" : "its group");
}

#define EXPOSED_FILES (ZL_MAX_AMQP_URLS + 1)
#define EXPOSED_NAMES 8

/* The files that hold a password, with the settings that hold it there. */
struct exposed {
	const char *file[EXPOSED_FILES];
	char names[EXPOSED_FILES][EXPOSED_NAMES][64];
	int n_names[EXPOSED_FILES];
	int n;
};

/* Adds name, read from setting s, to its file's names, kept in alphabetical order. */
static void note_password(const struct zl_conf_loader *ld, struct exposed *x,
                          const config_setting_t *s, const char *name)
{
	const char *file = zl_conf_setting_file(ld, s);
	int i = 0, k = 0, *n;

	while (i < x->n && strcmp(x->file[i], file) != 0)
		i++;
	if (i == x->n) {
		if (x->n == EXPOSED_FILES)
			return;
		x->file[x->n++] = file;
		x->n_names[i] = 0;
	}
	n = &x->n_names[i];
	while (k < *n && strcmp(x->names[i][k], name) < 0)
		k++;
	if ((k < *n && strcmp(x->names[i][k], name) == 0) || *n == EXPOSED_NAMES)
		return;
	memmove(x->names[i][k + 1], x->names[i][k], sizeof(x->names[i][0]) * (size_t)(*n - k));
	snprintf(x->names[i][k], sizeof(x->names[i][k]), "%s", name);
	(*n)++;
}

/*
 * Warns once per file when a password written in the configuration (in a
 * row with has_password: amqp.url, source.conninfo) is in a file its group
 * or others can read: amqp.password_file, a systemd credential, PGPASSFILE
 * keep it out.
 */
static void warn_exposed_passwords(const struct zl_conf_loader *ld)
{
	struct exposed x = {.n = 0};
	struct stat st;

	for (size_t r = 0; r < zl_n_settings; r++) {
		const struct zl_setting *row = &zl_settings[r];
		const config_setting_t *s;
		char name[64];

		if (!row->has_password || !(s = zl_conf_lookup(ld, row->group, row->name)))
			continue;
		snprintf(name, sizeof(name), "%s.%s", row->group, row->name);
		if (config_setting_type(s) == CONFIG_TYPE_STRING) {
			if (row->has_password(config_setting_get_string(s)))
				note_password(ld, &x, s, name);
			continue;
		}
		for (int i = 0; i < config_setting_length(s); i++) {
			const config_setting_t *e = config_setting_get_elem(s, (unsigned int)i);

			if (config_setting_type(e) == CONFIG_TYPE_STRING &&
			    row->has_password(config_setting_get_string(e)))
				note_password(ld, &x, e, name);
		}
	}
	for (int i = 0; i < x.n; i++) {
		char settings[EXPOSED_NAMES * 64] = "";
		size_t len = 0;

		for (int k = 0; k < x.n_names[i] && len < sizeof(settings); k++)
			len += (size_t)snprintf(settings + len, sizeof(settings) - len, "%s%s",
			                        k ? "," : "", x.names[i][k]);
		if (stat(x.file[i], &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
			zl_conf_warn_readable(x.file[i], st.st_mode, settings);
	}
}

/* ---- the load ---- */

/* A configuration holding every row's default; NULL when out of memory. */
static struct zl_conf *conf_new_defaults(const char *file)
{
	struct zl_conf *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (!(c->file = strdup(file))) {
		conf_free(c);
		return NULL;
	}
	for (size_t i = 0; i < zl_n_settings; i++) {
		if (zl_settings[i].type->init(c, &zl_settings[i]) < 0) {
			conf_free(c);
			return NULL;
		}
	}
	return c;
}

/* Checks one row once its group is read: required, not empty, its own checks. */
static int check_row(struct zl_conf_loader *ld, const struct zl_setting *row)
{
	const config_setting_t *s = zl_conf_lookup(ld, row->group, row->name);

	if (row->type == &zl_type_string) {
		const char *v = ZL_FIELD(ld->conf, row, char *);
		char prefix[512];

		if (!v && (row->flags & ZL_SET_REQUIRED) && !(row->env && getenv(row->env)))
			return zl_conf_fail_missing(ld, row->group, row->name);
		if (v && !*v && (row->flags & ZL_SET_NONEMPTY))
			return zl_conf_fail_at(ld, s, "%s.%s: must not be empty", row->group,
			                       row->name);
		if (v && row->valid &&
		    row->valid(ld->err,
		               zl_conf_where(ld, s, row->group, row->name, prefix, sizeof(prefix)),
		               v) < 0)
			return -1;
	}
	return row->check ? row->check(ld, row, s) : 0;
}

/* True when row is one of group g's, read in the step of rows with flag late. */
static bool in_step(const struct zl_setting *row, const struct zl_setting_group *g, unsigned late)
{
	return strcmp(row->group, g->name) == 0 && !(row->flags & ZL_SET_DERIVED) &&
	       (row->flags & ZL_SET_LATE) == late;
}

/* Reads the settings of group g the file sets, then checks every one, in table order. */
static int load_rows(struct zl_conf_loader *ld, const struct zl_setting_group *g, unsigned late)
{
	for (size_t i = 0; i < zl_n_settings; i++) {
		const struct zl_setting *row = &zl_settings[i];
		const config_setting_t *s;

		if (in_step(row, g, late) && (s = zl_conf_lookup(ld, row->group, row->name)) &&
		    row->type->read(ld, row, s) < 0)
			return -1;
	}
	for (size_t i = 0; i < zl_n_settings; i++) {
		if (in_step(&zl_settings[i], g, late) && check_row(ld, &zl_settings[i]) < 0)
			return -1;
	}
	return 0;
}

/* Reads and checks one group: its settings, the group's checks, then its late settings. */
static int load_group(struct zl_conf_loader *ld, const struct zl_setting_group *g)
{
	if (load_rows(ld, g, 0) < 0 || (g->check && g->check(ld) < 0))
		return -1;
	return load_rows(ld, g, ZL_SET_LATE);
}

/* Applies the environment variables of the rows that have one (ZAAKLINK_*). */
static int apply_environment(struct zl_conf_loader *ld)
{
	for (size_t i = 0; i < zl_n_settings; i++) {
		const struct zl_setting *row = &zl_settings[i];
		const char *text = row->env ? getenv(row->env) : NULL;

		if (text && row->type->from_env(ld, row, text) < 0)
			return -1;
	}
	return 0;
}

struct zl_conf *conf_load(const char *file, struct zl_err *err)
{
	return conf_load_for(file, ZL_STATE_WRITE, err);
}

struct zl_conf *conf_load_for(const char *file, enum zl_state_use use, struct zl_err *err)
{
	struct zl_conf_loader ld = {.file = file, .state_use = use, .err = err};
	int rc;

	ld.conf = conf_new_defaults(file);
	if (!ld.conf) {
		zl_err_set(err, ZL_EX_SOFTWARE,
		           "could not load configuration %s: out of memory while setting the "
		           "defaults",
		           file);
		return NULL;
	}
	config_init(&ld.cfg);
	rc = zl_conf_parse_file(&ld);
	if (rc == 0)
		rc = check_unknown(&ld);
	for (size_t i = 0; rc == 0 && i < zl_n_setting_groups; i++)
		rc = load_group(&ld, &zl_setting_groups[i]);
	if (rc == 0)
		rc = apply_environment(&ld);
	if (rc == 0)
		warn_exposed_passwords(&ld);
	config_destroy(&ld.cfg);
	if (rc < 0) {
		conf_free(ld.conf);
		return NULL;
	}
	return ld.conf;
}

void conf_free(struct zl_conf *conf)
{
	if (!conf)
		return;
	for (size_t i = 0; i < zl_n_settings; i++) {
		if (zl_settings[i].type->release)
			zl_settings[i].type->release(conf, &zl_settings[i]);
	}
	free(conf->file);
	free(conf);
}
