/* Unit tests for containerizer/mapping: resources, command, environment,
 * labels, binds, network and logging, exactly as API.md §3 says. */
#include <math.h>
#include <stdbool.h>

#include "testutil.h"

#include "containerizer/mapping.h"

#define MIB (1024LL * 1024LL)

/* ---- resources ---- */

static json_t *map_res(const berth_resources *res, bool cfs) {
  json_t *hc = json_object();
  berth_mapping_resources(res, cfs, hc);
  return hc;
}

static void cpus_become_cpu_shares(void **state) {
  (void)state;
  berth_resources res = {.has_cpus = true, .cpus = 0.5};
  json_t *hc = map_res(&res, false);
  tu_assert_json_eq(hc, "{\"CpuShares\": 512}"); /* no quota without a limit or CFS */
  json_decref(hc);

  res.cpus = 2;
  hc = map_res(&res, false);
  tu_assert_json_int(hc, "CpuShares", 2048);
  json_decref(hc);
}

static void tiny_cpus_get_minimum_shares(void **state) {
  (void)state;
  berth_resources res = {.has_cpus = true, .cpus = 0.001};
  json_t *hc = map_res(&res, false);
  tu_assert_json_int(hc, "CpuShares", 2);
  json_decref(hc);
  res.cpus = 0;
  hc = map_res(&res, false);
  tu_assert_json_int(hc, "CpuShares", 2);
  json_decref(hc);
}

static void cpus_limit_becomes_cfs_quota(void **state) {
  (void)state;
  berth_resources res = {.has_cpus = true, .cpus = 0.5, .has_cpus_limit = true, .cpus_limit = 1.0};
  json_t *hc = map_res(&res, false);
  tu_assert_json_eq(hc, "{\"CpuShares\": 512, \"CpuPeriod\": 100000, \"CpuQuota\": 100000}");
  json_decref(hc);

  res.cpus_limit = 2.5;
  hc = map_res(&res, false);
  tu_assert_json_int(hc, "CpuQuota", 250000);
  json_decref(hc);
}

static void cpus_limit_without_cpus_sets_only_quota(void **state) {
  (void)state;
  berth_resources res = {.has_cpus_limit = true, .cpus_limit = 1.0};
  json_t *hc = map_res(&res, false);
  tu_assert_json_eq(hc, "{\"CpuPeriod\": 100000, \"CpuQuota\": 100000}");
  json_decref(hc);
}

static void tiny_cpus_limit_gets_minimum_quota(void **state) {
  (void)state;
  berth_resources res = {.has_cpus_limit = true, .cpus_limit = 0.001};
  json_t *hc = map_res(&res, false);
  tu_assert_json_int(hc, "CpuPeriod", 100000);
  tu_assert_json_int(hc, "CpuQuota", 1000);
  json_decref(hc);
}

static void cfs_flag_uses_cpus_as_quota(void **state) {
  (void)state;
  berth_resources res = {.has_cpus = true, .cpus = 0.5};
  json_t *hc = map_res(&res, true);
  tu_assert_json_eq(hc, "{\"CpuShares\": 512, \"CpuPeriod\": 100000, \"CpuQuota\": 50000}");
  json_decref(hc);
  res.cpus = 0.001;
  hc = map_res(&res, true);
  tu_assert_json_int(hc, "CpuQuota", 1000);
  json_decref(hc);
}

static void cfs_flag_with_limit_uses_the_limit(void **state) {
  (void)state;
  berth_resources res = {.has_cpus = true, .cpus = 0.5, .has_cpus_limit = true, .cpus_limit = 2};
  json_t *hc = map_res(&res, true);
  tu_assert_json_int(hc, "CpuQuota", 200000);
  json_decref(hc);
}

static void cfs_flag_without_cpus_sets_nothing(void **state) {
  (void)state;
  berth_resources res = {0};
  json_t *hc = map_res(&res, true);
  tu_assert_json_eq(hc, "{}");
  json_decref(hc);
}

static void cpus_limit_inf_is_unlimited_quota(void **state) {
  (void)state;
  berth_resources res = {.has_cpus = true, .cpus = 1, .has_cpus_limit = true, .cpus_limit = INFINITY};
  json_t *hc = map_res(&res, true);
  tu_assert_json_int(hc, "CpuShares", 1024);
  /* -1 is Docker's "no quota"; 0 would keep the old quota on update. */
  tu_assert_json_int(hc, "CpuQuota", -1);
  json_decref(hc);
}

