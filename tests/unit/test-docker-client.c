/* Loop-level tests of docker/client and docker/api against the fake
 * dockerd: what each call sends, and how each answer, refusal, malformed
 * body, hang-up, timeout and cut stream is reported.  Every test ends with
 * the client freed and uv_loop_close returning 0. */
#include <stdbool.h>
#include <uv.h>

#include "testutil.h"

#include "docker/api.h"
#include "docker/client.h"
#include "fakedocker.h"

#define MAX_MS 10000

typedef struct env {
  uv_loop_t loop;
  fake_docker *fake;
  berth_docker *docker;
} env;

/* What one call reported. */
typedef struct result {
  int calls;
  int rc;
  char msg[BERTH_ERROR_MSG_MAX];
  json_t *answer;
  int attached;
  int output_before_attached;
  char out[3][4096];
  size_t out_len[3];
  char order[64]; /* the stream of each output call, as digits */
  size_t n_order;
} result;

static int setup(void **state) {
  env *e = calloc(1, sizeof(*e));
  assert_int_equal(uv_loop_init(&e->loop), 0);
  e->fake = fake_docker_new();
  e->docker = berth_docker_new(&e->loop, fake_docker_socket(e->fake));
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  berth_docker_free(e->docker);
  fake_loop_finish(&e->loop);
  fake_docker_free(e->fake);
  free(e);
  return 0;
}

static void reset(result *r) {
  json_decref(r->answer);
  memset(r, 0, sizeof(*r));
}

static void json_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  result *r = data;
  r->calls++;
  r->rc = rc;
  if (err) snprintf(r->msg, sizeof(r->msg), "%s", err->msg);
  r->answer = json_incref(answer);
}

static void result_cb(int rc, const berth_error *err, void *data) {
  result *r = data;
  r->calls++;
  r->rc = rc;
  if (err) snprintf(r->msg, sizeof(r->msg), "%s", err->msg);
}

static int output_cb(int stream, const char *buf, size_t len, void *data) {
  result *r = data;
  if (!r->attached) r->output_before_attached++;
  if (r->n_order < sizeof(r->order) - 1) r->order[r->n_order++] = (char)('0' + stream);
  size_t room = sizeof(r->out[stream]) - 1 - r->out_len[stream];
  if (len > room) len = room;
  memcpy(r->out[stream] + r->out_len[stream], buf, len);
  r->out_len[stream] += len;
  return 0;
}

static void attached_cb(void *data) { ((result *)data)->attached++; }

static bool called(void *data) { return ((result *)data)->calls > 0; }

static void run(env *e, result *r) { fake_run_until(&e->loop, called, r, MAX_MS); }

/* The nth request to method+pattern, or a failed test. */
static fake_request *request(env *e, const char *method, const char *pattern) {
  fake_request *q = fake_docker_request(e->fake, method, pattern, 0);
  if (!q) fail_msg("the fake received no %s %s", method, pattern);
  return q;
}

typedef struct arrival {
  env *e;
  const char *method, *pattern;
  size_t n;
} arrival;

static bool arrived(void *data) {
  arrival *a = data;
  return fake_docker_count(a->e->fake, a->method, a->pattern) >= a->n;
}

/* Runs the loop until the fake has received n requests to method+pattern. */
static void wait_requests(env *e, const char *method, const char *pattern, size_t n) {
  arrival a = {e, method, pattern, n};
  fake_run_until(&e->loop, arrived, &a, MAX_MS);
}

/* --- version negotiation ----------------------------------------------------- */

