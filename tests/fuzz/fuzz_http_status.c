/* Fuzz target: the status line of an HTTP health check's answer
 * (berth_http_status_parse), bytes a hostile container chose.
 *
 * Properties: a status, once found, is 100-999 and the same for every
 * longer read of the same bytes; a refusal is final too; "more bytes"
 * never comes for a read of 64 bytes or more (a probe stops reading at
 * BERTH_PROBE_MAX_READ, so the parser must decide well before). */
#include "containerizer/health_probe.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  const char *buf = (const char *)data;
  int first = 0, first_status = 0;
  size_t first_at = 0;
  for (size_t n = 0; n <= size; n++) {
    int status = 0;
    int rc = berth_http_status_parse(buf, n, &status);
    FZ_CHECK(rc == 1 || rc == 0 || rc == -1, "rc %d", rc);
    if (rc == 1) FZ_CHECK(status >= 100 && status <= 999, "status %d", status);
    if (rc == 0) FZ_CHECK(n < 64, "still undecided after %zu bytes", n);
    if (first != 0) {
      FZ_CHECK(rc == first, "decided %d at %zu bytes, %d at %zu", first, first_at, rc, n);
      if (rc == 1) FZ_CHECK(status == first_status, "status %d then %d", first_status, status);
    } else if (rc != 0) {
      first = rc;
      first_status = status;
      first_at = n;
    }
  }
  return 0;
}
