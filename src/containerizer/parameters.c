#include "containerizer/parameters.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

#define MAX_VALUE 65536
#define MAX_PARAMS 1024

typedef struct param_ctx {
  berth_params *p;
  const berth_params_policy *policy;
} param_ctx;

/* Parses value into ctx->p; on error sets err to the reason alone (the
 * caller adds the index, key and value). */
typedef int (*param_fn)(const char *value, param_ctx *ctx, berth_error *err);

typedef struct param_def {
  berth_param_info info;
  param_fn parse;
} param_def;

static int bad(berth_error *err, const char *reason) { return berth_error_set(err, BERTH_EINVAL, "%s", reason); }

static json_t *member(json_t *obj, const char *key, json_t *(*make)(void)) {
  json_t *v = json_object_get(obj, key);
  if (!v) {
    v = make();
    json_object_set_new(obj, key, v);
  }
  return v;
}

static void append(json_t *obj, const char *key, json_t *value) {
  json_array_append_new(member(obj, key, json_array), value);
}

static int p_label(const char *v, param_ctx *c, berth_error *err) {
  const char *eq = strchr(v, '=');
  size_t klen = eq ? (size_t)(eq - v) : strlen(v);
  if (klen == 0) return bad(err, "a label is key[=value] with a non-empty key");
  /* berth's own labels say which agent and container a docker container
   * belongs to; recovery and orphan removal rely on them. */
  if (!strncmp(v, "berth.", 6)) return bad(err, "labels starting with 'berth.' are berth's own");
  cleanup_free char *key = berth_strndup(v, klen);
  json_object_set_new(member(c->p->config, "Labels", json_object), key, json_string(eq ? eq + 1 : ""));
  return 0;
}

static int p_env(const char *v, param_ctx *c, berth_error *err) {
  static const char *const reserved[] = BERTH_PARAMS_RESERVED_ENV;
  const char *eq = strchr(v, '=');
  /* docker copies a bare NAME from the client's own environment: berthd's
   * environment is not the task's business, so NAME=VALUE only. */
  if (!eq) return bad(err, "an env parameter is NAME=VALUE (a bare NAME would copy berthd's own environment)");
  if (eq == v) return bad(err, "the variable name is empty");
  for (const char *const *r = reserved; *r; r++)
    if (strlen(*r) == (size_t)(eq - v) && !strncmp(v, *r, (size_t)(eq - v)))
      return berth_error_set(err, BERTH_EINVAL, "%s is set by berthd itself", *r);
  append(c->p->config, "Env", json_string(v));
  return 0;
}

static int p_user(const char *v, param_ctx *c, berth_error *err) {
  const char *colon = strchr(v, ':');
  cleanup_free char *name = berth_strndup(v, colon ? (size_t)(colon - v) : strlen(v));
  if (!berth_params_chars_in(name, "._-") || (colon && !berth_params_chars_in(colon + 1, "._-")))
    return bad(err, "a user is name|uid[:group|gid] of letters, digits, '.', '_' or '-'");
  json_object_set_new(c->p->config, "User", json_string(v));
  return 0;
}

static int p_workdir(const char *v, param_ctx *c, berth_error *err) {
  if (v[0] != '/' || !berth_params_is_token(v)) return bad(err, "the working directory must be an absolute path");
  json_object_set_new(c->p->config, "WorkingDir", json_string(v));
  return 0;
}

