/* Fuzz target: the encoders the files API answers with (src/util/text.h).
 *
 * - berth_base64_encode: standard alphabet and padding, length
 *   4*ceil(n/3), and decoding gives the input back.
 * - berth_utf8_sanitize: the result is valid UTF-8 without NUL (so
 *   jansson takes it), *out_len is its length, valid UTF-8 input comes back
 *   unchanged, and each invalid byte costs exactly one U+FFFD. */
#include <stdbool.h>

#include "fuzz_util.h"
#include "util/text.h"

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Length of the valid UTF-8 sequence at s, or 0; written from RFC 3629's
 * table rather than from text.c's code. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  if (s[0] <= 0x7f) return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf) return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
  if (s[0] >= 0xe0 && s[0] <= 0xef) {
    if (n < 3 || (s[2] & 0xc0) != 0x80) return 0;
    unsigned lo = s[0] == 0xe0 ? 0xa0 : 0x80, hi = s[0] == 0xed ? 0x9f : 0xbf;
    return s[1] >= lo && s[1] <= hi ? 3 : 0;
  }
  if (s[0] >= 0xf0 && s[0] <= 0xf4) {
    if (n < 4 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80) return 0;
    unsigned lo = s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xf4 ? 0x8f : 0xbf;
    return s[1] >= lo && s[1] <= hi ? 4 : 0;
  }
  return 0;
}

static void check_base64(const uint8_t *data, size_t size) {
  char *enc = berth_base64_encode(data, size);
  size_t n = strlen(enc);
  FZ_CHECK(n == (size + 2) / 3 * 4, "base64 of %zu bytes has %zu chars", size, n);
  unsigned char *dec = malloc(size + 3);
  size_t d = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    for (int k = 0; k < 4; k++) {
      v[k] = b64_value(enc[i + k]);
      bool pad_ok = enc[i + k] == '=' && i + 4 == n && k >= 2;
      FZ_CHECK(v[k] >= 0 || pad_ok, "bad base64 char '%c' at %zu", enc[i + k], i + k);
    }
    dec[d++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
    if (v[2] >= 0)
      dec[d++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
    else
      FZ_CHECK(enc[i + 3] == '=', "padding '=' then data");
    if (v[3] >= 0) dec[d++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
  }
  FZ_CHECK(d == size && (size == 0 || !memcmp(dec, data, size)), "base64 round trip lost data (%zu -> %zu)", size, d);
  free(dec);
  free(enc);
}

static void check_utf8(const uint8_t *data, size_t size) {
  size_t out_len = (size_t)-1;
  char *out = berth_utf8_sanitize((const char *)data, size, &out_len);
  FZ_CHECK(out_len == strlen(out), "out_len %zu but strlen %zu", out_len, strlen(out));
  const unsigned char *o = (const unsigned char *)out;
  for (size_t i = 0; i < out_len;) {
    size_t k = utf8_len(o + i, out_len - i);
    FZ_CHECK(k > 0, "invalid UTF-8 at %zu of the output", i);
    i += k;
  }
  /* Walk the input: valid sequences are copied, each other byte (and NUL)
   * becomes EF BF BD. */
  size_t j = 0;
  for (size_t i = 0; i < size;) {
    size_t k = data[i] ? utf8_len(data + i, size - i) : 0;
    if (k) {
      FZ_CHECK(j + k <= out_len && !memcmp(o + j, data + i, k), "valid sequence at input %zu changed", i);
      i += k;
      j += k;
    } else {
      FZ_CHECK(j + 3 <= out_len && !memcmp(o + j, "\xef\xbf\xbd", 3), "invalid byte at input %zu not replaced", i);
      i++;
      j += 3;
    }
  }
  FZ_CHECK(j == out_len, "output has %zu bytes, expected %zu", out_len, j);
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_base64(data, size);
  check_utf8(data, size);
  return 0;
}
