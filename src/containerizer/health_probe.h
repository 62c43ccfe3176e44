/* HTTP and TCP health probes (API.md §3): a connection to 127.0.0.1:<port>
 * made inside the container's network namespace, as Mesos makes it, by a
 * short-lived thread of its own (setns(2) changes only the calling
 * thread), so the loop never blocks.  Each thread owns its job; results
 * come back to the loop through the hub, which outlives any thread still
 * running when berthd closes it.  Knows nothing of containers. */
#ifndef BERTH_CONTAINERIZER_HEALTH_PROBE_H
#define BERTH_CONTAINERIZER_HEALTH_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "util/error.h"

/* What a probe reads of an HTTP answer at most: the status line must be
 * in it.  A hostile server gets no more of berthd's memory than this. */
#define BERTH_PROBE_MAX_READ 1024
/* Probe threads running at once, over all containers. */
#define BERTH_PROBE_MAX_THREADS 128
#define BERTH_PROBE_MESSAGE_MAX 256

typedef struct berth_probe_request {
  uint64_t token; /* handed back with the result */
  int pid;        /* a process of the container (docker's State.Pid) */
  /* Its start time (field 22 of /proc/<pid>/stat) when the pid was read:
   * a pid reused since then is refused.  0: not checked. */
  unsigned long long starttime;
  const char *proc_root; /* "/proc" (copied) */
  bool http;             /* else TCP: connecting is the check */
  bool ipv6;             /* ::1 instead of 127.0.0.1 */
  int port;
  const char *path; /* HTTP (copied) */
  double timeout;   /* seconds, for everything the thread does */
} berth_probe_request;

typedef struct berth_probe_result {
  uint64_t token;
  int rc;          /* 0: connected (and, for HTTP, a status line came) */
  int http_status; /* HTTP: the status read; 0 when none */
  char message[BERTH_PROBE_MESSAGE_MAX];
} berth_probe_result;

typedef void (*berth_probe_result_cb)(const berth_probe_result *result, void *data);
typedef struct berth_probe_hub berth_probe_hub;

/* Loop thread only.  cb runs on the loop for each finished probe until
 * berth_probe_hub_close. */
berth_probe_hub *berth_probe_hub_new(uv_loop_t *loop, berth_probe_result_cb cb, void *data);
/* No callback after this; threads still running finish on their own and
 * the last one out frees what is left. */
void berth_probe_hub_close(berth_probe_hub *hub);
/* Starts a probe thread; fails (no callback) when too many run. */
int berth_probe_start(berth_probe_hub *hub, const berth_probe_request *req, berth_error *err);

/* The status of an HTTP answer from its first bytes ("HTTP/1.1 200 OK").
 * 1: *status set; 0: a valid beginning, more bytes needed; -1: not an
 * HTTP status line.  Looks at no more than len bytes. */
int berth_http_status_parse(const char *buf, size_t len, int *status);

/* Field 22 of <proc_root>/<pid>/stat (the start time in clock ticks);
 * 0 when it cannot be read.  The comm field may hold any byte, ')' too:
 * the fields are found after the last ')'. */
unsigned long long berth_proc_starttime(const char *proc_root, int pid);

#endif
