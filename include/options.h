/*
 * Options: the command line of zaaklink and of each of its commands, read
 * from a table. One row per option says its names, the kind of value, the
 * field of the command's own options struct that receives it and a line of
 * help; the parser and the usage text both come from those rows, so an
 * option cannot be accepted without being documented, or documented without
 * being accepted.
 *
 * The rows name fields by offset (the ZL_OPT_* macros check the field's
 * type at compile time), so a table is constant data: zaaklink can print a
 * command's usage before the configuration is loaded, and a unit test can
 * walk every command's table.
 *
 * Accepted forms: --name, --name VALUE, --name=VALUE, -x, -x VALUE; "--"
 * ends the options; -h and --help print the usage on stdout. Errors are
 * one line on stderr naming the command and the option.
 */
#ifndef ZL_OPTIONS_H
#define ZL_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum zl_opt_kind {
	ZL_OPT_KIND_END = 0,
	ZL_OPT_KIND_BOOL,    /* bool: true when given */
	ZL_OPT_KIND_SET_INT, /* int: set to the row's value when given (-v, -q) */
	ZL_OPT_KIND_STRING,  /* const char *: the value (the last one given) */
	ZL_OPT_KIND_INT,     /* long: the value, a whole number within min..max */
	ZL_OPT_KIND_LIST,    /* struct zl_opt_list: every value, at most max */
};

/*
 * The values of a repeatable option, in the order given: "--id A --id B"
 * and "--id A B" (the values up to the next option) both give A, B. The
 * strings are argv's; the array is the parser's (zl_opt_free).
 */
struct zl_opt_list {
	const char **v;
	int n;
};

struct zl_option {
	enum zl_opt_kind kind;
	char short_name;       /* 'c' for -c; 0 for none */
	const char *long_name; /* "config" for --config */
	const char *arg;       /* what the value is, in the usage: "FILE" */
	const char *help;      /* one line for the option list */
	size_t offset;         /* of the field in the command's options struct */
	long min, max;         /* INT: the bounds; LIST: max values; SET_INT: min is the value */
};

/* clang-format off */
/* Expands to offsetof(T, f), and fails to compile when f is not a TYPE. */
#define ZL_OPT_FIELD(T, f, TYPE) _Generic(((T){0}).f, TYPE: offsetof(T, f))

#define ZL_OPT_BOOL(s, l, T, f, h)                                                                 \
	{ ZL_OPT_KIND_BOOL, (s), (l), NULL, (h), ZL_OPT_FIELD(T, f, bool), 0, 0 }
#define ZL_OPT_SET_INT(s, l, T, f, value, h)                                                       \
	{ ZL_OPT_KIND_SET_INT, (s), (l), NULL, (h), ZL_OPT_FIELD(T, f, int), (value), (value) }
#define ZL_OPT_STRING(s, l, a, T, f, h)                                                            \
	{ ZL_OPT_KIND_STRING, (s), (l), (a), (h), ZL_OPT_FIELD(T, f, const char *), 0, 0 }
#define ZL_OPT_INT(s, l, a, T, f, lo, hi, h)                                                       \
	{ ZL_OPT_KIND_INT, (s), (l), (a), (h), ZL_OPT_FIELD(T, f, long), (lo), (hi) }
#define ZL_OPT_LIST(s, l, a, T, f, most, h)                                                        \
	{ ZL_OPT_KIND_LIST, (s), (l), (a), (h), ZL_OPT_FIELD(T, f, struct zl_opt_list), 0, (most) }
#define ZL_OPT_END()                                                                               \
	{ ZL_OPT_KIND_END, 0, NULL, NULL, NULL, 0, 0, 0 }
/* clang-format on */

/* A subcommand (or, for zaaklink itself, a command), for the usage text. */
struct zl_opt_sub {
	const char *name;
	const char *help;
};

/* What a command line is made of, and how its usage reads. */
struct zl_opt_cmd {
	const char *name;                     /* "dlq"; NULL for zaaklink's own options */
	const char *const *synopsis;          /* usage lines after "zaaklink ", NULL-ended;
	                                       * NULL: one line made from the options */
	const char *about;                    /* one line: what the command does */
	const struct zl_opt_sub *subcommands; /* ended by { NULL }; NULL for none */
	const struct zl_option *options;      /* ended by ZL_OPT_END() */
	const char *epilogue;                 /* a paragraph after the options, or NULL */
	int max_args;                         /* arguments that are not options it takes */
	bool stop_at_command;                 /* the first non-option and all after it are
	                                       * left over (zaaklink COMMAND ...) */
};

/* What zl_opt_parse() returns besides the number of arguments left. */
#define ZL_OPT_HELP (-1)  /* the usage went to stdout: exit 0 */
#define ZL_OPT_USAGE (-2) /* a usage error went to stderr: exit 64 */
#define ZL_OPT_NOMEM (-3) /* out of memory, said on stderr: exit 70 */

/*
 * Parses argv[1..argc) into the struct at base (which the caller has set to
 * its defaults) and returns how many arguments are left: the ones that are
 * not options, moved to argv[0..n) in their order, argv[n] = NULL. More
 * than cli->max_args of them is a usage error. Always call zl_opt_free()
 * on base afterwards, whatever this returned.
 */
int zl_opt_parse(const struct zl_opt_cmd *cli, void *base, int argc, char **argv);

/* The exit status for a negative zl_opt_parse() result. */
int zl_opt_status(int parse_result);

/* Frees what zl_opt_parse() allocated in base (the LIST arrays). */
void zl_opt_free(const struct zl_opt_cmd *cli, void *base);

/* Prints the usage lines alone ("Usage: zaaklink ..."). */
void zl_opt_synopsis(const struct zl_opt_cmd *cli, FILE *out);

/* Prints the whole usage: lines, about, subcommands, aligned options, epilogue. */
void zl_opt_usage(const struct zl_opt_cmd *cli, FILE *out);

#endif
