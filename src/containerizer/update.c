/* Resource updates of a RUNNING container. */
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
  container *c = cz_find(call->cz, call->id);
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
  container *c = cz_lookup(cz, id, err);
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
    rc = berth_error_set(err, BERTH_ECONFLICT, "container '%s' is %s, not RUNNING", id, berth_stage_name(c->stage));
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
