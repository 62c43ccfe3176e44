#include "cgroups/cgroups.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/alloc.h"

/* cpuacct.stat counts in USER_HZ, which Linux fixes at 100 for userspace. */
#define USER_HZ 100.0
#define MAX_FILE (64u * 1024u)

/* Reads a small file whole (up to MAX_FILE); NULL if it cannot.  The read
 * goes through a buffer on the stack and the copy returned is its exact
 * size: a 64 KiB malloc per file, freed at once, made glibc trim and grow
 * the heap on every read, and brk and the page faults after it were a
 * quarter of a GET_CONTAINERS (perf, BENCHMARKS.md figure 8). */
static char *slurp(const char *path) {
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  char stack[8192];
  char *buf = stack, *big = NULL;
  size_t cap = sizeof(stack) - 1, len = 0;
  ssize_t n;
  while ((n = read(fd, buf + len, cap - len)) > 0) {
    len += (size_t)n;
    if (len < cap) continue;
    if (cap >= MAX_FILE) break;
    size_t ncap = cap * 2 + 1 > MAX_FILE ? MAX_FILE : cap * 2 + 1;
    char *grown = berth_realloc(big, ncap + 1);
    if (!big) memcpy(grown, stack, len);
    big = buf = grown;
    cap = ncap;
  }
  char *out = berth_malloc(len + 1);
  memcpy(out, buf, len);
  out[len] = '\0';
  free(big);
  return out;
}

static bool read_u64(const char *dir, const char *file, uint64_t *out) {
  cleanup_free char *path = berth_asprintf("%s/%s", dir, file);
  cleanup_free char *text = slurp(path);
  if (!text) return false;
  char *end;
  unsigned long long v = strtoull(text, &end, 10);
  if (end == text) return false;
  *out = v;
  return true;
}

/* "key value" lines (cpu.stat, memory.stat, cpuacct.stat). */
static bool stat_value(const char *text, const char *key, uint64_t *out) {
  size_t klen = strlen(key);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (!strncmp(p, key, klen) && p[klen] == ' ') {
      *out = strtoull(p + klen + 1, NULL, 10);
      return true;
    }
  }
  return false;
}

static uint64_t count_lines(const char *dir, const char *file) {
  cleanup_free char *path = berth_asprintf("%s/%s", dir, file);
  cleanup_free char *text = slurp(path);
  uint64_t n = 0;
  for (const char *p = text; p && *p; p++)
    if (*p == '\n') n++;
  return n;
}

/* Finds the path of `controller` (v1) or of the unified hierarchy (v2,
 * controller NULL) in /proc/<pid>/cgroup. */
static char *cgroup_path(const char *text, const char *controller, char **mount_name) {
  for (const char *line = text; line && *line;) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    cleanup_free char *l = berth_strndup(line, len);
    line = nl ? nl + 1 : NULL;
    char *c1 = strchr(l, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c2 = '\0';
    const char *controllers = c1 + 1;
    const char *path = c2 + 1;
    if (!controller) {
      if (*controllers == '\0') return berth_strdup(path);
      continue;
    }
    /* "cpu,cpuacct" lists several co-mounted controllers. */
    cleanup_free char *list = berth_strdup(controllers);
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      if (!strcmp(tok, controller)) {
        *mount_name = berth_strdup(controllers);
        return berth_strdup(path);
      }
    }
  }
  return NULL;
}

static char *v1_dir(const berth_cgroup_roots *roots, const char *text, const char *controller) {
  char *mount = NULL;
  cleanup_free char *path = cgroup_path(text, controller, &mount);
  if (!path) return NULL;
  char *dir = berth_asprintf("%s/%s%s", roots->cgroup, mount, path);
  if (access(dir, F_OK) != 0) { /* co-mounted controllers may also have a link per name */
    free(dir);
    dir = berth_asprintf("%s/%s%s", roots->cgroup, controller, path);
  }
  free(mount);
  return dir;
}

