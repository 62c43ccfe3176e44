/* Loop-level tests of image collection (containerizer/images.c) against
 * the fake dockerd: PRUNE_IMAGES removes only berthd's unused images, a
 * launch of an image being removed waits for the removal, and the
 * automatic collection removes least recently used first while sparing
 * recent ones.  Each test ends with every handle closed (czenv_free). */
#include "czenv.h"

#include <time.h>

#include "containerizer/metrics.h"
#include "store/images.h"

#define IMG_A "reg.test:5000/a:1"
#define IMG_X "reg.test:5000/x:1"

typedef struct pruned {
  int calls;
  json_t *result;
} pruned;

static void pruned_cb(int rc, json_t *result, const berth_error *err, void *data) {
  pruned *p = data;
  assert_int_equal(rc, 0);
  p->calls++;
  json_decref(p->result);
  p->result = json_deep_copy(result);
}

static bool pruned_called(void *data) { return ((pruned *)data)->calls > 0; }

static void recover(czenv *e) {
  fake_rule_containers(fake_on(e->fake, "GET", "/containers/json"), "[]");
  czenv_start(e);
  outcome recovered = {0};
  berth_error err = {0};
  if (berth_cz_recover(e->cz, cz_done_cb, &recovered, &err) < 0) fail_msg("recover: %s", err.msg);
  czenv_run(e, &recovered);
}

static int setup(void **state) {
  *state = czenv_new();
  return 0;
}

static int teardown(void **state) {
  czenv_free(*state);
  return 0;
}

static void record(czenv *e, const char *name, const char *id, double last_used) {
  berth_error err = {0};
  if (berth_store_image_pulled(e->store, name, id, last_used, &err) < 0) fail_msg("%s", err.msg);
}

typedef struct find_ctx {
  const char *name;
  bool found;
  char id[80];
  double last_used;
} find_ctx;

static void find_cb(const berth_image_record *rec, void *data) {
  find_ctx *f = data;
  if (strcmp(rec->name, f->name)) return;
  f->found = true;
  snprintf(f->id, sizeof(f->id), "%s", rec->docker_id);
  f->last_used = rec->last_used;
}

static bool recorded(czenv *e, const char *name, char *id_out, size_t len) {
  find_ctx f = {.name = name};
  berth_error err = {0};
  if (berth_store_images_load(e->store, find_cb, &f, &err) < 0) fail_msg("%s", err.msg);
  if (id_out) snprintf(id_out, len, "%s", f.id);
  return f.found;
}

static void prune(czenv *e, const char *const *excluded, pruned *p) {
  berth_error err = {0};
  if (berth_cz_prune_images(e->cz, excluded, pruned_cb, p, &err) < 0) fail_msg("prune: %s", err.msg);
}

static double metric(czenv *e, const char *key) {
  json_t *m = berth_cz_metrics(e->cz);
  double v = json_number_value(json_object_get(m, key));
  json_decref(m);
  return v;
}

static void inspect_rule(czenv *e, const char *name, int status, const char *body) {
  char path[256];
  snprintf(path, sizeof(path), "/images/%s/json", name);
  fake_rule_reply(fake_on(e->fake, "GET", path), status, body);
}

static size_t deletes_of(czenv *e, const char *name) {
  char path[256];
  snprintf(path, sizeof(path), "/images/%s", name);
  return fake_docker_count(e->fake, "DELETE", path);
}

/* --- PRUNE_IMAGES ------------------------------------------------------------ */

