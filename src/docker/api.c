#include "docker/api.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "docker/stream.h"
#include "util/alloc.h"

/* Plain calls get this long; streams and waits have no limit. */
#define CALL_TIMEOUT_MS 60000L
#define MAX_PULL_LINE (1024u * 1024u)

typedef struct json_call {
  berth_docker_json_cb cb;
  void *data;
  void (*release)(void *data);
} json_call;

static char *escape(const char *s) {
  char *e = curl_easy_escape(NULL, s, 0);
  char *out = berth_strdup(e);
  curl_free(e);
  return out;
}

/* Docker's refusals carry {"message": "..."}: that is what users need. */
static int refusal(int status, const char *body, size_t len, berth_error *err) {
  json_t *j = json_loadb(body, len, 0, NULL);
  const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
  int code = status == 404 ? BERTH_ENOENT : status == 409 ? BERTH_ECONFLICT : BERTH_EDOCKER;
  if (msg)
    berth_error_set(err, code, "%s", msg);
  else
    berth_error_set(err, code, "docker answered HTTP %d", status);
  json_decref(j);
  return code;
}

static void json_done_cb(int status, const char *body, size_t len, const berth_error *cerr, void *data) {
  json_call *call = data;
  berth_error err = {0};
  json_t *answer = NULL;
  int rc = 0;
  if (cerr) {
    err = *cerr;
    rc = cerr->code;
  } else if (status < 200 || status >= 300) {
    rc = refusal(status, body, len, &err);
  } else if (len > 0) {
    json_error_t jerr;
    answer = json_loadb(body, len, 0, &jerr);
    if (!answer) rc = berth_error_set(&err, BERTH_EDOCKER, "malformed JSON from docker: %s", jerr.text);
  }
  call->cb(rc, answer, rc ? &err : NULL, call->data);
  json_decref(answer);
}

static void json_call_release(void *data) {
  json_call *call = data;
  if (call->release) call->release(call->data);
  free(call);
}

void berth_docker_call_set_release(berth_docker_req *req, void (*release)(void *data)) {
  ((json_call *)berth_docker_req_data(req))->release = release;
}

static berth_docker_req *json_request(berth_docker *d, const char *method, const char *path, json_t *body,
                                      long timeout_ms, int unversioned, berth_docker_json_cb cb, void *data) {
  json_call *call = berth_calloc(1, sizeof(*call));
  call->cb = cb;
  call->data = data;
  berth_docker_req *req =
      berth_docker_request(d, method, path, body, timeout_ms, unversioned, NULL, json_done_cb, call);
  berth_docker_req_set_release(req, json_call_release);
  return req;
}

berth_docker_req *berth_docker_version_get(berth_docker *d, berth_docker_json_cb cb, void *data) {
  return json_request(d, "GET", "/version", NULL, 10000L, 1, cb, data);
}

static int parse_version(const char *v, int *major, int *minor) {
  return v && sscanf(v, "%d.%d", major, minor) == 2 ? 0 : -1;
}

int berth_docker_negotiate(const char *daemon_version, char *out, size_t len, berth_error *err) {
  int dmaj, dmin, maxmaj, maxmin, minmaj, minmin;
  if (parse_version(daemon_version, &dmaj, &dmin) < 0)
    return berth_error_set(err, BERTH_EDOCKER, "docker reported no usable API version ('%s')",
                           daemon_version ? daemon_version : "");
  parse_version(BERTH_DOCKER_API_MAX, &maxmaj, &maxmin);
  parse_version(BERTH_DOCKER_API_MIN, &minmaj, &minmin);
  if (dmaj < minmaj || (dmaj == minmaj && dmin < minmin))
    return berth_error_set(err, BERTH_EDOCKER, "docker API version %s is older than %s, the oldest berth supports",
                           daemon_version, BERTH_DOCKER_API_MIN);
  if (dmaj > maxmaj || (dmaj == maxmaj && dmin > maxmin))
    snprintf(out, len, "%s", BERTH_DOCKER_API_MAX);
  else
    snprintf(out, len, "%d.%d", dmaj, dmin);
  return 0;
}

berth_docker_req *berth_docker_image_inspect(berth_docker *d, const char *ref, berth_docker_json_cb cb, void *data) {
  cleanup_free char *path = berth_asprintf("/images/%s/json", ref);
  return json_request(d, "GET", path, NULL, CALL_TIMEOUT_MS, 0, cb, data);
}

