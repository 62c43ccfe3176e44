/* `berth logs`: a container's stdout and stderr through GET /logs
 * (README, API section), merged in the order they were written as
 * `docker logs` shows them: stdout lines on our stdout, stderr lines on
 * our stderr, optionally only the last N lines, only those since a time,
 * with RFC 3339 timestamps, and following until the container ends. */
#ifndef BERTH_CLIENT_LOGS_H
#define BERTH_CLIENT_LOGS_H

#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"
#include "util/error.h"

extern const char berth_logs_help[];

typedef struct berth_logs_opts {
  const char *id;
  bool help;
  bool follow;
  bool timestamps;
  bool has_tail;
  uint64_t tail;
  const char *since; /* as given; NULL: from the start */
  unsigned streams;  /* bit 1 stdout, bit 2 stderr */
} berth_logs_opts;

/* `berth logs`'s own arguments (after "logs"), options before or after
 * the ID. */
int berth_logs_parse_args(int argc, char **argv, berth_logs_opts *o, berth_error *err);

/* --since as docker takes it: an RFC 3339 time ("2026-12-02T10:00:00Z",
 * with a fraction or an offset; without a zone, local time), a date
 * ("2026-12-02", local midnight), a unix time ("1764669600.5"), or a
 * duration before now in Go's syntax ("10m", "1h30m", "1.5s", "300ms").
 * *out is a unix time in seconds. */
int berth_logs_parse_since(const char *text, double now, double *out, berth_error *err);

/* RFC 3339 with nanoseconds, UTC, as `docker logs -t` prints it
 * ("2026-12-02T10:00:00.000000001Z"); buf holds at least 40 bytes. */
void berth_logs_format_time(int64_t time_ns, char *buf, size_t size);

/* Prints the logs; returns 0, or <0 with err (berthd's message for an
 * unknown container). */
int berth_logs_run(berth_client *client, const berth_logs_opts *o, berth_error *err);

#endif
