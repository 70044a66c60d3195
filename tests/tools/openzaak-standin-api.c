/* openzaak-standin-api.c: what Open Zaak does, for the stand-in's tests.
 *
 * Owns the JWT check of Open Zaak's API, its CloudEvent webhook (POST
 * /events) with the two handlers zaaklink's events reach (zaak-gekoppeld,
 * zaak-ontkoppeld), the ZaakObject store and the Zaken API's zaakobjecten
 * list. The behaviour is taken, rule by rule, from the sources named in
 * openzaak-standin.c's header; each rule below says where it comes from.
 *
 * The hard part is the order of the checks, because a client sees only
 * the first one that fails: authentication and scope (403) come before the
 * content type (415), which comes before the CloudEvent's validation
 * (400); a valid event is answered 202 whatever its handler made of it,
 * except when the handler raised (500).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "openzaak-standin.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#define ZAKEN_API "/zaken/api/v1"
#define JWT_EXPIRY_S 3600.0 /* Open Zaak's JWT_EXPIRY default; TIME_LEEWAY 0 */
#define LABEL_MAX 80        /* ZaakObject.relatieomschrijving max_length */
#define OVERIGE_MAX 100     /* ZaakObject.object_type_overige max_length */
#define OBJECT_MAX 1000     /* ZaakObject.object max_length */
#define PAGE_SIZE_MAX 500   /* DynamicPageSizeMixin.max_page_size */

/* vng_api_common.constants.ZaakobjectTypes: linkObjectType values taken as objectType. */
static const char *const object_types[] = {"adres",
                                           "besluit",
                                           "buurt",
                                           "enkelvoudig_document",
                                           "gemeente",
                                           "gemeentelijke_openbare_ruimte",
                                           "huishouden",
                                           "inrichtingselement",
                                           "kadastrale_onroerende_zaak",
                                           "kunstwerkdeel",
                                           "maatschappelijke_activiteit",
                                           "medewerker",
                                           "natuurlijk_persoon",
                                           "niet_natuurlijk_persoon",
                                           "openbare_ruimte",
                                           "organisatorische_eenheid",
                                           "pand",
                                           "spoorbaandeel",
                                           "status",
                                           "terreindeel",
                                           "terrein_gebouwd_object",
                                           "vestiging",
                                           "waterdeel",
                                           "wegdeel",
                                           "wijk",
                                           "woonplaats",
                                           "woz_deelobject",
                                           "woz_object",
                                           "woz_waarde",
                                           "zakelijk_recht",
                                           "overige"};

/* ------------------------------------------------------------ answers ---- */

static void forbidden(struct oz_answer *ans, const char *host, const char *code, const char *detail)
{
	oz_problem(ans, host, 403, "PermissionDenied", code,
	           "You do not have permission to perform this action.", detail, NULL, NULL, NULL);
}

static void invalid(struct oz_answer *ans, const char *host, const char *param,
                    const char *param_code, const char *reason)
{
	oz_problem(ans, host, 400, "ValidationError", "invalid", "Invalid input.", "", param,
	           param_code, reason);
}

/* An exception nothing catches: Django's plain 500 page. */
static void server_error(struct oz_answer *ans)
{
	ans->status = 500;
	ans->body = oz_strdup("<h1>Server Error (500)</h1>", "writing an answer");
	ans->content_type = "text/html";
}

/* ---------------------------------------------------------------- JWT ---- */

/* base64url as PyJWT decodes it (padding added); NULL when it is not. */
static unsigned char *b64url_decode(const char *s, size_t len, size_t *out_len)
{
	size_t pad = (4 - len % 4) % 4, eq = 0;
	char *t;
	unsigned char *out;
	int n;

	if (pad == 3)
		return NULL;
	t = oz_need(malloc(len + pad + 1), "decoding a JWT");
	for (size_t i = 0; i < len; i++)
		t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	memset(t + len, '=', pad);
	t[len + pad] = '\0';
	while (eq < len + pad && eq < 2 && t[len + pad - 1 - eq] == '=')
		eq++;
	out = oz_need(malloc((len + pad) / 4 * 3 + 1), "decoding a JWT");
	n = EVP_DecodeBlock(out, (const unsigned char *)t, (int)(len + pad));
	free(t);
	if (n < 0 || (size_t)n < eq) {
		free(out);
		return NULL;
	}
	*out_len = (size_t)n - eq; /* EVP_DecodeBlock counts the padding as zero bytes */
	out[*out_len] = '\0';
	return out;
}

