#include "containerizer/session.h"

#include <stdlib.h>
#include <string.h>

#include "containerizer/container.h"
#include "docker/api.h"
#include "docker/hijack.h"
#include "util/alloc.h"
#include "util/log.h"

struct berth_cz_session {
  berth_containerizer *cz;
  char *ref;     /* the docker container */
  char *exec_id; /* exec only, once created */
  bool tty;
  unsigned rows, cols;
  berth_docker_req *req; /* create, resize or inspect in flight */
  berth_hijack *hijack;
  berth_cz_session_cb cb;
  void *data;
  char *extra; /* stream bytes that came with docker's 101, held over a resize */
  size_t extra_len;
  berth_cz_exit_cb exit_cb;
  void *exit_data;
  int tries;
  uv_timer_t timer; /* exit code retries */
  bool closed;
};

static void timer_closed_cb(uv_handle_t *handle) {
  berth_cz_session *s = handle->data;
  free(s->ref);
  free(s->exec_id);
  free(s->extra);
  free(s);
}

/* The docker request's state is the session itself, freed by the timer's
 * close only: a request never outlives close (it is cancelled there). */
static berth_cz_session *session_new(berth_containerizer *cz, const char *ref, berth_cz_session_cb cb, void *data) {
  berth_cz_session *s = berth_calloc(1, sizeof(*s));
  s->cz = cz;
  s->ref = berth_strdup(ref);
  s->cb = cb;
  s->data = data;
  uv_timer_init(cz->loop, &s->timer);
  s->timer.data = s;
  return s;
}

void berth_cz_session_close(berth_cz_session *s) {
  if (!s || s->closed) return;
  s->closed = true;
  berth_docker_cancel(s->req);
  s->req = NULL;
  berth_hijack_close(s->hijack);
  s->hijack = NULL;
  uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->timer, timer_closed_cb);
}

uv_stream_t *berth_cz_session_stream(berth_cz_session *s) { return berth_hijack_stream(s->hijack); }

static void report(berth_cz_session *s, int rc, const berth_error *err, const char *extra, size_t len) {
  berth_cz_session_cb cb = s->cb;
  s->cb = NULL;
  if (cb) cb(rc, err, extra, len, s->data);
}

static void resize_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  berth_cz_session *s = data;
  s->req = NULL;
  /* The session goes on at docker's default size: nothing to undo. */
  if (rc < 0) log_debug("exec %s: resize: %s", s->exec_id, err->msg);
  report(s, 0, NULL, s->extra, s->extra_len);
}

static void started_cb(int rc, const berth_error *err, const char *extra, size_t len, void *data) {
  berth_cz_session *s = data;
  if (rc < 0) {
    berth_error e = {0};
    berth_error_set(&e, rc, "start exec in '%s': %s", s->ref, err->msg);
    report(s, rc, &e, NULL, 0);
    return;
  }
  /* docker waits for the exec to run before it resizes it.  The session
   * is reported open only then, so nothing the client types reaches a
   * command that would still see docker's default size (API 1.41 has no
   * size at start: a command that asks at its very first instant may). */
  if (s->exec_id && s->tty && s->rows && s->cols) {
    if (len) {
      s->extra = berth_malloc(len);
      memcpy(s->extra, extra, len);
      s->extra_len = len;
    }
    s->req = berth_docker_exec_resize(s->cz->docker, s->exec_id, s->rows, s->cols, resize_cb, s);
    return;
  }
  report(s, 0, NULL, extra, len);
}

static void created_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  berth_cz_session *s = data;
  s->req = NULL;
  const char *exec_id = json_string_value(json_object_get(answer, "Id"));
  if (rc == 0 && !exec_id) {
    berth_error e = {0};
    berth_error_set(&e, BERTH_EDOCKER, "create exec in '%s': docker's answer has no Id", s->ref);
    report(s, e.code, &e, NULL, 0);
    return;
  }
  if (rc < 0) {
    berth_error e = {0};
    berth_error_set(&e, rc, "create exec in '%s': %s", s->ref, err->msg);
    report(s, rc, &e, NULL, 0);
    return;
  }
  s->exec_id = berth_strdup(exec_id);
  cleanup_free char *path = berth_asprintf("/exec/%s/start", s->exec_id);
  json_t *body = json_pack("{s:b,s:b}", "Detach", 0, "Tty", s->tty);
  s->hijack = berth_hijack_start(s->cz->docker, path, body, started_cb, s);
  json_decref(body);
}

