#include "containerizer/mapping.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"

#define MIB (1024.0 * 1024.0)

void berth_mapping_resources(const berth_resources *res, bool cgroups_enable_cfs, json_t *hc) {
  if (res->has_cpus) {
    double shares = fmax(BERTH_CPU_SHARES_PER_CPU * res->cpus, BERTH_MIN_CPU_SHARES);
    json_object_set_new(hc, "CpuShares", json_integer((json_int_t)shares));
  }
  /* A cpu limit always means a CFS quota; without one, the cpus share
   * becomes the quota only when the operator asked for CFS. */
  bool quota = res->has_cpus_limit || (cgroups_enable_cfs && res->has_cpus);
  double quota_cpus = res->has_cpus_limit ? res->cpus_limit : res->cpus;
  if (quota && isfinite(quota_cpus)) {
    double q = fmax(quota_cpus * BERTH_CFS_PERIOD_US, BERTH_MIN_CFS_QUOTA_US);
    json_object_set_new(hc, "CpuPeriod", json_integer(BERTH_CFS_PERIOD_US));
    json_object_set_new(hc, "CpuQuota", json_integer((json_int_t)q));
  } else if (quota) {
    json_object_set_new(hc, "CpuPeriod", json_integer(BERTH_CFS_PERIOD_US));
    json_object_set_new(hc, "CpuQuota", json_integer(-1)); /* unlimited */
  }
  double mem = res->has_mem ? fmax(res->mem_mb, BERTH_MIN_MEMORY_MB) : 0;
  double limit = 0;
  if (res->has_mem_limit && res->mem_limit_mb > mem) {
    limit = res->mem_limit_mb; /* may be INFINITY: no hard limit */
    if (res->has_mem) json_object_set_new(hc, "MemoryReservation", json_integer((json_int_t)(mem * MIB)));
  } else {
    limit = mem;
  }
  if (isfinite(limit) && limit > 0) {
    json_int_t bytes = (json_int_t)(fmax(limit, BERTH_MIN_MEMORY_MB) * MIB);
    json_object_set_new(hc, "Memory", json_integer(bytes));
    /* No swap on top of the limit: a task over its memory is OOM-killed,
     * as under Mesos, instead of slowing the node down. */
    json_object_set_new(hc, "MemorySwap", json_integer(bytes));
  } else if (res->has_mem_limit && isinf(limit)) {
    json_object_set_new(hc, "Memory", json_integer(0));
    json_object_set_new(hc, "MemorySwap", json_integer(-1));
  }
}

static void set_command(const berth_launch_spec *spec, json_t *config) {
  if (spec->shell) {
    json_object_set_new(config, "Entrypoint", json_pack("[ss]", "/bin/sh", "-c"));
    json_object_set_new(config, "Cmd", json_pack("[s]", spec->value));
    return;
  }
  if (!spec->value && spec->n_arguments == 0) return; /* the image's own */
  json_t *cmd = json_array();
  if (spec->value) json_array_append_new(cmd, json_string(spec->value));
  for (size_t i = 0; i < spec->n_arguments; i++) json_array_append_new(cmd, json_string(spec->arguments[i]));
  json_object_set_new(config, "Cmd", cmd);
}

static json_t *environment(const berth_launch_spec *spec, const berth_mapping_ctx *ctx) {
  json_t *env = json_array();
  for (size_t i = 0; i < spec->n_env; i++)
    json_array_append_new(env, json_sprintf("%s=%s", spec->env[i].name, spec->env[i].value));
  /* After the command's: dockerd keeps the last of two equal names. */
  json_t *params_env = json_object_get(spec->params.config, "Env");
  if (params_env) json_array_extend(env, params_env);
  json_array_append_new(env, json_sprintf("MESOS_SANDBOX=%s", ctx->sandbox_directory));
  json_array_append_new(env, json_sprintf("MESOS_CONTAINER_NAME=%s", ctx->docker_name));
  json_array_append_new(env, json_sprintf("BERTH_CONTAINER_ID=%s", spec->id));
  return env;
}

