/* berthd out of file descriptors: the docker client says so, instead of
 * reporting dockerd unreachable (what /health then shows). */
#include "testutil.h"

#include <dirent.h>
#include <unistd.h>
#include <stdlib.h>
#include <fcntl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "docker/client.h"

typedef struct result {
  bool done;
  int code;
  char msg[BERTH_ERROR_MSG_MAX];
} result;

static void done_cb(int status, const char *body, size_t len, const berth_error *err, void *data) {
  result *r = data;
  r->done = true;
  r->code = err ? err->code : 0;
  snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "");
}

static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
  closedir(d);
  return n - 1; /* the DIR's own */
}

static void run(const char *socket_path, bool starve, result *r) {
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  berth_docker *docker = berth_docker_new(&loop, socket_path);
  struct rlimit old;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
  int *held = NULL;
  size_t n_held = 0;
  if (starve) {
    /* Every fd number below the limit is taken: the next socket() is EMFILE.
     * The limit is lowered first so that few are needed, then what is left
     * is filled: under valgrind, which keeps fds of its own, the lowered
     * limit alone does not make socket() fail. */
    struct rlimit low = {.rlim_cur = (rlim_t)open_fds() + 8, .rlim_max = old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    size_t cap = 64;
    held = malloc(cap * sizeof(*held));
    for (int fd; (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) {
      if (n_held == cap) held = realloc(held, (cap *= 2) * sizeof(*held));
      held[n_held++] = fd;
    }
    assert_int_equal(errno, EMFILE);
  }
  berth_docker_request(docker, "GET", "/_ping", NULL, 5000, 1, NULL, done_cb, r);
  while (!r->done) uv_run(&loop, UV_RUN_ONCE);
  for (size_t i = 0; i < n_held; i++) close(held[i]);
  free(held);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
  berth_docker_free(docker);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void emfile_is_reported_as_out_of_fds(void **state) {
  (void)state;
  result r = {0};
  run("/nonexistent/docker.sock", true, &r);
  assert_int_not_equal(r.code, 0);
  if (!strstr(r.msg, "out of file descriptors")) fail_msg("EMFILE reported as: %s", r.msg);
}

static void absent_dockerd_is_not_reported_as_out_of_fds(void **state) {
  (void)state;
  result r = {0};
  run("/nonexistent/docker.sock", false, &r);
  assert_int_equal(r.code, BERTH_EUNAVAIL);
  if (strstr(r.msg, "file descriptors")) fail_msg("ENOENT reported as: %s", r.msg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(emfile_is_reported_as_out_of_fds),
      cmocka_unit_test(absent_dockerd_is_not_reported_as_out_of_fds),
  };
  return cmocka_run_group_tests_name("server-fds", tests, NULL, NULL);
}
