/* Unit tests for containerizer/spec: ids, image references and the
 * LAUNCH_CONTAINER decoder (every 400 of API.md §3, and the success path). */
#include <math.h>
#include <stdbool.h>

#include "testutil.h"

#include "containerizer/spec.h"

static const char *const allowed_paths[] = {"/srv", "/data/", NULL};
static const berth_launch_policy policy = {allowed_paths, false};
static const berth_launch_policy policy_privileged = {allowed_paths, true};

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The spec under test: every test's teardown frees it, so a failing
 * assertion does not show up as a leak under valgrind. */
static berth_launch_spec spec;

static int free_spec(void **state) {
  (void)state;
  berth_spec_free(&spec);
  return 0;
}

/* JSON written with single quotes for readability: ' becomes ". */
static json_t *q(const char *text) {
  char *copy = strdup(text);
  for (char *p = copy; *p; p++)
    if (*p == '\'') *p = '"';
  json_t *j = tu_json(copy);
  free(copy);
  return j;
}

/* A launch with a valid id and image plus `extra` members. extra is the
 * inside of an object, e.g. "'command': {...}"; the container may be
 * overridden by giving 'container' in extra. */
static json_t *launch_with(const char *extra) {
  char buf[8192];
  snprintf(buf, sizeof(buf), "{'container_id': {'value': 'web-1'}%s%s}", *extra ? ", " : "", extra);
  json_t *j = q(buf);
  if (!json_object_get(j, "container"))
    json_object_set_new(j, "container", q("{'type': 'DOCKER', 'docker': {'image': 'busybox:local'}}"));
  return j;
}

/* A launch whose container.docker gets `docker_extra` members. */
static json_t *launch_docker(const char *docker_extra) {
  char buf[8192];
  snprintf(buf, sizeof(buf), "'container': {'type': 'DOCKER', 'docker': {'image': 'busybox:local'%s%s}}",
           *docker_extra ? ", " : "", docker_extra);
  return launch_with(buf);
}

static void assert_spec_empty(const berth_launch_spec *s) {
  assert_null(s->image);
  assert_null(s->value);
  assert_null(s->arguments);
  assert_null(s->env);
  assert_null(s->volumes);
  assert_null(s->pvolumes);
  assert_null(s->ports);
  assert_null(s->labels);
  assert_null(s->network_name);
  assert_null(s->hostname);
  assert_int_equal(s->n_env, 0);
  assert_int_equal(s->n_volumes, 0);
}

/* Parses j (consumed) and asserts a 400 whose message contains field. */
static void refused_with(json_t *j, const berth_launch_policy *pol, const char *field) {
  berth_error err = {0};
  int rc = berth_spec_parse(j, pol, &spec, &err);
  char *text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (rc == 0) {
    print_error("accepted: %s\n", text);
    free(text);
    fail();
  }
  if (rc != BERTH_EINVAL || err.code != BERTH_EINVAL || !strstr(err.msg, field)) {
    print_error("input %s: rc %d, message '%s', want EINVAL naming '%s'\n", text, rc, err.msg, field);
    free(text);
    fail();
  }
  free(text);
  assert_int_equal(berth_code_http_status(rc), 400);
  assert_spec_empty(&spec);
}

static void refused(json_t *j, const char *field) { refused_with(j, &policy, field); }

/* Parses j (consumed) and expects success; caller frees spec. */
static void accepted_with(json_t *j, const berth_launch_policy *pol, berth_launch_spec *out) {
  berth_error err = {0};
  int rc = berth_spec_parse(j, pol, out, &err);
  char *text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (rc != 0) {
    print_error("refused (%s): %s\n", err.msg, text);
    free(text);
    fail();
  }
  free(text);
}

static void accepted(json_t *j, berth_launch_spec *out) { accepted_with(j, &policy, out); }

/* ---- container ids ---- */

static void container_id_valid_forms(void **state) {
  (void)state;
  assert_true(berth_container_id_valid("a"));
  assert_true(berth_container_id_valid("web-1"));
  assert_true(berth_container_id_valid("A9_b.c-d"));
  assert_true(berth_container_id_valid("0"));
  char max[65];
  memset(max, 'x', 64);
  max[64] = '\0';
  assert_true(berth_container_id_valid(max));
}

