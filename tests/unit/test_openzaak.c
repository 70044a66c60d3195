/*
 * Unit tests of openzaak.c: the pure parts (what a result means for the
 * message, the zaakobjecten URL, the uuid of a zaak URN, a page of
 * zaakobjecten and its byte-for-byte match), then the client itself against
 * a stand-in Open Zaak in this process (libmicrohttpd on 127.0.0.1): the
 * headers of a post, a token Open Zaak would verify, pages followed on
 * the configured API, a timeout told apart, at most concurrency in flight.
 */
#include "jwt.h"
#include "openzaak.h"
#include "unit.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ZAKEN "https://oz.example.nl/zaken/api/v1"
#define UUID "3f2c1a9e-8b4d-4c6e-9a1f-2b3c4d5e6f70"
#define LINK "https://klant.example.nl/onderwerpobjecten/abc"

/* ---- outcome ---- */

static enum openzaak_outcome outcome_of(enum openzaak_kind kind, long status, bool timed_out,
                                        enum openzaak_link link, char *reason)
{
	struct openzaak_result r = {
	    .kind = kind, .status = status, .timed_out = timed_out, .link = link};

	return openzaak_outcome(&r, reason, 16);
}

START_TEST(test_outcome_by_status)
{
	static const struct {
		long status;
		enum openzaak_outcome want;
		const char *reason;
	} cases[] = {
	    {200, OPENZAAK_DONE, ""},
	    {201, OPENZAAK_DONE, ""},
	    {202, OPENZAAK_DONE, ""},
	    {204, OPENZAAK_DONE, ""},
	    {500, OPENZAAK_RETRY, "http_500"},
	    {502, OPENZAAK_RETRY, "http_502"},
	    {503, OPENZAAK_RETRY, "http_503"},
	    {504, OPENZAAK_RETRY, "http_504"},
	    {429, OPENZAAK_RETRY, "http_429"},
	    {408, OPENZAAK_RETRY, "http_408"},
	    {400, OPENZAAK_PARK, "http_400"},
	    {415, OPENZAAK_PARK, "http_415"},
	    {404, OPENZAAK_PARK, "http_404"},
	    {413, OPENZAAK_PARK, "http_413"},
	    {401, OPENZAAK_CREDENTIALS, "credentials"},
	    {403, OPENZAAK_CREDENTIALS, "credentials"},
	    {301, OPENZAAK_RETRY, "http_301"},
	    {302, OPENZAAK_RETRY, "http_302"},
	};
	char reason[16];

	for (size_t i = 0; i < ZL_ARRAY_LEN(cases); i++) {
		enum openzaak_outcome got = outcome_of(OPENZAAK_POST_EVENT, cases[i].status, false,
		                                       OPENZAAK_LINK_UNKNOWN, reason);

		ck_assert_msg(got == cases[i].want, "%ld: outcome %d, expected %d", cases[i].status,
		              got, cases[i].want);
		ck_assert_str_eq(reason, cases[i].reason);
	}
}
END_TEST

START_TEST(test_outcome_transport)
{
	char reason[16];

	ck_assert_int_eq(outcome_of(OPENZAAK_POST_EVENT, 0, true, OPENZAAK_LINK_UNKNOWN, reason),
	                 OPENZAAK_RETRY);
	ck_assert_str_eq(reason, "timeout");
	ck_assert_int_eq(outcome_of(OPENZAAK_POST_EVENT, 0, false, OPENZAAK_LINK_UNKNOWN, reason),
	                 OPENZAAK_RETRY);
	ck_assert_str_eq(reason, "connection");
}
END_TEST

/* A question is done when it has its answer, whichever it is. */
START_TEST(test_outcome_of_a_question)
{
	char reason[16];

	ck_assert_int_eq(outcome_of(OPENZAAK_LINK_EXISTS, 200, false, OPENZAAK_LINK_ABSENT, reason),
	                 OPENZAAK_DONE);
	ck_assert_int_eq(
	    outcome_of(OPENZAAK_LINK_EXISTS, 200, false, OPENZAAK_LINK_PRESENT, reason),
	    OPENZAAK_DONE);
	ck_assert_int_eq(
	    outcome_of(OPENZAAK_LINK_EXISTS, 200, false, OPENZAAK_LINK_UNKNOWN, reason),
	    OPENZAAK_RETRY);
	ck_assert_str_eq(reason, "bad_response");
	ck_assert_int_eq(
	    outcome_of(OPENZAAK_LINK_EXISTS, 403, false, OPENZAAK_LINK_UNKNOWN, reason),
	    OPENZAAK_CREDENTIALS);
}
END_TEST

