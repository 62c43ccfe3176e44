/* Loop-level tests of api/server's HTTP upgrade (101): the owner gets the
 * connection on the loop thread with the bytes the client sent after its
 * request, a client that leaves before the 101 is reported once, and
 * freeing the server stops a live session before MHD stops.  The client
 * is a plain socket on a thread of its own.  Each test ends with every
 * handle closed and uv_loop_close returning 0. */
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "testutil.h"

#include "api/server.h"
#include "fakedocker.h"

#define MAX_MS 10000

typedef struct env {
  uv_loop_t loop;
  berth_http_server *server;
  char dir[64];
  char sock[96];
  int handled;
  bool have_upgrade;
  char upgrade[32];
  berth_http_request *held;
  /* the session */
  int ready_calls, failed, stopped;
  berth_http_upgraded *up;
  uv_pipe_t pipe;
  bool pipe_open, pipe_closed;
  char got[256];
  size_t got_len;
  bool eof;
  /* the client thread */
  pthread_t client;
  const char *client_extra; /* sent right after the request */
  bool client_vanish;       /* close before the 101 comes */
  bool client_gone;
  char answer[1024];
  size_t answer_len;
} env;

static void handler(berth_http_request *req, void *data) {
  env *e = data;
  __atomic_add_fetch(&e->handled, 1, __ATOMIC_SEQ_CST);
  const char *up = berth_http_upgrade_requested(req);
  e->have_upgrade = up != NULL;
  snprintf(e->upgrade, sizeof(e->upgrade), "%s", up ? up : "");
  e->held = req; /* answered by the test */
}

static int setup(void **state) {
  env *e = calloc(1, sizeof(*e));
  assert_int_equal(uv_loop_init(&e->loop), 0);
  snprintf(e->dir, sizeof(e->dir), "/tmp/berth-upgrade-XXXXXX");
  assert_non_null(mkdtemp(e->dir));
  snprintf(e->sock, sizeof(e->sock), "%s/api.sock", e->dir);
  e->server = berth_http_server_new(&e->loop, handler, e);
  berth_error err = {0};
  char spec[128];
  snprintf(spec, sizeof(spec), "unix:%s", e->sock);
  if (berth_http_server_listen(e->server, spec, NULL, NULL, &err) < 0) fail_msg("listen: %s", err.msg);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  if (e->server) berth_http_server_free(e->server);
  fake_loop_finish(&e->loop);
  unlink(e->sock);
  rmdir(e->dir);
  free(e);
  return 0;
}

static void *client_main(void *arg) {
  env *e = arg;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", e->sock);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  char req[512];
  int n = snprintf(req, sizeof(req),
                   "POST /api/v1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                   "Content-Length: 2\r\n\r\n{}%s",
                   e->client_extra ? e->client_extra : "");
  assert_int_equal(write(fd, req, (size_t)n), n);
  if (e->client_vanish) {
    /* Gone once the request is with the handler, before any answer. */
    while (!__atomic_load_n(&e->handled, __ATOMIC_SEQ_CST)) usleep(1000);
    close(fd);
    __atomic_store_n(&e->client_gone, true, __ATOMIC_SEQ_CST);
    return NULL;
  }
  shutdown(fd, SHUT_WR);
  for (;;) {
    ssize_t r = read(fd, e->answer + e->answer_len, sizeof(e->answer) - 1 - e->answer_len);
    if (r <= 0) break;
    e->answer_len += (size_t)r;
  }
  e->answer[e->answer_len] = '\0';
  close(fd);
  return NULL;
}

static void start_client(env *e) { assert_int_equal(pthread_create(&e->client, NULL, client_main, e), 0); }

static bool handled(void *data) { return ((env *)data)->handled > 0; }
static bool readied(void *data) { return ((env *)data)->ready_calls > 0; }
static bool session_over(void *data) { return ((env *)data)->pipe_closed; }

static void write_done_cb(uv_write_t *w, int status) { free(w); }

static void pipe_closed_cb(uv_handle_t *h) {
  env *e = h->data;
  e->pipe_closed = true;
  berth_http_upgraded_close(e->up);
  e->up = NULL;
}

static void echo_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  env *e = s->data;
  if (nread > 0) {
    memcpy(e->got + e->got_len, buf->base, (size_t)nread);
    e->got_len += (size_t)nread;
  }
  if (nread < 0) {
    /* The client half-closed: answer with what came, then end. */
    e->eof = true;
    uv_read_stop(s);
    uv_write_t *w = malloc(sizeof(*w));
    uv_buf_t b = uv_buf_init(e->got, (unsigned)e->got_len);
    uv_write(w, s, &b, 1, write_done_cb);
    uv_close((uv_handle_t *)s, pipe_closed_cb);
  }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char storage[256];
  *buf = uv_buf_init(storage, sizeof(storage));
}

