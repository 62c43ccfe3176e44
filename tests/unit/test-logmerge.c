/* Unit tests for containerizer/logmerge: lines out of index records and
 * in-memory stream bytes — merged in write order, a line split across
 * records taking its first record's time, an unfinished line holding back
 * what was written after it, a final line without a newline, a huge line,
 * bytes rotated away (the first line then marked cont), gaps, hostile
 * records, and the cursor and since positions. */
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#include "containerizer/logmerge.h"

#define MAX_LINES 4096

typedef struct world {
  const char *data[3]; /* whole output of stdout, stderr */
  size_t len[3];
  uint64_t gone[3]; /* bytes below this are not readable (rotated away) */
  berth_logline lines[MAX_LINES];
  size_t n;
  size_t stop_after; /* 0: never stop */
} world;

static long read_fn(void *data, int stream, uint64_t offset, char *buf, size_t len) {
  world *w = data;
  if (offset < w->gone[stream] || offset >= w->len[stream]) return 0;
  if (len > w->len[stream] - offset) len = w->len[stream] - offset;
  memcpy(buf, w->data[stream] + offset, len);
  return (long)len;
}

static int line_fn(void *data, const berth_logline *l) {
  world *w = data;
  assert_true(w->n < MAX_LINES);
  w->lines[w->n++] = *l;
  return w->stop_after && w->n >= w->stop_after;
}

static void set(world *w, int s, const char *text) {
  w->data[s] = text;
  w->len[s] = strlen(text);
}

static int run(world *w, const berth_logrec *recs, size_t n, bool final) {
  berth_logmerge_opts o = {3, final, {0, w->gone[1], w->gone[2]}};
  return berth_logmerge_scan(recs, n, 0, &o, read_fn, line_fn, w);
}

/* The text of line i. */
static char *text(world *w, size_t i) {
  static char buf[256];
  const berth_logline *l = &w->lines[i];
  size_t len = (size_t)(l->end - l->start);
  if (len >= sizeof(buf)) len = sizeof(buf) - 1;
  memcpy(buf, w->data[l->stream] + l->start, len);
  buf[len] = '\0';
  return buf;
}

static void test_empty_index_gives_nothing(void **state) {
  world w = {0};
  assert_int_equal(run(&w, NULL, 0, true), 0);
  assert_int_equal(w.n, 0);
}

static void test_streams_interleave_in_write_order(void **state) {
  world w = {0};
  set(&w, 1, "o1\no2\n");
  set(&w, 2, "e1\ne2\n");
  berth_logrec r[] = {{10, 0, 3, 1}, {20, 0, 3, 2}, {30, 3, 3, 1}, {40, 3, 3, 2}};
  assert_int_equal(run(&w, r, 4, true), 0);
  assert_int_equal(w.n, 4);
  assert_string_equal(text(&w, 0), "o1\n");
  assert_string_equal(text(&w, 1), "e1\n");
  assert_string_equal(text(&w, 2), "o2\n");
  assert_string_equal(text(&w, 3), "e2\n");
  assert_int_equal(w.lines[3].time_ns, 40);
  assert_true(w.lines[0].complete && !w.lines[0].cont);
}

static void test_split_line_takes_first_chunk_time_and_holds_later_lines(void **state) {
  world w = {0};
  set(&w, 1, "hello world\n");
  set(&w, 2, "err\n");
  /* "hello " at 10, the stderr line at 20, "world\n" at 30. */
  berth_logrec r[] = {{10, 0, 6, 1}, {20, 0, 4, 2}, {30, 6, 6, 1}};
  assert_int_equal(run(&w, r, 3, true), 0);
  assert_int_equal(w.n, 2);
  assert_string_equal(text(&w, 0), "hello world\n");
  assert_int_equal(w.lines[0].time_ns, 10);
  assert_string_equal(text(&w, 1), "err\n");
  assert_int_equal(w.lines[1].time_ns, 20);
}

static void test_unfinished_line_shown_only_when_final(void **state) {
  world w = {0};
  set(&w, 1, "a\nno newline");
  berth_logrec r[] = {{1, 0, 12, 1}};
  assert_int_equal(run(&w, r, 1, false), 0);
  assert_int_equal(w.n, 1);
  assert_string_equal(text(&w, 0), "a\n");
  w.n = 0;
  assert_int_equal(run(&w, r, 1, true), 0);
  assert_int_equal(w.n, 2);
  assert_string_equal(text(&w, 1), "no newline");
  assert_false(w.lines[1].complete);
}