static void version_is_unversioned_and_negotiated_down_to_max(void **state) {
  env *e = *state;
  fake_rule_reply(fake_on(e->fake, "GET", "/version"), 200, "{\"ApiVersion\":\"1.43\",\"Version\":\"24.0.7\"}");
  fake_rule_reply(fake_on(e->fake, "GET", "/images/*/json"), 200, "{\"Id\":\"sha256:1\"}");
  result r = {0};
  berth_docker_version_get(e->docker, json_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, 0);
  fake_request *q = request(e, "GET", "/version");
  assert_string_equal(q->version, "");
  fake_request_free(q);
  char v[16];
  berth_error err = {0};
  assert_int_equal(
      berth_docker_negotiate(json_string_value(json_object_get(r.answer, "ApiVersion")), v, sizeof(v), &err), 0);
  assert_string_equal(v, "1.41");
  reset(&r);
  berth_docker_image_inspect(e->docker, "busybox:local", json_cb, &r);
  run(e, &r);
  q = request(e, "GET", "/images/*/json");
  assert_string_equal(q->version, "1.41");
  fake_request_free(q);
  reset(&r);
}

static void older_daemon_is_spoken_to_at_its_version(void **state) {
  env *e = *state;
  fake_rule_reply(fake_on(e->fake, "GET", "/version"), 200, "{\"ApiVersion\":\"1.30\"}");
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/start"), 204, NULL);
  result r = {0};
  berth_docker_version_get(e->docker, json_cb, &r);
  run(e, &r);
  char v[16];
  berth_error err = {0};
  assert_int_equal(
      berth_docker_negotiate(json_string_value(json_object_get(r.answer, "ApiVersion")), v, sizeof(v), &err), 0);
  berth_docker_set_version(e->docker, v);
  reset(&r);
  berth_docker_container_start(e->docker, "c1", json_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, 0);
  assert_null(r.answer); /* 204: no body */
  fake_request *q = request(e, "POST", "/containers/c1/start");
  assert_string_equal(q->version, "1.30");
  fake_request_free(q);
  reset(&r);
}

static void version_from_a_daemon_too_old_is_refused(void **state) {
  env *e = *state;
  fake_rule_reply(fake_on(e->fake, "GET", "/version"), 200, "{\"ApiVersion\":\"1.12\"}");
  result r = {0};
  berth_docker_version_get(e->docker, json_cb, &r);
  run(e, &r);
  char v[16] = "";
  berth_error err = {0};
  assert_int_equal(
      berth_docker_negotiate(json_string_value(json_object_get(r.answer, "ApiVersion")), v, sizeof(v), &err),
      BERTH_EDOCKER);
  tu_assert_contains(err.msg, "1.12");
  reset(&r);
}

/* --- plain calls: answers and refusals ------------------------------------------ */

static void inspect_answer_is_parsed(void **state) {
  env *e = *state;
  fake_rule_reply(fake_on(e->fake, "GET", "/containers/c1/json"), 200,
                  "{\"Id\":\"abc\",\"State\":{\"Pid\":42,\"ExitCode\":0}}");
  result r = {0};
  berth_docker_container_inspect(e->docker, "c1", json_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, 0);
  tu_assert_json_str(r.answer, "Id", "abc");
  tu_assert_json_int(json_object_get(r.answer, "State"), "Pid", 42);
  reset(&r);
}

static void not_found_is_enoent_with_dockers_message(void **state) {
  env *e = *state;
  fake_rule_reply(fake_on(e->fake, "GET", "/images/*/json"), 404, "{\"message\":\"No such image: nope:1\"}");
  result r = {0};
  berth_docker_image_inspect(e->docker, "nope:1", json_cb, &r);
  run(e, &r);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.rc, BERTH_ENOENT);
  assert_string_equal(r.msg, "No such image: nope:1");
  assert_null(r.answer);
  fake_request *q = request(e, "GET", "/images/*/json");
  assert_string_equal(q->path, "/images/nope:1/json");
  fake_request_free(q);
  reset(&r);
}

static void conflict_is_econflict(void **state) {
  env *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/kill"), 409, "{\"message\":\"Container c1 is not running\"}");
  result r = {0};
  berth_docker_container_kill(e->docker, "c1", 15, json_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, BERTH_ECONFLICT);
  assert_string_equal(r.msg, "Container c1 is not running");
  fake_request *q = request(e, "POST", "/containers/c1/kill");
  assert_string_equal(q->query, "signal=15");
  fake_request_free(q);
  reset(&r);
}

