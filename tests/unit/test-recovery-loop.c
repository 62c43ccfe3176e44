/* Loop-level tests of recovery (berth_cz_recover) against the fake
 * dockerd: the store is filled as a berthd that stopped would have left
 * it, dockerd lists what exists, and every kind of listing is reconciled
 * (docs/recovery.md's table).  Each test ends with every handle closed and
 * uv_loop_close returning 0. */
#include "czenv.h"

#include "containerizer/termination.h"

#define NAME(id) "berth-" AGENT "." id

static int setup(void **state) {
  *state = czenv_new();
  return 0;
}

static int teardown(void **state) {
  czenv_free(*state);
  return 0;
}

/* A row as the launch path writes it; the sandbox exists with stdout
 * holding `out` (what was captured before the restart). */
static void put_record_bound(czenv *e, const char *id, const char *stage, const char *out, bool bound) {
  char launch[512];
  snprintf(launch, sizeof(launch),
           "{\"container_id\":{\"value\":\"%s\"},\"container\":{\"type\":\"DOCKER\",\"docker\":{\"image\":"
           "\"busybox:local\"}}}",
           id);
  json_t *l = tu_json(launch);
  char name[128];
  snprintf(name, sizeof(name), "berth-%s.%s", AGENT, id);
  bool terminated = !strcmp(stage, "TERMINATED");
  json_t *term = terminated ? tu_json("{\"state\":\"TASK_FINISHED\",\"exit_code\":0,\"exit_status\":0}") : NULL;
  berth_record rec = {
      .id = id,
      .stage = stage,
      .docker_name = name,
      .docker_id = strcmp(stage, "PULLING") ? "cid" : NULL,
      .image = "busybox:local",
      .launch = l,
      .termination = term,
      .created_at = 1000.0,
      .finished_at = terminated ? 1001.0 : 0,
      .gpus = "",
      .bound = bound,
  };
  berth_error err = {0};
  if (berth_store_put(e->store, &rec, &err) < 0) fail_msg("%s", err.msg);
  json_decref(l);
  json_decref(term);
  char dir[256];
  snprintf(dir, sizeof(dir), "%s/sandboxes/%s", e->work_dir, id);
  if (berth_mkdir_p(dir, &err) < 0) fail_msg("%s", err.msg);
  static const char *names[] = {"stdout", "stderr"};
  for (int i = 0; i < 2; i++) {
    char path[300];
    snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (i == 0) fputs(out, f);
    fclose(f);
  }
}

static void put_record(czenv *e, const char *id, const char *stage, const char *out) {
  put_record_bound(e, id, stage, out, false);
}

/* One entry of docker's container listing. */
static void entry(char *buf, size_t size, const char *docker_id, const char *agent, const char *id, const char *state) {
  size_t used = strlen(buf);
  snprintf(buf + used, size - used,
           "%s{\"Id\":\"%s\",\"Names\":[\"/berth-%s.%s\"],\"Image\":\"busybox:local\",\"State\":\"%s\","
           "\"Labels\":{\"berth.agent_id\":\"%s\",\"berth.container_id\":\"%s\"}}",
           used > 1 ? "," : "", docker_id, agent, id, state, agent, id);
}

static void recover(czenv *e, outcome *recovered) {
  czenv_start(e);
  berth_error err = {0};
  if (berth_cz_recover(e->cz, cz_done_cb, recovered, &err) < 0) fail_msg("recover: %s", err.msg);
  czenv_run(e, recovered);
}

static void wait_end(czenv *e, const char *id, outcome *ended) {
  berth_error err = {0};
  if (berth_cz_wait(e->cz, id, cz_wait_cb, ended, &err) < 0) fail_msg("wait: %s", err.msg);
  czenv_run(e, ended);
}

/* An exited container as docker's inspect reports it. */
static fake_rule *inspect_exited(czenv *e, int code, bool oom) {
  char body[256];
  snprintf(body, sizeof(body),
           "{\"Id\":\"cid\",\"State\":{\"Pid\":0,\"ExitCode\":%d,\"OOMKilled\":%s,"
           "\"FinishedAt\":\"2026-01-01T00:00:00.5Z\"}}",
           code, oom ? "true" : "false");
  return fake_rule_reply(fake_on(e->fake, "GET", "/containers/*/json"), 200, body);
}

