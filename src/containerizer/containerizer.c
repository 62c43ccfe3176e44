#include "containerizer/containerizer.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "cgroups/cgroups.h"
#include "containerizer/container.h"
#include "containerizer/deadline.h"
#include "containerizer/mapping.h"
#include "containerizer/sandbox.h"
#include "containerizer/termination.h"
#include "containerizer/volumes.h"
#include "docker/api.h"
#include "util/alloc.h"
#include "util/text.h"
#include "util/crashpoint.h"
#include "util/log.h"

/* After docker reports the exit, a following log stream normally ends
 * within milliseconds, but dockerd 20.10 sometimes keeps it open after a
 * container that exits right after its start (about one in four here).
 * Once the stream has delivered nothing for this long after the exit, it is
 * dropped and the rest is read without follow: by the time /wait answers,
 * docker has flushed the container's output into its log. */
#define LOG_DRAIN_IDLE_MS 200
/* Docker closes a stopped container's log (flushing a last line without a
 * newline) just after /wait answers; a snapshot read waits this long. */
#define FINAL_READ_DELAY_MS 50
/* How much earlier than docker's FinishedAt a follow stream must have been
 * opened to count as live (same host clock; covers request latency). */
#define FOLLOW_MARGIN_SECS 0.05
/* After an attach stream ends, how long /wait gets to report the exit
 * before capture continues from docker's log. */
#define ATTACH_SETTLE_MS 300
/* Delay before re-arming a watcher that ended while the container runs
 * (dockerd restarting, a dropped connection). */
#define REARM_DELAY_MS 1000
/* A removal of a terminated container's docker container that dockerd did
 * not take (down, restarting, busy) is tried again after this, doubling up
 * to the maximum: an outage must not leave it behind for good. */
#define REMOVE_RETRY_MIN_MS 1000
#define REMOVE_RETRY_MAX_MS 60000

static const char *const stage_names[] = {"FETCHING", "PULLING", "MOUNTING", "RUNNING", "DESTROYING", "TERMINATED"};

const char *berth_stage_name(berth_stage stage) { return stage_names[stage]; }

static double now_secs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- bookkeeping ------------------------------------------------------- */

static container *find(berth_containerizer *cz, const char *id) {
  for (container *c = cz->containers; c; c = c->next)
    if (!strcmp(c->id, id)) return c;
  return NULL;
}

int cz_persist(container *c, berth_error *err) {
  cleanup_free char *gpus = berth_gpu_format(c->gpus, c->n_gpus);
  json_t *outputs = cz_outputs_json(c);
  berth_record rec = {
      .gpus = gpus,
      .id = c->id,
      .stage = stage_names[c->stage],
      .docker_name = c->docker_name,
      .docker_id = c->docker_id,
      .image = c->spec.image ? c->spec.image : "",
      .launch = c->launch,
      .termination = c->termination,
      .created_at = c->created_at,
      .finished_at = c->finished_at,
      .running_at = c->running_at,
      .outputs = outputs,
  };
  /* Every write is the whole row: a later one that succeeds makes up for
   * this one.  The caller decides whether the step may go on without it. */
  int rc = berth_store_put(c->cz->store, &rec, err);
  json_decref(outputs);
  if (rc < 0) {
    berth_error_prefix(err, "record container '%s' as %s", c->id, stage_names[c->stage]);
    log_error("container %s: %s", c->id, err->msg);
    return err->code;
  }
  return 0;
}

int cz_set_stage(container *c, berth_stage stage, berth_error *err) {
  log_info("container %s: %s -> %s", c->id, stage_names[c->stage], stage_names[stage]);
  c->stage = stage;
  if (cz_persist(c, err) < 0) return err->code;
  char point[64];
  snprintf(point, sizeof(point), "after-%s", stage_names[stage]);
  berth_crashpoint(point); /* after-PULLING, after-RUNNING, ... */
  return 0;
}

static void close_outputs(container *c) {
  for (int i = 1; i <= 2; i++) {
    if (c->out[i].fd >= 0) close(c->out[i].fd);
    c->out[i].fd = -1;
  }
}

/* Docker's started container holds its own mount of each volume: the pins
 * are only needed from the create to the start, and go at either end. */
static void release_pins(container *c) {
  if (!c->pin_dir) return;
  berth_error err;
  if (berth_volumes_unpin(c->cz->config.work_dir, c->pin_dir, &err) < 0)
    log_error("container %s: %s (recovery retries at the next start)", c->id, err.msg);
  free(c->pin_dir);
  c->pin_dir = NULL;
}

struct pin_job {
  uv_work_t work;
  berth_containerizer *cz;
  container *c; /* NULL once the container is gone */
  char *work_dir, *pin_dir;
  char **hosts, **allowed, **real, **pins;
  size_t n;
  berth_error err;
  int rc;
};

static void container_closed_cb(uv_handle_t *handle) {
  container *c = handle->data;
  if (--c->open_handles > 0) return;
  berth_spec_free(&c->spec);
  json_decref(c->launch);
  json_decref(c->termination);
  free(c->docker_name);
  free(c->docker_id);
  free(c->bind_path);
  free(c->ip);
  json_decref(c->network_infos);
  free(c);
}

static void cancel_requests(container *c) {
  berth_docker_req **reqs[] = {&c->op, &c->wait_req, &c->logs_req, &c->inspect_req, &c->kill_req, &c->status_req};
  for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
    berth_docker_cancel(*reqs[i]);
    *reqs[i] = NULL;
  }
  berth_fetch_cancel(c->fetch); /* its downloads end now, partial files go */
  c->fetch = NULL;
  cz_pull_leave(c); /* the last launch waiting for a pull aborts it */
}

/* Unlinks and frees; handles close asynchronously. */
static void container_free(container *c) {
  berth_containerizer *cz = c->cz;
  if (c->prev)
    c->prev->next = c->next;
  else
    cz->containers = c->next;
  if (c->next) c->next->prev = c->prev;
  cz->count--;
  cancel_requests(c);
  close_outputs(c);
  if (c->pin_job) c->pin_job->c = NULL;
  if (!cz->closing) release_pins(c);
  free(c->pin_dir);
  c->pin_dir = NULL;
  uv_close((uv_handle_t *)&c->timer, container_closed_cb);
  uv_close((uv_handle_t *)&c->kill_timer, container_closed_cb);
  cz_deadline_close(c, container_closed_cb);
}

container *cz_container_new(berth_containerizer *cz, berth_launch_spec *spec, json_t *launch) {
  container *c = berth_calloc(1, sizeof(*c));
  c->cz = cz;
  c->spec = *spec;
  memset(spec, 0, sizeof(*spec));
  snprintf(c->id, sizeof(c->id), "%s", c->spec.id);
  c->launch = json_incref(launch);
  c->docker_name = berth_asprintf("berth-%s.%s", cz->config.agent_id, c->id);
  c->created_at = now_secs();
  cz_outputs_init(c);
  uv_timer_init(cz->loop, &c->timer);
  uv_timer_init(cz->loop, &c->kill_timer);
  c->timer.data = c->kill_timer.data = c;
  c->open_handles = 2;
  cz_deadline_init(c);
  c->next = cz->containers;
  if (cz->containers) cz->containers->prev = c;
  cz->containers = c;
  cz->count++;
  return c;
}

