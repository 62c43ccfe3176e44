#include <stdio.h>

#include "daemon/flags.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/duration.h"
#include "util/text.h"

typedef enum { FLAG_STRING, FLAG_BOOL, FLAG_DURATION, FLAG_LIST, FLAG_BYTES, FLAG_COUNT, FLAG_PERCENT } flag_type;

typedef struct flag_def {
  const char *name;
  flag_type type;
  size_t offset;
  const char *def; /* default, in flag syntax; NULL for none */
  bool secret;     /* never shown (a path to a secret is fine to show) */
  const char *help;
} flag_def;

#define F(field) offsetof(berth_flags, field)

static const flag_def defs[] = {
    {"work_dir", FLAG_STRING, F(work_dir), "/var/lib/berth", false, "where state, sandboxes and volumes live"},
    {"runtime_dir", FLAG_STRING, F(runtime_dir), "/run/berth", false,
     "where the links that mount sandboxes whose path holds ':' live (links/<agent_id>/); no ':' in it"},
    {"listen", FLAG_LIST, F(listen), "unix:/run/berth/berthd.sock", false,
     "unix:PATH or tcp:HOST:PORT; comma-separated or repeated"},
    {"token_file", FLAG_STRING, F(token_file), NULL, false, "file holding the bearer token TCP clients must send"},
    {"socket_group", FLAG_STRING, F(socket_group), NULL, false, "group owning the unix socket (mode 0660)"},
    {"agent_id", FLAG_STRING, F(agent_id), NULL, false, "this agent's id (default: generated once, kept in work_dir)"},
    {"allow_agent_id_change", FLAG_BOOL, F(allow_agent_id_change), "false", false,
     "start with an --agent_id other than the one kept in work_dir (its containers are then out of reach)"},
    {"docker_socket", FLAG_STRING, F(docker_socket), "/var/run/docker.sock", false, "dockerd's API socket"},
    {"docker_remove_delay", FLAG_DURATION, F(docker_remove_delay_ns), "6hrs", false,
     "how long a terminated container's docker container is kept"},
    {"docker_stop_timeout", FLAG_DURATION, F(docker_stop_timeout_ns), "0secs", false,
     "grace between SIGTERM and SIGKILL when a task has no kill policy"},
    {"bound_client_timeout", FLAG_DURATION, F(bound_client_timeout_ns), "1mins", false,
     "after a restart, destroy a container whose bound client (a foreground berth run) has not come back within "
     "this time (0secs: never)"},
    {"docker_kill_orphans", FLAG_BOOL, F(docker_kill_orphans), "true", false,
     "kill and remove docker containers of this agent id that berthd does not know"},
    {"docker_config", FLAG_STRING, F(docker_config), NULL, false,
     "docker config.json whose auths give registry credentials for pulls (default none)"},
    {"sandbox_directory", FLAG_STRING, F(sandbox_directory), "/mnt/mesos/sandbox", false,
     "where the sandbox appears inside containers"},
    {"cgroups_enable_cfs", FLAG_BOOL, F(cgroups_enable_cfs), "false", false, "turn cpus into a CFS quota"},
    {"nvidia_gpu_devices", FLAG_STRING, F(nvidia_gpu_devices), NULL, false, "GPU minor numbers to hand out, e.g. 0,1"},
    {"nvidia_device_root", FLAG_STRING, F(nvidia_device_root), "/dev", false, "where the nvidia device nodes are"},
    {"allowed_host_paths", FLAG_LIST, F(allowed_host_paths), NULL, false,
     "comma-separated prefixes a host volume may come from (default: none)"},
    {"allow_privileged", FLAG_BOOL, F(allow_privileged), "false", false, "allow privileged containers"},
    {"docker_allowed_runtimes", FLAG_LIST, F(docker_allowed_runtimes), "runc", false,
     "comma-separated dockerd runtimes a task may pick with the docker parameter runtime"},
    {"docker_runtime", FLAG_STRING, F(docker_runtime), "runc", false,
     "runtime of tasks that pick none; must be in --docker_allowed_runtimes"},
    {"docker_port_host_ip", FLAG_STRING, F(docker_port_host_ip), NULL, false,
     "host address of published ports whose mapping names none, an IPv4 or IPv6 literal (default: all addresses)"},
    {"default_container_dns", FLAG_STRING, F(default_container_dns), NULL, false,
     "Mesos's ContainerDNSInfo JSON: DNS per network mode for tasks that set none (default: dockerd's)"},
    {"log_max_size", FLAG_BYTES, F(log_max_size), "0B", false,
     "rotate a task's stdout and stderr at this size, e.g. 10MB (0B: never)"},
    {"log_max_files", FLAG_COUNT, F(log_max_files), "5", false,
     "rotated files kept per stream with --log_max_size: stdout.1 (newest) .. stdout.N, 1..1000"},
    {"log_level", FLAG_STRING, F(log_level), "info", false, "debug, info, warn or error"},
    {"fetcher_cache_dir", FLAG_STRING, F(fetcher_cache_dir), NULL, false,
     "where cached URIs are kept (default <work_dir>/fetcher-cache); emptied at start"},
    {"fetcher_cache_size", FLAG_BYTES, F(fetcher_cache_size), "2GB", false,
     "bytes the fetcher cache may hold; least recently used evicted"},
    {"fetcher_max_size", FLAG_BYTES, F(fetcher_max_size), "4GB", false,
     "largest file one URI may bring, downloaded or extracted (0B: no cap)"},
    {"fetcher_timeout", FLAG_DURATION, F(fetcher_timeout_ns), "1hrs", false, "longest time one download may take"},
    {"docker_pull_timeout", FLAG_DURATION, F(docker_pull_timeout_ns), "10mins", false,
     "abort an image pull that runs longer (0secs: never)"},
    {"fetcher_stall_timeout", FLAG_DURATION, F(fetcher_stall_timeout_ns), "1mins", false,
     "abort a download that moves no byte for this long"},
    {"subscribe_heartbeat_interval", FLAG_DURATION, F(subscribe_heartbeat_interval_ns), "15secs", false,
     "how often a SUBSCRIBE stream gets a HEARTBEAT record (at least 1ms)"},
    {"subscriber_queue_size", FLAG_BYTES, F(subscriber_queue_size), "256KB", false,
     "bytes of events that may wait for one SUBSCRIBE reader; past it the reader is dropped (at least 1KB)"},
    /* Mesos checks its agent's disk every --disk_watch_interval (1mins)
     * and its image GC example keeps a headroom of 0.1, i.e. acts above
     * 90% used; Mesos has no minimum age, so 1hrs spares the images of
     * tasks that come and go. */
    {"image_gc_interval", FLAG_DURATION, F(image_gc_interval_ns), "1mins", false,
     "how often the disk holding docker's data is checked for image collection (0secs: never)"},
    {"image_gc_threshold", FLAG_PERCENT, F(image_gc_threshold), "90", false,
     "percent of that disk in use (0-100) above which berthd removes images it pulled, least recently used first"},
    {"image_gc_min_age", FLAG_DURATION, F(image_gc_min_age_ns), "1hrs", false,
     "images used by a launch more recently than this are spared by the automatic collection"},
    {"image_gc_excluded_images", FLAG_LIST, F(image_gc_excluded_images), NULL, false,
     "comma-separated images that image collection never removes (default: none)"},
};

