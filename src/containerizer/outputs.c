/* The container's stdout and stderr files in its sandbox: writes through
 * rotation.c with --log_max_size/--log_max_files, and the rotation state
 * the store keeps so a restart counts every byte already written. */
#include <string.h>

#include "containerizer/container.h"
#include "containerizer/sandbox.h"
#include "util/log.h"

static const char *const stream_names[] = {NULL, "stdout", "stderr"};

static int open_sandbox_cb(void *data, berth_error *err) {
  container *c = data;
  return berth_sandbox_open(c->cz->config.work_dir, c->id, err);
}

/* Before a rotation renames anything: the row then says which file is
 * going out and how many bytes left the live file with it. */
static void persist_cb(berth_outlog *log, void *data) {
  berth_error err;
  /* cz_persist logs a failure.  The rotation goes on: output must keep
   * flowing, and recovery then repeats at most this rotation's bytes. */
  if (cz_persist(data, &err) < 0) return;
}

void cz_output_write(container *c, int stream, const char *buf, size_t len) {
  berth_outlog *log = &c->out[stream];
  uint64_t before = log->rotated + log->size, rotated = log->rotated;
  berth_outlog_hooks hooks = {open_sandbox_cb, persist_cb, c};
  berth_error err = {0};
  int rc = berth_outlog_write(log, &c->cz->config.log_rotation, buf, len, &hooks, &err);
  if (rc < 0 || err.code) log_error("container %s: %s", c->id, err.msg);
  uint64_t after = log->rotated + log->size;
  c->cap.written[stream] += after - before;
  cz_logs_written(c, stream, before, (size_t)(after - before), log->rotated != rotated);
}

void cz_outputs_init(container *c) {
  for (int i = 1; i <= 2; i++) {
    memset(&c->out[i], 0, sizeof(c->out[i]));
    c->out[i].name = stream_names[i];
    c->out[i].fd = -1;
  }
}

json_t *cz_outputs_json(const container *c) {
  if (c->out[1].ino == 0 && c->out[2].ino == 0) return NULL;
  json_t *j = json_object();
  for (int i = 1; i <= 2; i++)
    json_object_set_new(
        j, stream_names[i],
        json_pack("{s:I,s:I}", "rotated", (json_int_t)c->out[i].rotated, "ino", (json_int_t)c->out[i].ino));
  return j;
}

void cz_outputs_restore(container *c, json_t *outputs) {
  for (int i = 1; i <= 2; i++) {
    json_t *s = json_object_get(outputs, stream_names[i]);
    json_int_t rotated = json_integer_value(json_object_get(s, "rotated"));
    json_int_t ino = json_integer_value(json_object_get(s, "ino"));
    c->out[i].rotated = rotated > 0 ? (uint64_t)rotated : 0;
    c->out[i].ino = ino > 0 ? (uint64_t)ino : 0;
  }
}
