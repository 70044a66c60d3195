/* openzaak-standin: Open Zaak's CloudEvent webhook and zaakobjecten list, for zaaklink's tests.
 *
 * `zaaklink deliver` delivers zaaklink's CloudEvents into Open Zaak. Its
 * tests need an Open Zaak that answers as the real one does, and that a
 * test can make slow, failing, silent or down. This is that stand-in: one
 * process, one loopback port, its state in memory.
 *
 *   openzaak-standin --listen 127.0.0.1:PORT --port-file F [--pid-file F]
 *                    --client ID:SECRET:SCOPE[,SCOPE...] ... [--zaak UUID]...
 *                    [--zaken-file F] [--page-size N] [--log F]
 *
 * --listen      a loopback address (127.0.0.0/8); PORT 0 takes a free port.
 * --port-file   the port, one line, written (temporary file, rename) once listening.
 * --pid-file    the process id, written the same way; removed on exit.
 * --client      a client Open Zaak knows: its client_id, its JWT secret (an
 *               empty one is no client, as in Open Zaak) and its scopes, e.g.
 *               cloudevents.bezorgen,zaken.lezen ("*": heeft_alle_autorisaties).
 *               Repeatable. ID ends at the first colon, SCOPES start after the last.
 * --zaak        a Zaak that exists (its uuid); --zaken-file F: one uuid a line
 *               (blank lines and lines starting with # skipped).
 * --page-size   the list's page size (default 100, Open Zaak's PAGE_SIZE).
 * --log F       one line per API request: METHOD PATH STATUS (or "dropped").
 * SIGTERM or SIGINT ends it, exit 0. Base URL: http://127.0.0.1:PORT.
 *
 * It follows Open Zaak 1.30.0 (github.com/open-zaak/open-zaak at commit
 * 90dd5eb0b47853af0e445187cc61ddd8ec5f64ea, 2026-08-20) with what it pins:
 * commonground-api-common 2.14 (vng_api_common), cloudevents 1.12.0,
 * PyJWT 2.13, djangorestframework 3.15. Behaviour reproduced, from
 *
 * notifications/viewsets.py (CloudEventWebhook), POST /events:
 *   - permission first (AuthScopesRequired, scope cloudevents.bezorgen of
 *     component nrc): any failure is 403, never 401 (the API has no DRF
 *     authentication classes, so DRF answers PermissionDenied). A method
 *     other than POST needs a scope no client has: 403.
 *   - then Content-Type exactly "application/cloudevents+json", else 415
 *     with an empty body (no parameters, no other case).
 *   - then cloudevents' from_http in structured mode: the body must be a
 *     JSON object with specversion "1.0" or "0.3" and the keys id, source,
 *     type, specversion; else 400, problem+json, code "invalid" and
 *     invalidParams [{name "cloudevent", code "malformed-cloudevent"}].
 *   - then every handler runs; 202 {"accepted": true, "eventId": ID} (the
 *     view's event_id, camelized by the CamelCaseJSONRenderer), whatever
 *     the handler did with the data; when a handler raised, 500
 *     {"accepted": false, "eventId": ID, "code":
 *     "incoming_cloud_event_uncaught_exception"}.
 * components/zaken/api/cloudevents.py, the two handlers zaaklink reaches:
 *   - zaak-gekoppeld: data falsy: dropped. data not an object, or data.zaak
 *     present but not a string: raises (500). zaak "urn:uuid:U" (exactly
 *     three colon-separated parts): U not a uuid raises (500), an unknown
 *     Zaak is dropped; an http(s) URL counts only as this API's
 *     /zaken/api/v1/zaken/U of a known Zaak; anything else is dropped. Then
 *     ZaakObjectSerializer: linkObjectType one of ZaakobjectTypes becomes
 *     objectType, any other value objectType "overige" with
 *     objectTypeOverige = that value, which must be a non-empty string of
 *     at most 100 characters (so a missing linkObjectType, or "overige"
 *     itself, is dropped: missing-object-type-overige); linkTo must be a
 *     string, an http(s) URL of at most 1000 characters; label must be a
 *     string (null or missing is dropped) of at most 80 characters;
 *     strings are trimmed first (trim_whitespace); lengths count
 *     characters. A new ZaakObject each time: no lookup, no unique key.
 *   - zaak-ontkoppeld: the same data checks; zaak "urn:uuid:U" or the last
 *     path segment of an http(s) URL: not a uuid raises (500), unknown is
 *     dropped; linkTo falsy is dropped; then every ZaakObject of that Zaak
 *     whose object equals linkTo byte for byte is deleted.
 * vng_api_common authorizations/middleware.py (JWTAuth), every API request:
 *   - "Authorization: Bearer TOKEN"; none: 403 permission_denied.
 *   - TOKEN not three base64url JSON segments: 403 jwt-decode-error;
 *     no client_id claim: missing-client-identifier; unknown client:
 *     invalid-client-identifier; alg other than HS256:
 *     jwt-invalidalgorithmerror; HMAC-SHA256 with the client's secret
 *     differs: invalid-jwt-signature; no iat (or null):
 *     jwt-missing-iat-claim; PyJWT's claim checks (nbf in the future,
 *     exp passed, an aud, a non-string sub or jti); int(iat) fails: 403;
 *     now - iat >= 3600 (JWT_EXPIRY, TIME_LEEWAY 0): jwt-expired. Then the
 *     scope: 403 permission_denied. Errors are problem+json (type, code,
 *     title, status, detail, instance) as vng_api_common's handler writes.
 * zaken/api/viewsets.py ZaakObjectViewSet + filters.py ZaakObjectFilter,
 *   GET /zaken/api/v1/zaakobjecten (scope zaken.lezen, component zrc):
 *   - query arguments zaak, object, objectType, page, pageSize only, else
 *     400 unknown-parameters (CheckQueryParamsMixin); objectType must be a
 *     ZaakobjectTypes value (400 invalid_choice); empty values filter
 *     nothing; zaak is a URL on the request's own host naming a known
 *     Zaak, else nothing matches; object is compared exactly (trimmed).
 *   - newest first (order_by -pk); ExactPagination: page (a number or
 *     "last"; out of range: 404), pageSize (at most 500; invalid: the
 *     default); {count, next, previous, results}, next/previous as DRF
 *     writes them (the request URL, arguments sorted, page replaced;
 *     page 1 without page). Each result: url, uuid, zaak, object,
 *     zaakobjecttype "", objectType, objectTypeOverige,
 *     objectTypeOverigeDefinitie null, relatieomschrijving.
 *
 * Not reproduced: binary-mode CloudEvents and data_base64 (400 here);
 * Open Zaak's fetch of linkTo (URLValidator wants it to answer 200: a real
 * Open Zaak drops a link whose object it cannot GET); authorisations per
 * zaaktype and vertrouwelijkheidaanduiding; closed or archived Zaken;
 * other methods on zaakobjecten (405 here); Dutch texts in details.
 *
 * Test control, /_admin/ (no authentication; answers JSON):
 *   GET  /_admin/zaakobjecten       every ZaakObject, oldest first (as in the list)
 *   POST /_admin/zaken?uuid=U       U becomes a known Zaak
 *   POST /_admin/fail?status=S&count=N[&after=1]
 *                                   the next N API requests are answered S
 *                                   (100-599); after=1: handled first, then S
 *   POST /_admin/slow?ms=M&count=N  the next N API answers wait M ms (after handling)
 *   POST /_admin/drop?count=N[&after=1]
 *                                   the next N API requests are read, then their
 *                                   connection closed unanswered; after=1: handled first
 *   POST /_admin/down, /_admin/up   while down every API request is answered 503
 *   GET  /_admin/stats              {"PATH": {"STATUS": COUNT, ...}, ...} of API requests
 *                                   ("dropped" for the closed ones)
 *   POST /_admin/reset              forgets every ZaakObject
 * count defaults to 1; count=0 ends a switch. "API request": any request
 * outside /_admin/. Down wins over drop, drop over fail; slow adds to all.
 *
 * How: libmicrohttpd with a thread per connection (a slow answer holds
 * only its own), every request's body read whole (1 MiB at most, else 413)
 * before anything is decided; the state (struct oz_state) under one mutex.
 * The main thread waits for SIGTERM/SIGINT with sigwait, then stops the
 * server, which ends the slow waits early.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "openzaak-standin.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#define BODY_MAX (1024 * 1024)

static const char usage[] =
    "usage: openzaak-standin --listen 127.0.0.1:PORT --port-file F [--pid-file F]\n"
    "         --client ID:SECRET:SCOPE[,SCOPE...] ... [--zaak UUID]... [--zaken-file F]\n"
    "         [--page-size N] [--log F]\n"
    "Open Zaak's POST /events and GET /zaken/api/v1/zaakobjecten, with test control\n"
    "under /_admin/ (see the head of tests/tools/openzaak-standin.c). SIGTERM ends it.\n";

static struct oz_state st = {.mu = PTHREAD_MUTEX_INITIALIZER, .page_size = 100};
static FILE *log_file;
static atomic_bool stopping;

void oz_die(const char *fmt, ...)
{
	va_list ap;

	fputs("openzaak-standin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

void *oz_need(void *p, const char *what)
{
	if (!p)
		oz_die("out of memory while %s", what);
	return p;
}

char *oz_strdup(const char *s, const char *what)
{
	return oz_need(strdup(s), what);
}

bool oz_uuid_parse(const char *in, char out[OZ_UUID_LEN + 1])
{
	char hex[33];
	size_t n = 0, len = strlen(in);
	uuid_t u;

	/* uuid.UUID(hex=...): braces at either end and every hyphen are ignored. */
	while (len > 0 && (in[len - 1] == '{' || in[len - 1] == '}'))
		len--;
	while (len > 0 && (*in == '{' || *in == '}'))
		in++, len--;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '-')
			continue;
		if (!isxdigit((unsigned char)in[i]) || n == 32)
			return false;
		hex[n++] = (char)tolower((unsigned char)in[i]);
	}
	if (n != 32)
		return false;
	hex[32] = '\0';
	snprintf(out, OZ_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
	         hex + 16, hex + 20);
	return uuid_parse(out, u) == 0;
}

