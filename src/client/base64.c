#include "client/base64.h"

#include <stdbool.h>
#include <stdlib.h>

#include "util/alloc.h"

static int sextet(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

static bool is_space(unsigned char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

int berth_base64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len, berth_error *err) {
  unsigned char *buf = berth_malloc(len / 4 * 3 + 4);
  size_t n = 0, pad = 0, quantum = 0;
  unsigned int acc = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if (is_space(c)) continue;
    int v = c == '=' ? 0 : sextet(c);
    /* Nothing but padding may follow padding. */
    if (v < 0 || (pad > 0 && c != '=') || (c == '=' && quantum < 2)) {
      free(buf);
      return berth_error_set(err, BERTH_EIO, "invalid base64 at byte %zu", i);
    }
    if (c == '=') pad++;
    acc = acc << 6 | (unsigned int)v;
    if (++quantum < 4) continue;
    buf[n++] = (unsigned char)(acc >> 16);
    if (pad < 2) buf[n++] = (unsigned char)(acc >> 8);
    if (pad < 1) buf[n++] = (unsigned char)acc;
    quantum = 0;
    acc = 0;
  }
  if (quantum == 1) {
    free(buf);
    return berth_error_set(err, BERTH_EIO, "invalid base64: truncated input");
  }
  /* Unpadded tail: 2 characters hold one byte, 3 hold two. */
  if (quantum >= 2) {
    acc <<= 6 * (4 - quantum);
    buf[n++] = (unsigned char)(acc >> 16);
    if (quantum == 3) buf[n++] = (unsigned char)(acc >> 8);
  }
  buf[n] = '\0';
  *out = buf;
  *out_len = n;
  return 0;
}
