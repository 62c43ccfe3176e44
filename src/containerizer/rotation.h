/* Size-based rotation of a sandbox output file (API.md §5, --log_max_size
 * and --log_max_files), done by berthd as it writes: the live file keeps
 * its name, older ones are name.1 (newest) .. name.N.  Every byte goes to
 * exactly one file, in order, so the files read oldest to newest are one
 * contiguous tail of the output.
 *
 * The sandbox is the task's: renames are made with renameat relative to
 * the sandbox directory's fd (a rename never follows a link), the new
 * live file is opened through util/safefs.h.
 *
 * A rotation is made crash-safe by a record the caller stores before the
 * renames (persist_cb): the bytes rotated out once it is done and the
 * inode of the file being rotated.  berth_outlog_recover finishes a rotation
 * a crash cut, so the total written is always rotated + live size. */
#ifndef BERTH_CONTAINERIZER_ROTATION_H
#define BERTH_CONTAINERIZER_ROTATION_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "util/error.h"

#define BERTH_OUTLOG_MAX_FILES 1000

typedef struct berth_rotation_policy {
  uint64_t max_size;  /* bytes in the live file; 0: never rotate */
  unsigned max_files; /* rotated files kept, 1..BERTH_OUTLOG_MAX_FILES */
} berth_rotation_policy;

typedef struct berth_outlog {
  const char *name;  /* "stdout"; borrowed */
  int fd;            /* the live file, or -1 */
  uint64_t size;     /* bytes in the live file */
  uint64_t rotated;  /* bytes moved out of the live file so far (stored) */
  uint64_t ino;      /* inode of the last file rotated out (stored); 0: none */
  uint64_t retry_at; /* after a failed rotation, the live size to try again at */
} berth_outlog;

typedef struct berth_outlog_hooks {
  /* Opens the sandbox directory (O_DIRECTORY); caller of the hook closes. */
  int (*open_dir)(void *data, berth_error *err);
  /* Stores log->rotated and log->ino durably; called before the renames. */
  void (*persist)(berth_outlog *log, void *data);
  void *data;
} berth_outlog_hooks;

/* Appends buf, rotating whenever the live file would pass max_size.  A
 * failed rotation is reported in err and writing goes on into the live
 * file (returns 0 then with err->code set); <0 only when a write fails. */
int berth_outlog_write(berth_outlog *log, const berth_rotation_policy *p, const char *buf, size_t len,
                       const berth_outlog_hooks *hooks, berth_error *err);

/* Rotates now: name.(i) -> name.(i+1) for i = N-1..1, name -> name.1,
 * then a new live file.  log->fd may be -1 (recovery). */
int berth_outlog_rotate(berth_outlog *log, int dirfd, const berth_rotation_policy *p, const berth_outlog_hooks *hooks,
                        berth_error *err);

/* At recovery, with log->rotated and log->ino as stored: finishes a
 * rotation a crash cut (the live file is still the inode being rotated),
 * then opens the live file and sets log->size.  The total written is
 * log->rotated + log->size afterwards. */
int berth_outlog_recover(berth_outlog *log, int dirfd, const berth_rotation_policy *p, berth_error *err);

#endif
