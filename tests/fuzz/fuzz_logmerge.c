/* Fuzz target: berth_logmerge_scan (containerizer/logmerge.c), the merge
 * behind GET /logs.
 *
 * The first 8 bytes seed how the two streams are cut into index records
 * and interleaved, the 9th says how many leading bytes of each stream were
 * rotated away and whether the container is over; the rest is split in two
 * at its first 0xff byte: stdout, then stderr.  Scanned from the first
 * record, every line lies within its stream, the lines of a stream come in
 * order without overlap, none holds a '\n' before its end, lines are given
 * in the order their first bytes were written, and, when the container is
 * over, each stream's lines put together are exactly the bytes kept. */
#include "containerizer/logmerge.h"
#include "fuzz_util.h"

typedef struct world {
  const uint8_t *data[3];
  size_t len[3];
  uint64_t gone[3];
  uint64_t next[3]; /* where the next line of each stream must start */
  size_t got[3];    /* bytes given per stream */
  int64_t last_time;
} world;

static long read_fn(void *d, int stream, uint64_t offset, char *buf, size_t len) {
  world *w = d;
  FZ_CHECK(stream == 1 || stream == 2, "read of stream %d", stream);
  if (offset < w->gone[stream] || offset >= w->len[stream]) return 0;
  if (len > w->len[stream] - offset) len = w->len[stream] - offset;
  memcpy(buf, w->data[stream] + offset, len);
  return (long)len;
}

static int line_fn(void *d, const berth_logline *l) {
  world *w = d;
  int s = l->stream;
  FZ_CHECK(s == 1 || s == 2, "line of stream %d", s);
  FZ_CHECK(l->start < l->end && l->end <= w->len[s], "line [%llu,%llu) outside stream of %zu bytes",
           (unsigned long long)l->start, (unsigned long long)l->end, w->len[s]);
  FZ_CHECK(l->start >= w->next[s], "line at %llu before the end of the last one (%llu)", (unsigned long long)l->start,
           (unsigned long long)w->next[s]);
  const uint8_t *p = w->data[s] + l->start;
  size_t n = (size_t)(l->end - l->start);
  const uint8_t *nl = memchr(p, '\n', n);
  FZ_CHECK(!nl || nl == p + n - 1, "a '\\n' inside a line");
  FZ_CHECK(l->complete == (p[n - 1] == '\n'), "complete flag wrong");
  FZ_CHECK(l->time_ns >= w->last_time, "lines out of write order (%lld after %lld)", (long long)l->time_ns,
           (long long)w->last_time);
  w->last_time = l->time_ns;
  w->next[s] = l->end;
  w->got[s] += n;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 9) return 0;
  fz_rng rng = {0};
  memcpy(&rng.state, data, 8);
  uint8_t ctl = data[8];
  data += 9;
  size -= 9;
  const uint8_t *split = memchr(data, 0xff, size);
  world w = {0};
  w.data[1] = data;
  w.len[1] = split ? (size_t)(split - data) : size;
  w.data[2] = split ? split + 1 : data + size;
  w.len[2] = split ? size - w.len[1] - 1 : 0;
  for (int s = 1; s <= 2; s++) w.gone[s] = w.len[s] ? (ctl & 7) % (w.len[s] + 1) : 0;
  bool final = ctl & 0x80;
  /* Records: each stream cut in pieces of 1..16 bytes, interleaved at
   * random; times are the record numbers, as the index writes them. */
  berth_logrec *recs = calloc(w.len[1] + w.len[2] + 1, sizeof(*recs));
  if (!recs) abort();
  size_t n = 0;
  uint64_t off[3] = {0, 0, 0};
  while (off[1] < w.len[1] || off[2] < w.len[2]) {
    uint64_t r = fz_next(&rng);
    int s = off[1] >= w.len[1] ? 2 : off[2] >= w.len[2] ? 1 : (int)(r & 1) + 1;
    uint64_t piece = 1 + ((r >> 1) & 15);
    if (piece > w.len[s] - off[s]) piece = w.len[s] - off[s];
    recs[n] = (berth_logrec){(int64_t)n, off[s], (uint32_t)piece, (uint8_t)s};
    n++;
    off[s] += piece;
  }
  for (int s = 1; s <= 2; s++) w.next[s] = 0;
  berth_logmerge_opts o = {3, final, {0, w.gone[1], w.gone[2]}};
  int rc = berth_logmerge_scan(recs, n, 0, &o, read_fn, line_fn, &w);
  FZ_CHECK(rc == 0, "scan returned %d", rc);
  if (final)
    for (int s = 1; s <= 2; s++)
      FZ_CHECK(w.got[s] == w.len[s] - w.gone[s], "stream %d: %zu bytes given of %zu kept", s, w.got[s],
               (size_t)(w.len[s] - w.gone[s]));
  free(recs);
  return 0;
}
