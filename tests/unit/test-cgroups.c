/* Unit tests for cgroups: usage read from recorded cgroup v1 files (taken
 * from a busybox container on this machine, limited to 64 MB and 0.5 cpu)
 * and from v2 files in the kernel's format; the hierarchy is chosen from
 * /proc/<pid>/cgroup at run time. */
#include "testutil.h"

#include "cgroups/cgroups.h"

static berth_cgroup_roots roots_of(const char *fixture, char *proc, char *cgroup, size_t len) {
  snprintf(proc, len, "%s/%s/proc", BERTH_FIXTURES_DIR, fixture);
  snprintf(cgroup, len, "%s/%s/cgroup", BERTH_FIXTURES_DIR, fixture);
  return (berth_cgroup_roots){proc, cgroup};
}

static void v1_layout_reads_the_v1_controllers(void **state) {
  (void)state;
  char proc[512], cg[512];
  berth_cgroup_roots roots = roots_of("cgroup-v1", proc, cg, sizeof(proc));
  berth_usage u;
  berth_error err = {0};
  assert_int_equal(berth_cgroups_usage(&roots, 4242, &u, &err), 0);
  assert_false(u.v2);
  /* cpuacct.stat: user 47, system 1 ticks of 1/100 s */
  assert_true(u.cpus_user_time_secs > 0.469 && u.cpus_user_time_secs < 0.471);
  assert_true(u.cpus_system_time_secs > 0.009 && u.cpus_system_time_secs < 0.011);
  /* cfs_quota_us 50000 over cfs_period_us 100000 */
  assert_true(u.cpus_limit > 0.499 && u.cpus_limit < 0.501);
  assert_int_equal(u.cpus_nr_periods, 14);
  assert_int_equal(u.cpus_nr_throttled, 3);
  assert_true(u.cpus_throttled_time_secs > 0.0117 && u.cpus_throttled_time_secs < 0.0118);
  assert_int_equal(u.mem_total_bytes, 339968);
  assert_int_equal(u.mem_rss_bytes, 61440);
  assert_int_equal(u.mem_cache_bytes, 0);
  assert_int_equal(u.mem_limit_bytes, 64 << 20);
  /* the kernel's "no soft limit" (a huge page-aligned number) reads as 0 */
  assert_int_equal(u.mem_soft_limit_bytes, 0);
  assert_int_equal(u.processes, 1);
  assert_int_equal(u.threads, 1);
  /* eth0 only: lo is not the container's traffic */
  assert_int_equal(u.net_rx_bytes, 486);
  assert_int_equal(u.net_tx_bytes, 0);
}

static void v2_layout_reads_the_unified_hierarchy(void **state) {
  (void)state;
  char proc[512], cg[512];
  berth_cgroup_roots roots = roots_of("cgroup-v2", proc, cg, sizeof(proc));
  berth_usage u;
  berth_error err = {0};
  assert_int_equal(berth_cgroups_usage(&roots, 4242, &u, &err), 0);
  assert_true(u.v2);
  assert_true(u.cpus_user_time_secs > 1.999 && u.cpus_user_time_secs < 2.001);
  assert_true(u.cpus_system_time_secs > 0.499 && u.cpus_system_time_secs < 0.501);
  assert_true(u.cpus_limit > 0.499 && u.cpus_limit < 0.501);
  assert_int_equal(u.cpus_nr_periods, 40);
  assert_int_equal(u.cpus_nr_throttled, 12);
  assert_true(u.cpus_throttled_time_secs > 0.749 && u.cpus_throttled_time_secs < 0.751);
  assert_int_equal(u.mem_total_bytes, 1048576);
  assert_int_equal(u.mem_rss_bytes, 524288);
  assert_int_equal(u.mem_cache_bytes, 262144);
  assert_int_equal(u.mem_limit_bytes, 67108864);
  assert_int_equal(u.mem_soft_limit_bytes, 33554432);
  assert_int_equal(u.processes, 2);
  assert_int_equal(u.threads, 3);
  assert_int_equal(u.net_rx_bytes, 486);
}