static void mem_becomes_memory(void **state) {
  (void)state;
  berth_resources res = {.has_mem = true, .mem_mb = 64};
  json_t *hc = map_res(&res, false);
  tu_assert_json_int(hc, "Memory", 64 * MIB);
  assert_null(json_object_get(hc, "MemoryReservation"));
  assert_null(json_object_get(hc, "CpuShares"));
  json_decref(hc);
}

static void mem_swap_equals_memory(void **state) {
  (void)state;
  berth_resources res = {.has_mem = true, .mem_mb = 64};
  json_t *hc = map_res(&res, false);
  tu_assert_json_int(hc, "MemorySwap", 64 * MIB);
  json_decref(hc);
}

static void small_mem_gets_minimum(void **state) {
  (void)state;
  berth_resources res = {.has_mem = true, .mem_mb = 8};
  json_t *hc = map_res(&res, false);
  tu_assert_json_int(hc, "Memory", 32 * MIB);
  json_decref(hc);
  res.mem_mb = 0;
  hc = map_res(&res, false);
  tu_assert_json_int(hc, "Memory", 32 * MIB);
  json_decref(hc);
}

static void larger_mem_limit_becomes_memory_and_mem_the_reservation(void **state) {
  (void)state;
  berth_resources res = {.has_mem = true, .mem_mb = 64, .has_mem_limit = true, .mem_limit_mb = 128};
  json_t *hc = map_res(&res, false);
  tu_assert_json_int(hc, "Memory", 128 * MIB);
  tu_assert_json_int(hc, "MemoryReservation", 64 * MIB);
  tu_assert_json_int(hc, "MemorySwap", 128 * MIB);
  json_decref(hc);
}

static void mem_limit_not_larger_than_mem_is_ignored(void **state) {
  (void)state;
  berth_resources res = {.has_mem = true, .mem_mb = 128, .has_mem_limit = true, .mem_limit_mb = 128};
  json_t *hc = map_res(&res, false);
  tu_assert_json_int(hc, "Memory", 128 * MIB);
  assert_null(json_object_get(hc, "MemoryReservation"));
  json_decref(hc);
}

static void mem_limit_without_mem_sets_memory(void **state) {
  (void)state;
  berth_resources res = {.has_mem_limit = true, .mem_limit_mb = 256};
  json_t *hc = map_res(&res, false);
  tu_assert_json_int(hc, "Memory", 256 * MIB);
  assert_null(json_object_get(hc, "MemoryReservation"));
  json_decref(hc);
}

static void mem_limit_inf_means_no_hard_limit(void **state) {
  (void)state;
  berth_resources res = {.has_mem = true, .mem_mb = 64, .has_mem_limit = true, .mem_limit_mb = INFINITY};
  json_t *hc = map_res(&res, false);
  tu_assert_json_int(hc, "Memory", 0);
  tu_assert_json_int(hc, "MemorySwap", -1);
  tu_assert_json_int(hc, "MemoryReservation", 64 * MIB);
  json_decref(hc);
}

static void no_resources_sets_nothing(void **state) {
  (void)state;
  berth_resources res = {0};
  json_t *hc = map_res(&res, false);
  tu_assert_json_eq(hc, "{}");
  json_decref(hc);
}

/* ---- the create config ---- */

static const berth_mapping_ctx ctx = {
    .agent_id = "a1",
    .docker_name = "berth-a1.web-1",
    .sandbox_host = "/var/lib/berth/sandboxes/web-1",
    .sandbox_directory = "/mnt/mesos/sandbox",
    .volumes_dir = "/var/lib/berth/volumes",
    .cgroups_enable_cfs = false,
    .devices = NULL,
};

/* A spec with the fields every launch has; the caller sets the rest. */
static berth_launch_spec base_spec(void) {
  berth_launch_spec spec;
  memset(&spec, 0, sizeof(spec));
  strcpy(spec.id, "web-1");
  spec.image = (char *)"busybox:local";
  spec.network = BERTH_NET_HOST;
  return spec;
}

static void config_has_image_and_workdir(void **state) {
  (void)state;
  berth_launch_spec spec = base_spec();
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  tu_assert_json_str(c, "Image", "busybox:local");
  tu_assert_json_str(c, "WorkingDir", "/mnt/mesos/sandbox");
  assert_null(json_object_get(c, "User"));
  assert_null(json_object_get(c, "Hostname"));
  json_decref(c);
}

