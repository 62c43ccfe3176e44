/* `container.docker.parameters`: the docker CLI flags a Mesos task passes
 * (`{"key": "ulimit", "value": "nofile=1024:2048"}` is `--ulimit
 * nofile=1024:2048`), checked and turned into Engine API create fields.
 *
 * One table in parameters.c maps each key to its field and value parser;
 * values are parsed the way the docker CLI 20.10 parses them, with the
 * syntax checks in param_values.c.  Pure: no
 * I/O, no loop. */
#ifndef BERTH_CONTAINERIZER_PARAMETERS_H
#define BERTH_CONTAINERIZER_PARAMETERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "containerizer/param_values.h"
#include "util/error.h"

/* Names berthd itself injects into every container's environment (API.md
 * §3); an `env` parameter may not set them. */
#define BERTH_PARAMS_RESERVED_ENV \
  { "MESOS_SANDBOX", "MESOS_CONTAINER_NAME", "BERTH_CONTAINER_ID", NULL }

typedef struct berth_params_policy {
  bool allow_privileged;               /* --allow_privileged */
  const char *const *allowed_runtimes; /* NULL-terminated; NULL: any (recovery re-reading a stored launch) */
} berth_params_policy;

/* What the parameters ask for, as create-body fragments.  Keys hold only
 * what a parameter set:
 *   config: "Labels" (object), "Env" (array of K=V), "User", "WorkingDir";
 *   host:   HostConfig fields ("Ulimits", "CapAdd", "Tmpfs", "Dns", ...).
 * Both are NULL until parsed; berth_params_free releases them. */
typedef struct berth_params {
  json_t *config;
  json_t *host;
} berth_params;

/* One row of the table, for docs and tests. */
typedef struct berth_param_info {
  const char *key;
  const char *field;  /* Engine API field, "HostConfig.Ulimits" */
  const char *syntax; /* value syntax as written in the README */
  bool accumulates;   /* repeated keys add up (else the later one wins) */
  bool privileged;    /* needs --allow_privileged */
} berth_param_info;

/* The table's rows, NULL key last. */
const berth_param_info *berth_params_table(void);

/* Decodes a parameters array (NULL or an array of {"key","value"}).  field
 * names the array in errors ("container.docker.parameters").  On error
 * out is left empty. */
int berth_params_parse(json_t *params, const berth_params_policy *policy, const char *field, berth_params *out,
                       berth_error *err);

/* 400 unless the runtime the parameters pick (if any) is in allowed
 * (NULL-terminated, --docker_allowed_runtimes). */
int berth_params_check_runtime(const berth_params *params, const char *const *allowed, berth_error *err);

void berth_params_free(berth_params *params);

#endif
