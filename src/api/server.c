#include "api/server.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "containerizer/sandbox.h"
#include "util/alloc.h"
#include "util/log.h"

/* A client that sends nothing for this long is dropped (slowloris). */
#define CONNECTION_TIMEOUT_SECS 30
#define CONNECTION_LIMIT 1024
/* How often unanswered requests are checked for clients that left. */
#define HANGUP_CHECK_MS 1000

typedef struct listener {
  berth_http_server *server;
  struct MHD_Daemon *mhd;
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
};

struct berth_http_request {
  listener *l;
  struct MHD_Connection *conn;
  /* Filled on MHD's thread before dispatch, then read-only. */
  char *method;
  char *path;
  char *body;
  size_t len;
  json_t *query;
  bool too_big;
  bool authorized;
  bool dispatched;
  bool abandonable; /* loop thread only */
  const char *tag;  /* loop thread only; see berth_http_set_tag */
  /* Set by the loop thread under the lock; taken by MHD's thread. */
  int status;
  struct MHD_Response *response;
  berth_http_request *queue_next;
  berth_http_request *pending_next, *pending_prev; /* loop thread only */
};

const char *berth_http_method(const berth_http_request *req) { return req->method; }
const char *berth_http_path(const berth_http_request *req) { return req->path; }
const char *berth_http_body(const berth_http_request *req, size_t *len) {
  *len = req->len;
  return req->body ? req->body : "";
}
const char *berth_http_query(const berth_http_request *req, const char *key) {
  return json_string_value(json_object_get(req->query, key));
}

static void pending_remove(berth_http_server *s, berth_http_request *req) {
  if (!req->pending_prev && s->pending != req) return; /* not pending */
  s->n_pending--;
  if (req->pending_prev) req->pending_prev->pending_next = req->pending_next;
  else if (s->pending == req) s->pending = req->pending_next;
  if (req->pending_next) req->pending_next->pending_prev = req->pending_prev;
  req->pending_next = req->pending_prev = NULL;
}

