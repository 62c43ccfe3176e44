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

char *berth_sandbox_links_dir(const char *runtime_dir, const char *agent_id) {
  return berth_asprintf("%s/links/%s", runtime_dir, agent_id);
}

/* Opens <runtime_dir>/links/<agent_id>, making the two levels (0700: only
 * root, i.e. berthd and dockerd, goes there) when missing, e.g. after
 * /run was emptied.  No task can write anything on this path. */
static int open_links_dir(const char *runtime_dir, const char *agent_id, berth_error *err) {
  cleanup_close int rfd = berth_safefs_open_dir(runtime_dir, err);
  if (rfd < 0) return berth_error_prefix(err, "--runtime_dir");
  cleanup_close int lfd = berth_safefs_mkdirat(rfd, "links", 0700, err);
  if (lfd < 0) return berth_error_prefix(err, "--runtime_dir '%s'", runtime_dir);
  int afd = berth_safefs_mkdirat(lfd, agent_id, 0700, err);
  if (afd < 0) return berth_error_prefix(err, "--runtime_dir '%s/links'", runtime_dir);
  return afd;
}

int berth_sandbox_prepare_runtime_dir(const char *runtime_dir, const char *agent_id, berth_error *err) {
  /* 0755, as the API socket's directory gets, not 0700: the default
   * --listen socket lives in the default runtime dir and --socket_group
   * must reach it.  The links below are 0700. */
  if (berth_mkdir_p(runtime_dir, err) < 0) return berth_error_prefix(err, "--runtime_dir");
  int fd = open_links_dir(runtime_dir, agent_id, err);
  if (fd < 0) return fd;
  close(fd);
  return 0;
}

int berth_sandbox_create(const char *work_dir, const char *runtime_dir, const char *agent_id, const char *id,
                         char **bind_path, berth_error *err) {
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
  cleanup_free char *links = berth_sandbox_links_dir(runtime_dir, agent_id);
  cleanup_close int lfd = open_links_dir(runtime_dir, agent_id, err);
  if (lfd < 0) return berth_error_prefix(err, "create sandbox link");
  /* A link left by a launch of the same id that crashed before its REMOVE. */
  if (unlinkat(lfd, id, 0) < 0 && errno != ENOENT)
    return berth_error_errno(err, errno, "create sandbox link: remove old '%s/%s'", links, id);
  if (symlinkat(path, lfd, id) < 0) return berth_error_errno(err, errno, "create sandbox link '%s/%s'", links, id);
  *bind_path = berth_asprintf("%s/%s", links, id);
  return 0;
}

int berth_sandbox_remove(const char *work_dir, const char *runtime_dir, const char *agent_id, const char *id,
                         berth_error *err) {
  cleanup_free char *dir = sandboxes_dir(work_dir);
  cleanup_free char *links = berth_sandbox_links_dir(runtime_dir, agent_id);
  cleanup_close int lfd = berth_safefs_open_dir(links, err);
  if (lfd < 0 && lfd != BERTH_ENOENT) return berth_error_prefix(err, "remove link");
  if (lfd >= 0 && unlinkat(lfd, id, 0) < 0 && errno != ENOENT)
    return berth_error_errno(err, errno, "remove link '%s/%s'", links, id);
  cleanup_close int dfd = berth_safefs_open_dir(dir, err);
  if (dfd == BERTH_ENOENT) return 0;
  if (dfd < 0) return berth_error_prefix(err, "remove sandbox");
  if (berth_safefs_remove_tree(dfd, id, err) < 0) return berth_error_prefix(err, "remove sandbox '%s/%s'", dir, id);
  return 0;
}
