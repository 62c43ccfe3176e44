#include <string.h>

#include "api/api.h"
#include "api/exec.h"
#include "containerizer/spec.h"
#include "util/alloc.h"

static void respond_code(berth_http_request *req, int rc, const berth_error *err) {
  berth_http_respond_error(req, berth_code_http_status(rc), err->msg);
}

static void launch_done_cb(int rc, const berth_error *err, void *data) {
  berth_http_request *req = data;
  if (rc == 0) berth_http_respond_json(req, 200, json_object());
  /* Launch failures are 500, whatever the cause, except a host path refused
   * once it was opened (a symlink in it): that is the caller's 400. */
  else
    berth_http_respond_error(req, rc == BERTH_EINVAL ? 400 : 500, err->msg);
}

static void wait_done_cb(json_t *termination, void *data) {
  berth_http_respond_json(data, 200, json_pack("{s:s,s:O}", "type", "WAIT_CONTAINER", "wait_container", termination));
}

static void done_cb(int rc, const berth_error *err, void *data) {
  if (rc == 0)
    berth_http_respond_json(data, 200, json_object());
  else
    respond_code(data, rc, err);
}

/* The call's own object ("launch_container" for LAUNCH_CONTAINER). */
static json_t *call_object(json_t *body, const char *type, berth_error *err) {
  char key[64];
  size_t n = strlen(type);
  if (n >= sizeof(key)) n = sizeof(key) - 1;
  for (size_t i = 0; i < n; i++) key[i] = (char)(type[i] >= 'A' && type[i] <= 'Z' ? type[i] + 32 : type[i]);
  key[n] = '\0';
  json_t *obj = json_object_get(body, key);
  if (!json_is_object(obj)) berth_error_set(err, BERTH_EINVAL, "%s: required object for %s", key, type);
  return json_is_object(obj) ? obj : NULL;
}

static int call_container_id(json_t *obj, char id[BERTH_ID_MAX + 1], berth_error *err) {
  return berth_spec_container_id(obj, id, err);
}

static int kill_signal(json_t *obj, int *sig, berth_error *err) {
  json_t *s = json_object_get(obj, "signal");
  *sig = 0;
  if (!s || json_is_null(s)) return 0;
  if (!json_is_integer(s) || json_integer_value(s) < 1 || json_integer_value(s) > 64)
    return berth_error_set(err, BERTH_EINVAL, "kill_container.signal: must be an integer signal number 1..64");
  *sig = (int)json_integer_value(s);
  return 0;
}

/* WAIT_CONTAINER; "kill_on_disconnect": true (a berth extension) binds the
 * container to this request: its client going away destroys it. */
static int wait_call(berth_api *api, json_t *obj, berth_http_request *req, berth_error *err) {
  char id[BERTH_ID_MAX + 1];
  int rc = call_container_id(obj, id, err);
  if (rc < 0) return rc;
  json_t *kod = json_object_get(obj, "kill_on_disconnect");
  if (kod && !json_is_boolean(kod) && !json_is_null(kod))
    return berth_error_set(err, BERTH_EINVAL, "wait_container.kill_on_disconnect: must be a boolean");
  if ((rc = berth_cz_wait(api->cz, id, wait_done_cb, req, err)) < 0) return rc;
  if (json_is_true(kod)) berth_cz_bind_waiter(api->cz, id, req);
  return 0;
}

static void pruned_cb(int rc, json_t *result, const berth_error *err, void *data) {
  if (rc < 0) {
    respond_code(data, rc, err);
    return;
  }
  berth_http_respond_json(data, 200, json_incref(result));
}

/* PRUNE_IMAGES, shaped as Mesos's: {"excluded_images": [{"type":
 * "DOCKER", "docker": {"name": "..."}}]}; the object may be left out. */
static int prune_call(berth_api *api, json_t *body, berth_http_request *req, berth_error *err) {
  json_t *obj = json_object_get(body, "prune_images");
  if (obj && !json_is_object(obj) && !json_is_null(obj))
    return berth_error_set(err, BERTH_EINVAL, "prune_images: must be an object");
  json_t *list = json_object_get(obj, "excluded_images");
  if (list && !json_is_array(list) && !json_is_null(list))
    return berth_error_set(err, BERTH_EINVAL, "prune_images.excluded_images: must be an array");
  size_t n = json_array_size(list);
  if (n > 1024) return berth_error_set(err, BERTH_EINVAL, "prune_images.excluded_images: more than 1024 images");
  cleanup_free const char **names = berth_calloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) {
    json_t *image = json_array_get(list, i);
    if (!json_is_object(image))
      return berth_error_set(err, BERTH_EINVAL, "prune_images.excluded_images[%zu]: must be an object", i);
    json_t *type = json_object_get(image, "type");
    if (type && !json_is_null(type) && (!json_is_string(type) || strcmp(json_string_value(type), "DOCKER")))
      return berth_error_set(err, BERTH_EINVAL, "prune_images.excluded_images[%zu].type: only DOCKER images exist here",
                             i);
    const char *name = json_string_value(json_object_get(json_object_get(image, "docker"), "name"));
    if (!name)
      return berth_error_set(err, BERTH_EINVAL, "prune_images.excluded_images[%zu].docker.name: required string", i);
    if (berth_image_ref_validate(name, err) < 0)
      return berth_error_set(err, BERTH_EINVAL,
                             "prune_images.excluded_images[%zu].docker.name: '%.80s' is not a valid image reference", i,
                             name);
    names[i] = name;
  }
  return berth_cz_prune_images(api->cz, names, pruned_cb, req, err);
}