int berth_bytes_parse(const char *text, uint64_t *out, berth_error *err) {
  static const struct {
    const char *unit;
    uint64_t factor;
  } units[] = {{"B", 1}, {"KB", 1ull << 10}, {"MB", 1ull << 20}, {"GB", 1ull << 30}, {"TB", 1ull << 40}};
  char *end;
  errno = 0;
  if (!text || !*text || *text == '-')
    return berth_error_set(err, BERTH_EINVAL, "'%s' is not a byte size", text ? text : "");
  unsigned long long n = strtoull(text, &end, 10);
  if (errno || end == text) return berth_error_set(err, BERTH_EINVAL, "'%s' is not a byte size", text);
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (strcmp(end, units[i].unit)) continue;
    if (n > UINT64_MAX / units[i].factor) return berth_error_set(err, BERTH_EINVAL, "'%s' is too large", text);
    *out = n * units[i].factor;
    return 0;
  }
  return berth_error_set(err, BERTH_EINVAL, "'%s': a size needs its unit, B, KB, MB, GB or TB", text);
}

static void format_bytes(uint64_t n, char *buf, size_t len) {
  static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
  size_t u = 0;
  while (u + 1 < sizeof(units) / sizeof(units[0]) && n && n % 1024 == 0) {
    n /= 1024;
    u++;
  }
  snprintf(buf, len, "%llu%s", (unsigned long long)n, units[u]);
}

