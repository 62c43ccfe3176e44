/* A validated launch spec turned into Docker's create config, with the
 * resource and command mappings of API.md §3 (Mesos's, with its minimums).
 * Pure: builds JSON, touches nothing. */
#ifndef BERTH_CONTAINERIZER_MAPPING_H
#define BERTH_CONTAINERIZER_MAPPING_H

#include <jansson.h>
#include <stdbool.h>

#include "containerizer/dns.h"
#include "containerizer/spec.h"
#include "util/error.h"

/* Mesos's minimums (src/slave/containerizer/docker.cpp). */
#define BERTH_MIN_CPU_SHARES 2
#define BERTH_CPU_SHARES_PER_CPU 1024
#define BERTH_CFS_PERIOD_US 100000
#define BERTH_MIN_CFS_QUOTA_US 1000
#define BERTH_MIN_MEMORY_MB 32

typedef struct berth_mapping_ctx {
  const char *agent_id;
  const char *docker_name;
  const char *sandbox_host;      /* what is bind-mounted (maybe a link) */
  const char *sandbox_directory; /* where it appears in the container */
  const char *volumes_dir;       /* <work_dir>/volumes */
  bool cgroups_enable_cfs;
  const char *const *devices;    /* NULL-terminated host device paths (GPUs) */
  const char *runtime;           /* --docker_runtime: HostConfig.Runtime unless the task picks one */
  const berth_dns_defaults *dns; /* --default_container_dns; may be NULL */
  const char *port_host_ip;      /* --docker_port_host_ip; NULL or "": all addresses */
} berth_mapping_ctx;

/* Sets CpuShares, CpuPeriod, CpuQuota, Memory, MemoryReservation and
 * MemorySwap in host_config (used by create and by update). */
void berth_mapping_resources(const berth_resources *res, bool cgroups_enable_cfs, json_t *host_config);

/* Checks the docker parameters against berth's own mapping: a
 * memory-swap needs berth's memory limit and may not be below it. */
int berth_mapping_check_params(const berth_launch_spec *spec, berth_error *err);

/* The body of POST /containers/create: berth's mapping, then the docker
 * parameters on top (they win, except as below), then the defaults of
 * --docker_runtime and --default_container_dns for what the task left
 * unset.  Env: the caller's variables, the env parameters, then berth's
 * own (which the parameters cannot set); Privileged: either source;
 * Devices: GPUs plus the device parameters.  Caller owns the result. */
json_t *berth_mapping_create_config(const berth_launch_spec *spec, const berth_mapping_ctx *ctx);

#endif
