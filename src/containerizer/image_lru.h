/* Image collection's choices, pure so they can be tested alone: which of
 * berthd's images may go and in what order, and when two references name
 * the same image. */
#ifndef BERTH_CONTAINERIZER_IMAGE_LRU_H
#define BERTH_CONTAINERIZER_IMAGE_LRU_H

#include <stdbool.h>
#include <stddef.h>

typedef struct berth_image_candidate {
  const char *name;
  double last_used; /* seconds since the epoch */
  bool in_use;      /* a known container's image, or a pull of it is running */
  bool excluded;    /* named by the call or by --image_gc_excluded_images */
} berth_image_candidate;

/* Writes to out (room for n) the indexes of the images that may be
 * removed, least recently used first (ties by name): not in use, not
 * excluded and, when min_age_secs > 0, last used at least min_age_secs
 * before now.  Returns how many were written. */
size_t berth_images_select(const berth_image_candidate *images, size_t n, double now, double min_age_secs, size_t *out);

/* True when a and b name one image as docker resolves names: "busybox",
 * "busybox:latest", "library/busybox" and "docker.io/library/busybox:latest"
 * are the same; a digest reference matches only itself. */
bool berth_image_ref_same(const char *a, const char *b);

#endif
