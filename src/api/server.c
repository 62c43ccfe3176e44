#include "api/server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/guard.h"
#include "api/stream.h"
#include "containerizer/sandbox.h"
#include "util/alloc.h"
#include "util/log.h"

/* A client that sends nothing for this long is dropped.  MHD restarts it
 * on every byte; the guard's deadlines are the absolute ones. */
#define CONNECTION_TIMEOUT_SECS 30
/* Per listener.  Each takes one fd; berthd raises its fd limit at start. */
#define CONNECTION_LIMIT 2048
/* What MHD may allocate per connection for the request line and headers. */
#define CONNECTION_MEMORY (32u * 1024u)
/* Request bodies buffered at once, all listeners together; a body counts
 * its declared length from its headers on.  Past it: 503, nothing read. */
#define BUFFERED_BODIES_MAX (64u * 1024u * 1024u)
/* How often unanswered requests are checked for clients that left, and
 * connections for their deadlines. */
#define HANGUP_CHECK_MS 1000

typedef struct listener {
  berth_http_server *server;
  struct MHD_Daemon *mhd;
  berth_guard *guard;
  char *token;     /* NULL: no auth (unix socket) */
  char *unix_path; /* unlinked on close */
  struct listener *next;
} listener;

/* MHD parses HTTP on its own thread; requests cross to the loop thread
 * through this queue and an async handle, and answers cross back through
 * MHD_resume_connection (which MHD makes safe from any thread).  All
 * container state stays on the loop thread. */
struct berth_http_server {
  uv_loop_t *loop;
  berth_http_handler handler;
  void *data;
  listener *listeners;
  uv_async_t async;
  uv_mutex_t lock;
  berth_http_request *queue_head, *queue_tail; /* guarded by lock */
  berth_http_request *pending;                 /* loop thread only */
  size_t n_pending;
  uv_timer_t hangup_timer;
  berth_http_abandon_cb abandon;
  berth_http_respond_cb on_respond;
  int open_handles;
  berth_stream_list streams;          /* open event streams, loop thread only */
  bool stopping;                      /* guarded by lock: no request is suspended any more */
  berth_http_upgraded *upgraded_head; /* guarded by lock: handed over by MHD, not yet to the loop */
  berth_http_upgraded *live;          /* loop thread only: upgraded connections in use */
  size_t buffered;                    /* bytes reserved for bodies; atomic (one MHD thread per listener) */
};

struct berth_http_request {
  listener *l;
  struct MHD_Connection *conn;
  berth_guard_conn *gc; /* the connection's, MHD thread only */
  /* Filled on MHD's thread before dispatch, then read-only. */
  char *method;
  char *path;
  char *body;
  size_t len;
  json_t *query;
  char *upgrade_header; /* the Upgrade header when Connection asks for one */
  size_t cap;           /* body's allocated size, without its NUL */
  size_t reserved;      /* of server->buffered */
  /* Refused from its headers on: the body is read and dropped, then this
   * answer goes (with the connection closed). */
  int refuse_status;
  const char *refuse_msg;
  bool dispatched;
  bool abandonable; /* loop thread only */
  const char *tag;  /* loop thread only; see berth_http_set_tag */
  /* An upgrade answer not yet sent (MHD thread once the answer is set). */
  berth_http_upgraded *upgrade;
  /* Set by the loop thread under the lock; taken by MHD's thread. */
  int status;
  struct MHD_Response *response;
  berth_http_request *queue_next;
  berth_http_request *pending_next, *pending_prev; /* loop thread only */
};

/* One upgraded connection (api/server.h).  MHD's thread fills it and
 * hands it to the loop thread once; from then it is the loop's. */
struct berth_http_upgraded {
  berth_http_server *server;
  struct MHD_UpgradeResponseHandle *urh; /* NULL: the upgrade never happened */
  int fd;                                /* the owner's dup of the socket; -1 when none */
  char *extra;
  size_t extra_len;
  berth_http_upgrade_cb ready;
  berth_http_upgrade_stop_cb stop;
  void *data;
  bool delivered; /* loop thread: ready was called */
  berth_http_upgraded *next, *prev;
};

