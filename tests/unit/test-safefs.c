/* Unit tests for util/safefs: opens beneath a directory fd follow no
 * symlink, open no FIFO or device node (checked with inotify, which sees a
 * real open but not an O_PATH pin), create nothing through a planted link,
 * and the removal walk handles depth past PATH_MAX with a handful of fds
 * and stops at a mount point.  Every open test runs twice: through
 * openat2 and through the O_NOFOLLOW walk. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "testutil.h"

#include "util/safefs.h"

typedef struct fixture {
  char root[PATH_MAX]; /* <tmp>/{box,outside} */
  int box;             /* fd of <root>/box, the "sandbox" */
  bool walk;
} fixture;

static void must(int rc, const char *what) {
  if (rc < 0) fail_msg("%s: %s", what, strerror(errno));
}

static char *pathf(const fixture *fx, const char *rel) {
  char *p = NULL;
  if (asprintf(&p, "%s/%s", fx->root, rel) < 0) fail();
  return p;
}

static void put(const fixture *fx, const char *rel, const char *text) {
  char *p = pathf(fx, rel);
  FILE *f = fopen(p, "w");
  if (!f) fail_msg("create %s: %s", p, strerror(errno));
  fputs(text, f);
  fclose(f);
  free(p);
}

static void plant(const fixture *fx, const char *target, const char *rel) {
  char *p = pathf(fx, rel);
  must(symlink(target, p), p);
  free(p);
}

static char *slurp(const fixture *fx, const char *rel) {
  char *p = pathf(fx, rel);
  FILE *f = fopen(p, "r");
  free(p);
  if (!f) return NULL;
  char *buf = calloc(1, 4096);
  size_t n = fread(buf, 1, 4095, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static bool exists(const fixture *fx, const char *rel) {
  char *p = pathf(fx, rel);
  struct stat st;
  bool there = lstat(p, &st) == 0;
  free(p);
  return there;
}

/* box/{file,sub/inner}, box links (out, up, dangling, inner-link), a FIFO,
 * and when root, a char device (1,3: /dev/null, harmless if it were ever
 * opened, which inotify would show). outside/{secret}. */
static int setup_common(void **state, bool walk) {
  fixture *fx = calloc(1, sizeof(*fx));
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->root, sizeof(fx->root), "%s/berth-safefs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(fx->root)) return -1;
  static const char *const dirs[] = {"box", "box/sub", "outside", NULL};
  for (const char *const *d = dirs; *d; d++) {
    char *p = pathf(fx, *d);
    must(mkdir(p, 0755), p);
    free(p);
  }
  put(fx, "box/file", "inside\n");
  put(fx, "box/sub/inner", "inner\n");
  put(fx, "outside/secret", "secret\n");
  plant(fx, "../outside/secret", "box/out");
  plant(fx, "..", "box/up");
  plant(fx, "../outside/created", "box/dangling");
  plant(fx, "sub", "box/sublink");
  char *p = pathf(fx, "box/fifo");
  must(mkfifo(p, 0644), p);
  free(p);
  p = pathf(fx, "box/null");
  if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) < 0 && errno != EPERM) fail_msg("mknod: %s", strerror(errno));
  free(p);
  p = pathf(fx, "box");
  fx->box = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  free(p);
  fx->walk = walk;
  bool have = berth_safefs_force_walk(walk);
  if (!walk && !have) print_message("openat2 missing on this kernel: both runs use the walk\n");
  *state = fx;
  return fx->box < 0 ? -1 : 0;
}

static int setup_openat2(void **state) { return setup_common(state, false); }
static int setup_walk(void **state) { return setup_common(state, true); }

static int remove_cb(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  return type == FTW_DP ? rmdir(path) : unlink(path);
}

