/* Bookkeeping of containers (find, new/free, persist, stage, terminate,
 * waiters), wait/forget, reporting and the containerizer's life cycle.
 * The stages live in launch.c, capture.c, destroy.c and update.c. */
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
#include "containerizer/usage.h"
#include "containerizer/container.h"
#include "containerizer/deadline.h"
#include "containerizer/health.h"
#include "containerizer/mapping.h"
#include "containerizer/rebind.h"
#include "containerizer/sandbox.h"
#include "containerizer/termination.h"
#include "containerizer/volumes.h"
#include "docker/api.h"
#include "util/alloc.h"
#include "util/text.h"
#include "util/crashpoint.h"
#include "util/log.h"

static const char *const stage_names[] = {"FETCHING", "PULLING", "MOUNTING", "RUNNING", "DESTROYING", "TERMINATED"};

const char *berth_stage_name(berth_stage stage) { return stage_names[stage]; }

double cz_now_secs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

container *cz_find(berth_containerizer *cz, const char *id) {
  for (container *c = cz->containers; c; c = c->next)
    if (!strcmp(c->id, id)) return c;
  return NULL;
}

container *cz_lookup(berth_containerizer *cz, const char *id, berth_error *err) {
  if (!berth_container_id_valid(id)) {
    berth_error_set(err, BERTH_EINVAL, "container_id.value: '%.80s' is not a valid container id", id);
    return NULL;
  }
  container *c = cz_find(cz, id);
  if (!c) berth_error_set(err, BERTH_ENOENT, "no such container: %s", id);
  return c;
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
      .bound = c->bound,
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
  if (stage != BERTH_STAGE_RUNNING) cz_health_stop(c);
  /* Said before the write: the stage is entered in memory either way. */
  if (stage != BERTH_STAGE_TERMINATED) cz_emit_stage(c);
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
  cz_logs_close(c);
}

/* Docker's started container holds its own mount of each volume: the pins
 * are only needed from the create to the start, and go at either end. */
void cz_release_pins(container *c) {
  if (!c->pin_dir) return;
  berth_error err;
  if (berth_volumes_unpin(c->cz->config.work_dir, c->pin_dir, &err) < 0)
    log_error("container %s: %s (recovery retries at the next start)", c->id, err.msg);
  free(c->pin_dir);
  c->pin_dir = NULL;
}

static void container_closed_cb(uv_handle_t *handle) {
  container *c = handle->data;
  if (--c->open_handles > 0) return;
  cz_health_free(c);
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
  berth_docker_req **reqs[] = {&c->op,       &c->cap.wait_req, &c->cap.logs_req, &c->cap.inspect_req,
                               &c->kill_req, &c->status_req};
  for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
    berth_docker_cancel(*reqs[i]);
    *reqs[i] = NULL;
  }
  berth_fetch_cancel(c->fetch); /* its downloads end now, partial files go */
  c->fetch = NULL;
  cz_pull_leave(c); /* the last launch waiting for a pull aborts it */
  cz_images_unhold(c);
}

/* Unlinks and frees; handles close asynchronously. */
void cz_container_free(container *c) {
  berth_containerizer *cz = c->cz;
  if (c->prev)
    c->prev->next = c->next;
  else
    cz->containers = c->next;
  if (c->next) c->next->prev = c->prev;
  cz->count--;
  cancel_requests(c);
  cz_health_stop(c);
  close_outputs(c);
  cz_usage_free(c);
  if (c->pin_job) c->pin_job->c = NULL;
  if (!cz->closing) cz_release_pins(c);
  free(c->pin_dir);
  c->pin_dir = NULL;
  uv_close((uv_handle_t *)&c->timer, container_closed_cb);
  uv_close((uv_handle_t *)&c->kill_timer, container_closed_cb);
  uv_close((uv_handle_t *)&c->cap.timer, container_closed_cb);
  uv_close((uv_handle_t *)&c->ix_timer, container_closed_cb);
  cz_deadline_close(c, container_closed_cb);
  cz_health_close(c, container_closed_cb);
  cz_rebind_close(c, container_closed_cb);
}

