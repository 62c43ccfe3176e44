/* Lines out of the log index (logindex.h) and the bytes it points at:
 * both streams merged in the order they were written, as docker shows
 * them.  Pure logic over a read callback, so the sandbox files (hostile,
 * rotated) stay the caller's concern.
 *
 * A line is the bytes up to and including a '\n' in one stream; it takes
 * the time of the record holding its first byte, and lines are given in
 * the order of those records (a line that is still being written holds
 * back the other stream's lines written after it began).  A line whose
 * start was not seen (the scan began in its middle, or its head was
 * rotated away) is marked cont.  At the end, an unfinished line is given
 * only when `final` (the container is over); otherwise it and what comes
 * after it wait for the next read.
 *
 * Bounded memory: the bytes are read in pieces and never kept; lines held
 * back behind an unfinished one are kept as positions, at most
 * BERTH_LOGMERGE_HOLD of them (past that the unfinished line is given as
 * it is, as docker splits a long line), and a line longer than
 * BERTH_LOGMERGE_MAX_LINE is given in pieces of that size, so a scan that
 * gives nothing never reads more than that much past what it gave. */
#ifndef BERTH_CONTAINERIZER_LOGMERGE_H
#define BERTH_CONTAINERIZER_LOGMERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "containerizer/logindex.h"

#define BERTH_LOGMERGE_HOLD 65536
#define BERTH_LOGMERGE_MAX_LINE (1u << 20)

typedef struct berth_logline {
  int stream;
  int64_t time_ns;
  uint64_t start, end; /* byte range in the stream's whole output */
  bool cont;           /* its start was not seen */
  bool complete;       /* it ends with '\n' */
} berth_logline;

/* Reads up to len bytes of stream at offset into buf; returns how many
 * are there (0: none, e.g. rotated away), <0 on an error. */
typedef long (*berth_logmerge_read_fn)(void *data, int stream, uint64_t offset, char *buf, size_t len);
/* One line, in order; return non-zero to stop the scan. */
typedef int (*berth_logmerge_line_fn)(void *data, const berth_logline *line);

typedef struct berth_logmerge_opts {
  unsigned streams; /* bit 1: stdout, bit 2: stderr */
  bool final;       /* give an unfinished last line */
  /* Per stream, the first byte still held (those before were rotated
   * away); 0 when all are. */
  uint64_t first[3];
} berth_logmerge_opts;

/* Scans recs[from..n) and calls line_fn for each line.  Returns 0, 1 when
 * line_fn stopped it, <0 when read_fn failed. */
int berth_logmerge_scan(const berth_logrec *recs, size_t n, size_t from, const berth_logmerge_opts *opts,
                        berth_logmerge_read_fn read_fn, berth_logmerge_line_fn line_fn, void *data);

/* The first record at which a scan must begin to see every byte of the
 * selected streams at or past cursor[s]; n when there is none. */
size_t berth_logmerge_position(const berth_logrec *recs, size_t n, unsigned streams, const uint64_t cursor[3]);

/* The first record written at or after since_ns (times never decrease). */
size_t berth_logmerge_since(const berth_logrec *recs, size_t n, int64_t since_ns);

#endif
