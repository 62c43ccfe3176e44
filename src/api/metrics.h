/* GET /metrics (Prometheus text exposition, version 0.0.4) and
 * /metrics/snapshot (Mesos's flat JSON): the containerizer's numbers
 * (containerizer/metrics.h) plus the API's own, answers by call and
 * status.  Loop thread only. */
#ifndef BERTH_API_METRICS_H
#define BERTH_API_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "api/server.h"

/* Call tags are literals from a fixed list and statuses are HTTP codes, so
 * the pairs are few; past this many the rest count as call "other". */
#define BERTH_API_COUNT_KINDS 96

typedef struct berth_api_metrics {
  struct {
    const char *call;
    int status;
    uint64_t count;
  } kinds[BERTH_API_COUNT_KINDS];
  size_t n;
} berth_api_metrics;

struct berth_api;

/* The tag for a request to path (a literal: the endpoint, or "other"). */
const char *berth_api_path_tag(const char *path);
/* The tag for a call of this type ("LAUNCH_CONTAINER", ...; "UNKNOWN"
 * for a type the API does not serve, so a client cannot add labels). */
const char *berth_api_call_tag(const char *type);

/* The server's respond observer; data is a berth_api. */
void berth_api_metrics_respond_cb(berth_http_request *req, int status, void *data);

void berth_api_metrics_snapshot(struct berth_api *api, berth_http_request *req);
void berth_api_metrics_prometheus(struct berth_api *api, berth_http_request *req);

#endif
