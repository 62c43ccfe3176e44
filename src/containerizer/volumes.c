#include "containerizer/volumes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "containerizer/spec.h"
#include "util/alloc.h"

/* Stacked mounts on one pin (a crash between two attempts) come off one by
 * one; more than this is not ours. */
#define MAX_STACKED_MOUNTS 8

char **berth_volumes_real_prefixes(const char *const *allowed) {
  size_t n = 0;
  for (const char *const *p = allowed; p && *p; p++) n++;
  char **out = berth_calloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) {
    char real[PATH_MAX];
    out[i] = berth_strdup(realpath(allowed[i], real) ? real : allowed[i]);
  }
  return out;
}

void berth_volumes_prefixes_free(char **prefixes) {
  for (char **p = prefixes; p && *p; p++) free(*p);
  free(prefixes);
}

/* An O_NOFOLLOW walk from "/" for kernels without openat2: each component
 * is opened relative to the one before and must be a directory, so a
 * symlink anywhere ends the walk. */
static int walk_no_symlinks(const char *path) {
  int dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -1;
  cleanup_free char *copy = berth_strdup(path);
  char *save = NULL;
  for (char *comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
    if (!strcmp(comp, ".")) continue;
    int next = openat(dfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    int saved = errno;
    close(dfd);
    if (next < 0) {
      errno = saved;
      return -1;
    }
    struct stat st;
    if (fstat(next, &st) < 0 || !S_ISDIR(st.st_mode)) {
      saved = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
      close(next);
      errno = saved;
      return -1;
    }
    dfd = next;
  }
  return dfd;
}

/* An O_PATH fd of the directory at path, reached with no symlink (and no
 * magic link) in any component. */
static int open_no_symlinks(const char *path) {
  struct open_how how = {
      .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
      .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
  if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return fd;
  return walk_no_symlinks(path); /* seccomp or an old kernel */
}

static int pin_one(const char *dir, size_t i, const char *host, const char *const *allowed,
                   const char *const *real_allowed, char **pin, berth_error *err) {
  /* The caller's path is under a prefix as the operator wrote it; that
   * prefix may itself hold symlinks (resolved once at start), the rest of
   * the path may not. */
  cleanup_free char *path = NULL;
  const char *real_prefix = NULL;
  for (size_t k = 0; allowed && allowed[k] && !path; k++) {
    if (!berth_path_under(host, allowed[k])) continue;
    size_t n = strlen(allowed[k]);
    while (n > 1 && allowed[k][n - 1] == '/') n--;
    real_prefix = real_allowed[k];
    const char *rest = n == 1 ? host : host + n; /* "" or "/..." */
    path = berth_asprintf("%s%s", strcmp(real_prefix, "/") ? real_prefix : "", rest);
    if (!*path) {
      free(path);
      path = berth_strdup("/");
    }
  }
  if (!path)
    return berth_error_set(err, BERTH_EINVAL,
                           "container.volumes[%zu].host_path: '%.200s' is not under --allowed_host_paths", i, host);
  cleanup_close int fd = open_no_symlinks(path);
  if (fd < 0) {
    int e = errno;
    if (e == ELOOP)
      return berth_error_set(err, BERTH_EINVAL, "container.volumes[%zu].host_path: '%.200s' has a symlink in it", i,
                             host);
    if (e == ENOTDIR)
      return berth_error_set(err, BERTH_EINVAL, "container.volumes[%zu].host_path: '%.200s' is not a directory", i,
                             host);
    return berth_error_set(err, BERTH_EINVAL, "container.volumes[%zu].host_path: '%.200s': %s", i, host, strerror(e));
  }
  /* The check is made on what was opened, not on the name. */
  char proc[64], real[PATH_MAX];
  snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
  ssize_t len = readlink(proc, real, sizeof(real) - 1);
  if (len < 0) return berth_error_errno(err, errno, "container.volumes[%zu].host_path: readlink '%s'", i, proc);
  real[len] = '\0';
  if (!berth_path_under(real, real_prefix))
    return berth_error_set(err, BERTH_EINVAL,
                           "container.volumes[%zu].host_path: '%.200s' is '%.200s', outside --allowed_host_paths", i,
                           host, real);
  cleanup_free char *target = berth_asprintf("%s/%zu", dir, i);
  if (mkdir(target, 0700) < 0 && errno != EEXIST) return berth_error_errno(err, errno, "create pin '%s'", target);
  /* /proc/self/fd/N names the opened directory itself: what is bound is
   * what was checked, whatever the path says by now. */
  if (mount(proc, target, NULL, MS_BIND | MS_REC, NULL) < 0) {
    int e = errno;
    rmdir(target);
    return berth_error_errno(err, e, "container.volumes[%zu].host_path: bind '%.200s' to '%s'", i, host, target);
  }
  /* Mount events under the host directory's peer group stay out of the
   * pin, and the pin's unmount goes nowhere else. */
  if (mount(NULL, target, NULL, MS_PRIVATE | MS_REC, NULL) < 0) {
    int e = errno;
    umount2(target, MNT_DETACH);
    rmdir(target);
    return berth_error_errno(err, e, "make pin '%s' private", target);
  }
  *pin = berth_strdup(target);
  return 0;
}

int berth_volumes_pin(const char *work_dir, const char *pin_dir, const char *const *host_paths, size_t n,
                      const char *const *allowed, const char *const *real_allowed, char **pins, berth_error *err) {
  cleanup_free char *root = berth_asprintf("%s/docker/volumes", work_dir);
  cleanup_free char *dir = berth_asprintf("%s/%s", root, pin_dir);
  if ((mkdir(root, 0700) < 0 && errno != EEXIST) || (mkdir(dir, 0700) < 0 && errno != EEXIST))
    return berth_error_errno(err, errno, "create '%s'", dir);
  for (size_t i = 0; i < n; i++) pins[i] = NULL;
  for (size_t i = 0; i < n; i++) {
    if (pin_one(dir, i, host_paths[i], allowed, real_allowed, &pins[i], err) < 0) {
      for (size_t k = 0; k < i; k++) {
        free(pins[k]);
        pins[k] = NULL;
      }
      berth_error ignored;
      /* The launch fails with err; what was pinned so far goes with it. */
      if (berth_volumes_unpin(work_dir, pin_dir, &ignored) < 0) berth_error_clear(&ignored);
      return err->code;
    }
  }
  return 0;
}

static int unpin_dir(int parent, const char *name, const char *path, berth_error *err) {
  DIR *d = opendir(path);
  if (!d) return errno == ENOENT ? 0 : berth_error_errno(err, errno, "open '%s'", path);
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    cleanup_free char *pin = berth_asprintf("%s/%s", path, e->d_name);
    int k = 0;
    while (k < MAX_STACKED_MOUNTS && umount2(pin, MNT_DETACH | UMOUNT_NOFOLLOW) == 0) k++;
    if (rmdir(pin) < 0 && errno != ENOENT && rc == 0) rc = berth_error_errno(err, errno, "remove pin '%s'", pin);
  }
  closedir(d);
  if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT && rc == 0)
    rc = berth_error_errno(err, errno, "remove '%s'", path);
  return rc;
}

int berth_volumes_unpin(const char *work_dir, const char *pin_dir, berth_error *err) {
  cleanup_free char *root = berth_asprintf("%s/docker/volumes", work_dir);
  cleanup_free char *path = berth_asprintf("%s/%s", root, pin_dir);
  cleanup_close int parent = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (parent < 0) return errno == ENOENT ? 0 : berth_error_errno(err, errno, "open '%s'", root);
  return unpin_dir(parent, pin_dir, path, err);
}

int berth_volumes_unpin_all(const char *work_dir, berth_error *err) {
  cleanup_free char *root = berth_asprintf("%s/docker/volumes", work_dir);
  DIR *d = opendir(root);
  if (!d) return errno == ENOENT ? 0 : berth_error_errno(err, errno, "open '%s'", root);
  int rc = 0, n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    cleanup_free char *path = berth_asprintf("%s/%s", root, e->d_name);
    if (unpin_dir(dirfd(d), e->d_name, path, err) < 0)
      rc = err->code;
    else
      n++;
  }
  closedir(d);
  return rc < 0 ? rc : n;
}