static void container_id_invalid_forms(void **state) {
  (void)state;
  static const char *const bad[] = {"",     "-a",  "_a",  ".a",          "..", "a b", "a/b",
                                    "../x", "a:b", "a\n", "caf\xc3\xa9", "a*", "a$b", "a\\b"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (berth_container_id_valid(bad[i])) fail_msg("'%s' accepted", bad[i]);
  assert_false(berth_container_id_valid(NULL));
  char over[66];
  memset(over, 'x', 65);
  over[65] = '\0';
  assert_false(berth_container_id_valid(over));
}

/* ---- image references ---- */

static void image_ok(const char *ref) {
  berth_error err = {0};
  if (berth_image_ref_validate(ref, &err) != 0) fail_msg("'%s' refused: %s", ref, err.msg);
}

static void image_bad(const char *ref) {
  berth_error err = {0};
  int rc = berth_image_ref_validate(ref, &err);
  if (rc == 0) fail_msg("'%s' accepted", ref ? ref : "(null)");
  assert_int_equal(rc, BERTH_EINVAL);
  tu_assert_contains(err.msg, "container.docker.image");
}

static void image_ref_valid_forms(void **state) {
  (void)state;
  image_ok("busybox");
  image_ok("busybox:local");
  image_ok("127.0.0.1:5000/busybox:local");
  image_ok("a/b/c:tag");
  image_ok("localhost:5000/x");
  image_ok("localhost/x");
  image_ok("name@sha256:" HEX64);
  image_ok("reg.example.com/team/app:v1.2.3-rc_1");
  image_ok("reg.example.com:443/a/b:t@sha256:" HEX64);
  image_ok("my-app__x.y:latest");
  image_ok("Registry.Example.COM/app"); /* domains are case-insensitive */
}

static void image_ref_max_tag_length_accepted(void **state) {
  (void)state;
  char ref[256] = "busybox:";
  memset(ref + 8, 't', 128);
  ref[8 + 128] = '\0';
  image_ok(ref);
}

static void image_ref_invalid_forms(void **state) {
  (void)state;
  image_bad(NULL);
  image_bad("");
  image_bad("Bad Image");
  image_bad("Busybox"); /* upper-case repository */
  image_bad("team/App:1");
  image_bad("busybox/"); /* trailing slash */
  image_bad("a//b");
  image_bad("/busybox");
  image_bad("a::b");
  image_bad("busybox:");
  image_bad("busybox:.tag");
  image_bad("busybox:t@g");
  image_bad("-busybox");
  image_bad("busybox-");
  image_bad("a...b");
  image_bad("a___b");
  image_bad("busybox@sha256:");
  image_bad("busybox@sha256:xyz");
  image_bad("busybox@:" HEX64);
  image_bad("localhost:port/x");
  image_bad("localhost:123456/x");
}

static void image_ref_tag_too_long_refused(void **state) {
  (void)state;
  char ref[256] = "busybox:";
  memset(ref + 8, 't', 129);
  ref[8 + 129] = '\0';
  image_bad(ref);
}

static void image_ref_over_512_chars_refused(void **state) {
  (void)state;
  char ref[600];
  memset(ref, 'a', 513);
  ref[513] = '\0';
  image_bad(ref);
}

/* A registry alone followed by '/' names no repository. */
static void image_ref_registry_with_trailing_slash_refused(void **state) {
  (void)state;
  image_bad("localhost/");
  image_bad("127.0.0.1:5000/");
  image_bad("reg.example.com/");
}

/* A reference must name a repository: ":tag" or "@digest" alone is not one. */
static void image_ref_without_repository_refused(void **state) {
  (void)state;
  image_bad(":latest");
  image_bad("@sha256:" HEX64);
  image_bad("reg.example.com/:tag");
}

/* The digest is "<algorithm>:<hex>" (distribution/reference); the
 * algorithm is letters and digits, and a sha256 is 64 hex digits.  What
 * follows '@' reaches Docker's URL paths, so it must be checked too. */
static void image_ref_malformed_digest_refused(void **state) {
  (void)state;
  image_bad("busybox@sha256:abc");
  image_bad(
      "busybox@sha256:"
      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"); /* 63 */
  image_bad("busybox@/../../containers/x/kill?signal=9&x=:00");
  image_bad("busybox@sha 256:" HEX64);
}

/* Docker's grammar: one separator between alphanumerics (".", "_", "__"
 * or dashes, never a mix), and at most 255 characters of name. */
static void image_ref_mixed_separators_and_long_names_refused(void **state) {
  (void)state;
  image_bad("a.-b");
  image_bad("a._b");
  image_bad("a-_b");
  image_bad("a___b");
  image_ok("a--b");
  image_ok("a__b");
  char name[300];
  memset(name, 'a', 256);
  name[256] = '\0';
  image_bad(name);
  name[255] = '\0';
  image_ok(name);
}

static void hostname_must_be_a_host_name(void **state) {
  (void)state;
  refused(launch_with("'container': {'type': 'DOCKER', 'hostname': 'a b', 'docker': {'image': 'busybox:local'}}"),
          "container.hostname");
  char long_host[400];
  snprintf(long_host, sizeof(long_host),
           "'container': {'type': 'DOCKER', 'hostname': '%064d', 'docker': {'image': 'busybox:local'}}", 0);
  refused(launch_with(long_host), "container.hostname");
  accepted(
      launch_with("'container': {'type': 'DOCKER', 'hostname': 'web-1.local', 'docker': {'image': 'busybox:local'}}"),
      &spec);
  assert_string_equal(spec.hostname, "web-1.local");
}

/* ---- LAUNCH_CONTAINER: the success path ---- */

static void parse_minimal_launch(void **state) {
  (void)state;
  accepted(launch_with(""), &spec);
  assert_string_equal(spec.id, "web-1");
  assert_string_equal(spec.image, "busybox:local");
  assert_false(spec.shell);
  assert_null(spec.value);
  assert_int_equal(spec.n_arguments, 0);
  assert_int_equal(spec.n_env, 0);
  assert_null(spec.user);
  assert_false(spec.res.has_cpus);
  assert_false(spec.res.has_mem);
  assert_false(spec.res.has_cpus_limit);
  assert_false(spec.res.has_mem_limit);
  assert_int_equal(spec.network, BERTH_NET_HOST); /* Mesos's default */
  assert_int_equal(spec.n_ports, 0);
  assert_int_equal(spec.n_volumes, 0);
  assert_int_equal(spec.n_pvolumes, 0);
  assert_int_equal(spec.n_labels, 0);
  assert_false(spec.privileged);
  assert_false(spec.force_pull);
  assert_false(spec.has_grace);
  assert_int_equal(spec.n_uris, 0);
  berth_spec_free(&spec);
}

static void parse_full_launch_decodes_every_field(void **state) {
  (void)state;
  json_t *j =
      q("{'container_id': {'value': 'web-1'},"
        " 'command': {'shell': true, 'value': 'echo hello && sleep 30', 'arguments': ['x', 'y'],"
        "   'environment': {'variables': [{'name': 'K', 'value': 'V'}, {'name': 'EMPTY'},"
        "                                 {'name': 'EQ', 'value': 'a=b'}]},"
        "   'user': 'nobody'},"
        " 'resources': ["
        "   {'name': 'cpus', 'type': 'SCALAR', 'scalar': {'value': 0.5}},"
        "   {'name': 'mem', 'type': 'SCALAR', 'scalar': {'value': 64}},"
        "   {'name': 'gpus', 'type': 'SCALAR', 'scalar': {'value': 1}},"
        "   {'name': 'ports', 'type': 'RANGES', 'ranges': {'range': [{'begin': 31000, 'end': 31001}]}},"
        "   {'name': 'disk', 'type': 'SCALAR', 'scalar': {'value': 16},"
        "    'disk': {'persistence': {'id': 'pv-1'}, 'volume': {'container_path': 'data', 'mode': 'RW'}}},"
        "   {'name': 'disk', 'type': 'SCALAR', 'scalar': {'value': 8},"
        "    'disk': {'persistence': {'id': 'pv-2'}, 'volume': {'container_path': '/abs', 'mode': 'RO'}}},"
        "   {'name': 'disk', 'type': 'SCALAR', 'scalar': {'value': 100}}],"
        " 'limits': {'cpus': {'value': 1.0}, 'mem': {'value': 128}},"
        " 'container': {'type': 'DOCKER', 'hostname': 'web',"
        "   'volumes': [{'container_path': '/etc/app', 'host_path': '/srv/app', 'mode': 'RO'},"
        "               {'container_path': '/var/data', 'host_path': '/data/x', 'mode': 'RW'},"
        "               {'container_path': '/plain', 'host_path': '/srv'}],"
        "   'network_infos': [{'name': 'my-net'}],"
        "   'docker': {'image': '127.0.0.1:5000/busybox:local', 'network': 'BRIDGE',"
        "     'port_mappings': [{'host_port': 31000, 'container_port': 80, 'protocol': 'tcp'},"
        "                       {'host_port': 31001, 'container_port': 53, 'protocol': 'udp'},"
        "                       {'host_port': 65535, 'container_port': 1}],"
        "     'privileged': false, 'force_pull_image': true,"
        "     'parameters': [{'key': 'label', 'value': 'team=web'}, {'key': 'label', 'value': 'flag'}]}},"
        " 'kill_policy': {'grace_period': {'nanoseconds': 3000000000}},"
        " 'unknown_field': {'is': 'ignored'}}");
  accepted(j, &spec);
  assert_string_equal(spec.id, "web-1");
  assert_string_equal(spec.image, "127.0.0.1:5000/busybox:local");
  /* command */
  assert_true(spec.shell);
  assert_string_equal(spec.value, "echo hello && sleep 30");
  assert_int_equal(spec.n_arguments, 2);
  assert_string_equal(spec.arguments[0], "x");
  assert_string_equal(spec.arguments[1], "y");
  assert_null(spec.arguments[2]);
  assert_int_equal(spec.n_env, 3);
  assert_string_equal(spec.env[0].name, "K");
  assert_string_equal(spec.env[0].value, "V");
  assert_string_equal(spec.env[1].name, "EMPTY");
  assert_string_equal(spec.env[1].value, "");
  assert_string_equal(spec.env[2].name, "EQ");
  assert_string_equal(spec.env[2].value, "a=b");
  assert_string_equal(spec.user, "nobody");
  /* resources */
  assert_true(spec.res.has_cpus);
  tu_assert_double_eq(spec.res.cpus, 0.5);
  assert_true(spec.res.has_mem);
  tu_assert_double_eq(spec.res.mem_mb, 64);
  tu_assert_double_eq(spec.res.gpus, 1);
  assert_true(spec.res.has_cpus_limit);
  tu_assert_double_eq(spec.res.cpus_limit, 1.0);
  assert_true(spec.res.has_mem_limit);
  tu_assert_double_eq(spec.res.mem_limit_mb, 128);
  assert_int_equal(spec.n_pvolumes, 2);
  assert_string_equal(spec.pvolumes[0].id, "pv-1");
  assert_string_equal(spec.pvolumes[0].container_path, "data");
  assert_false(spec.pvolumes[0].read_only);
  assert_string_equal(spec.pvolumes[1].id, "pv-2");
  assert_string_equal(spec.pvolumes[1].container_path, "/abs");
  assert_true(spec.pvolumes[1].read_only);
  /* container */
  assert_string_equal(spec.hostname, "web");
  assert_int_equal(spec.n_volumes, 3);
  assert_string_equal(spec.volumes[0].host_path, "/srv/app");
  assert_string_equal(spec.volumes[0].container_path, "/etc/app");
  assert_true(spec.volumes[0].read_only);
  assert_string_equal(spec.volumes[1].host_path, "/data/x");
  assert_false(spec.volumes[1].read_only);
  assert_string_equal(spec.volumes[2].host_path, "/srv");
  assert_false(spec.volumes[2].read_only); /* mode defaults to RW */
  assert_int_equal(spec.network, BERTH_NET_BRIDGE);
  assert_null(spec.network_name);
  assert_int_equal(spec.n_ports, 3);
  assert_int_equal(spec.ports[0].host_port, 31000);
  assert_int_equal(spec.ports[0].container_port, 80);
  assert_string_equal(spec.ports[0].protocol, "tcp");
  assert_int_equal(spec.ports[1].host_port, 31001);
  assert_int_equal(spec.ports[1].container_port, 53);
  assert_string_equal(spec.ports[1].protocol, "udp");
  assert_int_equal(spec.ports[2].host_port, 65535);
  assert_int_equal(spec.ports[2].container_port, 1);
  assert_string_equal(spec.ports[2].protocol, "tcp"); /* default */
  assert_false(spec.privileged);
  assert_true(spec.force_pull);
  assert_int_equal(spec.n_labels, 2);
  assert_string_equal(spec.labels[0].key, "team");
  assert_string_equal(spec.labels[0].value, "web");
  assert_string_equal(spec.labels[1].key, "flag");
  assert_string_equal(spec.labels[1].value, "");
  assert_true(spec.has_grace);
  assert_int_equal(spec.grace_ns, 3000000000LL);
  berth_spec_free(&spec);
  assert_null(spec.image); /* free leaves it empty */
}

static void parse_limits_inf_is_unlimited(void **state) {
  (void)state;
  accepted(launch_with("'resources': [{'name': 'mem', 'scalar': {'value': 64}}],"
                       " 'limits': {'cpus': {'value': 'inf'}, 'mem': {'value': 'inf'}}"),
           &spec);
  assert_true(spec.res.has_cpus_limit);
  assert_true(isinf(spec.res.cpus_limit));
  assert_true(spec.res.has_mem_limit);
  assert_true(isinf(spec.res.mem_limit_mb));
  berth_spec_free(&spec);
}

static void parse_shell_false_with_value_and_arguments(void **state) {
  (void)state;
  accepted(launch_with("'command': {'shell': false, 'value': '/bin/echo', 'arguments': ['a b', 'c']}"), &spec);
  assert_false(spec.shell);
  assert_string_equal(spec.value, "/bin/echo");
  assert_int_equal(spec.n_arguments, 2);
  assert_string_equal(spec.arguments[0], "a b");
  berth_spec_free(&spec);
}

static void parse_shell_false_with_arguments_only(void **state) {
  (void)state;
  accepted(launch_with("'command': {'shell': false, 'arguments': ['sleep', '5']}"), &spec);
  assert_false(spec.shell);
  assert_null(spec.value);
  assert_int_equal(spec.n_arguments, 2);
  berth_spec_free(&spec);
}

/* mesos.proto defaults shell to true; absent with a value means a shell. */
static void parse_shell_absent_with_value_means_shell(void **state) {
  (void)state;
  accepted(launch_with("'command': {'value': 'echo hi'}"), &spec);
  assert_true(spec.shell);
  assert_string_equal(spec.value, "echo hi");
  berth_spec_free(&spec);
}

static void parse_shell_absent_without_value_means_image_command(void **state) {
  (void)state;
  accepted(launch_with("'command': {}"), &spec);
  assert_false(spec.shell);
  assert_null(spec.value);
  berth_spec_free(&spec);
}

/* Everywhere else a JSON null reads as an absent field, and in proto's JSON
 * mapping null means the field's default: for shell, mesos.proto's true. */
static void parse_shell_null_with_value_means_shell(void **state) {
  (void)state;
  accepted(launch_with("'command': {'shell': null, 'value': 'echo hi'}"), &spec);
  assert_true(spec.shell);
  berth_spec_free(&spec);
}

static void parse_network_modes(void **state) {
  (void)state;
  static const struct {
    const char *mode;
    berth_network_mode want;
  } modes[] = {{"HOST", BERTH_NET_HOST}, {"BRIDGE", BERTH_NET_BRIDGE}, {"NONE", BERTH_NET_NONE}};
  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
    char extra[64];
    snprintf(extra, sizeof(extra), "'network': '%s'", modes[i].mode);
    accepted(launch_docker(extra), &spec);
    assert_int_equal(spec.network, modes[i].want);
    assert_null(spec.network_name);
    berth_spec_free(&spec);
  }
}

static void parse_user_network_takes_name_from_network_infos(void **state) {
  (void)state;
  accepted(launch_with("'container': {'type': 'DOCKER', 'network_infos': [{'name': 'my-net'}],"
                       " 'docker': {'image': 'busybox', 'network': 'USER',"
                       "   'port_mappings': [{'host_port': 8080, 'container_port': 80}]}}"),
           &spec);
  assert_int_equal(spec.network, BERTH_NET_USER);
  assert_string_equal(spec.network_name, "my-net");
  assert_int_equal(spec.n_ports, 1);
  berth_spec_free(&spec);
}

static void parse_privileged_allowed_by_policy(void **state) {
  (void)state;
  accepted_with(launch_docker("'privileged': true"), &policy_privileged, &spec);
  assert_true(spec.privileged);
  berth_spec_free(&spec);
}

static void parse_container_type_may_be_omitted(void **state) {
  (void)state;
  accepted(launch_with("'container': {'docker': {'image': 'busybox'}}"), &spec);
  assert_string_equal(spec.image, "busybox");
  berth_spec_free(&spec);
}

static void parse_host_path_under_root_prefix(void **state) {
  (void)state;
  static const char *const root[] = {"/", NULL};
  const berth_launch_policy p = {root, false};
  accepted_with(launch_with("'container': {'volumes': [{'container_path': '/x', 'host_path': '/etc'}],"
                            " 'docker': {'image': 'busybox'}}"),
                &p, &spec);
  assert_int_equal(spec.n_volumes, 1);
  berth_spec_free(&spec);
}

static void parse_grace_period_zero(void **state) {
  (void)state;
  accepted(launch_with("'kill_policy': {'grace_period': {'nanoseconds': 0}}"), &spec);
  assert_true(spec.has_grace);
  assert_int_equal(spec.grace_ns, 0);
  berth_spec_free(&spec);
}

static void parse_kill_policy_without_grace(void **state) {
  (void)state;
  accepted(launch_with("'kill_policy': {}"), &spec);
  assert_false(spec.has_grace);
  berth_spec_free(&spec);
}

static void parse_max_completion_time(void **state) {
  (void)state;
  accepted(launch_with("'max_completion_time': {'nanoseconds': 30000000000}"), &spec);
  assert_int_equal(spec.max_completion_ns, 30000000000LL);
  berth_spec_free(&spec);
  accepted(launch_with(""), &spec);
  assert_int_equal(spec.max_completion_ns, 0);
  berth_spec_free(&spec);
}

static void parse_max_completion_time_refuses_bad_values(void **state) {
  (void)state;
  refused(launch_with("'max_completion_time': {'nanoseconds': 0}"), "max_completion_time.nanoseconds");
  refused(launch_with("'max_completion_time': {'nanoseconds': -1}"), "max_completion_time.nanoseconds");
  refused(launch_with("'max_completion_time': {'nanoseconds': '5'}"), "max_completion_time.nanoseconds");
  refused(launch_with("'max_completion_time': {}"), "max_completion_time.nanoseconds");
  refused(launch_with("'max_completion_time': 5"), "max_completion_time");
}

static void spec_free_twice_is_safe(void **state) {
  (void)state;
  accepted(launch_with("'command': {'value': 'x', 'arguments': ['a']}"), &spec);
  berth_spec_free(&spec);
  berth_spec_free(&spec);
}

/* ---- LAUNCH_CONTAINER: 400s ---- */

static void refuses_launch_that_is_not_an_object(void **state) {
  (void)state;
  refused(json_null(), "launch_container");
  refused(json_array(), "launch_container");
  refused(json_string("x"), "launch_container");
}

static void refuses_missing_container_id(void **state) {
  (void)state;
  refused(q("{'container': {'docker': {'image': 'busybox'}}}"), "container_id");
  refused(q("{'container_id': null, 'container': {'docker': {'image': 'busybox'}}}"), "container_id");
  refused(q("{'container_id': {}, 'container': {'docker': {'image': 'busybox'}}}"), "container_id.value");
}

static void refuses_container_id_of_wrong_type(void **state) {
  (void)state;
  refused(q("{'container_id': 'web-1', 'container': {'docker': {'image': 'busybox'}}}"), "container_id");
  refused(q("{'container_id': {'value': 7}, 'container': {'docker': {'image': 'busybox'}}}"), "container_id.value");
  refused(q("{'container_id': {'value': ['a']}}"), "container_id.value");
}

static void refuses_bad_container_ids(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",    "-a", "a b",     "../x",
      "a/b", "..", ".hidden", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    json_t *j = launch_with("");
    json_object_set_new(j, "container_id", json_pack("{s:s}", "value", bad[i]));
    refused(j, "container_id.value");
  }
  /* A NUL inside the id. */
  json_t *j = launch_with("");
  json_object_set_new(j, "container_id", json_pack("{s:o}", "value", json_stringn("ab\0cd", 5)));
  refused(j, "container_id.value");
}

