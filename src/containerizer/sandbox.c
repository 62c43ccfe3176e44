#define _XOPEN_SOURCE 700
#include "containerizer/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"

char *berth_sandbox_path(const char *work_dir, const char *id) {
  return berth_asprintf("%s/sandboxes/%s", work_dir, id);
}

int berth_mkdir_p(const char *path, berth_error *err) {
  cleanup_free char *copy = berth_strdup(path);
  for (char *p = copy + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(copy, 0755) < 0 && errno != EEXIST) return berth_error_errno(err, errno, "mkdir '%s'", copy);
    *p = '/';
  }
  if (mkdir(copy, 0755) < 0 && errno != EEXIST) return berth_error_errno(err, errno, "mkdir '%s'", copy);
  return 0;
}

static int touch(const char *dir, const char *name, berth_error *err) {
  cleanup_free char *path = berth_asprintf("%s/%s", dir, name);
  cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return berth_error_errno(err, errno, "create '%s'", path);
  return 0;
}

static char *link_path(const char *work_dir, const char *id) {
  return berth_asprintf("%s/docker/links/%s", work_dir, id);
}

int berth_sandbox_create(const char *work_dir, const char *id, char **bind_path, berth_error *err) {
  cleanup_free char *path = berth_sandbox_path(work_dir, id);
  if (berth_mkdir_p(path, err) < 0 || touch(path, "stdout", err) < 0 || touch(path, "stderr", err) < 0)
    return berth_error_prefix(err, "create sandbox");
  if (!strchr(path, ':')) {
    *bind_path = path;
    path = NULL;
    return 0;
  }
  cleanup_free char *links = berth_asprintf("%s/docker/links", work_dir);
  cleanup_free char *link = link_path(work_dir, id);
  if (berth_mkdir_p(links, err) < 0) return berth_error_prefix(err, "create sandbox link");
  unlink(link);
  if (symlink(path, link) < 0) return berth_error_errno(err, errno, "create sandbox link '%s'", link);
  *bind_path = link;
  link = NULL;
  return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int berth_sandbox_remove(const char *work_dir, const char *id, berth_error *err) {
  cleanup_free char *path = berth_sandbox_path(work_dir, id);
  cleanup_free char *link = link_path(work_dir, id);
  if (unlink(link) < 0 && errno != ENOENT) return berth_error_errno(err, errno, "remove link '%s'", link);
  /* FTW_PHYS: never follow a link the task left in its sandbox. */
  if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
    return berth_error_errno(err, errno, "remove sandbox '%s'", path);
  return 0;
}
