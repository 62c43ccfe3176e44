/* Unit tests for daemon/flags: defaults, argv forms, environment
 * fallback and precedence, lists, errors and /flags. */
#include <stdbool.h>
#include <unistd.h>

#include "testutil.h"

#include "daemon/flags.h"

#define ARGV(...) ((char *[]){"berthd", __VA_ARGS__, NULL})
#define NO_ARGS ((char *[]){"berthd", NULL})
#define ENV(...) ((char *[]){__VA_ARGS__, NULL})

/* The flags under test: every test's teardown frees them, so a failing
 * assertion does not show up as a leak under valgrind. */
static berth_flags f;

static int free_flags(void **state) {
  (void)state;
  berth_flags_free(&f);
  return 0;
}

static int argc_of(char **argv) {
  int n = 0;
  while (argv[n]) n++;
  return n;
}

static void parse_ok(char **argv, char **envp, berth_flags *out) {
  berth_error err = {0};
  int rc = berth_flags_parse(argc_of(argv), argv, envp, out, &err);
  if (rc != 0) fail_msg("refused: %s", err.msg);
}

/* Expects a 400-class error whose message contains want; frees flags. */
static void parse_refused(char **argv, char **envp, const char *want) {
  berth_flags tmp;
  berth_error err = {0};
  int rc = berth_flags_parse(argc_of(argv), argv, envp, &tmp, &err);
  berth_flags_free(&tmp);
  if (rc == 0) fail_msg("accepted, want an error containing '%s'", want);
  assert_int_equal(rc, BERTH_EINVAL);
  assert_int_equal(err.code, BERTH_EINVAL);
  tu_assert_contains(err.msg, want);
}

static size_t list_len(char **list) {
  size_t n = 0;
  while (list && list[n]) n++;
  return n;
}

static void defaults(void **state) {
  (void)state;
  parse_ok(NO_ARGS, NULL, &f);
  assert_string_equal(f.work_dir, "/var/lib/berth");
  assert_string_equal(f.runtime_dir, "/run/berth");
  assert_int_equal(list_len(f.listen), 1);
  assert_string_equal(f.listen[0], "unix:/run/berth/berthd.sock");
  assert_null(f.token_file);
  assert_null(f.agent_id);
  assert_string_equal(f.docker_socket, "/var/run/docker.sock");
  assert_int_equal(f.docker_remove_delay_ns, 6LL * 3600 * 1000000000LL);
  assert_int_equal(f.docker_stop_timeout_ns, 0);
  assert_true(f.docker_kill_orphans);
  assert_null(f.docker_config);
  assert_string_equal(f.sandbox_directory, "/mnt/mesos/sandbox");
  assert_false(f.cgroups_enable_cfs);
  assert_null(f.nvidia_gpu_devices);
  assert_string_equal(f.nvidia_device_root, "/dev");
  assert_int_equal(list_len(f.allowed_host_paths), 0);
  assert_false(f.allow_privileged);
  assert_string_equal(f.log_level, "info");
  assert_false(f.help);
  berth_flags_free(&f);
}

static void flag_equals_value(void **state) {
  (void)state;
  parse_ok(ARGV("--work_dir=/tmp/w", "--docker_stop_timeout=10secs", "--agent_id=a1", "--token_file=/etc/t"), NULL, &f);
  assert_string_equal(f.work_dir, "/tmp/w");
  assert_int_equal(f.docker_stop_timeout_ns, 10000000000LL);
  assert_string_equal(f.agent_id, "a1");
  assert_string_equal(f.token_file, "/etc/t");
  berth_flags_free(&f);
}

static void flag_space_value(void **state) {
  (void)state;
  parse_ok(ARGV("--work_dir", "/tmp/w", "--docker_remove_delay", "500ms", "--sandbox_directory", "/sb"), NULL, &f);
  assert_string_equal(f.work_dir, "/tmp/w");
  assert_int_equal(f.docker_remove_delay_ns, 500000000LL);
  assert_string_equal(f.sandbox_directory, "/sb");
  berth_flags_free(&f);
}