void oz_uuid_new(char out[OZ_UUID_LEN + 1])
{
	uuid_t u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
}

/* ------------------------------------------------------------ answers ---- */

void oz_answer_json(struct oz_answer *ans, unsigned status, cJSON *doc, const char *type)
{
	oz_need(doc, "building an answer");
	ans->status = status;
	ans->body = oz_need(cJSON_PrintUnformatted(doc), "writing an answer");
	ans->content_type = type;
	cJSON_Delete(doc);
}

void oz_problem(struct oz_answer *ans, const char *host, unsigned status, const char *exc,
                const char *code, const char *title, const char *detail, const char *param,
                const char *param_code, const char *reason)
{
	/* vng_api_common.exception_handling: a Fout, or a ValidatieFout with invalidParams. */
	cJSON *doc = oz_need(cJSON_CreateObject(), "building an error");
	char type[300], instance[OZ_UUID_LEN + 10];

	snprintf(type, sizeof(type), "http://%s/ref/fouten/%s/", host, exc);
	memcpy(instance, "urn:uuid:", 9);
	oz_uuid_new(instance + 9);
	cJSON_AddStringToObject(doc, "type", type);
	cJSON_AddStringToObject(doc, "code", code);
	cJSON_AddStringToObject(doc, "title", title);
	cJSON_AddNumberToObject(doc, "status", status);
	cJSON_AddStringToObject(doc, "detail", detail);
	cJSON_AddStringToObject(doc, "instance", instance);
	if (param) {
		cJSON *list = cJSON_AddArrayToObject(doc, "invalidParams");
		cJSON *p = cJSON_CreateObject();

		cJSON_AddStringToObject(p, "name", param);
		cJSON_AddStringToObject(p, "code", param_code);
		cJSON_AddStringToObject(p, "reason", reason);
		oz_need(list && p && cJSON_AddItemToArray(list, p) ? list : NULL,
		        "building an error");
	}
	oz_answer_json(ans, status, doc, "application/problem+json");
}

