/* The sandbox directory of a container on the host (API.md §1). */
#ifndef BERTH_CONTAINERIZER_SANDBOX_H
#define BERTH_CONTAINERIZER_SANDBOX_H

#include "util/error.h"

/* <work_dir>/sandboxes/<id>; caller frees.  id must be validated. */
char *berth_sandbox_path(const char *work_dir, const char *id);

/* Creates the sandbox with empty stdout and stderr files and returns the
 * path to bind-mount: the sandbox itself, or a link under
 * <work_dir>/docker/links/ when the path holds ':' (Docker's bind syntax
 * cannot carry one, as Mesos found).  Caller frees *bind_path. */
int berth_sandbox_create(const char *work_dir, const char *id, char **bind_path, berth_error *err);

/* Removes the sandbox and its link, if any; missing ones are fine. */
int berth_sandbox_remove(const char *work_dir, const char *id, berth_error *err);

/* mkdir -p with mode 0755. */
int berth_mkdir_p(const char *path, berth_error *err);

#endif