static void refuses_command_of_wrong_types(void **state) {
  (void)state;
  refused(launch_with("'command': 'echo'"), "command");
  refused(launch_with("'command': {'shell': 'yes', 'value': 'x'}"), "command.shell");
  refused(launch_with("'command': {'shell': 1, 'value': 'x'}"), "command.shell");
  refused(launch_with("'command': {'value': 42}"), "command.value");
  refused(launch_with("'command': {'value': 'x', 'user': 0}"), "command.user");
  refused(launch_with("'command': {'value': 'x', 'arguments': 'a b'}"), "command.arguments");
  refused(launch_with("'command': {'value': 'x', 'arguments': ['a', 2]}"), "command.arguments[1]");
  refused(launch_with("'command': {'value': 'x', 'environment': []}"), "command.environment");
  refused(launch_with("'command': {'value': 'x', 'environment': {'variables': {}}}"), "command.environment.variables");
  refused(launch_with("'command': {'value': 'x', 'environment': {'variables': ['K=V']}}"),
          "command.environment.variables[0]");
}

static void refuses_shell_true_without_value(void **state) {
  (void)state;
  refused(launch_with("'command': {'shell': true}"), "command.value");
  refused(launch_with("'command': {'shell': true, 'arguments': ['a']}"), "command.value");
  refused(launch_with("'command': {'shell': true, 'value': null}"), "command.value");
}