static void value_with_equals_sign_kept_whole(void **state) {
  (void)state;
  parse_ok(ARGV("--work_dir=/a=b"), NULL, &f);
  assert_string_equal(f.work_dir, "/a=b");
  berth_flags_free(&f);
}

static void later_flag_wins(void **state) {
  (void)state;
  parse_ok(ARGV("--work_dir=/one", "--work_dir=/two"), NULL, &f);
  assert_string_equal(f.work_dir, "/two");
  berth_flags_free(&f);
}

static void bool_flag_forms(void **state) {
  (void)state;
  parse_ok(ARGV("--allow_privileged", "--cgroups_enable_cfs=true", "--no-docker_kill_orphans"), NULL, &f);
  assert_true(f.allow_privileged);
  assert_true(f.cgroups_enable_cfs);
  assert_false(f.docker_kill_orphans);
  berth_flags_free(&f);

  parse_ok(ARGV("--docker_kill_orphans=false", "--allow_privileged=1", "--cgroups_enable_cfs=0"), NULL, &f);
  assert_false(f.docker_kill_orphans);
  assert_true(f.allow_privileged);
  assert_false(f.cgroups_enable_cfs);
  berth_flags_free(&f);

  parse_ok(ARGV("--no-docker_kill_orphans", "--docker_kill_orphans"), NULL, &f);
  assert_true(f.docker_kill_orphans);
  berth_flags_free(&f);
}

static void bool_flag_does_not_take_next_argument(void **state) {
  (void)state;
  parse_refused(ARGV("--allow_privileged", "false"), NULL, "unexpected argument 'false'");
}

static void bad_bool_value_refused(void **state) {
  (void)state;
  parse_refused(ARGV("--allow_privileged=yes"), NULL, "--allow_privileged");
}

/* /flags shows every flag, even one whose value is not UTF-8. */
static void flags_json_keeps_non_utf8_values(void **state) {
  (void)state;
  parse_ok(ARGV("--socket_group=g\xff", "--allowed_host_paths=/a\xc3"), NULL, &f);
  json_t *j = berth_flags_json(&f);
  assert_string_equal(json_string_value(json_object_get(j, "socket_group")), "g\xef\xbf\xbd");
  assert_string_equal(json_string_value(json_array_get(json_object_get(j, "allowed_host_paths"), 0)), "/a\xef\xbf\xbd");
  json_decref(j);
  berth_flags_free(&f);
}

static void env_fallback(void **state) {
  (void)state;
  parse_ok(NO_ARGS,
           ENV("PATH=/bin", "BERTH_WORK_DIR=/env/w", "BERTH_DOCKER_STOP_TIMEOUT=3secs", "BERTH_ALLOW_PRIVILEGED=true",
               "BERTH_LISTEN=tcp:127.0.0.1:5051,unix:/tmp/b.sock", "BERTH_DOCKER_KILL_ORPHANS=false"),
           &f);
  assert_string_equal(f.work_dir, "/env/w");
  assert_int_equal(f.docker_stop_timeout_ns, 3000000000LL);
  assert_true(f.allow_privileged);
  assert_false(f.docker_kill_orphans);
  assert_int_equal(list_len(f.listen), 2);
  assert_string_equal(f.listen[0], "tcp:127.0.0.1:5051");
  assert_string_equal(f.listen[1], "unix:/tmp/b.sock");
  berth_flags_free(&f);
}

static void env_unknown_berth_variables_ignored(void **state) {
  (void)state;
  /* BERTH_ADDR and BERTH_TOKEN belong to the CLI. */
  parse_ok(NO_ARGS, ENV("BERTH_ADDR=unix:/x", "BERTH_TOKEN=s3cret", "BERTH_", "BERTHX=1", "WORK_DIR=/no"), &f);
  assert_string_equal(f.work_dir, "/var/lib/berth");
  berth_flags_free(&f);
}

static void argv_takes_precedence_over_env(void **state) {
  (void)state;
  parse_ok(ARGV("--work_dir=/argv", "--no-allow_privileged", "--docker_stop_timeout=1secs"),
           ENV("BERTH_WORK_DIR=/env", "BERTH_ALLOW_PRIVILEGED=true", "BERTH_DOCKER_STOP_TIMEOUT=9secs"), &f);
  assert_string_equal(f.work_dir, "/argv");
  assert_false(f.allow_privileged);
  assert_int_equal(f.docker_stop_timeout_ns, 1000000000LL);
  berth_flags_free(&f);
}

