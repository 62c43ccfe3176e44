#include "client/stats.h"

#include <stdio.h>
#include <string.h>

#include "client/calls.h"

const char *const berth_stats_headers[BERTH_STATS_COLUMNS] = {
    "CONTAINER ID", "CPU %", "CPU LIMIT", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "PIDS"};

/* ---- numbers ---- */

/* v with at most `decimals` decimals, trailing zeros (and a bare dot)
 * dropped: 1.20 → "1.2", 64.00 → "64". */
static void trimmed(double v, int decimals, char *buf, size_t len) {
  snprintf(buf, len, "%.*f", decimals, v);
  char *dot = strchr(buf, '.');
  if (!dot) return;
  char *end = buf + strlen(buf);
  while (end > dot + 1 && end[-1] == '0') end--;
  if (end == dot + 1) end = dot;
  *end = '\0';
}

void berth_stats_format_bytes(double bytes, berth_units units, char *buf, size_t len) {
  static const char *const binary[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  static const char *const decimal[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  enum { N_UNITS = sizeof(binary) / sizeof(binary[0]) };
  const char *const *names = units == BERTH_UNITS_BINARY ? binary : decimal;
  double base = units == BERTH_UNITS_BINARY ? 1024.0 : 1000.0;
  if (!(bytes > 0)) bytes = 0; /* also NaN */
  size_t unit = 0;
  /* From 100 on a value prints without decimals, so one that would round
   * to `base` ("1024KiB") is shown in the next unit instead. */
  while (unit + 1 < N_UNITS && bytes >= base - 0.5) {
    bytes /= base;
    unit++;
  }
  int decimals = unit == 0 ? 0 : bytes < 10 ? 2 : bytes < 100 ? 1 : 0;
  char number[32];
  trimmed(bytes, decimals, number, sizeof(number));
  snprintf(buf, len, "%s%s", number, names[unit]);
}

static bool number(json_t *obj, const char *key, double *out) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_number(v)) return false;
  *out = json_number_value(v);
  return true;
}

/* A field that should be there; 0 when it is not. */
static double field(json_t *obj, const char *key) {
  double v = 0;
  number(obj, key, &v);
  return v;
}

bool berth_stats_cpu_percent(json_t *prev, json_t *cur, double *percent) {
  double t0, t1, user0, user1, sys0, sys1;
  if (!number(prev, "timestamp", &t0) || !number(cur, "timestamp", &t1) ||
      !number(prev, "cpus_user_time_secs", &user0) || !number(cur, "cpus_user_time_secs", &user1) ||
      !number(prev, "cpus_system_time_secs", &sys0) || !number(cur, "cpus_system_time_secs", &sys1))
    return false;
  double elapsed = t1 - t0;
  double used = (user1 + sys1) - (user0 + sys0);
  if (!(elapsed > 0) || used < 0) return false;
  *percent = 100.0 * used / elapsed;
  return true;
}

/* ---- entries ---- */

static json_t *statistics_of(json_t *containers, const char *id) {
  if (!containers) return NULL;
  json_t *s = json_object_get(berth_containers_find(containers, id), "resource_statistics");
  return json_is_object(s) ? s : NULL;
}

static json_t *entry(json_t *prev, json_t *cur, const char *id) {
  json_t *now = statistics_of(cur, id);
  json_t *before = statistics_of(prev, id);
  double percent;
  bool has_percent = now && before && berth_stats_cpu_percent(before, now, &percent);
  json_t *id_value = json_string(id); /* NULL for an id that is not UTF-8 */
  json_t *e = json_object();
  json_object_set_new(e, "container_id", id_value ? id_value : json_null());
  json_object_set_new(e, "cpu_percent", has_percent ? json_real(percent) : json_null());
  json_object_set_new(e, "resource_statistics", now ? json_incref(now) : json_null());
  return e;
}

