/*
 * The HTTP client of zaaklink deliver (include/openzaak.h): posts
 * CloudEvents into Open Zaak and asks the Zaken API whether a link exists,
 * over libcurl's multi interface.
 *
 * Every request is one easy handle in one multi handle, and one struct
 * request that carries the caller's pointer and collects the response
 * body. A link question is one request over several pages: when a page
 * neither finds the link nor is the last, the same easy handle is taken
 * out of the multi handle, pointed at the next page and added again, so
 * that the caller sees one completion and one slot of
 * deliver.concurrency. openzaak_perform() first copies each finished
 * handle out of curl_multi_info_read() (its message does not outlive the
 * handle's removal), then calls back, so that a callback may submit the
 * next request at once.
 *
 * The pure parts (outcome, URL, page) are at the end; the tests use them
 * without a network.
 */
#include "openzaak.h"
#include "config.h"
#include "jwt.h"

#include <cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define USER_AGENT "zaaklink/" PACKAGE_VERSION
#define CONTENT_TYPE "application/cloudevents+json"

struct request {
	struct zl_openzaak *client;
	struct request *prev, *next; /* in client->requests */
	CURL *easy;
	struct curl_slist *headers;
	enum openzaak_kind kind;
	void *caller;
	char *object; /* a link question: the linkTo it looks for */
	struct zl_text body;
	bool too_large; /* the body passed OPENZAAK_MAX_BODY */
	int pages;
	int64_t started_ms;
	char errbuf[CURL_ERROR_SIZE];
};

struct zl_openzaak {
	const struct zl_deliver_conf *conf;
	const char *secret;
	openzaak_done_fn done;
	void *user;
	CURLM *multi;
	struct request *requests; /* in flight */
	int in_flight;
	char *token; /* the bearer token, made at token_iat */
	int64_t token_iat;
};

/* ---- requests ---- */

static void request_free(struct request *r)
{
	if (!r)
		return;
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->object);
	free(r->body.buf);
	free(r);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct request *r = arg;

	if (r->body.len + n > OPENZAAK_MAX_BODY) {
		r->too_large = true;
		return 0; /* CURLE_WRITE_ERROR ends the transfer */
	}
	(void)size; /* always 1 */
	if (r->body.len + n + 1 > r->body.cap) {
		size_t cap = r->body.cap ? r->body.cap : 4096;
		char *buf;

		while (cap < r->body.len + n + 1)
			cap *= 2;
		if (!(buf = realloc(r->body.buf, cap))) {
			r->body.failed = true;
			return 0;
		}
		r->body.buf = buf;
		r->body.cap = cap;
	}
	memcpy(r->body.buf + r->body.len, data, n);
	r->body.len += n;
	r->body.buf[r->body.len] = '\0';
	return n;
}

static void forget_token(struct zl_openzaak *c)
{
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
		c->token = NULL;
	}
}

void openzaak_set_secret(struct zl_openzaak *c, const char *secret)
{
	c->secret = secret;
	forget_token(c);
}

/* The token of this minute, made anew when older than OPENZAAK_TOKEN_MAX_AGE_S. */
static const char *bearer(struct zl_openzaak *c, struct zl_err *err)
{
	int64_t now = zl_wall_s();

	if (c->token && now >= c->token_iat && now - c->token_iat < OPENZAAK_TOKEN_MAX_AGE_S)
		return c->token;
	forget_token(c);
	c->token = jwt_hs256(c->conf->client_id, c->secret, now, err);
	c->token_iat = now;
	return c->token;
}

/* Adds header "name: prefixvalue" to r ("name:" alone for an empty one,
 * which keeps curl from sending its own); false when out of memory. */
static bool add_header(struct request *r, const char *name, const char *prefix, const char *value)
{
	size_t size = strlen(name) + 2 + strlen(prefix) + strlen(value) + 1;
	char *line = malloc(size);
	struct curl_slist *l = NULL;

	if (line) {
		if (*prefix || *value)
			snprintf(line, size, "%s: %s%s", name, prefix, value);
		else
			snprintf(line, size, "%s:", name);
		l = curl_slist_append(r->headers, line);
		explicit_bzero(line, size);
		free(line);
	}
	if (l)
		r->headers = l;
	return l != NULL;
}

