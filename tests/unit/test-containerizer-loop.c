/* Loop-level tests of the containerizer through its public API, against
 * the fake dockerd: a launch to its end, the failure of every launch stage,
 * a destroy in every stage, dockerd vanishing mid-attach, signals and
 * removal.  Each test ends with every handle closed and uv_loop_close
 * returning 0 (czenv_free). */
#include "czenv.h"

#include "containerizer/termination.h"

#define NAME "berth-" AGENT ".web-1"

/* The rules of a dockerd on which everything works; a test that wants a
 * stage to behave otherwise adds its own rule first (first match wins),
 * and passes its own start rule in s->start (the attach's output waits for
 * a start). */
typedef struct script {
  fake_rule *image, *pull, *create, *attach, *start, *wait, *inspect, *logs, *kill, *remove;
} script;

#define INSPECT_BODY(code)                                       \
  "{\"Id\":\"cid1\",\"State\":{\"Pid\":4242,\"ExitCode\":" #code \
  ",\"OOMKilled\":false,\"FinishedAt\":\"@NOW@\"},"              \
  "\"NetworkSettings\":{\"IPAddress\":\"172.17.0.9\"}}"

static void happy_docker(czenv *e, script *s) {
  fake_docker *f = e->fake;
  s->image = fake_rule_reply(fake_on(f, "GET", "/images/*/json"), 200, "{\"Id\":\"sha256:img\"}");
  s->pull = fake_rule_stream(fake_on(f, "POST", "/images/create"), 200, "application/json", FAKE_CHUNKED);
  fake_rule_piece(s->pull, 0, "{\"status\":\"Pulling\"}\r\n", 22);
  s->create = fake_rule_reply(fake_on(f, "POST", "/containers/create"), 201, "{\"Id\":\"cid1\",\"Warnings\":[]}");
  if (!s->start) s->start = fake_rule_reply(fake_on(f, "POST", "/containers/*/start"), 204, NULL);
  /* As from dockerd: the output comes once the container started, and the
   * stream ends when it stops. */
  s->attach =
      fake_rule_stream(fake_on(f, "POST", "/containers/*/attach"), 200, "application/vnd.docker.raw-stream", FAKE_RAW);
  fake_rule_stream_after(s->attach, s->start);
  fake_rule_frame(s->attach, 0, 1, "hello\n");
  fake_rule_frame(s->attach, 0, 2, "warning\n");
  s->kill = fake_rule_reply(fake_on(f, "POST", "/containers/*/kill"), 204, NULL);
  s->wait = fake_rule_reply(fake_rule_delay(fake_on(f, "POST", "/containers/*/wait"), 20), 200, "{\"StatusCode\":0}");
  s->inspect = fake_rule_reply(fake_on(f, "GET", "/containers/*/json"), 200, INSPECT_BODY(0));
  s->logs = fake_rule_stream(fake_on(f, "GET", "/containers/*/logs"), 200, "application/vnd.docker.multiplexed-stream",
                             FAKE_CHUNKED);
  fake_rule_frame(s->logs, 0, 1, "hello\n");
  fake_rule_frame(s->logs, 0, 2, "warning\n");
  s->remove = fake_rule_reply(fake_on(f, "DELETE", "/containers/*"), 204, NULL);
}