/* ----------------------------------------------------------- requests ---- */

/* One request while it is read: its body and the faults decided for it. */
struct req {
	char *body;
	size_t len, cap;
	bool admin, too_big, down, drop, drop_after, fail_after;
	unsigned fail_status, slow_ms;
};

struct args {
	struct oz_arg *v;
	size_t n, cap;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
	struct args *a = cls;

	(void)kind;
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 8;
		a->v = oz_need(realloc(a->v, a->cap * sizeof(*a->v)), "reading the query");
	}
	a->v[a->n].key = key;
	a->v[a->n++].value = value ? value : "";
	return MHD_YES;
}

/* The count of PATH answered STATUS goes up by one; the caller holds mu. */
static void count_locked(const char *path, const char *status)
{
	for (size_t i = 0; i < st.n_stats; i++) {
		if (strcmp(st.stats[i].path, path) == 0 &&
		    strcmp(st.stats[i].status, status) == 0) {
			st.stats[i].count++;
			return;
		}
	}
	if (st.n_stats == st.cap_stats) {
		st.cap_stats = st.cap_stats ? 2 * st.cap_stats : 16;
		st.stats = oz_need(realloc(st.stats, st.cap_stats * sizeof(*st.stats)),
		                   "counting requests");
	}
	st.stats[st.n_stats].path = oz_strdup(path, "counting requests");
	snprintf(st.stats[st.n_stats].status, sizeof(st.stats[0].status), "%s", status);
	st.stats[st.n_stats++].count = 1;
}