/* capability(7) names as docker 20.10 knows them. */
static const char *const capabilities[] = {"CHOWN",
                                           "DAC_OVERRIDE",
                                           "DAC_READ_SEARCH",
                                           "FOWNER",
                                           "FSETID",
                                           "KILL",
                                           "SETGID",
                                           "SETUID",
                                           "SETPCAP",
                                           "LINUX_IMMUTABLE",
                                           "NET_BIND_SERVICE",
                                           "NET_BROADCAST",
                                           "NET_ADMIN",
                                           "NET_RAW",
                                           "IPC_LOCK",
                                           "IPC_OWNER",
                                           "SYS_MODULE",
                                           "SYS_RAWIO",
                                           "SYS_CHROOT",
                                           "SYS_PTRACE",
                                           "SYS_PACCT",
                                           "SYS_ADMIN",
                                           "SYS_BOOT",
                                           "SYS_NICE",
                                           "SYS_RESOURCE",
                                           "SYS_TIME",
                                           "SYS_TTY_CONFIG",
                                           "MKNOD",
                                           "LEASE",
                                           "AUDIT_WRITE",
                                           "AUDIT_CONTROL",
                                           "SETFCAP",
                                           "MAC_OVERRIDE",
                                           "MAC_ADMIN",
                                           "SYSLOG",
                                           "WAKE_ALARM",
                                           "BLOCK_SUSPEND",
                                           "AUDIT_READ",
                                           "PERFMON",
                                           "BPF",
                                           "CHECKPOINT_RESTORE",
                                           NULL};

/* Case-insensitive, CAP_ optional, or ALL: normalized as dockerd does. */
static int capability(const char *v, const char *field, param_ctx *c, berth_error *err) {
  char name[64];
  size_t n = strlen(v);
  if (n >= sizeof(name)) return bad(err, "not a capability name");
  for (size_t i = 0; i <= n; i++) name[i] = (char)toupper((unsigned char)v[i]);
  const char *bare = strncmp(name, "CAP_", 4) ? name : name + 4;
  json_t *out = NULL;
  if (!strcmp(name, "ALL")) out = json_string("ALL");
  for (const char *const *k = capabilities; !out && *k; k++)
    if (!strcmp(bare, *k)) out = json_sprintf("CAP_%s", *k);
  if (!out) return bad(err, "not a capability name (see capabilities(7), or ALL)");
  json_t *list = member(c->p->host, field, json_array);
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) if (json_equal(e, out)) return json_decref(out), 0;
  json_array_append_new(list, out);
  return 0;
}

static int p_cap_add(const char *v, param_ctx *c, berth_error *err) { return capability(v, "CapAdd", c, err); }
static int p_cap_drop(const char *v, param_ctx *c, berth_error *err) { return capability(v, "CapDrop", c, err); }

static int p_ulimit(const char *v, param_ctx *c, berth_error *err) {
  static const char *const names[] = {"core",   "cpu",   "data", "fsize",  "locks",  "memlock",    "msgqueue", "nice",
                                      "nofile", "nproc", "rss",  "rtprio", "rttime", "sigpending", "stack",    NULL};
  const char *eq = strchr(v, '=');
  if (!eq) return bad(err, "a ulimit is name=soft[:hard]");
  cleanup_free char *name = berth_strndup(v, (size_t)(eq - v));
  bool known = false;
  for (const char *const *n = names; *n && !known; n++) known = !strcmp(name, *n);
  if (!known)
    return bad(err,
               "unknown ulimit name (core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, "
               "nproc, rss, rtprio, rttime, sigpending, stack)");
  cleanup_free char *soft_s = berth_strdup(eq + 1);
  char *colon = strchr(soft_s, ':');
  if (colon) *colon = '\0';
  if (colon && strchr(colon + 1, ':')) return bad(err, "a ulimit has at most soft:hard");
  int64_t soft, hard;
  if (berth_params_parse_int(soft_s, 10, &soft, err) < 0) return err->code;
  if (colon && berth_params_parse_int(colon + 1, 10, &hard, err) < 0) return err->code;
  if (!colon) hard = soft;
  if (hard != -1 && soft > hard) return bad(err, "the soft limit is above the hard limit");
  /* Repeating a name replaces it, as docker's ulimit option does. */
  json_t *list = member(c->p->host, "Ulimits", json_array);
  json_t *u = json_pack("{s:s,s:I,s:I}", "Name", name, "Soft", (json_int_t)soft, "Hard", (json_int_t)hard);
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) if (!strcmp(json_string_value(json_object_get(e, "Name")), name)) {
    json_array_set_new(list, i, u);
    return 0;
  }
  json_array_append_new(list, u);
  return 0;
}