static void prune_removes_only_berths_unused_images(void **state) {
  czenv *e = *state;
  static const char *const flag_excluded[] = {"reg.test:5000/flag:1", NULL};
  e->config.image_gc_excluded = flag_excluded;
  record(e, IMG_A, "sha256:a", 100);
  record(e, "reg.test:5000/call:1", "sha256:c", 100);
  record(e, "reg.test:5000/flag:1", "sha256:f", 100);
  record(e, "reg.test:5000/busy:1", "sha256:b", 100);
  record(e, "reg.test:5000/retagged:1", "sha256:old", 100);
  record(e, "reg.test:5000/gone:1", "sha256:g", 100);
  recover(e);
  inspect_rule(e, IMG_A, 200, "{\"Id\":\"sha256:a\",\"Size\":1000}");
  inspect_rule(e, "reg.test:5000/busy:1", 200, "{\"Id\":\"sha256:b\",\"Size\":7}");
  /* Someone else pulled another image under this name since. */
  inspect_rule(e, "reg.test:5000/retagged:1", 200, "{\"Id\":\"sha256:new\",\"Size\":7}");
  inspect_rule(e, "reg.test:5000/gone:1", 404, "{\"message\":\"No such image\"}");
  fake_rule_reply(fake_on(e->fake, "DELETE", "/images/reg.test:5000/busy:1"), 409,
                  "{\"message\":\"conflict: unable to delete (must be forced) - image is being used by stopped "
                  "container 1234\"}");
  fake_rule_reply(fake_on(e->fake, "DELETE", "/images/*"), 200,
                  "[{\"Untagged\":\"reg.test:5000/a:1\"},{\"Deleted\":\"sha256:a\"}]");
  static const char *const call_excluded[] = {"reg.test:5000/call:1", NULL};
  pruned p = {0};
  prune(e, call_excluded, &p);
  fake_run_until(&e->loop, pruned_called, &p, MAX_MS);
  tu_assert_json_eq(json_object_get(p.result, "removed"), "[\"" IMG_A "\"]");
  json_t *kept = json_object_get(p.result, "kept");
  assert_int_equal(json_array_size(kept), 1);
  tu_assert_json_str(json_array_get(kept, 0), "name", "reg.test:5000/busy:1");
  tu_assert_contains(json_string_value(json_object_get(json_array_get(kept, 0), "reason")), "stopped container");
  tu_assert_json_int(p.result, "bytes_freed", 1000);
  /* Excluded ones are not even looked at; the re-tagged one is not
   * berthd's any more. */
  assert_int_equal(deletes_of(e, IMG_A), 1);
  assert_int_equal(deletes_of(e, "reg.test:5000/busy:1"), 1);
  assert_int_equal(deletes_of(e, "reg.test:5000/call:1"), 0);
  assert_int_equal(deletes_of(e, "reg.test:5000/flag:1"), 0);
  assert_int_equal(deletes_of(e, "reg.test:5000/retagged:1"), 0);
  assert_int_equal(deletes_of(e, "reg.test:5000/gone:1"), 0);
  assert_false(recorded(e, IMG_A, NULL, 0));
  assert_false(recorded(e, "reg.test:5000/retagged:1", NULL, 0));
  assert_false(recorded(e, "reg.test:5000/gone:1", NULL, 0));
  assert_true(recorded(e, "reg.test:5000/busy:1", NULL, 0));
  assert_true(recorded(e, "reg.test:5000/call:1", NULL, 0));
  assert_true(recorded(e, "reg.test:5000/flag:1", NULL, 0));
  tu_assert_double_eq(metric(e, "containerizer/docker/image_gc/removed"), 1);
  tu_assert_double_eq(metric(e, "containerizer/docker/image_gc/freed_bytes"), 1000);
  tu_assert_double_eq(metric(e, "containerizer/docker/image_gc/runs/prune"), 1);
  json_decref(p.result);
}

static void untagging_one_of_several_names_frees_no_bytes(void **state) {
  czenv *e = *state;
  record(e, IMG_A, "sha256:a", 100);
  recover(e);
  inspect_rule(e, IMG_A, 200, "{\"Id\":\"sha256:a\",\"Size\":1000}");
  fake_rule_reply(fake_on(e->fake, "DELETE", "/images/*"), 200, "[{\"Untagged\":\"reg.test:5000/a:1\"}]");
  pruned p = {0};
  prune(e, NULL, &p);
  fake_run_until(&e->loop, pruned_called, &p, MAX_MS);
  tu_assert_json_eq(json_object_get(p.result, "removed"), "[\"" IMG_A "\"]");
  tu_assert_json_int(p.result, "bytes_freed", 0);
  json_decref(p.result);
}

/* --- launches and collection -------------------------------------------------- */

static void container_docker(czenv *e) {
  fake_docker *f = e->fake;
  fake_rule *start = fake_rule_reply(fake_on(f, "POST", "/containers/*/start"), 204, NULL);
  fake_rule_reply(fake_on(f, "POST", "/containers/create"), 201, "{\"Id\":\"cid1\",\"Warnings\":[]}");
  fake_rule *attach =
      fake_rule_stream(fake_on(f, "POST", "/containers/*/attach"), 200, "application/vnd.docker.raw-stream", FAKE_RAW);
  fake_rule_stream_after(attach, start);
  fake_rule_end(attach, FAKE_END_HOLD);
  fake_rule_hold(fake_on(f, "POST", "/containers/*/wait"));
  fake_rule_reply(fake_on(f, "GET", "/containers/*/json"), 200,
                  "{\"Id\":\"cid1\",\"State\":{\"Pid\":4242,\"ExitCode\":0,\"OOMKilled\":false}}");
  fake_rule_reply(fake_on(f, "POST", "/containers/*/kill"), 204, NULL);
  fake_rule_reply(fake_on(f, "DELETE", "/containers/*"), 204, NULL);
}

