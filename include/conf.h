/*
 * Configuration: the libconfig file of zaaklink.conf(5), validated.
 *
 * conf_load() reads the file, applies the environment overrides
 * (ZAAKLINK_AMQP_URL, ZAAKLINK_SOURCE_CONNINFO), fills in defaults, reads
 * amqp.password_file and checks every value. Unknown settings are errors: a
 * typo must never fall back to a default silently. Errors are one line,
 * "FILE:LINE: setting: problem", with code ZL_EX_CONFIG. A file holding a
 * password that its group or others can read is only warned about. The
 * result is owned by the caller and released with conf_free(); nothing else
 * holds configuration. Every setting is one row of the table in
 * include/conf_settings.h: its type, default, bounds, checks and whether a
 * reload applies it; conf_reload() takes a changed file into a running
 * daemon by that table.
 */
#ifndef ZL_CONF_H
#define ZL_CONF_H

#include "common.h"

#include <sys/socket.h>

#define ZL_MAX_AMQP_URLS 16
#define ZL_MAX_QUEUES 64       /* amqp.queues */
#define ZL_MAX_BINDINGS 32     /* bindings of one queue */
#define ZL_MAX_RETRY_DELAYS 16 /* retry.delays: wait tiers */
/*
 * Upper bound of every setting in seconds but retry.delays (a day): what a
 * setting is multiplied into (milliseconds in an int64, a 32-bit
 * TCP_USER_TIMEOUT, statement_timeout) stays far from overflowing.
 */
#define ZL_MAX_TIMEOUT_S 86400

enum zl_invalid_zaak_id { ZL_INVALID_SKIP, ZL_INVALID_EMIT };
enum zl_initial_sync { ZL_INITIAL_BASELINE, ZL_INITIAL_ANNOUNCE };

struct zl_source_conf {
	char *conninfo;       /* libpq conninfo or URI (may hold a password) */
	char *schema;         /* of the two tables; 1 to 63 bytes */
	char *base_url;       /* trailing '/' stripped */
	double poll_interval; /* seconds, > 0 */
	int range_size;       /* onderwerpobject ids per fingerprint range */
	int connect_timeout;  /* seconds */
	int query_timeout;    /* seconds, statement_timeout of a pass */
	int recheck_interval; /* seconds between comparisons of every range; 0: each pass */
	int chunk_size;       /* links a long pass diffs per state transaction (detect.c) */
};

struct zl_state_conf {
	char *path;             /* SQLite file; unused when conninfo is set */
	char *conninfo;         /* PostgreSQL (libpq conninfo or URI), or NULL */
	char *schema;           /* PostgreSQL schema of zaaklink's tables */
	double session_timeout; /* s: the state server drops a silent session of run's */
};

struct zl_events_conf {
	char *source;         /* CloudEvents "source" */
	int label_max_length; /* characters; 0 = no limit */
	bool relink_on_label_change;
	enum zl_invalid_zaak_id invalid_zaak_id;
	enum zl_initial_sync initial_sync;
};

enum zl_queue_type { ZL_QUEUE_CLASSIC, ZL_QUEUE_QUORUM };

/* A consumer queue zaaklink declares and whose failed deliveries it retries. */
struct zl_queue_conf {
	char *name;
	char *bindings[ZL_MAX_BINDINGS]; /* topic patterns on amqp.exchange */
	int n_bindings;
	enum zl_queue_type type;
	int delivery_limit; /* quorum: x-delivery-limit; 0 for classic */
};

struct zl_amqp_conf {
	char *urls[ZL_MAX_AMQP_URLS]; /* amqp:// or amqps://, tried in turn */
	int n_urls;
	char *exchange;
	int heartbeat;          /* seconds, 0 = off */
	int batch_size;         /* messages published before confirms are awaited */
	double confirm_timeout; /* seconds to wait for a batch's confirms */
	double connect_timeout; /* seconds */
	double max_backoff;     /* seconds, cap of the reconnect/retry backoff */
	char *ca_file;          /* amqps: CA bundle; NULL = system default */
	char *cert_file;        /* amqps: client certificate (optional) */
	char *key_file;         /* amqps: client key (optional) */
	char *password_file;    /* as written; relative: under $CREDENTIALS_DIRECTORY */
	char *password;         /* its content, for every URL without a password; never logged */
	bool verify_peer;
	bool verify_hostname;
	enum zl_queue_type
	    queue_type; /* of zaaklink's own queues: unrouted, retry, wait, parking */
	struct zl_queue_conf queues[ZL_MAX_QUEUES];
	int n_queues;
};

struct zl_retry_conf {
	int delays[ZL_MAX_RETRY_DELAYS]; /* seconds per wait tier, in order */
	int n_delays;                    /* 0: a failed message is parked at once */
};

struct zl_log_conf {
	int level; /* enum zl_log_level */
};

struct zl_metrics_conf {
	char *listen;                 /* "ADDRESS:PORT" as written; NULL: no HTTP server */
	struct sockaddr_storage addr; /* listen, parsed: the one address bound */
	socklen_t addr_len;
};

/*
 * zaaklink deliver: the queue it consumes and Open Zaak it delivers into.
 * Loaded and checked for form with every command; what the deliver
 * command needs on top (url, client_id, a secret, ...) is checked by
 * conf_check_deliver() when it starts. Every setting needs a restart.
 */
