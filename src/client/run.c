/* `berth run` (run.h): launch, then stream, wait bound and exit with the
 * task's code. */
#include "client/run.h"

#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client/backoff.h"
#include "client/bound.h"
#include "client/calls.h"
#include "client/cli_args.h"
#include "client/commands.h"
#include "client/exec.h"
#include "client/files.h"
#include "client/signals.h"
#include "client/slurm.h"
#include "util/alloc.h"
#include "util/duration.h"

#define EXIT_BERTH BERTH_EXIT_BERTH

const char berth_run_help[] =
    "Usage: berth run [OPTIONS] IMAGE [CMD [ARG...]]\n"
    "\n"
    "Launch a Docker container through berthd.  Options stop at IMAGE; what\n"
    "follows is the command, run with the image's entrypoint as docker run\n"
    "does.  Without CMD the image's own command runs.\n"
    "\n"
    "Unless -d is given, berth stays attached: it copies the container's stdout\n"
    "and stderr to its own, byte for byte, and exits with the container's exit\n"
    "code.  Signals are not forwarded one by one: the first SIGINT or SIGTERM\n"
    "destroys the container (SIGTERM, then SIGKILL after the grace period;\n"
    "berth says which and how long) while berth keeps streaming to its end; a\n"
    "second one makes berth exit at once and leaves the destroy to berthd.  Use\n"
    "'berth kill -s' for signals.  The container is bound to this process:\n"
    "however berth ends, SIGKILL included, berthd destroys the container (with\n"
    "-d it is not bound).\n"
    "\n"
    "When berthd goes away (a restart), berth says so on stderr and reconnects,\n"
    "retrying every 0.1 to 2 seconds for up to 5 minutes: it waits for the\n"
    "container again, bound as before, and streams on from the byte it had\n"
    "reached, so no output is lost or repeated.  A berthd that comes back\n"
    "destroys a container whose berth did not return within its\n"
    "--bound_client_timeout.\n"
    "\n"
    "Inside a Slurm job (SLURM_JOB_ID set) the container is named\n"
    "slurm-<job>.<step>.<task>, takes cpus from SLURM_CPUS_PER_TASK or\n"
    "SLURM_CPUS_ON_NODE and memory from SLURM_MEM_PER_NODE or\n"
    "SLURM_MEM_PER_CPU x cpus, and carries the docker label slurm.job_id;\n"
    "--name, --cpus and --mem win over them.\n"
    "\n"
    "Options:\n"
    "  --name ID              container id (default: run-<8 hex digits>)\n"
    "  --cpus N               cpus resource (docker CpuShares = 1024 x N), a\n"
    "                         share of the cpus, not a cap\n"
    "  --mem MB               memory resource in MB (docker Memory)\n"
    "  --cpu-limit N|inf      hard cap in cpus (docker CpuQuota)\n"
    "  --mem-limit MB|inf     hard memory limit in MB (docker Memory; --mem\n"
    "                         becomes the reservation under a larger limit)\n"
    "  -e, --env K=V          set an environment variable; -e K copies ours\n"
    "  -v, --volume HOST:CTR[:ro|:rw]\n"
    "                         mount a host path (berthd must allow it)\n"
    "  --network MODE         host, bridge or none (bridge when -p is given)\n"
    "  -p, --publish [IP:]HOST:CTR[/tcp|/udp]\n"
    "                         map a host port to a container port, on IP only\n"
    "                         when given (IPv6 in brackets; default: berthd's\n"
    "                         --docker_port_host_ip, all addresses)\n"
    "  --force_pull           pull the image even if it is present\n"
    "  --privileged           run privileged (berthd must allow it)\n"
    "  --grace DURATION       time from SIGTERM to SIGKILL when destroyed, as\n"
    "                         3secs or 500ms (default: berthd's)\n"
    "  -d, --detach           print the container id once it runs, and return\n"
    "  --rm                   remove the container once it ended (not with -d)\n"
    "  -i, --interactive      pass this process's stdin to the task (its end\n"
    "                         closes the task's stdin); without -i the task's\n"
    "                         stdin is closed and piped input is not read, as\n"
    "                         with docker run\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status: the container's exit code; 137 if it was killed before it\n"
    "had one; 127 if the command was not found, 126 if it could not be\n"
    "executed (as docker run); 125 if the launch failed or berth could not\n"
    "do its part (bad option, unreachable berthd, an id that already exists,\n"
    "berthd away for longer than 5 minutes); 128+N if berth was stopped by\n"
    "signal N before the container ran or twice while attached.\n";