static fake_rule *logs(czenv *e, const char *text, fake_end end) {
  fake_rule *r = fake_rule_stream(fake_on(e->fake, "GET", "/containers/*/logs"), 200,
                                  "application/vnd.docker.multiplexed-stream", FAKE_CHUNKED);
  fake_rule_frame(r, 0, 1, text);
  return fake_rule_end(r, end);
}

/* --- RUNNING records ------------------------------------------------------------------ */

typedef struct file_check {
  czenv *e;
  const char *id, *want;
} file_check;

static bool file_is(void *data) {
  file_check *f = data;
  char *got = czenv_sandbox_file(f->e, f->id, "stdout");
  bool same = !strcmp(got, f->want);
  free(got);
  return same;
}

static void running_container_is_tracked_again(void **state) {
  czenv *e = *state;
  put_record(e, "web-1", "RUNNING", "old\n");
  char list[1024] = "[";
  entry(list, sizeof(list), "cid", AGENT, "web-1", "running");
  strcat(list, "]");
  fake_rule *lister = fake_rule_containers(fake_on(e->fake, "GET", "/containers/json"), list);
  fake_rule_hold(fake_on(e->fake, "POST", "/containers/*/wait"));
  fake_rule_reply(fake_on(e->fake, "GET", "/containers/*/json"), 200, "{\"State\":{\"Pid\":0}}");
  /* docker's log from the start: what was captured is skipped. */
  fake_rule *l = fake_rule_stream(fake_on(e->fake, "GET", "/containers/*/logs"), 200,
                                  "application/vnd.docker.multiplexed-stream", FAKE_CHUNKED);
  fake_rule_frame(l, 0, 1, "old\n");
  fake_rule_frame(l, 0, 1, "new\n");
  fake_rule_end(l, FAKE_END_HOLD);
  outcome recovered = {0};
  recover(e, &recovered);
  assert_int_equal(recovered.rc, 0);
  assert_int_equal(fake_rule_hits(e->fake, lister), 1);
  fake_request *q = fake_docker_request(e->fake, "GET", "/containers/json", 0);
  assert_string_equal(q->query, "all=1&filters=%7B%22label%22%3A%5B%22berth.agent_id%3D" AGENT "%22%5D%7D");
  fake_request_free(q);
  assert_string_equal(czenv_stage(e, "web-1"), "RUNNING");
  czenv_wait_requests(e, "POST", "/containers/" NAME("web-1") "/wait", 1);
  file_check f = {e, "web-1", "old\nnew\n"};
  fake_run_until(&e->loop, file_is, &f, MAX_MS);
  q = fake_docker_request(e->fake, "GET", "/containers/*/logs", 0);
  assert_string_equal(q->path, "/containers/" NAME("web-1") "/logs");
  assert_string_equal(q->query, "follow=1&stdout=1&stderr=1");
  fake_request_free(q);
  assert_int_equal(fake_docker_count(e->fake, "DELETE", "*"), 0);
}

static void container_that_exited_while_down_reports_its_exit(void **state) {
  czenv *e = *state;
  put_record(e, "web-1", "RUNNING", "");
  char list[1024] = "[";
  entry(list, sizeof(list), "cid", AGENT, "web-1", "exited");
  strcat(list, "]");
  fake_rule_containers(fake_on(e->fake, "GET", "/containers/json"), list);
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/wait"), 200, "{\"StatusCode\":3}");
  inspect_exited(e, 3, false);
  logs(e, "last words\n", FAKE_END_CLEAN);
  fake_rule_reply(fake_on(e->fake, "DELETE", "/containers/*"), 204, NULL);
  outcome recovered = {0}, ended = {0};
  recover(e, &recovered);
  wait_end(e, "web-1", &ended);
  tu_assert_json_str(ended.termination, "state", "TASK_FAILED");
  tu_assert_json_int(ended.termination, "exit_code", 3);
  assert_null(json_object_get(ended.termination, "reason"));
  char *out = czenv_sandbox_file(e, "web-1", "stdout");
  assert_string_equal(out, "last words\n");
  free(out);
  outcome_clear(&ended);
}

