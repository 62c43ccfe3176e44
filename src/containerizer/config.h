/* The containerizer's configuration: what daemon.c fills from its flags
 * and hands to berth_cz_new.  Apart from containerizer.h so that the API
 * layer does not see the docker, store, gpu and fetcher modules. */
#ifndef BERTH_CONTAINERIZER_CONFIG_H
#define BERTH_CONTAINERIZER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "containerizer/dns.h"
#include "containerizer/rotation.h"
#include "docker/auth.h"
#include "fetcher/fetcher.h"
#include "gpu/gpu.h"

typedef struct berth_cz_config {
  const char *work_dir;
  const char *runtime_dir; /* --runtime_dir: the ':' sandbox links (sandbox.h) */
  const char *agent_id;
  const char *sandbox_directory;
  const char *const *allowed_host_paths;
  bool allow_privileged;
  bool cgroups_enable_cfs;
  bool docker_kill_orphans;
  int64_t docker_stop_timeout_ns;
  int64_t docker_remove_delay_ns;
  const char *proc_root;                 /* "/proc" */
  const char *cgroup_root;               /* "/sys/fs/cgroup" */
  berth_gpu_pool *gpus;                  /* owned by the caller */
  const char *const *allowed_runtimes;   /* --docker_allowed_runtimes */
  const char *docker_runtime;            /* --docker_runtime */
  const char *docker_port_host_ip;       /* --docker_port_host_ip; NULL: all addresses */
  const berth_dns_defaults *default_dns; /* --default_container_dns; owned by the caller */
  berth_fetcher *fetcher;                /* owned by the caller */
  const berth_docker_auth *docker_auth;  /* --docker_config; NULL: none */
  int64_t docker_pull_timeout_ns;        /* 0: none */
  int64_t bound_client_timeout_ns;       /* --bound_client_timeout (rebind.h); 0: none */
  berth_rotation_policy log_rotation;    /* --log_max_size, --log_max_files */
  /* image collection (images.c) */
  int64_t image_gc_interval_ns;         /* 0: no automatic collection */
  double image_gc_threshold;            /* percent of the disk used, 0..100 */
  int64_t image_gc_min_age_ns;          /* spared when used more recently */
  const char *const *image_gc_excluded; /* NULL-ended; NULL: none */
} berth_cz_config;

#endif
