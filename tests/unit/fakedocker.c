/* The fake dockerd (see fakedocker.h): one accept thread, and a thread per
 * connection that reads one request, answers it as its rule says and
 * closes.  Waits (delays, holds, `after`) poll a stop pipe as well, so
 * fake_docker_free ends them at once. */
#include "fakedocker.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#define MAX_REQUEST (16u * 1024u * 1024u)

typedef enum { ACT_REPLY, ACT_HANGUP, ACT_HOLD, ACT_STREAM, ACT_LIST } action;

typedef struct piece {
  int delay_ms;
  char *buf;
  size_t len;
} piece;

struct fake_rule {
  fake_docker *owner;
  char method[16];
  char *pattern;
  int times; /* 0: no limit */
  int delay_ms;
  const fake_rule *after;
  const fake_rule *body_after; /* a stream's pieces wait for it */
  action act;
  int status;
  char *content_type;
  char *body;
  size_t body_len;
  fake_framing framing;
  piece *pieces;
  size_t n_pieces;
  fake_end end;
  int hits, gone; /* under the fake's lock */
  fake_rule *next;
};

typedef struct conn {
  fake_docker *fd;
  int sock;
  pthread_t thread;
  struct conn *next;
} conn;

struct fake_docker {
  char dir[64];
  char socket_path[96];
  int listen_fd;
  int stop_pipe[2];
  pthread_t accept_thread;
  pthread_mutex_t lock;
  pthread_cond_t changed; /* a rule was hit, or the fake stops */
  bool stopping;
  fake_rule *rules, *last_rule;
  conn *conns;
  fake_request *requests;
  size_t n_requests, cap_requests;
};

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n, size);
  if (!p) abort();
  return p;
}

static char *xstrndup(const char *s, size_t n) {
  char *p = strndup(s, n);
  if (!p) abort();
  return p;
}

static char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

/* --- scripting ------------------------------------------------------------ */

fake_rule *fake_on(fake_docker *fd, const char *method, const char *pattern) {
  fake_rule *r = xcalloc(1, sizeof(*r));
  snprintf(r->method, sizeof(r->method), "%s", method);
  r->owner = fd;
  r->pattern = xstrdup(pattern);
  r->act = ACT_REPLY;
  r->status = 200;
  pthread_mutex_lock(&fd->lock);
  if (fd->last_rule)
    fd->last_rule->next = r;
  else
    fd->rules = r;
  fd->last_rule = r;
  pthread_mutex_unlock(&fd->lock);
  return r;
}

fake_rule *fake_rule_times(fake_rule *r, int n) {
  pthread_mutex_lock(&r->owner->lock);
  r->times = n;
  pthread_mutex_unlock(&r->owner->lock);
  return r;
}

fake_rule *fake_rule_delay(fake_rule *r, int ms) {
  pthread_mutex_lock(&r->owner->lock);
  r->delay_ms = ms;
  pthread_mutex_unlock(&r->owner->lock);
  return r;
}

fake_rule *fake_rule_after(fake_rule *r, fake_rule *other) {
  pthread_mutex_lock(&r->owner->lock);
  r->after = other;
  pthread_mutex_unlock(&r->owner->lock);
  return r;
}

fake_rule *fake_rule_stream_after(fake_rule *r, fake_rule *other) {
  pthread_mutex_lock(&r->owner->lock);
  r->body_after = other;
  pthread_mutex_unlock(&r->owner->lock);
  return r;
}

fake_rule *fake_rule_reply_raw(fake_rule *r, int status, const char *content_type, const void *body, size_t len) {
  pthread_mutex_lock(&r->owner->lock);
  r->act = ACT_REPLY;
  r->status = status;
  free(r->content_type);
  r->content_type = content_type ? xstrdup(content_type) : NULL;
  free(r->body);
  r->body = body ? xstrndup(body, len) : NULL;
  r->body_len = body ? len : 0;
  pthread_mutex_unlock(&r->owner->lock);
  return r;
}

fake_rule *fake_rule_reply(fake_rule *r, int status, const char *body) {
  return fake_rule_reply_raw(r, status, body ? "application/json" : NULL, body, body ? strlen(body) : 0);
}

fake_rule *fake_rule_containers(fake_rule *r, const char *containers_json) {
  pthread_mutex_lock(&r->owner->lock);
  fake_rule_reply(r, 200, containers_json);
  r->act = ACT_LIST;
  pthread_mutex_unlock(&r->owner->lock);
  return r;
}