static void server_error_is_edocker_with_message_or_status(void **state) {
  env *e = *state;
  fake_rule_times(fake_rule_reply(fake_on(e->fake, "POST", "/containers/create"), 500,
                                  "{\"message\":\"driver failed programming external connectivity\"}"),
                  1);
  fake_rule_reply_raw(fake_on(e->fake, "POST", "/containers/create"), 500, "text/plain", "oops", 4);
  result r = {0};
  json_t *config = tu_json("{\"Image\":\"busybox:local\",\"Labels\":{\"a\":\"b\"}}");
  berth_docker_container_create(e->docker, "berth-a1.web-1", config, json_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, BERTH_EDOCKER);
  assert_string_equal(r.msg, "driver failed programming external connectivity");
  fake_request *q = request(e, "POST", "/containers/create");
  assert_string_equal(q->query, "name=berth-a1.web-1");
  json_t *sent = tu_json(q->body);
  assert_true(json_equal(sent, config));
  json_decref(sent);
  fake_request_free(q);
  reset(&r);
  /* A refusal without Docker's JSON still says what happened. */
  berth_docker_container_create(e->docker, "berth-a1.web-1", config, json_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, BERTH_EDOCKER);
  assert_string_equal(r.msg, "docker answered HTTP 500");
  json_decref(config);
  reset(&r);
}

static void malformed_json_is_an_error_not_an_answer(void **state) {
  env *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/create"), 201, "{\"Id\": \"abc\"");
  result r = {0};
  json_t *config = json_object();
  berth_docker_container_create(e->docker, "x", config, json_cb, &r);
  json_decref(config);
  run(e, &r);
  assert_int_equal(r.rc, BERTH_EDOCKER);
  tu_assert_contains(r.msg, "malformed JSON from docker");
  assert_null(r.answer);
  reset(&r);
}

static void remove_update_and_wait_send_what_docker_expects(void **state) {
  env *e = *state;
  fake_rule_reply(fake_on(e->fake, "DELETE", "/containers/c1"), 204, NULL);
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/c1/update"), 200, "{\"Warnings\":[]}");
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/c1/wait"), 200, "{\"StatusCode\":137}");
  result r = {0};
  berth_docker_container_remove(e->docker, "c1", json_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, 0);
  fake_request *q = request(e, "DELETE", "/containers/c1");
  assert_string_equal(q->query, "force=1&v=1");
  fake_request_free(q);
  reset(&r);

  json_t *res = tu_json("{\"CpuShares\":512,\"Memory\":67108864}");
  berth_docker_container_update(e->docker, "c1", res, json_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, 0);
  q = request(e, "POST", "/containers/c1/update");
  json_t *sent = tu_json(q->body);
  assert_true(json_equal(sent, res));
  json_decref(sent);
  json_decref(res);
  fake_request_free(q);
  reset(&r);

  berth_docker_container_wait(e->docker, "c1", json_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, 0);
  tu_assert_json_int(r.answer, "StatusCode", 137);
  reset(&r);
}

static void list_filters_by_label(void **state) {
  env *e = *state;
  fake_rule_reply(fake_on(e->fake, "GET", "/containers/json"), 200,
                  "[{\"Id\":\"abc\",\"Names\":[\"/berth-a1.web-1\"],\"Labels\":{\"berth.agent_id\":\"a1\"}}]");
  result r = {0};
  berth_docker_container_list(e->docker, "berth.agent_id=a1", json_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, 0);
  assert_int_equal(json_array_size(r.answer), 1);
  fake_request *q = request(e, "GET", "/containers/json");
  /* all=1 and filters={"label":["berth.agent_id=a1"]}, URL-encoded. */
  assert_string_equal(q->query, "all=1&filters=%7B%22label%22%3A%5B%22berth.agent_id%3Da1%22%5D%7D");
  fake_request_free(q);
  reset(&r);
}

/* --- transport failures ---------------------------------------------------------- */

