#include "util/crashpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void berth_crashpoint(const char *name) {
  static const char *target;
  static int read_env;
  if (!read_env) {
    target = getenv("BERTH_CRASH_AT");
    read_env = 1;
  }
  if (target && !strcmp(target, name)) {
    fprintf(stderr, "berthd: crash point '%s' reached; exiting abruptly\n", name);
    _exit(99);
  }
}
