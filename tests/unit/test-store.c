/* Unit tests for store/store: the SQLite records berthd recovers from. */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <unistd.h>

#include "testutil.h"

#include "store/images.h"
#include "store/store.h"

typedef struct fixture {
  char dir[PATH_MAX];
  char db[PATH_MAX + 16];
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof(*fx));
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->dir, sizeof(fx->dir), "%s/berth-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(fx->dir)) return -1;
  snprintf(fx->db, sizeof(fx->db), "%s/berth.db", fx->dir);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof(p), "%s%s", fx->db, suffixes[i]);
    unlink(p);
  }
  int rc = rmdir(fx->dir);
  free(fx);
  return rc;
}

static berth_store *open_store(const fixture *fx) {
  berth_store *store = NULL;
  berth_error err = {0};
  if (berth_store_open(fx->db, &store, &err) != 0) fail_msg("open: %s", err.msg);
  assert_non_null(store);
  return store;
}

/* Loaded rows, copied out of the callback. */
typedef struct row {
  char id[80], stage[32], docker_name[128], docker_id[80], image[128];
  bool has_docker_id;
  char *launch, *termination, *outputs; /* compact JSON or NULL */
  double created_at, finished_at, running_at;
  bool bound;
} row;

typedef struct rows {
  row r[16];
  int n;
} rows;

static void copy(char *dst, size_t len, const char *src) { snprintf(dst, len, "%s", src ? src : ""); }

