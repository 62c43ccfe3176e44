/* Internal to the containerizer module: the container record and the
 * containerizer itself.  Not for other modules. */
#ifndef BERTH_CONTAINERIZER_CONTAINER_H
#define BERTH_CONTAINERIZER_CONTAINER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "containerizer/containerizer.h"
#include "containerizer/spec.h"
#include "docker/client.h"

typedef enum {
  BERTH_STAGE_FETCHING,
  BERTH_STAGE_PULLING,
  BERTH_STAGE_MOUNTING,
  BERTH_STAGE_RUNNING,
  BERTH_STAGE_DESTROYING,
  BERTH_STAGE_TERMINATED,
} berth_stage;

#define BERTH_STAGE_COUNT 6

const char *berth_stage_name(berth_stage stage);

typedef struct waiter {
  berth_cz_wait_cb cb;
  void *data;
  bool kill_on_disconnect; /* its client going away destroys the container */
  struct waiter *next;
} waiter;

typedef struct container {
  berth_containerizer *cz;
  char id[BERTH_ID_MAX + 1];
  char *docker_name;
  char *docker_id;
  char *bind_path; /* what the sandbox mount uses (the sandbox or its link) */
  json_t *launch;  /* as received: what the store keeps */
  berth_launch_spec spec;
  berth_stage stage;
  double created_at, finished_at;
  json_t *termination;
  bool docker_created; /* a docker container may exist under docker_name */
  bool destroy_requested;
  bool removing;
  bool started; /* the start request was sent */
  bool updating;
  bool recovering; /* restored from the store, not yet reconciled */

  berth_cz_done_cb launch_cb;
  void *launch_data;
  berth_cz_done_cb remove_cb;
  void *remove_data;
  waiter *waiters;

  /* Docker requests in flight; each pointer is cleared by its callback. */
  berth_docker_req *op; /* the launch stage's call, or the removal */
  berth_docker_req *wait_req, *logs_req, *inspect_req, *kill_req;
  berth_docker_req *status_req; /* inspect for pid and address */
  uint64_t pull_started_ms;

  /* Output capture: fds indexed by docker stream (1 stdout, 2 stderr). */
  int out_fd[3];
  uint64_t written[3];
  uint64_t skip[3];
  uint64_t drain_mark; /* bytes written at the last drain check */
  double follow_opened_at;
  bool live_attach; /* output comes from an attach made before start */
  bool attach_eof_clean;
  double attach_ended_at;
  bool final_read_needed, final_read_done;
  bool exited, exit_inspected, logs_ended;
  int exit_code;
  bool oom_killed;
  double mem_limit_mb;
  int pid;
  char *ip;
  json_t *network_infos; /* Mesos NetworkInfo list from docker's inspect; NULL until read */
  int gpus[BERTH_GPU_MAX]; /* allocated minors, freed when TERMINATED */
  size_t n_gpus;

  uv_timer_t timer;      /* watcher re-arm, log drain, remove delay */
  uv_timer_t kill_timer; /* grace period */
  int open_handles;
  struct container *next, *prev;
} container;

#define BERTH_PULL_SAMPLES 256

typedef struct berth_cz_metrics_data {
  uint64_t launches, launch_failures, destroys, ooms;
  uint64_t pulls;
  double pull_ms[BERTH_PULL_SAMPLES]; /* ring of the latest pulls */
} berth_cz_metrics_data;

struct berth_containerizer {
  uv_loop_t *loop;
  berth_docker *docker;
  berth_store *store;
  berth_cz_config config;
  container *containers;
  size_t count;
  /* recovery (recovery.c) */
  berth_cz_done_cb recovered_cb;
  void *recovered_data;
  uv_timer_t recover_timer;
  uint64_t recover_backoff_ms;
  berth_docker_req *recover_req;
  berth_cz_metrics_data metrics;
  size_t pending_work; /* sandbox removals on the thread pool */
  bool closing, timer_closed;
  bool stopping; /* berthd is shutting down: its own hang-ups destroy nothing */
};

void berth_cz_metrics_pull(berth_containerizer *cz, double ms);

/* Shared by the launch path and recovery (containerizer.c). */
container *cz_container_new(berth_containerizer *cz, berth_launch_spec *spec, json_t *launch);
void cz_persist(container *c);
void cz_set_stage(container *c, berth_stage stage);
/* Takes termination; finishes the container as TERMINATED. */
void cz_terminate(container *c, json_t *termination);
/* Starts exit detection and log capture where they are missing. */
void cz_arm_watchers(container *c);
void cz_begin_destroy(container *c);
int cz_open_outputs(container *c, berth_error *err);
void cz_docker_remove_detached(berth_containerizer *cz, const char *name);
void cz_remove_delay_cb(uv_timer_t *timer);
/* Removes the docker container of a TERMINATED container (see there). */
void cz_remove_docker(container *c);
void cz_status_inspect_cb(int rc, json_t *answer, const berth_error *err, void *data);

#endif
