/* Reconnection pacing for a client that outlives a berthd restart
 * (`berth run` in the foreground): delays that double from min_ms up to
 * max_ms, and a budget after which the client gives up.  The budget counts
 * from the first failure of an outage and starts again after any success.
 * Pure: the caller passes the time (a monotonic clock in ms). */
#ifndef BERTH_CLIENT_BACKOFF_H
#define BERTH_CLIENT_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

/* `berth run`'s values.  A restarting berthd is back within seconds; the
 * longest delay stays well under berthd's --bound_client_timeout (1 min
 * by default), so a client always returns before its container is given
 * up; five minutes covers a berthd that waits on a slow dockerd. */
#define BERTH_RECONNECT_MIN_MS 100
#define BERTH_RECONNECT_MAX_MS 2000
#define BERTH_RECONNECT_BUDGET_MS (5 * 60 * 1000)

typedef struct berth_backoff {
  int64_t min_ms, max_ms, budget_ms;
  int64_t delay_ms;     /* the next delay */
  int64_t outage_since; /* time of the outage's first failure; -1: none */
} berth_backoff;

void berth_backoff_init(berth_backoff *b, int64_t min_ms, int64_t max_ms, int64_t budget_ms);

/* A call got through: the next failure starts a new outage. */
void berth_backoff_reset(berth_backoff *b);

/* A call failed at now_ms: the delay before the next try, or -1 once the
 * outage has lasted budget_ms (the last delay is cut to end on it). */
int64_t berth_backoff_next(berth_backoff *b, int64_t now_ms);

/* True between a failure and the next reset. */
bool berth_backoff_in_outage(const berth_backoff *b);

/* The monotonic clock in ms. */
int64_t berth_backoff_now_ms(void);

#endif
