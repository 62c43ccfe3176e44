/* `berth run` inside a Slurm job step (API.md §9): the step's identity and
 * allocation, read from the environment srun sets, fill what the command
 * line left out.  Pure: the environment comes through a lookup function so
 * tests can hand in their own. */
#ifndef BERTH_CLIENT_SLURM_H
#define BERTH_CLIENT_SLURM_H

#include <stddef.h>

#include "client/cli_args.h"
#include "util/error.h"

typedef const char *(*berth_env_lookup)(const char *name, void *data);

/* Room for "slurm-<job>.<step>.<task>" and "slurm.job_id=<job>". */
#define BERTH_SLURM_TEXT_MAX 96

typedef struct berth_slurm {
  char name[BERTH_SLURM_TEXT_MAX];  /* container id, "" when --name was given */
  char label[BERTH_SLURM_TEXT_MAX]; /* docker label naming the job */
} berth_slurm;

/* Returns 0 and leaves opts alone outside a job (no SLURM_JOB_ID), 1 when
 * opts were completed from the job: the name unless --name (opts->name then
 * points into slurm), cpus from SLURM_CPUS_PER_TASK or SLURM_CPUS_ON_NODE
 * unless --cpus, mem from SLURM_MEM_PER_NODE or SLURM_MEM_PER_CPU × cpus
 * (MB) unless --mem, and opts->label set to the job's label.  A value that
 * is not a plain number is an error naming the variable. */
int berth_slurm_apply(berth_run_opts *opts, berth_env_lookup lookup, void *data, berth_slurm *slurm, berth_error *err);

#endif
