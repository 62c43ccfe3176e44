/* Internal to the containerizer module: the container record and the
 * containerizer itself.  Not for other modules. */
#ifndef BERTH_CONTAINERIZER_CONTAINER_H
#define BERTH_CONTAINERIZER_CONTAINER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "containerizer/config.h"
#include "containerizer/containerizer.h"
#include "containerizer/logindex.h"
#include "containerizer/metrics.h"
#include "containerizer/spec.h"
#include "docker/client.h"
#include "store/store.h"

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

/* Output capture and exit detection (capture.c): its requests, counters
 * and timer, apart from the launch's and the removal's. */
typedef struct cz_capture {
  berth_docker_req *wait_req, *logs_req, *inspect_req;
  /* Bytes written in all (rotated ones included) and still to skip, per
   * docker stream (1 stdout, 2 stderr). */
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
  uv_timer_t timer; /* watcher re-arm, log drain, final read */
} cz_capture;

typedef struct cz_health cz_health;

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
  double running_at;         /* when it reached RUNNING (stored); 0 before */
  double docker_finished_at; /* docker's FinishedAt, read after the exit */
  json_t *termination;
  bool docker_created; /* a docker container may exist under docker_name */
  bool destroy_requested;
  bool removing;
  bool sandbox_removing;    /* the REMOVE's sandbox deletion is queued */
  uint64_t remove_retry_ms; /* backoff of a failed docker removal; 0: none failed */
  bool started;             /* the start request was sent */
  bool updating;
  bool recovering; /* restored from the store, not yet reconciled */
  bool bound;      /* a client bound itself with a WAIT (stored; rebind.h) */
  /* Host volume pins (volumes.h): the directory under docker/volumes, the
   * job making them (cleared if the container goes first). */
  char *pin_dir;
  struct pin_job *pin_job;

  berth_cz_done_cb launch_cb;
  void *launch_data;
  berth_cz_done_cb remove_cb;
  void *remove_data;
  waiter *waiters;

  /* Docker requests in flight; each pointer is cleared by its callback. */
  berth_docker_req *op;         /* the launch stage's call, or the removal */
  berth_docker_req *kill_req;   /* capture's requests are in cap */
  berth_docker_req *status_req; /* inspect for pid and address */
  berth_fetch *fetch;           /* FETCHING's fetch, cleared by its callback */
  struct cz_pull *pull;         /* the pull this launch waits for (pull.c) */
  struct container *pull_next;  /* in that pull's waiters */
  bool image_held;              /* waits for its image's removal (images.c) */
  struct container *held_next;

  /* Output capture, indexed by docker stream (1 stdout, 2 stderr): the
   * sandbox files (rotation.c); the rest is capture.c's. */
  berth_outlog out[3];
  cz_capture cap;
  berth_logindex ix;   /* when each output byte was written (logs.c) */
  uv_timer_t ix_timer; /* flushes ix's buffered records */
  double mem_limit_mb;
  int pid;
  struct cz_usage *usage; /* statistics: located cgroup, last reading (usage.c) */
  char *ip;
  json_t *network_infos;   /* Mesos NetworkInfo list from docker's inspect; NULL until read */
  int gpus[BERTH_GPU_MAX]; /* allocated minors, freed when TERMINATED */
  size_t n_gpus;

  uv_timer_t timer;          /* start-now hop, remove delay */
  uv_timer_t kill_timer;     /* grace period */
  uv_timer_t deadline_timer; /* max_completion_time (deadline.c) */
  uv_timer_t rebind_timer;   /* --bound_client_timeout after recovery (rebind.c) */
  bool deadline_reached;
  struct cz_health *health; /* health.c; NULL without a health check */
  int open_handles;
  struct container *next, *prev;
} container;

#define BERTH_PULL_SAMPLES 256
#define BERTH_END_KINDS 32

typedef struct berth_cz_metrics_data {
  uint64_t launches, launch_failures, destroys, ooms;
  uint64_t pulls;
  double pull_ms[BERTH_PULL_SAMPLES]; /* ring of the latest pulls */
  /* fetcher: one fetch per launch with URIs */
  uint64_t fetches, fetch_failures, fetch_uris, fetch_bytes, fetch_downloaded_bytes, fetch_cache_hits;
  double fetch_ms_total, fetch_ms_last;
  uint64_t pull_buckets[BERTH_PULL_BUCKETS + 1]; /* per bucket, not cumulative; last is +Inf */
  double pull_sum_secs;
  /* image collection (images.c) */
  uint64_t images_removed, image_bytes_freed, image_gc_runs, image_prunes;
  double image_disk_used; /* ratio at the last check; 0 before */
  struct {
    char state[24], reason[64];
    uint64_t count;
  } ends[BERTH_END_KINDS]; /* terminations by state and reason */
  size_t n_ends;
  uint64_t health_checks[2]; /* decided checks: healthy, unhealthy */
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
  uint64_t sweep_interval_ms; /* the sweep's current interval (recovery.c) */
  uint64_t sweep_launches;    /* launches and count at the last sweep */
  size_t sweep_count;
  berth_cz_metrics_data metrics;
  struct cz_pull *pulls; /* in flight, one per image (pull.c) */
  size_t pending_work;   /* sandbox removals and volume pins on the thread pool */
  char **real_prefixes;  /* --allowed_host_paths resolved once (volumes.h) */
  uint64_t pin_seq;      /* makes each launch's pin directory its own */
  bool closing, timer_closed;
  bool stopping;                     /* berthd is shutting down: its own hang-ups destroy nothing */
  berth_cz_event_cb event_cb;        /* SUBSCRIBE's observer (events.c) */
  struct berth_probe_hub *probe_hub; /* HTTP/TCP health probes (health.c); made at the first */
  uint64_t probe_seq;
  struct cz_images *images; /* image collection (images.c) */
  void *event_data;
};