/* A JSON object from a base64url segment, or NULL. */
static cJSON *segment_object(const char *s, size_t len)
{
	size_t n;
	unsigned char *raw = b64url_decode(s, len, &n);
	const char *end = NULL;
	cJSON *doc;

	if (!raw)
		return NULL;
	doc = cJSON_ParseWithOpts((const char *)raw, &end, 1);
	if (doc && (!cJSON_IsObject(doc) || end != (const char *)raw + n)) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	free(raw);
	return doc;
}

/* int(value) in Python: 1 and *out, 0 for a ValueError, -1 for a TypeError. */
static int py_int(const cJSON *v, double *out)
{
	char *end;

	if (cJSON_IsBool(v)) {
		*out = cJSON_IsTrue(v) ? 1 : 0;
		return 1;
	}
	if (cJSON_IsNumber(v)) {
		*out = v->valuedouble; /* int() truncates; beyond 2^53 every double is whole */
		if (*out > -9e18 && *out < 9e18)
			*out = (double)(long long)*out;
		return 1;
	}
	if (!cJSON_IsString(v))
		return -1;
	errno = 0;
	*out = (double)strtoll(v->valuestring, &end, 10);
	while (end != v->valuestring && isspace((unsigned char)*end))
		end++;
	return end != v->valuestring && *end == '\0' && errno == 0 &&
	       strpbrk(v->valuestring, ".eExX") == NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The claims PyJWT checks once the signature is good. */
static bool claims_ok(const cJSON *payload, const char *host, struct oz_answer *ans)
{
	const cJSON *iat = cJSON_GetObjectItemCaseSensitive(payload, "iat");
	const cJSON *v;
	double t, now = now_s();
	int r;

	if (!iat || cJSON_IsNull(iat)) {
		forbidden(ans, host, "jwt-missing-iat-claim", "Missing required iat claim");
		return false;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(payload, "nbf"))) {
		if ((r = py_int(v, &t)) <= 0) {
			r < 0 ? server_error(ans)
			      : forbidden(ans, host, "jwt-decodeerror", "JWT did not validate");
			return false;
		}
		if (t > now) {
			forbidden(ans, host, "jwt-immaturesignatureerror", "JWT did not validate");
			return false;
		}
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(payload, "exp"))) {
		if ((r = py_int(v, &t)) <= 0) {
			r < 0 ? server_error(ans)
			      : forbidden(ans, host, "jwt-decodeerror", "JWT did not validate");
			return false;
		}
		if (t <= now) {
			forbidden(ans, host, "jwt-expiredsignatureerror", "JWT did not validate");
			return false;
		}
	}
	v = cJSON_GetObjectItemCaseSensitive(payload, "aud");
	if (v && !cJSON_IsNull(v) && !cJSON_IsFalse(v) &&
	    !(cJSON_IsString(v) && !*v->valuestring) &&
	    !(cJSON_IsArray(v) && !cJSON_GetArraySize(v))) {
		forbidden(ans, host, "jwt-invalidaudienceerror", "JWT did not validate");
		return false;
	}
	v = cJSON_GetObjectItemCaseSensitive(payload, "sub");
	if (v && !cJSON_IsString(v)) {
		forbidden(ans, host, "jwt-invalidsubjecterror", "JWT did not validate");
		return false;
	}
	v = cJSON_GetObjectItemCaseSensitive(payload, "jti");
	if (v && !cJSON_IsString(v)) {
		forbidden(ans, host, "jwt-invalidjtierror", "JWT did not validate");
		return false;
	}
	/* _check_jwt_expiry: int(iat), then refused once now - iat >= JWT_EXPIRY. */
	if ((r = py_int(iat, &t)) <= 0) {
		if (r < 0)
			server_error(ans);
		else
			forbidden(ans, host, "permission_denied",
			          "The iat claim must be an integer.");
		return false;
	}
	if (now - t >= JWT_EXPIRY_S) {
		forbidden(ans, host, "jwt-expired", "The JWT used for this request is expired");
		return false;
	}
	return true;
}