static void record(const char *method, const char *path, const char *status)
{
	pthread_mutex_lock(&st.mu);
	count_locked(path, status);
	if (log_file) {
		fprintf(log_file, "%s %s %s\n", method, path, status);
		fflush(log_file);
	}
	pthread_mutex_unlock(&st.mu);
}

static char *stats_json(void)
{
	cJSON *doc = oz_need(cJSON_CreateObject(), "listing the counts");
	char *s;

	pthread_mutex_lock(&st.mu);
	for (size_t i = 0; i < st.n_stats; i++) {
		cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, st.stats[i].path);

		if (!p)
			p = cJSON_AddObjectToObject(doc, st.stats[i].path);
		oz_need(cJSON_AddNumberToObject(oz_need(p, "listing the counts"),
		                                st.stats[i].status, (double)st.stats[i].count),
		        "listing the counts");
	}
	pthread_mutex_unlock(&st.mu);
	s = oz_need(cJSON_PrintUnformatted(doc), "listing the counts");
	cJSON_Delete(doc);
	return s;
}

static enum MHD_Result send_answer(struct MHD_Connection *c, struct oz_answer *ans)
{
	struct MHD_Response *r;
	enum MHD_Result rc;
	char *body = ans->body ? ans->body : oz_strdup("", "answering");

	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (ans->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ans->content_type);
	if (ans->status == 405)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
	rc = MHD_queue_response(c, ans->status, r);
	MHD_destroy_response(r);
	return rc;
}

static void simple(struct oz_answer *ans, unsigned status, const char *detail)
{
	cJSON *doc = oz_need(cJSON_CreateObject(), "answering");

	oz_need(cJSON_AddStringToObject(doc, "detail", detail), "answering");
	ans->status = status;
	ans->body = oz_need(cJSON_PrintUnformatted(doc), "answering");
	ans->content_type = "application/json";
	cJSON_Delete(doc);
}

/* A number argument of an admin request: DFLT when absent, -1 when not a number. */
static long num_arg(struct MHD_Connection *c, const char *key, long dflt)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
	char *end;
	long n;

	if (!v)
		return dflt;
	errno = 0;
	n = strtol(v, &end, 10);
	return end == v || *end || errno || n < 0 || n > 1000000000 ? -1 : n;
}

