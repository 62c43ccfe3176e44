/* berthd: the berth daemon.  Everything lives in the library; this only
 * reads the flags. */
#include <stdio.h>

#include "daemon/daemon.h"
#include "daemon/flags.h"

extern char **environ;

int main(int argc, char **argv) {
  berth_flags flags;
  berth_error err = {0};
  if (berth_flags_parse(argc, argv, environ, &flags, &err) < 0) {
    fprintf(stderr, "berthd: %s\n", err.msg);
    berth_flags_free(&flags);
    return 2;
  }
  if (flags.help) {
    berth_flags_usage(stdout);
    berth_flags_free(&flags);
    return 0;
  }
  int code = berth_daemon_run(&flags);
  berth_flags_free(&flags);
  return code;
}
