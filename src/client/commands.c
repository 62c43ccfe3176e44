#include "client/commands.h"

#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "client/calls.h"
#include "client/cli_args.h"
#include "client/stats.h"
#include "client/table.h"
#include "util/alloc.h"

/* ---- help ---- */

const char berth_help_ps[] =
    "Usage: berth ps [-a] [-q] [--filter KEY=VALUE]... [--format TEMPLATE] [--json]\n"
    "\n"
    "List the containers berthd knows.  STATUS is the stage, or for a\n"
    "TERMINATED container its state, exit code and reason.\n"
    "\n"
    "  -a, --all            include TERMINATED containers (kept until 'berth rm')\n"
    "  -q, --quiet          print the container ids only\n"
    "  -f, --filter K=V     show only containers that match: status=STAGE or\n"
    "                       TASK STATE (running, terminated, exited, failed,\n"
    "                       TASK_KILLED...), label=KEY or label=KEY=VALUE (the\n"
    "                       docker labels), name=TEXT (part of the id).  As in\n"
    "                       docker, filters of one key match when any does and\n"
    "                       different keys must all match; a status filter also\n"
    "                       looks at TERMINATED containers without -a\n"
    "  --format TEMPLATE    print each container by a Go-like template:\n"
    "                       {{.ID}} {{.Image}} {{.Stage}} {{.State}} {{.Status}}\n"
    "                       {{.Reason}} {{.ExitCode}} {{.Message}} {{.Name}}\n"
    "                       {{.Labels}} {{.Label \"KEY\"}} {{json .}}; \\t is a\n"
    "                       tab; 'table ' first adds a header and aligns columns\n"
    "  --json               print the containers as a JSON array (berthd's objects)\n";

const char berth_help_rm[] =
    "Usage: berth rm [-f] ID...\n"
    "\n"
    "Forget terminated containers: their record, sandbox and docker\n"
    "container.  A container that has not terminated is refused\n"
    "('berth kill' it first, or use -f).  'berth rm $(berth ps -aq)' removes\n"
    "every container.\n"
    "\n"
    "  -f, --force   kill a container that has not terminated (destroy, with\n"
    "                SIGKILL at once), wait for its end, then remove it\n";

const char berth_help_prune[] =
    "Usage: berth prune [-f]\n"
    "\n"
    "Remove every TERMINATED container, as 'berth rm' does, and print the id\n"
    "of each.  Asks first; when stdin is not a terminal it refuses instead\n"
    "(exit 125), so a script never hangs on the question.\n"
    "\n"
    "  -f, --force   do not ask\n";

const char berth_help_version[] =
    "Usage: berth version\n"
    "\n"
    "Print berth's version, then berthd's and the Docker Engine API version\n"
    "berthd speaks (its /version).  Exits 1 when berthd cannot be reached.\n";

/* ---- ps ---- */

enum { PS_COLUMNS = 5, PS_CELL = 256 };

static void ps_row(json_t *container, char cells[PS_COLUMNS][PS_CELL]) {
  const char *id = json_string_value(json_object_get(json_object_get(container, "container_id"), "value"));
  const char *image = json_string_value(json_object_get(container, "image"));
  const char *name = json_string_value(json_object_get(container, "docker_name"));
  snprintf(cells[0], PS_CELL, "%s", id ? id : "");
  snprintf(cells[1], PS_CELL, "%s", image ? image : "");
  snprintf(cells[2], PS_CELL, "%s", berth_container_stage(container));
  berth_container_status(container, cells[3], PS_CELL);
  snprintf(cells[4], PS_CELL, "%s", name ? name : "");
}

static void print_formatted(json_t *shown, const berth_format *format) {
  size_t n = json_array_size(shown);
  bool table = berth_format_is_table(format);
  char **lines = berth_calloc(n + 1, sizeof(*lines));
  size_t k = 0;
  if (table) lines[k++] = berth_format_header(format);
  size_t i;
  json_t *container;
  json_array_foreach(shown, i, container) lines[k++] = berth_format_render(format, container);
  if (table) {
    berth_table_print_tabbed(stdout, lines, k);
  } else {
    for (i = 0; i < k; i++) printf("%s\n", lines[i]);
  }
  for (i = 0; i < k; i++) free(lines[i]);
  free(lines);
}

