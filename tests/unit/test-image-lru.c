/* Unit tests for containerizer/image_lru: which of berthd's images image
 * collection may remove, in which order, and which references name the
 * same image. */
#include "testutil.h"

#include "containerizer/image_lru.h"

#define NOW 100000.0

static size_t pick(const berth_image_candidate *c, size_t n, double min_age, size_t *out) {
  return berth_images_select(c, n, NOW, min_age, out);
}

static void least_recently_used_come_first(void **state) {
  (void)state;
  berth_image_candidate c[] = {
      {"b:1", NOW - 10, false, false},
      {"a:1", NOW - 300, false, false},
      {"c:1", NOW - 20, false, false},
  };
  size_t out[3];
  assert_int_equal(pick(c, 3, 0, out), 3);
  assert_int_equal(out[0], 1);
  assert_int_equal(out[1], 2);
  assert_int_equal(out[2], 0);
}

static void ties_go_by_name(void **state) {
  (void)state;
  berth_image_candidate c[] = {{"z:1", NOW, false, false}, {"m:1", NOW, false, false}, {"a:1", NOW, false, false}};
  size_t out[3];
  assert_int_equal(pick(c, 3, 0, out), 3);
  assert_int_equal(out[0], 2);
  assert_int_equal(out[1], 1);
  assert_int_equal(out[2], 0);
}

static void images_in_use_or_excluded_are_never_chosen(void **state) {
  (void)state;
  berth_image_candidate c[] = {
      {"used:1", NOW - 500, true, false},
      {"excluded:1", NOW - 400, false, true},
      {"free:1", NOW - 300, false, false},
      {"both:1", NOW - 600, true, true},
  };
  size_t out[4];
  assert_int_equal(pick(c, 4, 0, out), 1);
  assert_int_equal(out[0], 2);
}

static void min_age_spares_recently_used_images(void **state) {
  (void)state;
  berth_image_candidate c[] = {
      {"fresh:1", NOW - 59, false, false},
      {"edge:1", NOW - 60, false, false}, /* exactly min_age old: may go */
      {"old:1", NOW - 3600, false, false},
  };
  size_t out[3];
  assert_int_equal(pick(c, 3, 60, out), 2);
  assert_int_equal(out[0], 2);
  assert_int_equal(out[1], 1);
  /* Without a minimum age (PRUNE_IMAGES) every one may go. */
  assert_int_equal(pick(c, 3, 0, out), 3);
  assert_int_equal(out[2], 0);
}

static void nothing_to_choose_from(void **state) {
  (void)state;
  size_t out[1];
  assert_int_equal(pick(NULL, 0, 0, out), 0);
  berth_image_candidate c[] = {{"used:1", 0, true, false}};
  assert_int_equal(pick(c, 1, 0, out), 0);
}

static void references_name_the_same_image_as_docker_resolves_them(void **state) {
  (void)state;
  assert_true(berth_image_ref_same("busybox", "busybox:latest"));
  assert_true(berth_image_ref_same("busybox", "library/busybox:latest"));
  assert_true(berth_image_ref_same("busybox:local", "docker.io/library/busybox:local"));
  assert_true(berth_image_ref_same("index.docker.io/library/busybox:1", "busybox:1"));
  assert_true(berth_image_ref_same("user/app", "docker.io/user/app:latest"));
  assert_true(berth_image_ref_same("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"));
  assert_true(berth_image_ref_same("localhost/app:2", "localhost/app:2"));
  assert_false(berth_image_ref_same("busybox:local", "busybox:latest"));
  assert_false(berth_image_ref_same("127.0.0.1:5000/busybox:local", "busybox:local"));
  assert_false(berth_image_ref_same("user/app", "library/app"));
  assert_false(berth_image_ref_same("127.0.0.1:5000/app:1", "127.0.0.1:5001/app:1"));
  /* A port is not a tag. */
  assert_false(berth_image_ref_same("127.0.0.1:5000/app", "127.0.0.1:5000/app:5000"));
  const char *digest = "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  assert_true(berth_image_ref_same(digest, digest));
  assert_false(berth_image_ref_same(digest, "app:latest"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(least_recently_used_come_first),
      cmocka_unit_test(ties_go_by_name),
      cmocka_unit_test(images_in_use_or_excluded_are_never_chosen),
      cmocka_unit_test(min_age_spares_recently_used_images),
      cmocka_unit_test(nothing_to_choose_from),
      cmocka_unit_test(references_name_the_same_image_as_docker_resolves_them),
  };
  return cmocka_run_group_tests_name("image_lru", tests, NULL, NULL);
}