/* The options every request has: URL, headers, body, limits, TLS. */
static int setup_easy(struct request *r, const char *url, struct zl_err *err)
{
	const struct zl_deliver_conf *conf = r->client->conf;
	long timeout_ms = (long)(conf->timeout * 1000.0);
	CURL *e = r->easy;
	CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(e, opt, val);                                        \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_HTTPHEADER, r->headers);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_USERAGENT, USER_AGENT);
	SET(CURLOPT_TIMEOUT_MS, timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_SSL_VERIFYPEER, conf->verify_peer ? 1L : 0L);
	SET(CURLOPT_SSL_VERIFYHOST, conf->verify_peer ? 2L : 0L);
	if (conf->ca_file)
		SET(CURLOPT_CAINFO, conf->ca_file);
	if (conf->cert_file)
		SET(CURLOPT_SSLCERT, conf->cert_file);
	if (conf->key_file)
		SET(CURLOPT_SSLKEY, conf->key_file);
#undef SET
	if (rc != CURLE_OK)
		return zl_err_set(err, ZL_EX_SOFTWARE, "could not set up a request to %s: %s", url,
		                  curl_easy_strerror(rc));
	return 0;
}

/* A request of kind for caller, with its headers and token; NULL with err filled. */
static struct request *request_new(struct zl_openzaak *c, enum openzaak_kind kind, void *caller,
                                   struct zl_err *err)
{
	struct request *r;
	const char *token;

	if (c->in_flight >= c->conf->concurrency) {
		zl_err_set(err, ZL_EX_TEMPFAIL,
		           "%d requests to Open Zaak are in flight already (deliver.concurrency)",
		           c->in_flight);
		return NULL;
	}
	if (!(token = bearer(c, err)))
		return NULL;
	if (!(r = calloc(1, sizeof(*r))) || !(r->easy = curl_easy_init())) {
		request_free(r);
		zl_err_set(err, ZL_EX_SOFTWARE,
		           "out of memory while setting up a request to Open Zaak");
		return NULL;
	}
	r->client = c;
	r->kind = kind;
	r->caller = caller;
	r->started_ms = zl_now_ms();
	if (!add_header(r, "Authorization", "Bearer ", token) ||
	    !add_header(r, "Accept", "", "application/json")) {
		request_free(r);
		zl_err_set(err, ZL_EX_SOFTWARE,
		           "out of memory while building the headers for Open Zaak");
		return NULL;
	}
	return r;
}

/* Puts r in flight; frees it and fills err when the multi handle refuses. */
static int request_start(struct zl_openzaak *c, struct request *r, struct zl_err *err)
{
	CURLMcode mc = curl_multi_add_handle(c->multi, r->easy);

	if (mc != CURLM_OK) {
		request_free(r);
		return zl_err_set(err, ZL_EX_SOFTWARE, "could not start a request to Open Zaak: %s",
		                  curl_multi_strerror(mc));
	}
	r->next = c->requests;
	if (c->requests)
		c->requests->prev = r;
	c->requests = r;
	c->in_flight++;
	return 0;
}

static void request_unlink(struct zl_openzaak *c, struct request *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		c->requests = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	c->in_flight--;
}

int openzaak_post_event(struct zl_openzaak *c, const char *event_json, size_t len, void *caller,
                        struct zl_err *err)
{
	struct request *r;
	CURLcode rc;

	if (!c->conf->url)
		return zl_err_set(err, ZL_EX_CONFIG, "deliver.url is not set");
	if (!(r = request_new(c, OPENZAAK_POST_EVENT, caller, err)))
		return -1;
	/* "Expect:" keeps curl from waiting for a 100 Continue on larger bodies. */
	if (!add_header(r, "Content-Type", "", CONTENT_TYPE) || !add_header(r, "Expect", "", "")) {
		request_free(r);
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while building the headers for Open Zaak");
	}
	if (setup_easy(r, c->conf->url, err) < 0) {
		request_free(r);
		return -1;
	}
	rc = curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, event_json);
	if (rc != CURLE_OK) {
		request_free(r);
		return zl_err_set(err, ZL_EX_SOFTWARE, "could not copy an event to post it: %s",
		                  curl_easy_strerror(rc));
	}
	return request_start(c, r, err);
}

