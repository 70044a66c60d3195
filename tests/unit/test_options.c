/* Unit tests of the table-driven option parser, its usage text and the commands' tables. */
#include "commands.h"
#include "common.h"
#include "options.h"
#include "unit.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct t_opts {
	bool flag;
	int level;
	const char *name;
	long count;
	struct zl_opt_list ids;
};

static const struct zl_option t_options[] = {
    ZL_OPT_BOOL('f', "flag", struct t_opts, flag, "turn the flag on"),
    ZL_OPT_SET_INT('v', "verbose", struct t_opts, level, 7, "talk a lot"),
    ZL_OPT_SET_INT('q', "quiet", struct t_opts, level, 3, "talk little"),
    ZL_OPT_STRING('n', "name", "NAME", struct t_opts, name, "call it NAME"),
    ZL_OPT_INT(0, "count", "N", struct t_opts, count, 1, 100, "do it N times"),
    ZL_OPT_LIST(0, "id", "ID", struct t_opts, ids, 3, "only these ids"),
    ZL_OPT_END(),
};

static const struct zl_opt_cmd t_cli = {
    .name = "thing",
    .about = "does a thing",
    .options = t_options,
    .max_args = 2,
};

/* The result of one parse: its return value, the struct, argv and what was said. */
struct run {
	int rc;
	struct t_opts o;
	char *argv[16];
	char out[4096], err[4096];
};

/* Reads what was written to fd since *saved took its place, and puts it back. */
static void restore(int fd, int saved, FILE *tmp, char *buf, size_t size)
{
	size_t n;

	fflush(fd == 1 ? stdout : stderr);
	dup2(saved, fd);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, size - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
}

/* Parses the NULL-ended arguments (after the command name) with cli into r. */
static void parse_with(const struct zl_opt_cmd *cli, struct run *r, const char *const *args)
{
	FILE *out = tmpfile(), *err = tmpfile();
	int argc = 1, saved_out, saved_err;

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(err);
	memset(r, 0, sizeof(*r));
	r->argv[0] = (char *)"thing";
	while (args[argc - 1]) {
		ck_assert_int_lt(argc, 15);
		r->argv[argc] = (char *)args[argc - 1];
		argc++;
	}
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	dup2(fileno(out), 1);
	dup2(fileno(err), 2);
	r->rc = zl_opt_parse(cli, &r->o, argc, r->argv);
	restore(1, saved_out, out, r->out, sizeof(r->out));
	restore(2, saved_err, err, r->err, sizeof(r->err));
}

#define PARSE(r, ...) parse_with(&t_cli, (r), (const char *const[]){__VA_ARGS__, NULL})

static int lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* A usage error: one line on stderr, naming the command and what is wrong. */
static void assert_usage_error(struct run *r, const char *says)
{
	ck_assert_int_eq(r->rc, ZL_OPT_USAGE);
	ck_assert_int_eq(zl_opt_status(r->rc), ZL_EX_USAGE);
	ck_assert_msg(strncmp(r->err, "zaaklink: thing: ", 17) == 0, "no prefix: %s", r->err);
	ck_assert_msg(strstr(r->err, says), "'%s' not in: %s", says, r->err);
	ck_assert_int_eq(lines(r->err), 1);
	ck_assert_str_eq(r->out, "");
	zl_opt_free(&t_cli, &r->o);
}

START_TEST(test_each_kind_takes_its_value)
{
	struct run r;

	PARSE(&r, "--flag", "--verbose", "--name", "x", "--count", "42", "--id", "a");
	ck_assert_int_eq(r.rc, 0);
	ck_assert(r.o.flag);
	ck_assert_int_eq(r.o.level, 7);
	ck_assert_str_eq(r.o.name, "x");
	ck_assert_int_eq(r.o.count, 42);
	ck_assert_int_eq(r.o.ids.n, 1);
	ck_assert_str_eq(r.o.ids.v[0], "a");
	ck_assert_str_eq(r.err, "");
	zl_opt_free(&t_cli, &r.o);
	ck_assert_ptr_null(r.o.ids.v);

	/* Nothing given: the struct keeps its defaults. */
	PARSE(&r, "pos");
	ck_assert_int_eq(r.rc, 1);
	ck_assert(!r.o.flag);
	ck_assert_int_eq(r.o.level, 0);
	ck_assert_ptr_null(r.o.name);
	ck_assert_int_eq(r.o.ids.n, 0);
	zl_opt_free(&t_cli, &r.o);
}
END_TEST