static void hangup_without_answer_is_eunavail(void **state) {
  env *e = *state;
  fake_rule_hangup(fake_on(e->fake, "POST", "/containers/*/wait"));
  result r = {0};
  berth_docker_container_wait(e->docker, "c1", json_cb, &r);
  run(e, &r);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.rc, BERTH_EUNAVAIL);
  tu_assert_contains(r.msg, fake_docker_socket(e->fake));
  /* Exactly one request: curl did not retry it behind the caller's back. */
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/*/wait"), 1);
  reset(&r);
}

static void no_dockerd_is_eunavail(void **state) {
  env *e = *state;
  berth_docker *absent = berth_docker_new(&e->loop, "/nonexistent/berth-test/docker.sock");
  result r = {0};
  berth_docker_container_inspect(absent, "c1", json_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, BERTH_EUNAVAIL);
  tu_assert_contains(r.msg, "/nonexistent/berth-test/docker.sock");
  berth_docker_free(absent);
  reset(&r);
}

static void done_cb_raw(int status, const char *body, size_t len, const berth_error *err, void *data) {
  result *r = data;
  r->calls++;
  r->rc = err ? err->code : status;
  if (err) snprintf(r->msg, sizeof(r->msg), "%s", err->msg);
}

static void timeout_is_eunavail_and_drops_the_connection(void **state) {
  env *e = *state;
  fake_rule *hold = fake_rule_hold(fake_on(e->fake, "GET", "/containers/*/json"));
  result r = {0};
  berth_docker_request(e->docker, "GET", "/containers/c1/json", NULL, 50, 0, NULL, done_cb_raw, &r);
  run(e, &r);
  assert_int_equal(r.rc, BERTH_EUNAVAIL);
  tu_assert_contains(r.msg, "imeout");
  assert_int_equal(fake_rule_gone(e->fake, hold, 1, MAX_MS), 1);
  reset(&r);
}

/* A body that is not an object is still sent as JSON, never a crash. */
static void body_of_any_json_type_is_sent(void **state) {
  env *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/update"), 200, "{}");
  result r = {0};
  json_t *body = json_integer(5);
  berth_docker_request(e->docker, "POST", "/containers/c1/update", body, 0, 0, NULL, done_cb_raw, &r);
  json_decref(body);
  run(e, &r);
  assert_int_equal(r.rc, 200);
  fake_request *q = request(e, "POST", "/containers/*/update");
  assert_string_equal(q->body, "5");
  fake_request_free(q);
}

static void cancel_runs_no_callback_and_closes_the_connection(void **state) {
  env *e = *state;
  fake_rule *hold = fake_rule_hold(fake_on(e->fake, "POST", "/containers/*/wait"));
  fake_rule_reply(fake_on(e->fake, "GET", "/containers/*/json"), 200, "{}");
  result r = {0}, after = {0};
  berth_docker_req *req = berth_docker_container_wait(e->docker, "c1", json_cb, &r);
  wait_requests(e, "POST", "/containers/*/wait", 1);
  berth_docker_cancel(req);
  /* The loop goes on serving other calls; the cancelled one stays silent. */
  berth_docker_container_inspect(e->docker, "c1", json_cb, &after);
  run(e, &after);
  assert_int_equal(after.rc, 0);
  assert_int_equal(fake_rule_gone(e->fake, hold, 1, MAX_MS), 1);
  assert_int_equal(r.calls, 0);
  reset(&r);
  reset(&after);
}

static void free_with_requests_in_flight_runs_no_callback(void **state) {
  env *e = *state;
  fake_rule_hold(fake_on(e->fake, "*", "*"));
  result r[4] = {{0}};
  berth_docker_container_wait(e->docker, "c1", json_cb, &r[0]);
  berth_docker_image_pull(e->docker, "busybox:local", NULL, 0, NULL, result_cb, &r[1]);
  berth_docker_container_attach(e->docker, "c1", output_cb, attached_cb, result_cb, &r[2]);
  berth_docker_container_inspect(e->docker, "c1", json_cb, &r[3]);
  wait_requests(e, "*", "*", 4);
  berth_docker_free(e->docker); /* teardown checks the loop closes clean */
  e->docker = NULL;
  fake_loop_finish(&e->loop);
  for (int i = 0; i < 4; i++) assert_int_equal(r[i].calls, 0);
  /* teardown must not close the loop twice */
  assert_int_equal(uv_loop_init(&e->loop), 0);
}