const char *berth_http_method(const berth_http_request *req) { return req->method; }
const char *berth_http_path(const berth_http_request *req) { return req->path; }
const char *berth_http_body(const berth_http_request *req, size_t *len) {
  *len = req->len;
  return req->body ? req->body : "";
}
const char *berth_http_upgrade_requested(const berth_http_request *req) { return req->upgrade_header; }
const char *berth_http_query(const berth_http_request *req, const char *key) {
  return json_string_value(json_object_get(req->query, key));
}

static void pending_remove(berth_http_server *s, berth_http_request *req) {
  if (!req->pending_prev && s->pending != req) return; /* not pending */
  s->n_pending--;
  if (req->pending_prev)
    req->pending_prev->pending_next = req->pending_next;
  else if (s->pending == req)
    s->pending = req->pending_next;
  if (req->pending_next) req->pending_next->pending_prev = req->pending_prev;
  req->pending_next = req->pending_prev = NULL;
}

/* Takes response: it answers req, unless req was answered already. */
static void give_response(berth_http_request *req, int status, struct MHD_Response *response) {
  berth_http_server *s = req->l->server;
  pending_remove(s, req);
  uv_mutex_lock(&s->lock);
  bool first = req->response == NULL;
  if (first) {
    req->response = response;
    req->status = status;
  }
  uv_mutex_unlock(&s->lock);
  if (!first) {
    MHD_destroy_response(response); /* answered already: a bug upstream */
    return;
  }
  if (s->on_respond) s->on_respond(req, status, s->data);
  /* req may be freed by MHD's thread from here on. */
  MHD_resume_connection(req->conn);
}

void berth_http_respond(berth_http_request *req, int status, const char *content_type, const char *body, size_t len) {
  struct MHD_Response *response = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  give_response(req, status, response);
}

berth_http_stream *berth_http_respond_stream(berth_http_request *req, const berth_http_stream_opts *opts) {
  berth_http_server *s = req->l->server;
  /* The connection is still suspended (unanswered): its socket is set up
   * before MHD sees it again. */
  berth_http_stream *stream = berth_stream_new(s->loop, req->conn, opts, &s->streams);
  give_response(req, 200, berth_stream_response(stream, opts->content_type));
  return stream;
}

void berth_http_respond_json(berth_http_request *req, int status, json_t *j) {
  cleanup_free char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
  json_decref(j);
  berth_http_respond(req, status, "application/json", text, strlen(text));
}

void berth_http_respond_error(berth_http_request *req, int status, const char *message) {
  cleanup_free char *line = berth_asprintf("%s\n", message);
  /* One line, as promised: newlines inside a docker message are folded. */
  for (char *p = line; p[0] && p[1]; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
  berth_http_respond(req, status, "text/plain; charset=utf-8", line, strlen(line));
}

/* Constant-time, so response timing says nothing about the token.  The
 * token holds no NUL (refused at start), so strlen is its whole length. */
static bool token_matches(const char *given, const char *token) {
  size_t glen = strlen(given), tlen = strlen(token);
  unsigned char diff = (unsigned char)(glen != tlen);
  for (size_t i = 0; i < tlen; i++) diff |= (unsigned char)(token[i] ^ given[i < glen ? i : 0]);
  return diff == 0 && glen > 0;
}

static enum MHD_Result collect_arg_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  if (key && value) json_object_set_new(cls, key, json_string(value));
  return MHD_YES;
}

typedef struct length_headers {
  const char *first;
  bool differ;
  bool chunked;
} length_headers;

static enum MHD_Result length_header_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  length_headers *h = cls;
  if (!key) return MHD_YES;
  if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) h->chunked = true;
  if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0) return MHD_YES;
  if (!h->first)
    h->first = value ? value : "";
  else if (strcmp(h->first, value ? value : "") != 0)
    h->differ = true;
  return MHD_YES;
}

