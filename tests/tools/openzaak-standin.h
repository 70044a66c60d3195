/* openzaak-standin.h: what the two halves of the Open Zaak stand-in share.
 *
 * openzaak-standin.c owns the process: the command line, the HTTP server
 * (libmicrohttpd), the test-control endpoints under /_admin/ and the
 * injected faults. openzaak-standin-api.c owns what Open Zaak itself does:
 * the JWT check, the CloudEvent webhook, the ZaakObject store and the
 * zaakobjecten list. Both work on one struct oz_state; everything in it
 * that changes after the start is read and written under its mutex.
 */
#ifndef OPENZAAK_STANDIN_H
#define OPENZAAK_STANDIN_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define OZ_UUID_LEN 36

/* A client of the Autorisaties API: its JWT secret and its scopes ("*": all). */
struct oz_client {
	char *id;
	char *secret;
	char **scopes;
	size_t n_scopes;
};

/* A ZaakObject as the Zaken API stores it. */
struct oz_zaakobject {
	char uuid[OZ_UUID_LEN + 1];
	char zaak[OZ_UUID_LEN + 1]; /* the uuid of its Zaak */
	char *object;
	char *object_type;
	char *object_type_overige; /* "" unless object_type is "overige" */
	char *label;               /* relatieomschrijving */
};

/* How many requests to PATH were answered STATUS ("dropped": closed unanswered). */
struct oz_stat {
	char *path;
	char status[16];
	unsigned long count;
};

struct oz_state {
	pthread_mutex_t mu;
	/* Fixed once the server runs. */
	struct oz_client *clients;
	size_t n_clients;
	unsigned page_size;
	unsigned port;
	/* Under mu. */
	char (*zaken)[OZ_UUID_LEN + 1];
	size_t n_zaken, cap_zaken;
	struct oz_zaakobject *objs; /* in the order they were made */
	size_t n_objs, cap_objs;
	struct oz_stat *stats;
	size_t n_stats, cap_stats;
	unsigned fail_status, fail_count, slow_ms, slow_count, drop_count;
	bool fail_after, drop_after, down;
};

/* One query argument, decoded; value "" when it had no "=". */
struct oz_arg {
	const char *key;
	const char *value;
};

/* What the API half needs of a request. Headers are NULL when absent. */
struct oz_request {
	const char *method;
	const char *host; /* the Host header, or "127.0.0.1:PORT" */
	const char *authorization;
	const char *content_type;
	const char *body; /* NUL-terminated; body_len excludes the NUL */
	size_t body_len;
	const struct oz_arg *args;
	size_t n_args;
};

/* An answer: a status, a body (malloc'ed, may be NULL: empty) and its type. */
struct oz_answer {
	unsigned status;
	char *body;
	const char *content_type;
};

/* A test tool stops at the first problem: one line on stderr, exit 2. */
__attribute__((format(printf, 1, 2), noreturn)) void oz_die(const char *fmt, ...);
/* P, or the end of the process with "out of memory while WHAT". */
void *oz_need(void *p, const char *what);
char *oz_strdup(const char *s, const char *what);

/* Writes the canonical form (lower case, hyphens) of a UUID as Python's
 * uuid.UUID(hex=...) reads it (braces and hyphens ignored, 32 hex digits)
 * into OUT; false when IN is not one. */
bool oz_uuid_parse(const char *in, char out[OZ_UUID_LEN + 1]);
/* A new random UUID (libuuid), canonical. */
void oz_uuid_new(char out[OZ_UUID_LEN + 1]);

/* Adds a known Zaak (canonical uuid) unless known; the caller holds mu. */
void oz_zaak_add_locked(struct oz_state *st, const char *uuid);
/* Forgets every ZaakObject; the caller holds mu. */
void oz_objects_clear_locked(struct oz_state *st);
/* Every ZaakObject as a JSON array (malloc'ed), URLs on HOST; takes mu. */
char *oz_objects_json(struct oz_state *st, const char *host);

/* POST /events: Open Zaak's CloudEvent webhook. */
void oz_events(struct oz_state *st, const struct oz_request *rq, struct oz_answer *ans);
/* /zaken/api/v1/zaakobjecten: the Zaken API's list. */
void oz_zaakobjecten(struct oz_state *st, const struct oz_request *rq, struct oz_answer *ans);
/* DOC (deleted) as the answer, of TYPE. */
void oz_answer_json(struct oz_answer *ans, unsigned status, cJSON *doc, const char *type);
/* A problem+json answer as Open Zaak's exception handler writes it. */
void oz_problem(struct oz_answer *ans, const char *host, unsigned status, const char *exc,
                const char *code, const char *title, const char *detail, const char *param,
                const char *param_code, const char *reason);

#endif