/* Events for the observer (events.c): a stage entered (not TERMINATED,
 * which is cz_emit_terminated's), a container ended or removed, a health
 * status that changed (health is borrowed). */
void cz_emit_stage(container *c);
void cz_emit_terminated(container *c);
void cz_emit_removed(berth_containerizer *cz, const char *id);
void cz_emit_health(container *c, json_t *health);

void berth_cz_metrics_pull(berth_containerizer *cz, double ms);
void berth_cz_metrics_fetch(berth_containerizer *cz, int rc, const berth_fetch_stats *stats);

/* Pulls (pull.c): launches of one absent image share one pull.  join
 * starts or joins the pull of c's image; cz_pull_done (launch.c)
 * then runs for c once, unless it leaves first; the last to leave aborts
 * the pull. */
void cz_pull_join(container *c, bool image_absent);
void cz_pull_leave(container *c);
void cz_pull_done(container *c, int rc, const berth_error *err);
/* {"layers_done", ...} while c waits for a pull, else NULL (new ref). */
json_t *cz_pull_progress_json(container *c);
void berth_cz_metrics_terminated(berth_containerizer *cz, const char *state, const char *reason);

/* Image collection (images.c).  The records: a launch used an image that
 * was there, or berthd's pull brought one (was_absent: it was not there
 * before; a forced pull of a present image berthd did not pull is not
 * recorded).  hold: c's image is being removed; c waits and
 * cz_inspect_image (launch.c) resumes it once the removal is over. */
typedef struct cz_images cz_images;
void cz_images_used(berth_containerizer *cz, const char *name);
void cz_images_pulled(berth_containerizer *cz, const char *name, const char *docker_id, bool was_absent);
bool cz_images_hold(container *c);
void cz_images_unhold(container *c);
void cz_inspect_image(container *c);
/* The timer starts after the store is loaded (recovery); close at free. */
void cz_images_start(berth_containerizer *cz);
void cz_images_close(berth_containerizer *cz);
/* Drops the PRUNE_IMAGES callbacks registered with data. */
void cz_images_forget(berth_containerizer *cz, void *data);

/* Shared by the launch path and recovery (containerizer.c). */
container *cz_container_new(berth_containerizer *cz, berth_launch_spec *spec, json_t *launch);
/* Write the record; a failure is logged and returned (the launch stages
 * fail the launch on it). */
int cz_persist(container *c, berth_error *err);
int cz_set_stage(container *c, berth_stage stage, berth_error *err);
/* Takes termination; finishes the container as TERMINATED. */
void cz_terminate(container *c, json_t *termination);
/* Starts exit detection and log capture where they are missing. */
void cz_arm_watchers(container *c);
void cz_begin_destroy(container *c);
int cz_open_outputs(container *c, berth_error *err);
/* Output rotation state for the store (new reference, NULL when nothing
 * was rotated), and back from it. */
json_t *cz_outputs_json(const container *c);
void cz_outputs_init(container *c);
/* Appends to the stream's file, rotating per the config; counts written. */
void cz_output_write(container *c, int stream, const char *buf, size_t len);
void cz_outputs_restore(container *c, json_t *outputs);
/* The log index (logs.c): set up with the container, opened with the
 * output files (after cap.written is known), told of every write, closed
 * with the files. */
void cz_logs_init(container *c);
int cz_logs_open(container *c, berth_error *err);
void cz_logs_written(container *c, int stream, uint64_t offset, size_t len, bool rotated);
void cz_logs_close(container *c);
void cz_docker_remove_detached(berth_containerizer *cz, const char *name);
void cz_remove_delay_cb(uv_timer_t *timer);
/* Removes the docker container of a TERMINATED container (see there). */
void cz_remove_docker(container *c);
void cz_status_inspect_cb(int rc, json_t *answer, const berth_error *err, void *data);

/* Host volume pins on the thread pool (launch.c); the container's end
 * (containerizer.c) detaches a job still running. */
struct pin_job {
  uv_work_t work;
  berth_containerizer *cz;
  container *c; /* NULL once the container is gone */
  char *work_dir, *pin_dir;
  char **hosts, **allowed, **real, **pins;
  size_t n;
  berth_error err;
  int rc;
};

/* Delay before re-arming a watcher that ended while the container runs
 * (dockerd restarting, a dropped connection). */
#define REARM_DELAY_MS 1000

/* Shared between the stage files (containerizer.c, launch.c, capture.c,
 * destroy.c, update.c). */
double cz_now_secs(void);
container *cz_find(berth_containerizer *cz, const char *id);
container *cz_lookup(berth_containerizer *cz, const char *id, berth_error *err);
void cz_container_free(container *c);
void cz_free_containerizer(berth_containerizer *cz);
void cz_release_pins(container *c);
int cz_output_cb(int stream, const char *buf, size_t len, void *data);
void cz_attach_done_cb(int rc, const berth_error *err, void *data);
/* Starts the created container (launch.c); the attach ending first calls it. */
void cz_start_now(container *c);
/* Ends a launch that a KILL cut short (launch.c). */
void cz_launch_killed(container *c);

#endif
