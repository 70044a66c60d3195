/* dlq_export: messages as exact JSON for dlq export, and safe text for dlq list. */
#include "dlq_export.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ text ---- */

/*
 * The length of the UTF-8 sequence at p (at most n bytes) with its code
 * point in *cp, or 0 when it is not one by RFC 3629: a stray continuation
 * byte, C0, C1 and F5..FF, an overlong form, a surrogate, a code point
 * above U+10FFFF or a sequence cut short.
 */
static size_t utf8_char(const unsigned char *p, size_t n, uint32_t *cp)
{
	unsigned char c = p[0];
	size_t len;
	uint32_t v, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, v = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, v = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

bool zl_utf8_text(const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n = utf8_char(s + i, len - i, &cp);

		if (n == 0 || cp == 0)
			return false;
		i += n;
	}
	return true;
}

/* Code points a terminal acts on: controls, line separators, bidi controls. */
static bool invisible(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

char *zl_text_escape(const char *s, size_t len, char *buf, size_t size, bool escape_backslash)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, i = 0;

	while (i < len) {
		char tmp[16];
		const char *out = tmp;
		uint32_t cp = 0;
		size_t n = utf8_char(p + i, len - i, &cp), tl;

		if (n == 0) {
			tl = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", p[i]);
			n = 1;
		} else if (cp < 0x80 && invisible(cp)) {
			tl = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", (unsigned)cp);
		} else if (invisible(cp)) {
			tl = (size_t)snprintf(tmp, sizeof(tmp), "\\u{%04" PRIx32 "}", cp);
		} else if (cp == '\\' && escape_backslash) {
			out = "\\\\";
			tl = 2;
		} else {
			out = s + i;
			tl = n;
		}
		if (o + tl >= size)
			break;
		memcpy(buf + o, out, tl);
		o += tl;
		i += n;
	}
	if (size)
		buf[o] = '\0';
	return buf;
}

char *zl_utf8_lossy(const char *s)
{
	size_t len = strlen(s), o = 0;
	char *out = malloc(len * 3 + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_char((const unsigned char *)s + i, len - i, &cp);

		if (n == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		}
	}
	out[o] = '\0';
	return out;
}

