/* Fuzz target: the request decoder.
 *
 * src/api/calls.c is tied to HTTP, so this feeds what it hands on: the input
 * is JSON text, parsed as calls.c parses a body (json_loadb with
 * JSON_REJECT_DUPLICATES), and the object is decoded as a
 * "launch_container" (berth_spec_parse), as the "resources"/"limits" of an
 * UPDATE_CONTAINER (berth_resources_parse) and as the container id of every
 * other call (berth_spec_container_id).  A spec that decodes is also turned
 * into Docker's create config (berth_mapping_create_config), the next
 * thing berthd does with it.
 *
 * Beyond memory safety it checks what validation promises (API.md §1, §3,
 * README "Security"): a decoded spec has a valid id and image, host volumes
 * only under the allowed prefixes and without '..' or ':', sane numbers,
 * privileged only when allowed; a refusal is BERTH_EINVAL with a message
 * and leaves the spec empty. */
#include <jansson.h>
#include <math.h>
#include <stdbool.h>

#include "containerizer/mapping.h"
#include "containerizer/spec.h"
#include "fuzz_util.h"

static const char *const allowed[] = {"/srv/app", "/data/", NULL};

/* Independent of spec.c's own helpers on purpose. */
static bool has_dotdot_component(const char *p) {
  for (const char *s = p; *s;) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 2 && s[0] == '.' && s[1] == '.') return true;
    s += n + (e ? 1 : 0);
  }
  return false;
}

static bool under_allowed(const char *path) {
  for (const char *const *a = allowed; *a; a++) {
    size_t n = strlen(*a);
    while (n > 1 && (*a)[n - 1] == '/') n--;
    if (!strncmp(path, *a, n) && (path[n] == '\0' || path[n] == '/')) return true;
  }
  return false;
}

static void check_resources(const berth_resources *r) {
  FZ_CHECK(isfinite(r->cpus) && r->cpus >= 0 && r->cpus <= 4096, "cpus %g", r->cpus);
  FZ_CHECK(isfinite(r->mem_mb) && r->mem_mb >= 0, "mem %g", r->mem_mb);
  FZ_CHECK(!r->has_cpus_limit || (!isnan(r->cpus_limit) && r->cpus_limit >= 0), "cpus limit %g", r->cpus_limit);
  FZ_CHECK(!r->has_mem_limit || (!isnan(r->mem_limit_mb) && r->mem_limit_mb >= 0), "mem limit %g", r->mem_limit_mb);
  FZ_CHECK(isfinite(r->gpus) && r->gpus >= 0 && r->gpus == floor(r->gpus), "gpus %g", r->gpus);
}

static void check_pvolumes(const berth_persistent_volume *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    FZ_CHECK(berth_container_id_valid(v[i].id), "persistence id '%s'", v[i].id);
    FZ_CHECK(v[i].container_path[0] && !strchr(v[i].container_path, ':') && !has_dotdot_component(v[i].container_path),
             "persistent volume container_path '%s'", v[i].container_path);
  }
}

static void check_spec(const berth_launch_spec *s, const berth_launch_policy *policy) {
  berth_error err = {0};
  FZ_CHECK(berth_container_id_valid(s->id), "id '%s'", s->id);
  FZ_CHECK(s->image && berth_image_ref_validate(s->image, &err) == 0, "image '%s'", s->image ? s->image : "(null)");
  FZ_CHECK(!s->shell || s->value, "shell without value");
  FZ_CHECK(!s->privileged || policy->allow_privileged, "privileged without --allow_privileged");
  FZ_CHECK(!s->arguments || s->arguments[s->n_arguments] == NULL, "arguments not NULL-terminated");
  for (size_t i = 0; i < s->n_env; i++)
    FZ_CHECK(s->env[i].name[0] && !strchr(s->env[i].name, '=') && s->env[i].value, "env name '%s'", s->env[i].name);
  for (size_t i = 0; i < s->n_volumes; i++) {
    const berth_volume *v = &s->volumes[i];
    FZ_CHECK(v->host_path[0] == '/' && !strchr(v->host_path, ':') && !has_dotdot_component(v->host_path) &&
                 under_allowed(v->host_path),
             "host_path '%s'", v->host_path);
    FZ_CHECK(v->container_path[0] == '/' && !strchr(v->container_path, ':') && !has_dotdot_component(v->container_path),
             "container_path '%s'", v->container_path);
  }
  check_pvolumes(s->pvolumes, s->n_pvolumes);
  check_resources(&s->res);
  FZ_CHECK(s->n_ports == 0 || s->network == BERTH_NET_BRIDGE || s->network == BERTH_NET_USER, "ports with network %d",
           (int)s->network);
  for (size_t i = 0; i < s->n_ports; i++) {
    const berth_port_mapping *p = &s->ports[i];
    FZ_CHECK(p->host_port >= 1 && p->host_port <= 65535 && p->container_port >= 1 && p->container_port <= 65535,
             "ports %d:%d", p->host_port, p->container_port);
    FZ_CHECK(!strcmp(p->protocol, "tcp") || !strcmp(p->protocol, "udp"), "protocol '%s'", p->protocol);
  }
  FZ_CHECK(s->network != BERTH_NET_USER || (s->network_name && s->network_name[0]), "USER network without a name");
  for (size_t i = 0; i < s->n_labels; i++)
    FZ_CHECK(s->labels[i].key[0] && strncmp(s->labels[i].key, "berth.", 6) != 0, "label '%s'", s->labels[i].key);
  FZ_CHECK(!s->has_grace || s->grace_ns >= 0, "grace %lld", (long long)s->grace_ns);
}

