/* The server's side of berth_http_stream (server.h): internal to api/,
 * for server.c.
 *
 * Two threads share a stream.  The loop thread writes into its queue and
 * ends it; libmicrohttpd's thread reads the queue as the socket takes
 * bytes, and suspends the connection when the queue is empty (a write
 * resumes it).  A mutex in the stream keeps them apart.  The stream is
 * freed on the loop thread once both are done with it: its owner let go,
 * and MHD freed its response (which MHD does before it closes the socket,
 * so the stream may shut the socket while MHD has not let go). */
#ifndef BERTH_API_STREAM_H
#define BERTH_API_STREAM_H

#include <microhttpd.h>
#include <uv.h>

#include "api/server.h"

/* The server's live streams (loop thread only). */
typedef struct berth_stream_list {
  berth_http_stream *head;
} berth_stream_list;

/* For a request whose connection is suspended (it waits for its answer):
 * sets the connection's socket options and makes the stream. */
berth_http_stream *berth_stream_new(uv_loop_t *loop, struct MHD_Connection *conn, const berth_http_stream_opts *opts,
                                    berth_stream_list *list);
/* The stream's MHD response (one reference, the caller's to queue). */
struct MHD_Response *berth_stream_response(berth_http_stream *s, const char *content_type);

/* Once a second: streams whose client hung up are aborted. */
void berth_stream_list_poll(berth_stream_list *list);
/* Before MHD_stop_daemon: every stream ends and none stays suspended (MHD
 * panics on a suspended connection); the list is emptied. */
void berth_stream_list_stop(berth_stream_list *list);

#endif
