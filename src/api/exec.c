#include "api/exec.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "containerizer/session.h"
#include "containerizer/spec.h"
#include "util/alloc.h"
#include "util/frame.h"
#include "util/log.h"

#define READ_BUF 16384
/* Of an error frame's text. */
#define ERROR_TEXT_MAX 512
/* The last output bytes kept, for docker's reason when a command never
 * started. */
#define TAIL_MAX 256

typedef struct api_session {
  berth_api *api;
  berth_http_request *req; /* until answered */
  berth_cz_session *cz;
  berth_http_upgraded *up;
  uv_pipe_t client;
  bool client_open; /* client handle initialised */
  bool exec, tty, stdin_open;
  char *docker_extra; /* stream bytes that came with docker's 101 */
  size_t docker_extra_len;
  berth_unframe unframe;
  char tail[TAIL_MAX + 1];
  size_t tail_len;
  bool docker_eof, docker_paused, client_paused, stdin_closed;
  bool ending, closing;
  char cbuf[READ_BUF], dbuf[READ_BUF];
  struct api_session *next, *prev;
} api_session;

typedef struct wreq {
  uv_write_t w;
  api_session *s;
  bool to_client;
  char data[];
} wreq;

static uv_stream_t *docker_stream(api_session *s) { return berth_cz_session_stream(s->cz); }
static uv_stream_t *client_stream(api_session *s) { return (uv_stream_t *)&s->client; }

static void session_free(api_session *s) {
  free(s->docker_extra);
  free(s);
}

static void client_closed_cb(uv_handle_t *handle) {
  api_session *s = handle->data;
  berth_http_upgraded_close(s->up);
  session_free(s);
}

/* Ends the session at once, whatever its state: the docker side is
 * closed (an exec runs on to its own end, as docker's does when its
 * client goes), the client's connection too. */
static void finish(api_session *s) {
  if (s->closing) return;
  s->closing = true;
  berth_cz_session_close(s->cz);
  s->cz = NULL;
  if (s->prev)
    s->prev->next = s->next;
  else if (s->api->sessions == s)
    s->api->sessions = s->next;
  if (s->next) s->next->prev = s->prev;
  if (s->client_open) {
    uv_close((uv_handle_t *)&s->client, client_closed_cb);
  } else {
    berth_http_upgraded_close(s->up);
    session_free(s);
  }
}

static void docker_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void client_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void alloc_docker_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  api_session *s = handle->data;
  *buf = uv_buf_init(s->dbuf, sizeof(s->dbuf));
}

static void alloc_client_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  api_session *s = handle->data;
  *buf = uv_buf_init(s->cbuf, sizeof(s->cbuf));
}

static void write_cb(uv_write_t *w, int status) {
  wreq *r = (wreq *)w;
  api_session *s = r->s;
  bool to_client = r->to_client;
  free(r);
  /* Cancelled: the session is closing and may be gone already. */
  if (status == UV_ECANCELED || s->closing) return;
  if (status < 0) {
    if (to_client) {
      log_debug("exec session: client went away (%s)", uv_strerror(status));
      finish(s);
    } else {
      /* The command no longer reads its stdin: what comes is dropped. */
      s->stdin_closed = true;
    }
    return;
  }
  /* Backpressure: the side that fed this queue reads again once it
   * drained enough. */
  if (to_client && s->docker_paused && !s->docker_eof &&
      uv_stream_get_write_queue_size(client_stream(s)) < BERTH_SESSION_QUEUE_LOW) {
    s->docker_paused = false;
    uv_read_start(docker_stream(s), alloc_docker_cb, docker_read_cb);
  }
  if (!to_client && s->client_paused && uv_stream_get_write_queue_size(docker_stream(s)) < BERTH_SESSION_QUEUE_LOW) {
    s->client_paused = false;
    uv_read_start(client_stream(s), alloc_client_cb, client_read_cb);
  }
}

