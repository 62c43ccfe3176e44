/* Unit tests for containerizer/termination: how WAIT_CONTAINER reports
 * an ended container (API.md §3). */
#include <stdbool.h>

#include "testutil.h"

#include "containerizer/termination.h"

static void exit_0_is_finished(void **state) {
  (void)state;
  berth_exit_info info = {.exit_code = 0};
  json_t *t = berth_termination_from_exit(&info);
  tu_assert_json_eq(t, "{\"exit_status\": 0, \"exit_code\": 0, \"state\": \"TASK_FINISHED\"}");
  json_decref(t);
}

static void exit_3_is_failed_with_wait_status_768(void **state) {
  (void)state;
  berth_exit_info info = {.exit_code = 3};
  json_t *t = berth_termination_from_exit(&info);
  tu_assert_json_eq(t, "{\"exit_status\": 768, \"exit_code\": 3, \"state\": \"TASK_FAILED\"}");
  json_decref(t);
}

static void exit_1_and_255_statuses(void **state) {
  (void)state;
  berth_exit_info info = {.exit_code = 1};
  json_t *t = berth_termination_from_exit(&info);
  tu_assert_json_int(t, "exit_status", 256);
  tu_assert_json_str(t, "state", "TASK_FAILED");
  json_decref(t);
  info.exit_code = 255;
  t = berth_termination_from_exit(&info);
  tu_assert_json_int(t, "exit_status", 255 << 8);
  tu_assert_json_int(t, "exit_code", 255);
  json_decref(t);
}

static void killed_is_task_killed(void **state) {
  (void)state;
  berth_exit_info info = {.exit_code = 137, .killed = true};
  json_t *t = berth_termination_from_exit(&info);
  tu_assert_json_str(t, "state", "TASK_KILLED");
  tu_assert_json_int(t, "exit_code", 137);
  assert_null(json_object_get(t, "reason"));
  json_decref(t);
}

/* API.md: "TASK_KILLED even if it exits 0 on the signal". */
static void killed_with_exit_0_is_still_killed(void **state) {
  (void)state;
  berth_exit_info info = {.exit_code = 0, .killed = true};
  json_t *t = berth_termination_from_exit(&info);
  tu_assert_json_str(t, "state", "TASK_KILLED");
  tu_assert_json_int(t, "exit_status", 0);
  json_decref(t);
}

static void oom_is_failed_with_memory_limitation(void **state) {
  (void)state;
  berth_exit_info info = {.exit_code = 137, .oom_killed = true, .mem_limit_mb = 64};
  json_t *t = berth_termination_from_exit(&info);
  tu_assert_json_str(t, "state", "TASK_FAILED");
  tu_assert_json_str(t, "reason", "REASON_CONTAINER_LIMITATION_MEMORY");
  tu_assert_json_int(t, "exit_code", 137);
  const char *msg = json_string_value(json_object_get(t, "message"));
  tu_assert_contains(msg, "Memory limit exceeded");
  tu_assert_contains(msg, "64 MB");
  tu_assert_json_eq(json_object_get(t, "limitation"),
                    "{\"resources\": [{\"name\": \"mem\", \"type\": \"SCALAR\", \"scalar\": {\"value\": 64.0}}]}");
  json_decref(t);
}

static void oom_without_known_limit(void **state) {
  (void)state;
  berth_exit_info info = {.exit_code = 137, .oom_killed = true};
  json_t *t = berth_termination_from_exit(&info);
  tu_assert_json_str(t, "state", "TASK_FAILED");
  tu_assert_json_str(t, "reason", "REASON_CONTAINER_LIMITATION_MEMORY");
  tu_assert_contains(json_string_value(json_object_get(t, "message")), "Memory limit exceeded");
  tu_assert_json_eq(json_object_get(t, "limitation"), "{\"resources\": [{\"name\": \"mem\", \"type\": \"SCALAR\"}]}");
  json_decref(t);
}

/* The kernel's kill wins over a destroy that was under way. */
static void oom_during_kill_is_failed_not_killed(void **state) {
  (void)state;
  berth_exit_info info = {.exit_code = 137, .oom_killed = true, .killed = true, .mem_limit_mb = 32};
  json_t *t = berth_termination_from_exit(&info);
  tu_assert_json_str(t, "state", "TASK_FAILED");
  tu_assert_json_str(t, "reason", "REASON_CONTAINER_LIMITATION_MEMORY");
  json_decref(t);
}

