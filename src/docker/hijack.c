#include "docker/hijack.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/httphead.h"
#include "util/text.h"

struct berth_hijack {
  uv_pipe_t pipe;
  uv_connect_t connect;
  uv_write_t write;
  uv_timer_t timer;
  char *request;
  berth_http_head head;
  char *body; /* an error answer's, up to BERTH_HIJACK_ERROR_BODY_MAX */
  size_t body_len;
  berth_hijack_cb cb;
  void *data;
  bool reported;
  bool closing;
  int open_handles;
  char rbuf[16384];
};

static void closed_cb(uv_handle_t *handle) {
  berth_hijack *h = handle->type == UV_TIMER ? ((uv_timer_t *)handle)->data : ((uv_pipe_t *)handle)->data;
  if (--h->open_handles > 0) return;
  free(h->request);
  free(h->body);
  free(h);
}

void berth_hijack_close(berth_hijack *h) {
  if (!h || h->closing) return;
  h->closing = true;
  h->reported = true;
  uv_timer_stop(&h->timer);
  /* The pipe's data may be the owner's now; the close callback finds h
   * through the timer, which is always ours. */
  h->pipe.data = h;
  uv_close((uv_handle_t *)&h->timer, closed_cb);
  uv_close((uv_handle_t *)&h->pipe, closed_cb);
}

uv_stream_t *berth_hijack_stream(berth_hijack *h) { return (uv_stream_t *)&h->pipe; }

static void report(berth_hijack *h, int rc, const berth_error *err, const char *extra, size_t len) {
  if (h->reported) return;
  h->reported = true;
  uv_timer_stop(&h->timer);
  h->cb(rc, err, extra, len, h->data);
}

static void fail(berth_hijack *h, int code, const char *what, const char *detail) {
  berth_error err = {0};
  berth_error_set(&err, code, "%s: %s", what, detail);
  uv_read_stop((uv_stream_t *)&h->pipe);
  report(h, code, &err, NULL, 0);
}

/* An error answer: docker's {"message": ...} when it is one, else the
 * text itself, made printable. */
static void refused(berth_hijack *h) {
  berth_error err = {0};
  json_t *j = json_loadb(h->body ? h->body : "", h->body_len, 0, NULL);
  const char *msg = json_string_value(json_object_get(j, "message"));
  cleanup_free char *text = NULL;
  if (!msg) {
    text = berth_malloc(h->body_len + 1);
    size_t n = 0;
    for (size_t i = 0; i < h->body_len; i++) {
      unsigned char ch = (unsigned char)h->body[i];
      if (ch >= 0x20 && ch < 0x7f) text[n++] = (char)ch;
    }
    text[n] = '\0';
    msg = text;
  }
  int status = h->head.status;
  int code = status == 404 ? BERTH_ENOENT : status == 409 ? BERTH_ECONFLICT : BERTH_EDOCKER;
  berth_error_set(&err, code, "docker answered %d: %s", status, *msg ? msg : "(no message)");
  json_decref(j);
  uv_read_stop((uv_stream_t *)&h->pipe);
  report(h, code, &err, NULL, 0);
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  berth_hijack *h = ((uv_pipe_t *)handle)->data;
  *buf = uv_buf_init(h->rbuf, sizeof(h->rbuf));
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  berth_hijack *h = stream->data;
  if (nread == 0 || h->reported) return;
  if (nread < 0) {
    if (h->head.done)
      refused(h); /* the error body ended with the connection */
    else
      fail(h, BERTH_EUNAVAIL, "docker closed the connection before answering",
           nread == UV_EOF ? "end of stream" : uv_strerror((int)nread));
    return;
  }
  const char *p = buf->base;
  size_t n = (size_t)nread;
  if (!h->head.done) {
    berth_error err = {0};
    size_t used = 0;
    if (berth_http_head_feed(&h->head, p, n, &used, &err) < 0) {
      fail(h, BERTH_EDOCKER, "bad answer from docker", err.msg);
      return;
    }
    p += used;
    n -= used;
    if (!h->head.done) return;
    if (h->head.status == 101 || h->head.status == 200) {
      /* From here the bytes are the stream's; the owner reads on. */
      uv_read_stop(stream);
      report(h, 0, NULL, p, n);
      return;
    }
  }
  size_t room = BERTH_HIJACK_ERROR_BODY_MAX - h->body_len;
  if (n > room) n = room;
  if (n) {
    h->body = berth_realloc(h->body, h->body_len + n + 1);
    memcpy(h->body + h->body_len, p, n);
    h->body_len += n;
  }
  if (h->body_len >= BERTH_HIJACK_ERROR_BODY_MAX ||
      (h->head.content_length >= 0 && (long long)h->body_len >= h->head.content_length))
    refused(h);
}

static void write_cb(uv_write_t *w, int status) {
  berth_hijack *h = w->data;
  if (status < 0 && status != UV_ECANCELED) fail(h, BERTH_EUNAVAIL, "write to docker", uv_strerror(status));
}

static void connect_cb(uv_connect_t *c, int status) {
  berth_hijack *h = c->data;
  if (status == UV_ECANCELED || h->closing) return;
  if (status < 0) {
    fail(h, BERTH_EUNAVAIL, "connect to docker", uv_strerror(status));
    return;
  }
  uv_buf_t b = uv_buf_init(h->request, (unsigned)strlen(h->request));
  h->write.data = h;
  int rc = uv_write(&h->write, (uv_stream_t *)&h->pipe, &b, 1, write_cb);
  if (rc == 0) rc = uv_read_start((uv_stream_t *)&h->pipe, alloc_cb, read_cb);
  if (rc < 0) fail(h, BERTH_EUNAVAIL, "write to docker", uv_strerror(rc));
}

static void timeout_cb(uv_timer_t *t) {
  berth_hijack *h = t->data;
  fail(h, BERTH_EUNAVAIL, "docker did not answer", "no answer head within 30s");
}

berth_hijack *berth_hijack_start(berth_docker *d, const char *path, json_t *body, berth_hijack_cb cb, void *data) {
  berth_hijack *h = berth_calloc(1, sizeof(*h));
  uv_loop_t *loop = berth_docker_loop(d);
  h->cb = cb;
  h->data = data;
  berth_http_head_init(&h->head);
  cleanup_free char *text = body ? json_dumps(body, JSON_COMPACT) : berth_strdup("");
  const char *version = berth_docker_version(d);
  cleanup_free char *prefix = *version ? berth_asprintf("/v%s", version) : berth_strdup("");
  h->request = berth_asprintf(
      "POST %s%s HTTP/1.1\r\n"
      "Host: docker\r\n"
      "User-Agent: berthd\r\n"
      "Content-Type: application/json\r\n"
      "Connection: Upgrade\r\n"
      "Upgrade: tcp\r\n"
      "Content-Length: %zu\r\n"
      "\r\n%s",
      prefix, path, strlen(text), text);
  uv_pipe_init(loop, &h->pipe, 0);
  h->pipe.data = h;
  uv_timer_init(loop, &h->timer);
  h->timer.data = h;
  h->open_handles = 2;
  uv_timer_start(&h->timer, timeout_cb, BERTH_HIJACK_HEAD_TIMEOUT_MS, 0);
  h->connect.data = h;
  uv_pipe_connect(&h->connect, &h->pipe, berth_docker_socket_path(d), connect_cb);
  return h;
}
