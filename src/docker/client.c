#include "docker/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/log.h"

/* Error bodies and plain answers are kept whole; Docker's largest plain
 * answers (container lists, inspects) are far below this. */
#define MAX_BUFFERED_BODY (64u * 1024u * 1024u)

struct berth_docker_req {
  berth_docker *docker;
  CURL *easy;
  struct curl_slist *headers;
  char *payload;
  char *buf;
  size_t len, cap;
  bool cancelled;
  bool aborted_by_chunk;
  bool too_big;
  berth_docker_chunk_cb chunk;
  berth_docker_done_cb done;
  void *data;
  void (*release)(void *data);
  void (*headers_cb)(void *data);
  bool headers_done;
  int (*flush)(void *data);      /* after a socket event that brought it body bytes */
  bool dirty;                    /* in docker->dirty: flush is due */
  berth_docker_req *next, *prev; /* in-flight list */
  berth_docker_req *dirty_next;
};

typedef struct socket_watch {
  uv_poll_t poll;
  curl_socket_t fd;
  berth_docker *docker;
} socket_watch;

struct berth_docker {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  uv_timer_t reaper; /* removes cancelled requests outside curl callbacks */
  char *socket_path;
  char version[16];
  berth_docker_req *inflight;
  berth_docker_req *dirty; /* requests whose flush is due (flush_dirty) */
  bool closing;
  int open_handles;
};

static void list_remove(berth_docker *docker, berth_docker_req *req) {
  if (req->prev)
    req->prev->next = req->next;
  else
    docker->inflight = req->next;
  if (req->next) req->next->prev = req->prev;
  req->next = req->prev = NULL;
}

static void req_free(berth_docker_req *req) {
  if (req->dirty) {
    berth_docker_req **p = &req->docker->dirty;
    while (*p && *p != req) p = &(*p)->dirty_next;
    if (*p) *p = req->dirty_next;
  }
  if (req->easy) {
    curl_multi_remove_handle(req->docker->multi, req->easy);
    curl_easy_cleanup(req->easy);
  }
  if (req->release) req->release(req->data);
  curl_slist_free_all(req->headers);
  free(req->payload);
  free(req->buf);
  free(req);
}

static void append(berth_docker_req *req, const char *p, size_t n) {
  if (req->len + n > MAX_BUFFERED_BODY) {
    req->too_big = true;
    return;
  }
  if (req->len + n + 1 > req->cap) {
    req->cap = (req->len + n + 1) * 2;
    req->buf = berth_realloc(req->buf, req->cap);
  }
  memcpy(req->buf + req->len, p, n);
  req->len += n;
  req->buf[req->len] = '\0';
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
  berth_docker_req *req = userdata;
  size_t n = size * nmemb;
  if (req->cancelled) return 0; /* aborts the transfer */
  long status = 0;
  curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
  if (req->chunk && status >= 200 && status < 300) {
    if (req->chunk(ptr, n, req->data) < 0) {
      req->aborted_by_chunk = true;
      return 0;
    }
    if (req->flush && !req->dirty) {
      req->dirty = true;
      req->dirty_next = req->docker->dirty;
      req->docker->dirty = req;
    }
    return n;
  }
  append(req, ptr, n);
  return n;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
  berth_docker_req *req = userdata;
  size_t n = size * nmemb;
  if (req->cancelled) return 0;
  bool blank = (n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n');
  if (blank && req->headers_cb && !req->headers_done) {
    long status = 0;
    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      req->headers_done = true;
      req->headers_cb(req->data);
    }
  }
  return n;
}

/* Whether a new socket would fail for want of fds (EMFILE: the process
 * limit; ENFILE: the system's); errno tells which. */
static bool out_of_fds(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    close(fd);
    return false;
  }
  return errno == EMFILE || errno == ENFILE;
}

static void finish(berth_docker_req *req, CURLcode result) {
  berth_docker *docker = req->docker;
  list_remove(docker, req);
  long status = 0;
  curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
  berth_error err = {0};
  const berth_error *errp = NULL;
  if (req->aborted_by_chunk) {
    berth_error_set(&err, BERTH_ECANCELED, "docker stream aborted by reader");
    errp = &err;
  } else if (result != CURLE_OK) {
    int code = (result == CURLE_COULDNT_CONNECT || result == CURLE_OPERATION_TIMEDOUT || result == CURLE_GOT_NOTHING ||
                result == CURLE_RECV_ERROR || result == CURLE_SEND_ERROR)
                   ? BERTH_EUNAVAIL
                   : BERTH_EDOCKER;
    if (result == CURLE_COULDNT_CONNECT && out_of_fds()) {
      /* curl says "couldn't connect" when socket() itself failed: that is
       * berthd's own limit, not dockerd being away. */
      berth_error_set(&err, BERTH_EIO, "docker at %s: berthd is out of file descriptors (%s)", docker->socket_path,
                      strerror(errno));
    } else {
      berth_error_set(&err, code, "docker at %s: %s", docker->socket_path, curl_easy_strerror(result));
    }
    errp = &err;
  } else if (req->too_big) {
    berth_error_set(&err, BERTH_EDOCKER, "docker answer larger than %u bytes", MAX_BUFFERED_BODY);
    errp = &err;
  }
  if (req->done) req->done((int)status, req->buf ? req->buf : "", req->len, errp, req->data);
  req_free(req);
}

