/*
 * Options: the table-driven command-line parser and the usage text made
 * from the same table (see options.h).
 *
 * The parser walks argv once. An argument that does not start with '-' is
 * left over, moved down to the front of argv, so a command finds its
 * subcommand and other arguments in order after the options are gone.
 * Every option is looked up in the table by its name; what happens then is
 * decided by the row's kind alone, and the value lands at the row's offset
 * in the command's options struct. Commands look for -h/--help anywhere
 * first, so that "zaaklink dlq list --frob --help" still shows the help;
 * zaaklink's own options stop at the command, whose -h is its own.
 */
#include "options.h"

#include "common.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define PROG "zaaklink"

static void *field(const struct zl_option *o, void *base)
{
	return (char *)base + o->offset;
}

/* Prints "zaaklink: [COMMAND: ]<message> (see zaaklink [COMMAND ]--help)". */
static int fail(const struct zl_opt_cmd *cli, int rc, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	if (cli->name)
		fprintf(stderr, "%s: ", cli->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (rc == ZL_OPT_USAGE)
		fprintf(stderr, " (see " PROG "%s%s --help)", cli->name ? " " : "",
		        cli->name ? cli->name : "");
	fprintf(stderr, "\n");
	return rc;
}

static bool is_help(const char *a)
{
	return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

static const struct zl_option *find(const struct zl_option *opts, const char *name, size_t len,
                                    char short_name)
{
	for (const struct zl_option *o = opts; o->kind != ZL_OPT_KIND_END; o++) {
		if (short_name && o->short_name == short_name)
			return o;
		if (!short_name && o->long_name && strlen(o->long_name) == len &&
		    strncmp(o->long_name, name, len) == 0)
			return o;
	}
	return NULL;
}

static int take_number(const struct zl_opt_cmd *cli, const struct zl_option *o, int len,
                       const char *spelled, const char *value, void *base)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(value, &end, 10);
	if (errno == 0 && end != value && *end == '\0' && n >= o->min && n <= o->max) {
		*(long *)field(o, base) = n;
		return 0;
	}
	if (o->max == LONG_MAX && o->min == 1)
		return fail(cli, ZL_OPT_USAGE, "%.*s needs a positive number, not '%s'", len,
		            spelled, value);
	if (o->max == LONG_MAX)
		return fail(cli, ZL_OPT_USAGE, "%.*s needs a number of at least %ld, not '%s'", len,
		            spelled, o->min, value);
	return fail(cli, ZL_OPT_USAGE, "%.*s needs a number from %ld to %ld, not '%s'", len,
	            spelled, o->min, o->max, value);
}

static int append(const struct zl_opt_cmd *cli, const struct zl_option *o, int len,
                  const char *spelled, const char *value, void *base)
{
	struct zl_opt_list *l = field(o, base);
	const char **v;

	if (o->max > 0 && l->n >= o->max)
		return fail(cli, ZL_OPT_USAGE, "too many %.*s values (at most %ld)", len, spelled,
		            o->max);
	/* Doubling from 8: few reallocations for a long list of ids. */
	if (l->n >= 8 && (l->n & (l->n - 1)) == 0) {
		v = realloc(l->v, (size_t)l->n * 2 * sizeof(*v));
	} else if (l->n == 0) {
		v = malloc(8 * sizeof(*v));
	} else {
		v = l->v;
	}
	if (!v)
		return fail(cli, ZL_OPT_NOMEM, "out of memory while collecting the %.*s values",
		            len, spelled);
	l->v = v;
	l->v[l->n++] = value;
	return 0;
}

/*
 * Takes the option argv[*i] and its value (from "=VALUE" or the next
 * argument, moving *i past it); returns 0 or a ZL_OPT_* error.
 */
static int take(const struct zl_opt_cmd *cli, void *base, int argc, char **argv, int *i)
{
	const char *a = argv[*i], *value = NULL, *eq = NULL;
	const struct zl_option *o;
	int len = (int)strlen(a), rc;

	if (a[1] == '-') {
		eq = strchr(a + 2, '=');
		if (eq) {
			len = (int)(eq - a);
			value = eq + 1;
		}
		o = find(cli->options, a + 2, (size_t)len - 2, 0);
	} else {
		o = a[2] == '\0' ? find(cli->options, NULL, 0, a[1]) : NULL;
	}
	if (!o)
		return fail(cli, ZL_OPT_USAGE, "unknown option '%.*s'", len, a);
	switch (o->kind) {
	case ZL_OPT_KIND_BOOL:
	case ZL_OPT_KIND_SET_INT:
		if (value)
			return fail(cli, ZL_OPT_USAGE, "option '%.*s' takes no value", len, a);
		if (o->kind == ZL_OPT_KIND_BOOL)
			*(bool *)field(o, base) = true;
		else
			*(int *)field(o, base) = (int)o->min;
		return 0;
	default:
		break;
	}
	if (!value) {
		if (*i + 1 >= argc)
			return fail(cli, ZL_OPT_USAGE, "option '%s' needs a value (%s)", a, o->arg);
		value = argv[++*i];
	}
	if (o->kind == ZL_OPT_KIND_STRING) {
		*(const char **)field(o, base) = value;
		return 0;
	}
	if (o->kind == ZL_OPT_KIND_INT)
		return take_number(cli, o, len, a, value, base);
	rc = append(cli, o, len, a, value, base);
	/* "--id A B C": the values up to the next option. */
	while (rc == 0 && *i + 1 < argc && argv[*i + 1][0] != '-')
		rc = append(cli, o, len, a, argv[++*i], base);
	return rc;
}

int zl_opt_parse(const struct zl_opt_cmd *cli, void *base, int argc, char **argv)
{
	int n = 0, i, rc;

	for (i = 1; !cli->stop_at_command && i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (is_help(argv[i])) {
			zl_opt_usage(cli, stdout);
			return ZL_OPT_HELP;
		}
	}
	for (i = 1; i < argc; i++) {
		char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				argv[n++] = argv[i];
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (!cli->stop_at_command) {
				argv[n++] = a;
				continue;
			}
			while (i < argc)
				argv[n++] = argv[i++];
			break;
		}
		if (is_help(a)) {
			zl_opt_usage(cli, stdout);
			return ZL_OPT_HELP;
		}
		if ((rc = take(cli, base, argc, argv, &i)) < 0)
			return rc;
	}
	argv[n] = NULL;
	if (!cli->stop_at_command && n > cli->max_args)
		return fail(cli, ZL_OPT_USAGE, "unexpected argument '%s'", argv[cli->max_args]);
	return n;
}

