/* The framing of berth's upgraded session streams (EXEC, and the answer
 * side of ATTACH_CONTAINER_INPUT): Docker's 8-byte multiplexing header
 * {stream, 0, 0, 0, size32be} followed by size bytes, with two streams of
 * berth's own after Docker's stdout (1) and stderr (2):
 *   3  an error from berthd (text), the session ends after it;
 *   4  the end: {"exit_code": N} (JSON), always the last frame.
 * Shared by berthd (encoder) and the CLI (decoder); README "EXEC" has the
 * wire format. */
#ifndef BERTH_UTIL_FRAME_H
#define BERTH_UTIL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum {
  BERTH_FRAME_STDOUT = 1,
  BERTH_FRAME_STDERR = 2,
  BERTH_FRAME_ERROR = 3,
  BERTH_FRAME_EXIT = 4,
};

#define BERTH_FRAME_HEADER 8

void berth_frame_header(unsigned char out[BERTH_FRAME_HEADER], int stream, uint32_t len);

/* Payload of one frame, in pieces as it arrives; last is set on the
 * piece that ends the frame (an empty frame gives one empty last piece).
 * Return <0 to stop: the feed returns that value. */
typedef int (*berth_unframe_cb)(int stream, const char *buf, size_t len, int last, void *data);

typedef struct berth_unframe {
  unsigned char header[BERTH_FRAME_HEADER];
  size_t header_len;
  uint32_t remaining;
  int stream;
  berth_unframe_cb cb;
  void *data;
} berth_unframe;

void berth_unframe_init(berth_unframe *u, berth_unframe_cb cb, void *data);
/* Input in pieces of any size.  A header with a stream outside 1..4 or
 * non-zero padding is an error (BERTH_EINVAL). */
int berth_unframe_feed(berth_unframe *u, const char *buf, size_t len, berth_error *err);
/* True when the input so far ended on a frame boundary. */
int berth_unframe_at_boundary(const berth_unframe *u);

#endif
