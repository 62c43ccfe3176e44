/* Destroy (kill with escalation to SIGKILL), signals, and removal: the
 * docker container (with retries, after the remove delay) and the sandbox
 * (on the thread pool). */
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
#include "containerizer/logs.h"
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

/* A removal of a terminated container's docker container that dockerd did
 * not take (down, restarting, busy) is tried again after this, doubling up
 * to the maximum: an outage must not leave it behind for good. */
#define REMOVE_RETRY_MIN_MS 1000
#define REMOVE_RETRY_MAX_MS 60000

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
  if (c->cap.exited) return;
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
      cz_launch_killed(c);
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

int berth_cz_kill(berth_containerizer *cz, const char *id, int sig, berth_cz_done_cb cb, void *data, berth_error *err) {
  container *c = cz_lookup(cz, id, err);
  if (!c) return err->code;
  if (sig == 0) {
    log_info("container %s: destroy requested in %s", c->id, berth_stage_name(c->stage));
    cz_begin_destroy(c);
    return 0;
  }
  if (c->stage != BERTH_STAGE_RUNNING && c->stage != BERTH_STAGE_DESTROYING)
    return berth_error_set(err, BERTH_ECONFLICT, "container '%s' is %s, not running", id, berth_stage_name(c->stage));
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

void cz_remove_delay_cb(uv_timer_t *timer) {
  container *c = timer->data;
  if (c->docker_created) cz_remove_docker(c);
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
  if (r->rc == 0) r->rc = berth_logs_remove_index(r->work_dir, r->id, &r->err);
}

static void sandbox_removed_cb(uv_work_t *work, int status) {
  sandbox_removal *r = work->data;
  berth_containerizer *cz = r->cz;
  cz->pending_work--;
  container *c = cz->closing ? NULL : cz_find(cz, r->id);
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
    cz_emit_removed(cz, c->id);
    berth_cz_done_cb cb = c->remove_cb;
    void *data = c->remove_data;
    cz_container_free(c);
    cb(0, NULL, data);
  }
  free(r->work_dir);
  free(r->runtime_dir);
  free(r->agent_id);
  free(r);
  if (cz->closing && cz->pending_work == 0 && cz->timer_closed) cz_free_containerizer(cz);
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
  container *c = cz_lookup(cz, id, err);
  if (!c) return err->code;
  if (c->stage != BERTH_STAGE_TERMINATED)
    return berth_error_set(err, BERTH_ECONFLICT, "container '%s' is %s; only TERMINATED containers can be removed", id,
                           berth_stage_name(c->stage));
  if (c->removing) return berth_error_set(err, BERTH_ECONFLICT, "container '%s' is being removed", id);
  c->removing = true;
  c->remove_cb = cb;
  c->remove_data = data;
  cz_remove_docker(c);
  return 0;
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
