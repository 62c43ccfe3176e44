#include "containerizer/health.h"

#include <stdlib.h>
#include <string.h>

#include "containerizer/health_probe.h"
#include "containerizer/termination.h"
#include "docker/api.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/text.h"

/* Bytes of a check command's output kept for the failure message. */
#define OUTPUT_KEEP 200

typedef enum { H_STARTING, H_HEALTHY, H_UNHEALTHY } h_status;
static const char *const status_names[] = {"STARTING", "HEALTHY", "UNHEALTHY"};

typedef enum { OUTCOME_HEALTHY, OUTCOME_FAILED, OUTCOME_SKIPPED } outcome;

struct cz_health {
  uv_timer_t timer;   /* the next check */
  uv_timer_t timeout; /* the running check's timeout */
  h_status status;
  int failures;
  char *last_message;
  bool ever_healthy; /* ends the grace period */
  bool running;      /* a check is under way (not yet decided) */
  /* COMMAND */
  berth_docker_req *req; /* exec create, start or inspect */
  char *exec_id;         /* the running check's exec */
  char *lingering;       /* an exec that outlived its timeout */
  char out[OUTPUT_KEEP];
  size_t out_len;
  /* HTTP and TCP: a probe thread holds token until it answers, even
   * after the check timed out. */
  bool probe_running;
  uint64_t token;
  int starttime_pid;
  unsigned long long starttime;
  /* failures destroyed the container */
  bool killed;
  char *kill_message;
};

static const berth_health_spec *hspec(const container *c) { return &c->spec.health; }

void cz_health_init(container *c) {
  if (hspec(c)->type == BERTH_HEALTH_NONE) return;
  cz_health *h = berth_calloc(1, sizeof(*h));
  uv_timer_init(c->cz->loop, &h->timer);
  uv_timer_init(c->cz->loop, &h->timeout);
  h->timer.data = h->timeout.data = c;
  c->open_handles += 2;
  c->health = h;
}

static uint64_t secs_to_ms(double secs) {
  double ms = secs * 1000.0;
  return ms <= 0 ? 0 : ms > 1e15 ? (uint64_t)1e15 : (uint64_t)ms;
}

static void check_cb(uv_timer_t *timer);

void cz_health_arm(container *c) {
  cz_health *h = c->health;
  if (!h || c->stage != BERTH_STAGE_RUNNING || h->killed) return;
  double left = c->running_at + hspec(c)->delay - cz_now_secs();
  uv_timer_start(&h->timer, check_cb, secs_to_ms(left), 0);
}

static void drop_exec(cz_health *h) {
  berth_docker_cancel(h->req);
  h->req = NULL;
  free(h->exec_id);
  h->exec_id = NULL;
}

void cz_health_stop(container *c) {
  cz_health *h = c->health;
  if (!h) return;
  uv_timer_stop(&h->timer);
  uv_timer_stop(&h->timeout);
  drop_exec(h);
  h->running = false;
  h->probe_running = false;
  /* A probe thread still running owns its job; its result finds no
   * check waiting and is dropped. */
  h->token = 0;
}

void cz_health_close(container *c, uv_close_cb cb) {
  if (!c->health) return;
  uv_close((uv_handle_t *)&c->health->timer, cb);
  uv_close((uv_handle_t *)&c->health->timeout, cb);
}

void cz_health_free(container *c) {
  cz_health *h = c->health;
  if (!h) return;
  free(h->exec_id);
  free(h->lingering);
  free(h->last_message);
  free(h->kill_message);
  free(h);
  c->health = NULL;
}

json_t *cz_health_json(container *c) {
  cz_health *h = c->health;
  if (!h) return NULL;
  json_t *j = json_object();
  json_object_set_new(j, "status", json_string(status_names[h->status]));
  json_object_set_new(j, "consecutive_failures", json_integer(h->failures));
  if (h->last_message) json_object_set_new(j, "last_message", berth_json_text(h->last_message));
  return j;
}

