/* Unit tests for the CLI's pure parts: argument parsing, addresses,
 * request JSON, reply interpretation, base64, file-read paths and the
 * numbers `berth stats` shows. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "client/backoff.h"
#include "client/base64.h"
#include "client/calls.h"
#include "client/cli_args.h"
#include "client/client.h"
#include "client/files.h"
#include "client/slurm.h"
#include "client/stats.h"

/* ---- helpers ---- */

static void assert_json_eq(json_t *actual, const char *expected_text) {
  json_error_t jerr;
  json_t *expected = json_loads(expected_text, 0, &jerr);
  if (!expected) fail_msg("bad expected JSON: %s", jerr.text);
  if (!json_equal(actual, expected)) {
    char *got = json_dumps(actual, JSON_COMPACT | JSON_SORT_KEYS);
    char *want = json_dumps(expected, JSON_COMPACT | JSON_SORT_KEYS);
    print_error("got:  %s\nwant: %s\n", got, want);
    free(got);
    free(want);
    json_decref(expected);
    fail();
  }
  json_decref(expected);
}

static json_t *parse(const char *text) {
  json_t *j = json_loads(text, 0, NULL);
  assert_non_null(j);
  return j;
}

/* Runs berth_cli_parse_run on a NULL-terminated list of arguments. */
static int parse_run(berth_run_opts *o, berth_error *err, char **argv) {
  int argc = 0;
  while (argv[argc]) argc++;
  return berth_cli_parse_run(argc, argv, o, err);
}

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})

/* ---- signals ---- */

static void signal_names_with_and_without_sig_prefix_in_any_case(void **state) {
  static const struct {
    const char *text;
    int signo;
  } cases[] = {{"TERM", 15}, {"SIGTERM", 15}, {"sigkill", 9}, {"KILL", 9}, {"USR1", 10}, {"HUP", 1},
               {"INT", 2},   {"QUIT", 3},     {"USR2", 12},   {"9", 9},    {"64", 64},   {"Winch", 28}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int signo = -1;
    berth_error err = {0};
    assert_int_equal(berth_cli_parse_signal(cases[i].text, &signo, &err), 0);
    assert_int_equal(signo, cases[i].signo);
  }
}

static void signal_zero_unknown_and_out_of_range_are_refused(void **state) {
  const char *bad[] = {"0", "65", "FOO", "9x", "SIG", "-9", ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int signo = -1;
    berth_error err = {0};
    assert_int_equal(berth_cli_parse_signal(bad[i], &signo, &err), BERTH_EINVAL);
    assert_int_equal(signo, -1);
  }
  berth_error err = {0};
  int signo;
  berth_cli_parse_signal("FOO", &signo, &err);
  assert_string_equal(err.msg, "unknown signal 'FOO'");
}

/* ---- -e, -v, -p, --network ---- */

static void env_splits_at_first_equals_and_keeps_empty_values(void **state) {
  berth_env_var var;
  bool found = false;
  berth_error err = {0};
  assert_int_equal(berth_cli_parse_env("K=a=b", &var, &found, &err), 0);
  assert_true(found);
  assert_string_equal(var.name, "K");
  assert_string_equal(var.value, "a=b");
  free(var.name);
  free(var.value);
  assert_int_equal(berth_cli_parse_env("EMPTY=", &var, &found, &err), 0);
  assert_string_equal(var.value, "");
  free(var.name);
  free(var.value);
}

static void env_without_value_copies_ours_or_is_skipped(void **state) {
  berth_env_var var;
  bool found = false;
  berth_error err = {0};
  setenv("BERTH_TEST_VAR", "from-env", 1);
  assert_int_equal(berth_cli_parse_env("BERTH_TEST_VAR", &var, &found, &err), 0);
  assert_true(found);
  assert_string_equal(var.value, "from-env");
  free(var.name);
  free(var.value);
  unsetenv("BERTH_TEST_VAR");
  assert_int_equal(berth_cli_parse_env("BERTH_TEST_VAR", &var, &found, &err), 0);
  assert_false(found);
  assert_int_equal(berth_cli_parse_env("=v", &var, &found, &err), BERTH_EINVAL);
}

static void volume_modes_default_to_rw(void **state) {
  berth_volume v;
  berth_error err = {0};
  assert_int_equal(berth_cli_parse_volume("/srv/app:/etc/app", &v, &err), 0);
  assert_string_equal(v.host_path, "/srv/app");
  assert_string_equal(v.container_path, "/etc/app");
  assert_false(v.read_only);
  free(v.host_path);
  free(v.container_path);
  assert_int_equal(berth_cli_parse_volume("/a:/b:ro", &v, &err), 0);
  assert_true(v.read_only);
  free(v.host_path);
  free(v.container_path);
  assert_int_equal(berth_cli_parse_volume("/a:/b:RW", &v, &err), 0);
  assert_false(v.read_only);
  free(v.host_path);
  free(v.container_path);
}

static void volume_malformed_specs_are_refused(void **state) {
  const char *bad[] = {"/a", ":/b", "/a:", "/a:/b:rx", "/a:/b:ro:x", ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    berth_volume v;
    berth_error err = {0};
    assert_int_equal(berth_cli_parse_volume(bad[i], &v, &err), BERTH_EINVAL);
  }
}

static void port_protocol_defaults_to_tcp_and_is_lower_cased(void **state) {
  berth_port p;
  berth_error err = {0};
  assert_int_equal(berth_cli_parse_port("31000:80", &p, &err), 0);
  assert_int_equal(p.host_port, 31000);
  assert_int_equal(p.container_port, 80);
  assert_string_equal(p.protocol, "tcp");
  assert_int_equal(berth_cli_parse_port("53:5353/UDP", &p, &err), 0);
  assert_int_equal(p.container_port, 5353);
  assert_string_equal(p.protocol, "udp");
}

static void port_malformed_specs_are_refused(void **state) {
  const char *bad[] = {"80",         "0:80",  "80:0", "70000:80", "80:65536",  "a:80",
                       "80:80/sctp", "1:2:3", ":80",  "80:",      "80/tcp:80", "99999999999:1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    berth_port p;
    berth_error err = {0};
    assert_int_equal(berth_cli_parse_port(bad[i], &p, &err), BERTH_EINVAL);
  }
}

static void network_modes_are_upper_cased(void **state) {
  const char *mode = NULL;
  berth_error err = {0};
  assert_int_equal(berth_cli_parse_network("host", &mode, &err), 0);
  assert_string_equal(mode, "HOST");
  assert_int_equal(berth_cli_parse_network("Bridge", &mode, &err), 0);
  assert_string_equal(mode, "BRIDGE");
  assert_int_equal(berth_cli_parse_network("NONE", &mode, &err), 0);
  assert_string_equal(mode, "NONE");
  assert_int_equal(berth_cli_parse_network("user", &mode, &err), BERTH_EINVAL);
}

/* ---- ids ---- */

static void ids_follow_the_api_pattern(void **state) {
  assert_true(berth_cli_valid_id("web-1"));
  assert_true(berth_cli_valid_id("A_b.c-9"));
  assert_false(berth_cli_valid_id(""));
  assert_false(berth_cli_valid_id("-web"));
  assert_false(berth_cli_valid_id("a/b"));
  assert_false(berth_cli_valid_id(".."));
  char long_id[66];
  memset(long_id, 'a', 65);
  long_id[65] = '\0';
  assert_false(berth_cli_valid_id(long_id));
  long_id[64] = '\0';
  assert_true(berth_cli_valid_id(long_id));
}

static void generated_ids_are_run_and_8_hex_digits(void **state) {
  char id[16];
  berth_cli_generate_id(id, sizeof(id));
  assert_int_equal(strlen(id), 12);
  assert_memory_equal(id, "run-", 4);
  assert_int_equal(strspn(id + 4, "0123456789abcdef"), 8);
  assert_true(berth_cli_valid_id(id));
}

