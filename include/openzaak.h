/*
 * The HTTP client of zaaklink deliver: what it asks Open Zaak, over
 * libcurl's multi interface, up to deliver.concurrency requests at once in
 * one thread.
 *
 * Two kinds of request. "Post an event" sends a CloudEvent, as received,
 * to deliver.url (structured mode: Content-Type exactly
 * application/cloudevents+json, the whole event as the body). "Does this
 * link exist" asks the Zaken API for the ZaakObjecten of a zaak with a
 * given object (GET <zaken_api>/zaakobjecten?zaak=...&object=...) and
 * follows the pages until a result's object equals linkTo byte for byte.
 * Both carry a bearer token (jwt.h) made for the request, or reused while
 * at most 60 s old. TLS is verified unless deliver.verify_peer is false;
 * redirects are never followed (a token must not go elsewhere), and a
 * `next` page is asked of deliver.zaken_api whatever host the server
 * names in it (behind a proxy it may name its own).
 *
 * The caller submits requests, each with a pointer of its own, and drives
 * the client with openzaak_perform(), which waits for the network and
 * calls the done callback once per request with its result. Nothing
 * happens between calls of openzaak_perform(): no thread, no signal.
 * What a result means for the message (delivered, retried, parked, stop
 * taking messages) is openzaak_outcome()'s, a pure function.
 */
#ifndef ZL_OPENZAAK_H
#define ZL_OPENZAAK_H

#include "common.h"
#include "conf.h"

#include <stdbool.h>
#include <stddef.h>

/* The most of a response body kept; a larger one fails the request (status 0). */
#define OPENZAAK_MAX_BODY (4u * 1024u * 1024u)
/* The most pages of zaakobjecten followed for one question. */
#define OPENZAAK_MAX_PAGES 1000
/* A token is reused for at most this many seconds (Open Zaak takes it for an hour). */
#define OPENZAAK_TOKEN_MAX_AGE_S 60

struct zl_openzaak;

enum openzaak_kind {
	OPENZAAK_POST_EVENT,  /* POST deliver.url */
	OPENZAAK_LINK_EXISTS, /* GET zaakobjecten, page by page */
};

/* The answer to "does this link exist". */
enum openzaak_link {
	OPENZAAK_LINK_UNKNOWN = -1, /* no answer: see status, timed_out and error */
	OPENZAAK_LINK_ABSENT = 0,   /* every page read, no result with that object */
	OPENZAAK_LINK_PRESENT = 1,  /* a result with object == linkTo, byte for byte */
};

/* What a request ended with; valid only during the done callback. */
struct openzaak_result {
	enum openzaak_kind kind;
	void *caller; /* as given when it was submitted */
	/* HTTP status of the last response (a link question: of the page that
	 * ended it); 0 when none came: a transport error, see timed_out and error. */
	long status;
	bool timed_out; /* status 0 because deliver.timeout passed (connecting included) */
	/* Why it failed, one line, or NULL: status 0 (curl's text), or a
	 * link question answered 2xx with a page that is not one (LINK_UNKNOWN). */
	const char *error;
	const char *body; /* the last response's body, NUL-terminated ("" for none) */
	size_t body_len;
	enum openzaak_link link; /* OPENZAAK_LINK_EXISTS only; UNKNOWN for a post */
	int pages;               /* OPENZAAK_LINK_EXISTS: pages read */
	int64_t elapsed_ms;      /* from submission to the end */
};

/* Called once per submitted request, from openzaak_perform(). It may submit
 * new requests; it must not free the client. */
typedef void (*openzaak_done_fn)(const struct openzaak_result *r, void *user);

/*
 * A client for deliver (conf->deliver: url, zaken_api, client_id,
 * concurrency, timeout and the TLS settings) signing with secret
 * (conf_deliver_secret()). conf and secret are read at every request and
 * must outlive the client (or secret be replaced first). done gets user with every result. Returns
 * NULL with err filled when libcurl cannot be set up or out of memory.
 */
struct zl_openzaak *openzaak_new(const struct zl_deliver_conf *conf, const char *secret,
                                 openzaak_done_fn done, void *user, struct zl_err *err);
/* Signs with secret from now on (after a reload: the old one is freed) and
 * forgets the token made with the old secret or client_id. */
void openzaak_set_secret(struct zl_openzaak *c, const char *secret);
/* Aborts what is in flight without calling done, and frees the client. NULL is fine. */
void openzaak_free(struct zl_openzaak *c);

