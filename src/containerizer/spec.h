/* LAUNCH_CONTAINER decoded and validated into plain C values.
 *
 * Everything a launch needs is checked here, before any side effect, so a
 * bad request gets a 400 naming the field and nothing else happens.  Pure:
 * no I/O, no loop. */
#ifndef BERTH_CONTAINERIZER_SPEC_H
#define BERTH_CONTAINERIZER_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "containerizer/health_spec.h"
#include "containerizer/parameters.h"
#include "containerizer/resources.h"
#include "fetcher/fetcher.h"
#include "util/error.h"

#define BERTH_ID_MAX 64
/* Most entries an array field (resources, volumes, ...) may hold, also for
 * the resources a launch has after any number of updates. */
#define BERTH_SPEC_MAX_ARRAY 1024

typedef enum { BERTH_NET_BRIDGE, BERTH_NET_HOST, BERTH_NET_NONE, BERTH_NET_USER } berth_network_mode;

typedef struct berth_port_mapping {
  int host_port;
  int container_port;
  char protocol[4]; /* "tcp" or "udp" */
  char host_ip[46]; /* an IPv4 or IPv6 literal; "": --docker_port_host_ip */
} berth_port_mapping;

typedef struct berth_volume {
  char *host_path;
  char *container_path;
  bool read_only;
} berth_volume;

typedef struct berth_env_var {
  char *name;
  char *value;
} berth_env_var;

typedef struct berth_label {
  char *key;
  char *value;
} berth_label;

/* Limits the policy flags put on requests. */
typedef struct berth_launch_policy {
  const char *const *allowed_host_paths; /* NULL-terminated prefixes */
  bool allow_privileged;
} berth_launch_policy;

typedef struct berth_launch_spec {
  char id[BERTH_ID_MAX + 1];
  char *image;
  /* command */
  bool shell;
  char *value;
  char **arguments;
  size_t n_arguments;
  berth_env_var *env;
  size_t n_env;
  char *user;
  /* resources */
  berth_resources res;
  berth_persistent_volume *pvolumes;
  size_t n_pvolumes;
  /* container */
  char *hostname;
  berth_volume *volumes;
  size_t n_volumes;
  berth_network_mode network;
  char *network_name; /* USER mode */
  berth_port_mapping *ports;
  size_t n_ports;
  bool privileged;
  bool force_pull;
  bool stdin_open;     /* container.docker.stdin (berth extension): docker run -i */
  berth_label *labels; /* docker parameters "label" */
  size_t n_labels;
  berth_params params; /* the other docker parameters (labels moved out) */
  bool has_grace;
  int64_t grace_ns;
  berth_fetch_uri *uris;     /* strings owned by the spec */
  int64_t max_completion_ns; /* 0: no limit */
  berth_health_spec health;  /* type NONE: no health check */
  size_t n_uris;
} berth_launch_spec;

/* True when id is a valid container id (API.md §1). */
bool berth_container_id_valid(const char *id);

/* True when path is prefix itself or below it ("/srv" covers "/srv/a",
 * not "/srvx"); "/" covers every absolute path. */
bool berth_path_under(const char *path, const char *prefix);

/* True when path has a ".." component. */
bool berth_path_has_dotdot(const char *path);

/* An IPv4 or IPv6 address literal (inet_pton), as a port mapping's
 * host_ip or --docker_port_host_ip must be. */
bool berth_spec_valid_ip(const char *text);

/* Validates a docker image reference (registry[:port]/path[:tag][@digest]). */
int berth_image_ref_validate(const char *ref, berth_error *err);

/* Reads {"container_id": {"value": "..."}} from obj into id. */
int berth_spec_container_id(json_t *obj, char id[BERTH_ID_MAX + 1], berth_error *err);

/* Decodes the "launch_container" object.  On error spec is left empty. */
int berth_spec_parse(json_t *launch, const berth_launch_policy *policy, berth_launch_spec *spec, berth_error *err);

/* The grace period of a launch's kill policy, if it has a readable one;
 * for a stored launch that cannot be parsed whole. */
void berth_spec_kill_policy(json_t *launch, bool *has_grace, int64_t *grace_ns);

void berth_spec_free(berth_launch_spec *spec);

#endif
