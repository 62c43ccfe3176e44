/* The containerizer's numbers, described once and rendered twice by the
 * API: /metrics/snapshot (Mesos's flat JSON) and /metrics (Prometheus text
 * exposition).  A new number is one more berth_metric from
 * berth_cz_metrics_visit; nothing else needs to know it.  Loop thread only. */
#ifndef BERTH_CONTAINERIZER_METRICS_H
#define BERTH_CONTAINERIZER_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct berth_containerizer berth_containerizer;

typedef enum { BERTH_METRIC_COUNTER, BERTH_METRIC_GAUGE, BERTH_METRIC_HISTOGRAM } berth_metric_type;

#define BERTH_METRIC_MAX_LABELS 2

/* One sample.  Samples of a family come one after another, the family's
 * description on each.  Strings are borrowed for the call. */
typedef struct berth_metric {
  const char *family; /* Prometheus name ("berth_launches_total"); NULL: snapshot only */
  berth_metric_type type;
  const char *help;
  const char *suffix;                               /* histograms: "_bucket", "_sum", "_count"; else "" */
  const char *label_names[BERTH_METRIC_MAX_LABELS]; /* NULL-ended; values below */
  const char *label_values[BERTH_METRIC_MAX_LABELS];
  const char *snapshot_key; /* Mesos-style key; NULL: not in the snapshot */
  double value;
} berth_metric;

typedef void (*berth_metric_cb)(const berth_metric *m, void *data);

/* Calls cb for every sample, families contiguous. */
void berth_cz_metrics_visit(berth_containerizer *cz, berth_metric_cb cb, void *data);

/* Upper bounds (seconds) of the image pull histogram's buckets, +Inf
 * excluded. */
#define BERTH_PULL_BUCKETS 11
extern const double berth_pull_bucket_bounds[BERTH_PULL_BUCKETS];

#endif
