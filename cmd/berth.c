/* berth: the command-line client of berthd.
 *
 * Thin on purpose: argument parsing lives in src/client/cli_args.c, the
 * calls in src/client/calls.c, output following in src/client/files.c,
 * stats computations in src/client/stats.c;
 * this file picks the command, prints, and chooses the exit code. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client/bound.h"
#include "client/calls.h"
#include "client/cli_args.h"
#include "client/client.h"
#include "client/exec.h"
#include "client/files.h"
#include "client/slurm.h"
#include "client/stats.h"
#include "util/alloc.h"
#include "util/error.h"

#ifndef BERTH_VERSION
#define BERTH_VERSION "dev"
#endif

/* Exit codes: docker's convention, so scripts written for `docker run`
 * read ours the same way. */
#define EXIT_ERROR 1   /* berthd reported an error, or could not be reached */
#define EXIT_BERTH 125 /* usage errors; any failure of `berth run` itself */
#define EXIT_KILLED 137

static const char main_help[] =
    "Usage: berth [--addr ADDR] [--token_file FILE] COMMAND [ARGS...]\n"
    "\n"
    "Drive berthd, which runs tasks in Docker containers on this node.\n"
    "\n"
    "Commands:\n"
    "  run       Launch a container and stream its output (-d: detach)\n"
    "  exec      Run a command in a running container (-i stdin, -t a terminal)\n"
    "  ps        List containers\n"
    "  wait      Block until containers end and print their exit codes\n"
    "  kill      Destroy a container, or send it a signal\n"
    "  rm        Forget terminated containers\n"
    "  logs      Print a container's stdout or stderr\n"
    "  inspect   Print a container's state as JSON\n"
    "  stats     Show containers' cpu, memory, network and process usage\n"
    "  update    Change a running container's cpu and memory settings\n"
    "\n"
    "Global options (before COMMAND):\n"
    "  --addr ADDR        berthd's address: unix:PATH, tcp:HOST:PORT or a socket\n"
    "                     path (env BERTH_ADDR; default " BERTH_DEFAULT_ADDR
    ")\n"
    "  --token_file FILE  bearer token for tcp addresses (env BERTH_TOKEN holds\n"
    "                     the token itself)\n"
    "  --version          print the version\n"
    "  -h, --help         show this help; 'berth COMMAND --help' for a command\n"
    "\n"
    "Exit status: 0 on success, 1 when berthd reports an error or cannot be\n"
    "reached, 125 on a usage error; 'berth run' ends with the container's code.\n";

static const char run_help[] =
    "Usage: berth run [OPTIONS] IMAGE [CMD [ARG...]]\n"
    "\n"
    "Launch a Docker container through berthd.  Options stop at IMAGE; what\n"
    "follows is the command, run with the image's entrypoint as docker run\n"
    "does.  Without CMD the image's own command runs.\n"
    "\n"
    "Unless -d is given, berth stays attached: it copies the container's stdout\n"
    "and stderr to its own, byte for byte, and exits with the container's exit\n"
    "code.  Signals are not forwarded one by one: the first SIGINT or SIGTERM\n"
    "destroys the container (SIGTERM, then SIGKILL after the grace period)\n"
    "while berth keeps streaming to its end; a second one makes berth exit at\n"
    "once and leaves the destroy to berthd.  Use 'berth kill -s' for signals.\n"
    "The container is bound to this process: however berth ends, SIGKILL\n"
    "included, berthd destroys the container (with -d it is not bound).\n"
    "\n"
    "Inside a Slurm job (SLURM_JOB_ID set) the container is named\n"
    "slurm-<job>.<step>.<task>, takes cpus from SLURM_CPUS_PER_TASK or\n"
    "SLURM_CPUS_ON_NODE and memory from SLURM_MEM_PER_NODE or\n"
    "SLURM_MEM_PER_CPU x cpus, and carries the docker label slurm.job_id;\n"
    "--name, --cpus and --mem win over them.\n"
    "\n"
    "Options:\n"
    "  --name ID              container id (default: run-<8 hex digits>)\n"
    "  --cpus N               cpus resource (docker CpuShares = 1024 x N)\n"
    "  --mem MB               memory resource in MB (docker Memory)\n"
    "  -e, --env K=V          set an environment variable; -e K copies ours\n"
    "  -v, --volume HOST:CTR[:ro|:rw]\n"
    "                         mount a host path (berthd must allow it)\n"
    "  --network MODE         host, bridge or none (bridge when -p is given)\n"
    "  -p, --publish HOST:CTR[/tcp|/udp]\n"
    "                         map a host port to a container port\n"
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
    "had one; 125 if the launch failed or berth could not do its part (bad\n"
    "option, unreachable berthd, an id that already exists); 128+N if berth\n"
    "was stopped by signal N before the container ran or twice while attached.\n";

