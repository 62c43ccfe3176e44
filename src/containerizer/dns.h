/* --default_container_dns: Mesos's ContainerDNSInfo JSON, the DNS a
 * container gets by network mode (and network name for USER) when the task
 * names none itself.
 *
 *   {"docker": [{"network_mode": "BRIDGE" | "HOST" | "USER",
 *                "network_name": "...",          (USER only; absent: every user network)
 *                "dns": {"nameservers": [...], "search": [...], "options": [...]}}]}
 *
 * Pure: parsed once at start, read by the mapping. */
#ifndef BERTH_CONTAINERIZER_DNS_H
#define BERTH_CONTAINERIZER_DNS_H

#include <jansson.h>

#include "containerizer/spec.h"
#include "util/error.h"

typedef struct berth_dns_entry {
  berth_network_mode mode;
  char *network_name; /* USER only; NULL: the default for every user network */
  /* Arrays of strings, checked as the dns, dns-search and dns-option
   * parameters are; NULL when the entry has none. */
  json_t *nameservers, *search, *options;
} berth_dns_entry;

typedef struct berth_dns_defaults {
  berth_dns_entry *entries;
  size_t n;
} berth_dns_defaults;

/* Parses the flag's value (NULL or "" gives no defaults).  Bad JSON, an
 * unknown mode, a bad address or two entries for one network are errors
 * naming the flag and the entry. */
int berth_dns_defaults_parse(const char *text, berth_dns_defaults *out, berth_error *err);

/* The entry for a container on this network, or NULL: a USER network's
 * own entry first, then the USER entry without a name. */
const berth_dns_entry *berth_dns_defaults_find(const berth_dns_defaults *dns, berth_network_mode mode,
                                               const char *network_name);

void berth_dns_defaults_free(berth_dns_defaults *dns);

#endif
