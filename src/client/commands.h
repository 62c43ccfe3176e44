/* The CLI commands a docker user reaches for beyond berth's first set:
 * `ps` with -q/--filter/--format, `rm -f`, `prune` and `version`.  Each
 * prints and returns the process's exit code; cmd/berth.c parses the
 * arguments and dispatches here. */
#ifndef BERTH_CLIENT_COMMANDS_H
#define BERTH_CLIENT_COMMANDS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "client/client.h"
#include "client/ps.h"

/* Exit codes: docker's convention (see cmd/berth.c). */
#define BERTH_EXIT_ERROR 1
#define BERTH_EXIT_USAGE 125

/* JSON as berth prints it: reals to 15 significant digits, the most a
 * double holds exactly, so 0.28 is not shown as 0.28000000000000003. */
#define BERTH_JSON_REAL JSON_REAL_PRECISION(15)

/* The --help texts of ps, rm, prune and version. */
extern const char berth_help_ps[];
extern const char berth_help_rm[];
extern const char berth_help_prune[];
extern const char berth_help_version[];

typedef struct berth_ps_opts {
  bool all, quiet, json;
  berth_filters filters;
  berth_format *format; /* NULL: the default table */
} berth_ps_opts;

/* Lists the containers of list (GET /containers) that the options select. */
int berth_cmd_ps(json_t *list, const berth_ps_opts *opts);

/* Destroys a container that has not terminated (SIGTERM and SIGKILL at
 * once), waits for its end, then removes it. */
int berth_cmd_rm_force(berth_client *client, const char *id, berth_error *err);

/* Removes every TERMINATED container and prints each id.  Without force,
 * asks on the terminal first; with stdin not a terminal it refuses
 * rather than wait for an answer that may never come. */
int berth_cmd_prune(berth_client *client, bool force);

/* Client version, then berthd's and its dockerd's API version from
 * /version.  client may be NULL (connect_error says why). */
int berth_cmd_version(berth_client *client, const char *client_version, const berth_error *connect_error);

/* `berth stats`: a table (or JSON) of the RUNNING containers, or of ids
 * (every unknown one reported first, exit 1), once or every second until
 * *signals is non-zero (the caller's SIGINT/SIGTERM handler counts). */
int berth_cmd_stats(berth_client *client, char *const *ids, size_t n_ids, bool as_json, bool stream,
                    volatile sig_atomic_t *signals);

/* Says on stderr which values berthd will raise to Docker's minimums, so
 * `--mem 2` does not quietly become 32 MB; NAN for a value not given. */
void berth_print_minimum_notes(double cpus, double mem_mb, double cpus_limit, double mem_limit_mb);

/* The exit code a failed launch recorded (docker run's 127 or 126 for a
 * command the runtime could not exec), or 0 when it recorded none. */
int berth_launch_failure_code(berth_client *client, const char *id);

#endif