json_t *cz_health_termination(container *c, json_t *t) {
  cz_health *h = c->health;
  if (!h || !h->killed) return t;
  const char *reason = json_string_value(json_object_get(t, "reason"));
  if (reason && !strcmp(reason, BERTH_REASON_MEMORY)) return t;
  json_object_set_new(t, "state", json_string("TASK_KILLED"));
  json_object_set_new(t, "reason", json_string(BERTH_REASON_HEALTH_CHECK));
  json_object_set_new(t, "message", berth_json_text(h->kill_message ? h->kill_message : "health check failed"));
  return t;
}

/* ---- deciding ---- */

static void emit_health(container *c) {
  json_t *j = cz_health_json(c);
  cz_emit_health(c, j);
  json_decref(j);
}

/* Ends the running check; msg may be NULL for a success. */
static void finish(container *c, outcome result, const char *msg) {
  cz_health *h = c->health;
  const berth_health_spec *spec = hspec(c);
  uv_timer_stop(&h->timeout);
  h->running = false;
  /* The task ended on its own meanwhile: its exit, not this check, is the
   * news (a check failing on a stopped container must not turn its end
   * into a kill). */
  if (c->stage != BERTH_STAGE_RUNNING || c->cap.exited) return;
  if (result != OUTCOME_SKIPPED) c->cz->metrics.health_checks[result == OUTCOME_HEALTHY ? 0 : 1]++;
  h_status old_status = h->status;
  int old_failures = h->failures;
  if (msg) {
    free(h->last_message);
    h->last_message = berth_strdup(msg);
  }
  if (result == OUTCOME_HEALTHY) {
    h->ever_healthy = true;
    h->failures = 0;
    h->status = H_HEALTHY;
  } else if (result == OUTCOME_FAILED) {
    bool in_grace = !h->ever_healthy && cz_now_secs() < c->running_at + spec->grace;
    if (in_grace) {
      log_debug("container %s: health check failed within the grace period: %s", c->id, msg);
    } else {
      h->failures++;
      h->status = H_UNHEALTHY;
      log_info("container %s: health check failed (%d of %d): %s", c->id, h->failures, spec->consecutive_failures, msg);
    }
  } else {
    log_debug("container %s: health check skipped: %s", c->id, msg ? msg : "");
  }
  if (h->status != old_status || h->failures != old_failures) emit_health(c);
  if (h->failures >= spec->consecutive_failures) {
    h->killed = true;
    h->kill_message = berth_strdup(msg ? msg : "health check failed");
    log_warn("container %s: %d consecutive health check failures; destroying it", c->id, h->failures);
    cz_begin_destroy(c); /* leaves RUNNING: cz_health_stop */
    return;
  }
  uv_timer_start(&h->timer, check_cb, secs_to_ms(spec->interval), 0);
}

/* Docker errors that say nothing of the task's health: dockerd did not
 * answer (never call a container dead for that), or the container is not
 * running (its exit is reported by the watcher). */
static outcome docker_outcome(int rc) {
  return rc == BERTH_EUNAVAIL || rc == BERTH_ECONFLICT || rc == BERTH_ENOENT ? OUTCOME_SKIPPED : OUTCOME_FAILED;
}

static void timeout_cb(uv_timer_t *timer) {
  container *c = timer->data;
  cz_health *h = c->health;
  if (!h->running) return;
  /* The command may still run inside the container: its exec is kept and
   * looked at before the next check, so checks never pile up. */
  if (h->exec_id) {
    free(h->lingering);
    h->lingering = h->exec_id;
    h->exec_id = NULL;
  }
  drop_exec(h);
  char msg[128];
  snprintf(msg, sizeof(msg), "health check timed out after %g seconds", hspec(c)->timeout);
  finish(c, OUTCOME_FAILED, msg);
}

/* ---- COMMAND: exec create, start (its output), inspect ---- */

static void start_exec(container *c);

