/* The upgraded calls (a berth extension; README "EXEC"): EXEC runs a
 * command in a running container, ATTACH_CONTAINER_INPUT writes the
 * task's stdin.  Both answer 101 and turn the client's connection into a
 * raw stream that is relayed to docker's hijacked one, with bounded
 * buffers: a side whose peer's write queue is full is not read.  Loop
 * thread only. */
#ifndef BERTH_API_EXEC_H
#define BERTH_API_EXEC_H

#include <jansson.h>

#include "api/api.h"

/* Past this many bytes queued for one side, the other is not read. */
#define BERTH_SESSION_QUEUE_HIGH (1024u * 1024u)
/* Reading resumes once the queue is below this. */
#define BERTH_SESSION_QUEUE_LOW (256u * 1024u)

/* Starts the call (obj is the call's own object); answers req. */
void berth_api_exec(berth_api *api, berth_http_request *req, json_t *obj);
void berth_api_attach_input(berth_api *api, berth_http_request *req, json_t *obj);

/* The server's abandon callback for a request still opening a session. */
void berth_api_sessions_forget(berth_api *api, berth_http_request *req);

#endif
