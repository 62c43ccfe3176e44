#include "fetcher/fetcher.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fetcher/cache.h"
#include "fetcher/place.h"
#include "util/alloc.h"
#include "util/log.h"

typedef struct dl dl;
typedef struct item item;

struct item {
  berth_fetch *job;
  char *value, *name, *local_path;
  bool extract, executable, cache;
  berth_uri_kind kind;
  dl *dl;                   /* the download this item waits for */
  berth_cache_entry *entry; /* a ready cache entry it holds a reference on */
  char *src;                /* the file to place from, once known */
  bool src_temp;            /* src is this item's own download: removed after */
  bool hit;
  item *next_waiter;
};

struct berth_fetch {
  berth_fetcher *f;
  char *sandbox;
  item *items;
  size_t n, waiting;
  berth_fetch_done_cb cb;
  void *data;
  bool cancelled, placing;
  atomic_bool cancel_flag;
  int log_fd;
  uint64_t started_ms;
  int rc;
  berth_error err;
  berth_fetch_stats stats;
  uv_work_t work;
  berth_fetch *next, *prev;
};

struct dl {
  berth_fetcher *f;
  CURL *easy;
  int fd;
  char *path, *uri;
  uint64_t bytes;
  bool too_big;
  long http_status;
  item *waiters;
  berth_cache_entry *entry; /* the cache entry it fills, if cached */
  char errbuf[CURL_ERROR_SIZE];
  dl *next, *prev;
};

typedef struct socket_watch {
  uv_poll_t poll;
  curl_socket_t fd;
  berth_fetcher *f;
} socket_watch;

struct berth_fetcher {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  berth_fetcher_config config;
  char *cache_dir;
  berth_cache cache;
  dl *dls;
  berth_fetch *jobs;
  uint64_t next_tmp;
  int open_handles; /* timer and socket polls */
  size_t placing;   /* jobs on the thread pool */
  bool closing;
};

/* --- fetch log ---------------------------------------------------------------- */

static void job_log(berth_fetch *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_log(berth_fetch *job, const char *fmt, ...) {
  if (job->log_fd < 0) return;
  char line[2048];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
  va_end(ap);
  n += m < 0 ? 0 : ((size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2);
  line[n++] = '\n';
  /* The log is a courtesy to the task's owner; a failed write loses a
   * line and nothing else. */
  if (write(job->log_fd, line, n) < 0) log_debug("fetch.log in %s: %s", job->sandbox, strerror(errno));
}

/* --- curl multi on the loop ----------------------------------------------------- */

static void dl_finish(dl *d, CURLcode result);

static void check_multi_info(berth_fetcher *f) {
  CURLMsg *msg;
  int pending;
  while ((msg = curl_multi_info_read(f->multi, &pending))) {
    if (msg->msg != CURLMSG_DONE) continue;
    dl *d = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&d);
    dl_finish(d, msg->data.result);
  }
}

static void poll_cb(uv_poll_t *handle, int status, int events) {
  socket_watch *w = handle->data;
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  int running;
  curl_multi_socket_action(w->f->multi, w->fd, flags, &running);
  check_multi_info(w->f);
}

static void maybe_free_fetcher(berth_fetcher *f) {
  if (!f->closing || f->open_handles > 0 || f->placing > 0) return;
  free(f->cache_dir);
  free(f);
}

static void handle_closed_cb(uv_handle_t *handle) {
  berth_fetcher *f = handle->data;
  if (handle->type == UV_POLL) {
    socket_watch *w = handle->data;
    f = w->f;
    free(w);
  }
  f->open_handles--;
  maybe_free_fetcher(f);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  berth_fetcher *f = userp;
  socket_watch *w = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (w) {
      uv_poll_stop(&w->poll);
      curl_multi_assign(f->multi, fd, NULL);
      uv_close((uv_handle_t *)&w->poll, handle_closed_cb);
    }
    return 0;
  }
  if (!w) {
    w = berth_calloc(1, sizeof(*w));
    w->fd = fd;
    w->f = f;
    if (uv_poll_init_socket(f->loop, &w->poll, fd) != 0) {
      free(w);
      return -1;
    }
    w->poll.data = w;
    f->open_handles++;
    curl_multi_assign(f->multi, fd, w);
  }
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  uv_poll_start(&w->poll, events, poll_cb);
  return 0;
}

