/* The log index: for every chunk of task output berthd writes to a
 * sandbox's stdout or stderr, one record (time, stream, byte offset in
 * that stream's whole output, length), appended in write order to a file
 * berthd owns outside the sandbox: <work_dir>/logs/<id>.idx (0600).
 *
 * The sandbox files hold the bytes; the index says when each was written
 * and in which order the two streams were written, which `berth logs`
 * needs to interleave them, to answer --since and to print timestamps.
 *
 * Format: the 8-byte magic "BERTHLI1", then fixed 24-byte records in
 * host byte order (time_ns i64, offset u64, len u32, stream u8, 3 zero
 * bytes).  File order is write order; times never go backwards (a clock
 * step back is clamped to the last time).  A record torn by a crash is cut
 * off when the file is opened.
 *
 * Records are buffered in memory and appended in batches (when the buffer
 * fills, on a short timer, and before any read), never synced: a crash
 * loses at most the last batch's times, and recovery covers the bytes
 * written meanwhile with one record (berth_logindex_cover).
 *
 * Loop thread only. */
#ifndef BERTH_CONTAINERIZER_LOGINDEX_H
#define BERTH_CONTAINERIZER_LOGINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define BERTH_LOGINDEX_MAGIC "BERTHLI1"
#define BERTH_LOGINDEX_MAGIC_LEN 8
#define BERTH_LOGINDEX_REC_SIZE 24
/* Records buffered before a write: 4 KiB. */
#define BERTH_LOGINDEX_BUF 170

typedef struct berth_logrec {
  int64_t time_ns; /* wall clock, ns since the epoch */
  uint64_t offset; /* in the stream's whole output (rotated bytes included) */
  uint32_t len;
  uint8_t stream; /* 1 stdout, 2 stderr */
} berth_logrec;

typedef struct berth_logindex {
  int fd;           /* the index file (O_RDWR|O_APPEND), or -1 */
  uint64_t records; /* records in the file (not counting the buffer) */
  uint64_t kept;    /* records kept by the last compaction */
  int64_t last_ns;  /* the latest time recorded */
  uint64_t end[3];  /* per stream, the offset just past the last record */
  berth_logrec buf[BERTH_LOGINDEX_BUF];
  size_t n_buf;
} berth_logindex;

void berth_logindex_init(berth_logindex *ix);

/* "<id>.idx" in <work_dir>/logs, created (0700) when missing; returns the
 * directory fd.  id must be validated. */
int berth_logindex_dir(const char *work_dir, berth_error *err);

/* Opens (creating, 0600) name in dirfd, cuts a torn record, and reads
 * end[] and last_ns back from what is there. */
int berth_logindex_open(berth_logindex *ix, int dirfd, const char *name, berth_error *err);

/* Records a chunk written now (or at time_ns when > 0).  Flushes when the
 * buffer is full; returns <0 only when that flush fails. */
int berth_logindex_add(berth_logindex *ix, int stream, uint64_t offset, size_t len, int64_t time_ns, berth_error *err);

/* Appends the buffered records to the file. */
int berth_logindex_flush(berth_logindex *ix, berth_error *err);

/* Makes the index agree with the bytes written: records past written[s]
 * are dropped (rewriting the file), and bytes written past the last record
 * (a crash lost their batch) get one record at the last time recorded. */
int berth_logindex_cover(berth_logindex *ix, int dirfd, const char *name, const uint64_t written[3], berth_error *err);

/* Drops the records of bytes below low[s] (rotated away) and above hi[s]
 * (never written; NULL: none) by rewriting the file through name.tmp and a
 * rename. */
int berth_logindex_compact(berth_logindex *ix, int dirfd, const char *name, const uint64_t low[3], const uint64_t hi[3],
                           berth_error *err);

void berth_logindex_close(berth_logindex *ix);

/* Reads every record of an index file (fd at any position); *out is
 * caller-freed.  A torn last record is ignored; a bad magic is
 * BERTH_EINVAL. */
int berth_logindex_read(int fd, berth_logrec **out, size_t *n, berth_error *err);

/* Encoding of one record (exposed for tests). */
void berth_logrec_encode(const berth_logrec *r, unsigned char out[BERTH_LOGINDEX_REC_SIZE]);
void berth_logrec_decode(const unsigned char in[BERTH_LOGINDEX_REC_SIZE], berth_logrec *r);

#endif
