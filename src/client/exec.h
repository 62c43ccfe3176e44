/* `berth exec` and the stdin side of `berth run -i`: the CLI ends of the
 * upgraded calls EXEC and ATTACH_CONTAINER_INPUT (README "EXEC"). */
#ifndef BERTH_CLIENT_EXEC_H
#define BERTH_CLIENT_EXEC_H

#include <stdbool.h>

#include "util/error.h"

/* Exit codes of `berth exec` besides the command's own: docker's. */
#define BERTH_EXEC_EXIT_ERROR 1   /* berthd refused or could not be reached */
#define BERTH_EXEC_EXIT_USAGE 125 /* bad arguments */

extern const char berth_exec_help[];

/* `berth exec [OPTIONS] ID CMD [ARG...]`; argv holds what follows "exec".
 * addr and token_file are the global options (NULL when not given).
 * Returns the process's exit code: the command's, or one above. */
int berth_exec_main(const char *addr, const char *token_file, int argc, char **argv);

/* `berth run -i`: copies this process's stdin to the task's stdin on a
 * thread of its own, from now until stdin ends (then the task reads its
 * end) or the task ends.  Errors are printed, except that the task ended
 * before its stdin was attached.  Returns <0 only when the thread could
 * not start. */
int berth_run_stdin_start(const char *addr, const char *token_file, const char *id, berth_error *err);

#endif
