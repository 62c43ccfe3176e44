/* Unit tests for what a docker user expects of the CLI: id prefixes,
 * `ps --filter` and `--format`, short reasons, `-p IP:HOST:CTR`, bundled
 * short flags, the minimums warned about, and what `stats` cannot know. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "client/calls.h"
#include "client/cli_args.h"
#include "client/ids.h"
#include "client/ps.h"
#include "client/stats.h"

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})

static json_t *parse(const char *text) {
  json_error_t jerr;
  json_t *j = json_loads(text, 0, &jerr);
  if (!j) fail_msg("bad JSON in test: %s", jerr.text);
  return j;
}

/* Three running and two ended containers, one with labels. */
static json_t *containers(void) {
  return parse(
      "["
      "{\"container_id\": {\"value\": \"web-1\"}, \"stage\": \"RUNNING\", \"image\": \"busybox:local\","
      " \"docker_name\": \"berth-a.web-1\","
      " \"labels\": {\"labels\": [{\"key\": \"team\", \"value\": \"web\"}, {\"key\": \"tier\", \"value\": \"1\"}]}},"
      "{\"container_id\": {\"value\": \"web-10\"}, \"stage\": \"RUNNING\", \"image\": \"busybox:local\","
      " \"docker_name\": \"berth-a.web-10\", \"labels\": {\"labels\": [{\"key\": \"team\", \"value\": \"db\"}]}},"
      "{\"container_id\": {\"value\": \"web\"}, \"stage\": \"PULLING\", \"image\": \"127.0.0.1:5000/x:1\","
      " \"docker_name\": \"berth-a.web\"},"
      "{\"container_id\": {\"value\": \"oom\"}, \"stage\": \"TERMINATED\", \"image\": \"busybox:local\","
      " \"docker_name\": \"berth-a.oom\", \"termination\": {\"state\": \"TASK_FAILED\", \"exit_code\": 137,"
      " \"reason\": \"REASON_CONTAINER_LIMITATION_MEMORY\", \"message\": \"Memory limit exceeded\"}},"
      "{\"container_id\": {\"value\": \"done\"}, \"stage\": \"TERMINATED\", \"image\": \"busybox:local\","
      " \"docker_name\": \"berth-a.done\", \"termination\": {\"state\": \"TASK_FINISHED\", \"exit_code\": 0}}"
      "]");
}

/* ---- ids ---- */

static const char *resolve(json_t *list, const char *text, berth_error *err) {
  const char *id = NULL;
  if (berth_ids_resolve_id(list, text, &id, err) < 0) return NULL;
  return id;
}

static void unique_prefix_names_its_container(void **state) {
  json_t *list = containers();
  berth_error err = {0};
  assert_string_equal(resolve(list, "oo", &err), "oom");
  assert_string_equal(resolve(list, "d", &err), "done");
  assert_string_equal(resolve(list, "web-10", &err), "web-10");
  json_decref(list);
}

static void exact_id_wins_over_longer_ids_it_prefixes(void **state) {
  json_t *list = containers();
  berth_error err = {0};
  /* "web" is an id and a prefix of web-1 and web-10; "web-1" of web-10. */
  assert_string_equal(resolve(list, "web", &err), "web");
  assert_string_equal(resolve(list, "web-1", &err), "web-1");
  json_decref(list);
}

static void ambiguous_prefix_names_the_candidates(void **state) {
  json_t *list = containers();
  berth_error err = {0};
  assert_null(resolve(list, "we", &err));
  assert_int_equal(err.code, BERTH_EINVAL);
  assert_non_null(strstr(err.msg, "ambiguous"));
  assert_non_null(strstr(err.msg, "web-1, web-10, web"));
  json_decref(list);
}

static void unknown_and_empty_prefix_are_no_such_container(void **state) {
  json_t *list = containers();
  berth_error err = {0};
  assert_null(resolve(list, "nope", &err));
  assert_int_equal(err.code, BERTH_ENOENT);
  assert_string_equal(err.msg, "no such container: nope");
  assert_null(resolve(list, "", &err));
  assert_string_equal(err.msg, "no such container: ");
  assert_null(resolve(list, "web-100", &err));
  json_t *empty = json_array();
  assert_null(resolve(empty, "w", &err));
  json_decref(empty);
  json_decref(list);
}