/* The client the token names, or NULL with the answer set. */
static const struct oz_client *jwt_client(const struct oz_state *st, const char *token,
                                          const char *host, struct oz_answer *ans)
{
	const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	const struct oz_client *client = NULL;
	cJSON *header = NULL, *payload = NULL;
	const cJSON *id, *alg;
	unsigned char *sig = NULL, mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	size_t sig_len = 0;

	if (dot2 && !strchr(dot2 + 1, '.')) {
		header = segment_object(token, (size_t)(dot1 - token));
		payload = segment_object(dot1 + 1, (size_t)(dot2 - dot1 - 1));
		sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig_len);
	}
	if (!header || !payload || !sig) {
		forbidden(ans, host, "jwt-decode-error",
		          "JWT could not be decoded. Possibly you made a copy-paste mistake.");
		goto out;
	}
	if (!(id = cJSON_GetObjectItemCaseSensitive(payload, "client_id"))) {
		forbidden(ans, host, "missing-client-identifier",
		          "Client identifier is niet aanwezig in JWT");
		goto out;
	}
	for (size_t i = 0; cJSON_IsString(id) && i < st->n_clients && !client; i++)
		if (strcmp(st->clients[i].id, id->valuestring) == 0 && *st->clients[i].secret)
			client = &st->clients[i];
	if (!client) {
		forbidden(ans, host, "invalid-client-identifier", "Client identifier bestaat niet");
		goto out;
	}
	alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
	if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0) {
		forbidden(ans, host, "jwt-invalidalgorithmerror", "JWT did not validate");
		client = NULL;
		goto out;
	}
	oz_need(HMAC(EVP_sha256(), client->secret, (int)strlen(client->secret),
	             (const unsigned char *)token, (size_t)(dot2 - token), mac, &mac_len),
	        "signing a JWT");
	if (sig_len != mac_len || CRYPTO_memcmp(sig, mac, mac_len) != 0) {
		forbidden(ans, host, "invalid-jwt-signature",
		          "Client credentials zijn niet geldig");
		client = NULL;
		goto out;
	}
	if (!claims_ok(payload, host, ans))
		client = NULL;
out:
	cJSON_Delete(header);
	cJSON_Delete(payload);
	free(sig);
	return client;
}

/* AuthMiddleware + AuthScopesRequired: true when the request's bearer token
 * is valid and its client has SCOPE; otherwise false with a 403 answer. */
static bool authorized(const struct oz_state *st, const struct oz_request *rq, const char *scope,
                       struct oz_answer *ans)
{
	const struct oz_client *c = NULL;

	if (rq->authorization && strncmp(rq->authorization, "Bearer ", 7) == 0) {
		c = jwt_client(st, rq->authorization + 7, rq->host, ans);
		if (!c)
			return false;
	}
	for (size_t i = 0; c && scope && i < c->n_scopes; i++)
		if (strcmp(c->scopes[i], scope) == 0 || strcmp(c->scopes[i], "*") == 0)
			return true;
	forbidden(ans, rq->host, "permission_denied",
	          "You do not have permission to perform this action.");
	return false;
}

/* ---------------------------------------------------------- the store ---- */

static bool zaak_known_locked(const struct oz_state *st, const char *uuid)
{
	for (size_t i = 0; i < st->n_zaken; i++)
		if (strcmp(st->zaken[i], uuid) == 0)
			return true;
	return false;
}

void oz_zaak_add_locked(struct oz_state *st, const char *uuid)
{
	if (zaak_known_locked(st, uuid))
		return;
	if (st->n_zaken == st->cap_zaken) {
		st->cap_zaken = st->cap_zaken ? 2 * st->cap_zaken : 16;
		st->zaken = oz_need(realloc(st->zaken, st->cap_zaken * sizeof(*st->zaken)),
		                    "adding a zaak");
	}
	memcpy(st->zaken[st->n_zaken++], uuid, OZ_UUID_LEN + 1);
}

static void object_free(struct oz_zaakobject *o)
{
	free(o->object);
	free(o->object_type);
	free(o->object_type_overige);
	free(o->label);
}

void oz_objects_clear_locked(struct oz_state *st)
{
	for (size_t i = 0; i < st->n_objs; i++)
		object_free(&st->objs[i]);
	st->n_objs = 0;
}