static void shell_command_uses_bin_sh_c(void **state) {
  (void)state;
  berth_launch_spec spec = base_spec();
  spec.shell = true;
  spec.value = (char *)"echo hello && sleep 30";
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  tu_assert_json_eq(json_object_get(c, "Entrypoint"), "[\"/bin/sh\", \"-c\"]");
  tu_assert_json_eq(json_object_get(c, "Cmd"), "[\"echo hello && sleep 30\"]");
  json_decref(c);
}

static void shell_command_ignores_arguments(void **state) {
  (void)state;
  char *args[] = {(char *)"a", NULL};
  berth_launch_spec spec = base_spec();
  spec.shell = true;
  spec.value = (char *)"echo $0";
  spec.arguments = args;
  spec.n_arguments = 1;
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  tu_assert_json_eq(json_object_get(c, "Cmd"), "[\"echo $0\"]");
  json_decref(c);
}

static void non_shell_command_replaces_cmd_and_keeps_entrypoint(void **state) {
  (void)state;
  char *args[] = {(char *)"-n", (char *)"two words", NULL};
  berth_launch_spec spec = base_spec();
  spec.value = (char *)"/bin/echo";
  spec.arguments = args;
  spec.n_arguments = 2;
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  assert_null(json_object_get(c, "Entrypoint"));
  tu_assert_json_eq(json_object_get(c, "Cmd"), "[\"/bin/echo\", \"-n\", \"two words\"]");
  json_decref(c);
}

static void non_shell_arguments_only_become_cmd(void **state) {
  (void)state;
  char *args[] = {(char *)"sleep", (char *)"5", NULL};
  berth_launch_spec spec = base_spec();
  spec.arguments = args;
  spec.n_arguments = 2;
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  assert_null(json_object_get(c, "Entrypoint"));
  tu_assert_json_eq(json_object_get(c, "Cmd"), "[\"sleep\", \"5\"]");
  json_decref(c);
}

static void non_shell_value_only_becomes_cmd(void **state) {
  (void)state;
  berth_launch_spec spec = base_spec();
  spec.value = (char *)"/app/run";
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  assert_null(json_object_get(c, "Entrypoint"));
  tu_assert_json_eq(json_object_get(c, "Cmd"), "[\"/app/run\"]");
  json_decref(c);
}

static void no_command_keeps_image_entrypoint_and_cmd(void **state) {
  (void)state;
  berth_launch_spec spec = base_spec();
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  assert_null(json_object_get(c, "Entrypoint"));
  assert_null(json_object_get(c, "Cmd"));
  json_decref(c);
}

static void env_has_caller_vars_then_berth_vars(void **state) {
  (void)state;
  berth_env_var env[] = {{(char *)"K", (char *)"V"}, {(char *)"EMPTY", (char *)""}, {NULL, NULL}};
  berth_launch_spec spec = base_spec();
  spec.env = env;
  spec.n_env = 2;
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  tu_assert_json_eq(json_object_get(c, "Env"),
                    "[\"K=V\", \"EMPTY=\", \"MESOS_SANDBOX=/mnt/mesos/sandbox\","
                    " \"MESOS_CONTAINER_NAME=berth-a1.web-1\", \"BERTH_CONTAINER_ID=web-1\"]");
  json_decref(c);
}

static void env_without_caller_vars(void **state) {
  (void)state;
  berth_launch_spec spec = base_spec();
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  tu_assert_json_eq(json_object_get(c, "Env"),
                    "[\"MESOS_SANDBOX=/mnt/mesos/sandbox\", \"MESOS_CONTAINER_NAME=berth-a1.web-1\","
                    " \"BERTH_CONTAINER_ID=web-1\"]");
  json_decref(c);
}

static void labels_carry_agent_and_container_id(void **state) {
  (void)state;
  berth_label labels[] = {{(char *)"team", (char *)"web"}, {NULL, NULL}};
  berth_launch_spec spec = base_spec();
  spec.labels = labels;
  spec.n_labels = 1;
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  tu_assert_json_eq(json_object_get(c, "Labels"),
                    "{\"team\": \"web\", \"berth.agent_id\": \"a1\", \"berth.container_id\": \"web-1\"}");
  json_decref(c);
}

static void user_and_hostname_passed_through(void **state) {
  (void)state;
  berth_launch_spec spec = base_spec();
  spec.user = (char *)"nobody";
  spec.hostname = (char *)"web";
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  tu_assert_json_str(c, "User", "nobody");
  tu_assert_json_str(c, "Hostname", "web");
  json_decref(c);
}

