#include "containerizer/spec.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "containerizer/json_get.h"
#include "util/alloc.h"

bool berth_container_id_valid(const char *id) {
  size_t n = id ? strlen(id) : 0;
  if (n == 0 || n > BERTH_ID_MAX || !isalnum((unsigned char)id[0])) return false;
  for (size_t i = 1; i < n; i++) {
    unsigned char c = (unsigned char)id[i];
    if (!isalnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/* One path component of a repository name: lower-case alphanumerics
 * joined by '.', '_', "__" or runs of '-' (distribution/reference). */
static bool path_component_valid(const char *s, size_t n) {
  if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1])) return false;
  for (size_t i = 0; i < n;) {
    if (is_lower_alnum(s[i])) {
      i++;
      continue;
    }
    /* One separator between alphanumerics: ".", "_", "__" or a run of
     * '-' -- never a mix such as ".-" or "._". */
    size_t run = 1;
    while (i + run < n && !is_lower_alnum(s[i + run])) run++;
    bool dashes = true;
    for (size_t k = 0; k < run; k++) dashes &= s[i + k] == '-';
    bool ok = dashes || (run == 1 && (s[i] == '.' || s[i] == '_')) || (run == 2 && s[i] == '_' && s[i + 1] == '_');
    if (!ok) return false;
    i += run;
  }
  return true;
}

static bool domain_valid(const char *s, size_t n) {
  const char *colon = memchr(s, ':', n);
  size_t host_len = colon ? (size_t)(colon - s) : n;
  if (host_len == 0) return false;
  /* Host labels: alphanumerics and inner '-', joined by single dots, so
   * "." and ".." (which would become path segments) are not hosts. */
  if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[host_len - 1])) return false;
  for (size_t i = 0; i < host_len; i++) {
    if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-') return false;
    if (s[i] == '.' && (s[i + 1] == '.' || s[i + 1] == '-' || s[i - 1] == '-')) return false;
  }
  if (colon) {
    size_t plen = n - host_len - 1;
    if (plen == 0 || plen > 5) return false;
    for (size_t i = host_len + 1; i < n; i++)
      if (!isdigit((unsigned char)s[i])) return false;
  }
  return true;
}

int berth_image_ref_validate(const char *ref, berth_error *err) {
  size_t n = ref ? strlen(ref) : 0;
  if (n == 0) return berth_error_set(err, BERTH_EINVAL, "container.docker.image: must not be empty");
  if (n > 512) return berth_error_set(err, BERTH_EINVAL, "container.docker.image: longer than 512 characters");
  const char *end = ref + n;
  const char *at = strchr(ref, '@');
  if (at) {
    /* digest := algorithm ":" hex, algorithm := [a-z0-9]+ ([+._-][a-z0-9]+)*;
     * the hex part is at least 32 digits, exactly 64 for sha256. */
    const char *colon = strchr(at, ':');
    if (!colon || colon == at + 1 || !is_lower_alnum(at[1]) || !is_lower_alnum(colon[-1])) goto bad;
    for (const char *p = at + 1; p < colon; p++)
      if (!is_lower_alnum(*p) && !strchr("+._-", *p)) goto bad;
    size_t hex = 0;
    for (const char *p = colon + 1; *p; p++, hex++)
      if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p)) goto bad;
    if (hex < 32 || (colon - at - 1 == 6 && !strncmp(at + 1, "sha256", 6) && hex != 64)) goto bad;
    end = at;
  }
  const char *last_slash = NULL;
  for (const char *p = ref; p < end; p++)
    if (*p == '/') last_slash = p;
  const char *tag = NULL;
  for (const char *p = last_slash ? last_slash : ref; p < end; p++)
    if (*p == ':') tag = p;
  if (tag) {
    size_t tlen = (size_t)(end - tag - 1);
    if (tlen == 0 || tlen > 128 || !(isalnum((unsigned char)tag[1]) || tag[1] == '_')) goto bad;
    for (const char *p = tag + 1; p < end; p++)
      if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-') goto bad;
    end = tag;
  }
  /* The first component is a registry when it looks like a host. */
  const char *p = ref;
  if (end <= p) goto bad; /* a tag or digest with no repository */
  const char *slash = memchr(p, '/', (size_t)(end - p));
  if (slash) {
    size_t clen = (size_t)(slash - p);
    bool is_domain = memchr(p, '.', clen) || memchr(p, ':', clen) || (clen == 9 && !strncmp(p, "localhost", 9));
    if (is_domain) {
      if (!domain_valid(p, clen)) goto bad;
      p = slash + 1;
    }
  }
  if (p >= end) goto bad;        /* a registry, tag or digest with no repository */
  if (end - ref > 255) goto bad; /* distribution's limit on a name */
  while (p < end) {
    const char *s = memchr(p, '/', (size_t)(end - p));
    size_t clen = s ? (size_t)(s - p) : (size_t)(end - p);
    if (!path_component_valid(p, clen)) goto bad;
    if (!s) break;
    p = s + 1;
    if (p == end) goto bad;
  }
  return 0;