/* --- termination --------------------------------------------------------- */

static void notify_waiters(container *c) {
  while (c->waiters) {
    waiter *w = c->waiters;
    c->waiters = w->next;
    w->cb(c->termination, w->data);
    free(w);
  }
}

static void reply_launch(container *c, int rc, const berth_error *err) {
  berth_cz_done_cb cb = c->launch_cb;
  c->launch_cb = NULL;
  if (cb) cb(rc, err, c->launch_data);
}

/* No per-request data: a removal still in flight when berthd stops is
 * cancelled without its callback, and would leak it.  Docker's refusals
 * name the container themselves. */
static void docker_ignore_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  if (rc < 0 && rc != BERTH_ENOENT) log_warn("remove docker container: %s", err->msg);
}

/* Removes the docker container by name; nothing waits for it. */
void cz_docker_remove_detached(berth_containerizer *cz, const char *name) {
  log_debug("removing docker container %s", name);
  berth_docker_container_remove(cz->docker, name, docker_ignore_cb, NULL);
}

void cz_terminate(container *c, json_t *termination) {
  if (c->stage == BERTH_STAGE_TERMINATED) {
    json_decref(termination);
    return;
  }
  /* WAIT and the store dereference it: never keep NULL, whatever failed. */
  if (!termination) termination = berth_termination_gone("termination could not be recorded");
  cancel_requests(c);
  uv_timer_stop(&c->timer);
  uv_timer_stop(&c->kill_timer);
  cz_deadline_stop(c);
  close_outputs(c);
  release_pins(c);
  /* Freed in memory first; the TERMINATED row below drops them on disk. */
  berth_gpu_release(c->cz->config.gpus, c->id);
  c->n_gpus = 0;
  c->termination = termination;
  c->finished_at = now_secs();
  berth_error err;
  /* Nothing to fall back to: the failure is logged, and a restart finds
   * the last stage that was written and finishes from there. */
  if (cz_set_stage(c, BERTH_STAGE_TERMINATED, &err) < 0) berth_error_clear(&err);
  const char *state = json_string_value(json_object_get(termination, "state"));
  const char *reason = json_string_value(json_object_get(termination, "reason"));
  log_info("container %s: %s%s%s", c->id, state, reason ? " " : "", reason ? reason : "");
  berth_cz_metrics_terminated(c->cz, state, reason);
  if (c->docker_created) {
    uint64_t delay_ms = (uint64_t)(c->cz->config.docker_remove_delay_ns / 1000000);
    uv_timer_start(&c->timer, cz_remove_delay_cb, delay_ms, 0);
  }
  notify_waiters(c);
}

/* A launch that did not reach RUNNING: clean up what exists, report. */
static void launch_end(container *c, bool killed, const berth_error *err) {
  c->cz->metrics.launch_failures += killed ? 0 : 1;
  log_warn("container %s: launch %s: %s", c->id, killed ? "killed" : "failed", err->msg);
  bool created = c->docker_created;
  c->docker_created = false; /* no remove-delay timer: it goes now */
  cz_terminate(c, berth_termination_launch_failed(err->msg, killed));
  if (created) {
    c->docker_created = true;
    cz_remove_docker(c);
  }
  /* A host path refused when it was opened is the caller's error (400). */
  reply_launch(c, killed ? BERTH_ECANCELED : err->code == BERTH_EINVAL ? BERTH_EINVAL : BERTH_EDOCKER, err);
}

/* what: "pull image", "create container for image", ... */
static void launch_fail(container *c, const char *what, const char *detail) {
  berth_error err;
  berth_error_set(&err, BERTH_EDOCKER, "Failed to %s '%s': %s", what, c->spec.image, detail);
  launch_end(c, false, &err);
}

static void launch_killed(container *c) {
  berth_error err;
  berth_error_set(&err, BERTH_ECANCELED, "container '%s' was killed during %s", c->id, stage_names[c->stage]);
  launch_end(c, true, &err);
}

void cz_remove_delay_cb(uv_timer_t *timer) {
  container *c = timer->data;
  if (c->docker_created) cz_remove_docker(c);
}

/* --- running: exit detection and log capture ----------------------------- */

static int output_cb(int stream, const char *buf, size_t len, void *data) {
  container *c = data;
  if (c->skip[stream] > 0) {
    size_t s = c->skip[stream] < len ? (size_t)c->skip[stream] : len;
    c->skip[stream] -= s;
    buf += s;
    len -= s;
  }
  /* A failed write is logged there; reading goes on so the stream and
   * exit detection do. */
  if (len > 0) cz_output_write(c, stream, buf, len);
  return 0;
}

static void logs_done_cb(int rc, const berth_error *err, void *data);

/* A plain (non-follow) read of the rest of the output, after the exit. */
static void read_rest(container *c) {
  berth_docker_cancel(c->logs_req);
  c->final_read_done = true;
  c->logs_ended = false;
  c->skip[1] = c->written[1];
  c->skip[2] = c->written[2];
  c->logs_req = berth_docker_container_logs(c->cz->docker, c->docker_name, 0, output_cb, logs_done_cb, c);
}

static void read_rest_cb(uv_timer_t *timer) { read_rest(timer->data); }

static void maybe_finish(container *c) {
  if (!c->exited || !c->exit_inspected || !c->logs_ended) return;
  if (c->final_read_needed && !c->final_read_done) {
    /* The stream was opened after the container stopped, so it was a
     * snapshot that may predate docker's flush of a last partial line
     * (it happens just after /wait answers): read once more, a moment
     * later. */
    c->final_read_done = true;
    c->logs_ended = false;
    uv_timer_start(&c->timer, read_rest_cb, FINAL_READ_DELAY_MS, 0);
    return;
  }
  berth_crashpoint("before-terminated");
  berth_exit_info info = {
      .exit_code = c->exit_code,
      .oom_killed = c->oom_killed,
      .killed = c->destroy_requested,
      .mem_limit_mb = c->mem_limit_mb,
  };
  cz_terminate(c, cz_deadline_termination(c, berth_termination_from_exit(&info)));
}

static void drain_timeout_cb(uv_timer_t *timer) {
  container *c = timer->data;
  uint64_t total = c->written[1] + c->written[2];
  if (total != c->drain_mark) { /* still catching up: let it run */
    c->drain_mark = total;
    uv_timer_start(&c->timer, drain_timeout_cb, LOG_DRAIN_IDLE_MS, 0);
    return;
  }
  log_debug("container %s: log stream idle %d ms after exit; reading the rest without follow", c->id,
            LOG_DRAIN_IDLE_MS);
  read_rest(c);
}

static void rearm_cb(uv_timer_t *timer) { cz_arm_watchers(timer->data); }

static void logs_done_cb(int rc, const berth_error *err, void *data) {
  container *c = data;
  c->logs_req = NULL;
  if (rc < 0) log_warn("container %s: log stream: %s", c->id, err->msg);
  if (c->exited) {
    uv_timer_stop(&c->timer);
    c->logs_ended = true;
    maybe_finish(c);
    return;
  }
  /* The stream ended while the container runs (or before docker told us
   * it stopped): read again from the start, skipping what is written. */
  uv_timer_start(&c->timer, rearm_cb, rc < 0 ? REARM_DELAY_MS : 100, 0);
}

