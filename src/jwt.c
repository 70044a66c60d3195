/*
 * JWT: the HS256 bearer token Open Zaak takes (include/jwt.h).
 *
 * cJSON writes the header and the claims, OpenSSL's EVP_EncodeBlock
 * encodes them and HMAC() signs; the only work here is turning standard
 * base64 into base64url ('+' to '-', '/' to '_', no '=' padding) and
 * putting the three parts together.
 */
#include "jwt.h"

#include <cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

char *jwt_base64url(const unsigned char *data, size_t n)
{
	/* EVP_EncodeBlock writes 4 characters per 3 bytes, and a NUL. */
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	int len;

	if (!out)
		return NULL;
	len = EVP_EncodeBlock((unsigned char *)out, data, (int)n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (char *p = out; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	return out;
}

/* The claims Open Zaak reads, compact JSON; NULL when out of memory. */
static char *claims_json(const char *client_id, int64_t iat)
{
	cJSON *c = cJSON_CreateObject();
	char *text = NULL;

	if (c && cJSON_AddStringToObject(c, "iss", client_id) &&
	    cJSON_AddNumberToObject(c, "iat", (double)iat) &&
	    cJSON_AddStringToObject(c, "client_id", client_id) &&
	    cJSON_AddStringToObject(c, "user_id", client_id) &&
	    cJSON_AddStringToObject(c, "user_representation", "zaaklink"))
		text = cJSON_PrintUnformatted(c);
	cJSON_Delete(c);
	return text;
}

static char *header_json(void)
{
	cJSON *h = cJSON_CreateObject();
	char *text = NULL;

	if (h && cJSON_AddStringToObject(h, "alg", "HS256") &&
	    cJSON_AddStringToObject(h, "typ", "JWT"))
		text = cJSON_PrintUnformatted(h);
	cJSON_Delete(h);
	return text;
}

/* "a.b", malloc'ed; NULL when out of memory. */
static char *join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *out = malloc(la + 1 + lb + 1);

	if (out) {
		memcpy(out, a, la);
		out[la] = '.';
		memcpy(out + la + 1, b, lb + 1);
	}
	return out;
}

char *jwt_hs256(const char *client_id, const char *secret, int64_t iat, struct zl_err *err)
{
	char *header = header_json(), *claims = claims_json(client_id, iat);
	char *h64 = NULL, *c64 = NULL, *input = NULL, *s64 = NULL, *token = NULL;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (header && claims && (h64 = jwt_base64url((unsigned char *)header, strlen(header))) &&
	    (c64 = jwt_base64url((unsigned char *)claims, strlen(claims))))
		input = join(h64, c64);
	if (!input) {
		zl_err_set(err, ZL_EX_SOFTWARE,
		           "out of memory while building a token for Open Zaak");
	} else if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)input,
	                 strlen(input), mac, &mac_len)) {
		zl_err_set(err, ZL_EX_SOFTWARE,
		           "could not sign a token for Open Zaak: HMAC-SHA256 failed in OpenSSL");
	} else if (!(s64 = jwt_base64url(mac, mac_len)) || !(token = join(input, s64))) {
		zl_err_set(err, ZL_EX_SOFTWARE,
		           "out of memory while signing a token for Open Zaak");
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	cJSON_free(header);
	cJSON_free(claims);
	free(h64);
	free(c64);
	free(input);
	free(s64);
	return token;
}