/* The create config: berth's own labels cannot be overridden and every
 * bind is exactly "host:container:mode". */
static void check_config(const berth_launch_spec *s) {
  const char *devices[] = {NULL};
  berth_mapping_ctx ctx = {.agent_id = "fz",
                           .docker_name = "berth-fz.x",
                           .sandbox_host = "/w/sandboxes/x",
                           .sandbox_directory = "/mnt/mesos/sandbox",
                           .volumes_dir = "/w/volumes",
                           .cgroups_enable_cfs = s->n_env & 1,
                           .devices = devices};
  json_t *config = berth_mapping_create_config(s, &ctx);
  FZ_CHECK(config, "no config");
  json_t *labels = json_object_get(config, "Labels");
  FZ_CHECK(!strcmp(json_string_value(json_object_get(labels, "berth.agent_id")), "fz"), "agent label overridden");
  FZ_CHECK(!strcmp(json_string_value(json_object_get(labels, "berth.container_id")), s->id), "id label overridden");
  json_t *hc = json_object_get(config, "HostConfig");
  json_t *binds = json_object_get(hc, "Binds");
  FZ_CHECK(json_array_size(binds) == 1 + s->n_volumes + s->n_pvolumes, "%zu binds", json_array_size(binds));
  size_t i;
  json_t *b;
  json_array_foreach(binds, i, b) {
    const char *text = json_string_value(b);
    FZ_CHECK(text, "bind %zu is not a string", i);
    size_t colons = 0;
    for (const char *p = text; *p; p++) colons += *p == ':';
    FZ_CHECK(colons == 2, "bind '%s'", text);
  }
  FZ_CHECK(json_is_false(json_object_get(hc, "Privileged")) || s->privileged, "privileged in config");
  json_t *mem = json_object_get(hc, "Memory");
  FZ_CHECK(!mem || json_integer_value(mem) >= 0, "Memory %lld", (long long)json_integer_value(mem));
  json_decref(config);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
  if (!root) return 0;

  berth_launch_policy policy = {.allowed_host_paths = allowed, .allow_privileged = size & 1};
  berth_launch_spec spec;
  berth_error err = {0};
  if (berth_spec_parse(root, &policy, &spec, &err) == 0) {
    check_spec(&spec, &policy);
    check_config(&spec);
    berth_spec_free(&spec);
  } else {
    FZ_CHECK(err.code == BERTH_EINVAL && err.msg[0], "refusal with code %d, message '%s'", err.code, err.msg);
    FZ_CHECK(spec.image == NULL && spec.n_env == 0 && spec.env == NULL && spec.volumes == NULL,
             "refused spec not emptied");
  }

  /* UPDATE_CONTAINER's resources and limits. */
  berth_resources res;
  berth_persistent_volume *pv = NULL;
  size_t n_pv = 0;
  berth_error_clear(&err);
  if (berth_resources_parse(json_object_get(root, "resources"), json_object_get(root, "limits"), &res, &pv, &n_pv,
                            &err) == 0) {
    check_resources(&res);
    check_pvolumes(pv, n_pv);
  } else {
    FZ_CHECK(err.code == BERTH_EINVAL && err.msg[0], "resources refusal with code %d", err.code);
  }
  for (size_t i = 0; i < n_pv; i++) {
    free(pv[i].id);
    free(pv[i].container_path);
  }
  free(pv);

  /* WAIT/KILL/REMOVE's container id. */
  char id[BERTH_ID_MAX + 1];
  berth_error_clear(&err);
  if (berth_spec_container_id(root, id, &err) == 0)
    FZ_CHECK(berth_container_id_valid(id), "container id '%s'", id);
  else
    FZ_CHECK(err.code == BERTH_EINVAL && err.msg[0], "id refusal with code %d", err.code);

  json_decref(root);
  return 0;
}
