#include "api/stream.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api/outq.h"
#include "util/alloc.h"
#include "util/log.h"

/* What MHD asks the reader for at most, per call. */
#define STREAM_BLOCK (16u * 1024u)

struct berth_http_stream {
  uv_async_t async; /* MHD is done with it: the loop thread hears it here */
  uv_mutex_t lock;
  /* Under lock. */
  berth_outq q;
  struct MHD_Connection *conn; /* NULL once MHD is done */
  int fd;                      /* the connection's socket; -1 once MHD is done */
  bool suspended;              /* the reader suspended the connection */
  bool mhd_done;               /* MHD freed the response: conn and fd are gone */
  bool ending;                 /* end once the queue is empty */
  bool aborting;               /* end now, connection closed */
  /* Loop thread only. */
  bool owner_gone, reported, released;
  berth_http_stream_closed_cb closed_cb;
  void *data;
  berth_stream_list *list;
  berth_http_stream *next, *prev;
};

/* Caller holds the lock. */
static void wake(berth_http_stream *s) {
  if (!s->suspended) return;
  s->suspended = false;
  MHD_resume_connection(s->conn);
}

/* Caller holds the lock.  The socket cannot have been closed (MHD frees
 * the response, which sets mhd_done under this lock, before it closes). */
static void abort_locked(berth_http_stream *s) {
  s->aborting = true;
  if (!s->mhd_done && s->fd >= 0) shutdown(s->fd, SHUT_RDWR);
  wake(s);
}

static void unlink_from_list(berth_http_stream *s) {
  if (!s->list) return;
  if (s->prev)
    s->prev->next = s->next;
  else
    s->list->head = s->next;
  if (s->next) s->next->prev = s->prev;
  s->next = s->prev = NULL;
  s->list = NULL;
}

static void freed_cb(uv_handle_t *handle) {
  berth_http_stream *s = handle->data;
  berth_outq_clear(&s->q);
  uv_mutex_destroy(&s->lock);
  free(s);
}

/* Loop thread, once the owner let go and MHD is done. */
static void release(berth_http_stream *s) {
  if (s->released) return;
  s->released = true;
  unlink_from_list(s);
  uv_close((uv_handle_t *)&s->async, freed_cb);
}

static bool mhd_done(berth_http_stream *s) {
  uv_mutex_lock(&s->lock);
  bool done = s->mhd_done;
  uv_mutex_unlock(&s->lock);
  return done;
}

static void async_cb(uv_async_t *handle) {
  berth_http_stream *s = handle->data;
  if (!mhd_done(s)) return;
  unlink_from_list(s); /* nothing left to poll or stop */
  if (!s->owner_gone) {
    if (!s->reported) {
      s->reported = true;
      s->closed_cb(s, s->data); /* the owner lets go in there, or later */
    }
    return;
  }
  release(s);
}

/* MHD's thread: the next bytes of the body. */
static ssize_t read_cb(void *cls, uint64_t pos, char *buf, size_t max) {
  berth_http_stream *s = cls;
  uv_mutex_lock(&s->lock);
  ssize_t n;
  if (s->aborting) {
    n = MHD_CONTENT_READER_END_WITH_ERROR;
  } else {
    n = (ssize_t)berth_outq_take(&s->q, buf, max);
    if (n == 0 && s->ending) {
      n = MHD_CONTENT_READER_END_OF_STREAM;
    } else if (n == 0) {
      /* Nothing to send: the connection sleeps until a write resumes it
       * (MHD documents suspending from the content reader). */
      s->suspended = true;
      MHD_suspend_connection(s->conn);
    }
  }
  uv_mutex_unlock(&s->lock);
  return n;
}

/* MHD's thread: the response is freed, before the socket is closed. */
static void response_freed_cb(void *cls) {
  berth_http_stream *s = cls;
  uv_mutex_lock(&s->lock);
  s->mhd_done = true;
  s->conn = NULL;
  s->fd = -1;
  s->suspended = false;
  berth_outq_clear(&s->q);
  /* Under the lock: the loop thread cannot free s (it must see mhd_done
   * first) while this runs. */
  uv_async_send(&s->async);
  uv_mutex_unlock(&s->lock);
}

berth_http_stream *berth_stream_new(uv_loop_t *loop, struct MHD_Connection *conn, const berth_http_stream_opts *opts,
                                    berth_stream_list *list) {
  berth_http_stream *s = berth_calloc(1, sizeof(*s));
  uv_mutex_init(&s->lock);
  uv_async_init(loop, &s->async, async_cb);
  s->async.data = s;
  berth_outq_init(&s->q, opts->queue_limit);
  s->conn = conn;
  s->closed_cb = opts->closed_cb;
  s->data = opts->data;
  const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  s->fd = info ? info->connect_fd : -1;
  /* A small send buffer: a reader that stops reading then fills the queue,
   * and is dropped, instead of the kernel holding hundreds of KiB for it. */
  if (s->fd >= 0 && opts->sndbuf > 0 && setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &opts->sndbuf, sizeof(opts->sndbuf)))
    log_warn("stream: SO_SNDBUF %d: %s", opts->sndbuf, strerror(errno));
  /* No idle timeout: a stream is quiet between events by design.  The
   * connection is suspended, so MHD allows this from here. */
  MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
  s->list = list;
  s->next = list->head;
  if (list->head) list->head->prev = s;
  list->head = s;
  return s;
}

struct MHD_Response *berth_stream_response(berth_http_stream *s, const char *content_type) {
  struct MHD_Response *r =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, read_cb, s, response_freed_cb);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
  return r;
}

int berth_http_stream_write(berth_http_stream *s, const char *buf, size_t len, bool exempt) {
  uv_mutex_lock(&s->lock);
  int rc = 0;
  if (s->mhd_done || s->aborting || s->ending)
    rc = BERTH_ECANCELED;
  else if (!berth_outq_push(&s->q, buf, len, exempt))
    rc = BERTH_ETOOBIG;
  else
    wake(s);
  uv_mutex_unlock(&s->lock);
  return rc;
}

void berth_http_stream_close(berth_http_stream *s, bool abort) {
  uv_mutex_lock(&s->lock);
  if (abort)
    abort_locked(s);
  else {
    s->ending = true;
    wake(s);
  }
  bool done = s->mhd_done;
  uv_mutex_unlock(&s->lock);
  s->owner_gone = true;
  if (done) release(s);
}

void berth_stream_list_poll(berth_stream_list *list) {
  for (berth_http_stream *s = list->head; s; s = s->next) {
    uv_mutex_lock(&s->lock);
    if (!s->mhd_done && !s->aborting && s->fd >= 0) {
      struct pollfd p = {.fd = s->fd, .events = POLLRDHUP};
      if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) abort_locked(s);
    }
    uv_mutex_unlock(&s->lock);
  }
}

void berth_stream_list_stop(berth_stream_list *list) {
  while (list->head) {
    berth_http_stream *s = list->head;
    uv_mutex_lock(&s->lock);
    s->ending = true;
    wake(s);
    uv_mutex_unlock(&s->lock);
    unlink_from_list(s);
  }
}
