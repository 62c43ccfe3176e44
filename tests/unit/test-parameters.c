/* Unit tests for containerizer/parameters (the docker parameter table and
 * its value parsers) and containerizer/dns (--default_container_dns). */
#include <stdbool.h>

#include "testutil.h"

#include "containerizer/dns.h"
#include "containerizer/parameters.h"
#include "containerizer/mapping.h"
#include "containerizer/spec.h"

#define FIELD "container.docker.parameters"

static const char *const runtimes[] = {"runc", "crun", NULL};
static const berth_params_policy plain = {false, runtimes};
static const berth_params_policy privileged = {true, runtimes};

static berth_params params;

static int free_params(void **state) {
  (void)state;
  berth_params_free(&params);
  return 0;
}

/* A parameters array from alternating key, value strings. */
static json_t *kv(const char *const *pairs) {
  json_t *a = json_array();
  for (size_t i = 0; pairs[i]; i += 2)
    json_array_append_new(a, json_pack("{s:s,s:s}", "key", pairs[i], "value", pairs[i + 1]));
  return a;
}

#define PAIRS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void parse_ok_with(const berth_params_policy *policy, const char *const *pairs) {
  json_t *a = kv(pairs);
  berth_error err = {0};
  berth_params_free(&params);
  int rc = berth_params_parse(a, policy, FIELD, &params, &err);
  json_decref(a);
  if (rc != 0) fail_msg("parse failed: %s", err.msg);
}

static void parse_ok(const char *const *pairs) { parse_ok_with(&plain, pairs); }

/* Refused with EINVAL, the message containing every needle; params stay
 * empty. */
static void refused_with(const berth_params_policy *policy, const char *const *pairs, const char *needle1,
                         const char *needle2) {
  json_t *a = kv(pairs);
  berth_error err = {0};
  berth_params out = {0};
  int rc = berth_params_parse(a, policy, FIELD, &out, &err);
  json_decref(a);
  if (rc != BERTH_EINVAL) fail_msg("%s=%s: rc %d (%s), want EINVAL", pairs[0], pairs[1], rc, err.msg);
  assert_null(out.config);
  assert_null(out.host);
  tu_assert_contains(err.msg, needle1);
  if (needle2) tu_assert_contains(err.msg, needle2);
}

/* A bad value: the message names the key and the value. */
static void bad_value(const char *key, const char *value) { refused_with(&privileged, PAIRS(key, value), key, value); }

static json_t *host(const char *field) { return json_object_get(params.host, field); }

/* --- value parsers ---------------------------------------------------------- */

static void sizes_use_docker_units(void **state) {
  (void)state;
  struct {
    const char *in;
    int64_t want;
  } ok[] = {{"0", 0},          {"512", 512},        {"64m", 64LL << 20}, {"64M", 64LL << 20},
            {"1g", 1LL << 30}, {"1.5g", 3LL << 29}, {"1GiB", 1LL << 30}, {"1gb", 1LL << 30},
            {"2 k", 2048},     {"100b", 100},       {"1t", 1LL << 40},   {"1p", 1LL << 50}};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    int64_t got = -7;
    berth_error err = {0};
    if (berth_params_parse_size(ok[i].in, &got, &err) != 0) fail_msg("'%s': %s", ok[i].in, err.msg);
    if (got != ok[i].want) fail_msg("'%s' = %lld, want %lld", ok[i].in, (long long)got, (long long)ok[i].want);
  }
  const char *bad[] = {"", "m", "-1", "1.2.3", "1x", "1 g b", "1mm", ".5m", "1e3", " 64", "99999999999p"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int64_t got;
    berth_error err = {0};
    if (berth_params_parse_size(bad[i], &got, &err) != BERTH_EINVAL) fail_msg("'%s' accepted", bad[i]);
  }
}

static void booleans_are_go_parsebool(void **state) {
  (void)state;
  const char *yes[] = {"1", "t", "T", "TRUE", "true", "True"};
  const char *no[] = {"0", "f", "F", "FALSE", "false", "False"};
  for (size_t i = 0; i < 6; i++) {
    bool b = false;
    berth_error err;
    assert_int_equal(berth_params_parse_bool(yes[i], &b, &err), 0);
    assert_true(b);
    assert_int_equal(berth_params_parse_bool(no[i], &b, &err), 0);
    assert_false(b);
  }
  const char *bad[] = {"", "yes", "no", "tRUE", "2", "on", " true"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    bool b;
    berth_error err;
    assert_int_equal(berth_params_parse_bool(bad[i], &b, &err), BERTH_EINVAL);
  }
}

