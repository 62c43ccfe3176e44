/* berth: the command-line client of berthd.
 *
 * Thin on purpose: argument parsing lives in src/client/cli_args.c, the
 * calls in src/client/calls.c, output following in src/client/files.c,
 * `berth run` in src/client/run.c,
 * stats computations in src/client/stats.c;
 * this file picks the command, prints, and chooses the exit code. */
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client/calls.h"
#include "client/cli_args.h"
#include "client/client.h"
#include "client/commands.h"
#include "client/events.h"
#include "client/exec.h"
#include "client/files.h"
#include "client/ids.h"
#include "client/image.h"
#include "client/logs.h"
#include "client/ps.h"
#include "client/run.h"
#include "client/signals.h"
#include "client/upgrade.h"
#include "client/stats.h"
#include "util/alloc.h"
#include "util/error.h"

#ifndef BERTH_VERSION
#define BERTH_VERSION "dev"
#endif

/* Exit codes: docker's convention, so scripts written for `docker run`
 * read ours the same way. */
#define EXIT_ERROR 1 /* berthd reported an error, or could not be reached */
#define EXIT_BERTH BERTH_EXIT_BERTH

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
    "  events    Print container events as they happen\n"
    "  prune     Remove every TERMINATED container\n"
    "  version   Print the versions of berth, berthd and dockerd's API\n"
    "  image     Prune or list the images berthd pulled\n"
    "\n"
    "A container ID may be given by a unique prefix; an exact ID always wins.\n"
    "\n"
    "Global options (before or after COMMAND; for run, before IMAGE):\n"
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
    "CPU LIMIT is the cfs quota in cpus ('-' with none: a cpus share is a\n"
    "weight, not a limit).  MEM USAGE leaves the page cache out.  NET I/O is\n"
    "'-' on the HOST network, where the counters would be the node's.  '-'\n"
    "means no limit or not known, '--' a value not known yet.  An unknown ID\n"
    "is an error (exit 1) before anything is shown.\n";

static const char update_help[] =
    "Usage: berth update ID [--cpus N] [--mem MB] [--cpu-limit N|inf]\n"
    "                       [--mem-limit MB|inf]\n"
    "\n"
    "Change a running container's cpu and memory settings, mapped to docker\n"
    "as for 'berth run'.  Docker keeps the settings that are not given.\n"
    "Prints nothing on success.  At least one option is required.  Docker\n"
    "cannot lift a hard memory limit: --mem-limit inf on a container that has\n"
    "one is refused, naming the limit.\n"
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

static void print_error(const berth_error *err) { fprintf(stderr, "berth: %s\n", err->msg); }

static int usage_error(const char *command, const berth_error *err) {
  fprintf(stderr, "berth: %s (see 'berth %s%s--help')\n", err->msg, command ? command : "", command ? " " : "");
  return EXIT_BERTH;
}

static int new_client(cli *c, berth_client **out, berth_error *err) {
  return berth_client_open(c->addr, c->token_file, out, err);
}

static int open_client(cli *c, berth_error *err) { return new_client(c, &c->client, err); }

/* Sends a request whose reply does not matter; takes request (NULL when
 * an id was not UTF-8, which berth_call_simple reports). */
static int simple_call(cli *c, json_t *request, berth_error *err) {
  cleanup_json json_t *req = request;
  return berth_call_simple(c->client, req, err);
}

/* ---- berth run (src/client/run.c) ---- */

static int run_client_cb(void *data, const char *addr, const char *token_file, berth_client **out, berth_error *err) {
  cli *c = data;
  if (addr) c->addr = addr;
  if (token_file) c->token_file = token_file;
  return new_client(c, out, err);
}

static int cmd_run(cli *c, int argc, char **argv) {
  return berth_cmd_run(argc, argv, c->addr, c->token_file, run_client_cb, c);
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
  OPT_QUIET,
  OPT_FILTER,
  OPT_FORMAT,
  OPT_FORCE,
  OPT_ADDR,
  OPT_TOKEN_FILE,
  OPT_COUNT
};

typedef struct cmd_args {
  bool set[OPT_COUNT];
  const char *value[OPT_COUNT];
  char **operands; /* into argv */
  int n_operands;
  int signo;                /* kill -s, parsed; 0: destroy */
  berth_update_opts update; /* update's options, parsed */
  berth_filters filters;    /* ps --filter, each as given */
  berth_format *format;     /* ps --format, parsed */
  json_t *list;             /* the containers operands were resolved in */
} cmd_args;

static const berth_opt ps_opts[] = {{"help", 'h', false, OPT_HELP},
                                    {"all", 'a', false, OPT_ALL},
                                    {"json", 0, false, OPT_JSON},
                                    {"quiet", 'q', false, OPT_QUIET},
                                    {"filter", 'f', true, OPT_FILTER},
                                    {"format", 0, true, OPT_FORMAT},
                                    {NULL, 0, false, 0}};