static void print_error(const berth_error *err) { fprintf(stderr, "berth: %s\n", err->msg); }

static int usage_error(const berth_error *err) {
  fprintf(stderr, "berth: %s (see 'berth run --help')\n", err->msg);
  return EXIT_BERTH;
}

/* The global options, as cmd/berth.c handed them over. */
typedef struct cli {
  berth_client_factory factory;
  void *data;
  const char *addr, *token_file;               /* given after "run", before IMAGE */
  const char *global_addr, *global_token_file; /* given before "run" */
  berth_client *client;
} cli;

static int new_client(cli *c, berth_client **out, berth_error *err) {
  return c->factory(c->data, c->addr, c->token_file, out, err);
}

static int open_client(cli *c, berth_error *err) { return new_client(c, &c->client, err); }

/* Sends a request whose reply does not matter; takes request (NULL when
 * an id was not UTF-8, which berth_call_simple reports). */
static int simple_call(cli *c, json_t *request, berth_error *err) {
  cleanup_json json_t *req = request;
  return berth_call_simple(c->client, req, err);
}

/* ---- berth run ---- */

typedef struct run_ctx {
  cli *cli;
  const berth_run_opts *o;
  const char *id;
  bool announced;
} run_ctx;

/* The grace period the destroy gives the task: --grace, else berthd's
 * --docker_stop_timeout (read from /flags).  False when unknown. */
static bool grace_period(run_ctx *ctx, int64_t *ns) {
  if (ctx->o->has_grace) {
    *ns = ctx->o->grace_ns;
    return true;
  }
  cleanup_json json_t *reply = NULL;
  berth_error err = {0};
  if (berth_client_get_json(ctx->cli->client, "/flags", BERTH_CALL_TIMEOUT_MS, &reply, &err) < 0) return false;
  const char *text = json_string_value(json_object_get(json_object_get(reply, "flags"), "docker_stop_timeout"));
  return text && berth_duration_parse(text, ns, &err) == 0;
}

/* The first SIGINT or SIGTERM may start a long wait (the task's grace
 * period): say what happens and how long it may take. */
static void announce_stop(run_ctx *ctx) {
  int64_t ns = 0;
  char grace[64];
  if (!grace_period(ctx, &ns))
    snprintf(grace, sizeof(grace), "SIGTERM, then SIGKILL after berthd's grace period");
  else if (ns <= 0)
    snprintf(grace, sizeof(grace), "SIGKILL, no grace period");
  else {
    char d[32];
    berth_duration_format(ns, d, sizeof(d));
    snprintf(grace, sizeof(grace), "SIGTERM, then SIGKILL after %s", d);
  }
  fprintf(stderr, "berth: stopping %s (%s); Ctrl-C again to detach\n", ctx->id, grace);
}

/* The follower's on_signal_cb: destroys the container.  False while
 * berthd is away, so that the next round (after a reconnect) tries again. */
static bool destroy_cb(void *data) {
  run_ctx *ctx = data;
  if (!ctx->announced) announce_stop(ctx);
  ctx->announced = true;
  berth_error err = {0};
  int rc = simple_call(ctx->cli, berth_request_kill(ctx->id, 0), &err);
  if (rc == BERTH_EUNAVAIL) return false;
  if (rc < 0) fprintf(stderr, "berth: cannot destroy container '%s': %s\n", ctx->id, err.msg);
  return true;
}

