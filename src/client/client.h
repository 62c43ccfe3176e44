/* The CLI's HTTP/1.1 client to berthd (API.md §2).
 *
 * One berth_client wraps one libcurl easy handle, so successive requests
 * reuse the connection (the log follower polls every 100 ms).  Single
 * threaded; not for use inside berthd.
 */
#ifndef BERTH_CLIENT_CLIENT_H
#define BERTH_CLIENT_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util/error.h"

#define BERTH_DEFAULT_ADDR "unix:/run/berth/berthd.sock"

/* Timeouts in milliseconds.  Calls that block by design (LAUNCH waits for
 * pulls and fetches, WAIT for the container's end) use BERTH_NO_TIMEOUT. */
#define BERTH_CONNECT_TIMEOUT_MS 10000L
#define BERTH_CALL_TIMEOUT_MS 120000L
#define BERTH_NO_TIMEOUT 0L

typedef enum { BERTH_ADDR_UNIX, BERTH_ADDR_TCP } berth_addr_kind;

typedef struct berth_addr {
  berth_addr_kind kind;
  char *path; /* unix socket path (BERTH_ADDR_UNIX) */
  char *host; /* host name or IP, IPv6 without brackets (BERTH_ADDR_TCP) */
  int port;
} berth_addr;

typedef struct berth_client berth_client;

/* Parses "unix:PATH", "tcp:HOST:PORT" ("tcp:[::1]:5051" for IPv6) or a
 * bare path (a unix socket).  Clear *out with berth_addr_clear. */
int berth_addr_parse(const char *text, berth_addr *out, berth_error *err);
void berth_addr_clear(berth_addr *addr);

/* Reads a bearer token from a file: surrounding whitespace is dropped, and
 * the token must be non-empty and free of control characters (it goes into
 * a header).  Caller frees *token. */
int berth_token_read_file(const char *path, char **token, berth_error *err);

/* Creates a client for addr (copied).  token may be NULL; it is required
 * for tcp addresses, where berthd refuses requests without it. */
int berth_client_new(const berth_addr *addr, const char *token, berth_client **out, berth_error *err);
void berth_client_free(berth_client *client);

/* The address as the user wrote it, for messages ("unix:/run/...sock"). */
const char *berth_client_addr_text(const berth_client *client);

/* While *flag is non-zero, requests in flight abort within about a second
 * with BERTH_ECANCELED (a SIGINT handler sets it).  NULL disables. */
void berth_client_set_cancel(berth_client *client, volatile sig_atomic_t *flag);
/* *flag becomes 1 once a request's body has been handed to the kernel in
 * full: berthd will read it even if this process dies the next moment. */
void berth_client_set_sent_flag(berth_client *client, volatile sig_atomic_t *flag);

/* A raw reply.  body is NUL-terminated; release with berth_response_clear. */
typedef struct berth_response {
  long status;
  char *body;
  size_t len;
} berth_response;

void berth_response_clear(berth_response *resp);

/* Sends one request (method "GET" or "POST"; body NULL for GET) to path,
 * e.g. "/api/v1".  Fails only when no HTTP reply arrived: any status,
 * including 4xx/5xx, is returned in resp.  BERTH_EUNAVAIL means berthd
 * could not be reached, did not answer in time or closed the connection
 * (stopping, restarting): worth trying again. */
int berth_client_request(berth_client *client, const char *method, const char *path, const char *body, long timeout_ms,
                         berth_response *resp, berth_error *err);

/* Turns a non-2xx reply into an error whose message is berthd's one-line
 * text (API.md §2) and whose code matches the status (404 → ENOENT...). */
int berth_response_error(const berth_response *resp, berth_error *err);

/* POSTs request to /api/v1.  On a 2xx reply sets *status (may be NULL) and
 * *reply (new reference; an empty body gives {}); any other status is an
 * error carrying berthd's message. */
int berth_client_call(berth_client *client, json_t *request, long timeout_ms, long *status, json_t **reply,
                      berth_error *err);

/* GETs path and parses the 2xx reply as JSON, as berth_client_call. */
int berth_client_get_json(berth_client *client, const char *path, long timeout_ms, json_t **reply, berth_error *err);

/* Bytes of a streamed reply as they arrive; < 0 stops the request, which
 * then returns that value (err filled by the callback). */
typedef int (*berth_client_data_cb)(const char *buf, size_t len, void *data, berth_error *err);

/* POSTs body to path and hands a 2xx reply's body to cb piece by piece,
 * for as long as berthd keeps it open (no timeout; the cancel flag ends
 * it with BERTH_ECANCELED).  0 once berthd ended the reply; a non-2xx
 * reply is an error carrying berthd's message. */
int berth_client_stream(berth_client *client, const char *path, const char *body, berth_client_data_cb cb, void *data,
                        berth_error *err);

/* Cleanup helpers for __attribute__((cleanup)). */
void berth_cleanup_json(json_t **json);
void berth_cleanup_client(berth_client **client);
void berth_cleanup_response(berth_response *resp);

#define cleanup_json __attribute__((cleanup(berth_cleanup_json)))
#define cleanup_client __attribute__((cleanup(berth_cleanup_client)))
#define cleanup_response __attribute__((cleanup(berth_cleanup_response)))

#endif