static void argv_listen_replaces_env_listen(void **state) {
  (void)state;
  parse_ok(ARGV("--listen=unix:/argv.sock"), ENV("BERTH_LISTEN=unix:/env.sock"), &f);
  assert_int_equal(list_len(f.listen), 1);
  assert_string_equal(f.listen[0], "unix:/argv.sock");
  berth_flags_free(&f);
}

/* Like --listen, a list given on the command line overrides the
 * environment's instead of widening it: an operator restricting host
 * paths on the command line must not inherit BERTH_ALLOWED_HOST_PATHS=/. */
static void argv_list_replaces_env_list(void **state) {
  (void)state;
  parse_ok(ARGV("--allowed_host_paths=/srv"), ENV("BERTH_ALLOWED_HOST_PATHS=/"), &f);
  assert_int_equal(list_len(f.allowed_host_paths), 1);
  assert_string_equal(f.allowed_host_paths[0], "/srv");
  berth_flags_free(&f);
}

static void repeated_listen_replaces_default_then_appends(void **state) {
  (void)state;
  parse_ok(ARGV("--listen=unix:/a.sock"), NULL, &f);
  assert_int_equal(list_len(f.listen), 1);
  assert_string_equal(f.listen[0], "unix:/a.sock");
  berth_flags_free(&f);

  parse_ok(ARGV("--listen", "unix:/a.sock", "--listen=tcp:127.0.0.1:5051,tcp:[::1]:5052"), NULL, &f);
  assert_int_equal(list_len(f.listen), 3);
  assert_string_equal(f.listen[0], "unix:/a.sock");
  assert_string_equal(f.listen[1], "tcp:127.0.0.1:5051");
  assert_string_equal(f.listen[2], "tcp:[::1]:5052");
  berth_flags_free(&f);
}

static void list_flag_splits_commas_and_appends(void **state) {
  (void)state;
  parse_ok(ARGV("--allowed_host_paths=/srv,,/data", "--allowed_host_paths", "/opt"), NULL, &f);
  assert_int_equal(list_len(f.allowed_host_paths), 3);
  assert_string_equal(f.allowed_host_paths[0], "/srv");
  assert_string_equal(f.allowed_host_paths[1], "/data");
  assert_string_equal(f.allowed_host_paths[2], "/opt");
  berth_flags_free(&f);
}

static void unknown_flag_refused(void **state) {
  (void)state;
  parse_refused(ARGV("--bogus=1"), NULL, "unknown flag '--bogus'");
  parse_refused(ARGV("--bogus"), NULL, "unknown flag '--bogus'");
  parse_refused(ARGV("--work-dir=/x"), NULL, "unknown flag '--work-dir'");
  parse_refused(ARGV("--no-bogus"), NULL, "unknown flag");
  parse_refused(ARGV("--no-allow_privileged=true"), NULL, "unknown flag");
}

/* --no- is only for booleans: "--no-work_dir /x" must not set work_dir. */
static void no_prefix_on_non_bool_refused(void **state) {
  (void)state;
  parse_refused(ARGV("--no-work_dir"), NULL, "unknown flag '--no-work_dir'");
  parse_refused(ARGV("--no-work_dir", "/tmp/x"), NULL, "unknown flag '--no-work_dir'");
}

static void positional_argument_refused(void **state) {
  (void)state;
  parse_refused(ARGV("work"), NULL, "unexpected argument 'work'");
  parse_refused(ARGV("-w"), NULL, "unexpected argument '-w'");
}

static void missing_value_refused(void **state) {
  (void)state;
  parse_refused(ARGV("--work_dir"), NULL, "--work_dir needs a value");
  parse_refused(ARGV("--docker_stop_timeout"), NULL, "--docker_stop_timeout needs a value");
}

