/* berthd put together: state, docker client, containerizer and API on one
 * loop.  Only this module and main may exit the process. */
#ifndef BERTH_DAEMON_DAEMON_H
#define BERTH_DAEMON_DAEMON_H

#include "daemon/flags.h"
#include "util/error.h"

/* Runs berthd until SIGTERM or SIGINT; returns the process exit code. */
int berth_daemon_run(berth_flags *flags);

#endif
