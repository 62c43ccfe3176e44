/* A hijacked connection to dockerd: the request is written by hand on a
 * plain libuv pipe to the docker socket, the answer's head is parsed
 * (util/httphead.h), and from the 101 on the connection is a raw byte
 * stream in both directions (exec start, attach with stdin).  libcurl,
 * which the rest of the client uses, cannot hand such a stream over.
 * Loop thread only. */
#ifndef BERTH_DOCKER_HIJACK_H
#define BERTH_DOCKER_HIJACK_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

#include "docker/client.h"
#include "util/error.h"

/* dockerd's answer head must come within this. */
#define BERTH_HIJACK_HEAD_TIMEOUT_MS 30000
/* Of an error answer's body, this much is read for the message. */
#define BERTH_HIJACK_ERROR_BODY_MAX 4096

typedef struct berth_hijack berth_hijack;

/* Called once, unless the hijack was closed first.  rc 0: dockerd
 * switched protocols; extra holds the stream bytes that came with the
 * head (valid during the call) and berth_hijack_stream is ready.  Else a
 * berth code (BERTH_ENOENT for 404, BERTH_ECONFLICT for 409, BERTH_EDOCKER
 * for another refusal with docker's message, BERTH_EUNAVAIL when dockerd
 * could not be reached); the caller still closes h. */
typedef void (*berth_hijack_cb)(int rc, const berth_error *err, const char *extra, size_t extra_len, void *data);

/* POST path (versioned as the client's other requests) with a JSON body
 * (may be NULL) and "Connection: Upgrade", "Upgrade: tcp". */
berth_hijack *berth_hijack_start(berth_docker *d, const char *path, json_t *body, berth_hijack_cb cb, void *data);

/* The stream, once cb reported 0: the caller reads and writes it with its
 * own callbacks, and may use its data field. */
uv_stream_t *berth_hijack_stream(berth_hijack *h);

/* Closes the connection and frees h (after its handles close); no
 * callback runs after this.  NULL is fine. */
void berth_hijack_close(berth_hijack *h);

#endif