static void refuses_bad_environment_variables(void **state) {
  (void)state;
  refused(launch_with("'command': {'environment': {'variables': [{'value': 'v'}]}}"),
          "command.environment.variables[].name");
  refused(launch_with("'command': {'environment': {'variables': [{'name': '', 'value': 'v'}]}}"),
          "command.environment.variables[0].name");
  refused(launch_with("'command': {'environment': {'variables': [{'name': 'A=B', 'value': 'v'}]}}"),
          "command.environment.variables[0].name");
  refused(launch_with("'command': {'environment': {'variables': [{'name': 'A', 'value': 1}]}}"),
          "command.environment.variables[].value");
}

static void uris_parse_with_mesos_defaults_and_bad_ones_are_refused(void **state) {
  (void)state;
  accepted_with(launch_with("'command': {'value': 'x', 'uris': [{'value': 'http://127.0.0.1:8000/a.tar.gz'},"
                            " {'value': '/srv/t', 'extract': false, 'executable': true, 'cache': true,"
                            " 'output_file': 'tool'}]}"),
                &policy, &spec);
  assert_int_equal(spec.n_uris, 2);
  assert_string_equal(spec.uris[0].value, "http://127.0.0.1:8000/a.tar.gz");
  assert_true(spec.uris[0].extract); /* mesos.proto's default */
  assert_false(spec.uris[0].executable);
  assert_false(spec.uris[0].cache);
  assert_null(spec.uris[0].output_file);
  assert_false(spec.uris[1].extract);
  assert_true(spec.uris[1].executable);
  assert_true(spec.uris[1].cache);
  assert_string_equal(spec.uris[1].output_file, "tool");
  berth_spec_free(&spec);
  refused(launch_with("'command': {'value': 'x', 'uris': 'http://x'}"), "command.uris");
  refused(launch_with("'command': {'value': 'x', 'uris': [{'extract': true}]}"), "command.uris[].value");
  refused(launch_with("'command': {'value': 'x', 'uris': ['http://x']}"), "command.uris[0]");
  refused(launch_with("'command': {'value': 'x', 'uris': [{'value': 'ftp://h/x'}]}"), "command.uris[0]");
  refused(launch_with("'command': {'value': 'x', 'uris': [{'value': 'http://h/x', 'output_file': '../x'}]}"),
          "output_file");
  refused(launch_with("'command': {'value': 'x', 'uris': [{'value': 'http://h/x', 'cache': 1}]}"),
          "command.uris[].cache");
}

