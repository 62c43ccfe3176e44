#include "containerizer/health_spec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerizer/json_get.h"
#include "util/alloc.h"

/* A number of seconds (integer or real) within [min, max]; absent or
 * null keeps *out. */
static int get_seconds(json_t *hc, const char *key, double min, double max, double *out, berth_error *err) {
  json_t *v = json_object_get(hc, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_number(v)) return berth_error_set(err, BERTH_EINVAL, "health_check.%s: must be a number", key);
  double d = json_number_value(v);
  if (!isfinite(d) || d < min || d > max)
    return berth_error_set(err, BERTH_EINVAL, "health_check.%s: %g is out of range (%g to %g seconds)", key, d, min,
                           max);
  *out = d;
  return 0;
}

static int get_port(json_t *obj, const char *field, int *out, berth_error *err) {
  json_t *v = json_object_get(obj, "port");
  if (!v || json_is_null(v)) return berth_error_set(err, BERTH_EINVAL, "%s.port: required", field);
  if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
    return berth_error_set(err, BERTH_EINVAL, "%s.port: must be an integer from 1 to 65535", field);
  *out = (int)json_integer_value(v);
  return 0;
}

/* NetworkInfo.Protocol: IPv4 (default) or IPv6. */
static int get_protocol(json_t *obj, const char *field, bool *ipv6, berth_error *err) {
  const char *proto;
  char name[64];
  snprintf(name, sizeof(name), "%s.protocol", field);
  if (berth_json_get_string(obj, "protocol", name, false, &proto, err) < 0) return err->code;
  if (!proto || !strcmp(proto, "IPv4")) return 0;
  if (!strcmp(proto, "IPv6")) {
    *ipv6 = true;
    return 0;
  }
  return berth_error_set(err, BERTH_EINVAL, "%s: '%.40s' is not IPv4 or IPv6", name, proto);
}

static void push(char ***list, size_t *n, char *s) {
  *list = berth_realloc(*list, (*n + 2) * sizeof(char *));
  (*list)[(*n)++] = s;
  (*list)[*n] = NULL;
}

/* Mesos's CommandInfo, as the task's command reads it: shell true (or
 * absent) runs value under /bin/sh -c; false runs [value] + arguments. */
static int parse_command(json_t *cmd, berth_health_spec *spec, berth_error *err) {
  const char *value, *user;
  json_t *args, *environment, *vars = NULL, *a;
  bool shell = true;
  size_t i;
  if (berth_json_get_bool(cmd, "shell", "health_check.command.shell", &shell, err) < 0 ||
      berth_json_get_string(cmd, "value", "health_check.command.value", true, &value, err) < 0 ||
      berth_json_get_string(cmd, "user", "health_check.command.user", false, &user, err) < 0 ||
      berth_json_get_array(cmd, "arguments", "health_check.command.arguments", &args, err) < 0 ||
      berth_json_get_object(cmd, "environment", "health_check.command.environment", &environment, err) < 0)
    return err->code;
  if (!*value) return berth_error_set(err, BERTH_EINVAL, "health_check.command.value: must not be empty");
  if (json_array_size(args) > BERTH_HEALTH_MAX_ARGS)
    return berth_error_set(err, BERTH_EINVAL, "health_check.command.arguments: more than %d entries",
                           BERTH_HEALTH_MAX_ARGS);
  if (shell) {
    push(&spec->argv, &spec->argc, berth_strdup("/bin/sh"));
    push(&spec->argv, &spec->argc, berth_strdup("-c"));
    push(&spec->argv, &spec->argc, berth_strdup(value));
  } else {
    push(&spec->argv, &spec->argc, berth_strdup(value));
    json_array_foreach(args, i, a) {
      if (!json_is_string(a) || strlen(json_string_value(a)) != json_string_length(a))
        return berth_error_set(err, BERTH_EINVAL, "health_check.command.arguments[%zu]: must be a string without NUL",
                               i);
      push(&spec->argv, &spec->argc, berth_strdup(json_string_value(a)));
    }
  }
  if (user) {
    if (!*user) return berth_error_set(err, BERTH_EINVAL, "health_check.command.user: must not be empty");
    spec->user = berth_strdup(user);
  }
  if (environment &&
      berth_json_get_array(environment, "variables", "health_check.command.environment.variables", &vars, err) < 0)
    return err->code;
  if (json_array_size(vars) > BERTH_HEALTH_MAX_ENV)
    return berth_error_set(err, BERTH_EINVAL, "health_check.command.environment.variables: more than %d entries",
                           BERTH_HEALTH_MAX_ENV);
  json_array_foreach(vars, i, a) {
    const char *name, *val;
    if (!json_is_object(a))
      return berth_error_set(err, BERTH_EINVAL, "health_check.command.environment.variables[%zu]: must be an object",
                             i);
    if (berth_json_get_string(a, "name", "health_check.command.environment.variables[].name", true, &name, err) < 0 ||
        berth_json_get_string(a, "value", "health_check.command.environment.variables[].value", false, &val, err) < 0)
      return err->code;
    if (!*name || strchr(name, '='))
      return berth_error_set(err, BERTH_EINVAL,
                             "health_check.command.environment.variables[%zu].name: '%.80s' is not a valid name", i,
                             name);
    push(&spec->env, &spec->n_env, berth_asprintf("%s=%s", name, val ? val : ""));
  }
  return 0;
}