/* Loop thread: an upgraded connection to its owner. */
static void deliver_upgraded(berth_http_server *s, berth_http_upgraded *u) {
  if (!u->urh || u->fd < 0) {
    /* The client left before the 101 went out, or its socket could not
     * be duplicated (out of fds): the owner hears of no connection. */
    u->ready(NULL, -1, NULL, 0, u->data);
    if (u->urh) MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
    free(u->extra);
    free(u);
    return;
  }
  u->prev = NULL;
  u->next = s->live;
  if (s->live) s->live->prev = u;
  s->live = u;
  u->delivered = true;
  int fd = u->fd;
  u->fd = -1;
  u->ready(u, fd, u->extra, u->extra_len, u->data);
}

/* Loop thread: hand queued requests to the handler, and upgraded
 * connections to their owners. */
static void async_cb(uv_async_t *handle) {
  berth_http_server *s = handle->data;
  uv_mutex_lock(&s->lock);
  berth_http_request *req = s->queue_head;
  s->queue_head = s->queue_tail = NULL;
  berth_http_upgraded *up = s->upgraded_head;
  s->upgraded_head = NULL;
  uv_mutex_unlock(&s->lock);
  /* Oldest first: they were pushed on the front. */
  berth_http_upgraded *rev = NULL;
  while (up) {
    berth_http_upgraded *next = up->next;
    up->next = rev;
    rev = up;
    up = next;
  }
  while (rev) {
    berth_http_upgraded *next = rev->next;
    deliver_upgraded(s, rev);
    rev = next;
  }
  while (req) {
    berth_http_request *next = req->queue_next;
    req->pending_next = s->pending;
    if (s->pending) s->pending->pending_prev = req;
    s->pending = req;
    s->n_pending++;
    s->handler(req, s->data);
    req = next;
  }
}

/* One poll(2) over every unanswered request's socket: a peer that hung up
 * shows POLLRDHUP/POLLHUP while its request waits (it sent everything). */
static void hangup_check_cb(uv_timer_t *timer) {
  berth_http_server *s = timer->data;
  for (listener *l = s->listeners; l; l = l->next) berth_guard_sweep(l->guard);
  berth_stream_list_poll(&s->streams);
  size_t n = s->n_pending, i = 0;
  if (n == 0 || !s->abandon) return;
  struct pollfd *fds = berth_calloc(n, sizeof(*fds));
  berth_http_request **reqs = berth_calloc(n, sizeof(*reqs));
  for (berth_http_request *r = s->pending; r && i < n; r = r->pending_next) {
    if (!r->abandonable) continue;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!info) continue;
    fds[i] = (struct pollfd){.fd = info->connect_fd, .events = POLLRDHUP};
    reqs[i++] = r;
  }
  if (poll(fds, i, 0) > 0) {
    for (size_t k = 0; k < i; k++) {
      if (!(fds[k].revents & (POLLRDHUP | POLLHUP | POLLERR))) continue;
      /* The owner lets go first; from here the server alone holds it. */
      s->abandon(reqs[k], s->data);
      reqs[k]->abandonable = false;
      berth_http_respond_error(reqs[k], 499, "client went away");
    }
  }
  free(fds);
  free(reqs);
}