static void refuses_too_many_arguments(void **state) {
  (void)state;
  json_t *j = launch_with("'command': {'shell': false}");
  json_t *args = json_array();
  for (int i = 0; i < 1025; i++) json_array_append_new(args, json_string("a"));
  json_object_set_new(json_object_get(j, "command"), "arguments", args);
  refused(j, "command.arguments");
}

static void refuses_resources_of_wrong_types(void **state) {
  (void)state;
  refused(launch_with("'resources': {'cpus': 1}"), "resources");
  refused(launch_with("'resources': ['cpus']"), "resources[0]");
  refused(launch_with("'resources': [{'scalar': {'value': 1}}]"), "resources[].name");
  refused(launch_with("'resources': [{'name': 7, 'scalar': {'value': 1}}]"), "resources[].name");
  refused(launch_with("'resources': [{'name': 'cpus'}]"), "scalar");
  refused(launch_with("'resources': [{'name': 'cpus', 'scalar': 1}]"), "resources[0] (cpus)");
  refused(launch_with("'resources': [{'name': 'cpus', 'scalar': {}}]"), "scalar.value");
}

static void refuses_negative_cpus(void **state) {
  (void)state;
  refused(launch_with("'resources': [{'name': 'cpus', 'scalar': {'value': -0.5}}]"), "resources[0] (cpus)");
}

static void refuses_absurd_cpus(void **state) {
  (void)state;
  refused(launch_with("'resources': [{'name': 'cpus', 'scalar': {'value': 1e9}}]"), "cpus");
}

static void refuses_mem_that_is_not_a_number(void **state) {
  (void)state;
  refused(launch_with("'resources': [{'name': 'mem', 'scalar': {'value': '64'}}]"), "resources[0] (mem)");
  refused(launch_with("'resources': [{'name': 'mem', 'scalar': {'value': 'inf'}}]"), "resources[0] (mem)");
  refused(launch_with("'resources': [{'name': 'mem', 'scalar': {'value': true}}]"), "mem");
  refused(launch_with("'resources': [{'name': 'mem', 'scalar': {'value': -1}}]"), "mem");
}

static void refuses_fractional_gpus(void **state) {
  (void)state;
  refused(launch_with("'resources': [{'name': 'gpus', 'scalar': {'value': 0.5}}]"), "gpus");
}

static void refuses_bad_persistent_volumes(void **state) {
  (void)state;
  refused(launch_with("'resources': [{'name': 'disk', 'scalar': {'value': 1},"
                      " 'disk': {'persistence': {'id': '../etc'}, 'volume': {'container_path': 'd'}}}]"),
          "persistence.id");
  refused(launch_with("'resources': [{'name': 'disk', 'scalar': {'value': 1},"
                      " 'disk': {'persistence': {}, 'volume': {'container_path': 'd'}}}]"),
          "persistence.id");
  refused(launch_with("'resources': [{'name': 'disk', 'scalar': {'value': 1},"
                      " 'disk': {'persistence': {'id': 'pv'}}}]"),
          "disk.volume");
  refused(launch_with("'resources': [{'name': 'disk', 'scalar': {'value': 1},"
                      " 'disk': {'persistence': {'id': 'pv'}, 'volume': {'container_path': '../up'}}}]"),
          "container_path");
  refused(launch_with("'resources': [{'name': 'disk', 'scalar': {'value': 1},"
                      " 'disk': {'persistence': {'id': 'pv'}, 'volume': {'container_path': ''}}}]"),
          "container_path");
  refused(launch_with("'resources': [{'name': 'disk', 'scalar': {'value': 1},"
                      " 'disk': {'persistence': {'id': 'pv'}, 'volume': {'container_path': 'a:b'}}}]"),
          "container_path");
  refused(launch_with("'resources': [{'name': 'disk', 'scalar': {'value': 1},"
                      " 'disk': {'persistence': {'id': 'pv'}, 'volume': {'container_path': 'd', 'mode': 'rw'}}}]"),
          "mode");
  refused(launch_with("'resources': [{'name': 'disk', 'scalar': {'value': 1}, 'disk': 'pv'}]"), "disk");
}

static void refuses_bad_limits(void **state) {
  (void)state;
  refused(launch_with("'limits': []"), "limits");
  refused(launch_with("'limits': {'cpus': 1.0}"), "limits.cpus");
  refused(launch_with("'limits': {'cpus': {}}"), "limits.cpus.value");
  refused(launch_with("'limits': {'cpus': {'value': -1}}"), "limits.cpus");
  refused(launch_with("'limits': {'mem': {'value': 'lots'}}"), "limits.mem");
  refused(launch_with("'limits': {'mem': {'value': 'INF'}}"), "limits.mem");
}

static void refuses_missing_or_bad_container(void **state) {
  (void)state;
  refused(q("{'container_id': {'value': 'web-1'}}"), "container");
  refused(launch_with("'container': 'DOCKER'"), "container");
  refused(launch_with("'container': {'type': 'MESOS', 'docker': {'image': 'busybox'}}"), "container.type");
  refused(launch_with("'container': {'type': 3, 'docker': {'image': 'busybox'}}"), "container.type");
  refused(launch_with("'container': {'type': 'DOCKER'}"), "container.docker");
  refused(launch_with("'container': {'docker': 'busybox'}"), "container.docker");
  refused(launch_with("'container': {'docker': {}}"), "container.docker.image");
  refused(launch_with("'container': {'docker': {'image': 5}}"), "container.docker.image");
  refused(launch_with("'container': {'hostname': 5, 'docker': {'image': 'busybox'}}"), "container.hostname");
}

static void refuses_bad_image_reference(void **state) {
  (void)state;
  refused(launch_with("'container': {'docker': {'image': 'Bad Image'}}"), "container.docker.image");
  refused(launch_with("'container': {'docker': {'image': ''}}"), "container.docker.image");
}

static void refuses_non_boolean_docker_flags(void **state) {
  (void)state;
  refused(launch_docker("'privileged': 'false'"), "container.docker.privileged");
  refused(launch_docker("'force_pull_image': 1"), "container.docker.force_pull_image");
}

