/* The sandbox directory of a container on the host (API.md §1). */
#ifndef BERTH_CONTAINERIZER_SANDBOX_H
#define BERTH_CONTAINERIZER_SANDBOX_H

#include "util/error.h"
#include "util/safefs.h"

/* <work_dir>/sandboxes/<id>, the one place that path is spelled; caller
 * frees.  id must be validated. */
char *berth_sandbox_path(const char *work_dir, const char *id);

/* Opens the sandbox directory (never through a symlink); returns the fd
 * for berth_safefs_* calls, or a negative code (BERTH_ENOENT: none). */
int berth_sandbox_open(const char *work_dir, const char *id, berth_error *err);

/* Closes the work dir and its sandboxes/ to other local users (0700), also
 * when they were made by an older berthd. */
int berth_sandbox_close_work_dir(const char *work_dir, berth_error *err);

/* <runtime_dir>/links/<agent_id>, where the links of ':' sandboxes live
 * (below); caller frees.  agent_id must be validated. */
char *berth_sandbox_links_dir(const char *runtime_dir, const char *agent_id);

/* Creates --runtime_dir if missing, then links/ and links/<agent_id>/ in
 * it, both 0700.  At start; the caller checked the path is absolute and
 * holds no ':'. */
int berth_sandbox_prepare_runtime_dir(const char *runtime_dir, const char *agent_id, berth_error *err);

/* Creates the sandbox (mode 0777, see sandbox.c) with empty stdout and
 * stderr files and returns the path to bind-mount: the sandbox itself, or
 * a link <runtime_dir>/links/<agent_id>/<id> when the path holds ':'
 * (Docker's bind syntax cannot carry one, as Mesos found; the link lives
 * outside the work dir since that is where the ':' comes from).  Caller
 * frees *bind_path. */
int berth_sandbox_create(const char *work_dir, const char *runtime_dir, const char *agent_id, const char *id,
                         char **bind_path, berth_error *err);

/* Removes the sandbox and its link, if any; missing ones are fine.  Fails,
 * leaving what it could not delete, when the tree holds a mount point or
 * an entry cannot be removed. */
int berth_sandbox_remove(const char *work_dir, const char *runtime_dir, const char *agent_id, const char *id,
                         berth_error *err);

#endif