static cJSON *object_json(const struct oz_zaakobject *o, const char *host)
{
	cJSON *j = oz_need(cJSON_CreateObject(), "listing zaakobjecten");
	char url[400];

	snprintf(url, sizeof(url), "http://%s" ZAKEN_API "/zaakobjecten/%s", host, o->uuid);
	cJSON_AddStringToObject(j, "url", url);
	cJSON_AddStringToObject(j, "uuid", o->uuid);
	snprintf(url, sizeof(url), "http://%s" ZAKEN_API "/zaken/%s", host, o->zaak);
	cJSON_AddStringToObject(j, "zaak", url);
	cJSON_AddStringToObject(j, "object", o->object);
	cJSON_AddStringToObject(j, "zaakobjecttype", "");
	cJSON_AddStringToObject(j, "objectType", o->object_type);
	cJSON_AddStringToObject(j, "objectTypeOverige", o->object_type_overige);
	cJSON_AddNullToObject(j, "objectTypeOverigeDefinitie");
	oz_need(cJSON_AddStringToObject(j, "relatieomschrijving", o->label),
	        "listing zaakobjecten");
	return j;
}

char *oz_objects_json(struct oz_state *st, const char *host)
{
	cJSON *list = oz_need(cJSON_CreateArray(), "listing zaakobjecten");
	char *s;

	pthread_mutex_lock(&st->mu);
	for (size_t i = 0; i < st->n_objs; i++)
		cJSON_AddItemToArray(list, object_json(&st->objs[i], host));
	pthread_mutex_unlock(&st->mu);
	s = oz_need(cJSON_PrintUnformatted(list), "listing zaakobjecten");
	cJSON_Delete(list);
	return s;
}

/* ---------------------------------------------------------- the webhook ---- */

enum outcome { HANDLED, DROPPED, RAISED };

/* Python's truth value of a JSON value; an absent one is None. */
static bool truthy(const cJSON *v)
{
	if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v))
		return false;
	if (cJSON_IsNumber(v))
		return v->valuedouble != 0;
	if (cJSON_IsString(v))
		return *v->valuestring != '\0';
	if (cJSON_IsArray(v) || cJSON_IsObject(v))
		return v->child != NULL;
	return true;
}

/* A copy of S without the whitespace at either end (DRF's trim_whitespace;
 * ASCII whitespace and the separators \x1c-\x1f, as Python's str.strip()). */
static char *stripped(const char *s)
{
	size_t len;

	while (*s && (isspace((unsigned char)*s) || (*s >= 0x1c && *s <= 0x1f)))
		s++;
	len = strlen(s);
	while (len > 0 &&
	       (isspace((unsigned char)s[len - 1]) || (s[len - 1] >= 0x1c && s[len - 1] <= 0x1f)))
		len--;
	return oz_need(strndup(s, len), "reading an event");
}

