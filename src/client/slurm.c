#include "client/slurm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal count as Slurm prints them; longer than 18 digits is no job. */
static int number(berth_env_lookup lookup, void *data, const char *var, unsigned long long *out, bool *present,
                  berth_error *err) {
  const char *v = lookup(var, data);
  *present = v && *v;
  if (!*present) return 0;
  size_t n = strspn(v, "0123456789");
  if (n == 0 || n > 18 || v[n] != '\0')
    return berth_error_set(err, BERTH_EINVAL, "%s: '%.32s' is not a number", var, v);
  *out = strtoull(v, NULL, 10);
  return 0;
}

int berth_slurm_apply(berth_run_opts *o, berth_env_lookup lookup, void *data, berth_slurm *s, berth_error *err) {
  unsigned long long job = 0, step = 0, task = 0, cpus = 0, mem_node = 0, mem_cpu = 0;
  bool has_job, has_step, has_task, has_cpt, has_con, has_mpn, has_mpc;
  memset(s, 0, sizeof(*s));
  if (number(lookup, data, "SLURM_JOB_ID", &job, &has_job, err) < 0) return err->code;
  if (!has_job) return 0;
  if (number(lookup, data, "SLURM_STEP_ID", &step, &has_step, err) < 0 ||
      number(lookup, data, "SLURM_PROCID", &task, &has_task, err) < 0 ||
      number(lookup, data, "SLURM_CPUS_PER_TASK", &cpus, &has_cpt, err) < 0 ||
      (!has_cpt && number(lookup, data, "SLURM_CPUS_ON_NODE", &cpus, &has_con, err) < 0) ||
      number(lookup, data, "SLURM_MEM_PER_NODE", &mem_node, &has_mpn, err) < 0 ||
      number(lookup, data, "SLURM_MEM_PER_CPU", &mem_cpu, &has_mpc, err) < 0)
    return err->code;
  if (has_cpt) has_con = false;
  if (!o->name) {
    /* A batch script runs outside any step: "batch" is Slurm's own name. */
    char step_text[24];
    if (has_step)
      snprintf(step_text, sizeof(step_text), "%llu", step);
    else
      snprintf(step_text, sizeof(step_text), "batch");
    snprintf(s->name, sizeof(s->name), "slurm-%llu.%s.%llu", job, step_text, has_task ? task : 0ULL);
    o->name = s->name;
  }
  if (!o->has_cpus && (has_cpt || has_con) && cpus > 0) {
    o->has_cpus = true;
    o->cpus = (double)cpus;
  }
  /* 0 is Slurm's "no limit asked": the container gets berthd's default. */
  if (!o->has_mem && has_mpn && mem_node > 0) {
    o->has_mem = true;
    o->mem_mb = (double)mem_node;
  } else if (!o->has_mem && has_mpc && mem_cpu > 0) {
    o->has_mem = true;
    o->mem_mb = (double)mem_cpu * (o->has_cpus ? o->cpus : 1.0);
  }
  snprintf(s->label, sizeof(s->label), "slurm.job_id=%llu", job);
  o->label = s->label;
  return 1;
}
