/* Fuzz target: RecordIO (berth_recordio_feed), as berth events reads
 * berthd's SUBSCRIBE stream.
 *
 * The first 8 bytes seed the split points, the 9th and 10th choose the
 * record limit, the rest is the stream.  Fed whole and in random pieces,
 * it must give the same records (none over the limit, each NUL-terminated)
 * and end with the same result; each record, framed again, reads back as
 * itself. */
#include "fuzz_util.h"
#include "util/recordio.h"

typedef struct sink {
  char *text; /* each record as "<len>:<bytes>" */
  size_t len, cap;
  size_t max;
} sink;

typedef struct expect {
  const char *data;
  size_t len;
  int seen;
} expect;

static int same_cb(const char *data, size_t len, void *arg) {
  expect *x = arg;
  FZ_CHECK(len == x->len && (len == 0 || !memcmp(data, x->data, len)), "a framed record read back differently");
  x->seen++;
  return 0;
}

static int record_cb(const char *data, size_t len, void *arg) {
  sink *s = arg;
  FZ_CHECK(len <= s->max, "record of %zu bytes over the limit %zu", len, s->max);
  FZ_CHECK(data[len] == '\0', "record not NUL-terminated");
  char head[32];
  int n = snprintf(head, sizeof(head), "%zu:", len);
  if (s->len + (size_t)n + len > s->cap) {
    s->cap = (s->len + (size_t)n + len) * 2 + 16;
    s->text = realloc(s->text, s->cap);
    if (!s->text) abort();
  }
  memcpy(s->text + s->len, head, (size_t)n);
  memcpy(s->text + s->len + (size_t)n, data, len);
  s->len += (size_t)n + len;
  size_t flen;
  char *framed = berth_recordio_frame(data, len, &flen);
  berth_recordio_reader r;
  berth_recordio_reader_init(&r, len);
  expect x = {data, len, 0};
  berth_error err = {0};
  FZ_CHECK(berth_recordio_feed(&r, framed, flen, same_cb, &x, &err) == 0, "reframed record refused: %s", err.msg);
  FZ_CHECK(x.seen == 1 && berth_recordio_idle(&r), "reframed record not read back once");
  berth_recordio_reader_clear(&r);
  free(framed);
  return 0;
}

static int run(const char *buf, size_t len, size_t max, fz_rng *rng, sink *out) {
  berth_recordio_reader r;
  berth_recordio_reader_init(&r, max);
  out->max = max;
  size_t off = 0;
  int rc = 0;
  berth_error err = {0};
  while (off < len && rc == 0) {
    size_t piece = len - off;
    if (rng) {
      uint64_t v = fz_next(rng);
      piece = 1 + (size_t)(v >> 8) % ((v & 1) ? 7 : len - off);
      if (piece > len - off) piece = len - off;
    }
    rc = berth_recordio_feed(&r, buf + off, piece, record_cb, out, &err);
    off += piece;
  }
  if (rc != 0) FZ_CHECK(err.msg[0], "error without a message");
  berth_recordio_reader_clear(&r);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 10) return 0;
  fz_rng rng;
  memcpy(&rng.state, data, 8);
  size_t max = ((size_t)data[8] << 8 | data[9]) % 4096;
  const char *buf = (const char *)data + 10;
  size_t len = size - 10;
  sink whole = {0}, split = {0};
  int rc1 = run(buf, len, max, NULL, &whole);
  int rc2 = run(buf, len, max, &rng, &split);
  FZ_CHECK(rc1 == rc2, "whole feed rc %d, split feed rc %d", rc1, rc2);
  FZ_CHECK(whole.len == split.len && (whole.len == 0 || !memcmp(whole.text, split.text, whole.len)),
           "whole and split feeds gave different records");
  free(whole.text);
  free(split.text);
  return 0;
}