/* The path goes into a request line as it is: printable ASCII without
 * spaces, so nothing can end the line or add a header. */
static int parse_http(json_t *http, berth_health_spec *spec, berth_error *err) {
  const char *path, *scheme;
  json_t *statuses, *s;
  size_t i;
  if (get_port(http, "health_check.http", &spec->port, err) < 0 ||
      get_protocol(http, "health_check.http", &spec->ipv6, err) < 0 ||
      berth_json_get_string(http, "path", "health_check.http.path", false, &path, err) < 0 ||
      berth_json_get_string(http, "scheme", "health_check.http.scheme", false, &scheme, err) < 0 ||
      berth_json_get_array(http, "statuses", "health_check.http.statuses", &statuses, err) < 0)
    return err->code;
  if (scheme && strcmp(scheme, "http"))
    return berth_error_set(err, BERTH_EINVAL, "health_check.http.scheme: '%.40s' is not supported (only http)", scheme);
  if (!path) path = "/";
  if (path[0] != '/') return berth_error_set(err, BERTH_EINVAL, "health_check.http.path: must start with '/'");
  if (strlen(path) > BERTH_HEALTH_MAX_PATH)
    return berth_error_set(err, BERTH_EINVAL, "health_check.http.path: longer than %d bytes", BERTH_HEALTH_MAX_PATH);
  for (const char *p = path; *p; p++)
    if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
      return berth_error_set(err, BERTH_EINVAL,
                             "health_check.http.path: byte %zu is not printable ASCII (percent-encode it)",
                             (size_t)(p - path));
  spec->path = berth_strdup(path);
  if (json_array_size(statuses) > BERTH_HEALTH_MAX_STATUSES)
    return berth_error_set(err, BERTH_EINVAL, "health_check.http.statuses: more than %d entries",
                           BERTH_HEALTH_MAX_STATUSES);
  json_array_foreach(statuses, i, s) {
    if (!json_is_integer(s) || json_integer_value(s) < 100 || json_integer_value(s) > 599)
      return berth_error_set(err, BERTH_EINVAL, "health_check.http.statuses[%zu]: must be an integer from 100 to 599",
                             i);
    spec->statuses[spec->n_statuses++] = (int)json_integer_value(s);
  }
  return 0;
}

static const char *const sub_keys[] = {NULL, "command", "http", "tcp"};