/* ---- filters ---- */

/* The ids of list that the filters (NULL-terminated texts) select. */
static void assert_selected(const char *const *texts, const char *want) {
  berth_filters f = {0};
  berth_error err = {0};
  for (; *texts; texts++) assert_int_equal(berth_filters_add(&f, *texts, &err), 0);
  json_t *list = containers();
  char got[256] = "";
  size_t i;
  json_t *c;
  json_array_foreach(list, i, c) {
    if (!berth_filters_match(&f, c)) continue;
    if (got[0]) strcat(got, ",");
    strcat(got, json_string_value(json_object_get(json_object_get(c, "container_id"), "value")));
  }
  assert_string_equal(got, want);
  json_decref(list);
  berth_filters_clear(&f);
}

#define SELECTED(want, ...) assert_selected((const char *const[]){__VA_ARGS__, NULL}, want)

static void filters_match_stage_state_label_and_name(void **state) {
  SELECTED("web-1,web-10", "status=running");
  SELECTED("web-1,web-10", "status=RUNNING");
  SELECTED("oom,done", "status=exited");
  SELECTED("oom,done", "status=terminated");
  SELECTED("oom", "status=failed");
  SELECTED("oom", "status=TASK_FAILED");
  SELECTED("done", "status=finished");
  SELECTED("web-1,web-10", "label=team");
  SELECTED("web-1", "label=team=web");
  SELECTED("", "label=team=nope");
  SELECTED("web-1", "label=tier=1");
  SELECTED("web-1,web-10,web", "name=web");
  SELECTED("oom,done", "name=o");
  SELECTED("oom", "name=oo");
}

static void filters_of_one_key_or_and_of_keys_and(void **state) {
  SELECTED("web-1,web-10,oom", "status=running", "status=failed");
  SELECTED("web-10", "status=running", "label=team=db");
  SELECTED("web-1", "name=web", "label=tier");
  SELECTED("", "status=failed", "name=web");
  assert_selected((const char *const[]){NULL}, "web-1,web-10,web,oom,done");
}

static void bad_filters_are_refused_naming_them(void **state) {
  static const char *const bad[] = {
      "status",         "status=", "status=sleeping", "label=",       "label==v", "colour=red", "=running",
      "Status=running", "id",      "stat=running",    "statusrunning"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    berth_filters f = {0};
    berth_error err = {0};
    if (berth_filters_add(&f, bad[i], &err) == 0) fail_msg("filter '%s' accepted", bad[i]);
    assert_int_equal(err.code, BERTH_EINVAL);
    assert_non_null(strstr(err.msg, bad[i]));
    assert_int_equal(f.n, 0);
    berth_filters_clear(&f);
  }
}

/* ---- format ---- */

static char *render(const char *format, json_t *c) {
  berth_format *f = NULL;
  berth_error err = {0};
  if (berth_format_parse(format, &f, &err) < 0) fail_msg("format '%s' refused: %s", format, err.msg);
  char *out = berth_format_render(f, c);
  berth_format_free(f);
  return out;
}

static void assert_render(const char *format, json_t *c, const char *want) {
  char *got = render(format, c);
  assert_string_equal(got, want);
  free(got);
}

static void format_fields_render(void **state) {
  json_t *list = containers();
  json_t *web1 = json_array_get(list, 0), *oom = json_array_get(list, 3);
  assert_render("{{.ID}}", web1, "web-1");
  assert_render("{{ .ID }} {{.Image}}", web1, "web-1 busybox:local");
  assert_render("{{.ID}}\\t{{.Stage}}\\t{{.State}}", oom, "oom\tTERMINATED\tTASK_FAILED");
  assert_render("{{.State}}", web1, "RUNNING");
  assert_render("{{.Status}}", oom, "TASK_FAILED (137, out of memory)");
  assert_render("{{.Status}}", web1, "running");
  assert_render("[{{.Reason}}] [{{.ExitCode}}] [{{.Message}}]", oom, "[out of memory] [137] [Memory limit exceeded]");
  assert_render("[{{.Reason}}] [{{.ExitCode}}]", web1, "[] []");
  assert_render("{{.Name}} {{.Names}}", web1, "berth-a.web-1 berth-a.web-1");
  assert_render("{{.Labels}}", web1, "team=web,tier=1");
  assert_render("{{.Label \"team\"}}/{{.Label \"nope\"}}", web1, "web/");
  assert_render("plain text", web1, "plain text");
  assert_render("a\\nb", web1, "a\nb");
  char *j = render("{{json .}}", web1);
  json_t *back = parse(j);
  assert_true(json_equal(back, web1));
  json_decref(back);
  free(j);
  json_decref(list);
}

