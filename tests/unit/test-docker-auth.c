/* Unit tests for docker/auth: config.json credentials, registry host
 * matching as docker does, and the X-Registry-Auth value. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "docker/auth.h"

/* base64url (with or without padding) to text, for checking the header. */
static char *b64url_decode(const char *in) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t n = strlen(in);
  char *out = calloc(1, n + 1);
  unsigned acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n && in[i] != '='; i++) {
    const char *p = strchr(alphabet, in[i]);
    if (!p) fail_msg("'%c' is not base64url", in[i]);
    acc = (acc << 6) | (unsigned)(p - alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (char)((acc >> bits) & 0xff);
    }
  }
  return out;
}

static void load(const char *text, berth_docker_auth *auth) {
  berth_error err = {0};
  if (berth_docker_auth_parse(text, strlen(text), auth, &err) < 0) fail_msg("%s", err.msg);
}

static void registry_of_follows_dockers_rule(void **state) {
  (void)state;
  const char *cases[][2] = {
      {"127.0.0.1:5001/busybox:local", "127.0.0.1:5001"},
      {"registry.example.com/a/b:1", "registry.example.com"},
      {"localhost/app", "localhost"},
      {"busybox", "docker.io"},
      {"library/busybox:1", "docker.io"},
      {"user/app@sha256:abc", "docker.io"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *r = berth_docker_registry_of(cases[i][0]);
    if (strcmp(r, cases[i][1])) fail_msg("%s: got %s, want %s", cases[i][0], r, cases[i][1]);
    free(r);
  }
}

static void keys_match_with_or_without_scheme_and_path(void **state) {
  (void)state;
  const char *keys[] = {"127.0.0.1:5001", "https://127.0.0.1:5001", "http://127.0.0.1:5001/v1/",
                        "https://127.0.0.1:5001/v2/"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
    char text[256];
    snprintf(text, sizeof(text), "{\"auths\": {\"%s\": {\"auth\": \"YmVydGg6czNjcjN0\"}}}", keys[i]);
    berth_docker_auth auth;
    load(text, &auth);
    const berth_registry_cred *c = berth_docker_auth_find(&auth, "127.0.0.1:5001/busybox:local");
    if (!c) fail_msg("key '%s' did not match", keys[i]);
    assert_string_equal(c->username, "berth");
    assert_string_equal(c->password, "s3cr3t");
    assert_string_equal(c->server, keys[i]);
    assert_null(berth_docker_auth_find(&auth, "127.0.0.1:5000/busybox:local"));
    assert_null(berth_docker_auth_find(&auth, "busybox"));
    berth_docker_auth_free(&auth);
  }
}

static void docker_hub_answers_to_its_aliases(void **state) {
  (void)state;
  berth_docker_auth auth;
  load("{\"auths\": {\"https://index.docker.io/v1/\": {\"username\": \"u\", \"password\": \"p\"}}}", &auth);
  assert_non_null(berth_docker_auth_find(&auth, "busybox"));
  assert_non_null(berth_docker_auth_find(&auth, "docker.io/library/busybox"));
  assert_non_null(berth_docker_auth_find(&auth, "index.docker.io/user/app:1"));
  assert_null(berth_docker_auth_find(&auth, "quay.io/user/app"));
  berth_docker_auth_free(&auth);
}

static void header_is_base64url_json_with_the_server_address(void **state) {
  (void)state;
  berth_docker_auth auth;
  /* A password whose JSON encodes to bytes that base64 maps to '+' and '/'. */
  load("{\"auths\": {\"127.0.0.1:5001\": {\"username\": \"berth\", \"password\": \"?>?>~~\"}}}", &auth);
  char *h = berth_docker_auth_header(&auth, "127.0.0.1:5001/busybox:local");
  assert_non_null(h);
  assert_null(strchr(h, '+'));
  assert_null(strchr(h, '/'));
  char *text = b64url_decode(h);
  json_t *j = tu_json(text);
  tu_assert_json_eq(j, "{\"username\": \"berth\", \"password\": \"?>?>~~\", \"serveraddress\": \"127.0.0.1:5001\"}");
  json_decref(j);
  free(text);
  free(h);
  assert_null(berth_docker_auth_header(&auth, "busybox:local"));
  assert_null(berth_docker_auth_header(NULL, "busybox:local"));
  berth_docker_auth_free(&auth);
}

static void auth_wins_over_username_and_entries_without_secrets_are_skipped(void **state) {
  (void)state;
  berth_docker_auth auth;
  load(
      "{\"auths\": {\"a.example\": {\"auth\": \"dTE6cDE=\", \"username\": \"u2\", \"password\": \"p2\"},"
      " \"b.example\": {\"identitytoken\": \"tok\"}, \"c.example\": {}},"
      " \"credsStore\": \"desktop\"}",
      &auth);
  assert_int_equal(auth.n, 1);
  const berth_registry_cred *c = berth_docker_auth_find(&auth, "a.example/x");
  assert_non_null(c);
  assert_string_equal(c->username, "u1");
  assert_string_equal(c->password, "p1");
  assert_null(berth_docker_auth_find(&auth, "b.example/x"));
  berth_docker_auth_free(&auth);
}

static void malformed_configs_are_refused_naming_the_entry(void **state) {
  (void)state;
  berth_docker_auth auth;
  berth_error err = {0};
  const char *bad[] = {"not json", "[]", "{\"auths\": []}", "{\"auths\": {\"r.example\": {\"auth\": \"!!!\"}}}",
                       "{\"auths\": {\"r.example\": {\"auth\": \"bm9jb2xvbg==\"}}}"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (berth_docker_auth_parse(bad[i], strlen(bad[i]), &auth, &err) == 0) fail_msg("accepted: %s", bad[i]);
    assert_int_equal(err.code, BERTH_EINVAL);
  }
  if (!strstr(err.msg, "r.example")) fail_msg("message: %s", err.msg);
  assert_int_equal(berth_docker_auth_load("/nonexistent/config.json", &auth, &err), BERTH_EIO);
  assert_non_null(strstr(err.msg, "--docker_config"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(registry_of_follows_dockers_rule),
      cmocka_unit_test(keys_match_with_or_without_scheme_and_path),
      cmocka_unit_test(docker_hub_answers_to_its_aliases),
      cmocka_unit_test(header_is_base64url_json_with_the_server_address),
      cmocka_unit_test(auth_wins_over_username_and_entries_without_secrets_are_skipped),
      cmocka_unit_test(malformed_configs_are_refused_naming_the_entry),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
