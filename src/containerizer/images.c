/* Image collection (API.md §3 PRUNE_IMAGES, §5 --image_gc_*): berthd
 * removes only images its own pulls brought onto the node (store/images.h)
 * and that no known container uses.  PRUNE_IMAGES removes all of them but
 * the excluded; the automatic collection runs every --image_gc_interval
 * and, while the filesystem holding docker's data is fuller than
 * --image_gc_threshold, removes them least recently used first, sparing
 * those used within --image_gc_min_age.
 *
 * One collection runs at a time, one removal after another; a
 * PRUNE_IMAGES that comes meanwhile waits for it.  A launch of the image
 * being removed waits in PULLING until the removal is over (it then finds
 * the image or pulls it again): docker could otherwise answer the launch's
 * inspect before the delete and its create after. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "containerizer/container.h"
#include "containerizer/image_lru.h"
#include "docker/api.h"
#include "store/images.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/text.h"

typedef struct gc_run {
  bool automatic;
  bool collecting; /* automatic: the disk was over the threshold */
  char **excluded; /* the call's, NULL-ended */
  berth_cz_pruned_cb cb;
  void *data;
  /* what may go, in order, with the docker id recorded at the pull */
  char **names, **ids;
  size_t n, next;
  uint64_t size; /* of the image being removed, from its inspect */
  json_t *removed, *kept;
  uint64_t bytes;
  struct gc_run *queue_next;
} gc_run;

struct cz_images {
  berth_containerizer *cz;
  uv_timer_t timer;
  gc_run *run;                /* the collection under way */
  gc_run *queue, *queue_last; /* PRUNE_IMAGES waiting for it */
  berth_docker_req *req;      /* its info, inspect or delete */
  char *root_dir;             /* docker's DockerRootDir */
  const char *current;        /* the image being removed (a run's name) */
  container *held;            /* launches of that image, waiting */
};

typedef struct disk_job {
  uv_work_t work;
  berth_containerizer *cz;
  char *path;
  double ratio;
  int errnum;
} disk_job;

static void next_removal(cz_images *im);
static void check_disk(cz_images *im);

static void free_strv(char **v) {
  for (char **p = v; p && *p; p++) free(*p);
  free(v);
}

static void run_free(gc_run *r) {
  free_strv(r->excluded);
  for (size_t i = 0; i < r->n; i++) {
    free(r->names[i]);
    free(r->ids[i]);
  }
  free(r->names);
  free(r->ids);
  json_decref(r->removed);
  json_decref(r->kept);
  free(r);
}

static bool image_in_use(berth_containerizer *cz, const char *name) {
  for (container *c = cz->containers; c; c = c->next)
    if (c->spec.image && berth_image_ref_same(c->spec.image, name)) return true;
  return false;
}

static bool excluded(const gc_run *r, const char *const *flag, const char *name, const char *id) {
  const char *const *lists[] = {(const char *const *)r->excluded, flag};
  for (size_t l = 0; l < 2; l++)
    for (const char *const *e = lists[l]; e && *e; e++)
      if (berth_image_ref_same(*e, name) || (id[0] && !strcmp(*e, id))) return true;
  return false;
}

/* ---- the records, at launches ---- */

void cz_images_used(berth_containerizer *cz, const char *name) {
  berth_error err;
  bool recorded;
  if (berth_store_image_used(cz->store, name, cz_now_secs(), &recorded, &err) < 0)
    log_warn("image %s: %s", name, err.msg);
}

void cz_images_pulled(berth_containerizer *cz, const char *name, const char *docker_id, bool was_absent) {
  berth_error err;
  bool recorded = false;
  double now = cz_now_secs();
  /* A forced pull of an image that was already here brought nothing new
   * unless berthd had brought it before: one it did not pull stays not
   * berthd's to remove. */
  if (!was_absent && berth_store_image_used(cz->store, name, now, &recorded, &err) < 0) {
    log_warn("image %s: %s", name, err.msg);
    return;
  }
  if ((was_absent || recorded) && berth_store_image_pulled(cz->store, name, docker_id, now, &err) < 0)
    log_warn("image %s: %s", name, err.msg);
}

/* ---- launches of the image being removed ---- */

bool cz_images_hold(container *c) {
  cz_images *im = c->cz->images;
  if (!im || !im->current || !berth_image_ref_same(im->current, c->spec.image)) return false;
  log_info("container %s: waits for the removal of image %s to end", c->id, im->current);
  c->image_held = true;
  c->held_next = im->held;
  im->held = c;
  return true;
}

void cz_images_unhold(container *c) {
  if (!c->image_held) return;
  cz_images *im = c->cz->images;
  for (container **q = &im->held; *q; q = &(*q)->held_next)
    if (*q == c) {
      *q = c->held_next;
      break;
    }
  c->held_next = NULL;
  c->image_held = false;
}

