#include "containerizer/rotation.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/safefs.h"

/* name.(i) -> name.(i+1) for i = N-1..1, then name -> name.1.  A rename
 * replaces its target at once, so the oldest drops out with no unlink; a
 * source that is missing is skipped, which makes a second run after a
 * crash in the middle finish the shift without losing a file. */
static int shift(int dirfd, const char *name, unsigned n, berth_error *err) {
  char from[128], to[128];
  for (unsigned i = n - 1; i >= 1; i--) {
    snprintf(from, sizeof(from), "%s.%u", name, i);
    snprintf(to, sizeof(to), "%s.%u", name, i + 1);
    if (renameat(dirfd, from, dirfd, to) < 0 && errno != ENOENT)
      return berth_error_errno(err, errno, "rename '%s' to '%s'", from, to);
  }
  snprintf(to, sizeof(to), "%s.1", name);
  if (renameat(dirfd, name, dirfd, to) < 0 && errno != ENOENT)
    return berth_error_errno(err, errno, "rename '%s' to '%s'", name, to);
  return 0;
}

int berth_outlog_rotate(berth_outlog *log, int dirfd, const berth_rotation_policy *p, const berth_outlog_hooks *hooks,
                        berth_error *err) {
  struct stat st;
  if (log->fd >= 0 && fstat(log->fd, &st) < 0) return berth_error_errno(err, errno, "stat '%s'", log->name);
  /* Written first: a crash from here on leaves a record recovery can
   * finish the rotation from. */
  uint64_t old_rotated = log->rotated, old_ino = log->ino;
  log->rotated += log->size;
  if (log->fd >= 0) log->ino = (uint64_t)st.st_ino;
  if (hooks && hooks->persist) hooks->persist(log, hooks->data);
  int rc = shift(dirfd, log->name, p->max_files, err);
  int fd = rc < 0 ? -1 : berth_safefs_create(dirfd, log->name, 0644, err);
  if (fd < 0) {
    /* Not rotated: the live file goes on growing, counted as before. */
    log->rotated = old_rotated;
    log->ino = old_ino;
    if (hooks && hooks->persist) hooks->persist(log, hooks->data);
    return berth_error_prefix(err, "rotate '%s'", log->name);
  }
  if (log->fd >= 0) close(log->fd);
  log->fd = fd;
  log->size = 0;
  return 0;
}

static int rotate_with_hooks(berth_outlog *log, const berth_rotation_policy *p, const berth_outlog_hooks *hooks,
                             berth_error *err) {
  cleanup_close int dirfd = hooks->open_dir(hooks->data, err);
  if (dirfd < 0) return berth_error_prefix(err, "rotate '%s'", log->name);
  return berth_outlog_rotate(log, dirfd, p, hooks, err);
}

int berth_outlog_write(berth_outlog *log, const berth_rotation_policy *p, const char *buf, size_t len,
                       const berth_outlog_hooks *hooks, berth_error *err) {
  bool rotating = p && p->max_size > 0 && p->max_files > 0;
  bool rotation_failed = false;
  while (len > 0 && log->fd >= 0) {
    size_t n = len;
    if (rotating && !rotation_failed && log->size >= log->retry_at) {
      if (log->size >= p->max_size && rotate_with_hooks(log, p, hooks, err) < 0) {
        /* Something the task planted is in the way: the live file grows
         * on, and the next try (and report) waits another max_size. */
        rotation_failed = true;
        log->retry_at = log->size + p->max_size;
        continue;
      }
      log->retry_at = 0;
      if (log->size < p->max_size && (uint64_t)n > p->max_size - log->size) n = (size_t)(p->max_size - log->size);
    }
    ssize_t w = write(log->fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return berth_error_errno(err, errno, "write '%s'", log->name);
    buf += w;
    len -= (size_t)w;
    log->size += (uint64_t)w;
  }
  return 0;
}

int berth_outlog_recover(berth_outlog *log, int dirfd, const berth_rotation_policy *p, berth_error *err) {
  struct stat st;
  cleanup_close int pin = berth_safefs_pin(dirfd, log->name, &st, NULL);
  if (pin >= 0 && S_ISREG(st.st_mode) && log->ino != 0 && (uint64_t)st.st_ino == log->ino) {
    /* The record says this file was being rotated out, and it is still
     * the live one: the crash came before its rename.  Its bytes are
     * already counted in log->rotated. */
    unsigned n = p && p->max_files > 0 ? p->max_files : 1;
    if (shift(dirfd, log->name, n, err) < 0) return berth_error_prefix(err, "finish rotation of '%s'", log->name);
  }
  int fd = berth_safefs_create(dirfd, log->name, 0644, err);
  if (fd < 0) return fd;
  if (fstat(fd, &st) < 0) {
    int e = errno;
    close(fd);
    return berth_error_errno(err, e, "stat '%s'", log->name);
  }
  if (log->fd >= 0) close(log->fd);
  log->fd = fd;
  log->size = (uint64_t)st.st_size;
  return 0;
}
