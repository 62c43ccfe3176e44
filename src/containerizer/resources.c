#include "containerizer/resources.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "containerizer/json_get.h"
#include "containerizer/spec.h"
#include "util/alloc.h"

/* Bounds that keep every later step (and Docker) sane; far above any real
 * node. */
/* cpus become CpuShares at 1024 a cpu (mapping.h), and the kernel's
 * cpu.shares stops at 262144 (MAX_SHARES in kernel/sched/sched.h): more is
 * refused at start, so it is refused here with the field named. */
#define MAX_CPUS (262144.0 / 1024.0)
/* A cpus limit is a CFS quota, 100 ms a cpu; the kernel takes far more,
 * this only keeps the number sane. */
#define MAX_CPUS_LIMIT 4096.0
#define MAX_MEM_MB (1024.0 * 1024.0 * 1024.0) /* 1 PiB */
#define MAX_ARRAY BERTH_SPEC_MAX_ARRAY

/* A number, or the string "inf" when allow_inf (Mesos limits). */
static int get_number(json_t *v, const char *field, double max, bool allow_inf, double *out, berth_error *err) {
  if (allow_inf && json_is_string(v) && !strcmp(json_string_value(v), "inf")) {
    *out = INFINITY;
    return 0;
  }
  if (!json_is_number(v)) return berth_error_set(err, BERTH_EINVAL, "%s: must be a number", field);
  double d = json_number_value(v);
  if (!isfinite(d) || d < 0) return berth_error_set(err, BERTH_EINVAL, "%s: %g is not a non-negative number", field, d);
  if (d > max) return berth_error_set(err, BERTH_EINVAL, "%s: %g is larger than %g", field, d, max);
  *out = d;
  return 0;
}

static int parse_scalar_resource(json_t *r, const char *field, double max, double *out, berth_error *err) {
  json_t *scalar;
  if (berth_json_get_object(r, "scalar", field, &scalar, err) < 0) return err->code;
  if (!scalar) return berth_error_set(err, BERTH_EINVAL, "%s.scalar: required", field);
  json_t *v = json_object_get(scalar, "value");
  if (!v) return berth_error_set(err, BERTH_EINVAL, "%s.scalar.value: required", field);
  return get_number(v, field, max, false, out, err);
}

static int parse_disk(json_t *r, size_t i, berth_persistent_volume **pvolumes, size_t *n, berth_error *err) {
  json_t *disk, *persistence, *volume;
  const char *id, *cpath, *mode;
  if (berth_json_get_object(r, "disk", "resources[].disk", &disk, err) < 0) return err->code;
  if (!disk) return 0; /* plain scratch disk: nothing to mount */
  if (berth_json_get_object(disk, "persistence", "resources[].disk.persistence", &persistence, err) < 0)
    return err->code;
  if (!persistence) return 0;
  if (berth_json_get_string(persistence, "id", "resources[].disk.persistence.id", true, &id, err) < 0) return err->code;
  if (!berth_container_id_valid(id))
    return berth_error_set(err, BERTH_EINVAL, "resources[%zu].disk.persistence.id: '%.80s' is not a valid id", i, id);
  if (berth_json_get_object(disk, "volume", "resources[].disk.volume", &volume, err) < 0) return err->code;
  if (!volume) return berth_error_set(err, BERTH_EINVAL, "resources[%zu].disk.volume: required", i);
  if (berth_json_get_string(volume, "container_path", "resources[].disk.volume.container_path", true, &cpath, err) <
          0 ||
      berth_json_get_string(volume, "mode", "resources[].disk.volume.mode", false, &mode, err) < 0)
    return err->code;
  if (!*cpath || berth_path_has_dotdot(cpath) || strchr(cpath, ':'))
    return berth_error_set(err, BERTH_EINVAL, "resources[%zu].disk.volume.container_path: '%s' is not allowed", i,
                           cpath);
  if (mode && strcmp(mode, "RW") && strcmp(mode, "RO"))
    return berth_error_set(err, BERTH_EINVAL, "resources[%zu].disk.volume.mode: must be RW or RO", i);
  *pvolumes = berth_realloc(*pvolumes, (*n + 1) * sizeof(**pvolumes));
  (*pvolumes)[*n] = (berth_persistent_volume){berth_strdup(id), berth_strdup(cpath), mode && !strcmp(mode, "RO")};
  (*n)++;
  return 0;
}

static int parse_limit(json_t *limits, const char *key, double max, bool *has, double *out, berth_error *err) {
  json_t *l = json_object_get(limits, key);
  if (!l || json_is_null(l)) return 0;
  char field[32];
  snprintf(field, sizeof(field), "limits.%s", key);
  if (!json_is_object(l)) return berth_error_set(err, BERTH_EINVAL, "%s: must be an object", field);
  json_t *v = json_object_get(l, "value");
  if (!v) return berth_error_set(err, BERTH_EINVAL, "%s.value: required", field);
  if (get_number(v, field, max, true, out, err) < 0) return err->code;
  *has = true;
  return 0;
}

int berth_resources_parse(json_t *resources, json_t *limits, berth_resources *res, berth_persistent_volume **pvolumes,
                          size_t *n_pvolumes, berth_error *err) {
  memset(res, 0, sizeof(*res));
  if (resources && !json_is_array(resources)) return berth_error_set(err, BERTH_EINVAL, "resources: must be an array");
  if (json_array_size(resources) > MAX_ARRAY)
    return berth_error_set(err, BERTH_EINVAL, "resources: more than %d entries", MAX_ARRAY);
  size_t i;
  json_t *r;
  json_array_foreach(resources, i, r) {
    const char *name;
    if (!json_is_object(r)) return berth_error_set(err, BERTH_EINVAL, "resources[%zu]: must be an object", i);
    if (berth_json_get_string(r, "name", "resources[].name", true, &name, err) < 0) return err->code;
    char field[64];
    snprintf(field, sizeof(field), "resources[%zu] (%.20s)", i, name);
    if (!strcmp(name, "cpus")) {
      if (parse_scalar_resource(r, field, MAX_CPUS, &res->cpus, err) < 0) return err->code;
      res->has_cpus = true;
    } else if (!strcmp(name, "mem")) {
      if (parse_scalar_resource(r, field, MAX_MEM_MB, &res->mem_mb, err) < 0) return err->code;
      res->has_mem = true;
    } else if (!strcmp(name, "gpus")) {
      if (parse_scalar_resource(r, field, 1024, &res->gpus, err) < 0) return err->code;
      if (res->gpus != floor(res->gpus))
        return berth_error_set(err, BERTH_EINVAL, "%s: gpus must be a whole number", field);
    } else if (!strcmp(name, "disk")) {
      double mb;
      if (parse_scalar_resource(r, field, MAX_MEM_MB, &mb, err) < 0) return err->code;
      if (pvolumes && parse_disk(r, i, pvolumes, n_pvolumes, err) < 0) return err->code;
    }
    /* Other resources (ports, custom ones) are the scheduler's business. */
  }
  if (limits && !json_is_object(limits)) return berth_error_set(err, BERTH_EINVAL, "limits: must be an object");
  if (limits) {
    if (parse_limit(limits, "cpus", MAX_CPUS_LIMIT, &res->has_cpus_limit, &res->cpus_limit, err) < 0) return err->code;
    if (parse_limit(limits, "mem", MAX_MEM_MB, &res->has_mem_limit, &res->mem_limit_mb, err) < 0) return err->code;
  }
  return 0;
}
