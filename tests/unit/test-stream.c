/* Unit tests for docker/stream: the multiplexed frame demuxer and the
 * newline splitter, fed in pieces of every size. */
#include "testutil.h"

#include "docker/stream.h"

/* ---- demuxer ---- */

typedef struct sink {
  char out[4096];
  size_t out_len;
  char err[4096];
  size_t err_len;
  char order[256]; /* stream of each callback's bytes, concatenated per switch */
  size_t order_len;
  int calls;
  int stop_after; /* return -1 on this call (1-based); 0 = never */
  int other_streams;
} sink;

static int demux_cb(int stream, const char *buf, size_t len, void *data) {
  sink *s = data;
  s->calls++;
  if (s->stop_after && s->calls == s->stop_after) return BERTH_ECANCELED;
  assert_true(len > 0); /* no empty payload callbacks */
  if (stream == BERTH_STREAM_STDOUT) {
    assert_true(s->out_len + len <= sizeof(s->out));
    memcpy(s->out + s->out_len, buf, len);
    s->out_len += len;
  } else if (stream == BERTH_STREAM_STDERR) {
    assert_true(s->err_len + len <= sizeof(s->err));
    memcpy(s->err + s->err_len, buf, len);
    s->err_len += len;
  } else {
    s->other_streams++;
  }
  char c = (char)('0' + stream);
  if (s->order_len == 0 || s->order[s->order_len - 1] != c) {
    assert_true(s->order_len + 1 < sizeof(s->order));
    s->order[s->order_len++] = c;
    s->order[s->order_len] = '\0';
  }
  return 0;
}

/* Appends one frame to buf. */
static size_t frame(char *buf, size_t at, int stream, const char *payload, size_t len) {
  buf[at + 0] = (char)stream;
  buf[at + 1] = buf[at + 2] = buf[at + 3] = 0;
  buf[at + 4] = (char)(len >> 24 & 0xff);
  buf[at + 5] = (char)(len >> 16 & 0xff);
  buf[at + 6] = (char)(len >> 8 & 0xff);
  buf[at + 7] = (char)(len & 0xff);
  memcpy(buf + at + 8, payload, len);
  return at + 8 + len;
}

static void assert_sink(const sink *s, const char *out, const char *err) {
  assert_int_equal(s->out_len, strlen(out));
  assert_memory_equal(s->out, out, s->out_len);
  assert_int_equal(s->err_len, strlen(err));
  assert_memory_equal(s->err, err, s->err_len);
}

static void demux_single_frame(void **state) {
  (void)state;
  char buf[64];
  size_t n = frame(buf, 0, BERTH_STREAM_STDOUT, "hello\n", 6);
  sink s = {0};
  berth_demux d;
  berth_error err = {0};
  berth_demux_init(&d, demux_cb, &s);
  assert_true(berth_demux_at_boundary(&d));
  assert_int_equal(berth_demux_feed(&d, buf, n, &err), 0);
  assert_sink(&s, "hello\n", "");
  assert_int_equal(s.calls, 1);
  assert_true(berth_demux_at_boundary(&d));
}

static size_t three_frames(char *buf) {
  size_t n = frame(buf, 0, BERTH_STREAM_STDOUT, "out one\n", 8);
  n = frame(buf, n, BERTH_STREAM_STDERR, "err!", 4);
  n = frame(buf, n, BERTH_STREAM_STDOUT, "out two", 7);
  return n;
}

static void demux_stdout_stderr_interleaved(void **state) {
  (void)state;
  char buf[128];
  size_t n = three_frames(buf);
  sink s = {0};
  berth_demux d;
  berth_error err = {0};
  berth_demux_init(&d, demux_cb, &s);
  assert_int_equal(berth_demux_feed(&d, buf, n, &err), 0);
  assert_sink(&s, "out one\nout two", "err!");
  assert_string_equal(s.order, "121");
  assert_true(berth_demux_at_boundary(&d));
}

