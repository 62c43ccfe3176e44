#include "fetcher/place.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"

#define COPY_BLOCK (128u * 1024u)

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n > m && !strcasecmp(s + n - m, suffix);
}

bool berth_place_is_archive(const char *name) {
  static const char *const exts[] = {".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip"};
  for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
    if (ends_with(name, exts[i])) return true;
  return false;
}

int berth_place_member_name(const char *name, char *out, size_t out_size, berth_error *err) {
  if (name[0] == '/') return berth_error_set(err, BERTH_EINVAL, "'%.200s': absolute name", name);
  size_t len = 0;
  const char *p = name;
  while (*p) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.') return berth_error_set(err, BERTH_EINVAL, "'%.200s': '..' in name", name);
    if (n > 0 && !(n == 1 && p[0] == '.')) {
      if (len + n + 2 > out_size) return berth_error_set(err, BERTH_EINVAL, "'%.200s': name too long", name);
      if (len) out[len++] = '/';
      memcpy(out + len, p, n);
      len += n;
    }
    p += n;
    if (*p == '/') p++;
  }
  out[len] = '\0';
  return 0;
}

/* Opens the directory holding rel's last component, walking one component
 * at a time below root with O_NOFOLLOW: a symlink anywhere on the way is
 * refused (ELOOP), never followed.  create makes missing directories. */
static int open_parent(int root, const char *rel, bool create, const char **leaf, berth_error *err) {
  int cur = dup(root);
  if (cur < 0) return berth_error_errno(err, errno, "dup");
  const char *p = rel;
  for (;;) {
    const char *slash = strchr(p, '/');
    if (!slash) break;
    cleanup_free char *comp = berth_strndup(p, (size_t)(slash - p));
    if (create && mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
      int e = errno;
      close(cur);
      return berth_error_errno(err, e, "create directory '%.200s'", rel);
    }
    int next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(cur);
    if (next < 0) return berth_error_errno(err, e, "open directory of '%.200s'", rel);
    cur = next;
    p = slash + 1;
  }
  *leaf = p;
  return cur;
}

/* A fresh regular file: whatever held the name (a symlink, a file) is
 * unlinked first and the new one made with O_EXCL, so nothing the name
 * pointed to is written through. */
static int create_file(int dir, const char *leaf, const char *shown, berth_error *err) {
  if (unlinkat(dir, leaf, 0) < 0 && errno != ENOENT) return berth_error_errno(err, errno, "replace '%.200s'", shown);
  int fd = openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return berth_error_errno(err, errno, "create '%.200s'", shown);
  return fd;
}

static int write_all(int fd, const char *buf, size_t n, const char *shown, berth_error *err) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return berth_error_errno(err, errno, "write '%.200s'", shown);
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}

int berth_place_copy(int sandbox_fd, int src_fd, const char *name, bool executable, uint64_t max_bytes,
                     atomic_bool *cancel, berth_error *err) {
  if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
    return berth_error_set(err, BERTH_EINVAL, "'%.200s' is not a plain file name", name);
  cleanup_close int fd = create_file(sandbox_fd, name, name, err);
  if (fd < 0) return err->code;
  cleanup_free char *buf = berth_malloc(COPY_BLOCK);
  uint64_t total = 0;
  int rc = 0;
  for (;;) {
    if (atomic_load(cancel)) {
      rc = berth_error_set(err, BERTH_ECANCELED, "copy of '%.200s' cancelled", name);
      break;
    }
    ssize_t r = read(src_fd, buf, COPY_BLOCK);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = berth_error_errno(err, errno, "read source of '%.200s'", name);
      break;
    }
    if (r == 0) break;
    total += (uint64_t)r;
    if (max_bytes && total > max_bytes) {
      rc =
          berth_error_set(err, BERTH_EINVAL, "'%.200s' is larger than %llu bytes", name, (unsigned long long)max_bytes);
      break;
    }
    if ((rc = write_all(fd, buf, (size_t)r, name, err)) < 0) break;
  }
  if (rc == 0 && fchmod(fd, executable ? 0755 : 0644) < 0) rc = berth_error_errno(err, errno, "chmod '%.200s'", name);
  if (rc < 0) unlinkat(sandbox_fd, name, 0); /* no partial file left; a failed unlink changes nothing */
  return rc;
}

/* A symlink's target, resolved by name from the member's directory, must
 * stay inside the sandbox: relative, and never climbing above the root. */
static bool link_stays_inside(const char *member, const char *target) {
  if (!*target || target[0] == '/') return false;
  int depth = 0;
  for (const char *p = member; (p = strchr(p, '/')); p++) depth++;
  const char *p = target;
  while (*p) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (--depth < 0) return false;
    } else if (n > 0 && !(n == 1 && p[0] == '.')) {
      depth++;
    }
    p += n;
    if (*p == '/') p++;
  }
  return true;
}

static int extract_data(struct archive *a, int fd, const char *shown, uint64_t max_bytes, uint64_t *written,
                        atomic_bool *cancel, berth_error *err) {
  for (;;) {
    const void *buf;
    size_t size;
    la_int64_t offset;
    int r = archive_read_data_block(a, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) return 0;
    if (r < ARCHIVE_WARN)
      return berth_error_set(err, BERTH_EINVAL, "read '%.200s': %s", shown, archive_error_string(a));
    if (atomic_load(cancel)) return berth_error_set(err, BERTH_ECANCELED, "extraction cancelled");
    *written += size;
    if (max_bytes && *written > max_bytes)
      return berth_error_set(err, BERTH_EINVAL, "archive holds more than %llu bytes", (unsigned long long)max_bytes);
    const char *p = buf;
    size_t left = size;
    while (left > 0) {
      ssize_t w = pwrite(fd, p, left, (off_t)offset);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return berth_error_errno(err, errno, "write '%.200s'", shown);
      p += w;
      left -= (size_t)w;
      offset += w;
    }
  }
}