START_TEST(test_short_aliases_and_the_last_one_wins)
{
	struct run r;

	PARSE(&r, "-f", "-n", "first", "-v", "-q", "--name", "second");
	ck_assert_int_eq(r.rc, 0);
	ck_assert(r.o.flag);
	ck_assert_int_eq(r.o.level, 3);
	ck_assert_str_eq(r.o.name, "second");
	zl_opt_free(&t_cli, &r.o);

	PARSE(&r, "-q", "-v");
	ck_assert_int_eq(r.o.level, 7);
	zl_opt_free(&t_cli, &r.o);

	/* No bundling and no -nVALUE: one letter a time. */
	PARSE(&r, "-fv");
	assert_usage_error(&r, "unknown option '-fv'");
}
END_TEST

START_TEST(test_equals_form)
{
	struct run r;

	PARSE(&r, "--name=a=b", "--count=7", "--id=x");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.o.name, "a=b");
	ck_assert_int_eq(r.o.count, 7);
	ck_assert_str_eq(r.o.ids.v[0], "x");
	zl_opt_free(&t_cli, &r.o);

	/* An empty value is a value. */
	PARSE(&r, "--name=");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.o.name, "");
	zl_opt_free(&t_cli, &r.o);

	PARSE(&r, "--flag=yes");
	assert_usage_error(&r, "'--flag' takes no value");
	PARSE(&r, "--count=");
	assert_usage_error(&r, "--count needs a number from 1 to 100, not ''");
}
END_TEST

START_TEST(test_missing_value)
{
	struct run r;

	PARSE(&r, "--name");
	assert_usage_error(&r, "option '--name' needs a value (NAME)");
	PARSE(&r, "-f", "-n");
	assert_usage_error(&r, "option '-n' needs a value (NAME)");
	PARSE(&r, "--id");
	assert_usage_error(&r, "option '--id' needs a value (ID)");
	ck_assert_ptr_nonnull(strstr(r.err, "(see zaaklink thing --help)"));
}
END_TEST

START_TEST(test_unknown_option)
{
	struct run r;

	PARSE(&r, "--flag", "--frobnicate", "x");
	assert_usage_error(&r, "unknown option '--frobnicate'");
	PARSE(&r, "--frobnicate=3");
	assert_usage_error(&r, "unknown option '--frobnicate'");
	PARSE(&r, "-x");
	assert_usage_error(&r, "unknown option '-x'");
	/* A prefix is not an abbreviation. */
	PARSE(&r, "--fla");
	assert_usage_error(&r, "unknown option '--fla'");
}
END_TEST

START_TEST(test_number_bounds)
{
	static const struct zl_option positive[] = {
	    ZL_OPT_INT(0, "limit", "N", struct t_opts, count, 1, LONG_MAX, "at most N"),
	    ZL_OPT_END(),
	};
	static const struct zl_opt_cmd pos_cli = {.name = "thing", .options = positive};
	struct run r;

	PARSE(&r, "--count", "1");
	ck_assert_int_eq(r.o.count, 1);
	PARSE(&r, "--count", "100");
	ck_assert_int_eq(r.o.count, 100);
	PARSE(&r, "--count", "0");
	assert_usage_error(&r, "--count needs a number from 1 to 100, not '0'");
	PARSE(&r, "--count", "101");
	assert_usage_error(&r, "not '101'");
	PARSE(&r, "--count", "12x");
	assert_usage_error(&r, "not '12x'");
	PARSE(&r, "--count", "-5");
	assert_usage_error(&r, "not '-5'");
	PARSE(&r, "--count", "99999999999999999999999");
	assert_usage_error(&r, "not '99999999999999999999999'");

	parse_with(&pos_cli, &r, (const char *const[]){"--limit", "0", NULL});
	assert_usage_error(&r, "--limit needs a positive number, not '0'");
	parse_with(&pos_cli, &r, (const char *const[]){"--limit", "9223372036854775807", NULL});
	ck_assert_int_eq(r.rc, 0);
	ck_assert_int_eq(r.o.count, LONG_MAX);
}
END_TEST

