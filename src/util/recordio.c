#include "util/recordio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

char *berth_recordio_frame(const char *data, size_t len, size_t *out_len) {
  char head[BERTH_RECORDIO_MAX_DIGITS + 2];
  int n = snprintf(head, sizeof(head), "%zu\n", len);
  char *out = berth_malloc((size_t)n + len + 1);
  memcpy(out, head, (size_t)n);
  if (len) memcpy(out + n, data, len);
  out[(size_t)n + len] = '\0';
  *out_len = (size_t)n + len;
  return out;
}

void berth_recordio_reader_init(berth_recordio_reader *r, size_t max) {
  memset(r, 0, sizeof(*r));
  r->max = max;
}

void berth_recordio_reader_clear(berth_recordio_reader *r) {
  free(r->buf);
  r->buf = NULL;
  r->in_record = false;
  r->n_digits = 0;
  r->got = r->want = 0;
}

bool berth_recordio_idle(const berth_recordio_reader *r) { return !r->in_record && r->n_digits == 0; }

/* The header is complete: its digits make the record's length. */
static int start_record(berth_recordio_reader *r, berth_error *err) {
  if (r->n_digits == 0) return berth_error_set(err, BERTH_EIO, "recordio: empty record length");
  r->digits[r->n_digits] = '\0';
  unsigned long long want = 0;
  for (size_t i = 0; i < r->n_digits; i++) {
    unsigned d = (unsigned)(r->digits[i] - '0');
    if (want > r->max / 10 || want * 10 + d > r->max)
      return berth_error_set(err, BERTH_EIO, "recordio: record of %s bytes is longer than %zu", r->digits, r->max);
    want = want * 10 + d;
  }
  r->want = (size_t)want;
  r->got = 0;
  r->n_digits = 0;
  r->in_record = true;
  r->buf = berth_malloc(r->want + 1);
  return 0;
}

int berth_recordio_feed(berth_recordio_reader *r, const char *buf, size_t len, berth_recordio_cb cb, void *arg,
                        berth_error *err) {
  size_t i = 0;
  while (i < len) {
    if (!r->in_record) {
      char c = buf[i++];
      if (c == '\n') {
        int rc = start_record(r, err);
        if (rc < 0) return rc;
      } else if (c >= '0' && c <= '9' && r->n_digits < BERTH_RECORDIO_MAX_DIGITS) {
        r->digits[r->n_digits++] = c;
        continue;
      } else {
        return berth_error_set(err, BERTH_EIO, "recordio: bad record length (byte 0x%02x)", (unsigned char)c);
      }
    }
    size_t n = r->want - r->got;
    if (n > len - i) n = len - i;
    memcpy(r->buf + r->got, buf + i, n);
    r->got += n;
    i += n;
    if (r->got < r->want) break;
    r->buf[r->want] = '\0';
    char *rec = r->buf;
    size_t rec_len = r->want;
    r->buf = NULL;
    r->in_record = false;
    int rc = cb(rec, rec_len, arg);
    free(rec);
    if (rc < 0) return rc;
  }
  return 0;
}
