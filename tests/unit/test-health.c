/* Unit tests for the health check's pure parts: the health_check decoder
 * (containerizer/health_spec.c: defaults, every refusal naming its field)
 * and the probe's readers of hostile bytes (containerizer/health_probe.c:
 * the HTTP status line, /proc/<pid>/stat). */
#include <math.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "containerizer/health_probe.h"
#include "containerizer/health_spec.h"

static berth_health_spec hs;

static int free_hs(void **state) {
  (void)state;
  berth_health_spec_free(&hs);
  return 0;
}

/* {"health_check": <text>} with ' for ". */
static json_t *hc(const char *text) {
  char buf[8192];
  snprintf(buf, sizeof(buf), "{\"health_check\": %s}", text);
  for (char *p = buf; *p; p++)
    if (*p == '\'') *p = '"';
  return tu_json(buf);
}

static void accepted(const char *text) {
  berth_error err = {0};
  json_t *j = hc(text);
  int rc = berth_health_spec_parse(j, &hs, &err);
  json_decref(j);
  if (rc != 0) fail_msg("refused %s: %s", text, err.msg);
}

static void refused(const char *text, const char *field) {
  berth_error err = {0};
  json_t *j = hc(text);
  berth_health_spec_free(&hs);
  int rc = berth_health_spec_parse(j, &hs, &err);
  json_decref(j);
  if (rc == 0) fail_msg("accepted %s", text);
  if (rc != BERTH_EINVAL || !strstr(err.msg, field))
    fail_msg("input %s: rc %d, message '%s', want EINVAL naming '%s'", text, rc, err.msg, field);
  assert_int_equal(hs.type, BERTH_HEALTH_NONE);
  assert_null(hs.argv);
  assert_null(hs.path);
}

static void absent_or_null_is_no_check(void **state) {
  (void)state;
  berth_error err = {0};
  json_t *j = tu_json("{}");
  assert_int_equal(berth_health_spec_parse(j, &hs, &err), 0);
  assert_int_equal(hs.type, BERTH_HEALTH_NONE);
  json_decref(j);
  accepted("null");
  assert_int_equal(hs.type, BERTH_HEALTH_NONE);
}

static void mesos_defaults_apply(void **state) {
  (void)state;
  accepted("{'type': 'TCP', 'tcp': {'port': 8080}}");
  assert_int_equal(hs.type, BERTH_HEALTH_TCP);
  assert_int_equal(hs.port, 8080);
  assert_false(hs.ipv6);
  assert_true(hs.delay == 15.0 && hs.interval == 10.0 && hs.timeout == 20.0 && hs.grace == 10.0);
  assert_int_equal(hs.consecutive_failures, 3);
}

static void fractional_timing_accepted(void **state) {
  (void)state;
  accepted(
      "{'type': 'TCP', 'tcp': {'port': 1, 'protocol': 'IPv6'}, 'delay_seconds': 0, 'interval_seconds': 0.05,"
      " 'timeout_seconds': 0.5, 'grace_period_seconds': 0, 'consecutive_failures': 1}");
  assert_true(hs.ipv6);
  assert_true(hs.delay == 0 && fabs(hs.interval - 0.05) < 1e-9 && hs.timeout == 0.5 && hs.grace == 0);
  assert_int_equal(hs.consecutive_failures, 1);
}

static void command_shell_and_argv_forms(void **state) {
  (void)state;
  accepted("{'type': 'COMMAND', 'command': {'value': 'test -f /tmp/ok', 'arguments': ['ignored']}}");
  assert_int_equal(hs.argc, 3);
  assert_string_equal(hs.argv[0], "/bin/sh");
  assert_string_equal(hs.argv[1], "-c");
  assert_string_equal(hs.argv[2], "test -f /tmp/ok");
  assert_null(hs.argv[3]);
  berth_health_spec_free(&hs);
  accepted(
      "{'type': 'COMMAND', 'command': {'shell': false, 'value': 'test', 'arguments': ['a b', '=', 'a b'],"
      " 'user': 'nobody', 'environment': {'variables': [{'name': 'K', 'value': 'V'}, {'name': 'E'}]}}}");
  assert_int_equal(hs.argc, 4);
  assert_string_equal(hs.argv[0], "test");
  assert_string_equal(hs.argv[1], "a b");
  assert_string_equal(hs.user, "nobody");
  assert_int_equal(hs.n_env, 2);
  assert_string_equal(hs.env[0], "K=V");
  assert_string_equal(hs.env[1], "E=");
}