static bool reserve(berth_http_server *s, size_t n) {
  size_t cur = __atomic_load_n(&s->buffered, __ATOMIC_RELAXED);
  do {
    if (n > BUFFERED_BODIES_MAX || cur > BUFFERED_BODIES_MAX - n) return false;
  } while (!__atomic_compare_exchange_n(&s->buffered, &cur, cur + n, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  return true;
}

static void release(berth_http_server *s, berth_http_request *req) {
  __atomic_sub_fetch(&s->buffered, req->reserved, __ATOMIC_RELAXED);
  req->reserved = 0;
}

/* MHD thread: answers at once and closes the connection after. */
static enum MHD_Result answer_now(struct MHD_Connection *conn, int status, const char *msg) {
  char line[160];
  snprintf(line, sizeof(line), "%s\n", msg);
  struct MHD_Response *response = MHD_create_response_from_buffer(strlen(line), line, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
  enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, response);
  MHD_destroy_response(response);
  return r;
}

/* MHD thread, as soon as a request's headers are in and before any of its
 * body is read (or "100 Continue" sent): 0, or the status that refuses it. */
static int admit(berth_http_request *req, const char **msg) {
  listener *l = req->l;
  if (l->token) {
    const char *auth = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    bool bearer = auth && !strncmp(auth, "Bearer ", 7);
    /* Over budget, a connection that never showed the token gets no
     * verdict at all, or a right guess would still stand out. */
    if (!berth_guard_proven(req->gc) && !berth_guard_may_guess(l->guard, req->gc)) {
      berth_guard_failed(l->guard, req->gc, true, "too many wrong tokens from this address");
      *msg = "too many wrong bearer tokens from this address; retry later";
      return 429;
    }
    if (!bearer || !token_matches(auth + 7, l->token)) {
      /* Only a token that was tried counts against the peer's budget. */
      if (bearer) berth_guard_failed(l->guard, req->gc, true, "wrong bearer token");
      *msg = "missing or wrong bearer token";
      return 401;
    }
  }
  berth_guard_prove(l->guard, req->gc);
  length_headers h = {0};
  MHD_get_connection_values(req->conn, MHD_HEADER_KIND, length_header_cb, &h);
  /* Two lengths, or a length beside chunked encoding: a proxy in front
   * may have framed the body differently (request smuggling). */
  if (h.differ || (h.first && h.chunked)) {
    *msg = "conflicting Content-Length / Transfer-Encoding headers";
    return 400;
  }
  unsigned long long declared = 0;
  if (h.first) {
    char *end;
    errno = 0;
    declared = strtoull(h.first, &end, 10);
    if (errno || end == h.first || *end) {
      *msg = "bad Content-Length";
      return 400;
    }
  }
  if (declared > BERTH_HTTP_MAX_BODY) {
    *msg = "request body larger than 1048576 bytes";
    return 413;
  }
  if (declared && !reserve(l->server, (size_t)declared)) {
    *msg = "too many request bodies in flight; retry later";
    return 503;
  }
  req->reserved = (size_t)declared;
  return 0;
}

static bool expects_body(struct MHD_Connection *conn) {
  const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  return te || (cl && strcmp(cl, "0") != 0);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
  listener *l = cls;
  berth_http_server *s = l->server;
  berth_http_request *req = *con_cls;
  if (!req) {
    req = berth_calloc(1, sizeof(*req));
    req->l = l;
    req->conn = conn;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    req->gc = info ? info->socket_context : NULL;
    req->method = berth_strdup(method);
    req->path = berth_strdup(url);
    const char *connection = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
    const char *upgrade = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
    if (connection && upgrade && strcasestr(connection, "upgrade")) req->upgrade_header = berth_strdup(upgrade);
    *con_cls = req;
    berth_guard_set_phase(l->guard, req->gc, BERTH_GUARD_BODY);
    req->refuse_status = admit(req, &req->refuse_msg);
    /* No body coming, or the client waits for "100 Continue": refuse now,
     * so it never sends the body.  Otherwise read and drop the body (it is
     * never buffered), so a plain client still sees the answer. */
    if (req->refuse_status &&
        (!expects_body(conn) || MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT)))
      return answer_now(conn, req->refuse_status, req->refuse_msg);
    return MHD_YES;
  }
  if (*upload_size > 0) {
    size_t n = *upload_size;
    *upload_size = 0;
    if (req->refuse_status) return MHD_YES;
    /* Chunked (a declared length was checked at the headers): over a
     * limit, what came is freed and the rest dropped as it arrives; MHD
     * cannot answer mid-body, so the refusal goes at its end, which the
     * body deadline bounds. */
    if (req->len + n > BERTH_HTTP_MAX_BODY) {
      req->refuse_status = 413;
      req->refuse_msg = "request body larger than 1048576 bytes";
    } else if (req->len + n > req->reserved && !reserve(s, req->len + n - req->reserved)) {
      req->refuse_status = 503;
      req->refuse_msg = "too many request bodies in flight; retry later";
    }
    if (req->refuse_status) {
      free(req->body);
      req->body = NULL;
      req->len = req->cap = 0;
      release(s, req);
      return MHD_YES;
    }
    if (req->len + n > req->reserved) req->reserved = req->len + n;
    if (req->len + n > req->cap) {
      /* A declared body gets its whole buffer at once (pages it never
       * fills cost no memory); a chunked one doubles.  Growing by each
       * piece would leave a trail of freed buffers behind. */
      size_t cap = req->cap ? req->cap * 2 : req->reserved;
      if (cap < req->len + n) cap = req->len + n;
      if (cap > BERTH_HTTP_MAX_BODY) cap = BERTH_HTTP_MAX_BODY;
      req->body = berth_realloc(req->body, cap + 1);
      req->cap = cap;
    }
    memcpy(req->body + req->len, upload_data, n);
    req->len += n;
    req->body[req->len] = '\0';
    return MHD_YES;
  }
  uv_mutex_lock(&s->lock);
  struct MHD_Response *response = req->response;
  req->response = NULL;
  uv_mutex_unlock(&s->lock);
  if (response) {
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)req->status, response);
    MHD_destroy_response(response);
    return r;
  }
  if (req->dispatched) return MHD_YES;
  req->dispatched = true;
  berth_guard_set_phase(l->guard, req->gc, BERTH_GUARD_SERVED);
  if (req->refuse_status) return answer_now(conn, req->refuse_status, req->refuse_msg);
  req->query = json_object();
  MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg_cb, req->query);
  /* Suspend before the loop can answer, so the resume always follows; and
   * under the lock, so shutdown never finds a request suspended after it
   * drained the queue. */
  uv_mutex_lock(&s->lock);
  bool stopping = s->stopping;
  if (!stopping) {
    MHD_suspend_connection(conn);
    if (s->queue_tail)
      s->queue_tail->queue_next = req;
    else
      s->queue_head = req;
    s->queue_tail = req;
  }
  uv_mutex_unlock(&s->lock);
  if (stopping) return answer_now(conn, 503, "berthd is shutting down");
  uv_async_send(&s->async);
  return MHD_YES;
}

