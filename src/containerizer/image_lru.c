/* The pure half of image collection (image_lru.h). */
#include "containerizer/image_lru.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sort_item {
  size_t index;
  const berth_image_candidate *image;
} sort_item;

static int by_last_use(const void *a, const void *b) {
  const berth_image_candidate *x = ((const sort_item *)a)->image, *y = ((const sort_item *)b)->image;
  if (x->last_used != y->last_used) return x->last_used < y->last_used ? -1 : 1;
  return strcmp(x->name, y->name);
}

size_t berth_images_select(const berth_image_candidate *images, size_t n, double now, double min_age_secs,
                           size_t *out) {
  if (n == 0) return 0;
  sort_item *items = calloc(n, sizeof(*items));
  if (!items) abort();
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const berth_image_candidate *im = &images[i];
    if (im->in_use || im->excluded) continue;
    if (min_age_secs > 0 && now - im->last_used < min_age_secs) continue;
    items[k++] = (sort_item){i, im};
  }
  qsort(items, k, sizeof(*items), by_last_use);
  for (size_t i = 0; i < k; i++) out[i] = items[i].index;
  free(items);
  return k;
}

/* Docker's normal form of a reference: "docker.io/" before a name whose
 * first component is no host, "library/" before a one-component name on
 * docker.io, ":latest" when neither tag nor digest is given. */
static void normalize(const char *ref, char *buf, size_t len) {
  const char *slash = strchr(ref, '/');
  bool has_host = false;
  if (slash) {
    size_t clen = (size_t)(slash - ref);
    has_host = memchr(ref, '.', clen) || memchr(ref, ':', clen) || (clen == 9 && !strncmp(ref, "localhost", 9));
  }
  const char *name = ref;
  char prefix[32] = "";
  if (!has_host) {
    snprintf(prefix, sizeof(prefix), "docker.io/%s", slash ? "" : "library/");
  } else if (!strncmp(ref, "docker.io/", 10) || !strncmp(ref, "index.docker.io/", 16)) {
    name = strchr(ref, '/') + 1;
    snprintf(prefix, sizeof(prefix), "docker.io/%s", strchr(name, '/') ? "" : "library/");
  }
  const char *last = strrchr(name, '/');
  bool tagged = strchr(name, '@') || strchr(last ? last : name, ':');
  snprintf(buf, len, "%s%s%s", prefix, name, tagged ? "" : ":latest");
}

bool berth_image_ref_same(const char *a, const char *b) {
  if (!strcmp(a, b)) return true;
  char na[1100], nb[1100];
  normalize(a, na, sizeof(na));
  normalize(b, nb, sizeof(nb));
  return !strcmp(na, nb);
}