/* Queues bytes for one side (a frame header first when stream > 0). */
static void send_to(api_session *s, bool to_client, int stream, const char *buf, size_t len) {
  size_t head = stream > 0 ? BERTH_FRAME_HEADER : 0;
  wreq *r = berth_malloc(sizeof(*r) + head + len);
  r->s = s;
  r->to_client = to_client;
  if (head) berth_frame_header((unsigned char *)r->data, stream, (uint32_t)len);
  memcpy(r->data + head, buf, len);
  uv_stream_t *dst = to_client ? client_stream(s) : docker_stream(s);
  uv_buf_t b = uv_buf_init(r->data, (unsigned)(head + len));
  int rc = uv_write(&r->w, dst, &b, 1, write_cb);
  if (rc < 0) {
    free(r);
    if (to_client)
      finish(s);
    else
      s->stdin_closed = true;
    return;
  }
  if (to_client && !s->docker_paused && !s->docker_eof &&
      uv_stream_get_write_queue_size(dst) > BERTH_SESSION_QUEUE_HIGH) {
    s->docker_paused = true;
    uv_read_stop(docker_stream(s));
  }
  if (!to_client && !s->client_paused && uv_stream_get_write_queue_size(dst) > BERTH_SESSION_QUEUE_HIGH) {
    s->client_paused = true;
    uv_read_stop(client_stream(s));
  }
}

static void send_error(api_session *s, const char *msg) {
  size_t n = strnlen(msg, ERROR_TEXT_MAX);
  send_to(s, true, BERTH_FRAME_ERROR, msg, n);
}

/* Shutdown requests live on the heap: one still pending when its handle
 * closes is called back (cancelled) after the session may be gone. */
static void client_shutdown_cb(uv_shutdown_t *req, int status) {
  api_session *s = req->data;
  free(req);
  if (status == UV_ECANCELED) return;
  finish(s);
}

/* Everything is queued: the client sees its end after the last byte. */
static void end_gracefully(api_session *s) {
  if (s->closing) return;
  uv_shutdown_t *req = berth_malloc(sizeof(*req));
  req->data = s;
  if (uv_shutdown(req, client_stream(s), client_shutdown_cb) < 0) {
    free(req);
    finish(s);
  }
}

static void keep_tail(api_session *s, const char *buf, size_t len) {
  if (len >= TAIL_MAX) {
    memcpy(s->tail, buf + len - TAIL_MAX, TAIL_MAX);
    s->tail_len = TAIL_MAX;
  } else {
    size_t keep = s->tail_len + len > TAIL_MAX ? TAIL_MAX - len : s->tail_len;
    memmove(s->tail, s->tail + s->tail_len - keep, keep);
    memcpy(s->tail + keep, buf, len);
    s->tail_len = keep + len;
  }
  s->tail[s->tail_len] = '\0';
}

/* docker's exec ends 126 both for a command not found and one not
 * executable; docker run (and a shell) say 127 for the first.  Only for
 * a command that never started (no pid), so nothing a running command
 * prints can change its code. */
static int docker_convention(api_session *s, int code, bool started) {
  if (code != 126 || started) return code;
  for (size_t i = 0; i < s->tail_len; i++)
    if (!s->tail[i]) s->tail[i] = ' ';
  if (strstr(s->tail, "executable file not found") || strstr(s->tail, "no such file or directory")) return 127;
  return code;
}

static void exit_code_cb(int rc, int code, bool started, const berth_error *err, void *data) {
  api_session *s = data;
  code = docker_convention(s, code, started);
  if (rc < 0) {
    send_error(s, err->msg);
  } else {
    char text[64];
    int n = snprintf(text, sizeof(text), "{\"exit_code\":%d}", code);
    send_to(s, true, BERTH_FRAME_EXIT, text, (size_t)n);
  }
  if (!s->closing) end_gracefully(s);
}

/* docker's side ended (the command's streams closed). */
static void docker_ended(api_session *s) {
  if (s->ending || s->closing) return;
  s->ending = true;
  s->docker_eof = true;
  uv_read_stop(docker_stream(s));
  if (s->exec)
    berth_cz_session_exit_code(s->cz, exit_code_cb, s);
  else
    end_gracefully(s);
}