static void exec_inspect_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  cz_health *h = c->health;
  h->req = NULL;
  if (rc < 0) {
    cleanup_free char *msg = berth_asprintf("inspect the health check command: %s", err->msg);
    drop_exec(h);
    finish(c, docker_outcome(rc), msg);
    return;
  }
  json_t *code = json_object_get(answer, "ExitCode");
  if (json_is_true(json_object_get(answer, "Running")) || !json_is_integer(code)) {
    /* Its stream ended but it runs on: treat it as past its time. */
    free(h->lingering);
    h->lingering = h->exec_id;
    h->exec_id = NULL;
    finish(c, OUTCOME_FAILED, "health check command's output ended while it still ran");
    return;
  }
  drop_exec(h);
  long long status = json_integer_value(code);
  if (status == 0) {
    finish(c, OUTCOME_HEALTHY, NULL);
    return;
  }
  /* The task's bytes: control characters become spaces, the trailing
   * ones go; berth_json_text makes the rest valid UTF-8 when reported. */
  for (size_t i = 0; i < h->out_len; i++)
    if ((unsigned char)h->out[i] < 0x20 || h->out[i] == 0x7f) h->out[i] = ' ';
  while (h->out_len > 0 && h->out[h->out_len - 1] == ' ') h->out_len--;
  cleanup_free char *msg = berth_asprintf("health check command exited with status %lld%s%.*s", status,
                                          h->out_len ? ": " : "", (int)h->out_len, h->out);
  finish(c, OUTCOME_FAILED, msg);
}

static int exec_output_cb(int stream, const char *buf, size_t len, void *data) {
  container *c = data;
  cz_health *h = c->health;
  size_t room = sizeof(h->out) - h->out_len;
  if (len > room) len = room;
  memcpy(h->out + h->out_len, buf, len);
  h->out_len += len;
  return 0; /* the rest is read and dropped: the stream ends with the command */
}

static void exec_start_cb(int rc, const berth_error *err, void *data) {
  container *c = data;
  cz_health *h = c->health;
  h->req = NULL;
  if (rc < 0) log_debug("container %s: health check command's stream: %s", c->id, err->msg);
  /* However the stream ended, the exec's own record says how it went. */
  h->req = berth_docker_exec_inspect(c->cz->docker, h->exec_id, exec_inspect_cb, c);
}

static void exec_create_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  cz_health *h = c->health;
  h->req = NULL;
  const char *id = rc == 0 ? json_string_value(json_object_get(answer, "Id")) : NULL;
  if (!id || !*id) {
    cleanup_free char *msg =
        berth_asprintf("start the health check command: %s", rc < 0 ? err->msg : "docker gave no exec id");
    finish(c, rc < 0 ? docker_outcome(rc) : OUTCOME_FAILED, msg);
    return;
  }
  h->exec_id = berth_strdup(id);
  h->out_len = 0;
  h->req = berth_docker_exec_start(c->cz->docker, h->exec_id, exec_output_cb, exec_start_cb, c);
}

static void start_exec(container *c) {
  cz_health *h = c->health;
  const berth_health_spec *spec = hspec(c);
  json_t *cmd = json_array();
  for (size_t i = 0; i < spec->argc; i++) json_array_append_new(cmd, json_string(spec->argv[i]));
  json_t *config = json_pack("{s:b,s:b,s:b,s:o}", "AttachStdin", 0, "AttachStdout", 1, "AttachStderr", 1, "Cmd", cmd);
  if (spec->n_env) {
    json_t *env = json_array();
    for (size_t i = 0; i < spec->n_env; i++) json_array_append_new(env, json_string(spec->env[i]));
    json_object_set_new(config, "Env", env);
  }
  if (spec->user) json_object_set_new(config, "User", json_string(spec->user));
  h->req = berth_docker_exec_create(c->cz->docker, c->docker_name, config, exec_create_cb, c);
  json_decref(config);
}

/* The exec of a check that timed out: a new one starts only once it is
 * over. */