bad:
  return berth_error_set(err, BERTH_EINVAL, "container.docker.image: '%s' is not a valid image reference", ref);
}

int berth_spec_container_id(json_t *obj, char id[BERTH_ID_MAX + 1], berth_error *err) {
  json_t *cid;
  const char *value;
  if (berth_json_get_object(obj, "container_id", "container_id", &cid, err) < 0) return err->code;
  if (!cid) return berth_error_set(err, BERTH_EINVAL, "container_id: required");
  if (berth_json_get_string(cid, "value", "container_id.value", true, &value, err) < 0) return err->code;
  if (!berth_container_id_valid(value))
    return berth_error_set(err, BERTH_EINVAL, "container_id.value: '%.80s' must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
                           value);
  strcpy(id, value);
  return 0;
}

bool berth_path_has_dotdot(const char *path) {
  for (const char *p = path; (p = strstr(p, "..")); p += 2) {
    bool starts = p == path || p[-1] == '/';
    bool ends = p[2] == '\0' || p[2] == '/';
    if (starts && ends) return true;
  }
  return false;
}

bool berth_path_under(const char *path, const char *prefix) {
  size_t n = strlen(prefix);
  while (n > 1 && prefix[n - 1] == '/') n--;
  if (strncmp(path, prefix, n) != 0) return false;
  return path[n] == '\0' || path[n] == '/' || (n == 1 && prefix[0] == '/');
}

/* CommandInfo.URI as in mesos.proto: extract defaults to true, executable
 * and cache to false.  Local paths are checked against
 * --allowed_host_paths by the fetcher, once resolved. */
static int parse_uris(json_t *uris, berth_launch_spec *spec, berth_error *err) {
  size_t i;
  json_t *a;
  spec->uris = berth_calloc(json_array_size(uris) + 1, sizeof(*spec->uris));
  json_array_foreach(uris, i, a) {
    const char *value, *output_file;
    berth_fetch_uri u = {.extract = true};
    if (!json_is_object(a)) return berth_error_set(err, BERTH_EINVAL, "command.uris[%zu]: must be an object", i);
    if (berth_json_get_string(a, "value", "command.uris[].value", true, &value, err) < 0 ||
        berth_json_get_string(a, "output_file", "command.uris[].output_file", false, &output_file, err) < 0 ||
        berth_json_get_bool(a, "extract", "command.uris[].extract", &u.extract, err) < 0 ||
        berth_json_get_bool(a, "executable", "command.uris[].executable", &u.executable, err) < 0 ||
        berth_json_get_bool(a, "cache", "command.uris[].cache", &u.cache, err) < 0)
      return err->code;
    u.value = value;
    u.output_file = output_file;
    if (berth_fetch_uri_check(&u, err) < 0) return berth_error_prefix(err, "command.uris[%zu]", i);
    u.value = berth_strdup(value);
    u.output_file = output_file ? berth_strdup(output_file) : NULL;
    spec->uris[spec->n_uris++] = u;
  }
  return 0;
}