static void bad_duration_refused(void **state) {
  (void)state;
  parse_refused(ARGV("--docker_stop_timeout=10"), NULL, "--docker_stop_timeout");
  parse_refused(ARGV("--docker_remove_delay", "soon"), NULL, "--docker_remove_delay");
  parse_refused(ARGV("--docker_remove_delay=-1secs"), NULL, "--docker_remove_delay");
}

static void log_rotation_flags(void **state) {
  (void)state;
  parse_ok(ARGV("--log_max_size=10MB", "--log_max_files=3"), NULL, &f);
  assert_int_equal(f.log_max_size, 10ull << 20);
  assert_int_equal(f.log_max_files, 3);
  berth_flags_free(&f);
  parse_ok(ARGV("--log_max_size=512B"), NULL, &f);
  assert_int_equal(f.log_max_size, 512);
  assert_int_equal(f.log_max_files, 5);
  berth_flags_free(&f);
  parse_refused(ARGV("--log_max_size=10"), NULL, "--log_max_size");
  parse_refused(ARGV("--log_max_size=-1MB"), NULL, "--log_max_size");
  parse_refused(ARGV("--log_max_size=1XB"), NULL, "--log_max_size");
  parse_refused(ARGV("--log_max_size=99999999999999999999TB"), NULL, "--log_max_size");
  parse_refused(ARGV("--log_max_files=0"), NULL, "--log_max_files");
  parse_refused(ARGV("--log_max_files=1001"), NULL, "--log_max_files");
  parse_refused(ARGV("--log_max_files=3x"), NULL, "--log_max_files");
}

static void subscribe_flags(void **state) {
  (void)state;
  parse_ok(NO_ARGS, NULL, &f);
  assert_int_equal(f.subscribe_heartbeat_interval_ns, 15000000000LL);
  assert_int_equal(f.subscriber_queue_size, 256u << 10);
  berth_flags_free(&f);
  parse_ok(ARGV("--subscribe_heartbeat_interval=200ms", "--subscriber_queue_size=4KB"), NULL, &f);
  assert_int_equal(f.subscribe_heartbeat_interval_ns, 200000000LL);
  assert_int_equal(f.subscriber_queue_size, 4096);
  berth_flags_free(&f);
  parse_refused(ARGV("--subscriber_queue_size=4"), NULL, "--subscriber_queue_size");
  parse_refused(ARGV("--subscribe_heartbeat_interval=15"), NULL, "--subscribe_heartbeat_interval");
}

static void image_gc_flags(void **state) {
  (void)state;
  parse_ok(NO_ARGS, NULL, &f);
  assert_int_equal(f.image_gc_interval_ns, 60ll * 1000000000);
  assert_true(f.image_gc_threshold == 90);
  assert_int_equal(f.image_gc_min_age_ns, 3600ll * 1000000000);
  assert_null(f.image_gc_excluded_images);
  berth_flags_free(&f);
  parse_ok(ARGV("--image_gc_interval=0secs", "--image_gc_threshold=12.5%", "--image_gc_min_age=500ms",
                "--image_gc_excluded_images=a:1,127.0.0.1:5000/b:2"),
           NULL, &f);
  assert_int_equal(f.image_gc_interval_ns, 0);
  assert_true(f.image_gc_threshold == 12.5);
  assert_int_equal(f.image_gc_min_age_ns, 500ll * 1000000);
  assert_string_equal(f.image_gc_excluded_images[0], "a:1");
  assert_string_equal(f.image_gc_excluded_images[1], "127.0.0.1:5000/b:2");
  assert_null(f.image_gc_excluded_images[2]);
  berth_flags_free(&f);
  parse_ok(ARGV("--image_gc_threshold=0"), ENV("BERTH_IMAGE_GC_THRESHOLD=100"), &f);
  assert_true(f.image_gc_threshold == 0);
  berth_flags_free(&f);
  parse_refused(ARGV("--image_gc_threshold=101"), NULL, "--image_gc_threshold");
  parse_refused(ARGV("--image_gc_threshold=-1"), NULL, "--image_gc_threshold");
  parse_refused(ARGV("--image_gc_threshold=0.9x"), NULL, "--image_gc_threshold");
  parse_refused(ARGV("--image_gc_threshold=nan"), NULL, "--image_gc_threshold");
  parse_refused(ARGV("--image_gc_threshold="), NULL, "--image_gc_threshold");
  parse_refused(ARGV("--image_gc_min_age=1"), NULL, "--image_gc_min_age");
}

