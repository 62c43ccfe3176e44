/* Loop-level tests of api/server: requests cross from libmicrohttpd's
 * thread to the loop, are answered at once or later, too-large bodies and
 * clients that leave are handled, and freeing the server answers what
 * waits.  The client is berth's own docker client (curl multi on the same
 * loop) pointed at the server's unix socket.  Each test ends with every
 * handle closed and uv_loop_close returning 0. */
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "testutil.h"

#include "api/server.h"
#include "docker/client.h"
#include "fakedocker.h"

#define MAX_MS 10000
#define HELD_MAX 16

typedef enum { ANSWER_NOW, ANSWER_LATER, HOLD, HOLD_ABANDONABLE } mode;

typedef struct env {
  uv_loop_t loop;
  berth_http_server *server;
  berth_docker *client;
  char dir[64];
  char sock[96];
  mode mode;
  int handled, want_handled;
  char method[16], path[128], query_x[32];
  size_t body_len;
  berth_http_request *held[HELD_MAX];
  size_t n_held;
  int abandoned;
  uv_timer_t later;
} env;

typedef struct reply {
  int calls;
  int status;
  int code;
  char body[512];
} reply;

static void later_cb(uv_timer_t *t) {
  env *e = t->data;
  for (size_t i = 0; i < e->n_held; i++) berth_http_respond_json(e->held[i], 202, json_pack("{s:b}", "later", 1));
  e->n_held = 0;
}

static void handler(berth_http_request *req, void *data) {
  env *e = data;
  e->handled++;
  snprintf(e->method, sizeof(e->method), "%s", berth_http_method(req));
  snprintf(e->path, sizeof(e->path), "%s", berth_http_path(req));
  const char *x = berth_http_query(req, "x");
  snprintf(e->query_x, sizeof(e->query_x), "%s", x ? x : "");
  berth_http_body(req, &e->body_len);
  switch (e->mode) {
    case ANSWER_NOW: {
      size_t len;
      const char *body = berth_http_body(req, &len);
      json_t *echo = json_pack("{s:s,s:s%}", "path", berth_http_path(req), "body", body, len);
      berth_http_respond_json(req, 200, echo);
      return;
    }
    case ANSWER_LATER:
    case HOLD:
    case HOLD_ABANDONABLE:
      if (e->mode == HOLD_ABANDONABLE) berth_http_set_abandonable(req, true);
      assert_true(e->n_held < HELD_MAX);
      e->held[e->n_held++] = req;
      if (e->mode == ANSWER_LATER) uv_timer_start(&e->later, later_cb, 20, 0);
      return;
  }
}

static void abandon_cb(berth_http_request *req, void *data) {
  env *e = data;
  e->abandoned++;
  for (size_t i = 0; i < e->n_held; i++)
    if (e->held[i] == req) e->held[i] = e->held[--e->n_held];
}

static int setup(void **state) {
  env *e = calloc(1, sizeof(*e));
  assert_int_equal(uv_loop_init(&e->loop), 0);
  snprintf(e->dir, sizeof(e->dir), "/tmp/berth-server-XXXXXX");
  assert_non_null(mkdtemp(e->dir));
  snprintf(e->sock, sizeof(e->sock), "%s/api.sock", e->dir);
  e->server = berth_http_server_new(&e->loop, handler, e);
  berth_http_server_on_abandon(e->server, abandon_cb);
  berth_error err = {0};
  char spec[128];
  snprintf(spec, sizeof(spec), "unix:%s", e->sock);
  if (berth_http_server_listen(e->server, spec, NULL, NULL, &err) < 0) fail_msg("listen: %s", err.msg);
  e->client = berth_docker_new(&e->loop, e->sock);
  uv_timer_init(&e->loop, &e->later);
  e->later.data = e;
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  berth_http_server_free(e->server);
  berth_docker_free(e->client);
  uv_close((uv_handle_t *)&e->later, NULL);
  fake_loop_finish(&e->loop);
  unlink(e->sock);
  rmdir(e->dir);
  free(e);
  return 0;
}