static void timer_cb(uv_timer_t *timer) {
  berth_fetcher *f = timer->data;
  int running;
  curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_multi_info(f);
}

static int timer_set_cb(CURLM *multi, long timeout_ms, void *userp) {
  berth_fetcher *f = userp;
  if (timeout_ms < 0)
    uv_timer_stop(&f->timer);
  else
    uv_timer_start(&f->timer, timer_cb, (uint64_t)timeout_ms, 0);
  return 0;
}

/* --- downloads -------------------------------------------------------------------- */

static size_t dl_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
  dl *d = userdata;
  size_t n = size * nmemb;
  curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &d->http_status);
  if (d->http_status < 200 || d->http_status >= 300) return 0; /* an error page is not the file */
  uint64_t max = d->f->config.max_size;
  if (max && d->bytes + n > max) {
    d->too_big = true;
    return 0;
  }
  size_t left = n;
  while (left > 0) {
    ssize_t w = write(d->fd, ptr + (n - left), left);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      snprintf(d->errbuf, sizeof(d->errbuf), "write '%s': %s", d->path, strerror(errno));
      return 0;
    }
    left -= (size_t)w;
  }
  d->bytes += n;
  return n;
}

/* Ends a download without telling anyone: its handle, file and entry go. */
static void dl_free(dl *d, bool keep_file) {
  berth_fetcher *f = d->f;
  if (d->prev)
    d->prev->next = d->next;
  else
    f->dls = d->next;
  if (d->next) d->next->prev = d->prev;
  if (d->easy) {
    curl_multi_remove_handle(f->multi, d->easy);
    curl_easy_cleanup(d->easy);
  }
  if (d->fd >= 0) close(d->fd);
  if (!keep_file) unlink(d->path); /* a partial file; a failed unlink leaves garbage only in our dir */
  if (d->entry && !d->entry->ready) berth_cache_drop(&f->cache, d->entry);
  free(d->path);
  free(d->uri);
  free(d);
}

static dl *dl_start(berth_fetcher *f, const char *uri, const char *path, berth_cache_entry *entry, berth_error *err) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    berth_error_errno(err, errno, "create '%s'", path);
    return NULL;
  }
  dl *d = berth_calloc(1, sizeof(*d));
  d->f = f;
  d->fd = fd;
  d->path = berth_strdup(path);
  d->uri = berth_strdup(uri);
  d->entry = entry;
  CURL *e = d->easy = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, uri);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, dl_write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, d);
  curl_easy_setopt(e, CURLOPT_PRIVATE, d);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, d->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "berth-fetcher");
  if (f->config.timeout_ns > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(f->config.timeout_ns / 1000000));
  if (f->config.stall_timeout_ns > 0) {
    /* Mesos's --fetcher_stall_timeout: under one byte a second for that long. */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    long secs = (long)(f->config.stall_timeout_ns / 1000000000);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, secs > 0 ? secs : 1L);
  }
  if (f->config.max_size) curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->config.max_size);
  d->next = f->dls;
  if (f->dls) f->dls->prev = d;
  f->dls = d;
  curl_multi_add_handle(f->multi, e);
  return d;
}

static void item_ready(item *it);
static void job_fail(berth_fetch *job, const berth_error *err);