static void binds_sandbox_rw_first(void **state) {
  (void)state;
  berth_launch_spec spec = base_spec();
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  json_t *hc = json_object_get(c, "HostConfig");
  tu_assert_json_eq(json_object_get(hc, "Binds"), "[\"/var/lib/berth/sandboxes/web-1:/mnt/mesos/sandbox:rw\"]");
  json_decref(c);
}

static void binds_host_volumes_ro_and_rw(void **state) {
  (void)state;
  berth_volume vols[] = {{(char *)"/srv/app", (char *)"/etc/app", true}, {(char *)"/data/x", (char *)"/var/x", false}};
  berth_launch_spec spec = base_spec();
  spec.volumes = vols;
  spec.n_volumes = 2;
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  json_t *hc = json_object_get(c, "HostConfig");
  tu_assert_json_eq(json_object_get(hc, "Binds"),
                    "[\"/var/lib/berth/sandboxes/web-1:/mnt/mesos/sandbox:rw\","
                    " \"/srv/app:/etc/app:ro\", \"/data/x:/var/x:rw\"]");
  json_decref(c);
}

static void binds_persistent_volumes_relative_inside_sandbox(void **state) {
  (void)state;
  berth_persistent_volume pv[] = {{(char *)"pv-1", (char *)"data", false}, {(char *)"pv-2", (char *)"/abs", true}};
  berth_launch_spec spec = base_spec();
  spec.pvolumes = pv;
  spec.n_pvolumes = 2;
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  json_t *hc = json_object_get(c, "HostConfig");
  tu_assert_json_eq(json_object_get(hc, "Binds"),
                    "[\"/var/lib/berth/sandboxes/web-1:/mnt/mesos/sandbox:rw\","
                    " \"/var/lib/berth/volumes/pv-1:/mnt/mesos/sandbox/data:rw\","
                    " \"/var/lib/berth/volumes/pv-2:/abs:ro\"]");
  json_decref(c);
}

static void network_modes_map_to_docker_names(void **state) {
  (void)state;
  static const struct {
    berth_network_mode mode;
    const char *want;
  } cases[] = {{BERTH_NET_HOST, "host"}, {BERTH_NET_BRIDGE, "bridge"}, {BERTH_NET_NONE, "none"}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    berth_launch_spec spec = base_spec();
    spec.network = cases[i].mode;
    json_t *c = berth_mapping_create_config(&spec, &ctx);
    json_t *hc = json_object_get(c, "HostConfig");
    tu_assert_json_str(hc, "NetworkMode", cases[i].want);
    assert_null(json_object_get(hc, "PortBindings"));
    assert_null(json_object_get(c, "ExposedPorts"));
    json_decref(c);
  }
}

static void user_network_uses_its_name(void **state) {
  (void)state;
  berth_launch_spec spec = base_spec();
  spec.network = BERTH_NET_USER;
  spec.network_name = (char *)"my-net";
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  tu_assert_json_str(json_object_get(c, "HostConfig"), "NetworkMode", "my-net");
  json_decref(c);
}

static void port_mappings_become_port_bindings(void **state) {
  (void)state;
  berth_port_mapping ports[] = {{31000, 80, "tcp", ""}, {31001, 53, "udp", ""}, {31002, 80, "tcp", ""}};
  berth_launch_spec spec = base_spec();
  spec.network = BERTH_NET_BRIDGE;
  spec.ports = ports;
  spec.n_ports = 3;
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  json_t *hc = json_object_get(c, "HostConfig");
  tu_assert_json_str(hc, "NetworkMode", "bridge");
  tu_assert_json_eq(json_object_get(hc, "PortBindings"),
                    "{\"80/tcp\": [{\"HostIp\": \"\", \"HostPort\": \"31000\"},"
                    "              {\"HostIp\": \"\", \"HostPort\": \"31002\"}],"
                    " \"53/udp\": [{\"HostIp\": \"\", \"HostPort\": \"31001\"}]}");
  tu_assert_json_eq(json_object_get(c, "ExposedPorts"), "{\"80/tcp\": {}, \"53/udp\": {}}");
  json_decref(c);
}

