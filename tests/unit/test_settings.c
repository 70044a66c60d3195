/*
 * Unit tests of the settings table (include/conf_settings.h): every row has
 * a reload class and a complete kind of value, every setting of the example
 * file has a row, a reload takes a changed ZL_RELOAD setting and refuses a
 * changed ZL_RESTART one by its name, and the loader enforces the table's
 * defaults and bounds with the usual message.
 */
#include "conf_settings.h"
#include "log.h"
#include "unit.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_DB "/tmp/zl-test-settings-never-created.db"

/* Replaces the content of file with text. */
static void rewrite(const char *file, const char *text)
{
	FILE *f = fopen(file, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	fclose(f);
}

/*
 * A complete file with line added inside group (its own group when it is
 * not source, state or events); *line_no is the line it is on.
 */
static void build(const char *group, const char *line, char *out, size_t size, int *line_no)
{
	static const char *const fixed[][2] = {
	    {"source", "  conninfo = \"host=db\";\n  base_url = \"https://ok.example\";\n"},
	    {"state", "  path = \"" STATE_DB "\";\n"},
	    {"events", "  source = \"urn:test\";\n"},
	};
	bool placed = false;
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < ZL_ARRAY_LEN(fixed); i++) {
		n += (size_t)snprintf(out + n, size - n, "%s: {\n%s", fixed[i][0], fixed[i][1]);
		if (line && strcmp(group, fixed[i][0]) == 0) {
			for (const char *p = out; (p = strchr(p, '\n')); p++)
				(*line_no)++;
			*line_no += 1;
			n += (size_t)snprintf(out + n, size - n, "  %s\n", line);
			placed = true;
		}
		n += (size_t)snprintf(out + n, size - n, "};\n");
	}
	if (line && !placed) {
		n += (size_t)snprintf(out + n, size - n, "%s: {\n", group);
		for (const char *p = out; (p = strchr(p, '\n')); p++)
			(*line_no)++;
		*line_no += 1;
		snprintf(out + n, size - n, "  %s\n};\n", line);
	}
	ck_assert_uint_lt(strlen(out), size - 1);
}

/* Loads text, which must be accepted; the caller frees conf and file. */
static struct zl_conf *load_ok(const char *text, char **file)
{
	struct zl_err err = {0};
	struct zl_conf *conf;

	*file = unit_write_temp("settings", text);
	conf = conf_load(*file, &err);
	ck_assert_msg(conf != NULL, "rejected: %s", err.msg);
	return conf;
}

static bool group_known(const char *name)
{
	for (size_t i = 0; i < zl_n_setting_groups; i++) {
		if (strcmp(zl_setting_groups[i].name, name) == 0)
			return true;
	}
	return false;
}

static bool numeric(const struct zl_setting *row)
{
	return row->type == &zl_type_int || row->type == &zl_type_double;
}

/* A row without a reload class, or one a reload could not apply, fails here. */
START_TEST(test_every_row_complete)
{
	ck_assert_uint_gt(zl_n_settings, 0);
	for (size_t i = 0; i < zl_n_settings; i++) {
		const struct zl_setting *row = &zl_settings[i];
		const struct zl_setting_type *t = row->type;

		ck_assert_msg(row->group && row->name && *row->name, "row %zu has no name", i);
		ck_assert_msg(row->reload == ZL_RELOAD || row->reload == ZL_RESTART,
		              "%s.%s: no reload class (ZL_RELOAD or ZL_RESTART)", row->group,
		              row->name);
		ck_assert_msg(group_known(row->group), "%s.%s: group not in zl_setting_groups",
		              row->group, row->name);
		ck_assert_msg(t && t->name && t->read && t->init && t->differs,
		              "%s.%s: incomplete kind of value", row->group, row->name);
		ck_assert_msg(row->reload != ZL_RELOAD || t->take,
		              "%s.%s: ZL_RELOAD, but a %s cannot be taken by a reload", row->group,
		              row->name, t->name);
		ck_assert_msg(!row->env || t->from_env, "%s.%s: %s, but a %s has no override",
		              row->group, row->name, row->env, t->name);
		ck_assert_msg(
		    !(row->flags & (ZL_SET_REQUIRED | ZL_SET_NONEMPTY)) || t == &zl_type_string,
		    "%s.%s: required or non-empty applies to strings", row->group, row->name);
		if (numeric(row))
			ck_assert_msg(row->min < row->max && row->def_num >= row->min &&
			                  row->def_num <= row->max,
			              "%s.%s: bounds %g to %g, default %g", row->group, row->name,
			              row->min, row->max, row->def_num);
		if (t == &zl_type_choice)
			ck_assert_msg(row->choices && row->choices[0] && row->choices[1],
			              "%s.%s: a choice needs two words or more", row->group,
			              row->name);
		/* One row per name the file may set; a derived row shares its setting's. */
		if (row->flags & ZL_SET_DERIVED)
			ck_assert_msg(zl_setting_find(row->group, row->name) != NULL,
			              "%s.%s: derived from no setting", row->group, row->name);
		else
			ck_assert_ptr_eq(zl_setting_find(row->group, row->name), row);
	}
}
END_TEST

