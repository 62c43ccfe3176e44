/* Output capture and exit detection of a started container: the attach
 * opened before the start, docker's log stream after it, /wait and the
 * inspect after the exit, until the output is complete and the container
 * is TERMINATED. */
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
#include "containerizer/health.h"
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
    c->cap.written[i] = c->out[i].rotated + c->out[i].size;
  }
  /* Without its index the output is still captured; logs then lack the
   * times of what follows. */
  berth_error ix_err;
  if (cz_logs_open(c, &ix_err) < 0) log_error("container %s: log index: %s", c->id, ix_err.msg);
  return 0;
}

int cz_output_cb(int stream, const char *buf, size_t len, void *data) {
  container *c = data;
  if (c->cap.skip[stream] > 0) {
    size_t s = c->cap.skip[stream] < len ? (size_t)c->cap.skip[stream] : len;
    c->cap.skip[stream] -= s;
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
  berth_docker_cancel(c->cap.logs_req);
  c->cap.final_read_done = true;
  c->cap.logs_ended = false;
  c->cap.skip[1] = c->cap.written[1];
  c->cap.skip[2] = c->cap.written[2];
  c->cap.logs_req = berth_docker_container_logs(c->cz->docker, c->docker_name, 0, cz_output_cb, logs_done_cb, c);
}

static void read_rest_cb(uv_timer_t *timer) { read_rest(timer->data); }

static void maybe_finish(container *c) {
  if (!c->cap.exited || !c->cap.exit_inspected || !c->cap.logs_ended) return;
  if (c->cap.final_read_needed && !c->cap.final_read_done) {
    /* The stream was opened after the container stopped, so it was a
     * snapshot that may predate docker's flush of a last partial line
     * (it happens just after /wait answers): read once more, a moment
     * later. */
    c->cap.final_read_done = true;
    c->cap.logs_ended = false;
    uv_timer_start(&c->cap.timer, read_rest_cb, FINAL_READ_DELAY_MS, 0);
    return;
  }
  berth_crashpoint("before-terminated");
  berth_exit_info info = {
      .exit_code = c->cap.exit_code,
      .oom_killed = c->cap.oom_killed,
      .killed = c->destroy_requested,
      .mem_limit_mb = c->mem_limit_mb,
  };
  /* A health kill names its cause even if the deadline passed during it. */
  cz_terminate(c, cz_health_termination(c, cz_deadline_termination(c, berth_termination_from_exit(&info))));
}

static void drain_timeout_cb(uv_timer_t *timer) {
  container *c = timer->data;
  uint64_t total = c->cap.written[1] + c->cap.written[2];
  if (total != c->cap.drain_mark) { /* still catching up: let it run */
    c->cap.drain_mark = total;
    uv_timer_start(&c->cap.timer, drain_timeout_cb, LOG_DRAIN_IDLE_MS, 0);
    return;
  }
  log_debug("container %s: log stream idle %d ms after exit; reading the rest without follow", c->id,
            LOG_DRAIN_IDLE_MS);
  read_rest(c);
}

static void rearm_cb(uv_timer_t *timer) { cz_arm_watchers(timer->data); }

static void logs_done_cb(int rc, const berth_error *err, void *data) {
  container *c = data;
  c->cap.logs_req = NULL;
  if (rc < 0) log_warn("container %s: log stream: %s", c->id, err->msg);
  if (c->cap.exited) {
    uv_timer_stop(&c->cap.timer);
    c->cap.logs_ended = true;
    maybe_finish(c);
    return;
  }
  /* The stream ended while the container runs (or before docker told us
   * it stopped): read again from the start, skipping what is written. */
  uv_timer_start(&c->cap.timer, rearm_cb, rc < 0 ? REARM_DELAY_MS : 100, 0);
}

static void exit_inspect_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  c->cap.inspect_req = NULL;
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
                                            c->docker_name, c->cap.exit_code, err->msg);
    c->docker_created = false;
    cz_terminate(c, berth_termination_gone(msg));
    return;
  }
  if (rc == 0) {
    json_t *state = json_object_get(answer, "State");
    c->cap.oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
    json_t *code = json_object_get(state, "ExitCode");
    if (json_is_integer(code)) c->cap.exit_code = (int)json_integer_value(code);
    double finished = berth_rfc3339_parse(json_string_value(json_object_get(state, "FinishedAt")));
    c->docker_finished_at = finished;
    /* A follow stream opened before the stop is docker's live feed and ends
     * only after the last byte; one opened at or after it is a snapshot. */
    c->cap.final_read_needed =
        !c->cap.live_attach && (finished <= 0 || c->cap.follow_opened_at > finished - FOLLOW_MARGIN_SECS);
    /* The attach ended cleanly at the stop: it carried everything. */
    if (!c->cap.logs_ended && !c->cap.logs_req && c->cap.attach_eof_clean && finished > 0 &&
        c->cap.attach_ended_at >= finished - FOLLOW_MARGIN_SECS) {
      c->cap.logs_ended = true;
      c->cap.final_read_needed = false;
    }
  } else {
    c->cap.final_read_needed = true;
    log_warn("container %s: inspect after exit: %s", c->id, err->msg);
  }
  c->cap.exit_inspected = true;
  if (!c->cap.logs_ended) {
    c->cap.drain_mark = c->cap.written[1] + c->cap.written[2];
    uv_timer_start(&c->cap.timer, drain_timeout_cb, LOG_DRAIN_IDLE_MS, 0);
  }
  maybe_finish(c);
}

