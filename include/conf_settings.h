/*
 * The settings of zaaklink.conf(5): one table, one row per setting.
 *
 * A row says everything the conf module needs to know of a setting: its
 * group and name, the kind of value (string, number, choice, a list of
 * URLs, ...), its default, its bounds, the checks beyond its kind, an
 * environment variable that replaces it, whether it may hold a password,
 * the field of struct zl_conf that holds it, and whether a SIGHUP applies a
 * change of it (ZL_RELOAD) or a change needs a restart (ZL_RESTART). The
 * loader (conf.c) reads, defaults, checks and frees every setting by the
 * table; conf_reload() (conf_reload.c) compares and applies by it. Adding a
 * setting is adding a row, and a check function when its kind does not say
 * enough.
 *
 * The table is in conf_table.c, with the checks of most groups, the retry
 * delays and the log level; the plain kinds of value (string, int, double,
 * bool, choice) are in conf.c; the URL and queue lists and the amqp checks
 * in conf_amqp.c. This header is the conf module's own, and its unit
 * tests'.
 */
#ifndef ZL_CONF_SETTINGS_H
#define ZL_CONF_SETTINGS_H

#include "conf.h"

#include <libconfig.h>
#include <stddef.h>
#include <sys/types.h>

/* What a SIGHUP does with a changed setting. */
enum zl_reload_class {
	ZL_CLASS_UNSET = 0, /* no row may have it: the unit test refuses one */
	ZL_RELOAD,          /* taken into the running daemon */
	ZL_RESTART,         /* the reload is refused, naming the setting */
};

/* Row flags. */
#define ZL_SET_REQUIRED 0x1u /* a string that must be set (or its environment variable) */
#define ZL_SET_NONEMPTY 0x2u /* a string that may not be "" */
#define ZL_SET_DERIVED 0x4u  /* not in the file: another row's check fills it in */
#define ZL_SET_SECRET 0x8u   /* wiped before it is freed */
/* Read and checked after the rest of its group and the group's checks,
 * which its own checks rely on (queue names against amqp.exchange). */
#define ZL_SET_LATE 0x10u

/* What a load needs while it runs; lives on conf_load_for()'s stack. */
struct zl_conf_loader {
	const char *file;
	enum zl_state_use state_use;
	config_t cfg;
	struct zl_err *err;
	struct zl_conf *conf;
};

struct zl_setting;

/* A kind of value: how it is read, defaulted, overridden, compared, taken and freed. */
struct zl_setting_type {
	const char *name;
	/* Reads s, the file's value, into the row's field: its kind and its bounds. */
	int (*read)(struct zl_conf_loader *ld, const struct zl_setting *row,
	            const config_setting_t *s);
	/* Sets the row's default; -1 when out of memory. */
	int (*init)(struct zl_conf *conf, const struct zl_setting *row);
	/* Replaces the value with the text of row->env, checked; NULL: no variable. */
	int (*from_env)(struct zl_conf_loader *ld, const struct zl_setting *row, const char *text);
	bool (*differs)(const struct zl_conf *a, const struct zl_conf *b,
	                const struct zl_setting *row);
	/* Moves next's value into cur; what cur held goes to next, to be freed
	 * with it. NULL: no reload can take it (a ZL_RELOAD row needs one). */
	void (*take)(struct zl_conf *cur, struct zl_conf *next, const struct zl_setting *row);
	/* Frees what the value holds; NULL: nothing. */
	void (*release)(struct zl_conf *conf, const struct zl_setting *row);
};

extern const struct zl_setting_type zl_type_string, zl_type_int, zl_type_double, zl_type_bool,
    zl_type_choice, zl_type_log_level, zl_type_url_list, zl_type_queue_list, zl_type_delay_list;

struct zl_setting {
	const char *group;
	const char *name;
	const struct zl_setting_type *type;
	size_t offset; /* of the value in struct zl_conf */
	enum zl_reload_class reload;
	unsigned flags;             /* ZL_SET_* */
	const char *def_str;        /* default of a string (NULL: unset) or a URL list */
	double def_num;             /* default of a number, a bool (0, 1) or a choice (index) */
	double min, max;            /* bounds of a number, both included */
	const char *const *choices; /* a choice's words, NULL-terminated; the value is the index */
	const char *env;            /* environment variable that replaces the value */
	/* Checks a string value alone; messages start with prefix
	 * ("FILE:LINE: group.name", or the environment variable's name). */
	int (*valid)(struct zl_err *err, const char *prefix, const char *value);
	/* Checks the value in its context (other settings, the file system)
	 * once its group is read; s is where the file sets it, NULL for a default. */
	int (*check)(struct zl_conf_loader *ld, const struct zl_setting *row,
	             const config_setting_t *s);
	/* True when a value holds a password: a file others can read it in is warned about. */
	bool (*has_password)(const char *value);
};

