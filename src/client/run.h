/* `berth run`: launch a container through berthd and, unless detached,
 * stay attached to it (stream its output, bind it to this process, end
 * with its exit code).  Moved out of cmd/berth.c so that the command's
 * life while attached has one file; the option parsing stays in
 * cli_args.c (berth_cli_parse_run).  Not thread-safe: installs SIGINT and
 * SIGTERM handlers for the process. */
#ifndef BERTH_CLIENT_RUN_H
#define BERTH_CLIENT_RUN_H

#include "client/client.h"
#include "util/error.h"

/* Exit codes shared with cmd/berth.c (docker's convention). */
#define BERTH_EXIT_BERTH 125 /* usage errors; any failure of `berth run` itself */

/* Makes a new client to berthd from the global options (--addr,
 * --token_file, the environment); addr and token_file, when not NULL, are
 * the ones given among run's own options and win.  `berth run` needs
 * several: the bound wait holds a connection of its own. */
typedef int (*berth_client_factory)(void *data, const char *addr, const char *token_file, berth_client **out,
                                    berth_error *err);

/* `berth run`'s --help text. */
extern const char berth_run_help[];

/* Runs `berth run` with the arguments after "run" (argv[0] is the first
 * of them); returns the process's exit code.  addr and token_file are the
 * global options given before "run" (NULL when not given). */
int berth_cmd_run(int argc, char **argv, const char *addr, const char *token_file, berth_client_factory factory,
                  void *data);

#endif