static int p_shm_size(const char *v, param_ctx *c, berth_error *err) {
  int64_t bytes;
  if (berth_params_parse_size(v, &bytes, err) < 0) return err->code;
  json_object_set_new(c->p->host, "ShmSize", json_integer((json_int_t)bytes));
  return 0;
}

static int p_memory_swap(const char *v, param_ctx *c, berth_error *err) {
  int64_t bytes = -1;
  if (strcmp(v, "-1") && berth_params_parse_size(v, &bytes, err) < 0) return err->code;
  json_object_set_new(c->p->host, "MemorySwap", json_integer((json_int_t)bytes));
  return 0;
}

/* host[:container][:perms]; a middle part that reads as perms is perms. */
static int p_device(const char *v, param_ctx *c, berth_error *err) {
  cleanup_free char *copy = berth_strdup(v);
  char *parts[3] = {copy, NULL, NULL};
  size_t n = 1;
  for (char *p = copy; *p; p++) {
    if (*p != ':') continue;
    if (n == 3) return bad(err, "a device is host[:container[:permissions]]");
    *p = '\0';
    parts[n++] = p + 1;
  }
  const char *host = parts[0], *ctr = parts[0], *perms = "rwm";
  if (n == 2 && berth_params_device_mode(parts[1]))
    perms = parts[1];
  else if (n >= 2)
    ctr = parts[1];
  if (n == 3) perms = parts[2];
  if (!berth_params_abs_path(host) || !berth_params_abs_path(ctr))
    return bad(err, "device paths must be absolute, without '..'");
  if (!berth_params_device_mode(perms)) return bad(err, "device permissions are a combination of r, w and m");
  append(c->p->host, "Devices",
         json_pack("{s:s,s:s,s:s}", "PathOnHost", host, "PathInContainer", ctr, "CgroupPermissions", perms));
  return 0;
}

static int p_security_opt(const char *v, param_ctx *c, berth_error *err) {
  const char *eq = strchr(v, '=');
  bool ok = !strcmp(v, "no-new-privileges");
  if (!ok && eq) {
    size_t klen = (size_t)(eq - v);
    const char *val = eq + 1;
    bool b;
    berth_error ignored;
    if (klen == 5 && !strncmp(v, "label", 5))
      ok = berth_params_is_token(val);
    else if (klen == 8 && !strncmp(v, "apparmor", 8))
      ok = berth_params_chars_in(val, "._-/");
    else if (klen == 17 && !strncmp(v, "no-new-privileges", 17))
      ok = berth_params_parse_bool(val, &b, &ignored) == 0;
    else if (klen == 7 && !strncmp(v, "seccomp", 7)) {
      /* The docker CLI reads a profile file on the client; berthd reads
       * no file for a task, so only unconfined or the profile itself. */
      json_t *profile = val[0] == '{' ? json_loads(val, 0, NULL) : NULL;
      ok = !strcmp(val, "unconfined") || json_is_object(profile);
      json_decref(profile);
      if (!ok) return bad(err, "seccomp takes 'unconfined' or an inline JSON profile, not a file");
    }
  }
  if (!ok)
    return bad(err,
               "a security-opt is no-new-privileges[=bool], label=..., apparmor=PROFILE or "
               "seccomp=unconfined|{json}");
  append(c->p->host, "SecurityOpt", json_string(v));
  return 0;
}

static int p_bool_host(const char *v, param_ctx *c, const char *field, berth_error *err) {
  bool b;
  if (berth_params_parse_bool(v, &b, err) < 0) return err->code;
  json_object_set_new(c->p->host, field, json_boolean(b));
  return 0;
}

static int p_read_only(const char *v, param_ctx *c, berth_error *err) {
  return p_bool_host(v, c, "ReadonlyRootfs", err);
}
static int p_init(const char *v, param_ctx *c, berth_error *err) { return p_bool_host(v, c, "Init", err); }

static int p_privileged(const char *v, param_ctx *c, berth_error *err) {
  bool b;
  if (berth_params_parse_bool(v, &b, err) < 0) return err->code;
  if (b && !c->policy->allow_privileged) return bad(err, "needs --allow_privileged (berthd runs without it)");
  json_object_set_new(c->p->host, "Privileged", json_boolean(b));
  return 0;
}