static void port_host_ip_is_the_mappings_else_the_flags(void **state) {
  (void)state;
  berth_port_mapping ports[] = {{31000, 80, "tcp", "127.0.0.1"}, {31001, 81, "tcp", ""}, {31002, 82, "udp", "::1"}};
  berth_launch_spec spec = base_spec();
  spec.network = BERTH_NET_BRIDGE;
  spec.ports = ports;
  spec.n_ports = 3;
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  tu_assert_json_eq(json_object_get(json_object_get(c, "HostConfig"), "PortBindings"),
                    "{\"80/tcp\": [{\"HostIp\": \"127.0.0.1\", \"HostPort\": \"31000\"}],"
                    " \"81/tcp\": [{\"HostIp\": \"\", \"HostPort\": \"31001\"}],"
                    " \"82/udp\": [{\"HostIp\": \"::1\", \"HostPort\": \"31002\"}]}");
  json_decref(c);
  berth_mapping_ctx with_default = ctx;
  with_default.port_host_ip = "10.1.2.3";
  c = berth_mapping_create_config(&spec, &with_default);
  tu_assert_json_eq(json_object_get(json_object_get(c, "HostConfig"), "PortBindings"),
                    "{\"80/tcp\": [{\"HostIp\": \"127.0.0.1\", \"HostPort\": \"31000\"}],"
                    " \"81/tcp\": [{\"HostIp\": \"10.1.2.3\", \"HostPort\": \"31001\"}],"
                    " \"82/udp\": [{\"HostIp\": \"::1\", \"HostPort\": \"31002\"}]}");
  json_decref(c);
}

static void log_config_is_local(void **state) {
  (void)state;
  berth_launch_spec spec = base_spec();
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  tu_assert_json_eq(json_object_get(json_object_get(c, "HostConfig"), "LogConfig"),
                    "{\"Type\": \"local\", \"Config\": {}}");
  json_decref(c);
}

static void privileged_passed_through(void **state) {
  (void)state;
  berth_launch_spec spec = base_spec();
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  assert_true(json_is_false(json_object_get(json_object_get(c, "HostConfig"), "Privileged")));
  json_decref(c);
  spec.privileged = true;
  c = berth_mapping_create_config(&spec, &ctx);
  assert_true(json_is_true(json_object_get(json_object_get(c, "HostConfig"), "Privileged")));
  json_decref(c);
}

static void resources_land_in_host_config(void **state) {
  (void)state;
  berth_launch_spec spec = base_spec();
  spec.res = (berth_resources){
      .has_cpus = true, .cpus = 0.5, .has_mem = true, .mem_mb = 64, .has_mem_limit = true, .mem_limit_mb = 128};
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  json_t *hc = json_object_get(c, "HostConfig");
  tu_assert_json_int(hc, "CpuShares", 512);
  tu_assert_json_int(hc, "Memory", 128 * MIB);
  tu_assert_json_int(hc, "MemoryReservation", 64 * MIB);
  assert_null(json_object_get(hc, "CpuQuota"));
  json_decref(c);

  berth_mapping_ctx cfs = ctx;
  cfs.cgroups_enable_cfs = true;
  c = berth_mapping_create_config(&spec, &cfs);
  tu_assert_json_int(json_object_get(c, "HostConfig"), "CpuQuota", 50000);
  json_decref(c);
}

static void gpu_devices_become_docker_devices(void **state) {
  (void)state;
  static const char *const devs[] = {"/dev/nvidia0", "/dev/nvidiactl", NULL};
  berth_mapping_ctx with = ctx;
  with.devices = devs;
  berth_launch_spec spec = base_spec();
  json_t *c = berth_mapping_create_config(&spec, &with);
  tu_assert_json_eq(json_object_get(json_object_get(c, "HostConfig"), "Devices"),
                    "[{\"PathOnHost\": \"/dev/nvidia0\", \"PathInContainer\": \"/dev/nvidia0\","
                    "  \"CgroupPermissions\": \"rwm\"},"
                    " {\"PathOnHost\": \"/dev/nvidiactl\", \"PathInContainer\": \"/dev/nvidiactl\","
                    "  \"CgroupPermissions\": \"rwm\"}]");
  json_decref(c);
  c = berth_mapping_create_config(&spec, &ctx);
  assert_null(json_object_get(json_object_get(c, "HostConfig"), "Devices"));
  json_decref(c);
}

