#include "client/files.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/base64.h"
#include "client/calls.h"
#include "util/alloc.h"

void berth_chunk_clear(berth_chunk *chunk) {
  free(chunk->data);
  memset(chunk, 0, sizeof(*chunk));
}

static void cleanup_chunk(berth_chunk *chunk) { berth_chunk_clear(chunk); }

/* ---- requests and replies ---- */

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '~' || c == '/';
}

char *berth_url_escape(const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  char *out = berth_malloc(strlen(s) * 3 + 1);
  char *p = out;
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (unreserved(*c)) {
      *p++ = (char)*c;
    } else {
      *p++ = '%';
      *p++ = hex[*c >> 4];
      *p++ = hex[*c & 15];
    }
  }
  *p = '\0';
  return out;
}

char *berth_files_read_path(const char *container_id, const char *file, int64_t offset, size_t length) {
  cleanup_free char *path = berth_asprintf("/sandboxes/%s/%s", container_id, file);
  cleanup_free char *escaped = berth_url_escape(path);
  return berth_asprintf("/files/read?path=%s&offset=%" PRId64 "&length=%zu&encoding=base64", escaped, offset, length);
}

int berth_files_parse_read(json_t *reply, int64_t requested, berth_chunk *out, berth_error *err) {
  memset(out, 0, sizeof(*out));
  json_t *data = json_object_get(reply, "data");
  if (!json_is_string(data))
    return berth_error_set(err, BERTH_EIO, "unexpected /files/read reply from berthd: no data");
  json_t *offset = json_object_get(reply, "offset");
  int ret = berth_base64_decode(json_string_value(data), json_string_length(data), &out->data, &out->len, err);
  if (ret < 0) return berth_error_prefix(err, "/files/read reply from berthd");
  out->offset = json_is_integer(offset) ? (int64_t)json_integer_value(offset) : requested;
  /* Mesos answers at the offset asked for; anything else would make the
   * follower repeat or skip output, or loop forever on the same bytes. */
  if (out->offset != requested) {
    int64_t got = out->offset;
    berth_chunk_clear(out);
    return berth_error_set(err, BERTH_EIO, "berthd answered a read at offset %" PRId64 " with offset %" PRId64,
                           requested, got);
  }
  return 0;
}

int berth_files_read(berth_client *client, const char *container_id, const char *file, int64_t offset, size_t length,
                     berth_chunk *out, berth_error *err) {
  cleanup_free char *path = berth_files_read_path(container_id, file, offset, length);
  cleanup_json json_t *reply = NULL;
  int ret = berth_client_get_json(client, path, BERTH_CALL_TIMEOUT_MS, &reply, err);
  if (ret < 0) return ret;
  return berth_files_parse_read(reply, offset, out, err);
}

/* ---- following ---- */

static const char *fd_name(int fd) {
  return fd == STDOUT_FILENO ? "stdout" : fd == STDERR_FILENO ? "stderr" : "output";
}

/* Copies all of buf: write(2) may take part of it, and an inherited
 * non-blocking stdout may say EAGAIN. */
static int write_all(int fd, const unsigned char *buf, size_t len, berth_error *err) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd pfd = {.fd = fd, .events = POLLOUT};
      poll(&pfd, 1, -1);
      continue;
    }
    if (n < 0) return berth_error_errno(err, errno, "write to %s", fd_name(fd));
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

int berth_follow_advance(berth_follow_state *st, int stream, const berth_chunk *chunk, berth_error *err) {
  if (stream < 0 || stream > 1) return berth_error_set(err, BERTH_EINTERNAL, "no stream %d to follow", stream);
  if (chunk->offset != st->offsets[stream])
    return berth_error_set(err, BERTH_EIO, "berthd answered a read at offset %" PRId64 " with offset %" PRId64,
                           st->offsets[stream], chunk->offset);
  st->offsets[stream] += (int64_t)chunk->len;
  return 0;
}

/* One read of each followed file.  *got is the number of new bytes. */
static int read_round(berth_client *client, const char *id, const berth_follow_opts *o, berth_follow_state *st,
                      size_t *got, berth_error *err) {
  static const char *const files[2] = {"stdout", "stderr"};
  *got = 0;
  for (int i = 0; i < 2; i++) {
    if (o->out_fd[i] < 0) continue;
    __attribute__((cleanup(cleanup_chunk))) berth_chunk chunk = {0};
    int ret = berth_files_read(client, id, files[i], st->offsets[i], BERTH_FILES_CHUNK, &chunk, err);
    if (ret != BERTH_EUNAVAIL && ret != BERTH_ECANCELED) st->replies++;
    /* While following, a file berthd has not created yet is just empty;
     * the state check notices a container that is gone. */
    if (ret == BERTH_ENOENT && o->follow) continue;
    if (ret < 0) return ret;
    ret = write_all(o->out_fd[i], chunk.data, chunk.len, err);
    if (ret < 0) return ret;
    ret = berth_follow_advance(st, i, &chunk, err);
    if (ret < 0) return ret;
    *got += chunk.len;
  }
  return 0;
}

static int check_terminated(berth_client *client, const char *id, berth_follow_state *st, berth_error *err) {
  cleanup_json json_t *list = NULL;
  int ret = berth_call_get_containers(client, &list, err);
  if (ret != BERTH_EUNAVAIL && ret != BERTH_ECANCELED) st->replies++;
  if (ret < 0) return ret;
  json_t *container = berth_containers_find(list, id);
  if (!container) return berth_error_set(err, BERTH_ENOENT, "no such container: %s", id);
  st->terminated = strcmp(berth_container_stage(container), "TERMINATED") == 0;
  return 0;
}

static int handle_signals(const berth_follow_opts *o, berth_follow_state *st, berth_error *err) {
  if (!o->signals || *o->signals == 0) return 0;
  if (*o->signals > 1) return berth_error_set(err, BERTH_ECANCELED, "interrupted");
  if (!st->signal_handled) st->signal_handled = !o->on_signal_cb || o->on_signal_cb(o->data);
  return 0;
}

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  /* A signal cuts the sleep short, which is what we want: react at once. */
  nanosleep(&ts, NULL);
}

int berth_follow_resume(berth_client *client, const char *container_id, const berth_follow_opts *o,
                        berth_follow_state *st, berth_error *err) {
  for (;;) {
    int ret = handle_signals(o, st, err);
    if (ret < 0) return ret;
    size_t got = 0;
    ret = read_round(client, container_id, o, st, &got, err);
    if (ret < 0) return ret;
    if (got > 0) continue;
    /* A round with nothing new after the container was seen terminated
     * means both files are drained: its writer is gone. */
    if (!o->follow || st->terminated) return 0;
    ret = check_terminated(client, container_id, st, err);
    if (ret < 0) return ret;
    if (!st->terminated) sleep_ms(BERTH_FOLLOW_INTERVAL_MS);
  }
}

int berth_follow(berth_client *client, const char *container_id, const berth_follow_opts *o, berth_error *err) {
  berth_follow_state st = {0};
  return berth_follow_resume(client, container_id, o, &st, err);
}