static const char ps_help[] =
    "Usage: berth ps [-a] [--json]\n"
    "\n"
    "List the containers berthd knows.\n"
    "\n"
    "  -a, --all   include TERMINATED containers (kept until 'berth rm')\n"
    "  --json      print the containers as a JSON array (berthd's objects)\n";

static const char wait_help[] =
    "Usage: berth wait [--json] ID...\n"
    "\n"
    "Block until each container terminates and print its exit code, or its\n"
    "final state (TASK_KILLED...) when it has none.  Exits 0 when the waits\n"
    "succeeded, whatever the containers' codes.\n"
    "\n"
    "  --json   print berthd's whole wait_container object instead\n";

static const char kill_help[] =
    "Usage: berth kill [-s SIGNAL] ID...\n"
    "\n"
    "Without -s, destroy the container: SIGTERM, SIGKILL after its grace\n"
    "period, then cleanup; it stays listed as TERMINATED until 'berth rm'.\n"
    "With -s, deliver that one signal and nothing more.\n"
    "\n"
    "  -s, --signal SIGNAL   a number or a name: TERM, SIGKILL, usr1, HUP...\n";

static const char rm_help[] =
    "Usage: berth rm ID...\n"
    "\n"
    "Forget terminated containers: their record, sandbox and docker\n"
    "container.  A container that has not terminated is refused\n"
    "('berth kill' it first).\n";

static const char logs_help[] =
    "Usage: berth logs [-f] [--stderr] ID\n"
    "\n"
    "Print the container's stdout, as written to its sandbox, on stdout.\n"
    "\n"
    "  -f, --follow   keep printing new output until the container terminated\n"
    "  --stderr       print the container's stderr instead (still on stdout)\n";

static const char inspect_help[] =
    "Usage: berth inspect ID\n"
    "\n"
    "Print berthd's JSON object for the container: stage, docker name,\n"
    "status, resource statistics and, once terminated, the termination.\n";

static const char stats_help[] =
    "Usage: berth stats [--no-stream] [--json] [ID...]\n"
    "\n"
    "Show containers' resource usage as docker stats does: every RUNNING\n"
    "container, or the ones named.  The numbers are berthd's, read from each\n"
    "container's cgroup and network namespace.  CPU % is the cpu time used\n"
    "over the last second (100% is one whole cpu), so it takes two samples:\n"
    "the first table comes after a second.  Until SIGINT or SIGTERM, berth\n"
    "clears the screen and redraws the table every second.\n"
    "\n"
    "  --no-stream   print one table and exit\n"
    "  --json        print a JSON array of {\"container_id\", \"cpu_percent\",\n"
    "                \"resource_statistics\"} instead; one line a second when\n"
    "                streaming\n"
    "\n"
    "CPU LIMIT is the cfs quota in cpus, or the cpu share when there is no\n"
    "quota.  MEM USAGE leaves the page cache out.  '-' means no limit and\n"
    "'--' a value not known (yet).  An unknown ID is an error (exit 1) before\n"
    "anything is shown.\n";

