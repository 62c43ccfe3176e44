#include "client/backoff.h"

#include <time.h>

void berth_backoff_init(berth_backoff *b, int64_t min_ms, int64_t max_ms, int64_t budget_ms) {
  b->min_ms = min_ms;
  b->max_ms = max_ms < min_ms ? min_ms : max_ms;
  b->budget_ms = budget_ms;
  berth_backoff_reset(b);
}

void berth_backoff_reset(berth_backoff *b) {
  b->delay_ms = b->min_ms;
  b->outage_since = -1;
}

int64_t berth_backoff_next(berth_backoff *b, int64_t now_ms) {
  if (b->outage_since < 0) b->outage_since = now_ms;
  int64_t left = b->outage_since + b->budget_ms - now_ms;
  if (left <= 0) return -1;
  int64_t delay = b->delay_ms < left ? b->delay_ms : left;
  b->delay_ms = b->delay_ms * 2 > b->max_ms ? b->max_ms : b->delay_ms * 2;
  return delay;
}

bool berth_backoff_in_outage(const berth_backoff *b) { return b->outage_since >= 0; }

int64_t berth_backoff_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
