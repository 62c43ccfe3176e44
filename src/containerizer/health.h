/* Health checks (API.md §3, Mesos's HealthCheck): COMMAND through the
 * Engine API exec, HTTP and TCP through health_probe.c inside the
 * container's network namespace.  Checks run while the container is
 * RUNNING: the first delay_seconds after running_at, the next
 * interval_seconds after the previous one ended (as Mesos schedules
 * them), so two checks of one container never overlap.  After
 * consecutive_failures counted failures the container is destroyed and
 * ends TASK_KILLED / REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.  Internal to
 * the containerizer; loop thread only. */
#ifndef BERTH_CONTAINERIZER_HEALTH_H
#define BERTH_CONTAINERIZER_HEALTH_H

#include <jansson.h>
#include <uv.h>

#include "containerizer/container.h"

#define BERTH_REASON_HEALTH_CHECK "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"

/* From cz_container_new: nothing without a health check; else its timers
 * belong to the container (counted in open_handles). */
void cz_health_init(container *c);
/* At RUNNING (launch or recovery): schedules the first check, counted
 * from running_at. */
void cz_health_arm(container *c);
/* The container left RUNNING, or is going: no more checks; a docker call
 * in flight is cancelled, a probe thread's late result is dropped. */
void cz_health_stop(container *c);
void cz_health_close(container *c, uv_close_cb cb);
/* After every handle closed (container_closed_cb). */
void cz_health_free(container *c);
/* {"status", "consecutive_failures", "last_message"}; NULL without a
 * check.  New reference. */
json_t *cz_health_json(container *c);
/* When failed checks ended the container, rewrites the termination built
 * from its exit (an OOM kill stays an OOM kill).  Takes and returns t. */
json_t *cz_health_termination(container *c, json_t *t);
/* berthd is going: probe results are dropped from now on. */
void cz_health_shutdown(berth_containerizer *cz);

#endif
