/* Recovery: the store says what berthd knew, docker says what exists; the
 * two are reconciled before the API answers (API.md §8). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "containerizer/container.h"
#include "containerizer/deadline.h"
#include "containerizer/health.h"
#include "containerizer/rebind.h"
#include "containerizer/sandbox.h"
#include "containerizer/termination.h"
#include "containerizer/volumes.h"
#include "docker/api.h"
#include "util/alloc.h"
#include "util/log.h"

#define RECOVER_BACKOFF_MIN_MS 250
#define RECOVER_BACKOFF_MAX_MS 5000
/* After recovery, docker is listed again this often to catch what no
 * callback can see: a create that a crashed berthd sent and dockerd
 * finished after recovery looked, or an orphan made behind berthd's back. */
#define SWEEP_INTERVAL_MS 5000
/* A sweep that found nothing to do, with no launch and no container come
 * or gone since the one before, doubles the interval up to this; any of
 * those brings it back to SWEEP_INTERVAL_MS.  An idle node with hundreds
 * of containers then has dockerd list them every 20 s, not every 5 s. */
#define SWEEP_IDLE_MAX_MS 20000

static berth_stage stage_from_name(const char *name) {
  for (int s = 0; s < BERTH_STAGE_COUNT; s++)
    if (name && !strcmp(name, berth_stage_name((berth_stage)s))) return (berth_stage)s;
  return BERTH_STAGE_FETCHING; /* unknown: treated as a launch caught mid-way */
}

/* Only a regular file's size counts: a link the task planted is not
 * followed, a FIFO or device not opened. */
static uint64_t file_size(const char *work_dir, const char *id, const char *name) {
  cleanup_close int dfd = berth_sandbox_open(work_dir, id, NULL);
  struct stat st;
  cleanup_close int fd = dfd < 0 ? -1 : berth_safefs_pin(dfd, name, &st, NULL);
  return fd >= 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
}

static void restore_row(const berth_record *rec, void *data) {
  berth_containerizer *cz = data;
  /* The launch was validated when it came in; today's policy flags must
   * not make a running task unrecoverable. */
  static const char *const everywhere[] = {"/", NULL};
  berth_launch_policy policy = {everywhere, true};
  berth_launch_spec spec;
  berth_error err;
  if (!rec->launch || berth_spec_parse(rec->launch, &policy, &spec, &err) < 0) {
    /* Said loudly, and what can still be read is kept: above all the kill
     * policy, without which a destroy would skip the task's grace.  The
     * resources are only needed at launch and update, so a copy without
     * them (a list an older berthd let grow past the cap) is tried next. */
    log_error("container %s: stored launch unreadable (%s)", rec->id, rec->launch ? err.msg : "missing");
    json_t *lean = rec->launch ? json_deep_copy(rec->launch) : NULL;
    json_object_del(lean, "resources");
    json_object_del(lean, "limits");
    berth_error lean_err;
    if (lean && berth_spec_parse(lean, &policy, &spec, &lean_err) == 0) {
      log_error("container %s: recovered without its resources; kill policy and the rest kept", rec->id);
    } else {
      log_error("container %s: keeping only its id, image and kill policy", rec->id);
      memset(&spec, 0, sizeof(spec));
      snprintf(spec.id, sizeof(spec.id), "%s", rec->id);
      spec.image = berth_strdup(rec->image ? rec->image : "");
      berth_spec_kill_policy(rec->launch, &spec.has_grace, &spec.grace_ns);
    }
    json_decref(lean);
  }
  container *c = cz_container_new(cz, &spec, rec->launch);
  c->stage = stage_from_name(rec->stage);
  c->created_at = rec->created_at;
  c->finished_at = rec->finished_at;
  c->running_at = rec->running_at;
  c->bound = rec->bound;
  c->docker_id = rec->docker_id ? berth_strdup(rec->docker_id) : NULL;
  c->termination = rec->termination ? json_incref(rec->termination) : NULL;
  if (c->stage == BERTH_STAGE_TERMINATED && !c->termination)
    c->termination = berth_termination_gone("termination record lost");
  if (c->stage != BERTH_STAGE_TERMINATED) {
    c->n_gpus = berth_gpu_parse(rec->gpus, c->gpus, BERTH_GPU_MAX);
    for (size_t i = 0; i < c->n_gpus; i++)
      if (berth_gpu_claim(cz->config.gpus, c->gpus[i], c->id, &err) < 0) log_error("container %s: %s", c->id, err.msg);
  }
  /* Bytes rotated out count too (rotation.c); cz_open_outputs refines
   * this for the containers whose capture resumes. */
  cz_outputs_restore(c, rec->outputs);
  c->cap.written[1] = c->cap.skip[1] = c->out[1].rotated + file_size(cz->config.work_dir, c->id, "stdout");
  c->cap.written[2] = c->cap.skip[2] = c->out[2].rotated + file_size(cz->config.work_dir, c->id, "stderr");
}