/* A container killed by SIGKILL: /wait answers 137 only after a kill. */
static void killable_docker(czenv *e, script *s, fake_rule *kill) {
  fake_docker *f = e->fake;
  s->wait =
      fake_rule_reply(fake_rule_after(fake_on(f, "POST", "/containers/*/wait"), kill), 200, "{\"StatusCode\":137}");
  s->inspect = fake_rule_reply(fake_on(f, "GET", "/containers/*/json"), 200, INSPECT_BODY(137));
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

static json_t *launch_json(const char *extra) {
  char buf[1024];
  snprintf(buf, sizeof(buf),
           "{\"container_id\":{\"value\":\"web-1\"},\"container\":{\"type\":\"DOCKER\",\"docker\":{\"image\":"
           "\"busybox:local\"}}%s%s}",
           *extra ? "," : "", extra);
  return tu_json(buf);
}

/* Launches web-1 and registers a waiter. */
static void launch(czenv *e, const char *extra, outcome *launched, outcome *ended) {
  json_t *l = launch_json(extra);
  berth_error err = {0};
  int rc = berth_cz_launch(e->cz, l, cz_done_cb, launched, &err);
  json_decref(l);
  if (rc != 0) fail_msg("launch refused: %s", err.msg);
  assert_int_equal(berth_cz_wait(e->cz, "web-1", cz_wait_cb, ended, &err), 0);
}

static void destroy(czenv *e) {
  berth_error err = {0};
  if (berth_cz_kill(e->cz, "web-1", 0, NULL, NULL, &err) != 0) fail_msg("destroy refused: %s", err.msg);
}

static void assert_launch_failed(outcome *launched, outcome *ended, const char *stage_words) {
  assert_int_equal(launched->calls, 1);
  assert_int_equal(launched->rc, BERTH_EDOCKER);
  tu_assert_contains(launched->msg, stage_words);
  tu_assert_json_str(ended->termination, "state", "TASK_FAILED");
  tu_assert_json_str(ended->termination, "reason", BERTH_REASON_LAUNCH_FAILED);
  tu_assert_contains(json_string_value(json_object_get(ended->termination, "message")), stage_words);
}

static void assert_killed_during_launch(czenv *e, outcome *launched, outcome *ended) {
  assert_int_equal(launched->calls, 1);
  assert_int_equal(launched->rc, BERTH_ECANCELED);
  tu_assert_json_str(ended->termination, "state", "TASK_KILLED");
  tu_assert_json_str(ended->termination, "reason", BERTH_REASON_KILLED_DURING_LAUNCH);
  assert_string_equal(czenv_stage(e, "web-1"), "TERMINATED");
}

/* A gate: a rule made `fake_rule_after` it answers only once the test
 * opens the gate, whatever the scheduling (instead of a delay the test
 * would race against). */
static fake_rule *gate(czenv *e) { return fake_rule_reply(fake_on(e->fake, "GET", "/_ping"), 200, "OK"); }

static void ignore_cb(int status, const char *body, size_t len, const berth_error *err, void *data) {}

static void open_gate(czenv *e) { berth_docker_request(e->docker, "GET", "/_ping", NULL, 0, 1, NULL, ignore_cb, NULL); }

static size_t seq_of(czenv *e, const char *method, const char *pattern) {
  fake_request *q = fake_docker_request(e->fake, method, pattern, 0);
  if (!q) fail_msg("the fake received no %s %s", method, pattern);
  size_t seq = q->seq;
  fake_request_free(q);
  return seq;
}

/* --- a launch to its end -------------------------------------------------------- */

static void launch_runs_to_finished_and_captures_output(void **state) {
  czenv *e = *state;
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &launched);
  if (launched.rc != 0) fail_msg("launch failed: %s", launched.msg);
  czenv_run(e, &ended);
  tu_assert_json_str(ended.termination, "state", "TASK_FINISHED");
  tu_assert_json_int(ended.termination, "exit_code", 0);
  char *out = czenv_sandbox_file(e, "web-1", "stdout");
  char *errout = czenv_sandbox_file(e, "web-1", "stderr");
  assert_string_equal(out, "hello\n");
  assert_string_equal(errout, "warning\n");
  free(out);
  free(errout);
  /* The image was there: no pull.  Attach came before start, so no byte
   * was lost, and the create carried the labels recovery lists by. */
  assert_int_equal(fake_docker_count(e->fake, "POST", "/images/create"), 0);
  assert_true(seq_of(e, "POST", "/containers/*/attach") < seq_of(e, "POST", "/containers/*/start"));
  fake_request *q = fake_docker_request(e->fake, "POST", "/containers/create", 0);
  assert_string_equal(q->query, "name=" NAME);
  json_t *config = tu_json(q->body);
  tu_assert_json_str(config, "Image", "busybox:local");
  tu_assert_json_str(json_object_get(config, "Labels"), "berth.agent_id", AGENT);
  tu_assert_json_str(json_object_get(config, "Labels"), "berth.container_id", "web-1");
  json_decref(config);
  fake_request_free(q);
  /* --docker_remove_delay=0: the docker container goes at once. */
  czenv_wait_requests(e, "DELETE", "/containers/" NAME, 1);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void remove_deletes_container_and_sandbox(void **state) {
  czenv *e = *state;
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0}, removed = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &ended);
  berth_error err = {0};
  assert_int_equal(berth_cz_remove(e->cz, "web-1", cz_done_cb, &removed, &err), 0);
  czenv_run(e, &removed);
  assert_int_equal(removed.rc, 0);
  assert_string_equal(czenv_stage(e, "web-1"), "");
  char sandbox[128];
  snprintf(sandbox, sizeof(sandbox), "%s/sandboxes/web-1", e->work_dir);
  assert_int_equal(access(sandbox, F_OK), -1);
  fake_request *q = fake_docker_request(e->fake, "DELETE", "/containers/*", 0);
  assert_string_equal(q->path, "/containers/" NAME);
  assert_string_equal(q->query, "force=1&v=1");
  fake_request_free(q);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void remove_refused_by_docker_keeps_the_container(void **state) {
  czenv *e = *state;
  e->config.docker_remove_delay_ns = 3600LL * 1000000000LL; /* only REMOVE removes */
  berth_cz_free(e->cz);
  czenv_start(e);
  fake_rule_reply(fake_on(e->fake, "DELETE", "/containers/*"), 500, "{\"message\":\"device or resource busy\"}");
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0}, removed = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &ended);
  berth_error err = {0};
  assert_int_equal(berth_cz_remove(e->cz, "web-1", cz_done_cb, &removed, &err), 0);
  czenv_run(e, &removed);
  assert_int_equal(removed.rc, BERTH_EDOCKER);
  tu_assert_contains(removed.msg, "remove docker container " NAME ": device or resource busy");
  assert_string_equal(czenv_stage(e, "web-1"), "TERMINATED");
  outcome_clear(&launched);
  outcome_clear(&ended);
}

