/* Pure command-line parsing for the berth CLI: options, `berth run`'s
 * flags (-e, -v, -p, --network...), signal names, container ids.
 * Nothing here does I/O, except `-e NAME` reading our own environment. */
#ifndef BERTH_CLIENT_CLI_ARGS_H
#define BERTH_CLIENT_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* ---- a small option parser ----
 *
 * getopt_long would do, but its state is global and it permutes by default;
 * `berth run` must stop at IMAGE so that the command's own flags
 * (`berth run busybox ls -l`) stay the command's. */

typedef struct berth_opt {
  const char *name; /* long name without "--", or NULL */
  char short_name;  /* or 0 */
  bool has_arg;
  int id;
} berth_opt; /* arrays end with an entry whose id is 0 */

typedef struct berth_args {
  int argc;
  char **argv;
  int index;                /* next argument to look at */
  bool only_operands;       /* set after "--" */
  const char *bundle;       /* short flags still to read in "-aq", or NULL */
  const char *bundle_whole; /* the argument they came from, for errors */
} berth_args;

enum { BERTH_ARG_END = 0, BERTH_ARG_OPTION = 1, BERTH_ARG_OPERAND = 2 };

void berth_args_init(berth_args *args, int argc, char **argv);

/* Returns BERTH_ARG_OPTION with *id and *value (the argument, or NULL),
 * BERTH_ARG_OPERAND with *value, BERTH_ARG_END, or a negative code for an
 * unknown option or a missing argument.  Accepts "--name VALUE",
 * "--name=VALUE", "-x VALUE" and "-xVALUE". */
int berth_args_next(berth_args *args, const berth_opt *opts, int *id, const char **value, berth_error *err);

/* ---- values ---- */

/* `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$` (API.md §1). */
bool berth_cli_valid_id(const char *id);

/* Writes "run-" and 8 random hex digits; len must be at least 13. */
void berth_cli_generate_id(char *buf, size_t len);

/* A signal number (1-64) or a name with or without "SIG", any case
 * ("TERM", "sigkill", "9"). */
int berth_cli_parse_signal(const char *text, int *signo, berth_error *err);

typedef struct berth_env_var {
  char *name;
  char *value;
} berth_env_var;

typedef struct berth_volume {
  char *host_path;
  char *container_path;
  bool read_only;
} berth_volume;

typedef struct berth_port {
  int host_port;
  int container_port;
  char protocol[4]; /* "tcp" or "udp" */
  char host_ip[46]; /* "" when not given: berthd's --docker_port_host_ip */
} berth_port;

/* "K=V" → {K, V}; "K" takes V from our environment as docker does, and
 * *found is false when K is unset there (the variable is then skipped). */
int berth_cli_parse_env(const char *text, berth_env_var *out, bool *found, berth_error *err);

/* "HOST:CONTAINER[:ro|:rw]". */
int berth_cli_parse_volume(const char *text, berth_volume *out, berth_error *err);

/* "[IP:]HOST:CONTAINER[/tcp|/udp]"; IP is an IPv4 or IPv6 literal, the
 * latter in brackets ("[::1]:8080:80") as docker writes it. */
int berth_cli_parse_port(const char *text, berth_port *out, berth_error *err);

/* "host", "bridge", "none" in any case → "HOST", "BRIDGE", "NONE". */
int berth_cli_parse_network(const char *text, const char **out, berth_error *err);

/* A positive finite number ("0.5", "64"). */
int berth_cli_parse_positive(const char *text, const char *what, double *out, berth_error *err);

/* A limit: a positive finite number, or "inf" (any case) for no limit,
 * which gives INFINITY (Mesos's spelling of an unlimited limit). */
int berth_cli_parse_limit(const char *text, const char *what, double *out, berth_error *err);

/* ---- berth run ---- */

typedef struct berth_run_opts {
  const char *name; /* --name, or NULL: generate one */
  bool has_cpus, has_mem, has_grace, has_cpus_limit, has_mem_limit;
  double cpus;
  double mem_mb;
  double cpus_limit;      /* --cpu-limit; INFINITY: none */
  double mem_limit_mb;    /* --mem-limit; INFINITY: none */
  const char *addr;       /* global --addr given among run's options, or NULL */
  const char *token_file; /* global --token_file given there, or NULL */
  int64_t grace_ns;
  const char *network; /* "HOST", "BRIDGE", "NONE" or NULL (berthd's default) */
  bool force_pull, privileged, detach, remove, help;
  bool interactive; /* -i: the task's stdin is this process's (container.docker.stdin) */
  berth_env_var *env;
  size_t n_env;
  berth_volume *volumes;
  size_t n_volumes;
  berth_port *ports;
  size_t n_ports;
  const char *label; /* one docker label "key=value" (a Slurm job's), or NULL */
  const char *image;
  char **cmd; /* points into argv; n_cmd == 0: the image's own command */
  size_t n_cmd;
} berth_run_opts;

/* Parses the arguments after "run" (argv[0] is the first of them).  Stops
 * at IMAGE: everything after it is the command.  With --help sets ->help
 * and returns 0 without requiring IMAGE.  Release with berth_run_opts_clear
 * (also after a failure). */
int berth_cli_parse_run(int argc, char **argv, berth_run_opts *out, berth_error *err);
void berth_run_opts_clear(berth_run_opts *opts);

/* Warnings for values berthd raises to Docker's minimums (API.md §3):
 * "mem 2 MB raised to Docker's minimum 32 MB" and the like, one per
 * value, for any of cpus, mem, cpus limit, mem limit that is set (NAN:
 * not set).  Returns how many were written into notes. */
#define BERTH_MINIMUM_NOTES 4
size_t berth_cli_minimum_notes(double cpus, double mem_mb, double cpus_limit, double mem_limit_mb,
                               char notes[BERTH_MINIMUM_NOTES][128]);

/* ---- berth update ---- */

typedef struct berth_update_opts {
  bool has_cpus, has_mem, has_cpus_limit, has_mem_limit;
  double cpus;
  double mem_mb;
  double cpus_limit;   /* INFINITY: unlimited */
  double mem_limit_mb; /* INFINITY: unlimited */
} berth_update_opts;

#endif