static void demux_split_at_every_byte_boundary(void **state) {
  (void)state;
  char buf[128];
  size_t n = three_frames(buf);
  for (size_t cut = 0; cut <= n; cut++) {
    sink s = {0};
    berth_demux d;
    berth_error err = {0};
    berth_demux_init(&d, demux_cb, &s);
    assert_int_equal(berth_demux_feed(&d, buf, cut, &err), 0);
    /* Frame boundaries are at 0, 16, 28 and 43. */
    int boundary = cut == 0 || cut == 16 || cut == 28 || cut == 43;
    if (berth_demux_at_boundary(&d) != boundary) fail_msg("at_boundary wrong after %zu bytes", cut);
    assert_int_equal(berth_demux_feed(&d, buf + cut, n - cut, &err), 0);
    assert_sink(&s, "out one\nout two", "err!");
    assert_string_equal(s.order, "121");
    assert_true(berth_demux_at_boundary(&d));
  }
}

static void demux_split_at_every_pair_of_boundaries(void **state) {
  (void)state;
  char buf[128];
  size_t n = three_frames(buf);
  for (size_t a = 0; a <= n; a++) {
    for (size_t b = a; b <= n; b++) {
      sink s = {0};
      berth_demux d;
      berth_error err = {0};
      berth_demux_init(&d, demux_cb, &s);
      assert_int_equal(berth_demux_feed(&d, buf, a, &err), 0);
      assert_int_equal(berth_demux_feed(&d, buf + a, b - a, &err), 0);
      assert_int_equal(berth_demux_feed(&d, buf + b, n - b, &err), 0);
      assert_sink(&s, "out one\nout two", "err!");
      assert_true(berth_demux_at_boundary(&d));
    }
  }
}

static void demux_one_byte_at_a_time(void **state) {
  (void)state;
  char buf[128];
  size_t n = three_frames(buf);
  sink s = {0};
  berth_demux d;
  berth_error err = {0};
  berth_demux_init(&d, demux_cb, &s);
  for (size_t i = 0; i < n; i++) assert_int_equal(berth_demux_feed(&d, buf + i, 1, &err), 0);
  assert_sink(&s, "out one\nout two", "err!");
  assert_int_equal(s.calls, 8 + 4 + 7); /* one callback per payload byte */
  assert_true(berth_demux_at_boundary(&d));
}

static void demux_zero_length_frames(void **state) {
  (void)state;
  char buf[128];
  size_t n = frame(buf, 0, BERTH_STREAM_STDOUT, "", 0);
  n = frame(buf, n, BERTH_STREAM_STDERR, "", 0);
  n = frame(buf, n, BERTH_STREAM_STDOUT, "x", 1);
  n = frame(buf, n, BERTH_STREAM_STDOUT, "", 0);
  for (size_t cut = 0; cut <= n; cut++) {
    sink s = {0};
    berth_demux d;
    berth_error err = {0};
    berth_demux_init(&d, demux_cb, &s);
    assert_int_equal(berth_demux_feed(&d, buf, cut, &err), 0);
    assert_int_equal(berth_demux_feed(&d, buf + cut, n - cut, &err), 0);
    assert_sink(&s, "x", "");
    assert_int_equal(s.calls, 1);
    assert_true(berth_demux_at_boundary(&d));
  }
  /* A lone empty frame leaves the demuxer at a boundary. */
  sink s = {0};
  berth_demux d;
  berth_error err = {0};
  berth_demux_init(&d, demux_cb, &s);
  assert_int_equal(berth_demux_feed(&d, buf, 8, &err), 0);
  assert_true(berth_demux_at_boundary(&d));
  assert_int_equal(s.calls, 0);
}

static void demux_empty_feed_is_a_no_op(void **state) {
  (void)state;
  sink s = {0};
  berth_demux d;
  berth_error err = {0};
  berth_demux_init(&d, demux_cb, &s);
  assert_int_equal(berth_demux_feed(&d, "", 0, &err), 0);
  assert_true(berth_demux_at_boundary(&d));
  assert_int_equal(s.calls, 0);
}

