#include "containerizer/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"

static char *sandboxes_dir(const char *work_dir) { return berth_asprintf("%s/sandboxes", work_dir); }

char *berth_sandbox_path(const char *work_dir, const char *id) {
  cleanup_free char *dir = sandboxes_dir(work_dir);
  return berth_asprintf("%s/%s", dir, id);
}

int berth_sandbox_open(const char *work_dir, const char *id, berth_error *err) {
  cleanup_free char *dir = sandboxes_dir(work_dir);
  cleanup_close int dfd = berth_safefs_open_dir(dir, err);
  if (dfd < 0) return dfd;
  return berth_safefs_open(dfd, id, O_RDONLY | O_DIRECTORY, err);
}

int berth_sandbox_close_work_dir(const char *work_dir, berth_error *err) {
  cleanup_free char *dir = sandboxes_dir(work_dir);
  if (chmod(work_dir, 0700) < 0) return berth_error_errno(err, errno, "chmod 0700 '%s'", work_dir);
  if (chmod(dir, 0700) < 0) return berth_error_errno(err, errno, "chmod 0700 '%s'", dir);
  return 0;
}

static char *link_path(const char *work_dir, const char *id) {
  return berth_asprintf("%s/docker/links/%s", work_dir, id);
}

int berth_sandbox_create(const char *work_dir, const char *id, char **bind_path, berth_error *err) {
  cleanup_free char *dir = sandboxes_dir(work_dir);
  cleanup_free char *path = berth_sandbox_path(work_dir, id);
  cleanup_close int dfd = berth_safefs_open_dir(dir, err);
  if (dfd < 0) return berth_error_prefix(err, "create sandbox");
  /* 0777: the task may run as any user its image names (a name berthd
   * cannot resolve on the host), and must be able to write here.  Other
   * local users never reach it: the work dir above is 0700. */
  cleanup_close int sfd = berth_safefs_mkdirat(dfd, id, 0777, err);
  if (sfd < 0) return berth_error_prefix(err, "create sandbox '%s'", path);
  static const char *const outputs[] = {"stdout", "stderr"};
  for (int i = 0; i < 2; i++) {
    int fd = berth_safefs_create(sfd, outputs[i], 0644, err);
    if (fd < 0) return berth_error_prefix(err, "create sandbox '%s'", path);
    close(fd);
  }
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

int berth_sandbox_remove(const char *work_dir, const char *id, berth_error *err) {
  cleanup_free char *dir = sandboxes_dir(work_dir);
  cleanup_free char *link = link_path(work_dir, id);
  if (unlink(link) < 0 && errno != ENOENT) return berth_error_errno(err, errno, "remove link '%s'", link);
  cleanup_close int dfd = berth_safefs_open_dir(dir, err);
  if (dfd == BERTH_ENOENT) return 0;
  if (dfd < 0) return berth_error_prefix(err, "remove sandbox");
  if (berth_safefs_remove_tree(dfd, id, err) < 0) return berth_error_prefix(err, "remove sandbox '%s/%s'", dir, id);
  return 0;
}
