/* Shared by the containerizer and recovery loop tests: a containerizer
 * wired as daemon.c wires it (a real store in a temp work dir, a docker
 * client on the fake dockerd's socket), and helpers to wait on it.
 * Header-only, everything static. */
#ifndef BERTH_TESTS_UNIT_CZENV_H
#define BERTH_TESTS_UNIT_CZENV_H

#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "testutil.h"

#include "containerizer/config.h"
#include "containerizer/containerizer.h"
#include "containerizer/sandbox.h"
#include "docker/client.h"
#include "fakedocker.h"
#include "gpu/gpu.h"
#include "store/store.h"

#define MAX_MS 10000
#define AGENT "agent1"

typedef struct czenv {
  uv_loop_t loop;
  fake_docker *fake;
  berth_docker *docker;
  berth_store *store;
  berth_gpu_pool gpus;
  berth_containerizer *cz;
  berth_cz_config config;
  char work_dir[64];
} czenv;

/* What a launch, wait or remove reported. */
typedef struct outcome {
  int calls;
  int rc;
  char msg[BERTH_ERROR_MSG_MAX];
  json_t *termination;
} outcome;

static inline void cz_done_cb(int rc, const berth_error *err, void *data) {
  outcome *o = data;
  o->calls++;
  o->rc = rc;
  if (err) snprintf(o->msg, sizeof(o->msg), "%s", err->msg);
}

static inline void cz_wait_cb(json_t *termination, void *data) {
  outcome *o = data;
  o->calls++;
  json_decref(o->termination);
  o->termination = json_deep_copy(termination);
}

static inline bool outcome_called(void *data) { return ((outcome *)data)->calls > 0; }

static inline void outcome_clear(outcome *o) {
  json_decref(o->termination);
  memset(o, 0, sizeof(*o));
}

/* Opens the store and a docker client; the containerizer is made by
 * czenv_start so that a test may fill the store first. */
static inline czenv *czenv_new(void) {
  czenv *e = calloc(1, sizeof(*e));
  assert_int_equal(uv_loop_init(&e->loop), 0);
  e->fake = fake_docker_new();
  snprintf(e->work_dir, sizeof(e->work_dir), "/tmp/berth-cz-XXXXXX");
  assert_non_null(mkdtemp(e->work_dir));
  static const char *subdirs[] = {"meta", "sandboxes", "volumes", "docker/links"};
  berth_error err = {0};
  for (size_t i = 0; i < 4; i++) {
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", e->work_dir, subdirs[i]);
    if (berth_mkdir_p(path, &err) < 0) fail_msg("%s", err.msg);
  }
  char db[128];
  snprintf(db, sizeof(db), "%s/meta/berth.db", e->work_dir);
  if (berth_store_open(db, &e->store, &err) < 0) fail_msg("%s", err.msg);
  if (berth_gpu_pool_init(&e->gpus, NULL, NULL, &err) < 0) fail_msg("%s", err.msg);
  e->docker = berth_docker_new(&e->loop, fake_docker_socket(e->fake));
  e->config = (berth_cz_config){
      .work_dir = e->work_dir,
      .runtime_dir = e->work_dir, /* no ':' in it, so no link is ever made */
      .agent_id = AGENT,
      .sandbox_directory = "/mnt/mesos/sandbox",
      .docker_kill_orphans = true,
      .docker_stop_timeout_ns = 0,
      .docker_remove_delay_ns = 0,
      /* No cgroup of the host is read: usage is looked up under these. */
      .proc_root = "/nonexistent/proc",
      .cgroup_root = "/nonexistent/cgroup",
      .gpus = &e->gpus,
  };
  return e;
}

static inline void czenv_start(czenv *e) { e->cz = berth_cz_new(&e->loop, e->docker, e->store, &e->config); }

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

/* Frees everything in the order daemon.c does, and asserts that the loop
 * closes with no handle left. */
static inline void czenv_free(czenv *e) {
  berth_cz_free(e->cz);
  berth_docker_free(e->docker);
  fake_loop_finish(&e->loop);
  fake_docker_free(e->fake);
  berth_store_close(e->store);
  berth_gpu_pool_free(&e->gpus);
  nftw(e->work_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(e);
}

/* The container's entry in GET_CONTAINERS (new reference), or NULL. */
static inline json_t *czenv_entry(czenv *e, const char *id) {
  json_t *list = berth_cz_containers(e->cz);
  json_t *found = NULL;
  size_t i;
  json_t *c;
  json_array_foreach(list, i, c) {
    const char *cid = json_string_value(json_object_get(json_object_get(c, "container_id"), "value"));
    if (cid && !strcmp(cid, id)) found = json_incref(c);
  }
  json_decref(list);
  return found;
}

/* The stage of a container, "" when unknown; copied to a static buffer. */
static inline const char *czenv_stage(czenv *e, const char *id) {
  static char stage[32];
  json_t *entry = czenv_entry(e, id);
  snprintf(stage, sizeof(stage), "%s", entry ? json_string_value(json_object_get(entry, "stage")) : "");
  json_decref(entry);
  return stage;
}

typedef struct arrival {
  czenv *e;
  const char *method, *pattern;
  size_t n;
} arrival;

static inline bool arrived(void *data) {
  arrival *a = data;
  return fake_docker_count(a->e->fake, a->method, a->pattern) >= a->n;
}

/* Runs the loop until the fake has received n requests to method+pattern. */
static inline void czenv_wait_requests(czenv *e, const char *method, const char *pattern, size_t n) {
  arrival a = {e, method, pattern, n};
  fake_run_until(&e->loop, arrived, &a, MAX_MS);
}

static inline void czenv_run(czenv *e, outcome *o) { fake_run_until(&e->loop, outcome_called, o, MAX_MS); }

/* The content of a file in the container's sandbox ("" if absent). */
static inline char *czenv_sandbox_file(czenv *e, const char *id, const char *name) {
  char path[256];
  snprintf(path, sizeof(path), "%s/sandboxes/%s/%s", e->work_dir, id, name);
  char *buf = calloc(1, 65536);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, buf, 65535);
    if (n > 0) buf[n] = '\0';
    close(fd);
  }
  return buf;
}

#endif