char *zl_base64(const void *p, size_t len)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *b = p;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)b[i] << 16 | (i + 1 < len ? (unsigned)b[i + 1] << 8 : 0) |
		             (i + 2 < len ? b[i + 2] : 0);

		*o++ = al[v >> 18 & 63];
		*o++ = al[v >> 12 & 63];
		*o++ = i + 1 < len ? al[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? al[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* ------------------------------------------------------------ JSON ---- */

/* Adds v to o under name; frees v when that fails (o or v NULL: no memory). */
static bool add(cJSON *o, const char *name, cJSON *v)
{
	if (o && v && cJSON_AddItemToObject(o, name, v))
		return true;
	cJSON_Delete(v);
	return false;
}

/* A JSON string of len bytes that hold no NUL. */
static cJSON *string_of(const void *p, size_t len)
{
	char *s = malloc(len + 1);
	cJSON *j;

	if (!s)
		return NULL;
	if (len)
		memcpy(s, p, len);
	s[len] = '\0';
	j = cJSON_CreateString(s);
	free(s);
	return j;
}

/* A base64 JSON string of len bytes. */
static cJSON *base64_of(const void *p, size_t len)
{
	char *s = zl_base64(p, len);
	cJSON *j = s ? cJSON_CreateString(s) : NULL;

	free(s);
	return j;
}

/* Adds bytes as text_name when they are text, else as base64_name. */
static bool add_text_or_base64(cJSON *o, const char *text_name, const char *base64_name,
                               const void *p, size_t len)
{
	if (zl_utf8_text(p, len))
		return add(o, text_name, string_of(p, len));
	return add(o, base64_name, base64_of(p, len));
}

bool zl_export_add_bytes(cJSON *obj, const char *name, const void *p, size_t len)
{
	char b64[128];

	snprintf(b64, sizeof(b64), "%s_base64", name);
	return add_text_or_base64(obj, name, b64, p, len);
}

/* A float as an exact JSON number with a fraction or an exponent (digits:
 * enough to read back the same value), or "NaN", "Infinity", "-Infinity",
 * which JSON has no number for. */
static cJSON *float_json(double d, int digits)
{
	char buf[48];

	if (isnan(d))
		return cJSON_CreateString("NaN");
	if (isinf(d))
		return cJSON_CreateString(d < 0 ? "-Infinity" : "Infinity");
	snprintf(buf, sizeof(buf), "%.*g", digits, d);
	/* 1.0 and -0.0, not 1 and -0: a reader must not take them for integers. */
	if (!strpbrk(buf, ".e"))
		strcat(buf, ".0");
	return cJSON_CreateRaw(buf);
}

static bool add_table(cJSON *obj, const char *name, const char *entries_name,
                      const amqp_table_t *t);

/* The name dlq export gives each AMQP field type. */
static const char *kind_name(uint8_t kind)
{
	switch (kind) {
	case AMQP_FIELD_KIND_BOOLEAN:
		return "bool";
	case AMQP_FIELD_KIND_I8:
		return "int8";
	case AMQP_FIELD_KIND_U8:
		return "uint8";
	case AMQP_FIELD_KIND_I16:
		return "int16";
	case AMQP_FIELD_KIND_U16:
		return "uint16";
	case AMQP_FIELD_KIND_I32:
		return "int32";
	case AMQP_FIELD_KIND_U32:
		return "uint32";
	case AMQP_FIELD_KIND_I64:
		return "int64";
	case AMQP_FIELD_KIND_U64:
		return "uint64";
	case AMQP_FIELD_KIND_F32:
		return "float";
	case AMQP_FIELD_KIND_F64:
		return "double";
	case AMQP_FIELD_KIND_DECIMAL:
		return "decimal";
	case AMQP_FIELD_KIND_UTF8:
		return "longstr";
	case AMQP_FIELD_KIND_ARRAY:
		return "array";
	case AMQP_FIELD_KIND_TIMESTAMP:
		return "timestamp";
	case AMQP_FIELD_KIND_TABLE:
		return "table";
	case AMQP_FIELD_KIND_VOID:
		return "void";
	case AMQP_FIELD_KIND_BYTES:
		return "bytes";
	default:
		return "unknown";
	}
}

/* Adds "type" and the value of v to o. */
static bool field_into(cJSON *o, const amqp_field_value_t *v)
{
	char num[32];

	if (!add(o, "type", cJSON_CreateString(kind_name(v->kind))))
		return false;
	switch (v->kind) {
	case AMQP_FIELD_KIND_BOOLEAN:
		return add(o, "value", cJSON_CreateBool(v->value.boolean));
	case AMQP_FIELD_KIND_I8:
		return add(o, "value", cJSON_CreateNumber(v->value.i8));
	case AMQP_FIELD_KIND_U8:
		return add(o, "value", cJSON_CreateNumber(v->value.u8));
	case AMQP_FIELD_KIND_I16:
		return add(o, "value", cJSON_CreateNumber(v->value.i16));
	case AMQP_FIELD_KIND_U16:
		return add(o, "value", cJSON_CreateNumber(v->value.u16));
	case AMQP_FIELD_KIND_I32:
		return add(o, "value", cJSON_CreateNumber(v->value.i32));
	case AMQP_FIELD_KIND_U32:
		return add(o, "value", cJSON_CreateNumber(v->value.u32));
	case AMQP_FIELD_KIND_I64:
		snprintf(num, sizeof(num), "%" PRId64, v->value.i64);
		return add(o, "value", cJSON_CreateString(num));
	case AMQP_FIELD_KIND_U64:
	case AMQP_FIELD_KIND_TIMESTAMP:
		snprintf(num, sizeof(num), "%" PRIu64, v->value.u64);
		return add(o, "value", cJSON_CreateString(num));
	case AMQP_FIELD_KIND_F32:
		return add(o, "value", float_json(v->value.f32, 9));
	case AMQP_FIELD_KIND_F64:
		return add(o, "value", float_json(v->value.f64, 17));
	case AMQP_FIELD_KIND_DECIMAL: {
		cJSON *d = cJSON_CreateObject();

		if (!add(d, "scale", cJSON_CreateNumber(v->value.decimal.decimals)) ||
		    !add(d, "unscaled", cJSON_CreateNumber(v->value.decimal.value))) {
			cJSON_Delete(d);
			return false;
		}
		return add(o, "value", d);
	}
	case AMQP_FIELD_KIND_UTF8:
		return add_text_or_base64(o, "value", "base64", v->value.bytes.bytes,
		                          v->value.bytes.len);
	case AMQP_FIELD_KIND_BYTES:
		return add(o, "base64", base64_of(v->value.bytes.bytes, v->value.bytes.len));
	case AMQP_FIELD_KIND_VOID:
		return add(o, "value", cJSON_CreateNull());
	case AMQP_FIELD_KIND_ARRAY: {
		cJSON *a = cJSON_CreateArray();

		for (int i = 0; a && i < v->value.array.num_entries; i++) {
			cJSON *e = zl_export_field(&v->value.array.entries[i]);

			if (!e || !cJSON_AddItemToArray(a, e)) {
				cJSON_Delete(e);
				cJSON_Delete(a);
				return false;
			}
		}
		return add(o, "value", a);
	}
	case AMQP_FIELD_KIND_TABLE:
		return add_table(o, "value", "entries", &v->value.table);
	default:
		return add(o, "code", cJSON_CreateNumber(v->kind));
	}
}

cJSON *zl_export_field(const amqp_field_value_t *v)
{
	cJSON *o = cJSON_CreateObject();

	if (o && !field_into(o, v)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* True when every key of t is text and no key is there twice. */
static bool plain_keys(const amqp_table_t *t)
{
	for (int i = 0; i < t->num_entries; i++) {
		amqp_bytes_t k = t->entries[i].key;

		if (!zl_utf8_text(k.bytes, k.len))
			return false;
		for (int j = 0; j < i; j++) {
			amqp_bytes_t o = t->entries[j].key;

			if (o.len == k.len && (k.len == 0 || memcmp(o.bytes, k.bytes, k.len) == 0))
				return false;
		}
	}
	return true;
}

/* An object keyed by name (keys all text and distinct). */
static cJSON *table_object(const amqp_table_t *t)
{
	cJSON *o = cJSON_CreateObject();

	for (int i = 0; o && i < t->num_entries; i++) {
		amqp_bytes_t k = t->entries[i].key;
		char *key = malloc(k.len + 1);
		bool ok;

		if (!key) {
			cJSON_Delete(o);
			return NULL;
		}
		if (k.len)
			memcpy(key, k.bytes, k.len);
		key[k.len] = '\0';
		ok = add(o, key, zl_export_field(&t->entries[i].value));
		free(key);
		if (!ok) {
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

/* An array of {"key"|"key_base64", "type", ...}, in the table's order. */
static cJSON *table_entries(const amqp_table_t *t)
{
	cJSON *a = cJSON_CreateArray();

	for (int i = 0; a && i < t->num_entries; i++) {
		cJSON *e = cJSON_CreateObject();
		amqp_bytes_t k = t->entries[i].key;

		if (!e || !zl_export_add_bytes(e, "key", k.bytes, k.len) ||
		    !field_into(e, &t->entries[i].value) || !cJSON_AddItemToArray(a, e)) {
			cJSON_Delete(e);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

static bool add_table(cJSON *obj, const char *name, const char *entries_name, const amqp_table_t *t)
{
	if (plain_keys(t))
		return add(obj, name, table_object(t));
	return add(obj, entries_name, table_entries(t));
}

bool zl_export_add_table(cJSON *obj, const char *name, const amqp_table_t *t)
{
	char entries[128];

	snprintf(entries, sizeof(entries), "%s_entries", name);
	return add_table(obj, name, entries, t);
}

/* The properties but the headers, which the export writes apart. */
static cJSON *properties_json(const amqp_basic_properties_t *p)
{
	static const struct {
		const char *name;
		amqp_flags_t flag;
		size_t offset;
	} strings[] = {
#define SHORTSTR(name, flag) {#name, flag, offsetof(amqp_basic_properties_t, name)}
	    SHORTSTR(content_type, AMQP_BASIC_CONTENT_TYPE_FLAG),
	    SHORTSTR(content_encoding, AMQP_BASIC_CONTENT_ENCODING_FLAG),
	    SHORTSTR(correlation_id, AMQP_BASIC_CORRELATION_ID_FLAG),
	    SHORTSTR(reply_to, AMQP_BASIC_REPLY_TO_FLAG),
	    SHORTSTR(expiration, AMQP_BASIC_EXPIRATION_FLAG),
	    SHORTSTR(message_id, AMQP_BASIC_MESSAGE_ID_FLAG),
	    SHORTSTR(type, AMQP_BASIC_TYPE_FLAG),
	    SHORTSTR(user_id, AMQP_BASIC_USER_ID_FLAG),
	    SHORTSTR(app_id, AMQP_BASIC_APP_ID_FLAG),
	    SHORTSTR(cluster_id, AMQP_BASIC_CLUSTER_ID_FLAG),
#undef SHORTSTR
	};
	cJSON *o = cJSON_CreateObject();
	char num[32];
	bool ok = o != NULL;

	if (ok && (p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG))
		ok = add(o, "delivery_mode", cJSON_CreateNumber(p->delivery_mode));
	if (ok && (p->_flags & AMQP_BASIC_PRIORITY_FLAG))
		ok = add(o, "priority", cJSON_CreateNumber(p->priority));
	if (ok && (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG)) {
		snprintf(num, sizeof(num), "%" PRIu64, p->timestamp);
		ok = add(o, "timestamp", cJSON_CreateString(num));
	}
	for (size_t i = 0; ok && i < sizeof(strings) / sizeof(strings[0]); i++) {
		const amqp_bytes_t *b = (const amqp_bytes_t *)((const char *)p + strings[i].offset);

		if (p->_flags & strings[i].flag)
			ok = zl_export_add_bytes(o, strings[i].name, b->bytes, b->len);
	}
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *zl_export_message(const char *queue, const char *exchange, amqp_bytes_t routing_key,
                         const amqp_message_t *msg)
{
	const amqp_basic_properties_t *p = &msg->properties;
	cJSON *o = cJSON_CreateObject();
	bool ok = add(o, "format", cJSON_CreateNumber(ZL_EXPORT_FORMAT)) &&
	          zl_export_add_bytes(o, "queue", queue, strlen(queue)) &&
	          zl_export_add_bytes(o, "exchange", exchange, strlen(exchange)) &&
	          zl_export_add_bytes(o, "routing_key", routing_key.bytes, routing_key.len) &&
	          add(o, "properties", properties_json(p));

	if (ok && (p->_flags & AMQP_BASIC_HEADERS_FLAG))
		ok = zl_export_add_table(o, "headers", &p->headers);
	else if (ok)
		ok = add(o, "headers", cJSON_CreateObject());
	if (ok)
		ok = zl_export_add_bytes(o, "body", msg->body.bytes, msg->body.len);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* ------------------------------------------------------ purge --from ---- */

char *zl_export_id_key(const void *p, size_t len)
{
	bool text = zl_utf8_text(p, len);
	char *b64 = text ? NULL : zl_base64(p, len);
	size_t n = text ? len : b64 ? strlen(b64) : 0;
	char *key = (text || b64) ? malloc(n + 3) : NULL;

	if (key) {
		memcpy(key, text ? "t:" : "b:", 2);
		if (n)
			memcpy(key + 2, text ? p : b64, n);
		key[n + 2] = '\0';
	}
	free(b64);
	return key;
}

/* True when the JSON text has a \u0000 escape, which cJSON would cut a string at. */
static bool has_nul_escape(const char *s, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] != '\\')
			continue;
		if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0)
			return true;
		i++; /* the escaped character */
	}
	return false;
}

/* The string member name of o, or NULL. */
static const char *member_string(const cJSON *o, const char *name)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

int zl_export_line_id(const char *line, size_t len, const char *queue, char **key, char *why,
                      size_t why_size)
{
	cJSON *root = NULL;
	const cJSON *fmt, *props;
	const char *text, *b64;
	char *want = NULL;
	int rc = -1;

	*key = NULL;
	if (has_nul_escape(line, len)) {
		snprintf(why, why_size, "has a \\u0000, which no export writes");
		return -1;
	}
	root = cJSON_ParseWithLength(line, len);
	if (!cJSON_IsObject(root)) {
		snprintf(why, why_size, "not a JSON object");
		goto out;
	}
	fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
	if (!cJSON_IsNumber(fmt) || fmt->valuedouble != ZL_EXPORT_FORMAT) {
		snprintf(why, why_size, "not a dlq export of format %d", ZL_EXPORT_FORMAT);
		goto out;
	}
	if (!(want = zl_export_id_key(queue, strlen(queue)))) {
		snprintf(why, why_size, "out of memory while reading its queue");
		goto out;
	}
	text = member_string(root, want[0] == 't' ? "queue" : "queue_base64");
	if (!text || strcmp(text, want + 2) != 0) {
		snprintf(why, why_size, "exported from another queue than %s", queue);
		goto out;
	}
	props = cJSON_GetObjectItemCaseSensitive(root, "properties");
	if (!cJSON_IsObject(props)) {
		snprintf(why, why_size, "has no properties object");
		goto out;
	}
	text = member_string(props, "message_id");
	b64 = member_string(props, "message_id_base64");
	rc = 0;
	if (text || b64) {
		size_t n = strlen(text ? text : b64);

		if (!(*key = malloc(n + 3))) {
			snprintf(why, why_size, "out of memory while reading its message id");
			rc = -1;
			goto out;
		}
		memcpy(*key, text ? "t:" : "b:", 2);
		memcpy(*key + 2, text ? text : b64, n + 1);
		rc = 1;
	}
out:
	free(want);
	cJSON_Delete(root);
	return rc;
}