static void reply_cb(int status, const char *body, size_t len, const berth_error *err, void *data) {
  reply *r = data;
  r->calls++;
  r->status = status;
  r->code = err ? err->code : 0;
  snprintf(r->body, sizeof(r->body), "%.*s", (int)(len < sizeof(r->body) ? len : sizeof(r->body) - 1), body);
}

static bool replied(void *data) { return ((reply *)data)->calls > 0; }

static berth_docker_req *send_req(env *e, const char *method, const char *path, json_t *body, reply *r) {
  return berth_docker_request(e->client, method, path, body, 0, 1, NULL, reply_cb, r);
}

static bool handled_enough(void *data) {
  env *e = data;
  return e->handled >= e->want_handled;
}

/* Runs the loop until the handler has seen n requests. */
static void wait_handled(env *e, int n) {
  e->want_handled = n;
  fake_run_until(&e->loop, handled_enough, e, MAX_MS);
}

static void request_reaches_handler_and_answer_returns(void **state) {
  env *e = *state;
  e->mode = ANSWER_NOW;
  json_t *body = json_pack("{s:s}", "type", "GET_CONTAINERS");
  reply r = {0};
  send_req(e, "POST", "/api/v1?x=42", body, &r);
  json_decref(body);
  fake_run_until(&e->loop, replied, &r, MAX_MS);
  assert_int_equal(r.status, 200);
  assert_int_equal(e->handled, 1);
  assert_string_equal(e->method, "POST");
  assert_string_equal(e->path, "/api/v1");
  assert_string_equal(e->query_x, "42");
  json_t *got = tu_json(r.body);
  tu_assert_json_str(got, "body", "{\"type\":\"GET_CONTAINERS\"}");
  json_decref(got);
}

static void answer_given_later_reaches_the_client(void **state) {
  env *e = *state;
  e->mode = ANSWER_LATER;
  reply r = {0};
  send_req(e, "GET", "/api/v1/wait", NULL, &r);
  fake_run_until(&e->loop, replied, &r, MAX_MS);
  assert_int_equal(r.status, 202);
  assert_string_equal(r.body, "{\"later\":true}");
}

static void held_requests_answered_out_of_order_each_get_their_own(void **state) {
  env *e = *state;
  e->mode = HOLD;
  enum { N = 8 };
  reply r[N] = {{0}};
  char path[32];
  for (int i = 0; i < N; i++) {
    snprintf(path, sizeof(path), "/r/%d", i);
    send_req(e, "GET", path, NULL, &r[i]);
  }
  /* Wait until all are held, then answer the last first. */
  wait_handled(e, N);
  for (size_t i = e->n_held; i-- > 0;)
    berth_http_respond_json(e->held[i], 200, json_pack("{s:s}", "path", berth_http_path(e->held[i])));
  e->n_held = 0;
  for (int i = 0; i < N; i++) {
    fake_run_until(&e->loop, replied, &r[i], MAX_MS);
    snprintf(path, sizeof(path), "{\"path\":\"/r/%d\"}", i);
    assert_string_equal(r[i].body, path);
  }
}

static void body_too_large_is_413_and_never_handled(void **state) {
  env *e = *state;
  e->mode = ANSWER_NOW;
  size_t n = BERTH_HTTP_MAX_BODY + 10;
  char *big = malloc(n + 1);
  memset(big, 'a', n);
  big[n] = '\0';
  json_t *body = json_pack("{s:s}", "pad", big);
  free(big);
  reply r = {0};
  send_req(e, "POST", "/api/v1", body, &r);
  json_decref(body);
  fake_run_until(&e->loop, replied, &r, MAX_MS);
  assert_int_equal(r.status, 413);
  tu_assert_contains(r.body, "larger than");
  assert_int_equal(e->handled, 0);
}

static void error_answer_is_one_line(void **state) {
  env *e = *state;
  e->mode = HOLD;
  reply r = {0};
  send_req(e, "GET", "/x", NULL, &r);
  wait_handled(e, 1);
  berth_http_respond_error(e->held[0], 500, "docker said:\nline two\r\nline three");
  e->n_held = 0;
  fake_run_until(&e->loop, replied, &r, MAX_MS);
  assert_int_equal(r.status, 500);
  assert_string_equal(r.body, "docker said: line two  line three\n");
}