static int unframe_cb(int stream, const char *buf, size_t len, int last, void *data) {
  api_session *s = data;
  /* docker's own stream numbers: 1, 2, and 3 for its errors; never ours. */
  if (stream == BERTH_FRAME_EXIT) return BERTH_EINVAL;
  if (len) {
    keep_tail(s, buf, len);
    send_to(s, true, stream, buf, len);
  }
  return s->closing ? BERTH_ECANCELED : 0;
}

static void from_docker(api_session *s, const char *buf, size_t len) {
  if (!len || s->closing) return;
  if (s->exec && !s->tty) {
    berth_error err = {0};
    if (berth_unframe_feed(&s->unframe, buf, len, &err) < 0 && !s->closing) {
      send_error(s, "docker sent a malformed stream");
      if (!s->closing) docker_ended(s);
    }
    return;
  }
  /* A terminal merges the command's output: one stream, raw bytes. */
  keep_tail(s, buf, len);
  send_to(s, true, BERTH_FRAME_STDOUT, buf, len);
}

static void docker_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  api_session *s = stream->data;
  if (s->closing || nread == 0) return;
  if (nread < 0) {
    if (nread != UV_EOF) log_debug("exec session: docker stream: %s", uv_strerror((int)nread));
    docker_ended(s);
    return;
  }
  from_docker(s, buf->base, (size_t)nread);
}

/* Nothing waits for the half-close to docker. */
static void docker_shutdown_cb(uv_shutdown_t *req, int status) { free(req); }

static void client_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  api_session *s = stream->data;
  if (s->closing || nread == 0) return;
  if (nread == UV_EOF) {
    /* The client half-closed (its stdin ended) or left; which one shows
     * when its side is written to.  The command's stdin ends either way. */
    uv_read_stop(stream);
    if (s->stdin_open && !s->stdin_closed && !s->docker_eof) {
      s->stdin_closed = true;
      uv_shutdown_t *req = berth_malloc(sizeof(*req));
      if (uv_shutdown(req, docker_stream(s), docker_shutdown_cb) < 0) {
        free(req);
        log_debug("exec session: cannot half-close docker's stream");
      }
    }
    return;
  }
  if (nread < 0) {
    log_debug("exec session: client went away (%s)", uv_strerror((int)nread));
    finish(s);
    return;
  }
  if (s->stdin_open && !s->stdin_closed && !s->docker_eof) send_to(s, false, 0, buf->base, (size_t)nread);
}

static void stop_cb(void *data) {
  api_session *s = data;
  s->up = NULL; /* the server closes it */
  finish(s);
}

static void upgraded_cb(berth_http_upgraded *u, int fd, const char *extra, size_t extra_len, void *data) {
  api_session *s = data;
  s->up = u;
  if (!u || s->closing) {
    if (fd >= 0) close(fd);
    finish(s);
    return;
  }
  uv_pipe_init(s->api->loop, &s->client, 0);
  s->client.data = s;
  s->client_open = true;
  if (uv_pipe_open(&s->client, fd) < 0) {
    close(fd);
    finish(s);
    return;
  }
  docker_stream(s)->data = s;
  from_docker(s, s->docker_extra, s->docker_extra_len);
  if (s->closing) return;
  if (extra_len && s->stdin_open) send_to(s, false, 0, extra, extra_len);
  if (s->closing) return;
  uv_read_start(client_stream(s), alloc_client_cb, client_read_cb);
  uv_read_start(docker_stream(s), alloc_docker_cb, docker_read_cb);
}

static void opened_cb(int rc, const berth_error *err, const char *extra, size_t len, void *data) {
  api_session *s = data;
  berth_http_request *req = s->req;
  s->req = NULL;
  if (rc < 0) {
    berth_http_respond_error(req, berth_code_http_status(rc), err->msg);
    finish(s);
    return;
  }
  if (len) {
    s->docker_extra = berth_malloc(len);
    memcpy(s->docker_extra, extra, len);
    s->docker_extra_len = len;
  }
  berth_http_respond_upgrade(req, "tcp", upgraded_cb, stop_cb, s);
}