static void container_oom_killed_while_down_reports_the_limit(void **state) {
  czenv *e = *state;
  put_record(e, "web-1", "RUNNING", "");
  char list[1024] = "[";
  entry(list, sizeof(list), "cid", AGENT, "web-1", "exited");
  strcat(list, "]");
  fake_rule_containers(fake_on(e->fake, "GET", "/containers/json"), list);
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/wait"), 200, "{\"StatusCode\":137}");
  inspect_exited(e, 137, true);
  logs(e, "x\n", FAKE_END_CLEAN);
  outcome recovered = {0}, ended = {0};
  recover(e, &recovered);
  wait_end(e, "web-1", &ended);
  tu_assert_json_str(ended.termination, "state", "TASK_FAILED");
  tu_assert_json_str(ended.termination, "reason", BERTH_REASON_MEMORY);
  outcome_clear(&ended);
}

static void container_gone_from_docker_is_executor_terminated(void **state) {
  czenv *e = *state;
  put_record(e, "web-1", "RUNNING", "");
  put_record(e, "web-2", "DESTROYING", "");
  fake_rule_containers(fake_on(e->fake, "GET", "/containers/json"), "[]");
  outcome recovered = {0}, ended1 = {0}, ended2 = {0};
  recover(e, &recovered);
  assert_int_equal(recovered.rc, 0);
  wait_end(e, "web-1", &ended1);
  wait_end(e, "web-2", &ended2);
  outcome *ends[] = {&ended1, &ended2};
  for (int i = 0; i < 2; i++) {
    tu_assert_json_str(ends[i]->termination, "state", "TASK_FAILED");
    tu_assert_json_str(ends[i]->termination, "reason", BERTH_REASON_EXECUTOR_TERMINATED);
    tu_assert_contains(json_string_value(json_object_get(ends[i]->termination, "message")),
                       "was gone when berthd recovered");
    outcome_clear(ends[i]);
  }
  /* Nothing to wait on, kill or remove. */
  assert_int_equal(fake_docker_count(e->fake, "*", "/containers/berth-*"), 0);
}

static void destroy_under_way_is_finished(void **state) {
  czenv *e = *state;
  put_record(e, "web-1", "DESTROYING", "");
  char list[1024] = "[";
  entry(list, sizeof(list), "cid", AGENT, "web-1", "running");
  strcat(list, "]");
  fake_rule_containers(fake_on(e->fake, "GET", "/containers/json"), list);
  fake_rule *kill = fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/kill"), 204, NULL);
  fake_rule_reply(fake_rule_after(fake_on(e->fake, "POST", "/containers/*/wait"), kill), 200, "{\"StatusCode\":137}");
  inspect_exited(e, 137, false);
  logs(e, "bye\n", FAKE_END_CLEAN);
  fake_rule_reply(fake_on(e->fake, "DELETE", "/containers/*"), 204, NULL);
  outcome recovered = {0}, ended = {0};
  recover(e, &recovered);
  wait_end(e, "web-1", &ended);
  tu_assert_json_str(ended.termination, "state", "TASK_KILLED");
  fake_request *q = fake_docker_request(e->fake, "POST", "/containers/*/kill", 0);
  assert_string_equal(q->path, "/containers/" NAME("web-1") "/kill");
  fake_request_free(q);
  outcome_clear(&ended);
}

/* --- launches caught mid-way, and TERMINATED records ------------------------------------------ */