static void exit_inspect_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  c->inspect_req = NULL;
  /* `docker rm -f` behind berthd's back: dockerd marks the container as
   * being removed, kills the task (so /wait reports that exit), then
   * deletes it; its inspect says "removing" (or 404 once it is gone).  The
   * exit code is docker's SIGKILL, not the task's end. */
  const char *status = rc == 0 ? json_string_value(json_object_get(json_object_get(answer, "State"), "Status")) : NULL;
  if (rc == BERTH_ENOENT || (status && (!strcmp(status, "removing") || !strcmp(status, "dead")))) {
    berth_error gone_err;
    if (rc == 0)
      berth_error_set(&gone_err, BERTH_ENOENT, "docker reports it %s", status);
    else
      gone_err = *err;
    err = &gone_err;
    cleanup_free char *msg = berth_asprintf("docker container %s was removed while it ran (it exited with %d): %s",
                                            c->docker_name, c->exit_code, err->msg);
    c->docker_created = false;
    cz_terminate(c, berth_termination_gone(msg));
    return;
  }
  if (rc == 0) {
    json_t *state = json_object_get(answer, "State");
    c->oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
    json_t *code = json_object_get(state, "ExitCode");
    if (json_is_integer(code)) c->exit_code = (int)json_integer_value(code);
    double finished = berth_rfc3339_parse(json_string_value(json_object_get(state, "FinishedAt")));
    c->docker_finished_at = finished;
    /* A follow stream opened before the stop is docker's live feed and ends
     * only after the last byte; one opened at or after it is a snapshot. */
    c->final_read_needed = !c->live_attach && (finished <= 0 || c->follow_opened_at > finished - FOLLOW_MARGIN_SECS);
    /* The attach ended cleanly at the stop: it carried everything. */
    if (!c->logs_ended && !c->logs_req && c->attach_eof_clean && finished > 0 &&
        c->attach_ended_at >= finished - FOLLOW_MARGIN_SECS) {
      c->logs_ended = true;
      c->final_read_needed = false;
    }
  } else {
    c->final_read_needed = true;
    log_warn("container %s: inspect after exit: %s", c->id, err->msg);
  }
  c->exit_inspected = true;
  if (!c->logs_ended) {
    c->drain_mark = c->written[1] + c->written[2];
    uv_timer_start(&c->timer, drain_timeout_cb, LOG_DRAIN_IDLE_MS, 0);
  }
  maybe_finish(c);
}

static void wait_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  c->wait_req = NULL;
  if (rc == BERTH_ENOENT) {
    cleanup_free char *msg =
        berth_asprintf("docker container %s disappeared while it ran: %s", c->docker_name, err->msg);
    c->docker_created = false;
    cz_terminate(c, berth_termination_gone(msg));
    return;
  }
  if (rc < 0) {
    /* Never call a container dead because docker did not answer. */
    log_warn("container %s: wait: %s; retrying", c->id, err->msg);
    uv_timer_start(&c->timer, rearm_cb, REARM_DELAY_MS, 0);
    return;
  }
  c->exited = true;
  c->exit_code = (int)json_integer_value(json_object_get(answer, "StatusCode"));
  uv_timer_stop(&c->kill_timer);
  c->inspect_req = berth_docker_container_inspect(c->cz->docker, c->docker_name, exit_inspect_cb, c);
}

void cz_arm_watchers(container *c) {
  if (c->stage != BERTH_STAGE_RUNNING && c->stage != BERTH_STAGE_DESTROYING) return;
  if (!c->wait_req && !c->exited) c->wait_req = berth_docker_container_wait(c->cz->docker, c->docker_name, wait_cb, c);
  if (!c->logs_req && !c->logs_ended) {
    c->skip[1] = c->written[1];
    c->skip[2] = c->written[2];
    c->follow_opened_at = now_secs();
    c->logs_req = berth_docker_container_logs(c->cz->docker, c->docker_name, 1, output_cb, logs_done_cb, c);
  }
}

void cz_status_inspect_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  c->status_req = NULL;
  if (rc < 0) return;
  c->pid = (int)json_integer_value(json_object_get(json_object_get(answer, "State"), "Pid"));
  const char *ip = json_string_value(json_object_get(json_object_get(answer, "NetworkSettings"), "IPAddress"));
  free(c->ip);
  c->ip = ip && *ip ? berth_strdup(ip) : NULL;
  /* One NetworkInfo per docker network that gave the container an
   * address (BRIDGE: "bridge", USER: the network's name); HOST and NONE
   * have none.  Reported only, never connected to. */
  json_t *infos = json_array();
  const char *name;
  json_t *net;
  json_object_foreach(json_object_get(json_object_get(answer, "NetworkSettings"), "Networks"), name, net) {
    json_t *addrs = json_array();
    const char *v4 = json_string_value(json_object_get(net, "IPAddress"));
    const char *v6 = json_string_value(json_object_get(net, "GlobalIPv6Address"));
    if (v4 && *v4) json_array_append_new(addrs, json_pack("{s:s,s:s}", "protocol", "IPv4", "ip_address", v4));
    if (v6 && *v6) json_array_append_new(addrs, json_pack("{s:s,s:s}", "protocol", "IPv6", "ip_address", v6));
    if (json_array_size(addrs) > 0)
      json_array_append_new(infos, json_pack("{s:s,s:o}", "name", name, "ip_addresses", addrs));
    else
      json_decref(addrs);
  }
  json_decref(c->network_infos);
  c->network_infos = json_array_size(infos) > 0 ? infos : NULL;
  if (!c->network_infos) json_decref(infos);
}

/* --- launch stages -------------------------------------------------------- */

static void start_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  c->op = NULL;
  if (rc < 0 && c->destroy_requested) {
    launch_killed(c); /* a KILL came first: that is how the launch ended */
    return;
  }
  if (rc < 0) {
    launch_fail(c, "start container for image", err->msg);
    return;
  }
  berth_crashpoint("after-start");
  release_pins(c);
  /* A task berthd could not record as RUNNING would come back after a
   * restart as a launch caught mid-way: stop it now and say why. */
  c->running_at = now_secs(); /* stored with the stage: time limits count from it */
  berth_error serr;
  if (cz_set_stage(c, BERTH_STAGE_RUNNING, &serr) < 0) {
    launch_fail(c, "record the start of image", serr.msg);
    return;
  }
  cz_deadline_arm(c);
  c->cz->metrics.launches++;
  cz_arm_watchers(c);
  c->status_req = berth_docker_container_inspect(c->cz->docker, c->docker_name, cz_status_inspect_cb, c);
  if (c->destroy_requested) {
    berth_error kerr;
    berth_error_set(&kerr, BERTH_ECANCELED, "container '%s' was killed during launch", c->id);
    reply_launch(c, BERTH_ECANCELED, &kerr);
    cz_begin_destroy(c);
    return;
  }
  reply_launch(c, 0, NULL);
}

static void start_now(container *c) {
  if (c->op || c->stage != BERTH_STAGE_MOUNTING || c->started) return;
  if (c->destroy_requested) {
    launch_killed(c);
    return;
  }
  c->started = true;
  c->op = berth_docker_container_start(c->cz->docker, c->docker_name, start_cb, c);
}