static const berth_opt rm_opts[] = {
    {"help", 'h', false, OPT_HELP}, {"force", 'f', false, OPT_FORCE}, {NULL, 0, false, 0}};
static const berth_opt wait_opts[] = {
    {"help", 'h', false, OPT_HELP}, {"json", 0, false, OPT_JSON}, {NULL, 0, false, 0}};
static const berth_opt kill_opts[] = {
    {"help", 'h', false, OPT_HELP}, {"signal", 's', true, OPT_SIGNAL}, {NULL, 0, false, 0}};
static const berth_opt help_opts[] = {{"help", 'h', false, OPT_HELP}, {NULL, 0, false, 0}};
static const berth_opt stats_opts[] = {{"help", 'h', false, OPT_HELP},
                                       {"no-stream", 0, false, OPT_NO_STREAM},
                                       {"json", 0, false, OPT_JSON},
                                       {NULL, 0, false, 0}};
static const berth_opt update_opts[] = {
    {"help", 'h', false, OPT_HELP},        {"cpus", 0, true, OPT_CPUS},           {"mem", 0, true, OPT_MEM},
    {"cpu-limit", 0, true, OPT_CPU_LIMIT}, {"mem-limit", 0, true, OPT_MEM_LIMIT}, {NULL, 0, false, 0}};

/* berth's global options, which every command accepts among its own. */
static const berth_opt global_in_command[] = {{"addr", 0, true, OPT_ADDR}, {"token_file", 0, true, OPT_TOKEN_FILE}};

/* A command's options and the global ones, in one table (caller frees). */
static berth_opt *with_globals(const berth_opt *opts) {
  size_t n = 0;
  while (opts[n].id) n++;
  size_t n_global = sizeof(global_in_command) / sizeof(global_in_command[0]);
  berth_opt *all = berth_calloc(n + n_global + 1, sizeof(*all));
  memcpy(all, opts, n * sizeof(*all));
  memcpy(all + n, global_in_command, sizeof(global_in_command));
  return all;
}

/* Options may come before or after operands here (`berth logs ID -f`):
 * unlike run, these commands have no command line of their own to keep. */
static int parse_cmd_args(int argc, char **argv, const berth_opt *opts, cmd_args *a, berth_error *err) {
  berth_args args;
  berth_args_init(&args, argc, argv);
  a->operands = berth_calloc((size_t)argc + 1, sizeof(char *));
  cleanup_free berth_opt *all = with_globals(opts);
  for (;;) {
    int id;
    const char *value;
    int kind = berth_args_next(&args, all, &id, &value, err);
    if (kind <= 0) return kind;
    if (kind == BERTH_ARG_OPERAND) {
      a->operands[a->n_operands++] = (char *)value;
      continue;
    }
    /* Filters add up; any other option repeated keeps its last value. */
    if (id == OPT_FILTER && berth_filters_add(&a->filters, value, err) < 0) return err->code;
    a->set[id] = true;
    a->value[id] = value;
  }
}

static void cmd_args_clear(cmd_args *a) {
  free(a->operands);
  a->operands = NULL;
  berth_filters_clear(&a->filters);
  berth_format_free(a->format);
  a->format = NULL;
  json_decref(a->list);
  a->list = NULL;
}

/* ---- ps, inspect ---- */

static int check_ps(cmd_args *a, berth_error *err) {
  if (a->set[OPT_FORMAT] && berth_format_parse(a->value[OPT_FORMAT], &a->format, err) < 0) return err->code;
  return 0;
}

static int cmd_ps(cli *c, cmd_args *a) {
  berth_error err = {0};
  cleanup_json json_t *list = NULL;
  if (berth_call_list_containers(c->client, &list, &err) < 0) {
    print_error(&err);
    return EXIT_ERROR;
  }
  berth_ps_opts o = {.all = a->set[OPT_ALL],
                     .quiet = a->set[OPT_QUIET],
                     .json = a->set[OPT_JSON],
                     .filters = a->filters,
                     .format = a->format};
  return berth_cmd_ps(list, &o);
}

static int cmd_inspect(cli *c, cmd_args *a) {
  /* run_parsed resolved the id in a->list. */
  json_t *container = berth_containers_find(a->list, a->operands[0]);
  if (!container) {
    fprintf(stderr, "berth: no such container: %s\n", a->operands[0]);
    return EXIT_ERROR;
  }
  json_dumpf(container, stdout, JSON_INDENT(2) | BERTH_JSON_REAL);
  putchar('\n');
  return 0;
}

/* ---- stats ---- */