static void many_requests_in_flight_all_complete(void **state) {
  env *e = *state;
  fake_rule_reply(fake_rule_delay(fake_on(e->fake, "GET", "/containers/*/json"), 20), 200, "{\"Id\":\"x\"}");
  enum { N = 24 };
  result r[N] = {{0}};
  char name[16];
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof(name), "c%d", i);
    berth_docker_container_inspect(e->docker, name, json_cb, &r[i]);
  }
  for (int i = 0; i < N; i++) run(e, &r[i]);
  for (int i = 0; i < N; i++) {
    assert_int_equal(r[i].calls, 1);
    assert_int_equal(r[i].rc, 0);
    reset(&r[i]);
  }
  assert_int_equal(fake_docker_count(e->fake, "GET", "/containers/*/json"), N);
}

/* A call's data with a release count; result first, so json_cb reads it. */
typedef struct released_call {
  result r;
  int released;
  int calls_before_release;
} released_call;

static void count_release(void *data) {
  released_call *c = data;
  c->released++;
  c->calls_before_release = c->r.calls;
}

static bool was_released(void *data) { return ((released_call *)data)->released > 0; }

static void call_release_runs_after_answer_cancel_and_free(void **state) {
  env *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/c1/kill"), 204, NULL);
  fake_rule_hold(fake_on(e->fake, "*", "*"));
  /* Answered: released after its callback ran. */
  released_call answered = {0};
  berth_docker_call_set_release(berth_docker_container_kill(e->docker, "c1", 9, json_cb, &answered), count_release);
  run(e, &answered.r);
  assert_int_equal(answered.released, 1);
  assert_int_equal(answered.calls_before_release, 1);
  /* Cancelled: released without a callback. */
  released_call cancelled = {0};
  berth_docker_req *req = berth_docker_container_wait(e->docker, "c1", json_cb, &cancelled);
  berth_docker_call_set_release(req, count_release);
  wait_requests(e, "POST", "/containers/c1/wait", 1);
  berth_docker_cancel(req);
  fake_run_until(&e->loop, was_released, &cancelled, MAX_MS);
  assert_int_equal(cancelled.r.calls, 0);
  /* In flight when the client is freed (berthd stopping): released too. */
  released_call dropped = {0};
  berth_docker_call_set_release(berth_docker_container_inspect(e->docker, "c2", json_cb, &dropped), count_release);
  wait_requests(e, "GET", "/containers/c2/json", 1);
  berth_docker_free(e->docker);
  e->docker = NULL;
  assert_int_equal(dropped.released, 1);
  assert_int_equal(dropped.r.calls, 0);
  reset(&answered.r);
}

/* --- pull stream ------------------------------------------------------------------ */

#define PROGRESS1 "{\"status\":\"Pulling from library/busybox\",\"id\":\"local\"}\r\n"
#define PROGRESS2 "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1,\"total\":2},\"id\":\"a\"}\r\n"

static void pull_stream_to_its_end_succeeds(void **state) {
  env *e = *state;
  fake_rule *r1 = fake_rule_stream(fake_on(e->fake, "POST", "/images/create"), 200, "application/json", FAKE_CHUNKED);
  fake_rule_piece(r1, 0, PROGRESS1, strlen(PROGRESS1));
  fake_rule_piece(r1, 10, PROGRESS2, strlen(PROGRESS2));
  /* A line split across two chunks, the last one without a newline. */
  fake_rule_piece(r1, 10, "{\"status\":\"Status: Downloaded", 29);
  fake_rule_piece(r1, 0, " newer image\"}", 14);
  result r = {0};
  berth_docker_image_pull(e->docker, "127.0.0.1:5000/busybox:local", NULL, 0, NULL, result_cb, &r);
  run(e, &r);
  assert_int_equal(r.calls, 1);
  if (r.rc != 0) fail_msg("pull failed: %s", r.msg);
  fake_request *q = request(e, "POST", "/images/create");
  assert_string_equal(q->query, "fromImage=127.0.0.1%3A5000%2Fbusybox&tag=local");
  fake_request_free(q);
}