void berth_api_call(berth_api *api, berth_http_request *req) {
  size_t len;
  const char *text = berth_http_body(req, &len);
  berth_error err = {0};
  json_error_t jerr;
  /* Deeply nested input is refused by the parser's own depth limit. */
  json_t *body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!json_is_object(body)) {
    char msg[300];
    snprintf(msg, sizeof(msg), "request body: %s", body ? "must be a JSON object" : jerr.text);
    json_decref(body);
    berth_http_respond_error(req, 400, msg);
    return;
  }
  const char *type = json_string_value(json_object_get(body, "type"));
  berth_http_set_tag(req, berth_api_call_tag(type));
  char id[BERTH_ID_MAX + 1];
  json_t *obj = NULL;
  int rc = 0, sig;
  if (!type) {
    rc = berth_error_set(&err, BERTH_EINVAL, "type: required string");
  } else if (!strcmp(type, "GET_CONTAINERS")) {
    json_t *list = berth_cz_containers(api->cz);
    berth_http_respond_json(req, 200, json_pack("{s:s,s:{s:o}}", "type", type, "get_containers", "containers", list));
  } else if (!strcmp(type, "SUBSCRIBE")) {
    /* Answered with a stream that stays open; never abandoned as a WAIT is
     * (the stream notices a client that leaves by itself). */
    if (api->subscribers)
      berth_subscribers_add(api->subscribers, req);
    else
      rc = berth_error_set(&err, BERTH_EUNAVAIL, "SUBSCRIBE is not served here");
  } else if (!(obj = call_object(body, type, &err)) &&
             (!strcmp(type, "LAUNCH_CONTAINER") || !strcmp(type, "WAIT_CONTAINER") || !strcmp(type, "KILL_CONTAINER") ||
              !strcmp(type, "REMOVE_CONTAINER") || !strcmp(type, "UPDATE_CONTAINER") || !strcmp(type, "EXEC") ||
              !strcmp(type, "ATTACH_CONTAINER_INPUT"))) {
    rc = err.code;
  } else if (!strcmp(type, "LAUNCH_CONTAINER")) {
    /* Not abandonable: a launch is never left halfway, so its client,
     * even one that half-closed, gets the launch's real answer. */
    rc = berth_cz_launch(api->cz, obj, launch_done_cb, req, &err);
    if (rc == BERTH_LAUNCH_DUPLICATE) {
      berth_http_respond_json(req, 202, json_object());
      rc = 0;
    }
  } else if (!strcmp(type, "WAIT_CONTAINER")) {
    /* A parked WAIT is only a waiter: forgetting it changes nothing (or,
     * with kill_on_disconnect, destroys its container). */
    berth_http_set_abandonable(req, true);
    rc = wait_call(api, obj, req, &err);
  } else if (!strcmp(type, "KILL_CONTAINER")) {
    if ((rc = call_container_id(obj, id, &err)) == 0 && (rc = kill_signal(obj, &sig, &err)) == 0) {
      rc = berth_cz_kill(api->cz, id, sig, done_cb, req, &err);
      if (rc == 0 && sig == 0) berth_http_respond_json(req, 200, json_object());
    }
  } else if (!strcmp(type, "REMOVE_CONTAINER")) {
    if ((rc = call_container_id(obj, id, &err)) == 0) rc = berth_cz_remove(api->cz, id, done_cb, req, &err);
  } else if (!strcmp(type, "EXEC")) {
    berth_api_exec(api, req, obj);
  } else if (!strcmp(type, "ATTACH_CONTAINER_INPUT")) {
    berth_api_attach_input(api, req, obj);
  } else if (!strcmp(type, "UPDATE_CONTAINER")) {
    rc = berth_cz_update(api->cz, obj, done_cb, req, &err);
  } else if (!strcmp(type, "PRUNE_IMAGES")) {
    /* Not abandonable, as LAUNCH: the removals go on, and a client that
     * only half-closed still gets what was removed. */
    rc = prune_call(api, body, req, &err);
  } else {
    rc = berth_error_set(&err, BERTH_EINVAL, "type: unknown call '%.64s'", type);
  }
  if (rc < 0) respond_code(req, rc, &err);
  json_decref(body);
}
