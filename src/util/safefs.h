/* The one way berthd touches what a task can write: its sandbox (and so
 * anything under the work dir).
 *
 * A task owns its sandbox and may plant symlinks, hard links, FIFOs and
 * device nodes in it, and rename things while berthd looks.  Every open
 * here is relative to a directory fd, never follows a symlink (not even in
 * an intermediate component), never blocks on a FIFO, never makes a tty
 * the controlling terminal, and refuses anything that is not a regular file
 * or a directory before it is opened for reading or writing: the path is
 * first pinned with O_PATH (which opens nothing for real), checked with
 * fstat, and only then reopened through the pinned inode.
 *
 * Path resolution uses openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS) where the kernel has it and an O_NOFOLLOW walk,
 * one component at a time, otherwise. */
#ifndef BERTH_UTIL_SAFEFS_H
#define BERTH_UTIL_SAFEFS_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "util/error.h"

/* Opens rel (relative, '/'-separated, no "..", empty or "." for dirfd
 * itself) beneath dirfd.  flags: O_RDONLY, or O_WRONLY/O_RDWR with
 * O_APPEND/O_TRUNC (then only a regular file qualifies), plus O_DIRECTORY
 * to require a directory.  Returns the fd (O_CLOEXEC) or a negative code:
 * BERTH_ENOENT when nothing is there or a component is a symlink,
 * BERTH_EINVAL for ".."/absolute paths and for anything that is not a
 * regular file or directory (FIFO, device, socket) or of the wrong kind,
 * BERTH_EIO when a system call failed. */
int berth_safefs_open(int dirfd, const char *rel, int flags, berth_error *err);

/* Like berth_safefs_open, but only pins rel (an O_PATH fd nothing was read
 * or written through) and fills *st; any file type is returned. */
int berth_safefs_pin(int dirfd, const char *rel, struct stat *st, berth_error *err);

/* Opens name (one component) in dirfd for appending, creating it with mode
 * when missing.  A planted symlink, FIFO or device is refused, never
 * followed or opened. */
int berth_safefs_create(int dirfd, const char *name, mode_t mode, berth_error *err);

/* Opens an absolute path the daemon itself owns (the work dir and its
 * subdirectories, which no task can write) as a directory, refusing a
 * symlink in the last component. */
int berth_safefs_open_dir(const char *path, berth_error *err);

/* Creates directory name in dirfd if missing (mode applied with fchmod, so
 * umask does not change it) and returns it opened; an existing entry must
 * be a directory, never a symlink. */
int berth_safefs_mkdirat(int dirfd, const char *name, mode_t mode, berth_error *err);

/* Deletes name in dirfd and everything beneath it (see safefs.c for the
 * walk); a missing name is fine.  Never follows a link and never crosses a
 * mount point: a mount below name makes it fail.  Any failure is returned,
 * with what is left. */
int berth_safefs_remove_tree(int dirfd, const char *name, berth_error *err);

/* mkdir -p with mode 0755 for the directories it creates. */
int berth_mkdir_p(const char *path, berth_error *err);

/* Tests: force the O_NOFOLLOW walk even where openat2 exists; returns
 * whether openat2 is available on this kernel. */
bool berth_safefs_force_walk(bool on);

#endif
