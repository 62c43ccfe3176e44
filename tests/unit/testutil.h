/* Helpers shared by the unit tests (header-only, everything static). */
#ifndef BERTH_TESTS_UNIT_TESTUTIL_H
#define BERTH_TESTS_UNIT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

/* Parses text or fails the test. */
static inline json_t *tu_json(const char *text) {
  json_error_t jerr;
  json_t *j = json_loads(text, 0, &jerr);
  if (!j) fail_msg("bad JSON in test: %s (%s)", jerr.text, text);
  return j;
}

/* Asserts that actual equals the JSON in expected_text (order-insensitive
 * for objects), printing both on failure. */
static inline void tu_assert_json_eq(json_t *actual, const char *expected_text) {
  json_t *expected = tu_json(expected_text);
  if (!json_equal(actual, expected)) {
    char *got = actual ? json_dumps(actual, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    char *want = json_dumps(expected, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    print_error("got:  %s\nwant: %s\n", got ? got : "(null)", want);
    free(got);
    free(want);
    json_decref(expected);
    fail();
  }
  json_decref(expected);
}

/* Asserts the integer value of obj[key]. */
static inline void tu_assert_json_int(json_t *obj, const char *key, json_int_t want) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_integer(v)) fail_msg("'%s' is missing or not an integer", key);
  if (json_integer_value(v) != want)
    fail_msg("'%s' is %lld, want %lld", key, (long long)json_integer_value(v), (long long)want);
}

static inline void tu_assert_json_str(json_t *obj, const char *key, const char *want) {
  const char *v = json_string_value(json_object_get(obj, key));
  if (!v) fail_msg("'%s' is missing or not a string", key);
  if (strcmp(v, want) != 0) fail_msg("'%s' is \"%s\", want \"%s\"", key, v, want);
}

static inline void tu_assert_double_eq(double got, double want) {
  double d = got - want;
  if (d < 0) d = -d;
  if (d > 1e-9) fail_msg("got %.17g, want %.17g", got, want);
}

/* Asserts that haystack contains needle. */
#define tu_assert_contains(haystack, needle)                                                        \
  do {                                                                                              \
    const char *h_ = (haystack);                                                                    \
    const char *n_ = (needle);                                                                      \
    if (!h_ || !strstr(h_, n_)) fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_); \
  } while (0)

#endif