static void dl_finish(dl *d, CURLcode result) {
  berth_fetcher *f = d->f;
  berth_error err = {0};
  /* A 404 with an empty body never reaches the write callback. */
  curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &d->http_status);
  if (d->too_big || result == CURLE_FILESIZE_EXCEEDED) {
    berth_error_set(&err, BERTH_EINVAL, "larger than --fetcher_max_size (%llu bytes)",
                    (unsigned long long)f->config.max_size);
  } else if (d->http_status >= 300 || (result == CURLE_OK && d->http_status != 0 && d->http_status < 200)) {
    berth_error_set(&err, BERTH_EIO, "HTTP %ld", d->http_status);
  } else if (result != CURLE_OK) {
    if (result == CURLE_OPERATION_TIMEDOUT)
      berth_error_set(&err, BERTH_EIO, "timed out (--fetcher_timeout or --fetcher_stall_timeout): %s",
                      d->errbuf[0] ? d->errbuf : curl_easy_strerror(result));
    else
      berth_error_set(&err, BERTH_EIO, "%s", d->errbuf[0] ? d->errbuf : curl_easy_strerror(result));
  }
  item *waiters = d->waiters;
  d->waiters = NULL;
  /* All first: failing one job detaches its other items, which may be
   * further down this same list. */
  for (item *it = waiters; it; it = it->next_waiter) it->dl = NULL;
  if (err.code < 0) {
    dl_free(d, false);
    for (item *it = waiters, *next; it; it = next) {
      next = it->next_waiter;
      berth_error e = err;
      berth_error_prefix(&e, "Failed to fetch '%s'", it->value);
      job_fail(it->job, &e);
    }
    return;
  }
  cleanup_free char *final = NULL;
  berth_cache_entry *entry = d->entry;
  uint64_t bytes = d->bytes;
  if (entry) {
    final = berth_asprintf("%s/c%llu", f->cache_dir, (unsigned long long)entry->id);
    if (rename(d->path, final) < 0) {
      berth_error_errno(&err, errno, "Failed to fetch '%s': keep in cache '%s'", d->uri, final);
      dl_free(d, false);
      for (item *it = waiters, *next; it; it = next) {
        next = it->next_waiter;
        it->dl = NULL;
        job_fail(it->job, &err);
      }
      return;
    }
    berth_cache_set_ready(&f->cache, entry, bytes);
    d->entry = NULL;
  } else {
    final = berth_strdup(d->path);
  }
  dl_free(d, true);
  for (item *it = waiters, *next; it; it = next) {
    next = it->next_waiter;
    it->src = berth_strdup(final);
    it->job->stats.downloaded += bytes;
    if (entry) {
      it->entry = entry;
      entry->refs++;
      berth_cache_touch(&f->cache, entry);
    } else {
      it->src_temp = true;
    }
    job_log(it->job, "downloaded '%s': %llu bytes", it->value, (unsigned long long)bytes);
    item_ready(it);
  }
}

/* The item stops waiting; a download nobody waits for any more ends. */
static void item_detach(item *it) {
  dl *d = it->dl;
  if (!d) return;
  it->dl = NULL;
  for (item **p = &d->waiters; *p; p = &(*p)->next_waiter)
    if (*p == it) {
      *p = it->next_waiter;
      break;
    }
  if (!d->waiters) dl_free(d, false);
}

static void evict(berth_fetcher *f) {
  berth_cache_entry *victim;
  while ((victim = berth_cache_victim(&f->cache))) {
    cleanup_free char *path = berth_asprintf("%s/c%llu", f->cache_dir, (unsigned long long)victim->id);
    log_info("fetcher cache: evicting '%s' (%llu bytes)", victim->uri, (unsigned long long)victim->size);
    if (unlink(path) < 0 && errno != ENOENT) log_warn("fetcher cache: remove '%s': %s", path, strerror(errno));
    berth_cache_drop(&f->cache, victim);
  }
}

/* --- fetches ---------------------------------------------------------------------- */

static bool path_under(const char *path, const char *prefix) {
  size_t n = strlen(prefix);
  while (n > 1 && prefix[n - 1] == '/') n--;
  if (n == 1 && prefix[0] == '/') return path[0] == '/';
  return !strncmp(path, prefix, n) && (path[n] == '\0' || path[n] == '/');
}

/* Without openat2 (kernels before 5.6, valgrind): the same refusal of
 * symlinks, one component at a time from "/" with O_NOFOLLOW. */
