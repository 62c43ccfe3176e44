/* Unit tests for util/recordio (SUBSCRIBE's framing) and api/outq (each
 * subscriber's bounded queue). */
#include "testutil.h"

#include "api/outq.h"
#include "util/recordio.h"

typedef struct got {
  char recs[16][128];
  size_t lens[16];
  int n;
} got;

static int collect_cb(const char *data, size_t len, void *arg) {
  got *g = arg;
  assert_true(g->n < 16);
  assert_true(len < sizeof(g->recs[0]));
  assert_int_equal(data[len], '\0'); /* NUL-terminated for json_loads */
  memcpy(g->recs[g->n], data, len + 1);
  g->lens[g->n++] = len;
  return 0;
}

static void frame_is_length_newline_bytes(void **state) {
  (void)state;
  size_t len;
  char *f = berth_recordio_frame("{\"type\":\"HEARTBEAT\"}", 20, &len);
  assert_int_equal(len, 23);
  assert_string_equal(f, "20\n{\"type\":\"HEARTBEAT\"}");
  free(f);
  f = berth_recordio_frame("", 0, &len);
  assert_int_equal(len, 2);
  assert_string_equal(f, "0\n");
  free(f);
}

/* Bytes arrive in pieces of any size, cut anywhere: header, body, both. */
static void reader_reassembles_records_split_anywhere(void **state) {
  (void)state;
  const char *stream = "5\nhello0\n12\n{\"a\":\"b c\"}\n3\nxyz";
  size_t total = strlen(stream);
  for (size_t piece = 1; piece <= total; piece++) {
    berth_recordio_reader r;
    berth_recordio_reader_init(&r, 1024);
    got g = {0};
    berth_error err = {0};
    for (size_t off = 0; off < total; off += piece) {
      size_t n = total - off < piece ? total - off : piece;
      assert_int_equal(berth_recordio_feed(&r, stream + off, n, collect_cb, &g, &err), 0);
    }
    assert_int_equal(g.n, 4);
    assert_string_equal(g.recs[0], "hello");
    assert_int_equal(g.lens[1], 0);
    assert_string_equal(g.recs[2], "{\"a\":\"b c\"}\n");
    assert_string_equal(g.recs[3], "xyz");
    assert_true(berth_recordio_idle(&r));
    berth_recordio_reader_clear(&r);
  }
}

static void reader_partial_record_is_not_idle(void **state) {
  (void)state;
  berth_recordio_reader r;
  berth_recordio_reader_init(&r, 1024);
  got g = {0};
  berth_error err = {0};
  assert_int_equal(berth_recordio_feed(&r, "10\nabc", 6, collect_cb, &g, &err), 0);
  assert_int_equal(g.n, 0);
  assert_false(berth_recordio_idle(&r));
  berth_recordio_reader_clear(&r); /* frees the partial record */
}

static void reader_refuses_bad_headers(void **state) {
  (void)state;
  const char *bad[] = {"x\n", "\n", "-1\n", "1 \nx", "123456789012345678901\n"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    berth_recordio_reader r;
    berth_recordio_reader_init(&r, 1024);
    got g = {0};
    berth_error err = {0};
    assert_int_equal(berth_recordio_feed(&r, bad[i], strlen(bad[i]), collect_cb, &g, &err), BERTH_EIO);
    assert_non_null(strstr(err.msg, "recordio"));
    assert_int_equal(g.n, 0);
    berth_recordio_reader_clear(&r);
  }
}

/* A length over the bound is refused before anything is allocated. */
static void reader_refuses_records_over_its_bound(void **state) {
  (void)state;
  berth_recordio_reader r;
  berth_recordio_reader_init(&r, 100);
  got g = {0};
  berth_error err = {0};
  assert_int_equal(berth_recordio_feed(&r, "100\n", 4, collect_cb, &g, &err), 0);
  berth_recordio_reader_clear(&r);
  berth_recordio_reader_init(&r, 100);
  assert_int_equal(berth_recordio_feed(&r, "101\n", 4, collect_cb, &g, &err), BERTH_EIO);
  assert_non_null(strstr(err.msg, "101"));
  assert_int_equal(berth_recordio_feed(&r, "18446744073709551616\n", 21, collect_cb, &g, &err), BERTH_EIO);
  berth_recordio_reader_clear(&r);
}

static int stop_cb(const char *data, size_t len, void *arg) {
  (*(int *)arg)++;
  return BERTH_ECANCELED;
}

static void reader_stops_when_the_callback_says_so(void **state) {
  (void)state;
  berth_recordio_reader r;
  berth_recordio_reader_init(&r, 100);
  int calls = 0;
  berth_error err = {0};
  assert_int_equal(berth_recordio_feed(&r, "1\na1\nb", 6, stop_cb, &calls, &err), BERTH_ECANCELED);
  assert_int_equal(calls, 1);
  berth_recordio_reader_clear(&r);
}