fake_rule *fake_rule_hangup(fake_rule *r) {
  pthread_mutex_lock(&r->owner->lock);
  r->act = ACT_HANGUP;
  pthread_mutex_unlock(&r->owner->lock);
  return r;
}

fake_rule *fake_rule_hold(fake_rule *r) {
  pthread_mutex_lock(&r->owner->lock);
  r->act = ACT_HOLD;
  pthread_mutex_unlock(&r->owner->lock);
  return r;
}

fake_rule *fake_rule_stream(fake_rule *r, int status, const char *content_type, fake_framing framing) {
  pthread_mutex_lock(&r->owner->lock);
  r->act = ACT_STREAM;
  r->status = status;
  free(r->content_type);
  r->content_type = content_type ? xstrdup(content_type) : NULL;
  r->framing = framing;
  r->end = FAKE_END_CLEAN;
  pthread_mutex_unlock(&r->owner->lock);
  return r;
}

fake_rule *fake_rule_piece(fake_rule *r, int delay_ms, const void *buf, size_t len) {
  pthread_mutex_lock(&r->owner->lock);
  r->pieces = realloc(r->pieces, (r->n_pieces + 1) * sizeof(*r->pieces));
  if (!r->pieces) abort();
  piece *p = &r->pieces[r->n_pieces++];
  p->delay_ms = delay_ms;
  p->buf = xcalloc(1, len + 1);
  memcpy(p->buf, buf, len);
  p->len = len;
  pthread_mutex_unlock(&r->owner->lock);
  return r;
}

fake_rule *fake_rule_frame(fake_rule *r, int delay_ms, int stream, const char *text) {
  return fake_rule_frame_part(r, delay_ms, stream, text, strlen(text));
}

fake_rule *fake_rule_frame_part(fake_rule *r, int delay_ms, int stream, const char *text, size_t sent) {
  pthread_mutex_lock(&r->owner->lock);
  size_t n = strlen(text);
  char *buf = xcalloc(1, n + 8);
  buf[0] = (char)stream;
  buf[4] = (char)((n >> 24) & 0xff);
  buf[5] = (char)((n >> 16) & 0xff);
  buf[6] = (char)((n >> 8) & 0xff);
  buf[7] = (char)(n & 0xff);
  memcpy(buf + 8, text, n);
  fake_rule_piece(r, delay_ms, buf, 8 + (sent < n ? sent : n));
  free(buf);
  pthread_mutex_unlock(&r->owner->lock);
  return r;
}

fake_rule *fake_rule_end(fake_rule *r, fake_end end) {
  pthread_mutex_lock(&r->owner->lock);
  r->end = end;
  pthread_mutex_unlock(&r->owner->lock);
  return r;
}

int fake_rule_hits(fake_docker *fd, const fake_rule *r) {
  pthread_mutex_lock(&fd->lock);
  int n = r->hits;
  pthread_mutex_unlock(&fd->lock);
  return n;
}

int fake_rule_gone(fake_docker *fd, const fake_rule *r, int want, int wait_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += wait_ms / 1000;
  until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&fd->lock);
  while (r->gone < want && !fd->stopping)
    if (pthread_cond_timedwait(&fd->changed, &fd->lock, &until) == ETIMEDOUT) break;
  int n = r->gone;
  pthread_mutex_unlock(&fd->lock);
  return n;
}

/* --- records --------------------------------------------------------------- */

static bool request_matches(const fake_request *q, const char *method, const char *pattern) {
  return (!strcmp(method, "*") || !strcmp(method, q->method)) && fnmatch(pattern, q->path, 0) == 0;
}

size_t fake_docker_count(fake_docker *fd, const char *method, const char *pattern) {
  size_t n = 0;
  pthread_mutex_lock(&fd->lock);
  for (size_t i = 0; i < fd->n_requests; i++) n += request_matches(&fd->requests[i], method, pattern);
  pthread_mutex_unlock(&fd->lock);
  return n;
}