START_TEST(test_repeatable_values)
{
	struct run r;

	/* Repeated, or several values up to the next option. */
	PARSE(&r, "--id", "a", "b", "--flag", "--id", "c", "--", "pos");
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.argv[0], "pos");
	ck_assert_int_eq(r.o.ids.n, 3);
	ck_assert_str_eq(r.o.ids.v[0], "a");
	ck_assert_str_eq(r.o.ids.v[1], "b");
	ck_assert_str_eq(r.o.ids.v[2], "c");
	ck_assert(r.o.flag);
	zl_opt_free(&t_cli, &r.o);

	/* An argument right after the values is one more value. */
	PARSE(&r, "--id", "a", "b", "c", "pos");
	assert_usage_error(&r, "too many --id values (at most 3)");

	PARSE(&r, "--id", "a", "b", "c", "d");
	assert_usage_error(&r, "too many --id values (at most 3)");
	PARSE(&r, "--id=a", "--id=b", "--id=c", "--id=d");
	assert_usage_error(&r, "too many --id values (at most 3)");
}
END_TEST

START_TEST(test_a_long_list_grows)
{
	static const struct zl_option many[] = {
	    ZL_OPT_LIST(0, "id", "ID", struct t_opts, ids, 0, "ids"),
	    ZL_OPT_END(),
	};
	static const struct zl_opt_cmd many_cli = {.name = "thing", .options = many};
	static char names[1000][8];
	char *argv[1003];
	struct t_opts o = {0};
	int n;

	argv[0] = (char *)"thing";
	argv[1] = (char *)"--id";
	for (int i = 0; i < 1000; i++) {
		snprintf(names[i], sizeof(names[i]), "m%d", i);
		argv[i + 2] = names[i];
	}
	argv[1002] = NULL;
	n = zl_opt_parse(&many_cli, &o, 1002, argv);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(o.ids.n, 1000);
	for (int i = 0; i < 1000; i++)
		ck_assert_str_eq(o.ids.v[i], names[i]);
	zl_opt_free(&many_cli, &o);
}
END_TEST

START_TEST(test_arguments_are_left_over_in_order)
{
	struct run r;

	PARSE(&r, "one", "--flag", "two");
	ck_assert_int_eq(r.rc, 2);
	ck_assert_str_eq(r.argv[0], "one");
	ck_assert_str_eq(r.argv[1], "two");
	ck_assert_ptr_null(r.argv[2]);
	ck_assert(r.o.flag);

	/* "--" ends the options; "-" alone is an argument. */
	PARSE(&r, "--", "--flag");
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.argv[0], "--flag");
	ck_assert(!r.o.flag);
	PARSE(&r, "-");
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.argv[0], "-");

	PARSE(&r, "one", "two", "three");
	assert_usage_error(&r, "unexpected argument 'three'");
}
END_TEST

