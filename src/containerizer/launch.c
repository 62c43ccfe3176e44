/* Launch: berth_cz_launch and its stages in the order they run --
 * FETCHING (sandbox, fetcher), PULLING (inspect, shared pull), MOUNTING
 * (persistent volumes, host volume pins), create, attach, start, RUNNING --
 * and how a launch that does not get there ends. */
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

/* The stages in the order they run; each is defined after the one before. */
static void enter_fetching(container *c);
static void fetch_done_cb(int rc, const berth_error *err, const berth_fetch_stats *stats, void *data);
static void enter_pulling(container *c);
static void image_inspect_cb(int rc, json_t *answer, const berth_error *err, void *data);
static void enter_mounting(container *c);
static void pin_volumes(container *c);
static void pin_work(uv_work_t *work);
static char **copy_strings(char *const *list);
static void free_strings(char **list, size_t n);
static void pinned_cb(uv_work_t *work, int status);
static void create_container(container *c);
static void create_cb(int rc, json_t *answer, const berth_error *err, void *data);
static void attach_ready_cb(void *data);
static void start_now_cb(uv_timer_t *timer);
static void start_cb(int rc, json_t *answer, const berth_error *err, void *data);
static void reply_launch(container *c, int rc, const berth_error *err);
static void launch_end(container *c, bool killed, int exit_code, const berth_error *err);
static void launch_fail(container *c, const char *what, const char *detail);

int berth_cz_launch(berth_containerizer *cz, json_t *launch, berth_cz_done_cb cb, void *data, berth_error *err) {
  berth_launch_policy policy = {cz->config.allowed_host_paths, cz->config.allow_privileged};
  char id[BERTH_ID_MAX + 1];
  /* The id first: a duplicate is 202 even if the rest differs. */
  if (berth_spec_container_id(launch, id, err) < 0) return err->code;
  if (cz_find(cz, id)) return BERTH_LAUNCH_DUPLICATE;
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
    cz_container_free(c);
    return err->code;
  }
  cz_emit_stage(c);
  berth_crashpoint("after-FETCHING");
  log_info("container %s: launching image %s as %s", c->id, c->spec.image, c->docker_name);
  enter_fetching(c);
  return 0;
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
    launch_end(c, false, 0, &ferr);
    return;
  }
  enter_pulling(c);
}

static void enter_pulling(container *c) {
  berth_error serr;
  if (cz_set_stage(c, BERTH_STAGE_PULLING, &serr) < 0) {
    launch_fail(c, "record the launch of image", serr.msg);
    return;
  }
  if (cz_images_hold(c)) return;
  cz_inspect_image(c);
}

void cz_inspect_image(container *c) {
  c->op = berth_docker_image_inspect(c->cz->docker, c->spec.image, image_inspect_cb, c);
}

static void image_inspect_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  c->op = NULL;
  if (rc == 0 && !c->spec.force_pull) {
    cz_images_used(c->cz, c->spec.image);
    enter_mounting(c);
    return;
  }
  if (rc < 0 && rc != BERTH_ENOENT) {
    launch_fail(c, "inspect image", err->msg);
    return;
  }
  cz_pull_join(c, rc == BERTH_ENOENT);
}

/* The end of the pull c waited for (pull.c), shared or not. */
void cz_pull_done(container *c, int rc, const berth_error *err) {
  if (rc < 0) {
    launch_fail(c, "pull image", err->msg);
    return;
  }
  enter_mounting(c);
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

static void pin_work(uv_work_t *work) {
  struct pin_job *j = work->data;
  j->rc = berth_volumes_pin(j->work_dir, j->pin_dir, (const char *const *)j->hosts, j->n,
                            (const char *const *)j->allowed, (const char *const *)j->real, j->pins, &j->err);
}

static char **copy_strings(char *const *list) {
  size_t n = 0;
  while (list && list[n]) n++;
  char **out = berth_calloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) out[i] = berth_strdup(list[i]);
  return out;
}