/* --- every launch stage failing ---------------------------------------------------- */

static void image_inspect_failure_fails_the_launch(void **state) {
  czenv *e = *state;
  fake_rule_reply(fake_on(e->fake, "GET", "/images/*/json"), 500, "{\"message\":\"inspect exploded\"}");
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &ended);
  assert_launch_failed(&launched, &ended, "Failed to inspect image 'busybox:local': inspect exploded");
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/create"), 0);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void pull_with_error_line_fails_the_launch(void **state) {
  czenv *e = *state;
  fake_rule_reply(fake_on(e->fake, "GET", "/images/*/json"), 404, "{\"message\":\"No such image\"}");
  fake_rule *pull = fake_rule_stream(fake_on(e->fake, "POST", "/images/create"), 200, "application/json", FAKE_CHUNKED);
  fake_rule_piece(pull, 0, "{\"status\":\"Pulling\"}\n", 21);
  fake_rule_piece(pull, 5, "{\"error\":\"manifest for busybox:local not found\"}\n", 49);
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &ended);
  assert_launch_failed(&launched, &ended, "Failed to pull image 'busybox:local': manifest for busybox:local not found");
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/create"), 0);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void dockerd_gone_mid_pull_fails_the_launch(void **state) {
  czenv *e = *state;
  fake_rule_reply(fake_on(e->fake, "GET", "/images/*/json"), 404, "{\"message\":\"No such image\"}");
  fake_rule *pull = fake_rule_stream(fake_on(e->fake, "POST", "/images/create"), 200, "application/json", FAKE_CHUNKED);
  fake_rule_piece(pull, 0, "{\"status\":\"Pulling\"}\n", 21);
  fake_rule_end(pull, FAKE_END_CUT);
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &ended);
  assert_int_equal(launched.calls, 1);
  assert_true(launched.rc < 0);
  tu_assert_json_str(ended.termination, "state", "TASK_FAILED");
  tu_assert_json_str(ended.termination, "reason", BERTH_REASON_LAUNCH_FAILED);
  tu_assert_contains(json_string_value(json_object_get(ended.termination, "message")),
                     "Failed to pull image 'busybox:local'");
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/create"), 0);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void force_pull_pulls_even_when_the_image_is_there(void **state) {
  czenv *e = *state;
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  json_t *l = tu_json(
      "{\"container_id\":{\"value\":\"web-1\"},\"container\":{\"type\":\"DOCKER\",\"docker\":"
      "{\"image\":\"127.0.0.1:5000/busybox:local\",\"force_pull_image\":true}}}");
  berth_error err = {0};
  assert_int_equal(berth_cz_launch(e->cz, l, cz_done_cb, &launched, &err), 0);
  json_decref(l);
  assert_int_equal(berth_cz_wait(e->cz, "web-1", cz_wait_cb, &ended, &err), 0);
  czenv_run(e, &ended);
  tu_assert_json_str(ended.termination, "state", "TASK_FINISHED");
  fake_request *q = fake_docker_request(e->fake, "POST", "/images/create", 0);
  assert_non_null(q);
  assert_string_equal(q->query, "fromImage=127.0.0.1%3A5000%2Fbusybox&tag=local");
  fake_request_free(q);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void create_failure_fails_the_launch(void **state) {
  czenv *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/create"), 409,
                  "{\"message\":\"Conflict. The container name \\\"/" NAME "\\\" is already in use\"}");
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &ended);
  assert_launch_failed(&launched, &ended, "Failed to create container for image 'busybox:local': Conflict.");
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/*/attach"), 0);
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/*/start"), 0);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void start_failure_fails_the_launch_and_removes_the_container(void **state) {
  czenv *e = *state;
  script s = {0};
  s.start =
      fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/start"), 400,
                      "{\"message\":\"OCI runtime create failed: exec: \\\"nope\\\": executable file not found\"}");
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &ended);
  assert_launch_failed(&launched, &ended,
                       "Failed to start container for image 'busybox:local': OCI runtime create failed");
  czenv_wait_requests(e, "DELETE", "/containers/" NAME, 1);
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/*/wait"), 0);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

/* An attach that fails is not a launch failure: berth starts anyway and
 * captures the output from docker's log (capture.c, cz_attach_done_cb). */