static void launch(czenv *e, const char *id, const char *image, outcome *launched) {
  char buf[512];
  snprintf(buf, sizeof(buf),
           "{\"container_id\":{\"value\":\"%s\"},\"command\":{\"value\":\"sleep 100\"},\"container\":{\"type\":"
           "\"DOCKER\",\"docker\":{\"image\":\"%s\"}}}",
           id, image);
  json_t *l = tu_json(buf);
  berth_error err = {0};
  int rc = berth_cz_launch(e->cz, l, cz_done_cb, launched, &err);
  json_decref(l);
  if (rc != 0) fail_msg("launch refused: %s", err.msg);
}

static void prune_spares_images_of_known_containers_and_launches_record_use(void **state) {
  czenv *e = *state;
  record(e, IMG_X, "sha256:x", 100);
  recover(e);
  container_docker(e);
  inspect_rule(e, IMG_X, 200, "{\"Id\":\"sha256:x\",\"Size\":10}");
  fake_rule_reply(fake_on(e->fake, "DELETE", "/images/*"), 200, "[{\"Deleted\":\"sha256:x\"}]");
  outcome launched = {0};
  launch(e, "web-1", IMG_X, &launched);
  czenv_run(e, &launched);
  assert_int_equal(launched.rc, 0);
  /* The image was there: no pull, but its use is recorded. */
  assert_int_equal(fake_docker_count(e->fake, "POST", "/images/create"), 0);
  find_ctx f = {.name = IMG_X};
  berth_error err = {0};
  assert_int_equal(berth_store_images_load(e->store, find_cb, &f, &err), 0);
  assert_true(f.last_used > 1000);
  pruned p = {0};
  prune(e, NULL, &p);
  fake_run_until(&e->loop, pruned_called, &p, MAX_MS);
  tu_assert_json_eq(json_object_get(p.result, "removed"), "[]");
  assert_int_equal(deletes_of(e, IMG_X), 0);
  assert_true(recorded(e, IMG_X, NULL, 0));
  json_decref(p.result);
}

typedef struct timer_done {
  uv_timer_t timer;
  bool fired;
} timer_done;

static void timer_fired_cb(uv_timer_t *t) { ((timer_done *)t->data)->fired = true; }
static bool timer_fired(void *data) { return ((timer_done *)data)->fired; }

/* Lets the loop run for ms: only to give a wrong request the chance to
 * show up; nothing is asserted about how long anything took. */
static void run_for(czenv *e, int ms) {
  timer_done t = {0};
  uv_timer_init(&e->loop, &t.timer);
  t.timer.data = &t;
  uv_timer_start(&t.timer, timer_fired_cb, (uint64_t)ms, 0);
  fake_run_until(&e->loop, timer_fired, &t, MAX_MS);
  uv_close((uv_handle_t *)&t.timer, NULL);
  uv_run(&e->loop, UV_RUN_NOWAIT);
}

static fake_rule *gate(czenv *e) { return fake_rule_reply(fake_on(e->fake, "GET", "/_ping"), 200, "OK"); }
static void ignore_cb(int status, const char *body, size_t len, const berth_error *err, void *data) {}
static void open_gate(czenv *e) { berth_docker_request(e->docker, "GET", "/_ping", NULL, 0, 1, NULL, ignore_cb, NULL); }