berth_docker_req *berth_docker_image_remove(berth_docker *d, const char *ref, berth_docker_json_cb cb, void *data) {
  cleanup_free char *path = berth_asprintf("/images/%s", ref);
  return json_request(d, "DELETE", path, NULL, CALL_TIMEOUT_MS, 0, cb, data);
}

berth_docker_req *berth_docker_info(berth_docker *d, berth_docker_json_cb cb, void *data) {
  return json_request(d, "GET", "/info", NULL, CALL_TIMEOUT_MS, 0, cb, data);
}

void berth_docker_split_ref(const char *ref, char **repo, char **tag) {
  const char *at = strchr(ref, '@');
  if (at) {
    *repo = berth_strndup(ref, (size_t)(at - ref));
    *tag = berth_strdup(at + 1);
    return;
  }
  const char *slash = strrchr(ref, '/');
  const char *colon = strrchr(slash ? slash : ref, ':');
  if (colon) {
    *repo = berth_strndup(ref, (size_t)(colon - ref));
    *tag = berth_strdup(colon + 1);
  } else {
    *repo = berth_strdup(ref);
    *tag = berth_strdup("latest");
  }
}

/* Layers a pull reports on; more are counted in totals but not tracked. */
#define MAX_PULL_LAYERS 256

typedef struct pull_layer {
  char id[72];
  uint64_t current, total;
  bool done;
} pull_layer;

typedef struct pull_call {
  berth_lines lines;
  berth_docker_result_cb cb;
  berth_docker_progress_cb progress;
  void *data;
  char *error; /* first {"error": ...} seen in the stream */
  long timeout_ms;
  struct timespec started;
  pull_layer layers[MAX_PULL_LAYERS];
  size_t n_layers;
} pull_call;

static pull_layer *layer_of(pull_call *call, const char *id, bool add) {
  for (size_t i = 0; i < call->n_layers; i++)
    if (!strcmp(call->layers[i].id, id)) return &call->layers[i];
  if (!add || call->n_layers == MAX_PULL_LAYERS || strlen(id) >= sizeof(call->layers[0].id)) return NULL;
  pull_layer *l = &call->layers[call->n_layers++];
  snprintf(l->id, sizeof(l->id), "%s", id);
  return l;
}

/* Docker's progress messages per layer: "Pulling fs layer" / "Waiting" /
 * "Already exists" name it, "Downloading" carries current and total
 * bytes, "Download complete" and "Pull complete" end its download. */
static void track_progress(pull_call *call, json_t *msg) {
  const char *status = json_string_value(json_object_get(msg, "status"));
  const char *id = json_string_value(json_object_get(msg, "id"));
  if (!status || !id) return;
  bool names = !strcmp(status, "Pulling fs layer") || !strcmp(status, "Waiting") || !strcmp(status, "Already exists");
  pull_layer *l = layer_of(call, id, names);
  if (!l) return;
  json_t *detail = json_object_get(msg, "progressDetail");
  if (!strcmp(status, "Downloading")) {
    json_int_t cur = json_integer_value(json_object_get(detail, "current"));
    json_int_t tot = json_integer_value(json_object_get(detail, "total"));
    if (cur > 0) l->current = (uint64_t)cur;
    if (tot > 0) l->total = (uint64_t)tot;
  } else if (!strcmp(status, "Download complete") || !strcmp(status, "Verifying Checksum")) {
    l->current = l->total;
  } else if (!strcmp(status, "Pull complete") || !strcmp(status, "Already exists")) {
    l->current = l->total;
    l->done = true;
  } else {
    return;
  }
  if (!call->progress) return;
  berth_pull_progress p = {0};
  for (size_t i = 0; i < call->n_layers; i++) {
    p.layers_total++;
    p.layers_done += call->layers[i].done;
    p.bytes_done += call->layers[i].current;
    p.bytes_total += call->layers[i].total;
  }
  call->progress(&p, call->data);
}

