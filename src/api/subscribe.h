/* SUBSCRIBE (API.md §3): the containerizer's events as a RecordIO stream
 * to every subscriber.  The first record is SUBSCRIBED with the
 * GET_CONTAINERS list; then STAGE_CHANGED, HEALTH_CHANGED, TERMINATED and
 * REMOVED in the order they happen, and HEARTBEAT every interval.
 *
 * Each subscriber has a bounded queue (api/outq.h) and a small socket send
 * buffer.  An event that would overflow a subscriber's queue drops that
 * subscriber (its connection is closed, the drop logged and counted): a
 * slow reader costs berthd a bounded amount of memory and never a wait.
 * Loop thread only. */
#ifndef BERTH_API_SUBSCRIBE_H
#define BERTH_API_SUBSCRIBE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api/server.h"
#include "containerizer/containerizer.h"

/* Subscribers at once, all listeners together; one more is a 503.  Far
 * below a listener's connection limit (2048), so streams, which hold their
 * connections for good, can never take all of a listener's slots. */
#define BERTH_SUBSCRIBERS_MAX 128
/* SO_SNDBUF of a subscriber's connection (the kernel doubles it).  Events
 * are small and few; a reader that stops reading should fill its queue
 * soon, not after the kernel has buffered hundreds of KiB for it. */
#define BERTH_SUBSCRIBER_SNDBUF (16 * 1024)

typedef struct berth_subscribe_config {
  uint64_t heartbeat_ms; /* --subscribe_heartbeat_interval */
  size_t queue_size;     /* --subscriber_queue_size: bytes waiting per subscriber */
} berth_subscribe_config;

typedef struct berth_subscribers berth_subscribers;

/* Becomes the containerizer's event observer. */
berth_subscribers *berth_subscribers_new(uv_loop_t *loop, berth_containerizer *cz,
                                         const berth_subscribe_config *config);
/* berthd stops: every stream ends (what is queued still goes, if the
 * connection lives long enough), the observer is cleared, and the
 * heartbeat timer closes (the rest is freed in its close callback).
 * Before the containerizer is freed. */
void berth_subscribers_free(berth_subscribers *subs);

/* The SUBSCRIBE call: answers req with the stream, or 503 when there are
 * BERTH_SUBSCRIBERS_MAX subscribers already. */
void berth_subscribers_add(berth_subscribers *subs, berth_http_request *req);

/* For /metrics: subscribers connected now, and dropped for reading too
 * slowly since start. */
size_t berth_subscribers_count(const berth_subscribers *subs);
uint64_t berth_subscribers_dropped(const berth_subscribers *subs);

#endif
