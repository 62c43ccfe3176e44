#include "api/api.h"

#include "api/exec.h"

#include <string.h>

#include "util/alloc.h"

void berth_api_set_ready(berth_api *api) {
  api->ready = true;
  /* Each goes to its handler, which decides anew whether it may be
   * abandoned: a REMOVE still marked would be answered twice. */
  for (size_t i = 0; i < api->n_deferred; i++) {
    berth_http_set_abandonable(api->deferred[i], false);
    berth_api_handle(api->deferred[i], api);
  }
  free(api->deferred);
  api->deferred = NULL;
  api->n_deferred = 0;
}

void berth_api_abandon(berth_http_request *req, void *data) {
  berth_api *api = data;
  berth_cz_forget(api->cz, req);
  berth_api_sessions_forget(api, req);
  for (size_t i = 0; i < api->n_deferred; i++)
    if (api->deferred[i] == req) api->deferred[i] = api->deferred[--api->n_deferred];
}

void berth_api_handle(berth_http_request *req, void *data) {
  berth_api *api = data;
  if (!api->ready) {
    api->deferred = berth_realloc(api->deferred, (api->n_deferred + 1) * sizeof(*api->deferred));
    api->deferred[api->n_deferred++] = req;
    berth_http_set_abandonable(req, true);
    return;
  }
  const char *method = berth_http_method(req);
  const char *path = berth_http_path(req);
  berth_http_set_tag(req, berth_api_path_tag(path));
  bool get = !strcmp(method, "GET");
  if (!strcmp(path, "/api/v1")) {
    if (strcmp(method, "POST") != 0)
      berth_http_respond_error(req, 405, "/api/v1 takes POST");
    else
      berth_api_call(api, req);
  } else if (!get) {
    berth_http_respond_error(req, 405, "only GET is served here");
  } else if (!strcmp(path, "/health")) {
    if (api->docker_ok)
      berth_http_respond_json(req, 200, json_pack("{s:s}", "status", "ok"));
    else if (api->docker_error[0])
      berth_http_respond_error(req, 503, api->docker_error);
    else
      berth_http_respond_error(req, 503, "dockerd is not answering");
  } else if (!strcmp(path, "/version")) {
    berth_http_respond_json(req, 200,
                            json_pack("{s:s,s:s}", "version", BERTH_VERSION, "docker_api_version",
                                      api->docker_version ? api->docker_version : ""));
  } else if (!strcmp(path, "/flags")) {
    berth_http_respond_json(req, 200, json_pack("{s:O}", "flags", api->flags));
  } else if (!strcmp(path, "/containers")) {
    berth_http_respond_json(req, 200, berth_cz_containers(api->cz));
  } else if (!strcmp(path, "/metrics/snapshot")) {
    berth_api_metrics_snapshot(api, req);
  } else if (!strcmp(path, "/metrics")) {
    berth_api_metrics_prometheus(api, req);
  } else if (!strcmp(path, "/images")) {
    json_t *images = NULL;
    berth_error err;
    if (berth_cz_images(api->cz, &images, &err) < 0)
      berth_http_respond_error(req, 500, err.msg);
    else
      berth_http_respond_json(req, 200, json_pack("{s:o}", "images", images));
  } else if (!strcmp(path, "/files/read")) {
    berth_api_files_read(api, req);
  } else if (!strcmp(path, "/logs")) {
    berth_api_logs(api, req);
  } else if (!strcmp(path, "/files/browse")) {
    berth_api_files_browse(api, req);
  } else {
    berth_http_respond_error(req, 404, "no such endpoint");
  }
}