static int read_v1(const berth_cgroup_dirs *d, berth_usage *u, berth_error *err) {
  const char *cpu = d->cpu, *cpuacct = d->cpuacct, *mem = d->mem;
  cleanup_free char *acct_path = berth_asprintf("%s/cpuacct.stat", cpuacct);
  cleanup_free char *acct = slurp(acct_path);
  if (!acct) return berth_error_errno(err, errno, "read '%s'", acct_path);
  uint64_t v;
  if (stat_value(acct, "user", &v)) u->cpus_user_time_secs = (double)v / USER_HZ;
  if (stat_value(acct, "system", &v)) u->cpus_system_time_secs = (double)v / USER_HZ;
  cleanup_free char *cstat_path = berth_asprintf("%s/cpu.stat", cpu);
  cleanup_free char *cstat = slurp(cstat_path);
  if (cstat) {
    stat_value(cstat, "nr_periods", &u->cpus_nr_periods);
    stat_value(cstat, "nr_throttled", &u->cpus_nr_throttled);
    if (stat_value(cstat, "throttled_time", &v)) u->cpus_throttled_time_secs = (double)v / 1e9;
  }
  cleanup_free char *quota_path = berth_asprintf("%s/cpu.cfs_quota_us", cpu);
  cleanup_free char *quota_text = slurp(quota_path);
  uint64_t period;
  if (quota_text && atoll(quota_text) > 0 && read_u64(cpu, "cpu.cfs_period_us", &period) && period > 0) {
    u->cpus_limit = (double)atoll(quota_text) / (double)period;
    u->cpus_quota = true;
  } else if (read_u64(cpu, "cpu.shares", &v))
    u->cpus_limit = (double)v / 1024.0; /* no quota: the share, as Mesos reports */
  read_u64(mem, "memory.usage_in_bytes", &u->mem_total_bytes);
  cleanup_free char *mstat_path = berth_asprintf("%s/memory.stat", mem);
  cleanup_free char *mstat = slurp(mstat_path);
  if (mstat) {
    if (!stat_value(mstat, "total_rss", &u->mem_rss_bytes)) stat_value(mstat, "rss", &u->mem_rss_bytes);
    if (!stat_value(mstat, "total_cache", &u->mem_cache_bytes)) stat_value(mstat, "cache", &u->mem_cache_bytes);
  }
  /* v1 reports "no limit" as a huge page-aligned number. */
  if (read_u64(mem, "memory.limit_in_bytes", &v) && v < (1ULL << 62)) u->mem_limit_bytes = v;
  if (read_u64(mem, "memory.soft_limit_in_bytes", &v) && v < (1ULL << 62)) u->mem_soft_limit_bytes = v;
  u->processes = count_lines(cpu, "cgroup.procs");
  u->threads = count_lines(cpu, "tasks");
  return 0;
}

static int read_v2(const berth_cgroup_dirs *d, berth_usage *u, berth_error *err) {
  const char *dir = d->cpu;
  cleanup_free char *cstat_path = berth_asprintf("%s/cpu.stat", dir);
  cleanup_free char *cstat = slurp(cstat_path);
  if (!cstat) return berth_error_errno(err, errno, "read '%s'", cstat_path);
  uint64_t v;
  u->v2 = true;
  if (stat_value(cstat, "user_usec", &v)) u->cpus_user_time_secs = (double)v / 1e6;
  if (stat_value(cstat, "system_usec", &v)) u->cpus_system_time_secs = (double)v / 1e6;
  stat_value(cstat, "nr_periods", &u->cpus_nr_periods);
  stat_value(cstat, "nr_throttled", &u->cpus_nr_throttled);
  if (stat_value(cstat, "throttled_usec", &v)) u->cpus_throttled_time_secs = (double)v / 1e6;
  cleanup_free char *max_path = berth_asprintf("%s/cpu.max", dir);
  cleanup_free char *max = slurp(max_path);
  long long quota, cperiod;
  if (max && sscanf(max, "%lld %lld", &quota, &cperiod) == 2 && quota > 0 && cperiod > 0) {
    u->cpus_limit = (double)quota / (double)cperiod;
    u->cpus_quota = true;
  } else if (read_u64(dir, "cpu.weight", &v) && v > 0)
    /* The inverse of runc's shares-to-weight conversion. */
    u->cpus_limit = (2.0 + (double)(v - 1) * 262142.0 / 9999.0) / 1024.0;
  read_u64(dir, "memory.current", &u->mem_total_bytes);
  cleanup_free char *mstat_path = berth_asprintf("%s/memory.stat", dir);
  cleanup_free char *mstat = slurp(mstat_path);
  if (mstat) {
    stat_value(mstat, "anon", &u->mem_rss_bytes);
    stat_value(mstat, "file", &u->mem_cache_bytes);
  }
  /* "max" does not parse as a number: unlimited stays 0. */
  read_u64(dir, "memory.max", &u->mem_limit_bytes);
  read_u64(dir, "memory.low", &u->mem_soft_limit_bytes);
  u->processes = count_lines(dir, "cgroup.procs");
  u->threads = count_lines(dir, "cgroup.threads");
  return 0;
}