int openzaak_link_exists(struct zl_openzaak *c, const char *zaak_uuid, const char *link_to,
                         void *caller, struct zl_err *err)
{
	struct request *r;
	char *url;
	int rc;

	if (!c->conf->zaken_api)
		return zl_err_set(err, ZL_EX_CONFIG, "deliver.zaken_api is not set");
	if (!(r = request_new(c, OPENZAAK_LINK_EXISTS, caller, err)))
		return -1;
	if (!(r->object = strdup(link_to)) ||
	    !(url = openzaak_zaakobjecten_url(c->conf->zaken_api, zaak_uuid, link_to))) {
		request_free(r);
		return zl_err_set(err, ZL_EX_SOFTWARE,
		                  "out of memory while building a zaakobjecten URL");
	}
	rc = setup_easy(r, url, err);
	free(url);
	if (rc < 0) {
		request_free(r);
		return -1;
	}
	return request_start(c, r, err);
}

/* ---- completions ---- */

/*
 * A link question's page came back: true when the question goes on with
 * the next page (r back in flight), false when res holds its answer.
 */
static bool next_page(struct zl_openzaak *c, struct request *r, struct openzaak_result *res,
                      char *why, size_t why_size)
{
	char *next = NULL;
	int found;

	r->pages++;
	res->pages = r->pages;
	if (res->status < 200 || res->status > 299)
		return false;
	found = openzaak_parse_page(r->body.buf ? r->body.buf : "", r->body.len, r->object,
	                            c->conf->zaken_api, &next, why, why_size);
	if (found < 0) {
		res->error = why;
		return false;
	}
	if (found == 1 || !next) {
		res->link = found == 1 ? OPENZAAK_LINK_PRESENT : OPENZAAK_LINK_ABSENT;
		return false;
	}
	if (r->pages >= OPENZAAK_MAX_PAGES) {
		snprintf(why, why_size, "more than %d pages of zaakobjecten", OPENZAAK_MAX_PAGES);
		res->error = why;
		free(next);
		return false;
	}
	r->body.len = 0;
	if (r->body.buf)
		r->body.buf[0] = '\0';
	if (curl_easy_setopt(r->easy, CURLOPT_URL, next) != CURLE_OK ||
	    curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
		snprintf(why, why_size, "could not ask for the next page of zaakobjecten");
		res->error = why;
		free(next);
		return false;
	}
	free(next);
	return true;
}

/* Ends the transfer of easy with code; calls done and returns true unless
 * the question goes on with its next page. */
static bool complete(struct zl_openzaak *c, CURL *easy, CURLcode code)
{
	struct openzaak_result res = {.link = OPENZAAK_LINK_UNKNOWN};
	struct request *r = NULL;
	char why[CURL_ERROR_SIZE + 64];

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
	curl_multi_remove_handle(c->multi, easy);
	res.kind = r->kind;
	res.caller = r->caller;
	if (code == CURLE_OK) {
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &res.status);
	} else {
		res.timed_out = code == CURLE_OPERATION_TIMEDOUT;
		if (r->too_large)
			snprintf(why, sizeof(why), "the response is larger than %u bytes",
			         OPENZAAK_MAX_BODY);
		else if (r->body.failed)
			snprintf(why, sizeof(why), "out of memory while reading the response");
		else
			snprintf(why, sizeof(why), "%s",
			         r->errbuf[0] ? r->errbuf : curl_easy_strerror(code));
		res.error = why;
	}
	if (r->kind == OPENZAAK_LINK_EXISTS && code == CURLE_OK &&
	    next_page(c, r, &res, why, sizeof(why)))
		return false;
	res.body = r->body.buf && !r->body.failed ? r->body.buf : "";
	res.body_len = r->body.buf && !r->body.failed ? r->body.len : 0;
	res.elapsed_ms = zl_now_ms() - r->started_ms;
	request_unlink(c, r);
	c->done(&res, c->user);
	request_free(r);
	return true;
}

