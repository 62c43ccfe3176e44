/* Durable state in SQLite (WAL; FULL for the stages a client is told of,
 * NORMAL otherwise, see store.c): one row per container
 * known to berthd, written before the side effect that follows each stage
 * change, so a crash leaves a state recovery can finish or undo.
 * Loop thread only; every call is a short local transaction. */
#ifndef BERTH_STORE_STORE_H
#define BERTH_STORE_STORE_H

#include <jansson.h>
#include <stdbool.h>

#include "util/error.h"

#define BERTH_STORE_SCHEMA_VERSION 6

typedef struct berth_store berth_store;

typedef struct berth_record {
  const char *id;
  const char *stage;
  const char *docker_name;
  const char *docker_id; /* NULL until created */
  const char *image;
  json_t *launch;      /* the launch_container object as received */
  json_t *termination; /* NULL until terminated */
  double created_at;
  double finished_at; /* 0 until terminated */
  const char *gpus;   /* allocated GPU minors, "0,1"; "" for none */
  double running_at;  /* when it reached RUNNING; 0 before */
  json_t *outputs;    /* output rotation state, {"stdout": {"rotated": N, "ino": I}, ...}; NULL: none */
  bool bound;         /* a client bound itself (WAIT with kill_on_disconnect) */
} berth_record;

/* Opens (creating and migrating) the database at path. */
int berth_store_open(const char *path, berth_store **out, berth_error *err);
void berth_store_close(berth_store *store);

/* Inserts or replaces the row of rec->id. */
int berth_store_put(berth_store *store, const berth_record *rec, berth_error *err);
int berth_store_delete(berth_store *store, const char *id, berth_error *err);

/* Calls cb for every row in creation order; the record is valid only
 * during the call. */
typedef void (*berth_store_row_cb)(const berth_record *rec, void *data);
int berth_store_load(berth_store *store, berth_store_row_cb cb, void *data, berth_error *err);

/* Small key/value table (agent id, schema version).  *out is malloc'd,
 * NULL when absent. */
int berth_store_meta_get(berth_store *store, const char *key, char **out, berth_error *err);
int berth_store_meta_set(berth_store *store, const char *key, const char *value, berth_error *err);

#endif