static int open_walking(const char *abs) {
  int cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  const char *p = abs;
  while (cur >= 0) {
    while (*p == '/') p++;
    size_t n = strcspn(p, "/");
    cleanup_free char *comp = berth_strndup(p, n);
    p += n;
    while (*p == '/') p++;
    bool last = *p == '\0';
    int next = openat(cur, comp, O_NOFOLLOW | O_CLOEXEC | (last ? O_RDONLY | O_NONBLOCK : O_PATH | O_DIRECTORY));
    int e = errno;
    close(cur);
    errno = e;
    if (last) return next;
    cur = next;
  }
  return -1;
}

/* A local URI is read as root, so it must lie under --allowed_host_paths
 * (as host volumes must) once resolved, and is then opened with no
 * symlink followed, so a link swapped in after the check fails. */
static int open_local(berth_fetcher *f, item *it, berth_error *err) {
  char real[PATH_MAX];
  if (!realpath(it->local_path, real)) return berth_error_errno(err, errno, "resolve '%s'", it->local_path);
  bool allowed = false;
  for (const char *const *p = f->config.allowed_host_paths; p && *p && !allowed; p++) {
    char real_prefix[PATH_MAX];
    allowed = path_under(real, realpath(*p, real_prefix) ? real_prefix : *p);
  }
  if (!allowed) return berth_error_set(err, BERTH_EINVAL, "'%s' is outside --allowed_host_paths", real);
  struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, .resolve = RESOLVE_NO_SYMLINKS};
  int fd = (int)syscall(SYS_openat2, AT_FDCWD, real, &how, sizeof(how));
  if (fd < 0 && errno == ENOSYS) fd = open_walking(real);
  if (fd < 0) return berth_error_errno(err, errno, "open '%s'", real);
  return fd;
}

