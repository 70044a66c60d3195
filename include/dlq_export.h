/*
 * The format of `zaaklink dlq export` and the text `dlq list` shows.
 *
 * An export is one JSON object a line (format 2, described in the README
 * under "Export format"): every byte string is either text, under its
 * name, when it is strict UTF-8 (RFC 3629) without NUL, or base64 (RFC
 * 4648) under NAME_base64; every header value is an object that names its
 * AMQP type: {"type": T, "value": V} or {"type": T, "base64": B}. 64-bit
 * integers and timestamps are decimal strings, so that no reader rounds
 * them to a double.
 */
#ifndef ZL_DLQ_EXPORT_H
#define ZL_DLQ_EXPORT_H

#include "amqp_compat.h"

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define ZL_EXPORT_FORMAT 2

/* True when p is strict UTF-8 (no overlong form, no surrogate, nothing
 * above U+10FFFF) without NUL: what an export writes as text. */
bool zl_utf8_text(const void *p, size_t len);

/*
 * Writes len bytes of s into buf for a terminal or a one-line message:
 * control characters (C0, DEL, C1), bytes that are not UTF-8 and the
 * Unicode line separators and bidirectional controls become \xHH or
 * \u{HHHH}, and a backslash becomes \\ when escape_backslash is set (so
 * that the text reads back unambiguously). Cut at a character to fit;
 * returns buf.
 */
char *zl_text_escape(const char *s, size_t len, char *buf, size_t size, bool escape_backslash);

/* s with every byte that is not UTF-8 replaced by U+FFFD; malloc'ed. */
char *zl_utf8_lossy(const char *s);

/* Base64 of len bytes (RFC 4648, padded); malloc'ed, NULL without memory. */
char *zl_base64(const void *p, size_t len);

/* A field value as {"type": ..., "value"|"base64"|"entries": ...}. */
cJSON *zl_export_field(const amqp_field_value_t *v);

/*
 * Adds bytes to obj as name (text) or name_base64 (anything else); a
 * table as name (an object by key) or, when a key is not text or is
 * there twice, as name_entries (an array of {"key"|"key_base64", "type",
 * ...} in order). False without memory.
 */
bool zl_export_add_bytes(cJSON *obj, const char *name, const void *p, size_t len);
bool zl_export_add_table(cJSON *obj, const char *name, const amqp_table_t *t);

/* One message as exported; NULL without memory. */
cJSON *zl_export_message(const char *queue, const char *exchange, amqp_bytes_t routing_key,
                         const amqp_message_t *msg);

/*
 * What identifies a message for `dlq purge --from`: its message_id as the
 * export writes it, "t:" and the text or "b:" and the base64; malloc'ed.
 * zl_export_line_id reads it from one exported line: 1 with *key set, 0
 * when the message had no message_id, -1 (with why) when the line is not
 * an export of format 2 or is of another queue than queue.
 */
char *zl_export_id_key(const void *p, size_t len);
int zl_export_line_id(const char *line, size_t len, const char *queue, char **key, char *why,
                      size_t why_size);

#endif