/* ---- URL and uuid ---- */

START_TEST(test_zaakobjecten_url)
{
	char *url = openzaak_zaakobjecten_url(ZAKEN, UUID, LINK "?x=1&y=2 \xc3\xa9+");

	ck_assert_str_eq(url, ZAKEN
	                 "/zaakobjecten"
	                 "?zaak=https%3A%2F%2Foz.example.nl%2Fzaken%2Fapi%2Fv1%2Fzaken%2F" UUID
	                 "&object=https%3A%2F%2Fklant.example.nl%2Fonderwerpobjecten%2Fabc"
	                 "%3Fx%3D1%26y%3D2%20%C3%A9%2B");
	free(url);
}
END_TEST

START_TEST(test_zaak_uuid)
{
	ck_assert_str_eq(openzaak_zaak_uuid("urn:uuid:" UUID), UUID);
	ck_assert_ptr_nonnull(openzaak_zaak_uuid("urn:uuid:3F2C1A9E-8B4D-4C6E-9A1F-2B3C4D5E6F70"));
	ck_assert_ptr_null(openzaak_zaak_uuid(UUID));
	ck_assert_ptr_null(openzaak_zaak_uuid("urn:uuid:" UUID "0"));
	ck_assert_ptr_null(openzaak_zaak_uuid("urn:uuid:3f2c1a9e-8b4d-4c6e-9a1f-2b3c4d5e6f7"));
	ck_assert_ptr_null(openzaak_zaak_uuid("urn:uuid:3f2c1a9e+8b4d-4c6e-9a1f-2b3c4d5e6f70"));
	ck_assert_ptr_null(openzaak_zaak_uuid("urn:uuid:../../3f2c1a9e-8b4d-4c6e-9a1f-2b3c4d5"));
	ck_assert_ptr_null(openzaak_zaak_uuid(""));
}
END_TEST

/* ---- pages ---- */

static int parse(const char *body, const char *object, char **next, char *why)
{
	return openzaak_parse_page(body, strlen(body), object, ZAKEN, next, why, 256);
}

START_TEST(test_page_found)
{
	char why[256], *next = (char *)"unset";

	ck_assert_int_eq(
	    parse("{\"count\":2,\"next\":\"https://oz/zaken/api/v1/zaakobjecten?page=2\","
	          "\"previous\":null,\"results\":[{\"object\":\"" LINK "/x\"},"
	          "{\"object\":\"" LINK "\",\"url\":\"u\"}]}",
	          LINK, &next, why),
	    1);
	ck_assert_ptr_null(next);
}
END_TEST

/* The next page is asked of the configured API, whatever host the server names. */
START_TEST(test_page_next)
{
	char why[256], *next = NULL;

	ck_assert_int_eq(parse("{\"count\":200,\"next\":\"http://10.0.0.5:8000/zaken/api/v1/"
	                       "zaakobjecten?object=x&page=2&zaak=y\",\"previous\":null,"
	                       "\"results\":[{\"object\":\"" LINK "/\"}]}",
	                       LINK, &next, why),
	                 0);
	ck_assert_str_eq(next, ZAKEN "/zaakobjecten?object=x&page=2&zaak=y");
	free(next);
}
END_TEST

START_TEST(test_page_last)
{
	char why[256], *next = (char *)"unset";

	ck_assert_int_eq(
	    parse("{\"count\":0,\"next\":null,\"previous\":null,\"results\":[]}", LINK, &next, why),
	    0);
	ck_assert_ptr_null(next);
	ck_assert_int_eq(
	    parse("{\"results\":[{\"object\":null},{\"url\":\"u\"},7]}", LINK, &next, why), 0);
	ck_assert_ptr_null(next);
}
END_TEST

