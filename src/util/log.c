#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static berth_log_level min_level = BERTH_LOG_INFO;

void berth_log_set_level(berth_log_level level) { min_level = level; }

void berth_log(berth_log_level level, const char *fmt, ...) {
  static const char *names[] = {"D", "I", "W", "E"};
  if (level < min_level) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char stamp[32];
  strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  /* One fprintf per line keeps lines whole when stderr is shared. */
  fprintf(stderr, "%s%s.%03ld berthd: %s\n", names[level], stamp, ts.tv_nsec / 1000000, line);
}