static void attach_failure_falls_back_to_the_log(void **state) {
  czenv *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/attach"), 500, "{\"message\":\"attach refused\"}");
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &ended);
  assert_int_equal(launched.rc, 0);
  tu_assert_json_str(ended.termination, "state", "TASK_FINISHED");
  char *out = czenv_sandbox_file(e, "web-1", "stdout");
  assert_string_equal(out, "hello\n");
  free(out);
  assert_true(fake_docker_count(e->fake, "GET", "/containers/*/logs") >= 1);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void start_hangup_fails_the_launch(void **state) {
  czenv *e = *state;
  script s = {0};
  s.start = fake_rule_hangup(fake_on(e->fake, "POST", "/containers/*/start"));
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &ended);
  tu_assert_json_str(ended.termination, "state", "TASK_FAILED");
  tu_assert_json_str(ended.termination, "reason", BERTH_REASON_LAUNCH_FAILED);
  tu_assert_contains(json_string_value(json_object_get(ended.termination, "message")),
                     "Failed to start container for image 'busybox:local'");
  czenv_wait_requests(e, "DELETE", "/containers/" NAME, 1);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

/* --- a destroy in every stage -------------------------------------------------------- */

static void destroy_during_image_inspect(void **state) {
  czenv *e = *state;
  fake_rule_hold(fake_on(e->fake, "GET", "/images/*/json"));
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  assert_string_equal(czenv_stage(e, "web-1"), "PULLING");
  destroy(e);
  czenv_run(e, &ended);
  assert_killed_during_launch(e, &launched, &ended);
  tu_assert_contains(json_string_value(json_object_get(ended.termination, "message")), "killed during PULLING");
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/create"), 0);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

typedef struct rule_gone {
  czenv *e;
  fake_rule *rule;
} rule_gone;

static bool gone_once(void *data) {
  rule_gone *g = data;
  return fake_rule_gone(g->e->fake, g->rule, 1, 0) >= 1;
}

static void destroy_during_a_slow_pull_aborts_the_pull(void **state) {
  czenv *e = *state;
  fake_rule_reply(fake_on(e->fake, "GET", "/images/*/json"), 404, "{\"message\":\"No such image\"}");
  fake_rule *pull = fake_rule_stream(fake_on(e->fake, "POST", "/images/create"), 200, "application/json", FAKE_CHUNKED);
  fake_rule_piece(pull, 0, "{\"status\":\"Downloading\"}\n", 25);
  fake_rule_end(pull, FAKE_END_HOLD);
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_wait_requests(e, "POST", "/images/create", 1);
  assert_string_equal(czenv_stage(e, "web-1"), "PULLING");
  destroy(e);
  czenv_run(e, &ended);
  assert_killed_during_launch(e, &launched, &ended);
  /* dockerd stops a pull when its client goes away: berth must go. */
  rule_gone g = {e, pull};
  fake_run_until(&e->loop, gone_once, &g, MAX_MS);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void destroy_while_create_is_in_flight(void **state) {
  czenv *e = *state;
  fake_rule *g = gate(e);
  fake_rule_reply(fake_rule_after(fake_on(e->fake, "POST", "/containers/create"), g), 201, "{\"Id\":\"cid1\"}");
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_wait_requests(e, "POST", "/containers/create", 1);
  assert_string_equal(czenv_stage(e, "web-1"), "MOUNTING");
  destroy(e);
  open_gate(e);
  czenv_run(e, &ended);
  assert_killed_during_launch(e, &launched, &ended);
  tu_assert_contains(json_string_value(json_object_get(ended.termination, "message")), "killed during MOUNTING");
  /* The container the create made is removed, and never started. */
  czenv_wait_requests(e, "DELETE", "/containers/" NAME, 1);
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/*/start"), 0);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void destroy_while_start_is_in_flight(void **state) {
  czenv *e = *state;
  script s = {0};
  fake_rule *g = gate(e);
  s.start = fake_rule_reply(fake_rule_after(fake_on(e->fake, "POST", "/containers/*/start"), g), 204, NULL);
  fake_rule *kill = fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/kill"), 204, NULL);
  killable_docker(e, &s, kill);
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_wait_requests(e, "POST", "/containers/*/start", 1);
  assert_string_equal(czenv_stage(e, "web-1"), "MOUNTING");
  destroy(e);
  open_gate(e);
  czenv_run(e, &ended);
  /* The start went through, so the task ran: killed, not failed. */
  assert_int_equal(launched.rc, BERTH_ECANCELED);
  tu_assert_json_str(ended.termination, "state", "TASK_KILLED");
  tu_assert_json_int(ended.termination, "exit_code", 137);
  fake_request *q = fake_docker_request(e->fake, "POST", "/containers/*/kill", 0);
  assert_string_equal(q->query, "signal=9");
  fake_request_free(q);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void destroy_while_running(void **state) {
  czenv *e = *state;
  fake_rule *kill = fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/kill"), 204, NULL);
  script s = {0};
  killable_docker(e, &s, kill);
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &launched);
  assert_int_equal(launched.rc, 0);
  assert_string_equal(czenv_stage(e, "web-1"), "RUNNING");
  destroy(e);
  assert_string_equal(czenv_stage(e, "web-1"), "DESTROYING");
  czenv_run(e, &ended);
  tu_assert_json_str(ended.termination, "state", "TASK_KILLED");
  tu_assert_json_int(ended.termination, "exit_code", 137);
  assert_null(json_object_get(ended.termination, "reason"));
  fake_request *q = fake_docker_request(e->fake, "POST", "/containers/*/kill", 0);
  assert_string_equal(q->query, "signal=9"); /* --docker_stop_timeout=0 */
  fake_request_free(q);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void destroy_with_grace_period_escalates_to_sigkill(void **state) {
  czenv *e = *state;
  /* The task ignores SIGTERM: only the second kill ends it. */
  fake_rule_reply(fake_rule_times(fake_on(e->fake, "POST", "/containers/*/kill"), 1), 204, NULL);
  fake_rule *sigkill = fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/kill"), 204, NULL);
  script s = {0};
  killable_docker(e, &s, sigkill);
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "\"kill_policy\":{\"grace_period\":{\"nanoseconds\":200000000}}", &launched, &ended);
  czenv_run(e, &launched);
  assert_int_equal(launched.rc, 0);
  destroy(e);
  czenv_run(e, &ended);
  tu_assert_json_str(ended.termination, "state", "TASK_KILLED");
  fake_request *q = fake_docker_request(e->fake, "POST", "/containers/*/kill", 0);
  assert_string_equal(q->query, "signal=15");
  fake_request_free(q);
  q = fake_docker_request(e->fake, "POST", "/containers/*/kill", 1);
  assert_non_null(q);
  assert_string_equal(q->query, "signal=9");
  fake_request_free(q);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void destroy_after_terminated_changes_nothing(void **state) {
  czenv *e = *state;
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &ended);
  destroy(e);
  assert_string_equal(czenv_stage(e, "web-1"), "TERMINATED");
  json_t *entry = czenv_entry(e, "web-1");
  tu_assert_json_str(json_object_get(entry, "termination"), "state", "TASK_FINISHED");
  json_decref(entry);
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/*/kill"), 0);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

/* --- dockerd going away while the container runs ------------------------------------------ */

static void dockerd_vanishing_mid_attach_does_not_end_the_task(void **state) {
  czenv *e = *state;
  fake_docker *f = e->fake;
  /* dockerd dies: the attach stops inside a frame and the first /wait is
   * hung up on.  When it is back, the task is still running, then exits;
   * its log holds everything. */
  script s = {0};
  s.start = fake_rule_reply(fake_on(f, "POST", "/containers/*/start"), 204, NULL);
  fake_rule *attach =
      fake_rule_stream(fake_on(f, "POST", "/containers/*/attach"), 200, "application/vnd.docker.raw-stream", FAKE_RAW);
  fake_rule_stream_after(attach, s.start);
  fake_rule_frame(attach, 0, 1, "before\n");
  fake_rule_frame_part(attach, 10, 1, "after\n", 2);
  fake_rule_end(attach, FAKE_END_CUT);
  fake_rule_hangup(fake_rule_times(fake_rule_delay(fake_on(f, "POST", "/containers/*/wait"), 20), 1));
  fake_rule *g = gate(e);
  fake_rule_reply(fake_rule_after(fake_on(f, "POST", "/containers/*/wait"), g), 200, "{\"StatusCode\":0}");
  fake_rule *logs = fake_rule_stream(fake_on(f, "GET", "/containers/*/logs"), 200,
                                     "application/vnd.docker.multiplexed-stream", FAKE_CHUNKED);
  fake_rule_frame(logs, 0, 1, "before\n");
  fake_rule_frame(logs, 0, 1, "after\n");
  fake_rule_frame(logs, 0, 1, "more\n");
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &launched);
  assert_int_equal(launched.rc, 0);
  czenv_wait_requests(e, "POST", "/containers/*/wait", 2);
  /* Not declared dead for an outage of dockerd. */
  assert_string_equal(czenv_stage(e, "web-1"), "RUNNING");
  assert_int_equal(ended.calls, 0);
  open_gate(e); /* the task exits now */
  czenv_run(e, &ended);
  tu_assert_json_str(ended.termination, "state", "TASK_FINISHED");
  char *out = czenv_sandbox_file(e, "web-1", "stdout");
  assert_string_equal(out, "before\nafter\nmore\n");
  free(out);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void container_vanishing_while_running_ends_it(void **state) {
  czenv *e = *state;
  fake_rule *attach = fake_rule_stream(fake_on(e->fake, "POST", "/containers/*/attach"), 200,
                                       "application/vnd.docker.raw-stream", FAKE_RAW);
  fake_rule_end(attach, FAKE_END_HOLD);
  fake_rule_reply(fake_rule_delay(fake_on(e->fake, "POST", "/containers/*/wait"), 10), 404,
                  "{\"message\":\"No such container: " NAME "\"}");
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &ended);
  tu_assert_json_str(ended.termination, "state", "TASK_FAILED");
  tu_assert_json_str(ended.termination, "reason", BERTH_REASON_EXECUTOR_TERMINATED);
  tu_assert_contains(json_string_value(json_object_get(ended.termination, "message")), "disappeared while it ran");
  outcome_clear(&launched);
  outcome_clear(&ended);
}

/* --- signals ---------------------------------------------------------------------------------- */

static void signal_refused_by_docker_names_the_container(void **state) {
  czenv *e = *state;
  fake_rule *attach = fake_rule_stream(fake_on(e->fake, "POST", "/containers/*/attach"), 200,
                                       "application/vnd.docker.raw-stream", FAKE_RAW);
  fake_rule_end(attach, FAKE_END_HOLD);
  fake_rule_hold(fake_on(e->fake, "POST", "/containers/*/wait"));
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/kill"), 409,
                  "{\"message\":\"Container " NAME " is not running\"}");
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0}, signalled = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &launched);
  berth_error err = {0};
  assert_int_equal(berth_cz_kill(e->cz, "web-1", 10, cz_done_cb, &signalled, &err), 0);
  czenv_run(e, &signalled);
  assert_int_equal(signalled.rc, BERTH_ECONFLICT);
  assert_string_equal(signalled.msg, "signal 10 to container 'web-1': Container " NAME " is not running");
  fake_request *q = fake_docker_request(e->fake, "POST", "/containers/*/kill", 0);
  assert_string_equal(q->query, "signal=10");
  fake_request_free(q);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