/* Open Zaak's ontkoppeld deletes on object == linkTo: nothing near it counts. */
START_TEST(test_page_match_is_byte_exact)
{
	char why[256], *next;

	ck_assert_int_eq(
	    parse("{\"next\":null,\"results\":[{\"object\":\"" LINK "/\"}]}", LINK, &next, why), 0);
	ck_assert_int_eq(parse("{\"next\":null,\"results\":[{\"object\":\"HTTPS://klant.example.nl/"
	                       "onderwerpobjecten/abc\"}]}",
	                       LINK, &next, why),
	                 0);
	ck_assert_int_eq(
	    parse("{\"next\":null,\"results\":[{\"object\":\" " LINK "\"}]}", LINK, &next, why), 0);
	/* JSON escapes are the same bytes. */
	ck_assert_int_eq(parse("{\"next\":null,\"results\":[{\"object\":\"" LINK "\\u00e9\"}]}",
	                       LINK "\xc3\xa9", &next, why),
	                 1);
	ck_assert_int_eq(parse("{\"next\":null,\"results\":[{\"object\":\"" LINK "\xc3\xa9\"}]}",
	                       LINK "e\xcc\x81", &next, why),
	                 0);
}
END_TEST

START_TEST(test_page_refused)
{
	char why[256], *next;

	ck_assert_int_eq(parse("<html>Bad Gateway</html>", LINK, &next, why), -1);
	ck_assert_str_eq(why, "the zaakobjecten page is not a JSON object");
	ck_assert_int_eq(parse("[]", LINK, &next, why), -1);
	ck_assert_int_eq(parse("{\"count\":1,\"results\":{\"object\":\"x\"}}", LINK, &next, why),
	                 -1);
	ck_assert_str_eq(why, "the zaakobjecten page has no list of results");
	ck_assert_int_eq(parse("{\"next\":2,\"results\":[]}", LINK, &next, why), -1);
	ck_assert_str_eq(why, "the zaakobjecten page's next is neither a URL nor null");
	ck_assert_int_eq(parse("{\"next\":\"https://evil.example/steal?page=2\",\"results\":[]}",
	                       LINK, &next, why),
	                 -1);
	ck_assert_str_eq(why, "next is not a zaakobjecten URL with a query: "
	                      "'https://evil.example/steal?page=2'");
	ck_assert_int_eq(parse("{\"next\":\"https://oz/zaken/api/v1/zaakobjecten\",\"results\":[]}",
	                       LINK, &next, why),
	                 -1);
}
END_TEST

/* ---- the client against a stand-in Open Zaak ---- */

#define CLIENT_ID "zaaklink"
#define SECRET "geheim-van-de-test"

/* What the stand-in saw of the last post. */
static struct {
	pthread_mutex_t lock;
	char content_type[128];
	char authorization[1024];
	char expect[64];
	char body[1024];
	char zaak[256];
	int gets;
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct upload {
	char body[1024];
	size_t len;
};

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned int status, const char *body)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	MHD_add_response_header(r, "Content-Type", "application/json");
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static void copy_header(struct MHD_Connection *conn, const char *name, char *out, size_t size)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

	snprintf(out, size, "%s", v ? v : "(none)");
}

/* GET .../zaakobjecten: page 1 names a next page on another host; page 2
 * has the link, unless the object asked for is the absent one. */
