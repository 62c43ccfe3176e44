/* Typed Docker Engine API calls on top of the async client.  Each call
 * reports through one callback with a berth code: BERTH_ENOENT for 404,
 * BERTH_ECONFLICT for 409, BERTH_EDOCKER for other refusals (with Docker's
 * own message), BERTH_EUNAVAIL when dockerd did not answer.  Loop thread
 * only. */
#ifndef BERTH_DOCKER_API_H
#define BERTH_DOCKER_API_H

#include <jansson.h>
#include <stdint.h>

#include "docker/client.h"

/* rc is 0 or a berth code; answer (may be NULL) is owned by the callee and
 * freed after the callback returns: json_incref to keep it. */
typedef void (*berth_docker_json_cb)(int rc, json_t *answer, const berth_error *err, void *data);

typedef void (*berth_docker_result_cb)(int rc, const berth_error *err, void *data);

/* Log payload of stdout (1) or stderr (2) as it arrives.  Return <0 to stop. */
typedef int (*berth_docker_output_cb)(int stream, const char *buf, size_t len, void *data);

/* For the plain JSON calls below (not pull, logs or attach): frees data
 * when the request ends, after the callback or when it is cancelled (also
 * by berth_docker_free, which runs no callback), so per-call state never
 * leaks whichever way the call ends. */
void berth_docker_call_set_release(berth_docker_req *req, void (*release)(void *data));

/* GET /version (unversioned). */
berth_docker_req *berth_docker_version_get(berth_docker *d, berth_docker_json_cb cb, void *data);

/* Picks min(daemon's ApiVersion, BERTH_DOCKER_API_MAX); refuses below the
 * minimum.  Writes the chosen version into out. */
int berth_docker_negotiate(const char *daemon_version, char *out, size_t len, berth_error *err);

berth_docker_req *berth_docker_image_inspect(berth_docker *d, const char *ref, berth_docker_json_cb cb, void *data);

/* DELETE /images/{ref} without force and with pruning of untagged
 * parents: an image a container uses (running or stopped) is refused with
 * BERTH_ECONFLICT, one that is gone is BERTH_ENOENT.  The answer is
 * docker's list of {"Untagged": ...} and {"Deleted": ...}. */
berth_docker_req *berth_docker_image_remove(berth_docker *d, const char *ref, berth_docker_json_cb cb, void *data);

/* GET /info: DockerRootDir, the directory holding docker's images. */
berth_docker_req *berth_docker_info(berth_docker *d, berth_docker_json_cb cb, void *data);

/* Where a pull stands, summed over the layers dockerd reported so far. */
typedef struct berth_pull_progress {
  uint64_t layers_done, layers_total, bytes_done, bytes_total;
} berth_pull_progress;

typedef void (*berth_docker_progress_cb)(const berth_pull_progress *progress, void *data);

/* POST /images/create; the progress stream is read line by line and an
 * {"error": ...} message in it fails the pull (even after a 200).
 * registry_auth (may be NULL) is sent as X-Registry-Auth.  timeout_ms > 0
 * aborts a pull that runs longer.  progress (may be NULL) runs as layers
 * move.  Cancel the request to abort the pull: dockerd stops it when the
 * client goes away. */
berth_docker_req *berth_docker_image_pull(berth_docker *d, const char *ref, const char *registry_auth, long timeout_ms,
                                          berth_docker_progress_cb progress, berth_docker_result_cb cb, void *data);

berth_docker_req *berth_docker_container_create(berth_docker *d, const char *name, json_t *config,
                                                berth_docker_json_cb cb, void *data);
berth_docker_req *berth_docker_container_start(berth_docker *d, const char *id, berth_docker_json_cb cb, void *data);
berth_docker_req *berth_docker_container_kill(berth_docker *d, const char *id, int signal, berth_docker_json_cb cb,
                                              void *data);
berth_docker_req *berth_docker_container_remove(berth_docker *d, const char *id, berth_docker_json_cb cb, void *data);
/* POST /update with resource fields (CpuShares, Memory, ...). */
berth_docker_req *berth_docker_container_update(berth_docker *d, const char *id, json_t *resources,
                                                berth_docker_json_cb cb, void *data);
berth_docker_req *berth_docker_container_inspect(berth_docker *d, const char *id, berth_docker_json_cb cb, void *data);
/* POST /wait: answers {"StatusCode": N} when the container stops. */
berth_docker_req *berth_docker_container_wait(berth_docker *d, const char *id, berth_docker_json_cb cb, void *data);
/* GET /containers/json?all=1 filtered by label "key=value". */
berth_docker_req *berth_docker_container_list(berth_docker *d, const char *label, berth_docker_json_cb cb, void *data);
/* GET /logs: the container's output from its start, demultiplexed; with
 * follow, until it stops.  `done` reports how the stream ended. */
berth_docker_req *berth_docker_container_logs(berth_docker *d, const char *id, int follow, berth_docker_output_cb out,
                                              berth_docker_result_cb done, void *data);

/* POST /attach?stream=1: the container's output from now on, raw and
 * demultiplexed, until its streams close (after the last byte, when it
 * stops).  attached runs (inside a curl callback) once dockerd holds the
 * stream: a container started after that loses nothing. */
berth_docker_req *berth_docker_container_attach(berth_docker *d, const char *id, berth_docker_output_cb out,
                                                void (*attached)(void *data), berth_docker_result_cb done, void *data);

/* Engine API exec, for health checks: create (config as docker's
 * ExecConfig, answers {"Id"}), start (its attached output as it arrives,
 * until the process ends), inspect ({"Running", "ExitCode", ...}). */
berth_docker_req *berth_docker_exec_create(berth_docker *d, const char *id, json_t *config, berth_docker_json_cb cb,
                                           void *data);
berth_docker_req *berth_docker_exec_start(berth_docker *d, const char *exec_id, berth_docker_output_cb out,
                                          berth_docker_result_cb done, void *data);
berth_docker_req *berth_docker_exec_inspect(berth_docker *d, const char *exec_id, berth_docker_json_cb cb, void *data);
/* POST /exec/{id}/resize: the exec's terminal size (tty only). */
berth_docker_req *berth_docker_exec_resize(berth_docker *d, const char *exec_id, unsigned rows, unsigned cols,
                                           berth_docker_json_cb cb, void *data);

/* Splits an image reference into repository and tag-or-digest for pulls
 * ("reg:5000/a/b:t" → "reg:5000/a/b", "t"; no tag → "latest"). */
void berth_docker_split_ref(const char *ref, char **repo, char **tag);

#endif