/* Characters (code points) in UTF-8 S: max_length counts those, not bytes. */
static size_t chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Django's URLValidator, in outline: http(s)://HOST..., no whitespace. */
static bool url_ok(const char *s)
{
	const char *host;

	if (strncasecmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return false;
	if (!*host || strchr("/?#:", *host))
		return false;
	for (; *s; s++)
		if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
			return false;
	return true;
}

/* The uuid of a Zaak URL of this Zaken API (its path /zaken/api/v1/zaken/UUID). */
static bool zaak_url_uuid(const char *url, char uuid[OZ_UUID_LEN + 1])
{
	const char *p = strstr(url, "://"), *end;
	char seg[80];

	if (!p || !(p = strchr(p + 3, '/')) || strncmp(p, ZAKEN_API "/zaken/", 20) != 0)
		return false;
	p += 20;
	end = p + strcspn(p, "?#");
	if ((size_t)(end - p) >= sizeof(seg) || memchr(p, '/', (size_t)(end - p)))
		return false;
	memcpy(seg, p, (size_t)(end - p));
	seg[end - p] = '\0';
	return oz_uuid_parse(seg, uuid);
}

/* The Zaak an event's data.zaak names, as zaken/api/cloudevents.py resolves it:
 * _resolve_zaak_uri for gekoppeld (an http(s) URL goes to the serializer,
 * which takes only a Zaak of this API), _resolve_zaak for ontkoppeld (the
 * last path segment of an http(s) URL is looked up as a uuid). RAISED for a
 * uuid Django cannot read (its ValidationError is not caught). */
static enum outcome resolve_zaak(struct oz_state *st, const char *uri, bool gekoppeld,
                                 char uuid[OZ_UUID_LEN + 1])
{
	const char *c1 = strchr(uri, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	enum outcome r;

	if (c2 && !strchr(c2 + 1, ':') && c1 - uri == 3 && strncmp(uri, "urn", 3) == 0 &&
	    c2 - c1 == 5 && strncmp(c1 + 1, "uuid", 4) == 0) {
		if (!oz_uuid_parse(c2 + 1, uuid))
			return RAISED;
	} else if (c1 && ((c1 - uri == 4 && strncmp(uri, "http", 4) == 0) ||
	                  (c1 - uri == 5 && strncmp(uri, "https", 5) == 0))) {
		if (gekoppeld) {
			if (!zaak_url_uuid(uri, uuid))
				return DROPPED;
		} else {
			size_t len = strlen(uri);
			const char *seg;
			char *last;
			bool ok;

			while (len > 0 && uri[len - 1] == '/')
				len--;
			last = oz_need(strndup(uri, len), "reading an event");
			seg = strrchr(last, '/') ? strrchr(last, '/') + 1 : last;
			ok = oz_uuid_parse(seg, uuid);
			free(last);
			if (!ok)
				return RAISED;
		}
	} else {
		return DROPPED;
	}
	pthread_mutex_lock(&st->mu);
	r = zaak_known_locked(st, uuid) ? HANDLED : DROPPED;
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* data.get(KEY, "") must be a str before .split(); RAISED, else its text. */
static enum outcome zaak_text(const cJSON *data, const char **out)
{
	const cJSON *z = cJSON_GetObjectItemCaseSensitive(data, "zaak");

	if (z && !cJSON_IsString(z))
		return RAISED;
	*out = z ? z->valuestring : "";
	return HANDLED;
}

/* A field the ZaakObjectSerializer takes as a CharField: a str (not null),
 * trimmed, at most MAX characters; NULL when it refuses it. */
static char *char_field(const cJSON *v, size_t max)
{
	char *s;

	if (!cJSON_IsString(v))
		return NULL;
	s = stripped(v->valuestring);
	if (chars(s) > max) {
		free(s);
		return NULL;
	}
	return s;
}

/* handle_zaak_gekoppeld: a new ZaakObject when the serializer takes it. */
static enum outcome gekoppeld(struct oz_state *st, const cJSON *data)
{
	const cJSON *ot = cJSON_GetObjectItemCaseSensitive(data, "linkObjectType");
	struct oz_zaakobject o;
	const char *zaak;
	enum outcome r;
	bool listed = false;

	memset(&o, 0, sizeof(o));
	if (!truthy(data))
		return DROPPED; /* missing-data */
	if (!cJSON_IsObject(data) || zaak_text(data, &zaak) == RAISED)
		return RAISED; /* data.get on a non-dict, .split on a non-str */
	if ((r = resolve_zaak(st, zaak, true, o.zaak)) != HANDLED)
		return r; /* unknown-zaak */
	for (size_t i = 0; cJSON_IsString(ot) && i < sizeof(object_types) / sizeof(*object_types);
	     i++)
		listed = listed || strcmp(ot->valuestring, object_types[i]) == 0;
	if (listed) {
		o.object_type = oz_strdup(ot->valuestring, "reading an event");
		o.object_type_overige = oz_strdup("", "reading an event");
	} else {
		o.object_type = oz_strdup("overige", "reading an event");
		o.object_type_overige = char_field(ot, OVERIGE_MAX);
	}
	o.object = char_field(cJSON_GetObjectItemCaseSensitive(data, "linkTo"), OBJECT_MAX);
	o.label = char_field(cJSON_GetObjectItemCaseSensitive(data, "label"), LABEL_MAX);
	/* overige needs objectTypeOverige; object (or objectIdentificatie) is required */
	if (!o.object_type_overige || !o.object || !o.label || !*o.object || !url_ok(o.object) ||
	    (strcmp(o.object_type, "overige") == 0 && !*o.object_type_overige)) {
		object_free(&o);
		return DROPPED;
	}
	oz_uuid_new(o.uuid);
	pthread_mutex_lock(&st->mu);
	if (st->n_objs == st->cap_objs) {
		st->cap_objs = st->cap_objs ? 2 * st->cap_objs : 16;
		st->objs = oz_need(realloc(st->objs, st->cap_objs * sizeof(*st->objs)),
		                   "storing a zaakobject");
	}
	st->objs[st->n_objs++] = o;
	pthread_mutex_unlock(&st->mu);
	return HANDLED;
}

/* handle_zaak_ontkoppeld: every ZaakObject of the Zaak with object == linkTo goes. */
static enum outcome ontkoppeld(struct oz_state *st, const cJSON *data)
{
	const cJSON *link = cJSON_GetObjectItemCaseSensitive(data, "linkTo");
	char uuid[OZ_UUID_LEN + 1];
	const char *zaak;
	enum outcome r;
	size_t kept = 0;

	if (!truthy(data))
		return DROPPED;
	if (!cJSON_IsObject(data) || zaak_text(data, &zaak) == RAISED)
		return RAISED;
	if ((r = resolve_zaak(st, zaak, false, uuid)) != HANDLED)
		return r;
	if (!truthy(link))
		return DROPPED; /* missing-linkTo */
	pthread_mutex_lock(&st->mu);
	for (size_t i = 0; i < st->n_objs; i++) {
		if (cJSON_IsString(link) && strcmp(st->objs[i].zaak, uuid) == 0 &&
		    strcmp(st->objs[i].object, link->valuestring) == 0)
			object_free(&st->objs[i]);
		else
			st->objs[kept++] = st->objs[i];
	}
	st->n_objs = kept;
	pthread_mutex_unlock(&st->mu);
	return HANDLED;
}

/* cloudevents 1.12 from_http, structured mode: NULL and the reason when the
 * body is not a CloudEvent. */
static cJSON *cloudevent(const struct oz_request *rq, const char **why)
{
	static const char *const required[] = {"id", "source", "type", "specversion"};
	const char *end = NULL;
	cJSON *ev = cJSON_ParseWithOpts(rq->body, &end, 1);
	const cJSON *sv;

	*why = NULL;
	if (!ev || end != rq->body + rq->body_len)
		*why = "Failed to read specversion from both headers and data. The following can "
		       "not be parsed as json";
	else if (!cJSON_IsObject(ev))
		*why = "Failed to read specversion from both headers and data. The following "
		       "deserialized data has no 'get' method";
	else if (!(sv = cJSON_GetObjectItemCaseSensitive(ev, "specversion")) || cJSON_IsNull(sv))
		*why = "Failed to find specversion in HTTP request";
	else if (!cJSON_IsString(sv) ||
	         (strcmp(sv->valuestring, "1.0") != 0 && strcmp(sv->valuestring, "0.3") != 0))
		*why = "Found invalid specversion";
	else if (cJSON_GetObjectItemCaseSensitive(ev, "data_base64"))
		*why = "data_base64 is not supported by this stand-in";
	for (size_t i = 0; !*why && i < sizeof(required) / sizeof(*required); i++)
		if (!cJSON_GetObjectItemCaseSensitive(ev, required[i]))
			*why = "Missing required attributes";
	if (*why) {
		cJSON_Delete(ev);
		return NULL;
	}
	return ev;
}

void oz_events(struct oz_state *st, const struct oz_request *rq, struct oz_answer *ans)
{
	const cJSON *type, *id;
	const char *why;
	enum outcome r = HANDLED;
	cJSON *ev, *doc;

	/* required_scopes names only "post": any other method has no scope to have. */
	if (strcmp(rq->method, "POST") != 0) {
		forbidden(ans, rq->host, "permission_denied",
		          "You do not have permission to perform this action.");
		return;
	}
	if (!authorized(st, rq, "cloudevents.bezorgen", ans))
		return;
	if (!rq->content_type || strcmp(rq->content_type, "application/cloudevents+json") != 0) {
		ans->status = 415;
		return;
	}
	if (!(ev = cloudevent(rq, &why))) {
		invalid(ans, rq->host, "cloudevent", "malformed-cloudevent", why);
		return;
	}
	type = cJSON_GetObjectItemCaseSensitive(ev, "type");
	if (cJSON_IsString(type) &&
	    strcmp(type->valuestring, "nl.overheid.zaken.zaak-gekoppeld") == 0)
		r = gekoppeld(st, cJSON_GetObjectItemCaseSensitive(ev, "data"));
	else if (cJSON_IsString(type) &&
	         strcmp(type->valuestring, "nl.overheid.zaken.zaak-ontkoppeld") == 0)
		r = ontkoppeld(st, cJSON_GetObjectItemCaseSensitive(ev, "data"));
	/* The CamelCaseJSONRenderer writes the view's event_id as eventId. */
	doc = oz_need(cJSON_CreateObject(), "answering an event");
	id = cJSON_GetObjectItemCaseSensitive(ev, "id");
	cJSON_AddBoolToObject(doc, "accepted", r != RAISED);
	cJSON_AddItemToObject(doc, "eventId",
	                      oz_need(cJSON_Duplicate(id, 1), "answering an event"));
	if (r == RAISED)
		cJSON_AddStringToObject(doc, "code", "incoming_cloud_event_uncaught_exception");
	oz_answer_json(ans, r == RAISED ? 500 : 202, doc, "application/json");
	cJSON_Delete(ev);
}

/* ------------------------------------------------- the zaakobjecten list ---- */

/* The last value of query argument KEY (Django's QueryDict.get), or NULL. */
static const char *arg(const struct oz_request *rq, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; i < rq->n_args; i++)
		if (strcmp(rq->args[i].key, key) == 0)
			v = rq->args[i].value;
	return v;
}

/* int(S) of a str in Python: digits with an optional sign, blanks around. */
static bool str_int(const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	while (end != s && isspace((unsigned char)*end))
		end++;
	return end != s && *end == '\0' && errno == 0;
}

/* Appends S, urlencoded as urllib.parse.quote_plus does when QUOTE. */
static void put_quoted(char **buf, size_t *len, const char *s, bool quote)
{
	static const char hex[] = "0123456789ABCDEF";

	*buf = oz_need(realloc(*buf, *len + 3 * strlen(s) + 1), "writing a page link");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!quote || isalnum(c) || strchr("_.-~", c)) {
			(*buf)[(*len)++] = (char)c;
		} else if (c == ' ') {
			(*buf)[(*len)++] = '+';
		} else {
			(*buf)[(*len)++] = '%';
			(*buf)[(*len)++] = hex[c >> 4];
			(*buf)[(*len)++] = hex[c & 15];
		}
	}
	(*buf)[*len] = '\0';
}

