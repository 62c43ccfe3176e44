/* max_completion_time (API.md §3): a container still running that long
 * after it reached RUNNING is destroyed and ends TASK_FAILED with
 * REASON_MAX_COMPLETION_TIME_REACHED.  The clock starts at running_at,
 * which the store keeps, so a deadline that passed while berthd was down
 * fires at recovery.  Internal to the containerizer; loop thread only. */
#ifndef BERTH_CONTAINERIZER_DEADLINE_H
#define BERTH_CONTAINERIZER_DEADLINE_H

#include <jansson.h>

#include "containerizer/container.h"

/* Called from cz_container_new: the timer belongs to the container and
 * closes with its other handles (counted in open_handles). */
void cz_deadline_init(container *c);
/* Starts the timer for what remains of the limit (0 if it has passed);
 * nothing without a limit or before RUNNING. */
void cz_deadline_arm(container *c);
void cz_deadline_stop(container *c);
void cz_deadline_close(container *c, uv_close_cb cb);
/* When the deadline ended the container, rewrites the termination built
 * from its exit (an OOM kill stays an OOM kill).  Takes and returns t. */
json_t *cz_deadline_termination(container *c, json_t *t);

#endif