static void refuses_privileged_without_allow(void **state) {
  (void)state;
  refused(launch_docker("'privileged': true"), "container.docker.privileged");
}

static void refuses_bad_volume_entries(void **state) {
  (void)state;
  refused(launch_with("'container': {'volumes': {}, 'docker': {'image': 'busybox'}}"), "container.volumes");
  refused(launch_with("'container': {'volumes': ['/srv:/x'], 'docker': {'image': 'busybox'}}"), "container.volumes[0]");
  refused(launch_with("'container': {'volumes': [{'container_path': '/x'}], 'docker': {'image': 'busybox'}}"),
          "container.volumes[].host_path");
  refused(launch_with("'container': {'volumes': [{'host_path': '/srv/a'}], 'docker': {'image': 'busybox'}}"),
          "container.volumes[].container_path");
  refused(launch_with("'container': {'volumes': [{'host_path': '/srv/a', 'container_path': '/x', 'mode': 'rw'}],"
                      " 'docker': {'image': 'busybox'}}"),
          "container.volumes[0].mode");
}

static void refuses_relative_host_path(void **state) {
  (void)state;
  refused(launch_with("'container': {'volumes': [{'host_path': 'srv/a', 'container_path': '/x'}],"
                      " 'docker': {'image': 'busybox'}}"),
          "container.volumes[0].host_path");
}

static void refuses_host_path_with_dotdot(void **state) {
  (void)state;
  refused(launch_with("'container': {'volumes': [{'host_path': '/srv/../etc', 'container_path': '/x'}],"
                      " 'docker': {'image': 'busybox'}}"),
          "container.volumes[0].host_path");
  refused(launch_with("'container': {'volumes': [{'host_path': '/srv/..', 'container_path': '/x'}],"
                      " 'docker': {'image': 'busybox'}}"),
          "container.volumes[0].host_path");
}

static void refuses_host_path_with_colon(void **state) {
  (void)state;
  refused(launch_with("'container': {'volumes': [{'host_path': '/srv/a:/etc', 'container_path': '/x'}],"
                      " 'docker': {'image': 'busybox'}}"),
          "container.volumes[0].host_path");
}

static void refuses_host_path_outside_allowed_prefixes(void **state) {
  (void)state;
  refused(launch_with("'container': {'volumes': [{'host_path': '/etc', 'container_path': '/x'}],"
                      " 'docker': {'image': 'busybox'}}"),
          "--allowed_host_paths");
  /* A sibling that shares the prefix's spelling is not under it. */
  refused(launch_with("'container': {'volumes': [{'host_path': '/srvx/a', 'container_path': '/x'}],"
                      " 'docker': {'image': 'busybox'}}"),
          "--allowed_host_paths");
}

/* A prefix written with a trailing slash still covers the directory. */
static void parse_host_path_equal_to_prefix(void **state) {
  (void)state;
  accepted(launch_with("'container': {'volumes': [{'host_path': '/data', 'container_path': '/x'},"
                       " {'host_path': '/srv/', 'container_path': '/y'}], 'docker': {'image': 'busybox'}}"),
           &spec);
  assert_int_equal(spec.n_volumes, 2);
  berth_spec_free(&spec);
}

static void refuses_any_host_path_without_allowed_prefixes(void **state) {
  (void)state;
  const berth_launch_policy none = {NULL, false};
  refused_with(launch_with("'container': {'volumes': [{'host_path': '/srv/a', 'container_path': '/x'}],"
                           " 'docker': {'image': 'busybox'}}"),
               &none, "--allowed_host_paths");
}

static void refuses_bad_container_path(void **state) {
  (void)state;
  refused(launch_with("'container': {'volumes': [{'host_path': '/srv/a', 'container_path': 'x'}],"
                      " 'docker': {'image': 'busybox'}}"),
          "container.volumes[0].container_path");
  refused(launch_with("'container': {'volumes': [{'host_path': '/srv/a', 'container_path': '/x/../..'}],"
                      " 'docker': {'image': 'busybox'}}"),
          "container.volumes[0].container_path");
  refused(launch_with("'container': {'volumes': [{'host_path': '/srv/a', 'container_path': '/x:ro'}],"
                      " 'docker': {'image': 'busybox'}}"),
          "container.volumes[0].container_path");
}

static void refuses_bad_network_mode(void **state) {
  (void)state;
  refused(launch_docker("'network': 'bogus'"), "container.docker.network");
  refused(launch_docker("'network': 'host'"), "container.docker.network");
  refused(launch_docker("'network': 1"), "container.docker.network");
}

static void refuses_user_network_without_name(void **state) {
  (void)state;
  refused(launch_docker("'network': 'USER'"), "container.network_infos[0].name");
  refused(launch_with("'container': {'network_infos': [{}], 'docker': {'image': 'busybox', 'network': 'USER'}}"),
          "container.network_infos[0].name");
  refused(
      launch_with("'container': {'network_infos': [{'name': ''}], 'docker': {'image': 'busybox', 'network': 'USER'}}"),
      "container.network_infos[0].name");
}

static void refuses_port_mappings_with_host_or_none_network(void **state) {
  (void)state;
  refused(launch_docker("'network': 'HOST', 'port_mappings': [{'host_port': 31000, 'container_port': 80}]"),
          "container.docker.port_mappings");
  refused(launch_docker("'port_mappings': [{'host_port': 31000, 'container_port': 80}]"),
          "container.docker.port_mappings"); /* HOST is the default */
  refused(launch_docker("'network': 'NONE', 'port_mappings': [{'host_port': 31000, 'container_port': 80}]"),
          "container.docker.port_mappings");
}

static void refuses_ports_out_of_range(void **state) {
  (void)state;
  refused(launch_docker("'network': 'BRIDGE', 'port_mappings': [{'host_port': 0, 'container_port': 80}]"),
          "container.docker.port_mappings[0]");
  refused(launch_docker("'network': 'BRIDGE', 'port_mappings': [{'host_port': 70000, 'container_port': 80}]"),
          "container.docker.port_mappings[0]");
  refused(launch_docker("'network': 'BRIDGE', 'port_mappings': [{'host_port': 80, 'container_port': 0}]"),
          "container.docker.port_mappings[0]");
  refused(launch_docker("'network': 'BRIDGE', 'port_mappings': [{'host_port': 80, 'container_port': 65536}]"),
          "container.docker.port_mappings[0]");
  refused(launch_docker("'network': 'BRIDGE', 'port_mappings': [{'host_port': -1, 'container_port': 80}]"),
          "container.docker.port_mappings[0]");
}

