/* Fuzz target: newline-delimited messages (berth_lines_feed/_finish), as
 * dockerd streams pull progress.
 *
 * The first 8 bytes seed the split points, the 9th and 10th choose the
 * line limit, the rest is the stream.  Fed whole and in random pieces, it
 * must give the same lines (no '\n' in one, none empty, none over the
 * limit) and fail at the same place when a line is too long. */
#include "docker/stream.h"
#include "fuzz_util.h"

typedef struct sink {
  char *text; /* lines joined by '\n' */
  size_t len, cap;
  size_t max_line;
  size_t lines;
} sink;

static int line_cb(const char *line, size_t len, void *data) {
  sink *s = data;
  FZ_CHECK(len > 0, "empty line delivered");
  FZ_CHECK(len <= s->max_line, "line of %zu bytes over the limit %zu", len, s->max_line);
  FZ_CHECK(!memchr(line, '\n', len), "line holds a newline");
  if (s->len + len + 1 > s->cap) {
    s->cap = (s->len + len + 1) * 2;
    s->text = realloc(s->text, s->cap);
    if (!s->text) abort();
  }
  memcpy(s->text + s->len, line, len);
  s->len += len;
  s->text[s->len++] = '\n';
  s->lines++;
  return 0;
}

static int run(const char *buf, size_t len, size_t max_line, fz_rng *rng, sink *out) {
  berth_lines l;
  out->max_line = max_line;
  berth_lines_init(&l, max_line, line_cb, out);
  size_t off = 0;
  int rc = 0;
  berth_error err = {0};
  while (off < len && rc == 0) {
    size_t piece = len - off;
    if (rng) {
      uint64_t r = fz_next(rng);
      piece = 1 + (size_t)(r >> 8) % ((r & 1) ? 7 : len - off);
      if (piece > len - off) piece = len - off;
    }
    rc = berth_lines_feed(&l, buf + off, piece, &err);
    off += piece;
  }
  if (rc == 0)
    rc = berth_lines_finish(&l, &err);
  else
    FZ_CHECK(err.msg[0], "error without a message");
  berth_lines_free(&l);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 10) return 0;
  fz_rng rng;
  memcpy(&rng.state, data, 8);
  size_t max_line = 1 + ((size_t)data[8] << 8 | data[9]) % 4096;
  const char *buf = (const char *)data + 10;
  size_t len = size - 10;
  sink whole = {0}, split = {0};
  int rc1 = run(buf, len, max_line, NULL, &whole);
  int rc2 = run(buf, len, max_line, &rng, &split);
  FZ_CHECK(rc1 == rc2, "whole feed rc %d, split feed rc %d", rc1, rc2);
  FZ_CHECK(whole.len == split.len && (whole.len == 0 || !memcmp(whole.text, split.text, whole.len)),
           "whole and split feeds gave different lines (%zu vs %zu)", whole.lines, split.lines);
  free(whole.text);
  free(split.text);
  return 0;
}