static void demux_large_frame_size_decoded_big_endian(void **state) {
  (void)state;
  /* 0x00010203 = 66051 bytes announced; feed 300 of them. */
  char hdr[8] = {1, 0, 0, 0, 0x00, 0x01, 0x02, 0x03};
  char body[300];
  memset(body, 'z', sizeof(body));
  sink s = {0};
  berth_demux d;
  berth_error err = {0};
  berth_demux_init(&d, demux_cb, &s);
  assert_int_equal(berth_demux_feed(&d, hdr, 8, &err), 0);
  assert_int_equal(d.remaining, 66051);
  assert_int_equal(berth_demux_feed(&d, body, sizeof(body), &err), 0);
  assert_int_equal(d.remaining, 66051 - 300);
  assert_false(berth_demux_at_boundary(&d));
  assert_int_equal(s.out_len, 300);
}

static void demux_malformed_header_rejected(void **state) {
  (void)state;
  static const char bad_headers[][8] = {
      {4, 0, 0, 0, 0, 0, 0, 1},         /* unknown stream */
      {'{', '"', 'a', '"', 0, 0, 0, 1}, /* plain JSON, not a frame */
      {1, 1, 0, 0, 0, 0, 0, 1},         /* padding not zero */
      {2, 0, 0, 7, 0, 0, 0, 1},         {(char)0xff, 0, 0, 0, 0, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
    sink s = {0};
    berth_demux d;
    berth_error err = {0};
    berth_demux_init(&d, demux_cb, &s);
    int rc = berth_demux_feed(&d, bad_headers[i], 8, &err);
    if (rc >= 0) fail_msg("bad header %zu accepted", i);
    assert_int_equal(rc, BERTH_EDOCKER);
    assert_int_equal(err.code, BERTH_EDOCKER);
    tu_assert_contains(err.msg, "malformed");
    assert_int_equal(s.calls, 0);
  }
}

static void demux_malformed_header_after_good_frame(void **state) {
  (void)state;
  char buf[64];
  size_t n = frame(buf, 0, BERTH_STREAM_STDOUT, "ok", 2);
  memcpy(buf + n, "\x09\0\0\0\0\0\0\x01x", 9);
  n += 9;
  sink s = {0};
  berth_demux d;
  berth_error err = {0};
  berth_demux_init(&d, demux_cb, &s);
  assert_int_equal(berth_demux_feed(&d, buf, n, &err), BERTH_EDOCKER);
  assert_sink(&s, "ok", "");
}

static void demux_stdin_and_syserr_streams_passed_through(void **state) {
  (void)state;
  char buf[64];
  size_t n = frame(buf, 0, BERTH_STREAM_STDIN, "i", 1);
  n = frame(buf, n, BERTH_STREAM_SYSERR, "s", 1);
  sink s = {0};
  berth_demux d;
  berth_error err = {0};
  berth_demux_init(&d, demux_cb, &s);
  assert_int_equal(berth_demux_feed(&d, buf, n, &err), 0);
  assert_int_equal(s.other_streams, 2);
  assert_string_equal(s.order, "03");
}

static void demux_callback_stop_is_returned(void **state) {
  (void)state;
  char buf[128];
  size_t n = three_frames(buf);
  sink s = {.stop_after = 2};
  berth_demux d;
  berth_error err = {0};
  berth_demux_init(&d, demux_cb, &s);
  int rc = berth_demux_feed(&d, buf, n, &err);
  assert_int_equal(rc, BERTH_ECANCELED);
  assert_int_equal(err.code, BERTH_ECANCELED);
  assert_int_equal(s.calls, 2);
}

/* ---- line splitter ---- */

typedef struct lines_sink {
  char lines[32][256];
  int n;
  int stop_on; /* return -1 on this line (1-based); 0 = never */
} lines_sink;

static int lines_cb(const char *line, size_t len, void *data) {
  lines_sink *s = data;
  assert_true(s->n < 32);
  assert_true(len < 256);
  assert_true(len > 0);
  memcpy(s->lines[s->n], line, len);
  s->lines[s->n][len] = '\0';
  s->n++;
  if (s->stop_on && s->n == s->stop_on) return BERTH_ECANCELED;
  return 0;
}

static void lines_whole_lines_in_one_feed(void **state) {
  (void)state;
  lines_sink s = {0};
  berth_lines l;
  berth_error err = {0};
  berth_lines_init(&l, 1024, lines_cb, &s);
  const char *in = "{\"status\":\"a\"}\n{\"status\":\"b\"}\n";
  assert_int_equal(berth_lines_feed(&l, in, strlen(in), &err), 0);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.lines[0], "{\"status\":\"a\"}");
  assert_string_equal(s.lines[1], "{\"status\":\"b\"}");
  assert_int_equal(berth_lines_finish(&l, &err), 0);
  assert_int_equal(s.n, 2);
  berth_lines_free(&l);
}