static void ready_cb(berth_http_upgraded *u, int fd, const char *extra, size_t extra_len, void *data) {
  env *e = data;
  e->ready_calls++;
  if (!u) {
    assert_int_equal(fd, -1);
    e->failed++;
    return;
  }
  e->up = u;
  memcpy(e->got, extra, extra_len);
  e->got_len = extra_len;
  uv_pipe_init(&e->loop, &e->pipe, 0);
  e->pipe.data = e;
  e->pipe_open = true;
  assert_int_equal(uv_pipe_open(&e->pipe, fd), 0);
  uv_read_start((uv_stream_t *)&e->pipe, alloc_cb, echo_read_cb);
}

static void stop_cb(void *data) {
  env *e = data;
  e->stopped++;
  e->up = NULL; /* the server closes it */
  if (e->pipe_open && !uv_is_closing((uv_handle_t *)&e->pipe)) uv_close((uv_handle_t *)&e->pipe, NULL);
}

static void upgrade_hands_over_the_connection_with_early_bytes(void **state) {
  env *e = *state;
  e->client_extra = "early stdin";
  start_client(e);
  fake_run_until(&e->loop, handled, e, MAX_MS);
  assert_true(e->have_upgrade);
  assert_string_equal(e->upgrade, "tcp");
  berth_http_respond_upgrade(e->held, "tcp", ready_cb, stop_cb, e);
  fake_run_until(&e->loop, session_over, e, MAX_MS);
  pthread_join(e->client, NULL);
  assert_int_equal(e->ready_calls, 1);
  assert_int_equal(e->failed, 0);
  tu_assert_contains(e->answer, "HTTP/1.1 101");
  tu_assert_contains(e->answer, "Upgrade: tcp");
  /* The body ended the request; the rest was the stream's. */
  tu_assert_contains(e->answer, "\r\n\r\nearly stdin");
}

static void a_client_gone_before_the_101_is_reported_once(void **state) {
  env *e = *state;
  e->client_vanish = true;
  start_client(e);
  fake_run_until(&e->loop, handled, e, MAX_MS);
  pthread_join(e->client, NULL);
  assert_true(e->client_gone);
  /* The socket is gone before MHD can send the answer.  MHD notices only
   * at its connection timeout (or the server's end), which is when the
   * owner hears: here, the end. */
  berth_http_respond_upgrade(e->held, "tcp", ready_cb, stop_cb, e);
  uv_run(&e->loop, UV_RUN_NOWAIT);
  if (e->ready_calls == 0) {
    berth_http_server_free(e->server);
    e->server = NULL;
  }
  if (e->ready_calls == 0) fake_run_until(&e->loop, readied, e, MAX_MS);
  assert_int_equal(e->ready_calls, 1);
  if (e->failed == 0) {
    /* MHD managed to write the 101 to the dead peer: the owner has it, and
     * ends it as any session. */
    uv_close((uv_handle_t *)&e->pipe, pipe_closed_cb);
    fake_run_until(&e->loop, session_over, e, MAX_MS);
  }
}

static void freeing_the_server_stops_a_live_session(void **state) {
  env *e = *state;
  e->client_extra = "x";
  start_client(e);
  fake_run_until(&e->loop, handled, e, MAX_MS);
  berth_http_respond_upgrade(e->held, "tcp", ready_cb, stop_cb, e);
  fake_run_until(&e->loop, readied, e, MAX_MS);
  /* The client is reading; the session is live while the server goes. */
  if (!e->pipe_closed) {
    berth_http_server_free(e->server);
    e->server = NULL;
    assert_int_equal(e->stopped, 1);
  }
  pthread_join(e->client, NULL);
}

static void a_request_without_upgrade_headers_says_so(void **state) {
  env *e = *state;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", e->sock);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  const char *req = "POST /api/v1 HTTP/1.1\r\nHost: x\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n";
  assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
  fake_run_until(&e->loop, handled, e, MAX_MS);
  /* Upgrade without "Connection: Upgrade" is no upgrade request. */
  assert_false(e->have_upgrade);
  berth_http_respond_error(e->held, 400, "no");
  close(fd);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(upgrade_hands_over_the_connection_with_early_bytes),
      T(a_client_gone_before_the_101_is_reported_once),
      T(freeing_the_server_stops_a_live_session),
      T(a_request_without_upgrade_headers_says_so),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