/* The whole body for the contract's example, as a recorded fixture. */
static void contract_example_matches_fixture(void **state) {
  (void)state;
  char *args[] = {NULL};
  berth_env_var env[] = {{(char *)"K", (char *)"V"}};
  berth_volume vols[] = {{(char *)"/srv/app", (char *)"/etc/app", true}};
  berth_persistent_volume pv[] = {{(char *)"pv-1", (char *)"data", false}};
  berth_port_mapping ports[] = {{31000, 80, "tcp", ""}};
  berth_label labels[] = {{(char *)"team", (char *)"web"}};
  berth_launch_spec spec = base_spec();
  spec.shell = true;
  spec.value = (char *)"echo hello && sleep 30";
  spec.arguments = args;
  spec.env = env;
  spec.n_env = 1;
  spec.user = (char *)"nobody";
  spec.res = (berth_resources){.has_cpus = true,
                               .cpus = 0.5,
                               .has_mem = true,
                               .mem_mb = 64,
                               .has_cpus_limit = true,
                               .cpus_limit = 1.0,
                               .has_mem_limit = true,
                               .mem_limit_mb = 128};
  spec.pvolumes = pv;
  spec.n_pvolumes = 1;
  spec.hostname = (char *)"web";
  spec.volumes = vols;
  spec.n_volumes = 1;
  spec.network = BERTH_NET_BRIDGE;
  spec.ports = ports;
  spec.n_ports = 1;
  spec.labels = labels;
  spec.n_labels = 1;
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  json_error_t jerr;
  json_t *want = json_load_file(BERTH_FIXTURES_DIR "/create-config-contract-example.json", 0, &jerr);
  if (!want) fail_msg("fixture: %s", jerr.text);
  if (!json_equal(c, want)) {
    char *got = json_dumps(c, JSON_INDENT(2) | JSON_SORT_KEYS);
    print_error("got:\n%s\n", got);
    free(got);
    json_decref(want);
    json_decref(c);
    fail();
  }
  json_decref(want);
  json_decref(c);
}

/* ---- docker parameters over berth's mapping ---- */

static berth_launch_spec spec_with_params(const char *params_json, bool allow_privileged) {
  berth_launch_spec spec = base_spec();
  json_t *a = tu_json(params_json);
  berth_params_policy policy = {allow_privileged, NULL};
  berth_error err = {0};
  if (berth_params_parse(a, &policy, "parameters", &spec.params, &err) < 0) fail_msg("%s", err.msg);
  json_decref(a);
  return spec;
}

static void params_land_in_host_config(void **state) {
  (void)state;
  berth_launch_spec spec = spec_with_params(
      "[{\"key\": \"ulimit\", \"value\": \"nofile=10:20\"},"
      " {\"key\": \"read-only\", \"value\": \"true\"},"
      " {\"key\": \"tmpfs\", \"value\": \"/t:size=1m\"},"
      " {\"key\": \"shm-size\", \"value\": \"64m\"}]",
      false);
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  json_t *hc = json_object_get(c, "HostConfig");
  tu_assert_json_eq(json_object_get(hc, "Ulimits"), "[{\"Name\": \"nofile\", \"Soft\": 10, \"Hard\": 20}]");
  assert_true(json_is_true(json_object_get(hc, "ReadonlyRootfs")));
  tu_assert_json_eq(json_object_get(hc, "Tmpfs"), "{\"/t\": \"size=1m\"}");
  tu_assert_json_int(hc, "ShmSize", 64 * MIB);
  tu_assert_json_str(json_object_get(hc, "LogConfig"), "Type", "local"); /* berth's own stay */
  json_decref(c);
  berth_params_free(&spec.params);
}

static void params_env_sits_between_caller_and_berth_vars(void **state) {
  (void)state;
  berth_launch_spec spec = spec_with_params("[{\"key\": \"env\", \"value\": \"K=param\"}]", false);
  berth_env_var env[] = {{(char *)"K", (char *)"cmd"}};
  spec.env = env;
  spec.n_env = 1;
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  tu_assert_json_eq(json_object_get(c, "Env"),
                    "[\"K=cmd\", \"K=param\", \"MESOS_SANDBOX=/mnt/mesos/sandbox\","
                    " \"MESOS_CONTAINER_NAME=berth-a1.web-1\", \"BERTH_CONTAINER_ID=web-1\"]");
  json_decref(c);
  berth_params_free(&spec.params);
}

static void params_workdir_and_user(void **state) {
  (void)state;
  berth_launch_spec spec = spec_with_params(
      "[{\"key\": \"workdir\", \"value\": \"/tmp\"},"
      " {\"key\": \"user\", \"value\": \"65534\"}]",
      false);
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  tu_assert_json_str(c, "WorkingDir", "/tmp");
  tu_assert_json_str(c, "User", "65534");
  json_decref(c);
  berth_params_free(&spec.params);
}

