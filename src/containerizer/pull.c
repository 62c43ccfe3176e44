/* Image pulls for the PULLING stage, one per image at a time: launches of
 * the same absent image wait on one pull (docker would run one anyway, but
 * each launch would hold a connection and time it separately). */
#include <stdlib.h>
#include <string.h>

#include "containerizer/container.h"
#include "docker/api.h"
#include "util/alloc.h"
#include "util/log.h"

typedef struct cz_pull {
  berth_containerizer *cz;
  char *image;
  berth_docker_req *req;
  container *waiters;
  berth_pull_progress progress;
  uint64_t started_ms;
  bool absent; /* a launch found the image missing: the pull brings it */
  struct cz_pull *next;
} cz_pull;

static void unlink_pull(cz_pull *p) {
  for (cz_pull **q = &p->cz->pulls; *q; q = &(*q)->next)
    if (*q == p) {
      *q = p->next;
      return;
    }
}

static void pull_free(cz_pull *p) {
  free(p->image);
  free(p);
}

static void progress_cb(const berth_pull_progress *progress, void *data) {
  cz_pull *p = data;
  p->progress = *progress;
}

static void finish(cz_pull *p, int rc, const berth_error *err) {
  unlink_pull(p);
  /* Detach every waiter first: finishing one launch may end others. */
  container *waiters = p->waiters;
  p->waiters = NULL;
  for (container *c = waiters; c; c = c->pull_next) c->pull = NULL;
  for (container *c = waiters, *next; c; c = next) {
    next = c->pull_next;
    c->pull_next = NULL;
    cz_pull_done(c, rc, err);
  }
  pull_free(p);
}

/* The pulled image's id goes into berthd's record of the images it
 * pulled (images.c), which image collection checks before a removal. */
static void pulled_inspect_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  cz_pull *p = data;
  p->req = NULL;
  const char *id = rc == 0 ? json_string_value(json_object_get(answer, "Id")) : NULL;
  if (rc < 0) log_warn("image %s: inspect after the pull: %s", p->image, err->msg);
  cz_images_pulled(p->cz, p->image, id ? id : "", p->absent);
  finish(p, 0, NULL);
}

static void pull_end_cb(int rc, const berth_error *err, void *data) {
  cz_pull *p = data;
  berth_containerizer *cz = p->cz;
  p->req = NULL;
  berth_cz_metrics_pull(cz, (double)(uv_now(cz->loop) - p->started_ms));
  if (rc < 0) {
    finish(p, rc, err);
    return;
  }
  p->req = berth_docker_image_inspect(cz->docker, p->image, pulled_inspect_cb, p);
}

void cz_pull_join(container *c, bool image_absent) {
  berth_containerizer *cz = c->cz;
  cz_pull *p = cz->pulls;
  while (p && strcmp(p->image, c->spec.image)) p = p->next;
  if (p) {
    log_info("container %s: joins the pull of %s already running", c->id, c->spec.image);
  } else {
    p = berth_calloc(1, sizeof(*p));
    p->cz = cz;
    p->image = berth_strdup(c->spec.image);
    p->started_ms = uv_now(cz->loop);
    p->next = cz->pulls;
    cz->pulls = p;
    cleanup_free char *auth = berth_docker_auth_header(cz->config.docker_auth, c->spec.image);
    long timeout_ms = (long)(cz->config.docker_pull_timeout_ns / 1000000);
    log_info("container %s: pulling %s%s", c->id, c->spec.image, auth ? " with registry credentials" : "");
    p->req = berth_docker_image_pull(cz->docker, c->spec.image, auth, timeout_ms, progress_cb, pull_end_cb, p);
  }
  p->absent |= image_absent;
  c->pull = p;
  c->pull_next = p->waiters;
  p->waiters = c;
}

void cz_pull_leave(container *c) {
  cz_pull *p = c->pull;
  if (!p) return;
  c->pull = NULL;
  for (container **q = &p->waiters; *q; q = &(*q)->pull_next)
    if (*q == c) {
      *q = c->pull_next;
      break;
    }
  c->pull_next = NULL;
  if (p->waiters) return;
  /* Nobody waits any more: closing the request makes dockerd stop. */
  berth_docker_cancel(p->req);
  unlink_pull(p);
  pull_free(p);
}

json_t *cz_pull_progress_json(container *c) {
  if (!c->pull) return NULL;
  const berth_pull_progress *g = &c->pull->progress;
  return json_pack("{s:I,s:I,s:I,s:I}", "layers_done", (json_int_t)g->layers_done, "layers_total",
                   (json_int_t)g->layers_total, "bytes_done", (json_int_t)g->bytes_done, "bytes_total",
                   (json_int_t)g->bytes_total);
}
