/* Unit tests for api/files: berth_files_open keeps every files-API path
 * inside its sandbox and follows no symlink. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "testutil.h"

#include "api/api.h"

typedef struct fixture {
  char work[PATH_MAX];
} fixture;

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) fail_msg("create %s: %s", path, strerror(errno));
  fputs(text, f);
  fclose(f);
}

static void must(int rc, const char *what) {
  if (rc != 0) fail_msg("%s: %s", what, strerror(errno));
}

static char *pathf(const fixture *fx, const char *rel) {
  char *p = NULL;
  if (asprintf(&p, "%s/%s", fx->work, rel) < 0) fail();
  return p;
}

static void put(const fixture *fx, const char *rel, const char *text) {
  char *p = pathf(fx, rel);
  write_file(p, text);
  free(p);
}

/* A symlink at rel pointing to target, as a task could plant one. */
static void plant(const fixture *fx, const char *target, const char *rel) {
  char *p = pathf(fx, rel);
  must(symlink(target, p), p);
  free(p);
}

/* <work>/sandboxes/{web-1,web}/..., <work>/secret, and links planted by a
 * task. */
static int setup(void **state) {
  fixture *fx = calloc(1, sizeof(*fx));
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->work, sizeof(fx->work), "%s/berth-files-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(fx->work)) return -1;
  static const char *const dirs[] = {"sandboxes", "sandboxes/web-1", "sandboxes/web-1/sub", "sandboxes/web", NULL};
  for (const char *const *d = dirs; *d; d++) {
    char *p = pathf(fx, *d);
    must(mkdir(p, 0755), p);
    free(p);
  }
  put(fx, "sandboxes/web-1/stdout", "hello\n");
  put(fx, "sandboxes/web-1/sub/file", "x");
  put(fx, "sandboxes/web/stdout", "other\n");
  put(fx, "secret", "secret\n");
  plant(fx, "../../secret", "sandboxes/web-1/escape");
  plant(fx, "/etc/passwd", "sandboxes/web-1/passwd");
  plant(fx, "..", "sandboxes/web-1/up");
  plant(fx, "sub/file", "sandboxes/web-1/inside");
  /* A neighbour whose name starts with this sandbox's name. */
  plant(fx, "../web-1/stdout", "sandboxes/web/neighbour");
  *state = fx;
  return 0;
}

static int remove_cb(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  return type == FTW_DP ? rmdir(path) : unlink(path);
}