static bool abandoned(void *data) { return ((env *)data)->abandoned > 0; }

static void client_that_leaves_abandons_a_marked_request(void **state) {
  env *e = *state;
  e->mode = HOLD_ABANDONABLE;
  reply r = {0};
  berth_docker_req *req = send_req(e, "GET", "/wait", NULL, &r);
  wait_handled(e, 1);
  berth_docker_cancel(req);
  fake_run_until(&e->loop, abandoned, e, MAX_MS);
  assert_int_equal(e->abandoned, 1);
  assert_int_equal(e->n_held, 0); /* abandon_cb dropped it */
  assert_int_equal(r.calls, 0);
}

static void freeing_the_server_answers_what_waits(void **state) {
  env *e = *state;
  e->mode = HOLD;
  reply r = {0};
  send_req(e, "GET", "/wait", NULL, &r);
  wait_handled(e, 1);
  e->n_held = 0;
  berth_http_server_free(e->server);
  e->server = NULL;
  fake_run_until(&e->loop, replied, &r, MAX_MS);
  /* The 503 is queued, but MHD_stop_daemon may close the connection before
   * it is written (seen under ASan): the client is never left hanging, and
   * gets the 503 or a closed connection. */
  if (r.code == 0) {
    assert_int_equal(r.status, 503);
    tu_assert_contains(r.body, "shutting down");
  } else {
    assert_int_equal(r.code, BERTH_EUNAVAIL);
  }
}

static void listen_refuses_a_socket_another_server_answers_on(void **state) {
  env *e = *state;
  berth_http_server *second = berth_http_server_new(&e->loop, handler, e);
  berth_error err = {0};
  char spec[128];
  snprintf(spec, sizeof(spec), "unix:%s", e->sock);
  assert_int_equal(berth_http_server_listen(second, spec, NULL, NULL, &err), BERTH_EIO);
  tu_assert_contains(err.msg, "another process already answers");
  assert_int_equal(berth_http_server_listen(second, "relative.sock", NULL, NULL, &err), BERTH_EINVAL);
  assert_int_equal(berth_http_server_listen(second, "tcp:127.0.0.1:1", NULL, NULL, &err), BERTH_EINVAL);
  tu_assert_contains(err.msg, "token");
  berth_http_server_free(second);
  /* The first one still serves. */
  e->mode = ANSWER_NOW;
  reply r = {0};
  send_req(e, "GET", "/still", NULL, &r);
  fake_run_until(&e->loop, replied, &r, MAX_MS);
  assert_int_equal(r.status, 200);
}

static void stale_socket_file_is_replaced(void **state) {
  env *e = *state;
  char stale[96];
  snprintf(stale, sizeof(stale), "%s/stale.sock", e->dir);
  /* A socket file nobody listens on: what a crash leaves. */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", stale);
  assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  close(fd);
  berth_http_server *second = berth_http_server_new(&e->loop, handler, e);
  berth_error err = {0};
  char spec[160];
  snprintf(spec, sizeof(spec), "unix:%s", stale);
  if (berth_http_server_listen(second, spec, NULL, NULL, &err) < 0) fail_msg("listen: %s", err.msg);
  berth_docker *client = berth_docker_new(&e->loop, stale);
  e->mode = ANSWER_NOW;
  reply r = {0};
  berth_docker_request(client, "GET", "/fresh", NULL, 0, 1, NULL, reply_cb, &r);
  fake_run_until(&e->loop, replied, &r, MAX_MS);
  assert_int_equal(r.status, 200);
  berth_docker_free(client);
  berth_http_server_free(second);
  assert_int_equal(access(stale, F_OK), -1); /* unlinked on close */
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
      T(request_reaches_handler_and_answer_returns),
      T(answer_given_later_reaches_the_client),
      T(held_requests_answered_out_of_order_each_get_their_own),
      T(body_too_large_is_413_and_never_handled),
      T(error_answer_is_one_line),
      T(client_that_leaves_abandons_a_marked_request),
      T(freeing_the_server_answers_what_waits),
      T(listen_refuses_a_socket_another_server_answers_on),
      T(stale_socket_file_is_replaced),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