static container *running(berth_containerizer *cz, const char *id, berth_error *err) {
  container *c = cz_lookup(cz, id, err);
  if (!c) return NULL;
  if (c->stage != BERTH_STAGE_RUNNING || !c->docker_created) {
    berth_error_set(err, BERTH_ECONFLICT, "container '%s' is not running (stage %s)", id, berth_stage_name(c->stage));
    return NULL;
  }
  return c;
}

int berth_cz_exec_open(berth_containerizer *cz, const char *id, const berth_cz_exec_opts *opts, berth_cz_session_cb cb,
                       void *data, berth_cz_session **out, berth_error *err) {
  *out = NULL;
  container *c = running(cz, id, err);
  if (!c) return err->code;
  json_t *config = json_pack("{s:b,s:b,s:b,s:b,s:O}", "AttachStdin", opts->stdin_open, "AttachStdout", 1,
                             "AttachStderr", 1, "Tty", opts->tty, "Cmd", opts->cmd);
  if (opts->env) json_object_set(config, "Env", opts->env);
  if (opts->user) json_object_set_new(config, "User", json_string(opts->user));
  if (opts->workdir) json_object_set_new(config, "WorkingDir", json_string(opts->workdir));
  berth_cz_session *s = session_new(cz, c->docker_id ? c->docker_id : c->docker_name, cb, data);
  s->tty = opts->tty;
  s->rows = opts->rows;
  s->cols = opts->cols;
  s->req = berth_docker_exec_create(cz->docker, s->ref, config, created_cb, s);
  json_decref(config);
  *out = s;
  return 0;
}

int berth_cz_attach_input_open(berth_containerizer *cz, const char *id, berth_cz_session_cb cb, void *data,
                               berth_cz_session **out, berth_error *err) {
  *out = NULL;
  container *c = running(cz, id, err);
  if (!c) return err->code;
  if (!c->spec.stdin_open)
    return berth_error_set(err, BERTH_ECONFLICT,
                           "container '%s' was not launched with container.docker.stdin: its stdin is closed", id);
  berth_cz_session *s = session_new(cz, c->docker_id ? c->docker_id : c->docker_name, cb, data);
  cleanup_free char *path = berth_asprintf("/containers/%s/attach?stream=1&stdin=1&stdout=0&stderr=0", s->ref);
  s->hijack = berth_hijack_start(cz->docker, path, NULL, started_cb, s);
  *out = s;
  return 0;
}

static void inspect_exit(berth_cz_session *s);

static void exit_report(berth_cz_session *s, int rc, int code, bool started, const berth_error *err) {
  berth_cz_exit_cb cb = s->exit_cb;
  s->exit_cb = NULL;
  if (cb) cb(rc, code, started, err, s->exit_data);
}

static void retry_cb(uv_timer_t *t) { inspect_exit(t->data); }

static void inspected_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  berth_cz_session *s = data;
  s->req = NULL;
  if (rc < 0) {
    berth_error e = {0};
    berth_error_set(&e, rc, "inspect exec: %s", err->msg);
    exit_report(s, rc, -1, false, &e);
    return;
  }
  json_t *code = json_object_get(answer, "ExitCode");
  if (json_is_true(json_object_get(answer, "Running")) || !json_is_integer(code)) {
    if (++s->tries < BERTH_EXEC_EXIT_TRIES) {
      uv_timer_start(&s->timer, retry_cb, BERTH_EXEC_EXIT_RETRY_MS, 0);
      return;
    }
    berth_error e = {0};
    berth_error_set(&e, BERTH_EDOCKER, "exec's stream ended but docker still reports it running");
    exit_report(s, e.code, -1, false, &e);
    return;
  }
  json_t *pid = json_object_get(answer, "Pid");
  exit_report(s, 0, (int)json_integer_value(code), !json_is_integer(pid) || json_integer_value(pid) != 0, NULL);
}

static void inspect_exit(berth_cz_session *s) {
  berth_docker_cancel(s->req); /* a resize still in flight: moot now */
  s->req = berth_docker_exec_inspect(s->cz->docker, s->exec_id, inspected_cb, s);
}

void berth_cz_session_exit_code(berth_cz_session *s, berth_cz_exit_cb cb, void *data) {
  s->exit_cb = cb;
  s->exit_data = data;
  s->tries = 0;
  if (!s->exec_id) {
    berth_error e = {0};
    berth_error_set(&e, BERTH_EINTERNAL, "not an exec session");
    exit_report(s, e.code, -1, false, &e);
    return;
  }
  inspect_exit(s);
}