static void test_unfinished_line_blocks_other_stream_until_final(void **state) {
  world w = {0};
  set(&w, 1, "partial");
  set(&w, 2, "e\n");
  berth_logrec r[] = {{1, 0, 7, 1}, {2, 0, 2, 2}};
  assert_int_equal(run(&w, r, 2, false), 0);
  assert_int_equal(w.n, 0);
  assert_int_equal(run(&w, r, 2, true), 0);
  assert_int_equal(w.n, 2);
  assert_string_equal(text(&w, 0), "partial");
  assert_string_equal(text(&w, 1), "e\n");
}

static void test_huge_line_in_many_records(void **state) {
  size_t big = 300000;
  char *data = malloc(big + 2);
  memset(data, 'x', big);
  data[big] = '\n';
  data[big + 1] = '\0';
  world w = {0};
  set(&w, 1, data);
  berth_logrec r[40];
  size_t n = 0, per = (big + 1) / 39 + 1;
  for (uint64_t off = 0; off < big + 1; off += per, n++)
    r[n] = (berth_logrec){(int64_t)(100 + n), off, (uint32_t)(off + per > big + 1 ? big + 1 - off : per), 1};
  assert_int_equal(run(&w, r, n, true), 0);
  assert_int_equal(w.n, 1);
  assert_int_equal(w.lines[0].end - w.lines[0].start, big + 1);
  assert_int_equal(w.lines[0].time_ns, 100);
  free(data);
}

static void test_line_longer_than_max_comes_in_pieces(void **state) {
  size_t big = 2 * BERTH_LOGMERGE_MAX_LINE + 100;
  char *data = malloc(big + 2);
  memset(data, 'y', big);
  data[big] = '\n';
  data[big + 1] = '\0';
  world w = {0};
  set(&w, 1, data);
  berth_logrec r[] = {{7, 0, (uint32_t)(big + 1), 1}};
  /* Running: the pieces come at once, the unfinished rest waits. */
  assert_int_equal(run(&w, r, 1, false), 0);
  assert_int_equal(w.n, 3);
  assert_int_equal(w.lines[0].end - w.lines[0].start, BERTH_LOGMERGE_MAX_LINE);
  assert_false(w.lines[0].cont || w.lines[0].complete);
  assert_true(w.lines[1].cont && !w.lines[1].complete);
  assert_int_equal(w.lines[2].end, big + 1);
  assert_true(w.lines[2].cont && w.lines[2].complete);
  free(data);
}

static void test_rotated_head_makes_first_line_cont(void **state) {
  world w = {0};
  set(&w, 1, "line one\nline two\n");
  w.gone[1] = 4; /* "line" rotated away */
  berth_logrec r[] = {{5, 0, 18, 1}};
  assert_int_equal(run(&w, r, 1, true), 0);
  assert_int_equal(w.n, 2);
  assert_string_equal(text(&w, 0), " one\n");
  assert_true(w.lines[0].cont);
  assert_string_equal(text(&w, 1), "line two\n");
  assert_false(w.lines[1].cont);
}

/* Whether the byte before the first one kept was a newline is gone with
 * it: the first line kept is cont whatever it looks like. */
static void test_rotation_boundary_line_is_cont(void **state) {
  world w = {0};
  set(&w, 1, "aaa\nbbb\n");
  w.gone[1] = 4;
  berth_logrec r[] = {{1, 0, 4, 1}, {2, 4, 4, 1}};
  assert_int_equal(run(&w, r, 2, true), 0);
  assert_int_equal(w.n, 1);
  assert_string_equal(text(&w, 0), "bbb\n");
  assert_true(w.lines[0].cont);
}

static void test_scan_from_the_middle_marks_cont_by_previous_byte(void **state) {
  world w = {0};
  set(&w, 1, "abc\ndef\n");
  berth_logrec r[] = {{1, 0, 2, 1}, {2, 2, 2, 1}, {3, 4, 4, 1}};
  berth_logmerge_opts o = {3, true, {0, 0, 0}};
  assert_int_equal(berth_logmerge_scan(r, 3, 1, &o, read_fn, line_fn, &w), 0);
  assert_int_equal(w.n, 2);
  assert_string_equal(text(&w, 0), "c\n");
  assert_true(w.lines[0].cont);
  assert_false(w.lines[1].cont);
  w.n = 0;
  assert_int_equal(berth_logmerge_scan(r, 3, 2, &o, read_fn, line_fn, &w), 0);
  assert_int_equal(w.n, 1);
  assert_false(w.lines[0].cont);
}

static void test_hostile_records_are_skipped(void **state) {
  world w = {0};
  set(&w, 1, "ok\n");
  /* Unknown streams, zero lengths, and bytes past what the file holds. */
  berth_logrec r[] = {{1, 0, 3, 0}, {1, 0, 3, 7},    {1, 0, 0, 1},
                      {2, 0, 3, 1}, {3, 3, 1000, 1}, {4, UINT64_MAX - 5, 5, 2}};
  assert_int_equal(run(&w, r, 6, true), 0);
  assert_int_equal(w.n, 1);
  assert_string_equal(text(&w, 0), "ok\n");
}

