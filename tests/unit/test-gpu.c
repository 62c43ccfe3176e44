/* Unit tests for gpu: allocation of --nvidia_gpu_devices minors (API.md §7). */
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

#include "gpu/gpu.h"

static void allocates_until_none_are_free_then_refuses_without_side_effect(void **state) {
  (void)state;
  berth_gpu_pool pool;
  berth_error err = {0};
  assert_int_equal(berth_gpu_pool_init(&pool, "0,1,3", "/dev", &err), 0);
  int got[4];
  assert_int_equal(berth_gpu_allocate(&pool, 2, "a", got, &err), 0);
  assert_int_equal(got[0], 0);
  assert_int_equal(got[1], 1);
  assert_int_equal(berth_gpu_allocate(&pool, 2, "b", got, &err), BERTH_EINVAL);
  assert_non_null(strstr(err.msg, "2 requested, 1 of 3 free"));
  assert_int_equal(berth_gpu_free_count(&pool), 1); /* nothing taken by the refusal */
  assert_int_equal(berth_gpu_allocate(&pool, 1, "b", got, &err), 0);
  assert_int_equal(got[0], 3);
  berth_gpu_release(&pool, "a");
  assert_int_equal(berth_gpu_free_count(&pool), 2);
  berth_gpu_pool_free(&pool);
}

static void no_devices_means_any_gpu_request_is_refused(void **state) {
  (void)state;
  berth_gpu_pool pool;
  berth_error err = {0};
  assert_int_equal(berth_gpu_pool_init(&pool, NULL, NULL, &err), 0);
  int got[1];
  assert_int_equal(berth_gpu_allocate(&pool, 1, "a", got, &err), BERTH_EINVAL);
  assert_int_equal(berth_gpu_allocate(&pool, 0, "a", got, &err), 0);
  berth_gpu_pool_free(&pool);
}

static void bad_device_lists_are_refused(void **state) {
  (void)state;
  static const char *bad[] = {"a", "0,,1", "-1", "0,0", "1x", "2000"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    berth_gpu_pool pool;
    berth_error err = {0};
    assert_int_equal(berth_gpu_pool_init(&pool, bad[i], "/dev", &err), BERTH_EINVAL);
    assert_non_null(strstr(err.msg, "--nvidia_gpu_devices"));
    berth_gpu_pool_free(&pool);
  }
}

static void claim_restores_an_allocation_and_detects_double_owners(void **state) {
  (void)state;
  berth_gpu_pool pool;
  berth_error err = {0};
  assert_int_equal(berth_gpu_pool_init(&pool, "0,1", "/dev", &err), 0);
  assert_int_equal(berth_gpu_claim(&pool, 1, "a", &err), 0);
  assert_int_equal(berth_gpu_claim(&pool, 1, "b", &err), BERTH_ECONFLICT);
  assert_int_equal(berth_gpu_claim(&pool, 7, "b", &err), BERTH_ENOENT);
  int got[1];
  assert_int_equal(berth_gpu_allocate(&pool, 1, "c", got, &err), 0);
  assert_int_equal(got[0], 0);
  berth_gpu_pool_free(&pool);
}

static void devices_list_minors_then_existing_control_nodes(void **state) {
  (void)state;
  char root[] = "/tmp/berth-gpu-XXXXXX";
  assert_non_null(mkdtemp(root));
  char ctl[64];
  snprintf(ctl, sizeof(ctl), "%s/nvidiactl", root);
  fclose(fopen(ctl, "w"));
  berth_gpu_pool pool;
  berth_error err = {0};
  assert_int_equal(berth_gpu_pool_init(&pool, "0,1", root, &err), 0);
  int minors[] = {1};
  char **devs = berth_gpu_devices(&pool, minors, 1);
  char want0[64];
  snprintf(want0, sizeof(want0), "%s/nvidia1", root);
  assert_string_equal(devs[0], want0);
  assert_string_equal(devs[1], ctl);
  assert_null(devs[2]); /* nvidia-uvm does not exist here */
  for (char **d = devs; *d; d++) free(*d);
  free(devs);
  char **none = berth_gpu_devices(&pool, minors, 0);
  assert_null(none[0]); /* no GPUs, no control devices either */
  free(none);
  unlink(ctl);
  rmdir(root);
  berth_gpu_pool_free(&pool);
}

static void format_and_parse_round_trip(void **state) {
  (void)state;
  int m[] = {0, 3, 12};
  char *text = berth_gpu_format(m, 3);
  assert_string_equal(text, "0,3,12");
  int back[4];
  assert_int_equal(berth_gpu_parse(text, back, 4), 3);
  assert_int_equal(back[2], 12);
  free(text);
  text = berth_gpu_format(m, 0);
  assert_string_equal(text, "");
  assert_int_equal(berth_gpu_parse(text, back, 4), 0);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(allocates_until_none_are_free_then_refuses_without_side_effect),
      cmocka_unit_test(no_devices_means_any_gpu_request_is_refused),
      cmocka_unit_test(bad_device_lists_are_refused),
      cmocka_unit_test(claim_restores_an_allocation_and_detects_double_owners),
      cmocka_unit_test(devices_list_minors_then_existing_control_nodes),
      cmocka_unit_test(format_and_parse_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