/* Its state is freed even when the answer never comes (teardown stops
 * with the kill in flight; valgrind and ASan see a leak otherwise). */
static void signal_in_flight_when_berthd_stops_leaks_nothing(void **state) {
  czenv *e = *state;
  fake_rule *attach = fake_rule_stream(fake_on(e->fake, "POST", "/containers/*/attach"), 200,
                                       "application/vnd.docker.raw-stream", FAKE_RAW);
  fake_rule_end(attach, FAKE_END_HOLD);
  fake_rule_hold(fake_on(e->fake, "POST", "/containers/*/wait"));
  fake_rule_hold(fake_on(e->fake, "POST", "/containers/*/kill"));
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0}, signalled = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &launched);
  berth_error err = {0};
  assert_int_equal(berth_cz_kill(e->cz, "web-1", 10, cz_done_cb, &signalled, &err), 0);
  czenv_wait_requests(e, "POST", "/containers/*/kill", 1);
  assert_int_equal(signalled.calls, 0);
}

static void signal_to_a_terminated_container_is_a_conflict(void **state) {
  czenv *e = *state;
  script s = {0};
  happy_docker(e, &s);
  outcome launched = {0}, ended = {0};
  launch(e, "", &launched, &ended);
  czenv_run(e, &ended);
  berth_error err = {0};
  assert_int_equal(berth_cz_kill(e->cz, "web-1", 15, cz_done_cb, NULL, &err), BERTH_ECONFLICT);
  tu_assert_contains(err.msg, "TERMINATED");
  outcome_clear(&launched);
  outcome_clear(&ended);
}

