#include "util/safefs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util/alloc.h"

/* 1: openat2 works, 0: not probed yet, -1: the kernel lacks it.  Racy
 * first probes on the thread pool agree on the answer, so a plain int is
 * enough. */
static int have_openat2;
static bool force_walk;

bool berth_safefs_force_walk(bool on) {
  force_walk = on;
  if (have_openat2 == 0) {
    /* Only a success counts: a seccomp filter may answer EPERM rather than
     * ENOSYS, and the walk is then the way. */
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));
    have_openat2 = fd >= 0 ? 1 : -1;
    if (fd >= 0) close(fd);
  }
  return have_openat2 == 1;
}

/* ".." and absolute paths are refused before the disk is touched, in both
 * resolvers, so they answer alike. */
static int check_rel(const char *rel, berth_error *err) {
  if (rel[0] == '/') return berth_error_set(err, BERTH_EINVAL, "'%.200s': absolute path", rel);
  for (const char *p = rel; *p;) {
    size_t n = strcspn(p, "/");
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return berth_error_set(err, BERTH_EINVAL, "'%.200s': '..' is not allowed", rel);
    p += n;
    while (*p == '/') p++;
  }
  return 0;
}

static int resolve_error(const char *rel, int e, berth_error *err) {
  switch (e) {
    case ELOOP:
      return berth_error_set(err, BERTH_ENOENT, "'%.200s' goes through a symlink", rel);
    case ENOENT:
    case ENOTDIR:
      return berth_error_set(err, BERTH_ENOENT, "'%.200s' not found", rel);
    case EXDEV:
    case ENAMETOOLONG:
      berth_error_errno(err, e, "'%.200s'", rel);
      if (err) err->code = BERTH_EINVAL;
      return BERTH_EINVAL;
    default:
      return berth_error_errno(err, e, "resolve '%.200s'", rel);
  }
}

/* The O_NOFOLLOW walk: every component is pinned with O_PATH (a FIFO or
 * device is not opened by that), and all but the last must be real
 * directories, so no symlink is followed anywhere on the way. */
static int walk(int dirfd, const char *rel) {
  int fd = openat(dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  const char *p = rel;
  while (*p) {
    size_t n = strcspn(p, "/");
    char comp[NAME_MAX + 1];
    if (n > NAME_MAX) {
      close(fd);
      return -ENAMETOOLONG;
    }
    memcpy(comp, p, n);
    comp[n] = '\0';
    p += n;
    while (*p == '/') p++;
    if (n == 0 || !strcmp(comp, ".")) continue;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
      int e = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
      close(fd);
      return -e;
    }
    int next = openat(fd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(fd);
    if (next < 0) return -e;
    fd = next;
  }
  return fd;
}

static int pin(int dirfd, const char *rel, struct stat *st, berth_error *err) {
  int rc = check_rel(rel, err);
  if (rc < 0) return rc;
  if (have_openat2 == 0) berth_safefs_force_walk(force_walk);
  int fd = -1;
  if (have_openat2 == 1 && !force_walk) {
    struct open_how how = {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    /* EAGAIN: a rename raced the lookup; the kernel asks for a retry. */
    for (int tries = 0; tries < 16; tries++) {
      fd = (int)syscall(SYS_openat2, dirfd, rel[0] ? rel : ".", &how, sizeof(how));
      if (fd >= 0 || errno != EAGAIN) break;
    }
    if (fd < 0) return resolve_error(rel, errno, err);
  } else {
    fd = walk(dirfd, rel);
    if (fd < 0) return resolve_error(rel, -fd, err);
  }
  if (fstat(fd, st) < 0) {
    int e = errno;
    close(fd);
    return berth_error_errno(err, e, "stat '%.200s'", rel);
  }
  /* The walk pins a trailing symlink itself (openat2 refuses it). */
  if (S_ISLNK(st->st_mode)) {
    close(fd);
    return resolve_error(rel, ELOOP, err);
  }
  return fd;
}

int berth_safefs_pin(int dirfd, const char *rel, struct stat *st, berth_error *err) { return pin(dirfd, rel, st, err); }

/* Opens the pinned inode for real: a directory through openat(".") on the
 * O_PATH fd, a regular file through /proc/self/fd (the only way to reopen
 * an O_PATH fd), then checks it is still the same inode. */
static int reopen(int pfd, const struct stat *st, int flags, const char *rel, berth_error *err) {
  int fd;
  if (S_ISDIR(st->st_mode)) {
    fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  } else {
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
    fd = open(proc, (flags & (O_ACCMODE | O_APPEND | O_TRUNC)) | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  }
  if (fd < 0) return berth_error_errno(err, errno, "open '%.200s'", rel);
  struct stat now;
  if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
    close(fd);
    return berth_error_set(err, BERTH_EIO, "'%.200s' changed while it was opened", rel);
  }
  return fd;
}

int berth_safefs_open(int dirfd, const char *rel, int flags, berth_error *err) {
  struct stat st;
  cleanup_close int pfd = pin(dirfd, rel, &st, err);
  if (pfd < 0) return pfd;
  bool writing = (flags & O_ACCMODE) != O_RDONLY;
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
    return berth_error_set(err, BERTH_EINVAL, "'%.200s' is not a regular file or directory", rel);
  if ((flags & O_DIRECTORY) && !S_ISDIR(st.st_mode))
    return berth_error_set(err, BERTH_EINVAL, "'%.200s' is not a directory", rel);
  if (writing && !S_ISREG(st.st_mode)) return berth_error_set(err, BERTH_EINVAL, "'%.200s' is not a regular file", rel);
  return reopen(pfd, &st, flags, rel, err);
}

int berth_safefs_create(int dirfd, const char *name, mode_t mode, berth_error *err) {
  if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
    return berth_error_set(err, BERTH_EINVAL, "'%.200s': not a plain file name", name);
  /* O_EXCL never follows a link, not even a dangling one; what exists goes
   * through the pinned open.  Something may vanish in between: retry. */
  for (int tries = 0; tries < 8; tries++) {
    int fd = openat(dirfd, name,
                    O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, mode);
    if (fd >= 0) return fd;
    if (errno != EEXIST) return berth_error_errno(err, errno, "create '%.200s'", name);
    fd = berth_safefs_open(dirfd, name, O_WRONLY | O_APPEND, err);
    struct stat st;
    if (fd != BERTH_ENOENT || fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) return fd;
  }
  return berth_error_set(err, BERTH_EIO, "create '%.200s': it keeps appearing and vanishing", name);
}

int berth_safefs_open_dir(const char *path, berth_error *err) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    berth_error_errno(err, e, "open directory '%s'", path);
    if (e != ENOENT) return BERTH_EIO;
    if (err) err->code = BERTH_ENOENT;
    return BERTH_ENOENT;
  }
  return fd;
}

