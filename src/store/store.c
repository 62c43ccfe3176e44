#include "store/store.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/internal.h"
#include "util/alloc.h"

static int db_error(berth_store *store, berth_error *err, const char *what) {
  return berth_error_set(err, BERTH_ESTORE, "%s: %s", what, sqlite3_errmsg(store->db));
}

/* Each migration moves the schema up by one version, in one transaction. */
static const char *const migrations[] = {
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE containers ("
    "  id TEXT PRIMARY KEY, stage TEXT NOT NULL, docker_name TEXT NOT NULL,"
    "  docker_id TEXT, image TEXT NOT NULL, launch TEXT NOT NULL, termination TEXT,"
    "  created_at REAL NOT NULL, finished_at REAL NOT NULL DEFAULT 0,"
    "  seq INTEGER NOT NULL);",
    /* 2: GPU allocations, so they survive a restart. */
    "ALTER TABLE containers ADD COLUMN gpus TEXT NOT NULL DEFAULT '';",
    /* 3: when the container reached RUNNING, so time limits counted from
     * it (max_completion_time) hold across a restart. */
    "ALTER TABLE containers ADD COLUMN running_at REAL NOT NULL DEFAULT 0;",
    /* 4: output rotation state per stream (bytes rotated out, inode being
     * rotated), so a restart counts every byte already written. */
    "ALTER TABLE containers ADD COLUMN outputs TEXT;",
    /* 5: a client bound itself to the container (WAIT_CONTAINER with
     * kill_on_disconnect), so that after a restart berthd gives it
     * --bound_client_timeout to come back. */
    "ALTER TABLE containers ADD COLUMN bound INTEGER NOT NULL DEFAULT 0;",
    /* 6: the images berthd itself pulled (store/images.h), so image
     * collection never touches one it did not bring onto the node. */
    "CREATE TABLE images (name TEXT PRIMARY KEY, docker_id TEXT NOT NULL DEFAULT '',"
    "  pulled_at REAL NOT NULL, last_used REAL NOT NULL);",
};

static int exec(berth_store *store, const char *sql, berth_error *err) {
  char *msg = NULL;
  if (sqlite3_exec(store->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    berth_error_set(err, BERTH_ESTORE, "sqlite: %s", msg ? msg : "unknown error");
    sqlite3_free(msg);
    return BERTH_ESTORE;
  }
  return 0;
}

static int migrate(berth_store *store, berth_error *err) {
  int version = 0;
  {
    cleanup_stmt sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(store->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
      return db_error(store, err, "read schema version");
    if (sqlite3_step(s) == SQLITE_ROW) version = sqlite3_column_int(s, 0);
  }
  int target = (int)(sizeof(migrations) / sizeof(migrations[0]));
  if (version > target)
    return berth_error_set(err, BERTH_ESTORE, "database schema version %d is newer than this berthd (%d)", version,
                           target);
  for (; version < target; version++) {
    cleanup_free char *sql =
        berth_asprintf("BEGIN; %s PRAGMA user_version = %d; COMMIT;", migrations[version], version + 1);
    if (exec(store, sql, err) < 0) {
      exec(store, "ROLLBACK", NULL);
      return berth_error_prefix(err, "migrate schema to version %d", version + 1);
    }
  }
  return 0;
}

/* The records hold launch environments, which may carry secrets: the
 * database and its -wal/-shm/-journal files are 0600 in a 0700 directory,
 * whatever an older berthd or the umask left.  SQLite gives the files it
 * creates the database file's mode, so the database is made 0600 first. */
static int close_state_files(const char *path, berth_error *err) {
  cleanup_free char *dir = berth_strdup(path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = '\0';
    if (chmod(dir, 0700) < 0) return berth_error_errno(err, errno, "chmod 0700 '%s'", dir);
  }
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    cleanup_free char *p = berth_asprintf("%s%s", path, suffixes[i]);
    int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (i == 0 ? O_CREAT : 0);
    cleanup_close int fd = open(p, flags, 0600);
    if (fd < 0 && errno == ENOENT) continue;
    if (fd < 0) return berth_error_errno(err, errno, "open '%s'", p);
    if (fchmod(fd, 0600) < 0) return berth_error_errno(err, errno, "chmod 0600 '%s'", p);
  }
  return 0;
}

int berth_store_open(const char *path, berth_store **out, berth_error *err) {
  if (close_state_files(path, err) < 0) {
    berth_error_prefix(err, "open database '%s'", path);
    if (err) err->code = BERTH_ESTORE;
    return BERTH_ESTORE;
  }
  berth_store *store = berth_calloc(1, sizeof(*store));
  int rc;
  if (sqlite3_open_v2(path, &store->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
      SQLITE_OK) {
    rc = berth_error_set(err, BERTH_ESTORE, "open database '%s': %s", path,
                         store->db ? sqlite3_errmsg(store->db) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(store->db, 5000);
  /* WAL, FULL until the schema and the meta rows are in; puts then pick
   * their level (durability, below). */
  if ((rc = exec(store, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", err)) < 0) goto fail;
  store->synced = true;
  if ((rc = migrate(store, err)) < 0) goto fail;
  if (sqlite3_prepare_v2(
          store->db,
          "INSERT INTO containers (id, stage, docker_name, docker_id, image, launch, termination,"
          " created_at, finished_at, gpus, running_at, outputs, bound, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
          " ?9, ?10, ?11, ?12, ?13,"
          " coalesce((SELECT max(seq) FROM containers), 0) + 1)"
          " ON CONFLICT(id) DO UPDATE SET stage=?2, docker_name=?3, docker_id=?4, image=?5,"
          " launch=?6, termination=?7, created_at=?8, finished_at=?9, gpus=?10, running_at=?11, outputs=?12,"
          " bound=?13",
          -1, &store->put, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(store->db, "DELETE FROM containers WHERE id = ?1", -1, &store->del, NULL) != SQLITE_OK) {
    rc = db_error(store, err, "prepare statements");
    goto fail;
  }
  *out = store;
  return 0;
fail:
  berth_store_close(store);
  return rc;
}

void berth_store_close(berth_store *store) {
  if (!store) return;
  sqlite3_finalize(store->put);
  sqlite3_finalize(store->del);
  sqlite3_close(store->db);
  free(store);
}

static void bind_text(sqlite3_stmt *s, int i, const char *v) {
  if (v)
    sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(s, i);
}

/* Durability (docs/recovery.md): in WAL mode every commit is in the WAL
 * file before it returns, so a kill -9 of berthd loses nothing at either
 * level.  FULL adds an fsync of the WAL, which only a power loss or a
 * kernel crash needs; the WAL is appended in order and checksummed, so
 * after one the surviving commits are a prefix of those made.  A stage a
 * client is told of (RUNNING answers a LAUNCH, TERMINATED a WAIT) is made
 * durable, and with it everything written before, and so is any rewrite
 * of a record at those stages (output rotation state, an UPDATE); the
 * stages in between (FETCHING .. MOUNTING, the docker id, DESTROYING) and
 * deletions are not, which spares a launch four of its five fsyncs on the
 * loop. */
static void set_synced(berth_store *store, bool synced) {
  if (store->synced == synced) return;
  if (exec(store, synced ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", NULL) == 0) store->synced = synced;
}

static bool told_stage(const char *stage) {
  return stage && (!strcmp(stage, "RUNNING") || !strcmp(stage, "TERMINATED"));
}

int berth_store_put(berth_store *store, const berth_record *rec, berth_error *err) {
  cleanup_free char *launch = rec->launch ? json_dumps(rec->launch, JSON_COMPACT) : berth_strdup("{}");
  cleanup_free char *term = rec->termination ? json_dumps(rec->termination, JSON_COMPACT) : NULL;
  sqlite3_stmt *s = store->put;
  sqlite3_reset(s);
  bind_text(s, 1, rec->id);
  bind_text(s, 2, rec->stage);
  bind_text(s, 3, rec->docker_name);
  bind_text(s, 4, rec->docker_id);
  bind_text(s, 5, rec->image);
  bind_text(s, 6, launch);
  bind_text(s, 7, term);
  sqlite3_bind_double(s, 8, rec->created_at);
  sqlite3_bind_double(s, 9, rec->finished_at);
  bind_text(s, 10, rec->gpus ? rec->gpus : "");
  sqlite3_bind_double(s, 11, rec->running_at);
  cleanup_free char *outputs = rec->outputs ? json_dumps(rec->outputs, JSON_COMPACT) : NULL;
  bind_text(s, 12, outputs);
  sqlite3_bind_int(s, 13, rec->bound ? 1 : 0);
  set_synced(store, told_stage(rec->stage));
  int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_error(store, err, "save container");
  sqlite3_reset(s);
  return rc;
}

int berth_store_delete(berth_store *store, const char *id, berth_error *err) {
  sqlite3_stmt *s = store->del;
  set_synced(store, false);
  sqlite3_reset(s);
  bind_text(s, 1, id);
  int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_error(store, err, "delete container");
  sqlite3_reset(s);
  return rc;
}

int berth_store_load(berth_store *store, berth_store_row_cb cb, void *data, berth_error *err) {
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(store->db,
                         "SELECT id, stage, docker_name, docker_id, image, launch, termination, created_at,"
                         " finished_at, gpus, running_at, outputs, bound FROM containers ORDER BY seq",
                         -1, &s, NULL) != SQLITE_OK)
    return db_error(store, err, "load containers");
  int step;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    berth_record rec = {
        .id = (const char *)sqlite3_column_text(s, 0),
        .stage = (const char *)sqlite3_column_text(s, 1),
        .docker_name = (const char *)sqlite3_column_text(s, 2),
        .docker_id = (const char *)sqlite3_column_text(s, 3),
        .image = (const char *)sqlite3_column_text(s, 4),
        .created_at = sqlite3_column_double(s, 7),
        .finished_at = sqlite3_column_double(s, 8),
        .gpus = (const char *)sqlite3_column_text(s, 9),
        .running_at = sqlite3_column_double(s, 10),
        .bound = sqlite3_column_int(s, 12) != 0,
    };
    const char *launch = (const char *)sqlite3_column_text(s, 5);
    const char *term = (const char *)sqlite3_column_text(s, 6);
    rec.launch = launch ? json_loads(launch, 0, NULL) : NULL;
    rec.termination = term ? json_loads(term, 0, NULL) : NULL;
    const char *outputs = (const char *)sqlite3_column_text(s, 11);
    rec.outputs = outputs ? json_loads(outputs, 0, NULL) : NULL;
    cb(&rec, data);
    json_decref(rec.launch);
    json_decref(rec.termination);
    json_decref(rec.outputs);
  }
  return step == SQLITE_DONE ? 0 : db_error(store, err, "load containers");
}

int berth_store_meta_get(berth_store *store, const char *key, char **out, berth_error *err) {
  cleanup_stmt sqlite3_stmt *s = NULL;
  *out = NULL;
  if (sqlite3_prepare_v2(store->db, "SELECT value FROM meta WHERE key = ?1", -1, &s, NULL) != SQLITE_OK)
    return db_error(store, err, "read meta");
  bind_text(s, 1, key);
  /* A busy or broken database is an error, not a missing key: taking it
   * for one would, for the agent id, invent a new id over the old. */
  int step = sqlite3_step(s);
  if (step == SQLITE_DONE) return 0;
  if (step != SQLITE_ROW) return db_error(store, err, "read meta");
  const char *value = (const char *)sqlite3_column_text(s, 0);
  if (!value) return db_error(store, err, "read meta");
  *out = berth_strdup(value);
  return 0;
}

int berth_store_meta_set(berth_store *store, const char *key, const char *value, berth_error *err) {
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(store->db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", -1, &s, NULL) !=
      SQLITE_OK)
    return db_error(store, err, "write meta");
  set_synced(store, true); /* the agent id: written once, kept for good */
  bind_text(s, 1, key);
  bind_text(s, 2, value);
  return sqlite3_step(s) == SQLITE_DONE ? 0 : db_error(store, err, "write meta");
}
