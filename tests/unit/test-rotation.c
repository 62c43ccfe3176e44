/* Unit tests for containerizer/rotation: numbered lines written in uneven
 * chunks come out, across name.N .. name.1 and the live file, as exactly
 * one contiguous tail of the output, each rotated file max_size bytes; a
 * rotation cut by a crash at any step is finished by recovery with no
 * byte lost or repeated; a planted symlink is renamed, never followed. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "containerizer/rotation.h"
#include "util/safefs.h"

typedef struct fixture {
  char root[PATH_MAX];
  int dirfd;
  int persists;
  /* what the "store" holds */
  uint64_t stored_rotated, stored_ino;
} fixture;

static int open_dir_cb(void *data, berth_error *err) {
  fixture *fx = data;
  int fd = open(fx->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return berth_error_errno(err, errno, "open '%s'", fx->root);
  return fd;
}

static void persist_cb(berth_outlog *log, void *data) {
  fixture *fx = data;
  fx->persists++;
  fx->stored_rotated = log->rotated;
  fx->stored_ino = log->ino;
}

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof(*fx));
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->root, sizeof(fx->root), "%s/berth-rot-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(fx->root)) return -1;
  fx->dirfd = open(fx->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  *state = fx;
  return fx->dirfd < 0 ? -1 : 0;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) { return remove(path); }

