/* Resource usage of one container, read from its own cgroup (v1 or v2,
 * chosen at run time from /proc/<pid>/cgroup) and /proc/<pid>/net/dev.
 * A read costs a handful of small file reads and no docker round trip.
 * The roots are parameters so tests can point at recorded files. */
#ifndef BERTH_CGROUPS_CGROUPS_H
#define BERTH_CGROUPS_CGROUPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

typedef struct berth_usage {
  bool v2; /* which hierarchy the numbers came from */
  double cpus_user_time_secs;
  double cpus_system_time_secs;
  double cpus_limit; /* quota/period, else the share (Mesos's), else 0 */
  bool cpus_quota;   /* cpus_limit is a CFS quota, a hard cap */
  uint64_t cpus_nr_periods;
  uint64_t cpus_nr_throttled;
  double cpus_throttled_time_secs;
  uint64_t mem_total_bytes;
  uint64_t mem_rss_bytes;
  uint64_t mem_cache_bytes;
  uint64_t mem_limit_bytes; /* 0 when unlimited */
  uint64_t mem_soft_limit_bytes;
  uint64_t processes;
  uint64_t threads;
  uint64_t net_rx_bytes;
  uint64_t net_tx_bytes;
} berth_usage;

typedef struct berth_cgroup_roots {
  const char *proc;   /* "/proc" */
  const char *cgroup; /* "/sys/fs/cgroup" */
} berth_cgroup_roots;

/* Where a process's cgroup files are: v1 one directory per controller,
 * v2 the unified one (in cpu, the others NULL).  Found once from
 * /proc/<pid>/cgroup and kept while the process lives, so each later read
 * is only the counter files. */
typedef struct berth_cgroup_dirs {
  bool v2;
  char *cpu, *cpuacct, *mem;
} berth_cgroup_dirs;

int berth_cgroups_locate(const berth_cgroup_roots *roots, int pid, berth_cgroup_dirs *out, berth_error *err);
void berth_cgroup_dirs_free(berth_cgroup_dirs *dirs);

/* Reads the usage from located dirs (and /proc/<pid>/net/dev). */
int berth_cgroups_read(const berth_cgroup_roots *roots, const berth_cgroup_dirs *dirs, int pid, berth_usage *out,
                       berth_error *err);

/* Locate and read in one: the usage of the cgroup holding pid. */
int berth_cgroups_usage(const berth_cgroup_roots *roots, int pid, berth_usage *out, berth_error *err);

/* The contract's resource_statistics object (timestamp added by caller). */
json_t *berth_usage_json(const berth_usage *u, double timestamp);

#endif