static const flag_def *find_def(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
    if (strlen(defs[i].name) == len && !strncmp(defs[i].name, name, len)) return &defs[i];
  return NULL;
}

static void free_list(char **list) {
  for (char **p = list; p && *p; p++) free(*p);
  free(list);
}

static char **split_list(const char *value, char **old, bool append) {
  size_t n = 0;
  for (char **p = old; append && p && *p; p++) n++;
  char **list = berth_calloc(n + strlen(value) + 2, sizeof(char *));
  for (size_t i = 0; i < n; i++) list[i] = old[i];
  if (append)
    free(old);
  else
    free_list(old);
  cleanup_free char *copy = berth_strdup(value);
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
    if (*tok) list[n++] = berth_strdup(tok);
  return list;
}

static int set_flag(berth_flags *flags, const flag_def *def, const char *value, bool append, berth_error *err) {
  void *field = (char *)flags + def->offset;
  switch (def->type) {
    case FLAG_STRING:
      free(*(char **)field);
      *(char **)field = value ? berth_strdup(value) : NULL;
      return 0;
    case FLAG_BOOL:
      if (!strcmp(value, "true") || !strcmp(value, "1"))
        *(bool *)field = true;
      else if (!strcmp(value, "false") || !strcmp(value, "0"))
        *(bool *)field = false;
      else
        return berth_error_set(err, BERTH_EINVAL, "--%s: '%s' is not true or false", def->name, value);
      return 0;
    case FLAG_DURATION:
      if (berth_duration_parse(value, (int64_t *)field, err) < 0) return berth_error_prefix(err, "--%s", def->name);
      return 0;
    case FLAG_LIST:
      *(char ***)field = split_list(value, *(char ***)field, append);
      return 0;
    case FLAG_BYTES:
      if (berth_bytes_parse(value, (uint64_t *)field, err) < 0) return berth_error_prefix(err, "--%s", def->name);
      return 0;
    case FLAG_COUNT: {
      char *end = NULL;
      errno = 0;
      long n = strtol(value, &end, 10);
      if (end == value || *end || errno || n < 1 || n > 1000)
        return berth_error_set(err, BERTH_EINVAL, "--%s: '%.64s' is not a number from 1 to 1000", def->name, value);
      *(unsigned *)field = (unsigned)n;
      return 0;
    }
    case FLAG_PERCENT: {
      char *end = NULL;
      errno = 0;
      double v = strtod(value, &end);
      if (end != value && *end == '%') end++;
      if (end == value || *end || errno || !(v >= 0 && v <= 100))
        return berth_error_set(err, BERTH_EINVAL, "--%s: '%.64s' is not a percentage from 0 to 100", def->name, value);
      *(double *)field = v;
      return 0;
    }
  }
  return 0;
}