struct zl_deliver_conf {
	char *queue;         /* the AMQP queue consumed */
	char *url;           /* Open Zaak's CloudEvent webhook, .../events, as written; or NULL */
	char *zaken_api;     /* root of the Zaken API, trailing '/' stripped; or NULL */
	char *client_id;     /* JWT client_id (and iss, user_id); or NULL */
	char *secret;        /* deliver.secret as written; never logged; or NULL */
	char *secret_file;   /* as written; relative: under $CREDENTIALS_DIRECTORY */
	char *file_secret;   /* the content of secret_file; never logged; or NULL */
	bool check_existing; /* ask the Zaken API before a gekoppeld is posted */
	bool verify;         /* ask the Zaken API after a post whether it took effect */
	int concurrency;     /* requests in flight at once */
	double timeout;      /* seconds, each HTTP request as a whole */
	struct zl_metrics_conf metrics; /* deliver.listen: deliver's metrics and /healthz */
	char *ca_file;                  /* https: CA bundle; NULL = system default */
	char *cert_file;                /* https: client certificate (optional, with key_file) */
	char *key_file;                 /* https: client key */
	bool verify_peer;               /* https: verify the server's certificate and host name */
	char *memory;    /* SQLite file: per link, the highest zaaklink-seq delivered */
	char where[512]; /* "FILE:LINE" of the deliver group; the file alone without one */
};

struct zl_conf {
	char *file; /* path it was read from */
	struct zl_source_conf source;
	struct zl_state_conf state;
	struct zl_events_conf events;
	struct zl_amqp_conf amqp;
	struct zl_retry_conf retry;
	struct zl_log_conf log;
	struct zl_metrics_conf metrics;
	struct zl_deliver_conf deliver;
};

/* What a command does with the state file, and so what access it needs. */
enum zl_state_use {
	ZL_STATE_WRITE, /* run, once, backfill, check-config: the directory writable */
	ZL_STATE_READ,  /* status: the file readable, where it exists */
	ZL_STATE_NONE,  /* setup, dlq: the path is checked for form only */
};

/* Loads and validates FILE for a command that writes the state. Returns
 * NULL and fills err on any problem. */
struct zl_conf *conf_load(const char *file, struct zl_err *err);
/* The same, checking state.path only for the access use needs. */
struct zl_conf *conf_load_for(const char *file, enum zl_state_use use, struct zl_err *err);
void conf_free(struct zl_conf *conf);

/*
 * What the deliver command needs beyond what every load checks: deliver.url,
 * deliver.client_id, a secret (deliver.secret or deliver.secret_file), and
 * deliver.zaken_api when check_existing or verify is on. Returns 0, or -1
 * with err filled ("FILE:LINE: missing required setting 'deliver.url' (the
 * deliver command needs it)", the line of the deliver group when the file
 * has one) and code ZL_EX_CONFIG.
 */
int conf_check_deliver(const struct zl_conf *conf, struct zl_err *err);

/* Whether any consumer queue is configured (amqp.queues, or deliver.queue
 * with deliver.url set): then run's retry controller runs. */
bool conf_has_consumer_queues(const struct zl_conf *conf);
/* The secret deliver signs its tokens with: deliver.secret or the content of
 * deliver.secret_file (a load refuses both); NULL when neither is set. */
const char *conf_deliver_secret(const struct zl_conf *conf);

/*
 * Reload (SIGHUP): what differs between the running configuration and the
 * file as it is now. Names are "group.name", comma-separated, in the order
 * of the settings table (include/conf_settings.h).
 */
struct zl_conf_changes {
	char restart[512]; /* changed, but only a restart applies them: nothing was taken */
	char applied[512]; /* changed and taken into the running configuration */
};

/* A command's own checks of a whole configuration (conf_check_deliver()). */
typedef int (*zl_conf_check_fn)(const struct zl_conf *conf, struct zl_err *err);

/*
 * Loads cur->file again and takes what a reload may change into cur, all or
 * nothing. Returns -1 when the file does not load or check (NULL: none)
 * fails on it (err filled, cur as it was), 1 when a changed setting needs a
 * restart (changes->restart names them, cur as it was), 0 when applied
 * (changes->applied, "" for none). Strings taken move: a pointer into cur
 * of a taken setting is stale after 0.
 */
int conf_reload(struct zl_conf *cur, zl_conf_check_fn check, struct zl_conf_changes *changes,
                struct zl_err *err);
/* The same with the new configuration already loaded; next stays the
 * caller's to conf_free() (it then holds what cur gave up). */
int conf_reload_apply(struct zl_conf *cur, struct zl_conf *next, struct zl_conf_changes *changes);

/*
 * Masking for logs and status: the URL with its password replaced by "***"
 * ("amqp://guest:***@host:5672/%2f"); a conninfo reduced to
 * "host=... port=... dbname=... user=..." without any password. The result
 * is malloc'ed; NULL only when out of memory.
 */
char *conf_mask_url(const char *url);
char *conf_mask_conninfo(const char *conninfo);

/* True when the AMQP URL carries a password of its own (even an empty one). */
bool conf_url_has_password(const char *url);
/* True when the libpq conninfo (key=value or URI) sets a non-empty password. */
bool conf_conninfo_has_password(const char *conninfo);

#endif