json_t *berth_stats_entries(json_t *prev, json_t *cur, char *const *ids, size_t n_ids) {
  json_t *entries = json_array();
  for (size_t i = 0; i < n_ids; i++) json_array_append_new(entries, entry(prev, cur, ids[i]));
  if (n_ids > 0) return entries;
  size_t i;
  json_t *container;
  json_array_foreach(cur, i, container) {
    const char *id = json_string_value(json_object_get(json_object_get(container, "container_id"), "value"));
    if (id && strcmp(berth_container_stage(container), "RUNNING") == 0)
      json_array_append_new(entries, entry(prev, cur, id));
  }
  return entries;
}

/* ---- rows ---- */

void berth_stats_row(json_t *entry, char cells[BERTH_STATS_COLUMNS][BERTH_STATS_CELL]) {
  const char *id = json_string_value(json_object_get(entry, "container_id"));
  snprintf(cells[0], BERTH_STATS_CELL, "%s", id ? id : "");
  json_t *cpu = json_object_get(entry, "cpu_percent");
  if (json_is_number(cpu))
    snprintf(cells[1], BERTH_STATS_CELL, "%.2f%%", json_number_value(cpu));
  else
    snprintf(cells[1], BERTH_STATS_CELL, "--");
  json_t *s = json_object_get(entry, "resource_statistics");
  if (!json_is_object(s)) {
    for (int col = 2; col < BERTH_STATS_COLUMNS; col++) snprintf(cells[col], BERTH_STATS_CELL, "--");
    return;
  }

  /* berthd reports the cfs quota, or the cpu share when there is none;
   * cpus_quota says which.  A share is a weight, not a limit: "-". */
  double cpus_limit = field(s, "cpus_limit");
  json_t *quota = json_object_get(s, "cpus_quota");
  if (json_is_boolean(quota) && !json_is_true(quota)) cpus_limit = 0;
  if (cpus_limit > 0)
    trimmed(cpus_limit, 2, cells[2], BERTH_STATS_CELL);
  else
    snprintf(cells[2], BERTH_STATS_CELL, "-");

  /* As docker stats, page cache is left out of the usage: the kernel
   * reclaims it before the limit bites, and counting it would show a
   * container that merely read files as near its limit. */
  double total = field(s, "mem_total_bytes");
  double cache = field(s, "mem_cache_bytes");
  double usage = total > cache ? total - cache : 0;
  double limit = field(s, "mem_limit_bytes"); /* 0: no limit */
  char a[24], b[24];
  berth_stats_format_bytes(usage, BERTH_UNITS_BINARY, a, sizeof(a));
  if (limit > 0)
    berth_stats_format_bytes(limit, BERTH_UNITS_BINARY, b, sizeof(b));
  else
    snprintf(b, sizeof(b), "-");
  snprintf(cells[3], BERTH_STATS_CELL, "%s / %s", a, b);
  if (limit > 0)
    snprintf(cells[4], BERTH_STATS_CELL, "%.2f%%", 100.0 * usage / limit);
  else
    snprintf(cells[4], BERTH_STATS_CELL, "--");

  /* berthd leaves the counters out where they would not be the
   * container's own (the HOST network): not known, so "-". */
  if (json_is_number(json_object_get(s, "net_rx_bytes")) && json_is_number(json_object_get(s, "net_tx_bytes"))) {
    berth_stats_format_bytes(field(s, "net_rx_bytes"), BERTH_UNITS_DECIMAL, a, sizeof(a));
    berth_stats_format_bytes(field(s, "net_tx_bytes"), BERTH_UNITS_DECIMAL, b, sizeof(b));
    snprintf(cells[5], BERTH_STATS_CELL, "%s / %s", a, b);
  } else {
    snprintf(cells[5], BERTH_STATS_CELL, "-");
  }

  json_t *pids = json_object_get(s, "processes");
  if (json_is_integer(pids))
    snprintf(cells[6], BERTH_STATS_CELL, "%lld", (long long)json_integer_value(pids));
  else
    snprintf(cells[6], BERTH_STATS_CELL, "--");
}
