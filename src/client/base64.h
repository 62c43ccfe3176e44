/* Standard base64 (RFC 4648 §4) decoding, for /files/read replies with
 * encoding=base64, the berth extension that carries binary output. */
#ifndef BERTH_CLIENT_BASE64_H
#define BERTH_CLIENT_BASE64_H

#include <stddef.h>

#include "util/error.h"

/* Decodes len characters of text.  Padding is optional and whitespace is
 * skipped (some encoders wrap lines); any other stray character fails.
 * *out is NUL-terminated for convenience, caller frees. */
int berth_base64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len, berth_error *err);

#endif