static void load_cb(const berth_record *rec, void *data) {
  rows *rs = data;
  assert_true(rs->n < 16);
  row *r = &rs->r[rs->n++];
  copy(r->id, sizeof(r->id), rec->id);
  copy(r->stage, sizeof(r->stage), rec->stage);
  copy(r->docker_name, sizeof(r->docker_name), rec->docker_name);
  copy(r->docker_id, sizeof(r->docker_id), rec->docker_id);
  r->has_docker_id = rec->docker_id != NULL;
  copy(r->image, sizeof(r->image), rec->image);
  r->launch = rec->launch ? json_dumps(rec->launch, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  r->termination = rec->termination ? json_dumps(rec->termination, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  r->created_at = rec->created_at;
  r->finished_at = rec->finished_at;
  r->running_at = rec->running_at;
  r->bound = rec->bound;
  r->outputs = rec->outputs ? json_dumps(rec->outputs, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

static void rows_free(rows *rs) {
  for (int i = 0; i < rs->n; i++) {
    free(rs->r[i].launch);
    free(rs->r[i].termination);
    free(rs->r[i].outputs);
  }
  rs->n = 0;
}

static void load(berth_store *store, rows *rs) {
  berth_error err = {0};
  rows_free(rs);
  if (berth_store_load(store, load_cb, rs, &err) != 0) fail_msg("load: %s", err.msg);
}

static void put(berth_store *store, const char *id, const char *stage, const char *docker_id, json_t *term,
                double created) {
  json_t *launch =
      json_pack("{s:{s:s},s:{s:{s:s}}}", "container_id", "value", id, "container", "docker", "image", "busybox:local");
  char name[128];
  snprintf(name, sizeof(name), "berth-a1.%s", id);
  berth_record rec = {
      .id = id,
      .stage = stage,
      .docker_name = name,
      .docker_id = docker_id,
      .image = "busybox:local",
      .launch = launch,
      .termination = term,
      .created_at = created,
      .finished_at = term ? created + 10 : 0,
      .running_at = strcmp(stage, "RUNNING") ? 0 : created + 5,
  };
  berth_error err = {0};
  int rc = berth_store_put(store, &rec, &err);
  json_decref(launch);
  if (rc != 0) fail_msg("put %s: %s", id, err.msg);
}

static void running_at_round_trips(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  put(store, "web-1", "RUNNING", "abc", NULL, 1764025200.25);
  put(store, "web-2", "PULLING", NULL, NULL, 1764025200.25);
  berth_store_close(store);
  store = open_store(fx);
  rows rs = {0};
  load(store, &rs);
  assert_int_equal(rs.n, 2);
  tu_assert_double_eq(rs.r[0].running_at, 1764025205.25);
  tu_assert_double_eq(rs.r[1].running_at, 0);
  rows_free(&rs);
  berth_store_close(store);
}

static void outputs_rotation_state_round_trips(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  json_t *outputs = json_pack("{s:{s:I,s:I}}", "stdout", "rotated", (json_int_t)3145728, "ino", (json_int_t)42);
  berth_record rec = {.id = "web-1",
                      .stage = "RUNNING",
                      .docker_name = "berth-a1.web-1",
                      .image = "busybox:local",
                      .created_at = 1.0,
                      .outputs = outputs};
  berth_error err = {0};
  if (berth_store_put(store, &rec, &err) != 0) fail_msg("put: %s", err.msg);
  json_decref(outputs);
  berth_store_close(store);
  store = open_store(fx);
  rows rs = {0};
  load(store, &rs);
  assert_int_equal(rs.n, 1);
  assert_non_null(rs.r[0].outputs);
  assert_string_equal(rs.r[0].outputs, "{\"stdout\":{\"ino\":42,\"rotated\":3145728}}");
  rows_free(&rs);
  berth_store_close(store);
}

static void bound_flag_round_trips(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  berth_record rec = {
      .id = "web-1", .stage = "RUNNING", .docker_name = "berth-a1.web-1", .image = "busybox:local", .bound = true};
  berth_error err = {0};
  if (berth_store_put(store, &rec, &err) != 0) fail_msg("put: %s", err.msg);
  put(store, "web-2", "RUNNING", "abc", NULL, 2.0);
  berth_store_close(store);
  store = open_store(fx);
  rows rs = {0};
  load(store, &rs);
  assert_int_equal(rs.n, 2);
  assert_true(rs.r[0].bound);
  assert_false(rs.r[1].bound);
  rows_free(&rs);
  berth_store_close(store);
}

static void open_creates_database(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  assert_int_equal(access(fx->db, F_OK), 0);
  rows rs = {0};
  load(store, &rs);
  assert_int_equal(rs.n, 0);
  berth_store_close(store);
}

static void put_then_load_returns_every_field(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  json_t *term = json_pack("{s:s,s:i}", "state", "TASK_FAILED", "exit_status", 256);
  put(store, "web-1", "TERMINATED", "abc123", term, 1764025200.5);
  json_decref(term);
  rows rs = {0};
  load(store, &rs);
  assert_int_equal(rs.n, 1);
  row *r = &rs.r[0];
  assert_string_equal(r->id, "web-1");
  assert_string_equal(r->stage, "TERMINATED");
  assert_string_equal(r->docker_name, "berth-a1.web-1");
  assert_true(r->has_docker_id);
  assert_string_equal(r->docker_id, "abc123");
  assert_string_equal(r->image, "busybox:local");
  assert_string_equal(
      r->launch, "{\"container\":{\"docker\":{\"image\":\"busybox:local\"}},\"container_id\":{\"value\":\"web-1\"}}");
  assert_string_equal(r->termination, "{\"exit_status\":256,\"state\":\"TASK_FAILED\"}");
  tu_assert_double_eq(r->created_at, 1764025200.5);
  tu_assert_double_eq(r->finished_at, 1764025210.5);
  rows_free(&rs);
  berth_store_close(store);
}

static void null_docker_id_and_termination_load_as_null(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  put(store, "web-1", "PULLING", NULL, NULL, 1.0);
  rows rs = {0};
  load(store, &rs);
  assert_int_equal(rs.n, 1);
  assert_false(rs.r[0].has_docker_id);
  assert_null(rs.r[0].termination);
  tu_assert_double_eq(rs.r[0].finished_at, 0);
  rows_free(&rs);
  berth_store_close(store);
}

static void put_without_launch_stores_empty_object(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  berth_record rec = {.id = "x", .stage = "FETCHING", .docker_name = "berth-a1.x", .image = "busybox"};
  berth_error err = {0};
  assert_int_equal(berth_store_put(store, &rec, &err), 0);
  rows rs = {0};
  load(store, &rs);
  assert_int_equal(rs.n, 1);
  assert_string_equal(rs.r[0].launch, "{}");
  rows_free(&rs);
  berth_store_close(store);
}

static void load_keeps_creation_order(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  put(store, "zeta", "RUNNING", NULL, NULL, 3);
  put(store, "alpha", "RUNNING", NULL, NULL, 1);
  put(store, "mid", "RUNNING", NULL, NULL, 2);
  rows rs = {0};
  load(store, &rs);
  assert_int_equal(rs.n, 3);
  assert_string_equal(rs.r[0].id, "zeta");
  assert_string_equal(rs.r[1].id, "alpha");
  assert_string_equal(rs.r[2].id, "mid");
  rows_free(&rs);
  berth_store_close(store);
}

static void update_upserts_and_keeps_order(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  put(store, "a", "PULLING", NULL, NULL, 1);
  put(store, "b", "PULLING", NULL, NULL, 2);
  put(store, "c", "PULLING", NULL, NULL, 3);
  json_t *term = json_pack("{s:s}", "state", "TASK_FINISHED");
  put(store, "a", "TERMINATED", "dock-a", term, 1);
  json_decref(term);
  rows rs = {0};
  load(store, &rs);
  assert_int_equal(rs.n, 3); /* no duplicate row */
  assert_string_equal(rs.r[0].id, "a");
  assert_string_equal(rs.r[0].stage, "TERMINATED");
  assert_string_equal(rs.r[0].docker_id, "dock-a");
  assert_string_equal(rs.r[0].termination, "{\"state\":\"TASK_FINISHED\"}");
  assert_string_equal(rs.r[1].id, "b");
  assert_string_equal(rs.r[1].stage, "PULLING");
  assert_string_equal(rs.r[2].id, "c");
  rows_free(&rs);
  berth_store_close(store);
}

static void delete_removes_only_that_row(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  put(store, "a", "RUNNING", NULL, NULL, 1);
  put(store, "b", "RUNNING", NULL, NULL, 2);
  berth_error err = {0};
  assert_int_equal(berth_store_delete(store, "a", &err), 0);
  rows rs = {0};
  load(store, &rs);
  assert_int_equal(rs.n, 1);
  assert_string_equal(rs.r[0].id, "b");
  /* Deleting an unknown id is not an error. */
  assert_int_equal(berth_store_delete(store, "nosuch", &err), 0);
  rows_free(&rs);
  berth_store_close(store);
}

static void reput_after_delete_goes_last(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  put(store, "a", "RUNNING", NULL, NULL, 1);
  put(store, "b", "RUNNING", NULL, NULL, 2);
  berth_error err = {0};
  assert_int_equal(berth_store_delete(store, "a", &err), 0);
  put(store, "a", "FETCHING", NULL, NULL, 3);
  rows rs = {0};
  load(store, &rs);
  assert_int_equal(rs.n, 2);
  assert_string_equal(rs.r[0].id, "b");
  assert_string_equal(rs.r[1].id, "a");
  rows_free(&rs);
  berth_store_close(store);
}

static void meta_get_set(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  berth_error err = {0};
  char *v = (char *)"sentinel";
  assert_int_equal(berth_store_meta_get(store, "agent_id", &v, &err), 0);
  assert_null(v);
  assert_int_equal(berth_store_meta_set(store, "agent_id", "a1b2", &err), 0);
  assert_int_equal(berth_store_meta_get(store, "agent_id", &v, &err), 0);
  assert_non_null(v);
  assert_string_equal(v, "a1b2");
  free(v);
  assert_int_equal(berth_store_meta_set(store, "agent_id", "replaced", &err), 0);
  assert_int_equal(berth_store_meta_get(store, "agent_id", &v, &err), 0);
  assert_string_equal(v, "replaced");
  free(v);
  berth_store_close(store);
}

static void reopen_keeps_data(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  put(store, "a", "RUNNING", "d1", NULL, 1);
  put(store, "b", "TERMINATED", "d2", NULL, 2);
  berth_error err = {0};
  assert_int_equal(berth_store_meta_set(store, "agent_id", "keep-me", &err), 0);
  berth_store_close(store);

  store = open_store(fx);
  rows rs = {0};
  load(store, &rs);
  assert_int_equal(rs.n, 2);
  assert_string_equal(rs.r[0].id, "a");
  assert_string_equal(rs.r[0].docker_id, "d1");
  assert_string_equal(rs.r[1].id, "b");
  assert_string_equal(rs.r[1].stage, "TERMINATED");
  char *v = NULL;
  assert_int_equal(berth_store_meta_get(store, "agent_id", &v, &err), 0);
  assert_string_equal(v, "keep-me");
  free(v);
  /* New rows still go after the recovered ones. */
  put(store, "c", "RUNNING", NULL, NULL, 3);
  load(store, &rs);
  assert_int_equal(rs.n, 3);
  assert_string_equal(rs.r[2].id, "c");
  rows_free(&rs);
  berth_store_close(store);
}

static int user_version(const char *path) {
  sqlite3 *db = NULL;
  sqlite3_stmt *s = NULL;
  int v = -1;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
  if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

static void set_user_version(const char *path, int v) {
  sqlite3 *db = NULL;
  char sql[64];
  snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static void schema_version_is_recorded(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  berth_store_close(store);
  assert_int_equal(user_version(fx->db), BERTH_STORE_SCHEMA_VERSION);
  /* Reopening does not migrate again. */
  store = open_store(fx);
  berth_store_close(store);
  assert_int_equal(user_version(fx->db), BERTH_STORE_SCHEMA_VERSION);
}

static void newer_schema_is_refused(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  berth_store_close(store);
  set_user_version(fx->db, BERTH_STORE_SCHEMA_VERSION + 1);
  berth_error err = {0};
  store = (berth_store *)0x1;
  int rc = berth_store_open(fx->db, &store, &err);
  assert_int_equal(rc, BERTH_ESTORE);
  assert_int_equal(err.code, BERTH_ESTORE);
  tu_assert_contains(err.msg, "newer");
}

static void unopenable_path_is_an_error(void **state) {
  fixture *fx = *state;
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/no/such/dir/berth.db", fx->dir);
  berth_store *store = NULL;
  berth_error err = {0};
  int rc = berth_store_open(path, &store, &err);
  assert_int_equal(rc, BERTH_ESTORE);
  assert_null(store);
  tu_assert_contains(err.msg, path);
}

static void put_missing_required_field_is_an_error(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  berth_record rec = {.id = "x", .stage = "FETCHING", .docker_name = NULL, .image = "busybox"};
  berth_error err = {0};
  assert_int_equal(berth_store_put(store, &rec, &err), BERTH_ESTORE);
  assert_int_equal(err.code, BERTH_ESTORE);
  /* The statement is reusable after a failure. */
  put(store, "y", "RUNNING", NULL, NULL, 1);
  rows rs = {0};
  load(store, &rs);
  assert_int_equal(rs.n, 1);
  rows_free(&rs);
  berth_store_close(store);
}

/* ---- image records (store/images.h) ---- */

typedef struct image_rows {
  char name[8][128], id[8][80];
  double pulled_at[8], last_used[8];
  int n;
} image_rows;

static void image_cb(const berth_image_record *rec, void *data) {
  image_rows *rs = data;
  assert_true(rs->n < 8);
  copy(rs->name[rs->n], sizeof(rs->name[0]), rec->name);
  copy(rs->id[rs->n], sizeof(rs->id[0]), rec->docker_id);
  rs->pulled_at[rs->n] = rec->pulled_at;
  rs->last_used[rs->n] = rec->last_used;
  rs->n++;
}

static image_rows load_images(berth_store *store) {
  image_rows rs = {0};
  berth_error err = {0};
  if (berth_store_images_load(store, image_cb, &rs, &err) != 0) fail_msg("load images: %s", err.msg);
  return rs;
}

static void pulled(berth_store *store, const char *name, const char *id, double now) {
  berth_error err = {0};
  if (berth_store_image_pulled(store, name, id, now, &err) != 0) fail_msg("pulled %s: %s", name, err.msg);
}

static bool used(berth_store *store, const char *name, double now) {
  berth_error err = {0};
  bool recorded = true;
  if (berth_store_image_used(store, name, now, &recorded, &err) != 0) fail_msg("used %s: %s", name, err.msg);
  return recorded;
}

static void image_pull_is_recorded_and_survives_reopen(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  pulled(store, "127.0.0.1:5000/app:1", "sha256:aa", 1000.5);
  berth_store_close(store);
  store = open_store(fx);
  image_rows rs = load_images(store);
  assert_int_equal(rs.n, 1);
  assert_string_equal(rs.name[0], "127.0.0.1:5000/app:1");
  assert_string_equal(rs.id[0], "sha256:aa");
  tu_assert_double_eq(rs.pulled_at[0], 1000.5);
  tu_assert_double_eq(rs.last_used[0], 1000.5);
  berth_store_close(store);
}

static void image_use_moves_last_used_of_recorded_images_only(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  pulled(store, "a:1", "sha256:aa", 1000);
  assert_true(used(store, "a:1", 2000));
  /* An image berthd did not pull gets no row from a launch using it. */
  assert_false(used(store, "busybox:local", 2000));
  image_rows rs = load_images(store);
  assert_int_equal(rs.n, 1);
  tu_assert_double_eq(rs.pulled_at[0], 1000);
  tu_assert_double_eq(rs.last_used[0], 2000);
  berth_store_close(store);
}

static void image_pulled_again_replaces_its_row(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  pulled(store, "a:1", "sha256:aa", 1000);
  pulled(store, "a:1", "sha256:bb", 3000);
  image_rows rs = load_images(store);
  assert_int_equal(rs.n, 1);
  assert_string_equal(rs.id[0], "sha256:bb");
  tu_assert_double_eq(rs.pulled_at[0], 3000);
  tu_assert_double_eq(rs.last_used[0], 3000);
  berth_store_close(store);
}

static void images_load_least_recently_used_first(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  pulled(store, "new:1", "", 3000);
  pulled(store, "old:1", "", 1000);
  pulled(store, "mid:1", "", 2000);
  pulled(store, "also-mid:1", "", 2000);
  assert_true(used(store, "old:1", 4000)); /* now the most recent */
  image_rows rs = load_images(store);
  assert_int_equal(rs.n, 4);
  assert_string_equal(rs.name[0], "also-mid:1"); /* ties by name */
  assert_string_equal(rs.name[1], "mid:1");
  assert_string_equal(rs.name[2], "new:1");
  assert_string_equal(rs.name[3], "old:1");
  assert_string_equal(rs.id[0], "");
  berth_store_close(store);
}

static void image_forget_drops_only_that_row(void **state) {
  fixture *fx = *state;
  berth_store *store = open_store(fx);
  pulled(store, "a:1", "sha256:aa", 1000);
  pulled(store, "b:1", "sha256:bb", 1000);
  berth_error err = {0};
  assert_int_equal(berth_store_image_forget(store, "a:1", &err), 0);
  assert_int_equal(berth_store_image_forget(store, "never:1", &err), 0);
  image_rows rs = load_images(store);
  assert_int_equal(rs.n, 1);
  assert_string_equal(rs.name[0], "b:1");
  assert_false(used(store, "a:1", 2000));
  berth_store_close(store);
}

/* A database written by a berthd of schema 4 (the first four migrations,
 * as they were) gains the images table and keeps its containers. */
static void schema_4_database_upgrades(void **state) {
  fixture *fx = *state;
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(fx->db, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
  const char *v4 =
      "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE containers ("
      "  id TEXT PRIMARY KEY, stage TEXT NOT NULL, docker_name TEXT NOT NULL,"
      "  docker_id TEXT, image TEXT NOT NULL, launch TEXT NOT NULL, termination TEXT,"
      "  created_at REAL NOT NULL, finished_at REAL NOT NULL DEFAULT 0,"
      "  seq INTEGER NOT NULL);"
      "ALTER TABLE containers ADD COLUMN gpus TEXT NOT NULL DEFAULT '';"
      "ALTER TABLE containers ADD COLUMN running_at REAL NOT NULL DEFAULT 0;"
      "ALTER TABLE containers ADD COLUMN outputs TEXT;"
      "INSERT INTO containers (id, stage, docker_name, image, launch, created_at, seq)"
      "  VALUES ('old-1', 'RUNNING', 'berth-a1.old-1', 'busybox:local', '{}', 1, 1);"
      "PRAGMA user_version = 4;";
  assert_int_equal(sqlite3_exec(db, v4, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  berth_store *store = open_store(fx);
  assert_int_equal(user_version(fx->db), BERTH_STORE_SCHEMA_VERSION);
  rows rs = {0};
  load(store, &rs);
  assert_int_equal(rs.n, 1);
  assert_string_equal(rs.r[0].id, "old-1");
  rows_free(&rs);
  assert_int_equal(load_images(store).n, 0);
  pulled(store, "a:1", "sha256:aa", 1000);
  assert_int_equal(load_images(store).n, 1);
  berth_store_close(store);
}

static void close_null_is_safe(void **state) {
  (void)state;
  berth_store_close(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(open_creates_database, setup, teardown),
      cmocka_unit_test_setup_teardown(put_then_load_returns_every_field, setup, teardown),
      cmocka_unit_test_setup_teardown(null_docker_id_and_termination_load_as_null, setup, teardown),
      cmocka_unit_test_setup_teardown(put_without_launch_stores_empty_object, setup, teardown),
      cmocka_unit_test_setup_teardown(load_keeps_creation_order, setup, teardown),
      cmocka_unit_test_setup_teardown(update_upserts_and_keeps_order, setup, teardown),
      cmocka_unit_test_setup_teardown(delete_removes_only_that_row, setup, teardown),
      cmocka_unit_test_setup_teardown(reput_after_delete_goes_last, setup, teardown),
      cmocka_unit_test_setup_teardown(meta_get_set, setup, teardown),
      cmocka_unit_test_setup_teardown(reopen_keeps_data, setup, teardown),
      cmocka_unit_test_setup_teardown(schema_version_is_recorded, setup, teardown),
      cmocka_unit_test_setup_teardown(running_at_round_trips, setup, teardown),
      cmocka_unit_test_setup_teardown(outputs_rotation_state_round_trips, setup, teardown),
      cmocka_unit_test_setup_teardown(bound_flag_round_trips, setup, teardown),
      cmocka_unit_test_setup_teardown(newer_schema_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(unopenable_path_is_an_error, setup, teardown),
      cmocka_unit_test_setup_teardown(put_missing_required_field_is_an_error, setup, teardown),
      cmocka_unit_test_setup_teardown(image_pull_is_recorded_and_survives_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(image_use_moves_last_used_of_recorded_images_only, setup, teardown),
      cmocka_unit_test_setup_teardown(image_pulled_again_replaces_its_row, setup, teardown),
      cmocka_unit_test_setup_teardown(images_load_least_recently_used_first, setup, teardown),
      cmocka_unit_test_setup_teardown(image_forget_drops_only_that_row, setup, teardown),
      cmocka_unit_test_setup_teardown(schema_4_database_upgrades, setup, teardown),
      cmocka_unit_test(close_null_is_safe),
  };
  return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
