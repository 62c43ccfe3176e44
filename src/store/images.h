/* The images berthd itself pulled (schema version 5): what image
 * collection (PRUNE_IMAGES and the automatic one) may remove.  dockerd may
 * be shared, so an image without a row here is never touched.
 * Loop thread only; every call is a short local transaction. */
#ifndef BERTH_STORE_IMAGES_H
#define BERTH_STORE_IMAGES_H

#include <stdbool.h>

#include "store/store.h"
#include "util/error.h"

typedef struct berth_image_record {
  const char *name;      /* the reference as launched ("127.0.0.1:5000/app:1") */
  const char *docker_id; /* "sha256:..."; "" when docker did not say */
  double pulled_at;      /* when berthd's pull of it ended */
  double last_used;      /* the last launch that used it (its pull included) */
} berth_image_record;

/* berthd's pull brought name onto the node: inserts or replaces its row,
 * with pulled_at and last_used both now. */
int berth_store_image_pulled(berth_store *store, const char *name, const char *docker_id, double now, berth_error *err);

/* A launch uses name: moves its last_used to now when it has a row
 * (*recorded says whether it had; an image berthd did not pull gets
 * none). */
int berth_store_image_used(berth_store *store, const char *name, double now, bool *recorded, berth_error *err);

/* Drops the row of name (removed, or no longer berthd's); none is fine. */
int berth_store_image_forget(berth_store *store, const char *name, berth_error *err);

/* Calls cb for every row, least recently used first (ties by name); the
 * record is valid only during the call. */
typedef void (*berth_store_image_cb)(const berth_image_record *rec, void *data);
int berth_store_images_load(berth_store *store, berth_store_image_cb cb, void *data, berth_error *err);

#endif