static void launch_of_an_image_being_removed_waits_for_the_removal(void **state) {
  czenv *e = *state;
  record(e, IMG_X, "sha256:x", 100);
  recover(e);
  fake_rule *g = gate(e);
  /* The collection's inspect; then, once removed, the launch finds it
   * gone, pulls it, and the pull's own inspect gives the new id. */
  fake_rule_times(
      fake_rule_reply(fake_on(e->fake, "GET", "/images/" IMG_X "/json"), 200, "{\"Id\":\"sha256:x\",\"Size\":10}"), 1);
  fake_rule_reply(fake_rule_after(fake_on(e->fake, "DELETE", "/images/*"), g), 200, "[{\"Deleted\":\"sha256:x\"}]");
  fake_rule_times(fake_rule_reply(fake_on(e->fake, "GET", "/images/" IMG_X "/json"), 404, "{\"message\":\"gone\"}"), 1);
  fake_rule *pull = fake_rule_stream(fake_on(e->fake, "POST", "/images/create"), 200, "application/json", FAKE_CHUNKED);
  fake_rule_piece(pull, 0, "{\"status\":\"Pulled\"}\r\n", 21);
  fake_rule_reply(fake_on(e->fake, "GET", "/images/" IMG_X "/json"), 200, "{\"Id\":\"sha256:x2\",\"Size\":10}");
  container_docker(e);
  pruned p = {0};
  prune(e, NULL, &p);
  czenv_wait_requests(e, "DELETE", "/images/*", 1);
  outcome launched = {0};
  launch(e, "web-1", IMG_X, &launched);
  run_for(e, 200);
  /* Held in PULLING: it has not asked docker about the image. */
  assert_string_equal(czenv_stage(e, "web-1"), "PULLING");
  assert_int_equal(fake_docker_count(e->fake, "GET", "/images/*/json"), 1);
  assert_int_equal(launched.calls, 0);
  open_gate(e);
  fake_run_until(&e->loop, pruned_called, &p, MAX_MS);
  tu_assert_json_eq(json_object_get(p.result, "removed"), "[\"" IMG_X "\"]");
  czenv_run(e, &launched);
  if (launched.rc != 0) fail_msg("launch failed: %s", launched.msg);
  assert_int_equal(fake_docker_count(e->fake, "POST", "/images/create"), 1);
  /* berthd's pull brought it back: recorded again, with its new id. */
  char id[80];
  assert_true(recorded(e, IMG_X, id, sizeof(id)));
  assert_string_equal(id, "sha256:x2");
  json_decref(p.result);
}

static void kill_of_a_held_launch_ends_it(void **state) {
  czenv *e = *state;
  record(e, IMG_X, "sha256:x", 100);
  recover(e);
  fake_rule *g = gate(e);
  inspect_rule(e, IMG_X, 200, "{\"Id\":\"sha256:x\",\"Size\":10}");
  fake_rule_reply(fake_rule_after(fake_on(e->fake, "DELETE", "/images/*"), g), 200, "[{\"Deleted\":\"sha256:x\"}]");
  pruned p = {0};
  prune(e, NULL, &p);
  czenv_wait_requests(e, "DELETE", "/images/*", 1);
  outcome launched = {0};
  launch(e, "web-1", IMG_X, &launched);
  berth_error err = {0};
  assert_int_equal(berth_cz_kill(e->cz, "web-1", 0, NULL, NULL, &err), 0);
  czenv_run(e, &launched);
  assert_int_equal(launched.rc, BERTH_ECANCELED);
  open_gate(e);
  fake_run_until(&e->loop, pruned_called, &p, MAX_MS);
  assert_string_equal(czenv_stage(e, "web-1"), "TERMINATED");
  json_decref(p.result);
}

/* A launch that forces the pull of an image berthd did not pull does not
 * make it berthd's. */
static void forced_pull_of_a_present_image_is_not_recorded(void **state) {
  czenv *e = *state;
  recover(e);
  container_docker(e);
  inspect_rule(e, "busybox:local", 200, "{\"Id\":\"sha256:bb\",\"Size\":10}");
  fake_rule *pull = fake_rule_stream(fake_on(e->fake, "POST", "/images/create"), 200, "application/json", FAKE_CHUNKED);
  fake_rule_piece(pull, 0, "{\"status\":\"Pulled\"}\r\n", 21);
  char buf[512];
  snprintf(buf, sizeof(buf),
           "{\"container_id\":{\"value\":\"web-1\"},\"command\":{\"value\":\"sleep 100\"},\"container\":{\"type\":"
           "\"DOCKER\",\"docker\":{\"image\":\"busybox:local\",\"force_pull_image\":true}}}");
  json_t *l = tu_json(buf);
  outcome launched = {0};
  berth_error err = {0};
  assert_int_equal(berth_cz_launch(e->cz, l, cz_done_cb, &launched, &err), 0);
  json_decref(l);
  czenv_run(e, &launched);
  assert_int_equal(launched.rc, 0);
  assert_int_equal(fake_docker_count(e->fake, "POST", "/images/create"), 1);
  assert_false(recorded(e, "busybox:local", NULL, 0));
}

