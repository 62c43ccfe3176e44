/* Loop-level tests of health checks (containerizer/health.c) against the
 * fake dockerd: a failing COMMAND check ends the container TASK_KILLED
 * with the health reason and the command's words; a check that hangs
 * past its timeout is looked at before another starts (never two at
 * once); a destroy or berthd's shutdown with an exec in flight cancels it
 * and leaks nothing; a TCP probe's thread reports back to the loop.  Each
 * test ends with every handle closed (czenv_free). */
#include "czenv.h"

#include "containerizer/health.h"
#include "containerizer/termination.h"

#define INSPECT_BODY(code)                                       \
  "{\"Id\":\"cid1\",\"State\":{\"Pid\":4242,\"ExitCode\":" #code \
  ",\"OOMKilled\":false,\"FinishedAt\":\"@NOW@\"},"              \
  "\"NetworkSettings\":{\"IPAddress\":\"\"}}"

/* A dockerd on which the task runs until it is killed (then exits 137). */
static void running_docker(czenv *e) {
  fake_docker *f = e->fake;
  fake_rule *kill = fake_rule_reply(fake_on(f, "POST", "/containers/*/kill"), 204, NULL);
  fake_rule_reply(fake_rule_after(fake_on(f, "POST", "/containers/*/wait"), kill), 200, "{\"StatusCode\":137}");
  fake_rule_reply(fake_on(f, "GET", "/containers/*/json"), 200, INSPECT_BODY(137));
  fake_rule_reply(fake_on(f, "GET", "/images/*/json"), 200, "{\"Id\":\"sha256:img\"}");
  fake_rule_reply(fake_on(f, "POST", "/containers/create"), 201, "{\"Id\":\"cid1\",\"Warnings\":[]}");
  fake_rule *start = fake_rule_reply(fake_on(f, "POST", "/containers/*/start"), 204, NULL);
  fake_rule *attach =
      fake_rule_stream(fake_on(f, "POST", "/containers/*/attach"), 200, "application/vnd.docker.raw-stream", FAKE_RAW);
  fake_rule_stream_after(attach, start);
  fake_rule_end(attach, FAKE_END_HOLD);
  fake_rule_stream(fake_on(f, "GET", "/containers/*/logs"), 200, "application/vnd.docker.multiplexed-stream",
                   FAKE_CHUNKED);
  fake_rule_reply(fake_on(f, "DELETE", "/containers/*"), 204, NULL);
}

static int setup(void **state) {
  *state = czenv_new();
  czenv_start(*state);
  return 0;
}

static int teardown(void **state) {
  czenv_free(*state);
  return 0;
}

static void launch(czenv *e, const char *check, outcome *launched, outcome *ended) {
  char buf[2048];
  snprintf(buf, sizeof(buf),
           "{\"container_id\":{\"value\":\"web-1\"},\"command\":{\"value\":\"sleep 600\"},"
           "\"container\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"busybox:local\"}},\"health_check\":%s}",
           check);
  json_t *l = tu_json(buf);
  berth_error err = {0};
  int rc = berth_cz_launch(e->cz, l, cz_done_cb, launched, &err);
  json_decref(l);
  if (rc != 0) fail_msg("launch refused: %s", err.msg);
  assert_int_equal(berth_cz_wait(e->cz, "web-1", cz_wait_cb, ended, &err), 0);
}

#define FAST "\"delay_seconds\":0,\"interval_seconds\":0.01,\"grace_period_seconds\":0"

static void assert_health_kill(outcome *ended, const char *words) {
  tu_assert_json_str(ended->termination, "state", "TASK_KILLED");
  tu_assert_json_str(ended->termination, "reason", BERTH_REASON_HEALTH_CHECK);
  tu_assert_contains(json_string_value(json_object_get(ended->termination, "message")), words);
}