static void check_multi_info(berth_docker *docker) {
  CURLMsg *msg;
  int pending;
  while ((msg = curl_multi_info_read(docker->multi, &pending))) {
    if (msg->msg != CURLMSG_DONE) continue;
    berth_docker_req *req = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
    CURLcode result = msg->data.result;
    if (req->cancelled) continue; /* the reaper frees it */
    finish(req, result);
  }
}

/* curl hands a read on in pieces of at most CURL_MAX_WRITE_SIZE (16 KiB);
 * a stream that gathers pieces (api.c) is told when curl is done with the
 * socket event, so nothing it gathered waits past it.  Before the done
 * callbacks: those see the last bytes written. */
static void finish(berth_docker_req *req, CURLcode result);

static void flush_dirty(berth_docker *docker) {
  while (docker->dirty) {
    berth_docker_req *req = docker->dirty;
    docker->dirty = req->dirty_next;
    req->dirty = false;
    req->dirty_next = NULL;
    if (req->cancelled || req->flush(req->data) >= 0) continue;
    /* The reader stopped, as a chunk callback may: the stream ends here. */
    req->aborted_by_chunk = true;
    finish(req, CURLE_WRITE_ERROR);
  }
}

static void poll_cb(uv_poll_t *handle, int status, int events) {
  socket_watch *w = handle->data;
  berth_docker *docker = w->docker;
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  int running;
  curl_multi_socket_action(docker->multi, w->fd, flags, &running);
  flush_dirty(docker);
  check_multi_info(docker);
}

static void handle_closed_cb(uv_handle_t *handle) {
  socket_watch *w = handle->data;
  w->docker->open_handles--;
  if (w->docker->closing && w->docker->open_handles == 0) {
    free(w->docker->socket_path);
    free(w->docker);
  }
  free(w);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  berth_docker *docker = userp;
  socket_watch *w = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (w) {
      uv_poll_stop(&w->poll);
      curl_multi_assign(docker->multi, fd, NULL);
      uv_close((uv_handle_t *)&w->poll, handle_closed_cb);
    }
    return 0;
  }
  if (!w) {
    w = berth_calloc(1, sizeof(*w));
    w->fd = fd;
    w->docker = docker;
    if (uv_poll_init_socket(docker->loop, &w->poll, fd) != 0) {
      free(w);
      return -1;
    }
    w->poll.data = w;
    docker->open_handles++;
    curl_multi_assign(docker->multi, fd, w);
  }
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  uv_poll_start(&w->poll, events, poll_cb);
  return 0;
}