static void exit_137_without_oom_is_not_oom(void **state) {
  (void)state;
  berth_exit_info info = {.exit_code = 137, .mem_limit_mb = 64};
  json_t *t = berth_termination_from_exit(&info);
  tu_assert_json_str(t, "state", "TASK_FAILED");
  /* Docker reports a SIGKILL death as 128+9; the status is built from that
   * code, as Mesos does from `docker wait`. */
  tu_assert_json_eq(t, "{\"exit_status\": 35072, \"exit_code\": 137, \"state\": \"TASK_FAILED\"}");
  json_decref(t);
}

static void launch_failed_reason(void **state) {
  (void)state;
  json_t *t = berth_termination_launch_failed("Failed to pull image 'x': no such image", false);
  tu_assert_json_eq(t,
                    "{\"state\": \"TASK_FAILED\", \"reason\": \"REASON_CONTAINER_LAUNCH_FAILED\","
                    " \"message\": \"Failed to pull image 'x': no such image\"}");
  json_decref(t);
}

static void killed_during_launch_reason(void **state) {
  (void)state;
  json_t *t = berth_termination_launch_failed("killed while PULLING", true);
  tu_assert_json_eq(t,
                    "{\"state\": \"TASK_KILLED\", \"reason\": \"REASON_TASK_KILLED_DURING_LAUNCH\","
                    " \"message\": \"killed while PULLING\"}");
  json_decref(t);
}

/* The start errors of runc and crun, as dockerd relays them. */
static void exec_failures_get_docker_runs_codes(void **state) {
  (void)state;
  assert_int_equal(berth_termination_exec_code("OCI runtime create failed: runc create failed: unable to start "
                                               "container process: exec: \"nope\": executable file not found in "
                                               "$PATH: unknown"),
                   127);
  assert_int_equal(berth_termination_exec_code("exec: \"/nope\": stat /nope: no such file or directory: unknown"), 127);
  assert_int_equal(berth_termination_exec_code("OCI runtime create failed: executable file `nope` not found in $PATH: "
                                               "No such file or directory: unknown"),
                   127);
  assert_int_equal(berth_termination_exec_code("exec: \"/etc/passwd\": permission denied: unknown"), 126);
  assert_int_equal(berth_termination_exec_code("OCI runtime create failed: open executable: Permission denied"), 126);
  assert_int_equal(berth_termination_exec_code("driver failed programming external connectivity"), 0);
  assert_int_equal(berth_termination_exec_code(NULL), 0);
  json_t *t = berth_termination_launch_failed_code("Failed to start container for image 'x': exec failed", 127);
  tu_assert_json_eq(t,
                    "{\"state\": \"TASK_FAILED\", \"reason\": \"REASON_CONTAINER_LAUNCH_FAILED\","
                    " \"message\": \"Failed to start container for image 'x': exec failed\","
                    " \"exit_code\": 127, \"exit_status\": 32512}");
  json_decref(t);
  t = berth_termination_launch_failed_code("m", 0);
  assert_null(json_object_get(t, "exit_code"));
  json_decref(t);
}

static void gone_is_executor_terminated(void **state) {
  (void)state;
  json_t *t = berth_termination_gone("docker container vanished");
  tu_assert_json_eq(t,
                    "{\"state\": \"TASK_FAILED\", \"reason\": \"REASON_EXECUTOR_TERMINATED\","
                    " \"message\": \"docker container vanished\"}");
  json_decref(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(exit_0_is_finished),
      cmocka_unit_test(exit_3_is_failed_with_wait_status_768),
      cmocka_unit_test(exit_1_and_255_statuses),
      cmocka_unit_test(killed_is_task_killed),
      cmocka_unit_test(killed_with_exit_0_is_still_killed),
      cmocka_unit_test(oom_is_failed_with_memory_limitation),
      cmocka_unit_test(exec_failures_get_docker_runs_codes),
      cmocka_unit_test(oom_without_known_limit),
      cmocka_unit_test(oom_during_kill_is_failed_not_killed),
      cmocka_unit_test(exit_137_without_oom_is_not_oom),
      cmocka_unit_test(launch_failed_reason),
      cmocka_unit_test(killed_during_launch_reason),
      cmocka_unit_test(gone_is_executor_terminated),
  };
  return cmocka_run_group_tests_name("termination", tests, NULL, NULL);
}