/* --- every key ------------------------------------------------------------------ */

static void label_accumulates_and_spares_berth_labels(void **state) {
  (void)state;
  parse_ok(PAIRS("label", "team=web", "label", "flag", "label", "team=db"));
  tu_assert_json_eq(json_object_get(params.config, "Labels"), "{\"team\": \"db\", \"flag\": \"\"}");
  bad_value("label", "berth.agent_id=x");
  bad_value("label", "=x");
  bad_value("label", "");
}

static void env_accumulates_and_cannot_set_injected_names(void **state) {
  (void)state;
  parse_ok(PAIRS("env", "A=1", "env", "B=", "env", "A=2"));
  tu_assert_json_eq(json_object_get(params.config, "Env"), "[\"A=1\", \"B=\", \"A=2\"]");
  bad_value("env", "HOME");
  bad_value("env", "=x");
  bad_value("env", "MESOS_SANDBOX=/x");
  bad_value("env", "MESOS_CONTAINER_NAME=x");
  bad_value("env", "BERTH_CONTAINER_ID=x");
}

static void user_and_workdir_are_scalars(void **state) {
  (void)state;
  parse_ok(PAIRS("user", "nobody", "user", "1000:1000", "workdir", "/a", "workdir", "/tmp"));
  tu_assert_json_str(params.config, "User", "1000:1000");
  tu_assert_json_str(params.config, "WorkingDir", "/tmp");
  bad_value("user", "");
  bad_value("user", "a b");
  bad_value("user", "1:2:3");
  bad_value("user", "root:");
  bad_value("workdir", "relative");
  bad_value("workdir", "/a b");
}

static void capabilities_normalize_and_accumulate(void **state) {
  (void)state;
  parse_ok_with(&privileged, PAIRS("cap-add", "net_admin", "cap-add", "CAP_SYS_PTRACE", "cap-add", "NET_ADMIN",
                                   "cap-drop", "all", "cap-drop", "chown"));
  tu_assert_json_eq(host("CapAdd"), "[\"CAP_NET_ADMIN\", \"CAP_SYS_PTRACE\"]");
  tu_assert_json_eq(host("CapDrop"), "[\"ALL\", \"CAP_CHOWN\"]");
  bad_value("cap-add", "NET_FOO");
  bad_value("cap-drop", "");
  bad_value("cap-drop", "CAP_");
}

static void ulimit_is_name_soft_hard(void **state) {
  (void)state;
  parse_ok(
      PAIRS("ulimit", "nofile=1024:2048", "ulimit", "nproc=100", "ulimit", "nofile=512:4096", "ulimit", "core=-1"));
  tu_assert_json_eq(host("Ulimits"),
                    "[{\"Name\": \"nofile\", \"Soft\": 512, \"Hard\": 4096},"
                    " {\"Name\": \"nproc\", \"Soft\": 100, \"Hard\": 100},"
                    " {\"Name\": \"core\", \"Soft\": -1, \"Hard\": -1}]");
  bad_value("ulimit", "nofile");
  bad_value("ulimit", "nofiles=1");
  bad_value("ulimit", "nofile=");
  bad_value("ulimit", "nofile=x");
  bad_value("ulimit", "nofile=2048:1024");
  bad_value("ulimit", "nofile=1:2:3");
  bad_value("ulimit", "nofile=0x10");
}

static void shm_size_and_memory_swap_are_sizes(void **state) {
  (void)state;
  parse_ok(PAIRS("shm-size", "64m", "memory-swap", "1g"));
  tu_assert_json_int(params.host, "ShmSize", 64LL << 20);
  tu_assert_json_int(params.host, "MemorySwap", 1LL << 30);
  parse_ok(PAIRS("memory-swap", "512m", "memory-swap", "-1", "shm-size", "1k", "shm-size", "2k"));
  tu_assert_json_int(params.host, "MemorySwap", -1);
  tu_assert_json_int(params.host, "ShmSize", 2048);
  bad_value("shm-size", "64q");
  bad_value("shm-size", "-1");
  bad_value("memory-swap", "-2");
  bad_value("memory-swap", "lots");
}