static void lines_split_across_feeds_at_every_byte(void **state) {
  (void)state;
  const char *in = "first line\r\nsecond\n\nthird line here\r\nlast";
  size_t n = strlen(in);
  for (size_t a = 0; a <= n; a++) {
    for (size_t b = a; b <= n; b++) {
      lines_sink s = {0};
      berth_lines l;
      berth_error err = {0};
      berth_lines_init(&l, 64, lines_cb, &s);
      assert_int_equal(berth_lines_feed(&l, in, a, &err), 0);
      assert_int_equal(berth_lines_feed(&l, in + a, b - a, &err), 0);
      assert_int_equal(berth_lines_feed(&l, in + b, n - b, &err), 0);
      assert_int_equal(s.n, 3);
      assert_int_equal(berth_lines_finish(&l, &err), 0);
      assert_int_equal(s.n, 4);
      assert_string_equal(s.lines[0], "first line");
      assert_string_equal(s.lines[1], "second");
      assert_string_equal(s.lines[2], "third line here");
      assert_string_equal(s.lines[3], "last");
      berth_lines_free(&l);
    }
  }
}

static void lines_crlf_stripped(void **state) {
  (void)state;
  lines_sink s = {0};
  berth_lines l;
  berth_error err = {0};
  berth_lines_init(&l, 64, lines_cb, &s);
  assert_int_equal(berth_lines_feed(&l, "a\r", 2, &err), 0);
  assert_int_equal(berth_lines_feed(&l, "\nb\r\n", 4, &err), 0);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.lines[0], "a");
  assert_string_equal(s.lines[1], "b");
  berth_lines_free(&l);
}

static void lines_empty_lines_skipped(void **state) {
  (void)state;
  lines_sink s = {0};
  berth_lines l;
  berth_error err = {0};
  berth_lines_init(&l, 64, lines_cb, &s);
  assert_int_equal(berth_lines_feed(&l, "\n\r\n\nx\n\n", 7, &err), 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.lines[0], "x");
  assert_int_equal(berth_lines_finish(&l, &err), 0);
  assert_int_equal(s.n, 1);
  berth_lines_free(&l);
}

static void lines_finish_delivers_last_line_without_newline(void **state) {
  (void)state;
  lines_sink s = {0};
  berth_lines l;
  berth_error err = {0};
  berth_lines_init(&l, 64, lines_cb, &s);
  assert_int_equal(berth_lines_feed(&l, "tail", 4, &err), 0);
  assert_int_equal(s.n, 0);
  assert_int_equal(berth_lines_finish(&l, &err), 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.lines[0], "tail");
  /* Finishing again delivers nothing more. */
  assert_int_equal(berth_lines_finish(&l, &err), 0);
  assert_int_equal(s.n, 1);
  berth_lines_free(&l);
}

static void lines_finish_on_empty_input_delivers_nothing(void **state) {
  (void)state;
  lines_sink s = {0};
  berth_lines l;
  berth_error err = {0};
  berth_lines_init(&l, 64, lines_cb, &s);
  assert_int_equal(berth_lines_finish(&l, &err), 0);
  assert_int_equal(s.n, 0);
  berth_lines_free(&l);
}