fake_request *fake_docker_request(fake_docker *fd, const char *method, const char *pattern, size_t nth) {
  fake_request *copy = NULL;
  pthread_mutex_lock(&fd->lock);
  for (size_t i = 0; i < fd->n_requests && !copy; i++) {
    const fake_request *q = &fd->requests[i];
    if (!request_matches(q, method, pattern) || nth-- > 0) continue;
    copy = xcalloc(1, sizeof(*copy));
    copy->seq = q->seq;
    memcpy(copy->method, q->method, sizeof(copy->method));
    copy->version = xstrdup(q->version);
    copy->path = xstrdup(q->path);
    copy->query = xstrdup(q->query);
    copy->body = xstrdup(q->body);
  }
  pthread_mutex_unlock(&fd->lock);
  return copy;
}

static void request_clear(fake_request *q) {
  free(q->version);
  free(q->path);
  free(q->query);
  free(q->body);
}

void fake_request_free(fake_request *req) {
  if (!req) return;
  request_clear(req);
  free(req);
}

/* --- serving ---------------------------------------------------------------- */

/* Sleeps ms unless the fake stops first; returns false when it stops. */
static bool pause_ms(fake_docker *fd, int ms) {
  if (ms <= 0) return true;
  struct pollfd p = {.fd = fd->stop_pipe[0], .events = POLLIN};
  return poll(&p, 1, ms) == 0;
}

static bool send_all(int sock, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = send(sock, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= (size_t)n;
  }
  return true;
}