/*
 * The settings a running daemon takes at SIGHUP (zaaklink.conf(5)): what a
 * pass or the loop reads afresh every time, and the password of
 * amqp.password_file. Every other setting needs a restart.
 */
START_TEST(test_reloadable_settings)
{
	static const char *const reloadable[] = {
	    "source.base_url",        "amqp.password_file",      "source.poll_interval",
	    "source.range_size",      "source.recheck_interval", "source.chunk_size",
	    "events.source",          "events.label_max_length", "events.relink_on_label_change",
	    "events.invalid_zaak_id", "events.initial_sync",     "log.level",
	    "deliver.client_id",      "deliver.secret",          "deliver.secret_file",
	    "deliver.check_existing", "deliver.verify",          "deliver.timeout",
	};
	char names[1024] = "", want[1024] = "";

	for (size_t i = 0; i < zl_n_settings; i++) {
		if (zl_settings[i].reload == ZL_RELOAD)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s.%s",
			         names[0] ? "," : "", zl_settings[i].group, zl_settings[i].name);
	}
	for (size_t i = 0; i < ZL_ARRAY_LEN(reloadable); i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", i ? "," : "",
		         reloadable[i]);
	ck_assert_str_eq(names, want);
	/* Another password file is another setting: a restart. */
	ck_assert_int_eq(zl_setting_find("amqp", "password_file")->reload, ZL_RESTART);
}
END_TEST

/*
 * Every setting conf/zaaklink.conf shows, set or in a comment ("# name =
 * ..."), has a row; and every row the file may set is shown there.
 */
START_TEST(test_example_settings_have_rows)
{
	char path[1024], line[1024], group[64] = "";
	bool shown[256] = {false};
	regex_t head, setting;
	regmatch_t m[3];
	FILE *f;
	int n = 0;

	ck_assert_uint_lt(zl_n_settings, ZL_ARRAY_LEN(shown));
	unit_source_dir(path, sizeof(path));
	strncat(path, "/conf/zaaklink.conf", sizeof(path) - strlen(path) - 1);
	ck_assert_int_eq(regcomp(&head, "^([a-z_]+): \\{", REG_EXTENDED), 0);
	ck_assert_int_eq(regcomp(&setting, "^[ \t]*(#[ \t]*)?([a-z_]+) = ", REG_EXTENDED), 0);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "could not open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		const struct zl_setting *row;
		char name[64];

		if (regexec(&head, line, 2, m, 0) == 0) {
			snprintf(group, sizeof(group), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
			         line + m[1].rm_so);
			continue;
		}
		if (strncmp(line, "};", 2) == 0) {
			group[0] = '\0';
			continue;
		}
		if (!group[0] || regexec(&setting, line, 3, m, 0) != 0)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(m[2].rm_eo - m[2].rm_so),
		         line + m[2].rm_so);
		row = zl_setting_find(group, name);
		ck_assert_msg(row != NULL, "%s.%s of %s has no row in the settings table", group,
		              name, path);
		shown[row - zl_settings] = true;
		n++;
	}
	fclose(f);
	regfree(&head);
	regfree(&setting);
	ck_assert_int_gt(n, 20);
	for (size_t i = 0; i < zl_n_settings; i++)
		ck_assert_msg(shown[i] || (zl_settings[i].flags & ZL_SET_DERIVED),
		              "%s.%s is not shown in %s", zl_settings[i].group, zl_settings[i].name,
		              path);
}
END_TEST

