/* Unit tests for the wire of berth's upgraded sessions: util/frame (the
 * session framing, encoder and decoder) and util/httphead (the response
 * head read before a hijacked stream), fed hostile bytes and pieces of
 * every size. */
#include "testutil.h"

#include "util/frame.h"
#include "util/httphead.h"

/* ---- frames ---- */

typedef struct sink {
  char data[5][4096];
  size_t len[5];
  int lasts[5];
  int stop_on_stream; /* 0: never */
} sink;

static int sink_cb(int stream, const char *buf, size_t len, int last, void *data) {
  sink *s = data;
  assert_true(stream >= 1 && stream <= 4);
  if (s->stop_on_stream == stream) return BERTH_ECANCELED;
  assert_true(s->len[stream] + len <= sizeof(s->data[stream]));
  memcpy(s->data[stream] + s->len[stream], buf, len);
  s->len[stream] += len;
  if (last) s->lasts[stream]++;
  return 0;
}

static size_t put(char *buf, size_t at, int stream, const char *payload) {
  size_t len = strlen(payload);
  berth_frame_header((unsigned char *)buf + at, stream, (uint32_t)len);
  memcpy(buf + at + BERTH_FRAME_HEADER, payload, len);
  return at + BERTH_FRAME_HEADER + len;
}

static void encoder_writes_dockers_header(void **state) {
  unsigned char h[8];
  berth_frame_header(h, BERTH_FRAME_STDERR, 0x01020304u);
  const unsigned char want[8] = {2, 0, 0, 0, 1, 2, 3, 4};
  assert_memory_equal(h, want, 8);
}

static void decoder_splits_streams_fed_one_byte_at_a_time(void **state) {
  char wire[256];
  size_t n = put(wire, 0, BERTH_FRAME_STDOUT, "out\n");
  n = put(wire, n, BERTH_FRAME_STDERR, "err\n");
  n = put(wire, n, BERTH_FRAME_STDOUT, "more");
  n = put(wire, n, BERTH_FRAME_EXIT, "{\"exit_code\":3}");
  for (size_t piece = 1; piece <= n; piece++) {
    sink s = {0};
    berth_unframe u;
    berth_unframe_init(&u, sink_cb, &s);
    berth_error err = {0};
    for (size_t at = 0; at < n; at += piece) {
      size_t take = n - at < piece ? n - at : piece;
      assert_int_equal(berth_unframe_feed(&u, wire + at, take, &err), 0);
    }
    assert_true(berth_unframe_at_boundary(&u));
    assert_int_equal(s.len[1], 8);
    assert_memory_equal(s.data[1], "out\nmore", 8);
    assert_int_equal(s.len[2], 4);
    assert_int_equal(s.len[4], 15);
    assert_memory_equal(s.data[4], "{\"exit_code\":3}", 15);
    assert_int_equal(s.lasts[1], 2);
    assert_int_equal(s.lasts[4], 1);
  }
}

static void decoder_reports_an_empty_frame_once(void **state) {
  char wire[64];
  size_t n = put(wire, 0, BERTH_FRAME_ERROR, "");
  sink s = {0};
  berth_unframe u;
  berth_unframe_init(&u, sink_cb, &s);
  berth_error err = {0};
  assert_int_equal(berth_unframe_feed(&u, wire, n, &err), 0);
  assert_int_equal(s.lasts[3], 1);
  assert_int_equal(s.len[3], 0);
}

static void decoder_refuses_unknown_streams_and_padding(void **state) {
  const unsigned char bad[][8] = {
      {0, 0, 0, 0, 0, 0, 0, 1}, /* stdin: never sent to a client */
      {5, 0, 0, 0, 0, 0, 0, 1}, {255, 0, 0, 0, 0, 0, 0, 1}, {1, 1, 0, 0, 0, 0, 0, 1}, /* padding must be zero */
      {1, 0, 0, 9, 0, 0, 0, 1},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    sink s = {0};
    berth_unframe u;
    berth_unframe_init(&u, sink_cb, &s);
    berth_error err = {0};
    assert_int_equal(berth_unframe_feed(&u, (const char *)bad[i], 8, &err), BERTH_EINVAL);
    assert_non_null(strstr(err.msg, "malformed"));
  }
}