/* --- update -------------------------------------------------------------------------------- */

#define RESOURCES(cpus, mem)                                                           \
  "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" #cpus \
  "}},"                                                                                \
  "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" #mem "}}]"

/* A container that keeps running: its attach and /wait never end. */
static void launch_long_running(czenv *e, outcome *launched, outcome *ended) {
  fake_rule *attach = fake_rule_stream(fake_on(e->fake, "POST", "/containers/*/attach"), 200,
                                       "application/vnd.docker.raw-stream", FAKE_RAW);
  fake_rule_end(attach, FAKE_END_HOLD);
  fake_rule_hold(fake_on(e->fake, "POST", "/containers/*/wait"));
  script s = {0};
  happy_docker(e, &s);
  launch(e, RESOURCES(0.5, 64), launched, ended);
  czenv_run(e, launched);
  assert_int_equal(launched->rc, 0);
}

static double entry_cpus(czenv *e) {
  json_t *entry = czenv_entry(e, "web-1");
  double cpus = -1;
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(entry, "resources"), i,
                     r) if (!strcmp(json_string_value(json_object_get(r, "name")), "cpus")) cpus =
      json_number_value(json_object_get(json_object_get(r, "scalar"), "value"));
  json_decref(entry);
  return cpus;
}

static void update_applies_resources_and_records_them(void **state) {
  czenv *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/update"), 200, "{\"Warnings\":[]}");
  outcome launched = {0}, ended = {0}, updated = {0};
  launch_long_running(e, &launched, &ended);
  json_t *u = tu_json("{\"container_id\":{\"value\":\"web-1\"}," RESOURCES(1, 128) "}");
  berth_error err = {0};
  assert_int_equal(berth_cz_update(e->cz, u, cz_done_cb, &updated, &err), 0);
  json_decref(u);
  czenv_run(e, &updated);
  assert_int_equal(updated.rc, 0);
  fake_request *q = fake_docker_request(e->fake, "POST", "/containers/*/update", 0);
  assert_string_equal(q->path, "/containers/" NAME "/update");
  json_t *body = tu_json(q->body);
  tu_assert_json_int(body, "CpuShares", 1024);
  tu_assert_json_int(body, "Memory", 128LL * 1024 * 1024);
  json_decref(body);
  fake_request_free(q);
  tu_assert_double_eq(entry_cpus(e), 1.0);
  outcome_clear(&launched);
  outcome_clear(&ended);
}