static void params_devices_add_to_gpus_and_privileged_ors(void **state) {
  (void)state;
  berth_launch_spec spec = spec_with_params(
      "[{\"key\": \"device\", \"value\": \"/dev/fuse\"},"
      " {\"key\": \"privileged\", \"value\": \"false\"}]",
      true);
  spec.privileged = true;
  const char *const devices[] = {"/dev/nvidia0", NULL};
  berth_mapping_ctx gctx = ctx;
  gctx.devices = devices;
  json_t *c = berth_mapping_create_config(&spec, &gctx);
  json_t *hc = json_object_get(c, "HostConfig");
  json_t *devs = json_object_get(hc, "Devices");
  assert_int_equal(json_array_size(devs), 2);
  tu_assert_json_str(json_array_get(devs, 0), "PathOnHost", "/dev/nvidia0");
  tu_assert_json_str(json_array_get(devs, 1), "PathOnHost", "/dev/fuse");
  assert_true(json_is_true(json_object_get(hc, "Privileged")));
  json_decref(c);
  berth_params_free(&spec.params);
}

static void runtime_default_and_task_choice(void **state) {
  (void)state;
  berth_mapping_ctx rctx = ctx;
  rctx.runtime = "runc";
  berth_launch_spec spec = spec_with_params("[]", false);
  json_t *c = berth_mapping_create_config(&spec, &rctx);
  tu_assert_json_str(json_object_get(c, "HostConfig"), "Runtime", "runc");
  json_decref(c);
  berth_params_free(&spec.params);
  spec = spec_with_params("[{\"key\": \"runtime\", \"value\": \"crun\"}]", false);
  c = berth_mapping_create_config(&spec, &rctx);
  tu_assert_json_str(json_object_get(c, "HostConfig"), "Runtime", "crun");
  json_decref(c);
  berth_params_free(&spec.params);
}

static void default_dns_by_network_and_task_wins_per_field(void **state) {
  (void)state;
  berth_dns_defaults dns;
  berth_error err = {0};
  assert_int_equal(berth_dns_defaults_parse("{\"docker\": [{\"network_mode\": \"BRIDGE\", \"dns\": {"
                                            "\"nameservers\": [\"10.0.0.1\"], \"search\": [\"corp\"]}}]}",
                                            &dns, &err),
                   0);
  berth_mapping_ctx dctx = ctx;
  dctx.dns = &dns;
  berth_launch_spec spec = spec_with_params("[]", false);
  spec.network = BERTH_NET_BRIDGE;
  json_t *c = berth_mapping_create_config(&spec, &dctx);
  json_t *hc = json_object_get(c, "HostConfig");
  tu_assert_json_eq(json_object_get(hc, "Dns"), "[\"10.0.0.1\"]");
  tu_assert_json_eq(json_object_get(hc, "DnsSearch"), "[\"corp\"]");
  assert_null(json_object_get(hc, "DnsOptions"));
  json_decref(c);
  berth_params_free(&spec.params);
  /* The task's own nameservers win; its search list is the default's. */
  spec = spec_with_params("[{\"key\": \"dns\", \"value\": \"10.9.9.9\"}]", false);
  spec.network = BERTH_NET_BRIDGE;
  c = berth_mapping_create_config(&spec, &dctx);
  hc = json_object_get(c, "HostConfig");
  tu_assert_json_eq(json_object_get(hc, "Dns"), "[\"10.9.9.9\"]");
  tu_assert_json_eq(json_object_get(hc, "DnsSearch"), "[\"corp\"]");
  json_decref(c);
  /* No entry for HOST: nothing. */
  spec.network = BERTH_NET_HOST;
  berth_params_free(&spec.params);
  spec = spec_with_params("[]", false);
  c = berth_mapping_create_config(&spec, &dctx);
  assert_null(json_object_get(json_object_get(c, "HostConfig"), "Dns"));
  json_decref(c);
  berth_params_free(&spec.params);
  berth_dns_defaults_free(&dns);
}