/* --- the automatic collection --------------------------------------------- */

static bool two_runs(void *data) {
  czenv *e = data;
  return fake_docker_count(e->fake, "GET", "/info") >= 3 && metric(e, "containerizer/docker/image_gc/runs/disk") >= 2;
}

static void automatic_collection_removes_least_recently_used_first_and_spares_recent(void **state) {
  czenv *e = *state;
  e->config.image_gc_interval_ns = 20 * 1000000ll;
  e->config.image_gc_threshold = 0; /* any disk is fuller than that */
  e->config.image_gc_min_age_ns = 3600 * 1000000000ll;
  double now = (double)time(NULL);
  record(e, "reg.test:5000/newer:1", "", now - 5000);
  record(e, "reg.test:5000/older:1", "", now - 7200);
  record(e, "reg.test:5000/fresh:1", "", now - 10);
  char info[200];
  snprintf(info, sizeof(info), "{\"DockerRootDir\":\"%s\"}", e->work_dir);
  fake_rule_reply(fake_on(e->fake, "GET", "/info"), 200, info);
  fake_rule_reply(fake_on(e->fake, "GET", "/images/*/json"), 200, "{\"Id\":\"sha256:any\",\"Size\":5}");
  fake_rule_reply(fake_on(e->fake, "DELETE", "/images/*"), 200, "[{\"Deleted\":\"sha256:any\"}]");
  recover(e);
  fake_run_until(&e->loop, two_runs, e, MAX_MS);
  assert_int_equal(fake_docker_count(e->fake, "DELETE", "/images/*"), 2);
  fake_request *first = fake_docker_request(e->fake, "DELETE", "/images/*", 0);
  fake_request *second = fake_docker_request(e->fake, "DELETE", "/images/*", 1);
  assert_string_equal(first->path, "/images/reg.test:5000/older:1");
  assert_string_equal(second->path, "/images/reg.test:5000/newer:1");
  fake_request_free(first);
  fake_request_free(second);
  assert_true(recorded(e, "reg.test:5000/fresh:1", NULL, 0));
  tu_assert_double_eq(metric(e, "containerizer/docker/image_gc/removed"), 2);
  tu_assert_double_eq(metric(e, "containerizer/docker/image_gc/freed_bytes"), 10);
  double used = metric(e, "containerizer/docker/image_gc/disk_used_ratio");
  assert_true(used > 0 && used <= 1);
}

static void no_collection_under_the_threshold(void **state) {
  czenv *e = *state;
  e->config.image_gc_interval_ns = 20 * 1000000ll;
  e->config.image_gc_threshold = 100; /* no disk is fuller than that */
  e->config.image_gc_min_age_ns = 0;
  record(e, "reg.test:5000/old:1", "", 100);
  char info[200];
  snprintf(info, sizeof(info), "{\"DockerRootDir\":\"%s\"}", e->work_dir);
  fake_rule_reply(fake_on(e->fake, "GET", "/info"), 200, info);
  recover(e);
  czenv_wait_requests(e, "GET", "/info", 3);
  assert_int_equal(fake_docker_count(e->fake, "GET", "/images/*/json"), 0);
  assert_int_equal(fake_docker_count(e->fake, "DELETE", "/images/*"), 0);
  tu_assert_double_eq(metric(e, "containerizer/docker/image_gc/runs/disk"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(prune_removes_only_berths_unused_images, setup, teardown),
      cmocka_unit_test_setup_teardown(untagging_one_of_several_names_frees_no_bytes, setup, teardown),
      cmocka_unit_test_setup_teardown(prune_spares_images_of_known_containers_and_launches_record_use, setup, teardown),
      cmocka_unit_test_setup_teardown(launch_of_an_image_being_removed_waits_for_the_removal, setup, teardown),
      cmocka_unit_test_setup_teardown(kill_of_a_held_launch_ends_it, setup, teardown),
      cmocka_unit_test_setup_teardown(forced_pull_of_a_present_image_is_not_recorded, setup, teardown),
      cmocka_unit_test_setup_teardown(automatic_collection_removes_least_recently_used_first_and_spares_recent, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(no_collection_under_the_threshold, setup, teardown),
  };
  return cmocka_run_group_tests_name("images-loop", tests, NULL, NULL);
}