/* ---- option parser ---- */

static const berth_opt test_opts[] = {{"name", 0, true, 1},
                                      {"env", 'e', true, 2},
                                      {"force_pull", 0, false, 3},
                                      {"detach", 'd', false, 4},
                                      {NULL, 0, false, 0}};

static void args_accept_inline_and_separate_values(void **state) {
  char **argv = ARGV("--name=a", "--name", "b", "-eK=V", "-e", "X=Y", "--force-pull", "-d", "op");
  berth_args a;
  berth_args_init(&a, 9, argv);
  berth_error err = {0};
  int id;
  const char *v;
  const struct {
    int kind, id;
    const char *value;
  } want[] = {{BERTH_ARG_OPTION, 1, "a"},   {BERTH_ARG_OPTION, 1, "b"},  {BERTH_ARG_OPTION, 2, "K=V"},
              {BERTH_ARG_OPTION, 2, "X=Y"}, {BERTH_ARG_OPTION, 3, NULL}, {BERTH_ARG_OPTION, 4, NULL},
              {BERTH_ARG_OPERAND, 0, "op"}, {BERTH_ARG_END, 0, NULL}};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    assert_int_equal(berth_args_next(&a, test_opts, &id, &v, &err), want[i].kind);
    assert_int_equal(id, want[i].id);
    if (want[i].value)
      assert_string_equal(v, want[i].value);
    else if (want[i].kind != BERTH_ARG_OPERAND)
      assert_null(v);
  }
}

static void args_double_dash_ends_options(void **state) {
  char **argv = ARGV("--", "-d", "-");
  berth_args a;
  berth_args_init(&a, 3, argv);
  berth_error err = {0};
  int id;
  const char *v;
  assert_int_equal(berth_args_next(&a, test_opts, &id, &v, &err), BERTH_ARG_OPERAND);
  assert_string_equal(v, "-d");
  assert_int_equal(berth_args_next(&a, test_opts, &id, &v, &err), BERTH_ARG_OPERAND);
  assert_string_equal(v, "-");
}

static void args_unknown_options_and_missing_values_fail(void **state) {
  berth_error err = {0};
  int id;
  const char *v;
  berth_args a;
  berth_args_init(&a, 1, ARGV("--bogus=1"));
  assert_int_equal(berth_args_next(&a, test_opts, &id, &v, &err), BERTH_EINVAL);
  assert_string_equal(err.msg, "unknown option '--bogus'");
  berth_args_init(&a, 1, ARGV("--name"));
  assert_int_equal(berth_args_next(&a, test_opts, &id, &v, &err), BERTH_EINVAL);
  assert_string_equal(err.msg, "option '--name' needs a value");
  /* Bundled flags are read one by one: -d, then the unknown -x. */
  berth_args_init(&a, 1, ARGV("-dx"));
  assert_int_equal(berth_args_next(&a, test_opts, &id, &v, &err), BERTH_ARG_OPTION);
  assert_int_equal(berth_args_next(&a, test_opts, &id, &v, &err), BERTH_EINVAL);
  assert_string_equal(err.msg, "unknown option '-x' in '-dx'");
  berth_args_init(&a, 1, ARGV("--detach=yes"));
  assert_int_equal(berth_args_next(&a, test_opts, &id, &v, &err), BERTH_EINVAL);
}

/* ---- berth run ---- */

static void run_options_stop_at_image(void **state) {
  berth_run_opts o;
  berth_error err = {0};
  assert_int_equal(parse_run(&o, &err, ARGV("--name", "w", "busybox", "ls", "-l", "--name", "x")), 0);
  assert_string_equal(o.name, "w");
  assert_string_equal(o.image, "busybox");
  assert_int_equal(o.n_cmd, 4);
  assert_string_equal(o.cmd[0], "ls");
  assert_string_equal(o.cmd[3], "x");
  berth_run_opts_clear(&o);
}

static void run_ports_imply_bridge_unless_network_given(void **state) {
  berth_run_opts o;
  berth_error err = {0};
  assert_int_equal(parse_run(&o, &err, ARGV("-p", "8080:80", "img")), 0);
  assert_string_equal(o.network, "BRIDGE");
  berth_run_opts_clear(&o);
  assert_int_equal(parse_run(&o, &err, ARGV("--network", "host", "-p", "8080:80", "img")), 0);
  assert_string_equal(o.network, "HOST");
  berth_run_opts_clear(&o);
  assert_int_equal(parse_run(&o, &err, ARGV("img")), 0);
  assert_null(o.network);
  berth_run_opts_clear(&o);
}

static void run_refuses_bad_input(void **state) {
  char **cases[] = {
      ARGV("--name", "bad/id", "img"), ARGV("--cpus", "0", "img"), ARGV("--mem", "x", "img"),
      ARGV("--grace", "3", "img"),     ARGV("-d", "--rm", "img"),  ARGV("--name", "x"),
      ARGV("-v", "/a", "img"),         ARGV("-p", "1", "img"),     ARGV("--network", "x", "img"),
      ARGV("-e", "=1", "img"),         ARGV("--what", "img"),      ARGV(""),
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    berth_run_opts o;
    berth_error err = {0};
    assert_int_equal(parse_run(&o, &err, cases[i]), BERTH_EINVAL);
    berth_run_opts_clear(&o);
  }
}

static void run_help_needs_no_image(void **state) {
  berth_run_opts o;
  berth_error err = {0};
  assert_int_equal(parse_run(&o, &err, ARGV("-e", "A=1", "--help")), 0);
  assert_true(o.help);
  berth_run_opts_clear(&o);
}

static void launch_request_minimal_uses_image_command(void **state) {
  berth_run_opts o;
  berth_error err = {0};
  assert_int_equal(parse_run(&o, &err, ARGV("busybox:local")), 0);
  json_t *req = berth_request_launch(&o, "run-1");
  assert_json_eq(req,
                 "{\"type\":\"LAUNCH_CONTAINER\",\"launch_container\":{"
                 "\"container_id\":{\"value\":\"run-1\"},"
                 "\"command\":{\"shell\":false},"
                 "\"container\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"busybox:local\","
                 "\"privileged\":false,\"force_pull_image\":false}}}}");
  json_decref(req);
  berth_run_opts_clear(&o);
}

static void launch_request_carries_every_flag(void **state) {
  berth_run_opts o;
  berth_error err = {0};
  assert_int_equal(parse_run(&o, &err,
                             ARGV("--name", "web-1", "--cpus", "0.5", "--mem", "64", "-e", "K=V", "-v",
                                  "/srv:/etc/app:ro", "-p", "31000:80", "-p", "53:53/udp", "--force_pull",
                                  "--privileged", "--grace", "3secs", "-d", "img", "sh", "-c", "echo hi")),
                   0);
  assert_true(o.detach);
  json_t *req = berth_request_launch(&o, o.name);
  assert_json_eq(req,
                 "{\"type\":\"LAUNCH_CONTAINER\",\"launch_container\":{"
                 "\"container_id\":{\"value\":\"web-1\"},"
                 "\"command\":{\"shell\":false,\"value\":\"sh\",\"arguments\":[\"-c\",\"echo hi\"],"
                 "\"environment\":{\"variables\":[{\"name\":\"K\",\"value\":\"V\"}]}},"
                 "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.5}},"
                 "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":64.0}}],"
                 "\"container\":{\"type\":\"DOCKER\","
                 "\"volumes\":[{\"container_path\":\"/etc/app\",\"host_path\":\"/srv\",\"mode\":\"RO\"}],"
                 "\"docker\":{\"image\":\"img\",\"network\":\"BRIDGE\","
                 "\"port_mappings\":[{\"host_port\":31000,\"container_port\":80,\"protocol\":\"tcp\"},"
                 "{\"host_port\":53,\"container_port\":53,\"protocol\":\"udp\"}],"
                 "\"privileged\":true,\"force_pull_image\":true}},"
                 "\"kill_policy\":{\"grace_period\":{\"nanoseconds\":3000000000}}}}");
  json_decref(req);
  berth_run_opts_clear(&o);
}