static void place_work_cb(uv_work_t *work) {
  berth_fetch *job = work->data;
  if (job->rc < 0) return;
  cleanup_close int sandbox_fd = open(job->sandbox, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (sandbox_fd < 0) {
    job->rc = berth_error_errno(&job->err, errno, "Failed to fetch into '%s'", job->sandbox);
    return;
  }
  for (size_t i = 0; i < job->n; i++) {
    item *it = &job->items[i];
    berth_error err = {0};
    cleanup_close int fd =
        it->kind == BERTH_URI_LOCAL ? open_local(job->f, it, &err) : open(it->src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st = {0};
    int rc = 0;
    if (fd < 0 && it->kind != BERTH_URI_LOCAL)
      rc = berth_error_errno(&err, errno, "open '%s'", it->src);
    else if (fd < 0)
      rc = err.code;
    else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
      rc = berth_error_set(&err, BERTH_EINVAL, "not a regular file");
    if (rc == 0 && it->extract && !it->executable && berth_place_is_archive(it->name)) {
      uint64_t written = 0;
      rc = berth_place_extract(sandbox_fd, fd, job->f->config.max_size, &job->cancel_flag, &written, &err);
      if (rc == 0) job_log(job, "extracted '%s': %llu bytes", it->value, (unsigned long long)written);
    } else if (rc == 0) {
      rc = berth_place_copy(sandbox_fd, fd, it->name, it->executable, job->f->config.max_size, &job->cancel_flag, &err);
      if (rc == 0) job_log(job, "placed '%s' as '%s'%s", it->value, it->name, it->executable ? " (0755)" : "");
    }
    if (rc < 0) {
      job->rc = rc;
      berth_error_set(&job->err, rc, "Failed to fetch '%s': %s", it->value, err.msg);
      return;
    }
    job->stats.uris++;
    job->stats.bytes += (uint64_t)st.st_size;
  }
}

static void job_free(berth_fetch *job) {
  berth_fetcher *f = job->f;
  for (size_t i = 0; i < job->n; i++) {
    item *it = &job->items[i];
    item_detach(it);
    if (it->entry && !f->closing) it->entry->refs--; /* closing: the entries are gone */
    if (it->src_temp) unlink(it->src);               /* our own staging file; failing leaves it in our dir */
    free(it->value);
    free(it->name);
    free(it->local_path);
    free(it->src);
  }
  if (job->prev)
    job->prev->next = job->next;
  else
    f->jobs = job->next;
  if (job->next) job->next->prev = job->prev;
  if (job->log_fd >= 0) close(job->log_fd);
  free(job->items);
  free(job->sandbox);
  free(job);
  evict(f);
}

static void place_done_cb(uv_work_t *work, int status) {
  berth_fetch *job = work->data;
  berth_fetcher *f = job->f;
  f->placing--;
  if (!job->cancelled && !f->closing) {
    job->stats.ms = (double)(uv_now(f->loop) - job->started_ms);
    if (job->rc < 0)
      job_log(job, "%s", job->err.msg);
    else
      job_log(job, "fetched %zu URI(s) in %.0f ms", job->n, job->stats.ms);
    job->cb(job->rc, job->rc < 0 ? &job->err : NULL, &job->stats, job->data);
  }
  job_free(job);
  maybe_free_fetcher(f);
}

/* Copying and extracting block: the thread pool does them, and also
 * reports a failure, so the callback never runs inside the call that
 * started or failed the fetch. */
static void job_place(berth_fetch *job) {
  if (job->placing) return;
  job->placing = true;
  job->f->placing++;
  job->work.data = job;
  uv_queue_work(job->f->loop, &job->work, place_work_cb, place_done_cb);
}

static void job_fail(berth_fetch *job, const berth_error *err) {
  if (job->rc < 0 || job->placing) return;
  job->rc = err->code < 0 ? err->code : BERTH_EIO;
  job->err = *err;
  for (size_t i = 0; i < job->n; i++) item_detach(&job->items[i]);
  job_place(job);
}

static void item_ready(item *it) {
  berth_fetch *job = it->job;
  if (--job->waiting == 0 && job->rc == 0) job_place(job);
}

static int item_start(berth_fetch *job, item *it, berth_error *err) {
  berth_fetcher *f = job->f;
  if (it->kind == BERTH_URI_LOCAL) return 0;
  if (it->cache) {
    berth_cache_entry *entry = berth_cache_find(&f->cache, it->value);
    if (entry && entry->ready) {
      it->entry = entry;
      entry->refs++;
      berth_cache_touch(&f->cache, entry);
      it->src = berth_asprintf("%s/c%llu", f->cache_dir, (unsigned long long)entry->id);
      it->hit = true;
      job->stats.cache_hits++;
      job_log(job, "'%s' served from the cache", it->value);
      return 0;
    }
    if (entry) {
      it->dl = entry->pending;
      job_log(job, "'%s' joins a download already running", it->value);
    } else {
      entry = berth_cache_add(&f->cache, it->value);
      cleanup_free char *part = berth_asprintf("%s/c%llu.part", f->cache_dir, (unsigned long long)entry->id);
      it->dl = dl_start(f, it->value, part, entry, err);
      if (!it->dl) {
        berth_cache_drop(&f->cache, entry);
        return err->code;
      }
      entry->pending = it->dl;
      job_log(job, "downloading '%s' into the cache", it->value);
    }
  } else {
    cleanup_free char *part = berth_asprintf("%s/d%llu.part", f->cache_dir, (unsigned long long)++f->next_tmp);
    if (!(it->dl = dl_start(f, it->value, part, NULL, err))) return err->code;
    job_log(job, "downloading '%s'", it->value);
  }
  it->next_waiter = it->dl->waiters;
  it->dl->waiters = it;
  job->waiting++;
  return 0;
}

berth_fetch *berth_fetcher_start(berth_fetcher *f, const char *sandbox_dir, const berth_fetch_uri *uris, size_t n,
                                 berth_fetch_done_cb cb, void *data) {
  berth_fetch *job = berth_calloc(1, sizeof(*job));
  job->f = f;
  job->sandbox = berth_strdup(sandbox_dir);
  job->cb = cb;
  job->data = data;
  job->started_ms = uv_now(f->loop);
  atomic_init(&job->cancel_flag, false);
  job->items = berth_calloc(n ? n : 1, sizeof(item));
  job->n = n;
  job->next = f->jobs;
  if (f->jobs) f->jobs->prev = job;
  f->jobs = job;
  /* The sandbox was just made by berthd; fetch.log is still opened without
   * following a link and only as a regular file, as every sandbox name. */
  job->log_fd = -1;
  int dfd = open(sandbox_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd >= 0) {
    int fd = openat(dfd, "fetch.log", O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
      job->log_fd = fd;
    else if (fd >= 0)
      close(fd);
    close(dfd);
  }
  berth_error err = {0};
  for (size_t i = 0; i < n; i++) {
    item *it = &job->items[i];
    it->job = job;
    it->value = berth_strdup(uris[i].value);
    it->extract = uris[i].extract;
    it->executable = uris[i].executable;
    it->cache = uris[i].cache;
  }
  for (size_t i = 0; i < n; i++) {
    item *it = &job->items[i];
    cleanup_free char *from_uri = NULL;
    if (berth_fetch_uri_parse(it->value, &it->kind, &it->local_path, &from_uri, &err) < 0 ||
        berth_fetch_uri_check(&uris[i], &err) < 0 || item_start(job, it, &err) < 0) {
      berth_error_prefix(&err, "Failed to fetch '%s'", it->value);
      job_fail(job, &err);
      return job;
    }
    it->name = berth_strdup(uris[i].output_file ? uris[i].output_file : from_uri);
  }
  if (job->waiting == 0) job_place(job);
  return job;
}

void berth_fetch_cancel(berth_fetch *job) {
  if (!job) return;
  job->cancelled = true;
  atomic_store(&job->cancel_flag, true);
  if (job->placing) {
    /* place_done_cb frees it; downloads it waited for are already let go. */
    for (size_t i = 0; i < job->n; i++) item_detach(&job->items[i]);
    return;
  }
  job_free(job);
}

/* Removes the cache's own files (c<N>, c<N>.part, d<N>.part) and nothing
 * else, so a --fetcher_cache_dir shared with other files is safe. */
static void wipe_cache_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    const char *p = de->d_name;
    if (*p != 'c' && *p != 'd') continue;
    p++;
    if (!*p || strspn(p, "0123456789") == 0) continue;
    p += strspn(p, "0123456789");
    if (*p && strcmp(p, ".part")) continue;
    if (de->d_name[0] == 'd' && !*p) continue;
    if (unlinkat(dirfd(d), de->d_name, 0) < 0)
      log_warn("fetcher cache: remove '%s/%s': %s", dir, de->d_name, strerror(errno));
  }
  closedir(d);
}

int berth_fetcher_new(uv_loop_t *loop, const berth_fetcher_config *config, berth_fetcher **out, berth_error *err) {
  if (mkdir(config->cache_dir, 0700) < 0 && errno != EEXIST)
    return berth_error_errno(err, errno, "--fetcher_cache_dir: create '%s'", config->cache_dir);
  struct stat st;
  if (lstat(config->cache_dir, &st) < 0 || !S_ISDIR(st.st_mode))
    return berth_error_set(err, BERTH_EINVAL, "--fetcher_cache_dir: '%s' is not a directory", config->cache_dir);
  wipe_cache_dir(config->cache_dir);
  static bool curl_ready;
  if (!curl_ready) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl_ready = true;
  }
  berth_fetcher *f = berth_calloc(1, sizeof(*f));
  f->loop = loop;
  f->config = *config;
  f->cache_dir = berth_strdup(config->cache_dir);
  f->config.cache_dir = f->cache_dir;
  berth_cache_init(&f->cache, config->cache_size);
  f->multi = curl_multi_init();
  curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
  curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_set_cb);
  curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
  uv_timer_init(loop, &f->timer);
  f->timer.data = f;
  f->open_handles = 1;
  *out = f;
  return 0;
}

void berth_fetcher_free(berth_fetcher *f) {
  if (!f) return;
  f->closing = true;
  berth_fetch *job = f->jobs;
  while (job) {
    berth_fetch *next = job->next;
    berth_fetch_cancel(job);
    job = next;
  }
  while (f->dls) dl_free(f->dls, false);
  curl_multi_cleanup(f->multi);
  f->multi = NULL;
  berth_cache_clear(&f->cache);
  uv_close((uv_handle_t *)&f->timer, handle_closed_cb);
}
