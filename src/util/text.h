/* Byte-to-text encodings for answers that must be JSON strings. */
#ifndef BERTH_UTIL_TEXT_H
#define BERTH_UTIL_TEXT_H

#include <jansson.h>
#include <stddef.h>

/* Standard base64 with padding; caller frees. */
char *berth_base64_encode(const unsigned char *data, size_t len);

/* Copies data as UTF-8, each invalid byte replaced by U+FFFD, so jansson
 * accepts it (Mesos's files API returns text).  Caller frees; *out_len is
 * the result's length. */
char *berth_utf8_sanitize(const char *data, size_t len, size_t *out_len);

/* The longest prefix of s[0..len) that ends on a UTF-8 sequence boundary:
 * where a string can be cut without splitting a character. */
size_t berth_utf8_cut(const char *s, size_t len);

/* A JSON string of text (NULL taken as ""), invalid UTF-8 replaced: never
 * NULL, whatever a task or docker put in it. */
json_t *berth_json_text(const char *text);

/* Seconds since the epoch of an RFC 3339 UTC time as docker writes it
 * ("2026-11-25T19:01:27.509123456Z"); 0 when it cannot be read. */
double berth_rfc3339_parse(const char *text);

#endif