static void launch_caught_midway_fails_and_its_container_goes(void **state) {
  czenv *e = *state;
  put_record(e, "pulling", "PULLING", "");
  put_record(e, "mounting", "MOUNTING", "");
  char list[1024] = "[";
  entry(list, sizeof(list), "cid-m", AGENT, "mounting", "created");
  strcat(list, "]");
  fake_rule_containers(fake_on(e->fake, "GET", "/containers/json"), list);
  fake_rule_reply(fake_on(e->fake, "DELETE", "/containers/*"), 204, NULL);
  outcome recovered = {0}, ended1 = {0}, ended2 = {0};
  recover(e, &recovered);
  wait_end(e, "pulling", &ended1);
  wait_end(e, "mounting", &ended2);
  tu_assert_json_str(ended1.termination, "reason", BERTH_REASON_LAUNCH_FAILED);
  tu_assert_contains(json_string_value(json_object_get(ended1.termination, "message")), "PULLING");
  tu_assert_json_str(ended2.termination, "reason", BERTH_REASON_LAUNCH_FAILED);
  tu_assert_contains(json_string_value(json_object_get(ended2.termination, "message")), "MOUNTING");
  czenv_wait_requests(e, "DELETE", "/containers/" NAME("mounting"), 1);
  assert_int_equal(fake_docker_count(e->fake, "DELETE", "/containers/" NAME("pulling")), 0);
  outcome_clear(&ended1);
  outcome_clear(&ended2);
}

static void terminated_record_with_a_container_left_removes_it(void **state) {
  czenv *e = *state;
  put_record(e, "old", "TERMINATED", "");
  char list[1024] = "[";
  entry(list, sizeof(list), "cid-o", AGENT, "old", "exited");
  strcat(list, "]");
  fake_rule_containers(fake_on(e->fake, "GET", "/containers/json"), list);
  fake_rule_reply(fake_on(e->fake, "DELETE", "/containers/*"), 204, NULL);
  outcome recovered = {0}, ended = {0};
  recover(e, &recovered);
  /* --docker_remove_delay is 0 here and the record ended long ago. */
  czenv_wait_requests(e, "DELETE", "/containers/" NAME("old"), 1);
  wait_end(e, "old", &ended);
  tu_assert_json_str(ended.termination, "state", "TASK_FINISHED");
  outcome_clear(&ended);
}

/* --- orphans and other agents -------------------------------------------------------------- */

static void orphan_of_this_agent_is_removed(void **state) {
  czenv *e = *state;
  char list[1024] = "[";
  entry(list, sizeof(list), "orphan-cid", AGENT, "ghost", "running");
  strcat(list, "]");
  fake_rule_containers(fake_on(e->fake, "GET", "/containers/json"), list);
  /* dockerd takes its time: berthd stops (teardown) with the removal in
   * flight, which must leak nothing. */
  fake_rule_hold(fake_on(e->fake, "DELETE", "/containers/*"));
  outcome recovered = {0};
  recover(e, &recovered);
  czenv_wait_requests(e, "DELETE", "/containers/orphan-cid", 1);
  fake_request *q = fake_docker_request(e->fake, "DELETE", "/containers/orphan-cid", 0);
  assert_string_equal(q->query, "force=1&v=1");
  fake_request_free(q);
  assert_string_equal(czenv_stage(e, "ghost"), "");
}

static void orphan_is_kept_without_docker_kill_orphans(void **state) {
  czenv *e = *state;
  e->config.docker_kill_orphans = false;
  /* A record whose container is left (removed at once): proof that the
   * requests recovery makes have been made. */
  put_record(e, "old", "TERMINATED", "");
  char list[1024] = "[";
  entry(list, sizeof(list), "orphan-cid", AGENT, "ghost", "running");
  entry(list, sizeof(list), "cid-o", AGENT, "old", "exited");
  strcat(list, "]");
  fake_rule_containers(fake_on(e->fake, "GET", "/containers/json"), list);
  fake_rule *del = fake_rule_reply(fake_on(e->fake, "DELETE", "/containers/*"), 204, NULL);
  outcome recovered = {0}, removed = {0};
  recover(e, &recovered);
  /* The orphan's removal, had there been one, was sent in the listing's
   * callback, before the remove-delay timer of "old" ran; REMOVE of "old"
   * answers only once its DELETE was answered. */
  berth_error err = {0};
  assert_int_equal(berth_cz_remove(e->cz, "old", cz_done_cb, &removed, &err), 0);
  czenv_run(e, &removed);
  assert_int_equal(removed.rc, 0);
  assert_true(fake_rule_hits(e->fake, del) >= 1);
  assert_int_equal(fake_docker_count(e->fake, "*", "/containers/orphan-cid*"), 0);
}

