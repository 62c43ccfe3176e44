#include "client/calls.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "client/ps.h"

/* ---- requests ---- */

/* jansson refuses strings that are not UTF-8; arguments come straight
 * from argv, so remember the first bad one to name it in the error. */
static json_t *str(const char *s, const char **bad) {
  json_t *j = json_string(s);
  if (j) return j;
  if (!*bad) *bad = s;
  return json_null();
}

static json_t *id_json(const char *container_id, const char **bad) {
  json_t *id = json_object();
  json_object_set_new(id, "value", str(container_id, bad));
  return id;
}

static json_t *call(const char *type, const char *key, json_t *body) {
  json_t *req = json_object();
  json_object_set_new(req, "type", json_string(type));
  if (body) json_object_set_new(req, key, body);
  return req;
}

static json_t *environment_json(const berth_run_opts *o, const char **bad) {
  json_t *vars = json_array();
  for (size_t i = 0; i < o->n_env; i++) {
    json_t *var = json_object();
    json_object_set_new(var, "name", str(o->env[i].name, bad));
    json_object_set_new(var, "value", str(o->env[i].value, bad));
    json_array_append_new(vars, var);
  }
  json_t *env = json_object();
  json_object_set_new(env, "variables", vars);
  return env;
}

/* shell false keeps the image's entrypoint (API.md §3): `berth run IMAGE
 * ls -l` behaves as `docker run IMAGE ls -l`.  Without CMD, value is left
 * out so the image's own cmd runs. */
static json_t *command_json(const berth_run_opts *o, const char **bad) {
  json_t *cmd = json_object();
  json_object_set_new(cmd, "shell", json_false());
  if (o->n_cmd > 0) {
    json_object_set_new(cmd, "value", str(o->cmd[0], bad));
    json_t *args = json_array();
    for (size_t i = 1; i < o->n_cmd; i++) json_array_append_new(args, str(o->cmd[i], bad));
    json_object_set_new(cmd, "arguments", args);
  }
  if (o->n_env > 0) json_object_set_new(cmd, "environment", environment_json(o, bad));
  return cmd;
}

static json_t *scalar(const char *name, double value) {
  return json_pack("{s:s, s:s, s:{s:f}}", "name", name, "type", "SCALAR", "scalar", "value", value);
}

static json_t *resources_json(const berth_run_opts *o) {
  json_t *res = json_array();
  if (o->has_cpus) json_array_append_new(res, scalar("cpus", o->cpus));
  if (o->has_mem) json_array_append_new(res, scalar("mem", o->mem_mb));
  return res;
}

static json_t *volumes_json(const berth_run_opts *o, const char **bad) {
  json_t *vols = json_array();
  for (size_t i = 0; i < o->n_volumes; i++) {
    json_t *v = json_object();
    json_object_set_new(v, "container_path", str(o->volumes[i].container_path, bad));
    json_object_set_new(v, "host_path", str(o->volumes[i].host_path, bad));
    json_object_set_new(v, "mode", json_string(o->volumes[i].read_only ? "RO" : "RW"));
    json_array_append_new(vols, v);
  }
  return vols;
}

static json_t *ports_json(const berth_run_opts *o) {
  json_t *ports = json_array();
  for (size_t i = 0; i < o->n_ports; i++) {
    json_t *p = json_pack("{s:i, s:i, s:s}", "host_port", o->ports[i].host_port, "container_port",
                          o->ports[i].container_port, "protocol", o->ports[i].protocol);
    if (o->ports[i].host_ip[0]) json_object_set_new(p, "host_ip", json_string(o->ports[i].host_ip));
    json_array_append_new(ports, p);
  }
  return ports;
}