static int pull_line_cb(const char *line, size_t len, void *data) {
  pull_call *call = data;
  json_t *msg = json_loadb(line, len, 0, NULL);
  if (!msg) return 0; /* progress lines we cannot read do not matter */
  const char *e = json_string_value(json_object_get(msg, "error"));
  if (e && !call->error) call->error = berth_strdup(e);
  track_progress(call, msg);
  json_decref(msg);
  return 0;
}

static int pull_chunk_cb(const char *buf, size_t len, void *data) {
  pull_call *call = data;
  berth_error err;
  return berth_lines_feed(&call->lines, buf, len, &err) < 0 ? BERTH_EDOCKER : 0;
}

static long elapsed_ms(const struct timespec *since) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long)((now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000);
}

static void pull_done_cb(int status, const char *body, size_t len, const berth_error *cerr, void *data) {
  pull_call *call = data;
  berth_error err = {0};
  int rc = 0;
  if (cerr && call->timeout_ms > 0 && elapsed_ms(&call->started) >= call->timeout_ms) {
    /* curl closed the connection at the deadline: dockerd stops the pull. */
    rc = berth_error_set(&err, BERTH_EDOCKER, "pull took longer than --docker_pull_timeout (%ld ms)", call->timeout_ms);
  } else if (cerr) {
    err = *cerr;
    rc = cerr->code;
  } else if (status < 200 || status >= 300) {
    rc = refusal(status, body, len, &err);
  } else {
    berth_lines_finish(&call->lines, &err);
    if (call->error) rc = berth_error_set(&err, BERTH_EDOCKER, "%s", call->error);
  }
  call->cb(rc, rc ? &err : NULL, call->data);
}

static void pull_release(void *data) {
  pull_call *call = data;
  berth_lines_free(&call->lines);
  free(call->error);
  free(call);
}

berth_docker_req *berth_docker_image_pull(berth_docker *d, const char *ref, const char *registry_auth, long timeout_ms,
                                          berth_docker_progress_cb progress, berth_docker_result_cb cb, void *data) {
  cleanup_free char *repo = NULL;
  cleanup_free char *tag = NULL;
  berth_docker_split_ref(ref, &repo, &tag);
  cleanup_free char *erepo = escape(repo);
  cleanup_free char *etag = escape(tag);
  cleanup_free char *path = berth_asprintf("/images/create?fromImage=%s&tag=%s", erepo, etag);
  pull_call *call = berth_calloc(1, sizeof(*call));
  call->cb = cb;
  call->progress = progress;
  call->data = data;
  call->timeout_ms = timeout_ms;
  clock_gettime(CLOCK_MONOTONIC, &call->started);
  berth_lines_init(&call->lines, MAX_PULL_LINE, pull_line_cb, call);
  cleanup_free char *header = registry_auth ? berth_asprintf("X-Registry-Auth: %s", registry_auth) : NULL;
  berth_docker_req *req =
      berth_docker_request_with_header(d, "POST", path, NULL, timeout_ms, 0, header, pull_chunk_cb, pull_done_cb, call);
  berth_docker_req_set_release(req, pull_release);
  return req;
}

berth_docker_req *berth_docker_container_create(berth_docker *d, const char *name, json_t *config,
                                                berth_docker_json_cb cb, void *data) {
  cleanup_free char *ename = escape(name);
  cleanup_free char *path = berth_asprintf("/containers/create?name=%s", ename);
  return json_request(d, "POST", path, config, CALL_TIMEOUT_MS, 0, cb, data);
}

berth_docker_req *berth_docker_container_start(berth_docker *d, const char *id, berth_docker_json_cb cb, void *data) {
  cleanup_free char *path = berth_asprintf("/containers/%s/start", id);
  return json_request(d, "POST", path, NULL, CALL_TIMEOUT_MS, 0, cb, data);
}

berth_docker_req *berth_docker_container_kill(berth_docker *d, const char *id, int signal, berth_docker_json_cb cb,
                                              void *data) {
  cleanup_free char *path = berth_asprintf("/containers/%s/kill?signal=%d", id, signal);
  return json_request(d, "POST", path, NULL, CALL_TIMEOUT_MS, 0, cb, data);
}

berth_docker_req *berth_docker_container_remove(berth_docker *d, const char *id, berth_docker_json_cb cb, void *data) {
  cleanup_free char *path = berth_asprintf("/containers/%s?force=1&v=1", id);
  return json_request(d, "DELETE", path, NULL, CALL_TIMEOUT_MS, 0, cb, data);
}