static void other_agents_containers_are_not_touched(void **state) {
  czenv *e = *state;
  put_record(e, "web-1", "RUNNING", "");
  char list[2048] = "[";
  /* The other agent runs a container with the same task id, and one this
   * agent has no record of. */
  entry(list, sizeof(list), "cid-other1", "agent2", "web-1", "running");
  entry(list, sizeof(list), "cid-other2", "agent2", "ghost", "running");
  strcat(list, "]");
  fake_rule_containers(fake_on(e->fake, "GET", "/containers/json"), list);
  outcome recovered = {0}, ended = {0};
  recover(e, &recovered);
  wait_end(e, "web-1", &ended);
  /* web-1 of this agent is gone; agent2's web-1 is not mistaken for it. */
  tu_assert_json_str(ended.termination, "reason", BERTH_REASON_EXECUTOR_TERMINATED);
  assert_int_equal(fake_docker_count(e->fake, "*", "/containers/cid-other*"), 0);
  assert_int_equal(fake_docker_count(e->fake, "*", "/containers/berth-agent2.*"), 0);
  outcome_clear(&ended);
}

/* --- listings that cannot be used ------------------------------------------------------------ */

/* Recovery runs once a usable listing comes: until then the records stand
 * as they are, and the caller hears why. */
static void unusable_listing_then_good_one(czenv *e, fake_rule *bad, const char *why) {
  put_record(e, "web-1", "RUNNING", "");
  char list[1024] = "[";
  entry(list, sizeof(list), "cid", AGENT, "web-1", "running");
  strcat(list, "]");
  fake_rule_times(bad, 1);
  fake_rule_containers(fake_on(e->fake, "GET", "/containers/json"), list);
  fake_rule_hold(fake_on(e->fake, "POST", "/containers/*/wait"));
  fake_rule_reply(fake_on(e->fake, "GET", "/containers/*/json"), 200, "{\"State\":{\"Pid\":0}}");
  logs(e, "x\n", FAKE_END_HOLD);
  outcome recovered = {0};
  recover(e, &recovered);
  assert_true(recovered.rc < 0);
  tu_assert_contains(recovered.msg, why);
  /* Not declared dead for want of a listing. */
  assert_string_equal(czenv_stage(e, "web-1"), "RUNNING");
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/*/wait"), 0);
  /* The retry (after 250 ms) reconciles it. */
  czenv_wait_requests(e, "POST", "/containers/" NAME("web-1") "/wait", 1);
  assert_int_equal(fake_docker_count(e->fake, "GET", "/containers/json"), 2);
  assert_string_equal(czenv_stage(e, "web-1"), "RUNNING");
}

static void malformed_listing_is_retried(void **state) {
  czenv *e = *state;
  unusable_listing_then_good_one(e, fake_rule_reply(fake_on(e->fake, "GET", "/containers/json"), 200, "[{\"Id\":"),
                                 "malformed JSON");
}

static void listing_that_is_not_an_array_is_retried(void **state) {
  czenv *e = *state;
  unusable_listing_then_good_one(
      e, fake_rule_reply(fake_on(e->fake, "GET", "/containers/json"), 200, "{\"message\":\"page not found\"}"),
      "not a list");
}

static void listing_with_an_empty_body_is_retried(void **state) {
  czenv *e = *state;
  unusable_listing_then_good_one(e, fake_rule_reply(fake_on(e->fake, "GET", "/containers/json"), 200, NULL),
                                 "not a list");
}

static void listing_refused_is_retried(void **state) {
  czenv *e = *state;
  unusable_listing_then_good_one(
      e, fake_rule_reply(fake_on(e->fake, "GET", "/containers/json"), 500, "{\"message\":\"daemon busy\"}"),
      "daemon busy");
}