int zl_opt_status(int parse_result)
{
	switch (parse_result) {
	case ZL_OPT_HELP:
		return ZL_EX_OK;
	case ZL_OPT_NOMEM:
		return ZL_EX_SOFTWARE;
	default:
		return ZL_EX_USAGE;
	}
}

void zl_opt_free(const struct zl_opt_cmd *cli, void *base)
{
	for (const struct zl_option *o = cli->options; o->kind != ZL_OPT_KIND_END; o++) {
		if (o->kind == ZL_OPT_KIND_LIST) {
			struct zl_opt_list *l = field(o, base);

			free(l->v);
			l->v = NULL;
			l->n = 0;
		}
	}
}

/* Writes "--name ARG" (or "-x ARG"), with "..." for a list; returns its length. */
static int print_form(FILE *out, const struct zl_option *o)
{
	int len =
	    o->long_name ? fprintf(out, "--%s", o->long_name) : fprintf(out, "-%c", o->short_name);

	if (o->arg)
		len += fprintf(out, " %s%s", o->arg, o->kind == ZL_OPT_KIND_LIST ? "..." : "");
	return len;
}

void zl_opt_synopsis(const struct zl_opt_cmd *cli, FILE *out)
{
	if (cli->synopsis) {
		for (int k = 0; cli->synopsis[k]; k++)
			fprintf(out, "%s " PROG " %s\n", k ? "      " : "Usage:", cli->synopsis[k]);
		return;
	}
	fprintf(out, "Usage: " PROG "%s%s", cli->name ? " " : "", cli->name ? cli->name : "");
	for (const struct zl_option *o = cli->options; o->kind != ZL_OPT_KIND_END; o++) {
		fprintf(out, " [");
		print_form(out, o);
		fprintf(out, "]");
	}
	fprintf(out, "\n");
}

/* The width of an option's left column: "-c, --config FILE" or "    --json". */
static int left_width(const struct zl_option *o)
{
	int w = o->long_name ? 4 : 2;

	if (o->long_name)
		w += 2 + (int)strlen(o->long_name);
	if (o->arg)
		w += 1 + (int)strlen(o->arg) + (o->kind == ZL_OPT_KIND_LIST ? 3 : 0);
	return w;
}

static void print_option(FILE *out, const struct zl_option *o, int width)
{
	int w;

	if (o->short_name)
		w = fprintf(out, o->long_name ? "  -%c, " : "  -%c", o->short_name);
	else
		w = fprintf(out, "      ");
	if (o->long_name)
		w += print_form(out, o);
	else if (o->arg)
		w += fprintf(out, " %s", o->arg);
	fprintf(out, "%*s%s\n", width + 4 - w, "", o->help);
}

void zl_opt_usage(const struct zl_opt_cmd *cli, FILE *out)
{
	/* Every command has it; the parser looks for it before the table. */
	static const struct zl_option help = {ZL_OPT_KIND_BOOL, 'h', "help", NULL,
	                                      "show this help", 0,   0,      0};
	const struct zl_option *o;
	int width = 0;

	zl_opt_synopsis(cli, out);
	if (cli->about)
		fprintf(out, "\n%s\n", cli->about);
	if (cli->subcommands) {
		const struct zl_opt_sub *s;

		for (s = cli->subcommands; s->name; s++)
			if ((int)strlen(s->name) > width)
				width = (int)strlen(s->name);
		fprintf(out, "\nCommands:\n");
		for (s = cli->subcommands; s->name; s++)
			fprintf(out, "  %-*s  %s\n", width, s->name, s->help);
	}
	width = left_width(&help);
	for (o = cli->options; o->kind != ZL_OPT_KIND_END; o++)
		if (left_width(o) > width)
			width = left_width(o);
	fprintf(out, "\nOptions:\n");
	for (o = cli->options; o->kind != ZL_OPT_KIND_END; o++)
		print_option(out, o, width);
	print_option(out, &help, width);
	if (cli->epilogue)
		fprintf(out, "\n%s", cli->epilogue);
}
