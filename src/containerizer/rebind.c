#include "containerizer/rebind.h"

#include "util/log.h"

static bool has_bound_waiter(const container *c) {
  for (const waiter *w = c->waiters; w; w = w->next)
    if (w->kill_on_disconnect) return true;
  return false;
}

static void rebind_timeout_cb(uv_timer_t *timer) {
  container *c = timer->data;
  /* Ended, already being destroyed, or bound again meanwhile: nothing. */
  if (c->stage != BERTH_STAGE_RUNNING || has_bound_waiter(c)) return;
  log_info("container %s: its bound client did not come back within %.3f s of recovery; destroying", c->id,
           (double)c->cz->config.bound_client_timeout_ns / 1e9);
  cz_begin_destroy(c);
}

void cz_rebind_init(container *c) {
  uv_timer_init(c->cz->loop, &c->rebind_timer);
  c->rebind_timer.data = c;
  c->open_handles++;
}

void cz_rebind_arm(container *c) {
  int64_t ns = c->cz->config.bound_client_timeout_ns;
  if (!c->bound || ns <= 0 || c->stage != BERTH_STAGE_RUNNING || has_bound_waiter(c)) return;
  log_info("container %s: was bound to a client; waiting up to %.3f s for it to come back", c->id, (double)ns / 1e9);
  uv_timer_start(&c->rebind_timer, rebind_timeout_cb, (uint64_t)(ns / 1000000), 0);
}

void cz_rebind_bound(container *c) {
  if (uv_is_active((uv_handle_t *)&c->rebind_timer)) log_info("container %s: its bound client came back", c->id);
  uv_timer_stop(&c->rebind_timer);
  if (c->bound) return;
  c->bound = true;
  /* The WAIT goes on without it: a failed write is logged (cz_persist),
   * and this container would then not be given up after a restart. */
  berth_error err;
  if (cz_persist(c, &err) < 0) berth_error_clear(&err);
}

void cz_rebind_stop(container *c) { uv_timer_stop(&c->rebind_timer); }

void cz_rebind_close(container *c, uv_close_cb cb) { uv_close((uv_handle_t *)&c->rebind_timer, cb); }
