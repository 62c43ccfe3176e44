/* The log index of each container (logindex.h) kept in step with its
 * output files, and the snapshots GET /logs reads (logs.h). */
#include "containerizer/logs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "containerizer/container.h"
#include "containerizer/sandbox.h"
#include "util/alloc.h"
#include "util/log.h"

/* Buffered records reach the file this long after the first of them at
 * the latest: a kill -9 loses at most this much of the times. */
#define INDEX_FLUSH_MS 200
/* A rotation rewrites the index once it holds this many records more than
 * twice what the last rewrite kept. */
#define INDEX_COMPACT_SLACK 1024

static const char *const stream_names[] = {NULL, "stdout", "stderr"};

static void index_name(const container *c, char *buf, size_t size) { snprintf(buf, size, "%s.idx", c->id); }

static void flush_cb(uv_timer_t *timer) {
  container *c = timer->data;
  berth_error err;
  if (berth_logindex_flush(&c->ix, &err) < 0) log_error("container %s: %s", c->id, err.msg);
}

void cz_logs_init(container *c) {
  berth_logindex_init(&c->ix);
  uv_timer_init(c->cz->loop, &c->ix_timer);
  c->ix_timer.data = c;
}

int cz_logs_open(container *c, berth_error *err) {
  cleanup_close int dfd = berth_logindex_dir(c->cz->config.work_dir, err);
  if (dfd < 0) return dfd;
  char name[BERTH_ID_MAX + 8];
  index_name(c, name, sizeof(name));
  if (berth_logindex_open(&c->ix, dfd, name, err) < 0) return err->code;
  /* Bytes written while berthd was down (their batch lost) get a record;
   * records past what the files hold (a new launch under an old id) go. */
  if (berth_logindex_cover(&c->ix, dfd, name, c->cap.written, err) < 0) return err->code;
  return 0;
}

void cz_logs_written(container *c, int stream, uint64_t offset, size_t len, bool rotated) {
  if (c->ix.fd < 0 || len == 0) return;
  berth_error err;
  if (berth_logindex_add(&c->ix, stream, offset, len, 0, &err) < 0) log_error("container %s: %s", c->id, err.msg);
  if (c->ix.n_buf && !uv_is_active((uv_handle_t *)&c->ix_timer))
    uv_timer_start(&c->ix_timer, flush_cb, INDEX_FLUSH_MS, 0);
  const berth_rotation_policy *p = &c->cz->config.log_rotation;
  if (!rotated || c->ix.records + c->ix.n_buf < 2 * c->ix.kept + INDEX_COMPACT_SLACK) return;
  /* Rotated files are max_size each (rotation.c cuts writes there), so
   * what is kept starts max_files files before the live one.  A file a
   * failed rotation let grow longer loses the times of its oldest bytes. */
  uint64_t keep = p->max_size * p->max_files, low[3] = {0, 0, 0};
  for (int s = 1; s <= 2; s++) low[s] = c->out[s].rotated > keep ? c->out[s].rotated - keep : 0;
  cleanup_close int dfd = berth_logindex_dir(c->cz->config.work_dir, &err);
  char name[BERTH_ID_MAX + 8];
  index_name(c, name, sizeof(name));
  if (dfd < 0 || berth_logindex_compact(&c->ix, dfd, name, low, NULL, &err) < 0)
    log_error("container %s: %s", c->id, err.msg);
}

void cz_logs_close(container *c) {
  uv_timer_stop(&c->ix_timer);
  berth_logindex_close(&c->ix);
}

int berth_logs_remove_index(const char *work_dir, const char *id, berth_error *err) {
  cleanup_close int wfd = berth_safefs_open_dir(work_dir, err);
  if (wfd < 0) return wfd;
  char name[BERTH_ID_MAX + 16];
  for (int tmp = 0; tmp <= 1; tmp++) {
    snprintf(name, sizeof(name), "logs/%s.idx%s", id, tmp ? ".tmp" : "");
    if (unlinkat(wfd, name, 0) < 0 && errno != ENOENT)
      return berth_error_errno(err, errno, "remove log index '%s'", name);
  }
  return 0;
}

/* ---- snapshots for reading ---- */

typedef struct segment {
  int fd;
  uint64_t start, end; /* bytes of the stream's whole output it holds */
} segment;

struct berth_logsource {
  berth_logrec *recs;
  size_t n;
  bool final;
  segment *segs[3]; /* newest first */
  size_t n_segs[3];
};

static void add_segment(berth_logsource *src, int stream, int fd, uint64_t start, uint64_t end) {
  src->segs[stream] = berth_realloc(src->segs[stream], (src->n_segs[stream] + 1) * sizeof(segment));
  src->segs[stream][src->n_segs[stream]++] = (segment){fd, start, end};
}

/* The live file, from berthd's own write fd when it is open (whatever the
 * task did to the name), else by name through safefs. */
