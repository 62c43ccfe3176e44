/* Byte-to-text encodings for answers that must be JSON strings. */
#ifndef BERTH_UTIL_TEXT_H
#define BERTH_UTIL_TEXT_H

#include <stddef.h>

/* Standard base64 with padding; caller frees. */
char *berth_base64_encode(const unsigned char *data, size_t len);

/* Copies data as UTF-8, each invalid byte replaced by U+FFFD, so jansson
 * accepts it (Mesos's files API returns text).  Caller frees; *out_len is
 * the result's length. */
char *berth_utf8_sanitize(const char *data, size_t len, size_t *out_len);

/* Seconds since the epoch of an RFC 3339 UTC time as docker writes it
 * ("2026-11-25T19:01:27.509123456Z"); 0 when it cannot be read. */
double berth_rfc3339_parse(const char *text);

#endif
