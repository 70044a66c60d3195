/*
 * The bearer token of Open Zaak: a JSON Web Token signed with HMAC-SHA256.
 *
 * Open Zaak accepts HS256 only. It reads client_id from the claims, looks up
 * that client's secret and checks the signature with it; it refuses a token
 * without an integer iat or one an hour old or older. zaaklink signs one
 * token per request or reuses one for at most a minute (openzaak.c), so the
 * hour is never close.
 */
#ifndef ZL_JWT_H
#define ZL_JWT_H

#include "common.h"

#include <stdint.h>

/*
 * The compact token "HEADER.CLAIMS.SIGNATURE", each part base64url without
 * padding: header {"alg":"HS256","typ":"JWT"}; claims, in this order,
 * {"iss":client_id,"iat":iat,"client_id":client_id,"user_id":client_id,
 * "user_representation":"zaaklink"}; the signature HMAC-SHA256 with secret
 * (its bytes as they are) over "HEADER.CLAIMS". iat is UNIX seconds
 * (zl_wall_s()). Returns the malloc'ed token, or NULL with err filled
 * (ZL_EX_SOFTWARE: out of memory, or OpenSSL failed). The secret is never
 * put into err.
 */
char *jwt_hs256(const char *client_id, const char *secret, int64_t iat, struct zl_err *err);

/*
 * base64url of the n bytes at data, without padding (RFC 7515 section 2):
 * the malloc'ed text, or NULL when out of memory.
 */
char *jwt_base64url(const unsigned char *data, size_t n);

#endif