/* /_admin/...: the test's switches. */
static void admin(struct MHD_Connection *c, const char *method, const char *what,
                  struct oz_answer *ans)
{
	static const char *const switches[] = {"zaken", "fail", "slow", "drop",
	                                       "down",  "up",   "reset"};
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0, known = false;
	long count = num_arg(c, "count", 1), n = 0, after = num_arg(c, "after", 0);
	const char *uuid_arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "uuid");
	char host[32], uuid[OZ_UUID_LEN + 1];

	snprintf(host, sizeof(host), "127.0.0.1:%u", st.port);
	if (get && strcmp(what, "zaakobjecten") == 0) {
		ans->status = 200;
		ans->body = oz_objects_json(&st, host);
		ans->content_type = "application/json";
		return;
	}
	if (get && strcmp(what, "stats") == 0) {
		ans->status = 200;
		ans->body = stats_json();
		ans->content_type = "application/json";
		return;
	}
	for (size_t i = 0; i < sizeof(switches) / sizeof(*switches); i++)
		known = known || strcmp(what, switches[i]) == 0;
	if (!known && strcmp(what, "zaakobjecten") != 0 && strcmp(what, "stats") != 0) {
		simple(ans, 404, "no such switch");
		return;
	}
	if (!post || !known) {
		simple(ans, 405, "GET /_admin/zaakobjecten and /_admin/stats; the rest is POST");
		return;
	}
	if (strcmp(what, "fail") == 0)
		n = num_arg(c, "status", -1);
	else if (strcmp(what, "slow") == 0)
		n = num_arg(c, "ms", -1);
	if (count < 0 || after < 0 ||
	    ((strcmp(what, "fail") == 0 && (n < 100 || n > 599)) ||
	     (strcmp(what, "slow") == 0 && n < 0))) {
		simple(ans, 400,
		       "fail needs status=100..599, slow ms=M; count and after are numbers");
		return;
	}
	if (strcmp(what, "zaken") == 0 && !(uuid_arg && oz_uuid_parse(uuid_arg, uuid))) {
		simple(ans, 400, "zaken needs uuid=UUID");
		return;
	}
	pthread_mutex_lock(&st.mu);
	if (strcmp(what, "zaken") == 0) {
		oz_zaak_add_locked(&st, uuid);
	} else if (strcmp(what, "fail") == 0) {
		st.fail_status = (unsigned)n;
		st.fail_count = (unsigned)count;
		st.fail_after = after != 0;
	} else if (strcmp(what, "slow") == 0) {
		st.slow_ms = (unsigned)n;
		st.slow_count = (unsigned)count;
	} else if (strcmp(what, "drop") == 0) {
		st.drop_count = (unsigned)count;
		st.drop_after = after != 0;
	} else if (strcmp(what, "down") == 0 || strcmp(what, "up") == 0) {
		st.down = strcmp(what, "down") == 0;
	} else { /* reset */
		oz_objects_clear_locked(&st);
	}
	pthread_mutex_unlock(&st.mu);
	simple(ans, 200, "ok");
}

/* Takes the faults the next API request gets, counting them down. */
static void take_faults(struct req *r)
{
	pthread_mutex_lock(&st.mu);
	r->down = st.down;
	if (!r->down && st.drop_count > 0) {
		st.drop_count--;
		r->drop = true;
		r->drop_after = st.drop_after;
	} else if (!r->down && st.fail_count > 0) {
		st.fail_count--;
		r->fail_status = st.fail_status;
		r->fail_after = st.fail_after;
	}
	if (st.slow_count > 0) {
		st.slow_count--;
		r->slow_ms = st.slow_ms;
	}
	pthread_mutex_unlock(&st.mu);
}

/* Waits MS milliseconds, or less when the server stops. */
static void wait_ms(unsigned ms)
{
	struct timespec step = {0, 10 * 1000 * 1000};

	for (unsigned waited = 0; waited < ms && !atomic_load(&stopping); waited += 10)
		nanosleep(&step, NULL);
}

/* The API: Open Zaak's answer to a request read whole. */
static void api(struct MHD_Connection *c, const char *url, const char *method, struct req *r,
                struct oz_answer *ans)
{
	struct args a = {0};
	struct oz_request rq = {0};
	char host[32];

	snprintf(host, sizeof(host), "127.0.0.1:%u", st.port);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
	rq.method = method;
	rq.host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	rq.host = rq.host ? rq.host : host;
	rq.authorization =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	rq.content_type =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	rq.body = r->body ? r->body : "";
	rq.body_len = r->len;
	rq.args = a.v;
	rq.n_args = a.n;
	if (strcmp(url, "/events") == 0) {
		oz_events(&st, &rq, ans);
	} else if (strcmp(url, "/zaken/api/v1/zaakobjecten") == 0) {
		if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
			oz_zaakobjecten(&st, &rq, ans);
		else
			simple(ans, 405, "only GET is reproduced here");
	} else {
		oz_problem(ans, rq.host, 404, "NotFound", "not_found", "Niet gevonden.",
		           "Niet gevonden.", NULL, NULL, NULL);
	}
	free(a.v);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
	struct req *r = *con_cls;
	struct oz_answer ans = {0};
	char status[16];