static void release_held(cz_images *im) {
  im->current = NULL;
  container *held = im->held;
  im->held = NULL;
  while (held) {
    container *c = held;
    held = c->held_next;
    c->held_next = NULL;
    c->image_held = false;
    cz_inspect_image(c);
  }
}

/* ---- a collection ---- */

static void start_next(cz_images *im);

static void end_run(cz_images *im) {
  gc_run *r = im->run;
  im->run = NULL;
  release_held(im);
  if (json_array_size(r->removed) > 0 || json_array_size(r->kept) > 0)
    log_info("image gc%s: removed %zu image(s), %llu bytes; %zu kept", r->automatic ? " (disk)" : " (PRUNE_IMAGES)",
             json_array_size(r->removed), (unsigned long long)r->bytes, json_array_size(r->kept));
  if (r->cb) {
    json_t *result =
        json_pack("{s:O,s:O,s:I}", "removed", r->removed, "kept", r->kept, "bytes_freed", (json_int_t)r->bytes);
    r->cb(0, result, NULL, r->data);
    json_decref(result);
  }
  run_free(r);
  start_next(im);
}

typedef struct load_ctx {
  berth_containerizer *cz;
  gc_run *run;
  berth_image_candidate *cands;
  char **names, **ids;
  size_t n, cap;
} load_ctx;

static void load_row_cb(const berth_image_record *rec, void *data) {
  load_ctx *l = data;
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->cands = berth_realloc(l->cands, l->cap * sizeof(*l->cands));
    l->names = berth_realloc(l->names, l->cap * sizeof(char *));
    l->ids = berth_realloc(l->ids, l->cap * sizeof(char *));
  }
  l->names[l->n] = berth_strdup(rec->name);
  l->ids[l->n] = berth_strdup(rec->docker_id);
  l->cands[l->n] = (berth_image_candidate){
      .name = l->names[l->n],
      .last_used = rec->last_used,
      .in_use = image_in_use(l->cz, rec->name),
      .excluded = excluded(l->run, l->cz->config.image_gc_excluded, rec->name, rec->docker_id),
  };
  l->n++;
}

/* Fills the run's list: berthd's images that may go, in order. */
static void choose(cz_images *im) {
  berth_containerizer *cz = im->cz;
  gc_run *r = im->run;
  load_ctx l = {.cz = cz, .run = r};
  berth_error err;
  if (berth_store_images_load(cz->store, load_row_cb, &l, &err) < 0) log_warn("image gc: %s", err.msg);
  size_t *order = berth_calloc(l.n + 1, sizeof(size_t));
  double min_age = r->automatic ? (double)cz->config.image_gc_min_age_ns / 1e9 : 0;
  size_t k = berth_images_select(l.cands, l.n, cz_now_secs(), min_age, order);
  r->names = berth_calloc(k + 1, sizeof(char *));
  r->ids = berth_calloc(k + 1, sizeof(char *));
  for (size_t i = 0; i < k; i++) {
    r->names[i] = l.names[order[i]];
    r->ids[i] = l.ids[order[i]];
    l.names[order[i]] = l.ids[order[i]] = NULL;
  }
  r->n = k;
  for (size_t i = 0; i < l.n; i++) {
    free(l.names[i]);
    free(l.ids[i]);
  }
  free(l.names);
  free(l.ids);
  free(l.cands);
  free(order);
}

static void forget(cz_images *im, const char *name) {
  berth_error err;
  if (berth_store_image_forget(im->cz->store, name, &err) < 0) log_warn("image %s: %s", name, err.msg);
}

/* why is docker's message: any bytes, made valid text for the reply. */
static void keep(gc_run *r, const char *name, const char *why) {
  log_info("image gc: kept %s: %s", name, why);
  json_t *entry = json_object();
  json_object_set_new(entry, "name", berth_json_text(name));
  json_object_set_new(entry, "reason", berth_json_text(why));
  json_array_append_new(r->kept, entry);
}

/* The image is gone or no longer berthd's: after each, the automatic
 * collection looks at the disk again. */
static void removal_over(cz_images *im) {
  release_held(im);
  if (im->run->automatic)
    check_disk(im);
  else
    next_removal(im);
}

