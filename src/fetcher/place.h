/* Putting a fetched file into a sandbox: a plain copy, or the members of a
 * tar (gz, bz2, xz) or zip archive.
 *
 * The sandbox is treated as hostile: every name is opened relative to the
 * sandbox's directory fd one component at a time with O_NOFOLLOW, so no
 * symlink is followed, and nothing an archive holds can land outside it.
 * These functions block (disk I/O, decompression): thread pool only. */
#ifndef BERTH_FETCHER_PLACE_H
#define BERTH_FETCHER_PLACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

/* True when name ends in an extension berth extracts (.tar, .tar.gz, .tgz,
 * .tar.bz2, .tbz2, .tar.xz, .txz, .zip), as Mesos's fetcher decides. */
bool berth_place_is_archive(const char *name);

/* Copies the regular file src_fd into the sandbox as name (a single path
 * component), replacing what is there; mode 0755 when executable, else
 * 0644.  At most max_bytes are copied (0: no cap).  cancel is polled. */
int berth_place_copy(int sandbox_fd, int src_fd, const char *name, bool executable, uint64_t max_bytes,
                     atomic_bool *cancel, berth_error *err);

/* Extracts the archive src_fd into the sandbox.  Refuses (and stops at)
 * any member named with "..", an absolute name, a symlink whose target is
 * absolute or climbs out of the sandbox, a hard link to a name that does
 * not stay inside, and device nodes, FIFOs and sockets.  At most max_bytes
 * of member data are written (0: no cap).  *written gets the byte count. */
int berth_place_extract(int sandbox_fd, int src_fd, uint64_t max_bytes, atomic_bool *cancel, uint64_t *written,
                        berth_error *err);

/* Checks an archive member or output name: relative, no "..", no empty
 * result.  Fills out with the normalised name ("./a//b" -> "a/b"). */
int berth_place_member_name(const char *name, char *out, size_t out_size, berth_error *err);

#endif