container *cz_container_new(berth_containerizer *cz, berth_launch_spec *spec, json_t *launch) {
  container *c = berth_calloc(1, sizeof(*c));
  c->cz = cz;
  c->spec = *spec;
  memset(spec, 0, sizeof(*spec));
  snprintf(c->id, sizeof(c->id), "%s", c->spec.id);
  c->launch = json_incref(launch);
  c->docker_name = berth_asprintf("berth-%s.%s", cz->config.agent_id, c->id);
  c->created_at = cz_now_secs();
  cz_outputs_init(c);
  uv_timer_init(cz->loop, &c->timer);
  uv_timer_init(cz->loop, &c->kill_timer);
  uv_timer_init(cz->loop, &c->cap.timer);
  c->timer.data = c->kill_timer.data = c->cap.timer.data = c;
  cz_logs_init(c);
  c->open_handles = 4;
  cz_deadline_init(c);
  cz_health_init(c);
  cz_rebind_init(c);
  c->next = cz->containers;
  if (cz->containers) cz->containers->prev = c;
  cz->containers = c;
  cz->count++;
  return c;
}

static void notify_waiters(container *c) {
  while (c->waiters) {
    waiter *w = c->waiters;
    c->waiters = w->next;
    w->cb(c->termination, w->data);
    free(w);
  }
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
  uv_timer_stop(&c->cap.timer);
  cz_deadline_stop(c);
  cz_rebind_stop(c);
  close_outputs(c);
  cz_release_pins(c);
  /* Freed in memory first; the TERMINATED row below drops them on disk. */
  berth_gpu_release(c->cz->config.gpus, c->id);
  c->n_gpus = 0;
  c->termination = termination;
  c->finished_at = cz_now_secs();
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
  cz_emit_terminated(c);
  notify_waiters(c);
}

void berth_cz_bind_waiter(berth_containerizer *cz, const char *id, void *data) {
  container *c = cz_find(cz, id);
  if (!c) return;
  bool bound = false;
  for (waiter *w = c->waiters; w; w = w->next)
    if (w->data == data) bound = w->kill_on_disconnect = true;
  if (bound) cz_rebind_bound(c);
}

void berth_cz_stopping(berth_containerizer *cz) {
  if (cz) cz->stopping = true;
}

void berth_cz_forget(berth_containerizer *cz, void *data) {
  cz_images_forget(cz, data);
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
  container *c = cz_lookup(cz, id, err);
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
  if (c->spec.n_labels > 0) {
    /* The docker labels the task asked for (parameters "label"), in
     * Mesos's Labels shape: what `berth ps --filter label=` matches. */
    json_t *labels = json_array();
    for (size_t i = 0; i < c->spec.n_labels; i++)
      json_array_append_new(labels, json_pack("{s:o,s:o}", "key", berth_json_text(c->spec.labels[i].key), "value",
                                              berth_json_text(c->spec.labels[i].value)));
    json_object_set_new(j, "labels", json_pack("{s:o}", "labels", labels));
  }
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
  json_t *usage = cz_usage_json(c);
  if (usage) json_object_set_new(j, "resource_statistics", usage);
  if (c->termination) json_object_set(j, "termination", c->termination);
  json_t *pull = c->stage == BERTH_STAGE_PULLING ? cz_pull_progress_json(c) : NULL;
  if (pull) json_object_set_new(j, "pull", pull);
  json_t *health = cz_health_json(c);
  if (health) json_object_set_new(j, "health", health);
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

void cz_free_containerizer(berth_containerizer *cz) {
  berth_volumes_prefixes_free(cz->real_prefixes);
  free(cz);
}

/* The containerizer goes once its timer is closed and no sandbox removal
 * is still running on the thread pool. */
static void free_cz_cb(uv_handle_t *handle) {
  berth_containerizer *cz = handle->data;
  cz->timer_closed = true;
  if (cz->pending_work == 0) cz_free_containerizer(cz);
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
    cz_container_free(c);
  }
  cz_images_close(cz);
  berth_docker_cancel(cz->recover_req);
  cz_health_shutdown(cz);
  uv_close((uv_handle_t *)&cz->recover_timer, (uv_close_cb)free_cz_cb);
}
