#include "containerizer/termination.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/text.h"

json_t *berth_termination_from_exit(const berth_exit_info *info) {
  json_t *t = json_object();
  /* Docker only reports an exit code (128+S for signal deaths), so the
   * wait(2) status is built from it as Mesos does from `docker wait`. */
  json_object_set_new(t, "exit_status", json_integer((json_int_t)(info->exit_code & 0xff) << 8));
  json_object_set_new(t, "exit_code", json_integer(info->exit_code));
  const char *state = info->killed ? "TASK_KILLED" : info->exit_code == 0 ? "TASK_FINISHED" : "TASK_FAILED";
  if (info->oom_killed) {
    /* The kernel ended it, not the caller: the limit is the cause even if
     * a kill was under way. */
    state = "TASK_FAILED";
    char msg[160];
    if (info->mem_limit_mb > 0)
      snprintf(msg, sizeof(msg), "Memory limit exceeded: the container was OOM-killed at its limit of %.0f MB",
               info->mem_limit_mb);
    else
      snprintf(msg, sizeof(msg), "Memory limit exceeded: the container was OOM-killed");
    json_object_set_new(t, "reason", json_string(BERTH_REASON_MEMORY));
    json_object_set_new(t, "message", json_string(msg));
    json_t *mem = json_pack("{s:s,s:s}", "name", "mem", "type", "SCALAR");
    if (info->mem_limit_mb > 0) json_object_set_new(mem, "scalar", json_pack("{s:f}", "value", info->mem_limit_mb));
    json_object_set_new(t, "limitation", json_pack("{s:[o]}", "resources", mem));
  }
  json_object_set_new(t, "state", json_string(state));
  return t;
}

/* The message carries docker's or a task's text: built with
 * berth_json_text so that no byte in it can make the record NULL. */
json_t *berth_termination_launch_failed(const char *message, bool killed) {
  json_t *t = json_object();
  json_object_set_new(t, "state", json_string(killed ? "TASK_KILLED" : "TASK_FAILED"));
  json_object_set_new(t, "reason",
                      json_string(killed ? BERTH_REASON_KILLED_DURING_LAUNCH : BERTH_REASON_LAUNCH_FAILED));
  json_object_set_new(t, "message", berth_json_text(message));
  return t;
}

int berth_termination_exec_code(const char *start_error) {
  if (!start_error) return 0;
  /* The same phrases docker's own CLI looks for (cli/command/container/run.go). */
  if (strstr(start_error, "executable file not found") || strcasestr(start_error, "no such file or directory") ||
      (strstr(start_error, "executable file") && strstr(start_error, "not found")))
    return BERTH_EXIT_NOT_FOUND;
  if (strcasestr(start_error, "permission denied")) return BERTH_EXIT_NOT_EXECUTABLE;
  return 0;
}

json_t *berth_termination_launch_failed_code(const char *message, int exit_code) {
  json_t *t = berth_termination_launch_failed(message, false);
  if (exit_code > 0) {
    json_object_set_new(t, "exit_status", json_integer((json_int_t)(exit_code & 0xff) << 8));
    json_object_set_new(t, "exit_code", json_integer(exit_code));
  }
  return t;
}

json_t *berth_termination_gone(const char *message) {
  json_t *t = json_object();
  json_object_set_new(t, "state", json_string("TASK_FAILED"));
  json_object_set_new(t, "reason", json_string(BERTH_REASON_EXECUTOR_TERMINATED));
  json_object_set_new(t, "message", berth_json_text(message));
  return t;
}
