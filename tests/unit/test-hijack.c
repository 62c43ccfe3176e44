/* Loop-level tests of docker/hijack against the fake dockerd: the request
 * it writes, a 101 whose stream bytes come with the head and after it, and
 * each refusal (docker's JSON message, a hang-up, nobody listening).  Every
 * test ends with the client freed and uv_loop_close returning 0. */
#include <stdbool.h>
#include <uv.h>

#include "testutil.h"

#include "docker/client.h"
#include "docker/hijack.h"
#include "fakedocker.h"

#define MAX_MS 10000

typedef struct env {
  uv_loop_t loop;
  fake_docker *fake;
  berth_docker *docker;
} env;

typedef struct result {
  int calls;
  int rc;
  char msg[BERTH_ERROR_MSG_MAX];
  char data[4096];
  size_t len;
  bool eof;
  berth_hijack *h;
} result;

static int setup(void **state) {
  env *e = calloc(1, sizeof(*e));
  assert_int_equal(uv_loop_init(&e->loop), 0);
  e->fake = fake_docker_new();
  e->docker = berth_docker_new(&e->loop, fake_docker_socket(e->fake));
  berth_docker_set_version(e->docker, "1.41");
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

static void keep(result *r, const char *buf, size_t len) {
  assert_true(r->len + len <= sizeof(r->data));
  memcpy(r->data + r->len, buf, len);
  r->len += len;
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  static char storage[1024];
  *buf = uv_buf_init(storage, sizeof(storage));
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  result *r = stream->data;
  if (nread > 0) keep(r, buf->base, (size_t)nread);
  if (nread < 0) {
    r->eof = true;
    uv_read_stop(stream);
  }
}

static void ready_cb(int rc, const berth_error *err, const char *extra, size_t len, void *data) {
  result *r = data;
  r->calls++;
  r->rc = rc;
  if (rc < 0) {
    snprintf(r->msg, sizeof(r->msg), "%s", err->msg);
    return;
  }
  keep(r, extra, len);
  uv_stream_t *s = berth_hijack_stream(r->h);
  s->data = r;
  uv_read_start(s, alloc_cb, read_cb);
}

static bool called(void *data) { return ((result *)data)->calls > 0; }
static bool ended(void *data) { return ((result *)data)->eof || ((result *)data)->rc < 0; }

static void a_101_hands_over_the_stream_from_its_first_byte(void **state) {
  env *e = *state;
  fake_rule *r =
      fake_rule_stream(fake_on(e->fake, "POST", "/exec/*/start"), 101, "application/vnd.docker.raw-stream", FAKE_RAW);
  fake_rule_frame(r, 0, 1, "first");
  fake_rule_frame(r, 20, 2, "second");
  fake_rule_end(r, FAKE_END_CLEAN);
  result res = {0};
  json_t *body = json_pack("{s:b,s:b}", "Detach", 0, "Tty", 0);
  res.h = berth_hijack_start(e->docker, "/exec/abc/start", body, ready_cb, &res);
  json_decref(body);
  fake_run_until(&e->loop, ended, &res, MAX_MS);
  assert_int_equal(res.calls, 1);
  assert_int_equal(res.rc, 0);
  assert_int_equal(res.len, 8 + 5 + 8 + 6);
  assert_memory_equal(res.data + 8, "first", 5);
  assert_memory_equal(res.data + 21, "second", 6);
  fake_request *q = fake_docker_request(e->fake, "POST", "/exec/*/start", 0);
  assert_non_null(q);
  assert_string_equal(q->version, "1.41");
  assert_string_equal(q->path, "/exec/abc/start");
  json_t *sent = tu_json(q->body);
  tu_assert_json_eq(sent, "{\"Detach\":false,\"Tty\":false}");
  json_decref(sent);
  fake_request_free(q);
  berth_hijack_close(res.h);
}

static void a_refusal_carries_dockers_message_and_code(void **state) {
  env *e = *state;
  fake_rule_reply(fake_on(e->fake, "POST", "/exec/*/start"), 404, "{\"message\":\"No such exec instance: abc\"}");
  fake_rule_reply(fake_on(e->fake, "POST", "/containers/*/attach"), 409, "{\"message\":\"container is paused\"}");
  fake_rule_reply_raw(fake_on(e->fake, "POST", "/exec/*/resize"), 500, "text/plain", "plain\x01text", 10);
  result res = {0};
  res.h = berth_hijack_start(e->docker, "/exec/abc/start", NULL, ready_cb, &res);
  fake_run_until(&e->loop, called, &res, MAX_MS);
  assert_int_equal(res.rc, BERTH_ENOENT);
  assert_non_null(strstr(res.msg, "404: No such exec instance: abc"));
  berth_hijack_close(res.h);

  result res2 = {0};
  res2.h = berth_hijack_start(e->docker, "/containers/x/attach?stream=1&stdin=1", NULL, ready_cb, &res2);
  fake_run_until(&e->loop, called, &res2, MAX_MS);
  assert_int_equal(res2.rc, BERTH_ECONFLICT);
  assert_non_null(strstr(res2.msg, "container is paused"));
  berth_hijack_close(res2.h);

  result res3 = {0};
  res3.h = berth_hijack_start(e->docker, "/exec/abc/resize", NULL, ready_cb, &res3);
  fake_run_until(&e->loop, called, &res3, MAX_MS);
  assert_int_equal(res3.rc, BERTH_EDOCKER);
  assert_non_null(strstr(res3.msg, "500: plaintext")); /* control bytes dropped */
  berth_hijack_close(res3.h);
}

static void a_hangup_is_unavailable(void **state) {
  env *e = *state;
  fake_rule_hangup(fake_on(e->fake, "POST", "/exec/*/start"));
  result res = {0};
  res.h = berth_hijack_start(e->docker, "/exec/abc/start", NULL, ready_cb, &res);
  fake_run_until(&e->loop, called, &res, MAX_MS);
  assert_int_equal(res.rc, BERTH_EUNAVAIL);
  assert_non_null(strstr(res.msg, "before answering"));
  berth_hijack_close(res.h);
}

static void nobody_listening_is_unavailable(void **state) {
  env *e = *state;
  berth_docker *gone = berth_docker_new(&e->loop, "/nonexistent/docker.sock");
  result res = {0};
  res.h = berth_hijack_start(gone, "/exec/abc/start", NULL, ready_cb, &res);
  fake_run_until(&e->loop, called, &res, MAX_MS);
  assert_int_equal(res.rc, BERTH_EUNAVAIL);
  assert_non_null(strstr(res.msg, "connect to docker"));
  berth_hijack_close(res.h);
  berth_docker_free(gone);
}

static void closing_before_the_answer_runs_no_callback(void **state) {
  env *e = *state;
  fake_rule_hold(fake_on(e->fake, "POST", "/exec/*/start"));
  result res = {0};
  res.h = berth_hijack_start(e->docker, "/exec/abc/start", NULL, ready_cb, &res);
  uv_run(&e->loop, UV_RUN_NOWAIT);
  berth_hijack_close(res.h);
  berth_hijack_close(NULL);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  assert_int_equal(res.calls, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(a_101_hands_over_the_stream_from_its_first_byte, setup, teardown),
      cmocka_unit_test_setup_teardown(a_refusal_carries_dockers_message_and_code, setup, teardown),
      cmocka_unit_test_setup_teardown(a_hangup_is_unavailable, setup, teardown),
      cmocka_unit_test_setup_teardown(nobody_listening_is_unavailable, setup, teardown),
      cmocka_unit_test_setup_teardown(closing_before_the_answer_runs_no_callback, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