static void failing_command_destroys_with_reason_and_output(void **state) {
  czenv *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/exec"), 201, "{\"Id\":\"ex1\"}");
  fake_rule *start =
      fake_rule_stream(fake_on(e->fake, "POST", "/exec/*/start"), 200, "application/vnd.docker.raw-stream", FAKE_RAW);
  fake_rule_frame(start, 0, 2, "not\x01 ready\n");
  fake_rule_reply(fake_on(e->fake, "GET", "/exec/*/json"), 200, "{\"Running\":false,\"ExitCode\":3}");
  running_docker(e);
  outcome launched = {0}, ended = {0};
  launch(e, "{\"type\":\"COMMAND\",\"command\":{\"value\":\"test -f /ok\"},\"consecutive_failures\":2," FAST "}",
         &launched, &ended);
  czenv_run(e, &ended);
  assert_int_equal(launched.rc, 0);
  assert_health_kill(&ended, "exited with status 3: not  ready");
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/*/exec"), 2);
  fake_request *q = fake_docker_request(e->fake, "POST", "/containers/*/exec", 0);
  json_t *body = tu_json(q->body);
  tu_assert_json_eq(json_object_get(body, "Cmd"), "[\"/bin/sh\", \"-c\", \"test -f /ok\"]");
  assert_true(json_is_true(json_object_get(body, "AttachStdout")));
  json_decref(body);
  fake_request_free(q);
  json_t *entry = czenv_entry(e, "web-1");
  json_t *h = json_object_get(entry, "health");
  tu_assert_json_str(h, "status", "UNHEALTHY");
  tu_assert_json_int(h, "consecutive_failures", 2);
  json_decref(entry);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void passing_command_is_healthy_and_keeps_running(void **state) {
  czenv *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/exec"), 201, "{\"Id\":\"ex1\"}");
  fake_rule_stream(fake_on(e->fake, "POST", "/exec/*/start"), 200, "application/vnd.docker.raw-stream", FAKE_RAW);
  fake_rule_reply(fake_on(e->fake, "GET", "/exec/*/json"), 200, "{\"Running\":false,\"ExitCode\":0}");
  running_docker(e);
  outcome launched = {0}, ended = {0};
  launch(e, "{\"type\":\"COMMAND\",\"command\":{\"value\":\"true\"}," FAST "}", &launched, &ended);
  czenv_wait_requests(e, "GET", "/exec/*/json", 3);
  json_t *entry = czenv_entry(e, "web-1");
  tu_assert_json_str(entry, "stage", "RUNNING");
  tu_assert_json_str(json_object_get(entry, "health"), "status", "HEALTHY");
  tu_assert_json_int(json_object_get(entry, "health"), "consecutive_failures", 0);
  json_decref(entry);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void hung_command_is_not_started_twice(void **state) {
  czenv *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/exec"), 201, "{\"Id\":\"ex1\"}");
  fake_rule_hold(fake_on(e->fake, "POST", "/exec/*/start"));
  fake_rule_reply(fake_on(e->fake, "GET", "/exec/*/json"), 200, "{\"Running\":true,\"ExitCode\":null}");
  running_docker(e);
  outcome launched = {0}, ended = {0};
  launch(e,
         "{\"type\":\"COMMAND\",\"command\":{\"value\":\"sleep 99\"},\"consecutive_failures\":3,"
         "\"timeout_seconds\":0.3," FAST "}",
         &launched, &ended);
  czenv_run(e, &ended);
  assert_health_kill(&ended, "still running past its timeout");
  /* One command started for three failures: the one that timed out was
   * inspected, still running, instead of a second being started. */
  assert_int_equal(fake_docker_count(e->fake, "POST", "/exec/*/start"), 1);
  assert_true(fake_docker_count(e->fake, "GET", "/exec/*/json") >= 1);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void destroy_with_exec_in_flight_cancels_it(void **state) {
  czenv *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/exec"), 201, "{\"Id\":\"ex1\"}");
  fake_rule *hold = fake_rule_hold(fake_on(e->fake, "POST", "/exec/*/start"));
  running_docker(e);
  outcome launched = {0}, ended = {0};
  launch(e, "{\"type\":\"COMMAND\",\"command\":{\"value\":\"sleep 99\"}," FAST "}", &launched, &ended);
  czenv_wait_requests(e, "POST", "/exec/*/start", 1);
  berth_error err = {0};
  assert_int_equal(berth_cz_kill(e->cz, "web-1", 0, NULL, NULL, &err), 0);
  czenv_run(e, &ended);
  tu_assert_json_str(ended.termination, "state", "TASK_KILLED");
  assert_null(json_object_get(ended.termination, "reason"));
  assert_int_equal(fake_rule_gone(e->fake, hold, 1, MAX_MS), 1);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void shutdown_with_exec_in_flight_leaks_nothing(void **state) {
  czenv *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/exec"), 201, "{\"Id\":\"ex1\"}");
  fake_rule_hold(fake_on(e->fake, "POST", "/exec/*/start"));
  running_docker(e);
  outcome launched = {0}, ended = {0};
  launch(e, "{\"type\":\"COMMAND\",\"command\":{\"value\":\"sleep 99\"}," FAST "}", &launched, &ended);
  czenv_wait_requests(e, "POST", "/exec/*/start", 1);
  outcome_clear(&launched);
  outcome_clear(&ended);
  /* teardown frees the containerizer now, as berthd's shutdown does. */
}

static void tcp_probe_reports_back_through_its_thread(void **state) {
  czenv *e = *state;
  running_docker(e);
  outcome launched = {0}, ended = {0};
  /* The fake's pid (4242) has no namespace under the test's proc root:
   * the probe fails in its thread, and the loop hears of it. */
  launch(e, "{\"type\":\"TCP\",\"tcp\":{\"port\":8080},\"consecutive_failures\":1," FAST "}", &launched, &ended);
  czenv_run(e, &ended);
  assert_health_kill(&ended, "TCP health check");
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void dockerd_refusing_exec_as_not_running_counts_nothing(void **state) {
  czenv *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/exec"), 409, "{\"message\":\"container is not running\"}");
  running_docker(e);
  outcome launched = {0}, ended = {0};
  launch(e, "{\"type\":\"COMMAND\",\"command\":{\"value\":\"true\"},\"consecutive_failures\":1," FAST "}", &launched,
         &ended);
  czenv_wait_requests(e, "POST", "/containers/*/exec", 3);
  json_t *entry = czenv_entry(e, "web-1");
  tu_assert_json_str(entry, "stage", "RUNNING");
  tu_assert_json_str(json_object_get(entry, "health"), "status", "STARTING");
  json_decref(entry);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(failing_command_destroys_with_reason_and_output, setup, teardown),
      cmocka_unit_test_setup_teardown(passing_command_is_healthy_and_keeps_running, setup, teardown),
      cmocka_unit_test_setup_teardown(hung_command_is_not_started_twice, setup, teardown),
      cmocka_unit_test_setup_teardown(destroy_with_exec_in_flight_cancels_it, setup, teardown),
      cmocka_unit_test_setup_teardown(shutdown_with_exec_in_flight_leaks_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(tcp_probe_reports_back_through_its_thread, setup, teardown),
      cmocka_unit_test_setup_teardown(dockerd_refusing_exec_as_not_running_counts_nothing, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