static bool send_text(int sock, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool send_text(int sock, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return send_all(sock, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* True when the client closed its end (nothing else is expected from it). */
static bool client_gone(int sock) {
  char c;
  ssize_t n = recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Waits until the client closes (true) or the fake stops (false). */
static bool wait_client_gone(fake_docker *fd, int sock) {
  for (;;) {
    struct pollfd p[2] = {{.fd = sock, .events = POLLIN}, {.fd = fd->stop_pipe[0], .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (p[1].revents) return false;
    if (client_gone(sock)) return true;
    char junk[256]; /* stray bytes from the client: ignored */
    if (recv(sock, junk, sizeof(junk), MSG_DONTWAIT) == 0) return true;
  }
}

static const char *reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 500:
      return "Internal Server Error";
    default:
      return "Status";
  }
}

static void note_gone(fake_docker *fd, fake_rule *r) {
  pthread_mutex_lock(&fd->lock);
  r->gone++;
  pthread_cond_broadcast(&fd->changed);
  pthread_mutex_unlock(&fd->lock);
}

/* Copies body with every "@NOW@" replaced by the current time. */
static char *expand_now(const char *body, size_t len, size_t *out_len) {
  char now[64];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(now + n, sizeof(now) - n, ".%09ldZ", ts.tv_nsec);
  size_t nlen = strlen(now);
  char *out = xcalloc(1, len * (nlen > 5 ? nlen / 5 + 1 : 1) + 1);
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    if (i + 5 <= len && !memcmp(body + i, "@NOW@", 5)) {
      memcpy(out + o, now, nlen);
      o += nlen;
      i += 5;
    } else {
      out[o++] = body[i++];
    }
  }
  *out_len = o;
  return out;
}

static void answer_reply(int sock, const fake_rule *r) {
  if (r->status == 204 || r->status == 304) {
    send_text(sock, "HTTP/1.1 %d %s\r\nConnection: close\r\n\r\n", r->status, reason_phrase(r->status));
    return;
  }
  size_t len = 0;
  char *body = expand_now(r->body ? r->body : "", r->body_len, &len);
  bool ok = send_text(sock, "HTTP/1.1 %d %s\r\n", r->status, reason_phrase(r->status));
  if (ok && r->content_type) ok = send_text(sock, "Content-Type: %s\r\n", r->content_type);
  if (ok) ok = send_text(sock, "Content-Length: %zu\r\nConnection: close\r\n\r\n", len);
  if (ok) send_all(sock, body, len);
  free(body);
}

static bool wait_after(fake_docker *fd, const fake_rule *other);

static void answer_stream(fake_docker *fd, int sock, fake_rule *r) {
  bool chunked = r->framing == FAKE_CHUNKED;
  bool ok = send_text(sock, "HTTP/1.1 %d %s\r\n", r->status, reason_phrase(r->status));
  if (ok && r->content_type) ok = send_text(sock, "Content-Type: %s\r\n", r->content_type);
  if (ok && chunked) ok = send_text(sock, "Transfer-Encoding: chunked\r\n");
  if (ok) ok = send_text(sock, "Connection: close\r\n\r\n");
  if (ok && r->body_after && !wait_after(fd, r->body_after)) return;
  for (size_t i = 0; ok && i < r->n_pieces; i++) {
    if (!pause_ms(fd, r->pieces[i].delay_ms)) return;
    if (client_gone(sock)) {
      note_gone(fd, r);
      return;
    }
    const piece *p = &r->pieces[i];
    if (chunked)
      ok = send_text(sock, "%zx\r\n", p->len) && send_all(sock, p->buf, p->len) && send_text(sock, "\r\n");
    else
      ok = send_all(sock, p->buf, p->len);
  }
  if (!ok) {
    note_gone(fd, r);
    return;
  }
  switch (r->end) {
    case FAKE_END_CLEAN:
      if (chunked) send_text(sock, "0\r\n\r\n");
      return;
    case FAKE_END_CUT:
      /* A chunk announced longer than what follows; a raw stream just stops
       * where its pieces do (fake_rule_frame_part cuts inside a frame). */
      if (chunked) send_text(sock, "100\r\nabc");
      return;
    case FAKE_END_HOLD:
      if (wait_client_gone(fd, sock)) note_gone(fd, r);
      return;
  }
}

/* Reads one request: head and a Content-Length body.  NULL on a client
 * that left or the fake stopping. */
static char *read_request(fake_docker *fd, int sock, size_t *head_len, size_t *total) {
  size_t cap = 4096, len = 0, need = 0;
  char *buf = xcalloc(1, cap + 1);
  for (;;) {
    if (need == 0) {
      char *end = strstr(buf, "\r\n\r\n");
      if (end) {
        *head_len = (size_t)(end - buf) + 4;
        size_t body = 0;
        for (char *h = strcasestr(buf, "\r\ncontent-length:"); h && h < end; h = NULL) body = strtoul(h + 17, NULL, 10);
        need = *head_len + body;
        if (need > MAX_REQUEST) break;
      }
    }
    if (need > 0 && len >= need) {
      *total = need;
      return buf;
    }
    struct pollfd p[2] = {{.fd = sock, .events = POLLIN}, {.fd = fd->stop_pipe[0], .events = POLLIN}};
    if (poll(p, 2, -1) < 0 && errno != EINTR) break;
    if (p[1].revents) break;
    if (len == cap) {
      if (cap >= MAX_REQUEST) break;
      cap *= 2;
      buf = realloc(buf, cap + 1);
      if (!buf) abort();
    }
    ssize_t n = recv(sock, buf + len, cap - len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    buf[len] = '\0';
  }
  free(buf);
  return NULL;
}

/* Splits "/v1.41/containers/x/json?all=1" into version, path and query. */
static void parse_target(const char *target, fake_request *q) {
  const char *qm = strchr(target, '?');
  size_t plen = qm ? (size_t)(qm - target) : strlen(target);
  q->query = xstrdup(qm ? qm + 1 : "");
  const char *p = target;
  q->version = xstrdup("");
  if (p[0] == '/' && p[1] == 'v' && p[2] >= '0' && p[2] <= '9') {
    const char *slash = strchr(p + 1, '/');
    if (slash && slash < target + plen) {
      free(q->version);
      q->version = xstrndup(p + 2, (size_t)(slash - p - 2));
      plen -= (size_t)(slash - p);
      p = slash;
    }
  }
  q->path = xstrndup(p, plen);
}

static fake_rule *match_and_record(fake_docker *fd, fake_request *q) {
  pthread_mutex_lock(&fd->lock);
  if (fd->n_requests == fd->cap_requests) {
    fd->cap_requests = fd->cap_requests ? fd->cap_requests * 2 : 16;
    fd->requests = realloc(fd->requests, fd->cap_requests * sizeof(*fd->requests));
    if (!fd->requests) abort();
  }
  q->seq = fd->n_requests;
  fd->requests[fd->n_requests++] = *q;
  fake_rule *r = fd->rules;
  for (; r; r = r->next) {
    if (r->times > 0 && r->hits >= r->times) continue;
    if (strcmp(r->method, "*") && strcmp(r->method, q->method)) continue;
    if (fnmatch(r->pattern, q->path, 0) == 0) break;
  }
  if (r) r->hits++;
  pthread_cond_broadcast(&fd->changed);
  pthread_mutex_unlock(&fd->lock);
  return r;
}

/* Blocks until other has been hit or the fake stops (false). */
static bool wait_after(fake_docker *fd, const fake_rule *other) {
  pthread_mutex_lock(&fd->lock);
  while (other->hits == 0 && !fd->stopping) pthread_cond_wait(&fd->changed, &fd->lock);
  bool ok = !fd->stopping;
  pthread_mutex_unlock(&fd->lock);
  return ok;
}

static int hexval(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* The value of name in a query, percent-decoded; NULL when absent. */
static char *query_param(const char *query, const char *name) {
  size_t n = strlen(name);
  for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
    if (strncmp(p, name, n) || p[n] != '=') continue;
    const char *v = p + n + 1;
    size_t len = strcspn(v, "&");
    char *out = xcalloc(1, len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
      if (v[i] == '%' && i + 2 < len && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0) {
        *o++ = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
        i += 2;
      } else {
        *o++ = v[i];
      }
    }
    return out;
  }
  return NULL;
}

/* Does a container's Labels object pass a "key" or "key=value" filter? */
static bool label_matches(json_t *labels, const char *filter) {
  const char *eq = strchr(filter, '=');
  char key[256];
  snprintf(key, sizeof(key), "%.*s", eq ? (int)(eq - filter) : (int)strlen(filter), filter);
  json_t *v = json_object_get(labels, key);
  if (!v) return false;
  return !eq || (json_is_string(v) && !strcmp(json_string_value(v), eq + 1));
}

/* dockerd's GET /containers/json: the rule's containers that pass every
 * label filter of the query (other filters are not modelled). */
static void answer_list(int sock, const fake_rule *r, const char *query) {
  json_t *all = json_loadb(r->body ? r->body : "[]", r->body_len, 0, NULL);
  char *ftext = query_param(query, "filters");
  json_t *filters = ftext ? json_loads(ftext, 0, NULL) : NULL;
  json_t *labels = json_object_get(filters, "label");
  json_t *out = json_array();
  size_t i, j;
  json_t *c, *f;
  json_array_foreach(all, i, c) {
    bool pass = true;
    json_array_foreach(labels, j, f) pass = pass && label_matches(json_object_get(c, "Labels"), json_string_value(f));
    if (pass) json_array_append(out, c);
  }
  char *text = json_dumps(out, JSON_COMPACT);
  fake_rule answer = {
      .act = ACT_REPLY, .status = 200, .content_type = "application/json", .body = text, .body_len = strlen(text)};
  answer_reply(sock, &answer);
  free(text);
  json_decref(out);
  json_decref(filters);
  json_decref(all);
  free(ftext);
}

static void serve(fake_docker *fd, int sock) {
  size_t head_len = 0, total = 0;
  char *raw = read_request(fd, sock, &head_len, &total);
  if (!raw) return;
  fake_request q = {0};
  char target[8192] = "";
  if (sscanf(raw, "%15s %8191s", q.method, target) != 2) {
    free(raw);
    return;
  }
  parse_target(target, &q);
  q.body = xstrndup(raw + head_len, total - head_len);
  free(raw);
  fake_request copy = q; /* the record owns q's strings from here */
  fake_rule *r = match_and_record(fd, &q);
  if (!r) {
    char body[512];
    snprintf(body, sizeof(body), "{\"message\":\"fake dockerd: no rule for %s %.400s\"}", copy.method, copy.path);
    fake_rule none = {
        .act = ACT_REPLY, .status = 404, .content_type = "application/json", .body = body, .body_len = strlen(body)};
    answer_reply(sock, &none);
    return;
  }
  if (r->after && !wait_after(fd, r->after)) return;
  if (!pause_ms(fd, r->delay_ms)) return;
  switch (r->act) {
    case ACT_REPLY:
      answer_reply(sock, r);
      return;
    case ACT_HANGUP:
      return;
    case ACT_HOLD:
      if (wait_client_gone(fd, sock)) note_gone(fd, r);
      return;
    case ACT_STREAM:
      answer_stream(fd, sock, r);
      return;
    case ACT_LIST:
      answer_list(sock, r, copy.query);
      return;
  }
}

static void *conn_main(void *arg) {
  conn *c = arg;
  serve(c->fd, c->sock);
  /* Half-close first so the client reads our last bytes before the end. */
  shutdown(c->sock, SHUT_WR);
  close(c->sock);
  c->sock = -1;
  return NULL;
}

static void *accept_main(void *arg) {
  fake_docker *fd = arg;
  for (;;) {
    struct pollfd p[2] = {{.fd = fd->listen_fd, .events = POLLIN}, {.fd = fd->stop_pipe[0], .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    if (p[1].revents) return NULL;
    int sock = accept4(fd->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (sock < 0) continue;
    conn *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->sock = sock;
    pthread_mutex_lock(&fd->lock);
    c->next = fd->conns;
    fd->conns = c;
    pthread_mutex_unlock(&fd->lock);
    if (pthread_create(&c->thread, NULL, conn_main, c) != 0) abort();
  }
}

fake_docker *fake_docker_new(void) {
  fake_docker *fd = xcalloc(1, sizeof(*fd));
  snprintf(fd->dir, sizeof(fd->dir), "/tmp/berth-fakedocker-XXXXXX");
  if (!mkdtemp(fd->dir)) fail_msg("mkdtemp: %s", strerror(errno));
  snprintf(fd->socket_path, sizeof(fd->socket_path), "%s/docker.sock", fd->dir);
  fd->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", fd->socket_path);
  if (fd->listen_fd < 0 || bind(fd->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
      listen(fd->listen_fd, 64) < 0)
    fail_msg("fake dockerd: listen on %s: %s", fd->socket_path, strerror(errno));
  if (pipe2(fd->stop_pipe, O_CLOEXEC) < 0) fail_msg("pipe: %s", strerror(errno));
  /* Recursive: setters lock it and some call others.  Setters hold it so
   * that a connection thread that later matches the rule (under the same
   * lock) sees the rule as the test wrote it. */
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&fd->lock, &attr);
  pthread_mutexattr_destroy(&attr);
  pthread_cond_init(&fd->changed, NULL);
  if (pthread_create(&fd->accept_thread, NULL, accept_main, fd) != 0) fail_msg("fake dockerd: thread");
  return fd;
}

const char *fake_docker_socket(const fake_docker *fd) { return fd->socket_path; }

void fake_docker_free(fake_docker *fd) {
  if (!fd) return;
  pthread_mutex_lock(&fd->lock);
  fd->stopping = true;
  pthread_cond_broadcast(&fd->changed);
  pthread_mutex_unlock(&fd->lock);
  if (write(fd->stop_pipe[1], "x", 1) != 1) abort();
  pthread_join(fd->accept_thread, NULL);
  while (fd->conns) {
    conn *c = fd->conns;
    fd->conns = c->next;
    pthread_join(c->thread, NULL);
    free(c);
  }
  close(fd->listen_fd);
  close(fd->stop_pipe[0]);
  close(fd->stop_pipe[1]);
  unlink(fd->socket_path);
  rmdir(fd->dir);
  while (fd->rules) {
    fake_rule *r = fd->rules;
    fd->rules = r->next;
    for (size_t i = 0; i < r->n_pieces; i++) free(r->pieces[i].buf);
    free(r->pieces);
    free(r->pattern);
    free(r->content_type);
    free(r->body);
    free(r);
  }
  for (size_t i = 0; i < fd->n_requests; i++) request_clear(&fd->requests[i]);
  free(fd->requests);
  pthread_cond_destroy(&fd->changed);
  pthread_mutex_destroy(&fd->lock);
  free(fd);
}

/* --- loop helpers ------------------------------------------------------------ */

static void tick_cb(uv_timer_t *t) { (void)t; }

static void free_handle_cb(uv_handle_t *h) { free(h); }

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void fake_run_until(uv_loop_t *loop, bool (*done)(void *data), void *data, int max_ms) {
  /* A ticking timer makes every uv_run(ONCE) return soon, so the condition
   * is checked even while the loop only waits on the fake. */
  uv_timer_t *tick = xcalloc(1, sizeof(*tick));
  uv_timer_init(loop, tick);
  uv_timer_start(tick, tick_cb, 2, 2);
  double deadline = mono_ms() + max_ms;
  bool ok;
  while (!(ok = done(data)) && mono_ms() < deadline) uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)tick, free_handle_cb);
  if (!ok) fail_msg("condition not reached within %d ms", max_ms);
}

static void walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  print_error("handle left open: type %s, active %d\n", uv_handle_type_name(uv_handle_get_type(h)), uv_is_active(h));
}

void fake_loop_finish(uv_loop_t *loop) {
  uv_run(loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(loop);
  if (rc != 0) {
    uv_walk(loop, walk_cb, NULL);
    fail_msg("uv_loop_close: %s", uv_strerror(rc));
  }
}
