#include <stdlib.h>

#include "containerizer/container.h"

void berth_cz_metrics_pull(berth_containerizer *cz, double ms) {
  cz->metrics.pull_ms[cz->metrics.pulls % BERTH_PULL_SAMPLES] = ms;
  cz->metrics.pulls++;
}

void berth_cz_metrics_fetch(berth_containerizer *cz, int rc, const berth_fetch_stats *stats) {
  berth_cz_metrics_data *m = &cz->metrics;
  m->fetches++;
  if (rc < 0) m->fetch_failures++;
  m->fetch_uris += stats->uris;
  m->fetch_bytes += stats->bytes;
  m->fetch_downloaded_bytes += stats->downloaded;
  m->fetch_cache_hits += stats->cache_hits;
  m->fetch_ms_total += stats->ms;
  m->fetch_ms_last = stats->ms;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile over the retained samples. */
static double percentile(const double *sorted, size_t n, double p) {
  if (n == 0) return 0;
  size_t rank = (size_t)(p * (double)n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return sorted[rank - 1];
}

json_t *berth_cz_metrics(berth_containerizer *cz) {
  berth_cz_metrics_data *m = &cz->metrics;
  json_t *j = json_object();
  size_t by_stage[BERTH_STAGE_COUNT] = {0};
  for (container *c = cz->containers; c; c = c->next) by_stage[c->stage]++;
  for (int s = 0; s < BERTH_STAGE_COUNT; s++) {
    char key[96];
    snprintf(key, sizeof(key), "containerizer/docker/containers/%s", berth_stage_name((berth_stage)s));
    json_object_set_new(j, key, json_integer((json_int_t)by_stage[s]));
  }
  json_object_set_new(j, "containerizer/docker/containers", json_integer((json_int_t)cz->count));
  json_object_set_new(j, "containerizer/docker/launches", json_integer((json_int_t)m->launches));
  json_object_set_new(j, "containerizer/docker/launch_failures", json_integer((json_int_t)m->launch_failures));
  json_object_set_new(j, "containerizer/docker/destroys", json_integer((json_int_t)m->destroys));
  json_object_set_new(j, "containerizer/docker/ooms", json_integer((json_int_t)m->ooms));
  size_t n = m->pulls < BERTH_PULL_SAMPLES ? (size_t)m->pulls : BERTH_PULL_SAMPLES;
  double sorted[BERTH_PULL_SAMPLES];
  for (size_t i = 0; i < n; i++) sorted[i] = m->pull_ms[i];
  qsort(sorted, n, sizeof(double), cmp_double);
  double last = m->pulls ? m->pull_ms[(m->pulls - 1) % BERTH_PULL_SAMPLES] : 0;
  json_object_set_new(j, "containerizer/docker/image_pull_ms", json_real(last));
  json_object_set_new(j, "containerizer/docker/image_pull_ms/count", json_integer((json_int_t)m->pulls));
  json_object_set_new(j, "containerizer/docker/image_pull_ms/p50", json_real(percentile(sorted, n, 0.5)));
  json_object_set_new(j, "containerizer/docker/image_pull_ms/p99", json_real(percentile(sorted, n, 0.99)));
  json_object_set_new(j, "containerizer/fetcher/fetches", json_integer((json_int_t)m->fetches));
  json_object_set_new(j, "containerizer/fetcher/fetch_failures", json_integer((json_int_t)m->fetch_failures));
  json_object_set_new(j, "containerizer/fetcher/uris", json_integer((json_int_t)m->fetch_uris));
  json_object_set_new(j, "containerizer/fetcher/bytes", json_integer((json_int_t)m->fetch_bytes));
  json_object_set_new(j, "containerizer/fetcher/downloaded_bytes", json_integer((json_int_t)m->fetch_downloaded_bytes));
  json_object_set_new(j, "containerizer/fetcher/cache_hits", json_integer((json_int_t)m->fetch_cache_hits));
  json_object_set_new(j, "containerizer/fetcher/fetch_ms", json_real(m->fetch_ms_last));
  json_object_set_new(j, "containerizer/fetcher/fetch_ms/total", json_real(m->fetch_ms_total));
  return j;
}
