/* The containerizer's events, for SUBSCRIBE: each one is built here as the
 * record the stream sends, and handed to the one observer (api/). */
#include <jansson.h>

#include "containerizer/container.h"
#include "util/text.h"

void berth_cz_observe(berth_containerizer *cz, berth_cz_event_cb cb, void *data) {
  cz->event_cb = cb;
  cz->event_data = data;
}

static json_t *id_json(const char *id) {
  json_t *cid = json_object();
  json_object_set_new(cid, "value", berth_json_text(id));
  return cid;
}

/* Takes body; wraps it as {"type": type, "<lower type>": body}. */
static void emit(berth_containerizer *cz, const char *type, const char *key, json_t *body) {
  if (!cz->event_cb || cz->closing) {
    json_decref(body);
    return;
  }
  json_t *event = json_object();
  json_object_set_new(event, "type", json_string(type));
  json_object_set_new(event, key, body);
  cz->event_cb(event, cz->event_data);
  json_decref(event);
}

void cz_emit_stage(container *c) {
  json_t *body = json_object();
  json_object_set_new(body, "container_id", id_json(c->id));
  json_object_set_new(body, "stage", json_string(berth_stage_name(c->stage)));
  emit(c->cz, "STAGE_CHANGED", "stage_changed", body);
}

void cz_emit_terminated(container *c) {
  json_t *body = json_object();
  json_object_set_new(body, "container_id", id_json(c->id));
  json_object_set(body, "termination", c->termination);
  emit(c->cz, "TERMINATED", "terminated", body);
}

void cz_emit_removed(berth_containerizer *cz, const char *id) {
  json_t *body = json_object();
  json_object_set_new(body, "container_id", id_json(id));
  emit(cz, "REMOVED", "removed", body);
}

void cz_emit_health(container *c, json_t *health) {
  json_t *body = json_object();
  json_object_set_new(body, "container_id", id_json(c->id));
  json_object_set(body, "health", health);
  emit(c->cz, "HEALTH_CHANGED", "health_changed", body);
}
