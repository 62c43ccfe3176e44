/* Fuzz target: the session framing a berth client reads (berth_unframe_feed)
 * and the encoder berthd writes it with (berth_frame_header).
 *
 * The first 8 bytes of the input seed the split points, the rest is the
 * stream.  Fed whole and in random pieces, the decoder must deliver the
 * same bytes to the same streams, mark the same frame ends, stop at the
 * same malformed header, and agree on the boundary.  Every frame it
 * delivered, re-encoded with berth_frame_header, must give back the input
 * it came from. */
#include "fuzz_util.h"
#include "util/frame.h"

typedef struct sink {
  unsigned char *bytes; /* the re-encoded stream */
  size_t len, cap;
  unsigned char *frame; /* the frame being collected */
  size_t frame_len, frame_cap;
  int frame_stream;
  size_t ends;
} sink;

static void grow(unsigned char **buf, size_t *cap, size_t need) {
  if (need <= *cap) return;
  *cap = need * 2;
  *buf = realloc(*buf, *cap);
  if (!*buf) abort();
}

static int collect_cb(int stream, const char *buf, size_t len, int last, void *data) {
  sink *s = data;
  FZ_CHECK(stream >= BERTH_FRAME_STDOUT && stream <= BERTH_FRAME_EXIT, "stream %d", stream);
  if (s->frame_len == 0) s->frame_stream = stream;
  FZ_CHECK(stream == s->frame_stream, "stream changed inside a frame");
  grow(&s->frame, &s->frame_cap, s->frame_len + len + 1);
  memcpy(s->frame + s->frame_len, buf, len);
  s->frame_len += len;
  if (last) {
    grow(&s->bytes, &s->cap, s->len + BERTH_FRAME_HEADER + s->frame_len);
    berth_frame_header(s->bytes + s->len, stream, (uint32_t)s->frame_len);
    memcpy(s->bytes + s->len + BERTH_FRAME_HEADER, s->frame, s->frame_len);
    s->len += BERTH_FRAME_HEADER + s->frame_len;
    s->frame_len = 0;
    s->ends++;
  }
  return 0;
}

static int run(const char *buf, size_t len, fz_rng *rng, sink *out, int *boundary, size_t *consumed) {
  berth_unframe u;
  berth_unframe_init(&u, collect_cb, out);
  size_t off = 0;
  int rc = 0;
  while (off < len) {
    size_t piece = len - off;
    if (rng) {
      uint64_t r = fz_next(rng);
      piece = (r & 3) ? 1 + (size_t)(r >> 8) % 9 : 1 + (size_t)(r >> 8) % (len - off);
      if (piece > len - off) piece = len - off;
    }
    berth_error err = {0};
    rc = berth_unframe_feed(&u, buf + off, piece, &err);
    off += piece;
    if (rc < 0) {
      FZ_CHECK(err.msg[0], "error without a message");
      break;
    }
  }
  *boundary = berth_unframe_at_boundary(&u);
  *consumed = off;
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 8) return 0;
  fz_rng rng;
  memcpy(&rng.state, data, 8);
  const char *buf = (const char *)data + 8;
  size_t len = size - 8;
  sink whole = {0}, split = {0};
  int b1, b2;
  size_t c1, c2;
  int rc1 = run(buf, len, NULL, &whole, &b1, &c1);
  int rc2 = run(buf, len, &rng, &split, &b2, &c2);
  FZ_CHECK(rc1 == rc2, "whole feed rc %d, split feed rc %d", rc1, rc2);
  FZ_CHECK(whole.len == split.len && (whole.len == 0 || !memcmp(whole.bytes, split.bytes, whole.len)),
           "whole and split feeds delivered different frames");
  FZ_CHECK(whole.ends == split.ends, "frame ends %zu vs %zu", whole.ends, split.ends);
  if (rc1 == 0) FZ_CHECK(b1 == b2, "boundary %d vs %d", b1, b2);
  /* The complete frames, re-encoded, are the input's prefix. */
  FZ_CHECK(whole.len <= len && (whole.len == 0 || !memcmp(whole.bytes, buf, whole.len)),
           "re-encoded frames differ from the input");
  if (rc1 == 0 && b1) FZ_CHECK(whole.len == len, "at a boundary but %zu of %zu bytes re-encoded", whole.len, len);
  free(whole.bytes);
  free(whole.frame);
  free(split.bytes);
  free(split.frame);
  return 0;
}