static void timer_cb(uv_timer_t *timer) {
  berth_docker *docker = timer->data;
  int running;
  curl_multi_socket_action(docker->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  flush_dirty(docker);
  check_multi_info(docker);
}

static int timer_set_cb(CURLM *multi, long timeout_ms, void *userp) {
  berth_docker *docker = userp;
  if (timeout_ms < 0)
    uv_timer_stop(&docker->timer);
  else
    uv_timer_start(&docker->timer, timer_cb, (uint64_t)timeout_ms, 0);
  return 0;
}

static void reaper_cb(uv_timer_t *timer) {
  berth_docker *docker = timer->data;
  berth_docker_req *req = docker->inflight;
  while (req) {
    berth_docker_req *next = req->next;
    if (req->cancelled) {
      list_remove(docker, req);
      req_free(req);
    }
    req = next;
  }
}

berth_docker *berth_docker_new(uv_loop_t *loop, const char *socket_path) {
  static bool curl_ready;
  if (!curl_ready) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl_ready = true;
  }
  berth_docker *docker = berth_calloc(1, sizeof(*docker));
  docker->loop = loop;
  docker->socket_path = berth_strdup(socket_path);
  snprintf(docker->version, sizeof(docker->version), "%s", BERTH_DOCKER_API_MAX);
  docker->multi = curl_multi_init();
  curl_multi_setopt(docker->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(docker->multi, CURLMOPT_SOCKETDATA, docker);
  curl_multi_setopt(docker->multi, CURLMOPT_TIMERFUNCTION, timer_set_cb);
  curl_multi_setopt(docker->multi, CURLMOPT_TIMERDATA, docker);
  uv_timer_init(loop, &docker->timer);
  docker->timer.data = docker;
  uv_timer_init(loop, &docker->reaper);
  docker->reaper.data = docker;
  docker->open_handles = 2;
  return docker;
}

static void own_timer_closed_cb(uv_handle_t *handle) {
  berth_docker *docker = handle->data;
  docker->open_handles--;
  if (docker->open_handles == 0) {
    free(docker->socket_path);
    free(docker);
  }
}

void berth_docker_free(berth_docker *docker) {
  if (!docker) return;
  while (docker->inflight) {
    berth_docker_req *req = docker->inflight;
    list_remove(docker, req);
    req_free(req); /* removing the handle lets curl close its sockets */
  }
  curl_multi_cleanup(docker->multi);
  docker->closing = true;
  uv_close((uv_handle_t *)&docker->timer, own_timer_closed_cb);
  uv_close((uv_handle_t *)&docker->reaper, own_timer_closed_cb);
}

void berth_docker_set_version(berth_docker *docker, const char *version) {
  snprintf(docker->version, sizeof(docker->version), "%s", version);
}

const char *berth_docker_socket_path(const berth_docker *docker) { return docker->socket_path; }
const char *berth_docker_version(const berth_docker *docker) { return docker->version; }
uv_loop_t *berth_docker_loop(const berth_docker *docker) { return docker->loop; }

#define STREAM_BUFFER_BYTES (64L * 1024L)

berth_docker_req *berth_docker_request(berth_docker *docker, const char *method, const char *path, json_t *body,
                                       long timeout_ms, int unversioned, berth_docker_chunk_cb chunk,
                                       berth_docker_done_cb done, void *data) {
  return berth_docker_request_with_header(docker, method, path, body, timeout_ms, unversioned, NULL, chunk, done, data);
}

berth_docker_req *berth_docker_request_with_header(berth_docker *docker, const char *method, const char *path,
                                                   json_t *body, long timeout_ms, int unversioned, const char *header,
                                                   berth_docker_chunk_cb chunk, berth_docker_done_cb done, void *data) {
  berth_docker_req *req = berth_calloc(1, sizeof(*req));
  req->docker = docker;
  req->chunk = chunk;
  req->done = done;
  req->data = data;
  req->easy = curl_easy_init();
  cleanup_free char *url = unversioned ? berth_asprintf("http://docker%s", path)
                                       : berth_asprintf("http://docker/v%s%s", docker->version, path);
  CURL *e = req->easy;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, docker->socket_path);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
  curl_easy_setopt(e, CURLOPT_PRIVATE, req);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  if (timeout_ms > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  if (strcmp(method, "HEAD") == 0) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  /* Streams (attach, logs, pulls) read in larger pieces than curl's 16 KiB
   * default: a task writing fast then costs the loop a quarter of the
   * wake-ups and reads (perf: BENCHMARKS.md, figure 10).  Pages of the
   * buffer are touched only by a stream that carries that much. */
  if (chunk) curl_easy_setopt(e, CURLOPT_BUFFERSIZE, STREAM_BUFFER_BYTES);
  if (body) {
    /* Any JSON value, and never NULL (strlen below): a body that cannot
     * be encoded goes as an empty object, which docker then refuses. */
    req->payload = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!req->payload) req->payload = berth_strdup("{}");
    req->headers = curl_slist_append(req->headers, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->payload);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(req->payload));
  } else if (strcmp(method, "POST") == 0) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
  }
  /* Docker answers "Expect: 100-continue" fine, but waiting for it costs a
   * round trip on every create. */
  req->headers = curl_slist_append(req->headers, "Expect:");
  if (header) req->headers = curl_slist_append(req->headers, header);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);

  req->next = docker->inflight;
  if (docker->inflight) docker->inflight->prev = req;
  docker->inflight = req;
  curl_multi_add_handle(docker->multi, e);
  return req;
}

void berth_docker_req_set_release(berth_docker_req *req, void (*release)(void *data)) { req->release = release; }

void *berth_docker_req_data(const berth_docker_req *req) { return req->data; }

void berth_docker_req_set_headers_cb(berth_docker_req *req, void (*headers)(void *data)) { req->headers_cb = headers; }

void berth_docker_req_set_flush(berth_docker_req *req, int (*flush)(void *data)) { req->flush = flush; }

void berth_docker_cancel(berth_docker_req *req) {
  if (!req || req->cancelled) return;
  req->cancelled = true;
  /* curl forbids removing handles from inside its own callbacks, and the
   * caller may be in one; the reaper runs on the next loop turn. */
  uv_timer_start(&req->docker->reaper, reaper_cb, 0, 0);
}