static json_t *find_entry(json_t *list, const char *id) {
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    const char *cid = json_string_value(json_object_get(json_object_get(e, "Labels"), "berth.container_id"));
    if (cid && !strcmp(cid, id)) return e;
  }
  return NULL;
}

static void reconcile_one(berth_containerizer *cz, container *c, json_t *entry) {
  cleanup_free char *msg = NULL;
  switch (c->stage) {
    case BERTH_STAGE_FETCHING:
    case BERTH_STAGE_PULLING:
    case BERTH_STAGE_MOUNTING:
      msg = berth_asprintf("berthd restarted while the container was %s; the launch was abandoned",
                           berth_stage_name(c->stage));
      log_warn("container %s: %s", c->id, msg);
      cz->metrics.launch_failures++;
      cz_terminate(c, berth_termination_launch_failed(msg, false));
      if (entry) {
        c->docker_created = true;
        cz_remove_docker(c);
      }
      return;
    case BERTH_STAGE_RUNNING:
    case BERTH_STAGE_DESTROYING:
      if (!entry) {
        msg = berth_asprintf("docker container %s was gone when berthd recovered", c->docker_name);
        log_warn("container %s: %s", c->id, msg);
        cz_terminate(c, berth_termination_gone(msg));
        return;
      }
      c->docker_created = true;
      berth_error err;
      if (cz_open_outputs(c, &err) < 0) log_error("container %s: %s; output not captured", c->id, err.msg);
      log_info("container %s: recovered %s (docker state %s)", c->id, berth_stage_name(c->stage),
               json_string_value(json_object_get(entry, "State")));
      cz_arm_watchers(c);
      /* A deadline that passed while berthd was down fires at once. */
      cz_deadline_arm(c);
      /* Checks start again as after a launch: STARTING, no failures,
       * delay and grace counted from the stored running_at. */
      cz_health_arm(c);
      c->status_req = berth_docker_container_inspect(cz->docker, c->docker_name, cz_status_inspect_cb, c);
      if (c->stage == BERTH_STAGE_DESTROYING) {
        /* Finish the destroy: the grace period starts again. */
        c->stage = BERTH_STAGE_RUNNING;
        cz_begin_destroy(c);
      }
      /* Its bound client, if it had one, gets a while to come back. */
      cz_rebind_arm(c);
      return;
    case BERTH_STAGE_TERMINATED:
      c->docker_created = entry != NULL;
      if (entry) {
        double age_ms = ((double)time(NULL) - c->finished_at) * 1000.0;
        double delay_ms = (double)cz->config.docker_remove_delay_ns / 1e6 - age_ms;
        uv_timer_start(&c->timer, cz_remove_delay_cb, delay_ms > 0 ? (uint64_t)delay_ms : 0, 0);
      }
      return;
  }
}

static void finish_recovery(berth_containerizer *cz, int rc, const berth_error *err) {
  berth_cz_done_cb cb = cz->recovered_cb;
  cz->recovered_cb = NULL;
  if (cb) cb(rc, err, cz->recovered_data);
}

static void list_cb(int rc, json_t *answer, const berth_error *err, void *data);
static void sweep_cb(uv_timer_t *t);

/* Docker containers of this agent id that no record accounts for: orphans
 * (no record) and leftovers of a TERMINATED record whose docker container
 * berthd believes gone.  Returns how many orphans it saw. */
static size_t sweep_entries(berth_containerizer *cz, json_t *list, bool log_kept, size_t *leftovers) {
  size_t i, orphans = 0;
  json_t *e;
  json_array_foreach(list, i, e) {
    const char *cid = json_string_value(json_object_get(json_object_get(e, "Labels"), "berth.container_id"));
    const char *name = json_string_value(json_array_get(json_object_get(e, "Names"), 0));
    const char *id = json_string_value(json_object_get(e, "Id"));
    container *c = NULL;
    for (container *k = cz->containers; k && cid && !c; k = k->next)
      if (!strcmp(k->id, cid)) c = k;
    if (c) {
      /* Never one being removed: its docker container may be gone since
       * the list was made, and the REMOVE finishes the job.  Nor an entry
       * older than this record: a list made before a REMOVE and a
       * relaunch with the same id describes the old incarnation.  One made
       * after the record that berthd no longer counts as its own (a create
       * that finished after recovery looked, or one planted under its
       * name) is a leftover and goes. */
      json_t *created = json_object_get(e, "Created");
      bool older = json_is_integer(created) && (double)json_integer_value(created) + 1.0 < c->created_at;
      if (c->stage == BERTH_STAGE_TERMINATED && !c->docker_created && !c->op && !c->recovering && !c->removing &&
          !older) {
        log_warn("container %s: docker container %s appeared after it ended; removing it", c->id, name ? name : id);
        c->docker_created = true;
        cz_remove_docker(c);
        if (leftovers) (*leftovers)++;
      }
      continue;
    }
    if (!id) continue;
    orphans++;
    if (cz->config.docker_kill_orphans) {
      log_warn("killing orphan docker container %s", name ? name : id);
      cz_docker_remove_detached(cz, id);
    } else if (log_kept) {
      log_warn("leaving orphan docker container %s (--docker_kill_orphans=false)", name ? name : id);
    }
  }
  return orphans;
}