struct zl_setting_group {
	const char *name;
	/* Checks between the group's settings once each is checked; NULL: none. */
	int (*check)(struct zl_conf_loader *ld);
};

/* The table, in the order settings are read, checked and named in logs. */
extern const struct zl_setting zl_settings[];
extern const size_t zl_n_settings;
extern const struct zl_setting_group zl_setting_groups[];
extern const size_t zl_n_setting_groups;

/* The row of group.name that the file sets; NULL when there is none. */
const struct zl_setting *zl_setting_find(const char *group, const char *name);

/* The row's field in conf, as a T. */
#define ZL_FIELD(conf, row, T) (*(T *)(void *)((char *)(conf) + (row)->offset))

/* ---- for the conf module's files ---- */

/* Fills err with "FILE:LINE: message" for setting s ("FILE: message" for a default). */
int zl_conf_fail_at(struct zl_conf_loader *ld, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fills err for a failed allocation; doing says what was under way ("copying amqp.url"). */
int zl_conf_fail_oom(struct zl_conf_loader *ld, const char *doing);
/* Reports a required setting that is absent, at its group's line when there is one. */
int zl_conf_fail_missing(struct zl_conf_loader *ld, const char *group, const char *name);
/* The setting group.name, or NULL when the file does not have it. */
config_setting_t *zl_conf_lookup(const struct zl_conf_loader *ld, const char *group,
                                 const char *name);
/* The file a setting was read from (an @include may differ from the main one). */
const char *zl_conf_setting_file(const struct zl_conf_loader *ld, const config_setting_t *s);
/* Writes "FILE:LINE: group.name" into buf: the prefix of a setting's errors. */
const char *zl_conf_where(const struct zl_conf_loader *ld, const config_setting_t *s,
                          const char *group, const char *name, char *buf, size_t size);
/* Logs that file, which holds a password (in settings), can be read by more than its owner. */
void zl_conf_warn_readable(const char *file, mode_t mode, const char *settings);
/* Parses the file into ld->cfg (conf_parse.c); errors are "FILE:LINE: text". */
int zl_conf_parse_file(struct zl_conf_loader *ld);

/* The amqp checks the table names (conf_amqp.c). */
int zl_conf_check_amqp_url(struct zl_err *err, const char *prefix, const char *url);
int zl_conf_check_exchange(struct zl_err *err, const char *prefix, const char *exchange);
int zl_conf_check_tls_file(struct zl_conf_loader *ld, const struct zl_setting *row,
                           const config_setting_t *s);
int zl_conf_check_amqp_group(struct zl_conf_loader *ld);

/* Checks of conf_table.c other groups share. */
/* Reads the file a secret-file row names into the derived row of the same name. */
int zl_conf_check_secret_file(struct zl_conf_loader *ld, const struct zl_setting *row,
                              const config_setting_t *s);
/* Parses a listen address ("ADDRESS:PORT"); the row's field is the listen
 * member of a struct zl_metrics_conf, which holds the parsed address. */
int zl_conf_check_listen(struct zl_conf_loader *ld, const struct zl_setting *row,
                         const config_setting_t *s);

/* The deliver checks the table names (conf_deliver.c). */
/* An http:// or https:// URL with a host and no blanks; a trailing '/' of
 * deliver.zaken_api is stripped (paths are appended to it). */
int zl_conf_check_http_url(struct zl_conf_loader *ld, const struct zl_setting *row,
                           const config_setting_t *s);
int zl_conf_check_client_id(struct zl_err *err, const char *prefix, const char *client_id);
int zl_conf_check_deliver_secret_file(struct zl_conf_loader *ld, const struct zl_setting *row,
                                      const config_setting_t *s);
int zl_conf_check_deliver_group(struct zl_conf_loader *ld);
/* True when value is not empty: a secret written into the file. */
bool zl_conf_is_set(const char *value);

#endif