static int teardown(void **state) {
  fixture *fx = *state;
  close(fx->box);
  berth_safefs_force_walk(false);
  int rc = nftw(fx->root, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return rc;
}

/* An inotify watch that reports whether the file was really opened. */
static int watch_open(const fixture *fx, const char *rel) {
  int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  char *p = pathf(fx, rel);
  must(in, "inotify_init1");
  must(inotify_add_watch(in, p, IN_OPEN | IN_ACCESS | IN_MODIFY | IN_DONT_FOLLOW), p);
  free(p);
  return in;
}

static void assert_never_opened(int in, const char *what) {
  char buf[4096];
  ssize_t n = read(in, buf, sizeof(buf));
  close(in);
  if (n > 0) fail_msg("%s was opened", what);
}

static int opens(const fixture *fx, const char *rel, int flags, berth_error *err) {
  int fd = berth_safefs_open(fx->box, rel, flags, err);
  if (fd >= 0) close(fd);
  return fd >= 0 ? 0 : fd;
}

static void regular_files_and_dirs_open(void **state) {
  fixture *fx = *state;
  berth_error err = {0};
  int fd = berth_safefs_open(fx->box, "sub/inner", O_RDONLY, &err);
  if (fd < 0) fail_msg("open: %s", err.msg);
  char buf[16] = {0};
  assert_int_equal(read(fd, buf, sizeof(buf) - 1), 6);
  assert_string_equal(buf, "inner\n");
  close(fd);
  assert_int_equal(opens(fx, "", O_RDONLY | O_DIRECTORY, &err), 0);
  assert_int_equal(opens(fx, ".", O_RDONLY, &err), 0);
  assert_int_equal(opens(fx, "sub//./inner", O_RDONLY, &err), 0);
  assert_int_equal(opens(fx, "sub", O_RDONLY | O_DIRECTORY, &err), 0);
  assert_int_equal(opens(fx, "file", O_WRONLY | O_APPEND, &err), 0);
  assert_int_equal(opens(fx, "file", O_RDONLY | O_DIRECTORY, &err), BERTH_EINVAL);
  assert_int_equal(opens(fx, "sub", O_WRONLY, &err), BERTH_EINVAL);
}

static void symlinks_and_dotdot_refused(void **state) {
  fixture *fx = *state;
  berth_error err = {0};
  assert_int_equal(opens(fx, "out", O_RDONLY, &err), BERTH_ENOENT);
  assert_non_null(strstr(err.msg, "symlink"));
  assert_int_equal(opens(fx, "up/outside/secret", O_RDONLY, &err), BERTH_ENOENT);
  assert_int_equal(opens(fx, "sublink/inner", O_RDONLY, &err), BERTH_ENOENT);
  assert_int_equal(opens(fx, "sublink", O_RDONLY, &err), BERTH_ENOENT);
  assert_int_equal(opens(fx, "../outside/secret", O_RDONLY, &err), BERTH_EINVAL);
  assert_int_equal(opens(fx, "sub/../file", O_RDONLY, &err), BERTH_EINVAL);
  assert_int_equal(opens(fx, "/etc/passwd", O_RDONLY, &err), BERTH_EINVAL);
  assert_int_equal(opens(fx, "missing", O_RDONLY, &err), BERTH_ENOENT);
  assert_int_equal(opens(fx, "file/below", O_RDONLY, &err), BERTH_ENOENT);
}

static void fifo_and_device_never_opened(void **state) {
  fixture *fx = *state;
  berth_error err = {0};
  int in = watch_open(fx, "box/fifo");
  assert_int_equal(opens(fx, "fifo", O_RDONLY, &err), BERTH_EINVAL);
  assert_int_equal(opens(fx, "fifo", O_WRONLY | O_APPEND, &err), BERTH_EINVAL);
  assert_int_equal(berth_safefs_create(fx->box, "fifo", 0644, &err), BERTH_EINVAL);
  assert_never_opened(in, "the FIFO");
  if (!exists(fx, "box/null")) {
    print_message("not root: no device node planted\n");
    return;
  }
  in = watch_open(fx, "box/null");
  assert_int_equal(opens(fx, "null", O_RDONLY, &err), BERTH_EINVAL);
  assert_int_equal(opens(fx, "null", O_WRONLY | O_APPEND, &err), BERTH_EINVAL);
  assert_int_equal(berth_safefs_create(fx->box, "null", 0644, &err), BERTH_EINVAL);
  struct stat st;
  int pfd = berth_safefs_pin(fx->box, "null", &st, &err);
  assert_true(pfd >= 0 && S_ISCHR(st.st_mode));
  close(pfd);
  assert_never_opened(in, "the device node");
}

static void create_refuses_planted_links(void **state) {
  fixture *fx = *state;
  berth_error err = {0};
  assert_int_equal(berth_safefs_create(fx->box, "out", 0644, &err), BERTH_ENOENT);
  assert_int_equal(berth_safefs_create(fx->box, "dangling", 0644, &err), BERTH_ENOENT);
  char *secret = slurp(fx, "outside/secret");
  assert_string_equal(secret, "secret\n");
  free(secret);
  assert_false(exists(fx, "outside/created"));
  /* New and existing regular files: created, then appended to. */
  for (int i = 0; i < 2; i++) {
    int fd = berth_safefs_create(fx->box, "stdout", 0644, &err);
    if (fd < 0) fail_msg("create: %s", err.msg);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
  }
  char *out = slurp(fx, "box/stdout");
  assert_string_equal(out, "xx");
  free(out);
  assert_int_equal(berth_safefs_create(fx->box, "../x", 0644, &err), BERTH_EINVAL);
}

static void mkdirat_refuses_a_link(void **state) {
  fixture *fx = *state;
  berth_error err = {0};
  int fd = berth_safefs_mkdirat(fx->box, "made", 0777, &err);
  if (fd < 0) fail_msg("mkdirat: %s", err.msg);
  struct stat st;
  must(fstat(fd, &st), "fstat");
  assert_int_equal(st.st_mode & 07777, 0777);
  close(fd);
  assert_true(berth_safefs_mkdirat(fx->box, "up", 0777, &err) < 0);
  assert_true(berth_safefs_mkdirat(fx->box, "file", 0777, &err) < 0);
}

/* depth directories of 100-byte names under box/deep (far past PATH_MAX
 * when depth is large), each holding a file, a FIFO and a link outside. */
static void build_deep(const fixture *fx, int depth) {
  char name[101];
  memset(name, 'd', 100);
  name[100] = '\0';
  int fd = openat(fx->box, ".", O_RDONLY | O_DIRECTORY);
  must(mkdirat(fd, "deep", 0755), "mkdir deep");
  int next = openat(fd, "deep", O_RDONLY | O_DIRECTORY);
  close(fd);
  fd = next;
  for (int i = 0; i < depth; i++) {
    must(mkdirat(fd, name, 0755), "mkdir level");
    int f = openat(fd, "f", O_WRONLY | O_CREAT, 0644);
    must(f, "file");
    close(f);
    must(mkfifoat(fd, "p", 0644), "fifo");
    char *target = pathf(fx, "outside/secret");
    must(symlinkat(target, fd, "l"), "link");
    free(target);
    next = openat(fd, name, O_RDONLY | O_DIRECTORY);
    must(next, "open level");
    close(fd);
    fd = next;
  }
  close(fd);
}

static int lowest_free_fd(void) {
  int fd = dup(0);
  close(fd);
  return fd;
}

static void removes_past_path_max_with_few_fds(void **state) {
  fixture *fx = *state;
  build_deep(fx, 400); /* ~40 kB of path */
  int before = lowest_free_fd();
  /* Room for a few more fds than the test holds: one per level would not do. */
  struct rlimit old, low;
  must(getrlimit(RLIMIT_NOFILE, &old), "getrlimit");
  low = old;
  low.rlim_cur = (rlim_t)before + 8;
  must(setrlimit(RLIMIT_NOFILE, &low), "setrlimit");
  berth_error err = {0};
  int rc = berth_safefs_remove_tree(fx->box, "deep", &err);
  setrlimit(RLIMIT_NOFILE, &old);
  if (rc < 0) fail_msg("remove: %s", err.msg);
  assert_false(exists(fx, "box/deep"));
  assert_int_equal(lowest_free_fd(), before);
  char *secret = slurp(fx, "outside/secret");
  assert_string_equal(secret, "secret\n");
  free(secret);
  /* Links are removed, not followed: a whole sandbox with links to outside. */
  assert_int_equal(berth_safefs_remove_tree(fx->box, "up", &err), 0);
  assert_true(exists(fx, "outside/secret"));
  assert_int_equal(berth_safefs_remove_tree(fx->box, "missing", &err), 0);
}

/* Many subdirectories, each with files and one more level: the walk
 * resumes each parent's listing after a climb and misses nothing. */
static void removes_a_wide_tree(void **state) {
  fixture *fx = *state;
  must(mkdirat(fx->box, "wide", 0755), "mkdir wide");
  int wide = openat(fx->box, "wide", O_RDONLY | O_DIRECTORY);
  must(wide, "open wide");
  for (int i = 0; i < 500; i++) {
    char name[32];
    snprintf(name, sizeof(name), "d%d", i);
    must(mkdirat(wide, name, 0755), name);
    int d = openat(wide, name, O_RDONLY | O_DIRECTORY);
    must(d, name);
    must(mkdirat(d, "inner", 0755), "inner");
    close(openat(d, "inner/f", O_WRONLY | O_CREAT, 0644));
    close(openat(d, "f", O_WRONLY | O_CREAT, 0644));
    close(d);
    snprintf(name, sizeof(name), "f%d", i);
    close(openat(wide, name, O_WRONLY | O_CREAT, 0644));
  }
  close(wide);
  berth_error err = {0};
  if (berth_safefs_remove_tree(fx->box, "wide", &err) < 0) fail_msg("remove: %s", err.msg);
  assert_false(exists(fx, "box/wide"));
}

static void removal_stops_at_a_mount_point(void **state) {
  fixture *fx = *state;
  char *p = pathf(fx, "box/sub/mnt");
  must(mkdir(p, 0755), p);
  if (mount("berth-test", p, "tmpfs", 0, "size=64k") < 0) {
    print_message("cannot mount tmpfs (%s): skipped\n", strerror(errno));
    free(p);
    return;
  }
  put(fx, "box/sub/mnt/keep", "mounted\n");
  berth_error err = {0};
  int rc = berth_safefs_remove_tree(fx->box, "sub", &err);
  char *kept = slurp(fx, "box/sub/mnt/keep");
  umount2(p, MNT_DETACH);
  free(p);
  assert_int_equal(rc, BERTH_EIO);
  assert_non_null(strstr(err.msg, "mount point"));
  assert_non_null(kept);
  assert_string_equal(kept, "mounted\n");
  free(kept);
}

#define BOTH(t)                                                               \
  cmocka_unit_test_prestate_setup_teardown(t, setup_openat2, teardown, NULL), \
      cmocka_unit_test_prestate_setup_teardown(t, setup_walk, teardown, NULL)

int main(void) {
  const struct CMUnitTest tests[] = {
      BOTH(regular_files_and_dirs_open),
      BOTH(symlinks_and_dotdot_refused),
      BOTH(fifo_and_device_never_opened),
      BOTH(create_refuses_planted_links),
      BOTH(mkdirat_refuses_a_link),
      cmocka_unit_test_setup_teardown(removes_past_path_max_with_few_fds, setup_openat2, teardown),
      cmocka_unit_test_setup_teardown(removes_a_wide_tree, setup_openat2, teardown),
      cmocka_unit_test_setup_teardown(removal_stops_at_a_mount_point, setup_openat2, teardown),
  };
  return cmocka_run_group_tests_name("safefs", tests, NULL, NULL);
}
