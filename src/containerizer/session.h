/* Sessions into a running container, for the API's upgraded calls: EXEC
 * (a command run through docker's exec, its stdio a hijacked stream) and
 * ATTACH_CONTAINER_INPUT (the task's stdin, through docker's attach).
 * The containerizer opens the docker side and hands the raw stream up;
 * the API relays it to its client.  Loop thread only. */
#ifndef BERTH_CONTAINERIZER_SESSION_H
#define BERTH_CONTAINERIZER_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "containerizer/containerizer.h"

/* After the exec's stream ends, docker may take a moment to record the
 * exit code (its stream closes before containerd's exit event lands):
 * the exec is inspected again this often, this many times. */
#define BERTH_EXEC_EXIT_RETRY_MS 50
#define BERTH_EXEC_EXIT_TRIES 100

typedef struct berth_cz_exec_opts {
  json_t *cmd;                /* array of strings (argv), borrowed */
  json_t *env;                /* array of "K=V" strings or NULL, borrowed */
  const char *user, *workdir; /* NULL: the container's */
  bool stdin_open;
  bool tty;
  unsigned rows, cols; /* initial terminal size with tty; 0: docker's default */
} berth_cz_exec_opts;

typedef struct berth_cz_session berth_cz_session;

/* Once, unless the session was closed first.  rc 0: the stream is ready
 * (berth_cz_session_stream); extra holds its first bytes (valid during
 * the call).  Else a berth code and err. */
typedef void (*berth_cz_session_cb)(int rc, const berth_error *err, const char *extra, size_t extra_len, void *data);

/* Starts an exec in the running container id.  Returns <0 at once for an
 * unknown id (BERTH_ENOENT) or one that is not RUNNING (BERTH_ECONFLICT);
 * else *out is the session (close it in every case) and cb reports. */
int berth_cz_exec_open(berth_containerizer *cz, const char *id, const berth_cz_exec_opts *opts, berth_cz_session_cb cb,
                       void *data, berth_cz_session **out, berth_error *err);

/* Attaches to the stdin of the running container id, which must have
 * been launched with container.docker.stdin (else BERTH_ECONFLICT). */
int berth_cz_attach_input_open(berth_containerizer *cz, const char *id, berth_cz_session_cb cb, void *data,
                               berth_cz_session **out, berth_error *err);

/* The hijacked docker stream (after cb reported 0): the caller reads and
 * writes it and may use its data field. */
uv_stream_t *berth_cz_session_stream(berth_cz_session *s);

/* Once the exec's stream has ended: its exit code, from docker's inspect
 * (retried while docker still reports it running); started is false when
 * the command never ran (docker reports Pid 0: not found or not
 * executable, both exit code 126 in docker's exec).  cb once, unless the
 * session is closed first. */
typedef void (*berth_cz_exit_cb)(int rc, int exit_code, bool started, const berth_error *err, void *data);
void berth_cz_session_exit_code(berth_cz_session *s, berth_cz_exit_cb cb, void *data);

/* Ends the docker side (an exec whose stream is cut runs on until its
 * command ends, as with docker) and frees s; no callback after this. */
void berth_cz_session_close(berth_cz_session *s);

#endif