static json_t *container_json(const berth_run_opts *o, const char **bad) {
  json_t *docker = json_object();
  json_object_set_new(docker, "image", str(o->image, bad));
  if (o->network) json_object_set_new(docker, "network", json_string(o->network));
  if (o->n_ports > 0) json_object_set_new(docker, "port_mappings", ports_json(o));
  json_object_set_new(docker, "privileged", json_boolean(o->privileged));
  if (o->interactive) json_object_set_new(docker, "stdin", json_true());
  json_object_set_new(docker, "force_pull_image", json_boolean(o->force_pull));
  if (o->label)
    json_object_set_new(docker, "parameters", json_pack("[{s:s,s:o}]", "key", "label", "value", str(o->label, bad)));
  json_t *container = json_object();
  json_object_set_new(container, "type", json_string("DOCKER"));
  if (o->n_volumes > 0) json_object_set_new(container, "volumes", volumes_json(o, bad));
  json_object_set_new(container, "docker", docker);
  return container;
}

static json_t *limit_json(double value);

json_t *berth_request_launch(const berth_run_opts *o, const char *container_id) {
  const char *bad = NULL;
  json_t *launch = json_object();
  json_object_set_new(launch, "container_id", id_json(container_id, &bad));
  json_object_set_new(launch, "command", command_json(o, &bad));
  if (o->has_cpus || o->has_mem) json_object_set_new(launch, "resources", resources_json(o));
  if (o->has_cpus_limit || o->has_mem_limit) {
    json_t *limits = json_object();
    if (o->has_cpus_limit) json_object_set_new(limits, "cpus", limit_json(o->cpus_limit));
    if (o->has_mem_limit) json_object_set_new(limits, "mem", limit_json(o->mem_limit_mb));
    json_object_set_new(launch, "limits", limits);
  }
  json_object_set_new(launch, "container", container_json(o, &bad));
  if (o->has_grace)
    json_object_set_new(launch, "kill_policy",
                        json_pack("{s:{s:I}}", "grace_period", "nanoseconds", (json_int_t)o->grace_ns));
  if (bad) {
    json_decref(launch);
    return NULL;
  }
  return call("LAUNCH_CONTAINER", "launch_container", launch);
}

static json_t *container_call(const char *type, const char *key, const char *container_id, int signo) {
  const char *bad = NULL;
  json_t *body = json_object();
  json_object_set_new(body, "container_id", id_json(container_id, &bad));
  if (signo > 0) json_object_set_new(body, "signal", json_integer(signo));
  if (bad) {
    json_decref(body);
    return NULL;
  }
  return call(type, key, body);
}

json_t *berth_request_wait(const char *container_id) {
  return container_call("WAIT_CONTAINER", "wait_container", container_id, 0);
}

json_t *berth_request_wait_bound(const char *container_id) {
  json_t *request = berth_request_wait(container_id);
  if (request) json_object_set_new(json_object_get(request, "wait_container"), "kill_on_disconnect", json_true());
  return request;
}

json_t *berth_request_kill(const char *container_id, int signo) {
  return container_call("KILL_CONTAINER", "kill_container", container_id, signo);
}

json_t *berth_request_remove(const char *container_id) {
  return container_call("REMOVE_CONTAINER", "remove_container", container_id, 0);
}

json_t *berth_request_get_containers(void) { return call("GET_CONTAINERS", NULL, NULL); }

/* Mesos's limits are {"value": N}, and "inf" where a number cannot say
 * unlimited (JSON has no infinity). */
static json_t *limit_json(double value) {
  return json_pack("{s:o}", "value", isinf(value) ? json_string("inf") : json_real(value));
}

json_t *berth_request_update(const char *container_id, const berth_update_opts *o) {
  const char *bad = NULL;
  json_t *update = json_object();
  json_object_set_new(update, "container_id", id_json(container_id, &bad));
  if (o->has_cpus || o->has_mem) {
    json_t *res = json_array();
    if (o->has_cpus) json_array_append_new(res, scalar("cpus", o->cpus));
    if (o->has_mem) json_array_append_new(res, scalar("mem", o->mem_mb));
    json_object_set_new(update, "resources", res);
  }
  if (o->has_cpus_limit || o->has_mem_limit) {
    json_t *limits = json_object();
    if (o->has_cpus_limit) json_object_set_new(limits, "cpus", limit_json(o->cpus_limit));
    if (o->has_mem_limit) json_object_set_new(limits, "mem", limit_json(o->mem_limit_mb));
    json_object_set_new(update, "limits", limits);
  }
  if (bad) {
    json_decref(update);
    return NULL;
  }
  return call("UPDATE_CONTAINER", "update_container", update);
}