static void dockerd_down_at_recovery_is_retried(void **state) {
  czenv *e = *state;
  unusable_listing_then_good_one(e, fake_rule_hangup(fake_on(e->fake, "GET", "/containers/json")),
                                 fake_docker_socket(e->fake));
}

static void odd_entries_in_the_listing_are_skipped(void **state) {
  czenv *e = *state;
  put_record(e, "web-1", "RUNNING", "");
  /* Entries without labels, names or id, of the wrong types, or not
   * objects at all: none may crash recovery or be removed by a NULL id. */
  fake_rule_reply(fake_on(e->fake, "GET", "/containers/json"), 200,
                  "[1, \"x\", null, {}, {\"Id\":5}, {\"Labels\":null}, {\"Labels\":{\"berth.container_id\":7}},"
                  " {\"Names\":\"/x\",\"Labels\":{\"berth.container_id\":\"web-1\"}},"
                  " {\"Id\":\"cid-odd\",\"Names\":[3],\"Labels\":{\"berth.container_id\":[]}}]");
  fake_rule_hold(fake_on(e->fake, "POST", "/containers/*/wait"));
  fake_rule_reply(fake_on(e->fake, "GET", "/containers/*/json"), 200, "{\"State\":{\"Pid\":0}}");
  logs(e, "x\n", FAKE_END_HOLD);
  fake_rule_reply(fake_on(e->fake, "DELETE", "/containers/*"), 204, NULL);
  outcome recovered = {0};
  recover(e, &recovered);
  assert_int_equal(recovered.rc, 0);
  /* web-1 has an entry (labelled, without an id): tracked, not gone. */
  assert_string_equal(czenv_stage(e, "web-1"), "RUNNING");
  /* The one entry with an id and no record of ours is an orphan. */
  czenv_wait_requests(e, "DELETE", "/containers/cid-odd", 1);
  assert_int_equal(fake_docker_count(e->fake, "DELETE", "*"), 1);
}

/* --- bound clients across a restart (rebind.h) ------------------------------------------------ */

#define REBIND_TIMEOUT_NS (50 * 1000000LL)

static bool timer_fired(void *data) { return *(bool *)data; }

static void fired_cb(uv_timer_t *t) { *(bool *)t->data = true; }

static void closed_cb(uv_handle_t *h) { *(bool *)h->data = true; }

/* Runs the loop for ms (several times the rebind timeout). */
static void run_for(czenv *e, int ms) {
  bool fired = false, closed = false;
  uv_timer_t t;
  uv_timer_init(&e->loop, &t);
  t.data = &fired;
  uv_timer_start(&t, fired_cb, (uint64_t)ms, 0);
  fake_run_until(&e->loop, timer_fired, &fired, MAX_MS);
  t.data = &closed;
  uv_close((uv_handle_t *)&t, closed_cb);
  fake_run_until(&e->loop, timer_fired, &closed, MAX_MS);
}

/* Two running containers, web-1 bound before the restart, web-2 not. */
static void two_running(czenv *e) {
  e->config.bound_client_timeout_ns = REBIND_TIMEOUT_NS;
  put_record_bound(e, "web-1", "RUNNING", "", true);
  put_record(e, "web-2", "RUNNING", "");
  char list[1024] = "[";
  entry(list, sizeof(list), "cid1", AGENT, "web-1", "running");
  entry(list, sizeof(list), "cid2", AGENT, "web-2", "running");
  strcat(list, "]");
  fake_rule_containers(fake_on(e->fake, "GET", "/containers/json"), list);
}

