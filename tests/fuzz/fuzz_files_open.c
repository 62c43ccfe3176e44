/* Fuzz target: the files API's path handling (berth_files_open).
 *
 * A temp work dir holds two sandboxes and what a task could plant in its
 * own: symlinks to /etc/passwd, to /etc, to the sandbox's parent, to the
 * other sandbox, a loop, an absolute link back inside, and a FIFO.
 * Whatever the path, an opened one must be a read-only descriptor of a
 * regular file or directory inside the sandbox named by the path's id
 * (README "Security": the files API never serves a file outside the
 * sandbox and never opens a FIFO or device), and opening must not block
 * (libFuzzer's -timeout catches a hang on the FIFO); a refusal is EINVAL or
 * ENOENT and leaves no descriptor open.  Every other input goes through the
 * O_NOFOLLOW walk instead of openat2, so both resolvers are fuzzed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "containerizer/spec.h"
#include "util/safefs.h"
#include "fuzz_util.h"

static char work[PATH_MAX];
static char real_sandboxes[PATH_MAX];

static void path_of(char *out, const char *rel) { snprintf(out, PATH_MAX, "%s/%s", work, rel); }

static void make_dir(const char *rel) {
  char p[PATH_MAX];
  path_of(p, rel);
  if (mkdir(p, 0755) < 0) abort();
}

static void make_file(const char *rel, const char *text) {
  char p[PATH_MAX];
  path_of(p, rel);
  FILE *f = fopen(p, "w");
  if (!f) abort();
  fputs(text, f);
  fclose(f);
}

static void make_link(const char *target, const char *rel) {
  char p[PATH_MAX];
  path_of(p, rel);
  if (symlink(target, p) < 0) abort();
}

static void remove_work(void) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", work);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *tmp = getenv("TMPDIR");
  snprintf(work, sizeof(work), "%s/berth-fz-files-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(work)) abort();
  atexit(remove_work);
  make_dir("sandboxes");
  make_dir("sandboxes/web-1");
  make_dir("sandboxes/web-1/sub");
  make_dir("sandboxes/web");
  make_file("sandboxes/web-1/stdout", "hello\n");
  make_file("sandboxes/web-1/sub/file", "sub\n");
  make_file("sandboxes/web/stdout", "other\n");
  make_file("secret", "secret\n");
  make_link("stdout", "sandboxes/web-1/ok");
  make_link("/etc/passwd", "sandboxes/web-1/evil");
  make_link("/etc", "sandboxes/web-1/etc");
  make_link("..", "sandboxes/web-1/up");
  make_link("../../secret", "sandboxes/web-1/secret");
  make_link("../web/stdout", "sandboxes/web-1/sibling");
  make_link("loop", "sandboxes/web-1/loop");
  char abs_in[PATH_MAX];
  path_of(abs_in, "sandboxes/web-1/sub/file");
  make_link(abs_in, "sandboxes/web-1/abs-in");
  make_link("sub", "sandboxes/web-1/sub-link");
  char p[PATH_MAX];
  path_of(p, "sandboxes/web-1/pipe");
  if (mkfifo(p, 0644) < 0) abort();
  path_of(p, "sandboxes");
  if (!realpath(p, real_sandboxes)) abort();
  return 0;
}

/* The lowest free descriptor: the same before and after means none leaked. */
static int lowest_free_fd(void) {
  int fd = dup(0);
  if (fd < 0) abort();
  close(fd);
  return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 2 * PATH_MAX) return 0;
  char *path = fz_cstr(data, size);
  int before = lowest_free_fd();
  int fd = -1;
  berth_error err = {0};
  berth_safefs_force_walk(size % 2 == 1);
  if (berth_files_open(work, path, &fd, &err) == 0) {
    FZ_CHECK(fd >= 0, "'%s' opened with fd %d", path, fd);
    FZ_CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY, "'%s' opened writable", path);
    /* The id is what follows "/sandboxes/" up to the next '/'. */
    const char *id = path + strlen("/sandboxes/");
    size_t id_len = strcspn(id, "/");
    char want[PATH_MAX * 2];
    snprintf(want, sizeof(want), "%s/%.*s", real_sandboxes, (int)id_len, id);
    char proc[64], opened[PATH_MAX];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, opened, sizeof(opened) - 1);
    FZ_CHECK(n > 0, "readlink %s: %s", proc, strerror(errno));
    opened[n] = '\0';
    size_t w = strlen(want);
    FZ_CHECK(!strncmp(opened, want, w) && (opened[w] == '\0' || opened[w] == '/'), "'%s' opened '%s', outside '%s'",
             path, opened, want);
    struct stat st;
    FZ_CHECK(fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)), "'%s' opened something odd", path);
    close(fd);
  } else {
    FZ_CHECK((err.code == BERTH_EINVAL || err.code == BERTH_ENOENT) && err.msg[0], "refusal code %d: %s", err.code,
             err.msg);
  }
  FZ_CHECK(lowest_free_fd() == before, "'%s' left a descriptor open", path);
  free(path);
  return 0;
}