/* Every default of the table is what a file that leaves the setting out gets. */
START_TEST(test_defaults_from_the_table)
{
	char text[2048], *file;
	struct zl_conf *conf;
	int line = 0;

	build(NULL, NULL, text, sizeof(text), &line);
	conf = load_ok(text, &file);
	for (size_t i = 0; i < zl_n_settings; i++) {
		const struct zl_setting *row = &zl_settings[i];
		const char *what = row->name;

		if (row->type == &zl_type_int || row->type == &zl_type_choice ||
		    row->type == &zl_type_log_level)
			ck_assert_msg(ZL_FIELD(conf, row, int) == (int)row->def_num, "%s", what);
		else if (row->type == &zl_type_double)
			ck_assert_msg(ZL_FIELD(conf, row, double) == row->def_num, "%s", what);
		else if (row->type == &zl_type_bool)
			ck_assert_msg(ZL_FIELD(conf, row, bool) == (row->def_num != 0), "%s", what);
		else if (row->type == &zl_type_string && !(row->flags & ZL_SET_REQUIRED) &&
		         strcmp(row->group, "state") != 0) {
			const char *v = ZL_FIELD(conf, row, char *);

			if (row->def_str)
				ck_assert_msg(v && strcmp(v, row->def_str) == 0, "%s", what);
			else
				ck_assert_msg(v == NULL, "%s", what);
		}
	}
	ck_assert_int_eq(conf->amqp.n_urls, 1);
	ck_assert_str_eq(conf->amqp.urls[0], zl_setting_find("amqp", "url")->def_str);
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

/* Writes v as the loader shows it: integers whole, numbers with %.15g. */
static void show(const struct zl_setting *row, double v, char *buf, size_t size)
{
	if (row->type == &zl_type_int)
		snprintf(buf, size, "%lld", (long long)v);
	else
		snprintf(buf, size, "%.15g", v);
}

/* Loads row = v, which must be refused as out of the table's range. */
static void assert_out_of_range(const struct zl_setting *row, double v)
{
	char value[64], setting[128], text[2048], expected[1024], *file;
	struct zl_err err = {0};
	struct zl_conf *conf;
	int line = 0;

	show(row, v, value, sizeof(value));
	snprintf(setting, sizeof(setting), "%s = %s;", row->name, value);
	build(row->group, setting, text, sizeof(text), &line);
	file = unit_write_temp("settings", text);
	conf = conf_load(file, &err);
	ck_assert_msg(conf == NULL, "%s.%s = %s accepted", row->group, row->name, value);
	snprintf(expected, sizeof(expected),
	         "%s:%d: %s.%s: %s is out of range, expected %.15g to %.15g", file, line,
	         row->group, row->name, value, row->min, row->max);
	ck_assert_str_eq(err.msg, expected);
	ck_assert_int_eq(err.code, ZL_EX_CONFIG);
	unit_remove_temp(file);
}

/* Loads row = v, which must be accepted and held. */
static void assert_in_range(const struct zl_setting *row, double v)
{
	char value[64], setting[128], text[2048], *file;
	struct zl_conf *conf;
	int line = 0;

	show(row, v, value, sizeof(value));
	snprintf(setting, sizeof(setting), "%s = %s;", row->name, value);
	build(row->group, setting, text, sizeof(text), &line);
	conf = load_ok(text, &file);
	if (row->type == &zl_type_int)
		ck_assert_int_eq(ZL_FIELD(conf, row, int), (int)v);
	else
		ck_assert_double_eq(ZL_FIELD(conf, row, double), v);
	conf_free(conf);
	unit_remove_temp(file);
}

/* Each number's bounds come from the table: both accepted, just beyond refused. */
START_TEST(test_bounds_from_the_table)
{
	int tested = 0;

	for (size_t i = 0; i < zl_n_settings; i++) {
		const struct zl_setting *row = &zl_settings[i];
		double below, above;

		if (!numeric(row))
			continue;
		if (row->type == &zl_type_int) {
			below = row->min - 1;
			above = row->max + 1;
		} else {
			below = row->min > 0 ? row->min / 2 : row->min - 1;
			above = row->max + 0.5;
		}
		assert_in_range(row, row->min);
		assert_in_range(row, row->max);
		assert_out_of_range(row, below);
		assert_out_of_range(row, above);
		tested++;
	}
	ck_assert_int_ge(tested, 10);
}
END_TEST

/* Changes next's value of row, whatever its kind; the test must know every kind. */
static void change(struct zl_conf *next, const struct zl_setting *row)
{
	const struct zl_setting_type *t = row->type;

	if (t == &zl_type_string) {
		free(ZL_FIELD(next, row, char *));
		ZL_FIELD(next, row, char *) = strdup("changed");
	} else if (t == &zl_type_int || t == &zl_type_log_level) {
		ZL_FIELD(next, row, int) += 1;
	} else if (t == &zl_type_choice) {
		ZL_FIELD(next, row, int) = ZL_FIELD(next, row, int) == 0 ? 1 : 0;
	} else if (t == &zl_type_double) {
		ZL_FIELD(next, row, double) += 1;
	} else if (t == &zl_type_bool) {
		ZL_FIELD(next, row, bool) = !ZL_FIELD(next, row, bool);
	} else if (t == &zl_type_url_list) {
		free(next->amqp.urls[0]);
		next->amqp.urls[0] = strdup("amqp://changed/");
	} else if (t == &zl_type_queue_list) {
		struct zl_queue_conf *q = &next->amqp.queues[next->amqp.n_queues++];

		q->name = strdup("added");
		q->bindings[0] = strdup("#");
		q->n_bindings = 1;
	} else if (t == &zl_type_delay_list) {
		next->retry.delays[0] += 1;
	} else {
		ck_abort_msg("%s.%s: this test cannot change a %s yet", row->group, row->name,
		             t->name);
	}
}

/* One row changed: taken when ZL_RELOAD, refused by its name when ZL_RESTART. */
START_TEST(test_reload_by_class)
{
	const struct zl_setting *row = &zl_settings[_i];
	char text[2048], name[128], *file;
	struct zl_conf_changes ch;
	struct zl_conf *cur, *next, *want;
	int line = 0, rc;

	build(NULL, NULL, text, sizeof(text), &line);
	cur = load_ok(text, &file);
	next = conf_load(file, &(struct zl_err){0});
	want = conf_load(file, &(struct zl_err){0});
	ck_assert_ptr_nonnull(next);
	ck_assert_ptr_nonnull(want);
	snprintf(name, sizeof(name), "%s.%s", row->group, row->name);
	change(next, row);
	change(want, row);
	ck_assert_msg(row->type->differs(cur, next, row), "%s: change not seen", name);
	rc = conf_reload_apply(cur, next, &ch);
	if (row->reload == ZL_RESTART) {
		ck_assert_msg(rc == 1, "%s: a restart setting was not refused", name);
		ck_assert_str_eq(ch.restart, name);
		ck_assert_str_eq(ch.applied, "");
		ck_assert_msg(row->type->differs(cur, want, row), "%s: taken though refused", name);
	} else {
		ck_assert_msg(rc == 0, "%s: a reloadable setting was refused", name);
		ck_assert_str_eq(ch.restart, "");
		ck_assert_str_eq(ch.applied, name);
		ck_assert_msg(!row->type->differs(cur, want, row), "%s: not taken", name);
	}
	conf_free(want);
	conf_free(next);
	conf_free(cur);
	unit_remove_temp(file);
}
END_TEST

/* A restart setting among reloadable ones: nothing is taken at all. */
START_TEST(test_reload_all_or_nothing)
{
	char text[2048], *file;
	struct zl_conf_changes ch;
	struct zl_conf *cur, *next;
	int line = 0;

	build(NULL, NULL, text, sizeof(text), &line);
	cur = load_ok(text, &file);
	next = conf_load(file, &(struct zl_err){0});
	ck_assert_ptr_nonnull(next);
	ck_assert_int_eq(conf_reload_apply(cur, next, &ch), 0);
	ck_assert_str_eq(ch.applied, "");
	next->source.poll_interval = 1;
	next->log.level = ZL_LOG_DEBUG;
	next->source.query_timeout = 5;
	next->metrics.listen = strdup("127.0.0.1:9");
	ck_assert_int_eq(conf_reload_apply(cur, next, &ch), 1);
	ck_assert_str_eq(ch.restart, "source.query_timeout,metrics.listen");
	ck_assert_double_eq(cur->source.poll_interval, 5.0);
	ck_assert_int_eq(cur->log.level, ZL_LOG_INFO);
	conf_free(next);
	conf_free(cur);
	unit_remove_temp(file);
}
END_TEST

static int refuse_all(const struct zl_conf *conf, struct zl_err *err)
{
	ck_assert_double_eq(conf->source.poll_interval, 7.5);
	return zl_err_set(err, ZL_EX_CONFIG, "refused by the command");
}

/* conf_reload() reads the file again: applied, refused for a restart, refused
 * when invalid or by the command's check. */
START_TEST(test_conf_reload_reads_the_file)
{
	char text[2048], *file;
	struct zl_conf_changes ch;
	struct zl_err err = {0};
	struct zl_conf *cur;
	int line = 0;

	build(NULL, NULL, text, sizeof(text), &line);
	cur = load_ok(text, &file);

	line = 0;
	build("source", "poll_interval = 2.5;", text, sizeof(text), &line);
	strcat(text, "log: {\n  level = \"debug\";\n};\n");
	rewrite(file, text);
	ck_assert_int_eq(conf_reload(cur, NULL, &ch, &err), 0);
	ck_assert_str_eq(ch.applied, "source.poll_interval,log.level");
	ck_assert_double_eq(cur->source.poll_interval, 2.5);
	ck_assert_int_eq(cur->log.level, ZL_LOG_DEBUG);

	ck_assert_int_eq(conf_reload(cur, NULL, &ch, &err), 0);
	ck_assert_str_eq(ch.applied, "");

	strcat(text, "amqp: {\n  exchange = \"other\";\n};\n");
	rewrite(file, text);
	ck_assert_int_eq(conf_reload(cur, NULL, &ch, &err), 1);
	ck_assert_str_eq(ch.restart, "amqp.exchange");
	ck_assert_str_eq(cur->amqp.exchange, "zaaklink.events");

	/* A command's own check refuses the new file: nothing taken. */
	line = 0;
	build("source", "poll_interval = 7.5;", text, sizeof(text), &line);
	rewrite(file, text);
	ck_assert_int_eq(conf_reload(cur, refuse_all, &ch, &err), -1);
	ck_assert_str_eq(err.msg, "refused by the command");
	ck_assert_double_eq(cur->source.poll_interval, 2.5);

	rewrite(file, "source: {\n  poll_interval = 0;\n};\n");
	ck_assert_int_eq(conf_reload(cur, NULL, &ch, &err), -1);
	ck_assert_int_eq(err.code, ZL_EX_CONFIG);
	ck_assert_msg(strstr(err.msg, "source.poll_interval: 0 is out of range") != NULL, "%s",
	              err.msg);
	ck_assert_double_eq(cur->source.poll_interval, 2.5);
	conf_free(cur);
	unit_remove_temp(file);
}
END_TEST

static Suite *settings_suite(void)
{
	Suite *s = suite_create("settings");
	TCase *table = tcase_create("table");
	TCase *reload = tcase_create("reload");

	tcase_add_checked_fixture(table, unit_clear_environment, NULL);
	tcase_add_test(table, test_every_row_complete);
	tcase_add_test(table, test_reloadable_settings);
	tcase_add_test(table, test_example_settings_have_rows);
	tcase_add_test(table, test_defaults_from_the_table);
	tcase_add_test(table, test_bounds_from_the_table);
	suite_add_tcase(s, table);
	tcase_add_checked_fixture(reload, unit_clear_environment, NULL);
	tcase_add_loop_test(reload, test_reload_by_class, 0, (int)zl_n_settings);
	tcase_add_test(reload, test_reload_all_or_nothing);
	tcase_add_test(reload, test_conf_reload_reads_the_file);
	suite_add_tcase(s, reload);
	return s;
}

ZL_UNIT_MAIN(settings_suite)
