/* Loop-level tests of SUBSCRIBE (api/subscribe.c, api/stream.c): berthd's
 * server, API and containerizer on one loop against the fake dockerd, and
 * subscribers that are plain sockets read by the test, byte by byte (HTTP
 * head, chunks, RecordIO).  Events arrive in order, a reader that never
 * reads is dropped while launches go on, a client that hangs up is
 * forgotten, and stopping ends every stream with the loop closing clean. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "czenv.h"

#include "api/api.h"
#include "util/recordio.h"

typedef struct env {
  czenv *cz;
  berth_api api;
  berth_http_server *server;
  char sock[128];
} env;

/* A subscriber: a socket and what it has read so far. */
typedef struct client {
  int fd;
  char *raw; /* received, not yet de-chunked */
  size_t raw_len;
  bool head_done, eof, last_chunk;
  int status;
  char content_type[64];
  berth_recordio_reader rr;
  json_t *records;
} client;

static void happy_docker(czenv *e) {
  fake_docker *f = e->fake;
  fake_rule_reply(fake_on(f, "GET", "/images/*/json"), 200, "{\"Id\":\"sha256:img\"}");
  fake_rule_reply(fake_on(f, "POST", "/containers/create"), 201, "{\"Id\":\"cid1\",\"Warnings\":[]}");
  fake_rule *start = fake_rule_reply(fake_on(f, "POST", "/containers/*/start"), 204, NULL);
  fake_rule *attach =
      fake_rule_stream(fake_on(f, "POST", "/containers/*/attach"), 200, "application/vnd.docker.raw-stream", FAKE_RAW);
  fake_rule_stream_after(attach, start);
  fake_rule_end(attach, FAKE_END_HOLD); /* quiet: no output, no end until the kill */
  fake_rule *kill = fake_rule_reply(fake_on(f, "POST", "/containers/*/kill"), 204, NULL);
  /* Each container ends when it is killed. */
  fake_rule_reply(fake_rule_after(fake_on(f, "POST", "/containers/*/wait"), kill), 200, "{\"StatusCode\":137}");
  fake_rule_reply(fake_on(f, "GET", "/containers/*/json"), 200,
                  "{\"Id\":\"cid1\",\"State\":{\"Pid\":4242,\"ExitCode\":137,\"OOMKilled\":false,"
                  "\"FinishedAt\":\"@NOW@\"},\"NetworkSettings\":{\"IPAddress\":\"\"}}");
  fake_rule_reply(fake_on(f, "DELETE", "/containers/*"), 204, NULL);
}

static env *env_new(size_t queue_size) {
  env *e = calloc(1, sizeof(*e));
  e->cz = czenv_new();
  czenv_start(e->cz);
  happy_docker(e->cz);
  berth_subscribe_config config = {.heartbeat_ms = 60000, .queue_size = queue_size};
  e->api = (berth_api){.cz = e->cz->cz, .work_dir = e->cz->work_dir, .ready = true};
  e->api.subscribers = berth_subscribers_new(&e->cz->loop, e->cz->cz, &config);
  e->server = berth_http_server_new(&e->cz->loop, berth_api_handle, &e->api);
  snprintf(e->sock, sizeof(e->sock), "%s/api.sock", e->cz->work_dir);
  char spec[160];
  snprintf(spec, sizeof(spec), "unix:%s", e->sock);
  berth_error err = {0};
  if (berth_http_server_listen(e->server, spec, NULL, NULL, &err) < 0) fail_msg("listen: %s", err.msg);
  return e;
}

/* As daemon.c stops: streams, then the server, then the containerizer. */
static void env_stop(env *e) {
  berth_cz_stopping(e->api.cz);
  berth_subscribers_free(e->api.subscribers);
  e->api.subscribers = NULL;
  berth_http_server_free(e->server);
  e->server = NULL;
}

static void env_free(env *e) {
  if (e->server) env_stop(e);
  czenv_free(e->cz);
  free(e);
}