static void bound_container_whose_client_does_not_return_is_destroyed(void **state) {
  czenv *e = *state;
  two_running(e);
  fake_rule *kill = fake_rule_reply(fake_on(e->fake, "POST", "/containers/" NAME("web-1") "/kill"), 204, NULL);
  fake_rule_reply(fake_rule_after(fake_on(e->fake, "POST", "/containers/" NAME("web-1") "/wait"), kill), 200,
                  "{\"StatusCode\":137}");
  fake_rule_hold(fake_on(e->fake, "POST", "/containers/*/wait"));
  inspect_exited(e, 137, false);
  logs(e, "", FAKE_END_CLEAN);
  fake_rule_reply(fake_on(e->fake, "DELETE", "/containers/*"), 204, NULL);
  outcome recovered = {0}, ended = {0};
  recover(e, &recovered);
  assert_int_equal(recovered.rc, 0);
  wait_end(e, "web-1", &ended);
  tu_assert_json_str(ended.termination, "state", "TASK_KILLED");
  outcome_clear(&ended);
  /* The never-bound one is left alone. */
  assert_string_equal(czenv_stage(e, "web-2"), "RUNNING");
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/" NAME("web-2") "/kill"), 0);
}

static void bound_container_whose_client_returns_is_kept_and_bound_again(void **state) {
  czenv *e = *state;
  two_running(e);
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/kill"), 204, NULL);
  fake_rule_hold(fake_on(e->fake, "POST", "/containers/*/wait"));
  fake_rule_reply(fake_on(e->fake, "GET", "/containers/*/json"), 200, "{\"State\":{\"Pid\":0}}");
  logs(e, "", FAKE_END_HOLD);
  outcome recovered = {0}, waited = {0};
  recover(e, &recovered);
  assert_int_equal(recovered.rc, 0);
  /* The client's WAIT with kill_on_disconnect, before the timeout. */
  berth_error err = {0};
  if (berth_cz_wait(e->cz, "web-1", cz_wait_cb, &waited, &err) < 0) fail_msg("wait: %s", err.msg);
  berth_cz_bind_waiter(e->cz, "web-1", &waited);
  run_for(e, 4 * (int)(REBIND_TIMEOUT_NS / 1000000));
  assert_string_equal(czenv_stage(e, "web-1"), "RUNNING");
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/*/kill"), 0);
  /* Bound again: the client going away now destroys it. */
  berth_cz_forget(e->cz, &waited);
  czenv_wait_requests(e, "POST", "/containers/" NAME("web-1") "/kill", 1);
  assert_int_equal(waited.calls, 0);
}

static void no_timeout_keeps_bound_containers(void **state) {
  czenv *e = *state;
  two_running(e);
  e->config.bound_client_timeout_ns = 0;
  fake_rule_hold(fake_on(e->fake, "POST", "/containers/*/wait"));
  fake_rule_reply(fake_on(e->fake, "GET", "/containers/*/json"), 200, "{\"State\":{\"Pid\":0}}");
  logs(e, "", FAKE_END_HOLD);
  outcome recovered = {0};
  recover(e, &recovered);
  run_for(e, 4 * (int)(REBIND_TIMEOUT_NS / 1000000));
  assert_string_equal(czenv_stage(e, "web-1"), "RUNNING");
  assert_int_equal(fake_docker_count(e->fake, "POST", "/containers/*/kill"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
      T(running_container_is_tracked_again),
      T(container_that_exited_while_down_reports_its_exit),
      T(container_oom_killed_while_down_reports_the_limit),
      T(container_gone_from_docker_is_executor_terminated),
      T(destroy_under_way_is_finished),
      T(launch_caught_midway_fails_and_its_container_goes),
      T(terminated_record_with_a_container_left_removes_it),
      T(orphan_of_this_agent_is_removed),
      T(orphan_is_kept_without_docker_kill_orphans),
      T(other_agents_containers_are_not_touched),
      T(malformed_listing_is_retried),
      T(listing_that_is_not_an_array_is_retried),
      T(listing_with_an_empty_body_is_retried),
      T(listing_refused_is_retried),
      T(dockerd_down_at_recovery_is_retried),
      T(odd_entries_in_the_listing_are_skipped),
      T(bound_container_whose_client_does_not_return_is_destroyed),
      T(bound_container_whose_client_returns_is_kept_and_bound_again),
      T(no_timeout_keeps_bound_containers),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