static void decoder_stops_when_the_reader_says_so(void **state) {
  char wire[64];
  size_t n = put(wire, 0, BERTH_FRAME_STDOUT, "a");
  n = put(wire, n, BERTH_FRAME_EXIT, "x");
  sink s = {.stop_on_stream = BERTH_FRAME_EXIT};
  berth_unframe u;
  berth_unframe_init(&u, sink_cb, &s);
  berth_error err = {0};
  assert_int_equal(berth_unframe_feed(&u, wire, n, &err), BERTH_ECANCELED);
  assert_int_equal(s.len[1], 1);
}

static void decoder_knows_a_cut_frame(void **state) {
  char wire[64];
  size_t n = put(wire, 0, BERTH_FRAME_STDOUT, "abcdef");
  sink s = {0};
  berth_unframe u;
  berth_unframe_init(&u, sink_cb, &s);
  berth_error err = {0};
  assert_int_equal(berth_unframe_feed(&u, wire, n - 2, &err), 0);
  assert_false(berth_unframe_at_boundary(&u));
  assert_int_equal(berth_unframe_feed(&u, wire, 3, &err), 0); /* the rest: 2 payload bytes, then a partial header */
  assert_false(berth_unframe_at_boundary(&u));
}

static void decoder_survives_random_bytes(void **state) {
  srand(17);
  for (int round = 0; round < 2000; round++) {
    char wire[512];
    size_t n = (size_t)(rand() % (int)sizeof(wire));
    for (size_t i = 0; i < n; i++) wire[i] = (char)(rand() & 0xff);
    /* Often a plausible header, so payload paths run too. */
    if (n >= 8 && round % 2) {
      wire[0] = (char)(1 + rand() % 4);
      wire[1] = wire[2] = wire[3] = 0;
      wire[4] = wire[5] = 0;
    }
    sink *s = calloc(1, sizeof(*s));
    berth_unframe u;
    berth_unframe_init(&u, sink_cb, s);
    berth_error err = {0};
    int rc = berth_unframe_feed(&u, wire, n, &err);
    assert_true(rc == 0 || rc == BERTH_EINVAL);
    free(s);
  }
}

/* ---- response heads ---- */

static int feed_all(berth_http_head *h, const char *text, size_t piece, size_t *consumed, berth_error *err) {
  size_t n = strlen(text);
  *consumed = 0;
  for (size_t at = 0; at < n && !h->done; at += piece) {
    size_t take = n - at < piece ? n - at : piece, used = 0;
    int rc = berth_http_head_feed(h, text + at, take, &used, err);
    if (rc < 0) return rc;
    *consumed += used;
  }
  return 0;
}

static void head_of_a_101_leaves_the_stream_bytes(void **state) {
  const char *text =
      "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
      "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n\x01\x00\x00\x00";
  size_t head_len = strstr(text, "\r\n\r\n") + 4 - text;
  for (size_t piece = 1; piece < 80; piece++) {
    berth_http_head h;
    berth_http_head_init(&h);
    berth_error err = {0};
    size_t used = 0;
    assert_int_equal(feed_all(&h, text, piece, &used, &err), 0);
    assert_true(h.done);
    assert_int_equal(h.status, 101);
    assert_int_equal(used, head_len);
    char v[64];
    assert_true(berth_http_head_get(&h, "upgrade", v, sizeof(v)));
    assert_string_equal(v, "tcp");
    assert_true(berth_http_head_get(&h, "CONTENT-TYPE", v, sizeof(v)));
    assert_string_equal(v, "application/vnd.docker.raw-stream");
    assert_false(berth_http_head_get(&h, "Content-Length", v, sizeof(v)));
    assert_int_equal(h.content_length, -1);
  }
}