static void removed_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  cz_images *im = data;
  im->req = NULL;
  gc_run *r = im->run;
  const char *name = r->names[r->next - 1];
  if (rc == 0 || rc == BERTH_ENOENT) forget(im, name);
  if (rc == 0) {
    /* Untagging one of several names frees nothing. */
    bool deleted = false;
    size_t i;
    json_t *entry;
    json_array_foreach(answer, i, entry) deleted |= json_object_get(entry, "Deleted") != NULL;
    uint64_t freed = deleted ? r->size : 0;
    log_info("image gc: removed %s (%llu bytes)", name, (unsigned long long)freed);
    json_array_append_new(r->removed, berth_json_text(name));
    r->bytes += freed;
    im->cz->metrics.images_removed++;
    im->cz->metrics.image_bytes_freed += freed;
  } else if (rc == BERTH_ENOENT) {
    log_info("image gc: %s was already gone", name);
  } else if (rc == BERTH_ECONFLICT) {
    /* Without force docker keeps an image a container uses, berthd's or
     * anyone's; the record stays for a later collection. */
    keep(r, name, err->msg);
  } else {
    keep(r, name, err ? err->msg : "docker refused");
  }
  if (rc == 0)
    removal_over(im);
  else {
    release_held(im);
    next_removal(im);
  }
}

static void inspected_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  cz_images *im = data;
  im->req = NULL;
  gc_run *r = im->run;
  const char *name = r->names[r->next - 1], *id = r->ids[r->next - 1];
  if (rc == BERTH_ENOENT) {
    log_info("image gc: %s is gone already; forgotten", name);
    forget(im, name);
    release_held(im);
    next_removal(im);
    return;
  }
  if (rc < 0) {
    keep(r, name, err->msg);
    release_held(im);
    next_removal(im);
    return;
  }
  const char *now_id = json_string_value(json_object_get(answer, "Id"));
  if (id[0] && now_id && strcmp(id, now_id) != 0) {
    /* Someone pulled or tagged another image under the name: that one is
     * not berthd's. */
    log_info("image gc: %s now names %s, not the %s berthd pulled; forgotten", name, now_id, id);
    forget(im, name);
    release_held(im);
    next_removal(im);
    return;
  }
  /* A launch that came while docker answered: it keeps the image. */
  if (image_in_use(im->cz, name)) {
    release_held(im);
    next_removal(im);
    return;
  }
  json_int_t size = json_integer_value(json_object_get(answer, "Size"));
  r->size = size > 0 ? (uint64_t)size : 0;
  im->req = berth_docker_image_remove(im->cz->docker, name, removed_cb, im);
}

static void next_removal(cz_images *im) {
  gc_run *r = im->run;
  while (r->next < r->n) {
    const char *name = r->names[r->next++];
    /* Looked at again: a launch may have started meanwhile. */
    if (image_in_use(im->cz, name)) continue;
    im->current = name;
    im->req = berth_docker_image_inspect(im->cz->docker, name, inspected_cb, im);
    return;
  }
  end_run(im);
}

/* ---- the disk, for the automatic collection ---- */

static void disk_work(uv_work_t *work) {
  disk_job *j = work->data;
  struct statvfs st;
  if (statvfs(j->path, &st) < 0) {
    j->errnum = errno;
    return;
  }
  /* Mesos's fs::usage: the share of blocks not free (root's reserve
   * counts as free). */
  j->ratio = st.f_blocks ? (double)(st.f_blocks - st.f_bfree) / (double)st.f_blocks : 0;
}

static void disk_done_cb(uv_work_t *work, int status) {
  disk_job *j = work->data;
  berth_containerizer *cz = j->cz;
  cz->pending_work--;
  if (cz->closing) {
    free(j->path);
    free(j);
    if (cz->pending_work == 0 && cz->timer_closed) cz_free_containerizer(cz);
    return;
  }
  cz_images *im = cz->images;
  gc_run *r = im->run;
  if (status < 0 || j->errnum) {
    log_warn("image gc: statvfs '%s': %s", j->path, strerror(status < 0 ? ECANCELED : j->errnum));
    free(j->path);
    free(j);
    end_run(im);
    return;
  }
  double percent = j->ratio * 100;
  cz->metrics.image_disk_used = j->ratio;
  free(j->path);
  free(j);
  if (percent <= cz->config.image_gc_threshold) {
    end_run(im);
    return;
  }
  if (!r->collecting) {
    r->collecting = true;
    cz->metrics.image_gc_runs++;
    choose(im);
    /* Said once per run that has something to remove: a full disk with
     * nothing of berthd's on it would log every interval. */
    berth_log(r->n > 0 ? BERTH_LOG_INFO : BERTH_LOG_DEBUG,
              "image gc: %s is %.1f%% full, over --image_gc_threshold %g%%; %zu image(s) may go", im->root_dir, percent,
              cz->config.image_gc_threshold, r->n);
  }
  next_removal(im);
}

static void check_disk(cz_images *im) {
  disk_job *j = berth_calloc(1, sizeof(*j));
  j->cz = im->cz;
  j->path = berth_strdup(im->root_dir);
  j->work.data = j;
  im->cz->pending_work++;
  uv_queue_work(im->cz->loop, &j->work, disk_work, disk_done_cb);
}