static void format_table_has_a_header(void **state) {
  berth_format *f = NULL;
  berth_error err = {0};
  assert_int_equal(berth_format_parse("table {{.ID}}\\t{{.Reason}}\\t{{.Label \"team\"}}", &f, &err), 0);
  assert_true(berth_format_is_table(f));
  char *h = berth_format_header(f);
  assert_string_equal(h, "CONTAINER ID\tREASON\tteam");
  free(h);
  berth_format_free(f);
  assert_int_equal(berth_format_parse("{{.ID}}", &f, &err), 0);
  assert_false(berth_format_is_table(f));
  berth_format_free(f);
  /* "tablet" is text, not the table keyword. */
  assert_int_equal(berth_format_parse("tablet", &f, &err), 0);
  assert_false(berth_format_is_table(f));
  berth_format_free(f);
}

static void bad_formats_are_refused_naming_the_action(void **state) {
  static const struct {
    const char *format, *named;
  } bad[] = {
      {"{{.Foo}}", "{{.Foo}}"},
      {"{{.id}}", "{{.id}}"},
      {"{{ID}}", "{{ID}}"},
      {"{{.ID", "'{{' without '}}'"},
      {"x {{.ID}} {{", "'{{' without '}}'"},
      {"{{}}", "{{}}"},
      {"{{.}}", "{{.}}"},
      {"{{.ID.Foo}}", "{{.ID.Foo}}"},
      {"{{.Label}}", "{{.Label}}"},
      {"{{.Label team}}", "{{.Label team}}"},
      {"{{.Label \"team}}", "{{.Label \"team}}"},
      {"{{.Label \"a\" \"b\"}}", "{{.Label \"a\" \"b\"}}"},
      {"{{json}}", "{{json}}"},
      {"{{.ID | upper}}", "{{.ID | upper}}"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    berth_format *f = NULL;
    berth_error err = {0};
    if (berth_format_parse(bad[i].format, &f, &err) == 0) fail_msg("format '%s' accepted", bad[i].format);
    assert_null(f);
    assert_int_equal(err.code, BERTH_EINVAL);
    if (!strstr(err.msg, bad[i].named))
      fail_msg("'%s': message '%s' does not name '%s'", bad[i].format, err.msg, bad[i].named);
  }
}

/* ---- reasons and status ---- */

static void reasons_are_shortened(void **state) {
  char buf[64];
  berth_reason_short("REASON_CONTAINER_LIMITATION_MEMORY", buf, sizeof(buf));
  assert_string_equal(buf, "out of memory");
  berth_reason_short("REASON_CONTAINER_LAUNCH_FAILED", buf, sizeof(buf));
  assert_string_equal(buf, "launch failed");
  berth_reason_short("REASON_SOMETHING_NEW", buf, sizeof(buf));
  assert_string_equal(buf, "something new");
  berth_reason_short("ODD", buf, sizeof(buf));
  assert_string_equal(buf, "odd");
  berth_reason_short(NULL, buf, sizeof(buf));
  assert_string_equal(buf, "");
  char tiny[4];
  berth_reason_short("REASON_SOMETHING_NEW", tiny, sizeof(tiny));
  assert_string_equal(tiny, "som");
}

static void status_carries_code_and_reason(void **state) {
  char buf[128];
  json_t *c = parse(
      "{\"stage\": \"TERMINATED\", \"termination\": {\"state\": \"TASK_FAILED\","
      " \"reason\": \"REASON_CONTAINER_LAUNCH_FAILED\"}}");
  berth_container_status(c, buf, sizeof(buf));
  assert_string_equal(buf, "TASK_FAILED (launch failed)");
  json_decref(c);
  c = parse(
      "{\"stage\": \"TERMINATED\", \"termination\": {\"state\": \"TASK_FAILED\", \"exit_code\": 127,"
      " \"reason\": \"REASON_CONTAINER_LAUNCH_FAILED\"}}");
  berth_container_status(c, buf, sizeof(buf));
  assert_string_equal(buf, "TASK_FAILED (127, launch failed)");
  json_decref(c);
}

/* ---- ports, flags, minimums ---- */

static void ports_take_an_optional_host_ip(void **state) {
  berth_port p;
  berth_error err = {0};
  assert_int_equal(berth_cli_parse_port("127.0.0.1:18080:8080", &p, &err), 0);
  assert_string_equal(p.host_ip, "127.0.0.1");
  assert_int_equal(p.host_port, 18080);
  assert_int_equal(p.container_port, 8080);
  assert_string_equal(p.protocol, "tcp");
  assert_int_equal(berth_cli_parse_port("[::1]:53:5353/udp", &p, &err), 0);
  assert_string_equal(p.host_ip, "::1");
  assert_int_equal(p.host_port, 53);
  assert_int_equal(p.container_port, 5353);
  assert_string_equal(p.protocol, "udp");
  assert_int_equal(berth_cli_parse_port("8080:80", &p, &err), 0);
  assert_string_equal(p.host_ip, "");
  static const char *const bad[] = {"localhost:80:80", "1.2.3:80:80",   ":80:80",    "::1:80:80",
                                    "[::1]80:80",      "127.0.0.1::80", "80",        "1.2.3.4:80:80/sctp",
                                    "[]:80:80",        "1.2.3.4:0:80",  "a:b:c:d:80"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (berth_cli_parse_port(bad[i], &p, &err) == 0) fail_msg("port '%s' accepted", bad[i]);
    assert_non_null(strstr(err.msg, bad[i]));
  }
}

static void short_flags_bundle(void **state) {
  static const berth_opt opts[] = {
      {"all", 'a', false, 1}, {"quiet", 'q', false, 2}, {"filter", 'f', true, 3}, {NULL, 0, false, 0}};
  berth_args a;
  berth_error err = {0};
  int id;
  const char *v;
  berth_args_init(&a, 2, ARGV("-aqf", "status=running"));
  assert_int_equal(berth_args_next(&a, opts, &id, &v, &err), BERTH_ARG_OPTION);
  assert_int_equal(id, 1);
  assert_int_equal(berth_args_next(&a, opts, &id, &v, &err), BERTH_ARG_OPTION);
  assert_int_equal(id, 2);
  assert_int_equal(berth_args_next(&a, opts, &id, &v, &err), BERTH_ARG_OPTION);
  assert_int_equal(id, 3);
  assert_string_equal(v, "status=running");
  assert_int_equal(berth_args_next(&a, opts, &id, &v, &err), BERTH_ARG_END);
  berth_args_init(&a, 1, ARGV("-afname=x"));
  assert_int_equal(berth_args_next(&a, opts, &id, &v, &err), BERTH_ARG_OPTION);
  assert_int_equal(berth_args_next(&a, opts, &id, &v, &err), BERTH_ARG_OPTION);
  assert_string_equal(v, "name=x");
  berth_args_init(&a, 1, ARGV("-aqf"));
  assert_int_equal(berth_args_next(&a, opts, &id, &v, &err), BERTH_ARG_OPTION);
  assert_int_equal(berth_args_next(&a, opts, &id, &v, &err), BERTH_ARG_OPTION);
  assert_int_equal(berth_args_next(&a, opts, &id, &v, &err), BERTH_EINVAL);
}

static void run_limits_go_into_the_launch(void **state) {
  berth_run_opts o;
  berth_error err = {0};
  char **argv = ARGV("--cpu-limit", "0.5", "--mem-limit", "inf", "--addr", "unix:/x", "-p", "127.0.0.1:18080:80",
                     "busybox:local");
  assert_int_equal(berth_cli_parse_run(9, argv, &o, &err), 0);
  assert_string_equal(o.addr, "unix:/x");
  json_t *req = berth_request_launch(&o, "c1");
  json_t *launch = json_object_get(req, "launch_container");
  json_t *want = parse("{\"cpus\": {\"value\": 0.5}, \"mem\": {\"value\": \"inf\"}}");
  assert_true(json_equal(json_object_get(launch, "limits"), want));
  json_decref(want);
  json_t *port = json_array_get(
      json_object_get(json_object_get(json_object_get(launch, "container"), "docker"), "port_mappings"), 0);
  assert_string_equal(json_string_value(json_object_get(port, "host_ip")), "127.0.0.1");
  json_decref(req);
  berth_run_opts_clear(&o);
  assert_true(berth_cli_parse_run(3, ARGV("--cpu-limit", "zero", "busybox:local"), &o, &err) < 0);
  assert_non_null(strstr(err.msg, "--cpu-limit"));
  berth_run_opts_clear(&o);
}

static void raised_minimums_are_said(void **state) {
  char notes[BERTH_MINIMUM_NOTES][128];
  size_t n = berth_cli_minimum_notes(0.001, 2, 0.005, 16, notes);
  assert_int_equal(n, 4);
  assert_non_null(strstr(notes[0], "cpus 0.001 raised to Docker's minimum CpuShares 2"));
  assert_string_equal(notes[1], "mem 2 MB raised to Docker's minimum 32 MB");
  assert_non_null(strstr(notes[2], "cpu limit 0.005 raised"));
  assert_string_equal(notes[3], "mem limit 16 MB raised to Docker's minimum 32 MB");
  assert_int_equal(berth_cli_minimum_notes(0.5, 32, INFINITY, INFINITY, notes), 0);
  assert_int_equal(berth_cli_minimum_notes(NAN, NAN, NAN, NAN, notes), 0);
}

/* ---- stats ---- */

static void stats_say_dash_for_a_share_and_for_host_network(void **state) {
  char cells[BERTH_STATS_COLUMNS][BERTH_STATS_CELL];
  json_t *e = parse(
      "{\"container_id\": \"a\", \"cpu_percent\": 1.0, \"resource_statistics\": {"
      "\"cpus_limit\": 1.0, \"cpus_quota\": false, \"mem_total_bytes\": 1024,"
      " \"mem_limit_bytes\": 0, \"processes\": 1}}");
  berth_stats_row(e, cells);
  assert_string_equal(cells[2], "-");
  assert_string_equal(cells[5], "-");
  json_decref(e);
  e = parse(
      "{\"container_id\": \"a\", \"cpu_percent\": 1.0, \"resource_statistics\": {"
      "\"cpus_limit\": 0.5, \"cpus_quota\": true, \"mem_total_bytes\": 1024, \"mem_limit_bytes\": 0,"
      " \"net_rx_bytes\": 1500, \"net_tx_bytes\": 0, \"processes\": 1}}");
  berth_stats_row(e, cells);
  assert_string_equal(cells[2], "0.5");
  assert_string_equal(cells[5], "1.5kB / 0B");
  json_decref(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(unique_prefix_names_its_container),
      cmocka_unit_test(exact_id_wins_over_longer_ids_it_prefixes),
      cmocka_unit_test(ambiguous_prefix_names_the_candidates),
      cmocka_unit_test(unknown_and_empty_prefix_are_no_such_container),
      cmocka_unit_test(filters_match_stage_state_label_and_name),
      cmocka_unit_test(filters_of_one_key_or_and_of_keys_and),
      cmocka_unit_test(bad_filters_are_refused_naming_them),
      cmocka_unit_test(format_fields_render),
      cmocka_unit_test(format_table_has_a_header),
      cmocka_unit_test(bad_formats_are_refused_naming_the_action),
      cmocka_unit_test(reasons_are_shortened),
      cmocka_unit_test(status_carries_code_and_reason),
      cmocka_unit_test(ports_take_an_optional_host_ip),
      cmocka_unit_test(short_flags_bundle),
      cmocka_unit_test(run_limits_go_into_the_launch),
      cmocka_unit_test(raised_minimums_are_said),
      cmocka_unit_test(stats_say_dash_for_a_share_and_for_host_network),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