static void wait_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  c->cap.wait_req = NULL;
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
    uv_timer_start(&c->cap.timer, rearm_cb, REARM_DELAY_MS, 0);
    return;
  }
  c->cap.exited = true;
  c->cap.exit_code = (int)json_integer_value(json_object_get(answer, "StatusCode"));
  uv_timer_stop(&c->kill_timer);
  c->cap.inspect_req = berth_docker_container_inspect(c->cz->docker, c->docker_name, exit_inspect_cb, c);
}

void cz_arm_watchers(container *c) {
  if (c->stage != BERTH_STAGE_RUNNING && c->stage != BERTH_STAGE_DESTROYING) return;
  if (!c->cap.wait_req && !c->cap.exited)
    c->cap.wait_req = berth_docker_container_wait(c->cz->docker, c->docker_name, wait_cb, c);
  if (!c->cap.logs_req && !c->cap.logs_ended) {
    c->cap.skip[1] = c->cap.written[1];
    c->cap.skip[2] = c->cap.written[2];
    c->cap.follow_opened_at = cz_now_secs();
    c->cap.logs_req = berth_docker_container_logs(c->cz->docker, c->docker_name, 1, cz_output_cb, logs_done_cb, c);
  }
}

void cz_attach_done_cb(int rc, const berth_error *err, void *data) {
  container *c = data;
  c->cap.logs_req = NULL;
  if (!c->started) {
    /* No attach (an old or odd dockerd): start anyway, output then comes
     * from the log as after a restart. */
    log_warn("container %s: attach: %s; capturing from docker's log instead", c->id, err ? err->msg : "ended");
    c->cap.live_attach = false;
    cz_start_now(c);
    return;
  }
  if (rc < 0) log_warn("container %s: attach stream: %s", c->id, err->msg);
  c->cap.live_attach = false; /* from here on, the rest comes from docker's log */
  if (c->cap.exit_inspected) {
    /* A clean end after the exit is the end of the output. */
    if (rc == 0) {
      c->cap.logs_ended = true;
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
  c->cap.attach_eof_clean = rc == 0;
  c->cap.attach_ended_at = cz_now_secs();
  if (!uv_is_active((uv_handle_t *)&c->cap.timer)) uv_timer_start(&c->cap.timer, rearm_cb, ATTACH_SETTLE_MS, 0);
}