static void launch_request_refuses_invalid_utf8(void **state) {
  berth_run_opts o;
  berth_error err = {0};
  assert_int_equal(parse_run(&o, &err, ARGV("img", "echo", "\xff\xfe")), 0);
  assert_null(berth_request_launch(&o, "x"));
  berth_run_opts_clear(&o);
}

static void container_calls_have_the_mesos_shape(void **state) {
  json_t *req = berth_request_wait("a");
  assert_json_eq(req,
                 "{\"type\":\"WAIT_CONTAINER\",\"wait_container\":"
                 "{\"container_id\":{\"value\":\"a\"}}}");
  json_decref(req);
  req = berth_request_kill("a", 0);
  assert_json_eq(req,
                 "{\"type\":\"KILL_CONTAINER\",\"kill_container\":"
                 "{\"container_id\":{\"value\":\"a\"}}}");
  json_decref(req);
  req = berth_request_kill("a", 15);
  assert_json_eq(req,
                 "{\"type\":\"KILL_CONTAINER\",\"kill_container\":"
                 "{\"container_id\":{\"value\":\"a\"},\"signal\":15}}");
  json_decref(req);
  req = berth_request_remove("a");
  assert_json_eq(req,
                 "{\"type\":\"REMOVE_CONTAINER\",\"remove_container\":"
                 "{\"container_id\":{\"value\":\"a\"}}}");
  json_decref(req);
  req = berth_request_get_containers();
  assert_json_eq(req, "{\"type\":\"GET_CONTAINERS\"}");
  json_decref(req);
  assert_null(berth_request_wait("\xc3"));
}

/* ---- berth update ---- */

static void limit_accepts_positive_numbers_and_inf(void **state) {
  double v = 0;
  berth_error err = {0};
  assert_int_equal(berth_cli_parse_limit("1.5", "--cpu-limit", &v, &err), 0);
  assert_true(v == 1.5);
  assert_int_equal(berth_cli_parse_limit("inf", "--cpu-limit", &v, &err), 0);
  assert_true(isinf(v) && v > 0);
  assert_int_equal(berth_cli_parse_limit("INF", "--mem-limit", &v, &err), 0);
  assert_true(isinf(v));
  const char *bad[] = {"0", "-1", "x", "", "nan", "infinity", "1e999"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    v = 7;
    assert_int_equal(berth_cli_parse_limit(bad[i], "--mem-limit", &v, &err), BERTH_EINVAL);
    assert_true(v == 7);
  }
  berth_cli_parse_limit("x", "--mem-limit", &v, &err);
  assert_string_equal(err.msg, "invalid --mem-limit 'x': expected a positive number or inf");
}

static void update_request_carries_resources_and_limits(void **state) {
  berth_update_opts o = {.has_cpus = true,
                         .cpus = 1,
                         .has_mem = true,
                         .mem_mb = 128,
                         .has_cpus_limit = true,
                         .cpus_limit = 2.5,
                         .has_mem_limit = true,
                         .mem_limit_mb = 256};
  json_t *req = berth_request_update("web-1", &o);
  assert_json_eq(req,
                 "{\"type\":\"UPDATE_CONTAINER\",\"update_container\":{"
                 "\"container_id\":{\"value\":\"web-1\"},"
                 "\"resources\":["
                 "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1.0}},"
                 "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":128.0}}],"
                 "\"limits\":{\"cpus\":{\"value\":2.5},\"mem\":{\"value\":256.0}}}}");
  json_decref(req);
}

static void update_request_leaves_out_what_is_not_given(void **state) {
  berth_update_opts o = {.has_cpus = true, .cpus = 0.5};
  json_t *req = berth_request_update("a", &o);
  assert_json_eq(req,
                 "{\"type\":\"UPDATE_CONTAINER\",\"update_container\":{"
                 "\"container_id\":{\"value\":\"a\"},\"resources\":["
                 "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.5}}]}}");
  json_decref(req);
  o = (berth_update_opts){.has_mem_limit = true, .mem_limit_mb = 64};
  req = berth_request_update("a", &o);
  assert_json_eq(req,
                 "{\"type\":\"UPDATE_CONTAINER\",\"update_container\":{"
                 "\"container_id\":{\"value\":\"a\"},"
                 "\"limits\":{\"mem\":{\"value\":64.0}}}}");
  json_decref(req);
}

static void update_request_spells_unlimited_as_inf(void **state) {
  berth_update_opts o = {.has_cpus_limit = true,
                         .cpus_limit = INFINITY,
                         .has_mem = true,
                         .mem_mb = 64,
                         .has_mem_limit = true,
                         .mem_limit_mb = INFINITY};
  json_t *req = berth_request_update("a", &o);
  assert_json_eq(req,
                 "{\"type\":\"UPDATE_CONTAINER\",\"update_container\":{"
                 "\"container_id\":{\"value\":\"a\"},\"resources\":["
                 "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":64.0}}],"
                 "\"limits\":{\"cpus\":{\"value\":\"inf\"},\"mem\":{\"value\":\"inf\"}}}}");
  json_decref(req);
  assert_null(berth_request_update("\xc3", &o));
}

/* ---- replies ---- */

