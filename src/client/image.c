/* `berth image prune` and `berth image ls` (client/image.h). */
#include "client/image.h"

#include <string.h>
#include <time.h>

#include "client/cli_args.h"
#include "util/alloc.h"

#define EXIT_ERROR 1
#define EXIT_USAGE 125

static const char image_help[] =
    "Usage: berth image COMMAND\n"
    "\n"
    "The images berthd pulled itself; images it did not pull are never\n"
    "touched.\n"
    "\n"
    "Commands:\n"
    "  prune [--exclude IMAGE]...   remove the images berthd pulled that no\n"
    "                               container it knows uses (TERMINATED ones\n"
    "                               included until 'berth rm'), except IMAGE\n"
    "                               and berthd's --image_gc_excluded_images;\n"
    "                               prints each image removed\n"
    "  ls                           list the images berthd pulled, least\n"
    "                               recently used first\n";

json_t *berth_request_prune_images(char *const *excluded, size_t n) {
  json_t *list = json_array();
  for (size_t i = 0; i < n; i++) {
    json_t *name = json_string(excluded[i]);
    if (!name) {
      json_decref(list);
      return NULL;
    }
    json_array_append_new(list, json_pack("{s:s,s:{s:o}}", "type", "DOCKER", "docker", "name", name));
  }
  return json_pack("{s:s,s:{s:o}}", "type", "PRUNE_IMAGES", "prune_images", "excluded_images", list);
}

int berth_reply_pruned(json_t *reply, json_t **removed, berth_error *err) {
  json_t *list = json_object_get(reply, "removed");
  if (!json_is_array(list))
    return berth_error_set(err, BERTH_EIO, "unexpected reply from berthd: PRUNE_IMAGES without 'removed'");
  size_t i;
  json_t *name;
  json_array_foreach(list, i, name) {
    if (!json_is_string(name))
      return berth_error_set(err, BERTH_EIO, "unexpected reply from berthd: 'removed' holds a non-string");
  }
  *removed = list;
  return 0;
}

static void format_time(double secs, char *buf, size_t len) {
  time_t t = (time_t)secs;
  struct tm tm;
  if (secs <= 0 || !gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) snprintf(buf, len, "-");
}

int berth_print_images(json_t *reply, FILE *out, berth_error *err) {
  json_t *list = json_object_get(reply, "images");
  if (!json_is_array(list)) return berth_error_set(err, BERTH_EIO, "unexpected reply from berthd: no 'images'");
  size_t width = strlen("IMAGE");
  size_t i;
  json_t *image;
  json_array_foreach(list, i, image) {
    const char *name = json_string_value(json_object_get(image, "name"));
    if (name && strlen(name) > width) width = strlen(name);
  }
  fprintf(out, "%-*s   %-20s   %-20s   %s\n", (int)width, "IMAGE", "PULLED", "LAST USED", "IN USE");
  json_array_foreach(list, i, image) {
    const char *name = json_string_value(json_object_get(image, "name"));
    char pulled[32], used[32];
    format_time(json_number_value(json_object_get(image, "pulled_at")), pulled, sizeof(pulled));
    format_time(json_number_value(json_object_get(image, "last_used")), used, sizeof(used));
    fprintf(out, "%-*s   %-20s   %-20s   %s\n", (int)width, name ? name : "", pulled, used,
            json_is_true(json_object_get(image, "in_use")) ? "yes" : "no");
  }
  return 0;
}

enum { OPT_HELP = 1, OPT_EXCLUDE };

static const berth_opt prune_opts[] = {
    {"help", 'h', false, OPT_HELP}, {"exclude", 0, true, OPT_EXCLUDE}, {NULL, 0, false, 0}};
static const berth_opt ls_opts[] = {{"help", 'h', false, OPT_HELP}, {NULL, 0, false, 0}};

static int usage(const char *msg) {
  fprintf(stderr, "berth: image: %s (see 'berth image --help')\n", msg);
  return EXIT_USAGE;
}

static int failed(const berth_error *err) {
  fprintf(stderr, "berth: %s\n", err->msg);
  return EXIT_ERROR;
}

static int prune(int argc, char **argv, berth_open_client_fn open, void *ctx) {
  berth_args args;
  berth_args_init(&args, argc, argv);
  cleanup_free char **excluded = berth_calloc((size_t)argc + 1, sizeof(char *));
  size_t n = 0;
  berth_error err = {0};
  for (;;) {
    int id;
    const char *value;
    int kind = berth_args_next(&args, prune_opts, &id, &value, &err);
    if (kind < 0) return usage(err.msg);
    if (kind == BERTH_ARG_END) break;
    if (kind == BERTH_ARG_OPERAND) return usage("prune takes no arguments (use --exclude IMAGE)");
    if (id == OPT_HELP) {
      fputs(image_help, stdout);
      return 0;
    }
    excluded[n++] = (char *)value;
  }
  cleanup_json json_t *request = berth_request_prune_images(excluded, n);
  if (!request) return usage("--exclude: image names must be valid UTF-8");
  berth_client *client = NULL;
  if (open(ctx, &client, &err) < 0) return failed(&err);
  cleanup_json json_t *reply = NULL;
  /* No timeout: each removal is bounded by berthd's own docker timeout. */
  json_t *removed;
  if (berth_client_call(client, request, BERTH_NO_TIMEOUT, NULL, &reply, &err) < 0 ||
      berth_reply_pruned(reply, &removed, &err) < 0)
    return failed(&err);
  size_t i;
  json_t *name;
  json_array_foreach(removed, i, name) printf("%s\n", json_string_value(name));
  return 0;
}

static int list(int argc, char **argv, berth_open_client_fn open, void *ctx) {
  berth_args args;
  berth_args_init(&args, argc, argv);
  berth_error err = {0};
  for (;;) {
    int id;
    const char *value;
    int kind = berth_args_next(&args, ls_opts, &id, &value, &err);
    if (kind < 0) return usage(err.msg);
    if (kind == BERTH_ARG_END) break;
    if (kind == BERTH_ARG_OPERAND) return usage("ls takes no arguments");
    fputs(image_help, stdout);
    return 0;
  }
  berth_client *client = NULL;
  if (open(ctx, &client, &err) < 0) return failed(&err);
  cleanup_json json_t *reply = NULL;
  if (berth_client_get_json(client, "/images", BERTH_CALL_TIMEOUT_MS, &reply, &err) < 0 ||
      berth_print_images(reply, stdout, &err) < 0)
    return failed(&err);
  return 0;
}

int berth_cli_image(int argc, char **argv, berth_open_client_fn open, void *ctx) {
  if (argc < 1) {
    fputs(image_help, stderr);
    return EXIT_USAGE;
  }
  const char *sub = argv[0];
  if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
    fputs(image_help, stdout);
    return 0;
  }
  if (!strcmp(sub, "prune")) return prune(argc - 1, argv + 1, open, ctx);
  if (!strcmp(sub, "ls")) return list(argc - 1, argv + 1, open, ctx);
  char msg[128];
  snprintf(msg, sizeof(msg), "unknown command '%.64s'", sub);
  return usage(msg);
}
