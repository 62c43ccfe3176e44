#include "util/duration.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *name;
  int64_t ns;
} units[] = {
    {"ns", 1LL},
    {"us", 1000LL},
    {"ms", 1000000LL},
    {"secs", 1000000000LL},
    {"sec", 1000000000LL},
    {"s", 1000000000LL},
    {"mins", 60000000000LL},
    {"min", 60000000000LL},
    {"m", 60000000000LL},
    {"hrs", 3600000000000LL},
    {"hr", 3600000000000LL},
    {"h", 3600000000000LL},
    {"days", 86400000000000LL},
    {"day", 86400000000000LL},
    {"d", 86400000000000LL},
    {"weeks", 604800000000000LL},
    {"week", 604800000000000LL},
    {"w", 604800000000000LL},
};

int berth_duration_parse(const char *text, int64_t *out_ns, berth_error *err) {
  if (!text || !*text) return berth_error_set(err, BERTH_EINVAL, "empty duration");
  /* Plain decimal only: strtod alone would take hex, "inf", spaces, '+'. */
  size_t digits = strspn(text, "0123456789.");
  if (digits == 0)
    return berth_error_set(err, BERTH_EINVAL,
                           "invalid duration '%s': expected a non-negative decimal number and a unit", text);
  char *end = NULL;
  errno = 0;
  double value = strtod(text, &end);
  if (end != text + digits || errno != 0 || !isfinite(value) || value < 0)
    return berth_error_set(err, BERTH_EINVAL, "invalid duration '%s': expected a non-negative number and a unit", text);
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (strcmp(end, units[i].name) == 0) {
      double ns = value * (double)units[i].ns;
      /* (double)INT64_MAX rounds up to 2^63, which does not fit. */
      if (ns >= (double)INT64_MAX) return berth_error_set(err, BERTH_EINVAL, "duration '%s' is too large", text);
      *out_ns = (int64_t)ns;
      return 0;
    }
  }
  return berth_error_set(err, BERTH_EINVAL,
                         "invalid duration '%s': unknown unit '%s' (use ns, us, ms, secs, mins, hrs, days, weeks)",
                         text, end);
}

void berth_duration_format(int64_t ns, char *buf, size_t len) {
  static const struct {
    const char *name;
    int64_t ns;
  } out_units[] = {{"weeks", 604800000000000LL},
                   {"days", 86400000000000LL},
                   {"hrs", 3600000000000LL},
                   {"mins", 60000000000LL},
                   {"secs", 1000000000LL},
                   {"ms", 1000000LL},
                   {"us", 1000LL}};
  for (size_t i = 0; i < sizeof(out_units) / sizeof(out_units[0]); i++) {
    if (ns != 0 && ns % out_units[i].ns == 0) {
      snprintf(buf, len, "%lld%s", (long long)(ns / out_units[i].ns), out_units[i].name);
      return;
    }
  }
  snprintf(buf, len, "%lldns", (long long)ns);
}