int berth_cmd_ps(json_t *list, const berth_ps_opts *o) {
  cleanup_json json_t *shown = json_array();
  size_t i;
  json_t *container;
  json_array_foreach(list, i, container) {
    /* As docker ps: without -a only what has not ended, unless a status
     * filter asks for more. */
    bool ended = strcmp(berth_container_stage(container), "TERMINATED") == 0;
    bool status_filter = false;
    for (size_t f = 0; f < o->filters.n; f++) status_filter |= o->filters.items[f].kind == BERTH_FILTER_STATUS;
    if (ended && !o->all && !status_filter) continue;
    if (berth_filters_match(&o->filters, container)) json_array_append(shown, container);
  }
  if (o->quiet) {
    json_array_foreach(shown, i, container) {
      printf("%s\n", json_string_value(json_object_get(json_object_get(container, "container_id"), "value")));
    }
    return 0;
  }
  if (o->json) {
    json_dumpf(shown, stdout, JSON_COMPACT | BERTH_JSON_REAL);
    putchar('\n');
    return 0;
  }
  if (o->format) {
    print_formatted(shown, o->format);
    return 0;
  }
  size_t n = json_array_size(shown) + 1;
  cleanup_free char(*cells)[PS_CELL] = berth_calloc(n * PS_COLUMNS, sizeof(*cells));
  static const char *const headers[PS_COLUMNS] = {"CONTAINER ID", "IMAGE", "STAGE", "STATUS", "DOCKER NAME"};
  for (int col = 0; col < PS_COLUMNS; col++) snprintf(cells[col], PS_CELL, "%s", headers[col]);
  json_array_foreach(shown, i, container) ps_row(container, cells + (i + 1) * PS_COLUMNS);
  berth_table_print(stdout, cells[0], sizeof(*cells), n, PS_COLUMNS);
  return 0;
}

/* ---- rm -f ---- */

int berth_cmd_rm_force(berth_client *client, const char *id, berth_error *err) {
  cleanup_json json_t *list = NULL;
  int ret = berth_call_list_containers(client, &list, err);
  if (ret < 0) return ret;
  json_t *container = berth_containers_find(list, id);
  if (!container) return berth_error_set(err, BERTH_ENOENT, "no such container: %s", id);
  if (strcmp(berth_container_stage(container), "TERMINATED") != 0) {
    /* Destroy first, so the end is recorded as a kill (TASK_KILLED);
     * then SIGKILL, as docker rm -f does, so no grace period is waited
     * out.  The signal is refused (409) when no process runs yet, which
     * the destroy covers. */
    cleanup_json json_t *destroy = berth_request_kill(id, 0);
    ret = berth_call_simple(client, destroy, err);
    if (ret < 0) return ret;
    cleanup_json json_t *sigkill = berth_request_kill(id, 9);
    berth_error ignored = {0};
    berth_call_simple(client, sigkill, &ignored); /* best effort, see above */
    cleanup_json json_t *wait = NULL;
    ret = berth_call_wait(client, id, &wait, err);
    if (ret < 0) return ret;
  }
  cleanup_json json_t *remove = berth_request_remove(id);
  return berth_call_simple(client, remove, err);
}

/* ---- prune ---- */

static bool confirmed(void) {
  fputs("WARNING! This will remove all TERMINATED containers.\nAre you sure you want to continue? [y/N] ", stderr);
  fflush(stderr);
  char line[16];
  if (!fgets(line, sizeof(line), stdin)) return false;
  line[strcspn(line, "\r\n")] = '\0';
  return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}

int berth_cmd_prune(berth_client *client, bool force) {
  if (!force && !isatty(STDIN_FILENO)) {
    fprintf(stderr,
            "berth: prune asks before removing, and stdin is not a terminal: add -f to remove without asking\n");
    return BERTH_EXIT_USAGE;
  }
  if (!force && !confirmed()) return 0;
  berth_error err = {0};
  cleanup_json json_t *list = NULL;
  if (berth_call_list_containers(client, &list, &err) < 0) {
    fprintf(stderr, "berth: %s\n", err.msg);
    return BERTH_EXIT_ERROR;
  }
  int rc = 0;
  size_t i;
  json_t *container;
  json_array_foreach(list, i, container) {
    if (strcmp(berth_container_stage(container), "TERMINATED") != 0) continue;
    const char *id = json_string_value(json_object_get(json_object_get(container, "container_id"), "value"));
    if (!id) continue;
    cleanup_json json_t *remove = berth_request_remove(id);
    if (berth_call_simple(client, remove, &err) < 0) {
      fprintf(stderr, "berth: %s\n", err.msg);
      rc = BERTH_EXIT_ERROR;
      continue;
    }
    printf("%s\n", id);
    fflush(stdout);
  }
  return rc;
}