berth_docker_req *berth_docker_container_update(berth_docker *d, const char *id, json_t *resources,
                                                berth_docker_json_cb cb, void *data) {
  cleanup_free char *path = berth_asprintf("/containers/%s/update", id);
  return json_request(d, "POST", path, resources, CALL_TIMEOUT_MS, 0, cb, data);
}

berth_docker_req *berth_docker_container_inspect(berth_docker *d, const char *id, berth_docker_json_cb cb, void *data) {
  cleanup_free char *path = berth_asprintf("/containers/%s/json", id);
  return json_request(d, "GET", path, NULL, CALL_TIMEOUT_MS, 0, cb, data);
}

berth_docker_req *berth_docker_exec_create(berth_docker *d, const char *id, json_t *config, berth_docker_json_cb cb,
                                           void *data) {
  cleanup_free char *path = berth_asprintf("/containers/%s/exec", id);
  return json_request(d, "POST", path, config, CALL_TIMEOUT_MS, 0, cb, data);
}

berth_docker_req *berth_docker_exec_inspect(berth_docker *d, const char *exec_id, berth_docker_json_cb cb, void *data) {
  cleanup_free char *path = berth_asprintf("/exec/%s/json", exec_id);
  return json_request(d, "GET", path, NULL, CALL_TIMEOUT_MS, 0, cb, data);
}

berth_docker_req *berth_docker_exec_resize(berth_docker *d, const char *exec_id, unsigned rows, unsigned cols,
                                           berth_docker_json_cb cb, void *data) {
  cleanup_free char *path = berth_asprintf("/exec/%s/resize?h=%u&w=%u", exec_id, rows, cols);
  return json_request(d, "POST", path, NULL, CALL_TIMEOUT_MS, 0, cb, data);
}

berth_docker_req *berth_docker_container_wait(berth_docker *d, const char *id, berth_docker_json_cb cb, void *data) {
  cleanup_free char *path = berth_asprintf("/containers/%s/wait", id);
  return json_request(d, "POST", path, NULL, 0, 0, cb, data);
}

berth_docker_req *berth_docker_container_list(berth_docker *d, const char *label, berth_docker_json_cb cb, void *data) {
  json_t *filters = json_pack("{s:[s]}", "label", label);
  cleanup_free char *text = json_dumps(filters, JSON_COMPACT);
  json_decref(filters);
  cleanup_free char *etext = escape(text);
  cleanup_free char *path = berth_asprintf("/containers/json?all=1&filters=%s", etext);
  return json_request(d, "GET", path, NULL, CALL_TIMEOUT_MS, 0, cb, data);
}

/* Frames of one stream that follow each other in what one socket event
 * brought are handed on as one piece, up to this much: a task writing fast
 * comes in frames of a few KiB (one per write of the task that dockerd
 * picked up), and curl hands a read on in 16 KiB pieces; one sandbox write
 * per frame or piece was where berthd's capture spent its syscalls (perf,
 * BENCHMARKS.md figure 10).  Nothing stays held past the event: client.c
 * calls the flush when curl is done with it. */
#define COALESCE_BYTES (64u * 1024u)
typedef struct logs_call {
  berth_demux demux;
  void (*attached)(void *data);
  berth_docker_output_cb out;
  berth_docker_result_cb cb;
  void *data;
  berth_error stream_err;
  char *pend; /* COALESCE_BYTES while an event's frames are gathered, else NULL */
  size_t pend_len;
  size_t pend_bytes_event; /* payload bytes of the current socket event */
  int pend_stream;
} logs_call;

static void logs_call_free(void *data) {
  logs_call *call = data;
  free(call->pend);
  free(call);
}

static int flush_pending(logs_call *call) {
  if (!call->pend_len) return 0;
  size_t n = call->pend_len;
  call->pend_len = 0;
  return call->out(call->pend_stream, call->pend, n, call->data);
}