static void client_open(client *c, const char *path) {
  memset(c, 0, sizeof(*c));
  c->records = json_array();
  berth_recordio_reader_init(&c->rr, 1 << 20);
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(c->fd >= 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
  assert_int_equal(connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  static const char req[] =
      "POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n"
      "{\"type\":\"SUBSCRIBE\"}";
  assert_int_equal(write(c->fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
}

static void client_close(client *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  free(c->raw);
  c->raw = NULL;
  berth_recordio_reader_clear(&c->rr);
  json_decref(c->records);
  c->records = NULL;
}

static int record_cb(const char *data, size_t len, void *arg) {
  client *c = arg;
  json_array_append_new(c->records, tu_json(data));
  return 0;
}

static void consume(client *c, size_t n) {
  memmove(c->raw, c->raw + n, c->raw_len - n);
  c->raw_len -= n;
}

/* Reads what is there (never blocks) and parses it as far as it goes. */
static void client_pump(client *c) {
  char buf[8192];
  for (;;) {
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    if (n <= 0) {
      c->eof = true;
      break;
    }
    c->raw = realloc(c->raw, c->raw_len + (size_t)n + 1);
    memcpy(c->raw + c->raw_len, buf, (size_t)n);
    c->raw_len += (size_t)n;
    c->raw[c->raw_len] = '\0';
  }
  if (!c->head_done) {
    char *end = c->raw ? strstr(c->raw, "\r\n\r\n") : NULL;
    if (!end) return;
    c->head_done = true;
    sscanf(c->raw, "HTTP/1.1 %d", &c->status);
    char *ct = strcasestr(c->raw, "Content-Type: ");
    if (ct && ct < end) sscanf(ct + 14, "%63[^\r]", c->content_type);
    consume(c, (size_t)(end + 4 - c->raw));
  }
  while (!c->last_chunk && c->raw_len) {
    c->raw[c->raw_len] = '\0';
    char *crlf = strstr(c->raw, "\r\n");
    if (!crlf) return;
    size_t size = strtoul(c->raw, NULL, 16);
    size_t head = (size_t)(crlf + 2 - c->raw);
    if (c->raw_len < head + size + 2) return;
    if (size == 0) c->last_chunk = true;
    berth_error err = {0};
    if (berth_recordio_feed(&c->rr, c->raw + head, size, record_cb, c, &err) < 0) fail_msg("%s", err.msg);
    consume(c, head + size + 2);
  }
}

/* "STAGE_CHANGED RUNNING", "TERMINATED TASK_KILLED", "REMOVED", for the
 * records about id, in order. */
static char *story(client *c, const char *id) {
  char *out = calloc(1, 4096);
  size_t i;
  json_t *r;
  json_array_foreach(c->records, i, r) {
    const char *type = json_string_value(json_object_get(r, "type"));
    char key[32];
    snprintf(key, sizeof(key), "%s", type);
    for (char *p = key; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    json_t *body = json_object_get(r, key);
    const char *cid = json_string_value(json_object_get(json_object_get(body, "container_id"), "value"));
    if (!cid || strcmp(cid, id) != 0) continue;
    const char *what = !strcmp(type, "STAGE_CHANGED") ? json_string_value(json_object_get(body, "stage"))
                       : !strcmp(type, "TERMINATED")
                           ? json_string_value(json_object_get(json_object_get(body, "termination"), "state"))
                           : NULL;
    snprintf(out + strlen(out), 4096 - strlen(out), "%s%s%s%s", *out ? "," : "", type, what ? " " : "",
             what ? what : "");
  }
  return out;
}

typedef struct until_ctx {
  client *c;
  const char *id, *want; /* story(c, id) ends with want */
} until_ctx;

static bool story_reached(void *data) {
  until_ctx *u = data;
  client_pump(u->c);
  char *s = story(u->c, u->id);
  size_t n = strlen(s), w = strlen(u->want);
  bool done = n >= w && !strcmp(s + n - w, u->want);
  free(s);
  return done;
}

static void run_until_story(env *e, client *c, const char *id, const char *want) {
  until_ctx u = {c, id, want};
  fake_run_until(&e->cz->loop, story_reached, &u, MAX_MS);
}

static bool subscribed(void *data) {
  client *c = data;
  client_pump(c);
  return json_array_size(c->records) >= 1;
}

static json_t *launch_json(const char *id) {
  char buf[512];
  snprintf(buf, sizeof(buf),
           "{\"container_id\":{\"value\":\"%s\"},\"container\":{\"type\":\"DOCKER\",\"docker\":{\"image\":"
           "\"busybox:local\"}}}",
           id);
  return tu_json(buf);
}

static void launch(env *e, const char *id, outcome *o) {
  json_t *l = launch_json(id);
  berth_error err = {0};
  if (berth_cz_launch(e->api.cz, l, cz_done_cb, o, &err) != 0) fail_msg("launch refused: %s", err.msg);
  json_decref(l);
}

static void lifecycle_arrives_in_order(void **state) {
  (void)state;
  env *e = env_new(256 * 1024);
  client c;
  client_open(&c, e->sock);
  fake_run_until(&e->cz->loop, subscribed, &c, MAX_MS);
  assert_int_equal(c.status, 200);
  assert_string_equal(c.content_type, "application/recordio");
  tu_assert_json_eq(json_array_get(c.records, 0), "{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"containers\":[]}}");
  outcome launched = {0}, removed = {0};
  launch(e, "web-1", &launched);
  czenv_run(e->cz, &launched);
  assert_int_equal(launched.rc, 0);
  berth_error err = {0};
  assert_int_equal(berth_cz_kill(e->api.cz, "web-1", 0, NULL, NULL, &err), 0);
  run_until_story(e, &c, "web-1", "TERMINATED TASK_KILLED");
  assert_int_equal(berth_cz_remove(e->api.cz, "web-1", cz_done_cb, &removed, &err), 0);
  run_until_story(e, &c, "web-1", "REMOVED");
  char *s = story(&c, "web-1");
  assert_string_equal(s,
                      "STAGE_CHANGED FETCHING,STAGE_CHANGED PULLING,STAGE_CHANGED MOUNTING,STAGE_CHANGED RUNNING,"
                      "STAGE_CHANGED DESTROYING,TERMINATED TASK_KILLED,REMOVED");
  free(s);
  assert_int_equal(berth_subscribers_count(e->api.subscribers), 1);
  client_close(&c);
  outcome_clear(&launched);
  outcome_clear(&removed);
  env_free(e);
}

typedef struct drop_ctx {
  env *e;
  outcome *launched;
  size_t n;
} drop_ctx;

static bool all_launched_and_dropped(void *data) {
  drop_ctx *d = data;
  for (size_t i = 0; i < d->n; i++)
    if (d->launched[i].calls == 0) return false;
  return berth_subscribers_dropped(d->e->api.subscribers) == 1;
}

/* The reader never reads past the head: its socket fills, then its queue,
 * and the next event drops it.  The launches never wait for it. */
static void reader_that_never_reads_is_dropped(void **state) {
  (void)state;
  env *e = env_new(512);
  client slow;
  client_open(&slow, e->sock);
  fake_run_until(&e->cz->loop, subscribed, &slow, MAX_MS);
  enum { N = 30 };
  outcome launched[N] = {{0}};
  char id[N][16];
  for (int i = 0; i < N; i++) {
    snprintf(id[i], sizeof(id[i]), "c-%d", i);
    launch(e, id[i], &launched[i]);
  }
  drop_ctx d = {e, launched, N};
  /* 30 launches take a while under valgrind: a larger guard. */
  fake_run_until(&e->cz->loop, all_launched_and_dropped, &d, 6 * MAX_MS);
  for (int i = 0; i < N; i++) assert_int_equal(launched[i].rc, 0);
  assert_int_equal(berth_subscribers_count(e->api.subscribers), 0);
  /* The dropped connection ends without the stream's last chunk. */
  for (int tries = 0; tries < 1000 && !slow.eof; tries++) {
    uv_run(&e->cz->loop, UV_RUN_NOWAIT);
    client_pump(&slow);
    if (!slow.eof) usleep(10000);
  }
  assert_true(slow.eof);
  assert_false(slow.last_chunk);
  /* A new subscriber is served, from a snapshot of all of them. */
  client again;
  client_open(&again, e->sock);
  fake_run_until(&e->cz->loop, subscribed, &again, MAX_MS);
  json_t *list = json_object_get(json_object_get(json_array_get(again.records, 0), "subscribed"), "containers");
  assert_int_equal(json_array_size(list), N);
  client_close(&again);
  client_close(&slow);
  for (int i = 0; i < N; i++) outcome_clear(&launched[i]);
  env_free(e);
}

static bool none_left(void *data) { return berth_subscribers_count(((env *)data)->api.subscribers) == 0; }

static void client_that_hangs_up_is_forgotten(void **state) {
  (void)state;
  env *e = env_new(256 * 1024);
  client c;
  client_open(&c, e->sock);
  fake_run_until(&e->cz->loop, subscribed, &c, MAX_MS);
  assert_int_equal(berth_subscribers_count(e->api.subscribers), 1);
  client_close(&c);
  /* Its connection is suspended, waiting for events: the server's
   * once-a-second hang-up check finds it. */
  fake_run_until(&e->cz->loop, none_left, e, MAX_MS);
  assert_int_equal(berth_subscribers_dropped(e->api.subscribers), 0);
  env_free(e);
}

/* berthd stops with one stream waiting for events and one with bytes
 * queued that its reader never took: both end, nothing is left open. */
static void stopping_ends_every_stream(void **state) {
  (void)state;
  env *e = env_new(256 * 1024);
  client idle, full;
  client_open(&idle, e->sock);
  client_open(&full, e->sock);
  fake_run_until(&e->cz->loop, subscribed, &idle, MAX_MS);
  fake_run_until(&e->cz->loop, subscribed, &full, MAX_MS);
  outcome launched[8] = {{0}};
  for (int i = 0; i < 8; i++) {
    char id[16];
    snprintf(id, sizeof(id), "s-%d", i);
    launch(e, id, &launched[i]);
  }
  for (int i = 0; i < 8; i++) czenv_run(e->cz, &launched[i]);
  client_pump(&idle);
  env_stop(e);
  struct pollfd p[2] = {{.fd = idle.fd, .events = POLLIN}, {.fd = full.fd, .events = POLLIN}};
  for (int tries = 0; tries < 500 && !(idle.eof && full.eof); tries++) {
    poll(p, 2, 20);
    client_pump(&idle);
    client_pump(&full);
  }
  assert_true(idle.eof);
  assert_true(full.eof);
  client_close(&idle);
  client_close(&full);
  for (int i = 0; i < 8; i++) outcome_clear(&launched[i]);
  env_free(e); /* asserts the loop closes with no handle left */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lifecycle_arrives_in_order),
      cmocka_unit_test(reader_that_never_reads_is_dropped),
      cmocka_unit_test(client_that_hangs_up_is_forgotten),
      cmocka_unit_test(stopping_ends_every_stream),
  };
  return cmocka_run_group_tests_name("subscribe-loop", tests, NULL, NULL);
}