static int p_tmpfs(const char *v, param_ctx *c, berth_error *err) {
  const char *colon = strchr(v, ':');
  cleanup_free char *path = berth_strndup(v, colon ? (size_t)(colon - v) : strlen(v));
  if (!berth_params_abs_path(path)) return bad(err, "a tmpfs is an absolute path[:options], without '..'");
  if (colon && *colon && !berth_params_chars_in(colon + 1, "=,._-"))
    return bad(err, "tmpfs options are mount options (size=64m,mode=1777,...)");
  json_object_set_new(member(c->p->host, "Tmpfs", json_object), path, json_string(colon ? colon + 1 : ""));
  return 0;
}

static int p_dns(const char *v, param_ctx *c, berth_error *err) {
  if (!berth_params_is_ip(v)) return bad(err, "not an IP address");
  append(c->p->host, "Dns", json_string(v));
  return 0;
}

static int p_dns_search(const char *v, param_ctx *c, berth_error *err) {
  size_t n = strlen(v);
  while (n > 0 && v[n - 1] == ' ') n--;
  while (n > 0 && *v == ' ') v++, n--;
  if (!(n == 1 && *v == '.') && !berth_params_domain_ok(v, n)) return bad(err, "not a domain name");
  if (n > 1 && v[n - 1] == '.') n--;
  append(c->p->host, "DnsSearch", json_stringn(v, n));
  return 0;
}

static int p_dns_option(const char *v, param_ctx *c, berth_error *err) {
  if (!berth_params_is_token(v)) return bad(err, "a resolv.conf option has no spaces or control characters");
  append(c->p->host, "DnsOptions", json_string(v));
  return 0;
}

static int p_add_host(const char *v, param_ctx *c, berth_error *err) {
  const char *colon = strchr(v, ':');
  if (!colon || colon == v) return bad(err, "an extra host is host:ip");
  cleanup_free char *host = berth_strndup(v, (size_t)(colon - v));
  if (!berth_params_chars_in(host, "._-")) return bad(err, "the host name has letters, digits, '.', '_' or '-' only");
  /* host-gateway: dockerd puts the host's gateway address there (20.10). */
  if (!berth_params_is_ip(colon + 1) && strcmp(colon + 1, "host-gateway"))
    return bad(err, "not an IP address (or host-gateway)");
  append(c->p->host, "ExtraHosts", json_string(v));
  return 0;
}

static int p_pids_limit(const char *v, param_ctx *c, berth_error *err) {
  int64_t n;
  if (berth_params_parse_int(v, 0, &n, err) < 0) return err->code;
  json_object_set_new(c->p->host, "PidsLimit", json_integer((json_int_t)n));
  return 0;
}

static int p_oom_score_adj(const char *v, param_ctx *c, berth_error *err) {
  int64_t n;
  if (berth_params_parse_int(v, 0, &n, err) < 0) return err->code;
  if (n < -1000 || n > 1000) return bad(err, "must be between -1000 and 1000");
  /* Lowering it shields the task from the OOM killer at the expense of
   * everything else on the node (the kernel wants CAP_SYS_RESOURCE). */
  if (n < 0 && !c->policy->allow_privileged)
    return bad(err, "a negative value needs --allow_privileged (berthd runs without it)");
  json_object_set_new(c->p->host, "OomScoreAdj", json_integer((json_int_t)n));
  return 0;
}