static void memory_swap_checked_against_memory(void **state) {
  (void)state;
  berth_launch_spec spec = spec_with_params("[{\"key\": \"memory-swap\", \"value\": \"256m\"}]", false);
  berth_error err = {0};
  assert_int_equal(berth_mapping_check_params(&spec, &err), BERTH_EINVAL); /* no mem at all */
  tu_assert_contains(err.msg, "memory-swap");
  spec.res.has_mem = true;
  spec.res.mem_mb = 512;
  assert_int_equal(berth_mapping_check_params(&spec, &err), BERTH_EINVAL); /* below Memory */
  tu_assert_contains(err.msg, "below");
  spec.res.mem_mb = 128;
  assert_int_equal(berth_mapping_check_params(&spec, &err), 0);
  json_t *c = berth_mapping_create_config(&spec, &ctx);
  tu_assert_json_int(json_object_get(c, "HostConfig"), "Memory", 128 * MIB);
  tu_assert_json_int(json_object_get(c, "HostConfig"), "MemorySwap", 256 * MIB); /* the parameter wins */
  json_decref(c);
  berth_params_free(&spec.params);
  spec = spec_with_params("[{\"key\": \"memory-swap\", \"value\": \"-1\"}]", false);
  spec.res.has_mem = true;
  spec.res.mem_mb = 128;
  assert_int_equal(berth_mapping_check_params(&spec, &err), 0);
  berth_params_free(&spec.params);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cpus_become_cpu_shares),
      cmocka_unit_test(tiny_cpus_get_minimum_shares),
      cmocka_unit_test(cpus_limit_becomes_cfs_quota),
      cmocka_unit_test(cpus_limit_without_cpus_sets_only_quota),
      cmocka_unit_test(tiny_cpus_limit_gets_minimum_quota),
      cmocka_unit_test(cfs_flag_uses_cpus_as_quota),
      cmocka_unit_test(cfs_flag_with_limit_uses_the_limit),
      cmocka_unit_test(cfs_flag_without_cpus_sets_nothing),
      cmocka_unit_test(cpus_limit_inf_is_unlimited_quota),
      cmocka_unit_test(mem_becomes_memory),
      cmocka_unit_test(mem_swap_equals_memory),
      cmocka_unit_test(small_mem_gets_minimum),
      cmocka_unit_test(larger_mem_limit_becomes_memory_and_mem_the_reservation),
      cmocka_unit_test(mem_limit_not_larger_than_mem_is_ignored),
      cmocka_unit_test(mem_limit_without_mem_sets_memory),
      cmocka_unit_test(mem_limit_inf_means_no_hard_limit),
      cmocka_unit_test(no_resources_sets_nothing),
      cmocka_unit_test(config_has_image_and_workdir),
      cmocka_unit_test(shell_command_uses_bin_sh_c),
      cmocka_unit_test(shell_command_ignores_arguments),
      cmocka_unit_test(non_shell_command_replaces_cmd_and_keeps_entrypoint),
      cmocka_unit_test(non_shell_arguments_only_become_cmd),
      cmocka_unit_test(non_shell_value_only_becomes_cmd),
      cmocka_unit_test(no_command_keeps_image_entrypoint_and_cmd),
      cmocka_unit_test(env_has_caller_vars_then_berth_vars),
      cmocka_unit_test(env_without_caller_vars),
      cmocka_unit_test(labels_carry_agent_and_container_id),
      cmocka_unit_test(user_and_hostname_passed_through),
      cmocka_unit_test(binds_sandbox_rw_first),
      cmocka_unit_test(binds_host_volumes_ro_and_rw),
      cmocka_unit_test(binds_persistent_volumes_relative_inside_sandbox),
      cmocka_unit_test(network_modes_map_to_docker_names),
      cmocka_unit_test(user_network_uses_its_name),
      cmocka_unit_test(port_mappings_become_port_bindings),
      cmocka_unit_test(port_host_ip_is_the_mappings_else_the_flags),
      cmocka_unit_test(log_config_is_local),
      cmocka_unit_test(privileged_passed_through),
      cmocka_unit_test(resources_land_in_host_config),
      cmocka_unit_test(gpu_devices_become_docker_devices),
      cmocka_unit_test(contract_example_matches_fixture),
      cmocka_unit_test(params_land_in_host_config),
      cmocka_unit_test(params_env_sits_between_caller_and_berth_vars),
      cmocka_unit_test(params_workdir_and_user),
      cmocka_unit_test(params_devices_add_to_gpus_and_privileged_ors),
      cmocka_unit_test(runtime_default_and_task_choice),
      cmocka_unit_test(default_dns_by_network_and_task_wins_per_field),
      cmocka_unit_test(memory_swap_checked_against_memory),
  };
  return cmocka_run_group_tests_name("mapping", tests, NULL, NULL);
}