void berth_api_sessions_forget(berth_api *api, berth_http_request *req) {
  for (api_session *s = api->sessions; s; s = s->next) {
    if (s->req != req) continue;
    s->req = NULL;
    finish(s);
    return;
  }
}

/* ---- the calls ---- */

static const char *get_string(json_t *obj, const char *key, const char *field, bool *bad, berth_error *err) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return NULL;
  if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
    *bad = true;
    berth_error_set(err, BERTH_EINVAL, "%s: must be a string without NUL", field);
    return NULL;
  }
  return json_string_value(v);
}

static int get_bool(json_t *obj, const char *key, const char *field, bool *out, berth_error *err) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v)) return berth_error_set(err, BERTH_EINVAL, "%s: must be a boolean", field);
  *out = json_is_true(v);
  return 0;
}

/* exec.command, a CommandInfo as launch's: shell → /bin/sh -c value;
 * else value then arguments are the argv. */
static int exec_argv(json_t *command, json_t **argv, berth_error *err) {
  *argv = NULL;
  if (!json_is_object(command)) return berth_error_set(err, BERTH_EINVAL, "exec.command: required object");
  bool shell = true, bad = false;
  if (get_bool(command, "shell", "exec.command.shell", &shell, err) < 0) return err->code;
  const char *value = get_string(command, "value", "exec.command.value", &bad, err);
  if (bad) return err->code;
  json_t *args = json_object_get(command, "arguments");
  if (args && !json_is_null(args) && !json_is_array(args))
    return berth_error_set(err, BERTH_EINVAL, "exec.command.arguments: must be an array of strings");
  json_t *out = json_array();
  if (shell) {
    if (!value) {
      json_decref(out);
      return berth_error_set(err, BERTH_EINVAL, "exec.command.value: required when shell is true");
    }
    json_array_append_new(out, json_string("/bin/sh"));
    json_array_append_new(out, json_string("-c"));
    json_array_append_new(out, json_string(value));
  } else {
    if (value) json_array_append_new(out, json_string(value));
    size_t i;
    json_t *a;
    json_array_foreach(args, i, a) {
      if (!json_is_string(a) || strlen(json_string_value(a)) != json_string_length(a)) {
        json_decref(out);
        return berth_error_set(err, BERTH_EINVAL, "exec.command.arguments[%zu]: must be a string without NUL", i);
      }
      json_array_append(out, a);
    }
  }
  if (json_array_size(out) == 0) {
    json_decref(out);
    return berth_error_set(err, BERTH_EINVAL, "exec.command: no command to run (value or arguments)");
  }
  *argv = out;
  return 0;
}

static int exec_env(json_t *command, json_t **env, berth_error *err) {
  *env = NULL;
  json_t *vars = json_object_get(json_object_get(command, "environment"), "variables");
  if (!vars || json_is_null(vars)) return 0;
  if (!json_is_array(vars))
    return berth_error_set(err, BERTH_EINVAL, "exec.command.environment.variables: must be an array");
  json_t *out = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(vars, i, v) {
    bool bad = false;
    const char *name = get_string(v, "name", "exec.command.environment.variables[].name", &bad, err);
    const char *value = bad ? NULL : get_string(v, "value", "exec.command.environment.variables[].value", &bad, err);
    if (!bad && (!name || !*name || strchr(name, '='))) {
      bad = true;
      berth_error_set(err, BERTH_EINVAL, "exec.command.environment.variables[%zu].name: required, without '='", i);
    }
    if (bad) {
      json_decref(out);
      return err->code;
    }
    json_array_append_new(out, json_sprintf("%s=%s", name, value ? value : ""));
  }
  *env = out;
  return 0;
}