/* The request's URL with page=PAGE (none when 0), as DRF's replace_query_param
 * and remove_query_param write it: the arguments sorted by name. */
static char *page_link(const struct oz_request *rq, const char *path, long page)
{
	const struct oz_arg **sorted =
	    oz_need(calloc(rq->n_args + 1, sizeof(*sorted)), "writing a page link");
	struct oz_arg page_arg = {"page", NULL};
	char num[24], *buf = NULL;
	size_t n = 0, len = 0;

	snprintf(num, sizeof(num), "%ld", page);
	page_arg.value = num;
	for (size_t i = 0; i <= rq->n_args; i++) {
		const struct oz_arg *a = i < rq->n_args ? &rq->args[i] : &page_arg;
		size_t j = n;

		if ((a != &page_arg && strcmp(a->key, "page") == 0) || (a == &page_arg && !page))
			continue;
		while (j > 0 && strcmp(sorted[j - 1]->key, a->key) > 0) /* stable insertion */
			j--;
		memmove(&sorted[j + 1], &sorted[j], (n - j) * sizeof(*sorted));
		sorted[j] = a;
		n++;
	}
	buf = oz_need(malloc(strlen(rq->host) + strlen(path) + 16), "writing a page link");
	len = (size_t)sprintf(buf, "http://%s%s", rq->host, path);
	for (size_t i = 0; i < n; i++) {
		put_quoted(&buf, &len, i ? "&" : "?", false);
		put_quoted(&buf, &len, sorted[i]->key, true);
		put_quoted(&buf, &len, "=", false);
		put_quoted(&buf, &len, sorted[i]->value, true);
	}
	free(sorted);
	return buf;
}