static void http_defaults_and_statuses(void **state) {
  (void)state;
  accepted("{'type': 'HTTP', 'http': {'port': 80}}");
  assert_string_equal(hs.path, "/");
  assert_true(berth_health_status_ok(&hs, 200));
  assert_true(berth_health_status_ok(&hs, 399));
  assert_false(berth_health_status_ok(&hs, 400));
  assert_false(berth_health_status_ok(&hs, 199));
  berth_health_spec_free(&hs);
  accepted("{'type': 'HTTP', 'http': {'port': 80, 'path': '/a%20b?x=1', 'scheme': 'http', 'statuses': [204, 503]}}");
  assert_string_equal(hs.path, "/a%20b?x=1");
  assert_true(berth_health_status_ok(&hs, 503));
  assert_false(berth_health_status_ok(&hs, 200));
}

static void every_refusal_names_its_field(void **state) {
  (void)state;
  refused("'TCP'", "health_check: must be an object");
  refused("{}", "health_check.type: required");
  refused("{'type': 7}", "health_check.type");
  refused("{'type': 'UDP'}", "health_check.type");
  refused("{'type': 'HTTP'}", "health_check.http: required");
  refused("{'type': 'HTTP', 'http': 3}", "health_check.http: must be an object");
  refused("{'type': 'TCP', 'tcp': {'port': 1}, 'http': {'port': 1}}", "health_check.http: not allowed");
  refused("{'type': 'TCP', 'tcp': {}}", "health_check.tcp.port: required");
  refused("{'type': 'TCP', 'tcp': {'port': 0}}", "health_check.tcp.port");
  refused("{'type': 'TCP', 'tcp': {'port': 65536}}", "health_check.tcp.port");
  refused("{'type': 'TCP', 'tcp': {'port': 80.5}}", "health_check.tcp.port");
  refused("{'type': 'TCP', 'tcp': {'port': '80'}}", "health_check.tcp.port");
  refused("{'type': 'TCP', 'tcp': {'port': 80, 'protocol': 'IPX'}}", "health_check.tcp.protocol");
  refused("{'type': 'HTTP', 'http': {'port': 80, 'path': 'x'}}", "health_check.http.path");
  refused("{'type': 'HTTP', 'http': {'port': 80, 'path': '/a b'}}", "health_check.http.path");
  refused("{'type': 'HTTP', 'http': {'port': 80, 'path': '/a\\r\\nX: y'}}", "health_check.http.path");
  refused("{'type': 'HTTP', 'http': {'port': 80, 'path': '/\\u00e9'}}", "health_check.http.path");
  refused("{'type': 'HTTP', 'http': {'port': 80, 'scheme': 'https'}}", "health_check.http.scheme");
  refused("{'type': 'HTTP', 'http': {'port': 80, 'statuses': [99]}}", "health_check.http.statuses[0]");
  refused("{'type': 'HTTP', 'http': {'port': 80, 'statuses': [200, 600]}}", "health_check.http.statuses[1]");
  refused("{'type': 'HTTP', 'http': {'port': 80, 'statuses': ['200']}}", "health_check.http.statuses[0]");
  refused("{'type': 'HTTP', 'http': {'port': 80, 'statuses': 200}}", "health_check.http.statuses");
  refused("{'type': 'COMMAND', 'command': {}}", "health_check.command.value: required");
  refused("{'type': 'COMMAND', 'command': {'value': ''}}", "health_check.command.value");
  refused("{'type': 'COMMAND', 'command': {'value': 'x', 'shell': 'yes'}}", "health_check.command.shell");
  refused("{'type': 'COMMAND', 'command': {'value': 'x', 'shell': false, 'arguments': [1]}}",
          "health_check.command.arguments[0]");
  refused("{'type': 'COMMAND', 'command': {'value': 'x', 'environment': {'variables': [{'name': 'A=B'}]}}}",
          "health_check.command.environment.variables[0].name");
  refused("{'type': 'COMMAND', 'command': {'value': 'x', 'user': ''}}", "health_check.command.user");
  const char *timing[] = {"delay_seconds", "interval_seconds", "timeout_seconds", "grace_period_seconds"};
  for (size_t i = 0; i < 4; i++) {
    char text[256];
    snprintf(text, sizeof(text), "{'type': 'TCP', 'tcp': {'port': 1}, '%s': -1}", timing[i]);
    refused(text, timing[i]);
    snprintf(text, sizeof(text), "{'type': 'TCP', 'tcp': {'port': 1}, '%s': '5'}", timing[i]);
    refused(text, timing[i]);
    snprintf(text, sizeof(text), "{'type': 'TCP', 'tcp': {'port': 1}, '%s': 1e300}", timing[i]);
    refused(text, timing[i]);
  }
  /* Zero would spin the loop or fail every check. */
  refused("{'type': 'TCP', 'tcp': {'port': 1}, 'interval_seconds': 0}", "interval_seconds");
  refused("{'type': 'TCP', 'tcp': {'port': 1}, 'timeout_seconds': 0}", "timeout_seconds");
  refused("{'type': 'TCP', 'tcp': {'port': 1}, 'consecutive_failures': 0}", "consecutive_failures");
  refused("{'type': 'TCP', 'tcp': {'port': 1}, 'consecutive_failures': 2.5}", "consecutive_failures");
  refused("{'type': 'TCP', 'tcp': {'port': 1}, 'consecutive_failures': 1000001}", "consecutive_failures");
}

