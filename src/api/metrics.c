#include "api/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "containerizer/metrics.h"
#include "util/alloc.h"

static const char *const paths[] = {"/api/v1",       "/health",           "/version", "/flags",
                                    "/containers",   "/metrics/snapshot", "/metrics", "/files/read",
                                    "/files/browse", "/images",           "/logs"};

static const char *const calls[] = {"LAUNCH_CONTAINER",
                                    "WAIT_CONTAINER",
                                    "KILL_CONTAINER",
                                    "REMOVE_CONTAINER",
                                    "UPDATE_CONTAINER",
                                    "GET_CONTAINERS",
                                    "SUBSCRIBE",
                                    "PRUNE_IMAGES",
                                    "EXEC",
                                    "ATTACH_CONTAINER_INPUT"};

const char *berth_api_path_tag(const char *path) {
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
    if (!strcmp(path, paths[i])) return paths[i];
  return "other";
}

const char *berth_api_call_tag(const char *type) {
  for (size_t i = 0; type && i < sizeof(calls) / sizeof(calls[0]); i++)
    if (!strcmp(type, calls[i])) return calls[i];
  return "UNKNOWN";
}

void berth_api_metrics_respond_cb(berth_http_request *req, int status, void *data) {
  berth_api_metrics *m = &((berth_api *)data)->metrics;
  const char *call = berth_http_tag(req);
  if (!call) call = "other";
  for (size_t i = 0; i < m->n; i++) {
    if (m->kinds[i].status == status && !strcmp(m->kinds[i].call, call)) {
      m->kinds[i].count++;
      return;
    }
  }
  size_t i = m->n < BERTH_API_COUNT_KINDS ? m->n++ : BERTH_API_COUNT_KINDS - 1;
  if (i == BERTH_API_COUNT_KINDS - 1) call = "other"; /* the last slot gathers the rest */
  m->kinds[i].call = call;
  m->kinds[i].status = status;
  m->kinds[i].count++;
}

/* The API's samples, in the containerizer's form, after its own. */
static void visit_api(berth_api *api, berth_metric_cb cb, void *data) {
  berth_metric up = {.family = "berth_docker_up",
                     .type = BERTH_METRIC_GAUGE,
                     .help = "1 when dockerd answered berthd's last probe, else 0.",
                     .suffix = "",
                     .snapshot_key = "berthd/docker_up",
                     .value = api->docker_ok ? 1 : 0};
  cb(&up, data);
  berth_metric subs = {.family = "berth_subscribers",
                       .type = BERTH_METRIC_GAUGE,
                       .help = "SUBSCRIBE event streams open now.",
                       .suffix = "",
                       .snapshot_key = "berthd/subscribers",
                       .value = (double)berth_subscribers_count(api->subscribers)};
  cb(&subs, data);
  berth_metric dropped = {.family = "berth_subscribers_dropped_total",
                          .type = BERTH_METRIC_COUNTER,
                          .help = "SUBSCRIBE streams closed by berthd because their reader fell a whole queue behind.",
                          .suffix = "",
                          .snapshot_key = "berthd/subscribers_dropped",
                          .value = (double)berth_subscribers_dropped(api->subscribers)};
  cb(&dropped, data);
  for (size_t i = 0; i < api->metrics.n; i++) {
    char status[16], key[128];
    snprintf(status, sizeof(status), "%d", api->metrics.kinds[i].status);
    const char *call = api->metrics.kinds[i].call;
    snprintf(key, sizeof(key), "berthd/requests/%s/%s", call + (call[0] == '/'), status); /* no "//" */
    berth_metric r = {.family = "berth_api_requests_total",
                      .type = BERTH_METRIC_COUNTER,
                      .help = "Requests answered, by call (or GET endpoint) and HTTP status.",
                      .suffix = "",
                      .label_names = {"call", "status"},
                      .label_values = {api->metrics.kinds[i].call, status},
                      .snapshot_key = key,
                      .value = (double)api->metrics.kinds[i].count};
    cb(&r, data);
  }
}

static void visit_all(berth_api *api, berth_metric_cb cb, void *data) {
  berth_cz_metrics_visit(api->cz, cb, data);
  visit_api(api, cb, data);
}

static void snapshot_cb(const berth_metric *m, void *data) {
  if (m->snapshot_key) json_object_set_new(data, m->snapshot_key, json_real(m->value));
}

void berth_api_metrics_snapshot(berth_api *api, berth_http_request *req) {
  json_t *j = json_object();
  visit_all(api, snapshot_cb, j);
  berth_http_respond_json(req, 200, j);
}

typedef struct text {
  char *buf;
  size_t len, cap;
  const char *family; /* the last family described */
} text;

static void put(text *t, const char *s, size_t n) {
  while (t->len + n + 1 > t->cap) t->buf = berth_realloc(t->buf, t->cap = t->cap ? t->cap * 2 : 4096);
  memcpy(t->buf + t->len, s, n);
  t->len += n;
  t->buf[t->len] = '\0';
}

static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

/* The exposition format escapes \ and newline in HELP, and also " in
 * label values. */
static void put_escaped(text *t, const char *s, bool quote) {
  for (; *s; s++) {
    if (*s == '\\')
      puts_(t, "\\\\");
    else if (*s == '\n')
      puts_(t, "\\n");
    else if (quote && *s == '"')
      puts_(t, "\\\"");
    else
      put(t, s, 1);
  }
}

static const char *type_name(berth_metric_type type) {
  return type == BERTH_METRIC_COUNTER ? "counter" : type == BERTH_METRIC_HISTOGRAM ? "histogram" : "gauge";
}

static void prometheus_cb(const berth_metric *m, void *data) {
  text *t = data;
  if (!m->family) return;
  if (!t->family || strcmp(t->family, m->family) != 0) {
    t->family = m->family;
    puts_(t, "# HELP ");
    puts_(t, m->family);
    puts_(t, " ");
    put_escaped(t, m->help ? m->help : "", false);
    puts_(t, "\n# TYPE ");
    puts_(t, m->family);
    puts_(t, " ");
    puts_(t, type_name(m->type));
    puts_(t, "\n");
  }
  puts_(t, m->family);
  puts_(t, m->suffix ? m->suffix : "");
  for (int i = 0; i < BERTH_METRIC_MAX_LABELS && m->label_names[i]; i++) {
    puts_(t, i == 0 ? "{" : ",");
    puts_(t, m->label_names[i]);
    puts_(t, "=\"");
    put_escaped(t, m->label_values[i] ? m->label_values[i] : "", true);
    puts_(t, "\"");
    if (i + 1 == BERTH_METRIC_MAX_LABELS || !m->label_names[i + 1]) puts_(t, "}");
  }
  char value[40];
  snprintf(value, sizeof(value), " %.17g\n", m->value);
  puts_(t, value);
}

void berth_api_metrics_prometheus(berth_api *api, berth_http_request *req) {
  text t = {0};
  visit_all(api, prometheus_cb, &t);
  berth_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", t.buf ? t.buf : "", t.len);
  free(t.buf);
}