/* MHD thread: hands an upgraded connection (or a failed upgrade) to the
 * loop thread. */
static void push_upgraded(berth_http_server *s, berth_http_upgraded *u) {
  uv_mutex_lock(&s->lock);
  u->next = s->upgraded_head;
  s->upgraded_head = u;
  uv_mutex_unlock(&s->lock);
  uv_async_send(&s->async);
}

/* MHD thread, once the 101 is with the kernel.  MHD keeps the socket (it
 * closes it on MHD_UPGRADE_ACTION_CLOSE); the owner gets a duplicate, so
 * a libuv handle can own and close that one. */
static void upgrade_handler(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
                            size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
  berth_http_upgraded *u = cls;
  berth_http_request *req = con_cls;
  if (req && req->upgrade == u) req->upgrade = NULL;
  u->fd = fcntl(sock, F_DUPFD_CLOEXEC, 3);
  if (u->fd < 0) log_warn("http: upgraded connection: dup: %s", strerror(errno));
  u->urh = urh;
  if (extra_in_size) {
    u->extra = berth_malloc(extra_in_size);
    memcpy(u->extra, extra_in, extra_in_size);
    u->extra_len = extra_in_size;
  }
  push_upgraded(req ? req->l->server : u->server, u);
}

void berth_http_respond_upgrade(berth_http_request *req, const char *protocol, berth_http_upgrade_cb ready,
                                berth_http_upgrade_stop_cb stop, void *data) {
  berth_http_server *s = req->l->server;
  berth_http_upgraded *u = berth_calloc(1, sizeof(*u));
  u->server = s;
  u->fd = -1;
  u->ready = ready;
  u->stop = stop;
  u->data = data;
  struct MHD_Response *response = MHD_create_response_for_upgrade(upgrade_handler, u);
  MHD_add_response_header(response, MHD_HTTP_HEADER_UPGRADE, protocol);
  pending_remove(s, req);
  uv_mutex_lock(&s->lock);
  bool first = req->response == NULL;
  if (first) {
    req->response = response;
    req->status = MHD_HTTP_SWITCHING_PROTOCOLS;
    req->upgrade = u;
  }
  uv_mutex_unlock(&s->lock);
  if (!first) {
    MHD_destroy_response(response);
    free(u);
    return;
  }
  if (s->on_respond) s->on_respond(req, MHD_HTTP_SWITCHING_PROTOCOLS, s->data);
  MHD_resume_connection(req->conn);
}