static void wait_exit_code_prefers_exit_code_then_signal_then_killed(void **state) {
  const struct {
    const char *reply;
    int code;
  } cases[] = {
      {"{\"exit_status\":256,\"exit_code\":1,\"state\":\"TASK_FAILED\"}", 1},
      {"{\"exit_status\":9,\"state\":\"TASK_KILLED\"}", 137},
      {"{\"exit_status\":768,\"state\":\"TASK_FAILED\"}", 3},
      {"{\"state\":\"TASK_KILLED\",\"reason\":\"REASON_TASK_KILLED_DURING_LAUNCH\"}", 137},
      {"{\"exit_code\":0,\"state\":\"TASK_FINISHED\"}", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_t *w = parse(cases[i].reply);
    int code = -1;
    berth_error err = {0};
    assert_int_equal(berth_wait_exit_code(w, &code, &err), 0);
    assert_int_equal(code, cases[i].code);
    json_decref(w);
  }
}

static void wait_without_code_fails_with_the_message(void **state) {
  json_t *w = parse(
      "{\"state\":\"TASK_FAILED\",\"reason\":\"REASON_CONTAINER_LAUNCH_FAILED\","
      "\"message\":\"Failed to pull image 'x': not found\"}");
  int code = -1;
  berth_error err = {0};
  assert_true(berth_wait_exit_code(w, &code, &err) < 0);
  assert_string_equal(err.msg, "Failed to pull image 'x': not found");
  json_decref(w);
}

static void container_status_shows_state_and_code(void **state) {
  json_t *list = parse(
      "[{\"container_id\":{\"value\":\"a\"},\"stage\":\"TERMINATED\","
      "\"termination\":{\"state\":\"TASK_FINISHED\",\"exit_code\":0}},"
      "{\"container_id\":{\"value\":\"b\"},\"stage\":\"RUNNING\"},"
      "{\"container_id\":{\"value\":\"c\"},\"stage\":\"TERMINATED\","
      "\"termination\":{\"state\":\"TASK_KILLED\"}}]");
  char buf[64];
  berth_container_status(berth_containers_find(list, "a"), buf, sizeof(buf));
  assert_string_equal(buf, "TASK_FINISHED (0)");
  berth_container_status(berth_containers_find(list, "b"), buf, sizeof(buf));
  assert_string_equal(buf, "running");
  berth_container_status(berth_containers_find(list, "c"), buf, sizeof(buf));
  assert_string_equal(buf, "TASK_KILLED");
  assert_null(berth_containers_find(list, "d"));
  json_decref(list);
}

static void container_status_shows_pull_progress(void **state) {
  json_t *list = parse(
      "[{\"container_id\":{\"value\":\"p\"},\"stage\":\"PULLING\","
      "\"pull\":{\"layers_done\":1,\"layers_total\":3,\"bytes_done\":1500000,"
      "\"bytes_total\":4000000}},"
      "{\"container_id\":{\"value\":\"q\"},\"stage\":\"PULLING\","
      "\"pull\":{\"layers_done\":0,\"layers_total\":0,\"bytes_done\":0,\"bytes_total\":0}}]");
  char buf[64];
  berth_container_status(berth_containers_find(list, "p"), buf, sizeof(buf));
  assert_string_equal(buf, "pulling 1/3 layers 1.5/4.0 MB");
  berth_container_status(berth_containers_find(list, "q"), buf, sizeof(buf));
  assert_string_equal(buf, "pulling 0/0 layers");
  json_decref(list);
}

static void container_status_shows_health(void **state) {
  json_t *list = parse(
      "[{\"container_id\":{\"value\":\"h\"},\"stage\":\"RUNNING\",\"health\":{\"status\":\"HEALTHY\"}},"
      "{\"container_id\":{\"value\":\"u\"},\"stage\":\"RUNNING\",\"health\":{\"status\":\"UNHEALTHY\"}},"
      "{\"container_id\":{\"value\":\"s\"},\"stage\":\"RUNNING\",\"health\":{\"status\":\"STARTING\"}},"
      "{\"container_id\":{\"value\":\"x\"},\"stage\":\"RUNNING\",\"health\":{\"status\":\"%s\\n\"}},"
      "{\"container_id\":{\"value\":\"d\"},\"stage\":\"DESTROYING\",\"health\":{\"status\":\"UNHEALTHY\"}}]");
  char buf[64];
  berth_container_status(berth_containers_find(list, "h"), buf, sizeof(buf));
  assert_string_equal(buf, "running (healthy)");
  berth_container_status(berth_containers_find(list, "u"), buf, sizeof(buf));
  assert_string_equal(buf, "running (unhealthy)");
  berth_container_status(berth_containers_find(list, "s"), buf, sizeof(buf));
  assert_string_equal(buf, "running (health: starting)");
  berth_container_status(berth_containers_find(list, "x"), buf, sizeof(buf));
  assert_string_equal(buf, "running");
  berth_container_status(berth_containers_find(list, "d"), buf, sizeof(buf));
  assert_string_equal(buf, "destroying");
  char small[12];
  berth_container_status(berth_containers_find(list, "h"), small, sizeof(small));
  assert_string_equal(small, "running (he");
  json_decref(list);
}

static void containers_reply_missing_list_is_empty(void **state) {
  berth_error err = {0};
  json_t *list = NULL;
  json_t *reply = parse("{\"type\":\"GET_CONTAINERS\",\"get_containers\":{}}");
  assert_int_equal(berth_reply_containers(reply, &list, &err), 0);
  assert_int_equal(json_array_size(list), 0);
  json_decref(list);
  json_decref(reply);
  reply = parse("{\"type\":\"GET_CONTAINERS\"}");
  assert_true(berth_reply_containers(reply, &list, &err) < 0);
  json_decref(reply);
}

/* ---- addresses, tokens, responses ---- */

static void addr_forms_parse(void **state) {
  berth_addr a;
  berth_error err = {0};
  assert_int_equal(berth_addr_parse("unix:/run/berth/berthd.sock", &a, &err), 0);
  assert_int_equal(a.kind, BERTH_ADDR_UNIX);
  assert_string_equal(a.path, "/run/berth/berthd.sock");
  berth_addr_clear(&a);
  assert_int_equal(berth_addr_parse("/tmp/x.sock", &a, &err), 0);
  assert_int_equal(a.kind, BERTH_ADDR_UNIX);
  assert_string_equal(a.path, "/tmp/x.sock");
  berth_addr_clear(&a);
  assert_int_equal(berth_addr_parse("tcp:127.0.0.1:5051", &a, &err), 0);
  assert_int_equal(a.kind, BERTH_ADDR_TCP);
  assert_string_equal(a.host, "127.0.0.1");
  assert_int_equal(a.port, 5051);
  berth_addr_clear(&a);
  assert_int_equal(berth_addr_parse("tcp:[::1]:80", &a, &err), 0);
  assert_string_equal(a.host, "::1");
  assert_int_equal(a.port, 80);
  berth_addr_clear(&a);
}

static void addr_malformed_forms_are_refused(void **state) {
  const char *bad[] = {"",           "unix:",     "tcp:host",     "tcp::80",   "tcp:h:0",  "tcp:h:x", "tcp:h:99999",
                       "tcp:::1:80", "tcp:[::1]", "localhost:80", "http://h/", "tcp:h:80x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    berth_addr a;
    berth_error err = {0};
    assert_int_equal(berth_addr_parse(bad[i], &a, &err), BERTH_EINVAL);
    assert_null(a.path);
    assert_null(a.host);
  }
}

static void token_file_is_trimmed_and_checked(void **state) {
  char path[] = "/tmp/berth-test-token-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "  s3cret\n", 9), 9);
  char *token = NULL;
  berth_error err = {0};
  assert_int_equal(berth_token_read_file(path, &token, &err), 0);
  assert_string_equal(token, "s3cret");
  free(token);
  assert_int_equal(ftruncate(fd, 0), 0);
  assert_int_equal(berth_token_read_file(path, &token, &err), BERTH_EINVAL);
  assert_int_equal(pwrite(fd, "a\001b", 3, 0), 3);
  assert_int_equal(berth_token_read_file(path, &token, &err), BERTH_EINVAL);
  close(fd);
  unlink(path);
  assert_true(berth_token_read_file(path, &token, &err) < 0);
}

static void tcp_client_needs_a_token(void **state) {
  berth_addr a;
  berth_error err = {0};
  berth_client *c = NULL;
  assert_int_equal(berth_addr_parse("tcp:127.0.0.1:5051", &a, &err), 0);
  assert_int_equal(berth_client_new(&a, NULL, &c, &err), BERTH_EINVAL);
  assert_null(c);
  assert_int_equal(berth_client_new(&a, "tok", &c, &err), 0);
  assert_string_equal(berth_client_addr_text(c), "tcp:127.0.0.1:5051");
  berth_client_free(c);
  berth_addr_clear(&a);
}

static void error_reply_keeps_first_line_and_maps_status(void **state) {
  berth_error err = {0};
  berth_response r = {.status = 404, .body = (char *)"  Unknown container 'x'\nmore\n"};
  assert_int_equal(berth_response_error(&r, &err), BERTH_ENOENT);
  assert_string_equal(err.msg, "Unknown container 'x'");
  r = (berth_response){.status = 409, .body = (char *)""};
  assert_int_equal(berth_response_error(&r, &err), BERTH_ECONFLICT);
  assert_string_equal(err.msg, "berthd replied HTTP 409");
  r = (berth_response){.status = 400, .body = (char *)"bad field 'x'"};
  assert_int_equal(berth_response_error(&r, &err), BERTH_EINVAL);
  r = (berth_response){.status = 500, .body = NULL};
  assert_int_equal(berth_response_error(&r, &err), BERTH_EINTERNAL);
}

/* ---- base64 and /files/read ---- */

static void base64_decodes_padded_unpadded_and_binary(void **state) {
  const struct {
    const char *in;
    const char *out;
    size_t len;
  } cases[] = {{"", "", 0},    {"QQ==", "A", 1}, {"QUI=", "AB", 2},       {"QUJD", "ABC", 3},
               {"QQ", "A", 1}, {"QUI", "AB", 2}, {"AP8A", "\0\xff\0", 3}, {"aGVs\nbG8=", "hello", 5}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    unsigned char *out = NULL;
    size_t len = 99;
    berth_error err = {0};
    assert_int_equal(berth_base64_decode(cases[i].in, strlen(cases[i].in), &out, &len, &err), 0);
    assert_int_equal(len, cases[i].len);
    assert_memory_equal(out, cases[i].out, len);
    free(out);
  }
}

static void base64_rejects_garbage(void **state) {
  const char *bad[] = {"Q", "Q===", "QQ==QQ==", "QQ!=", "hello world!"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    unsigned char *out = NULL;
    size_t len = 0;
    berth_error err = {0};
    assert_int_equal(berth_base64_decode(bad[i], strlen(bad[i]), &out, &len, &err), BERTH_EIO);
    assert_null(out);
  }
}

static void files_read_path_escapes_the_query(void **state) {
  char *path = berth_files_read_path("web-1", "stdout", 65536, 1024);
  assert_string_equal(path,
                      "/files/read?path=/sandboxes/web-1/stdout&offset=65536&length=1024"
                      "&encoding=base64");
  free(path);
  char *escaped = berth_url_escape("a b&c=d/é");
  assert_string_equal(escaped, "a%20b%26c%3Dd/%C3%A9");
  free(escaped);
}

static void files_read_reply_decodes_and_checks_offset(void **state) {
  berth_chunk chunk;
  berth_error err = {0};
  json_t *reply = parse("{\"data\":\"aGk=\",\"offset\":7}");
  assert_int_equal(berth_files_parse_read(reply, 0, &chunk, &err), BERTH_EIO);
  assert_null(chunk.data);
  assert_int_equal(berth_files_parse_read(reply, 7, &chunk, &err), 0);
  assert_int_equal(chunk.len, 2);
  assert_memory_equal(chunk.data, "hi", 2);
  assert_int_equal(chunk.offset, 7);
  berth_chunk_clear(&chunk);
  json_decref(reply);
  reply = parse("{\"data\":\"\"}");
  assert_int_equal(berth_files_parse_read(reply, 42, &chunk, &err), 0);
  assert_int_equal(chunk.len, 0);
  assert_int_equal(chunk.offset, 42);
  berth_chunk_clear(&chunk);
  json_decref(reply);
  reply = parse("{\"offset\":0}");
  assert_true(berth_files_parse_read(reply, 0, &chunk, &err) < 0);
  json_decref(reply);
}

/* ---- berth stats ---- */

static void stats_bytes_use_docker_units(void **state) {
  const struct {
    double bytes;
    berth_units units;
    const char *text;
  } cases[] = {
      {0, BERTH_UNITS_BINARY, "0B"},
      {512, BERTH_UNITS_BINARY, "512B"},
      {1023, BERTH_UNITS_BINARY, "1023B"},
      {1024, BERTH_UNITS_BINARY, "1KiB"},
      {12595, BERTH_UNITS_BINARY, "12.3KiB"},
      {1.2 * 1024 * 1024, BERTH_UNITS_BINARY, "1.2MiB"},
      {1.17 * 1024 * 1024, BERTH_UNITS_BINARY, "1.17MiB"},
      {64.0 * 1024 * 1024, BERTH_UNITS_BINARY, "64MiB"},
      {123456789, BERTH_UNITS_BINARY, "118MiB"},
      {1048575, BERTH_UNITS_BINARY, "1MiB"}, /* 1023.999KiB would print as 1024KiB */
      {3.0 * 1024 * 1024 * 1024, BERTH_UNITS_BINARY, "3GiB"},
      {648, BERTH_UNITS_DECIMAL, "648B"},
      {1500, BERTH_UNITS_DECIMAL, "1.5kB"},
      {999999, BERTH_UNITS_DECIMAL, "1MB"},
      {2345678, BERTH_UNITS_DECIMAL, "2.35MB"},
      {-5, BERTH_UNITS_DECIMAL, "0B"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char buf[32];
    berth_stats_format_bytes(cases[i].bytes, cases[i].units, buf, sizeof(buf));
    assert_string_equal(buf, cases[i].text);
  }
}

static void stats_cpu_percent_is_cpu_time_over_elapsed_time(void **state) {
  json_t *a = parse(
      "{\"timestamp\":100.0,\"cpus_user_time_secs\":1.0,"
      "\"cpus_system_time_secs\":0.5}");
  json_t *b = parse(
      "{\"timestamp\":102.0,\"cpus_user_time_secs\":1.8,"
      "\"cpus_system_time_secs\":0.7}");
  double p = -1;
  assert_true(berth_stats_cpu_percent(a, b, &p));
  assert_float_equal(p, 50.0, 1e-9); /* 1 cpu second over 2 seconds */
  json_t *c = parse(
      "{\"timestamp\":103,\"cpus_user_time_secs\":3,"
      "\"cpus_system_time_secs\":1}"); /* integers count too */
  assert_true(berth_stats_cpu_percent(b, c, &p));
  assert_float_equal(p, 150.0, 1e-9);
  json_decref(a);
  json_decref(b);
  json_decref(c);
}

static void stats_cpu_percent_unknown_without_progress_or_fields(void **state) {
  json_t *a = parse(
      "{\"timestamp\":100.0,\"cpus_user_time_secs\":1.0,"
      "\"cpus_system_time_secs\":0.5}");
  json_t *same_time = parse(
      "{\"timestamp\":100.0,\"cpus_user_time_secs\":2.0,"
      "\"cpus_system_time_secs\":0.5}");
  json_t *backwards = parse(
      "{\"timestamp\":101.0,\"cpus_user_time_secs\":0.1,"
      "\"cpus_system_time_secs\":0.1}");
  json_t *missing = parse("{\"timestamp\":101.0,\"cpus_user_time_secs\":2.0}");
  double p = -1;
  assert_false(berth_stats_cpu_percent(a, same_time, &p));
  assert_false(berth_stats_cpu_percent(a, backwards, &p));
  assert_false(berth_stats_cpu_percent(a, missing, &p));
  assert_false(berth_stats_cpu_percent(NULL, a, &p));
  assert_true(p == -1);
  json_decref(a);
  json_decref(same_time);
  json_decref(backwards);
  json_decref(missing);
}

#define STATS(t, user, rss_etc) \
  "{\"timestamp\":" t ",\"cpus_user_time_secs\":" user ",\"cpus_system_time_secs\":0.0" rss_etc "}"

static void stats_entries_without_ids_are_the_running_containers(void **state) {
  json_t *prev = parse(
      "[{\"container_id\":{\"value\":\"a\"},\"stage\":\"RUNNING\","
      "\"resource_statistics\":" STATS("10.0", "1.0", "") "}]");
  json_t *cur = parse("[{\"container_id\":{\"value\":\"a\"},\"stage\":\"RUNNING\","
                      "\"resource_statistics\":" STATS("11.0", "1.25", "") "},"
                      "{\"container_id\":{\"value\":\"b\"},\"stage\":\"TERMINATED\"},"
                      "{\"container_id\":{\"value\":\"c\"},\"stage\":\"PULLING\"},"
                      "{\"container_id\":{\"value\":\"d\"},\"stage\":\"RUNNING\","
                      "\"resource_statistics\":" STATS("11.0", "0.5", "") "}]");
  json_t *entries = berth_stats_entries(prev, cur, NULL, 0);
  /* d started between the samples: no rate yet. */
  assert_json_eq(entries, "[{\"container_id\":\"a\",\"cpu_percent\":25.0,"
                          "\"resource_statistics\":" STATS("11.0", "1.25", "") "},"
                          "{\"container_id\":\"d\",\"cpu_percent\":null,"
                          "\"resource_statistics\":" STATS("11.0", "0.5", "") "}]");
  json_decref(entries);
  entries = berth_stats_entries(NULL, cur, NULL, 0);
  assert_int_equal(json_array_size(entries), 2);
  assert_true(json_is_null(json_object_get(json_array_get(entries, 0), "cpu_percent")));
  json_decref(entries);
  json_decref(prev);
  json_decref(cur);
}

static void stats_entries_with_ids_follow_their_order(void **state) {
  json_t *cur = parse("[{\"container_id\":{\"value\":\"a\"},\"stage\":\"RUNNING\","
                      "\"resource_statistics\":" STATS("11.0", "1.25", "") "},"
                      "{\"container_id\":{\"value\":\"b\"},\"stage\":\"TERMINATED\"}]");
  char *ids[] = {"b", "a", "gone"};
  json_t *entries = berth_stats_entries(cur, cur, ids, 3);
  /* The same sample twice: no time passed, so no rate. */
  assert_json_eq(entries, "[{\"container_id\":\"b\",\"cpu_percent\":null,"
                          "\"resource_statistics\":null},"
                          "{\"container_id\":\"a\",\"cpu_percent\":null,"
                          "\"resource_statistics\":" STATS("11.0", "1.25", "") "},"
                          "{\"container_id\":\"gone\",\"cpu_percent\":null,"
                          "\"resource_statistics\":null}]");
  json_decref(entries);
  json_decref(cur);
}

static void stats_row_formats_every_column(void **state) {
  json_t *entry = parse(
      "{\"container_id\":\"web-1\",\"cpu_percent\":99.456,\"resource_statistics\":"
      "{\"processes\":3,\"cpus_limit\":0.5,\"mem_total_bytes\":1363149,"
      "\"mem_cache_bytes\":104857,\"mem_limit_bytes\":67108864,"
      "\"net_rx_bytes\":1500,\"net_tx_bytes\":648}}");
  char cells[BERTH_STATS_COLUMNS][BERTH_STATS_CELL];
  berth_stats_row(entry, cells);
  assert_string_equal(cells[0], "web-1");
  assert_string_equal(cells[1], "99.46%");
  assert_string_equal(cells[2], "0.5");
  assert_string_equal(cells[3], "1.2MiB / 64MiB"); /* 1.3 MiB used, 0.1 MiB of it cache */
  assert_string_equal(cells[4], "1.88%");
  assert_string_equal(cells[5], "1.5kB / 648B");
  assert_string_equal(cells[6], "3");
  json_decref(entry);
}

static void stats_row_marks_absent_limits_and_unknown_values(void **state) {
  json_t *entry = parse(
      "{\"container_id\":\"a\",\"cpu_percent\":null,\"resource_statistics\":"
      "{\"processes\":1,\"cpus_limit\":0,\"mem_total_bytes\":2048,"
      "\"mem_cache_bytes\":4096,\"mem_limit_bytes\":0,"
      "\"net_rx_bytes\":0,\"net_tx_bytes\":0}}");
  char cells[BERTH_STATS_COLUMNS][BERTH_STATS_CELL];
  berth_stats_row(entry, cells);
  assert_string_equal(cells[1], "--");
  assert_string_equal(cells[2], "-");
  assert_string_equal(cells[3], "0B / -"); /* cache above total: never negative */
  assert_string_equal(cells[4], "--");
  assert_string_equal(cells[5], "0B / 0B");
  assert_string_equal(cells[6], "1");
  json_decref(entry);
  entry = parse("{\"container_id\":\"b\",\"cpu_percent\":null,\"resource_statistics\":null}");
  berth_stats_row(entry, cells);
  assert_string_equal(cells[0], "b");
  for (int col = 1; col < BERTH_STATS_COLUMNS; col++) assert_string_equal(cells[col], "--");
  json_decref(entry);
}

/* ---- berth run inside a Slurm job step ---- */

/* A fake environment: NULL-terminated "NAME=VALUE" strings. */
static const char *fake_env(const char *name, void *data) {
  size_t n = strlen(name);
  for (const char *const *e = data; *e; e++)
    if (!strncmp(*e, name, n) && (*e)[n] == '=') return *e + n + 1;
  return NULL;
}

#define ENV(...) ((const char *[]){__VA_ARGS__, NULL})

static int slurm_parse(berth_run_opts *o, berth_slurm *s, berth_error *err, const char **env, char **argv, int argc) {
  if (berth_cli_parse_run(argc, argv, o, err) < 0) return -100;
  return berth_slurm_apply(o, fake_env, (void *)env, s, err);
}

#define SLURM_RUN(o, s, err, env, ...) \
  slurm_parse(o, s, err, env, (char *[]){__VA_ARGS__, NULL}, (int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)))

static void slurm_step_names_sizes_and_labels_the_launch(void **state) {
  berth_run_opts o = {0};
  berth_slurm s;
  berth_error err = {0};
  const char **env = ENV("SLURM_JOB_ID=4711", "SLURM_STEP_ID=2", "SLURM_PROCID=3", "SLURM_CPUS_PER_TASK=2",
                         "SLURM_CPUS_ON_NODE=8", "SLURM_MEM_PER_NODE=300", "SLURM_MEM_PER_CPU=50");
  assert_int_equal(SLURM_RUN(&o, &s, &err, env, "img", "true"), 1);
  json_t *req = berth_request_launch(&o, o.name);
  assert_json_eq(req,
                 "{\"type\":\"LAUNCH_CONTAINER\",\"launch_container\":{"
                 "\"container_id\":{\"value\":\"slurm-4711.2.3\"},"
                 "\"command\":{\"shell\":false,\"value\":\"true\",\"arguments\":[]},"
                 "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":2.0}},"
                 "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":300.0}}],"
                 "\"container\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"img\","
                 "\"privileged\":false,\"force_pull_image\":false,"
                 "\"parameters\":[{\"key\":\"label\",\"value\":\"slurm.job_id=4711\"}]}}}}");
  json_decref(req);
  berth_run_opts_clear(&o);
}