static void device_is_host_container_perms(void **state) {
  (void)state;
  parse_ok_with(&privileged, PAIRS("device", "/dev/fuse", "device", "/dev/null:/dev/n2", "device", "/dev/zero:r",
                                   "device", "/dev/full:/dev/f:rw"));
  tu_assert_json_eq(
      host("Devices"),
      "[{\"PathOnHost\": \"/dev/fuse\", \"PathInContainer\": \"/dev/fuse\", \"CgroupPermissions\": \"rwm\"},"
      " {\"PathOnHost\": \"/dev/null\", \"PathInContainer\": \"/dev/n2\", \"CgroupPermissions\": \"rwm\"},"
      " {\"PathOnHost\": \"/dev/zero\", \"PathInContainer\": \"/dev/zero\", \"CgroupPermissions\": \"r\"},"
      " {\"PathOnHost\": \"/dev/full\", \"PathInContainer\": \"/dev/f\", \"CgroupPermissions\": \"rw\"}]");
  bad_value("device", "dev/fuse");
  bad_value("device", "/dev/fuse:relative");
  bad_value("device", "/dev/fuse:/dev/f:rx");
  bad_value("device", "/dev/fuse:/dev/f:rr");
  bad_value("device", "/a:/b:r:w");
  bad_value("device", "/dev/../etc/shadow");
}

static void security_opt_forms(void **state) {
  (void)state;
  parse_ok_with(&privileged,
                PAIRS("security-opt", "no-new-privileges", "security-opt", "no-new-privileges=false", "security-opt",
                      "apparmor=unconfined", "security-opt", "label=disable", "security-opt", "seccomp=unconfined",
                      "security-opt", "seccomp={\"defaultAction\": \"SCMP_ACT_ALLOW\"}"));
  assert_int_equal(json_array_size(host("SecurityOpt")), 6);
  assert_string_equal(json_string_value(json_array_get(host("SecurityOpt"), 2)), "apparmor=unconfined");
  bad_value("security-opt", "seccomp=/etc/profile.json");
  bad_value("security-opt", "seccomp={not json");
  bad_value("security-opt", "no-new-privileges=maybe");
  bad_value("security-opt", "systempaths=unconfined");
  bad_value("security-opt", "bogus");
}

static void booleans_read_only_init_privileged(void **state) {
  (void)state;
  parse_ok_with(&privileged, PAIRS("read-only", "true", "init", "1", "privileged", "T", "init", "false"));
  assert_true(json_is_true(host("ReadonlyRootfs")));
  assert_true(json_is_false(host("Init")));
  assert_true(json_is_true(host("Privileged")));
  parse_ok(PAIRS("privileged", "false"));
  assert_true(json_is_false(host("Privileged")));
  bad_value("read-only", "yes");
  bad_value("init", "");
  bad_value("privileged", "on");
}

static void tmpfs_is_path_and_options(void **state) {
  (void)state;
  parse_ok(PAIRS("tmpfs", "/scratch", "tmpfs", "/run:size=1m,mode=1777", "tmpfs", "/scratch:size=2m"));
  tu_assert_json_eq(host("Tmpfs"), "{\"/scratch\": \"size=2m\", \"/run\": \"size=1m,mode=1777\"}");
  bad_value("tmpfs", "scratch");
  bad_value("tmpfs", "/a/../b");
  bad_value("tmpfs", "/a:size=1m mode=1");
  bad_value("tmpfs", "/a:size=1m\nx");
}

static void dns_keys_accumulate(void **state) {
  (void)state;
  parse_ok(PAIRS("dns", "10.0.0.1", "dns", "fd00::1", "dns-search", "example.com.", "dns-search", "corp", "dns-search",
                 ".", "dns-option", "ndots:2", "dns-opt", "rotate"));
  tu_assert_json_eq(host("Dns"), "[\"10.0.0.1\", \"fd00::1\"]");
  tu_assert_json_eq(host("DnsSearch"), "[\"example.com\", \"corp\", \".\"]");
  tu_assert_json_eq(host("DnsOptions"), "[\"ndots:2\", \"rotate\"]");
  bad_value("dns", "10.0.0");
  bad_value("dns", "dns.example.com");
  bad_value("dns", "010.0.0.1");
  bad_value("dns-search", "-bad.com");
  bad_value("dns-search", "a..b");
  bad_value("dns-search", "123.456");
  bad_value("dns-search", "a b");
  bad_value("dns-option", "ndots:1 rotate");
  bad_value("dns-option", "");
}