static void start_now_cb(uv_timer_t *timer) { start_now(timer->data); }

/* Inside a curl callback: the start request is made on the next turn. */
static void attach_ready_cb(void *data) {
  container *c = data;
  uv_timer_start(&c->timer, start_now_cb, 0, 0);
}

static void attach_done_cb(int rc, const berth_error *err, void *data) {
  container *c = data;
  c->logs_req = NULL;
  if (!c->started) {
    /* No attach (an old or odd dockerd): start anyway, output then comes
     * from the log as after a restart. */
    log_warn("container %s: attach: %s; capturing from docker's log instead", c->id, err ? err->msg : "ended");
    c->live_attach = false;
    start_now(c);
    return;
  }
  if (rc < 0) log_warn("container %s: attach stream: %s", c->id, err->msg);
  c->live_attach = false; /* from here on, the rest comes from docker's log */
  if (c->exit_inspected) {
    /* A clean end after the exit is the end of the output. */
    if (rc == 0) {
      c->logs_ended = true;
      maybe_finish(c);
    } else {
      read_rest(c);
    }
    return;
  }
  /* An attach reads like a body that lasts until the connection closes, so
   * a clean end may be the container stopping or dockerd going away.  If
   * /wait reports the exit first, exit_inspect_cb tells which by time;
   * otherwise capture goes on from docker's log, skipping what is here. */
  c->attach_eof_clean = rc == 0;
  c->attach_ended_at = now_secs();
  if (!uv_is_active((uv_handle_t *)&c->timer)) uv_timer_start(&c->timer, rearm_cb, ATTACH_SETTLE_MS, 0);
}

static void create_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  c->op = NULL;
  if (rc < 0 && c->destroy_requested) {
    launch_killed(c); /* a KILL came first: that is how the launch ended */
    return;
  }
  if (rc < 0) {
    launch_fail(c, "create container for image", err->msg);
    return;
  }
  berth_crashpoint("after-create");
  c->docker_created = true;
  const char *id = json_string_value(json_object_get(answer, "Id"));
  c->docker_id = berth_strdup(id ? id : "");
  berth_error serr;
  if (cz_persist(c, &serr) < 0) {
    launch_fail(c, "record the container of image", serr.msg);
    return;
  }
  if (c->destroy_requested) {
    launch_killed(c);
    return;
  }
  /* Attach before start: docker then hands over every byte, raw, and ends
   * the stream only after the last one, with no log file in between that
   * could rotate under a reader. */
  c->live_attach = true;
  c->logs_req =
      berth_docker_container_attach(c->cz->docker, c->docker_name, output_cb, attach_ready_cb, attach_done_cb, c);
}

static void create_container(container *c) {
  berth_containerizer *cz = c->cz;
  cleanup_free char *volumes_dir = berth_asprintf("%s/volumes", cz->config.work_dir);
  berth_mapping_ctx ctx = {
      .agent_id = cz->config.agent_id,
      .docker_name = c->docker_name,
      .sandbox_host = c->bind_path,
      .sandbox_directory = cz->config.sandbox_directory,
      .volumes_dir = volumes_dir,
      .cgroups_enable_cfs = cz->config.cgroups_enable_cfs,
      .runtime = cz->config.docker_runtime,
      .dns = cz->config.default_dns,
  };
  char **devices = berth_gpu_devices(cz->config.gpus, c->gpus, c->n_gpus);
  ctx.devices = (const char *const *)devices;
  json_t *config = berth_mapping_create_config(&c->spec, &ctx);
  for (char **d = devices; *d; d++) free(*d);
  free(devices);
  json_t *memory = json_object_get(json_object_get(config, "HostConfig"), "Memory");
  c->mem_limit_mb = memory ? (double)json_integer_value(memory) / (1024.0 * 1024.0) : 0;
  c->op = berth_docker_container_create(cz->docker, c->docker_name, config, create_cb, c);
  json_decref(config);
}

static void free_cz(berth_containerizer *cz);

static void pin_work(uv_work_t *work) {
  struct pin_job *j = work->data;
  j->rc = berth_volumes_pin(j->work_dir, j->pin_dir, (const char *const *)j->hosts, j->n,
                            (const char *const *)j->allowed, (const char *const *)j->real, j->pins, &j->err);
}

static void free_strings(char **list, size_t n) {
  for (size_t i = 0; i < n; i++) free(list[i]);
  free(list);
}

static char **copy_strings(char *const *list) {
  size_t n = 0;
  while (list && list[n]) n++;
  char **out = berth_calloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) out[i] = berth_strdup(list[i]);
  return out;
}

static void pinned_cb(uv_work_t *work, int status) {
  struct pin_job *j = work->data;
  berth_containerizer *cz = j->cz;
  container *c = j->c;
  cz->pending_work--;
  if (c) c->pin_job = NULL;
  bool wanted = c && !cz->closing && c->stage == BERTH_STAGE_MOUNTING && !c->destroy_requested && j->rc == 0;
  if (!wanted && j->rc == 0) {
    /* Killed, removed or shut down meanwhile: nothing will mount them. */
    berth_error err;
    if (berth_volumes_unpin(j->work_dir, j->pin_dir, &err) < 0) log_error("%s", err.msg);
  }
  if (c && !cz->closing && c->stage == BERTH_STAGE_MOUNTING) {
    if (c->destroy_requested) {
      launch_killed(c);
    } else if (j->rc < 0) {
      launch_end(c, false, &j->err);
    } else {
      berth_crashpoint("after-pin");
      c->pin_dir = j->pin_dir;
      j->pin_dir = NULL;
      for (size_t i = 0; i < j->n; i++) {
        free(c->spec.volumes[i].host_path);
        c->spec.volumes[i].host_path = j->pins[i];
        j->pins[i] = NULL;
      }
      create_container(c);
    }
  }
  free_strings(j->hosts, j->n);
  free_strings(j->pins, j->n);
  berth_volumes_prefixes_free(j->allowed);
  berth_volumes_prefixes_free(j->real);
  free(j->work_dir);
  free(j->pin_dir);
  free(j);
  if (cz->closing && cz->pending_work == 0 && cz->timer_closed) free_cz(cz);
}

/* Host paths are opened and pinned on the thread pool: a path under an
 * allowed prefix may sit on a network mount that never answers, which must
 * not stall the loop.  The job keeps copies of what it reads. */
static void pin_volumes(container *c) {
  berth_containerizer *cz = c->cz;
  struct pin_job *j = berth_calloc(1, sizeof(*j));
  j->cz = cz;
  j->c = c;
  j->n = c->spec.n_volumes;
  j->work_dir = berth_strdup(cz->config.work_dir);
  j->pin_dir = berth_asprintf("%s.%llu", c->id, (unsigned long long)++cz->pin_seq);
  j->hosts = berth_calloc(j->n + 1, sizeof(char *));
  j->pins = berth_calloc(j->n + 1, sizeof(char *));
  for (size_t i = 0; i < j->n; i++) j->hosts[i] = berth_strdup(c->spec.volumes[i].host_path);
  j->allowed = copy_strings((char *const *)cz->config.allowed_host_paths);
  j->real = copy_strings(cz->real_prefixes);
  j->work.data = j;
  c->pin_job = j;
  cz->pending_work++;
  uv_queue_work(cz->loop, &j->work, pin_work, pinned_cb);
}

