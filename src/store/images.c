/* Rows of the images table (store/images.h). */
#include "store/images.h"

#include "store/internal.h"

static int db_error(berth_store *store, berth_error *err, const char *what) {
  return berth_error_set(err, BERTH_ESTORE, "%s: %s", what, sqlite3_errmsg(store->db));
}

static int prepare(berth_store *store, const char *sql, sqlite3_stmt **s, const char *what, berth_error *err) {
  if (sqlite3_prepare_v2(store->db, sql, -1, s, NULL) != SQLITE_OK) return db_error(store, err, what);
  return 0;
}

int berth_store_image_pulled(berth_store *store, const char *name, const char *docker_id, double now,
                             berth_error *err) {
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (prepare(store,
              "INSERT INTO images (name, docker_id, pulled_at, last_used) VALUES (?1, ?2, ?3, ?3)"
              " ON CONFLICT(name) DO UPDATE SET docker_id = ?2, pulled_at = ?3, last_used = ?3",
              &s, "record pulled image", err) < 0)
    return err->code;
  sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 2, docker_id ? docker_id : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(s, 3, now);
  return sqlite3_step(s) == SQLITE_DONE ? 0 : db_error(store, err, "record pulled image");
}

int berth_store_image_used(berth_store *store, const char *name, double now, bool *recorded, berth_error *err) {
  cleanup_stmt sqlite3_stmt *s = NULL;
  *recorded = false;
  if (prepare(store, "UPDATE images SET last_used = ?2 WHERE name = ?1", &s, "record image use", err) < 0)
    return err->code;
  sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(s, 2, now);
  if (sqlite3_step(s) != SQLITE_DONE) return db_error(store, err, "record image use");
  *recorded = sqlite3_changes(store->db) > 0;
  return 0;
}

int berth_store_image_forget(berth_store *store, const char *name, berth_error *err) {
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (prepare(store, "DELETE FROM images WHERE name = ?1", &s, "forget image", err) < 0) return err->code;
  sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
  return sqlite3_step(s) == SQLITE_DONE ? 0 : db_error(store, err, "forget image");
}

int berth_store_images_load(berth_store *store, berth_store_image_cb cb, void *data, berth_error *err) {
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (prepare(store, "SELECT name, docker_id, pulled_at, last_used FROM images ORDER BY last_used, name", &s,
              "load images", err) < 0)
    return err->code;
  int step;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(s, 0);
    const char *id = (const char *)sqlite3_column_text(s, 1);
    if (!name) continue;
    berth_image_record rec = {
        .name = name,
        .docker_id = id ? id : "",
        .pulled_at = sqlite3_column_double(s, 2),
        .last_used = sqlite3_column_double(s, 3),
    };
    cb(&rec, data);
  }
  return step == SQLITE_DONE ? 0 : db_error(store, err, "load images");
}