static int cmd_stats(cli *c, cmd_args *a) {
  bool stream = !a->set[OPT_NO_STREAM];
  if (stream) {
    berth_signals_install();
    berth_client_set_cancel(c->client, &berth_signal_count);
  }
  return berth_cmd_stats(c->client, a->operands, (size_t)a->n_operands, a->set[OPT_JSON], stream, &berth_signal_count);
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
  const berth_update_opts *u = &a->update;
  berth_print_minimum_notes(u->has_cpus ? u->cpus : NAN, u->has_mem ? u->mem_mb : NAN,
                            u->has_cpus_limit ? u->cpus_limit : NAN, u->has_mem_limit ? u->mem_limit_mb : NAN);
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
    json_dumpf(wait, stdout, JSON_COMPACT | BERTH_JSON_REAL);
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

static int cmd_rm(cli *c, cmd_args *a) {
  if (!a->set[OPT_FORCE]) return for_each_id(c, a, build_remove, 0);
  int rc = 0;
  for (int i = 0; i < a->n_operands; i++) {
    berth_error err = {0};
    if (berth_cmd_rm_force(c->client, a->operands[i], &err) < 0) {
      print_error(&err);
      rc = EXIT_ERROR;
      continue;
    }
    printf("%s\n", a->operands[i]);
    fflush(stdout);
  }
  return rc;
}

static int cmd_prune(cli *c, cmd_args *a) { return berth_cmd_prune(c->client, a->set[OPT_FORCE]); }

/* ---- logs ---- */

/* Parses its own options (client/logs.c). */
static int cmd_logs(cli *c, int argc, char **argv) {
  berth_logs_opts o;
  berth_error err = {0};
  if (berth_logs_parse_args(argc, argv, &o, &err) < 0) return usage_error("logs", &err);
  if (o.help) {
    fputs(berth_logs_help, stdout);
    return 0;
  }
  cleanup_json json_t *list = NULL;
  const char *id = NULL;
  /* A unique prefix names the container, as for the other commands. */
  if (open_client(c, &err) < 0 || berth_call_list_containers(c->client, &list, &err) < 0 ||
      berth_ids_resolve_id(list, o.id, &id, &err) < 0) {
    print_error(&err);
    return EXIT_ERROR;
  }
  o.id = id;
  if (berth_logs_run(c->client, &o, &err) < 0) {
    print_error(&err);
    return EXIT_ERROR;
  }
  return 0;
}

static int cmd_events(cli *c, cmd_args *a) { return berth_events_main(c->client, a->set[OPT_JSON], stdout); }

/* `berth image` lives in src/client/image.c. */
static int open_for_image(void *ctx, berth_client **client, berth_error *err) {
  if (open_client(ctx, err) < 0) return err->code;
  *client = ((cli *)ctx)->client;
  return 0;
}
static int cmd_image(cli *c, int argc, char **argv) { return berth_cli_image(argc, argv, open_for_image, c); }

/* ---- dispatch ---- */

typedef struct command {
  const char *name;
  int (*raw)(cli *c, int argc, char **argv); /* parses its own arguments */
  int (*fn)(cli *c, cmd_args *a);
  const berth_opt *opts;
  int min_operands, max_operands;              /* -1: any number */
  int (*check)(cmd_args *a, berth_error *err); /* usage checks beyond counts */
  const char *help;
  /* Operands are container ids, each a unique prefix or an exact id.
   * IDS_EACH: one that names nothing is reported and the rest go on (as
   * docker rm does); IDS_ALL: any such ends the command. */
  enum { IDS_NONE, IDS_EACH, IDS_ALL } ids;
} command;

static int cmd_version(cli *c, cmd_args *a);

static int cmd_exec(cli *c, int argc, char **argv) { return berth_exec_main(c->addr, c->token_file, argc, argv); }

static const command commands[] = {
    {"run", cmd_run, NULL, NULL, 0, 0, NULL, berth_run_help, IDS_NONE},
    {"exec", cmd_exec, NULL, NULL, 0, 0, NULL, berth_exec_help, IDS_NONE},
    {"ps", NULL, cmd_ps, ps_opts, 0, 0, check_ps, berth_help_ps, IDS_NONE},
    {"wait", NULL, cmd_wait, wait_opts, 1, -1, NULL, wait_help, IDS_EACH},
    {"kill", NULL, cmd_kill, kill_opts, 1, -1, check_kill, kill_help, IDS_EACH},
    {"rm", NULL, cmd_rm, rm_opts, 1, -1, NULL, berth_help_rm, IDS_EACH},
    {"logs", cmd_logs, NULL, NULL, 0, 0, NULL, berth_logs_help, IDS_NONE},
    {"inspect", NULL, cmd_inspect, help_opts, 1, 1, NULL, inspect_help, IDS_ALL},
    {"stats", NULL, cmd_stats, stats_opts, 0, -1, NULL, stats_help, IDS_ALL},
    {"update", NULL, cmd_update, update_opts, 1, 1, check_update, update_help, IDS_ALL},
    {"prune", NULL, cmd_prune, rm_opts, 0, 0, NULL, berth_help_prune, IDS_NONE},
    {"version", NULL, cmd_version, help_opts, 0, 0, NULL, berth_help_version, IDS_NONE},
    {"events", NULL, cmd_events, wait_opts /* --json */, 0, 0, NULL, berth_events_help, IDS_NONE},
    {"image", cmd_image, NULL, NULL, 0, 0, NULL, NULL, IDS_NONE},
};

static int check_operands(const command *cmd, const cmd_args *a, berth_error *err) {
  if (a->n_operands < cmd->min_operands)
    return berth_error_set(err, BERTH_EINVAL, "%s needs a container ID", cmd->name);
  if (cmd->max_operands >= 0 && a->n_operands > cmd->max_operands)
    return berth_error_set(err, BERTH_EINVAL, "%s takes %s", cmd->name,
                           cmd->max_operands == 0 ? "no arguments" : "one container ID");
  return 0;
}

static int cmd_version(cli *c, cmd_args *a) { return berth_cmd_version(c->client, BERTH_VERSION, NULL); }

/* Replaces each operand by the full id it names in berthd's list (kept in
 * a->list); those that name none or several are reported and dropped. */
static int resolve_ids(cli *c, cmd_args *a) {
  berth_error err = {0};
  if (berth_call_list_containers(c->client, &a->list, &err) < 0) {
    print_error(&err);
    return EXIT_ERROR;
  }
  int rc = 0, kept = 0;
  for (int i = 0; i < a->n_operands; i++) {
    const char *id = NULL;
    if (berth_ids_resolve_id(a->list, a->operands[i], &id, &err) < 0) {
      print_error(&err);
      rc = EXIT_ERROR;
      continue;
    }
    a->operands[kept++] = (char *)id;
  }
  a->n_operands = kept;
  return rc;
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
  if (a.set[OPT_ADDR]) c->addr = a.value[OPT_ADDR];
  if (a.set[OPT_TOKEN_FILE]) c->token_file = a.value[OPT_TOKEN_FILE];
  if (cmd->fn == cmd_version) {
    /* The client's version is printed even when berthd is unreachable. */
    if (open_client(c, &err) < 0) return berth_cmd_version(NULL, BERTH_VERSION, &err);
    return cmd_version(c, &a);
  }
  if (open_client(c, &err) < 0) {
    print_error(&err);
    return EXIT_ERROR;
  }
  int rc = 0;
  if (cmd->ids != IDS_NONE && a.n_operands > 0) {
    rc = resolve_ids(c, &a);
    if (rc != 0 && (cmd->ids == IDS_ALL || a.n_operands == 0)) return rc;
  }
  int fn_rc = cmd->fn(c, &a);
  return fn_rc != 0 ? fn_rc : rc;
}

enum { GLOBAL_ADDR = 1, GLOBAL_TOKEN_FILE, GLOBAL_HELP, GLOBAL_VERSION };

static const berth_opt global_opts[] = {{"addr", 0, true, GLOBAL_ADDR},
                                        {"token_file", 0, true, GLOBAL_TOKEN_FILE},
                                        {"help", 'h', false, GLOBAL_HELP},
                                        {"version", 0, false, GLOBAL_VERSION},
                                        {NULL, 0, false, 0}};

/* Global options after a command that parses its own arguments (logs,
 * image): taken out of argv, up to a "--". */
static int take_global_options(cli *c, int *argc, char **argv, berth_error *err) {
  int kept = 0, i = 0;
  for (; i < *argc && strcmp(argv[i], "--") != 0; i++) {
    const char *names[] = {"--addr", "--token_file"};
    const char **slots[] = {&c->addr, &c->token_file};
    bool taken = false;
    for (size_t k = 0; k < 2 && !taken; k++) {
      size_t n = strlen(names[k]);
      if (strncmp(argv[i], names[k], n) != 0) continue;
      if (argv[i][n] == '=') {
        *slots[k] = argv[i] + n + 1;
        taken = true;
      } else if (argv[i][n] == '\0') {
        if (i + 1 >= *argc) return berth_error_set(err, BERTH_EINVAL, "%s needs a value", names[k]);
        *slots[k] = argv[++i];
        taken = true;
      }
    }
    if (!taken) argv[kept++] = argv[i];
  }
  for (; i < *argc; i++) argv[kept++] = argv[i];
  *argc = kept;
  return 0;
}

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
        /* run and exec take them themselves, before IMAGE or ID: after it
         * they are the task's. */
        if ((cmd->raw == cmd_logs || cmd->raw == cmd_image) &&
            take_global_options(c, &rest, argv + args.index, &err) < 0)
          return usage_error(cmd->name, &err);
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
