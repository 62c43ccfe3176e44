/* The CLI's end of berthd's upgraded calls (EXEC, ATTACH_CONTAINER_INPUT):
 * a plain socket, the request written by hand with "Connection: Upgrade"
 * and "Upgrade: tcp", and the answer's head read (util/httphead.h).  On
 * 101 the socket is the session's raw stream; any other answer is an
 * error carrying berthd's one-line message.  Blocking; libcurl cannot hand
 * over an upgraded connection. */
#ifndef BERTH_CLIENT_UPGRADE_H
#define BERTH_CLIENT_UPGRADE_H

#include <jansson.h>
#include <stddef.h>

#include "client/client.h"
#include "util/error.h"

/* The address and token as the other commands find them: addr_text, else
 * BERTH_ADDR, else the default socket; for TCP the token from token_file,
 * else BERTH_TOKEN.  Caller clears *addr and frees *token. */
int berth_upgrade_resolve(const char *addr_text, const char *token_file, berth_addr *addr, char **token,
                          berth_error *err);

/* A client to berthd at addr_text (NULL: $BERTH_ADDR, else the default
 * socket), with the token from token_file or $BERTH_TOKEN for TCP. */
int berth_client_open(const char *addr_text, const char *token_file, berth_client **out, berth_error *err);

/* POSTs request to /api/v1 as an upgrade.  On 101, *fd is the stream
 * (blocking, close-on-exec; caller closes) and *extra (caller frees) the
 * stream bytes that came with the head. */
int berth_upgrade_call(const berth_addr *addr, const char *token, json_t *request, int *fd, char **extra,
                       size_t *extra_len, berth_error *err);

/* Writes all of buf to fd (EINTR retried); <0 with errno set on error. */
int berth_write_all(int fd, const char *buf, size_t len);

#endif
