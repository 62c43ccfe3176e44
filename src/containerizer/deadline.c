#include "containerizer/deadline.h"

#include <string.h>
#include <time.h>

#include "containerizer/termination.h"
#include "util/log.h"

/* Docker's FinishedAt and berthd's clock are the same host clock; an exit
 * this close before the deadline is taken as the deadline's kill. */
#define DEADLINE_MARGIN_SECS 0.5

static double now_secs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double deadline_at(const container *c) { return c->running_at + (double)c->spec.max_completion_ns / 1e9; }

static void deadline_cb(uv_timer_t *timer) {
  container *c = timer->data;
  if (c->stage != BERTH_STAGE_RUNNING && c->stage != BERTH_STAGE_DESTROYING) return;
  /* In DESTROYING (a destroy recovery resumed) the kill is already under
   * way; the deadline still names the cause. */
  c->deadline_reached = true;
  if (c->stage == BERTH_STAGE_RUNNING) {
    log_info("container %s: max_completion_time of %.3f s reached; destroying it", c->id,
             (double)c->spec.max_completion_ns / 1e9);
    cz_begin_destroy(c);
  }
}

void cz_deadline_init(container *c) {
  uv_timer_init(c->cz->loop, &c->deadline_timer);
  c->deadline_timer.data = c;
  c->open_handles++;
}

void cz_deadline_arm(container *c) {
  if (c->spec.max_completion_ns <= 0 || c->running_at <= 0) return;
  if (c->stage != BERTH_STAGE_RUNNING && c->stage != BERTH_STAGE_DESTROYING) return;
  double left = deadline_at(c) - now_secs();
  /* uv timers count in ms from the loop's cached time; a limit beyond
   * what fits is as good as none. */
  double ms = left > 0 ? left * 1000.0 : 0;
  if (ms > 1e15) return;
  uv_timer_start(&c->deadline_timer, deadline_cb, (uint64_t)ms, 0);
}

void cz_deadline_stop(container *c) { uv_timer_stop(&c->deadline_timer); }

void cz_deadline_close(container *c, uv_close_cb cb) { uv_close((uv_handle_t *)&c->deadline_timer, cb); }

json_t *cz_deadline_termination(container *c, json_t *t) {
  if (!c->deadline_reached) return t;
  const char *reason = json_string_value(json_object_get(t, "reason"));
  if (reason && !strcmp(reason, BERTH_REASON_MEMORY)) return t;
  /* Ended on its own before the deadline (while berthd was down, say):
   * its own exit is the truth. */
  if (c->docker_finished_at > 0 && c->docker_finished_at < deadline_at(c) - DEADLINE_MARGIN_SECS) return t;
  char msg[160];
  snprintf(msg, sizeof(msg), "Task exceeded its max_completion_time of %.3f seconds",
           (double)c->spec.max_completion_ns / 1e9);
  json_object_set_new(t, "state", json_string("TASK_FAILED"));
  json_object_set_new(t, "reason", json_string(BERTH_REASON_MAX_COMPLETION));
  json_object_set_new(t, "message", json_string(msg));
  return t;
}
