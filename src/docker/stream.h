/* Incremental parsers for Docker's streamed answers.  Both accept input in
 * pieces of any size (as the socket delivers it) and never hold more than
 * one frame header or one line. */
#ifndef BERTH_DOCKER_STREAM_H
#define BERTH_DOCKER_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Docker's multiplexed attach/logs framing (no TTY): an 8-byte header
 * {stream, 0, 0, 0, size32be} and then size bytes of payload. */
enum { BERTH_STREAM_STDIN = 0, BERTH_STREAM_STDOUT = 1, BERTH_STREAM_STDERR = 2, BERTH_STREAM_SYSERR = 3 };

/* Payload of one stream; a frame may arrive in several calls.  Return <0
 * to stop (the feed call then returns that value). */
typedef int (*berth_demux_cb)(int stream, const char *buf, size_t len, void *data);

typedef struct berth_demux {
  unsigned char header[8];
  size_t header_len;
  uint32_t remaining; /* payload bytes left in the current frame */
  int stream;
  berth_demux_cb cb;
  void *data;
} berth_demux;

void berth_demux_init(berth_demux *d, berth_demux_cb cb, void *data);
int berth_demux_feed(berth_demux *d, const char *buf, size_t len, berth_error *err);
/* True when the input so far ended on a frame boundary. */
int berth_demux_at_boundary(const berth_demux *d);

/* Newline-delimited JSON messages (pull progress, events). */
typedef int (*berth_lines_cb)(const char *line, size_t len, void *data);

typedef struct berth_lines {
  char *buf;
  size_t len, cap;
  size_t max_line;
  berth_lines_cb cb;
  void *data;
} berth_lines;

void berth_lines_init(berth_lines *l, size_t max_line, berth_lines_cb cb, void *data);
int berth_lines_feed(berth_lines *l, const char *buf, size_t len, berth_error *err);
/* Delivers a last line that had no newline. */
int berth_lines_finish(berth_lines *l, berth_error *err);
void berth_lines_free(berth_lines *l);

#endif