static void slurm_falls_back_to_cpus_on_node_and_mem_per_cpu(void **state) {
  berth_run_opts o = {0};
  berth_slurm s;
  berth_error err = {0};
  const char **env = ENV("SLURM_JOB_ID=9", "SLURM_STEP_ID=0", "SLURM_CPUS_ON_NODE=3", "SLURM_MEM_PER_CPU=100");
  assert_int_equal(SLURM_RUN(&o, &s, &err, env, "img"), 1);
  assert_string_equal(o.name, "slurm-9.0.0"); /* no SLURM_PROCID: task 0 */
  assert_true(o.has_cpus);
  assert_true(o.cpus == 3.0);
  assert_true(o.has_mem);
  assert_true(o.mem_mb == 300.0);
  berth_run_opts_clear(&o);
}

static void slurm_command_line_wins(void **state) {
  berth_run_opts o = {0};
  berth_slurm s;
  berth_error err = {0};
  const char **env = ENV("SLURM_JOB_ID=9", "SLURM_STEP_ID=1", "SLURM_CPUS_PER_TASK=4", "SLURM_MEM_PER_CPU=100");
  assert_int_equal(SLURM_RUN(&o, &s, &err, env, "--name", "mine", "--cpus", "0.5", "img"), 1);
  assert_string_equal(o.name, "mine");
  assert_true(o.cpus == 0.5);
  assert_true(o.mem_mb == 50.0); /* per-cpu memory follows the cpus asked for */
  berth_run_opts_clear(&o);
  assert_int_equal(SLURM_RUN(&o, &s, &err, env, "--mem", "64", "img"), 1);
  assert_true(o.cpus == 4.0);
  assert_true(o.mem_mb == 64.0);
  assert_string_equal(o.label, "slurm.job_id=9");
  berth_run_opts_clear(&o);
}

