/* HTTP/1.1 server: libmicrohttpd parses HTTP on its own thread (one per
 * listener) and hands each complete request to the libuv loop.
 *
 * The handler runs on the loop thread for each complete request and
 * answers with berth_http_respond*, then or later: a request left without
 * an answer is suspended (no thread waits) until one is given.
 *
 * Before that, on MHD's thread, a request's headers decide whether it is
 * read at all: the bearer token (TCP), its framing and declared length,
 * and the budget for buffered bodies; see docs/design.md. */
#ifndef BERTH_API_SERVER_H
#define BERTH_API_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "util/error.h"

#define BERTH_HTTP_MAX_BODY (1024u * 1024u)

typedef struct berth_http_server berth_http_server;
typedef struct berth_http_request berth_http_request;

typedef void (*berth_http_handler)(berth_http_request *req, void *data);

berth_http_server *berth_http_server_new(uv_loop_t *loop, berth_http_handler handler, void *data);

/* Adds a listener: "unix:PATH" (mode 0660, group from socket_group when
 * set) or "tcp:HOST:PORT" (needs token: every request must carry
 * "Authorization: Bearer <token>").  A bare path means unix. */
int berth_http_server_listen(berth_http_server *server, const char *spec, const char *token, const char *socket_group,
                             berth_error *err);

/* Called when the client of an unanswered request has gone away (or
 * half-closed: TCP cannot tell the two apart).  The owner must drop every
 * reference to req before returning: the server then answers it 499 and
 * frees it.  Without this, a WAIT whose client left would hold its
 * connection until the container ends. */
typedef void (*berth_http_abandon_cb)(berth_http_request *req, void *data);
/* Only requests marked so are checked: those whose every reference the
 * owner can drop in the abandon callback (a parked WAIT, a request waiting
 * for recovery).  One that a callback will answer (LAUNCH, KILL, REMOVE,
 * UPDATE) must not be: it would be answered twice.  Unmark a request
 * before handing it to such a callback. */
void berth_http_set_abandonable(berth_http_request *req, bool abandonable);
void berth_http_server_on_abandon(berth_http_server *server, berth_http_abandon_cb cb);

/* Told of every answer as it is given (loop thread, before req may go):
 * metrics count answers by what the handler tagged the request with. */
typedef void (*berth_http_respond_cb)(berth_http_request *req, int status, void *data);
void berth_http_server_on_respond(berth_http_server *server, berth_http_respond_cb cb);
/* A label for the request (a string that outlives it, e.g. a literal);
 * NULL until set.  Loop thread only. */
void berth_http_set_tag(berth_http_request *req, const char *tag);
const char *berth_http_tag(const berth_http_request *req);

/* A response that stays open (SUBSCRIBE's event stream): 200 with a body
 * of unknown length (chunked), written piece by piece from the loop
 * thread.  What is written waits in the stream's bounded queue until
 * libmicrohttpd's thread sends it; the loop never blocks on the client.
 *
 * A stream connection has no idle timeout (a quiet stream is not a dead
 * client: its owner sends heartbeats) and is never cut by the guard's
 * request deadlines; a client that hangs up is noticed within a second,
 * and when berthd stops, every stream ends. */
typedef struct berth_http_stream berth_http_stream;
/* The connection ended (the client left, or the stream was aborted):
 * loop thread; the owner must let go with berth_http_stream_close. */
typedef void (*berth_http_stream_closed_cb)(berth_http_stream *stream, void *data);

typedef struct berth_http_stream_opts {
  const char *content_type;
  size_t queue_limit; /* bytes waiting, past the exempt ones (api/outq.h) */
  int sndbuf;         /* SO_SNDBUF for the connection; 0 keeps the kernel's */
  berth_http_stream_closed_cb closed_cb;
  void *data;
} berth_http_stream_opts;

/* Answers req with the stream (req is the server's from here); the
 * stream is the caller's until berth_http_stream_close. */
berth_http_stream *berth_http_respond_stream(berth_http_request *req, const berth_http_stream_opts *opts);
/* Queues a copy of len bytes.  0; BERTH_ETOOBIG when they would take the
 * queue past its limit (nothing queued); BERTH_ECANCELED when the
 * connection is gone or going. */
int berth_http_stream_write(berth_http_stream *stream, const char *buf, size_t len, bool exempt);
/* The owner lets go: the stream ends once what was queued is sent, or at
 * once with the connection shut (abort).  stream is not to be used after;
 * its closed_cb does not run any more. */
void berth_http_stream_close(berth_http_stream *stream, bool abort);

/* HTTP upgrade (101 Switching Protocols, as docker's attach and exec):
 * after the answer the connection is a raw byte stream.
 *
 * ready runs once on the loop thread: with u NULL and fd -1 when the
 * client left before the 101 went out; else with u, a duplicate fd of the
 * socket that the owner now owns (it may give it to a libuv handle), and
 * the bytes the client sent after its request that MHD already read
 * (extra, valid during the call).  The owner ends the connection with
 * berth_http_upgraded_close once it no longer reads or writes its fd.
 *
 * stop runs when the server is freed while the connection is in use: the
 * owner stops at once and forgets u (the server closes it afterwards).
 * No deadline of the server or the guard applies to an upgraded
 * connection: a live session lasts as long as its owner keeps it. */
typedef struct berth_http_upgraded berth_http_upgraded;
typedef void (*berth_http_upgrade_cb)(berth_http_upgraded *u, int fd, const char *extra, size_t extra_len, void *data);
typedef void (*berth_http_upgrade_stop_cb)(void *data);
/* Answers req with 101 and "Upgrade: <protocol>" (exactly once, as
 * berth_http_respond). */
void berth_http_respond_upgrade(berth_http_request *req, const char *protocol, berth_http_upgrade_cb ready,
                                berth_http_upgrade_stop_cb stop, void *data);
/* Loop thread.  Does not close the owner's fd. */
void berth_http_upgraded_close(berth_http_upgraded *u);

/* Stops taking requests, lets the owners of unanswered ones go (the
 * abandon callback) and answers them 503, then stops every listener. */
void berth_http_server_free(berth_http_server *server);

const char *berth_http_method(const berth_http_request *req);
const char *berth_http_path(const berth_http_request *req);
/* The Upgrade header's value when the request asked for an upgrade
 * ("Connection: Upgrade"), else NULL. */
const char *berth_http_upgrade_requested(const berth_http_request *req);
/* A query argument, or NULL. */
const char *berth_http_query(const berth_http_request *req, const char *key);
const char *berth_http_body(const berth_http_request *req, size_t *len);

/* Answers the request (exactly once).  body is copied. */
void berth_http_respond(berth_http_request *req, int status, const char *content_type, const char *body, size_t len);
/* Steals j. */
void berth_http_respond_json(berth_http_request *req, int status, json_t *j);
/* One line of text/plain. */
void berth_http_respond_error(berth_http_request *req, int status, const char *message);

#endif