static void enter_mounting(container *c) {
  berth_error serr;
  if (cz_set_stage(c, BERTH_STAGE_MOUNTING, &serr) < 0) {
    launch_fail(c, "record the launch of image", serr.msg);
    return;
  }
  berth_containerizer *cz = c->cz;
  cleanup_free char *volumes_dir = berth_asprintf("%s/volumes", cz->config.work_dir);
  for (size_t i = 0; i < c->spec.n_pvolumes; i++) {
    cleanup_free char *dir = berth_asprintf("%s/%s", volumes_dir, c->spec.pvolumes[i].id);
    berth_error err;
    if (berth_mkdir_p(dir, &err) < 0) {
      launch_fail(c, "mount persistent volume for image", err.msg);
      return;
    }
  }
  /* Host volumes are pinned first (volumes.h); the create follows. */
  if (c->spec.n_volumes > 0) {
    pin_volumes(c);
    return;
  }
  create_container(c);
}

/* The end of the pull c waited for (pull.c), shared or not. */
void cz_pull_done(container *c, int rc, const berth_error *err) {
  if (rc < 0) {
    launch_fail(c, "pull image", err->msg);
    return;
  }
  enter_mounting(c);
}

static void image_inspect_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  c->op = NULL;
  if (rc == 0 && !c->spec.force_pull) {
    enter_mounting(c);
    return;
  }
  if (rc < 0 && rc != BERTH_ENOENT) {
    launch_fail(c, "inspect image", err->msg);
    return;
  }
  cz_pull_join(c);
}

static void enter_pulling(container *c) {
  berth_error serr;
  if (cz_set_stage(c, BERTH_STAGE_PULLING, &serr) < 0) {
    launch_fail(c, "record the launch of image", serr.msg);
    return;
  }
  c->op = berth_docker_image_inspect(c->cz->docker, c->spec.image, image_inspect_cb, c);
}

/* The sandbox is writable by the task, which may have replaced stdout with
 * a symlink (to a host file), a FIFO or a device node before a restart
 * reopens it: safefs opens only a regular file directly in the sandbox. */
int cz_open_outputs(container *c, berth_error *err) {
  static const char *names[] = {NULL, "stdout", "stderr"};
  cleanup_close int dfd = berth_sandbox_open(c->cz->config.work_dir, c->id, err);
  if (dfd < 0) return berth_error_prefix(err, "open sandbox");
  for (int i = 1; i <= 2; i++) {
    /* Also finishes a rotation a crash cut (rotation.h). */
    if (berth_outlog_recover(&c->out[i], dfd, &c->cz->config.log_rotation, err) < 0)
      return berth_error_prefix(err, "open sandbox %s", names[i]);
    c->written[i] = c->out[i].rotated + c->out[i].size;
  }
  return 0;
}

static void fetch_done_cb(int rc, const berth_error *err, const berth_fetch_stats *stats, void *data) {
  container *c = data;
  c->fetch = NULL;
  berth_cz_metrics_fetch(c->cz, rc, stats);
  if (rc < 0) {
    /* err already reads "Failed to fetch '<uri>': <cause>".  A fetch that
     * failed is a launch failure (500) whatever its cause, even one the
     * fetcher calls invalid (a hostile archive): only a refused host path
     * is answered 400 from here (launch_end). */
    berth_error ferr = *err;
    ferr.code = BERTH_EIO;
    launch_end(c, false, &ferr);
    return;
  }
  enter_pulling(c);
}

/* The stage creates the sandbox, as Mesos's fetcher step does, and brings
 * the URIs into it; the fetcher logs to <sandbox>/fetch.log. */
static void enter_fetching(container *c) {
  berth_error err;
  if (berth_sandbox_create(c->cz->config.work_dir, c->cz->config.runtime_dir, c->cz->config.agent_id, c->id,
                           &c->bind_path, &err) < 0 ||
      cz_open_outputs(c, &err) < 0) {
    launch_fail(c, "prepare sandbox for image", err.msg);
    return;
  }
  if (c->spec.n_uris == 0 || !c->cz->config.fetcher) {
    enter_pulling(c);
    return;
  }
  cleanup_free char *sandbox = berth_sandbox_path(c->cz->config.work_dir, c->id);
  c->fetch = berth_fetcher_start(c->cz->config.fetcher, sandbox, c->spec.uris, c->spec.n_uris, fetch_done_cb, c);
}

int berth_cz_launch(berth_containerizer *cz, json_t *launch, berth_cz_done_cb cb, void *data, berth_error *err) {
  berth_launch_policy policy = {cz->config.allowed_host_paths, cz->config.allow_privileged};
  char id[BERTH_ID_MAX + 1];
  /* The id first: a duplicate is 202 even if the rest differs. */
  if (berth_spec_container_id(launch, id, err) < 0) return err->code;
  if (find(cz, id)) return BERTH_LAUNCH_DUPLICATE;
  berth_launch_spec spec;
  if (berth_spec_parse(launch, &policy, &spec, err) < 0) return err->code;
  if (berth_params_check_runtime(&spec.params, cz->config.allowed_runtimes, err) < 0 ||
      berth_mapping_check_params(&spec, err) < 0) {
    berth_spec_free(&spec);
    return err->code;
  }
  int gpus[BERTH_GPU_MAX];
  size_t n_gpus = (size_t)spec.res.gpus;
  if (n_gpus > 0 && berth_gpu_allocate(cz->config.gpus, n_gpus, spec.id, gpus, err) < 0) {
    berth_spec_free(&spec);
    return err->code;
  }
  container *c = cz_container_new(cz, &spec, launch);
  memcpy(c->gpus, gpus, n_gpus * sizeof(int));
  c->n_gpus = n_gpus;
  c->launch_cb = cb;
  c->launch_data = data;
  c->stage = BERTH_STAGE_FETCHING;
  if (cz_persist(c, err) < 0) {
    /* Nothing started yet: the launch is refused as if never made. */
    berth_gpu_release(cz->config.gpus, c->id);
    c->launch_cb = NULL;
    container_free(c);
    return err->code;
  }
  berth_crashpoint("after-FETCHING");
  log_info("container %s: launching image %s as %s", c->id, c->spec.image, c->docker_name);
  enter_fetching(c);
  return 0;
}

/* --- destroy, signal, wait, remove ------------------------------------------- */

static void kill_escalate_cb(uv_timer_t *timer);

static void destroy_kill_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  c->kill_req = NULL;
  /* 409 "is not running": it already ended; the wait reports it. */
  if (rc < 0 && rc != BERTH_ECONFLICT && rc != BERTH_ENOENT) {
    log_warn("container %s: kill: %s; retrying with SIGKILL", c->id, err->msg);
    /* dockerd did not take it (an outage): unless the grace timer will
     * send SIGKILL anyway, try again until it does. */
    if (!uv_is_active((uv_handle_t *)&c->kill_timer))
      uv_timer_start(&c->kill_timer, kill_escalate_cb, REARM_DELAY_MS, 0);
  }
}

static void kill_escalate_cb(uv_timer_t *timer) {
  container *c = timer->data;
  if (c->exited) return;
  log_info("container %s: grace period over, sending SIGKILL", c->id);
  berth_docker_cancel(c->kill_req);
  c->kill_req = berth_docker_container_kill(c->cz->docker, c->docker_name, SIGKILL, destroy_kill_cb, c);
}