static enum MHD_Result zaakobjecten(struct MHD_Connection *conn)
{
	const char *page = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "page");
	const char *object = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "object");
	const char *zaak = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "zaak");
	char body[1024];

	pthread_mutex_lock(&seen.lock);
	seen.gets++;
	if (zaak) /* page 1; page 2 is as its next says */
		snprintf(seen.zaak, sizeof(seen.zaak), "%s", zaak);
	copy_header(conn, "Authorization", seen.authorization, sizeof(seen.authorization));
	pthread_mutex_unlock(&seen.lock);
	if (!object)
		return respond(conn, 400, "{}");
	if (!page) {
		snprintf(body, sizeof(body),
		         "{\"count\":2,\"next\":\"https://elsewhere.example/zaken/api/v1/"
		         "zaakobjecten?object=%s&page=2\",\"previous\":null,\"results\":"
		         "[{\"object\":\"%s/other\"}]}",
		         strcmp(object, LINK) == 0 ? "present" : "absent", LINK);
		return respond(conn, 200, body);
	}
	snprintf(body, sizeof(body),
	         "{\"count\":2,\"next\":null,\"previous\":\"x\",\"results\":[{\"object\":\"%s\"}]}",
	         strcmp(object, "present") == 0 ? LINK : LINK "/");
	return respond(conn, 200, body);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **state)
{
	struct upload *up = *state;

	(void)cls;
	(void)version;
	if (strcmp(method, "GET") == 0 && strcmp(url, "/zaken/api/v1/zaakobjecten") == 0)
		return zaakobjecten(conn);
	if (strcmp(method, "GET") == 0 && strcmp(url, "/zaken/api/v1/forbidden/zaakobjecten") == 0)
		return respond(conn, 403, "{\"code\":\"permission_denied\"}");
	if (!up) {
		if (!(up = calloc(1, sizeof(*up))))
			return MHD_NO;
		*state = up;
		return MHD_YES;
	}
	if (*data_size) {
		size_t n = *data_size < sizeof(up->body) - 1 - up->len
		               ? *data_size
		               : sizeof(up->body) - 1 - up->len;

		memcpy(up->body + up->len, data, n);
		up->len += n;
		*data_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/slow/events") == 0)
		nanosleep(&(struct timespec){.tv_sec = 1, .tv_nsec = 500000000}, NULL);
	pthread_mutex_lock(&seen.lock);
	copy_header(conn, "Content-Type", seen.content_type, sizeof(seen.content_type));
	copy_header(conn, "Authorization", seen.authorization, sizeof(seen.authorization));
	copy_header(conn, "Expect", seen.expect, sizeof(seen.expect));
	snprintf(seen.body, sizeof(seen.body), "%s", up->body);
	pthread_mutex_unlock(&seen.lock);
	if (strstr(up->body, "\"specversion\"") == NULL)
		return respond(conn, 400, "{\"code\":\"malformed-cloudevent\"}");
	return respond(conn, 202, "{\"accepted\": true, \"event_id\": \"e-1\"}");
}

static void completed(void *cls, struct MHD_Connection *conn, void **state,
                      enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)conn;
	(void)code;
	free(*state);
	*state = NULL;
}

static struct MHD_Daemon *server;
static char root[64]; /* http://127.0.0.1:PORT */

static void server_start(void)
{
	const union MHD_DaemonInfo *info;

	server = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler,
	    NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_SOCK_ADDR,
	    &(struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
	    MHD_OPTION_END);
	ck_assert_ptr_nonnull(server);
	info = MHD_get_daemon_info(server, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert_ptr_nonnull(info);
	snprintf(root, sizeof(root), "http://127.0.0.1:%u", (unsigned)info->port);
	memset(seen.authorization, 0, sizeof(seen.authorization));
	seen.gets = 0;
}

static void server_stop(void)
{
	MHD_stop_daemon(server);
	server = NULL;
}

/* The results the client called back with. */
struct results {
	struct openzaak_result r[8];
	char error[8][256];
	char body[8][256];
	int n;
};

static void on_done(const struct openzaak_result *r, void *user)
{
	struct results *res = user;

	ck_assert_int_lt(res->n, 8);
	res->r[res->n] = *r;
	snprintf(res->error[res->n], 256, "%s", r->error ? r->error : "");
	snprintf(res->body[res->n], 256, "%s", r->body);
	res->r[res->n].error = res->error[res->n];
	res->r[res->n].body = res->body[res->n];
	res->n++;
}

/* Performs until nothing is in flight, for at most 10 s. */
static void run(struct zl_openzaak *c)
{
	int64_t until = zl_now_ms() + 10000;
	struct zl_err err = {0};

	while (openzaak_in_flight(c) > 0) {
		ck_assert_msg(zl_now_ms() < until, "requests still in flight after 10 s");
		ck_assert_msg(openzaak_perform(c, 100, -1, &err) >= 0, "%s", err.msg);
	}
}

static void conf_for(struct zl_deliver_conf *d, char *url, char *zaken, const char *events,
                     const char *api)
{
	snprintf(url, 128, "%s%s", root, events);
	snprintf(zaken, 128, "%s%s", root, api);
	*d = (struct zl_deliver_conf){.url = url,
	                              .zaken_api = zaken,
	                              .client_id = (char *)CLIENT_ID,
	                              .concurrency = 2,
	                              .timeout = 5.0,
	                              .verify_peer = true};
}

/* A token Open Zaak verifies: HS256 with the client's secret, a fresh iat. */
static void assert_valid_token(const char *authorization)
{
	const char *token = authorization + strlen("Bearer ");
	const char *sig = strrchr(token, '.');
	unsigned char mac[32];
	unsigned int len = 0;
	char *want;

	ck_assert_msg(strncmp(authorization, "Bearer ", 7) == 0, "%s", authorization);
	ck_assert_ptr_nonnull(sig);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
	                           (const unsigned char *)token, (size_t)(sig - token), mac, &len));
	want = jwt_base64url(mac, len);
	ck_assert_str_eq(sig + 1, want);
	free(want);
}