static void refuses_ports_of_wrong_types(void **state) {
  (void)state;
  refused(launch_docker("'network': 'BRIDGE', 'port_mappings': [{'host_port': '80', 'container_port': 80}]"),
          "container.docker.port_mappings[0]");
  refused(launch_docker("'network': 'BRIDGE', 'port_mappings': [{'host_port': 80.5, 'container_port': 80}]"),
          "container.docker.port_mappings[0]");
  refused(launch_docker("'network': 'BRIDGE', 'port_mappings': [{'container_port': 80}]"),
          "container.docker.port_mappings[0]");
  refused(launch_docker("'network': 'BRIDGE', 'port_mappings': [80]"), "container.docker.port_mappings[0]");
  refused(launch_docker("'network': 'BRIDGE', 'port_mappings': {}"), "container.docker.port_mappings");
  refused(launch_docker("'network': 'BRIDGE', 'port_mappings': [{'host_port': 80, 'container_port': 80,"
                        " 'protocol': 'sctp'}]"),
          "protocol");
  refused(launch_docker("'network': 'BRIDGE', 'port_mappings': [{'host_port': 80, 'container_port': 80,"
                        " 'protocol': 'TCP'}]"),
          "protocol");
}

static void refuses_unsupported_docker_parameter(void **state) {
  (void)state;
  refused(launch_docker("'parameters': [{'key': 'volume', 'value': '/:/host'}]"), "container.docker.parameters[0].key");
  refused(launch_docker("'parameters': [{'key': 'publish', 'value': '80:80'}]"), "container.docker.parameters[0].key");
  refused(launch_docker("'parameters': [{'key': 'label', 'value': 'a=b'}, {'key': 'network', 'value': 'host'}]"),
          "container.docker.parameters[1].key");
}

static void refuses_bad_label_parameters(void **state) {
  (void)state;
  refused(launch_docker("'parameters': [{'key': 'label', 'value': 'berth.container_id=other'}]"),
          "container.docker.parameters[0].value");
  refused(launch_docker("'parameters': [{'key': 'label', 'value': '=x'}]"), "container.docker.parameters[0].value");
  refused(launch_docker("'parameters': [{'key': 'label', 'value': ''}]"), "container.docker.parameters[0].value");
  refused(launch_docker("'parameters': [{'key': 'label'}]"), "container.docker.parameters[].value");
  refused(launch_docker("'parameters': [{'value': 'x'}]"), "container.docker.parameters[].key");
  refused(launch_docker("'parameters': ['label=x']"), "container.docker.parameters[0]");
  refused(launch_docker("'parameters': {}"), "container.docker.parameters");
}

static void refuses_bad_kill_policy(void **state) {
  (void)state;
  refused(launch_with("'kill_policy': 3"), "kill_policy");
  refused(launch_with("'kill_policy': {'grace_period': 3}"), "kill_policy.grace_period");
  refused(launch_with("'kill_policy': {'grace_period': {'nanoseconds': -1}}"), "kill_policy.grace_period.nanoseconds");
  refused(launch_with("'kill_policy': {'grace_period': {'nanoseconds': '3s'}}"),
          "kill_policy.grace_period.nanoseconds");
  refused(launch_with("'kill_policy': {'grace_period': {'nanoseconds': 1.5}}"), "kill_policy.grace_period.nanoseconds");
  refused(launch_with("'kill_policy': {'grace_period': {}}"), "kill_policy.grace_period.nanoseconds");
}

static void refuses_strings_with_nul(void **state) {
  (void)state;
  json_t *j = launch_with("'command': {'shell': true}");
  json_object_set_new(json_object_get(j, "command"), "value", json_stringn("ab\0c", 4));
  refused(j, "command.value");
}

/* ---- UPDATE_CONTAINER's resources ---- */

static void resources_parse_without_pvolumes_skips_disk(void **state) {
  (void)state;
  json_t *r =
      q("[{'name': 'cpus', 'scalar': {'value': 2}},"
        " {'name': 'disk', 'scalar': {'value': 1}, 'disk': {'persistence': {'id': 'pv'}}}]");
  json_t *l = q("{'mem': {'value': 256}}");
  berth_resources res;
  berth_error err = {0};
  assert_int_equal(berth_resources_parse(r, l, &res, NULL, NULL, &err), 0);
  assert_true(res.has_cpus);
  tu_assert_double_eq(res.cpus, 2);
  assert_false(res.has_mem);
  assert_true(res.has_mem_limit);
  tu_assert_double_eq(res.mem_limit_mb, 256);
  assert_false(res.has_cpus_limit);
  json_decref(r);
  json_decref(l);
}

static void resources_parse_accepts_absent_inputs(void **state) {
  (void)state;
  berth_resources res;
  berth_error err = {0};
  assert_int_equal(berth_resources_parse(NULL, NULL, &res, NULL, NULL, &err), 0);
  assert_false(res.has_cpus || res.has_mem || res.has_cpus_limit || res.has_mem_limit);
}

static void container_id_reader(void **state) {
  (void)state;
  char id[BERTH_ID_MAX + 1];
  berth_error err = {0};
  json_t *ok = q("{'container_id': {'value': 'abc'}}");
  assert_int_equal(berth_spec_container_id(ok, id, &err), 0);
  assert_string_equal(id, "abc");
  json_decref(ok);
  json_t *bad = q("{'container_id': {'value': 'a/b'}}");
  assert_int_equal(berth_spec_container_id(bad, id, &err), BERTH_EINVAL);
  tu_assert_contains(err.msg, "a/b");
  json_decref(bad);
}

/* More cpus than the kernel's CpuShares allow (262144 = 256 cpus) fail at
 * docker's start: they are refused here, naming the field. */
static void cpus_above_kernel_shares_refused(void **state) {
  (void)state;
  refused(launch_with("'resources': [{'name': 'cpus', 'type': 'SCALAR', 'scalar': {'value': 4096}}]"), "cpus");
  refused(launch_with("'resources': [{'name': 'cpus', 'type': 'SCALAR', 'scalar': {'value': 256.5}}]"), "cpus");
  refused(launch_with("'limits': {'cpus': {'value': 4097}}"), "limits.cpus");
  berth_launch_spec out;
  accepted(launch_with("'resources': [{'name': 'cpus', 'type': 'SCALAR', 'scalar': {'value': 256}}]"), &out);
  berth_spec_free(&out);
}

/* host_ip: an address literal, kept; anything else names the field. */
static void port_host_ip_checked(void **state) {
  (void)state;
  berth_launch_spec out;
  accepted(launch_docker("'network': 'BRIDGE', "
                         "'port_mappings': [{'host_port': 8080, 'container_port': 80, 'host_ip': '127.0.0.1'},"
                         "                  {'host_port': 8081, 'container_port': 81, 'host_ip': '::1'},"
                         "                  {'host_port': 8082, 'container_port': 82}]"),
           &out);
  assert_string_equal(out.ports[0].host_ip, "127.0.0.1");
  assert_string_equal(out.ports[1].host_ip, "::1");
  assert_string_equal(out.ports[2].host_ip, "");
  berth_spec_free(&out);
  static const char *const bad[] = {"'localhost'", "'127.0.0.1:80'", "'1.2.3'", "''", "'[::1]'", "5", "'::1%lo'"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char docker[256];
    snprintf(docker, sizeof(docker),
             "'network': 'BRIDGE', 'port_mappings': [{'host_port': 8080, 'container_port': 80, 'host_ip': %s}]",
             bad[i]);
    refused(launch_docker(docker), "host_ip");
  }
  assert_true(berth_spec_valid_ip("0.0.0.0"));
  assert_false(berth_spec_valid_ip(NULL));
}

