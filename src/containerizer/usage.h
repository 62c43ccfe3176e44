/* resource_statistics of a running container, for GET_CONTAINERS.
 *
 * The cgroup directories are found once per process (from
 * /proc/<pid>/cgroup) and kept; a reading is reused for USAGE_TTL_MS, so
 * several clients polling, or one polling fast, cost the loop one read of
 * the counter files per container per interval.  Its timestamp is when it
 * was read.  UPDATE_CONTAINER drops the reading (the limits changed). */
#ifndef BERTH_CONTAINERIZER_USAGE_H
#define BERTH_CONTAINERIZER_USAGE_H

#include <jansson.h>

struct container;

#define USAGE_TTL_MS 1000

/* A new reference to the container's statistics, or NULL when there are
 * none (not running, its process gone). */
json_t *cz_usage_json(struct container *c);
/* Drops the reading (keeps the located dirs). */
void cz_usage_stale(struct container *c);
/* Drops everything; on free. */
void cz_usage_free(struct container *c);

#endif