static void info_cb(int rc, json_t *answer, const berth_error *err, void *data) {
  cz_images *im = data;
  im->req = NULL;
  const char *root = json_string_value(json_object_get(answer, "DockerRootDir"));
  if (rc < 0 || !root || root[0] != '/') {
    log_warn("image gc: docker info: %s", rc < 0 ? err->msg : "no DockerRootDir");
    end_run(im);
    return;
  }
  free(im->root_dir);
  im->root_dir = berth_strdup(root);
  check_disk(im);
}

static void start_next(cz_images *im) {
  if (im->run || !im->queue) return;
  gc_run *r = im->queue;
  im->queue = r->queue_next;
  if (!im->queue) im->queue_last = NULL;
  r->queue_next = NULL;
  im->run = r;
  if (r->automatic) {
    im->req = berth_docker_info(im->cz->docker, info_cb, im);
    return;
  }
  im->cz->metrics.image_prunes++;
  choose(im);
  next_removal(im);
}

static void enqueue(cz_images *im, gc_run *r) {
  if (im->queue_last)
    im->queue_last->queue_next = r;
  else
    im->queue = r;
  im->queue_last = r;
  start_next(im);
}

static gc_run *run_new(bool automatic) {
  gc_run *r = berth_calloc(1, sizeof(*r));
  r->automatic = automatic;
  r->removed = json_array();
  r->kept = json_array();
  return r;
}

static void tick_cb(uv_timer_t *timer) {
  cz_images *im = timer->data;
  /* A collection still under way is enough. */
  if (im->run || im->queue) return;
  enqueue(im, run_new(true));
}

int berth_cz_prune_images(berth_containerizer *cz, const char *const *excluded_names, berth_cz_pruned_cb cb, void *data,
                          berth_error *err) {
  cz_images *im = cz->images;
  if (!im) return berth_error_set(err, BERTH_EUNAVAIL, "image collection is not running");
  gc_run *r = run_new(false);
  size_t n = 0;
  while (excluded_names && excluded_names[n]) n++;
  r->excluded = berth_calloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) r->excluded[i] = berth_strdup(excluded_names[i]);
  r->cb = cb;
  r->data = data;
  enqueue(im, r);
  return 0;
}

void cz_images_forget(berth_containerizer *cz, void *data) {
  cz_images *im = cz->images;
  if (!im) return;
  if (im->run && im->run->data == data) im->run->cb = NULL;
  for (gc_run *r = im->queue; r; r = r->queue_next)
    if (r->data == data) r->cb = NULL;
}

typedef struct list_ctx {
  berth_containerizer *cz;
  json_t *list;
} list_ctx;

static void list_row_cb(const berth_image_record *rec, void *data) {
  list_ctx *l = data;
  /* The id came from docker: each string goes through berth_json_text. */
  json_t *j = json_object();
  json_object_set_new(j, "name", berth_json_text(rec->name));
  json_object_set_new(j, "docker_id", berth_json_text(rec->docker_id));
  json_object_set_new(j, "pulled_at", json_real(rec->pulled_at));
  json_object_set_new(j, "last_used", json_real(rec->last_used));
  json_object_set_new(j, "in_use", json_boolean(image_in_use(l->cz, rec->name)));
  json_array_append_new(l->list, j);
}

int berth_cz_images(berth_containerizer *cz, json_t **out, berth_error *err) {
  list_ctx l = {cz, json_array()};
  if (berth_store_images_load(cz->store, list_row_cb, &l, err) < 0) {
    json_decref(l.list);
    return err->code;
  }
  *out = l.list;
  return 0;
}

void cz_images_start(berth_containerizer *cz) {
  if (cz->images) return;
  cz_images *im = berth_calloc(1, sizeof(*im));
  im->cz = cz;
  uv_timer_init(cz->loop, &im->timer);
  im->timer.data = im;
  cz->images = im;
  uint64_t every_ms = (uint64_t)(cz->config.image_gc_interval_ns / 1000000);
  if (every_ms > 0) uv_timer_start(&im->timer, tick_cb, every_ms, every_ms);
}

static void images_closed_cb(uv_handle_t *handle) {
  cz_images *im = handle->data;
  free(im->root_dir);
  free(im);
}

void cz_images_close(berth_containerizer *cz) {
  cz_images *im = cz->images;
  if (!im) return;
  cz->images = NULL;
  berth_docker_cancel(im->req);
  im->req = NULL;
  /* A statvfs on the thread pool finds cz->closing and frees itself. */
  if (im->run) run_free(im->run);
  while (im->queue) {
    gc_run *r = im->queue;
    im->queue = r->queue_next;
    run_free(r);
  }
  for (container *c = im->held; c; c = c->held_next) c->image_held = false;
  uv_close((uv_handle_t *)&im->timer, images_closed_cb);
}