static void bad_env_value_names_the_variable(void **state) {
  (void)state;
  parse_refused(NO_ARGS, ENV("BERTH_DOCKER_STOP_TIMEOUT=10"), "BERTH_DOCKER_STOP_TIMEOUT");
  parse_refused(NO_ARGS, ENV("BERTH_ALLOW_PRIVILEGED=maybe"), "BERTH_ALLOW_PRIVILEGED");
}

static void help_flag(void **state) {
  (void)state;
  parse_ok(ARGV("--help"), NULL, &f);
  assert_true(f.help);
  berth_flags_free(&f);
  parse_ok(ARGV("-h"), NULL, &f);
  assert_true(f.help);
  berth_flags_free(&f);
}

static void flags_json_shows_effective_values(void **state) {
  (void)state;
  parse_ok(ARGV("--listen=unix:/a.sock", "--listen=tcp:127.0.0.1:5051", "--token_file=/etc/berth/token",
                "--docker_stop_timeout=90secs", "--allowed_host_paths=/srv"),
           NULL, &f);
  json_t *j = berth_flags_json(&f);
  tu_assert_json_eq(j,
                    "{\"work_dir\": \"/var/lib/berth\","
                    " \"runtime_dir\": \"/run/berth\","
                    " \"listen\": [\"unix:/a.sock\", \"tcp:127.0.0.1:5051\"],"
                    " \"token_file\": \"/etc/berth/token\","
                    " \"socket_group\": null,"
                    " \"agent_id\": null,"
                    " \"allow_agent_id_change\": false,"
                    " \"docker_socket\": \"/var/run/docker.sock\","
                    " \"docker_remove_delay\": \"6hrs\","
                    " \"docker_stop_timeout\": \"90secs\","
                    " \"bound_client_timeout\": \"1mins\","
                    " \"docker_kill_orphans\": true,"
                    " \"docker_config\": null,"
                    " \"fetcher_cache_dir\": null,"
                    " \"fetcher_cache_size\": \"2GB\","
                    " \"fetcher_max_size\": \"4GB\","
                    " \"fetcher_timeout\": \"1hrs\","
                    " \"fetcher_stall_timeout\": \"1mins\","
                    " \"docker_pull_timeout\": \"10mins\","
                    " \"sandbox_directory\": \"/mnt/mesos/sandbox\","
                    " \"cgroups_enable_cfs\": false,"
                    " \"nvidia_gpu_devices\": null,"
                    " \"nvidia_device_root\": \"/dev\","
                    " \"allowed_host_paths\": [\"/srv\"],"
                    " \"allow_privileged\": false,"
                    " \"docker_allowed_runtimes\": [\"runc\"],"
                    " \"docker_runtime\": \"runc\", \"docker_port_host_ip\": null,"
                    " \"default_container_dns\": null,"
                    " \"log_level\": \"info\", \"log_max_files\": 5, \"log_max_size\": \"0B\","
                    " \"subscribe_heartbeat_interval\": \"15secs\", \"subscriber_queue_size\": \"256KB\","
                    " \"image_gc_interval\": \"1mins\", \"image_gc_threshold\": 90.0,"
                    " \"image_gc_min_age\": \"1hrs\", \"image_gc_excluded_images\": []}");
  json_decref(j);
  berth_flags_free(&f);
}

/* The token is the one secret berthd holds; the flags name the file it
 * comes from.  /flags may show that path (an operator needs it) but never
 * the token itself, whether the file was given on the command line or as
 * BERTH_TOKEN_FILE. */
