/* berthd's HTTP API: the calls of API.md §3 and the GET endpoints of §4,
 * routed from the HTTP server to the containerizer.  Loop thread only. */
#ifndef BERTH_API_API_H
#define BERTH_API_API_H

#include <jansson.h>
#include <stdbool.h>

#include "api/metrics.h"
#include "api/server.h"
#include "api/subscribe.h"
#include "containerizer/containerizer.h"

typedef struct berth_api {
  uv_loop_t *loop;
  berth_containerizer *cz;
  const char *work_dir;
  json_t *flags;                          /* effective flags, secrets masked */
  const char *docker_version;             /* negotiated API version, "" until known */
  bool docker_ok;                         /* dockerd answered the last probe */
  char docker_error[BERTH_ERROR_MSG_MAX]; /* why it did not, when it did not */
  /* Until recovery is done, requests wait here, unanswered. */
  bool ready;
  berth_http_request **deferred;
  size_t n_deferred;
  berth_api_metrics metrics;      /* answers by call and status (api/metrics.c) */
  berth_subscribers *subscribers; /* SUBSCRIBE's streams (api/subscribe.c) */
  struct api_session *sessions;   /* EXEC and ATTACH_CONTAINER_INPUT (api/exec.c) */
} berth_api;

/* Recovery is done: answer the requests that waited for it. */
void berth_api_set_ready(berth_api *api);

/* The server's handler; data is a berth_api. */
void berth_api_handle(berth_http_request *req, void *data);

/* The server's abandon callback: forgets req everywhere. */
void berth_api_abandon(berth_http_request *req, void *data);

/* POST /api/v1 */
void berth_api_call(berth_api *api, berth_http_request *req);

/* GET /files/read and /files/browse (Mesos files API on the sandboxes). */
void berth_api_files_read(berth_api *api, berth_http_request *req);
void berth_api_files_browse(berth_api *api, berth_http_request *req);

/* GET /logs (api/logs.c): merged stdout and stderr lines of a container. */
void berth_api_logs(berth_api *api, berth_http_request *req);

/* Opens a files-API path ("/sandboxes/<id>/<rel>") inside that sandbox
 * through util/safefs.h: resolved beneath the sandbox, no symlink followed
 * and no '..' allowed, and only a regular file or a directory is opened (a
 * FIFO or device node is refused before any open).  *out_fd is read-only;
 * caller closes it. */
int berth_files_open(const char *work_dir, const char *path, int *out_fd, berth_error *err);

#endif
