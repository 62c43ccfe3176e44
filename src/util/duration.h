/* Mesos-style durations ("10secs", "6hrs", "500ms", "1.5mins"). */
#ifndef BERTH_UTIL_DURATION_H
#define BERTH_UTIL_DURATION_H

#include <stdint.h>

#include "util/error.h"

/* Parses text into nanoseconds.  Units: ns, us, ms, secs, mins, hrs, days,
 * weeks (Mesos's spellings; "s", "sec", "m", "min", "h", "hr", "d", "w"
 * accepted too).  A bare number is rejected: the unit is required. */
int berth_duration_parse(const char *text, int64_t *out_ns, berth_error *err);

/* Writes the shortest exact Mesos spelling ("6hrs", "500ms") into buf. */
void berth_duration_format(int64_t ns, char *buf, size_t len);

#endif
