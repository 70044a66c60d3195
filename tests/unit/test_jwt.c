/*
 * Unit tests of jwt.c: a token computed once outside zaaklink (python3's
 * hmac and base64) comes out byte for byte; the three parts decode to the
 * header and the claims Open Zaak reads; the secret changes the signature
 * and nothing else; base64url has no padding and the URL alphabet.
 */
#include "jwt.h"
#include "unit.h"

#include <cJSON.h>
#include <openssl/evp.h>
#include <string.h>

/*
 * python3 -c 'import hmac,hashlib,base64,json;
 *   b=lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode();
 *   h=b(json.dumps({"alg":"HS256","typ":"JWT"},separators=(",",":")).encode());
 *   c=b(json.dumps({"iss":"zaaklink","iat":1767225600,"client_id":"zaaklink",
 *     "user_id":"zaaklink","user_representation":"zaaklink"},separators=(",",":")).encode());
 *   print(h+"."+c+"."+b(hmac.new(b"geheim-1234",(h+"."+c).encode(),hashlib.sha256).digest()))'
 */
#define VECTOR_TOKEN                                                                               \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                    \
	"eyJpc3MiOiJ6YWFrbGluayIsImlhdCI6MTc2NzIyNTYwMCwiY2xpZW50X2lkIjoiemFha2xpbmsiLCJ1c2VyX2lk" \
	"IjoiemFha2xpbmsiLCJ1c2VyX3JlcHJlc2VudGF0aW9uIjoiemFha2xpbmsifQ."                          \
	"pcIc8JW3FHyCx12p6K1gTYoBlIk1Ldu_LozYjteE3MM"

/* Decodes the base64url text of len characters into a NUL-terminated malloc'ed string. */
static char *decode(const char *text, size_t len)
{
	size_t padded = (len + 3) / 4 * 4;
	char *b64 = malloc(padded + 1);
	unsigned char *out = malloc(padded + 1);
	int n;

	ck_assert_ptr_nonnull(b64);
	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < padded; i++) {
		char c = i < len ? text[i] : '=';

		ck_assert_msg(c != '+' && c != '/' && (i >= len || c != '='),
		              "'%c' is not base64url without padding", c);
		b64[i] = c == '-' ? '+' : c == '_' ? '/' : c;
	}
	b64[padded] = '\0';
	n = EVP_DecodeBlock(out, (unsigned char *)b64, (int)padded);
	ck_assert_int_ge(n, 0);
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	n -= (int)(padded - len);
	out[n] = '\0';
	free(b64);
	return (char *)out;
}

/* Splits token into its three parts; each pointer points into token. */
static void split(const char *token, const char *part[3], size_t len[3])
{
	const char *p = token;

	for (int i = 0; i < 3; i++) {
		const char *dot = strchr(p, '.');

		ck_assert_msg(i == 2 ? dot == NULL : dot != NULL, "not three parts: %s", token);
		part[i] = p;
		len[i] = dot ? (size_t)(dot - p) : strlen(p);
		p = dot ? dot + 1 : p;
	}
}

START_TEST(test_fixed_vector)
{
	struct zl_err err = {0};
	char *token = jwt_hs256("zaaklink", "geheim-1234", 1767225600, &err);

	ck_assert_msg(token != NULL, "%s", err.msg);
	ck_assert_str_eq(token, VECTOR_TOKEN);
	free(token);
}
END_TEST

START_TEST(test_parts_decode_to_the_claims)
{
	struct zl_err err = {0};
	char *token = jwt_hs256("openklant-zaaklink", "s3cr3t", 1800000000, &err);
	const char *part[3];
	size_t len[3];
	char *header, *claims;
	cJSON *h, *c;

	ck_assert_msg(token != NULL, "%s", err.msg);
	split(token, part, len);
	header = decode(part[0], len[0]);
	claims = decode(part[1], len[1]);
	ck_assert_str_eq(header, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
	c = cJSON_Parse(claims);
	h = cJSON_Parse(header);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(h);
	ck_assert_str_eq(cJSON_GetObjectItem(c, "iss")->valuestring, "openklant-zaaklink");
	ck_assert_str_eq(cJSON_GetObjectItem(c, "client_id")->valuestring, "openklant-zaaklink");
	ck_assert_str_eq(cJSON_GetObjectItem(c, "user_id")->valuestring, "openklant-zaaklink");
	ck_assert_str_eq(cJSON_GetObjectItem(c, "user_representation")->valuestring, "zaaklink");
	/* Open Zaak wants an integer iat: written without a fraction or exponent. */
	ck_assert_ptr_nonnull(strstr(claims, "\"iat\":1800000000,"));
	ck_assert_int_eq(cJSON_GetArraySize(c), 5);
	/* The signature is 32 bytes: 43 characters without padding. */
	ck_assert_uint_eq(len[2], 43);
	cJSON_Delete(c);
	cJSON_Delete(h);
	free(header);
	free(claims);
	free(token);
}
END_TEST

START_TEST(test_secret_changes_only_the_signature)
{
	struct zl_err err = {0};
	char *a = jwt_hs256("zaaklink", "geheim-1234", 1767225600, &err);
	char *b = jwt_hs256("zaaklink", "geheim-1235", 1767225600, &err);
	const char *pa[3], *pb[3];
	size_t la[3], lb[3];

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	split(a, pa, la);
	split(b, pb, lb);
	ck_assert_uint_eq(la[0] + la[1], lb[0] + lb[1]);
	ck_assert_int_eq(memcmp(a, b, la[0] + la[1] + 2), 0);
	ck_assert_msg(strcmp(pa[2], pb[2]) != 0, "same signature with another secret");
	free(a);
	free(b);
}
END_TEST

START_TEST(test_base64url_alphabet_without_padding)
{
	static const unsigned char bytes[] = {0xfb, 0xff, 0xbf, 0x3e};
	char *one = jwt_base64url(bytes, 1), *two = jwt_base64url(bytes, 2);
	char *three = jwt_base64url(bytes, 3), *four = jwt_base64url(bytes, 4);

	/* Standard base64: "+w==", "+/8=", "+/+/", "+/+/Pg==". */
	ck_assert_str_eq(one, "-w");
	ck_assert_str_eq(two, "-_8");
	ck_assert_str_eq(three, "-_-_");
	ck_assert_str_eq(four, "-_-_Pg");
	free(one);
	free(two);
	free(three);
	free(four);
}
END_TEST

static Suite *jwt_suite(void)
{
	Suite *s = suite_create("jwt");
	TCase *tc = tcase_create("jwt");

	tcase_add_test(tc, test_fixed_vector);
	tcase_add_test(tc, test_parts_decode_to_the_claims);
	tcase_add_test(tc, test_secret_changes_only_the_signature);
	tcase_add_test(tc, test_base64url_alphabet_without_padding);
	suite_add_tcase(s, tc);
	return s;
}

ZL_UNIT_MAIN(jwt_suite)
