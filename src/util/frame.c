#include "util/frame.h"

#include <string.h>

void berth_frame_header(unsigned char out[BERTH_FRAME_HEADER], int stream, uint32_t len) {
  out[0] = (unsigned char)stream;
  out[1] = out[2] = out[3] = 0;
  out[4] = (unsigned char)(len >> 24);
  out[5] = (unsigned char)(len >> 16);
  out[6] = (unsigned char)(len >> 8);
  out[7] = (unsigned char)len;
}

void berth_unframe_init(berth_unframe *u, berth_unframe_cb cb, void *data) {
  memset(u, 0, sizeof(*u));
  u->cb = cb;
  u->data = data;
}

int berth_unframe_at_boundary(const berth_unframe *u) { return u->header_len == 0 && u->remaining == 0; }

int berth_unframe_feed(berth_unframe *u, const char *buf, size_t len, berth_error *err) {
  while (len > 0) {
    if (u->remaining == 0) {
      size_t take = BERTH_FRAME_HEADER - u->header_len;
      if (take > len) take = len;
      memcpy(u->header + u->header_len, buf, take);
      u->header_len += take;
      buf += take;
      len -= take;
      if (u->header_len < BERTH_FRAME_HEADER) break;
      u->header_len = 0;
      const unsigned char *h = u->header;
      if (h[0] < BERTH_FRAME_STDOUT || h[0] > BERTH_FRAME_EXIT || h[1] || h[2] || h[3])
        return berth_error_set(err, BERTH_EINVAL, "malformed session frame header (stream byte %u)", h[0]);
      u->stream = h[0];
      u->remaining = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | (uint32_t)h[7];
      if (u->remaining == 0) {
        int rc = u->cb(u->stream, buf, 0, 1, u->data);
        if (rc < 0) return berth_error_set(err, rc, "session frame reader stopped");
      }
      continue;
    }
    size_t take = u->remaining < len ? u->remaining : len;
    u->remaining -= (uint32_t)take;
    int rc = u->cb(u->stream, buf, take, u->remaining == 0, u->data);
    if (rc < 0) return berth_error_set(err, rc, "session frame reader stopped");
    buf += take;
    len -= take;
  }
  return 0;
}