static int open_live(container *c, int dfd, int stream, uint64_t *size) {
  int fd = -1;
  if (c->out[stream].fd >= 0) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", c->out[stream].fd);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  } else if (dfd >= 0) {
    berth_error err; /* a link, FIFO or missing file: no live bytes */
    fd = berth_safefs_open(dfd, stream_names[stream], O_RDONLY, &err);
  }
  struct stat st;
  if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
    close(fd);
    fd = -1;
  }
  if (fd < 0) return -1;
  *size = c->out[stream].fd >= 0 ? c->out[stream].size : (uint64_t)st.st_size;
  return fd;
}

static void open_stream(berth_logsource *src, container *c, int dfd, int stream) {
  uint64_t live = 0, rotated = c->out[stream].rotated;
  int fd = open_live(c, dfd, stream, &live);
  if (fd >= 0) add_segment(src, stream, fd, rotated, rotated + live);
  if (dfd < 0) return;
  unsigned max = c->cz->config.log_rotation.max_files;
  if (max == 0 && rotated > 0) max = 1;
  uint64_t end = rotated;
  for (unsigned i = 1; i <= max && end > 0; i++) {
    char name[32];
    snprintf(name, sizeof(name), "%s.%u", stream_names[stream], i);
    berth_error err; /* as for the live file: the older bytes are gone */
    fd = berth_safefs_open(dfd, name, O_RDONLY, &err);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
      close(fd);
      fd = -1;
    }
    if (fd < 0) break;
    uint64_t size = (uint64_t)st.st_size < end ? (uint64_t)st.st_size : end;
    add_segment(src, stream, fd, end - size, end);
    end -= size;
  }
}

/* A container whose capture never kept an index (it ran before there was
 * one): its files are shown stdout first, then stderr, at its start. */
static void synthesize(berth_logsource *src, const container *c) {
  src->recs = berth_calloc(2, sizeof(*src->recs));
  for (int s = 1; s <= 2; s++) {
    if (!src->n_segs[s]) continue;
    uint64_t lo = src->segs[s][src->n_segs[s] - 1].start, hi = src->segs[s][0].end;
    if (hi > lo && hi - lo <= UINT32_MAX)
      src->recs[src->n++] = (berth_logrec){(int64_t)(c->created_at * 1e9), lo, (uint32_t)(hi - lo), (uint8_t)s};
  }
}

int berth_cz_logs_open(berth_containerizer *cz, const char *id, berth_logsource **out, berth_error *err) {
  container *c = cz_lookup(cz, id, err);
  if (!c) return err->code;
  berth_logsource *src = berth_calloc(1, sizeof(*src));
  src->final = c->stage == BERTH_STAGE_TERMINATED;
  /* No sandbox (being removed) or no index directory: the files read as
   * missing bytes and the index as empty, never an error for the reader. */
  berth_error ignored;
  cleanup_close int dfd = berth_sandbox_open(cz->config.work_dir, c->id, &ignored);
  for (int s = 1; s <= 2; s++) open_stream(src, c, dfd, s);
  int ifd = -1;
  if (c->ix.fd >= 0) {
    if (berth_logindex_flush(&c->ix, err) < 0) log_error("container %s: %s", c->id, err->msg);
    ifd = dup(c->ix.fd);
  } else {
    cleanup_close int ldir = berth_logindex_dir(cz->config.work_dir, &ignored);
    char name[BERTH_ID_MAX + 8];
    index_name(c, name, sizeof(name));
    if (ldir >= 0) ifd = openat(ldir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (ifd >= 0) {
    int rc = berth_logindex_read(ifd, &src->recs, &src->n, err);
    close(ifd);
    if (rc < 0) {
      berth_logsource_free(src);
      return berth_error_prefix(err, "container %s", c->id);
    }
  } else {
    synthesize(src, c);
  }
  *out = src;
  return 0;
}

const berth_logrec *berth_logsource_records(const berth_logsource *src, size_t *n) {
  *n = src->n;
  return src->recs;
}

uint64_t berth_logsource_first(const berth_logsource *src, int stream) {
  if (stream < 1 || stream > 2 || src->n_segs[stream] == 0) return UINT64_MAX;
  return src->segs[stream][src->n_segs[stream] - 1].start;
}

bool berth_logsource_final(const berth_logsource *src) { return src->final; }

long berth_logsource_read(void *data, int stream, uint64_t offset, char *buf, size_t len) {
  berth_logsource *src = data;
  if (stream < 1 || stream > 2) return 0;
  for (size_t i = 0; i < src->n_segs[stream]; i++) {
    segment *g = &src->segs[stream][i];
    if (offset < g->start || offset >= g->end) continue;
    if (len > g->end - offset) len = (size_t)(g->end - offset);
    for (;;) {
      ssize_t r = pread(g->fd, buf, len, (off_t)(offset - g->start));
      if (r < 0 && errno == EINTR) continue;
      /* A file the task cut short reads as missing bytes, not an error. */
      return r < 0 ? 0 : (long)r;
    }
  }
  return 0;
}

void berth_logsource_free(berth_logsource *src) {
  if (!src) return;
  for (int s = 1; s <= 2; s++) {
    for (size_t i = 0; i < src->n_segs[s]; i++) close(src->segs[s][i].fd);
    free(src->segs[s]);
  }
  free(src->recs);
  free(src);
}