static void read_net(const berth_cgroup_roots *roots, int pid, berth_usage *u) {
  cleanup_free char *path = berth_asprintf("%s/%d/net/dev", roots->proc, pid);
  cleanup_free char *text = slurp(path);
  if (!text) return;
  /* Two header lines, then "iface: rx_bytes ... (8 rx fields) tx_bytes". */
  for (char *line = strchr(text, '\n'); line; line = strchr(line, '\n')) {
    line++;
    char *colon = strchr(line, ':');
    char *nl = strchr(line, '\n');
    if (!colon || (nl && colon > nl)) continue;
    char name[32];
    size_t n = (size_t)(colon - line);
    while (n > 0 && *line == ' ') line++, n--;
    if (n >= sizeof(name)) continue;
    memcpy(name, line, n);
    name[n] = '\0';
    if (!strcmp(name, "lo")) continue;
    unsigned long long f[9];
    if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1], &f[2], &f[3], &f[4], &f[5],
               &f[6], &f[7], &f[8]) == 9) {
      u->net_rx_bytes += f[0];
      u->net_tx_bytes += f[8];
    }
  }
}

void berth_cgroup_dirs_free(berth_cgroup_dirs *dirs) {
  free(dirs->cpu);
  free(dirs->cpuacct);
  free(dirs->mem);
  memset(dirs, 0, sizeof(*dirs));
}

int berth_cgroups_locate(const berth_cgroup_roots *roots, int pid, berth_cgroup_dirs *out, berth_error *err) {
  memset(out, 0, sizeof(*out));
  cleanup_free char *path = berth_asprintf("%s/%d/cgroup", roots->proc, pid);
  cleanup_free char *text = slurp(path);
  if (!text) return berth_error_errno(err, errno, "read '%s'", path);
  /* v1 when the memory controller has its own hierarchy (also the hybrid
   * layout), else the unified one. */
  char *mount = NULL;
  char *v1mem = cgroup_path(text, "memory", &mount);
  bool v1 = v1mem != NULL;
  free(v1mem);
  free(mount);
  if (v1) {
    out->cpu = v1_dir(roots, text, "cpu");
    out->cpuacct = v1_dir(roots, text, "cpuacct");
    out->mem = v1_dir(roots, text, "memory");
    if (!out->cpu || !out->cpuacct || !out->mem) {
      berth_cgroup_dirs_free(out);
      return berth_error_set(err, BERTH_EIO, "cgroup v1: cpu, cpuacct or memory controller missing");
    }
    return 0;
  }
  char *unused = NULL;
  cleanup_free char *upath = cgroup_path(text, NULL, &unused);
  if (!upath) return berth_error_set(err, BERTH_EIO, "cgroup v2: no unified entry");
  out->v2 = true;
  out->cpu = berth_asprintf("%s%s", roots->cgroup, upath);
  return 0;
}

int berth_cgroups_read(const berth_cgroup_roots *roots, const berth_cgroup_dirs *dirs, int pid, berth_usage *out,
                       berth_error *err) {
  memset(out, 0, sizeof(*out));
  if (!dirs->cpu) return berth_error_set(err, BERTH_EIO, "cgroup not located");
  int rc = dirs->v2 ? read_v2(dirs, out, err) : read_v1(dirs, out, err);
  if (rc < 0) return rc;
  read_net(roots, pid, out);
  return 0;
}

int berth_cgroups_usage(const berth_cgroup_roots *roots, int pid, berth_usage *out, berth_error *err) {
  berth_cgroup_dirs dirs;
  memset(out, 0, sizeof(*out));
  int rc = berth_cgroups_locate(roots, pid, &dirs, err);
  if (rc < 0) return rc;
  rc = berth_cgroups_read(roots, &dirs, pid, out, err);
  berth_cgroup_dirs_free(&dirs);
  return rc;
}

json_t *berth_usage_json(const berth_usage *u, double timestamp) {
  json_t *j = json_pack(
      "{s:f,s:I,s:I,s:f,s:f,s:f,s:I,s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "timestamp", timestamp, "processes",
      (json_int_t)u->processes, "threads", (json_int_t)u->threads, "cpus_user_time_secs", u->cpus_user_time_secs,
      "cpus_system_time_secs", u->cpus_system_time_secs, "cpus_limit", u->cpus_limit, "cpus_nr_periods",
      (json_int_t)u->cpus_nr_periods, "cpus_nr_throttled", (json_int_t)u->cpus_nr_throttled, "cpus_throttled_time_secs",
      u->cpus_throttled_time_secs, "mem_total_bytes", (json_int_t)u->mem_total_bytes, "mem_rss_bytes",
      (json_int_t)u->mem_rss_bytes, "mem_cache_bytes", (json_int_t)u->mem_cache_bytes, "mem_limit_bytes",
      (json_int_t)u->mem_limit_bytes, "mem_soft_limit_bytes", (json_int_t)u->mem_soft_limit_bytes, "net_rx_bytes",
      (json_int_t)u->net_rx_bytes, "net_tx_bytes", (json_int_t)u->net_tx_bytes);
  /* A berth extension: Mesos's cpus_limit is the quota or, without one,
   * the share; this says which, so a reader can tell a cap from a weight. */
  json_object_set_new(j, "cpus_quota", json_boolean(u->cpus_quota));
  return j;
}