static void sweep_list_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  berth_containerizer *cz = data;
  cz->recover_req = NULL;
  size_t leftovers = 0, orphans = rc == 0 ? sweep_entries(cz, answer, false, &leftovers) : 0;
  bool busy =
      rc < 0 || orphans || leftovers || cz->metrics.launches != cz->sweep_launches || cz->count != cz->sweep_count;
  cz->sweep_launches = cz->metrics.launches;
  cz->sweep_count = cz->count;
  uint64_t next = cz->sweep_interval_ms * 2;
  cz->sweep_interval_ms = busy || !cz->sweep_interval_ms ? SWEEP_INTERVAL_MS
                          : next > SWEEP_IDLE_MAX_MS     ? SWEEP_IDLE_MAX_MS
                                                         : next;
  uv_timer_start(&cz->recover_timer, sweep_cb, cz->sweep_interval_ms, 0);
}

static void sweep_cb(uv_timer_t *t) {
  berth_containerizer *cz = t->data;
  cleanup_free char *label = berth_asprintf("berth.agent_id=%s", cz->config.agent_id);
  cz->recover_req = berth_docker_container_list(cz->docker, label, sweep_list_cb, cz);
}

static void retry_cb(uv_timer_t *t) {
  berth_containerizer *cz = t->data;
  cleanup_free char *label = berth_asprintf("berth.agent_id=%s", cz->config.agent_id);
  cz->recover_req = berth_docker_container_list(cz->docker, label, list_cb, cz);
}

static void list_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  berth_containerizer *cz = data;
  cz->recover_req = NULL;
  /* An answer that is not a list (an empty body, an error object sent
   * with 200) says nothing of what exists: read as an empty list, it would
   * declare every running container gone. */
  berth_error lerr;
  if (rc == 0 && !json_is_array(answer)) {
    rc = berth_error_set(&lerr, BERTH_EDOCKER, "docker's container listing is not a list");
    err = &lerr;
  }
  if (rc < 0) {
    log_warn("recovery: list docker containers: %s; retrying in %llu ms", err->msg,
             (unsigned long long)cz->recover_backoff_ms);
    uv_timer_start(&cz->recover_timer, retry_cb, cz->recover_backoff_ms, 0);
    cz->recover_backoff_ms =
        cz->recover_backoff_ms * 2 > RECOVER_BACKOFF_MAX_MS ? RECOVER_BACKOFF_MAX_MS : cz->recover_backoff_ms * 2;
    finish_recovery(cz, rc, err); /* the API serves meanwhile */
    return;
  }
  size_t restored = 0, orphans;
  for (container *c = cz->containers, *next; c; c = next) {
    next = c->next;
    if (!c->recovering) continue;
    c->recovering = false;
    restored++;
    reconcile_one(cz, c, find_entry(answer, c->id));
  }
  orphans = sweep_entries(cz, answer, true, NULL);
  cz->sweep_interval_ms = SWEEP_INTERVAL_MS;
  log_info("recovery: %zu containers reconciled, %zu orphans", restored, orphans);
  uv_timer_start(&cz->recover_timer, sweep_cb, SWEEP_INTERVAL_MS, 0);
  finish_recovery(cz, 0, NULL);
}

int berth_cz_recover(berth_containerizer *cz, berth_cz_done_cb cb, void *data, berth_error *err) {
  /* Before any sandbox is touched: an older berthd left the work dir 0755. */
  if (berth_sandbox_close_work_dir(cz->config.work_dir, err) < 0) return berth_error_prefix(err, "--work_dir");
  /* Pins live from a launch's FETCHING to its start; whatever a crash left
   * is no container's any more (one caught mid-launch is abandoned below). */
  berth_error perr;
  int pins = berth_volumes_unpin_all(cz->config.work_dir, &perr);
  if (pins < 0)
    log_error("recovery: host volume pins: %s", perr.msg);
  else if (pins > 0)
    log_info("recovery: removed %d host volume pin directories left by a crash", pins);
  if (berth_store_load(cz->store, restore_row, cz, err) < 0) return berth_error_prefix(err, "recovery");
  /* Image collection knows every container from here. */
  cz_images_start(cz);
  for (container *c = cz->containers; c; c = c->next) c->recovering = true;
  cz->recovered_cb = cb;
  cz->recovered_data = data;
  cz->recover_backoff_ms = RECOVER_BACKOFF_MIN_MS;
  retry_cb(&cz->recover_timer);
  return 0;
}