static void add_host_is_host_ip(void **state) {
  (void)state;
  parse_ok(PAIRS("add-host", "db:10.1.2.3", "add-host", "v6:fd00::2", "add-host", "gw:host-gateway"));
  tu_assert_json_eq(host("ExtraHosts"), "[\"db:10.1.2.3\", \"v6:fd00::2\", \"gw:host-gateway\"]");
  bad_value("add-host", "db");
  bad_value("add-host", ":10.1.2.3");
  bad_value("add-host", "db:nowhere");
  bad_value("add-host", "a b:10.1.2.3");
}

static void integers_pids_limit_and_oom_score_adj(void **state) {
  (void)state;
  parse_ok(PAIRS("pids-limit", "100", "oom-score-adj", "500", "pids-limit", "0x20"));
  tu_assert_json_int(params.host, "PidsLimit", 32);
  tu_assert_json_int(params.host, "OomScoreAdj", 500);
  parse_ok(PAIRS("pids-limit", "-1"));
  tu_assert_json_int(params.host, "PidsLimit", -1);
  bad_value("pids-limit", "many");
  bad_value("pids-limit", "99999999999999999999");
  bad_value("oom-score-adj", "1001");
  bad_value("oom-score-adj", "1.5");
  /* Lowering it is a privilege. */
  refused_with(&plain, PAIRS("oom-score-adj", "-500"), "oom-score-adj", "--allow_privileged");
  parse_ok_with(&privileged, PAIRS("oom-score-adj", "-500"));
  tu_assert_json_int(params.host, "OomScoreAdj", -500);
}

static void sysctl_only_namespaced(void **state) {
  (void)state;
  parse_ok(PAIRS("sysctl", "net.ipv4.ip_forward=1", "sysctl", "kernel.shmmax=1000", "sysctl", "fs.mqueue.msg_max=20",
                 "sysctl", "net.ipv4.ip_forward=0"));
  tu_assert_json_eq(host("Sysctls"),
                    "{\"net.ipv4.ip_forward\": \"0\", \"kernel.shmmax\": \"1000\", \"fs.mqueue.msg_max\": \"20\"}");
  bad_value("sysctl", "kernel.panic=1");
  bad_value("sysctl", "vm.swappiness=0");
  bad_value("sysctl", "net.ipv4.ip_forward");
  bad_value("sysctl", "net.x/../../kernel/panic=1");
  bad_value("sysctl", "net.a=1\n2");
}

static void runtime_from_the_allowed_list(void **state) {
  (void)state;
  parse_ok(PAIRS("runtime", "runc", "runtime", "crun"));
  tu_assert_json_str(params.host, "Runtime", "crun");
  refused_with(&plain, PAIRS("runtime", "kata"), "kata", "--docker_allowed_runtimes");
  bad_value("runtime", "../runc");
  /* Recovery re-reads a stored launch with no list: any name. */
  berth_params_policy any = {false, NULL};
  parse_ok_with(&any, PAIRS("runtime", "kata"));
  berth_error err;
  assert_int_equal(berth_params_check_runtime(&params, runtimes, &err), BERTH_EINVAL);
  tu_assert_contains(err.msg, "kata");
  tu_assert_contains(err.msg, "--docker_allowed_runtimes");
  parse_ok_with(&any, PAIRS("runtime", "crun"));
  assert_int_equal(berth_params_check_runtime(&params, runtimes, &err), 0);
}

/* --- the table as a whole ---------------------------------------------------------- */

static void privilege_widening_keys_need_the_flag(void **state) {
  (void)state;
  refused_with(&plain, PAIRS("cap-add", "NET_ADMIN"), "cap-add", "--allow_privileged");
  refused_with(&plain, PAIRS("device", "/dev/fuse"), "device", "--allow_privileged");
  refused_with(&plain, PAIRS("security-opt", "no-new-privileges"), "security-opt", "--allow_privileged");
  refused_with(&plain, PAIRS("privileged", "true"), "privileged", "--allow_privileged");
  parse_ok_with(&privileged, PAIRS("cap-add", "NET_ADMIN", "device", "/dev/fuse", "security-opt", "no-new-privileges",
                                   "privileged", "true"));
}