	(void)cls;
	(void)version;
	if (!r) {
		r = oz_need(calloc(1, sizeof(*r)), "reading a request");
		r->admin = strncmp(url, "/_admin/", 8) == 0;
		if (!r->admin)
			take_faults(r);
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->len + *upload_size > BODY_MAX) {
			r->too_big = true;
		} else {
			if (r->len + *upload_size + 1 > r->cap) {
				r->cap = r->len + *upload_size + 1;
				r->body = oz_need(realloc(r->body, r->cap), "reading a request");
			}
			memcpy(r->body + r->len, upload_data, *upload_size);
			r->len += *upload_size;
			r->body[r->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->admin) {
		admin(c, method, url + 8, &ans);
		return send_answer(c, &ans);
	}
	if (r->down)
		simple(&ans, 503, "down (POST /_admin/up)");
	else if (r->too_big)
		simple(&ans, 413, "the body is larger than 1 MiB");
	else if (r->drop && !r->drop_after)
		ans.status = 0;
	else if (r->fail_status && !r->fail_after)
		simple(&ans, r->fail_status, "an injected failure (POST /_admin/fail)");
	else
		api(c, url, method, r, &ans);
	if (r->drop) {
		free(ans.body);
		record(method, url, "dropped");
		wait_ms(r->slow_ms);
		return MHD_NO;
	}
	if (r->fail_status && r->fail_after) {
		free(ans.body);
		ans.body = NULL;
		simple(&ans, r->fail_status, "an injected failure (POST /_admin/fail)");
	}
	snprintf(status, sizeof(status), "%u", ans.status);
	record(method, url, status);
	wait_ms(r->slow_ms);
	return send_answer(c, &ans);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r) {
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
}

/* ------------------------------------------------------------- the rest ---- */

/* Writes TEXT to PATH through PATH.tmp and a rename, so a reader sees all or nothing. */
static void write_file(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "w")) || fputs(text, f) < 0 || fclose(f) != 0)
		oz_die("cannot write %s: %s", tmp, strerror(errno));
	if (rename(tmp, path) != 0)
		oz_die("cannot rename %s to %s: %s", tmp, path, strerror(errno));
}

static void add_client(const char *spec)
{
	const char *c1 = strchr(spec, ':'), *c2 = strrchr(spec, ':');
	struct oz_client *cl;
	char *scopes, *tok, *save = NULL;

	if (!c1 || c1 == c2 || c1 == spec)
		oz_die("--client %s: not ID:SECRET:SCOPE[,SCOPE...]", spec);
	st.clients = oz_need(realloc(st.clients, (st.n_clients + 1) * sizeof(*st.clients)),
	                     "adding a client");
	cl = &st.clients[st.n_clients++];
	cl->id = oz_need(strndup(spec, (size_t)(c1 - spec)), "adding a client");
	cl->secret = oz_need(strndup(c1 + 1, (size_t)(c2 - c1 - 1)), "adding a client");
	cl->scopes = NULL;
	cl->n_scopes = 0;
	scopes = oz_strdup(c2 + 1, "adding a client");
	for (tok = strtok_r(scopes, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		cl->scopes = oz_need(realloc(cl->scopes, (cl->n_scopes + 1) * sizeof(char *)),
		                     "adding a client");
		cl->scopes[cl->n_scopes++] = oz_strdup(tok, "adding a client");
	}
	free(scopes);
}

static void add_zaak(const char *text, const char *where)
{
	char uuid[OZ_UUID_LEN + 1];

	if (!oz_uuid_parse(text, uuid))
		oz_die("%s: '%s' is not a uuid", where, text);
	oz_zaak_add_locked(&st, uuid); /* before the server runs: nobody else holds mu */
}

static void read_zaken(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256], where[300];
	unsigned n = 0;

	if (!f)
		oz_die("--zaken-file %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *s = line, *e;

		n++;
		while (isspace((unsigned char)*s))
			s++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		snprintf(where, sizeof(where), "%s:%u", path, n);
		if (*s && *s != '#')
			add_zaak(s, where);
	}
	fclose(f);
}

