/* Host volumes pinned: a host path is opened component by component with
 * no symlink followed, checked under an allowed prefix on what was opened,
 * and that very directory is bind-mounted to a private path under the work
 * dir.  Docker is handed only the private path, so nothing a task swaps
 * under an allowed prefix between the check and docker's mount can change
 * what is mounted.
 *
 * Pins live in <work_dir>/docker/volumes/<pin dir>/<n>; they are needed
 * only until docker has started the container (which holds its own mount).
 */
#ifndef BERTH_CONTAINERIZER_VOLUMES_H
#define BERTH_CONTAINERIZER_VOLUMES_H

#include <stddef.h>

#include "util/error.h"

/* The allowed prefixes with symlinks in them resolved once, at start, in the
 * same order (a prefix that cannot be resolved is kept as written).
 * NULL-terminated; free with berth_volumes_prefixes_free. */
char **berth_volumes_real_prefixes(const char *const *allowed);
void berth_volumes_prefixes_free(char **prefixes);

/* Blocking (run it off the loop).  Pins host_paths[0..n) under
 * <work_dir>/docker/volumes/<pin_dir>/<i>; on success pins[i] is each pin's
 * path (caller frees each).  A path with a symlink anywhere, one that is not
 * a directory, or one outside every allowed prefix is BERTH_EINVAL naming
 * container.volumes[i].host_path; nothing is left pinned on failure. */
int berth_volumes_pin(const char *work_dir, const char *pin_dir, const char *const *host_paths, size_t n,
                      const char *const *allowed, const char *const *real_allowed, char **pins, berth_error *err);

/* Unmounts and removes every pin in <work_dir>/docker/volumes/<pin_dir>
 * and the directory itself; missing ones are fine. */
int berth_volumes_unpin(const char *work_dir, const char *pin_dir, berth_error *err);

/* Unmounts and removes every pin under <work_dir>/docker/volumes (start-up:
 * after a crash at any point nothing stays mounted).  Returns how many pin
 * directories it removed, or a negative code. */
int berth_volumes_unpin_all(const char *work_dir, berth_error *err);

#endif
