#include "api/subscribe.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/log.h"
#include "util/recordio.h"

typedef struct subscriber {
  berth_subscribers *subs;
  berth_http_stream *stream;
  uint64_t id; /* for log lines */
  struct subscriber *next, *prev;
} subscriber;

struct berth_subscribers {
  uv_loop_t *loop;
  berth_containerizer *cz;
  berth_subscribe_config config;
  uv_timer_t heartbeat;
  subscriber *head;
  size_t n;
  uint64_t seq;
  uint64_t dropped;
  bool closing;
};

static void unlink_sub(subscriber *s) {
  berth_subscribers *subs = s->subs;
  if (s->prev)
    s->prev->next = s->next;
  else
    subs->head = s->next;
  if (s->next) s->next->prev = s->prev;
  subs->n--;
  if (subs->n == 0) uv_timer_stop(&subs->heartbeat);
}

/* A reader that fell behind by the whole queue: closed at once, so it
 * costs nothing more.  It learns of the drop from the closed connection
 * (berth events says so) and may subscribe again. */
static void drop(subscriber *s, size_t len) {
  berth_subscribers *subs = s->subs;
  subs->dropped++;
  log_warn("subscriber %llu: dropped: it reads too slowly (a %zu-byte record would overflow its %zu-byte queue)",
           (unsigned long long)s->id, len, subs->config.queue_size);
  unlink_sub(s);
  berth_http_stream_close(s->stream, true);
  free(s);
}

/* The connection ended: the client left, or was dropped (then it was
 * unlinked already and this does not run). */
static void stream_closed_cb(berth_http_stream *stream, void *data) {
  subscriber *s = data;
  log_info("subscriber %llu: connection closed", (unsigned long long)s->id);
  unlink_sub(s);
  berth_http_stream_close(stream, false);
  free(s);
}

/* One framed record to every subscriber, in the order of the calls. */
static void broadcast(berth_subscribers *subs, const char *rec, size_t len) {
  for (subscriber *s = subs->head, *next; s; s = next) {
    next = s->next;
    if (berth_http_stream_write(s->stream, rec, len, false) == BERTH_ETOOBIG) drop(s, len);
    /* BERTH_ECANCELED: the connection is going; its closed callback comes. */
  }
}

static char *frame_json(json_t *record, size_t *len) {
  cleanup_free char *text = json_dumps(record, JSON_COMPACT);
  if (!text) return NULL; /* the builders store no NULL; cannot happen */
  return berth_recordio_frame(text, strlen(text), len);
}

static void event_cb(json_t *event, void *data) {
  berth_subscribers *subs = data;
  if (!subs->head) return;
  size_t len;
  cleanup_free char *rec = frame_json(event, &len);
  if (!rec) {
    log_error("subscribers: an event could not be encoded; not sent");
    return;
  }
  broadcast(subs, rec, len);
}

static void heartbeat_cb(uv_timer_t *timer) {
  static const char rec[] = "20\n{\"type\":\"HEARTBEAT\"}";
  broadcast(timer->data, rec, sizeof(rec) - 1);
}

berth_subscribers *berth_subscribers_new(uv_loop_t *loop, berth_containerizer *cz,
                                         const berth_subscribe_config *config) {
  berth_subscribers *subs = berth_calloc(1, sizeof(*subs));
  subs->loop = loop;
  subs->cz = cz;
  subs->config = *config;
  if (subs->config.heartbeat_ms == 0) subs->config.heartbeat_ms = 1;
  uv_timer_init(loop, &subs->heartbeat);
  subs->heartbeat.data = subs;
  berth_cz_observe(cz, event_cb, subs);
  return subs;
}

static void subs_closed_cb(uv_handle_t *handle) { free(handle->data); }

void berth_subscribers_free(berth_subscribers *subs) {
  if (!subs) return;
  subs->closing = true;
  berth_cz_observe(subs->cz, NULL, NULL);
  while (subs->head) {
    subscriber *s = subs->head;
    unlink_sub(s);
    berth_http_stream_close(s->stream, false);
    free(s);
  }
  uv_close((uv_handle_t *)&subs->heartbeat, subs_closed_cb);
}

void berth_subscribers_add(berth_subscribers *subs, berth_http_request *req) {
  if (subs->closing) {
    berth_http_respond_error(req, 503, "berthd is shutting down");
    return;
  }
  if (subs->n >= BERTH_SUBSCRIBERS_MAX) {
    char msg[96];
    snprintf(msg, sizeof(msg), "too many subscribers (at most %d); retry later", BERTH_SUBSCRIBERS_MAX);
    berth_http_respond_error(req, 503, msg);
    return;
  }
  /* The snapshot is built before the stream exists: no event can come
   * between the two on this thread, so the stream goes on from it. */
  json_t *first =
      json_pack("{s:s,s:{s:o}}", "type", "SUBSCRIBED", "subscribed", "containers", berth_cz_containers(subs->cz));
  size_t len;
  cleanup_free char *rec = frame_json(first, &len);
  json_decref(first);
  if (!rec) {
    berth_http_respond_error(req, 500, "subscribe: the container list could not be encoded");
    return;
  }
  subscriber *s = berth_calloc(1, sizeof(*s));
  s->subs = subs;
  s->id = ++subs->seq;
  berth_http_stream_opts opts = {
      .content_type = "application/recordio",
      .queue_limit = subs->config.queue_size,
      .sndbuf = BERTH_SUBSCRIBER_SNDBUF,
      .closed_cb = stream_closed_cb,
      .data = s,
  };
  s->stream = berth_http_respond_stream(req, &opts);
  s->next = subs->head;
  if (subs->head) subs->head->prev = s;
  subs->head = s;
  subs->n++;
  /* Exempt from the bound: the list may be longer than any queue. */
  berth_http_stream_write(s->stream, rec, len, true);
  if (!uv_is_active((uv_handle_t *)&subs->heartbeat))
    uv_timer_start(&subs->heartbeat, heartbeat_cb, subs->config.heartbeat_ms, subs->config.heartbeat_ms);
  log_info("subscriber %llu: subscribed (%zu now)", (unsigned long long)s->id, subs->n);
}

size_t berth_subscribers_count(const berth_subscribers *subs) { return subs ? subs->n : 0; }

uint64_t berth_subscribers_dropped(const berth_subscribers *subs) { return subs ? subs->dropped : 0; }