static int p_sysctl(const char *v, param_ctx *c, berth_error *err) {
  static const char *const allowed[] = {"kernel.msgmax", "kernel.msgmnb",          "kernel.msgmni",
                                        "kernel.sem",    "kernel.shmall",          "kernel.shmmax",
                                        "kernel.shmmni", "kernel.shm_rmid_forced", NULL};
  const char *eq = strchr(v, '=');
  if (!eq) return bad(err, "a sysctl is name=value");
  cleanup_free char *key = berth_strndup(v, (size_t)(eq - v));
  /* docker's list of namespaced sysctls; the name becomes a /proc/sys
   * path in the runtime, so no '/' or '..' either. */
  bool ok = !strncmp(key, "net.", 4) || !strncmp(key, "fs.mqueue.", 10);
  for (const char *const *a = allowed; *a && !ok; a++) ok = !strcmp(key, *a);
  if (!ok || !berth_params_chars_in(key, "._-") || strstr(key, ".."))
    return bad(err, "not a namespaced sysctl (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*)");
  for (const char *p = eq + 1; *p; p++)
    if (iscntrl((unsigned char)*p)) return bad(err, "the value has control characters");
  json_object_set_new(member(c->p->host, "Sysctls", json_object), key, json_string(eq + 1));
  return 0;
}

static int p_runtime(const char *v, param_ctx *c, berth_error *err) {
  if (!berth_params_chars_in(v, "._-")) return bad(err, "not a runtime name");
  bool ok = c->policy->allowed_runtimes == NULL;
  for (const char *const *r = c->policy->allowed_runtimes; r && *r && !ok; r++) ok = !strcmp(v, *r);
  if (!ok) return bad(err, "not one of --docker_allowed_runtimes");
  json_object_set_new(c->p->host, "Runtime", json_string(v));
  return 0;
}

/* The table.  Field names as in the Engine API v1.41 create body. */
static const param_def table[] = {
    {{"label", "Labels", "key[=value]; not berth.*", true, false}, p_label},
    {{"env", "Env", "NAME=VALUE; not MESOS_SANDBOX, MESOS_CONTAINER_NAME, BERTH_CONTAINER_ID", true, false}, p_env},
    {{"user", "User", "name|uid[:group|gid]", false, false}, p_user},
    {{"workdir", "WorkingDir", "absolute path", false, false}, p_workdir},
    {{"cap-add", "HostConfig.CapAdd", "capability (CAP_ optional, any case) or ALL", true, true}, p_cap_add},
    {{"cap-drop", "HostConfig.CapDrop", "capability (CAP_ optional, any case) or ALL", true, false}, p_cap_drop},
    {{"ulimit", "HostConfig.Ulimits", "name=soft[:hard]", true, false}, p_ulimit},
    {{"shm-size", "HostConfig.ShmSize", "size: 64m, 1g, 1.5GiB, bytes without unit", false, false}, p_shm_size},
    {{"device", "HostConfig.Devices", "host[:container][:rwm]", true, true}, p_device},
    {{"security-opt", "HostConfig.SecurityOpt",
      "no-new-privileges[=bool], label=..., apparmor=P, seccomp=unconfined|{json}", true, true},
     p_security_opt},
    {{"read-only", "HostConfig.ReadonlyRootfs", "boolean", false, false}, p_read_only},
    {{"tmpfs", "HostConfig.Tmpfs", "absolute path[:mount options]", true, false}, p_tmpfs},
    {{"dns", "HostConfig.Dns", "IP address", true, false}, p_dns},
    {{"dns-search", "HostConfig.DnsSearch", "domain, or .", true, false}, p_dns_search},
    {{"dns-option", "HostConfig.DnsOptions", "resolv.conf option", true, false}, p_dns_option},
    {{"dns-opt", "HostConfig.DnsOptions", "as dns-option (docker's older name)", true, false}, p_dns_option},
    {{"add-host", "HostConfig.ExtraHosts", "host:ip (ip may be host-gateway)", true, false}, p_add_host},
    {{"init", "HostConfig.Init", "boolean", false, false}, p_init},
    {{"pids-limit", "HostConfig.PidsLimit", "integer (<= 0: unlimited)", false, false}, p_pids_limit},
    {{"memory-swap", "HostConfig.MemorySwap", "size (memory + swap), or -1", false, false}, p_memory_swap},
    {{"oom-score-adj", "HostConfig.OomScoreAdj", "integer -1000..1000 (negative needs --allow_privileged)", false,
      false},
     p_oom_score_adj},
    {{"sysctl", "HostConfig.Sysctls", "name=value, namespaced names only", true, false}, p_sysctl},
    {{"runtime", "HostConfig.Runtime", "one of --docker_allowed_runtimes", false, false}, p_runtime},
    {{"privileged", "HostConfig.Privileged", "boolean (true needs --allow_privileged)", false, false}, p_privileged},
    {{NULL, NULL, NULL, false, false}, NULL},
};