/* Calls back for every finished transfer; returns how many requests completed. */
static int dispatch(struct zl_openzaak *c)
{
	int queued, n = 0;
	CURLMsg *msg;

	while ((msg = curl_multi_info_read(c->multi, &queued))) {
		CURL *easy = msg->easy_handle;
		CURLcode code = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg is gone once the handle is removed: only the copies are used. */
		if (complete(c, easy, code))
			n++;
	}
	return n;
}

int openzaak_perform(struct zl_openzaak *c, int timeout_ms, int extra_fd, struct zl_err *err)
{
	struct curl_waitfd extra = {.fd = extra_fd, .events = CURL_WAIT_POLLIN};
	int running = 0, n;
	CURLMcode mc = curl_multi_perform(c->multi, &running);

	if (mc != CURLM_OK)
		return zl_err_set(err, ZL_EX_SOFTWARE, "HTTP client failed: %s",
		                  curl_multi_strerror(mc));
	if ((n = dispatch(c)) > 0)
		return n;
	mc = curl_multi_poll(c->multi, extra_fd >= 0 ? &extra : NULL, extra_fd >= 0 ? 1u : 0u,
	                     timeout_ms, NULL);
	if (mc == CURLM_OK)
		mc = curl_multi_perform(c->multi, &running);
	if (mc != CURLM_OK)
		return zl_err_set(err, ZL_EX_SOFTWARE, "HTTP client failed: %s",
		                  curl_multi_strerror(mc));
	return dispatch(c);
}

int openzaak_in_flight(const struct zl_openzaak *c)
{
	return c->in_flight;
}

struct zl_openzaak *openzaak_new(const struct zl_deliver_conf *conf, const char *secret,
                                 openzaak_done_fn done, void *user, struct zl_err *err)
{
	struct zl_openzaak *c;
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (rc != CURLE_OK) {
		zl_err_set(err, ZL_EX_SOFTWARE, "could not set up libcurl: %s",
		           curl_easy_strerror(rc));
		return NULL;
	}
	if (!(c = calloc(1, sizeof(*c))) || !(c->multi = curl_multi_init())) {
		free(c);
		curl_global_cleanup();
		zl_err_set(err, ZL_EX_SOFTWARE, "out of memory while setting up the HTTP client");
		return NULL;
	}
	c->conf = conf;
	c->secret = secret;
	c->done = done;
	c->user = user;
	curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)conf->concurrency);
	return c;
}

void openzaak_free(struct zl_openzaak *c)
{
	if (!c)
		return;
	while (c->requests) {
		struct request *r = c->requests;

		curl_multi_remove_handle(c->multi, r->easy);
		request_unlink(c, r);
		request_free(r);
	}
	curl_multi_cleanup(c->multi);
	forget_token(c);
	free(c);
	curl_global_cleanup();
}

/* ---- pure parts ---- */

enum openzaak_outcome openzaak_outcome(const struct openzaak_result *r, char *reason, size_t size)
{
	long st = r->status;

	reason[0] = '\0';
	if (st == 0) {
		snprintf(reason, size, "%s", r->timed_out ? "timeout" : "connection");
		return OPENZAAK_RETRY;
	}
	if (st >= 200 && st <= 299) {
		if (r->kind == OPENZAAK_LINK_EXISTS && r->link == OPENZAAK_LINK_UNKNOWN) {
			snprintf(reason, size, "bad_response");
			return OPENZAAK_RETRY;
		}
		return OPENZAAK_DONE;
	}
	if (st == 401 || st == 403) {
		snprintf(reason, size, "credentials");
		return OPENZAAK_CREDENTIALS;
	}
	snprintf(reason, size, "http_%ld", st);
	if (st == 408 || st == 429 || st >= 500 || st < 400)
		return OPENZAAK_RETRY;
	return OPENZAAK_PARK;
}

