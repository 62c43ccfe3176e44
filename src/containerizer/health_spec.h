/* The health_check of a launch (API.md §3, Mesos's HealthCheck) decoded
 * and validated into plain C values.  Pure: no I/O, no loop. */
#ifndef BERTH_CONTAINERIZER_HEALTH_SPEC_H
#define BERTH_CONTAINERIZER_HEALTH_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef enum { BERTH_HEALTH_NONE, BERTH_HEALTH_COMMAND, BERTH_HEALTH_HTTP, BERTH_HEALTH_TCP } berth_health_type;

/* Mesos's HealthCheck defaults (mesos.proto). */
#define BERTH_HEALTH_DEFAULT_DELAY 15.0
#define BERTH_HEALTH_DEFAULT_INTERVAL 10.0
#define BERTH_HEALTH_DEFAULT_TIMEOUT 20.0
#define BERTH_HEALTH_DEFAULT_FAILURES 3
#define BERTH_HEALTH_DEFAULT_GRACE 10.0

/* Bounds: a sub-10 ms interval or timeout would only spin the loop; a
 * year is as good as never. */
#define BERTH_HEALTH_MIN_SECS 0.01
#define BERTH_HEALTH_MAX_SECS 31536000.0
#define BERTH_HEALTH_MAX_FAILURES 1000000
#define BERTH_HEALTH_MAX_PATH 1024
#define BERTH_HEALTH_MAX_STATUSES 100
#define BERTH_HEALTH_MAX_ARGS 256
#define BERTH_HEALTH_MAX_ENV 256

typedef struct berth_health_spec {
  berth_health_type type; /* NONE: the launch has no health check */
  /* COMMAND: argv ready for the Engine API exec (shell: /bin/sh -c value). */
  char **argv;
  size_t argc;
  char **env; /* "NAME=value" */
  size_t n_env;
  char *user;
  /* HTTP and TCP */
  int port;
  bool ipv6;  /* protocol IPv6: ::1 instead of 127.0.0.1 */
  char *path; /* HTTP; "/" by default */
  int statuses[BERTH_HEALTH_MAX_STATUSES];
  size_t n_statuses; /* 0: 200-399 */
  /* timing, in seconds */
  double delay, interval, timeout, grace;
  int consecutive_failures;
} berth_health_spec;

/* Decodes launch["health_check"]; absent or null leaves out->type NONE.
 * Errors name the field ("health_check.http.port: ..."). */
int berth_health_spec_parse(json_t *launch, berth_health_spec *out, berth_error *err);

/* True when an HTTP status counts as healthy for spec. */
bool berth_health_status_ok(const berth_health_spec *spec, int status);

void berth_health_spec_free(berth_health_spec *spec);

#endif
