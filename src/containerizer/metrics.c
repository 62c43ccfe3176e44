#include "containerizer/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "containerizer/container.h"

/* Docker pulls of a local registry take tens of ms, a large image from
 * afar minutes: buckets spread from 100 ms to 5 min. */
const double berth_pull_bucket_bounds[BERTH_PULL_BUCKETS] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};

void berth_cz_metrics_pull(berth_containerizer *cz, double ms) {
  berth_cz_metrics_data *m = &cz->metrics;
  m->pull_ms[m->pulls % BERTH_PULL_SAMPLES] = ms;
  m->pulls++;
  double secs = ms / 1000.0;
  m->pull_sum_secs += secs;
  size_t b = 0;
  while (b < BERTH_PULL_BUCKETS && secs > berth_pull_bucket_bounds[b]) b++;
  m->pull_buckets[b]++; /* b == BERTH_PULL_BUCKETS: only +Inf holds it */
}

/* state and reason are berth's own constants (termination.h), so the set
 * of label pairs is small; a table full of them counts the rest as
 * "other" rather than grow. */
void berth_cz_metrics_terminated(berth_containerizer *cz, const char *state, const char *reason) {
  berth_cz_metrics_data *m = &cz->metrics;
  if (!state) state = "";
  if (!reason) reason = "";
  if (!strcmp(reason, "REASON_CONTAINER_LIMITATION_MEMORY")) m->ooms++;
  for (size_t i = 0; i < m->n_ends; i++) {
    if (!strcmp(m->ends[i].state, state) && !strcmp(m->ends[i].reason, reason)) {
      m->ends[i].count++;
      return;
    }
  }
  size_t i = m->n_ends < BERTH_END_KINDS ? m->n_ends++ : BERTH_END_KINDS - 1;
  if (m->ends[i].count == 0 || i < BERTH_END_KINDS - 1) {
    snprintf(m->ends[i].state, sizeof(m->ends[i].state), "%s", i < BERTH_END_KINDS - 1 ? state : "other");
    snprintf(m->ends[i].reason, sizeof(m->ends[i].reason), "%s", i < BERTH_END_KINDS - 1 ? reason : "other");
  }
  m->ends[i].count++;
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

static void emit(berth_metric_cb cb, void *data, const char *family, berth_metric_type type, const char *help,
                 const char *snapshot_key, double value) {
  berth_metric m = {
      .family = family, .type = type, .help = help, .suffix = "", .snapshot_key = snapshot_key, .value = value};
  cb(&m, data);
}

static void visit_pulls(berth_cz_metrics_data *m, berth_metric_cb cb, void *data) {
  static const char *help = "Time docker took to pull an image for a launch, in seconds.";
  uint64_t cumulative = 0;
  char le[32];
  berth_metric s = {.family = "berth_image_pull_seconds",
                    .type = BERTH_METRIC_HISTOGRAM,
                    .help = help,
                    .suffix = "_bucket",
                    .label_names = {"le", NULL},
                    .label_values = {le, NULL}};
  for (size_t b = 0; b <= BERTH_PULL_BUCKETS; b++) {
    cumulative += m->pull_buckets[b];
    if (b < BERTH_PULL_BUCKETS)
      snprintf(le, sizeof(le), "%g", berth_pull_bucket_bounds[b]);
    else
      snprintf(le, sizeof(le), "+Inf");
    s.value = (double)cumulative;
    cb(&s, data);
  }
  s.label_names[0] = NULL;
  s.suffix = "_sum";
  s.value = m->pull_sum_secs;
  cb(&s, data);
  s.suffix = "_count";
  s.value = (double)m->pulls;
  cb(&s, data);

  /* Mesos's names, in ms, for the snapshot only. */
  size_t n = m->pulls < BERTH_PULL_SAMPLES ? (size_t)m->pulls : BERTH_PULL_SAMPLES;
  double sorted[BERTH_PULL_SAMPLES];
  for (size_t i = 0; i < n; i++) sorted[i] = m->pull_ms[i];
  qsort(sorted, n, sizeof(double), cmp_double);
  double last = m->pulls ? m->pull_ms[(m->pulls - 1) % BERTH_PULL_SAMPLES] : 0;
  emit(cb, data, NULL, BERTH_METRIC_GAUGE, NULL, "containerizer/docker/image_pull_ms", last);
  emit(cb, data, NULL, BERTH_METRIC_COUNTER, NULL, "containerizer/docker/image_pull_ms/count", (double)m->pulls);
  emit(cb, data, NULL, BERTH_METRIC_GAUGE, NULL, "containerizer/docker/image_pull_ms/p50", percentile(sorted, n, 0.5));
  emit(cb, data, NULL, BERTH_METRIC_GAUGE, NULL, "containerizer/docker/image_pull_ms/p99", percentile(sorted, n, 0.99));
}

/* The fetcher (API.md §6): what launches with URIs brought, and how long
 * it took. */
static void visit_fetches(const berth_cz_metrics_data *m, berth_metric_cb cb, void *data) {
  emit(cb, data, "berth_fetches_total", BERTH_METRIC_COUNTER, "Launches whose URIs were fetched (or failed to).",
       "containerizer/fetcher/fetches", (double)m->fetches);
  emit(cb, data, "berth_fetch_failures_total", BERTH_METRIC_COUNTER, "Fetches that failed their launch.",
       "containerizer/fetcher/fetch_failures", (double)m->fetch_failures);
  emit(cb, data, "berth_fetch_uris_total", BERTH_METRIC_COUNTER, "URIs fetched.", "containerizer/fetcher/uris",
       (double)m->fetch_uris);
  emit(cb, data, "berth_fetch_bytes_total", BERTH_METRIC_COUNTER, "Bytes placed into sandboxes by the fetcher.",
       "containerizer/fetcher/bytes", (double)m->fetch_bytes);
  emit(cb, data, "berth_fetch_downloaded_bytes_total", BERTH_METRIC_COUNTER, "Bytes downloaded by the fetcher.",
       "containerizer/fetcher/downloaded_bytes", (double)m->fetch_downloaded_bytes);
  emit(cb, data, "berth_fetch_cache_hits_total", BERTH_METRIC_COUNTER, "URIs served from the fetcher cache.",
       "containerizer/fetcher/cache_hits", (double)m->fetch_cache_hits);
  emit(cb, data, NULL, BERTH_METRIC_GAUGE, NULL, "containerizer/fetcher/fetch_ms", m->fetch_ms_last);
  emit(cb, data, NULL, BERTH_METRIC_COUNTER, NULL, "containerizer/fetcher/fetch_ms/total", m->fetch_ms_total);
  emit(cb, data, "berth_fetch_seconds_total", BERTH_METRIC_COUNTER, "Time spent fetching, summed over fetches.", NULL,
       m->fetch_ms_total / 1000.0);
}

/* Image collection (images.c): what it removed and how often it ran. */
static void visit_images(const berth_cz_metrics_data *m, berth_metric_cb cb, void *data) {
  emit(cb, data, "berth_images_removed_total", BERTH_METRIC_COUNTER,
       "Images berthd pulled and then removed (PRUNE_IMAGES and the automatic collection).",
       "containerizer/docker/image_gc/removed", (double)m->images_removed);
  emit(cb, data, "berth_image_freed_bytes_total", BERTH_METRIC_COUNTER,
       "Bytes freed by image removals, from each image's size before its removal.",
       "containerizer/docker/image_gc/freed_bytes", (double)m->image_bytes_freed);
  static const char *help =
      "Image collections that ran: \"disk\" when the disk was over --image_gc_threshold, "
      "\"prune\" for PRUNE_IMAGES.";
  berth_metric r = {.family = "berth_image_gc_runs_total",
                    .type = BERTH_METRIC_COUNTER,
                    .help = help,
                    .suffix = "",
                    .label_names = {"trigger", NULL},
                    .label_values = {"disk", NULL},
                    .snapshot_key = "containerizer/docker/image_gc/runs/disk",
                    .value = (double)m->image_gc_runs};
  cb(&r, data);
  r.label_values[0] = "prune";
  r.snapshot_key = "containerizer/docker/image_gc/runs/prune";
  r.value = (double)m->image_prunes;
  cb(&r, data);
  emit(cb, data, "berth_image_disk_used_ratio", BERTH_METRIC_GAUGE,
       "Share of the filesystem holding docker's data in use at the last automatic check (0 before one).",
       "containerizer/docker/image_gc/disk_used_ratio", m->image_disk_used);
}

void berth_cz_metrics_visit(berth_containerizer *cz, berth_metric_cb cb, void *data) {
  berth_cz_metrics_data *m = &cz->metrics;
  size_t by_stage[BERTH_STAGE_COUNT] = {0};
  for (container *c = cz->containers; c; c = c->next) by_stage[c->stage]++;
  for (int s = 0; s < BERTH_STAGE_COUNT; s++) {
    char key[96];
    snprintf(key, sizeof(key), "containerizer/docker/containers/%s", berth_stage_name((berth_stage)s));
    berth_metric g = {.family = "berth_containers",
                      .type = BERTH_METRIC_GAUGE,
                      .help = "Containers known to berthd, by stage.",
                      .suffix = "",
                      .label_names = {"stage", NULL},
                      .label_values = {berth_stage_name((berth_stage)s), NULL},
                      .snapshot_key = key,
                      .value = (double)by_stage[s]};
    cb(&g, data);
  }
  emit(cb, data, NULL, BERTH_METRIC_GAUGE, NULL, "containerizer/docker/containers", (double)cz->count);
  emit(cb, data, "berth_launches_total", BERTH_METRIC_COUNTER, "Launches that reached RUNNING.",
       "containerizer/docker/launches", (double)m->launches);
  emit(cb, data, "berth_launch_failures_total", BERTH_METRIC_COUNTER, "Launches that failed before RUNNING.",
       "containerizer/docker/launch_failures", (double)m->launch_failures);
  emit(cb, data, "berth_destroys_total", BERTH_METRIC_COUNTER, "Destroys of running containers.",
       "containerizer/docker/destroys", (double)m->destroys);
  emit(cb, data, "berth_ooms_total", BERTH_METRIC_COUNTER, "Containers the kernel OOM-killed.",
       "containerizer/docker/ooms", (double)m->ooms);
  for (size_t i = 0; i < m->n_ends; i++) {
    char key[160];
    snprintf(key, sizeof(key), "containerizer/docker/terminations/%s/%s", m->ends[i].state,
             m->ends[i].reason[0] ? m->ends[i].reason : "none");
    berth_metric t = {.family = "berth_terminations_total",
                      .type = BERTH_METRIC_COUNTER,
                      .help = "Containers that ended, by state and reason (\"\" when the exit code says it all).",
                      .suffix = "",
                      .label_names = {"state", "reason"},
                      .label_values = {m->ends[i].state, m->ends[i].reason},
                      .snapshot_key = key,
                      .value = (double)m->ends[i].count};
    cb(&t, data);
  }
  visit_pulls(m, cb, data);
  visit_fetches(m, cb, data);
  static const char *const results[] = {"healthy", "unhealthy"};
  static const char *const keys[] = {"containerizer/health_checks/healthy", "containerizer/health_checks/unhealthy"};
  for (int i = 0; i < 2; i++) {
    berth_metric h = {.family = "berth_health_checks_total",
                      .type = BERTH_METRIC_COUNTER,
                      .help = "Health checks decided, by result (failures in the grace period included).",
                      .suffix = "",
                      .label_names = {"result", NULL},
                      .label_values = {results[i], NULL},
                      .snapshot_key = keys[i],
                      .value = (double)m->health_checks[i]};
    cb(&h, data);
  }
  visit_images(m, cb, data);
}

static void snapshot_cb(const berth_metric *m, void *data) {
  if (m->snapshot_key) json_object_set_new(data, m->snapshot_key, json_real(m->value));
}

json_t *berth_cz_metrics(berth_containerizer *cz) {
  json_t *j = json_object();
  berth_cz_metrics_visit(cz, snapshot_cb, j);
  return j;
}
