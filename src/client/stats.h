/* What `berth stats` shows, computed from samples of berthd's container
 * list (GET /containers, API.md §3 GET_CONTAINERS): cpu percent from two
 * samples, human byte sizes, and the table's rows.  Pure: no I/O. */
#ifndef BERTH_CLIENT_STATS_H
#define BERTH_CLIENT_STATS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define BERTH_STATS_COLUMNS 7
#define BERTH_STATS_CELL 80 /* a 64-character id and its NUL fit */

/* "CONTAINER ID", "CPU %", "CPU LIMIT", "MEM USAGE / LIMIT", "MEM %",
 * "NET I/O", "PIDS". */
extern const char *const berth_stats_headers[BERTH_STATS_COLUMNS];

/* Docker's conventions: memory in binary units (KiB, MiB), network
 * traffic in decimal ones (kB, MB). */
typedef enum { BERTH_UNITS_BINARY, BERTH_UNITS_DECIMAL } berth_units;

/* "512B", "1.2MiB", "64MiB", "1.5kB": three significant digits at most,
 * trailing zeros dropped. */
void berth_stats_format_bytes(double bytes, berth_units units, char *buf, size_t len);

/* 100 × Δ(cpus_user_time_secs + cpus_system_time_secs) / Δtimestamp
 * between two resource_statistics objects (so 150 is one and a half
 * cpus).  false when it cannot be told: a field missing, time that did
 * not advance, or cpu time that went backwards. */
bool berth_stats_cpu_percent(json_t *prev, json_t *cur, double *percent);

/* The containers to show, as a new JSON array of
 *   {"container_id": ID, "cpu_percent": N or null,
 *    "resource_statistics": {...} or null}
 * cur and prev are container lists (prev NULL for the first sample).
 * Without ids (n_ids 0): every container of cur in stage RUNNING, in
 * cur's order.  With ids: one entry per id in that order, with null
 * statistics for one that is absent from cur or has none.  cpu_percent
 * needs the container's statistics in both samples. */
json_t *berth_stats_entries(json_t *prev, json_t *cur, char *const *ids, size_t n_ids);

/* The table row of one entry of berth_stats_entries, "--" where a value
 * is unknown, "-" for an absent memory or cpu limit. */
void berth_stats_row(json_t *entry, char cells[BERTH_STATS_COLUMNS][BERTH_STATS_CELL]);

#endif