static int teardown(void **state) {
  fixture *fx = *state;
  int rc = nftw(fx->work, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return rc;
}

/* The opened fd is the very file (device and inode) at rel_want. */
static void resolves_to(const fixture *fx, const char *path, const char *rel_want) {
  int fd = -1;
  berth_error err = {0};
  int rc = berth_files_open(fx->work, path, &fd, &err);
  if (rc != 0) fail_msg("'%s' refused: %s", path, err.msg);
  char *want_path = pathf(fx, rel_want);
  struct stat got, want;
  must(fstat(fd, &got), "fstat");
  must(lstat(want_path, &want), want_path);
  assert_int_equal(got.st_ino, want.st_ino);
  assert_int_equal(got.st_dev, want.st_dev);
  free(want_path);
  close(fd);
}

static void refused(const fixture *fx, const char *path, int code) {
  int fd = -1;
  berth_error err = {0};
  int rc = berth_files_open(fx->work, path, &fd, &err);
  if (rc == 0) {
    close(fd);
    fail_msg("'%s' was opened", path ? path : "(null)");
  }
  if (rc != code) fail_msg("'%s': code %d (%s), want %d", path ? path : "(null)", rc, err.msg, code);
  assert_int_equal(err.code, code);
  assert_int_equal(fd, -1);
  int status = berth_code_http_status(rc);
  assert_true(status == 400 || status == 404);
}

static void normal_file_resolves(void **state) {
  fixture *fx = *state;
  resolves_to(fx, "/sandboxes/web-1/stdout", "sandboxes/web-1/stdout");
  resolves_to(fx, "/sandboxes/web-1/sub/file", "sandboxes/web-1/sub/file");
  resolves_to(fx, "/sandboxes/web-1/./stdout", "sandboxes/web-1/stdout");
  resolves_to(fx, "/sandboxes/web-1//stdout", "sandboxes/web-1/stdout");
  resolves_to(fx, "/sandboxes/web/stdout", "sandboxes/web/stdout");
}

static void sandbox_itself_resolves(void **state) {
  fixture *fx = *state;
  resolves_to(fx, "/sandboxes/web-1", "sandboxes/web-1");
  resolves_to(fx, "/sandboxes/web-1/", "sandboxes/web-1");
  resolves_to(fx, "/sandboxes/web-1/sub", "sandboxes/web-1/sub");
}

static void symlink_inside_sandbox_is_not_followed(void **state) {
  fixture *fx = *state;
  /* Even one that stays inside: the task could swap its target later. */
  refused(fx, "/sandboxes/web-1/inside", BERTH_ENOENT);
}

/* A FIFO or device node a task planted is refused, not opened (which could
 * block, or act on a device): test-safefs checks no open happened. */
static void fifo_and_device_refused(void **state) {
  fixture *fx = *state;
  char *p = pathf(fx, "sandboxes/web-1/pipe");
  must(mkfifo(p, 0644), p);
  free(p);
  refused(fx, "/sandboxes/web-1/pipe", BERTH_EINVAL);
  p = pathf(fx, "sandboxes/web-1/null");
  int made = mknod(p, S_IFCHR | 0666, makedev(1, 3));
  free(p);
  if (made == 0) refused(fx, "/sandboxes/web-1/null", BERTH_EINVAL);
}

static void dotdot_refused(void **state) {
  fixture *fx = *state;
  refused(fx, "/sandboxes/web-1/..", BERTH_EINVAL);
  refused(fx, "/sandboxes/web-1/../web/stdout", BERTH_EINVAL);
  refused(fx, "/sandboxes/web-1/sub/../../../secret", BERTH_EINVAL);
  refused(fx, "/sandboxes/web-1/sub/../stdout", BERTH_EINVAL);
  refused(fx, "/sandboxes/../secret", BERTH_EINVAL);
  refused(fx, "/sandboxes/..", BERTH_EINVAL);
}

static void bad_id_refused(void **state) {
  fixture *fx = *state;
  refused(fx, "/sandboxes/", BERTH_EINVAL);
  refused(fx, "/sandboxes//stdout", BERTH_EINVAL);
  refused(fx, "/sandboxes/.hidden/stdout", BERTH_EINVAL);
  refused(fx, "/sandboxes/a b/stdout", BERTH_EINVAL);
  refused(fx, "/sandboxes/-x/stdout", BERTH_EINVAL);
  char long_id[128] = "/sandboxes/";
  memset(long_id + 11, 'x', 65);
  long_id[11 + 65] = '\0';
  refused(fx, long_id, BERTH_EINVAL);
}

static void path_outside_sandboxes_refused(void **state) {
  fixture *fx = *state;
  refused(fx, NULL, BERTH_EINVAL);
  refused(fx, "", BERTH_EINVAL);
  refused(fx, "/secret", BERTH_EINVAL);
  refused(fx, "sandboxes/web-1/stdout", BERTH_EINVAL);
  refused(fx, "/sandboxesweb-1/stdout", BERTH_EINVAL);
  refused(fx, "/etc/passwd", BERTH_EINVAL);
}

static void symlink_out_of_sandbox_refused(void **state) {
  fixture *fx = *state;
  refused(fx, "/sandboxes/web-1/escape", BERTH_ENOENT);
  refused(fx, "/sandboxes/web-1/passwd", BERTH_ENOENT);
  refused(fx, "/sandboxes/web-1/up", BERTH_ENOENT);
  refused(fx, "/sandboxes/web-1/up/web/stdout", BERTH_ENOENT);
  refused(fx, "/sandboxes/web-1/up/../secret", BERTH_EINVAL);
  refused(fx, "/sandboxes/web-1/up/web-1/stdout", BERTH_ENOENT);
}

static void symlink_into_neighbour_with_shared_prefix_refused(void **state) {
  fixture *fx = *state;
  /* <work>/sandboxes/web-1 starts with <work>/sandboxes/web. */
  refused(fx, "/sandboxes/web/neighbour", BERTH_ENOENT);
}

static void missing_file_is_not_found(void **state) {
  fixture *fx = *state;
  refused(fx, "/sandboxes/web-1/missing", BERTH_ENOENT);
  refused(fx, "/sandboxes/web-1/sub/missing/deeper", BERTH_ENOENT);
  refused(fx, "/sandboxes/nosuch/stdout", BERTH_ENOENT);
  refused(fx, "/sandboxes/nosuch", BERTH_ENOENT);
  assert_int_equal(berth_code_http_status(BERTH_ENOENT), 404);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(normal_file_resolves, setup, teardown),
      cmocka_unit_test_setup_teardown(sandbox_itself_resolves, setup, teardown),
      cmocka_unit_test_setup_teardown(symlink_inside_sandbox_is_not_followed, setup, teardown),
      cmocka_unit_test_setup_teardown(fifo_and_device_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(dotdot_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(bad_id_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(path_outside_sandboxes_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(symlink_out_of_sandbox_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(symlink_into_neighbour_with_shared_prefix_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(missing_file_is_not_found, setup, teardown),
  };
  return cmocka_run_group_tests_name("files", tests, NULL, NULL);
}
