/* Fuzz target: usage from cgroup files (berth_cgroups_usage).
 *
 * berth_cgroups_usage reads files under the roots it is given, so the
 * input becomes a small fake /proc and /sys/fs/cgroup in a temp dir: it is
 * cut at NUL bytes into pieces, piece i is the content of FILES[i] (a
 * missing piece means a missing file).  Piece 0 is /proc/<pid>/cgroup; the
 * v1 controllers are mounted at cg/cpu,cpuacct (with cg/cpu and cg/cpuacct
 * links) and cg/memory, the unified hierarchy at cg; the container's cgroup
 * is /fz in each.  The kernel writes these files, so this checks that odd
 * contents (truncated, huge numbers, no newline, junk) give numbers or an
 * error and never a crash, a leak or an overflow. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroups/cgroups.h"
#include "fuzz_util.h"

#define PID 4242

static const char *const FILES[] = {
    "proc/4242/cgroup",
    "proc/4242/net/dev",
    "cg/cpu,cpuacct/fz/cpuacct.stat",
    "cg/cpu,cpuacct/fz/cpu.stat",
    "cg/cpu,cpuacct/fz/cpu.cfs_quota_us",
    "cg/cpu,cpuacct/fz/cpu.cfs_period_us",
    "cg/cpu,cpuacct/fz/cpu.shares",
    "cg/cpu,cpuacct/fz/cgroup.procs",
    "cg/cpu,cpuacct/fz/tasks",
    "cg/memory/fz/memory.usage_in_bytes",
    "cg/memory/fz/memory.stat",
    "cg/memory/fz/memory.limit_in_bytes",
    "cg/memory/fz/memory.soft_limit_in_bytes",
    "cg/fz/cpu.stat",
    "cg/fz/cpu.max",
    "cg/fz/cpu.weight",
    "cg/fz/memory.current",
    "cg/fz/memory.stat",
    "cg/fz/memory.max",
    "cg/fz/memory.low",
    "cg/fz/cgroup.procs",
    "cg/fz/cgroup.threads",
};
#define N_FILES (sizeof(FILES) / sizeof(FILES[0]))

static char root[64];
static char proc_root[128], cgroup_root[128];

static void mkdirs(const char *rel) {
  char path[256];
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  for (char *p = path + strlen(root) + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(path, 0755) < 0 && errno != EEXIST) abort();
    *p = '/';
  }
  if (mkdir(path, 0755) < 0 && errno != EEXIST) abort();
}

static void remove_root(void) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *tmp = getenv("TMPDIR");
  snprintf(root, sizeof(root), "%s/berth-fz-cg-XXXXXX", tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
  if (!mkdtemp(root)) abort();
  atexit(remove_root);
  mkdirs("proc/4242/net");
  mkdirs("cg/cpu,cpuacct/fz");
  mkdirs("cg/memory/fz");
  mkdirs("cg/fz");
  char link[256];
  snprintf(link, sizeof(link), "%s/cg/cpu", root);
  if (symlink("cpu,cpuacct", link) < 0) abort();
  snprintf(link, sizeof(link), "%s/cg/cpuacct", root);
  if (symlink("cpu,cpuacct", link) < 0) abort();
  snprintf(proc_root, sizeof(proc_root), "%s/proc", root);
  snprintf(cgroup_root, sizeof(cgroup_root), "%s/cg", root);
  return 0;
}

static void put(size_t i, const uint8_t *data, size_t len, bool present) {
  char path[256];
  snprintf(path, sizeof(path), "%s/%s", root, FILES[i]);
  if (!present) {
    if (unlink(path) < 0 && errno != ENOENT) abort();
    return;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) abort();
  if (len && write(fd, data, len) != (ssize_t)len) abort();
  close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 64 * 1024) return 0;
  size_t off = 0;
  for (size_t i = 0; i < N_FILES; i++) {
    if (off > size) {
      put(i, NULL, 0, false);
      continue;
    }
    const uint8_t *nul = memchr(data + off, 0, size - off);
    size_t len = nul ? (size_t)(nul - (data + off)) : size - off;
    put(i, data + off, len, true);
    off += len + 1;
  }
  berth_cgroup_roots roots = {.proc = proc_root, .cgroup = cgroup_root};
  berth_usage u;
  berth_error err = {0};
  if (berth_cgroups_usage(&roots, PID, &u, &err) == 0) {
    FZ_CHECK(isfinite(u.cpus_user_time_secs) && u.cpus_user_time_secs >= 0, "user %g", u.cpus_user_time_secs);
    FZ_CHECK(isfinite(u.cpus_system_time_secs) && u.cpus_system_time_secs >= 0, "system %g", u.cpus_system_time_secs);
    FZ_CHECK(isfinite(u.cpus_limit) && u.cpus_limit >= 0, "cpus_limit %g", u.cpus_limit);
    FZ_CHECK(isfinite(u.cpus_throttled_time_secs) && u.cpus_throttled_time_secs >= 0, "throttled %g",
             u.cpus_throttled_time_secs);
    json_t *j = berth_usage_json(&u, 1.0);
    FZ_CHECK(j, "berth_usage_json failed");
    char *text = json_dumps(j, JSON_COMPACT);
    FZ_CHECK(text, "usage JSON does not serialise");
    free(text);
    json_decref(j);
  } else {
    FZ_CHECK(err.code == BERTH_EIO && err.msg[0], "refusal code %d: %s", err.code, err.msg);
  }
  return 0;
}