#define EVENT                                                                                      \
	"{\"specversion\":\"1.0\",\"id\":\"e-1\",\"type\":\"nl.overheid.zaken.zaak-gekoppeld\"}"

START_TEST(test_post_event)
{
	char url[128], zaken[128];
	struct zl_deliver_conf d;
	struct results res = {.n = 0};
	struct zl_err err = {0};
	struct zl_openzaak *c;
	char reason[16];
	int tag = 7;

	conf_for(&d, url, zaken, "/events", "/zaken/api/v1");
	c = openzaak_new(&d, SECRET, on_done, &res, &err);
	ck_assert_msg(c != NULL, "%s", err.msg);
	ck_assert_int_eq(openzaak_post_event(c, EVENT, strlen(EVENT), &tag, &err), 0);
	ck_assert_int_eq(openzaak_in_flight(c), 1);
	run(c);
	ck_assert_int_eq(res.n, 1);
	ck_assert_ptr_eq(res.r[0].caller, &tag);
	ck_assert_int_eq(res.r[0].kind, OPENZAAK_POST_EVENT);
	ck_assert_int_eq(res.r[0].status, 202);
	ck_assert_str_eq(res.r[0].body, "{\"accepted\": true, \"event_id\": \"e-1\"}");
	ck_assert_int_eq(openzaak_outcome(&res.r[0], reason, sizeof(reason)), OPENZAAK_DONE);
	ck_assert_str_eq(seen.content_type, "application/cloudevents+json");
	ck_assert_str_eq(seen.body, EVENT);
	ck_assert_str_eq(seen.expect, "(none)");
	assert_valid_token(seen.authorization);
	/* Not an event: Open Zaak's 400, parked. */
	ck_assert_int_eq(openzaak_post_event(c, "{}", 2, NULL, &err), 0);
	run(c);
	ck_assert_int_eq(res.r[1].status, 400);
	ck_assert_int_eq(openzaak_outcome(&res.r[1], reason, sizeof(reason)), OPENZAAK_PARK);
	ck_assert_str_eq(reason, "http_400");
	openzaak_free(c);
}
END_TEST

START_TEST(test_at_most_concurrency_in_flight)
{
	char url[128], zaken[128];
	struct zl_deliver_conf d;
	struct results res = {.n = 0};
	struct zl_err err = {0};
	struct zl_openzaak *c;

	conf_for(&d, url, zaken, "/events", "/zaken/api/v1");
	c = openzaak_new(&d, SECRET, on_done, &res, &err);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(openzaak_post_event(c, EVENT, strlen(EVENT), NULL, &err), 0);
	ck_assert_int_eq(openzaak_post_event(c, EVENT, strlen(EVENT), NULL, &err), 0);
	ck_assert_int_eq(openzaak_post_event(c, EVENT, strlen(EVENT), NULL, &err), -1);
	ck_assert_int_eq(err.code, ZL_EX_TEMPFAIL);
	ck_assert_int_eq(openzaak_in_flight(c), 2);
	run(c);
	ck_assert_int_eq(res.n, 2);
	ck_assert_int_eq(res.r[0].status, 202);
	ck_assert_int_eq(res.r[1].status, 202);
	/* Freed with nothing in flight, and with something in flight. */
	ck_assert_int_eq(openzaak_post_event(c, EVENT, strlen(EVENT), NULL, &err), 0);
	openzaak_free(c);
	ck_assert_int_eq(res.n, 2);
}
END_TEST

/* Two pages: the second is asked of the configured API, not the host the first names. */
START_TEST(test_link_exists_over_pages)
{
	char url[128], zaken[128], want[256];
	struct zl_deliver_conf d;
	struct results res = {.n = 0};
	struct zl_err err = {0};
	struct zl_openzaak *c;

	conf_for(&d, url, zaken, "/events", "/zaken/api/v1");
	c = openzaak_new(&d, SECRET, on_done, &res, &err);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(openzaak_link_exists(c, UUID, LINK, NULL, &err), 0);
	ck_assert_int_eq(openzaak_link_exists(c, UUID, LINK "/gone", NULL, &err), 0);
	run(c);
	ck_assert_int_eq(res.n, 2);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(res.r[i].kind, OPENZAAK_LINK_EXISTS);
		ck_assert_int_eq(res.r[i].status, 200);
		ck_assert_int_eq(res.r[i].pages, 2);
		ck_assert_str_eq(res.r[i].error, "");
	}
	ck_assert_int_eq(res.r[0].link + res.r[1].link, OPENZAAK_LINK_PRESENT);
	ck_assert_int_ne(res.r[0].link, res.r[1].link);
	ck_assert_int_eq(seen.gets, 4);
	/* Page 1 is asked with the zaak's full URL. */
	snprintf(want, sizeof(want), "%s/zaken/%s", zaken, UUID);
	ck_assert_str_eq(seen.zaak, want);
	assert_valid_token(seen.authorization);
	openzaak_free(c);
}
END_TEST

