/* Unit tests for util/duration: Mesos-style durations. */
#include "testutil.h"

#include "util/duration.h"

static int64_t parse_ok(const char *text) {
  int64_t ns = -12345;
  berth_error err = {0};
  int rc = berth_duration_parse(text, &ns, &err);
  if (rc != 0) fail_msg("'%s' refused: %s", text, err.msg);
  return ns;
}

static void assert_refused(const char *text) {
  int64_t ns = -12345;
  berth_error err = {0};
  int rc = berth_duration_parse(text, &ns, &err);
  if (rc == 0) fail_msg("'%s' accepted as %lld ns", text ? text : "(null)", (long long)ns);
  assert_int_equal(rc, BERTH_EINVAL);
  assert_int_equal(err.code, BERTH_EINVAL);
  assert_true(strlen(err.msg) > 0);
  assert_int_equal(ns, -12345); /* untouched on error */
}

static void parse_accepts_mesos_units(void **state) {
  (void)state;
  assert_int_equal(parse_ok("10secs"), 10000000000LL);
  assert_int_equal(parse_ok("6hrs"), 6LL * 3600 * 1000000000LL);
  assert_int_equal(parse_ok("500ms"), 500000000LL);
  assert_int_equal(parse_ok("1.5mins"), 90000000000LL);
  assert_int_equal(parse_ok("7ns"), 7);
  assert_int_equal(parse_ok("3us"), 3000);
  assert_int_equal(parse_ok("2days"), 2LL * 86400 * 1000000000LL);
  assert_int_equal(parse_ok("1weeks"), 7LL * 86400 * 1000000000LL);
  assert_int_equal(parse_ok("0secs"), 0);
}

static void parse_accepts_short_unit_spellings(void **state) {
  (void)state;
  assert_int_equal(parse_ok("5s"), 5000000000LL);
  assert_int_equal(parse_ok("5sec"), 5000000000LL);
  assert_int_equal(parse_ok("2m"), 120000000000LL);
  assert_int_equal(parse_ok("2min"), 120000000000LL);
  assert_int_equal(parse_ok("1h"), 3600000000000LL);
  assert_int_equal(parse_ok("1hr"), 3600000000000LL);
  assert_int_equal(parse_ok("1d"), 86400000000000LL);
  assert_int_equal(parse_ok("1day"), 86400000000000LL);
  assert_int_equal(parse_ok("1w"), 604800000000000LL);
  assert_int_equal(parse_ok("1week"), 604800000000000LL);
}

static void parse_accepts_fractions(void **state) {
  (void)state;
  assert_int_equal(parse_ok("0.5secs"), 500000000LL);
  assert_int_equal(parse_ok("2.5ms"), 2500000LL);
  assert_int_equal(parse_ok("0.25hrs"), 900000000000LL);
}

static void parse_refuses_bare_number(void **state) {
  (void)state;
  assert_refused("10");
  assert_refused("0");
  assert_refused("1.5");
}

static void parse_refuses_negative(void **state) {
  (void)state;
  assert_refused("-1secs");
  assert_refused("-0.5ms");
}

static void parse_refuses_garbage(void **state) {
  (void)state;
  assert_refused(NULL);
  assert_refused("");
  assert_refused("secs");
  assert_refused("abc");
  assert_refused("10 secs");
  assert_refused("10secs ");
  assert_refused("10SECS");
  assert_refused("10parsecs");
  assert_refused("10secsx");
  assert_refused("infsecs");
  assert_refused("nanms");
}

/* strtod reads hex ("0x10" is 16) and C99 hex floats; a Mesos duration
 * is a decimal number, so "0x10secs" must not mean 16 seconds. */
static void parse_refuses_hexadecimal_numbers(void **state) {
  (void)state;
  assert_refused("0x10secs");
  assert_refused("0x1p4secs");
}

