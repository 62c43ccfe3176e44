/* resource_statistics of a running container, for GET_CONTAINERS.
 *
 * The cgroup directories are found once per process (from
 * /proc/<pid>/cgroup and a path probe per controller) and kept, so each
 * call reads only the counter files.  Every call reads them afresh: a
 * client that reads, acts and reads again sees what it did. */
#ifndef BERTH_CONTAINERIZER_USAGE_H
#define BERTH_CONTAINERIZER_USAGE_H

#include <jansson.h>

struct container;

/* A new reference to the container's statistics, or NULL when there are
 * none (not running, its process gone).  A HOST-network container has no
 * net counters: its /proc/<pid>/net/dev is the node's. */
json_t *cz_usage_json(struct container *c);
/* Drops everything; on free. */
void cz_usage_free(struct container *c);

#endif