static void lingering_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  cz_health *h = c->health;
  h->req = NULL;
  if (rc == 0 && json_is_true(json_object_get(answer, "Running"))) {
    finish(c, OUTCOME_FAILED, "the previous health check command is still running past its timeout");
    return;
  }
  if (rc < 0 && rc != BERTH_ENOENT) {
    cleanup_free char *msg = berth_asprintf("inspect the previous health check command: %s", err->msg);
    finish(c, docker_outcome(rc), msg);
    return;
  }
  free(h->lingering);
  h->lingering = NULL;
  start_exec(c);
}

/* ---- HTTP and TCP: a probe thread ---- */

static void probe_result_cb(const berth_probe_result *r, void *data) {
  berth_containerizer *cz = data;
  container *c = NULL;
  for (container *k = cz->containers; k && !c; k = k->next)
    if (k->health && k->health->probe_running && k->health->token == r->token) c = k;
  if (!c) return; /* its container went, or its check was stopped */
  cz_health *h = c->health;
  h->probe_running = false;
  if (!h->running) return; /* timed out; already counted */
  const berth_health_spec *spec = hspec(c);
  if (r->rc < 0) {
    cleanup_free char *msg =
        berth_asprintf("%s health check: %s", spec->type == BERTH_HEALTH_HTTP ? "HTTP" : "TCP", r->message);
    finish(c, OUTCOME_FAILED, msg);
    return;
  }
  if (spec->type == BERTH_HEALTH_HTTP && !berth_health_status_ok(spec, r->http_status)) {
    cleanup_free char *msg =
        berth_asprintf("HTTP health check: GET %s on port %d answered %d", spec->path, spec->port, r->http_status);
    finish(c, OUTCOME_FAILED, msg);
    return;
  }
  finish(c, OUTCOME_HEALTHY, NULL);
}

static void start_probe(container *c) {
  cz_health *h = c->health;
  berth_containerizer *cz = c->cz;
  const berth_health_spec *spec = hspec(c);
  if (h->probe_running) {
    finish(c, OUTCOME_SKIPPED, "the previous probe has not returned yet");
    return;
  }
  if (c->pid <= 0) {
    finish(c, OUTCOME_SKIPPED, "the container's pid is not known yet");
    return;
  }
  /* Read once per pid: a later probe refuses a pid reused since. */
  if (h->starttime_pid != c->pid) {
    h->starttime_pid = c->pid;
    h->starttime = berth_proc_starttime(cz->config.proc_root ? cz->config.proc_root : "/proc", c->pid);
  }
  if (!cz->probe_hub) cz->probe_hub = berth_probe_hub_new(cz->loop, probe_result_cb, cz);
  berth_probe_request req = {
      .token = ++cz->probe_seq,
      .pid = c->pid,
      .starttime = h->starttime,
      .proc_root = cz->config.proc_root,
      .http = spec->type == BERTH_HEALTH_HTTP,
      .ipv6 = spec->ipv6,
      .port = spec->port,
      .path = spec->path,
      .timeout = spec->timeout,
  };
  berth_error err;
  if (berth_probe_start(cz->probe_hub, &req, &err) < 0) {
    finish(c, OUTCOME_SKIPPED, err.msg);
    return;
  }
  h->token = req.token;
  h->probe_running = true;
}

static void check_cb(uv_timer_t *timer) {
  container *c = timer->data;
  cz_health *h = c->health;
  if (c->stage != BERTH_STAGE_RUNNING || c->cap.exited || h->running) return;
  h->running = true;
  uv_timer_start(&h->timeout, timeout_cb, secs_to_ms(hspec(c)->timeout), 0);
  if (hspec(c)->type != BERTH_HEALTH_COMMAND)
    start_probe(c);
  else if (h->lingering)
    h->req = berth_docker_exec_inspect(c->cz->docker, h->lingering, lingering_cb, c);
  else
    start_exec(c);
}

void cz_health_shutdown(berth_containerizer *cz) {
  berth_probe_hub_close(cz->probe_hub);
  cz->probe_hub = NULL;
}