/* ---- replies ---- */

int berth_reply_containers(json_t *reply, json_t **containers, berth_error *err) {
  json_t *body = json_object_get(reply, "get_containers");
  json_t *list = json_object_get(body, "containers");
  if (json_is_array(list)) {
    *containers = json_incref(list);
    return 0;
  }
  /* An empty list may be left out, as protobuf's JSON mapping does. */
  if (json_is_object(body) && !list) {
    *containers = json_array();
    return 0;
  }
  return berth_error_set(err, BERTH_EIO, "unexpected reply from berthd: no get_containers.containers array");
}

json_t *berth_containers_find(json_t *containers, const char *container_id) {
  size_t i;
  json_t *c;
  json_array_foreach(containers, i, c) {
    const char *id = json_string_value(json_object_get(json_object_get(c, "container_id"), "value"));
    if (id && strcmp(id, container_id) == 0) return c;
  }
  return NULL;
}

const char *berth_container_stage(json_t *container) {
  const char *stage = json_string_value(json_object_get(container, "stage"));
  return stage ? stage : "";
}

void berth_container_status(json_t *container, char *buf, size_t len) {
  const char *stage = berth_container_stage(container);
  if (strcmp(stage, "TERMINATED") == 0) {
    json_t *t = json_object_get(container, "termination");
    const char *state = json_string_value(json_object_get(t, "state"));
    json_t *code = json_object_get(t, "exit_code");
    char reason[64];
    berth_reason_short(json_string_value(json_object_get(t, "reason")), reason, sizeof(reason));
    if (!state) state = "terminated";
    /* "TASK_FAILED (137, out of memory)": the code and why, when known. */
    if (json_is_integer(code) && reason[0])
      snprintf(buf, len, "%s (%lld, %s)", state, (long long)json_integer_value(code), reason);
    else if (json_is_integer(code))
      snprintf(buf, len, "%s (%lld)", state, (long long)json_integer_value(code));
    else if (reason[0])
      snprintf(buf, len, "%s (%s)", state, reason);
    else
      snprintf(buf, len, "%s", state);
    return;
  }
  json_t *pull = json_object_get(container, "pull");
  if (strcmp(stage, "PULLING") == 0 && json_is_object(pull)) {
    /* Pull progress (API.md §3): layers, then megabytes when known. */
    json_int_t ld = json_integer_value(json_object_get(pull, "layers_done"));
    json_int_t lt = json_integer_value(json_object_get(pull, "layers_total"));
    json_int_t bd = json_integer_value(json_object_get(pull, "bytes_done"));
    json_int_t bt = json_integer_value(json_object_get(pull, "bytes_total"));
    if (bt > 0)
      snprintf(buf, len, "pulling %lld/%lld layers %.1f/%.1f MB", (long long)ld, (long long)lt, (double)bd / 1e6,
               (double)bt / 1e6);
    else
      snprintf(buf, len, "pulling %lld/%lld layers", (long long)ld, (long long)lt);
    return;
  }
  size_t i = 0;
  for (; stage[i] && i + 1 < len; i++) buf[i] = (char)tolower((unsigned char)stage[i]);
  if (len > 0) buf[i] = '\0';
  if (i == 0) snprintf(buf, len, "unknown");
  /* A health check's verdict, as docker ps shows it: "running (healthy)".
   * Only the three names berthd sends; anything else is left out. */
  const char *health = json_string_value(json_object_get(json_object_get(container, "health"), "status"));
  const char *word = !health                            ? NULL
                     : strcmp(health, "HEALTHY") == 0   ? "healthy"
                     : strcmp(health, "UNHEALTHY") == 0 ? "unhealthy"
                     : strcmp(health, "STARTING") == 0  ? "health: starting"
                                                        : NULL;
  if (word && strcmp(stage, "RUNNING") == 0 && i > 0 && i + 1 < len) snprintf(buf + i, len - i, " (%s)", word);
}