static const char update_help[] =
    "Usage: berth update ID [--cpus N] [--mem MB] [--cpu-limit N|inf]\n"
    "                       [--mem-limit MB|inf]\n"
    "\n"
    "Change a running container's cpu and memory settings, mapped to docker\n"
    "as for 'berth run'.  Docker keeps the settings that are not given.\n"
    "Prints nothing on success.  At least one option is required.\n"
    "\n"
    "  --cpus N             cpus resource (docker CpuShares = 1024 x N)\n"
    "  --mem MB             memory resource in MB (docker Memory, or\n"
    "                       MemoryReservation under a larger --mem-limit)\n"
    "  --cpu-limit N|inf    hard cpu limit in cpus (docker CpuQuota); inf: none\n"
    "  --mem-limit MB|inf   hard memory limit in MB (docker Memory); inf: none\n";

/* ---- shared state ---- */

typedef struct cli {
  const char *addr;
  const char *token_file;
  berth_client *client;
} cli;

/* SIGINT/SIGTERM while `berth run` is attached: counted, not acted on in
 * the handler (see run_help). */
static volatile sig_atomic_t signal_count;
static volatile sig_atomic_t last_signal;

static void on_signal(int signo) {
  last_signal = signo;
  if (signal_count < 2) signal_count++;
}

static void install_signal_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  /* No SA_RESTART: the poll loop's sleep should end at once. */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

static void print_error(const berth_error *err) { fprintf(stderr, "berth: %s\n", err->msg); }

static int usage_error(const char *command, const berth_error *err) {
  fprintf(stderr, "berth: %s (see 'berth %s%s--help')\n", err->msg, command ? command : "", command ? " " : "");
  return EXIT_BERTH;
}

static int new_client(cli *c, berth_client **out, berth_error *err) {
  const char *text = c->addr ? c->addr : getenv("BERTH_ADDR");
  if (!text || !*text) text = BERTH_DEFAULT_ADDR;
  berth_addr addr;
  int ret = berth_addr_parse(text, &addr, err);
  if (ret < 0) return ret;
  cleanup_free char *token = NULL;
  if (addr.kind == BERTH_ADDR_TCP && c->token_file)
    ret = berth_token_read_file(c->token_file, &token, err);
  else if (addr.kind == BERTH_ADDR_TCP && getenv("BERTH_TOKEN"))
    token = berth_strdup(getenv("BERTH_TOKEN"));
  if (ret == 0) ret = berth_client_new(&addr, token, out, err);
  berth_addr_clear(&addr);
  return ret;
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
  const char *id;
} run_ctx;

