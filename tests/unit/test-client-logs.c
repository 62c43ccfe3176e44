/* Unit tests for client/logs: `berth logs`'s arguments, --since in the
 * forms docker takes, and the -t timestamp format. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "testutil.h"

#include "client/logs.h"

static double since(const char *text, double now) {
  double out = -1;
  berth_error err;
  if (berth_logs_parse_since(text, now, &out, &err) < 0) fail_msg("'%s': %s", text, err.msg);
  return out;
}

static void test_since_rfc3339_forms(void **state) {
  assert_true(since("2026-12-02T10:00:00Z", 1) == 1796205600.0);
  assert_true(since("2026-12-02T10:00:00.25Z", 1) == 1796205600.25);
  assert_true(since("2026-12-02T12:00:00+02:00", 1) == 1796205600.0);
  assert_true(since("2026-12-02T08:30:00-01:30", 1) == 1796205600.0);
}

static void test_since_local_time_without_zone(void **state) {
  setenv("TZ", "UTC", 1);
  tzset();
  assert_true(since("2026-12-02T10:00:00", 1) == 1796205600.0);
  assert_true(since("2026-12-02", 1) == 1796169600.0);
}

static void test_since_unix_time_and_durations(void **state) {
  assert_true(since("1796205600", 1) == 1796205600.0);
  assert_true(since("1796205600.5", 1) == 1796205600.5);
  assert_true(since("10m", 10000) == 10000 - 600);
  assert_true(since("1h30m", 10000) == 10000 - 5400);
  assert_true(since("1.5s", 10000) == 10000 - 1.5);
  assert_true(since("300ms", 10000) == 10000 - 0.3);
}

static void test_since_refuses_junk(void **state) {
  const char *bad[] = {"",
                       "yesterday",
                       "10",
                       "10x",
                       "m",
                       "2026-13-01",
                       "2026-12-02T25:00:00Z",
                       "2026-12-02T10:00:00+0200",
                       "1.2.3",
                       "-5m",
                       "2026-12-02T10:00Zjunk"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    double out;
    berth_error err;
    /* "10" alone is a unix time, the others are errors. */
    if (!strcmp(bad[i], "10")) continue;
    if (berth_logs_parse_since(bad[i], 1, &out, &err) == 0) fail_msg("'%s' was taken as %f", bad[i], out);
    assert_non_null(strstr(err.msg, "--since"));
  }
}

static void test_timestamp_format(void **state) {
  char buf[48];
  berth_logs_format_time(1796205600000000001LL, buf, sizeof(buf));
  assert_string_equal(buf, "2026-12-02T10:00:00.000000001Z");
  berth_logs_format_time(0, buf, sizeof(buf));
  assert_string_equal(buf, "1970-01-01T00:00:00.000000000Z");
}

static void test_arguments(void **state) {
  char *argv[] = {"-f", "--tail", "3", "ID", "-t", "--since=10m", "--stderr", NULL};
  berth_logs_opts o;
  berth_error err;
  assert_int_equal(berth_logs_parse_args(7, argv, &o, &err), 0);
  assert_true(o.follow && o.timestamps && o.has_tail);
  assert_int_equal(o.tail, 3);
  assert_string_equal(o.id, "ID");
  assert_string_equal(o.since, "10m");
  assert_int_equal(o.streams, 2);
  char *all[] = {"-n", "all", "ID", NULL};
  assert_int_equal(berth_logs_parse_args(3, all, &o, &err), 0);
  assert_false(o.has_tail);
  assert_int_equal(o.streams, 3);
  char *bad_tail[] = {"--tail", "-1", "ID", NULL};
  assert_true(berth_logs_parse_args(3, bad_tail, &o, &err) < 0);
  char *two[] = {"A", "B", NULL};
  assert_true(berth_logs_parse_args(2, two, &o, &err) < 0);
  char *none[] = {"-f", NULL};
  assert_true(berth_logs_parse_args(1, none, &o, &err) < 0);
  char *bad_since[] = {"--since", "soon", "ID", NULL};
  assert_true(berth_logs_parse_args(3, bad_since, &o, &err) < 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_since_rfc3339_forms),
      cmocka_unit_test(test_since_local_time_without_zone),
      cmocka_unit_test(test_since_unix_time_and_durations),
      cmocka_unit_test(test_since_refuses_junk),
      cmocka_unit_test(test_timestamp_format),
      cmocka_unit_test(test_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
