/* Fuzz target: Docker's multiplexed log stream (berth_demux_feed).
 *
 * The first 8 bytes of the input seed the split points, the rest is the
 * stream.  It is fed twice: whole, and cut into random pieces as a socket
 * may deliver it.  Both runs must deliver the same bytes to the same
 * streams, stop at the same frame (a malformed header is an error, not a
 * guess), and agree on whether the input ended on a frame boundary.  A
 * callback that refuses (returns <0) is exercised too. */
#include "docker/stream.h"
#include "fuzz_util.h"

typedef struct sink {
  unsigned char *bytes; /* (stream, byte) pairs, flattened */
  size_t len, cap;
  size_t stop_after; /* refuse once this many payload bytes arrived (0: never) */
  size_t total;
} sink;

static int collect_cb(int stream, const char *buf, size_t len, void *data) {
  sink *s = data;
  FZ_CHECK(stream >= BERTH_STREAM_STDIN && stream <= BERTH_STREAM_SYSERR, "stream %d", stream);
  FZ_CHECK(len > 0, "empty payload callback");
  if (s->stop_after && s->total >= s->stop_after) return -5;
  if (s->len + 2 * len > s->cap) {
    s->cap = (s->len + 2 * len) * 2;
    s->bytes = realloc(s->bytes, s->cap);
    if (!s->bytes) abort();
  }
  for (size_t i = 0; i < len; i++) {
    s->bytes[s->len++] = (unsigned char)stream;
    s->bytes[s->len++] = (unsigned char)buf[i];
  }
  s->total += len;
  return 0;
}

/* Feeds buf in pieces; returns the first error code (0 if none). */
static int run(const char *buf, size_t len, fz_rng *rng, size_t stop_after, sink *out, int *boundary) {
  berth_demux d;
  berth_demux_init(&d, collect_cb, out);
  out->stop_after = stop_after;
  size_t off = 0;
  int rc = 0;
  while (off < len) {
    size_t piece = len - off;
    if (rng) {
      uint64_t r = fz_next(rng);
      /* Mostly tiny pieces (header splits), sometimes big ones. */
      piece = (r & 3) ? 1 + (size_t)(r >> 8) % 9 : 1 + (size_t)(r >> 8) % (len - off);
      if (piece > len - off) piece = len - off;
    }
    berth_error err = {0};
    rc = berth_demux_feed(&d, buf + off, piece, &err);
    off += piece;
    if (rc < 0) {
      FZ_CHECK(err.msg[0], "error without a message");
      break;
    }
  }
  *boundary = berth_demux_at_boundary(&d);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 8) return 0;
  fz_rng rng;
  memcpy(&rng.state, data, 8);
  const char *buf = (const char *)data + 8;
  size_t len = size - 8;
  size_t stop_after = (data[0] & 0x80) ? data[1] : 0;

  sink whole = {0}, split = {0};
  int b1, b2;
  int rc1 = run(buf, len, NULL, 0, &whole, &b1);
  int rc2 = run(buf, len, &rng, 0, &split, &b2);
  FZ_CHECK(rc1 == rc2, "whole feed rc %d, split feed rc %d", rc1, rc2);
  FZ_CHECK(whole.len == split.len && (whole.len == 0 || !memcmp(whole.bytes, split.bytes, whole.len)),
           "whole and split feeds delivered different payloads (%zu vs %zu bytes)", whole.len / 2, split.len / 2);
  if (rc1 == 0) FZ_CHECK(b1 == b2, "boundary %d vs %d", b1, b2);
  if (stop_after) {
    /* A refusing callback stops the feed with its code; what came before
     * is a prefix of the full payload. */
    sink stopped = {0};
    fz_rng rng2;
    memcpy(&rng2.state, data, 8);
    int rc3 = run(buf, len, &rng2, stop_after, &stopped, &b2);
    FZ_CHECK(rc3 == 0 || rc3 == -5 || rc3 == rc1, "refused feed rc %d", rc3);
    FZ_CHECK(stopped.len <= whole.len && (stopped.len == 0 || !memcmp(stopped.bytes, whole.bytes, stopped.len)),
             "refused feed delivered bytes the full feed did not");
    free(stopped.bytes);
  }
  free(whole.bytes);
  free(split.bytes);
  return 0;
}