static void slurm_absent_leaves_run_alone(void **state) {
  berth_run_opts o = {0};
  berth_slurm s;
  berth_error err = {0};
  const char **env = ENV("SLURM_CPUS_ON_NODE=3", "SLURM_MEM_PER_NODE=100");
  assert_int_equal(SLURM_RUN(&o, &s, &err, env, "img"), 0);
  assert_null(o.name);
  assert_false(o.has_cpus);
  assert_false(o.has_mem);
  assert_null(o.label);
  berth_run_opts_clear(&o);
}

static void slurm_batch_script_and_unlimited_memory(void **state) {
  berth_run_opts o = {0};
  berth_slurm s;
  berth_error err = {0};
  const char **env = ENV("SLURM_JOB_ID=12", "SLURM_MEM_PER_NODE=0");
  assert_int_equal(SLURM_RUN(&o, &s, &err, env, "img"), 1);
  assert_string_equal(o.name, "slurm-12.batch.0");
  assert_false(o.has_cpus);
  assert_false(o.has_mem); /* 0: no memory asked of Slurm */
  berth_run_opts_clear(&o);
}

static void slurm_refuses_values_that_are_not_numbers(void **state) {
  static const char *const bad[] = {"SLURM_JOB_ID=1/../x",    "SLURM_STEP_ID=-1",
                                    "SLURM_PROCID=1 ",        "SLURM_CPUS_PER_TASK=1.5",
                                    "SLURM_MEM_PER_NODE=10G", "SLURM_MEM_PER_CPU=9999999999999999999"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    berth_run_opts o = {0};
    berth_slurm s;
    berth_error err = {0};
    const char **env = ENV(i == 0 ? bad[0] : "SLURM_JOB_ID=5", bad[i]);
    assert_int_equal(SLURM_RUN(&o, &s, &err, env, "img"), BERTH_EINVAL);
    char var[32];
    snprintf(var, sizeof(var), "%.*s", (int)(strchr(bad[i], '=') - bad[i]), bad[i]);
    assert_non_null(strstr(err.msg, var));
    berth_run_opts_clear(&o);
  }
}

