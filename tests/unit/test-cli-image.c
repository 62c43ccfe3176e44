/* Unit tests for client/image: `berth image`'s request, reply reading and
 * table. */
#include "testutil.h"

#include "client/image.h"

static void prune_request_names_each_excluded_image(void **state) {
  (void)state;
  char *names[] = {"127.0.0.1:5000/app:1", "busybox:local"};
  json_t *req = berth_request_prune_images(names, 2);
  tu_assert_json_eq(req,
                    "{\"type\": \"PRUNE_IMAGES\", \"prune_images\": {\"excluded_images\": ["
                    "{\"type\": \"DOCKER\", \"docker\": {\"name\": \"127.0.0.1:5000/app:1\"}},"
                    "{\"type\": \"DOCKER\", \"docker\": {\"name\": \"busybox:local\"}}]}}");
  json_decref(req);
  req = berth_request_prune_images(NULL, 0);
  tu_assert_json_eq(req, "{\"type\": \"PRUNE_IMAGES\", \"prune_images\": {\"excluded_images\": []}}");
  json_decref(req);
}

static void prune_request_refuses_names_that_are_not_utf8(void **state) {
  (void)state;
  char *names[] = {"ok:1", "bad\xff:1"};
  assert_null(berth_request_prune_images(names, 2));
}

static void pruned_reply_gives_the_removed_names(void **state) {
  (void)state;
  json_t *reply = tu_json("{\"removed\": [\"a:1\", \"b:2\"], \"kept\": [], \"bytes_freed\": 5}");
  json_t *removed = NULL;
  berth_error err = {0};
  assert_int_equal(berth_reply_pruned(reply, &removed, &err), 0);
  tu_assert_json_eq(removed, "[\"a:1\", \"b:2\"]");
  json_decref(reply);
  reply = tu_json("{\"removed\": [1]}");
  assert_int_equal(berth_reply_pruned(reply, &removed, &err), BERTH_EIO);
  json_decref(reply);
  reply = tu_json("{}");
  assert_int_equal(berth_reply_pruned(reply, &removed, &err), BERTH_EIO);
  tu_assert_contains(err.msg, "removed");
  json_decref(reply);
}

static void images_table_shows_names_times_and_use(void **state) {
  (void)state;
  json_t *reply = tu_json(
      "{\"images\": [{\"name\": \"127.0.0.1:5000/app:1\", \"docker_id\": \"sha256:aa\", \"pulled_at\": 0,"
      " \"last_used\": 1764025200.5, \"in_use\": true}, {\"name\": \"b:1\", \"pulled_at\": 1764025200,"
      " \"last_used\": 1764025200, \"in_use\": false}]}");
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  berth_error err = {0};
  assert_int_equal(berth_print_images(reply, out, &err), 0);
  fclose(out);
  assert_string_equal(buf,
                      "IMAGE                  PULLED                 LAST USED              IN USE\n"
                      "127.0.0.1:5000/app:1   -                      2025-11-24T23:00:00Z   yes\n"
                      "b:1                    2025-11-24T23:00:00Z   2025-11-24T23:00:00Z   no\n");
  free(buf);
  json_decref(reply);
  reply = tu_json("{\"nothing\": 1}");
  assert_int_equal(berth_print_images(reply, stdout, &err), BERTH_EIO);
  json_decref(reply);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(prune_request_names_each_excluded_image),
      cmocka_unit_test(prune_request_refuses_names_that_are_not_utf8),
      cmocka_unit_test(pruned_reply_gives_the_removed_names),
      cmocka_unit_test(images_table_shows_names_times_and_use),
  };
  return cmocka_run_group_tests_name("cli-image", tests, NULL, NULL);
}
