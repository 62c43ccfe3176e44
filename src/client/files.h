/* Reading a container's sandbox files through berthd's files API
 * (API.md §4), and following its stdout/stderr as `docker logs -f` does. */
#ifndef BERTH_CLIENT_FILES_H
#define BERTH_CLIENT_FILES_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "client/client.h"
#include "util/error.h"

/* Bytes per /files/read call: small enough to keep each reply (base64 is
 * 4/3 larger) quick, large enough that 5 MB of output takes ~80 calls. */
#define BERTH_FILES_CHUNK 65536

/* How long the follower sleeps when a round brought no new data. */
#define BERTH_FOLLOW_INTERVAL_MS 100

typedef struct berth_chunk {
  unsigned char *data; /* decoded bytes, caller frees (berth_chunk_clear) */
  size_t len;
  int64_t offset; /* file offset of data[0] */
} berth_chunk;

void berth_chunk_clear(berth_chunk *chunk);

/* Percent-encodes s for a URL query value, keeping RFC 3986 unreserved
 * characters and '/'.  Caller frees. */
char *berth_url_escape(const char *s);

/* "/files/read?path=/sandboxes/<id>/<file>&offset=N&length=M&encoding=base64".
 * Caller frees. */
char *berth_files_read_path(const char *container_id, const char *file, int64_t offset, size_t length);

/* Decodes a /files/read reply {"data": base64, "offset": N}; a missing
 * offset means the requested one, a different one is an error. */
int berth_files_parse_read(json_t *reply, int64_t requested, berth_chunk *out, berth_error *err);

/* Reads up to length bytes of the sandbox file at offset.  A file that
 * does not exist is BERTH_ENOENT. */
int berth_files_read(berth_client *client, const char *container_id, const char *file, int64_t offset, size_t length,
                     berth_chunk *out, berth_error *err);

typedef struct berth_follow_opts {
  /* Where the sandbox's "stdout" and "stderr" are copied; -1 skips one. */
  int out_fd[2];
  /* false: copy what is there now and return.  true: keep polling until
   * the container is TERMINATED, then drain both files and return. */
  bool follow;
  /* Count of SIGINT/SIGTERM seen by the caller's handler, or NULL.  After
   * the first, on_signal_cb runs at the start of each round until it
   * returns true (`berth run` destroys the container, trying again while
   * berthd is away, and keeps streaming to show its end); at the second,
   * berth_follow gives up with BERTH_ECANCELED. */
  volatile sig_atomic_t *signals;
  bool (*on_signal_cb)(void *data);
  void *data;
} berth_follow_opts;

/* Where a follow stands, so that one cut short (berthd restarting) goes
 * on from the byte it had reached on each stream: nothing repeated,
 * nothing skipped. */
typedef struct berth_follow_state {
  int64_t offsets[2];    /* bytes of stdout and stderr copied so far */
  bool terminated;       /* the container was seen TERMINATED */
  bool signal_handled;   /* on_signal_cb returned true */
  unsigned long replies; /* calls berthd answered, for a caller's backoff */
} berth_follow_state;

/* Takes a chunk read at st->offsets[stream] into account once its bytes
 * are written: the offset moves by exactly their number.  A chunk at any
 * other offset is refused (it would repeat or skip output). */
int berth_follow_advance(berth_follow_state *st, int stream, const berth_chunk *chunk, berth_error *err);

/* Follows from *st (zeroed: from the start).  On any error *st says what
 * was copied, so calling again with it resumes where this one stopped. */
int berth_follow_resume(berth_client *client, const char *container_id, const berth_follow_opts *opts,
                        berth_follow_state *st, berth_error *err);

/* berth_follow_resume from the start. */
int berth_follow(berth_client *client, const char *container_id, const berth_follow_opts *opts, berth_error *err);

#endif