START_TEST(test_stop_at_command)
{
	static const struct zl_opt_cmd top = {.options = t_options, .stop_at_command = true};
	struct run r;

	parse_with(&top, &r, (const char *const[]){"-v", "cmd", "--flag", "--help", "x", NULL});
	ck_assert_int_eq(r.rc, 4);
	ck_assert_int_eq(r.o.level, 7);
	ck_assert(!r.o.flag);
	ck_assert_str_eq(r.argv[0], "cmd");
	ck_assert_str_eq(r.argv[1], "--flag");
	ck_assert_str_eq(r.argv[2], "--help");
	ck_assert_str_eq(r.argv[3], "x");
	ck_assert_str_eq(r.out, "");

	/* zaaklink's own errors name no command. */
	parse_with(&top, &r, (const char *const[]){"--frob", "cmd", NULL});
	ck_assert_int_eq(r.rc, ZL_OPT_USAGE);
	ck_assert_str_eq(r.err, "zaaklink: unknown option '--frob' (see zaaklink --help)\n");
}
END_TEST

START_TEST(test_help_anywhere_prints_the_usage)
{
	struct run r;

	/* Before an error, after one, after an argument: the help wins. */
	PARSE(&r, "--frobnicate", "pos", "--help");
	ck_assert_int_eq(r.rc, ZL_OPT_HELP);
	ck_assert_int_eq(zl_opt_status(r.rc), ZL_EX_OK);
	ck_assert_ptr_nonnull(strstr(r.out, "Usage: zaaklink thing "));
	ck_assert_ptr_nonnull(strstr(r.out, "does a thing"));
	ck_assert_str_eq(r.err, "");
	PARSE(&r, "-h");
	ck_assert_int_eq(r.rc, ZL_OPT_HELP);
	/* Not after "--". */
	PARSE(&r, "--", "--help");
	ck_assert_int_eq(r.rc, 1);
}
END_TEST

/* The usage of cli, as a string to free. */
static char *usage_of(const struct zl_opt_cmd *cli)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	ck_assert_ptr_nonnull(f);
	zl_opt_usage(cli, f);
	fclose(f);
	return buf;
}

/* "--name ARG" as the usage writes it. */
static void form(char *buf, size_t size, const struct zl_option *o)
{
	if (o->long_name)
		snprintf(buf, size, "--%s%s%s%s", o->long_name, o->arg ? " " : "",
		         o->arg ? o->arg : "", o->kind == ZL_OPT_KIND_LIST ? "..." : "");
	else
		snprintf(buf, size, "-%c", o->short_name);
}

/* Every option and its help are in the usage, on one line. */
static void assert_usage_lists(const struct zl_opt_cmd *cli)
{
	char *text = usage_of(cli), want[256];

	for (const struct zl_option *o = cli->options; o->kind != ZL_OPT_KIND_END; o++) {
		const char *line;

		form(want, sizeof(want), o);
		line = strstr(text, want);
		while (line && (line[-1] != ' ' || !strchr(line, '\n')))
			line = strstr(line + 1, want);
		ck_assert_msg(line, "%s: no %s in:\n%s", cli->name, want, text);
		line = strstr(text, o->help);
		ck_assert_msg(line, "%s: no help of %s in:\n%s", cli->name, want, text);
		if (o->short_name) {
			snprintf(want, sizeof(want), "-%c, --%s", o->short_name, o->long_name);
			ck_assert_msg(strstr(text, want), "%s: no %s in:\n%s", cli->name, want,
			              text);
		}
	}
	ck_assert_ptr_nonnull(strstr(text, "-h, --help"));
	for (const struct zl_opt_sub *s = cli->subcommands; s && s->name; s++) {
		ck_assert_ptr_nonnull(strstr(text, s->name));
		ck_assert_ptr_nonnull(strstr(text, s->help));
	}
	free(text);
}