int berth_safefs_mkdirat(int dirfd, const char *name, mode_t mode, berth_error *err) {
  bool made = mkdirat(dirfd, name, mode) == 0;
  if (!made && errno != EEXIST) return berth_error_errno(err, errno, "mkdir '%.200s'", name);
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return berth_error_errno(err, errno, "'%.200s' is not a directory", name);
  if (made && fchmod(fd, mode) < 0) {
    int e = errno;
    close(fd);
    return berth_error_errno(err, e, "chmod '%.200s'", name);
  }
  return fd;
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

/* What the removal walk compares: an inode, and the mount it is seen on
 * (st_dev alone misses a bind mount of the same filesystem). */
typedef struct node_id {
  dev_t dev;
  ino_t ino;
  uint64_t mnt;
  mode_t mode;
} node_id;

static int identify(int dirfd, const char *name, node_id *id) {
  struct statx sx;
  if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH), STATX_TYPE | STATX_INO | STATX_MNT_ID,
            &sx) < 0)
    return -errno;
  id->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  id->ino = sx.stx_ino;
  id->mnt = sx.stx_mask & STATX_MNT_ID ? sx.stx_mnt_id : 0;
  id->mode = sx.stx_mode;
  return 0;
}

static bool same_node(const node_id *a, const node_id *b) { return a->dev == b->dev && a->ino == b->ino; }

/* Opens directory name in dirfd as the walk expects it to be. */
static int enter(int dirfd, const char *name, const node_id *want) {
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -errno;
  node_id got;
  int rc = identify(fd, "", &got);
  if (rc < 0 || !same_node(&got, want)) {
    close(fd);
    return rc < 0 ? rc : -ESTALE;
  }
  return fd;
}

typedef struct level {
  node_id id;
  char *name;      /* in the level above */
  long parent_pos; /* telldir() of the level above, just past name */
} level;