void cz_begin_destroy(container *c) {
  c->destroy_requested = true;
  switch (c->stage) {
    case BERTH_STAGE_FETCHING:
    case BERTH_STAGE_PULLING:
      /* Cancelling the pull's request makes dockerd abort the pull;
       * cancelling the fetch closes its downloads at once. */
      berth_fetch_cancel(c->fetch);
      c->fetch = NULL;
      cz_pull_leave(c);
      berth_docker_cancel(c->op);
      c->op = NULL;
      launch_killed(c);
      return;
    case BERTH_STAGE_MOUNTING:
      /* create or start is in flight; its callback sees destroy_requested. */
      return;
    case BERTH_STAGE_RUNNING: {
      c->cz->metrics.destroys++;
      berth_error serr;
      /* The kill goes on regardless: a restart that finds RUNNING simply
       * waits for the exit the kill causes. */
      if (cz_set_stage(c, BERTH_STAGE_DESTROYING, &serr) < 0) berth_error_clear(&serr);
      int64_t grace_ns = c->spec.has_grace ? c->spec.grace_ns : c->cz->config.docker_stop_timeout_ns;
      int sig = grace_ns > 0 ? SIGTERM : SIGKILL;
      c->kill_req = berth_docker_container_kill(c->cz->docker, c->docker_name, sig, destroy_kill_cb, c);
      berth_crashpoint("after-kill-sent");
      if (grace_ns > 0) uv_timer_start(&c->kill_timer, kill_escalate_cb, (uint64_t)(grace_ns / 1000000), 0);
      return;
    }
    case BERTH_STAGE_DESTROYING:
    case BERTH_STAGE_TERMINATED:
      return;
  }
}

typedef struct signal_call {
  berth_cz_done_cb cb;
  void *data;
  int signal;
  char id[BERTH_ID_MAX + 1];
} signal_call;

static void signal_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  signal_call *call = data;
  /* err belongs to the docker layer: the context goes on a copy (docker's
   * 409 "is not running" stays a conflict, with docker's words). */
  berth_error e = {0};
  if (rc < 0) {
    e = *err;
    berth_error_prefix(&e, "signal %d to container '%s'", call->signal, call->id);
  }
  call->cb(rc, rc < 0 ? &e : NULL, call->data);
}

static container *lookup(berth_containerizer *cz, const char *id, berth_error *err) {
  if (!berth_container_id_valid(id)) {
    berth_error_set(err, BERTH_EINVAL, "container_id.value: '%.80s' is not a valid container id", id);
    return NULL;
  }
  container *c = find(cz, id);
  if (!c) berth_error_set(err, BERTH_ENOENT, "unknown container '%s'", id);
  return c;
}

int berth_cz_kill(berth_containerizer *cz, const char *id, int sig, berth_cz_done_cb cb, void *data, berth_error *err) {
  container *c = lookup(cz, id, err);
  if (!c) return err->code;
  if (sig == 0) {
    log_info("container %s: destroy requested in %s", c->id, stage_names[c->stage]);
    cz_begin_destroy(c);
    return 0;
  }
  if (c->stage != BERTH_STAGE_RUNNING && c->stage != BERTH_STAGE_DESTROYING)
    return berth_error_set(err, BERTH_ECONFLICT, "container '%s' is %s, not running", id, stage_names[c->stage]);
  if (sig < 1 || sig > 64) return berth_error_set(err, BERTH_EINVAL, "kill_container.signal: %d is not a signal", sig);
  signal_call *call = berth_calloc(1, sizeof(*call));
  call->cb = cb;
  call->data = data;
  call->signal = sig;
  snprintf(call->id, sizeof(call->id), "%s", c->id);
  /* Freed however the request ends: answered, or cancelled at shutdown. */
  berth_docker_req *req = berth_docker_container_kill(cz->docker, c->docker_name, sig, signal_cb, call);
  berth_docker_call_set_release(req, free);
  return 0;
}

void berth_cz_bind_waiter(berth_containerizer *cz, const char *id, void *data) {
  container *c = find(cz, id);
  if (!c) return;
  for (waiter *w = c->waiters; w; w = w->next)
    if (w->data == data) w->kill_on_disconnect = true;
}

void berth_cz_stopping(berth_containerizer *cz) {
  if (cz) cz->stopping = true;
}

void berth_cz_forget(berth_containerizer *cz, void *data) {
  for (container *c = cz->containers; c; c = c->next) {
    if (c->launch_data == data) c->launch_cb = NULL;
    bool bound = false;
    for (waiter **w = &c->waiters; *w;) {
      if ((*w)->data != data) {
        w = &(*w)->next;
        continue;
      }
      waiter *gone = *w;
      *w = gone->next;
      bound |= gone->kill_on_disconnect;
      free(gone);
    }
    /* After the waiter list is settled: a destroy may notify the others. */
    if (bound && !cz->stopping && !cz->closing && c->stage != BERTH_STAGE_TERMINATED) {
      log_info("container %s: its bound client went away; destroying", c->id);
      cz_begin_destroy(c);
    }
  }
}

int berth_cz_wait(berth_containerizer *cz, const char *id, berth_cz_wait_cb cb, void *data, berth_error *err) {
  container *c = lookup(cz, id, err);
  if (!c) return err->code;
  if (c->stage == BERTH_STAGE_TERMINATED) {
    cb(c->termination, data);
    return 0;
  }
  waiter *w = berth_calloc(1, sizeof(*w));
  w->cb = cb;
  w->data = data;
  w->next = c->waiters;
  c->waiters = w;
  return 0;
}

/* A sandbox may hold any number of files: deleting it runs on libuv's
 * thread pool, not the loop.  The work item keeps its own copies, since
 * the containerizer may be freed (shutdown) before it ends. */
typedef struct sandbox_removal {
  uv_work_t work;
  berth_containerizer *cz;
  char *work_dir, *runtime_dir, *agent_id;
  char id[BERTH_ID_MAX + 1];
  berth_error err;
  int rc;
} sandbox_removal;

static void remove_sandbox_work(uv_work_t *work) {
  sandbox_removal *r = work->data;
  r->rc = berth_sandbox_remove(r->work_dir, r->runtime_dir, r->agent_id, r->id, &r->err);
}

static void sandbox_removed_cb(uv_work_t *work, int status) {
  sandbox_removal *r = work->data;
  berth_containerizer *cz = r->cz;
  cz->pending_work--;
  container *c = cz->closing ? NULL : find(cz, r->id);
  if (c && r->rc < 0) {
    /* The record stays, so a later REMOVE can try again; the caller hears
     * that the sandbox is still there. */
    log_warn("container %s: %s", c->id, r->err.msg);
    c->removing = false;
    c->sandbox_removing = false; /* this pass is over: the next REMOVE runs another */
    c->remove_cb(r->rc, &r->err, c->remove_data);
  } else if (c) {
    berth_error err;
    if (berth_store_delete(cz->store, c->id, &err) < 0) log_error("container %s: %s", c->id, err.msg);
    log_info("container %s: removed", c->id);
    berth_cz_done_cb cb = c->remove_cb;
    void *data = c->remove_data;
    container_free(c);
    cb(0, NULL, data);
  }
  free(r->work_dir);
  free(r->runtime_dir);
  free(r->agent_id);
  free(r);
  if (cz->closing && cz->pending_work == 0 && cz->timer_closed) free_cz(cz);
}

