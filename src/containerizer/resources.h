/* The "resources" and "limits" of a launch, decoded and validated: cpus,
 * mem, gpus, disk (with its persistent volumes) and the cpus/mem limits.
 * Shared by LAUNCH_CONTAINER (spec.h) and UPDATE_CONTAINER.  Pure: no
 * I/O, no loop. */
#ifndef BERTH_CONTAINERIZER_RESOURCES_H
#define BERTH_CONTAINERIZER_RESOURCES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef struct berth_persistent_volume {
  char *id;             /* persistence id: a directory under <work_dir>/volumes */
  char *container_path; /* relative paths are inside the sandbox, as in Mesos */
  bool read_only;
} berth_persistent_volume;

typedef struct berth_resources {
  bool has_cpus, has_mem;
  double cpus, mem_mb;
  bool has_cpus_limit, has_mem_limit;
  double cpus_limit, mem_limit_mb; /* INFINITY means unlimited */
  double gpus;
} berth_resources;

/* Decodes "resources" and "limits" (shared with UPDATE_CONTAINER).
 * pvolumes may be NULL: persistent volumes are then not collected. */
int berth_resources_parse(json_t *resources, json_t *limits, berth_resources *res, berth_persistent_volume **pvolumes,
                          size_t *n_pvolumes, berth_error *err);

#endif