static void sleep_ms(int64_t ms) {
  /* A signal cuts the sleep short (no SA_RESTART): react at once. */
  nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L}, NULL);
}

/* Copies the container's output until it ended, riding out berthd going
 * away (a restart): each outage is said once on stderr, and the follow
 * resumes from the byte it had reached on each stream once berthd is
 * back.  Gives up after BERTH_RECONNECT_BUDGET_MS without berthd. */
static int stream(run_ctx *ctx, berth_follow_state *st, berth_error *err) {
  berth_follow_opts fo = {.out_fd = {STDOUT_FILENO, STDERR_FILENO},
                          .follow = true,
                          .signals = &berth_signal_count,
                          .on_signal_cb = destroy_cb,
                          .data = ctx};
  berth_backoff backoff;
  berth_backoff_init(&backoff, BERTH_RECONNECT_MIN_MS, BERTH_RECONNECT_MAX_MS, BERTH_RECONNECT_BUDGET_MS);
  for (;;) {
    unsigned long replies = st->replies;
    int rc = berth_follow_resume(ctx->cli->client, ctx->id, &fo, st, err);
    if (rc != BERTH_EUNAVAIL) return rc;
    if (st->replies != replies) berth_backoff_reset(&backoff);
    if (!berth_backoff_in_outage(&backoff))
      fprintf(stderr, "berth: %s; reconnecting for up to %d minutes\n", err->msg, BERTH_RECONNECT_BUDGET_MS / 60000);
    int64_t delay = berth_backoff_next(&backoff, berth_backoff_now_ms());
    if (delay < 0)
      return berth_error_prefix(err,
                                "gave up after %d minutes without berthd (back, it destroys container '%s' "
                                "after its --bound_client_timeout)",
                                BERTH_RECONNECT_BUDGET_MS / 60000, ctx->id);
    sleep_ms(delay);
    if (berth_signal_count > 1) return berth_error_set(err, BERTH_ECANCELED, "interrupted");
  }
}

/* Removal for --rm; a failure is reported but does not change the exit
 * code, which belongs to the container. */
static void remove_quietly(cli *c, const char *id, bool report) {
  berth_error err = {0};
  if (simple_call(c, berth_request_remove(id), &err) < 0 && report)
    fprintf(stderr, "berth: cannot remove container '%s': %s\n", id, err.msg);
}

/* LAUNCH_CONTAINER blocks until RUNNING; a signal meanwhile aborts the
 * request (the client's cancel flag). */
static int launch(cli *c, json_t *request, const char *id, berth_error *err) {
  long status = 0;
  cleanup_json json_t *reply = NULL;
  berth_client_set_cancel(c->client, &berth_signal_count);
  int ret = berth_client_call(c->client, request, BERTH_NO_TIMEOUT, &status, &reply, err);
  berth_client_set_cancel(c->client, NULL);
  if (ret < 0) return ret;
  /* 202: the id is taken and berthd did nothing (API.md §3). */
  if (status == 202) return berth_error_set(err, BERTH_ECONFLICT, "container '%s' already exists", id);
  return 0;
}

static int launch_failed(cli *c, const berth_run_opts *o, const char *id, const berth_error *err) {
  if (err->code == BERTH_ECANCELED) {
    /* The launch may have reached berthd: destroy whatever it started. */
    fprintf(stderr, "berth: interrupted; destroying container '%s'\n", id);
    berth_error ignored = {0};
    simple_call(c, berth_request_kill(id, 0), &ignored); /* 404 if it never arrived */
    return 128 + berth_last_signal;
  }
  print_error(err);
  /* A command the runtime could not exec: docker run's 127 or 126, as
   * berthd recorded it in the termination. */
  int code = err->code == BERTH_ECONFLICT ? 0 : berth_launch_failure_code(c->client, id);
  /* A failed launch stays known as TERMINATED; an existing id is not ours. */
  if (o->remove && err->code != BERTH_ECONFLICT) remove_quietly(c, id, false);
  return code > 0 ? code : EXIT_BERTH;
}

