/* The berthd calls the CLI makes (API.md §3): request builders and reply
 * interpreters, which are pure, and thin helpers that send them. */
#ifndef BERTH_CLIENT_CALLS_H
#define BERTH_CLIENT_CALLS_H

#include <stddef.h>

#include <jansson.h>

#include "client/cli_args.h"
#include "client/client.h"
#include "util/error.h"

/* ---- requests ----
 * New references, or NULL when a string from the command line is not
 * valid UTF-8 (jansson, like JSON, only carries UTF-8). */

json_t *berth_request_launch(const berth_run_opts *opts, const char *container_id);
json_t *berth_request_wait(const char *container_id);
/* WAIT_CONTAINER with kill_on_disconnect (a berth extension): closing the
 * connection before the container ends destroys it. */
json_t *berth_request_wait_bound(const char *container_id);
/* signo 0: no signal, i.e. destroy the container. */
json_t *berth_request_kill(const char *container_id, int signo);
json_t *berth_request_remove(const char *container_id);
json_t *berth_request_get_containers(void);
/* UPDATE_CONTAINER (a berth extension, API.md §3): the options that are
 * set become `resources` and `limits`; an infinite limit is "inf". */
json_t *berth_request_update(const char *container_id, const berth_update_opts *opts);

/* ---- replies ---- */

/* The get_containers.containers array of a GET_CONTAINERS reply (new
 * reference; an absent list is an empty one). */
int berth_reply_containers(json_t *reply, json_t **containers, berth_error *err);

/* The element of a containers array with that container_id.value
 * (borrowed), or NULL. */
json_t *berth_containers_find(json_t *containers, const char *container_id);

/* The container's `stage`, or "" when missing. */
const char *berth_container_stage(json_t *container);

/* What `berth ps` shows as STATUS: "TASK_FINISHED (0)" for terminated
 * containers, with the short reason when there is one ("TASK_FAILED
 * (137, out of memory)", "TASK_FAILED (launch failed)"), the stage in
 * lower case otherwise. */
void berth_container_status(json_t *container, char *buf, size_t len);

/* The exit code a `berth run` should end with, from a WAIT_CONTAINER
 * reply's wait_container object: exit_code; else 128+signal from a
 * signalled exit_status, as shells report it; else 137 for TASK_KILLED
 * (killed before any code existed).  Otherwise fails with the
 * termination's message (a launch failure has no code). */
int berth_wait_exit_code(json_t *wait, int *code, berth_error *err);

/* ---- sending ---- */

/* GET_CONTAINERS; *containers is a new reference to the array. */
int berth_call_get_containers(berth_client *client, json_t **containers, berth_error *err);

/* GET /containers (API.md §4); *containers is a new reference to the
 * array, the same objects GET_CONTAINERS lists. */
int berth_call_list_containers(berth_client *client, json_t **containers, berth_error *err);

/* WAIT_CONTAINER, blocking with no timeout; *wait is a new reference to
 * the wait_container object. */
int berth_call_wait(berth_client *client, const char *container_id, json_t **wait, berth_error *err);

/* The same with kill_on_disconnect: the container lives no longer than
 * this call's connection (`berth run` in the foreground). */
int berth_call_wait_bound(berth_client *client, const char *container_id, json_t **wait, berth_error *err);

/* GET /version: {"version", "docker_api_version"} (new reference). */
int berth_call_version(berth_client *client, json_t **version, berth_error *err);

/* Sends a request whose reply carries nothing of interest
 * (KILL_CONTAINER, REMOVE_CONTAINER). */
int berth_call_simple(berth_client *client, json_t *request, berth_error *err);

#endif
