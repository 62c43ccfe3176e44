/* An HTTP/1.1 response head read from a raw socket, for the two ends of an
 * upgraded (hijacked) connection that libcurl cannot relay: berthd reading
 * dockerd's answer to an exec start or attach, and the CLI reading
 * berthd's answer to EXEC.  Bytes arrive in pieces of any size; the head
 * is bounded, and everything after it is the stream's, left to the
 * caller.  The peer is not trusted: a head that is too long, a status line
 * that is not HTTP, or a control byte in a header is an error. */
#ifndef BERTH_UTIL_HTTPHEAD_H
#define BERTH_UTIL_HTTPHEAD_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

#define BERTH_HTTP_HEAD_MAX 8192

typedef struct berth_http_head {
  char buf[BERTH_HTTP_HEAD_MAX + 1];
  size_t len;
  bool done;
  int status;
  long long content_length; /* -1: none given */
} berth_http_head;

void berth_http_head_init(berth_http_head *h);

/* Consumes bytes up to the end of the head: *used says how many of buf
 * belong to it (the rest is body or stream).  Sets h->done once the blank
 * line is in and the status line parsed. */
int berth_http_head_feed(berth_http_head *h, const char *buf, size_t len, size_t *used, berth_error *err);

/* A header's value (case-insensitive name, surrounding blanks trimmed),
 * copied into out (cut to out_len - 1); false when absent. */
bool berth_http_head_get(const berth_http_head *h, const char *name, char *out, size_t out_len);

#endif