void berth_http_upgraded_close(berth_http_upgraded *u) {
  if (!u) return;
  berth_http_server *s = u->server;
  if (u->prev)
    u->prev->next = u->next;
  else if (s->live == u)
    s->live = u->next;
  if (u->next) u->next->prev = u->prev;
  if (u->fd >= 0) close(u->fd);
  MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
  free(u->extra);
  free(u);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
  listener *l = cls;
  berth_http_request *req = *con_cls;
  if (!req) return;
  /* A kept-alive connection starts waiting for its next request. */
  berth_guard_set_phase(l->guard, req->gc, BERTH_GUARD_HEADERS);
  if (req->upgrade) push_upgraded(l->server, req->upgrade); /* never fired: urh stays NULL */
  req->upgrade = NULL;
  release(l->server, req);
  if (req->response) MHD_destroy_response(req->response);
  json_decref(req->query);
  free(req->upgrade_header);
  free(req->method);
  free(req->path);
  free(req->body);
  free(req);
  *con_cls = NULL;
}

static void notify_connection_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
                                 enum MHD_ConnectionNotificationCode toe) {
  listener *l = cls;
  if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    berth_guard_close(l->guard, *socket_context);
    *socket_context = NULL;
    return;
  }
  const union MHD_ConnectionInfo *fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  const union MHD_ConnectionInfo *addr = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!fd) return;
  struct sockaddr *sa = addr ? addr->client_addr : NULL;
  socklen_t len = !sa ? 0 : sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  *socket_context = berth_guard_open(l->guard, fd->connect_fd, sa, len);
}

__attribute__((format(printf, 2, 0))) static void mhd_log_cb(void *cls, const char *fmt, va_list ap) {
  char line[512];
  vsnprintf(line, sizeof(line), fmt, ap);
  size_t n = strlen(line);
  if (n && line[n - 1] == '\n') line[n - 1] = '\0';
  log_debug("http: %s", line);
}

static int bind_unix(const char *path, const char *group, berth_error *err) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(addr.sun_path))
    return berth_error_set(err, BERTH_EINVAL, "--listen: socket path '%s' is too long", path);
  strcpy(addr.sun_path, path);
  cleanup_free char *dir = berth_strdup(path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = '\0';
    if (berth_mkdir_p(dir, err) < 0) return err->code;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return berth_error_errno(err, errno, "socket");
  /* A socket file nobody answers on is a leftover of a crash. */
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 || errno == EAGAIN) {
    close(fd);
    return berth_error_set(err, BERTH_EIO, "--listen: another process already answers on '%s'", path);
  }
  /* Only a leftover socket is replaced: a typo must not cost a file. */
  struct stat st;
  if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
    close(fd);
    return berth_error_set(err, BERTH_EINVAL, "--listen: '%s' exists and is not a socket; not replacing it", path);
  }
  unlink(path);
  close(fd);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return berth_error_errno(err, errno, "socket");
  mode_t old = umask(0117);
  int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
  umask(old);
  if (rc < 0 || chmod(path, 0660) < 0) {
    berth_error_errno(err, errno, "bind '%s'", path);
    close(fd);
    return BERTH_EIO;
  }
  if (group && *group) {
    struct group *gr = getgrnam(group);
    if (!gr || chown(path, (uid_t)-1, gr->gr_gid) < 0) {
      berth_error_set(err, BERTH_EINVAL, "--socket_group: cannot give '%s' to group '%s'", path, group);
      close(fd);
      return BERTH_EINVAL;
    }
  }
  if (listen(fd, 512) < 0) {
    berth_error_errno(err, errno, "listen '%s'", path);
    close(fd);
    return BERTH_EIO;
  }
  return fd;
}