static void flags_json_shows_the_token_path_never_the_token(void **state) {
  (void)state;
  char dir[] = "/tmp/berth-flags-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64], arg[96], env[96];
  snprintf(path, sizeof(path), "%s/token", dir);
  FILE *tf = fopen(path, "w");
  assert_non_null(tf);
  fputs("s3cret-token-content\n", tf);
  fclose(tf);
  snprintf(arg, sizeof(arg), "--token_file=%s", path);
  snprintf(env, sizeof(env), "BERTH_TOKEN_FILE=%s", path);
  char **argvs[] = {ARGV(arg), NO_ARGS};
  char **envps[] = {NULL, ENV(env)};
  for (int i = 0; i < 2; i++) {
    parse_ok(argvs[i], envps[i], &f);
    json_t *j = berth_flags_json(&f);
    char *text = json_dumps(j, 0);
    assert_string_equal(json_string_value(json_object_get(j, "token_file")), path);
    assert_null(strstr(text, "s3cret"));
    free(text);
    json_decref(j);
    berth_flags_free(&f);
  }
  unlink(path);
  rmdir(dir);
}

static void usage_lists_every_flag(void **state) {
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  assert_non_null(out);
  berth_flags_usage(out);
  fclose(out);
  static const char *const names[] = {"--work_dir",
                                      "--listen",
                                      "--token_file",
                                      "--docker_socket",
                                      "--docker_remove_delay",
                                      "--docker_stop_timeout",
                                      "--docker_kill_orphans",
                                      "--sandbox_directory",
                                      "--cgroups_enable_cfs",
                                      "--allowed_host_paths",
                                      "--allow_privileged",
                                      "(default 6hrs)"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) tu_assert_contains(buf, names[i]);
  free(buf);
}

static void free_twice_is_safe(void **state) {
  (void)state;
  parse_ok(NO_ARGS, NULL, &f);
  berth_flags_free(&f);
  berth_flags_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(defaults, free_flags),
      cmocka_unit_test_teardown(flag_equals_value, free_flags),
      cmocka_unit_test_teardown(flag_space_value, free_flags),
      cmocka_unit_test_teardown(value_with_equals_sign_kept_whole, free_flags),
      cmocka_unit_test_teardown(later_flag_wins, free_flags),
      cmocka_unit_test_teardown(bool_flag_forms, free_flags),
      cmocka_unit_test_teardown(bool_flag_does_not_take_next_argument, free_flags),
      cmocka_unit_test_teardown(bad_bool_value_refused, free_flags),
      cmocka_unit_test_teardown(env_fallback, free_flags),
      cmocka_unit_test_teardown(env_unknown_berth_variables_ignored, free_flags),
      cmocka_unit_test_teardown(argv_takes_precedence_over_env, free_flags),
      cmocka_unit_test_teardown(argv_listen_replaces_env_listen, free_flags),
      cmocka_unit_test_teardown(argv_list_replaces_env_list, free_flags),
      cmocka_unit_test_teardown(repeated_listen_replaces_default_then_appends, free_flags),
      cmocka_unit_test_teardown(list_flag_splits_commas_and_appends, free_flags),
      cmocka_unit_test_teardown(unknown_flag_refused, free_flags),
      cmocka_unit_test_teardown(no_prefix_on_non_bool_refused, free_flags),
      cmocka_unit_test_teardown(positional_argument_refused, free_flags),
      cmocka_unit_test_teardown(missing_value_refused, free_flags),
      cmocka_unit_test_teardown(bad_duration_refused, free_flags),
      cmocka_unit_test_teardown(bad_env_value_names_the_variable, free_flags),
      cmocka_unit_test_teardown(help_flag, free_flags),
      cmocka_unit_test_teardown(flags_json_shows_effective_values, free_flags),
      cmocka_unit_test_teardown(flags_json_shows_the_token_path_never_the_token, free_flags),
      cmocka_unit_test_teardown(usage_lists_every_flag, free_flags),
      cmocka_unit_test_teardown(free_twice_is_safe, free_flags),
      cmocka_unit_test(flags_json_keeps_non_utf8_values),
      cmocka_unit_test_teardown(log_rotation_flags, free_flags),
      cmocka_unit_test_teardown(subscribe_flags, free_flags),
      cmocka_unit_test_teardown(image_gc_flags, free_flags),
  };
  return cmocka_run_group_tests_name("flags", tests, NULL, NULL);
}