static void update_refused_by_docker_keeps_the_old_resources(void **state) {
  czenv *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/update"), 500,
                  "{\"message\":\"Cannot update container: memory limit too low\"}");
  outcome launched = {0}, ended = {0}, updated = {0};
  launch_long_running(e, &launched, &ended);
  json_t *u = tu_json("{\"container_id\":{\"value\":\"web-1\"}," RESOURCES(1, 4) "}");
  berth_error err = {0};
  assert_int_equal(berth_cz_update(e->cz, u, cz_done_cb, &updated, &err), 0);
  json_decref(u);
  czenv_run(e, &updated);
  assert_int_equal(updated.rc, BERTH_EDOCKER);
  tu_assert_contains(updated.msg, "memory limit too low");
  tu_assert_double_eq(entry_cpus(e), 0.5);
  assert_string_equal(czenv_stage(e, "web-1"), "RUNNING");
  outcome_clear(&launched);
  outcome_clear(&ended);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
      T(launch_runs_to_finished_and_captures_output),
      T(remove_deletes_container_and_sandbox),
      T(remove_refused_by_docker_keeps_the_container),
      T(image_inspect_failure_fails_the_launch),
      T(pull_with_error_line_fails_the_launch),
      T(dockerd_gone_mid_pull_fails_the_launch),
      T(force_pull_pulls_even_when_the_image_is_there),
      T(create_failure_fails_the_launch),
      T(start_failure_fails_the_launch_and_removes_the_container),
      T(attach_failure_falls_back_to_the_log),
      T(start_hangup_fails_the_launch),
      T(destroy_during_image_inspect),
      T(destroy_during_a_slow_pull_aborts_the_pull),
      T(destroy_while_create_is_in_flight),
      T(destroy_while_start_is_in_flight),
      T(destroy_while_running),
      T(destroy_with_grace_period_escalates_to_sigkill),
      T(destroy_after_terminated_changes_nothing),
      T(dockerd_vanishing_mid_attach_does_not_end_the_task),
      T(container_vanishing_while_running_ends_it),
      T(signal_refused_by_docker_names_the_container),
      T(signal_in_flight_when_berthd_stops_leaks_nothing),
      T(signal_to_a_terminated_container_is_a_conflict),
      T(update_applies_resources_and_records_them),
      T(update_refused_by_docker_keeps_the_old_resources),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