static int parse_command(json_t *command, berth_launch_spec *spec, berth_error *err) {
  const char *value, *user;
  json_t *args, *environment, *uris;
  if (!command) return 0;
  if (!json_is_object(command)) return berth_error_set(err, BERTH_EINVAL, "command: must be an object");
  json_t *shell_field = json_object_get(command, "shell");
  bool has_shell = shell_field && !json_is_null(shell_field);
  if (berth_json_get_bool(command, "shell", "command.shell", &spec->shell, err) < 0 ||
      berth_json_get_string(command, "value", "command.value", false, &value, err) < 0 ||
      berth_json_get_string(command, "user", "command.user", false, &user, err) < 0 ||
      berth_json_get_array(command, "arguments", "command.arguments", &args, err) < 0 ||
      berth_json_get_object(command, "environment", "command.environment", &environment, err) < 0 ||
      berth_json_get_array(command, "uris", "command.uris", &uris, err) < 0)
    return err->code;
  /* mesos.proto defaults shell to true; without a value there is nothing
   * to run in a shell, so an absent shell then means the image's own. */
  if (!has_shell) spec->shell = value != NULL;
  if (spec->shell && !value) return berth_error_set(err, BERTH_EINVAL, "command.value: required when shell is true");
  if (value) spec->value = berth_strdup(value);
  if (user) spec->user = berth_strdup(user);
  size_t i;
  json_t *a;
  spec->arguments = berth_calloc(json_array_size(args) + 1, sizeof(char *));
  json_array_foreach(args, i, a) {
    if (!json_is_string(a)) return berth_error_set(err, BERTH_EINVAL, "command.arguments[%zu]: must be a string", i);
    spec->arguments[spec->n_arguments++] = berth_strdup(json_string_value(a));
  }
  json_t *vars = NULL;
  if (environment && berth_json_get_array(environment, "variables", "command.environment.variables", &vars, err) < 0)
    return err->code;
  spec->env = berth_calloc(json_array_size(vars) + 1, sizeof(*spec->env));
  json_array_foreach(vars, i, a) {
    const char *name, *val;
    if (!json_is_object(a))
      return berth_error_set(err, BERTH_EINVAL, "command.environment.variables[%zu]: must be an object", i);
    if (berth_json_get_string(a, "name", "command.environment.variables[].name", true, &name, err) < 0 ||
        berth_json_get_string(a, "value", "command.environment.variables[].value", false, &val, err) < 0)
      return err->code;
    if (!*name || strchr(name, '='))
      return berth_error_set(err, BERTH_EINVAL, "command.environment.variables[%zu].name: '%.80s' is not a valid name",
                             i, name);
    spec->env[spec->n_env].name = berth_strdup(name);
    spec->env[spec->n_env].value = berth_strdup(val ? val : "");
    spec->n_env++;
  }
  return parse_uris(uris, spec, err);
}

static int parse_volumes(json_t *container, const berth_launch_policy *policy, berth_launch_spec *spec,
                         berth_error *err) {
  json_t *volumes, *v;
  size_t i;
  if (berth_json_get_array(container, "volumes", "container.volumes", &volumes, err) < 0) return err->code;
  spec->volumes = berth_calloc(json_array_size(volumes) + 1, sizeof(*spec->volumes));
  json_array_foreach(volumes, i, v) {
    const char *host, *cpath, *mode;
    if (!json_is_object(v)) return berth_error_set(err, BERTH_EINVAL, "container.volumes[%zu]: must be an object", i);
    if (berth_json_get_string(v, "host_path", "container.volumes[].host_path", true, &host, err) < 0 ||
        berth_json_get_string(v, "container_path", "container.volumes[].container_path", true, &cpath, err) < 0 ||
        berth_json_get_string(v, "mode", "container.volumes[].mode", false, &mode, err) < 0)
      return err->code;
    if (host[0] != '/' || berth_path_has_dotdot(host) || strchr(host, ':'))
      return berth_error_set(err, BERTH_EINVAL,
                             "container.volumes[%zu].host_path: '%.200s' must be an absolute path without '..' or ':'",
                             i, host);
    if (cpath[0] != '/' || berth_path_has_dotdot(cpath) || strchr(cpath, ':'))
      return berth_error_set(
          err, BERTH_EINVAL,
          "container.volumes[%zu].container_path: '%.200s' must be an absolute path without '..' or ':'", i, cpath);
    if (mode && strcmp(mode, "RW") && strcmp(mode, "RO"))
      return berth_error_set(err, BERTH_EINVAL, "container.volumes[%zu].mode: must be RW or RO", i);
    bool allowed = false;
    for (const char *const *p = policy->allowed_host_paths; p && *p && !allowed; p++)
      allowed = berth_path_under(host, *p);
    if (!allowed)
      return berth_error_set(err, BERTH_EINVAL,
                             "container.volumes[%zu].host_path: '%.200s' is not under --allowed_host_paths", i, host);
    spec->volumes[spec->n_volumes++] =
        (berth_volume){berth_strdup(host), berth_strdup(cpath), mode && !strcmp(mode, "RO")};
  }
  return 0;
}

