/* SIGINT and SIGTERM for the CLI's long-running commands (run, stats):
 * counted, not acted on in the handler; the command's loop looks at the
 * count (1: the first, 2: a second one). */
#ifndef BERTH_CLIENT_SIGNALS_H
#define BERTH_CLIENT_SIGNALS_H

#include <signal.h>

extern volatile sig_atomic_t berth_signal_count; /* 0, 1 or 2 */
extern volatile sig_atomic_t berth_last_signal;  /* the latest one's number */

/* Without SA_RESTART, so a sleep or poll ends at once. */
void berth_signals_install(void);

#endif