static void v2_unlimited_reads_as_zero_limits_and_weight_as_share(void **state) {
  (void)state;
  char proc[512], cg[512];
  berth_cgroup_roots roots = roots_of("cgroup-v2-unlimited", proc, cg, sizeof(proc));
  berth_usage u;
  berth_error err = {0};
  assert_int_equal(berth_cgroups_usage(&roots, 7, &u, &err), 0);
  assert_true(u.v2);
  assert_int_equal(u.mem_limit_bytes, 0); /* "max" */
  /* cpu.weight 39 is runc's conversion of 1024 shares; the way back
   * loses a little to integer rounding: about one cpu */
  assert_true(u.cpus_limit > 0.95 && u.cpus_limit < 1.0);
  assert_int_equal(u.processes, 0);
  assert_int_equal(u.net_rx_bytes, 0); /* only lo */
}

static void missing_process_is_an_error_naming_the_file(void **state) {
  (void)state;
  char proc[512], cg[512];
  berth_cgroup_roots roots = roots_of("cgroup-v1", proc, cg, sizeof(proc));
  berth_usage u;
  berth_error err = {0};
  assert_true(berth_cgroups_usage(&roots, 999999, &u, &err) < 0);
  assert_non_null(strstr(err.msg, "999999/cgroup"));
}

/* The containerizer locates a process's cgroup once and reads it again
 * and again: each read gives what a fresh locate-and-read gives, and dirs
 * that no longer exist (the container's cgroup removed) fail the read. */
static void located_dirs_read_like_a_fresh_read(void **state) {
  (void)state;
  const char *fixtures[] = {"cgroup-v1", "cgroup-v2"};
  for (size_t i = 0; i < 2; i++) {
    char proc[512], cg[512];
    berth_cgroup_roots roots = roots_of(fixtures[i], proc, cg, sizeof(proc));
    berth_cgroup_dirs dirs;
    berth_error err = {0};
    assert_int_equal(berth_cgroups_locate(&roots, 4242, &dirs, &err), 0);
    assert_int_equal(dirs.v2, i == 1);
    berth_usage fresh, again;
    assert_int_equal(berth_cgroups_usage(&roots, 4242, &fresh, &err), 0);
    for (int k = 0; k < 2; k++) {
      assert_int_equal(berth_cgroups_read(&roots, &dirs, 4242, &again, &err), 0);
      assert_memory_equal(&fresh, &again, sizeof(fresh));
    }
    berth_cgroup_dirs_free(&dirs);
    assert_null(dirs.cpu);
  }
  berth_cgroup_dirs gone = {
      .cpu = strdup("/nonexistent/cg"), .cpuacct = strdup("/nonexistent/cg"), .mem = strdup("/nonexistent/cg")};
  char proc[512], cg[512];
  berth_cgroup_roots roots = roots_of("cgroup-v1", proc, cg, sizeof(proc));
  berth_usage u;
  berth_error err = {0};
  assert_true(berth_cgroups_read(&roots, &gone, 4242, &u, &err) < 0);
  assert_non_null(strstr(err.msg, "/nonexistent/cg"));
  berth_cgroup_dirs_free(&gone);
  berth_cgroup_dirs none = {0};
  assert_true(berth_cgroups_read(&roots, &none, 4242, &u, &err) < 0);
}

static void usage_json_has_every_contract_field(void **state) {
  (void)state;
  berth_usage u = {.cpus_limit = 0.5, .mem_limit_bytes = 1024, .processes = 1, .threads = 2, .net_rx_bytes = 9};
  json_t *j = berth_usage_json(&u, 1764025200.1);
  static const char *fields[] = {
      "timestamp",     "processes",       "threads",           "cpus_user_time_secs",      "cpus_system_time_secs",
      "cpus_limit",    "cpus_nr_periods", "cpus_nr_throttled", "cpus_throttled_time_secs", "mem_total_bytes",
      "mem_rss_bytes", "mem_cache_bytes", "mem_limit_bytes",   "mem_soft_limit_bytes",     "net_rx_bytes",
      "net_tx_bytes"};
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) assert_non_null(json_object_get(j, fields[i]));
  tu_assert_json_int(j, "mem_limit_bytes", 1024);
  tu_assert_json_int(j, "threads", 2);
  tu_assert_json_int(j, "net_rx_bytes", 9);
  json_decref(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(v1_layout_reads_the_v1_controllers),
      cmocka_unit_test(v2_layout_reads_the_unified_hierarchy),
      cmocka_unit_test(v2_unlimited_reads_as_zero_limits_and_weight_as_share),
      cmocka_unit_test(missing_process_is_an_error_naming_the_file),
      cmocka_unit_test(located_dirs_read_like_a_fresh_read),
      cmocka_unit_test(usage_json_has_every_contract_field),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
