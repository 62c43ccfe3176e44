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

#endif