static void unknown_keys_are_named(void **state) {
  (void)state;
  const char *keys[] = {"volume", "v",       "mount",   "network",      "pid",    "ipc",          "publish",
                        "Label",  "--label", "cap_add", "volumes-from", "userns", "cgroup-parent"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
    refused_with(&privileged, PAIRS(keys[i], "x"), keys[i], FIELD "[0].key");
}

static void errors_name_the_index(void **state) {
  (void)state;
  refused_with(&plain, PAIRS("label", "a=b", "ulimit", "nofile=x"), FIELD "[1].value", "nofile=x");
}

static void malformed_entries(void **state) {
  (void)state;
  const char *cases[][2] = {{"[1]", FIELD "[0]"},
                            {"[{\"key\": \"label\"}]", FIELD "[].value"},
                            {"[{\"value\": \"x\"}]", FIELD "[].key"},
                            {"[{\"key\": \"label\", \"value\": 1}]", FIELD "[0]"},
                            {"{}", FIELD}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_t *a = tu_json(cases[i][0]);
    berth_error err = {0};
    berth_params out = {0};
    assert_int_equal(berth_params_parse(a, &plain, FIELD, &out, &err), BERTH_EINVAL);
    tu_assert_contains(err.msg, cases[i][1]);
    assert_null(out.host);
    json_decref(a);
  }
  /* A NUL inside a value (what a C string would cut short). */
  json_t *a = json_pack("[{s:s,s:o}]", "key", "label", "value", json_stringn("a\0b", 3));
  berth_error err = {0};
  berth_params out = {0};
  assert_int_equal(berth_params_parse(a, &plain, FIELD, &out, &err), BERTH_EINVAL);
  tu_assert_contains(err.msg, "NUL");
  json_decref(a);
}

static void table_lists_every_required_key(void **state) {
  (void)state;
  const char *required[] = {"label",         "env",          "cap-add",    "cap-drop",  "ulimit",  "shm-size",
                            "device",        "security-opt", "read-only",  "tmpfs",     "dns",     "dns-search",
                            "add-host",      "init",         "pids-limit", "user",      "workdir", "memory-swap",
                            "oom-score-adj", "sysctl",       "runtime",    "privileged"};
  const berth_param_info *t = berth_params_table();
  for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
    bool found = false;
    for (const berth_param_info *r = t; r->key && !found; r++) found = !strcmp(r->key, required[i]);
    if (!found) fail_msg("key '%s' missing from the table", required[i]);
  }
  for (const berth_param_info *r = t; r->key; r++) {
    bool widening = !strcmp(r->key, "cap-add") || !strcmp(r->key, "device") || !strcmp(r->key, "security-opt");
    if (r->privileged != widening) fail_msg("key '%s': privileged is %d", r->key, r->privileged);
    assert_non_null(r->field);
    assert_non_null(r->syntax);
  }
}

/* --- --default_container_dns ------------------------------------------------------------ */