static int parse_network(json_t *container, json_t *docker, berth_launch_spec *spec, berth_error *err) {
  const char *mode;
  json_t *ports, *p, *infos;
  size_t i;
  if (berth_json_get_string(docker, "network", "container.docker.network", false, &mode, err) < 0) return err->code;
  if (!mode || !strcmp(mode, "HOST"))
    spec->network = BERTH_NET_HOST; /* Mesos's default */
  else if (!strcmp(mode, "BRIDGE"))
    spec->network = BERTH_NET_BRIDGE;
  else if (!strcmp(mode, "NONE"))
    spec->network = BERTH_NET_NONE;
  else if (!strcmp(mode, "USER"))
    spec->network = BERTH_NET_USER;
  else
    return berth_error_set(err, BERTH_EINVAL, "container.docker.network: '%.40s' is not HOST, BRIDGE, NONE or USER",
                           mode);
  if (spec->network == BERTH_NET_USER) {
    const char *name = NULL;
    if (berth_json_get_array(container, "network_infos", "container.network_infos", &infos, err) < 0) return err->code;
    json_t *first = json_array_get(infos, 0);
    if (json_is_object(first) &&
        berth_json_get_string(first, "name", "container.network_infos[0].name", false, &name, err) < 0)
      return err->code;
    /* A docker network's own name, never a mode: "container:<x>" would
     * join another container's namespace, "host" the node's. */
    static const char *const modes[] = {"host", "bridge", "none", "default", NULL};
    bool valid = name && isalnum((unsigned char)name[0]) && strlen(name) <= 128;
    for (const char *ch = name; valid && *ch; ch++)
      valid = isalnum((unsigned char)*ch) || *ch == '_' || *ch == '.' || *ch == '-';
    for (const char *const *m = modes; valid && *m; m++) valid = strcmp(name, *m) != 0;
    if (!valid)
      return berth_error_set(err, BERTH_EINVAL,
                             "container.network_infos[0].name: '%.80s' is not a user network name (network USER)",
                             name ? name : "");
    spec->network_name = berth_strdup(name);
  }
  if (berth_json_get_array(docker, "port_mappings", "container.docker.port_mappings", &ports, err) < 0)
    return err->code;
  if (json_array_size(ports) > 0 && (spec->network == BERTH_NET_HOST || spec->network == BERTH_NET_NONE))
    return berth_error_set(err, BERTH_EINVAL,
                           "container.docker.port_mappings: only allowed with network BRIDGE or USER");
  spec->ports = berth_calloc(json_array_size(ports) + 1, sizeof(*spec->ports));
  json_array_foreach(ports, i, p) {
    json_t *hp = json_object_get(p, "host_port"), *cp = json_object_get(p, "container_port");
    const char *proto;
    if (!json_is_object(p))
      return berth_error_set(err, BERTH_EINVAL, "container.docker.port_mappings[%zu]: must be an object", i);
    if (!json_is_integer(hp) || json_integer_value(hp) < 1 || json_integer_value(hp) > 65535 || !json_is_integer(cp) ||
        json_integer_value(cp) < 1 || json_integer_value(cp) > 65535)
      return berth_error_set(
          err, BERTH_EINVAL,
          "container.docker.port_mappings[%zu]: host_port and container_port must be integers in 1..65535", i);
    const char *host_ip;
    if (berth_json_get_string(p, "host_ip", "container.docker.port_mappings[].host_ip", false, &host_ip, err) < 0)
      return err->code;
    /* Docker would take a name or garbage as "bind nothing" or fail late
     * at start: only an address literal is let through. */
    if (host_ip && !berth_spec_valid_ip(host_ip))
      return berth_error_set(err, BERTH_EINVAL,
                             "container.docker.port_mappings[%zu].host_ip: '%.64s' is not an IPv4 or IPv6 address", i,
                             host_ip);
    if (berth_json_get_string(p, "protocol", "container.docker.port_mappings[].protocol", false, &proto, err) < 0)
      return err->code;
    if (proto && strcmp(proto, "tcp") && strcmp(proto, "udp"))
      return berth_error_set(err, BERTH_EINVAL, "container.docker.port_mappings[%zu].protocol: must be tcp or udp", i);
    berth_port_mapping *m = &spec->ports[spec->n_ports++];
    m->host_port = (int)json_integer_value(hp);
    m->container_port = (int)json_integer_value(cp);
    snprintf(m->protocol, sizeof(m->protocol), "%s", proto ? proto : "tcp");
    snprintf(m->host_ip, sizeof(m->host_ip), "%s", host_ip ? host_ip : "");
  }
  return 0;
}