START_TEST(test_link_question_refused)
{
	char url[128], zaken[128], reason[16];
	struct zl_deliver_conf d;
	struct results res = {.n = 0};
	struct zl_err err = {0};
	struct zl_openzaak *c;

	conf_for(&d, url, zaken, "/events", "/zaken/api/v1/forbidden");
	c = openzaak_new(&d, SECRET, on_done, &res, &err);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(openzaak_link_exists(c, UUID, LINK, NULL, &err), 0);
	run(c);
	ck_assert_int_eq(res.r[0].status, 403);
	ck_assert_int_eq(res.r[0].link, OPENZAAK_LINK_UNKNOWN);
	ck_assert_int_eq(openzaak_outcome(&res.r[0], reason, sizeof(reason)), OPENZAAK_CREDENTIALS);
	openzaak_free(c);
}
END_TEST

START_TEST(test_timeout_and_refused_connection)
{
	char url[128], zaken[128], reason[16];
	struct zl_deliver_conf d;
	struct results res = {.n = 0};
	struct zl_err err = {0};
	struct zl_openzaak *c;

	conf_for(&d, url, zaken, "/slow/events", "/zaken/api/v1");
	d.timeout = 0.3;
	c = openzaak_new(&d, SECRET, on_done, &res, &err);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(openzaak_post_event(c, EVENT, strlen(EVENT), NULL, &err), 0);
	run(c);
	ck_assert_int_eq(res.r[0].status, 0);
	ck_assert(res.r[0].timed_out);
	ck_assert_str_ne(res.r[0].error, "");
	ck_assert_int_eq(openzaak_outcome(&res.r[0], reason, sizeof(reason)), OPENZAAK_RETRY);
	ck_assert_str_eq(reason, "timeout");
	openzaak_free(c);

	/* Nothing listens on port 1. */
	snprintf(url, sizeof(url), "http://127.0.0.1:1/events");
	c = openzaak_new(&d, SECRET, on_done, &res, &err);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(openzaak_post_event(c, EVENT, strlen(EVENT), NULL, &err), 0);
	run(c);
	ck_assert_int_eq(res.r[1].status, 0);
	ck_assert(!res.r[1].timed_out);
	ck_assert_str_ne(res.r[1].error, "");
	ck_assert_int_eq(openzaak_outcome(&res.r[1], reason, sizeof(reason)), OPENZAAK_RETRY);
	ck_assert_str_eq(reason, "connection");
	openzaak_free(c);
}
END_TEST

static Suite *openzaak_suite(void)
{
	Suite *s = suite_create("openzaak");
	TCase *pure = tcase_create("pure");
	TCase *http = tcase_create("http");

	tcase_add_test(pure, test_outcome_by_status);
	tcase_add_test(pure, test_outcome_transport);
	tcase_add_test(pure, test_outcome_of_a_question);
	tcase_add_test(pure, test_zaakobjecten_url);
	tcase_add_test(pure, test_zaak_uuid);
	tcase_add_test(pure, test_page_found);
	tcase_add_test(pure, test_page_next);
	tcase_add_test(pure, test_page_last);
	tcase_add_test(pure, test_page_match_is_byte_exact);
	tcase_add_test(pure, test_page_refused);
	suite_add_tcase(s, pure);
	tcase_add_checked_fixture(http, server_start, server_stop);
	tcase_add_test(http, test_post_event);
	tcase_add_test(http, test_at_most_concurrency_in_flight);
	tcase_add_test(http, test_link_exists_over_pages);
	tcase_add_test(http, test_link_question_refused);
	tcase_add_test(http, test_timeout_and_refused_connection);
	suite_add_tcase(s, http);
	return s;
}

ZL_UNIT_MAIN(openzaak_suite)