/* The filter on zaak: the uuid of a known Zaak on this host, "" for "no
 * Zaak can match" (FILTER_URL_DID_NOT_RESOLVE), NULL for no filter. */
static const char *zaak_filter(const struct oz_request *rq, char uuid[OZ_UUID_LEN + 1])
{
	const char *v = arg(rq, "zaak"), *netloc, *slash;

	if (!v || !*v)
		return NULL;
	uuid[0] = '\0';
	netloc = strstr(v, "://");
	if (!netloc)
		return uuid;
	netloc += 3;
	slash = netloc + strcspn(netloc, "/?#");
	if ((size_t)(slash - netloc) != strlen(rq->host) ||
	    strncmp(netloc, rq->host, (size_t)(slash - netloc)) != 0 || !zaak_url_uuid(v, uuid))
		uuid[0] = '\0';
	return uuid;
}

static bool matches(const struct oz_zaakobject *o, const char *zaak, const char *object,
                    const char *type)
{
	return (!zaak || strcmp(o->zaak, zaak) == 0) &&
	       (!*object || strcmp(o->object, object) == 0) &&
	       (!type || !*type || strcmp(o->object_type, type) == 0);
}

void oz_zaakobjecten(struct oz_state *st, const struct oz_request *rq, struct oz_answer *ans)
{
	static const char *const known[] = {"zaak", "object", "objectType", "page", "pageSize"};
	const char *path = ZAKEN_API "/zaakobjecten", *type = arg(rq, "objectType"), *zaak, *v;
	char zaak_uuid[OZ_UUID_LEN + 1], *object, *link;
	long page = 1, size = st->page_size, pages, count = 0, seen = 0;
	cJSON *doc, *results;
	bool type_ok = !type || !*type;

	if (!authorized(st, rq, "zaken.lezen", ans))
		return;
	for (size_t i = 0; i < rq->n_args; i++) {
		bool ok = false;

		for (size_t k = 0; k < sizeof(known) / sizeof(*known); k++)
			ok = ok || strcmp(rq->args[i].key, known[k]) == 0;
		if (!ok) {
			char reason[300];

			snprintf(reason, sizeof(reason), "Onbekende query parameters: %s",
			         rq->args[i].key);
			invalid(ans, rq->host, "nonFieldErrors", "unknown-parameters", reason);
			return;
		}
	}
	for (size_t i = 0; !type_ok && i < sizeof(object_types) / sizeof(*object_types); i++)
		type_ok = strcmp(type, object_types[i]) == 0;
	if (!type_ok) {
		invalid(ans, rq->host, "objectType", "invalid_choice",
		        "Selecteer een geldige keuze. Deze keuze is niet beschikbaar.");
		return;
	}
	if ((v = arg(rq, "pageSize")) && str_int(v, &size) && size > 0)
		size = size > PAGE_SIZE_MAX ? PAGE_SIZE_MAX : size;
	else
		size = st->page_size;
	zaak = zaak_filter(rq, zaak_uuid);
	object = stripped(arg(rq, "object") ? arg(rq, "object") : "");
	results = oz_need(cJSON_CreateArray(), "listing zaakobjecten");
	pthread_mutex_lock(&st->mu);
	for (size_t i = 0; i < st->n_objs; i++)
		count += matches(&st->objs[i], zaak, object, type);
	pages = count ? (count + size - 1) / size : 1;
	v = arg(rq, "page");
	if (v && strcmp(v, "last") == 0)
		page = pages;
	else if (v && (!str_int(v, &page) || page < 1 || page > pages))
		page = 0;
	for (size_t i = st->n_objs; page && i-- > 0;) /* newest first: order_by("-pk") */
		if (matches(&st->objs[i], zaak, object, type) && seen++ >= (page - 1) * size &&
		    seen <= page * size)
			cJSON_AddItemToArray(results, object_json(&st->objs[i], rq->host));
	pthread_mutex_unlock(&st->mu);
	free(object);
	if (!page) {
		cJSON_Delete(results);
		oz_problem(ans, rq->host, 404, "NotFound", "not_found", "Niet gevonden.",
		           "Invalid page.", NULL, NULL, NULL);
		return;
	}
	doc = oz_need(cJSON_CreateObject(), "listing zaakobjecten");
	cJSON_AddNumberToObject(doc, "count", (double)count);
	if (page < pages) {
		link = page_link(rq, path, page + 1);
		cJSON_AddStringToObject(doc, "next", link);
		free(link);
	} else {
		cJSON_AddNullToObject(doc, "next");
	}
	if (page > 1) {
		link = page_link(rq, path, page == 2 ? 0 : page - 1);
		cJSON_AddStringToObject(doc, "previous", link);
		free(link);
	} else {
		cJSON_AddNullToObject(doc, "previous");
	}
	cJSON_AddItemToObject(doc, "results", results);
	oz_answer_json(ans, 200, doc, "application/json");
}