static json_t *binds(const berth_launch_spec *spec, const berth_mapping_ctx *ctx) {
  json_t *b = json_array();
  json_array_append_new(b, json_sprintf("%s:%s:rw", ctx->sandbox_host, ctx->sandbox_directory));
  for (size_t i = 0; i < spec->n_volumes; i++)
    json_array_append_new(b, json_sprintf("%s:%s:%s", spec->volumes[i].host_path, spec->volumes[i].container_path,
                                          spec->volumes[i].read_only ? "ro" : "rw"));
  for (size_t i = 0; i < spec->n_pvolumes; i++) {
    const berth_persistent_volume *v = &spec->pvolumes[i];
    /* Relative container paths are inside the sandbox, as in Mesos. */
    if (v->container_path[0] == '/')
      json_array_append_new(
          b, json_sprintf("%s/%s:%s:%s", ctx->volumes_dir, v->id, v->container_path, v->read_only ? "ro" : "rw"));
    else
      json_array_append_new(b, json_sprintf("%s/%s:%s/%s:%s", ctx->volumes_dir, v->id, ctx->sandbox_directory,
                                            v->container_path, v->read_only ? "ro" : "rw"));
  }
  return b;
}

static void set_network(const berth_launch_spec *spec, const berth_mapping_ctx *ctx, json_t *config, json_t *hc) {
  static const char *modes[] = {[BERTH_NET_BRIDGE] = "bridge", [BERTH_NET_HOST] = "host", [BERTH_NET_NONE] = "none"};
  json_object_set_new(hc, "NetworkMode",
                      json_string(spec->network == BERTH_NET_USER ? spec->network_name : modes[spec->network]));
  if (spec->n_ports == 0) return;
  json_t *exposed = json_object();
  json_t *bindings = json_object();
  for (size_t i = 0; i < spec->n_ports; i++) {
    char key[32], host[8];
    snprintf(key, sizeof(key), "%d/%s", spec->ports[i].container_port, spec->ports[i].protocol);
    snprintf(host, sizeof(host), "%d", spec->ports[i].host_port);
    json_object_set_new(exposed, key, json_object());
    json_t *list = json_object_get(bindings, key);
    if (!list) {
      list = json_array();
      json_object_set_new(bindings, key, list);
    }
    /* The mapping's own address, else the operator's default; "" is
     * docker's "every address". */
    const char *ip = spec->ports[i].host_ip[0] ? spec->ports[i].host_ip : ctx->port_host_ip ? ctx->port_host_ip : "";
    json_array_append_new(list, json_pack("{s:s,s:s}", "HostIp", ip, "HostPort", host));
  }
  json_object_set_new(config, "ExposedPorts", exposed);
  json_object_set_new(hc, "PortBindings", bindings);
}

int berth_mapping_check_params(const berth_launch_spec *spec, berth_error *err) {
  json_t *swap = json_object_get(spec->params.host, "MemorySwap");
  if (!swap) return 0;
  json_t *hc = json_object();
  berth_mapping_resources(&spec->res, false, hc);
  json_int_t memory = json_integer_value(json_object_get(hc, "Memory"));
  json_decref(hc);
  json_int_t value = json_integer_value(swap);
  /* dockerd refuses a swap limit without a memory limit, and one below it. */
  if (memory <= 0)
    return berth_error_set(err, BERTH_EINVAL,
                           "container.docker.parameters: memory-swap needs a mem resource with a finite limit");
  if (value != -1 && value < memory)
    return berth_error_set(err, BERTH_EINVAL,
                           "container.docker.parameters: memory-swap %lld is below the memory limit %lld (mem)",
                           (long long)value, (long long)memory);
  return 0;
}

/* The task's own dns, dns-search and dns-option win field by field; the
 * default for the container's network fills the rest. */
static void set_dns(const berth_launch_spec *spec, const berth_mapping_ctx *ctx, json_t *hc) {
  const berth_dns_entry *e = berth_dns_defaults_find(ctx->dns, spec->network, spec->network_name);
  if (!e) return;
  json_t *defaults[] = {e->nameservers, e->search, e->options};
  const char *fields[] = {"Dns", "DnsSearch", "DnsOptions"};
  for (size_t i = 0; i < 3; i++)
    if (defaults[i] && !json_object_get(hc, fields[i])) json_object_set(hc, fields[i], defaults[i]);
}

