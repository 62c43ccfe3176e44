/* Reading a container's output for GET /logs: a snapshot of its log
 * index and of its sandbox output files (the live ones and the rotated
 * ones), taken on the loop thread, that the merge (logmerge.h) then reads
 * through berth_logsource_read.
 *
 * The sandbox is the task's: a rotated file is opened only through
 * util/safefs.h (no link followed, nothing but a regular file), and a
 * live file berthd is still writing is reopened from berthd's own fd, so a
 * task that renames or replaces "stdout" changes nothing that is read.
 * Loop thread only. */
#ifndef BERTH_CONTAINERIZER_LOGS_H
#define BERTH_CONTAINERIZER_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "containerizer/containerizer.h"
#include "containerizer/logindex.h"
#include "util/error.h"

typedef struct berth_logsource berth_logsource;

/* BERTH_ENOENT (with the containerizer's wording) for an unknown id. */
int berth_cz_logs_open(berth_containerizer *cz, const char *id, berth_logsource **out, berth_error *err);

const berth_logrec *berth_logsource_records(const berth_logsource *src, size_t *n);
/* The container was TERMINATED when the snapshot was taken: nothing more
 * will be written. */
bool berth_logsource_final(const berth_logsource *src);
/* The first byte of stream still in a file (UINT64_MAX: none is). */
uint64_t berth_logsource_first(const berth_logsource *src, int stream);
/* A berth_logmerge_read_fn (data is the source). */
long berth_logsource_read(void *src, int stream, uint64_t offset, char *buf, size_t len);
void berth_logsource_free(berth_logsource *src);

/* Deletes the container's index (REMOVE_CONTAINER; any thread). */
int berth_logs_remove_index(const char *work_dir, const char *id, berth_error *err);

#endif