static int bind_tcp(const char *hostport, berth_error *err) {
  cleanup_free char *host = berth_strdup(hostport);
  char *colon = strrchr(host, ':');
  if (!colon) return berth_error_set(err, BERTH_EINVAL, "--listen: 'tcp:%s' needs HOST:PORT", hostport);
  *colon = '\0';
  const char *port = colon + 1;
  char *h = host;
  if (h[0] == '[') { /* [::1]:5051 */
    h++;
    char *end = strchr(h, ']');
    if (end) *end = '\0';
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
  struct addrinfo *res = NULL;
  int gai = getaddrinfo(*h ? h : NULL, port, &hints, &res);
  if (gai != 0) return berth_error_set(err, BERTH_EINVAL, "--listen: tcp:%s: %s", hostport, gai_strerror(gai));
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 512) < 0) {
    berth_error_errno(err, errno, "listen on tcp:%s", hostport);
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    return BERTH_EIO;
  }
  freeaddrinfo(res);
  return fd;
}

berth_http_server *berth_http_server_new(uv_loop_t *loop, berth_http_handler handler, void *data) {
  berth_http_server *s = berth_calloc(1, sizeof(*s));
  s->loop = loop;
  s->handler = handler;
  s->data = data;
  uv_mutex_init(&s->lock);
  uv_async_init(loop, &s->async, async_cb);
  s->async.data = s;
  uv_timer_init(loop, &s->hangup_timer);
  s->hangup_timer.data = s;
  uv_timer_start(&s->hangup_timer, hangup_check_cb, HANGUP_CHECK_MS, HANGUP_CHECK_MS);
  return s;
}

int berth_http_server_listen(berth_http_server *server, const char *spec, const char *token, const char *socket_group,
                             berth_error *err) {
  bool tcp = !strncmp(spec, "tcp:", 4);
  const char *upath = !strncmp(spec, "unix:", 5) ? spec + 5 : spec;
  if (tcp && (!token || !*token))
    return berth_error_set(err, BERTH_EINVAL, "--listen=%s: a TCP listener needs --token_file", spec);
  if (!tcp && upath[0] != '/')
    return berth_error_set(err, BERTH_EINVAL, "--listen=%s: expected unix:/ABSOLUTE/PATH or tcp:HOST:PORT", spec);
  int fd = tcp ? bind_tcp(spec + 4, err) : bind_unix(upath, socket_group, err);
  if (fd < 0) return fd;
  listener *l = berth_calloc(1, sizeof(*l));
  l->server = server;
  l->guard = berth_guard_new(spec, tcp);
  l->token = tcp ? berth_strdup(token) : NULL;
  l->unix_path = tcp ? NULL : berth_strdup(upath);
  l->mhd = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE |
          MHD_USE_ERROR_LOG,
      0, NULL, NULL, access_cb, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_NOTIFY_COMPLETED, completed_cb, l, MHD_OPTION_NOTIFY_CONNECTION, notify_connection_cb, l,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_SECS, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (size_t)CONNECTION_MEMORY, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT, MHD_OPTION_END);
  if (!l->mhd) {
    close(fd);
    berth_guard_free(l->guard);
    free(l->token);
    free(l->unix_path);
    free(l);
    return berth_error_set(err, BERTH_EIO, "start HTTP server on %s", spec);
  }
  l->next = server->listeners;
  server->listeners = l;
  log_info("listening on %s", spec);
  return 0;
}