static struct sockaddr_in listen_addr(const char *arg)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const char *colon = strrchr(arg, ':');
	char ip[INET_ADDRSTRLEN];
	char *end;
	long port;

	if (!colon || (size_t)(colon - arg) >= sizeof(ip))
		oz_die("--listen: '%s' is not 127.x.x.x:PORT", arg);
	memcpy(ip, arg, (size_t)(colon - arg));
	ip[colon - arg] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1 || *end || end == colon + 1 || port < 0 ||
	    port > 65535)
		oz_die("--listen: '%s' is not 127.x.x.x:PORT", arg);
	if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127)
		oz_die("--listen: %s is not a loopback address", ip);
	sa.sin_port = htons((unsigned short)port);
	return sa;
}

static void free_state(void)
{
	for (size_t i = 0; i < st.n_clients; i++) {
		for (size_t j = 0; j < st.clients[i].n_scopes; j++)
			free(st.clients[i].scopes[j]);
		free(st.clients[i].scopes);
		free(st.clients[i].id);
		free(st.clients[i].secret);
	}
	free(st.clients);
	oz_objects_clear_locked(&st);
	free(st.objs);
	free(st.zaken);
	for (size_t i = 0; i < st.n_stats; i++)
		free(st.stats[i].path);
	free(st.stats);
}

int main(int argc, char **argv)
{
	const char *listen_arg = NULL, *port_file = NULL, *pid_file = NULL, *log_path = NULL;
	socklen_t sa_len = sizeof(struct sockaddr_in);
	int fd, one = 1;
	struct MHD_Daemon *d;
	struct sockaddr_in sa;
	sigset_t sigs;
	char line[32];
	int sig;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		}
		if (i + 1 >= argc)
			oz_die("%s: a value is needed (--help)", a);
		if (strcmp(a, "--listen") == 0)
			listen_arg = argv[++i];
		else if (strcmp(a, "--port-file") == 0)
			port_file = argv[++i];
		else if (strcmp(a, "--pid-file") == 0)
			pid_file = argv[++i];
		else if (strcmp(a, "--client") == 0)
			add_client(argv[++i]);
		else if (strcmp(a, "--zaak") == 0)
			add_zaak(argv[++i], "--zaak");
		else if (strcmp(a, "--zaken-file") == 0)
			read_zaken(argv[++i]);
		else if (strcmp(a, "--log") == 0)
			log_path = argv[++i];
		else if (strcmp(a, "--page-size") == 0) {
			char *end;
			long n = strtol(argv[++i], &end, 10);

			if (*end || n < 1 || n > 500)
				oz_die("--page-size: '%s' is not 1..500", argv[i]);
			st.page_size = (unsigned)n;
		} else
			oz_die("unknown option '%s' (--help)", a);
	}
	if (!listen_arg || !port_file)
		oz_die("--listen and --port-file are needed (--help)");
	sa = listen_addr(listen_arg);
	if (log_path && !(log_file = fopen(log_path, "a")))
		oz_die("--log %s: %s", log_path, strerror(errno));
	/* Every thread inherits the mask: only sigwait below takes these. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Bound here, so that the port is known before the first request can come. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sa_len) != 0)
		oz_die("cannot listen on %s: %s", listen_arg, strerror(errno));
	st.port = ntohs(sa.sin_port);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
	                     NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	                     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	                     MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
	if (!d)
		oz_die("cannot serve on %s", listen_arg);
	if (pid_file) {
		snprintf(line, sizeof(line), "%ld\n", (long)getpid());
		write_file(pid_file, line);
	}
	snprintf(line, sizeof(line), "%u\n", st.port);
	write_file(port_file, line);
	fprintf(stderr, "openzaak-standin: listening on port %u\n", st.port);
	while (sigwait(&sigs, &sig) != 0)
		;
	atomic_store(&stopping, true);
	MHD_stop_daemon(d);
	if (pid_file)
		unlink(pid_file);
	if (log_file)
		fclose(log_file);
	free_state();
	return 0;
}