int berth_wait_exit_code(json_t *wait, int *code, berth_error *err) {
  json_t *exit_code = json_object_get(wait, "exit_code");
  if (json_is_integer(exit_code)) {
    *code = (int)json_integer_value(exit_code);
    return 0;
  }
  json_t *status = json_object_get(wait, "exit_status");
  if (json_is_integer(status)) {
    int s = (int)json_integer_value(status);
    if (WIFSIGNALED(s)) {
      *code = 128 + WTERMSIG(s);
      return 0;
    }
    if (WIFEXITED(s)) {
      *code = WEXITSTATUS(s);
      return 0;
    }
  }
  const char *state = json_string_value(json_object_get(wait, "state"));
  if (state && strcmp(state, "TASK_KILLED") == 0) {
    *code = 137; /* 128 + SIGKILL, what docker reports for a killed container */
    return 0;
  }
  const char *message = json_string_value(json_object_get(wait, "message"));
  if (message && *message) return berth_error_set(err, BERTH_EINTERNAL, "%s", message);
  return berth_error_set(err, BERTH_EINTERNAL, "container ended (%s) without an exit code", state ? state : "no state");
}

/* ---- sending ---- */

static int bad_request(json_t *request, berth_error *err) {
  return request ? 0 : berth_error_set(err, BERTH_EINVAL, "container id is not valid UTF-8");
}

int berth_call_get_containers(berth_client *client, json_t **containers, berth_error *err) {
  cleanup_json json_t *request = berth_request_get_containers();
  cleanup_json json_t *reply = NULL;
  int ret = berth_client_call(client, request, BERTH_CALL_TIMEOUT_MS, NULL, &reply, err);
  if (ret < 0) return ret;
  return berth_reply_containers(reply, containers, err);
}

int berth_call_list_containers(berth_client *client, json_t **containers, berth_error *err) {
  cleanup_json json_t *reply = NULL;
  int ret = berth_client_get_json(client, "/containers", BERTH_CALL_TIMEOUT_MS, &reply, err);
  if (ret < 0) return ret;
  if (!json_is_array(reply))
    return berth_error_set(err, BERTH_EIO, "unexpected reply from berthd: /containers is not an array");
  *containers = json_incref(reply);
  return 0;
}

static int call_wait(berth_client *client, json_t *request, json_t **wait, berth_error *err) {
  int ret = bad_request(request, err);
  if (ret < 0) return ret;
  cleanup_json json_t *reply = NULL;
  ret = berth_client_call(client, request, BERTH_NO_TIMEOUT, NULL, &reply, err);
  if (ret < 0) return ret;
  json_t *body = json_object_get(reply, "wait_container");
  if (!json_is_object(body))
    return berth_error_set(err, BERTH_EINTERNAL, "unexpected reply from berthd: no wait_container");
  *wait = json_incref(body);
  return 0;
}

int berth_call_wait(berth_client *client, const char *container_id, json_t **wait, berth_error *err) {
  cleanup_json json_t *request = berth_request_wait(container_id);
  return call_wait(client, request, wait, err);
}

int berth_call_wait_bound(berth_client *client, const char *container_id, json_t **wait, berth_error *err) {
  cleanup_json json_t *request = berth_request_wait_bound(container_id);
  return call_wait(client, request, wait, err);
}

int berth_call_simple(berth_client *client, json_t *request, berth_error *err) {
  int ret = bad_request(request, err);
  if (ret < 0) return ret;
  cleanup_json json_t *reply = NULL;
  return berth_client_call(client, request, BERTH_CALL_TIMEOUT_MS, NULL, &reply, err);
}

int berth_call_version(berth_client *client, json_t **version, berth_error *err) {
  return berth_client_get_json(client, "/version", BERTH_CALL_TIMEOUT_MS, version, err);
}