static int window_size(json_t *obj, unsigned *rows, unsigned *cols, berth_error *err) {
  json_t *ws = json_object_get(json_object_get(obj, "tty_info"), "window_size");
  if (!ws || json_is_null(ws)) return 0;
  json_t *r = json_object_get(ws, "rows"), *c = json_object_get(ws, "columns");
  if (!json_is_integer(r) || !json_is_integer(c) || json_integer_value(r) < 1 || json_integer_value(r) > 65535 ||
      json_integer_value(c) < 1 || json_integer_value(c) > 65535)
    return berth_error_set(err, BERTH_EINVAL, "exec.tty_info.window_size: rows and columns must be 1..65535");
  *rows = (unsigned)json_integer_value(r);
  *cols = (unsigned)json_integer_value(c);
  return 0;
}

static api_session *session_new(berth_api *api, berth_http_request *req) {
  api_session *s = berth_calloc(1, sizeof(*s));
  s->api = api;
  s->req = req;
  berth_unframe_init(&s->unframe, unframe_cb, s);
  return s;
}

static void session_link(api_session *s) {
  s->next = s->api->sessions;
  if (s->next) s->next->prev = s;
  s->api->sessions = s;
  /* While the docker side opens, a client that leaves is forgotten. */
  berth_http_set_abandonable(s->req, true);
}

static bool upgrade_ok(berth_http_request *req, const char *call) {
  const char *up = berth_http_upgrade_requested(req);
  if (up && !strcasecmp(up, "tcp")) return true;
  char msg[160];
  snprintf(msg, sizeof(msg), "%s needs an upgraded connection: send 'Connection: Upgrade' and 'Upgrade: tcp'", call);
  berth_http_respond_error(req, 400, msg);
  return false;
}

void berth_api_exec(berth_api *api, berth_http_request *req, json_t *obj) {
  berth_error err = {0};
  char id[BERTH_ID_MAX + 1];
  json_t *command = json_object_get(obj, "command");
  json_t *argv = NULL, *env = NULL;
  berth_cz_exec_opts opts = {0};
  bool bad = false;
  int rc = berth_spec_container_id(obj, id, &err);
  if (rc == 0) rc = exec_argv(command, &argv, &err);
  if (rc == 0) rc = exec_env(command, &env, &err);
  if (rc == 0) {
    opts.user = get_string(command, "user", "exec.command.user", &bad, &err);
    if (!bad) opts.workdir = get_string(obj, "working_dir", "exec.working_dir", &bad, &err);
    if (bad) rc = err.code;
  }
  if (rc == 0 &&
      (get_bool(obj, "stdin", "exec.stdin", &opts.stdin_open, &err) < 0 ||
       get_bool(obj, "tty", "exec.tty", &opts.tty, &err) < 0 || window_size(obj, &opts.rows, &opts.cols, &err) < 0))
    rc = err.code;
  if (rc < 0 || !upgrade_ok(req, "EXEC")) {
    if (rc < 0) berth_http_respond_error(req, berth_code_http_status(rc), err.msg);
    json_decref(argv);
    json_decref(env);
    return;
  }
  opts.cmd = argv;
  opts.env = env;
  api_session *s = session_new(api, req);
  s->exec = true;
  s->tty = opts.tty;
  s->stdin_open = opts.stdin_open;
  rc = berth_cz_exec_open(api->cz, id, &opts, opened_cb, s, &s->cz, &err);
  json_decref(argv);
  json_decref(env);
  if (rc < 0) {
    session_free(s);
    berth_http_respond_error(req, berth_code_http_status(rc), err.msg);
    return;
  }
  session_link(s);
}

void berth_api_attach_input(berth_api *api, berth_http_request *req, json_t *obj) {
  berth_error err = {0};
  char id[BERTH_ID_MAX + 1];
  int rc = berth_spec_container_id(obj, id, &err);
  if (rc < 0) {
    berth_http_respond_error(req, berth_code_http_status(rc), err.msg);
    return;
  }
  if (!upgrade_ok(req, "ATTACH_CONTAINER_INPUT")) return;
  api_session *s = session_new(api, req);
  s->stdin_open = true;
  if ((rc = berth_cz_attach_input_open(api->cz, id, opened_cb, s, &s->cz, &err)) < 0) {
    session_free(s);
    berth_http_respond_error(req, berth_code_http_status(rc), err.msg);
    return;
  }
  session_link(s);
}