const berth_param_info *berth_params_table(void) {
  static berth_param_info infos[sizeof(table) / sizeof(table[0])];
  if (!infos[0].key)
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) infos[i] = table[i].info;
  return infos;
}

int berth_params_check_runtime(const berth_params *params, const char *const *allowed, berth_error *err) {
  const char *runtime = json_string_value(json_object_get(params->host, "Runtime"));
  if (!runtime) return 0;
  for (const char *const *r = allowed; r && *r; r++)
    if (!strcmp(runtime, *r)) return 0;
  return berth_error_set(err, BERTH_EINVAL,
                         "container.docker.parameters: runtime '%.80s' is not one of --docker_allowed_runtimes",
                         runtime);
}

void berth_params_free(berth_params *params) {
  json_decref(params->config);
  json_decref(params->host);
  params->config = params->host = NULL;
}

static int parse_one(json_t *e, size_t i, const char *field, param_ctx *ctx, berth_error *err) {
  if (!json_is_object(e)) return berth_error_set(err, BERTH_EINVAL, "%s[%zu]: must be an object", field, i);
  json_t *k = json_object_get(e, "key"), *v = json_object_get(e, "value");
  if (!k || json_is_null(k)) return berth_error_set(err, BERTH_EINVAL, "%s[].key: required", field);
  if (!v || json_is_null(v)) return berth_error_set(err, BERTH_EINVAL, "%s[].value: required", field);
  if (!json_is_string(k) || !json_is_string(v))
    return berth_error_set(err, BERTH_EINVAL, "%s[%zu]: key and value must be strings", field, i);
  const char *key = json_string_value(k), *value = json_string_value(v);
  if (strlen(key) != json_string_length(k) || strlen(value) != json_string_length(v) ||
      json_string_length(v) > MAX_VALUE)
    return berth_error_set(err, BERTH_EINVAL, "%s[%zu]: key or value holds NUL or is longer than %d bytes", field, i,
                           MAX_VALUE);
  const param_def *def = NULL;
  for (const param_def *d = table; d->info.key && !def; d++)
    if (!strcmp(d->info.key, key)) def = d;
  /* Only what berth maps faithfully: dropping a flag silently would run
   * the task differently from what was asked. */
  if (!def)
    return berth_error_set(err, BERTH_EINVAL, "%s[%zu].key: '%.40s' is not a supported docker parameter", field, i,
                           key);
  if (def->info.privileged && !ctx->policy->allow_privileged)
    return berth_error_set(err, BERTH_EINVAL, "%s[%zu].key: '%s' needs --allow_privileged (berthd runs without it)",
                           field, i, key);
  if (def->parse(value, ctx, err) < 0)
    return berth_error_prefix(err, "%s[%zu].value: '%.200s' is not a valid '%s'", field, i, value, key);
  return 0;
}

int berth_params_parse(json_t *params, const berth_params_policy *policy, const char *field, berth_params *out,
                       berth_error *err) {
  out->config = json_object();
  out->host = json_object();
  if (params && !json_is_array(params)) {
    berth_params_free(out);
    return berth_error_set(err, BERTH_EINVAL, "%s: must be an array", field);
  }
  if (json_array_size(params) > MAX_PARAMS) {
    berth_params_free(out);
    return berth_error_set(err, BERTH_EINVAL, "%s: more than %d entries", field, MAX_PARAMS);
  }
  param_ctx ctx = {out, policy};
  size_t i;
  json_t *e;
  json_array_foreach(params, i, e) {
    if (parse_one(e, i, field, &ctx, err) < 0) {
      berth_params_free(out);
      return err->code;
    }
  }
  return 0;
}