static void destroy_cb(void *data) {
  run_ctx *ctx = data;
  berth_error err = {0};
  if (simple_call(ctx->cli, berth_request_kill(ctx->id, 0), &err) < 0)
    fprintf(stderr, "berth: cannot destroy container '%s': %s\n", ctx->id, err.msg);
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
  berth_client_set_cancel(c->client, &signal_count);
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
    return 128 + last_signal;
  }
  print_error(err);
  /* A failed launch stays known as TERMINATED; an existing id is not ours. */
  if (o->remove && err->code != BERTH_ECONFLICT) remove_quietly(c, id, false);
  return EXIT_BERTH;
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
  run_ctx ctx = {.cli = c, .id = id};
  berth_follow_opts fo = {.out_fd = {STDOUT_FILENO, STDERR_FILENO},
                          .follow = true,
                          .signals = &signal_count,
                          .on_signal_cb = destroy_cb,
                          .data = &ctx};
  if (berth_follow(c->client, id, &fo, &err) < 0) {
    if (err.code == BERTH_ECANCELED) {
      fprintf(stderr, "berth: interrupted again; container '%s' is being destroyed\n", id);
      return 128 + last_signal;
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

static int cmd_run(cli *c, int argc, char **argv) {
  __attribute__((cleanup(berth_run_opts_clear))) berth_run_opts o = {0};
  berth_error err = {0};
  if (berth_cli_parse_run(argc, argv, &o, &err) < 0) return usage_error("run", &err);
  if (o.help) {
    fputs(run_help, stdout);
    return 0;
  }
  berth_slurm slurm;
  if (berth_slurm_apply(&o, env_lookup, NULL, &slurm, &err) < 0) return usage_error("run", &err);
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
  install_signal_handlers();
  if (launch(c, request, id, &err) < 0) return launch_failed(c, &o, id, &err);
  if (o.detach) {
    printf("%s\n", id);
    return 0;
  }
  /* -i: stdin goes to the task on a thread of its own (src/client/exec.c). */
  if (o.interactive && berth_run_stdin_start(c->addr, c->token_file, id, &err) < 0) print_error(&err);
  return attach(c, &o, id);
}

/* ---- the other commands: shared option handling ---- */

enum {
  OPT_HELP = 1,
  OPT_ALL,
  OPT_JSON,
  OPT_SIGNAL,
  OPT_FOLLOW,
  OPT_STDERR,
  OPT_NO_STREAM,
  OPT_CPUS,
  OPT_MEM,
  OPT_CPU_LIMIT,
  OPT_MEM_LIMIT,
  OPT_COUNT
};

typedef struct cmd_args {
  bool set[OPT_COUNT];
  const char *value[OPT_COUNT];
  char **operands; /* into argv */
  int n_operands;
  int signo;                /* kill -s, parsed; 0: destroy */
  berth_update_opts update; /* update's options, parsed */
} cmd_args;

static const berth_opt ps_opts[] = {
    {"help", 'h', false, OPT_HELP}, {"all", 'a', false, OPT_ALL}, {"json", 0, false, OPT_JSON}, {NULL, 0, false, 0}};
static const berth_opt wait_opts[] = {
    {"help", 'h', false, OPT_HELP}, {"json", 0, false, OPT_JSON}, {NULL, 0, false, 0}};
static const berth_opt kill_opts[] = {
    {"help", 'h', false, OPT_HELP}, {"signal", 's', true, OPT_SIGNAL}, {NULL, 0, false, 0}};
static const berth_opt help_opts[] = {{"help", 'h', false, OPT_HELP}, {NULL, 0, false, 0}};
static const berth_opt logs_opts[] = {{"help", 'h', false, OPT_HELP},
                                      {"follow", 'f', false, OPT_FOLLOW},
                                      {"stderr", 0, false, OPT_STDERR},
                                      {NULL, 0, false, 0}};
static const berth_opt stats_opts[] = {{"help", 'h', false, OPT_HELP},
                                       {"no-stream", 0, false, OPT_NO_STREAM},
                                       {"json", 0, false, OPT_JSON},
                                       {NULL, 0, false, 0}};
static const berth_opt update_opts[] = {
    {"help", 'h', false, OPT_HELP},        {"cpus", 0, true, OPT_CPUS},           {"mem", 0, true, OPT_MEM},
    {"cpu-limit", 0, true, OPT_CPU_LIMIT}, {"mem-limit", 0, true, OPT_MEM_LIMIT}, {NULL, 0, false, 0}};

/* Options may come before or after operands here (`berth logs ID -f`):
 * unlike run, these commands have no command line of their own to keep. */
static int parse_cmd_args(int argc, char **argv, const berth_opt *opts, cmd_args *a, berth_error *err) {
  berth_args args;
  berth_args_init(&args, argc, argv);
  a->operands = berth_calloc((size_t)argc + 1, sizeof(char *));
  for (;;) {
    int id;
    const char *value;
    int kind = berth_args_next(&args, opts, &id, &value, err);
    if (kind <= 0) return kind;
    if (kind == BERTH_ARG_OPERAND) {
      a->operands[a->n_operands++] = (char *)value;
      continue;
    }
    a->set[id] = true;
    a->value[id] = value;
  }
}

static void cmd_args_clear(cmd_args *a) {
  free(a->operands);
  a->operands = NULL;
}

/* ---- ps, inspect ---- */

enum { PS_COLUMNS = 5 };

static void ps_row(json_t *container, char cells[PS_COLUMNS][256]) {
  const char *id = json_string_value(json_object_get(json_object_get(container, "container_id"), "value"));
  const char *image = json_string_value(json_object_get(container, "image"));
  const char *name = json_string_value(json_object_get(container, "docker_name"));
  snprintf(cells[0], 256, "%s", id ? id : "");
  snprintf(cells[1], 256, "%s", image ? image : "");
  snprintf(cells[2], 256, "%s", berth_container_stage(container));
  berth_container_status(container, cells[3], 256);
  snprintf(cells[4], 256, "%s", name ? name : "");
}

/* Left-aligned columns three spaces apart.  cells holds n_rows × n_cols
 * NUL-terminated cells of cell_size bytes each, row after row. */
static void print_table(const char *cells, size_t cell_size, size_t n_rows, size_t n_cols) {
  cleanup_free size_t *width = berth_calloc(n_cols, sizeof(*width));
  for (size_t r = 0; r < n_rows; r++)
    for (size_t col = 0; col < n_cols; col++) {
      size_t len = strlen(cells + (r * n_cols + col) * cell_size);
      if (len > width[col]) width[col] = len;
    }
  for (size_t r = 0; r < n_rows; r++) {
    const char *row = cells + r * n_cols * cell_size;
    for (size_t col = 0; col + 1 < n_cols; col++) printf("%-*s   ", (int)width[col], row + col * cell_size);
    printf("%s\n", row + (n_cols - 1) * cell_size);
  }
}

static int cmd_ps(cli *c, cmd_args *a) {
  berth_error err = {0};
  cleanup_json json_t *list = NULL;
  if (berth_call_get_containers(c->client, &list, &err) < 0) {
    print_error(&err);
    return EXIT_ERROR;
  }
  cleanup_json json_t *shown = json_array();
  size_t i;
  json_t *container;
  json_array_foreach(list, i, container) {
    if (a->set[OPT_ALL] || strcmp(berth_container_stage(container), "TERMINATED") != 0)
      json_array_append(shown, container);
  }
  if (a->set[OPT_JSON]) {
    json_dumpf(shown, stdout, JSON_COMPACT);
    putchar('\n');
    return 0;
  }
  size_t n = json_array_size(shown) + 1;
  cleanup_free char(*cells)[256] = berth_calloc(n * PS_COLUMNS, sizeof(*cells));
  static const char *const headers[PS_COLUMNS] = {"CONTAINER ID", "IMAGE", "STAGE", "STATUS", "DOCKER NAME"};
  for (int col = 0; col < PS_COLUMNS; col++) snprintf(cells[col], 256, "%s", headers[col]);
  json_array_foreach(shown, i, container) ps_row(container, cells + (i + 1) * PS_COLUMNS);
  print_table(cells[0], sizeof(*cells), n, PS_COLUMNS);
  return 0;
}

static int cmd_inspect(cli *c, cmd_args *a) {
  berth_error err = {0};
  cleanup_json json_t *list = NULL;
  if (berth_call_get_containers(c->client, &list, &err) < 0) {
    print_error(&err);
    return EXIT_ERROR;
  }
  json_t *container = berth_containers_find(list, a->operands[0]);
  if (!container) {
    fprintf(stderr, "berth: no container '%s' in berthd\n", a->operands[0]);
    return EXIT_ERROR;
  }
  json_dumpf(container, stdout, JSON_INDENT(2));
  putchar('\n');
  return 0;
}

/* ---- stats ---- */

static void print_stats(json_t *entries, bool as_json, bool stream) {
  if (as_json) {
    json_dumpf(entries, stdout, JSON_COMPACT);
    putchar('\n');
  } else {
    size_t n = json_array_size(entries) + 1;
    cleanup_free char(*cells)[BERTH_STATS_CELL] = berth_calloc(n * BERTH_STATS_COLUMNS, sizeof(*cells));
    for (int col = 0; col < BERTH_STATS_COLUMNS; col++)
      snprintf(cells[col], BERTH_STATS_CELL, "%s", berth_stats_headers[col]);
    size_t i;
    json_t *entry;
    json_array_foreach(entries, i, entry) { berth_stats_row(entry, cells + (i + 1) * BERTH_STATS_COLUMNS); }
    if (stream) fputs("\033[2J\033[H", stdout); /* clear the screen, cursor home */
    print_table(cells[0], sizeof(*cells), n, BERTH_STATS_COLUMNS);
  }
  fflush(stdout); /* each table or line as it is made, even into a pipe */
}

/* A signal while streaming is how the user stops it: not an error. */
static int stats_failed(const berth_error *err) {
  if (err->code == BERTH_ECANCELED) return 0;
  print_error(err);
  return EXIT_ERROR;
}

static int cmd_stats(cli *c, cmd_args *a) {
  bool stream = !a->set[OPT_NO_STREAM];
  if (stream) {
    install_signal_handlers();
    berth_client_set_cancel(c->client, &signal_count);
  }
  berth_error err = {0};
  cleanup_json json_t *prev = NULL;
  if (berth_call_list_containers(c->client, &prev, &err) < 0) return stats_failed(&err);
  /* Every unknown id is reported before anything is shown. */
  int rc = 0;
  for (int i = 0; i < a->n_operands; i++) {
    if (berth_containers_find(prev, a->operands[i])) continue;
    fprintf(stderr, "berth: no container '%s' in berthd\n", a->operands[i]);
    rc = EXIT_ERROR;
  }
  if (rc != 0) return rc;
  for (;;) {
    /* CPU % is a rate: it needs a second sample.  A signal ends the sleep
     * early (the handlers have no SA_RESTART); that EINTR is ignored on
     * purpose, signal_count says why the sleep ended. */
    nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
    if (signal_count > 0) return 0;
    cleanup_json json_t *cur = NULL;
    if (berth_call_list_containers(c->client, &cur, &err) < 0) return stats_failed(&err);
    cleanup_json json_t *entries = berth_stats_entries(prev, cur, a->operands, (size_t)a->n_operands);
    print_stats(entries, a->set[OPT_JSON], stream);
    if (!stream) return 0;
    json_decref(prev);
    prev = json_incref(cur);
  }
}

/* ---- update ---- */

static int check_update(cmd_args *a, berth_error *err) {
  berth_update_opts *u = &a->update;
  int ret = 0;
  if (a->set[OPT_CPUS]) {
    u->has_cpus = true;
    ret = berth_cli_parse_positive(a->value[OPT_CPUS], "--cpus", &u->cpus, err);
  }
  if (ret == 0 && a->set[OPT_MEM]) {
    u->has_mem = true;
    ret = berth_cli_parse_positive(a->value[OPT_MEM], "--mem", &u->mem_mb, err);
  }
  if (ret == 0 && a->set[OPT_CPU_LIMIT]) {
    u->has_cpus_limit = true;
    ret = berth_cli_parse_limit(a->value[OPT_CPU_LIMIT], "--cpu-limit", &u->cpus_limit, err);
  }
  if (ret == 0 && a->set[OPT_MEM_LIMIT]) {
    u->has_mem_limit = true;
    ret = berth_cli_parse_limit(a->value[OPT_MEM_LIMIT], "--mem-limit", &u->mem_limit_mb, err);
  }
  if (ret == 0 && !u->has_cpus && !u->has_mem && !u->has_cpus_limit && !u->has_mem_limit)
    ret = berth_error_set(err, BERTH_EINVAL, "update needs --cpus, --mem, --cpu-limit or --mem-limit");
  return ret;
}

static int cmd_update(cli *c, cmd_args *a) {
  berth_error err = {0};
  if (simple_call(c, berth_request_update(a->operands[0], &a->update), &err) < 0) {
    print_error(&err);
    return EXIT_ERROR;
  }
  return 0;
}

/* ---- wait, kill, rm ---- */

static void print_wait(json_t *wait, bool as_json) {
  json_t *code = json_object_get(wait, "exit_code");
  const char *state = json_string_value(json_object_get(wait, "state"));
  if (as_json)
    json_dumpf(wait, stdout, JSON_COMPACT);
  else if (json_is_integer(code))
    printf("%lld", (long long)json_integer_value(code));
  else
    printf("%s", state ? state : "unknown");
  putchar('\n');
  fflush(stdout); /* one line per container as it ends, even into a pipe */
}

static int cmd_wait(cli *c, cmd_args *a) {
  int rc = 0;
  for (int i = 0; i < a->n_operands; i++) {
    berth_error err = {0};
    cleanup_json json_t *wait = NULL;
    if (berth_call_wait(c->client, a->operands[i], &wait, &err) < 0) {
      print_error(&err);
      rc = EXIT_ERROR;
      continue;
    }
    print_wait(wait, a->set[OPT_JSON]);
  }
  return rc;
}

/* Runs one call per id and prints each id that succeeded, as docker kill
 * and docker rm do; goes on after a failure. */
static int for_each_id(cli *c, cmd_args *a, json_t *(*build)(const char *id, int signo), int signo) {
  int rc = 0;
  for (int i = 0; i < a->n_operands; i++) {
    berth_error err = {0};
    if (simple_call(c, build(a->operands[i], signo), &err) < 0) {
      print_error(&err);
      rc = EXIT_ERROR;
      continue;
    }
    printf("%s\n", a->operands[i]);
  }
  return rc;
}

static json_t *build_remove(const char *id, __attribute__((unused)) int signo) { return berth_request_remove(id); }

static int check_kill(cmd_args *a, berth_error *err) {
  if (!a->set[OPT_SIGNAL]) return 0;
  return berth_cli_parse_signal(a->value[OPT_SIGNAL], &a->signo, err);
}

static int cmd_kill(cli *c, cmd_args *a) { return for_each_id(c, a, berth_request_kill, a->signo); }

static int cmd_rm(cli *c, cmd_args *a) { return for_each_id(c, a, build_remove, 0); }

/* ---- logs ---- */

static int cmd_logs(cli *c, cmd_args *a) {
  bool err_file = a->set[OPT_STDERR];
  berth_follow_opts fo = {
      .out_fd = {err_file ? -1 : STDOUT_FILENO, err_file ? STDOUT_FILENO : -1},
      .follow = a->set[OPT_FOLLOW],
  };
  berth_error err = {0};
  if (berth_follow(c->client, a->operands[0], &fo, &err) < 0) {
    print_error(&err);
    return EXIT_ERROR;
  }
  return 0;
}

/* ---- dispatch ---- */

typedef struct command {
  const char *name;
  int (*raw)(cli *c, int argc, char **argv); /* parses its own arguments */
  int (*fn)(cli *c, cmd_args *a);
  const berth_opt *opts;
  int min_operands, max_operands;              /* -1: any number */
  int (*check)(cmd_args *a, berth_error *err); /* usage checks beyond counts */
  const char *help;
} command;

static int cmd_exec(cli *c, int argc, char **argv) { return berth_exec_main(c->addr, c->token_file, argc, argv); }

static const command commands[] = {
    {"run", cmd_run, NULL, NULL, 0, 0, NULL, run_help},
    {"exec", cmd_exec, NULL, NULL, 0, 0, NULL, berth_exec_help},
    {"ps", NULL, cmd_ps, ps_opts, 0, 0, NULL, ps_help},
    {"wait", NULL, cmd_wait, wait_opts, 1, -1, NULL, wait_help},
    {"kill", NULL, cmd_kill, kill_opts, 1, -1, check_kill, kill_help},
    {"rm", NULL, cmd_rm, help_opts, 1, -1, NULL, rm_help},
    {"logs", NULL, cmd_logs, logs_opts, 1, 1, NULL, logs_help},
    {"inspect", NULL, cmd_inspect, help_opts, 1, 1, NULL, inspect_help},
    {"stats", NULL, cmd_stats, stats_opts, 0, -1, NULL, stats_help},
    {"update", NULL, cmd_update, update_opts, 1, 1, check_update, update_help},
};

static int check_operands(const command *cmd, const cmd_args *a, berth_error *err) {
  if (a->n_operands < cmd->min_operands)
    return berth_error_set(err, BERTH_EINVAL, "%s needs a container ID", cmd->name);
  if (cmd->max_operands >= 0 && a->n_operands > cmd->max_operands)
    return berth_error_set(err, BERTH_EINVAL, "%s takes %s", cmd->name,
                           cmd->max_operands == 0 ? "no arguments" : "one container ID");
  return 0;
}

static int run_parsed(cli *c, const command *cmd, int argc, char **argv) {
  __attribute__((cleanup(cmd_args_clear))) cmd_args a = {0};
  berth_error err = {0};
  if (parse_cmd_args(argc, argv, cmd->opts, &a, &err) < 0) return usage_error(cmd->name, &err);
  if (a.set[OPT_HELP]) {
    fputs(cmd->help, stdout);
    return 0;
  }
  if (check_operands(cmd, &a, &err) < 0) return usage_error(cmd->name, &err);
  if (cmd->check && cmd->check(&a, &err) < 0) return usage_error(cmd->name, &err);
  if (open_client(c, &err) < 0) {
    print_error(&err);
    return EXIT_ERROR;
  }
  return cmd->fn(c, &a);
}

enum { GLOBAL_ADDR = 1, GLOBAL_TOKEN_FILE, GLOBAL_HELP, GLOBAL_VERSION };

static const berth_opt global_opts[] = {{"addr", 0, true, GLOBAL_ADDR},
                                        {"token_file", 0, true, GLOBAL_TOKEN_FILE},
                                        {"help", 'h', false, GLOBAL_HELP},
                                        {"version", 0, false, GLOBAL_VERSION},
                                        {NULL, 0, false, 0}};

static int dispatch(cli *c, int argc, char **argv) {
  berth_args args;
  berth_args_init(&args, argc, argv);
  berth_error err = {0};
  for (;;) {
    int id;
    const char *value;
    int kind = berth_args_next(&args, global_opts, &id, &value, &err);
    if (kind < 0) return usage_error(NULL, &err);
    if (kind == BERTH_ARG_END) {
      fputs(main_help, stderr);
      return EXIT_BERTH;
    }
    if (kind == BERTH_ARG_OPERAND) {
      for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        const command *cmd = &commands[i];
        if (strcmp(value, cmd->name) != 0) continue;
        int rest = argc - args.index;
        return cmd->raw ? cmd->raw(c, rest, argv + args.index) : run_parsed(c, cmd, rest, argv + args.index);
      }
      berth_error_set(&err, BERTH_EINVAL, "unknown command '%s'", value);
      return usage_error(NULL, &err);
    }
    if (id == GLOBAL_ADDR) c->addr = value;
    if (id == GLOBAL_TOKEN_FILE) c->token_file = value;
    if (id == GLOBAL_HELP) {
      fputs(main_help, stdout);
      return 0;
    }
    if (id == GLOBAL_VERSION) {
      printf("berth version %s\n", BERTH_VERSION);
      return 0;
    }
  }
}

int main(int argc, char **argv) {
  cli c = {0};
  int rc = dispatch(&c, argc - 1, argv + 1);
  berth_client_free(c.client);
  /* A full disk or closed pipe on stdout must not pass for success. */
  if (fflush(stdout) != 0 && rc == 0) {
    fprintf(stderr, "berth: write to stdout failed\n");
    rc = EXIT_ERROR;
  }
  return rc;
}
