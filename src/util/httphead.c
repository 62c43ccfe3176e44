#include "util/httphead.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void berth_http_head_init(berth_http_head *h) {
  h->len = 0;
  h->done = false;
  h->status = 0;
  h->content_length = -1;
  h->buf[0] = '\0';
}

static int parse(berth_http_head *h, berth_error *err) {
  /* "HTTP/1.x NNN reason" */
  if (h->len < 12 || strncmp(h->buf, "HTTP/1.", 7) != 0 || h->buf[8] != ' ')
    return berth_error_set(err, BERTH_EINVAL, "answer is not HTTP/1.x");
  int status = 0;
  for (int i = 9; i < 12; i++) {
    if (h->buf[i] < '0' || h->buf[i] > '9') return berth_error_set(err, BERTH_EINVAL, "bad HTTP status line");
    status = status * 10 + (h->buf[i] - '0');
  }
  if (status < 100 || (h->buf[12] != ' ' && h->buf[12] != '\r'))
    return berth_error_set(err, BERTH_EINVAL, "bad HTTP status line");
  for (size_t i = 0; i < h->len; i++) {
    unsigned char ch = (unsigned char)h->buf[i];
    if (ch == 0 || (ch < 0x20 && ch != '\r' && ch != '\n' && ch != '\t') || ch == 0x7f)
      return berth_error_set(err, BERTH_EINVAL, "control byte in HTTP head");
  }
  h->status = status;
  char cl[32];
  if (berth_http_head_get(h, "Content-Length", cl, sizeof(cl))) {
    char *end;
    errno = 0;
    long long v = strtoll(cl, &end, 10);
    if (errno || end == cl || *end || v < 0) return berth_error_set(err, BERTH_EINVAL, "bad Content-Length");
    h->content_length = v;
  }
  h->done = true;
  return 0;
}

int berth_http_head_feed(berth_http_head *h, const char *buf, size_t len, size_t *used, berth_error *err) {
  *used = 0;
  if (h->done) return 0;
  for (size_t i = 0; i < len; i++) {
    if (h->len >= BERTH_HTTP_HEAD_MAX)
      return berth_error_set(err, BERTH_EINVAL, "HTTP head longer than %d bytes", BERTH_HTTP_HEAD_MAX);
    h->buf[h->len++] = buf[i];
    h->buf[h->len] = '\0';
    if (h->len >= 4 && !memcmp(h->buf + h->len - 4, "\r\n\r\n", 4)) {
      *used = i + 1;
      return parse(h, err);
    }
  }
  *used = len;
  return 0;
}

bool berth_http_head_get(const berth_http_head *h, const char *name, char *out, size_t out_len) {
  size_t nlen = strlen(name);
  const char *line = strstr(h->buf, "\r\n");
  while (line) {
    line += 2;
    const char *end = strstr(line, "\r\n");
    if (!end || end == line) return false;
    if ((size_t)(end - line) > nlen && line[nlen] == ':' && !strncasecmp(line, name, nlen)) {
      const char *v = line + nlen + 1;
      while (v < end && (*v == ' ' || *v == '\t')) v++;
      const char *ve = end;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      size_t n = (size_t)(ve - v);
      if (out_len == 0) return true;
      if (n >= out_len) n = out_len - 1;
      memcpy(out, v, n);
      out[n] = '\0';
      return true;
    }
    line = end;
  }
  return false;
}