int berth_flags_parse(int argc, char **argv, char **envp, berth_flags *flags, berth_error *err) {
  memset(flags, 0, sizeof(*flags));
  for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
    if (defs[i].def && set_flag(flags, &defs[i], defs[i].def, false, err) < 0) return err->code;
  /* Environment: BERTH_WORK_DIR=... */
  for (char **e = envp; e && *e; e++) {
    if (strncmp(*e, "BERTH_", 6) != 0) continue;
    const char *eq = strchr(*e, '=');
    if (!eq) continue;
    char name[64];
    size_t n = (size_t)(eq - *e - 6);
    if (n >= sizeof(name)) continue;
    for (size_t i = 0; i < n; i++)
      name[i] = (char)((*e)[6 + i] >= 'A' && (*e)[6 + i] <= 'Z' ? (*e)[6 + i] + 32 : (*e)[6 + i]);
    const flag_def *def = find_def(name, n);
    if (def && set_flag(flags, def, eq + 1, false, err) < 0)
      return berth_error_prefix(err, "environment %.*s", (int)(eq - *e), *e);
  }
  bool lists_seen[sizeof(defs) / sizeof(defs[0])] = {false};
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
      flags->help = true;
      continue;
    }
    if (strncmp(arg, "--", 2) != 0) return berth_error_set(err, BERTH_EINVAL, "unexpected argument '%s'", arg);
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const flag_def *def = find_def(name, len);
    const char *value = eq ? eq + 1 : NULL;
    const flag_def *negated = !def && !eq && !strncmp(name, "no-", 3) ? find_def(name + 3, len - 3) : NULL;
    if (negated && negated->type == FLAG_BOOL) {
      def = negated;
      value = "false";
    } else if (!def) {
      return berth_error_set(err, BERTH_EINVAL, "unknown flag '--%.*s' (see --help)", (int)len, name);
    } else if (!value && def->type == FLAG_BOOL) {
      value = "true";
    } else if (!value) {
      if (i + 1 >= argc) return berth_error_set(err, BERTH_EINVAL, "--%s needs a value", def->name);
      value = argv[++i];
    }
    /* A list flag's first use on the command line replaces the default and
     * the environment's value; repeating it adds to the list. */
    bool append = def->type == FLAG_LIST && lists_seen[def - defs];
    lists_seen[def - defs] = true;
    if (set_flag(flags, def, value, append, err) < 0) return err->code;
  }
  return 0;
}

void berth_flags_free(berth_flags *flags) {
  for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
    void *field = (char *)flags + defs[i].offset;
    if (defs[i].type == FLAG_STRING) free(*(char **)field);
    if (defs[i].type == FLAG_LIST) free_list(*(char ***)field);
  }
  memset(flags, 0, sizeof(*flags));
}

json_t *berth_flags_json(const berth_flags *flags) {
  json_t *j = json_object();
  for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
    const void *field = (const char *)flags + defs[i].offset;
    json_t *v = NULL;
    char buf[64];
    switch (defs[i].type) {
      case FLAG_STRING:
        /* Flag values come from argv or the environment, in any bytes. */
        v = *(char *const *)field ? berth_json_text(*(char *const *)field) : json_null();
        break;
      case FLAG_BOOL:
        v = json_boolean(*(const bool *)field);
        break;
      case FLAG_DURATION:
        berth_duration_format(*(const int64_t *)field, buf, sizeof(buf));
        v = json_string(buf);
        break;
      case FLAG_BYTES:
        format_bytes(*(const uint64_t *)field, buf, sizeof(buf));
        v = json_string(buf);
        break;
      case FLAG_COUNT:
        v = json_integer(*(const unsigned *)field);
        break;
      case FLAG_PERCENT:
        v = json_real(*(const double *)field);
        break;
      case FLAG_LIST:
        v = json_array();
        for (char *const *p = *(char **const *)field; p && *p; p++) json_array_append_new(v, berth_json_text(*p));
        break;
    }
    if (defs[i].secret) {
      json_decref(v);
      v = json_string("********");
    }
    json_object_set_new(j, defs[i].name, v);
  }
  return j;
}

void berth_flags_usage(FILE *out) {
  fprintf(out, "usage: berthd [--flag=value ...]\n\nflags (also BERTH_<FLAG> in the environment):\n");
  for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
    fprintf(out, "  --%-22s %s%s%s%s\n", defs[i].name, defs[i].help, defs[i].def ? " (default " : "",
            defs[i].def ? defs[i].def : "", defs[i].def ? ")" : "");
}
