#include "containerizer/dns.h"

#include <string.h>

#include "containerizer/parameters.h"
#include "util/alloc.h"

#define FLAG "--default_container_dns"

void berth_dns_defaults_free(berth_dns_defaults *dns) {
  for (size_t i = 0; i < dns->n; i++) {
    free(dns->entries[i].network_name);
    json_decref(dns->entries[i].nameservers);
    json_decref(dns->entries[i].search);
    json_decref(dns->entries[i].options);
  }
  free(dns->entries);
  dns->entries = NULL;
  dns->n = 0;
}

/* Appends {"key": key, "value": each string of list} to params, so the
 * values go through the same checks as a task's own dns parameters. */
static int add_params(json_t *params, json_t *dns, const char *name, const char *key, size_t i, berth_error *err) {
  json_t *list = json_object_get(dns, name), *v;
  size_t j;
  if (!list) return 0;
  if (!json_is_array(list))
    return berth_error_set(err, BERTH_EINVAL, FLAG ": docker[%zu].dns.%s must be an array of strings", i, name);
  json_array_foreach(list, j, v) {
    if (!json_is_string(v))
      return berth_error_set(err, BERTH_EINVAL, FLAG ": docker[%zu].dns.%s[%zu] must be a string", i, name, j);
    json_array_append_new(params, json_pack("{s:s,s:O}", "key", key, "value", v));
  }
  return 0;
}

static int parse_entry(json_t *e, size_t i, berth_dns_entry *out, berth_error *err) {
  if (!json_is_object(e)) return berth_error_set(err, BERTH_EINVAL, FLAG ": docker[%zu] must be an object", i);
  const char *mode = json_string_value(json_object_get(e, "network_mode"));
  json_t *name = json_object_get(e, "network_name");
  if (!mode) return berth_error_set(err, BERTH_EINVAL, FLAG ": docker[%zu].network_mode is required", i);
  if (!strcmp(mode, "BRIDGE"))
    out->mode = BERTH_NET_BRIDGE;
  else if (!strcmp(mode, "HOST"))
    out->mode = BERTH_NET_HOST;
  else if (!strcmp(mode, "USER"))
    out->mode = BERTH_NET_USER;
  else
    return berth_error_set(err, BERTH_EINVAL, FLAG ": docker[%zu].network_mode '%.40s' is not BRIDGE, HOST or USER", i,
                           mode);
  if (name && !json_is_string(name))
    return berth_error_set(err, BERTH_EINVAL, FLAG ": docker[%zu].network_name must be a string", i);
  if (name && out->mode != BERTH_NET_USER)
    return berth_error_set(err, BERTH_EINVAL, FLAG ": docker[%zu].network_name is only for network_mode USER", i);
  json_t *dns = json_object_get(e, "dns");
  if (!json_is_object(dns)) return berth_error_set(err, BERTH_EINVAL, FLAG ": docker[%zu].dns must be an object", i);
  json_t *params = json_array();
  berth_params p = {0};
  static const berth_params_policy policy = {false, NULL};
  int rc = add_params(params, dns, "nameservers", "dns", i, err);
  if (rc == 0) rc = add_params(params, dns, "search", "dns-search", i, err);
  if (rc == 0) rc = add_params(params, dns, "options", "dns-option", i, err);
  if (rc == 0 && berth_params_parse(params, &policy, "dns", &p, err) < 0)
    rc = berth_error_prefix(err, FLAG ": docker[%zu]", i);
  json_decref(params);
  if (rc < 0) return rc;
  out->network_name = name ? berth_strdup(json_string_value(name)) : NULL;
  out->nameservers = json_incref(json_object_get(p.host, "Dns"));
  out->search = json_incref(json_object_get(p.host, "DnsSearch"));
  out->options = json_incref(json_object_get(p.host, "DnsOptions"));
  berth_params_free(&p);
  return 0;
}

int berth_dns_defaults_parse(const char *text, berth_dns_defaults *out, berth_error *err) {
  memset(out, 0, sizeof(*out));
  if (!text || !*text) return 0;
  json_error_t jerr;
  json_t *root = json_loads(text, 0, &jerr);
  if (!root) return berth_error_set(err, BERTH_EINVAL, FLAG ": not JSON (%s at column %d)", jerr.text, jerr.column);
  json_t *docker = json_object_get(root, "docker");
  int rc = 0;
  /* "mesos" entries are for Mesos's own containerizer: not berth's. */
  if (!json_is_object(root) || (docker && !json_is_array(docker)))
    rc = berth_error_set(err, BERTH_EINVAL, FLAG ": must be an object whose \"docker\" is an array");
  size_t i;
  json_t *e;
  out->entries = berth_calloc(json_array_size(docker) + 1, sizeof(*out->entries));
  json_array_foreach(docker, i, e) {
    if (rc < 0) break;
    berth_dns_entry *entry = &out->entries[out->n];
    rc = parse_entry(e, i, entry, err);
    if (rc < 0) break;
    out->n++;
    for (size_t j = 0; j + 1 < out->n && rc == 0; j++) {
      const berth_dns_entry *o = &out->entries[j];
      bool same_name = (!o->network_name && !entry->network_name) ||
                       (o->network_name && entry->network_name && !strcmp(o->network_name, entry->network_name));
      if (o->mode == entry->mode && same_name)
        rc = berth_error_set(err, BERTH_EINVAL, FLAG ": docker[%zu] is a second entry for docker[%zu]'s network", i, j);
    }
  }
  json_decref(root);
  if (rc < 0) berth_dns_defaults_free(out);
  return rc;
}

const berth_dns_entry *berth_dns_defaults_find(const berth_dns_defaults *dns, berth_network_mode mode,
                                               const char *network_name) {
  const berth_dns_entry *fallback = NULL;
  for (size_t i = 0; dns && i < dns->n; i++) {
    const berth_dns_entry *e = &dns->entries[i];
    if (e->mode != mode) continue;
    if (mode != BERTH_NET_USER) return e;
    if (e->network_name && network_name && !strcmp(e->network_name, network_name)) return e;
    if (!e->network_name) fallback = e;
  }
  return fallback;
}