static void wait_bound_request_asks_kill_on_disconnect(void **state) {
  json_t *req = berth_request_wait_bound("c1");
  assert_json_eq(req,
                 "{\"type\":\"WAIT_CONTAINER\",\"wait_container\":{\"container_id\":{\"value\":\"c1\"},"
                 "\"kill_on_disconnect\":true}}");
  json_decref(req);
}

/* ---- reconnecting: backoff and resumed following ---- */

static void backoff_doubles_up_to_its_cap(void **state) {
  (void)state;
  berth_backoff b;
  berth_backoff_init(&b, 100, 1000, 60000);
  assert_false(berth_backoff_in_outage(&b));
  int64_t want[] = {100, 200, 400, 800, 1000, 1000};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    assert_int_equal(berth_backoff_next(&b, 5000 + (int64_t)i), want[i]);
  assert_true(berth_backoff_in_outage(&b));
}

static void backoff_gives_up_once_the_budget_is_spent(void **state) {
  (void)state;
  berth_backoff b;
  berth_backoff_init(&b, 100, 2000, 3000);
  assert_int_equal(berth_backoff_next(&b, 10000), 100); /* the outage starts here */
  assert_int_equal(berth_backoff_next(&b, 12500), 200);
  /* The last delay is cut to end with the budget. */
  assert_int_equal(berth_backoff_next(&b, 12900), 100);
  assert_int_equal(berth_backoff_next(&b, 13000), -1);
  assert_int_equal(berth_backoff_next(&b, 20000), -1);
}

static void backoff_starts_over_after_a_success(void **state) {
  (void)state;
  berth_backoff b;
  berth_backoff_init(&b, 100, 2000, 3000);
  berth_backoff_next(&b, 0);
  berth_backoff_next(&b, 2900);
  berth_backoff_reset(&b);
  assert_false(berth_backoff_in_outage(&b));
  /* A new outage: the first delay and a whole budget again. */
  assert_int_equal(berth_backoff_next(&b, 50000), 100);
  assert_int_equal(berth_backoff_next(&b, 52999), 1);
}

static void follow_advance_moves_by_the_bytes_taken(void **state) {
  (void)state;
  berth_follow_state st = {.offsets = {10, 4}};
  berth_error err = {0};
  berth_chunk c = {.data = (unsigned char *)"abc", .len = 3, .offset = 10};
  assert_int_equal(berth_follow_advance(&st, 0, &c, &err), 0);
  assert_int_equal(st.offsets[0], 13);
  assert_int_equal(st.offsets[1], 4);
  c = (berth_chunk){.data = (unsigned char *)"", .len = 0, .offset = 4};
  assert_int_equal(berth_follow_advance(&st, 1, &c, &err), 0);
  assert_int_equal(st.offsets[1], 4);
}

static void follow_advance_refuses_a_chunk_from_elsewhere(void **state) {
  (void)state;
  berth_follow_state st = {.offsets = {10, 0}};
  berth_error err = {0};
  /* Bytes already shown (a repeat) and bytes past a gap. */
  berth_chunk c = {.data = (unsigned char *)"abc", .len = 3, .offset = 7};
  assert_int_equal(berth_follow_advance(&st, 0, &c, &err), BERTH_EIO);
  c.offset = 11;
  assert_int_equal(berth_follow_advance(&st, 0, &c, &err), BERTH_EIO);
  assert_int_equal(st.offsets[0], 10);
}

/* A scripted berthd on a unix socket: each connection gets one request
 * and the next reply (NULL: the connection closes unanswered, as when
 * berthd is killed). */
typedef struct script_server {
  char dir[32], path[64];
  int fd;
  const char *const *replies;
  size_t n;
  char requests[16][256]; /* request lines, in order */
  pthread_t thread;
} script_server;

static void read_request(int fd, char *line, size_t len) {
  char buf[8192];
  size_t got = 0;
  char *end = NULL;
  while (!end && got < sizeof(buf) - 1) {
    ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
    if (n <= 0) break;
    got += (size_t)n;
    buf[got] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  if (!end) return;
  const char *cl = strstr(buf, "Content-Length: ");
  size_t body = cl ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
  size_t have = got - (size_t)(end + 4 - buf);
  while (have < body) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    have += (size_t)n;
  }
  snprintf(line, len, "%.*s", (int)strcspn(buf, "\r\n"), buf);
}

static void *serve(void *data) {
  script_server *s = data;
  for (size_t i = 0; i < s->n; i++) {
    int c = accept(s->fd, NULL, NULL);
    if (c < 0) return NULL;
    read_request(c, s->requests[i], sizeof(s->requests[i]));
    if (s->replies[i]) {
      char head[256];
      size_t len = strlen(s->replies[i]);
      int n = snprintf(head, sizeof(head),
                       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n",
                       len);
      if (write(c, head, (size_t)n) < 0 || write(c, s->replies[i], len) < 0) fail_msg("write: %s", strerror(errno));
    }
    close(c);
  }
  return NULL;
}

static void script_start(script_server *s, const char *const *replies, size_t n) {
  memset(s, 0, sizeof(*s));
  snprintf(s->dir, sizeof(s->dir), "/tmp/berth-cli-XXXXXX");
  assert_non_null(mkdtemp(s->dir));
  snprintf(s->path, sizeof(s->path), "%s/berthd.sock", s->dir);
  s->fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
  assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(s->fd, 16), 0);
  s->replies = replies;
  s->n = n;
  assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void script_finish(script_server *s) {
  pthread_join(s->thread, NULL);
  close(s->fd);
  unlink(s->path);
  rmdir(s->dir);
}