static int teardown(void **state) {
  fixture *fx = *state;
  close(fx->dirfd);
  nftw(fx->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

/* The file's bytes (malloc'd), or NULL when absent. */
static char *slurp(fixture *fx, const char *name, size_t *len) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/%s", fx->root, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t cap = 0;
  *len = 0;
  for (;;) {
    if (*len + 65536 > cap) buf = realloc(buf, cap = cap * 2 + 65536);
    size_t n = fread(buf + *len, 1, 65536, f);
    if (n == 0) break;
    *len += n;
  }
  fclose(f);
  return buf;
}

/* name.N .. name.1, name, concatenated; sizes of the rotated ones in sizes. */
static char *concat(fixture *fx, const char *name, unsigned n, size_t *len, size_t *sizes) {
  char *all = NULL;
  *len = 0;
  for (unsigned i = n + 1; i-- > 0;) {
    char file[64];
    if (i == 0)
      snprintf(file, sizeof(file), "%s", name);
    else
      snprintf(file, sizeof(file), "%s.%u", name, i);
    size_t l = 0;
    char *b = slurp(fx, file, &l);
    if (i > 0) sizes[i - 1] = b ? l : (size_t)-1;
    all = realloc(all, *len + l + 1);
    if (b) memcpy(all + *len, b, l);
    *len += l;
    free(b);
  }
  return all;
}

static char *numbered(size_t lines, size_t *len) {
  char *out = malloc(lines * 16 + 1);
  *len = 0;
  for (size_t i = 0; i < lines; i++) *len += (size_t)sprintf(out + *len, "line %010zu\n", i);
  return out;
}

static berth_outlog open_log(fixture *fx) {
  berth_error err = {0};
  berth_outlog log = {.name = "stdout", .fd = -1};
  if (berth_outlog_recover(&log, fx->dirfd, NULL, &err) < 0) fail_msg("%s", err.msg);
  return log;
}

static void rotated_files_are_one_contiguous_tail(void **state) {
  fixture *fx = *state;
  berth_rotation_policy p = {.max_size = 100000, .max_files = 3};
  berth_outlog_hooks hooks = {open_dir_cb, persist_cb, fx};
  berth_outlog log = open_log(fx);
  size_t total;
  char *out = numbered(70000, &total); /* ~1 MB */
  size_t off = 0, step = 1;
  berth_error err = {0};
  while (off < total) {
    size_t n = step < total - off ? step : total - off;
    assert_int_equal(berth_outlog_write(&log, &p, out + off, n, &hooks, &err), 0);
    assert_int_equal(err.code, 0);
    off += n;
    step = step * 7 % 40009 + 1; /* uneven chunks, some over max_size */
  }
  assert_int_equal(log.rotated + log.size, total);
  size_t len, sizes[3];
  char *got = concat(fx, "stdout", 3, &len, sizes);
  for (int i = 0; i < 3; i++) assert_int_equal(sizes[i], 100000);
  assert_true(len <= total);
  assert_int_equal(len, 300000 + log.size);
  assert_memory_equal(got, out + total - len, len);
  /* nothing beyond N */
  size_t l;
  assert_null(slurp(fx, "stdout.4", &l));
  assert_int_equal(fx->stored_rotated, log.rotated);
  free(got);
  free(out);
  close(log.fd);
}

static void no_policy_never_rotates(void **state) {
  fixture *fx = *state;
  berth_rotation_policy p = {0};
  berth_outlog log = open_log(fx);
  berth_error err = {0};
  size_t total;
  char *out = numbered(10000, &total);
  assert_int_equal(berth_outlog_write(&log, &p, out, total, NULL, &err), 0);
  size_t l;
  char *live = slurp(fx, "stdout", &l);
  assert_int_equal(l, total);
  assert_null(slurp(fx, "stdout.1", &l));
  free(live);
  free(out);
  close(log.fd);
}

/* A crash after the record was stored, before any rename (or between
 * two renames): recovery finishes the shift; the files then hold every
 * byte once. */
static void crash_inside_rotation_is_finished_at_recovery(void **state) {
  fixture *fx = *state;
  berth_rotation_policy p = {.max_size = 1000, .max_files = 3};
  berth_outlog_hooks hooks = {open_dir_cb, persist_cb, fx};
  berth_outlog log = open_log(fx);
  size_t total;
  char *out = numbered(400, &total); /* 6400 bytes: 6 rotations, 400 live */
  berth_error err = {0};
  assert_int_equal(berth_outlog_write(&log, &p, out, 6000, &hooks, &err), 0);
  assert_int_equal(log.size, 1000);
  /* The next write rotates: imitate a crash right after the persist by
   * storing what rotate stores and doing only the first rename of the
   * chain (stdout.2 -> stdout.3). */
  struct stat st;
  assert_int_equal(fstat(log.fd, &st), 0);
  fx->stored_rotated = log.rotated + log.size;
  fx->stored_ino = (uint64_t)st.st_ino;
  assert_int_equal(renameat(fx->dirfd, "stdout.2", fx->dirfd, "stdout.3"), 0);
  close(log.fd);
  /* Restart: only the stored numbers survive. */
  berth_outlog again = {.name = "stdout", .fd = -1, .rotated = fx->stored_rotated, .ino = fx->stored_ino};
  if (berth_outlog_recover(&again, fx->dirfd, &p, &err) < 0) fail_msg("recover: %s", err.msg);
  assert_int_equal(again.size, 0);
  assert_int_equal(again.rotated + again.size, 6000);
  if (berth_outlog_write(&again, &p, out + 6000, total - 6000, &hooks, &err) < 0) fail_msg("write: %s", err.msg);
  size_t len, sizes[3];
  char *got = concat(fx, "stdout", 3, &len, sizes);
  assert_int_equal(len, 3400);
  assert_memory_equal(got, out + total - len, len);
  free(got);
  free(out);
  close(again.fd);
}

/* A crash after the rotation was done but before anything more: the
 * stored inode is stdout.1's, the live file is new; nothing is redone. */
static void recovery_after_finished_rotation_changes_nothing(void **state) {
  fixture *fx = *state;
  berth_rotation_policy p = {.max_size = 1000, .max_files = 2};
  berth_outlog_hooks hooks = {open_dir_cb, persist_cb, fx};
  berth_outlog log = open_log(fx);
  size_t total;
  char *out = numbered(200, &total); /* 3200 */
  berth_error err = {0};
  assert_int_equal(berth_outlog_write(&log, &p, out, 2500, &hooks, &err), 0);
  close(log.fd);
  berth_outlog again = {.name = "stdout", .fd = -1, .rotated = fx->stored_rotated, .ino = fx->stored_ino};
  assert_int_equal(berth_outlog_recover(&again, fx->dirfd, &p, &err), 0);
  assert_int_equal(again.rotated + again.size, 2500);
  assert_int_equal(berth_outlog_write(&again, &p, out + 2500, total - 2500, &hooks, &err), 0);
  size_t len, sizes[2];
  char *got = concat(fx, "stdout", 2, &len, sizes);
  assert_int_equal(len, 2000 + again.size);
  assert_memory_equal(got, out + total - len, len);
  free(got);
  free(out);
  close(again.fd);
}

/* The task replaced stdout.1 with a symlink to a file outside: the
 * rotation renames the link itself (renameat follows nothing) and the
 * outside file is never written. */
static void planted_symlink_is_renamed_not_followed(void **state) {
  fixture *fx = *state;
  char outside[PATH_MAX + 16];
  snprintf(outside, sizeof(outside), "%s.outside", fx->root);
  FILE *f = fopen(outside, "w");
  fputs("keep", f);
  fclose(f);
  assert_int_equal(symlinkat(outside, fx->dirfd, "stdout.1"), 0);
  berth_rotation_policy p = {.max_size = 10, .max_files = 2};
  berth_outlog_hooks hooks = {open_dir_cb, persist_cb, fx};
  berth_outlog log = open_log(fx);
  berth_error err = {0};
  assert_int_equal(berth_outlog_write(&log, &p, "0123456789abcdefghij", 20, &hooks, &err), 0);
  struct stat st;
  assert_int_equal(fstatat(fx->dirfd, "stdout.2", &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_true(S_ISLNK(st.st_mode));
  size_t l;
  char *o = slurp(fx,
                  "../"
                  "x",
                  &l); /* nothing */
  free(o);
  f = fopen(outside, "r");
  char buf[16] = {0};
  assert_non_null(fgets(buf, sizeof(buf), f));
  fclose(f);
  assert_string_equal(buf, "keep");
  unlink(outside);
  char *one = slurp(fx, "stdout.1", &l);
  assert_int_equal(l, 10);
  assert_memory_equal(one, "0123456789", 10);
  free(one);
  close(log.fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(rotated_files_are_one_contiguous_tail, setup, teardown),
      cmocka_unit_test_setup_teardown(no_policy_never_rotates, setup, teardown),
      cmocka_unit_test_setup_teardown(crash_inside_rotation_is_finished_at_recovery, setup, teardown),
      cmocka_unit_test_setup_teardown(recovery_after_finished_rotation_changes_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(planted_symlink_is_renamed_not_followed, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
