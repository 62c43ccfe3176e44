/* RecordIO, the framing of Mesos's streaming calls (SUBSCRIBE, API.md §3):
 * each record is its length in bytes as a decimal number, a newline, then
 * exactly that many bytes (here, one JSON document).
 *
 * berthd frames records; the CLI reads them back with an incremental
 * reader that takes bytes as they arrive, in pieces of any size, and keeps
 * bounded memory: a record longer than its limit is an error, never a
 * buffer that grows. */
#ifndef BERTH_UTIL_RECORDIO_H
#define BERTH_UTIL_RECORDIO_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* Digits of the longest length we read: 20 holds any 64-bit number. */
#define BERTH_RECORDIO_MAX_DIGITS 20

/* "<len>\n<data>", a new buffer of *out_len bytes (caller frees; it is
 * also NUL-terminated). */
char *berth_recordio_frame(const char *data, size_t len, size_t *out_len);

/* A record, borrowed for the call; data is NUL-terminated.  Returning < 0
 * stops berth_recordio_feed, which returns that value. */
typedef int (*berth_recordio_cb)(const char *data, size_t len, void *arg);

typedef struct berth_recordio_reader {
  size_t max; /* longest record accepted */
  char digits[BERTH_RECORDIO_MAX_DIGITS + 1];
  size_t n_digits;
  bool in_record;
  size_t want; /* the current record's length */
  char *buf;   /* want + 1 bytes while in_record */
  size_t got;
} berth_recordio_reader;

void berth_recordio_reader_init(berth_recordio_reader *r, size_t max);
void berth_recordio_reader_clear(berth_recordio_reader *r);

/* Feeds len bytes; cb runs for each record completed by them.  A header
 * that is not digits and a newline, or a length over max, is BERTH_EIO
 * with err naming it (the stream cannot be read on past it). */
int berth_recordio_feed(berth_recordio_reader *r, const char *buf, size_t len, berth_recordio_cb cb, void *arg,
                        berth_error *err);

/* True when no record is partly read (a stream that ends here ended
 * between records). */
bool berth_recordio_idle(const berth_recordio_reader *r);

#endif
