/* Unit tests for util/error: setting, prefixing, errno, codes → HTTP. */
#include <errno.h>

#include "testutil.h"

#include <jansson.h>

#include "util/error.h"

static void set_fills_code_and_message_and_returns_code(void **state) {
  (void)state;
  berth_error err = {0};
  int rc = berth_error_set(&err, BERTH_EINVAL, "bad '%s' (%d)", "x", 42);
  assert_int_equal(rc, BERTH_EINVAL);
  assert_int_equal(err.code, BERTH_EINVAL);
  assert_string_equal(err.msg, "bad 'x' (42)");
}

static void set_with_null_error_still_returns_code(void **state) {
  (void)state;
  assert_int_equal(berth_error_set(NULL, BERTH_ENOENT, "gone"), BERTH_ENOENT);
}

static void set_truncates_long_messages(void **state) {
  (void)state;
  berth_error err = {0};
  char big[3000];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  berth_error_set(&err, BERTH_EIO, "%s", big);
  assert_int_equal(strlen(err.msg), BERTH_ERROR_MSG_MAX - 1);
}

static void prefix_prepends_context(void **state) {
  (void)state;
  berth_error err = {0};
  berth_error_set(&err, BERTH_EDOCKER, "connection refused");
  int rc = berth_error_prefix(&err, "pull image '%s'", "busybox");
  assert_int_equal(rc, BERTH_EDOCKER);
  assert_int_equal(err.code, BERTH_EDOCKER);
  assert_string_equal(err.msg, "pull image 'busybox': connection refused");
  berth_error_prefix(&err, "launch %s", "web-1");
  assert_string_equal(err.msg, "launch web-1: pull image 'busybox': connection refused");
}

static void prefix_with_null_error_is_internal(void **state) {
  (void)state;
  assert_int_equal(berth_error_prefix(NULL, "ctx"), BERTH_EINTERNAL);
}