static int parse(json_t *hc, berth_health_spec *spec, berth_error *err) {
  const char *type;
  if (!json_is_object(hc)) return berth_error_set(err, BERTH_EINVAL, "health_check: must be an object");
  if (berth_json_get_string(hc, "type", "health_check.type", true, &type, err) < 0) return err->code;
  if (!strcmp(type, "COMMAND"))
    spec->type = BERTH_HEALTH_COMMAND;
  else if (!strcmp(type, "HTTP"))
    spec->type = BERTH_HEALTH_HTTP;
  else if (!strcmp(type, "TCP"))
    spec->type = BERTH_HEALTH_TCP;
  else
    return berth_error_set(err, BERTH_EINVAL, "health_check.type: '%.40s' is not COMMAND, HTTP or TCP", type);
  /* The object of another type is a mistake worth naming, not a choice. */
  for (int t = BERTH_HEALTH_COMMAND; t <= BERTH_HEALTH_TCP; t++) {
    json_t *sub = json_object_get(hc, sub_keys[t]);
    if (t == (int)spec->type) {
      if (!sub || json_is_null(sub))
        return berth_error_set(err, BERTH_EINVAL, "health_check.%s: required when type is %s", sub_keys[t], type);
      if (!json_is_object(sub))
        return berth_error_set(err, BERTH_EINVAL, "health_check.%s: must be an object", sub_keys[t]);
    } else if (sub && !json_is_null(sub)) {
      return berth_error_set(err, BERTH_EINVAL, "health_check.%s: not allowed when type is %s", sub_keys[t], type);
    }
  }
  json_t *sub = json_object_get(hc, sub_keys[spec->type]);
  int rc = spec->type == BERTH_HEALTH_COMMAND ? parse_command(sub, spec, err)
           : spec->type == BERTH_HEALTH_HTTP  ? parse_http(sub, spec, err)
                                              : get_port(sub, "health_check.tcp", &spec->port, err);
  if (rc < 0) return rc;
  if (spec->type == BERTH_HEALTH_TCP && get_protocol(sub, "health_check.tcp", &spec->ipv6, err) < 0) return err->code;
  spec->delay = BERTH_HEALTH_DEFAULT_DELAY;
  spec->interval = BERTH_HEALTH_DEFAULT_INTERVAL;
  spec->timeout = BERTH_HEALTH_DEFAULT_TIMEOUT;
  spec->grace = BERTH_HEALTH_DEFAULT_GRACE;
  spec->consecutive_failures = BERTH_HEALTH_DEFAULT_FAILURES;
  if (get_seconds(hc, "delay_seconds", 0, BERTH_HEALTH_MAX_SECS, &spec->delay, err) < 0 ||
      get_seconds(hc, "interval_seconds", BERTH_HEALTH_MIN_SECS, BERTH_HEALTH_MAX_SECS, &spec->interval, err) < 0 ||
      get_seconds(hc, "timeout_seconds", BERTH_HEALTH_MIN_SECS, BERTH_HEALTH_MAX_SECS, &spec->timeout, err) < 0 ||
      get_seconds(hc, "grace_period_seconds", 0, BERTH_HEALTH_MAX_SECS, &spec->grace, err) < 0)
    return err->code;
  json_t *n = json_object_get(hc, "consecutive_failures");
  if (n && !json_is_null(n)) {
    if (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > BERTH_HEALTH_MAX_FAILURES)
      return berth_error_set(err, BERTH_EINVAL, "health_check.consecutive_failures: must be an integer from 1 to %d",
                             BERTH_HEALTH_MAX_FAILURES);
    spec->consecutive_failures = (int)json_integer_value(n);
  }
  return 0;
}

int berth_health_spec_parse(json_t *launch, berth_health_spec *out, berth_error *err) {
  memset(out, 0, sizeof(*out));
  json_t *hc = json_object_get(launch, "health_check");
  if (!hc || json_is_null(hc)) return 0;
  if (parse(hc, out, err) < 0) {
    berth_health_spec_free(out);
    return err->code;
  }
  return 0;
}

bool berth_health_status_ok(const berth_health_spec *spec, int status) {
  if (spec->n_statuses == 0) return status >= 200 && status <= 399;
  for (size_t i = 0; i < spec->n_statuses; i++)
    if (spec->statuses[i] == status) return true;
  return false;
}

void berth_health_spec_free(berth_health_spec *spec) {
  for (size_t i = 0; i < spec->argc; i++) free(spec->argv[i]);
  free(spec->argv);
  for (size_t i = 0; i < spec->n_env; i++) free(spec->env[i]);
  free(spec->env);
  free(spec->user);
  free(spec->path);
  memset(spec, 0, sizeof(*spec));
}