static void test_gap_between_records_cuts_the_line(void **state) {
  world w = {0};
  set(&w, 1, "abcdef\n");
  berth_logrec r[] = {{1, 0, 2, 1}, {2, 4, 3, 1}};
  assert_int_equal(run(&w, r, 2, true), 0);
  assert_int_equal(w.n, 2);
  assert_string_equal(text(&w, 0), "ab");
  assert_false(w.lines[0].complete);
  assert_string_equal(text(&w, 1), "ef\n");
  assert_true(w.lines[1].cont);
}

static void test_stream_selection(void **state) {
  world w = {0};
  set(&w, 1, "partial");
  set(&w, 2, "e\n");
  berth_logrec r[] = {{1, 0, 7, 1}, {2, 0, 2, 2}};
  berth_logmerge_opts o = {2, false, {0, 0, 0}};
  assert_int_equal(berth_logmerge_scan(r, 2, 0, &o, read_fn, line_fn, &w), 0);
  assert_int_equal(w.n, 1);
  assert_int_equal(w.lines[0].stream, 2);
}

static void test_line_fn_stops_the_scan(void **state) {
  world w = {0};
  set(&w, 1, "1\n2\n3\n");
  w.stop_after = 2;
  berth_logrec r[] = {{1, 0, 6, 1}};
  assert_int_equal(run(&w, r, 1, true), 1);
  assert_int_equal(w.n, 2);
}

static void test_many_lines_held_behind_unfinished_line_are_released(void **state) {
  size_t lines = BERTH_LOGMERGE_HOLD + 10;
  char *err = malloc(lines * 2 + 1);
  for (size_t i = 0; i < lines; i++) {
    err[2 * i] = 'e';
    err[2 * i + 1] = '\n';
  }
  err[lines * 2] = '\0';
  world w = {0};
  set(&w, 1, "never ends");
  set(&w, 2, err);
  berth_logrec r[] = {{1, 0, 10, 1}, {2, 0, (uint32_t)(lines * 2), 2}};
  w.stop_after = 3;
  assert_int_equal(run(&w, r, 2, false), 1);
  assert_int_equal(w.lines[0].stream, 1);
  assert_false(w.lines[0].complete);
  assert_int_equal(w.lines[1].stream, 2);
  free(err);
}

static void test_position_and_since(void **state) {
  berth_logrec r[] = {{10, 0, 3, 1}, {20, 0, 3, 2}, {30, 3, 3, 1}, {40, 3, 3, 2}};
  uint64_t c0[3] = {0, 0, 0}, c1[3] = {0, 3, 0}, c2[3] = {0, 6, 3}, c3[3] = {0, 6, 6};
  assert_int_equal(berth_logmerge_position(r, 4, 3, c0), 0);
  assert_int_equal(berth_logmerge_position(r, 4, 3, c1), 1);
  assert_int_equal(berth_logmerge_position(r, 4, 3, c2), 3);
  assert_int_equal(berth_logmerge_position(r, 4, 3, c3), 4);
  assert_int_equal(berth_logmerge_position(r, 4, 1, c1), 2);
  assert_int_equal(berth_logmerge_since(r, 4, 0), 0);
  assert_int_equal(berth_logmerge_since(r, 4, 25), 2);
  assert_int_equal(berth_logmerge_since(r, 4, 40), 3);
  assert_int_equal(berth_logmerge_since(r, 4, 41), 4);
  assert_int_equal(berth_logmerge_since(NULL, 0, 41), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty_index_gives_nothing),
      cmocka_unit_test(test_streams_interleave_in_write_order),
      cmocka_unit_test(test_split_line_takes_first_chunk_time_and_holds_later_lines),
      cmocka_unit_test(test_unfinished_line_shown_only_when_final),
      cmocka_unit_test(test_unfinished_line_blocks_other_stream_until_final),
      cmocka_unit_test(test_huge_line_in_many_records),
      cmocka_unit_test(test_line_longer_than_max_comes_in_pieces),
      cmocka_unit_test(test_rotated_head_makes_first_line_cont),
      cmocka_unit_test(test_rotation_boundary_line_is_cont),
      cmocka_unit_test(test_scan_from_the_middle_marks_cont_by_previous_byte),
      cmocka_unit_test(test_hostile_records_are_skipped),
      cmocka_unit_test(test_gap_between_records_cuts_the_line),
      cmocka_unit_test(test_stream_selection),
      cmocka_unit_test(test_line_fn_stops_the_scan),
      cmocka_unit_test(test_many_lines_held_behind_unfinished_line_are_released),
      cmocka_unit_test(test_position_and_since),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