static void prefix_keeps_message_bounded(void **state) {
  (void)state;
  berth_error err = {0};
  char big[2000];
  memset(big, 'b', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  berth_error_set(&err, BERTH_EIO, "%s", big);
  berth_error_prefix(&err, "context");
  assert_int_equal(strlen(err.msg), BERTH_ERROR_MSG_MAX - 1);
  assert_memory_equal(err.msg, "context: bbb", 12);

  /* A prefix longer than the buffer leaves no room for the old text. */
  berth_error_set(&err, BERTH_EIO, "old");
  berth_error_prefix(&err, "%s", big);
  assert_int_equal(strlen(err.msg), BERTH_ERROR_MSG_MAX - 1);
  assert_null(strstr(err.msg, "old"));
}

static void errno_appends_strerror_and_is_eio(void **state) {
  (void)state;
  berth_error err = {0};
  int rc = berth_error_errno(&err, ENOENT, "open '%s'", "/x");
  assert_int_equal(rc, BERTH_EIO);
  assert_int_equal(err.code, BERTH_EIO);
  char want[256];
  snprintf(want, sizeof(want), "open '/x': %s", strerror(ENOENT));
  assert_string_equal(err.msg, want);
}

static void errno_with_null_error_returns_eio(void **state) {
  (void)state;
  assert_int_equal(berth_error_errno(NULL, EACCES, "x"), BERTH_EIO);
}

static void clear_resets(void **state) {
  (void)state;
  berth_error err = {0};
  berth_error_set(&err, BERTH_EINVAL, "x");
  berth_error_clear(&err);
  assert_int_equal(err.code, 0);
  assert_string_equal(err.msg, "");
  berth_error_clear(NULL); /* must not crash */
}

static void code_maps_to_http_status(void **state) {
  (void)state;
  assert_int_equal(berth_code_http_status(BERTH_OK), 200);
  assert_int_equal(berth_code_http_status(BERTH_EINVAL), 400);
  assert_int_equal(berth_code_http_status(BERTH_ENOENT), 404);
  assert_int_equal(berth_code_http_status(BERTH_ECONFLICT), 409);
  assert_int_equal(berth_code_http_status(BERTH_ETOOBIG), 413);
  assert_int_equal(berth_code_http_status(BERTH_EUNAVAIL), 503);
  assert_int_equal(berth_code_http_status(BERTH_EDOCKER), 500);
  assert_int_equal(berth_code_http_status(BERTH_EIO), 500);
  assert_int_equal(berth_code_http_status(BERTH_ESTORE), 500);
  assert_int_equal(berth_code_http_status(BERTH_ECANCELED), 500);
  assert_int_equal(berth_code_http_status(BERTH_EINTERNAL), 500);
  assert_int_equal(berth_code_http_status(-999), 500);
  assert_int_equal(berth_code_http_status(7), 500);
}

static void code_has_a_name(void **state) {
  (void)state;
  assert_string_equal(berth_code_name(BERTH_OK), "OK");
  assert_string_equal(berth_code_name(BERTH_EINVAL), "EINVAL");
  assert_string_equal(berth_code_name(BERTH_ENOENT), "ENOENT");
  assert_string_equal(berth_code_name(BERTH_ECONFLICT), "ECONFLICT");
  assert_string_equal(berth_code_name(BERTH_ETOOBIG), "ETOOBIG");
  assert_string_equal(berth_code_name(BERTH_EDOCKER), "EDOCKER");
  assert_string_equal(berth_code_name(BERTH_EUNAVAIL), "EUNAVAIL");
  assert_string_equal(berth_code_name(BERTH_EIO), "EIO");
  assert_string_equal(berth_code_name(BERTH_ESTORE), "ESTORE");
  assert_string_equal(berth_code_name(BERTH_ECANCELED), "ECANCELED");
  assert_string_equal(berth_code_name(BERTH_EINTERNAL), "EINTERNAL");
  assert_string_equal(berth_code_name(-999), "EUNKNOWN");
}

/* 700 two-byte characters overflow the buffer; whichever byte the cut falls
 * on, the message stays valid UTF-8 (jansson accepts it). */
static void set_cuts_long_utf8_at_a_character_boundary(void **state) {
  (void)state;
  char user[1402];
  for (int shift = 0; shift < 2; shift++) {
    size_t n = 0;
    if (shift) user[n++] = 'a';
    for (int i = 0; i < 700; i++) user[n++] = '\xc3', user[n++] = '\xa9';
    user[n] = '\0';
    berth_error err;
    berth_error_set(&err, BERTH_EDOCKER, "unable to find user %s", user);
    json_t *j = json_string(err.msg);
    assert_non_null(j);
    json_decref(j);
    berth_error_prefix(&err, "Failed to start container for image '%s'", "busybox:local");
    j = json_string(err.msg);
    assert_non_null(j);
    json_decref(j);
  }
}

/* A "%.3s" cut in the middle of a character and invalid bytes from docker
 * are replaced, not kept. */
static void set_replaces_invalid_utf8(void **state) {
  (void)state;
  berth_error err;
  berth_error_set(&err, BERTH_EINVAL, "x '%.2s' %s", "a\xc3\xa9", "\xff");
  assert_string_equal(err.msg, "x 'a\xef\xbf\xbd' \xef\xbf\xbd");
  berth_error_errno(&err, 2, "open '\xc3'");
  json_t *j = json_string(err.msg);
  assert_non_null(j);
  json_decref(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(set_fills_code_and_message_and_returns_code),
      cmocka_unit_test(set_with_null_error_still_returns_code),
      cmocka_unit_test(set_truncates_long_messages),
      cmocka_unit_test(prefix_prepends_context),
      cmocka_unit_test(prefix_with_null_error_is_internal),
      cmocka_unit_test(prefix_keeps_message_bounded),
      cmocka_unit_test(errno_appends_strerror_and_is_eio),
      cmocka_unit_test(errno_with_null_error_returns_eio),
      cmocka_unit_test(clear_resets),
      cmocka_unit_test(code_maps_to_http_status),
      cmocka_unit_test(code_has_a_name),
      cmocka_unit_test(set_cuts_long_utf8_at_a_character_boundary),
      cmocka_unit_test(set_replaces_invalid_utf8),
  };
  return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
