#include "containerizer/usage.h"

#include <stdlib.h>

#include "cgroups/cgroups.h"
#include "containerizer/container.h"
#include "util/alloc.h"

struct cz_usage {
  int pid; /* the process the dirs belong to; 0: none located */
  berth_cgroup_dirs dirs;
};

json_t *cz_usage_json(container *c) {
  if (c->pid <= 0 || (c->stage != BERTH_STAGE_RUNNING && c->stage != BERTH_STAGE_DESTROYING) || c->cap.exited)
    return NULL;
  if (!c->usage) c->usage = berth_calloc(1, sizeof(*c->usage));
  struct cz_usage *u = c->usage;
  berth_cgroup_roots roots = {c->cz->config.proc_root, c->cz->config.cgroup_root};
  berth_error err;
  if (u->pid != c->pid || !u->dirs.cpu) {
    berth_cgroup_dirs_free(&u->dirs);
    u->pid = 0;
    /* A process that just exited has no cgroup to read: no statistics. */
    if (berth_cgroups_locate(&roots, c->pid, &u->dirs, &err) < 0) return NULL;
    u->pid = c->pid;
  }
  berth_usage usage;
  if (berth_cgroups_read(&roots, &u->dirs, c->pid, &usage, &err) < 0) {
    /* Gone, or moved: located again next time. */
    berth_cgroup_dirs_free(&u->dirs);
    u->pid = 0;
    return NULL;
  }
  json_t *j = berth_usage_json(&usage, cz_now_secs());
  /* On the HOST network /proc/<pid>/net/dev is the node's: those counters
   * are not the container's, so none are reported. */
  if (c->spec.network == BERTH_NET_HOST) {
    json_object_del(j, "net_rx_bytes");
    json_object_del(j, "net_tx_bytes");
  }
  return j;
}

void cz_usage_free(container *c) {
  if (!c->usage) return;
  berth_cgroup_dirs_free(&c->usage->dirs);
  free(c->usage);
  c->usage = NULL;
}