static void pull_that_ends_200_with_an_error_line_fails(void **state) {
  env *e = *state;
  fake_rule *r1 = fake_rule_stream(fake_on(e->fake, "POST", "/images/create"), 200, "application/json", FAKE_CHUNKED);
  fake_rule_piece(r1, 0, PROGRESS1, strlen(PROGRESS1));
  const char *err_line = "{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest unknown\"}\r\n";
  fake_rule_piece(r1, 5, err_line, strlen(err_line));
  result r = {0};
  berth_docker_image_pull(e->docker, "127.0.0.1:5000/nope:1", NULL, 0, NULL, result_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, BERTH_EDOCKER);
  assert_string_equal(r.msg, "manifest unknown");
}

static void pull_refused_is_reported_with_dockers_message(void **state) {
  env *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/images/create"), 404,
                  "{\"message\":\"pull access denied for nope, repository does not exist\"}");
  result r = {0};
  berth_docker_image_pull(e->docker, "nope", NULL, 0, NULL, result_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, BERTH_ENOENT);
  tu_assert_contains(r.msg, "pull access denied");
  fake_request *q = request(e, "POST", "/images/create");
  assert_string_equal(q->query, "fromImage=nope&tag=latest");
  fake_request_free(q);
}

static void pull_cut_in_the_middle_fails(void **state) {
  env *e = *state;
  fake_rule *r1 = fake_rule_stream(fake_on(e->fake, "POST", "/images/create"), 200, "application/json", FAKE_CHUNKED);
  fake_rule_piece(r1, 0, PROGRESS1, strlen(PROGRESS1));
  fake_rule_end(r1, FAKE_END_CUT);
  result r = {0};
  berth_docker_image_pull(e->docker, "busybox:local", NULL, 0, NULL, result_cb, &r);
  run(e, &r);
  assert_int_equal(r.calls, 1);
  assert_true(r.rc < 0);
  tu_assert_contains(r.msg, fake_docker_socket(e->fake));
}

typedef struct gone_check {
  env *e;
  fake_rule *rule;
} gone_check;

static bool gone_once(void *data) {
  gone_check *g = data;
  return fake_rule_gone(g->e->fake, g->rule, 1, 0) >= 1;
}

static void pull_cancelled_drops_the_stream(void **state) {
  env *e = *state;
  fake_rule *r1 = fake_rule_stream(fake_on(e->fake, "POST", "/images/create"), 200, "application/json", FAKE_CHUNKED);
  fake_rule_piece(r1, 0, PROGRESS1, strlen(PROGRESS1));
  fake_rule_end(r1, FAKE_END_HOLD);
  result r = {0};
  berth_docker_req *req = berth_docker_image_pull(e->docker, "busybox:local", NULL, 0, NULL, result_cb, &r);
  wait_requests(e, "POST", "/images/create", 1);
  berth_docker_cancel(req);
  /* dockerd aborts a pull when its client goes: the fake must see it go. */
  gone_check g = {e, r1};
  fake_run_until(&e->loop, gone_once, &g, MAX_MS);
  assert_int_equal(r.calls, 0);
}

/* --- attach and logs streams ---------------------------------------------------------- */

static fake_rule *attach_rule(env *e) {
  return fake_rule_stream(fake_on(e->fake, "POST", "/containers/*/attach"), 200, "application/vnd.docker.raw-stream",
                          FAKE_RAW);
}

static void attach_reports_attached_then_output_until_close(void **state) {
  env *e = *state;
  fake_rule *a = attach_rule(e);
  fake_rule_frame(a, 10, 1, "out one\n");
  fake_rule_frame(a, 0, 2, "err one\n");
  fake_rule_frame(a, 10, 1, "out two\n");
  result r = {0};
  berth_docker_container_attach(e->docker, "c1", output_cb, attached_cb, result_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, 0);
  assert_int_equal(r.attached, 1);
  assert_int_equal(r.output_before_attached, 0);
  assert_string_equal(r.out[1], "out one\nout two\n");
  assert_string_equal(r.out[2], "err one\n");
  fake_request *q = request(e, "POST", "/containers/c1/attach");
  assert_string_equal(q->query, "stream=1&stdout=1&stderr=1");
  fake_request_free(q);
}