static void head_of_an_error_gives_its_length(void **state) {
  berth_http_head h;
  berth_http_head_init(&h);
  berth_error err = {0};
  size_t used = 0;
  assert_int_equal(feed_all(&h, "HTTP/1.0 404 Not Found\r\nContent-Length:  42 \r\n\r\n{", 7, &used, &err), 0);
  assert_int_equal(h.status, 404);
  assert_int_equal(h.content_length, 42);
}

static void head_refuses_what_is_not_http(void **state) {
  const char *bad[] = {
      "SSH-2.0-OpenSSH\r\n\r\n",
      "HTTP/1.1 1x1 no\r\n\r\n",
      "HTTP/1.1 099 low\r\n\r\n",
      "HTTP/2 200 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
      "\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    berth_http_head h;
    berth_http_head_init(&h);
    berth_error err = {0};
    size_t used = 0;
    assert_int_equal(feed_all(&h, bad[i], 3, &used, &err), BERTH_EINVAL);
    assert_false(h.done);
  }
}

static void head_refuses_a_nul_byte(void **state) {
  const char text[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
  berth_http_head h;
  berth_http_head_init(&h);
  berth_error err = {0};
  size_t used = 0;
  assert_int_equal(berth_http_head_feed(&h, text, sizeof(text) - 1, &used, &err), BERTH_EINVAL);
}

static void head_is_bounded(void **state) {
  berth_http_head h;
  berth_http_head_init(&h);
  berth_error err = {0};
  char chunk[1024];
  memset(chunk, 'a', sizeof(chunk));
  memcpy(chunk, "HTTP/1.1 200 OK\r\nX: ", 20);
  size_t used = 0;
  int rc = 0;
  for (int i = 0; i < 16 && rc == 0; i++) rc = berth_http_head_feed(&h, chunk, sizeof(chunk), &used, &err);
  assert_int_equal(rc, BERTH_EINVAL);
  assert_non_null(strstr(err.msg, "longer than"));
}

static void head_survives_random_bytes(void **state) {
  srand(71);
  for (int round = 0; round < 2000; round++) {
    char text[300];
    size_t n = (size_t)(rand() % (int)sizeof(text));
    for (size_t i = 0; i < n; i++) text[i] = (char)(rand() & 0xff);
    if (round % 2 && n > 16) memcpy(text, "HTTP/1.1 101 X\r\n", 16);
    if (round % 3 == 0 && n > 4) memcpy(text + n - 4, "\r\n\r\n", 4);
    berth_http_head h;
    berth_http_head_init(&h);
    berth_error err = {0};
    size_t used = 0;
    int rc = berth_http_head_feed(&h, text, n, &used, &err);
    assert_true(rc == 0 || rc == BERTH_EINVAL);
    assert_true(used <= n);
    char v[16];
    berth_http_head_get(&h, "Content-Length", v, sizeof(v));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(encoder_writes_dockers_header),
      cmocka_unit_test(decoder_splits_streams_fed_one_byte_at_a_time),
      cmocka_unit_test(decoder_reports_an_empty_frame_once),
      cmocka_unit_test(decoder_refuses_unknown_streams_and_padding),
      cmocka_unit_test(decoder_stops_when_the_reader_says_so),
      cmocka_unit_test(decoder_knows_a_cut_frame),
      cmocka_unit_test(decoder_survives_random_bytes),
      cmocka_unit_test(head_of_a_101_leaves_the_stream_bytes),
      cmocka_unit_test(head_of_an_error_gives_its_length),
      cmocka_unit_test(head_refuses_what_is_not_http),
      cmocka_unit_test(head_refuses_a_nul_byte),
      cmocka_unit_test(head_is_bounded),
      cmocka_unit_test(head_survives_random_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