static size_t drain(int fd, char *buf, size_t len) {
  size_t got = 0;
  ssize_t n;
  while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0) got += (size_t)n;
  buf[got] = '\0';
  return got;
}

static void follow_resumes_at_the_byte_it_reached_after_berthd_goes_away(void **state) {
  (void)state;
  static const char *const replies[] = {
      "{\"data\":\"YWJj\",\"offset\":0}", /* stdout "abc" */
      NULL,                               /* berthd killed: stderr's read goes unanswered */
      "{\"data\":\"ZGVm\",\"offset\":3}", /* stdout "def", from the byte reached */
      "{\"data\":\"eA==\",\"offset\":0}", /* stderr "x" */
      "{\"data\":\"\",\"offset\":6}",
      "{\"data\":\"\",\"offset\":1}",
      "{\"type\":\"GET_CONTAINERS\",\"get_containers\":{\"containers\":[{\"container_id\":{\"value\":\"c1\"},"
      "\"stage\":\"TERMINATED\"}]}}",
      "{\"data\":\"\",\"offset\":6}",
      "{\"data\":\"\",\"offset\":1}",
  };
  static const char *const offsets[] = {"stdout&offset=0&", "stderr&offset=0&", "stdout&offset=3&",
                                        "stderr&offset=0&", "stdout&offset=6&", "stderr&offset=1&",
                                        "POST /api/v1",     "stdout&offset=6&", "stderr&offset=1&"};
  size_t n = sizeof(replies) / sizeof(replies[0]);
  script_server s;
  script_start(&s, replies, n);
  int out[2], errp[2];
  assert_int_equal(pipe(out), 0);
  assert_int_equal(pipe(errp), 0);
  berth_addr addr;
  berth_error err = {0};
  char text[160];
  snprintf(text, sizeof(text), "unix:%s", s.path);
  assert_int_equal(berth_addr_parse(text, &addr, &err), 0);
  berth_client *client = NULL;
  assert_int_equal(berth_client_new(&addr, NULL, &client, &err), 0);
  berth_addr_clear(&addr);
  berth_follow_opts fo = {.out_fd = {out[1], errp[1]}, .follow = true};
  berth_follow_state st = {0};
  assert_int_equal(berth_follow_resume(client, "c1", &fo, &st, &err), BERTH_EUNAVAIL);
  assert_int_equal(st.offsets[0], 3);
  assert_int_equal(st.offsets[1], 0);
  assert_int_equal(st.replies, 1);
  assert_int_equal(berth_follow_resume(client, "c1", &fo, &st, &err), 0);
  assert_true(st.terminated);
  berth_client_free(client);
  script_finish(&s);
  close(out[1]);
  close(errp[1]);
  char buf[64];
  drain(out[0], buf, sizeof(buf));
  assert_string_equal(buf, "abcdef");
  drain(errp[0], buf, sizeof(buf));
  assert_string_equal(buf, "x");
  close(out[0]);
  close(errp[0]);
  for (size_t i = 0; i < n; i++)
    if (!strstr(s.requests[i], offsets[i])) fail_msg("request %zu: '%s' lacks '%s'", i, s.requests[i], offsets[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(signal_names_with_and_without_sig_prefix_in_any_case),
      cmocka_unit_test(signal_zero_unknown_and_out_of_range_are_refused),
      cmocka_unit_test(env_splits_at_first_equals_and_keeps_empty_values),
      cmocka_unit_test(env_without_value_copies_ours_or_is_skipped),
      cmocka_unit_test(volume_modes_default_to_rw),
      cmocka_unit_test(volume_malformed_specs_are_refused),
      cmocka_unit_test(port_protocol_defaults_to_tcp_and_is_lower_cased),
      cmocka_unit_test(port_malformed_specs_are_refused),
      cmocka_unit_test(network_modes_are_upper_cased),
      cmocka_unit_test(ids_follow_the_api_pattern),
      cmocka_unit_test(generated_ids_are_run_and_8_hex_digits),
      cmocka_unit_test(args_accept_inline_and_separate_values),
      cmocka_unit_test(args_double_dash_ends_options),
      cmocka_unit_test(args_unknown_options_and_missing_values_fail),
      cmocka_unit_test(run_options_stop_at_image),
      cmocka_unit_test(run_ports_imply_bridge_unless_network_given),
      cmocka_unit_test(run_refuses_bad_input),
      cmocka_unit_test(run_help_needs_no_image),
      cmocka_unit_test(launch_request_minimal_uses_image_command),
      cmocka_unit_test(launch_request_carries_every_flag),
      cmocka_unit_test(launch_request_refuses_invalid_utf8),
      cmocka_unit_test(slurm_step_names_sizes_and_labels_the_launch),
      cmocka_unit_test(slurm_falls_back_to_cpus_on_node_and_mem_per_cpu),
      cmocka_unit_test(slurm_command_line_wins),
      cmocka_unit_test(slurm_absent_leaves_run_alone),
      cmocka_unit_test(slurm_batch_script_and_unlimited_memory),
      cmocka_unit_test(slurm_refuses_values_that_are_not_numbers),
      cmocka_unit_test(wait_bound_request_asks_kill_on_disconnect),
      cmocka_unit_test(container_calls_have_the_mesos_shape),
      cmocka_unit_test(limit_accepts_positive_numbers_and_inf),
      cmocka_unit_test(update_request_carries_resources_and_limits),
      cmocka_unit_test(update_request_leaves_out_what_is_not_given),
      cmocka_unit_test(update_request_spells_unlimited_as_inf),
      cmocka_unit_test(wait_exit_code_prefers_exit_code_then_signal_then_killed),
      cmocka_unit_test(wait_without_code_fails_with_the_message),
      cmocka_unit_test(container_status_shows_state_and_code),
      cmocka_unit_test(container_status_shows_pull_progress),
      cmocka_unit_test(container_status_shows_health),
      cmocka_unit_test(containers_reply_missing_list_is_empty),
      cmocka_unit_test(addr_forms_parse),
      cmocka_unit_test(addr_malformed_forms_are_refused),
      cmocka_unit_test(token_file_is_trimmed_and_checked),
      cmocka_unit_test(tcp_client_needs_a_token),
      cmocka_unit_test(error_reply_keeps_first_line_and_maps_status),
      cmocka_unit_test(base64_decodes_padded_unpadded_and_binary),
      cmocka_unit_test(base64_rejects_garbage),
      cmocka_unit_test(files_read_path_escapes_the_query),
      cmocka_unit_test(files_read_reply_decodes_and_checks_offset),
      cmocka_unit_test(stats_bytes_use_docker_units),
      cmocka_unit_test(stats_cpu_percent_is_cpu_time_over_elapsed_time),
      cmocka_unit_test(stats_cpu_percent_unknown_without_progress_or_fields),
      cmocka_unit_test(stats_entries_without_ids_are_the_running_containers),
      cmocka_unit_test(stats_entries_with_ids_follow_their_order),
      cmocka_unit_test(stats_row_formats_every_column),
      cmocka_unit_test(stats_row_marks_absent_limits_and_unknown_values),
      cmocka_unit_test(backoff_doubles_up_to_its_cap),
      cmocka_unit_test(backoff_gives_up_once_the_budget_is_spent),
      cmocka_unit_test(backoff_starts_over_after_a_success),
      cmocka_unit_test(follow_advance_moves_by_the_bytes_taken),
      cmocka_unit_test(follow_advance_refuses_a_chunk_from_elsewhere),
      cmocka_unit_test(follow_resumes_at_the_byte_it_reached_after_berthd_goes_away),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