/* The removal walk holds two directory fds at most, whatever the depth:
 * it descends into the first subdirectory it meets, and when a directory
 * is empty it climbs back with openat(fd, "..") -- checked against the
 * inode it left, since a task could have moved things -- and removes it
 * there.  Only the names and inode numbers of the levels above are kept (in
 * memory, not fds), so depth is bounded by memory rather than PATH_MAX or
 * RLIMIT_NOFILE.  Back in a parent, the listing resumes where it left
 * (seekdir to the position saved on the way down, a cookie that stays
 * valid across opens on the filesystems berth runs on), and a directory
 * counts as empty only after one more pass from its start, so a position
 * that did not hold costs a rescan, never a missed entry -- and a wide tree
 * is not reread once per subdirectory.  A directory whose mount differs from the top's is a
 * mount point: the walk stops there and fails rather than delete what is
 * mounted.  Each climb rereads the parent from its start; what was removed
 * is gone, so it goes on where it left. */
int berth_safefs_remove_tree(int parent, const char *name, berth_error *err) {
  node_id top;
  int rc = identify(parent, name, &top);
  if (rc == -ENOENT) return 0;
  if (rc < 0) return berth_error_errno(err, -rc, "stat '%.200s'", name);
  if (!S_ISDIR(top.mode)) {
    if (unlinkat(parent, name, 0) < 0 && errno != ENOENT) return berth_error_errno(err, errno, "remove '%.200s'", name);
    return 0;
  }
  size_t depth = 0, cap = 16;
  level *stack = berth_malloc(cap * sizeof(*stack));
  int cur = enter(parent, name, &top);
  if (cur < 0) {
    free(stack);
    return berth_error_errno(err, -cur, "open '%.200s'", name);
  }
  stack[depth++] = (level){top, berth_strdup(name), 0};
  const char *failed = NULL;
  int failed_errno = 0;
  char *where = NULL; /* the name the walk failed at */
  long resume = 0;    /* where to take up the listing of cur; 0: its start */
  for (;;) {
    DIR *d = fdopendir(cur);
    if (!d) {
      failed = "list", failed_errno = errno;
      close(cur);
      break;
    }
    cur = -1;
    if (resume) seekdir(d, resume);
    struct dirent *e;
  rescan:
    while ((errno = 0, e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      node_id child;
      if ((rc = identify(dirfd(d), e->d_name, &child)) == -ENOENT) continue;
      if (rc < 0) {
        failed = "stat", failed_errno = -rc;
      } else if (!S_ISDIR(child.mode)) {
        if (unlinkat(dirfd(d), e->d_name, 0) == 0 || errno == ENOENT) continue;
        failed = "unlink", failed_errno = errno;
      } else if (child.dev != top.dev || child.mnt != top.mnt) {
        failed = "refuse to cross the mount point", failed_errno = EXDEV;
      } else if ((cur = enter(dirfd(d), e->d_name, &child)) < 0) {
        failed = "open", failed_errno = -cur;
      } else {
        if (depth == cap) stack = berth_realloc(stack, (cap *= 2) * sizeof(*stack));
        stack[depth++] = (level){child, berth_strdup(e->d_name), telldir(d)};
        break;
      }
      where = berth_strdup(e->d_name);
      break;
    }
    if (!e && errno) failed = "list", failed_errno = errno;
    if (!failed && cur < 0 && resume) {
      resume = 0;
      rewinddir(d);
      goto rescan;
    }
    if (failed || cur >= 0) {
      resume = 0;
      closedir(d);
      if (failed) break;
      continue;
    }
    /* The directory is empty: climb and remove it there. */
    level done = stack[--depth];
    where = done.name;
    int up = parent;
    if (depth > 0 && (up = enter(dirfd(d), "..", &stack[depth - 1].id)) < 0) {
      failed = "climb out of", failed_errno = -up;
      closedir(d);
      break;
    }
    closedir(d);
    node_id again;
    if (identify(up, done.name, &again) < 0 || !same_node(&again, &done.id))
      failed = "find again", failed_errno = ESTALE;
    else if (unlinkat(up, done.name, AT_REMOVEDIR) < 0 && errno != ENOENT)
      failed = "remove", failed_errno = errno;
    if (failed || depth == 0) {
      if (up != parent) close(up);
      break;
    }
    free(where);
    where = NULL;
    cur = up;
    resume = done.parent_pos;
  }
  int out = 0;
  /* The full path may be far beyond PATH_MAX: name the entry and depth. */
  if (failed)
    out = berth_error_errno(err, failed_errno, "%s '%.200s' at depth %zu under '%.200s'", failed, where ? where : ".",
                            depth, name);
  free(where);
  for (size_t i = 0; i < depth; i++) free(stack[i].name);
  free(stack);
  return out;
}