/* ---- the HTTP status line: bytes a hostile container chose ---- */

static int parse(const char *s, int *status) { return berth_http_status_parse(s, strlen(s), status); }

static void status_line_valid_forms(void **state) {
  (void)state;
  int st = 0;
  assert_int_equal(parse("HTTP/1.1 200 OK\r\n", &st), 1);
  assert_int_equal(st, 200);
  assert_int_equal(parse("HTTP/1.0 404 Not Found\r\n", &st), 1);
  assert_int_equal(st, 404);
  assert_int_equal(parse("HTTP/1.1 503\r\n", &st), 1);
  assert_int_equal(st, 503);
  assert_int_equal(parse("HTTP/1.1 204\n", &st), 1);
  assert_int_equal(st, 204);
  assert_int_equal(parse("HTTP/2 301 Moved\r\n", &st), 1);
  assert_int_equal(st, 301);
  assert_int_equal(parse("HTTP/1.1  200 OK", &st), 1);
  assert_int_equal(st, 200);
}

static void status_line_needs_more_bytes(void **state) {
  (void)state;
  const char *full = "HTTP/1.1 200 OK";
  int st = -7;
  /* Every strict prefix up to the byte after the code asks for more. */
  for (size_t n = 0; n < 12; n++) assert_int_equal(berth_http_status_parse(full, n, &st), 0);
  assert_int_equal(st, -7);
  assert_int_equal(berth_http_status_parse(full, 13, &st), 1);
  assert_int_equal(st, 200);
}

static void status_line_garbage_refused(void **state) {
  (void)state;
  int st = -7;
  const char *bad[] = {"hello",
                       "http/1.1 200 OK",
                       "HTTP/x.1 200",
                       "HTTP/1.x 200",
                       "HTTP/1.1200 OK",
                       "HTTP/1.1 20 OK",
                       "HTTP/1.1 2000 OK",
                       "HTTP/1.1 2a0 OK",
                       "HTTP/1.1 099 x",
                       "HTTP/1.1 -12 x",
                       "HTTP/1.1\t200 OK",
                       "HTTP/1.1          200 OK",
                       "\r\nHTTP/1.1 200",
                       "HTTP/11 200 OK",
                       "HTTP/1.1 200\tOK"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (parse(bad[i], &st) != -1) fail_msg("accepted '%s'", bad[i]);
  }
  /* NUL and high bytes, and a length that stops before them. */
  const char nul[] = {'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ', '2', '\0', '0'};
  assert_int_equal(berth_http_status_parse(nul, sizeof(nul), &st), -1);
  const char high[] = {'H', 'T', 'T', 'P', '/', (char)0xff};
  assert_int_equal(berth_http_status_parse(high, sizeof(high), &st), -1);
  assert_int_equal(berth_http_status_parse(high, 5, &st), 0);
  assert_int_equal(berth_http_status_parse(NULL, 0, &st), 0);
  assert_int_equal(st, -7);
}

/* ---- /proc/<pid>/stat: the comm field may hold ')' and spaces ---- */

static void write_stat(const char *root, const char *text) {
  char path[512];
  snprintf(path, sizeof(path), "%s/42", root);
  mkdir(path, 0700);
  snprintf(path, sizeof(path), "%s/42/stat", root);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void starttime_read_after_the_last_paren(void **state) {
  (void)state;
  char root[] = "/tmp/berth-test-health-XXXXXX";
  assert_non_null(mkdtemp(root));
  write_stat(root, "42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1234 56\n");
  assert_int_equal(berth_proc_starttime(root, 42), 987654ULL);
  write_stat(root, "42 (short) S 1 2 3\n");
  assert_int_equal(berth_proc_starttime(root, 42), 0);
  write_stat(root, "42 no paren at all\n");
  assert_int_equal(berth_proc_starttime(root, 42), 0);
  assert_int_equal(berth_proc_starttime(root, 43), 0);
  /* A real one: this process's own. */
  assert_true(berth_proc_starttime("/proc", (int)getpid()) > 0);
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(absent_or_null_is_no_check, free_hs),
      cmocka_unit_test_teardown(mesos_defaults_apply, free_hs),
      cmocka_unit_test_teardown(fractional_timing_accepted, free_hs),
      cmocka_unit_test_teardown(command_shell_and_argv_forms, free_hs),
      cmocka_unit_test_teardown(http_defaults_and_statuses, free_hs),
      cmocka_unit_test_teardown(every_refusal_names_its_field, free_hs),
      cmocka_unit_test(status_line_valid_forms),
      cmocka_unit_test(status_line_needs_more_bytes),
      cmocka_unit_test(status_line_garbage_refused),
      cmocka_unit_test(starttime_read_after_the_last_paren),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