/* Frames that one read brings are handed on per run of one stream: ten
 * frames (5 stdout, 2 stderr, 3 stdout) in one piece are three writes of
 * the sandbox files, in order, not ten. */
static void attach_frames_of_one_read_are_handed_on_per_stream_run(void **state) {
  env *e = *state;
  fake_rule *a = attach_rule(e);
  char piece[1024];
  size_t len = 0;
  const int streams[] = {1, 1, 1, 1, 1, 2, 2, 1, 1, 1};
  char want[3][256] = {"", "", ""};
  for (int i = 0; i < 10; i++) {
    char text[16];
    int n = snprintf(text, sizeof(text), "line %d\n", i);
    unsigned char head[8] = {(unsigned char)streams[i], 0, 0, 0, 0, 0, 0, (unsigned char)n};
    memcpy(piece + len, head, 8);
    memcpy(piece + len + 8, text, (size_t)n);
    len += 8 + (size_t)n;
    strcat(want[streams[i]], text);
  }
  fake_rule_piece(a, 0, piece, len);
  fake_rule_end(a, FAKE_END_CLEAN);
  result r = {0};
  berth_docker_container_attach(e->docker, "c1", output_cb, attached_cb, result_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, 0);
  assert_string_equal(r.out[1], want[1]);
  assert_string_equal(r.out[2], want[2]);
  assert_string_equal(r.order, "121");
}

static void attach_cut_mid_frame_is_an_error(void **state) {
  env *e = *state;
  fake_rule *a = attach_rule(e);
  fake_rule_frame(a, 0, 1, "before the cut\n");
  fake_rule_frame_part(a, 0, 1, "inside the frame\n", 6);
  fake_rule_end(a, FAKE_END_CUT);
  result r = {0};
  berth_docker_container_attach(e->docker, "c1", output_cb, attached_cb, result_cb, &r);
  run(e, &r);
  assert_int_equal(r.attached, 1);
  assert_true(r.rc < 0);
  tu_assert_contains(r.msg, "inside a frame");
  /* What came before the cut was delivered, up to the cut. */
  assert_string_equal(r.out[1], "before the cut\ninside");
}

static void attach_refused_is_not_attached(void **state) {
  env *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/attach"), 404, "{\"message\":\"No such container: c1\"}");
  result r = {0};
  berth_docker_container_attach(e->docker, "c1", output_cb, attached_cb, result_cb, &r);
  run(e, &r);
  assert_int_equal(r.attached, 0);
  assert_int_equal(r.rc, BERTH_ENOENT);
  assert_string_equal(r.msg, "No such container: c1");
}

static void attach_hangup_before_headers_is_eunavail(void **state) {
  env *e = *state;
  fake_rule_hangup(fake_on(e->fake, "POST", "/containers/*/attach"));
  result r = {0};
  berth_docker_container_attach(e->docker, "c1", output_cb, attached_cb, result_cb, &r);
  run(e, &r);
  assert_int_equal(r.attached, 0);
  assert_int_equal(r.rc, BERTH_EUNAVAIL);
}

static void attach_garbage_frame_header_is_an_error(void **state) {
  env *e = *state;
  fake_rule *a = attach_rule(e);
  fake_rule_piece(a, 0, "HTTP/1.1 500 oops\r\n", 19); /* not a frame */
  fake_rule_end(a, FAKE_END_HOLD);
  result r = {0};
  berth_docker_container_attach(e->docker, "c1", output_cb, attached_cb, result_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, BERTH_EDOCKER);
  tu_assert_contains(r.msg, "malformed stream frame header");
}