static void dns_defaults_parse_and_find(void **state) {
  (void)state;
  berth_dns_defaults d;
  berth_error err = {0};
  const char *text =
      "{\"mesos\": [], \"docker\": ["
      "{\"network_mode\": \"BRIDGE\", \"dns\": {\"nameservers\": [\"10.0.0.1\"], \"search\": [\"corp.\"],"
      " \"options\": [\"ndots:2\"]}},"
      "{\"network_mode\": \"HOST\", \"dns\": {\"nameservers\": [\"10.0.0.2\"]}},"
      "{\"network_mode\": \"USER\", \"network_name\": \"net1\", \"dns\": {\"nameservers\": [\"10.0.0.3\"]}},"
      "{\"network_mode\": \"USER\", \"dns\": {\"search\": [\"any\"]}}]}";
  if (berth_dns_defaults_parse(text, &d, &err) != 0) fail_msg("%s", err.msg);
  assert_int_equal(d.n, 4);
  const berth_dns_entry *e = berth_dns_defaults_find(&d, BERTH_NET_BRIDGE, NULL);
  tu_assert_json_eq(e->nameservers, "[\"10.0.0.1\"]");
  tu_assert_json_eq(e->search, "[\"corp\"]");
  tu_assert_json_eq(e->options, "[\"ndots:2\"]");
  e = berth_dns_defaults_find(&d, BERTH_NET_HOST, NULL);
  tu_assert_json_eq(e->nameservers, "[\"10.0.0.2\"]");
  assert_null(e->search);
  e = berth_dns_defaults_find(&d, BERTH_NET_USER, "net1");
  tu_assert_json_eq(e->nameservers, "[\"10.0.0.3\"]");
  e = berth_dns_defaults_find(&d, BERTH_NET_USER, "net2");
  tu_assert_json_eq(e->search, "[\"any\"]");
  assert_null(berth_dns_defaults_find(&d, BERTH_NET_NONE, NULL));
  berth_dns_defaults_free(&d);
  assert_int_equal(berth_dns_defaults_parse(NULL, &d, &err), 0);
  assert_int_equal(d.n, 0);
  assert_null(berth_dns_defaults_find(&d, BERTH_NET_BRIDGE, NULL));
  berth_dns_defaults_free(&d);
}

