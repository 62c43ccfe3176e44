/* NVIDIA GPU allocation (API.md §7): `gpus: N` takes N of the minors named
 * by --nvidia_gpu_devices; the container gets /dev/nvidia<minor> for each,
 * plus the control devices that exist.  Pure bookkeeping plus access(2)
 * checks; loop thread only. */
#ifndef BERTH_GPU_GPU_H
#define BERTH_GPU_GPU_H

#include <stddef.h>

#include "util/error.h"

#define BERTH_GPU_MAX 64

typedef struct berth_gpu_pool {
  int minors[BERTH_GPU_MAX];
  char owners[BERTH_GPU_MAX][65]; /* container id, "" when free */
  size_t count;
  char *device_root;
} berth_gpu_pool;

/* devices: "0,1" (may be NULL or empty: no GPUs). */
int berth_gpu_pool_init(berth_gpu_pool *pool, const char *devices, const char *device_root, berth_error *err);
void berth_gpu_pool_free(berth_gpu_pool *pool);

/* Takes n free GPUs for owner, writing their minors to out (n of them).
 * BERTH_EINVAL (a 400) naming the shortfall when too few are free; nothing
 * is taken then. */
int berth_gpu_allocate(berth_gpu_pool *pool, size_t n, const char *owner, int *out, berth_error *err);

/* Marks a minor as owner's again (recovery).  Unknown or taken minors are
 * an error. */
int berth_gpu_claim(berth_gpu_pool *pool, int minor, const char *owner, berth_error *err);

void berth_gpu_release(berth_gpu_pool *pool, const char *owner);
size_t berth_gpu_free_count(const berth_gpu_pool *pool);

/* The device paths for these minors: /dev/nvidia<m> each, then
 * nvidiactl, nvidia-uvm and nvidia-uvm-tools where they exist.
 * NULL-terminated; caller frees each and the array. */
char **berth_gpu_devices(const berth_gpu_pool *pool, const int *minors, size_t n);

/* "0,1" ↔ minors, for the store. */
char *berth_gpu_format(const int *minors, size_t n);
size_t berth_gpu_parse(const char *text, int *out, size_t max);

#endif