static int parse_parameters(json_t *docker, const berth_launch_policy *policy, berth_launch_spec *spec,
                            berth_error *err) {
  json_t *params;
  if (berth_json_get_array(docker, "parameters", "container.docker.parameters", &params, err) < 0) return err->code;
  /* The runtime is checked against --docker_allowed_runtimes by the
   * containerizer (berth_params_check_runtime), which knows the flag. */
  berth_params_policy pp = {policy->allow_privileged, NULL};
  if (berth_params_parse(params, &pp, "container.docker.parameters", &spec->params, err) < 0) return err->code;
  /* Labels stay in the spec's own list, which the mapping adds berth's
   * labels to. */
  json_t *labels = json_object_get(spec->params.config, "Labels");
  spec->labels = berth_calloc(json_object_size(labels) + 1, sizeof(*spec->labels));
  const char *key;
  json_t *value;
  json_object_foreach(labels, key, value) {
    spec->labels[spec->n_labels++] = (berth_label){berth_strdup(key), berth_strdup(json_string_value(value))};
  }
  json_object_del(spec->params.config, "Labels");
  /* Two users for one container: refuse rather than pick one. */
  const char *user = json_string_value(json_object_get(spec->params.config, "User"));
  if (user && spec->user && strcmp(user, spec->user))
    return berth_error_set(err, BERTH_EINVAL,
                           "container.docker.parameters: user '%.80s' contradicts command.user '%.80s'", user,
                           spec->user);
  /* memory-swap against mem is checked at launch (berth_mapping_check_params),
   * not here: an UPDATE may change mem, and recovery re-reads the stored
   * launch with this parser. */
  return 0;
}

static int parse_container(json_t *container, const berth_launch_policy *policy, berth_launch_spec *spec,
                           berth_error *err) {
  const char *type, *hostname, *image;
  json_t *docker;
  if (!container) return berth_error_set(err, BERTH_EINVAL, "container: required (with type DOCKER)");
  if (!json_is_object(container)) return berth_error_set(err, BERTH_EINVAL, "container: must be an object");
  if (berth_json_get_string(container, "type", "container.type", false, &type, err) < 0) return err->code;
  if (type && strcmp(type, "DOCKER"))
    return berth_error_set(err, BERTH_EINVAL, "container.type: '%.40s' is not supported (only DOCKER)", type);
  if (berth_json_get_string(container, "hostname", "container.hostname", false, &hostname, err) < 0) return err->code;
  /* The kernel takes at most 64 bytes; RFC 1123 labels are safer still. */
  bool host_ok = !hostname || (*hostname && strlen(hostname) <= 63 && isalnum((unsigned char)hostname[0]));
  for (const char *ch = hostname; host_ok && ch && *ch; ch++)
    host_ok = isalnum((unsigned char)*ch) || *ch == '-' || *ch == '.';
  if (!host_ok)
    return berth_error_set(err, BERTH_EINVAL, "container.hostname: '%.80s' must be 1-63 letters, digits, '-' or '.'",
                           hostname);
  if (hostname) spec->hostname = berth_strdup(hostname);
  if (berth_json_get_object(container, "docker", "container.docker", &docker, err) < 0) return err->code;
  if (!docker) return berth_error_set(err, BERTH_EINVAL, "container.docker: required");
  if (berth_json_get_string(docker, "image", "container.docker.image", true, &image, err) < 0) return err->code;
  if (berth_image_ref_validate(image, err) < 0) return err->code;
  spec->image = berth_strdup(image);
  if (berth_json_get_bool(docker, "privileged", "container.docker.privileged", &spec->privileged, err) < 0 ||
      berth_json_get_bool(docker, "force_pull_image", "container.docker.force_pull_image", &spec->force_pull, err) <
          0 ||
      berth_json_get_bool(docker, "stdin", "container.docker.stdin", &spec->stdin_open, err) < 0)
    return err->code;
  if (spec->privileged && !policy->allow_privileged)
    return berth_error_set(err, BERTH_EINVAL,
                           "container.docker.privileged: not allowed (berthd runs without --allow_privileged)");
  if (parse_network(container, docker, spec, err) < 0 || parse_parameters(docker, policy, spec, err) < 0 ||
      parse_volumes(container, policy, spec, err) < 0)
    return err->code;
  return 0;
}

