#include "containerizer/logindex.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/safefs.h"

void berth_logrec_encode(const berth_logrec *r, unsigned char out[BERTH_LOGINDEX_REC_SIZE]) {
  memset(out, 0, BERTH_LOGINDEX_REC_SIZE);
  memcpy(out, &r->time_ns, 8);
  memcpy(out + 8, &r->offset, 8);
  memcpy(out + 16, &r->len, 4);
  out[20] = r->stream;
}

void berth_logrec_decode(const unsigned char in[BERTH_LOGINDEX_REC_SIZE], berth_logrec *r) {
  memcpy(&r->time_ns, in, 8);
  memcpy(&r->offset, in + 8, 8);
  memcpy(&r->len, in + 16, 4);
  r->stream = in[20];
}

void berth_logindex_init(berth_logindex *ix) {
  memset(ix, 0, sizeof(*ix));
  ix->fd = -1;
}

int berth_logindex_dir(const char *work_dir, berth_error *err) {
  cleanup_close int wfd = berth_safefs_open_dir(work_dir, err);
  if (wfd < 0) return wfd;
  int fd = berth_safefs_mkdirat(wfd, "logs", 0700, err);
  if (fd < 0) return berth_error_prefix(err, "log index directory");
  return fd;
}

static int write_all(int fd, const void *buf, size_t len, const char *name, berth_error *err) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return berth_error_errno(err, errno, "write log index '%s'", name);
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int berth_logindex_read(int fd, berth_logrec **out, size_t *n, berth_error *err) {
  *out = NULL;
  *n = 0;
  struct stat st;
  if (fstat(fd, &st) < 0) return berth_error_errno(err, errno, "stat log index");
  if (!S_ISREG(st.st_mode)) return berth_error_set(err, BERTH_EIO, "log index is not a regular file");
  size_t size = (size_t)st.st_size;
  if (size == 0) return 0;
  cleanup_free unsigned char *raw = berth_malloc(size);
  size_t got = 0;
  while (got < size) {
    ssize_t r = pread(fd, raw + got, size - got, (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return berth_error_errno(err, errno, "read log index");
    if (r == 0) break;
    got += (size_t)r;
  }
  if (got < BERTH_LOGINDEX_MAGIC_LEN || memcmp(raw, BERTH_LOGINDEX_MAGIC, BERTH_LOGINDEX_MAGIC_LEN) != 0)
    return berth_error_set(err, BERTH_EINVAL, "log index: bad magic");
  size_t count = (got - BERTH_LOGINDEX_MAGIC_LEN) / BERTH_LOGINDEX_REC_SIZE;
  berth_logrec *recs = berth_calloc(count ? count : 1, sizeof(*recs));
  for (size_t i = 0; i < count; i++)
    berth_logrec_decode(raw + BERTH_LOGINDEX_MAGIC_LEN + i * BERTH_LOGINDEX_REC_SIZE, &recs[i]);
  *out = recs;
  *n = count;
  return 0;
}

static void learn(berth_logindex *ix, const berth_logrec *recs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const berth_logrec *r = &recs[i];
    if (r->stream < 1 || r->stream > 2) continue;
    if (r->offset + r->len > ix->end[r->stream]) ix->end[r->stream] = r->offset + r->len;
    if (r->time_ns > ix->last_ns) ix->last_ns = r->time_ns;
  }
}

int berth_logindex_open(berth_logindex *ix, int dirfd, const char *name, berth_error *err) {
  berth_logindex_close(ix);
  berth_logindex_init(ix);
  /* The directory is berthd's own (0700): no task reaches it, but a link
   * is still refused. */
  cleanup_close int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return berth_error_errno(err, errno, "open log index '%s'", name);
  struct stat st;
  if (fstat(fd, &st) < 0) return berth_error_errno(err, errno, "stat log index '%s'", name);
  if (!S_ISREG(st.st_mode)) return berth_error_set(err, BERTH_EIO, "log index '%s' is not a regular file", name);
  berth_logrec *recs = NULL;
  size_t n = 0;
  if (st.st_size > 0 && berth_logindex_read(fd, &recs, &n, err) < 0) {
    if (err->code != BERTH_EINVAL) return err->code;
    /* Not ours to make sense of (or the magic was torn): start anew. */
    if (ftruncate(fd, 0) < 0) return berth_error_errno(err, errno, "truncate log index '%s'", name);
    st.st_size = 0;
  }
  if (st.st_size == 0) {
    if (write_all(fd, BERTH_LOGINDEX_MAGIC, BERTH_LOGINDEX_MAGIC_LEN, name, err) < 0) return err->code;
  } else {
    off_t whole = (off_t)(BERTH_LOGINDEX_MAGIC_LEN + n * BERTH_LOGINDEX_REC_SIZE);
    /* A crash tore the last record: appends must stay aligned. */
    if (st.st_size != whole && ftruncate(fd, whole) < 0) {
      free(recs);
      return berth_error_errno(err, errno, "truncate log index '%s'", name);
    }
  }
  learn(ix, recs, n);
  free(recs);
  ix->records = n;
  ix->kept = n;
  ix->fd = fd;
  fd = -1;
  return 0;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int berth_logindex_flush(berth_logindex *ix, berth_error *err) {
  if (ix->n_buf == 0 || ix->fd < 0) {
    ix->n_buf = 0;
    return 0;
  }
  unsigned char raw[BERTH_LOGINDEX_BUF * BERTH_LOGINDEX_REC_SIZE];
  for (size_t i = 0; i < ix->n_buf; i++) berth_logrec_encode(&ix->buf[i], raw + i * BERTH_LOGINDEX_REC_SIZE);
  size_t n = ix->n_buf;
  ix->n_buf = 0;
  if (write_all(ix->fd, raw, n * BERTH_LOGINDEX_REC_SIZE, "index", err) < 0) return err->code;
  ix->records += n;
  return 0;
}

int berth_logindex_add(berth_logindex *ix, int stream, uint64_t offset, size_t len, int64_t time_ns, berth_error *err) {
  if (len == 0 || stream < 1 || stream > 2) return 0;
  if (time_ns <= 0) time_ns = now_ns();
  if (time_ns < ix->last_ns) time_ns = ix->last_ns; /* the clock stepped back */
  ix->last_ns = time_ns;
  while (len > 0) {
    uint32_t piece = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    berth_logrec *prev = ix->n_buf ? &ix->buf[ix->n_buf - 1] : NULL;
    /* Two writes in the same nanosecond read as one. */
    if (prev && prev->stream == stream && prev->time_ns == time_ns && prev->offset + prev->len == offset &&
        (uint64_t)prev->len + piece <= UINT32_MAX) {
      prev->len += piece;
    } else {
      if (ix->n_buf == BERTH_LOGINDEX_BUF && berth_logindex_flush(ix, err) < 0) return err->code;
      ix->buf[ix->n_buf++] = (berth_logrec){time_ns, offset, piece, (uint8_t)stream};
    }
    offset += piece;
    len -= piece;
  }
  if (offset > ix->end[stream]) ix->end[stream] = offset;
  return 0;
}

static int rewrite(berth_logindex *ix, int dirfd, const char *name, const uint64_t low[3], const uint64_t hi[3],
                   berth_error *err) {
  if (berth_logindex_flush(ix, err) < 0) return err->code;
  berth_logrec *recs = NULL;
  size_t n = 0;
  if (berth_logindex_read(ix->fd, &recs, &n, err) < 0) return err->code;
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    berth_logrec r = recs[i];
    if (r.stream < 1 || r.stream > 2) continue;
    uint64_t lo = low ? low[r.stream] : 0, end = r.offset + r.len;
    if (end <= lo) continue;
    if (hi) {
      if (r.offset >= hi[r.stream]) continue;
      if (end > hi[r.stream]) r.len = (uint32_t)(hi[r.stream] - r.offset);
    }
    recs[kept++] = r;
  }
  char tmp[300];
  snprintf(tmp, sizeof(tmp), "%s.tmp", name);
  unlinkat(dirfd, tmp, 0); /* a leftover of a crash; missing is fine */
  cleanup_close int fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    free(recs);
    return berth_error_errno(err, errno, "create log index '%s'", tmp);
  }
  size_t size = BERTH_LOGINDEX_MAGIC_LEN + kept * BERTH_LOGINDEX_REC_SIZE;
  cleanup_free unsigned char *raw = berth_malloc(size);
  memcpy(raw, BERTH_LOGINDEX_MAGIC, BERTH_LOGINDEX_MAGIC_LEN);
  for (size_t i = 0; i < kept; i++)
    berth_logrec_encode(&recs[i], raw + BERTH_LOGINDEX_MAGIC_LEN + i * BERTH_LOGINDEX_REC_SIZE);
  int rc = write_all(fd, raw, size, tmp, err);
  if (rc == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
    rc = berth_error_errno(err, errno, "rename log index '%s'", tmp);
  if (rc < 0) {
    unlinkat(dirfd, tmp, 0); /* best effort; the old index stays in use */
    free(recs);
    return rc;
  }
  int64_t last = ix->last_ns;
  memset(ix->end, 0, sizeof(ix->end));
  learn(ix, recs, kept);
  if (last > ix->last_ns) ix->last_ns = last;
  free(recs);
  close(ix->fd);
  ix->fd = fd;
  fd = -1;
  ix->records = ix->kept = kept;
  return 0;
}

int berth_logindex_compact(berth_logindex *ix, int dirfd, const char *name, const uint64_t low[3], const uint64_t hi[3],
                           berth_error *err) {
  if (ix->fd < 0) return 0;
  return rewrite(ix, dirfd, name, low, hi, err);
}

int berth_logindex_cover(berth_logindex *ix, int dirfd, const char *name, const uint64_t written[3], berth_error *err) {
  if (ix->fd < 0) return 0;
  if ((ix->end[1] > written[1] || ix->end[2] > written[2]) && rewrite(ix, dirfd, name, NULL, written, err) < 0)
    return err->code;
  int64_t t = ix->last_ns > 0 ? ix->last_ns : now_ns();
  for (int s = 1; s <= 2; s++)
    if (written[s] > ix->end[s] && berth_logindex_add(ix, s, ix->end[s], written[s] - ix->end[s], t, err) < 0)
      return err->code;
  return berth_logindex_flush(ix, err);
}

void berth_logindex_close(berth_logindex *ix) {
  if (ix->fd >= 0) {
    berth_error err;
    /* Closing is the end of capture: a failed last write only loses times. */
    if (berth_logindex_flush(ix, &err) < 0) berth_error_clear(&err);
    close(ix->fd);
  }
  ix->fd = -1;
  ix->n_buf = 0;
}