static int attach(cli *c, const berth_run_opts *o, const char *id) {
  /* First the bound wait: from here this process's end is the container's. */
  berth_client *wait_client = NULL;
  berth_bound_wait *bound = NULL;
  berth_error err = {0};
  if (new_client(c, &wait_client, &err) < 0 || berth_bound_wait_start(wait_client, id, &bound, &err) < 0) {
    print_error(&err);
    berth_error ignored = {0};
    simple_call(c, berth_request_kill(id, 0), &ignored);
    return EXIT_BERTH;
  }
  run_ctx ctx = {.cli = c, .o = o, .id = id};
  berth_follow_state st = {0};
  if (stream(&ctx, &st, &err) < 0) {
    if (err.code == BERTH_ECANCELED && st.signal_handled) {
      fprintf(stderr, "berth: interrupted again; container '%s' is being destroyed\n", id);
      return 128 + berth_last_signal;
    }
    if (err.code == BERTH_ECANCELED) {
      /* The bound wait's connection goes with this process: berthd, or
       * the berthd that comes back, destroys the container. */
      fprintf(stderr, "berth: interrupted again; berthd destroys container '%s' once it sees berth gone\n", id);
      return 128 + berth_last_signal;
    }
    print_error(&err);
    return EXIT_BERTH;
  }
  cleanup_json json_t *wait = NULL;
  int code = 0;
  if (berth_bound_wait_join(bound, &wait, &err) < 0 || berth_wait_exit_code(wait, &code, &err) < 0) {
    print_error(&err);
    code = EXIT_BERTH;
  }
  if (o->remove) remove_quietly(c, id, true);
  return code;
}

static const char *env_lookup(const char *name, void *data) { return getenv(name); }

static int run(cli *c, int argc, char **argv) {
  __attribute__((cleanup(berth_run_opts_clear))) berth_run_opts o = {0};
  berth_error err = {0};
  if (berth_cli_parse_run(argc, argv, &o, &err) < 0) return usage_error(&err);
  if (o.help) {
    fputs(berth_run_help, stdout);
    return 0;
  }
  berth_slurm slurm;
  if (berth_slurm_apply(&o, env_lookup, NULL, &slurm, &err) < 0) return usage_error(&err);
  c->addr = o.addr;
  c->token_file = o.token_file;
  berth_print_minimum_notes(o.has_cpus ? o.cpus : NAN, o.has_mem ? o.mem_mb : NAN,
                            o.has_cpus_limit ? o.cpus_limit : NAN, o.has_mem_limit ? o.mem_limit_mb : NAN);
  char generated[16];
  const char *id = o.name;
  if (!id) {
    berth_cli_generate_id(generated, sizeof(generated));
    id = generated;
  }
  cleanup_json json_t *request = berth_request_launch(&o, id);
  if (!request) {
    fprintf(stderr, "berth: run: arguments must be valid UTF-8\n");
    return EXIT_BERTH;
  }
  if (open_client(c, &err) < 0) {
    print_error(&err);
    return EXIT_BERTH;
  }
  berth_signals_install();
  if (launch(c, request, id, &err) < 0) return launch_failed(c, &o, id, &err);
  if (o.detach) {
    printf("%s\n", id);
    return 0;
  }
  /* -i: stdin goes to the task on a thread of its own (src/client/exec.c). */
  if (o.interactive && berth_run_stdin_start(c->addr ? c->addr : c->global_addr,
                                             c->token_file ? c->token_file : c->global_token_file, id, &err) < 0)
    print_error(&err);
  return attach(c, &o, id);
}

int berth_cmd_run(int argc, char **argv, const char *addr, const char *token_file, berth_client_factory factory,
                  void *data) {
  cli c = {.factory = factory, .data = data, .global_addr = addr, .global_token_file = token_file};
  int rc = run(&c, argc, argv);
  berth_client_free(c.client);
  return rc;
}