static void logs_follow_chunked_stream(void **state) {
  env *e = *state;
  fake_rule *l = fake_rule_stream(fake_on(e->fake, "GET", "/containers/*/logs"), 200,
                                  "application/vnd.docker.multiplexed-stream", FAKE_CHUNKED);
  fake_rule_frame(l, 0, 1, "line 1\n");
  fake_rule_frame(l, 5, 2, "warn\n");
  result r = {0};
  berth_docker_container_logs(e->docker, "c1", 1, output_cb, result_cb, &r);
  run(e, &r);
  assert_int_equal(r.rc, 0);
  assert_string_equal(r.out[1], "line 1\n");
  assert_string_equal(r.out[2], "warn\n");
  fake_request *q = request(e, "GET", "/containers/c1/logs");
  assert_string_equal(q->query, "follow=1&stdout=1&stderr=1");
  fake_request_free(q);
}

static void logs_cut_chunk_is_an_error(void **state) {
  env *e = *state;
  fake_rule *l = fake_rule_stream(fake_on(e->fake, "GET", "/containers/*/logs"), 200,
                                  "application/vnd.docker.multiplexed-stream", FAKE_CHUNKED);
  fake_rule_frame(l, 0, 1, "line 1\n");
  fake_rule_end(l, FAKE_END_CUT);
  result r = {0};
  berth_docker_container_logs(e->docker, "c1", 0, output_cb, result_cb, &r);
  run(e, &r);
  assert_true(r.rc < 0);
  assert_string_equal(r.out[1], "line 1\n");
}

static int stop_reading_cb(int stream, const char *buf, size_t len, void *data) {
  output_cb(stream, buf, len, data);
  return -1;
}

static void logs_reader_may_stop_the_stream(void **state) {
  env *e = *state;
  fake_rule *l = fake_rule_stream(fake_on(e->fake, "GET", "/containers/*/logs"), 200,
                                  "application/vnd.docker.multiplexed-stream", FAKE_CHUNKED);
  fake_rule_frame(l, 0, 1, "first\n");
  fake_rule_frame(l, 20, 1, "second\n");
  fake_rule_end(l, FAKE_END_HOLD);
  result r = {0};
  berth_docker_container_logs(e->docker, "c1", 1, stop_reading_cb, result_cb, &r);
  run(e, &r);
  assert_true(r.rc < 0);
  assert_string_equal(r.out[1], "first\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
      T(version_is_unversioned_and_negotiated_down_to_max),
      T(older_daemon_is_spoken_to_at_its_version),
      T(version_from_a_daemon_too_old_is_refused),
      T(inspect_answer_is_parsed),
      T(not_found_is_enoent_with_dockers_message),
      T(conflict_is_econflict),
      T(server_error_is_edocker_with_message_or_status),
      T(malformed_json_is_an_error_not_an_answer),
      T(remove_update_and_wait_send_what_docker_expects),
      T(list_filters_by_label),
      T(hangup_without_answer_is_eunavail),
      T(no_dockerd_is_eunavail),
      T(timeout_is_eunavail_and_drops_the_connection),
      T(body_of_any_json_type_is_sent),
      T(cancel_runs_no_callback_and_closes_the_connection),
      T(free_with_requests_in_flight_runs_no_callback),
      T(many_requests_in_flight_all_complete),
      T(call_release_runs_after_answer_cancel_and_free),
      T(pull_stream_to_its_end_succeeds),
      T(pull_that_ends_200_with_an_error_line_fails),
      T(pull_refused_is_reported_with_dockers_message),
      T(pull_cut_in_the_middle_fails),
      T(pull_cancelled_drops_the_stream),
      T(attach_reports_attached_then_output_until_close),
      T(attach_frames_of_one_read_are_handed_on_per_stream_run),
      T(attach_cut_mid_frame_is_an_error),
      T(attach_refused_is_not_attached),
      T(attach_hangup_before_headers_is_eunavail),
      T(attach_garbage_frame_header_is_an_error),
      T(logs_follow_chunked_stream),
      T(logs_cut_chunk_is_an_error),
      T(logs_reader_may_stop_the_stream),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
