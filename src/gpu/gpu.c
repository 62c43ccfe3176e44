#include "gpu/gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/alloc.h"

size_t berth_gpu_parse(const char *text, int *out, size_t max) {
  size_t n = 0;
  for (const char *p = text; p && *p && n < max;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p) break;
    out[n++] = (int)v;
    p = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') break;
  }
  return n;
}

int berth_gpu_pool_init(berth_gpu_pool *pool, const char *devices, const char *device_root, berth_error *err) {
  memset(pool, 0, sizeof(*pool));
  pool->device_root = berth_strdup(device_root ? device_root : "/dev");
  if (!devices || !*devices) return 0;
  for (const char *p = devices; *p;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 0 || v > 1023 || (*end && *end != ','))
      return berth_error_set(err, BERTH_EINVAL, "--nvidia_gpu_devices: '%s' is not a list of GPU minors like 0,1",
                             devices);
    if (pool->count == BERTH_GPU_MAX)
      return berth_error_set(err, BERTH_EINVAL, "--nvidia_gpu_devices: more than %d GPUs", BERTH_GPU_MAX);
    for (size_t i = 0; i < pool->count; i++)
      if (pool->minors[i] == v) return berth_error_set(err, BERTH_EINVAL, "--nvidia_gpu_devices: %ld twice", v);
    pool->minors[pool->count++] = (int)v;
    p = *end ? end + 1 : end;
  }
  return 0;
}

void berth_gpu_pool_free(berth_gpu_pool *pool) {
  free(pool->device_root);
  pool->device_root = NULL;
}

size_t berth_gpu_free_count(const berth_gpu_pool *pool) {
  size_t n = 0;
  for (size_t i = 0; i < pool->count; i++) n += pool->owners[i][0] == '\0';
  return n;
}

int berth_gpu_allocate(berth_gpu_pool *pool, size_t n, const char *owner, int *out, berth_error *err) {
  size_t free_now = berth_gpu_free_count(pool);
  if (n > free_now)
    return berth_error_set(err, BERTH_EINVAL, "resources (gpus): %zu requested, %zu of %zu free", n, free_now,
                           pool->count);
  size_t got = 0;
  for (size_t i = 0; i < pool->count && got < n; i++) {
    if (pool->owners[i][0]) continue;
    snprintf(pool->owners[i], sizeof(pool->owners[i]), "%s", owner);
    out[got++] = pool->minors[i];
  }
  return 0;
}

int berth_gpu_claim(berth_gpu_pool *pool, int minor, const char *owner, berth_error *err) {
  for (size_t i = 0; i < pool->count; i++) {
    if (pool->minors[i] != minor) continue;
    if (pool->owners[i][0] && strcmp(pool->owners[i], owner) != 0)
      return berth_error_set(err, BERTH_ECONFLICT, "GPU %d is held by both '%s' and '%s'", minor, pool->owners[i],
                             owner);
    snprintf(pool->owners[i], sizeof(pool->owners[i]), "%s", owner);
    return 0;
  }
  return berth_error_set(err, BERTH_ENOENT, "GPU %d is not in --nvidia_gpu_devices", minor);
}

void berth_gpu_release(berth_gpu_pool *pool, const char *owner) {
  for (size_t i = 0; i < pool->count; i++)
    if (!strcmp(pool->owners[i], owner)) pool->owners[i][0] = '\0';
}

char **berth_gpu_devices(const berth_gpu_pool *pool, const int *minors, size_t n) {
  static const char *const control[] = {"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"};
  char **list = berth_calloc(n + 4, sizeof(char *));
  size_t k = 0;
  for (size_t i = 0; i < n; i++) list[k++] = berth_asprintf("%s/nvidia%d", pool->device_root, minors[i]);
  for (size_t i = 0; i < 3 && n > 0; i++) {
    char *path = berth_asprintf("%s/%s", pool->device_root, control[i]);
    if (access(path, F_OK) == 0)
      list[k++] = path;
    else
      free(path);
  }
  return list;
}

char *berth_gpu_format(const int *minors, size_t n) {
  char *out = berth_strdup("");
  for (size_t i = 0; i < n; i++) {
    char *next = berth_asprintf("%s%s%d", out, i ? "," : "", minors[i]);
    free(out);
    out = next;
  }
  return out;
}