/*
 * Submits "post this CloudEvent": the len bytes of event_json (copied) as
 * the body to deliver.url. Returns 0, or -1 with err filled: out of memory
 * or libcurl refused (ZL_EX_SOFTWARE), deliver.url unset (ZL_EX_CONFIG), or
 * deliver.concurrency requests already in flight (ZL_EX_TEMPFAIL: wait for
 * one to complete). done is never called for a refused request.
 */
int openzaak_post_event(struct zl_openzaak *c, const char *event_json, size_t len, void *caller,
                        struct zl_err *err);

/*
 * Submits "does zaak zaak_uuid have a ZaakObject with object link_to"
 * (both copied). zaak_uuid is the uuid alone (openzaak_zaak_uuid() takes
 * it out of an event's "urn:uuid:..."). Returns and fails like
 * openzaak_post_event(); ZL_EX_CONFIG when deliver.zaken_api is unset.
 */
int openzaak_link_exists(struct zl_openzaak *c, const char *zaak_uuid, const char *link_to,
                         void *caller, struct zl_err *err);

/*
 * Moves the requests in flight on, waiting at most timeout_ms for the
 * network (curl_multi_poll) when nothing is ready, and for extra_fd (-1:
 * none; the AMQP socket) to become readable, then calls done for each
 * request that completed. A socket library that buffers (rabbitmq-c) must
 * be asked for buffered frames before this waits. Returns the number of
 * requests completed (0 after a timeout or when extra_fd woke it), or -1
 * with err filled when libcurl's multi interface fails (ZL_EX_SOFTWARE).
 */
int openzaak_perform(struct zl_openzaak *c, int timeout_ms, int extra_fd, struct zl_err *err);

/* Requests submitted and not yet completed (a link question counts once). */
int openzaak_in_flight(const struct zl_openzaak *c);

/* ---- pure parts, for the client and its tests ---- */

enum openzaak_outcome {
	OPENZAAK_DONE,        /* it took effect (or the question has its answer) */
	OPENZAAK_RETRY,       /* try again later: the message goes to a retry tier */
	OPENZAAK_PARK,        /* it will never succeed: park it, with the reason */
	OPENZAAK_CREDENTIALS, /* 401 or 403: stop taking messages, the client is refused */
};

/*
 * What a result means. 2xx: DONE (a link question answered UNKNOWN:
 * RETRY, "bad_response"). Status 0: RETRY, "timeout" or "connection".
 * 408, 429 and 5xx: RETRY, "http_NNN". 401 and 403: CREDENTIALS,
 * "credentials". 400 (not a valid CloudEvent) and 415: PARK, "http_400",
 * "http_415"; any other 4xx: PARK, "http_NNN" (404 and 405 are a wrong
 * deliver.url or zaken_api as much as a bad message: the parked messages
 * can be requeued). 1xx and 3xx (redirects are not followed): RETRY,
 * "http_NNN". reason (at least 16 bytes) gets the reason, "" for DONE.
 */
enum openzaak_outcome openzaak_outcome(const struct openzaak_result *r, char *reason, size_t size);

/*
 * The first page of the question: "<zaken_api>/zaakobjecten?zaak=<zaak
 * URL>&object=<link_to>", both values escaped with curl_easy_escape(), the
 * zaak URL being "<zaken_api>/zaken/<zaak_uuid>". zaken_api has no
 * trailing '/' (the conf module strips it). NULL when out of memory.
 */
char *openzaak_zaakobjecten_url(const char *zaken_api, const char *zaak_uuid, const char *link_to);

/* The uuid of "urn:uuid:<uuid>" (a pointer into urn), when it is one
 * (8-4-4-4-12 hexadecimal digits); NULL otherwise. */
const char *openzaak_zaak_uuid(const char *urn);

/*
 * Reads one page of zaakobjecten (JSON: count, next, previous, results).
 * Returns 1 when a result's "object" equals object byte for byte, 0 when
 * none does (*next: the malloc'ed URL of the next page, NULL on the last:
 * "<zaken_api>/zaakobjecten?" and the query of the page's next), -1 with
 * why filled when the body is not such a page (not JSON, results not a
 * list, next neither null nor a .../zaakobjecten?... URL) or out of memory.
 */
int openzaak_parse_page(const char *body, size_t len, const char *object, const char *zaken_api,
                        char **next, char *why, size_t why_size);

#endif