static void finish_remove(container *c) {
  /* Once per REMOVE: a second pass (a sweep that saw the docker container
   * just before it went) would delete the sandbox again, or one of a
   * container relaunched with the same id. */
  if (c->sandbox_removing) return;
  c->sandbox_removing = true;
  sandbox_removal *r = berth_calloc(1, sizeof(*r));
  r->cz = c->cz;
  r->work_dir = berth_strdup(c->cz->config.work_dir);
  r->runtime_dir = berth_strdup(c->cz->config.runtime_dir);
  r->agent_id = berth_strdup(c->cz->config.agent_id);
  snprintf(r->id, sizeof(r->id), "%s", c->id);
  r->work.data = r;
  c->cz->pending_work++;
  uv_queue_work(c->cz->loop, &r->work, remove_sandbox_work, sandbox_removed_cb);
}

/* Every removal of a terminated container's docker container goes through
 * here, one at a time: after a failed launch, after the remove delay, and
 * for REMOVE_CONTAINER, which may join one already under way. */
static void docker_removed_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  c->op = NULL;
  bool gone = rc == 0 || rc == BERTH_ENOENT;
  if (gone) {
    c->docker_created = false;
    c->remove_retry_ms = 0;
  } else {
    c->remove_retry_ms = c->remove_retry_ms == 0                        ? REMOVE_RETRY_MIN_MS
                         : c->remove_retry_ms * 2 > REMOVE_RETRY_MAX_MS ? REMOVE_RETRY_MAX_MS
                                                                        : c->remove_retry_ms * 2;
    log_warn("container %s: remove docker container %s: %s; retrying in %llu ms", c->id, c->docker_name, err->msg,
             (unsigned long long)c->remove_retry_ms);
    /* The REMOVE call below gets its error now; the retry goes on either
     * way, and a later REMOVE starts one at once. */
    if (!c->cz->closing) uv_timer_start(&c->timer, cz_remove_delay_cb, c->remove_retry_ms, 0);
  }
  if (!c->removing) return;
  if (!gone) {
    c->removing = false;
    berth_error e = *err;
    berth_error_prefix(&e, "remove docker container %s", c->docker_name);
    c->remove_cb(rc, &e, c->remove_data);
    return;
  }
  berth_crashpoint("after-docker-remove");
  finish_remove(c);
}

void cz_remove_docker(container *c) {
  uv_timer_stop(&c->timer);
  if (c->op) return; /* one is under way; its callback finishes the job */
  /* Always by name: a create whose answer was lost still left one. */
  c->op = berth_docker_container_remove(c->cz->docker, c->docker_name, docker_removed_cb, c);
}

int berth_cz_remove(berth_containerizer *cz, const char *id, berth_cz_done_cb cb, void *data, berth_error *err) {
  container *c = lookup(cz, id, err);
  if (!c) return err->code;
  if (c->stage != BERTH_STAGE_TERMINATED)
    return berth_error_set(err, BERTH_ECONFLICT, "container '%s' is %s; only TERMINATED containers can be removed", id,
                           stage_names[c->stage]);
  if (c->removing) return berth_error_set(err, BERTH_ECONFLICT, "container '%s' is being removed", id);
  c->removing = true;
  c->remove_cb = cb;
  c->remove_data = data;
  cz_remove_docker(c);
  return 0;
}

/* Not cancelled with the container: the caller always gets its answer,
 * and the container is found again by id in case it went meanwhile. */
typedef struct update_call {
  berth_containerizer *cz;
  char id[BERTH_ID_MAX + 1];
  json_t *resources, *limits;
  berth_cz_done_cb cb;
  void *data;
} update_call;

/* The launch's resources with those named in the update replaced: docker
 * keeps what an update leaves out, so the record must too. */
static json_t *merge_resources(json_t *old, json_t *update) {
  json_t *merged = json_array();
  size_t i, j;
  json_t *r, *u;
  json_array_foreach(old, i, r) {
    const char *name = json_string_value(json_object_get(r, "name"));
    bool replaced = false;
    json_array_foreach(update, j, u) replaced |=
        name && json_equal(json_object_get(u, "name"), json_object_get(r, "name"));
    if (!replaced) json_array_append(merged, r);
  }
  json_array_extend(merged, update);
  return merged;
}

static void update_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  update_call *call = data;
  container *c = find(call->cz, call->id);
  if (c) c->updating = false;
  if (rc == 0 && c) {
    /* The store keeps the launch as it now stands, so a restart and
     * GET_CONTAINERS both see the new values. */
    json_t *launch = json_deep_copy(c->launch);
    if (call->resources)
      json_object_set_new(launch, "resources", merge_resources(json_object_get(launch, "resources"), call->resources));
    /* Docker's update only changes what it is given: limits left out of
     * the update stay in force, and so in the record. */
    if (call->limits) json_object_set(launch, "limits", call->limits);
    json_decref(c->launch);
    c->launch = launch;
    berth_error serr;
    if (cz_persist(c, &serr) < 0) {
      /* Docker applied it; a restart would report the old values. */
      berth_error_prefix(&serr, "resources updated in docker, not recorded");
      call->cb(serr.code, &serr, call->data);
      goto done;
    }
    log_info("container %s: resources updated", c->id);
  }
  call->cb(rc, err, call->data);
done:
  json_decref(call->resources);
  json_decref(call->limits);
  free(call);
}

static bool same_volume(const berth_persistent_volume *a, const berth_persistent_volume *b) {
  return !strcmp(a->id, b->id) && !strcmp(a->container_path, b->container_path) && a->read_only == b->read_only;
}

/* Docker cannot add or remove a bind mount of a running container (its
 * update call changes resources only), so an update whose persistent
 * volumes differ from the running ones is refused, naming the difference,
 * rather than recorded as if it had happened.  An update without disk
 * resources keeps the volumes, as it keeps any resource it leaves out. */
static int check_volumes_unchanged(container *c, json_t *resources, const berth_persistent_volume *pv, size_t n,
                                   berth_error *err) {
  size_t i;
  json_t *r;
  bool has_disk = false;
  json_array_foreach(resources, i, r) {
    const char *name = json_string_value(json_object_get(r, "name"));
    has_disk |= name && !strcmp(name, "disk");
  }
  if (!has_disk) return 0;
  char diff[512] = "";
  size_t len = 0;
  for (i = 0; i < n; i++) {
    bool found = false;
    for (size_t j = 0; j < c->spec.n_pvolumes && !found; j++) found = same_volume(&pv[i], &c->spec.pvolumes[j]);
    if (!found && len < sizeof(diff))
      len += (size_t)snprintf(diff + len, sizeof(diff) - len, "%sadds '%s' at '%s'", len ? ", " : "", pv[i].id,
                              pv[i].container_path);
  }
  for (i = 0; i < c->spec.n_pvolumes; i++) {
    bool found = false;
    for (size_t j = 0; j < n && !found; j++) found = same_volume(&c->spec.pvolumes[i], &pv[j]);
    if (!found && len < sizeof(diff))
      len += (size_t)snprintf(diff + len, sizeof(diff) - len, "%sdrops '%s' at '%s'", len ? ", " : "",
                              c->spec.pvolumes[i].id, c->spec.pvolumes[i].container_path);
  }
  if (len == 0) return 0;
  return berth_error_set(err, BERTH_ECONFLICT,
                         "container '%s': the update %s; Docker cannot add or remove the persistent volume mounts "
                         "of a running container",
                         c->id, diff);
}