void berth_http_respond(berth_http_request *req, int status, const char *content_type, const char *body,
                        size_t len) {
  berth_http_server *s = req->l->server;
  struct MHD_Response *response = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
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

void berth_http_respond_json(berth_http_request *req, int status, json_t *j) {
  cleanup_free char *text = json_dumps(j, JSON_COMPACT);
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

/* Constant-time, so response timing says nothing about the token. */
static bool token_matches(const char *given, const char *token) {
  size_t glen = strlen(given), tlen = strlen(token);
  unsigned char diff = (unsigned char)(glen != tlen);
  for (size_t i = 0; i < tlen; i++) diff |= (unsigned char)(token[i] ^ given[i < glen ? i : 0]);
  return diff == 0 && glen > 0;
}

static bool check_auth(berth_http_request *req) {
  if (!req->l->token) return true;
  const char *auth = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (!auth || strncmp(auth, "Bearer ", 7) != 0) return false;
  return token_matches(auth + 7, req->l->token);
}

static enum MHD_Result collect_arg_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  if (key && value) json_object_set_new(cls, key, json_string(value));
  return MHD_YES;
}

/* Loop thread: hand queued requests to the handler. */
static void async_cb(uv_async_t *handle) {
  berth_http_server *s = handle->data;
  uv_mutex_lock(&s->lock);
  berth_http_request *req = s->queue_head;
  s->queue_head = s->queue_tail = NULL;
  uv_mutex_unlock(&s->lock);
  while (req) {
    berth_http_request *next = req->queue_next;
    req->pending_next = s->pending;
    if (s->pending) s->pending->pending_prev = req;
    s->pending = req;
    s->n_pending++;
    if (!req->authorized) {
      berth_http_respond_error(req, 401, "missing or wrong bearer token");
    } else if (req->too_big) {
      char msg[64];
      snprintf(msg, sizeof(msg), "request body larger than %u bytes", BERTH_HTTP_MAX_BODY);
      berth_http_respond_error(req, 413, msg);
    } else {
      s->handler(req, s->data);
    }
    req = next;
  }
}

/* One poll(2) over every unanswered request's socket: a peer that hung up
 * shows POLLRDHUP/POLLHUP while its request waits (it sent everything). */
static void hangup_check_cb(uv_timer_t *timer) {
  berth_http_server *s = timer->data;
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
      s->abandon(reqs[k], s->data);
      berth_http_respond_error(reqs[k], 499, "client went away");
    }
  }
  free(fds);
  free(reqs);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_size,
                                 void **con_cls) {
  listener *l = cls;
  berth_http_server *s = l->server;
  berth_http_request *req = *con_cls;
  if (!req) {
    req = berth_calloc(1, sizeof(*req));
    req->l = l;
    req->conn = conn;
    req->method = berth_strdup(method);
    req->path = berth_strdup(url);
    *con_cls = req;
    return MHD_YES;
  }
  if (*upload_size > 0) {
    if (!req->too_big && req->len + *upload_size <= BERTH_HTTP_MAX_BODY) {
      req->body = berth_realloc(req->body, req->len + *upload_size + 1);
      memcpy(req->body + req->len, upload_data, *upload_size);
      req->len += *upload_size;
      req->body[req->len] = '\0';
    } else {
      req->too_big = true; /* keep reading: the client gets its 413 */
    }
    *upload_size = 0;
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
  req->authorized = check_auth(req);
  req->query = json_object();
  MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg_cb, req->query);
  /* Suspend before the loop can answer, so the resume always follows. */
  MHD_suspend_connection(conn);
  uv_mutex_lock(&s->lock);
  if (s->queue_tail) s->queue_tail->queue_next = req;
  else s->queue_head = req;
  s->queue_tail = req;
  uv_mutex_unlock(&s->lock);
  uv_async_send(&s->async);
  return MHD_YES;
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  berth_http_request *req = *con_cls;
  if (!req) return;
  if (req->response) MHD_destroy_response(req->response);
  json_decref(req->query);
  free(req->method);
  free(req->path);
  free(req->body);
  free(req);
  *con_cls = NULL;
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

int berth_http_server_listen(berth_http_server *server, const char *spec, const char *token,
                             const char *socket_group, berth_error *err) {
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
  l->token = tcp ? berth_strdup(token) : NULL;
  l->unix_path = tcp ? NULL : berth_strdup(upath);
  l->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                                MHD_USE_ERROR_LOG,
                            0, NULL, NULL, access_cb, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, NULL,
                            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, l,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_SECS,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT, MHD_OPTION_END);
  if (!l->mhd) {
    close(fd);
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

void berth_http_mark_abandonable(berth_http_request *req) { req->abandonable = true; }

void berth_http_server_on_abandon(berth_http_server *server, berth_http_abandon_cb cb) { server->abandon = cb; }
void berth_http_server_on_respond(berth_http_server *server, berth_http_respond_cb cb) { server->on_respond = cb; }
void berth_http_set_tag(berth_http_request *req, const char *tag) { req->tag = tag; }
const char *berth_http_tag(const berth_http_request *req) { return req->tag; }

void berth_http_server_free(berth_http_server *server) {
  if (!server) return;
  /* Answer whatever waits, so MHD never stops with suspended requests. */
  uv_mutex_lock(&server->lock);
  berth_http_request *queued = server->queue_head;
  server->queue_head = server->queue_tail = NULL;
  uv_mutex_unlock(&server->lock);
  while (queued) {
    berth_http_request *next = queued->queue_next;
    berth_http_respond_error(queued, 503, "berthd is shutting down");
    queued = next;
  }
  while (server->pending) berth_http_respond_error(server->pending, 503, "berthd is shutting down");
  while (server->listeners) {
    listener *l = server->listeners;
    server->listeners = l->next;
    MHD_stop_daemon(l->mhd); /* closes the listen socket too */
    if (l->unix_path) unlink(l->unix_path);
    free(l->token);
    free(l->unix_path);
    free(l);
  }
  server->open_handles = 2;
  uv_close((uv_handle_t *)&server->async, server_closed_cb);
  uv_close((uv_handle_t *)&server->hangup_timer, server_closed_cb);
}
