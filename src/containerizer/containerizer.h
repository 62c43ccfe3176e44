/* The stage machine: FETCHING → PULLING → MOUNTING → RUNNING →
 * DESTROYING → TERMINATED, with destroy possible in every stage.
 *
 * One containerizer owns every container; all of it runs on the loop
 * thread.  Calls that finish later (launch, wait, remove, signal) take a
 * callback that runs exactly once, on the loop thread. */
#ifndef BERTH_CONTAINERIZER_CONTAINERIZER_H
#define BERTH_CONTAINERIZER_CONTAINERIZER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "util/error.h"

typedef struct berth_containerizer berth_containerizer;

/* Opaque here: callers above (api/) see none of the modules below.  The
 * config's fields are in containerizer/config.h, for daemon.c. */
typedef struct berth_docker berth_docker;
typedef struct berth_store berth_store;
typedef struct berth_cz_config berth_cz_config;

/* rc 0 on success, else a berth code with err. */
typedef void (*berth_cz_done_cb)(int rc, const berth_error *err, void *data);
/* termination is borrowed for the call. */
typedef void (*berth_cz_wait_cb)(json_t *termination, void *data);

/* The config's strings must outlive the containerizer. */
berth_containerizer *berth_cz_new(uv_loop_t *loop, berth_docker *docker, berth_store *store,
                                  const berth_cz_config *config);
/* Cancels everything in flight without touching docker containers (they
 * keep running; recovery picks them up) and frees the containerizer. */
void berth_cz_free(berth_containerizer *cz);

/* Restores the containers in the store and reconciles them with docker
 * (listed by this agent id's label): running ones are tracked again, ones
 * that exited meanwhile report their real end, vanished ones end as
 * REASON_EXECUTOR_TERMINATED, launches caught mid-way are cleaned up, and
 * orphans are killed when configured.  cb runs once the first
 * reconciliation is done, or at once with BERTH_EUNAVAIL when dockerd does
 * not answer (reconciliation then retries in the background). */
int berth_cz_recover(berth_containerizer *cz, berth_cz_done_cb cb, void *data, berth_error *err);

/* Validates and starts a launch.  Returns 0 when cb will report the end of
 * the launch, BERTH_LAUNCH_DUPLICATE when the id is already known (cb is
 * not called), or <0 for a bad request (cb is not called). */
#define BERTH_LAUNCH_DUPLICATE 1
int berth_cz_launch(berth_containerizer *cz, json_t *launch, berth_cz_done_cb cb, void *data, berth_error *err);

/* cb runs when the container is TERMINATED (at once if it already is). */
int berth_cz_wait(berth_containerizer *cz, const char *id, berth_cz_wait_cb cb, void *data, berth_error *err);

/* signal 0: destroy, in any stage; done at once once started (cb not
 * called, returns 0).  signal > 0: delivered to a running container, cb
 * reports docker's answer. */
int berth_cz_kill(berth_containerizer *cz, const char *id, int signal, berth_cz_done_cb cb, void *data,
                  berth_error *err);

/* Forgets a TERMINATED container; cb runs once its docker container and
 * sandbox are gone. */
int berth_cz_remove(berth_containerizer *cz, const char *id, berth_cz_done_cb cb, void *data, berth_error *err);

/* UPDATE_CONTAINER: new cpu and memory settings for a running container
 * (the update object holds "resources" and "limits").  cb reports
 * docker's answer. */
int berth_cz_update(berth_containerizer *cz, json_t *update, berth_cz_done_cb cb, void *data, berth_error *err);

/* Binds the container to the waiter registered with data (WAIT_CONTAINER's
 * kill_on_disconnect): when berth_cz_forget drops that waiter because its
 * client went away, the container is destroyed.  Nothing when no such
 * waiter is parked (the container had already ended). */
void berth_cz_bind_waiter(berth_containerizer *cz, const char *id, void *data);

/* Drops every callback registered with this data pointer (a caller that
 * went away): waiters are removed, a pending launch goes on unreported,
 * and a container bound to a dropped waiter is destroyed unless berthd is
 * stopping. */
void berth_cz_forget(berth_containerizer *cz, void *data);

/* berthd is shutting down: the connections it closes itself are not
 * clients going away, so from now on forgetting a bound waiter destroys
 * nothing (a restart must leave containers running). */
void berth_cz_stopping(berth_containerizer *cz);

/* The GET_CONTAINERS list with usage read from each running container's
 * cgroup (new reference). */
json_t *berth_cz_containers(berth_containerizer *cz);

/* SUBSCRIBE's source: cb runs on the loop thread for every event, in the
 * order they happen, with the stream's record ({"type": "STAGE_CHANGED",
 * "stage_changed": {...}}; also TERMINATED, REMOVED, HEALTH_CHANGED),
 * borrowed for the call.  One observer; cb NULL clears it. */
typedef void (*berth_cz_event_cb)(json_t *event, void *data);
void berth_cz_observe(berth_containerizer *cz, berth_cz_event_cb cb, void *data);

/* PRUNE_IMAGES: removes the images berthd itself pulled that no known
 * container uses (any stage, TERMINATED included), except those named in
 * excluded (NULL-ended, copied) or in --image_gc_excluded_images.  cb gets
 * {"removed": [names], "kept": [{"name", "reason"}], "bytes_freed": N}
 * (borrowed) once the removals are over; one collection runs at a time,
 * so a call may first wait for the one under way. */
typedef void (*berth_cz_pruned_cb)(int rc, json_t *result, const berth_error *err, void *data);
int berth_cz_prune_images(berth_containerizer *cz, const char *const *excluded, berth_cz_pruned_cb cb, void *data,
                          berth_error *err);

/* berthd's image records, least recently used first: [{"name",
 * "docker_id", "pulled_at", "last_used", "in_use"}] (new reference). */
int berth_cz_images(berth_containerizer *cz, json_t **out, berth_error *err);

/* Counters for /metrics (new reference). */
json_t *berth_cz_metrics(berth_containerizer *cz);

#endif