/* Frame then read back: what berthd sends is what berth events reads. */
static void frame_then_read_round_trips(void **state) {
  (void)state;
  const char *docs[] = {"{}", "{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"containers\":[]}}", ""};
  berth_recordio_reader r;
  berth_recordio_reader_init(&r, 1024);
  got g = {0};
  berth_error err = {0};
  for (size_t i = 0; i < 3; i++) {
    size_t len;
    char *f = berth_recordio_frame(docs[i], strlen(docs[i]), &len);
    assert_int_equal(berth_recordio_feed(&r, f, len, collect_cb, &g, &err), 0);
    free(f);
  }
  assert_int_equal(g.n, 3);
  for (int i = 0; i < 3; i++) assert_string_equal(g.recs[i], docs[i]);
  berth_recordio_reader_clear(&r);
}

static void outq_keeps_order_and_takes_in_pieces(void **state) {
  (void)state;
  berth_outq q;
  berth_outq_init(&q, 100);
  assert_true(berth_outq_push(&q, "abc", 3, false));
  assert_true(berth_outq_push(&q, "defgh", 5, false));
  assert_int_equal(berth_outq_counted(&q), 8);
  char buf[16] = {0};
  assert_int_equal(berth_outq_take(&q, buf, 2), 2);
  assert_int_equal(berth_outq_take(&q, buf + 2, 4), 4);
  assert_int_equal(berth_outq_take(&q, buf + 6, 10), 2);
  assert_string_equal(buf, "abcdefgh");
  assert_int_equal(berth_outq_take(&q, buf, 10), 0);
  assert_int_equal(berth_outq_counted(&q), 0);
  berth_outq_clear(&q);
}

/* A push that would take the queue past its limit is refused whole; room
 * made by the reader makes it fit again. */
static void outq_refuses_a_push_past_its_limit(void **state) {
  (void)state;
  berth_outq q;
  berth_outq_init(&q, 10);
  assert_true(berth_outq_push(&q, "123456", 6, false));
  assert_false(berth_outq_push(&q, "12345", 5, false));
  assert_int_equal(berth_outq_counted(&q), 6);
  assert_true(berth_outq_push(&q, "1234", 4, false)); /* exactly full */
  assert_false(berth_outq_push(&q, "1", 1, false));
  char buf[16];
  assert_int_equal(berth_outq_take(&q, buf, 5), 5);
  assert_true(berth_outq_push(&q, "12345", 5, false));
  assert_false(berth_outq_push(&q, "12345678901", 11, false)); /* larger than the limit itself */
  berth_outq_clear(&q);
  assert_int_equal(berth_outq_counted(&q), 0);
}

/* The first record (SUBSCRIBED) may be longer than the bound; it does not
 * count, and what the reader takes comes out of it first. */
static void outq_exempt_bytes_do_not_count(void **state) {
  (void)state;
  berth_outq q;
  berth_outq_init(&q, 4);
  char big[64];
  memset(big, 'S', sizeof(big));
  assert_true(berth_outq_push(&q, big, sizeof(big), true));
  assert_int_equal(berth_outq_counted(&q), 0);
  assert_true(berth_outq_push(&q, "abcd", 4, false));
  assert_false(berth_outq_push(&q, "e", 1, false));
  char buf[80];
  assert_int_equal(berth_outq_take(&q, buf, 60), 60); /* still in the snapshot */
  assert_int_equal(berth_outq_counted(&q), 4);
  assert_false(berth_outq_push(&q, "e", 1, false));
  assert_int_equal(berth_outq_take(&q, buf, 6), 6); /* 4 of the snapshot, 2 events */
  assert_int_equal(berth_outq_counted(&q), 2);
  assert_true(berth_outq_push(&q, "ef", 2, false));
  assert_int_equal(berth_outq_take(&q, buf, 80), 4);
  assert_memory_equal(buf, "cdef", 4);
  berth_outq_clear(&q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(frame_is_length_newline_bytes),
      cmocka_unit_test(reader_reassembles_records_split_anywhere),
      cmocka_unit_test(reader_partial_record_is_not_idle),
      cmocka_unit_test(reader_refuses_bad_headers),
      cmocka_unit_test(reader_refuses_records_over_its_bound),
      cmocka_unit_test(reader_stops_when_the_callback_says_so),
      cmocka_unit_test(frame_then_read_round_trips),
      cmocka_unit_test(outq_keeps_order_and_takes_in_pieces),
      cmocka_unit_test(outq_refuses_a_push_past_its_limit),
      cmocka_unit_test(outq_exempt_bytes_do_not_count),
  };
  return cmocka_run_group_tests_name("recordio", tests, NULL, NULL);
}