static int logs_frame_cb(int stream, const char *buf, size_t len, void *data) {
  logs_call *call = data;
  if (stream != BERTH_STREAM_STDOUT && stream != BERTH_STREAM_STDERR) return 0;
  if (call->pend_len && (stream != call->pend_stream || call->pend_len + len > COALESCE_BYTES)) {
    int rc = flush_pending(call);
    if (rc) return rc;
  }
  call->pend_bytes_event += len;
  if (len >= COALESCE_BYTES) return call->out(stream, buf, len, call->data);
  if (!call->pend) call->pend = berth_malloc(COALESCE_BYTES);
  memcpy(call->pend + call->pend_len, buf, len);
  call->pend_len += len;
  call->pend_stream = stream;
  return 0;
}

static int logs_chunk_cb(const char *buf, size_t len, void *data) {
  logs_call *call = data;
  return berth_demux_feed(&call->demux, buf, len, &call->stream_err);
}

static int logs_flush_cb(void *data) {
  logs_call *call = data;
  int rc = flush_pending(call);
  if (rc < 0 && !call->stream_err.code) berth_error_set(&call->stream_err, rc, "stream reader stopped");
  /* A quiet stream keeps no buffer between events. */
  if (call->pend && call->pend_bytes_event < COALESCE_BYTES / 2) {
    free(call->pend);
    call->pend = NULL;
  }
  call->pend_bytes_event = 0;
  return rc < 0 ? rc : 0;
}

static void logs_done_cb(int status, const char *body, size_t len, const berth_error *cerr, void *data) {
  logs_call *call = data;
  berth_error err = {0};
  int rc = 0;
  if (call->stream_err.code) {
    err = call->stream_err;
    rc = err.code;
  } else if (cerr) {
    err = *cerr;
    rc = cerr->code;
  } else if (status < 200 || status >= 300) {
    rc = refusal(status, body, len, &err);
  } else if (!berth_demux_at_boundary(&call->demux)) {
    rc = berth_error_set(&err, BERTH_EDOCKER, "log stream ended inside a frame");
  }
  call->cb(rc, rc ? &err : NULL, call->data);
}

/* The logs and attach streams share the demultiplexing reader. */
static berth_docker_req *output_stream(berth_docker *d, const char *method, const char *path, json_t *body,
                                       berth_docker_output_cb out, berth_docker_result_cb done, void *data) {
  logs_call *call = berth_calloc(1, sizeof(*call));
  call->out = out;
  call->cb = done;
  call->data = data;
  berth_demux_init(&call->demux, logs_frame_cb, call);
  berth_docker_req *req = berth_docker_request(d, method, path, body, 0, 0, logs_chunk_cb, logs_done_cb, call);
  berth_docker_req_set_release(req, logs_call_free);
  berth_docker_req_set_flush(req, logs_flush_cb);
  return req;
}

static void attach_headers_cb(void *data) {
  logs_call *call = data;
  call->attached(call->data);
}

berth_docker_req *berth_docker_container_attach(berth_docker *d, const char *id, berth_docker_output_cb out,
                                                void (*attached)(void *data), berth_docker_result_cb done, void *data) {
  cleanup_free char *path = berth_asprintf("/containers/%s/attach?stream=1&stdout=1&stderr=1", id);
  berth_docker_req *req = output_stream(d, "POST", path, NULL, out, done, data);
  berth_docker_req_set_headers_cb(req, attach_headers_cb);
  ((logs_call *)berth_docker_req_data(req))->attached = attached;
  return req;
}

berth_docker_req *berth_docker_container_logs(berth_docker *d, const char *id, int follow, berth_docker_output_cb out,
                                              berth_docker_result_cb done, void *data) {
  cleanup_free char *path = berth_asprintf("/containers/%s/logs?follow=%d&stdout=1&stderr=1", id, follow ? 1 : 0);
  return output_stream(d, "GET", path, NULL, out, done, data);
}

/* Not detached, so dockerd keeps the stream open until the process ends
 * (and its output is read): the end of the stream is the end of the
 * command, and no polling is needed.  An exec made without attached
 * streams would answer at once instead. */
berth_docker_req *berth_docker_exec_start(berth_docker *d, const char *exec_id, berth_docker_output_cb out,
                                          berth_docker_result_cb done, void *data) {
  cleanup_free char *path = berth_asprintf("/exec/%s/start", exec_id);
  json_t *body = json_pack("{s:b,s:b}", "Detach", 0, "Tty", 0);
  berth_docker_req *req = output_stream(d, "POST", path, body, out, done, data);
  json_decref(body);
  return req;
}