int berth_cz_update(berth_containerizer *cz, json_t *update, berth_cz_done_cb cb, void *data, berth_error *err) {
  char id[BERTH_ID_MAX + 1];
  if (berth_spec_container_id(update, id, err) < 0) return err->code;
  container *c = lookup(cz, id, err);
  if (!c) return err->code;
  json_t *resources = json_object_get(update, "resources");
  json_t *limits = json_object_get(update, "limits");
  berth_resources res;
  berth_persistent_volume *pvolumes = NULL;
  size_t n_pvolumes = 0;
  int rc = berth_resources_parse(resources, limits, &res, &pvolumes, &n_pvolumes, err);
  /* The stored launch must stay one a restart can parse: the merged list
   * obeys the launch's own cap, so no sequence of updates grows it past. */
  if (rc == 0 && resources) {
    json_t *merged = merge_resources(json_object_get(c->launch, "resources"), resources);
    size_t n = json_array_size(merged);
    json_decref(merged);
    if (n > BERTH_SPEC_MAX_ARRAY)
      rc = berth_error_set(err, BERTH_EINVAL,
                           "resources: the update would leave the container with %zu entries, more than %d", n,
                           BERTH_SPEC_MAX_ARRAY);
  }
  if (rc == 0 && c->stage != BERTH_STAGE_RUNNING)
    rc = berth_error_set(err, BERTH_ECONFLICT, "container '%s' is %s, not RUNNING", id, stage_names[c->stage]);
  if (rc == 0) rc = check_volumes_unchanged(c, resources, pvolumes, n_pvolumes, err);
  for (size_t i = 0; i < n_pvolumes; i++) {
    free(pvolumes[i].id);
    free(pvolumes[i].container_path);
  }
  free(pvolumes);
  if (rc < 0) return rc;
  if (c->updating) return berth_error_set(err, BERTH_ECONFLICT, "container '%s' is being updated", id);
  json_t *hc = json_object();
  berth_mapping_resources(&res, cz->config.cgroups_enable_cfs, hc);
  if (json_object_size(hc) == 0) {
    json_decref(hc);
    return berth_error_set(err, BERTH_EINVAL, "update_container: no cpus or mem to apply");
  }
  json_t *memory = json_object_get(hc, "Memory");
  if (memory) c->mem_limit_mb = (double)json_integer_value(memory) / (1024.0 * 1024.0);
  update_call *call = berth_calloc(1, sizeof(*call));
  *call = (update_call){
      .cz = cz, .resources = json_incref(resources), .limits = json_incref(limits), .cb = cb, .data = data};
  snprintf(call->id, sizeof(call->id), "%s", id);
  c->updating = true;
  berth_docker_container_update(cz->docker, c->docker_name, hc, update_cb, call);
  json_decref(hc);
  return 0;
}

/* --- reporting ------------------------------------------------------------- */

/* Strings here come from the store, a client or docker: each goes through
 * berth_json_text, so no builder can hand back NULL. */
static json_t *container_json(container *c) {
  json_t *cid = json_object();
  json_object_set_new(cid, "value", berth_json_text(c->id));
  json_t *j = json_object();
  json_object_set(j, "container_id", cid);
  json_object_set_new(j, "stage", json_string(stage_names[c->stage]));
  json_object_set_new(j, "docker_name", berth_json_text(c->docker_name));
  json_object_set_new(j, "image", berth_json_text(c->spec.image));
  json_t *status = json_object();
  json_object_set(status, "container_id", cid);
  if (c->pid > 0 && c->stage != BERTH_STAGE_TERMINATED)
    json_object_set_new(status, "executor_pid", json_integer(c->pid));
  if (c->network_infos && c->stage != BERTH_STAGE_TERMINATED)
    json_object_set(status, "network_infos", c->network_infos);
  json_object_set_new(j, "container_status", status);
  json_t *res = json_object_get(c->launch, "resources");
  json_t *limits = json_object_get(c->launch, "limits");
  if (res) json_object_set(j, "resources", res);
  if (limits) json_object_set(j, "limits", limits);
  if (c->pid > 0 && (c->stage == BERTH_STAGE_RUNNING || c->stage == BERTH_STAGE_DESTROYING) && !c->exited) {
    berth_cgroup_roots roots = {c->cz->config.proc_root, c->cz->config.cgroup_root};
    berth_usage usage;
    berth_error err;
    /* A process that just exited has no cgroup to read: no statistics. */
    if (berth_cgroups_usage(&roots, c->pid, &usage, &err) == 0)
      json_object_set_new(j, "resource_statistics", berth_usage_json(&usage, now_secs()));
  }
  if (c->termination) json_object_set(j, "termination", c->termination);
  json_t *pull = c->stage == BERTH_STAGE_PULLING ? cz_pull_progress_json(c) : NULL;
  if (pull) json_object_set_new(j, "pull", pull);
  json_decref(cid);
  return j;
}

json_t *berth_cz_containers(berth_containerizer *cz) {
  json_t *list = json_array();
  /* Newest first in the list; report in launch order. */
  container *last = cz->containers;
  while (last && last->next) last = last->next;
  for (container *c = last; c; c = c->prev) json_array_append_new(list, container_json(c));
  return list;
}

/* --- life cycle -------------------------------------------------------------- */

berth_containerizer *berth_cz_new(uv_loop_t *loop, berth_docker *docker, berth_store *store,
                                  const berth_cz_config *config) {
  berth_containerizer *cz = berth_calloc(1, sizeof(*cz));
  cz->loop = loop;
  cz->docker = docker;
  cz->store = store;
  cz->config = *config;
  /* Start-up, so on the loop: symlinks the operator put in a prefix are
   * resolved once; a caller's path may then hold none (volumes.h). */
  cz->real_prefixes = berth_volumes_real_prefixes(config->allowed_host_paths);
  uv_timer_init(loop, &cz->recover_timer);
  cz->recover_timer.data = cz;
  return cz;
}

static void free_cz(berth_containerizer *cz) {
  berth_volumes_prefixes_free(cz->real_prefixes);
  free(cz);
}

/* The containerizer goes once its timer is closed and no sandbox removal
 * is still running on the thread pool. */
static void free_cz_cb(uv_handle_t *handle) {
  berth_containerizer *cz = handle->data;
  cz->timer_closed = true;
  if (cz->pending_work == 0) free_cz(cz);
}

void berth_cz_free(berth_containerizer *cz) {
  if (!cz) return;
  cz->closing = true;
  while (cz->containers) {
    container *c = cz->containers;
    while (c->waiters) {
      waiter *w = c->waiters;
      c->waiters = w->next;
      free(w);
    }
    container_free(c);
  }
  berth_docker_cancel(cz->recover_req);
  uv_close((uv_handle_t *)&cz->recover_timer, (uv_close_cb)free_cz_cb);
}
