/* Unit tests for util/text: base64 and the UTF-8 sanitizer. */
#include "testutil.h"

#include "util/text.h"

#define FFFD "\xef\xbf\xbd"

static void b64(const char *in, size_t len, const char *want) {
  char *out = berth_base64_encode((const unsigned char *)in, len);
  assert_non_null(out);
  assert_string_equal(out, want);
  free(out);
}

/* RFC 4648 §10. */
static void base64_rfc4648_vectors(void **state) {
  (void)state;
  b64("", 0, "");
  b64("f", 1, "Zg==");
  b64("fo", 2, "Zm8=");
  b64("foo", 3, "Zm9v");
  b64("foob", 4, "Zm9vYg==");
  b64("fooba", 5, "Zm9vYmE=");
  b64("foobar", 6, "Zm9vYmFy");
}

static void base64_binary_bytes(void **state) {
  (void)state;
  b64("\x00", 1, "AA==");
  b64("\x00\x00\x00", 3, "AAAA");
  b64("\xff\xff\xff", 3, "////");
  b64("\xfb\xef\xbe", 3, "++++");
  b64("\xff\xfe", 2, "//4=");
  b64("\x00\x10\x83\x10\x51\x87\x20\x92\x8b\x30\xd3\x8f\x41\x14\x93\x51\x55\x97\x61\x96\x9b\x71\xd7\x9f\x82\x18\xa3"
      "\x92\x59\xa7\xa2\x9a\xab\xb2\xdb\xaf\xc3\x1c\xb3\xd3\x5d\xb7\xe3\x9e\xbb\xf3\xdf\xbf",
      48, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
}

static void base64_long_input_length(void **state) {
  (void)state;
  unsigned char data[1000];
  for (size_t i = 0; i < sizeof(data); i++) data[i] = (unsigned char)i;
  char *out = berth_base64_encode(data, sizeof(data));
  assert_int_equal(strlen(out), (sizeof(data) + 2) / 3 * 4);
  assert_string_equal(out + strlen(out) - 4, "5w=="); /* 0xe7 alone */
  assert_memory_equal(out, "AAECAwQF", 8);
  free(out);
}

static void sanitize(const char *in, size_t len, const char *want, size_t want_len) {
  size_t out_len = (size_t)-1;
  char *out = berth_utf8_sanitize(in, len, &out_len);
  assert_non_null(out);
  if (out_len != want_len) {
    print_error("input of %zu bytes: got %zu bytes, want %zu\n", len, out_len, want_len);
    fail();
  }
  assert_memory_equal(out, want, want_len);
  assert_int_equal(out[out_len], '\0');
  free(out);
}

#define SANITIZE(in, want) sanitize(in, sizeof(in) - 1, want, sizeof(want) - 1)

static void utf8_ascii_unchanged(void **state) {
  (void)state;
  SANITIZE("hello, world\n\t", "hello, world\n\t");
  SANITIZE("", "");
}

static void utf8_valid_multibyte_kept(void **state) {
  (void)state;
  SANITIZE("caf\xc3\xa9", "caf\xc3\xa9");           /* U+00E9 */
  SANITIZE("\xe2\x82\xac", "\xe2\x82\xac");         /* U+20AC */
  SANITIZE("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"); /* U+1F600 */
  SANITIZE("\xc2\x80", "\xc2\x80");                 /* U+0080, smallest 2-byte */
  SANITIZE("\xe0\xa0\x80", "\xe0\xa0\x80");         /* U+0800, smallest 3-byte */
  SANITIZE("\xef\xbf\xbf", "\xef\xbf\xbf");         /* U+FFFF */
  SANITIZE("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"); /* U+10FFFF, the last code point */
  SANITIZE("\xed\x9f\xbf", "\xed\x9f\xbf");         /* U+D7FF, just below the surrogates */
  SANITIZE("\xee\x80\x80", "\xee\x80\x80");         /* U+E000, just above them */
}

static void utf8_invalid_bytes_replaced(void **state) {
  (void)state;
  SANITIZE(
      "a\xff"
      "b",
      "a" FFFD "b");
  SANITIZE("\x80", FFFD); /* lone continuation byte */
  SANITIZE("\xbf\x80", FFFD FFFD);
  SANITIZE("\xfe", FFFD);
  SANITIZE("\xf8\x88\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD); /* 5-byte form */
  SANITIZE("\xe2\x28\xa1", FFFD "(" FFFD);                    /* broken 3-byte sequence */
}

static void utf8_truncated_sequence_replaced(void **state) {
  (void)state;
  SANITIZE("ok\xe2\x82", "ok" FFFD FFFD);
  SANITIZE("\xf0\x9f\x98", FFFD FFFD FFFD);
  SANITIZE("\xc3", FFFD);
}

static void utf8_overlong_forms_replaced(void **state) {
  (void)state;
  SANITIZE("\xc0\xaf", FFFD FFFD); /* '/' in 2 bytes */
  SANITIZE("\xc1\xbf", FFFD FFFD);
  SANITIZE("\xe0\x80\xaf", FFFD FFFD FFFD); /* '/' in 3 bytes */
  SANITIZE("\xe0\x9f\xbf", FFFD FFFD FFFD); /* U+07FF in 3 bytes */
  SANITIZE("\xf0\x80\x80\xaf", FFFD FFFD FFFD FFFD);
  SANITIZE("\xf0\x8f\xbf\xbf", FFFD FFFD FFFD FFFD); /* U+FFFF in 4 bytes */
}

static void utf8_surrogates_replaced(void **state) {
  (void)state;
  SANITIZE("\xed\xa0\x80", FFFD FFFD FFFD); /* U+D800 */
  SANITIZE("\xed\xbf\xbf", FFFD FFFD FFFD); /* U+DFFF */
}

static void utf8_above_max_code_point_replaced(void **state) {
  (void)state;
  SANITIZE("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* U+110000 */
  SANITIZE("\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD);
}

static void utf8_nul_replaced(void **state) {
  (void)state;
  sanitize("a\0b", 3, "a" FFFD "b", 5);
  sanitize("\0", 1, FFFD, 3);
}

static void utf8_result_is_accepted_by_jansson(void **state) {
  (void)state;
  unsigned char all[256];
  for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
  size_t n;
  char *out = berth_utf8_sanitize((const char *)all, sizeof(all), &n);
  json_t *s = json_stringn(out, n);
  assert_non_null(s);
  assert_int_equal(json_string_length(s), n);
  json_decref(s);
  free(out);
}

static void utf8_cut_never_splits_a_character(void **state) {
  (void)state;
  const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
  size_t expect[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10};
  for (size_t len = 0; len <= 10; len++) assert_int_equal(berth_utf8_cut(s, len), expect[len]);
}

static void json_text_never_null(void **state) {
  (void)state;
  json_t *j = berth_json_text(NULL);
  assert_string_equal(json_string_value(j), "");
  json_decref(j);
  j = berth_json_text("ok \xc3");
  assert_string_equal(json_string_value(j), "ok \xef\xbf\xbd");
  json_decref(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(base64_rfc4648_vectors),
      cmocka_unit_test(base64_binary_bytes),
      cmocka_unit_test(base64_long_input_length),
      cmocka_unit_test(utf8_ascii_unchanged),
      cmocka_unit_test(utf8_valid_multibyte_kept),
      cmocka_unit_test(utf8_invalid_bytes_replaced),
      cmocka_unit_test(utf8_truncated_sequence_replaced),
      cmocka_unit_test(utf8_overlong_forms_replaced),
      cmocka_unit_test(utf8_surrogates_replaced),
      cmocka_unit_test(utf8_above_max_code_point_replaced),
      cmocka_unit_test(utf8_nul_replaced),
      cmocka_unit_test(utf8_result_is_accepted_by_jansson),
      cmocka_unit_test(utf8_cut_never_splits_a_character),
      cmocka_unit_test(json_text_never_null),
  };
  return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
