#include "docker/stream.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

void berth_demux_init(berth_demux *d, berth_demux_cb cb, void *data) {
  memset(d, 0, sizeof(*d));
  d->cb = cb;
  d->data = data;
}

int berth_demux_at_boundary(const berth_demux *d) { return d->header_len == 0 && d->remaining == 0; }

int berth_demux_feed(berth_demux *d, const char *buf, size_t len, berth_error *err) {
  while (len > 0) {
    if (d->remaining == 0) {
      size_t take = sizeof(d->header) - d->header_len;
      if (take > len) take = len;
      memcpy(d->header + d->header_len, buf, take);
      d->header_len += take;
      buf += take;
      len -= take;
      if (d->header_len < sizeof(d->header)) break;
      d->header_len = 0;
      if (d->header[0] > BERTH_STREAM_SYSERR || d->header[1] || d->header[2] || d->header[3])
        return berth_error_set(err, BERTH_EDOCKER, "malformed stream frame header (stream byte %u)", d->header[0]);
      d->stream = d->header[0];
      d->remaining = (uint32_t)d->header[4] << 24 | (uint32_t)d->header[5] << 16 | (uint32_t)d->header[6] << 8 |
                     (uint32_t)d->header[7];
      continue;
    }
    size_t take = d->remaining < len ? d->remaining : len;
    int rc = d->cb(d->stream, buf, take, d->data);
    if (rc < 0) return berth_error_set(err, rc, "stream reader stopped");
    d->remaining -= (uint32_t)take;
    buf += take;
    len -= take;
  }
  return 0;
}

void berth_lines_init(berth_lines *l, size_t max_line, berth_lines_cb cb, void *data) {
  memset(l, 0, sizeof(*l));
  l->max_line = max_line;
  l->cb = cb;
  l->data = data;
}

static int emit(berth_lines *l, const char *line, size_t n, berth_error *err) {
  if (n > 0 && line[n - 1] == '\r') n--;
  if (n == 0) return 0;
  int rc = l->cb(line, n, l->data);
  if (rc < 0) return berth_error_set(err, rc, "line reader stopped");
  return 0;
}

int berth_lines_feed(berth_lines *l, const char *buf, size_t len, berth_error *err) {
  while (len > 0) {
    const char *nl = memchr(buf, '\n', len);
    size_t piece = nl ? (size_t)(nl - buf) : len;
    if (l->len + piece > l->max_line)
      return berth_error_set(err, BERTH_EDOCKER, "stream line longer than %zu bytes", l->max_line);
    if (!nl) {
      if (l->len + piece + 1 > l->cap) {
        l->cap = (l->len + piece + 1) * 2;
        l->buf = berth_realloc(l->buf, l->cap);
      }
      memcpy(l->buf + l->len, buf, piece);
      l->len += piece;
      return 0;
    }
    int rc;
    if (l->len == 0) {
      rc = emit(l, buf, piece, err); /* the common case: no copy */
    } else {
      if (l->len + piece + 1 > l->cap) {
        l->cap = (l->len + piece + 1) * 2;
        l->buf = berth_realloc(l->buf, l->cap);
      }
      memcpy(l->buf + l->len, buf, piece);
      l->len += piece;
      rc = emit(l, l->buf, l->len, err);
      l->len = 0;
    }
    if (rc < 0) return rc;
    buf += piece + 1;
    len -= piece + 1;
  }
  return 0;
}

int berth_lines_finish(berth_lines *l, berth_error *err) {
  int rc = 0;
  if (l->len > 0) rc = emit(l, l->buf, l->len, err);
  l->len = 0;
  return rc;
}

void berth_lines_free(berth_lines *l) {
  free(l->buf);
  l->buf = NULL;
  l->len = l->cap = 0;
}