/* The docker parameters' HostConfig fields over berth's own. */
static void apply_params_host(const berth_launch_spec *spec, json_t *hc) {
  const char *key;
  json_t *value;
  json_object_foreach(spec->params.host, key, value) {
    if (!strcmp(key, "Devices") && json_object_get(hc, "Devices")) {
      json_array_extend(json_object_get(hc, "Devices"), value);
    } else if (!strcmp(key, "Privileged")) {
      json_object_set_new(hc, key, json_boolean(spec->privileged || json_is_true(value)));
    } else {
      /* MemorySwap included: checked against Memory at validation. */
      json_object_set(hc, key, value);
    }
  }
}

json_t *berth_mapping_create_config(const berth_launch_spec *spec, const berth_mapping_ctx *ctx) {
  json_t *config = json_object();
  json_t *hc = json_object();
  json_object_set_new(config, "Image", json_string(spec->image));
  set_command(spec, config);
  json_object_set_new(config, "Env", environment(spec, ctx));
  json_object_set_new(config, "WorkingDir", json_string(ctx->sandbox_directory));
  json_t *workdir = json_object_get(spec->params.config, "WorkingDir");
  if (workdir) json_object_set(config, "WorkingDir", workdir);
  json_t *user = json_object_get(spec->params.config, "User"); /* equal to command.user if both are set */
  if (spec->user)
    json_object_set_new(config, "User", json_string(spec->user));
  else if (user)
    json_object_set(config, "User", user);
  if (spec->hostname) json_object_set_new(config, "Hostname", json_string(spec->hostname));
  if (spec->stdin_open) {
    /* docker run -i: stdin stays open until the one ATTACH_CONTAINER_INPUT
     * session ends (StdinOnce), and then the task reads its end. */
    json_object_set_new(config, "OpenStdin", json_true());
    json_object_set_new(config, "StdinOnce", json_true());
    json_object_set_new(config, "AttachStdin", json_true());
  }
  json_t *labels = json_object();
  for (size_t i = 0; i < spec->n_labels; i++)
    json_object_set_new(labels, spec->labels[i].key, json_string(spec->labels[i].value));
  json_object_set_new(labels, "berth.agent_id", json_string(ctx->agent_id));
  json_object_set_new(labels, "berth.container_id", json_string(spec->id));
  json_object_set_new(config, "Labels", labels);

  json_object_set_new(hc, "Binds", binds(spec, ctx));
  berth_mapping_resources(&spec->res, ctx->cgroups_enable_cfs, hc);
  set_network(spec, ctx, config, hc);
  json_object_set_new(hc, "Privileged", json_boolean(spec->privileged));
  /* The "local" log driver keeps output as raw bytes (json-file mangles
   * invalid UTF-8), so the sandbox copy is byte-exact. */
  json_object_set_new(hc, "LogConfig", json_pack("{s:s,s:{}}", "Type", "local", "Config"));
  if (ctx->devices && ctx->devices[0]) {
    json_t *devs = json_array();
    /* The node may live under --nvidia_device_root; inside the container
     * it is always /dev/<name>, where CUDA looks. */
    for (const char *const *d = ctx->devices; *d; d++) {
      const char *slash = strrchr(*d, '/');
      json_array_append_new(devs, json_pack("{s:s,s:s+,s:s}", "PathOnHost", *d, "PathInContainer", "/dev/",
                                            slash ? slash + 1 : *d, "CgroupPermissions", "rwm"));
    }
    json_object_set_new(hc, "Devices", devs);
  }
  apply_params_host(spec, hc);
  if (ctx->runtime && !json_object_get(hc, "Runtime")) json_object_set_new(hc, "Runtime", json_string(ctx->runtime));
  set_dns(spec, ctx, hc);
  json_object_set_new(config, "HostConfig", hc);
  return config;
}
