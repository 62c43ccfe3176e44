/* How a container ended, as WAIT_CONTAINER reports it (API.md §3).  Pure. */
#ifndef BERTH_CONTAINERIZER_TERMINATION_H
#define BERTH_CONTAINERIZER_TERMINATION_H

#include <jansson.h>
#include <stdbool.h>

#define BERTH_REASON_LAUNCH_FAILED "REASON_CONTAINER_LAUNCH_FAILED"
#define BERTH_REASON_KILLED_DURING_LAUNCH "REASON_TASK_KILLED_DURING_LAUNCH"
#define BERTH_REASON_MEMORY "REASON_CONTAINER_LIMITATION_MEMORY"
#define BERTH_REASON_EXECUTOR_TERMINATED "REASON_EXECUTOR_TERMINATED"
#define BERTH_REASON_MAX_COMPLETION "REASON_MAX_COMPLETION_TIME_REACHED"

typedef struct berth_exit_info {
  int exit_code;       /* docker's: 128+S for a death by signal S */
  bool oom_killed;     /* docker's State.OOMKilled */
  bool killed;         /* ended by KILL_CONTAINER (destroy) */
  double mem_limit_mb; /* for the OOM message; 0 if unknown */
} berth_exit_info;

/* {exit_status, exit_code, state, [reason, message, limitation]}. */
json_t *berth_termination_from_exit(const berth_exit_info *info);

/* A launch that never ran: TASK_FAILED/launch failed, or TASK_KILLED/
 * killed during launch. */
json_t *berth_termination_launch_failed(const char *message, bool killed);

/* docker run's exit codes for a command the runtime could not exec,
 * told from the text of the start error dockerd relays (runc: "exec:
 * \"x\": executable file not found in $PATH", "stat /x: no such file or
 * directory", "permission denied"; crun: "executable file `x` not found",
 * "open executable: Permission denied"): 127 not found, 126 not
 * executable, 0 for any other failure. */
#define BERTH_EXIT_NOT_FOUND 127
#define BERTH_EXIT_NOT_EXECUTABLE 126
int berth_termination_exec_code(const char *start_error);

/* As berth_termination_launch_failed (never killed), with exit_code and
 * exit_status when exit_code > 0: a start refused by one of the codes
 * above, so that WAIT reports 127 or 126 as docker run exits. */
json_t *berth_termination_launch_failed_code(const char *message, int exit_code);

/* The docker container vanished or could not be read. */
json_t *berth_termination_gone(const char *message);

#endif
