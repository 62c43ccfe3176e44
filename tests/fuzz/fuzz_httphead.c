/* Fuzz target: the HTTP response head read before a hijacked stream
 * (berth_http_head_feed, berth_http_head_get), from dockerd on berthd's
 * side and from berthd on the CLI's.
 *
 * The first 8 bytes of the input seed the split points, the rest is the
 * answer.  Fed whole and in random pieces, the parser must agree on the
 * verdict, the status, the length and where the head ends; the head it
 * consumed ends with the blank line, never passes the bound, and the
 * status is a three-digit number.  Header lookups on any head never read
 * past it. */
#include "fuzz_util.h"
#include "util/httphead.h"

static int run(const char *buf, size_t len, fz_rng *rng, berth_http_head *h, size_t *used_total) {
  berth_http_head_init(h);
  size_t off = 0;
  *used_total = 0;
  while (off < len && !h->done) {
    size_t piece = len - off;
    if (rng) {
      uint64_t r = fz_next(rng);
      piece = (r & 3) ? 1 + (size_t)(r >> 8) % 9 : 1 + (size_t)(r >> 8) % (len - off);
      if (piece > len - off) piece = len - off;
    }
    berth_error err = {0};
    size_t used = 0;
    int rc = berth_http_head_feed(h, buf + off, piece, &used, &err);
    FZ_CHECK(used <= piece, "used %zu of a %zu-byte piece", used, piece);
    *used_total += used;
    off += piece;
    if (rc < 0) {
      FZ_CHECK(err.msg[0], "error without a message");
      return rc;
    }
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 8) return 0;
  fz_rng rng;
  memcpy(&rng.state, data, 8);
  const char *buf = (const char *)data + 8;
  size_t len = size - 8;
  static berth_http_head a, b;
  size_t ua, ub;
  int rc1 = run(buf, len, NULL, &a, &ua);
  int rc2 = run(buf, len, &rng, &b, &ub);
  FZ_CHECK(rc1 == rc2, "whole rc %d, split rc %d", rc1, rc2);
  FZ_CHECK(a.done == b.done, "done %d vs %d", a.done, b.done);
  if (a.done) {
    FZ_CHECK(ua == ub, "head ends at %zu vs %zu", ua, ub);
    FZ_CHECK(a.status == b.status && a.status >= 100 && a.status <= 999, "status %d vs %d", a.status, b.status);
    FZ_CHECK(a.content_length == b.content_length, "lengths differ");
    FZ_CHECK(ua >= 4 && ua <= BERTH_HTTP_HEAD_MAX && !memcmp(buf + ua - 4, "\r\n\r\n", 4), "head end misplaced");
    char v[64];
    berth_http_head_get(&a, "Content-Length", v, sizeof(v));
    berth_http_head_get(&a, "Upgrade", v, sizeof(v));
    berth_http_head_get(&a, "x", v, 1);
  }
  return 0;
}