static int parse_kill_policy(json_t *launch, berth_launch_spec *spec, berth_error *err) {
  json_t *policy, *grace;
  if (berth_json_get_object(launch, "kill_policy", "kill_policy", &policy, err) < 0) return err->code;
  if (!policy) return 0;
  if (berth_json_get_object(policy, "grace_period", "kill_policy.grace_period", &grace, err) < 0) return err->code;
  if (!grace) return 0;
  json_t *ns = json_object_get(grace, "nanoseconds");
  if (!json_is_integer(ns) || json_integer_value(ns) < 0)
    return berth_error_set(err, BERTH_EINVAL, "kill_policy.grace_period.nanoseconds: must be a non-negative integer");
  spec->has_grace = true;
  spec->grace_ns = json_integer_value(ns);
  return 0;
}

void berth_spec_kill_policy(json_t *launch, bool *has_grace, int64_t *grace_ns) {
  berth_launch_spec spec = {0};
  berth_error err;
  *has_grace = false;
  *grace_ns = 0;
  if (json_is_object(launch) && parse_kill_policy(launch, &spec, &err) == 0 && spec.has_grace) {
    *has_grace = true;
    *grace_ns = spec.grace_ns;
  }
}

/* Mesos's TaskInfo.max_completion_time, a DurationInfo. */
static int parse_max_completion(json_t *launch, berth_launch_spec *spec, berth_error *err) {
  json_t *d;
  if (berth_json_get_object(launch, "max_completion_time", "max_completion_time", &d, err) < 0) return err->code;
  if (!d) return 0;
  json_t *ns = json_object_get(d, "nanoseconds");
  if (!json_is_integer(ns) || json_integer_value(ns) <= 0)
    return berth_error_set(err, BERTH_EINVAL, "max_completion_time.nanoseconds: must be a positive integer");
  spec->max_completion_ns = json_integer_value(ns);
  return 0;
}

int berth_spec_parse(json_t *launch, const berth_launch_policy *policy, berth_launch_spec *spec, berth_error *err) {
  memset(spec, 0, sizeof(*spec));
  if (!json_is_object(launch)) return berth_error_set(err, BERTH_EINVAL, "launch_container: required object");
  json_t *resources, *limits;
  if (berth_spec_container_id(launch, spec->id, err) < 0 ||
      parse_command(json_object_get(launch, "command"), spec, err) < 0 ||
      berth_json_get_array(launch, "resources", "resources", &resources, err) < 0 ||
      berth_json_get_object(launch, "limits", "limits", &limits, err) < 0 ||
      berth_resources_parse(resources, limits, &spec->res, &spec->pvolumes, &spec->n_pvolumes, err) < 0 ||
      parse_container(json_object_get(launch, "container"), policy, spec, err) < 0 ||
      parse_kill_policy(launch, spec, err) < 0 || parse_max_completion(launch, spec, err) < 0 ||
      berth_health_spec_parse(launch, &spec->health, err) < 0) {
    berth_spec_free(spec);
    return err->code;
  }
  return 0;
}

void berth_spec_free(berth_launch_spec *spec) {
  free(spec->image);
  free(spec->value);
  for (size_t i = 0; i < spec->n_arguments; i++) free(spec->arguments[i]);
  free(spec->arguments);
  for (size_t i = 0; i < spec->n_env; i++) {
    free(spec->env[i].name);
    free(spec->env[i].value);
  }
  free(spec->env);
  free(spec->user);
  for (size_t i = 0; i < spec->n_pvolumes; i++) {
    free(spec->pvolumes[i].id);
    free(spec->pvolumes[i].container_path);
  }
  free(spec->pvolumes);
  free(spec->hostname);
  for (size_t i = 0; i < spec->n_volumes; i++) {
    free(spec->volumes[i].host_path);
    free(spec->volumes[i].container_path);
  }
  free(spec->volumes);
  free(spec->network_name);
  free(spec->ports);
  for (size_t i = 0; i < spec->n_labels; i++) {
    free(spec->labels[i].key);
    free(spec->labels[i].value);
  }
  free(spec->labels);
  berth_params_free(&spec->params);
  for (size_t i = 0; i < spec->n_uris; i++) {
    free((char *)spec->uris[i].value);
    free((char *)spec->uris[i].output_file);
  }
  free(spec->uris);
  berth_health_spec_free(&spec->health);
  memset(spec, 0, sizeof(*spec));
}

bool berth_spec_valid_ip(const char *text) {
  unsigned char addr[sizeof(struct in6_addr)];
  if (!text || strlen(text) >= sizeof(((berth_port_mapping *)0)->host_ip)) return false;
  return inet_pton(AF_INET, text, addr) == 1 || inet_pton(AF_INET6, text, addr) == 1;
}
