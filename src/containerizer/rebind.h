/* Bound clients across a restart of berthd (WAIT_CONTAINER's
 * kill_on_disconnect, API.md §3 and §9).  While berthd is down nobody
 * notices a bound client (a foreground `berth run`) dying, so its
 * container would run on unbound.  berthd therefore records that a
 * container was bound (the store's `bound` column) and, when it recovers
 * such a container RUNNING, gives its client --bound_client_timeout to
 * send a bound WAIT again; if none arrives, the container is destroyed as
 * if its client had gone away.  A client that comes back is bound again,
 * so its going away later destroys the container as before.  Internal to
 * the containerizer; loop thread only. */
#ifndef BERTH_CONTAINERIZER_REBIND_H
#define BERTH_CONTAINERIZER_REBIND_H

#include <uv.h>

#include "containerizer/container.h"

/* Called from cz_container_new: the timer belongs to the container and
 * closes with its other handles (counted in open_handles). */
void cz_rebind_init(container *c);
/* At recovery, once the container is found RUNNING: starts the timeout
 * when the container was bound and no bound waiter is parked yet; nothing
 * with --bound_client_timeout=0secs. */
void cz_rebind_arm(container *c);
/* A bound waiter was parked: records the flag (once) and stops the
 * timeout. */
void cz_rebind_bound(container *c);
void cz_rebind_stop(container *c);
void cz_rebind_close(container *c, uv_close_cb cb);

#endif