static void free_strings(char **list, size_t n) {
  for (size_t i = 0; i < n; i++) free(list[i]);
  free(list);
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
      cz_launch_killed(c);
    } else if (j->rc < 0) {
      launch_end(c, false, 0, &j->err);
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
  if (cz->closing && cz->pending_work == 0 && cz->timer_closed) cz_free_containerizer(cz);
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
      .port_host_ip = cz->config.docker_port_host_ip,
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

/* A create or start docker refused ends the launch: as killed when a KILL
 * came first (that is how it ended), else as failed naming the step.
 * Returns true when the launch has ended. */
static bool step_refused(container *c, int rc, const char *what, const berth_error *err) {
  if (rc >= 0) return false;
  if (c->destroy_requested) {
    cz_launch_killed(c);
    return true;
  }
  /* A command the runtime could not exec is refused by start: recorded
   * with docker run's 127 or 126, so WAIT and `berth run` report it. */
  int code = strncmp(what, "start", 5) == 0 ? berth_termination_exec_code(err->msg) : 0;
  berth_error ferr;
  berth_error_set(&ferr, BERTH_EDOCKER, "Failed to %s '%s': %s", what, c->spec.image, err->msg);
  launch_end(c, false, code, &ferr);
  return true;
}

static void create_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  c->op = NULL;
  if (step_refused(c, rc, "create container for image", err)) return;
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
    cz_launch_killed(c);
    return;
  }
  /* Attach before start: docker then hands over every byte, raw, and ends
   * the stream only after the last one, with no log file in between that
   * could rotate under a reader. */
  c->cap.live_attach = true;
  c->cap.logs_req =
      berth_docker_container_attach(c->cz->docker, c->docker_name, cz_output_cb, attach_ready_cb, cz_attach_done_cb, c);
}

/* Inside a curl callback: the start request is made on the next turn. */
static void attach_ready_cb(void *data) {
  container *c = data;
  uv_timer_start(&c->timer, start_now_cb, 0, 0);
}

static void start_now_cb(uv_timer_t *timer) { cz_start_now(timer->data); }

void cz_start_now(container *c) {
  if (c->op || c->stage != BERTH_STAGE_MOUNTING || c->started) return;
  if (c->destroy_requested) {
    cz_launch_killed(c);
    return;
  }
  c->started = true;
  c->op = berth_docker_container_start(c->cz->docker, c->docker_name, start_cb, c);
}

static void start_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  container *c = data;
  c->op = NULL;
  if (step_refused(c, rc, "start container for image", err)) return;
  berth_crashpoint("after-start");
  cz_release_pins(c);
  /* A task berthd could not record as RUNNING would come back after a
   * restart as a launch caught mid-way: stop it now and say why. */
  c->running_at = cz_now_secs(); /* stored with the stage: time limits count from it */
  berth_error serr;
  if (cz_set_stage(c, BERTH_STAGE_RUNNING, &serr) < 0) {
    launch_fail(c, "record the start of image", serr.msg);
    return;
  }
  cz_deadline_arm(c);
  cz_health_arm(c);
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

static void reply_launch(container *c, int rc, const berth_error *err) {
  berth_cz_done_cb cb = c->launch_cb;
  c->launch_cb = NULL;
  if (cb) cb(rc, err, c->launch_data);
}

/* A launch that did not reach RUNNING: clean up what exists, report. */
static void launch_end(container *c, bool killed, int exit_code, const berth_error *err) {
  c->cz->metrics.launch_failures += killed ? 0 : 1;
  log_warn("container %s: launch %s: %s", c->id, killed ? "killed" : "failed", err->msg);
  bool created = c->docker_created;
  c->docker_created = false; /* no remove-delay timer: it goes now */
  cz_terminate(c, killed ? berth_termination_launch_failed(err->msg, true)
                         : berth_termination_launch_failed_code(err->msg, exit_code));
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
  launch_end(c, false, 0, &err);
}

void cz_launch_killed(container *c) {
  berth_error err;
  berth_error_set(&err, BERTH_ECANCELED, "container '%s' was killed during %s", c->id, berth_stage_name(c->stage));
  launch_end(c, true, 0, &err);
}
