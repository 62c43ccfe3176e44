/* Asynchronous HTTP client for the Docker Engine API over its unix socket.
 *
 * libcurl's multi interface is driven by the libuv loop: every socket curl
 * opens is watched with a uv_poll and curl's timeout with a uv_timer, so a
 * slow pull or a long /wait never blocks the loop.  Loop thread only.
 */
#ifndef BERTH_DOCKER_CLIENT_H
#define BERTH_DOCKER_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

#include "util/error.h"

/* The newest API version berth speaks; older daemons down to the minimum
 * are used at their own version (Docker's version negotiation). */
#define BERTH_DOCKER_API_MAX "1.41"
#define BERTH_DOCKER_API_MIN "1.24"

typedef struct berth_docker berth_docker;
typedef struct berth_docker_req berth_docker_req;

/* Called once when a request ends, unless it was cancelled.  status is the
 * HTTP status (0 when no answer came; err says why).  body holds the whole
 * answer for plain requests, or only an error answer (status >= 300) for
 * streaming ones.  The request is freed after the callback returns. */
typedef void (*berth_docker_done_cb)(int status, const char *body, size_t len, const berth_error *err, void *data);

/* Streaming requests get the body piece by piece as it arrives (only for
 * 2xx answers).  Return <0 to abort the request (done then reports
 * BERTH_ECANCELED). */
typedef int (*berth_docker_chunk_cb)(const char *buf, size_t len, void *data);

/* Creates the client; no I/O happens until a request is made.
 * socket_path is copied. */
berth_docker *berth_docker_new(uv_loop_t *loop, const char *socket_path);

/* Cancels every request (no callbacks) and frees the client once its
 * handles are closed. */
void berth_docker_free(berth_docker *docker);

/* Sets the API version used as path prefix ("1.41"). */
void berth_docker_set_version(berth_docker *docker, const char *version);

/* For connections the client does not make itself (docker/hijack.h). */
const char *berth_docker_socket_path(const berth_docker *docker);
/* "" until negotiated. */
const char *berth_docker_version(const berth_docker *docker);
uv_loop_t *berth_docker_loop(const berth_docker *docker);

/* Starts a request.  path is relative to the API root ("/containers/json");
 * it is sent with the negotiated "/v1.xx" prefix unless unversioned is set.
 * body (may be NULL) is serialised now; the caller keeps its reference.
 * timeout_ms 0 means none (streams, waits).  Returns the request handle,
 * valid until done is called or it is cancelled. */
berth_docker_req *berth_docker_request(berth_docker *docker, const char *method, const char *path, json_t *body,
                                       long timeout_ms, int unversioned, berth_docker_chunk_cb chunk,
                                       berth_docker_done_cb done, void *data);

/* The same with one more header line ("Name: value"), copied; it may
 * hold a secret (X-Registry-Auth) and is never logged. */
berth_docker_req *berth_docker_request_with_header(berth_docker *docker, const char *method, const char *path,
                                                   json_t *body, long timeout_ms, int unversioned, const char *header,
                                                   berth_docker_chunk_cb chunk, berth_docker_done_cb done, void *data);

/* Aborts a request: its connection is closed and no callback runs after
 * this returns.  Safe from inside any callback. */
void berth_docker_cancel(berth_docker_req *req);

/* Frees data when the request ends, after done or on cancel: lets layers
 * above keep per-request state without caring how it ended. */
void berth_docker_req_set_release(berth_docker_req *req, void (*release)(void *data));

/* Called once when a 2xx answer's headers are complete, before any body:
 * for hijacked streams (attach) that is when dockerd is ready.  Runs inside
 * a curl callback, so it must not start or cancel requests itself. */
void berth_docker_req_set_headers_cb(berth_docker_req *req, void (*headers)(void *data));
/* For streams: called once curl is done with a socket event in which the
 * chunk callback ran (curl splits one read into 16 KiB pieces), before any
 * done callback of that event; not after a cancel.  <0 ends the stream as
 * a chunk callback's <0 does. */
void berth_docker_req_set_flush(berth_docker_req *req, int (*flush)(void *data));

/* The data pointer given to berth_docker_request. */
void *berth_docker_req_data(const berth_docker_req *req);

#endif