static int extract_entry(struct archive *a, struct archive_entry *entry, int root, uint64_t max_bytes,
                         uint64_t *written, atomic_bool *cancel, berth_error *err) {
  const char *raw = archive_entry_pathname(entry);
  char name[4096];
  if (!raw) return berth_error_set(err, BERTH_EINVAL, "archive member without a name");
  if (berth_place_member_name(raw, name, sizeof(name), err) < 0) return berth_error_prefix(err, "archive member");
  mode_t type = archive_entry_filetype(entry);
  const char *hardlink = archive_entry_hardlink(entry);
  if (!name[0]) {
    if (type == AE_IFDIR) return 0; /* "./": the sandbox itself */
    return berth_error_set(err, BERTH_EINVAL, "archive member '%.200s': empty name", raw);
  }
  const char *leaf;
  cleanup_close int dir = open_parent(root, name, true, &leaf, err);
  if (dir < 0) return berth_error_prefix(err, "archive member");
  if (hardlink) {
    char target[4096];
    if (berth_place_member_name(hardlink, target, sizeof(target), err) < 0 || !target[0])
      return berth_error_set(err, BERTH_EINVAL, "archive member '%.200s': hard link to '%.200s' points outside", raw,
                             hardlink);
    const char *tleaf;
    cleanup_close int tdir = open_parent(root, target, false, &tleaf, err);
    if (tdir < 0) return berth_error_prefix(err, "archive member '%.200s': hard link", raw);
    cleanup_close int tfd = openat(tdir, tleaf, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (tfd < 0 || fstat(tfd, &st) < 0 || !S_ISREG(st.st_mode))
      return berth_error_set(err, BERTH_EINVAL, "archive member '%.200s': hard link target '%.200s' is not a file", raw,
                             target);
    if (unlinkat(dir, leaf, 0) < 0 && errno != ENOENT) return berth_error_errno(err, errno, "replace '%.200s'", name);
    /* Linking the opened file itself (not its name again) leaves no window
     * in which the name could be swapped for something outside. */
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", tfd);
    if (linkat(AT_FDCWD, proc, dir, leaf, AT_SYMLINK_FOLLOW) < 0)
      return berth_error_errno(err, errno, "hard link '%.200s'", name);
    return 0;
  }
  switch (type) {
    case AE_IFDIR:
      if (mkdirat(dir, leaf, 0755) < 0 && errno != EEXIST)
        return berth_error_errno(err, errno, "create '%.200s'", name);
      {
        cleanup_close int d = openat(dir, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (d < 0) return berth_error_errno(err, errno, "open directory '%.200s'", name);
      }
      return 0;
    case AE_IFREG: {
      cleanup_close int fd = create_file(dir, leaf, name, err);
      if (fd < 0) return err->code;
      if (extract_data(a, fd, name, max_bytes, written, cancel, err) < 0) return err->code;
      /* A sparse member may end in a hole that no data block reaches. */
      la_int64_t size = archive_entry_size(entry);
      if (archive_entry_size_is_set(entry) && size > 0 && (uint64_t)size <= (max_bytes ? max_bytes : UINT64_MAX) &&
          ftruncate(fd, (off_t)size) < 0)
        return berth_error_errno(err, errno, "size '%.200s'", name);
      if (fchmod(fd, archive_entry_perm(entry) & 0777) < 0)
        return berth_error_errno(err, errno, "chmod '%.200s'", name);
      return 0;
    }
    case AE_IFLNK: {
      const char *target = archive_entry_symlink(entry);
      if (!target || !link_stays_inside(name, target))
        return berth_error_set(err, BERTH_EINVAL, "archive member '%.200s': symlink to '%.200s' points outside", raw,
                               target ? target : "");
      if (unlinkat(dir, leaf, 0) < 0 && errno != ENOENT) return berth_error_errno(err, errno, "replace '%.200s'", name);
      if (symlinkat(target, dir, leaf) < 0) return berth_error_errno(err, errno, "symlink '%.200s'", name);
      return 0;
    }
    default:
      return berth_error_set(err, BERTH_EINVAL,
                             "archive member '%.200s': refusing a special file (device, FIFO or socket)", raw);
  }
}

int berth_place_extract(int sandbox_fd, int src_fd, uint64_t max_bytes, atomic_bool *cancel, uint64_t *written,
                        berth_error *err) {
  *written = 0;
  struct archive *a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_xz(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_gnutar(a);
  archive_read_support_format_zip(a);
  int rc = 0;
  if (archive_read_open_fd(a, src_fd, COPY_BLOCK) != ARCHIVE_OK) {
    rc = berth_error_set(err, BERTH_EINVAL, "open archive: %s", archive_error_string(a));
  } else {
    for (;;) {
      struct archive_entry *entry;
      int r = archive_read_next_header(a, &entry);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) {
        rc = berth_error_set(err, BERTH_EINVAL, "read archive: %s", archive_error_string(a));
        break;
      }
      if (atomic_load(cancel)) {
        rc = berth_error_set(err, BERTH_ECANCELED, "extraction cancelled");
        break;
      }
      if ((rc = extract_entry(a, entry, sandbox_fd, max_bytes, written, cancel, err)) < 0) break;
    }
  }
  archive_read_free(a);
  return rc;
}
