/* `berth run`'s bound wait: a WAIT_CONTAINER with kill_on_disconnect held
 * open on its own connection for as long as the process lives, so that
 * whatever ends the process (SIGKILL included) closes it and berthd
 * destroys the container (API.md §3, §9). */
#ifndef BERTH_CLIENT_BOUND_H
#define BERTH_CLIENT_BOUND_H

#include <jansson.h>

#include "client/client.h"
#include "util/error.h"

typedef struct berth_bound_wait berth_bound_wait;

/* Takes client (a connection of its own, not shared with the caller's
 * thread) and starts the wait on a thread with SIGINT/SIGTERM blocked, so
 * the caller's handlers see them.  A wait cut by berthd going away (a
 * restart) is sent again, with backoff.h's pacing, until berthd answers or
 * BERTH_RECONNECT_BUDGET_MS pass without it (then the join fails with
 * BERTH_EUNAVAIL). */
int berth_bound_wait_start(berth_client *client, const char *container_id, berth_bound_wait **out, berth_error *err);

/* Blocks until the wait is answered; *wait is a new reference to the
 * wait_container object.  Frees bw. */
int berth_bound_wait_join(berth_bound_wait *bw, json_t **wait, berth_error *err);

#endif