/* ---- version ---- */

int berth_cmd_version(berth_client *client, const char *client_version, const berth_error *connect_error) {
  printf("Client:\n Version:     %s\n", client_version);
  berth_error err = {0};
  cleanup_json json_t *v = NULL;
  if (!client) {
    err = *connect_error;
  } else if (berth_call_version(client, &v, &err) == 0) {
    const char *server = json_string_value(json_object_get(v, "version"));
    const char *api = json_string_value(json_object_get(v, "docker_api_version"));
    printf("Server:\n Version:     %s\n Docker API:  %s\n", server ? server : "unknown", api ? api : "unknown");
    return 0;
  }
  fflush(stdout);
  fprintf(stderr, "berth: %s\n", err.msg);
  return BERTH_EXIT_ERROR;
}

/* ---- stats ---- */

static void print_stats(json_t *entries, bool as_json, bool stream) {
  if (as_json) {
    json_dumpf(entries, stdout, JSON_COMPACT | BERTH_JSON_REAL);
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
    berth_table_print(stdout, cells[0], sizeof(*cells), n, BERTH_STATS_COLUMNS);
  }
  fflush(stdout); /* each table or line as it is made, even into a pipe */
}

/* A signal while streaming is how the user stops it: not an error. */
static int stats_failed(const berth_error *err) {
  if (err->code == BERTH_ECANCELED) return 0;
  fprintf(stderr, "berth: %s\n", err->msg);
  return BERTH_EXIT_ERROR;
}

int berth_cmd_stats(berth_client *client, char *const *ids, size_t n_ids, bool as_json, bool stream,
                    volatile sig_atomic_t *signals) {
  berth_error err = {0};
  cleanup_json json_t *prev = NULL;
  if (berth_call_list_containers(client, &prev, &err) < 0) return stats_failed(&err);
  /* Every unknown id is reported before anything is shown. */
  int rc = 0;
  for (size_t i = 0; i < n_ids; i++) {
    if (berth_containers_find(prev, ids[i])) continue;
    fprintf(stderr, "berth: no such container: %s\n", ids[i]);
    rc = BERTH_EXIT_ERROR;
  }
  if (rc != 0) return rc;
  for (;;) {
    /* CPU % is a rate: it needs a second sample.  A signal ends the sleep
     * early (the caller's handlers have no SA_RESTART); that EINTR is
     * ignored on purpose, *signals says why the sleep ended. */
    nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
    if (*signals > 0) return 0;
    cleanup_json json_t *cur = NULL;
    if (berth_call_list_containers(client, &cur, &err) < 0) return stats_failed(&err);
    cleanup_json json_t *entries = berth_stats_entries(prev, cur, ids, n_ids);
    print_stats(entries, as_json, stream);
    if (!stream) return 0;
    json_decref(prev);
    prev = json_incref(cur);
  }
}

/* ---- run ---- */

int berth_launch_failure_code(berth_client *client, const char *id) {
  berth_error err = {0};
  cleanup_json json_t *list = NULL;
  if (berth_call_list_containers(client, &list, &err) < 0) return 0;
  json_t *code = json_object_get(json_object_get(berth_containers_find(list, id), "termination"), "exit_code");
  return json_is_integer(code) ? (int)json_integer_value(code) : 0;
}

void berth_print_minimum_notes(double cpus, double mem_mb, double cpus_limit, double mem_limit_mb) {
  char notes[BERTH_MINIMUM_NOTES][128];
  size_t n = berth_cli_minimum_notes(cpus, mem_mb, cpus_limit, mem_limit_mb, notes);
  for (size_t i = 0; i < n; i++) fprintf(stderr, "berth: warning: %s\n", notes[i]);
}
