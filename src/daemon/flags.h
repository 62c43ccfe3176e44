/* berthd's flags (API.md §5): Mesos spellings, `--flag=value`,
 * `--flag value`, `--flag` / `--no-flag` for booleans, and the environment
 * variable BERTH_<FLAG> as a fallback. */
#ifndef BERTH_DAEMON_FLAGS_H
#define BERTH_DAEMON_FLAGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

typedef struct berth_flags {
  char *work_dir;
  char *runtime_dir;
  char **listen; /* NULL-terminated */
  char *token_file;
  char *socket_group;
  char *agent_id;
  bool allow_agent_id_change;
  char *docker_socket;
  int64_t docker_remove_delay_ns;
  int64_t docker_stop_timeout_ns;
  bool docker_kill_orphans;
  char *docker_config;
  char *sandbox_directory;
  bool cgroups_enable_cfs;
  char *nvidia_gpu_devices;
  char *nvidia_device_root;
  char **allowed_host_paths; /* NULL-terminated */
  bool allow_privileged;
  char **docker_allowed_runtimes; /* NULL-terminated */
  char *docker_runtime;
  char *docker_port_host_ip; /* NULL: all addresses */
  char *default_container_dns;
  char *log_level;
  /* the fetcher (API.md §6) */
  char *fetcher_cache_dir; /* NULL: <work_dir>/fetcher-cache */
  uint64_t fetcher_cache_size;
  uint64_t fetcher_max_size;
  int64_t fetcher_timeout_ns;
  int64_t fetcher_stall_timeout_ns;
  int64_t docker_pull_timeout_ns;
  int64_t bound_client_timeout_ns; /* 0: recovered bound containers wait forever */
  uint64_t log_max_size;           /* bytes; 0: no rotation */
  unsigned log_max_files;
  /* SUBSCRIBE (API.md §3) */
  int64_t subscribe_heartbeat_interval_ns;
  uint64_t subscriber_queue_size;
  /* image collection (API.md §5) */
  int64_t image_gc_interval_ns; /* 0: no automatic collection */
  double image_gc_threshold;    /* percent of the disk in use, 0..100 */
  int64_t image_gc_min_age_ns;
  char **image_gc_excluded_images; /* NULL-terminated */
  bool help;
} berth_flags;

/* Fills flags from defaults, then the environment, then argv. */
int berth_flags_parse(int argc, char **argv, char **envp, berth_flags *flags, berth_error *err);
void berth_flags_free(berth_flags *flags);

/* The effective flags as JSON for /flags, secrets masked. */
json_t *berth_flags_json(const berth_flags *flags);

/* Mesos's Bytes: "2GB", "512MB", "10KB", "100B" (1024-based units);
 * a bare number is bytes. */
int berth_bytes_parse(const char *text, uint64_t *out, berth_error *err);

/* Usage text for --help. */
void berth_flags_usage(FILE *out);

#endif
