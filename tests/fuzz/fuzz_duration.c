/* Fuzz target: Mesos-style durations (berth_duration_parse/_format), as
 * berthd reads --docker_remove_delay and --docker_stop_timeout.
 *
 * A parsed duration is never negative, and formatting it gives text that
 * parses back to the same number of nanoseconds (/flags shows durations
 * that way, and an operator may paste them back). */
#include <inttypes.h>

#include "fuzz_util.h"
#include "util/duration.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 256) return 0;
  char *text = fz_cstr(data, size);
  int64_t ns = -1;
  berth_error err = {0};
  if (berth_duration_parse(text, &ns, &err) == 0) {
    FZ_CHECK(ns >= 0, "'%s' -> %" PRId64, text, ns);
    char buf[64];
    berth_duration_format(ns, buf, sizeof(buf));
    int64_t again = -1;
    berth_error err2 = {0};
    FZ_CHECK(berth_duration_parse(buf, &again, &err2) == 0, "'%s' -> %" PRId64 " -> '%s' does not parse: %s", text, ns,
             buf, err2.msg);
    FZ_CHECK(again == ns, "'%s' -> %" PRId64 " -> '%s' -> %" PRId64, text, ns, buf, again);
  } else {
    FZ_CHECK(err.code == BERTH_EINVAL && err.msg[0], "refusal code %d", err.code);
  }
  /* Any int64 formats without overflow or truncation. */
  if (size >= 8) {
    int64_t v;
    memcpy(&v, data, 8);
    char buf[64];
    berth_duration_format(v, buf, sizeof(buf));
    FZ_CHECK(strlen(buf) < sizeof(buf) - 1, "format of %" PRId64 " truncated", v);
  }
  free(text);
  return 0;
}