static void parse_error_names_the_value(void **state) {
  (void)state;
  int64_t ns;
  berth_error err = {0};
  assert_int_equal(berth_duration_parse("10parsecs", &ns, &err), BERTH_EINVAL);
  assert_non_null(strstr(err.msg, "10parsecs"));
}

static void parse_refuses_overflow(void **state) {
  (void)state;
  assert_refused("1e300weeks");
  assert_refused("100000000weeks");
  assert_refused("1e19ns");
}

/* 2^63 ns does not fit in int64_t; (double)INT64_MAX rounds up to 2^63, so
 * a `>` comparison lets exactly 2^63 through and the cast overflows. */
static void parse_refuses_exactly_two_pow_63_ns(void **state) {
  (void)state;
  /* 2^63 ns is one more than INT64_MAX: too large. */
  assert_refused("9223372036854775808ns");
  assert_refused("106751.99116730064591days"); /* the same, in days */
  /* INT64_MAX itself rounds to 2^63 as a double: refusing it is fine, but
   * an accepted value must not wrap negative. */
  int64_t ns = 0;
  berth_error err = {0};
  if (berth_duration_parse("9223372036854775807ns", &ns, &err) == 0 && ns < 0)
    fail_msg("9223372036854775807ns parsed as %lld", (long long)ns);
}

static void parse_largest_sane_value_fits(void **state) {
  (void)state;
  /* 100000 weeks (~1900 years) is below 2^63 ns. */
  assert_int_equal(parse_ok("10000weeks"), 10000LL * 604800000000000LL);
}

static void format(int64_t ns, const char *want) {
  char buf[64];
  memset(buf, 'X', sizeof(buf));
  berth_duration_format(ns, buf, sizeof(buf));
  assert_string_equal(buf, want);
}

static void format_picks_largest_exact_unit(void **state) {
  (void)state;
  format(6LL * 3600 * 1000000000LL, "6hrs");
  format(500000000LL, "500ms");
  format(10000000000LL, "10secs");
  format(90000000000LL, "90secs");
  format(120000000000LL, "2mins");
  format(86400000000000LL, "1days");
  format(604800000000000LL, "1weeks");
  format(1500LL, "1500ns");
  format(3000LL, "3us");
  format(7LL, "7ns");
}

static void format_zero_is_0ns(void **state) {
  (void)state;
  format(0, "0ns");
}

static void format_truncates_to_buffer(void **state) {
  (void)state;
  char buf[4];
  berth_duration_format(10000000000LL, buf, sizeof(buf));
  assert_string_equal(buf, "10s");
}

static void format_then_parse_round_trips(void **state) {
  (void)state;
  static const int64_t values[] = {
      0, 1, 999, 1000, 1000000, 1500000000LL, 60000000000LL, 21600000000000LL, 604800000000000LL * 3, 123456789LL};
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
    char buf[64];
    berth_duration_format(values[i], buf, sizeof(buf));
    assert_int_equal(parse_ok(buf), values[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parse_accepts_mesos_units),
      cmocka_unit_test(parse_accepts_short_unit_spellings),
      cmocka_unit_test(parse_accepts_fractions),
      cmocka_unit_test(parse_refuses_bare_number),
      cmocka_unit_test(parse_refuses_negative),
      cmocka_unit_test(parse_refuses_garbage),
      cmocka_unit_test(parse_refuses_hexadecimal_numbers),
      cmocka_unit_test(parse_error_names_the_value),
      cmocka_unit_test(parse_refuses_overflow),
      cmocka_unit_test(parse_refuses_exactly_two_pow_63_ns),
      cmocka_unit_test(parse_largest_sane_value_fits),
      cmocka_unit_test(format_picks_largest_exact_unit),
      cmocka_unit_test(format_zero_is_0ns),
      cmocka_unit_test(format_truncates_to_buffer),
      cmocka_unit_test(format_then_parse_round_trips),
  };
  return cmocka_run_group_tests_name("duration", tests, NULL, NULL);
}