/* "a" followed by "b", both escaped as a query value; NULL when out of memory. */
char *openzaak_zaakobjecten_url(const char *zaken_api, const char *zaak_uuid, const char *link_to)
{
	size_t zsize = strlen(zaken_api) + strlen("/zaken/") + strlen(zaak_uuid) + 1;
	char *zaak = malloc(zsize), *ez = NULL, *eo = NULL, *url = NULL;
	size_t size;

	if (!zaak)
		return NULL;
	snprintf(zaak, zsize, "%s/zaken/%s", zaken_api, zaak_uuid);
	/* curl_easy_escape() uses no handle (ignored since 7.82, unused before). */
	ez = curl_easy_escape(NULL, zaak, 0);
	eo = curl_easy_escape(NULL, link_to, 0);
	if (ez && eo) {
		size = strlen(zaken_api) + strlen("/zaakobjecten?zaak=&object=") + strlen(ez) +
		       strlen(eo) + 1;
		if ((url = malloc(size)))
			snprintf(url, size, "%s/zaakobjecten?zaak=%s&object=%s", zaken_api, ez, eo);
	}
	curl_free(ez);
	curl_free(eo);
	free(zaak);
	return url;
}

const char *openzaak_zaak_uuid(const char *urn)
{
	static const char prefix[] = "urn:uuid:";
	const char *u;

	if (strncasecmp(urn, prefix, sizeof(prefix) - 1) != 0)
		return NULL;
	u = urn + sizeof(prefix) - 1;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? u[i] != '-' : !isxdigit((unsigned char)u[i]))
			return NULL;
	}
	return u[36] == '\0' ? u : NULL;
}

/* The next page as asked of zaken_api: "<zaken_api>/zaakobjecten?" and the
 * query of the page's next; NULL with why filled when next is not such a URL. */
static char *next_url(const char *next, const char *zaken_api, char *why, size_t why_size)
{
	static const char path[] = "/zaakobjecten";
	const char *q = strchr(next, '?');
	size_t plen = q ? (size_t)(q - next) : 0, size;
	char *url;

	if (!q || plen < sizeof(path) - 1 ||
	    strncmp(q - (sizeof(path) - 1), path, sizeof(path) - 1) != 0 ||
	    (strncmp(next, "http://", 7) != 0 && strncmp(next, "https://", 8) != 0)) {
		snprintf(why, why_size, "next is not a zaakobjecten URL with a query: '%.200s'",
		         next);
		return NULL;
	}
	size = strlen(zaken_api) + strlen(q) + sizeof(path);
	if (!(url = malloc(size))) {
		snprintf(why, why_size, "out of memory while building the next zaakobjecten URL");
		return NULL;
	}
	snprintf(url, size, "%s%s%s", zaken_api, path, q);
	return url;
}

int openzaak_parse_page(const char *body, size_t len, const char *object, const char *zaken_api,
                        char **next, char *why, size_t why_size)
{
	cJSON *page = cJSON_ParseWithLength(body, len), *results, *item, *n;
	int rc = 0;

	*next = NULL;
	if (!page || !cJSON_IsObject(page)) {
		snprintf(why, why_size, "the zaakobjecten page is not a JSON object");
		cJSON_Delete(page);
		return -1;
	}
	results = cJSON_GetObjectItemCaseSensitive(page, "results");
	n = cJSON_GetObjectItemCaseSensitive(page, "next");
	if (!cJSON_IsArray(results)) {
		snprintf(why, why_size, "the zaakobjecten page has no list of results");
		rc = -1;
	} else if (n && !cJSON_IsNull(n) && !cJSON_IsString(n)) {
		snprintf(why, why_size, "the zaakobjecten page's next is neither a URL nor null");
		rc = -1;
	}
	if (rc == 0) {
		cJSON_ArrayForEach(item, results)
		{
			const cJSON *o = cJSON_GetObjectItemCaseSensitive(item, "object");

			/* Byte for byte, as Open Zaak's ontkoppeld compares. */
			if (cJSON_IsString(o) && strcmp(o->valuestring, object) == 0) {
				rc = 1;
				break;
			}
		}
	}
	if (rc == 0 && cJSON_IsString(n) && *n->valuestring &&
	    !(*next = next_url(n->valuestring, zaken_api, why, why_size)))
		rc = -1;
	cJSON_Delete(page);
	return rc;
}