static void server_closed_cb(uv_handle_t *handle) {
  berth_http_server *server = handle->data;
  if (--server->open_handles > 0) return;
  uv_mutex_destroy(&server->lock);
  free(server);
}

void berth_http_set_abandonable(berth_http_request *req, bool abandonable) { req->abandonable = abandonable; }

void berth_http_server_on_abandon(berth_http_server *server, berth_http_abandon_cb cb) { server->abandon = cb; }
void berth_http_server_on_respond(berth_http_server *server, berth_http_respond_cb cb) { server->on_respond = cb; }
void berth_http_set_tag(berth_http_request *req, const char *tag) { req->tag = tag; }
const char *berth_http_tag(const berth_http_request *req) { return req->tag; }

/* Shutdown: the upgraded connections MHD handed over (seen by the loop or
 * not yet) are closed, and their owners told: stop for a live session,
 * ready with nothing for one that never reached its owner. */
static void let_go_upgraded(berth_http_server *server) {
  uv_mutex_lock(&server->lock);
  berth_http_upgraded *unseen = server->upgraded_head;
  server->upgraded_head = NULL;
  uv_mutex_unlock(&server->lock);
  while (unseen) {
    berth_http_upgraded *next = unseen->next;
    unseen->next = NULL;
    if (unseen->urh) {
      unseen->prev = NULL;
      unseen->next = server->live;
      if (server->live) server->live->prev = unseen;
      server->live = unseen;
    } else {
      unseen->ready(NULL, -1, NULL, 0, unseen->data);
      free(unseen->extra);
      free(unseen);
    }
    unseen = next;
  }
  while (server->live) {
    berth_http_upgraded *u = server->live;
    if (u->delivered && u->stop)
      u->stop(u->data); /* must not close u */
    else if (!u->delivered)
      u->ready(NULL, -1, NULL, 0, u->data);
    berth_http_upgraded_close(u);
  }
}

void berth_http_server_free(berth_http_server *server) {
  if (!server) return;
  /* Quiesce: from here MHD's threads answer 503 themselves instead of
   * suspending, so once the queue is drained no request can be suspended
   * when MHD_stop_daemon runs (MHD panics on one). */
  uv_mutex_lock(&server->lock);
  server->stopping = true;
  berth_http_request *queued = server->queue_head;
  server->queue_head = server->queue_tail = NULL;
  uv_mutex_unlock(&server->lock);
  while (queued) {
    berth_http_request *next = queued->queue_next;
    berth_http_respond_error(queued, 503, "berthd is shutting down");
    queued = next;
  }
  /* Their owners let go first, as for a client that left. */
  while (server->pending) {
    berth_http_request *req = server->pending;
    if (server->abandon) server->abandon(req, server->data);
    req->abandonable = false;
    berth_http_respond_error(req, 503, "berthd is shutting down");
  }
  /* A stream waiting for events is a suspended connection too. */
  berth_stream_list_stop(&server->streams);
  /* MHD must not stop with an upgraded connection open: every owner lets
   * go, then the server closes the connection. */
  let_go_upgraded(server);
  while (server->listeners) {
    listener *l = server->listeners;
    server->listeners = l->next;
    MHD_stop_daemon(l->mhd); /* closes the listen socket and every connection */
    if (l->unix_path) unlink(l->unix_path);
    berth_guard_free(l->guard);
    free(l->token);
    free(l->unix_path);
    free(l);
  }
  /* Stopping completed the requests whose 101 never went out: their
   * owners hear it now, as the loop will not run the async again. */
  let_go_upgraded(server);
  server->open_handles = 2;
  uv_close((uv_handle_t *)&server->async, server_closed_cb);
  uv_close((uv_handle_t *)&server->hangup_timer, server_closed_cb);
}