static void lines_at_max_length_accepted(void **state) {
  (void)state;
  lines_sink s = {0};
  berth_lines l;
  berth_error err = {0};
  berth_lines_init(&l, 8, lines_cb, &s);
  assert_int_equal(berth_lines_feed(&l, "1234", 4, &err), 0);
  assert_int_equal(berth_lines_feed(&l, "5678\n", 5, &err), 0);
  assert_int_equal(berth_lines_feed(&l, "abcdefgh\n", 9, &err), 0);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.lines[0], "12345678");
  assert_string_equal(s.lines[1], "abcdefgh");
  berth_lines_free(&l);
}

static void lines_over_max_length_rejected(void **state) {
  (void)state;
  /* In one feed, with a newline. */
  {
    lines_sink s = {0};
    berth_lines l;
    berth_error err = {0};
    berth_lines_init(&l, 8, lines_cb, &s);
    assert_int_equal(berth_lines_feed(&l, "123456789\n", 10, &err), BERTH_EDOCKER);
    assert_int_equal(err.code, BERTH_EDOCKER);
    tu_assert_contains(err.msg, "8 bytes");
    assert_int_equal(s.n, 0);
    berth_lines_free(&l);
  }
  /* Across feeds, never seeing a newline: the buffer must not grow. */
  {
    lines_sink s = {0};
    berth_lines l;
    berth_error err = {0};
    berth_lines_init(&l, 8, lines_cb, &s);
    assert_int_equal(berth_lines_feed(&l, "12345", 5, &err), 0);
    assert_int_equal(berth_lines_feed(&l, "6789", 4, &err), BERTH_EDOCKER);
    assert_true(l.len <= 8);
    assert_int_equal(s.n, 0);
    berth_lines_free(&l);
  }
}

static void lines_callback_stop_is_returned(void **state) {
  (void)state;
  lines_sink s = {.stop_on = 1};
  berth_lines l;
  berth_error err = {0};
  berth_lines_init(&l, 64, lines_cb, &s);
  assert_int_equal(berth_lines_feed(&l, "a\nb\n", 4, &err), BERTH_ECANCELED);
  assert_int_equal(err.code, BERTH_ECANCELED);
  assert_int_equal(s.n, 1);
  berth_lines_free(&l);
}

static void lines_free_is_idempotent(void **state) {
  (void)state;
  lines_sink s = {0};
  berth_lines l;
  berth_error err = {0};
  berth_lines_init(&l, 64, lines_cb, &s);
  assert_int_equal(berth_lines_feed(&l, "partial", 7, &err), 0);
  berth_lines_free(&l);
  assert_null(l.buf);
  berth_lines_free(&l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(demux_single_frame),
      cmocka_unit_test(demux_stdout_stderr_interleaved),
      cmocka_unit_test(demux_split_at_every_byte_boundary),
      cmocka_unit_test(demux_split_at_every_pair_of_boundaries),
      cmocka_unit_test(demux_one_byte_at_a_time),
      cmocka_unit_test(demux_zero_length_frames),
      cmocka_unit_test(demux_empty_feed_is_a_no_op),
      cmocka_unit_test(demux_large_frame_size_decoded_big_endian),
      cmocka_unit_test(demux_malformed_header_rejected),
      cmocka_unit_test(demux_malformed_header_after_good_frame),
      cmocka_unit_test(demux_stdin_and_syserr_streams_passed_through),
      cmocka_unit_test(demux_callback_stop_is_returned),
      cmocka_unit_test(lines_whole_lines_in_one_feed),
      cmocka_unit_test(lines_split_across_feeds_at_every_byte),
      cmocka_unit_test(lines_crlf_stripped),
      cmocka_unit_test(lines_empty_lines_skipped),
      cmocka_unit_test(lines_finish_delivers_last_line_without_newline),
      cmocka_unit_test(lines_finish_on_empty_input_delivers_nothing),
      cmocka_unit_test(lines_at_max_length_accepted),
      cmocka_unit_test(lines_over_max_length_rejected),
      cmocka_unit_test(lines_callback_stop_is_returned),
      cmocka_unit_test(lines_free_is_idempotent),
  };
  return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