static void dns_defaults_refuse_bad_input(void **state) {
  (void)state;
  const char *cases[][2] = {
      {"{", "not JSON"},
      {"[]", "must be an object"},
      {"{\"docker\": {}}", "must be an object"},
      {"{\"docker\": [{\"dns\": {}}]}", "docker[0].network_mode"},
      {"{\"docker\": [{\"network_mode\": \"NONE\", \"dns\": {}}]}", "NONE"},
      {"{\"docker\": [{\"network_mode\": \"BRIDGE\"}]}", "docker[0].dns"},
      {"{\"docker\": [{\"network_mode\": \"BRIDGE\", \"network_name\": \"x\", \"dns\": {}}]}", "network_name"},
      {"{\"docker\": [{\"network_mode\": \"BRIDGE\", \"dns\": {\"nameservers\": [\"nope\"]}}]}", "nope"},
      {"{\"docker\": [{\"network_mode\": \"BRIDGE\", \"dns\": {\"nameservers\": \"10.0.0.1\"}}]}", "nameservers"},
      {"{\"docker\": [{\"network_mode\": \"HOST\", \"dns\": {\"search\": [\"a b\"]}}]}", "a b"},
      {"{\"docker\": [{\"network_mode\": \"HOST\", \"dns\": {}}, {\"network_mode\": \"HOST\", \"dns\": {}}]}",
       "docker[1]"},
      {"{\"docker\": [{\"network_mode\": \"USER\", \"dns\": {}}, {\"network_mode\": \"USER\", \"dns\": {}}]}",
       "docker[1]"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    berth_dns_defaults d;
    berth_error err = {0};
    if (berth_dns_defaults_parse(cases[i][0], &d, &err) != BERTH_EINVAL) fail_msg("accepted: %s", cases[i][0]);
    tu_assert_contains(err.msg, "--default_container_dns");
    tu_assert_contains(err.msg, cases[i][1]);
    assert_null(d.entries);
  }
}

/* --- interplay with the rest of the launch (spec.c) ------------------------------------ */

static int spec_parse(const char *launch_json, berth_launch_spec *spec, berth_error *err) {
  static const char *const paths[] = {"/srv", NULL};
  berth_launch_policy policy = {paths, false};
  json_t *launch = tu_json(launch_json);
  int rc = berth_spec_parse(launch, &policy, spec, err);
  json_decref(launch);
  return rc;
}

#define LAUNCH(command, resources, params)                    \
  "{\"container_id\": {\"value\": \"p-1\"}" command resources \
  ", \"container\": {\"type\": \"DOCKER\", \"docker\": {\"image\": \"busybox:local\", \"parameters\": " params "}}}"

static void spec_checks_parameters_against_the_launch(void **state) {
  (void)state;
  berth_launch_spec spec;
  berth_error err = {0};
  /* user parameter and command.user: equal is fine, different is a 400. */
  assert_int_equal(
      spec_parse(LAUNCH(", \"command\": {\"user\": \"nobody\"}", "", "[{\"key\": \"user\", \"value\": \"nobody\"}]"),
                 &spec, &err),
      0);
  berth_spec_free(&spec);
  assert_int_equal(
      spec_parse(LAUNCH(", \"command\": {\"user\": \"nobody\"}", "", "[{\"key\": \"user\", \"value\": \"root\"}]"),
                 &spec, &err),
      BERTH_EINVAL);
  tu_assert_contains(err.msg, "command.user");
  /* memory-swap: parsed here, checked against mem at launch by the mapping
   * (a stored launch re-read after an UPDATE of mem must still parse). */
  assert_int_equal(spec_parse(LAUNCH("", "", "[{\"key\": \"memory-swap\", \"value\": \"1g\"}]"), &spec, &err), 0);
  assert_int_equal(berth_mapping_check_params(&spec, &err), BERTH_EINVAL);
  tu_assert_contains(err.msg, "memory-swap");
  berth_spec_free(&spec);
  assert_int_equal(
      spec_parse(LAUNCH("", ", \"resources\": [{\"name\": \"mem\", \"type\": \"SCALAR\", \"scalar\": {\"value\": 64}}]",
                        "[{\"key\": \"memory-swap\", \"value\": \"32m\"}]"),
                 &spec, &err),
      0);
  assert_int_equal(berth_mapping_check_params(&spec, &err), BERTH_EINVAL);
  tu_assert_contains(err.msg, "below");
  berth_spec_free(&spec);
  assert_int_equal(
      spec_parse(LAUNCH("", ", \"resources\": [{\"name\": \"mem\", \"type\": \"SCALAR\", \"scalar\": {\"value\": 64}}]",
                        "[{\"key\": \"memory-swap\", \"value\": \"128m\"}, {\"key\": \"label\", \"value\": \"a=b\"}]"),
                 &spec, &err),
      0);
  assert_int_equal(berth_mapping_check_params(&spec, &err), 0);
  /* Labels move to the spec's list; the rest stays in params. */
  assert_int_equal(spec.n_labels, 1);
  assert_string_equal(spec.labels[0].key, "a");
  assert_null(json_object_get(spec.params.config, "Labels"));
  tu_assert_json_int(spec.params.host, "MemorySwap", 128 << 20);
  berth_spec_free(&spec);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sizes_use_docker_units),
      cmocka_unit_test(booleans_are_go_parsebool),
      cmocka_unit_test_teardown(label_accumulates_and_spares_berth_labels, free_params),
      cmocka_unit_test_teardown(env_accumulates_and_cannot_set_injected_names, free_params),
      cmocka_unit_test_teardown(user_and_workdir_are_scalars, free_params),
      cmocka_unit_test_teardown(capabilities_normalize_and_accumulate, free_params),
      cmocka_unit_test_teardown(ulimit_is_name_soft_hard, free_params),
      cmocka_unit_test_teardown(shm_size_and_memory_swap_are_sizes, free_params),
      cmocka_unit_test_teardown(device_is_host_container_perms, free_params),
      cmocka_unit_test_teardown(security_opt_forms, free_params),
      cmocka_unit_test_teardown(booleans_read_only_init_privileged, free_params),
      cmocka_unit_test_teardown(tmpfs_is_path_and_options, free_params),
      cmocka_unit_test_teardown(dns_keys_accumulate, free_params),
      cmocka_unit_test_teardown(add_host_is_host_ip, free_params),
      cmocka_unit_test_teardown(integers_pids_limit_and_oom_score_adj, free_params),
      cmocka_unit_test_teardown(sysctl_only_namespaced, free_params),
      cmocka_unit_test_teardown(runtime_from_the_allowed_list, free_params),
      cmocka_unit_test_teardown(privilege_widening_keys_need_the_flag, free_params),
      cmocka_unit_test(unknown_keys_are_named),
      cmocka_unit_test(errors_name_the_index),
      cmocka_unit_test(malformed_entries),
      cmocka_unit_test(table_lists_every_required_key),
      cmocka_unit_test(dns_defaults_parse_and_find),
      cmocka_unit_test(dns_defaults_refuse_bad_input),
      cmocka_unit_test(spec_checks_parameters_against_the_launch),
  };
  return cmocka_run_group_tests_name("parameters", tests, NULL, NULL);
}