START_TEST(test_usage_lists_every_option_with_its_help)
{
	char *text = usage_of(&t_cli);

	assert_usage_lists(&t_cli);
	/* Made from the rows: the usage line, and the help aligned in one column. */
	ck_assert_ptr_nonnull(strstr(text, "Usage: zaaklink thing [--flag] [--verbose] [--quiet] "
	                                   "[--name NAME] [--count N] [--id ID...]\n"));
	ck_assert_ptr_nonnull(strstr(text, "\n  -f, --flag       turn the flag on\n"));
	ck_assert_ptr_nonnull(strstr(text, "\n  -n, --name NAME  call it NAME\n"));
	ck_assert_ptr_nonnull(strstr(text, "\n      --id ID...   only these ids\n"));
	ck_assert_ptr_nonnull(strstr(text, "\n  -h, --help       show this help\n"));
	free(text);
}
END_TEST

static const struct zl_command *const commands[] = {ZL_COMMANDS};

START_TEST(test_every_command_documents_every_option)
{
	for (size_t k = 0; k < ZL_ARRAY_LEN(commands); k++) {
		const struct zl_opt_cmd *cli = &commands[k]->cli;

		ck_assert_ptr_nonnull(cli->name);
		ck_assert_msg(cli->about && cli->about[0], "%s: no about", cli->name);
		ck_assert_ptr_nonnull(commands[k]->run);
		for (const struct zl_option *o = cli->options; o->kind != ZL_OPT_KIND_END; o++) {
			ck_assert_msg(o->long_name && o->long_name[0], "%s: a row without a name",
			              cli->name);
			ck_assert_msg(o->help && o->help[0], "%s: --%s has no help", cli->name,
			              o->long_name);
			ck_assert_msg((o->kind == ZL_OPT_KIND_BOOL ||
			               o->kind == ZL_OPT_KIND_SET_INT) == !o->arg,
			              "%s: --%s: a value needs an ARG name, a flag none", cli->name,
			              o->long_name);
			ck_assert_msg(o->offset + 1 <= commands[k]->opts_size,
			              "%s: --%s lies outside its struct", cli->name, o->long_name);
			for (const struct zl_option *p = cli->options; p < o; p++)
				ck_assert_msg(strcmp(p->long_name, o->long_name) != 0,
				              "%s: --%s twice", cli->name, o->long_name);
		}
		for (const struct zl_opt_sub *s = cli->subcommands; s && s->name; s++)
			ck_assert_msg(s->help && s->help[0], "%s %s: no help", cli->name, s->name);
		assert_usage_lists(cli);
	}
}
END_TEST

START_TEST(test_dlq_usage_shows_its_subcommands)
{
	char *text = usage_of(&zl_cmd_dlq.cli);

	ck_assert_ptr_nonnull(strstr(text, "Usage: zaaklink dlq list "));
	ck_assert_ptr_nonnull(strstr(text, "\n       zaaklink dlq purge --from FILE --yes"));
	ck_assert_ptr_nonnull(strstr(text, "Commands:\n  list "));
	ck_assert_ptr_nonnull(strstr(text, "\n  export "));
	ck_assert_ptr_nonnull(strstr(text, "\n  requeue "));
	ck_assert_ptr_nonnull(strstr(text, "\n  purge "));
	free(text);
}
END_TEST

static Suite *options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc = tcase_create("options");

	tcase_add_test(tc, test_each_kind_takes_its_value);
	tcase_add_test(tc, test_short_aliases_and_the_last_one_wins);
	tcase_add_test(tc, test_equals_form);
	tcase_add_test(tc, test_missing_value);
	tcase_add_test(tc, test_unknown_option);
	tcase_add_test(tc, test_number_bounds);
	tcase_add_test(tc, test_repeatable_values);
	tcase_add_test(tc, test_a_long_list_grows);
	tcase_add_test(tc, test_arguments_are_left_over_in_order);
	tcase_add_test(tc, test_stop_at_command);
	tcase_add_test(tc, test_help_anywhere_prints_the_usage);
	tcase_add_test(tc, test_usage_lists_every_option_with_its_help);
	tcase_add_test(tc, test_every_command_documents_every_option);
	tcase_add_test(tc, test_dlq_usage_shows_its_subcommands);
	suite_add_tcase(s, tc);
	return s;
}

ZL_UNIT_MAIN(options_suite)