/* What recovery keeps of a launch it cannot parse whole. */
static void kill_policy_read_alone(void **state) {
  (void)state;
  bool has;
  int64_t ns;
  json_t *j = launch_with("'resources': 7, 'kill_policy': {'grace_period': {'nanoseconds': 20000000000}}");
  berth_spec_kill_policy(j, &has, &ns);
  assert_true(has);
  assert_true(ns == 20000000000LL);
  json_decref(j);
  berth_spec_kill_policy(NULL, &has, &ns);
  assert_false(has);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(container_id_valid_forms, free_spec),
      cmocka_unit_test_teardown(container_id_invalid_forms, free_spec),
      cmocka_unit_test_teardown(image_ref_valid_forms, free_spec),
      cmocka_unit_test_teardown(image_ref_max_tag_length_accepted, free_spec),
      cmocka_unit_test_teardown(image_ref_invalid_forms, free_spec),
      cmocka_unit_test_teardown(image_ref_tag_too_long_refused, free_spec),
      cmocka_unit_test_teardown(image_ref_over_512_chars_refused, free_spec),
      cmocka_unit_test_teardown(image_ref_registry_with_trailing_slash_refused, free_spec),
      cmocka_unit_test_teardown(image_ref_without_repository_refused, free_spec),
      cmocka_unit_test_teardown(image_ref_malformed_digest_refused, free_spec),
      cmocka_unit_test_teardown(image_ref_mixed_separators_and_long_names_refused, free_spec),
      cmocka_unit_test_teardown(hostname_must_be_a_host_name, free_spec),
      cmocka_unit_test_teardown(parse_minimal_launch, free_spec),
      cmocka_unit_test_teardown(parse_full_launch_decodes_every_field, free_spec),
      cmocka_unit_test_teardown(parse_limits_inf_is_unlimited, free_spec),
      cmocka_unit_test_teardown(parse_shell_false_with_value_and_arguments, free_spec),
      cmocka_unit_test_teardown(parse_shell_false_with_arguments_only, free_spec),
      cmocka_unit_test_teardown(parse_shell_absent_with_value_means_shell, free_spec),
      cmocka_unit_test_teardown(parse_shell_absent_without_value_means_image_command, free_spec),
      cmocka_unit_test_teardown(parse_shell_null_with_value_means_shell, free_spec),
      cmocka_unit_test_teardown(parse_network_modes, free_spec),
      cmocka_unit_test_teardown(parse_user_network_takes_name_from_network_infos, free_spec),
      cmocka_unit_test_teardown(parse_privileged_allowed_by_policy, free_spec),
      cmocka_unit_test_teardown(parse_container_type_may_be_omitted, free_spec),
      cmocka_unit_test_teardown(parse_host_path_under_root_prefix, free_spec),
      cmocka_unit_test_teardown(parse_grace_period_zero, free_spec),
      cmocka_unit_test_teardown(parse_kill_policy_without_grace, free_spec),
      cmocka_unit_test_teardown(spec_free_twice_is_safe, free_spec),
      cmocka_unit_test_teardown(refuses_launch_that_is_not_an_object, free_spec),
      cmocka_unit_test_teardown(refuses_missing_container_id, free_spec),
      cmocka_unit_test_teardown(refuses_container_id_of_wrong_type, free_spec),
      cmocka_unit_test_teardown(refuses_bad_container_ids, free_spec),
      cmocka_unit_test_teardown(refuses_command_of_wrong_types, free_spec),
      cmocka_unit_test_teardown(refuses_shell_true_without_value, free_spec),
      cmocka_unit_test_teardown(refuses_bad_environment_variables, free_spec),
      cmocka_unit_test_teardown(uris_parse_with_mesos_defaults_and_bad_ones_are_refused, free_spec),
      cmocka_unit_test_teardown(refuses_too_many_arguments, free_spec),
      cmocka_unit_test_teardown(refuses_resources_of_wrong_types, free_spec),
      cmocka_unit_test_teardown(refuses_negative_cpus, free_spec),
      cmocka_unit_test_teardown(refuses_absurd_cpus, free_spec),
      cmocka_unit_test_teardown(refuses_mem_that_is_not_a_number, free_spec),
      cmocka_unit_test_teardown(refuses_fractional_gpus, free_spec),
      cmocka_unit_test_teardown(refuses_bad_persistent_volumes, free_spec),
      cmocka_unit_test_teardown(refuses_bad_limits, free_spec),
      cmocka_unit_test_teardown(refuses_missing_or_bad_container, free_spec),
      cmocka_unit_test_teardown(refuses_bad_image_reference, free_spec),
      cmocka_unit_test_teardown(refuses_non_boolean_docker_flags, free_spec),
      cmocka_unit_test_teardown(refuses_privileged_without_allow, free_spec),
      cmocka_unit_test_teardown(refuses_bad_volume_entries, free_spec),
      cmocka_unit_test_teardown(refuses_relative_host_path, free_spec),
      cmocka_unit_test_teardown(refuses_host_path_with_dotdot, free_spec),
      cmocka_unit_test_teardown(refuses_host_path_with_colon, free_spec),
      cmocka_unit_test_teardown(refuses_host_path_outside_allowed_prefixes, free_spec),
      cmocka_unit_test_teardown(parse_host_path_equal_to_prefix, free_spec),
      cmocka_unit_test_teardown(refuses_any_host_path_without_allowed_prefixes, free_spec),
      cmocka_unit_test_teardown(refuses_bad_container_path, free_spec),
      cmocka_unit_test_teardown(refuses_bad_network_mode, free_spec),
      cmocka_unit_test_teardown(refuses_user_network_without_name, free_spec),
      cmocka_unit_test_teardown(refuses_port_mappings_with_host_or_none_network, free_spec),
      cmocka_unit_test_teardown(refuses_ports_out_of_range, free_spec),
      cmocka_unit_test_teardown(refuses_ports_of_wrong_types, free_spec),
      cmocka_unit_test_teardown(refuses_unsupported_docker_parameter, free_spec),
      cmocka_unit_test_teardown(refuses_bad_label_parameters, free_spec),
      cmocka_unit_test_teardown(refuses_bad_kill_policy, free_spec),
      cmocka_unit_test_teardown(refuses_strings_with_nul, free_spec),
      cmocka_unit_test_teardown(resources_parse_without_pvolumes_skips_disk, free_spec),
      cmocka_unit_test_teardown(resources_parse_accepts_absent_inputs, free_spec),
      cmocka_unit_test_teardown(container_id_reader, free_spec),
      cmocka_unit_test(cpus_above_kernel_shares_refused),
      cmocka_unit_test(port_host_ip_checked),
      cmocka_unit_test(kill_policy_read_alone),
      cmocka_unit_test_teardown(parse_max_completion_time, free_spec),
      cmocka_unit_test_teardown(parse_max_completion_time_refuses_bad_values, free_spec),
  };
  return cmocka_run_group_tests_name("spec", tests, NULL, NULL);
}
