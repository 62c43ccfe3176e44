/* Unit tests for the pure parts of docker/api: API version negotiation
 * and image reference splitting. */
#include "testutil.h"

#include "docker/api.h"
#include "docker/client.h"

static void negotiate_ok(const char *daemon, const char *want) {
  char out[16];
  memset(out, 'X', sizeof(out));
  berth_error err = {0};
  int rc = berth_docker_negotiate(daemon, out, sizeof(out), &err);
  if (rc != 0) fail_msg("'%s' refused: %s", daemon, err.msg);
  assert_string_equal(out, want);
}

static void negotiate_refused(const char *daemon) {
  char out[16] = "untouched";
  berth_error err = {0};
  int rc = berth_docker_negotiate(daemon, out, sizeof(out), &err);
  if (rc == 0) fail_msg("'%s' accepted as %s", daemon ? daemon : "(null)", out);
  assert_int_equal(rc, BERTH_EDOCKER);
  assert_int_equal(err.code, BERTH_EDOCKER);
  assert_true(strlen(err.msg) > 0);
}

static void negotiate_caps_newer_daemon_at_max(void **state) {
  (void)state;
  assert_string_equal(BERTH_DOCKER_API_MAX, "1.41");
  negotiate_ok("1.43", "1.41");
  negotiate_ok("1.45", "1.41");
  negotiate_ok("2.0", "1.41");
}

static void negotiate_keeps_older_supported_daemon(void **state) {
  (void)state;
  negotiate_ok("1.41", "1.41");
  negotiate_ok("1.40", "1.40");
  negotiate_ok("1.24", "1.24");
  negotiate_ok("1.30", "1.30");
}

static void negotiate_refuses_too_old(void **state) {
  (void)state;
  negotiate_refused("1.23");
  negotiate_refused("1.12");
  negotiate_refused("0.99");
  negotiate_refused("1.4"); /* 1.4, not 1.40 */
}

static void negotiate_refuses_garbage(void **state) {
  (void)state;
  negotiate_refused(NULL);
  negotiate_refused("");
  negotiate_refused("garbage");
  negotiate_refused("1");
  negotiate_refused("1.");
  negotiate_refused("1.x");
  negotiate_refused("v1.41");
}

static void negotiate_error_names_the_version(void **state) {
  (void)state;
  char out[16];
  berth_error err = {0};
  assert_int_equal(berth_docker_negotiate("1.23", out, sizeof(out), &err), BERTH_EDOCKER);
  tu_assert_contains(err.msg, "1.23");
  tu_assert_contains(err.msg, BERTH_DOCKER_API_MIN);
  assert_int_equal(berth_docker_negotiate("bogus", out, sizeof(out), &err), BERTH_EDOCKER);
  tu_assert_contains(err.msg, "bogus");
}

static void split(const char *ref, const char *want_repo, const char *want_tag) {
  char *repo = NULL, *tag = NULL;
  berth_docker_split_ref(ref, &repo, &tag);
  assert_non_null(repo);
  assert_non_null(tag);
  assert_string_equal(repo, want_repo);
  assert_string_equal(tag, want_tag);
  free(repo);
  free(tag);
}

static void split_ref_name_and_tag(void **state) {
  (void)state;
  split("busybox:local", "busybox", "local");
  split("library/busybox:1.36", "library/busybox", "1.36");
  split("a/b/c:tag", "a/b/c", "tag");
}

static void split_ref_without_tag_is_latest(void **state) {
  (void)state;
  split("busybox", "busybox", "latest");
  split("a/b/c", "a/b/c", "latest");
}

static void split_ref_registry_with_port(void **state) {
  (void)state;
  split("reg:5000/a/b:t", "reg:5000/a/b", "t");
  split("127.0.0.1:5000/busybox:local", "127.0.0.1:5000/busybox", "local");
  /* The port's colon is not a tag separator. */
  split("localhost:5000/x", "localhost:5000/x", "latest");
  split("reg:5000/a/b", "reg:5000/a/b", "latest");
}

static void split_ref_digest(void **state) {
  (void)state;
  const char *digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  char ref[256];
  snprintf(ref, sizeof(ref), "busybox@%s", digest);
  split(ref, "busybox", digest);
  snprintf(ref, sizeof(ref), "reg:5000/a/b@%s", digest);
  split(ref, "reg:5000/a/b", digest);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(negotiate_caps_newer_daemon_at_max),
      cmocka_unit_test(negotiate_keeps_older_supported_daemon),
      cmocka_unit_test(negotiate_refuses_too_old),
      cmocka_unit_test(negotiate_refuses_garbage),
      cmocka_unit_test(negotiate_error_names_the_version),
      cmocka_unit_test(split_ref_name_and_tag),
      cmocka_unit_test(split_ref_without_tag_is_latest),
      cmocka_unit_test(split_ref_registry_with_port),
      cmocka_unit_test(split_ref_digest),
  };
  return cmocka_run_group_tests_name("docker-api", tests, NULL, NULL);
}
