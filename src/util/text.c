#include "util/text.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"

char *berth_base64_encode(const unsigned char *data, size_t len) {
  static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = berth_malloc((len + 2) / 3 * 4 + 1);
  char *o = out;
  size_t i = 0;
  for (; i + 2 < len; i += 3) {
    unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];
    *o++ = table[v >> 18 & 63];
    *o++ = table[v >> 12 & 63];
    *o++ = table[v >> 6 & 63];
    *o++ = table[v & 63];
  }
  if (i < len) {
    unsigned v = (unsigned)data[i] << 16 | (i + 1 < len ? (unsigned)data[i + 1] << 8 : 0);
    *o++ = table[v >> 18 & 63];
    *o++ = table[v >> 12 & 63];
    *o++ = i + 1 < len ? table[v >> 6 & 63] : '=';
    *o++ = '=';
  }
  *o = '\0';
  return out;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  if (s[0] < 0x80) return 1;
  size_t need;
  unsigned min;
  unsigned cp;
  if ((s[0] & 0xe0) == 0xc0)
    need = 2, min = 0x80, cp = s[0] & 0x1f;
  else if ((s[0] & 0xf0) == 0xe0)
    need = 3, min = 0x800, cp = s[0] & 0x0f;
  else if ((s[0] & 0xf8) == 0xf0)
    need = 4, min = 0x10000, cp = s[0] & 0x07;
  else
    return 0;
  if (n < need) return 0;
  for (size_t i = 1; i < need; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return need;
}

char *berth_utf8_sanitize(const char *data, size_t len, size_t *out_len) {
  char *out = berth_malloc(len * 3 + 1);
  size_t o = 0;
  const unsigned char *s = (const unsigned char *)data;
  for (size_t i = 0; i < len;) {
    size_t n = s[i] == 0 ? 0 : utf8_seq(s + i, len - i);
    if (n == 0) {
      /* NUL is valid UTF-8 but jansson's strings may not hold it. */
      memcpy(out + o, "\xef\xbf\xbd", 3);
      o += 3;
      i++;
      continue;
    }
    memcpy(out + o, s + i, n);
    o += n;
    i += n;
  }
  out[o] = '\0';
  *out_len = o;
  return out;
}

size_t berth_utf8_cut(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  /* Step back over at most three continuation bytes to the last lead byte;
   * keep its sequence only if it is complete. */
  size_t i = len;
  for (int k = 0; k < 4 && i > 0; k++) {
    i--;
    if ((u[i] & 0xc0) != 0x80) break;
  }
  if (i == len) return len;
  size_t need = u[i] < 0x80 ? 1 : (u[i] & 0xe0) == 0xc0 ? 2 : (u[i] & 0xf0) == 0xe0 ? 3 : (u[i] & 0xf8) == 0xf0 ? 4 : 1;
  return i + need <= len ? len : i;
}

json_t *berth_json_text(const char *text) {
  if (!text) text = "";
  json_t *j = json_string(text);
  if (j) return j;
  size_t n;
  cleanup_free char *clean = berth_utf8_sanitize(text, strlen(text), &n);
  j = json_stringn(clean, n);
  /* Only an allocation failure is left, which berth treats as fatal. */
  if (!j) abort();
  return j;
}

double berth_rfc3339_parse(const char *text) {
  struct tm tm = {0};
  const char *rest = text ? strptime(text, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
  if (!rest) return 0;
  double frac = 0;
  if (*rest == '.') {
    char *end;
    frac = strtod(rest, &end);
    rest = end;
  }
  if (*rest != 'Z') return 0; /* docker writes UTC */
  time_t secs = timegm(&tm);
  return secs <= 0 ? 0 : (double)secs + frac;
}
